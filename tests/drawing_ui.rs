//! Draw mode driven through egui_kittest with real pointer events: the brush puts down
//! the points its spread and density imply, the eraser takes those near its path, Undo
//! and Ctrl+Z take a stroke back, the drawing trains and samples like any 2D set, a
//! drawing too small to train on is refused with the reason, and the drawing survives
//! a restart.

use diffscope::app::reverse::LearnedOrigin;
use diffscope::app::settings::{DenoiserKind, ReverseSettings, STORAGE_KEY, Settings, SourceChoice, Tab};
use diffscope::app::{Command, DiffscopeApp};
use diffscope::data::drawing::{Brush, DrawnPoints};
use diffscope::diffusion::{ScheduleKind, ScheduleSpec};
use diffscope::scene::SceneData;
use egui::{Modifiers, PointerButton, Pos2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use crate::ui::{Memory, harness_with, label_starting, step_until};

/// Two moons (200 points), linear T = 50, the Forward tab; 200 training iterations.
fn settings() -> Settings {
    Settings {
        source: SourceChoice::Dataset("two-moons".into()),
        n_points: 200,
        schedule: ScheduleSpec::new(ScheduleKind::Linear, 50),
        t: 0,
        tab: Tab::Forward,
        show_math: false,
        reverse: ReverseSettings {
            iterations: 200,
            batch: 128,
            n_points: 400,
            max_speed: true,
            ..ReverseSettings::default()
        },
        ..Settings::default()
    }
}

/// The brush of these tests: σ = 0.1, ρ = 30 per unit (a click: 15 points), eraser 0.3.
const BRUSH: Brush = Brush {
    spread: 0.1,
    density: 30.0,
    eraser: 0.3,
};

/// Where the canvas shows the data point `p`: the view spans ±3.5 units a side.
fn on_canvas(harness: &Harness<'_, DiffscopeApp>, p: [f64; 2]) -> Pos2 {
    let rect = harness.get_by_label("drawing canvas").rect();
    assert_eq!(rect.width(), rect.height(), "the canvas is square: {rect:?}");
    let per_unit = f64::from(rect.width()) / 7.0;
    egui::pos2(
        rect.center().x + (p[0] * per_unit) as f32,
        rect.center().y - (p[1] * per_unit) as f32,
    )
}

/// A drag with `button` through the data points `path` (pressed at the first, a frame
/// per move, released at the last), as a person's pointer does it.
fn drag(harness: &mut Harness<'_, DiffscopeApp>, button: PointerButton, path: &[[f64; 2]]) {
    let screen: Vec<Pos2> = path.iter().map(|&p| on_canvas(harness, p)).collect();
    let press = |pos: Pos2, pressed: bool| egui::Event::PointerButton {
        pos,
        button,
        pressed,
        modifiers: Modifiers::NONE,
    };
    harness
        .input_mut()
        .events
        .push(egui::Event::PointerMoved(screen[0]));
    harness.input_mut().events.push(press(screen[0], true));
    harness.run_steps(1);
    for &pos in &screen[1..] {
        harness.input_mut().events.push(egui::Event::PointerMoved(pos));
        harness.run_steps(1);
    }
    let last = screen[screen.len() - 1];
    harness.input_mut().events.push(press(last, false));
    harness.run_steps(3);
}

/// `n + 1` points from `from` to `to`.
fn straight(from: [f64; 2], to: [f64; 2], n: usize) -> Vec<[f64; 2]> {
    (0..=n)
        .map(|k| {
            let s = k as f64 / n as f64;
            [from[0] + s * (to[0] - from[0]), from[1] + s * (to[1] - from[1])]
        })
        .collect()
}

fn drawn(harness: &Harness<'_, DiffscopeApp>) -> Vec<[f64; 2]> {
    harness.state().model.drawing.points().to_vec()
}

/// The distance from `p` to the segment `a`–`b`.
fn segment_distance(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let s = (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / (dx * dx + dy * dy)).clamp(0.0, 1.0);
    (p[0] - a[0] - s * dx).hypot(p[1] - a[1] - s * dy)
}

/// The app in draw mode on an empty canvas (Draw, then Clear, clicked), with [`BRUSH`].
fn empty_canvas() -> Harness<'static, DiffscopeApp> {
    let mut harness = harness_with(settings());
    step_until(&mut harness, "the start-up model", |app| {
        app.model.learning.pending.is_none()
    });
    harness.state_mut().settings.draw.brush = BRUSH;
    harness.get_by_label("Draw").click();
    harness.run_steps(2);
    harness.get_by_label("Clear").click();
    harness.run_steps(2);
    let app = harness.state();
    assert_eq!(app.settings.source, SourceChoice::Drawing);
    assert!(app.model.drawing.points().is_empty());
    assert_eq!(app.model.points.as_ref().map(|p| p.x0.len()), Some(0));
    harness
}

/// How close `samples` come to `data`, against N(0, I) itself, where the chain starts:
/// the share within 0.3 of a data point (samples, N(0, I)) and the median distance to
/// the nearest one (samples, N(0, I)).
fn closeness(samples: &[[f64; 2]], data: &[[f64; 2]]) -> (f64, f64, f64, f64) {
    let nearest = |p: &[f64; 2]| {
        data.iter()
            .map(|q| (p[0] - q[0]).hypot(p[1] - q[1]))
            .fold(f64::INFINITY, f64::min)
    };
    let gaussian: Vec<[f64; 2]> = (0..400u64)
        .map(|i| {
            let e = |k| diffscope::diffusion::noise::normal(9, 0, 2 * i + k);
            [e(0), e(1)]
        })
        .collect();
    let median = |points: &[[f64; 2]]| {
        let mut d: Vec<f64> = points.iter().map(nearest).collect();
        d.sort_by(f64::total_cmp);
        d[d.len() / 2]
    };
    let within =
        |points: &[[f64; 2]]| points.iter().filter(|p| nearest(p) < 0.3).count() as f64 / points.len() as f64;
    let (share, baseline) = (within(samples), within(&gaussian));
    let (sampled, start) = (median(samples), median(&gaussian));
    eprintln!(
        "within 0.3 of a drawn point: {share:.3} of the samples, {baseline:.3} of N(0, I); \
         median distance {sampled:.3} against {start:.3}"
    );
    (share, baseline, sampled, start)
}

#[test]
fn brush_eraser_and_undo_on_the_canvas_then_the_drawing_trains_and_samples() {
    let mut harness = empty_canvas();
    // A bar from (−2, 1) to (2, 1) in 16 moves: the click's ρ·0.5 = 15 points, then
    // ⌊ρL⌋ = ⌊30 · 4⌋ = 120 along it (±1: the pointer lands on f32 positions).
    drag(
        &mut harness,
        PointerButton::Primary,
        &straight([-2.0, 1.0], [2.0, 1.0], 16),
    );
    let bar = drawn(&harness);
    assert!((134..=136).contains(&bar.len()), "the bar: {} points", bar.len());
    // Around the path with σ = 0.1: every point within 5σ of the segment.
    assert!(
        bar.iter()
            .all(|&p| segment_distance(p, [-2.0, 1.0], [2.0, 1.0]) < 0.5)
    );
    // A stem from (0, 1) to (0, −2): 15 + 90 more.
    drag(
        &mut harness,
        PointerButton::Primary,
        &straight([0.0, 1.0], [0.0, -2.0], 12),
    );
    let before = drawn(&harness);
    assert!((before.len() - bar.len()).abs_diff(105) <= 1, "{}", before.len());
    label_starting(&harness, &format!("{} points", before.len()));
    // The right button erases across the bar at x = 1.5: exactly the points within 0.3
    // of the path go (the bar holds about ρ·0.6 = 18 there).
    let (a, b) = ([1.5, 0.4], [1.5, 1.6]);
    drag(&mut harness, PointerButton::Secondary, &straight(a, b, 6));
    let after = drawn(&harness);
    let near = before
        .iter()
        .filter(|&&p| segment_distance(p, a, b) <= 0.3)
        .count();
    assert!(near >= 12, "{near} points near the eraser's path");
    assert_eq!(before.len() - after.len(), near);
    assert!(after.iter().all(|&p| segment_distance(p, a, b) > 0.3));
    // Undo brings them back in place, and the scene follows.
    harness.get_by_label("Undo").click();
    harness.run_steps(2);
    assert_eq!(drawn(&harness), before);
    // Erase again and take it back with Ctrl+Z.
    drag(&mut harness, PointerButton::Secondary, &straight(a, b, 6));
    assert_eq!(drawn(&harness), after);
    harness.key_press_modifiers(Modifiers::COMMAND, egui::Key::Z);
    harness.run_steps(2);
    assert_eq!(drawn(&harness), before);
    let app = harness.state();
    assert_eq!(app.settings.drawing, DrawnPoints::new(&before));
    let SceneData::Points(scene) = &app.model.scene.data else {
        panic!("the drawing is points")
    };
    assert_eq!(scene.len(), before.len());
    // Train 200 iterations on the drawing, then sample.
    harness.state_mut().push(Command::Train);
    step_until(&mut harness, "the end of training", |app| {
        app.model.learning.training.as_ref().is_some_and(|t| !t.running())
            && app.model.learning.trained_file.is_some()
            || app.model.status.error.is_some()
    });
    let app = harness.state();
    assert_eq!(app.model.status.error, None);
    let training = app.model.learning.training.as_ref().unwrap();
    assert_eq!((training.iteration, training.total), (200, 200));
    assert_eq!(
        app.model.learning.learned.as_ref().map(|m| &m.origin),
        Some(&LearnedOrigin::Trained)
    );
    harness.state_mut().push(Command::Sample);
    step_until(&mut harness, "the chain to finish", |app| {
        app.model.learning.chain.as_ref().is_some_and(|c| c.done)
    });
    let app = harness.state();
    let chain = app.model.learning.chain.as_ref().unwrap();
    assert_eq!(chain.progress, (50, 50));
    let samples: Vec<[f64; 2]> = chain
        .frames
        .last()
        .unwrap()
        .x
        .chunks_exact(2)
        .map(|p| [f64::from(p[0]), f64::from(p[1])])
        .collect();
    assert_eq!(samples.len(), 400);
    let SceneData::Points(data) = &app.model.scene.data else {
        panic!("the drawing is points")
    };
    // Within 0.3 (standardised units) of a drawn point.
    let (share, baseline, sampled, start) = closeness(&samples, data);
    // Measured: 0.833 of the samples against 0.463 of N(0, I); median 0.075 against 0.337.
    assert!(share > 0.7, "share {share}, N(0, I) {baseline}");
    assert!(share > baseline + 0.25, "share {share}, N(0, I) {baseline}");
    assert!(sampled < 0.5 * start, "median {sampled}, N(0, I) {start}");
}

#[test]
fn a_drawing_of_seven_points_is_refused_for_training_and_the_model_stays() {
    let mut harness = empty_canvas();
    // ρ = 14: a click puts down 7 points.
    harness.state_mut().settings.draw.brush.density = 14.0;
    drag(&mut harness, PointerButton::Primary, &[[0.5, 0.5]]);
    assert_eq!(drawn(&harness).len(), 7);
    let before = harness
        .state()
        .model
        .learning
        .learned
        .as_ref()
        .map(|m| m.origin.clone());
    assert!(matches!(before, Some(LearnedOrigin::Shipped(_))), "{before:?}");
    harness.state_mut().push(Command::Train);
    harness.run_steps(3);
    let app = harness.state();
    assert_eq!(
        app.model.status.error.as_deref(),
        Some("a drawing of 7 points is too few to train on: draw at least 10")
    );
    assert!(app.model.learning.training.is_none());
    assert_eq!(
        app.model.learning.learned.as_ref().map(|m| m.origin.clone()),
        before
    );
    assert_eq!(app.settings.reverse.denoiser, DenoiserKind::Learned);
    assert_eq!(drawn(&harness).len(), 7);
    label_starting(&harness, "error: a drawing of 7 points is too few");
    // Every tab lays out over a drawing this small, and over an empty one.
    for clear in [false, true] {
        if clear {
            harness.get_by_label("Clear").click();
            harness.run_steps(2);
            assert!(drawn(&harness).is_empty());
        }
        for tab in Tab::ALL {
            harness.state_mut().settings.tab = tab;
            harness.run_steps(3);
        }
        harness.state_mut().settings.tab = Tab::Forward;
        harness.run_steps(2);
    }
}

#[test]
fn the_drawing_survives_a_restart_through_the_settings_file() {
    let mut harness = empty_canvas();
    drag(
        &mut harness,
        PointerButton::Primary,
        &straight([-1.0, 0.0], [1.0, 0.0], 4),
    );
    let points = drawn(&harness);
    let mut storage = Memory::default();
    eframe::set_value(&mut storage, STORAGE_KEY, &harness.state().settings);
    let back: Settings = eframe::get_value(&storage, STORAGE_KEY).unwrap();
    assert_eq!(back.drawing.points(), &points[..]);
    assert_eq!(back.source, SourceChoice::Drawing);
    let harness = harness_with(back);
    assert_eq!(harness.state().model.drawing.points(), &points[..]);
    assert_eq!(harness.state().model.scene.name, "drawing");
    // A full drawing keeps the file to about 20 bytes a point.
    let full: Vec<[f64; 2]> = (0..20_000_u64)
        .map(|i| {
            let e = |k| 1.5 * diffscope::diffusion::noise::normal(3, 0, 2 * i + k);
            [(e(0) * 1e4).round() / 1e4, (e(1) * 1e4).round() / 1e4]
        })
        .collect();
    let settings = Settings {
        drawing: DrawnPoints::new(&full),
        ..Settings::default()
    };
    eframe::set_value(&mut storage, STORAGE_KEY, &settings);
    let bytes = eframe::Storage::get_string(&storage, STORAGE_KEY).unwrap().len();
    eprintln!("settings with 20000 drawn points: {bytes} bytes");
    assert!(bytes < 20 * 20_000 + 10_000, "{bytes} bytes");
}
