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
/// the Reverse tab's waits for a 1000-step chain, ~10 s, far longer when the machine is busy).
const APP_TIMEOUT: Duration = Duration::from_mins(3);
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
    /// Starts `Xvfb :N -screen 0 1600x1000x24 -nolisten tcp` on the first free N and waits
    /// until it accepts connections (its socket exists and its lock file names its pid).
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
            if socket_path(self.display).exists() && self.owns_lock() {
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
    let mut child = command.spawn().expect("the diffscope binary starts");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > APP_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "diffscope {args:?} did not exit within {APP_TIMEOUT:?}; stdout: {}; stderr: {}",
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

#[test]
fn screenshot_of_the_real_window_has_its_size_and_is_not_blank() {
    assert_sized_and_not_blank(default_screenshot(), "default window");
}

#[test]
fn screenshot_of_two_moons_in_compare_has_its_size_and_is_not_the_default() {
    let img = screenshot("two-moons-compare", &["--data", "two-moons", "--tab", "compare"]);
    assert_sized_and_not_blank(&img, "two moons, Compare tab");
    // Measured: 27% of the pixels differ (the grid of scatter plots, the histogram).
    let differing = fraction_differing(&img, default_screenshot());
    assert!(
        differing > 0.10,
        "two moons in Compare differs from the default window in only {:.1}% of its pixels",
        differing * 100.0
    );
}

#[test]
fn screenshot_of_the_reverse_tab_waits_for_the_chain_and_shows_the_samples() {
    let img = screenshot(
        "digits-reverse",
        &["--data", "digits", "--tab", "reverse", "--sample", "--t", "0"],
    );
    assert_sized_and_not_blank(&img, "digits, Reverse tab");
    let differing = fraction_differing(&img, default_screenshot());
    assert!(
        differing > 0.10,
        "the Reverse tab differs from the default window in only {:.1}% of its pixels",
        differing * 100.0
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
    // The astronaut stays and the error is shown: the picture is the default window's but
    // for the error line (measured: 0.9% of the pixels; the rendering is deterministic).
    let differing = fraction_differing(&img, default_screenshot());
    assert!(
        differing > 0.001,
        "after a corrupt file the window looks exactly like the default one: no error shown"
    );
    assert!(
        differing < 0.10,
        "after a corrupt file {:.1}% of the pixels differ from the default window (the astronaut \
         should stay, with only an error line added)",
        differing * 100.0
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
