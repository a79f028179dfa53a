//! The ELBO tab's layout at the window sizes a lecture meets (1280×720, 1440×900, and
//! 1440×900 at 120 % UI scale, i.e. 1200×750 points; 1920×1080 at 150 % is 1280×720
//! points), with the math panel open (the default): every label of the tab lies inside
//! the central panel (nothing hidden under the math panel without a way to scroll to
//! it); the plots' rotated y-axis names stay beside their plots, clear of the colour key,
//! the subtitles and the readout; and an empty log plot's ticks name different decades.

use diffscope::app::settings::{ElboSettings, Settings, Tab};
use diffscope::app::{DiffscopeApp, RunOptions};
use diffscope::diffusion::{ScheduleKind, ScheduleSpec};
use egui::accesskit::Role;
use egui::{Pos2, Rect, Shape, Vec2};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};

use crate::elbo_ui::{all_done, settings, wait};

/// The sizes in points: 1280×720 (and 1920×1080 at 150 %), 1440×900, 1440×900 at 120 %.
const SIZES: [[f32; 2]; 3] = [[1280.0, 720.0], [1440.0, 900.0], [1200.0, 750.0]];

fn harness(size: [f32; 2], settings: Settings) -> Harness<'static, DiffscopeApp> {
    let options = RunOptions {
        fresh: true,
        ..RunOptions::default()
    };
    let mut harness = Harness::builder()
        .with_size(size)
        .build_eframe(move |cc| diffscope::gui::new_app(&cc.egui_ctx, settings, options));
    harness.run_steps(3);
    harness
}

/// The math panel on (the default) and both denoisers: the widest table. T = 100 (the
/// shipped model asked at its equivalent steps: the longest command line) and 20
/// examples keep the four estimates quick on a loaded machine.
fn math_on() -> Settings {
    Settings {
        show_math: true,
        schedule: ScheduleSpec::new(ScheduleKind::Linear, 100),
        t: 30,
        elbo: ElboSettings {
            n_points: 20,
            ideal: true,
            ..ElboSettings::default()
        },
        ..settings()
    }
}

fn rect(node: &egui_kittest::Node<'_>) -> Option<Rect> {
    node.accesskit_node().bounding_box().map(|b| {
        Rect::from_min_max(
            Pos2::new(b.x0 as f32, b.y0 as f32),
            Pos2::new(b.x1 as f32, b.y1 as f32),
        )
    })
}

/// The rect of the one label `label`.
#[track_caller]
fn rect_of(harness: &Harness<'_, DiffscopeApp>, label: &str) -> Rect {
    rect(&harness.get_by_label(label)).unwrap()
}

/// The left edge of the math panel, or the window's right edge where the math panel is
/// folded into a toggle (a window narrower than the views need beside it).
fn math_left(harness: &Harness<'_, DiffscopeApp>) -> f32 {
    harness
        .query_by_label("The math")
        .and_then(|n| rect(&n))
        .map_or_else(|| harness.ctx.content_rect().right(), |r| r.left())
}

/// Every text label whose rect starts right of the left panel and left of the math panel
/// (the central panel's), as (text, rect).
fn central_labels(harness: &Harness<'_, DiffscopeApp>) -> Vec<(String, Rect)> {
    // The central panel's left edge: its first tab button (measured from a later tab, the
    // table's row names fell outside).
    let left = rect_of(harness, Tab::ALL[0].label()).left();
    let math = math_left(harness);
    harness
        .query_all_by(|n| n.role() == Role::Label)
        .filter_map(|n| Some((n.accesskit_node().label().or_else(|| n.value())?, rect(&n)?)))
        .filter(|(_, r)| r.left() >= left - 1.0 && r.left() < math)
        .collect()
}

/// The central panel's labels seen while the area below the plots (readout, table,
/// commands) is scrolled from its top to its end with the mouse wheel (egui gives no
/// node to what a scroll area has out of view), then back to its top.
fn scrolled_through(harness: &mut Harness<'_, DiffscopeApp>) -> Vec<(String, Rect)> {
    let over = harness
        .get_by_label_contains("nats per example")
        .accesskit_node()
        .bounding_box()
        .map(|b| Pos2::new(b.x0 as f32 + 20.0, b.y0 as f32 + 5.0))
        .unwrap();
    let wheel = |harness: &mut Harness<'_, DiffscopeApp>, dy: f32| {
        harness.hover_at(over);
        harness.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: Vec2::new(0.0, dy),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
            modifiers: egui::Modifiers::NONE,
        });
        harness.run_steps(3);
    };
    let mut seen = central_labels(harness);
    for _ in 0..12 {
        wheel(harness, -60.0);
        for label in central_labels(harness) {
            if !seen.iter().any(|(text, _)| *text == label.0) {
                seen.push(label);
            }
        }
    }
    wheel(harness, 2000.0);
    seen
}

#[test]
fn the_elbo_table_and_commands_fit_beside_the_math_panel() {
    let mut harness = harness(SIZES[0], math_on());
    wait(&mut harness, "the four estimates", all_done);
    for size in SIZES {
        harness.set_size(Vec2::from(size));
        // The table measures itself and folds on the next frame.
        harness.run_steps(4);
        let math = math_left(&harness);
        let labels = scrolled_through(&mut harness);
        // The table's first row (the rows below it may be scrolled out of view, and egui
        // gives no node to what a scroll area hides).
        assert!(
            labels
                .iter()
                .any(|(text, _)| text == "learned · denoising matching"),
            "{size:?}: no table row in the central panel: {labels:?}"
        );
        let hidden: Vec<_> = labels
            .iter()
            .filter(|(_, r)| r.right() > math + 0.5 || r.right() > size[0])
            .map(|(text, r)| format!("{text:?} ends at x = {:.0}", r.right()))
            .collect();
        assert!(
            hidden.is_empty(),
            "{size:?}: labels run under the math panel (at x = {math:.0}): {hidden:#?}"
        );
    }
}

/// The rects of the texts drawn rotated (the plots' y-axis names), from what the frame
/// painted.
fn rotated_texts(harness: &Harness<'_, DiffscopeApp>) -> Vec<(String, Rect)> {
    let mut found = Vec::new();
    let mut stack: Vec<&Shape> = harness.output().shapes.iter().map(|c| &c.shape).collect();
    while let Some(shape) = stack.pop() {
        match shape {
            Shape::Vec(shapes) => stack.extend(shapes.iter()),
            Shape::Text(text) if text.angle != 0.0 && !text.galley.text().is_empty() => {
                let rot = egui::emath::Rot2::from_angle(text.angle);
                let size = text.galley.size();
                let corners = [Vec2::ZERO, Vec2::new(size.x, 0.0), Vec2::new(0.0, size.y), size]
                    .map(|c| text.pos + rot * c);
                found.push((text.galley.text().to_owned(), Rect::from_points(&corners)));
            }
            _ => {}
        }
    }
    found
}

/// The texts drawn unrotated that read `1e…` (the log plots' ticks), as (text, right edge
/// of the text, top).
/// Every unrotated text drawn: (text, top).
fn all_texts(harness: &Harness<'_, DiffscopeApp>) -> Vec<(String, f32)> {
    let mut found = Vec::new();
    let mut stack: Vec<&Shape> = harness.output().shapes.iter().map(|c| &c.shape).collect();
    while let Some(shape) = stack.pop() {
        match shape {
            Shape::Vec(shapes) => stack.extend(shapes.iter()),
            Shape::Text(text) if text.angle == 0.0 => {
                found.push((text.galley.text().to_owned(), text.visual_bounding_rect().top()));
            }
            _ => {}
        }
    }
    found
}

fn decade_ticks(harness: &Harness<'_, DiffscopeApp>) -> Vec<(String, f32, f32)> {
    let mut found = Vec::new();
    let mut stack: Vec<&Shape> = harness.output().shapes.iter().map(|c| &c.shape).collect();
    while let Some(shape) = stack.pop() {
        match shape {
            Shape::Vec(shapes) => stack.extend(shapes.iter()),
            Shape::Text(text) if text.angle == 0.0 && text.galley.text().starts_with("1e") => {
                let r = text.visual_bounding_rect();
                found.push((text.galley.text().to_owned(), r.right(), r.top()));
            }
            _ => {}
        }
    }
    found
}

#[test]
fn the_y_axis_names_keep_clear_of_the_key_the_subtitles_and_the_readout() {
    let mut harness = harness(SIZES[0], math_on());
    wait(&mut harness, "the four estimates", all_done);
    for size in SIZES {
        harness.set_size(Vec2::from(size));
        harness.run_steps(4);
        let names = rotated_texts(&harness);
        assert_eq!(names.len(), 2, "{size:?}: one y-axis name per plot: {names:?}");
        let labels = central_labels(&harness);
        for (name, r) in &names {
            for (text, other) in &labels {
                assert!(
                    !r.intersects(*other),
                    "{size:?}: the y-axis name {name:?} at {r:?} runs over {text:?} at {other:?}"
                );
            }
        }
    }
}

#[test]
fn an_empty_log_plot_names_different_decades() {
    // T = 1000 and 5000 examples: seconds per estimate, so the first frames see none
    // (with math_on's 20 examples at T = 100 an estimate can arrive within three frames).
    let harness = harness(
        SIZES[1],
        Settings {
            schedule: ScheduleSpec::new(ScheduleKind::Linear, 1000),
            elbo: ElboSettings {
                n_points: 5000,
                ..math_on().elbo
            },
            ..math_on()
        },
    );
    // Before the first estimate arrives: the plots are empty.
    assert!(
        (0..4).all(|i| harness.state().model.elbo.latest(i).is_none()),
        "an estimate arrived in the first frames"
    );
    let ticks = decade_ticks(&harness);
    // The t axes name their ends, 0 and T = 1000, just under the plots (below the lowest
    // decade tick); at bounds of exactly [1, T] they named nothing.
    let bottoms: Vec<f32> = ticks.iter().filter(|t| t.0 == "1e-4").map(|t| t.2).collect();
    assert_eq!(bottoms.len(), 2, "each plot's lowest tick: {ticks:?}");
    // The end labels sit about 9 pt under the lowest tick; other "0" and "1000" texts
    // (the T field under the plots, 48 pt down here) must stay out of the window.
    let candidates: Vec<(String, f32)> = all_texts(&harness)
        .into_iter()
        .filter(|(text, _)| text == "0" || text == "1000")
        .collect();
    let mut ends = candidates
        .iter()
        .filter(|(_, top)| bottoms.iter().any(|b| *top > *b && *top < *b + 20.0))
        .map(|(text, _)| text.clone())
        .collect::<Vec<_>>();
    ends.sort();
    assert_eq!(
        ends,
        ["0", "0", "1000", "1000"],
        "t-axis end labels of the two plots; lowest ticks at {bottoms:?}, all such texts: {candidates:?}"
    );
    // One axis per plot: its ticks share a right edge.
    let mut axes: Vec<(f32, Vec<(String, f32)>)> = Vec::new();
    for (text, right, top) in ticks {
        match axes.iter_mut().find(|(x, _)| (x - right).abs() < 2.0) {
            Some((_, axis)) => axis.push((text, top)),
            None => axes.push((right, vec![(text, top)])),
        }
    }
    assert_eq!(axes.len(), 2, "two log plots' tick columns: {axes:?}");
    for (_, mut axis) in axes {
        assert!(axis.len() >= 3, "at least three ticks: {axis:?}");
        // Top to bottom, each tick names a lower decade than the one above it.
        axis.sort_by(|a, b| a.1.total_cmp(&b.1));
        let decades: Vec<i64> = axis
            .iter()
            .map(|(text, _)| text[2..].parse().unwrap_or_else(|_| panic!("tick {text:?}")))
            .collect();
        assert!(
            decades.windows(2).all(|w| w[1] < w[0]),
            "ticks top to bottom: {axis:?}"
        );
    }
}
