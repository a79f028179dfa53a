//! `diffscope elbo`: the ELBO of a model on data, term by term, as CSV.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};

use super::model::VarianceName;
use super::{DataArgs, DataSource, ScheduleArgs, write_lines};
use crate::data;
use crate::diffusion::elbo::nearest_8bit_level;
use crate::diffusion::{IdealDenoiser, Schedule};
use crate::format::format_sig;
use crate::model::elbo::{self, ElboForm, ElboRequest};
use crate::model::sample::Denoiser;
use crate::model::{DataShape, Objective};
use crate::scene::{load_points, load_weights};

/// The most examples `--n` takes.
const MAX_N: usize = 1_000_000;

/// The model: learned weights or the ideal denoiser of the data.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ElboModel {
    /// A weights file, or the name of shipped weights (two-moons, …, digits). Its own
    /// schedule is used unless a schedule flag is given: then at each step t of that
    /// schedule the network is asked at the step of its own schedule with the same log SNR.
    #[arg(long, value_name = "W")]
    weights: Option<String>,
    /// The ideal denoiser of the N data points, under the schedule of --schedule, --steps, ….
    #[arg(long)]
    ideal: bool,
}

/// The two decompositions of the ELBO.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormName {
    /// L_recon + L_prior + Σ_{t≥2} L_t (denoising matching).
    Denoising,
    /// The lecture's consistency terms (two random variables per term).
    Consistency,
}

/// `diffscope elbo`.
#[derive(Debug, Args)]
pub struct ElboCmd {
    #[command(flatten)]
    model: ElboModel,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    schedule: ScheduleArgs,
    /// Number of examples (the first N of the data).
    #[arg(long, value_name = "N")]
    n: usize,
    /// Size of the data set the N examples are the first of [default: N]: a built-in set
    /// is drawn with M points (as the window draws M), and the ideal denoiser memorises all
    /// M examples (the whole CSV or all digits when given).
    #[arg(long, value_name = "M")]
    data_n: Option<usize>,
    /// Seed of the built-in set's points (the window's data seed).
    #[arg(long, default_value_t = 0, value_name = "S")]
    data_seed: u64,
    /// Which decomposition to estimate.
    #[arg(long, value_enum, default_value_t = FormName::Denoising)]
    form: FormName,
    /// σ_t² of the reverse steps p_θ(x_{t−1}|x_t).
    #[arg(long, value_enum, default_value_t = VarianceName::Beta)]
    variance: VarianceName,
    /// Seed of the Monte-Carlo noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where to write the terms as CSV `term,t,nats,std_err` (`-` for standard output).
    #[arg(long, value_name = "FILE|-")]
    csv: PathBuf,
}

/// The data set (`m × d`, `f32`; the examples are its first `n`), its shape and a name
/// for messages.
fn load_data(cmd: &ElboCmd) -> Result<(Vec<f32>, DataShape, String)> {
    let n = cmd.n;
    let m = cmd.data_n.unwrap_or(n);
    if m < n || m > MAX_N {
        bail!("--data-n must be in {n}..={MAX_N} (at least --n), got {m}");
    }
    let flat = |points: &[[f64; 2]]| points.iter().flatten().map(|&v| v as f32).collect();
    match cmd.data.source()? {
        DataSource::Dataset(dataset) => {
            let points = data::generate(dataset, m, cmd.data_seed);
            return Ok((flat(&points), DataShape::Points, dataset.name().to_owned()));
        }
        DataSource::Points(path) => {
            let points = load_points(path)?;
            if points.len() < n {
                bail!(
                    "--n {n} but '{}' holds only {} points",
                    path.display(),
                    points.len()
                );
            }
            let m = cmd.data_n.map_or(n, |m| m.min(points.len()));
            return Ok((flat(&points[..m]), DataShape::Points, path.display().to_string()));
        }
        DataSource::Image(_) => bail!("elbo takes --dataset, --points, --digits or --glyphs, not --image"),
        DataSource::Digits | DataSource::Glyphs => {}
    }
    let glyphs = matches!(cmd.data.source()?, DataSource::Glyphs);
    let (images, side, name) = if glyphs {
        let (images, _) = crate::scene::cached_glyphs();
        let images: Vec<&[f32]> = images.iter().map(Vec::as_slice).collect();
        (images, data::glyphs::GLYPH_SIDE, "glyph digits")
    } else {
        let digits = crate::scene::cached_digits()?;
        let images: Vec<&[f32]> = digits.images.iter().map(<[f32; 64]>::as_slice).collect();
        (images, data::DIGIT_SIDE, "digits")
    };
    if images.len() < n {
        bail!("--n {n} but there are only {} {name}", images.len());
    }
    // As 8-bit images (what the discretised decoder models), so that the ideal denoiser
    // memorises exactly the values the bound is of.
    let values = images[..m.min(images.len())]
        .iter()
        .copied()
        .flatten()
        .map(|&v| nearest_8bit_level(f64::from(v)) as f32)
        .collect();
    let shape = DataShape::Image {
        channels: 1,
        height: side,
        width: side,
    };
    Ok((values, shape, name.to_owned()))
}

/// A progress bar on a terminal's stderr (nothing elsewhere), redrawn at most ten times a
/// second.
struct Bar {
    terminal: bool,
    start: Instant,
    last: Option<Instant>,
}

impl Bar {
    fn update(&mut self, fraction: f64) {
        if !self.terminal
            || self
                .last
                .is_some_and(|l| l.elapsed() < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(Instant::now());
        let width = 30;
        let filled = ((fraction * width as f64) as usize).min(width);
        eprint!(
            "\r[{}{}] {:>3.0}%  {:.1} s ",
            "#".repeat(filled),
            ".".repeat(width - filled),
            fraction * 100.0,
            self.start.elapsed().as_secs_f64()
        );
        let _ = std::io::stderr().flush();
    }

    fn finish(&self) {
        if self.terminal && self.last.is_some() {
            eprint!("\r{}\r", " ".repeat(50));
        }
    }
}

/// `diffscope elbo`; `schedule_given` says whether a schedule flag was on the command line.
pub(super) fn elbo_cmd(cmd: &ElboCmd, schedule_given: bool) -> Result<()> {
    if cmd.n == 0 || cmd.n > MAX_N {
        bail!("--n must be in 1..={MAX_N}, got {}", cmd.n);
    }
    let given_schedule = cmd.schedule.build()?;
    let (data, shape, data_name) = load_data(cmd)?;
    let dim = shape.dim();
    let x0 = &data[..cmd.n * dim];
    let (denoiser, own, schedule, model_name) = if let Some(name) = &cmd.model.weights {
        let model = load_weights(name)?;
        if model.info.objective == Objective::FlowMatching {
            bail!(
                "'{name}' is a flow-matching model, which has no diffusion ELBO: its exact likelihood is \
                 `diffscope likelihood --weights {name}`"
            );
        }
        let model_shape = model.network.architecture().data_shape();
        if model_shape != shape {
            bail!("the model '{name}' denoises {model_shape}, the data are {shape}");
        }
        let own = Schedule::new(&model.info.schedule)?;
        let schedule = if schedule_given {
            given_schedule
        } else {
            own.clone()
        };
        (
            Denoiser::Learned(model.network.inference()?),
            Some(own),
            schedule,
            format!("'{name}'"),
        )
    } else {
        let data: Vec<f64> = data.iter().map(|&v| f64::from(v)).collect();
        let ideal = IdealDenoiser::new(data, dim);
        (
            Denoiser::Ideal(ideal),
            None,
            given_schedule,
            "the ideal denoiser".to_owned(),
        )
    };
    let form = match cmd.form {
        FormName::Denoising => ElboForm::Denoising,
        FormName::Consistency => ElboForm::Consistency,
    };
    let discrete = matches!(shape, DataShape::Image { .. });
    let mut bar = Bar {
        terminal: std::io::stderr().is_terminal(),
        start: Instant::now(),
        last: None,
    };
    let result = elbo::estimate_under(
        &denoiser,
        own.as_ref(),
        &ElboRequest {
            schedule: &schedule,
            variance: cmd.variance.into(),
            form,
            x0,
            dim,
            discrete,
            seed: cmd.seed,
        },
        &mut |f| {
            bar.update(f);
            true
        },
    );
    bar.finish();
    let report = result?;
    let lines = std::iter::once("term,t,nats,std_err".to_owned()).chain(
        report
            .terms
            .iter()
            .map(|term| format!("{},{},{},{}", term.kind.name(), term.t, term.nats, term.std_err)),
    );
    write_lines(&cmd.csv, lines)?;
    eprintln!(
        "−ELBO ({}, {}, {model_name} on {} examples of {data_name}, {}): {} ± {} nats per example, \
         {} ± {} bits/dim ({:.1} s)",
        form.label(),
        crate::diffusion::ReverseVariance::from(cmd.variance).label(),
        report.n,
        schedule.spec().describe(),
        format_sig(report.total_nats, 6),
        format_sig(report.total_std_err, 2),
        format_sig(report.bits_per_dim, 5),
        format_sig(report.bits_per_dim_std_err(), 2),
        bar.start.elapsed().as_secs_f64()
    );
    Ok(())
}
