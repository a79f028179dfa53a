//! The `model` worker: its protocol (train, pause, resume, cancel, sample, step), its
//! stale events, and its failures (bad files, divergence, panics) that never replace the
//! model it holds.

use std::time::{Duration, Instant};

use diffscope::data::Dataset;
use diffscope::diffusion::{ReverseVariance, ScheduleKind, ScheduleSpec};
use diffscope::model::mlp::MlpConfig;
use diffscope::model::sample::Sampler;
use diffscope::model::train::{TrainSet, TrainSettings};
use diffscope::model::{Architecture, Checkpoint, ModelInfo, Network, io};
use diffscope::worker::model::{
    ChainStart, DenoiserChoice, ModelCommand, ModelEvent, ModelWorker, SampleJob, TrainEnd, TrainJob,
};

/// Waits for the first event that `pick` accepts (others are dropped), at most 30 s.
#[track_caller]
pub(crate) fn wait_for<T>(
    worker: &ModelWorker,
    what: &str,
    mut pick: impl FnMut(ModelEvent) -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(event) = worker.recv_timeout(Duration::from_millis(50))
            && let Some(found) = pick(event)
        {
            return found;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no event: {what}");
    }
}

/// A barrier instead of a sleep, for checks that a worker does *nothing*: first a clock
/// that runs at the machine's speed, then a round trip through the worker's command loop.
///
/// The clock is a second worker training a small model until it has reported
/// [`CLOCK_TICKS`] progress events at rising iterations (each after at least 100 ms of
/// training): it waits on events, not on time, so on a slow or busy machine it waits
/// longer. A job the checked worker should not be running — same process, same thread
/// priority — gets about as much CPU meanwhile: tens of chain steps, a few training
/// slices. Then an ε-field request, answered in order after everything the worker sent
/// before it; every other event that arrives meanwhile goes to `seen`.
///
/// (Round trips alone are not enough: the worker runs at a lower priority than the test
/// thread, and on a loaded machine each answer hands the CPU straight back to the test,
/// whose next request is then handled before any slice of a job that should not run —
/// a chain that Step wrongly resumed passed 20 of them.)
pub(crate) fn barrier(worker: &ModelWorker, mut seen: impl FnMut(&ModelEvent)) {
    worker_clock();
    worker.send(ModelCommand::EpsField {
        guidance: None,
        generation: BARRIER_GENERATION,
        denoiser: ideal(10),
        t: 5,
        points: vec![0.5, -0.5],
    });
    wait_for(worker, "the barrier's ε field", |e| match e {
        ModelEvent::EpsField {
            generation: BARRIER_GENERATION,
            ..
        } => Some(()),
        other => {
            seen(&other);
            None
        }
    });
}

/// How many progress events the clock of [`worker_clock`] waits for.
pub(crate) const CLOCK_TICKS: usize = 5;

/// Runs a second worker's training until it has reported [`CLOCK_TICKS`] progress events
/// at rising iterations (see [`barrier`]); the worker stops when dropped here.
pub(crate) fn worker_clock() {
    let clock = ModelWorker::spawn(Box::new(|| {}));
    clock.send(ModelCommand::Train(train_job(1, 1_000_000, 1e-3)));
    let (mut ticks, mut last) = (0, 0);
    wait_for(&clock, "the clock's training progress", |e| match e {
        ModelEvent::TrainProgress { iteration, .. } if iteration > last => {
            (ticks, last) = (ticks + 1, iteration);
            (ticks == CLOCK_TICKS).then_some(())
        }
        _ => None,
    });
}

/// The generation of the barrier's request, above any a test uses for its jobs.
pub(crate) const BARRIER_GENERATION: u64 = 1 << 40;

pub(crate) fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("model-worker")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(crate) fn small_model(hidden: usize) -> Checkpoint {
    Checkpoint {
        network: Network::new(
            Architecture::Mlp2d(MlpConfig {
                classes: 0,
                hidden,
                blocks: 1,
                embedding: 8,
            }),
            2,
        ),
        info: ModelInfo {
            schedule: ScheduleSpec::new(ScheduleKind::Linear, 40),
            dataset: "two-moons".into(),
            iterations: 1,
            seed: 2,
            ema: None,
            command: String::new(),
            objective: diffscope::model::Objective::Epsilon,
        },
    }
}

pub(crate) fn ideal(steps: usize) -> DenoiserChoice {
    DenoiserChoice::Ideal {
        data: vec![1.0, 0.0, -1.0, 0.0],
        dim: 2,
        schedule: ScheduleSpec::new(ScheduleKind::Cosine, steps),
    }
}

pub(crate) fn sample_job(generation: u64, denoiser: DenoiserChoice, paused: bool) -> Box<SampleJob> {
    Box::new(SampleJob {
        guidance: None,
        generation,
        denoiser,
        sampler: Sampler::Ddpm(ReverseVariance::PosteriorVariance),
        start: ChainStart::Noise { n: 64 },
        seed: 1,
        rate: None,
        paused,
        pause_at: None,
        canvas: None,
        panic_at_step: None,
    })
}

#[test]
fn a_failed_load_keeps_the_model_and_says_why() {
    let dir = scratch("load");
    let worker = ModelWorker::spawn(Box::new(|| {}));
    worker.send(ModelCommand::Sample(sample_job(
        1,
        DenoiserChoice::Learned,
        false,
    )));
    let msg = wait_for(&worker, "no model yet", |e| match e {
        ModelEvent::Failed {
            generation: 1,
            message,
        } => Some(message),
        _ => None,
    });
    assert!(msg.contains("no learned model"), "{msg}");

    let good = dir.join("good.safetensors");
    io::save(&small_model(8), &good).unwrap();
    worker.send(ModelCommand::Load(good));
    let summary = wait_for(&worker, "loaded", |e| match e {
        ModelEvent::ModelReady(s) => Some(s),
        _ => None,
    });
    assert_eq!(summary.origin, "good.safetensors");
    assert_eq!(summary.schedule.steps, 40);

    let bad = dir.join("bad.safetensors");
    std::fs::write(&bad, b"definitely not weights").unwrap();
    worker.send(ModelCommand::Load(bad.clone()));
    let msg = wait_for(&worker, "bad load", |e| match e {
        ModelEvent::Failed { message, .. } => Some(message),
        ModelEvent::ModelReady(_) => panic!("a bad file replaced the model"),
        _ => None,
    });
    assert!(
        msg.contains("bad.safetensors") && msg.contains("current model is kept"),
        "{msg}"
    );

    // The good model is still there: saving writes it back bit for bit.
    let saved = dir.join("saved.safetensors");
    worker.send(ModelCommand::Save(saved.clone()));
    wait_for(&worker, "saved", |e| {
        matches!(e, ModelEvent::Saved(_)).then_some(())
    });
    assert_eq!(io::load(&saved).unwrap(), small_model(8));
}

#[test]
fn sampling_steps_pauses_and_streams_every_frame() {
    let worker = ModelWorker::spawn(Box::new(|| {}));
    worker.send(ModelCommand::Sample(sample_job(5, ideal(30), true)));
    let first = wait_for(&worker, "first frame", |e| match e {
        ModelEvent::SampleFrame {
            generation: 5, frame, ..
        } => Some(frame),
        _ => None,
    });
    assert_eq!(first.t, 30);
    worker.send(ModelCommand::Step);
    let (frame, progress) = wait_for(&worker, "one step", |e| match e {
        ModelEvent::SampleFrame {
            generation: 5,
            frame,
            progress,
            ..
        } => Some((frame, progress)),
        _ => None,
    });
    assert_eq!((frame.t, progress), (29, (1, 30)));
    // Paused: nothing more comes without another step (through a barrier: a running
    // chain would have sent frames).
    barrier(&worker, |e| {
        assert!(
            !matches!(e, ModelEvent::SampleFrame { .. }),
            "a paused chain moved: {e:?}"
        );
    });
    worker.send(ModelCommand::Resume);
    let mut ts = Vec::new();
    let last = wait_for(&worker, "the chain ends", |e| match e {
        ModelEvent::SampleFrame {
            generation: 5, frame, ..
        } => {
            ts.push(frame.t);
            (frame.t == 0).then_some(frame)
        }
        _ => None,
    });
    assert_eq!(ts, (0..29).rev().collect::<Vec<_>>(), "every step, in order");
    // The ideal denoiser of {(±1, 0)} lands every sample on one of the two points.
    for p in last.x.chunks_exact(2) {
        assert!((p[0].abs() - 1.0).abs() < 1e-3 && p[1].abs() < 1e-3, "{p:?}");
    }
}

/// `--pause-at`: a running chain stops by itself after the first step at `t ≤ pause_at`,
/// sends that frame and then says it is paused, and moves no further until resumed.
#[test]
fn a_chain_pauses_itself_at_the_step_asked() {
    let worker = ModelWorker::spawn(Box::new(|| {}));
    let mut job = sample_job(6, ideal(30), false);
    job.pause_at = Some(12);
    worker.send(ModelCommand::Sample(job));
    let mut ts = Vec::new();
    wait_for(&worker, "the chain pauses", |e| match e {
        ModelEvent::SampleFrame {
            generation: 6, frame, ..
        } => {
            ts.push(frame.t);
            None
        }
        ModelEvent::SamplePaused {
            generation: 6,
            paused: true,
        } => Some(()),
        _ => None,
    });
    assert_eq!(
        ts,
        (12..=30).rev().collect::<Vec<_>>(),
        "every step down to t = 12"
    );
    barrier(&worker, |e| {
        assert!(
            !matches!(e, ModelEvent::SampleFrame { .. }),
            "a chain paused at t = 12 moved: {e:?}"
        );
    });
    worker.send(ModelCommand::Resume);
    wait_for(&worker, "the chain ends", |e| {
        matches!(e, ModelEvent::SampleFrame { generation: 6, frame, .. } if frame.t == 0).then_some(())
    });
}

#[test]
fn a_new_job_drops_the_old_ones_frames() {
    let worker = ModelWorker::spawn(Box::new(|| {}));
    let mut slow = sample_job(1, ideal(1000), false);
    slow.rate = Some(20.0);
    worker.send(ModelCommand::Sample(slow));
    wait_for(&worker, "job 1 runs", |e| {
        matches!(e, ModelEvent::SampleFrame { generation: 1, .. }).then_some(())
    });
    worker.send(ModelCommand::Sample(sample_job(2, ideal(20), false)));
    let mut seen_new = false;
    wait_for(&worker, "job 2 ends", |e| match e {
        ModelEvent::SampleFrame { generation: 1, .. } => {
            assert!(!seen_new, "a frame of the replaced job after the new job started");
            None
        }
        ModelEvent::SampleFrame {
            generation: 2, frame, ..
        } => {
            seen_new = true;
            (frame.t == 0).then_some(())
        }
        _ => None,
    });
}

#[test]
fn a_panic_in_a_job_becomes_an_error_and_the_worker_goes_on() {
    let worker = ModelWorker::spawn(Box::new(|| {}));
    let mut job = sample_job(3, ideal(10), false);
    job.sampler = Sampler::Ddim { steps: 5, eta: 2.0 }; // out of range: ddim_coefs asserts
    worker.send(ModelCommand::Sample(job));
    let msg = wait_for(&worker, "panic reported", |e| match e {
        ModelEvent::Failed {
            generation: 3,
            message,
        } => Some(message),
        _ => None,
    });
    assert!(
        msg.contains("internal error (panic)") && msg.contains('η'),
        "{msg}"
    );
    worker.send(ModelCommand::Sample(sample_job(4, ideal(10), false)));
    wait_for(&worker, "still alive", |e| {
        matches!(e, ModelEvent::SampleFrame { generation: 4, frame, .. } if frame.t == 0).then_some(())
    });
}

pub(crate) fn train_job(generation: u64, iterations: u64, lr: f32) -> Box<TrainJob> {
    Box::new(TrainJob {
        generation,
        set: TrainSet::dataset(Dataset::TwoMoons, 1),
        architecture: Architecture::Mlp2d(MlpConfig {
            classes: 0,
            hidden: 32,
            blocks: 1,
            embedding: 16,
        }),
        settings: TrainSettings {
            schedule: ScheduleSpec::new(ScheduleKind::Linear, 50),
            lr,
            batch: 64,
            iterations,
            seed: 1,
            ..TrainSettings::default()
        },
        objective: diffscope::model::Objective::Epsilon,
    })
}

#[test]
fn training_reports_progress_pauses_resumes_and_hands_over_its_model() {
    let worker = ModelWorker::spawn(Box::new(|| {}));
    worker.send(ModelCommand::Train(train_job(9, 1_000_000, 1e-3)));
    let first = wait_for(&worker, "progress", |e| match e {
        ModelEvent::TrainProgress {
            generation: 9,
            iteration,
            loss,
            ..
        } => Some((iteration, loss)),
        _ => None,
    });
    assert!(first.0 > 0 && first.1.is_finite() && first.1 > 0.0, "{first:?}");
    worker.send(ModelCommand::Pause);
    let paused_at = wait_for(&worker, "paused", |e| match e {
        ModelEvent::TrainProgress {
            generation: 9,
            iteration,
            paused: true,
            ..
        } => Some(iteration),
        _ => None,
    });
    // Paused: after the clock of `barrier` has run (a run that went on would have
    // trained about as long), a Pause sent again is answered with the iteration training
    // is at, which must be where it paused; twice, to be sure of the answer.
    worker_clock();
    for _ in 0..2 {
        worker.send(ModelCommand::Pause);
        let now = wait_for(&worker, "paused again", |e| match e {
            ModelEvent::TrainProgress {
                generation: 9,
                iteration,
                paused: true,
                ..
            } => Some(iteration),
            ModelEvent::TrainProgress { iteration, .. } => {
                panic!("training moved while paused: progress at {iteration} while running")
            }
            _ => None,
        });
        assert_eq!(now, paused_at, "training moved while paused");
    }
    worker.send(ModelCommand::Resume);
    wait_for(&worker, "moves again", |e| match e {
        ModelEvent::TrainProgress {
            generation: 9,
            iteration,
            paused: false,
            ..
        } => (iteration > paused_at).then_some(()),
        _ => None,
    });
    worker.send(ModelCommand::Cancel);
    let mut ready = None;
    let end = wait_for(&worker, "cancelled", |e| match e {
        ModelEvent::ModelReady(s) => {
            ready = Some(s);
            None
        }
        ModelEvent::TrainFinished { generation: 9, end } => Some(end),
        _ => None,
    });
    assert_eq!(end, TrainEnd::Cancelled);
    let summary = ready.expect("the trained model is handed over");
    assert_eq!(summary.origin, "trained");
    assert!(summary.iterations > paused_at);
}

#[test]
fn a_completed_run_is_evaluated_and_a_diverged_run_keeps_the_previous_model() {
    let worker = ModelWorker::spawn(Box::new(|| {}));
    worker.send(ModelCommand::Train(train_job(1, 150, 1e-3)));
    let mut evaluation = None;
    let end = wait_for(&worker, "completed", |e| match e {
        ModelEvent::Evaluated {
            generation: 1,
            evaluation: ev,
        } => {
            evaluation = Some(ev);
            None
        }
        ModelEvent::TrainFinished { generation: 1, end } => Some(end),
        _ => None,
    });
    assert_eq!(end, TrainEnd::Completed);
    let ev = evaluation.expect("evaluated at the end");
    assert_eq!(ev.iteration, 150);
    assert!(
        ev.validation_loss.is_finite() && ev.metric.is_some() && ev.noise_floor.is_some(),
        "{ev:?}"
    );

    worker.send(ModelCommand::Train(train_job(2, 100_000, 1e9)));
    let end = wait_for(&worker, "diverged", |e| match e {
        ModelEvent::ModelReady(_) => panic!("a run that diverged at once replaced the model"),
        ModelEvent::TrainFinished { generation: 2, end } => Some(end),
        _ => None,
    });
    match end {
        TrainEnd::Diverged(msg) => assert!(msg.contains("training stopped"), "{msg}"),
        other => panic!("expected divergence, got {other:?}"),
    }
}
