//! Issue 13: the reverse chain exported as a GIF for slides shows the chain's frames:
//! driven through the window (Sample, then the Reverse tab's GIF button), the GIF's frames
//! are checked against the frames the window stored, point by point.

use std::time::{Duration, Instant};

use diffscope::app::DiffscopeApp;
use diffscope::app::settings::{DenoiserKind, Settings, SourceChoice, Tab};
use diffscope::scene::SceneData;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use image::AnimationDecoder;
use image::codecs::gif::GifDecoder;

use crate::ui::{harness_with, scratch};

/// Steps the app until `done` holds, at most `limit`.
#[track_caller]
fn wait(
    harness: &mut Harness<'_, DiffscopeApp>,
    what: &str,
    limit: Duration,
    done: impl Fn(&DiffscopeApp) -> bool,
) {
    let start = Instant::now();
    while !done(harness.state()) {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        harness.run_steps(1);
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The fraction of `points` whose pixel in the panel at `(left, top)` of side `side` (view
/// `[-3.5, 3.5]²`) is within 60 (Euclidean, RGB) of `rgb`.
fn hits(img: &image::RgbaImage, points: &[f32], (left, top, side): (f64, f64, f64), rgb: [u8; 3]) -> f64 {
    let e = 3.5;
    let mut inside = 0;
    let mut hit = 0;
    for p in points.chunks_exact(2) {
        let (x, y) = (f64::from(p[0]), f64::from(p[1]));
        if x.abs() >= e || y.abs() >= e {
            continue;
        }
        inside += 1;
        let px = (left + (x + e) / (2.0 * e) * side) as u32;
        let py = (top + (e - y) / (2.0 * e) * side) as u32;
        let c = img.get_pixel(px, py).0;
        let d: f64 = (0..3)
            .map(|k| (f64::from(c[k]) - f64::from(rgb[k])).powi(2))
            .sum::<f64>()
            .sqrt();
        hit += usize::from(d < 60.0);
    }
    hit as f64 / f64::from(inside.max(1))
}

#[test]
fn the_reverse_chain_gif_shows_the_frames_of_the_chain_on_screen() {
    let dir = scratch("reverse-gif");
    let mut settings = Settings {
        source: SourceChoice::Dataset("two-moons".into()),
        tab: Tab::Reverse,
        export_dir: dir.clone(),
        ..Settings::default()
    };
    settings.reverse.denoiser = DenoiserKind::Ideal;
    settings.reverse.n_points = 300;
    settings.reverse.max_speed = true;
    let mut harness = harness_with(settings);
    wait(&mut harness, "two moons", Duration::from_secs(20), |app| {
        matches!(app.model.scene.data, SceneData::Points(_))
    });
    harness.get_by_label("Sample").click();
    wait(
        &mut harness,
        "the chain to reach t = 0",
        Duration::from_mins(5),
        |app| app.model.learning.chain.as_ref().is_some_and(|c| c.done),
    );
    harness.get_by_label("chain GIF").click();
    harness.run_steps(2);
    wait(&mut harness, "the GIF", Duration::from_mins(5), |app| {
        app.model.export.is_none()
    });
    let info = harness.state().model.status.info.clone().unwrap_or_default();
    let path = std::path::PathBuf::from(info.strip_prefix("saved ").unwrap_or_else(|| {
        panic!(
            "status: {info:?}; error: {:?}",
            harness.state().model.status.error
        )
    }));
    assert_eq!(path.parent(), Some(dir.as_path()), "written to the export folder");
    assert_eq!(path.extension().and_then(|e| e.to_str()), Some("gif"));
    let gif = decode_gif(&path);

    let frames = &harness.state().model.learning.chain.as_ref().unwrap().frames;
    let n = frames.len();
    // At most 100 frames, evenly spaced over the stored ones, then the last held for 20.
    let m = n.min(100);
    assert_eq!(gif.len(), m + 20, "{n} frames stored");
    // Two 320-pixel panels, 8 pixels apart and around, under an 18-pixel caption and 8 more.
    assert_eq!(gif[0].dimensions(), (2 * 320 + 3 * 8, 18 + 8 + 320 + 2 * 8));
    let left = (8.0, 34.0, 320.0);
    let right = (8.0 + 320.0 + 8.0, 34.0, 320.0);
    let sample_rgb = [100, 181, 246];
    let x0_hat_rgb = [255, 183, 77];
    for k in [0, m / 2, m - 1] {
        let i = ((k * (n - 1)) as f64 / (m - 1) as f64).round() as usize;
        let on = hits(&gif[k], &frames[i].x, left, sample_rgb);
        assert!(
            on > 0.9,
            "GIF frame {k} (stored {i}, t = {}): {on:.3} of its points drawn",
            frames[i].t
        );
        let x0_on = hits(&gif[k], &frames[i].x0_hat, right, x0_hat_rgb);
        assert!(x0_on > 0.9, "GIF frame {k}: {x0_on:.3} of x̂_0 drawn");
    }
    // The last frame is t = 0, not x_T: x_T's points mostly land on the canvas there.
    assert_eq!(frames[n - 1].t, 0);
    let wrong = hits(&gif[m - 1], &frames[0].x, left, sample_rgb);
    assert!(wrong < 0.5, "x_T's points on the t = 0 frame: {wrong:.3}");
    for held in &gif[m..] {
        assert_eq!(
            held.as_raw(),
            gif[m - 1].as_raw(),
            "the held frames repeat the last"
        );
    }
}

/// Every frame of the GIF at `path`, as RGBA pictures.
pub(crate) fn decode_gif(path: &std::path::Path) -> Vec<image::RgbaImage> {
    let decoder = GifDecoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap())).unwrap();
    decoder
        .into_frames()
        .collect_frames()
        .unwrap()
        .into_iter()
        .map(image::Frame::into_buffer)
        .collect()
}
