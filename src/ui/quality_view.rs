//! The Reverse tab's quality-vs-steps chart: SW2 of a 2D model's samples from held-out
//! data over the data's noise floor, against network evaluations, for DDPM, DDIM and the
//! probability-flow ODE and flow matching's Euler and Heun (log–log; the shipped model of
//! the other objective beside the one held), with progress and Stop while it computes.

use egui::RichText;
use egui_plot::{HLine, HoverPosition, Legend, Line, Plot, PlotPoints, Points};

use super::elbo_tab::{decade_label, decades, progress_and_stop};
use super::theme;
use crate::app::quality::QualityKey;
use crate::app::{Command, Model};
use crate::format::format_sig;
use crate::model::quality::{Method, QualityChart};

/// The chart of `key` (or its progress, or why there is none), as large as the room.
pub fn quality_ui(ui: &mut egui::Ui, model: &Model, key: Option<QualityKey>, commands: &mut Vec<Command>) {
    let Some(key) = key else {
        ui.label(
            "The quality chart is drawn for a learned 2D model of the data on screen: load or train one.",
        );
        return;
    };
    let state = &model.quality;
    match state.result(key) {
        Some(Ok(chart)) => chart_ui(ui, chart),
        Some(Err(e)) => {
            ui.colored_label(
                theme::warning_color(ui.visuals().dark_mode),
                format!("quality chart: {e}"),
            );
        }
        None => {
            ui.horizontal(|ui| match state.running.filter(|r| r.1 == key) {
                Some((_, _, fraction)) => {
                    ui.label("sampling with each sampler at 1 to 1000 evaluations…");
                    progress_and_stop(ui, fraction, commands, Command::StopQuality);
                }
                None if state.stopped == Some(key) => {
                    ui.label("stopped");
                    if ui.button("Compute").clicked() {
                        commands.push(Command::ComputeQuality);
                    }
                }
                None => {
                    ui.label("waiting for the model worker (a chain or training holds it)…");
                }
            });
        }
    }
}

/// The method's colour.
const fn method_color(method: Method) -> egui::Color32 {
    match method {
        Method::Ddpm => theme::PATH_COLORS[0],
        Method::Ddim => theme::PATH_COLORS[1],
        Method::Ode => theme::PATH_COLORS[3],
        Method::Euler => theme::PATH_COLORS[2],
        Method::Heun => theme::PATH_COLORS[5],
    }
}

fn chart_ui(ui: &mut egui::Ui, chart: &QualityChart) {
    let floor = chart.noise_floor;
    ui.label(
        RichText::new(format!(
            "SW2 of {} samples from held-out data, over the noise floor {} (two independent draws of \
             the data): 1 is as good as the data itself. Every sampler starts from the same x_T",
            chart.samples,
            format_sig(floor, 3)
        ))
        .weak(),
    );
    let reached: Vec<String> = chart
        .curves
        .iter()
        .map(|c| {
            c.points.iter().find(|p| p.sw2 <= 2.0 * floor).map_or_else(
                || format!("{}: not within 2× the floor", c.method.label()),
                |p| format!("{}: {} evaluations", c.method.label(), p.nfe),
            )
        })
        .collect();
    ui.label(RichText::new(format!("within 2× the floor from — {}", reached.join(" · "))).strong());
    let size = ui.available_size();
    Plot::new("quality-vs-steps")
        .width(size.x)
        .height(size.y.max(160.0))
        .legend(Legend::default())
        .x_axis_label("network evaluations per sample")
        .y_axis_label("SW2 / noise floor")
        .x_grid_spacer(decades)
        .y_grid_spacer(decades)
        .x_axis_formatter(|mark, _| decade_label(mark.value))
        .y_axis_formatter(|mark, _| decade_label(mark.value))
        .allow_scroll(false)
        .label_formatter(|hover| match hover {
            HoverPosition::NearDataPoint {
                plot_name, position, ..
            } => Some(format!(
                "{plot_name}\n{} evaluations\nSW2 = {} × the floor",
                format_sig(10f64.powf(position.x), 4),
                format_sig(10f64.powf(position.y), 3)
            )),
            HoverPosition::Elsewhere { .. } => None,
        })
        .show(ui, |plot| {
            plot.hline(HLine::new("noise floor", 0.0).color(egui::Color32::GRAY));
            plot.hline(HLine::new("2× the floor", 2f64.log10()).color(egui::Color32::DARK_GRAY));
            for curve in &chart.curves {
                let xy: Vec<[f64; 2]> = curve
                    .points
                    .iter()
                    .map(|p| [(p.nfe as f64).log10(), (p.sw2 / floor).log10()])
                    .collect();
                let color = method_color(curve.method);
                plot.line(Line::new(curve.method.label(), PlotPoints::from(xy.clone())).color(color));
                plot.points(
                    Points::new(curve.method.label(), PlotPoints::from(xy))
                        .color(color)
                        .radius(3.5),
                );
            }
        });
}
