//! The ELBO job: term-by-term estimates of one or more parts, stoppable between terms.

use super::Worker;
use super::protocol::{ElboJob, ModelEvent};
use crate::diffusion::{IdealDenoiser, Schedule};
use crate::model::ModelError;
use crate::model::Objective;
use crate::model::elbo::{self, ElboRequest};
use crate::model::sample::Denoiser;

impl Worker {
    /// Runs the parts of an ELBO job in order, sending each when done; stops at the first
    /// failure or when a command arrives (it is handled next).
    pub(super) fn elbo(&mut self, job: &ElboJob) {
        let generation = job.generation;
        let schedule = match Schedule::new(&job.schedule) {
            Ok(s) => s,
            Err(e) => return self.fail(generation, format!("schedule: {e}")),
        };
        for (index, part) in job.parts.iter().enumerate() {
            let (denoiser, own) = match self.elbo_denoiser(job, part.ideal) {
                Ok(d) => d,
                Err(e) => return self.fail(generation, e.to_string()),
            };
            let mut progress = super::stop_on_command(
                &self.events,
                &*self.wake,
                &self.commands,
                &mut self.pending,
                move |fraction| ModelEvent::ElboProgress {
                    generation,
                    part: index,
                    fraction,
                },
            );
            let result = elbo::estimate_under(
                &denoiser,
                own.as_ref(),
                &ElboRequest {
                    schedule: &schedule,
                    variance: job.variance,
                    form: part.form,
                    x0: &job.x0,
                    dim: job.dim,
                    discrete: job.discrete,
                    seed: job.seed,
                },
                &mut progress,
            );
            drop(progress);
            match result {
                Ok(report) => self.emit(ModelEvent::ElboDone {
                    generation,
                    part: index,
                    report: Box::new(report),
                }),
                Err(_) if !self.pending.is_empty() => {
                    return self.emit(ModelEvent::ElboStopped { generation });
                }
                Err(e) => return self.fail(generation, e.to_string()),
            }
        }
    }

    /// The denoiser of one ELBO part, and the learned model's own schedule.
    pub(super) fn elbo_denoiser(
        &self,
        job: &ElboJob,
        ideal: bool,
    ) -> Result<(Denoiser, Option<Schedule>), ModelError> {
        if ideal {
            if job.dim == 0 || job.ideal_data.is_empty() || !job.ideal_data.len().is_multiple_of(job.dim) {
                return Err(ModelError::Data(
                    "the ideal denoiser needs a non-empty data set".into(),
                ));
            }
            let data = IdealDenoiser::new(job.ideal_data.clone(), job.dim);
            return Ok((Denoiser::Ideal(data), None));
        }
        let model = self
            .model
            .as_ref()
            .ok_or_else(|| ModelError::Data("no learned model yet: load weights or train one".into()))?;
        if model.info.objective == Objective::FlowMatching {
            return Err(ModelError::Data(
                "a flow-matching model has no diffusion ELBO: its exact likelihood is under the ELBO \
                 table"
                    .into(),
            ));
        }
        let shape = model.network.architecture().data_shape();
        if shape.dim() != job.dim {
            return Err(ModelError::Data(format!(
                "the model denoises {shape}, the data on screen have {} values per example",
                job.dim
            )));
        }
        let own = Schedule::new(&model.info.schedule)
            .map_err(|e| ModelError::Data(format!("the model's schedule: {e}")))?;
        Ok((Denoiser::Learned(model.network.inference()?), Some(own)))
    }
}
