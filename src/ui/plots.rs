//! The bottom panel: schedule plots that follow `t` (several schedules overlaid), and
//! "is `x_t` Gaussian yet?" — the histogram of `x_t` against `N(0, 1)` and the prior term.

use egui::RichText;
use egui_plot::{Bar, BarChart, Corner, HoverPosition, Legend, Line, Plot, PlotPoints, VLine};

use super::theme;
use crate::app::Model;
use crate::app::settings::{Settings, TimeAxis};
use crate::diffusion::Schedule;
use crate::diffusion::elbo::prior_term;
use crate::diffusion::metrics::{Histogram, standard_normal_pdf};
use crate::format::format_sig;

/// Most points drawn per curve (longer schedules are strided).
const MAX_CURVE_POINTS: usize = 2000;

/// Points drawn per physical pixel of a plot's width: the schedules' curves are smooth,
/// and each segment is a few triangles for the software GL to fill (with the curves of
/// T = 1000 drawn whole, the plots were a quarter of a scrubbing frame under llvmpipe).
const CURVE_POINTS_PER_PIXEL: f32 = 1.0;

/// One plotted quantity: its label and how to compute it.
struct Quantity {
    label: &'static str,
    value: fn(&Schedule, usize) -> f64,
}

const QUANTITIES: [Quantity; 5] = [
    Quantity {
        label: "ᾱ_t",
        value: Schedule::alpha_bar,
    },
    Quantity {
        label: "√ᾱ_t",
        value: Schedule::sqrt_alpha_bar,
    },
    Quantity {
        label: "√(1−ᾱ_t)",
        value: Schedule::sqrt_one_minus_alpha_bar,
    },
    Quantity {
        label: "β_t",
        value: Schedule::beta,
    },
    Quantity {
        label: "log SNR",
        value: Schedule::log_snr,
    },
];

/// Lays out the bottom panel.
pub fn bottom_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model) {
    let height = ui.available_height();
    let hist_width = (ui.available_width() * 0.3).clamp(260.0, 460.0);
    // The separator between them and the spacing on both of its sides.
    let gap = ui.spacing().item_spacing.x * 2.0 + 6.0;
    let plots_width = ui.available_width() - hist_width - gap;
    ui.horizontal_top(|ui| {
        ui.allocate_ui(egui::vec2(plots_width, height), |ui| {
            ui.vertical(|ui| schedule_plots_ui(ui, settings, model));
        });
        ui.separator();
        ui.allocate_ui(egui::vec2(hist_width, height), |ui| {
            ui.vertical(|ui| gaussian_yet_ui(ui, model));
        });
    });
}

fn schedule_plots_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model) {
    let q = &mut settings.plot_quantities;
    ui.horizontal(|ui| {
        ui.checkbox(&mut q.alpha_bar, "ᾱ_t");
        ui.checkbox(&mut q.sqrt_alpha_bar, "√ᾱ_t");
        ui.checkbox(&mut q.sqrt_one_minus_alpha_bar, "√(1−ᾱ_t)");
        ui.checkbox(&mut q.beta, "β_t");
        ui.checkbox(&mut q.log_snr, "log SNR");
        ui.separator();
        ui.label("against");
        ui.selectable_value(&mut settings.plot_axis, TimeAxis::Step, "t");
        ui.selectable_value(&mut settings.plot_axis, TimeAxis::Fraction, "t/T");
    });
    let shown = [
        q.alpha_bar,
        q.sqrt_alpha_bar,
        q.sqrt_one_minus_alpha_bar,
        q.beta,
        q.log_snr,
    ];
    let selected: Vec<&Quantity> = QUANTITIES
        .iter()
        .zip(shown)
        .filter(|(_, on)| *on)
        .map(|(q, _)| q)
        .collect();
    if selected.is_empty() {
        ui.label(RichText::new("tick a quantity to plot it").weak());
        return;
    }
    let width = (ui.available_width() - 8.0 * (selected.len() - 1) as f32) / selected.len() as f32;
    let height = ui.available_height().max(80.0);
    let t = settings.t;
    let axis = settings.plot_axis;
    ui.horizontal_top(|ui| {
        for quantity in selected {
            quantity_plot_ui(ui, quantity, &model.compared, t, axis, egui::vec2(width, height));
        }
    });
}

fn x_of(t: usize, steps: usize, axis: TimeAxis) -> f64 {
    match axis {
        TimeAxis::Step => t as f64,
        TimeAxis::Fraction => t as f64 / steps as f64,
    }
}

fn quantity_plot_ui(
    ui: &mut egui::Ui,
    quantity: &Quantity,
    schedules: &[Schedule],
    t: usize,
    axis: TimeAxis,
    size: egui::Vec2,
) {
    let label = quantity.label;
    let x_name = if axis == TimeAxis::Step { "t" } else { "t/T" };
    Plot::new(label)
        .width(size.x)
        .height(size.y)
        .legend(Legend::default().position(Corner::RightTop))
        .x_axis_label(x_name)
        .y_axis_label(label)
        .allow_scroll(false)
        .label_formatter(move |hover| match hover {
            HoverPosition::NearDataPoint {
                plot_name, position, ..
            } => Some(format!(
                "{plot_name}\n{x_name} = {}\n{label} = {}",
                format_sig(position.x, 5),
                format_sig(position.y, 6)
            )),
            HoverPosition::Elsewhere { .. } => None,
        })
        .show(ui, |plot| {
            let pixels = size.x * plot.ctx().pixels_per_point() * CURVE_POINTS_PER_PIXEL;
            let most = (pixels.max(64.0) as usize).min(MAX_CURVE_POINTS);
            for schedule in schedules {
                let steps = schedule.steps();
                let stride = steps.div_ceil(most).max(1);
                // t = 0 has log SNR = +∞ and β_0 = 0: plot from t = 1.
                let points: PlotPoints = (1..=steps)
                    .filter(|s| (s - 1) % stride == 0 || *s == steps)
                    .map(|s| [x_of(s, steps, axis), (quantity.value)(schedule, s)])
                    .filter(|p| p[1].is_finite())
                    .collect();
                let kind = schedule.spec().kind;
                plot.add(
                    Line::new(kind.label(), points)
                        .color(theme::schedule_color(kind))
                        .width(2.0),
                );
            }
            let dark = plot.ctx().global_style().visuals.dark_mode;
            plot.add(
                VLine::new(format!("t = {t}"), x_of(t, schedules[0].steps(), axis))
                    .color(theme::marker_color(dark))
                    .width(1.0),
            );
        });
}

fn gaussian_yet_ui(ui: &mut egui::Ui, model: &Model) {
    let dark = ui.visuals().dark_mode;
    ui.label(RichText::new("Is x_t Gaussian yet?").strong());
    // (Markov, closed form); the Markov view of an image may still be building.
    let hists: Option<(Option<&Histogram>, &Histogram)> = if let Some(p) = &model.points {
        Some((Some(&p.markov_hist), &p.closed_hist))
    } else {
        model.image.closed.as_ref().map(|c| {
            (
                model.image.markov.as_ref().map(|m| &m.1.histogram),
                &c.1.histogram,
            )
        })
    };
    let schedule = &model.schedule;
    let d = model.scene.dim();
    let kl = prior_term(schedule, d, model.x0_sq_norm);
    // One line each (cut short when narrow, whole on hover): the histogram keeps the
    // height of a low plots panel.
    ui.add(
        egui::Label::new(format!(
            "KL(q(x_T|x_0) ‖ N(0, I)) = {} nats ({} per dim.)",
            format_sig(kl, 4),
            format_sig(kl / d as f64, 3)
        ))
        .truncate(),
    )
    .on_hover_text("The prior term of the ELBO, exact: ½(d(1−ᾱ_T) + ᾱ_T‖x_0‖² − d − d ln(1−ᾱ_T))");
    if let Some(warning) = super::forward_tab::x_t_warning(schedule) {
        ui.label(RichText::new(warning).color(theme::warning_color(dark)).strong());
    }
    let Some((markov, closed)) = hists else {
        ui.spinner();
        return;
    };
    let tv = |h: Option<&Histogram>| {
        h.map_or_else(
            || "…".to_owned(),
            |h| format!("{:.3}", h.tv_distance_to_standard_normal()),
        )
    };
    ui.add(
        egui::Label::new(
            RichText::new(format!(
                "distance to N(0, 1) (total variation): Markov {} · closed form {}",
                tv(markov),
                tv(Some(closed))
            ))
            .small(),
        )
        .truncate(),
    );
    let bars = |h: &Histogram| -> Vec<Bar> {
        (0..h.counts.len())
            .map(|k| Bar::new(h.bin_centre(k), h.density(k)).width(h.bin_width()))
            .collect()
    };
    let curve: PlotPoints = (0..=160)
        .map(|i| {
            let x = -4.0 + 8.0 * f64::from(i) / 160.0;
            [x, standard_normal_pdf(x)]
        })
        .collect();
    ui.add(
        egui::Label::new(
            RichText::new("bars: Markov x_t · green outline: closed-form x_t · orange: N(0, 1)")
                .small()
                .weak(),
        )
        .truncate(),
    );
    Plot::new("histogram")
        .height(ui.available_height().max(60.0))
        .include_y(0.0)
        .include_y(0.45)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .show(ui, |plot| {
            if let Some(markov) = markov {
                plot.add(
                    BarChart::new("Markov x_t", bars(markov))
                        .color(theme::point_color(dark).gamma_multiply(0.6)),
                );
            }
            // The closed form as an outline, so both histograms stay visible.
            let outline: PlotPoints = (0..closed.counts.len())
                .flat_map(|k| {
                    let (c, w, d) = (closed.bin_centre(k), closed.bin_width(), closed.density(k));
                    [[c - w / 2.0, d], [c + w / 2.0, d]]
                })
                .collect();
            plot.add(
                Line::new("closed-form x_t", outline)
                    .color(theme::CLOSED_FORM_LINE)
                    .width(1.5),
            );
            plot.add(Line::new("N(0, 1)", curve).color(theme::NORMAL_CURVE).width(2.0));
        });
}
