//! The exports: both views at `t` (PNG), the forward animation (GIF), the reverse chain
//! (GIF), the comparison grid (PNG) on the export thread, and the schedule table (CSV).

use std::path::PathBuf;

use super::DiffscopeApp;
use super::forward::PointsView;
use crate::scene::SceneData;
use crate::scene::chain_gif::{ChainLook, ChainPictures, GIF_SIDES, gif_frame_indices};
use crate::scene::forward_gif::{ForwardPictures, ForwardView};
use crate::scene::render::{FrameRenderer, render_grid};
use crate::worker::export::{ExportJob, ExportJobError, JobControl};

/// Most frames of a chain's GIF (the last is then held for [`CHAIN_GIF_HOLD`] more).
pub const CHAIN_GIF_FRAMES: usize = 100;
/// Copies of the chain's last frame at the end of its GIF (a second at 20 frames/s).
pub const CHAIN_GIF_HOLD: usize = 20;
/// Milliseconds per frame of the chain's GIF.
pub const CHAIN_GIF_DELAY_MS: u32 = 50;
/// Frames of the forward chain's GIF (`t = 0 → T`, evenly spaced).
pub const FORWARD_GIF_FRAMES: usize = 60;
/// Milliseconds per frame of the forward chain's GIF (the GIF's 10-ms grid: 15 frames/s
/// would be 66.7).
pub const FORWARD_GIF_DELAY_MS: u32 = 70;

impl DiffscopeApp {
    /// A file name in the export folder.
    pub(super) fn export_path(&self, name: &str) -> PathBuf {
        self.settings.export_dir.join(name)
    }

    pub(super) fn start_export(
        &mut self,
        ctx: &egui::Context,
        what: String,
        total: usize,
        job: impl FnOnce(&JobControl) -> Result<PathBuf, ExportJobError> + Send + 'static,
    ) {
        if self.model.export.is_some() {
            self.model.status.error = Some("an export is already running".into());
            return;
        }
        let wake = ctx.clone();
        self.model.export = Some(ExportJob::spawn(what, total, move || wake.request_repaint(), job));
    }

    pub(super) fn export_frame(&mut self, ctx: &egui::Context) {
        let renderer = FrameRenderer::new(&self.model.scene, &self.model.schedule, self.settings.noise_seed);
        let t = self.settings.t;
        let path = self.export_path(&format!(
            "{}-{}-t{t}.png",
            self.model.scene.name,
            self.model.schedule.spec().kind
        ));
        self.start_export(ctx, "frame".into(), 1, move |_| {
            let mut renderer = renderer;
            let img = renderer.both_views(t);
            crate::export::save_png(&img, &path)?;
            Ok(path)
        });
    }

    /// The window's colours for a GIF: the theme's.
    fn gif_look(&self, ctx: &egui::Context) -> ChainLook {
        if ctx.global_style().visuals.dark_mode {
            self.model.scatter_styles.chain_dark.clone()
        } else {
            self.model.scatter_styles.chain_light.clone()
        }
    }

    /// The GIF's panel side `side` if it is in [`GIF_SIDES`]; else the status says why not.
    fn gif_side(&mut self, side: u32) -> Option<u32> {
        if GIF_SIDES.contains(&side) {
            return Some(side);
        }
        self.model.status.error = Some(format!(
            "a GIF panel of {side} px cannot be made: choose {} to {} px",
            GIF_SIDES.start(),
            GIF_SIDES.end()
        ));
        None
    }

    /// The forward chain `t = 0 → T` in `frames` evenly spaced steps, both views side by
    /// side as the Forward tab shows them (2D: with the highlighted points' paths), each
    /// panel `settings.gif_side` pixels, in the window's colours.
    pub(super) fn export_gif(&mut self, ctx: &egui::Context, frames: usize) {
        let Some(side) = self.gif_side(self.settings.gif_side) else {
            return;
        };
        let schedule = self.model.schedule.clone();
        let steps = schedule.steps();
        let frames = frames.clamp(2, steps + 1);
        let ts: Vec<usize> = (0..frames)
            .map(|i| ((i as f64 / (frames - 1) as f64) * steps as f64).round() as usize)
            .collect();
        let seed = self.settings.noise_seed;
        let highlighted = self.settings.highlighted;
        let look = self.gif_look(ctx);
        let path = self.export_path(&format!(
            "{}-{}-forward.gif",
            self.model.scene.name,
            schedule.spec().kind
        ));
        match &self.model.scene.data {
            SceneData::Points(points) => {
                let points = points.clone();
                let pictures = ForwardPictures::new(look, Some(points.as_ref().clone()), side);
                self.start_export(ctx, "GIF".into(), frames, move |control| {
                    // The window's own views, stepped through t: the GIF shows what the tab does.
                    let mut view = PointsView::new(points, schedule, seed, 0, highlighted);
                    let images = ts.into_iter().map(move |t| {
                        view.set_t(t);
                        pictures.picture(
                            t,
                            ForwardView::Points {
                                xt: &view.markov,
                                paths: &view.markov_paths,
                            },
                            ForwardView::Points {
                                xt: &view.closed,
                                paths: &view.closed_paths,
                            },
                        )
                    });
                    let mut progress = |n: usize| control.report(n);
                    crate::export::write_gif(images, FORWARD_GIF_DELAY_MS, &path, &mut progress)?;
                    Ok(path)
                });
            }
            SceneData::Image(img) => {
                let (width, height, channels) = (img.width, img.height, img.channels);
                let renderer = FrameRenderer::new(&self.model.scene, &schedule, seed);
                let pictures = ForwardPictures::new(look, None, side);
                self.start_export(ctx, "GIF".into(), frames, move |control| {
                    let mut renderer = renderer;
                    let images = ts.into_iter().map(move |t| {
                        let markov = renderer.markov_values(t);
                        let closed = renderer.closed_values(t);
                        let view = |values| ForwardView::Image {
                            values,
                            width,
                            height,
                            channels,
                        };
                        pictures.picture(t, view(&markov), view(&closed))
                    });
                    let mut progress = |n: usize| control.report(n);
                    crate::export::write_gif(images, FORWARD_GIF_DELAY_MS, &path, &mut progress)?;
                    Ok(path)
                });
            }
        }
    }

    /// The reverse chain on screen, its stored frames thinned to [`CHAIN_GIF_FRAMES`], the
    /// last one held for a second, in the window's colours.
    pub(super) fn export_chain_gif(&mut self, ctx: &egui::Context) {
        let Some(chain) = &self.model.learning.chain else {
            self.model.status.error = Some("no reverse chain to export: press Sample first".into());
            return;
        };
        if chain.frames.is_empty() {
            self.model.status.error = Some("the reverse chain has no frames yet".into());
            return;
        }
        let Some(side) = self.gif_side(self.settings.reverse.gif_side) else {
            return;
        };
        let Some(chain) = &self.model.learning.chain else {
            return;
        };
        let frames = chain.frames.clone();
        let data = match &self.model.scene.data {
            SceneData::Points(p) => Some(p.as_ref().clone()),
            SceneData::Image(_) => None,
        };
        let look = self.gif_look(ctx);
        let pictures = ChainPictures::new(chain.shape, data, look, side);
        let indices = gif_frame_indices(frames.len(), CHAIN_GIF_FRAMES);
        let total = indices.len() + CHAIN_GIF_HOLD;
        let path = self.export_path(&format!(
            "{}-reverse-{}.gif",
            self.model.scene.name,
            // The CLI's name of the sampler (`ddpm`, `ddpm-posterior`, `ddim`): ASCII.
            clap::ValueEnum::to_possible_value(&self.settings.reverse.sampler)
                .map_or_else(|| "chain".to_owned(), |v| v.get_name().to_owned())
        ));
        self.start_export(ctx, "chain GIF".into(), total, move |control| {
            let last = *indices.last().unwrap_or(&0);
            let shown = indices
                .into_iter()
                .chain(std::iter::repeat_n(last, CHAIN_GIF_HOLD))
                .map(move |i| pictures.picture(&frames, i));
            let mut progress = |n: usize| control.report(n);
            crate::export::write_gif(shown, CHAIN_GIF_DELAY_MS, &path, &mut progress)?;
            Ok(path)
        });
    }

    pub(super) fn export_compare(&mut self, ctx: &egui::Context) {
        let scene = self.model.scene.clone();
        let schedules = self.model.compared.clone();
        let columns = self.settings.compare_columns;
        let seed = self.settings.noise_seed;
        let path = self.export_path(&format!("{}-compare.png", self.model.scene.name));
        self.start_export(ctx, "comparison grid".into(), 1, move |_| {
            let img = render_grid(&scene, &schedules, columns, seed);
            crate::export::save_png(&img, &path)?;
            Ok(path)
        });
    }

    pub(super) fn export_schedule_csv(&mut self) {
        use std::io::Write as _;
        let spec = self.model.schedule.spec();
        let path = self.export_path(&format!(
            "schedule-{}-T{}{}.csv",
            spec.kind,
            spec.steps,
            if spec.zero_terminal_snr { "-zt" } else { "" }
        ));
        let write = || -> std::io::Result<()> {
            let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
            writeln!(out, "{}", crate::diffusion::schedule::ScheduleRow::CSV_HEADER)?;
            for row in self.model.schedule.rows() {
                writeln!(out, "{}", row.csv_line())?;
            }
            out.flush()
        };
        match write() {
            Ok(()) => self.model.status.info = Some(format!("saved {}", path.display())),
            Err(e) => self.model.status.error = Some(format!("cannot write '{}': {e}", path.display())),
        }
    }
}
