//! `diffscope vae train|elbo|sample`: the latent-variable models of the VAE → VDM tab
//! (a VAE, or a Markovian hierarchical VAE with learned or fixed encoders) on the
//! built-in 2D sets.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};

use super::model::{Progress, with_threads};
use super::{parse_dataset, parse_schedule_kind, write_lines};
use crate::data::{self, Dataset};
use crate::diffusion::{Schedule, ScheduleKind, ScheduleSpec};
use crate::format::format_sig;
use crate::model::mhvae::{Encoders, Mhvae, MhvaeConfig, MhvaeTrainer, level_times};
use crate::model::train::TrainSet;
use crate::model::vae::{
    self, Estimate, LatentCheckpoint, LatentModel, Vae, VaeConfig, VaeTrainSettings, VaeTrainer,
};

/// Examples the ELBO is estimated on at most.
const MAX_N: usize = 1_000_000;

/// `diffscope vae`.
#[derive(Debug, Subcommand)]
pub enum VaeCmd {
    /// Train a VAE or an MHVAE on a built-in 2D set and save its weights.
    Train(TrainArgs),
    /// The ELBO of a VAE or an MHVAE on a built-in 2D set, term by term (nats per example,
    /// standard errors), as CSV.
    Elbo(ElboArgs),
    /// Draw samples x ~ p_θ(x) (ancestrally) and write them as CSV.
    Sample(SampleArgs),
}

/// Which latent model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModelName {
    /// A VAE with a 2D latent.
    Vae,
    /// A Markovian hierarchical VAE with --levels 2D latents.
    Mhvae,
}

/// `diffscope vae train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The model.
    #[arg(long, value_enum, default_value_t = ModelName::Vae)]
    model: ModelName,
    /// The MHVAE's number of latents T (1..=8).
    #[arg(long, default_value_t = 4, value_name = "T")]
    levels: usize,
    /// MHVAE: fix the encoders to q(z_t|z_{t−1}) = N(√α_t z_{t−1}, (1−α_t) I) of --schedule
    /// (sub-chained at T of its steps); only the decoders train.
    #[arg(long)]
    fixed_encoders: bool,
    /// With --fixed-encoders: the levels span the whole schedule (ᾱ_T → 0); without, they
    /// end where ᾱ_t ≤ ½.
    #[arg(long, requires = "fixed_encoders")]
    to_noise: bool,
    /// The schedule the fixed encoders are taken from (default β's).
    #[arg(long, default_value = "linear", value_name = "NAME", value_parser = parse_schedule_kind)]
    schedule: ScheduleKind,
    /// Its number of steps.
    #[arg(long, default_value_t = 1000, value_name = "T")]
    steps: usize,
    /// The KL's weight β of the VAE's loss (β-VAE); the ELBO reported is at β = 1.
    #[arg(long, default_value_t = 1.0)]
    beta: f64,
    /// Training iterations [default: 20000 for the VAE, 8000 for the MHVAE].
    #[arg(long, value_name = "N")]
    iterations: Option<u64>,
    /// Examples per batch.
    #[arg(long, default_value_t = 256, value_name = "B")]
    batch: usize,
    /// Peak AdamW learning rate, cosine-decayed to a tenth [default: 3e-3 for the VAE,
    /// 1e-2 for the MHVAE].
    #[arg(long, value_name = "LR")]
    lr: Option<f32>,
    /// Hidden width of every MLP.
    #[arg(long, default_value_t = 64, value_name = "W")]
    hidden: usize,
    /// Hidden layers of every MLP (0: affine maps).
    #[arg(long, default_value_t = 2, value_name = "N")]
    layers: usize,
    /// Seed of the data, the initialisation and every random draw.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The built-in 2D data set: two-moons, swiss-roll, 8gaussians, checkerboard, circles, spiral.
    #[arg(long, alias = "dataset", default_value = "two-moons", value_name = "NAME", value_parser = parse_dataset)]
    data: Dataset,
    /// Threads (default: all cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Where to write the weights.
    #[arg(long, value_name = "W.safetensors")]
    out: PathBuf,
}

/// `diffscope vae elbo`.
#[derive(Debug, Args)]
pub struct ElboArgs {
    /// A weights file, or shipped weights: vae-two-moons, mhvae-two-moons, mhvae-vdm-two-moons.
    #[arg(long, value_name = "W")]
    weights: String,
    /// The built-in 2D data set [default: the one the model was trained on].
    #[arg(long, alias = "dataset", value_name = "NAME", value_parser = parse_dataset)]
    data: Option<Dataset>,
    /// Number of examples.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    n: usize,
    /// Seed of the data's points (the window's data seed).
    #[arg(long, default_value_t = 0, value_name = "S")]
    data_seed: u64,
    /// Draws of the latents per example.
    #[arg(long, default_value_t = 16, value_name = "K")]
    samples: usize,
    /// Seed of the Monte-Carlo noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where to write the terms as CSV `term,t,nats,std_err` (`-` for standard output).
    #[arg(long, value_name = "FILE|-", default_value = "-")]
    csv: PathBuf,
}

/// `diffscope vae sample`.
#[derive(Debug, Args)]
pub struct SampleArgs {
    /// A weights file, or shipped weights: vae-two-moons, mhvae-two-moons, mhvae-vdm-two-moons.
    #[arg(long, value_name = "W")]
    weights: String,
    /// Number of samples.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    n: usize,
    /// Seed of the latents and the decoders' noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// End at the last decoder's mean μ_θ(z_1) instead of a draw from p_θ(x|z_1) (as
    /// DDPM's sampler does at t = 1); for a VAE, μ_θ(z).
    #[arg(long)]
    no_final_noise: bool,
    /// The CSV to write (`x,y` per sample; `-` for standard output).
    #[arg(long, value_name = "FILE.csv|-")]
    out: PathBuf,
}

/// Runs `diffscope vae …`; `command_line` is recorded in trained weights.
pub(super) fn vae_cmd(cmd: &VaeCmd, command_line: String) -> Result<()> {
    match cmd {
        VaeCmd::Train(a) => train(a, command_line),
        VaeCmd::Elbo(a) => elbo(a),
        VaeCmd::Sample(a) => sample(a),
    }
}

/// Weights from a file or by a shipped name.
fn load_latent(name: &str) -> Result<LatentCheckpoint> {
    if let Some(shipped) = vae::shipped(name) {
        return Ok(shipped?);
    }
    Ok(vae::load(Path::new(name))?)
}

fn train(a: &TrainArgs, command_line: String) -> Result<()> {
    let defaults = match a.model {
        ModelName::Vae => VaeTrainSettings::default(),
        ModelName::Mhvae => VaeTrainSettings::mhvae(),
    };
    let iterations = a.iterations.unwrap_or(defaults.iterations);
    if iterations == 0 {
        bail!("--iterations must be at least 1");
    }
    if !(1..=4096).contains(&a.hidden) || a.layers > 16 {
        bail!("--hidden must be in 1..=4096 and --layers at most 16");
    }
    let settings = VaeTrainSettings {
        beta: a.beta,
        lr: a.lr.unwrap_or(defaults.lr),
        batch: a.batch,
        iterations,
        seed: a.seed,
    };
    let set = TrainSet::dataset(a.data, a.seed);
    let model = new_model(a)?;
    eprintln!(
        "training {} on {} ({} points), {iterations} iterations of batch {}",
        model.describe(),
        set.name,
        set.len(),
        a.batch
    );
    let (_, result) = with_threads(a.threads, || -> Result<LatentModel> {
        let mut progress = Progress::new();
        let mut ema: Option<f64> = None;
        let mut track = |elbo: f64, done: u64, force: bool| {
            let e = ema.map_or(elbo, |e| 0.99 * e + 0.01 * elbo);
            ema = Some(e);
            progress.update(done, iterations, &format!("ELBO {e:.4}"), force);
        };
        let trained = match model {
            LatentModel::Vae(v) => {
                let mut trainer = VaeTrainer::new(v, set.train.clone(), settings)?;
                while trainer.iteration() < iterations {
                    let loss = trainer.step()?;
                    track(
                        loss.recon - loss.kl,
                        trainer.iteration(),
                        trainer.iteration() == iterations,
                    );
                }
                LatentModel::Vae(trainer.vae().clone())
            }
            LatentModel::Mhvae(m) => {
                let mut trainer = MhvaeTrainer::new(m, set.train.clone(), settings)?;
                while trainer.iteration() < iterations {
                    let loss = trainer.step()?;
                    track(loss.elbo, trainer.iteration(), trainer.iteration() == iterations);
                }
                LatentModel::Mhvae(trainer.mhvae().clone())
            }
        };
        eprintln!();
        Ok(trained)
    })?;
    let model = result?;
    let held_out = held_out_elbo(&model, &set.held_out, a.seed)?;
    let checkpoint = LatentCheckpoint {
        model,
        dataset: set.name.clone(),
        iterations,
        seed: a.seed,
        command: command_line,
        beta: a.beta,
    };
    vae::save(&checkpoint, &a.out)?;
    eprintln!(
        "held-out ELBO {} ± {} nats per example ({} points, 16 draws each); wrote {}",
        format_sig(held_out.mean, 5),
        format_sig(held_out.std_err, 2),
        set.held_out.len() / 2,
        a.out.display()
    );
    Ok(())
}

/// The fresh model `vae train` trains.
fn new_model(a: &TrainArgs) -> Result<LatentModel> {
    Ok(match a.model {
        ModelName::Vae => {
            if a.fixed_encoders || a.to_noise {
                bail!("--fixed-encoders and --to-noise are for --model mhvae");
            }
            LatentModel::Vae(Vae::new(
                VaeConfig {
                    hidden: a.hidden,
                    layers: a.layers,
                    ..VaeConfig::two_d()
                },
                a.seed,
            ))
        }
        ModelName::Mhvae => {
            let encoders = if a.fixed_encoders {
                let source = Schedule::new(&ScheduleSpec::new(a.schedule, a.steps))?;
                let times = level_times(&source, a.levels, a.to_noise);
                if times.len() < a.levels {
                    bail!(
                        "a schedule of {} steps has fewer than --levels {} steps",
                        a.steps,
                        a.levels
                    );
                }
                Encoders::Fixed(source.subchain(&times)?)
            } else {
                Encoders::Learned
            };
            let config = MhvaeConfig {
                hidden: a.hidden,
                layers: a.layers,
                ..MhvaeConfig::two_d(a.levels, encoders)
            };
            config.validate()?;
            LatentModel::Mhvae(Mhvae::new(config, a.seed))
        }
    })
}

/// The ELBO of `model` on held-out points.
fn held_out_elbo(model: &LatentModel, x: &[f32], seed: u64) -> Result<Estimate> {
    Ok(match model {
        LatentModel::Vae(v) => v.elbo(x, 16, seed)?.elbo,
        LatentModel::Mhvae(m) => m.elbo(x, 16, seed)?.elbo,
    })
}

fn elbo(a: &ElboArgs) -> Result<()> {
    if a.n == 0 || a.n > MAX_N || a.samples == 0 || a.samples > 1024 {
        bail!("--n must be in 1..={MAX_N} and --samples in 1..=1024");
    }
    let checkpoint = load_latent(&a.weights)?;
    let dataset = match a.data {
        Some(d) => d,
        None => checkpoint.dataset.parse::<Dataset>().with_context(|| {
            format!(
                "'{}' was trained on '{}', not a built-in set: give --data",
                a.weights, checkpoint.dataset
            )
        })?,
    };
    let x: Vec<f32> = data::generate(dataset, a.n, a.data_seed)
        .iter()
        .flatten()
        .map(|&v| v as f32)
        .collect();
    let start = std::time::Instant::now();
    let mut rows: Vec<(String, usize, Estimate)> = Vec::new();
    let (elbo, what) = match &checkpoint.model {
        LatentModel::Vae(v) => {
            let e = v.elbo(&x, a.samples, a.seed)?;
            rows.push(("recon".into(), 1, e.recon));
            rows.push(("kl".into(), 1, e.kl));
            for (j, kl) in e.kl_per_dim.iter().enumerate() {
                rows.push((
                    "kl_dim".into(),
                    j + 1,
                    Estimate {
                        mean: *kl,
                        std_err: f64::NAN,
                    },
                ));
            }
            rows.push(("elbo".into(), 1, e.elbo));
            (
                e.elbo,
                format!(
                    "active units {} of {}, σ_x² = {}",
                    e.active_units,
                    e.active_variance.len(),
                    format_sig(e.decoder_variance, 4)
                ),
            )
        }
        LatentModel::Mhvae(m) => {
            let e = m.elbo(&x, a.samples, a.seed)?;
            let levels = m.config.levels;
            rows.push(("recon".into(), 1, e.recon));
            for (t, c) in e.consistency.iter().enumerate() {
                rows.push(("consistency".into(), t + 1, *c));
            }
            rows.push(("prior".into(), levels, e.prior));
            rows.push(("elbo".into(), levels, e.elbo));
            let mut what = String::new();
            if let Some(dm) = e.denoising {
                rows.push(("denoising_elbo".into(), levels, dm));
                what = format!(
                    "the ELBO tab's denoising-matching estimate {} ± {}",
                    format_sig(dm.mean, 6),
                    format_sig(dm.std_err, 2)
                );
            }
            if let Some(p) = e.prior_marginal {
                rows.push(("prior_marginal".into(), levels, p));
            }
            (e.elbo, what)
        }
    };
    let lines = std::iter::once("term,t,nats,std_err".to_owned()).chain(
        rows.iter()
            .map(|(name, t, e)| format!("{name},{t},{},{}", e.mean, e.std_err)),
    );
    write_lines(&a.csv, lines)?;
    eprintln!(
        "ELBO ({}, '{}' on {} points of {}, {} draws each): {} ± {} nats per example{}{what} ({:.1} s)",
        checkpoint.model.describe(),
        a.weights,
        a.n,
        dataset.name(),
        a.samples,
        format_sig(elbo.mean, 6),
        format_sig(elbo.std_err, 2),
        if what.is_empty() { "" } else { "; " },
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn sample(a: &SampleArgs) -> Result<()> {
    if a.n == 0 || a.n > MAX_N {
        bail!("--n must be in 1..={MAX_N}");
    }
    let checkpoint = load_latent(&a.weights)?;
    let (points, dim) = match &checkpoint.model {
        LatentModel::Vae(v) => (v.sample_with(a.n, a.seed, !a.no_final_noise)?, v.config.data_dim),
        LatentModel::Mhvae(m) => (
            m.generate_with(a.n, a.seed, !a.no_final_noise)?
                .pop()
                .unwrap_or_default(),
            m.config.data_dim,
        ),
    };
    let header = if dim == 2 {
        "x,y".to_owned()
    } else {
        (0..dim).map(|k| format!("x{k}")).collect::<Vec<_>>().join(",")
    };
    let lines = std::iter::once(header).chain(
        points
            .chunks_exact(dim)
            .map(|p| p.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")),
    );
    write_lines(&a.out, lines)
}
