//! The Forward tab: the live equation and the two views of `x_t`, labelled as the lecture
//! does — the Markov chain `q(x_t|x_{t−1})` and the closed form `q(x_t|x_0)`.

use egui::RichText;

use super::tex::{tex_live_ui, tex_width};
use super::theme;
use crate::app::settings::{Settings, SourceChoice};
use crate::app::{Command, Model};
use crate::diffusion::Schedule;
use crate::export::VIEW_EXTENT as EXTENT;
use crate::format::format_sig;

/// Lays out the Forward tab: the equations, draw mode's row (with 2D points on screen),
/// then the two views as large as the room left — in draw mode the first is the drawing
/// canvas.
pub fn forward_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model, commands: &mut Vec<Command>) {
    // Below this height (1280×720 with the plots open) the schedule's numbers leave the
    // tab (they show on hover, in the math panel and in the plots) and the views keep
    // the room.
    let compact = ui.available_height() < COMPACT_BELOW;
    equation_ui(ui, &model.schedule, settings.t, compact);
    ui.add_space(4.0);
    if model.points.is_none() {
        views_ui(ui, settings, model);
        return;
    }
    super::draw::draw_row_ui(ui, settings, model, commands);
    if settings.draw.on {
        drawing_views_ui(ui, settings, model, commands);
    } else {
        views_ui(ui, settings, model);
    }
}

/// The side of each of the two views: a square as large as the room allows under a
/// one-line heading, the same for both so that they compare pixel for pixel.
fn view_side(ui: &egui::Ui) -> f32 {
    let heading_height = 30.0;
    (ui.available_width() / 2.0 - 12.0)
        .min(ui.available_height() - heading_height)
        .max(64.0)
}

/// Draw mode's views: the drawing canvas (the points as drawn) beside the closed form
/// of the drawing on screen, which follows `t`.
fn drawing_views_ui(ui: &mut egui::Ui, settings: &Settings, model: &Model, commands: &mut Vec<Command>) {
    let side = view_side(ui);
    super::layout::centred(ui, 2.0 * side + 24.0, |ui| {
        ui.columns(2, |cols| {
            // Before the first stroke the canvas shows the data on screen, which the
            // stroke starts the drawing from.
            let title = if settings.source == SourceChoice::Drawing {
                "x_0 as drawn"
            } else {
                "x_0 to draw on"
            };
            view_heading(&mut cols[0], title, "left-drag draws, right-drag erases");
            view_heading(
                &mut cols[1],
                "closed form",
                "q(x_t | x_0) of the data, standardised",
            );
            super::draw::canvas_ui(&mut cols[0], settings, model, commands, side);
            if let Some(points) = &model.points {
                let x0 = model.textures.0.as_ref();
                let closed = (&points.closed[..], &points.closed_paths[..]);
                scatter_ui(&mut cols[1], x0, closed, points.t, side, "closed form view");
            }
        });
    });
}

/// The two views side by side, each a square as large as the room allows, under a
/// one-line heading (the Forward tab's and presentation mode's).
pub fn views_ui(ui: &mut egui::Ui, settings: &Settings, model: &Model) {
    let side = view_side(ui);
    super::layout::centred(ui, 2.0 * side + 24.0, |ui| {
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
                scatter_ui(&mut cols[0], x0, markov, points.t, side, "Markov chain view");
                scatter_ui(&mut cols[1], x0, closed, points.t, side, "closed form view");
            } else {
                let markov_t = model.image.markov.as_ref().map(|m| m.0);
                let closed_t = model.image.closed.as_ref().map(|c| c.0);
                let textures = [model.textures.0.as_ref(), model.textures.1.as_ref()];
                for (k, (ui, shown_t)) in cols.iter_mut().zip([markov_t, closed_t]).enumerate() {
                    let name = if k == 0 {
                        "Markov chain view"
                    } else {
                        "closed form view"
                    };
                    image_ui(ui, textures[k], shown_t, settings.t, side, name);
                }
            }
        });
    });
}

/// A view's title and what it shows, on one line (the subtitle is cut short, with its
/// whole text on hover, when the column is narrow).
fn view_heading(ui: &mut egui::Ui, title: &str, subtitle: &str) {
    ui.horizontal(|ui| {
        ui.label(RichText::new(title).heading());
        ui.add(egui::Label::new(RichText::new(subtitle).weak()).truncate());
    });
}

/// `v` for the equations: 4 significant digits, `∞` for infinity.
fn num(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "∞".into() } else { "−∞".into() }
    } else {
        format_sig(v, 4).replace('-', "−")
    }
}

/// `⚠ x_T still carries √ᾱ_T = … of x_0` when `ᾱ_T > 10⁻³` (x_T is not noise, and a
/// chain started from N(0, I) starts where the data never goes); `None` otherwise.
#[must_use]
pub fn x_t_warning(schedule: &Schedule) -> Option<String> {
    let alpha_bar_t = schedule.alpha_bar(schedule.steps());
    (alpha_bar_t > 1e-3).then(|| {
        format!(
            "⚠ x_T still carries √ᾱ_T = {} of x_0",
            format_sig(alpha_bar_t.sqrt(), 3)
        )
    })
}

/// The central area's height (points) below which the Forward tab shows its equations
/// on one line.
pub const COMPACT_BELOW: f32 = 520.0;

/// The typeset equations' em size at the desk, in points (presentation mode's grows with
/// the screen).
pub const EQUATION_SIZE: f32 = 20.0;

/// The closed form, its numbers in fixed-decimal slots (every coefficient lies in [0, 1]
/// and fits `0.0000`, so scrubbing `t` never re-typesets the formula).
pub const CLOSED_TEX: &str = r"x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon = \slot{0.0000}\,x_0 + \slot{0.0000}\,\epsilon";

/// The Markov step, its numbers in fixed-decimal slots.
pub const STEP_TEX: &str = r"x_t = \sqrt{\alpha_t}\,x_{t-1} + \sqrt{\beta_t}\,\epsilon_t = \slot{0.0000}\,x_{t-1} + \slot{0.0000}\,\epsilon_t";

/// What the Markov step shows at `t = 0`.
const DATA_TEX: &str = r"x_0\text{: the data}";

/// A coefficient in its slot: four decimals, so its width never changes.
#[must_use]
pub fn slot_value(v: f64) -> String {
    format!("{v:.4}")
}

/// The equations with the numbers of the current `t`, typeset (numbers update every
/// frame without typesetting: see [`super::tex`]): the closed form and the Markov step
/// on one line (the step on the next when narrow), then `t` and the schedule's numbers
/// (wrapping when narrow); `compact`: the formulas and any warning only, the numbers on
/// hover. Each formula carries its text, with the numbers to 4 significant digits, for
/// screen readers.
pub fn equation_ui(ui: &mut egui::Ui, schedule: &Schedule, t: usize, compact: bool) {
    let closed = schedule.q_sample_coefs(t);
    let shared = super::math_panel::shared_cache(ui.ctx());
    let mut cache = shared.lock();
    ui.horizontal_wrapped(|ui| {
        let closed_text = format!("x_t = {}·x_0 + {}·ε", num(closed.signal), num(closed.noise));
        tex_live_ui(
            ui,
            &mut cache,
            CLOSED_TEX,
            &[&slot_value(closed.signal), &slot_value(closed.noise)],
            EQUATION_SIZE,
        )
        .on_hover_text(format!(
            "q(x_t | x_0) = N({}·x_0, {}·I)\nt = {t} of T = {} · ᾱ_t = {} · SNR = {} · log SNR = {}",
            num(closed.signal),
            num(closed.variance()),
            schedule.steps(),
            format_sig(schedule.alpha_bar(t), 6),
            num(schedule.snr(t)),
            num(schedule.log_snr(t)),
        ))
        .widget_info(|| described(&closed_text));
        ui.add_space(24.0);
        let (tex, text, values) = if t >= 1 {
            let step = schedule.q_step_coefs(t);
            (
                STEP_TEX,
                format!("x_t = {}·x_{{t−1}} + {}·ε_t", num(step.signal), num(step.noise)),
                vec![slot_value(step.signal), slot_value(step.noise)],
            )
        } else {
            (DATA_TEX, "x_0: the data".to_owned(), Vec::new())
        };
        // The step on a line of its own rather than shrunk beside the closed form.
        if tex_width(ui, &mut cache, tex, EQUATION_SIZE).is_some_and(|w| w > ui.available_width()) {
            ui.end_row();
        }
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        tex_live_ui(ui, &mut cache, tex, &values, EQUATION_SIZE).widget_info(|| described(&text));
    });
    drop(cache);
    if compact {
        warning_ui(ui, schedule);
        return;
    }
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new(format!("t = {t} of T = {}", schedule.steps())).size(17.0));
        warning_ui(ui, schedule);
        ui.add_space(12.0);
        let value = |name: &str, v: f64| {
            RichText::new(format!("{name} = {}", format_sig(v, 6)))
                .monospace()
                .size(15.0)
        };
        ui.label(value("α_t", schedule.alpha(t)));
        ui.label(value("β_t", schedule.beta(t)));
        ui.label(value("ᾱ_t", schedule.alpha_bar(t)));
        ui.label(
            RichText::new(format!("SNR = {}", num(schedule.snr(t))))
                .monospace()
                .size(15.0),
        );
        ui.label(
            RichText::new(format!("log SNR = {}", num(schedule.log_snr(t))))
                .monospace()
                .size(15.0),
        );
    });
}

/// A typeset formula's accessibility node: an image with the formula as text.
fn described(text: &str) -> egui::WidgetInfo {
    egui::WidgetInfo::labeled(egui::accesskit::Role::Image, true, text)
}

fn image_ui(
    ui: &mut egui::Ui,
    texture: Option<&egui::TextureHandle>,
    shown_t: Option<usize>,
    t: usize,
    side: f32,
    name: &str,
) {
    let Some(texture) = texture else {
        ui.spinner();
        return;
    };
    let tex_size = texture.size_vec2();
    let scale = side / tex_size.x.max(tex_size.y);
    let response = ui.add(egui::Image::from_texture((texture.id(), tex_size * scale)));
    response.widget_info(|| egui::WidgetInfo::labeled(egui::accesskit::Role::Image, true, name));
    // Over the picture's foot, so that the view keeps its size while the frame is drawn.
    let note = match shown_t {
        Some(s) if s == t => return,
        Some(s) => format!("showing t = {s}"),
        None => "drawing…".to_owned(),
    };
    let rect = response.rect;
    let mut band = ui.new_child(egui::UiBuilder::new().max_rect(egui::Rect::from_min_max(
        egui::pos2(rect.left(), rect.bottom() - 22.0),
        rect.max,
    )));
    egui::Frame::new()
        .fill(ui.visuals().extreme_bg_color.gamma_multiply(0.8))
        .inner_margin(2.0)
        .show(&mut band, |ui| {
            ui.add(egui::Label::new(RichText::new(note).weak()).truncate());
        });
}

/// A scatter of `x_t` (one mesh, two triangles a point) over the faint `x_0` (a
/// texture rendered once per data set), with the highlighted points' paths up to `t`.
fn scatter_ui(
    ui: &mut egui::Ui,
    texture: Option<&egui::TextureHandle>,
    (xt, paths): (&[[f64; 2]], &[Vec<[f64; 2]>]),
    t: usize,
    side: f32,
    name: &str,
) {
    let (rect, response) = ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::hover());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::accesskit::Role::Image, true, name));
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
        let line = decimate(upto.iter().map(|&p| to_screen(p)));
        painter.add(path_mesh(ui.ctx(), &line, color));
        painter.circle_filled(last, 5.0, color);
    }
    if let Some(pos) = response.hover_pos() {
        let x = (f64::from((pos.x - rect.left()) / rect.width()) * 2.0 - 1.0) * EXTENT;
        let y = (1.0 - f64::from((pos.y - rect.top()) / rect.height()) * 2.0) * EXTENT;
        response.on_hover_text_at_pointer(format!("({x:.2}, {y:.2})"));
    }
}

/// A polyline of `color` as one mesh, anti-aliased by a texture: each segment is one quad
/// 2.8 points wide across which a tiny texture fades from transparent to the colour and
/// back (two triangles, no joins). The look of egui's feathered 1.5-point stroke (six
/// triangles a segment) at a fraction of the cost under software GL, which fills thin
/// triangles slowly: scrubbing two moons with its 20 paths, frame p99 under llvmpipe went
/// from 18.5 to 15.6 ms, p50 from 13.0 to 10.3 (four alternated rounds, issue 19).
fn path_mesh(ctx: &egui::Context, points: &[egui::Pos2], color: egui::Color32) -> egui::Shape {
    const HALF_WIDTH: f32 = 1.4;
    let mut mesh = egui::Mesh::with_texture(line_profile(ctx));
    for pair in points.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let side = (b - a).normalized().rot90() * HALF_WIDTH;
        let i = mesh.vertices.len() as u32;
        for p in [a, b] {
            for (pos, u) in [(p + side, 0.0), (p - side, 1.0)] {
                mesh.vertices.push(egui::epaint::Vertex {
                    pos,
                    uv: egui::pos2(u, 0.5),
                    color,
                });
            }
        }
        mesh.add_triangle(i, i + 1, i + 2);
        mesh.add_triangle(i + 1, i + 2, i + 3);
    }
    egui::Shape::mesh(mesh)
}

/// The texture across a path's line: white, its alpha rising from 0 at the edges to 1 in
/// the middle (sampled linearly), loaded once per context.
fn line_profile(ctx: &egui::Context) -> egui::TextureId {
    const TEXELS: usize = 8;
    let id = egui::Id::unique("diffscope-line-profile");
    if let Some(texture) = ctx.data(|d| d.get_temp::<egui::TextureHandle>(id)) {
        return texture.id();
    }
    let pixels = (0..TEXELS)
        .map(|i| {
            let x = (i as f32 + 0.5) / TEXELS as f32;
            let alpha = 1.0 - (2.0 * x - 1.0).abs();
            egui::Color32::from_white_alpha((alpha * 255.0).round() as u8)
        })
        .collect();
    let image = egui::ColorImage::new([TEXELS, 1], pixels);
    let texture = ctx.load_texture("line-profile", image, egui::TextureOptions::LINEAR);
    let tid = texture.id();
    ctx.data_mut(|d| d.insert_temp(id, texture));
    tid
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

/// Where the eye is: the warning that `x_T` is not noise under `schedule`, if it is not
/// (also in the histogram).
fn warning_ui(ui: &mut egui::Ui, schedule: &Schedule) {
    if let Some(warning) = x_t_warning(schedule) {
        ui.label(
            RichText::new(warning)
                .size(17.0)
                .strong()
                .color(theme::warning_color(ui.visuals().dark_mode)),
        );
    }
}
