//! Faults inside the `model` worker's jobs — a panic in training, a panic in sampling
//! (while running and in a single step), a loss that turns non-finite — injected into real jobs:
//! each is reported, stops its job, keeps the model held before it (or a diverged run's
//! last good snapshot), and the next jobs run. First at the worker, then in the window.
//!
//! The panics come from the hidden test hooks `TrainSettings::panic_at_iteration` and
//! `SampleJob::panic_at_step` (in the window: `Learning::faults`), and from DDIM with
//! `η = 2`, which trips `ddim_coefs`' assert; the loss overflows to inf with a learning
//! rate of 10⁶, and turns NaN when a batch draws a NaN planted among the training points.

use diffscope::app::Command;
use diffscope::app::DiffscopeApp;
use diffscope::app::reverse::{InjectedFaults, LearnedOrigin};
use diffscope::app::settings::{DenoiserKind, ReverseSettings, Settings, SourceChoice, Tab};
use diffscope::data::Dataset;
use diffscope::diffusion::{ScheduleKind, ScheduleSpec};
use diffscope::model::sample::Sampler;
use diffscope::model::train::{TrainSet, Trainer};
use diffscope::model::{Checkpoint, Network, io};
use diffscope::worker::model::{DenoiserChoice, ModelCommand, ModelEvent, ModelWorker, TrainEnd};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};

use crate::model_worker::{barrier, ideal, sample_job, scratch, small_model, train_job, wait_for};
use crate::ui::{harness_with, label_starting, step_until};

/// Loads `model` into the worker (through a file, as the window does).
fn load(worker: &ModelWorker, dir: &std::path::Path, model: &Checkpoint) {
    let file = dir.join("before.safetensors");
    io::save(model, &file).unwrap();
    worker.send(ModelCommand::Load(file));
    wait_for(worker, "the model loads", |e| {
        matches!(e, ModelEvent::ModelReady(_)).then_some(())
    });
}

/// The model the worker holds, bit for bit: saved and read back.
fn current_model(worker: &ModelWorker, dir: &std::path::Path) -> Checkpoint {
    let file = dir.join("current.safetensors");
    worker.send(ModelCommand::Save(file.clone()));
    wait_for(worker, "the model is saved", |e| match e {
        ModelEvent::Saved(_) => Some(()),
        ModelEvent::Failed { message, .. } => panic!("save failed: {message}"),
        _ => None,
    });
    io::load(&file).unwrap()
}

/// Waits until the chain of job `generation` reaches `t = 0`; its final samples.
#[track_caller]
fn chain_completes(worker: &ModelWorker, generation: u64) -> Vec<f32> {
    let x = wait_for(worker, "the chain completes", |e| match e {
        ModelEvent::SampleFrame {
            generation: g, frame, ..
        } if g == generation => (frame.t == 0).then_some(frame.x),
        ModelEvent::Failed {
            generation: g,
            message,
        } if g == generation => panic!("the chain failed: {message}"),
        _ => None,
    });
    assert!(x.iter().all(|v| v.is_finite()));
    x
}

/// Waits until training job `generation` ends; how, and the model it handed over.
#[track_caller]
fn training_ends(worker: &ModelWorker, generation: u64) -> (TrainEnd, Option<u64>) {
    let mut handed_over = None;
    let end = wait_for(worker, "training ends", |e| match e {
        ModelEvent::ModelReady(s) => {
            handed_over = Some(s.iterations);
            None
        }
        ModelEvent::TrainFinished { generation: g, end } if g == generation => Some(end),
        ModelEvent::Failed {
            generation: g,
            message,
        } if g == generation => panic!("training failed: {message}"),
        _ => None,
    });
    (end, handed_over)
}

/// Nothing more of job `generation` arrives (it stopped): through a [`barrier`], in
/// which a job still running would have sent steps or training progress.
fn job_is_silent(worker: &ModelWorker, generation: u64) {
    barrier(worker, |e| {
        let g = match e {
            ModelEvent::TrainProgress { generation, .. }
            | ModelEvent::Evaluated { generation, .. }
            | ModelEvent::TrainFinished { generation, .. }
            | ModelEvent::SampleFrame { generation, .. }
            | ModelEvent::SamplePaused { generation, .. }
            | ModelEvent::Failed { generation, .. } => Some(*generation),
            _ => None,
        };
        assert_ne!(g, Some(generation), "the stopped job went on: {e:?}");
    });
}

/// The worker's next jobs work: a training run completes and becomes the model, and a
/// chain with it runs to `t = 0`.
fn next_jobs_work(worker: &ModelWorker, train: u64, sample: u64) {
    worker.send(ModelCommand::Train(train_job(train, 20, 1e-3)));
    assert_eq!(training_ends(worker, train), (TrainEnd::Completed, Some(20)));
    worker.send(ModelCommand::Sample(sample_job(
        sample,
        DenoiserChoice::Learned,
        false,
    )));
    chain_completes(worker, sample);
}

#[test]
fn a_panic_in_training_keeps_the_model_before_it_and_the_next_jobs_run() {
    let dir = scratch("fault-train-panic");
    let worker = ModelWorker::spawn(Box::new(|| {}));
    let before = small_model(8);
    load(&worker, &dir, &before);
    // Past the first snapshot (50): the run had weights to hand over, and does not.
    let mut job = train_job(7, 10_000, 1e-3);
    job.settings.panic_at_iteration = Some(60);
    worker.send(ModelCommand::Train(job));
    let message = wait_for(&worker, "the panic", |e| match e {
        ModelEvent::ModelReady(_) => panic!("a run that panicked replaced the model"),
        ModelEvent::TrainFinished { .. } => panic!("a run that panicked finished"),
        ModelEvent::Failed {
            generation: 7,
            message,
        } => Some(message),
        _ => None,
    });
    assert_eq!(
        message,
        "internal error (panic): injected fault: training panicked after 60 iterations"
    );
    job_is_silent(&worker, 7);
    assert_eq!(current_model(&worker, &dir), before, "the model before the fault");
    // It still samples.
    worker.send(ModelCommand::Sample(sample_job(
        8,
        DenoiserChoice::Learned,
        false,
    )));
    chain_completes(&worker, 8);
    next_jobs_work(&worker, 9, 10);
}

#[test]
fn a_panic_in_sampling_stops_the_chain_keeps_the_model_and_the_next_jobs_run() {
    let dir = scratch("fault-sample-panic");
    let worker = ModelWorker::spawn(Box::new(|| {}));
    let before = small_model(8);
    load(&worker, &dir, &before);
    let mut job = sample_job(3, DenoiserChoice::Learned, false);
    job.panic_at_step = Some(5);
    worker.send(ModelCommand::Sample(job));
    let mut progress = Vec::new();
    let message = wait_for(&worker, "the panic", |e| match e {
        ModelEvent::SampleFrame {
            generation: 3,
            progress: p,
            ..
        } => {
            progress.push(p.0);
            None
        }
        ModelEvent::Failed {
            generation: 3,
            message,
        } => Some(message),
        _ => None,
    });
    assert_eq!(
        message,
        "internal error (panic): injected fault: the reverse chain panicked after 5 steps"
    );
    assert_eq!(progress, [0, 1, 2, 3, 4, 5], "every frame before the fault");
    job_is_silent(&worker, 3);
    assert_eq!(current_model(&worker, &dir), before);
    worker.send(ModelCommand::Sample(sample_job(
        4,
        DenoiserChoice::Learned,
        false,
    )));
    chain_completes(&worker, 4);
    next_jobs_work(&worker, 5, 6);
}

#[test]
fn a_panic_in_a_single_step_ends_that_chain_under_its_generation() {
    let worker = ModelWorker::spawn(Box::new(|| {}));
    // Paused: the step that panics runs inside the Step command, not the job's loop.
    let mut job = sample_job(6, ideal(10), true);
    job.sampler = Sampler::Ddim { steps: 5, eta: 2.0 }; // out of range: ddim_coefs asserts
    worker.send(ModelCommand::Sample(job));
    wait_for(&worker, "the first frame", |e| {
        matches!(e, ModelEvent::SampleFrame { generation: 6, .. }).then_some(())
    });
    worker.send(ModelCommand::Step);
    let (generation, message) = wait_for(&worker, "the panic", |e| match e {
        ModelEvent::Failed { generation, message } => Some((generation, message)),
        ModelEvent::SampleFrame { .. } => panic!("a step that panicked sent a frame"),
        _ => None,
    });
    // Under the chain's generation, so the window ends that chain (not generation 0, a
    // failed load's).
    assert_eq!(generation, 6, "{message}");
    assert!(
        message.contains("internal error (panic)") && message.contains('η'),
        "{message}"
    );
    // The job is gone: more steps and a resume do nothing.
    worker.send(ModelCommand::Step);
    worker.send(ModelCommand::Resume);
    job_is_silent(&worker, 6);
    worker.send(ModelCommand::Sample(sample_job(7, ideal(10), false)));
    chain_completes(&worker, 7);
}

#[test]
fn a_nan_loss_at_once_keeps_the_previous_model_and_the_next_jobs_run() {
    let dir = scratch("fault-nan-at-once");
    let worker = ModelWorker::spawn(Box::new(|| {}));
    let before = small_model(8);
    load(&worker, &dir, &before);
    worker.send(ModelCommand::Train(train_job(2, 100_000, 1e6)));
    let (end, handed_over) = training_ends(&worker, 2);
    let TrainEnd::Diverged(message) = end else {
        panic!("expected divergence, got {end:?}")
    };
    // An lr of 10⁶: the first step throws the weights so far that the loss overflows.
    assert!(
        message.starts_with("training stopped: the loss became inf at iteration")
            && message.contains("no weights of this run are kept"),
        "{message}"
    );
    assert_eq!(handed_over, None, "nothing of the run replaced the model");
    job_is_silent(&worker, 2);
    assert_eq!(current_model(&worker, &dir), before, "the previous model");
    next_jobs_work(&worker, 3, 4);
}

/// Two moons with a NaN in point `k` of the training set, for `train_job`'s settings.
fn poisoned_moons(k: usize) -> TrainSet {
    let mut set = TrainSet::dataset(Dataset::TwoMoons, 1);
    set.train[2 * k] = f32::NAN;
    set
}

/// The poisoned point of [`poisoned_moons`]: the batch of iteration 180 is the first to
/// draw it, after three snapshots (every 50 iterations). Found by running [`Trainer`]
/// with `k = 0, 97, 194, …` (the draws are counter-based, fixed by the seed).
const POISONED_POINT: usize = 582;

#[test]
fn a_loss_that_turns_nan_later_keeps_the_last_good_snapshot() {
    let dir = scratch("fault-nan-later");
    let job = |generation| {
        let mut job = train_job(generation, 2000, 1e-3);
        job.set = poisoned_moons(POISONED_POINT);
        job
    };
    // The same run outside the worker, on one thread as the worker's.
    let reference = job(0);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let (expected_message, expected) = pool.install(|| {
        let mut trainer = Trainer::new(
            Network::new(reference.architecture, reference.settings.seed),
            reference.set,
            reference.settings,
        )
        .unwrap();
        let message = loop {
            if let Err(e) = trainer.step() {
                break e.to_string();
            }
        };
        (message, trainer.model())
    });
    let kept = expected.info.iterations;
    assert!(kept >= 100 && kept.is_multiple_of(50), "{expected_message}");
    assert!(
        expected_message.starts_with("training stopped: the loss became NaN at iteration")
            && expected_message.ends_with(&format!(
                "the weights of iteration {kept} are kept (try a smaller learning rate)"
            )),
        "{expected_message}"
    );

    let worker = ModelWorker::spawn(Box::new(|| {}));
    load(&worker, &dir, &small_model(8));
    worker.send(ModelCommand::Train(job(11)));
    let (end, handed_over) = training_ends(&worker, 11);
    assert_eq!(end, TrainEnd::Diverged(expected_message));
    assert_eq!(handed_over, Some(kept), "the last good snapshot became the model");
    job_is_silent(&worker, 11);
    assert_eq!(current_model(&worker, &dir), expected, "bit for bit");
    worker.send(ModelCommand::Sample(sample_job(
        12,
        DenoiserChoice::Learned,
        false,
    )));
    chain_completes(&worker, 12);
    next_jobs_work(&worker, 13, 14);
}

// ---------------------------------------------------------------------------------------
// In the window: the real app under egui_kittest.

/// Two moons (200 points), linear T = 50, the Reverse tab, the learned model (the shipped
/// two-moons weights, loaded at start-up), 20 samples at full speed; training: batch 64.
fn window(reverse: &ReverseSettings) -> Harness<'static, DiffscopeApp> {
    let mut harness = harness_with(Settings {
        source: SourceChoice::Dataset("two-moons".into()),
        n_points: 200,
        schedule: ScheduleSpec::new(ScheduleKind::Linear, 50),
        t: 50,
        tab: Tab::Reverse,
        show_math: false,
        export_dir: scratch("fault-window-exports"),
        reverse: ReverseSettings {
            denoiser: DenoiserKind::Learned,
            n_points: 20,
            max_speed: true,
            batch: 64,
            ..reverse.clone()
        },
        ..Settings::default()
    });
    step_until(&mut harness, "the shipped model", |app| {
        app.model.learning.pending.is_none() && app.model.learning.learned.is_some()
    });
    harness
}

fn enabled(harness: &Harness<'_, DiffscopeApp>, label: &str) -> bool {
    !harness.get_by_label(label).accesskit_node().is_disabled()
}

/// The model the window holds: (serial, origin).
fn held(app: &DiffscopeApp) -> (u64, LearnedOrigin) {
    let m = app.model.learning.learned.as_ref().expect("a learned model");
    (m.serial, m.origin.clone())
}

/// Nothing runs and nothing waits: Train, Sample and Step (which starts a chain) are
/// enabled, there is nothing to pause or cancel, and nothing says "paused".
#[track_caller]
fn idle(harness: &Harness<'_, DiffscopeApp>) {
    let learning = &harness.state().model.learning;
    assert!(
        learning
            .training
            .as_ref()
            .is_none_or(|t| !t.running() && !t.paused)
    );
    assert!(learning.chain.as_ref().is_none_or(|c| c.done));
    assert!(enabled(harness, "Train"), "Train is disabled");
    let sample = if learning.chain.is_some() {
        "Restart"
    } else {
        "Sample"
    };
    assert!(enabled(harness, sample), "{sample} is disabled");
    // Step starts a chain paused at x_T when none runs (issue 12 item 10).
    assert!(enabled(harness, "Step"), "Step is disabled");
    for gone in ["Cancel", "Pause training", "Resume training", "Pause"] {
        assert!(harness.query_by_label(gone).is_none(), "{gone} is shown");
    }
    let paused = harness.query_all_by_label_contains("paused").count();
    assert_eq!(paused, 0, "something says paused");
}

/// Restart (or Sample) runs a chain with the model held to its end, without an error.
#[track_caller]
fn sample_works(harness: &mut Harness<'static, DiffscopeApp>) {
    harness.state_mut().push(Command::DismissError);
    harness.run_steps(1);
    let before = harness
        .state()
        .model
        .learning
        .chain
        .as_ref()
        .map(|c| c.generation);
    let label = if before.is_some() { "Restart" } else { "Sample" };
    harness.get_by_label(label).click();
    step_until(harness, "the chain", |app| {
        app.model
            .learning
            .chain
            .as_ref()
            .is_some_and(|c| Some(c.generation) != before && c.done)
    });
    let app = harness.state();
    let chain = app.model.learning.chain.as_ref().unwrap();
    assert_eq!(chain.progress.0, chain.progress.1, "{:?}", app.model.status);
    assert!(app.model.status.error.is_none(), "{:?}", app.model.status);
    assert!(chain.newest().unwrap().x.iter().all(|v| v.is_finite()));
}

/// The next training run (20 iterations) completes and becomes the model.
#[track_caller]
fn training_works(harness: &mut Harness<'static, DiffscopeApp>) {
    harness.state_mut().settings.reverse.iterations = 20;
    harness.state_mut().push(Command::Train);
    harness.run_steps(1);
    step_until(harness, "training", |app| {
        app.model.learning.training.as_ref().is_some_and(|t| !t.running())
            && app.model.learning.trained_file.is_some()
    });
    let app = harness.state();
    let training = app.model.learning.training.as_ref().unwrap();
    assert_eq!(training.end, Some(TrainEnd::Completed), "{:?}", app.model.status);
    assert_eq!(held(app).1, LearnedOrigin::Trained);
}

#[test]
fn a_panic_in_training_shows_in_the_status_line_and_the_window_goes_on() {
    let mut harness = window(&ReverseSettings {
        iterations: 10_000,
        ..ReverseSettings::default()
    });
    let before = held(harness.state());
    harness.state_mut().model.learning.faults.train_panic_at_iteration = Some(60);
    // The Train button is below the fold of the left panel: the command it pushes.
    harness.state_mut().push(Command::Train);
    harness.run_steps(2);
    assert!(!enabled(&harness, "Sample"), "one job at a time");
    harness.state_mut().model.learning.faults = InjectedFaults::default();
    step_until(&mut harness, "the fault", |app| {
        app.model.learning.training.as_ref().is_some_and(|t| !t.running())
    });
    let error = harness.state().model.status.error.clone().unwrap_or_default();
    assert_eq!(
        error,
        "training failed: internal error (panic): injected fault: training panicked after 60 iterations"
    );
    label_starting(&harness, "error: training failed: internal error (panic)");
    assert_eq!(held(harness.state()), before, "the model before the fault");
    idle(&harness);
    sample_works(&mut harness);
    training_works(&mut harness);
}

#[test]
fn a_panic_in_sampling_shows_in_the_status_line_and_the_next_sample_works() {
    let mut harness = window(&ReverseSettings::default());
    let before = held(harness.state());
    // While the chain runs.
    harness.state_mut().model.learning.faults.sample_panic_at_step = Some(5);
    harness.get_by_label("Sample").click();
    harness.run_steps(1);
    harness.state_mut().model.learning.faults = InjectedFaults::default();
    step_until(&mut harness, "the fault", |app| {
        app.model.learning.chain.as_ref().is_some_and(|c| c.done)
    });
    let app = harness.state();
    assert_eq!(
        app.model.status.error.as_deref(),
        Some(
            "sampling failed: internal error (panic): injected fault: the reverse chain panicked after 5 steps"
        )
    );
    assert_eq!(app.model.learning.chain.as_ref().unwrap().progress.0, 5);
    label_starting(&harness, "error: sampling failed: internal error (panic)");
    assert_eq!(held(harness.state()), before);
    idle(&harness);
    sample_works(&mut harness);

    // In a single step of a paused chain (one step a second: paused long before its
    // second step).
    harness.state_mut().settings.reverse.max_speed = false;
    harness.state_mut().settings.reverse.steps_per_s = 1.0;
    harness.state_mut().model.learning.faults.sample_panic_at_step = Some(3);
    harness.get_by_label("Restart").click();
    harness.run_steps(2);
    harness.get_by_label("Pause").click();
    harness.state_mut().model.learning.faults = InjectedFaults::default();
    step_until(&mut harness, "the pause", |app| {
        app.model
            .learning
            .chain
            .as_ref()
            .is_some_and(|c| c.paused && !c.frames.is_empty())
    });
    // Step (each waits for its frame) until the step that panics.
    for _ in 0..4 {
        if harness.state().model.learning.chain.as_ref().unwrap().done {
            break;
        }
        harness.get_by_label("Step").click();
        harness.run_steps(1);
        step_until(&mut harness, "the step", |app| {
            let chain = app.model.learning.chain.as_ref().unwrap();
            !chain.follow_next || chain.done
        });
    }
    let app = harness.state();
    assert_eq!(
        app.model.status.error.as_deref(),
        Some(
            "sampling failed: internal error (panic): injected fault: the reverse chain panicked after 3 steps"
        )
    );
    assert_eq!(app.model.learning.chain.as_ref().unwrap().progress.0, 3);
    assert_eq!(held(harness.state()), before);
    idle(&harness);
    harness.state_mut().settings.reverse.max_speed = true;
    sample_works(&mut harness);
    training_works(&mut harness);
}

#[test]
fn a_nan_loss_shows_in_the_status_line_and_keeps_the_previous_model_or_the_last_snapshot() {
    let mut harness = window(&ReverseSettings {
        iterations: 10_000,
        ..ReverseSettings::default()
    });
    let before = held(harness.state());
    // Before the first snapshot (iteration 50): the model held before is kept.
    harness
        .state_mut()
        .model
        .learning
        .faults
        .train_nan_loss_at_iteration = Some(30);
    harness.state_mut().push(Command::Train);
    harness.run_steps(1);
    step_until(&mut harness, "the divergence", |app| {
        app.model.learning.training.as_ref().is_some_and(|t| !t.running())
    });
    let error = harness.state().model.status.error.clone().unwrap_or_default();
    assert_eq!(
        error,
        "training stopped: the loss became NaN at iteration 30; no weights of this run are kept \
         (try a smaller learning rate); the previous model (shipped two-moons) is kept"
    );
    label_starting(&harness, "error: training stopped: the loss became NaN");
    assert_eq!(held(harness.state()), before);
    idle(&harness);
    sample_works(&mut harness);

    // After three snapshots: the run's last good weights become the model.
    harness
        .state_mut()
        .model
        .learning
        .faults
        .train_nan_loss_at_iteration = Some(180);
    harness.state_mut().push(Command::Train);
    harness.run_steps(1);
    step_until(&mut harness, "the divergence", |app| {
        app.model.learning.training.as_ref().is_some_and(|t| !t.running())
            && app.model.learning.trained_file.is_some()
    });
    harness.state_mut().model.learning.faults = InjectedFaults::default();
    let app = harness.state();
    assert_eq!(
        app.model.status.error.as_deref(),
        Some(
            "training stopped: the loss became NaN at iteration 180; the weights of iteration 150 \
             are kept (try a smaller learning rate)"
        )
    );
    let learned = app.model.learning.learned.as_ref().unwrap();
    assert_eq!(learned.origin, LearnedOrigin::Trained);
    assert_eq!(learned.summary.iterations, 150);
    idle(&harness);
    sample_works(&mut harness);
    training_works(&mut harness);
}

#[test]
fn a_training_run_paused_then_cancelled_is_idle_not_paused() {
    let mut harness = window(&ReverseSettings {
        iterations: 10_000,
        ..ReverseSettings::default()
    });
    harness.state_mut().push(Command::Train);
    step_until(&mut harness, "progress", |app| {
        app.model
            .learning
            .training
            .as_ref()
            .is_some_and(|t| t.iteration > 0)
    });
    harness.get_by_label("Pause training").click_accesskit();
    step_until(&mut harness, "the pause", |app| {
        app.model.learning.training.as_ref().is_some_and(|t| t.paused)
    });
    assert_eq!(harness.query_all_by_label_contains(" · paused").count(), 1);
    harness.get_by_label("Cancel").click_accesskit();
    step_until(&mut harness, "the end", |app| {
        app.model.learning.training.as_ref().is_some_and(|t| !t.running())
    });
    let end = harness
        .state()
        .model
        .learning
        .training
        .as_ref()
        .unwrap()
        .end
        .clone();
    assert_eq!(end, Some(TrainEnd::Cancelled));
    assert_eq!(
        held(harness.state()).1,
        LearnedOrigin::Trained,
        "it keeps what it learnt"
    );
    idle(&harness);
    sample_works(&mut harness);
}
