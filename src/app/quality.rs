//! The quality-vs-steps chart the Reverse tab shows for a 2D learned model
//! ([`crate::model::quality`]): asked of the `model` worker when its view is on and the
//! worker is free, kept under the model and the data it was computed for, stoppable.

use super::settings::Tab;
use crate::model::quality::QualityChart;
use crate::model::{DataShape, Objective};
use crate::scene::prepare::{ideal_shape, shipped_flow_name, shipped_name, train_set};
use crate::worker::model::{ModelCommand, QualityJob};

/// The seed of the held-out draw the chart compares with (training's).
const DATA_SEED: u64 = 1;

/// What a chart depends on: the learned model and the data on screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QualityKey {
    /// The learned model's serial.
    pub model: u64,
    /// The data on screen.
    pub data: u64,
    /// The samplers' seed.
    pub seed: u64,
}

/// The chart's state.
#[derive(Debug, Default)]
pub struct QualityState {
    /// The chart (or the worker's message) and what it was computed for.
    pub chart: Option<(QualityKey, Result<QualityChart, String>)>,
    /// The job in flight: generation, key, fraction done.
    pub running: Option<(u64, QualityKey, f64)>,
    /// Stopped by the user: not asked again until the key changes.
    pub stopped: Option<QualityKey>,
}

impl QualityState {
    /// The chart of `key`, if it is in.
    #[must_use]
    pub fn result(&self, key: QualityKey) -> Option<&Result<QualityChart, String>> {
        self.chart.as_ref().filter(|(k, _)| *k == key).map(|(_, r)| r)
    }
}

/// The worker's quality events, as the app handles them.
pub(super) enum QualityEvent {
    Progress(f64),
    Done(Box<QualityChart>),
    Stopped,
    Failed(String),
}

/// The chart the Reverse tab would show now: that of the 2D learned model, when it fits
/// the data on screen.
#[must_use]
pub fn wanted_quality(model: &super::Model, settings: &super::Settings) -> Option<QualityKey> {
    let learned = model.learning.learned.as_ref()?;
    (learned.summary.shape == DataShape::Points && ideal_shape(&model.scene) == Some(DataShape::Points))
        .then_some(QualityKey {
            model: learned.serial,
            data: model.elbo.data_serial,
            seed: settings.reverse.seed,
        })
}

impl super::DiffscopeApp {
    /// While the chart's view is on: asks the worker for it once the worker is free.
    pub(super) fn quality_views(&mut self) {
        if self.settings.tab != Tab::Reverse || !self.settings.reverse.quality {
            return;
        }
        let Some(key) = wanted_quality(&self.model, &self.settings) else {
            return;
        };
        let state = &self.model.quality;
        if state.result(key).is_some()
            || state.stopped == Some(key)
            || state.running.is_some_and(|(_, k, _)| k == key)
            || self.model.learning.worker_busy()
            || self.model.learning.pending.is_some()
        {
            return;
        }
        let (held_out, reference) = match train_set(&self.model.scene, DATA_SEED) {
            Ok((set, _)) => {
                let f64s = |v: &[f32]| -> Vec<f64> { v.iter().map(|&x| f64::from(x)).collect() };
                (
                    f64s(&set.held_out),
                    f64s(set.reference.as_deref().unwrap_or_default()),
                )
            }
            Err(e) => {
                self.model.quality.chart = Some((key, Err(e.to_string())));
                return;
            }
        };
        // The shipped model of the other objective, when the data is a built-in set.
        let other = self
            .model
            .learning
            .learned
            .as_ref()
            .and_then(|m| match m.summary.objective {
                Objective::Epsilon => shipped_flow_name(&self.model.scene),
                Objective::FlowMatching => shipped_name(&self.model.scene),
            });
        let generation = self.job_id();
        self.ml.send(ModelCommand::Quality(Box::new(QualityJob {
            generation,
            held_out,
            reference,
            seed: key.seed,
            other,
        })));
        self.model.quality.running = Some((generation, key, 0.0));
    }

    /// Stops the running chart (not asked again until its key changes).
    pub(super) fn stop_quality(&mut self) {
        if let Some((_, key, _)) = self.model.quality.running.take() {
            self.ml.send(ModelCommand::Cancel);
            self.model.quality.stopped = Some(key);
            self.model.status.info = Some("quality chart stopped".into());
        }
    }

    /// Handles the quality events of the worker.
    pub(super) fn on_quality_event(&mut self, generation: u64, event: QualityEvent) {
        let state = &mut self.model.quality;
        let Some(running) = state.running.as_mut().filter(|r| r.0 == generation) else {
            return;
        };
        let key = running.1;
        let result = match event {
            QualityEvent::Progress(fraction) => {
                running.2 = fraction;
                return;
            }
            QualityEvent::Stopped => {
                state.running = None;
                return;
            }
            QualityEvent::Done(chart) => Ok(*chart),
            QualityEvent::Failed(message) => Err(message),
        };
        state.running = None;
        state.chart = Some((key, result));
    }

    /// Whether a `--screenshot` may be taken as far as the chart is concerned.
    pub(super) fn quality_settled_for_screenshot(&self) -> bool {
        self.settings.tab != Tab::Reverse
            || !self.settings.reverse.quality
            || wanted_quality(&self.model, &self.settings)
                .is_none_or(|k| self.model.quality.result(k).is_some())
    }
}
