//! The status line (errors stay until dismissed; progress of background work) and the
//! frame-time overlay (F3: the timings are there only, never over the status line).

use super::theme;
use crate::app::{Command, FrameTimes, Model};

/// Lays out the status line, one row as tall as a button whatever it holds, so that an
/// error, a spinner or a progress bar never moves the views above it.
pub fn status_ui(ui: &mut egui::Ui, model: &Model, commands: &mut Vec<Command>) {
    let dark = ui.visuals().dark_mode;
    // The dismiss button's glyph comes from a fallback font with a taller line: the row
    // is always that tall.
    let dismiss = ui
        .painter()
        .layout_no_wrap(
            "✕".to_owned(),
            egui::TextStyle::Button.resolve(ui.style()),
            egui::Color32::WHITE,
        )
        .size()
        .y;
    ui.horizontal(|ui| {
        ui.set_min_height(dismiss.max(ui.spacing().interact_size.y));
        if let Some(error) = &model.status.error {
            if ui.small_button("✕").on_hover_text("dismiss").clicked() {
                commands.push(Command::DismissError);
            }
            let text = egui::RichText::new(format!("error: {error}")).color(theme::error_color(dark));
            ui.add(egui::Label::new(text).truncate()).on_hover_text(error);
            ui.separator();
        }
        if let Some(what) = &model.loading {
            ui.spinner();
            match model.load_progress.as_ref().and_then(|p| p.fraction()) {
                Some(fraction) => {
                    ui.add(
                        egui::ProgressBar::new(fraction as f32)
                            .desired_width(200.0)
                            .text(format!("reading {what}: {:.0} %", 100.0 * fraction)),
                    );
                }
                None => {
                    ui.label(format!("loading {what}…"));
                }
            }
            ui.separator();
        }
        if let Some(job) = &model.export {
            let fraction = job.done() as f32 / job.total.max(1) as f32;
            ui.add(
                egui::ProgressBar::new(fraction)
                    .desired_width(160.0)
                    .text(format!("{} {}/{}", job.what, job.done(), job.total)),
            );
            if ui.small_button("cancel").clicked() {
                commands.push(Command::CancelExport);
            }
            ui.separator();
        }
        if let Some(info) = &model.status.info {
            ui.add(egui::Label::new(info).truncate()).on_hover_text(info);
        }
    });
}

/// `frame p50 … p99 … max …` of the recorded CPU times.
#[must_use]
pub fn frame_summary(times: &FrameTimes) -> String {
    format!(
        "frame CPU p50 {:.1} · p99 {:.1} · max {:.1} ms (app {:.1} · {:.1} · {:.1}) over {} frames",
        times.quantile(0.5),
        times.quantile(0.99),
        times.quantile(1.0),
        times.app_quantile(0.5),
        times.app_quantile(0.99),
        times.app_quantile(1.0),
        times.len()
    )
}

/// The F3 overlay: the last frames' CPU time as bars against the 16.7 ms budget.
pub fn frame_time_overlay(ctx: &egui::Context, model: &Model) {
    egui::Area::new(egui::Id::unique("frame_times"))
        .anchor(egui::Align2::RIGHT_TOP, egui::vec2(-12.0, 48.0))
        .order(egui::Order::Foreground)
        .interactable(false)
        .show(ctx, |ui| {
            egui::Frame::popup(ui.style()).show(ui, |ui| {
                let times = &model.frame_times;
                ui.label(egui::RichText::new(frame_summary(times)).monospace());
                let (rect, _) = ui.allocate_exact_size(egui::vec2(300.0, 60.0), egui::Sense::hover());
                let painter = ui.painter_at(rect);
                let budget_ms = 1000.0 / 60.0;
                let scale = rect.height() / (2.0 * budget_ms);
                let y_budget = rect.bottom() - budget_ms * scale;
                painter.hline(
                    rect.x_range(),
                    y_budget,
                    egui::Stroke::new(1.0, theme::NORMAL_CURVE),
                );
                let n = times.len().max(1) as f32;
                let w = rect.width() / n;
                for (i, ms) in times.iter().enumerate() {
                    let h = (ms * scale).min(rect.height());
                    let x = rect.left() + i as f32 * w;
                    let color = if ms > budget_ms {
                        theme::error_color(true)
                    } else {
                        theme::point_color(true)
                    };
                    painter.rect_filled(
                        egui::Rect::from_min_max(
                            egui::pos2(x, rect.bottom() - h),
                            egui::pos2(x + w.max(1.0), rect.bottom()),
                        ),
                        0.0,
                        color,
                    );
                }
            });
        });
}
