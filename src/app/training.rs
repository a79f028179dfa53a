//! Training a model on the data on screen: start, pause, cancel.

use super::DiffscopeApp;
use super::reverse::TrainingView;
use crate::model::train::{LABEL_DROPOUT, TrainSettings};
use crate::scene::prepare::train_set;
use crate::worker::model::{ModelCommand, TrainJob};

impl DiffscopeApp {
    pub(super) fn train(&mut self) {
        if self.model.learning.training_running() {
            self.model.status.error = Some("a training run is going: cancel it first".into());
            return;
        }
        let r = &self.settings.reverse;
        let (set, architecture) = match train_set(&self.model.scene, r.train_seed) {
            Ok(x) => x,
            Err(e) => {
                self.model.status.error = Some(format!("cannot train on {}: {e}", self.model.scene.name));
                return;
            }
        };
        let what = format!("{} ({} examples, {})", set.name, set.len(), set.shape);
        let settings = TrainSettings {
            schedule: self.model.schedule.spec().clone(),
            lr: r.lr,
            batch: r.batch,
            iterations: r.iterations,
            seed: r.train_seed,
            ema: TrainSettings::for_shape(set.shape).ema,
            label_dropout: LABEL_DROPOUT,
            panic_at_iteration: self.model.learning.faults.train_panic_at_iteration,
            nan_loss_at_iteration: self.model.learning.faults.train_nan_loss_at_iteration,
        };
        let total = settings.iterations;
        let generation = self.job_id();
        self.ml.send(ModelCommand::Train(Box::new(TrainJob {
            generation,
            set,
            architecture,
            settings,
        })));
        let learning = &mut self.model.learning;
        // The worker runs one job at a time: a running chain stops here.
        if let Some(chain) = &mut learning.chain {
            chain.done = true;
        }
        self.model.status.info = Some(format!("training on {what}"));
        learning.training = Some(TrainingView::new(
            generation,
            what,
            total,
            learning.learned.clone(),
        ));
    }

    pub(super) fn pause_training(&mut self, paused: bool) {
        if let Some(tr) = &mut self.model.learning.training
            && tr.running()
        {
            tr.paused = paused;
            self.ml.send(if paused {
                ModelCommand::Pause
            } else {
                ModelCommand::Resume
            });
        }
    }

    pub(super) fn cancel_training(&mut self) {
        if self.model.learning.training_running() {
            self.ml.send(ModelCommand::Cancel);
        }
    }
}
