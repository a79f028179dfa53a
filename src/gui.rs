//! Opening the window: checks for a display, then runs the app with eframe (glow).

use std::process::ExitCode;

use crate::app::{DiffscopeApp, RunOptions};

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
        ..eframe::NativeOptions::default()
    };
    let result = eframe::run_native(
        "diffscope",
        native,
        Box::new(move |cc| {
            let app = DiffscopeApp::from_creation_context(cc, options);
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

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        if self.frame_stats {
            println!(
                "{}",
                crate::ui::status::frame_summary(&self.app.model.frame_times)
            );
        }
    }
}
