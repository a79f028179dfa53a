//! Throughput of the 2D model, for `diffscope bench` and BENCHMARKS.md.

use std::time::Instant;

use super::mlp::{Mlp2d, MlpConfig};
use super::params::AdamW;
use super::train::{TrainSet, TrainSettings, Trainer};
use super::{Architecture, ModelError, Network, Objective};
use crate::data::Dataset;
use crate::diffusion::noise::fill_normal_f32;

/// Training iterations per second at `batch` (data-parallel over the current pool, as
/// [`Trainer::step`]), over `repeats` timed runs of `iters` (after one untimed run).
pub fn train_its(batch: usize, iters: usize, repeats: usize) -> Result<Vec<f64>, ModelError> {
    let mut model = Network::new(Architecture::Mlp2d(MlpConfig::default()), 1);
    let mut opt = AdamW::new(model.params(), 1e-3);
    let mut xt = vec![0f32; 2 * batch];
    let mut eps = vec![0f32; 2 * batch];
    fill_normal_f32(1, 1, &mut xt);
    fill_normal_f32(1, 2, &mut eps);
    let t: Vec<f32> = (0..batch).map(|i| (1 + i * 997 % 1000) as f32).collect();
    let mut out = Vec::new();
    for _ in 0..=repeats {
        let start = Instant::now();
        for _ in 0..iters {
            let (_, grads) = model.loss_and_grads_sharded(&xt, &t, &eps, &[])?;
            opt.step(model.params_mut(), &grads);
        }
        out.push(iters as f64 / start.elapsed().as_secs_f64());
    }
    out.remove(0);
    Ok(out)
}

/// Whole training iterations per second ([`Trainer::step`]: the batch drawn, `x_t` and
/// the target built, the step) of the 2D model on the two moons with `objective`, at
/// `batch`, over `repeats` timed runs of `iters` (after one untimed run).
pub fn trainer_its(
    objective: Objective,
    batch: usize,
    iters: usize,
    repeats: usize,
) -> Result<Vec<f64>, ModelError> {
    let mut out = Vec::new();
    for _ in 0..=repeats {
        let settings = TrainSettings {
            batch,
            iterations: iters as u64,
            ..TrainSettings::default()
        };
        let network = Network::new(Architecture::Mlp2d(MlpConfig::default()), 1);
        let mut trainer = Trainer::new(network, TrainSet::dataset(Dataset::TwoMoons, 1), settings)?
            .with_objective(objective)?;
        let start = Instant::now();
        while !trainer.is_done() {
            trainer.step()?;
        }
        out.push(iters as f64 / start.elapsed().as_secs_f64());
    }
    out.remove(0);
    Ok(out)
}

/// Point-steps per second of ε̂ evaluations on `points` points.
pub fn sample_rate(points: usize, steps: usize, repeats: usize) -> Result<Vec<f64>, ModelError> {
    let model = Mlp2d::new(MlpConfig::default(), 1);
    let inf = model.inference()?;
    let mut xt = vec![0f32; 2 * points];
    fill_normal_f32(1, 1, &mut xt);
    let mut out = Vec::new();
    for _ in 0..=repeats {
        let start = Instant::now();
        for s in 0..steps {
            let eps = inf.predict_eps(&xt, (1000 - s) as f32, &[])?;
            for (x, e) in xt.iter_mut().zip(&eps) {
                *x -= 0.01 * e;
            }
        }
        out.push((points * steps) as f64 / start.elapsed().as_secs_f64());
    }
    out.remove(0);
    Ok(out)
}
