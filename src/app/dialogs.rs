//! Native file dialogs (on their own thread: the window keeps drawing), what they return
//! (a path, or the path field where no dialog answered), and files dropped on the window.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::DiffscopeApp;
use super::command::Command;
use super::path_prompt::NO_DIALOG_WITHIN;
use super::settings::SourceChoice;

/// What a native dialog returned, and how long it was open.
pub(super) struct DialogResult {
    pub kind: DialogKind,
    pub path: Option<PathBuf>,
    pub took: Duration,
}

/// What a file is asked for (by the native dialog or the path field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogKind {
    /// An image or points CSV to open.
    OpenData,
    /// The folder exports go to.
    ExportDir,
    /// A weights file to open.
    OpenModel,
    /// Where to save the learned model.
    SaveModel,
    /// A deck file to open.
    OpenDeck,
    /// Where to save the open deck with the view as a new chapter.
    SaveDeck,
    /// A VAE or hierarchical VAE weights file to open (the VAE → VDM tab).
    OpenLatent,
    /// Where to save the VAE → VDM tab's model.
    SaveLatent,
    /// Where to save the drawing as a points CSV.
    SaveDrawing,
}

impl DiffscopeApp {
    pub(super) fn open_dialog(&mut self, ctx: &egui::Context, kind: DialogKind) {
        if self.dialog.is_some() {
            return;
        }
        let (tx, rx) = mpsc::channel();
        let wake = ctx.clone();
        let start_dir = self.settings.export_dir.clone();
        let model_name = format!("{}.safetensors", self.model.scene.name);
        let latent_name = format!(
            "{}-{}.safetensors",
            self.settings.latent.mode.name(),
            self.settings.latent.dataset
        );
        let spawned = std::thread::Builder::new()
            .name("file-dialog".into())
            .spawn(move || {
                let opened = Instant::now();
                let path = match kind {
                    DialogKind::ExportDir => rfd::FileDialog::new().set_directory(&start_dir).pick_folder(),
                    DialogKind::OpenModel | DialogKind::OpenLatent => rfd::FileDialog::new()
                        .add_filter("diffscope weights", &["safetensors"])
                        .add_filter("all files", &["*"])
                        .pick_file(),
                    DialogKind::SaveModel => rfd::FileDialog::new()
                        .add_filter("diffscope weights", &["safetensors"])
                        .set_directory(&start_dir)
                        .set_file_name(&model_name)
                        .save_file(),
                    DialogKind::SaveLatent => rfd::FileDialog::new()
                        .add_filter("diffscope weights", &["safetensors"])
                        .set_directory(&start_dir)
                        .set_file_name(&latent_name)
                        .save_file(),
                    DialogKind::SaveDrawing => rfd::FileDialog::new()
                        .add_filter("points CSV", &["csv"])
                        .set_directory(&start_dir)
                        .set_file_name("drawing.csv")
                        .save_file(),
                    DialogKind::OpenData => rfd::FileDialog::new()
                        .add_filter(
                            "images and points",
                            &["png", "jpg", "jpeg", "gif", "bmp", "webp", "csv", "txt"],
                        )
                        .add_filter("all files", &["*"])
                        .pick_file(),
                    DialogKind::OpenDeck => rfd::FileDialog::new()
                        .add_filter("diffscope decks", &["toml"])
                        .add_filter("all files", &["*"])
                        .pick_file(),
                    DialogKind::SaveDeck => rfd::FileDialog::new()
                        .add_filter("diffscope decks", &["toml"])
                        .set_directory(&start_dir)
                        .set_file_name("my-lecture.toml")
                        .save_file(),
                };
                let _ = tx.send(DialogResult {
                    kind,
                    path,
                    took: opened.elapsed(),
                });
                wake.request_repaint();
            });
        match spawned {
            Ok(_) => self.dialog = Some(rx),
            Err(e) => self.model.status.error = Some(format!("cannot open the file dialog: {e}")),
        }
    }

    /// A dialog's answer: the path chosen; where none was chosen, the path field if no
    /// dialog was shown at all, else a note.
    pub(super) fn dialog_answered(&mut self, result: DialogResult) {
        match result.path {
            Some(path) => self.use_chosen_path(result.kind, path),
            None if result.took < NO_DIALOG_WITHIN => self.open_path_prompt(
                result.kind,
                "no desktop file dialog answered (no xdg portal): type a path, or drop a file on the window"
                    .into(),
            ),
            None => self.model.status.info = Some("no file chosen".into()),
        }
    }

    /// Files dropped on the window: the first one is opened.
    pub(super) fn dropped_files(&mut self, ctx: &egui::Context) {
        let first = ctx.input(|i| i.raw.dropped_files.first().map(|f| f.path().to_owned()));
        if let Some(path) = first {
            let weights = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"));
            self.commands.push(if weights {
                Command::LoadModel(path)
            } else {
                Command::Load(SourceChoice::File(path))
            });
        }
    }
}
