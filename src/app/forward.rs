//! The state behind the two views of the forward chain: Markov chain and closed form.
//!
//! Points are cheap: both views are computed on the UI thread when `t` changes. Images
//! are computed by the `forward-frames` worker; the view keeps the newest pictures it
//! received (as textures) until newer ones arrive.

use std::sync::Arc;

use crate::diffusion::forward::{self, MarkovChain, closed_form_noise, markov_path};
use crate::diffusion::metrics::Histogram;
use crate::diffusion::{Schedule, noise};
use crate::worker::frames::{HIST_RANGE, ImageJob, ViewFrame};

/// Stream that picks which points are highlighted.
const HIGHLIGHT_STREAM: u64 = 0x4849_4748;

/// Both views of a 2D point cloud at the current `t`.
pub struct PointsView {
    /// The schedule the views follow.
    pub schedule: Schedule,
    /// `x_0`.
    pub x0: Arc<Vec<[f64; 2]>>,
    eps: Vec<f64>,
    flat_x0: Vec<f64>,
    chain: MarkovChain<f64>,
    /// The step of [`Self::markov`] and [`Self::closed`].
    pub t: usize,
    /// `x_t` of the Markov chain.
    pub markov: Vec<[f64; 2]>,
    /// `x_t` of the closed form.
    pub closed: Vec<[f64; 2]>,
    /// Histogram of the Markov view's coordinates.
    pub markov_hist: Histogram,
    /// Histogram of the closed form's coordinates.
    pub closed_hist: Histogram,
    /// The highlighted points' Markov paths, `x_0..x_T`.
    pub markov_paths: Vec<Vec<[f64; 2]>>,
    /// The highlighted points' closed-form paths, `x_0..x_T` with one `ε`.
    pub closed_paths: Vec<Vec<[f64; 2]>>,
}

impl PointsView {
    /// Both views of `points` under `schedule` and `seed`, at `t`, with `highlighted`
    /// points' paths.
    #[must_use]
    pub fn new(
        points: Arc<Vec<[f64; 2]>>,
        schedule: Schedule,
        seed: u64,
        t: usize,
        highlighted: usize,
    ) -> Self {
        let flat_x0: Vec<f64> = points.iter().flatten().copied().collect();
        let eps = closed_form_noise(seed, flat_x0.len());
        let chain = MarkovChain::new(schedule.clone(), flat_x0.clone(), seed);
        // Highlight points chosen by seed, spread over the set.
        let n = points.len();
        let mut chosen: Vec<usize> = Vec::new();
        let mut k = 0;
        while chosen.len() < highlighted.min(n) {
            let i = (noise::uniform(seed, HIGHLIGHT_STREAM, k) * n as f64) as usize % n;
            if !chosen.contains(&i) {
                chosen.push(i);
            }
            k += 1;
        }
        let steps = schedule.steps();
        let mut markov_paths = Vec::new();
        let mut closed_paths = Vec::new();
        for &i in &chosen {
            let idx = [2 * i as u64, 2 * i as u64 + 1];
            let path = markov_path(&schedule, seed, &points[i], &idx);
            markov_paths.push(path.iter().map(|p| [p[0], p[1]]).collect());
            closed_paths.push(
                (0..=steps)
                    .map(|t| {
                        let c = schedule.q_sample_coefs(t);
                        [
                            c.signal * points[i][0] + c.noise * eps[2 * i],
                            c.signal * points[i][1] + c.noise * eps[2 * i + 1],
                        ]
                    })
                    .collect(),
            );
        }
        let empty = Histogram::new::<f64>(&[], HIST_RANGE.0, HIST_RANGE.1, HIST_RANGE.2);
        let mut view = Self {
            schedule,
            x0: points,
            eps,
            flat_x0,
            chain,
            t: usize::MAX,
            markov: Vec::new(),
            closed: Vec::new(),
            markov_hist: empty.clone(),
            closed_hist: empty,
            markov_paths,
            closed_paths,
        };
        view.set_t(t);
        view
    }

    /// Moves both views to step `t`.
    pub fn set_t(&mut self, t: usize) {
        let t = t.min(self.schedule.steps());
        if t == self.t {
            return;
        }
        self.t = t;
        let (lo, hi, bins) = HIST_RANGE;
        let markov = self.chain.frame(t);
        let mut closed = vec![0.0; self.flat_x0.len()];
        forward::q_sample(&self.schedule, t, &self.flat_x0, &self.eps, &mut closed);
        self.markov_hist = Histogram::new(&markov, lo, hi, bins);
        self.closed_hist = Histogram::new(&closed, lo, hi, bins);
        self.markov = pairs(&markov);
        self.closed = pairs(&closed);
    }
}

fn pairs(flat: &[f64]) -> Vec<[f64; 2]> {
    flat.chunks_exact(2).map(|p| [p[0], p[1]]).collect()
}

/// What the image views show: the newest frames the worker sent.
#[derive(Default)]
pub struct ImageView {
    /// The generation of the image on screen (events of others are stale).
    pub generation: u64,
    /// The `t` last asked of the worker.
    pub requested: Option<usize>,
    /// The closed-form frame and its step.
    pub closed: Option<(usize, ViewFrame)>,
    /// The Markov frame and its step.
    pub markov: Option<(usize, ViewFrame)>,
    /// Set when the frames' textures need uploading.
    pub dirty: bool,
}

/// The worker job of an image.
#[must_use]
pub fn image_job(generation: u64, img: &crate::data::ImageData, schedule: &Schedule, seed: u64) -> ImageJob {
    ImageJob {
        generation,
        pixels: img.pixels.clone().into(),
        width: img.width,
        height: img.height,
        channels: img.channels,
        schedule: schedule.clone(),
        seed,
    }
}
