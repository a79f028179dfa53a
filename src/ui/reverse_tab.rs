//! The Reverse tab: the learned reverse chain, live — `x_t` beside `x̂_0` ("what the
//! model believes x_0 is at this step"), the highlighted samples' paths and the ε field
//! for 2D data, image grids and SDEdit for images; sampler settings and step controls.

use egui::RichText;

use super::forward_tab::{EXTENT, decimate};
use super::theme;
use crate::app::reverse::{ChainView, EPS_GRID, NEAR_RADIUS, TrainingView, ideal_shape};
use crate::app::scene::SceneData;
use crate::app::settings::{DenoiserSetting, SamplerKind, Settings};
use crate::app::{Command, Model};
use crate::model::DataShape;

/// Lays out the Reverse tab.
pub fn reverse_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model, commands: &mut Vec<Command>) {
    controls_ui(ui, settings, model, commands);
    ui.separator();
    let learning = &model.learning;
    let ideal = settings.reverse.denoiser == DenoiserSetting::Ideal;
    let chain = learning.chain.as_ref();
    let shape = chain
        .map(|c| c.shape)
        .or_else(|| learning.denoiser_shape(ideal, &model.scene));
    status_ui(ui, model, chain);
    notes_ui(ui, model, shape);
    let heading_height = 56.0;
    let side = (ui.available_width() / 2.0 - 12.0)
        .min(ui.available_height() - heading_height - 8.0)
        .max(64.0);
    let frame = chain.and_then(|c| c.shown(settings.t));
    ui.columns(2, |cols| {
        view_heading(
            &mut cols[0],
            &format!("x_t at t = {}", frame.map_or(settings.t, |f| f.t)),
            if shape == Some(DataShape::Points) {
                "the samples; arrows: the score −ε̂/√(1−ᾱ_t)"
            } else {
                "the samples"
            },
        );
        view_heading(
            &mut cols[1],
            "x̂_0 = (x_t − √(1−ᾱ_t)·ε̂) / √ᾱ_t",
            "what the model believes x_0 is at this step",
        );
        match shape {
            Some(DataShape::Points) | None => {
                let background = model.points.as_ref().and(model.textures.0.as_ref());
                let xt = frame.map(|f| ChainView::points(&f.x)).unwrap_or_default();
                let x0 = frame.map(|f| ChainView::points(&f.x0_hat)).unwrap_or_default();
                let paths = chain
                    .map(|c| c.paths(frame.map_or(0, |f| f.t)))
                    .unwrap_or_default();
                let eps = learning.eps.as_ref().filter(|_| shape == Some(DataShape::Points));
                let dark = cols[0].visuals().dark_mode;
                let rect = scatter_frame(&mut cols[0], background, side);
                if let Some(eps) = eps {
                    arrows(&cols[0], rect, &eps.points, &eps.eps);
                }
                draw_paths(&cols[0], rect, &paths);
                scatter_points(&cols[0], rect, &xt, theme::point_color(dark));
                let rect = scatter_frame(&mut cols[1], background, side);
                scatter_points(&cols[1], rect, &x0, theme::x0_hat_color(dark));
            }
            Some(DataShape::Image { .. }) => {
                image(
                    &mut cols[0],
                    learning.textures.0.as_ref().filter(|_| frame.is_some()),
                    side,
                );
                image(
                    &mut cols[1],
                    learning.textures.1.as_ref().filter(|_| frame.is_some()),
                    side,
                );
            }
        }
    });
}

fn view_heading(ui: &mut egui::Ui, title: &str, subtitle: &str) {
    ui.label(RichText::new(title).heading());
    ui.add(egui::Label::new(RichText::new(subtitle).weak()).truncate());
}

fn controls_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model, commands: &mut Vec<Command>) {
    let chain = model.learning.chain.as_ref();
    let training = model
        .learning
        .training
        .as_ref()
        .is_some_and(TrainingView::running);
    ui.horizontal_wrapped(|ui| {
        ui.add_enabled_ui(!training, |ui| {
            let label = if chain.is_some() { "Restart" } else { "Sample" };
            if ui
                .button(RichText::new(label).strong())
                .on_hover_text("Run the reverse chain from x_T ~ N(0, I) (Space when no chain runs)")
                .on_disabled_hover_text("Training is running: the worker does one job at a time")
                .clicked()
            {
                commands.push(Command::Sample);
            }
        });
        let live = chain.is_some_and(|c| !c.done);
        ui.add_enabled_ui(live, |ui| {
            if chain.is_some_and(ChainView::running) {
                if ui.button("Pause").on_hover_text("Space").clicked() {
                    commands.push(Command::PauseChain(true));
                }
            } else if ui.button("Resume").on_hover_text("Space").clicked() {
                commands.push(Command::PauseChain(false));
            }
            if ui
                .button("Step")
                .on_hover_text("One step of the chain (← at the newest frame)")
                .clicked()
            {
                commands.push(Command::StepChain);
            }
        });
        ui.separator();
        let r = &mut settings.reverse;
        let label = ui.label("sampler");
        egui::ComboBox::from_id_salt("sampler")
            .selected_text(match r.sampler {
                SamplerKind::DdpmBeta => "DDPM, σ² = β_t",
                SamplerKind::DdpmPosterior => "DDPM, σ² = β̃_t",
                SamplerKind::Ddim => "DDIM",
            })
            .width(150.0)
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut r.sampler, SamplerKind::DdpmBeta, "DDPM, σ² = β_t");
                ui.selectable_value(&mut r.sampler, SamplerKind::DdpmPosterior, "DDPM, σ² = β̃_t");
                ui.selectable_value(&mut r.sampler, SamplerKind::Ddim, "DDIM");
            })
            .response
            .labelled_by(label.id);
        if r.sampler == SamplerKind::Ddim {
            let label = ui.label("K");
            ui.add(egui::DragValue::new(&mut r.ddim_steps).range(1..=model.schedule.steps()))
                .labelled_by(label.id)
                .on_hover_text("DDIM steps, evenly spaced over T");
            ui.add(egui::Slider::new(&mut r.ddim_eta, 0.0..=1.0).text("η"))
                .on_hover_text("0: deterministic; 1 with every step: DDPM with σ² = β̃_t");
        }
    });
    chain_options_ui(ui, settings, model);
}

/// Samples, seed, speed and SDEdit.
fn chain_options_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model) {
    let chain = model.learning.chain.as_ref();
    ui.horizontal_wrapped(|ui| {
        let r = &mut settings.reverse;
        let shape = chain.map(|c| c.shape).or_else(|| {
            model
                .learning
                .denoiser_shape(r.denoiser == DenoiserSetting::Ideal, &model.scene)
        });
        let label = ui.label("samples");
        if shape == Some(DataShape::Points) || shape.is_none() {
            ui.add(
                egui::DragValue::new(&mut r.n_points)
                    .range(1..=10_000)
                    .speed(10.0),
            )
            .labelled_by(label.id);
        } else {
            ui.add(egui::DragValue::new(&mut r.n_images).range(1..=144))
                .labelled_by(label.id);
        }
        let label = ui.label("seed");
        ui.add(egui::DragValue::new(&mut r.seed).range(0..=99_999))
            .labelled_by(label.id);
        ui.separator();
        ui.add_enabled_ui(!r.max_speed, |ui| {
            ui.add(
                egui::Slider::new(&mut r.steps_per_s, 1.0..=2000.0)
                    .logarithmic(true)
                    .text("steps/s"),
            );
        });
        ui.checkbox(&mut r.max_speed, "max")
            .on_hover_text("As fast as the model goes");
        let image_data = matches!(model.scene.data, SceneData::Image(_));
        let image_model = matches!(shape, Some(DataShape::Image { .. }))
            && (r.denoiser == DenoiserSetting::Ideal
                || model.learning.learned.as_ref().map(|m| m.summary.shape) == ideal_shape(&model.scene)
                || image_data);
        if image_data && image_model {
            ui.end_row();
            ui.checkbox(&mut r.sdedit, "SDEdit: start from the data noised to")
                .on_hover_text("Meng et al. 2022: noise the data on screen to t, then run the reverse chain");
            ui.add_enabled_ui(r.sdedit, |ui| {
                let steps = chain.map_or(model.schedule.steps(), |c| c.steps).max(1);
                ui.add(egui::Slider::new(&mut r.sdedit_t, 1..=steps).text("t₀"));
            });
        }
    });
}

fn status_ui(ui: &mut egui::Ui, model: &Model, chain: Option<&ChainView>) {
    let Some(chain) = chain else {
        ui.label(
            RichText::new(
                "Press Sample (or Space): the chain starts at x_T ~ N(0, I) and the model removes the noise \
                 step by step.",
            )
            .size(17.0),
        );
        return;
    };
    ui.add(egui::Label::new(RichText::new(&chain.description).size(17.0).strong()).truncate());
    ui.horizontal_wrapped(|ui| {
        let (done, total) = chain.progress;
        ui.add(
            egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                .desired_width(260.0)
                .text(format!("step {done} / {total}")),
        );
        let state = if chain.done {
            format!("done · {} frames: ← → or t scrub them", chain.frames.len())
        } else if chain.paused {
            "paused · ← one step · → or t scrub back".to_owned()
        } else {
            "running".to_owned()
        };
        ui.label(RichText::new(state).weak());
        if chain.steps != model.schedule.steps() {
            ui.label(
                RichText::new(format!(
                    "the model's T = {} (the app's T = {}: t is capped at it)",
                    chain.steps,
                    model.schedule.steps()
                ))
                .color(theme::warning_color(ui.visuals().dark_mode)),
            );
        }
    });
}

/// What the arrows are, and (at the end of a 2D chain) how many samples are copies of
/// points on screen.
fn notes_ui(ui: &mut egui::Ui, model: &Model, shape: Option<DataShape>) {
    let learning = &model.learning;
    if shape == Some(DataShape::Points) {
        let text = match (&learning.eps, &learning.eps_error) {
            (_, Some(e)) => format!("ε field unavailable: {e}"),
            (Some(e), None) => format!(
                "arrows: the score at t = {} on a {EPS_GRID}×{EPS_GRID} grid, the longest one grid spacing long · \
                 lines: {} samples' paths",
                e.key.t,
                crate::app::reverse::HIGHLIGHTED_PATHS
            ),
            (None, None) => "computing the ε field…".to_owned(),
        };
        ui.add(egui::Label::new(RichText::new(text).weak()).truncate());
    }
    if let Some(chain) = &learning.chain
        && let Some(fraction) = chain.near_fraction
    {
        let who = if chain.ideal {
            "the ideal denoiser reproduces the training points"
        } else {
            "a learned model generalises: compare with the ideal denoiser"
        };
        ui.label(
            RichText::new(format!(
                "{:.1} % of samples within {NEAR_RADIUS} of a point on screen — {who}",
                100.0 * fraction
            ))
            .size(18.0)
            .strong(),
        );
    }
}

/// `p` in data coordinates to the screen in `rect`.
fn to_screen(rect: egui::Rect, p: [f64; 2]) -> egui::Pos2 {
    egui::pos2(
        rect.left() + ((p[0] + EXTENT) / (2.0 * EXTENT)) as f32 * rect.width(),
        rect.bottom() - ((p[1] + EXTENT) / (2.0 * EXTENT)) as f32 * rect.height(),
    )
}

/// The square of a scatter with the faint data behind (the Forward tab's look); its rect.
fn scatter_frame(ui: &mut egui::Ui, background: Option<&egui::TextureHandle>, side: f32) -> egui::Rect {
    let (rect, response) = ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    let dark = ui.visuals().dark_mode;
    match background {
        Some(texture) => {
            let uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
            painter.image(texture.id(), rect, uv, egui::Color32::WHITE);
        }
        None => {
            painter.rect_stroke(
                rect,
                2.0,
                egui::Stroke::new(1.0, theme::faint_color(dark)),
                egui::StrokeKind::Inside,
            );
        }
    }
    if let Some(pos) = response.hover_pos() {
        let x = (f64::from((pos.x - rect.left()) / rect.width()) * 2.0 - 1.0) * EXTENT;
        let y = (1.0 - f64::from((pos.y - rect.top()) / rect.height()) * 2.0) * EXTENT;
        response.on_hover_text_at_pointer(format!("({x:.2}, {y:.2})"));
    }
    rect
}

/// `points` as one mesh (two triangles a point) in `rect`.
fn scatter_points(ui: &egui::Ui, rect: egui::Rect, points: &[[f64; 2]], color: egui::Color32) {
    let mut mesh = egui::Mesh::default();
    let r = (rect.width() / 300.0).clamp(1.2, 2.5);
    for &p in points {
        let c = to_screen(rect, p);
        if rect.contains(c) {
            mesh.add_colored_rect(
                egui::Rect::from_center_size(c, egui::vec2(2.0 * r, 2.0 * r)),
                color,
            );
        }
    }
    ui.painter_at(rect).add(egui::Shape::mesh(mesh));
}

/// The score `−ε̂` as arrows at the grid points, the longest one grid spacing long (the
/// factor `1/√(1−ᾱ_t)` is the same for every arrow, so the picture is the score's).
fn arrows(ui: &egui::Ui, rect: egui::Rect, points: &[f32], eps: &[f32]) {
    let painter = ui.painter_at(rect);
    let longest = eps
        .chunks_exact(2)
        .map(|e| f64::from(e[0]).hypot(f64::from(e[1])))
        .fold(0.0, f64::max);
    if longest <= 0.0 || !longest.is_finite() {
        return;
    }
    let spacing_px = rect.width() / EPS_GRID as f32;
    let scale = 0.95 * spacing_px / longest as f32;
    let stroke = egui::Stroke::new(1.6, theme::arrow_color(ui.visuals().dark_mode));
    for (p, e) in points.chunks_exact(2).zip(eps.chunks_exact(2)) {
        let origin = to_screen(rect, [f64::from(p[0]), f64::from(p[1])]);
        // Screen y points down.
        let v = egui::vec2(-e[0], e[1]) * scale;
        if v.length() > 1.0 {
            painter.arrow(origin - v / 2.0, v, stroke);
        }
    }
}

fn draw_paths(ui: &egui::Ui, rect: egui::Rect, paths: &[Vec<[f64; 2]>]) {
    let painter = ui.painter_at(rect);
    for (k, path) in paths.iter().enumerate() {
        let Some(&last) = path.last() else { continue };
        let color = theme::PATH_COLORS[k % theme::PATH_COLORS.len()];
        painter.add(egui::Shape::line(
            decimate(path.iter().map(|&p| to_screen(rect, p))),
            egui::Stroke::new(1.0, color.gamma_multiply(0.4)),
        ));
        painter.circle_filled(to_screen(rect, last), 5.0, color);
    }
}

fn image(ui: &mut egui::Ui, texture: Option<&egui::TextureHandle>, side: f32) {
    match texture {
        Some(texture) => {
            let size = texture.size_vec2();
            let scale = side / size.x.max(size.y);
            ui.add(egui::Image::from_texture((texture.id(), size * scale)));
        }
        None => {
            ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::hover());
        }
    }
}
