//! The Reverse tab's "beside" chain (issue 18): another sampler's paths from the same
//! `x_T`, in x̂_0's place. The worker's paths job reproduces the chain's first samples
//! exactly (DDPM, same seed: the same `x_T` and the same noise), and in the window the
//! probability-flow ODE is shown beside DDPM's random walk, with its NFE.

use diffscope::app::settings::{
    Beside, DenoiserKind, ReverseSettings, SamplerKind, Settings, SourceChoice, Tab,
};
use diffscope::app::{Command, DiffscopeApp};
use diffscope::data::{self, Dataset};
use diffscope::diffusion::{ReverseVariance, ScheduleKind, ScheduleSpec};
use diffscope::model::sample::Sampler;
use diffscope::worker::model::{
    ChainStart, DenoiserChoice, ModelCommand, ModelEvent, ModelWorker, PathsJob, SampleJob,
};
use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;

use crate::model_worker::wait_for;
use crate::ui::{harness_with, label_starting, scratch, step_until};

/// The ideal denoiser of 200 two-moons points under linear T = 50.
fn two_moons_ideal() -> DenoiserChoice {
    DenoiserChoice::Ideal {
        data: data::generate(Dataset::TwoMoons, 200, 0)
            .into_iter()
            .flatten()
            .collect(),
        dim: 2,
        schedule: ScheduleSpec::new(ScheduleKind::Linear, 50),
    }
}

fn paths_job(generation: u64, sampler: Sampler, n: usize) -> Box<PathsJob> {
    Box::new(PathsJob {
        generation,
        denoiser: two_moons_ideal(),
        sampler,
        n,
        seed: 7,
        guidance: None,
        shipped: None,
    })
}

/// Every frame of a 40-sample DDPM chain of seed 7, `(t, x)`.
fn chain_frames(worker: &ModelWorker) -> Vec<(usize, Vec<f32>)> {
    worker.send(ModelCommand::Sample(Box::new(SampleJob {
        generation: 1,
        denoiser: two_moons_ideal(),
        sampler: Sampler::Ddpm(ReverseVariance::Beta),
        start: ChainStart::Noise { n: 40 },
        seed: 7,
        rate: None,
        paused: false,
        pause_at: None,
        guidance: None,
        canvas: None,
        panic_at_step: None,
    })));
    let mut frames = Vec::new();
    wait_for(worker, "the chain to reach t = 0", |e| match e {
        ModelEvent::SampleFrame {
            generation: 1, frame, ..
        } => {
            let end = frame.t == 0;
            frames.push((frame.t, frame.x));
            end.then_some(())
        }
        _ => None,
    });
    frames
}

#[test]
fn ddpm_paths_from_the_same_seed_are_the_chains_first_samples_exactly() {
    let worker = ModelWorker::spawn(Box::new(|| {}));
    let chain = chain_frames(&worker);
    assert_eq!(chain.len(), 51, "x_T and 50 DDPM steps");
    worker.send(ModelCommand::Paths(paths_job(
        2,
        Sampler::Ddpm(ReverseVariance::Beta),
        12,
    )));
    let paths = wait_for(&worker, "the DDPM paths", |e| match e {
        ModelEvent::Paths { generation: 2, paths } => Some(paths),
        _ => None,
    });
    assert_eq!(paths.nfe, None);
    assert_eq!(paths.frames.len(), 51);
    for ((t, x), (chain_t, chain_x)) in paths.frames.iter().zip(&chain) {
        assert_eq!(t, chain_t);
        assert_eq!(x.len(), 24);
        // Bit for bit: the same x_T, the same z at every step, the same ε̂ per point.
        assert_eq!(x[..], chain_x[..24], "t = {t}");
    }
    // The ODE from the same x_T: deterministic, it starts at the same x_T and lands
    // elsewhere than DDPM's random walk; its frames fall at decreasing t down to 0.
    worker.send(ModelCommand::Paths(paths_job(3, Sampler::ProbabilityFlow, 12)));
    let ode = wait_for(&worker, "the ODE paths", |e| match e {
        ModelEvent::Paths { generation: 3, paths } => Some(paths),
        _ => None,
    });
    assert_eq!(ode.frames[0], paths.frames[0], "the same x_T");
    assert!(ode.frames.windows(2).all(|w| w[1].0 < w[0].0), "t decreases");
    assert_eq!(ode.frames.last().map(|f| f.0), Some(0));
    let nfe = ode.nfe.expect("the ODE counts its evaluations");
    assert!(
        nfe > 6 * (ode.frames.len() - 2),
        "{nfe} evaluations for {} frames",
        ode.frames.len()
    );
    let apart = ode
        .frames
        .last()
        .unwrap()
        .1
        .iter()
        .zip(&paths.frames.last().unwrap().1);
    let gap = apart.map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(gap > 0.05, "the ODE and DDPM end in the same places ({gap})");
    // Images have no paths: a refusal, not a panic.
    worker.send(ModelCommand::Paths(Box::new(PathsJob {
        denoiser: DenoiserChoice::Ideal {
            data: vec![0.0; 3 * 64],
            dim: 64,
            schedule: ScheduleSpec::new(ScheduleKind::Linear, 10),
        },
        ..*paths_job(4, Sampler::ProbabilityFlow, 2)
    })));
    let message = wait_for(&worker, "the refusal", |e| match e {
        ModelEvent::Failed {
            generation: 4,
            message,
        } => Some(message),
        _ => None,
    });
    assert_eq!(message, "paths are drawn for 2D points only");
}

/// Two moons (200 points), linear T = 50, the ideal denoiser, 100 samples.
fn settings() -> Settings {
    Settings {
        source: SourceChoice::Dataset("two-moons".into()),
        n_points: 200,
        schedule: ScheduleSpec::new(ScheduleKind::Linear, 50),
        t: 50,
        tab: Tab::Reverse,
        show_math: false,
        export_dir: scratch("beside-exports"),
        reverse: ReverseSettings {
            denoiser: DenoiserKind::Ideal,
            n_points: 100,
            max_speed: true,
            ..ReverseSettings::default()
        },
        ..Settings::default()
    }
}

fn beside_in(app: &DiffscopeApp) -> bool {
    app.model.learning.chain.as_ref().is_some_and(|c| {
        c.done
            && c.beside
                .as_ref()
                .is_some_and(|b| b.paths.is_some() || b.error.is_some())
    })
}

/// Picks `label` in the "beside" menu, as a user does.
fn pick_beside(harness: &mut egui_kittest::Harness<'_, DiffscopeApp>, label: &str) {
    harness.get_by_role_and_label(Role::ComboBox, "beside").click();
    harness.run_steps(2);
    harness.get_by_label(label).click();
    harness.run_steps(3);
}

/// Whether the chain on screen shows nothing beside it.
fn no_beside(app: &DiffscopeApp) -> bool {
    app.model
        .learning
        .chain
        .as_ref()
        .is_some_and(|c| c.beside.is_none())
}

#[test]
fn picking_the_ode_sampler_shows_ddpm_beside_it_from_the_same_x_t_with_the_nfe() {
    let mut harness = harness_with(settings());
    harness.run_steps(2);
    assert_eq!(harness.state().settings.reverse.beside, Beside::Off);
    harness.get_by_role_and_label(Role::ComboBox, "sampler").click();
    harness.run_steps(2);
    harness.get_by_label("probability-flow ODE").click();
    harness.run_steps(2);
    assert_eq!(
        harness.state().settings.reverse.beside,
        Beside::Ddpm,
        "the ODE brings DDPM beside it"
    );
    harness.state_mut().push(Command::Sample);
    step_until(&mut harness, "the ODE chain and the DDPM paths", beside_in);
    let app = harness.state();
    let chain = app.model.learning.chain.as_ref().unwrap();
    let beside = chain.beside.as_ref().unwrap();
    assert_eq!(beside.error, None);
    let paths = beside.paths.as_ref().unwrap();
    assert_eq!(paths.frames.len(), 51, "DDPM visits every step");
    assert_eq!(
        paths.frames[0].1[..],
        chain.frames[0].x[..],
        "the same x_T, all 100 samples"
    );
    let nfe = chain.nfe.expect("the ODE's evaluations");
    label_starting(&harness, "DDPM from the same x_T, at t = 0");
    label_starting(
        &harness,
        &format!("step {0} / {0} · done · {nfe} NFE", chain.progress.0),
    );
    assert!(
        harness.query_by_label("x̂_0 view").is_none(),
        "DDPM takes x̂_0's place"
    );
    // None beside: x̂_0 comes back; DDPM beside DDPM is nothing.
    pick_beside(&mut harness, "none");
    assert!(no_beside(harness.state()));
    assert!(harness.query_by_label("x̂_0 view").is_some());
    pick_beside(&mut harness, "ODE paths");
    assert!(no_beside(harness.state()), "the ODE beside the ODE is not drawn");
    // DDPM on screen, the ODE beside it (the finished chain stays; the paths are asked).
    harness.get_by_role_and_label(Role::ComboBox, "sampler").click();
    harness.run_steps(2);
    harness.get_by_label("DDPM, σ² = β_t").click();
    harness.state_mut().push(Command::Sample);
    step_until(&mut harness, "the DDPM chain and the ODE paths", |app| {
        beside_in(app) && app.model.learning.chain.as_ref().unwrap().sampler == Some(SamplerKind::DdpmBeta)
    });
    label_starting(&harness, "ODE from the same x_T, at t = 0");
    let app = harness.state();
    let chain = app.model.learning.chain.as_ref().unwrap();
    assert_eq!(chain.nfe, None, "DDPM's evaluations are its steps");
    assert!(
        chain
            .beside
            .as_ref()
            .unwrap()
            .paths
            .as_ref()
            .unwrap()
            .nfe
            .is_some()
    );
}

/// Flow matching in the window: the shipped flow-matching model of two moons takes the
/// Euler sampler (a diffusion sampler does not fit it), samples in K evaluations, and the
/// shipped diffusion model's ODE paths from the same x_T are shown beside it.
#[test]
fn the_shipped_flow_matching_model_samples_with_euler_beside_the_diffusion_odes_paths() {
    let mut harness = harness_with(Settings {
        source: SourceChoice::Dataset("two-moons".into()),
        n_points: 200,
        tab: Tab::Reverse,
        show_math: false,
        export_dir: scratch("beside-fm-exports"),
        reverse: ReverseSettings {
            n_points: 100,
            ddim_steps: 20,
            max_speed: true,
            ..ReverseSettings::default()
        },
        ..Settings::default()
    });
    step_until(&mut harness, "the shipped diffusion model", |app| {
        app.model.learning.learned.is_some() && app.model.learning.pending.is_none()
    });
    harness
        .get_by_label("shipped flow matching (fm-two-moons)")
        .click();
    step_until(&mut harness, "the flow-matching model", |app| {
        app.model
            .learning
            .learned
            .as_ref()
            .is_some_and(|m| m.summary.objective == diffscope::model::Objective::FlowMatching)
    });
    harness.run_steps(2);
    let r = &harness.state().settings.reverse;
    assert_eq!(r.sampler, SamplerKind::FlowEuler, "the model's sampler is chosen");
    assert_eq!(
        r.beside,
        Beside::ProbabilityFlow,
        "with the diffusion ODE beside it"
    );
    harness.state_mut().push(Command::Sample);
    step_until(&mut harness, "the Euler chain and the ODE paths", beside_in);
    let app = harness.state();
    let chain = app.model.learning.chain.as_ref().unwrap();
    assert_eq!(chain.nfe, Some(20), "Euler: one evaluation a step");
    assert_eq!(chain.frames.len(), 21);
    let beside = chain.beside.as_ref().unwrap();
    assert_eq!(beside.error, None);
    let ode = beside.paths.as_ref().unwrap();
    assert_eq!(ode.frames[0].1[..], chain.frames[0].x[..], "the same x_T");
    assert!(ode.nfe.unwrap() > 100, "the diffusion model's ODE: {:?}", ode.nfe);
    label_starting(&harness, "ODE from the same x_T, at t = 0");
}

/// Flow matching trains live: the Training section's objective, 200 iterations on two
/// moons, and the trained model samples with Euler (its sampler chosen when it arrives).
#[test]
fn a_flow_matching_model_trains_in_the_window_and_samples_with_euler() {
    let mut harness = harness_with(Settings {
        source: SourceChoice::Dataset("two-moons".into()),
        n_points: 200,
        tab: Tab::Reverse,
        show_math: false,
        export_dir: scratch("fm-train-exports"),
        reverse: ReverseSettings {
            n_points: 200,
            ddim_steps: 20,
            iterations: 200,
            max_speed: true,
            ..ReverseSettings::default()
        },
        ..Settings::default()
    });
    step_until(&mut harness, "the shipped model", |app| {
        app.model.learning.learned.is_some() && app.model.learning.pending.is_none()
    });
    // The Training section's objective (below the left panel's fold at this size, where a
    // click does not reach its menu: the choice is made in the settings, as the menu does).
    harness.get_by_role_and_label(Role::ComboBox, "objective");
    harness.state_mut().settings.reverse.objective = diffscope::model::Objective::FlowMatching;
    harness.run_steps(2);
    assert_eq!(
        harness.state().settings.reverse.objective,
        diffscope::model::Objective::FlowMatching
    );
    harness.state_mut().push(Command::Train);
    step_until(&mut harness, "the trained flow-matching model", |app| {
        app.model.status.error.is_some()
            || app.model.learning.learned.as_ref().is_some_and(|m| {
                m.summary.origin == "trained"
                    && m.summary.objective == diffscope::model::Objective::FlowMatching
            })
    });
    let app = harness.state();
    assert_eq!(app.model.status.error, None);
    let learned = app.model.learning.learned.as_ref().unwrap();
    assert_eq!(learned.summary.classes, 0, "flow matching trains unconditionally");
    assert_eq!(learned.summary.iterations, 200);
    harness.run_steps(2);
    assert_eq!(harness.state().settings.reverse.sampler, SamplerKind::FlowEuler);
    harness.state_mut().push(Command::Sample);
    step_until(&mut harness, "the Euler chain", |app| {
        app.model.learning.chain.as_ref().is_some_and(|c| c.done)
    });
    let app = harness.state();
    let chain = app.model.learning.chain.as_ref().unwrap();
    assert_eq!(chain.nfe, Some(20));
    let last = chain.newest().unwrap();
    assert_eq!(last.t, 0);
    // 200 iterations already pull the samples from N(0, I) towards the standardised moons:
    // more land within 0.15 of a data point than x_T did.
    let data = match &app.model.scene.data {
        diffscope::scene::SceneData::Points(p) => p.clone(),
        diffscope::scene::SceneData::Image(_) => unreachable!("two moons are points"),
    };
    let samples = diffscope::app::reverse::ChainView::points(&last.x);
    let near = diffscope::app::reverse::fraction_within(&samples, &data, 0.15);
    let start = diffscope::app::reverse::ChainView::points(&chain.frames[0].x);
    let noise = diffscope::app::reverse::fraction_within(&start, &data, 0.15);
    assert!(
        near > noise + 0.2,
        "{near} of the samples within 0.15 of the data, {noise} of x_T"
    );
}
