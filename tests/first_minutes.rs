//! Issue 12: what a new user meets in the first ten minutes, driven through the window with
//! real clicks, keys and typed text (egui_kittest).

use diffscope::app::settings::{Settings, SourceChoice, Tab};
use diffscope::app::{DiffscopeApp, RunOptions};
use diffscope::diffusion::{ScheduleKind, ScheduleSpec};
use egui::accesskit::{Role, Toggled};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};

use crate::ui::{Memory, harness_with, labels_containing, scratch};

/// The app in a window of `size`, its egui memory `memory` as eframe restores it at start.
fn harness_sized(size: [f32; 2], memory: Option<egui::Memory>) -> Harness<'static, DiffscopeApp> {
    let settings = Settings {
        export_dir: scratch("first-minutes"),
        ..Settings::default()
    };
    let options = RunOptions {
        fresh: true,
        ..RunOptions::default()
    };
    let mut harness = Harness::builder().with_size(size).build_eframe(move |cc| {
        if let Some(memory) = memory {
            cc.egui_ctx.memory_mut(|m| *m = memory);
        }
        diffscope::gui::new_app(&cc.egui_ctx, settings, options)
    });
    harness.run_steps(3);
    harness
}

/// Clicks the `T` field and types `text` one key at a time (a frame after each), as a
/// student would, then presses Enter.
fn type_into_t(harness: &mut Harness<'_, DiffscopeApp>, text: &str) {
    harness.get_by_role_and_label(Role::SpinButton, "T").click();
    harness.run_steps(2);
    for c in text.chars() {
        harness.input_mut().events.push(egui::Event::Text(c.to_string()));
        harness.run_steps(2);
    }
    harness.key_press(egui::Key::Enter);
    harness.run_steps(3);
}

#[test]
fn typing_t_digit_by_digit_applies_the_whole_number_on_enter() {
    let mut harness = harness_with(Settings {
        t: 572,
        export_dir: scratch("type-t"),
        ..Settings::default()
    });
    let before = harness.state().settings.schedule.clone();
    // Typing 1, 10, 100, 1000 used to pass through T = 1 (clamped to 2), β_T = 0.999.
    type_into_t(&mut harness, "1000");
    let app = harness.state();
    assert_eq!(app.settings.schedule.steps, 1000);
    assert_eq!(app.model.schedule.steps(), 1000);
    assert_eq!(app.settings.t, 572);
    assert_eq!(app.settings.schedule.beta_end, before.beta_end, "β_T unchanged");
    assert_eq!(
        app.settings.schedule.beta_start, before.beta_start,
        "β₁ unchanged"
    );
    assert!(app.model.status.error.is_none(), "{:?}", app.model.status.error);
    // "50" used to pass through T = 5 (t clamped to 5, β_T stuck at 0.999).
    type_into_t(&mut harness, "50");
    let app = harness.state();
    assert_eq!(app.model.schedule.steps(), 50);
    assert_eq!(app.settings.t, 50, "t is kept within T = 50");
    assert_eq!(app.settings.schedule.beta_end, before.beta_end, "β_T unchanged");
    // And back to 1000: t stays where T = 50 left it, the schedule is the default again.
    type_into_t(&mut harness, "1000");
    let app = harness.state();
    assert_eq!(app.settings.schedule, before);
    assert_eq!(app.settings.t, 50);
}

#[test]
fn switching_schedule_and_back_keeps_the_overlay_ticked() {
    let mut harness = harness_with(Settings {
        export_dir: scratch("overlay-back"),
        ..Settings::default()
    });
    assert_eq!(harness.state().settings.overlay, vec![ScheduleKind::Cosine]);
    for kind in ["cosine", "linear"] {
        harness.get_by_role_and_label(Role::ComboBox, "Schedule").click();
        harness.run_steps(2);
        harness.get_by_role_and_label(Role::Button, kind).click();
        harness.run_steps(3);
    }
    let app = harness.state();
    assert_eq!(app.settings.schedule.kind, ScheduleKind::Linear);
    let kinds: Vec<ScheduleKind> = app.model.compared.iter().map(|s| s.spec().kind).collect();
    assert_eq!(kinds, vec![ScheduleKind::Linear, ScheduleKind::Cosine]);
    // The overlay tick box (the left panel's, and any other list of schedules on screen).
    for cosine in harness.get_all_by_role_and_label(Role::CheckBox, "cosine") {
        assert_eq!(cosine.accesskit_node().toggled(), Some(Toggled::True));
    }
}

#[test]
fn a_restart_opens_the_left_panel_at_the_data_section() {
    // Scroll the left panel to its bottom, as a user looking at Export or View would.
    let mut harness = harness_sized([1280.0, 720.0], None);
    harness
        .input_mut()
        .events
        .push(egui::Event::PointerMoved(egui::pos2(120.0, 400.0)));
    harness.run_steps(1);
    for _ in 0..10 {
        harness.input_mut().events.push(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, -400.0),
            modifiers: egui::Modifiers::NONE,
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
        });
        harness.run_steps(1);
    }
    harness.run_steps(10);
    let data_top = |h: &Harness<'_, DiffscopeApp>| {
        h.get_all_by_label("Data")
            .map(|n| n.rect().top())
            .fold(f32::NEG_INFINITY, f32::max)
    };
    let top_bar = harness
        .get_by_role_and_label(Role::ComboBox, "Data")
        .rect()
        .bottom();
    assert!(data_top(&harness) < top_bar, "the panel did not scroll");
    // The memory eframe saves at exit and restores at the next start.
    let mut storage = Memory::default();
    harness.ctx.memory(|m| eframe::set_value(&mut storage, "egui", m));
    drop(harness);
    let memory: egui::Memory = eframe::get_value(&storage, "egui").unwrap();
    let harness = harness_sized([1280.0, 720.0], Some(memory));
    assert!(
        data_top(&harness) > top_bar,
        "the Data section starts at {} above the panel's top {top_bar}",
        data_top(&harness)
    );
}

#[test]
fn every_data_set_is_one_click_away_in_the_data_menu_at_1280x720() {
    let mut harness = harness_sized([1280.0, 720.0], None);
    for (label, name) in [("spiral", "spiral"), ("circles", "circles")] {
        harness.get_by_role_and_label(Role::ComboBox, "Data").click();
        harness.run_steps(2);
        harness.get_by_label(label).click();
        // The data loads on a thread of its own: wait for it (up to 30 s), not for frames.
        let start = std::time::Instant::now();
        while harness.state().settings.source != SourceChoice::Dataset(name.into())
            && start.elapsed() < std::time::Duration::from_secs(30)
        {
            harness.run_steps(1);
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(
            harness.state().settings.source,
            SourceChoice::Dataset(name.into()),
            "clicking {label:?} in the Data menu"
        );
    }
    // The groups are named.
    harness.get_by_role_and_label(Role::ComboBox, "Data").click();
    harness.run_steps(2);
    for group in ["photos", "digits", "2D sets"] {
        assert!(harness.query_by_label(group).is_some(), "group {group:?}");
    }
}

#[test]
fn the_x_t_warning_is_beside_the_equation_and_on_the_reverse_tab() {
    // √ᾱ_T of linear T = 50, β₁ = 1e-4·1000/50, β_T = 0.02:
    // python3 -c "import numpy as np; b=np.linspace(0.1/50,0.02,50); print(np.sqrt(np.prod(1-b)))"
    // 0.75814332640425
    let mut schedule = ScheduleSpec::new(ScheduleKind::Linear, 50);
    schedule.beta_end = Some(0.02);
    let mut harness = harness_with(Settings {
        schedule,
        t: 10,
        export_dir: scratch("x-t-warning"),
        ..Settings::default()
    });
    harness.run_steps(2);
    let warnings = labels_containing(&harness, "still carries √ᾱ_T = 0.758 of x_0");
    // The histogram's, and the one beside the equation (above the views).
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    let equation_top = harness
        .get_all_by_label_contains("x_t = ")
        .map(|n| n.rect().bottom())
        .fold(0.0, f32::max);
    let near: Vec<f32> = harness
        .get_all_by_label_contains("still carries √ᾱ_T")
        .map(|n| n.rect().top())
        .filter(|&y| y <= equation_top + 40.0)
        .collect();
    assert_eq!(
        near.len(),
        1,
        "a warning beside the equation (ends at y = {equation_top})"
    );
    harness.state_mut().settings.tab = Tab::Reverse;
    harness.run_steps(3);
    let reverse = labels_containing(&harness, "N(0, I)");
    assert!(
        reverse.iter().any(|l| l.contains("0.758") && l.contains("x_T")),
        "{reverse:?}"
    );
}

#[test]
fn f3_timings_never_cover_the_status_message() {
    let mut harness = harness_sized([1280.0, 720.0], None);
    let info = "exported /a/rather/long/folder/name/for/the/lecture/astronaut-linear-t250.png \
                (2 views, 1024×512) and the schedule CSV beside it";
    harness.state_mut().model.status.info = Some(info.into());
    harness.key_press(egui::Key::F3);
    harness.run_steps(5);
    assert!(
        harness.state().settings.show_frame_times,
        "F3 shows the frame times"
    );
    let message = harness.get_by_label(info).rect();
    let timings: Vec<egui::Rect> = harness
        .get_all_by_label_contains("frame CPU p50")
        .map(|n| n.rect())
        .collect();
    assert!(!timings.is_empty());
    for t in timings {
        assert!(
            !t.intersects(message),
            "timings at {t:?} over the status message at {message:?}"
        );
    }
}
