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

use crate::app::compare::FrameRenderer;
use crate::app::scene::{self, Scene, SceneData};
use crate::app::settings::{Settings, SourceChoice};
use crate::data::{self, Dataset};
use crate::diffusion::schedule::ScheduleRow;
use crate::diffusion::{Schedule, ScheduleKind, ScheduleSpec};
use crate::export;

mod elbo;
mod model;

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
    #[arg(long, value_parser = ["forward", "reverse", "compare", "elbo"])]
    tab: Option<String>,
    /// Start the reverse chain once the window is up (the ideal denoiser if no learned
    /// model fits the data); with --screenshot, the picture waits for the chain to finish.
    #[arg(long)]
    sample: bool,
    /// Start training a model on the data on screen once the window is up.
    #[arg(long, conflicts_with = "sample")]
    train: bool,
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
            Some(name) => Some(if name.eq_ignore_ascii_case("digits") {
                SourceChoice::Digits
            } else if let Ok(image) = name.parse::<data::BuiltinImage>() {
                SourceChoice::image(image)
            } else if let Ok(dataset) = name.parse::<Dataset>() {
                SourceChoice::dataset(dataset)
            } else {
                bail!(
                    "unknown data '{name}' (valid: astronaut, camera, cat, digits, two-moons, swiss-roll, 8gaussians, \
                     checkerboard, circles, spiral)"
                );
            }),
        };
        Ok(crate::app::RunOptions {
            file: self.file.clone(),
            fresh: self.fresh || self.screenshot.is_some(),
            t: self.t,
            tab: self.tab.as_deref().map(|t| match t {
                "compare" => Tab::Compare,
                "elbo" => Tab::Elbo,
                "reverse" => Tab::Reverse,
                _ => Tab::Forward,
            }),
            source,
            screenshot: self.screenshot.clone(),
            frame_times: self.frame_stats,
            sample: self.sample,
            train: self.train,
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
    /// Train a denoiser (the 2D MLP, or the conv net for the digits) and save its weights.
    Train(model::TrainCmd),
    /// Run the learned reverse chain from noise and write the samples.
    Sample(model::SampleCmd),
    /// Measure training and sampling speed of the 2D model.
    #[command(subcommand)]
    Bench(model::BenchCmd),
    /// Estimate the ELBO of a model on data, term by term (nats, bits/dim, standard errors).
    Elbo(elbo::ElboCmd),
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

fn parse_schedule_kind(s: &str) -> Result<ScheduleKind, String> {
    s.parse()
        .map_err(|e: crate::diffusion::ScheduleError| e.to_string())
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
    Forward(ForwardCmd),
}

/// Where the data comes from: exactly one of an image, a built-in set or a CSV.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct SourceArgs {
    /// An image file (PNG, JPEG, GIF, BMP, WebP), or a built-in one: astronaut, camera, cat.
    #[arg(long, value_name = "FILE")]
    image: Option<String>,
    /// A built-in 2D data set: two-moons, swiss-roll, 8gaussians, checkerboard, circles, spiral.
    #[arg(long, value_name = "NAME", value_parser = parse_dataset)]
    dataset: Option<Dataset>,
    /// A CSV of 2D points: two numeric columns, optional header (standardised on load).
    #[arg(long, value_name = "FILE.csv")]
    points: Option<PathBuf>,
}

fn parse_dataset(s: &str) -> Result<Dataset, String> {
    s.parse().map_err(|e: data::DataError| e.to_string())
}

/// `diffscope render forward`.
#[derive(Debug, Args)]
pub struct ForwardCmd {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    schedule: ScheduleArgs,
    /// Steps to show, comma-separated [default: 0, T/10, T/4, T/2, T].
    #[arg(long, value_name = "T,T,…", value_delimiter = ',')]
    at: Option<Vec<usize>>,
    /// Show the Markov chain (fresh noise every step) instead of the closed form (one ε).
    #[arg(long)]
    markov: bool,
    /// Seed of the diffusion noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Number of points drawn from a built-in data set.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    n: usize,
    /// Seed of the built-in data set's points.
    #[arg(long, default_value_t = 0, value_name = "S")]
    data_seed: u64,
    /// Reduce images so their long side is at most this many pixels.
    #[arg(long, default_value_t = data::DEFAULT_MAX_SIDE, value_name = "PX")]
    max_side: u32,
    /// Write the strip as PNG here.
    #[arg(long, value_name = "FILE.png", required_unless_present = "gif")]
    out: Option<PathBuf>,
    /// Write the forward animation t = 0 → T as GIF here.
    #[arg(long, value_name = "FILE.gif")]
    gif: Option<PathBuf>,
    /// Frames of the GIF (t evenly spaced from 0 to T).
    #[arg(long, default_value_t = 50, value_name = "N")]
    frames: usize,
    /// Frames per second of the GIF.
    #[arg(long, default_value_t = 20, value_name = "FPS")]
    fps: u32,
}

/// `diffscope data`.
#[derive(Debug, Args)]
pub struct DataCmd {
    /// The built-in 2D data set: two-moons, swiss-roll, 8gaussians, checkerboard, circles, spiral.
    #[arg(long, value_name = "NAME", value_parser = parse_dataset)]
    dataset: Dataset,
    /// Number of points.
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
        Some(Command::Render(RenderCmd::Forward(cmd))) => render_forward(&cmd),
        Some(Command::Data(cmd)) => data_cmd(&cmd),
        Some(Command::Train(cmd)) => model::train_cmd(&cmd, command_line),
        Some(Command::Sample(cmd)) => model::sample_cmd(&cmd),
        Some(Command::Bench(cmd)) => model::bench_cmd(&cmd),
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
    let points = data::generate(cmd.dataset, cmd.n, cmd.seed);
    let lines = std::iter::once("x,y".to_owned()).chain(points.iter().map(|[x, y]| format!("{x},{y}")));
    write_lines(&cmd.csv, lines)
}

/// The scene a forward render starts from: an image, a built-in set or a points CSV.
fn load_source(cmd: &ForwardCmd) -> Result<Scene> {
    let s = &cmd.source;
    if let Some(image) = &s.image {
        let path = Path::new(image);
        // A built-in name is used unless a file of that name exists.
        let scene = match image.parse::<data::BuiltinImage>() {
            Ok(builtin) if !path.exists() => scene::load(&SourceChoice::image(builtin), &scene_settings(cmd))
                .map_err(anyhow::Error::msg)?,
            _ => scene::load_file(path, cmd.max_side).map_err(anyhow::Error::msg)?,
        };
        if let Some(note) = &scene.note {
            eprintln!("note: '{image}': {note}");
        }
        return Ok(scene);
    }
    if let Some(dataset) = s.dataset {
        if cmd.n < 2 {
            bail!("--n must be at least 2, got {}", cmd.n);
        }
        return scene::load(&SourceChoice::dataset(dataset), &scene_settings(cmd))
            .map_err(anyhow::Error::msg);
    }
    let path = s
        .points
        .as_deref()
        .context("one of --image, --dataset, --points is required")?;
    if path.is_dir() {
        bail!("cannot open '{}': it is a folder, not a file", path.display());
    }
    let mut points = data::load_points_csv(path)?;
    data::standardise(&mut points);
    Ok(Scene {
        source: SourceChoice::File(path.to_owned()),
        name: "points".into(),
        data: SceneData::Points(std::sync::Arc::new(points)),
        note: None,
    })
}

/// The data settings of a render, as the window's loader takes them.
fn scene_settings(cmd: &ForwardCmd) -> Settings {
    Settings {
        n_points: cmd.n,
        data_seed: cmd.data_seed,
        max_side: cmd.max_side,
        ..Settings::default()
    }
}

/// `v` with `digits` significant digits, switching to scientific notation below 1e-3.
#[must_use]
pub fn format_sig(v: f64, digits: usize) -> String {
    if v == 0.0 || (v.abs() >= 1e-3 && v.abs() < 1e4) {
        let decimals = if v == 0.0 {
            0
        } else {
            (digits as i32 - 1 - v.abs().log10().floor() as i32).max(0) as usize
        };
        format!("{v:.decimals$}")
    } else {
        format!("{v:.prec$e}", prec = digits - 1)
    }
}

fn render_forward(cmd: &ForwardCmd) -> Result<()> {
    let schedule = cmd.schedule.build()?;
    let steps = schedule.steps();
    let at = cmd
        .at
        .clone()
        .unwrap_or_else(|| vec![0, steps / 10, steps / 4, steps / 2, steps]);
    if let Some(&bad) = at.iter().find(|&&t| t > steps) {
        bail!("--at {bad} is beyond T = {steps}");
    }
    if cmd.gif.is_some() && cmd.frames < 2 {
        bail!("--frames must be at least 2, got {}", cmd.frames);
    }
    if !(1..=100).contains(&cmd.fps) {
        bail!("--fps must be in 1..=100, got {}", cmd.fps);
    }
    let scene = load_source(cmd)?;
    let mut renderer = FrameRenderer::new(&scene, &schedule, cmd.seed);
    let mut frame = |t: usize| {
        if cmd.markov {
            renderer.markov(t)
        } else {
            renderer.closed(t)
        }
    };
    if let Some(out) = &cmd.out {
        let tiles: Vec<_> = at
            .iter()
            .map(|&t| {
                let labels = vec![
                    format!("t = {t}"),
                    format!("ᾱ = {}", format_sig(schedule.alpha_bar(t), 4)),
                ];
                (frame(t), labels)
            })
            .collect();
        export::save_png(&export::strip(&tiles), out)?;
    }
    if let Some(path) = &cmd.gif {
        let n = cmd.frames;
        let frames = (0..n).map(|i| {
            let t = ((i as f64 / (n - 1) as f64) * steps as f64).round() as usize;
            let mut img = frame(t);
            let label = format!("t = {t}");
            export::draw_text(&mut img, 6, 6, &label, 2, [255, 64, 32]);
            img
        });
        export::write_gif(frames, 1000 / cmd.fps, path, &mut |_| true)?;
    }
    Ok(())
}
