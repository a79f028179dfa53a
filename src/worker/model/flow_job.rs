//! The flow job: the current 2D model's probability-flow log-likelihood at points or on a
//! grid, stoppable between ODE batches.

use std::time::Instant;

use super::Worker;
use super::protocol::{FlowJob, FlowOutcome, FlowRequest, ModelEvent};
use crate::diffusion::ode::Tolerance;
use crate::diffusion::{ReverseVariance, Schedule};
use crate::model::flow::{density_grid_for, log_likelihoods_for};
use crate::model::sample::{Denoiser, ReverseChain, Sampler};
use crate::model::{Checkpoint, DataShape, ModelError, Objective};

/// The seed of the density view's samples.
const SAMPLE_SEED: u64 = 1;
/// Euler steps of a flow-matching model's samples beside its density (within 1.2× the
/// noise floor on two moons; BENCHMARKS.md).
const FLOW_SAMPLE_STEPS: usize = 100;

impl Worker {
    /// The 2D learned model the worker holds and its schedule, or why not: `what` is
    /// computed for 2D models only (`the exact likelihood is computed`).
    pub(super) fn points_model(&self, what: &str) -> Result<(&Checkpoint, Schedule), ModelError> {
        let model = self
            .model
            .as_ref()
            .ok_or_else(|| ModelError::Data("no learned model yet: load weights or train one".into()))?;
        let shape = model.network.architecture().data_shape();
        if shape != DataShape::Points {
            return Err(ModelError::Data(format!(
                "{what} for 2D models; this one denoises {shape}"
            )));
        }
        let schedule = Schedule::new(&model.info.schedule)
            .map_err(|e| ModelError::Data(format!("the model's schedule: {e}")))?;
        Ok((model, schedule))
    }

    /// Runs a flow job; a command arriving stops it (it is handled next).
    pub(super) fn flow(&mut self, job: &FlowJob) {
        let generation = job.generation;
        let started = Instant::now();
        match self.flow_outcome(job) {
            Ok(mut outcome) => {
                outcome.seconds = started.elapsed().as_secs_f64();
                self.emit(ModelEvent::FlowDone {
                    generation,
                    outcome: Box::new(outcome),
                });
            }
            Err(_) if !self.pending.is_empty() => self.emit(ModelEvent::FlowStopped { generation }),
            Err(e) => self.fail(generation, e.to_string()),
        }
    }

    fn flow_outcome(&mut self, job: &FlowJob) -> Result<FlowOutcome, ModelError> {
        let generation = job.generation;
        let (model, own) = self.points_model("the exact likelihood is computed")?;
        let net = model.network.inference()?;
        let objective = model.info.objective;
        let mut progress = super::stop_on_command(
            &self.events,
            &*self.wake,
            &self.commands,
            &mut self.pending,
            move |fraction| ModelEvent::FlowProgress { generation, fraction },
        );
        let tol = Tolerance::LIKELIHOOD;
        match &job.request {
            FlowRequest::Points(x) => {
                let flow = log_likelihoods_for(&net, &own, objective, x, tol, &mut progress)?;
                Ok(FlowOutcome {
                    nfe_per_point: flow.nfe_per_point(),
                    log_p: flow.log_p,
                    seconds: 0.0,
                    samples: Vec::new(),
                })
            }
            FlowRequest::Grid {
                side,
                extent,
                samples,
            } => {
                let grid = density_grid_for(&net, &own, objective, (*side, *extent), tol, &mut progress)?;
                let denoiser = Denoiser::Learned(net);
                let sampler = match objective {
                    Objective::Epsilon => Sampler::Ddpm(ReverseVariance::default()),
                    Objective::FlowMatching => Sampler::FlowEuler {
                        steps: FLOW_SAMPLE_STEPS,
                    },
                };
                let samples = ReverseChain::from_noise(own, sampler, *samples, 2, SAMPLE_SEED)
                    .for_objective(objective)?
                    .run(&denoiser)?;
                Ok(FlowOutcome {
                    nfe_per_point: grid.nfe_per_point,
                    log_p: grid.log_p,
                    seconds: 0.0,
                    samples,
                })
            }
        }
    }
}
