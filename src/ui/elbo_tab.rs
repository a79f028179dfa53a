// Over 500 lines: the tab's layout and its plots (the formulas it plots are in `model/elbo.rs`).
//! The ELBO tab: the evidence lower bound of the model on screen (learned, and the ideal
//! denoiser) on the data on screen, term by term, in both decompositions side by side —
//! each term's magnitude against `t` or `log SNR`, or the cumulative sum; the current `t`
//! marked; a table of the totals; and the command line that prints the same numbers.

use egui::RichText;
use egui_plot::{HoverPosition, Line, Plot, PlotPoints, Points, VLine};

use super::{flow_view, theme};
use crate::app::elbo::{ElboKey, PARTS, cli_data, schedule_flags, variance, wanted};
use crate::app::reverse::LearnedOrigin;
use crate::app::settings::{ElboAxis, Settings};
use crate::app::{Command, Model};
use crate::diffusion::Schedule;
use crate::format::format_sig;
use crate::model::elbo::{self, ElboForm, ElboReport, TermKind, equivalent_steps};

/// Magnitudes below this fraction of a plot's largest are drawn at it (log scale).
const FLOOR: f64 = 1e-6;

/// Lays out the ELBO tab: its controls and status, the plots, and below them the readout,
/// the totals and the command line.
pub fn elbo_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model, commands: &mut Vec<Command>) {
    controls_ui(ui, settings, model);
    let keys = wanted(model, settings);
    let cli_data = cli_data(&model.scene, settings);
    status_ui(ui, model, &keys, commands);
    flow_view::status_ui(ui, model, settings, commands);
    notes_ui(ui, settings, model, &keys);
    ui.separator();
    let reports = reports(model, &keys);
    let density = settings.elbo.density && flow_view::density_available(model, settings);
    if !density {
        key_ui(ui, &keys);
    }
    // Below the plots: the readout, the totals and the command line (they scroll); on a
    // short window the plots keep over half the height.
    // The density view's pictures take more of it (its numbers are one table).
    let below = if density { 150.0 } else { 290.0 };
    let plot_height = (ui.available_height() - below)
        .max(0.55 * ui.available_height())
        .max(170.0);
    if density {
        flow_view::density_ui(ui, model, settings, plot_height);
    } else {
        plots_ui(ui, settings, &model.schedule, &reports, plot_height);
    }
    egui::ScrollArea::vertical().id_salt("elbo_below").show(ui, |ui| {
        if !density {
            readout_ui(ui, settings, &model.schedule, &reports);
        }
        totals_ui(ui, &keys, model);
        flow_view::nll_ui(ui, model, settings);
        cli_ui(ui, settings, model, cli_data.as_deref());
    });
}

/// The lesson alone (presentation mode): which colour is which, and the two plots in all
/// the height there is — no controls, status, readout or table.
pub fn views_ui(ui: &mut egui::Ui, settings: &Settings, model: &Model) {
    let keys = wanted(model, settings);
    let reports = reports(model, &keys);
    let height = ui.available_height().max(170.0);
    if settings.elbo.density && flow_view::density_available(model, settings) {
        flow_view::density_ui(ui, model, settings, height);
        return;
    }
    key_ui(ui, &keys);
    plots_ui(ui, settings, &model.schedule, &reports, height);
}

/// The estimates on screen that are ready, with their part's index.
fn reports<'m>(model: &'m Model, keys: &[(usize, ElboKey)]) -> Vec<(usize, &'m ElboReport)> {
    keys.iter()
        .filter_map(|(i, key)| match model.elbo.result(*i, key) {
            Some(Ok(r)) => Some((*i, r)),
            _ => None,
        })
        .collect()
}

/// The two decompositions side by side, each under its title, `plot_height` points high.
fn plots_ui(
    ui: &mut egui::Ui,
    settings: &Settings,
    schedule: &Schedule,
    reports: &[(usize, &ElboReport)],
    plot_height: f32,
) {
    let width = (ui.available_width() - 12.0) / 2.0;
    ui.horizontal_top(|ui| {
        for form in [ElboForm::Denoising, ElboForm::Consistency] {
            ui.vertical(|ui| {
                ui.set_width(width);
                let (title, formula) = match form {
                    ElboForm::Denoising => (
                        "Denoising matching",
                        "L_t = E KL(q(x_{t−1}|x_t, x_0) ‖ p_θ(x_{t−1}|x_t)), t = 2..T",
                    ),
                    ElboForm::Consistency => (
                        "Consistency (the lecture's slide)",
                        "E KL(q(x_t|x_{t−1}) ‖ p_θ(x_t|x_{t+1})), t = 1..T−1",
                    ),
                };
                ui.horizontal_wrapped(|ui| {
                    ui.label(RichText::new(title).strong());
                    ui.label(RichText::new(formula).small());
                });
                let of_form: Vec<(usize, &ElboReport)> = reports
                    .iter()
                    .filter(|(i, _)| PARTS[*i].form == form)
                    .copied()
                    .collect();
                terms_plot(
                    ui,
                    settings,
                    schedule,
                    form,
                    &of_form,
                    egui::vec2(width, plot_height - 28.0),
                );
            });
        }
    });
}

/// Which colour is which (the plots have no legend: it would cover the curves).
fn key_ui(ui: &mut egui::Ui, keys: &[(usize, ElboKey)]) {
    ui.horizontal_wrapped(|ui| {
        for ideal in [false, true] {
            if keys.iter().any(|(i, _)| PARTS[*i].ideal == ideal) {
                let index = usize::from(ideal) * 2;
                ui.label(RichText::new(if ideal { "━ ideal denoiser" } else { "━ learned model" }).color(part_color(index)));
            }
        }
        ui.label(
            RichText::new(
                "faint: ±2 standard errors · ◆ L_prior at T · × a negative consistency term (its magnitude) · hover for numbers",
            )
            .small()
            .weak(),
        );
    });
}

fn controls_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model) {
    let density_available = flow_view::density_available(model, settings);
    let e = &mut settings.elbo;
    ui.horizontal_wrapped(|ui| {
        ui.label("against");
        ui.selectable_value(&mut e.axis, ElboAxis::Step, "t");
        ui.selectable_value(&mut e.axis, ElboAxis::LogSnr, "log SNR")
            .on_hover_text("terms per unit log SNR: schedules with different T become comparable (VDM)");
        ui.separator();
        ui.selectable_value(&mut e.cumulative, false, "each term");
        ui.selectable_value(&mut e.cumulative, true, "cumulative")
            .on_hover_text("L_recon + Σ_{s ≤ t} L_s; the prior joins at T, and the end is −ELBO");
        ui.separator();
        ui.label("σ_t²");
        ui.selectable_value(&mut e.posterior_variance, false, "β_t");
        ui.selectable_value(&mut e.posterior_variance, true, "β̃_t");
        ui.separator();
        match &model.scene.data {
            crate::scene::SceneData::Points(_) => {
                let l = ui.label("examples");
                ui.add(egui::DragValue::new(&mut e.n_points).range(1..=5000).speed(10))
                    .labelled_by(l.id);
            }
            crate::scene::SceneData::Image(_)
                if matches!(
                    model.scene.source,
                    crate::app::settings::SourceChoice::Digits | crate::app::settings::SourceChoice::Glyphs
                ) =>
            {
                let l = ui.label("digits");
                let most = if model.scene.source == crate::app::settings::SourceChoice::Digits {
                    crate::data::DIGIT_COUNT
                } else {
                    crate::scene::GLYPH_COUNT
                };
                ui.add(egui::DragValue::new(&mut e.n_digits).range(1..=most).speed(5))
                    .labelled_by(l.id);
            }
            crate::scene::SceneData::Image(_) => {
                let l = ui.label("copies of the image");
                ui.add(egui::DragValue::new(&mut e.image_copies).range(1..=64))
                    .labelled_by(l.id);
            }
        }
        let l = ui.label("Monte-Carlo seed");
        ui.add(egui::DragValue::new(&mut e.seed).range(0..=u64::from(u32::MAX)))
            .labelled_by(l.id);
        ui.separator();
        ui.checkbox(&mut e.ideal, "ideal denoiser")
            .on_hover_text("overlay the ideal denoiser E[x_0|x_t] of the data on screen (MATH.md §3)");
        flow_view::density_toggle_ui(ui, &mut e.density, density_available);
    });
}

fn status_ui(ui: &mut egui::Ui, model: &Model, keys: &[(usize, ElboKey)], commands: &mut Vec<Command>) {
    let state = &model.elbo;
    let missing = keys
        .iter()
        .filter(|(i, key)| state.result(*i, key).is_none())
        .count();
    // Wrapping: a row wider than the panel would widen the whole tab (its plots too).
    ui.horizontal_wrapped(|ui| {
        if let Some(running) = &state.running {
            let (index, _) = &running.parts[running.current.min(running.parts.len() - 1)];
            ui.label(format!(
                "computing {} ({}/{})",
                part_label(*index),
                running.current + 1,
                running.parts.len()
            ));
            progress_and_stop(ui, running.fraction, commands, Command::StopElbo);
        } else if missing == 0 {
            ui.label(RichText::new("all estimates are up to date").weak());
        } else if state.stopped.is_some() {
            ui.label("stopped");
            if ui.button("Compute").clicked() {
                commands.push(Command::ComputeElbo);
            }
        } else {
            let learning = &model.learning;
            if learning
                .training
                .as_ref()
                .is_some_and(crate::app::reverse::TrainingView::running)
            {
                ui.label("waiting: the model worker is training (the estimates follow when it ends)");
            } else if learning.chain.as_ref().is_some_and(|c| !c.done) {
                ui.label("waiting: the model worker is running the reverse chain");
            }
        }
    });
}

fn notes_ui(ui: &mut egui::Ui, settings: &Settings, model: &Model, keys: &[(usize, ElboKey)]) {
    let weak = |ui: &mut egui::Ui, text: String| {
        ui.label(RichText::new(text).small().weak());
    };
    let learned_shown = keys.iter().any(|(i, _)| !PARTS[*i].ideal);
    match &model.learning.learned {
        None => weak(
            ui,
            "no learned model: load or train one (Model panel); the ideal denoiser is shown".into(),
        ),
        Some(m) if !learned_shown => weak(
            ui,
            format!(
                "the learned model denoises {}, not the data on screen: only the ideal denoiser is shown",
                m.summary.shape
            ),
        ),
        Some(m) if &m.summary.schedule != model.schedule.spec() => {
            let outside = Schedule::new(&m.summary.schedule).map_or(0, |own| {
                let steps = equivalent_steps(&own, &model.schedule);
                let last = own.steps() as f32;
                steps.iter().filter(|&&s| s <= 1.0 || s >= last).count()
            });
            weak(
                ui,
                format!(
                    "the model was trained under {}; at each step t of the schedule on screen it is asked at the \
                     step of its own schedule with the same log SNR{}",
                    m.summary.schedule.describe(),
                    if outside > 1 {
                        format!(
                            " ({outside} steps lie at or past the ends of its range and are clamped there)"
                        )
                    } else {
                        String::new()
                    }
                ),
            );
        }
        Some(_) => {}
    }
    if settings.elbo.ideal {
        weak(
            ui,
            "the ideal denoiser memorises the data on screen and is evaluated on them: its bound is what a \
             model that reproduces its training set would reach"
                .into(),
        );
    }
}

/// A running estimate's progress bar and its Stop button, which pushes `stop`.
pub(super) fn progress_and_stop(
    ui: &mut egui::Ui,
    fraction: f64,
    commands: &mut Vec<Command>,
    stop: Command,
) {
    ui.add(
        egui::ProgressBar::new(fraction as f32)
            .desired_width(220.0)
            .show_percentage(),
    );
    if ui.button("Stop").clicked() {
        commands.push(stop);
    }
}

/// `learned · denoising matching`.
fn part_label(index: usize) -> String {
    let part = PARTS[index];
    format!(
        "{} · {}",
        if part.ideal { "ideal" } else { "learned" },
        part.form.label()
    )
}

fn part_color(index: usize) -> egui::Color32 {
    theme::ELBO_COLORS[usize::from(PARTS[index].ideal)]
}

/// The x of step `t`.
fn x_of(axis: ElboAxis, lambda: &[f64], t: usize) -> f64 {
    match axis {
        ElboAxis::Step => t as f64,
        ElboAxis::LogSnr => lambda[t.min(lambda.len() - 1)],
    }
}

/// A step term as plotted: its value and standard error, per unit log SNR in that view.
fn scaled(axis: ElboAxis, lambda: &[f64], form: ElboForm, t: usize, value: f64, se: f64) -> (f64, f64) {
    match axis {
        ElboAxis::Step => (value, se),
        ElboAxis::LogSnr => (
            form.per_unit_log_snr(lambda, t, value),
            form.per_unit_log_snr(lambda, t, se),
        ),
    }
}

/// The y axis of the term plots: its names (longest first, the last one short) and
/// whether it is log10 of the magnitude.
const fn y_axis(cumulative: bool, axis: ElboAxis) -> ([&'static str; 2], bool) {
    match (cumulative, axis) {
        (true, _) => (["cumulative nats / example", "nats"], false),
        (false, ElboAxis::Step) => (["term (nats / example, log scale)", "nats (log)"], true),
        (false, ElboAxis::LogSnr) => (["term per unit log SNR (log scale)", "per λ (log)"], true),
    }
}

/// The longest of `names` whose rotated text fits beside a plot `height` points tall
/// (egui_plot centres it on the axis and never wraps it: a longer one runs over what is
/// above and below the plot), or none.
fn fitting_y_label<'n>(ui: &egui::Ui, names: &[&'n str], height: f32) -> &'n str {
    // The x axis's ticks and name take about three lines of the plot's height.
    let room = height - 3.0 * ui.text_style_height(&egui::TextStyle::Body);
    let font = egui::TextStyle::Body.resolve(ui.style());
    names
        .iter()
        .copied()
        .find(|name| {
            let galley =
                ui.painter()
                    .layout_no_wrap((*name).to_owned(), font.clone(), egui::Color32::PLACEHOLDER);
            galley.size().x <= room
        })
        .unwrap_or("")
}

/// Grid lines of a log10 axis at whole powers of ten only (every 1, 10 or 100 decades).
pub(super) fn decades(input: egui_plot::GridInput) -> Vec<egui_plot::GridMark> {
    let spacer = egui_plot::uniform_grid_spacer(|input: egui_plot::GridInput| {
        let smallest = 10f64.powf(input.base_step_size.abs().log10().ceil()).max(1.0);
        [smallest, 10.0 * smallest, 100.0 * smallest]
    });
    spacer(input)
}

/// The tick label of log10 value `value`: `1e-3` at whole decades, nothing between.
pub(super) fn decade_label(value: f64) -> String {
    let decade = value.round();
    if (value - decade).abs() > 1e-6 {
        return String::new();
    }
    // `as` is exact here: a plot's decades are small whole numbers (and −0 becomes 0).
    format!("1e{}", decade as i64)
}

fn terms_plot(
    ui: &mut egui::Ui,
    settings: &Settings,
    schedule: &Schedule,
    form: ElboForm,
    reports: &[(usize, &ElboReport)],
    size: egui::Vec2,
) {
    let axis = settings.elbo.axis;
    let cumulative = settings.elbo.cumulative;
    let lambda = elbo::log_snrs(schedule);
    let x_name = match axis {
        ElboAxis::Step => "t",
        ElboAxis::LogSnr => "log SNR",
    };
    let (y_names, log_y) = y_axis(cumulative, axis);
    let height = size.y.max(120.0);
    let y_name = fitting_y_label(ui, &y_names, height);
    let id = format!("elbo-{}-{}", form.label(), u8::from(cumulative));
    let mut plot = Plot::new(id)
        .width(size.x)
        .height(height)
        .x_axis_label(x_name)
        .y_axis_label(y_name)
        .allow_scroll(false)
        .label_formatter(move |hover| match hover {
            HoverPosition::NearDataPoint {
                plot_name, position, ..
            } => {
                let y = if log_y { 10f64.powf(position.y) } else { position.y };
                Some(format!(
                    "{plot_name}\n{x_name} = {}\n{}",
                    format_sig(position.x, 5),
                    format_sig(y, 4)
                ))
            }
            HoverPosition::Elsewhere { .. } => None,
        });
    if log_y {
        plot = plot
            .y_grid_spacer(decades)
            .y_axis_formatter(|mark, _| decade_label(mark.value));
        if reports.is_empty() {
            // Until the first estimate: the decades the terms usually span.
            plot = plot.default_y_bounds(-4.0, 1.0);
        }
    }
    let (first, last) = (x_of(axis, &lambda, 1), x_of(axis, &lambda, schedule.steps()));
    if reports.is_empty() && first.is_finite() && last.is_finite() && (first - last).abs() > f64::EPSILON {
        // With the margin egui_plot gives data, so that the ends get tick labels (at
        // exactly [1, T] the ticks between are too dense to label and the ends fall out).
        let (lo, hi) = (first.min(last), first.max(last));
        let margin = 0.05 * (hi - lo);
        plot = plot.default_x_bounds(lo - margin, hi + margin);
    }
    // The log plot's floor, relative to its largest term.
    let floor = FLOOR
        * reports
            .iter()
            .flat_map(|(_, r)| r.terms.iter().filter(|t| t.kind == TermKind::Step))
            .map(|t| scaled(axis, &lambda, form, t.t, t.nats, 0.0).0.abs())
            .filter(|v| v.is_finite())
            .fold(f64::MIN_POSITIVE, f64::max);
    plot.show(ui, |plot| {
        for &(index, report) in reports {
            let color = part_color(index);
            let name = part_label(index);
            if cumulative {
                let points: Vec<[f64; 2]> = report
                    .cumulative()
                    .into_iter()
                    .map(|(t, sum)| [x_of(axis, &lambda, t), sum])
                    .collect();
                plot.add(Line::new(name, PlotPoints::from(points)).color(color).width(2.0));
                continue;
            }
            add_terms(plot, report, index, form, (axis, &lambda), floor);
            if axis == ElboAxis::Step
                && let Some(prior) = report.terms.iter().find(|t| t.kind == TermKind::Prior)
            {
                plot.add(
                    Points::new(
                        format!("{name}: L_prior"),
                        PlotPoints::from(vec![[prior.t as f64, prior.nats.abs().max(floor).log10()]]),
                    )
                    .color(color)
                    .shape(egui_plot::MarkerShape::Diamond)
                    .filled(true)
                    .radius(7.0),
                );
            }
        }
        let dark = plot.ctx().global_style().visuals.dark_mode;
        let t = settings.t.clamp(1, schedule.steps());
        plot.add(
            VLine::new(format!("t = {t}"), x_of(axis, &lambda, t))
                .color(theme::marker_color(dark))
                .width(1.0),
        );
    });
}

/// The step terms of one estimate, as log10 of their magnitude: a line with its ±2 s.e.
/// for the denoising form, points for the consistency form; negative terms marked.
fn add_terms(
    plot: &mut egui_plot::PlotUi<'_>,
    report: &ElboReport,
    index: usize,
    form: ElboForm,
    (axis, lambda): (ElboAxis, &[f64]),
    floor: f64,
) {
    let color = part_color(index);
    let name = part_label(index);
    let steps: Vec<_> = report.terms.iter().filter(|t| t.kind == TermKind::Step).collect();
    let mut line = Vec::with_capacity(steps.len());
    let (mut upper, mut lower, mut negative) = (Vec::new(), Vec::new(), Vec::new());
    for term in &steps {
        let (v, se) = scaled(axis, lambda, form, term.t, term.nats, term.std_err);
        if !v.is_finite() {
            continue;
        }
        let x = x_of(axis, lambda, term.t);
        line.push([x, v.abs().max(floor).log10()]);
        upper.push([x, (v.abs() + 2.0 * se).max(floor).log10()]);
        lower.push([x, (v.abs() - 2.0 * se).max(floor).log10()]);
        if v < 0.0 {
            negative.push([x, v.abs().max(floor).log10()]);
        }
    }
    if form == ElboForm::Denoising {
        let faint = color.gamma_multiply(0.35);
        plot.add(
            Line::new(format!("{name} + 2 s.e."), PlotPoints::from(upper))
                .color(faint)
                .width(1.0),
        );
        plot.add(
            Line::new(format!("{name} − 2 s.e."), PlotPoints::from(lower))
                .color(faint)
                .width(1.0),
        );
        plot.add(
            Line::new(name.clone(), PlotPoints::from(line))
                .color(color)
                .width(2.0),
        );
    } else {
        // Single terms as noisy as these read better as points, and their ±2 s.e.
        // (mostly wider than the term) would cover the plot: their spread is the
        // error bar; the totals' are in the table.
        plot.add(
            Points::new(name.clone(), PlotPoints::from(line))
                .color(color)
                .radius(1.5),
        );
    }
    if !negative.is_empty() {
        plot.add(
            Points::new(
                format!("{name}: negative terms (|·| shown)"),
                PlotPoints::from(negative),
            )
            .color(color)
            .shape(egui_plot::MarkerShape::Cross)
            .radius(3.0),
        );
    }
}

/// The terms at the current `t`, exactly.
fn readout_ui(ui: &mut egui::Ui, settings: &Settings, schedule: &Schedule, reports: &[(usize, &ElboReport)]) {
    if reports.is_empty() {
        return;
    }
    let t = settings.t.clamp(1, schedule.steps());
    let mut parts = Vec::new();
    for &(index, report) in reports {
        let kind = if t == 1 && report.form == ElboForm::Denoising {
            TermKind::Recon
        } else {
            TermKind::Step
        };
        if let Some(term) = report.terms.iter().find(|x| x.kind == kind && x.t == t) {
            parts.push(format!(
                "{}: {} ± {}",
                part_label(index),
                format_sig(term.nats, 4),
                format_sig(term.std_err, 2)
            ));
        }
    }
    ui.label(
        RichText::new(format!(
            "at t = {t} (log SNR = {}), nats per example — {}",
            format_sig(schedule.log_snr(t), 4),
            parts.join(" · ")
        ))
        .monospace(),
    );
}

/// The span of `total ± 2 s.e.` over the estimates of one denoiser (the whiskers of its
/// rows share it).
fn whisker_range(keys: &[(usize, ElboKey)], model: &Model, ideal: bool) -> Option<(f64, f64)> {
    keys.iter()
        .filter(|(i, _)| PARTS[*i].ideal == ideal)
        .filter_map(|(i, key)| model.elbo.result(*i, key).and_then(|r| r.as_ref().ok()))
        .map(|r| {
            (
                r.total_nats - 2.0 * r.total_std_err,
                r.total_nats + 2.0 * r.total_std_err,
            )
        })
        .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
}

/// `total ± 2 s.e.` as a whisker on `range`.
fn whisker(ui: &mut egui::Ui, report: &ElboReport, range: (f64, f64), color: egui::Color32) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(170.0, 14.0), egui::Sense::hover());
    let pad = 0.1 * (range.1 - range.0).max(1e-12);
    let (lo, hi) = (range.0 - pad, range.1 + pad);
    let x = |v: f64| rect.left() + ((v - lo) / (hi - lo)) as f32 * rect.width();
    let y = rect.center().y;
    let painter = ui.painter();
    let stroke = egui::Stroke::new(2.0, color);
    let (a, b) = (
        x(report.total_nats - 2.0 * report.total_std_err),
        x(report.total_nats + 2.0 * report.total_std_err),
    );
    painter.line_segment([egui::pos2(a, y), egui::pos2(b, y)], stroke);
    for end in [a, b] {
        painter.line_segment([egui::pos2(end, y - 4.0), egui::pos2(end, y + 4.0)], stroke);
    }
    painter.circle_filled(egui::pos2(x(report.total_nats), y), 3.5, color);
}

/// The numbers of one estimate's row: (column header, value, hover text).
fn row_cells(r: &ElboReport) -> [(&'static str, String, String); 5] {
    let term = |kind: TermKind| {
        r.terms
            .iter()
            .find(|t| t.kind == kind)
            .map_or(("—".into(), String::new()), |t| {
                (
                    format_sig(t.nats, 4),
                    format!("standard error {}", format_sig(t.std_err, 2)),
                )
            })
    };
    let steps: f64 = r
        .terms
        .iter()
        .filter(|t| t.kind == TermKind::Step)
        .map(|t| t.nats)
        .sum();
    let (recon, recon_hover) = term(TermKind::Recon);
    let (prior, prior_hover) = term(TermKind::Prior);
    [
        (
            "−ELBO (nats / example)",
            format!(
                "{} ± {}",
                format_sig(r.total_nats, 5),
                format_sig(r.total_std_err, 2)
            ),
            String::new(),
        ),
        (
            "bits / dim",
            format!(
                "{} ± {}",
                format_sig(r.bits_per_dim, 4),
                format_sig(r.bits_per_dim_std_err(), 2)
            ),
            String::new(),
        ),
        ("L_recon", recon, recon_hover),
        ("L_prior", prior, prior_hover),
        ("Σ step terms", format_sig(steps, 5), String::new()),
    ]
}

/// A value of the table, with its hover text if it has one.
fn cell(ui: &mut egui::Ui, text: &str, hover: &str) {
    let response = ui.label(RichText::new(text).monospace());
    if !hover.is_empty() {
        response.on_hover_text(hover);
    }
}

#[allow(
    clippy::too_many_lines,
    reason = "one grid per estimate, laid out in one place"
)]
fn totals_ui(ui: &mut egui::Ui, keys: &[(usize, ElboKey)], model: &Model) {
    let ranges = [
        whisker_range(keys, model, false),
        whisker_range(keys, model, true),
    ];
    // The table as a grid where it fits (its width is remembered from the last frame it
    // was drawn); folded into one block per estimate where not.
    // A fixed id (the table is drawn once a frame) and the visible room: the clip rect
    // bounds what can be seen even where the layout would let the grid run on.
    let width_id = egui::Id::unique("diffscope_elbo_totals_width");
    let room = ui
        .available_width()
        .min(ui.clip_rect().right() - ui.cursor().left());
    let fold = ui
        .data(|d| d.get_temp::<f32>(width_id))
        .is_some_and(|width| width > room);
    let row_label = |ui: &mut egui::Ui, index: usize| {
        ui.label(RichText::new(part_label(index)).color(part_color(index)));
    };
    let failed = |ui: &mut egui::Ui, e: &str| {
        ui.label(RichText::new(e).color(theme::error_color(ui.visuals().dark_mode)));
    };
    if fold {
        // One block per estimate: its name and whisker, then `quantity  value` rows (a
        // child ui nested in a wrapping row cannot wrap as a whole: it would run on).
        for (index, key) in keys {
            ui.horizontal_wrapped(|ui| {
                row_label(ui, *index);
                if let Some(Ok(r)) = model.elbo.result(*index, key)
                    && let Some(range) = ranges[usize::from(PARTS[*index].ideal)]
                {
                    whisker(ui, r, range, part_color(*index));
                }
            });
            match model.elbo.result(*index, key) {
                Some(Ok(r)) => {
                    egui::Grid::new(("elbo_totals_folded", *index))
                        .num_columns(2)
                        .spacing([14.0, 2.0])
                        .show(ui, |ui| {
                            for (name, text, hover) in row_cells(r) {
                                ui.label(RichText::new(name).weak());
                                cell(ui, &text, &hover);
                                ui.end_row();
                            }
                        });
                }
                Some(Err(e)) => failed(ui, e),
                None => {
                    ui.label(RichText::new("…").weak());
                }
            }
            ui.add_space(4.0);
        }
    } else {
        let grid = egui::Grid::new("elbo_totals")
            .striped(true)
            .num_columns(7)
            .spacing([14.0, 4.0])
            .show(ui, |ui| {
                for h in [
                    "",
                    "−ELBO ± 2 s.e.",
                    "−ELBO (nats / example)",
                    "bits / dim",
                    "L_recon",
                    "L_prior",
                    "Σ step terms",
                ] {
                    ui.label(RichText::new(h).strong());
                }
                ui.end_row();
                for (index, key) in keys {
                    row_label(ui, *index);
                    match model.elbo.result(*index, key) {
                        Some(Ok(r)) => {
                            if let Some(range) = ranges[usize::from(PARTS[*index].ideal)] {
                                whisker(ui, r, range, part_color(*index));
                            }
                            for (_, text, hover) in row_cells(r) {
                                cell(ui, &text, &hover);
                            }
                        }
                        Some(Err(e)) => failed(ui, e),
                        None => {
                            ui.label(RichText::new("…").weak());
                        }
                    }
                    ui.end_row();
                }
            });
        ui.data_mut(|d| d.insert_temp(width_id, grid.response.rect.width()));
    }
    forms_differ_ui(ui, keys, model);
}

/// The lecture's point: the two forms agree, the consistency form is noisier.
fn forms_differ_ui(ui: &mut egui::Ui, keys: &[(usize, ElboKey)], model: &Model) {
    for ideal in [false, true] {
        let find = |form: ElboForm| {
            keys.iter().find_map(|(i, key)| {
                (PARTS[*i].ideal == ideal && PARTS[*i].form == form)
                    .then(|| model.elbo.result(*i, key))
                    .flatten()
                    .and_then(|r| r.as_ref().ok())
            })
        };
        if let (Some(d), Some(c)) = (find(ElboForm::Denoising), find(ElboForm::Consistency)) {
            let combined = d.total_std_err.hypot(c.total_std_err);
            ui.label(format!(
                "{}: the forms differ by {} nats = {:.1} combined s.e.; the consistency form's s.e. is {:.1}× larger",
                if ideal { "ideal" } else { "learned" },
                format_sig(c.total_nats - d.total_nats, 3),
                (c.total_nats - d.total_nats).abs() / combined.max(f64::MIN_POSITIVE),
                c.total_std_err / d.total_std_err.max(f64::MIN_POSITIVE)
            ));
        }
    }
}

/// The command that prints the same numbers.
fn cli_ui(ui: &mut egui::Ui, settings: &Settings, model: &Model, cli_data: Option<&str>) {
    let Some(data) = cli_data else {
        return;
    };
    let common = format!(
        "{data} --variance {} --seed {} --csv -",
        if variance(&settings.elbo) == crate::diffusion::ReverseVariance::Beta {
            "beta"
        } else {
            "beta-tilde"
        },
        settings.elbo.seed
    );
    let mut lines = Vec::new();
    if let Some(m) = &model.learning.learned {
        let weights = match &m.origin {
            LearnedOrigin::Shipped(name) => Some(name.clone()),
            LearnedOrigin::File(path) => Some(format!("'{}'", path.display())),
            LearnedOrigin::Trained => None,
        };
        if let Some(w) = weights {
            let flags = if &m.summary.schedule == model.schedule.spec() {
                String::new()
            } else {
                format!(" {}", schedule_flags(model.schedule.spec()))
            };
            lines.push(format!("diffscope elbo --weights {w}{flags} {common}"));
        }
    }
    if settings.elbo.ideal {
        lines.push(format!(
            "diffscope elbo --ideal {} {common}",
            schedule_flags(model.schedule.spec())
        ));
    }
    if lines.is_empty() {
        return;
    }
    ui.label(
        RichText::new("the same numbers from the command line (add --form consistency for the other form):")
            .small(),
    );
    for line in lines {
        ui.label(RichText::new(line).monospace().small());
    }
}
