//! The probability flow's likelihoods the ELBO tab shows for a 2D model: the NLL of the
//! bound's examples beside the −ELBO, and the density view (`log p_θ` on a grid with the
//! model's samples), each cached under the key it was computed for and asked of the
//! `model` worker once the ELBO estimates are in (the worker does one job at a time).

use super::elbo::{elbo_data, wanted};
use super::settings::{Settings, Tab};
use crate::export::VIEW_EXTENT;
use crate::model::DataShape;
use crate::worker::model::{FlowJob, FlowOutcome, FlowRequest, ModelCommand};

/// Cells per side of the density view's grid.
pub const DENSITY_SIDE: usize = 100;
/// Samples drawn beside the density.
pub const DENSITY_SAMPLES: usize = 1000;

/// Which of the two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowTarget {
    /// The NLL of the bound's examples.
    Nll,
    /// The density on the grid.
    Density,
}

/// What a flow result depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowKey {
    /// Which.
    pub target: FlowTarget,
    /// The learned model's serial.
    pub model: u64,
    /// The data on screen (0 for the density, which does not depend on them).
    pub data: u64,
    /// Examples (0 for the density).
    pub n: usize,
}

/// One stored result.
#[derive(Clone, Debug)]
pub struct FlowResult {
    /// What it was computed for.
    pub key: FlowKey,
    /// The result, or the worker's message.
    pub outcome: Result<FlowOutcome, String>,
}

/// The job in flight.
#[derive(Clone, Debug)]
pub struct FlowRunning {
    /// The job.
    pub generation: u64,
    /// What it computes.
    pub key: FlowKey,
    /// Fraction done.
    pub fraction: f64,
}

/// The flow's state.
#[derive(Debug, Default)]
pub struct FlowState {
    /// The NLL beside the ELBO.
    pub nll: Option<FlowResult>,
    /// The density view.
    pub density: Option<FlowResult>,
    /// The job in flight.
    pub running: Option<FlowRunning>,
    /// Stopped by the user: not asked again until the key changes.
    pub stopped: Option<FlowKey>,
}

impl FlowState {
    /// The stored result of `key`.
    #[must_use]
    pub fn result(&self, key: &FlowKey) -> Option<&Result<FlowOutcome, String>> {
        let slot = match key.target {
            FlowTarget::Nll => &self.nll,
            FlowTarget::Density => &self.density,
        };
        slot.as_ref().filter(|r| &r.key == key).map(|r| &r.outcome)
    }

    /// The running job's fraction, if it computes `key`.
    #[must_use]
    pub fn progress(&self, key: &FlowKey) -> Option<f64> {
        self.running
            .as_ref()
            .filter(|r| &r.key == key)
            .map(|r| r.fraction)
    }
}

/// The flow results the tab shows for `model` and `settings`: the NLL whenever a 2D
/// learned model fits the data, the density when its view is on.
#[must_use]
pub fn wanted_flow(model: &super::Model, settings: &Settings) -> Vec<FlowKey> {
    let Some(learned) = model
        .learning
        .learned
        .as_ref()
        .filter(|m| m.summary.shape == DataShape::Points)
        .filter(|m| Some(m.summary.shape) == crate::scene::prepare::ideal_shape(&model.scene))
    else {
        return Vec::new();
    };
    let mut out = vec![FlowKey {
        target: FlowTarget::Nll,
        model: learned.serial,
        data: model.elbo.data_serial,
        n: super::elbo::example_count(&model.scene, &settings.elbo),
    }];
    if settings.elbo.density {
        // The density first when its view is on: it is what the view shows.
        out.insert(
            0,
            FlowKey {
                target: FlowTarget::Density,
                model: learned.serial,
                data: 0,
                n: 0,
            },
        );
    }
    out
}

impl super::DiffscopeApp {
    /// While the ELBO tab is shown and its estimates are in: asks the worker for the
    /// first missing flow result.
    pub(super) fn flow_views(&mut self) {
        if self.settings.tab != Tab::Elbo || self.model.elbo.running.is_some() {
            return;
        }
        let elbo_missing = wanted(&self.model, &self.settings)
            .iter()
            .any(|(i, key)| self.model.elbo.result(*i, key).is_none());
        let stopped_elbo = self.model.elbo.stopped.is_some();
        if elbo_missing && !stopped_elbo {
            return;
        }
        let state = &self.model.flow;
        let Some(key) = wanted_flow(&self.model, &self.settings)
            .into_iter()
            .find(|k| state.result(k).is_none() && state.stopped.as_ref() != Some(k))
        else {
            return;
        };
        if state.running.as_ref().is_some_and(|r| r.key == key) {
            return;
        }
        if self.model.learning.worker_busy() || self.model.learning.pending.is_some() {
            return;
        }
        let request = match key.target {
            FlowTarget::Density => FlowRequest::Grid {
                side: DENSITY_SIDE,
                extent: VIEW_EXTENT,
                samples: DENSITY_SAMPLES,
            },
            FlowTarget::Nll => match elbo_data(&self.model.scene, &self.settings.elbo) {
                Ok(d) => FlowRequest::Points(d.x0.iter().map(|&v| f64::from(v)).collect()),
                Err(e) => {
                    self.model.status.error = Some(format!("likelihood: {e}"));
                    return;
                }
            },
        };
        let generation = self.job_id();
        self.ml
            .send(ModelCommand::Flow(Box::new(FlowJob { generation, request })));
        self.model.flow.running = Some(FlowRunning {
            generation,
            key,
            fraction: 0.0,
        });
    }

    /// Stops the running flow job (not asked again until its key changes).
    pub(super) fn stop_flow(&mut self) {
        if let Some(running) = self.model.flow.running.take() {
            self.ml.send(ModelCommand::Cancel);
            self.model.flow.stopped = Some(running.key);
            self.model.status.info = Some("likelihood stopped".into());
        }
    }

    /// Handles the flow events of the worker: `None` progress is a stop, `Some(Err)` a
    /// failure.
    pub(super) fn on_flow_event(&mut self, generation: u64, event: FlowEvent) {
        let state = &mut self.model.flow;
        let Some(running) = state.running.as_mut().filter(|r| r.generation == generation) else {
            return;
        };
        let outcome = match event {
            FlowEvent::Progress(fraction) => {
                running.fraction = fraction;
                return;
            }
            FlowEvent::Stopped => {
                state.running = None;
                return;
            }
            FlowEvent::Done(outcome) => Ok(*outcome),
            FlowEvent::Failed(message) => Err(message),
        };
        let key = running.key.clone();
        state.running = None;
        let result = Some(FlowResult {
            key: key.clone(),
            outcome,
        });
        match key.target {
            FlowTarget::Nll => state.nll = result,
            FlowTarget::Density => state.density = result,
        }
    }

    /// Whether a `--screenshot` may be taken as far as the flow is concerned.
    pub(super) fn flow_settled_for_screenshot(&self) -> bool {
        self.settings.tab != Tab::Elbo
            || wanted_flow(&self.model, &self.settings)
                .iter()
                .all(|k| self.model.flow.result(k).is_some())
    }
}

/// The worker's flow events, as the app handles them.
pub(super) enum FlowEvent {
    Progress(f64),
    Done(Box<FlowOutcome>),
    Stopped,
    Failed(String),
}
