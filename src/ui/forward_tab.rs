//! The Forward tab: the live equation and the two views of `x_t`, labelled as the lecture
//! does — the Markov chain `q(x_t|x_{t−1})` and the closed form `q(x_t|x_0)`.

use egui::RichText;

use super::theme;
use crate::app::Model;
use crate::app::settings::Settings;
use crate::cli::format_sig;
use crate::diffusion::Schedule;

/// Lays out the Forward tab.
pub fn forward_ui(ui: &mut egui::Ui, settings: &Settings, model: &Model) {
    equation_ui(ui, &model.schedule, settings.t);
    ui.add_space(6.0);
    // One size for both views, so they compare pixel for pixel.
    let heading_height = 56.0;
    let side = (ui.available_width() / 2.0 - 12.0)
        .min(ui.available_height() - heading_height - 22.0)
        .max(64.0);
    ui.columns(2, |cols| {
        view_heading(
            &mut cols[0],
            "Markov chain",
            "q(x_t | x_{t−1}): fresh ε_t every step, a random walk",
        );
        view_heading(
            &mut cols[1],
            "closed form",
            "q(x_t | x_0): one fixed ε, a smooth fade",
        );
        if let Some(points) = &model.points {
            let x0 = model.textures.0.as_ref();
            let markov = (&points.markov[..], &points.markov_paths[..]);
            let closed = (&points.closed[..], &points.closed_paths[..]);
            scatter_ui(&mut cols[0], x0, markov, points.t, side);
            scatter_ui(&mut cols[1], x0, closed, points.t, side);
        } else {
            let markov_t = model.image.markov.as_ref().map(|m| m.0);
            let closed_t = model.image.closed.as_ref().map(|c| c.0);
            image_ui(
                &mut cols[0],
                model.textures.0.as_ref(),
                markov_t,
                settings.t,
                side,
                model,
            );
            image_ui(
                &mut cols[1],
                model.textures.1.as_ref(),
                closed_t,
                settings.t,
                side,
                model,
            );
        }
    });
}

fn view_heading(ui: &mut egui::Ui, title: &str, subtitle: &str) {
    ui.label(RichText::new(title).heading());
    ui.add(egui::Label::new(RichText::new(subtitle).weak()).truncate());
}

/// `v` for the equations: 4 significant digits, `∞` for infinity.
fn num(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "∞".into() } else { "−∞".into() }
    } else {
        format_sig(v, 4).replace('-', "−")
    }
}

/// The equations with the numbers of the current `t`.
pub fn equation_ui(ui: &mut egui::Ui, schedule: &Schedule, t: usize) {
    let big = |s: String| RichText::new(s).size(19.0);
    let closed = schedule.q_sample_coefs(t);
    ui.horizontal_wrapped(|ui| {
        ui.label(big(format!(
            "x_t = {}·x_0 + {}·ε",
            num(closed.signal),
            num(closed.noise)
        )));
        ui.add_space(24.0);
        ui.label(big(format!(
            "q(x_t | x_0) = N({}·x_0, {}·I)",
            num(closed.signal),
            num(closed.variance())
        )));
    });
    ui.horizontal_wrapped(|ui| {
        if t >= 1 {
            let step = schedule.q_step_coefs(t);
            ui.label(big(format!(
                "x_t = {}·x_{{t−1}} + {}·ε_t",
                num(step.signal),
                num(step.noise)
            )));
        } else {
            ui.label(big("x_0: the data".into()));
        }
        ui.add_space(24.0);
        ui.label(RichText::new(format!("t = {t} of T = {}", schedule.steps())).size(17.0));
    });
    ui.horizontal_wrapped(|ui| {
        let value = |name: &str, v: f64| {
            RichText::new(format!("{name} = {}", format_sig(v, 6)))
                .monospace()
                .size(16.0)
        };
        ui.label(value("α_t", schedule.alpha(t)));
        ui.label(value("β_t", schedule.beta(t)));
        ui.label(value("ᾱ_t", schedule.alpha_bar(t)));
        ui.label(
            RichText::new(format!("SNR = {}", num(schedule.snr(t))))
                .monospace()
                .size(16.0),
        );
        ui.label(
            RichText::new(format!("log SNR = {}", num(schedule.log_snr(t))))
                .monospace()
                .size(16.0),
        );
    });
}

fn image_ui(
    ui: &mut egui::Ui,
    texture: Option<&egui::TextureHandle>,
    shown_t: Option<usize>,
    t: usize,
    side: f32,
    model: &Model,
) {
    let Some(texture) = texture else {
        ui.spinner();
        return;
    };
    let tex_size = texture.size_vec2();
    let scale = side / tex_size.x.max(tex_size.y);
    ui.add(egui::Image::from_texture((texture.id(), tex_size * scale)));
    match shown_t {
        Some(s) if s == t => {}
        Some(s) => {
            let (built, steps) = model.image.built;
            ui.label(RichText::new(format!("showing t = {s}; building the chain: {built}/{steps}")).weak());
        }
        None => {
            ui.spinner();
        }
    }
}

/// Data extent shown in the scatter views (points are standardised).
pub const EXTENT: f64 = 3.5;

/// A scatter of `x_t` (one mesh, two triangles a point) over the faint `x_0` (a
/// texture rendered once per data set), with the highlighted points' paths up to `t`.
fn scatter_ui(
    ui: &mut egui::Ui,
    texture: Option<&egui::TextureHandle>,
    (xt, paths): (&[[f64; 2]], &[Vec<[f64; 2]>]),
    t: usize,
    side: f32,
) {
    let (rect, response) = ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::hover());
    let Some(texture) = texture else { return };
    let painter = ui.painter_at(rect);
    let uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
    painter.image(texture.id(), rect, uv, egui::Color32::WHITE);
    let to_screen = |p: [f64; 2]| {
        egui::pos2(
            rect.left() + ((p[0] + EXTENT) / (2.0 * EXTENT)) as f32 * rect.width(),
            rect.bottom() - ((p[1] + EXTENT) / (2.0 * EXTENT)) as f32 * rect.height(),
        )
    };
    let color = theme::point_color(ui.visuals().dark_mode);
    let mut mesh = egui::Mesh::default();
    let r = (side / 300.0).clamp(1.2, 2.5);
    for &p in xt {
        let c = to_screen(p);
        if rect.contains(c) {
            mesh.add_colored_rect(
                egui::Rect::from_center_size(c, egui::vec2(2.0 * r, 2.0 * r)),
                color,
            );
        }
    }
    painter.add(egui::Shape::mesh(mesh));
    for (k, path) in paths.iter().enumerate() {
        let color = theme::PATH_COLORS[k % theme::PATH_COLORS.len()];
        let upto = &path[..=t.min(path.len() - 1)];
        let last = to_screen(upto[upto.len() - 1]);
        painter.add(egui::Shape::line(
            decimate(upto.iter().map(|&p| to_screen(p))),
            egui::Stroke::new(1.5, color),
        ));
        painter.circle_filled(last, 5.0, color);
    }
    if let Some(pos) = response.hover_pos() {
        let x = (f64::from((pos.x - rect.left()) / rect.width()) * 2.0 - 1.0) * EXTENT;
        let y = (1.0 - f64::from((pos.y - rect.top()) / rect.height()) * 2.0) * EXTENT;
        response.on_hover_text_at_pointer(format!("({x:.2}, {y:.2})"));
    }
}

/// The points of a polyline with those closer than 3 px to the previous kept one
/// dropped (the last one is always kept): the same picture, with a fraction of the
/// triangles — a path of 1,000 steps is mostly sub-pixel moves.
pub(crate) fn decimate(points: impl Iterator<Item = egui::Pos2>) -> Vec<egui::Pos2> {
    let mut out: Vec<egui::Pos2> = Vec::new();
    let mut pending = None;
    for p in points {
        match out.last() {
            Some(q) if q.distance_sq(p) < 9.0 => pending = Some(p),
            _ => {
                out.push(p);
                pending = None;
            }
        }
    }
    out.extend(pending);
    out
}
