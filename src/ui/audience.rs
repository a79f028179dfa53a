//! The presenter view: a second window, for the projector, shows presentation mode's
//! picture (the live equation, the tab's views, the caption, play and `t`) while the main
//! window keeps the controls, the chapter list and the chapter's notes.
//!
//! The audience window is an *immediate* egui viewport: it is laid out inside the main
//! window's frame, from the same `&mut Settings` and `&Model`, right after the main
//! window. Both windows therefore show the state of the same frame — nothing is copied
//! between them, so nothing can lag behind — and what the audience window changes (its
//! keys, its slider, its Play) lands in the same settings and commands as the main
//! window's, applied after layout as always. (A deferred viewport would repaint on its own
//! but needs its state behind a lock, shared with the app and read at other times.)
//!
//! Where egui cannot open a second native window (a backend that embeds viewports, such as
//! the test harness), the picture shows in a window inside the main one instead.

use super::presentation;
use crate::app::settings::Settings;
use crate::app::{Command, Model};

/// The audience window's size when it opens, in points (a projector's 1280×720; F11 fills
/// the screen it is on).
const OPENING_SIZE: [f32; 2] = [1280.0, 720.0];

/// The audience window's viewport.
#[must_use]
pub fn viewport_id() -> egui::ViewportId {
    egui::ViewportId::from_hash_of("diffscope-audience")
}

/// The audience window's title: what it shows, by tab and `t` (it follows every frame).
#[must_use]
pub fn title(settings: &Settings) -> String {
    format!(
        "diffscope · audience · {} · t = {}",
        settings.tab.name(),
        settings.t
    )
}

/// Shows the audience window while the presenter view is on (`settings.lecture.audience`);
/// its close button, or Esc or F6 pressed in it, turns the view off (the app goes on).
pub fn audience_window_ui(
    ctx: &egui::Context,
    settings: &mut Settings,
    model: &Model,
    commands: &mut Vec<Command>,
) {
    if !settings.lecture.audience {
        return;
    }
    if ctx.embed_viewports() {
        embedded_ui(ctx, settings, model, commands);
        return;
    }
    let builder = egui::ViewportBuilder::default()
        .with_title(title(settings))
        .with_app_id("diffscope-audience")
        .with_inner_size(OPENING_SIZE)
        .with_min_inner_size([480.0, 270.0]);
    ctx.show_viewport_immediate(viewport_id(), builder, |ui, class| {
        if class == egui::ViewportClass::EmbeddedWindow {
            // egui embedded it after all (a backend without an immediate renderer): the
            // main window's keys already act.
            presentation::audience_ui(ui, settings, model, commands);
            return;
        }
        let ctx = ui.ctx().clone();
        if ctx.input(|i| i.viewport().close_requested()) {
            // Not shown in the next frame, egui closes the window.
            settings.lecture.audience = false;
            return;
        }
        crate::app::keys::audience_keys(&ctx, settings, commands);
        if super::size_unknown(&ctx) {
            ctx.request_repaint();
            return;
        }
        presentation::audience_ui(ui, settings, model, commands);
    });
}

/// The picture in a window inside the main one, at the bottom right, a third of its width
/// (closed with its ×).
fn embedded_ui(ctx: &egui::Context, settings: &mut Settings, model: &Model, commands: &mut Vec<Command>) {
    let screen = ctx.content_rect();
    let width = (screen.width() / 2.5).max(320.0);
    let size = egui::vec2(width, width * OPENING_SIZE[1] / OPENING_SIZE[0]);
    let mut open = true;
    egui::Window::new(title(settings))
        .id(egui::Id::unique("diffscope-audience-window"))
        .open(&mut open)
        .collapsible(false)
        .resizable(false)
        .fixed_size(size)
        .anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-8.0, -8.0))
        .show(ctx, |ui| presentation::audience_ui(ui, settings, model, commands));
    if !open {
        settings.lecture.audience = false;
    }
}
