//! Hostile input (`tests/hostile/`, see `hostile_corpus.rs`) through the code the window
//! runs: each file is refused with an error naming it and the reason, nothing panics, what
//! was on screen stays, a good file loads afterwards, and no lying header makes a loader
//! allocate much.
//!
//! The window loads data on a `load-data` thread running [`scene::load`] and weights on the
//! `model` thread running [`io::load`]; the memory checks call those two functions on the
//! test's thread, where [`watch`] sees every allocation they make.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use diffscope::app::reverse::LearnedOrigin;
use diffscope::app::settings::{STORAGE_KEY, Settings, SourceChoice};
use diffscope::app::{Command, DiffscopeApp, stored_settings};
use diffscope::data::{self, MAX_POINTS};
use diffscope::diffusion::ScheduleKind;
use diffscope::model::io;
use diffscope::scene::{self, SceneData};
use egui_kittest::Harness;

use crate::hostile_corpus::{self as corpus, Case, Kind};
use crate::largest_alloc::watch;
use crate::ui::{Memory, drop_file, harness_with, label_starting, scratch, step_until};

/// The most a loader may allocate at once for any hostile file (the largest file one
/// reads whole is a 400 KB weights file).
const BOUND_BYTES: usize = 16 << 20;
/// The most the points loader holds in one block: `MAX_POINTS` pairs of `f64` in a
/// vector that doubles (the 10⁷-row file is read up to its first point too many).
const POINTS_BOUND_BYTES: usize = MAX_POINTS.next_power_of_two() * 16;

/// Every case, the generated ones written once per run.
fn cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hostile");
        let _ = std::fs::remove_dir_all(&dir);
        corpus::cases(&dir)
    })
}

/// What the library's own loader says about `case` (its error; it must fail).
fn library_error(case: &Case) -> String {
    let path = &case.path;
    let result = match case.kind {
        Kind::Image => data::load_image(path, data::DEFAULT_MAX_SIDE)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Kind::Points => data::load_points_csv(path).map(|_| ()).map_err(|e| e.to_string()),
        Kind::Weights => io::load(path).map(|_| ()).map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => panic!("{} loaded", case.name()),
        Err(e) => e,
    }
}

/// What the window's loader thread runs for `case`: [`scene::load`] of the file, or
/// [`io::load`] (its error; it must fail).
fn window_loader_error(case: &Case) -> String {
    let result = match case.kind {
        Kind::Image | Kind::Points => scene::load(
            &SourceChoice::File(case.path.clone()),
            &Settings::default().scene_options(),
        )
        .map(|_| ())
        .map_err(|e| e.to_string()),
        Kind::Weights => io::load(&case.path).map(|_| ()).map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => panic!("{} loaded", case.name()),
        Err(e) => e,
    }
}

/// The reason the library gives for `case`: the window's, but for a folder, which the
/// window recognises before reading and the library reports as the system does.
fn library_reason(case: &Case) -> &str {
    if case.path.is_dir() {
        "Is a directory"
    } else {
        &case.reason
    }
}

#[test]
fn every_hostile_file_is_refused_by_its_loader_with_its_name_and_the_reason() {
    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    for case in cases {
        let error = library_error(case);
        let name = case.path.display().to_string();
        assert!(
            error.contains(&name),
            "{}: the error does not name the file: {error}",
            case.name()
        );
        assert!(
            error.contains(library_reason(case)),
            "{}: expected {:?} in: {error}",
            case.name(),
            library_reason(case)
        );
        assert!(!error.contains('\n'), "{}: not one line: {error}", case.name());
        if case.kind == Kind::Points && case.reason.starts_with("line ") {
            assert!(error.contains(&format!("{name} line ")), "{error}");
        }
    }
}

#[test]
fn no_hostile_file_makes_the_window_loaders_allocate_much() {
    for case in cases() {
        let (error, seen) = watch(|| window_loader_error(case));
        assert!(error.contains(&case.reason), "{}: {error}", case.name());
        // At least the error message was allocated on this thread: the watch saw the load.
        assert!(seen.count > 0, "{}: no allocation seen", case.name());
        let bound = if case.name() == "huge.csv" {
            POINTS_BOUND_BYTES
        } else {
            BOUND_BYTES
        };
        assert!(
            seen.largest <= bound,
            "{}: an allocation of {} bytes",
            case.name(),
            seen.largest
        );
    }
    // The headers that declare the impossible are refused before anything large is
    // reserved (lying-blocks is read whole: 400 KB).
    for name in [
        "huge-header.png",
        "lying-header.png",
        "huge-header.jpg",
        "huge-header.gif",
        "lying-header.gif",
        "fuzz-canvas.gif",
        "huge-file.png",
        "header-40gb.safetensors",
        "huge-file.safetensors",
        "lying-blocks.safetensors",
    ] {
        let case = cases().iter().find(|c| c.name() == name).unwrap();
        let (_, seen) = watch(|| window_loader_error(case));
        assert!(seen.largest <= 1 << 20, "{name}: {} bytes at once", seen.largest);
    }
}

#[test]
fn the_valid_files_beside_the_corpus_load() {
    // The checks that refuse the corpus refuse none of these (the fuzzers' seeds too).
    for name in ["ok.png", "ok.jpg", "ok.gif", "ok.bmp"] {
        let img = data::load_image(&corpus::ok(name), 512).unwrap();
        assert_eq!((img.width, img.height, img.channels), (64, 48, 3), "{name}");
    }
    assert_eq!(data::load_points_csv(&corpus::ok("ok.csv")).unwrap().len(), 200);
    let scene = scene::load(
        &SourceChoice::File(corpus::ok("huge-values.csv")),
        &Settings::default().scene_options(),
    )
    .unwrap();
    let SceneData::Points(points) = &scene.data else {
        panic!("points expected")
    };
    assert_eq!(points.len(), 3);
    assert!(points.iter().flatten().all(|v| v.is_finite()), "{points:?}");
    for name in ["tiny-mlp.safetensors", "tiny-conv.safetensors"] {
        let model = io::load(&corpus::ok(name)).unwrap();
        assert_eq!(model.info.schedule.steps, 10, "{name}");
    }
    for image in data::BuiltinImage::ALL {
        image.load(512).unwrap();
    }
}

#[test]
fn the_memory_watch_sees_what_the_loaders_allocate() {
    // Without these, the bounds above could hold because nothing was counted.
    let dir = scratch("hostile-controls");
    let big = dir.join("big.png");
    image::RgbImage::from_fn(1500, 1000, |x, y| image::Rgb([x as u8, y as u8, 7]))
        .save(&big)
        .unwrap();
    let (scene, seen) = watch(|| {
        scene::load(
            &SourceChoice::File(big.clone()),
            &Settings::default().scene_options(),
        )
    });
    assert!(matches!(scene.unwrap().data, SceneData::Image(_)));
    assert!(
        seen.largest >= 1500 * 1000 * 3,
        "decoding 1500×1000 RGB: largest {seen:?}"
    );

    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/weights/two-moons.safetensors");
    let (model, seen) = watch(|| io::load(&shipped));
    model.unwrap();
    let len = std::fs::metadata(&shipped).unwrap().len() as usize;
    assert!(seen.largest >= len, "reading {len} bytes: largest {seen:?}");
}

#[test]
fn ten_million_rows_are_refused_at_the_first_point_too_many_without_reading_on() {
    let case = cases().iter().find(|c| c.name() == "huge.csv").unwrap();
    let file_len = std::fs::metadata(&case.path).unwrap().len();
    assert!(file_len > 100 << 20, "{file_len} bytes");
    let (result, seen) = watch(|| {
        let file = std::fs::File::open(&case.path).unwrap();
        let mut counted = Counted {
            inner: file,
            bytes: 0,
        };
        let result = data::read_points_csv(std::io::BufReader::new(&mut counted), "huge.csv");
        (result, counted.bytes)
    });
    let (result, bytes_read) = result;
    assert_eq!(
        result.unwrap_err().to_string(),
        format!(
            "huge.csv line {}: more than {MAX_POINTS} points (diffscope takes at most {MAX_POINTS})",
            MAX_POINTS + 2
        )
    );
    // 5,000,001 rows of ≤ 14 bytes and the header; one 8 KB buffer past them at most.
    assert!(
        bytes_read < (MAX_POINTS as u64 + 2) * 14 + 8192,
        "read {bytes_read} of {file_len} bytes"
    );
    // The points (5,000,000 × 16 bytes, in a vector that doubles) and nothing bigger.
    assert!(seen.largest <= POINTS_BOUND_BYTES, "{seen:?}");
}

/// A reader that counts the bytes read through it.
struct Counted<R> {
    inner: R,
    bytes: u64,
}

impl<R: std::io::Read> std::io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

/// A pointer identifying the data on screen (the same `Arc` means nothing was replaced).
fn scene_identity(app: &DiffscopeApp) -> usize {
    match &app.model.scene.data {
        SceneData::Image(img) => Arc::as_ptr(img) as usize,
        SceneData::Points(p) => Arc::as_ptr(p) as usize,
    }
}

/// Clears the status line, hands `path` to the window (dropped on it, or through the
/// command Open… and Load… push) and steps until the window reports an error naming it.
fn open_and_fail(harness: &mut Harness<'_, DiffscopeApp>, path: &Path, kind: Kind, drop: bool) -> String {
    harness.state_mut().push(Command::DismissError);
    harness.step();
    if drop {
        drop_file(harness, path);
    } else {
        harness.state_mut().push(match kind {
            Kind::Weights => Command::LoadModel(path.to_owned()),
            _ => Command::Load(SourceChoice::File(path.to_owned())),
        });
        harness.step();
    }
    let name = path.display().to_string();
    step_until(harness, &format!("the error about {name}"), |app| {
        app.model.loading.is_none()
            && app.model.learning.pending.is_none()
            && app
                .model
                .status
                .error
                .as_deref()
                .is_some_and(|e| e.contains(&name))
    });
    harness.state().model.status.error.clone().unwrap()
}

/// Loads a good file and steps until it is on screen.
fn open_good(harness: &mut Harness<'_, DiffscopeApp>, path: &Path) {
    harness.state_mut().push(Command::DismissError);
    harness
        .state_mut()
        .push(Command::Load(SourceChoice::File(path.to_owned())));
    harness.step();
    step_until(harness, &format!("{} on screen", path.display()), |app| {
        app.model.loading.is_none() && app.model.scene.source == SourceChoice::File(path.to_owned())
    });
    assert!(
        harness.state().model.status.error.is_none(),
        "{:?}",
        harness.state().model.status
    );
}

/// Loads a good weights file and steps until it is the model.
fn load_good_model(harness: &mut Harness<'_, DiffscopeApp>, path: &Path) {
    harness.state_mut().push(Command::DismissError);
    harness.state_mut().push(Command::LoadModel(path.to_owned()));
    harness.step();
    step_until(harness, &format!("the model {}", path.display()), |app| {
        app.model.learning.pending.is_none()
            && learned_origin(app) == Some(LearnedOrigin::File(path.to_owned()))
    });
}

fn learned_origin(app: &DiffscopeApp) -> Option<LearnedOrigin> {
    app.model.learning.learned.as_ref().map(|m| m.origin.clone())
}

/// Each case of `kind` in turn, alternately dropped and opened: the error names the file
/// and gives the reason, it is on screen, and the data and the model are what they were.
fn refuse_all(harness: &mut Harness<'_, DiffscopeApp>, kind: Kind) -> usize {
    let mut checked = 0;
    for (i, case) in cases().iter().filter(|c| c.kind == kind).enumerate() {
        let (scene_before, source_before) = (
            scene_identity(harness.state()),
            harness.state().model.scene.source.clone(),
        );
        let model_before = learned_origin(harness.state());
        let error = open_and_fail(harness, &case.path, kind, i % 2 == 0);
        assert!(
            error.contains(&case.reason),
            "{}: expected {:?} in: {error}",
            case.name(),
            case.reason
        );
        let shown = label_starting(harness, "error: ");
        assert!(
            shown.contains(&case.name()),
            "{}: on screen: {shown}",
            case.name()
        );
        let app = harness.state();
        assert_eq!(
            scene_identity(app),
            scene_before,
            "{}: the data on screen changed",
            case.name()
        );
        assert_eq!(app.model.scene.source, source_before, "{}", case.name());
        assert_eq!(
            learned_origin(app),
            model_before,
            "{}: the model changed",
            case.name()
        );
        checked += 1;
    }
    checked
}

#[test]
fn the_window_names_each_hostile_file_and_keeps_what_was_on_screen() {
    let mut harness = harness_with(Settings {
        export_dir: scratch("hostile-exports"),
        show_math: false,
        ..Settings::default()
    });
    step_until(&mut harness, "the start-up", |app| {
        app.model.learning.pending.is_none() && app.model.loading.is_none()
    });
    // Images while the astronaut is on screen.
    assert_eq!(harness.state().model.scene.name, "astronaut");
    let images = refuse_all(&mut harness, Kind::Image);
    assert_eq!(harness.state().model.scene.name, "astronaut");
    // A good CSV still opens; then the hostile ones leave its points.
    open_good(&mut harness, &corpus::ok("ok.csv"));
    assert_eq!(harness.state().model.points.as_ref().unwrap().x0.len(), 200);
    let points = refuse_all(&mut harness, Kind::Points);
    assert_eq!(harness.state().model.points.as_ref().unwrap().x0.len(), 200);
    // A good image still opens.
    open_good(&mut harness, &corpus::ok("ok.png"));
    assert!(matches!(harness.state().model.scene.data, SceneData::Image(_)));
    // Weights: with a model loaded from a file, every hostile file keeps it.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/weights/two-moons.safetensors");
    load_good_model(&mut harness, &shipped);
    let weights = refuse_all(&mut harness, Kind::Weights);
    load_good_model(
        &mut harness,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/weights/digits.safetensors"),
    );
    assert_eq!(images + points + weights, cases().len());
}

/// An in-memory eframe storage holding `value` under the settings key, as eframe's file
/// storage holds the text of a settings file.
fn storage_with(value: String) -> Memory {
    let mut memory = Memory::default();
    eframe::Storage::set_string(&mut memory, STORAGE_KEY, value);
    memory
}

#[test]
fn garbage_settings_give_the_defaults_and_wild_ones_are_brought_into_range() {
    let [garbage, wrong_types, wild] = corpus::settings_files();
    for path in [&garbage, &wrong_types] {
        let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
        let storage = storage_with(text);
        let (settings, seen) = watch(|| stored_settings(Some(&storage)));
        assert_eq!(settings, Settings::default(), "{}", path.display());
        assert!(seen.count > 0 && seen.largest < BOUND_BYTES, "{seen:?}");
    }
    let text = std::fs::read_to_string(&wild).unwrap();
    let settings = stored_settings(Some(&storage_with(text)));
    assert_ne!(settings, Settings::default(), "the wild settings parse");
    assert_eq!(settings.n_points, 0);
    // The window starts with them: every value clamped, the missing remembered file
    // reported by name, and the astronaut on screen instead.
    let harness = harness_with(settings);
    let app = harness.state();
    let s = &app.settings;
    assert_eq!(s.schedule, Settings::default().schedule);
    assert_eq!(
        (s.t, s.n_points, s.max_side, s.compare_columns, s.highlighted),
        (1000, 16, 2048, 10, 20)
    );
    assert_eq!((s.zoom, s.speed_steps_per_s), (1.0, 100.0));
    // Constant is no longer the schedule, so it may be overlaid (once).
    assert_eq!(s.overlay, vec![ScheduleKind::Constant, ScheduleKind::Cosine]);
    let r = &s.reverse;
    assert_eq!(
        (r.ddim_steps, r.ddim_eta, r.n_points, r.n_images, r.steps_per_s),
        (1, 0.0, 1, 144, 200.0)
    );
    assert_eq!((r.sdedit_t, r.lr, r.batch, r.iterations), (1, 2e-3, 1, 1));
    assert_eq!(app.model.scene.name, "astronaut");
    let error = app.model.status.error.clone().unwrap();
    assert!(
        error.starts_with("cannot read points file '/nonexistent/diffscope-hostile/points.csv': "),
        "{error}"
    );
}

/// A garbage settings file (`app.ron`) in the settings folder: `--screenshot` implies
/// `--fresh`, which (issue 12, item 1) neither reads nor writes it, so the window is the
/// default one and the file is left exactly as it was (the parse of a garbage file by the
/// app's own key is covered by the test above).
#[test]
fn the_real_window_comes_up_over_a_garbage_settings_file_and_a_fresh_run_leaves_it() {
    use crate::window::{default_screenshot, fraction_differing, screenshot_in};
    let [garbage, ..] = corpus::settings_files();
    let dir = crate::window::scratch("garbage-settings");
    let app_ron: PathBuf = dir.join("diffscope").join("app.ron");
    std::fs::create_dir_all(app_ron.parent().unwrap()).unwrap();
    std::fs::copy(&garbage, &app_ron).unwrap();
    let img = screenshot_in(&dir, &[]);
    // The same window as with no settings file at all (measured: identical pixels).
    let differing = fraction_differing(&img, default_screenshot());
    assert!(
        differing < 0.001,
        "{:.2}% of the pixels differ from the default window",
        differing * 100.0
    );
    // A fresh run wrote nothing: the garbage is still there, byte for byte.
    assert_eq!(std::fs::read(&app_ron).unwrap(), std::fs::read(&garbage).unwrap());
}
