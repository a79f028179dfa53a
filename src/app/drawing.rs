//! The drawing: brush and eraser strokes from the Forward tab's canvas, undo, clear, and
//! saving it as a points CSV.
//!
//! The canvas is the 2D view itself: a stroke is in the view's coordinates, which are the
//! drawing's own ([`Model::drawing`] holds the points as drawn, with their undo stack).
//! When a stroke ends the drawing is the data on screen: [`Settings::drawing`] (saved
//! with the settings) takes its points and the scene is made from them as a points CSV's
//! is, standardised ([`scene::drawing_scene`]); the forward views, training, the chain
//! and the ELBO see that scene, as for any 2D set. The first stroke on other 2D data
//! starts the drawing from its points as they are on screen.
//!
//! [`Model::drawing`]: super::Model::drawing
//! [`Settings::drawing`]: super::settings::Settings::drawing

use std::path::PathBuf;

use super::DiffscopeApp;
use super::settings::SourceChoice;
use crate::data::drawing::{DrawnPoints, StrokeDone, Tool};
use crate::scene::{self, SceneData};

/// What the canvas and the drawing's buttons ask for.
#[derive(Clone, Debug, PartialEq)]
pub enum DrawAction {
    /// Begin a stroke of `tool` at `at` (data units of the view).
    Begin {
        /// Where the pointer went down.
        at: [f64; 2],
        /// The brush (left button) or the eraser (right).
        tool: Tool,
    },
    /// The stroke's pointer moved to here.
    Move([f64; 2]),
    /// The pointer went up: the stroke is done.
    End,
    /// Undo the last stroke or clear (Ctrl+Z).
    Undo,
    /// Remove every point: an empty canvas (undo brings them back).
    Clear,
    /// Pick where to save the drawing with the native dialog.
    SaveDialog,
    /// Save the drawing as a points CSV here.
    Save(PathBuf),
}

impl DiffscopeApp {
    pub(super) fn draw(&mut self, action: DrawAction, ctx: &egui::Context) {
        match action {
            DrawAction::Begin { at, tool } => {
                self.start_drawing();
                let brush = self.settings.draw.brush;
                self.model.drawing.begin(at, tool, &brush);
            }
            DrawAction::Move(to) => {
                self.model.drawing.extend(to);
            }
            DrawAction::End => {
                if let Some(done) = self.model.drawing.end() {
                    self.drawing_changed(&stroke_note(done));
                }
            }
            DrawAction::Undo => {
                if self.model.drawing.undo() {
                    self.drawing_changed("undone");
                } else {
                    self.model.status.info = Some("nothing to undo".into());
                }
            }
            DrawAction::Clear => {
                self.start_drawing();
                let n = self.model.drawing.clear();
                self.drawing_changed(&format!("cleared {n} points (Undo brings them back)"));
            }
            DrawAction::SaveDialog => self.open_dialog(ctx, super::dialogs::DialogKind::SaveDrawing),
            DrawAction::Save(path) => self.save_drawing(&path),
        }
    }

    /// Makes the drawing the data on screen, starting from the 2D points on screen when
    /// they are not a drawing yet (in the view's coordinates, where they are drawn on).
    fn start_drawing(&mut self) {
        if self.settings.source == SourceChoice::Drawing {
            return;
        }
        let points: &[[f64; 2]] = match &self.model.scene.data {
            SceneData::Points(points) => points,
            SceneData::Image(_) => &[],
        };
        self.model.drawing.replace(points);
        self.drawing_changed(&format!("drawing on {}", self.model.scene.name));
    }

    /// The drawing changed: it is the data on screen now, its points in the settings;
    /// `what` says what happened in the status line.
    fn drawing_changed(&mut self, what: &str) {
        self.settings.drawing = DrawnPoints::new(self.model.drawing.points());
        self.applied.drawing = self.settings.drawing.clone();
        let scene = scene::drawing_scene(&self.settings.drawing);
        let n = self.settings.drawing.len();
        self.set_scene(scene);
        self.model.status.info = Some(format!("{what}: the drawing has {n} points"));
    }

    /// Writes the drawing, as drawn, to `path` as a points CSV (what opening a points
    /// file reads back).
    fn save_drawing(&mut self, path: &std::path::Path) {
        let points = self.settings.drawing.points();
        if points.len() < 2 {
            self.model.status.error = Some(format!(
                "a drawing of {} points cannot be saved: a points CSV holds at least 2",
                points.len()
            ));
            return;
        }
        match std::fs::write(path, crate::data::points_csv_text(points)) {
            Ok(()) => {
                self.model.status.info = Some(format!(
                    "saved the drawing ({} points, as drawn) to {}",
                    points.len(),
                    path.display()
                ));
            }
            Err(e) => {
                self.model.status.error = Some(format!("cannot save the drawing to {}: {e}", path.display()));
            }
        }
    }
}

/// What a finished stroke did, for the status line.
fn stroke_note(done: StrokeDone) -> String {
    match done {
        StrokeDone::Added {
            points,
            capped: false,
        } => format!("brush: {points} points added"),
        StrokeDone::Added { points, capped: true } => format!(
            "brush: {points} points added, then the drawing was full ({} points at most)",
            crate::data::drawing::MAX_DRAWING_POINTS
        ),
        StrokeDone::Erased(n) => format!("eraser: {n} points removed"),
    }
}
