//! Decks: a lecture as a list of chapters, each a slide's title, formulas and caption with
//! the state of the app it shows. The file format (TOML, one `[[chapter]]` table per
//! chapter; README, "Decks"), its checks, and the text of a saved chapter. Applying a
//! chapter to the window is `app::chapters`.
//!
//! Every error is one line naming the file, the line and the field; a deck either parses
//! and checks completely or is not opened at all, so a bad deck changes nothing.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

mod check;
mod write;

pub use self::write::{chapter_toml, toml_string};

use super::settings::{ElboAxis, SamplerKind, Settings, SourceChoice, Tab};
use crate::diffusion::finite::Preset;
use crate::diffusion::{ScheduleKind, ScheduleSpec};

/// The built-in deck: the lecture (`shared/seed/diffusion-lecture.md`), slide by slide.
pub const LECTURE: &str = include_str!("../../../assets/lecture.toml");

/// The name that opens the built-in deck (`--deck lecture`).
pub const LECTURE_NAME: &str = "lecture";

/// Where a deck comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeckSource {
    /// The built-in lecture.
    Lecture,
    /// A file.
    File(PathBuf),
}

impl DeckSource {
    /// `lecture` is the built-in deck; anything else is a file.
    #[must_use]
    pub fn from_arg(arg: &str) -> Self {
        if arg == LECTURE_NAME {
            Self::Lecture
        } else {
            Self::File(PathBuf::from(arg))
        }
    }

    /// How messages name it.
    #[must_use]
    pub fn display_name(&self) -> String {
        match self {
            Self::Lecture => "the built-in lecture deck".into(),
            Self::File(path) => path.display().to_string(),
        }
    }
}

/// Why a deck could not be opened; `Display` is one line with the file, line and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeckError {
    /// The file cannot be read.
    #[error("cannot open deck {file}: {message}")]
    Read {
        /// The file as given.
        file: String,
        /// The system's reason.
        message: String,
    },
    /// A field with a bad value, an unknown key, a wrong type, a TOML syntax error.
    #[error("deck {file}, line {line}, {field}: {message}")]
    Field {
        /// The file as given.
        file: String,
        /// 1-based line of the offending key or value.
        line: usize,
        /// The field (the key), or `syntax` for a TOML error outside any key.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The deck has no chapter.
    #[error("deck {file} has no chapters (add a [[chapter]] table with a title)")]
    Empty {
        /// The file as given.
        file: String,
    },
    /// Writing a saved chapter failed.
    #[error("cannot save the chapter to {file}: {message}")]
    Write {
        /// The file.
        file: String,
        /// The system's reason.
        message: String,
    },
}

/// Which denoiser a chapter uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ModelChoice {
    /// The learned model the window holds (the data's shipped weights are loaded with it).
    #[default]
    Learned,
    /// The shipped weights of the chapter's data.
    Shipped,
    /// The ideal denoiser of the chapter's data.
    Ideal,
    /// Weights from a file.
    File(PathBuf),
}

/// The state of the app a chapter shows. A key a chapter leaves out takes the value of
/// [`Settings::default`], so a chapter looks the same whichever chapter came before.
#[derive(Clone, Debug, PartialEq)]
pub struct ChapterView {
    /// The data on screen.
    pub source: SourceChoice,
    /// The tab.
    pub tab: Tab,
    /// The schedule and `T`.
    pub schedule: ScheduleSpec,
    /// Schedules overlaid in the plots and the comparison grid.
    pub overlay: Vec<ScheduleKind>,
    /// The step on screen (the start of `play`, if any).
    pub t: usize,
    /// Play `t` over this range, looping.
    pub play: Option<(usize, usize)>,
    /// Playback speed in steps per second.
    pub speed: f32,
    /// The denoiser.
    pub model: ModelChoice,
    /// The sampler of the reverse chain, DDIM's `K` and `η`.
    pub sampler: SamplerKind,
    /// DDIM's number of steps `K`.
    pub ddim_steps: usize,
    /// DDIM's `η`.
    pub ddim_eta: f64,
    /// The class a class-conditional model samples.
    pub class: crate::model::classes::ClassChoice,
    /// Its guidance weight `w`.
    pub guidance: f32,
    /// Start the reverse chain when the chapter opens.
    pub sample: bool,
    /// The ELBO plots' axis.
    pub elbo_axis: ElboAxis,
    /// The ELBO plots show cumulative sums.
    pub elbo_cumulative: bool,
    /// The ELBO uses `σ_t² = β̃_t`.
    pub posterior_variance: bool,
    /// The Markov chain tab's chain: a preset…
    pub markov_preset: Preset,
    /// … with this many states `K`, from a point mass on state 0…
    pub markov_states: usize,
    /// … at this step `n`.
    pub n: usize,
    /// The tab shows the digits' discrete chain (D3PM) of this kind instead of the finite one.
    pub discrete: Option<crate::diffusion::discrete::DiscreteKind>,
    /// The VAE → VDM tab's model: a VAE or the hierarchical VAE…
    pub latent: crate::app::latent::LatentMode,
    /// … the VAE's β…
    pub vae_beta: f64,
    /// … the hierarchical VAE's levels `T`…
    pub levels: usize,
    /// … and how many of the three switches towards a VDM are on (1: only the first,
    /// always on for 2D data; 2: encoders fixed; 3: `ᾱ_T → 0` too).
    pub switches: u8,
}

/// The preset the Markov chain tab's chain came from; an edited matrix has none, and a
/// chapter keeps only its size and `n` (the well-mixing preset).
#[must_use]
pub fn preset_of(markov: &super::settings::MarkovSettings) -> Preset {
    markov
        .preset
        .as_deref()
        .and_then(Preset::from_name)
        .unwrap_or(Preset::WellMixing)
}

impl Default for ChapterView {
    fn default() -> Self {
        let s = Settings::default();
        Self {
            source: s.source,
            tab: s.tab,
            schedule: s.schedule,
            overlay: s.overlay,
            t: s.t,
            play: None,
            speed: s.speed_steps_per_s,
            model: ModelChoice::default(),
            sampler: s.reverse.sampler,
            ddim_steps: s.reverse.ddim_steps,
            ddim_eta: s.reverse.ddim_eta,
            class: s.reverse.class,
            guidance: s.reverse.guidance,
            sample: false,
            elbo_axis: s.elbo.axis,
            elbo_cumulative: s.elbo.cumulative,
            posterior_variance: s.elbo.posterior_variance,
            markov_preset: preset_of(&s.markov),
            markov_states: s.markov.k,
            n: s.markov.n,
            discrete: None,
            latent: s.latent.mode,
            vae_beta: s.latent.beta,
            levels: s.latent.levels,
            switches: 1,
        }
    }
}

/// One chapter: a slide's title, formulas (TeX) and caption, and the view it shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Chapter {
    /// The title.
    pub title: String,
    /// Display-style TeX, one formula a line.
    pub formulas: Vec<String>,
    /// A sentence or two.
    pub caption: String,
    /// The state of the app.
    pub view: ChapterView,
    /// The line of its `[[chapter]]` header.
    pub line: usize,
}

/// An open deck.
#[derive(Clone, Debug, PartialEq)]
pub struct Deck {
    /// Where it came from.
    pub source: DeckSource,
    /// Its title (the file name if it has none).
    pub title: String,
    /// The chapters, in order (at least one).
    pub chapters: Vec<Chapter>,
}

/// The file as written: every key of a chapter with its span.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeck {
    title: Option<String>,
    #[serde(default)]
    chapter: Vec<Spanned<RawChapter>>,
}

/// One `[[chapter]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChapter {
    title: String,
    #[serde(default)]
    formulas: Vec<String>,
    #[serde(default)]
    caption: String,
    data: Option<Spanned<String>>,
    tab: Option<Spanned<String>>,
    schedule: Option<Spanned<String>>,
    steps: Option<Spanned<usize>>,
    beta_start: Option<Spanned<f64>>,
    beta_end: Option<Spanned<f64>>,
    beta: Option<Spanned<f64>>,
    zero_terminal_snr: Option<bool>,
    overlay: Option<Vec<Spanned<String>>>,
    t: Option<Spanned<usize>>,
    play: Option<Spanned<[usize; 2]>>,
    speed: Option<Spanned<f32>>,
    model: Option<Spanned<String>>,
    sampler: Option<Spanned<String>>,
    ddim_steps: Option<Spanned<usize>>,
    ddim_eta: Option<Spanned<f64>>,
    class: Option<Spanned<String>>,
    guidance: Option<Spanned<f32>>,
    sample: Option<bool>,
    elbo_axis: Option<Spanned<String>>,
    elbo_cumulative: Option<bool>,
    elbo_variance: Option<Spanned<String>>,
    preset: Option<Spanned<String>>,
    states: Option<Spanned<usize>>,
    n: Option<Spanned<usize>>,
    discrete: Option<Spanned<String>>,
    latent: Option<Spanned<String>>,
    vae_beta: Option<Spanned<f64>>,
    levels: Option<Spanned<usize>>,
    switches: Option<Spanned<u8>>,
}

/// Opens the deck `source` names: reads, parses and checks it.
pub fn open(source: &DeckSource) -> Result<Deck, DeckError> {
    match source {
        DeckSource::Lecture => parse(LECTURE, source),
        DeckSource::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| DeckError::Read {
                file: path.display().to_string(),
                message: e.to_string(),
            })?;
            parse(&text, source)
        }
    }
}

/// Parses and checks a deck's text; files it names are resolved against the folder of
/// `source` (the current folder for the built-in deck).
pub fn parse(text: &str, source: &DeckSource) -> Result<Deck, DeckError> {
    let file = match source {
        DeckSource::Lecture => format!("{LECTURE_NAME} (built in)"),
        DeckSource::File(path) => path.display().to_string(),
    };
    let field_error = |span: Range<usize>, field: Option<&str>, message: String| {
        let field = field.map_or_else(|| key_at(text, span.start), str::to_owned);
        DeckError::Field {
            file: file.clone(),
            line: line_of(text, span.start),
            field,
            message: one_line(&message),
        }
    };
    let raw: RawDeck = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let message = e.message().to_owned();
        // `missing field `title``: the span is the table; name the field itself.
        let named = message
            .strip_prefix("missing field `")
            .and_then(|m| m.split('`').next())
            .map(str::to_owned);
        field_error(span, named.as_deref(), message)
    })?;
    if raw.chapter.is_empty() {
        return Err(DeckError::Empty { file });
    }
    let folder = match source {
        DeckSource::File(path) => path.parent().map(Path::to_path_buf).unwrap_or_default(),
        DeckSource::Lecture => PathBuf::new(),
    };
    let mut chapters = Vec::with_capacity(raw.chapter.len());
    for spanned in raw.chapter {
        let line = line_of(text, spanned.span().start);
        let raw = spanned.into_inner();
        let view = check::check(&raw, &folder).map_err(|(span, message)| field_error(span, None, message))?;
        chapters.push(Chapter {
            title: raw.title,
            formulas: raw.formulas,
            caption: raw.caption,
            view,
            line,
        });
    }
    let title = raw.title.unwrap_or_else(|| match source {
        DeckSource::Lecture => "Diffusion models".into(),
        DeckSource::File(path) => path
            .file_stem()
            .map_or_else(|| file.clone(), |s| s.to_string_lossy().into_owned()),
    });
    Ok(Deck {
        source: source.clone(),
        title,
        chapters,
    })
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map_or(1, |before| before.bytes().filter(|&b| b == b'\n').count() + 1)
}

/// The key of the `key = value` line at or above `offset` (a value spanning lines, such
/// as an array, belongs to the key above it); `syntax` if there is none.
fn key_at(text: &str, offset: usize) -> String {
    let line = line_of(text, offset);
    for l in text.lines().take(line).collect::<Vec<_>>().into_iter().rev() {
        let l = l.trim_start();
        if l.starts_with('[') && !l.starts_with("[ ") {
            // A table header: the error is about the table itself.
            if let Some((key, _)) = l.split_once('=') {
                return key.trim().to_owned();
            }
            break;
        }
        if let Some((key, _)) = l.split_once('=') {
            let key = key.trim();
            if !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return key.to_owned();
            }
        }
    }
    "syntax".into()
}

/// `message` on one line, with serde's list of every valid key cut (README lists them).
fn one_line(message: &str) -> String {
    let line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.split_once(", expected one of") {
        Some((head, _)) if head.starts_with("unknown field") => {
            format!("{head} (the keys of a chapter are listed in README, \"Decks\")")
        }
        _ => line,
    }
}
