//! Everything the window remembers between runs (eframe's storage, RON).
//!
//! Loaded once in `DiffscopeApp::new` and saved by eframe; every field has a default,
//! and [`Settings::sanitised`] clamps whatever a stale or hand-edited file holds, so a
//! garbage settings file can only ever give the defaults.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::data::drawing::{Brush, DrawnPoints};
use crate::diffusion::finite::{self, MAX_WINDOW_STATES, Preset, Transition};
use crate::diffusion::schedule::{MAX_STEPS, MIN_STEPS};
use crate::diffusion::{ReverseVariance, Schedule, ScheduleKind, ScheduleSpec};
use crate::model::Objective;
use crate::model::classes::ClassChoice;
use crate::model::sample::Sampler;
pub use crate::model::sample::{DenoiserKind, SamplerKind};
pub use crate::scene::SourceChoice;
use crate::scene::{DEFAULT_POINTS_SHOWN, MAX_POINTS_SHOWN, MIN_POINTS_SHOWN, SceneOptions};

/// The key of the settings in eframe's storage.
pub const STORAGE_KEY: &str = "diffscope-settings";

/// Largest `T` the window offers (the library accepts up to 100,000).
pub const MAX_WINDOW_STEPS: usize = 10_000;

/// The horizontal axis of the schedule plots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeAxis {
    /// The step `t`.
    #[default]
    Step,
    /// The fraction `t/T` (compares schedules of different `T`).
    Fraction,
}

/// Which quantities the schedule plots show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[allow(clippy::struct_excessive_bools)] // one switch per plotted quantity
pub struct PlotQuantities {
    /// `ᾱ_t`.
    pub alpha_bar: bool,
    /// `√ᾱ_t`.
    pub sqrt_alpha_bar: bool,
    /// `√(1 − ᾱ_t)`.
    pub sqrt_one_minus_alpha_bar: bool,
    /// `β_t`.
    pub beta: bool,
    /// `log SNR(t)`.
    pub log_snr: bool,
}

impl Default for PlotQuantities {
    fn default() -> Self {
        Self {
            alpha_bar: true,
            sqrt_alpha_bar: false,
            sqrt_one_minus_alpha_bar: false,
            beta: false,
            log_snr: true,
        }
    }
}

/// The tabs of the central area.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tab {
    /// From the VAE to the VDM: a VAE, a Markovian hierarchical VAE, and the three
    /// restrictions that make it a variational diffusion model.
    Vae,
    /// A finite Markov chain you can edit: `P`, `p_n = p_0 Pⁿ`, `π`, trajectories.
    Markov,
    /// The forward chain, Markov and closed form side by side.
    #[default]
    Forward,
    /// The learned reverse chain: `x_t`, `x̂_0`, paths and the ε field.
    Reverse,
    /// Schedules × t grid with one shared ε.
    Compare,
    /// The ELBO of the model on the data, term by term, in both decompositions.
    Elbo,
}

impl Tab {
    /// Every tab, in the order the window shows them.
    pub const ALL: [Self; 6] = [
        Self::Vae,
        Self::Markov,
        Self::Forward,
        Self::Reverse,
        Self::Elbo,
        Self::Compare,
    ];

    /// The name used on the command line (`--tab`) and in decks.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Vae => "vae",
            Self::Markov => "markov",
            Self::Forward => "forward",
            Self::Reverse => "reverse",
            Self::Compare => "compare",
            Self::Elbo => "elbo",
        }
    }

    /// The name on the tab's button.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Vae => "VAE → VDM",
            Self::Markov => "Markov chain",
            Self::Forward => "Forward",
            Self::Reverse => "Reverse",
            Self::Compare => "Compare",
            Self::Elbo => "ELBO",
        }
    }

    /// The tab called `name` (see [`Tab::name`]).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// The horizontal axis of the ELBO plots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ElboAxis {
    /// The step `t` (terms in nats per example).
    #[default]
    Step,
    /// `log SNR(t)` (terms in nats per unit log SNR: the view that makes schedules with
    /// different `T` comparable).
    LogSnr,
}

/// The ELBO tab's choices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[allow(clippy::struct_excessive_bools)] // independent switches of the tab
pub struct ElboSettings {
    /// The horizontal axis.
    pub axis: ElboAxis,
    /// Plot the cumulative sum `L_recon + Σ_{s ≤ t} L_s` instead of each term.
    pub cumulative: bool,
    /// `σ_t² = β̃_t` instead of `β_t`.
    pub posterior_variance: bool,
    /// Examples of 2D data (the first of the points on screen).
    pub n_points: usize,
    /// Examples of the digits (the first).
    pub n_digits: usize,
    /// Copies of an image (one image: the Monte-Carlo error is the noise's).
    pub image_copies: usize,
    /// Seed of the Monte-Carlo noise.
    pub seed: u64,
    /// Overlay the ideal denoiser.
    pub ideal: bool,
    /// For a 2D model: the density view (the probability flow's `log p_θ` on a grid)
    /// in place of the term plots.
    pub density: bool,
}

impl Default for ElboSettings {
    fn default() -> Self {
        Self {
            axis: ElboAxis::Step,
            cumulative: false,
            posterior_variance: false,
            n_points: 1000,
            n_digits: 500,
            image_copies: 8,
            seed: 0,
            ideal: true,
            density: false,
        }
    }
}

impl ElboSettings {
    /// These settings with every value in its valid range.
    #[must_use]
    pub fn sanitised(mut self) -> Self {
        self.n_points = self.n_points.clamp(1, 5000);
        self.n_digits = self.n_digits.clamp(1, 1797);
        self.image_copies = self.image_copies.clamp(1, 64);
        self
    }
}

/// The Markov chain tab's finite chain (what it is made of; its distributions, paths and
/// histograms are recomputed from these by `app::markov`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MarkovSettings {
    /// The number of states `K` (2 to [`MAX_WINDOW_STATES`]).
    pub k: usize,
    /// The preset the matrix came from (its name, [`Preset::name`]), or `None` once edited.
    pub preset: Option<String>,
    /// The rows of `P` (each sums to 1).
    pub rows: Vec<Vec<f64>>,
    /// The initial distribution `p_0`.
    pub p0: Vec<f64>,
    /// The step `n` on screen.
    pub n: usize,
    /// Seed of the sampled trajectories and of the many chains of the histogram.
    pub seed: u64,
    /// Trajectories drawn on the state graph and the time line.
    pub chains: usize,
    /// Playback speed of `n`, in steps per second.
    pub steps_per_s: f32,
    /// What the tab shows: this finite chain, or the digits' discrete diffusion (D3PM).
    pub mode: MarkovMode,
}

/// The Markov chain tab's two views: the lecture's finite chain, then the same object as
/// diffusion's forward process on the digits' intensity levels (D3PM), which the top bar's
/// `t` drives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum MarkovMode {
    /// The editable chain on 2 to 8 states, over `n`.
    #[default]
    Finite,
    /// D3PM on the digits, over `t`.
    Digits,
}

impl Default for MarkovSettings {
    fn default() -> Self {
        let k = 4;
        let preset = Preset::WellMixing;
        Self {
            k,
            preset: Some(preset.name().to_owned()),
            rows: rows_of(&Transition::preset(preset, k)),
            p0: point_mass(0, k),
            n: 0,
            seed: 0,
            chains: 3,
            steps_per_s: 4.0,
            mode: MarkovMode::Finite,
        }
    }
}

/// The rows of `chain`.
#[must_use]
pub fn rows_of(chain: &Transition) -> Vec<Vec<f64>> {
    (0..chain.states()).map(|i| chain.row(i).to_vec()).collect()
}

/// All mass on state `i` of `k`.
#[must_use]
pub fn point_mass(i: usize, k: usize) -> Vec<f64> {
    (0..k).map(|j| f64::from(u8::from(i == j))).collect()
}

impl MarkovSettings {
    /// The most trajectories drawn.
    pub const MAX_CHAINS: usize = 8;

    /// The chain these settings describe (always valid after [`MarkovSettings::sanitised`]).
    #[must_use]
    pub fn transition(&self) -> Transition {
        Transition::new(&self.rows).unwrap_or_else(|_| Transition::preset(Preset::WellMixing, self.k))
    }

    /// These settings with every value in its valid range: a matrix or `p_0` that does
    /// not fit `K` (or is not stochastic) is replaced by the preset's, a point mass.
    #[must_use]
    pub fn sanitised(mut self, max_n: usize) -> Self {
        let defaults = Self::default();
        if !(2..=MAX_WINDOW_STATES).contains(&self.k) {
            return defaults;
        }
        let k = self.k;
        let preset = self.preset.as_deref().and_then(Preset::from_name);
        if preset.is_none() {
            self.preset = None;
        }
        match Transition::new(&self.rows) {
            Ok(chain) if chain.states() == k => self.rows = rows_of(&chain),
            _ => {
                let preset = preset.unwrap_or(Preset::WellMixing);
                self.preset = Some(preset.name().to_owned());
                self.rows = rows_of(&Transition::preset(preset, k));
            }
        }
        self.p0 = finite::distribution(&self.p0, k).unwrap_or_else(|_| point_mass(0, k));
        self.n = self.n.min(max_n);
        self.chains = self.chains.clamp(1, Self::MAX_CHAINS);
        if !(self.steps_per_s.is_finite() && (0.5..=60.0).contains(&self.steps_per_s)) {
            self.steps_per_s = defaults.steps_per_s;
        }
        self
    }
}

/// The reverse tab's and the training section's choices.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReverseSettings {
    /// What denoises.
    pub denoiser: DenoiserKind,
    /// DDPM or DDIM.
    pub sampler: SamplerKind,
    /// DDIM's number of steps `K`.
    pub ddim_steps: usize,
    /// DDIM's `η ∈ [0, 1]`.
    pub ddim_eta: f64,
    /// Samples drawn for 2D data.
    pub n_points: usize,
    /// Samples drawn for images (a square grid).
    pub n_images: usize,
    /// Side of each panel of the chain's GIF, in pixels.
    pub gif_side: u32,
    /// Seed of `x_T` and every step's noise.
    pub seed: u64,
    /// Chain speed in steps per second (unless `max_speed`).
    pub steps_per_s: f32,
    /// Run the chain as fast as the model goes.
    pub max_speed: bool,
    /// SDEdit: start from the data on screen noised to `sdedit_t` (images only).
    pub sdedit: bool,
    /// SDEdit's starting step.
    pub sdedit_t: usize,
    /// Training: learning rate.
    pub lr: f32,
    /// Training: batch size.
    pub batch: usize,
    /// Training: iterations.
    pub iterations: u64,
    /// Training: seed.
    pub train_seed: u64,
    /// The class a conditional model samples (any: a class per sample).
    pub class: ClassChoice,
    /// Classifier-free guidance weight `w` (0 to [`MAX_GUIDANCE`]).
    pub guidance: f32,
    /// The canvas a single-image model samples.
    pub canvas: Canvas,
    /// Samples a single-image model draws (each a whole canvas).
    pub n_photos: usize,
    /// Training a single-image model ("learn this photo"): its own learning rate, batch
    /// (of crops) and iterations, shown in place of the others when the data is a photo.
    pub photo_train: PhotoTraining,
    /// Which other sampler's chain is shown beside the chain (2D).
    pub beside: Beside,
    /// The quality-vs-steps chart in place of the chain's views (2D learned model).
    pub quality: bool,
    /// Training: diffusion (`ε`) or flow matching (2D data).
    pub objective: Objective,
}

/// The chain shown beside the chain on screen, in x̂_0's place (2D): its first samples
/// under another sampler from the same `x_T` (the same seed), the paths in the same
/// colours.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Beside {
    /// None.
    #[default]
    Off,
    /// DDPM (`σ² = β_t`): the stochastic chain (chosen with the ODE sampler when nothing
    /// was; nothing is shown beside DDPM itself).
    Ddpm,
    /// The probability-flow ODE: the deterministic path the same `x_T` takes.
    ProbabilityFlow,
    /// Flow matching (Euler, [`BESIDE_FLOW_STEPS`] steps; the shipped flow-matching model
    /// of the data beside a diffusion model). Its conditional paths are straight, the
    /// marginal ones it learned are not: they go in, then out (the straight path's
    /// variance `(1 − τ)² + τ²` dips to ½ at `τ = ½`).
    FlowMatching,
}

/// Euler steps of the flow-matching chain shown beside another.
pub const BESIDE_FLOW_STEPS: usize = 100;

impl Beside {
    /// Every choice, in the menu's order.
    pub const ALL: [Self; 4] = [Self::Off, Self::Ddpm, Self::ProbabilityFlow, Self::FlowMatching];

    /// The menu's name.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Off => "none",
            Self::Ddpm => "DDPM paths",
            Self::ProbabilityFlow => "ODE paths",
            Self::FlowMatching => "flow-matching paths",
        }
    }

    /// The sampler whose paths are drawn.
    #[must_use]
    pub const fn sampler(self) -> Option<Sampler> {
        match self {
            Self::Off => None,
            Self::Ddpm => Some(Sampler::Ddpm(ReverseVariance::Beta)),
            Self::ProbabilityFlow => Some(Sampler::ProbabilityFlow),
            Self::FlowMatching => Some(Sampler::FlowEuler {
                steps: BESIDE_FLOW_STEPS,
            }),
        }
    }
}

/// The canvas a single-image model samples, from its photo's size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Canvas {
    /// The photo's size as learned.
    #[default]
    Photo,
    /// Twice as wide.
    Wide,
    /// Twice as wide and twice as tall.
    Large,
}

impl Canvas {
    /// Every canvas, in the menu's order.
    pub const ALL: [Self; 3] = [Self::Photo, Self::Wide, Self::Large];

    /// `(height, width)` of the canvas for a photo of `photo`.
    #[must_use]
    pub const fn size(self, photo: (usize, usize)) -> (usize, usize) {
        let (h, w) = photo;
        match self {
            Self::Photo => (h, w),
            Self::Wide => (h, 2 * w),
            Self::Large => (2 * h, 2 * w),
        }
    }

    /// The menu's label.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Photo => "photo size",
            Self::Wide => "2× wide",
            Self::Large => "2× wide and tall",
        }
    }
}

/// The training settings of a single-image model.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PhotoTraining {
    /// Peak learning rate.
    pub lr: f32,
    /// Crops per batch.
    pub batch: usize,
    /// Iterations.
    pub iterations: u64,
}

impl Default for PhotoTraining {
    fn default() -> Self {
        let d = crate::model::train::TrainSettings::for_photo();
        Self {
            lr: d.lr,
            batch: d.batch,
            iterations: d.iterations,
        }
    }
}

/// The most samples a single-image model draws at once.
pub const MAX_PHOTO_SAMPLES: usize = 16;

/// The largest guidance weight the Reverse tab offers.
pub const MAX_GUIDANCE: f32 = 8.0;

impl Default for ReverseSettings {
    fn default() -> Self {
        Self {
            denoiser: DenoiserKind::Learned,
            sampler: SamplerKind::DdpmBeta,
            ddim_steps: 50,
            ddim_eta: 0.0,
            n_points: 1000,
            n_images: 36,
            gif_side: 320,
            seed: 0,
            steps_per_s: 200.0,
            max_speed: false,
            sdedit: false,
            sdedit_t: 400,
            lr: 2e-3,
            batch: 256,
            iterations: 12_000,
            train_seed: 1,
            class: ClassChoice::Any,
            guidance: 0.0,
            canvas: Canvas::Photo,
            n_photos: 3,
            photo_train: PhotoTraining::default(),
            beside: Beside::default(),
            quality: false,
            objective: Objective::Epsilon,
        }
    }
}

impl ReverseSettings {
    /// These settings with every value in its valid range.
    #[must_use]
    pub fn sanitised(mut self, steps: usize) -> Self {
        let defaults = Self::default();
        self.ddim_steps = self.ddim_steps.clamp(1, steps.max(1));
        if !(self.ddim_eta.is_finite() && (0.0..=1.0).contains(&self.ddim_eta)) {
            self.ddim_eta = 0.0;
        }
        self.n_points = self.n_points.clamp(1, 10_000);
        self.n_images = self.n_images.clamp(1, 144);
        if !(self.steps_per_s.is_finite() && (1.0..=2000.0).contains(&self.steps_per_s)) {
            self.steps_per_s = defaults.steps_per_s;
        }
        self.sdedit_t = self.sdedit_t.clamp(1, steps.max(1));
        if !(self.lr.is_finite() && (1e-6..=1.0).contains(&self.lr)) {
            self.lr = defaults.lr;
        }
        self.batch = self.batch.clamp(1, 4096);
        self.iterations = self.iterations.clamp(1, 1_000_000);
        self.gif_side = clamp_gif_side(self.gif_side);
        if !(self.guidance.is_finite() && (0.0..=MAX_GUIDANCE).contains(&self.guidance)) {
            self.guidance = 0.0;
        }
        self.n_photos = self.n_photos.clamp(1, MAX_PHOTO_SAMPLES);
        let p = &mut self.photo_train;
        if !(p.lr.is_finite() && (1e-6..=1.0).contains(&p.lr)) {
            p.lr = defaults.photo_train.lr;
        }
        p.batch = p.batch.clamp(1, 256);
        p.iterations = p.iterations.clamp(1, 1_000_000);
        self
    }
}

/// A GIF's panel side brought into [`GIF_SIDES`](crate::scene::chain_gif::GIF_SIDES).
fn clamp_gif_side(side: u32) -> u32 {
    let sides = crate::scene::chain_gif::GIF_SIDES;
    side.clamp(*sides.start(), *sides.end())
}

/// Light or dark.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThemeChoice {
    /// Dark background (the default: projectors love it).
    #[default]
    Dark,
    /// Light background.
    Light,
}

/// The layout's state of one run (not saved: a run starts at the desk, not presenting).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // independent switches of the layout
pub struct Lecture {
    /// Presentation mode (F5 enters, Esc leaves): only the lesson on screen.
    pub presenting: bool,
    /// The window is too narrow for the math panel beside the views: it is folded into a
    /// toggle (the UI decides each frame from the room it has).
    pub math_folded: bool,
    /// The folded math panel is shown on demand (over the views).
    pub math_open: bool,
    /// The presenter view (F6): a second window, for the projector, shows the
    /// presentation-mode picture while this one keeps the controls, the chapter list and
    /// the chapter's notes. Its close button, Esc or F6 there closes it.
    pub audience: bool,
}

/// Everything the window remembers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[allow(clippy::struct_excessive_bools)] // independent switches of the UI
pub struct Settings {
    /// The data on screen.
    pub source: SourceChoice,
    /// Points drawn from a built-in 2D set.
    pub n_points: usize,
    /// Seed of the built-in 2D set.
    pub data_seed: u64,
    /// At most this many points of a points file are shown (a uniform subsample).
    pub points_shown: usize,
    /// Seed of the diffusion noise (both views).
    pub noise_seed: u64,
    /// Images are reduced so their long side is at most this.
    pub max_side: u32,
    /// The schedule on screen.
    pub schedule: ScheduleSpec,
    /// Other schedule families overlaid in the plots and rows of the comparison (same `T`);
    /// the current family may be in the list: it is hidden while current, not forgotten.
    pub overlay: Vec<ScheduleKind>,
    /// The current step.
    pub t: usize,
    /// Playback speed in steps per second.
    pub speed_steps_per_s: f32,
    /// Start again at 0 after `T`.
    pub looping: bool,
    /// What the schedule plots show.
    pub plot_quantities: PlotQuantities,
    /// The plots' horizontal axis.
    pub plot_axis: TimeAxis,
    /// The central tab.
    pub tab: Tab,
    /// Columns (values of `t`) of the comparison grid.
    pub compare_columns: usize,
    /// Light or dark.
    pub theme: ThemeChoice,
    /// UI scale (Ctrl +/−).
    pub zoom: f32,
    /// Show the "the math" panel (beside the views when the window has room for it;
    /// folded into a toggle otherwise: see [`Lecture::math_folded`]).
    pub show_math: bool,
    /// Show the controls on the left.
    pub show_controls: bool,
    /// Show the plots that follow `t` at the bottom.
    pub show_plots: bool,
    /// Presentation mode and the folded math panel: this run's state, never saved.
    #[serde(skip)]
    pub lecture: Lecture,
    /// Show the frame-time overlay (F3).
    pub show_frame_times: bool,
    /// Number of highlighted points whose paths are drawn (2D data).
    pub highlighted: usize,
    /// Where exports are written.
    pub export_dir: PathBuf,
    /// Side of each panel of the forward chain's GIF, in pixels.
    pub gif_side: u32,
    /// Files opened lately (data and weights), newest first.
    pub recent_files: Vec<PathBuf>,
    /// The reverse chain and training.
    pub reverse: ReverseSettings,
    /// The ELBO tab.
    pub elbo: ElboSettings,
    /// The digits' discrete chain (D3PM).
    pub d3pm: super::d3pm::D3pmSettings,
    /// The Markov chain tab.
    pub markov: MarkovSettings,
    /// The VAE → VDM tab.
    pub latent: super::latent::LatentSettings,
    /// The drawing, as drawn (kept when other data is opened; [`MAX_DRAWING_POINTS`](crate::data::drawing::MAX_DRAWING_POINTS)
    /// at most, which bounds the settings file).
    pub drawing: DrawnPoints,
    /// Draw mode and the brush.
    pub draw: DrawSettings,
}

/// Draw mode and the brush of the Forward tab's drawing canvas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DrawSettings {
    /// Draw mode: the Forward tab's first view is the drawing canvas (never saved: a run
    /// starts looking, not drawing).
    #[serde(skip)]
    pub on: bool,
    /// The brush and the eraser.
    pub brush: Brush,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            source: SourceChoice::default(),
            n_points: 1000,
            data_seed: 0,
            points_shown: DEFAULT_POINTS_SHOWN,
            noise_seed: 0,
            max_side: crate::data::DEFAULT_MAX_SIDE,
            schedule: ScheduleSpec::new(ScheduleKind::Linear, 1000),
            overlay: vec![ScheduleKind::Cosine],
            t: 250,
            speed_steps_per_s: 100.0,
            looping: true,
            plot_quantities: PlotQuantities::default(),
            plot_axis: TimeAxis::Step,
            tab: Tab::Forward,
            compare_columns: 6,
            theme: ThemeChoice::Dark,
            zoom: 1.0,
            show_math: true,
            show_controls: true,
            show_plots: true,
            lecture: Lecture::default(),
            show_frame_times: false,
            highlighted: 4,
            export_dir: default_export_dir(),
            gif_side: 320,
            recent_files: Vec::new(),
            reverse: ReverseSettings::default(),
            elbo: ElboSettings::default(),
            d3pm: super::d3pm::D3pmSettings::default(),
            markov: MarkovSettings::default(),
            latent: super::latent::LatentSettings::default(),
            drawing: DrawnPoints::default(),
            draw: DrawSettings::default(),
        }
    }
}

/// The default export folder: the current directory, where `cargo run` was typed.
fn default_export_dir() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
}

impl Settings {
    /// Whether Play, the arrows, Home/End and the presentation slider move the Markov
    /// chain tab's `n` (its finite chain is on screen) rather than `t`.
    #[must_use]
    pub fn steps_n(&self) -> bool {
        self.tab == Tab::Markov && self.markov.mode == MarkovMode::Finite
    }
}

impl Settings {
    /// What loading the data on screen needs of these settings.
    #[must_use]
    pub fn scene_options(&self) -> SceneOptions {
        SceneOptions {
            max_side: self.max_side,
            n_points: self.n_points,
            data_seed: self.data_seed,
            drawing: self.drawing.clone(),
            points_shown: self.points_shown,
        }
    }

    /// These settings with every value brought into its valid range; a schedule that
    /// cannot be built is replaced by the default.
    #[must_use]
    pub fn sanitised(mut self) -> Self {
        let defaults = Self::default();
        self.schedule.steps = self
            .schedule
            .steps
            .clamp(MIN_STEPS, MAX_WINDOW_STEPS.min(MAX_STEPS));
        if Schedule::new(&self.schedule).is_err() {
            self.schedule = defaults.schedule.clone();
        }
        self.t = self.t.min(self.schedule.steps);
        self.n_points = self.n_points.clamp(16, 20_000);
        self.points_shown = self.points_shown.clamp(MIN_POINTS_SHOWN, MAX_POINTS_SHOWN);
        self.max_side = self.max_side.clamp(32, 2048);
        if !(self.speed_steps_per_s.is_finite() && (1.0..=2000.0).contains(&self.speed_steps_per_s)) {
            self.speed_steps_per_s = defaults.speed_steps_per_s;
        }
        self.compare_columns = self.compare_columns.clamp(2, 10);
        self.gif_side = clamp_gif_side(self.gif_side);
        if !(self.zoom.is_finite() && (0.5..=3.0).contains(&self.zoom)) {
            self.zoom = 1.0;
        }
        self.highlighted = self.highlighted.min(20);
        let mut seen = Vec::new();
        self.overlay.retain(|k| {
            let first = !seen.contains(k);
            seen.push(*k);
            first
        });
        self.reverse = self.reverse.sanitised(self.schedule.steps);
        self.elbo = self.elbo.sanitised();
        self.d3pm = self.d3pm.sanitised();
        self.markov = self.markov.sanitised(crate::app::markov::MAX_N);
        self.latent = self.latent.sanitised();
        self.draw.brush = self.draw.brush.sanitised();
        self
    }

    /// The schedule on screen (always valid after [`Settings::sanitised`]).
    #[must_use]
    pub fn build_schedule(&self) -> Schedule {
        Schedule::new(&self.schedule).unwrap_or_else(|_| {
            Schedule::new(&ScheduleSpec::default()).expect("the default schedule is valid")
        })
    }

    /// The schedules overlaid with the current one: the current first, then each
    /// overlay family at the same `T` with its default parameters and the same
    /// zero-terminal-SNR choice.
    #[must_use]
    pub fn compared_schedules(&self) -> Vec<Schedule> {
        let mut out = vec![self.build_schedule()];
        for &kind in self.overlay.iter().filter(|&&k| k != self.schedule.kind) {
            let mut spec = ScheduleSpec::new(kind, self.schedule.steps);
            spec.zero_terminal_snr = self.schedule.zero_terminal_snr;
            if let Ok(s) = Schedule::new(&spec) {
                out.push(s);
            }
        }
        out
    }
}
