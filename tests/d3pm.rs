//! The digits' discrete chain (D3PM, issue 14) as the window shows it: `ui::d3pm_view`
//! laid out on the real app (`diffscope::gui::new_app`) in a test-only harness, since no
//! tab shows it yet. Its numbers on screen against NumPy, `t` scrubbed every way, the
//! kind and levels switched, the Markov view's state independent of how `t` is reached.

use std::time::{Duration, Instant};

use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};

use diffscope::app::d3pm::{self, D3pmSettings};
use diffscope::app::settings::Settings;
use diffscope::app::{DiffscopeApp, RunOptions};
use diffscope::diffusion::discrete::{DiscreteKind, DiscreteProcess};
use diffscope::ui::d3pm_view::{self, CLOSED_VIEW, MARKOV_VIEW};

/// The app, created on the harness's own context at the first frame.
type Bench = Option<DiffscopeApp>;

/// The real app, laying out only the discrete view (the whole view, or with `views_only`
/// presentation mode's two views) in the central panel, a frame as the window runs it.
fn harness(size: [f32; 2], ppp: f32, settings: Settings, views_only: bool) -> Harness<'static, Bench> {
    let mut h = Harness::builder()
        .with_size(size)
        .with_pixels_per_point(ppp)
        .build_ui_state(
            move |ui, bench: &mut Bench| {
                let ctx = ui.ctx().clone();
                let app = bench.get_or_insert_with(|| {
                    let options = RunOptions {
                        fresh: true,
                        ..RunOptions::default()
                    };
                    diffscope::gui::new_app(&ctx, settings.clone(), options)
                });
                if let Some(theme) = app.take_theme_change() {
                    diffscope::ui::theme::apply(&ctx, theme);
                }
                app.frame(&ctx, None, |settings, model, _commands| {
                    if views_only {
                        d3pm_view::views_ui(ui, settings, model);
                    } else {
                        d3pm_view::d3pm_ui(ui, settings, model);
                    }
                });
            },
            None,
        );
    h.run_steps(2);
    h
}

fn app<'a>(h: &'a Harness<'_, Bench>) -> &'a DiffscopeApp {
    h.state().as_ref().expect("the app is built in the first frame")
}

fn app_mut<'a>(h: &'a mut Harness<'_, Bench>) -> &'a mut DiffscopeApp {
    h.state_mut()
        .as_mut()
        .expect("the app is built in the first frame")
}

/// Steps until the view shows `t` with its Markov chain (built on its own thread), 20 s
/// at most.
#[track_caller]
fn settle(h: &mut Harness<'_, Bench>) {
    let start = Instant::now();
    loop {
        h.step();
        let a = app(h);
        let done = a.model.d3pm.frame.as_ref().is_some_and(|f| {
            f.t == a.settings.t
                && f.markov.is_some()
                && f.kind == a.settings.d3pm.kind
                && f.levels == a.settings.d3pm.levels
        });
        if done {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for the discrete chain"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    h.run_steps(2);
}

fn set_t(h: &mut Harness<'_, Bench>, t: usize) {
    app_mut(h).settings.t = t;
    settle(h);
}

/// The distinct texts on screen (a label's node and its text run carry the same text)
/// that `keep` accepts.
fn texts(h: &Harness<'_, Bench>, keep: impl Fn(&str) -> bool) -> Vec<String> {
    let mut found: Vec<String> = h
        .query_all_by(|_| true)
        .filter_map(|n| n.accesskit_node().label().or_else(|| n.value()))
        .filter(|l| keep(l))
        .collect();
    found.sort();
    found.dedup();
    found
}

/// The number after `= ` in the one label that starts with `prefix`.
#[track_caller]
fn number_after(h: &Harness<'_, Bench>, prefix: &str) -> f64 {
    let labels = texts(h, |l| l.starts_with(prefix));
    assert_eq!(labels.len(), 1, "one label starting {prefix:?}: {labels:?}");
    labels[0][prefix.len()..]
        .trim()
        .trim_start_matches("= ")
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number in {:?}", labels[0]))
}

/// The two entries of `name`'s line: `name: diagonal A · elsewhere B` (or `· to the mask B`).
#[track_caller]
fn matrix_entries(h: &Harness<'_, Bench>, name: &str) -> (f64, f64) {
    let prefix = format!("{name}: diagonal");
    let labels = texts(h, |l| l.starts_with(&prefix));
    assert_eq!(labels.len(), 1, "one label starting {prefix:?}: {labels:?}");
    let numbers: Vec<f64> = labels[0]
        .split(char::is_whitespace)
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(numbers.len(), 2, "{}", labels[0]);
    (numbers[0], numbers[1])
}

#[track_caller]
fn close(screen: f64, exact: f64, what: &str) {
    // The screen shows 6 significant digits.
    assert!(
        (screen - exact).abs() <= 6e-6 * exact.abs().max(1e-300),
        "{what}: {screen} on screen, {exact} from NumPy"
    );
}

/// `(K, kind, t, ᾱ_t, Q̄_t[0, 0], Q̄_t[0, 1] (uniform) or Q̄_t[0, m] (absorbing),
/// TV(p_0 Q̄_t, π))` under the default linear schedule (T = 1000), `p_0` the histogram of
/// the first 40 digits' pixels quantised to `K` levels. From NumPy:
///
/// ```python
/// import gzip, numpy as np
/// T = 1000
/// b = np.linspace(1e-4, 0.02, T)
/// ab = np.concatenate([[1.0], np.cumprod(1 - b)])
/// rows = [l.split(',') for l in gzip.open('assets/digits/digits.csv.gz', 'rt').read().split()]
/// v = np.array([[int(x) for x in r[:64]] for r in rows[:40]])   # values 0..16
/// for K, kind in [(17, 'uniform'), (17, 'absorbing'), (256, 'uniform')]:
///     s = np.rint((v / 16) * (K - 1)).astype(int).ravel()       # x = v/8 − 1 to K levels
///     n = K + (kind == 'absorbing')
///     p0 = np.bincount(s, minlength=n) / s.size
///     pi = np.full(n, 1 / K) if kind == 'uniform' else np.eye(n)[K]
///     for t in [100, 250, 600]:
///         a = ab[t]
///         Qbar = a * np.eye(n) + (1 - a) * np.outer(np.ones(n), pi)
///         law = p0 @ Qbar
///         tv = 0.5 * np.abs(law - pi).sum()
///         to = Qbar[0, 1] if kind == 'uniform' else Qbar[0, K]
///         print(K, kind, t, a, Qbar[0, 0], to, tv)
/// ```
#[allow(clippy::unreadable_literal, reason = "NumPy's digits, copied as printed")]
const NUMPY: [(usize, DiscreteKind, usize, f64, f64, f64, f64); 9] = [
    (
        17,
        DiscreteKind::Uniform,
        100,
        0.89701814567496,
        0.903075901811727,
        0.00605775613676706,
        0.4078011032210267,
    ),
    (
        17,
        DiscreteKind::Uniform,
        250,
        0.5240853738253606,
        0.5520803518356335,
        0.027994978010272908,
        0.23825894120254498,
    ),
    (
        17,
        DiscreteKind::Uniform,
        600,
        0.025879389423334884,
        0.08318060181019754,
        0.05730121238686265,
        0.011765250913159029,
    ),
    (
        17,
        DiscreteKind::Absorbing,
        100,
        0.89701814567496,
        0.89701814567496,
        0.10298185432504003,
        0.89701814567496,
    ),
    (
        17,
        DiscreteKind::Absorbing,
        250,
        0.5240853738253606,
        0.5240853738253606,
        0.4759146261746394,
        0.5240853738253606,
    ),
    (
        17,
        DiscreteKind::Absorbing,
        600,
        0.025879389423334884,
        0.025879389423334884,
        0.9741206105766651,
        0.02587938942333489,
    ),
    (
        256,
        DiscreteKind::Uniform,
        100,
        0.89701814567496,
        0.8974204185434171,
        0.00040227286845718763,
        0.8374505344387322,
    ),
    (
        256,
        DiscreteKind::Uniform,
        250,
        0.5240853738253606,
        0.5259444153338553,
        0.0018590415084946852,
        0.48928282946977014,
    ),
    (
        256,
        DiscreteKind::Uniform,
        600,
        0.025879389423334884,
        0.02968454805839998,
        0.003805158635065098,
        0.024160836219441567,
    ),
];

#[test]
fn the_numbers_on_screen_are_numpys_and_follow_t_the_kind_and_the_levels() {
    let mut h = harness([1440.0, 900.0], 1.0, Settings::default(), false);
    settle(&mut h);
    for (row, &(levels, kind, t, alpha_bar, diagonal, off, tv)) in NUMPY.iter().enumerate() {
        // Kind and levels as a user switches them: their buttons in the view.
        if app(&h).settings.d3pm.kind != kind {
            let label = match kind {
                DiscreteKind::Uniform => "uniform",
                DiscreteKind::Absorbing => "absorbing (mask)",
            };
            h.get_by_label(label).click();
            h.run_steps(1);
            assert_eq!(app(&h).settings.d3pm.kind, kind, "the kind switch");
        }
        if app(&h).settings.d3pm.levels != levels {
            h.get_by_label(if levels == 256 { "256 (8-bit)" } else { "17" })
                .click();
            h.run_steps(1);
            assert_eq!(app(&h).settings.d3pm.levels, levels, "the levels switch");
        }
        let before = (row > 0).then(|| number_after(&h, "ᾱ_t"));
        set_t(&mut h, t);
        let what = format!("K = {levels}, {kind:?}, t = {t}");
        close(number_after(&h, "ᾱ_t"), alpha_bar, &format!("ᾱ_t, {what}"));
        close(number_after(&h, "TV(q(x_t), π)"), tv, &format!("TV, {what}"));
        let (d, o) = matrix_entries(&h, "Q̄_t");
        close(d, diagonal, &format!("Q̄_t diagonal, {what}"));
        close(o, off, &format!("Q̄_t off the diagonal, {what}"));
        if let Some(before) = before.filter(|_| NUMPY[row - 1].2 != t) {
            assert_ne!(before, number_after(&h, "ᾱ_t"), "scrubbing t changes ᾱ_t");
        }
        // The model behind the screen, to NumPy's precision.
        let frame = app(&h).model.d3pm.frame.clone().unwrap();
        assert!((frame.alpha_bar - alpha_bar).abs() < 1e-13, "{what}");
        assert!((frame.tv_law - tv).abs() < 1e-12, "{what}: {}", frame.tv_law);
        let m = frame.states;
        let to = if kind == DiscreteKind::Uniform { 1 } else { levels };
        assert!((frame.q_bar[0] - diagonal).abs() < 1e-12 && (frame.q_bar[to] - off).abs() < 1e-12);
        assert_eq!(frame.q_bar.len(), m * m);
        // Each histogram is a law, and the views' distances to π are near the exact one:
        // |TV(h, π) − TV(q, π)| ≤ TV(h, q), whose mean over n independent pixels is at most
        // ½ Σ √(q_i(1 − q_i)/n) (0.13 for K = 256: 2560 pixels in 256 bins) and which moves
        // by 1/n at most per pixel, so exceeds its mean by 0.05 with probability
        // exp(−2 · 0.05² · n) < 10⁻⁵ (McDiarmid).
        let n = frame.closed.len() as f64;
        let bound = 0.5 * frame.law.iter().map(|q| (q * (1.0 - q) / n).sqrt()).sum::<f64>() + 0.05;
        for (view, hist, tv_view) in [
            (
                "Markov",
                frame.markov_hist.as_ref().unwrap(),
                frame.tv_markov.unwrap(),
            ),
            ("closed form", &frame.closed_hist, frame.tv_closed),
        ] {
            assert!((hist.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            assert!(
                (tv_view - tv).abs() <= bound,
                "{what}: {view} TV {tv_view} against {tv} (bound {bound})"
            );
        }
        // The heatmaps and both views are on screen.
        for name in [MARKOV_VIEW, CLOSED_VIEW, "Q_t heatmap", "Q̄_t heatmap"] {
            h.get_by_role_and_label(Role::Image, name);
        }
    }
    // One step with the arrow key moves the numbers too.
    let t = app(&h).settings.t;
    let alpha_bar = number_after(&h, "ᾱ_t");
    h.key_press(egui::Key::ArrowRight);
    settle(&mut h);
    assert_eq!(app(&h).settings.t, t + 1);
    assert!(number_after(&h, "ᾱ_t") < alpha_bar, "ᾱ_t falls as t grows");
}

#[test]
fn the_markov_view_at_t_is_the_same_however_t_is_reached() {
    let settings = Settings {
        d3pm: D3pmSettings {
            kind: DiscreteKind::Absorbing,
            levels: 17,
        },
        noise_seed: 7,
        t: 0,
        ..Settings::default()
    };
    let mut h = harness([1440.0, 900.0], 1.0, settings, false);
    settle(&mut h);
    let t = 300;
    let markov_at =
        |h: &Harness<'_, Bench>| app(h).model.d3pm.frame.as_ref().unwrap().markov.clone().unwrap();
    // A jump from 0.
    set_t(&mut h, t);
    let jumped = markov_at(&h);
    // Forward from t − 1 and backward from t + 1, one arrow key each.
    set_t(&mut h, t - 1);
    h.key_press(egui::Key::ArrowRight);
    settle(&mut h);
    assert_eq!(app(&h).settings.t, t);
    assert_eq!(markov_at(&h), jumped, "forward");
    set_t(&mut h, t + 1);
    h.key_press(egui::Key::ArrowLeft);
    settle(&mut h);
    assert_eq!(markov_at(&h), jumped, "backward");
    // From the end, ten steps at a time (Shift+←) and back to t by hand.
    h.key_press(egui::Key::End);
    settle(&mut h);
    h.key_press_modifiers(egui::Modifiers::SHIFT, egui::Key::ArrowLeft);
    settle(&mut h);
    assert_eq!(app(&h).settings.t, 990);
    set_t(&mut h, t);
    assert_eq!(markov_at(&h), jumped, "a jump back from the end");
    // The same as the chain run step by step outside the app, and not the closed form's.
    let schedule = app(&h).model.schedule.clone();
    let process = DiscreteProcess::new(DiscreteKind::Absorbing, 17, schedule);
    let x0 = d3pm::digit_states(17).unwrap();
    assert_eq!(jumped, process.markov(&x0, t, 7));
    assert_eq!(
        app(&h).model.d3pm.frame.as_ref().unwrap().closed,
        process.closed_form(&x0, t, 7)
    );
    assert_ne!(
        jumped,
        process.closed_form(&x0, t, 7),
        "the two views draw differently"
    );
    // A new seed is a new chain; the old seed gives the old one back.
    app_mut(&mut h).settings.noise_seed = 8;
    settle(&mut h);
    assert_ne!(markov_at(&h), jumped);
    app_mut(&mut h).settings.noise_seed = 7;
    settle(&mut h);
    assert_eq!(markov_at(&h), jumped, "seed 7 again");
    let ms = app(&h).model.d3pm.path_ms.unwrap();
    eprintln!("the Markov path (T = 1000, 2560 pixels) took {ms:.1} ms on its thread");
}

#[test]
fn any_q_bar_is_one_fill_for_256_levels_with_no_table() {
    // The issue asks for a 512-step table of Q̄_t for K = 256 (512 · 256² doubles: 268 MB)
    // to be built off the UI thread. The closed form ᾱ_t I + (1 − ᾱ_t) 𝟙𝟙ᵀ/K makes any
    // Q̄_t one K² fill: time the worst case, every t of the 512.
    let spec = diffscope::diffusion::ScheduleSpec::new(diffscope::diffusion::ScheduleKind::Cosine, 512);
    let schedule = diffscope::diffusion::Schedule::new(&spec).unwrap();
    for kind in DiscreteKind::ALL {
        let process = DiscreteProcess::new(kind, 256, schedule.clone());
        let start = Instant::now();
        let mut trace = 0.0;
        for t in 0..=512 {
            let q = process.q_bar(t);
            trace += q[(t % 256) * process.states() + t % 256];
        }
        let per_matrix_us = start.elapsed().as_secs_f64() * 1e6 / 513.0;
        eprintln!(
            "{kind:?}: one Q̄_t of {0}×{0} in {per_matrix_us:.0} µs",
            process.states()
        );
        assert!(trace > 0.0);
        // A frame's budget is 16.7 ms; a busy test machine gets a wide margin.
        assert!(per_matrix_us < 5000.0, "{kind:?}: {per_matrix_us} µs");
    }
    // What the UI thread computes when t moves, for K = 256: both matrices, p_0 Q̄_t,
    // the closed form's draws and the histograms (the Markov path is a lookup).
    let process = DiscreteProcess::new(DiscreteKind::Uniform, 256, schedule);
    let x0 = d3pm::digit_states(256).unwrap();
    let path = d3pm::MarkovPath::run(&process, &x0, 0);
    let start = Instant::now();
    for t in 0..=100 {
        let frame = d3pm::frame(&process, &x0, Some(&path), 0, t);
        assert_eq!(frame.markov.as_deref(), Some(&*path.at(t)));
    }
    let frame_us = start.elapsed().as_secs_f64() * 1e6 / 101.0;
    eprintln!("a frame of the view for K = 256 in {frame_us:.0} µs");
    assert!(frame_us < 8000.0, "{frame_us} µs");
}

#[test]
fn the_views_fit_projectors_and_presentation_shows_only_them() {
    for (size, ppp) in [
        ([1280.0, 720.0], 1.0),
        ([1280.0, 720.0], 1.5),
        ([1920.0, 1080.0], 1.5),
    ] {
        for views_only in [false, true] {
            let mut h = harness(size, ppp, Settings::default(), views_only);
            settle(&mut h);
            let window = h.ctx.content_rect();
            let rects: Vec<egui::Rect> = [MARKOV_VIEW, CLOSED_VIEW]
                .iter()
                .map(|name| {
                    let r = h.get_by_role_and_label(Role::Image, name).rect();
                    assert!(
                        window.expand(1.0).contains_rect(r),
                        "{size:?} at {ppp}×: {name} at {r:?}"
                    );
                    r
                })
                .collect();
            assert!(!rects[0].intersects(rects[1]), "the views overlap: {rects:?}");
            let share = rects.iter().map(egui::Rect::area).sum::<f32>() / window.area();
            let least = if views_only { 0.4 } else { 0.1 };
            assert!(
                share >= least,
                "{size:?} at {ppp}× (views only: {views_only}): {share:.3}"
            );
            let heatmap = h.query_by_label("Q̄_t heatmap").is_some();
            assert_eq!(heatmap, !views_only, "presentation mode shows the two views only");
        }
    }
}

#[test]
fn the_markov_tab_switches_to_the_digits_where_t_drives_it_and_back_to_n() {
    use diffscope::app::settings::Tab;
    use diffscope::diffusion::{ScheduleKind, ScheduleSpec};
    use egui::Key;
    let options = RunOptions {
        fresh: true,
        ..RunOptions::default()
    };
    let settings = Settings {
        tab: Tab::Markov,
        schedule: ScheduleSpec::new(ScheduleKind::Cosine, 1000),
        t: 100,
        ..Settings::default()
    };
    let mut h = Harness::builder()
        .with_size([1280.0, 720.0])
        .build_eframe(move |cc| diffscope::gui::new_app(&cc.egui_ctx, settings, options));
    h.run_steps(4);
    // The finite chain first; nothing is computed for the digits' view it does not show.
    assert!(h.query_by_label(MARKOV_VIEW).is_none());
    assert!(h.state().model.d3pm.frame.is_none() && !h.state().model.d3pm.building());
    h.get_by_label("Diffusion on the digits (D3PM)").click();
    let start = Instant::now();
    while !h
        .state()
        .model
        .d3pm
        .frame
        .as_ref()
        .is_some_and(|f| f.t == 100 && f.markov.is_some())
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the discrete chain on the digits"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    h.run_steps(3);
    for name in [MARKOV_VIEW, CLOSED_VIEW, "Q_t heatmap", "Q̄_t heatmap"] {
        assert!(h.query_by_label(name).is_some(), "{name} on screen");
    }
    // → moves t (the digits follow the top bar's t), not the finite chain's n.
    let n = h.state().settings.markov.n;
    h.key_press(Key::ArrowRight);
    h.run_steps(2);
    assert_eq!(h.state().settings.t, 101);
    assert_eq!(h.state().settings.markov.n, n);
    // ᾱ_101 of the cosine schedule (Nichol & Dhariwal, s = 0.008), as on screen:
    // python3 -c "import math; f=lambda t: math.cos((t/1000+0.008)/1.008*math.pi/2)**2; print(f(101)/f(0))"
    // 0.971575681807838
    let start = Instant::now();
    loop {
        let labels: Vec<String> = h
            .query_all_by(|node| node.value().is_some_and(|l| l.starts_with("ᾱ_t")))
            .filter_map(|n| n.accesskit_node().value())
            .collect();
        let shown = labels.iter().find_map(|l| {
            l.trim_start_matches("ᾱ_t")
                .trim()
                .trim_start_matches("= ")
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
        });
        if shown.is_some_and(|v| (v - 0.971_575_681_807_838).abs() < 5e-6) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "ᾱ_101 on screen: {labels:?}"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    // Presentation mode shows the two views only.
    h.key_press(Key::F5);
    h.run_steps(3);
    assert!(h.query_by_label(MARKOV_VIEW).is_some() && h.query_by_label(CLOSED_VIEW).is_some());
    assert!(h.query_by_label("Q_t heatmap").is_none());
    h.key_press(Key::Escape);
    h.run_steps(3);
    // Back to the finite chain: → moves n again, t stays.
    h.get_by_label("A finite chain").click();
    h.run_steps(2);
    h.key_press(Key::ArrowRight);
    h.run_steps(2);
    assert_eq!(h.state().settings.markov.n, n + 1);
    assert_eq!(h.state().settings.t, 101);
    assert!(h.query_by_label(MARKOV_VIEW).is_none());
}

#[test]
fn the_kind_and_levels_are_remembered_and_bad_levels_come_back_to_17() {
    use diffscope::app::settings::STORAGE_KEY;
    let settings = Settings {
        d3pm: D3pmSettings {
            kind: DiscreteKind::Absorbing,
            levels: 256,
        },
        ..Settings::default()
    };
    let mut storage = crate::ui::Memory::default();
    eframe::set_value(&mut storage, STORAGE_KEY, &settings);
    let back: Settings = eframe::get_value(&storage, STORAGE_KEY).unwrap();
    assert_eq!(back.d3pm, settings.d3pm);
    // Settings saved before the view existed load with its defaults.
    let text = eframe::Storage::get_string(&storage, STORAGE_KEY).unwrap();
    let start = text.find("d3pm:").expect("the field is saved");
    let end = start + text[start..].find(')').unwrap() + 1;
    let old = format!("{}{}", &text[..start], text[end..].trim_start_matches(','));
    eframe::Storage::set_string(&mut storage, STORAGE_KEY, old);
    let before: Settings = eframe::get_value(&storage, STORAGE_KEY).expect("older settings still load");
    assert_eq!(before.d3pm, D3pmSettings::default());
    // A number of levels the view does not offer becomes the digits' own 17.
    let wild = Settings {
        d3pm: D3pmSettings {
            kind: DiscreteKind::Uniform,
            levels: 3,
        },
        ..Settings::default()
    }
    .sanitised();
    assert_eq!(wild.d3pm.levels, 17);
}

#[test]
fn a_long_chain_keeps_every_few_steps_within_its_budget_and_replays_the_rest() {
    // The window allows T = 10⁴: every step would be 51 MB for the 40 digits.
    let spec = diffscope::diffusion::ScheduleSpec::new(diffscope::diffusion::ScheduleKind::Linear, 10_000);
    let schedule = diffscope::diffusion::Schedule::new(&spec).unwrap();
    let process = DiscreteProcess::new(DiscreteKind::Uniform, 17, schedule);
    let x0 = d3pm::digit_states(17).unwrap();
    let path = d3pm::MarkovPath::run(&process, &x0, 3);
    assert_eq!(path.stride(), 4);
    assert!(
        path.stored_bytes() <= d3pm::PATH_BUDGET_BYTES,
        "{} bytes",
        path.stored_bytes()
    );
    // Stored and replayed rows are the chain's, at every t near a stored one and at the ends.
    let mut x = x0.clone();
    for t in 1..=10_000 {
        process.step_in_place(t, 3, &mut x);
        if t < 10 || t % 997 < 5 || t > 9_995 {
            assert_eq!(*path.at(t), *x, "t = {t}");
        }
    }
    assert_eq!(*path.at(0), *x0);
    // A path no longer wanted stops.
    assert!(d3pm::MarkovPath::run_unless(&process, &x0, 3, || true).is_none());
    // T = 1000 keeps every step.
    let short = DiscreteProcess::new(
        DiscreteKind::Uniform,
        17,
        diffscope::diffusion::Schedule::new(&diffscope::diffusion::ScheduleSpec::default()).unwrap(),
    );
    assert_eq!(d3pm::MarkovPath::run(&short, &x0, 3).stride(), 1);
}

#[test]
fn a_schedule_changed_while_its_chain_builds_shows_the_last_ones_chain() {
    let mut h = harness([1440.0, 900.0], 1.0, Settings::default(), false);
    settle(&mut h);
    // As a dragged T does: a new schedule every frame, each chain stale before it is done.
    for steps in [4000, 6000, 8000, 2000] {
        app_mut(&mut h).settings.schedule.steps = steps;
        h.step();
    }
    app_mut(&mut h).settings.t = 1500;
    settle(&mut h);
    let a = app(&h);
    assert_eq!(a.model.schedule.steps(), 2000);
    let path = a.model.d3pm.path().unwrap();
    assert_eq!(path.steps(), 2000);
    let process = DiscreteProcess::new(DiscreteKind::Uniform, 17, a.model.schedule.clone());
    let x0 = d3pm::digit_states(17).unwrap();
    let frame = a.model.d3pm.frame.as_ref().unwrap();
    assert_eq!(frame.markov.as_deref(), Some(&process.markov(&x0, 1500, 0)[..]));
}
