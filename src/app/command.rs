//! The actions the UI asks for, applied after layout.

use std::path::PathBuf;

use super::deck::DeckSource;
use super::markov::MarkovEdit;
use super::settings::SourceChoice;

/// Actions the UI asks for; applied after layout.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Load this data (built-in image or set, or a file).
    Load(SourceChoice),
    /// Open the native file dialog to pick an image or points CSV.
    OpenDialog,
    /// Start or stop playback.
    TogglePlay,
    /// Move `t` by this many steps.
    Step(i64),
    /// Go to `t = 0`.
    Home,
    /// Go to `t = T`.
    End,
    /// Save both views at the current `t` as one PNG.
    ExportFrame,
    /// Save the forward animation `t = 0 → T` as a GIF of this many frames.
    ExportGif(usize),
    /// Save the comparison grid as PNG.
    ExportCompare,
    /// Save the reverse chain on screen as a GIF.
    ExportChainGif,
    /// Save the schedule table as CSV.
    ExportScheduleCsv,
    /// Stop the running export.
    CancelExport,
    /// Pick the export folder with the native dialog.
    ChooseExportDir,
    /// Hide the error in the status line.
    DismissError,
    /// Use this path typed in the path field (for what the field asks).
    SubmitPath(PathBuf),
    /// Close the path field without choosing.
    ClosePathPrompt,
    /// Enter or leave fullscreen, in this window (the main one, `ViewportId::ROOT`, or the
    /// presenter view's audience window).
    ToggleFullscreen(egui::ViewportId),
    /// Close the window (Ctrl+Q).
    Quit,
    /// Load the shipped weights of the data on screen.
    UseShippedModel,
    /// Load the shipped flow-matching weights of the data on screen (the 2D sets).
    UseShippedFlowModel,
    /// Load the model trained in this window again.
    UseTrainedModel,
    /// Use the ideal denoiser of the data on screen.
    UseIdealDenoiser,
    /// Pick a weights file with the native dialog.
    OpenModelDialog,
    /// Load weights from this file (the current model stays if it fails).
    LoadModel(PathBuf),
    /// Pick where to save the learned model with the native dialog.
    SaveModelDialog,
    /// Save the learned model to this file.
    SaveModel(PathBuf),
    /// Train a fresh model on the data on screen.
    Train,
    /// Pause (`true`) or resume the training run.
    PauseTraining(bool),
    /// Stop the training run (the model keeps what it learnt).
    CancelTraining,
    /// Start (or restart) the reverse chain.
    Sample,
    /// Pause (`true`) or resume the reverse chain.
    PauseChain(bool),
    /// Advance the paused reverse chain by exactly one step.
    StepChain,
    /// Compute the missing ELBO estimates (again, after a stop).
    ComputeElbo,
    /// Stop the running ELBO estimates.
    StopElbo,
    /// Compute the probability flow's missing likelihoods (again, after a stop).
    ComputeFlow,
    /// Stop the running likelihood of the probability flow.
    StopFlow,
    /// Stop the quality-vs-steps chart.
    StopQuality,
    /// Compute the quality-vs-steps chart (again, after a stop).
    ComputeQuality,
    /// Open a deck at its first chapter (the current deck stays if it fails).
    OpenDeck(DeckSource),
    /// Pick a deck file with the native dialog.
    OpenDeckDialog,
    /// Go to this chapter (0-based) of the open deck.
    GoToChapter(usize),
    /// The next chapter (PageDown).
    NextChapter,
    /// The previous chapter (PageUp).
    PrevChapter,
    /// Close the deck (the view stays as it is).
    CloseDeck,
    /// Save the current view as a chapter of the open deck (a dialog asks where, for the
    /// built-in deck or none).
    SaveChapter,
    /// Pick the deck file to save the chapter in with the native dialog.
    SaveDeckDialog,
    /// Append the current view as a chapter to this deck file.
    SaveChapterTo(PathBuf),
    /// Edit the Markov chain tab's chain (refused edits say why on the tab).
    Markov(MarkovEdit),
    /// An action of the VAE → VDM tab.
    Latent(super::latent::LatentAction),
    /// A stroke on the drawing canvas, or one of the drawing's buttons.
    Draw(super::drawing::DrawAction),
}

impl Command {
    /// Whether it is about the deck (run before the frame's settings are applied, since a
    /// chapter changes settings).
    #[must_use]
    pub const fn is_deck(&self) -> bool {
        matches!(
            self,
            Self::OpenDeck(_)
                | Self::GoToChapter(_)
                | Self::NextChapter
                | Self::PrevChapter
                | Self::CloseDeck
                | Self::SaveChapter
                | Self::SaveChapterTo(_)
        )
    }
}
