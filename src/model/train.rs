//! Training with `L_simple` (Ho et al. 2020): draw `x_0` from the training set, `t`
//! uniform in `1..T`, `ε ~ N(0, I)`, regress `ε_θ(√ᾱ_t x_0 + √(1−ᾱ_t) ε, t)` on `ε`. Or,
//! for a 2D model trained by flow matching ([`Trainer::with_objective`],
//! [`super::flow_matching`]): `τ ~ U(0, 1)`, regress `v_θ((1 − τ) x_0 + τ ε, τ·T)` on
//! `ε − x_0` with the same loss.
//!
//! Every random number is counter-based (batch `i` uses streams derived from the seed and
//! `i`), so a run is reproducible from its seed. Validation: the same loss on held-out
//! examples with fixed `t` and `ε`. For 2D data, sample quality: the sliced
//! Wasserstein-2 distance between samples of the model (DDIM, 100 steps, η = 1; for flow
//! matching, Euler, 100 steps) and held-out points, next to the same distance between two independent draws of the data, the
//! noise floor.

use super::params::{AdamW, Param, all_finite};
use super::sample::{Denoiser, ReverseChain, Sampler};
use super::{Checkpoint, DataShape, ModelError, ModelInfo, Network, Objective};
use crate::data::{self, Dataset};
use crate::diffusion::metrics::sliced_wasserstein2;
use crate::diffusion::noise::StreamKey;
use crate::diffusion::{Schedule, ScheduleSpec};

/// The most points of the user's held out for validation and the sample metric (whose
/// chain samples as many): 10 % of a file up to 100,000 points.
pub const MAX_HELD_OUT_POINTS: usize = 10_000;

/// Noise streams of training: batch `i` uses `TRAIN_STREAM + 4i + k`.
const TRAIN_STREAM: u64 = 0x7000_0000_0000_0000;
/// Noise streams of validation.
const VALIDATION_STREAM: u64 = 0x7100_0000_0000_0000;
/// Seed offset of the quality metric's sampling chain.
const METRIC_SEED: u64 = 0x5157;
/// DDIM steps of the quality metric's sampler (with `η = 1`: like DDPM with `σ² = β̃`, its
/// noise corrects the model's errors; at `η = 0` one bad start among 1000 lands 20σ away
/// and dominates SW2). Also the Euler steps of a flow-matching model's metric.
pub const METRIC_DDIM_STEPS: usize = 100;
/// Training points drawn from a built-in 2D set.
pub const TRAIN_POINTS: usize = 8000;
/// Held-out points of a built-in 2D set (and samples drawn for the metric).
pub const HELD_OUT_POINTS: usize = 1000;
/// A snapshot of the weights is kept every this many iterations (the last good weights
/// training falls back to if the loss turns non-finite).
const SNAPSHOT_EVERY: u64 = 50;

/// The default [`TrainSettings::label_dropout`]: 15 %, the middle of Ho & Salimans's range.
pub const LABEL_DROPOUT: f32 = 0.15;

/// Hyper-parameters of a training run.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSettings {
    /// The noise schedule (and `T`).
    pub schedule: ScheduleSpec,
    /// AdamW learning rate (cosine-decayed to a tenth over the run).
    pub lr: f32,
    /// Examples per batch.
    pub batch: usize,
    /// Iterations to run.
    pub iterations: u64,
    /// Seed of initialisation and every random draw.
    pub seed: u64,
    /// Decay of the exponential moving average of the weights that sampling uses (Ho et
    /// al. 2020, as every DDPM codebase): after each step `w̄ ← w̄ + (1 − d)(w − w̄)` with
    /// `d = min(ema, (1 + i)/(10 + i))` (the warm-up keeps short runs from averaging in
    /// their initialisation). `0` turns it off: the model is the last step's weights.
    pub ema: f32,
    /// The share of a class-conditional model's batch whose labels are dropped (replaced
    /// by the null label `∅`), so that one network learns `ε̂(x_t, c)` and `ε̂(x_t, ∅)`
    /// (classifier-free guidance; Ho & Salimans 2022 use 0.1–0.2). Unused by an
    /// unconditional model.
    pub label_dropout: f32,
    /// Fault injection for tests: [`Trainer::step`] panics after this many iterations,
    /// so tests can check that the `model` worker survives a panic in training. `None` everywhere else: neither the window
    /// nor the command line sets it.
    #[doc(hidden)]
    pub panic_at_iteration: Option<u64>,
    /// Fault injection for tests: the loss of this iteration (0-based) is NaN, as if its
    /// batch had produced one. `None` everywhere else, like `panic_at_iteration`.
    #[doc(hidden)]
    pub nan_loss_at_iteration: Option<u64>,
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self {
            schedule: ScheduleSpec::default(),
            lr: 2e-3,
            batch: 256,
            iterations: 12_000,
            seed: 1,
            ema: 0.0,
            label_dropout: LABEL_DROPOUT,
            panic_at_iteration: None,
            nan_loss_at_iteration: None,
        }
    }
}

impl TrainSettings {
    /// The defaults for data of `shape`: [`TrainSettings::default`] for 2D points (no EMA:
    /// the shipped 2D models sample within twice the data's noise floor without one); for images (a conv net at
    /// ~15 it/s here) 4000 iterations of batch 128 at 1e-3, sampled from the EMA of the
    /// weights at decay 0.999.
    #[must_use]
    pub fn for_shape(shape: DataShape) -> Self {
        match shape {
            DataShape::Points => Self::default(),
            DataShape::Image { .. } => Self {
                lr: 1e-3,
                batch: 128,
                iterations: 4000,
                ema: 0.999,
                ..Self::default()
            },
        }
    }

    /// The defaults of a single-image model ([`super::patch`]): batches of 8 crops,
    /// 3000 iterations at 1e-3 (about 8 minutes on one core here), EMA 0.999.
    #[must_use]
    pub fn for_photo() -> Self {
        Self {
            lr: 1e-3,
            batch: 8,
            iterations: 3000,
            ema: 0.999,
            ..Self::default()
        }
    }

    /// The learning rate at iteration `i`: cosine decay from `lr` to `lr/10`.
    #[must_use]
    pub fn lr_at(&self, i: u64) -> f32 {
        cosine_lr(self.lr, i, self.iterations)
    }
}

/// The examples to train on, split into training and held-out sets.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSet {
    /// A short name (recorded in the weights file).
    pub name: String,
    /// The shape of one example.
    pub shape: DataShape,
    /// Training examples, `n × d`.
    pub train: Vec<f32>,
    /// Held-out examples, `m × d`.
    pub held_out: Vec<f32>,
    /// For 2D data: a second draw (as many as `held_out`), i.i.d. like a model's
    /// samples ([`iid_draw`]), for the noise floor of the quality metric.
    pub reference: Option<Vec<f32>>,
    /// The labelled classes `K` (0: unlabelled data).
    pub classes: usize,
    /// The class (`0..K`) of each training example; empty for unlabelled data.
    pub train_labels: Vec<usize>,
    /// The class of each held-out example; empty for unlabelled data.
    pub held_out_labels: Vec<usize>,
}

fn flatten(points: &[[f64; 2]]) -> Vec<f32> {
    points.iter().flat_map(|p| [p[0] as f32, p[1] as f32]).collect()
}

impl TrainSet {
    /// A built-in 2D set: independent draws for training, held-out and reference.
    #[must_use]
    pub fn dataset(dataset: Dataset, seed: u64) -> Self {
        let labels = |n: usize| -> Vec<usize> { (0..n).filter_map(|i| dataset.class_of(i)).collect() };
        Self {
            name: dataset.name().to_owned(),
            shape: DataShape::Points,
            train: flatten(&data::generate(dataset, TRAIN_POINTS, seed)),
            held_out: flatten(&data::generate(dataset, HELD_OUT_POINTS, seed.wrapping_add(1))),
            reference: Some(iid_draw(dataset, HELD_OUT_POINTS, seed.wrapping_add(2))),
            classes: dataset.classes(),
            train_labels: labels(TRAIN_POINTS),
            held_out_labels: labels(HELD_OUT_POINTS),
        }
    }

    /// The user's points: a seeded 10 % is held out (at least one point, at most
    /// [`MAX_HELD_OUT_POINTS`]: the sample metric draws as many); the reference draw is
    /// as many points again from the training part.
    pub fn points(name: &str, points: &[[f64; 2]], seed: u64) -> Result<Self, ModelError> {
        if points.len() < 4 {
            return Err(ModelError::Data(format!(
                "{name}: {} points are too few to train on (need 4)",
                points.len()
            )));
        }
        let order = shuffled(points.len(), seed);
        let m = (points.len() / 10).clamp(1, MAX_HELD_OUT_POINTS);
        let pick = |idx: &[usize]| -> Vec<f32> {
            idx.iter()
                .flat_map(|&i| [points[i][0] as f32, points[i][1] as f32])
                .collect()
        };
        let held_out = pick(&order[..m]);
        let train = pick(&order[m..]);
        let reference = pick(&order[m..(2 * m).min(order.len())]);
        Ok(Self {
            name: name.to_owned(),
            shape: DataShape::Points,
            train,
            held_out,
            reference: Some(reference),
            classes: 0,
            train_labels: Vec::new(),
            held_out_labels: Vec::new(),
        })
    }

    /// Images of `shape` (each `shape.dim()` values, CHW, in `[−1, 1]`): a seeded 10 %
    /// held out (none if there are fewer than 10 images: then validation uses the
    /// training images).
    pub fn images(name: &str, shape: DataShape, images: &[Vec<f32>], seed: u64) -> Result<Self, ModelError> {
        let d = shape.dim();
        if images.is_empty() {
            return Err(ModelError::Data(format!("{name}: no images to train on")));
        }
        if let Some(bad) = images.iter().position(|im| im.len() != d) {
            return Err(ModelError::Data(format!(
                "{name}: image {bad} has {} values, expected {d}",
                images[bad].len()
            )));
        }
        let order = shuffled(images.len(), seed);
        let m = if images.len() >= 10 { images.len() / 10 } else { 0 };
        let pick =
            |idx: &[usize]| -> Vec<f32> { idx.iter().flat_map(|&i| images[i].iter().copied()).collect() };
        let train = pick(&order[m..]);
        let held_out = if m == 0 { train.clone() } else { pick(&order[..m]) };
        Ok(Self {
            name: name.to_owned(),
            shape,
            train,
            held_out,
            reference: None,
            classes: 0,
            train_labels: Vec::new(),
            held_out_labels: Vec::new(),
        })
    }

    /// [`TrainSet::images`] with a class (`0..classes`) per image, split as the images.
    pub fn labelled_images(
        name: &str,
        shape: DataShape,
        images: &[Vec<f32>],
        labels: &[usize],
        classes: usize,
        seed: u64,
    ) -> Result<Self, ModelError> {
        if labels.len() != images.len() {
            return Err(ModelError::Data(format!(
                "{name}: {} labels for {} images",
                labels.len(),
                images.len()
            )));
        }
        if let Some(bad) = labels.iter().position(|&c| c >= classes) {
            return Err(ModelError::Data(format!(
                "{name}: image {bad} has label {}, not one of the {classes} classes",
                labels[bad]
            )));
        }
        let mut set = Self::images(name, shape, images, seed)?;
        let order = shuffled(images.len(), seed);
        let m = if images.len() >= 10 { images.len() / 10 } else { 0 };
        let pick = |idx: &[usize]| -> Vec<usize> { idx.iter().map(|&i| labels[i]).collect() };
        set.classes = classes;
        set.train_labels = pick(&order[m..]);
        set.held_out_labels = if m == 0 {
            set.train_labels.clone()
        } else {
            pick(&order[..m])
        };
        Ok(set)
    }

    /// The embedded 8×8 digits.
    pub fn digits(seed: u64) -> Result<Self, ModelError> {
        let digits = data::digits().map_err(|e| ModelError::Data(e.to_string()))?;
        let images: Vec<Vec<f32>> = digits.images.iter().map(|im| im.to_vec()).collect();
        let labels: Vec<usize> = digits.labels.iter().map(|&c| usize::from(c)).collect();
        Self::labelled_images(
            "digits",
            DataShape::Image {
                channels: 1,
                height: 8,
                width: 8,
            },
            &images,
            &labels,
            data::DIGIT_CLASSES,
            seed,
        )
    }

    /// Training examples.
    #[must_use]
    pub fn len(&self) -> usize {
        self.train.len() / self.shape.dim()
    }

    /// Whether there are no training examples.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.train.is_empty()
    }
}

/// `n` independent draws from a built-in set, as a model samples them.
///
/// The generators are stratified (two moons: exactly half on each moon; 8 gaussians:
/// exactly n/8 per component), so two of their draws agree better than two i.i.d. samples
/// can: a noise floor made of two stratified draws would be one no model could reach. So
/// the reference draw picks `n` points uniformly at random (with replacement) from a
/// stratified draw of 64·n, which is i.i.d. from (very nearly) the set's distribution.
#[must_use]
pub fn iid_draw(dataset: Dataset, n: usize, seed: u64) -> Vec<f32> {
    let pool = data::generate(dataset, 64 * n, seed);
    let key = StreamKey::new(seed, 0x1D5A_4D70);
    (0..n)
        .flat_map(|i| {
            let j = ((key.uniform(i as u64) * pool.len() as f64) as usize).min(pool.len() - 1);
            [pool[j][0] as f32, pool[j][1] as f32]
        })
        .collect()
}

/// `0..n` in a seeded random order (Fisher–Yates on counter-based uniforms).
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let key = StreamKey::new(seed, 0x5348_5546);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (key.uniform(i as u64) * (i + 1) as f64) as usize;
        order.swap(i, j.min(i));
    }
    order
}

/// Validation loss and, for 2D data, the sample-quality metric and its noise floor.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Iteration it was measured at.
    pub iteration: u64,
    /// `L_simple` on the held-out set with fixed `t` and `ε`.
    pub validation_loss: f64,
    /// SW2 between the model's samples and the held-out points.
    pub metric: Option<f64>,
    /// SW2 between two independent draws of the data.
    pub noise_floor: Option<f64>,
    /// The 2D samples the metric was measured on (at most [`SHOWN_SAMPLES`]): what the
    /// model draws at this iteration; empty without a metric.
    pub samples: Vec<[f64; 2]>,
    /// A single-image model's samples at this iteration (with the metric asked): its shape
    /// and values, CHW ([`PHOTO_PREVIEW_SAMPLES`] canvases of the photo's size, a
    /// [`PHOTO_PREVIEW_STEPS`]-step DDIM chain with η = 1 from the same seed every time).
    pub images: Option<(DataShape, Vec<f32>)>,
}

/// Canvases a single-image model samples at each evaluation.
pub const PHOTO_PREVIEW_SAMPLES: usize = 2;
/// DDIM steps of those samples (about 0.2 s a canvas of 64×43 here).
pub const PHOTO_PREVIEW_STEPS: usize = 20;
/// Held-out crops a single-image model is validated on (each is thousands of pixels).
const PHOTO_VALIDATION_CROPS: usize = 16;

/// At most this many of the metric's samples travel with an [`Evaluation`].
pub const SHOWN_SAMPLES: usize = 2000;

/// A training run in progress.
#[derive(Debug)]
pub struct Trainer {
    network: Network,
    optimiser: AdamW,
    schedule: Schedule,
    set: TrainSet,
    settings: TrainSettings,
    iteration: u64,
    /// The moving average of the weights, with [`TrainSettings::ema`] > 0.
    ema: Option<Vec<Param>>,
    last_good: (u64, Vec<Param>, Option<Vec<Param>>),
    noise_floor: Option<f64>,
    command: String,
    objective: Objective,
}

impl Trainer {
    /// A run of `network` on `set` with `settings`.
    pub fn new(network: Network, set: TrainSet, settings: TrainSettings) -> Result<Self, ModelError> {
        let shape = network.architecture().train_shape();
        if shape != set.shape {
            return Err(ModelError::Data(format!(
                "the model takes {shape}, the data are {}",
                set.shape
            )));
        }
        if set.is_empty() {
            return Err(ModelError::Data(format!("{}: nothing to train on", set.name)));
        }
        let classes = network.classes();
        if classes > 0 && classes != set.classes {
            return Err(ModelError::Data(if set.classes == 0 {
                format!(
                    "a class-conditional model needs labelled data; {} has no labels",
                    set.name
                )
            } else {
                format!(
                    "the model is conditional on {classes} classes, {} has {}",
                    set.name, set.classes
                )
            }));
        }
        if !(0.0..=1.0).contains(&settings.label_dropout) {
            return Err(ModelError::Data(format!(
                "label dropout {} must be in [0, 1]",
                settings.label_dropout
            )));
        }
        if settings.batch == 0 || settings.iterations == 0 {
            return Err(ModelError::Data("batch and iterations must be at least 1".into()));
        }
        if !(0.0..1.0).contains(&settings.ema) {
            return Err(ModelError::Data(format!(
                "EMA decay {} must be in [0, 1)",
                settings.ema
            )));
        }
        if !(settings.lr.is_finite() && settings.lr > 0.0) {
            return Err(ModelError::Data(format!(
                "learning rate {} must be positive",
                settings.lr
            )));
        }
        let schedule =
            Schedule::new(&settings.schedule).map_err(|e| ModelError::Data(format!("schedule: {e}")))?;
        let noise_floor = set
            .reference
            .as_ref()
            .map(|r| sliced_wasserstein2(&to_f64(r), &to_f64(&set.held_out)));
        let ema = (settings.ema > 0.0).then(|| network.params().to_vec());
        Ok(Self {
            optimiser: AdamW::new(network.params(), settings.lr),
            last_good: (0, network.params().to_vec(), ema.clone()),
            ema,
            network,
            schedule,
            set,
            settings,
            iteration: 0,
            noise_floor,
            command: String::new(),
            objective: Objective::Epsilon,
        })
    }

    /// The run with the training objective `objective` (without this call, `ε`):
    /// flow matching trains the 2D network, unconditional, before its first iteration.
    ///
    /// # Errors
    /// Flow matching asked of an image network, a class-conditional one, or a run that
    /// has started.
    pub fn with_objective(mut self, objective: Objective) -> Result<Self, ModelError> {
        if objective == Objective::FlowMatching {
            if !matches!(self.network, Network::Mlp(_)) {
                return Err(ModelError::Data(format!(
                    "flow matching is for 2D models; this is a {}",
                    self.network.architecture()
                )));
            }
            if self.network.classes() > 0 {
                return Err(ModelError::Data(
                    "flow-matching models are unconditional here (guidance is a diffusion lesson):                      train without --conditional"
                        .into(),
                ));
            }
        }
        if self.iteration > 0 && objective != self.objective {
            return Err(ModelError::Data(
                "the objective is set before training starts".into(),
            ));
        }
        self.objective = objective;
        Ok(self)
    }

    /// The training objective.
    #[must_use]
    pub fn objective(&self) -> Objective {
        self.objective
    }

    /// Records the command line that started the run (saved in the weights file).
    pub fn set_command(&mut self, command: String) {
        self.command = command;
    }

    /// Iterations done.
    #[must_use]
    pub fn iteration(&self) -> u64 {
        self.iteration
    }

    /// The settings.
    #[must_use]
    pub fn settings(&self) -> &TrainSettings {
        &self.settings
    }

    /// The training set.
    #[must_use]
    pub fn set(&self) -> &TrainSet {
        &self.set
    }

    /// The schedule.
    #[must_use]
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Whether every iteration has run.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.iteration >= self.settings.iterations
    }

    /// A batch: `x_t`, float `t`, the target (`ε`; for flow matching `ε − x_0`, with
    /// `x_τ = (1 − τ) x_0 + τ ε` and the time input `τ·T`, `τ ~ U(0, 1)` continuous) and the
    /// labels (for a conditional model, each dropped to `∅` with probability `dropout`; else
    /// empty) for batch number `i` over `examples` (`n × d`) and their `labels`.
    fn batch(&self, examples: &[f32], labels: &[usize], dropout: f32, stream: u64, size: usize) -> Batch {
        let d = self.set.shape.dim();
        let n = examples.len() / d;
        let steps = self.schedule.steps();
        let pick = StreamKey::new(self.settings.seed, stream);
        let time = StreamKey::new(self.settings.seed, stream + 1);
        let noise = StreamKey::new(self.settings.seed, stream + 2);
        let drop = StreamKey::new(self.settings.seed, stream + 3);
        let classes = self.network.classes();
        let mut xt = vec![0f32; size * d];
        let mut ts = vec![0f32; size];
        let mut eps = vec![0f32; size * d];
        let mut ys = Vec::with_capacity(if classes > 0 { size } else { 0 });
        for r in 0..size {
            let i = ((pick.uniform(r as u64) * n as f64) as usize).min(n - 1);
            if classes > 0 {
                let dropped = drop.uniform(r as u64) < f64::from(dropout);
                ys.push(if dropped { classes } else { labels[i] });
            }
            let (a, b) = match self.objective {
                Objective::Epsilon => {
                    let t = 1 + ((time.uniform(r as u64) * steps as f64) as usize).min(steps - 1);
                    ts[r] = t as f32;
                    (
                        self.schedule.sqrt_alpha_bar(t) as f32,
                        self.schedule.sqrt_one_minus_alpha_bar(t) as f32,
                    )
                }
                Objective::FlowMatching => {
                    let tau = time.uniform(r as u64);
                    ts[r] = (tau * steps as f64) as f32;
                    (1.0 - tau as f32, tau as f32)
                }
            };
            let flow = self.objective == Objective::FlowMatching;
            for k in 0..d {
                let e = noise.normal((r * d + k) as u64) as f32;
                let x0 = examples[i * d + k];
                eps[r * d + k] = if flow { e - x0 } else { e };
                xt[r * d + k] = a * x0 + b * e;
            }
        }
        (xt, ts, eps, ys)
    }

    /// One iteration; returns its batch loss. A non-finite loss or weight stops the run:
    /// the weights go back to the last good snapshot and the error says so.
    pub fn step(&mut self) -> Result<f32, ModelError> {
        assert!(
            self.settings.panic_at_iteration != Some(self.iteration),
            "injected fault: training panicked after {} iterations",
            self.iteration
        );
        let stream = TRAIN_STREAM + 4 * self.iteration;
        let (xt, t, eps, labels) = self.batch(
            &self.set.train,
            &self.set.train_labels,
            self.settings.label_dropout,
            stream,
            self.settings.batch,
        );
        let (mut loss, grads) = self.network.loss_and_grads_sharded(&xt, &t, &eps, &labels)?;
        if self.settings.nan_loss_at_iteration == Some(self.iteration) {
            loss = f32::NAN;
        }
        if !loss.is_finite() || grads.iter().any(|g| g.iter().any(|v| !v.is_finite())) {
            return Err(self.diverged(loss));
        }
        self.optimiser.lr = self.settings.lr_at(self.iteration);
        self.optimiser.step(self.network.params_mut(), &grads);
        if let Some(ema) = &mut self.ema {
            let i = self.iteration as f32;
            let keep = self.settings.ema.min((1.0 + i) / (10.0 + i));
            for (average, param) in ema.iter_mut().zip(self.network.params()) {
                for (a, &w) in average.data.iter_mut().zip(&param.data) {
                    *a += (1.0 - keep) * (w - *a);
                }
            }
        }
        self.iteration += 1;
        if self.iteration.is_multiple_of(SNAPSHOT_EVERY) {
            if !all_finite(self.network.params()) {
                return Err(self.diverged(f32::NAN));
            }
            self.last_good = (self.iteration, self.network.params().to_vec(), self.ema.clone());
        }
        Ok(loss)
    }

    fn diverged(&mut self, loss: f32) -> ModelError {
        let at = self.iteration;
        let (good, params, ema) = &self.last_good;
        self.network.params_mut().clone_from_slice(params);
        self.ema.clone_from(ema);
        self.iteration = *good;
        let kept = if *good == 0 {
            "no weights of this run are kept".to_owned()
        } else {
            format!("the weights of iteration {good} are kept")
        };
        ModelError::Diverged(format!(
            "training stopped: the loss became {loss} at iteration {at}; {kept} (try a smaller learning rate)"
        ))
    }

    /// Validation loss (of the weights sampling uses), and for 2D data the quality metric
    /// (samples from a 100-step DDIM chain with η = 1 — for flow matching, a 100-step Euler
    /// chain, deterministic —, as many as held-out points) next to
    /// its noise floor. No metric if the chain cannot run or is not finite — under zero
    /// terminal SNR (`ᾱ_T = 0`: an ε-model cannot step from `x_T`), or a model that
    /// diverges — and the run goes on: the metric watches training, it is not part of it.
    /// (Under a schedule with a tiny `ᾱ_T` the 2D chain clips `x̂_0`, see
    /// [`super::sample::TINY_ALPHA_BAR_T`], and stays finite.)
    pub fn evaluate(&self, with_metric: bool) -> Result<Evaluation, ModelError> {
        let d = self.set.shape.dim();
        let photo = matches!(self.network, Network::Patch(_));
        let most = if photo { PHOTO_VALIDATION_CROPS } else { 1024 };
        let m = (self.set.held_out.len() / d).min(most);
        // A conditional model is validated on its conditional branch (no label dropped).
        let labels = &self.set.held_out_labels[..if self.network.classes() > 0 { m } else { 0 }];
        let (xt, t, eps, labels) = self.batch(&self.set.held_out[..m * d], labels, 0.0, VALIDATION_STREAM, m);
        let network = self.sampling_network();
        let (validation_loss, _) = network.loss_and_grads(&xt, &t, &eps, &labels)?;
        let mut shown = Vec::new();
        // Under zero terminal SNR an ε-model's chain refuses to step from x_T.
        let with_metric = with_metric
            && (self.objective == Objective::FlowMatching
                || self.schedule.alpha_bar(self.schedule.steps()) > 0.0);
        let metric = if with_metric && self.set.reference.is_some() {
            let n = self.set.held_out.len() / d;
            let sampler = match self.objective {
                Objective::Epsilon => Sampler::Ddim {
                    steps: METRIC_DDIM_STEPS,
                    eta: 1.0,
                },
                Objective::FlowMatching => Sampler::FlowEuler {
                    steps: METRIC_DDIM_STEPS,
                },
            };
            let chain = ReverseChain::from_noise(
                self.schedule.clone(),
                sampler,
                n,
                d,
                self.settings.seed ^ METRIC_SEED,
            )
            .for_objective(self.objective)?;
            match chain.run(&Denoiser::Learned(network.inference()?)) {
                Ok(samples) => {
                    if d == 2 {
                        shown = samples
                            .chunks_exact(2)
                            .take(SHOWN_SAMPLES)
                            .map(|p| [f64::from(p[0]), f64::from(p[1])])
                            .collect();
                    }
                    Some(sliced_wasserstein2(
                        &to_f64(&samples),
                        &to_f64(&self.set.held_out),
                    ))
                }
                Err(ModelError::Diverged(_)) => None,
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        let images = if with_metric && photo {
            let shape = network.architecture().data_shape();
            let chain = ReverseChain::from_noise(
                self.schedule.clone(),
                Sampler::Ddim {
                    steps: PHOTO_PREVIEW_STEPS,
                    eta: 1.0,
                },
                PHOTO_PREVIEW_SAMPLES,
                shape.dim(),
                self.settings.seed ^ METRIC_SEED,
            )
            .clip_x0(-1.0, 1.0);
            match chain.run(&Denoiser::Learned(network.inference()?)) {
                Ok(x) => Some((shape, x)),
                Err(ModelError::Diverged(_)) => None,
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        Ok(Evaluation {
            iteration: self.iteration,
            validation_loss: f64::from(validation_loss),
            metric,
            noise_floor: if metric.is_some() { self.noise_floor } else { None },
            samples: shown,
            images,
        })
    }

    /// The weights sampling uses: the moving average if there is one, else the last
    /// step's.
    fn sampling_network(&self) -> Network {
        let mut network = self.network.clone();
        if let Some(ema) = &self.ema {
            network.params_mut().clone_from_slice(ema);
        }
        network
    }

    /// The model as it stands (with the EMA's weights, if any).
    #[must_use]
    pub fn model(&self) -> Checkpoint {
        Checkpoint {
            network: self.sampling_network(),
            info: ModelInfo {
                schedule: self.settings.schedule.clone(),
                dataset: self.set.name.clone(),
                iterations: self.iteration,
                seed: self.settings.seed,
                ema: self.ema.as_ref().map(|_| self.settings.ema),
                command: self.command.clone(),
                objective: self.objective,
            },
        }
    }
}

/// `x_t`, float `t`, the target (`ε`, or `ε − x_0` for flow matching) and labels of a batch.
type Batch = (Vec<f32>, Vec<f32>, Vec<f32>, Vec<usize>);

fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// The learning rate at step `i` of `iterations`: cosine decay from `lr` to `lr/10`, then
/// `lr/10` (the denoisers' and the VAEs' schedule).
#[must_use]
pub fn cosine_lr(lr: f32, i: u64, iterations: u64) -> f32 {
    let u = (i as f64 / iterations.max(1) as f64).min(1.0);
    let cos = 0.5 * (1.0 + (std::f64::consts::PI * u).cos());
    (f64::from(lr) * (0.1 + 0.9 * cos)) as f32
}
