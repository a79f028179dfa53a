//! The reverse chain: which sampler and denoiser, starting, pausing and stepping it, the
//! views that follow it (image textures, the ε field), and `--sample`.

use egui::TextureOptions;

use super::DiffscopeApp;
use super::error::AppError;
use super::events::upload;
use super::reverse::{BesidePaths, ChainView, EpsKey, GUIDANCE_HISTORY, PathsOrigin, eps_grid, image_grid};
use super::settings::{Beside, Canvas, DenoiserKind, SamplerKind, Tab};
use crate::data::Dataset;
use crate::export::VIEW_EXTENT;
use crate::model::classes::ClassChoice;
use crate::model::sample::Sampler;
use crate::model::{DataShape, Objective, shipped};
use crate::scene::guidance::{LabelledData, class_name, measure};
use crate::scene::prepare::{ideal_data, sdedit_start};
use crate::scene::{SceneData, SourceChoice};
use crate::worker::model::{ChainStart, ClassGuidance, DenoiserChoice, ModelCommand, PathsJob, SampleJob};

/// How a chain's header names its guidance: `guided to 7, w = 2` (the class by its name
/// for the model's data: a digit, a moon, a mode's angle).
fn describe_guidance(g: ClassGuidance, dataset: &str) -> String {
    let class = match g.class {
        ClassChoice::Any => "any class".to_owned(),
        ClassChoice::Class(c) => class_name(dataset, c),
    };
    format!("guided to {class}, w = {}", g.weight)
}

/// A chain's description with its guidance part replaced by `g` (the weight changed live).
fn guided_description(description: &str, g: ClassGuidance, dataset: &str) -> String {
    let base = description
        .rsplit_once(" · guided to ")
        .map_or(description, |(b, _)| b);
    format!("{base} · {}", describe_guidance(g, dataset))
}

impl DiffscopeApp {
    /// The sampler the settings describe, for a chain of `steps` steps.
    pub(super) fn sampler(&self, steps: usize) -> Sampler {
        let r = &self.settings.reverse;
        r.sampler
            .sampler(r.ddim_steps.clamp(1, steps), r.ddim_eta.clamp(0.0, 1.0))
    }

    /// The denoiser the settings choose: (choice, sample shape, `T`, label).
    pub(super) fn denoiser_choice(&self) -> Result<(DenoiserChoice, DataShape, usize, String), AppError> {
        if self.settings.reverse.denoiser == DenoiserKind::Ideal {
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
            let m = self
                .model
                .learning
                .learned
                .as_ref()
                .ok_or(AppError::NoLearnedModel)?;
            // A single-image model samples the canvas of the settings (SDEdit: the photo).
            let shape = match (m.summary.photo, m.summary.shape) {
                (Some(photo), DataShape::Image { channels, .. }) => {
                    let canvas = if self.settings.reverse.sdedit {
                        Canvas::Photo
                    } else {
                        self.settings.reverse.canvas
                    };
                    let (height, width) = canvas.size(photo);
                    DataShape::Image {
                        channels,
                        height,
                        width,
                    }
                }
                (_, shape) => shape,
            };
            Ok((
                DenoiserChoice::Learned,
                shape,
                m.summary.schedule.steps,
                format!("model: {}", m.summary.origin),
            ))
        }
    }

    /// Why a chain cannot start now, if it cannot: the worker is training, or a model is on
    /// its way to the worker (not the one the window would describe to it — its shape, its
    /// canvas, SDEdit's start).
    fn chain_blocked(&self) -> Option<&'static str> {
        if self.model.learning.training_running() {
            Some("training is running: cancel it to sample (the worker does one job at a time)")
        } else if self.settings.reverse.denoiser == DenoiserKind::Learned
            && self.model.learning.pending.is_some()
        {
            Some("a model is loading: sample once it is in")
        } else {
            None
        }
    }

    /// How many samples a chain of `shape` draws with `denoiser`, and the canvas a
    /// single-image model is asked for.
    fn chain_size(&self, denoiser: &DenoiserChoice, shape: DataShape) -> (usize, Option<(usize, usize)>) {
        let r = &self.settings.reverse;
        let photo_model = matches!(denoiser, DenoiserChoice::Learned)
            && self
                .model
                .learning
                .learned
                .as_ref()
                .is_some_and(|m| m.summary.photo.is_some());
        match shape {
            DataShape::Points => (r.n_points, None),
            DataShape::Image { height, width, .. } if photo_model => (r.n_photos, Some((height, width))),
            DataShape::Image { .. } => (r.n_images, None),
        }
    }

    /// Starts a chain from the settings (running).
    pub(super) fn sample(&mut self) {
        self.start_chain(false);
    }

    /// Starts a chain from the settings, running or paused at its first frame; returns
    /// whether it started (else the status says why).
    pub(super) fn start_chain(&mut self, paused: bool) -> bool {
        if let Some(why) = self.chain_blocked() {
            self.model.status.error = Some(why.into());
            return false;
        }
        let (denoiser, shape, steps, label) = match self.denoiser_choice() {
            Ok(x) => x,
            Err(e) => {
                self.model.status.error = Some(e.to_string());
                return false;
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
        let (n, canvas) = self.chain_size(&denoiser, shape);
        let r = &self.settings.reverse;
        let sdedit =
            r.sdedit && shape != DataShape::Points && matches!(self.model.scene.data, SceneData::Image(_));
        let start = if sdedit {
            match sdedit_start(&self.model.scene, shape, n) {
                Ok(x0) => ChainStart::Data {
                    x0,
                    t: r.sdedit_t.clamp(1, steps),
                },
                Err(e) => {
                    self.model.status.error = Some(e.to_string());
                    return false;
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
            self.model.status.error = Some(format!(
                "{}; untick it to sample, or start SDEdit below T",
                crate::model::sample::ZERO_TERMINAL_SNR
            ));
            return false;
        }
        let rate = (!r.max_speed).then_some(f64::from(r.steps_per_s));
        let seed = r.seed;
        let generation = self.job_id();
        let ideal = matches!(denoiser, DenoiserChoice::Ideal { .. });
        let guidance = self.class_guidance();
        // `--pause-at` stops the window's first chain only.
        let pause_at = self.pause_at.take();
        let origin = (shape == DataShape::Points && matches!(start, ChainStart::Noise { .. }))
            .then(|| PathsOrigin::new(&denoiser, seed, guidance, n, self.learned_objective()));
        self.ml.send(ModelCommand::Sample(Box::new(SampleJob {
            generation,
            denoiser,
            sampler,
            start,
            seed,
            rate,
            paused,
            pause_at,
            guidance,
            canvas,
            panic_at_step: self.model.learning.faults.sample_panic_at_step,
        })));
        let description = format!(
            "{}{} · {label}{}",
            sampler.describe(),
            if sdedit { " · SDEdit" } else { "" },
            guidance.map_or_else(String::new, |g| format!(
                " · {}",
                describe_guidance(g, &self.learned_dataset())
            ))
        );
        let learning = &mut self.model.learning;
        let mut chain = ChainView::new(generation, shape, description, ideal, steps);
        chain.paused = paused;
        chain.pauses_itself = pause_at.is_some();
        chain.sampler = Some(sampler.kind());
        chain.origin = origin;
        chain.guided = guidance.and_then(|g| {
            let classes = learning.learned.as_ref()?.summary.classes;
            Some((g, g.class.labels(classes, n, seed).ok()?))
        });
        learning.chain = Some(chain);
        learning.texture_key = None;
        self.model.playing = false;
        true
    }

    pub(super) fn pause_chain(&mut self, paused: bool) {
        if let Some(chain) = &mut self.model.learning.chain
            && !chain.done
        {
            chain.paused = paused;
            chain.reset_rate();
            self.ml.send(if paused {
                ModelCommand::Pause
            } else {
                ModelCommand::Resume
            });
        }
    }

    /// One step of the chain; with no chain, or a finished one, a new chain starts paused
    /// at `x_T` and takes its first step (the lecture steps from noise).
    pub(super) fn step_chain(&mut self) {
        let live = self.model.learning.chain.as_ref().is_some_and(|c| !c.done);
        if !live && !self.start_chain(true) {
            return;
        }
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

    /// The guidance a chain of the learned model runs with: the Reverse tab's class and
    /// `w` for a class-conditional model, none for an unconditional one (or the ideal
    /// denoiser).
    pub(super) fn class_guidance(&self) -> Option<ClassGuidance> {
        let r = &self.settings.reverse;
        let classes = self
            .model
            .learning
            .learned
            .as_ref()
            .map_or(0, |m| m.summary.classes);
        (r.denoiser == DenoiserKind::Learned && classes > 0).then_some(ClassGuidance {
            class: r.class.within(classes),
            weight: r.guidance,
        })
    }

    /// At the end of a guided chain: what its samples show (confidence, as asked,
    /// diversity), added to the history the Reverse tab shows.
    pub(super) fn guidance_readout(&mut self) {
        let learning = &mut self.model.learning;
        let Some(chain) = learning.chain.as_mut().filter(|c| c.done) else {
            return;
        };
        if chain.readout.is_some() {
            return;
        }
        let Some((g, labels)) = chain.guided.clone() else {
            return;
        };
        let Some(last) = chain.newest() else {
            return;
        };
        let Some(model) = &learning.learned else {
            return;
        };
        let dataset = &model.summary.dataset;
        if learning.reference.as_ref().is_none_or(|(d, _)| d != dataset) {
            learning.reference = Some((dataset.clone(), LabelledData::of(dataset)));
        }
        let Some((_, Some(reference))) = &learning.reference else {
            return;
        };
        if let Some(readout) = measure(reference, &last.x, &labels, g.class, g.weight) {
            chain.readout = Some(readout);
            let history = &mut learning.guidance_history;
            history.push(readout);
            let excess = history.len().saturating_sub(GUIDANCE_HISTORY);
            history.drain(..excess);
        }
    }

    /// The data set the learned model was trained on (its file's `dataset`).
    fn learned_dataset(&self) -> String {
        self.model
            .learning
            .learned
            .as_ref()
            .map(|m| m.summary.dataset.clone())
            .unwrap_or_default()
    }

    /// The guidance of the ε field: one class's guided field; with "any" class, the
    /// model's unconditional field (there is no one class to guide towards).
    fn eps_guidance(&self) -> Option<ClassGuidance> {
        self.class_guidance()
            .filter(|g| matches!(g.class, ClassChoice::Class(_)))
    }

    /// Sends a new speed (or guidance weight) to a chain when those settings change;
    /// restarts a live chain (paused if it was) when the sampler or the class changes, so
    /// that what runs is what the controls and the header name.
    pub(super) fn reverse_settings_changed(&mut self, before: &super::Settings) {
        let (now, was) = (&self.settings.reverse, &before.reverse);
        let dataset = self.learned_dataset();
        if now.guidance.to_bits() != was.guidance.to_bits()
            && let Some(g) = self.class_guidance()
            && let Some(chain) = self.model.learning.chain.as_mut().filter(|c| !c.done)
        {
            chain.description = guided_description(&chain.description, g, &dataset);
            if let Some((guided, _)) = &mut chain.guided {
                guided.weight = g.weight;
            }
            self.ml.send(ModelCommand::SetGuidance(g.weight));
        }
        // Unless something else was chosen, DDPM's chain is shown beside the ODE's, and the
        // diffusion model's ODE beside flow matching's.
        let r = &mut self.settings.reverse;
        if r.sampler != before.reverse.sampler && r.beside == Beside::Off {
            match r.sampler {
                SamplerKind::ProbabilityFlow => r.beside = Beside::Ddpm,
                SamplerKind::FlowEuler | SamplerKind::FlowHeun => r.beside = Beside::ProbabilityFlow,
                _ => {}
            }
        }
        let (now, was) = (&self.settings.reverse, &before.reverse);
        let class_changed = now.class != was.class;
        let sampler_changed = now.sampler != was.sampler
            || class_changed
            || (now.sampler.strided()
                && (now.ddim_steps != was.ddim_steps || (now.ddim_eta - was.ddim_eta).abs() > f64::EPSILON));
        let live = self.model.learning.chain.as_ref().filter(|c| !c.done);
        if sampler_changed && let Some(chain) = live {
            let paused = chain.paused;
            if self.start_chain(paused) {
                let description = self
                    .model
                    .learning
                    .chain
                    .as_ref()
                    .map(|c| c.description.clone())
                    .unwrap_or_default();
                self.model.status.info = Some(format!(
                    "the {} changed: the chain restarted{} with {description}",
                    if class_changed { "class" } else { "sampler" },
                    if paused { " (paused)" } else { "" }
                ));
            }
            return;
        }
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
        self.request_beside_paths();
        let learning = &mut self.model.learning;
        if let Some(tr) = &learning.training
            && let Some((iteration, grid)) = &tr.images
            && learning.training_texture.as_ref().map(|(k, _)| *k) != Some((tr.generation, *iteration))
        {
            let mut slot = None;
            upload(ctx, &mut slot, "training-samples", grid, TextureOptions::NEAREST);
            learning.training_texture = slot.map(|t| ((tr.generation, *iteration), t));
        }
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

    pub(super) fn request_eps_field(&mut self) {
        let ideal = self.settings.reverse.denoiser == DenoiserKind::Ideal;
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
            guidance: if ideal {
                None
            } else {
                self.eps_guidance().and_then(|g| match g.class {
                    ClassChoice::Class(c) => Some((c, g.weight.to_bits())),
                    ClassChoice::Any => None,
                })
            },
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
            points: eps_grid(VIEW_EXTENT),
            guidance: if ideal { None } else { self.eps_guidance() },
        });
        self.model.learning.eps_requested = Some((generation, key));
    }

    /// The learned model's objective (`None` without one).
    fn learned_objective(&self) -> Option<Objective> {
        self.model.learning.learned.as_ref().map(|m| m.summary.objective)
    }

    /// Asks for the paths the settings want beside the chain's (2D chains from noise), when
    /// the chain or the choice changed; forgets them when none are wanted.
    pub(super) fn request_beside_paths(&mut self) {
        let wanted = self.settings.reverse.beside.sampler();
        let Some(chain) = self.model.learning.chain.as_mut() else {
            return;
        };
        let wanted = wanted.filter(|s| chain.origin.is_some() && chain.sampler != Some(s.kind()));
        if chain.beside.as_ref().map(|b| b.sampler) == wanted {
            return;
        }
        let (Some(sampler), Some(origin)) = (wanted, chain.origin.clone()) else {
            chain.beside = None;
            return;
        };
        let generation = self.job_id();
        // A sampler of the other objective runs that objective's shipped model of the data.
        let other = origin.objective.filter(|o| !sampler.kind().fits(*o)).map(|_| {
            let objective = sampler.kind().objective();
            match &self.model.scene.source {
                SourceChoice::Dataset(name) => name
                    .parse::<Dataset>()
                    .ok()
                    .map(|d| shipped::name_for(d, objective))
                    .filter(|n| shipped::names().any(|m| m == n))
                    .ok_or_else(|| format!("no shipped {objective} model of {name}")),
                _ => Err(format!(
                    "a {objective} model is shipped for the built-in 2D sets only"
                )),
            }
        });
        let error = other.as_ref().and_then(|o| o.as_ref().err().cloned());
        if error.is_none() {
            self.ml.send(ModelCommand::Paths(Box::new(PathsJob {
                generation,
                denoiser: origin.denoiser,
                sampler,
                n: origin.n,
                seed: origin.seed,
                guidance: origin.guidance.filter(|_| other.is_none()),
                shipped: other.and_then(Result::ok),
            })));
        }
        if let Some(chain) = self.model.learning.chain.as_mut() {
            chain.beside = Some(BesidePaths {
                sampler,
                generation,
                paths: None,
                error,
            });
        }
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
            // `--train` on the VAE → VDM tab trains its model; elsewhere, the denoiser.
            self.commands.push(if self.settings.tab == Tab::Vae {
                super::Command::Latent(super::latent::LatentAction::TrainFromScratch)
            } else {
                super::Command::Train
            });
            return;
        }
        if !self.model.learning.learned_fits(&self.model.scene) {
            self.settings.reverse.denoiser = DenoiserKind::Ideal;
        }
        self.commands.push(super::Command::Sample);
    }

    /// Whether a `--screenshot` may be taken as far as the chain is concerned.
    pub(super) fn chain_settled_for_screenshot(&self) -> bool {
        if !self.wait_for_chain {
            return true;
        }
        let learning = &self.model.learning;
        // A chain that pauses itself (`--pause-at`) is settled once it has.
        let Some(chain) = learning
            .chain
            .as_ref()
            .filter(|c| c.done || (c.pauses_itself && c.paused))
        else {
            return false;
        };
        chain.shape != DataShape::Points
            || self.settings.tab != Tab::Reverse
            || (learning.eps.is_some()
                && learning.eps_requested.is_none()
                && chain
                    .beside
                    .as_ref()
                    .is_none_or(|b| b.paths.is_some() || b.error.is_some()))
    }
}
