//! The Reverse tab and the Model/Training sections driven through egui_kittest: the chain
//! runs on the `model` worker and its frames arrive, Pause + Step advance exactly one step,
//! the t slider scrubs the stored frames, a bad weights file keeps the model, training
//! reports progress, the digits and SDEdit work. Small T and few samples keep each fast.

use std::collections::HashMap;
use std::time::Duration;

use diffscope::app::reverse::{ChainView, LearnedOrigin};
use diffscope::app::settings::{DenoiserKind, ReverseSettings, SamplerKind, Settings, SourceChoice, Tab};
use diffscope::app::{Command, DiffscopeApp};
use diffscope::diffusion::{ScheduleKind, ScheduleSpec};
use diffscope::model::conv::ConvConfig;
use diffscope::model::mlp::MlpConfig;
use diffscope::model::{Architecture, Checkpoint, ModelInfo, Network, io};
use diffscope::scene::SceneData;
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};

use crate::model_worker::worker_clock;
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
            denoiser: DenoiserKind::Ideal,
            n_points: 100,
            max_speed: true,
            ..reverse.clone()
        },
        ..Settings::default()
    }
}

/// The app of [`settings`] with `reverse` at 20 steps/s (not as fast as it goes), a chain
/// sampled and three of its frames in.
fn sampling_slowly(reverse: &ReverseSettings) -> Harness<'static, DiffscopeApp> {
    let mut harness = harness_with(settings(&ReverseSettings {
        steps_per_s: 20.0,
        ..reverse.clone()
    }));
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
    harness
}

fn chain_done(app: &DiffscopeApp) -> bool {
    app.model.learning.chain.as_ref().is_some_and(|c| c.done)
}

/// A round trip through the `model` worker: drops the ε field shown, so that the app asks
/// the worker for it again, and steps the app until the answer is in. The worker handles
/// commands in order and its events keep their order, so after it everything the worker
/// sent before has arrived.
fn worker_round_trip(harness: &mut Harness<'_, DiffscopeApp>) {
    harness.state_mut().model.learning.eps = None;
    step_until(harness, "the ε field asked again", |app| {
        app.model.learning.eps.is_some() && app.model.learning.eps_requested.is_none()
    });
}

/// A barrier instead of a sleep, before checking that the chain did not move: a clock
/// that runs at the machine's speed (a second worker's training, see
/// [`crate::model_worker::barrier`]), in which a chain that runs would have taken steps
/// on the app's worker, then a round trip that brings them in.
fn worker_barrier(harness: &mut Harness<'_, DiffscopeApp>) {
    worker_clock();
    worker_round_trip(harness);
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
    // Slow, so that it is still running when paused.
    let mut harness = sampling_slowly(&ReverseSettings::default());
    harness.get_by_label("Pause").click();
    // Full speed from here: a chain that did not pause would now step as fast as the
    // worker can (at 20 steps/s it might sleep through a short barrier).
    harness.state_mut().settings.reverse.max_speed = true;
    harness.run_steps(1);
    // The frames sent before the pause took effect have arrived after one round trip.
    worker_round_trip(&mut harness);
    let done = |app: &DiffscopeApp| app.model.learning.chain.as_ref().unwrap().progress.0;
    let before = done(harness.state());
    assert!(harness.state().model.learning.chain.as_ref().unwrap().paused);
    assert!(before < 50, "the chain ran to its end before the pause: {before}");
    worker_barrier(&mut harness);
    assert_eq!(done(harness.state()), before, "a paused chain stays");
    harness.get_by_label("Step").click();
    step_until(&mut harness, "one step", |app| done(app) == before + 1);
    worker_barrier(&mut harness);
    assert_eq!(done(harness.state()), before + 1, "exactly one step");
    // t shows the new frame, and ← at the newest frame takes the next step.
    let newest = |app: &DiffscopeApp| app.model.learning.chain.as_ref().unwrap().newest().unwrap().t;
    assert_eq!(harness.state().settings.t, newest(harness.state()));
    assert_eq!(newest(harness.state()), 50 - before - 1);
    harness.key_press(egui::Key::ArrowLeft);
    step_until(&mut harness, "the ← step", |app| done(app) == before + 2);
    worker_barrier(&mut harness);
    assert_eq!(done(harness.state()), before + 2, "exactly one more step");
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
        ema: None,
        command: "test".into(),
        objective: diffscope::model::Objective::Epsilon,
    };
    let good = dir.join("fresh.safetensors");
    let mlp = Checkpoint {
        network: Network::new(Architecture::Mlp2d(MlpConfig::default()), 1),
        info: info.clone(),
    };
    io::save(&mlp, &good).unwrap();
    let conv = Checkpoint {
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
    assert_eq!(harness.state().settings.reverse.denoiser, DenoiserKind::Learned);
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
    assert_eq!(app.settings.reverse.denoiser, DenoiserKind::Learned);
    label_starting(&harness, "iteration 20 / 20");
    // The SW2 plot's legend names its line (with the points on it) once (issue 12 item 8).
    step_until(&mut harness, "the SW2 plot", |app| {
        app.model
            .learning
            .training
            .as_ref()
            .is_some_and(|t| !t.metric.is_empty())
    });
    let entries: Vec<String> = harness
        .get_all_by_role(Role::CheckBox)
        .filter_map(|n| n.accesskit_node().label())
        .filter(|l| l.starts_with("SW2"))
        .collect();
    assert_eq!(entries, ["SW2"], "the SW2 plot's legend");
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

/// The number after `prefix` in the one label that starts with it (`x_t at t = 959`).
#[track_caller]
fn shown_number(harness: &Harness<'_, DiffscopeApp>, prefix: &str) -> usize {
    let label = label_starting(harness, prefix);
    label[prefix.len()..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number in {label:?}"))
}

/// The labels that start with `prefix`, none if there are none.
fn query_labels_starting(harness: &Harness<'_, DiffscopeApp>, prefix: &str) -> Vec<String> {
    harness
        .query_all_by_label_contains(prefix)
        .filter_map(|n| n.accesskit_node().label().or_else(|| n.value()))
        .filter(|l| l.starts_with(prefix))
        .collect()
}

fn progress(app: &DiffscopeApp) -> (usize, usize) {
    app.model.learning.chain.as_ref().map_or((0, 0), |c| c.progress)
}

/// Issue 12 item 6: frames the worker sent before it saw Pause still arrive; the view
/// stays on the newest (the one the progress bar counts), and its caption says so.
#[test]
fn after_pause_the_caption_names_the_newest_frame_the_progress_counts() {
    // 1000 steps of 1000 samples against 200 points: long enough to pause mid-way, and
    // at full speed many frames are in flight when Pause is pressed.
    let mut harness = harness_with(Settings {
        schedule: ScheduleSpec::new(ScheduleKind::Linear, 1000),
        t: 1000,
        ..settings(&ReverseSettings {
            n_points: 1000,
            ..ReverseSettings::default()
        })
    });
    harness.state_mut().push(Command::Sample);
    step_until(&mut harness, "ten steps", |app| progress(app).0 >= 10);
    harness.get_by_label("Pause").click();
    // Before the fix t stayed where Pause found it while the progress went on.
    step_until(&mut harness, "t to be the newest frame's", |app| {
        let (done, total) = progress(app);
        app.model.learning.chain.as_ref().is_some_and(|c| c.paused) && app.settings.t == total - done
    });
    let (done, total) = progress(harness.state());
    assert!(done < total, "paused before the end");
    assert_eq!(shown_number(&harness, "x_t at t = "), total - done);
    // A single step moves view and caption to the step it computed.
    harness.get_by_label("Step").click();
    step_until(&mut harness, "the step", |app| progress(app).0 > done);
    let (done, total) = progress(harness.state());
    assert_eq!(harness.state().settings.t, total - done);
    assert_eq!(shown_number(&harness, "x_t at t = "), total - done);
}

/// Issue 12 item 6: while the chain runs, `x_t`, `x̂_0` and the arrows of the ε field
/// name the same step (`x̂_0` was predicted from the step before `x_t`'s).
#[test]
fn while_the_chain_runs_x_t_x0_hat_and_the_arrows_name_the_steps_on_screen() {
    let mut harness = harness_with(Settings {
        schedule: ScheduleSpec::new(ScheduleKind::Linear, 200),
        t: 200,
        ..settings(&ReverseSettings {
            sampler: SamplerKind::DdpmBeta,
            steps_per_s: 200.0,
            ..ReverseSettings::default()
        })
    });
    harness.state_mut().settings.reverse.max_speed = false;
    harness.run_steps(1);
    harness.state_mut().push(Command::Sample);
    let mut compared = 0;
    let start = std::time::Instant::now();
    while !chain_done(harness.state()) {
        assert!(
            start.elapsed() < Duration::from_mins(1),
            "the chain did not finish"
        );
        harness.step();
        let running = harness
            .state()
            .model
            .learning
            .chain
            .as_ref()
            .is_some_and(ChainView::running);
        let arrows = query_labels_starting(&harness, "arrows: the score at t = ");
        if running && arrows.len() == 1 {
            let xt = shown_number(&harness, "x_t at t = ");
            let eps = shown_number(&harness, "arrows: the score at t = ");
            assert_eq!(xt, eps, "x_t and the arrows name different steps");
            if xt < 200 {
                assert_eq!(shown_number(&harness, "x̂_0 from x_t at t = "), xt + 1);
            }
            compared += 1;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(compared >= 10, "only {compared} frames compared");
}

/// Issue 12 item 10: Step with no chain (or a finished one) starts a chain paused at
/// `x_T` and takes one step.
#[test]
fn step_without_a_running_chain_starts_one_paused_at_x_t_and_takes_one_step() {
    let mut harness = harness_with(settings(&ReverseSettings::default()));
    harness.get_by_label("Step").click();
    step_until(&mut harness, "the first step", |app| progress(app).0 == 1);
    let app = harness.state();
    let chain = app.model.learning.chain.as_ref().unwrap();
    assert!(chain.paused && !chain.done);
    assert_eq!(chain.frames.iter().map(|f| f.t).collect::<Vec<_>>(), [50, 49]);
    assert_eq!(app.settings.t, 49);
    assert_eq!(shown_number(&harness, "x_t at t = "), 49);
    harness.get_by_label("Step").click();
    step_until(&mut harness, "the second step", |app| progress(app).0 == 2);
    assert_eq!(harness.state().settings.t, 48);
    // Run it out; Step then starts a new chain from x_T.
    harness.key_press(egui::Key::Space);
    step_until(&mut harness, "the chain to finish", chain_done);
    let first = harness.state().model.learning.chain.as_ref().unwrap().generation;
    harness.get_by_label("Step").click();
    step_until(&mut harness, "a new chain's first step", |app| {
        app.model
            .learning
            .chain
            .as_ref()
            .is_some_and(|c| c.generation != first && c.progress.0 == 1)
    });
    let chain = harness.state().model.learning.chain.as_ref().unwrap();
    assert!(chain.paused);
    assert_eq!(chain.frames.iter().map(|f| f.t).collect::<Vec<_>>(), [50, 49]);
}

/// Issue 12 item 7: a sampler picked while a chain is paused applies: the chain restarts
/// (still paused) with it, a note says so, and the header names it.
#[test]
fn a_sampler_picked_while_a_chain_is_paused_restarts_it_with_that_sampler() {
    let mut harness = sampling_slowly(&ReverseSettings {
        sampler: SamplerKind::DdpmBeta,
        ddim_steps: 10,
        ..ReverseSettings::default()
    });
    harness.get_by_label("Pause").click();
    harness.run_steps(2);
    let first = harness.state().model.learning.chain.as_ref().unwrap().generation;
    harness.get_by_role_and_label(Role::ComboBox, "sampler").click();
    harness.run_steps(2);
    harness.get_by_label("DDIM").click();
    step_until(&mut harness, "the DDIM chain", |app| {
        app.model
            .learning
            .chain
            .as_ref()
            .is_some_and(|c| c.generation != first && !c.frames.is_empty())
    });
    let app = harness.state();
    let chain = app.model.learning.chain.as_ref().unwrap();
    assert!(chain.paused, "it stays paused");
    assert!(
        chain.description.starts_with("DDIM, 10 steps"),
        "{}",
        chain.description
    );
    let note = app.model.status.info.clone().unwrap_or_default();
    assert!(note.contains("restarted"), "{note:?}");
    label_starting(&harness, "DDIM, 10 steps");
    harness.get_by_label("Resume").click();
    step_until(&mut harness, "the chain to finish", chain_done);
    assert_eq!(progress(harness.state()), (10, 10), "DDIM ran, not DDPM");
}

/// Issue 12 item 11: a chain slower than the speed set says how fast it goes.
#[test]
fn a_chain_slower_than_the_speed_set_shows_the_rate_it_achieves() {
    // 2000 samples against 2000 points: tens of milliseconds a step, far below 2000/s.
    let mut harness = harness_with(Settings {
        n_points: 2000,
        schedule: ScheduleSpec::new(ScheduleKind::Linear, 1000),
        t: 1000,
        ..settings(&ReverseSettings {
            n_points: 2000,
            steps_per_s: 2000.0,
            ..ReverseSettings::default()
        })
    });
    harness.state_mut().settings.reverse.max_speed = false;
    step_until(&mut harness, "the data", |app| {
        app.model.points.as_ref().is_some_and(|p| p.x0.len() == 2000)
    });
    harness.state_mut().push(Command::Sample);
    let start = std::time::Instant::now();
    while query_labels_starting(&harness, "achieved ").is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for the achieved rate"
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    let shown = label_starting(&harness, "achieved ");
    let rate: f64 = shown["achieved ".len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no rate in {shown:?}"));
    assert!(rate > 0.0 && rate < 2000.0, "{shown}");
    assert!(shown.contains("of 2000 set"), "{shown}");
    harness.state_mut().push(Command::PauseChain(true));
    harness.run_steps(1);
}

/// Issue 12 item 12: the result line at the end of a 2D chain does not move or shrink
/// the views (at 1280×720, where space is short).
#[test]
fn the_views_keep_their_place_and_size_when_the_chain_finishes() {
    let settings = settings(&ReverseSettings::default());
    let options = diffscope::app::RunOptions {
        fresh: true,
        ..diffscope::app::RunOptions::default()
    };
    let mut harness = Harness::builder()
        .with_size([1280.0, 720.0])
        .build_eframe(move |cc| diffscope::gui::new_app(&cc.egui_ctx, settings, options));
    harness.run_steps(3);
    harness.state_mut().settings.reverse.max_speed = false;
    harness.state_mut().settings.reverse.steps_per_s = 50.0;
    harness.run_steps(1);
    harness.state_mut().push(Command::Sample);
    step_until(&mut harness, "a frame", |app| progress(app).0 >= 1);
    let heading = |h: &Harness<'_, DiffscopeApp>| {
        h.get_all_by_label_contains("x_t at t = ")
            .map(|n| n.rect())
            .next()
            .unwrap()
    };
    let view = |h: &Harness<'_, DiffscopeApp>| h.query_by_label("x_t view").map(|n| n.rect());
    let (heading_running, view_running) = (heading(&harness), view(&harness));
    harness.state_mut().settings.reverse.max_speed = true;
    step_until(&mut harness, "the result", |app| {
        app.model
            .learning
            .chain
            .as_ref()
            .is_some_and(|c| c.near_fraction.is_some())
    });
    label_starting(
        &harness,
        &format!(
            "{:.1} % of samples",
            100.0
                * harness
                    .state()
                    .model
                    .learning
                    .chain
                    .as_ref()
                    .unwrap()
                    .near_fraction
                    .unwrap()
        ),
    );
    // Within a pixel: the panels' widths follow their text by fractions of a pixel; the
    // two-line result this guards against moved the views down by 45 px.
    let near =
        |a: egui::Rect, b: egui::Rect| (a.min - b.min).length() < 1.0 && (a.max - b.max).length() < 1.0;
    let heading_done = heading(&harness);
    assert!(
        (heading_done.top() - heading_running.top()).abs() < 1.0,
        "the headings moved: {heading_running:?} → {heading_done:?}"
    );
    let (Some(running), Some(done)) = (view_running, view(&harness)) else {
        panic!("the x_t view is not labelled")
    };
    assert!(
        near(running, done),
        "the view moved or changed size: {running:?} → {done:?}"
    );
}

#[test]
fn a_chain_running_behind_another_tab_leaves_its_t_alone() {
    // 20 steps/s over T = 50: the chain runs for 2.5 s while the user is on Forward.
    let mut harness = sampling_slowly(&ReverseSettings::default());
    harness.get_by_label("Forward").click();
    harness.run_steps(2);
    assert_eq!(harness.state().settings.tab, Tab::Forward);
    harness
        .get_by_role_and_label(Role::Slider, "t")
        .set_value_accesskit(10.0);
    harness.run_steps(2);
    let frames = |h: &Harness<'_, DiffscopeApp>| {
        h.state()
            .model
            .learning
            .chain
            .as_ref()
            .map_or(0, |c| c.frames.len())
    };
    let before = frames(&harness);
    // Frames keep arriving (before the fix each one set t back to the chain's).
    step_until(&mut harness, "three more frames", |app| {
        app.model
            .learning
            .chain
            .as_ref()
            .is_some_and(|c| c.frames.len() >= before + 3)
    });
    assert_eq!(
        harness.state().settings.t,
        10,
        "a frame of the chain moved t on the Forward tab"
    );
    // Back on Reverse, the view follows the running chain again.
    harness.get_by_label("Reverse").click();
    step_until(&mut harness, "t to follow the chain", |app| {
        app.model
            .learning
            .chain
            .as_ref()
            .is_some_and(|c| c.done || c.newest().is_some_and(|f| f.t == app.settings.t))
    });
    let app = harness.state();
    let chain = app.model.learning.chain.as_ref().unwrap();
    assert!(chain.frames.len() > before + 3);
    assert_ne!(app.settings.t, 10);
}

/// Issue 16: the shipped two moons model is class-conditional; picking a moon in the
/// class picker and sampling guides the chain to it, the arrows become that class's
/// guided field, and a second chain at another `w` shows what guidance traded.
#[test]
fn a_class_picked_guides_the_chain_and_the_tab_says_what_guidance_traded() {
    let mut harness = harness_with(Settings {
        source: SourceChoice::Dataset("two-moons".into()),
        reverse: ReverseSettings {
            denoiser: DenoiserKind::Learned,
            sampler: SamplerKind::Ddim,
            ddim_steps: 50,
            ddim_eta: 1.0,
            n_points: 200,
            max_speed: true,
            ..ReverseSettings::default()
        },
        ..settings(&ReverseSettings::default())
    });
    harness.state_mut().settings.reverse.denoiser = DenoiserKind::Learned;
    step_until(&mut harness, "the shipped model", |app| {
        app.model
            .learning
            .learned
            .as_ref()
            .is_some_and(|m| m.summary.classes == 2)
    });
    harness.run_steps(2);
    harness.get_by_role_and_label(Role::ComboBox, "class").click();
    harness.run_steps(2);
    harness.get_by_label("lower moon").click();
    harness.run_steps(2);
    assert_eq!(
        harness.state().settings.reverse.class,
        diffscope::model::classes::ClassChoice::Class(1)
    );
    let readout = |harness: &mut Harness<'_, DiffscopeApp>| {
        let before = harness
            .state()
            .model
            .learning
            .chain
            .as_ref()
            .map(|c| c.generation);
        harness.state_mut().push(Command::Sample);
        step_until(harness, "the guided chain to finish", |app| {
            app.model
                .learning
                .chain
                .as_ref()
                .is_some_and(|c| Some(c.generation) != before && c.done && c.readout.is_some())
        });
        harness
            .state()
            .model
            .learning
            .chain
            .as_ref()
            .unwrap()
            .readout
            .unwrap()
    };
    let plain = readout(&mut harness);
    let description = harness
        .state()
        .model
        .learning
        .chain
        .as_ref()
        .unwrap()
        .description
        .clone();
    assert!(
        description.contains("guided to lower moon, w = 0"),
        "{description}"
    );
    // The lower moon is a class the model knows: most samples land on it already at w = 0.
    assert!(plain.as_asked > 0.8, "{plain:?}");
    harness.state_mut().settings.reverse.guidance = 3.0;
    harness.run_steps(1);
    let guided = readout(&mut harness);
    eprintln!("{plain:?} → {guided:?}");
    assert!(guided.as_asked >= plain.as_asked, "{plain:?} → {guided:?}");
    assert!(guided.diversity < plain.diversity, "{plain:?} → {guided:?}");
    label_starting(&harness, "w 0 → 3 (lower moon): confidence");
    // The arrows are the guided field of class 2 at w = 3.
    worker_round_trip(&mut harness);
    let key = harness.state().model.learning.eps.as_ref().unwrap().key;
    assert_eq!(key.guidance, Some((1, 3.0f32.to_bits())));
}
