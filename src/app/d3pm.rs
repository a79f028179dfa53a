//! Diffusion on a finite state space (D3PM, Austin et al. 2021) on the digits: the state
//! behind the window's discrete-chain view (no layout: `crate::ui::d3pm_view` draws it).
//!
//! The data are the first [`DIGITS`] built-in digits, each pixel quantised to one of
//! `levels` states. The whole Markov path `x_0 … x_T` of every pixel is kept (`(T + 1) ·
//! 2560` states of two bytes: 5 MB at `T = 1000`; beyond 16 MB, every few steps and the
//! rest replayed, see [`MarkovPath`]), so scrubbing `t` is a lookup and the Markov view at
//! `t` is the same however `t` is reached. The path is rebuilt off the UI
//! thread (thread `d3pm-chain`) when the kind, the levels, the schedule or the seed
//! change: it takes `T · 2560` draws (tens of ms at `T = 1000`; [`D3pmState::path_ms`]
//! says how long the last one took). Everything else is computed on the UI thread when
//! `t` changes: the closed form's one draw per pixel, the histograms, and `Q_t`, `Q̄_t`
//! from their closed forms (`ρ I + (1 − ρ) 𝟙 vᵀ`: one `K²` fill, never a product of
//! matrices, so a `Q̄_t` of any `t` costs the same as `Q_1`).

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel};

use serde::{Deserialize, Serialize};

use crate::data::{DIGIT_PIXELS, DIGIT_SIDE};
use crate::diffusion::Schedule;
use crate::diffusion::discrete::{self, DiscreteKind, DiscreteProcess};
use crate::scene::{self, SceneError, tile};

/// Digits per row of the grid the view shows.
pub const GRID_COLS: usize = 8;
/// Rows of digits in the grid.
pub const GRID_ROWS: usize = 5;
/// Digits the view shows: the first 40 of the built-in set.
pub const DIGITS: usize = GRID_COLS * GRID_ROWS;
/// The gaps between the digits in a [`grid`] (no state: drawn mid-grey).
pub const GAP: u16 = u16::MAX;
/// The numbers of levels the view offers: the digits' own 17, or 8-bit.
pub const LEVELS: [usize; 2] = [17, 256];

/// What the view shows, remembered with the window's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct D3pmSettings {
    /// Uniform or absorbing (mask) transitions.
    pub kind: DiscreteKind,
    /// The data states `K`: one of [`LEVELS`].
    pub levels: usize,
}

impl Default for D3pmSettings {
    fn default() -> Self {
        Self {
            kind: DiscreteKind::Uniform,
            levels: LEVELS[0],
        }
    }
}

impl D3pmSettings {
    /// These settings with `levels` brought to one of [`LEVELS`].
    #[must_use]
    pub fn sanitised(mut self) -> Self {
        if !LEVELS.contains(&self.levels) {
            self.levels = LEVELS[0];
        }
        self
    }
}

/// The first [`DIGITS`] digits, each pixel quantised to `levels` states, image after image
/// (64 states each, row-major).
///
/// # Errors
/// The embedded digits do not parse.
pub fn digit_states(levels: usize) -> Result<Vec<u16>, SceneError> {
    let digits = scene::cached_digits()?;
    Ok(digits
        .images
        .iter()
        .take(DIGITS)
        .flat_map(|image| discrete::quantise(image, levels))
        .collect())
}

/// The states of [`DIGITS`] digits tiled [`GRID_COLS`] to a row with 1-pixel [`GAP`]s:
/// `(width, height, states)`.
#[must_use]
pub fn grid(states: &[u16]) -> (usize, usize, Vec<u16>) {
    tile::tile(
        states.chunks_exact(DIGIT_PIXELS),
        DIGIT_SIDE,
        DIGIT_SIDE,
        GRID_COLS,
        &[GAP],
    )
}

/// What the Markov path was computed for.
#[derive(Clone, Debug, PartialEq)]
struct PathKey {
    kind: DiscreteKind,
    levels: usize,
    schedule: Schedule,
    seed: u64,
}

impl PathKey {
    /// Whether this is the key of `settings`, `schedule` and `seed` (without building one:
    /// a schedule of `T = 10⁴` is worth not cloning every frame).
    fn is(&self, settings: &D3pmSettings, schedule: &Schedule, seed: u64) -> bool {
        self.kind == settings.kind
            && self.levels == settings.levels
            && self.seed == seed
            && self.schedule == *schedule
    }
}

/// The most memory a Markov path keeps, in bytes: every step up to `T = 3275` for the 40
/// digits (`(T + 1) · 2560 · 2` bytes), every second or more beyond (the window allows
/// `T = 10⁴`).
pub const PATH_BUDGET_BYTES: usize = 16 << 20;

/// The Markov chain of every pixel, `x_0 … x_T`: every `stride`-th step stored (every
/// step unless that would exceed [`PATH_BUDGET_BYTES`]), the steps between replayed
/// from the one before with the same draws.
#[derive(Debug)]
pub struct MarkovPath {
    key: PathKey,
    process: DiscreteProcess,
    /// Rows `x_0, x_stride, x_{2·stride}, …`, `n` states each.
    states: Vec<u16>,
    n: usize,
    stride: usize,
}

impl MarkovPath {
    /// Runs the chain from `x0` for every step of the schedule: `x_t` from `x_{t−1}` by
    /// [`DiscreteProcess::step_in_place`], so [`Self::at`]`(t)` equals
    /// `process.markov(x0, t, seed)`.
    #[must_use]
    pub fn run(process: &DiscreteProcess, x0: &[u16], seed: u64) -> Self {
        Self::run_unless(process, x0, seed, || false).expect("never cancelled")
    }

    /// [`Self::run`], given up (`None`) as soon as `cancelled()` holds (asked every 64
    /// steps).
    pub fn run_unless(
        process: &DiscreteProcess,
        x0: &[u16],
        seed: u64,
        cancelled: impl Fn() -> bool,
    ) -> Option<Self> {
        let steps = process.schedule().steps();
        let n = x0.len();
        let stride = ((steps + 1) * n * 2).div_ceil(PATH_BUDGET_BYTES).max(1);
        let mut states = Vec::with_capacity((steps / stride + 1) * n);
        states.extend_from_slice(x0);
        let mut x = x0.to_vec();
        for t in 1..=steps {
            if t.is_multiple_of(64) && cancelled() {
                return None;
            }
            process.step_in_place(t, seed, &mut x);
            if t.is_multiple_of(stride) {
                states.extend_from_slice(&x);
            }
        }
        Some(Self {
            key: PathKey {
                kind: process.kind(),
                levels: process.levels(),
                schedule: process.schedule().clone(),
                seed,
            },
            process: process.clone(),
            states,
            n,
            stride,
        })
    }

    /// `x_t` (`t ≤ T`): a stored row, or fewer than `stride` steps replayed from one.
    #[must_use]
    pub fn at(&self, t: usize) -> std::borrow::Cow<'_, [u16]> {
        let t = t.min(self.steps());
        let row = t / self.stride;
        let stored = &self.states[row * self.n..(row + 1) * self.n];
        if t.is_multiple_of(self.stride) {
            return std::borrow::Cow::Borrowed(stored);
        }
        let mut x = stored.to_vec();
        for s in row * self.stride + 1..=t {
            self.process.step_in_place(s, self.key.seed, &mut x);
        }
        std::borrow::Cow::Owned(x)
    }

    /// The number of steps `T`.
    #[must_use]
    pub fn steps(&self) -> usize {
        self.key.schedule.steps()
    }

    /// Every how many steps a row is stored (1: all of them).
    #[must_use]
    pub const fn stride(&self) -> usize {
        self.stride
    }

    /// The bytes the stored rows take.
    #[must_use]
    pub const fn stored_bytes(&self) -> usize {
        self.states.len() * 2
    }
}

/// Everything the view shows at one `t`.
#[derive(Clone, Debug)]
pub struct D3pmFrame {
    /// The step shown.
    pub t: usize,
    /// The kind of transition matrix.
    pub kind: DiscreteKind,
    /// The data states `K`.
    pub levels: usize,
    /// The chain's states: `K`, or `K + 1` with the mask (the last).
    pub states: usize,
    /// `β_t` (0 at `t = 0`).
    pub beta: f64,
    /// `ᾱ_t`.
    pub alpha_bar: f64,
    /// `x_t` of the Markov chain (a fresh draw every step); `None` while its path builds.
    pub markov: Option<Vec<u16>>,
    /// `x_t ~ Cat(x_0 Q̄_t)`, one fixed draw per pixel.
    pub closed: Vec<u16>,
    /// The share of pixels in each state, Markov view (`None` while its path builds).
    pub markov_hist: Option<Vec<f64>>,
    /// The share of pixels in each state, closed form.
    pub closed_hist: Vec<f64>,
    /// The exact law of a random pixel's `x_t`: `p_0 Q̄_t` with `p_0` the pixels' histogram.
    pub law: Vec<f64>,
    /// The stationary law `x_T` approaches.
    pub stationary: Vec<f64>,
    /// `TV(p_0 Q̄_t, π)`, exact (`ᾱ_t · TV(p_0, π)` for both kinds).
    pub tv_law: f64,
    /// `TV` of the Markov view's histogram to `π`.
    pub tv_markov: Option<f64>,
    /// `TV` of the closed form's histogram to `π`.
    pub tv_closed: f64,
    /// `Q_t`, row-major (`I` at `t = 0`).
    pub q_step: Vec<f64>,
    /// `Q̄_t`, row-major.
    pub q_bar: Vec<f64>,
}

/// The key of [`D3pmState::frame`]: what it was computed from.
#[derive(Clone, Debug, PartialEq)]
struct FrameKey {
    path: PathKey,
    t: usize,
    with_path: bool,
}

/// A Markov path being built on its thread.
#[derive(Debug)]
struct Building {
    key: PathKey,
    done: Receiver<(MarkovPath, f32)>,
    /// Set when the path is no longer wanted: the thread stops within 64 steps.
    cancel: Arc<AtomicBool>,
}

/// The view's state: the digits, the Markov path (built off the UI thread) and the frame
/// at the current `t`.
#[derive(Debug, Default)]
pub struct D3pmState {
    /// Set by the view while it is laid out; the app computes only for a view on screen.
    wanted: Cell<bool>,
    /// The digits' states, for [`Self::x0_levels`] levels.
    x0: Vec<u16>,
    x0_levels: usize,
    path: Option<Arc<MarkovPath>>,
    building: Option<Building>,
    frame_key: Option<FrameKey>,
    /// What the view shows at `t`, once computed.
    pub frame: Option<D3pmFrame>,
    /// How long the last Markov path took to build, in ms (on its thread).
    pub path_ms: Option<f32>,
    /// Why the digits could not be shown, if they could not.
    pub error: Option<String>,
}

impl D3pmState {
    /// The view is on screen this frame (called by its layout): the app brings the state
    /// up to date after the layout.
    pub fn want(&self) {
        self.wanted.set(true);
    }

    /// Whether a Markov path is being built.
    #[must_use]
    pub const fn building(&self) -> bool {
        self.building.is_some()
    }

    /// The Markov path on hand, if any.
    #[must_use]
    pub fn path(&self) -> Option<&MarkovPath> {
        self.path.as_deref()
    }

    /// The digits' states `x_0` (the grid's pixels, digit after digit).
    #[must_use]
    pub fn x0(&self) -> &[u16] {
        &self.x0
    }

    /// Brings the state in line with `settings`, `schedule`, `seed` and `t` if the view was
    /// laid out since the last call: receives a finished path, starts a new one when the
    /// process changed, and recomputes the frame when anything it shows changed. `wake`
    /// is called from the path's thread when it is done.
    pub fn update(
        &mut self,
        settings: &D3pmSettings,
        schedule: &Schedule,
        seed: u64,
        t: usize,
        wake: impl Fn() + Send + 'static,
    ) {
        if !self.wanted.replace(false) {
            return;
        }
        if self.x0_levels != settings.levels || self.x0.is_empty() {
            match digit_states(settings.levels) {
                Ok(x0) => {
                    self.x0 = x0;
                    self.x0_levels = settings.levels;
                    self.error = None;
                }
                Err(e) => {
                    self.error = Some(e.to_string());
                    return;
                }
            }
        }
        if let Some(building) = &self.building {
            let current = building.key.is(settings, schedule, seed);
            if let Ok((path, ms)) = building.done.try_recv() {
                if current {
                    self.path = Some(Arc::new(path));
                    self.path_ms = Some(ms);
                }
                self.building = None;
            } else if !current {
                // Stale (a schedule being dragged, say): stop it, start the current one.
                building.cancel.store(true, Ordering::Relaxed);
                self.building = None;
            }
        }
        let key = || PathKey {
            kind: settings.kind,
            levels: settings.levels,
            schedule: schedule.clone(),
            seed,
        };
        if self
            .path
            .as_ref()
            .is_none_or(|p| !p.key.is(settings, schedule, seed))
        {
            self.path = None;
            if self.building.is_none() {
                self.start_path(key(), wake);
            }
        }
        let t = t.min(schedule.steps());
        let with_path = self.path.is_some();
        let fresh = self
            .frame_key
            .as_ref()
            .is_some_and(|k| k.t == t && k.with_path == with_path && k.path.is(settings, schedule, seed));
        if !fresh {
            let process = DiscreteProcess::new(settings.kind, settings.levels, schedule.clone());
            self.frame = Some(frame(&process, &self.x0, self.path(), seed, t));
            self.frame_key = Some(FrameKey {
                path: key(),
                t,
                with_path,
            });
        }
    }

    fn start_path(&mut self, key: PathKey, wake: impl Fn() + Send + 'static) {
        let (tx, rx) = channel();
        let process = DiscreteProcess::new(key.kind, key.levels, key.schedule.clone());
        let x0 = self.x0.clone();
        let seed = key.seed;
        let cancel = Arc::new(AtomicBool::new(false));
        let cancelled = Arc::clone(&cancel);
        let spawned = std::thread::Builder::new()
            .name("d3pm-chain".into())
            .spawn(move || {
                let start = std::time::Instant::now();
                let stop = || cancelled.load(Ordering::Relaxed);
                let Some(path) = MarkovPath::run_unless(&process, &x0, seed, stop) else {
                    return;
                };
                let ms = start.elapsed().as_secs_f32() * 1000.0;
                // The view may have moved on and dropped the receiver.
                if tx.send((path, ms)).is_ok() {
                    wake();
                }
            });
        match spawned {
            Ok(_) => {
                self.building = Some(Building {
                    key,
                    done: rx,
                    cancel,
                });
            }
            Err(e) => self.error = Some(format!("cannot start the Markov chain's thread: {e}")),
        }
    }
}

/// The frame at `t`: both views, their histograms, the exact law and `Q_t`, `Q̄_t`.
#[must_use]
pub fn frame(
    process: &DiscreteProcess,
    x0: &[u16],
    path: Option<&MarkovPath>,
    seed: u64,
    t: usize,
) -> D3pmFrame {
    let schedule = process.schedule();
    let states = process.states();
    let stationary = process.stationary();
    let p0 = process.histogram(x0);
    let q_bar = process.q_bar(t);
    let law: Vec<f64> = (0..states)
        .map(|j| (0..states).map(|i| p0[i] * q_bar[i * states + j]).sum())
        .collect();
    let markov = path.map(|p| p.at(t).into_owned());
    let markov_hist = markov.as_deref().map(|x| process.histogram(x));
    let closed = process.closed_form(x0, t, seed);
    let closed_hist = process.histogram(&closed);
    let q_step = if t == 0 {
        process.q_bar(0)
    } else {
        process.q_step(t)
    };
    D3pmFrame {
        t,
        kind: process.kind(),
        levels: process.levels(),
        states,
        beta: if t == 0 { 0.0 } else { schedule.beta(t) },
        alpha_bar: schedule.alpha_bar(t),
        tv_law: discrete::total_variation(&law, &stationary),
        tv_markov: markov_hist
            .as_deref()
            .map(|h| discrete::total_variation(h, &stationary)),
        tv_closed: discrete::total_variation(&closed_hist, &stationary),
        markov,
        closed,
        markov_hist,
        closed_hist,
        law,
        stationary,
        q_step,
        q_bar,
    }
}
