//! The plots of a training run — the loss (batch, EMA, validation) and SW2 against its
//! noise floor — shared by the left panel (small) and the Reverse tab's centre (large).

use egui::RichText;
use egui_plot::{Corner, HLine, Legend, Line, Plot, PlotPoints, Points};

use super::theme;
use crate::app::reverse::TrainingView;
use crate::format::format_sig;

/// A plot against training iterations, `height` × `width` points, legend top right,
/// fixed (the run's curves grow into it).
fn iteration_plot(id: &str, height: f32, width: f32) -> Plot<'static> {
    Plot::new(id)
        .height(height)
        .width(width)
        .legend(Legend::default().position(Corner::RightTop))
        .include_y(0.0)
        .x_axis_label("iteration")
        .allow_scroll(false)
        .allow_drag(false)
        .allow_zoom(false)
}

/// The loss curves, `height` points high and as wide as `ui`.
pub fn loss_plot(ui: &mut egui::Ui, t: &TrainingView, id: &str, height: f32) {
    iteration_plot(id, height, ui.available_width()).show(ui, |plot| {
        plot.add(
            Line::new("batch loss", PlotPoints::from(t.loss.clone()))
                .color(theme::LOSS_COLORS[0])
                .width(1.0),
        );
        plot.add(
            Line::new("EMA", PlotPoints::from(t.loss_ema.clone()))
                .color(theme::LOSS_COLORS[1])
                .width(2.0),
        );
        plot.add(
            Points::new("validation", PlotPoints::from(t.validation.clone()))
                .color(theme::LOSS_COLORS[2])
                .radius(4.0),
        );
    });
}

/// "Has it converged?" in words: SW2 against the noise floor; `None` when the run has no
/// metric (images, digits).
#[must_use]
pub fn verdict(t: &TrainingView) -> Option<String> {
    if t.metric.is_empty() && t.noise_floor.is_none() {
        return None;
    }
    Some(match (t.metric.last(), t.noise_floor, t.metric_ratio()) {
        (Some(m), Some(floor), Some(ratio)) => format!(
            "SW2 {} = {:.1}× noise floor ({}){}",
            format_sig(m[1], 3),
            ratio,
            format_sig(floor, 3),
            if ratio < 1.5 { ": converged" } else { "" }
        ),
        (Some(m), _, _) => format!("SW2 {}", format_sig(m[1], 3)),
        _ => "SW2: waiting for the first evaluation".to_owned(),
    })
}

/// The verdict as a label that explains itself on hover.
pub fn verdict_label(ui: &mut egui::Ui, text: RichText) {
    ui.add(egui::Label::new(text).wrap()).on_hover_text(
        "Sliced Wasserstein-2 between samples (DDIM, 100 steps) and held-out data; the noise floor is \
         SW2 between two independent draws of the data — the best any model can do",
    );
}

/// SW2 against iterations with the noise floor, `height` points high.
pub fn metric_plot(ui: &mut egui::Ui, t: &TrainingView, id: &str, height: f32) {
    iteration_plot(id, height, ui.available_width()).show(ui, |plot| {
        plot.add(
            Line::new("SW2", PlotPoints::from(t.metric.clone()))
                .color(theme::METRIC_COLORS[0])
                .width(2.0),
        );
        plot.add(
            Points::new("SW2", PlotPoints::from(t.metric.clone()))
                .color(theme::METRIC_COLORS[0])
                .radius(3.0),
        );
        if let Some(floor) = t.noise_floor {
            plot.add(
                HLine::new("noise floor", floor)
                    .color(theme::METRIC_COLORS[1])
                    .width(1.5),
            );
        }
    });
}
