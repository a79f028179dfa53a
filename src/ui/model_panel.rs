//! The left panel's Model and Training sections: which denoiser runs the reverse chain,
//! and a training run on the data on screen with its loss and "has it converged?" plots.

use egui::RichText;

use super::{section, theme, training_plots};
use crate::app::reverse::{LearnedOrigin, TrainingView};
use crate::app::settings::{DenoiserKind, Settings, SourceChoice};
use crate::app::{Command, Model};
use crate::format::format_sig;
use crate::model::Objective;
use crate::model::patch::{PHOTO_SIDE, PatchConfig};
use crate::scene::SceneData;
use crate::scene::prepare::{ideal_shape, photo_size, shipped_flow_name, shipped_name};

/// Which model the radio buttons show as chosen.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Choice {
    Shipped,
    ShippedFlow,
    Trained,
    File,
    Ideal,
    None,
}

/// The shipped weights of the data on screen: diffusion's, and flow matching's for the
/// built-in 2D sets.
fn shipped_ui(ui: &mut egui::Ui, model: &Model, chosen: Choice, commands: &mut Vec<Command>) {
    let shipped = shipped_name(&model.scene);
    let shipped_label = match &shipped {
        Some(name) => format!("shipped weights ({name})"),
        None => "shipped weights (none for this data)".to_owned(),
    };
    ui.add_enabled_ui(shipped.is_some(), |ui| {
        if ui
            .radio(chosen == Choice::Shipped, shipped_label)
            .on_hover_text("The weights that ship with diffscope for the data on screen")
            .clicked()
        {
            commands.push(Command::UseShippedModel);
        }
    });
    if let Some(name) = shipped_flow_name(&model.scene)
        && ui
            .radio(
                chosen == Choice::ShippedFlow,
                format!("shipped flow matching ({name})"),
            )
            .on_hover_text(
                "The same network trained by flow matching (straight paths x_τ = (1 − τ)x_0 + τε, \
                 predicting the velocity ε − x_0): it samples with Euler or Heun steps",
            )
            .clicked()
    {
        commands.push(Command::UseShippedFlowModel);
    }
}

/// Lays out the Model section.
pub fn model_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model, commands: &mut Vec<Command>) {
    section(ui, "Model");
    let learning = &model.learning;
    let chosen = if settings.reverse.denoiser == DenoiserKind::Ideal {
        Choice::Ideal
    } else {
        match learning.learned.as_ref().map(|m| &m.origin) {
            Some(LearnedOrigin::Shipped(name)) if name.starts_with("fm-") => Choice::ShippedFlow,
            Some(LearnedOrigin::Shipped(_)) => Choice::Shipped,
            Some(LearnedOrigin::Trained) => Choice::Trained,
            Some(LearnedOrigin::File(_)) => Choice::File,
            None => Choice::None,
        }
    };
    shipped_ui(ui, model, chosen, commands);
    let trained = learning.trained_file.is_some() || chosen == Choice::Trained;
    ui.add_enabled_ui(trained, |ui| {
        if ui
            .radio(chosen == Choice::Trained, "trained here")
            .on_hover_text("The model of the last training run (Training, below)")
            .clicked()
        {
            commands.push(Command::UseTrainedModel);
        }
    });
    ui.horizontal(|ui| {
        let file = match learning.learned.as_ref().map(|m| &m.origin) {
            Some(LearnedOrigin::File(path)) => format!(
                "file {}",
                path.file_name().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into_owned()
                )
            ),
            _ => "file".to_owned(),
        };
        if ui.radio(chosen == Choice::File, file).clicked() {
            commands.push(Command::OpenModelDialog);
        }
        if ui
            .button("Load…")
            .on_hover_text("A .safetensors weights file; or drop one on the window")
            .clicked()
        {
            commands.push(Command::OpenModelDialog);
        }
    });
    if ui
        .radio(chosen == Choice::Ideal, "ideal denoiser")
        .on_hover_text(
            "E[x_0 | x_t] of the data on screen, exact (MATH.md §3): the best possible reverse chain \
             for this finite data set — it reproduces the training points. Uses the schedule above.",
        )
        .clicked()
    {
        commands.push(Command::UseIdealDenoiser);
    }
    if let Some(pending) = &learning.pending {
        ui.horizontal(|ui| {
            ui.spinner();
            // Wrapped: a row does not wrap its labels by itself, and one wider than the
            // panel would widen it for good.
            ui.add(
                egui::Label::new(match pending {
                    LearnedOrigin::Shipped(name) => format!("loading shipped {name}…"),
                    LearnedOrigin::Trained => "loading the trained model…".to_owned(),
                    LearnedOrigin::File(path) => format!("loading {}…", path.display()),
                })
                .wrap(),
            );
        });
    }
    summary_ui(ui, model, chosen == Choice::Ideal);
    ui.add_enabled_ui(learning.learned.is_some(), |ui| {
        if ui
            .button("Save…")
            .on_hover_text("Write the learned model as .safetensors")
            .clicked()
        {
            commands.push(Command::SaveModelDialog);
        }
    });
}

/// What the chosen denoiser is: the ideal denoiser's data, or the learned model's summary.
fn summary_ui(ui: &mut egui::Ui, model: &Model, ideal: bool) {
    let learning = &model.learning;
    let small = |s: String| RichText::new(s).small();
    if ideal {
        let data = ideal_shape(&model.scene).map_or_else(String::new, |s| s.to_string());
        ui.label(small(format!(
            "ideal denoiser of {} ({data}); schedule {}",
            model.scene.name,
            model.schedule.spec().describe()
        )));
    } else if let Some(m) = &learning.learned {
        let s = &m.summary;
        // Bounded columns: on the grid's first (sizing) frame a wrapping value would
        // otherwise take its whole length and widen the panel for good.
        let width = ui.available_width();
        egui::Grid::new("model_summary")
            .num_columns(2)
            .max_col_width((width - 110.0).max(80.0))
            .show(ui, |ui| {
                for (k, v) in [
                    ("model", s.origin.clone()),
                    ("network", s.architecture.clone()),
                    ("data", format!("{} ({})", s.dataset, s.shape)),
                    ("schedule", s.schedule.describe()),
                    ("T", s.schedule.steps.to_string()),
                    ("iterations", s.iterations.to_string()),
                ] {
                    ui.label(small(k.to_owned()).weak());
                    ui.add(egui::Label::new(small(v)).wrap());
                    ui.end_row();
                }
            });
        if !learning.learned_fits(&model.scene) {
            ui.label(
                small(format!(
                    "⚠ this model denoises {}, not the data on screen: it still samples, but SDEdit is off",
                    s.shape
                ))
                .color(theme::warning_color(ui.visuals().dark_mode)),
            );
        }
    } else {
        ui.label(
            small("no learned model yet: train one, load a file, or use the ideal denoiser".into()).weak(),
        );
    }
}

/// What the Training section trains on, for its first line.
fn training_data(settings: &Settings, model: &Model) -> String {
    match (&model.scene.data, &settings.source) {
        (SceneData::Points(p), SourceChoice::Dataset(_)) => {
            format!(
                "{}: fresh draws of 8000 points ({} on screen)",
                model.scene.name,
                p.len()
            )
        }
        (SceneData::Points(p), _) => {
            let n = model.scene.all_points.as_ref().unwrap_or(p).len();
            let held = (n / 10).clamp(1, crate::model::train::MAX_HELD_OUT_POINTS);
            format!("{}: all your {n} points ({held} held out)", model.scene.name)
        }
        (_, SourceChoice::Digits) => "the 1797 digits, 8×8 grey".to_owned(),
        (_, SourceChoice::Glyphs) => format!(
            "{} glyph digits, 28×28 grey (a model conditional on the digit)",
            crate::scene::GLYPH_COUNT
        ),
        (SceneData::Image(img), _) => {
            let (h, w) = photo_size(img, PHOTO_SIDE);
            let c = PatchConfig::photo(usize::from(img.channels), h, w);
            format!(
                "learn this photo: {} at {w}×{h}, random {}×{} crops; each pixel sees {} px around it",
                model.scene.name,
                c.crop,
                c.crop,
                c.receptive_field()
            )
        }
    }
}

/// Lays out the Training section.
pub fn training_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model, commands: &mut Vec<Command>) {
    section(ui, "Training");
    let what = training_data(settings, model);
    let photo = matches!(model.scene.data, SceneData::Image(_))
        && !matches!(settings.source, SourceChoice::Digits | SourceChoice::Glyphs);
    ui.label(RichText::new(format!("on {what}")).small());
    ui.label(
        RichText::new(format!(
            "schedule {} (the one above)",
            model.schedule.spec().describe()
        ))
        .small()
        .weak(),
    );
    let r = &mut settings.reverse;
    // A photo trains with its own fields: batches of crops cost thousands of pixels each.
    let (lr, batch, iterations, most) = if photo {
        let p = &mut r.photo_train;
        (&mut p.lr, &mut p.batch, &mut p.iterations, 256)
    } else {
        (&mut r.lr, &mut r.batch, &mut r.iterations, 4096)
    };
    egui::Grid::new("train_params").num_columns(4).show(ui, |ui| {
        let label = ui.label("lr");
        ui.add(
            egui::DragValue::new(lr)
                .range(1e-5..=0.1)
                .speed(1e-4)
                .max_decimals(5),
        )
        .labelled_by(label.id);
        let label = ui.label(if photo { "crops" } else { "batch" });
        ui.add(egui::DragValue::new(batch).range(1..=most).speed(4.0))
            .labelled_by(label.id);
        ui.end_row();
        let label = ui.label("iterations");
        ui.add(egui::DragValue::new(iterations).range(1..=1_000_000).speed(50.0))
            .labelled_by(label.id);
        let label = ui.label("seed");
        ui.add(egui::DragValue::new(&mut r.train_seed).range(0..=99_999))
            .labelled_by(label.id);
        ui.end_row();
    });
    if matches!(model.scene.data, SceneData::Points(_)) {
        ui.horizontal(|ui| {
            let label = ui.label("objective");
            egui::ComboBox::from_id_salt("objective")
                .selected_text(r.objective.label())
                .show_ui(ui, |ui| {
                    for o in [Objective::Epsilon, Objective::FlowMatching] {
                        ui.selectable_value(&mut r.objective, o, o.label());
                    }
                })
                .response
                .labelled_by(label.id)
                .on_hover_text(
                    "diffusion: regress ε on x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε (L_simple); flow matching: \
                     regress the velocity ε − x_0 on x_τ = (1 − τ) x_0 + τ ε, τ ~ U(0, 1) (the same \
                     network, unconditional; it samples with Euler or Heun)",
                );
        });
    }
    let training = model.learning.training.as_ref();
    let running = training.is_some_and(TrainingView::running);
    ui.horizontal_wrapped(|ui| {
        let tooltip = if matches!(model.scene.data, SceneData::Image(_))
            && !matches!(settings.source, SourceChoice::Digits | SourceChoice::Glyphs)
        {
            "Learn this photo: a fully convolutional denoiser trained on random crops of it, whose \
             receptive field is a fraction of the photo, so that it samples new images of the photo's \
             patches rearranged (SinDiffusion, Wang et al. 2022)"
        } else {
            "Train a fresh denoiser on the data on screen with the schedule above"
        };
        ui.add_enabled_ui(!running, |ui| {
            if ui.button("Train").on_hover_text(tooltip).clicked() {
                commands.push(Command::Train);
            }
        });
        if let Some(t) = training.filter(|t| t.running()) {
            if t.paused {
                if ui.button("Resume training").clicked() {
                    commands.push(Command::PauseTraining(false));
                }
            } else if ui.button("Pause training").clicked() {
                commands.push(Command::PauseTraining(true));
            }
            if ui
                .button("Cancel")
                .on_hover_text("Stop; the model keeps what it learnt so far")
                .clicked()
            {
                commands.push(Command::CancelTraining);
            }
        }
    });
    if let Some(t) = training {
        let in_centre = settings.tab == crate::app::settings::Tab::Reverse
            && super::reverse_tab::training_in_centre(model).is_some();
        training_plots_ui(ui, t, !in_centre);
    }
}

/// Progress, the loss curves and "has it converged?" of a training run.
/// The plots only when `plots` (the Reverse tab shows them large in its centre).
fn training_plots_ui(ui: &mut egui::Ui, t: &TrainingView, plots: bool) {
    let fraction = t.iteration as f32 / t.total.max(1) as f32;
    ui.add(egui::ProgressBar::new(fraction).text(format!("iteration {} / {}", t.iteration, t.total)));
    ui.label(RichText::new(rate_line(t)).small());
    if let Some(last) = t.loss_ema.last() {
        ui.label(RichText::new(format!("loss (EMA) {}", format_sig(last[1], 3))).small());
    }
    if !plots {
        ui.label(
            RichText::new("the curves and samples: in the centre")
                .small()
                .weak(),
        );
        return;
    }
    training_plots::loss_plot(ui, t, "train_loss", 150.0);
    if let Some(verdict) = training_plots::verdict(t) {
        training_plots::verdict_label(ui, RichText::new(verdict).strong());
        training_plots::metric_plot(ui, t, "train_metric", 110.0);
    }
}

/// `12 it/s · ETA 3 min 5 s · paused`.
fn rate_line(t: &TrainingView) -> String {
    let eta = t
        .eta_s()
        .filter(|_| t.running())
        .map_or_else(String::new, |s| format!(" · ETA {}", duration(s)));
    let state = if t.paused { " · paused" } else { "" };
    format!("{:.0} it/s{eta}{state}", t.rate)
}

/// Seconds as `12 s`, `3 min 5 s` or `1 h 02 min`.
fn duration(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min {} s", s / 60, s % 60)
    } else {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    }
}
