//! The forward chain `x_0 → x_T` (MATH.md §2): the single Markov step, the closed form,
//! and a keyframe cache that makes the Markov view of any `t` cheap.
//!
//! Noise is always *injected* (an argument) or drawn from the counter-based
//! [`noise`](super::noise) streams, so the same `(seed, t)` gives the same frame however
//! the user got there.

use rayon::prelude::*;

use super::noise::{self, StreamKey};
use super::schedule::Schedule;

/// Elements per parallel chunk: below this a loop runs on the calling thread.
const PAR_CHUNK: usize = 32 * 1024;

/// A floating-point element type of data arrays: `f64` for points, `f32` for images.
pub trait Real:
    Copy + Send + Sync + Default + std::ops::Add<Output = Self> + std::ops::Mul<Output = Self> + 'static
{
    /// Converts from `f64` (rounding for `f32`).
    fn from_f64(v: f64) -> Self;
    /// Converts to `f64`.
    fn to_f64(self) -> f64;
}

impl Real for f32 {
    #[inline]
    fn from_f64(v: f64) -> Self {
        v as Self
    }
    #[inline]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Real for f64 {
    #[inline]
    fn from_f64(v: f64) -> Self {
        v
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
}

/// `out = a·x + b·y`, elementwise; parallel for large arrays.
///
/// # Panics
/// If the three slices differ in length.
pub fn axpby<R: Real>(a: f64, x: &[R], b: f64, y: &[R], out: &mut [R]) {
    assert!(
        x.len() == out.len() && y.len() == out.len(),
        "axpby: lengths differ"
    );
    let (a, b) = (R::from_f64(a), R::from_f64(b));
    for_each_chunk(out, |start, o| {
        let (x, y) = (&x[start..start + o.len()], &y[start..start + o.len()]);
        for ((o, &x), &y) in o.iter_mut().zip(x).zip(y) {
            *o = a * x + b * y;
        }
    });
}

/// Runs `body(start, chunk)` over `out` in chunks, in parallel when `out` is large.
fn for_each_chunk<R: Real>(out: &mut [R], body: impl Fn(usize, &mut [R]) + Sync) {
    if out.len() <= PAR_CHUNK {
        body(0, out);
    } else {
        out.par_chunks_mut(PAR_CHUNK)
            .enumerate()
            .for_each(|(k, chunk)| body(k * PAR_CHUNK, chunk));
    }
}

/// `out = a·x + b·y + c·z`, elementwise; parallel for large arrays.
///
/// # Panics
/// If the four slices differ in length.
pub fn axpbypcz<R: Real>(a: f64, x: &[R], b: f64, y: &[R], c: f64, z: &[R], out: &mut [R]) {
    assert!(
        x.len() == out.len() && y.len() == out.len() && z.len() == out.len(),
        "axpbypcz: lengths differ"
    );
    let (a, b, c) = (R::from_f64(a), R::from_f64(b), R::from_f64(c));
    for_each_chunk(out, |start, o| {
        let end = start + o.len();
        let (x, y, z) = (&x[start..end], &y[start..end], &z[start..end]);
        for (((o, &x), &y), &z) in o.iter_mut().zip(x).zip(y).zip(z) {
            *o = a * x + b * y + c * z;
        }
    });
}

/// The two coefficients of a Gaussian transition `x' = signal·x + noise·ε`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ForwardCoefs {
    /// Factor on the previous state (`√α_t` for a step, `√ᾱ_t` for the closed form).
    pub signal: f64,
    /// Standard deviation of the added noise (`√β_t`, or `√(1 − ᾱ_t)`).
    pub noise: f64,
}

impl ForwardCoefs {
    /// The variance of the added noise (`β_t`, or `1 − ᾱ_t`).
    #[must_use]
    pub fn variance(self) -> f64 {
        self.noise * self.noise
    }
}

impl Schedule {
    /// `q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I)`: the closed form (Ho et al. 2020, eq. 4).
    #[must_use]
    pub fn q_sample_coefs(&self, t: usize) -> ForwardCoefs {
        ForwardCoefs {
            signal: self.sqrt_alpha_bar(t),
            noise: self.sqrt_one_minus_alpha_bar(t),
        }
    }

    /// `q(x_t | x_{t−1}) = N(√α_t x_{t−1}, β_t I)`: one Markov step (Ho et al. 2020, eq. 2).
    #[must_use]
    pub fn q_step_coefs(&self, t: usize) -> ForwardCoefs {
        assert!(t >= 1, "the Markov step is defined for t ≥ 1");
        ForwardCoefs {
            signal: self.alpha(t).sqrt(),
            noise: self.beta(t).sqrt(),
        }
    }
}

/// The closed form `x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε` with injected `ε`.
pub fn q_sample<R: Real>(schedule: &Schedule, t: usize, x0: &[R], eps: &[R], out: &mut [R]) {
    let c = schedule.q_sample_coefs(t);
    axpby(c.signal, x0, c.noise, eps, out);
}

/// One Markov step `x_t = √α_t x_{t−1} + √β_t ε_t` with injected `ε_t`.
pub fn q_step<R: Real>(schedule: &Schedule, t: usize, x_prev: &[R], eps: &[R], out: &mut [R]) {
    let c = schedule.q_step_coefs(t);
    axpby(c.signal, x_prev, c.noise, eps, out);
}

/// One Markov step in place, with `ε_t` taken from the counter-based stream `(seed, t)`:
/// element `i` gets noise `ε(seed, t, i)`. Noise is drawn and applied in one pass.
pub fn q_step_seeded_in_place<R: Real>(schedule: &Schedule, t: usize, seed: u64, x: &mut [R]) {
    let c = schedule.q_step_coefs(t);
    let key = StreamKey::new(seed, t as u64);
    let (a, b) = (R::from_f64(c.signal), R::from_f64(c.noise));
    for_each_chunk(x, |start, chunk| {
        for (i, v) in chunk.iter_mut().enumerate() {
            *v = a * *v + b * R::from_f64(key.normal((start + i) as u64));
        }
    });
}

/// The closed form's one fixed `ε` for data of `len` elements under `seed`.
#[must_use]
pub fn closed_form_noise<R: Real>(seed: u64, len: usize) -> Vec<R> {
    let key = StreamKey::new(seed, noise::CLOSED_FORM_STREAM);
    let mut out = vec![R::default(); len];
    for_each_chunk(&mut out, |start, chunk| {
        for (i, v) in chunk.iter_mut().enumerate() {
            *v = R::from_f64(key.normal((start + i) as u64));
        }
    });
    out
}

/// The Markov-chain path `x_0, x_1, …, x_T` of a few elements of a larger array: element
/// `indices[j]` of the array starts at `x0[j]`. Each step uses the same counter-based
/// noise as [`q_step_seeded_in_place`] on the whole array, so the path is exactly what
/// the full chain does to those elements (`path[t][j]` is element `indices[j]` of `x_t`).
#[must_use]
pub fn markov_path(schedule: &Schedule, seed: u64, x0: &[f64], indices: &[u64]) -> Vec<Vec<f64>> {
    assert_eq!(x0.len(), indices.len(), "one start value per index");
    let mut x = x0.to_vec();
    let mut path = Vec::with_capacity(schedule.steps() + 1);
    path.push(x.clone());
    for t in 1..=schedule.steps() {
        let c = schedule.q_step_coefs(t);
        let key = StreamKey::new(seed, t as u64);
        for (v, &i) in x.iter_mut().zip(indices) {
            *v = c.signal * *v + c.noise * key.normal(i);
        }
        path.push(x.clone());
    }
    path
}

/// Default memory a [`MarkovChain`] may spend on keyframes.
pub const DEFAULT_KEYFRAME_BUDGET_BYTES: usize = 512 << 20;

/// The Markov view of the forward chain: `x_t` after `t` steps with fresh noise each
/// step, for any `t`, without replaying the chain from `x_0`.
///
/// Keyframes `x_0, x_K, x_{2K}, …` are kept (built lazily as far as asked); `x_t` is the
/// keyframe at or below `t` stepped forward at most `K − 1` times. `K` is the smallest
/// spacing whose keyframes fit the memory budget. Each step uses the counter-based noise
/// of `(seed, t)`, so every path to `x_t` gives the same numbers, bit for bit.
#[derive(Clone, Debug)]
pub struct MarkovChain<R: Real> {
    schedule: Schedule,
    seed: u64,
    every: usize,
    keyframes: Vec<Vec<R>>,
}

impl<R: Real> MarkovChain<R> {
    /// A chain from `x0` under `seed` and `schedule`, with keyframes within
    /// `budget_bytes`. The chain keeps its own copy of the schedule: its cache is only
    /// valid for that schedule, `x0` and `seed`.
    #[must_use]
    pub fn new(schedule: Schedule, x0: Vec<R>, seed: u64, budget_bytes: usize) -> Self {
        let steps = schedule.steps();
        let frame_bytes = (x0.len() * std::mem::size_of::<R>()).max(1);
        let max_frames = (budget_bytes / frame_bytes).max(2);
        let every = steps.div_ceil(max_frames - 1).max(1);
        Self {
            schedule,
            seed,
            every,
            keyframes: vec![x0],
        }
    }

    /// The keyframe spacing `K`.
    #[must_use]
    pub const fn keyframe_every(&self) -> usize {
        self.every
    }

    /// The schedule the chain follows.
    #[must_use]
    pub const fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The seed of the chain's noise.
    #[must_use]
    pub const fn seed(&self) -> u64 {
        self.seed
    }

    /// `x_0`.
    #[must_use]
    pub fn x0(&self) -> &[R] {
        &self.keyframes[0]
    }

    /// The last step whose keyframe is built (the cache covers `0..=this + K − 1`).
    #[must_use]
    pub fn built_up_to(&self) -> usize {
        (self.keyframes.len() - 1) * self.every
    }

    /// Builds keyframes so that any `t ≤ up_to` is at most `K − 1` steps away.
    pub fn build_keyframes(&mut self, up_to: usize) {
        let target = up_to.min(self.schedule.steps()) / self.every;
        while self.keyframes.len() <= target {
            let k = self.keyframes.len();
            let mut x = self.keyframes[k - 1].clone();
            for t in (k - 1) * self.every + 1..=k * self.every {
                q_step_seeded_in_place(&self.schedule, t, self.seed, &mut x);
            }
            self.keyframes.push(x);
        }
    }

    /// Writes `x_t` of the Markov chain into `out` (building keyframes as needed).
    ///
    /// # Panics
    /// If `t > T` or `out` has the wrong length.
    pub fn frame_into(&mut self, t: usize, out: &mut [R]) {
        let steps = self.schedule.steps();
        assert!(t <= steps, "t = {t} is beyond T = {steps}");
        self.build_keyframes(t);
        let k = t / self.every;
        out.copy_from_slice(&self.keyframes[k]);
        for s in k * self.every + 1..=t {
            q_step_seeded_in_place(&self.schedule, s, self.seed, out);
        }
    }

    /// `x_t` of the Markov chain as a new vector.
    pub fn frame(&mut self, t: usize) -> Vec<R> {
        let mut out = vec![R::default(); self.x0().len()];
        self.frame_into(t, &mut out);
        out
    }
}
