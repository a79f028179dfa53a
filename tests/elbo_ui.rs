//! The ELBO tab driven through egui_kittest, and the ELBO job of the `model` worker: the
//! tab computes the four estimates on the worker (learned and ideal, both forms) with the
//! numbers of the library and of `diffscope elbo`; a schedule change recomputes them (the
//! prior term jumps for linear T = 50 unscaled); Stop and Compute; a schedule the ELBO
//! does not exist for is an error in the tab; a command stops a running job.

use std::time::{Duration, Instant};

use diffscope::app::elbo::PARTS;
use diffscope::app::settings::{ElboSettings, Settings, SourceChoice, Tab};
use diffscope::app::{Command, DiffscopeApp};
use diffscope::diffusion::{IdealDenoiser, ReverseVariance, Schedule, ScheduleKind, ScheduleSpec};
use diffscope::model::elbo::{self, ElboForm, ElboReport, ElboRequest, TermKind};
use diffscope::model::sample::Denoiser;
use diffscope::model::shipped;
use diffscope::worker::model::{DenoiserChoice, ElboJob, ElboPart, ModelCommand, ModelEvent, ModelWorker};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use crate::ui::{harness_with, scratch};

/// Two moons (200 points, data seed 0) under the shipped model's schedule, the ELBO tab
/// over the first 100 points.
pub(crate) fn settings() -> Settings {
    Settings {
        source: SourceChoice::Dataset("two-moons".into()),
        n_points: 200,
        schedule: ScheduleSpec::new(ScheduleKind::Linear, 1000),
        t: 300,
        tab: Tab::Elbo,
        show_math: false,
        export_dir: scratch("elbo-exports"),
        elbo: ElboSettings {
            n_points: 100,
            ..ElboSettings::default()
        },
        ..Settings::default()
    }
}

/// Steps the app until `done`, at most 3 minutes (the worker runs at nice 10 and other
/// tests may be running).
#[track_caller]
pub(crate) fn wait(
    harness: &mut Harness<'_, DiffscopeApp>,
    what: &str,
    done: impl Fn(&DiffscopeApp) -> bool,
) {
    let start = Instant::now();
    while !done(harness.state()) {
        assert!(
            start.elapsed() < Duration::from_mins(3),
            "timed out waiting for {what}"
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    harness.run_steps(2);
}

/// Whether all four estimates of the current keys are there.
pub(crate) fn all_done(app: &DiffscopeApp) -> bool {
    app.model.elbo.running.is_none()
        && (0..4).all(|i| {
            app.model.elbo.latest(i).is_some_and(|r| {
                r.key.schedule == *app.model.schedule.spec() && r.key.data == app.model.elbo.data_serial
            })
        })
}

fn report(app: &DiffscopeApp, index: usize) -> ElboReport {
    app.model.elbo.latest(index).unwrap().outcome.clone().unwrap()
}

fn term(report: &ElboReport, kind: TermKind) -> f64 {
    report.terms.iter().find(|t| t.kind == kind).unwrap().nats
}

/// The first 100 of the 200 points on screen, and all 200.
fn data() -> (Vec<f32>, Vec<f64>) {
    let points = diffscope::data::generate(diffscope::data::Dataset::TwoMoons, 200, 0);
    let all: Vec<f64> = points.iter().flatten().copied().collect();
    (all[..200].iter().map(|&v| v as f32).collect(), all)
}

/// What the library says for part `index` under `schedule`.
fn expected(index: usize, schedule: &Schedule) -> ElboReport {
    let (x0, all) = data();
    let model = shipped::load("two-moons").unwrap().unwrap();
    let own = Schedule::new(&model.info.schedule).unwrap();
    let part = PARTS[index];
    let (denoiser, own) = if part.ideal {
        (Denoiser::Ideal(IdealDenoiser::new(all, 2)), None)
    } else {
        (Denoiser::Learned(model.network.inference().unwrap()), Some(own))
    };
    elbo::estimate_under(
        &denoiser,
        own.as_ref(),
        &ElboRequest {
            schedule,
            variance: ReverseVariance::Beta,
            form: part.form,
            x0: &x0,
            dim: 2,
            discrete: false,
            seed: 0,
        },
        &mut |_| true,
    )
    .unwrap()
}

#[test]
fn the_tab_computes_both_forms_for_the_learned_and_the_ideal_denoiser() {
    let mut harness = harness_with(settings());
    wait(&mut harness, "the four estimates", all_done);
    let app = harness.state();
    assert_eq!(
        app.model
            .learning
            .learned
            .as_ref()
            .map(|m| m.summary.origin.as_str()),
        Some("shipped two-moons")
    );
    let schedule = app.model.schedule.clone();
    let reports: Vec<ElboReport> = (0..4).map(|i| report(app, i)).collect();
    for (i, r) in reports.iter().enumerate() {
        assert_eq!(r.n, 100);
        assert_eq!(*r, expected(i, &schedule), "part {i}");
    }
    // The two forms agree within 4 combined standard errors, and the consistency form is
    // the noisier one (for the learned model and for the ideal denoiser).
    for (d, c) in [(&reports[0], &reports[1]), (&reports[2], &reports[3])] {
        let combined = d.total_std_err.hypot(c.total_std_err);
        assert!(
            (d.total_nats - c.total_nats).abs() < 4.0 * combined,
            "{d:?} {c:?}"
        );
        assert!(
            c.total_std_err > 1.3 * d.total_std_err,
            "{} vs {}",
            c.total_std_err,
            d.total_std_err
        );
    }
    // The memorising ideal denoiser beats the learned model on its own training points.
    assert!(reports[2].total_nats < reports[0].total_nats - 0.5);
    // The table shows the totals.
    let shown = format!(
        "{} ± {}",
        diffscope::format::format_sig(reports[0].total_nats, 5),
        diffscope::format::format_sig(reports[0].total_std_err, 2)
    );
    harness.get_by_label(&shown);
    harness.get_by_label("all estimates are up to date");
    // The command line that gives the same numbers.
    harness.get_by_label(
        "diffscope elbo --weights two-moons --dataset two-moons --data-n 200 --data-seed 0 --n 100 \
         --variance beta --seed 0 --csv -",
    );

    // Linear T = 50 unscaled: new estimates, the learned model asked at its equivalent
    // steps, and the prior term jumps (ᾱ_50 ≈ 0.6 leaves x_0 in x_T).
    let prior_before = term(&reports[0], TermKind::Prior);
    harness.state_mut().settings.schedule = ScheduleSpec {
        beta_start: Some(1e-4),
        beta_end: Some(0.02),
        ..ScheduleSpec::new(ScheduleKind::Linear, 50)
    };
    harness.run_steps(2);
    wait(&mut harness, "the estimates under T = 50", all_done);
    let app = harness.state();
    let schedule = app.model.schedule.clone();
    assert_eq!(schedule.steps(), 50);
    for i in 0..4 {
        assert_eq!(report(app, i), expected(i, &schedule), "part {i}");
    }
    let prior_after = term(&report(app, 0), TermKind::Prior);
    assert!(
        prior_before < 1e-3 && prior_after > 0.5,
        "{prior_before} → {prior_after}"
    );
    harness.get_by_label(
        "diffscope elbo --weights two-moons --schedule linear --steps 50 --beta-start 0.0001 --beta-end 0.02 \
         --dataset two-moons --data-n 200 --data-seed 0 --n 100 --variance beta --seed 0 --csv -",
    );
}

#[test]
fn stop_compute_and_a_schedule_without_an_elbo() {
    let mut harness = harness_with(Settings {
        elbo: ElboSettings {
            n_points: 200,
            ..ElboSettings::default()
        },
        ..settings()
    });
    // Once the shipped model is in (its arrival changes what is asked for).
    wait(&mut harness, "a job to start", |app| {
        app.model.learning.learned.is_some() && app.model.elbo.running.is_some()
    });
    harness.get_by_label("Stop").click();
    harness.run_steps(2);
    {
        let elbo = &harness.state().model.elbo;
        assert!(elbo.running.is_none() && elbo.stopped.is_some());
    }
    // Nothing is asked for again by itself…
    for _ in 0..20 {
        harness.step();
    }
    assert!(harness.state().model.elbo.running.is_none());
    // …until Compute.
    harness.get_by_label("Compute").click();
    harness.run_steps(2);
    wait(&mut harness, "the estimates", all_done);
    // Zero terminal SNR: α_T = 0, μ_θ of an ε-model is not finite at T, nor is the ELBO.
    harness.state_mut().settings.schedule.zero_terminal_snr = true;
    harness.run_steps(2);
    wait(&mut harness, "the error", |app| {
        app.model.elbo.running.is_none()
            && (0..4).all(|i| {
                app.model
                    .elbo
                    .latest(i)
                    .is_some_and(|r| r.key.schedule.zero_terminal_snr)
            })
    });
    for i in 0..4 {
        let r = harness.state().model.elbo.latest(i).unwrap();
        let e = r.outcome.as_ref().unwrap_err();
        assert!(e.contains("zero terminal SNR"), "{e}");
    }
    // The window goes on: switching it off brings the estimates back from the worker.
    harness.state_mut().settings.schedule.zero_terminal_snr = false;
    harness.run_steps(2);
    wait(&mut harness, "the estimates again", |app| {
        all_done(app) && (0..4).all(|i| app.model.elbo.latest(i).is_some_and(|r| r.outcome.is_ok()))
    });
    harness.state_mut().push(Command::StopElbo);
}

#[test]
fn a_command_stops_a_running_elbo_job_and_is_then_handled() {
    let worker = ModelWorker::spawn(Box::new(|| {}));
    let points = diffscope::data::generate(diffscope::data::Dataset::TwoMoons, 1000, 0);
    let all: Vec<f64> = points.iter().flatten().copied().collect();
    // The ideal denoiser of 1000 points over 1000 points and 1000 steps: seconds of work.
    worker.send(ModelCommand::Elbo(Box::new(ElboJob {
        generation: 7,
        parts: vec![
            ElboPart {
                ideal: true,
                form: ElboForm::Denoising,
            };
            2
        ],
        x0: all.iter().map(|&v| v as f32).collect(),
        dim: 2,
        discrete: false,
        ideal_data: all.clone(),
        schedule: ScheduleSpec::default(),
        variance: ReverseVariance::Beta,
        seed: 0,
    })));
    // Wait for its first progress report, then ask for something else.
    let mut saw_progress = false;
    while let Some(event) = worker.recv_timeout(Duration::from_mins(1)) {
        if let ModelEvent::ElboProgress { generation: 7, .. } = event {
            saw_progress = true;
            break;
        }
    }
    assert!(saw_progress);
    worker.send(ModelCommand::EpsField {
        guidance: None,
        generation: 8,
        denoiser: DenoiserChoice::Ideal {
            data: all,
            dim: 2,
            schedule: ScheduleSpec::default(),
        },
        t: 100,
        points: vec![0.0, 0.0, 1.0, 1.0],
    });
    let mut stopped = false;
    loop {
        match worker.recv_timeout(Duration::from_mins(1)) {
            Some(ModelEvent::ElboStopped { generation: 7 }) => stopped = true,
            Some(ModelEvent::ElboProgress { .. }) => {}
            Some(ModelEvent::EpsField {
                generation: 8, eps, ..
            }) => {
                assert!(stopped, "the ELBO job stops before the next command is handled");
                assert_eq!(eps.len(), 4);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
