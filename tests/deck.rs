//! Decks: the built-in lecture chapter by chapter in the real app (kittest), PageDown and
//! PageUp, save → open round trips, and every kind of malformed deck as a one-line error
//! with the file and the line, with nothing on screen lost.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use diffscope::app::Command;
use diffscope::app::deck::{self, Chapter, ChapterView, DeckError, DeckSource, ModelChoice};
use diffscope::app::latent::LatentMode;
use diffscope::app::markov::MarkovEdit;
use diffscope::app::settings::{ElboAxis, MarkovMode, SamplerKind, Settings, SourceChoice, Tab};
use diffscope::app::{DiffscopeApp, RunOptions};
use diffscope::diffusion::discrete::DiscreteKind;
use diffscope::diffusion::finite::{Preset, Transition};
use diffscope::diffusion::{ScheduleKind, ScheduleSpec};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use crate::ui::{harness_with, scratch, step_until};

/// The app with default settings at the lecture's size (1280×720).
fn app() -> Harness<'static, DiffscopeApp> {
    let mut harness = harness_with(Settings {
        export_dir: scratch("deck-exports"),
        ..Settings::default()
    });
    harness.set_size(egui::vec2(1280.0, 720.0));
    harness.run_steps(2);
    harness
}

/// Steps until the chapter's data is on screen and nothing is loading.
#[track_caller]
fn settle(harness: &mut Harness<'static, DiffscopeApp>, view: &ChapterView) {
    let want = view.source.clone();
    step_until(harness, "the chapter's data", move |app| {
        app.model.loading.is_none() && app.model.scene.source == want
    });
}

/// Asserts that the window shows `view` (the state a chapter sets).
#[track_caller]
fn assert_shows(app: &DiffscopeApp, view: &ChapterView, what: &str) {
    let s = &app.settings;
    assert_eq!(app.model.scene.source, view.source, "{what}: data");
    assert_eq!(s.tab, view.tab, "{what}: tab");
    assert_eq!(s.schedule, view.schedule, "{what}: schedule");
    assert_eq!(app.model.schedule.steps(), view.schedule.steps, "{what}: T");
    assert_eq!(
        app.model.schedule.spec(),
        &view.schedule,
        "{what}: the schedule built"
    );
    assert_eq!(s.overlay, view.overlay, "{what}: overlay");
    match view.play {
        // Playing: t moves, within the range.
        Some((from, to)) => {
            assert!(app.model.playing, "{what}: playing");
            assert!((from..=to).contains(&s.t), "{what}: t = {} in {from}..={to}", s.t);
        }
        // A chapter that samples hands t to the reverse chain (it starts at T).
        None if view.sample => assert!(s.t <= view.schedule.steps, "{what}: t"),
        None => assert_eq!(s.t, view.t, "{what}: t"),
    }
    assert_eq!(s.reverse.sampler, view.sampler, "{what}: sampler");
    assert_eq!(
        (s.markov.preset.as_deref(), s.markov.k, s.markov.n),
        (Some(view.markov_preset.name()), view.markov_states, view.n),
        "{what}: the Markov chain"
    );
    let discrete = (s.markov.mode == MarkovMode::Digits).then_some(s.d3pm.kind);
    assert_eq!(
        discrete, view.discrete,
        "{what}: the Markov chain tab's D3PM chain"
    );
    let switches = 1 + u8::from(s.latent.fixed_encoders) + u8::from(s.latent.to_noise);
    assert_eq!(
        (s.latent.mode, s.latent.beta, s.latent.levels, switches),
        (view.latent, view.vae_beta, view.levels, view.switches),
        "{what}: the VAE → VDM tab"
    );
    assert_eq!(s.elbo.axis, view.elbo_axis, "{what}: ELBO axis");
    assert_eq!(
        s.elbo.posterior_variance, view.posterior_variance,
        "{what}: ELBO σ²"
    );
}

#[test]
fn every_chapter_of_the_lecture_opens_and_renders() {
    let lecture = deck::open(&DeckSource::Lecture).expect("the built-in deck parses");
    // Every slide has a view: the VAE, the Markov chain (three: two chains and D3PM), the
    // hierarchical VAE (two), the ELBOs for MHVAE and VAE, the three switches to a VDM,
    // VDM, encoder, p(x_T) (two), learning p_θ (two), the ELBO (two), the VDM
    // distribution, the proof (two).
    assert_eq!(lecture.chapters.len(), 20);
    let titles: Vec<&str> = lecture.chapters.iter().map(|c| c.title.as_str()).collect();
    assert_eq!(titles[0], "Standard VAE");
    assert_eq!(titles[1], "A Markov chain");
    assert_eq!(titles[3], "Diffusion's forward process is such a chain");
    assert_eq!(titles[4], "Hierarchical VAE");
    assert_eq!(titles[6], "ELBO for MHVAE");
    assert_eq!(titles[7], "ELBO for VAE");
    assert_eq!(titles[8], "Three restrictions turn the MHVAE into a VDM");
    assert_eq!(titles[9], "Variational diffusion models");
    assert_eq!(titles[15], "The ELBO for VDMs: three terms");
    assert_eq!(titles[19], "Proof: the closed form");
    // Every formula typesets (RaTeX knows every command the slides use).
    for chapter in &lecture.chapters {
        for tex in &chapter.formulas {
            diffscope::ui::tex::rasterize(tex, 20.0, egui::Color32::WHITE)
                .unwrap_or_else(|e| panic!("chapter '{}': {e}", chapter.title));
        }
    }
    let mut harness = app();
    harness.state_mut().push(Command::OpenDeck(DeckSource::Lecture));
    for (i, chapter) in lecture.chapters.iter().enumerate() {
        if i > 0 {
            harness.state_mut().push(Command::GoToChapter(i));
        }
        harness.run_steps(2);
        settle(&mut harness, &chapter.view);
        let app = harness.state();
        let what = format!("chapter {} '{}'", i + 1, chapter.title);
        assert_eq!(app.model.deck.as_ref().map(|d| d.current), Some(i), "{what}");
        assert_shows(app, &chapter.view, &what);
        assert_eq!(app.model.status.error, None, "{what}");
        // The chapter's number, title and caption are on screen.
        harness.get_by_label(&format!("Chapter {} / 20", i + 1));
        harness.get_by_label(&chapter.title);
        harness.get_by_label(&chapter.caption);
    }
}

#[test]
fn lecture_chapters_set_the_numbers_of_their_slides() {
    let lecture = deck::open(&DeckSource::Lecture).unwrap();
    let mut harness = app();
    harness.state_mut().push(Command::OpenDeck(DeckSource::Lecture));
    harness.run_steps(2);
    settle(&mut harness, &lecture.chapters[0].view);
    // Chapter 1: the VAE → VDM tab's VAE at β = 1.
    let app = harness.state();
    assert_eq!(
        (
            app.settings.tab,
            app.settings.latent.mode,
            app.settings.latent.beta
        ),
        (Tab::Vae, LatentMode::Vae, 1.0)
    );
    // Chapter 9: the hierarchical VAE, T = 4, all three switches on.
    harness.state_mut().push(Command::GoToChapter(8));
    harness.run_steps(2);
    settle(&mut harness, &lecture.chapters[8].view);
    let latent = &harness.state().settings.latent;
    assert_eq!(
        (latent.mode, latent.levels, latent.fixed_encoders, latent.to_noise),
        (LatentMode::Hierarchical, 4, true, true)
    );
    // Chapter 2: the Markov chain tab, the well-mixing preset on 4 states at n = 3.
    harness.state_mut().push(Command::GoToChapter(1));
    harness.run_steps(2);
    settle(&mut harness, &lecture.chapters[1].view);
    let app = harness.state();
    assert_eq!((app.settings.tab, app.settings.markov.n), (Tab::Markov, 3));
    let want = Transition::preset(Preset::WellMixing, 4);
    for i in 0..4 {
        for (a, b) in app.model.markov.chain.row(i).iter().zip(want.row(i)) {
            assert!((a - b).abs() < 1e-15, "P[{i}]: {a} vs {b}");
        }
    }
    // Chapter 4: the Markov chain tab's D3PM chain (absorbing) on the digits, cosine
    // T = 1000 at t = 300, driven by t (not n).
    harness.state_mut().push(Command::GoToChapter(3));
    harness.run_steps(2);
    settle(&mut harness, &lecture.chapters[3].view);
    let app = harness.state();
    assert_eq!(
        (app.settings.tab, app.settings.markov.mode),
        (Tab::Markov, MarkovMode::Digits)
    );
    assert_eq!(
        (app.settings.d3pm.kind, app.settings.t),
        (DiscreteKind::Absorbing, 300)
    );
    assert!(!app.settings.steps_n());
    // Chapter 10: astronaut, linear T = 1000, t = 300 on the forward tab.
    // numpy: b = np.linspace(1e-4, 0.02, 1000); np.prod(1 - b[:300]) = 0.39641975945825253
    harness.state_mut().push(Command::GoToChapter(9));
    harness.run_steps(2);
    settle(&mut harness, &lecture.chapters[9].view);
    let app = harness.state();
    assert_eq!((app.settings.tab, app.settings.t), (Tab::Forward, 300));
    assert_eq!(app.model.scene.source, SourceChoice::Image("astronaut".into()));
    assert!((app.model.schedule.alpha_bar(300) - 0.396_419_759_458_252_5).abs() < 1e-12);
    // Chapter 13: tiny-diffusion's unscaled β ends at T = 50 leave ᾱ_T ≈ 0.60.
    // numpy: b = np.linspace(1e-4, 0.02, 50); np.prod(1 - b) = 0.602951597329715
    harness.state_mut().push(Command::GoToChapter(12));
    harness.run_steps(2);
    settle(&mut harness, &lecture.chapters[12].view);
    let app = harness.state();
    assert_eq!((app.settings.t, app.model.schedule.steps()), (50, 50));
    assert_eq!(app.model.scene.source, SourceChoice::Dataset("two-moons".into()));
    assert!((app.model.schedule.alpha_bar(50) - 0.602_951_597_329_715).abs() < 1e-12);
    // Chapter 19: constant β = 0.08, T = 100 (ᾱ_T = 2.4e-4: no warning), playing over
    // 0..=100 (t moves). numpy: np.prod(np.full(20, 1 - 0.08)) = 0.18869332916279674
    harness.state_mut().push(Command::GoToChapter(18));
    harness.run_steps(2);
    settle(&mut harness, &lecture.chapters[18].view);
    let app = harness.state();
    assert_eq!(app.model.schedule.spec().kind, ScheduleKind::Constant);
    assert!((app.model.schedule.alpha_bar(20) - 0.188_693_329_162_796_74).abs() < 1e-12);
    assert!(app.model.playing && app.settings.t <= 100);
    // Chapter 20: the compare tab with four schedules.
    harness.state_mut().push(Command::GoToChapter(19));
    harness.run_steps(2);
    settle(&mut harness, &lecture.chapters[19].view);
    let app = harness.state();
    assert_eq!(app.settings.tab, Tab::Compare);
    assert_eq!(app.model.compared.len(), 4);
    assert!(!app.model.playing);
}

#[test]
fn page_down_and_page_up_step_through_the_chapters() {
    let lecture = deck::open(&DeckSource::Lecture).unwrap();
    let mut harness = app();
    // No deck: PageDown says how to open one and changes nothing.
    let before = harness.state().settings.clone();
    harness.key_press(egui::Key::PageDown);
    harness.run_steps(2);
    assert_eq!(harness.state().settings, before);
    assert!(
        harness
            .state()
            .model
            .status
            .info
            .as_deref()
            .unwrap_or("")
            .contains("no deck open")
    );
    harness.state_mut().push(Command::OpenDeck(DeckSource::Lecture));
    harness.run_steps(2);
    let current = |h: &Harness<'static, DiffscopeApp>| h.state().model.deck.as_ref().map(|d| d.current);
    assert_eq!(current(&harness), Some(0));
    harness.key_press(egui::Key::PageUp); // already at the first: stays
    harness.run_steps(2);
    assert_eq!(current(&harness), Some(0));
    for i in 1..=3 {
        harness.key_press(egui::Key::PageDown);
        harness.run_steps(2);
        assert_eq!(current(&harness), Some(i));
    }
    settle(&mut harness, &lecture.chapters[3].view);
    assert_shows(
        harness.state(),
        &lecture.chapters[3].view,
        "after three PageDowns",
    );
    assert_eq!(harness.state().settings.t, 300);
    harness.key_press(egui::Key::PageUp);
    harness.run_steps(2);
    assert_eq!(current(&harness), Some(2));
    settle(&mut harness, &lecture.chapters[2].view);
    assert_shows(harness.state(), &lecture.chapters[2].view, "after a PageUp");
    // From the last chapter PageDown stays there.
    harness.state_mut().push(Command::GoToChapter(19));
    harness.run_steps(2);
    harness.key_press(egui::Key::PageDown);
    harness.run_steps(2);
    assert_eq!(current(&harness), Some(19));
}

/// A view that differs from the defaults in every key a chapter has.
fn unusual_view(points_csv: &Path) -> ChapterView {
    ChapterView {
        source: SourceChoice::File(points_csv.to_path_buf()),
        tab: Tab::Elbo,
        schedule: ScheduleSpec {
            kind: ScheduleKind::Quadratic,
            steps: 200,
            beta_start: Some(8.5e-4),
            beta_end: Some(0.012),
            beta: None,
            zero_terminal_snr: true,
        },
        overlay: vec![ScheduleKind::Sigmoid, ScheduleKind::Linear],
        t: 77,
        play: Some((10, 150)),
        speed: 33.5,
        model: ModelChoice::Ideal,
        sampler: SamplerKind::Ddim,
        ddim_steps: 20,
        ddim_eta: 0.25,
        class: diffscope::model::classes::ClassChoice::Class(7),
        guidance: 2.5,
        sample: false,
        elbo_axis: ElboAxis::LogSnr,
        elbo_cumulative: true,
        posterior_variance: true,
        markov_preset: Preset::Periodic,
        markov_states: 5,
        n: 42,
        discrete: Some(DiscreteKind::Uniform),
        latent: LatentMode::Hierarchical,
        vae_beta: 2.5,
        levels: 6,
        switches: 2,
    }
}

/// A small points CSV in `dir`.
fn points_file(dir: &Path) -> PathBuf {
    let path = dir.join("points.csv");
    let mut rows = String::new();
    for i in 0..40 {
        let _ = writeln!(rows, "{},{}", f64::from(i) * 0.1, f64::from(i % 7));
    }
    std::fs::write(&path, format!("x,y\n{rows}")).unwrap();
    path
}

#[test]
fn a_chapter_written_as_toml_parses_to_the_same_chapter() {
    let dir = scratch("deck-text");
    let csv = points_file(&dir);
    let chapter = Chapter {
        // Quotes, backslashes, a newline, a tab and non-ASCII: each must survive.
        title: "It's \"quoted\"\tand\nsplit — ᾱ_t".into(),
        formulas: vec![
            r"\bar\alpha_t = \prod_{i=1}^{t} \alpha_i".into(),
            r"a 'quoted' \mathbf{x}".into(),
        ],
        caption: r"C:\path\to a caption".into(),
        view: unusual_view(&csv),
        line: 3,
    };
    let text = deck::chapter_toml(&chapter, &dir);
    let source = DeckSource::File(dir.join("deck.toml"));
    let parsed = deck::parse(&text, &source).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(parsed.chapters, vec![Chapter { line: 1, ..chapter }]);
    // The data file is written relative to the deck's folder.
    assert!(text.contains("data = 'points.csv'"), "{text}");
}

#[test]
fn saving_the_view_as_a_chapter_and_opening_it_gives_the_same_view() {
    let dir = scratch("deck-save");
    let csv = points_file(&dir);
    let deck_file = dir.join("mine.toml");
    let original =
        "# my own deck\ntitle = \"Mine\"\n\n[[chapter]]\ntitle = \"Start\"\ndata = \"two-moons\"\n";
    std::fs::write(&deck_file, original).unwrap();
    let mut harness = app();
    harness
        .state_mut()
        .push(Command::OpenDeck(DeckSource::File(deck_file.clone())));
    harness.run_steps(2);
    step_until(&mut harness, "two-moons", |a| {
        a.model.scene.name == "two-moons" && a.model.loading.is_none()
    });
    // Set an unusual view as a user would (settings and commands), then save it.
    let want = unusual_view(&csv);
    harness.state_mut().push(Command::Load(want.source.clone()));
    step_until(&mut harness, "the points file", |a| {
        a.model.scene.source == SourceChoice::File(dir.join("points.csv")) && a.model.loading.is_none()
    });
    {
        let app = harness.state_mut();
        let s = &mut app.settings;
        s.tab = want.tab;
        s.schedule = want.schedule.clone();
        s.overlay.clone_from(&want.overlay);
        s.t = want.t;
        s.speed_steps_per_s = want.speed;
        s.reverse.sampler = want.sampler;
        s.reverse.ddim_steps = want.ddim_steps;
        s.reverse.ddim_eta = want.ddim_eta;
        s.reverse.class = want.class;
        s.reverse.guidance = want.guidance;
        s.elbo.axis = want.elbo_axis;
        s.elbo.cumulative = want.elbo_cumulative;
        s.elbo.posterior_variance = want.posterior_variance;
        s.markov.n = want.n;
        s.markov.mode = MarkovMode::Digits;
        s.d3pm.kind = DiscreteKind::Uniform;
        s.latent.mode = want.latent;
        s.latent.beta = want.vae_beta;
        s.latent.levels = want.levels;
        s.latent.fixed_encoders = want.switches >= 2;
        s.latent.to_noise = want.switches >= 3;
        app.push(Command::UseIdealDenoiser);
        app.push(Command::Markov(MarkovEdit::States(want.markov_states)));
        app.push(Command::Markov(MarkovEdit::Preset(want.markov_preset)));
    }
    harness.run_steps(2);
    let saved = ChapterView {
        play: None, // nothing was playing
        ..want
    };
    assert_eq!(harness.state().current_view(), saved);
    harness.state_mut().push(Command::SaveChapter);
    harness.run_steps(2);
    assert_eq!(harness.state().model.status.error, None);
    // Appended: the lecturer's text is kept as it was, and the deck is at the new chapter.
    let text = std::fs::read_to_string(&deck_file).unwrap();
    assert!(text.starts_with(original), "{text}");
    let deck = harness.state().model.deck.clone().unwrap();
    assert_eq!((deck.deck.chapters.len(), deck.current), (2, 1));
    assert_eq!(deck.chapter().view, saved);
    // Somewhere else entirely, then open the saved deck at its second chapter.
    harness.state_mut().push(Command::OpenDeck(DeckSource::Lecture));
    harness.run_steps(2);
    settle(
        &mut harness,
        &deck::open(&DeckSource::Lecture).unwrap().chapters[0].view,
    );
    harness
        .state_mut()
        .push(Command::OpenDeck(DeckSource::File(deck_file.clone())));
    harness.state_mut().push(Command::GoToChapter(1));
    harness.run_steps(2);
    settle(&mut harness, &saved);
    harness.run_steps(2);
    assert_eq!(harness.state().current_view(), saved);
    assert_shows(harness.state(), &saved, "the saved chapter");
}

/// A deck file in `dir` with `text`.
fn deck_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
#[allow(
    clippy::too_many_lines,
    reason = "one table of malformed decks, each with the error it must give"
)]
fn malformed_decks_are_one_line_errors_with_the_file_and_the_line() {
    let dir = scratch("deck-bad");
    let head = "title = \"Bad\"\n\n[[chapter]]\ntitle = \"Fine\"\n\n[[chapter]]\ntitle = \"Broken\"\n";
    // (name, lines after `head` (its line 8 on), the line and field named, a phrase of the message)
    let cases: [(&str, &str, usize, &str, &str); 19] = [
        (
            "unknown-key",
            "tab = \"forward\"\nslide = 3\n",
            9,
            "slide",
            "unknown field `slide`",
        ),
        (
            "wrong-type",
            "steps = \"ten\"\n",
            8,
            "steps",
            "invalid type: string",
        ),
        ("negative", "t = -4\n", 8, "t", "invalid value"),
        (
            "bad-schedule",
            "schedule = \"cosin\"\n",
            8,
            "schedule",
            "unknown schedule 'cosin'",
        ),
        (
            "bad-tab",
            "tab = \"backward\"\n",
            8,
            "tab",
            "unknown tab 'backward'",
        ),
        (
            "t-beyond-t",
            "steps = 100\nt = 250\n",
            9,
            "t",
            "t = 250 is beyond T = 100",
        ),
        (
            "underflow",
            "schedule = \"constant\"\nsteps = 10000\nbeta = 0.9\n",
            10,
            "beta",
            "underflows",
        ),
        (
            "missing-data",
            "data = \"slides/photo.png\"\n",
            8,
            "data",
            "does not exist",
        ),
        (
            "unknown-data",
            "data = \"two-moon\"\n",
            8,
            "data",
            "unknown data 'two-moon'",
        ),
        (
            "no-shipped",
            "data = \"camera\"\nmodel = \"shipped\"\n",
            9,
            "model",
            "no shipped weights",
        ),
        (
            "array-element",
            "overlay = [\n  \"cosine\",\n  3,\n]\n",
            10,
            "overlay",
            "invalid type: integer",
        ),
        ("play", "play = [300, 200]\n", 8, "play", "from < to"),
        (
            "bad-discrete",
            "tab = \"markov\"\ndiscrete = \"gaussian\"\n",
            9,
            "discrete",
            "unknown discrete chain 'gaussian' (valid: uniform, absorbing)",
        ),
        (
            "bad-states",
            "states = 9\n",
            8,
            "states",
            "states must be in 2..=8, got 9",
        ),
        (
            "bad-levels",
            "levels = 9\n",
            8,
            "levels",
            "levels must be in 2..=8, got 9",
        ),
        (
            "bad-switches",
            "switches = 4\n",
            8,
            "switches",
            "switches must be 1, 2 or 3",
        ),
        (
            "bad-latent",
            "latent = \"gan\"\n",
            8,
            "latent",
            "unknown latent model 'gan' (valid: vae, mhvae)",
        ),
        (
            "bad-vae-beta",
            "vae_beta = -1.0\n",
            8,
            "vae_beta",
            "vae_beta must be in 0..=8, got -1",
        ),
        (
            "bad-preset",
            "preset = \"fast\"\n",
            8,
            "preset",
            "unknown preset 'fast'",
        ),
    ];
    for (name, body, line, field, phrase) in cases {
        let path = deck_file(&dir, &format!("{name}.toml"), &format!("{head}{body}"));
        let e = deck::open(&DeckSource::File(path.clone())).expect_err(name);
        let DeckError::Field {
            line: l, field: f, ..
        } = &e
        else {
            panic!("{name}: {e:?}")
        };
        assert_eq!((*l, f.as_str()), (line, field), "{name}: {e}");
        let text = e.to_string();
        assert!(!text.contains('\n'), "{name}: one line: {text}");
        let prefix = format!("deck {}, line {line}, {field}: ", path.display());
        assert!(text.starts_with(&prefix), "{name}: {text}");
        assert!(text.contains(phrase), "{name}: {text}");
    }
    // A missing title names the chapter's header line; a syntax error its line.
    let path = deck_file(
        &dir,
        "no-title.toml",
        "[[chapter]]\ntitle = \"a\"\n\n[[chapter]]\ntab = \"elbo\"\n",
    );
    let e = deck::open(&DeckSource::File(path)).unwrap_err().to_string();
    assert!(e.contains("line 4, title: missing field `title`"), "{e}");
    let path = deck_file(
        &dir,
        "syntax.toml",
        "[[chapter]]\ntitle = \"a\"\ncaption = 'unclosed\n",
    );
    let e = deck::open(&DeckSource::File(path)).unwrap_err().to_string();
    assert!(e.contains("line 3, caption: "), "{e}");
    let path = deck_file(&dir, "empty.toml", "title = \"nothing\"\n");
    let e = deck::open(&DeckSource::File(path.clone()))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "deck {} has no chapters (add a [[chapter]] table with a title)",
            path.display()
        )
    );
    let missing = dir.join("no-such-deck.toml");
    let e = deck::open(&DeckSource::File(missing.clone()))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!("cannot open deck {}: ", missing.display())),
        "{e}"
    );
    assert!(!e.contains('\n'));
}

#[test]
fn a_bad_deck_in_the_window_is_an_error_and_changes_nothing() {
    let dir = scratch("deck-bad-window");
    let mut harness = app();
    harness.state_mut().push(Command::OpenDeck(DeckSource::Lecture));
    // The encoder's chapter: two moons, t playing.
    harness.state_mut().push(Command::GoToChapter(10));
    harness.run_steps(2);
    settle(
        &mut harness,
        &deck::open(&DeckSource::Lecture).unwrap().chapters[10].view,
    );
    let (settings, deck) = (
        harness.state().settings.clone(),
        harness.state().model.deck.clone(),
    );
    let path = deck_file(
        &dir,
        "bad.toml",
        "[[chapter]]\ntitle = \"x\"\ndata = \"nowhere/x.png\"\n",
    );
    let expected = deck::open(&DeckSource::File(path.clone()))
        .unwrap_err()
        .to_string();
    assert!(expected.contains(", line 3, data: "), "{expected}");
    harness
        .state_mut()
        .push(Command::OpenDeck(DeckSource::File(path)));
    harness.run_steps(3);
    let app = harness.state();
    assert_eq!(app.model.status.error.as_deref(), Some(expected.as_str()));
    assert_eq!(app.model.deck, deck, "the open deck stays");
    // t plays in this chapter; everything else is as it was.
    assert_eq!(
        Settings {
            t: 0,
            ..app.settings.clone()
        },
        Settings { t: 0, ..settings }
    );
    assert_eq!(app.model.scene.source, SourceChoice::Dataset("two-moons".into()));
    // The status line shows it.
    harness.get_by_label(&format!("error: {expected}"));
}

#[test]
fn a_bad_deck_on_the_command_line_opens_the_window_with_the_error() {
    let dir = scratch("deck-bad-cli");
    let path = deck_file(&dir, "typo.toml", "[[chapter]]\ntitle = \"x\"\nstep = 10\n");
    let options = RunOptions {
        fresh: true,
        deck: Some(DeckSource::File(path.clone())),
        ..RunOptions::default()
    };
    let mut harness = Harness::builder()
        .with_size([1280.0, 720.0])
        .build_eframe(move |cc| diffscope::gui::new_app(&cc.egui_ctx, Settings::default(), options));
    harness.run_steps(3);
    let app = harness.state();
    let error = app.model.status.error.clone().unwrap_or_default();
    assert!(
        error.starts_with(&format!(
            "deck {}, line 3, step: unknown field `step`",
            path.display()
        )),
        "{error}"
    );
    assert!(app.model.deck.is_none());
    assert_eq!(app.settings.t, Settings::default().t);
    assert_eq!(app.model.scene.source, Settings::default().source);
}

/// The guidance deck (assets/decks/guidance.toml) opens, and its chapters ask for the
/// classes and weights they name; a bad class or weight is a one-line error at its line.
#[test]
fn the_guidance_deck_opens_and_bad_guidance_keys_are_refused() {
    use diffscope::model::classes::ClassChoice;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/decks/guidance.toml");
    let deck = deck::open(&DeckSource::File(path)).unwrap();
    let asked: Vec<(ClassChoice, f32)> = deck
        .chapters
        .iter()
        .map(|c| (c.view.class, c.view.guidance))
        .collect();
    assert_eq!(
        asked,
        [
            (ClassChoice::Any, 0.0),
            (ClassChoice::Class(7), 0.0),
            (ClassChoice::Class(7), 3.0),
            (ClassChoice::Class(2), 3.0),
            (ClassChoice::Class(1), 3.0)
        ]
    );
    for (key, want) in [
        ("class = \"seven\"", "class 'seven' is not a class number or any"),
        ("guidance = 9.5", "guidance must be in [0, 8], got 9.5"),
    ] {
        let text = format!("[[chapter]]\ntitle = \"x\"\n{key}\n");
        let err = deck::parse(&text, &DeckSource::File("g.toml".into()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3") && err.contains(want), "{err}");
    }
}
