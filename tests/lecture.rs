//! Lecture mode at the sizes a projector gives — 1280×720 at 100 % and 1920×1080 at 150 %
//! (1280×720 points at 1.5 pixels per point): how much of the window the forward views
//! get, with the default panels and in presentation mode (measured from the app's own
//! layout: the views' accesskit rects); the panel toggles and F5/Esc driven by keys and
//! buttons; and every tab walked at both sizes with no widget outside the window or its
//! panel.

use diffscope::app::settings::{Settings, SourceChoice, Tab};
use diffscope::app::{DiffscopeApp, RunOptions};
use diffscope::diffusion::{ScheduleKind, ScheduleSpec};
use egui::accesskit::Role;
use egui::{Key, Modifiers, Pos2, Rect};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};

use crate::ui::step_until;

/// 1280×720 at 100 % and 1920×1080 at 150 %: (size in points, pixels per point).
pub(crate) const PROJECTORS: [([f32; 2], f32); 2] = [([1280.0, 720.0], 1.0), ([1280.0, 720.0], 1.5)];

pub(crate) fn harness(size: [f32; 2], ppp: f32, settings: Settings) -> Harness<'static, DiffscopeApp> {
    let options = RunOptions {
        fresh: true,
        ..RunOptions::default()
    };
    let mut harness = Harness::builder()
        .with_size(size)
        .with_pixels_per_point(ppp)
        .build_eframe(move |cc| diffscope::gui::new_app(&cc.egui_ctx, settings, options));
    harness.run_steps(3);
    harness
}

/// The default settings (the astronaut, both panels and the plots open).
pub(crate) fn defaults() -> Settings {
    Settings {
        // As deep as a CI runner's checkout: the path is shown in the controls and a long
        // one must not widen the panel (it took 25 points from the Reverse views on CI).
        export_dir: deep_export_dir(),
        ..Settings::default()
    }
}

/// A scratch export folder 90 characters deep, created.
fn deep_export_dir() -> std::path::PathBuf {
    let dir = crate::ui::scratch("lecture")
        .join("var/lib/ci-runner/builds/a1b2c3d4e5f6/diffscope-checkout/target/tmp/exports");
    std::fs::create_dir_all(&dir).unwrap();
    assert!(dir.display().to_string().len() >= 90, "{}", dir.display());
    dir
}

/// An accesskit box (physical pixels) in points.
pub(crate) fn to_rect(b: egui::accesskit::Rect, ppp: f32) -> Rect {
    Rect::from_min_max(
        Pos2::new(b.x0 as f32 / ppp, b.y0 as f32 / ppp),
        Pos2::new(b.x1 as f32 / ppp, b.y1 as f32 / ppp),
    )
}

/// The share of the window the two forward views cover, from their rects.
fn views_share(harness: &Harness<'_, DiffscopeApp>) -> f32 {
    share_of(harness, ["Markov chain view", "closed form view"])
}

/// The share of the window the images `names` cover, from their rects (each inside the
/// window, the two not overlapping).
fn share_of(harness: &Harness<'_, DiffscopeApp>, names: [&str; 2]) -> f32 {
    let window = harness.ctx.content_rect();
    let views: Vec<Rect> = names
        .iter()
        .map(|name| {
            let node = harness.get_by_role_and_label(Role::Image, name);
            let r = node.rect();
            assert!(
                window.contains_rect(r),
                "{name} at {r:?} leaves the window {window:?}"
            );
            r
        })
        .collect();
    assert!(!views[0].intersects(views[1]), "the views overlap: {views:?}");
    views.iter().map(Rect::area).sum::<f32>() / window.area()
}

/// Waits for both forward pictures of the astronaut.
fn wait_for_views(harness: &mut Harness<'_, DiffscopeApp>) {
    step_until(harness, "both forward pictures", |app| {
        app.model.textures.0.is_some() && app.model.textures.1.is_some()
    });
}

#[test]
fn the_forward_views_cover_30_percent_of_a_projector_and_60_presenting() {
    for (size, ppp) in PROJECTORS {
        let mut harness = harness(size, ppp, defaults());
        wait_for_views(&mut harness);
        // Before issue 13 the two views were 136-point squares under the controls, the
        // math panel and the plots: 2·136² / (1280·720) = 0.040 of the window.
        let share = views_share(&harness);
        assert!(
            share >= 0.30,
            "{size:?} at {ppp}×: the views cover {share:.3} of the window"
        );
        harness.key_press(Key::F5);
        harness.run_steps(4);
        assert!(harness.state().settings.lecture.presenting, "F5 presents");
        let presenting = views_share(&harness);
        assert!(
            presenting >= 0.60,
            "{size:?} at {ppp}× presenting: the views cover {presenting:.3} of the window"
        );
        harness.key_press(Key::Escape);
        harness.run_steps(4);
        assert!(!harness.state().settings.lecture.presenting, "Esc leaves");
        let back = views_share(&harness);
        assert!(
            (back - share).abs() < 1e-3,
            "back at the desk: {back:.3} vs {share:.3}"
        );
    }
}

#[test]
fn each_panel_collapses_and_comes_back_by_key_and_the_views_grow() {
    let mut harness = harness([1280.0, 720.0], 1.0, defaults());
    wait_for_views(&mut harness);
    let start = views_share(&harness);
    let settings = |h: &Harness<'_, DiffscopeApp>| h.state().settings.clone();
    // The plots free height: the views grow.
    harness.key_press_modifiers(Modifiers::COMMAND, Key::J);
    harness.run_steps(12);
    assert!(!settings(&harness).show_plots);
    let without_plots = views_share(&harness);
    assert!(
        without_plots > start + 0.05,
        "without the plots: {without_plots:.3}, with: {start:.3}"
    );
    // At 1280 points the math panel is folded: Ctrl+M shows it over the views, and
    // again hides it; the remembered choice for wider windows stays.
    assert!(settings(&harness).lecture.math_folded, "folded at 1280 points");
    assert!(harness.query_by_label("The math").is_none());
    harness.key_press_modifiers(Modifiers::COMMAND, Key::M);
    harness.run_steps(4);
    assert!(
        harness.query_by_label("The math").is_some(),
        "Ctrl+M shows the folded math"
    );
    harness.key_press_modifiers(Modifiers::COMMAND, Key::M);
    harness.run_steps(4);
    assert!(
        harness.query_by_label("The math").is_none(),
        "Ctrl+M hides it again"
    );
    assert!(settings(&harness).show_math);
    // Without the controls there is room for the math panel beside the views.
    harness.key_press_modifiers(Modifiers::COMMAND, Key::B);
    harness.run_steps(12);
    assert!(!settings(&harness).show_controls);
    assert!(
        !settings(&harness).lecture.math_folded,
        "unfolded without the controls"
    );
    let math = harness.get_by_label("The math").rect();
    let closed = harness
        .get_by_role_and_label(Role::Image, "closed form view")
        .rect();
    assert!(
        closed.right() <= math.left(),
        "{closed:?} runs under the math at {math:?}"
    );
    // Its key now hides the panel itself.
    harness.key_press_modifiers(Modifiers::COMMAND, Key::M);
    harness.run_steps(12);
    assert!(!settings(&harness).show_math);
    assert!(harness.query_by_label("The math").is_none());
    let bare = views_share(&harness);
    assert!(
        bare > without_plots,
        "no panels: {bare:.3}, no plots: {without_plots:.3}"
    );
    // The buttons in the tab row restore them.
    // (The math first: with the controls back the math folds, and its button then opens
    // it over the views.)
    for button in ["math", "plots", "controls"] {
        harness.get_by_role_and_label(Role::Button, button).click();
        harness.run_steps(12);
    }
    let s = settings(&harness);
    assert!(s.show_controls && s.show_plots && s.show_math, "{s:?}");
    let restored = views_share(&harness);
    assert!(
        (restored - start).abs() < 1e-3,
        "restored {restored:.3}, at first {start:.3}"
    );
}

#[test]
fn presentation_mode_keeps_every_key_and_leaves_with_esc() {
    let mut harness = harness(
        [1280.0, 720.0],
        1.0,
        Settings {
            source: SourceChoice::Dataset("two-moons".into()),
            n_points: 300,
            schedule: ScheduleSpec::new(ScheduleKind::Linear, 100),
            t: 50,
            ..defaults()
        },
    );
    harness.get_by_role_and_label(Role::Button, "Present").click();
    harness.run_steps(3);
    assert!(harness.state().settings.lecture.presenting);
    // Only the lesson: no tab row, no controls, no top bar's data menu.
    assert!(harness.query_by_label("Reverse").is_none());
    assert!(harness.query_by_label("Data").is_none());
    for (key, modifiers, t) in [
        (Key::ArrowRight, Modifiers::NONE, 51),
        (Key::ArrowLeft, Modifiers::SHIFT, 41),
        (Key::End, Modifiers::NONE, 100),
        (Key::Home, Modifiers::NONE, 0),
    ] {
        harness.key_press_modifiers(modifiers, key);
        harness.run_steps(2);
        assert_eq!(harness.state().settings.t, t, "{modifiers:?} {key:?}");
    }
    harness.key_press(Key::Space);
    harness.run_steps(2);
    assert!(harness.state().model.playing, "Space plays");
    harness.key_press(Key::Space);
    harness.run_steps(2);
    assert!(!harness.state().model.playing, "Space pauses");
    // The slider is there, as large as the screen allows.
    let slider = harness.get_by_role_and_label(Role::Slider, "t").rect();
    assert!(slider.width() > 640.0, "the t slider is {slider:?}");
    // Every tab presents.
    for tab in [Tab::Reverse, Tab::Elbo, Tab::Compare, Tab::Forward] {
        harness.state_mut().settings.tab = tab;
        harness.run_steps(3);
        assert!(harness.state().settings.lecture.presenting, "{tab:?}");
        harness.get_by_role_and_label(Role::Slider, "t");
    }
    harness.key_press(Key::Escape);
    harness.run_steps(3);
    assert!(!harness.state().settings.lecture.presenting);
    harness.get_by_label("Reverse");
    // F5 toggles as well.
    harness.key_press(Key::F5);
    harness.run_steps(2);
    assert!(harness.state().settings.lecture.presenting);
    harness.key_press(Key::F5);
    harness.run_steps(2);
    assert!(!harness.state().settings.lecture.presenting);
}

/// Steps until a node labelled `label` shows, at most 20 s.
fn step_until_label(harness: &mut Harness<'_, DiffscopeApp>, label: &str) {
    let start = std::time::Instant::now();
    while harness.query_by_label(label).is_none() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "timed out waiting for {label:?}"
        );
        harness.step();
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn presenting_the_elbo_and_compare_tabs_shows_their_plots_and_not_their_controls() {
    let mut harness = harness(
        [1280.0, 720.0],
        1.0,
        Settings {
            source: SourceChoice::Dataset("two-moons".into()),
            n_points: 300,
            schedule: ScheduleSpec::new(ScheduleKind::Linear, 100),
            tab: Tab::Elbo,
            ..defaults()
        },
    );
    let window = harness.ctx.content_rect();
    // At the desk: the ELBO tab's controls row and status line (the labels this test
    // looks for are there, so their absence below means something).
    step_until_label(&mut harness, "all estimates are up to date");
    let elbo_controls = [
        (Role::Label, "against"),
        (Role::Button, "each term"),
        (Role::Button, "cumulative"),
        (Role::SpinButton, "Monte-Carlo seed"),
        (Role::CheckBox, "ideal denoiser"),
        (Role::Label, "all estimates are up to date"),
    ];
    for (role, label) in elbo_controls {
        harness.get_by_role_and_label(role, label);
    }
    harness.key_press(Key::F5);
    harness.run_steps(3);
    assert!(harness.state().settings.lecture.presenting);
    for (role, label) in elbo_controls {
        assert!(
            harness.query_by_role_and_label(role, label).is_none(),
            "presenting the ELBO tab shows {role:?} {label:?}"
        );
    }
    for role in [Role::ProgressIndicator, Role::SpinButton] {
        let found: Vec<_> = harness
            .query_all_by_role(role)
            .filter_map(|n| n.accesskit_node().label())
            .filter(|l| l != "t")
            .collect();
        assert!(found.is_empty(), "presenting the ELBO tab: {role:?} {found:?}");
    }
    // The two plots under their titles, side by side, each over half the height.
    let plots: Vec<Rect> = harness
        .query_all_by_role(Role::Unknown)
        .map(|n| n.rect())
        .filter(|r| r.area() > 0.1 * window.area())
        .collect();
    assert_eq!(plots.len(), 2, "the ELBO plots: {plots:?}");
    for plot in &plots {
        assert!(
            plot.height() >= 0.5 * window.height() && plot.width() >= 0.4 * window.width(),
            "an ELBO plot of {plot:?} in {window:?}"
        );
    }
    for title in ["Denoising matching", "Consistency (the lecture's slide)"] {
        harness.get_by_label(title);
    }
    // The Compare tab: at the desk its export button and columns field, presenting only
    // the grid.
    harness.key_press(Key::Escape);
    harness.state_mut().settings.tab = Tab::Compare;
    harness.run_steps(3);
    let compare_controls = [(Role::Button, "export PNG"), (Role::SpinButton, "columns")];
    for (role, label) in compare_controls {
        harness.get_by_role_and_label(role, label);
    }
    harness.key_press(Key::F5);
    harness.run_steps(3);
    for (role, label) in compare_controls {
        assert!(
            harness.query_by_role_and_label(role, label).is_none(),
            "presenting the Compare tab shows {role:?} {label:?}"
        );
    }
    assert!(harness.query_by_label_contains("rows: the schedule").is_none());
    // Six columns from t = 0 to T, a row per schedule, cells over 150 points.
    let columns: Vec<f32> = [0, 20, 40, 60, 80, 100]
        .iter()
        .map(|t| harness.get_by_label(&format!("t = {t}")).rect().left())
        .collect();
    let rows: Vec<f32> = ["linear", "cosine"]
        .iter()
        .map(|kind| harness.get_by_label(kind).rect().top())
        .collect();
    assert!(columns[1] - columns[0] > 150.0, "columns at {columns:?}");
    assert!(rows[1] - rows[0] > 150.0, "rows at {rows:?}");
}

/// Every node's rect lies in the window, or else in a scroll area: across, left of a
/// vertical scroll bar (a bar stands at its area's right edge), and down, below the bar's
/// top or above its bottom (scrolled out of view). egui gives no node to a panel or a
/// scroll area, so the scroll bars mark where the areas are. Returns the offenders.
pub(crate) fn clipped(harness: &Harness<'_, DiffscopeApp>) -> Vec<String> {
    let window = harness.ctx.content_rect().expand(1.0);
    let ppp = harness.ctx.pixels_per_point();
    let to_rect = |b| to_rect(b, ppp);
    let bars: Vec<Rect> = harness
        .query_all_by(|n| n.role() == Role::ScrollBar)
        .filter_map(|n| n.accesskit_node().bounding_box().map(to_rect))
        .collect();
    let mut found = Vec::new();
    for node in harness.query_all_by(|_| true) {
        let n = node.accesskit_node();
        let role = n.role();
        // Containers, and egui's own resize handles (as long as their panel's edge).
        if matches!(
            role,
            Role::Window
                | Role::Pane
                | Role::GenericContainer
                | Role::Tooltip
                | Role::ScrollBar
                | Role::Splitter
        ) {
            continue;
        }
        let Some(r) = n.bounding_box().map(to_rect) else {
            continue;
        };
        if r.width() <= 0.0 || r.height() <= 0.0 || window.contains_rect(r) {
            continue;
        }
        // The nearest bar at the right of the node whose area it can scroll into view.
        let scrolled = bars
            .iter()
            .filter(|bar| {
                r.right() <= bar.right() + 1.0
                    && r.left() >= window.left()
                    && (r.top() >= bar.top() - 1.0 || r.bottom() <= bar.bottom() + 1.0)
            })
            .min_by(|a, b| a.right().total_cmp(&b.right()));
        if scrolled.is_none() {
            found.push(format!(
                "{role:?} {:?} at {r:?} leaves the window {window:?} (scroll bars: {bars:?})",
                n.label().or_else(|| n.value()).unwrap_or_default()
            ));
        }
    }
    found
}

#[test]
fn no_widget_leaves_the_window_or_its_panel_on_any_tab() {
    // And the desk's default 1440×900, where the math panel is open beside the tabs.
    for (size, ppp) in PROJECTORS.into_iter().chain([([1440.0, 900.0], 1.0)]) {
        let mut harness = harness(size, ppp, defaults());
        wait_for_views(&mut harness);
        for presenting in [false, true] {
            for tab in Tab::ALL {
                let app = harness.state_mut();
                app.settings.tab = tab;
                app.settings.lecture.presenting = presenting;
                harness.run_steps(6);
                let offenders = clipped(&harness);
                assert!(
                    offenders.is_empty(),
                    "{size:?} at {ppp}×, {tab:?}, presenting {presenting}: {offenders:#?}"
                );
            }
        }
    }
}

#[test]
fn the_panels_are_remembered_and_presentation_mode_is_not() {
    use diffscope::app::settings::{Lecture, STORAGE_KEY};
    let settings = Settings {
        show_controls: false,
        show_plots: false,
        show_math: false,
        lecture: Lecture {
            presenting: true,
            math_folded: true,
            math_open: true,
            audience: true,
        },
        ..Settings::default()
    };
    let mut storage = crate::ui::Memory::default();
    eframe::set_value(&mut storage, STORAGE_KEY, &settings);
    let back: Settings = eframe::get_value(&storage, STORAGE_KEY).unwrap();
    assert!(
        !back.show_controls && !back.show_plots && !back.show_math,
        "{back:?}"
    );
    assert_eq!(back.lecture, Lecture::default(), "a run starts at the desk");
    // A settings file from before the panels could collapse opens them all.
    eframe::Storage::set_string(&mut storage, STORAGE_KEY, "(t: 7)".into());
    let old: Settings = eframe::get_value(&storage, STORAGE_KEY).unwrap();
    assert_eq!(old.t, 7);
    assert!(old.show_controls && old.show_plots && old.show_math);
}

#[test]
fn training_shows_its_curves_and_samples_large_in_the_reverse_tab() {
    use diffscope::app::Command;
    use diffscope::app::settings::ReverseSettings;
    let mut harness = harness(
        [1280.0, 720.0],
        1.0,
        Settings {
            source: SourceChoice::Dataset("two-moons".into()),
            n_points: 200,
            schedule: ScheduleSpec::new(ScheduleKind::Linear, 50),
            tab: Tab::Reverse,
            reverse: ReverseSettings {
                iterations: 20,
                batch: 64,
                ..ReverseSettings::default()
            },
            ..defaults()
        },
    );
    step_until(&mut harness, "the start-up model", |app| {
        app.model.learning.pending.is_none()
    });
    harness.state_mut().push(Command::Train);
    step_until(&mut harness, "the end of training and its samples", |app| {
        app.model.status.error.is_some()
            || app
                .model
                .learning
                .training
                .as_ref()
                .is_some_and(|t| !t.running() && t.samples.is_some())
    });
    let app = harness.state();
    assert!(app.model.status.error.is_none(), "{:?}", app.model.status);
    let training = app.model.learning.training.as_ref().unwrap();
    let (at, samples) = training.samples.as_ref().unwrap();
    assert_eq!(*at, 20, "the samples of the last evaluation");
    assert!(
        !samples.is_empty() && samples.len() <= diffscope::model::train::SHOWN_SAMPLES,
        "{} samples",
        samples.len()
    );
    assert!(samples.iter().flatten().all(|v| v.is_finite()));
    // In the centre: the samples in a view a class can see, beside the curves; the left
    // panel points there instead of drawing them small.
    let view = harness
        .get_by_role_and_label(Role::Image, "training samples view")
        .rect();
    assert!(view.width() >= 250.0, "the samples view is {view:?}");
    harness.get_by_label("samples at iteration 20");
    harness.get_by_label_contains("Training on ");
    harness.get_by_label("the curves and samples: in the centre");
    // Presentation mode shows the same.
    harness.key_press(Key::F5);
    harness.run_steps(3);
    let presented = harness
        .get_by_role_and_label(Role::Image, "training samples view")
        .rect();
    assert!(presented.width() > view.width(), "{presented:?} vs {view:?}");
}

#[test]
fn the_reverse_views_cover_28_percent_of_a_projector_with_a_finished_chain() {
    use diffscope::app::Command;
    use diffscope::app::settings::{DenoiserKind, ReverseSettings};
    for (size, ppp) in PROJECTORS {
        // Two moons, a finished chain (every status line and the result line are up): the
        // most the tab puts above its views.
        let mut harness = harness(
            size,
            ppp,
            Settings {
                source: SourceChoice::Dataset("two-moons".into()),
                schedule: ScheduleSpec::new(ScheduleKind::Linear, 100),
                tab: Tab::Reverse,
                reverse: ReverseSettings {
                    denoiser: DenoiserKind::Ideal,
                    n_points: 200,
                    max_speed: true,
                    ..ReverseSettings::default()
                },
                ..defaults()
            },
        );
        step_until(&mut harness, "two moons", |app| app.model.points.is_some());
        harness.state_mut().push(Command::Sample);
        step_until(&mut harness, "the chain to reach t = 0", |app| {
            app.model.status.error.is_some()
                || app
                    .model
                    .learning
                    .chain
                    .as_ref()
                    .is_some_and(|c| c.done && c.near_fraction.is_some())
        });
        harness.run_steps(4);
        assert!(
            harness.state().model.status.error.is_none(),
            "{:?}",
            harness.state().model.status
        );
        // Before: 296-point views under seven lines (two of controls, the chain's
        // description, its progress, the arrows' note, the result line and the views'
        // headings) covered 0.185 of the window at 1× and at 1.5×; now three lines: 390 and
        // 388 points, 0.323 and 0.320 (as tall as the room under them). With a deep export
        // path the controls panel used to widen, the options wrap to a second row and the
        // views were 365 points, 0.283 (CI's failure before the export row was fixed).
        let share = share_of(&harness, ["x_t view", "x̂_0 view"]);
        let side = harness
            .get_by_role_and_label(Role::Image, "x_t view")
            .rect()
            .width();
        eprintln!("{size:?} at {ppp}×: reverse views {side:.0} pt, {share:.3} of the window");
        assert!(
            share >= 0.28,
            "{size:?} at {ppp}×: the reverse views ({side:.0} pt) cover {share:.3} of the window"
        );
        let offenders = clipped(&harness);
        assert!(offenders.is_empty(), "{size:?} at {ppp}×: {offenders:#?}");
    }
}

/// The textured meshes (images: typeset formulas and their number glyphs) painted inside
/// `within`, in the order they were painted: their texture and rectangle (points).
fn images_in(output: &egui::FullOutput, within: Rect) -> Vec<(egui::TextureId, Rect)> {
    fn walk(shape: &egui::Shape, out: &mut Vec<(egui::TextureId, Rect)>) {
        match shape {
            egui::Shape::Mesh(mesh) if mesh.texture_id != egui::TextureId::default() => {
                let rect = mesh
                    .vertices
                    .iter()
                    .fold(Rect::NOTHING, |r, v| r.union(Rect::from_pos(v.pos)));
                out.push((mesh.texture_id, rect));
            }
            egui::Shape::Vec(shapes) => shapes.iter().for_each(|s| walk(s, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    for clipped in &output.shapes {
        walk(&clipped.shape, &mut all);
    }
    all.retain(|(_, r)| within.expand(3.0).contains_rect(*r));
    all
}

#[test]
fn the_forward_tabs_equations_are_typeset_at_the_desk_and_their_numbers_follow_t() {
    use diffscope::format::format_sig;
    use diffscope::ui::forward_tab::slot_value;
    for (size, ppp) in PROJECTORS {
        let mut harness = harness(size, ppp, defaults());
        let schedule = harness.state().model.schedule.clone();
        // Which glyph texture draws which character, learnt as t moves: one texture must
        // never stand for two characters, and every number drawn must be the one of its t.
        let mut glyph_char = std::collections::HashMap::<egui::TextureId, char>::new();
        let mut bases: Vec<egui::TextureId> = Vec::new();
        for t in [1, 37, 250, 500, 777, 999, 1000] {
            harness.state_mut().settings.t = t;
            harness.run_steps(2);
            let closed = schedule.q_sample_coefs(t);
            let step = schedule.q_step_coefs(t);
            let formulas = [
                (
                    format!(
                        "x_t = {}·x_0 + {}·ε",
                        format_sig(closed.signal, 4),
                        format_sig(closed.noise, 4)
                    ),
                    [closed.signal, closed.noise],
                ),
                (
                    format!(
                        "x_t = {}·x_{{t−1}} + {}·ε_t",
                        format_sig(step.signal, 4),
                        format_sig(step.noise, 4)
                    ),
                    [step.signal, step.noise],
                ),
            ];
            for (k, (label, values)) in formulas.iter().enumerate() {
                let node = harness.get_by_role_and_label(Role::Image, label);
                let rect = node.rect();
                assert!(
                    harness.ctx.content_rect().contains_rect(rect),
                    "{label} at {rect:?}"
                );
                // Typeset: the formula's picture, as tall as a desk's 20-point formula with
                // its square roots, and the numbers' glyphs over it.
                let images = images_in(harness.output(), rect);
                let (base, base_rect) = images[0];
                assert!(
                    base_rect.height() >= 18.0 && base_rect.width() >= 200.0,
                    "{label}: {base_rect:?}"
                );
                let expected: String = values.iter().map(|&v| slot_value(v)).collect();
                let glyphs = &images[1..];
                assert_eq!(
                    glyphs.len(),
                    expected.chars().count(),
                    "{label} at t = {t}: {images:?}"
                );
                for ((id, r), ch) in glyphs.iter().zip(expected.chars()) {
                    assert!(base_rect.expand(2.5).contains_rect(*r), "{label}: glyph {r:?}");
                    let seen = *glyph_char.entry(*id).or_insert(ch);
                    assert_eq!(
                        seen, ch,
                        "{label} at t = {t}: glyph texture {id:?} drew {seen:?} before"
                    );
                }
                if bases.len() < 2 {
                    bases.push(base);
                } else {
                    // The same picture at every t: the numbers change, the formula is not
                    // typeset again.
                    assert_eq!(base, bases[k], "{label}: the formula was typeset again");
                }
            }
        }
        // Every digit and the period were drawn, each by its own texture.
        let mut chars: Vec<char> = glyph_char.values().copied().collect();
        chars.sort_unstable();
        chars.dedup();
        assert_eq!(chars.len(), glyph_char.len(), "one texture per character");
        assert!(chars.len() >= 10, "{chars:?}");
    }
}
