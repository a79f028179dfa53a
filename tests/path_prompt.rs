//! Issue 12 item 14: where no desktop file dialog answers (no xdg portal: this test
//! machine, many lecture-hall PCs), Open… and Choose… offer a path field with completion
//! and the recent files, driven here key by key as a user would.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use diffscope::app::DiffscopeApp;
use diffscope::app::dialogs::DialogKind;
use diffscope::app::path_prompt::{check_path, common_prefix, completions};
use diffscope::app::settings::{Settings, SourceChoice};
use diffscope::scene::SceneData;
use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use crate::ui::{harness_with, scratch, step_until};

/// A points CSV of `n` rows.
fn points_csv(n: usize) -> String {
    let mut text = String::from("x,y\n");
    for i in 0..n {
        let a = i as f64 * 0.1;
        writeln!(text, "{},{}", a.cos(), a.sin()).unwrap();
    }
    text
}

/// Types `text` one character a frame, as a user does.
fn type_text(harness: &mut Harness<'_, DiffscopeApp>, text: &str) {
    for c in text.chars() {
        harness.input_mut().events.push(egui::Event::Text(c.to_string()));
        harness.run_steps(1);
    }
}

/// Clicks the button `label` and waits for the path field (the dialog thread finds no
/// portal and answers at once).
fn open_field(harness: &mut Harness<'_, DiffscopeApp>, label: &str, kind: DialogKind) {
    harness.get_by_label(label).click();
    let start = Instant::now();
    while harness.state().model.path_prompt.as_ref().map(|p| p.kind) != Some(kind) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no path field after {label}: status {:?}",
            harness.state().model.status
        );
        harness.run_steps(1);
        std::thread::sleep(Duration::from_millis(10));
    }
    harness.run_steps(2);
}

/// Selects the field's text (it starts at a suggested folder), so typing replaces it.
fn select_all(harness: &mut Harness<'_, DiffscopeApp>) {
    harness.key_press_modifiers(Modifiers::COMMAND, Key::A);
    harness.run_steps(1);
}

fn field_text(harness: &Harness<'_, DiffscopeApp>) -> String {
    harness
        .ctx
        .data(|d| d.get_temp::<(DialogKind, String)>(egui::Id::unique("diffscope_path_field")))
        .map(|(_, text)| text)
        .unwrap_or_default()
}

#[test]
fn open_without_a_dialog_types_a_path_with_tab_completion_and_remembers_it() {
    let dir = scratch("path-prompt");
    std::fs::write(dir.join("moons-typed.csv"), points_csv(150)).unwrap();
    std::fs::create_dir(dir.join("moons-dir")).unwrap();
    std::fs::write(dir.join("other.csv"), points_csv(10)).unwrap();
    let mut harness = harness_with(Settings {
        export_dir: scratch("path-prompt-exports"),
        ..Settings::default()
    });
    let before = harness.state().model.scene.name.clone();

    open_field(&mut harness, "Open…", DialogKind::OpenData);
    select_all(&mut harness);
    type_text(&mut harness, &format!("{}/moo", dir.display()));
    // Two entries start with "moo": Tab completes what they share, and both are listed.
    harness.key_press(Key::Tab);
    harness.run_steps(2);
    assert_eq!(field_text(&harness), format!("{}/moons-", dir.display()));
    harness.get_by_label("moons-typed.csv");
    harness.get_by_label("moons-dir/");
    assert!(
        harness.query_by_label("other.csv").is_none(),
        "other.csv does not match"
    );
    type_text(&mut harness, "t");
    harness.key_press(Key::Tab);
    harness.run_steps(2);
    let file = dir.join("moons-typed.csv");
    assert_eq!(field_text(&harness), file.display().to_string());
    harness.key_press(Key::Enter);
    harness.run_steps(2);
    assert!(
        harness.state().model.path_prompt.is_none(),
        "Enter opens and closes the field"
    );
    step_until(&mut harness, "the typed CSV", |app| {
        matches!(app.model.scene.data, SceneData::Points(_)) && app.model.scene.name == "moons-typed"
    });
    assert_eq!(harness.state().model.points.as_ref().unwrap().x0.len(), 150);
    assert_ne!(before, "moons-typed");
    let canonical = std::fs::canonicalize(&file).unwrap();
    assert_eq!(harness.state().settings.recent_files, vec![canonical.clone()]);

    // A path that does not exist: the field says why and stays; the data stays.
    open_field(&mut harness, "Open…", DialogKind::OpenData);
    select_all(&mut harness);
    type_text(&mut harness, &format!("{}/nothing-here.csv", dir.display()));
    harness.key_press(Key::Enter);
    harness.run_steps(3);
    let prompt = harness
        .state()
        .model
        .path_prompt
        .clone()
        .expect("the field stays");
    let refused = prompt.refused.expect("a reason");
    assert!(refused.ends_with("nothing-here.csv: no such file"), "{refused}");
    assert_eq!(harness.state().model.scene.name, "moons-typed");

    // The recent file is one click away.
    harness.get_by_label(&canonical.display().to_string()).click();
    harness.run_steps(3);
    assert!(harness.state().model.path_prompt.is_none());
    assert_eq!(
        harness.state().settings.source,
        SourceChoice::File(file.clone()),
        "the source stays the file opened"
    );

    // Escape closes the field without choosing.
    open_field(&mut harness, "Open…", DialogKind::OpenData);
    harness.key_press(Key::Escape);
    harness.run_steps(3);
    assert!(
        harness.state().model.path_prompt.is_none(),
        "Esc closes the field"
    );
}

#[test]
fn choose_export_folder_without_a_dialog_takes_a_typed_folder() {
    let exports = scratch("path-prompt-choose");
    let target = scratch("path-prompt-target");
    let mut harness = harness_with(Settings {
        export_dir: exports.clone(),
        ..Settings::default()
    });
    // Tall enough that the Export section of the left panel is on screen.
    harness.set_size(egui::Vec2::new(1440.0, 2400.0));
    harness.run_steps(3);
    open_field(&mut harness, "Choose…", DialogKind::ExportDir);
    // The field starts at the current folder, so a user can go on from it.
    assert_eq!(field_text(&harness), format!("{}/", exports.display()));
    select_all(&mut harness);
    // A file is not a folder.
    std::fs::write(target.join("a.txt"), "x").unwrap();
    type_text(&mut harness, &format!("{}/a.txt", target.display()));
    harness.get_by_label("Choose").click();
    harness.run_steps(3);
    let refused = harness
        .state()
        .model
        .path_prompt
        .clone()
        .unwrap()
        .refused
        .unwrap();
    assert!(refused.ends_with("a.txt: no such folder"), "{refused}");
    assert_eq!(harness.state().settings.export_dir, exports);
    select_all(&mut harness);
    type_text(&mut harness, &target.display().to_string());
    harness.key_press(Key::Enter);
    harness.run_steps(3);
    assert!(harness.state().model.path_prompt.is_none());
    assert_eq!(harness.state().settings.export_dir, target);
}

#[test]
fn completion_lists_matching_entries_and_tab_takes_what_they_share() {
    let dir = scratch("path-completion");
    for name in ["alpha.png", "alphabet.csv", "beta.csv", ".hidden"] {
        std::fs::write(dir.join(name), "").unwrap();
    }
    std::fs::create_dir(dir.join("alpine")).unwrap();
    let base = format!("{}/", dir.display());
    let found = completions(&format!("{base}al"), false);
    assert_eq!(
        found,
        [
            format!("{base}alpha.png"),
            format!("{base}alphabet.csv"),
            format!("{base}alpine/"),
        ]
    );
    assert_eq!(common_prefix(&found), Some(format!("{base}alp")));
    assert_eq!(
        completions(&format!("{base}al"), true),
        [format!("{base}alpine/")]
    );
    // Hidden entries only when asked for with a dot; nothing in a missing folder.
    assert_eq!(completions(&base, false).len(), 4);
    assert_eq!(
        completions(&format!("{base}.h"), false),
        [format!("{base}.hidden")]
    );
    assert!(completions(&format!("{base}nope/"), false).is_empty());
    // Multi-byte names are cut on a character boundary.
    assert_eq!(
        common_prefix(&["/a/ᾱé".to_owned(), "/a/ᾱè".to_owned()]),
        Some("/a/ᾱ".to_owned())
    );
    assert_eq!(common_prefix(&[]), None);

    assert!(check_path(DialogKind::OpenData, &dir.join("alpha.png")).is_ok());
    assert_eq!(
        check_path(DialogKind::OpenData, &dir.join("alpine")).unwrap_err(),
        format!("{} is a folder: type a file in it", dir.join("alpine").display())
    );
    assert!(check_path(DialogKind::SaveModel, &dir.join("new.safetensors")).is_ok());
    assert_eq!(
        check_path(DialogKind::SaveModel, &dir.join("missing/new.safetensors")).unwrap_err(),
        format!("{}: no such folder", dir.join("missing").display())
    );
    assert!(check_path(DialogKind::ExportDir, &dir).is_ok());
    assert!(check_path(DialogKind::OpenModel, std::path::Path::new("")).is_err());
}
