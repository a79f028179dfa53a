//! What the window and the `model` thread say to each other: [`ModelCommand`]s in,
//! [`ModelEvent`]s out, and the plain data they carry.

use std::path::PathBuf;

use crate::diffusion::{ReverseVariance, ScheduleSpec};
use crate::model::classes::ClassChoice;
use crate::model::elbo::{ElboForm, ElboReport};
use crate::model::quality::QualityChart;
use crate::model::sample::{DenoiserKind, Frame, Sampler};
use crate::model::train::{Evaluation, TrainSet, TrainSettings};
use crate::model::{Architecture, Checkpoint, DataShape, Objective};

/// A plain description of a model, for the window.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSummary {
    /// Where it came from: `shipped two-moons`, a file name, `trained`.
    pub origin: String,
    /// The architecture, e.g. `MLP 128×3 (embedding 128), 99074 parameters`.
    pub architecture: String,
    /// The data it denoises.
    pub shape: DataShape,
    /// Its schedule.
    pub schedule: ScheduleSpec,
    /// The data it was trained on.
    pub dataset: String,
    /// Training iterations.
    pub iterations: u64,
    /// Labelled classes of a class-conditional model (0: unconditional).
    pub classes: usize,
    /// A single-image model's photo size, `(height, width)`: it samples a canvas of any
    /// size ([`SampleJob::canvas`]); `None` for every other model.
    pub photo: Option<(usize, usize)>,
    /// What it was trained to predict: `ε` (diffusion) or the velocity (flow matching).
    pub objective: Objective,
}

impl ModelSummary {
    pub(super) fn of(model: &Checkpoint, origin: String) -> Self {
        let arch = model.network.architecture();
        Self {
            origin,
            architecture: arch.to_string(),
            shape: arch.data_shape(),
            schedule: model.info.schedule.clone(),
            dataset: model.info.dataset.clone(),
            iterations: model.info.iterations,
            classes: arch.classes(),
            photo: match arch {
                Architecture::Patch(c) => Some(c.photo),
                _ => None,
            },
            objective: model.info.objective,
        }
    }
}

/// What denoises in a sampling job: a [`DenoiserKind`] with the data the window must send
/// for it (the worker holds the learned network; the ideal denoiser needs the examples).
#[derive(Clone, Debug)]
pub enum DenoiserChoice {
    /// The learned model the worker holds (with its own schedule).
    Learned,
    /// The ideal denoiser of these examples (`n × dim`) under this schedule.
    Ideal {
        /// The data set.
        data: Vec<f64>,
        /// Values per example.
        dim: usize,
        /// The schedule.
        schedule: ScheduleSpec,
    },
}

impl DenoiserChoice {
    /// Which kind of denoiser this is.
    #[must_use]
    pub const fn kind(&self) -> DenoiserKind {
        match self {
            Self::Learned => DenoiserKind::Learned,
            Self::Ideal { .. } => DenoiserKind::Ideal,
        }
    }
}

/// Where a reverse chain starts.
#[derive(Clone, Debug)]
pub enum ChainStart {
    /// `x_T ~ N(0, I)` for `n` examples.
    Noise {
        /// Number of examples.
        n: usize,
    },
    /// SDEdit: these examples (`n × dim`, CHW for images) noised to step `t`.
    Data {
        /// The examples.
        x0: Vec<f32>,
        /// The step to noise them to.
        t: usize,
    },
}

/// A sampling job.
#[derive(Clone, Debug)]
pub struct SampleJob {
    /// Identifies the job; its events carry it.
    pub generation: u64,
    /// The denoiser.
    pub denoiser: DenoiserChoice,
    /// DDPM or DDIM.
    pub sampler: Sampler,
    /// Where the chain starts.
    pub start: ChainStart,
    /// Seed of `x_T` and every step's noise.
    pub seed: u64,
    /// Steps per second (`None`: as fast as the model goes).
    pub rate: Option<f64>,
    /// Start paused (then only [`ModelCommand::Step`] advances it).
    pub paused: bool,
    /// Pause by itself after the first step that reaches `t ≤ pause_at` (`--pause-at`):
    /// the chain stops at the same step whatever its pace.
    pub pause_at: Option<usize>,
    /// Classifier-free guidance of a conditional learned model (`None`: its unconditional
    /// branch, or an unconditional model).
    pub guidance: Option<ClassGuidance>,
    /// The canvas `(height, width)` a single-image learned model samples (`None`: its
    /// photo's size; every other model has one size).
    pub canvas: Option<(usize, usize)>,
    /// Fault injection for tests (see [`ReverseChain::panic_at_step`]); `None` but there.
    #[doc(hidden)]
    pub panic_at_step: Option<usize>,
}

/// Which class a conditional model is guided to, and how hard.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClassGuidance {
    /// One class for all samples, or a class per sample.
    pub class: ClassChoice,
    /// The guidance weight `w`.
    pub weight: f32,
}

/// One estimate of an ELBO job: which denoiser, which form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElboPart {
    /// The ideal denoiser of `ideal_data` (else the learned model the worker holds).
    pub ideal: bool,
    /// The decomposition.
    pub form: ElboForm,
}

/// ELBO estimates of the data on screen, one after another (MATH.md §4). Any command that
/// arrives while it runs stops it (with [`ModelEvent::ElboStopped`]) and is then handled:
/// the parts already done have been sent.
#[derive(Clone, Debug)]
pub struct ElboJob {
    /// Identifies the job; its events carry it.
    pub generation: u64,
    /// What to estimate, in order.
    pub parts: Vec<ElboPart>,
    /// The examples the bound is of (`n × dim`, CHW for images).
    pub x0: Vec<f32>,
    /// Values per example.
    pub dim: usize,
    /// 8-bit images (the discretised decoder) rather than continuous points.
    pub discrete: bool,
    /// The data set the ideal denoiser memorises (`m × dim`).
    pub ideal_data: Vec<f64>,
    /// The schedule of the bound; a learned model trained under another one is asked at
    /// the steps of its own schedule with the same log SNR ([`elbo::equivalent_steps`]).
    pub schedule: ScheduleSpec,
    /// `σ_t²` of the reverse steps.
    pub variance: ReverseVariance,
    /// Seed of the Monte-Carlo noise.
    pub seed: u64,
}

/// A training job.
#[derive(Clone, Debug)]
pub struct TrainJob {
    /// Identifies the job; its events carry it.
    pub generation: u64,
    /// The data.
    pub set: TrainSet,
    /// The architecture to train (fresh weights).
    pub architecture: Architecture,
    /// Hyper-parameters.
    pub settings: TrainSettings,
    /// What the network learns to predict (flow matching: 2D, unconditional).
    pub objective: Objective,
}

/// What the UI asks of the worker.
#[derive(Debug)]
pub enum ModelCommand {
    /// Use the shipped weights of this name.
    UseShipped(String),
    /// Load weights from a file (the current model stays if it fails).
    Load(PathBuf),
    /// [`ModelCommand::Load`] for the data on screen: with `points`, a single-image model
    /// (which denoises photos) is refused and the current model kept.
    LoadFor {
        /// The file.
        path: PathBuf,
        /// Whether the data on screen are 2D points.
        points: bool,
    },
    /// Write the current model to a file.
    Save(PathBuf),
    /// Train a fresh model; it becomes the current model when the job ends (completed or
    /// cancelled), unless it diverged.
    Train(Box<TrainJob>),
    /// Run a reverse chain.
    Sample(Box<SampleJob>),
    /// Pause the running job.
    Pause,
    /// Resume the paused job.
    Resume,
    /// Advance a sampling job by one step (it stays paused).
    Step,
    /// Change a sampling job's speed.
    SetRate(Option<f64>),
    /// Stop the job (a training job keeps what it has learnt).
    Cancel,
    /// Estimate ELBOs.
    Elbo(Box<ElboJob>),
    /// `ε̂` of the current denoiser at step `t` on `points` (`n × 2`), for the ε field.
    EpsField {
        /// Identifies the request.
        generation: u64,
        /// The denoiser.
        denoiser: DenoiserChoice,
        /// The step.
        t: usize,
        /// Where to evaluate.
        points: Vec<f32>,
        /// The guided field of a conditional model (its class must be one class).
        guidance: Option<ClassGuidance>,
    },
    /// A new guidance weight for the running chain (a guided one; else ignored).
    SetGuidance(f32),
    /// The current 2D model's probability-flow log-likelihood (stopped, like an ELBO job,
    /// by the next command).
    Flow(Box<FlowJob>),
    /// The current 2D model's quality-vs-steps chart (stopped, like an ELBO job, by the next
    /// command).
    Quality(Box<QualityJob>),
    /// A few samples' whole paths under another sampler, from the same `x_T` as the
    /// chain's first samples (answered at once, between the running chain's steps).
    Paths(Box<PathsJob>),
}

/// The quality-vs-steps chart of the current 2D model against held-out data
/// ([`crate::model::quality`]).
#[derive(Clone, Debug, PartialEq)]
pub struct QualityJob {
    /// Identifies the job.
    pub generation: u64,
    /// Held-out points, `n × 2`.
    pub held_out: Vec<f64>,
    /// An independent draw of as many points (the noise floor).
    pub reference: Vec<f64>,
    /// The samplers' seed.
    pub seed: u64,
    /// Shipped weights of the other objective to chart beside the model (flow matching's
    /// beside a diffusion model, or back).
    pub other: Option<String>,
}

/// The paths of the first `n` samples of a chain run with `sampler` (the Reverse tab's
/// "beside" paths): the same seed gives the same `x_T`, so they start where the chain
/// on screen starts.
#[derive(Clone, Debug)]
pub struct PathsJob {
    /// Identifies the job.
    pub generation: u64,
    /// The denoiser.
    pub denoiser: DenoiserChoice,
    /// The sampler.
    pub sampler: Sampler,
    /// How many samples.
    pub n: usize,
    /// The chain's seed.
    pub seed: u64,
    /// The chain's guidance.
    pub guidance: Option<ClassGuidance>,
    /// Shipped weights to run instead of the learned model the worker holds (the other
    /// objective's model of the same data: flow matching beside diffusion, or back).
    pub shipped: Option<String>,
}

/// What a [`PathsJob`] computed: every frame's `t` and `x` (`n × d`), `t` decreasing.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainPaths {
    /// `(t, x_t)` of each frame, from `x_T` to `x_0`.
    pub frames: Vec<(usize, Vec<f32>)>,
    /// The probability flow's network evaluations (`None` for the other samplers).
    pub nfe: Option<usize>,
}

/// Why a training job ended.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainEnd {
    /// All iterations ran.
    Completed,
    /// The user cancelled; the model keeps what it learnt.
    Cancelled,
    /// The loss went non-finite; the message says where, the last good weights are kept.
    Diverged(String),
}

/// What the worker tells the UI.
#[derive(Debug)]
pub enum ModelEvent {
    /// The current model changed (loaded, shipped, trained).
    ModelReady(ModelSummary),
    /// The model was written.
    Saved(PathBuf),
    /// Training progress.
    TrainProgress {
        /// The job.
        generation: u64,
        /// Iterations done.
        iteration: u64,
        /// Iterations in all.
        total: u64,
        /// Mean batch loss since the previous report.
        loss: f64,
        /// Iterations per second so far.
        rate: f64,
        /// Whether the job is paused.
        paused: bool,
    },
    /// Validation loss and sample metric.
    Evaluated {
        /// The job.
        generation: u64,
        /// The numbers.
        evaluation: Evaluation,
    },
    /// Training ended.
    TrainFinished {
        /// The job.
        generation: u64,
        /// Why.
        end: TrainEnd,
    },
    /// A frame of the reverse chain (the first, at `t = T` or the SDEdit start, has
    /// `x0_hat` equal to `x`).
    SampleFrame {
        /// The job.
        generation: u64,
        /// The frame.
        frame: Frame,
        /// Steps taken and in all.
        progress: (usize, usize),
        /// The probability flow's network evaluations so far (`None` for the other
        /// samplers, whose evaluations are their steps).
        nfe: Option<usize>,
    },
    /// The paths of a [`PathsJob`].
    Paths {
        /// The job.
        generation: u64,
        /// The paths.
        paths: ChainPaths,
    },
    /// A sampling job is paused or running.
    SamplePaused {
        /// The job.
        generation: u64,
        /// Whether it is paused.
        paused: bool,
    },
    /// The ε field.
    EpsField {
        /// The request.
        generation: u64,
        /// The step.
        t: usize,
        /// `ε̂`, `n × 2`.
        eps: Vec<f32>,
    },
    /// Progress of an ELBO job.
    ElboProgress {
        /// The job.
        generation: u64,
        /// The index of the running part.
        part: usize,
        /// Its fraction done.
        fraction: f64,
    },
    /// One part of an ELBO job is done.
    ElboDone {
        /// The job.
        generation: u64,
        /// The index of the part.
        part: usize,
        /// The estimate.
        report: Box<ElboReport>,
    },
    /// An ELBO job stopped before its end because another command arrived.
    ElboStopped {
        /// The job.
        generation: u64,
    },
    /// Progress of a flow job.
    FlowProgress {
        /// The job.
        generation: u64,
        /// Its fraction done.
        fraction: f64,
    },
    /// A flow job is done.
    FlowDone {
        /// The job.
        generation: u64,
        /// What it computed.
        outcome: Box<FlowOutcome>,
    },
    /// Progress of a quality job.
    QualityProgress {
        /// The job.
        generation: u64,
        /// Its fraction done.
        fraction: f64,
    },
    /// A quality job is done.
    QualityDone {
        /// The job.
        generation: u64,
        /// The chart.
        chart: Box<QualityChart>,
    },
    /// A quality job stopped before its end because another command arrived.
    QualityStopped {
        /// The job.
        generation: u64,
    },
    /// A flow job stopped before its end because another command arrived.
    FlowStopped {
        /// The job.
        generation: u64,
    },
    /// A command or job failed; nothing was replaced. `generation` is the job's (0 for
    /// loads and saves).
    Failed {
        /// The job.
        generation: u64,
        /// What went wrong, in one line.
        message: String,
    },
}

/// Where a flow job evaluates the model's log density.
#[derive(Clone, Debug, PartialEq)]
pub enum FlowRequest {
    /// At these 2D points (`n × 2`): the NLL beside the ELBO.
    Points(Vec<f64>),
    /// On a `side × side` grid over `[−extent, extent]²` (the density view), with
    /// `samples` samples of the model's DDPM chain beside it.
    Grid {
        /// Cells per side.
        side: usize,
        /// Half the width of the square.
        extent: f64,
        /// Samples to draw.
        samples: usize,
    },
}

/// The probability-flow log-likelihood of the current 2D model.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowJob {
    /// Identifies the job.
    pub generation: u64,
    /// Where.
    pub request: FlowRequest,
}

/// What a flow job computed.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowOutcome {
    /// `log p` per point or grid cell (row-major from the top), nats.
    pub log_p: Vec<f64>,
    /// Network evaluations per point's ODE solve (five in six with the trace), on average.
    pub nfe_per_point: f64,
    /// Seconds it took.
    pub seconds: f64,
    /// The model's samples (`n × 2`; a grid job's).
    pub samples: Vec<f32>,
}
