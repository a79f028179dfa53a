//! The top bar: data, schedule, `T`, play, the global `t` slider and the presenter view's
//! toggle.

use super::layout;
use crate::app::settings::{MAX_WINDOW_STEPS, Settings, SourceChoice};
use crate::app::{Command, Model};
use crate::data::{BuiltinImage, Dataset};
use crate::diffusion::ScheduleKind;

/// The label of the data on screen in the data menu.
fn source_label(source: &SourceChoice) -> String {
    match source {
        SourceChoice::Image(name) => name.clone(),
        SourceChoice::Dataset(name) => name
            .parse::<Dataset>()
            .map_or_else(|_| name.clone(), |d| d.label().to_owned()),
        SourceChoice::File(path) => path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        ),
        SourceChoice::Digits => "digits (8×8)".into(),
        SourceChoice::Glyphs => "glyph digits (28×28)".into(),
        SourceChoice::Drawing => "your drawing".into(),
    }
}

/// The data menu's last 2D set: the drawing (kept while other data is on screen), or a
/// new one; choosing it turns draw mode on, and an empty one opens the Forward tab.
fn drawing_entry_ui(ui: &mut egui::Ui, settings: &mut Settings, commands: &mut Vec<Command>) {
    let n = settings.drawing.len();
    let text = if n == 0 {
        "a new drawing".to_owned()
    } else {
        format!("your drawing ({n} points)")
    };
    if ui
        .selectable_label(settings.source == SourceChoice::Drawing, text)
        .on_hover_text("Draw 2D data with the brush on the Forward tab's first view")
        .clicked()
    {
        commands.push(Command::Load(SourceChoice::Drawing));
        settings.draw.on = true;
        if n == 0 {
            settings.tab = crate::app::settings::Tab::Forward;
        }
    }
}

/// A group's name in the data menu.
fn group_heading(ui: &mut egui::Ui, name: &str) {
    ui.label(egui::RichText::new(name).small().weak());
}

/// Whether the play button shows "pause": in the Reverse tab, play/pause drive the
/// reverse chain (as Space does); elsewhere `t`'s playback.
#[must_use]
pub fn playing(settings: &Settings, model: &Model) -> bool {
    if settings.steps_n() {
        model.markov.playing
    } else if settings.tab == crate::app::settings::Tab::Reverse {
        model
            .learning
            .chain
            .as_ref()
            .is_some_and(crate::app::reverse::ChainView::running)
    } else {
        model.playing
    }
}

/// Lays out the top bar.
pub fn top_bar_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model, commands: &mut Vec<Command>) {
    ui.add_space(4.0);
    ui.horizontal(|ui| {
        crate::ui::chapter::deck_menu_ui(ui, model.deck.as_ref(), commands);
        ui.separator();
        let label = ui.label("Data");
        egui::ComboBox::from_id_salt("data")
            .selected_text(source_label(&settings.source))
            .width(150.0)
            // All ten entries and their three headings, with no scrolling, down to a
            // 720-pixel window (the default popup height hides the last two).
            .height(f32::INFINITY)
            .show_ui(ui, |ui| {
                group_heading(ui, "photos");
                for image in BuiltinImage::ALL {
                    let choice = SourceChoice::image(image);
                    if ui
                        .selectable_label(settings.source == choice, image.label())
                        .clicked()
                    {
                        commands.push(Command::Load(choice));
                    }
                }
                group_heading(ui, "digits");
                if ui
                    .selectable_label(settings.source == SourceChoice::Digits, "digits (8×8)")
                    .on_hover_text("1797 handwritten 8×8 digits; the view shows the first 64")
                    .clicked()
                {
                    commands.push(Command::Load(SourceChoice::Digits));
                }
                if ui
                    .selectable_label(settings.source == SourceChoice::Glyphs, "glyph digits (28×28)")
                    .on_hover_text(
                        "2000 digits drawn from the app's fonts with random rotation, shear, size, \
                         stroke and blur; the view shows the first 16",
                    )
                    .clicked()
                {
                    commands.push(Command::Load(SourceChoice::Glyphs));
                }
                group_heading(ui, "2D sets");
                for dataset in Dataset::ALL {
                    let choice = SourceChoice::dataset(dataset);
                    if ui
                        .selectable_label(settings.source == choice, dataset.label())
                        .clicked()
                    {
                        commands.push(Command::Load(choice));
                    }
                }
                drawing_entry_ui(ui, settings, commands);
            })
            .response
            .labelled_by(label.id);
        if ui
            .button("Open…")
            .on_hover_text(
                "An image (PNG, JPEG, GIF, BMP, WebP) or a points CSV; or drop a file on the window",
            )
            .clicked()
        {
            commands.push(Command::OpenDialog);
        }
        ui.separator();
        let label = ui.label("Schedule");
        egui::ComboBox::from_id_salt("schedule")
            .selected_text(settings.schedule.kind.label())
            .width(130.0)
            .show_ui(ui, |ui| {
                for kind in ScheduleKind::ALL {
                    ui.selectable_value(&mut settings.schedule.kind, kind, kind.label());
                }
            })
            .response
            .labelled_by(label.id);
        let label = ui.label("T");
        ui.add(
            egui::DragValue::new(&mut settings.schedule.steps)
                .range(2..=MAX_WINDOW_STEPS)
                .speed(5.0)
                // Typing "50" must not pass through T = 5 (which clamps t and rebuilds
                // the schedule): the number applies on Enter or when the field loses focus.
                .update_while_editing(false),
        )
        .labelled_by(label.id)
        .on_hover_text("Number of steps T (2 to 10,000)");
        ui.separator();
        play_button(ui, settings, model, commands);
        let steps = model.schedule.steps();
        // Leave room for the value box, the slider's "t" and the presenter view's toggle.
        let width = (ui.available_width() - 110.0 - layout::presenter_toggle_width(ui)).max(120.0);
        ui.spacing_mut().slider_width = width;
        ui.add(egui::Slider::new(&mut settings.t, 0..=steps).text("t"))
            .on_hover_text("← → one step, Shift+← → ten, Home/End");
        layout::presenter_toggle_ui(ui, settings);
    });
    ui.add_space(2.0);
}

/// Play or Pause (Space), for whatever plays on this tab.
pub fn play_button(ui: &mut egui::Ui, settings: &Settings, model: &Model, commands: &mut Vec<Command>) {
    let play = if playing(settings, model) {
        "■ Pause"
    } else {
        "▶ Play"
    };
    if ui.button(play).on_hover_text("Space").clicked() {
        commands.push(Command::TogglePlay);
    }
}
