//! The Reverse tab's centre while a model trains: the loss and SW2 curves and the
//! model's latest samples, in type large enough to read from the back of a room.

use egui::{FontId, RichText, TextStyle};

use super::reverse_tab::{scatter_frame, scatter_points};
use super::{theme, training_plots};
use crate::app::Model;
use crate::app::reverse::TrainingView;
use crate::model::train::PHOTO_PREVIEW_STEPS;
use crate::scene::SceneData;
use crate::worker::frames::Rgba;

/// The plots' text (ticks, legends, axis names) in the centre, in points.
const PLOT_TEXT: f32 = 18.0;

/// A single-image model's training: its latest samples, as large as the room above the
/// loss plot.
fn photo_samples_ui(
    ui: &mut egui::Ui,
    t: &TrainingView,
    (iteration, grid): (u64, &Rgba),
    texture: Option<&egui::TextureHandle>,
    height: f32,
) {
    let plot_height = (height * 0.3).clamp(100.0, 260.0);
    let heading = 30.0;
    ui.add(
        egui::Label::new(
            RichText::new(format!(
                "samples at iteration {iteration} ({PHOTO_PREVIEW_STEPS} DDIM steps)"
            ))
            .heading(),
        )
        .truncate(),
    );
    let room = egui::vec2(ui.available_width(), (height - plot_height - heading).max(60.0));
    let (w, h) = (grid.width as f32, grid.height as f32);
    let scale = (room.x / w).min(room.y / h).max(0.1);
    let size = egui::vec2(w * scale, h * scale);
    ui.allocate_ui(egui::vec2(room.x, size.y), |ui| {
        ui.centered_and_justified(|ui| match texture {
            Some(texture) => {
                ui.add(egui::Image::new((texture.id(), size)).alt_text("training samples"));
            }
            None => {
                ui.spinner();
            }
        });
    });
    training_plots::loss_plot(ui, t, "train_loss_centre", plot_height);
}

/// Lays out a training run: what it trains, progress, the verdict, then the samples
/// (2D data) beside the loss and SW2 plots.
pub fn training_ui(ui: &mut egui::Ui, model: &Model, t: &TrainingView) {
    ui.add(
        egui::Label::new(
            RichText::new(format!("Training on {}", t.what))
                .size(22.0)
                .strong(),
        )
        .wrap(),
    );
    let fraction = t.iteration as f32 / t.total.max(1) as f32;
    // The rate and ETA are the left panel's (a lecturer's business, not the class's).
    let state = if t.paused { " (paused)" } else { "" };
    ui.add(
        egui::ProgressBar::new(fraction)
            .text(RichText::new(format!("{} of {} iterations{state}", t.iteration, t.total)).size(17.0)),
    );
    let verdict = training_plots::verdict(t);
    if let Some(verdict) = &verdict {
        training_plots::verdict_label(ui, RichText::new(verdict).size(20.0).strong());
    }
    ui.add_space(4.0);
    let style = ui.style_mut();
    for (text_style, size) in [(TextStyle::Body, PLOT_TEXT), (TextStyle::Small, PLOT_TEXT - 2.0)] {
        style.text_styles.insert(text_style, FontId::proportional(size));
    }
    let points = matches!(model.scene.data, SceneData::Points(_));
    let height = (ui.available_height() - 8.0).max(120.0);
    if !points && t.images.is_none() {
        training_plots::loss_plot(ui, t, "train_loss_centre", height);
        return;
    }
    if let Some((iteration, grid)) = &t.images {
        let texture = model
            .learning
            .training_texture
            .as_ref()
            .filter(|((g, _), _)| *g == t.generation)
            .map(|(_, texture)| texture);
        photo_samples_ui(ui, t, (*iteration, grid), texture, height);
        return;
    }
    let heading = 30.0;
    let side = (height - heading).min(ui.available_width() * 0.45).max(80.0);
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.set_width(side);
            let title = t.samples.as_ref().map_or_else(
                || "samples: at the first evaluation".to_owned(),
                |(iteration, _)| format!("samples at iteration {iteration}"),
            );
            ui.add(egui::Label::new(RichText::new(title).heading()).truncate());
            let background = model.points.as_ref().and(model.textures.0.as_ref());
            let rect = scatter_frame(ui, background, side, "training samples view");
            if let Some((_, samples)) = &t.samples {
                scatter_points(ui, rect, samples, theme::x0_hat_color(ui.visuals().dark_mode));
            }
        });
        ui.vertical(|ui| {
            let plot_height = if verdict.is_some() {
                height / 2.0 - 6.0
            } else {
                height
            };
            training_plots::loss_plot(ui, t, "train_loss_centre", plot_height);
            if verdict.is_some() {
                training_plots::metric_plot(ui, t, "train_metric_centre", plot_height);
            }
        });
    });
}
