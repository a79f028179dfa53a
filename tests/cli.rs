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
fn render_forward_writes_a_strip_of_the_astronaut_and_of_two_moons() {
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
    // The first tile is the photo itself; the last is noise: its pixels are far from it.
    let m = diffscope::export::MARGIN_PX;
    let x0 = image::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/images/astronaut.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(img.get_pixel(m + 200, m + 300), x0.get_pixel(200, 300));

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
    let img = image::open(&moons).unwrap();
    assert!(img.width() > 5 * 200);
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
        "200",
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
    assert_eq!(model.info.iterations, 200);
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
    let inside = values.iter().filter(|v| v.abs() < 4.0).count();
    assert!(
        inside * 100 >= 95 * values.len(),
        "{inside} of {} values within ±4σ",
        values.len()
    );
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
    // Three by three cells of 8×8 digits scaled 8×, with gaps.
    assert!(
        img.width() >= 3 * 64 && img.height() >= 3 * 64,
        "{:?}",
        img.dimensions()
    );
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
