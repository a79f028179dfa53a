//! The state behind the Reverse tab and the Model and Training sections: which learned
//! model the `model` worker holds, the reverse chain's stored frames, the training run's
//! curves and the ε field — plus the small pure helpers that turn the data on screen into
//! training sets, ideal-denoiser data and SDEdit starts.
//!
//! Everything here is plain data the `model` worker sent (points, pixels, numbers); the UI
//! never waits for the worker.

use std::path::PathBuf;

use egui::TextureHandle;

use super::scene::{self, Scene, SceneData};
use crate::data::{Dataset, ImageData};
use crate::model::sample::Frame;
use crate::model::train::TrainSet;
use crate::model::{Architecture, DataShape, conv::ConvConfig, mlp::MlpConfig};
use crate::worker::frames::Rgba;
use crate::worker::model::{ModelSummary, TrainEnd};

/// Most bytes the stored frames of one chain may take; older frames are thinned out
/// (every other one dropped) beyond it.
pub const FRAME_BUDGET_BYTES: usize = 64 << 20;
/// Highlighted samples whose paths are drawn (2D).
pub const HIGHLIGHTED_PATHS: usize = 12;
/// The ε field is drawn on a grid of this many arrows a side.
pub const EPS_GRID: usize = 15;
/// "Within this distance of a point on screen" (2D, standardised units).
pub const NEAR_RADIUS: f64 = 0.01;
/// Images are reduced so their long side is at most this to train on (and for the ideal
/// denoiser of an image).
pub const TRAIN_MAX_SIDE: usize = 32;
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
    bytes: usize,
    /// Steps taken and in all.
    pub progress: (usize, usize),
    /// Whether the worker says the chain is paused.
    pub paused: bool,
    /// Whether it reached `t = 0` (or failed).
    pub done: bool,
    /// The next frame moves `t` even though the chain is paused (a single step).
    pub follow_next: bool,
    /// Fraction of the final samples within [`NEAR_RADIUS`] of a point on screen (2D).
    pub near_fraction: Option<f64>,
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
            bytes: 0,
            progress: (0, 0),
            paused: false,
            done: false,
            follow_next: false,
            near_fraction: None,
        }
    }

    /// Stores `frame`; beyond [`FRAME_BUDGET_BYTES`] every other older frame is dropped
    /// (the first and the newest are always kept).
    pub fn push(&mut self, frame: Frame) {
        self.bytes += frame_bytes(&frame);
        self.frames.push(frame);
        while self.bytes > FRAME_BUDGET_BYTES && self.frames.len() > 3 {
            let last = self.frames.len() - 1;
            let mut k = 0;
            self.frames.retain(|_| {
                let keep = k == 0 || k == last || k % 2 == 0;
                k += 1;
                keep
            });
            self.bytes = self.frames.iter().map(frame_bytes).sum();
        }
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
        let n = self
            .frames
            .first()
            .map_or(0, |f| f.x.len() / 2)
            .min(HIGHLIGHTED_PATHS);
        (0..n)
            .map(|i| {
                self.frames
                    .iter()
                    .filter(|f| f.t >= upto_t)
                    .map(|f| [f64::from(f.x[2 * i]), f64::from(f.x[2 * i + 1])])
                    .collect()
            })
            .collect()
    }
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
    /// Models received so far.
    pub serial: u64,
    /// Faults injected into the next jobs (tests only).
    #[doc(hidden)]
    pub faults: InjectedFaults,
}

impl Learning {
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

/// The shape of one example of the scene as the models see it: a point, an 8×8 digit, or
/// the image reduced to ≤ [`TRAIN_MAX_SIDE`].
#[must_use]
pub fn ideal_shape(scene: &Scene) -> Option<DataShape> {
    match (&scene.data, &scene.source) {
        (SceneData::Points(_), _) => Some(DataShape::Points),
        (SceneData::Image(_), super::settings::SourceChoice::Digits) => Some(DataShape::Image {
            channels: 1,
            height: crate::data::DIGIT_SIDE,
            width: crate::data::DIGIT_SIDE,
        }),
        (SceneData::Image(img), _) => {
            let (height, width) = reduced_size(img, TRAIN_MAX_SIDE);
            Some(DataShape::Image {
                channels: usize::from(img.channels),
                height,
                width,
            })
        }
    }
}

/// The name of the shipped weights for the scene, if there are any.
#[must_use]
pub fn shipped_name(scene: &Scene) -> Option<String> {
    let name = match (&scene.source, &scene.data) {
        (super::settings::SourceChoice::Digits, _) => "digits".to_owned(),
        (super::settings::SourceChoice::Dataset(name), _) => name.parse::<Dataset>().ok()?.name().to_owned(),
        _ => return None,
    };
    crate::model::shipped::names().any(|n| n == name).then_some(name)
}

/// `(height, width)` of `img` reduced so its long side is at most `max_side` (never
/// enlarged).
#[must_use]
pub fn reduced_size(img: &ImageData, max_side: usize) -> (usize, usize) {
    let (w, h) = (img.width as usize, img.height as usize);
    let long = w.max(h).max(1);
    if long <= max_side {
        return (h.max(1), w.max(1));
    }
    let scale = max_side as f64 / long as f64;
    (
        ((h as f64 * scale).round() as usize).clamp(1, max_side),
        ((w as f64 * scale).round() as usize).clamp(1, max_side),
    )
}

/// `img` resampled to `channels × height × width`, CHW (area average; grey ↔ RGB by
/// replication or the mean of the channels).
#[must_use]
pub fn resample_chw(img: &ImageData, channels: usize, height: usize, width: usize) -> Vec<f32> {
    let (sw, sh, sc) = (img.width as usize, img.height as usize, usize::from(img.channels));
    let mut out = vec![0f32; channels * height * width];
    if sw == 0 || sh == 0 || sc == 0 || img.pixels.len() < sw * sh * sc {
        return out;
    }
    for y in 0..height {
        let y0 = y * sh / height;
        let y1 = ((y + 1) * sh / height).max(y0 + 1).min(sh);
        for x in 0..width {
            let x0 = x * sw / width;
            let x1 = ((x + 1) * sw / width).max(x0 + 1).min(sw);
            let mut sums = [0f64; 3];
            for sy in y0..y1 {
                for sx in x0..x1 {
                    let base = (sy * sw + sx) * sc;
                    for (c, sum) in sums.iter_mut().enumerate().take(sc.min(3)) {
                        *sum += f64::from(img.pixels[base + c]);
                    }
                }
            }
            let count = ((y1 - y0) * (x1 - x0)) as f64;
            let mean: Vec<f64> = sums[..sc.min(3)].iter().map(|s| s / count).collect();
            for c in 0..channels {
                let v = if channels == mean.len() {
                    mean[c]
                } else if mean.len() == 1 {
                    mean[0]
                } else {
                    mean.iter().sum::<f64>() / mean.len() as f64
                };
                out[(c * height + y) * width + x] = v as f32;
            }
        }
    }
    out
}

/// The training set and architecture for the data on screen: a built-in 2D set, the
/// user's points, the digits, or the image reduced to ≤ 32×32 (one image: it memorises it).
pub fn train_set(scene: &Scene, seed: u64) -> Result<(TrainSet, Architecture), String> {
    match (&scene.source, &scene.data) {
        (super::settings::SourceChoice::Dataset(name), SceneData::Points(_)) => {
            let dataset: Dataset = name.parse().map_err(|e: crate::data::DataError| e.to_string())?;
            Ok((
                TrainSet::dataset(dataset, seed),
                Architecture::Mlp2d(MlpConfig::default()),
            ))
        }
        (_, SceneData::Points(points)) => Ok((
            TrainSet::points(&scene.name, points, seed).map_err(|e| e.to_string())?,
            Architecture::Mlp2d(MlpConfig::default()),
        )),
        (super::settings::SourceChoice::Digits, _) => Ok((
            TrainSet::digits(seed).map_err(|e| e.to_string())?,
            Architecture::Conv(ConvConfig::digits()),
        )),
        (_, SceneData::Image(img)) => {
            let (height, width) = reduced_size(img, TRAIN_MAX_SIDE);
            let channels = usize::from(img.channels);
            let chw = resample_chw(img, channels, height, width);
            let shape = DataShape::Image {
                channels,
                height,
                width,
            };
            Ok((
                TrainSet::images(&scene.name, shape, &[chw], seed).map_err(|e| e.to_string())?,
                Architecture::Conv(ConvConfig::for_image(channels, height, width)),
            ))
        }
    }
}

/// The data of the ideal denoiser for the scene (`n × dim`, CHW for images) and its shape.
pub fn ideal_data(scene: &Scene) -> Result<(Vec<f64>, DataShape), String> {
    let shape = ideal_shape(scene).ok_or("no data for the ideal denoiser")?;
    let data = match (&scene.source, &scene.data) {
        (_, SceneData::Points(points)) => points.iter().flatten().copied().collect(),
        (super::settings::SourceChoice::Digits, _) => scene::cached_digits()?
            .images
            .iter()
            .flatten()
            .map(|&v| f64::from(v))
            .collect(),
        (_, SceneData::Image(img)) => {
            let DataShape::Image {
                channels,
                height,
                width,
            } = shape
            else {
                return Err("the ideal denoiser of an image needs an image shape".into());
            };
            resample_chw(img, channels, height, width)
                .into_iter()
                .map(f64::from)
                .collect()
        }
    };
    Ok((data, shape))
}

/// SDEdit's `x_0`: `n` examples of `shape` (CHW) from the image data on screen — the
/// first `n` digits, or the image resampled to the shape and repeated `n` times.
pub fn sdedit_start(scene: &Scene, shape: DataShape, n: usize) -> Result<Vec<f32>, String> {
    let DataShape::Image {
        channels,
        height,
        width,
    } = shape
    else {
        return Err("SDEdit needs an image model (the model denoises 2D points)".into());
    };
    let SceneData::Image(img) = &scene.data else {
        return Err("SDEdit starts from an image: open an image or the digits".into());
    };
    if scene.source == super::settings::SourceChoice::Digits
        && channels == 1
        && height == crate::data::DIGIT_SIDE
        && width == crate::data::DIGIT_SIDE
    {
        let digits = scene::cached_digits()?;
        return Ok(digits.images.iter().take(n).flatten().copied().collect());
    }
    let one = resample_chw(img, channels, height, width);
    Ok(std::iter::repeat_n(one, n).flatten().collect())
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
    let n = values.len() / dim;
    let cols = (n as f64).sqrt().ceil() as usize;
    let rows = n.div_ceil(cols);
    let gw = cols * width + cols - 1;
    let gh = rows * height + rows - 1;
    let mut pixels = vec![128u8; gw * gh * 4];
    for (k, image) in values.chunks_exact(dim).enumerate() {
        let hwc = crate::model::chw_to_hwc(image, channels, height, width);
        let rgba = crate::export::image_to_rgba(&hwc, width as u32, height as u32, channels as u8);
        let (gy, gx) = (k / cols, k % cols);
        for y in 0..height {
            let dst = ((gy * (height + 1) + y) * gw + gx * (width + 1)) * 4;
            let src = y * width * 4;
            pixels[dst..dst + width * 4].copy_from_slice(&rgba[src..src + width * 4]);
        }
    }
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

    #[test]
    fn resampling_averages_areas_and_converts_channels() {
        let img = ImageData {
            width: 2,
            height: 2,
            channels: 3,
            pixels: vec![1.0, 0.0, -1.0, 1.0, 0.0, -1.0, -1.0, 0.0, 1.0, -1.0, 0.0, 1.0],
            source_size: (2, 2),
        };
        assert_eq!(resample_chw(&img, 3, 1, 1), vec![0.0, 0.0, 0.0]);
        // Grey: the mean of the channels; the top row is (1 + 0 − 1)/3 = 0.
        assert_eq!(resample_chw(&img, 1, 2, 1), vec![0.0, 0.0]);
        assert_eq!(resample_chw(&img, 3, 2, 1), vec![1.0, -1.0, 0.0, 0.0, -1.0, 1.0]);
    }
}
