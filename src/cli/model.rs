// Over 500 lines: the model commands (train, sample, bench with its three workloads) share their argument types and output helpers.
//! `diffscope train`, `diffscope sample` and `diffscope bench`.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use image::RgbImage;

use super::{DataArgs, DataSource, ScheduleArgs, write_lines};
use crate::data::glyphs::{GLYPH_CLASSES, GLYPH_SIDE};
use crate::diffusion::ReverseVariance;
use crate::export;
use crate::format::format_sig;
use crate::model::classes::{self, Guidance};
use crate::model::conv::ConvConfig;
use crate::model::mlp::MlpConfig;
use crate::model::sample::{Denoiser, ReverseChain, Sampler, SamplerKind};
use crate::model::train::{TrainSet, TrainSettings, Trainer};
use crate::model::unet::UNetConfig;
use crate::model::{Architecture, Checkpoint, DataShape, ModelInfo, Network, Objective, bench, io};
use crate::scene::load_weights;
use crate::scene::tile::grid_columns;

/// `diffscope train`.
#[derive(Debug, Args)]
pub struct TrainCmd {
    #[command(flatten)]
    source: DataArgs,
    #[command(flatten)]
    schedule: ScheduleArgs,
    /// Training iterations [default: 12000 for points, 4000 for images, 3000 for a photo].
    #[arg(long, value_name = "N")]
    iters: Option<u64>,
    /// Examples per batch [default: 256 for points, 128 for images, 8 crops of a photo].
    #[arg(long, value_name = "B")]
    batch: Option<usize>,
    /// Peak AdamW learning rate, cosine-decayed to a tenth [default: 2e-3 for points, 1e-3
    /// for images].
    #[arg(long, value_name = "LR")]
    lr: Option<f32>,
    /// Seed of the initialisation, the data split and every random draw.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Decay of the weights' moving average, which the file holds and sampling uses (0:
    /// the last step's weights) [default: 0.999 for images, 0 for points].
    #[arg(long, value_name = "D")]
    ema: Option<f32>,
    /// Hidden width of the 2D model (feature channels of the image model).
    #[arg(long, value_name = "W")]
    width: Option<usize>,
    /// Residual blocks.
    #[arg(long, value_name = "N")]
    blocks: Option<usize>,
    /// Threads for training (default: all cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Train a class-conditional model on the data's labels (the digits; the two moons,
    /// 8 gaussians, circles and spiral by their parts), for classifier-free guidance.
    #[arg(long)]
    conditional: bool,
    /// Share of a conditional model's batch trained without its label.
    #[arg(long, value_name = "P", default_value_t = crate::model::train::LABEL_DROPOUT)]
    label_dropout: f32,
    /// Glyph digits to train on with --glyphs (the first N of the window's seed; a tenth
    /// held out).
    #[arg(long, value_name = "N", default_value_t = 60_000)]
    glyph_count: usize,
    /// Continue from these weights (a file, or shipped weights' name) instead of a fresh
    /// network: same architecture, data and schedule; the learning rate's cosine starts
    /// again. The file written records both runs: the iterations summed, the commands
    /// joined by `&&`.
    #[arg(long, value_name = "W")]
    init: Option<String>,
    /// The training objective: `eps` (diffusion, L_simple) or `flow-matching` (the straight
    /// path's velocity; 2D data, unconditional).
    #[arg(long, value_enum, default_value_t = Objective::Epsilon)]
    objective: Objective,
    /// With --image: the long side, in pixels, of the photo the single-image model learns
    /// (the window's is 64).
    #[arg(long, value_name = "PX", default_value_t = crate::model::patch::PHOTO_SIDE)]
    side: usize,
    /// With --image: the side of the square training crops [default: 48, or the photo's
    /// short side if shorter].
    #[arg(long, value_name = "PX")]
    crop: Option<usize>,
    /// Where to write the weights.
    #[arg(long, value_name = "W.safetensors")]
    out: PathBuf,
}

/// The most glyph digits `train --glyphs` draws (3.1 KB each).
const MAX_GLYPHS: usize = 200_000;

/// The reverse variances on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum VarianceName {
    /// σ_t² = β_t.
    Beta,
    /// σ_t² = β̃_t, the posterior variance.
    BetaTilde,
}

impl From<VarianceName> for ReverseVariance {
    fn from(v: VarianceName) -> Self {
        match v {
            VarianceName::Beta => Self::Beta,
            VarianceName::BetaTilde => Self::PosteriorVariance,
        }
    }
}

/// `diffscope sample`.
#[derive(Debug, Args)]
pub struct SampleCmd {
    /// A weights file, or the name of shipped weights (two-moons, …, digits).
    #[arg(long, value_name = "W")]
    weights: String,
    /// Number of samples.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    n: usize,
    /// The reverse chain: ddpm, ddpm-posterior, ddim or ode for a diffusion model, euler or
    /// heun for a flow-matching one [default: ddpm, or euler for a flow-matching model].
    #[arg(long, value_enum)]
    sampler: Option<SamplerKind>,
    /// Steps K of DDIM, Euler or Heun (also `--steps`).
    #[arg(long, visible_alias = "steps", default_value_t = 50, value_name = "K")]
    ddim_steps: usize,
    /// η of DDIM, in [0, 1] (0: deterministic).
    #[arg(long, default_value_t = 0.0)]
    eta: f64,
    /// σ_t² of DDPM (beta-tilde turns `--sampler ddpm` into ddpm-posterior).
    #[arg(long, value_enum, default_value_t = VarianceName::Beta)]
    variance: VarianceName,
    /// Seed of x_T and of every step's noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The class to sample, for a class-conditional model: a number from 0, `any` (a class
    /// per sample, drawn uniformly: the default) or `none` (the unconditional branch).
    #[arg(long, value_name = "C")]
    class: Option<String>,
    /// Classifier-free guidance weight w ≥ 0 of a conditional model: ε̃ = (1 + w)·ε̂(x, c) −
    /// w·ε̂(x, ∅).
    #[arg(long, default_value_t = 0.0, value_name = "W")]
    guidance: f32,
    /// The canvas of a single-image model (`train --image`), width×height in pixels, e.g.
    /// `128x43` [default: the photo's size as it learned it].
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    size: Option<(usize, usize)>,
    /// Output: .csv for points; .png (grid of samples), .gif (the chain) or .csv (one image
    /// per row, its values channel-major in [-1, 1]; a conditional model's class in a `label`
    /// column first)
    /// for images.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// `diffscope bench`.
#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// Training iterations per second of the 2D model (batch 256).
    Train(BenchTrain),
    /// Point-steps per second of the 2D model's reverse chain.
    Sample(BenchSample),
    /// Steps per second a paced chain achieves on the `model` worker (the Reverse tab's
    /// speed setting), against the rate set.
    Pace(BenchPace),
}

/// `diffscope bench pace`.
#[derive(Debug, Args)]
pub struct BenchPace {
    /// Steps per second set.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Samples in the chain (the Reverse tab's default).
    #[arg(long, default_value_t = 1000)]
    points: usize,
    /// Steps per timed run (below the model's T = 1000).
    #[arg(long, default_value_t = 400)]
    steps: usize,
    /// Timed runs (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

/// `diffscope bench train`.
#[derive(Debug, Args)]
pub struct BenchTrain {
    /// Examples per batch.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Iterations per timed run.
    #[arg(long, default_value_t = 500)]
    iters: usize,
    /// Timed runs (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Time whole training iterations of the 2D model on the two moons with this
    /// objective (`eps` or `flow-matching`: each batch drawn as `train` draws it, then the
    /// step) instead of the network's step alone on a fixed batch.
    #[arg(long, value_enum)]
    objective: Option<Objective>,
}

/// `diffscope bench sample`.
#[derive(Debug, Args)]
pub struct BenchSample {
    /// Points in the chain.
    #[arg(long, default_value_t = 1000)]
    points: usize,
    /// Steps per timed run.
    #[arg(long, default_value_t = 200)]
    steps: usize,
    /// Timed runs (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

/// Runs `f` on a rayon pool of `threads` threads (all cores if `None`).
pub(super) fn with_threads<R: Send>(
    threads: Option<usize>,
    f: impl FnOnce() -> R + Send,
) -> Result<(usize, R)> {
    let n = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get));
    if n == 0 {
        bail!("--threads must be at least 1");
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .context("cannot start threads")?;
    Ok((n, pool.install(f)))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub(super) fn bench_cmd(cmd: &BenchCmd) -> Result<()> {
    match cmd {
        BenchCmd::Train(b) => {
            if b.batch == 0 || b.iters == 0 || b.runs == 0 {
                bail!("--batch, --iters and --runs must be at least 1");
            }
            let (n, runs) = with_threads(b.threads, || match b.objective {
                None => bench::train_its(b.batch, b.iters, b.runs),
                Some(objective) => bench::trainer_its(objective, b.batch, b.iters, b.runs),
            })?;
            let runs = runs?;
            let list: Vec<String> = runs.iter().map(|v| format!("{v:.0}")).collect();
            let what = b.objective.map_or_else(String::new, |o| {
                format!(", whole iterations on the two moons, objective {}", o.name())
            });
            println!(
                "train 2D model ({} parameters{what}), batch {}, {n} thread(s): {:.0} it/s (median of {} runs: {})",
                MlpConfig::default().parameter_count(),
                b.batch,
                median(runs.clone()),
                runs.len(),
                list.join(", ")
            );
        }
        BenchCmd::Sample(b) => {
            if b.points == 0 || b.steps == 0 || b.runs == 0 {
                bail!("--points, --steps and --runs must be at least 1");
            }
            let (n, runs) = with_threads(b.threads, || bench::sample_rate(b.points, b.steps, b.runs))?;
            let runs = runs?;
            let list: Vec<String> = runs.iter().map(|v| format!("{:.3}", v / 1e6)).collect();
            println!(
                "sample 2D model, {} points, {n} thread(s): {:.3} M point-steps/s (median of {} runs: {})",
                b.points,
                median(runs.clone()) / 1e6,
                runs.len(),
                list.join(", ")
            );
        }
        BenchCmd::Pace(b) => {
            let runs = pace(b)?;
            let list: Vec<String> = runs.iter().map(|v| format!("{v:.0}")).collect();
            println!(
                "paced chain, shipped two-moons model, {} points, {} steps/s set: {:.0} steps/s achieved \
                 (median of {} runs: {})",
                b.points,
                b.rate,
                median(runs.clone()),
                runs.len(),
                list.join(", ")
            );
        }
    }
    Ok(())
}

/// Runs `b.runs` chains on the `model` worker at `b.rate` steps/s (the window's path,
/// without the window) and returns the steps per second each achieved, from the arrival
/// times of its frames.
fn pace(b: &BenchPace) -> Result<Vec<f64>> {
    use crate::worker::model::{
        ChainStart, DenoiserChoice, ModelCommand, ModelEvent, ModelWorker, SampleJob,
    };
    if !b.rate.is_finite() || b.rate <= 0.0 || b.points == 0 || b.runs == 0 || !(1..1000).contains(&b.steps) {
        bail!("--rate must be positive, --points and --runs at least 1, --steps within 1..=999");
    }
    let worker = ModelWorker::spawn(Box::new(|| {}));
    worker.send(ModelCommand::UseShipped("two-moons".into()));
    match worker.recv_timeout(Duration::from_mins(1)) {
        Some(ModelEvent::ModelReady(_)) => {}
        other => bail!("the shipped two-moons model did not load: {other:?}"),
    }
    let mut out = Vec::with_capacity(b.runs);
    for run in 0..b.runs {
        let generation = run as u64 + 1;
        worker.send(ModelCommand::Sample(Box::new(SampleJob {
            generation,
            denoiser: DenoiserChoice::Learned,
            sampler: Sampler::Ddpm(ReverseVariance::Beta),
            start: ChainStart::Noise { n: b.points },
            seed: generation,
            rate: Some(b.rate),
            paused: false,
            pause_at: None,
            guidance: None,
            canvas: None,
            panic_at_step: None,
        })));
        let mut first: Option<(Instant, usize)> = None;
        loop {
            match worker.recv_timeout(Duration::from_mins(1)) {
                Some(ModelEvent::SampleFrame {
                    generation: g,
                    progress,
                    ..
                }) if g == generation => {
                    let now = Instant::now();
                    let (at, from) = *first.get_or_insert((now, progress.0));
                    if progress.0 >= from + b.steps {
                        out.push((progress.0 - from) as f64 / now.duration_since(at).as_secs_f64());
                        break;
                    }
                }
                Some(ModelEvent::Failed { message, .. }) => bail!("sampling failed: {message}"),
                Some(_) => {}
                None => bail!("no frame from the model worker for 60 s"),
            }
        }
        worker.send(ModelCommand::Cancel);
    }
    Ok(out)
}

/// A progress line on stderr, redrawn at most ten times a second.
pub(super) struct Progress {
    pub(super) start: Instant,
    last: Option<Instant>,
}

impl Progress {
    pub(super) fn new() -> Self {
        let now = Instant::now();
        Self {
            start: now,
            last: None,
        }
    }

    /// Redraws the bar (on a terminal; elsewhere, prints a line every ten seconds).
    pub(super) fn update(&mut self, done: u64, total: u64, tail: &str, force: bool) {
        use std::io::IsTerminal;
        let terminal = std::io::stderr().is_terminal();
        let every = Duration::from_millis(if terminal { 100 } else { 10_000 });
        if !force && self.last.is_some_and(|last| last.elapsed() < every) {
            return;
        }
        self.last = Some(Instant::now());
        let elapsed = self.start.elapsed().as_secs_f64();
        let rate = done as f64 / elapsed.max(1e-9);
        let eta = if rate > 0.0 {
            (total - done) as f64 / rate
        } else {
            0.0
        };
        let width = 30;
        let filled = (done as usize * width) / total.max(1) as usize;
        eprint!(
            "{}[{}{}] {:>3}% {done}/{total}  {rate:.0} it/s  ETA {eta:.0} s  {tail}   {}",
            if terminal { "\r" } else { "" },
            "#".repeat(filled),
            ".".repeat(width - filled),
            done * 100 / total.max(1),
            if terminal { "" } else { "\n" }
        );
        let _ = std::io::stderr().flush();
    }
}

/// The training set `train`'s data options name (`--glyph-count` bounds checked).
fn train_set(cmd: &TrainCmd) -> Result<TrainSet> {
    Ok(match cmd.source.source()? {
        DataSource::Dataset(ds) => TrainSet::dataset(ds, cmd.seed),
        DataSource::Points(path) => {
            let points = crate::scene::load_points(path)?;
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            TrainSet::points(&name, &points, cmd.seed)?
        }
        DataSource::Digits => TrainSet::digits(cmd.seed)?,
        DataSource::Glyphs => {
            if !(100..=MAX_GLYPHS).contains(&cmd.glyph_count) {
                bail!(
                    "--glyph-count must be in 100..={MAX_GLYPHS}, got {}",
                    cmd.glyph_count
                );
            }
            let (images, labels) = crate::data::glyphs::glyphs(cmd.glyph_count, crate::scene::GLYPH_SEED);
            let shape = DataShape::Image {
                channels: 1,
                height: GLYPH_SIDE,
                width: GLYPH_SIDE,
            };
            TrainSet::labelled_images("glyphs", shape, &images, &labels, GLYPH_CLASSES, cmd.seed)?
        }
        DataSource::Image(image) => photo_set(image, cmd.side, cmd.crop, cmd.seed)?.0,
    })
}

/// The single-image model's training set and network for `--image` (a file, or a
/// built-in photo's name unless a file of that name exists), its long side `side`.
fn photo_set(image: &str, side: usize, crop: Option<usize>, seed: u64) -> Result<(TrainSet, Architecture)> {
    let max = crate::model::patch::MAX_PHOTO_SIDE;
    if !(8..=max).contains(&side) {
        bail!("--side must be in 8..={max}, got {side}");
    }
    let path = std::path::Path::new(image);
    let scene = match image.parse::<crate::data::BuiltinImage>() {
        Ok(builtin) if !path.exists() => crate::scene::load(
            &crate::scene::SourceChoice::image(builtin),
            &crate::scene::SceneOptions {
                max_side: crate::data::DEFAULT_MAX_SIDE,
                n_points: 0,
                data_seed: 0,
                drawing: crate::data::drawing::DrawnPoints::default(),
                points_shown: crate::scene::DEFAULT_POINTS_SHOWN,
            },
        ),
        _ => crate::scene::load_file(path, crate::data::DEFAULT_MAX_SIDE),
    }?;
    let crate::scene::SceneData::Image(img) = &scene.data else {
        bail!("--image {image}: not an image");
    };
    Ok(crate::scene::prepare::photo_train_set(
        &scene.name,
        img,
        side,
        crop,
        seed,
    )?)
}

/// A fresh network of `arch`, or the weights `--init` names, checked to be the same
/// architecture trained on the same data (`dataset`) with the same schedule; with the
/// continued run's metadata.
fn initial_network(
    cmd: &TrainCmd,
    arch: Architecture,
    dataset: &str,
    settings: &TrainSettings,
) -> Result<(Network, Option<ModelInfo>)> {
    Ok(match &cmd.init {
        None => (Network::new(arch, cmd.seed), None),
        Some(name) => {
            let init = load_weights(name).with_context(|| format!("--init {name}"))?;
            if init.network.architecture() != arch {
                bail!(
                    "--init {name} is a {}, but this data and these options train a {arch}",
                    init.network.architecture()
                );
            }
            if init.info.objective != cmd.objective {
                bail!(
                    "--init {name} was trained by {}, not by {}",
                    init.info.objective,
                    cmd.objective
                );
            }
            if init.info.schedule != settings.schedule || init.info.dataset != dataset {
                bail!(
                    "--init {name} was trained on {} with {}, not on {} with {}",
                    init.info.dataset,
                    init.info.schedule.describe(),
                    dataset,
                    settings.schedule.describe()
                );
            }
            (init.network, Some(init.info))
        }
    })
}

pub(super) fn train_cmd(cmd: &TrainCmd, command_line: String) -> Result<()> {
    cmd.schedule.build()?;
    let set = train_set(cmd)?;
    let defaults = match cmd.source.source()? {
        DataSource::Image(_) => TrainSettings::for_photo(),
        _ => TrainSettings::for_shape(set.shape),
    };
    let settings = TrainSettings {
        schedule: cmd.schedule.spec(),
        lr: cmd.lr.unwrap_or(defaults.lr),
        batch: cmd.batch.unwrap_or(defaults.batch),
        iterations: cmd.iters.unwrap_or(defaults.iterations),
        seed: cmd.seed,
        ema: cmd.ema.unwrap_or(defaults.ema),
        label_dropout: cmd.label_dropout,
        ..defaults
    };
    if cmd.conditional && cmd.objective == Objective::FlowMatching {
        bail!("--conditional is for diffusion models: flow-matching models are unconditional here");
    }
    if cmd.conditional && set.classes == 0 {
        bail!(
            "--conditional needs labelled data ({} has no labels): --digits, or --dataset two-moons, 8gaussians, circles or spiral",
            set.name
        );
    }
    let classes = if cmd.conditional { set.classes } else { 0 };
    let arch = match cmd.source.source()? {
        DataSource::Image(image) => {
            let Architecture::Patch(d) = photo_set(image, cmd.side, cmd.crop, cmd.seed)?.1 else {
                unreachable!("a photo trains the single-image model")
            };
            Architecture::Patch(crate::model::patch::PatchConfig {
                features: cmd.width.unwrap_or(d.features),
                blocks: cmd.blocks.unwrap_or(d.blocks),
                ..d
            })
        }
        _ => architecture(cmd, set.shape, classes),
    };
    if arch.parameter_count() == 0 || arch.parameter_count() > 50_000_000 {
        bail!(
            "--width and --blocks give {} parameters (1..50M allowed)",
            arch.parameter_count()
        );
    }
    let (network, before) = initial_network(cmd, arch, &set.name, &settings)?;
    let mut trainer = Trainer::new(network, set, settings)?.with_objective(cmd.objective)?;
    trainer.set_command(match &before {
        Some(info) if !info.command.is_empty() => format!("{} && {command_line}", info.command),
        _ => command_line,
    });
    eprintln!(
        "training {arch} by {} on {} ({} examples), {}, {} iterations of batch {}",
        trainer.objective(),
        trainer.set().name,
        trainer.set().len(),
        trainer.settings().schedule.describe(),
        trainer.settings().iterations,
        trainer.settings().batch
    );

    let (_, result) = with_threads(cmd.threads, || -> Result<Checkpoint> {
        let mut progress = Progress::new();
        let mut ema: Option<f64> = None;
        let total = trainer.settings().iterations;
        while !trainer.is_done() {
            let loss = f64::from(trainer.step()?);
            let e = ema.map_or(loss, |e| 0.99 * e + 0.01 * loss);
            ema = Some(e);
            progress.update(trainer.iteration(), total, &format!("loss {e:.4}"), false);
        }
        progress.update(
            trainer.iteration(),
            total,
            &format!("loss {:.4}", ema.unwrap_or(0.0)),
            true,
        );
        eprintln!();
        let eval = trainer.evaluate(true)?;
        eprint!("validation loss {}", format_sig(eval.validation_loss, 4));
        if let (Some(m), Some(f)) = (eval.metric, eval.noise_floor) {
            eprint!(
                "; sample quality SW2 {} vs noise floor {} ({:.2}×)",
                format_sig(m, 3),
                format_sig(f, 3),
                m / f
            );
        }
        eprintln!(" in {:.1} s", progress.start.elapsed().as_secs_f64());
        Ok(trainer.model())
    })?;
    let mut model = result?;
    if let Some(info) = before {
        model.info.iterations += info.iterations;
    }
    io::save(&model, &cmd.out)?;
    eprintln!("wrote {}", cmd.out.display());
    Ok(())
}

/// The network `train` builds for data of `shape`: the defaults, `--width` and `--blocks`,
/// conditional on `classes` (0: unconditional). Images of 28×28 and up whose sides are
/// multiples of 4 (the glyph digits) get the U-Net (`--width` its `F`, `--blocks` its
/// middle blocks), smaller ones (the 8×8 digits) the conv net.
fn architecture(cmd: &TrainCmd, shape: DataShape, classes: usize) -> Architecture {
    match shape {
        DataShape::Points => {
            let d = MlpConfig::default();
            Architecture::Mlp2d(MlpConfig {
                hidden: cmd.width.unwrap_or(d.hidden),
                blocks: cmd.blocks.unwrap_or(d.blocks),
                classes,
                ..d
            })
        }
        DataShape::Image {
            channels,
            height,
            width,
        } if height >= 28 && height.is_multiple_of(4) && width.is_multiple_of(4) => {
            let d = UNetConfig::glyphs();
            Architecture::UNet(UNetConfig {
                channels,
                height,
                width,
                features: cmd.width.unwrap_or(d.features),
                mid_blocks: cmd.blocks.unwrap_or(d.mid_blocks),
                classes,
            })
        }
        DataShape::Image {
            channels,
            height,
            width,
        } => {
            let d = ConvConfig::for_image(channels, height, width);
            Architecture::Conv(ConvConfig {
                features: cmd.width.unwrap_or(d.features),
                blocks: cmd.blocks.unwrap_or(d.blocks),
                classes,
                ..d
            })
        }
    }
}

pub(super) fn sample_cmd(cmd: &SampleCmd) -> Result<()> {
    if !(0.0..=1.0).contains(&cmd.eta) {
        bail!("--eta must be in [0, 1], got {}", cmd.eta);
    }
    if cmd.n == 0 || cmd.n > 1_000_000 {
        bail!("--n must be in 1..=1000000, got {}", cmd.n);
    }
    let mut model = load_weights(&cmd.weights)?;
    let objective = model.info.objective;
    let kind = sampler_kind(cmd, objective)?;
    if let Some((width, height)) = cmd.size {
        model.network = model
            .network
            .with_canvas(height, width)
            .with_context(|| format!("--size {width}x{height}"))?;
    }
    let schedule = crate::diffusion::Schedule::new(&model.info.schedule)?;
    let sampler = kind.sampler(cmd.ddim_steps, cmd.eta);
    let shape = model.network.architecture().data_shape();
    let ext = cmd
        .out
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match (shape, ext.as_str()) {
        (DataShape::Points, "csv") | (DataShape::Image { .. }, "png" | "gif" | "csv") => {}
        (DataShape::Points, _) => bail!("points are written as .csv, not '{}'", cmd.out.display()),
        (DataShape::Image { .. }, _) => {
            bail!(
                "images are written as .png, .gif or .csv, not '{}'",
                cmd.out.display()
            )
        }
    }
    let labels = class_labels(cmd, model.network.classes())?;
    let denoiser = match &labels {
        None => Denoiser::Learned(model.network.inference()?),
        Some(labels) => Denoiser::Guided(
            model.network.inference()?,
            Guidance {
                labels: labels.clone(),
                weight: cmd.guidance,
            },
        ),
    };
    let mut chain =
        ReverseChain::from_noise(schedule, sampler, cmd.n, shape.dim(), cmd.seed).for_objective(objective)?;
    if matches!(shape, DataShape::Image { .. }) {
        chain = chain.clip_x0(-1.0, 1.0);
    }
    let mut progress = Progress::new();
    let total = chain.progress().1 as u64;
    let mut frames: Vec<Vec<f32>> = vec![chain.x().to_vec()];
    let keep_frames = ext == "gif";
    while let Some(frame) = chain.step(&denoiser)? {
        progress.update(
            chain.progress().0 as u64,
            total,
            &format!("t = {}", frame.t),
            false,
        );
        if keep_frames {
            frames.push(frame.x);
        }
    }
    progress.update(total, total, "t = 0", true);
    eprintln!();
    let x = chain.x();
    match shape {
        DataShape::Points => write_csv(&cmd.out, x, &["x".into(), "y".into()], labels.as_deref())?,
        DataShape::Image {
            channels,
            height,
            width,
        } => {
            let tile = |values: &[f32]| sample_grid(values, channels, height, width);
            if ext == "csv" {
                let names: Vec<String> = (0..shape.dim()).map(|i| format!("p{i}")).collect();
                write_csv(&cmd.out, x, &names, labels.as_deref())?;
            } else if keep_frames {
                let step = (frames.len() / 100).max(1);
                let mut picked: Vec<RgbImage> = frames.iter().step_by(step).map(|f| tile(f)).collect();
                picked.push(tile(x));
                export::write_gif(picked, 50, &cmd.out, &mut |_| true)?;
            } else {
                export::save_png(&tile(x), &cmd.out)?;
            }
        }
    }
    eprintln!(
        "wrote {} ({} samples of the {} model, {}{})",
        cmd.out.display(),
        cmd.n,
        objective,
        sampler.describe(),
        chain
            .nfe()
            .map_or_else(String::new, |n| format!(", {n} network evaluations"))
    );
    Ok(())
}

/// The sampler `--sampler` and `--variance` ask for a model trained with `objective`
/// (without `--sampler`: the model's default, DDPM or Euler), checked to fit it.
fn sampler_kind(cmd: &SampleCmd, objective: Objective) -> Result<SamplerKind> {
    // `--variance` predates `ddpm-posterior`; both spellings stay.
    let kind = match (
        cmd.sampler.unwrap_or(SamplerKind::default_for(objective)),
        cmd.variance,
    ) {
        (SamplerKind::DdpmBeta, VarianceName::BetaTilde) => SamplerKind::DdpmPosterior,
        (kind, _) => kind,
    };
    kind.check_fits(objective)
        .with_context(|| format!("--weights {}", cmd.weights))?;
    if kind.strided() && cmd.ddim_steps == 0 {
        bail!("--ddim-steps must be at least 1");
    }
    Ok(kind)
}

/// `WxH` (or `W×H`) as `(width, height)`, both at least 1.
fn parse_size(s: &str) -> Result<(usize, usize), String> {
    let (w, h) = s
        .split_once(['x', 'X', '×'])
        .ok_or_else(|| format!("'{s}' is not WIDTHxHEIGHT (e.g. 128x43)"))?;
    let side = |v: &str| -> Result<usize, String> {
        match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("'{s}': '{v}' is not a positive whole number of pixels")),
        }
    };
    Ok((side(w)?, side(h)?))
}

/// Samples as CSV: a header of `names` (one per value of a sample), one sample per row;
/// with `labels`, a `label` column first.
fn write_csv(out: &std::path::Path, x: &[f32], names: &[String], labels: Option<&[usize]>) -> Result<()> {
    let header = labels
        .iter()
        .map(|_| "label".to_owned())
        .chain(names.iter().cloned())
        .collect::<Vec<_>>()
        .join(",");
    let rows = x.chunks_exact(names.len()).enumerate().map(|(i, sample)| {
        labels
            .iter()
            .map(|l| l[i].to_string())
            .chain(sample.iter().map(ToString::to_string))
            .collect::<Vec<_>>()
            .join(",")
    });
    write_lines(out, std::iter::once(header).chain(rows))
}

/// The class of each sample that `--class` and `--guidance` ask of a model of `classes`
/// classes (`None`: no labels — an unconditional model, or `--class none`: a conditional
/// model's unconditional branch). Without `--class` a conditional model samples any class,
/// as the window does: its best model of the data, `Σ_c p(c) p(x | c)`.
fn class_labels(cmd: &SampleCmd, classes: usize) -> Result<Option<Vec<usize>>> {
    if !(cmd.guidance.is_finite() && (0.0..=MAX_GUIDANCE).contains(&cmd.guidance)) {
        bail!("--guidance must be in [0, {MAX_GUIDANCE}], got {}", cmd.guidance);
    }
    if classes == 0 {
        if cmd.class.is_some() || cmd.guidance != 0.0 {
            bail!(
                "{}: this model was trained without labels, so it cannot sample a class or be guided (train one with `diffscope train --conditional`)",
                cmd.weights
            );
        }
        return Ok(None);
    }
    match cmd.class.as_deref().unwrap_or("any") {
        "any" => Ok(Some(classes::draw_labels(classes, cmd.n, cmd.seed))),
        "none" if cmd.guidance != 0.0 => {
            bail!("--guidance guides towards a class: --class none samples the unconditional branch unguided")
        }
        "none" => Ok(None),
        class => match class.parse::<usize>() {
            Ok(c) if c < classes => Ok(Some(vec![c; cmd.n])),
            _ => bail!(
                "--class '{class}' is not a class of {} (0 to {}, any, or none)",
                cmd.weights,
                classes - 1
            ),
        },
    }
}

/// The largest `--guidance` taken (the window's slider goes to 8).
const MAX_GUIDANCE: f32 = 50.0;

/// A square-ish grid of image samples (CHW values), each scaled up to at least 64 px, laid
/// out by [`export::grid`] (its margins and gaps).
#[must_use]
pub fn sample_grid(values: &[f32], channels: usize, height: usize, width: usize) -> RgbImage {
    let d = channels * height * width;
    let cols = grid_columns(values.len() / d.max(1), height, width);
    let scale = (64 / height.max(width)).max(1) as u32;
    let cells: Vec<Vec<RgbImage>> = values
        .chunks_exact(d.max(1))
        .collect::<Vec<_>>()
        .chunks(cols.max(1))
        .map(|row| {
            row.iter()
                .map(|im| {
                    let hwc = crate::model::chw_to_hwc(im, channels, height, width);
                    let img = export::image_to_rgb(&hwc, width as u32, height as u32, channels as u8);
                    image::imageops::resize(
                        &img,
                        width as u32 * scale,
                        height as u32 * scale,
                        image::imageops::FilterType::Nearest,
                    )
                })
                .collect()
        })
        .collect();
    export::grid(&cells, &[], &[])
}
