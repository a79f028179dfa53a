//! The `model` worker's events, drained in `logic` (never waited for): models loaded,
//! training progress and ends, chain frames, ε fields, ELBO estimates, failures.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use super::DiffscopeApp;
use super::elbo::ElboEvent;
use super::flow::FlowEvent;
use super::quality::QualityEvent;
use super::reverse::{
    BesidePaths, ChainView, EpsField, LearnedModel, LearnedOrigin, TrainingView, eps_grid, fraction_within,
};
use super::settings::{DenoiserKind, SamplerKind, Tab};
use crate::export::VIEW_EXTENT;
use crate::model::DataShape;
use crate::model::sample::Frame;
use crate::model::train::Evaluation;
use crate::scene::SceneData;
use crate::worker::model::{ModelCommand, ModelEvent, ModelSummary, TrainEnd};

/// Numbers the temporary files of trained models, unique within the process.
static TRAINED_FILES: AtomicU64 = AtomicU64::new(0);

impl DiffscopeApp {
    pub(super) fn job_id(&mut self) -> u64 {
        self.next_job += 1;
        self.next_job
    }

    /// Handles one event of the `model` worker.
    pub(super) fn on_model_event(&mut self, event: ModelEvent) {
        match event {
            ModelEvent::ModelReady(summary) => self.model_ready(summary),
            ModelEvent::Saved(path) => {
                let learning = &mut self.model.learning;
                if learning.saving_trained.as_ref() == Some(&path) {
                    learning.saving_trained = None;
                    if let Some(m) = &mut learning.learned
                        && m.origin == LearnedOrigin::Trained
                    {
                        m.summary.origin = "trained".into();
                    }
                    learning.trained_file = Some(path);
                } else {
                    self.model.status.info = Some(format!("saved the model to {}", path.display()));
                }
            }
            ModelEvent::TrainProgress {
                generation,
                iteration,
                total,
                loss,
                rate,
                paused,
            } => {
                if let Some(tr) = self.training_of(generation) {
                    tr.progress(iteration, total, loss, rate, paused);
                }
            }
            ModelEvent::Evaluated {
                generation,
                evaluation,
            } => self.evaluated(generation, evaluation),
            ModelEvent::TrainFinished { generation, end } => self.training_finished(generation, end),
            ModelEvent::SampleFrame {
                generation,
                frame,
                progress,
                nfe,
            } => self.chain_frame(generation, frame, progress, nfe),
            ModelEvent::Paths { generation, paths } => {
                if let Some(beside) = self.beside_of(generation) {
                    beside.paths = Some(paths);
                }
            }
            ModelEvent::SamplePaused { generation, paused } => {
                if let Some(chain) = &mut self.model.learning.chain
                    && chain.generation == generation
                {
                    chain.paused = paused;
                    chain.reset_rate();
                }
            }
            ModelEvent::EpsField { generation, eps, .. } => self.eps_field_arrived(generation, eps),
            ModelEvent::ElboProgress {
                generation,
                part,
                fraction,
            } => self.on_elbo_event(generation, ElboEvent::Progress { part, fraction }),
            ModelEvent::ElboDone {
                generation,
                part,
                report,
            } => self.on_elbo_event(generation, ElboEvent::Done { part, report }),
            ModelEvent::ElboStopped { generation } => self.on_elbo_event(generation, ElboEvent::Stopped),
            ModelEvent::FlowProgress { generation, fraction } => {
                self.on_flow_event(generation, FlowEvent::Progress(fraction));
            }
            ModelEvent::FlowDone { generation, outcome } => {
                self.on_flow_event(generation, FlowEvent::Done(outcome));
            }
            ModelEvent::FlowStopped { generation } => self.on_flow_event(generation, FlowEvent::Stopped),
            ModelEvent::QualityProgress { generation, fraction } => {
                self.on_quality_event(generation, QualityEvent::Progress(fraction));
            }
            ModelEvent::QualityDone { generation, chart } => {
                self.on_quality_event(generation, QualityEvent::Done(chart));
            }
            ModelEvent::QualityStopped { generation } => {
                self.on_quality_event(generation, QualityEvent::Stopped);
            }
            ModelEvent::Failed { generation, message } => self.route_failure(generation, message),
        }
    }

    /// An evaluation of training run `generation`: its curves, its samples.
    fn evaluated(&mut self, generation: u64, evaluation: Evaluation) {
        let Some(tr) = self.training_of(generation) else {
            return;
        };
        let x = evaluation.iteration as f64;
        if evaluation.validation_loss.is_finite() {
            tr.validation.push([x, evaluation.validation_loss]);
        }
        if let Some(m) = evaluation.metric.filter(|m| m.is_finite()) {
            tr.metric.push([x, m]);
        }
        tr.noise_floor = evaluation.noise_floor.or(tr.noise_floor);
        if !evaluation.samples.is_empty() {
            tr.samples = Some((evaluation.iteration, evaluation.samples));
        }
        if let Some((shape, values)) = &evaluation.images
            && let Some(grid) = super::reverse::image_row(values, *shape)
        {
            tr.images = Some((evaluation.iteration, grid));
        }
    }

    pub(super) fn training_of(&mut self, generation: u64) -> Option<&mut TrainingView> {
        self.model
            .learning
            .training
            .as_mut()
            .filter(|t| t.generation == generation)
    }

    pub(super) fn model_ready(&mut self, mut summary: ModelSummary) {
        let learning = &mut self.model.learning;
        let from_training = summary.origin == "trained" && learning.pending != Some(LearnedOrigin::Trained);
        let (origin, user) = if from_training {
            (LearnedOrigin::Trained, true)
        } else {
            let user = std::mem::take(&mut learning.pending_user);
            let origin = learning.pending.take().unwrap_or_else(|| {
                summary.origin.strip_prefix("shipped ").map_or_else(
                    || LearnedOrigin::File(PathBuf::from(&summary.origin)),
                    |n| LearnedOrigin::Shipped(n.to_owned()),
                )
            });
            (origin, user)
        };
        let path = match &origin {
            LearnedOrigin::File(p) => Some(p.clone()),
            LearnedOrigin::Trained if !from_training => learning.trained_file.clone(),
            LearnedOrigin::Trained => {
                // Kept in a temporary file, so that "Trained" can be chosen again later.
                let n = TRAINED_FILES.fetch_add(1, Ordering::Relaxed);
                let file = std::env::temp_dir().join(format!(
                    "diffscope-trained-{}-{n}.safetensors",
                    std::process::id()
                ));
                self.ml.send(ModelCommand::Save(file.clone()));
                learning.saving_trained = Some(file.clone());
                learning.temp_files.push(file.clone());
                Some(file)
            }
            LearnedOrigin::Shipped(_) => None,
        };
        if origin == LearnedOrigin::Trained {
            summary.origin = "trained".into();
        }
        learning.serial += 1;
        learning.guidance_history.clear();
        if user {
            if let LearnedOrigin::File(file) = &origin {
                self.settings.remember_opened(file);
            }
            self.settings.reverse.denoiser = DenoiserKind::Learned;
            self.model.status.info = Some(format!("model: {} — {}", summary.origin, summary.architecture));
        }
        // A flow-matching model samples with Euler or Heun, a diffusion model with the rest.
        let r = &mut self.settings.reverse;
        if r.denoiser == DenoiserKind::Learned && !r.sampler.fits(summary.objective) {
            r.sampler = SamplerKind::default_for(summary.objective);
        }
        let learning = &mut self.model.learning;
        learning.learned = Some(LearnedModel {
            summary,
            origin,
            path,
            serial: learning.serial,
        });
    }

    pub(super) fn training_finished(&mut self, generation: u64, end: TrainEnd) {
        let Some(tr) = self.training_of(generation) else {
            return;
        };
        tr.end = Some(end.clone());
        tr.paused = false; // a run cancelled while paused is over, not paused
        let iteration = tr.iteration;
        let previous = tr.previous.clone();
        match end {
            TrainEnd::Completed => {
                self.model.status.info = Some(format!("training finished: {iteration} iterations"));
            }
            TrainEnd::Cancelled => {
                self.model.status.info = Some(format!(
                    "training cancelled at iteration {iteration}; the model keeps what it learnt"
                ));
            }
            // The worker keeps the run's last good weights as the trained model (its
            // message says which iteration), or, if the run diverged before its first
            // snapshot, the model that was there before.
            TrainEnd::Diverged(message) => {
                let replaced = self.model.learning.learned.as_ref().map(|m| m.serial)
                    != previous.as_ref().map(|p| p.serial);
                self.model.status.error = Some(match &previous {
                    Some(p) if !replaced => {
                        format!("{message}; the previous model ({}) is kept", p.summary.origin)
                    }
                    _ => message,
                });
            }
        }
    }

    pub(super) fn model_failed(&mut self, generation: u64, message: String) {
        let learning = &mut self.model.learning;
        if let Some(chain) = &mut learning.chain
            && chain.generation == generation
        {
            chain.done = true;
            self.model.status.error = Some(format!("sampling failed: {message}"));
        } else if let Some(tr) = &mut learning.training
            && tr.generation == generation
        {
            tr.end = Some(TrainEnd::Diverged(message.clone()));
            tr.paused = false;
            self.model.status.error = Some(format!("training failed: {message}"));
        } else if let Some((_, key)) = learning.eps_requested.filter(|(g, _)| *g == generation) {
            learning.eps_requested = None;
            // The worker answers with the model it holds then: if that replaced the one
            // the field was asked of (a 2D model by a conv net), the failure is stale.
            let asked_of_current =
                key.ideal || learning.learned.as_ref().is_some_and(|m| m.serial == key.model);
            if asked_of_current {
                learning.eps_error = Some(message);
            }
        } else if generation == 0 {
            // A load's or a save's: the trained model's file write says its path first.
            let trained_save = learning
                .saving_trained
                .as_ref()
                .is_some_and(|p| message.starts_with(&p.display().to_string()));
            if trained_save {
                learning.saving_trained = None;
                self.model.status.error = Some(format!("cannot keep the trained model: {message}"));
            } else {
                learning.pending = None;
                learning.pending_user = false;
                self.model.status.error = Some(message);
            }
        }
    }

    /// A job's failure, to the view that asked for it (an estimate, the chart, the paths
    /// beside the chain), else the model's.
    fn route_failure(&mut self, generation: u64, message: String) {
        if self
            .model
            .elbo
            .running
            .as_ref()
            .is_some_and(|r| r.generation == generation)
        {
            self.on_elbo_event(generation, ElboEvent::Failed(message));
        } else if self
            .model
            .flow
            .running
            .as_ref()
            .is_some_and(|r| r.generation == generation)
        {
            self.on_flow_event(generation, FlowEvent::Failed(message));
        } else if self.model.quality.running.is_some_and(|r| r.0 == generation) {
            self.on_quality_event(generation, QualityEvent::Failed(message));
        } else if let Some(beside) = self.beside_of(generation) {
            beside.error = Some(message);
        } else {
            self.model_failed(generation, message);
        }
    }

    /// The ε field asked as job `generation`, if it still is.
    fn eps_field_arrived(&mut self, generation: u64, eps: Vec<f32>) {
        let learning = &mut self.model.learning;
        if let Some((g, key)) = learning.eps_requested
            && g == generation
        {
            learning.eps_requested = None;
            learning.eps_error = None;
            learning.eps = Some(EpsField {
                key,
                points: eps_grid(VIEW_EXTENT),
                eps,
            });
        }
    }

    /// The chain's beside paths asked as job `generation`.
    fn beside_of(&mut self, generation: u64) -> Option<&mut BesidePaths> {
        self.model
            .learning
            .chain
            .as_mut()
            .and_then(|c| c.beside.as_mut())
            .filter(|b| b.generation == generation)
    }

    pub(super) fn chain_frame(
        &mut self,
        generation: u64,
        frame: Frame,
        progress: (usize, usize),
        nfe: Option<usize>,
    ) {
        let steps = self.model.schedule.steps();
        let Some(chain) = &mut self.model.learning.chain else {
            return;
        };
        if chain.generation != generation {
            return;
        }
        // The view follows the chain while it runs, for a single step, and whenever it
        // shows the newest frame: frames the worker sent before it saw a Pause arrive after
        // the chain is marked paused, and the view stays on the newest (the one the
        // progress bar counts) rather than on the frame Pause found.
        let at_newest = chain
            .newest()
            .is_none_or(|newest| chain.shown(self.settings.t).map(|f| f.t) == Some(newest.t));
        // Only on the Reverse tab: elsewhere `t` is the user's (a chain left running moved
        // the Forward tab's `t` back under the slider with every frame it sent).
        let follow = self.settings.tab == Tab::Reverse && (chain.running() || chain.follow_next || at_newest);
        chain.follow_next = false;
        chain.progress = progress;
        chain.nfe = nfe;
        let t = frame.t;
        chain.push(frame);
        if chain.running() {
            chain.record_arrival(std::time::Instant::now());
        }
        if t == 0 || progress.0 >= progress.1 {
            chain.done = true;
            if let (DataShape::Points, SceneData::Points(data), Some(last)) =
                (chain.shape, &self.model.scene.data, chain.newest())
            {
                let samples = ChainView::points(&last.x);
                chain.near_fraction = Some(fraction_within(&samples, data, super::reverse::NEAR_RADIUS));
            }
        }
        if follow {
            self.settings.t = t.min(steps);
        }
        self.guidance_readout();
    }
}
