//! The left panel: data, schedule parameters, overlays, noise, playback, export, view.

use super::section;
use super::theme;
use crate::app::exports::FORWARD_GIF_FRAMES;
use crate::app::settings::{Settings, SourceChoice, ThemeChoice};
use crate::app::{Command, Model};
use crate::diffusion::ScheduleKind;
use crate::scene::SceneData;
use crate::scene::chain_gif::GIF_SIDES;

/// Lays out the controls.
pub fn controls_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model, commands: &mut Vec<Command>) {
    data_ui(ui, settings, model);
    schedule_ui(ui, settings);
    super::model_panel::model_ui(ui, settings, model, commands);
    super::model_panel::training_ui(ui, settings, model, commands);
    noise_ui(ui, settings, model);
    playback_ui(ui, settings);
    export_ui(ui, settings, model, commands);
    view_ui(ui, settings, commands);
}

fn data_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model) {
    section(ui, "Data");
    ui.label(format!("{}: {}", model.scene.name, model.scene.describe()));
    if let Some(note) = &model.scene.note {
        ui.label(egui::RichText::new(note).small());
    }
    match (&model.scene.data, &settings.source) {
        (SceneData::Points(_), SourceChoice::Dataset(_)) => {
            ui.horizontal(|ui| {
                let label = ui.label("points");
                ui.add(
                    egui::DragValue::new(&mut settings.n_points)
                        .range(16..=20_000)
                        .speed(10.0),
                )
                .labelled_by(label.id);
                let label = ui.label("seed");
                ui.add(egui::DragValue::new(&mut settings.data_seed).range(0..=9999))
                    .labelled_by(label.id);
            });
        }
        (SceneData::Points(shown), SourceChoice::File(_)) => {
            let every = model.scene.every_point().map_or(0, |p| p.len());
            if every > crate::scene::MIN_POINTS_SHOWN {
                ui.horizontal(|ui| {
                    let label = ui.label("shown");
                    ui.add(
                        egui::DragValue::new(&mut settings.points_shown)
                            .range(crate::scene::MIN_POINTS_SHOWN..=crate::scene::MAX_POINTS_SHOWN)
                            .speed(100.0),
                    )
                    .labelled_by(label.id)
                    .on_hover_text(
                        "The views and the ideal denoiser use a uniform subsample of this many points; training uses all",
                    );
                    ui.label(format!("of {every} ({} now)", shown.len()));
                });
            }
        }
        (SceneData::Image(_), source) if !matches!(source, SourceChoice::Digits | SourceChoice::Glyphs) => {
            ui.horizontal(|ui| {
                let label = ui.label("working size ≤");
                ui.add(
                    egui::DragValue::new(&mut settings.max_side)
                        .range(32..=2048)
                        .speed(4.0)
                        .suffix(" px"),
                )
                .labelled_by(label.id)
                .on_hover_text("Large images are reduced so their long side is at most this");
            });
        }
        _ => {}
    }
    ui.label(
        egui::RichText::new("Open… or drop an image, points CSV or .safetensors weights on the window")
            .small()
            .weak(),
    );
}

fn schedule_ui(ui: &mut egui::Ui, settings: &mut Settings) {
    section(ui, "Schedule");
    let spec = &mut settings.schedule;
    ui.label(format!("{}, T = {}", spec.kind.label(), spec.steps));
    if spec.kind.uses_beta_range() {
        beta_param(ui, "β₁", &mut spec.beta_start, spec.steps, 1e-4);
        beta_param(ui, "β_T", &mut spec.beta_end, spec.steps, 0.02);
    }
    if spec.kind == ScheduleKind::Constant {
        let mut beta = spec.effective_beta();
        ui.horizontal(|ui| {
            let label = ui.label("β");
            if ui
                .add(
                    egui::DragValue::new(&mut beta)
                        .range(1e-5..=0.5)
                        .speed(1e-4)
                        .max_decimals(5)
                        .update_while_editing(false),
                )
                .labelled_by(label.id)
                .changed()
            {
                spec.beta = Some(beta);
            }
        });
    }
    ui.checkbox(&mut spec.zero_terminal_snr, "zero terminal SNR (ᾱ_T = 0)")
        .on_hover_text("Lin et al. 2024: rescale √ᾱ so that x_T carries nothing of x_0");
    ui.add_space(4.0);
    ui.label("overlay in plots and Compare:");
    ui.horizontal_wrapped(|ui| {
        for kind in ScheduleKind::ALL {
            if kind == settings.schedule.kind {
                continue;
            }
            let mut on = settings.overlay.contains(&kind);
            let text = egui::RichText::new(kind.label()).color(theme::schedule_color(kind));
            if ui.checkbox(&mut on, text).changed() {
                if on {
                    settings.overlay.push(kind);
                } else {
                    settings.overlay.retain(|k| *k != kind);
                }
            }
        }
    });
}

/// A `β` end of linear/quadratic: shows the value in effect (default `·1000/T`), edits
/// set it, "default" clears it.
fn beta_param(ui: &mut egui::Ui, label: &str, value: &mut Option<f64>, steps: usize, base: f64) {
    let default = base * 1000.0 / steps as f64;
    let mut v = value.unwrap_or(default);
    let speed = v * 0.01;
    // Wrapping: a wider row (a long value, the "default" button) would widen the panel.
    ui.horizontal_wrapped(|ui| {
        let name = ui.label(label);
        if ui
            .add(
                egui::DragValue::new(&mut v)
                    .range(1e-6..=0.999)
                    .speed(speed)
                    .max_decimals(6)
                    // Applies on Enter or focus loss, like T; and a default that is out of
                    // range at this T (0.02·1000/5 = 4) is shown, not clamped into a value
                    // of its own (which stuck β_T at 0.999 after T passed through 5).
                    .update_while_editing(false)
                    .clamp_existing_to_range(false),
            )
            .labelled_by(name.id)
            .changed()
        {
            *value = Some(v);
        }
        if value.is_some() {
            if ui
                .small_button("default")
                .on_hover_text(format!("{base}·1000/T"))
                .clicked()
            {
                *value = None;
            }
        } else {
            ui.label(egui::RichText::new(format!("({base}·1000/T)")).small().weak());
        }
    });
}

fn noise_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model) {
    section(ui, "Noise");
    ui.horizontal(|ui| {
        let label = ui.label("seed");
        ui.add(egui::DragValue::new(&mut settings.noise_seed).range(0..=99_999))
            .labelled_by(label.id);
    });
    if model.points.is_some() {
        ui.horizontal(|ui| {
            let label = ui.label("highlighted paths");
            ui.add(egui::DragValue::new(&mut settings.highlighted).range(0..=6))
                .labelled_by(label.id);
        });
    }
}

fn playback_ui(ui: &mut egui::Ui, settings: &mut Settings) {
    section(ui, "Playback");
    ui.add(
        egui::Slider::new(&mut settings.speed_steps_per_s, 1.0..=2000.0)
            .logarithmic(true)
            .text("steps/s"),
    );
    ui.checkbox(&mut settings.looping, "loop");
}

fn export_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model, commands: &mut Vec<Command>) {
    section(ui, "Export");
    // Right to left: the button takes its place first and the path is cut to what is left
    // (laid out left to right, a long path pushed the button out and the panel grew, taking
    // 25 points from the views: a CI checkout's deeper path wrapped the Reverse tab's options).
    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
        if ui.small_button("Choose…").clicked() {
            commands.push(Command::ChooseExportDir);
        }
        let dir = settings.export_dir.display().to_string();
        ui.add(egui::Label::new(egui::RichText::new(format!("to {dir}")).small()).truncate())
            .on_hover_text(&dir);
    });
    ui.add_enabled_ui(model.export.is_none(), |ui| {
        ui.horizontal_wrapped(|ui| {
            if ui
                .button("frame PNG")
                .on_hover_text("Both views at the current t")
                .clicked()
            {
                commands.push(Command::ExportFrame);
            }
            if ui
                .button("GIF")
                .on_hover_text(format!(
                    "The forward chain t = 0 → T as an animated GIF for slides ({FORWARD_GIF_FRAMES} frames): \
                     both views side by side, in the window's colours"
                ))
                .clicked()
            {
                commands.push(Command::ExportGif(FORWARD_GIF_FRAMES));
            }
            gif_side_ui(ui, &mut settings.gif_side);
            if ui.button("schedule CSV").clicked() {
                commands.push(Command::ExportScheduleCsv);
            }
            if ui.button("compare PNG").clicked() {
                commands.push(Command::ExportCompare);
            }
        });
    });
}

/// The px field of a GIF's panel side, beside its button (the Forward and Reverse GIFs).
pub fn gif_side_ui(ui: &mut egui::Ui, side: &mut u32) {
    let label = ui.label("px");
    ui.add(egui::DragValue::new(side).range(GIF_SIDES).speed(4.0))
        .labelled_by(label.id)
        .on_hover_text(format!(
            "Side of each of the GIF's two panels, in pixels ({} to {})",
            GIF_SIDES.start(),
            GIF_SIDES.end()
        ));
}

fn view_ui(ui: &mut egui::Ui, settings: &mut Settings, commands: &mut Vec<Command>) {
    section(ui, "View");
    ui.horizontal(|ui| {
        ui.selectable_value(&mut settings.theme, ThemeChoice::Dark, "dark");
        ui.selectable_value(&mut settings.theme, ThemeChoice::Light, "light");
        if ui.button("fullscreen").on_hover_text("F11").clicked() {
            commands.push(Command::ToggleFullscreen(egui::ViewportId::ROOT));
        }
    });
    ui.horizontal(|ui| {
        ui.label(format!("UI scale {:.0} %", settings.zoom * 100.0));
        if ui.small_button("−").on_hover_text("Ctrl −").clicked() {
            settings.zoom = (settings.zoom - 0.1).max(0.5);
        }
        if ui.small_button("+").on_hover_text("Ctrl +").clicked() {
            settings.zoom = (settings.zoom + 0.1).min(3.0);
        }
    });
    ui.checkbox(&mut settings.show_math, "the math");
    ui.checkbox(&mut settings.show_frame_times, "frame times (F3)");
}
