//! What a run of the window is given besides its settings: the command line's options and
//! the window's scatter styles.

use std::path::PathBuf;

use super::settings::{Beside, SamplerKind, SourceChoice, Tab};

/// How the rendered scatters look under the dark and the light theme (the window's theme
/// decides; the app only picks one).
#[derive(Clone, Debug, Default)]
pub struct ScatterStyles {
    /// Under the dark theme.
    pub dark: crate::export::ScatterStyle,
    /// Under the light theme.
    pub light: crate::export::ScatterStyle,
    /// The reverse chain's GIF pictures under the dark theme.
    pub chain_dark: crate::scene::chain_gif::ChainLook,
    /// The reverse chain's GIF pictures under the light theme.
    pub chain_light: crate::scene::chain_gif::ChainLook,
}

/// Options of one run that are not settings (from the command line).
#[derive(Clone, Debug, Default)]
#[allow(clippy::struct_excessive_bools, reason = "independent command-line switches")]
pub struct RunOptions {
    /// Open this file at start-up.
    pub file: Option<PathBuf>,
    /// Start from default settings and do not save them.
    pub fresh: bool,
    /// Start at this `t`.
    pub t: Option<usize>,
    /// Start on this tab.
    pub tab: Option<Tab>,
    /// Start on this built-in data.
    pub source: Option<SourceChoice>,
    /// Save a screenshot here once the window has settled, then close.
    pub screenshot: Option<PathBuf>,
    /// Show the frame-time overlay.
    pub frame_times: bool,
    /// Start the reverse chain once the window is up (with the ideal denoiser if no
    /// learned model is loaded); a screenshot then waits for the chain to finish.
    pub sample: bool,
    /// With `sample`: the chain pauses by itself at the first step with `t ≤` this (a
    /// screenshot then shows it there).
    pub pause_at: Option<usize>,
    /// The canvas a single-image model samples (`--canvas`).
    pub canvas: Option<super::settings::Canvas>,
    /// Start training a model on the data on screen once the window is up.
    pub train: bool,
    /// The Reverse tab's sampler (`--sampler`).
    pub sampler: Option<SamplerKind>,
    /// The Reverse tab's quality-vs-steps chart on (`--quality`).
    pub quality: bool,
    /// The ELBO tab's density view on (`--density`).
    pub density: bool,
    /// Start in presentation mode.
    pub present: bool,
    /// Start with the presenter view's audience window open.
    pub presenter: bool,
    /// Start in draw mode (`--draw`).
    pub draw: bool,
    /// Start at this UI scale (1.5: 150 %), overriding the remembered one.
    pub zoom: Option<f32>,
    /// Open this deck (its first chapter, or `chapter`) once the window is up.
    pub deck: Option<super::deck::DeckSource>,
    /// The chapter (0-based) the deck opens at.
    pub chapter: usize,
}

impl RunOptions {
    /// What the command line sets over the remembered settings: the data, the tab, the
    /// frame-time overlay, presentation mode, the audience window, draw mode, the UI scale,
    /// a single-image model's canvas and the sampler.
    pub(super) fn apply_to(&self, settings: &mut super::Settings) {
        if let Some(source) = self.source.clone() {
            settings.source = source;
        }
        if let Some(tab) = self.tab {
            settings.tab = tab;
        }
        settings.show_frame_times |= self.frame_times;
        settings.lecture.presenting = self.present;
        settings.lecture.audience = self.presenter;
        settings.draw.on |= self.draw;
        if let Some(zoom) = self.zoom {
            settings.zoom = zoom;
        }
        if let Some(canvas) = self.canvas {
            settings.reverse.canvas = canvas;
        }
        if let Some(sampler) = self.sampler {
            settings.reverse.sampler = sampler;
            if settings.reverse.beside == Beside::Off {
                settings.reverse.beside = match sampler {
                    SamplerKind::ProbabilityFlow => Beside::Ddpm,
                    SamplerKind::FlowEuler | SamplerKind::FlowHeun => Beside::ProbabilityFlow,
                    _ => Beside::Off,
                };
            }
        }
        settings.elbo.density |= self.density;
        settings.reverse.quality |= self.quality;
    }
}

/// A job started once the window is up (`--sample`, `--train`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AutoStart {
    Sample,
    Train,
}
