//! The window's panels and how they give the views the room: each side and bottom panel
//! collapses and comes back (buttons in the tab row, Ctrl+B/J/M, or its edge), and the
//! math panel folds into a toggle when the window is too narrow for it beside the views.

use super::math_panel;
use crate::app::Model;
use crate::app::layout::Panel;
use crate::app::settings::Settings;

/// The math panel's default width, in points.
pub const MATH_WIDTH: f32 = 330.0;

/// The narrowest the views' area gets beside the math panel: below it the math panel
/// folds into a toggle (at 1280×720 with the controls open it folds; without the
/// controls it fits).
pub const MIN_VIEWS_WIDTH: f32 = 720.0;

/// The bottom plots' smallest height, in points.
pub const MIN_PLOTS_HEIGHT: f32 = 130.0;

/// The bottom plots' default height for a window `height` points high: a fifth of it,
/// 130 to 270 points (the views keep the rest; the divider drags).
#[must_use]
pub fn plots_height(height: f32) -> f32 {
    (0.2 * height).clamp(MIN_PLOTS_HEIGHT, 270.0)
}

/// Whether the math panel is folded in a central area `room` points wide.
#[must_use]
pub fn math_folds(room: f32) -> bool {
    room - MATH_WIDTH < MIN_VIEWS_WIDTH
}

/// A toggle button per panel and the presentation button (in the tab row).
pub fn panel_toggles_ui(ui: &mut egui::Ui, settings: &mut Settings) {
    for panel in Panel::ALL {
        let shown = settings.panel_shown(panel);
        let hover = match panel {
            Panel::Math if settings.lecture.math_folded => {
                "The math, over the views (the window is too narrow for it beside them) · Ctrl+M"
            }
            Panel::Controls => "Show or hide the controls on the left · Ctrl+B",
            Panel::Plots => "Show or hide the plots at the bottom · Ctrl+J",
            Panel::Math => "Show or hide the math on the right · Ctrl+M",
        };
        if ui
            .selectable_label(shown, panel.label())
            .on_hover_text(hover)
            .clicked()
        {
            settings.toggle_panel(panel);
        }
    }
    if ui
        .button("Present")
        .on_hover_text("Presentation mode: only the lesson on screen · F5 (Esc leaves)")
        .clicked()
    {
        settings.lecture.presenting = true;
    }
}

/// The presenter view's toggle's text.
const PRESENTER_VIEW: &str = "Presenter view";

/// The width the presenter view's toggle takes in a row of `ui`, with the space before it.
#[must_use]
pub fn presenter_toggle_width(ui: &egui::Ui) -> f32 {
    let text = egui::WidgetText::from(PRESENTER_VIEW).into_galley(
        ui,
        Some(egui::TextWrapMode::Extend),
        f32::INFINITY,
        egui::TextStyle::Button,
    );
    text.size().x + 2.0 * ui.spacing().button_padding.x + ui.spacing().item_spacing.x
}

/// The presenter view's toggle (at the end of the top bar): opens and closes the audience
/// window.
pub fn presenter_toggle_ui(ui: &mut egui::Ui, settings: &mut Settings) {
    if ui
        .selectable_label(settings.lecture.audience, PRESENTER_VIEW)
        .on_hover_text(
            "A second window for the projector shows the presentation; this one keeps the controls \
             and the chapter's notes · F6 (Esc or F6 in it, or its close button, closes it)",
        )
        .clicked()
    {
        settings.lecture.audience = !settings.lecture.audience;
    }
}

/// The folded math panel, shown on demand in a window over the views (closed with its ×,
/// the "math" toggle or Ctrl+M).
pub fn math_overlay_ui(ui: &egui::Ui, settings: &mut Settings, model: &Model, area: egui::Rect) {
    let mut open = settings.lecture.math_open;
    egui::Window::new("math · Ctrl+M")
        .id(egui::Id::unique("math_overlay"))
        .open(&mut open)
        .collapsible(false)
        .resizable(false)
        .default_width(MATH_WIDTH)
        .max_height(area.height() - 40.0)
        .anchor(egui::Align2::RIGHT_TOP, egui::vec2(-8.0, area.top() + 8.0))
        .constrain_to(area)
        .show(ui.ctx(), |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| math_panel::math_ui(ui, settings, model));
        });
    settings.lecture.math_open = open;
}

/// `add` in a column `width` points wide (at most the available width), centred in `ui`.
pub fn centred<R>(ui: &mut egui::Ui, width: f32, add: impl FnOnce(&mut egui::Ui) -> R) -> R {
    let available = ui.available_rect_before_wrap();
    let width = width.min(available.width());
    let left = available.center().x - width / 2.0;
    let rect = egui::Rect::from_min_max(
        egui::pos2(left, available.top()),
        egui::pos2(left + width, available.bottom()),
    );
    ui.scope_builder(egui::UiBuilder::new().max_rect(rect), add).inner
}
