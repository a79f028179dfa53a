//! The real window under its own X server (Xvfb): `--screenshot` saves the window's pixels at
//! the asked size and they show something, a corrupt file does not take the window down, and
//! with no display the binary says so in one line.
//!
//! Each test that opens the window starts its own `Xvfb` on a free display number (from
//! [`FIRST_DISPLAY`] upward) and stops it when done, so the tests run in parallel and never
//! touch a display they did not start. `Xvfb` must be installed (`apt-get install xvfb`, see
//! `.ci/run`); without it these tests fail rather than pass unseen.

use std::collections::HashSet;
use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use image::RgbImage;

/// The first X display number tried; numbers in use (socket or lock file present) are skipped.
const FIRST_DISPLAY: u32 = 140;
/// How many display numbers are tried before giving up.
const DISPLAYS_TRIED: u32 = 200;
/// How long Xvfb gets to create its socket.
const XVFB_START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one run of the app gets (a screenshot takes 3–5 s on two cores with llvmpipe;
/// the Reverse tab's waits for a 1000-step chain, ~10 s, far longer when the machine is
/// busy: 4.5 min measured with five engineers compiling on the two cores).
const APP_TIMEOUT: Duration = Duration::from_mins(10);
/// The window size the screenshot tests ask for (Xvfb has scale factor 1: points = pixels).
const SIZE: (u32, u32) = (1280, 800);

/// The next display number this process tries, so that parallel tests do not race for one.
static NEXT_DISPLAY: AtomicU32 = AtomicU32::new(FIRST_DISPLAY);

/// An `Xvfb` server started by this test process, stopped when dropped.
struct Xvfb {
    child: Child,
    display: u32,
}

impl Xvfb {
    /// Starts `Xvfb :N -screen 0 1600x1000x24 -nolisten tcp -noreset` on the first free N and
    /// waits until it accepts connections (its socket and lock file exist, the lock names its
    /// pid, and a client completes the X handshake).
    fn start() -> Self {
        let log_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("window");
        std::fs::create_dir_all(&log_dir).unwrap();
        let mut last_log = String::new();
        for _ in 0..DISPLAYS_TRIED {
            let display = NEXT_DISPLAY.fetch_add(1, Ordering::Relaxed);
            if socket_path(display).exists() || lock_path(display).exists() {
                continue;
            }
            let log_path = log_dir.join(format!("xvfb-{display}.log"));
            let spawned = Command::new("Xvfb")
                .args([
                    &format!(":{display}"),
                    "-screen",
                    "0",
                    "1600x1000x24",
                    "-nolisten",
                    "tcp",
                    // No reset when the last client leaves: a reset while the app connects
                    // (after a probe or an xdotool call disconnected) failed its connection.
                    "-noreset",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(File::create(&log_path).unwrap())
                .spawn();
            let child = match spawned {
                Ok(child) => child,
                Err(e) if e.kind() == ErrorKind::NotFound => panic!(
                    "`Xvfb` is not installed, and the window tests need it: install it with \
                     `apt-get install -y --no-install-recommends xvfb libgl1-mesa-dri libegl1 \
                     libegl-mesa0 libglx-mesa0 libxkbcommon-x11-0 libxcursor1 libxi6 libxrandr2` \
                     (.ci/run does this on CI)"
                ),
                Err(e) => panic!("cannot start Xvfb: {e}"),
            };
            // Owned from here on: dropped (and stopped) on every path below.
            let mut server = Self { child, display };
            if server.wait_until_ready() {
                return server;
            }
            // Another process took this number first (Xvfb exited), or Xvfb never came up:
            // `server` is dropped and the next number is tried.
            drop(server);
            last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
        }
        panic!(
            "Xvfb did not start on any of {DISPLAYS_TRIED} display numbers from :{FIRST_DISPLAY}; \
             the last one said: {last_log}"
        );
    }

    /// Whether the server came up on its display within [`XVFB_START_TIMEOUT`]; false if it
    /// exited (e.g. the display was taken meanwhile) or timed out.
    fn wait_until_ready(&mut self) -> bool {
        let start = Instant::now();
        while start.elapsed() < XVFB_START_TIMEOUT {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return false;
            }
            // The socket and the lock can be there before the server answers: ready when a
            // client completes the X handshake.
            if socket_path(self.display).exists()
                && self.owns_lock()
                && x11rb::connect(Some(&self.name())).is_ok()
            {
                return true;
            }
            sleep(Duration::from_millis(20));
        }
        false
    }

    /// Whether the display's lock file holds this server's pid (and not another server's).
    fn owns_lock(&self) -> bool {
        std::fs::read_to_string(lock_path(self.display))
            .is_ok_and(|pid| pid.trim().parse::<u32>().ok() == Some(self.child.id()))
    }

    /// The value for `DISPLAY`.
    fn name(&self) -> String {
        format!(":{}", self.display)
    }
}

impl Drop for Xvfb {
    /// Stops the server with SIGTERM, so that it removes its socket and lock file; SIGKILL
    /// (and removing them here) if it has not exited within 2 s.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let owned = self.owns_lock();
        // `kill` is a shell builtin, so this needs no procps and no unsafe code.
        let _ = Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", self.child.id())])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(2) {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if owned {
            let _ = std::fs::remove_file(socket_path(self.display));
            let _ = std::fs::remove_file(lock_path(self.display));
        }
    }
}

fn socket_path(display: u32) -> PathBuf {
    PathBuf::from(format!("/tmp/.X11-unix/X{display}"))
}

fn lock_path(display: u32) -> PathBuf {
    PathBuf::from(format!("/tmp/.X{display}-lock"))
}

/// A fresh scratch directory for one test.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("window").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What one run of the app left behind.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs the app with `args` on `display`, or with no display at all if `None`, its output going
/// to files in `dir`; kills it and fails after [`APP_TIMEOUT`].
///
/// Every run has the same working directory: the window shows it (the export folder), and a
/// longer path widens the left panel, which would make screenshots differ between tests.
fn run_app(dir: &Path, args: &[&str], display: Option<&Xvfb>) -> Run {
    let child = spawn_app(dir, args, display);
    wait_app(child, dir, args, APP_TIMEOUT)
}

/// Starts the app with `args` on `display` (none if `None`), its output going to files in
/// `dir`.
fn spawn_app(dir: &Path, args: &[&str], display: Option<&Xvfb>) -> Child {
    let (out_path, err_path) = (dir.join("stdout.txt"), dir.join("stderr.txt"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_diffscope"));
    command
        .args(args)
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap())
        // X11 only, and nothing read from or written to the user's settings.
        .env_remove("WAYLAND_DISPLAY")
        .env("XDG_DATA_HOME", dir)
        .env("XDG_CONFIG_HOME", dir);
    match display {
        Some(xvfb) => command.env("DISPLAY", xvfb.name()),
        None => command.env_remove("DISPLAY"),
    };
    command.spawn().expect("the diffscope binary starts")
}

/// Waits for the app started by [`spawn_app`] in `dir` to exit; kills it and fails after
/// `timeout`.
fn wait_app(mut child: Child, dir: &Path, args: &[&str], timeout: Duration) -> Run {
    let (out_path, err_path) = (dir.join("stdout.txt"), dir.join("stderr.txt"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "diffscope {args:?} did not exit within {timeout:?}; stdout: {}; stderr: {}",
                std::fs::read_to_string(&out_path).unwrap_or_default(),
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        sleep(Duration::from_millis(50));
    };
    Run {
        status,
        stdout: std::fs::read_to_string(&out_path).unwrap(),
        stderr: std::fs::read_to_string(&err_path).unwrap(),
    }
}

/// Runs `diffscope ARGS --screenshot shot.png --size 1280x800` in a fresh scratch directory
/// `name` under its own Xvfb, checks that it exits 0 and says it saved the PNG, and returns
/// the picture.
fn screenshot(name: &str, args: &[&str]) -> RgbImage {
    screenshot_in(&scratch(name), args)
}

/// [`screenshot`] in `dir`, which is also the app's `XDG_DATA_HOME` (its settings are
/// `dir/diffscope/app.ron`).
pub(crate) fn screenshot_in(dir: &Path, args: &[&str]) -> RgbImage {
    let shot = dir.join("shot.png");
    let size = format!("{}x{}", SIZE.0, SIZE.1);
    let shot_arg = shot.to_str().unwrap();
    let mut all_args = args.to_vec();
    all_args.extend(["--screenshot", shot_arg, "--size", &size]);
    let xvfb = Xvfb::start();
    let run = run_app(dir, &all_args, Some(&xvfb));
    drop(xvfb);
    assert!(
        run.status.success(),
        "diffscope {all_args:?} exited with {}; stdout: {}; stderr: {}",
        run.status,
        run.stdout,
        run.stderr
    );
    assert!(
        run.stdout.contains(&format!("saved screenshot {shot_arg}")),
        "stdout should name the saved file; stdout: {}; stderr: {}",
        run.stdout,
        run.stderr
    );
    image::open(&shot)
        .expect("the screenshot is a readable PNG")
        .to_rgb8()
}

/// The screenshot of the default window (astronaut, Forward tab), taken once and shared by
/// the tests that compare against it.
pub(crate) fn default_screenshot() -> &'static RgbImage {
    static SHOT: OnceLock<RgbImage> = OnceLock::new();
    SHOT.get_or_init(|| screenshot("default", &[]))
}

/// Asserts the picture is the asked size and shows a window's worth of content: many colours
/// and a spread of brightness (a blank, black or single-colour frame has neither).
#[track_caller]
fn assert_sized_and_not_blank(img: &RgbImage, what: &str) {
    assert_eq!(img.dimensions(), SIZE, "{what}: screenshot size (pixels)");
    let colours: HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    assert!(
        colours.len() >= 500,
        "{what}: only {} distinct colours",
        colours.len()
    );
    let luma: Vec<f64> = img
        .pixels()
        .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
        .collect();
    let mean = luma.iter().sum::<f64>() / luma.len() as f64;
    let sd = (luma.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / luma.len() as f64).sqrt();
    assert!(
        sd > 20.0,
        "{what}: luminance standard deviation {sd:.1} (mean {mean:.1})"
    );
}

/// The fraction of pixels whose colour differs between two pictures of the same size.
pub(crate) fn fraction_differing(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let differing = a.pixels().zip(b.pixels()).filter(|(p, q)| p != q).count();
    differing as f64 / f64::from(a.width() * a.height())
}

/// Runs of indices where `flag` holds: `(first, last)`, inclusive; runs less than `gap` + 1
/// apart are merged.
fn runs(flags: &[bool], gap: usize) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (i, _) in flags.iter().enumerate().filter(|(_, f)| **f) {
        match out.last_mut() {
            Some(last) if i - last.1 <= gap + 1 => last.1 = i,
            _ => out.push((i, i)),
        }
    }
    out
}

/// A rectangle of a screenshot: left, top, width, height.
type Rect = (u32, u32, u32, u32);

/// The grey values of `rect` of `img`, row by row (its pixels are grey: R = G = B).
fn grey_values(img: &RgbImage, (x, y, w, h): Rect) -> Vec<Vec<u8>> {
    (y..y + h)
        .map(|row| (x..x + w).map(|col| img.get_pixel(col, row).0[0]).collect())
        .collect()
}

/// The image grids of the Reverse tab in `shot`: where it differs from `empty` (the same
/// tab at the same t with no chain) in pure grey pixels (R = G = B; the digits and the grid
/// lines are grey, the progress bar and the status colours are not), the longest run of
/// rows with at least 100 such pixels, and in it the runs of at least 100 columns that
/// are at least half such pixels.
fn image_grids(empty: &RgbImage, shot: &RgbImage) -> Vec<Rect> {
    let (w, h) = shot.dimensions();
    let changed = |x: u32, y: u32| {
        let p = shot.get_pixel(x, y).0;
        p != empty.get_pixel(x, y).0 && p[0] == p[1] && p[1] == p[2]
    };
    let rows: Vec<bool> = (0..h)
        .map(|y| (0..w).filter(|&x| changed(x, y)).count() >= 100)
        .collect();
    let Some((top, bottom)) = runs(&rows, 0).into_iter().max_by_key(|r| r.1 - r.0) else {
        return Vec::new();
    };
    let height = (bottom - top + 1) as u32;
    let columns: Vec<bool> = (0..w)
        .map(|x| (top as u32..=bottom as u32).filter(|&y| changed(x, y)).count() as u32 * 2 >= height)
        .collect();
    runs(&columns, 0)
        .into_iter()
        .filter(|c| c.1 - c.0 + 1 >= 100)
        .map(|(left, right)| (left as u32, top as u32, (right - left + 1) as u32, height))
        .collect()
}

/// The bands of grid lines of an image grid: runs of rows (of `values`) in which every
/// pixel has one value.
fn grid_line_bands(values: &[Vec<u8>]) -> usize {
    let uniform: Vec<bool> = values
        .iter()
        .map(|row| row.iter().all(|v| *v == row[0]))
        .collect();
    runs(&uniform, 0).len()
}

#[test]
fn screenshot_of_the_real_window_has_its_size_and_is_not_blank() {
    assert_sized_and_not_blank(default_screenshot(), "default window");
}

#[test]
fn screenshot_of_two_moons_in_compare_shows_the_grid_of_the_forward_process() {
    let img = screenshot("two-moons-compare", &["--data", "two-moons", "--tab", "compare"]);
    assert_sized_and_not_blank(&img, "two moons, Compare tab");
    // The grid: a row per schedule (linear and its cosine overlay, the defaults) and a
    // column per t (6), each cell a scatter of x_t in the theme's point colour inside a
    // 1-pixel frame in its faint colour (the dark theme). The frames are the lines of
    // that colour at least 60 pixels long in the upper 60 % of the window (below are the
    // plots); each cell lies between two of them.
    let rgb = |c: egui::Color32| [c.r(), c.g(), c.b()];
    let (frame, point) = (
        rgb(diffscope::ui::theme::faint_color(true)),
        rgb(diffscope::ui::theme::point_color(true)),
    );
    let (w, h) = img.dimensions();
    let top = h * 6 / 10;
    let is_frame = |x: u32, y: u32| img.get_pixel(x, y).0 == frame;
    let lines = |along: u32, across: u32, at: &dyn Fn(u32, u32) -> bool| -> Vec<u32> {
        (0..along)
            .filter(|&i| (0..across).filter(|&j| at(i, j)).count() >= 60)
            .collect()
    };
    let xs = lines(w, top, &|x, y| is_frame(x, y));
    let ys = lines(top, w, &|y, x| is_frame(x, y));
    assert_eq!(
        (ys.len(), xs.len()),
        (4, 12),
        "frame lines of 2 × 6 cells: rows at {ys:?}, columns at {xs:?}"
    );
    // At t = 0 the points lie on the two thin moons and cover each other; from t = T/5 on
    // the noise spreads them out: the first cell of each row has under half the pixels of
    // the point colour of its last (measured: 637 against 1964, 629 against 1988).
    let near_point = |x: u32, y: u32| {
        img.get_pixel(x, y)
            .0
            .iter()
            .zip(point)
            .all(|(a, b)| a.abs_diff(b) <= 30)
    };
    for r in 0..2 {
        let (y0, y1) = (ys[2 * r], ys[2 * r + 1]);
        let count = |c: usize| {
            (xs[2 * c]..xs[2 * c + 1])
                .flat_map(|x| (y0..y1).map(move |y| (x, y)))
                .filter(|&(x, y)| near_point(x, y))
                .count()
        };
        let (first, last) = (count(0), count(5));
        assert!(
            first > 100 && 2 * first < last,
            "row {r}: {first} pixels of the point colour at t = 0, {last} at t = T"
        );
    }
}

#[test]
fn screenshot_of_the_reverse_tab_waits_for_the_chain_and_shows_the_samples() {
    let args = ["--data", "digits", "--tab", "reverse", "--t", "0"];
    let img = screenshot("digits-reverse", &[&args[..], &["--sample"]].concat());
    assert_sized_and_not_blank(&img, "digits, Reverse tab");
    // What the tab shows without a chain: the views are empty. Against it, the sampled
    // window shows two square image grids side by side, x_0 and x̂_0, each 6 × 6 samples
    // (the default 36: five bands of grid lines each way) …
    let empty = screenshot("digits-reverse-empty", &args);
    let grids = image_grids(&empty, &img);
    assert_eq!(grids.len(), 2, "image grids found: {grids:?}");
    for &(x, y, w, h) in &grids {
        assert!(w >= 150 && w.abs_diff(h) <= 2, "grid at ({x}, {y}) is {w} × {h}");
        let values = grey_values(&img, (x, y, w, h));
        let transposed: Vec<Vec<u8>> = (0..w as usize)
            .map(|c| values.iter().map(|row| row[c]).collect())
            .collect();
        assert_eq!(
            (grid_line_bands(&values), grid_line_bands(&transposed)),
            (5, 5),
            "grid at ({x}, {y}): bands of grid lines (rows, columns)"
        );
    }
    // … that agree, as they do at t = 0 (x_0 = μ_θ(x_1, 1) = x̂_0(x_1)); x_T's noise and
    // its x̂_0 would not …
    let size = (grids[0].2.min(grids[1].2), grids[0].3.min(grids[1].3));
    let left = grey_values(&img, (grids[0].0, grids[0].1, size.0, size.1)).concat();
    let right = grey_values(&img, (grids[1].0, grids[1].1, size.0, size.1)).concat();
    let mean_diff = left
        .iter()
        .zip(&right)
        .map(|(a, b)| f64::from(a.abs_diff(*b)))
        .sum::<f64>()
        / left.len() as f64;
    assert!(
        mean_diff < 4.0,
        "x_0 and x̂_0 at t = 0 differ by {mean_diff:.1} levels on average"
    );
    // … and look like digits: mostly dark background with bright strokes (measured 0.41
    // of the pixels at most 8, 0.14 at least 200).
    let share = |f: &dyn Fn(u8) -> bool| left.iter().filter(|&&v| f(v)).count() as f64 / left.len() as f64;
    let (dark, bright) = (share(&|v| v <= 8), share(&|v| v >= 200));
    assert!(
        dark > 0.25 && bright > 0.03,
        "{dark:.2} of the pixels dark, {bright:.2} bright"
    );
}

#[test]
fn opening_a_corrupt_file_keeps_the_window_and_the_data() {
    let dir = scratch("corrupt-input");
    let corrupt = dir.join("corrupt.png");
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend((0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    std::fs::write(&corrupt, bytes).unwrap();

    let img = screenshot("corrupt", &[corrupt.to_str().unwrap()]);
    assert_sized_and_not_blank(&img, "window after a corrupt file");
    // The astronaut and every view stay: the picture is the default window's but for the
    // status line at the bottom (the rendering is deterministic), which shows the error in
    // the error colour (measured: 11 469 pixels differ, all in rows 778–797 of 800, 2972
    // of them red).
    assert_default_but_an_error_line(&img, "a corrupt file");
}

#[test]
fn a_bad_deck_on_the_command_line_opens_the_window_with_its_error() {
    let dir = scratch("bad-deck");
    let deck = dir.join("typo.toml");
    std::fs::write(&deck, "[[chapter]]\ntitle = \"x\"\nstep = 10\n").unwrap();
    let img = screenshot_in(&dir, &["--deck", deck.to_str().unwrap()]);
    assert_sized_and_not_blank(&img, "window after a bad deck");
    // Nothing of the deck is applied: the default window, and its error line.
    assert_default_but_an_error_line(&img, "a bad deck");
}

/// Asserts `img` is the default window's picture but for the status line, which shows an
/// error (over 1000 of its pixels in the error colour).
#[track_caller]
fn assert_default_but_an_error_line(img: &RgbImage, after: &str) {
    let default = default_screenshot();
    let (w, h) = img.dimensions();
    let mut red = 0;
    for y in 0..h {
        for x in 0..w {
            let p = img.get_pixel(x, y).0;
            if p == default.get_pixel(x, y).0 {
                continue;
            }
            assert!(
                y >= h - 40,
                "pixel ({x}, {y}) above the status line changed after {after}"
            );
            red += usize::from(p[0] > 200 && p[1] < 160 && p[2] < 160);
        }
    }
    assert!(
        red > 1000,
        "the error line after {after}: only {red} changed pixels in the error colour"
    );
}

#[test]
fn without_a_display_it_says_so_in_one_line() {
    let dir = scratch("no-display");
    let shot = dir.join("shot.png");
    // With --screenshot, a window opened by mistake would close by itself (and fail below).
    let run = run_app(&dir, &["--screenshot", shot.to_str().unwrap()], None);
    assert_eq!(run.status.code(), Some(2), "exit code; stderr: {}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "stderr should be one line: {:?}", run.stderr);
    assert!(lines[0].starts_with("error: no display"), "stderr: {}", lines[0]);
    assert!(!shot.exists(), "no screenshot without a display");
}

/// `xdotool ARGS` on `xvfb`'s display; its stdout.
fn xdotool(xvfb: &Xvfb, args: &[&str]) -> String {
    let out = Command::new("xdotool")
        .args(args)
        .env("DISPLAY", xvfb.name())
        .output()
        .unwrap_or_else(|e| {
            panic!("`xdotool` is needed by this test (apt-get install xdotool; .ci/run does): {e}")
        });
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn ctrl_q_closes_the_window_while_training_and_keeps_the_settings() {
    // Issue 12 item 8: Ctrl+Q, pressed as a user does (an X key event to the focused
    // window), while a model trains on the model thread: the process exits by itself, with
    // status 0, no panic, and the settings saved (not a --fresh run). How quickly is
    // measured by scripts/quit-bench.sh (BENCHMARKS.md), not asserted here.
    let dir = scratch("ctrl-q");
    let xvfb = Xvfb::start();
    let args = [
        "--data",
        "two-moons",
        "--tab",
        "reverse",
        "--train",
        "--size",
        "1280x720",
    ];
    let child = spawn_app(&dir, &args, Some(&xvfb));
    let start = Instant::now();
    let window = loop {
        let found = xdotool(
            &xvfb,
            &["search", "--onlyvisible", "--pid", &child.id().to_string()],
        );
        if let Some(id) = found.lines().last() {
            break id.to_owned();
        }
        assert!(start.elapsed() < APP_TIMEOUT, "no window appeared");
        sleep(Duration::from_millis(100));
    };
    // Let training start (the window is up; its first frames are drawn).
    sleep(Duration::from_secs(3));
    xdotool(&xvfb, &["windowfocus", "--sync", &window]);
    xdotool(&xvfb, &["key", "ctrl+q"]);
    let run = wait_app(child, &dir, &args, Duration::from_mins(2));
    drop(xvfb);
    assert_clean_exit(&run);
    let saved = std::fs::read_to_string(dir.join("diffscope").join("app.ron"))
        .expect("the settings are saved on quit");
    assert!(
        saved.contains(r#"source:Dataset(\"two-moons\")"#) && saved.contains("tab:Reverse"),
        "saved: {saved:.300}"
    );
}

/// The visible windows of process `pid` on `xvfb`: (id, title).
fn windows_of(xvfb: &Xvfb, pid: u32) -> Vec<(String, String)> {
    xdotool(xvfb, &["search", "--onlyvisible", "--pid", &pid.to_string()])
        .lines()
        .map(|id| {
            (
                id.to_owned(),
                xdotool(xvfb, &["getwindowname", id]).trim().to_owned(),
            )
        })
        .collect()
}

/// Waits up to `timeout` for `found` to give something from the windows of `app`; fails
/// saying `what` otherwise, or if the app exits meanwhile.
fn wait_for_windows<T>(
    xvfb: &Xvfb,
    app: &mut Child,
    what: &str,
    timeout: Duration,
    found: impl Fn(&[(String, String)]) -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        let windows = windows_of(xvfb, app.id());
        if let Some(t) = found(&windows) {
            return t;
        }
        if let Some(status) = app.try_wait().unwrap() {
            panic!("the app exited ({status}) while waiting for {what}");
        }
        assert!(start.elapsed() < timeout, "{what}: the windows are {windows:?}");
        sleep(Duration::from_millis(100));
    }
}

/// The presenter view's audience window (id and title), if open.
fn audience_window(windows: &[(String, String)]) -> Option<(String, String)> {
    windows
        .iter()
        .find(|(_, title)| title.starts_with("diffscope · audience"))
        .cloned()
}

/// Asks `window` to close as a window manager's close button does: the `WM_DELETE_WINDOW`
/// message of ICCCM §4.2.8.1 (Xvfb runs no window manager).
fn press_close_button(xvfb: &Xvfb, window: &str) {
    use x11rb::protocol::xproto::{ClientMessageEvent, ConnectionExt, EventMask};
    let window: u32 = window.parse().unwrap();
    let (conn, _) = x11rb::connect(Some(&xvfb.name())).unwrap();
    let atom = |name: &[u8]| conn.intern_atom(false, name).unwrap().reply().unwrap().atom;
    let (protocols, delete) = (atom(b"WM_PROTOCOLS"), atom(b"WM_DELETE_WINDOW"));
    let event = ClientMessageEvent::new(32, window, protocols, [delete, x11rb::CURRENT_TIME, 0, 0, 0]);
    conn.send_event(false, window, EventMask::NO_EVENT, event)
        .unwrap()
        .check()
        .unwrap_or_else(|e| panic!("sending WM_DELETE_WINDOW to {window}: {e}"));
}

#[test]
fn the_presenter_view_opens_with_f6_follows_the_main_window_and_closes_by_its_close_button() {
    // Issue 13's presenter view in the real window: F6 opens a second X window, whose
    // title follows `t` changed by keys in the main window, whose own keys act on the same
    // state, and whose close button (and Esc in it) closes it and leaves the app running.
    let dir = scratch("presenter");
    let xvfb = Xvfb::start();
    let args = ["--fresh", "--data", "two-moons", "--size", "1280x720"];
    let mut app = spawn_app(&dir, &args, Some(&xvfb));
    let step = Duration::from_mins(1);
    let main = wait_for_windows(&xvfb, &mut app, "the main window", APP_TIMEOUT, |w| {
        w.iter()
            .find(|(_, title)| title == "diffscope")
            .map(|(id, _)| id.clone())
    });
    let key = |window: &str, key: &str| {
        xdotool(&xvfb, &["windowfocus", "--sync", window]);
        xdotool(&xvfb, &["key", key]);
    };
    let titled = |title: &str| {
        let title = title.to_owned();
        move |w: &[(String, String)]| audience_window(w).filter(|(_, t)| *t == title).map(|(id, _)| id)
    };
    key(&main, "F6");
    let audience = wait_for_windows(
        &xvfb,
        &mut app,
        "the audience window",
        step,
        titled("diffscope · audience · forward · t = 250"),
    );
    assert_ne!(audience, main);
    // Keys in the main window: the audience window follows.
    key(&main, "Right");
    wait_for_windows(
        &xvfb,
        &mut app,
        "t = 251",
        step,
        titled("diffscope · audience · forward · t = 251"),
    );
    key(&main, "End");
    wait_for_windows(
        &xvfb,
        &mut app,
        "t = 1000",
        step,
        titled("diffscope · audience · forward · t = 1000"),
    );
    // Keys in the audience window act on the same state.
    key(&audience, "Home");
    wait_for_windows(
        &xvfb,
        &mut app,
        "Home there",
        step,
        titled("diffscope · audience · forward · t = 0"),
    );
    key(&audience, "shift+Right");
    wait_for_windows(
        &xvfb,
        &mut app,
        "Shift+→ there",
        step,
        titled("diffscope · audience · forward · t = 10"),
    );
    // Its close button closes it; the main window stays.
    let open = windows_of(&xvfb, app.id());
    assert_eq!(
        audience_window(&open).map(|(id, _)| id),
        Some(audience.clone()),
        "{open:?}"
    );
    press_close_button(&xvfb, &audience);
    wait_for_windows(&xvfb, &mut app, "the audience window closed", step, |w| {
        audience_window(w).is_none().then_some(())
    });
    assert!(windows_of(&xvfb, app.id()).iter().any(|(id, _)| *id == main));
    // F6 opens it again (at the same t), Esc in it closes it.
    key(&main, "F6");
    let again = wait_for_windows(
        &xvfb,
        &mut app,
        "reopened",
        step,
        titled("diffscope · audience · forward · t = 10"),
    );
    key(&again, "Escape");
    wait_for_windows(&xvfb, &mut app, "closed by Esc", step, |w| {
        audience_window(w).is_none().then_some(())
    });
    // The app runs on, and quits cleanly.
    key(&main, "ctrl+q");
    let run = wait_app(app, &dir, &args, Duration::from_mins(2));
    drop(xvfb);
    assert_clean_exit(&run);
}

/// Asserts the app exited with status 0 and printed no panic.
#[track_caller]
fn assert_clean_exit(run: &Run) {
    assert!(
        run.status.success(),
        "exit status {}; stderr: {}",
        run.status,
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "stderr: {}", run.stderr);
}
