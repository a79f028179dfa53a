//! The VAE → VDM tab's state: which model the tab shows (a VAE, or a Markovian
//! hierarchical VAE with its three switches towards a VDM), the `latent-model` thread that
//! trains it and computes its pictures, the training curve, and the weights files.
//!
//! The tab shows the model of the *form* its settings ask for ([`LatentForm`]): when the
//! form changes (a switch, `T`, the data set, the schedule under fixed encoders) the tab
//! takes the shipped weights of that form if there are some, and otherwise trains the new
//! form live — from the current decoders when only the encoders changed, so that the
//! class watches the same decoders adapt. "Train from scratch" always starts fresh.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::DiffscopeApp;
use super::settings::Tab;
use crate::data::Dataset;
use crate::diffusion::{Schedule, ScheduleSpec};
use crate::model::ModelError;
use crate::model::mhvae::{Encoders, Mhvae, MhvaeConfig, level_times};
use crate::model::vae::{self, LatentCheckpoint, LatentModel, Vae, VaeConfig, VaeTrainSettings};
use crate::worker::latent::{CurvePoint, LatentCommand, LatentEvent, LatentSnapshot, LatentWorker};

/// Examples the tab trains on and draws (one draw of the data set, seed [`DATA_SEED`]).
pub const EXAMPLES: usize = 1000;
/// Seed of the tab's examples.
pub const DATA_SEED: u64 = 0;
/// The levels `T` the window offers.
pub const LEVELS: std::ops::RangeInclusive<usize> = 2..=8;
/// The β values the slider offers.
pub const BETAS: std::ops::RangeInclusive<f64> = 0.0..=8.0;

/// Which model the tab shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LatentMode {
    /// A VAE with a 2D latent.
    #[default]
    Vae,
    /// A Markovian hierarchical VAE with `T` levels of 2D latents.
    Hierarchical,
}

impl LatentMode {
    /// The name in decks (`latent = "vae"`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Vae => "vae",
            Self::Hierarchical => "mhvae",
        }
    }

    /// The mode called `name`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Vae, Self::Hierarchical]
            .into_iter()
            .find(|m| m.name() == name)
    }
}

/// The tab's choices (persisted).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LatentSettings {
    /// VAE or hierarchical VAE.
    pub mode: LatentMode,
    /// β of the β-VAE objective `E log p − β·KL` (the ELBO shown is always at β = 1).
    pub beta: f64,
    /// `T`, the hierarchical VAE's levels.
    pub levels: usize,
    /// Switch 2: encoders fixed to the schedule's linear Gaussian steps.
    pub fixed_encoders: bool,
    /// Switch 3: the levels run the whole schedule, so `ᾱ_T → 0` and `z_T ~ N(0, I)`.
    pub to_noise: bool,
    /// The 2D data set (its command-line name).
    pub dataset: String,
    /// Seed of "Train from scratch".
    pub seed: u64,
}

impl Default for LatentSettings {
    fn default() -> Self {
        Self {
            mode: LatentMode::Vae,
            beta: 1.0,
            levels: 4,
            fixed_encoders: false,
            to_noise: false,
            dataset: Dataset::TwoMoons.name().to_owned(),
            seed: 0,
        }
    }
}

impl LatentSettings {
    /// These settings with every value in its valid range.
    #[must_use]
    pub fn sanitised(mut self) -> Self {
        let defaults = Self::default();
        if !(self.beta.is_finite() && BETAS.contains(&self.beta)) {
            self.beta = defaults.beta;
        }
        self.levels = self.levels.clamp(*LEVELS.start(), *LEVELS.end());
        if self.dataset.parse::<Dataset>().is_err() {
            self.dataset = defaults.dataset;
        }
        // Switch 3 is a property of fixed encoders.
        self.to_noise &= self.fixed_encoders;
        self
    }

    /// The data set (two moons if the name is not one).
    #[must_use]
    pub fn data_set(&self) -> Dataset {
        self.dataset.parse().unwrap_or(Dataset::TwoMoons)
    }
}

/// The schedule a fixed encoder's sub-chain was taken from, and the steps its levels take.
fn source_of(sub: &Schedule) -> (ScheduleSpec, Vec<usize>) {
    match sub.subchain_source() {
        Some((steps, times)) => (
            ScheduleSpec {
                steps,
                ..sub.spec().clone()
            },
            times.to_vec(),
        ),
        None => (sub.spec().clone(), (1..=sub.steps()).collect()),
    }
}

/// The form of a model: everything that decides its architecture and what it learns from.
#[derive(Clone, Debug, PartialEq)]
pub struct LatentForm {
    /// VAE or hierarchical.
    pub mode: LatentMode,
    /// The data set's name.
    pub dataset: String,
    /// Levels (hierarchical only; 1 for a VAE).
    pub levels: usize,
    /// The fixed encoders' schedule (its spec and the steps the levels take), if fixed.
    pub fixed: Option<(ScheduleSpec, Vec<usize>)>,
}

impl LatentForm {
    /// The form `settings` ask for under the schedule on screen.
    #[must_use]
    pub fn of(settings: &LatentSettings, schedule: &Schedule) -> Self {
        let hierarchical = settings.mode == LatentMode::Hierarchical;
        Self {
            mode: settings.mode,
            dataset: settings.dataset.clone(),
            levels: if hierarchical { settings.levels } else { 1 },
            fixed: (hierarchical && settings.fixed_encoders).then(|| {
                let times = level_times(schedule, settings.levels, settings.to_noise);
                (schedule.spec().clone(), times)
            }),
        }
    }

    /// The form of a loaded model.
    #[must_use]
    pub fn of_model(model: &LatentModel, dataset: &str) -> Self {
        match model {
            LatentModel::Vae(_) => Self {
                mode: LatentMode::Vae,
                dataset: dataset.to_owned(),
                levels: 1,
                fixed: None,
            },
            LatentModel::Mhvae(m) => Self {
                mode: LatentMode::Hierarchical,
                dataset: dataset.to_owned(),
                levels: m.config.levels,
                fixed: match &m.config.encoders {
                    Encoders::Learned => None,
                    Encoders::Fixed(s) => Some(source_of(s)),
                },
            },
        }
    }

    /// A fresh model of this form.
    ///
    /// # Errors
    /// The fixed encoders' schedule cannot be built.
    pub fn fresh(&self, seed: u64) -> Result<LatentModel, ModelError> {
        Ok(match self.mode {
            LatentMode::Vae => LatentModel::Vae(Vae::new(VaeConfig::two_d(), seed)),
            LatentMode::Hierarchical => LatentModel::Mhvae(Mhvae::new(self.mhvae_config()?, seed)),
        })
    }

    fn mhvae_config(&self) -> Result<MhvaeConfig, ModelError> {
        let encoders = match &self.fixed {
            None => Encoders::Learned,
            Some((spec, times)) => {
                let schedule = Schedule::new(spec).map_err(|e| ModelError::Data(e.to_string()))?;
                let sub = schedule
                    .subchain(times)
                    .map_err(|e| ModelError::Data(e.to_string()))?;
                Encoders::Fixed(sub)
            }
        };
        Ok(MhvaeConfig::two_d(self.levels, encoders))
    }

    /// The name of the shipped weights of this form, if there are some.
    #[must_use]
    pub fn shipped_name(&self) -> Option<&'static str> {
        if self.dataset != Dataset::TwoMoons.name() {
            return None;
        }
        let default_linear = ScheduleSpec::default();
        match (self.mode, self.levels, &self.fixed) {
            (LatentMode::Vae, _, _) => Some("vae-two-moons"),
            (LatentMode::Hierarchical, 4, None) => Some("mhvae-two-moons"),
            (LatentMode::Hierarchical, 4, Some((spec, times)))
                if *spec == default_linear
                    && Schedule::new(spec).is_ok_and(|s| *times == level_times(&s, 4, true)) =>
            {
                Some("mhvae-vdm-two-moons")
            }
            _ => None,
        }
    }
}

/// What the tab asks of the window (pushed as `Command::Latent`).
#[derive(Clone, Debug, PartialEq)]
pub enum LatentAction {
    /// Train a fresh model of the form on screen.
    TrainFromScratch,
    /// Go on training the model on screen (a finished or stopped run).
    TrainMore,
    /// Pause (`true`) or resume.
    Pause(bool),
    /// Stop training (the model so far stays).
    Stop,
    /// The shipped weights of the form on screen.
    UseShipped,
    /// Ask for a weights file to open.
    OpenDialog,
    /// Ask where to save the model.
    SaveDialog,
    /// Open this weights file.
    Load(PathBuf),
    /// Save the model here.
    Save(PathBuf),
}

/// The tab's model and what is known of it.
#[derive(Default)]
pub struct LatentState {
    worker: Option<LatentWorker>,
    generation: u64,
    /// The form of the model on screen (or on its way).
    pub form: Option<LatentForm>,
    /// The model on screen and its pictures.
    pub snapshot: Option<LatentSnapshot>,
    /// The ELBO of every snapshot of this model's training, oldest first.
    pub curve: Vec<CurvePoint>,
    /// Whether a run is training.
    pub training: bool,
    /// Whether it is paused.
    pub paused: bool,
    /// Where the model came from (`shipped vae-two-moons`, a file, `trained here`).
    pub origin: String,
    /// What happened last, in words.
    pub message: Option<String>,
    /// The last failure (a file, a diverged run); the model on screen stays.
    pub error: Option<String>,
    /// The examples, `n × 2`.
    pub data: Vec<f32>,
    data_name: String,
    /// β of the running job.
    beta: f64,
    /// The generation of the job the snapshot on screen came from.
    snapshot_generation: u64,
    /// A test hook: training runs panic at this iteration.
    #[doc(hidden)]
    pub panic_at_iteration: Option<u64>,
}

impl LatentState {
    /// The shipped checkpoint of `name` (for tests and the tab).
    ///
    /// # Errors
    /// The embedded file does not load.
    pub fn shipped(name: &str) -> Result<LatentCheckpoint, ModelError> {
        vae::shipped(name).unwrap_or_else(|| Err(ModelError::Data(format!("no shipped weights '{name}'"))))
    }

    /// Whether the snapshot on screen is of the latest job (a job just started shows the
    /// previous model until its first snapshot, a quarter of a second later).
    #[must_use]
    pub fn current(&self) -> bool {
        self.snapshot.is_some() && self.snapshot_generation == self.generation
    }

    /// Whether a job has been sent and its first snapshot has not arrived.
    #[must_use]
    pub fn waiting(&self) -> bool {
        self.form.is_some() && self.snapshot.is_none() && self.error.is_none()
    }
}

impl DiffscopeApp {
    /// Brings the tab's model in line with its settings (when the tab, or a chapter of
    /// it, is on screen) and drains the thread's events (always: training goes on behind
    /// other tabs).
    pub(super) fn latent_views(&mut self, ctx: &egui::Context) {
        self.drain_latent();
        if self.settings.tab != Tab::Vae {
            return;
        }
        let latent = &mut self.settings.latent;
        if latent.to_noise && self.model.schedule.spec().zero_terminal_snr {
            // α_T = 0 at the last level: the trainer and the ELBO refuse it.
            latent.to_noise = false;
            self.model.latent.message = Some(
                "switch 3 is off: the schedule on screen has zero terminal SNR (ᾱ_T = 0 exactly, α_T = 0)"
                    .to_owned(),
            );
        }
        let wanted = LatentForm::of(&self.settings.latent, &self.model.schedule);
        if self.model.latent.form.as_ref() != Some(&wanted) {
            self.switch_latent_form(ctx, wanted);
        }
        let state = &self.model.latent;
        if state.training && (self.settings.latent.beta - state.beta).abs() > f64::EPSILON {
            self.model.latent.beta = self.settings.latent.beta;
            self.send_latent(ctx, LatentCommand::SetBeta(self.settings.latent.beta));
        }
    }

    fn send_latent(&mut self, ctx: &egui::Context, command: LatentCommand) {
        let worker = self.model.latent.worker.get_or_insert_with(|| {
            let wake = ctx.clone();
            LatentWorker::spawn(Box::new(move || wake.request_repaint()))
        });
        worker.send(command);
    }

    fn drain_latent(&mut self) {
        let Some(worker) = &self.model.latent.worker else {
            return;
        };
        let mut events = Vec::new();
        while let Some(event) = worker.try_recv() {
            events.push(event);
        }
        let state = &mut self.model.latent;
        for event in events {
            match event {
                LatentEvent::Snapshot {
                    generation,
                    snapshot,
                    training,
                } if generation == state.generation => {
                    state.curve.push(snapshot.report.curve_point(snapshot.iteration));
                    state.training = training;
                    if !training {
                        state.paused = false;
                    }
                    state.snapshot = Some(*snapshot);
                    state.snapshot_generation = generation;
                }
                LatentEvent::Failed { generation, message } if generation == state.generation => {
                    state.training = false;
                    state.paused = false;
                    let kept = if state.snapshot.is_some() {
                        " (the model on screen is the last good one)"
                    } else {
                        ""
                    };
                    state.error = Some(format!("{message}{kept}"));
                }
                _ => {}
            }
        }
    }

    /// The examples of the data set on screen.
    fn latent_data(&mut self) -> Vec<f32> {
        let name = self.settings.latent.dataset.clone();
        let state = &mut self.model.latent;
        if state.data.is_empty() || state.data_name != name {
            state.data = crate::model::train::iid_draw(self.settings.latent.data_set(), EXAMPLES, DATA_SEED);
            state.data_name = name;
        }
        state.data.clone()
    }

    fn switch_latent_form(&mut self, ctx: &egui::Context, wanted: LatentForm) {
        if let Some(name) = wanted.shipped_name() {
            match LatentState::shipped(name) {
                Ok(checkpoint) => {
                    self.show_latent(ctx, checkpoint, format!("shipped {name}"));
                    return;
                }
                Err(e) => self.model.latent.error = Some(e.to_string()),
            }
        }
        // Only the encoders changed: the decoders carry over and adapt.
        let warm = match (&self.model.latent.snapshot, &self.model.latent.form) {
            (Some(snapshot), Some(form))
                if form.mode == LatentMode::Hierarchical
                    && wanted.mode == LatentMode::Hierarchical
                    && form.dataset == wanted.dataset =>
            {
                match (&snapshot.model, wanted.mhvae_config()) {
                    (LatentModel::Mhvae(current), Ok(config)) => Some(LatentModel::Mhvae(
                        Mhvae::with_decoders_of(config, current, self.settings.latent.seed),
                    )),
                    _ => None,
                }
            }
            _ => None,
        };
        let message = if warm.is_some() {
            "a new form: its decoders start from the previous ones and train live"
        } else {
            "no shipped weights for this form: it trains live from scratch"
        };
        self.model.latent.message = Some(message.to_owned());
        match warm.map_or_else(|| wanted.fresh(self.settings.latent.seed), Ok) {
            Ok(model) => self.train_latent(ctx, wanted, model, 0, "trained here".to_owned()),
            Err(e) => {
                self.model.latent.error = Some(e.to_string());
                self.model.latent.form = Some(wanted);
            }
        }
    }

    fn next_latent_generation(&mut self) -> u64 {
        self.model.latent.generation += 1;
        self.model.latent.generation
    }

    fn show_latent(&mut self, ctx: &egui::Context, checkpoint: LatentCheckpoint, origin: String) {
        let generation = self.next_latent_generation();
        let form = LatentForm::of_model(&checkpoint.model, &checkpoint.dataset);
        let state = &mut self.model.latent;
        state.form = Some(form);
        state.snapshot = None;
        state.curve.clear();
        state.training = false;
        state.paused = false;
        state.error = None;
        state.origin = origin;
        let data = self.latent_data();
        self.send_latent(
            ctx,
            LatentCommand::Show {
                generation,
                model: Box::new(checkpoint.model),
                data,
                iterations: checkpoint.iterations,
            },
        );
    }

    fn train_latent(
        &mut self,
        ctx: &egui::Context,
        form: LatentForm,
        model: LatentModel,
        iterations: u64,
        origin: String,
    ) {
        let generation = self.next_latent_generation();
        let s = &self.settings.latent;
        // Each model's own defaults (the MHVAE trains at a higher learning rate, for fewer
        // steps: `VaeTrainSettings::mhvae`).
        let defaults = match form.mode {
            LatentMode::Vae => VaeTrainSettings::default(),
            LatentMode::Hierarchical => VaeTrainSettings::mhvae(),
        };
        let settings = VaeTrainSettings {
            beta: s.beta,
            seed: s.seed,
            ..defaults
        };
        let state = &mut self.model.latent;
        state.form = Some(form);
        if iterations == 0 {
            state.curve.clear();
        }
        state.training = true;
        state.paused = false;
        state.error = None;
        state.origin = origin;
        state.beta = settings.beta;
        let data = self.latent_data();
        self.send_latent(
            ctx,
            LatentCommand::Train {
                generation,
                model: Box::new(model),
                data,
                iterations,
                settings,
                panic_at_iteration: self.model.latent.panic_at_iteration,
            },
        );
    }

    /// Runs one of the tab's actions.
    pub(super) fn latent_action(&mut self, ctx: &egui::Context, action: LatentAction) {
        let wanted = LatentForm::of(&self.settings.latent, &self.model.schedule);
        match action {
            LatentAction::TrainFromScratch => {
                self.model.latent.message = None;
                match wanted.fresh(self.settings.latent.seed) {
                    Ok(model) => self.train_latent(ctx, wanted, model, 0, "trained here".to_owned()),
                    Err(e) => self.model.latent.error = Some(e.to_string()),
                }
            }
            LatentAction::TrainMore => {
                if let Some(snapshot) = &self.model.latent.snapshot {
                    let (model, iterations) = (snapshot.model.clone(), snapshot.iteration);
                    let origin = self.model.latent.origin.clone();
                    let origin = if origin.ends_with(", trained more") || origin == "trained here" {
                        origin
                    } else {
                        format!("{origin}, trained more")
                    };
                    self.train_latent(ctx, wanted, model, iterations, origin);
                }
            }
            LatentAction::Pause(paused) => {
                if self.model.latent.training {
                    self.model.latent.paused = paused;
                    self.send_latent(ctx, LatentCommand::Pause(paused));
                }
            }
            LatentAction::Stop => {
                if self.model.latent.training {
                    self.send_latent(ctx, LatentCommand::Stop);
                }
            }
            LatentAction::UseShipped => {
                if let Some(name) = wanted.shipped_name() {
                    match LatentState::shipped(name) {
                        Ok(c) => self.show_latent(ctx, c, format!("shipped {name}")),
                        Err(e) => self.model.latent.error = Some(e.to_string()),
                    }
                }
            }
            LatentAction::OpenDialog => self.open_dialog(ctx, super::dialogs::DialogKind::OpenLatent),
            LatentAction::SaveDialog => self.open_dialog(ctx, super::dialogs::DialogKind::SaveLatent),
            LatentAction::Load(path) => self.load_latent(ctx, &path),
            LatentAction::Save(path) => self.save_latent(&path),
        }
    }

    fn load_latent(&mut self, ctx: &egui::Context, path: &std::path::Path) {
        match vae::load(path) {
            Ok(checkpoint) => {
                // The settings follow the file, so that the form on screen is the file's.
                let s = &mut self.settings.latent;
                s.dataset.clone_from(&checkpoint.dataset);
                match &checkpoint.model {
                    LatentModel::Vae(_) => s.mode = LatentMode::Vae,
                    LatentModel::Mhvae(m) => {
                        s.mode = LatentMode::Hierarchical;
                        s.levels = m.config.levels;
                        s.fixed_encoders = matches!(m.config.encoders, Encoders::Fixed(_));
                        if let Encoders::Fixed(schedule) = &m.config.encoders {
                            let (spec, times) = source_of(schedule);
                            if let Ok(source) = Schedule::new(&spec) {
                                s.to_noise = times == level_times(&source, m.config.levels, true);
                            }
                            self.settings.schedule = spec;
                        }
                    }
                }
                if self.settings.schedule != self.model.schedule.spec().clone() {
                    // The file's fixed encoders came from this schedule: it goes on screen,
                    // as a schedule typed in the controls does (this runs after the frame's
                    // settings were compared).
                    if let Ok(schedule) = Schedule::new(&self.settings.schedule) {
                        self.settings.t = self.settings.t.min(schedule.steps());
                        self.model.schedule = schedule;
                        self.model.compared = self.settings.compared_schedules();
                        self.rebuild_views();
                    }
                }
                let name = path.file_name().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                self.model.latent.message = Some(format!("opened {name}"));
                self.show_latent(ctx, checkpoint, name);
            }
            Err(e) => {
                self.model.latent.error =
                    Some(format!("weights not opened (the model on screen stays): {e}"));
            }
        }
    }

    fn save_latent(&mut self, path: &std::path::Path) {
        let Some(snapshot) = &self.model.latent.snapshot else {
            self.model.latent.error = Some("nothing to save yet".to_owned());
            return;
        };
        let checkpoint = LatentCheckpoint {
            model: snapshot.model.clone(),
            dataset: self.settings.latent.dataset.clone(),
            iterations: snapshot.iteration,
            seed: self.settings.latent.seed,
            command: format!("trained in the diffscope window ({})", self.model.latent.origin),
            beta: self.settings.latent.beta,
        };
        match vae::save(&checkpoint, path) {
            Ok(()) => self.model.latent.message = Some(format!("saved {}", path.display())),
            Err(e) => self.model.latent.error = Some(format!("not saved: {e}")),
        }
    }
}
