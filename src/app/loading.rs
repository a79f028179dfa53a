//! Loading data on a background thread, swapping the scene in on success, and rebuilding
//! the forward views for the scene, schedule and seed on screen.

use std::sync::mpsc;

use super::DiffscopeApp;
use super::error::AppError;
use super::forward::{ImageView, PointsView, image_job};
use super::settings::SourceChoice;
use crate::scene::{self, Scene, SceneData};
use crate::worker::frames::FrameCommand;

impl DiffscopeApp {
    /// Rebuilds both views for the current scene, schedule and seed.
    pub(super) fn rebuild_views(&mut self) {
        self.model.image.generation += 1;
        let generation = self.model.image.generation;
        match &self.model.scene.data {
            SceneData::Points(points) => {
                self.frames.send(FrameCommand::Clear);
                self.model.points = Some(PointsView::new(
                    points.clone(),
                    self.model.schedule.clone(),
                    self.settings.noise_seed,
                    self.settings.t,
                    self.settings.highlighted,
                ));
                self.model.image = ImageView {
                    generation,
                    ..ImageView::default()
                };
                self.model.textures = (None, None);
            }
            SceneData::Image(img) => {
                self.model.points = None;
                self.model.textures = (None, None);
                self.model.image = ImageView {
                    generation,
                    ..ImageView::default()
                };
                let job = image_job(generation, img, &self.model.schedule, self.settings.noise_seed);
                self.frames.send(FrameCommand::SetImage(Box::new(job)));
                self.request_frame();
            }
        }
    }

    /// Asks for the frames of the current `t` (images) or computes them (points).
    pub(super) fn request_frame(&mut self) {
        let t = self.settings.t;
        if let Some(points) = &mut self.model.points {
            points.set_t(t);
        } else if self.model.image.requested != Some(t) {
            self.model.image.requested = Some(t);
            self.frames.send(FrameCommand::Frame {
                generation: self.model.image.generation,
                t,
            });
        }
    }

    /// Replaces the scene (after a successful load).
    pub(super) fn set_scene(&mut self, scene: Scene) {
        self.model.status.info = Some(match &scene.note {
            Some(note) => format!("opened {} ({note})", scene.name),
            None => format!("opened {} ({})", scene.name, scene.describe()),
        });
        if let SourceChoice::File(path) = &scene.source {
            self.settings.remember_opened(path);
        }
        self.settings.source = scene.source.clone();
        // Already in line: the scene was loaded with these settings.
        self.applied.source = scene.source.clone();
        self.model.x0_sq_norm = scene.sq_norm();
        self.model.scene = scene;
        self.model.elbo.data_serial += 1;
        self.rebuild_views();
        self.use_shipped_if_any(false);
    }

    /// Starts loading `source` on a background thread; the current scene stays until
    /// the new one is ready.
    pub(super) fn start_load(&mut self, source: SourceChoice, ctx: &egui::Context) {
        let options = self.settings.scene_options();
        let (tx, rx) = mpsc::channel();
        let wake = ctx.clone();
        let what = source.name();
        let progress = std::sync::Arc::new(scene::LoadProgress::default());
        let reading = progress.clone();
        let spawned = std::thread::Builder::new()
            .name("load-data".into())
            .spawn(move || {
                let load = || scene::load_with(&source, &options, &reading).map_err(AppError::from);
                let result =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(load)).unwrap_or_else(|panic| {
                        Err(AppError::Panicked(crate::worker::frames::panic_message(
                            panic.as_ref(),
                        )))
                    });
                let _ = tx.send(result);
                wake.request_repaint();
            });
        match spawned {
            Ok(_) => {
                self.model.loading = Some(what);
                self.model.load_progress = Some(progress);
                self.loader = Some(rx);
            }
            Err(e) => self.model.status.error = Some(format!("cannot start loading: {e}")),
        }
    }
}
