//! The VAE → VDM tab: the lecture's first half, live. A VAE on 2D data (its data view,
//! its latent view with posterior ellipses over the prior, its ELBO as it trains, β and
//! the posterior-collapse readout), then a Markovian hierarchical VAE with `T` levels and
//! the three switches that turn it into a variational diffusion model.

use egui::{Color32, Pos2, Rect, RichText, Sense, Shape, Stroke, Vec2};
use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoints};

use crate::app::Model;
use crate::app::command::Command;
use crate::app::latent::{BETAS, LEVELS, LatentAction, LatentForm, LatentMode, LatentSettings, LatentState};
use crate::app::settings::Settings;
use crate::data::Dataset;
use crate::export::VIEW_EXTENT;
use crate::format::format_sig;
use crate::model::vae::{Estimate, LatentModel};
use crate::ui::theme;
use crate::worker::latent::{LatentReport, Pictures};

/// Examples highlighted with their posterior ellipses in the latent view.
pub const HIGHLIGHTED: [usize; 5] = [0, 200, 400, 600, 800];

/// What the tab says once all three switches are on.
pub const VDM_GAINED: &str = "All three on: this is a VDM with T steps. Gained: the posterior \
     q(x_{t−1} | x_t, x_0) is a known Gaussian, so each step's term is a KL in closed form (the \
     denoising-matching form, far lower variance); one network can be shared over t; and training is \
     regression on ε. Only the decoders learn — and with a few levels their samples stay poor: each \
     Gaussian step is too big to carry the data's shape, which is why diffusion takes hundreds of small \
     ones (the Reverse tab's 1000).";

/// The tab's centre: the model choice and its controls, then its views.
pub fn latent_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model, commands: &mut Vec<Command>) {
    let s = &mut settings.latent;
    let state = &model.latent;
    ui.horizontal_wrapped(|ui| {
        ui.selectable_value(&mut s.mode, LatentMode::Vae, RichText::new("VAE").strong())
            .on_hover_text("One 2D latent z: encoder q_φ(z|x), decoder p_θ(x|z), prior N(0, I)");
        ui.selectable_value(
            &mut s.mode,
            LatentMode::Hierarchical,
            RichText::new("Hierarchical VAE → VDM").strong(),
        )
        .on_hover_text("T levels of 2D latents, each conditioned only on the one before (Markovian)");
        ui.separator();
        let label = ui.label("data");
        egui::ComboBox::from_id_salt("latent-data")
            .selected_text(s.data_set().label())
            .show_ui(ui, |ui| {
                for d in Dataset::ALL {
                    if ui.selectable_label(s.dataset == d.name(), d.label()).clicked() {
                        d.name().clone_into(&mut s.dataset);
                    }
                }
            })
            .response
            .labelled_by(label.id);
        ui.separator();
        training_buttons_ui(ui, state, commands);
    });
    match s.mode {
        LatentMode::Vae => vae_controls_ui(ui, s, state),
        LatentMode::Hierarchical => mhvae_controls_ui(ui, s, model),
    }
    status_ui(ui, state);
    views_ui(ui, settings, model);
}

/// Train, pause, stop; the shipped weights; open and save.
fn training_buttons_ui(ui: &mut egui::Ui, state: &LatentState, commands: &mut Vec<Command>) {
    let act = |commands: &mut Vec<Command>, a| commands.push(Command::Latent(a));
    if ui
        .button("Train from scratch")
        .on_hover_text("A fresh model of this form, trained here (the window stays fluid)")
        .clicked()
    {
        act(commands, LatentAction::TrainFromScratch);
    }
    if state.training {
        let label = if state.paused { "Resume" } else { "Pause" };
        if ui.button(label).clicked() {
            act(commands, LatentAction::Pause(!state.paused));
        }
        if ui
            .button("Stop")
            .on_hover_text("Keep the model as it is now")
            .clicked()
        {
            act(commands, LatentAction::Stop);
        }
    } else if state.snapshot.is_some()
        && ui
            .button("Train more")
            .on_hover_text("Go on training the model on screen (with the β set)")
            .clicked()
    {
        act(commands, LatentAction::TrainMore);
    }
    if state.form.as_ref().and_then(LatentForm::shipped_name).is_some()
        && !state.origin.starts_with("shipped")
        && ui
            .button("Shipped")
            .on_hover_text("The weights that ship with diffscope for this form")
            .clicked()
    {
        act(commands, LatentAction::UseShipped);
    }
    if ui
        .button("Open…")
        .on_hover_text("Open VAE or hierarchical VAE weights")
        .clicked()
    {
        act(commands, LatentAction::OpenDialog);
    }
    if state.snapshot.is_some() && ui.button("Save…").clicked() {
        act(commands, LatentAction::SaveDialog);
    }
}

/// β and the posterior-collapse readout.
fn vae_controls_ui(ui: &mut egui::Ui, s: &mut LatentSettings, state: &LatentState) {
    ui.horizontal_wrapped(|ui| {
        let label = ui.label("β");
        ui.add(
            egui::Slider::new(&mut s.beta, BETAS)
                .step_by(0.05)
                .max_decimals(2)
                .update_while_editing(false),
        )
        .labelled_by(label.id)
        .on_hover_text(
            "β-VAE: the objective is E log p_θ(x|z) − β·KL. Moving β trains on with it; large β \
             pushes q_φ(z|x) onto the prior until latents collapse. The ELBO shown is at β = 1.",
        );
        if let Some(snapshot) = &state.snapshot
            && let LatentReport::Vae(r) = &snapshot.report
        {
            ui.separator();
            let kls: Vec<String> = r.kl_per_dim.iter().map(|k| format_sig(*k, 3)).collect();
            ui.label(format!("KL per latent dimension: {} nats", kls.join(", ")))
                .on_hover_text("E_x KL(q_φ(z_i|x) ‖ N(0, 1)) of each coordinate: a collapsed one is ≈ 0");
            let dims = r.kl_per_dim.len();
            let collapsed = r.active_units < dims;
            let text = format!("active units: {} of {dims}", r.active_units);
            let text = if collapsed {
                RichText::new(text).color(theme::warning_color(ui.visuals().dark_mode))
            } else {
                RichText::new(text)
            };
            ui.label(text).on_hover_text(
                "A latent is active when Cov_x(E_q[z_i]) > 0.01 (Burda et al. 2016): the encoder's mean \
                 moves with x. An inactive one carries no information: posterior collapse.",
            );
        }
    });
}

/// `T` and the three switches.
fn mhvae_controls_ui(ui: &mut egui::Ui, s: &mut LatentSettings, model: &Model) {
    ui.horizontal_wrapped(|ui| {
        let label = ui.label("T");
        ui.add(egui::Slider::new(&mut s.levels, LEVELS).update_while_editing(false))
            .labelled_by(label.id)
            .on_hover_text("Levels of latents z_1 … z_T (a new T trains a new model)");
        ui.separator();
        let mut same_size = true;
        ui.add_enabled(false, egui::Checkbox::new(&mut same_size, "1 · latents the size of the data"))
            .on_disabled_hover_text("2D data, 2D latents: on by construction here");
        ui.checkbox(&mut s.fixed_encoders, "2 · encoders fixed")
            .on_hover_text(
                "q(z_t|z_{t−1}) = N(√α_t z_{t−1}, (1−α_t) I) with the α_t of the schedule on screen: the \
                 encoders' parameters disappear, only the decoders train",
            );
        if !s.fixed_encoders {
            s.to_noise = false;
        }
        let ztsnr = model.schedule.spec().zero_terminal_snr;
        ui.add_enabled(
            s.fixed_encoders && !ztsnr,
            egui::Checkbox::new(&mut s.to_noise, "3 · ᾱ_T → 0"),
        )
            .on_hover_text(
                "Off: the levels stop where ᾱ = ½ (z_T keeps √½ of the data). On: they run the whole \
                 schedule, ᾱ_T ≈ 0, so z_T ~ N(0, I) and the prior term goes to zero",
            )
            .on_disabled_hover_text(if ztsnr {
                "The schedule on screen has ᾱ_T = 0 exactly (zero terminal SNR): its last step has α_T = 0 and \
                 leaves the last decoder nothing to work with. Turn zero terminal SNR off to take this switch."
            } else {
                "Turn on switch 2 first: ᾱ_t belongs to fixed encoders"
            });
        if s.fixed_encoders {
            let schedule = &model.schedule;
            let times = crate::model::mhvae::level_times(schedule, s.levels, s.to_noise);
            let last = times.last().copied().unwrap_or(0);
            ui.label(
                RichText::new(format!(
                    "levels at t = {} of the {} schedule: ᾱ_T = {}",
                    times.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                    schedule.spec().kind.label(),
                    format_sig(schedule.alpha_bar(last), 3)
                ))
                .weak(),
            );
        }
    });
}

/// Where the model came from, training progress, the last message and error.
fn status_ui(ui: &mut egui::Ui, state: &LatentState) {
    ui.horizontal_wrapped(|ui| {
        let dark = ui.visuals().dark_mode;
        if let Some(snapshot) = &state.snapshot {
            let what = if state.training && state.paused {
                "paused"
            } else if state.training {
                "training"
            } else {
                "trained"
            };
            ui.label(format!(
                "{} · {what}, {} iterations{}",
                state.origin,
                snapshot.iteration,
                if snapshot.train_s > 0.0 {
                    format!(" ({} s here)", format_sig(snapshot.train_s, 3))
                } else {
                    String::new()
                }
            ));
        } else if state.waiting() {
            ui.spinner();
            ui.label(if state.training {
                "training starts…"
            } else {
                "loading…"
            });
        }
        if let Some(m) = &state.message {
            ui.label(RichText::new(m).weak());
        }
        if let Some(e) = &state.error {
            ui.label(RichText::new(format!("⚠ {e}")).color(theme::error_color(dark)));
        }
    });
}

/// The views alone (also presentation mode's): the VAE's three, or the hierarchical VAE's
/// levels and terms.
pub fn views_ui(ui: &mut egui::Ui, settings: &Settings, model: &Model) {
    let state = &model.latent;
    let Some(snapshot) = &state.snapshot else {
        ui.label(RichText::new("The model's pictures appear with its first snapshot.").weak());
        return;
    };
    match (&snapshot.model, &snapshot.pictures, &snapshot.report) {
        (LatentModel::Vae(vae), Pictures::Vae { .. }, LatentReport::Vae(report)) => {
            vae_views_ui(ui, state, vae, report);
        }
        (LatentModel::Mhvae(_), Pictures::Mhvae { encoded, generated }, LatentReport::Mhvae(report)) => {
            mhvae_views_ui(ui, settings, state, encoded, generated, report);
        }
        _ => {}
    }
}

/// `e` as `−2.31 ± 0.01`.
#[must_use]
pub fn with_error(e: Estimate) -> String {
    format!(
        "{} ± {}",
        signed(e.mean),
        format_sig(e.std_err, 2).replace('-', "−")
    )
}

/// `v` with 4 significant digits and a real minus sign.
fn signed(v: f64) -> String {
    format_sig(v, 4).replace('-', "−")
}

/// Maps `[−VIEW_EXTENT, VIEW_EXTENT]²` onto `rect` (y up).
fn to_screen(rect: Rect, p: [f32; 2]) -> Pos2 {
    let e = VIEW_EXTENT as f32;
    Pos2::new(
        rect.center().x + p[0] / e * rect.width() / 2.0,
        rect.center().y - p[1] / e * rect.height() / 2.0,
    )
}

fn from_screen(rect: Rect, pos: Pos2) -> [f32; 2] {
    let e = VIEW_EXTENT as f32;
    [
        (pos.x - rect.center().x) / (rect.width() / 2.0) * e,
        -(pos.y - rect.center().y) / (rect.height() / 2.0) * e,
    ]
}

/// Points `n × 2` as small squares, one mesh (thousands of points cost one shape).
fn points_shape(rect: Rect, points: &[f32], color: Color32, half: f32) -> Shape {
    let mut mesh = egui::Mesh::default();
    for p in points.chunks_exact(2) {
        let c = to_screen(rect, [p[0], p[1]]);
        if rect.contains(c) {
            mesh.add_colored_rect(Rect::from_center_size(c, Vec2::splat(2.0 * half)), color);
        }
    }
    Shape::mesh(mesh)
}

/// A square view: its frame, its title, the axes through 0.
fn view_frame(ui: &egui::Ui, rect: Rect, title: &str) {
    let painter = ui.painter_at(rect);
    let visuals = ui.visuals();
    painter.rect_filled(rect, 2.0, visuals.extreme_bg_color);
    let axis = Stroke::new(1.0, visuals.faint_bg_color);
    let o = to_screen(rect, [0.0, 0.0]);
    painter.line_segment([Pos2::new(rect.left(), o.y), Pos2::new(rect.right(), o.y)], axis);
    painter.line_segment([Pos2::new(o.x, rect.top()), Pos2::new(o.x, rect.bottom())], axis);
    painter.text(
        rect.left_top() + Vec2::new(6.0, 4.0),
        egui::Align2::LEFT_TOP,
        title,
        egui::FontId::proportional(14.0),
        visuals.strong_text_color(),
    );
}

/// An ellipse of a diagonal Gaussian (`σ` per axis) at `k` standard deviations.
fn ellipse(rect: Rect, mean: [f32; 2], sigma: [f32; 2], k: f32, stroke: Stroke) -> Shape {
    let pts = (0..=48)
        .map(|i| {
            let a = i as f32 / 48.0 * std::f32::consts::TAU;
            to_screen(
                rect,
                [mean[0] + k * sigma[0] * a.cos(), mean[1] + k * sigma[1] * a.sin()],
            )
        })
        .collect();
    Shape::line(pts, stroke)
}

/// The lines under the views: numbers (monospace) and words (weak), with the height
/// they take wrapped at `width`.
struct Footer {
    lines: Vec<(String, bool)>,
}

impl Footer {
    fn height(&self, ui: &egui::Ui, width: f32) -> f32 {
        let spacing = ui.spacing().item_spacing.y;
        self.lines
            .iter()
            .map(|(text, mono)| {
                let font = if *mono {
                    egui::TextStyle::Monospace.resolve(ui.style())
                } else {
                    egui::TextStyle::Body.resolve(ui.style())
                };
                let galley = ui.fonts_mut(|f| f.layout(text.clone(), font, Color32::WHITE, width));
                galley.size().y + spacing
            })
            .sum::<f32>()
            + 4.0
    }

    fn ui(self, ui: &mut egui::Ui) {
        for (text, mono) in self.lines {
            let text = if mono {
                RichText::new(text).monospace()
            } else {
                RichText::new(text).weak()
            };
            ui.add(egui::Label::new(text).wrap());
        }
    }
}

/// Claims `rect` of `ui` for a view called `name` (its accessible label).
fn place(ui: &mut egui::Ui, rect: Rect, name: &str) -> egui::Response {
    let response = ui.allocate_rect(rect, Sense::hover());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::accesskit::Role::Image, true, name));
    response
}

/// The views' room: what is left of `ui` above the footer, and the footer's room.
fn split_room(ui: &egui::Ui, footer: &Footer) -> (Rect, Rect) {
    let area = ui.available_rect_before_wrap();
    let footer_height = footer.height(ui, area.width());
    let views = Rect::from_min_max(
        area.min,
        Pos2::new(area.max.x, (area.max.y - footer_height).max(area.min.y + 80.0)),
    );
    let bottom = Rect::from_min_max(Pos2::new(area.min.x, views.max.y), area.max);
    (views, bottom)
}

/// Lays the footer out right under the views (which end at `views_bottom`; the footer's
/// room was kept free below them) and claims the room.
fn footer_ui(ui: &mut egui::Ui, room: Rect, bottom: Rect, views_bottom: f32, footer: Footer) {
    let top = (views_bottom + 6.0).min(bottom.min.y + 2.0);
    ui.allocate_rect(room, Sense::hover());
    let mut child = ui.new_child(
        egui::UiBuilder::new().max_rect(Rect::from_min_max(Pos2::new(bottom.min.x, top), bottom.max)),
    );
    footer.ui(&mut child);
}

/// The VAE: data, latent, ELBO curves.
fn vae_views_ui(
    ui: &mut egui::Ui,
    state: &LatentState,
    vae: &crate::model::vae::Vae,
    report: &crate::model::vae::VaeElbo,
) {
    let Some(Pictures::Vae {
        posterior,
        aggregate,
        reconstructions,
        samples,
    }) = state.snapshot.as_ref().map(|s| &s.pictures)
    else {
        return;
    };
    let footer = Footer {
        lines: vec![(
            format!(
                "ELBO {} = E_q log p_θ(x|z) {} − KL {} nats per example (β = 1) · σ_x = {}",
                with_error(report.elbo),
                with_error(report.recon),
                with_error(report.kl),
                format_sig(report.decoder_variance.sqrt(), 3),
            ),
            true,
        )],
    };
    let (room, bottom) = split_room(ui, &footer);
    let (data_rect, latent_rect, plot_rect) = vae_layout(room);
    place(ui, data_rect, "data view");
    place(ui, latent_rect, "latent view");
    place(ui, plot_rect, "ELBO curves");
    // The latent under the pointer, decoded here (one point through the decoder).
    let hovered = ui
        .ctx()
        .pointer_hover_pos()
        .filter(|p| latent_rect.contains(*p))
        .map(|p| from_screen(latent_rect, p));
    let decoded = hovered.and_then(|z| vae.decode(&z).ok());

    data_view_ui(
        ui,
        data_rect,
        state,
        vae,
        (samples, reconstructions),
        decoded.as_deref(),
    );

    latent_view_ui(ui, latent_rect, posterior, aggregate, hovered);
    let latent_hover = ui.interact(latent_rect, ui.scope_id().with("latent-hover"), Sense::hover());
    latent_hover.on_hover_text_at_pointer(match (&hovered, &decoded) {
        (Some(z), Some(x)) => format!(
            "z = ({}, {}) decodes to μ_θ(z) = ({}, {})",
            signed(f64::from(z[0])),
            signed(f64::from(z[1])),
            signed(f64::from(x[0])),
            signed(f64::from(x[1]))
        ),
        _ => "hover to decode a latent".to_owned(),
    });

    curves_ui(ui, plot_rect, state, "KL(q_φ(z|x) ‖ p(z))");
    let views_bottom = data_rect.bottom().max(plot_rect.bottom());
    footer_ui(ui, room, bottom, views_bottom, footer);
}

/// The VAE's three views in `room`: three squares in a row, or the two pictures side by
/// side with the curves under them, whichever gives the pictures more room.
fn vae_layout(room: Rect) -> (Rect, Rect, Rect) {
    let gap = 8.0;
    let (w, h) = (room.width(), room.height());
    // Three in a row, or the two pictures side by side with the curves under them:
    // whichever gives the pictures more room.
    let side_row = ((w - 2.0 * gap) / 3.0).min(h);
    // Stacked, the curves keep at least a third of the height (at 110 points they were a
    // strip with the legend over the data at 1920×1080, 150 %).
    let side_stacked = ((w - gap) / 2.0).min((h - gap) * 0.67);
    if side_stacked > 1.15 * side_row {
        let side = side_stacked;
        let left = room.min.x + (w - 2.0 * side - gap) / 2.0;
        let a = Rect::from_min_size(Pos2::new(left, room.min.y), Vec2::splat(side));
        let b = a.translate(Vec2::new(side + gap, 0.0));
        let c = Rect::from_min_max(Pos2::new(room.min.x, a.max.y + gap), room.max);
        (a, b, c)
    } else {
        let side = side_row.max(60.0);
        let a = Rect::from_min_size(room.min, Vec2::splat(side));
        let b = a.translate(Vec2::new(side + gap, 0.0));
        let c = b.translate(Vec2::new(side + gap, 0.0));
        (a, b, c)
    }
}

/// The VAE's data view: `x` (faint), `x̂ = μ_θ(z), z ~ q(z|x)`, samples `x ~ p_θ(x|z),
/// z ~ N(0, I)`, the highlighted examples joined to their reconstructions, and the hovered
/// latent's decoding with its `σ_x` circle.
fn data_view_ui(
    ui: &egui::Ui,
    data_rect: Rect,
    state: &LatentState,
    vae: &crate::model::vae::Vae,
    (samples, reconstructions): (&[f32], &[f32]),
    decoded: Option<&[f32]>,
) {
    let dark = ui.visuals().dark_mode;
    view_frame(ui, data_rect, "data x");
    let painter = ui.painter_at(data_rect);
    painter.add(points_shape(
        data_rect,
        &state.data,
        theme::faint_color(dark),
        1.5,
    ));
    painter.add(points_shape(
        data_rect,
        samples,
        theme::latent_sample_color(dark),
        1.2,
    ));
    painter.add(points_shape(
        data_rect,
        reconstructions,
        theme::x0_hat_color(dark),
        1.2,
    ));
    for (k, &i) in HIGHLIGHTED.iter().enumerate() {
        if let (Some(x), Some(r)) = (
            state.data.get(2 * i..2 * i + 2),
            reconstructions.get(2 * i..2 * i + 2),
        ) {
            let color = theme::PATH_COLORS[k % theme::PATH_COLORS.len()];
            let (a, b) = (
                to_screen(data_rect, [x[0], x[1]]),
                to_screen(data_rect, [r[0], r[1]]),
            );
            painter.circle_stroke(a, 5.0, Stroke::new(2.0, color));
            painter.line_segment([a, b], Stroke::new(1.5, color));
        }
    }
    if let Some(x) = decoded {
        let c = to_screen(data_rect, [x[0], x[1]]);
        let r = vae.decoder_variance().sqrt() as f32 / VIEW_EXTENT as f32 * data_rect.width() / 2.0;
        let marker = theme::marker_color(dark);
        painter.circle_stroke(c, r.max(3.0), Stroke::new(1.5, marker));
        painter.circle_filled(c, 3.5, marker);
    }
    legend(
        ui,
        data_rect,
        &[
            ("x", theme::faint_color(dark)),
            ("x̂ = μ_θ(z), z ~ q", theme::x0_hat_color(dark)),
            ("x ~ p_θ(x|z), z ~ N(0, I)", theme::latent_sample_color(dark)),
        ],
    );
}

/// The VAE's latent view: the prior's 1σ and 2σ circles, the aggregate posterior (one
/// `z ~ q_φ(z|x)` per example), the highlighted examples' `q_φ(z|x)` at 1σ and 2σ, and
/// the hovered latent.
fn latent_view_ui(
    ui: &egui::Ui,
    latent_rect: Rect,
    posterior: &crate::model::vae::Posterior,
    aggregate: &[f32],
    hovered: Option<[f32; 2]>,
) {
    let dark = ui.visuals().dark_mode;
    view_frame(ui, latent_rect, "latent z");
    let painter = ui.painter_at(latent_rect);
    let prior = Stroke::new(1.0, theme::faint_color(dark));
    for k in [1.0, 2.0] {
        painter.add(ellipse(latent_rect, [0.0, 0.0], [1.0, 1.0], k, prior));
    }
    painter.add(points_shape(
        latent_rect,
        aggregate,
        theme::point_color(dark),
        1.2,
    ));
    for (k, &i) in HIGHLIGHTED.iter().enumerate() {
        if let (Some(m), Some(lv)) = (
            posterior.mean.get(2 * i..2 * i + 2),
            posterior.log_var.get(2 * i..2 * i + 2),
        ) {
            let color = theme::PATH_COLORS[k % theme::PATH_COLORS.len()];
            let sigma = [(0.5 * lv[0]).exp(), (0.5 * lv[1]).exp()];
            painter.add(ellipse(
                latent_rect,
                [m[0], m[1]],
                sigma,
                1.0,
                Stroke::new(2.0, color),
            ));
            painter.add(ellipse(
                latent_rect,
                [m[0], m[1]],
                sigma,
                2.0,
                Stroke::new(1.0, color),
            ));
        }
    }
    if let Some(z) = hovered {
        painter.circle_filled(to_screen(latent_rect, z), 3.5, theme::marker_color(dark));
    }
    legend(
        ui,
        latent_rect,
        &[
            ("p(z) = N(0, I): 1σ, 2σ", theme::faint_color(dark)),
            ("z ~ q_φ(z|x), all x", theme::point_color(dark)),
            ("q_φ(z|x) of 5 x: 1σ, 2σ", theme::PATH_COLORS[0]),
        ],
    );
}

/// A legend in a view's bottom-left corner.
fn legend(ui: &egui::Ui, rect: Rect, entries: &[(&str, Color32)]) {
    let painter = ui.painter_at(rect);
    let font = egui::FontId::proportional(12.0);
    let line = 15.0;
    let mut y = rect.bottom() - 6.0 - line * entries.len() as f32;
    for (text, color) in entries {
        let p = Pos2::new(rect.left() + 8.0, y + line / 2.0);
        painter.rect_filled(Rect::from_center_size(p, Vec2::splat(7.0)), 1.0, *color);
        painter.text(
            p + Vec2::new(8.0, 0.0),
            egui::Align2::LEFT_CENTER,
            *text,
            font.clone(),
            ui.visuals().text_color(),
        );
        y += line;
    }
}

/// The ELBO, the reconstruction term and the rest (KL, or prior + consistency) against
/// the training iteration, in `rect`.
fn curves_ui(ui: &mut egui::Ui, rect: Rect, state: &LatentState, kl_name: &str) {
    let curve = &state.curve;
    let series = |f: fn(&crate::worker::latent::CurvePoint) -> f64| -> PlotPoints<'static> {
        curve
            .iter()
            .map(|p| [p.iteration as f64, f(p)])
            .collect::<Vec<_>>()
            .into()
    };
    let mut child = ui.new_child(egui::UiBuilder::new().max_rect(rect));
    Plot::new("latent-curves")
        .width(rect.width())
        .height(rect.height())
        .legend(Legend::default().position(egui_plot::Corner::LeftTop))
        .x_axis_label("iteration")
        .y_axis_label("nats per example")
        .include_x(0.0)
        .allow_scroll(false)
        .allow_drag(false)
        .allow_zoom(false)
        .show(&mut child, |plot| {
            plot.line(
                Line::new("ELBO", series(|p| p.elbo))
                    .color(theme::ELBO_COLORS[0])
                    .width(2.0),
            );
            plot.line(Line::new("E log p(x|·)", series(|p| p.recon)).color(theme::LOSS_COLORS[2]));
            plot.line(Line::new(kl_name, series(|p| p.kl)).color(theme::LOSS_COLORS[0]));
            // The latest values as dots: a model shown without training has one point.
            if let Some(last) = curve.last() {
                let x = last.iteration as f64;
                for (v, color) in [
                    (last.elbo, theme::ELBO_COLORS[0]),
                    (last.recon, theme::LOSS_COLORS[2]),
                    (last.kl, theme::LOSS_COLORS[0]),
                ] {
                    plot.points(egui_plot::Points::new("", vec![[x, v]]).color(color).radius(4.0));
                }
            }
        });
}

/// The hierarchical VAE: the latents of every level through the encoders (top) and the
/// decoders (bottom), then the ELBO term by term.
fn mhvae_views_ui(
    ui: &mut egui::Ui,
    settings: &Settings,
    state: &LatentState,
    encoded: &[Vec<f32>],
    generated: &[Vec<f32>],
    report: &crate::model::mhvae::MhvaeElbo,
) {
    let dark = ui.visuals().dark_mode;
    let levels = encoded.len();
    let columns = levels + 1;
    let footer = mhvae_footer(&settings.latent, report);
    let (room, bottom) = split_room(ui, &footer);
    let gap = 6.0;
    let (w, h) = (room.width(), room.height());
    let n = columns as f32;
    // The plots right of the levels, or under them: whichever gives the levels more room.
    let plots_w = (0.3 * w).max(220.0);
    let side_right = ((w - plots_w - gap - (n - 1.0) * gap) / n).min((h - gap) / 2.0);
    let side_below = ((w - (n - 1.0) * gap) / n).min((h - 2.0 * gap - 120.0) / 2.0);
    let right = side_right >= side_below;
    let side = side_right.max(side_below).max(36.0);
    let grid_w = n * side + (n - 1.0) * gap;
    let (terms_rect, curves_rect) = if right {
        let x0 = room.min.x + grid_w + gap;
        let mid = room.min.y + (h - gap) / 2.0;
        (
            Rect::from_min_max(Pos2::new(x0, room.min.y), Pos2::new(room.max.x, mid)),
            Rect::from_min_max(Pos2::new(x0, mid + gap), room.max),
        )
    } else {
        let y0 = room.min.y + 2.0 * side + 2.0 * gap;
        let mid = room.min.x + 0.55 * w;
        (
            Rect::from_min_max(Pos2::new(room.min.x, y0), Pos2::new(mid - gap, room.max.y)),
            Rect::from_min_max(Pos2::new(mid, y0), room.max),
        )
    };
    let rows: [Vec<&[f32]>; 2] = [
        std::iter::once(&state.data[..])
            .chain(encoded.iter().map(Vec::as_slice))
            .collect(),
        // generated is z_T … z_1, x: shown in the same columns, x first.
        generated.iter().rev().map(Vec::as_slice).collect(),
    ];
    for (row, pictures) in rows.iter().enumerate() {
        for (k, points) in pictures.iter().enumerate() {
            let title = match (k, row) {
                (0, 0) => "x".to_owned(),
                (0, _) => "x̂ = μ_θ(z_1)".to_owned(),
                (t, 0) => format!("z_{t} ~ q"),
                (t, _) => format!("z_{t} ~ p"),
            };
            let rect = Rect::from_min_size(
                room.min + Vec2::new(k as f32 * (side + gap), row as f32 * (side + gap)),
                Vec2::splat(side),
            );
            let response = place(ui, rect, &format!("{title} view"));
            view_frame(ui, rect, &title);
            let color = if row == 0 {
                theme::point_color(dark)
            } else {
                theme::latent_sample_color(dark)
            };
            ui.painter_at(rect).add(points_shape(rect, points, color, 1.0));
            let tip = match (k, row) {
                (0, 0) => "the data x = z_0".to_owned(),
                (0, _) => "ancestral samples: z_T ~ N(0, I), then each decoder down; the last step shows \
                           p_θ(x|z_1)'s mean, as DDPM's sampler does at t = 1"
                    .to_owned(),
                (t, 0) => format!(
                    "z_{t} ~ q(z_{t} | z_{}) from the data, through the encoders",
                    t - 1
                ),
                (t, _) => format!("z_{t} ~ p_θ(z_{t} | z_{}) on the way down", t + 1),
            };
            response.on_hover_text(tip);
        }
    }
    place(ui, terms_rect, "ELBO terms");
    place(ui, curves_rect, "ELBO curves");
    terms_ui(ui, terms_rect, report);
    curves_ui(ui, curves_rect, state, "prior + Σ C_t");
    let views_bottom = curves_rect.bottom().max(room.min.y + 2.0 * side + gap);
    footer_ui(ui, room, bottom, views_bottom, footer);
}

/// The hierarchical VAE's lines under its views: the ELBO term by term; with fixed
/// encoders the ELBO tab's estimate beside it and the prior term that `ᾱ_T → 0` removes;
/// with all three switches, what was gained.
fn mhvae_footer(s: &LatentSettings, report: &crate::model::mhvae::MhvaeElbo) -> Footer {
    let consistency: f64 = report.consistency.iter().map(|c| c.mean).sum();
    let mut lines = vec![(
        format!(
            "ELBO {} = E log p_θ(x|z_1) {} − prior {} − Σ C_t {} nats per example",
            with_error(report.elbo),
            with_error(report.recon),
            with_error(report.prior),
            signed(consistency),
        ),
        true,
    )];
    if let (Some(d), Some(prior)) = (report.denoising, report.prior_marginal) {
        let diff = report.elbo.mean - d.mean;
        let se = report.elbo.std_err.hypot(d.std_err);
        lines.push((
            format!(
                "as a VDM, the ELBO tab's denoising-matching estimator: {} — differs by {} ({} standard errors); \
                 its prior term KL(q(z_T|x) ‖ N(0, I)) = {}",
                with_error(d),
                signed(diff),
                format_sig(diff.abs() / se.max(f64::MIN_POSITIVE), 2),
                with_error(prior),
            ),
            true,
        ));
    }
    if s.fixed_encoders && s.to_noise {
        lines.push((VDM_GAINED.to_owned(), false));
    }
    Footer { lines }
}

/// The ELBO's terms as bars: the reconstruction (a gain), each consistency term and the
/// prior term (losses), in nats per example.
fn terms_ui(ui: &mut egui::Ui, rect: Rect, report: &crate::model::mhvae::MhvaeElbo) {
    let mut bars = vec![Bar::new(0.0, report.recon.mean).name("E log p_θ(x|z_1)")];
    for (i, c) in report.consistency.iter().enumerate() {
        bars.push(Bar::new(i as f64 + 1.0, -c.mean).name(format!("−C_{}", i + 1)));
    }
    let last = report.consistency.len() as f64 + 1.0;
    bars.push(Bar::new(last, -report.prior.mean).name("−prior"));
    let chart = BarChart::new("ELBO terms", bars)
        .color(theme::ELBO_COLORS[0])
        .width(0.7);
    let labels: Vec<String> = std::iter::once("recon".to_owned())
        .chain((1..=report.consistency.len()).map(|t| format!("−C_{t}")))
        .chain(std::iter::once("−prior".to_owned()))
        .collect();
    let mut child = ui.new_child(egui::UiBuilder::new().max_rect(rect));
    Plot::new("mhvae-terms")
        .width(rect.width())
        .height(rect.height())
        .y_axis_label("nats per example")
        .x_axis_formatter(move |mark, _| {
            let i = mark.value.round();
            if (mark.value - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .allow_scroll(false)
        .allow_drag(false)
        .allow_zoom(false)
        .show(&mut child, |plot| plot.bar_chart(chart));
}

/// The VAE's ELBO (the lecture's "Standard VAE" slide) for presentation mode.
const VAE_TEX: &str =
    r"\log p(x) \ge \mathbb{E}_{q_\phi(z\mid x)}\log p_\theta(x\mid z) - D_{KL}(q_\phi(z\mid x)\,\|\,p(z))";

/// The hierarchical VAE's ELBO, term by term as the tab computes it.
const MHVAE_TEX: &str = r"\log p(x) \ge \mathbb{E}_q\log p_\theta(x\mid z_1) - \mathbb{E}_q D_{KL}(q(z_T\mid z_{T-1})\,\|\,p(z_T)) - \sum_{t=1}^{T-1} C_t";

/// The equation presentation mode shows above the views.
#[must_use]
pub fn present_tex(mode: LatentMode) -> &'static str {
    match mode {
        LatentMode::Vae => VAE_TEX,
        LatentMode::Hierarchical => MHVAE_TEX,
    }
}

/// What the class is looking at, in one line.
#[must_use]
pub fn present_caption(s: &LatentSettings) -> &'static str {
    match (s.mode, s.fixed_encoders, s.to_noise) {
        (LatentMode::Vae, _, _) => {
            "Left: x, its reconstructions and samples. Middle: the latent space, q_φ(z|x) over the prior. \
             Right: the ELBO as it trains."
        }
        (LatentMode::Hierarchical, false, _) => {
            "A Markovian hierarchical VAE: learned encoders up (top row), learned decoders down (bottom row)."
        }
        (LatentMode::Hierarchical, true, false) => {
            "Encoders fixed to the schedule's linear Gaussian steps: only the decoders learn. z_T is not yet N(0, I)."
        }
        (LatentMode::Hierarchical, true, true) => {
            "ᾱ_T → 0: z_T ~ N(0, I), the prior term vanishes — this is a variational diffusion model."
        }
    }
}

/// Presentation mode's controls: train and pause, then β or `T` and the switches.
pub fn present_controls_ui(
    ui: &mut egui::Ui,
    settings: &mut Settings,
    model: &Model,
    commands: &mut Vec<Command>,
) {
    let s = &mut settings.latent;
    ui.horizontal_wrapped(|ui| {
        training_buttons_ui(ui, &model.latent, commands);
        ui.separator();
        match s.mode {
            LatentMode::Vae => vae_controls_ui(ui, s, &model.latent),
            LatentMode::Hierarchical => mhvae_controls_ui(ui, s, model),
        }
    });
}
