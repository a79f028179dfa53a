//! The panels of the one window (see `shared/UI.md`): top bar, controls on the left,
//! the tabs in the centre, the plots that follow `t` at the bottom, the status line.
//!
//! Panels only lay out: they read [`Model`], edit [`Settings`] in place and push
//! [`Command`]s; the app applies both after layout.

pub mod compare_tab;
pub mod controls;
pub mod elbo_tab;
pub mod forward_tab;
pub mod math_panel;
pub mod model_panel;
pub mod plots;
pub mod reverse_tab;
pub mod status;
pub mod theme;
pub mod top_bar;

use crate::app::settings::{Settings, Tab};
use crate::app::{Command, Model};

/// Lays out the whole window.
pub fn app_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model, commands: &mut Vec<Command>) {
    egui::Panel::top("top_bar").show(ui, |ui| top_bar::top_bar_ui(ui, settings, model, commands));
    egui::Panel::bottom("status").show(ui, |ui| status::status_ui(ui, settings, model, commands));
    // The ELBO tab plots its own quantities against t and log SNR and needs the height.
    if settings.tab != Tab::Elbo {
        egui::Panel::bottom("plots")
            .resizable(true)
            .default_size(270.0)
            .min_size(140.0)
            .show(ui, |ui| plots::bottom_ui(ui, settings, model));
    }
    egui::Panel::left("controls")
        .resizable(true)
        .default_size(300.0)
        .show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| controls::controls_ui(ui, settings, model, commands));
        });
    if settings.show_math {
        egui::Panel::right("math")
            .resizable(true)
            .default_size(330.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| math_panel::math_ui(ui, settings, model));
            });
    }
    egui::CentralPanel::default().show(ui, |ui| {
        ui.horizontal(|ui| {
            ui.selectable_value(
                &mut settings.tab,
                Tab::Forward,
                egui::RichText::new("Forward").heading(),
            );
            ui.selectable_value(
                &mut settings.tab,
                Tab::Reverse,
                egui::RichText::new("Reverse").heading(),
            );
            ui.selectable_value(
                &mut settings.tab,
                Tab::Elbo,
                egui::RichText::new("ELBO").heading(),
            );
            ui.selectable_value(
                &mut settings.tab,
                Tab::Compare,
                egui::RichText::new("Compare").heading(),
            );
        });
        ui.separator();
        match settings.tab {
            Tab::Forward => forward_tab::forward_ui(ui, settings, model),
            Tab::Reverse => reverse_tab::reverse_ui(ui, settings, model, commands),
            Tab::Compare => compare_tab::compare_ui(ui, settings, model, commands),
            Tab::Elbo => elbo_tab::elbo_ui(ui, settings, model, commands),
        }
    });
    if settings.show_frame_times {
        status::frame_time_overlay(ui.ctx(), model);
    }
}

/// A section heading in the side panels.
pub fn section(ui: &mut egui::Ui, title: &str) {
    ui.add_space(6.0);
    ui.label(egui::RichText::new(title).strong().size(16.0));
}
