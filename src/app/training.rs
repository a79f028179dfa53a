//! Training a model on the data on screen: start, pause, cancel.

use super::DiffscopeApp;
use super::reverse::TrainingView;
use crate::model::mlp::MlpConfig;
use crate::model::train::{LABEL_DROPOUT, TrainSettings};
use crate::model::{Architecture, Objective};
use crate::scene::SceneError;
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
            // Flow matching trains the 2D network unconditionally (the labels unused).
            Ok((set, Architecture::Mlp2d(c))) if r.objective == Objective::FlowMatching => {
                (set, Architecture::Mlp2d(MlpConfig { classes: 0, ..c }))
            }
            Ok(x) => x,
            // The drawing's reason names it already.
            Err(e @ SceneError::DrawingTooSmall(_)) => {
                self.model.status.error = Some(e.to_string());
                return;
            }
            Err(e) => {
                self.model.status.error = Some(format!("cannot train on {}: {e}", self.model.scene.name));
                return;
            }
        };
        let what = match architecture {
            Architecture::Patch(c) => format!(
                "{} at {}×{} ({} crops of {}×{})",
                set.name,
                c.photo.1,
                c.photo.0,
                set.len(),
                c.crop,
                c.crop
            ),
            _ => format!(
                "{} ({} examples, {}){}",
                set.name,
                set.len(),
                set.shape,
                if r.objective == Objective::FlowMatching {
                    ", flow matching"
                } else {
                    ""
                }
            ),
        };
        // A photo trains with its own fields (batches of crops, its learning rate).
        let (lr, batch, iterations, ema) = match architecture {
            Architecture::Patch(_) => (
                r.photo_train.lr,
                r.photo_train.batch,
                r.photo_train.iterations,
                TrainSettings::for_photo().ema,
            ),
            _ => (
                r.lr,
                r.batch,
                r.iterations,
                TrainSettings::for_shape(set.shape).ema,
            ),
        };
        let settings = TrainSettings {
            schedule: self.model.schedule.spec().clone(),
            lr,
            batch,
            iterations,
            seed: r.train_seed,
            ema,
            label_dropout: LABEL_DROPOUT,
            panic_at_iteration: self.model.learning.faults.train_panic_at_iteration,
            nan_loss_at_iteration: self.model.learning.faults.train_nan_loss_at_iteration,
        };
        let total = settings.iterations;
        // Flow matching is for the 2D network; images train their denoisers.
        let objective = if matches!(architecture, Architecture::Mlp2d(_)) {
            r.objective
        } else {
            Objective::Epsilon
        };
        let generation = self.job_id();
        self.ml.send(ModelCommand::Train(Box::new(TrainJob {
            generation,
            set,
            architecture,
            settings,
            objective,
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
