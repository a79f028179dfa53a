//! Why something the window was asked to do failed; `Display` is the status line's text.

use crate::scene::SceneError;

/// A failure of the window's own work (loading, choosing a denoiser, a screenshot). The
/// `model` thread's failures arrive as its events' messages instead (plain data across
/// the thread, like everything its events carry).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Loading a scene, or making a model's data from it.
    #[error(transparent)]
    Scene(#[from] SceneError),
    /// Writing a picture.
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
    /// A background thread panicked: its message.
    #[error("{0}")]
    Panicked(String),
    /// The learned denoiser was chosen before there is a model.
    #[error("no learned model yet: load weights (Model → Load…), train one, or choose the ideal denoiser")]
    NoLearnedModel,
    /// egui's screenshot had a size that does not match its pixels.
    #[error("bad screenshot size")]
    ScreenshotSize,
}
