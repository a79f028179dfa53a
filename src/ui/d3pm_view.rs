//! Diffusion on a finite state space (D3PM, Austin et al. 2021) on the digits: the same
//! two views as the Forward tab — the Markov chain `Cat(x_t; x_{t−1} Q_t)` and the closed
//! form `Cat(x_t; x_0 Q̄_t)` — with `Q_t` and `Q̄_t` as heatmaps, their closed forms, the
//! stationary law `x_T` approaches and the histogram of `x_t` against it.
//!
//! Self-contained: [`d3pm_ui`] lays out the whole view in the room it is given, and
//! [`views_ui`] only the two views (presentation mode). Both follow the top bar's `t`, the
//! app's schedule and noise seed; the kind and the levels are `Settings::d3pm`.

use egui::{Color32, RichText, Sense, Vec2};
use egui_plot::{Bar, BarChart, Line, Plot, PlotPoints};

use super::math_panel::shared_cache;
use super::tex::{tex_live_ui, tex_ui};
use super::theme;
use crate::app::Model;
use crate::app::d3pm::{self, D3pmFrame, LEVELS};
use crate::app::settings::Settings;
use crate::data::DIGIT_SIDE;
use crate::diffusion::discrete::DiscreteKind;
use crate::format::format_sig;

/// The em size of the view's formulas, in points.
const FORMULA_SIZE: f32 = 16.0;

/// The Markov view's accessible name.
pub const MARKOV_VIEW: &str = "discrete Markov chain view";
/// The closed form view's accessible name.
pub const CLOSED_VIEW: &str = "discrete closed form view";

/// The one-step kernel of each kind (TeX).
fn q_step_tex(kind: DiscreteKind) -> &'static str {
    match kind {
        DiscreteKind::Uniform => r"Q_t = (1-\beta_t)\,I + \beta_t\,\mathbf{1}\mathbf{1}^\top/K",
        DiscreteKind::Absorbing => r"Q_t = (1-\beta_t)\,I + \beta_t\,\mathbf{1}\,e_m^\top",
    }
}

/// `Q̄_t` in closed form (TeX).
fn q_bar_tex(kind: DiscreteKind) -> &'static str {
    match kind {
        DiscreteKind::Uniform => {
            r"\bar Q_t = Q_1 \cdots Q_t = \bar\alpha_t\,I + (1-\bar\alpha_t)\,\mathbf{1}\mathbf{1}^\top/K"
        }
        DiscreteKind::Absorbing => {
            r"\bar Q_t = Q_1 \cdots Q_t = \bar\alpha_t\,I + (1-\bar\alpha_t)\,\mathbf{1}\,e_m^\top"
        }
    }
}

/// The stationary law (TeX).
fn stationary_tex(kind: DiscreteKind) -> &'static str {
    match kind {
        DiscreteKind::Uniform => r"\pi = \mathbf{1}^\top/K \;\text{(uniform)}",
        DiscreteKind::Absorbing => r"\pi = e_m^\top \;\text{(all mass on the mask)}",
    }
}

/// The two kernels, live (TeX with the step's numbers).
const KERNELS_TEX: &str = r"q(x_t \mid x_{t-1}) = \mathrm{Cat}(x_t;\ x_{t-1} Q_t), \quad q(x_t \mid x_0) = \mathrm{Cat}(x_t;\ x_0 \bar Q_t), \quad \bar\alpha_t = \slot{0.000000}";

/// The Gaussian chain the discrete one generalises (TeX).
const GAUSSIAN_TEX: &str = r"q(x_t \mid x_{t-1}) = \mathcal{N}(x_t;\ \sqrt{\alpha_t}\,x_{t-1},\ (1-\alpha_t)\,I) \ \longrightarrow\ \mathcal{N}(0, I)";

/// The caption: the lecture's point.
pub const CAPTION: &str = "The Gaussian forward process is the continuous-state case of the same object: \
     a Markov chain whose kernel N(√α_t x_{t−1}, (1−α_t) I) takes the place of Q_t, whose t steps \
     collapse into one jump (Q̄_t here, N(√ᾱ_t x_0, (1−ᾱ_t) I) there), and whose stationary law \
     N(0, I) takes the place of the uniform law or the mask.";

/// Presentation mode's equation for `kind`: the closed form with `t` and `ᾱ_t` live.
#[must_use]
pub fn present_tex(kind: DiscreteKind) -> &'static str {
    match kind {
        DiscreteKind::Uniform => {
            r"q(x_t \mid x_0) = \mathrm{Cat}(x_t;\ x_0 \bar Q_t),\quad \bar Q_t = \bar\alpha_t\,I + (1-\bar\alpha_t)\,\mathbf{1}\mathbf{1}^\top/K,\quad t = \slot{0000},\ \bar\alpha_t = \slot{0.0000}"
        }
        DiscreteKind::Absorbing => {
            r"q(x_t \mid x_0) = \mathrm{Cat}(x_t;\ x_0 \bar Q_t),\quad \bar Q_t = \bar\alpha_t\,I + (1-\bar\alpha_t)\,\mathbf{1}\,e_m^\top,\quad t = \slot{0000},\ \bar\alpha_t = \slot{0.0000}"
        }
    }
}

/// Presentation mode's caption (one line).
pub const PRESENT_CAPTION: &str = "Each pixel's level is a Markov chain with kernel Q_t. Left: a fresh draw every step; right: one jump with Q̄_t.";

/// A number on screen: 6 significant digits.
fn num(v: f64) -> String {
    format_sig(v, 6)
}

/// Lays out the whole view: the switches and numbers, the two views, `Q_t` and `Q̄_t`
/// with their closed forms, the histogram of `x_t` against the stationary law, the
/// caption. Scrolls vertically when the room is short.
pub fn d3pm_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model) {
    model.d3pm.want();
    controls_ui(ui, settings);
    let Some(frame) = current_frame(ui, model) else {
        return;
    };
    numbers_ui(ui, frame, model.schedule.steps());
    egui::ScrollArea::vertical()
        .id_salt("d3pm-scroll")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            {
                let shared = shared_cache(ui.ctx());
                let mut cache = shared.lock();
                tex_live_ui(
                    ui,
                    &mut cache,
                    KERNELS_TEX,
                    &[&format!("{:.6}", frame.alpha_bar)],
                    FORMULA_SIZE,
                );
            }
            let room = ui.available_height();
            let views_height = (room * 0.5).max(120.0);
            ui.allocate_ui(Vec2::new(ui.available_width(), views_height), |ui| {
                two_views_ui(ui, frame, views_height);
            });
            ui.add_space(6.0);
            // The heatmaps and the histogram share the rest of the room with their
            // formulas and numbers (about 90 points), down to 80 points square.
            let side = (room - views_height - 96.0)
                .min(ui.available_width() / 3.0 - 8.0)
                .clamp(80.0, 260.0);
            ui.columns(3, |cols| {
                matrix_ui(&mut cols[0], frame, false, side);
                matrix_ui(&mut cols[1], frame, true, side);
                histogram_ui(&mut cols[2], frame, side);
            });
            ui.add_space(6.0);
            {
                let shared = shared_cache(ui.ctx());
                let mut cache = shared.lock();
                tex_ui(ui, &mut cache, GAUSSIAN_TEX, FORMULA_SIZE);
            }
            ui.add(egui::Label::new(RichText::new(CAPTION).italics()).wrap());
        });
}

/// The two views only, as large as the room (presentation mode).
pub fn views_ui(ui: &mut egui::Ui, _settings: &Settings, model: &Model) {
    model.d3pm.want();
    let Some(frame) = current_frame(ui, model) else {
        return;
    };
    let height = ui.available_height();
    two_views_ui(ui, frame, height);
}

/// The frame to show, or a spinner (and `None`) while there is none, or the error.
fn current_frame<'a>(ui: &mut egui::Ui, model: &'a Model) -> Option<&'a D3pmFrame> {
    if let Some(error) = &model.d3pm.error {
        ui.label(RichText::new(error).color(theme::error_color(ui.visuals().dark_mode)));
        return None;
    }
    let frame = model.d3pm.frame.as_ref();
    if frame.is_none() {
        ui.spinner();
        // The first frame is computed after this layout.
        ui.ctx().request_repaint();
    }
    frame
}

/// The kind switch and the levels.
fn controls_ui(ui: &mut egui::Ui, settings: &mut Settings) {
    ui.horizontal_wrapped(|ui| {
        ui.label("transitions:");
        for kind in DiscreteKind::ALL {
            let label = match kind {
                DiscreteKind::Uniform => "uniform",
                DiscreteKind::Absorbing => "absorbing (mask)",
            };
            ui.selectable_value(&mut settings.d3pm.kind, kind, label);
        }
        ui.separator();
        ui.label("levels K:");
        for levels in LEVELS {
            let label = if levels == 256 {
                "256 (8-bit)".to_owned()
            } else {
                levels.to_string()
            };
            ui.selectable_value(&mut settings.d3pm.levels, levels, label);
        }
    });
}

/// `t`, `β_t`, `ᾱ_t` and the distances to the stationary law, one line (wrapping).
fn numbers_ui(ui: &mut egui::Ui, frame: &D3pmFrame, steps: usize) {
    let mono = |text: String| RichText::new(text).monospace();
    ui.horizontal_wrapped(|ui| {
        ui.label(format!("t = {} of T = {steps}", frame.t));
        ui.label(mono(format!("β_t = {}", num(frame.beta))));
        ui.label(mono(format!("ᾱ_t = {}", num(frame.alpha_bar))));
        ui.label(mono(format!("TV(q(x_t), π) = {}", num(frame.tv_law))))
            .on_hover_text(
                "The exact law of a random pixel, p_0 Q̄_t, against the stationary law: ᾱ_t · TV(p_0, π)",
            );
    });
}

/// The two views side by side, each as large as `height` and half the width allow.
fn two_views_ui(ui: &mut egui::Ui, frame: &D3pmFrame, height: f32) {
    let (gw, gh) = grid_size();
    let heading = 26.0;
    let scale = ((ui.available_width() / 2.0 - 12.0) / gw as f32)
        .min((height - heading) / gh as f32)
        .max(1.0);
    let size = Vec2::new(gw as f32 * scale, gh as f32 * scale);
    super::layout::centred(ui, 2.0 * size.x + 24.0, |ui| {
        ui.columns(2, |cols| {
            let views = [
                (
                    "Markov chain",
                    "Cat(x_t; x_{t−1} Q_t): a fresh draw every step",
                    MARKOV_VIEW,
                    frame.markov.as_deref(),
                ),
                (
                    "closed form",
                    "Cat(x_t; x_0 Q̄_t): one draw per pixel",
                    CLOSED_VIEW,
                    Some(&frame.closed[..]),
                ),
            ];
            for (ui, (title, subtitle, name, states)) in cols.iter_mut().zip(views) {
                ui.horizontal(|ui| {
                    ui.label(RichText::new(title).heading());
                    ui.add(egui::Label::new(RichText::new(subtitle).weak()).truncate());
                });
                states_ui(ui, states, frame.levels, size, name);
            }
        });
    });
}

/// The grid's size in pixels.
fn grid_size() -> (usize, usize) {
    (
        d3pm::GRID_COLS * (DIGIT_SIDE + 1) - 1,
        d3pm::GRID_ROWS * (DIGIT_SIDE + 1) - 1,
    )
}

/// The colour of a state in the window: its grey level, or the mask's colour.
fn state_color(state: u16, levels: usize) -> Color32 {
    let s = usize::from(state);
    match s.cmp(&levels) {
        std::cmp::Ordering::Less => {
            Color32::from_gray((255.0 * s as f64 / (levels - 1).max(1) as f64).round() as u8)
        }
        std::cmp::Ordering::Equal => theme::MASK_COLOR,
        std::cmp::Ordering::Greater => theme::GAP_COLOR,
    }
}

/// The digits' states as one mesh (runs of equal states in a row are one rectangle),
/// `size` points large; the pixel's state on hover. `None`: the chain is still building.
fn states_ui(ui: &mut egui::Ui, states: Option<&[u16]>, levels: usize, size: Vec2, name: &str) {
    let (rect, response) = ui.allocate_exact_size(size, Sense::hover());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::accesskit::Role::Image, true, name));
    let Some(states) = states else {
        ui.put(rect, egui::Spinner::new());
        return;
    };
    let (gw, gh, grid) = d3pm::grid(states);
    let cell = rect.width() / gw as f32;
    let mut mesh = egui::Mesh::default();
    for (y, row) in grid.chunks_exact(gw).enumerate() {
        let mut x = 0;
        while x < gw {
            let run = row[x..].iter().take_while(|&&s| s == row[x]).count();
            let min = rect.min + Vec2::new(x as f32 * cell, y as f32 * cell);
            mesh.add_colored_rect(
                egui::Rect::from_min_size(min, Vec2::new(run as f32 * cell, cell)),
                state_color(row[x], levels),
            );
            x += run;
        }
    }
    ui.painter().add(egui::Shape::mesh(mesh));
    if let Some(pos) = response.hover_pos() {
        let (x, y) = (
            ((pos.x - rect.left()) / cell) as usize,
            ((pos.y - rect.top()) / cell) as usize,
        );
        let state = grid.get(y.min(gh - 1) * gw + x.min(gw - 1)).copied();
        let text = match state {
            Some(s) if usize::from(s) < levels => format!("state {s} of 0…{}", levels - 1),
            Some(s) if usize::from(s) == levels => "the mask state m".to_owned(),
            _ => "between digits".to_owned(),
        };
        let digit = (y / (DIGIT_SIDE + 1)) * d3pm::GRID_COLS + x / (DIGIT_SIDE + 1);
        response.on_hover_text_at_pointer(format!("digit {digit}: {text}"));
    }
}

/// `Q_t` (or `Q̄_t` when `bar`) as a heatmap with its closed form, its distinct entries
/// and the colour scale; the exact entry on hover.
fn matrix_ui(ui: &mut egui::Ui, frame: &D3pmFrame, bar: bool, side: f32) {
    let (name, matrix, tex) = if bar {
        ("Q̄_t", &frame.q_bar, q_bar_tex(frame.kind))
    } else {
        ("Q_t", &frame.q_step, q_step_tex(frame.kind))
    };
    {
        let shared = shared_cache(ui.ctx());
        let mut cache = shared.lock();
        tex_ui(ui, &mut cache, tex, FORMULA_SIZE - 2.0);
    }
    let n = frame.states;
    let side = side.min(ui.available_width());
    let (rect, response) = ui.allocate_exact_size(Vec2::splat(side), Sense::hover());
    response.widget_info(|| {
        egui::WidgetInfo::labeled(egui::accesskit::Role::Image, true, format!("{name} heatmap"))
    });
    let cell = side / n as f32;
    let mut mesh = egui::Mesh::default();
    for (i, row) in matrix.chunks_exact(n).enumerate() {
        let mut j = 0;
        while j < n {
            // Runs of bit-identical entries (the closed form repeats one value exactly).
            let run = row[j..]
                .iter()
                .take_while(|&&v| v.to_bits() == row[j].to_bits())
                .count();
            let min = rect.min + Vec2::new(j as f32 * cell, i as f32 * cell);
            mesh.add_colored_rect(
                egui::Rect::from_min_size(min, Vec2::new(run as f32 * cell, cell)),
                theme::heat_color(row[j]),
            );
            j += run;
        }
    }
    ui.painter().add(egui::Shape::mesh(mesh));
    if let Some(pos) = response.hover_pos() {
        let i = (((pos.y - rect.top()) / cell) as usize).min(n - 1);
        let j = (((pos.x - rect.left()) / cell) as usize).min(n - 1);
        let state = |k: usize| {
            if frame.kind == DiscreteKind::Absorbing && k == frame.levels {
                "m".to_owned()
            } else {
                k.to_string()
            }
        };
        response.on_hover_text_at_pointer(format!(
            "{name}[{}, {}] = {}",
            state(i),
            state(j),
            format_sig(matrix[i * n + j], 10)
        ));
    }
    scale_ui(ui, side);
    // The matrix's distinct entries, from its own numbers.
    let entries = match frame.kind {
        DiscreteKind::Uniform => format!(
            "{name}: diagonal {} · elsewhere {}",
            num(matrix[0]),
            num(matrix[1])
        ),
        DiscreteKind::Absorbing => format!(
            "{name}: diagonal {} · to the mask {}",
            num(matrix[0]),
            num(matrix[frame.levels])
        ),
    };
    ui.add(egui::Label::new(RichText::new(entries).monospace().small()).wrap());
    if bar {
        let shared = shared_cache(ui.ctx());
        let mut cache = shared.lock();
        tex_ui(ui, &mut cache, stationary_tex(frame.kind), FORMULA_SIZE - 2.0);
    }
}

/// The colour scale under a heatmap: 0 to 1, linear.
fn scale_ui(ui: &mut egui::Ui, width: f32) {
    let (rect, _) = ui.allocate_exact_size(Vec2::new(width, 8.0), Sense::hover());
    let mut mesh = egui::Mesh::default();
    let steps = 32;
    for k in 0..steps {
        let w = rect.width() / steps as f32;
        mesh.add_colored_rect(
            egui::Rect::from_min_size(
                rect.min + Vec2::new(k as f32 * w, 0.0),
                Vec2::new(w + 0.5, rect.height()),
            ),
            theme::heat_color((f64::from(k) + 0.5) / f64::from(steps)),
        );
    }
    ui.painter().add(egui::Shape::mesh(mesh));
    ui.horizontal(|ui| {
        ui.set_width(width);
        ui.label(RichText::new("0").small());
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            ui.label(RichText::new("1").small());
            ui.centered_and_justified(|ui| ui.label(RichText::new("probability (linear)").small().weak()));
        });
    });
}

/// "Is x_t stationary yet?": the histogram of `x_t` (both views) against the exact law
/// `q(x_t)` and the stationary law, with the total-variation distances.
fn histogram_ui(ui: &mut egui::Ui, frame: &D3pmFrame, height: f32) {
    let dark = ui.visuals().dark_mode;
    ui.label(RichText::new("Is x_t stationary yet?").strong());
    let tv_markov = frame.tv_markov.map_or_else(|| "…".to_owned(), num);
    ui.add(
        egui::Label::new(
            RichText::new(format!(
                "TV to π: Markov {tv_markov} · closed form {} · q(x_t) {}",
                num(frame.tv_closed),
                num(frame.tv_law)
            ))
            .small(),
        )
        .wrap(),
    );
    let n = frame.states;
    let bars: Vec<Bar> = frame
        .markov_hist
        .iter()
        .flat_map(|h| h.iter().enumerate())
        .map(|(k, &p)| Bar::new(k as f64, p).width(0.9))
        .collect();
    let steps = |p: &[f64]| -> PlotPoints {
        p.iter()
            .enumerate()
            .flat_map(|(k, &v)| [[k as f64 - 0.5, v], [k as f64 + 0.5, v]])
            .collect()
    };
    ui.add(
        egui::Label::new(
            RichText::new("bars: Markov x_t · green: closed-form x_t · pink: q(x_t) = p₀Q̄_t · orange: π")
                .small()
                .weak(),
        )
        .truncate(),
    );
    Plot::new("d3pm-histogram")
        .height(height)
        .include_y(0.0)
        .include_x(-0.5)
        .include_x(n as f64 - 0.5)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .show(ui, |plot| {
            plot.add(BarChart::new("Markov x_t", bars).color(theme::point_color(dark).gamma_multiply(0.6)));
            plot.add(
                Line::new("closed-form x_t", steps(&frame.closed_hist))
                    .color(theme::CLOSED_FORM_LINE)
                    .width(1.5),
            );
            plot.add(
                Line::new("q(x_t) = p₀Q̄_t", steps(&frame.law))
                    .color(theme::LAW_COLOR)
                    .width(1.5),
            );
            plot.add(
                Line::new("stationary π", steps(&frame.stationary))
                    .color(theme::NORMAL_CURVE)
                    .width(2.0),
            );
        });
}
