//! The window: checks for a display, installs the fonts and the theme, and runs the app
//! with eframe (glow). The `eframe::App` impl lives here: each frame, the app's state and
//! logic (`crate::app`) around the UI's layout (`crate::ui`).

use std::process::ExitCode;

use crate::app::settings::{STORAGE_KEY, Settings};
use crate::app::{DiffscopeApp, RunOptions, ScatterStyles, stored_settings};
use crate::ui::theme;

/// The app with the window's fonts and scatter styles (what `run` opens, and what the
/// window tests drive).
#[must_use]
pub fn new_app(ctx: &egui::Context, settings: Settings, options: RunOptions) -> DiffscopeApp {
    theme::install_fonts(ctx);
    let styles = ScatterStyles {
        dark: theme::scatter_style(true),
        light: theme::scatter_style(false),
        chain_dark: theme::chain_look(true),
        chain_light: theme::chain_look(false),
    };
    DiffscopeApp::new(ctx, settings, options, styles)
}

/// The app as eframe creates it: settings from storage unless `fresh`.
#[must_use]
pub fn from_creation_context(cc: &eframe::CreationContext<'_>, options: RunOptions) -> DiffscopeApp {
    let settings = if options.fresh {
        Settings::default()
    } else {
        stored_settings(cc.storage)
    };
    new_app(&cc.egui_ctx, settings, options)
}

impl eframe::App for DiffscopeApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.timed_logic(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        if let Some(choice) = self.take_theme_change() {
            theme::apply(&ctx, choice);
        }
        self.frame(&ctx, frame.info().cpu_usage, |settings, model, commands| {
            crate::ui::app_ui(ui, settings, model, commands);
        });
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if self.persists() {
            eframe::set_value(storage, STORAGE_KEY, &self.settings);
        }
    }

    /// egui's memory (panel sizes, scroll offsets) is saved with the settings, and not at
    /// all by a `--fresh` run.
    fn persist_egui_memory(&self) -> bool {
        self.persists()
    }
}

/// Whether a display server is reachable (checked before eframe tries and panics).
#[must_use]
pub fn display_available() -> bool {
    if cfg!(target_os = "linux") || cfg!(target_os = "freebsd") {
        ["DISPLAY", "WAYLAND_DISPLAY"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
    } else {
        true
    }
}

/// Opens the window; returns when it is closed.
#[must_use]
pub fn run(options: RunOptions, size: [f32; 2], frame_stats: bool) -> ExitCode {
    if !display_available() {
        eprintln!(
            "error: no display (DISPLAY and WAYLAND_DISPLAY are unset), so diffscope cannot open its window; \
             the command line works without one: see `diffscope --help`"
        );
        return ExitCode::from(2);
    }
    let fresh = options.fresh;
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("diffscope")
            .with_app_id("diffscope")
            .with_inner_size(size)
            .with_min_inner_size([800.0, 500.0])
            .with_drag_and_drop(true),
        persist_window: !fresh,
        // A `--fresh` run reads nothing (egui's memory and the window's geometry are loaded
        // from the storage before the app exists): it gets a storage file that does not
        // exist, and since it saves nothing (above), never will.
        persistence_path: fresh.then(fresh_storage_path),
        ..eframe::NativeOptions::default()
    };
    let result = eframe::run_native(
        "diffscope",
        native,
        Box::new(move |cc| {
            let app = from_creation_context(cc, options);
            Ok(Box::new(StatsOnExit { app, frame_stats }))
        }),
    );
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot open the window: {e}");
            ExitCode::from(2)
        }
    }
}

/// A storage file for a `--fresh` run: in a folder that does not exist (eframe creates
/// one only to write, and a fresh run writes nothing).
fn fresh_storage_path() -> std::path::PathBuf {
    std::env::temp_dir()
        .join(format!("diffscope-fresh-{}-never-created", std::process::id()))
        .join("app.ron")
}

/// The app, printing frame-time statistics when it closes (`--frame-stats`).
struct StatsOnExit {
    app: DiffscopeApp,
    frame_stats: bool,
}

impl eframe::App for StatsOnExit {
    fn logic(&mut self, ctx: &egui::Context, frame: &mut eframe::Frame) {
        eframe::App::logic(&mut self.app, ctx, frame);
    }

    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        eframe::App::ui(&mut self.app, ui, frame);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::App::save(&mut self.app, storage);
    }

    fn persist_egui_memory(&self) -> bool {
        eframe::App::persist_egui_memory(&self.app)
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        if self.frame_stats {
            println!(
                "{}",
                crate::ui::status::frame_summary(&self.app.model.frame_times)
            );
        }
    }
}
