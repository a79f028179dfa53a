//! The Reverse tab: the learned reverse chain, live — `x_t` beside `x̂_0` ("what the
//! model believes x_0 is at this step"), the highlighted samples' paths and the ε field
//! for 2D data, image grids and SDEdit for images; sampler settings and step controls.

use egui::RichText;

use super::forward_tab::decimate;
use super::{theme, training_view};
use crate::app::reverse::{
    BesidePaths, ChainView, EPS_GRID, HIGHLIGHTED_PATHS, NEAR_RADIUS, RATE_SHORTFALL, TrainingView,
};
use crate::app::settings::{
    Beside, Canvas, DenoiserKind, MAX_GUIDANCE, MAX_PHOTO_SAMPLES, SamplerKind, Settings,
};
use crate::app::{Command, Model};
use crate::export::VIEW_EXTENT as EXTENT;
use crate::model::classes::ClassChoice;
use crate::model::sample::Sampler;
use crate::model::{DataShape, Objective};
use crate::scene::SceneData;
use crate::scene::guidance::{GuidanceReadout, class_name};

/// Lays out the Reverse tab: the chain's buttons, progress and description (at the end of
/// a 2D chain: its result) on one line, its options on the next, then the training run's
/// curves and samples while it runs (and until the next chain), or any warning and the
/// chain's views, as large as the room left.
pub fn reverse_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model, commands: &mut Vec<Command>) {
    run_row_ui(ui, settings, model, commands);
    options_ui(ui, settings, model, commands);
    let shape = sample_shape(settings, model);
    if let Some(training) = training_in_centre(model) {
        ui.separator();
        training_view::training_ui(ui, model, training);
        return;
    }
    if settings.reverse.quality && shape == Some(DataShape::Points) {
        ui.separator();
        let key = crate::app::quality::wanted_quality(model, settings);
        super::quality_view::quality_ui(ui, model, key, commands);
        return;
    }
    start_warning_ui(ui, settings, model, shape);
    views_ui(ui, settings, model);
}

/// The shape of the samples on screen: the chain's, else what the chosen denoiser makes.
fn sample_shape(settings: &Settings, model: &Model) -> Option<DataShape> {
    sample_shape_of(&settings.reverse, model)
}

/// The training run the centre shows: one that runs, or the last one until a chain
/// starts (its curves stay up for the class to read).
#[must_use]
pub fn training_in_centre(model: &Model) -> Option<&TrainingView> {
    let learning = &model.learning;
    learning
        .training
        .as_ref()
        .filter(|t| t.running() || learning.chain.is_none())
}

/// `x_t` beside `x̂_0`, each a square as large as the room allows under a one-line
/// heading (the Reverse tab's and presentation mode's).
pub fn views_ui(ui: &mut egui::Ui, settings: &Settings, model: &Model) {
    let learning = &model.learning;
    let chain = learning.chain.as_ref();
    let shape = sample_shape(settings, model);
    let heading_height = 30.0;
    // Whole points: both image grids then sit on the pixel grid alike (nearest-pixel
    // textures at a fractional size shift one grid's cells against the other's).
    let side = (ui.available_width() / 2.0 - 12.0)
        .min(ui.available_height() - heading_height)
        .max(64.0)
        .floor();
    let frame = learning.shown_frame(settings.t);
    // x̂_0 of a frame was predicted from the frame before it (none for the first frame).
    let predicted_at = chain.zip(frame).and_then(|(c, f)| c.predicted_at(f.t));
    // Another sampler's chain from the same x_T takes x̂_0's place (2D).
    let beside = chain
        .and_then(|c| c.beside.as_ref())
        .filter(|_| shape == Some(DataShape::Points));
    let upto_t = frame.map_or(0, |f| f.t);
    super::layout::centred(ui, 2.0 * side + 24.0, |ui| {
        ui.columns(2, |cols| {
            view_heading(
                &mut cols[0],
                &format!("x_t at t = {}", frame.map_or(settings.t, |f| f.t)),
                &x_t_subtitle(model, shape, flow_model(settings, model)),
            );
            if let Some(beside) = beside {
                let (title, subtitle) = beside_heading(beside, upto_t);
                view_heading(&mut cols[1], &title, &subtitle);
            } else if flow_model(settings, model) {
                let at = predicted_at.map_or_else(String::new, |t| format!(" from x_t at t = {t}"));
                view_heading(
                    &mut cols[1],
                    &format!("x̂_0{at}"),
                    "x_t − τ·v̂ (τ = t/T): where the straight line through x_t with the model's velocity \
                     meets τ = 0",
                );
            } else {
                match (frame, predicted_at) {
                    (Some(_), Some(t)) => view_heading(
                        &mut cols[1],
                        &format!("x̂_0 from x_t at t = {t}"),
                        "(x_t − √(1−ᾱ_t)·ε̂) / √ᾱ_t: what the model believed x_0 is, one step before x_t",
                    ),
                    (Some(_), None) => view_heading(
                        &mut cols[1],
                        "x̂_0: none yet",
                        "the chain starts here; the first step predicts x̂_0 = (x_t − √(1−ᾱ_t)·ε̂) / √ᾱ_t",
                    ),
                    (None, _) => view_heading(
                        &mut cols[1],
                        "x̂_0 = (x_t − √(1−ᾱ_t)·ε̂) / √ᾱ_t",
                        "what the model believes x_0 is at this step",
                    ),
                }
            }
            match shape {
                Some(DataShape::Points) | None => {
                    let background = model.points.as_ref().and(model.textures.0.as_ref());
                    let xt = frame.map(|f| ChainView::points(&f.x)).unwrap_or_default();
                    let x0 = frame.map(|f| ChainView::points(&f.x0_hat)).unwrap_or_default();
                    let paths = chain.map(|c| c.paths(upto_t)).unwrap_or_default();
                    let eps = learning.eps.as_ref().filter(|_| shape == Some(DataShape::Points));
                    let dark = cols[0].visuals().dark_mode;
                    let rect = scatter_frame(&mut cols[0], background, side, "x_t view");
                    if let Some(eps) = eps {
                        arrows(&cols[0], rect, &eps.points, &eps.eps);
                    }
                    draw_paths(&cols[0], rect, &paths);
                    scatter_points(&cols[0], rect, &xt, theme::point_color(dark));
                    if let Some(beside) = beside {
                        let rect = scatter_frame(&mut cols[1], background, side, "beside view");
                        // DDPM's random walks fainter: they would cover its samples.
                        let ddpm = matches!(beside.sampler, Sampler::Ddpm(_));
                        let opacity = if ddpm { 0.22 } else { 0.5 };
                        draw_paths_with(&cols[1], rect, &beside.paths(upto_t), opacity);
                        let points = beside.points_at(upto_t);
                        scatter_points(&cols[1], rect, &points, theme::point_color(dark));
                    } else {
                        let rect = scatter_frame(&mut cols[1], background, side, "x̂_0 view");
                        scatter_points(&cols[1], rect, &x0, theme::x0_hat_color(dark));
                    }
                }
                Some(DataShape::Image { .. }) => {
                    image(
                        &mut cols[0],
                        learning.textures.0.as_ref().filter(|_| frame.is_some()),
                        side,
                        "x_t view",
                    );
                    image(
                        &mut cols[1],
                        learning.textures.1.as_ref().filter(|_| frame.is_some()),
                        side,
                        "x̂_0 view",
                    );
                }
            }
        });
    });
}

/// A view's title and what it shows, on one line (the subtitle cut short when narrow).
fn view_heading(ui: &mut egui::Ui, title: &str, subtitle: &str) {
    ui.horizontal(|ui| {
        ui.label(RichText::new(title).heading());
        ui.add(egui::Label::new(RichText::new(subtitle).weak()).truncate());
    });
}

/// What the x_t view shows: for 2D data, what its arrows and lines are.
fn x_t_subtitle(model: &Model, shape: Option<DataShape>, flow: bool) -> String {
    let learning = &model.learning;
    if shape != Some(DataShape::Points) {
        return "the samples".to_owned();
    }
    if flow {
        return format!(
            "arrows: −v̂ at t = {}, where the flow moves samples (x ← x − h·v̂), the longest one grid \
             spacing long · lines: {HIGHLIGHTED_PATHS} samples' paths",
            learning.eps.as_ref().map_or(0, |e| e.key.t)
        );
    }
    match (&learning.eps, &learning.eps_error) {
        (_, Some(e)) => format!("ε field unavailable: {e}"),
        (Some(e), None) => format!(
            "arrows: the {}score at t = {} on a {EPS_GRID}×{EPS_GRID} grid, the longest one grid spacing long · \
             lines: {} samples' paths",
            e.key.guidance.map_or_else(String::new, |(c, w)| {
                let dataset = learning
                    .learned
                    .as_ref()
                    .map_or("", |m| m.summary.dataset.as_str());
                format!("guided ({}, w = {}) ", class_name(dataset, c), f32::from_bits(w))
            }),
            e.key.t,
            HIGHLIGHTED_PATHS
        ),
        (None, None) => "the samples; arrows: the score −ε̂/√(1−ᾱ_t) (computing…)".to_owned(),
    }
}

/// Whether the chain's denoiser is a flow-matching model (its network predicts the
/// velocity `v = ε − x_0`, not `ε`).
fn flow_model(settings: &Settings, model: &Model) -> bool {
    settings.reverse.denoiser == DenoiserKind::Learned
        && model
            .learning
            .learned
            .as_ref()
            .is_some_and(|m| m.summary.objective == Objective::FlowMatching)
}

/// The beside view's title and subtitle: `DDPM from the same x_T, at t = 40`, and how
/// many steps or evaluations, or why there is nothing to show.
fn beside_heading(beside: &BesidePaths, upto_t: usize) -> (String, String) {
    let name = match beside.sampler.kind() {
        SamplerKind::ProbabilityFlow => "ODE",
        SamplerKind::DdpmBeta | SamplerKind::DdpmPosterior => "DDPM",
        SamplerKind::Ddim => "DDIM",
        SamplerKind::FlowEuler | SamplerKind::FlowHeun => "flow matching",
    };
    let title = format!(
        "{name} from the same x_T, at t = {}",
        beside.t_at(upto_t).unwrap_or(upto_t)
    );
    let subtitle = match (&beside.paths, &beside.error) {
        (_, Some(e)) => e.clone(),
        (None, None) => "computing…".to_owned(),
        (Some(p), None) => format!(
            "{} samples, the first {HIGHLIGHTED_PATHS} paths as on the left · {}",
            p.frames.first().map_or(0, |(_, x)| x.len() / 2),
            p.nfe.map_or_else(
                || format!("{} steps", p.frames.len() - 1),
                |n| format!("{n} network evaluations, {} solver steps", p.frames.len() - 1)
            )
        ),
    };
    (title, subtitle)
}

/// One line that never wraps (its text changes as the chain runs, and a second line would
/// push the views down): Sample/Restart, Pause/Resume and Step, then the chain's progress,
/// any warning and what runs — or, before the first chain, what Sample does.
fn run_row_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model, commands: &mut Vec<Command>) {
    let chain = model.learning.chain.as_ref();
    let training = model.learning.training_running();
    ui.horizontal(|ui| {
        ui.add_enabled_ui(!training, |ui| {
            let label = if chain.is_some() { "Restart" } else { "Sample" };
            if ui
                .button(RichText::new(label).strong())
                .on_hover_text("Run the reverse chain from x_T ~ N(0, I) (Space when no chain runs)")
                .on_disabled_hover_text("Training is running: the worker does one job at a time")
                .clicked()
            {
                commands.push(Command::Sample);
            }
        });
        let live = chain.is_some_and(|c| !c.done);
        ui.add_enabled_ui(live, |ui| {
            if chain.is_some_and(ChainView::running) {
                if ui.button("Pause").on_hover_text("Space").clicked() {
                    commands.push(Command::PauseChain(true));
                }
            } else if ui.button("Resume").on_hover_text("Space").clicked() {
                commands.push(Command::PauseChain(false));
            }
        });
        ui.add_enabled_ui(!training, |ui| {
            let hover = if live {
                "One step of the chain (← at the newest frame)"
            } else {
                "Start a chain paused at x_T ~ N(0, I) and take its first step"
            };
            if ui
                .button("Step")
                .on_hover_text(hover)
                .on_disabled_hover_text("Training is running: the worker does one job at a time")
                .clicked()
            {
                commands.push(Command::StepChain);
            }
        });
        // Here, not in the options' row: there these wrapped it to a third line at 1280×720.
        if matches!(sample_shape_of(&settings.reverse, model), Some(DataShape::Points) | None) {
            let label = ui.label("beside").on_hover_text(
                "Another sampler's paths, dashed, from the same x_T as the highlighted samples (the \
                 same seed): the ODE's deterministic paths beside DDPM's random walk",
            );
            egui::ComboBox::from_id_salt("beside")
                .selected_text(settings.reverse.beside.label())
                .width(100.0)
                .show_ui(ui, |ui| {
                    for beside in Beside::ALL {
                        ui.selectable_value(&mut settings.reverse.beside, beside, beside.label());
                    }
                })
                .response
                .labelled_by(label.id);
        }
        if matches!(sample_shape_of(&settings.reverse, model), Some(DataShape::Points) | None) {
            ui.checkbox(&mut settings.reverse.quality, "quality vs steps").on_hover_text(
                "In place of the chain: SW2 of the model's samples from held-out data over the data's \
                 noise floor, against network evaluations, for DDPM, DDIM and the probability-flow \
                 ODE, and flow matching's Euler and Heun (computed on the model thread)",
            );
        }
        ui.separator();
        match chain {
            Some(chain) => status_ui(ui, settings, model, chain),
            None => {
                ui.add(
                    egui::Label::new(
                        RichText::new("Press Sample (or Space): from x_T ~ N(0, I), the model removes the noise step by step.")
                            .size(16.0),
                    )
                    .truncate(),
                );
            }
        }
    });
}

/// The sampler, the samples, seed and speed, the chain's GIF; SDEdit for images (wraps
/// when narrow).
fn options_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model, commands: &mut Vec<Command>) {
    let chain = model.learning.chain.as_ref();
    ui.horizontal_wrapped(|ui| {
        // Each control keeps its text on one line and moves to the next row whole (a
        // squeezed "chain GIF" button wrapped letter by letter, 157 pt tall, over the views).
        ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Extend);
        let r = &mut settings.reverse;
        let label = ui
            .label("sampler")
            .on_hover_text("Changing it while a chain runs or is paused restarts the chain with it");
        egui::ComboBox::from_id_salt("sampler")
            .selected_text(r.sampler.label())
            .width(150.0)
            .show_ui(ui, |ui| {
                // A learned model takes the samplers of its objective (the ideal denoiser all).
                let objective = model
                    .learning
                    .learned
                    .as_ref()
                    .filter(|_| r.denoiser == DenoiserKind::Learned)
                    .map(|m| m.summary.objective);
                for &kind in SamplerKind::all() {
                    let fits = objective.is_none_or(|o| kind.fits(o));
                    ui.add_enabled_ui(fits, |ui| ui.selectable_value(&mut r.sampler, kind, kind.label()))
                        .response
                        .on_disabled_hover_text(format!(
                            "The model is trained by {}: it samples with {}",
                            objective.map_or_else(String::new, |o| o.to_string()),
                            objective.map_or_else(String::new, SamplerKind::names_for)
                        ));
                }
            })
            .response
            .labelled_by(label.id);
        if r.sampler.strided() {
            let label = ui.label("K");
            ui.add(egui::DragValue::new(&mut r.ddim_steps).range(1..=model.schedule.steps()))
                .labelled_by(label.id)
                .on_hover_text("Steps, evenly spaced over T (Heun evaluates the network twice a step)");
        }
        if r.sampler.uses_eta() {
            ui.add(egui::Slider::new(&mut r.ddim_eta, 0.0..=1.0).text("η"))
                .on_hover_text("0: deterministic; 1 with every step: DDPM with σ² = β̃_t");
        }
        ui.separator();
        chain_options_ui(ui, settings, model);
        ui.separator();
        let has_frames = chain.is_some_and(|c| !c.frames.is_empty());
        // `add_enabled`, not a scope: a scope in a wrapped row is placed before its size is
        // known and cannot move to the next row (the button sat under the math panel).
        if ui
            .add_enabled(
                has_frames && model.export.is_none(),
                egui::Button::new("chain GIF"),
            )
            .on_hover_text(
                "The chain on screen as an animated GIF for slides (up to 100 frames, the last held \
                 a second): x_t with the paths, and x̂_0, in the window's colours",
            )
            .on_disabled_hover_text("Sample first (or wait for the running export)")
            .clicked()
        {
            commands.push(Command::ExportChainGif);
        }
        super::controls::gif_side_ui(ui, &mut settings.reverse.gif_side);
        sdedit_ui(ui, settings, model);
    });
    // A row of its own: in the options' row the class and w pushed the speed slider past
    // the window's edge at 1280×720 (a slider with its label does not wrap as one).
    guidance_ui(ui, settings, model);
}

/// A class-conditional model's class picker and guidance weight (a row of their own;
/// nothing for other models): the class restarts a live chain, `w` acts on it at once.
fn guidance_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model) {
    let Some(m) = model.learning.learned.as_ref().filter(|m| m.summary.classes > 0) else {
        return;
    };
    if settings.reverse.denoiser != DenoiserKind::Learned {
        return;
    }
    let (classes, dataset) = (m.summary.classes, &m.summary.dataset);
    let r = &mut settings.reverse;
    ui.horizontal(|ui| {
        let name = |c: ClassChoice| match c {
            ClassChoice::Any => "any".to_owned(),
            ClassChoice::Class(k) => class_name(dataset, k),
        };
        let label = ui.label("class").on_hover_text(
            "The class the chain samples (the model is class-conditional): any draws a class per \
             sample. Changing it restarts a running chain",
        );
        egui::ComboBox::from_id_salt("class")
            .selected_text(name(r.class))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut r.class, ClassChoice::Any, "any");
                for k in 0..classes {
                    ui.selectable_value(&mut r.class, ClassChoice::Class(k), class_name(dataset, k));
                }
            })
            .response
            .labelled_by(label.id);
        ui.spacing_mut().slider_width = 110.0;
        ui.add(
            egui::Slider::new(&mut r.guidance, 0.0..=MAX_GUIDANCE)
                .step_by(0.25)
                .text("w"),
        )
        .on_hover_text(
            "Classifier-free guidance: ε̃ = (1 + w)·ε̂(x, c) − w·ε̂(x, ∅). 0 samples the model as \
                 trained; larger w makes samples surer of their class and less varied. Acts on a \
                 running chain at once",
        );
    });
}

/// Samples, seed and speed (in the options' row).
fn chain_options_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model) {
    let r = &mut settings.reverse;
    let label = ui.label("samples");
    let photo_model = r.denoiser == DenoiserKind::Learned
        && model
            .learning
            .learned
            .as_ref()
            .is_some_and(|m| m.summary.photo.is_some());
    if photo_model {
        ui.add(egui::DragValue::new(&mut r.n_photos).range(1..=MAX_PHOTO_SAMPLES))
            .labelled_by(label.id);
        let label = ui.label("canvas");
        egui::ComboBox::from_id_salt("canvas")
            .selected_text(r.canvas.label())
            .show_ui(ui, |ui| {
                for canvas in Canvas::ALL {
                    ui.selectable_value(&mut r.canvas, canvas, canvas.label());
                }
            })
            .response
            .labelled_by(label.id)
            .on_hover_text(
                "The single-image model is fully convolutional: it samples a canvas of any size \
                 (SDEdit starts from the photo, at its size)",
            );
    } else if matches!(sample_shape_of(r, model), Some(DataShape::Points) | None) {
        ui.add(
            egui::DragValue::new(&mut r.n_points)
                .range(1..=10_000)
                .speed(10.0),
        )
        .labelled_by(label.id);
    } else {
        ui.add(egui::DragValue::new(&mut r.n_images).range(1..=144))
            .labelled_by(label.id);
    }
    let label = ui.label("seed");
    ui.add(egui::DragValue::new(&mut r.seed).range(0..=99_999))
        .labelled_by(label.id);
    ui.separator();
    // `add_enabled`, not a scope: a scope in a wrapped row cannot move to the next row,
    // and with a conditional model's class and w in the row the slider ran off its end.
    ui.spacing_mut().slider_width = 90.0;
    ui.add_enabled(
        !r.max_speed,
        egui::Slider::new(&mut r.steps_per_s, 1.0..=2000.0)
            .logarithmic(true)
            .text("steps/s"),
    );
    ui.checkbox(&mut r.max_speed, "max")
        .on_hover_text("As fast as the model goes");
}

/// The shape of the samples under the reverse settings `r`.
fn sample_shape_of(r: &crate::app::settings::ReverseSettings, model: &Model) -> Option<DataShape> {
    model.learning.chain.as_ref().map(|c| c.shape).or_else(|| {
        model
            .learning
            .denoiser_shape(r.denoiser == DenoiserKind::Ideal, &model.scene)
    })
}

/// SDEdit's switch and start, on a row of their own, when the data and the model are images.
fn sdedit_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model) {
    let chain = model.learning.chain.as_ref();
    let r = &mut settings.reverse;
    let shape = sample_shape_of(r, model);
    let image_data = matches!(model.scene.data, SceneData::Image(_));
    let image_model = matches!(shape, Some(DataShape::Image { .. }))
        && (r.denoiser == DenoiserKind::Ideal || model.learning.learned_fits(&model.scene) || image_data);
    if image_data && image_model {
        ui.end_row();
        ui.checkbox(&mut r.sdedit, "SDEdit: start from the data noised to")
            .on_hover_text("Meng et al. 2022: noise the data on screen to t, then run the reverse chain");
        ui.add_enabled_ui(r.sdedit, |ui| {
            let steps = chain.map_or(model.schedule.steps(), |c| c.steps).max(1);
            ui.add(egui::Slider::new(&mut r.sdedit_t, 1..=steps).text("t₀"));
        });
    }
}

/// The chain's progress (the bar says how far and whether it runs, its hover how to
/// scrub), any warning, and what runs (cut short when narrow; whole on hover).
fn status_ui(ui: &mut egui::Ui, settings: &Settings, model: &Model, chain: &ChainView) {
    let (done, total) = chain.progress;
    let (state, hint) = if chain.done {
        (
            "done",
            format!("{} frames: ← → or t scrub them", chain.frames.len()),
        )
    } else if chain.paused {
        ("paused", "← one step · → or t scrub back".to_owned())
    } else {
        ("running", "Space pauses".to_owned())
    };
    ui.add(
        egui::ProgressBar::new(done as f32 / total.max(1) as f32)
            .desired_width(if chain.nfe.is_some() { 290.0 } else { 210.0 })
            .text(format!(
                "step {done} / {total} · {state}{}",
                chain.nfe.map_or_else(String::new, |n| format!(" · {n} NFE"))
            )),
    )
    .on_hover_text(hint);
    let r = &settings.reverse;
    let short = chain
        .achieved_rate()
        .filter(|rate| chain.running() && !r.max_speed && *rate < RATE_SHORTFALL * f64::from(r.steps_per_s));
    if let Some(rate) = short {
        ui.label(
            RichText::new(format!(
                "achieved {} steps/s of {} set",
                rate.round(),
                r.steps_per_s.round()
            ))
            .color(theme::warning_color(ui.visuals().dark_mode)),
        )
        .on_hover_text(
            "Steps per second over the last second, from when the frames arrived: the model (or a \
             busy machine) is slower than the speed set",
        );
    }
    if chain.steps != model.schedule.steps() {
        ui.label(
            RichText::new(format!("the model's T = {}", chain.steps))
                .color(theme::warning_color(ui.visuals().dark_mode)),
        )
        .on_hover_text(format!(
            "The model was trained with T = {}; the app's T = {}: t is capped at it",
            chain.steps,
            model.schedule.steps()
        ));
    }
    match result(chain, model) {
        // The result takes the description's place (which moves to its hover), so it
        // neither pushes the views down when it appears nor takes a line of its own.
        Some(result) => {
            let hover = if chain.readout.is_some() {
                format!("{}\n\n{GUIDANCE_HOVER}", chain.description)
            } else {
                chain.description.clone()
            };
            ui.add(egui::Label::new(RichText::new(result).size(17.0).strong()).truncate())
                .on_hover_text(hover);
        }
        None => {
            ui.add(egui::Label::new(RichText::new(&chain.description).size(17.0).strong()).truncate());
        }
    }
}

/// At the end of a guided chain, what guidance traded (against the last chain of the same
/// class at another `w`); at the end of a 2D chain, how many samples are copies of points
/// on screen, and what that says of the denoiser.
fn result(chain: &ChainView, model: &Model) -> Option<String> {
    if let Some(now) = &chain.readout {
        let dataset = model
            .learning
            .learned
            .as_ref()
            .map_or("", |m| m.summary.dataset.as_str());
        return Some(guidance_result(now, &model.learning.guidance_history, dataset));
    }
    let fraction = chain.near_fraction?;
    let who = if chain.ideal {
        "the ideal denoiser reproduces the data"
    } else {
        "a learned model generalises (compare: the ideal denoiser)"
    };
    Some(format!(
        "{:.1} % of samples within {NEAR_RADIUS} of a point on screen: {who}",
        100.0 * fraction
    ))
}

/// `w 0 → 3 (7): confidence 0.90 → 0.98, as asked 85 → 100 %, diversity 1.00 → 0.71×`,
/// or the newest chain's numbers alone when no earlier chain of its class ran at another
/// `w`; the hover says what each number is.
fn guidance_result(now: &GuidanceReadout, history: &[GuidanceReadout], dataset: &str) -> String {
    let class = match now.class {
        ClassChoice::Any => "any class".to_owned(),
        ClassChoice::Class(k) => class_name(dataset, k),
    };
    let before = history
        .iter()
        .rev()
        .find(|r| r.class == now.class && r.weight.to_bits() != now.weight.to_bits());
    match before {
        Some(b) => format!(
            "w {} → {} ({class}): confidence {:.2} → {:.2}, as asked {:.0} → {:.0} %, diversity {:.2} → {:.2}×",
            b.weight,
            now.weight,
            b.confidence,
            now.confidence,
            100.0 * b.as_asked,
            100.0 * now.as_asked,
            b.diversity,
            now.diversity
        ),
        None => format!(
            "w {} ({class}): confidence {:.2}, as asked {:.0} %, diversity {:.2}×",
            now.weight,
            now.confidence,
            100.0 * now.as_asked,
            now.diversity
        ),
    }
}

/// What the guidance readout's numbers are (its hover).
pub const GUIDANCE_HOVER: &str = "What guidance traded, on the samples on screen: confidence is \
    the mean top-class probability a 10-nearest-neighbour classifier on the model's labelled \
    training data gives them, as asked the share it puts in the class asked for, diversity \
    their mean pairwise distance over the data's (of the same classes). Change w and sample \
    again to compare.";

/// When the chain starts from `x_T ~ N(0, I)` under a schedule whose `x_T` still carries
/// `x_0`: the start is not the distribution the chain reverses.
fn start_warning_ui(ui: &mut egui::Ui, settings: &Settings, model: &Model, shape: Option<DataShape>) {
    let sdedit = settings.reverse.sdedit && matches!(shape, Some(DataShape::Image { .. }));
    if sdedit {
        return;
    }
    if let Some(warning) = super::forward_tab::x_t_warning(&model.schedule) {
        ui.label(
            RichText::new(format!(
                "{warning}, but sampling starts from x_T ~ N(0, I): the chain starts where the forward process never goes"
            ))
            .strong()
            .color(theme::warning_color(ui.visuals().dark_mode)),
        );
    }
}

/// `p` in data coordinates to the screen in `rect`.
fn to_screen(rect: egui::Rect, p: [f64; 2]) -> egui::Pos2 {
    egui::pos2(
        rect.left() + ((p[0] + EXTENT) / (2.0 * EXTENT)) as f32 * rect.width(),
        rect.bottom() - ((p[1] + EXTENT) / (2.0 * EXTENT)) as f32 * rect.height(),
    )
}

/// The square of a scatter with the faint data behind (the Forward tab's look); its rect.
pub(super) fn scatter_frame(
    ui: &mut egui::Ui,
    background: Option<&egui::TextureHandle>,
    side: f32,
    name: &str,
) -> egui::Rect {
    let (rect, response) = ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::hover());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::accesskit::Role::Image, true, name));
    let painter = ui.painter_at(rect);
    let dark = ui.visuals().dark_mode;
    match background {
        Some(texture) => {
            let uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
            painter.image(texture.id(), rect, uv, egui::Color32::WHITE);
        }
        None => {
            painter.rect_stroke(
                rect,
                2.0,
                egui::Stroke::new(1.0, theme::faint_color(dark)),
                egui::StrokeKind::Inside,
            );
        }
    }
    if let Some(pos) = response.hover_pos() {
        let x = (f64::from((pos.x - rect.left()) / rect.width()) * 2.0 - 1.0) * EXTENT;
        let y = (1.0 - f64::from((pos.y - rect.top()) / rect.height()) * 2.0) * EXTENT;
        response.on_hover_text_at_pointer(format!("({x:.2}, {y:.2})"));
    }
    rect
}

/// `points` as one mesh (two triangles a point) in `rect`.
pub(super) fn scatter_points(ui: &egui::Ui, rect: egui::Rect, points: &[[f64; 2]], color: egui::Color32) {
    let mut mesh = egui::Mesh::default();
    let r = (rect.width() / 300.0).clamp(1.2, 2.5);
    for &p in points {
        let c = to_screen(rect, p);
        if rect.contains(c) {
            mesh.add_colored_rect(
                egui::Rect::from_center_size(c, egui::vec2(2.0 * r, 2.0 * r)),
                color,
            );
        }
    }
    ui.painter_at(rect).add(egui::Shape::mesh(mesh));
}

/// The score `−ε̂` as arrows at the grid points, the longest one grid spacing long (the
/// factor `1/√(1−ᾱ_t)` is the same for every arrow, so the picture is the score's).
fn arrows(ui: &egui::Ui, rect: egui::Rect, points: &[f32], eps: &[f32]) {
    let painter = ui.painter_at(rect);
    let longest = eps
        .chunks_exact(2)
        .map(|e| f64::from(e[0]).hypot(f64::from(e[1])))
        .fold(0.0, f64::max);
    if longest <= 0.0 || !longest.is_finite() {
        return;
    }
    let spacing_px = rect.width() / EPS_GRID as f32;
    let scale = 0.95 * spacing_px / longest as f32;
    let stroke = egui::Stroke::new(1.6, theme::arrow_color(ui.visuals().dark_mode));
    for (p, e) in points.chunks_exact(2).zip(eps.chunks_exact(2)) {
        let origin = to_screen(rect, [f64::from(p[0]), f64::from(p[1])]);
        // Screen y points down.
        let v = egui::vec2(-e[0], e[1]) * scale;
        if v.length() > 1.0 {
            painter.arrow(origin - v / 2.0, v, stroke);
        }
    }
}

fn draw_paths(ui: &egui::Ui, rect: egui::Rect, paths: &[Vec<[f64; 2]>]) {
    draw_paths_with(ui, rect, paths, 0.4);
}

/// Each path a line of its sample's colour at `opacity`, its end a dot.
fn draw_paths_with(ui: &egui::Ui, rect: egui::Rect, paths: &[Vec<[f64; 2]>], opacity: f32) {
    let painter = ui.painter_at(rect);
    for (k, path) in paths.iter().enumerate() {
        let Some(&last) = path.last() else { continue };
        let color = theme::PATH_COLORS[k % theme::PATH_COLORS.len()];
        painter.add(egui::Shape::line(
            decimate(path.iter().map(|&p| to_screen(rect, p))),
            egui::Stroke::new(1.0, color.gamma_multiply(opacity)),
        ));
        painter.circle_filled(to_screen(rect, last), 5.0, color);
    }
}

/// An image view in a `side`-point square, named `name` for screen readers and tests.
fn image(ui: &mut egui::Ui, texture: Option<&egui::TextureHandle>, side: f32, name: &str) {
    let response = match texture {
        Some(texture) => {
            let size = texture.size_vec2();
            let scale = side / size.x.max(size.y);
            ui.add(egui::Image::from_texture((texture.id(), size * scale)))
        }
        None => {
            ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::hover())
                .1
        }
    };
    response.widget_info(|| egui::WidgetInfo::labeled(egui::accesskit::Role::Image, true, name));
}
