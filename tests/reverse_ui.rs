//! The Reverse tab and the Model/Training sections driven through egui_kittest: the chain
//! runs on the `model` worker and its frames arrive, Pause + Step advance exactly one step,
//! the t slider scrubs the stored frames, a bad weights file keeps the model, training
//! reports progress, the digits and SDEdit work. Small T and few samples keep each fast.

use std::collections::HashMap;
use std::time::Duration;

use diffscope::app::reverse::LearnedOrigin;
use diffscope::app::scene::SceneData;
use diffscope::app::settings::{DenoiserSetting, ReverseSettings, SamplerKind, Settings, SourceChoice, Tab};
use diffscope::app::{Command, DiffscopeApp};
use diffscope::diffusion::{ScheduleKind, ScheduleSpec};
use diffscope::model::conv::ConvConfig;
use diffscope::model::mlp::MlpConfig;
use diffscope::model::{Architecture, Model, ModelInfo, Network, io};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use crate::ui::{drop_file, harness_with, label_starting, scratch, step_until};

/// Two moons (200 points), linear T = 50, the Reverse tab, the ideal denoiser, 100 samples.
fn settings(reverse: &ReverseSettings) -> Settings {
    Settings {
        source: SourceChoice::Dataset("two-moons".into()),
        n_points: 200,
        schedule: ScheduleSpec::new(ScheduleKind::Linear, 50),
        t: 50,
        tab: Tab::Reverse,
        show_math: false,
        export_dir: scratch("reverse-exports"),
        reverse: ReverseSettings {
            denoiser: DenoiserSetting::Ideal,
            n_points: 100,
            max_speed: true,
            ..reverse.clone()
        },
        ..Settings::default()
    }
}

fn chain_done(app: &DiffscopeApp) -> bool {
    app.model.learning.chain.as_ref().is_some_and(|c| c.done)
}

/// Steps the app for `duration`, so that whatever the worker had in flight arrives.
fn settle(harness: &mut Harness<'_, DiffscopeApp>, duration: Duration) {
    let start = std::time::Instant::now();
    while start.elapsed() < duration {
        harness.step();
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn sample_runs_the_ideal_chain_down_to_t_0_and_it_reproduces_the_points() {
    // 50 points on screen, T = 200, σ² = β̃_t: near the end the posterior picks one point.
    let mut harness = harness_with(Settings {
        n_points: 50,
        schedule: ScheduleSpec::new(ScheduleKind::Linear, 200),
        ..settings(&ReverseSettings {
            sampler: SamplerKind::DdpmPosterior,
            ..ReverseSettings::default()
        })
    });
    harness.get_by_label("Sample").click();
    step_until(&mut harness, "the chain to finish", chain_done);
    let app = harness.state();
    let chain = app.model.learning.chain.as_ref().unwrap();
    assert_eq!(chain.progress, (200, 200));
    // One frame per step, from x_T down to x_0, each of 100 points.
    let ts: Vec<usize> = chain.frames.iter().map(|f| f.t).collect();
    assert_eq!(ts, (0..=200).rev().collect::<Vec<_>>());
    assert!(
        chain
            .frames
            .iter()
            .all(|f| f.x.len() == 200 && f.x0_hat.len() == 200)
    );
    // The global t followed the chain down to 0.
    assert_eq!(app.settings.t, 0);
    // The ideal denoiser reproduces the training points: most samples sit on one. (Not
    // all: x_0 = x̂_0(x_1) blends two points closer than about √(2β̃)·… ≈ 0.03, and with 50
    // random points on the moons a fifth of the gaps are that small; 0.79 measured.)
    let fraction = chain
        .near_fraction
        .expect("the fraction at the end of a 2D chain");
    assert!(fraction > 0.7, "{fraction}");
    let shown = label_starting(
        &harness,
        &format!("{:.1} % of samples within 0.01", 100.0 * fraction),
    );
    assert!(shown.contains("ideal denoiser reproduces"), "{shown}");
    // The ε field of the shown step arrives too (15 × 15 arrows).
    step_until(&mut harness, "the ε field", |app| {
        app.model.learning.eps.as_ref().is_some_and(|e| e.key.t == 1)
    });
    assert_eq!(
        harness.state().model.learning.eps.as_ref().unwrap().eps.len(),
        2 * 15 * 15
    );
}

#[test]
fn pause_then_step_advances_exactly_one_step_and_left_arrow_another() {
    let mut harness = harness_with(settings(&ReverseSettings {
        steps_per_s: 20.0,
        ..ReverseSettings::default()
    }));
    // Slow, so that it is still running when paused.
    harness.state_mut().settings.reverse.max_speed = false;
    harness.run_steps(1);
    harness.state_mut().push(Command::Sample);
    step_until(&mut harness, "three frames", |app| {
        app.model
            .learning
            .chain
            .as_ref()
            .is_some_and(|c| c.frames.len() >= 3)
    });
    harness.get_by_label("Pause").click();
    settle(&mut harness, Duration::from_millis(300));
    let done = |app: &DiffscopeApp| app.model.learning.chain.as_ref().unwrap().progress.0;
    let before = done(harness.state());
    assert!(harness.state().model.learning.chain.as_ref().unwrap().paused);
    settle(&mut harness, Duration::from_millis(300));
    assert_eq!(done(harness.state()), before, "a paused chain stays");
    harness.get_by_label("Step").click();
    step_until(&mut harness, "one step", |app| done(app) == before + 1);
    settle(&mut harness, Duration::from_millis(300));
    assert_eq!(done(harness.state()), before + 1, "exactly one step");
    // t shows the new frame, and ← at the newest frame takes the next step.
    let newest = |app: &DiffscopeApp| app.model.learning.chain.as_ref().unwrap().newest().unwrap().t;
    assert_eq!(harness.state().settings.t, newest(harness.state()));
    assert_eq!(newest(harness.state()), 50 - before - 1);
    harness.key_press(egui::Key::ArrowLeft);
    step_until(&mut harness, "the ← step", |app| done(app) == before + 2);
    settle(&mut harness, Duration::from_millis(200));
    assert_eq!(done(harness.state()), before + 2);
    // Space resumes it to the end.
    harness.key_press(egui::Key::Space);
    step_until(&mut harness, "the chain to finish", chain_done);
}

#[test]
fn the_t_slider_and_the_arrows_scrub_the_stored_frames() {
    let mut harness = harness_with(settings(&ReverseSettings::default()));
    harness.state_mut().push(Command::Sample);
    step_until(&mut harness, "the chain to finish", chain_done);
    harness
        .get_by_role_and_label(Role::Slider, "t")
        .set_value_accesskit(25.0);
    harness.run_steps(2);
    let app = harness.state();
    assert_eq!(app.settings.t, 25);
    let chain = app.model.learning.chain.as_ref().unwrap();
    let shown = chain.shown(25).unwrap();
    assert_eq!(shown.t, 25);
    assert_eq!(shown, &chain.frames[25], "frames are stored from t = 50 down");
    label_starting(&harness, "x_t at t = 25");
    // → goes to the older frame (t + 1), Shift+← ten frames towards x_0.
    harness.key_press(egui::Key::ArrowRight);
    harness.run_steps(1);
    assert_eq!(harness.state().settings.t, 26);
    harness.key_press_modifiers(egui::Modifiers::SHIFT, egui::Key::ArrowLeft);
    harness.run_steps(1);
    assert_eq!(harness.state().settings.t, 16);
    // No new chain steps: it was done.
    assert_eq!(
        harness
            .state()
            .model
            .learning
            .chain
            .as_ref()
            .unwrap()
            .frames
            .len(),
        51
    );
}

/// A 2D model file (fresh weights) and a file that declares an MLP but holds a conv net's
/// tensors.
fn model_files(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let info = ModelInfo {
        schedule: ScheduleSpec::new(ScheduleKind::Linear, 50),
        dataset: "two-moons".into(),
        iterations: 0,
        seed: 1,
        command: "test".into(),
    };
    let good = dir.join("fresh.safetensors");
    let mlp = Model {
        network: Network::new(Architecture::Mlp2d(MlpConfig::default()), 1),
        info: info.clone(),
    };
    io::save(&mlp, &good).unwrap();
    let conv = Model {
        network: Network::new(Architecture::Conv(ConvConfig::digits()), 1),
        info,
    };
    let bytes = io::to_bytes(&conv).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta: HashMap<String, String> = header.metadata().clone().unwrap();
    meta.insert("architecture".into(), "mlp2d".into());
    meta.insert("hidden".into(), "128".into());
    meta.insert("embedding".into(), "128".into());
    let wrong = dir.join("wrong.safetensors");
    std::fs::write(
        &wrong,
        safetensors::serialize(tensors.tensors(), Some(meta)).unwrap(),
    )
    .unwrap();
    (good, wrong)
}

#[test]
fn a_weights_file_of_the_wrong_architecture_is_refused_and_the_model_kept() {
    let dir = scratch("reverse-weights");
    let (good, wrong) = model_files(&dir);
    let mut harness = harness_with(settings(&ReverseSettings::default()));
    // Start-up may load the shipped two-moons weights: wait for that first.
    step_until(&mut harness, "the start-up model", |app| {
        app.model.learning.pending.is_none()
    });
    drop_file(&mut harness, &good);
    step_until(&mut harness, "the dropped model", |app| {
        app.model
            .learning
            .learned
            .as_ref()
            .is_some_and(|m| m.origin == LearnedOrigin::File(good.clone()))
    });
    // Loading a model chooses it for the chain.
    assert_eq!(
        harness.state().settings.reverse.denoiser,
        DenoiserSetting::Learned
    );
    drop_file(&mut harness, &wrong);
    step_until(&mut harness, "the error", |app| app.model.status.error.is_some());
    let app = harness.state();
    let error = app.model.status.error.clone().unwrap();
    assert!(
        error.contains("wrong.safetensors") && error.contains("not of the architecture"),
        "{error}"
    );
    let learned = app.model.learning.learned.as_ref().unwrap();
    assert_eq!(learned.origin, LearnedOrigin::File(good.clone()));
    assert!(app.model.learning.pending.is_none());
    label_starting(&harness, "error: ");
    // The kept model still samples (fresh weights: noise, but 50 steps of it).
    harness.state_mut().push(Command::Sample);
    step_until(&mut harness, "the learned chain", chain_done);
    assert_eq!(
        harness.state().model.learning.chain.as_ref().unwrap().progress,
        (50, 50)
    );
}

#[test]
fn training_a_few_iterations_on_two_moons_reports_progress_and_becomes_the_model() {
    let mut harness = harness_with(settings(&ReverseSettings {
        iterations: 20,
        batch: 64,
        ..ReverseSettings::default()
    }));
    step_until(&mut harness, "the start-up model", |app| {
        app.model.learning.pending.is_none()
    });
    // The button is below the fold of the left panel: the command it pushes.
    harness.state_mut().push(Command::Train);
    step_until(&mut harness, "progress", |app| {
        app.model
            .learning
            .training
            .as_ref()
            .is_some_and(|t| t.iteration > 0)
            || app.model.status.error.is_some()
    });
    let status = harness.state().model.status.clone();
    assert!(status.error.is_none(), "{status:?}");
    step_until(&mut harness, "the end of training", |app| {
        app.model.learning.training.as_ref().is_some_and(|t| !t.running())
            && app.model.learning.trained_file.is_some()
    });
    let app = harness.state();
    let training = app.model.learning.training.as_ref().unwrap();
    assert_eq!((training.iteration, training.total), (20, 20));
    assert!(!training.loss.is_empty() && training.loss.iter().all(|p| p[1].is_finite() && p[1] > 0.0));
    assert!(!training.validation.is_empty(), "validated at the end");
    let learned = app.model.learning.learned.as_ref().unwrap();
    assert_eq!(learned.origin, LearnedOrigin::Trained);
    assert_eq!(learned.summary.iterations, 20);
    assert_eq!(
        learned.summary.schedule.steps, 50,
        "trained with the app's schedule"
    );
    assert_eq!(app.settings.reverse.denoiser, DenoiserSetting::Learned);
    label_starting(&harness, "iteration 20 / 20");
}

#[test]
fn the_digits_are_data_and_sdedit_starts_from_them_noised() {
    let mut harness = harness_with(settings(&ReverseSettings {
        n_images: 4,
        sdedit: true,
        sdedit_t: 20,
        ..ReverseSettings::default()
    }));
    harness.get_by_role_and_label(Role::ComboBox, "Data").click();
    harness.run_steps(2);
    harness.get_by_label("digits (8×8)").click();
    step_until(&mut harness, "the digits", |app| app.model.scene.name == "digits");
    let app = harness.state();
    assert_eq!(app.settings.source, SourceChoice::Digits);
    let SceneData::Image(img) = &app.model.scene.data else {
        panic!("the digits are an image grid")
    };
    // 8 × 8 digits with 1-pixel gaps.
    assert_eq!((img.width, img.height, img.channels), (71, 71, 1));
    harness.state_mut().push(Command::Sample);
    step_until(&mut harness, "the SDEdit chain", chain_done);
    let app = harness.state();
    let chain = app.model.learning.chain.as_ref().unwrap();
    // SDEdit: the chain starts at t = 20, not T, with four 8×8 digits.
    assert_eq!(chain.frames[0].t, 20);
    assert_eq!(chain.progress, (20, 20));
    assert_eq!(chain.frames[0].x.len(), 4 * 64);
    assert!(chain.description.contains("SDEdit"), "{}", chain.description);
    step_until(&mut harness, "the grids", |app| {
        app.model.learning.textures.0.is_some() && app.model.learning.textures.1.is_some()
    });
    // The grid of 4 digits: 2 × 2 tiles with a 1-pixel gap.
    let size = harness.state().model.learning.textures.0.as_ref().unwrap().size();
    assert_eq!(size, [17, 17]);
}
