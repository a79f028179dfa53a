//! The real app driven through egui_kittest as a user would: find widgets by their
//! label, press keys, drop files; check what the window shows against the library.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diffscope::app::settings::{STORAGE_KEY, Settings, SourceChoice, ThemeChoice};
use diffscope::app::{DiffscopeApp, RunOptions};
use diffscope::diffusion::{Schedule, ScheduleKind, ScheduleSpec};
use diffscope::scene::SceneData;
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};

pub(crate) fn harness_with(settings: Settings) -> Harness<'static, DiffscopeApp> {
    let options = RunOptions {
        fresh: true,
        ..RunOptions::default()
    };
    let mut harness = Harness::builder()
        .with_size([1440.0, 900.0])
        .build_eframe(move |cc| diffscope::gui::new_app(&cc.egui_ctx, settings, options));
    harness.run_steps(3);
    harness
}

fn harness() -> Harness<'static, DiffscopeApp> {
    harness_with(Settings {
        export_dir: scratch("exports"),
        ..Settings::default()
    })
}

/// A fresh folder for one test's files.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Steps the app until `done` holds (background work: loads, frames), at most 20 s.
#[track_caller]
pub(crate) fn step_until(
    harness: &mut Harness<'_, DiffscopeApp>,
    what: &str,
    done: impl Fn(&DiffscopeApp) -> bool,
) {
    let start = Instant::now();
    while !done(harness.state()) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    harness.run_steps(2);
}

/// The texts of the labels that start with `prefix`.
pub(crate) fn labels_starting(harness: &Harness<'_, DiffscopeApp>, prefix: &str) -> Vec<String> {
    harness
        .get_all_by_label_contains(prefix)
        .filter_map(|n| n.accesskit_node().label().or_else(|| n.value()))
        .filter(|l| l.starts_with(prefix))
        .collect()
}

/// The text of the one label that starts with `prefix`.
#[track_caller]
pub(crate) fn label_starting(harness: &Harness<'_, DiffscopeApp>, prefix: &str) -> String {
    let found = labels_starting(harness, prefix);
    assert_eq!(found.len(), 1, "labels starting with {prefix:?}: {found:?}");
    found[0].clone()
}

/// The number the one label `name = <number>` shows (the math panel's formulas, such as
/// `ᾱ_t = ∏ α_i`, are not numbers and are skipped).
#[track_caller]
fn shown_value(harness: &Harness<'_, DiffscopeApp>, name: &str) -> f64 {
    let prefix = format!("{name} = ");
    let numbers: Vec<f64> = labels_starting(harness, &prefix)
        .iter()
        .filter_map(|l| l[prefix.len()..].parse().ok())
        .collect();
    assert_eq!(numbers.len(), 1, "numbers shown as {prefix:?}: {numbers:?}");
    numbers[0]
}

/// A dropped file, as the window system hands it to egui.
#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

pub(crate) fn drop_file(harness: &mut Harness<'_, DiffscopeApp>, path: &Path) {
    harness
        .input_mut()
        .dropped_files
        .push(Arc::new(Dropped(path.to_owned())));
    harness.step();
}

#[test]
fn the_t_slider_moves_t_and_the_shown_alpha_bar_is_the_schedules() {
    let mut harness = harness();
    harness
        .get_by_role_and_label(Role::Slider, "t")
        .set_value_accesskit(500.0);
    harness.run_steps(2);
    assert_eq!(harness.state().settings.t, 500);
    let value = shown_value(&harness, "ᾱ_t");
    let schedule = Schedule::new(&ScheduleSpec::new(ScheduleKind::Linear, 1000)).unwrap();
    assert!(
        (value / schedule.alpha_bar(500) - 1.0).abs() < 1e-5,
        "shown {value}, schedule {}",
        schedule.alpha_bar(500)
    );
    // The closed form's coefficients are on screen too: x_t = √ᾱ·x_0 + √(1−ᾱ)·ε.
    let equations = labels_starting(&harness, "x_t = ");
    assert!(
        equations.contains(&format!(
            "x_t = {}·x_0 + {}·ε",
            diffscope::format::format_sig(schedule.sqrt_alpha_bar(500), 4),
            diffscope::format::format_sig(schedule.sqrt_one_minus_alpha_bar(500), 4)
        )),
        "{equations:?}"
    );
    // And the Markov step: x_t = √α_t·x_{t−1} + √β_t·ε_t.
    let step = schedule.q_step_coefs(500);
    assert!(equations.contains(&format!(
        "x_t = {}·x_{{t−1}} + {}·ε_t",
        diffscope::format::format_sig(step.signal, 4),
        diffscope::format::format_sig(step.noise, 4)
    )));
    // Both image views arrive from the worker for this t.
    step_until(&mut harness, "the frames of t = 500", |app| {
        app.model.image.closed.as_ref().is_some_and(|c| c.0 == 500)
            && app.model.image.markov.as_ref().is_some_and(|m| m.0 == 500)
    });
    assert!(harness.state().model.textures.0.is_some() && harness.state().model.textures.1.is_some());
}

#[test]
fn switching_the_schedule_changes_the_numbers_on_screen() {
    let mut harness = harness();
    harness
        .get_by_role_and_label(Role::Slider, "t")
        .set_value_accesskit(500.0);
    harness.run_steps(2);
    // Open the schedule menu (it shows the current one) and pick cosine.
    harness.get_by_role_and_label(Role::ComboBox, "Schedule").click();
    harness.run_steps(2);
    harness.get_by_role_and_label(Role::Button, "cosine").click();
    harness.run_steps(2);
    assert_eq!(harness.state().settings.schedule.kind, ScheduleKind::Cosine);
    let value = shown_value(&harness, "ᾱ_t");
    // MATH.md: cosine ᾱ_500 = 0.49384.
    assert!((value - 0.49384).abs() < 1e-5, "shown {value}");
    // T is editable, and t is kept within it.
    harness.state_mut().settings.schedule.steps = 200;
    harness.run_steps(2);
    assert_eq!(harness.state().model.schedule.steps(), 200);
    assert_eq!(harness.state().settings.t, 200);
}

#[test]
fn loading_a_2d_set_shows_both_views_of_its_points() {
    let mut harness = harness();
    harness.get_by_role_and_label(Role::ComboBox, "Data").click();
    harness.run_steps(2);
    harness.get_by_label("two moons").click();
    step_until(&mut harness, "two moons", |app| {
        matches!(app.model.scene.data, SceneData::Points(_))
    });
    let app = harness.state();
    assert_eq!(app.settings.source, SourceChoice::Dataset("two-moons".into()));
    let points = app.model.points.as_ref().expect("the points view");
    assert_eq!((points.markov.len(), points.closed.len()), (1000, 1000));
    assert_eq!(points.markov_paths.len(), 4);
    assert_eq!(points.markov_paths[0].len(), 1001);
    // At t = 250 the closed form is exactly √ᾱ x_0 + √(1−ᾱ) ε with the seed's ε.
    let schedule = &app.model.schedule;
    let eps = diffscope::diffusion::forward::closed_form_noise::<f64>(0, 2000);
    let c = schedule.q_sample_coefs(250);
    let expected = [
        c.signal * points.x0[7][0] + c.noise * eps[14],
        c.signal * points.x0[7][1] + c.noise * eps[15],
    ];
    assert_eq!(points.t, 250);
    assert!(
        (points.closed[7][0] - expected[0]).abs() < 1e-12
            && (points.closed[7][1] - expected[1]).abs() < 1e-12
    );
    // The point count is a setting: 500 points reload the set.
    harness.state_mut().settings.n_points = 500;
    harness.step();
    step_until(&mut harness, "500 points", |app| {
        app.model.points.as_ref().is_some_and(|p| p.x0.len() == 500)
    });
}

#[test]
fn a_corrupt_file_shows_an_error_naming_it_and_the_old_data_stays() {
    let mut harness = harness();
    let dir = scratch("corrupt");
    let corrupt = dir.join("broken.png");
    std::fs::write(&corrupt, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR garbage").unwrap();
    drop_file(&mut harness, &corrupt);
    step_until(&mut harness, "the load to fail", |app| {
        app.model.status.error.is_some() && app.model.loading.is_none()
    });
    let error = harness.state().model.status.error.clone().unwrap();
    assert!(
        error.starts_with(&format!("cannot read image '{}'", corrupt.display())),
        "{error}"
    );
    // The error is on screen, and the astronaut is still there.
    let shown = label_starting(&harness, "error: cannot read image");
    assert!(shown.contains("broken.png"), "{shown}");
    assert_eq!(harness.state().model.scene.name, "astronaut");
    assert!(matches!(harness.state().model.scene.data, SceneData::Image(_)));
    // Dismissing clears it.
    harness.get_by_label("✕").click();
    harness.run_steps(2);
    assert!(harness.state().model.status.error.is_none());

    // A PNG whose header claims 100000 × 100000 pixels is refused before decoding.
    let huge = dir.join("huge.png");
    std::fs::write(&huge, huge_png_header()).unwrap();
    drop_file(&mut harness, &huge);
    step_until(&mut harness, "the huge load to fail", |app| {
        app.model.status.error.is_some() && app.model.loading.is_none()
    });
    let error = harness.state().model.status.error.clone().unwrap();
    assert!(
        error.contains("huge.png") && error.contains("100000×100000"),
        "{error}"
    );

    // A 0-byte file and a folder.
    let empty = dir.join("empty.jpg");
    std::fs::write(&empty, b"").unwrap();
    drop_file(&mut harness, &empty);
    step_until(&mut harness, "the empty load to fail", |app| {
        app.model
            .status
            .error
            .as_deref()
            .is_some_and(|e| e.contains("empty.jpg"))
    });
    drop_file(&mut harness, &dir);
    step_until(&mut harness, "the folder load to fail", |app| {
        app.model
            .status
            .error
            .as_deref()
            .is_some_and(|e| e.contains("folder"))
    });
    assert_eq!(harness.state().model.scene.name, "astronaut");
}

/// A PNG signature and an IHDR chunk claiming 100000 × 100000 RGB pixels.
fn huge_png_header() -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(100_000u32.to_be_bytes());
    ihdr.extend(100_000u32.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    let mut crc = flate2::Crc::new();
    crc.update(&ihdr);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(13u32.to_be_bytes());
    png.extend(&ihdr);
    png.extend(crc.sum().to_be_bytes());
    png
}

#[test]
fn dropping_a_points_csv_opens_it_and_a_bad_one_keeps_the_points() {
    let mut harness = harness();
    let dir = scratch("csv");
    let good = dir.join("mine.csv");
    let rows: String = (0..200).fold(String::new(), |mut rows, i| {
        writeln!(rows, "{},{}", f64::from(i).sin(), f64::from(i) * 0.1).unwrap();
        rows
    });
    std::fs::write(&good, format!("x,y\n{rows}")).unwrap();
    drop_file(&mut harness, &good);
    step_until(&mut harness, "the CSV", |app| {
        matches!(app.model.scene.data, SceneData::Points(_))
    });
    assert_eq!(harness.state().model.points.as_ref().unwrap().x0.len(), 200);

    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "x,y\n1,2\n3,NaN\n").unwrap();
    drop_file(&mut harness, &bad);
    step_until(&mut harness, "the bad CSV to fail", |app| {
        app.model.status.error.is_some()
    });
    let error = harness.state().model.status.error.clone().unwrap();
    assert!(
        error.contains("bad.csv line 3") && error.contains("NaN"),
        "{error}"
    );
    assert_eq!(harness.state().model.points.as_ref().unwrap().x0.len(), 200);
    assert_eq!(harness.state().model.scene.name, "mine");
}

#[test]
fn keys_step_play_and_jump() {
    use egui::{Key, Modifiers};
    let mut harness = harness();
    let t = |h: &Harness<'_, DiffscopeApp>| h.state().settings.t;
    assert_eq!(t(&harness), 250);
    harness.key_press(Key::ArrowRight);
    harness.run_steps(1);
    assert_eq!(t(&harness), 251);
    harness.key_press_modifiers(Modifiers::SHIFT, Key::ArrowLeft);
    harness.run_steps(1);
    assert_eq!(t(&harness), 241);
    harness.key_press(Key::End);
    harness.run_steps(1);
    assert_eq!(t(&harness), 1000);
    harness.key_press(Key::Home);
    harness.run_steps(1);
    assert_eq!(t(&harness), 0);
    harness.key_press(Key::Space);
    harness.run_steps(1);
    assert!(harness.state().model.playing);
    harness.run_steps(20);
    assert!(t(&harness) > 0, "playing advances t");
    harness.key_press(Key::Space);
    harness.run_steps(1);
    assert!(!harness.state().model.playing);
    let stopped = t(&harness);
    harness.run_steps(5);
    assert_eq!(t(&harness), stopped);
}

#[test]
fn a_schedule_that_cannot_be_built_is_refused_and_the_old_one_kept() {
    let mut harness = harness();
    {
        let s = &mut harness.state_mut().settings.schedule;
        s.kind = ScheduleKind::Constant;
        s.steps = 10_000;
        s.beta = Some(0.5); // ᾱ underflows long before T
    }
    harness.run_steps(2);
    let app = harness.state();
    assert_eq!(app.model.schedule.spec().kind, ScheduleKind::Linear);
    assert_eq!(app.settings.schedule.kind, ScheduleKind::Linear);
    assert!(
        app.model
            .status
            .error
            .as_deref()
            .is_some_and(|e| e.contains("underflows"))
    );
}

#[test]
fn exports_write_the_frame_the_gif_the_csv_and_the_grid() {
    use diffscope::app::Command;
    let mut harness = harness_with(Settings {
        source: SourceChoice::Dataset("circles".into()),
        export_dir: scratch("exports-all"),
        schedule: ScheduleSpec::new(ScheduleKind::Cosine, 100),
        overlay: vec![ScheduleKind::Linear, ScheduleKind::Sigmoid],
        t: 50,
        ..Settings::default()
    });
    let dir = harness.state().settings.export_dir.clone();
    for command in [
        Command::ExportFrame,
        Command::ExportGif(12),
        Command::ExportCompare,
    ] {
        harness.state_mut().push(command);
        harness.step();
        step_until(&mut harness, "the export", |app| app.model.export.is_none());
        let status = harness.state().model.status.clone();
        assert!(status.error.is_none(), "{status:?}");
    }
    // The Export section is below the fold of the left panel (under Model and Training):
    // the command its "schedule CSV" button pushes.
    assert!(harness.query_by_label("schedule CSV").is_some());
    harness.state_mut().push(Command::ExportScheduleCsv);
    harness.run_steps(2);
    let frame = image::open(dir.join("circles-cosine-t50.png")).unwrap();
    assert!(frame.width() > 2 * 320 && frame.height() > 320);
    let gif = std::fs::File::open(dir.join("circles-cosine-forward.gif")).unwrap();
    let frames = image::AnimationDecoder::into_frames(
        image::codecs::gif::GifDecoder::new(std::io::BufReader::new(gif)).unwrap(),
    )
    .collect_frames()
    .unwrap();
    assert_eq!(frames.len(), 12);
    let grid = image::open(dir.join("circles-compare.png")).unwrap();
    // Three rows (cosine and its two overlays) of six columns of 320-pixel scatters.
    assert!(
        grid.width() > 6 * 320 && grid.height() > 3 * 320,
        "{}×{}",
        grid.width(),
        grid.height()
    );
    let csv = std::fs::read_to_string(dir.join("schedule-cosine-T100.csv")).unwrap();
    assert_eq!(csv.lines().count(), 101);
    assert!(csv.starts_with("t,alpha,beta,alpha_bar,log_snr,posterior_variance\n1,"));
}

/// An in-memory eframe storage, as the settings file would be.
#[derive(Default)]
pub(crate) struct Memory(std::collections::HashMap<String, String>);

impl eframe::Storage for Memory {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }

    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }

    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }

    fn flush(&mut self) {}
}

#[test]
fn settings_survive_a_restart_and_garbage_gives_the_defaults() {
    let mut settings = Settings {
        source: SourceChoice::Dataset("spiral".into()),
        t: 77,
        theme: ThemeChoice::Light,
        overlay: vec![ScheduleKind::Sigmoid, ScheduleKind::Quadratic],
        ..Settings::default()
    };
    settings.schedule.kind = ScheduleKind::Cosine;
    settings.schedule.zero_terminal_snr = true;
    let mut storage = Memory::default();
    eframe::set_value(&mut storage, STORAGE_KEY, &settings);
    let back: Settings = eframe::get_value(&storage, STORAGE_KEY).unwrap();
    assert_eq!(back, settings);
    // The app starts where it was left.
    let harness = harness_with(back.clone());
    assert_eq!(harness.state().settings.t, 77);
    assert_eq!(harness.state().model.scene.name, "spiral");
    // A garbage file gives no settings (and so the defaults), never a panic.
    eframe::Storage::set_string(&mut storage, STORAGE_KEY, "(((garbage".into());
    assert!(eframe::get_value::<Settings>(&storage, STORAGE_KEY).is_none());
    // Values out of range are clamped on load.
    let wild = Settings {
        t: 5000,
        zoom: f32::NAN,
        n_points: 0,
        ..Settings::default()
    }
    .sanitised();
    assert_eq!((wild.t, wild.zoom, wild.n_points), (1000, 1.0, 16));
}

#[test]
fn a_cancelled_gif_export_says_so_and_leaves_no_file() {
    use diffscope::app::Command;
    let mut harness = harness_with(Settings {
        export_dir: scratch("cancel"),
        schedule: ScheduleSpec::new(ScheduleKind::Linear, 1000),
        ..Settings::default()
    });
    let dir = harness.state().settings.export_dir.clone();
    harness.state_mut().push(Command::ExportGif(1001));
    harness.run_steps(2);
    harness.get_by_label("cancel").click();
    harness.step();
    step_until(&mut harness, "the export to stop", |app| {
        app.model.export.is_none()
    });
    let status = harness.state().model.status.clone();
    assert!(status.error.is_none(), "{status:?}");
    assert!(
        status.info.as_deref().is_some_and(|i| i.contains("cancelled")),
        "{status:?}"
    );
    assert!(!dir.join("astronaut-linear-forward.gif").exists());
}

/// The texts of the labels that contain `part`.
pub(crate) fn labels_containing(harness: &Harness<'_, DiffscopeApp>, part: &str) -> Vec<String> {
    harness
        .get_all_by_label_contains(part)
        .filter_map(|n| n.accesskit_node().label().or_else(|| n.value()))
        .collect()
}

/// A model loading from a long path says so in the controls without widening them. The
/// label once sat in a horizontal row that does not wrap, so a load in flight grew the
/// panel for good: CI's default window came out 5 px wider when the shipped model was
/// still loading on the first frames (40 % of the pixels moved).
#[test]
fn a_long_loading_message_wraps_inside_the_controls() {
    use diffscope::app::Command;
    let mut harness = harness();
    step_until(&mut harness, "the shipped model", |app| {
        app.model.learning.pending.is_none()
    });
    // The controls' right edge: where the central panel, and its first tab, begin.
    let width = |h: &Harness<'_, DiffscopeApp>| h.get_by_label("VAE → VDM").rect().left();
    let before = width(&harness);
    // A FIFO: the model worker's read of it waits until something is written, so the load
    // stays in flight for as many frames as the test likes.
    let dir = scratch("long-loading");
    let fifo = dir.join("a-weights-file-whose-name-is-far-wider-than-the-controls.safetensors");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    harness.state_mut().push(Command::LoadModel(fifo.clone()));
    harness.run_steps(5);
    assert!(harness.state().model.learning.pending.is_some());
    let label = harness.get_by_label_contains("far-wider-than").rect();
    assert!(
        label.right() <= before,
        "the label ends at {} px, the panel at {before}",
        label.right()
    );
    assert_eq!(width(&harness), before, "the panel's width");
    // Something that is not a model: the load ends with an error naming the file.
    std::fs::write(&fifo, b"not a model").unwrap();
    step_until(&mut harness, "the refusal", |app| {
        app.model.learning.pending.is_none()
    });
    let error = harness.state().model.status.error.clone().unwrap_or_default();
    assert!(error.contains("far-wider-than"), "{error}");
    assert_eq!(width(&harness), before, "the panel's width after the load");
}
