//! The state behind the ELBO tab: the four estimates it shows (learned model and ideal
//! denoiser, each in both decompositions of MATH.md §4), each cached with the key it was
//! computed under, and the job the `model` worker is running for the missing ones.
//!
//! The tab asks for what is missing while it is visible and the worker is free (no
//! training run, no running chain); a change of model, data, schedule, variance, number
//! of examples or seed makes a new key, and the estimates of the old one are replaced as
//! the new ones arrive.

use std::fmt::Write as _;

use super::settings::{ElboSettings, Settings, SourceChoice};
use crate::diffusion::elbo::nearest_8bit_level;
use crate::diffusion::{ReverseVariance, ScheduleSpec};
use crate::model::DataShape;
use crate::model::elbo::{ElboForm, ElboReport};
use crate::scene::prepare::{ideal_data, ideal_shape};
use crate::scene::{Scene, SceneData};
use crate::worker::model::ElboPart;

/// The four estimates, in the order they are computed and stored.
pub const PARTS: [ElboPart; 4] = [
    ElboPart {
        ideal: false,
        form: ElboForm::Denoising,
    },
    ElboPart {
        ideal: false,
        form: ElboForm::Consistency,
    },
    ElboPart {
        ideal: true,
        form: ElboForm::Denoising,
    },
    ElboPart {
        ideal: true,
        form: ElboForm::Consistency,
    },
];

/// What an estimate depends on.
#[derive(Clone, Debug, PartialEq)]
pub struct ElboKey {
    /// The learned model's serial (0 for the ideal denoiser).
    pub model: u64,
    /// The data on screen (counts scenes).
    pub data: u64,
    /// The schedule of the bound.
    pub schedule: ScheduleSpec,
    /// `σ_t² = β̃_t` rather than `β_t`.
    pub posterior_variance: bool,
    /// Examples.
    pub n: usize,
    /// Monte-Carlo seed.
    pub seed: u64,
}

/// One stored estimate.
#[derive(Clone, Debug)]
pub struct ElboResult {
    /// What it was computed under.
    pub key: ElboKey,
    /// The estimate, or why there is none (the `model` thread's message).
    pub outcome: Result<ElboReport, String>,
}

/// The job the worker runs for the tab.
#[derive(Clone, Debug)]
pub struct ElboRunning {
    /// The job.
    pub generation: u64,
    /// Its parts: (index into [`PARTS`], key), in order.
    pub parts: Vec<(usize, ElboKey)>,
    /// The running part (index into `parts`).
    pub current: usize,
    /// Its fraction done.
    pub fraction: f64,
}

/// The ELBO tab's state.
#[derive(Debug, Default)]
pub struct ElboState {
    /// The estimates, by index into [`PARTS`].
    pub results: [Option<ElboResult>; 4],
    /// The job in flight.
    pub running: Option<ElboRunning>,
    /// The user stopped the estimates of these keys: nothing is asked for until the
    /// keys change or the user asks again.
    pub stopped: Option<Vec<(usize, ElboKey)>>,
    /// Counts the scenes shown (the data part of the key).
    pub data_serial: u64,
}

impl ElboState {
    /// The stored estimate of part `index` if it is of `key`.
    #[must_use]
    pub fn result(&self, index: usize, key: &ElboKey) -> Option<&Result<ElboReport, String>> {
        self.results[index]
            .as_ref()
            .filter(|r| &r.key == key)
            .map(|r| &r.outcome)
    }

    /// The newest stored estimate of part `index`, whatever its key (shown, marked as out
    /// of date, while the new one is computed).
    #[must_use]
    pub fn latest(&self, index: usize) -> Option<&ElboResult> {
        self.results[index].as_ref()
    }
}

/// The reverse variance of the settings.
#[must_use]
pub const fn variance(settings: &ElboSettings) -> ReverseVariance {
    if settings.posterior_variance {
        ReverseVariance::PosteriorVariance
    } else {
        ReverseVariance::Beta
    }
}

/// The examples of a bound over the data on screen.
#[derive(Clone, Debug)]
pub struct ElboData {
    /// The examples (`n × dim`, CHW for images; 8-bit levels for images).
    pub x0: Vec<f32>,
    /// Values per example.
    pub dim: usize,
    /// The shape of one example.
    pub shape: DataShape,
    /// 8-bit images: the discretised decoder.
    pub discrete: bool,
    /// What the ideal denoiser memorises: every example on screen (`m × dim`).
    pub ideal_data: Vec<f64>,
}

impl ElboData {
    /// Number of examples.
    #[must_use]
    pub fn n(&self) -> usize {
        self.x0.len() / self.dim.max(1)
    }
}

/// The examples of the bound for `scene`:
/// - 2D points: the first `n_points` points on screen; the ideal denoiser memorises all;
/// - the digits: the first `n_digits`, at the 8-bit levels the discretised decoder models;
///   the ideal denoiser memorises all 1797;
/// - an image: its reduction to the training size (≤ 32 px) at 8-bit levels, repeated
///   `image_copies` times (one example: the spread is the Monte-Carlo noise's).
///
/// # Errors
/// Data with nothing to bound (no digits).
pub fn elbo_data(scene: &Scene, settings: &ElboSettings) -> Result<ElboData, crate::scene::SceneError> {
    // The data the ideal denoiser of the Reverse tab memorises, at the 8-bit levels for
    // images; the examples are its first `n` (an image: its one example `n` times).
    let (mut ideal_data, shape) = ideal_data(scene)?;
    let discrete = shape != DataShape::Points;
    if discrete {
        for v in &mut ideal_data {
            *v = nearest_8bit_level(*v);
        }
    }
    let dim = shape.dim().max(1);
    let n = example_count(scene, settings);
    let x0 = ideal_data
        .iter()
        .map(|&v| v as f32)
        .cycle()
        .take(n * dim)
        .collect();
    Ok(ElboData {
        x0,
        dim,
        shape,
        discrete,
        ideal_data,
    })
}

/// The number of examples [`elbo_data`] gives.
#[must_use]
pub fn example_count(scene: &Scene, settings: &ElboSettings) -> usize {
    match (&scene.source, &scene.data) {
        (_, SceneData::Points(points)) => settings.n_points.min(points.len()),
        (SourceChoice::Digits, _) => settings.n_digits.min(crate::data::DIGIT_COUNT),
        (SourceChoice::Glyphs, _) => settings.n_digits.min(crate::scene::GLYPH_COUNT),
        (_, SceneData::Image(_)) => settings.image_copies.max(1),
    }
}

/// The data part of the `diffscope elbo` command that gives the numbers of the tab, when
/// the command line can express the data on screen.
#[must_use]
pub fn cli_data(scene: &Scene, settings: &Settings) -> Option<String> {
    let n = example_count(scene, &settings.elbo);
    match (&scene.source, &scene.data) {
        (SourceChoice::Dataset(name), SceneData::Points(points)) => Some(format!(
            "--dataset {name} --data-n {} --data-seed {} --n {n}",
            points.len(),
            settings.data_seed
        )),
        // A subsample of a large file is the window's: the command reads the file's first
        // points.
        (SourceChoice::File(path), SceneData::Points(_)) if scene.all_points.is_none() => {
            Some(format!("--points '{}' --n {n}", path.display()))
        }
        (SourceChoice::Digits, _) => Some(format!("--digits --data-n {} --n {n}", crate::data::DIGIT_COUNT)),
        _ => None,
    }
}

/// The keys of the estimates the tab shows for `model` and `settings` (index into
/// [`PARTS`], key). The learned parts are left out when no learned model fits the data,
/// the ideal ones when the overlay is off.
#[must_use]
pub fn wanted(model: &super::Model, settings: &Settings) -> Vec<(usize, ElboKey)> {
    let e = &settings.elbo;
    let key = |model_serial: u64| ElboKey {
        model: model_serial,
        data: model.elbo.data_serial,
        schedule: model.schedule.spec().clone(),
        posterior_variance: e.posterior_variance,
        n: example_count(&model.scene, e),
        seed: e.seed,
    };
    let learned = model
        .learning
        .learned
        .as_ref()
        .filter(|m| Some(m.summary.shape) == ideal_shape(&model.scene));
    let mut out = Vec::new();
    for (index, part) in PARTS.iter().enumerate() {
        if part.ideal && e.ideal {
            out.push((index, key(0)));
        } else if let (false, Some(m)) = (part.ideal, learned) {
            out.push((index, key(m.serial)));
        }
    }
    out
}

/// The schedule flags of `diffscope` that give `spec`.
#[must_use]
pub fn schedule_flags(spec: &ScheduleSpec) -> String {
    let mut s = format!("--schedule {} --steps {}", spec.kind.name(), spec.steps);
    for (flag, value) in [
        ("--beta-start", spec.beta_start),
        ("--beta-end", spec.beta_end),
        ("--beta", spec.beta),
    ] {
        if let Some(v) = value {
            let _ = write!(s, " {flag} {v}");
        }
    }
    if spec.zero_terminal_snr {
        s.push_str(" --zero-terminal-snr");
    }
    s
}

impl super::DiffscopeApp {
    /// While the ELBO tab is shown: asks the worker for the estimates that are missing,
    /// unless it is busy with training or a chain, or the user stopped them.
    pub(super) fn elbo_views(&mut self) {
        if self.settings.tab != super::settings::Tab::Elbo {
            return;
        }
        let state = &self.model.elbo;
        let missing: Vec<(usize, ElboKey)> = wanted(&self.model, &self.settings)
            .into_iter()
            .filter(|(i, key)| state.result(*i, key).is_none())
            .collect();
        if missing.is_empty() || state.stopped.as_ref() == Some(&missing) {
            return;
        }
        if let Some(running) = &state.running
            && running.parts[running.current..] == missing[..]
        {
            return;
        }
        if self.model.learning.worker_busy() {
            return;
        }
        let data = match elbo_data(&self.model.scene, &self.settings.elbo) {
            Ok(d) => d,
            Err(e) => {
                self.model.status.error = Some(format!("ELBO: {e}"));
                return;
            }
        };
        let generation = self.job_id();
        self.ml.send(crate::worker::model::ModelCommand::Elbo(Box::new(
            crate::worker::model::ElboJob {
                generation,
                parts: missing.iter().map(|(i, _)| PARTS[*i]).collect(),
                x0: data.x0,
                dim: data.dim,
                discrete: data.discrete,
                ideal_data: data.ideal_data,
                schedule: self.model.schedule.spec().clone(),
                variance: variance(&self.settings.elbo),
                seed: self.settings.elbo.seed,
            },
        )));
        let state = &mut self.model.elbo;
        state.stopped = None;
        state.running = Some(ElboRunning {
            generation,
            parts: missing,
            current: 0,
            fraction: 0.0,
        });
    }

    /// Whether a `--screenshot` may be taken as far as the ELBO tab is concerned: every
    /// estimate it shows is there (or failed).
    pub(super) fn elbo_settled_for_screenshot(&self) -> bool {
        self.settings.tab != super::settings::Tab::Elbo
            || (self.model.learning.pending.is_none()
                && self.model.elbo.running.is_none()
                && wanted(&self.model, &self.settings)
                    .iter()
                    .all(|(i, key)| self.model.elbo.result(*i, key).is_some()))
    }

    /// Stops the running estimates (they are not asked for again until something
    /// changes or the user asks).
    pub(super) fn stop_elbo(&mut self) {
        if let Some(running) = self.model.elbo.running.take() {
            self.ml.send(crate::worker::model::ModelCommand::Cancel);
            self.model.elbo.stopped = Some(running.parts[running.current..].to_vec());
            self.model.status.info = Some("ELBO estimates stopped".into());
        }
    }

    /// Handles the ELBO events of the worker.
    pub(super) fn on_elbo_event(&mut self, generation: u64, event: ElboEvent) {
        let state = &mut self.model.elbo;
        let Some(running) = state.running.as_mut().filter(|r| r.generation == generation) else {
            return;
        };
        match event {
            ElboEvent::Progress { part, fraction } => {
                running.current = part;
                running.fraction = fraction;
            }
            ElboEvent::Done { part, report } => {
                if let Some((index, key)) = running.parts.get(part).cloned() {
                    state.results[index] = Some(ElboResult {
                        key,
                        outcome: Ok(*report),
                    });
                }
                running.current = part + 1;
                running.fraction = 0.0;
                if running.current >= running.parts.len() {
                    state.running = None;
                }
            }
            ElboEvent::Stopped => state.running = None,
            ElboEvent::Failed(message) => {
                // The part that failed keeps its message (shown in the tab, not asked for
                // again under the same key); the parts after it are asked for again.
                if let Some((index, key)) = running.parts.get(running.current).cloned() {
                    state.results[index] = Some(ElboResult {
                        key,
                        outcome: Err(message),
                    });
                }
                state.running = None;
            }
        }
    }
}

/// The worker's ELBO events, as the app handles them.
pub(super) enum ElboEvent {
    Progress { part: usize, fraction: f64 },
    Done { part: usize, report: Box<ElboReport> },
    Stopped,
    Failed(String),
}
