//! The window: `eframe::App`, its state, and the commands the UI issues.
//!
//! The UI (`crate::ui`) lays out panels from [`Model`] and the persisted [`Settings`];
//! it edits settings in place and pushes [`Command`]s for actions with side effects.
//! After layout, [`DiffscopeApp::apply_changes`] compares the settings with those last
//! applied (rebuilding the schedule, the scene or the caches as needed) and runs the
//! commands, so nothing changes state in the middle of a frame — and a change made
//! anywhere (a panel, a key, a test) takes effect the same way.

pub mod compare;
pub mod elbo;
pub mod forward;
pub mod reverse;
mod reverse_logic;
pub mod scene;
pub mod settings;

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use egui::{ColorImage, TextureHandle, TextureOptions};

use self::compare::CompareCache;
use self::forward::{ImageView, PointsView, image_job};
use self::reverse::Learning;
use self::scene::{Scene, SceneData};
use self::settings::{STORAGE_KEY, Settings, SourceChoice, Tab};
use crate::diffusion::Schedule;
use crate::worker::export::{ExportJob, ExportOutcome};
use crate::worker::frames::{FrameCommand, FrameEvent, FrameWorker, Rgba};
use crate::worker::model::ModelWorker;

/// How long `logic` may spend draining worker events per frame.
const EVENT_BUDGET: Duration = Duration::from_millis(4);

/// Actions the UI asks for; applied after layout.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Load this data (built-in image or set, or a file).
    Load(SourceChoice),
    /// Open the native file dialog to pick an image or points CSV.
    OpenDialog,
    /// Start or stop playback.
    TogglePlay,
    /// Move `t` by this many steps.
    Step(i64),
    /// Go to `t = 0`.
    Home,
    /// Go to `t = T`.
    End,
    /// Save both views at the current `t` as one PNG.
    ExportFrame,
    /// Save the forward animation `t = 0 → T` as a GIF of this many frames.
    ExportGif(usize),
    /// Save the comparison grid as PNG.
    ExportCompare,
    /// Save the schedule table as CSV.
    ExportScheduleCsv,
    /// Stop the running export.
    CancelExport,
    /// Pick the export folder with the native dialog.
    ChooseExportDir,
    /// Hide the error in the status line.
    DismissError,
    /// Enter or leave fullscreen.
    ToggleFullscreen,
    /// Close the window (Ctrl+Q).
    Quit,
    /// Load the shipped weights of the data on screen.
    UseShippedModel,
    /// Load the model trained in this window again.
    UseTrainedModel,
    /// Use the ideal denoiser of the data on screen.
    UseIdealDenoiser,
    /// Pick a weights file with the native dialog.
    OpenModelDialog,
    /// Load weights from this file (the current model stays if it fails).
    LoadModel(PathBuf),
    /// Pick where to save the learned model with the native dialog.
    SaveModelDialog,
    /// Save the learned model to this file.
    SaveModel(PathBuf),
    /// Train a fresh model on the data on screen.
    Train,
    /// Pause (`true`) or resume the training run.
    PauseTraining(bool),
    /// Stop the training run (the model keeps what it learnt).
    CancelTraining,
    /// Start (or restart) the reverse chain.
    Sample,
    /// Pause (`true`) or resume the reverse chain.
    PauseChain(bool),
    /// Advance the paused reverse chain by exactly one step.
    StepChain,
    /// Compute the missing ELBO estimates (again, after a stop).
    ComputeElbo,
    /// Stop the running ELBO estimates.
    StopElbo,
}

/// Messages for the status line.
#[derive(Clone, Debug, Default)]
pub struct Status {
    /// The last informational message.
    pub info: Option<String>,
    /// The last error; it stays until dismissed.
    pub error: Option<String>,
}

/// Frame times of the last few hundred frames (the F3 overlay).
#[derive(Clone, Debug, Default)]
pub struct FrameTimes {
    cpu_ms: std::collections::VecDeque<f32>,
    /// The app's own share: `logic` + `ui` (no tessellation or painting).
    pub app_ms: std::collections::VecDeque<f32>,
}

impl FrameTimes {
    /// Frames kept.
    pub const WINDOW: usize = 600;

    /// Records one frame's CPU time (eframe's measure: the whole frame but the buffer swap).
    pub fn push(&mut self, ms: f32) {
        if self.cpu_ms.len() == Self::WINDOW {
            self.cpu_ms.pop_front();
        }
        self.cpu_ms.push_back(ms);
    }

    /// Records the app's own time of one frame.
    pub fn push_app(&mut self, ms: f32) {
        if self.app_ms.len() == Self::WINDOW {
            self.app_ms.pop_front();
        }
        self.app_ms.push_back(ms);
    }

    /// The `q`-quantile of the app's own times, in ms.
    #[must_use]
    pub fn app_quantile(&self, q: f64) -> f32 {
        quantile(self.app_ms.iter().copied(), q)
    }

    /// Number of frames recorded.
    #[must_use]
    pub fn len(&self) -> usize {
        self.cpu_ms.len()
    }

    /// Whether nothing was recorded yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.cpu_ms.is_empty()
    }

    /// The `q`-quantile (0..=1) of the recorded times, in ms.
    #[must_use]
    pub fn quantile(&self, q: f64) -> f32 {
        quantile(self.cpu_ms.iter().copied(), q)
    }

    /// The recorded times, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = f32> + '_ {
        self.cpu_ms.iter().copied()
    }
}

/// The `q`-quantile (0..=1) of `values` (0 if there are none).
fn quantile(values: impl Iterator<Item = f32>, q: f64) -> f32 {
    let mut v: Vec<f32> = values.collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f32::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// Everything the UI reads (but the settings, which it edits).
pub struct Model {
    /// The schedule on screen.
    pub schedule: Schedule,
    /// The current schedule and the overlaid ones.
    pub compared: Vec<Schedule>,
    /// The data on screen.
    pub scene: Scene,
    /// `‖x_0‖²` of the scene (for the prior term).
    pub x0_sq_norm: f64,
    /// Both views of a point cloud, when the scene is points.
    pub points: Option<PointsView>,
    /// What the image views show, when the scene is an image.
    pub image: ImageView,
    /// Textures of the two views: (Markov, closed form); for points, rendered scatters.
    pub textures: (Option<TextureHandle>, Option<TextureHandle>),
    /// What the `x_0` texture of the point views shows: (dark theme, data generation).
    scatter_key: Option<(bool, u64)>,
    /// Messages and errors.
    pub status: Status,
    /// What is loading, if anything.
    pub loading: Option<String>,
    /// The running export.
    pub export: Option<ExportJob>,
    /// Frame times.
    pub frame_times: FrameTimes,
    /// Whether `t` is playing.
    pub playing: bool,
    /// The comparison grid.
    pub compare: CompareCache,
    /// The learned model, the reverse chain and training.
    pub learning: Learning,
    /// The ELBO tab's estimates.
    pub elbo: elbo::ElboState,
}

/// Options of one run that are not settings (from the command line).
#[derive(Clone, Debug, Default)]
#[allow(clippy::struct_excessive_bools, reason = "independent command-line switches")]
pub struct RunOptions {
    /// Open this file at start-up.
    pub file: Option<PathBuf>,
    /// Start from default settings and do not save them.
    pub fresh: bool,
    /// Start at this `t`.
    pub t: Option<usize>,
    /// Start on this tab.
    pub tab: Option<Tab>,
    /// Start on this built-in data.
    pub source: Option<SourceChoice>,
    /// Save a screenshot here once the window has settled, then close.
    pub screenshot: Option<PathBuf>,
    /// Show the frame-time overlay.
    pub frame_times: bool,
    /// Start the reverse chain once the window is up (with the ideal denoiser if no
    /// learned model is loaded); a screenshot then waits for the chain to finish.
    pub sample: bool,
    /// Start training a model on the data on screen once the window is up.
    pub train: bool,
}

/// A job started once the window is up (`--sample`, `--train`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AutoStart {
    Sample,
    Train,
}

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
    loader: Option<Receiver<Result<Scene, String>>>,
    dialog: Option<Receiver<DialogResult>>,
    play_accumulator: f64,
    persist: bool,
    screenshot: Option<Screenshot>,
    commands: Vec<Command>,
    theme_applied: Option<settings::ThemeChoice>,
    frames_drawn: u64,
    logic_ms: f32,
}

/// What a native dialog returned.
enum DialogResult {
    Open(Option<PathBuf>),
    ExportDir(Option<PathBuf>),
    OpenModel(Option<PathBuf>),
    SaveModel(Option<PathBuf>),
}

/// Which native dialog to open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DialogKind {
    OpenData,
    ExportDir,
    OpenModel,
    SaveModel,
}

/// The `--screenshot` flow: wait for the window to settle, capture, save, close.
struct Screenshot {
    path: PathBuf,
    started: std::time::Instant,
    requested: bool,
    done: Option<Receiver<Result<(), String>>>,
}

impl DiffscopeApp {
    /// The app with `settings`, its worker started; `ctx` is used for repaint requests
    /// and fonts.
    #[must_use]
    pub fn new(ctx: &egui::Context, settings: Settings, options: RunOptions) -> Self {
        crate::ui::theme::install_fonts(ctx);
        let mut settings = settings.sanitised();
        if let Some(source) = options.source.clone() {
            settings.source = source;
        }
        if let Some(tab) = options.tab {
            settings.tab = tab;
        }
        settings.show_frame_times |= options.frame_times;
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
        let scene = match scene::load(&settings.source, &settings) {
            Ok(scene) => scene,
            Err(e) => {
                status.error = Some(e);
                settings.source = SourceChoice::default();
                scene::load(&settings.source, &settings).expect("the embedded astronaut loads")
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
            status,
            loading: None,
            export: None,
            frame_times: FrameTimes::default(),
            playing: false,
            compare: CompareCache::default(),
            learning: Learning::default(),
            elbo: elbo::ElboState::default(),
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
        };
        app.rebuild_views();
        app.use_shipped_if_any(false);
        if let Some(file) = options.file {
            app.commands.push(Command::Load(SourceChoice::File(file)));
        }
        app
    }

    /// The app as eframe creates it: settings from storage unless `fresh`.
    #[must_use]
    pub fn from_creation_context(cc: &eframe::CreationContext<'_>, options: RunOptions) -> Self {
        let settings = if options.fresh {
            Settings::default()
        } else {
            stored_settings(cc.storage)
        };
        Self::new(&cc.egui_ctx, settings, options)
    }

    /// Queues a command (the UI's way to act).
    pub fn push(&mut self, command: Command) {
        self.commands.push(command);
    }

    /// Rebuilds both views for the current scene, schedule and seed.
    fn rebuild_views(&mut self) {
        self.model.image.generation += 1;
        let generation = self.model.image.generation;
        match &self.model.scene.data {
            SceneData::Points(points) => {
                self.frames.send(FrameCommand::Clear);
                self.model.points = Some(PointsView::new(
                    points.clone(),
                    self.model.schedule.clone(),
                    self.settings.noise_seed,
                    self.settings.t,
                    self.settings.highlighted,
                ));
                self.model.image = ImageView {
                    generation,
                    ..ImageView::default()
                };
                self.model.textures = (None, None);
            }
            SceneData::Image(img) => {
                self.model.points = None;
                self.model.textures = (None, None);
                self.model.image = ImageView {
                    generation,
                    built: (0, self.model.schedule.steps()),
                    ..ImageView::default()
                };
                let job = image_job(generation, img, &self.model.schedule, self.settings.noise_seed);
                self.frames.send(FrameCommand::SetImage(Box::new(job)));
                self.request_frame();
            }
        }
    }

    /// Asks for the frames of the current `t` (images) or computes them (points).
    fn request_frame(&mut self) {
        let t = self.settings.t;
        if let Some(points) = &mut self.model.points {
            points.set_t(t);
        } else if self.model.image.requested != Some(t) {
            self.model.image.requested = Some(t);
            self.frames.send(FrameCommand::Frame {
                generation: self.model.image.generation,
                t,
            });
        }
    }

    /// Drains the worker, the loader and the dialogs; advances playback.
    fn logic(&mut self, ctx: &egui::Context) {
        let start = std::time::Instant::now();
        while start.elapsed() < EVENT_BUDGET {
            let Some(event) = self.frames.try_recv() else {
                break;
            };
            self.on_frame_event(event);
        }
        while start.elapsed() < EVENT_BUDGET {
            let Some(event) = self.ml.try_recv() else {
                break;
            };
            self.on_model_event(event);
        }
        if self.model.image.dirty {
            self.upload_textures(ctx);
        }
        if let Some(rx) = &self.loader
            && let Ok(result) = rx.try_recv()
        {
            self.loader = None;
            self.model.loading = None;
            match result {
                Ok(scene) => self.set_scene(scene),
                Err(e) => self.model.status.error = Some(e),
            }
        }
        if let Some(rx) = &self.dialog
            && let Ok(result) = rx.try_recv()
        {
            self.dialog = None;
            match result {
                DialogResult::Open(Some(path)) => self.commands.push(Command::Load(SourceChoice::File(path))),
                DialogResult::ExportDir(Some(dir)) => self.settings.export_dir = dir,
                DialogResult::OpenModel(Some(path)) => self.commands.push(Command::LoadModel(path)),
                DialogResult::SaveModel(Some(path)) => self.commands.push(Command::SaveModel(path)),
                DialogResult::Open(None)
                | DialogResult::ExportDir(None)
                | DialogResult::OpenModel(None)
                | DialogResult::SaveModel(None) => {
                    self.model.status.info = Some(
                        "no file chosen (without a desktop file dialog, drop a file on the window)".into(),
                    );
                }
            }
        }
        if let Some(job) = &self.model.export {
            match job.poll() {
                ExportOutcome::Running => ctx.request_repaint_after(Duration::from_millis(100)),
                ExportOutcome::Done(path) => {
                    self.model.status.info = Some(format!("saved {}", path.display()));
                    self.model.export = None;
                }
                ExportOutcome::Failed(e) => {
                    if job.cancelled() {
                        self.model.status.info = Some(format!("{} export cancelled", job.what));
                    } else {
                        self.model.status.error = Some(e);
                    }
                    self.model.export = None;
                }
            }
        }
        if self.model.playing {
            self.advance_playback(ctx);
        }
        if self.loader.is_some() || self.dialog.is_some() {
            ctx.request_repaint_after(Duration::from_millis(50));
        }
    }

    fn advance_playback(&mut self, ctx: &egui::Context) {
        let dt = f64::from(ctx.input(|i| i.stable_dt)).min(0.1);
        self.play_accumulator += dt * f64::from(self.settings.speed_steps_per_s);
        let whole = self.play_accumulator.floor();
        self.play_accumulator -= whole;
        let steps = self.model.schedule.steps();
        let mut t = self.settings.t + whole as usize;
        if t > steps {
            if self.settings.looping {
                t = 0;
            } else {
                t = steps;
                self.model.playing = false;
            }
        }
        self.settings.t = t;
        ctx.request_repaint();
    }

    fn on_frame_event(&mut self, event: FrameEvent) {
        let view = &mut self.model.image;
        match event {
            FrameEvent::Frame {
                generation,
                t,
                closed,
                markov,
            } if generation == view.generation => {
                view.closed = Some((t, closed));
                if let Some(m) = markov {
                    view.markov = Some((t, m));
                }
                view.dirty = true;
            }
            FrameEvent::Progress {
                generation,
                built_up_to,
                steps,
            } if generation == view.generation => {
                // The worker keeps the newest request and answers it once the chain reaches it.
                view.built = (built_up_to, steps);
            }
            FrameEvent::Failed { generation, message } if generation == view.generation => {
                self.model.status.error = Some(format!("computing the frames failed: {message}"));
            }
            _ => {} // stale: an image no longer on screen
        }
    }

    fn upload_textures(&mut self, ctx: &egui::Context) {
        let view = &mut self.model.image;
        view.dirty = false;
        if let Some((_, m)) = &view.markov {
            upload(
                ctx,
                &mut self.model.textures.0,
                "markov",
                &m.image,
                TextureOptions::NEAREST,
            );
        }
        if let Some((_, c)) = &view.closed {
            upload(
                ctx,
                &mut self.model.textures.1,
                "closed",
                &c.image,
                TextureOptions::NEAREST,
            );
        }
    }

    /// Renders the constant part of the point views, `x_0` with the axes, to a texture
    /// when the data or the theme changed; returns whether it rendered. The moving
    /// points are drawn over it by the UI as one small mesh (two triangles a point): a
    /// software renderer (llvmpipe) pays per triangle, and this keeps a frame to a few
    /// thousand.
    fn render_scatters(&mut self, ctx: &egui::Context) -> bool {
        let Some(points) = &self.model.points else {
            return false;
        };
        let dark = ctx.global_style().visuals.dark_mode;
        let key = (dark, self.model.image.generation);
        if self.model.scatter_key == Some(key) {
            return false;
        }
        self.model.scatter_key = Some(key);
        let style = crate::ui::theme::scatter_style(dark);
        let img = crate::export::render_scatter(&points.x0, None, &style);
        let rgba = Rgba {
            width: img.width(),
            height: img.height(),
            pixels: img.pixels().flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
        };
        upload(
            ctx,
            &mut self.model.textures.0,
            "x0",
            &rgba,
            TextureOptions::LINEAR,
        );
        true
    }

    /// Replaces the scene (after a successful load).
    fn set_scene(&mut self, scene: Scene) {
        self.model.status.info = Some(match &scene.note {
            Some(note) => format!("opened {} ({note})", scene.name),
            None => format!("opened {} ({})", scene.name, scene.describe()),
        });
        self.settings.source = scene.source.clone();
        // Already in line: the scene was loaded with these settings.
        self.applied.source = scene.source.clone();
        self.model.x0_sq_norm = scene.sq_norm();
        self.model.scene = scene;
        self.model.elbo.data_serial += 1;
        self.rebuild_views();
        self.use_shipped_if_any(false);
    }

    /// Starts loading `source` on a background thread; the current scene stays until
    /// the new one is ready.
    fn start_load(&mut self, source: SourceChoice, ctx: &egui::Context) {
        let settings = self.settings.clone();
        let (tx, rx) = mpsc::channel();
        let wake = ctx.clone();
        let what = match &source {
            SourceChoice::File(p) => p.display().to_string(),
            SourceChoice::Image(n) | SourceChoice::Dataset(n) => n.clone(),
            SourceChoice::Digits => "digits".into(),
        };
        let spawned = std::thread::Builder::new()
            .name("load-data".into())
            .spawn(move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    scene::load(&source, &settings)
                }))
                .unwrap_or_else(|panic| Err(crate::worker::frames::panic_message(panic.as_ref())));
                let _ = tx.send(result);
                wake.request_repaint();
            });
        match spawned {
            Ok(_) => {
                self.model.loading = Some(what);
                self.loader = Some(rx);
            }
            Err(e) => self.model.status.error = Some(format!("cannot start loading: {e}")),
        }
    }

    /// Applies what changed since the last call: settings, then commands.
    pub fn apply_changes(&mut self, ctx: &egui::Context) {
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
        if self.settings.schedule != before.schedule {
            match Schedule::new(&self.settings.schedule) {
                Ok(schedule) => {
                    self.settings.t = self.settings.t.min(schedule.steps());
                    self.model.schedule = schedule;
                    self.settings
                        .overlay
                        .retain(|k| *k != self.settings.schedule.kind);
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
            Command::TogglePlay if self.settings.tab == Tab::Reverse => self.toggle_chain(),
            Command::Step(delta)
                if self.settings.tab == Tab::Reverse && self.model.learning.chain.is_some() =>
            {
                self.step_reverse(delta);
            }
            Command::UseShippedModel => self.use_shipped_if_any(true),
            Command::UseTrainedModel => self.use_trained(),
            Command::UseIdealDenoiser => {
                self.settings.reverse.denoiser = settings::DenoiserSetting::Ideal;
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
            Command::TogglePlay => {
                if !self.model.playing && self.settings.t >= steps {
                    self.settings.t = 0;
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
            Command::ExportScheduleCsv => self.export_schedule_csv(),
            Command::CancelExport => {
                if let Some(job) = &self.model.export {
                    job.cancel();
                }
            }
            Command::DismissError => self.model.status.error = None,
            Command::Quit => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
            Command::ToggleFullscreen => {
                let full = ctx.input(|i| i.viewport().fullscreen.unwrap_or(false));
                ctx.send_viewport_cmd(egui::ViewportCommand::Fullscreen(!full));
            }
        }
    }

    fn open_dialog(&mut self, ctx: &egui::Context, kind: DialogKind) {
        if self.dialog.is_some() {
            return;
        }
        let (tx, rx) = mpsc::channel();
        let wake = ctx.clone();
        let start_dir = self.settings.export_dir.clone();
        let model_name = format!("{}.safetensors", self.model.scene.name);
        let spawned = std::thread::Builder::new()
            .name("file-dialog".into())
            .spawn(move || {
                let result = match kind {
                    DialogKind::ExportDir => DialogResult::ExportDir(
                        rfd::FileDialog::new().set_directory(&start_dir).pick_folder(),
                    ),
                    DialogKind::OpenModel => DialogResult::OpenModel(
                        rfd::FileDialog::new()
                            .add_filter("diffscope weights", &["safetensors"])
                            .add_filter("all files", &["*"])
                            .pick_file(),
                    ),
                    DialogKind::SaveModel => DialogResult::SaveModel(
                        rfd::FileDialog::new()
                            .add_filter("diffscope weights", &["safetensors"])
                            .set_directory(&start_dir)
                            .set_file_name(&model_name)
                            .save_file(),
                    ),
                    DialogKind::OpenData => DialogResult::Open(
                        rfd::FileDialog::new()
                            .add_filter(
                                "images and points",
                                &["png", "jpg", "jpeg", "gif", "bmp", "webp", "csv", "txt"],
                            )
                            .add_filter("all files", &["*"])
                            .pick_file(),
                    ),
                };
                let _ = tx.send(result);
                wake.request_repaint();
            });
        match spawned {
            Ok(_) => self.dialog = Some(rx),
            Err(e) => self.model.status.error = Some(format!("cannot open the file dialog: {e}")),
        }
    }

    /// A file name in the export folder.
    fn export_path(&self, name: &str) -> PathBuf {
        self.settings.export_dir.join(name)
    }

    fn start_export(
        &mut self,
        ctx: &egui::Context,
        what: String,
        total: usize,
        job: impl FnOnce(&crate::worker::export::JobControl) -> Result<PathBuf, String> + Send + 'static,
    ) {
        if self.model.export.is_some() {
            self.model.status.error = Some("an export is already running".into());
            return;
        }
        let wake = ctx.clone();
        self.model.export = Some(ExportJob::spawn(what, total, move || wake.request_repaint(), job));
    }

    fn export_frame(&mut self, ctx: &egui::Context) {
        let renderer =
            compare::FrameRenderer::new(&self.model.scene, &self.model.schedule, self.settings.noise_seed);
        let t = self.settings.t;
        let path = self.export_path(&format!(
            "{}-{}-t{t}.png",
            self.model.scene.name,
            self.model.schedule.spec().kind
        ));
        self.start_export(ctx, "frame".into(), 1, move |_| {
            let mut renderer = renderer;
            let img = renderer.both_views(t);
            crate::export::save_png(&img, &path).map_err(|e| e.to_string())?;
            Ok(path)
        });
    }

    fn export_gif(&mut self, ctx: &egui::Context, frames: usize) {
        let renderer =
            compare::FrameRenderer::new(&self.model.scene, &self.model.schedule, self.settings.noise_seed);
        let steps = self.model.schedule.steps();
        let frames = frames.clamp(2, steps + 1);
        let path = self.export_path(&format!(
            "{}-{}-forward.gif",
            self.model.scene.name,
            self.model.schedule.spec().kind
        ));
        self.start_export(ctx, "GIF".into(), frames, move |control| {
            let mut renderer = renderer;
            let images = (0..frames).map(move |i| {
                let t = ((i as f64 / (frames - 1) as f64) * steps as f64).round() as usize;
                renderer.both_views(t)
            });
            let mut progress = |n: usize| control.report(n);
            crate::export::write_gif(images, 1000 / 15, &path, &mut progress).map_err(|e| e.to_string())?;
            Ok(path)
        });
    }

    fn export_compare(&mut self, ctx: &egui::Context) {
        let scene = self.model.scene.clone();
        let schedules = self.model.compared.clone();
        let columns = self.settings.compare_columns;
        let seed = self.settings.noise_seed;
        let path = self.export_path(&format!("{}-compare.png", self.model.scene.name));
        self.start_export(ctx, "comparison grid".into(), 1, move |_| {
            let img = compare::render_grid(&scene, &schedules, columns, seed);
            crate::export::save_png(&img, &path).map_err(|e| e.to_string())?;
            Ok(path)
        });
    }

    fn export_schedule_csv(&mut self) {
        use std::io::Write as _;
        let spec = self.model.schedule.spec();
        let path = self.export_path(&format!(
            "schedule-{}-T{}{}.csv",
            spec.kind,
            spec.steps,
            if spec.zero_terminal_snr { "-zt" } else { "" }
        ));
        let write = || -> std::io::Result<()> {
            let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
            writeln!(out, "{}", crate::diffusion::schedule::ScheduleRow::CSV_HEADER)?;
            for row in self.model.schedule.rows() {
                writeln!(out, "{}", row.csv_line())?;
            }
            out.flush()
        };
        match write() {
            Ok(()) => self.model.status.info = Some(format!("saved {}", path.display())),
            Err(e) => self.model.status.error = Some(format!("cannot write '{}': {e}", path.display())),
        }
    }

    /// Keys that work everywhere (unless a text field has focus).
    fn keys(&mut self, ctx: &egui::Context) {
        use egui::{Key, Modifiers};
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        let mut push = Vec::new();
        ctx.input_mut(|i| {
            if i.consume_key(Modifiers::NONE, Key::Space) {
                push.push(Command::TogglePlay);
            }
            if i.consume_key(Modifiers::SHIFT, Key::ArrowLeft) {
                push.push(Command::Step(-10));
            }
            if i.consume_key(Modifiers::SHIFT, Key::ArrowRight) {
                push.push(Command::Step(10));
            }
            if i.consume_key(Modifiers::NONE, Key::ArrowLeft) {
                push.push(Command::Step(-1));
            }
            if i.consume_key(Modifiers::NONE, Key::ArrowRight) {
                push.push(Command::Step(1));
            }
            if i.consume_key(Modifiers::NONE, Key::Home) {
                push.push(Command::Home);
            }
            if i.consume_key(Modifiers::NONE, Key::End) {
                push.push(Command::End);
            }
            if i.consume_key(Modifiers::COMMAND, Key::Q) {
                push.push(Command::Quit);
            }
            if i.consume_key(Modifiers::NONE, Key::F11) {
                push.push(Command::ToggleFullscreen);
            }
            if i.consume_key(Modifiers::NONE, Key::F3) {
                self.settings.show_frame_times = !self.settings.show_frame_times;
            }
        });
        self.commands.extend(push);
    }

    /// Files dropped on the window: the first one is opened.
    fn dropped_files(&mut self, ctx: &egui::Context) {
        let first = ctx.input(|i| i.raw.dropped_files.first().map(|f| f.path().to_owned()));
        if let Some(path) = first {
            let weights = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"));
            self.commands.push(if weights {
                Command::LoadModel(path)
            } else {
                Command::Load(SourceChoice::File(path))
            });
        }
    }

    fn screenshot_step(&mut self, ctx: &egui::Context) {
        let chain_settled = self.chain_settled_for_screenshot();
        let settled = self.frames_drawn > 30
            && self.loader.is_none()
            && chain_settled
            && self.elbo_settled_for_screenshot()
            && (self.model.points.is_some() || self.model.image.markov.is_some());
        let Some(shot) = &mut self.screenshot else { return };
        // A view that never settles (a failing chain) is captured after five minutes.
        if !shot.requested && (settled || shot.started.elapsed() > Duration::from_mins(5)) {
            shot.requested = true;
            let (tx, rx) = mpsc::channel();
            let path = shot.path.clone();
            ctx.request_screenshot(move |image| {
                let result = save_color_image(&image, &path);
                let _ = tx.send(result);
            });
            shot.done = Some(rx);
        }
        if let Some(rx) = &shot.done
            && let Ok(result) = rx.try_recv()
        {
            match result {
                Ok(()) => println!("saved screenshot {}", shot.path.display()),
                Err(e) => eprintln!("error: {e}"),
            }
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        ctx.request_repaint();
    }

    /// Whether settings are saved at exit.
    #[must_use]
    pub const fn persists(&self) -> bool {
        self.persist
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

/// Uploads `rgba` into the texture in `slot` (creating it the first time).
fn upload(
    ctx: &egui::Context,
    slot: &mut Option<TextureHandle>,
    name: &str,
    rgba: &Rgba,
    options: TextureOptions,
) {
    let image = ColorImage::from_rgba_unmultiplied([rgba.width as usize, rgba.height as usize], &rgba.pixels);
    match slot {
        Some(handle) => handle.set(image, options),
        None => *slot = Some(ctx.load_texture(name, image, options)),
    }
}

/// Saves an egui screenshot as PNG (RGBA → RGB).
fn save_color_image(image: &ColorImage, path: &std::path::Path) -> Result<(), String> {
    let [w, h] = image.size;
    let rgb: Vec<u8> = image.pixels.iter().flat_map(|c| [c.r(), c.g(), c.b()]).collect();
    let img = image::RgbImage::from_raw(w as u32, h as u32, rgb).ok_or("bad screenshot size")?;
    crate::export::save_png(&img, path).map_err(|e| e.to_string())
}

impl eframe::App for DiffscopeApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        let start = std::time::Instant::now();
        self.logic(ctx);
        self.logic_ms = start.elapsed().as_secs_f32() * 1000.0;
    }

    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let start = std::time::Instant::now();
        let ctx = ui.ctx().clone();
        if self.theme_applied != Some(self.settings.theme) {
            crate::ui::theme::apply(&ctx, self.settings.theme);
            self.theme_applied = Some(self.settings.theme);
        }
        if let Some(ms) = frame.info().cpu_usage {
            self.model.frame_times.push(ms * 1000.0);
        }
        self.keys(&ctx);
        self.dropped_files(&ctx);
        self.auto_sample_step();
        crate::ui::app_ui(ui, &mut self.settings, &self.model, &mut self.commands);
        self.settings.zoom = ctx.zoom_factor();
        self.apply_changes(&ctx);
        self.model
            .compare
            .update(&ctx, &self.model.scene, &self.model.compared, &self.settings);
        self.frames_drawn += 1;
        if self.screenshot.is_some() {
            self.screenshot_step(&ctx);
        }
        let app_ms = self.logic_ms + start.elapsed().as_secs_f32() * 1000.0;
        self.model.frame_times.push_app(app_ms);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if self.persist {
            eframe::set_value(storage, STORAGE_KEY, &self.settings);
        }
    }
}
