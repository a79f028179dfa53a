//! The presenter view (issue 13): a second window for the projector shows presentation
//! mode's picture while the main window keeps the controls; both follow the same state in
//! every frame. The harness embeds viewports, so the audience window shows here as a window
//! inside the main one, drawn by the same function from the same state as the native one
//! (tests/window.rs opens the native window under Xvfb).

use diffscope::app::settings::{Settings, SourceChoice, Tab};
use diffscope::app::{DiffscopeApp, RunOptions};
use diffscope::diffusion::{ScheduleKind, ScheduleSpec};
use egui::accesskit::Role;
use egui::{Key, Modifiers, Rect};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};

fn harness(settings: Settings) -> Harness<'static, DiffscopeApp> {
    let options = RunOptions {
        fresh: true,
        ..RunOptions::default()
    };
    let mut harness = Harness::builder()
        .with_size([1280.0, 720.0])
        .build_eframe(move |cc| diffscope::gui::new_app(&cc.egui_ctx, settings, options));
    harness.run_steps(3);
    harness
}

/// Two moons, 300 points, a linear schedule of 100 steps, at t = 50.
fn moons() -> Settings {
    Settings {
        source: SourceChoice::Dataset("two-moons".into()),
        n_points: 300,
        schedule: ScheduleSpec::new(ScheduleKind::Linear, 100),
        t: 50,
        export_dir: crate::ui::scratch("presenter"),
        ..Settings::default()
    }
}

/// The audience window (embedded by the harness), if open.
fn audience<'h>(harness: &'h Harness<'_, DiffscopeApp>) -> Option<egui_kittest::Node<'h>> {
    harness.query_by(|n| {
        n.role() == Role::Window && n.label().is_some_and(|l| l.starts_with("diffscope · audience"))
    })
}

/// What the audience window shows: its title, its `t` field and its play button.
#[derive(Debug, PartialEq)]
struct Shown {
    title: String,
    t: String,
    play: String,
}

fn shown(harness: &Harness<'_, DiffscopeApp>) -> Shown {
    let window = audience(harness).expect("the audience window is open");
    let play = window
        .query_all_by_role(Role::Button)
        .filter_map(|b| b.accesskit_node().label())
        .find(|l| l.contains("Play") || l.contains("Pause"))
        .expect("a play button in the audience window");
    Shown {
        title: window.accesskit_node().label().unwrap(),
        t: t_field(&window),
        play,
    }
}

/// The value of the `t` field (beside the slider) in `within`.
fn t_field(within: &egui_kittest::Node<'_>) -> String {
    within
        .get_by_role_and_label(Role::SpinButton, "t")
        .accesskit_node()
        .value()
        .unwrap()
}

/// The main window's `t` field (the top bar's), outside the audience window.
fn main_t(harness: &Harness<'_, DiffscopeApp>) -> String {
    let inside = audience(harness).map(|w| w.rect());
    let fields: Vec<_> = harness
        .query_all_by_role_and_label(Role::SpinButton, "t")
        .filter(|f| inside.is_none_or(|w: Rect| !w.intersects(f.rect())))
        .collect();
    assert_eq!(fields.len(), 1, "one t field in the main window");
    fields[0].accesskit_node().value().unwrap()
}

#[test]
fn the_presenter_view_opens_follows_the_main_window_both_ways_and_closes() {
    let mut harness = harness(moons());
    assert!(audience(&harness).is_none(), "closed at start");
    harness.key_press(Key::F6);
    harness.run_steps(3);
    assert!(harness.state().settings.lecture.audience, "F6 opens it");
    let window = audience(&harness).expect("the audience window is open");
    // The audience sees the lesson: both forward views, the play button, t — and none of
    // the lecturer's controls (the tab row, the data menu).
    for view in ["Markov chain view", "closed form view"] {
        window.get_by_role_and_label(Role::Image, view);
    }
    for control in ["Reverse", "Data", "Present", "Presenter view", "Train"] {
        assert!(
            window.query_by_label(control).is_none(),
            "{control} in the audience window"
        );
    }
    let area = window.rect();
    // The main window keeps its controls, outside the audience window.
    for control in ["Reverse", "Presenter view", "Train"] {
        let r = harness.get_by_label(control).rect();
        assert!(!area.contains_rect(r), "{control} at {r:?}, audience at {area:?}");
    }
    assert_eq!(
        shown(&harness),
        Shown {
            title: "diffscope · audience · forward · t = 50".into(),
            t: "50".into(),
            play: "▶ Play".into(),
        }
    );
    // Keys in the main window: the audience window follows in the same frame.
    for (modifiers, key, t) in [
        (Modifiers::NONE, Key::ArrowRight, 51),
        (Modifiers::SHIFT, Key::ArrowRight, 61),
        (Modifiers::NONE, Key::End, 100),
        (Modifiers::NONE, Key::Home, 0),
        (Modifiers::SHIFT, Key::ArrowRight, 10),
    ] {
        harness.key_press_modifiers(modifiers, key);
        harness.run_steps(1);
        assert_eq!(harness.state().settings.t, t, "{modifiers:?} {key:?}");
        let audience = shown(&harness);
        assert_eq!(audience.t, t.to_string(), "{modifiers:?} {key:?}");
        assert_eq!(audience.t, main_t(&harness));
        assert_eq!(
            audience.title,
            format!("diffscope · audience · forward · t = {t}")
        );
    }
    // A tab chosen in the main window: the audience sees its plots, not its controls.
    harness.get_by_role_and_label(Role::Button, "ELBO").click();
    harness.run_steps(3);
    assert_eq!(harness.state().settings.tab, Tab::Elbo);
    let window = audience(&harness).unwrap();
    assert_eq!(
        window.accesskit_node().label().unwrap(),
        "diffscope · audience · elbo · t = 10"
    );
    window.get_by_label("Denoising matching");
    assert!(window.query_by_label("against").is_none());
    // Space in the main window plays; the audience's button says so.
    harness.key_press(Key::Space);
    harness.run_steps(1);
    assert!(harness.state().model.playing);
    assert_eq!(shown(&harness).play, "■ Pause");
    harness.key_press(Key::Space);
    harness.run_steps(1);
    assert!(!harness.state().model.playing);
    // And the other way: the audience window's play button plays in the main window.
    harness.get_by_role_and_label(Role::Button, "Forward").click();
    harness.run_steps(2);
    audience(&harness)
        .unwrap()
        .get_by_role_and_label(Role::Button, "▶ Play")
        .click();
    // (A click acts after the frame is laid out, in both windows: the next frame shows it.)
    harness.run_steps(2);
    assert!(harness.state().model.playing, "played from the audience window");
    assert_eq!(shown(&harness).play, "■ Pause");
    let main_play = harness
        .query_all_by_role_and_label(Role::Button, "■ Pause")
        .filter(|b| !area.contains_rect(b.rect()))
        .count();
    assert_eq!(main_play, 1, "the main window's button shows Pause");
}

#[test]
fn the_presenter_view_closes_by_its_close_button_f6_or_its_esc_and_the_app_goes_on() {
    let mut harness = harness(moons());
    // The toggle in the tab row opens it.
    harness
        .get_by_role_and_label(Role::Button, "Presenter view")
        .click();
    harness.run_steps(2);
    assert!(harness.state().settings.lecture.audience);
    assert_eq!(shown(&harness).t, "50");
    // Esc in the main window leaves presentation mode only: the audience window stays.
    harness.key_press(Key::F5);
    harness.run_steps(2);
    assert!(harness.state().settings.lecture.presenting);
    assert!(
        audience(&harness).is_some(),
        "presenting beside the audience window"
    );
    harness.key_press(Key::Escape);
    harness.run_steps(2);
    assert!(!harness.state().settings.lecture.presenting);
    assert!(audience(&harness).is_some(), "Esc in the main window keeps it");
    // Its close button closes it, and only it.
    audience(&harness)
        .unwrap()
        .get_by_role_and_label(Role::Button, "Close window")
        .click();
    harness.run_steps(2);
    assert!(!harness.state().settings.lecture.audience, "closed");
    assert!(audience(&harness).is_none());
    harness.key_press(Key::ArrowRight);
    harness.run_steps(1);
    let t = harness.state().settings.t;
    assert_eq!(main_t(&harness), t.to_string(), "the main window goes on");
    harness.get_by_label("Reverse");
    // The toggle in the tab row opens it again, F6 closes it.
    harness
        .get_by_role_and_label(Role::Button, "Presenter view")
        .click();
    harness.run_steps(2);
    assert_eq!(shown(&harness).t, t.to_string());
    harness.key_press(Key::F6);
    harness.run_steps(2);
    assert!(audience(&harness).is_none(), "F6 closes it");
    // The audience window's own Esc button closes it (not presentation mode).
    harness.key_press(Key::F6);
    harness.run_steps(2);
    audience(&harness)
        .unwrap()
        .get_by_role_and_label(Role::Button, "Esc")
        .click();
    harness.run_steps(2);
    assert!(audience(&harness).is_none(), "its Esc button closes it");
    assert!(!harness.state().settings.lecture.presenting);
    harness.get_by_label("Reverse");
}

#[test]
fn presenter_on_the_command_line_opens_it_at_start() {
    let options = RunOptions {
        fresh: true,
        presenter: true,
        tab: Some(Tab::Compare),
        ..RunOptions::default()
    };
    let mut harness = Harness::builder()
        .with_size([1280.0, 720.0])
        .build_eframe(move |cc| diffscope::gui::new_app(&cc.egui_ctx, moons(), options));
    harness.run_steps(3);
    assert_eq!(shown(&harness).title, "diffscope · audience · compare · t = 50");
}
