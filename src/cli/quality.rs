//! `diffscope quality`: the quality-vs-steps chart of a 2D model as a table — SW2 of its
//! samples from held-out data against the network evaluations, for DDPM, DDIM and the
//! probability-flow ODE (a flow-matching model: Euler and Heun), next to the data's noise
//! floor.

use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;

use super::{DataArgs, DataSource};
use crate::diffusion::Schedule;
use crate::format::format_sig;
use crate::model::quality::{ChartModel, quality_chart};
use crate::model::sample::Denoiser;
use crate::model::train::TrainSet;
use crate::scene::load_points;

/// `diffscope quality`.
#[derive(Debug, Args)]
pub struct QualityCmd {
    /// A 2D model's weights file, or the name of shipped weights (two-moons, …).
    #[arg(long, value_name = "W")]
    weights: String,
    #[command(flatten)]
    data: DataArgs,
    /// Seed of the data's draw (held-out points and the noise floor's independent draw,
    /// as training draws them).
    #[arg(long, default_value_t = 1, value_name = "S")]
    data_seed: u64,
    /// Seed of the samplers' x_T (the same for all).
    #[arg(long, default_value_t = 0, value_name = "S")]
    seed: u64,
}

/// `diffscope quality`.
pub(super) fn quality_cmd(cmd: &QualityCmd) -> Result<()> {
    let set = match cmd.data.source()? {
        DataSource::Dataset(set) => TrainSet::dataset(set, cmd.data_seed),
        DataSource::Points(path) => {
            TrainSet::points(&path.display().to_string(), &load_points(path)?, cmd.data_seed)?
        }
        _ => bail!("quality takes 2D points: --dataset or --points"),
    };
    let model = super::likelihood::load_points_model(&cmd.weights, "the quality chart is drawn")?;
    let schedule = Schedule::new(&model.info.schedule)?;
    let denoiser = Denoiser::Learned(model.network.inference()?);
    let models = [ChartModel {
        denoiser: &denoiser,
        schedule: &schedule,
        objective: model.info.objective,
    }];
    let f64s = |v: &[f32]| -> Vec<f64> { v.iter().map(|&x| f64::from(x)).collect() };
    let held_out = f64s(&set.held_out);
    let reference = f64s(set.reference.as_deref().unwrap_or_default());
    let start = Instant::now();
    let chart =
        quality_chart(&models, &held_out, &reference, cmd.seed, &mut |_| true)?.expect("never stopped");
    println!("method,setting,nfe,sw2,sw2_over_floor");
    for curve in &chart.curves {
        for p in &curve.points {
            println!(
                "{},{},{},{},{}",
                curve.method.label(),
                p.setting,
                p.nfe,
                format_sig(p.sw2, 4),
                format_sig(p.sw2 / chart.noise_floor, 3)
            );
        }
    }
    eprintln!(
        "'{}' on {} ({} held-out points, seed {}): noise floor {}; {:.1} s",
        cmd.weights,
        set.name,
        chart.samples,
        cmd.data_seed,
        format_sig(chart.noise_floor, 4),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
