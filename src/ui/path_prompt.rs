//! The path field shown where no desktop file dialog answered: type a path (Tab
//! completes, the folder's matching entries are listed), or pick a recent file.

use egui::{Key, Modifiers, RichText};

use super::theme;
use crate::app::Command;
use crate::app::dialogs::DialogKind;
use crate::app::path_prompt::{PathPrompt, common_prefix, completions};
use crate::app::settings::Settings;

/// Entries of the folder listed under the field.
const SHOWN_COMPLETIONS: usize = 8;

/// Draws the path field as a modal window while one is open.
pub fn path_prompt_ui(
    ctx: &egui::Context,
    settings: &Settings,
    prompt: &PathPrompt,
    commands: &mut Vec<Command>,
) {
    let field_id = egui::Id::unique("diffscope_path_field");
    // The text being typed lives in egui's memory while the field is open (one field at a
    // time); it starts at the folder the app suggests.
    let mut text = ctx
        .data(|d| d.get_temp::<(DialogKind, String)>(field_id))
        .filter(|(kind, _)| *kind == prompt.kind)
        .map_or_else(|| prompt.start.clone(), |(_, text)| text);
    let first_frame = ctx
        .data(|d| d.get_temp::<(DialogKind, String)>(field_id))
        .is_none();
    let folders_only = prompt.kind.wants_folder();
    let options = completions(&text, folders_only);
    let mut submit = false;
    let modal = egui::Modal::new(egui::Id::unique("diffscope_path_prompt")).show(ctx, |ui| {
        ui.set_width(560.0_f32.min(ctx.content_rect().width() - 40.0));
        ui.heading(prompt.kind.title());
        if !prompt.note.is_empty() {
            ui.label(RichText::new(&prompt.note).weak());
        }
        if let Some(why) = &prompt.refused {
            ui.label(RichText::new(why).color(theme::error_color(ui.visuals().dark_mode)));
        }
        // Tab completes to what every matching entry shares (before the field sees it).
        if ui.memory(|m| m.has_focus(field_id))
            && ui.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Tab))
            && let Some(prefix) = common_prefix(&options)
            && prefix.len() > text.len()
        {
            text = prefix;
            move_cursor_to_end(ui.ctx(), field_id, &text);
        }
        let field = ui.add(
            egui::TextEdit::singleline(&mut text)
                .id(field_id)
                // Tab completes here instead of moving the focus on.
                .event_filter(egui::EventFilter {
                    tab: true,
                    ..egui::EventFilter::default()
                })
                .desired_width(f32::INFINITY)
                .hint_text(if folders_only {
                    "/path/to/folder"
                } else {
                    "/path/to/file"
                }),
        );
        // Back into the field when it opens and when a path was refused (to correct it).
        let refusal_id = field_id.with("refusal");
        let refusal_seen = ui.data(|d| d.get_temp::<Option<String>>(refusal_id));
        if first_frame || refusal_seen.as_ref() != Some(&prompt.refused) {
            ui.data_mut(|d| d.insert_temp(refusal_id, prompt.refused.clone()));
            field.request_focus();
            move_cursor_to_end(ui.ctx(), field_id, &text);
        }
        if field.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter)) {
            submit = true;
        }
        if let Some(chosen) = completions_ui(ui, &options, &text) {
            text = chosen;
            field.request_focus();
            move_cursor_to_end(ui.ctx(), field_id, &text);
        }
        if !folders_only {
            recent_ui(ui, settings, commands);
        }
        ui.separator();
        ui.horizontal(|ui| {
            let verb = match prompt.kind {
                DialogKind::OpenData
                | DialogKind::OpenModel
                | DialogKind::OpenDeck
                | DialogKind::OpenLatent => "Open",
                DialogKind::ExportDir => "Choose",
                DialogKind::SaveModel
                | DialogKind::SaveDeck
                | DialogKind::SaveLatent
                | DialogKind::SaveDrawing => "Save",
            };
            if ui.button(verb).clicked() {
                submit = true;
            }
            if ui.button("Cancel").clicked() {
                commands.push(Command::ClosePathPrompt);
            }
        });
    });
    if submit {
        commands.push(Command::SubmitPath(text.trim().into()));
    }
    if modal.should_close() {
        commands.push(Command::ClosePathPrompt);
    }
    ctx.data_mut(|d| d.insert_temp(field_id, (prompt.kind, text)));
}

/// The folder's entries that match what is typed; the one clicked, if any.
fn completions_ui(ui: &mut egui::Ui, options: &[String], text: &str) -> Option<String> {
    let listed: Vec<&String> = options
        .iter()
        .filter(|o| **o != text)
        .take(SHOWN_COMPLETIONS)
        .collect();
    if listed.is_empty() {
        return None;
    }
    ui.label(RichText::new("in this folder (Tab completes):").small().weak());
    let mut chosen = None;
    for option in listed {
        let name = option.rsplit_terminator('/').next().unwrap_or(option);
        let shown = if option.ends_with('/') {
            format!("{name}/")
        } else {
            name.to_owned()
        };
        if ui
            .selectable_label(false, RichText::new(shown).monospace())
            .clicked()
        {
            chosen = Some(option.clone());
        }
    }
    chosen
}

/// The recent files that still exist, each one click from opening.
fn recent_ui(ui: &mut egui::Ui, settings: &Settings, commands: &mut Vec<Command>) {
    let recent: Vec<_> = settings.recent_files.iter().filter(|p| p.is_file()).collect();
    if recent.is_empty() {
        return;
    }
    ui.separator();
    ui.label(RichText::new("recent files:").small().weak());
    for path in recent {
        let shown = path.display().to_string();
        if ui
            .selectable_label(false, RichText::new(&shown).monospace())
            .clicked()
        {
            commands.push(Command::SubmitPath(path.clone()));
        }
    }
}

/// Forgets the text typed (the field was closed).
pub fn forget_path_text(ctx: &egui::Context) {
    let field_id = egui::Id::unique("diffscope_path_field");
    ctx.data_mut(|d| {
        d.remove::<(DialogKind, String)>(field_id);
        d.remove::<Option<String>>(field_id.with("refusal"));
    });
}

/// Puts the text cursor of the field `id` after its last character.
fn move_cursor_to_end(ctx: &egui::Context, id: egui::Id, text: &str) {
    if let Some(mut state) = egui::TextEdit::load_state(ctx, id) {
        let end = egui::text::CCursor::new(text.chars().count());
        state
            .cursor
            .set_char_range(Some(egui::text::CCursorRange::one(end)));
        state.store(ctx, id);
    }
}
