//! The sampling job: the reverse chain, one step per turn (at a set rate, or single
//! steps when paused), and the denoiser it runs with.

use std::time::Instant;

use super::protocol::{ChainPaths, ChainStart, DenoiserChoice, ModelEvent, PathsJob, SampleJob};
use super::{Job, Worker};
use crate::diffusion::{IdealDenoiser, Schedule};
use crate::model::sample::{Denoiser, Frame, ReverseChain};
use crate::model::{Checkpoint, DataShape, ModelError, Network, shipped};

pub(super) struct Sampling {
    pub(super) generation: u64,
    pub(super) chain: ReverseChain,
    pub(super) denoiser: Denoiser,
    pub(super) paused: bool,
    pub(super) pause_at: Option<usize>,
    pub(super) rate: Option<f64>,
    pub(super) next_step_at: Instant,
}

/// The canvas a job asks of `model`: only a single-image model has one (the window asks
/// from its summary of the model, which lags a load by an event: another model held by
/// then samples its own size).
fn canvas_of(model: &Checkpoint, canvas: Option<(usize, usize)>) -> Option<(usize, usize)> {
    canvas.filter(|_| matches!(model.network, Network::Patch(_)))
}

impl Worker {
    pub(super) fn start_sample(&mut self, job: SampleJob) {
        self.cancel();
        let generation = job.generation;
        match self.start_sampling(job) {
            Ok(sampling) => {
                let x = sampling.chain.x().to_vec();
                let (t, progress, paused) = (sampling.chain.t(), sampling.chain.progress(), sampling.paused);
                let nfe = sampling.chain.nfe();
                self.job = Some(Job::Sample(Box::new(sampling)));
                self.emit(ModelEvent::SampleFrame {
                    generation,
                    frame: Frame {
                        t,
                        x0_hat: x.clone(),
                        x,
                    },
                    progress,
                    nfe,
                });
                self.emit(ModelEvent::SamplePaused { generation, paused });
            }
            Err(e) => self.fail(generation, e.to_string()),
        }
    }

    pub(super) fn denoiser(
        &self,
        choice: &DenoiserChoice,
        canvas: Option<(usize, usize)>,
    ) -> Result<(Schedule, Denoiser), ModelError> {
        match choice {
            DenoiserChoice::Learned => {
                let model = self.model.as_ref().ok_or_else(|| {
                    ModelError::Data("no learned model yet: load weights or train one".into())
                })?;
                let schedule = Schedule::new(&model.info.schedule)
                    .map_err(|e| ModelError::Data(format!("the model's schedule: {e}")))?;
                let inference = match canvas_of(model, canvas) {
                    Some((h, w)) => model.network.with_canvas(h, w)?.inference()?,
                    None => model.network.inference()?,
                };
                Ok((schedule, Denoiser::Learned(inference)))
            }
            DenoiserChoice::Ideal { data, dim, schedule } => {
                if *dim == 0 || data.is_empty() || data.len() % dim != 0 {
                    return Err(ModelError::Data(
                        "the ideal denoiser needs a non-empty data set".into(),
                    ));
                }
                let schedule =
                    Schedule::new(schedule).map_err(|e| ModelError::Data(format!("schedule: {e}")))?;
                Ok((schedule, Denoiser::Ideal(IdealDenoiser::new(data.clone(), *dim))))
            }
        }
    }

    pub(super) fn start_sampling(&self, job: SampleJob) -> Result<Sampling, ModelError> {
        let (schedule, denoiser) = self.denoiser(&job.denoiser, job.canvas)?;
        let dim = match (&job.denoiser, &self.model) {
            (DenoiserChoice::Ideal { dim, .. }, _) => *dim,
            (DenoiserChoice::Learned, Some(m)) => match canvas_of(m, job.canvas) {
                Some((h, w)) => m.network.with_canvas(h, w)?.architecture().data_shape().dim(),
                None => m.network.architecture().data_shape().dim(),
            },
            (DenoiserChoice::Learned, None) => unreachable!("denoiser() checked the model"),
        };
        let chain = match job.start {
            ChainStart::Noise { n } => {
                if n == 0 {
                    return Err(ModelError::Data("sample at least one example".into()));
                }
                ReverseChain::from_noise(schedule, job.sampler, n, dim, job.seed)
            }
            ChainStart::Data { x0, t } => {
                if x0.is_empty() || x0.len() % dim != 0 {
                    return Err(ModelError::Data(format!(
                        "SDEdit needs examples of {dim} values; got {} values",
                        x0.len()
                    )));
                }
                ReverseChain::from_data(schedule, job.sampler, &x0, dim, t, job.seed)
            }
        };
        // Images live in [−1, 1]: clip x̂_0 there (points are unbounded).
        let image = match (&job.denoiser, &self.model) {
            (DenoiserChoice::Learned, Some(m)) => {
                matches!(m.network.architecture().data_shape(), DataShape::Image { .. })
            }
            _ => false,
        };
        let chain = if image { chain.clip_x0(-1.0, 1.0) } else { chain };
        // A learned model's chain checks that the sampler fits what the model predicts.
        let chain = match (&job.denoiser, &self.model) {
            (DenoiserChoice::Learned, Some(m)) => chain.for_objective(m.info.objective)?,
            _ => chain,
        };
        let chain = chain.panic_at_step(job.panic_at_step);
        let n = chain.x().len() / dim;
        let denoiser = super::guided(denoiser, job.guidance.as_ref(), n, job.seed)?;
        Ok(Sampling {
            generation: job.generation,
            chain,
            denoiser,
            paused: job.paused,
            pause_at: job.pause_at,
            rate: job.rate,
            next_step_at: Instant::now(),
        })
    }

    /// One step of the sampling job; ends the job at `t = 0`.
    pub(super) fn sample_step(&mut self) -> Result<(), ModelError> {
        let Some(Job::Sample(s)) = &mut self.job else {
            return Ok(());
        };
        let generation = s.generation;
        let frame = s.chain.step(&s.denoiser)?;
        let progress = s.chain.progress();
        let nfe = s.chain.nfe();
        let done = s.chain.is_done();
        let pause = !done && s.pause_at.is_some_and(|p| s.chain.t() <= p);
        if pause {
            s.pause_at = None;
        }
        if let Some(frame) = frame {
            self.emit(ModelEvent::SampleFrame {
                generation,
                frame,
                progress,
                nfe,
            });
        }
        if done {
            self.job = None;
        } else if pause {
            self.set_paused(true);
        }
        Ok(())
    }

    /// The whole paths of a [`PathsJob`]: its chain run to the end at once (a few samples:
    /// milliseconds for DDPM, tens of them for the probability flow).
    pub(super) fn paths(&self, job: PathsJob) -> Result<ChainPaths, ModelError> {
        if let Some(name) = &job.shipped {
            let model = shipped::load(name)
                .ok_or_else(|| ModelError::Data(format!("no shipped weights '{name}'")))??;
            let schedule = Schedule::new(&model.info.schedule)
                .map_err(|e| ModelError::Data(format!("the model's schedule: {e}")))?;
            let denoiser = Denoiser::Learned(model.network.inference()?);
            let dim = model.network.architecture().data_shape().dim();
            let chain = ReverseChain::from_noise(schedule, job.sampler, job.n, dim, job.seed)
                .for_objective(model.info.objective)?;
            return whole_paths(chain, &denoiser);
        }
        let sampling = self.start_sampling(SampleJob {
            generation: job.generation,
            denoiser: job.denoiser,
            sampler: job.sampler,
            start: ChainStart::Noise { n: job.n },
            seed: job.seed,
            rate: None,
            paused: false,
            pause_at: None,
            guidance: job.guidance,
            canvas: None,
            panic_at_step: None,
        })?;
        whole_paths(sampling.chain, &sampling.denoiser)
    }
}

/// Every frame of `chain` run to its end with `denoiser` (2D only).
fn whole_paths(mut chain: ReverseChain, denoiser: &Denoiser) -> Result<ChainPaths, ModelError> {
    if chain.dim() != 2 {
        return Err(ModelError::Data("paths are drawn for 2D points only".into()));
    }
    let mut frames = vec![(chain.t(), chain.x().to_vec())];
    while let Some(frame) = chain.step(denoiser)? {
        frames.push((frame.t, frame.x));
    }
    Ok(ChainPaths {
        frames,
        nfe: chain.nfe(),
    })
}
