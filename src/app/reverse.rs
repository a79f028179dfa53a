// Over 500 lines: the Reverse tab's state (chain frames, paths, achieved rate, training view) and the unit tests that pin it.
//! The state behind the Reverse tab and the Model and Training sections: which learned
//! model the `model` worker holds, the reverse chain's stored frames, the training run's
//! curves and the ε field. The data the models get from the scene (training sets,
//! ideal-denoiser data, SDEdit starts) is prepared in [`crate::scene::prepare`].
//!
//! Everything here is plain data the `model` worker sent (points, pixels, numbers); the UI
//! never waits for the worker.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use egui::TextureHandle;

use crate::model::sample::{Frame, Sampler, SamplerKind};
use crate::model::{DataShape, Objective};
use crate::scene::Scene;
use crate::scene::guidance::{GuidanceReadout, LabelledData};
use crate::scene::prepare::ideal_shape;
use crate::scene::tile::{grid_columns, tile};
use crate::worker::frames::Rgba;
use crate::worker::model::{ChainPaths, ClassGuidance, DenoiserChoice, ModelSummary, TrainEnd};

/// Guided chains whose readout the Reverse tab keeps side by side.
pub const GUIDANCE_HISTORY: usize = 6;

/// Most bytes the stored frames of one chain may take; older frames are thinned out
/// (every other one dropped) beyond it.
pub const FRAME_BUDGET_BYTES: usize = 64 << 20;
/// Highlighted samples whose paths are drawn (2D).
pub const HIGHLIGHTED_PATHS: usize = crate::scene::chain_gif::PATHS;
/// Samples of the chain beside the chain on screen (the first of the chain's, from the
/// same `x_T`): enough for the shape of its samples, few enough that the worker runs it
/// between two of the chain's steps (about 0.3 s for DDPM's 1000 steps here).
pub const BESIDE_SAMPLES: usize = 250;
/// The ε field is drawn on a grid of this many arrows a side.
pub const EPS_GRID: usize = 15;
/// "Within this distance of a point on screen" (2D, standardised units).
pub const NEAR_RADIUS: f64 = 0.01;
/// The achieved sampling rate is measured over the frames that arrived within this long.
pub const RATE_WINDOW: Duration = Duration::from_secs(1);
/// The achieved rate is shown when it is below this fraction of the rate set.
pub const RATE_SHORTFALL: f64 = 0.9;
/// Smoothing of the training loss curve: `ema ← (1 − a)·ema + a·loss` per report.
const LOSS_EMA: f64 = 0.1;

/// Where the learned model the worker holds came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LearnedOrigin {
    /// The weights shipped for the data on screen, by name.
    Shipped(String),
    /// A training run in this window (kept in a temporary file so it can be chosen again).
    Trained,
    /// A weights file the user opened.
    File(PathBuf),
}

/// The learned model the worker holds.
#[derive(Clone, Debug)]
pub struct LearnedModel {
    /// The worker's description.
    pub summary: ModelSummary,
    /// Where it came from.
    pub origin: LearnedOrigin,
    /// Its file, if it has one (a file the user opened, or a trained model's temporary
    /// file): how it is loaded again.
    pub path: Option<PathBuf>,
    /// Counts models: the ε field is recomputed when it changes.
    pub serial: u64,
}

/// The reverse chain on screen: every frame the worker sent, newest last.
#[allow(clippy::struct_excessive_bools)] // independent facts about a live chain
pub struct ChainView {
    /// The job.
    pub generation: u64,
    /// The shape of one sample.
    pub shape: DataShape,
    /// `DDPM, σ² = β_t · ideal denoiser`, for the heading.
    pub description: String,
    /// Whether the ideal denoiser runs it.
    pub ideal: bool,
    /// `T` of the chain's schedule.
    pub steps: usize,
    /// Stored frames, `t` decreasing.
    pub frames: Vec<Frame>,
    /// For each stored frame, the step its `x̂_0` was predicted at (the frame before it;
    /// `None` for the chain's first frame, whose `x̂_0` is `x` itself).
    predicted_at: Vec<Option<usize>>,
    bytes: usize,
    /// When frames of the running chain arrived, with the steps done then (the last
    /// [`RATE_WINDOW`]): the achieved rate.
    arrivals: VecDeque<(Instant, usize)>,
    /// Steps taken and in all.
    pub progress: (usize, usize),
    /// Whether the worker says the chain is paused.
    pub paused: bool,
    /// Whether it reached `t = 0` (or failed).
    pub done: bool,
    /// Whether it was started to pause by itself at a step (`--pause-at`).
    pub pauses_itself: bool,
    /// The next frame moves `t` even though the chain is paused (a single step).
    pub follow_next: bool,
    /// Fraction of the final samples within [`NEAR_RADIUS`] of a point on screen (2D).
    pub near_fraction: Option<f64>,
    /// A guided chain's guidance and the class of each sample.
    pub guided: Option<(ClassGuidance, Vec<usize>)>,
    /// What a finished guided chain's samples show.
    pub readout: Option<GuidanceReadout>,
    /// The chain's sampler.
    pub sampler: Option<SamplerKind>,
    /// The probability flow's network evaluations so far.
    pub nfe: Option<usize>,
    /// Where a 2D chain from noise started, for the paths beside it.
    pub origin: Option<PathsOrigin>,
    /// The paths drawn beside the chain's.
    pub beside: Option<BesidePaths>,
}

/// What a chain's first samples start from: the paths beside them are asked with it (the
/// same seed gives the same `x_T`).
#[derive(Clone, Debug)]
pub struct PathsOrigin {
    /// The chain's denoiser.
    pub denoiser: DenoiserChoice,
    /// Its seed.
    pub seed: u64,
    /// Its guidance.
    pub guidance: Option<ClassGuidance>,
    /// Its samples.
    pub n: usize,
    /// What its learned model predicts (`None` for the ideal denoiser).
    pub objective: Option<Objective>,
}

impl PathsOrigin {
    /// The origin of a chain of `n` samples (its first [`BESIDE_SAMPLES`] are shown beside).
    #[must_use]
    pub fn new(
        denoiser: &DenoiserChoice,
        seed: u64,
        guidance: Option<ClassGuidance>,
        n: usize,
        learned: Option<Objective>,
    ) -> Self {
        Self {
            denoiser: denoiser.clone(),
            seed,
            guidance,
            n: n.min(BESIDE_SAMPLES),
            objective: learned.filter(|_| matches!(denoiser, DenoiserChoice::Learned)),
        }
    }
}

/// Another sampler's paths from the chain's `x_T`, asked of the worker or received.
#[derive(Clone, Debug, PartialEq)]
pub struct BesidePaths {
    /// The sampler.
    pub sampler: Sampler,
    /// The request.
    pub generation: u64,
    /// The paths, once they arrived.
    pub paths: Option<ChainPaths>,
    /// Why there are none.
    pub error: Option<String>,
}

impl BesidePaths {
    /// The paths of the first [`HIGHLIGHTED_PATHS`] samples, from `x_T` down to the
    /// frame at `upto_t` (as [`ChainView::paths`]).
    #[must_use]
    pub fn paths(&self, upto_t: usize) -> Vec<Vec<[f64; 2]>> {
        self.paths.as_ref().map_or_else(Vec::new, |p| {
            highlighted_paths(&p.frames.iter().map(|(t, x)| (*t, x.as_slice())), upto_t)
        })
    }
}

impl BesidePaths {
    /// The frame shown at `t`: the last one at or after it (the chain's own frames may
    /// fall between this one's).
    fn frame_at(&self, t: usize) -> Option<&(usize, Vec<f32>)> {
        let frames = &self.paths.as_ref()?.frames;
        frames.iter().rev().find(|(s, _)| *s >= t).or(frames.first())
    }

    /// The step of the frame shown at `t`.
    #[must_use]
    pub fn t_at(&self, t: usize) -> Option<usize> {
        self.frame_at(t).map(|(s, _)| *s)
    }

    /// The samples of the frame shown at `t`.
    #[must_use]
    pub fn points_at(&self, t: usize) -> Vec<[f64; 2]> {
        self.frame_at(t)
            .map_or_else(Vec::new, |(_, x)| ChainView::points(x))
    }
}

/// The paths of the first [`HIGHLIGHTED_PATHS`] 2D samples through `frames` (`(t, x_t)`,
/// `t` decreasing), down to the frame at `upto_t`.
fn highlighted_paths<'a, I>(frames: &I, upto_t: usize) -> Vec<Vec<[f64; 2]>>
where
    I: Iterator<Item = (usize, &'a [f32])> + Clone,
{
    let n = frames
        .clone()
        .next()
        .map_or(0, |(_, x)| x.len() / 2)
        .min(HIGHLIGHTED_PATHS);
    (0..n)
        .map(|i| {
            frames
                .clone()
                .filter(|(t, _)| *t >= upto_t)
                .map(|(_, x)| [f64::from(x[2 * i]), f64::from(x[2 * i + 1])])
                .collect()
        })
        .collect()
}

impl ChainView {
    /// An empty view of job `generation`.
    #[must_use]
    pub fn new(generation: u64, shape: DataShape, description: String, ideal: bool, steps: usize) -> Self {
        Self {
            generation,
            shape,
            description,
            ideal,
            steps,
            frames: Vec::new(),
            predicted_at: Vec::new(),
            bytes: 0,
            arrivals: VecDeque::new(),
            progress: (0, 0),
            paused: false,
            done: false,
            pauses_itself: false,
            follow_next: false,
            near_fraction: None,
            guided: None,
            readout: None,
            sampler: None,
            nfe: None,
            origin: None,
            beside: None,
        }
    }

    /// Stores `frame`; beyond [`FRAME_BUDGET_BYTES`] every other older frame is dropped
    /// (the first and the newest are always kept).
    pub fn push(&mut self, frame: Frame) {
        self.bytes += frame_bytes(&frame);
        self.predicted_at.push(self.newest().map(|f| f.t));
        self.frames.push(frame);
        while self.bytes > FRAME_BUDGET_BYTES && self.frames.len() > 3 {
            let last = self.frames.len() - 1;
            let keep = |k: usize| k == 0 || k == last || k.is_multiple_of(2);
            let mut k = 0;
            self.frames.retain(|_| {
                k += 1;
                keep(k - 1)
            });
            let mut k = 0;
            self.predicted_at.retain(|_| {
                k += 1;
                keep(k - 1)
            });
            self.bytes = self.frames.iter().map(frame_bytes).sum();
        }
    }

    /// The step the `x̂_0` of the stored frame at `t` was predicted at: the step before
    /// (`None` for the first frame, and for a `t` not stored).
    #[must_use]
    pub fn predicted_at(&self, t: usize) -> Option<usize> {
        let i = self.frames.iter().position(|f| f.t == t)?;
        self.predicted_at[i]
    }

    /// Notes that a frame of the running chain arrived `now`, after `progress.0` steps.
    pub fn record_arrival(&mut self, now: Instant) {
        self.arrivals.push_back((now, self.progress.0));
        // The last two are kept however old: a chain slower than a step per window still
        // has a rate.
        while self.arrivals.len() > 2
            && self
                .arrivals
                .front()
                .is_some_and(|(at, _)| now.duration_since(*at) > RATE_WINDOW)
        {
            self.arrivals.pop_front();
        }
    }

    /// Forgets the arrival times (the chain paused or resumed: the gap is not its rate).
    pub fn reset_rate(&mut self) {
        self.arrivals.clear();
    }

    /// Steps per second over the frames that arrived in the last [`RATE_WINDOW`] (at least
    /// the last two), once they span half of it.
    #[must_use]
    pub fn achieved_rate(&self) -> Option<f64> {
        achieved_rate(self.arrivals.iter().copied())
    }

    /// Bytes the stored frames take.
    #[must_use]
    pub const fn bytes(&self) -> usize {
        self.bytes
    }

    /// The newest frame.
    #[must_use]
    pub fn newest(&self) -> Option<&Frame> {
        self.frames.last()
    }

    /// Whether the chain is stepping by itself.
    #[must_use]
    pub const fn running(&self) -> bool {
        !self.paused && !self.done
    }

    /// The frame to show at the global `t`: the newest while running, else the stored
    /// frame nearest to `t`.
    #[must_use]
    pub fn shown(&self, t: usize) -> Option<&Frame> {
        if self.running() {
            return self.newest();
        }
        self.frames.iter().min_by_key(|f| f.t.abs_diff(t))
    }

    /// The `t` of the stored frame `count` frames away from the one shown at `t`, towards
    /// larger `t` if `count > 0` (older frames), else towards smaller.
    #[must_use]
    pub fn neighbour(&self, t: usize, count: i64) -> Option<usize> {
        let shown_t = self.shown(t)?.t;
        let shown = self.frames.iter().position(|f| f.t == shown_t)?;
        // Frames are stored with t decreasing: larger t is a smaller index.
        let index = (shown as i64 - count).clamp(0, self.frames.len() as i64 - 1) as usize;
        Some(self.frames[index].t)
    }

    /// The 2D samples of a frame's `x` as points.
    #[must_use]
    pub fn points(values: &[f32]) -> Vec<[f64; 2]> {
        values
            .chunks_exact(2)
            .map(|p| [f64::from(p[0]), f64::from(p[1])])
            .collect()
    }

    /// The paths of the first [`HIGHLIGHTED_PATHS`] samples through the stored frames, from
    /// `x_T` down to the frame at `upto_t`.
    #[must_use]
    pub fn paths(&self, upto_t: usize) -> Vec<Vec<[f64; 2]>> {
        highlighted_paths(&self.frames.iter().map(|f| (f.t, f.x.as_slice())), upto_t)
    }
}

/// Steps per second from `(arrival time, steps done)` pairs in arrival order: the steps
/// between the first and the last over the time between them, once that is at least half
/// of [`RATE_WINDOW`] (frames arrive in bursts, one per drained batch).
#[must_use]
pub fn achieved_rate(arrivals: impl IntoIterator<Item = (Instant, usize)>) -> Option<f64> {
    let mut arrivals = arrivals.into_iter();
    let first = arrivals.next()?;
    let last = arrivals.last()?;
    let seconds = last.0.duration_since(first.0).as_secs_f64();
    (seconds >= RATE_WINDOW.as_secs_f64() / 2.0).then(|| last.1.saturating_sub(first.1) as f64 / seconds)
}

fn frame_bytes(frame: &Frame) -> usize {
    4 * (frame.x.len() + frame.x0_hat.len())
}

/// A training run's progress and curves.
#[derive(Clone, Debug)]
pub struct TrainingView {
    /// The job.
    pub generation: u64,
    /// What it trains on, e.g. `two-moons (8000 points)`.
    pub what: String,
    /// Iterations done and in all.
    pub iteration: u64,
    /// Iterations in all.
    pub total: u64,
    /// Iterations per second.
    pub rate: f64,
    /// Whether the worker says it is paused.
    pub paused: bool,
    /// How it ended, once it has.
    pub end: Option<TrainEnd>,
    /// `(iteration, mean batch loss)` of each report.
    pub loss: Vec<[f64; 2]>,
    /// `(iteration, EMA of the batch loss)`.
    pub loss_ema: Vec<[f64; 2]>,
    /// `(iteration, validation loss)`.
    pub validation: Vec<[f64; 2]>,
    /// `(iteration, SW2)` of samples against held-out data (2D).
    pub metric: Vec<[f64; 2]>,
    /// SW2 between two independent draws of the data: the best a model can do.
    pub noise_floor: Option<f64>,
    /// The samples of the latest evaluation (2D) and its iteration: the model's draws
    /// as it learns.
    pub samples: Option<(u64, Vec<[f64; 2]>)>,
    /// A single-image model's samples of the latest evaluation: its iteration, the grid.
    pub images: Option<(u64, Rgba)>,
    /// The model held before this run, restored if the run diverges.
    pub previous: Option<LearnedModel>,
}

impl TrainingView {
    /// A run that has not reported yet.
    #[must_use]
    pub fn new(generation: u64, what: String, total: u64, previous: Option<LearnedModel>) -> Self {
        Self {
            generation,
            what,
            iteration: 0,
            total,
            rate: 0.0,
            paused: false,
            end: None,
            loss: Vec::new(),
            loss_ema: Vec::new(),
            validation: Vec::new(),
            metric: Vec::new(),
            noise_floor: None,
            samples: None,
            images: None,
            previous,
        }
    }

    /// Whether the run has not ended.
    #[must_use]
    pub const fn running(&self) -> bool {
        self.end.is_none()
    }

    /// Records a progress report (`loss` is NaN in pause/resume reports).
    pub fn progress(&mut self, iteration: u64, total: u64, loss: f64, rate: f64, paused: bool) {
        self.iteration = iteration;
        self.total = total;
        self.rate = rate;
        self.paused = paused;
        if loss.is_finite() {
            let x = iteration as f64;
            self.loss.push([x, loss]);
            let ema = self
                .loss_ema
                .last()
                .map_or(loss, |p| (1.0 - LOSS_EMA) * p[1] + LOSS_EMA * loss);
            self.loss_ema.push([x, ema]);
        }
    }

    /// Seconds left at the current rate.
    #[must_use]
    pub fn eta_s(&self) -> Option<f64> {
        (self.rate > 0.0).then(|| self.total.saturating_sub(self.iteration) as f64 / self.rate)
    }

    /// The last SW2 as a multiple of the noise floor.
    #[must_use]
    pub fn metric_ratio(&self) -> Option<f64> {
        let m = self.metric.last()?[1];
        self.noise_floor.filter(|f| *f > 0.0).map(|f| m / f)
    }
}

/// The ε field at one step on the grid.
#[derive(Clone, Debug, PartialEq)]
pub struct EpsField {
    /// What it was computed for.
    pub key: EpsKey,
    /// Grid points, `x, y, …`.
    pub points: Vec<f32>,
    /// `ε̂` there.
    pub eps: Vec<f32>,
}

/// What an ε field depends on: the denoiser (ideal, model serial, data generation) and `t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpsKey {
    /// Whether the ideal denoiser.
    pub ideal: bool,
    /// The learned model's serial (0 for the ideal denoiser).
    pub model: u64,
    /// The data and schedule on screen (the views' generation).
    pub data: u64,
    /// The step.
    pub t: usize,
    /// The class a conditional model's field is guided to, and `w` (its bits).
    pub guidance: Option<(usize, u32)>,
}

/// Faults a test injects into the jobs the window starts (fault-injection tests only:
/// the UI and the command line never set them).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InjectedFaults {
    /// Training panics after this many iterations ([`TrainSettings`]'s hook).
    ///
    /// [`TrainSettings`]: crate::model::train::TrainSettings
    pub train_panic_at_iteration: Option<u64>,
    /// The training loss is NaN at this iteration ([`TrainSettings`]'s hook).
    ///
    /// [`TrainSettings`]: crate::model::train::TrainSettings
    pub train_nan_loss_at_iteration: Option<u64>,
    /// The reverse chain panics after this many steps (`ReverseChain::panic_at_step`).
    pub sample_panic_at_step: Option<usize>,
}

/// The Reverse tab's and the model sections' state.
#[derive(Default)]
pub struct Learning {
    /// The learned model the worker holds.
    pub learned: Option<LearnedModel>,
    /// A model load the worker has not answered yet.
    pub pending: Option<LearnedOrigin>,
    /// Whether the pending load was the user's choice (then the chain uses it).
    pub pending_user: bool,
    /// The reverse chain.
    pub chain: Option<ChainView>,
    /// The last training run.
    pub training: Option<TrainingView>,
    /// The newest ε field received.
    pub eps: Option<EpsField>,
    /// The ε field asked for and not answered yet: (generation, key).
    pub eps_requested: Option<(u64, EpsKey)>,
    /// Why the ε field could not be computed.
    pub eps_error: Option<String>,
    /// Where the last trained model was kept.
    pub trained_file: Option<PathBuf>,
    /// A save of a trained model that is internal (no status message): its path.
    pub saving_trained: Option<PathBuf>,
    /// Temporary files written for trained models (removed at exit).
    pub temp_files: Vec<PathBuf>,
    /// Textures of the image chain: (`x_t`, `x̂_0`).
    pub textures: (Option<TextureHandle>, Option<TextureHandle>),
    /// What the textures show: (chain generation, `t`).
    pub texture_key: Option<(u64, usize)>,
    /// A training single-image model's latest samples on the GPU: (generation, iteration),
    /// the texture.
    pub training_texture: Option<((u64, u64), TextureHandle)>,
    /// Models received so far.
    pub serial: u64,
    /// The labelled data the guidance readout classifies against, by the model's
    /// `dataset` (built on first use).
    pub reference: Option<(String, Option<LabelledData>)>,
    /// What the guided chains of this model showed, oldest first (at most
    /// [`GUIDANCE_HISTORY`]; cleared when the model changes).
    pub guidance_history: Vec<GuidanceReadout>,
    /// Faults injected into the next jobs (tests only).
    #[doc(hidden)]
    pub faults: InjectedFaults,
}

impl Learning {
    /// Whether a training run is going (the worker does one job at a time).
    #[must_use]
    pub fn training_running(&self) -> bool {
        self.training.as_ref().is_some_and(TrainingView::running)
    }

    /// Whether the model worker is held by a training run or a running chain (estimates
    /// wait for it).
    #[must_use]
    pub fn worker_busy(&self) -> bool {
        self.training_running() || self.chain.as_ref().is_some_and(|c| !c.done)
    }

    /// The frame of the chain the Reverse tab shows at the global `t`: while a 2D chain
    /// runs, the newest frame whose ε field has arrived (so that `x_t` and the arrows are
    /// of one step; the field of the newest is asked for meanwhile), else
    /// [`ChainView::shown`].
    #[must_use]
    pub fn shown_frame(&self, t: usize) -> Option<&Frame> {
        let chain = self.chain.as_ref()?;
        let newest = chain.newest()?;
        if chain.running()
            && chain.shape == DataShape::Points
            && self.eps_error.is_none()
            && let Some(eps) = &self.eps
            && eps.key.t >= newest.t
            && let Some(frame) = chain.frames.iter().rev().find(|f| f.t == eps.key.t)
        {
            return Some(frame);
        }
        chain.shown(t)
    }

    /// Whether the learned model denoises the data on screen: the same shape as the ideal
    /// denoiser's, or a single-image model on a photo with its channels.
    #[must_use]
    pub fn learned_fits(&self, scene: &Scene) -> bool {
        self.learned
            .as_ref()
            .is_some_and(|m| crate::scene::prepare::model_fits(scene, m.summary.shape, m.summary.photo))
    }

    /// The shape the sampler would produce: the learned model's, or the data's for the
    /// ideal denoiser.
    #[must_use]
    pub fn denoiser_shape(&self, ideal: bool, scene: &Scene) -> Option<DataShape> {
        if ideal {
            ideal_shape(scene)
        } else {
            self.learned.as_ref().map(|m| m.summary.shape)
        }
    }
}

/// Fraction of `samples` within `radius` of some point of `data` (brute force: a
/// thousand samples against a thousand points is a millisecond).
#[must_use]
pub fn fraction_within(samples: &[[f64; 2]], data: &[[f64; 2]], radius: f64) -> f64 {
    if samples.is_empty() || data.is_empty() {
        return 0.0;
    }
    let r2 = radius * radius;
    let near = samples
        .iter()
        .filter(|s| {
            data.iter()
                .any(|d| (s[0] - d[0]).powi(2) + (s[1] - d[1]).powi(2) <= r2)
        })
        .count();
    near as f64 / samples.len() as f64
}

/// The ε field's grid: [`EPS_GRID`]² cell centres over `[−extent, extent]²`, `x, y, …`.
#[must_use]
pub fn eps_grid(extent: f64) -> Vec<f32> {
    let spacing = 2.0 * extent / EPS_GRID as f64;
    let mut out = Vec::with_capacity(2 * EPS_GRID * EPS_GRID);
    for j in 0..EPS_GRID {
        for i in 0..EPS_GRID {
            out.push((-extent + (i as f64 + 0.5) * spacing) as f32);
            out.push((-extent + (j as f64 + 0.5) * spacing) as f32);
        }
    }
    out
}

/// `n` images of `shape` (CHW each) tiled in a square-ish grid with 1-pixel mid-grey gaps.
#[must_use]
pub fn image_grid(values: &[f32], shape: DataShape) -> Option<Rgba> {
    image_tiles(values, shape, None)
}

/// [`image_grid`] in one row (a wide view: the training samples of a single-image model).
#[must_use]
pub fn image_row(values: &[f32], shape: DataShape) -> Option<Rgba> {
    image_tiles(values, shape, Some(values.len() / shape.dim().max(1)))
}

fn image_tiles(values: &[f32], shape: DataShape, columns: Option<usize>) -> Option<Rgba> {
    let DataShape::Image {
        channels,
        height,
        width,
    } = shape
    else {
        return None;
    };
    let dim = shape.dim();
    if dim == 0 || values.len() < dim {
        return None;
    }
    let rgba = values.chunks_exact(dim).map(|image| {
        let hwc = crate::model::chw_to_hwc(image, channels, height, width);
        crate::export::image_to_rgba(&hwc, width as u32, height as u32, channels as u8)
    });
    // The gaps are half-transparent mid-grey: the panel shows through them.
    let columns = columns.unwrap_or_else(|| grid_columns(values.len() / dim, height, width));
    let (gw, gh, pixels) = tile(rgba, height, width, columns.max(1), &[128; 4]);
    Some(Rgba {
        width: gw as u32,
        height: gh as u32,
        pixels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_grid_gaps_are_half_transparent_grey() {
        // Three 1×1 grey images (−1, 0, 1), two to a row: a 3 × 3 grid whose gaps and
        // empty cell are (128, 128, 128, 128), the images opaque.
        let shape = DataShape::Image {
            channels: 1,
            height: 1,
            width: 1,
        };
        let grid = image_grid(&[-1.0, 0.0, 1.0], shape).unwrap();
        assert_eq!((grid.width, grid.height), (3, 3));
        let g = [128u8; 4];
        let expected: Vec<u8> = [
            [0, 0, 0, 255],
            g,
            [128, 128, 128, 255],
            g,
            g,
            g,
            [255, 255, 255, 255],
            g,
            g,
        ]
        .concat();
        assert_eq!(grid.pixels, expected);
    }

    #[test]
    fn fraction_within_counts_samples_near_some_point() {
        let data = [[0.0, 0.0], [1.0, 1.0]];
        let samples = [[0.005, 0.0], [1.0, 1.009], [0.5, 0.5], [1.02, 1.0]];
        assert!((fraction_within(&samples, &data, 0.01) - 0.5).abs() < 1e-12);
        assert!(fraction_within(&[], &data, 0.01).abs() < 1e-12);
    }

    #[test]
    fn the_stored_frames_stay_within_the_budget_and_keep_both_ends() {
        let mut chain = ChainView::new(1, DataShape::Points, String::new(), true, 1000);
        let values = FRAME_BUDGET_BYTES / 4 / 2 / 10; // a tenth of the budget a frame
        for t in (0..=40).rev() {
            chain.push(Frame {
                t,
                x: vec![0.0; values],
                x0_hat: vec![0.0; values],
            });
        }
        assert!(chain.bytes() <= FRAME_BUDGET_BYTES);
        assert_eq!(chain.frames.first().unwrap().t, 40);
        assert_eq!(chain.frames.last().unwrap().t, 0);
        assert!(chain.frames.windows(2).all(|w| w[0].t > w[1].t));
    }
}
