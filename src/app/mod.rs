//! The window's state and logic (no layout, no styling: `crate::ui` draws, `crate::gui`
//! runs it in eframe), and the commands the UI issues.
//!
//! The UI (`crate::ui`) lays out panels from [`Model`] and the persisted [`Settings`];
//! it edits settings in place and pushes [`Command`]s for actions with side effects.
//! After layout, [`DiffscopeApp::apply_changes`] compares the settings with those last
//! applied (rebuilding the schedule, the scene or the caches as needed) and runs the
//! commands, so nothing changes state in the middle of a frame — and a change made
//! anywhere (a panel, a key, a test) takes effect the same way.

mod chain;
pub mod chapters;
pub mod command;
pub mod compare;
pub mod d3pm;
pub mod deck;
pub mod dialogs;
pub mod drawing;
pub mod elbo;
pub mod error;
mod events;
pub mod exports;
pub mod flow;
pub mod forward;
pub mod keys;
pub mod latent;
pub mod layout;
mod learned;
mod loading;
pub mod markov;
mod model_events;
pub mod options;
pub mod path_prompt;
pub mod quality;
pub mod reverse;
mod screenshot;
pub mod settings;
mod training;
pub mod view_model;

use std::sync::mpsc::Receiver;

pub use self::command::Command;
use self::compare::CompareCache;
use self::dialogs::{DialogKind, DialogResult};
use self::error::AppError;
use self::forward::ImageView;
use self::options::AutoStart;
pub use self::options::{RunOptions, ScatterStyles};
use self::reverse::Learning;
use self::screenshot::Screenshot;
use self::settings::{STORAGE_KEY, Settings, SourceChoice, Tab};
pub use self::view_model::{FrameTimes, Model, Status};
use crate::diffusion::Schedule;
use crate::scene::{self, Scene};
use crate::worker::frames::FrameWorker;
use crate::worker::model::ModelWorker;

/// The app.
pub struct DiffscopeApp {
    /// What the user chose (persisted).
    pub settings: Settings,
    /// The settings the model was last brought in line with.
    applied: Settings,
    /// What is on screen.
    pub model: Model,
    frames: FrameWorker,
    ml: ModelWorker,
    next_job: u64,
    auto_start: Option<AutoStart>,
    wait_for_chain: bool,
    /// `--pause-at`: the step the first chain pauses at by itself.
    pause_at: Option<usize>,
    loader: Option<Receiver<Result<Scene, AppError>>>,
    dialog: Option<Receiver<DialogResult>>,
    play_accumulator: f64,
    persist: bool,
    screenshot: Option<Screenshot>,
    commands: Vec<Command>,
    theme_applied: Option<settings::ThemeChoice>,
    frames_drawn: u64,
    logic_ms: f32,
    /// A chapter's play range: `t` loops over it while playing.
    play_range: Option<(usize, usize)>,
    /// What the chapter on screen does once its data is loaded.
    after_load: Option<chapters::AfterLoad>,
}

impl DiffscopeApp {
    /// The app with `settings`, its workers started; `ctx` is used for repaint requests.
    /// The window (`crate::gui`) installs fonts and passes the scatter styles of its
    /// themes.
    #[must_use]
    pub fn new(ctx: &egui::Context, settings: Settings, options: RunOptions, styles: ScatterStyles) -> Self {
        let mut settings = settings.sanitised();
        options.apply_to(&mut settings);
        let wake_ctx = ctx.clone();
        let frames = FrameWorker::spawn(Box::new(move || wake_ctx.request_repaint()));
        let wake_ctx = ctx.clone();
        let ml = ModelWorker::spawn(Box::new(move || wake_ctx.request_repaint()));
        let schedule = settings.build_schedule();
        if let Some(t) = options.t {
            settings.t = t.min(schedule.steps());
        }
        let mut status = Status::default();
        // The remembered data, or the astronaut if it cannot be loaded any more.
        let scene = match scene::load(&settings.source, &settings.scene_options()) {
            Ok(scene) => scene,
            Err(e) => {
                status.error = Some(e.to_string());
                settings.source = SourceChoice::default();
                scene::load(&settings.source, &settings.scene_options())
                    .expect("the embedded astronaut loads")
            }
        };
        ctx.set_zoom_factor(settings.zoom);
        let model = Model {
            compared: settings.compared_schedules(),
            schedule,
            x0_sq_norm: scene.sq_norm(),
            scene,
            points: None,
            image: ImageView::default(),
            textures: (None, None),
            scatter_key: None,
            scatter_styles: styles,
            status,
            loading: None,
            load_progress: None,
            export: None,
            frame_times: FrameTimes::default(),
            playing: false,
            compare: CompareCache::default(),
            learning: Learning::default(),
            elbo: elbo::ElboState::default(),
            flow: flow::FlowState::default(),
            quality: quality::QualityState::default(),
            path_prompt: None,
            deck: None,
            d3pm: d3pm::D3pmState::default(),
            markov: markov::MarkovView::new(&settings.markov),
            latent: latent::LatentState::default(),
            drawing: crate::data::drawing::Drawing::new(settings.drawing.points()),
        };
        let mut app = Self {
            applied: settings.clone(),
            settings,
            model,
            frames,
            ml,
            next_job: 0,
            auto_start: if options.sample {
                Some(AutoStart::Sample)
            } else if options.train {
                Some(AutoStart::Train)
            } else {
                None
            },
            wait_for_chain: options.sample,
            pause_at: options.pause_at,
            loader: None,
            dialog: None,
            play_accumulator: 0.0,
            persist: !options.fresh,
            screenshot: options.screenshot.map(|path| Screenshot {
                path,
                started: std::time::Instant::now(),
                requested: false,
                done: None,
            }),
            commands: Vec::new(),
            theme_applied: None,
            frames_drawn: 0,
            logic_ms: 0.0,
            play_range: None,
            after_load: None,
        };
        app.rebuild_views();
        app.use_shipped_if_any(false);
        if let Some(file) = options.file {
            app.commands.push(Command::Load(SourceChoice::File(file)));
        }
        if let Some(deck) = &options.deck {
            app.open_deck(deck, options.chapter);
            // A screenshot of a chapter that samples shows the finished chain.
            let samples = app.auto_start == Some(AutoStart::Sample)
                || app.after_load.as_ref().is_some_and(|a| a.sample);
            app.wait_for_chain |= samples && app.screenshot.is_some();
        }
        app
    }

    /// Queues a command (the UI's way to act).
    pub fn push(&mut self, command: Command) {
        self.commands.push(command);
    }

    /// Applies what changed since the last call: settings, then commands.
    pub fn apply_changes(&mut self, ctx: &egui::Context) {
        self.deck_commands();
        let before = std::mem::replace(&mut self.applied, self.settings.clone());
        let s = &self.settings;
        let data_changed = match (&s.source, &before.source) {
            (SourceChoice::Dataset(_), SourceChoice::Dataset(_)) => {
                s.source != before.source || s.n_points != before.n_points || s.data_seed != before.data_seed
            }
            (SourceChoice::Image(_) | SourceChoice::File(_), _) => s.max_side != before.max_side,
            _ => false,
        };
        if data_changed {
            self.commands.push(Command::Load(self.settings.source.clone()));
        }
        if self.settings.points_shown != before.points_shown
            && let Some(scene) = self.model.scene.showing(self.settings.points_shown)
        {
            // A new uniform subsample of the points already read: no reading again.
            self.model.status.info = Some(format!("{}: {}", scene.name, scene.describe()));
            self.model.scene = scene;
            self.model.elbo.data_serial += 1;
            self.rebuild_views();
        }
        if self.settings.schedule != before.schedule {
            match Schedule::new(&self.settings.schedule) {
                Ok(schedule) => {
                    self.settings.t = self.settings.t.min(schedule.steps());
                    self.model.schedule = schedule;
                    self.rebuild_views();
                }
                Err(e) => {
                    self.model.status.error = Some(format!("schedule not changed: {e}"));
                    self.settings.schedule = before.schedule.clone();
                }
            }
        }
        if self.settings.schedule != before.schedule || self.settings.overlay != before.overlay {
            self.model.compared = self.settings.compared_schedules();
        }
        if self.settings.noise_seed != before.noise_seed || self.settings.highlighted != before.highlighted {
            self.rebuild_views();
        }
        if self.settings.theme != before.theme {
            self.theme_applied = None;
        }
        if (self.settings.zoom - before.zoom).abs() > f32::EPSILON {
            ctx.set_zoom_factor(self.settings.zoom);
        }
        self.reverse_settings_changed(&before);
        for command in std::mem::take(&mut self.commands) {
            self.run(command, ctx);
        }
        self.request_frame();
        self.reverse_views(ctx);
        self.elbo_views();
        self.flow_views();
        self.quality_views();
        let wake = ctx.clone();
        self.model.d3pm.update(
            &self.settings.d3pm,
            &self.model.schedule,
            self.settings.noise_seed,
            self.settings.t,
            move || wake.request_repaint(),
        );
        self.markov_views(ctx);
        self.latent_views(ctx);
        if self.render_scatters(ctx) {
            // The new picture is laid out in the next frame.
            ctx.request_repaint();
        }
        self.applied = self.settings.clone();
    }

    fn run(&mut self, command: Command, ctx: &egui::Context) {
        let steps = self.model.schedule.steps();
        match command {
            Command::Load(source) => self.start_load(source, ctx),
            Command::OpenDialog => self.open_dialog(ctx, DialogKind::OpenData),
            Command::ChooseExportDir => self.open_dialog(ctx, DialogKind::ExportDir),
            Command::OpenModelDialog => self.open_dialog(ctx, DialogKind::OpenModel),
            Command::SaveModelDialog => self.open_dialog(ctx, DialogKind::SaveModel),
            Command::OpenDeckDialog => self.open_dialog(ctx, DialogKind::OpenDeck),
            Command::SaveDeckDialog => self.open_dialog(ctx, DialogKind::SaveDeck),
            Command::OpenDeck(_)
            | Command::GoToChapter(_)
            | Command::NextChapter
            | Command::PrevChapter
            | Command::CloseDeck
            | Command::SaveChapter
            | Command::SaveChapterTo(_) => self.commands.push(command),
            Command::TogglePlay if self.settings.tab == Tab::Reverse => self.toggle_chain(),
            // Space pauses and resumes the VAE → VDM tab's training (it has no `t`).
            Command::TogglePlay if self.settings.tab == Tab::Vae => {
                if self.model.latent.training {
                    let paused = !self.model.latent.paused;
                    self.latent_action(ctx, latent::LatentAction::Pause(paused));
                }
            }
            Command::TogglePlay if self.settings.steps_n() => self.toggle_markov(),
            Command::Step(delta) if self.settings.steps_n() => {
                self.step_markov(self.settings.markov.n.saturating_add_signed(delta as isize));
            }
            Command::Home if self.settings.steps_n() => self.step_markov(0),
            Command::End if self.settings.steps_n() => self.step_markov(markov::MAX_N),
            Command::Markov(edit) => self.markov_edit(edit),
            Command::Latent(action) => self.latent_action(ctx, action),
            Command::Draw(action) => self.draw(action, ctx),
            Command::Step(delta)
                if self.settings.tab == Tab::Reverse && self.model.learning.chain.is_some() =>
            {
                self.step_reverse(delta);
            }
            Command::UseShippedModel => self.use_shipped_if_any(true),
            Command::UseShippedFlowModel => {
                if let Some(name) = crate::scene::prepare::shipped_flow_name(&self.model.scene) {
                    self.use_shipped(name, true);
                }
            }
            Command::UseTrainedModel => self.use_trained(),
            Command::UseIdealDenoiser => {
                self.settings.reverse.denoiser = settings::DenoiserKind::Ideal;
            }
            Command::LoadModel(path) => self.load_model(path),
            Command::SaveModel(path) => self.save_model(path),
            Command::Train => self.train(),
            Command::PauseTraining(paused) => self.pause_training(paused),
            Command::CancelTraining => self.cancel_training(),
            Command::Sample => self.sample(),
            Command::PauseChain(paused) => self.pause_chain(paused),
            Command::StepChain => self.step_chain(),
            Command::ComputeElbo => self.model.elbo.stopped = None,
            Command::StopElbo => self.stop_elbo(),
            Command::ComputeFlow => self.model.flow.stopped = None,
            Command::StopFlow => self.stop_flow(),
            Command::StopQuality => self.stop_quality(),
            Command::ComputeQuality => self.model.quality.stopped = None,
            Command::TogglePlay => {
                let (from, to) = self.play_range.unwrap_or((0, steps));
                if !self.model.playing && self.settings.t >= to.min(steps) {
                    self.settings.t = from.min(steps);
                }
                self.model.playing = !self.model.playing;
                self.play_accumulator = 0.0;
            }
            Command::Step(delta) => {
                self.model.playing = false;
                self.settings.t = self.settings.t.saturating_add_signed(delta as isize).min(steps);
            }
            Command::Home => self.settings.t = 0,
            Command::End => self.settings.t = steps,
            Command::ExportFrame => self.export_frame(ctx),
            Command::ExportGif(frames) => self.export_gif(ctx, frames),
            Command::ExportCompare => self.export_compare(ctx),
            Command::ExportChainGif => self.export_chain_gif(ctx),
            Command::ExportScheduleCsv => self.export_schedule_csv(),
            Command::CancelExport => {
                if let Some(job) = &self.model.export {
                    job.cancel();
                }
            }
            Command::DismissError => self.model.status.error = None,
            Command::SubmitPath(path) => self.submit_path(path),
            Command::ClosePathPrompt => self.model.path_prompt = None,
            Command::Quit => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
            Command::ToggleFullscreen(window) => {
                let full = ctx.input_for(window, |i| i.viewport().fullscreen.unwrap_or(false));
                ctx.send_viewport_cmd_to(window, egui::ViewportCommand::Fullscreen(!full));
            }
        }
    }

    /// Whether settings are saved at exit.
    #[must_use]
    pub const fn persists(&self) -> bool {
        self.persist
    }

    /// Drains the workers, the loader and the dialogs, and records how long it took
    /// (eframe's `logic`, before layout).
    pub fn timed_logic(&mut self, ctx: &egui::Context) {
        let start = std::time::Instant::now();
        self.logic(ctx);
        self.logic_ms = start.elapsed().as_secs_f32() * 1000.0;
    }

    /// The theme to apply before this frame's layout, if it changed (the window applies
    /// it: the styling is the UI's).
    pub fn take_theme_change(&mut self) -> Option<settings::ThemeChoice> {
        (self.theme_applied != Some(self.settings.theme)).then(|| {
            self.theme_applied = Some(self.settings.theme);
            self.settings.theme
        })
    }

    /// One frame: keys and dropped files, `layout` (the UI, which edits the settings and
    /// pushes commands), then the changes applied, the comparison grid, the screenshot
    /// flow and the frame's times. `cpu_s` is eframe's measure of the previous frame.
    pub fn frame(
        &mut self,
        ctx: &egui::Context,
        cpu_s: Option<f32>,
        layout: impl FnOnce(&mut Settings, &Model, &mut Vec<Command>),
    ) {
        let start = std::time::Instant::now();
        if let Some(s) = cpu_s {
            self.model.frame_times.push(s * 1000.0);
        }
        self.keys(ctx);
        self.dropped_files(ctx);
        self.auto_sample_step();
        layout(&mut self.settings, &self.model, &mut self.commands);
        self.settings.zoom = ctx.zoom_factor();
        self.apply_changes(ctx);
        self.model
            .compare
            .update(ctx, &self.model.scene, &self.model.compared, &self.settings);
        self.frames_drawn += 1;
        if self.screenshot.is_some() {
            self.screenshot_step(ctx);
        }
        let app_ms = self.logic_ms + start.elapsed().as_secs_f32() * 1000.0;
        self.model.frame_times.push_app(app_ms);
    }
}

/// Removes the temporary files of trained models.
impl Drop for DiffscopeApp {
    fn drop(&mut self) {
        for file in &self.model.learning.temp_files {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// The settings remembered in eframe's `storage`; the defaults when there are none or
/// they do not parse (`DiffscopeApp::new` then brings every value into range).
#[must_use]
pub fn stored_settings(storage: Option<&dyn eframe::Storage>) -> Settings {
    storage
        .and_then(|s| eframe::get_value::<Settings>(s, STORAGE_KEY))
        .unwrap_or_default()
}
