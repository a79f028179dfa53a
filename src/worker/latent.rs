//! The `latent-model` thread: holds the VAE → VDM tab's model (a VAE or a Markovian
//! hierarchical VAE), trains it, and computes what the tab draws — reconstructions,
//! samples, posteriors, the latents of every level and the ELBO term by term — off the
//! UI thread.
//!
//! The same conventions as the `model` thread (`worker::model`): typed commands in,
//! events of plain data out (points and numbers, and the model's parameters as plain
//! vectors so that the window can decode one hovered latent itself), a generation per
//! job (the window drops stale events), a one-thread rayon pool at nice 10. A failed step
//! (a loss or a parameter that is not finite) or a panic ends the job with
//! [`LatentEvent::Failed`]; the model of the last snapshot stays the window's.
//!
//! It is a thread of its own, not a job of the `model` thread, so that the tab's VAE and
//! the Reverse tab's denoiser can each be trained (or paused) without waiting on the other.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::frames::panic_message;
use crate::model::ModelError;
use crate::model::mhvae::{MhvaeElbo, MhvaeTrainer};
use crate::model::vae::{LatentModel, Posterior, VaeElbo, VaeTrainSettings, VaeTrainer};

/// Snapshots are sent at most this often while a model trains.
const SNAPSHOT_EVERY: Duration = Duration::from_millis(250);
/// Monte-Carlo samples per example of a snapshot's ELBO.
const ELBO_SAMPLES: usize = 4;
/// Seed of a snapshot's pictures (fixed: the pictures change only as the model does).
const PICTURE_SEED: u64 = 7;

/// What the window asks of the thread.
pub enum LatentCommand {
    /// Show `model` on `data` (`n × 2`): one snapshot, no training.
    Show {
        /// The job's generation.
        generation: u64,
        /// The model.
        model: Box<LatentModel>,
        /// The examples.
        data: Vec<f32>,
        /// Iterations it was trained for.
        iterations: u64,
    },
    /// Train `model` on `data` (from iteration `iterations`) until `settings.iterations`
    /// more steps are done, with a snapshot every [`SNAPSHOT_EVERY`].
    Train {
        /// The job's generation.
        generation: u64,
        /// Where training starts (fresh or warm).
        model: Box<LatentModel>,
        /// The examples.
        data: Vec<f32>,
        /// Iterations the model had already.
        iterations: u64,
        /// β, learning rate, batch, steps and seed.
        settings: VaeTrainSettings,
        /// A test hook: panic at this iteration (the window's `LatentState::panic_at_iteration`).
        #[doc(hidden)]
        panic_at_iteration: Option<u64>,
    },
    /// Pause (`true`) or resume training.
    Pause(bool),
    /// The β of a VAE in training.
    SetBeta(f64),
    /// Stop training; a last snapshot follows.
    Stop,
}

/// One point of the training curves (the ELBO of a snapshot, β = 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CurvePoint {
    /// Training iterations.
    pub iteration: u64,
    /// `E_q log p_θ(x|z)` (a VAE) or `E_q log p_θ(x|z_1)` (an MHVAE), nats per example.
    pub recon: f64,
    /// `KL(q_φ(z|x) ‖ p(z))` (a VAE) or the prior and consistency terms (an MHVAE).
    pub kl: f64,
    /// The ELBO.
    pub elbo: f64,
}

/// The ELBO of a snapshot, by model.
#[derive(Clone, Debug)]
pub enum LatentReport {
    /// A VAE's.
    Vae(VaeElbo),
    /// A hierarchical VAE's.
    Mhvae(MhvaeElbo),
}

impl LatentReport {
    /// The report as a curve point at `iteration`.
    #[must_use]
    pub fn curve_point(&self, iteration: u64) -> CurvePoint {
        match self {
            Self::Vae(r) => CurvePoint {
                iteration,
                recon: r.recon.mean,
                kl: r.kl.mean,
                elbo: r.elbo.mean,
            },
            Self::Mhvae(r) => CurvePoint {
                iteration,
                recon: r.recon.mean,
                kl: r.recon.mean - r.elbo.mean,
                elbo: r.elbo.mean,
            },
        }
    }
}

/// What the tab draws of a model, computed on the thread.
#[derive(Clone, Debug)]
pub enum Pictures {
    /// A VAE's.
    Vae {
        /// `q_φ(z|x)` of every example.
        posterior: Posterior,
        /// One `z ~ q_φ(z|x)` per example: the aggregate posterior.
        aggregate: Vec<f32>,
        /// `μ_θ(z)` of that `z`: the reconstructions `x → z → x̂`.
        reconstructions: Vec<f32>,
        /// `x ~ p_θ(x|z)`, `z ~ N(0, I)`, one per example.
        samples: Vec<f32>,
    },
    /// A hierarchical VAE's.
    Mhvae {
        /// `z_1 … z_T` sampled through the encoders from the examples.
        encoded: Vec<Vec<f32>>,
        /// The ancestral samples `z_T, …, z_1, x`.
        generated: Vec<Vec<f32>>,
    },
}

/// A model and what it looks like now.
#[derive(Clone, Debug)]
pub struct LatentSnapshot {
    /// The model (plain parameters).
    pub model: LatentModel,
    /// Its training iterations.
    pub iteration: u64,
    /// Its ELBO on the examples.
    pub report: LatentReport,
    /// Its pictures.
    pub pictures: Pictures,
    /// Seconds of training so far in this job (0 for a model shown).
    pub train_s: f64,
}

/// What the thread tells the window.
pub enum LatentEvent {
    /// The model now, with its pictures.
    Snapshot {
        /// The job's generation.
        generation: u64,
        /// The snapshot.
        snapshot: Box<LatentSnapshot>,
        /// Whether training goes on.
        training: bool,
    },
    /// The job failed (its last snapshot is the model to keep).
    Failed {
        /// The job's generation.
        generation: u64,
        /// What went wrong, one line.
        message: String,
    },
}

/// The handle the window holds.
pub struct LatentWorker {
    tx: Sender<LatentCommand>,
    rx: Receiver<LatentEvent>,
    _thread: JoinHandle<()>,
}

impl LatentWorker {
    /// Starts the `latent-model` thread; `wake` is called after each event.
    ///
    /// # Panics
    /// If the OS cannot start a thread.
    #[must_use]
    pub fn spawn(wake: Box<dyn Fn() + Send>) -> Self {
        let (tx, commands) = mpsc::channel();
        let (events, rx) = mpsc::channel();
        let thread = super::spawn_pooled("latent-model", move || {
            let mut worker = Worker {
                events,
                wake,
                commands,
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
    pub fn send(&self, command: LatentCommand) {
        let _ = self.tx.send(command);
    }

    /// The next event, if any.
    #[must_use]
    pub fn try_recv(&self) -> Option<LatentEvent> {
        self.rx.try_recv().ok()
    }
}

/// A trainer of either model.
enum Trainer {
    Vae(Box<VaeTrainer>),
    Mhvae(Box<MhvaeTrainer>),
}

impl Trainer {
    fn new(model: LatentModel, data: Vec<f32>, settings: VaeTrainSettings) -> Result<Self, ModelError> {
        Ok(match model {
            LatentModel::Vae(vae) => Self::Vae(Box::new(VaeTrainer::new(vae, data, settings)?)),
            LatentModel::Mhvae(m) => Self::Mhvae(Box::new(MhvaeTrainer::new(m, data, settings)?)),
        })
    }

    fn step(&mut self) -> Result<(), ModelError> {
        match self {
            Self::Vae(t) => t.step().map(|_| ()),
            Self::Mhvae(t) => t.step().map(|_| ()),
        }
    }

    fn model(&self) -> LatentModel {
        match self {
            Self::Vae(t) => LatentModel::Vae(t.vae().clone()),
            Self::Mhvae(t) => LatentModel::Mhvae(t.mhvae().clone()),
        }
    }

    fn data(&self) -> &[f32] {
        match self {
            Self::Vae(t) => t.data(),
            Self::Mhvae(t) => t.data(),
        }
    }

    fn set_beta(&mut self, beta: f64) {
        if let Self::Vae(t) = self {
            t.set_beta(beta);
        }
    }
}

struct Job {
    generation: u64,
    trainer: Trainer,
    /// Iterations before this job.
    start_iterations: u64,
    /// Steps this job takes.
    steps: u64,
    done: u64,
    paused: bool,
    trained: Duration,
    last_snapshot: Instant,
    panic_at_iteration: Option<u64>,
}

struct Worker {
    events: Sender<LatentEvent>,
    wake: Box<dyn Fn() + Send>,
    commands: Receiver<LatentCommand>,
    job: Option<Job>,
}

impl Worker {
    fn send(&self, event: LatentEvent) {
        let _ = self.events.send(event);
        (self.wake)();
    }

    fn fail(&mut self, generation: u64, message: String) {
        self.job = None;
        self.send(LatentEvent::Failed { generation, message });
    }

    fn run(&mut self) {
        loop {
            // Idle (or paused): wait for a command; training: take what has arrived.
            let command = if self.job.as_ref().is_some_and(|j| !j.paused) {
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
                self.handle(command);
                continue;
            }
            self.train_slice();
        }
    }

    fn handle(&mut self, command: LatentCommand) {
        match command {
            LatentCommand::Show {
                generation,
                model,
                data,
                iterations,
            } => {
                self.job = None;
                let result = catch_unwind(AssertUnwindSafe(|| snapshot(*model, &data, iterations, 0.0)));
                match result {
                    Ok(Ok(snapshot)) => self.send(LatentEvent::Snapshot {
                        generation,
                        snapshot: Box::new(snapshot),
                        training: false,
                    }),
                    Ok(Err(e)) => self.fail(generation, e.to_string()),
                    Err(panic) => self.fail(generation, panic_message(&*panic)),
                }
            }
            LatentCommand::Train {
                generation,
                model,
                data,
                iterations,
                settings,
                panic_at_iteration,
            } => {
                let steps = settings.iterations;
                let result = catch_unwind(AssertUnwindSafe(|| Trainer::new(*model, data, settings)));
                match result {
                    Ok(Ok(trainer)) => {
                        self.job = Some(Job {
                            generation,
                            trainer,
                            start_iterations: iterations,
                            steps,
                            done: 0,
                            paused: false,
                            trained: Duration::ZERO,
                            last_snapshot: Instant::now(),
                            panic_at_iteration,
                        });
                    }
                    Ok(Err(e)) => self.fail(generation, e.to_string()),
                    Err(panic) => self.fail(generation, panic_message(&*panic)),
                }
            }
            LatentCommand::Pause(paused) => {
                if let Some(job) = &mut self.job {
                    job.paused = paused;
                }
            }
            LatentCommand::SetBeta(beta) => {
                if let Some(job) = &mut self.job {
                    job.trainer.set_beta(beta);
                }
            }
            LatentCommand::Stop => {
                if self.job.is_some() {
                    self.finish_job();
                }
            }
        }
    }

    /// Steps for up to a snapshot's interval, then a snapshot.
    fn train_slice(&mut self) {
        let Some(job) = &mut self.job else { return };
        let generation = job.generation;
        let slice = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| -> Result<(), ModelError> {
            while job.done < job.steps && job.last_snapshot.elapsed() < SNAPSHOT_EVERY {
                let iteration = job.start_iterations + job.done;
                assert!(
                    job.panic_at_iteration != Some(iteration),
                    "test hook: a panic at iteration {iteration}"
                );
                job.trainer.step()?;
                job.done += 1;
            }
            Ok(())
        }));
        job.trained += slice.elapsed();
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return self.fail(generation, format!("training stopped: {e}")),
            Err(panic) => {
                return self.fail(
                    generation,
                    format!("training stopped: {}", panic_message(&*panic)),
                );
            }
        }
        if job.done >= job.steps {
            self.finish_job();
        } else {
            job.last_snapshot = Instant::now();
            self.send_snapshot(true);
        }
    }

    fn finish_job(&mut self) {
        self.send_snapshot(false);
        self.job = None;
    }

    fn send_snapshot(&mut self, training: bool) {
        let Some(job) = &self.job else { return };
        let generation = job.generation;
        let iterations = job.start_iterations + job.done;
        let train_s = job.trained.as_secs_f64();
        let result = catch_unwind(AssertUnwindSafe(|| {
            snapshot(job.trainer.model(), job.trainer.data(), iterations, train_s)
        }));
        match result {
            Ok(Ok(snapshot)) => self.send(LatentEvent::Snapshot {
                generation,
                snapshot: Box::new(snapshot),
                training,
            }),
            Ok(Err(e)) => self.fail(generation, e.to_string()),
            Err(panic) => self.fail(generation, panic_message(&*panic)),
        }
    }
}

/// The pictures and the ELBO of `model` on `data`.
///
/// # Errors
/// A model that fails on the data, or an ELBO that is not finite.
pub fn snapshot(
    model: LatentModel,
    data: &[f32],
    iteration: u64,
    train_s: f64,
) -> Result<LatentSnapshot, ModelError> {
    let n = data.len() / 2;
    let (report, pictures) = match &model {
        LatentModel::Vae(vae) => {
            let posterior = vae.encode(data)?;
            let mut eps = vec![0f32; posterior.mean.len()];
            crate::diffusion::noise::fill_normal_f32(PICTURE_SEED, 0x5EED_0001, &mut eps);
            let aggregate = posterior.draw(&eps);
            let reconstructions = vae.decode(&aggregate)?;
            let samples = vae.sample(n, PICTURE_SEED)?;
            let report = vae.elbo(data, ELBO_SAMPLES, PICTURE_SEED)?;
            (
                LatentReport::Vae(report),
                Pictures::Vae {
                    posterior,
                    aggregate,
                    reconstructions,
                    samples,
                },
            )
        }
        LatentModel::Mhvae(m) => {
            let encoded = m.encode_levels(data, PICTURE_SEED)?;
            // As DDPM's sampler at t = 1: the last step shows the decoder's mean.
            let generated = m.generate_with(n, PICTURE_SEED, false)?;
            let report = m.elbo(data, ELBO_SAMPLES, PICTURE_SEED)?;
            (
                LatentReport::Mhvae(report),
                Pictures::Mhvae { encoded, generated },
            )
        }
    };
    let elbo = match &report {
        LatentReport::Vae(r) => r.elbo.mean,
        LatentReport::Mhvae(r) => r.elbo.mean,
    };
    if !elbo.is_finite() {
        return Err(ModelError::Data(format!(
            "the model's ELBO is not finite ({elbo})"
        )));
    }
    Ok(LatentSnapshot {
        model,
        iteration,
        report,
        pictures,
        train_s,
    })
}
