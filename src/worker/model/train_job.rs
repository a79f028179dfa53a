//! The training job: time slices of training, progress reports, periodic evaluation.

use std::time::{Duration, Instant};

use super::protocol::{ModelEvent, TrainEnd, TrainJob};
use super::{EVALUATE_EVERY, Job, PROGRESS_EVERY, TRAIN_SLICE, Worker};
use crate::model::train::Trainer;
use crate::model::{ModelError, Network};

pub(super) struct Training {
    pub(super) generation: u64,
    pub(super) trainer: Trainer,
    pub(super) paused: bool,
    pub(super) started: Instant,
    pub(super) trained_for: Duration,
    pub(super) last_progress: Instant,
    pub(super) last_evaluation: Instant,
    pub(super) loss_sum: f64,
    pub(super) loss_count: u32,
}

impl Worker {
    pub(super) fn start_training(&mut self, job: TrainJob) {
        self.cancel();
        let generation = job.generation;
        match Trainer::new(
            Network::new(job.architecture, job.settings.seed),
            job.set,
            job.settings,
        )
        .and_then(|t| t.with_objective(job.objective))
        {
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

    pub(super) fn train_slice(&mut self) -> Result<(), ModelError> {
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
