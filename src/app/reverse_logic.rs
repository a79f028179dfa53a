//! The app's side of the `model` worker: the commands of the Model, Training and Reverse
//! controls, and the events that come back (drained in `logic`, never waited for).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use egui::TextureOptions;

use super::elbo::ElboEvent;
use super::reverse::{
    ChainView, EpsField, EpsKey, LearnedModel, LearnedOrigin, TrainingView, eps_grid, fraction_within,
    ideal_data, image_grid, sdedit_start, shipped_name, train_set,
};
use super::scene::SceneData;
use super::settings::{DenoiserSetting, SamplerKind, Tab};
use super::{DiffscopeApp, upload};
use crate::diffusion::ReverseVariance;
use crate::model::DataShape;
use crate::model::sample::{Frame, Sampler};
use crate::model::train::TrainSettings;
use crate::worker::model::{
    ChainStart, DenoiserChoice, ModelCommand, ModelEvent, ModelSummary, SampleJob, TrainEnd, TrainJob,
};

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
            } => {
                if let Some(tr) = self.training_of(generation) {
                    let x = evaluation.iteration as f64;
                    if evaluation.validation_loss.is_finite() {
                        tr.validation.push([x, evaluation.validation_loss]);
                    }
                    if let Some(m) = evaluation.metric.filter(|m| m.is_finite()) {
                        tr.metric.push([x, m]);
                    }
                    tr.noise_floor = evaluation.noise_floor.or(tr.noise_floor);
                }
            }
            ModelEvent::TrainFinished { generation, end } => self.training_finished(generation, end),
            ModelEvent::SampleFrame {
                generation,
                frame,
                progress,
            } => self.chain_frame(generation, frame, progress),
            ModelEvent::SamplePaused { generation, paused } => {
                if let Some(chain) = &mut self.model.learning.chain
                    && chain.generation == generation
                {
                    chain.paused = paused;
                }
            }
            ModelEvent::EpsField { generation, eps, .. } => {
                let learning = &mut self.model.learning;
                if let Some((g, key)) = learning.eps_requested
                    && g == generation
                {
                    learning.eps_requested = None;
                    learning.eps_error = None;
                    learning.eps = Some(EpsField {
                        key,
                        points: eps_grid(crate::ui::forward_tab::EXTENT),
                        eps,
                    });
                }
            }
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
            ModelEvent::Failed { generation, message } => {
                if self
                    .model
                    .elbo
                    .running
                    .as_ref()
                    .is_some_and(|r| r.generation == generation)
                {
                    self.on_elbo_event(generation, ElboEvent::Failed(message));
                } else {
                    self.model_failed(generation, message);
                }
            }
        }
    }

    fn training_of(&mut self, generation: u64) -> Option<&mut TrainingView> {
        self.model
            .learning
            .training
            .as_mut()
            .filter(|t| t.generation == generation)
    }

    fn model_ready(&mut self, mut summary: ModelSummary) {
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
        if user {
            self.settings.reverse.denoiser = DenoiserSetting::Learned;
            self.model.status.info = Some(format!("model: {} — {}", summary.origin, summary.architecture));
        }
        learning.learned = Some(LearnedModel {
            summary,
            origin,
            path,
            serial: learning.serial,
        });
    }

    fn training_finished(&mut self, generation: u64, end: TrainEnd) {
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

    fn model_failed(&mut self, generation: u64, message: String) {
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

    fn chain_frame(&mut self, generation: u64, frame: Frame, progress: (usize, usize)) {
        let steps = self.model.schedule.steps();
        let Some(chain) = &mut self.model.learning.chain else {
            return;
        };
        if chain.generation != generation {
            return;
        }
        let follow = chain.running() || chain.follow_next;
        chain.follow_next = false;
        chain.progress = progress;
        let t = frame.t;
        chain.push(frame);
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
    }

    /// Loads the shipped weights of the data on screen, if there are any (`user`: the
    /// user asked, so say so if there are none, and switch to the learned model).
    pub(super) fn use_shipped_if_any(&mut self, user: bool) {
        let learning = &mut self.model.learning;
        match shipped_name(&self.model.scene) {
            Some(name) => {
                let held = learning
                    .learned
                    .as_ref()
                    .is_some_and(|m| m.origin == LearnedOrigin::Shipped(name.clone()));
                if held && !user {
                    return;
                }
                if held {
                    self.settings.reverse.denoiser = DenoiserSetting::Learned;
                    return;
                }
                self.ml.send(ModelCommand::UseShipped(name.clone()));
                learning.pending = Some(LearnedOrigin::Shipped(name));
                learning.pending_user = user;
            }
            None if user => {
                let names: Vec<&str> = crate::model::shipped::names().collect();
                self.model.status.error = Some(format!(
                    "no shipped weights for {} (shipped: {}); train a model, load a file, or use the ideal denoiser",
                    self.model.scene.name,
                    if names.is_empty() {
                        "none yet".to_owned()
                    } else {
                        names.join(", ")
                    }
                ));
            }
            None => {}
        }
    }

    pub(super) fn use_trained(&mut self) {
        let learning = &mut self.model.learning;
        if learning
            .learned
            .as_ref()
            .is_some_and(|m| m.origin == LearnedOrigin::Trained)
        {
            self.settings.reverse.denoiser = DenoiserSetting::Learned;
            return;
        }
        match learning.trained_file.clone() {
            Some(path) => {
                self.ml.send(ModelCommand::Load(path));
                learning.pending = Some(LearnedOrigin::Trained);
                learning.pending_user = true;
            }
            None => self.model.status.error = Some("no model trained yet: press Train first".into()),
        }
    }

    pub(super) fn load_model(&mut self, path: PathBuf) {
        self.ml.send(ModelCommand::Load(path.clone()));
        self.model.learning.pending = Some(LearnedOrigin::File(path));
        self.model.learning.pending_user = true;
    }

    pub(super) fn save_model(&mut self, mut path: PathBuf) {
        if self.model.learning.learned.is_none() {
            self.model.status.error = Some("there is no learned model to save yet".into());
            return;
        }
        if path.extension().is_none() {
            path.set_extension("safetensors");
        }
        self.ml.send(ModelCommand::Save(path));
    }

    pub(super) fn train(&mut self) {
        if self
            .model
            .learning
            .training
            .as_ref()
            .is_some_and(TrainingView::running)
        {
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
        if self
            .model
            .learning
            .training
            .as_ref()
            .is_some_and(TrainingView::running)
        {
            self.ml.send(ModelCommand::Cancel);
        }
    }

    /// The sampler the settings describe, for a chain of `steps` steps.
    fn sampler(&self, steps: usize) -> Sampler {
        let r = &self.settings.reverse;
        match r.sampler {
            SamplerKind::DdpmBeta => Sampler::Ddpm(ReverseVariance::Beta),
            SamplerKind::DdpmPosterior => Sampler::Ddpm(ReverseVariance::PosteriorVariance),
            SamplerKind::Ddim => Sampler::Ddim {
                steps: r.ddim_steps.clamp(1, steps),
                eta: r.ddim_eta.clamp(0.0, 1.0),
            },
        }
    }

    /// The denoiser the settings choose: (choice, sample shape, `T`, label).
    fn denoiser_choice(&self) -> Result<(DenoiserChoice, DataShape, usize, String), String> {
        if self.settings.reverse.denoiser == DenoiserSetting::Ideal {
            let (data, shape) = ideal_data(&self.model.scene)?;
            let n = data.len() / shape.dim().max(1);
            let spec = self.model.schedule.spec().clone();
            let steps = spec.steps;
            Ok((
                DenoiserChoice::Ideal {
                    data,
                    dim: shape.dim(),
                    schedule: spec,
                },
                shape,
                steps,
                format!(
                    "ideal denoiser of {} ({n} example{})",
                    self.model.scene.name,
                    if n == 1 { "" } else { "s" }
                ),
            ))
        } else {
            let m = self.model.learning.learned.as_ref().ok_or(
                "no learned model yet: load weights (Model → Load…), train one, or choose the ideal denoiser",
            )?;
            Ok((
                DenoiserChoice::Learned,
                m.summary.shape,
                m.summary.schedule.steps,
                format!("model: {}", m.summary.origin),
            ))
        }
    }

    pub(super) fn sample(&mut self) {
        if self
            .model
            .learning
            .training
            .as_ref()
            .is_some_and(TrainingView::running)
        {
            self.model.status.error =
                Some("training is running: cancel it to sample (the worker does one job at a time)".into());
            return;
        }
        let (denoiser, shape, steps, label) = match self.denoiser_choice() {
            Ok(x) => x,
            Err(e) => {
                self.model.status.error = Some(e);
                return;
            }
        };
        let zero_terminal_snr = match &denoiser {
            DenoiserChoice::Ideal { schedule, .. } => schedule.zero_terminal_snr,
            DenoiserChoice::Learned => self
                .model
                .learning
                .learned
                .as_ref()
                .is_some_and(|m| m.summary.schedule.zero_terminal_snr),
        };
        let sampler = self.sampler(steps);
        let r = &self.settings.reverse;
        let n = if shape == DataShape::Points {
            r.n_points
        } else {
            r.n_images
        };
        let sdedit =
            r.sdedit && shape != DataShape::Points && matches!(self.model.scene.data, SceneData::Image(_));
        let start = if sdedit {
            match sdedit_start(&self.model.scene, shape, n) {
                Ok(x0) => ChainStart::Data {
                    x0,
                    t: r.sdedit_t.clamp(1, steps),
                },
                Err(e) => {
                    self.model.status.error = Some(e);
                    return;
                }
            }
        } else {
            ChainStart::Noise { n }
        };
        let from = match start {
            ChainStart::Noise { .. } => steps,
            ChainStart::Data { t, .. } => t,
        };
        if zero_terminal_snr && from >= steps {
            self.model.status.error = Some(
                "zero terminal SNR: ᾱ_T = 0, so a step from x_T needs x̂_0 = (x_T − ε̂)/√ᾱ_T, which an \
                 ε-predicting denoiser cannot give (Lin et al. 2024 §3.2); untick it to sample, or \
                 start SDEdit below T"
                    .into(),
            );
            return;
        }
        let rate = (!r.max_speed).then_some(f64::from(r.steps_per_s));
        let seed = r.seed;
        let generation = self.job_id();
        let ideal = matches!(denoiser, DenoiserChoice::Ideal { .. });
        self.ml.send(ModelCommand::Sample(Box::new(SampleJob {
            generation,
            denoiser,
            sampler,
            start,
            seed,
            rate,
            paused: false,
            panic_at_step: self.model.learning.faults.sample_panic_at_step,
        })));
        let description = format!(
            "{}{} · {label}",
            sampler.describe(),
            if sdedit { " · SDEdit" } else { "" }
        );
        let learning = &mut self.model.learning;
        learning.chain = Some(ChainView::new(generation, shape, description, ideal, steps));
        learning.texture_key = None;
        self.model.playing = false;
    }

    pub(super) fn pause_chain(&mut self, paused: bool) {
        if let Some(chain) = &mut self.model.learning.chain
            && !chain.done
        {
            chain.paused = paused;
            self.ml.send(if paused {
                ModelCommand::Pause
            } else {
                ModelCommand::Resume
            });
        }
    }

    pub(super) fn step_chain(&mut self) {
        if let Some(chain) = &mut self.model.learning.chain
            && !chain.done
        {
            chain.paused = true;
            chain.follow_next = true;
            self.ml.send(ModelCommand::Step);
        }
    }

    /// Space in the Reverse tab: pause, resume, or start a chain.
    pub(super) fn toggle_chain(&mut self) {
        match &self.model.learning.chain {
            Some(chain) if chain.running() => self.pause_chain(true),
            Some(chain) if !chain.done => self.pause_chain(false),
            _ => self.sample(),
        }
    }

    /// ← → in the Reverse tab: at the newest frame of a paused chain, ← computes the next
    /// step; otherwise the keys move through the stored frames.
    pub(super) fn step_reverse(&mut self, delta: i64) {
        let Some(chain) = &self.model.learning.chain else {
            return;
        };
        let at_newest = chain.shown(self.settings.t).map(|f| f.t) == chain.newest().map(|f| f.t);
        if chain.running() {
            self.pause_chain(true);
        } else if delta < 0 && !chain.done && at_newest {
            for _ in 0..delta.unsigned_abs().min(100) {
                self.step_chain();
            }
            return;
        }
        let Some(chain) = &self.model.learning.chain else {
            return;
        };
        if let Some(t) = chain.neighbour(self.settings.t, delta) {
            self.settings.t = t.min(self.model.schedule.steps());
        }
    }

    /// Sends a new speed to a chain when the speed settings change.
    pub(super) fn reverse_settings_changed(&mut self, before: &super::Settings) {
        let (now, was) = (&self.settings.reverse, &before.reverse);
        if (now.steps_per_s - was.steps_per_s).abs() > f32::EPSILON || now.max_speed != was.max_speed {
            let rate = (!now.max_speed).then_some(f64::from(now.steps_per_s));
            if self.model.learning.chain.as_ref().is_some_and(|c| !c.done) {
                self.ml.send(ModelCommand::SetRate(rate));
            }
        }
    }

    /// Keeps the Reverse tab's derived views current: asks for the ε field of the shown
    /// step (2D), and uploads the image grids of the shown frame.
    pub(super) fn reverse_views(&mut self, ctx: &egui::Context) {
        if self.settings.tab != Tab::Reverse {
            return;
        }
        self.request_eps_field();
        let learning = &mut self.model.learning;
        let Some(chain) = &learning.chain else {
            return;
        };
        if chain.shape == DataShape::Points {
            return;
        }
        let Some(frame) = chain.shown(self.settings.t) else {
            return;
        };
        let key = (chain.generation, frame.t);
        if learning.texture_key == Some(key) {
            return;
        }
        learning.texture_key = Some(key);
        if let (Some(x), Some(x0)) = (
            image_grid(&frame.x, chain.shape),
            image_grid(&frame.x0_hat, chain.shape),
        ) {
            upload(
                ctx,
                &mut learning.textures.0,
                "reverse-xt",
                &x,
                TextureOptions::NEAREST,
            );
            upload(
                ctx,
                &mut learning.textures.1,
                "reverse-x0",
                &x0,
                TextureOptions::NEAREST,
            );
        }
    }

    fn request_eps_field(&mut self) {
        let ideal = self.settings.reverse.denoiser == DenoiserSetting::Ideal;
        let learning = &self.model.learning;
        if learning.eps_requested.is_some()
            || learning.denoiser_shape(ideal, &self.model.scene) != Some(DataShape::Points)
        {
            return;
        }
        let t = learning
            .chain
            .as_ref()
            .and_then(|c| c.shown(self.settings.t))
            .map_or(self.settings.t, |f| f.t)
            .max(1);
        let key = EpsKey {
            ideal,
            model: if ideal {
                0
            } else {
                learning.learned.as_ref().map_or(0, |m| m.serial)
            },
            data: self.model.image.generation,
            t,
        };
        if learning.eps.as_ref().is_some_and(|e| e.key == key) {
            return;
        }
        let denoiser = if ideal {
            match ideal_data(&self.model.scene) {
                Ok((data, shape)) => DenoiserChoice::Ideal {
                    data,
                    dim: shape.dim(),
                    schedule: self.model.schedule.spec().clone(),
                },
                Err(_) => return,
            }
        } else {
            DenoiserChoice::Learned
        };
        let generation = self.job_id();
        self.ml.send(ModelCommand::EpsField {
            generation,
            denoiser,
            t,
            points: eps_grid(crate::ui::forward_tab::EXTENT),
        });
        self.model.learning.eps_requested = Some((generation, key));
    }

    /// `--sample`: starts the chain once the window is up and any start-up model load
    /// has been answered (with the ideal denoiser if no learned model fits the data);
    /// `--train`: starts training on the data on screen.
    pub(super) fn auto_sample_step(&mut self) {
        let Some(start) = self.auto_start else { return };
        if self.frames_drawn < 5 || self.loader.is_some() || self.model.learning.pending.is_some() {
            return;
        }
        self.auto_start = None;
        if start == super::AutoStart::Train {
            self.commands.push(super::Command::Train);
            return;
        }
        let fits = self.model.learning.learned.as_ref().map(|m| m.summary.shape)
            == super::reverse::ideal_shape(&self.model.scene);
        if !fits {
            self.settings.reverse.denoiser = DenoiserSetting::Ideal;
        }
        self.commands.push(super::Command::Sample);
    }

    /// Whether a `--screenshot` may be taken as far as the chain is concerned.
    pub(super) fn chain_settled_for_screenshot(&self) -> bool {
        if !self.wait_for_chain {
            return true;
        }
        let learning = &self.model.learning;
        let Some(chain) = learning.chain.as_ref().filter(|c| c.done) else {
            return false;
        };
        chain.shape != DataShape::Points
            || self.settings.tab != Tab::Reverse
            || (learning.eps.is_some() && learning.eps_requested.is_none())
    }
}

impl Drop for DiffscopeApp {
    fn drop(&mut self) {
        for file in &self.model.learning.temp_files {
            let _ = std::fs::remove_file(file);
        }
    }
}
