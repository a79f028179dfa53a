//! The lecture's layout switches: which panels show, the folded math panel, presentation
//! mode, the presenter view — and their keys (the UI's buttons flip the same switches).

use super::DiffscopeApp;
use super::settings::Settings;

/// A panel that can be collapsed and restored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Panel {
    /// The controls on the left (Ctrl+B).
    Controls,
    /// The plots at the bottom (Ctrl+J).
    Plots,
    /// "The math" on the right, or over the views when folded (Ctrl+M).
    Math,
}

impl Panel {
    /// Every panel, in the order of their buttons.
    pub const ALL: [Self; 3] = [Self::Controls, Self::Plots, Self::Math];

    /// The key that toggles it (with Ctrl).
    #[must_use]
    pub const fn key(self) -> egui::Key {
        match self {
            Self::Controls => egui::Key::B,
            Self::Plots => egui::Key::J,
            Self::Math => egui::Key::M,
        }
    }

    /// Its button's label.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Controls => "controls",
            Self::Plots => "plots",
            Self::Math => "math",
        }
    }
}

impl Settings {
    /// Whether `panel` shows now (the math: beside the views, or over them when folded).
    #[must_use]
    pub const fn panel_shown(&self, panel: Panel) -> bool {
        match panel {
            Panel::Controls => self.show_controls,
            Panel::Plots => self.show_plots,
            Panel::Math if self.lecture.math_folded => self.lecture.math_open,
            Panel::Math => self.show_math,
        }
    }

    /// Collapses `panel` if it shows, restores it if not. The folded math panel opens
    /// and closes over the views and leaves the remembered choice (for a wider window)
    /// alone.
    pub const fn toggle_panel(&mut self, panel: Panel) {
        match panel {
            Panel::Controls => self.show_controls = !self.show_controls,
            Panel::Plots => self.show_plots = !self.show_plots,
            Panel::Math if self.lecture.math_folded => self.lecture.math_open = !self.lecture.math_open,
            Panel::Math => self.show_math = !self.show_math,
        }
    }
}

impl DiffscopeApp {
    /// Ctrl+B, Ctrl+J, Ctrl+M toggle the panels; F5 enters presentation mode (and leaves
    /// it), Esc leaves it; F6 opens and closes the presenter view's audience window. Called
    /// by `keys` (so not while a text field has focus).
    pub(super) fn layout_keys(&mut self, input: &mut egui::InputState) {
        use egui::{Key, Modifiers};
        for panel in Panel::ALL {
            if input.consume_key(Modifiers::COMMAND, panel.key()) {
                self.settings.toggle_panel(panel);
            }
        }
        let lecture = &mut self.settings.lecture;
        if input.consume_key(Modifiers::NONE, Key::F5) {
            lecture.presenting = !lecture.presenting;
        }
        if lecture.presenting && input.consume_key(Modifiers::NONE, Key::Escape) {
            lecture.presenting = false;
        }
        if input.consume_key(Modifiers::NONE, Key::F6) {
            lecture.audience = !lecture.audience;
        }
    }
}
