//! The Markov chain tab in the real app (kittest), driven as a user does: the tab opened,
//! a preset picked in its combo, a cell of `P` typed digit by digit, `n` scrubbed with the
//! keys and the slider, bad input refused with the chain kept, presentation mode, the
//! layout at a projector's sizes; and a Monte-Carlo check of the 10⁴ chains behind the
//! empirical histogram.
//!
//! Golden values from NumPy:
//!
//! ```python
//! import numpy as np
//! K = 4
//! P = np.array([[1 / (1 + abs(i - j)) for j in range(K)] for i in range(K)])
//! P /= P.sum(1, keepdims=True)            # the well-mixing preset
//! p0 = np.eye(K)[0]
//! p0 @ np.linalg.matrix_power(P, 3)      # [0.26563004081632663, 0.27070236734693887,
//!                                         #  0.25003232653061236, 0.21363526530612253]
//! p0 @ np.linalg.matrix_power(P, 17)     # [0.23584910851316038, 0.2641509667329432,
//!                                         #  0.26415092004072377, 0.23584900471317408]
//! Q = P.copy(); Q[0, 1] = 0.5; rest = [0, 2, 3]
//! Q[0, rest] = P[0, rest] * 0.5 / (1 - P[0, 1])   # P[0,1] = 0.5, the row rescaled
//! Q[0]                                    # [0.31578947368421056, 0.5,
//!                                         #  0.10526315789473684, 0.07894736842105264]
//! p0 @ np.linalg.matrix_power(Q, 5)      # [0.19690094155287136, 0.33281621035942177,
//!                                         #  0.25093968039460834, 0.2193431676930987]
//! sorted(abs(np.linalg.eigvals(P)))[-2]  # 0.39213070872384653 (|λ₂|)
//! w, v = np.linalg.eig(P.T); pi = np.real(v[:, np.argmin(abs(w - 1))]); pi /= pi.sum()
//! np.abs(p0 @ np.linalg.matrix_power(P, 17) - pi).sum()   # 1.5049220603025049e-07
//! ```

use diffscope::app::markov::{MANY_CHAINS, MAX_N, MarkovView};
use diffscope::app::settings::{MarkovMode, MarkovSettings, Settings, Tab, point_mass, rows_of};
use diffscope::app::{Command, DiffscopeApp};
use diffscope::diffusion::finite::{Preset, Transition};
use egui::accesskit::Role;
use egui::{Key, Modifiers, Rect};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};

use crate::lecture::{PROJECTORS, clipped, defaults, harness, to_rect};
use crate::ui::{harness_with, labels_starting, scratch};

/// `p_0 P³` of the well-mixing chain on 4 states from state 0 (NumPy, above).
const WELL_MIXING_P3: [f64; 4] = [
    0.265_630_040_816_326_63,
    0.270_702_367_346_938_87,
    0.250_032_326_530_612_36,
    0.213_635_265_306_122_53,
];

/// `p_0 P¹⁷` of the same chain (NumPy, above).
const WELL_MIXING_P17: [f64; 4] = [
    0.235_849_108_513_160_38,
    0.264_150_966_732_943_2,
    0.264_150_920_040_723_77,
    0.235_849_004_713_174_08,
];

/// The app on the Markov chain tab at the desk's 1440×900.
fn markov_app(name: &str) -> Harness<'static, DiffscopeApp> {
    harness_with(Settings {
        tab: Tab::Markov,
        export_dir: scratch(name),
        ..Settings::default()
    })
}

/// Types `text` one character a frame, then Enter.
fn type_and_enter(harness: &mut Harness<'_, DiffscopeApp>, text: &str) {
    for c in text.chars() {
        harness.input_mut().events.push(egui::Event::Text(c.to_string()));
        harness.run_steps(1);
    }
    harness.key_press(Key::Enter);
    harness.run_steps(3);
}

/// Replaces the text of the open "P (CSV)" field with `lines`, typed a character a frame
/// (Enter between lines), then presses Apply.
fn apply_csv(harness: &mut Harness<'_, DiffscopeApp>, lines: &[&str]) {
    harness
        .get_by_role_and_label(Role::MultilineTextInput, "P (CSV)")
        .click();
    harness.run_steps(1);
    harness.key_press_modifiers(Modifiers::COMMAND, Key::A);
    harness.run_steps(1);
    for (n, line) in lines.iter().enumerate() {
        if n > 0 {
            harness.key_press(Key::Enter);
            harness.run_steps(1);
        }
        for c in line.chars() {
            harness.input_mut().events.push(egui::Event::Text(c.to_string()));
            harness.run_steps(1);
        }
    }
    harness.get_by_label("Apply").click();
    harness.run_steps(3);
}

/// The numbers of the labels `{name}(0) = …`, `{name}(1) = …`, … on screen, in order.
fn shown(harness: &Harness<'_, DiffscopeApp>, name: &str, k: usize) -> Vec<f64> {
    (0..k)
        .map(|i| {
            let prefix = format!("{name}({i}) = ");
            let found = labels_starting(harness, &prefix);
            assert_eq!(found.len(), 1, "{prefix}: {found:?}");
            found[0][prefix.len()..].parse().unwrap()
        })
        .collect()
}

/// The same chain up to rounding (the settings hold rows that are normalised again).
#[track_caller]
fn assert_near(a: &Transition, b: &Transition) {
    assert_eq!(a.states(), b.states());
    for i in 0..a.states() {
        for j in 0..a.states() {
            assert!(
                (a.get(i, j) - b.get(i, j)).abs() < 1e-15,
                "P[{i},{j}]: {a:?} vs {b:?}"
            );
        }
    }
}

/// The number of the one label `P[i,j] = …` on screen.
fn shown_cell(harness: &Harness<'_, DiffscopeApp>, i: usize, j: usize) -> f64 {
    let prefix = format!("P[{i},{j}] = ");
    let found = labels_starting(harness, &prefix);
    assert_eq!(found.len(), 1, "{prefix}: {found:?}");
    found[0][prefix.len()..].parse().unwrap()
}

#[test]
fn the_tab_comes_before_diffusion_and_a_preset_picked_in_its_combo_is_the_chain_on_screen() {
    let mut harness = harness_with(Settings {
        export_dir: scratch("markov-open"),
        ..Settings::default()
    });
    // After the VAE → VDM tab, before the Forward tab: the lecture's order.
    assert_eq!(Tab::ALL[..3], [Tab::Vae, Tab::Markov, Tab::Forward]);
    assert_eq!(Tab::from_name("markov"), Some(Tab::Markov));
    // The tab's button (the Forward tab also names its left view "Markov chain").
    harness
        .get_all_by_label("Markov chain")
        .find(|n| n.accesskit_node().role() != Role::Label)
        .expect("the tab's button")
        .click();
    harness.run_steps(3);
    assert_eq!(harness.state().settings.tab, Tab::Markov);
    // The default: the well-mixing chain on 4 states, its numbers on the heatmap.
    assert!((shown_cell(&harness, 0, 1) - 0.24).abs() < 5e-5);
    harness.get_by_role_and_label(Role::ComboBox, "Preset").click();
    harness.run_steps(2);
    harness.get_by_label("slow-mixing").click();
    harness.run_steps(3);
    let app = harness.state();
    assert_near(
        &app.model.markov.chain,
        &Transition::preset(Preset::SlowMixing, 4),
    );
    assert_eq!(app.settings.markov.preset.as_deref(), Some("slow-mixing"));
    // Rows 0.9 on the diagonal, 0.1 or 0.05 to the neighbours.
    for (i, j, want) in [
        (0, 0, 0.9),
        (0, 1, 0.1),
        (1, 0, 0.05),
        (1, 2, 0.05),
        (2, 0, 0.0),
        (3, 2, 0.1),
    ] {
        assert!((shown_cell(&harness, i, j) - want).abs() < 5e-5, "P[{i},{j}]");
    }
    // Its structure in words, and |λ₂| in the math panel.
    harness.get_by_label_contains("irreducible and aperiodic");
    let lambda2 = app.model.markov.lambda2.unwrap();
    // numpy: the slow-mixing P's eigenvalues, second-largest modulus.
    let p = [
        [0.9, 0.1, 0.0, 0.0],
        [0.05, 0.9, 0.05, 0.0],
        [0.0, 0.05, 0.9, 0.05],
        [0.0, 0.0, 0.1, 0.9],
    ];
    let chain = Transition::new(&p.map(|r| r.to_vec())).unwrap();
    assert!((lambda2 - chain.second_eigenvalue_modulus().unwrap()).abs() < 1e-12);
}

#[test]
fn typing_a_cell_digit_by_digit_rescales_its_row_on_screen_and_in_the_model() {
    let mut harness = markov_app("markov-cell");
    harness.get_by_label("P[0,1] = 0.2400").click();
    harness.run_steps(2);
    type_and_enter(&mut harness, "0.5");
    let want = [
        0.315_789_473_684_210_56,
        0.5,
        0.105_263_157_894_736_84,
        0.078_947_368_421_052_64,
    ];
    let app = harness.state();
    assert_eq!(app.model.markov.message, None);
    assert_eq!(app.settings.markov.preset, None, "an edited chain has no preset");
    for (j, w) in want.iter().enumerate() {
        assert!((app.model.markov.chain.get(0, j) - w).abs() < 1e-12, "P[0,{j}]");
        assert!(
            (app.settings.markov.rows[0][j] - w).abs() < 1e-12,
            "settings P[0,{j}]"
        );
        assert!(
            (shown_cell(&harness, 0, j) - w).abs() < 5e-5,
            "P[0,{j}] on screen"
        );
    }
    // The other rows are untouched.
    let well = Transition::preset(Preset::WellMixing, 4);
    for i in 1..4 {
        for (a, b) in app.model.markov.chain.row(i).iter().zip(well.row(i)) {
            assert!((a - b).abs() < 1e-15, "row {i}");
        }
    }
    // And p_5 of the edited chain, on screen.
    harness
        .get_by_role_and_label(Role::Slider, "n")
        .set_value_accesskit(5.0);
    harness.run_steps(3);
    assert_eq!(harness.state().settings.markov.n, 5);
    let p5 = [
        0.196_900_941_552_871_36,
        0.332_816_210_359_421_77,
        0.250_939_680_394_608_34,
        0.219_343_167_693_098_7,
    ];
    for (got, want) in shown(&harness, "p_n", 4).iter().zip(p5) {
        assert!((got - want).abs() < 5e-5, "{got} vs {want}");
    }
    for (got, want) in harness.state().model.markov.p_n(5).iter().zip(p5) {
        assert!((got - want).abs() < 1e-12);
    }
}

#[test]
fn n_scrubs_with_the_keys_and_the_slider_and_p_n_on_screen_is_p0_p_to_the_n() {
    let mut harness = markov_app("markov-scrub");
    assert_eq!(harness.state().settings.markov.n, 0);
    harness.key_press(Key::End);
    harness.run_steps(2);
    assert_eq!(harness.state().settings.markov.n, MAX_N);
    harness.key_press(Key::Home);
    harness.run_steps(2);
    assert_eq!(harness.state().settings.markov.n, 0);
    for _ in 0..3 {
        harness.key_press(Key::ArrowRight);
        harness.run_steps(1);
    }
    harness.run_steps(2);
    let app = harness.state();
    assert_eq!(app.settings.markov.n, 3);
    // `t` did not move: the keys are the tab's.
    assert_eq!(app.settings.t, Settings::default().t);
    for (got, want) in shown(&harness, "p_n", 4).iter().zip(WELL_MIXING_P3) {
        assert!((got - want).abs() < 5e-5, "p_3: {got} vs {want}");
    }
    for (got, want) in app.model.markov.p_n(3).iter().zip(WELL_MIXING_P3) {
        assert!((got - want).abs() < 1e-12);
    }
    // Shift+→ ten steps, ← one: 12; the slider to 17.
    harness.key_press_modifiers(Modifiers::SHIFT, Key::ArrowRight);
    harness.key_press(Key::ArrowLeft);
    harness.run_steps(2);
    assert_eq!(harness.state().settings.markov.n, 12);
    harness
        .get_by_role_and_label(Role::Slider, "n")
        .set_value_accesskit(17.0);
    harness.run_steps(3);
    assert_eq!(harness.state().settings.markov.n, 17);
    for (got, want) in shown(&harness, "p_n", 4).iter().zip(WELL_MIXING_P17) {
        assert!((got - want).abs() < 5e-5, "p_17: {got} vs {want}");
    }
    // ‖p_17 − π‖₁ on screen. numpy: π from the eigenvector of Pᵀ for 1, normalised;
    // np.abs(p17 - pi).sum() = 1.5049220603025049e-07
    let prefix = "n = 17: ‖p_n − π‖₁ = ";
    let found = labels_starting(&harness, prefix);
    assert_eq!(found.len(), 1, "{found:?}");
    let distance: f64 = found[0][prefix.len()..].parse().unwrap();
    assert!(
        (distance / 1.504_922_060_302_504_9e-7 - 1.0).abs() < 1e-3,
        "{distance}"
    );
    // |λ₂| (NumPy above), in the model and said beside the plot.
    let lambda2 = harness.state().model.markov.lambda2.unwrap();
    assert!((lambda2 - 0.392_130_708_723_846_53).abs() < 1e-12, "{lambda2}");
    harness.get_by_label_contains("|λ₂| = 0.3921");
    // Space plays n (and the Play button says Pause), Space again stops it.
    harness.key_press(Key::Space);
    harness.run_steps(2);
    assert!(harness.state().model.markov.playing);
    // The tab's button and the top bar's.
    assert_eq!(harness.get_all_by_label("■ Pause").count(), 2);
    harness.key_press(Key::Space);
    harness.run_steps(2);
    assert!(!harness.state().model.markov.playing);
    // The π bars: the stationary distribution, πP = π.
    let pi = shown(&harness, "π", 4);
    let chain = Transition::preset(Preset::WellMixing, 4);
    for (a, b) in chain.step(&pi).iter().zip(&pi) {
        assert!((a - b).abs() < 2e-4, "πP = π on screen");
    }
}

#[test]
fn k_above_8_and_a_row_of_zeros_are_refused_and_the_chain_is_kept() {
    let mut harness = markov_app("markov-refuse");
    let before = harness.state().settings.markov.clone();
    harness.get_by_role_and_label(Role::SpinButton, "K").click();
    harness.run_steps(2);
    type_and_enter(&mut harness, "9");
    let app = harness.state();
    let message = app.model.markov.message.clone().unwrap_or_default();
    assert!(message.starts_with("K = 9 refused"), "{message}");
    assert_eq!(app.settings.markov, before, "nothing lost");
    assert_eq!(app.model.markov.chain.states(), 4);
    harness.get_by_label_contains("K = 9 refused");
    // K = 5 is taken: the preset on 5 states.
    harness.get_by_role_and_label(Role::SpinButton, "K").click();
    harness.run_steps(2);
    harness.key_press_modifiers(Modifiers::COMMAND, Key::A);
    type_and_enter(&mut harness, "5");
    assert_near(
        &harness.state().model.markov.chain,
        &Transition::preset(Preset::WellMixing, 5),
    );
    assert_eq!(harness.state().model.markov.message, None);
    let before = harness.state().settings.markov.clone();
    // A matrix typed as CSV with a row of zeros: refused with its line.
    harness.get_by_label("P as CSV").click();
    harness.run_steps(2);
    apply_csv(&mut harness, &["0.5, 0.5", "0, 0"]);
    let app = harness.state();
    let message = app.model.markov.message.clone().unwrap_or_default();
    assert_eq!(
        message,
        "matrix not changed: line 2 is all zeros: it cannot be normalised to sum to 1"
    );
    assert_eq!(app.settings.markov, before, "the old matrix kept");
    assert_near(
        &app.model.markov.chain,
        &Transition::preset(Preset::WellMixing, 5),
    );
    harness.get_by_label(&message);
    // A cell typed out of [0, 1]: refused, the row kept.
    harness.get_by_label_contains("P[1,1] = ").click();
    harness.run_steps(2);
    type_and_enter(&mut harness, "1.5");
    let app = harness.state();
    assert_eq!(
        app.model.markov.message.as_deref(),
        Some("P[1,1] not changed: 1.5 is not a probability in [0, 1]")
    );
    assert_eq!(app.settings.markov, before);
    // A good matrix typed as CSV (rows of weights) is taken, normalised.
    apply_csv(&mut harness, &["1, 3", "2, 2"]);
    let app = harness.state();
    assert_eq!(app.model.markov.message, None);
    assert_eq!(app.model.markov.chain.row(0), &[0.25, 0.75]);
    assert_eq!(app.model.markov.chain.row(1), &[0.5, 0.5]);
}

#[test]
fn clicking_a_state_puts_p0_there_and_the_trajectories_start_there() {
    let mut harness = markov_app("markov-start");
    harness.get_by_label_contains("state 2: ").click();
    harness.run_steps(3);
    let app = harness.state();
    assert_eq!(app.settings.markov.p0, point_mass(2, 4));
    assert_eq!(shown(&harness, "p_0", 4), vec![0.0, 0.0, 1.0, 0.0]);
    assert!(app.model.markov.paths.iter().all(|p| p[0] == 2));
    // The histogram at n = 0 is the point mass exactly.
    assert_eq!(app.model.markov.histogram(0).0, &[0.0, 0.0, 1.0, 0.0]);
    // Bar 0 of p_0 dragged to half the chart's height: p_0(0) = 1/2, state 2 keeps the
    // rest (the others had none). The bar's node spans the chart and the 14 points of
    // numbers above it.
    let bar = harness.get_by_label_contains("p_0(0) = ").rect();
    let (x, bottom) = (bar.center().x, bar.bottom());
    let half = bottom - 0.5 * (bar.height() - 14.0);
    let press = |pos: egui::Pos2, pressed: bool| egui::Event::PointerButton {
        pos,
        button: egui::PointerButton::Primary,
        pressed,
        modifiers: Modifiers::NONE,
    };
    let start = egui::pos2(x, bottom - 5.0);
    harness.input_mut().events.push(egui::Event::PointerMoved(start));
    harness.input_mut().events.push(press(start, true));
    harness.run_steps(1);
    for y in [bottom - 30.0, half + 10.0, half] {
        harness
            .input_mut()
            .events
            .push(egui::Event::PointerMoved(egui::pos2(x, y)));
        harness.run_steps(1);
    }
    // Nothing is sent while dragging (each edit samples the 10⁴ chains again).
    assert_eq!(harness.state().settings.markov.p0, point_mass(2, 4));
    harness.input_mut().events.push(press(egui::pos2(x, half), false));
    harness.run_steps(3);
    let p0 = harness.state().settings.markov.p0.clone();
    assert!((p0[0] - 0.5).abs() < 0.01, "{p0:?}");
    assert!(
        (p0[2] - (1.0 - p0[0])).abs() < 1e-12 && p0[1] == 0.0 && p0[3] == 0.0,
        "{p0:?}"
    );
    assert_eq!(harness.state().model.markov.distributions[0], p0);
}

#[test]
fn presenting_the_tab_shows_its_views_without_its_controls() {
    let mut harness = markov_app("markov-present");
    harness.key_press(Key::F5);
    harness.run_steps(4);
    assert!(harness.state().settings.lecture.presenting);
    for name in VIEWS {
        harness.get_by_role_and_label(Role::Image, name);
    }
    assert!(harness.query_by_role_and_label(Role::SpinButton, "K").is_none());
    assert!(harness.query_by_label("P as CSV").is_none());
    // The n slider is the mode's, and the keys still scrub n.
    harness.key_press(Key::ArrowRight);
    harness.run_steps(2);
    assert_eq!(harness.state().settings.markov.n, 1);
    harness.get_by_role_and_label(Role::Slider, "n");
}

/// The six views' names (their accessibility nodes, pictures).
const VIEWS: [&str; 6] = [
    "transition matrix",
    "state graph",
    "distributions at n",
    "initial distribution",
    "trajectories time line",
    "distance to the limit",
];

/// The share of the window the six views cover (each inside the window, none
/// overlapping another).
fn views_share(harness: &Harness<'_, DiffscopeApp>) -> f32 {
    let window = harness.ctx.content_rect();
    let ppp = harness.ctx.pixels_per_point();
    let names = VIEWS;
    let rects: Vec<Rect> = names
        .iter()
        .map(|name| {
            let node = harness.get_by_role_and_label(Role::Image, name);
            let r = to_rect(node.accesskit_node().bounding_box().unwrap(), ppp);
            assert!(
                window.expand(1.0).contains_rect(r),
                "{name} at {r:?} leaves {window:?}"
            );
            r
        })
        .collect();
    for (a, ra) in names.iter().zip(&rects) {
        for (b, rb) in names.iter().zip(&rects) {
            assert!(
                a == b || !ra.shrink(0.5).intersects(rb.shrink(0.5)),
                "{a} overlaps {b}"
            );
        }
    }
    rects.iter().map(Rect::area).sum::<f32>() / window.area()
}

#[test]
fn at_a_projectors_sizes_nothing_is_clipped_and_the_views_take_the_room() {
    for (size, ppp) in PROJECTORS {
        let mut harness = harness(
            size,
            ppp,
            Settings {
                tab: Tab::Markov,
                ..defaults()
            },
        );
        // Measured: 0.42 at the desk and 0.58 presenting, at both scales.
        for (presenting, least) in [(false, 0.35), (true, 0.5)] {
            harness.state_mut().settings.lecture.presenting = presenting;
            harness.run_steps(6);
            let offenders = clipped(&harness);
            assert!(
                offenders.is_empty(),
                "{size:?} at {ppp}×, presenting {presenting}: {offenders:#?}"
            );
            let share = views_share(&harness);
            eprintln!("{size:?} at {ppp}×, presenting {presenting}: the views cover {share:.3}");
            assert!(
                share >= least,
                "{size:?} at {ppp}×, presenting {presenting}: {share}"
            );
        }
        // The periodic and reducible chains, with their notes, clip nothing either.
        harness.state_mut().settings.lecture.presenting = false;
        for preset in [Preset::Periodic, Preset::Reducible] {
            harness
                .state_mut()
                .push(Command::Markov(diffscope::app::markov::MarkovEdit::Preset(
                    preset,
                )));
            harness.run_steps(4);
            let offenders = clipped(&harness);
            assert!(offenders.is_empty(), "{preset:?} at {ppp}×: {offenders:#?}");
        }
    }
    // At the desk's 1440×900 the math panel is open beside the tab: no view (nor the n
    // slider) runs under it.
    let mut harness = harness(
        [1440.0, 900.0],
        1.0,
        Settings {
            tab: Tab::Markov,
            ..defaults()
        },
    );
    harness.run_steps(4);
    let math = harness.get_by_label("The math").rect().left();
    for name in VIEWS {
        let r = harness.get_by_role_and_label(Role::Image, name).rect();
        assert!(
            r.right() <= math,
            "{name} at {r:?} runs under the math panel at x = {math}"
        );
    }
    let slider = harness.get_by_role_and_label(Role::Slider, "n").rect();
    assert!(
        slider.right() <= math,
        "the n slider at {slider:?}, the math panel at {math}"
    );
}

/// Every preset at `K = 5` and `K = 8`, two seeds: the histogram of the 10⁴ chains at
/// `n = 1, 10, 100` is within 5 standard errors `√(p(1 − p)/N)` (and one chain) of `p_n`
/// in every state, exactly 0 where `p_n` is 0.
#[test]
fn the_empirical_histogram_of_ten_thousand_chains_is_within_5_standard_errors_of_p_n() {
    let mut worst: f64 = 0.0;
    for preset in Preset::ALL {
        for k in [5, 8] {
            for seed in [0, 7] {
                let chain = Transition::preset(preset, k);
                let settings = MarkovSettings {
                    k,
                    preset: Some(preset.name().to_owned()),
                    rows: rows_of(&chain),
                    p0: point_mass(1, k),
                    seed,
                    ..MarkovSettings::default()
                };
                let view = MarkovView::new(&settings);
                for n in [1, 10, 100] {
                    let p = chain.distributions(&point_mass(1, k), n).pop().unwrap();
                    let (h, _) = view.histogram(n);
                    for (i, (&pi, &hi)) in p.iter().zip(h).enumerate() {
                        let se = (pi * (1.0 - pi)).max(0.0).sqrt() / (MANY_CHAINS as f64).sqrt();
                        let what = format!("{preset:?} K = {k} seed {seed} n = {n} state {i}");
                        if pi == 0.0 {
                            assert_eq!(hi, 0.0, "{what}: a state p_n cannot reach");
                        } else {
                            // Plus one chain's worth (1/N, the histogram's resolution): for
                            // N p ≪ 1 a single chain is more than 5 standard errors.
                            let tolerance = 5.0 * se + 1.0 / MANY_CHAINS as f64;
                            assert!((hi - pi).abs() <= tolerance, "{what}: {hi} vs {pi} (se {se})");
                            // Where the normal approximation holds (N p (1 − p) ≥ 10).
                            if pi * (1.0 - pi) * MANY_CHAINS as f64 >= 10.0 {
                                worst = worst.max((hi - pi).abs() / se);
                            }
                        }
                    }
                }
            }
        }
    }
    eprintln!("the largest deviation where N p (1 − p) ≥ 10: {worst:.2} standard errors");
    assert!(worst > 0.5, "the chains are not all the same: {worst}");
}

#[test]
fn the_chain_survives_a_restart_and_a_stale_one_is_brought_into_range() {
    use diffscope::app::settings::STORAGE_KEY;
    let mut settings = Settings {
        tab: Tab::Markov,
        export_dir: scratch("markov-restart"),
        ..Settings::default()
    };
    let chain = Transition::new(&[vec![0.2, 0.8, 0.0], vec![0.0, 0.5, 0.5], vec![1.0, 0.0, 0.0]]).unwrap();
    settings.markov = MarkovSettings {
        k: 3,
        preset: None,
        rows: rows_of(&chain),
        p0: vec![0.5, 0.25, 0.25],
        n: 42,
        seed: 9,
        chains: 5,
        steps_per_s: 8.0,
        mode: MarkovMode::Finite,
    };
    let mut storage = crate::ui::Memory::default();
    eframe::set_value(&mut storage, STORAGE_KEY, &settings);
    let back: Settings = eframe::get_value(&storage, STORAGE_KEY).unwrap();
    assert_eq!(back.markov, settings.markov);
    // The app starts on the tab, with that chain, n and p_0.
    let harness = harness_with(back);
    let app = harness.state();
    assert_eq!(app.settings.markov, settings.markov);
    assert_near(&app.model.markov.chain, &chain);
    assert_eq!(app.model.markov.distributions[0], vec![0.5, 0.25, 0.25]);
    assert_eq!(shown(&harness, "p_0", 3), vec![0.5, 0.25, 0.25]);
    assert!(!app.model.markov.playing, "playing is not remembered");
    // A stale or hand-edited file: K out of range gives the default chain; a matrix of
    // the wrong size or not stochastic the preset's; a bad p_0 a point mass; n clamped.
    let wild = MarkovSettings {
        k: 20,
        ..settings.markov.clone()
    };
    assert_eq!(wild.sanitised(MAX_N), MarkovSettings::default());
    let wrong = MarkovSettings {
        k: 4,
        preset: Some("periodic".into()),
        rows: vec![vec![1.0, -1.0], vec![0.0, 0.0]],
        p0: vec![f64::NAN; 4],
        n: 1000,
        chains: 0,
        steps_per_s: f32::INFINITY,
        ..MarkovSettings::default()
    }
    .sanitised(MAX_N);
    assert_eq!(wrong.rows, rows_of(&Transition::preset(Preset::Periodic, 4)));
    assert_eq!(wrong.p0, point_mass(0, 4));
    assert_eq!((wrong.n, wrong.chains), (MAX_N, 1));
    assert_eq!(wrong.steps_per_s, MarkovSettings::default().steps_per_s);
}
