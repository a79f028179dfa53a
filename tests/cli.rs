//! The command line as a user runs it: the real binary, its output files, its errors.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn diffscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_diffscope"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// Asserts the command failed with exit code 2 and exactly one stderr line, and returns it.
#[track_caller]
fn one_error_line(o: &Output) -> String {
    let err = String::from_utf8(o.stderr.clone()).unwrap();
    assert_eq!(o.status.code(), Some(2), "exit code; stderr: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    lines[0].to_owned()
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Pearson's correlation of two equally long series.
fn correlation(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// The `w × h` pixels of `img` from (`x`, `y`), every channel, as values in `[−1, 1]`
/// (the inverse of `value_to_u8`), row by row.
fn values_of(img: &image::RgbImage, x: u32, y: u32, w: u32, h: u32) -> Vec<f64> {
    let mut out = Vec::with_capacity((w * h * 3) as usize);
    for row in y..y + h {
        for col in x..x + w {
            out.extend(
                img.get_pixel(col, row)
                    .0
                    .iter()
                    .map(|&v| f64::from(v) / 127.5 - 1.0),
            );
        }
    }
    out
}

/// What a region of a picture of `N(0, 1)` noise mapped to bytes (`round(127.5 (x + 1))`,
/// clipped) looks like, checked on `values` (from [`values_of`]: rows of `width` values,
/// neighbouring pixels `step` values apart): the fraction of bytes within `slack` of 0 or
/// 255 is `2Φ(−1 + (slack + ½)/127.5)` (0.31921 for 0, 0.33078 for 3: a GIF's palette
/// may move a level or two); the mean is 0; neighbours are uncorrelated; and it is
/// uncorrelated with `photo`. Each to five standard errors of n independent values:
/// √(p(1 − p)/n) for the fraction, the values' SD (0.72 for clipped N(0, 1)) over √n for
/// the mean, 1/√n for a correlation. (scipy: `2*norm.cdf(-1 + (k + 0.5)/127.5)`.)
#[track_caller]
fn assert_looks_like_noise(values: &[f64], width: usize, step: usize, photo: &[f64], slack: u8, what: &str) {
    let n = values.len() as f64;
    let edge = 1.0 - f64::from(slack) / 127.5 - 1e-9;
    let clipped = values.iter().filter(|v| v.abs() >= edge).count() as f64 / n;
    let p = match slack {
        0 => 0.319_212_038_652_742_5,
        3 => 0.330_777_490_636_837_9,
        _ => unreachable!("no reference for slack {slack}"),
    };
    assert!(
        (clipped - p).abs() < 5.0 * (p * (1.0 - p) / n).sqrt(),
        "{what}: {clipped:.4} of the values at the ends, noise has {p:.4}"
    );
    let mean = values.iter().sum::<f64>() / n;
    assert!(mean.abs() < 5.0 * 0.72 / n.sqrt(), "{what}: mean {mean}");
    let (left, right): (Vec<f64>, Vec<f64>) = values
        .chunks_exact(width)
        .flat_map(|row| row.iter().zip(&row[step..]).map(|(a, b)| (*a, *b)))
        .unzip();
    let lag = correlation(&left, &right);
    assert!(
        lag.abs() < 5.0 / (left.len() as f64).sqrt(),
        "{what}: neighbouring pixels correlate {lag:.4} (a picture's do, noise's do not)"
    );
    let r = correlation(values, photo);
    assert!(
        r.abs() < 5.0 / n.sqrt(),
        "{what}: correlation {r:.4} with the photo"
    );
}

/// The distance from `p` to the nearest of `data`.
fn nearest_distance(p: [f64; 2], data: &[[f64; 2]]) -> f64 {
    data.iter()
        .map(|q| (p[0] - q[0]).hypot(p[1] - q[1]))
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn schedule_csv_has_the_reference_values() {
    let o = diffscope(&[
        "schedule",
        "--schedule",
        "cosine",
        "--steps",
        "1000",
        "--csv",
        "-",
    ]);
    assert!(o.status.success());
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "t,alpha,beta,alpha_bar,log_snr,posterior_variance");
    assert_eq!(lines.len(), 1001);
    let field = |t: usize, col: usize| -> f64 { lines[t].split(',').nth(col).unwrap().parse().unwrap() };
    assert_eq!(field(500, 0), 500.0);
    // MATH.md: cosine ᾱ_500 = 0.49384, ᾱ_T = 2.4288e-9.
    assert!((field(500, 3) - 0.49384).abs() < 1e-5);
    assert!((field(1000, 3) / 2.4288e-9 - 1.0).abs() < 1e-4);
    assert_eq!(field(1000, 2), 0.999);
    // Every number round-trips exactly: the file holds what the library computed.
    let s = diffscope::diffusion::Schedule::new(&diffscope::diffusion::ScheduleSpec::new(
        diffscope::diffusion::ScheduleKind::Cosine,
        1000,
    ))
    .unwrap();
    for t in [1, 2, 77, 500, 999, 1000] {
        assert_eq!(field(t, 3), s.alpha_bar(t));
        assert_eq!(field(t, 4), s.log_snr(t));
        assert_eq!(field(t, 5), s.posterior_variance(t));
    }
}

#[test]
fn schedule_csv_to_a_file_equals_stdout_and_writes_minus_inf() {
    let dir = scratch("schedule_file");
    let file = dir.join("linear.csv");
    let args = [
        "schedule",
        "--schedule",
        "linear",
        "--steps",
        "50",
        "--zero-terminal-snr",
    ];
    let o = diffscope(&[&args[..], &["--csv", path_str(&file)]].concat());
    assert!(o.status.success());
    let from_file = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        from_file,
        stdout(&diffscope(&[&args[..], &["--csv", "-"]].concat()))
    );
    let last = from_file.lines().last().unwrap();
    assert!(last.starts_with("50,0.0,1.0,0.0,-inf,"), "{last}");
}

#[test]
fn schedule_errors_are_one_clear_line() {
    let e = one_error_line(&diffscope(&["schedule", "--schedule", "foo", "--csv", "-"]));
    assert!(
        e.contains("'foo'") && e.contains("linear, cosine, quadratic, sigmoid, constant"),
        "{e}"
    );
    let e = one_error_line(&diffscope(&["schedule", "--steps", "1", "--csv", "-"]));
    assert_eq!(e, "error: the number of steps T must be in 2..=100000, got 1");
    let e = one_error_line(&diffscope(&["schedule", "--steps", "100001", "--csv", "-"]));
    assert!(e.contains("got 100001"), "{e}");
    let e = one_error_line(&diffscope(&["schedule", "--beta-start", "0", "--csv", "-"]));
    assert_eq!(e, "error: beta-start must be in (0, 1), got 0");
    let e = one_error_line(&diffscope(&[
        "schedule",
        "--schedule",
        "constant",
        "--beta",
        "1.5",
        "--csv",
        "-",
    ]));
    assert_eq!(e, "error: beta must be in (0, 1), got 1.5");
    let e = one_error_line(&diffscope(&["schedule", "--steps", "ten", "--csv", "-"]));
    assert!(e.contains("'ten'"), "{e}");
    let e = one_error_line(&diffscope(&["schedule", "--csv", "/nonexistent/dir/x.csv"]));
    assert!(e.contains("/nonexistent/dir/x.csv"), "{e}");
}

#[test]
fn data_writes_standardised_points() {
    let o = diffscope(&[
        "data",
        "--dataset",
        "two-moons",
        "--n",
        "500",
        "--seed",
        "3",
        "--csv",
        "-",
    ]);
    assert!(o.status.success());
    let text = stdout(&o);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("x,y"));
    let points: Vec<[f64; 2]> = lines
        .map(|l| {
            let (x, y) = l.split_once(',').unwrap();
            [x.parse().unwrap(), y.parse().unwrap()]
        })
        .collect();
    assert_eq!(points.len(), 500);
    for c in 0..2 {
        let mean = points.iter().map(|p| p[c]).sum::<f64>() / 500.0;
        let var = points.iter().map(|p| (p[c] - mean).powi(2)).sum::<f64>() / 500.0;
        assert!(
            mean.abs() < 1e-9 && (var.sqrt() - 1.0).abs() < 1e-9,
            "coord {c}: {mean} {var}"
        );
    }
    // The same seed gives the same points, and they match the library.
    assert_eq!(
        text,
        stdout(&diffscope(&[
            "data",
            "--dataset",
            "moons",
            "--n",
            "500",
            "--seed",
            "3",
            "--csv",
            "-"
        ]))
    );
    let lib = diffscope::data::generate(diffscope::data::Dataset::TwoMoons, 500, 3);
    assert_eq!(points, lib);
    let e = one_error_line(&diffscope(&["data", "--dataset", "blobs", "--csv", "-"]));
    assert!(e.contains("two-moons") && e.contains("spiral"), "{e}");
}

#[test]
fn render_forward_writes_a_strip_of_the_astronaut() {
    let dir = scratch("render");
    let strip = dir.join("astronaut.png");
    let o = diffscope(&[
        "render",
        "forward",
        "--image",
        "astronaut",
        "--schedule",
        "cosine",
        "--steps",
        "1000",
        "--at",
        "0,100,250,500,1000",
        "--out",
        path_str(&strip),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let img = image::open(&strip).unwrap().to_rgb8();
    // Five 512-pixel tiles, side by side, with gaps and margins, and labels below.
    assert!(
        img.width() > 5 * 512 && img.width() < 5 * 512 + 100,
        "width {}",
        img.width()
    );
    assert!(
        img.height() > 512 && img.height() < 512 + 120,
        "height {}",
        img.height()
    );
    // The first tile is the photo itself, every pixel; the others fade into noise: their
    // correlation with the photo falls, and the last (t = T, √ᾱ_T = 4.9e-5) is noise.
    let (m, g) = (diffscope::export::MARGIN_PX, diffscope::export::GAP_PX);
    let x0 = image::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/images/astronaut.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(x0.dimensions(), (512, 512));
    let tile = |i: u32| values_of(&img, m + i * (512 + g), m, 512, 512);
    let photo = values_of(&x0, 0, 0, 512, 512);
    assert_eq!(tile(0), photo, "the t = 0 tile is the photo");
    let r: Vec<f64> = (1..5).map(|i| correlation(&tile(i), &photo)).collect();
    assert!(
        r[0] > 0.9 && r.windows(2).all(|w| w[0] > w[1] + 0.05),
        "correlations with the photo at t = 100, 250, 500: {r:?}"
    );
    assert_looks_like_noise(&tile(4), 3 * 512, 3, &photo, 0, "the t = 1000 tile");
    // The margin and the gaps between tiles are white paper.
    for x in [0, m - 1, m + 512, m + 512 + g - 1] {
        assert_eq!(img.get_pixel(x, m + 100).0, [255; 3], "paper at x = {x}");
    }
}

#[test]
fn render_forward_writes_a_strip_of_two_moons() {
    let dir = scratch("render-moons");
    let (m, g) = (diffscope::export::MARGIN_PX, diffscope::export::GAP_PX);
    // Two moons, the Markov chain: 1000 points of `--data-seed 0` in 320-pixel scatter
    // tiles showing [−3.5, 3.5]², x_t in blue over x_0 in grey. At t = 0 the blue points
    // sit on the data and hide them; at t = T they are N(0, I), mostly off the moons, and
    // the grey data show.
    let moons = dir.join("moons.png");
    let o = diffscope(&[
        "render",
        "forward",
        "--dataset",
        "two-moons",
        "--markov",
        "--out",
        path_str(&moons),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let img = image::open(&moons).unwrap().to_rgb8();
    assert_eq!(img.width(), 5 * 320 + 4 * g + 2 * m);
    let data = diffscope::data::generate(diffscope::data::Dataset::TwoMoons, 1000, 0);
    let px_per_unit = 320.0 / 7.0;
    // Pixels of tile i that are the points' blue (B well above R) and the data's grey,
    // the blue ones as the data coordinates of their centres.
    let tile_points = |i: u32| {
        let (mut blue, mut grey) = (Vec::new(), 0usize);
        for y in 0..320 {
            for x in 0..320 {
                let [r, _, b] = img.get_pixel(m + i * (320 + g) + x, m + y).0;
                if i32::from(b) - i32::from(r) > 60 {
                    blue.push([
                        (f64::from(x) + 0.5) / px_per_unit - 3.5,
                        3.5 - (f64::from(y) + 0.5) / px_per_unit,
                    ]);
                } else if img.get_pixel(m + i * (320 + g) + x, m + y).0 == [205; 3] {
                    grey += 1;
                }
            }
        }
        (blue, grey)
    };
    let (first, first_grey) = tile_points(0);
    let (last, last_grey) = tile_points(4);
    // A disc of radius 1.6 px covers pixel centres up to 2.1 px away: 0.046 data units.
    let near = |pts: &[[f64; 2]]| {
        pts.iter().filter(|p| nearest_distance(**p, &data) < 0.05).count() as f64 / pts.len() as f64
    };
    assert!(
        first.len() > 1000 && last.len() > 1000,
        "blue pixels: {} and {}",
        first.len(),
        last.len()
    );
    assert_eq!(near(&first), 1.0, "at t = 0 every blue pixel is on a data point");
    assert!(
        first_grey == 0,
        "{first_grey} grey pixels at t = 0: the points do not cover the data"
    );
    let off = 1.0 - near(&last);
    assert!(
        off > 0.5 && last_grey > 1000,
        "at t = T {off:.2} of the blue pixels are off the data, {last_grey} grey pixels show"
    );
}

#[test]
fn render_forward_writes_a_gif_with_the_asked_frames() {
    use image::AnimationDecoder;
    let dir = scratch("gif");
    let gif = dir.join("camera.gif");
    let o = diffscope(&[
        "render",
        "forward",
        "--image",
        "camera",
        "--max-side",
        "64",
        "--steps",
        "100",
        "--gif",
        path_str(&gif),
        "--frames",
        "7",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The reduction is reported on stderr.
    assert!(String::from_utf8_lossy(&o.stderr).contains("reduced from 512 × 512 to 64 × 64"));
    let file = std::io::BufReader::new(std::fs::File::open(&gif).unwrap());
    let frames = image::codecs::gif::GifDecoder::new(file)
        .unwrap()
        .into_frames()
        .collect_frames()
        .unwrap();
    assert_eq!(frames.len(), 7);
    assert_eq!(frames[0].buffer().dimensions(), (64, 64));
    // Frame i is t = round(100 i/6): the camera (reduced by the library's loader, as the
    // command does) fading into noise. Rows from 30 on, below the "t = …" label; the GIF
    // palette is 256 colours, so the first frame is the photo to a few levels.
    let camera = diffscope::data::load_image(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/images/camera.png"),
        64,
    )
    .unwrap();
    let photo_px = diffscope::export::image_to_rgb(&camera.pixels, 64, 64, camera.channels);
    // Grey: one channel of each pixel (the three are equal).
    let grey = |img: &image::RgbImage| -> Vec<f64> {
        values_of(img, 0, 30, 64, 34).into_iter().step_by(3).collect()
    };
    let photo = grey(&photo_px);
    let shown: Vec<Vec<f64>> = frames
        .iter()
        .map(|f| grey(&image::DynamicImage::ImageRgba8(f.buffer().clone()).to_rgb8()))
        .collect();
    let worst = shown[0]
        .iter()
        .zip(&photo)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst <= 4.0 / 127.5, "frame 0 is {worst} from the photo");
    let r: Vec<f64> = shown.iter().map(|f| correlation(f, &photo)).collect();
    assert!(
        r.windows(2).all(|w| w[0] > w[1]),
        "correlation with the photo, frame by frame: {r:?}"
    );
    assert_looks_like_noise(&shown[6], 64, 1, &photo, 3, "the t = 100 frame");
}

#[test]
fn bad_input_files_give_one_clear_error_line() {
    let dir = scratch("bad_input");
    let render = |flag: &str, file: &Path| {
        let out = dir.join("out.png");
        diffscope(&["render", "forward", flag, path_str(file), "--out", path_str(&out)])
    };
    // A corrupt PNG: the signature, then garbage.
    let corrupt = dir.join("corrupt.png");
    std::fs::write(&corrupt, b"\x89PNG\r\n\x1a\n this is not a png at all").unwrap();
    let e = one_error_line(&render("--image", &corrupt));
    assert!(
        e.starts_with(&format!("error: cannot read image '{}': ", corrupt.display())),
        "{e}"
    );
    // A truncated PNG: the first 3000 bytes of the real astronaut.
    let truncated = dir.join("truncated.png");
    let real =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/images/astronaut.png")).unwrap();
    std::fs::write(&truncated, &real[..3000]).unwrap();
    let e = one_error_line(&render("--image", &truncated));
    assert!(
        e.starts_with(&format!("error: cannot read image '{}': ", truncated.display())),
        "{e}"
    );
    // Empty, missing, and not an image.
    let empty = dir.join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    assert!(one_error_line(&render("--image", &empty)).contains("empty.png"));
    assert!(one_error_line(&render("--image", &dir.join("missing.png"))).contains("missing.png"));
    let text = dir.join("notes.png");
    std::fs::write(&text, "hello").unwrap();
    assert!(one_error_line(&render("--image", &text)).contains("notes.png"));

    // A CSV with a non-numeric field on line 17 (a header, then 15 good rows).
    let csv = dir.join("points.csv");
    let mut body = String::from("x,y\n");
    for i in 0..15 {
        writeln!(body, "{i},{}", i * 2).unwrap();
    }
    body += "1.5,abc\n";
    std::fs::write(&csv, &body).unwrap();
    let e = one_error_line(&render("--points", &csv));
    assert!(e.contains("points.csv line 17") && e.contains("abc"), "{e}");
    std::fs::write(&csv, "1,2\n3,NaN\n").unwrap();
    let e = one_error_line(&render("--points", &csv));
    assert!(e.contains("points.csv line 2") && e.contains("NaN"), "{e}");
    std::fs::write(&csv, "1,2\ninf,3\n").unwrap();
    let e = one_error_line(&render("--points", &csv));
    assert!(e.contains("points.csv line 2") && e.contains("infinite"), "{e}");
}

#[test]
fn render_argument_errors_are_one_line() {
    let e = one_error_line(&diffscope(&[
        "render",
        "forward",
        "--dataset",
        "spiral",
        "--at",
        "5,2000",
        "--out",
        "x.png",
    ]));
    assert_eq!(e, "error: --at 2000 is beyond T = 1000");
    let e = one_error_line(&diffscope(&["render", "forward", "--out", "x.png"]));
    assert!(
        e.contains("--image") && e.contains("--dataset") && e.contains("--points"),
        "{e}"
    );
    let e = one_error_line(&diffscope(&[
        "render",
        "forward",
        "--dataset",
        "spiral",
        "--image",
        "camera",
        "--out",
        "x.png",
    ]));
    assert!(e.contains("cannot be used with"), "{e}");
}

#[test]
fn help_is_there_for_every_command() {
    // (Without a command diffscope opens its window: see the window tests.)
    for cmd in [
        &["--help"][..],
        &["schedule", "--help"],
        &["render", "--help"],
        &["render", "forward", "--help"],
        &["data", "--help"],
    ] {
        let o = diffscope(cmd);
        assert!(o.status.success(), "{cmd:?}");
        assert!(stdout(&o).contains("Usage:"), "{cmd:?}");
    }
}

/// The samples are circles, not the N(0, I) the chain starts from (what an untrained
/// model, or a chain that did not run, would give). Against a fresh draw of the data
/// (2000 points, another seed than training's): the median distance of a sample to its
/// nearest data point is under half that of 300 draws of N(0, I), and more samples lie
/// within 0.05 of the data. Medians and fractions, not means: DDIM's first step divides
/// ε̂'s error by √ᾱ_T (ᾱ_50 = 4.5e-5 here), and a few samples of a model trained for
/// seconds land far out (1 of 300 beyond ±4 at 3000 iterations, 8 at 200, up to |x| =
/// 722: the caller allows 5 % beyond ±4). Measured: median 0.052 against 0.161 for N(0, I); within 0.05: 0.48
/// against 0.20. (At 200 iterations the samples were barely better than noise: 0.140,
/// 0.31; the sliced W2 distance does not tell circles from N(0, I) at n = 300 — both
/// have unit variance — so it is not used.)
#[track_caller]
fn assert_samples_are_circles(values: &[f64]) {
    let samples: Vec<[f64; 2]> = values.chunks_exact(2).map(|p| [p[0], p[1]]).collect();
    let data = diffscope::data::generate(diffscope::data::Dataset::Circles, 2000, 99);
    let noise_draw = |seed: u64| -> Vec<[f64; 2]> {
        (0..300u64)
            .map(|i| {
                [
                    diffscope::diffusion::noise::normal(seed, 0, 2 * i),
                    diffscope::diffusion::noise::normal(seed, 0, 2 * i + 1),
                ]
            })
            .collect()
    };
    let noise = noise_draw(5);
    let nearest = |points: &[[f64; 2]]| {
        let mut d: Vec<f64> = points.iter().map(|p| nearest_distance(*p, &data)).collect();
        d.sort_by(f64::total_cmp);
        let close = d.iter().filter(|&&x| x < 0.05).count() as f64 / d.len() as f64;
        (d[d.len() / 2], close)
    };
    let (median_noise, close_noise) = nearest(&noise);
    let like_the_data =
        |(median, close): (f64, f64)| median < 0.5 * median_noise && close > close_noise + 0.15;
    // The check tells noise apart: another draw of N(0, I) fails it.
    assert!(
        !like_the_data(nearest(&noise_draw(6))),
        "N(0, I) passes for circles"
    );
    let (median_samples, close_samples) = nearest(&samples);
    assert!(
        like_the_data((median_samples, close_samples)),
        "median distance to the data: samples {median_samples:.4}, N(0, I) {median_noise:.4}; \
         within 0.05 of it: samples {close_samples:.3}, N(0, I) {close_noise:.3}"
    );
}

/// `train --init W` continues a run: the file written sums the iterations and joins the
/// commands; weights of another schedule, data or architecture are refused by name.
#[test]
fn train_init_continues_a_run_and_refuses_another_kind() {
    let dir = scratch("train-init");
    let first = dir.join("a.safetensors");
    let second = dir.join("b.safetensors");
    let train = |width: &str, extra: &[&str], out: &Path| {
        let mut args = vec![
            "train",
            "--dataset",
            "moons",
            "--steps",
            "50",
            "--iters",
            "200",
            "--batch",
            "32",
            "--width",
            width,
            "--blocks",
            "1",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--out", path_str(out)]);
        diffscope(&args)
    };
    let o = train("16", &["--seed", "1"], &first);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = train("16", &["--seed", "2", "--init", path_str(&first)], &second);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a = diffscope::model::io::load(&first).unwrap();
    let b = diffscope::model::io::load(&second).unwrap();
    assert_eq!(b.info.iterations, 400);
    assert!(
        b.info.command.starts_with(&a.info.command)
            && b.info.command.contains(" && diffscope train --dataset moons")
            && b.info.command.ends_with(path_str(&second)),
        "{}",
        b.info.command
    );
    assert_ne!(a.network.params(), b.network.params());

    let refused = |width: &str, extra: &[&str], what: &str| {
        let mut args = vec!["--init", path_str(&first)];
        args.extend_from_slice(extra);
        let out = dir.join("refused.safetensors");
        let o = train(width, &args, &out);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(what), "{extra:?}: {err}");
        assert!(!out.exists(), "{extra:?} wrote weights");
    };
    refused(
        "16",
        &["--schedule", "cosine"],
        "was trained on two-moons with linear",
    );
    refused("32", &[], "but this data and these options train");
}

#[test]
fn train_then_sample_writes_points_from_the_learned_chain() {
    let dir = scratch("train-sample");
    let weights = dir.join("w.safetensors");
    let o = diffscope(&[
        "train",
        "--dataset",
        "circles",
        "--steps",
        "50",
        "--iters",
        "3000",
        "--batch",
        "64",
        "--width",
        "32",
        "--blocks",
        "1",
        "--seed",
        "4",
        "--out",
        path_str(&weights),
    ]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("validation loss") && err.contains("noise floor"),
        "{err}"
    );
    let model = diffscope::model::io::load(&weights).unwrap();
    assert_eq!(model.info.iterations, 3000);
    assert_eq!(model.info.schedule.steps, 50);
    assert!(
        model
            .info
            .command
            .starts_with("diffscope train --dataset circles"),
        "{}",
        model.info.command
    );

    let csv = dir.join("s.csv");
    let o = diffscope(&[
        "sample",
        "--weights",
        path_str(&weights),
        "--n",
        "300",
        "--sampler",
        "ddim",
        "--ddim-steps",
        "10",
        "--out",
        path_str(&csv),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows[0], "x,y");
    assert_eq!(rows.len(), 301);
    let values: Vec<f64> = rows[1..]
        .iter()
        .flat_map(|r| r.split(',').map(|v| v.parse::<f64>().unwrap()))
        .collect();
    assert!(values.iter().all(|v| v.is_finite()));
    assert_samples_are_circles(&values);
    // Same seed, same samples.
    let again = dir.join("s2.csv");
    let o = diffscope(&[
        "sample",
        "--weights",
        path_str(&weights),
        "--n",
        "300",
        "--sampler",
        "ddim",
        "--ddim-steps",
        "10",
        "--out",
        path_str(&again),
    ]);
    assert!(o.status.success());
    assert_eq!(std::fs::read_to_string(&again).unwrap(), text);
}

/// `--variance beta-tilde` (the older spelling) and `--sampler ddpm-posterior` are one
/// sampler, and not the `σ² = β_t` one.
#[test]
fn sample_ddpm_posterior_has_two_spellings() {
    let dir = scratch("posterior");
    let run = |name: &str, args: &[&str]| -> String {
        let out = dir.join(name);
        let mut all = vec!["sample", "--weights", "two-moons", "--n", "40", "--seed", "3"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--out", path_str(&out)]);
        let o = diffscope(&all);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read_to_string(&out).unwrap()
    };
    let old = run("old.csv", &["--sampler", "ddpm", "--variance", "beta-tilde"]);
    let new = run("new.csv", &["--sampler", "ddpm-posterior"]);
    let beta = run("beta.csv", &["--sampler", "ddpm"]);
    assert_eq!(old.lines().count(), 41);
    assert_eq!(old, new);
    assert_ne!(old, beta);
}

#[test]
fn sample_writes_a_grid_of_shipped_digits() {
    let dir = scratch("digits");
    let png = dir.join("d.png");
    let o = diffscope(&[
        "sample",
        "--weights",
        "digits",
        "--n",
        "9",
        "--sampler",
        "ddim",
        "--ddim-steps",
        "20",
        "--out",
        path_str(&png),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let img = image::open(&png).unwrap().to_rgb8();
    // Three by three cells of 8×8 digits scaled 8×, 8 pixels apart, in a margin of 8.
    assert_eq!(img.dimensions(), (8 + 3 * 64 + 2 * 8 + 8, 8 + 3 * 64 + 2 * 8 + 8));
    // Each cell is an 8×8 picture scaled up (each 8×8 block one grey); read them back.
    let cells: Vec<Vec<u8>> = (0..9u32)
        .map(|k| {
            let (left, top) = (8 + (k % 3) * 72, 8 + (k / 3) * 72);
            let mut cell = Vec::with_capacity(64);
            for by in 0..8 {
                for bx in 0..8 {
                    let v = img.get_pixel(left + 8 * bx, top + 8 * by).0;
                    assert!(v[0] == v[1] && v[1] == v[2], "cell {k}: grey pixels");
                    for dy in 0..8 {
                        for dx in 0..8 {
                            assert_eq!(
                                img.get_pixel(left + 8 * bx + dx, top + 8 * by + dy).0,
                                v,
                                "cell {k}: 8×8 blocks"
                            );
                        }
                    }
                    cell.push(v[0]);
                }
            }
            cell
        })
        .collect();
    // They look like the digits, not like the noise they start from: the digits' ink
    // is sparse (a dark background, value −1 → byte 0), so many pixels are near black and
    // the mean is low; bytes of clipped N(0, 1) noise are near black (≤ 16) with
    // probability Φ(−1 + 16.5/127.5) = 0.19 and average 127.5. The data's own numbers are
    // computed here from the digits the model was trained on. Measured: 0.49 of the
    // sampled pixels near black (data 0.52), mean byte 75 (data 78).
    let dark = |px: &[u8]| px.iter().filter(|&&v| v <= 16).count() as f64 / px.len() as f64;
    let mean = |px: &[u8]| px.iter().map(|&v| f64::from(v)).sum::<f64>() / px.len() as f64;
    let data = diffscope::data::digits().unwrap();
    let data_px: Vec<u8> = data
        .images
        .iter()
        .flatten()
        .map(|&v| diffscope::export::value_to_u8(v))
        .collect();
    let all: Vec<u8> = cells.concat();
    let (dark_samples, dark_data) = (dark(&all), dark(&data_px));
    let (mean_samples, mean_data) = (mean(&all), mean(&data_px));
    assert!(
        dark_samples > 0.35
            && (dark_samples - dark_data).abs() < 0.15
            && (mean_samples - mean_data).abs() < 25.0,
        "near-black fraction: samples {dark_samples:.3}, data {dark_data:.3}, noise 0.19; \
         mean byte: samples {mean_samples:.1}, data {mean_data:.1}, noise 127.5"
    );
    // Nine different samples.
    for i in 0..9 {
        for j in i + 1..9 {
            assert_ne!(cells[i], cells[j], "cells {i} and {j} are the same picture");
        }
    }
    // Laid out by export::grid: white margin and gaps.
    for (x, y) in [(0, 0), (7, 100), (8 + 64 + 3, 100), (223, 223)] {
        assert_eq!(img.get_pixel(x, y).0, [255, 255, 255], "({x}, {y})");
    }
}

/// `.csv` for images (what `scripts/digits_quality.py` reads): a header, one image per row,
/// the very values the `.png` of the same run draws.
#[test]
fn sample_writes_image_values_as_csv() {
    let dir = scratch("digits-csv");
    let run = |out: &Path| {
        let o = diffscope(&[
            "sample",
            "--weights",
            "digits",
            "--n",
            "4",
            "--seed",
            "2",
            "--sampler",
            "ddim",
            "--ddim-steps",
            "10",
            "--out",
            path_str(out),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let (csv, png) = (dir.join("d.csv"), dir.join("d.png"));
    run(&csv);
    run(&png);
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    // The shipped digits model is class-conditional: each sample's class first.
    assert_eq!(header.len(), 65);
    assert_eq!((header[0], header[1], header[64]), ("label", "p0", "p63"));
    let rows: Vec<Vec<f32>> = lines
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 4);
    let img = image::open(&png).unwrap().to_rgb8();
    // 2 × 2 cells of 64 px, 8 px apart, in a margin of 8 (as sample_writes_a_grid_…).
    for (k, row) in rows.iter().enumerate() {
        assert_eq!(row.len(), 65);
        assert!(
            row[0] >= 0.0 && row[0] <= 9.0 && row[0].fract() == 0.0,
            "label {}",
            row[0]
        );
        let row = &row[1..];
        let (left, top) = (8 + (k as u32 % 2) * 72, 8 + (k as u32 / 2) * 72);
        for (p, &v) in row.iter().enumerate() {
            // The last step lands on the clipped x̂_0 (to rounding).
            assert!(v.abs() <= 1.0 + 1e-5, "image {k} pixel {p}: {v}");
            let px = img
                .get_pixel(left + 8 * (p as u32 % 8), top + 8 * (p as u32 / 8))
                .0;
            assert_eq!(px[0], diffscope::export::value_to_u8(v), "image {k} pixel {p}");
        }
    }
}

#[test]
fn model_commands_refuse_bad_input_in_one_line() {
    let dir = scratch("model-errors");
    let junk = dir.join("junk.safetensors");
    std::fs::write(&junk, b"not a model").unwrap();
    let out = dir.join("x.csv");
    let e = one_error_line(&diffscope(&[
        "sample",
        "--weights",
        path_str(&junk),
        "--out",
        path_str(&out),
    ]));
    assert!(
        e.contains("junk.safetensors") && e.contains("not a valid safetensors file"),
        "{e}"
    );
    let e = one_error_line(&diffscope(&[
        "sample",
        "--weights",
        "no-such-model",
        "--out",
        path_str(&out),
    ]));
    assert!(e.contains("no-such-model") && e.contains("cannot read"), "{e}");
    let e = one_error_line(&diffscope(&[
        "sample",
        "--weights",
        "two-moons",
        "--out",
        path_str(&dir.join("x.png")),
    ]));
    assert!(e.contains(".csv"), "{e}");
    let e = one_error_line(&diffscope(&[
        "sample",
        "--weights",
        "two-moons",
        "--sampler",
        "ddim",
        "--eta",
        "1.5",
        "--out",
        path_str(&out),
    ]));
    assert!(e.contains("--eta"), "{e}");
    let e = one_error_line(&diffscope(&[
        "train",
        "--dataset",
        "two-moons",
        "--lr=-1",
        "--iters",
        "5",
        "--out",
        path_str(&dir.join("w")),
    ]));
    assert!(e.contains("learning rate -1 must be positive"), "{e}");
    let e = one_error_line(&diffscope(&[
        "train",
        "--dataset",
        "two-moons",
        "--digits",
        "--out",
        "w",
    ]));
    assert!(e.contains("cannot be used with"), "{e}");
    let bad_csv = dir.join("bad.csv");
    std::fs::write(&bad_csv, "x,y\n1,2\n3,oops\n").unwrap();
    let e = one_error_line(&diffscope(&[
        "train",
        "--points",
        path_str(&bad_csv),
        "--out",
        "w",
    ]));
    assert!(e.contains("bad.csv") && e.contains("line 3"), "{e}");
}

#[test]
fn bench_prints_iterations_and_point_steps_per_second() {
    let o = diffscope(&["bench", "train", "--iters", "20", "--runs", "1", "--threads", "1"]);
    let out = stdout(&o);
    assert!(o.status.success());
    assert!(
        out.contains("99074 parameters") && out.contains("batch 256") && out.contains("it/s"),
        "{out}"
    );
    let o = diffscope(&[
        "bench", "sample", "--points", "200", "--steps", "5", "--runs", "1",
    ]);
    let out = stdout(&o);
    assert!(o.status.success() && out.contains("M point-steps/s"), "{out}");
}

#[test]
fn markov_prints_p_n_the_classes_and_the_rate_and_names_a_bad_line() {
    let o = diffscope(&["markov", "--preset", "absorbing", "--states", "5", "--n", "0,10"]);
    let text = stdout(&o);
    assert!(text.contains("# one closed class {4}"), "{text}");
    assert!(text.contains("; transient: 0, 1, 2, 3"), "{text}");
    assert!(text.contains("# |λ₂| = 0.6"), "{text}");
    // p_10 from state 0: NumPy's p0 @ matrix_power(P, 10) with p0 = e_0 (see
    // tests/finite.rs for the preset): 0.6¹⁰ = 0.0060466176 stays in state 0.
    let row = text
        .lines()
        .find(|l| l.starts_with("10,"))
        .expect("the row of n = 10");
    let p0: f64 = row.split(',').nth(1).unwrap().parse().unwrap();
    assert!((p0 - 0.6f64.powi(10)).abs() < 1e-15, "{row}");
    // A periodic chain's |λ₂| is 1: p_n cycles (it used to say "shrinks like |λ₂|ⁿ").
    let o = diffscope(&["markov", "--preset", "periodic", "--states", "3", "--n", "1"]);
    let text = stdout(&o);
    assert!(
        text.contains("p_n does not converge (it cycles); its averages do"),
        "{text}"
    );
    assert!(!text.contains("shrinks"), "{text}");
    // A bad matrix file: one line naming the file and the line, exit code 2.
    let bad = scratch("markov").join("bad-chain.csv");
    std::fs::write(&bad, "0.5,0.5\n# a comment\n0.2,-0.8\n").unwrap();
    let o = diffscope(&["markov", "--matrix", path_str(&bad)]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        one_error_line(&o),
        format!(
            "error: {}: line 3, column 2: -0.8 is negative; probabilities are ≥ 0",
            bad.display()
        )
    );
}

#[test]
fn render_forward_draws_the_digits_discrete_chain_and_refuses_it_without_the_digits() {
    let dir = scratch("discrete");
    for kind in ["uniform", "absorbing"] {
        let png = dir.join(format!("{kind}.png"));
        let gif = dir.join(format!("{kind}.gif"));
        let o = diffscope(&[
            "render",
            "forward",
            "--digits",
            "--discrete",
            kind,
            "--markov",
            "--out",
            path_str(&png),
            "--gif",
            path_str(&gif),
            "--frames",
            "6",
            "--steps",
            "200",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // The grid: 8 × 5 digits of 8 × 8 pixels with 1-pixel gaps (71 × 44), each pixel 6 px.
        let (w, h) = (71 * 6, 44 * 6);
        let strip = image::open(&png).unwrap().to_rgb8();
        // Five tiles (t = 0, T/10, T/4, T/2, T) of two label lines: the strip's layout.
        assert_eq!(strip.dimensions(), (5 * w + 4 * 8 + 16, h + 16 + 6 + 18 * 2 + 4));
        let frames =
            image::codecs::gif::GifDecoder::new(std::io::BufReader::new(std::fs::File::open(&gif).unwrap()))
                .unwrap();
        let frames = image::AnimationDecoder::into_frames(frames)
            .collect_frames()
            .unwrap();
        assert_eq!(frames.len(), 6);
        assert_eq!(frames[0].buffer().dimensions(), (w, h));
        // At t = T (ᾱ_T ≈ 4·10⁻⁵: β scaled by 1000/T) the absorbing chain is all mask but
        // for the label: its last picture is mostly the mask's blue; the uniform's has none.
        let mask = diffscope::export::MASK_RGB;
        let last = frames.last().unwrap().buffer();
        let blue = last.pixels().filter(|p| p.0[..3] == mask).count();
        if kind == "absorbing" {
            assert!(blue > (w * h / 2) as usize, "{blue} mask pixels");
        } else {
            assert_eq!(blue, 0);
        }
    }
    // The Gaussian chain on the digits renders too (no --discrete).
    let o = diffscope(&[
        "render",
        "forward",
        "--digits",
        "--out",
        path_str(&dir.join("g.png")),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // --discrete without the digits: one clear line, no file.
    let bad = dir.join("bad.png");
    for source in [["--image", "cat"], ["--dataset", "two-moons"]] {
        let e = one_error_line(&diffscope(&[
            "render",
            "forward",
            source[0],
            source[1],
            "--discrete",
            "uniform",
            "--out",
            path_str(&bad),
        ]));
        assert!(e.contains("--discrete") && e.contains("--digits"), "{e}");
    }
    assert!(!bad.exists());
    let e = one_error_line(&diffscope(&[
        "render",
        "forward",
        "--digits",
        "--discrete",
        "sideways",
        "--out",
        path_str(&bad),
    ]));
    assert!(e.contains("uniform or absorbing"), "{e}");
    let e = one_error_line(&diffscope(&[
        "render",
        "forward",
        "--digits",
        "--discrete",
        "uniform",
        "--levels",
        "9",
        "--out",
        path_str(&bad),
    ]));
    assert!(e.contains("17 or 256"), "{e}");
}

/// `diffscope vae train|elbo|sample` on a short run of each model, and the command
/// recorded in the weights.
#[test]
fn vae_train_elbo_and_sample() {
    let dir = scratch("vae");
    let vae = dir.join("vae.safetensors");
    let o = diffscope(&[
        "vae",
        "train",
        "--model",
        "vae",
        "--iterations",
        "30",
        "--out",
        path_str(&vae),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let checkpoint = diffscope::model::vae::load(&vae).unwrap();
    assert_eq!(checkpoint.iterations, 30);
    assert_eq!(checkpoint.dataset, "two-moons");
    assert!(
        checkpoint.command.starts_with("diffscope vae train --model vae"),
        "{}",
        checkpoint.command
    );
    let o = diffscope(&[
        "vae",
        "elbo",
        "--weights",
        path_str(&vae),
        "--n",
        "300",
        "--samples",
        "2",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = stdout(&o);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "term,t,nats,std_err");
    let value = |name: &str| -> f64 {
        let line = lines.iter().find(|l| l.starts_with(&format!("{name},"))).unwrap();
        line.split(',').nth(2).unwrap().parse().unwrap()
    };
    assert!(
        (value("elbo") - (value("recon") - value("kl"))).abs() < 1e-9,
        "{csv}"
    );
    let samples = dir.join("samples.csv");
    let o = diffscope(&[
        "vae",
        "sample",
        "--weights",
        path_str(&vae),
        "--n",
        "25",
        "--out",
        path_str(&samples),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&samples).unwrap();
    assert_eq!(text.lines().count(), 26);
    assert_eq!(text.lines().next(), Some("x,y"));

    let vdm = dir.join("vdm.safetensors");
    let o = diffscope(&[
        "vae",
        "train",
        "--model",
        "mhvae",
        "--levels",
        "3",
        "--fixed-encoders",
        "--to-noise",
        "--iterations",
        "20",
        "--out",
        path_str(&vdm),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = diffscope(&[
        "vae",
        "elbo",
        "--weights",
        path_str(&vdm),
        "--n",
        "300",
        "--samples",
        "1",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = stdout(&o);
    assert_eq!(
        csv.lines().filter(|l| l.starts_with("consistency,")).count(),
        2,
        "{csv}"
    );
    assert!(csv.lines().any(|l| l.starts_with("denoising_elbo,3,")), "{csv}");
}

/// Bad weights for `diffscope vae`: one error line naming the file; a denoiser's file
/// is named as such; a flag for the wrong model is refused.
#[test]
fn vae_bad_weights_are_one_error_line() {
    let dir = scratch("vae_bad");
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"not a safetensors file at all").unwrap();
    let line = one_error_line(&diffscope(&["vae", "elbo", "--weights", path_str(&garbage)]));
    assert!(line.contains("garbage.safetensors"), "{line}");
    let denoiser = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/weights/two-moons.safetensors");
    let line = one_error_line(&diffscope(&[
        "vae",
        "sample",
        "--weights",
        path_str(&denoiser),
        "--out",
        path_str(&dir.join("s.csv")),
    ]));
    assert!(line.contains("denoiser's weights file"), "{line}");
    let line = one_error_line(&diffscope(&[
        "vae",
        "train",
        "--model",
        "vae",
        "--fixed-encoders",
        "--out",
        path_str(&dir.join("w.safetensors")),
    ]));
    assert!(line.contains("--model mhvae"), "{line}");
}

/// Issue 16: `sample --class C --guidance W` on the shipped (class-conditional) 8
/// gaussians puts the samples on mode C and says so in a label column; `--class` on a
/// model trained without labels, a class the model lacks, or `--guidance` without a class
/// are one-line errors that write nothing.
#[test]
fn sample_class_and_guidance_guide_a_conditional_model_and_refuse_others() {
    let dir = scratch("guided");
    let out = dir.join("mode3.csv");
    let o = diffscope(&[
        "sample",
        "--weights",
        "8gaussians",
        "--n",
        "200",
        "--class",
        "3",
        "--guidance",
        "2",
        "--sampler",
        "ddim",
        "--ddim-steps",
        "50",
        "--eta",
        "1",
        "--out",
        path_str(&out),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("label,x,y"));
    let mut on_mode = 0;
    for line in lines.clone() {
        let v: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
        assert_eq!(v[0], 3.0);
        let angle = v[2].atan2(v[1]).to_degrees().rem_euclid(360.0);
        on_mode += usize::from((angle - 135.0).abs() < 20.0);
    }
    assert_eq!(lines.count(), 200);
    assert!(on_mode >= 190, "{on_mode} of 200 samples on the 135° mode");
    let refused = dir.join("refused.csv");
    for (args, want) in [
        (
            vec!["--weights", "swiss-roll", "--class", "0"],
            "trained without labels",
        ),
        (
            vec!["--weights", "swiss-roll", "--guidance", "1"],
            "cannot sample a class or be guided",
        ),
        (
            vec!["--weights", "8gaussians", "--class", "8"],
            "not a class of 8gaussians (0 to 7, any, or none)",
        ),
        (vec!["--weights", "8gaussians", "--class", "three"], "not a class"),
        (
            vec!["--weights", "8gaussians", "--class", "none", "--guidance", "3"],
            "unconditional branch unguided",
        ),
        (
            vec!["--weights", "8gaussians", "--class", "1", "--guidance=-1"],
            "--guidance must be in",
        ),
    ] {
        let mut all = vec!["sample", "--n", "4"];
        all.extend(args);
        all.extend(["--out", path_str(&refused)]);
        let o = diffscope(&all);
        assert!(!o.status.success());
        let line = one_error_line(&o);
        assert!(line.contains(want), "{all:?}: {line}");
        assert!(!refused.exists());
    }
    let o = diffscope(&[
        "train",
        "--dataset",
        "checkerboard",
        "--conditional",
        "--iters",
        "2",
        "--out",
        path_str(&dir.join("c.safetensors")),
    ]);
    assert!(one_error_line(&o).contains("--conditional needs labelled data"));
}
