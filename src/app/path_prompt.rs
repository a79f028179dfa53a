//! The path field that stands in for the desktop file dialog where there is none (no
//! xdg portal answered): a typed path with completion, and the recently opened files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::DiffscopeApp;
use super::command::Command;
use super::dialogs::DialogKind;
use super::settings::SourceChoice;

/// A desktop dialog that returns nothing sooner than this was never shown: no person
/// cancels a dialog in under half a second, while a missing portal answers in milliseconds.
pub(super) const NO_DIALOG_WITHIN: Duration = Duration::from_millis(500);

/// How many recently opened files the window remembers.
pub const RECENT_FILES: usize = 8;

/// The open path field: what it is for, and what went wrong with the last path typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathPrompt {
    /// What the typed path is for.
    pub kind: DialogKind,
    /// Where the field starts.
    pub start: String,
    /// Why the field is shown.
    pub note: String,
    /// Why the last path typed was refused.
    pub refused: Option<String>,
}

impl DialogKind {
    /// The field's title.
    #[must_use]
    pub const fn title(self) -> &'static str {
        match self {
            Self::OpenData => "Open an image or points CSV",
            Self::ExportDir => "Export folder",
            Self::OpenModel => "Open weights (.safetensors)",
            Self::SaveModel => "Save the learned model as",
            Self::OpenDeck => "Open a deck (.toml)",
            Self::SaveDeck => "Save the deck with this view as a chapter",
            Self::OpenLatent => "Open VAE weights (.safetensors)",
            Self::SaveLatent => "Save the VAE as",
            Self::SaveDrawing => "Save the drawing as points CSV",
        }
    }

    /// Whether the path names a folder (else a file).
    #[must_use]
    pub const fn wants_folder(self) -> bool {
        matches!(self, Self::ExportDir)
    }
}

/// Why `path` cannot be used for `kind`, if it cannot.
///
/// # Errors
/// A one-line reason naming the path.
pub fn check_path(kind: DialogKind, path: &Path) -> Result<(), String> {
    let shown = path.display();
    if path.as_os_str().is_empty() {
        return Err("type a path first".into());
    }
    match kind {
        DialogKind::OpenData | DialogKind::OpenModel | DialogKind::OpenDeck | DialogKind::OpenLatent
            if path.is_dir() =>
        {
            Err(format!("{shown} is a folder: type a file in it"))
        }
        DialogKind::OpenData | DialogKind::OpenModel | DialogKind::OpenDeck | DialogKind::OpenLatent
            if !path.exists() =>
        {
            Err(format!("{shown}: no such file"))
        }
        DialogKind::ExportDir if !path.is_dir() => Err(format!("{shown}: no such folder")),
        DialogKind::SaveModel | DialogKind::SaveLatent | DialogKind::SaveDrawing if path.is_dir() => {
            Err(format!("{shown} is a folder: add a file name"))
        }
        DialogKind::SaveModel | DialogKind::SaveDeck | DialogKind::SaveLatent | DialogKind::SaveDrawing => {
            match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => {
                    Err(format!("{}: no such folder", dir.display()))
                }
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// The entries of the folder `text` names that start with its last part, as full paths
/// (folders end in `/`), sorted, hidden files only when the part starts with a dot.
#[must_use]
pub fn completions(text: &str, folders_only: bool) -> Vec<String> {
    let (dir, stem) = match text.rfind('/') {
        Some(i) => (&text[..=i], &text[i + 1..]),
        None => ("", text),
    };
    let Ok(entries) = std::fs::read_dir(if dir.is_empty() { "." } else { dir }) else {
        return Vec::new();
    };
    let mut found: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let hidden_wanted = stem.starts_with('.');
            if !name.starts_with(stem) || (name.starts_with('.') && !hidden_wanted) {
                return None;
            }
            let is_dir = entry.path().is_dir();
            if folders_only && !is_dir {
                return None;
            }
            Some(format!("{dir}{name}{}", if is_dir { "/" } else { "" }))
        })
        .collect();
    found.sort();
    found
}

/// The longest common prefix of `options` (what Tab completes to), on a char boundary.
#[must_use]
pub fn common_prefix(options: &[String]) -> Option<String> {
    let first = options.first()?;
    let mut end = first.len();
    for other in &options[1..] {
        let same = first
            .char_indices()
            .zip(other.chars())
            .find(|((_, a), b)| a != b)
            .map_or(first.len().min(other.len()), |((i, _), _)| i);
        end = end.min(same);
    }
    Some(first[..end].to_owned())
}

impl DiffscopeApp {
    /// Opens the path field for `kind` with `note` above it.
    pub(super) fn open_path_prompt(&mut self, kind: DialogKind, note: String) {
        let start = match kind {
            DialogKind::ExportDir
            | DialogKind::SaveModel
            | DialogKind::SaveDeck
            | DialogKind::SaveLatent
            | DialogKind::SaveDrawing => self.settings.export_dir.clone(),
            DialogKind::OpenData | DialogKind::OpenModel | DialogKind::OpenDeck | DialogKind::OpenLatent => {
                self.settings
                    .recent_files
                    .first()
                    .and_then(|p| p.parent().map(Path::to_path_buf))
                    .unwrap_or_else(|| std::env::current_dir().unwrap_or_default())
            }
        };
        let mut start = start.display().to_string();
        if !start.is_empty() && !start.ends_with('/') {
            start.push('/');
        }
        self.model.path_prompt = Some(PathPrompt {
            kind,
            start,
            note,
            refused: None,
        });
    }

    /// A path typed in the field: used if it can be, else the field says why and stays.
    pub(super) fn submit_path(&mut self, path: PathBuf) {
        let Some(prompt) = &mut self.model.path_prompt else {
            return;
        };
        let kind = prompt.kind;
        if let Err(why) = check_path(kind, &path) {
            prompt.refused = Some(why);
            return;
        }
        self.model.path_prompt = None;
        self.use_chosen_path(kind, path);
    }

    /// What a dialog, the path field or a dropped file chose.
    pub(super) fn use_chosen_path(&mut self, kind: DialogKind, path: PathBuf) {
        match kind {
            DialogKind::OpenData => self.commands.push(Command::Load(SourceChoice::File(path))),
            DialogKind::ExportDir => self.settings.export_dir = path,
            DialogKind::OpenModel => self.commands.push(Command::LoadModel(path)),
            DialogKind::SaveModel => self.commands.push(Command::SaveModel(path)),
            DialogKind::OpenDeck => self
                .commands
                .push(Command::OpenDeck(super::deck::DeckSource::File(path))),
            DialogKind::SaveDeck => self.commands.push(Command::SaveChapterTo(path)),
            DialogKind::OpenLatent => self
                .commands
                .push(Command::Latent(super::latent::LatentAction::Load(path))),
            DialogKind::SaveLatent => self
                .commands
                .push(Command::Latent(super::latent::LatentAction::Save(path))),
            DialogKind::SaveDrawing => self
                .commands
                .push(Command::Draw(super::drawing::DrawAction::Save(path))),
        }
    }
}

impl super::settings::Settings {
    /// `path` opened successfully: first in the recent files.
    pub fn remember_opened(&mut self, path: &Path) {
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        self.recent_files.retain(|p| *p != path);
        self.recent_files.insert(0, path);
        self.recent_files.truncate(RECENT_FILES);
    }
}
