//! What the UI reads (but the settings, which it edits): the schedules and scene on
//! screen, the views' textures, the status line, frame times, and the tabs' state.

use egui::TextureHandle;

use super::compare::CompareCache;
use super::elbo::ElboState;
use super::forward::{ImageView, PointsView};
use super::options::ScatterStyles;
use super::reverse::Learning;
use crate::diffusion::Schedule;
use crate::scene::Scene;
use crate::worker::export::ExportJob;

/// Messages for the status line.
#[derive(Clone, Debug, Default)]
pub struct Status {
    /// The last informational message.
    pub info: Option<String>,
    /// The last error; it stays until dismissed.
    pub error: Option<String>,
}

/// Frame times of the last few hundred frames (the F3 overlay).
#[derive(Clone, Debug, Default)]
pub struct FrameTimes {
    cpu_ms: std::collections::VecDeque<f32>,
    /// The app's own share: `logic` + `ui` (no tessellation or painting).
    pub app_ms: std::collections::VecDeque<f32>,
}

impl FrameTimes {
    /// Frames kept.
    pub const WINDOW: usize = 600;

    /// Records one frame's CPU time (eframe's measure: the whole frame but the buffer swap).
    pub fn push(&mut self, ms: f32) {
        if self.cpu_ms.len() == Self::WINDOW {
            self.cpu_ms.pop_front();
        }
        self.cpu_ms.push_back(ms);
    }

    /// Records the app's own time of one frame.
    pub fn push_app(&mut self, ms: f32) {
        if self.app_ms.len() == Self::WINDOW {
            self.app_ms.pop_front();
        }
        self.app_ms.push_back(ms);
    }

    /// The `q`-quantile of the app's own times, in ms.
    #[must_use]
    pub fn app_quantile(&self, q: f64) -> f32 {
        quantile(self.app_ms.iter().copied(), q)
    }

    /// Number of frames recorded.
    #[must_use]
    pub fn len(&self) -> usize {
        self.cpu_ms.len()
    }

    /// Whether nothing was recorded yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.cpu_ms.is_empty()
    }

    /// The `q`-quantile (0..=1) of the recorded times, in ms.
    #[must_use]
    pub fn quantile(&self, q: f64) -> f32 {
        quantile(self.cpu_ms.iter().copied(), q)
    }

    /// The recorded times, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = f32> + '_ {
        self.cpu_ms.iter().copied()
    }
}

/// The `q`-quantile (0..=1) of `values` (0 if there are none).
fn quantile(values: impl Iterator<Item = f32>, q: f64) -> f32 {
    let mut v: Vec<f32> = values.collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f32::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// Everything the UI reads (but the settings, which it edits).
pub struct Model {
    /// The schedule on screen.
    pub schedule: Schedule,
    /// The current schedule and the overlaid ones.
    pub compared: Vec<Schedule>,
    /// The data on screen.
    pub scene: Scene,
    /// `‖x_0‖²` of the scene (for the prior term).
    pub x0_sq_norm: f64,
    /// Both views of a point cloud, when the scene is points.
    pub points: Option<PointsView>,
    /// What the image views show, when the scene is an image.
    pub image: ImageView,
    /// Textures of the two views: (Markov, closed form); for points, rendered scatters.
    pub textures: (Option<TextureHandle>, Option<TextureHandle>),
    /// What the `x_0` texture of the point views shows: (dark theme, data generation).
    pub(super) scatter_key: Option<(bool, u64)>,
    /// How the `x_0` texture looks under each theme.
    pub(super) scatter_styles: ScatterStyles,
    /// Messages and errors.
    pub status: Status,
    /// What is loading, if anything.
    pub loading: Option<String>,
    /// How far that load has read its file (points files report it).
    pub load_progress: Option<std::sync::Arc<crate::scene::LoadProgress>>,
    /// The running export.
    pub export: Option<ExportJob>,
    /// Frame times.
    pub frame_times: FrameTimes,
    /// Whether `t` is playing.
    pub playing: bool,
    /// The comparison grid.
    pub compare: CompareCache,
    /// The learned model, the reverse chain and training.
    pub learning: Learning,
    /// The ELBO tab's estimates.
    pub elbo: ElboState,
    /// The probability flow's likelihoods the ELBO tab shows (2D models).
    pub flow: super::flow::FlowState,
    /// The Reverse tab's quality-vs-steps chart.
    pub quality: super::quality::QualityState,
    /// The path field standing in for a missing desktop file dialog, when open.
    pub path_prompt: Option<super::path_prompt::PathPrompt>,
    /// The open deck and its chapter on screen.
    pub deck: Option<super::chapters::DeckView>,
    /// The digits' discrete chain (D3PM).
    pub d3pm: super::d3pm::D3pmState,
    /// The Markov chain tab's chain and pictures.
    pub markov: super::markov::MarkovView,
    /// The VAE → VDM tab's model, its pictures and training.
    pub latent: super::latent::LatentState,
    /// The drawing as drawn, its stroke in progress and its undo stack (the data on screen
    /// when the source is [`SourceChoice::Drawing`](super::settings::SourceChoice::Drawing)).
    pub drawing: crate::data::drawing::Drawing,
}
