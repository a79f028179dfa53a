//! The open deck in the window: opening one, stepping through its chapters, applying a
//! chapter, and saving the current view as a chapter. The format is `app::deck`.
//!
//! A chapter is applied as the user's own clicks would be: its settings are set before
//! the frame's changes are applied (so a schedule goes through the same check, and a bad
//! one is refused with the same message), its data through the loader, its model through
//! the same commands as the model panel's buttons, once the data is on screen.

use std::io::Write as _;
use std::path::Path;

use super::DiffscopeApp;
use super::command::Command;
use super::deck::{self, Chapter, ChapterView, Deck, DeckError, DeckSource, ModelChoice};
use super::options::AutoStart;
use super::reverse::LearnedOrigin;
use super::settings::{DenoiserKind, MarkovMode, Tab, point_mass, rows_of};
use crate::diffusion::finite::Transition;

/// The open deck and the chapter on screen (what the UI reads).
#[derive(Clone, Debug, PartialEq)]
pub struct DeckView {
    /// The deck.
    pub deck: Deck,
    /// The chapter on screen (0-based).
    pub current: usize,
}

impl DeckView {
    /// The chapter on screen.
    #[must_use]
    pub fn chapter(&self) -> &Chapter {
        &self.deck.chapters[self.current]
    }

    /// "3 / 12".
    #[must_use]
    pub fn position(&self) -> String {
        format!("{} / {}", self.current + 1, self.deck.chapters.len())
    }
}

/// What a chapter does once its data is on screen.
#[derive(Clone, Debug, Default)]
pub(super) struct AfterLoad {
    /// The model commands (as the model panel's buttons push them).
    pub(super) commands: Vec<Command>,
    /// Start the reverse chain.
    pub(super) sample: bool,
}

impl DiffscopeApp {
    /// Runs the deck commands among the queued ones (before the frame's changes are
    /// applied, so a chapter's settings are applied like an edit of the user's).
    pub(super) fn deck_commands(&mut self) {
        let (deck, rest): (Vec<Command>, Vec<Command>) = std::mem::take(&mut self.commands)
            .into_iter()
            .partition(Command::is_deck);
        self.commands = rest;
        for command in deck {
            match command {
                Command::OpenDeck(source) => self.open_deck(&source, 0),
                Command::GoToChapter(i) => self.go_to_chapter(i),
                Command::NextChapter => self.step_chapter(1),
                Command::PrevChapter => self.step_chapter(-1),
                Command::CloseDeck => {
                    self.model.deck = None;
                    self.play_range = None;
                }
                Command::SaveChapter => self.save_chapter(),
                Command::SaveChapterTo(path) => self.save_chapter_to(&path),
                _ => unreachable!("partitioned by Command::is_deck"),
            }
        }
    }

    /// Opens a deck at chapter `index` (clamped); on an error the status says why and
    /// nothing else changes.
    pub(super) fn open_deck(&mut self, source: &DeckSource, index: usize) {
        match deck::open(source) {
            Ok(deck) => {
                let current = index.min(deck.chapters.len() - 1);
                self.model.status.info = Some(format!(
                    "opened deck \"{}\" ({} chapters; PageDown/PageUp step through them)",
                    deck.title,
                    deck.chapters.len()
                ));
                self.model.deck = Some(DeckView { deck, current });
                self.apply_chapter();
            }
            Err(e) => self.model.status.error = Some(e.to_string()),
        }
    }

    fn go_to_chapter(&mut self, index: usize) {
        let Some(view) = &mut self.model.deck else { return };
        if index < view.deck.chapters.len() {
            view.current = index;
            self.apply_chapter();
        }
    }

    fn step_chapter(&mut self, delta: isize) {
        let Some(view) = &self.model.deck else {
            self.model.status.info = Some("no deck open: Deck → the lecture, or --deck lecture".into());
            return;
        };
        let last = view.deck.chapters.len() - 1;
        let next = view.current.saturating_add_signed(delta).min(last);
        if next != view.current {
            self.go_to_chapter(next);
        }
    }

    /// Sets the window to the chapter on screen.
    fn apply_chapter(&mut self) {
        let Some(deck) = &self.model.deck else { return };
        let view = deck.chapter().view.clone();
        let s = &mut self.settings;
        s.tab = view.tab;
        s.schedule = view.schedule;
        s.overlay = view.overlay;
        s.t = view.t;
        s.speed_steps_per_s = view.speed;
        s.reverse.sampler = view.sampler;
        s.reverse.ddim_steps = view.ddim_steps;
        s.reverse.ddim_eta = view.ddim_eta;
        s.reverse.class = view.class;
        s.reverse.guidance = view.guidance;
        s.elbo.axis = view.elbo_axis;
        s.elbo.cumulative = view.elbo_cumulative;
        s.elbo.posterior_variance = view.posterior_variance;
        // The Markov chain tab's chain, as every other key: whatever the chapter's tab.
        let k = view.markov_states;
        s.markov.k = k;
        s.markov.preset = Some(view.markov_preset.name().to_owned());
        s.markov.rows = rows_of(&Transition::preset(view.markov_preset, k));
        s.markov.p0 = point_mass(0, k);
        s.markov.n = view.n;
        s.markov.mode = if view.discrete.is_some() {
            MarkovMode::Digits
        } else {
            MarkovMode::Finite
        };
        if let Some(kind) = view.discrete {
            s.d3pm.kind = kind;
        }
        s.latent.mode = view.latent;
        s.latent.beta = view.vae_beta;
        s.latent.levels = view.levels;
        s.latent.fixed_encoders = view.switches >= 2;
        s.latent.to_noise = view.switches >= 3;
        self.model.markov.playing = false;
        self.model.markov.message = None;
        self.play_range = view.play;
        self.model.playing = view.play.is_some();
        self.play_accumulator = 0.0;
        // A chain the chapter before asked for and that has not started yet (waiting for
        // its data, or queued this frame) is not this chapter's.
        self.auto_start = None;
        self.commands
            .retain(|c| !matches!(c, Command::Sample | Command::StepChain | Command::PauseChain(_)));
        let mut after = AfterLoad {
            commands: Vec::new(),
            sample: view.sample,
        };
        match view.model {
            ModelChoice::Learned => s.reverse.denoiser = DenoiserKind::Learned,
            ModelChoice::Ideal => after.commands.push(Command::UseIdealDenoiser),
            ModelChoice::Shipped => after.commands.push(Command::UseShippedModel),
            ModelChoice::File(path) => after.commands.push(Command::LoadModel(path)),
        }
        // A chain belongs to the chapter before: a live one would keep the worker (and the
        // ELBO estimates, which wait for it) busy, and its frames would move `t`.
        let learning = &mut self.model.learning;
        if let Some(chain) = learning.chain.take() {
            learning.texture_key = None;
            let training = learning
                .training
                .as_ref()
                .is_some_and(super::reverse::TrainingView::running);
            if !chain.done && !training {
                self.ml.send(crate::worker::model::ModelCommand::Cancel);
            }
        }
        // A load in flight (a chapter before) would replace this chapter's data: load again.
        if view.source != self.settings.source || self.loader.is_some() {
            self.commands.push(Command::Load(view.source));
            self.after_load = Some(after);
        } else {
            self.after_load = None;
            self.run_after_load(after);
        }
    }

    /// What a chapter does once its data is on screen.
    pub(super) fn run_after_load(&mut self, after: AfterLoad) {
        self.commands.extend(after.commands);
        if after.sample {
            self.auto_start = Some(AutoStart::Sample);
        }
    }

    /// The view on screen, as a chapter would describe it.
    #[must_use]
    pub fn current_view(&self) -> ChapterView {
        let s = &self.settings;
        let learning = &self.model.learning;
        let model = match (s.reverse.denoiser, learning.learned.as_ref().map(|m| &m.origin)) {
            (DenoiserKind::Ideal, _) => ModelChoice::Ideal,
            (DenoiserKind::Learned, Some(LearnedOrigin::Shipped(_))) => ModelChoice::Shipped,
            (DenoiserKind::Learned, Some(LearnedOrigin::File(path))) => ModelChoice::File(path.clone()),
            (DenoiserKind::Learned, _) => ModelChoice::Learned,
        };
        ChapterView {
            source: s.source.clone(),
            tab: s.tab,
            schedule: s.schedule.clone(),
            overlay: s.overlay.clone(),
            t: s.t,
            play: self.play_range.filter(|_| self.model.playing),
            speed: s.speed_steps_per_s,
            model,
            sampler: s.reverse.sampler,
            ddim_steps: s.reverse.ddim_steps,
            ddim_eta: s.reverse.ddim_eta,
            class: s.reverse.class,
            guidance: s.reverse.guidance,
            sample: s.tab == Tab::Reverse && learning.chain.is_some(),
            elbo_axis: s.elbo.axis,
            elbo_cumulative: s.elbo.cumulative,
            posterior_variance: s.elbo.posterior_variance,
            markov_preset: deck::preset_of(&s.markov),
            markov_states: s.markov.k,
            n: s.markov.n,
            discrete: (s.markov.mode == MarkovMode::Digits).then_some(s.d3pm.kind),
            latent: s.latent.mode,
            vae_beta: s.latent.beta,
            levels: s.latent.levels,
            switches: 1 + u8::from(s.latent.fixed_encoders) + u8::from(s.latent.to_noise),
        }
    }

    /// "Save current view as a chapter": appended to the open deck's file; the built-in
    /// deck (or no deck) has no file, so a dialog asks where to write one.
    fn save_chapter(&mut self) {
        match self.model.deck.as_ref().map(|d| d.deck.source.clone()) {
            Some(DeckSource::File(path)) => self.save_chapter_to(&path),
            Some(DeckSource::Lecture) | None => {
                self.commands.push(Command::SaveDeckDialog);
            }
        }
    }

    /// Appends the current view as a chapter to the deck file `path` (a new file starts
    /// with the open deck's chapters, so saving from the built-in lecture gives an
    /// editable copy of it), then opens that deck at the new chapter.
    pub(super) fn save_chapter_to(&mut self, path: &Path) {
        let folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let number = self.model.deck.as_ref().map_or(1, |d| d.deck.chapters.len() + 1);
        let view = self.current_view();
        let chapter = Chapter {
            title: format!(
                "Chapter {number}: {} on {}",
                tab_title(view.tab),
                self.model.scene.name
            ),
            formulas: Vec::new(),
            caption: String::new(),
            view,
            line: 0,
        };
        let mut text = String::new();
        if !path.exists() {
            text.push_str(&new_deck_header(self.model.deck.as_ref(), &folder));
        }
        text.push('\n');
        text.push_str(&deck::chapter_toml(&chapter, &folder));
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        if let Err(e) = written {
            let e = DeckError::Write {
                file: path.display().to_string(),
                message: e.to_string(),
            };
            self.model.status.error = Some(e.to_string());
            return;
        }
        // Reopen (the file is the truth) at the new chapter, without applying it: it is
        // what is on screen.
        match deck::open(&DeckSource::File(path.to_path_buf())) {
            Ok(deck) => {
                let current = deck.chapters.len() - 1;
                self.model.status.info = Some(format!(
                    "saved the view as chapter {} of {}",
                    current + 1,
                    path.display()
                ));
                self.model.deck = Some(DeckView { deck, current });
            }
            Err(e) => self.model.status.error = Some(e.to_string()),
        }
    }
}

/// The first lines of a new deck file: a title and, if a deck is open, its chapters.
fn new_deck_header(open: Option<&DeckView>, folder: &Path) -> String {
    let title = open.map_or_else(|| "My lecture".to_owned(), |d| d.deck.title.clone());
    let mut text = format!(
        "# A diffscope deck (README, \"Decks\"): one [[chapter]] table per chapter, in order.\n\
         title = {}\n",
        deck::toml_string(&title)
    );
    if let Some(open) = open {
        for chapter in &open.deck.chapters {
            text.push('\n');
            text.push_str(&deck::chapter_toml(chapter, folder));
        }
    }
    text
}

/// A tab's name in a saved chapter's title.
const fn tab_title(tab: Tab) -> &'static str {
    match tab {
        Tab::Vae => "from the VAE to the VDM",
        Tab::Markov => "a finite Markov chain",
        Tab::Forward => "the forward chain",
        Tab::Reverse => "the reverse chain",
        Tab::Elbo => "the ELBO",
        Tab::Compare => "schedules compared",
    }
}
