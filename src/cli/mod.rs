//! The command line: clap definitions and the headless commands.
//!
//! Every command prints one line `error: …` on stderr and exits with code 2 on bad
//! input; nothing here panics on user input.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::data::{self, Dataset};
use crate::diffusion::schedule::ScheduleRow;
use crate::diffusion::{Schedule, ScheduleKind, ScheduleSpec};
use crate::scene::SourceChoice;

mod elbo;
mod likelihood;
mod markov;
mod model;
mod quality;
mod render;
mod vae;

/// diffscope: see diffusion models work — the forward chain, the learned reverse chain
/// and the ELBO, with exact numbers. Without a command, it opens the window.
#[derive(Debug, Parser)]
#[command(name = "diffscope", version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// A headless command; without one, diffscope opens its window.
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    window: WindowArgs,
}

/// Options of the window.
#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools, reason = "independent command-line switches")]
struct WindowArgs {
    /// An image (PNG, JPEG, GIF, BMP, WebP) or points CSV to open in the window.
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// Start on built-in data: astronaut, camera, cat, digits, or a 2D set (two-moons, …).
    #[arg(long, value_name = "NAME")]
    data: Option<String>,
    /// Start at this t.
    #[arg(long, value_name = "T")]
    t: Option<usize>,
    /// Start on this tab.
    #[arg(long, value_parser = ["vae", "markov", "forward", "reverse", "compare", "elbo"])]
    tab: Option<String>,
    /// Start the reverse chain once the window is up (the ideal denoiser if no learned
    /// model fits the data); with --screenshot, the picture waits for the chain to finish.
    #[arg(long)]
    sample: bool,
    /// With --sample: the chain pauses by itself at the first step that reaches t ≤ T (as
    /// if Space were pressed there); with --screenshot, the picture is of that step.
    #[arg(long, value_name = "T", requires = "sample")]
    pause_at: Option<usize>,
    /// The canvas a photo's single-image model samples: photo (its size), wide (2× wide)
    /// or large (2× wide and tall).
    #[arg(long, value_parser = ["photo", "wide", "large"])]
    canvas: Option<String>,
    /// The Reverse tab's sampler (`--sampler ode`: the probability-flow ODE, with DDPM's
    /// paths from the same x_T beside its own).
    #[arg(long, value_enum, value_name = "NAME")]
    sampler: Option<crate::model::sample::SamplerKind>,
    /// The Reverse tab shows a 2D model's quality-vs-steps chart (SW2 against network
    /// evaluations for DDPM, DDIM and the ODE); with --screenshot, the picture waits for it.
    #[arg(long)]
    quality: bool,
    /// Start training a model on the data on screen once the window is up.
    #[arg(long, conflicts_with = "sample")]
    train: bool,
    /// The ELBO tab shows a 2D model's density view (its probability-flow log p_θ on a
    /// grid, beside its samples); with --screenshot, the picture waits for it.
    #[arg(long)]
    density: bool,
    /// Window size in points, WIDTHxHEIGHT.
    #[arg(long, default_value = "1440x900", value_parser = parse_size, value_name = "WxH")]
    size: [f32; 2],
    /// Start from the default settings and do not save them.
    #[arg(long)]
    fresh: bool,
    /// Save a screenshot of the window to this PNG once it has settled, then quit.
    #[arg(long, value_name = "FILE.png")]
    screenshot: Option<PathBuf>,
    /// Show the frame-time overlay, and print frame-time statistics on exit.
    #[arg(long)]
    frame_stats: bool,
    /// Start in presentation mode (F5 enters it, Esc leaves it).
    #[arg(long)]
    present: bool,
    /// Start in draw mode: with 2D points on screen, the Forward tab's first view is the
    /// drawing canvas (left-drag draws, right-drag erases).
    #[arg(long)]
    draw: bool,
    /// Open the presenter view: a second window for the projector shows the presentation
    /// picture, this one keeps the controls and the chapter's notes (F6 opens and closes it).
    #[arg(long)]
    presenter: bool,
    /// UI scale, 0.5 to 3 (1.5 = 150 %: a 1920×1080 window then lays out as 1280×720).
    #[arg(long, value_parser = parse_zoom, value_name = "SCALE")]
    zoom: Option<f32>,
    /// Open a deck of chapters: a deck file (TOML, see README), or `lecture` for the
    /// built-in one. PageDown/PageUp step through the chapters.
    #[arg(long, value_name = "FILE|lecture")]
    deck: Option<String>,
    /// Open the deck at this chapter (1 is the first).
    #[arg(long, value_name = "N", requires = "deck", value_parser = clap::value_parser!(u32).range(1..))]
    chapter: Option<u32>,
}

fn parse_zoom(s: &str) -> Result<f32, String> {
    s.trim()
        .trim_end_matches('%')
        .parse::<f32>()
        .ok()
        .map(|v| if s.trim().ends_with('%') { v / 100.0 } else { v })
        .filter(|v| (0.5..=3.0).contains(v))
        .ok_or_else(|| format!("expected a UI scale between 0.5 and 3 (or 50% to 300%), got '{s}'"))
}

fn parse_size(s: &str) -> Result<[f32; 2], String> {
    let (w, h) = s
        .split_once(['x', '×'])
        .ok_or_else(|| format!("expected WIDTHxHEIGHT, got '{s}'"))?;
    let parse = |v: &str| {
        v.trim()
            .parse::<f32>()
            .ok()
            .filter(|v| (200.0..=8000.0).contains(v))
    };
    match (parse(w), parse(h)) {
        (Some(w), Some(h)) => Ok([w, h]),
        _ => Err(format!("expected WIDTHxHEIGHT between 200 and 8000, got '{s}'")),
    }
}

impl WindowArgs {
    /// The app's run options, or a one-line error.
    fn run_options(&self) -> Result<crate::app::RunOptions> {
        use crate::app::settings::Tab;
        let source = match &self.data {
            None => None,
            Some(name) => Some(SourceChoice::from_name(name).ok_or_else(|| {
                anyhow::anyhow!("unknown data '{name}' (valid: {})", crate::scene::BUILTIN_NAMES)
            })?),
        };
        Ok(crate::app::RunOptions {
            file: self.file.clone(),
            fresh: self.fresh || self.screenshot.is_some(),
            t: self.t,
            tab: self.tab.as_deref().and_then(Tab::from_name),
            source,
            screenshot: self.screenshot.clone(),
            frame_times: self.frame_stats,
            sample: self.sample,
            pause_at: self.pause_at,
            canvas: self.canvas.as_deref().map(|c| match c {
                "wide" => crate::app::settings::Canvas::Wide,
                "large" => crate::app::settings::Canvas::Large,
                _ => crate::app::settings::Canvas::Photo,
            }),
            train: self.train,
            sampler: self.sampler,
            quality: self.quality,
            density: self.density,
            present: self.present,
            presenter: self.presenter,
            draw: self.draw,
            zoom: self.zoom,
            deck: self.deck.as_deref().map(crate::app::deck::DeckSource::from_arg),
            chapter: self.chapter.map_or(0, |n| n as usize - 1),
        })
    }
}

/// The headless commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a noise schedule's table (t, α, β, ᾱ, log SNR, β̃) as CSV.
    Schedule(ScheduleCmd),
    /// Render frames of a chain to PNG or GIF.
    #[command(subcommand)]
    Render(RenderCmd),
    /// Write the normalised points of a built-in 2D data set as CSV.
    Data(DataCmd),
    /// Train a denoiser (the 2D MLP; the conv net for the digits; the U-Net for the glyph
    /// digits; for a photo, the single-image model of its patches) and save its weights.
    Train(model::TrainCmd),
    /// Run the learned reverse chain from noise and write the samples.
    Sample(model::SampleCmd),
    /// Measure training and sampling speed of the 2D model.
    #[command(subcommand)]
    Bench(model::BenchCmd),
    /// Estimate the ELBO of a model on data, term by term (nats, bits/dim, standard errors).
    Elbo(elbo::ElboCmd),
    /// The exact log-likelihood of 2D points under a model's probability-flow ODE, and its
    /// density on a grid.
    Likelihood(likelihood::LikelihoodCmd),
    /// Sample quality against network evaluations for a 2D model: SW2 from held-out data
    /// for DDPM, DDIM and the probability-flow ODE (flow matching: Euler, Heun) at 1 to
    /// 1000 evaluations (CSV).
    Quality(quality::QualityCmd),
    /// A finite Markov chain: p_n = p_0 Pⁿ, its classes, stationary distributions and |λ₂|.
    Markov(markov::MarkovCmd),
    /// The VAE and the Markovian hierarchical VAE of the VAE → VDM tab: train, ELBO, sample.
    #[command(subcommand)]
    Vae(vae::VaeCmd),
}

/// A schedule and its parameters, shared by every command that needs one.
#[derive(Debug, Clone, Args)]
pub struct ScheduleArgs {
    /// The noise schedule.
    #[arg(long, default_value = "linear", value_name = "NAME", value_parser = parse_schedule_kind,
          help = "Noise schedule: linear, cosine, quadratic, sigmoid (on ᾱ) or constant")]
    pub schedule: ScheduleKind,
    /// The number of steps T (2..=100000).
    #[arg(long, default_value_t = 1000, value_name = "T")]
    pub steps: usize,
    /// β_1 of linear and quadratic [default: 1e-4·1000/T].
    #[arg(long, value_name = "B")]
    pub beta_start: Option<f64>,
    /// β_T of linear and quadratic [default: 0.02·1000/T].
    #[arg(long, value_name = "B")]
    pub beta_end: Option<f64>,
    /// β of the constant schedule [default: 0.02].
    #[arg(long, value_name = "B")]
    pub beta: Option<f64>,
    /// Rescale the schedule so that ᾱ_T = 0 exactly (Lin et al. 2024).
    #[arg(long)]
    pub zero_terminal_snr: bool,
}

fn parse_schedule_kind(s: &str) -> Result<ScheduleKind, crate::diffusion::ScheduleError> {
    s.parse()
}

impl ScheduleArgs {
    /// The spec these arguments describe.
    #[must_use]
    pub fn spec(&self) -> ScheduleSpec {
        ScheduleSpec {
            kind: self.schedule,
            steps: self.steps,
            beta_start: self.beta_start,
            beta_end: self.beta_end,
            beta: self.beta,
            zero_terminal_snr: self.zero_terminal_snr,
        }
    }

    /// The schedule, or a clear error.
    pub fn build(&self) -> Result<Schedule> {
        Ok(Schedule::new(&self.spec())?)
    }
}

/// `diffscope schedule`.
#[derive(Debug, Args)]
pub struct ScheduleCmd {
    #[command(flatten)]
    schedule: ScheduleArgs,
    /// Where to write the CSV (`-` for standard output).
    #[arg(long, value_name = "FILE|-")]
    csv: PathBuf,
}

/// What `diffscope render` can render.
#[derive(Debug, Subcommand)]
pub enum RenderCmd {
    /// The forward chain x_0 → x_T: a PNG strip of x_t at chosen t, and/or a GIF.
    Forward(render::ForwardCmd),
}

/// Where the data comes from: exactly one of an image, a built-in 2D set, a points CSV
/// or the digits (shared by `render forward`, `train` and `elbo`; each says which it takes).
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct DataArgs {
    /// An image file (PNG, JPEG, GIF, BMP, WebP), or a built-in one: astronaut, camera, cat
    /// (`render forward`; `train`: the single-image model of the photo).
    #[arg(long, value_name = "FILE")]
    image: Option<String>,
    /// A built-in 2D data set: two-moons, swiss-roll, 8gaussians, checkerboard, circles, spiral.
    #[arg(long, value_name = "NAME", value_parser = parse_dataset)]
    dataset: Option<Dataset>,
    /// A CSV of 2D points: two numeric columns, optional header (standardised on load).
    #[arg(long, value_name = "FILE.csv")]
    points: Option<PathBuf>,
    /// The embedded 8×8 handwritten digits (1797 images; `train`, `elbo`, and `render
    /// forward`, where --discrete runs D3PM's chain on their intensity levels).
    #[arg(long)]
    digits: bool,
    /// The 28×28 glyph digits rendered from the embedded fonts (`train`, `elbo`, `render
    /// forward`; train draws --glyph-count of them, the window and elbo use its 2000).
    #[arg(long)]
    glyphs: bool,
}

/// The one data source [`DataArgs`] names.
#[derive(Debug)]
pub enum DataSource<'a> {
    /// `--image`: a file, or a built-in image's name.
    Image(&'a str),
    /// `--dataset`.
    Dataset(Dataset),
    /// `--points`.
    Points(&'a Path),
    /// `--digits`.
    Digits,
    /// `--glyphs`.
    Glyphs,
}

impl DataArgs {
    /// The source given (clap makes sure there is exactly one).
    fn source(&self) -> Result<DataSource<'_>> {
        if let Some(image) = &self.image {
            Ok(DataSource::Image(image))
        } else if let Some(dataset) = self.dataset {
            Ok(DataSource::Dataset(dataset))
        } else if let Some(points) = &self.points {
            Ok(DataSource::Points(points))
        } else if self.digits {
            Ok(DataSource::Digits)
        } else if self.glyphs {
            Ok(DataSource::Glyphs)
        } else {
            bail!("one of --image, --dataset, --points, --digits, --glyphs is required")
        }
    }
}

fn parse_dataset(s: &str) -> Result<Dataset, data::DataError> {
    s.parse()
}

/// `diffscope data`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["dataset", "glyphs"])))]
pub struct DataCmd {
    /// The built-in 2D data set: two-moons, swiss-roll, 8gaussians, checkerboard, circles, spiral.
    #[arg(long, value_name = "NAME", value_parser = parse_dataset)]
    dataset: Option<Dataset>,
    /// The 28×28 glyph digits instead: one per row, its label then 784 values in [-1, 1]
    /// (the window's and `train --glyphs`' are those of seed 1).
    #[arg(long)]
    glyphs: bool,
    /// Number of points (glyphs).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    n: usize,
    /// Seed of the points.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where to write the CSV (`-` for standard output).
    #[arg(long, value_name = "FILE|-")]
    csv: PathBuf,
}

/// Runs diffscope's command line on `args` (including the program name) and returns
/// the process exit code: 0 on success, 2 with one `error: …` line on stderr otherwise.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let command_line = std::iter::once("diffscope".to_owned())
        .chain(args.iter().skip(1).map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ");
    let parsed = Cli::command()
        .try_get_matches_from(args)
        .and_then(|matches| Cli::from_arg_matches(&matches).map(|cli| (cli, matches)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) if !e.use_stderr() => {
            // --help and --version: print as clap formats them.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{}", one_line(&e.to_string()));
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        None => match cli.window.run_options() {
            Ok(options) => return crate::gui::run(options, cli.window.size, cli.window.frame_stats),
            Err(e) => Err(e),
        },
        Some(Command::Schedule(cmd)) => schedule_cmd(&cmd),
        Some(Command::Markov(cmd)) => markov::markov_cmd(&cmd),
        Some(Command::Render(RenderCmd::Forward(cmd))) => render::render_forward(&cmd),
        Some(Command::Data(cmd)) => data_cmd(&cmd),
        Some(Command::Train(cmd)) => model::train_cmd(&cmd, command_line),
        Some(Command::Sample(cmd)) => model::sample_cmd(&cmd),
        Some(Command::Bench(cmd)) => model::bench_cmd(&cmd),
        Some(Command::Vae(cmd)) => vae::vae_cmd(&cmd, command_line),
        Some(Command::Likelihood(cmd)) => likelihood::likelihood_cmd(&cmd),
        Some(Command::Quality(cmd)) => quality::quality_cmd(&cmd),
        Some(Command::Elbo(cmd)) => {
            let given = matches.subcommand_matches("elbo").is_some_and(|m| {
                [
                    "schedule",
                    "steps",
                    "beta_start",
                    "beta_end",
                    "beta",
                    "zero_terminal_snr",
                ]
                .iter()
                .any(|id| m.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
            });
            elbo::elbo_cmd(&cmd, given)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}

/// Folds clap's multi-line message (usage, hints) into its essential single line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Opens `path` for writing, `-` meaning standard output.
fn open_output(path: &Path) -> Result<Box<dyn Write>> {
    if path.as_os_str() == "-" {
        Ok(Box::new(BufWriter::new(io::stdout().lock())))
    } else {
        let file = File::create(path).with_context(|| format!("cannot write '{}'", path.display()))?;
        Ok(Box::new(BufWriter::new(file)))
    }
}

/// Writes `lines` to `path` (or standard output); a closed pipe (`| head`) is not an error.
fn write_lines(path: &Path, lines: impl Iterator<Item = String>) -> Result<()> {
    let mut out = open_output(path)?;
    let result = lines
        .into_iter()
        .try_for_each(|line| writeln!(out, "{line}"))
        .and_then(|()| out.flush());
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.with_context(|| format!("cannot write '{}'", path.display())),
    }
}

fn schedule_cmd(cmd: &ScheduleCmd) -> Result<()> {
    let schedule = cmd.schedule.build()?;
    let lines =
        std::iter::once(ScheduleRow::CSV_HEADER.to_owned()).chain(schedule.rows().map(|r| r.csv_line()));
    write_lines(&cmd.csv, lines)
}

fn data_cmd(cmd: &DataCmd) -> Result<()> {
    let Some(dataset) = cmd.dataset else {
        if cmd.n > 200_000 {
            bail!("--n must be at most 200000 glyphs, got {}", cmd.n);
        }
        let (images, labels) = data::glyphs::glyphs(cmd.n, cmd.seed);
        let side = data::glyphs::GLYPH_SIDE;
        let header = std::iter::once("label".to_owned())
            .chain((0..side * side).map(|p| format!("p{p}")))
            .collect::<Vec<_>>()
            .join(",");
        let rows = images.iter().zip(&labels).map(|(image, label)| {
            std::iter::once(label.to_string())
                .chain(image.iter().map(|v| format!("{v}")))
                .collect::<Vec<_>>()
                .join(",")
        });
        return write_lines(&cmd.csv, std::iter::once(header).chain(rows));
    };
    let points = data::generate(dataset, cmd.n, cmd.seed);
    let lines = std::iter::once("x,y".to_owned()).chain(points.iter().map(|[x, y]| format!("{x},{y}")));
    write_lines(&cmd.csv, lines)
}
