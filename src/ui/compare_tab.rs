//! The Compare tab: rows are schedules, columns evenly spaced `t`, and every cell uses
//! the same `ε`, so the differences are the schedules' alone.

use egui::RichText;

use super::theme;
use crate::app::compare::Cell;
use crate::app::settings::Settings;
use crate::app::{Command, Model};

/// Lays out the Compare tab: its controls row above the grid.
pub fn compare_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model, commands: &mut Vec<Command>) {
    ui.horizontal_wrapped(|ui| {
        if ui.button("export PNG").clicked() {
            commands.push(Command::ExportCompare);
        }
        let label = ui.label("columns");
        ui.add(egui::DragValue::new(&mut settings.compare_columns).range(2..=10))
            .labelled_by(label.id);
        ui.label(
            RichText::new("rows: the schedule and its overlays (tick them on the left); one shared ε").weak(),
        );
    });
    grid_ui(ui, model);
}

/// The grid alone (presentation mode: no controls row), as large as the room allows.
pub fn grid_ui(ui: &mut egui::Ui, model: &Model) {
    let grid = &model.compare;
    if grid.cells.is_empty() {
        ui.spinner();
        return;
    }
    let label_width = 130.0;
    let columns = grid.steps.len() as f32;
    let cell = ((ui.available_width() - label_width) / columns - 6.0)
        .min((ui.available_height() - 30.0) / grid.cells.len() as f32 - 6.0)
        .max(24.0);
    egui::ScrollArea::both().show(ui, |ui| {
        egui::Grid::new("compare_grid")
            .spacing([6.0, 6.0])
            .show(ui, |ui| {
                ui.label("");
                for t in &grid.steps {
                    ui.label(RichText::new(format!("t = {t}")).strong());
                }
                ui.end_row();
                for (schedule, row) in grid.schedules.iter().zip(&grid.cells) {
                    let kind = schedule.spec().kind;
                    ui.label(
                        RichText::new(kind.label())
                            .color(theme::schedule_color(kind))
                            .strong(),
                    );
                    for (c, cell_data) in row.iter().enumerate() {
                        match cell_data {
                            Cell::Image(tex) => {
                                let size = tex.size_vec2();
                                let scale = cell / size.x.max(size.y);
                                ui.add(egui::Image::from_texture((tex.id(), size * scale)))
                                    .on_hover_text(format!("ᾱ = {:.4}", schedule.alpha_bar(grid.steps[c])));
                            }
                            Cell::Points(points) => scatter_cell(ui, points, cell),
                        }
                    }
                    ui.end_row();
                }
            });
    });
}

/// A small scatter drawn directly with the painter (many cells, no interaction).
fn scatter_cell(ui: &mut egui::Ui, points: &[[f64; 2]], side: f32) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    let dark = ui.visuals().dark_mode;
    painter.rect_stroke(
        rect,
        2.0,
        egui::Stroke::new(1.0, theme::faint_color(dark)),
        egui::StrokeKind::Inside,
    );
    let extent = crate::export::VIEW_EXTENT;
    let color = theme::point_color(dark);
    for p in points {
        let x = rect.left() + ((p[0] + extent) / (2.0 * extent)) as f32 * rect.width();
        let y = rect.bottom() - ((p[1] + extent) / (2.0 * extent)) as f32 * rect.height();
        if rect.contains(egui::pos2(x, y)) {
            painter.circle_filled(egui::pos2(x, y), 1.2, color);
        }
    }
}
