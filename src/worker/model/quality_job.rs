//! The quality job: the current 2D model's quality-vs-steps chart
//! ([`crate::model::quality`]), stoppable between its runs.

use super::Worker;
use super::protocol::{ModelEvent, QualityJob};
use crate::diffusion::Schedule;
use crate::model::quality::{ChartModel, QualityChart, quality_chart};
use crate::model::sample::Denoiser;
use crate::model::{ModelError, shipped};

impl Worker {
    /// Runs a quality job; a command arriving stops it (it is handled next).
    pub(super) fn quality(&mut self, job: &QualityJob) {
        let generation = job.generation;
        match self.quality_chart(job) {
            Ok(Some(chart)) => self.emit(ModelEvent::QualityDone {
                generation,
                chart: Box::new(chart),
            }),
            Ok(None) => self.emit(ModelEvent::QualityStopped { generation }),
            Err(e) => self.fail(generation, e.to_string()),
        }
    }

    fn quality_chart(&mut self, job: &QualityJob) -> Result<Option<QualityChart>, ModelError> {
        let generation = job.generation;
        let (model, schedule) = self.points_model("the quality chart is drawn")?;
        let denoiser = Denoiser::Learned(model.network.inference()?);
        let objective = model.info.objective;
        // The other objective's shipped model of the same data, beside it.
        let other = match &job.other {
            Some(name) => {
                let m = shipped::load(name)
                    .ok_or_else(|| ModelError::Data(format!("no shipped weights '{name}'")))??;
                let s = Schedule::new(&m.info.schedule)
                    .map_err(|e| ModelError::Data(format!("the model's schedule: {e}")))?;
                Some((Denoiser::Learned(m.network.inference()?), s, m.info.objective))
            }
            None => None,
        };
        let mut models = vec![ChartModel {
            denoiser: &denoiser,
            schedule: &schedule,
            objective,
        }];
        if let Some((d, s, o)) = &other {
            models.push(ChartModel {
                denoiser: d,
                schedule: s,
                objective: *o,
            });
        }
        let mut progress = super::stop_on_command(
            &self.events,
            &*self.wake,
            &self.commands,
            &mut self.pending,
            move |fraction| ModelEvent::QualityProgress { generation, fraction },
        );
        quality_chart(&models, &job.held_out, &job.reference, job.seed, &mut progress)
    }
}
