//! The `--screenshot` flow: wait for the window to settle, capture, save, close.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use egui::ColorImage;

use super::DiffscopeApp;
use super::error::AppError;
use super::settings::Tab;

/// The `--screenshot` flow: wait for the window to settle, capture, save, close.
pub(super) struct Screenshot {
    pub(super) path: PathBuf,
    pub(super) started: std::time::Instant,
    pub(super) requested: bool,
    pub(super) done: Option<Receiver<Result<(), AppError>>>,
}

impl DiffscopeApp {
    pub(super) fn screenshot_step(&mut self, ctx: &egui::Context) {
        let chain_settled = self.chain_settled_for_screenshot();
        let settled = self.frames_drawn > 30
            && self.loader.is_none()
            // A model on its way (the shipped one of a built-in photo) changes the left
            // panel when it lands: the picture waits for it (or its error).
            && self.model.learning.pending.is_none()
            && chain_settled
            && self.elbo_settled_for_screenshot()
            && self.flow_settled_for_screenshot()
            && self.quality_settled_for_screenshot()
            && (self.settings.tab != Tab::Vae
                || (self.model.latent.snapshot.is_some() && !self.model.latent.training)
                || self.model.latent.error.is_some())
            && (self.model.points.is_some() || self.model.image.markov.is_some());
        let Some(shot) = &mut self.screenshot else { return };
        // A view that never settles (a failing chain) is captured after five minutes.
        if !shot.requested && (settled || shot.started.elapsed() > Duration::from_mins(5)) {
            shot.requested = true;
            let (tx, rx) = mpsc::channel();
            let path = shot.path.clone();
            ctx.request_screenshot(move |image| {
                let result = save_color_image(&image, &path);
                let _ = tx.send(result);
            });
            shot.done = Some(rx);
        }
        if let Some(rx) = &shot.done
            && let Ok(result) = rx.try_recv()
        {
            match result {
                Ok(()) => println!("saved screenshot {}", shot.path.display()),
                Err(e) => eprintln!("error: {e}"),
            }
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        ctx.request_repaint();
    }
}

/// Saves an egui screenshot as PNG (RGBA → RGB).
fn save_color_image(image: &ColorImage, path: &std::path::Path) -> Result<(), AppError> {
    let [w, h] = image.size;
    let rgb: Vec<u8> = image.pixels.iter().flat_map(|c| [c.r(), c.g(), c.b()]).collect();
    let img = image::RgbImage::from_raw(w as u32, h as u32, rgb).ok_or(AppError::ScreenshotSize)?;
    Ok(crate::export::save_png(&img, path)?)
}
