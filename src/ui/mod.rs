//! The panels of the one window (see `shared/UI.md`): top bar, controls on the left,
//! the tabs in the centre, the plots that follow `t` at the bottom, the status line.
//!
//! Panels only lay out: they read [`Model`], edit [`Settings`] in place and push
//! [`Command`]s; the app applies both after layout.

pub mod audience;
pub mod chapter;
pub mod compare_tab;
pub mod controls;
pub mod d3pm_view;
pub mod draw;
pub mod elbo_tab;
pub mod flow_view;
pub mod forward_tab;
pub mod latent_tab;
pub mod layout;
pub mod markov_tab;
pub mod math_panel;
pub mod model_panel;
pub mod path_prompt;
pub mod plots;
pub mod presentation;
pub mod quality_view;
pub mod reverse_tab;
pub mod status;
pub mod tex;
pub mod theme;
pub mod top_bar;
pub mod training_plots;
pub mod training_view;

use crate::app::settings::{Settings, Tab};
use crate::app::{Command, Model};

/// Lays out the whole window: presentation mode's lesson alone, or the panels around
/// the central tabs.
pub fn app_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model, commands: &mut Vec<Command>) {
    // egui remembers scroll offsets between runs; each run opens the side panels at their
    // top (the Data section), wherever the last run left them.
    let first_frame = ui.ctx().data_mut(|d| {
        let id = egui::Id::unique("diffscope-first-frame-done");
        let first = d.get_temp::<bool>(id).is_none();
        d.insert_temp(id, true);
        first
    });
    if size_unknown(ui.ctx()) {
        ui.ctx().request_repaint();
        return;
    }
    if settings.lecture.presenting {
        presentation::presentation_ui(ui, settings, model, commands);
    } else {
        panels_ui(ui, settings, model, commands, first_frame);
    }
    // The presenter view's audience window, from the state the main window just laid out.
    audience::audience_window_ui(ui.ctx(), settings, model, commands);
    if settings.show_frame_times {
        status::frame_time_overlay(ui.ctx(), model);
    }
    match &model.path_prompt {
        Some(prompt) => path_prompt::path_prompt_ui(ui.ctx(), settings, prompt, commands),
        None => path_prompt::forget_path_text(ui.ctx()),
    }
}

/// Whether this viewport's size is still unknown: eframe's first passes run before a
/// window's size is known, on egui's 10,000-pixel placeholder screen, and panels laid out
/// there would take their default sizes from it (a bottom panel 270 points high at
/// 1280×720).
fn size_unknown(ctx: &egui::Context) -> bool {
    ctx.input(|i| {
        let r = i.viewport_rect();
        (r.width() - r.height()).abs() < 1.0 && r.width() >= 5000.0
    })
}

/// The desk's layout: top bar, status line, plots, controls, math, and the tabs.
fn panels_ui(
    ui: &mut egui::Ui,
    settings: &mut Settings,
    model: &Model,
    commands: &mut Vec<Command>,
    first_frame: bool,
) {
    let window = ui.available_rect_before_wrap();
    egui::Panel::top("top_bar").show(ui, |ui| top_bar::top_bar_ui(ui, settings, model, commands));
    egui::Panel::bottom("status").show(ui, |ui| status::status_ui(ui, model, commands));
    // The ELBO tab plots its own quantities; the Markov chain and VAE → VDM tabs have no `t`.
    if !matches!(settings.tab, Tab::Elbo | Tab::Markov | Tab::Vae) {
        let mut shown = settings.show_plots;
        egui::Panel::bottom("plots")
            .resizable(true)
            .default_size(layout::plots_height(window.height()))
            .min_size(layout::MIN_PLOTS_HEIGHT)
            .max_size(window.height() * 0.6)
            .show_collapsible(ui, &mut shown, |ui| plots::bottom_ui(ui, settings, model));
        settings.show_plots = shown;
    }
    let mut shown = settings.show_controls;
    egui::Panel::left("controls")
        .resizable(true)
        .default_size(300.0)
        .max_size(window.width() * 0.4)
        .show_collapsible(ui, &mut shown, |ui| {
            top_on_first_frame(egui::ScrollArea::vertical(), first_frame)
                .show(ui, |ui| controls::controls_ui(ui, settings, model, commands));
        });
    settings.show_controls = shown;
    let room = ui.available_rect_before_wrap().width();
    settings.lecture.math_folded = layout::math_folds(room);
    if settings.lecture.math_folded {
        if settings.lecture.math_open {
            layout::math_overlay_ui(ui, settings, model, ui.available_rect_before_wrap());
        }
    } else {
        let mut shown = settings.show_math;
        egui::Panel::right("math")
            .resizable(true)
            .default_size(layout::MATH_WIDTH)
            .max_size((room - layout::MIN_VIEWS_WIDTH).max(layout::MATH_WIDTH))
            .show_collapsible(ui, &mut shown, |ui| {
                top_on_first_frame(egui::ScrollArea::vertical(), first_frame)
                    .show(ui, |ui| math_panel::math_ui(ui, settings, model));
            });
        settings.show_math = shown;
    }
    egui::CentralPanel::default().show(ui, |ui| {
        // The open chapter sits atop the math panel; without the panel (hidden or folded),
        // atop the tabs.
        if let Some(deck) = model
            .deck
            .as_ref()
            .filter(|_| !settings.show_math || settings.lecture.math_folded)
        {
            // At most a third of the height: the chapter's formulas scroll, the views keep
            // the rest (at 1280×720 the ELBO slide's block took half the central panel).
            egui::ScrollArea::vertical()
                .id_salt("chapter-atop-tabs")
                .max_height(ui.available_height() / 3.0)
                .show(ui, |ui| chapter::chapter_ui(ui, deck));
            ui.separator();
        }
        ui.horizontal_wrapped(|ui| {
            tabs_ui(ui, settings, tab_size(ui));
            ui.separator();
            layout::panel_toggles_ui(ui, settings);
        });
        ui.separator();
        match settings.tab {
            Tab::Vae => latent_tab::latent_ui(ui, settings, model, commands),
            Tab::Markov => markov_tab::markov_ui(ui, settings, model, commands),
            Tab::Forward => forward_tab::forward_ui(ui, settings, model, commands),
            Tab::Reverse => reverse_tab::reverse_ui(ui, settings, model, commands),
            Tab::Compare => compare_tab::compare_ui(ui, settings, model, commands),
            Tab::Elbo => elbo_tab::elbo_ui(ui, settings, model, commands),
        }
    });
}

/// The tab buttons, their labels `size` points high.
fn tabs_ui(ui: &mut egui::Ui, settings: &mut Settings, size: f32) {
    for tab in Tab::ALL {
        ui.selectable_value(
            &mut settings.tab,
            tab,
            egui::RichText::new(tab.label()).size(size),
        );
    }
}

/// The tab labels' size: the heading's where the tabs and the panel toggles fit on one
/// line, else smaller (down to the body's), so that the row does not wrap and take a line
/// from the views (six tabs at 1280×720 did).
fn tab_size(ui: &egui::Ui) -> f32 {
    let heading = egui::TextStyle::Heading.resolve(ui.style()).size;
    let body = egui::TextStyle::Body.resolve(ui.style()).size;
    let padding = 2.0 * ui.spacing().button_padding.x + ui.spacing().item_spacing.x;
    let width = |text: &str, size: f32| {
        ui.fonts_mut(|f| {
            f.layout_no_wrap(
                text.to_owned(),
                egui::FontId::proportional(size),
                egui::Color32::WHITE,
            )
            .size()
            .x
        }) + padding
    };
    let toggles: f32 = ["controls", "plots", "math", "Present"]
        .iter()
        .map(|t| width(t, body))
        .sum::<f32>()
        + 3.0 * ui.spacing().item_spacing.x;
    let room = ui.available_width() - toggles;
    let tabs = |size: f32| Tab::ALL.iter().map(|t| width(t.label(), size)).sum::<f32>();
    let mut size = heading;
    while size > body && tabs(size) > room {
        size -= 1.0;
    }
    size
}

/// `area` scrolled to its top in a run's first frame.
fn top_on_first_frame(area: egui::ScrollArea, first_frame: bool) -> egui::ScrollArea {
    if first_frame {
        area.vertical_scroll_offset(0.0)
    } else {
        area
    }
}

/// A section heading in the side panels.
pub fn section(ui: &mut egui::Ui, title: &str) {
    ui.add_space(6.0);
    ui.label(egui::RichText::new(title).strong().size(16.0));
}
