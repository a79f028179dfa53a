//! Issue 13: the forward chain exported as a GIF for slides is the Forward tab at the
//! window's look and a chosen size: driven through the app's command, the GIF's frames
//! are checked against the chain computed here from the library (`MarkovChain`,
//! `q_sample`), for two moons (dark theme) and a small photo (light theme).

use diffscope::app::exports::FORWARD_GIF_FRAMES;
use diffscope::app::settings::{Settings, SourceChoice, ThemeChoice};
use diffscope::app::{Command, DiffscopeApp};
use diffscope::diffusion::forward::{MarkovChain, closed_form_noise, q_sample};
use diffscope::diffusion::{Schedule, ScheduleKind, ScheduleSpec};
use diffscope::scene::SceneData;
use egui_kittest::Harness;

use crate::ui::{harness_with, scratch, step_until};

/// Padding around and between the panels, and the caption row's height (2× font + pad).
const PAD: u32 = 8;
const CAPTION_H: u32 = 18 + 8;

/// Runs the forward GIF export and returns the file's frames and path.
fn export(harness: &mut Harness<'_, DiffscopeApp>) -> (Vec<image::RgbaImage>, std::path::PathBuf) {
    harness.state_mut().push(Command::ExportGif(FORWARD_GIF_FRAMES));
    harness.step();
    assert!(
        harness.state().model.export.is_some(),
        "{:?}",
        harness.state().model.status
    );
    step_until(harness, "the GIF", |app| app.model.export.is_none());
    let info = harness.state().model.status.info.clone().unwrap_or_default();
    let path = std::path::PathBuf::from(info.strip_prefix("saved ").unwrap_or_else(|| {
        panic!(
            "status: {info:?}; error: {:?}",
            harness.state().model.status.error
        )
    }));
    (crate::reverse_gif::decode_gif(&path), path)
}

/// The `t` of GIF frame `k` of `n`: `round(k·T/(n − 1))`.
fn frame_t(k: usize, n: usize, steps: usize) -> usize {
    ((k as f64 / (n - 1) as f64) * steps as f64).round() as usize
}

/// Euclidean RGB distance.
fn distance(c: [u8; 4], rgb: [u8; 3]) -> f64 {
    (0..3)
        .map(|k| (f64::from(c[k]) - f64::from(rgb[k])).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// The dark theme's colour of `x_t` (`ui::theme::point_color(true)`).
const POINT_RGB: [u8; 3] = [100, 181, 246];

/// Whether a pixel is in one of the highlighted paths' colours (the paths are drawn over
/// the points, as in the window); the path colours near the points' own blue (two light
/// blues) cannot be told from a point and are left out.
fn on_a_path(c: [u8; 4]) -> bool {
    diffscope::ui::theme::PATH_COLORS
        .iter()
        .map(|p| [p.r(), p.g(), p.b()])
        .filter(|&p| distance([p[0], p[1], p[2], 255], POINT_RGB) > 100.0)
        .any(|p| distance(c, p) < 40.0)
}

/// Of `points` inside the view `[-3.5, 3.5]²`, in the panel at `(left, top)` of side
/// `side`: the fraction whose pixel is within 60 of `rgb`, among those not under a
/// highlighted path; and the fraction under a path.
fn hits_and_hidden(
    img: &image::RgbaImage,
    points: &[f64],
    (left, top, side): (u32, u32, u32),
    rgb: [u8; 3],
) -> (f64, f64) {
    let e = 3.5;
    let (mut inside, mut hidden, mut hit) = (0_u32, 0_u32, 0_u32);
    for p in points.chunks_exact(2) {
        if p[0].abs() >= e || p[1].abs() >= e {
            continue;
        }
        inside += 1;
        let px = f64::from(left) + (p[0] + e) / (2.0 * e) * f64::from(side);
        let py = f64::from(top) + (e - p[1]) / (2.0 * e) * f64::from(side);
        let c = img.get_pixel(px as u32, py as u32).0;
        if on_a_path(c) {
            hidden += 1;
        } else {
            hit += u32::from(distance(c, rgb) < 60.0);
        }
    }
    let shown = f64::from((inside - hidden).max(1));
    (
        f64::from(hit) / shown,
        f64::from(hidden) / f64::from(inside.max(1)),
    )
}

/// [`hits_and_hidden`]'s first number, asserting that paths hide less than a third.
#[track_caller]
fn hits(img: &image::RgbaImage, points: &[f64], panel: (u32, u32, u32), rgb: [u8; 3]) -> f64 {
    let (hit, hidden) = hits_and_hidden(img, points, panel, rgb);
    assert!(hidden < 0.33, "{hidden:.3} of the points under a path");
    hit
}

/// Pixels of the caption row (above the panels) drawn in `rgb`.
fn caption_ink(img: &image::RgbaImage, rgb: [u8; 3]) -> usize {
    (PAD..CAPTION_H)
        .flat_map(|y| (0..img.width()).map(move |x| (x, y)))
        .filter(|&(x, y)| distance(img.get_pixel(x, y).0, rgb) < 30.0)
        .count()
}

#[test]
fn the_forward_gif_of_two_moons_is_the_chain_at_the_chosen_size_in_the_dark_theme() {
    let side = 200;
    let settings = Settings {
        source: SourceChoice::Dataset("two-moons".into()),
        n_points: 400,
        schedule: ScheduleSpec::new(ScheduleKind::Linear, 100),
        noise_seed: 7,
        // Two paths (the default is four): 100 big steps of a random walk cover much of a
        // 200-pixel panel.
        highlighted: 2,
        theme: ThemeChoice::Dark,
        gif_side: side,
        export_dir: scratch("forward-gif-moons"),
        ..Settings::default()
    };
    let mut harness = harness_with(settings);
    step_until(&mut harness, "two moons", |app| {
        matches!(app.model.scene.data, SceneData::Points(_))
    });
    let (gif, path) = export(&mut harness);
    assert_eq!(path.file_name().unwrap(), "two-moons-linear-forward.gif");
    let steps = 100;
    assert_eq!(gif.len(), FORWARD_GIF_FRAMES, "60 frames, t = 0 → T");
    // Two 200-pixel panels, 8 pixels apart and around, under an 18-pixel caption and 8 more.
    assert_eq!(
        gif[0].dimensions(),
        (2 * side + 3 * PAD, CAPTION_H + side + 2 * PAD)
    );
    // The dark theme's canvas (ui::theme::scatter_style), around and inside the panels.
    let canvas = [20, 20, 20];
    for (x, y) in [
        (1, 1),
        (PAD + 2, CAPTION_H + PAD + 2),
        (2 * PAD + side + 2, CAPTION_H + PAD + 2),
    ] {
        assert!(
            distance(gif[30].get_pixel(x, y).0, canvas) < 4.0,
            "({x}, {y}): {:?}",
            gif[30].get_pixel(x, y)
        );
    }
    // The captions, in the dark theme's text colour.
    assert!(caption_ink(&gif[30], [220, 220, 220]) > 200);

    let x0: Vec<f64> = match &harness.state().model.scene.data {
        SceneData::Points(p) => p.iter().flatten().copied().collect(),
        SceneData::Image(_) => unreachable!(),
    };
    let schedule = Schedule::new(&ScheduleSpec::new(ScheduleKind::Linear, steps)).unwrap();
    let mut chain = MarkovChain::new(schedule.clone(), x0.clone(), 7);
    let eps: Vec<f64> = closed_form_noise(7, x0.len());
    let left = (PAD, CAPTION_H + PAD, side);
    let right = (2 * PAD + side, CAPTION_H + PAD, side);
    let point_rgb = POINT_RGB;
    for k in [0, 1, 30, 59] {
        let t = frame_t(k, FORWARD_GIF_FRAMES, steps);
        let markov = chain.frame(t);
        let mut closed = vec![0.0; x0.len()];
        q_sample(&schedule, t, &x0, &eps, &mut closed);
        let on = hits(&gif[k], &markov, left, point_rgb);
        assert!(
            on > 0.9,
            "frame {k} (t = {t}): {on:.3} of the Markov chain's points drawn"
        );
        let on = hits(&gif[k], &closed, right, point_rgb);
        assert!(
            on > 0.9,
            "frame {k} (t = {t}): {on:.3} of the closed form's points drawn"
        );
    }
    // The highlighted points' paths are drawn (in the Markov view, a random walk).
    let path_pixels = (CAPTION_H + PAD..CAPTION_H + PAD + side)
        .flat_map(|y| (PAD..PAD + side).map(move |x| (x, y)))
        .filter(|&(x, y)| on_a_path(gif[30].get_pixel(x, y).0))
        .count();
    assert!(path_pixels > 100, "{path_pixels} pixels of paths");
    // The last frame is t = T, not the data: x_0's points mostly land on the canvas there.
    let (wrong, _) = hits_and_hidden(&gif[59], &x0, left, point_rgb);
    assert!(wrong < 0.5, "x_0's points on the t = T frame: {wrong:.3}");

    // The px field keeps the side in its range (egui's DragValue clamps what is typed)…
    harness.state_mut().settings.gif_side = 50;
    harness.run_steps(2);
    assert_eq!(harness.state().settings.gif_side, 160);
    // …and an export asked with a side out of range (the field not on screen to clamp
    // it) is refused with a clear message, and no file is written.
    std::fs::remove_file(&path).unwrap();
    harness.state_mut().settings.show_controls = false;
    harness.run_steps(2);
    harness.state_mut().settings.gif_side = 50;
    harness.state_mut().push(Command::ExportGif(FORWARD_GIF_FRAMES));
    harness.run_steps(2);
    let error = harness.state().model.status.error.clone().unwrap_or_default();
    assert!(
        error.contains("50 px") && error.contains("160 to 1024 px"),
        "{error:?} {:?}",
        harness.state().model.status
    );
    assert!(harness.state().model.export.is_none() && !path.exists());
}

#[test]
fn the_forward_gif_of_a_small_photo_is_the_chain_at_the_chosen_size_in_the_light_theme() {
    let side = 160;
    let settings = Settings {
        source: SourceChoice::Image("astronaut".into()),
        max_side: 32,
        schedule: ScheduleSpec::new(ScheduleKind::Cosine, 50),
        noise_seed: 3,
        theme: ThemeChoice::Light,
        gif_side: side,
        export_dir: scratch("forward-gif-photo"),
        ..Settings::default()
    };
    let mut harness = harness_with(settings);
    step_until(
        &mut harness,
        "the 32-pixel astronaut",
        |app| matches!(&app.model.scene.data, SceneData::Image(img) if img.width == 32),
    );
    let (gif, _) = export(&mut harness);
    let steps = 50;
    // 51 steps: all 60 frames cannot be distinct; the export takes every t once.
    assert_eq!(gif.len(), steps + 1);
    assert_eq!(
        gif[0].dimensions(),
        (2 * side + 3 * PAD, CAPTION_H + side + 2 * PAD)
    );
    assert!(
        distance(gif[10].get_pixel(1, 1).0, [250, 250, 250]) < 4.0,
        "{:?}",
        gif[10].get_pixel(1, 1)
    );
    assert!(caption_ink(&gif[10], [30, 30, 30]) > 200);

    let (x0, (w, h)) = match &harness.state().model.scene.data {
        SceneData::Image(img) => (
            img.pixels.iter().map(|&v| f64::from(v)).collect::<Vec<f64>>(),
            (img.width, img.height),
        ),
        SceneData::Points(_) => unreachable!(),
    };
    assert_eq!((w, h, x0.len()), (32, 32, 32 * 32 * 3));
    let schedule = Schedule::new(&ScheduleSpec::new(ScheduleKind::Cosine, steps)).unwrap();
    let mut chain = MarkovChain::new(schedule.clone(), x0.clone(), 3);
    let eps: Vec<f64> = closed_form_noise(3, x0.len());
    // Each image pixel is a 5×5 block of the panel (160 / 32, nearest pixel); its centre
    // shows round(255·(x + 1)/2), clipped, up to the GIF's 256-colour quantisation (a
    // noisy photo has far more colours: NeuQuant's error is about 12 of 255 on average;
    // the Markov panel against the closed form's values is off by 41 at t = 10, 105 at 50).
    let shown = |img: &image::RgbaImage, left: u32, values: &[f64]| -> f64 {
        let top = CAPTION_H + PAD;
        let mut sum = 0.0;
        for y in 0..h {
            for x in 0..w {
                let c = img.get_pixel(left + 5 * x + 2, top + 5 * y + 2).0;
                for k in 0..3 {
                    let v = values[((y * w + x) * 3 + k) as usize];
                    let want = (255.0 * (v + 1.0) / 2.0).round().clamp(0.0, 255.0);
                    sum += (f64::from(c[k as usize]) - want).abs();
                }
            }
        }
        sum / f64::from(w * h * 3)
    };
    for t in [0, 1, 10, 25, 50] {
        let markov = chain.frame(t);
        let mut closed = vec![0.0; x0.len()];
        q_sample(&schedule, t, &x0, &eps, &mut closed);
        let (l, r) = (
            shown(&gif[t], PAD, &markov),
            shown(&gif[t], 2 * PAD + side, &closed),
        );
        assert!(
            l < 16.0 && r < 16.0,
            "t = {t}: mean error {l:.2} (Markov), {r:.2} (closed form)"
        );
        if t >= 10 {
            // The two views differ (fresh noise each step against one ε), and each panel
            // matches its own view far better than the other's.
            let swapped = shown(&gif[t], PAD, &closed);
            assert!(swapped > 2.0 * l + 5.0, "t = {t}: {swapped:.2} vs {l:.2}");
        }
    }
}
