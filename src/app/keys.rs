//! Keys that work everywhere (unless a text field has focus): in the main window, and the
//! lesson's keys in the presenter view's audience window too.

use egui::{InputState, Key, Modifiers, ViewportId};

use super::DiffscopeApp;
use super::command::Command;
use super::drawing::DrawAction;
use super::settings::{Settings, SourceChoice};

impl DiffscopeApp {
    /// The main window's keys: the lesson's, and the layout's (panels, F5/Esc, F6).
    pub(super) fn keys(&mut self, ctx: &egui::Context) {
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        ctx.input_mut(|i| {
            lesson_keys(i, &mut self.settings, &mut self.commands, ViewportId::ROOT);
            self.layout_keys(i);
            // Ctrl+Z undoes the drawing's last stroke while it is the data on screen.
            if self.settings.source == SourceChoice::Drawing && i.consume_key(Modifiers::COMMAND, Key::Z) {
                self.commands.push(Command::Draw(DrawAction::Undo));
            }
        });
    }
}

/// The keys of the presenter view's audience window, read in its own pass (`ctx` is the
/// audience viewport's): the lesson's keys act as in the main window, on the same state —
/// F11 makes the audience window fullscreen, and Esc or F6 closes it. The main window's
/// layout keys (Ctrl+B/J/M, F5) are left to the main window.
pub fn audience_keys(ctx: &egui::Context, settings: &mut Settings, commands: &mut Vec<Command>) {
    if ctx.egui_wants_keyboard_input() {
        return;
    }
    let window = ctx.viewport_id();
    ctx.input_mut(|i| {
        lesson_keys(i, settings, commands, window);
        let escape = i.consume_key(Modifiers::NONE, Key::Escape);
        if i.consume_key(Modifiers::NONE, Key::F6) || escape {
            settings.lecture.audience = false;
        }
    });
}

/// Space, the arrows, Home/End (they move `n` instead of `t` on the Markov chain tab:
/// `DiffscopeApp::run` routes them), PageUp/PageDown, Ctrl+Q, F3, and F11 (fullscreen for
/// `window`, the one they were pressed in).
fn lesson_keys(i: &mut InputState, settings: &mut Settings, commands: &mut Vec<Command>, window: ViewportId) {
    let keys = [
        (Modifiers::NONE, Key::Space, Command::TogglePlay),
        (Modifiers::SHIFT, Key::ArrowLeft, Command::Step(-10)),
        (Modifiers::SHIFT, Key::ArrowRight, Command::Step(10)),
        (Modifiers::NONE, Key::ArrowLeft, Command::Step(-1)),
        (Modifiers::NONE, Key::ArrowRight, Command::Step(1)),
        (Modifiers::NONE, Key::Home, Command::Home),
        (Modifiers::NONE, Key::End, Command::End),
        (Modifiers::NONE, Key::PageDown, Command::NextChapter),
        (Modifiers::NONE, Key::PageUp, Command::PrevChapter),
        (Modifiers::COMMAND, Key::Q, Command::Quit),
        (Modifiers::NONE, Key::F11, Command::ToggleFullscreen(window)),
    ];
    for (modifiers, key, command) in keys {
        if i.consume_key(modifiers, key) {
            commands.push(command);
        }
    }
    if i.consume_key(Modifiers::NONE, Key::F3) {
        settings.show_frame_times = !settings.show_frame_times;
    }
}
