//! The VAE → VDM tab in the real app (kittest), driven as a user does: the tab opened on
//! its shipped VAE (the numbers on screen are the model's), training from scratch paused,
//! resumed with Space and stopped, β typed into its field, the hierarchical VAE and its
//! three switches turned on one at a time, bad weights files and a panicking run that
//! keep the model on screen, and the layout at a projector's sizes.

use std::time::{Duration, Instant};

use diffscope::app::DiffscopeApp;
use diffscope::app::command::Command;
use diffscope::app::latent::{DATA_SEED, EXAMPLES, LatentAction, LatentMode};
use diffscope::app::settings::{Settings, Tab};
use diffscope::data::Dataset;
use diffscope::model::train::iid_draw;
use diffscope::model::vae::{self, LatentModel};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};

use crate::lecture::{PROJECTORS, clipped, defaults, harness};
use crate::ui::{harness_with, labels_starting, scratch};

/// The app on the VAE → VDM tab at the desk's 1440×900.
fn vae_app(name: &str, mode: LatentMode) -> Harness<'static, DiffscopeApp> {
    let mut settings = Settings {
        tab: Tab::Vae,
        export_dir: scratch(name),
        ..Settings::default()
    };
    settings.latent.mode = mode;
    harness_with(settings)
}

/// Steps until `done`, at most `limit`.
#[track_caller]
fn step_for(
    harness: &mut Harness<'_, DiffscopeApp>,
    what: &str,
    limit: Duration,
    done: impl Fn(&DiffscopeApp) -> bool,
) {
    let start = Instant::now();
    while !done(harness.state()) {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        harness.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    harness.run_steps(2);
}

/// Steps for `time` (the worker runs meanwhile).
fn step_during(harness: &mut Harness<'_, DiffscopeApp>, time: Duration) {
    let start = Instant::now();
    while start.elapsed() < time {
        harness.step();
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `−1.234` as shown (a real minus sign) parsed.
fn number(text: &str) -> f64 {
    text.trim()
        .replace('−', "-")
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {text:?}"))
}

/// The numbers of the one readout line that starts with `prefix`: every `value ± error`
/// in it, in order.
#[track_caller]
fn estimates(harness: &Harness<'_, DiffscopeApp>, prefix: &str) -> Vec<(f64, f64)> {
    let lines: Vec<String> = labels_starting(harness, prefix)
        .into_iter()
        .filter(|l| l.contains(" ± "))
        .collect();
    assert_eq!(lines.len(), 1, "readouts starting with {prefix:?}: {lines:?}");
    let line = &lines[0];
    let parts: Vec<&str> = line.split(" ± ").collect();
    let mut out = Vec::new();
    for pair in parts.windows(2) {
        let value = pair[0].rsplit(' ').next().unwrap();
        let error = pair[1].split(' ').next().unwrap();
        out.push((number(value), number(error)));
    }
    out
}

/// The status line's iteration count (`… · training, 1234 iterations`).
fn shown_iterations(harness: &Harness<'_, DiffscopeApp>) -> u64 {
    let lines: Vec<String> = crate::ui::labels_containing(harness, " iterations");
    let line = lines.first().expect("a status line with the iterations");
    let before = line.split(" iterations").next().unwrap();
    before.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn the_tab_opens_on_the_shipped_vae_and_its_numbers_are_the_models() {
    let mut harness = vae_app("latent-shipped", LatentMode::Vae);
    step_for(
        &mut harness,
        "the first snapshot",
        Duration::from_secs(30),
        |app| app.model.latent.snapshot.is_some(),
    );
    assert!(!labels_starting(&harness, "shipped vae-two-moons").is_empty());
    // The same numbers from the library: the shipped weights, the tab's examples, its seed.
    let checkpoint = vae::shipped("vae-two-moons").unwrap().unwrap();
    let LatentModel::Vae(model) = checkpoint.model else {
        panic!("vae-two-moons is not a VAE")
    };
    let data = iid_draw(Dataset::TwoMoons, EXAMPLES, DATA_SEED);
    let want = model.elbo(&data, 4, 7).unwrap();
    let shown = estimates(&harness, "ELBO ");
    assert_eq!(shown.len(), 3, "{shown:?}");
    for ((value, error), want) in shown.iter().zip([want.elbo, want.recon, want.kl]) {
        assert!(
            (value - want.mean).abs() <= 5e-4 * want.mean.abs().max(1.0),
            "{value} on screen, {} from the model",
            want.mean
        );
        assert!((error - want.std_err).abs() <= 0.05 * want.std_err + 1e-4);
    }
    // ELBO = reconstruction − KL, on screen as in the model.
    assert!((shown[0].0 - (shown[1].0 - shown[2].0)).abs() < 2e-3 * shown[0].0.abs().max(1.0));
    assert_eq!(labels_starting(&harness, "active units: ").len(), 1);
    for name in ["data view", "latent view", "ELBO curves"] {
        harness.get_by_role_and_label(Role::Image, name);
    }
}

#[test]
fn training_from_scratch_pauses_resumes_with_space_and_stops() {
    let mut harness = vae_app("latent-train", LatentMode::Vae);
    step_for(&mut harness, "the shipped VAE", Duration::from_secs(30), |app| {
        app.model.latent.snapshot.is_some()
    });
    harness.get_by_label("Train from scratch").click();
    step_for(
        &mut harness,
        "training snapshots",
        Duration::from_secs(30),
        |app| {
            let s = &app.model.latent;
            s.training
                && s.current()
                && s.snapshot.as_ref().is_some_and(|s| s.iteration > 0)
                && s.curve.len() >= 2
        },
    );
    assert!(!labels_starting(&harness, "trained here · training").is_empty());
    harness.get_by_label("Pause").click();
    harness.run_steps(3);
    assert!(harness.state().model.latent.paused);
    // A snapshot already on its way may land; after that nothing moves.
    step_during(&mut harness, Duration::from_millis(1200));
    let paused_at = shown_iterations(&harness);
    step_during(&mut harness, Duration::from_millis(800));
    assert_eq!(
        shown_iterations(&harness),
        paused_at,
        "training moved while paused"
    );
    assert!(!labels_starting(&harness, "trained here · paused").is_empty());
    // Space resumes (the tab has no t to play).
    harness.key_press(egui::Key::Space);
    step_for(
        &mut harness,
        "training to go on",
        Duration::from_secs(20),
        |app| {
            app.model
                .latent
                .snapshot
                .as_ref()
                .is_some_and(|s| s.iteration > paused_at)
        },
    );
    assert!(!harness.state().model.latent.paused);
    harness.get_by_label("Stop").click();
    step_for(&mut harness, "the run to stop", Duration::from_secs(20), |app| {
        !app.model.latent.training
    });
    let stopped_at = shown_iterations(&harness);
    step_during(&mut harness, Duration::from_millis(500));
    assert_eq!(shown_iterations(&harness), stopped_at);
    harness.get_by_label("Train more");
}

#[test]
fn a_large_beta_typed_in_its_field_shrinks_the_kl_and_the_elbo_stays_an_elbo() {
    let mut harness = vae_app("latent-beta", LatentMode::Vae);
    step_for(&mut harness, "the shipped VAE", Duration::from_secs(30), |app| {
        app.model.latent.snapshot.is_some()
    });
    let kl_before = estimates(&harness, "ELBO ")[2].0;
    // β typed digit by digit into the slider's field, as a user does.
    harness.get_by_role_and_label(Role::SpinButton, "β").click();
    harness.run_steps(2);
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    for c in "6".chars() {
        harness.input_mut().events.push(egui::Event::Text(c.to_string()));
        harness.run_steps(2);
    }
    harness.key_press(egui::Key::Enter);
    harness.run_steps(3);
    assert!((harness.state().settings.latent.beta - 6.0).abs() < 1e-9);
    // Moving β trains on from the model on screen.
    harness.get_by_label("Train more").click();
    step_for(
        &mut harness,
        "600 iterations at β = 6",
        Duration::from_mins(1),
        |app| {
            app.model
                .latent
                .snapshot
                .as_ref()
                .is_some_and(|s| s.iteration >= 600 + first_iterations())
        },
    );
    let after = estimates(&harness, "ELBO ");
    assert!(
        after[2].0 < 0.8 * kl_before,
        "KL {} at β = 6 vs {kl_before} at β = 1",
        after[2].0
    );
    // Whatever β trains, the bound shown is at β = 1: reconstruction − KL.
    assert!((after[0].0 - (after[1].0 - after[2].0)).abs() < 2e-3 * after[0].0.abs().max(1.0));
}

/// Iterations the shipped VAE was trained for.
fn first_iterations() -> u64 {
    vae::shipped("vae-two-moons").unwrap().unwrap().iterations
}

#[test]
fn the_three_switches_turn_the_hierarchical_vae_into_a_vdm_one_at_a_time() {
    let mut harness = vae_app("latent-switches", LatentMode::Hierarchical);
    step_for(
        &mut harness,
        "the shipped MHVAE",
        Duration::from_secs(30),
        |app| app.model.latent.snapshot.is_some(),
    );
    assert!(!labels_starting(&harness, "shipped mhvae-two-moons").is_empty());
    for t in 1..=4 {
        harness.get_by_role_and_label(Role::Image, &format!("z_{t} ~ q view"));
        harness.get_by_role_and_label(Role::Image, &format!("z_{t} ~ p view"));
    }
    let learned = estimates(&harness, "ELBO ");
    assert_eq!(learned.len(), 3, "ELBO, reconstruction, prior: {learned:?}");
    // Switch 2: the encoders are fixed; no shipped weights for this form: it trains live
    // from the current decoders.
    harness.get_by_label("2 · encoders fixed").click();
    step_for(
        &mut harness,
        "the fixed-encoder form to train",
        Duration::from_secs(30),
        |app| {
            let s = &app.model.latent;
            s.training && s.current() && s.snapshot.as_ref().is_some_and(|s| s.iteration > 0)
        },
    );
    assert!(!crate::ui::labels_containing(&harness, "decoders start from the previous ones").is_empty());
    // With fixed encoders the ELBO tab's estimator runs beside it.
    assert_eq!(labels_starting(&harness, "as a VDM, the ELBO tab's").len(), 1);
    let half = estimates(&harness, "as a VDM, the ELBO tab's");
    // Switch 3: ᾱ_T → 0: the shipped VDM-form weights, and the prior term is ≈ 0.
    harness.get_by_label("3 · ᾱ_T → 0").click();
    step_for(&mut harness, "the VDM form", Duration::from_secs(30), |app| {
        app.model.latent.origin == "shipped mhvae-vdm-two-moons" && app.model.latent.current()
    });
    let vdm = estimates(&harness, "ELBO ");
    // The prior term KL(q(z_T|x) ‖ N(0, I)) goes to zero with ᾱ_T.
    let as_vdm = estimates(&harness, "as a VDM, the ELBO tab's");
    assert!(
        as_vdm[1].0.abs() < 1e-3,
        "prior term {:?} with ᾱ_T → 0",
        as_vdm[1]
    );
    assert!(half[1].0 > 0.05, "prior term {:?} with ᾱ_T = ½", half[1]);
    // Its ELBO agrees with the ELBO tab's denoising-matching estimate within 4 standard errors.
    let dm = as_vdm[0];
    let se = vdm[0].1.hypot(dm.1);
    assert!((vdm[0].0 - dm.0).abs() < 4.0 * se, "{vdm:?} vs {dm:?}");
    assert_eq!(
        crate::ui::labels_containing(&harness, "All three on: this is a VDM").len(),
        1
    );
}

#[test]
fn bad_weights_files_and_a_panicking_run_keep_the_model_on_screen() {
    let dir = scratch("latent-bad");
    let mut harness = vae_app("latent-bad-app", LatentMode::Vae);
    step_for(&mut harness, "the shipped VAE", Duration::from_secs(30), |app| {
        app.model.latent.snapshot.is_some()
    });
    let before = harness
        .state()
        .model
        .latent
        .snapshot
        .as_ref()
        .unwrap()
        .report
        .curve_point(0);
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"not a safetensors file at all").unwrap();
    let denoiser = dir.join("denoiser.safetensors");
    std::fs::write(
        &denoiser,
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/weights/two-moons.safetensors"
        ))
        .unwrap(),
    )
    .unwrap();
    for (file, says) in [
        (&garbage, "garbage.safetensors"),
        (&denoiser, "a denoiser's weights file, not a VAE's"),
    ] {
        harness
            .state_mut()
            .push(Command::Latent(LatentAction::Load(file.clone())));
        harness.run_steps(3);
        let error = harness.state().model.latent.error.clone().expect("an error");
        assert!(error.contains(says), "{error}");
        assert!(!crate::ui::labels_containing(&harness, "weights not opened").is_empty());
        let now = harness
            .state()
            .model
            .latent
            .snapshot
            .as_ref()
            .unwrap()
            .report
            .curve_point(0);
        assert_eq!(now, before, "a bad file replaced the model");
    }
    // A run that panics at its 50th iteration: the error is said, the last snapshot stays.
    harness.state_mut().model.latent.panic_at_iteration = Some(50);
    harness.get_by_label("Train from scratch").click();
    harness.run_steps(2);
    assert_eq!(
        harness.state().model.latent.error,
        None,
        "a new run clears the last error"
    );
    step_for(&mut harness, "the panic", Duration::from_secs(30), |app| {
        app.model.latent.error.is_some()
    });
    let error = harness.state().model.latent.error.clone().unwrap();
    assert!(
        error.contains("internal error (panic)") && error.contains("iteration 50"),
        "{error}"
    );
    assert!(!harness.state().model.latent.training);
    // The window goes on: a new run trains.
    harness.state_mut().model.latent.panic_at_iteration = None;
    harness.get_by_label("Train from scratch").click();
    step_for(&mut harness, "a new run", Duration::from_secs(30), |app| {
        app.model.latent.training && app.model.latent.current()
    });
}

#[test]
fn the_views_dominate_a_projector_and_nothing_leaves_the_window() {
    for mode in [LatentMode::Vae, LatentMode::Hierarchical] {
        for (size, ppp) in PROJECTORS {
            let mut settings = defaults();
            settings.tab = Tab::Vae;
            settings.latent.mode = mode;
            let mut harness = harness(size, ppp, settings);
            step_for(&mut harness, "the snapshot", Duration::from_secs(30), |app| {
                app.model.latent.snapshot.is_some()
            });
            let window = harness.ctx.content_rect();
            let names: Vec<String> = match mode {
                LatentMode::Vae => vec!["data view".into(), "latent view".into(), "ELBO curves".into()],
                LatentMode::Hierarchical => {
                    let mut v = vec!["x view".to_owned(), "ELBO terms".to_owned()];
                    v.extend((1..=4).map(|t| format!("z_{t} ~ q view")));
                    v.extend((1..=4).map(|t| format!("z_{t} ~ p view")));
                    v
                }
            };
            let area: f32 = names
                .iter()
                .map(|n| {
                    let r = crate::lecture::to_rect(
                        harness
                            .get_by_role_and_label(Role::Image, n)
                            .accesskit_node()
                            .bounding_box()
                            .unwrap(),
                        ppp,
                    );
                    assert!(
                        window.expand(1.0).contains_rect(r),
                        "{n} at {r:?} leaves {window:?}"
                    );
                    r.area()
                })
                .sum();
            let share = area / window.area();
            assert!(
                share > 0.2,
                "{mode:?} at {size:?}×{ppp}: the views cover {share:.3} of the window"
            );
            let out = clipped(&harness);
            assert!(out.is_empty(), "{mode:?} at {size:?}×{ppp}: {out:?}");
        }
    }
}

#[test]
fn opening_a_vdm_file_brings_its_form_and_its_schedule_on_screen() {
    let dir = scratch("latent-open");
    let file = dir.join("vdm.safetensors");
    let shipped = vae::shipped("mhvae-vdm-two-moons").unwrap().unwrap();
    vae::save(&shipped, &file).unwrap();
    let mut harness = vae_app("latent-open-app", LatentMode::Vae);
    step_for(&mut harness, "the shipped VAE", Duration::from_secs(30), |app| {
        app.model.latent.snapshot.is_some()
    });
    // Another schedule on screen first: the file's encoders come from linear T = 1000.
    harness.state_mut().settings.schedule =
        diffscope::diffusion::ScheduleSpec::new(diffscope::diffusion::ScheduleKind::Cosine, 200);
    harness.run_steps(3);
    harness
        .state_mut()
        .push(Command::Latent(LatentAction::Load(file.clone())));
    step_for(&mut harness, "the file's model", Duration::from_secs(30), |app| {
        app.model.latent.origin == "vdm.safetensors" && app.model.latent.current()
    });
    let app = harness.state();
    let s = &app.settings.latent;
    assert_eq!(
        (s.mode, s.levels, s.fixed_encoders, s.to_noise),
        (LatentMode::Hierarchical, 4, true, true)
    );
    assert_eq!(
        app.settings.schedule,
        diffscope::diffusion::ScheduleSpec::default()
    );
    assert_eq!(app.model.schedule.steps(), 1000);
    // The form on screen is the file's: no retraining starts on the next frames.
    harness.run_steps(5);
    assert!(!harness.state().model.latent.training);
    assert_eq!(harness.state().model.latent.origin, "vdm.safetensors");
}
