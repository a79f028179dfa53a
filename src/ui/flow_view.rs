//! The probability flow in the ELBO tab (2D models): the density view — the model's
//! `log p_θ(x)` by its probability-flow ODE as a heatmap with the contours of its 50, 80
//! and 95 % highest-density regions, beside its samples and the data — and the exact NLL
//! beside the −ELBO.

use egui::RichText;

use super::reverse_tab::{scatter_frame, scatter_points};
use super::theme;
use crate::app::flow::{DENSITY_SIDE, FlowKey, FlowTarget, wanted_flow};
use crate::app::settings::Settings;
use crate::app::{Command, Model};
use crate::export::VIEW_EXTENT;
use crate::format::format_sig;
use crate::scene::SceneData;
use crate::scene::contour::{contour_segments, hdr_levels};
use crate::worker::model::FlowOutcome;

/// The shares of the mass the contours enclose.
const MASSES: [f64; 3] = [0.5, 0.8, 0.95];
/// The heatmap's range below its top, in nats.
const RANGE_NATS: f64 = 12.0;

/// The caption beside the two numbers.
pub const CAPTION: &str = "The flow's NLL is exact (Song et al. 2021: the probability-flow ODE, solved by RK45 at \
     rtol = atol = 1e-5 with the exact divergence) but of a different model than the −ELBO: the ODE's deterministic \
     flow and the DDPM chain share the network, not their densities, so neither number bounds the other in general \
     (Lu et al. 2022). Both are of x at step 1 (σ₁ = √β₁).";

/// Whether the density view can be shown: a 2D learned model for the 2D data on screen.
#[must_use]
pub fn density_available(model: &Model, settings: &Settings) -> bool {
    wanted_flow(model, settings)
        .iter()
        .any(|k| k.target == FlowTarget::Nll)
}

/// The density toggle of the controls row (only when `available`).
pub fn density_toggle_ui(ui: &mut egui::Ui, density: &mut bool, available: bool) {
    if available {
        ui.separator();
        ui.checkbox(density, "density view").on_hover_text(
            "the model's log p_θ(x) by its probability-flow ODE on a 100 × 100 grid, beside its samples",
        );
    }
}

/// The running flow job's progress, or the stopped state, on one row.
pub fn status_ui(ui: &mut egui::Ui, model: &Model, settings: &Settings, commands: &mut Vec<Command>) {
    let state = &model.flow;
    if let Some(running) = &state.running {
        ui.horizontal_wrapped(|ui| {
            ui.label(format!(
                "computing the probability flow's {}",
                match running.key.target {
                    FlowTarget::Nll => "NLL of the examples",
                    FlowTarget::Density => "density on a 100 × 100 grid",
                }
            ));
            super::elbo_tab::progress_and_stop(ui, running.fraction, commands, Command::StopFlow);
        });
    } else if let Some(key) = state
        .stopped
        .as_ref()
        .filter(|k| wanted_flow(model, settings).contains(k))
    {
        ui.horizontal_wrapped(|ui| {
            ui.label(format!(
                "the probability flow's {} is stopped",
                if key.target == FlowTarget::Nll {
                    "NLL"
                } else {
                    "density"
                }
            ));
            if ui.button("Compute").clicked() {
                commands.push(Command::ComputeFlow);
            }
        });
    }
}

/// The NLL row under the ELBO totals, with the caption.
pub fn nll_ui(ui: &mut egui::Ui, model: &Model, settings: &Settings) {
    let Some(key) = wanted_flow(model, settings)
        .into_iter()
        .find(|k| k.target == FlowTarget::Nll)
    else {
        return;
    };
    ui.add_space(6.0);
    ui.label(
        RichText::new("learned · probability-flow ODE (exact NLL)")
            .color(theme::ELBO_COLORS[0])
            .strong(),
    );
    match model.flow.result(&key) {
        Some(Ok(outcome)) => {
            let n = outcome.log_p.len().max(1) as f64;
            let nll = -outcome.log_p.iter().sum::<f64>() / n;
            let sd = (outcome.log_p.iter().map(|l| (l + nll).powi(2)).sum::<f64>() / n).sqrt();
            let se = sd / n.sqrt();
            egui::Grid::new("flow_nll").num_columns(2).show(ui, |ui| {
                ui.label(RichText::new("NLL (nats / example)").weak());
                ui.monospace(format!("{} ± {}", format_sig(nll, 5), format_sig(se, 2)));
                ui.end_row();
                ui.label(RichText::new("bits / dim").weak());
                ui.monospace(format!(
                    "{} ± {}",
                    format_sig(nll / (2.0 * std::f64::consts::LN_2), 4),
                    format_sig(se / (2.0 * std::f64::consts::LN_2), 2)
                ));
                ui.end_row();
                ui.label(RichText::new("network evaluations").weak());
                ui.monospace(format!(
                    "{} per point's ODE solve (five in six with the trace), {:.1} s",
                    format_sig(outcome.nfe_per_point, 4),
                    outcome.seconds
                ));
                ui.end_row();
            });
        }
        Some(Err(message)) => {
            ui.colored_label(ui.visuals().error_fg_color, message);
        }
        None => {
            ui.label(RichText::new("computed after the ELBO estimates").weak());
        }
    }
    ui.label(RichText::new(CAPTION).small().weak());
}

/// The density view in `height` points: the heatmap with its contours and the data, and
/// the model's samples over the data with the same contours.
pub fn density_ui(ui: &mut egui::Ui, model: &Model, settings: &Settings, height: f32) {
    let key = wanted_flow(model, settings)
        .into_iter()
        .find(|k| k.target == FlowTarget::Density);
    let outcome = key.as_ref().and_then(|k| model.flow.result(k));
    let side = (height - 56.0)
        .min((ui.available_width() - 24.0) / 2.0)
        .max(120.0);
    let data: &[[f64; 2]] = match &model.scene.data {
        SceneData::Points(p) => p,
        SceneData::Image(_) => &[],
    };
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.set_max_width(side);
            heading(
                ui,
                "log p_θ(x)",
                "by the probability-flow ODE · contours: 50, 80, 95 % of the mass",
            );
            match outcome {
                Some(Ok(o)) => {
                    let texture = heatmap_texture(ui.ctx(), key.as_ref().expect("a result has a key"), o);
                    let rect = scatter_frame(ui, Some(&texture), side, "density of the model");
                    scatter_points(ui, rect, data, egui::Color32::from_white_alpha(70));
                    contours(ui, rect, o, egui::Color32::from_gray(235));
                    ui.label(RichText::new(range_text(o)).small().weak());
                }
                Some(Err(message)) => {
                    ui.colored_label(ui.visuals().error_fg_color, message);
                }
                None => {
                    let fraction = key.as_ref().and_then(|k| model.flow.progress(k)).unwrap_or(0.0);
                    let rect = scatter_frame(ui, None, side, "density of the model");
                    ui.painter_at(rect).text(
                        rect.center(),
                        egui::Align2::CENTER_CENTER,
                        format!("computing … {:.0} %", 100.0 * fraction),
                        egui::FontId::proportional(16.0),
                        ui.visuals().weak_text_color(),
                    );
                }
            }
        });
        ui.vertical(|ui| {
            ui.set_max_width(side);
            heading(
                ui,
                "samples and data",
                "orange: 1000 DDPM samples · grey: the data",
            );
            let rect = scatter_frame(ui, None, side, "samples of the model");
            scatter_points(ui, rect, data, egui::Color32::from_gray(110));
            if let Some(Ok(o)) = outcome {
                contours(ui, rect, o, egui::Color32::from_gray(200));
                let samples: Vec<[f64; 2]> = o
                    .samples
                    .chunks_exact(2)
                    .map(|p| [f64::from(p[0]), f64::from(p[1])])
                    .collect();
                scatter_points(ui, rect, &samples, theme::NORMAL_CURVE);
            }
        });
    });
}

fn heading(ui: &mut egui::Ui, title: &str, subtitle: &str) {
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new(title).strong());
        ui.label(RichText::new(subtitle).small().weak());
    });
}

/// `log p from … to … nats (heatmap: the top 12 nats)`.
fn range_text(o: &FlowOutcome) -> String {
    let (lo, hi) = o
        .log_p
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    format!(
        "log p from {} to {} nats; the colours span the top {RANGE_NATS} nats · {} network evaluations per point, \
         {:.0} s",
        format_sig(lo, 3),
        format_sig(hi, 3),
        format_sig(o.nfe_per_point, 4),
        o.seconds
    )
}

/// The density's highest-density contours in `rect`.
fn contours(ui: &egui::Ui, rect: egui::Rect, o: &FlowOutcome, colour: egui::Color32) {
    let painter = ui.painter_at(rect);
    let to_screen = |p: [f64; 2]| {
        egui::pos2(
            rect.left() + ((p[0] + VIEW_EXTENT) / (2.0 * VIEW_EXTENT)) as f32 * rect.width(),
            rect.bottom() - ((p[1] + VIEW_EXTENT) / (2.0 * VIEW_EXTENT)) as f32 * rect.height(),
        )
    };
    for (k, level) in hdr_levels(&o.log_p, &MASSES).into_iter().enumerate() {
        let stroke = egui::Stroke::new(1.5 - 0.4 * k as f32, colour.gamma_multiply(1.0 - 0.3 * k as f32));
        for [a, b] in contour_segments(&o.log_p, DENSITY_SIDE, VIEW_EXTENT, level) {
            painter.line_segment([to_screen(a), to_screen(b)], stroke);
        }
    }
}

/// The heatmap of `o`'s grid as a texture, made once per result (kept in egui's memory
/// under the result's key).
fn heatmap_texture(ctx: &egui::Context, key: &FlowKey, o: &FlowOutcome) -> egui::TextureHandle {
    let id = egui::Id::unique("diffscope_flow_density").with(key.model);
    if let Some(texture) = ctx.data(|d| d.get_temp::<egui::TextureHandle>(id)) {
        return texture;
    }
    let top = o.log_p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let pixels = o
        .log_p
        .iter()
        .map(|&v| theme::heat_color((v - top + RANGE_NATS) / RANGE_NATS))
        .collect();
    let image = egui::ColorImage::new([DENSITY_SIDE, DENSITY_SIDE], pixels);
    let texture = ctx.load_texture("flow_density", image, egui::TextureOptions::LINEAR);
    ctx.data_mut(|d| d.insert_temp(id, texture.clone()));
    texture
}
