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

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::frames::panic_message;
use crate::model::classes::Guidance;
use crate::model::sample::Denoiser;
use crate::model::{Checkpoint, ModelError, io, shipped};

mod elbo_job;
mod flow_job;
mod protocol;
mod quality_job;
mod sample_job;
mod train_job;

pub use self::protocol::{
    ChainPaths, ChainStart, ClassGuidance, DenoiserChoice, ElboJob, ElboPart, FlowJob, FlowOutcome,
    FlowRequest, ModelCommand, ModelEvent, ModelSummary, PathsJob, QualityJob, SampleJob, TrainEnd, TrainJob,
};
use self::sample_job::Sampling;
use self::train_job::Training;

/// How long a training slice runs before the worker looks at its commands again.
const TRAIN_SLICE: Duration = Duration::from_millis(40);
/// Training progress is reported at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
/// Validation (and, for 2D, the sample metric) runs at most this often during training.
const EVALUATE_EVERY: Duration = Duration::from_secs(3);

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
        let thread = super::spawn_pooled("model", move || {
            let mut worker = Worker {
                events: event_tx,
                wake,
                commands: cmd_rx,
                pending: VecDeque::new(),
                model: None,
                job: None,
            };
            worker.run();
        });
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

enum Job {
    Train(Box<Training>),
    Sample(Box<Sampling>),
}

struct Worker {
    events: Sender<ModelEvent>,
    wake: Box<dyn Fn() + Send>,
    commands: Receiver<ModelCommand>,
    /// Commands that arrived while an ELBO job ran (and stopped it), handled next.
    pending: VecDeque<ModelCommand>,
    model: Option<Checkpoint>,
    job: Option<Job>,
}

impl Worker {
    pub(super) fn emit(&self, event: ModelEvent) {
        let _ = self.events.send(event);
        (self.wake)();
    }

    pub(super) fn fail(&self, generation: u64, message: String) {
        self.emit(ModelEvent::Failed { generation, message });
    }

    pub(super) fn run(&mut self) {
        loop {
            let busy = match &self.job {
                Some(Job::Train(t)) => !t.paused,
                Some(Job::Sample(s)) => !s.paused,
                None => false,
            };
            // Block while idle; otherwise take what has arrived and go on working.
            let command = if let Some(c) = self.pending.pop_front() {
                Some(c)
            } else if busy {
                match self.commands.try_recv() {
                    Ok(c) => Some(c),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => return,
                }
            } else {
                match self.commands.recv() {
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

    /// Loads weights from `path`; with `points` (2D data on screen), refuses a
    /// single-image model. A failure keeps the current model and says why.
    fn load(&mut self, path: &std::path::Path, points: bool) {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        match io::load(path) {
            Ok(model) => match model.network.architecture() {
                crate::model::Architecture::Patch(c) if points => self.fail(
                    0,
                    format!(
                        "{}: a single-image model of the {}×{} photo '{}' denoises photos, not the 2D points on screen; open a photo to use it (the current model is kept)",
                        path.display(),
                        c.photo.1,
                        c.photo.0,
                        model.info.dataset
                    ),
                ),
                _ => self.set_model(model, name),
            },
            Err(e) => self.fail(0, format!("{e} (the current model is kept)")),
        }
    }

    pub(super) fn set_model(&mut self, model: Checkpoint, origin: String) {
        self.emit(ModelEvent::ModelReady(ModelSummary::of(&model, origin)));
        self.model = Some(model);
    }

    pub(super) fn handle(&mut self, command: ModelCommand) {
        match command {
            ModelCommand::UseShipped(name) => match shipped::load(&name) {
                Some(Ok(model)) => self.set_model(model, format!("shipped {name}")),
                Some(Err(e)) => self.fail(0, e.to_string()),
                None => self.fail(0, format!("no shipped weights called '{name}'")),
            },
            ModelCommand::Load(path) => self.load(&path, false),
            ModelCommand::LoadFor { path, points } => self.load(&path, points),
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
            ModelCommand::SetGuidance(weight) => {
                if let Some(Job::Sample(s)) = &mut self.job
                    && let Denoiser::Guided(_, guidance) = &mut s.denoiser
                {
                    guidance.weight = weight;
                }
            }
            ModelCommand::Cancel => self.cancel(),
            ModelCommand::Elbo(job) => {
                self.cancel();
                self.elbo(&job);
            }
            ModelCommand::Flow(job) => {
                self.cancel();
                self.flow(&job);
            }
            ModelCommand::Quality(job) => {
                self.cancel();
                self.quality(&job);
            }
            ModelCommand::EpsField {
                generation,
                denoiser,
                t,
                points,
                guidance,
            } => {
                let n = points.len() / 2;
                let result = self.denoiser(&denoiser, None).and_then(|(schedule, d)| {
                    let d = guided(d, guidance.as_ref(), n, 0)?;
                    let t = t.clamp(1, schedule.steps());
                    d.predict_eps(&schedule, &points, t).map(|eps| (t, eps))
                });
                match result {
                    Ok((t, eps)) => self.emit(ModelEvent::EpsField { generation, t, eps }),
                    Err(e) => self.fail(generation, e.to_string()),
                }
            }
            ModelCommand::Paths(job) => {
                let generation = job.generation;
                match self.paths(*job) {
                    Ok(paths) => self.emit(ModelEvent::Paths { generation, paths }),
                    Err(e) => self.fail(generation, e.to_string()),
                }
            }
        }
    }

    pub(super) fn set_paused(&mut self, paused: bool) {
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

    pub(super) fn job_generation(&self) -> u64 {
        match &self.job {
            Some(Job::Train(t)) => t.generation,
            Some(Job::Sample(s)) => s.generation,
            None => 0,
        }
    }

    /// Ends the current job: a training job hands over what it learnt.
    pub(super) fn cancel(&mut self) {
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

    /// A slice of the running job.
    pub(super) fn work(&mut self) -> Result<(), ModelError> {
        match &mut self.job {
            Some(Job::Sample(s)) => {
                let now = Instant::now();
                if now < s.next_step_at {
                    std::thread::sleep((s.next_step_at - now).min(Duration::from_millis(20)));
                    return Ok(());
                }
                if let Some(rate) = s.rate.filter(|r| *r > 0.0) {
                    // The next step is due a period after this one was due, not after now:
                    // a sleep overshoots (by milliseconds on a loaded machine), and counting
                    // the overshoot into every period ran 200 steps/s at about 110. A chain
                    // that fell behind by more than a period does not race to catch up.
                    let period = Duration::from_secs_f64(1.0 / rate);
                    let floor = now.checked_sub(period).unwrap_or(now);
                    s.next_step_at = (s.next_step_at + period).max(floor);
                }
                self.sample_step()
            }
            Some(Job::Train(_)) => self.train_slice(),
            None => Ok(()),
        }
    }
}

/// The progress callback of a long job (an ELBO part, a flow job): sends `event(fraction)`
/// at most every [`PROGRESS_EVERY`], and returns `false` — stop — once a command arrives
/// (kept in `pending`, handled next).
fn stop_on_command<'a>(
    events: &'a Sender<ModelEvent>,
    wake: &'a (dyn Fn() + Send),
    commands: &'a Receiver<ModelCommand>,
    pending: &'a mut VecDeque<ModelCommand>,
    event: impl Fn(f64) -> ModelEvent + 'a,
) -> impl FnMut(f64) -> bool + 'a {
    let mut last = Instant::now();
    move |fraction| {
        if let Ok(command) = commands.try_recv() {
            pending.push_back(command);
            return false;
        }
        if last.elapsed() >= PROGRESS_EVERY {
            last = Instant::now();
            let _ = events.send(event(fraction));
            wake();
        }
        true
    }
}

/// The generation a command's failure is reported under (0: a load or save); `None` for
/// the commands that act on the running job (Step, Pause, …): that job's.
fn job_generation(command: &ModelCommand) -> Option<u64> {
    match command {
        ModelCommand::Train(j) => Some(j.generation),
        ModelCommand::Sample(j) => Some(j.generation),
        ModelCommand::Elbo(j) => Some(j.generation),
        ModelCommand::Flow(j) => Some(j.generation),
        ModelCommand::Quality(j) => Some(j.generation),
        ModelCommand::EpsField { generation, .. } => Some(*generation),
        ModelCommand::Paths(j) => Some(j.generation),
        ModelCommand::Pause
        | ModelCommand::Resume
        | ModelCommand::Step
        | ModelCommand::SetRate(_)
        | ModelCommand::Cancel => None,
        _ => Some(0),
    }
}

/// `denoiser` guided as `guidance` asks for `n` examples (class draws seeded by `seed`);
/// unchanged without guidance, or when the network the worker holds has no classes (the
/// window asked for the model it knew while a load or a training run replaced it here:
/// the chain runs with the model that is, as an unguided chain of a new model does).
fn guided(
    denoiser: Denoiser,
    guidance: Option<&ClassGuidance>,
    n: usize,
    seed: u64,
) -> Result<Denoiser, ModelError> {
    match (denoiser, guidance) {
        (Denoiser::Learned(net), Some(g)) if net.classes() > 0 => {
            let labels = g.class.within(net.classes()).labels(net.classes(), n, seed)?;
            Ok(Denoiser::Guided(
                net,
                Guidance {
                    labels,
                    weight: g.weight,
                },
            ))
        }
        (denoiser, _) => Ok(denoiser),
    }
}
