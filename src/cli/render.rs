//! `diffscope render forward`: a PNG strip of `x_t` at chosen `t`, and/or a GIF of the
//! forward chain, from the same [`FrameRenderer`] the window's exports use; with
//! `--digits --discrete uniform|absorbing`, the discrete chain (D3PM) on the digits'
//! intensity levels, drawn as the window's discrete view draws it.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;

use super::{DataArgs, DataSource, ScheduleArgs};
use crate::app::d3pm;
use crate::data;
use crate::diffusion::Schedule;
use crate::diffusion::discrete::{DiscreteKind, DiscreteProcess};
use crate::export;
use crate::format::format_sig;
use crate::scene::render::FrameRenderer;
use crate::scene::{self, Scene, SceneOptions, SourceChoice};

/// `diffscope render forward`.
#[derive(Debug, Args)]
pub struct ForwardCmd {
    #[command(flatten)]
    source: DataArgs,
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
    /// With --digits: the discrete chain (D3PM) on the digits' intensity levels instead
    /// of the Gaussian one — uniform (redraw a level) or absorbing (mask, drawn blue).
    #[arg(long, value_name = "KIND", value_parser = parse_discrete_kind)]
    discrete: Option<DiscreteKind>,
    /// With --discrete: the number of intensity levels, 17 (the digits' own) or 256.
    #[arg(long, default_value_t = 17, value_name = "K", requires = "discrete",
          value_parser = parse_levels)]
    levels: usize,
}

/// Each digit pixel of the discrete chain's pictures is this many pixels square.
pub const DISCRETE_SCALE: u32 = 6;

fn parse_discrete_kind(s: &str) -> Result<DiscreteKind, String> {
    DiscreteKind::from_name(s).ok_or_else(|| format!("expected uniform or absorbing, got '{s}'"))
}

fn parse_levels(s: &str) -> Result<usize, String> {
    s.parse::<usize>()
        .ok()
        .filter(|k| d3pm::LEVELS.contains(k))
        .ok_or_else(|| format!("expected 17 or 256 levels, got '{s}'"))
}

/// The scene a forward render starts from: an image, a built-in set or a points CSV.
fn load_source(cmd: &ForwardCmd) -> Result<Scene> {
    let options = SceneOptions {
        max_side: cmd.max_side,
        n_points: cmd.n,
        data_seed: cmd.data_seed,
        drawing: data::drawing::DrawnPoints::default(),
        points_shown: scene::DEFAULT_POINTS_SHOWN,
    };
    match cmd.source.source()? {
        DataSource::Image(image) => {
            let path = Path::new(image);
            // A built-in name is used unless a file of that name exists.
            let scene = match image.parse::<data::BuiltinImage>() {
                Ok(builtin) if !path.exists() => scene::load(&SourceChoice::image(builtin), &options),
                _ => scene::load_file(path, cmd.max_side),
            }?;
            if let Some(note) = &scene.note {
                eprintln!("note: '{image}': {note}");
            }
            Ok(scene)
        }
        DataSource::Dataset(dataset) => {
            if cmd.n < 2 {
                bail!("--n must be at least 2, got {}", cmd.n);
            }
            Ok(scene::load(&SourceChoice::dataset(dataset), &options)?)
        }
        DataSource::Points(path) => {
            let points = scene::load_points(path)?;
            Ok(Scene {
                source: SourceChoice::File(path.to_owned()),
                name: "points".into(),
                data: scene::SceneData::Points(std::sync::Arc::new(points)),
                note: None,
                all_points: None,
            })
        }
        DataSource::Digits => Ok(scene::load(&SourceChoice::Digits, &options)?),
        DataSource::Glyphs => Ok(scene::load(&SourceChoice::Glyphs, &options)?),
    }
}

/// The discrete chain's picture of `x_t`: the digits' grid, one square per pixel.
fn discrete_picture(states: &[u16], levels: usize) -> image::RgbImage {
    let (w, h, grid) = d3pm::grid(states);
    export::states_to_rgb(&grid, w, h, levels, DISCRETE_SCALE)
}

/// The discrete chain on the digits: `x_t` for every `t` asked for, in increasing `t`
/// (the Markov view runs its chain once, step by step, as the window's does).
struct DiscreteFrames {
    process: DiscreteProcess,
    x0: Vec<u16>,
    markov: bool,
    seed: u64,
    /// The Markov chain's state and its step.
    x: Vec<u16>,
    x_t: usize,
}

impl DiscreteFrames {
    fn new(kind: DiscreteKind, levels: usize, schedule: &Schedule, markov: bool, seed: u64) -> Result<Self> {
        let x0 = d3pm::digit_states(levels)?;
        Ok(Self {
            process: DiscreteProcess::new(kind, levels, schedule.clone()),
            x: x0.clone(),
            x0,
            markov,
            seed,
            x_t: 0,
        })
    }

    fn at(&mut self, t: usize) -> image::RgbImage {
        let levels = self.process.levels();
        if !self.markov {
            return discrete_picture(&self.process.closed_form(&self.x0, t, self.seed), levels);
        }
        if t < self.x_t {
            self.x.clone_from(&self.x0);
            self.x_t = 0;
        }
        while self.x_t < t {
            self.x_t += 1;
            self.process.step_in_place(self.x_t, self.seed, &mut self.x);
        }
        discrete_picture(&self.x, levels)
    }
}

pub(super) fn render_forward(cmd: &ForwardCmd) -> Result<()> {
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
    let discrete = match (cmd.discrete, cmd.source.source()?) {
        (Some(kind), DataSource::Digits) => Some(DiscreteFrames::new(
            kind, cmd.levels, &schedule, cmd.markov, cmd.seed,
        )?),
        (Some(_), _) => bail!(
            "--discrete runs on the digits' intensity levels: give --digits (not --image, --dataset or --points)"
        ),
        (None, _) => None,
    };
    let mut renderer = match discrete {
        Some(frames) => Renderer::Discrete(Box::new(frames)),
        None => Renderer::Gaussian(Box::new(FrameRenderer::new(
            &load_source(cmd)?,
            &schedule,
            cmd.seed,
        ))),
    };
    let mut frame = |t: usize| match &mut renderer {
        Renderer::Discrete(frames) => frames.at(t),
        Renderer::Gaussian(renderer) if cmd.markov => renderer.markov(t),
        Renderer::Gaussian(renderer) => renderer.closed(t),
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

/// What draws the frames: the Gaussian chain on any data, or the discrete one on the digits.
enum Renderer {
    Gaussian(Box<FrameRenderer>),
    Discrete(Box<DiscreteFrames>),
}
