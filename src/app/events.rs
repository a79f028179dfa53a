//! Draining what the background threads sent (frames, model events, a load, a dialog, an
//! export) within a time budget per frame, playback, and the view textures.

use std::time::Duration;

use egui::{ColorImage, TextureHandle, TextureOptions};

use super::DiffscopeApp;
use crate::worker::export::ExportOutcome;
use crate::worker::frames::{FrameEvent, Rgba};

/// How long `logic` may spend draining worker events per frame.
const EVENT_BUDGET: Duration = Duration::from_millis(4);

impl DiffscopeApp {
    /// Drains the worker, the loader and the dialogs; advances playback.
    pub(super) fn logic(&mut self, ctx: &egui::Context) {
        let start = std::time::Instant::now();
        while start.elapsed() < EVENT_BUDGET {
            let Some(event) = self.frames.try_recv() else {
                break;
            };
            self.on_frame_event(event);
        }
        while start.elapsed() < EVENT_BUDGET {
            let Some(event) = self.ml.try_recv() else {
                break;
            };
            self.on_model_event(event);
        }
        if self.model.image.dirty {
            self.upload_textures(ctx);
        }
        if let Some(rx) = &self.loader
            && let Ok(result) = rx.try_recv()
        {
            self.loader = None;
            self.model.loading = None;
            self.model.load_progress = None;
            match result {
                Ok(scene) => {
                    self.set_scene(scene);
                    if let Some(after) = self.after_load.take() {
                        self.run_after_load(after);
                    }
                }
                Err(e) => {
                    self.model.status.error = Some(e.to_string());
                    // The chapter's model and chain were for the data that did not load.
                    self.after_load = None;
                }
            }
        }
        if let Some(rx) = &self.dialog
            && let Ok(result) = rx.try_recv()
        {
            self.dialog = None;
            self.dialog_answered(result);
        }
        if let Some(job) = &self.model.export {
            match job.poll() {
                ExportOutcome::Running => ctx.request_repaint_after(Duration::from_millis(100)),
                ExportOutcome::Done(path) => {
                    self.model.status.info = Some(format!("saved {}", path.display()));
                    self.model.export = None;
                }
                ExportOutcome::Failed(e) => {
                    if job.cancelled() {
                        self.model.status.info = Some(format!("{} export cancelled", job.what));
                    } else {
                        self.model.status.error = Some(e);
                    }
                    self.model.export = None;
                }
            }
        }
        if self.model.playing {
            self.advance_playback(ctx);
        }
        if self.loader.is_some() || self.dialog.is_some() {
            ctx.request_repaint_after(Duration::from_millis(50));
        }
    }

    pub(super) fn advance_playback(&mut self, ctx: &egui::Context) {
        let dt = f64::from(ctx.input(|i| i.stable_dt)).min(0.1);
        self.play_accumulator += dt * f64::from(self.settings.speed_steps_per_s);
        let whole = self.play_accumulator.floor();
        self.play_accumulator -= whole;
        let steps = self.model.schedule.steps();
        // A chapter's play range loops; otherwise `t` plays over 0..=T.
        let (from, to) = self
            .play_range
            .map_or((0, steps), |(a, b)| (a.min(steps), b.min(steps)));
        let mut t = self.settings.t + whole as usize;
        if t > to {
            if self.settings.looping || self.play_range.is_some() {
                t = from;
            } else {
                t = to;
                self.model.playing = false;
            }
        }
        self.settings.t = t;
        ctx.request_repaint();
    }

    pub(super) fn on_frame_event(&mut self, event: FrameEvent) {
        let view = &mut self.model.image;
        match event {
            FrameEvent::Frame {
                generation,
                t,
                closed,
                markov,
            } if generation == view.generation => {
                view.closed = Some((t, closed));
                view.markov = Some((t, markov));
                view.dirty = true;
            }
            FrameEvent::Failed { generation, message } if generation == view.generation => {
                self.model.status.error = Some(format!("computing the frames failed: {message}"));
            }
            _ => {} // stale: an image no longer on screen
        }
    }

    pub(super) fn upload_textures(&mut self, ctx: &egui::Context) {
        let view = &mut self.model.image;
        view.dirty = false;
        if let Some((_, m)) = &view.markov {
            upload(
                ctx,
                &mut self.model.textures.0,
                "markov",
                &m.image,
                TextureOptions::NEAREST,
            );
        }
        if let Some((_, c)) = &view.closed {
            upload(
                ctx,
                &mut self.model.textures.1,
                "closed",
                &c.image,
                TextureOptions::NEAREST,
            );
        }
    }

    /// Renders the constant part of the point views, `x_0` with the axes, to a texture
    /// when the data or the theme changed; returns whether it rendered. The moving
    /// points are drawn over it by the UI as one small mesh (two triangles a point): a
    /// software renderer (llvmpipe) pays per triangle, and this keeps a frame to a few
    /// thousand.
    pub(super) fn render_scatters(&mut self, ctx: &egui::Context) -> bool {
        let Some(points) = &self.model.points else {
            return false;
        };
        let dark = ctx.global_style().visuals.dark_mode;
        let key = (dark, self.model.image.generation);
        if self.model.scatter_key == Some(key) {
            return false;
        }
        self.model.scatter_key = Some(key);
        let style = if dark {
            &self.model.scatter_styles.dark
        } else {
            &self.model.scatter_styles.light
        };
        let img = crate::export::render_scatter(&points.x0, None, style);
        let rgba = Rgba {
            width: img.width(),
            height: img.height(),
            pixels: img.pixels().flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
        };
        upload(
            ctx,
            &mut self.model.textures.0,
            "x0",
            &rgba,
            TextureOptions::LINEAR,
        );
        true
    }
}

/// Uploads `rgba` into the texture in `slot` (creating it the first time).
pub(super) fn upload(
    ctx: &egui::Context,
    slot: &mut Option<TextureHandle>,
    name: &str,
    rgba: &Rgba,
    options: TextureOptions,
) {
    let image = ColorImage::from_rgba_unmultiplied([rgba.width as usize, rgba.height as usize], &rgba.pixels);
    match slot {
        Some(handle) => handle.set(image, options),
        None => *slot = Some(ctx.load_texture(name, image, options)),
    }
}
