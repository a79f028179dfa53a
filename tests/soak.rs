//! Soak: thousands of random user actions on the real app under egui_kittest — the t
//! slider, keys, schedules and T, data sets, tabs, training and sampling started, paused,
//! stepped and cancelled, bad and good files dropped, view options — a frame or two
//! apart, without waiting for the background jobs. No panic, no error but the ones the
//! actions ask for (a bad file, a refused action), and at the end the app still answers.
//!
//! The actions come from a fixed-seed xorshift; a failure prints the seed and the action
//! index. `DIFFSCOPE_SOAK_SEED` and `DIFFSCOPE_SOAK_ACTIONS` rerun another seed or
//! length (`cargo test --release --test tests soak -- --nocapture`).

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use diffscope::app::reverse::ChainView;
use diffscope::app::settings::{
    DenoiserKind, ElboAxis, ElboSettings, ReverseSettings, SamplerKind, Settings, SourceChoice, Tab,
    ThemeChoice, TimeAxis,
};
use diffscope::app::{Command, DiffscopeApp};
use diffscope::data::{BuiltinImage, Dataset};
use diffscope::diffusion::{Schedule, ScheduleKind, ScheduleSpec};
use diffscope::model::conv::ConvConfig;
use diffscope::model::mlp::MlpConfig;
use diffscope::model::train::{TrainSet, TrainSettings, Trainer};
use diffscope::model::{Architecture, Checkpoint, DataShape, ModelInfo, Network, io};
use diffscope::scene::SceneData;
use diffscope::worker::model::TrainEnd;
use egui::accesskit::Role;
use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};

use crate::ui::{drop_file, harness_with, scratch};

const DEFAULT_SEED: u64 = 0x00D1_FF5C_0BE5_0A4B;
/// The fewest of each job outcome a walk of 1000 actions or more must show (see the
/// checks at the end of the walk). One run of the default seed on a loaded two-core
/// machine: 13 chains started, 1 run to t = 0 (the one the final check runs), 10
/// training runs started, 3 completed, 6 cancelled; most Sample and Train actions are
/// refused while a training run goes on (242 refusals).
const OUTCOMES_LEAST: [(&str, usize); 4] = [
    ("chains started", 3),
    ("chains run to t = 0", 1),
    ("training runs started", 3),
    ("training runs completed", 1),
];
const DEFAULT_ACTIONS: usize = 5000;

/// xorshift64* (Vigna 2016): small, fixed, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// Log-uniform in `[lo, hi]`.
    fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        (lo.ln() + u * (hi.ln() - lo.ln())).exp()
    }
}

/// The kinds of action, with their weights.
const KINDS: [(&str, u32); 24] = [
    ("t slider", 14),
    ("key", 14),
    ("schedule", 4),
    ("T", 4),
    ("schedule parameter", 3),
    ("overlay", 2),
    ("data set", 5),
    ("data parameter", 2),
    ("tab", 6),
    ("train", 3),
    ("pause training", 2),
    ("cancel training", 3),
    ("training parameter", 2),
    ("sample", 6),
    ("pause chain", 3),
    ("step chain", 3),
    ("sampler parameter", 4),
    ("model choice", 3),
    ("bad file", 2),
    ("good file", 2),
    ("view", 4),
    ("elbo", 3),
    ("play", 3),
    ("wait", 2),
];

/// The files dropped on the window.
struct Files {
    bad: Vec<PathBuf>,
    good: Vec<PathBuf>,
}

impl Files {
    fn write() -> Self {
        let dir = scratch("soak-files");
        let empty = dir.join("empty.png");
        std::fs::write(&empty, b"").unwrap();
        let text = dir.join("notes.csv");
        std::fs::write(&text, "these are, not numbers\njust some text\n").unwrap();
        let garbage = dir.join("garbage.safetensors");
        let mut rng = Rng::new(99);
        let bytes: Vec<u8> = (0..4096).map(|_| rng.next() as u8).collect();
        std::fs::write(&garbage, bytes).unwrap();

        let csv = dir.join("ring.csv");
        let mut rows = String::from("x,y\n");
        for i in 0..300 {
            let a = f64::from(i) * 0.021;
            writeln!(rows, "{},{}", a.cos() * 2.0, a.sin()).unwrap();
        }
        std::fs::write(&csv, rows).unwrap();
        let png = dir.join("stripes.png");
        image::RgbImage::from_fn(40, 24, |x, y| image::Rgb([(x * 6) as u8, (y * 10) as u8, 128]))
            .save(&png)
            .unwrap();
        let weights = dir.join("small.safetensors");
        let model = Checkpoint {
            network: Network::new(
                Architecture::Mlp2d(MlpConfig {
                    classes: 0,
                    hidden: 16,
                    blocks: 1,
                    embedding: 8,
                }),
                5,
            ),
            info: ModelInfo {
                schedule: ScheduleSpec::new(ScheduleKind::Cosine, 60),
                dataset: "ring".into(),
                iterations: 0,
                seed: 5,
                ema: None,
                command: "soak".into(),
                objective: diffscope::model::Objective::Epsilon,
            },
        };
        io::save(&model, &weights).unwrap();
        Self {
            bad: vec![empty, text, garbage],
            good: vec![csv, png, weights],
        }
    }

    /// Whether `error` is about one of the bad files.
    fn about_a_bad_file(&self, error: &str) -> bool {
        self.bad.iter().any(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| error.contains(n))
        })
    }
}

/// The app's refusals of an action it cannot do now (the action was the user's
/// mistake, not a fault): expected in a random walk.
const REFUSALS: [&str; 9] = [
    "a model is loading: sample once it is in",
    "training is running: cancel it to sample",
    "zero terminal SNR: ᾱ_T = 0",
    // The same refusal from the chain itself, when the model it was started with changed
    // in that frame (a cancelled training run's model handed over): issue 19.
    "sampling failed: zero terminal SNR: ᾱ_T = 0",
    "a training run is going: cancel it first",
    "no learned model yet",
    "no shipped weights for",
    "no model trained yet: press Train first",
    "schedule not changed:",
];

struct Soak {
    harness: Harness<'static, DiffscopeApp>,
    rng: Rng,
    seed: u64,
    files: Files,
    index: usize,
    /// Actions done, by kind.
    counts: BTreeMap<&'static str, usize>,
    /// Errors the status line showed, by class.
    errors: BTreeMap<&'static str, usize>,
    /// How actions reached the app: a widget, a key, a dropped file, a command, a setting.
    via: BTreeMap<&'static str, usize>,
    /// How the training runs and chains the actions started ended.
    outcomes: BTreeMap<&'static str, usize>,
    /// The last training run and chain counted in `outcomes`: started, ended.
    started: (Option<u64>, Option<u64>),
    counted: (Option<u64>, Option<u64>),
    last_error: Option<String>,
    last_eps_error: Option<String>,
    /// The last few actions, for the failure report.
    recent: VecDeque<String>,
}

impl Drop for Soak {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let at = if self.index == usize::MAX {
                "in the checks after the walk".to_owned()
            } else {
                format!("at action {}", self.index)
            };
            eprintln!(
                "soak failed {at} of seed {:#x} (rerun: DIFFSCOPE_SOAK_SEED={:#x}); the last actions:",
                self.seed, self.seed
            );
            for line in &self.recent {
                eprintln!("  {line}");
            }
            let app = self.harness.state();
            eprintln!(
                "data {:?}, schedule {:?}, tab {:?}, t {}\nreverse {:?}\nstatus {:?}",
                app.settings.source,
                app.settings.schedule,
                app.settings.tab,
                app.settings.t,
                app.settings.reverse,
                app.model.status
            );
        }
    }
}

impl Soak {
    fn app(&self) -> &DiffscopeApp {
        self.harness.state()
    }

    fn settings(&mut self) -> &mut Settings {
        &mut self.harness.state_mut().settings
    }

    fn push(&mut self, command: Command) -> String {
        let text = format!("{command:?}");
        self.harness.state_mut().push(command);
        text
    }

    /// Clicks the widget labelled `label` if it is there and enabled (as a user can);
    /// otherwise pushes `fallback`, the command it would push.
    fn click_or(&mut self, label: &str, fallback: Command) -> String {
        let clicked = self
            .harness
            .query_all_by_label(label)
            .find(|n| !n.accesskit_node().is_disabled())
            .map(|n| n.click_accesskit())
            .is_some();
        if clicked {
            format!("click {label}")
        } else {
            self.push(fallback)
        }
    }

    /// Picks an item of a combo box through the UI: open it, click the item (or close
    /// it with Escape if the item is not there).
    fn combo(&mut self, combo: &str, item: &str) -> String {
        let Some(node) = self.harness.query_by_role_and_label(Role::ComboBox, combo) else {
            return format!("no combo {combo}");
        };
        node.click();
        self.harness.run_steps(2);
        let item_node = self
            .harness
            .query_all_by_label(item)
            .find(|n| n.accesskit_node().role() == Role::Button);
        match item_node {
            Some(n) => n.click(),
            None => self.harness.key_press(Key::Escape),
        }
        format!("combo {combo} → {item}")
    }

    #[allow(
        clippy::too_many_lines,
        reason = "one arm per kind of action, each a few lines"
    )]
    fn act(&mut self, kind: &str) -> String {
        let steps = self.app().model.schedule.steps();
        match kind {
            "t slider" => {
                let value = match self.rng.below(6) {
                    0 => 0.0,
                    1 => steps as f64,
                    2 => steps as f64 + 7.0, // past the end
                    _ => self.rng.between(0, steps) as f64,
                };
                self.harness
                    .get_by_role_and_label(Role::Slider, "t")
                    .set_value_accesskit(value);
                format!("t slider → {value}")
            }
            "key" => {
                let (modifiers, key) = self.rng.pick(&[
                    (Modifiers::NONE, Key::ArrowLeft),
                    (Modifiers::NONE, Key::ArrowRight),
                    (Modifiers::SHIFT, Key::ArrowLeft),
                    (Modifiers::SHIFT, Key::ArrowRight),
                    (Modifiers::NONE, Key::Home),
                    (Modifiers::NONE, Key::End),
                    (Modifiers::NONE, Key::Space),
                ]);
                self.harness.key_press_modifiers(modifiers, key);
                format!("key {modifiers:?} {key:?}")
            }
            "schedule" => {
                let kind = self.rng.pick(&ScheduleKind::ALL);
                if self.rng.chance(0.3) {
                    self.combo("Schedule", kind.label())
                } else {
                    self.settings().schedule.kind = kind;
                    format!("schedule → {kind:?}")
                }
            }
            "T" => {
                let t = if self.rng.chance(0.05) {
                    10_000
                } else {
                    self.rng.pick(&[2, 3, 5, 10, 50, 100, 200, 500, 1000, 2000])
                };
                self.settings().schedule.steps = t;
                format!("T → {t}")
            }
            "schedule parameter" => {
                let which = self.rng.below(5);
                let value = match which {
                    0 | 1 => Some(self.rng.log_uniform(1e-6, 0.999)),
                    2 => Some(self.rng.log_uniform(1e-5, 0.5)),
                    _ => None,
                };
                let s = &mut self.settings().schedule;
                match which {
                    0 => s.beta_start = value,
                    1 => s.beta_end = value,
                    2 => s.beta = value,
                    3 => (s.beta_start, s.beta_end, s.beta) = (None, None, None),
                    _ => s.zero_terminal_snr = !s.zero_terminal_snr,
                }
                format!("schedule parameter {which} → {value:?}")
            }
            "overlay" => {
                let kind = self.rng.pick(&ScheduleKind::ALL);
                let overlay = &mut self.settings().overlay;
                if overlay.contains(&kind) {
                    overlay.retain(|k| *k != kind);
                } else {
                    overlay.push(kind);
                }
                format!("overlay {kind:?}")
            }
            "data set" => {
                let choice = match self.rng.below(10) {
                    0..=2 => SourceChoice::image(self.rng.pick(&BuiltinImage::ALL)),
                    3 => SourceChoice::Digits,
                    _ => SourceChoice::dataset(self.rng.pick(&Dataset::ALL)),
                };
                if self.rng.chance(0.3) {
                    let label = match &choice {
                        SourceChoice::Image(n) => n.parse::<BuiltinImage>().unwrap().label().to_owned(),
                        SourceChoice::Dataset(n) => n.parse::<Dataset>().unwrap().label().to_owned(),
                        _ => "digits (8×8)".to_owned(),
                    };
                    self.combo("Data", &label)
                } else {
                    self.push(Command::Load(choice))
                }
            }
            "data parameter" => match self.rng.below(3) {
                0 => {
                    let n = if self.rng.chance(0.05) {
                        20_000
                    } else {
                        self.rng.pick(&[16, 100, 500, 1000, 3000])
                    };
                    self.settings().n_points = n;
                    format!("points → {n}")
                }
                1 => {
                    let seed = self.rng.below(10_000) as u64;
                    self.settings().data_seed = seed;
                    format!("data seed → {seed}")
                }
                _ => {
                    let side = self.rng.pick(&[32, 64, 128, 512, 2048]);
                    self.settings().max_side = side;
                    format!("max side → {side}")
                }
            },
            "tab" => {
                let (tab, label) = self.rng.pick(&[
                    (Tab::Forward, "Forward"),
                    (Tab::Reverse, "Reverse"),
                    (Tab::Compare, "Compare"),
                    (Tab::Elbo, "ELBO"),
                ]);
                let shown = self
                    .harness
                    .query_all_by_label(label)
                    .next()
                    .map(|n| n.click())
                    .is_some();
                if !shown {
                    self.settings().tab = tab;
                }
                format!("tab {label}")
            }
            "train" => self.click_or("Train", Command::Train),
            "pause training" => {
                let paused = self
                    .app()
                    .model
                    .learning
                    .training
                    .as_ref()
                    .is_some_and(|t| t.paused);
                if paused {
                    self.click_or("Resume training", Command::PauseTraining(false))
                } else {
                    self.click_or("Pause training", Command::PauseTraining(true))
                }
            }
            "cancel training" => self.click_or("Cancel", Command::CancelTraining),
            "training parameter" => {
                let r = &mut self.harness.state_mut().settings.reverse;
                match self.rng.below(4) {
                    0 => r.iterations = self.rng.pick(&[1, 5, 20, 40, 100]),
                    1 => r.batch = self.rng.pick(&[1, 8, 32, 64]),
                    2 => r.lr = self.rng.pick(&[1e-4, 1e-3, 2e-3, 1e-2]),
                    _ => r.train_seed = self.rng.below(100) as u64,
                }
                format!(
                    "training: {} iterations, batch {}, lr {}, seed {}",
                    r.iterations, r.batch, r.lr, r.train_seed
                )
            }
            "sample" => {
                let label = if self.app().model.learning.chain.is_some() {
                    "Restart"
                } else {
                    "Sample"
                };
                self.click_or(label, Command::Sample)
            }
            "pause chain" => {
                let running = self
                    .app()
                    .model
                    .learning
                    .chain
                    .as_ref()
                    .is_some_and(ChainView::running);
                if running {
                    self.click_or("Pause", Command::PauseChain(true))
                } else {
                    self.click_or("Resume", Command::PauseChain(false))
                }
            }
            "step chain" => self.click_or("Step", Command::StepChain),
            "sampler parameter" => {
                let r = &mut self.harness.state_mut().settings.reverse;
                match self.rng.below(9) {
                    0 | 1 => {
                        r.sampler = self.rng.pick(&[
                            SamplerKind::DdpmBeta,
                            SamplerKind::DdpmPosterior,
                            SamplerKind::Ddim,
                        ]);
                    }
                    2 => r.ddim_steps = self.rng.pick(&[1, 2, 10, 50, 1000, 10_000]),
                    3 => r.ddim_eta = self.rng.pick(&[0.0, 0.5, 1.0]),
                    4 => r.steps_per_s = self.rng.pick(&[1.0, 20.0, 200.0, 2000.0]),
                    5 => r.max_speed = !r.max_speed,
                    6 => {
                        r.n_points = self.rng.pick(&[1, 10, 100, 1000]);
                        r.n_images = self.rng.pick(&[1, 4, 36, 144]);
                    }
                    7 => r.seed = self.rng.below(100) as u64,
                    _ => {
                        r.sdedit = !r.sdedit;
                        r.sdedit_t = self.rng.between(1, steps);
                    }
                }
                format!(
                    "sampler {:?} K {} η {} {} steps/s max {} n {}/{} sdedit {} at {}",
                    r.sampler,
                    r.ddim_steps,
                    r.ddim_eta,
                    r.steps_per_s,
                    r.max_speed,
                    r.n_points,
                    r.n_images,
                    r.sdedit,
                    r.sdedit_t
                )
            }
            "model choice" => match self.rng.below(4) {
                0 => self.push(Command::UseShippedModel),
                1 => self.push(Command::UseTrainedModel),
                2 => self.push(Command::UseIdealDenoiser),
                _ => {
                    self.settings().reverse.denoiser = DenoiserKind::Learned;
                    "denoiser → learned".to_owned()
                }
            },
            "bad file" => {
                let path = self.rng.pick(&self.files.bad);
                drop_file(&mut self.harness, &path);
                format!("drop {}", path.display())
            }
            "good file" => {
                let path = self.rng.pick(&self.files.good);
                drop_file(&mut self.harness, &path);
                format!("drop {}", path.display())
            }
            "elbo" => {
                let choice = self.rng.below(7);
                let n = 1 + self.rng.below(200);
                let e = &mut self.settings().elbo;
                match choice {
                    0 => {
                        e.axis = match e.axis {
                            ElboAxis::Step => ElboAxis::LogSnr,
                            ElboAxis::LogSnr => ElboAxis::Step,
                        };
                    }
                    1 => e.cumulative = !e.cumulative,
                    2 => e.posterior_variance = !e.posterior_variance,
                    3 => e.ideal = !e.ideal,
                    4 => e.n_points = n,
                    5 => return self.click_or("Stop", Command::StopElbo),
                    _ => return self.click_or("Compute", Command::ComputeElbo),
                }
                format!("ELBO option {choice}")
            }
            "view" => {
                let choice = self.rng.below(10);
                let noise_seed = self.rng.below(100) as u64;
                let small = self.rng.below(7);
                let s = self.settings();
                match choice {
                    0 => {
                        s.theme = match s.theme {
                            ThemeChoice::Dark => ThemeChoice::Light,
                            ThemeChoice::Light => ThemeChoice::Dark,
                        };
                    }
                    1 => s.show_math = !s.show_math,
                    2 => s.show_frame_times = !s.show_frame_times,
                    3 => s.zoom = if s.zoom > 1.0 { 1.0 } else { 1.2 },
                    4 => s.noise_seed = noise_seed,
                    5 => s.highlighted = small,
                    6 => s.looping = !s.looping,
                    7 => {
                        s.plot_axis = match s.plot_axis {
                            TimeAxis::Step => TimeAxis::Fraction,
                            TimeAxis::Fraction => TimeAxis::Step,
                        };
                    }
                    8 => s.compare_columns = 2 + small,
                    _ => {
                        s.plot_quantities.beta = !s.plot_quantities.beta;
                        s.plot_quantities.sqrt_alpha_bar = !s.plot_quantities.sqrt_alpha_bar;
                    }
                }
                format!("view option {choice}")
            }
            "play" => {
                let label = if self.harness.query_all_by_label("■ Pause").next().is_some() {
                    "■ Pause"
                } else {
                    "▶ Play"
                };
                self.click_or(label, Command::TogglePlay)
            }
            "wait" => {
                // A user who watches for a moment: jobs get to run, end and hand over.
                let ms = self.rng.between(50, 300);
                let start = Instant::now();
                while start.elapsed() < Duration::from_millis(ms as u64) {
                    self.harness.step();
                    self.check_errors();
                    std::thread::sleep(Duration::from_millis(10));
                }
                format!("wait {ms} ms")
            }
            other => unreachable!("{other}"),
        }
    }

    /// Records the status line's error if it is new (failing on one no action asked
    /// for), and how the jobs that ended since the last call ended.
    fn check_errors(&mut self) {
        let app = self.harness.state();
        let learning = &app.model.learning;
        if let Some(tr) = learning.training.as_ref().filter(|t| !t.running())
            && self.counted.0 != Some(tr.generation)
        {
            self.counted.0 = Some(tr.generation);
            let end = match tr.end {
                Some(TrainEnd::Completed) => "training runs completed",
                Some(TrainEnd::Cancelled) => "training runs cancelled",
                _ => "training runs diverged or failed",
            };
            *self.outcomes.entry(end).or_default() += 1;
        }
        if let Some(chain) = &learning.chain
            && self.started.1 != Some(chain.generation)
        {
            self.started.1 = Some(chain.generation);
            *self.outcomes.entry("chains started").or_default() += 1;
        }
        if let Some(tr) = &learning.training
            && self.started.0 != Some(tr.generation)
        {
            self.started.0 = Some(tr.generation);
            *self.outcomes.entry("training runs started").or_default() += 1;
        }
        if let Some(chain) = learning.chain.as_ref().filter(|c| c.done)
            && self.counted.1 != Some(chain.generation)
        {
            self.counted.1 = Some(chain.generation);
            let end = if chain.newest().is_some_and(|f| f.t == 0) {
                "chains run to t = 0"
            } else {
                "chains stopped early (training started)"
            };
            *self.outcomes.entry(end).or_default() += 1;
        }
        let error = app.model.status.error.clone();
        if error.is_some() && error != self.last_error {
            let e = error.as_deref().unwrap_or_default();
            let class = if self.files.about_a_bad_file(e) {
                "bad file"
            } else if let Some(r) = REFUSALS.iter().find(|r| e.starts_with(**r)) {
                *r
            } else {
                panic!("an error no action asked for: {e}")
            };
            *self.errors.entry(class).or_default() += 1;
        }
        self.last_error = error;
        let eps_error = app.model.learning.eps_error.clone();
        if eps_error.is_some() && eps_error != self.last_eps_error {
            let e = eps_error.as_deref().unwrap_or_default();
            assert!(
                REFUSALS.iter().any(|r| e.starts_with(r)),
                "the ε field failed: {e}"
            );
        }
        self.last_eps_error = eps_error;
    }

    fn run(&mut self, actions: usize) {
        let total: u32 = KINDS.iter().map(|k| k.1).sum();
        let start = Instant::now();
        for index in 0..actions {
            self.index = index;
            let mut roll = (self.rng.next() % u64::from(total)) as u32;
            let kind = KINDS
                .iter()
                .find(|(_, w)| {
                    let hit = roll < *w;
                    roll = roll.saturating_sub(*w);
                    hit
                })
                .unwrap()
                .0;
            let what = self.act(kind);
            if self.recent.len() == 30 {
                self.recent.pop_front();
            }
            self.recent.push_back(format!("{index}: {what}"));
            *self.counts.entry(kind).or_default() += 1;
            let via = match what.split(' ').next().unwrap_or_default() {
                "click" | "combo" | "t" | "tab" => "widget",
                "key" => "key",
                "wait" => "waiting",
                "drop" => "file drop",
                word if word.starts_with(char::is_uppercase) => "command",
                _ => "setting",
            };
            *self.via.entry(via).or_default() += 1;
            let frames = 1 + self.rng.below(2);
            for _ in 0..frames {
                self.harness.step();
                self.check_errors();
            }
            if (index + 1) % 1000 == 0 {
                eprintln!(
                    "soak: {} actions in {:.1} s",
                    index + 1,
                    start.elapsed().as_secs_f64()
                );
            }
        }
    }

    /// Steps until `done` holds, at most `limit`.
    #[track_caller]
    fn until(&mut self, what: &str, limit: Duration, done: impl Fn(&DiffscopeApp) -> bool) {
        let start = Instant::now();
        while !done(self.harness.state()) {
            assert!(start.elapsed() < limit, "timed out waiting for {what}");
            self.harness.step();
            self.check_errors();
            std::thread::sleep(Duration::from_millis(5));
        }
        self.harness.run_steps(2);
        self.check_errors();
    }

    /// After the walk: the app still answers. Training stops when cancelled; the t slider
    /// moves t and the forward views follow; a chain from noise runs to its end.
    fn still_answers(&mut self) {
        self.index = usize::MAX;
        self.harness.state_mut().push(Command::CancelTraining);
        self.until("training to stop", Duration::from_secs(30), |app| {
            app.model.learning.training.as_ref().is_none_or(|t| !t.running())
        });
        self.until("loads to finish", Duration::from_secs(30), |app| {
            app.model.loading.is_none() && app.model.learning.pending.is_none()
        });
        self.settings().tab = Tab::Forward;
        self.harness.run_steps(2);
        if self.app().model.playing {
            // Playback goes on moving t after the slider: stop it (as Space does).
            self.harness.key_press(Key::Space);
            self.harness.run_steps(2);
            assert!(!self.app().model.playing);
        }
        let steps = self.app().model.schedule.steps();
        let t = (steps / 3).max(1);
        self.harness
            .get_by_role_and_label(Role::Slider, "t")
            .set_value_accesskit(t as f64);
        self.harness.run_steps(2);
        assert_eq!(self.app().settings.t, t, "the t slider moved t");
        self.until(
            "the forward views at t",
            Duration::from_mins(1),
            |app| match &app.model.scene.data {
                SceneData::Points(_) => app.model.points.as_ref().is_some_and(|p| p.t == t),
                SceneData::Image(_) => {
                    app.model.image.closed.as_ref().is_some_and(|c| c.0 == t)
                        && app.model.image.markov.as_ref().is_some_and(|m| m.0 == t)
                }
            },
        );
        // A chain from noise with the ideal denoiser of the data on screen (which zero
        // terminal SNR rules out: it is refused, saying why).
        self.settings().schedule.zero_terminal_snr = false;
        {
            let r = &mut self.settings().reverse;
            r.sdedit = false;
            r.max_speed = true;
            r.n_points = 100;
            r.n_images = 4;
        }
        self.harness.state_mut().push(Command::UseIdealDenoiser);
        self.settings().tab = Tab::Reverse;
        self.harness.run_steps(2);
        let before = self.app().model.learning.chain.as_ref().map(|c| c.generation);
        let label = if before.is_some() { "Restart" } else { "Sample" };
        self.harness.get_by_label(label).click();
        self.harness.run_steps(1);
        self.until("the chain", Duration::from_mins(1), |app| {
            app.model
                .learning
                .chain
                .as_ref()
                .is_some_and(|c| Some(c.generation) != before && c.done)
        });
        let chain = self.app().model.learning.chain.as_ref().unwrap();
        assert!(chain.ideal);
        assert_eq!(chain.progress.0, chain.progress.1, "the chain ran to its end");
        assert_eq!(chain.newest().unwrap().t, 0);
        assert!(chain.newest().unwrap().x.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn five_thousand_random_actions_and_the_app_still_answers() {
    let seed = std::env::var("DIFFSCOPE_SOAK_SEED")
        .ok()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or(DEFAULT_SEED);
    let actions = std::env::var("DIFFSCOPE_SOAK_ACTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_ACTIONS);
    let start = Instant::now();
    // Fresh settings, but short training runs (as the iterations field can set), so that
    // runs end and chains get their turn on the one worker.
    let harness = harness_with(Settings {
        export_dir: scratch("soak-exports"),
        // Small ELBO estimates, so that some finish between the other jobs.
        elbo: ElboSettings {
            n_points: 50,
            n_digits: 20,
            image_copies: 2,
            ..ElboSettings::default()
        },
        reverse: ReverseSettings {
            iterations: 40,
            batch: 32,
            max_speed: true,
            ..ReverseSettings::default()
        },
        ..Settings::default()
    });
    let mut soak = Soak {
        harness,
        rng: Rng::new(seed),
        seed,
        files: Files::write(),
        index: 0,
        counts: BTreeMap::new(),
        errors: BTreeMap::new(),
        via: BTreeMap::new(),
        outcomes: BTreeMap::new(),
        started: (None, None),
        counted: (None, None),
        last_error: None,
        last_eps_error: None,
        recent: VecDeque::new(),
    };
    soak.run(actions);
    let walked = start.elapsed();
    soak.still_answers();
    let mut report = format!(
        "soak: seed {seed:#x}, {actions} actions in {:.1} s, {:.1} s in all\nactions:",
        walked.as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
    for (kind, n) in &soak.counts {
        write!(report, " {kind} {n},").unwrap();
    }
    report.push_str("\nby:");
    for (via, n) in &soak.via {
        write!(report, " {via} {n},").unwrap();
    }
    report.push_str("\njobs:");
    for (outcome, n) in &soak.outcomes {
        write!(report, " {outcome} {n},").unwrap();
    }
    report.push_str("\nerrors shown:");
    for (class, n) in &soak.errors {
        write!(report, " {class:?} {n},").unwrap();
    }
    eprintln!("{report}");
    // The walk did what it is there for (that it took `actions` actions holds by
    // construction): each kind of action came up as often as its weight says, to five
    // standard deviations of Binomial(actions, w/Σw) (so none was dropped or swamped);
    // actions reached the app by every route; the bad files were refused, saying so; and
    // jobs ran, so that "no error" is about a walk in which chains and training runs
    // started and ended (a walk in which every Sample or Train was refused or ignored
    // would show no errors too). The outcome thresholds are far below one run's counts
    // at the default seed (see the report) but above what a broken route gives: 0.
    let total: u32 = KINDS.iter().map(|k| k.1).sum();
    let n = actions as f64;
    for (kind, w) in KINDS {
        let p = f64::from(w) / f64::from(total);
        let got = soak.counts.get(kind).copied().unwrap_or(0) as f64;
        let sd = (n * p * (1.0 - p)).sqrt();
        assert!(
            (got - n * p).abs() <= 5.0 * sd,
            "{kind}: {got} actions, expected {:.0} ± {sd:.1}\n{report}",
            n * p
        );
    }
    if actions >= 1000 {
        for via in ["widget", "key", "file drop", "command", "setting", "waiting"] {
            assert!(
                soak.via.get(via).is_some_and(|n| *n > 0),
                "no action by {via}\n{report}"
            );
        }
        assert!(soak.errors.get("bad file").is_some_and(|n| *n > 0), "{report}");
        for (outcome, least) in OUTCOMES_LEAST {
            let got = soak.outcomes.get(outcome).copied().unwrap_or(0);
            assert!(
                got >= least,
                "{outcome}: {got}, expected at least {least}\n{report}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// What the soak found, each pinned by a test of its own.

/// The Compare tab's grid is cached and recomputed after layout, so in the frame that
/// switches to the tab it shows the grid of the schedules it was computed for; it took
/// the rows' ᾱ from the current schedules, and after T shrank on another tab the hover
/// text indexed past T and panicked (seed 0xd1ff5c0be50a4b, action 182).
#[test]
fn switching_to_compare_after_t_shrank_on_another_tab_does_not_panic() {
    let mut harness = harness_with(Settings {
        export_dir: scratch("soak-compare"),
        tab: Tab::Compare,
        ..Settings::default()
    });
    crate::ui::step_until(&mut harness, "the grid", |app| {
        !app.model.compare.cells.is_empty()
    });
    harness.get_by_label("Forward").click();
    harness.run_steps(2);
    harness.state_mut().settings.schedule.steps = 3;
    harness.run_steps(2);
    harness.get_by_label("Compare").click();
    harness.run_steps(3);
    let grid = &harness.state().model.compare;
    // Columns 0, T/5, …, T rounded, under the new schedules.
    assert_eq!(grid.steps, [0, 1, 1, 2, 2, 3]);
    assert!(grid.schedules.iter().all(|s| s.steps() == 3));
    assert!(harness.query_all_by_label("t = 3").next().is_some());
}

/// Two moons, linear T = 50 (with zero terminal SNR or not), the Reverse tab, the ideal
/// denoiser; training: 20 iterations of batch 32.
fn moons(zero_terminal_snr: bool) -> Harness<'static, DiffscopeApp> {
    let mut schedule = ScheduleSpec::new(ScheduleKind::Linear, 50);
    schedule.zero_terminal_snr = zero_terminal_snr;
    let mut harness = harness_with(Settings {
        source: SourceChoice::dataset(Dataset::TwoMoons),
        n_points: 200,
        schedule,
        tab: Tab::Reverse,
        export_dir: scratch("soak-zero-snr"),
        ..Settings::default()
    });
    harness.state_mut().settings.reverse.denoiser = DenoiserKind::Ideal;
    harness.state_mut().settings.reverse.max_speed = true;
    harness.state_mut().settings.reverse.n_points = 50;
    harness.state_mut().settings.reverse.iterations = 20;
    harness.state_mut().settings.reverse.batch = 32;
    crate::ui::step_until(&mut harness, "the start-up model", |app| {
        app.model.learning.pending.is_none()
    });
    harness
}

/// With zero terminal SNR (ᾱ_T = 0) no ε-predicting denoiser can step from x_T, so the
/// training run's sample metric (a DDIM chain from noise) failed, and the run with it:
/// "training failed: the reverse chain produced a non-finite value at t = 50".
#[test]
fn training_with_zero_terminal_snr_completes_without_the_sample_metric() {
    let mut harness = moons(true);
    harness.state_mut().push(Command::Train);
    crate::ui::step_until(&mut harness, "training", |app| {
        app.model.learning.training.as_ref().is_some_and(|t| !t.running())
    });
    let app = harness.state();
    let training = app.model.learning.training.as_ref().unwrap();
    assert_eq!(training.end, Some(TrainEnd::Completed), "{:?}", app.model.status);
    assert!(!training.validation.is_empty() && training.metric.is_empty());
    assert!(app.model.status.error.is_none(), "{:?}", app.model.status);
}

/// Sampling from noise with zero terminal SNR failed on its first step with "the reverse
/// chain produced a non-finite value at t = 50"; it is refused up front, saying why.
#[test]
fn sampling_from_noise_with_zero_terminal_snr_is_refused_with_the_reason() {
    let mut harness = moons(true);
    harness.get_by_label("Sample").click();
    harness.run_steps(2);
    let app = harness.state();
    let error = app.model.status.error.clone().unwrap_or_default();
    assert!(error.starts_with("zero terminal SNR"), "{error}");
    assert!(app.model.learning.chain.is_none(), "no chain started");
    // Without it, the same chain runs.
    harness.state_mut().settings.schedule.zero_terminal_snr = false;
    harness.state_mut().push(Command::DismissError);
    harness.run_steps(2);
    harness.get_by_label("Sample").click();
    crate::ui::step_until(&mut harness, "the chain", |app| {
        app.model.learning.chain.as_ref().is_some_and(|c| c.done)
    });
    let app = harness.state();
    assert!(app.model.status.error.is_none(), "{:?}", app.model.status);
    assert_eq!(app.model.learning.chain.as_ref().unwrap().progress, (50, 50));
}

/// A failed model load (generation 0) while a finished run's model was being written to
/// its file (also generation 0) was taken for that write's failure: the status said
/// "cannot keep the trained model: …garbage.safetensors…", the write's success then said
/// "saved the model to /tmp/diffscope-trained-…", and "trained here" could not be chosen
/// again.
#[test]
fn a_load_that_fails_as_training_ends_is_the_loads_error_and_the_trained_model_is_kept() {
    let mut harness = moons(false);
    let garbage = scratch("soak-load-as-training-ends").join("garbage.safetensors");
    std::fs::write(&garbage, b"not weights at all").unwrap();
    // One iteration, then the final evaluation (a 100-step chain of 1000 samples) takes a
    // while: the load arrives at the worker after the run has handed its model over.
    harness.state_mut().settings.reverse.iterations = 1;
    harness.state_mut().push(Command::Train);
    harness.step();
    std::thread::sleep(Duration::from_millis(100));
    drop_file(&mut harness, &garbage);
    crate::ui::step_until(&mut harness, "the run and the load", |app| {
        let l = &app.model.learning;
        l.training.as_ref().is_some_and(|t| !t.running())
            && l.pending.is_none()
            && l.saving_trained.is_none()
            && app.model.status.error.is_some()
    });
    let app = harness.state();
    let error = app.model.status.error.clone().unwrap();
    assert!(
        error.starts_with(&garbage.display().to_string()) && error.ends_with("(the current model is kept)"),
        "{error}"
    );
    assert_eq!(
        app.model.status.info.as_deref(),
        Some("training finished: 1 iterations")
    );
    assert!(
        app.model
            .learning
            .trained_file
            .as_ref()
            .is_some_and(|f| f.exists())
    );
    let learned = app.model.learning.learned.as_ref().unwrap();
    assert_eq!(learned.origin, diffscope::app::reverse::LearnedOrigin::Trained);
}

/// The ε field is asked of "the learned model", and the worker answers with the one it
/// holds by then: asked of a 2D model that a conv net replaced in between, it failed
/// ("conv net: 450 values are not whole 1×8×8 images") and the Reverse tab said so
/// until the next field arrived.
#[test]
fn an_eps_field_asked_of_a_model_replaced_meanwhile_is_no_error() {
    let mut harness = moons(false);
    harness.state_mut().settings.reverse.denoiser = DenoiserKind::Learned;
    crate::ui::step_until(&mut harness, "the shipped model's ε field", |app| {
        let l = &app.model.learning;
        l.eps_requested.is_none() && l.eps.as_ref().is_some_and(|e| !e.key.ideal)
    });
    let conv = scratch("soak-eps-field").join("digits.safetensors");
    let model = Checkpoint {
        network: Network::new(Architecture::Conv(ConvConfig::digits()), 1),
        info: ModelInfo {
            schedule: ScheduleSpec::new(ScheduleKind::Linear, 50),
            dataset: "digits".into(),
            iterations: 0,
            seed: 1,
            ema: None,
            command: "soak".into(),
            objective: diffscope::model::Objective::Epsilon,
        },
    };
    io::save(&model, &conv).unwrap();
    // In one frame: the load, then (a new t) a new field, asked of the 2D model still on
    // screen, which the worker answers after the load, with the conv net.
    harness.state_mut().settings.t = 17;
    harness.state_mut().push(Command::LoadModel(conv.clone()));
    harness.step();
    assert!(harness.state().model.learning.eps_requested.is_some());
    crate::ui::step_until(&mut harness, "the load and the field's answer", |app| {
        let l = &app.model.learning;
        l.pending.is_none() && l.eps_requested.is_none()
    });
    let learning = &harness.state().model.learning;
    assert!(
        learning
            .learned
            .as_ref()
            .is_some_and(|m| m.summary.shape != DataShape::Points),
        "the conv net is the model"
    );
    assert_eq!(learning.eps_error, None);
    assert!(harness.state().model.status.error.is_none());
}

/// The training run's sample metric is a chain from noise: under a schedule whose ᾱ_T
/// is tiny (6e-248 here) it was not finite in f32 and failed the run ("training failed:
/// the reverse chain produced a non-finite value at t = 1180", seed 0xd1ff5c0be50a4b
/// with waits, action 3799); then it was left out. Since issue 19 a 2D chain under such
/// a schedule clips x̂_0 to ±8 (computed in f64: 1/√ᾱ_t is 4e123 here, past f32), and the
/// metric is measured.
#[test]
fn a_sample_metric_under_a_tiny_alpha_bar_t_is_measured() {
    let mut spec = ScheduleSpec::new(ScheduleKind::Linear, 2000);
    spec.beta_start = Some(0.47);
    spec.beta_end = Some(0.0011);
    let schedule = Schedule::new(&spec).unwrap();
    assert!(schedule.alpha_bar(2000) < 1e-240);
    let settings = TrainSettings {
        schedule: spec,
        batch: 32,
        iterations: 5,
        ..TrainSettings::default()
    };
    let mut trainer = Trainer::new(
        Network::new(Architecture::Mlp2d(MlpConfig::default()), 1),
        TrainSet::dataset(Dataset::Checkerboard, 1),
        settings,
    )
    .unwrap();
    for _ in 0..5 {
        trainer.step().unwrap();
    }
    let evaluation = trainer.evaluate(true).unwrap();
    assert!(evaluation.validation_loss.is_finite());
    let (metric, floor) = (evaluation.metric.unwrap(), evaluation.noise_floor.unwrap());
    assert!(
        metric.is_finite() && metric > floor,
        "SW2 {metric} over the floor {floor}"
    );
    assert!(!evaluation.samples.is_empty());
    assert!(evaluation.samples.iter().flatten().all(|v| v.abs() <= 8.0 + 1.0));
}

/// A 2D chain under a schedule with a tiny ᾱ_T (linear β up to 0.2 over T = 1000:
/// ᾱ_T = 2e-47) from a model trained 200 iterations: before issue 19 its DDPM chain went
/// non-finite at t = 424 (`diffscope sample`; the ε-model's error, multiplied by 1/√ᾱ_t
/// in x̂_0, grows by √(ᾱ_{t'}/ᾱ_t) > 1 per step where β_t is large). With x̂_0 clipped to
/// ±8 every sampler's chain stays finite, every frame's x̂_0 within the box, and the
/// samples spread as the data do (standard deviation within 0.5 of 1). Under zero terminal
/// SNR the chain refuses its first step from x_T, saying why, instead of stepping into
/// ∞ − ∞.
#[test]
fn chains_under_a_tiny_alpha_bar_t_stay_finite_and_zero_terminal_snr_is_refused() {
    use diffscope::diffusion::ReverseVariance;
    use diffscope::model::sample::{Denoiser, POINTS_X0_BOUND, ReverseChain, Sampler};
    let mut spec = ScheduleSpec::new(ScheduleKind::Linear, 1000);
    spec.beta_end = Some(0.2);
    let schedule = Schedule::new(&spec).unwrap();
    assert!(schedule.alpha_bar(1000) < 1e-46);
    let settings = TrainSettings {
        schedule: spec.clone(),
        iterations: 200,
        ..TrainSettings::default()
    };
    let mut trainer = Trainer::new(
        Network::new(Architecture::Mlp2d(MlpConfig::default()), 1),
        TrainSet::dataset(Dataset::TwoMoons, 1),
        settings,
    )
    .unwrap();
    while !trainer.is_done() {
        trainer.step().unwrap();
    }
    let denoiser = Denoiser::Learned(trainer.model().network.inference().unwrap());
    let samplers = [
        Sampler::Ddpm(ReverseVariance::Beta),
        Sampler::Ddpm(ReverseVariance::PosteriorVariance),
        Sampler::Ddim { steps: 50, eta: 0.0 },
        Sampler::Ddim { steps: 100, eta: 1.0 },
    ];
    for sampler in samplers {
        let mut chain = ReverseChain::from_noise(schedule.clone(), sampler, 500, 2, 3);
        while let Some(frame) = chain
            .step(&denoiser)
            .unwrap_or_else(|e| panic!("{sampler:?}: {e}"))
        {
            assert!(
                frame.x.iter().all(|v| v.is_finite()),
                "{sampler:?} at t = {}",
                frame.t
            );
            assert!(
                frame.x0_hat.iter().all(|v| v.abs() <= POINTS_X0_BOUND),
                "{sampler:?} at t = {}",
                frame.t
            );
        }
        let x = chain.x();
        let sd = |k: usize| {
            let m = x.iter().skip(k).step_by(2).map(|&v| f64::from(v)).sum::<f64>() / 500.0;
            (x.iter()
                .skip(k)
                .step_by(2)
                .map(|&v| (f64::from(v) - m).powi(2))
                .sum::<f64>()
                / 500.0)
                .sqrt()
        };
        assert!(
            (sd(0) - 1.0).abs() < 0.5 && (sd(1) - 1.0).abs() < 0.5,
            "{sampler:?}: sd {} {}",
            sd(0),
            sd(1)
        );
    }
    spec.zero_terminal_snr = true;
    let ztsnr = Schedule::new(&spec).unwrap();
    let mut chain = ReverseChain::from_noise(ztsnr, Sampler::Ddpm(ReverseVariance::Beta), 10, 2, 3);
    let e = chain.step(&denoiser).unwrap_err().to_string();
    assert!(e.starts_with("zero terminal SNR: ᾱ_T = 0"), "{e}");
}
