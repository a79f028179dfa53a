//! Draw mode: the Forward tab's row (the Draw toggle, the brush, Undo, Clear, Save CSV…)
//! and the drawing canvas, the first view while drawing.
//!
//! The canvas shows the 2D points on screen in the view's coordinates (the drawing as
//! drawn; before the first stroke, the data on screen, which the stroke starts the drawing
//! from). A left-drag is a brush stroke, a right-drag an eraser stroke: the canvas sends
//! the pointer in data units as [`DrawAction`]s; the app does the rest.

use egui::{PointerButton, Sense};

use super::theme;
use crate::app::drawing::DrawAction;
use crate::app::settings::{Settings, SourceChoice};
use crate::app::{Command, Model};
use crate::data::drawing::{Brush, Tool};
use crate::export::VIEW_EXTENT as EXTENT;
use crate::scene::SceneData;

/// The canvas's accessible name.
pub const CANVAS_LABEL: &str = "drawing canvas";

/// The Draw toggle and, in draw mode, the brush, the eraser and the drawing's buttons,
/// on one line.
pub fn draw_row_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        ui.toggle_value(&mut settings.draw.on, "Draw").on_hover_text(
            "Draw your own 2D data: the first view becomes a canvas \
             (left-drag adds points, right-drag erases). The drawing is then the data on screen.",
        );
        if !settings.draw.on {
            ui.label(egui::RichText::new("your own 2D data, with a brush").weak());
            return;
        }
        brush_ui(ui, &mut settings.draw.brush);
        ui.separator();
        let drawing = settings.source == SourceChoice::Drawing;
        let action = |ui: &mut egui::Ui, enabled: bool, text: &str, hover: &str| {
            ui.add_enabled(enabled, egui::Button::new(text))
                .on_hover_text(hover)
                .on_disabled_hover_text(hover)
                .clicked()
        };
        if action(
            ui,
            drawing && model.drawing.can_undo(),
            "Undo",
            "Undo the last stroke or Clear (Ctrl+Z)",
        ) {
            commands.push(Command::Draw(DrawAction::Undo));
        }
        let shown = match &model.scene.data {
            SceneData::Points(points) => points.len(),
            SceneData::Image(_) => 0,
        };
        if action(
            ui,
            shown > 0,
            "Clear",
            "An empty canvas: a new drawing (Undo brings the points back)",
        ) {
            commands.push(Command::Draw(DrawAction::Clear));
        }
        if action(
            ui,
            drawing && settings.drawing.len() >= 2,
            "Save CSV…",
            "The drawing as drawn, as a points CSV (Open… reads it back)",
        ) {
            commands.push(Command::Draw(DrawAction::SaveDialog));
        }
        ui.add(egui::Label::new(egui::RichText::new(format!("{shown} points")).weak()).truncate());
    });
}

/// The brush's spread and density and the eraser's radius.
fn brush_ui(ui: &mut egui::Ui, brush: &mut Brush) {
    let label = ui.label("σ");
    ui.add(
        egui::DragValue::new(&mut brush.spread)
            .range(Brush::SPREAD)
            .speed(0.002)
            .max_decimals(3),
    )
    .labelled_by(label.id)
    .on_hover_text(
        "The brush's spread: each point lands at the path plus σ·ε, ε ~ N(0, I), in the view's units",
    );
    let label = ui.label("density");
    ui.add(
        egui::DragValue::new(&mut brush.density)
            .range(Brush::DENSITY)
            .speed(1.0)
            .max_decimals(0)
            .suffix("/unit"),
    )
    .labelled_by(label.id)
    .on_hover_text(format!(
        "Points per unit of path; a click puts down {} (half a unit's)",
        brush.click_points()
    ));
    let label = ui.label("eraser");
    ui.add(
        egui::DragValue::new(&mut brush.eraser)
            .range(Brush::ERASER)
            .speed(0.005)
            .max_decimals(2),
    )
    .labelled_by(label.id)
    .on_hover_text("The eraser's radius (right-drag), in the view's units");
}

/// The canvas: the points in the view's coordinates, the brush or eraser under the
/// pointer, and the strokes.
pub fn canvas_ui(
    ui: &mut egui::Ui,
    settings: &Settings,
    model: &Model,
    commands: &mut Vec<Command>,
    side: f32,
) {
    // The space allocated spans the column; the canvas, and its labelled node, is the
    // square at its left.
    let (rect, space) = ui.allocate_exact_size(egui::vec2(side, side), Sense::hover());
    let response = ui.interact(rect, space.id.with("canvas"), Sense::drag());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::accesskit::Role::Image, true, CANVAS_LABEL));
    let dark = ui.visuals().dark_mode;
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 0.0, ui.visuals().extreme_bg_color);
    let px_per_unit = rect.width() / (2.0 * EXTENT as f32);
    let to_screen = |p: [f64; 2]| {
        egui::pos2(
            rect.center().x + p[0] as f32 * px_per_unit,
            rect.center().y - p[1] as f32 * px_per_unit,
        )
    };
    let to_data = |pos: egui::Pos2| {
        [
            f64::from((pos.x - rect.center().x) / px_per_unit).clamp(-EXTENT, EXTENT),
            f64::from((rect.center().y - pos.y) / px_per_unit).clamp(-EXTENT, EXTENT),
        ]
    };
    let axis = egui::Stroke::new(1.0, theme::faint_color(dark));
    painter.line_segment([to_screen([-EXTENT, 0.0]), to_screen([EXTENT, 0.0])], axis);
    painter.line_segment([to_screen([0.0, -EXTENT]), to_screen([0.0, EXTENT])], axis);
    let points: &[[f64; 2]] = match (&settings.source, &model.scene.data) {
        (SourceChoice::Drawing, _) => model.drawing.points(),
        (_, SceneData::Points(points)) => points,
        (_, SceneData::Image(_)) => &[],
    };
    super::reverse_tab::scatter_points(ui, rect, points, theme::point_color(dark));
    strokes_ui(ui, &response, model, commands, &to_data);
    if let Some(pos) = response.hover_pos() {
        ui.ctx().set_cursor_icon(egui::CursorIcon::Crosshair);
        let brush = settings.draw.brush;
        let (radius, color) = if model.drawing.tool() == Some(Tool::Eraser) {
            (brush.eraser, theme::warning_color(dark))
        } else {
            (brush.spread, theme::marker_color(dark))
        };
        painter.circle_stroke(
            pos,
            (radius as f32 * px_per_unit).max(3.0),
            egui::Stroke::new(1.5, color),
        );
        let [x, y] = to_data(pos);
        response.on_hover_text_at_pointer(format!("({x:.2}, {y:.2})"));
    }
}

/// The pointer as strokes: a press on the canvas begins one (left: the brush, right: the
/// eraser), moves extend it while a button is down, and it ends when none is.
fn strokes_ui(
    ui: &egui::Ui,
    response: &egui::Response,
    model: &Model,
    commands: &mut Vec<Command>,
    to_data: &dyn Fn(egui::Pos2) -> [f64; 2],
) {
    let (pos, primary, secondary, down) = ui.input(|i| {
        (
            i.pointer.interact_pos(),
            i.pointer.button_pressed(PointerButton::Primary),
            i.pointer.button_pressed(PointerButton::Secondary),
            i.pointer.any_down(),
        )
    });
    if model.drawing.stroking() {
        match pos {
            Some(pos) if down => commands.push(Command::Draw(DrawAction::Move(to_data(pos)))),
            _ => commands.push(Command::Draw(DrawAction::End)),
        }
    } else if response.hovered()
        && (primary || secondary)
        && let Some(pos) = pos
    {
        let tool = if secondary { Tool::Eraser } else { Tool::Brush };
        commands.push(Command::Draw(DrawAction::Begin {
            at: to_data(pos),
            tool,
        }));
    }
}
