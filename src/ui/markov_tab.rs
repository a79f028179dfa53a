//! The Markov chain tab (the lecture's "Markov Chain" slide): a finite chain you can edit —
//! its transition matrix `P` as a heatmap with its numbers, `p_0`, the distribution
//! `p_n = p_0 Pⁿ` against the empirical histogram of many chains and `π`, trajectories on
//! the state graph and as a time line, and `‖p_n − π‖₁` against `|λ₂|ⁿ` on a log scale.
//!
//! Everything drawn comes from `app::markov::MarkovView` (computed when the chain
//! changes, never here); edits go out as `Command::Markov`.

use egui::accesskit::Role;
use egui::{Align, Align2, FontId, Key, Layout, Pos2, Rect, RichText, Sense, Stroke, Vec2, pos2, vec2};
use egui_plot::{Line, LineStyle, Plot, PlotPoints, VLine};

use super::{elbo_tab, theme};
use crate::app::markov::{MANY_CHAINS, MAX_N, MarkovEdit, MarkovView};
use crate::app::settings::{MarkovMode, MarkovSettings, Settings};
use crate::app::{Command, Model};
use crate::diffusion::finite::{Preset, Transition};
use crate::format::format_sig;

/// The smallest `‖p_n − π‖₁` the log plot shows (below it is rounding).
const DISTANCE_FLOOR: f64 = 1e-13;

/// The tab's centre: which chain (the finite one over `n`, or D3PM on the digits over the
/// top bar's `t`), then that chain's view.
pub fn markov_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        let mode = &mut settings.markov.mode;
        ui.selectable_value(mode, MarkovMode::Finite, RichText::new("A finite chain").strong())
            .on_hover_text("States 0…K−1, an editable P, and p_n = p_0 Pⁿ over n");
        ui.selectable_value(
            mode,
            MarkovMode::Digits,
            RichText::new("Diffusion on the digits (D3PM)").strong(),
        )
        .on_hover_text(
            "The same object as diffusion's forward process: each pixel's intensity level is a state, \
                 Q_t the kernel; the top bar's t and schedule drive it",
        );
    });
    match settings.markov.mode {
        MarkovMode::Finite => finite_chain_ui(ui, settings, model, commands),
        MarkovMode::Digits => super::d3pm_view::d3pm_ui(ui, settings, model),
    }
}

/// The finite chain: its controls, then its six views in the rest of `ui`.
pub fn finite_chain_ui(
    ui: &mut egui::Ui,
    settings: &mut Settings,
    model: &Model,
    commands: &mut Vec<Command>,
) {
    // The tab's room, before any row can widen the panel's rect past its edge.
    let right = ui.available_rect_before_wrap().right();
    controls_ui(ui, &mut settings.markov, model, commands, right);
    grid_ui(ui, &settings.markov, &model.markov, commands, true, right);
}

/// The views alone (presentation mode): the chain's structure in words, then the six
/// pictures, not editable; for the digits, their two views.
pub fn views_ui(ui: &mut egui::Ui, settings: &Settings, model: &Model, commands: &mut Vec<Command>) {
    if settings.markov.mode == MarkovMode::Digits {
        super::d3pm_view::views_ui(ui, settings, model);
        return;
    }
    let right = ui.available_rect_before_wrap().right();
    ui.add(egui::Label::new(RichText::new(model.markov.structure.describe()).weak()).wrap());
    grid_ui(ui, &settings.markov, &model.markov, commands, false, right);
}

/// `v` with four decimals (every probability on the tab).
fn fixed4(v: f64) -> String {
    format!("{v:.4}")
}

/// `p` as `(0.25, 0.75)`, two decimals.
fn vector_text(p: &[f64]) -> String {
    let parts: Vec<String> = p.iter().map(|v| format!("{v:.2}")).collect();
    format!("({})", parts.join(", "))
}

/// K, the preset, the seed, the number of paths, play and `n`, the matrix as CSV; then the
/// last refusal and the chain's structure in words.
fn controls_ui(
    ui: &mut egui::Ui,
    s: &mut MarkovSettings,
    model: &Model,
    commands: &mut Vec<Command>,
    right: f32,
) {
    let view = &model.markov;
    let csv_id = egui::Id::unique("markov-csv-open");
    let mut csv_open = ui.data(|d| d.get_temp::<bool>(csv_id).unwrap_or(false));
    ui.horizontal_wrapped(|ui| {
        let label = ui.label("K");
        let states = view.chain.states();
        let mut k = states;
        ui.add(
            egui::DragValue::new(&mut k)
                .speed(0.05)
                .update_while_editing(false),
        )
        .labelled_by(label.id)
        .on_hover_text("Number of states, 2 to 8 (the matrix becomes the preset's)");
        if k != states {
            commands.push(Command::Markov(MarkovEdit::States(k)));
        }
        let label = ui.label("Preset");
        egui::ComboBox::from_id_salt("markov-preset")
            .selected_text(s.preset.as_deref().unwrap_or("edited"))
            .width(130.0)
            .show_ui(ui, |ui| {
                for preset in Preset::ALL {
                    let current = s.preset.as_deref() == Some(preset.name());
                    if ui.selectable_label(current, preset.name()).clicked() {
                        commands.push(Command::Markov(MarkovEdit::Preset(preset)));
                    }
                }
            })
            .response
            .labelled_by(label.id);
        let label = ui.label("seed");
        ui.add(egui::DragValue::new(&mut s.seed).speed(0.2))
            .labelled_by(label.id)
            .on_hover_text("Seed of the trajectories and of the 10⁴ chains of the histogram");
        let label = ui.label("paths");
        ui.add(
            egui::DragValue::new(&mut s.chains)
                .range(1..=MarkovSettings::MAX_CHAINS)
                .speed(0.05),
        )
        .labelled_by(label.id)
        .on_hover_text("Trajectories drawn on the graph and the time line");
        ui.toggle_value(&mut csv_open, "P as CSV")
            .on_hover_text("Type or paste the whole matrix, one row a line");
        // Play, the slider, its value and "n" on one line: a new line if they do not fit.
        if right - ui.cursor().min.x < 300.0 {
            ui.end_row();
        } else {
            ui.separator();
        }
        let play = if view.playing { "■ Pause" } else { "▶ Play" };
        if ui.button(play).on_hover_text("Space").clicked() {
            commands.push(Command::TogglePlay);
        }
        // Room for the button before and the value and "n" after.
        ui.spacing_mut().slider_width = (right - ui.cursor().min.x - 110.0).clamp(80.0, 300.0);
        ui.add(egui::Slider::new(&mut s.n, 0..=MAX_N).text("n"))
            .on_hover_text("Space plays; ← → one step, Shift+← → ten, Home/End");
    });
    ui.data_mut(|d| d.insert_temp(csv_id, csv_open));
    if csv_open {
        csv_ui(ui, view, commands);
    }
    if let Some(message) = &view.message {
        ui.add(
            egui::Label::new(RichText::new(message).color(theme::error_color(ui.visuals().dark_mode))).wrap(),
        );
    }
    ui.add(egui::Label::new(RichText::new(view.structure.describe()).weak().small()).wrap());
    ui.separator();
}

/// The matrix as CSV text, applied by its button (a bad matrix is refused with its line).
fn csv_ui(ui: &mut egui::Ui, view: &MarkovView, commands: &mut Vec<Command>) {
    let text_id = egui::Id::unique("markov-csv-text");
    let mut text = ui.data(|d| d.get_temp::<String>(text_id)).unwrap_or_else(|| {
        (0..view.chain.states())
            .map(|i| {
                let row: Vec<String> = view.chain.row(i).iter().map(|v| format_sig(*v, 4)).collect();
                row.join(", ")
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    ui.horizontal(|ui| {
        let label = ui.label("P (CSV)");
        ui.add(
            egui::TextEdit::multiline(&mut text)
                .desired_rows(3)
                .desired_width((ui.available_width() - 80.0).max(120.0))
                .font(egui::TextStyle::Monospace),
        )
        .labelled_by(label.id);
        if ui
            .button("Apply")
            .on_hover_text("Rows of weights are normalised; a row of zeros is refused")
            .clicked()
        {
            commands.push(Command::Markov(MarkovEdit::Matrix(text.clone())));
        }
    });
    ui.data_mut(|d| d.insert_temp(text_id, text));
}

/// The six views in a 3 × 2 grid filling the rest of `ui`.
fn grid_ui(
    ui: &mut egui::Ui,
    s: &MarkovSettings,
    view: &MarkovView,
    commands: &mut Vec<Command>,
    editable: bool,
    right: f32,
) {
    let area = ui.available_rect_before_wrap();
    let area = Rect::from_min_max(area.min, pos2(area.right().min(right), area.bottom()));
    let gap = 10.0;
    let width = ((area.width() - 2.0 * gap) / 3.0).max(60.0);
    // The matrix, the graph and the bars above get a little more of the height.
    let top = ((area.height() - gap) * 0.54).max(60.0);
    let bottom = (area.height() - gap - top).max(60.0);
    let cell = |column: usize, row: usize| {
        let left = area.left() + column as f32 * (width + gap);
        if row == 0 {
            Rect::from_min_size(pos2(left, area.top()), vec2(width, top))
        } else {
            Rect::from_min_size(pos2(left, area.top() + top + gap), vec2(width, bottom))
        }
    };
    let n = s.n.min(MAX_N);
    let mut in_cell = |rect: Rect, add: &mut dyn FnMut(&mut egui::Ui)| {
        let mut child = ui.new_child(
            egui::UiBuilder::new()
                .max_rect(rect)
                .layout(Layout::top_down(Align::Min)),
        );
        child.set_clip_rect(rect.intersect(ui.clip_rect()));
        add(&mut child);
    };
    in_cell(cell(0, 0), &mut |ui| matrix_ui(ui, view, commands, editable));
    in_cell(cell(1, 0), &mut |ui| graph_ui(ui, s, view, n, commands, editable));
    // Small views (1280×720 at 1.5× with the side panels) keep their notes in hover texts
    // and their plots without axis names, so that the pictures keep the room.
    let compact = width < 240.0 || bottom < 200.0;
    in_cell(cell(2, 0), &mut |ui| bars_ui(ui, view, n, compact));
    in_cell(cell(0, 1), &mut |ui| start_ui(ui, view, commands, editable));
    in_cell(cell(1, 1), &mut |ui| timeline_ui(ui, s, view, n, compact));
    in_cell(cell(2, 1), &mut |ui| distance_ui(ui, view, n, compact));
    ui.advance_cursor_after_rect(area);
}

/// A view's title: one line, cut to the width.
fn title(ui: &mut egui::Ui, text: &str) {
    ui.add(egui::Label::new(RichText::new(text).strong()).truncate());
}

/// `P` as a heatmap with its numbers; a click selects a cell, whose new value is typed
/// below (Enter applies it, the rest of the row rescaled).
fn matrix_ui(ui: &mut egui::Ui, view: &MarkovView, commands: &mut Vec<Command>, editable: bool) {
    let chain = &view.chain;
    let k = chain.states();
    title(
        ui,
        if editable {
            "P: row i → column j (click a cell to edit)"
        } else {
            "P: row i → column j"
        },
    );
    let selected_id = egui::Id::unique("markov-selected-cell");
    let mut selected = ui
        .data(|d| d.get_temp::<(usize, usize)>(selected_id))
        .filter(|&(i, j)| i < k && j < k && editable);
    let mut newly_selected = false;
    let edit_height = if editable {
        ui.spacing().interact_size.y + 6.0
    } else {
        0.0
    };
    let room = ui.available_size() - vec2(0.0, edit_height);
    let label_size = 14.0;
    let side = ((room.x - label_size) / k as f32)
        .min((room.y - label_size) / k as f32)
        .max(4.0);
    let (rect, response) = ui.allocate_exact_size(Vec2::splat(label_size + side * k as f32), Sense::hover());
    response.widget_info(|| egui::WidgetInfo::labeled(Role::Image, true, "transition matrix"));
    let painter = ui.painter_at(rect);
    let weak = ui.visuals().weak_text_color();
    let small = FontId::proportional(11.0);
    let origin = rect.min + Vec2::splat(label_size);
    for m in 0..k {
        let along = (m as f32 + 0.5) * side;
        painter.text(
            pos2(origin.x + along, rect.top() + label_size / 2.0),
            Align2::CENTER_CENTER,
            m.to_string(),
            small.clone(),
            weak,
        );
        painter.text(
            pos2(rect.left() + label_size / 2.0, origin.y + along),
            Align2::CENTER_CENTER,
            m.to_string(),
            small.clone(),
            weak,
        );
    }
    let sense = if editable { Sense::click() } else { Sense::hover() };
    for i in 0..k {
        for j in 0..k {
            let v = chain.get(i, j);
            let cell =
                Rect::from_min_size(origin + vec2(j as f32 * side, i as f32 * side), Vec2::splat(side));
            heat_cell(&painter, cell, v);
            let label = format!("P[{i},{j}] = {}", fixed4(v));
            let response = ui.interact(cell, ui.scope_id().with(("markov-cell", i, j)), sense);
            response.widget_info(|| egui::WidgetInfo::labeled(Role::Button, editable, &label));
            let response = response.on_hover_text(if editable {
                format!("{label}\nclick to type a new value")
            } else {
                label.clone()
            });
            if response.clicked() {
                newly_selected = selected != Some((i, j));
                selected = Some((i, j));
            }
            if selected == Some((i, j)) {
                painter.rect_stroke(
                    cell.shrink(1.0),
                    1.0,
                    Stroke::new(2.5, theme::marker_color(ui.visuals().dark_mode)),
                    egui::StrokeKind::Inside,
                );
            }
        }
    }
    // Only the editable matrix keeps the selection (the presenter view's audience window
    // lays out a read-only one in the same frame).
    if !editable {
        return;
    }
    ui.data_mut(|d| match selected {
        Some(cell) => {
            d.insert_temp(selected_id, cell);
        }
        None => d.remove::<(usize, usize)>(selected_id),
    });
    cell_edit_ui(ui, chain, selected, newly_selected, commands);
}

/// One cell of the heatmap: its colour, and its number when the cell is large enough.
fn heat_cell(painter: &egui::Painter, cell: Rect, v: f64) {
    let side = cell.width();
    let font_size = (side * 0.3).min(15.0);
    painter.rect_filled(cell.shrink(0.5), 1.0, theme::heat_color(v));
    if font_size >= 7.0 {
        let text = if side >= 44.0 {
            format!("{v:.3}")
        } else {
            format!("{v:.2}")
        };
        painter.text(
            cell.center(),
            Align2::CENTER_CENTER,
            text,
            FontId::monospace(font_size),
            theme::on_heat_color(v),
        );
    }
}

/// The row under the heatmap: the selected cell's new value, typed (Enter applies it).
fn cell_edit_ui(
    ui: &mut egui::Ui,
    chain: &Transition,
    selected: Option<(usize, usize)>,
    newly_selected: bool,
    commands: &mut Vec<Command>,
) {
    let text_id = egui::Id::unique("markov-cell-text");
    ui.horizontal(|ui| match selected {
        Some((i, j)) => {
            let label = ui.label(format!("P[{i},{j}] ="));
            let mut text = ui.data(|d| d.get_temp::<String>(text_id)).unwrap_or_default();
            if newly_selected {
                text.clear();
            }
            let response = ui
                .add(
                    egui::TextEdit::singleline(&mut text)
                        .hint_text(fixed4(chain.get(i, j)))
                        .desired_width(64.0),
                )
                .labelled_by(label.id);
            if newly_selected {
                response.request_focus();
            }
            if response.lost_focus()
                && ui.input(|input| input.key_pressed(Key::Enter))
                && !text.trim().is_empty()
            {
                commands.push(Command::Markov(MarkovEdit::Cell {
                    i,
                    j,
                    text: std::mem::take(&mut text),
                }));
            }
            ui.data_mut(|d| d.insert_temp(text_id, text));
            ui.add(
                egui::Label::new(
                    RichText::new("Enter: the row is rescaled to sum to 1")
                        .weak()
                        .small(),
                )
                .truncate(),
            );
        }
        None => {
            ui.add(egui::Label::new(RichText::new("Click a cell to type P_ij").weak().small()).truncate());
        }
    });
}

/// The state graph: states on a circle coloured by `p_n`, arrows whose width and opacity
/// follow `P_ij`, and where each trajectory is at `n` (with its last step). A click on a
/// state puts all of `p_0` there.
fn graph_ui(
    ui: &mut egui::Ui,
    s: &MarkovSettings,
    view: &MarkovView,
    n: usize,
    commands: &mut Vec<Command>,
    editable: bool,
) {
    let chain = &view.chain;
    let k = chain.states();
    title(ui, &format!("State graph: {} trajectories at n = {n}", s.chains));
    let (rect, response) = ui.allocate_exact_size(ui.available_size(), Sense::hover());
    response.widget_info(|| egui::WidgetInfo::labeled(Role::Image, true, "state graph"));
    let painter = ui.painter_at(rect);
    let dark = ui.visuals().dark_mode;
    let short = rect.width().min(rect.height());
    // Room for the self-loops outside the circle (2.1 node radii beyond a node's centre).
    let node = (0.1 * short)
        .min(0.3 * short * (std::f32::consts::PI / k as f32).sin() * 0.7)
        .clamp(6.0, 24.0);
    let radius = (0.5 * short - 2.1 * node).max(node);
    let centre = rect.center();
    let at = |i: usize| {
        let angle = -std::f32::consts::FRAC_PI_2 + std::f32::consts::TAU * i as f32 / k as f32;
        centre + radius * Vec2::angled(angle)
    };
    let arrow = |from: Pos2, to: Pos2, stroke: Stroke| {
        painter.line_segment([from, to], stroke);
        let d = (to - from).normalized();
        let head = 5.0 + 1.5 * stroke.width;
        for side in [-1.0, 1.0] {
            let back = to - head * d + side * 0.5 * head * d.rot90();
            painter.line_segment([to, back], stroke);
        }
    };
    for i in 0..k {
        for j in 0..k {
            let p = chain.get(i, j) as f32;
            if p <= 0.0 {
                continue;
            }
            let stroke = Stroke::new(0.6 + 3.5 * p, theme::edge_color(dark, 0.15 + 0.85 * p));
            if i == j {
                let out = (at(i) - centre).normalized();
                painter.circle_stroke(at(i) + out * node * 1.45, node * 0.55, stroke);
                continue;
            }
            let d = (at(j) - at(i)).normalized();
            let offset = d.rot90() * node * 0.3;
            arrow(
                at(i) + d * node + offset,
                at(j) - d * (node + 2.0) + offset,
                stroke,
            );
        }
    }
    let p_n = view.p_n(n);
    let text_size = (node * 0.9).clamp(9.0, 16.0);
    for (i, &p) in p_n.iter().enumerate() {
        painter.circle(
            at(i),
            node,
            theme::heat_color(p),
            Stroke::new(1.5, theme::marker_color(dark)),
        );
        painter.text(
            at(i),
            Align2::CENTER_CENTER,
            i.to_string(),
            FontId::proportional(text_size),
            theme::on_heat_color(p),
        );
        let hit = Rect::from_center_size(at(i), Vec2::splat(2.0 * node));
        let sense = if editable { Sense::click() } else { Sense::hover() };
        let state = ui.interact(hit, ui.scope_id().with(("markov-state", i)), sense);
        let label = format!("state {i}: p_n = {}", fixed4(p));
        state.widget_info(|| egui::WidgetInfo::labeled(Role::Button, editable, &label));
        let state = state.on_hover_text(if editable {
            format!("{label}\nclick: p_0 all on state {i}")
        } else {
            label.clone()
        });
        if state.clicked() {
            commands.push(Command::Markov(MarkovEdit::PointMass(i)));
        }
    }
    for (c, path) in view.paths.iter().take(s.chains).enumerate() {
        let color = theme::PATH_COLORS[c % theme::PATH_COLORS.len()];
        let x = path[n];
        if n > 0 && path[n - 1] != x {
            let (from, to) = (at(path[n - 1]), at(x));
            let d = (to - from).normalized();
            arrow(from + d * node, to - d * (node + 6.0), Stroke::new(2.5, color));
        }
        let angle = std::f32::consts::TAU * c as f32 / s.chains as f32 + 0.4;
        painter.circle(
            at(x) + node * Vec2::angled(angle),
            4.5,
            color,
            Stroke::new(1.0, theme::marker_color(!dark)),
        );
    }
}

/// Bars over the states (a picture called `name`), scaled so that `top` is the chart's
/// height; `values[b][i]` is bar `b` of state `i`, in the colour `colors[b]`. Returns the
/// chart's rect and the rect of each state's group.
fn bar_chart(
    ui: &mut egui::Ui,
    name: &str,
    values: &[&[f64]],
    colors: &[egui::Color32],
    top: f64,
    size: Vec2,
) -> (Rect, Vec<Rect>) {
    let (rect, response) = ui.allocate_exact_size(size, Sense::hover());
    response.widget_info(|| egui::WidgetInfo::labeled(Role::Image, true, name));
    let painter = ui.painter_at(rect);
    let k = values[0].len();
    let label_height = 14.0;
    let number_height = 14.0;
    let chart = Rect::from_min_max(
        rect.min + vec2(0.0, number_height),
        rect.max - vec2(0.0, label_height),
    );
    let group = chart.width() / k as f32;
    let bar = group * 0.8 / values.len() as f32;
    let weak = ui.visuals().weak_text_color();
    painter.line_segment(
        [chart.left_bottom(), chart.right_bottom()],
        Stroke::new(1.0, weak),
    );
    let mut groups = Vec::with_capacity(k);
    for i in 0..k {
        let left = chart.left() + i as f32 * group + 0.1 * group;
        for (b, (v, color)) in values.iter().zip(colors).enumerate() {
            let height = (v[i] / top).clamp(0.0, 1.0) as f32 * chart.height();
            let x = left + b as f32 * bar;
            painter.rect_filled(
                Rect::from_min_max(
                    pos2(x, chart.bottom() - height),
                    pos2(x + bar * 0.9, chart.bottom()),
                ),
                1.0,
                *color,
            );
        }
        let font = (group * 0.26).min(13.0);
        if font >= 7.5 {
            let height = (values[0][i] / top).clamp(0.0, 1.0) as f32 * chart.height();
            painter.text(
                pos2(
                    left + 0.4 * group,
                    (chart.bottom() - height - 1.0).max(rect.top() + font),
                ),
                Align2::CENTER_BOTTOM,
                format!("{:.3}", values[0][i]),
                FontId::proportional(font),
                ui.visuals().text_color(),
            );
        }
        painter.text(
            pos2(left + 0.4 * group, chart.bottom() + 1.0),
            Align2::CENTER_TOP,
            i.to_string(),
            FontId::proportional(11.0),
            weak,
        );
        groups.push(Rect::from_min_max(
            pos2(chart.left() + i as f32 * group, rect.top()),
            pos2(chart.left() + (i + 1) as f32 * group, chart.bottom()),
        ));
    }
    (chart, groups)
}

/// A text in colour (a legend entry).
fn legend(ui: &mut egui::Ui, color: egui::Color32, text: &str) -> egui::Response {
    ui.label(RichText::new(format!("■ {text}")).color(color).small())
}

/// `p_n` beside the empirical histogram of 10⁴ chains at `n` and `π` (or, when the limit
/// depends on `p_0`, where `p_n` goes from this `p_0`); every stationary distribution or
/// the cycle below.
fn bars_ui(ui: &mut egui::Ui, view: &MarkovView, n: usize, compact: bool) {
    let p_n = view.p_n(n);
    let (histogram, l1) = view.histogram(n);
    let closed = view.structure.stationary.len();
    let (pi, pi_name) = if closed == 1 {
        (view.structure.stationary[0].as_slice(), "π")
    } else {
        (view.limit.as_slice(), "lim p_n")
    };
    title(ui, &format!("p_n = p_0 Pⁿ at n = {n}"));
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 6.0;
        legend(ui, theme::MARKOV_BARS[0], "p_n");
        let distance = format!("‖histogram − p_n‖₁ = {}", fixed4(l1));
        if compact {
            legend(ui, theme::MARKOV_BARS[1], "10⁴ chains").on_hover_text(distance);
        } else {
            legend(ui, theme::MARKOV_BARS[1], &format!("{MANY_CHAINS} chains"));
            ui.label(RichText::new(format!("({distance})")).small());
        }
        legend(ui, theme::MARKOV_BARS[2], pi_name);
    });
    let note = if closed > 1 {
        let each: Vec<String> = view
            .structure
            .stationary
            .iter()
            .enumerate()
            .map(|(c, pi)| format!("π{} = {}", c + 1, vector_text(pi)))
            .collect();
        Some(format!(
            "{closed} stationary distributions: {}; every mixture is one",
            each.join(", ")
        ))
    } else if view.period > 1 {
        let phases: Vec<String> = view.cycle.iter().map(|p| vector_text(p)).collect();
        Some(format!(
            "period {}: p_n cycles through {}",
            view.period,
            phases.join(" → ")
        ))
    } else {
        None
    };
    let top = view
        .distributions
        .iter()
        .flatten()
        .chain(pi)
        .copied()
        .fold(0.05, f64::max)
        .min(1.0)
        * 1.05;
    ui.with_layout(Layout::bottom_up(Align::Min), |ui| {
        if let Some(note) = note {
            ui.add(egui::Label::new(RichText::new(note).weak().small()).wrap());
        }
        ui.with_layout(Layout::top_down(Align::Min), |ui| {
            let (_, groups) = bar_chart(
                ui,
                "distributions at n",
                &[p_n, histogram, pi],
                &theme::MARKOV_BARS,
                top,
                ui.available_size(),
            );
            for (i, group) in groups.into_iter().enumerate() {
                for (b, (name, v)) in [("p_n", p_n[i]), ("histogram", histogram[i]), (pi_name, pi[i])]
                    .into_iter()
                    .enumerate()
                {
                    let part = Rect::from_min_max(
                        pos2(group.left() + group.width() * b as f32 / 3.0, group.top()),
                        pos2(
                            group.left() + group.width() * (b + 1) as f32 / 3.0,
                            group.bottom(),
                        ),
                    );
                    let label = format!("{name}({i}) = {}", fixed4(v));
                    let response =
                        ui.interact(part, ui.scope_id().with(("markov-bar", i, b)), Sense::hover());
                    response.widget_info(|| egui::WidgetInfo::labeled(Role::Label, true, &label));
                    response.on_hover_text(label);
                }
            }
        });
    });
}

/// `p_0` as bars: dragging a bar sets its height (the others rescaled).
fn start_ui(ui: &mut egui::Ui, view: &MarkovView, commands: &mut Vec<Command>, editable: bool) {
    let p0 = &view.distributions[0];
    let response = ui.add(egui::Label::new(RichText::new("Initial distribution p_0").strong()).truncate());
    if editable {
        response.on_hover_text(
            "Drag a bar to set its height (the others rescale); click a state on the graph for a point mass",
        );
    }
    let sense = if editable {
        Sense::click_and_drag()
    } else {
        Sense::hover()
    };
    let (chart, groups) = bar_chart(
        ui,
        "initial distribution",
        &[p0],
        &theme::MARKOV_BARS[..1],
        1.0,
        ui.available_size(),
    );
    for (i, group) in groups.into_iter().enumerate() {
        let label = format!("p_0({i}) = {}", fixed4(p0[i]));
        let response = ui.interact(group, ui.scope_id().with(("markov-p0", i)), sense);
        response.widget_info(|| egui::WidgetInfo::labeled(Role::Slider, editable, &label));
        let response = response.on_hover_text(label);
        // While dragging, a line shows the new height; the edit (which samples the 10⁴
        // chains again) is sent once, when the bar is let go or clicked.
        if editable
            && (response.dragged() || response.drag_stopped() || response.clicked())
            && let Some(pointer) = response.interact_pointer_pos()
        {
            let value = f64::from((chart.bottom() - pointer.y) / chart.height()).clamp(0.0, 1.0);
            if response.dragged() && !response.drag_stopped() {
                let y = chart.bottom() - value as f32 * chart.height();
                ui.painter().line_segment(
                    [pos2(group.left(), y), pos2(group.right(), y)],
                    Stroke::new(2.0, theme::marker_color(ui.visuals().dark_mode)),
                );
            } else if (value - p0[i]).abs() > 1e-3 {
                commands.push(Command::Markov(MarkovEdit::Start { i, value }));
            }
        }
    }
}

/// The trajectories `X_0, …, X_n` as step lines of the state against `n`.
fn timeline_ui(ui: &mut egui::Ui, s: &MarkovSettings, view: &MarkovView, n: usize, compact: bool) {
    let k = view.chain.states();
    title(ui, &format!("Trajectories X_0 … X_n (seed {})", s.seed));
    let size = ui.available_size();
    let chains = s.chains.min(view.paths.len());
    let marker = theme::marker_color(ui.visuals().dark_mode);
    let response = Plot::new("markov-timeline")
        .width(size.x)
        .height(size.y)
        .x_axis_label(if compact { "" } else { "n" })
        .y_axis_label(if compact { "" } else { "X_n" })
        .include_x(0.0)
        .include_x(n.max(10) as f64)
        .include_y(-0.5)
        .include_y(k as f64 - 0.5)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .show(ui, |plot| {
            for (c, path) in view.paths.iter().take(chains).enumerate() {
                // Apart by a little, so that paths in the same state stay visible.
                let lift = (c as f64 - (chains as f64 - 1.0) / 2.0) * 0.08;
                let mut points = Vec::with_capacity(2 * n + 2);
                for (m, &x) in path.iter().take(n + 1).enumerate() {
                    let y = x as f64 + lift;
                    if m > 0 {
                        points.push([m as f64, path[m - 1] as f64 + lift]);
                    }
                    points.push([m as f64, y]);
                }
                if n == 0 {
                    points.push([0.3, path[0] as f64 + lift]);
                }
                plot.add(
                    Line::new(format!("path {c}"), PlotPoints::from(points))
                        .color(theme::PATH_COLORS[c % theme::PATH_COLORS.len()])
                        .width(2.0)
                        // Steps are vertical runs: not to be merged into bands.
                        .allow_band(false),
                );
            }
            plot.add(VLine::new(format!("n = {n}"), n as f64).color(marker).width(1.0));
        })
        .response;
    response.widget_info(|| egui::WidgetInfo::labeled(Role::Image, true, "trajectories time line"));
}

/// `‖p_n − lim p_n‖₁` against `n` on a log scale, with the geometric rate drawn from the
/// same start; what the plot shows for a periodic or reducible chain said above it.
fn distance_ui(ui: &mut egui::Ui, view: &MarkovView, n: usize, compact: bool) {
    let closed = view.structure.stationary.len();
    let target = if closed == 1 { "π" } else { "lim p_n" };
    title(ui, &format!("‖p_n − {target}‖₁ against n (log scale)"));
    let rate = view.rate.unwrap_or(1.0);
    let lambda2 = view.lambda2.map_or_else(|| "—".to_owned(), fixed4);
    let note = if view.period > 1 {
        format!(
            "period {}: |λ₂| = {lambda2}; p_n cycles and need not converge — only its average over a cycle does",
            view.period
        )
    } else if closed > 1 {
        format!(
            "{closed} closed classes: |λ₂| = 1, the limit depends on p_0; rate {} (the largest |λ| besides one 1 per class)",
            fixed4(rate)
        )
    } else {
        format!("|λ₂| = {lambda2}: ‖p_n − π‖₁ ≤ C |λ₂|ⁿ")
    };
    let distance = view.distances[n];
    let value = ui.add(
        egui::Label::new(
            RichText::new(format!(
                "n = {n}: ‖p_n − {target}‖₁ = {}",
                format_sig(distance, 4)
            ))
            .small(),
        )
        .truncate(),
    );
    if compact {
        let short = if view.period > 1 {
            format!("period {}: p_n cycles, no convergence", view.period)
        } else if closed > 1 {
            format!("{closed} closed classes: the limit depends on p_0")
        } else {
            format!("|λ₂| = {lambda2}")
        };
        value.on_hover_text(note.clone());
        ui.add(egui::Label::new(RichText::new(short).weak().small()).truncate())
            .on_hover_text(note);
    } else {
        ui.add(egui::Label::new(RichText::new(note).weak().small()).wrap());
    }
    let size = ui.available_size();
    let start = view.distances[0];
    let dark = ui.visuals().dark_mode;
    let response = Plot::new("markov-distance")
        .width(size.x)
        .height(size.y)
        .x_axis_label(if compact { "" } else { "n" })
        .include_x(0.0)
        .include_x(MAX_N as f64)
        .include_y(0.5)
        .include_y(-4.0)
        .y_grid_spacer(elbo_tab::decades)
        .y_axis_formatter(|mark, _| elbo_tab::decade_label(mark.value))
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .show(ui, |plot| {
            let curve: Vec<[f64; 2]> = view
                .distances
                .iter()
                .enumerate()
                .take_while(|&(_, &d)| d > DISTANCE_FLOOR)
                .map(|(m, &d)| [m as f64, d.log10()])
                .collect();
            plot.add(
                Line::new(format!("‖p_n − {target}‖₁"), PlotPoints::from(curve))
                    .color(theme::MARKOV_BARS[0])
                    .width(2.0),
            );
            if start > DISTANCE_FLOOR && rate > 0.0 && rate < 1.0 {
                let floor = DISTANCE_FLOOR.log10();
                let geometric: Vec<[f64; 2]> = (0..=MAX_N)
                    .map(|m| [m as f64, start.log10() + m as f64 * rate.log10()])
                    .take_while(|p| p[1] > floor)
                    .collect();
                let name = if closed == 1 {
                    "C·|λ₂|ⁿ"
                } else {
                    "C·rateⁿ"
                };
                plot.add(
                    Line::new(name, PlotPoints::from(geometric))
                        .color(theme::MARKOV_BARS[2])
                        .style(LineStyle::dashed_loose())
                        .width(1.5),
                );
            }
            plot.add(
                VLine::new(format!("n = {n}"), n as f64)
                    .color(theme::marker_color(dark))
                    .width(1.0),
            );
        })
        .response;
    response.widget_info(|| egui::WidgetInfo::labeled(Role::Image, true, "distance to the limit"));
}
