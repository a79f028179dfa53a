//! The deck in the window: the top bar's chapter menu (the list, "3 / 12", open, save,
//! close) and the open chapter's title, formulas and caption.

use egui::RichText;

use crate::app::Command;
use crate::app::chapters::DeckView;
use crate::app::deck::DeckSource;
use crate::ui::math_panel::{FORMULA_SIZE, shared_cache};
use crate::ui::tex::tex_ui;

/// The top bar's deck controls: ◀, the chapter menu ("Chapter 3 / 12"), ▶; or a "Deck"
/// menu when none is open.
pub fn deck_menu_ui(ui: &mut egui::Ui, deck: Option<&DeckView>, commands: &mut Vec<Command>) {
    let Some(view) = deck else {
        ui.menu_button("Deck", |ui| deck_actions_ui(ui, None, commands))
            .response
            .on_hover_text("Open a lecture deck: chapters that set the window up, slide by slide");
        return;
    };
    let first = view.current == 0;
    let last = view.current + 1 == view.deck.chapters.len();
    if ui
        .add_enabled(!first, egui::Button::new("◀"))
        .on_hover_text("Previous chapter (PageUp)")
        .clicked()
    {
        commands.push(Command::PrevChapter);
    }
    ui.menu_button(format!("Chapter {}", view.position()), |ui| {
        ui.label(RichText::new(&view.deck.title).strong());
        egui::ScrollArea::vertical().max_height(420.0).show(ui, |ui| {
            for (i, chapter) in view.deck.chapters.iter().enumerate() {
                let text = format!("{}. {}", i + 1, chapter.title);
                if ui.selectable_label(i == view.current, text).clicked() {
                    commands.push(Command::GoToChapter(i));
                    ui.close();
                }
            }
        });
        ui.separator();
        deck_actions_ui(ui, Some(view), commands);
    })
    .response
    .on_hover_text(format!("{}: the chapter list", view.deck.title));
    if ui
        .add_enabled(!last, egui::Button::new("▶"))
        .on_hover_text("Next chapter (PageDown)")
        .clicked()
    {
        commands.push(Command::NextChapter);
    }
}

/// Open, save into, close.
fn deck_actions_ui(ui: &mut egui::Ui, deck: Option<&DeckView>, commands: &mut Vec<Command>) {
    if ui
        .button("Open the lecture")
        .on_hover_text("The built-in deck (--deck lecture)")
        .clicked()
    {
        commands.push(Command::OpenDeck(DeckSource::Lecture));
    }
    if ui
        .button("Open deck…")
        .on_hover_text("A deck file (TOML; README, \"Decks\"); or --deck FILE")
        .clicked()
    {
        commands.push(Command::OpenDeckDialog);
    }
    let into = match deck.map(|d| &d.deck.source) {
        Some(DeckSource::File(path)) => format!("Appends it to {}", path.display()),
        _ => "Asks for a deck file to write (a new file starts as a copy of the open deck)".to_owned(),
    };
    if ui.button("Save view as chapter").on_hover_text(into).clicked() {
        commands.push(Command::SaveChapter);
    }
    if deck.is_some() && ui.button("Close deck").clicked() {
        commands.push(Command::CloseDeck);
    }
}

/// The open chapter: its number and title, formulas and caption.
pub fn chapter_ui(ui: &mut egui::Ui, view: &DeckView) {
    let chapter = view.chapter();
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new(view.position()).weak());
        ui.label(RichText::new(&chapter.title).heading());
    });
    if !chapter.formulas.is_empty() {
        let cache = shared_cache(ui.ctx());
        let mut cache = cache.lock();
        let color = ui
            .visuals()
            .override_text_color
            .unwrap_or_else(|| ui.visuals().text_color());
        for (i, tex) in chapter.formulas.iter().enumerate() {
            ui.add_space(2.0);
            // Shrunk to the panel's width down to a legible size; a formula still wider
            // scrolls sideways rather than widening the panel (and squeezing the views).
            let available = ui.available_width();
            let size = cache
                .get(ui.ctx(), tex, FORMULA_SIZE, color, ui.pixels_per_point())
                .map_or(FORMULA_SIZE, |image| fitted(image.size.x, available));
            egui::ScrollArea::horizontal()
                .id_salt(("chapter-formula", i))
                .show(ui, |ui| tex_ui(ui, &mut cache, tex, size));
        }
    }
    if !chapter.caption.is_empty() {
        ui.add(egui::Label::new(RichText::new(&chapter.caption).italics()).wrap());
    }
}

/// The size (in ½-pt steps) at which a formula `width` points wide at [`FORMULA_SIZE`]
/// fits `available`, at least [`MIN_CHAPTER_SIZE`].
fn fitted(width: f32, available: f32) -> f32 {
    if width <= available || !available.is_finite() || available <= 0.0 {
        return FORMULA_SIZE;
    }
    ((FORMULA_SIZE * available / width * 2.0).floor() / 2.0).clamp(MIN_CHAPTER_SIZE, FORMULA_SIZE)
}

/// The smallest size a chapter's formula is shrunk to, in points.
const MIN_CHAPTER_SIZE: f32 = 11.0;

/// One line for a strip or a caption bar: "3 / 12 · title — caption".
#[must_use]
pub fn caption_line(view: &DeckView) -> String {
    let chapter = view.chapter();
    if chapter.caption.is_empty() {
        format!("{} · {}", view.position(), chapter.title)
    } else {
        format!("{} · {} — {}", view.position(), chapter.title, chapter.caption)
    }
}
