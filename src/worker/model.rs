//! The `model` thread: owns the learned model, trains it, and runs the reverse chain,
//! one job at a time, off the UI thread.
//!
//! The UI sends [`ModelCommand`]s and drains [`ModelEvent`]s. Events carry plain data
//! (points, pixels, numbers, summaries), never tensors. Every job has a generation; the
//! UI drops events of a job it no longer shows, and the worker drops a job as soon as a
//! newer one arrives or it is cancelled. An error or a panic inside a job ends that job
//! with [`ModelEvent::Failed`]; the model the worker holds is never replaced by a failed
//! load or a diverged training run (training falls back to its last good weights).
//!
//! The thread runs on a one-thread rayon pool, so candle's matmuls and the fused kernels
//! stay on one core and the window keeps the other.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::frames::panic_message;
use crate::diffusion::{IdealDenoiser, Schedule, ScheduleSpec};
use crate::model::sample::{Denoiser, Frame, ReverseChain, Sampler};
use crate::model::train::{Evaluation, TrainSet, TrainSettings, Trainer};
use crate::model::{Architecture, DataShape, Model, ModelError, Network, io, shipped};

/// How long a training slice runs before the worker looks at its commands again.
const TRAIN_SLICE: Duration = Duration::from_millis(40);
/// Training progress is reported at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
/// Validation (and, for 2D, the sample metric) runs at most this often during training.
const EVALUATE_EVERY: Duration = Duration::from_secs(3);

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
}

impl ModelSummary {
    fn of(model: &Model, origin: String) -> Self {
        let arch = model.network.architecture();
        Self {
            origin,
            architecture: arch.to_string(),
            shape: arch.data_shape(),
            schedule: model.info.schedule.clone(),
            dataset: model.info.dataset.clone(),
            iterations: model.info.iterations,
        }
    }
}

/// What denoises in a sampling job.
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
    /// Fault injection for tests (see [`ReverseChain::panic_at_step`]); `None` but there.
    #[doc(hidden)]
    pub panic_at_step: Option<usize>,
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
}

/// What the UI asks of the worker.
#[derive(Debug)]
pub enum ModelCommand {
    /// Use the shipped weights of this name.
    UseShipped(String),
    /// Load weights from a file (the current model stays if it fails).
    Load(PathBuf),
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
    },
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
    /// A command or job failed; nothing was replaced. `generation` is the job's (0 for
    /// loads and saves).
    Failed {
        /// The job.
        generation: u64,
        /// What went wrong, in one line.
        message: String,
    },
}

/// The handle the UI holds.
pub struct ModelWorker {
    tx: Sender<ModelCommand>,
    rx: Receiver<ModelEvent>,
    _thread: JoinHandle<()>,
}

impl ModelWorker {
    /// Starts the `model` thread; `wake` is called after each event.
    ///
    /// # Panics
    /// If the OS cannot start a thread.
    #[must_use]
    pub fn spawn(wake: Box<dyn Fn() + Send>) -> Self {
        let (tx, cmd_rx) = mpsc::channel();
        let (event_tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("model".into())
            .spawn(move || {
                lower_priority();
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .thread_name(|_| "model-pool".into())
                    .start_handler(|_| lower_priority())
                    .build();
                let mut worker = Worker {
                    events: event_tx,
                    wake,
                    model: None,
                    job: None,
                };
                match pool {
                    Ok(pool) => pool.install(move || worker.run(&cmd_rx)),
                    Err(_) => worker.run(&cmd_rx),
                }
            })
            .expect("start the model thread");
        Self {
            tx,
            rx,
            _thread: thread,
        }
    }

    /// Sends a command (dropped if the thread is gone).
    pub fn send(&self, command: ModelCommand) {
        let _ = self.tx.send(command);
    }

    /// The next event, if any.
    #[must_use]
    pub fn try_recv(&self) -> Option<ModelEvent> {
        self.rx.try_recv().ok()
    }

    /// Waits up to `timeout` for the next event (for tests and the command line).
    #[must_use]
    pub fn recv_timeout(&self, timeout: Duration) -> Option<ModelEvent> {
        self.rx.recv_timeout(timeout).ok()
    }
}

struct Training {
    generation: u64,
    trainer: Trainer,
    paused: bool,
    started: Instant,
    trained_for: Duration,
    last_progress: Instant,
    last_evaluation: Instant,
    loss_sum: f64,
    loss_count: u32,
}

struct Sampling {
    generation: u64,
    chain: ReverseChain,
    denoiser: Denoiser,
    paused: bool,
    rate: Option<f64>,
    next_step_at: Instant,
}

enum Job {
    Train(Box<Training>),
    Sample(Box<Sampling>),
}

struct Worker {
    events: Sender<ModelEvent>,
    wake: Box<dyn Fn() + Send>,
    model: Option<Model>,
    job: Option<Job>,
}

impl Worker {
    fn emit(&self, event: ModelEvent) {
        let _ = self.events.send(event);
        (self.wake)();
    }

    fn fail(&self, generation: u64, message: String) {
        self.emit(ModelEvent::Failed { generation, message });
    }

    fn run(&mut self, commands: &Receiver<ModelCommand>) {
        loop {
            let busy = match &self.job {
                Some(Job::Train(t)) => !t.paused,
                Some(Job::Sample(s)) => !s.paused,
                None => false,
            };
            // Block while idle; otherwise take what has arrived and go on working.
            let command = if busy {
                match commands.try_recv() {
                    Ok(c) => Some(c),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => return,
                }
            } else {
                match commands.recv() {
                    Ok(c) => Some(c),
                    Err(_) => return,
                }
            };
            if let Some(command) = command {
                let (own, running) = (job_generation(&command), self.job_generation());
                if let Err(panic) = catch_unwind(AssertUnwindSafe(|| self.handle(command))) {
                    // The running job is dropped with the command: whoever waits for
                    // either hears of it (a Step that panics ends its chain).
                    let message = panic_message(panic.as_ref());
                    self.job = None;
                    if let Some(own) = own.filter(|g| *g != running) {
                        self.fail(own, message.clone());
                    }
                    if running != 0 || own.is_none() {
                        self.fail(running, message);
                    }
                }
                continue;
            }
            let generation = self.job.as_ref().map_or(0, |j| match j {
                Job::Train(t) => t.generation,
                Job::Sample(s) => s.generation,
            });
            match catch_unwind(AssertUnwindSafe(|| self.work())) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    self.job = None;
                    self.fail(generation, e.to_string());
                }
                Err(panic) => {
                    self.job = None;
                    self.fail(generation, panic_message(panic.as_ref()));
                }
            }
        }
    }

    fn set_model(&mut self, model: Model, origin: String) {
        self.emit(ModelEvent::ModelReady(ModelSummary::of(&model, origin)));
        self.model = Some(model);
    }

    fn handle(&mut self, command: ModelCommand) {
        match command {
            ModelCommand::UseShipped(name) => match shipped::load(&name) {
                Some(Ok(model)) => self.set_model(model, format!("shipped {name}")),
                Some(Err(e)) => self.fail(0, e.to_string()),
                None => self.fail(0, format!("no shipped weights called '{name}'")),
            },
            ModelCommand::Load(path) => match io::load(&path) {
                Ok(model) => {
                    let name = path.file_name().map_or_else(
                        || path.display().to_string(),
                        |n| n.to_string_lossy().into_owned(),
                    );
                    self.set_model(model, name);
                }
                Err(e) => self.fail(0, format!("{e} (the current model is kept)")),
            },
            ModelCommand::Save(path) => match &self.model {
                Some(model) => match io::save(model, &path) {
                    Ok(()) => self.emit(ModelEvent::Saved(path)),
                    Err(e) => self.fail(0, e.to_string()),
                },
                None => self.fail(0, "there is no learned model to save yet".into()),
            },
            ModelCommand::Train(job) => self.start_training(*job),
            ModelCommand::Sample(job) => self.start_sample(*job),
            ModelCommand::Pause => self.set_paused(true),
            ModelCommand::Resume => self.set_paused(false),
            ModelCommand::Step => {
                if let Some(Job::Sample(s)) = &mut self.job {
                    s.paused = true;
                    if let Err(e) = self.sample_step() {
                        let g = self.job_generation();
                        self.job = None;
                        self.fail(g, e.to_string());
                    }
                }
            }
            ModelCommand::SetRate(rate) => {
                if let Some(Job::Sample(s)) = &mut self.job {
                    s.rate = rate;
                    s.next_step_at = Instant::now();
                }
            }
            ModelCommand::Cancel => self.cancel(),
            ModelCommand::EpsField {
                generation,
                denoiser,
                t,
                points,
            } => {
                let result = self.denoiser(&denoiser).and_then(|(schedule, d)| {
                    let t = t.clamp(1, schedule.steps());
                    d.predict_eps(&schedule, &points, t).map(|eps| (t, eps))
                });
                match result {
                    Ok((t, eps)) => self.emit(ModelEvent::EpsField { generation, t, eps }),
                    Err(e) => self.fail(generation, e.to_string()),
                }
            }
        }
    }

    fn start_training(&mut self, job: TrainJob) {
        self.cancel();
        let generation = job.generation;
        match Trainer::new(
            Network::new(job.architecture, job.settings.seed),
            job.set,
            job.settings,
        ) {
            Ok(trainer) => {
                let now = Instant::now();
                self.job = Some(Job::Train(Box::new(Training {
                    generation,
                    trainer,
                    paused: false,
                    started: now,
                    trained_for: Duration::ZERO,
                    last_progress: now,
                    last_evaluation: now,
                    loss_sum: 0.0,
                    loss_count: 0,
                })));
            }
            Err(e) => self.fail(generation, e.to_string()),
        }
    }

    fn start_sample(&mut self, job: SampleJob) {
        self.cancel();
        let generation = job.generation;
        match self.start_sampling(job) {
            Ok(sampling) => {
                let x = sampling.chain.x().to_vec();
                let (t, progress, paused) = (sampling.chain.t(), sampling.chain.progress(), sampling.paused);
                self.job = Some(Job::Sample(Box::new(sampling)));
                self.emit(ModelEvent::SampleFrame {
                    generation,
                    frame: Frame {
                        t,
                        x0_hat: x.clone(),
                        x,
                    },
                    progress,
                });
                self.emit(ModelEvent::SamplePaused { generation, paused });
            }
            Err(e) => self.fail(generation, e.to_string()),
        }
    }

    fn set_paused(&mut self, paused: bool) {
        match &mut self.job {
            Some(Job::Train(t)) => {
                if t.paused && !paused {
                    t.started = Instant::now();
                } else if !t.paused && paused {
                    t.trained_for += t.started.elapsed();
                }
                t.paused = paused;
                let generation = t.generation;
                let (iteration, total) = (t.trainer.iteration(), t.trainer.settings().iterations);
                let rate = iteration as f64 / t.trained_for.as_secs_f64().max(1e-9);
                self.emit(ModelEvent::TrainProgress {
                    generation,
                    iteration,
                    total,
                    loss: f64::NAN,
                    rate,
                    paused,
                });
            }
            Some(Job::Sample(s)) => {
                s.paused = paused;
                s.next_step_at = Instant::now();
                let generation = s.generation;
                self.emit(ModelEvent::SamplePaused { generation, paused });
            }
            None => {}
        }
    }

    fn job_generation(&self) -> u64 {
        match &self.job {
            Some(Job::Train(t)) => t.generation,
            Some(Job::Sample(s)) => s.generation,
            None => 0,
        }
    }

    /// Ends the current job: a training job hands over what it learnt.
    fn cancel(&mut self) {
        match self.job.take() {
            Some(Job::Train(t)) => {
                let generation = t.generation;
                if t.trainer.iteration() > 0 {
                    self.set_model(t.trainer.model(), "trained".into());
                }
                self.emit(ModelEvent::TrainFinished {
                    generation,
                    end: TrainEnd::Cancelled,
                });
            }
            Some(Job::Sample(_)) | None => {}
        }
    }

    fn denoiser(&self, choice: &DenoiserChoice) -> Result<(Schedule, Denoiser), ModelError> {
        match choice {
            DenoiserChoice::Learned => {
                let model = self.model.as_ref().ok_or_else(|| {
                    ModelError::Data("no learned model yet: load weights or train one".into())
                })?;
                let schedule = Schedule::new(&model.info.schedule)
                    .map_err(|e| ModelError::Data(format!("the model's schedule: {e}")))?;
                Ok((schedule, Denoiser::Learned(model.network.inference()?)))
            }
            DenoiserChoice::Ideal { data, dim, schedule } => {
                if *dim == 0 || data.is_empty() || data.len() % dim != 0 {
                    return Err(ModelError::Data(
                        "the ideal denoiser needs a non-empty data set".into(),
                    ));
                }
                let schedule =
                    Schedule::new(schedule).map_err(|e| ModelError::Data(format!("schedule: {e}")))?;
                Ok((schedule, Denoiser::Ideal(IdealDenoiser::new(data.clone(), *dim))))
            }
        }
    }

    fn start_sampling(&self, job: SampleJob) -> Result<Sampling, ModelError> {
        let (schedule, denoiser) = self.denoiser(&job.denoiser)?;
        let dim = match (&job.denoiser, &self.model) {
            (DenoiserChoice::Ideal { dim, .. }, _) => *dim,
            (DenoiserChoice::Learned, Some(m)) => m.network.architecture().data_shape().dim(),
            (DenoiserChoice::Learned, None) => unreachable!("denoiser() checked the model"),
        };
        let chain = match job.start {
            ChainStart::Noise { n } => {
                if n == 0 {
                    return Err(ModelError::Data("sample at least one example".into()));
                }
                ReverseChain::from_noise(schedule, job.sampler, n, dim, job.seed)
            }
            ChainStart::Data { x0, t } => {
                if x0.is_empty() || x0.len() % dim != 0 {
                    return Err(ModelError::Data(format!(
                        "SDEdit needs examples of {dim} values; got {} values",
                        x0.len()
                    )));
                }
                ReverseChain::from_data(schedule, job.sampler, &x0, dim, t, job.seed)
            }
        };
        // Images live in [−1, 1]: clip x̂_0 there (points are unbounded).
        let image = match (&job.denoiser, &self.model) {
            (DenoiserChoice::Learned, Some(m)) => {
                matches!(m.network.architecture().data_shape(), DataShape::Image { .. })
            }
            _ => false,
        };
        let chain = if image { chain.clip_x0(-1.0, 1.0) } else { chain };
        let chain = chain.panic_at_step(job.panic_at_step);
        Ok(Sampling {
            generation: job.generation,
            chain,
            denoiser,
            paused: job.paused,
            rate: job.rate,
            next_step_at: Instant::now(),
        })
    }

    /// One step of the sampling job; ends the job at `t = 0`.
    fn sample_step(&mut self) -> Result<(), ModelError> {
        let Some(Job::Sample(s)) = &mut self.job else {
            return Ok(());
        };
        let generation = s.generation;
        let frame = s.chain.step(&s.denoiser)?;
        let progress = s.chain.progress();
        let done = s.chain.is_done();
        if let Some(frame) = frame {
            self.emit(ModelEvent::SampleFrame {
                generation,
                frame,
                progress,
            });
        }
        if done {
            self.job = None;
        }
        Ok(())
    }

    /// A slice of the running job.
    fn work(&mut self) -> Result<(), ModelError> {
        match &mut self.job {
            Some(Job::Sample(s)) => {
                let now = Instant::now();
                if now < s.next_step_at {
                    std::thread::sleep((s.next_step_at - now).min(Duration::from_millis(20)));
                    return Ok(());
                }
                if let Some(rate) = s.rate.filter(|r| *r > 0.0) {
                    s.next_step_at = now + Duration::from_secs_f64(1.0 / rate);
                }
                self.sample_step()
            }
            Some(Job::Train(_)) => self.train_slice(),
            None => Ok(()),
        }
    }

    fn train_slice(&mut self) -> Result<(), ModelError> {
        let Some(Job::Train(t)) = &mut self.job else {
            return Ok(());
        };
        let slice_start = Instant::now();
        let mut diverged = None;
        while slice_start.elapsed() < TRAIN_SLICE && !t.trainer.is_done() {
            match t.trainer.step() {
                Ok(loss) => {
                    t.loss_sum += f64::from(loss);
                    t.loss_count += 1;
                }
                Err(e) => {
                    diverged = Some(e.to_string());
                    break;
                }
            }
        }
        let generation = t.generation;
        let now = Instant::now();
        let done = t.trainer.is_done() || diverged.is_some();
        if t.loss_count > 0 && (done || now.duration_since(t.last_progress) >= PROGRESS_EVERY) {
            let trained = t.trained_for + t.started.elapsed();
            let event = ModelEvent::TrainProgress {
                generation,
                iteration: t.trainer.iteration(),
                total: t.trainer.settings().iterations,
                loss: t.loss_sum / f64::from(t.loss_count),
                rate: t.trainer.iteration() as f64 / trained.as_secs_f64().max(1e-9),
                paused: false,
            };
            t.loss_sum = 0.0;
            t.loss_count = 0;
            t.last_progress = now;
            let _ = self.events.send(event);
            (self.wake)();
        }
        let Some(Job::Train(t)) = &mut self.job else {
            return Ok(());
        };
        if diverged.is_none() && (done || now.duration_since(t.last_evaluation) >= EVALUATE_EVERY) {
            let evaluation = t.trainer.evaluate(true)?;
            t.last_evaluation = Instant::now();
            self.emit(ModelEvent::Evaluated {
                generation,
                evaluation,
            });
        }
        if done {
            let Some(Job::Train(t)) = self.job.take() else {
                return Ok(());
            };
            // A run that diverged before its first snapshot has nothing worth keeping.
            if t.trainer.iteration() > 0 {
                self.set_model(t.trainer.model(), "trained".into());
            }
            let end = diverged.map_or(TrainEnd::Completed, TrainEnd::Diverged);
            self.emit(ModelEvent::TrainFinished { generation, end });
        }
        Ok(())
    }
}

/// Lowers the calling thread's scheduling priority to nice 10 (on Linux): when the
/// window's software renderer wants both cores of a two-core machine, it gets about nine
/// tenths of the contended one, and training takes the rest. (Nice 19 starved a sampling
/// chain of the CPU whenever anything else ran, e.g. tests in parallel; at equal
/// priority training raised the window's p99 frame time from 20 to 21 ms, BENCHMARKS.md.)
/// Failure (a platform without per-thread priorities) is harmless and ignored.
fn lower_priority() {
    // thread-priority maps 0..=99 onto nice 19..=−20; 22 is nice 10.
    if let Ok(value) = thread_priority::ThreadPriorityValue::try_from(22u8) {
        let _ = thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Crossplatform(
            value,
        ));
    }
}

/// The generation a command's failure is reported under (0: a load or save); `None` for
/// the commands that act on the running job (Step, Pause, …): that job's.
fn job_generation(command: &ModelCommand) -> Option<u64> {
    match command {
        ModelCommand::Train(j) => Some(j.generation),
        ModelCommand::Sample(j) => Some(j.generation),
        ModelCommand::EpsField { generation, .. } => Some(*generation),
        ModelCommand::Pause
        | ModelCommand::Resume
        | ModelCommand::Step
        | ModelCommand::SetRate(_)
        | ModelCommand::Cancel => None,
        _ => Some(0),
    }
}
