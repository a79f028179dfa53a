// Over 500 lines: the single step, the closed form and the bridge tree that draws the chain share their noise streams and are tested as one.
//! The forward chain `x_0 → x_T` (MATH.md §2): the single Markov step, the closed form,
//! and the Markov view of any `t` without replaying the chain.
//!
//! Noise is always *injected* (an argument) or drawn from the counter-based
//! [`noise`](super::noise) streams, so the same `(seed, t)` gives the same frame however
//! the user got there.
//!
//! The Markov view draws the chain's random walk as a Brownian bridge tree (see
//! [`MarkovChain`]): `x_t` at any `t` costs about `log₂ T` normals per value instead of
//! `t` steps, so a new photo or schedule shows its Markov view at once.

// The bridge kernel is `#[inline(always)]` on purpose: it must be inlined into the
// `#[target_feature]` body that `pulp` dispatches to, to be compiled for AVX2.
#![allow(clippy::inline_always)]

use rayon::prelude::*;

use super::noise::{self, BLOCK, BlockSource, BlockWork, StreamKey};
use super::schedule::Schedule;

/// Elements per parallel chunk: below this a loop runs on the calling thread.
const PAR_CHUNK: usize = 32 * 1024;

/// Elements per parallel chunk of the bridge tree's levels (a whole number of blocks of
/// normals).
pub const CHAIN_CHUNK: usize = 52 * BLOCK;

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

/// The closed form's one fixed `ε` for data of `len` elements under `seed`.
#[must_use]
pub fn closed_form_noise<R: Real>(seed: u64, len: usize) -> Vec<R> {
    let mut out = vec![R::default(); len];
    noise::fill_normal_from(StreamKey::new(seed, noise::CLOSED_FORM_STREAM), 0, &mut out);
    out
}

/// The random walk behind the Markov chain, and the bridge tree that draws it.
///
/// Unrolled, the chain `x_t = √α_t x_{t−1} + √β_t ε_t` is `x_t = √ᾱ_t (x_0 + W_t)` with
/// `W_t = Σ_{s≤t} √(β_s/ᾱ_s) ε_s`: a random walk with independent Gaussian increments
/// of variance `β_s/ᾱ_s`, whose variance telescopes to `V_t = 1/ᾱ_t − 1`. Given the walk
/// at `a < m < b`, `W_m` is Gaussian with mean `W_a + r (W_b − W_a)`, `r = (V_m − V_a) /
/// (V_b − V_a)`, and variance `(V_m − V_a)(V_b − V_m)/(V_b − V_a)` (a Brownian bridge in
/// the time `V`). So the walk is drawn top down (Lévy's construction): `W_T` first, then
/// the midpoint of `[0, T]`, then the midpoints of the halves, and so on. Every `t` in
/// `1..T` is the midpoint of exactly one interval; its draw uses the normals of stream
/// `t`. `x_t` needs only the intervals on the way down to `t`: at most `⌈log₂ T⌉ + 1`
/// normals per value.
///
/// The walk has the chain's law exactly: its increments `ε_t = (W_t − W_{t−1})·√(ᾱ_t/β_t)`
/// are independent standard normals, and `x_t − √α_t x_{t−1} = √β_t ε_t`.
///
/// With zero terminal SNR (`ᾱ_T = 0`, `β_T = 1`), `V_T` is infinite: the tree covers
/// `[0, T − 1]` and `x_T = ε_T` is stream `T`'s normal, independent of the past.
#[derive(Clone, Debug)]
struct Walk {
    /// `V_t = 1/ᾱ_t − 1` for `t ≤ last`.
    variance: Vec<f64>,
    /// The root of the tree: the last `t` with `ᾱ_t > 0` (`T`, or `T − 1`).
    last: usize,
}

/// One draw of the tree: `W_m = W_a + r (W_b − W_a) + sd·ε(seed, m, i)`. The root draws
/// `W_last` with `a = b = 0` (`W_0 = 0`) and `r = 0`.
#[derive(Clone, Copy, Debug)]
struct Bridge {
    m: usize,
    a: usize,
    b: usize,
    r: f64,
    sd: f64,
}

impl Walk {
    fn new(schedule: &Schedule) -> Self {
        let steps = schedule.steps();
        let last = if schedule.alpha_bar(steps) > 0.0 {
            steps
        } else {
            steps - 1
        };
        let variance = (0..=last)
            .map(|t| schedule.one_minus_alpha_bar(t) / schedule.alpha_bar(t))
            .collect();
        Self { variance, last }
    }

    fn root(&self) -> Bridge {
        Bridge {
            m: self.last,
            a: 0,
            b: 0,
            r: 0.0,
            sd: self.variance[self.last].sqrt(),
        }
    }

    fn bridge(&self, a: usize, b: usize) -> Bridge {
        let m = a + (b - a) / 2;
        let v = &self.variance;
        let (left, right, whole) = (v[m] - v[a], v[b] - v[m], v[b] - v[a]);
        let (r, sd) = if whole > 0.0 {
            (left / whole, (left * right / whole).sqrt())
        } else {
            (0.0, 0.0)
        };
        Bridge { m, a, b, r, sd }
    }

    /// The draws on the way down to `t ≤ last`, root first (none for `t = 0`).
    fn path_to(&self, t: usize) -> Vec<Bridge> {
        if t == 0 {
            return Vec::new();
        }
        let mut path = vec![self.root()];
        let (mut a, mut b) = (0, self.last);
        while t != a && t != b {
            let node = self.bridge(a, b);
            path.push(node);
            if t < node.m {
                b = node.m;
            } else {
                a = node.m;
            }
        }
        path
    }

    /// `W_0, W_1, …, W_last` of element `index`, drawing every interval of the tree.
    fn whole(&self, seed: u64, index: u64) -> Vec<f64> {
        let mut w = vec![0.0; self.last + 1];
        let root = self.root();
        w[root.m] = root.draw(0.0, 0.0, StreamKey::new(seed, root.m as u64).normal(index));
        let mut stack = vec![(0, self.last)];
        while let Some((a, b)) = stack.pop() {
            if b - a < 2 {
                continue;
            }
            let node = self.bridge(a, b);
            let z = StreamKey::new(seed, node.m as u64).normal(index);
            w[node.m] = node.draw(w[a], w[b], z);
            stack.push((a, node.m));
            stack.push((node.m, b));
        }
        w
    }
}

impl Bridge {
    /// `W_m` from `W_a`, `W_b` and the normal `z`: the one expression every path uses,
    /// so a value is the same, bit for bit, whichever way it was reached.
    #[inline(always)]
    fn draw(self, wa: f64, wb: f64, z: f64) -> f64 {
        wa + self.r * (wb - wa) + self.sd * z
    }
}

/// `x_t = √ᾱ_t (x_0 + W_t)`, the one expression for a value of the chain.
#[inline(always)]
fn chain_value<R: Real>(sqrt_alpha_bar: f64, x0: R, w: f64) -> R {
    R::from_f64(sqrt_alpha_bar * (x0.to_f64() + w))
}

/// `out[i] = node.draw(wa[i], wb[i], ε(seed, m, first + i))` over one chunk (`None` is
/// `W_0 = 0`); compiled for the best instruction set this CPU has.
fn draw_chunk(
    node: Bridge,
    key: StreamKey,
    first: u64,
    wa: Option<&[f64]>,
    wb: Option<&[f64]>,
    out: &mut [f64],
) {
    struct Level<'a> {
        node: Bridge,
        key: StreamKey,
        first: u64,
        wa: Option<&'a [f64]>,
        wb: Option<&'a [f64]>,
        out: &'a mut [f64],
    }
    impl BlockWork for Level<'_> {
        #[inline(always)]
        fn run<B: BlockSource>(self, blocks: B) {
            const ZEROS: [f64; BLOCK] = [0.0; BLOCK];
            let mut eps = [0.0; BLOCK];
            for (k, values) in self.out.chunks_mut(BLOCK).enumerate() {
                let start = k * BLOCK;
                let range = start..start + values.len();
                let wa = self.wa.map_or(&ZEROS[..values.len()], |w| &w[range.clone()]);
                let wb = self.wb.map_or(&ZEROS[..values.len()], |w| &w[range]);
                blocks.normal_block(self.key, self.first + start as u64, &mut eps);
                for (((v, &a), &b), &z) in values.iter_mut().zip(wa).zip(wb).zip(&eps) {
                    *v = self.node.draw(a, b, z);
                }
            }
        }
    }
    noise::run_with_blocks(Level {
        node,
        key,
        first,
        wa,
        wb,
        out,
    });
}

/// The Markov-chain path `x_0, x_1, …, x_T` of a few elements of a larger array: element
/// `indices[j]` of the array starts at `x0[j]`. The path is exactly what
/// [`MarkovChain`] shows for those elements (`path[t][j]` is element `indices[j]` of
/// `x_t`, bit for bit).
#[must_use]
pub fn markov_path(schedule: &Schedule, seed: u64, x0: &[f64], indices: &[u64]) -> Vec<Vec<f64>> {
    assert_eq!(x0.len(), indices.len(), "one start value per index");
    let walk = Walk::new(schedule);
    let steps = schedule.steps();
    let mut path = vec![vec![0.0; x0.len()]; steps + 1];
    for (j, (&start, &i)) in x0.iter().zip(indices).enumerate() {
        let w = walk.whole(seed, i);
        for (t, &w) in w.iter().enumerate() {
            path[t][j] = chain_value(schedule.sqrt_alpha_bar(t), start, w);
        }
        if walk.last < steps {
            path[steps][j] = StreamKey::new(seed, steps as u64).normal(i);
        }
    }
    path
}

/// Draws at this depth of the tree or above (the root is depth 0) are kept for the
/// chain's life once made: at most 64 arrays (403 MB for the largest photo, 512² RGB, in
/// `f64` — what the keyframe cache this replaced was allowed), so that a jump to any `t`
/// redraws at most `⌈log₂ T⌉ − KEEP_DEPTH` levels (4 for `T = 1000`).
const KEEP_DEPTH: usize = 6;

/// One kept draw of the tree: `W_m` of every element.
#[derive(Clone, Debug)]
struct Drawn {
    node: Bridge,
    depth: usize,
    w: Vec<f64>,
}

/// Where a draw's `W_a`, `W_b`, or the frame's `W_t`, comes from in one pass.
#[derive(Clone, Copy, Debug)]
enum Source {
    /// `W_0 = 0`.
    Zero,
    /// A draw kept from earlier frames (an index into the kept ones).
    Kept(usize),
    /// A draw made in this pass (an index into the new ones, drawn in order).
    New(usize),
}

/// The Markov view of the forward chain: `x_t` after `t` steps with fresh noise each
/// step, for any `t`, without replaying the chain from `x_0`.
///
/// The chain's random walk is drawn as a bridge tree (see `Walk` in this module's
/// source): `x_t` costs at most `⌈log₂ T⌉ + 1` normals per value. Draws are kept (one
/// `f64` array each): those of the tree's top [`KEEP_DEPTH`] levels for good, the rest
/// while they are on the way down to the last `t` asked for. So a neighbouring `t` —
/// scrubbing, playing — redraws only the levels where its way down parts from the last
/// one (one or two on average), and a jump at most four for `T = 1000`. The missing draws
/// and the frame are made in one pass, chunk by chunk in parallel, while the chunk is in
/// cache. `x_t` is a pure function of `(schedule, x_0, seed, t)`: every order of
/// requests gives the same numbers, bit for bit.
#[derive(Clone, Debug)]
pub struct MarkovChain<R: Real> {
    schedule: Schedule,
    seed: u64,
    x0: Vec<R>,
    walk: Walk,
    drawn: Vec<Drawn>,
}

impl<R: Real> MarkovChain<R> {
    /// A chain from `x0` under `seed` and `schedule`.
    #[must_use]
    pub fn new(schedule: Schedule, x0: Vec<R>, seed: u64) -> Self {
        let walk = Walk::new(&schedule);
        Self {
            schedule,
            seed,
            x0,
            walk,
            drawn: Vec::new(),
        }
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
        &self.x0
    }

    /// How many draws of the tree the chain keeps (`f64` arrays of `x_0`'s length).
    #[must_use]
    pub fn kept_draws(&self) -> usize {
        self.drawn.len()
    }

    /// Writes `x_t` of the Markov chain into `out`.
    ///
    /// # Panics
    /// If `t > T` or `out` has the wrong length.
    pub fn frame_into(&mut self, t: usize, out: &mut [R]) {
        let steps = self.schedule.steps();
        assert!(t <= steps, "t = {t} is beyond T = {steps}");
        assert_eq!(out.len(), self.x0.len(), "frame_into: wrong length");
        if t > self.walk.last {
            // Zero terminal SNR: x_T = ε_T, whatever came before.
            noise::fill_normal_from(StreamKey::new(self.seed, t as u64), 0, out);
            return;
        }
        if t == 0 {
            out.copy_from_slice(&self.x0);
            return;
        }
        let path = self.walk.path_to(t);
        // Forget the deep draws off the way down to t; their arrays are reused.
        let mut spare = Vec::new();
        let mut k = 0;
        while k < self.drawn.len() {
            let d = &self.drawn[k];
            if d.depth > KEEP_DEPTH && !path.iter().any(|n| n.m == d.node.m) {
                spare.push(self.drawn.swap_remove(k).w);
            } else {
                k += 1;
            }
        }
        // The draws missing on the way down, ancestors first, and where each one's
        // `W_a` and `W_b` come from.
        let mut missing: Vec<(Bridge, Source, Source)> = Vec::new();
        let mut fresh: Vec<Vec<f64>> = Vec::new();
        let source = |drawn: &[Drawn], missing: &[(Bridge, Source, Source)], time: usize| {
            if time == 0 {
                return Source::Zero;
            }
            drawn
                .iter()
                .position(|d| d.node.m == time)
                .map(Source::Kept)
                .or_else(|| missing.iter().position(|(n, ..)| n.m == time).map(Source::New))
                .expect("an interval's ends are drawn above it")
        };
        for &node in &path {
            if self.drawn.iter().any(|d| d.node.m == node.m) {
                continue;
            }
            let (a, b) = (
                source(&self.drawn, &missing, node.a),
                source(&self.drawn, &missing, node.b),
            );
            missing.push((node, a, b));
            fresh.push(spare.pop().unwrap_or_else(|| vec![0.0; self.x0.len()]));
        }
        let target = source(&self.drawn, &missing, t);
        self.draw_pass(&missing, &mut fresh, target, t, out);
        for ((node, ..), w) in missing.into_iter().zip(fresh) {
            let depth = path.iter().position(|n| n.m == node.m).expect("on the way down");
            self.drawn.push(Drawn { node, depth, w });
        }
    }

    /// Draws the `missing` levels into `fresh` and writes `x_t` (its `W_t` from
    /// `target`) into `out`, chunk by chunk in parallel.
    fn draw_pass(
        &self,
        missing: &[(Bridge, Source, Source)],
        fresh: &mut [Vec<f64>],
        target: Source,
        t: usize,
        out: &mut [R],
    ) {
        let chunks = out.len().div_ceil(CHAIN_CHUNK);
        // columns[c][k]: chunk c of new draw k.
        let mut columns: Vec<Vec<&mut [f64]>> =
            (0..chunks).map(|_| Vec::with_capacity(fresh.len())).collect();
        for w in fresh.iter_mut() {
            for (column, chunk) in columns.iter_mut().zip(w.chunks_mut(CHAIN_CHUNK)) {
                column.push(chunk);
            }
        }
        let scale = self.schedule.sqrt_alpha_bar(t);
        out.par_chunks_mut(CHAIN_CHUNK)
            .zip(columns)
            .enumerate()
            .for_each(|(c, (out, mut column))| {
                let range = c * CHAIN_CHUNK..c * CHAIN_CHUNK + out.len();
                for (k, &(node, a, b)) in missing.iter().enumerate() {
                    let (done, rest) = column.split_at_mut(k);
                    let read = |s: Source| match s {
                        Source::Zero => None,
                        Source::Kept(j) => Some(&self.drawn[j].w[range.clone()]),
                        Source::New(j) => Some(&*done[j]),
                    };
                    let key = StreamKey::new(self.seed, node.m as u64);
                    draw_chunk(node, key, range.start as u64, read(a), read(b), rest[0]);
                }
                let w: &[f64] = match target {
                    Source::Kept(j) => &self.drawn[j].w[range.clone()],
                    Source::New(j) => column[j],
                    Source::Zero => unreachable!("t > 0"),
                };
                for ((o, &x), &w) in out.iter_mut().zip(&self.x0[range]).zip(w) {
                    *o = chain_value(scale, x, w);
                }
            });
    }

    /// `x_t` of the Markov chain as a new vector.
    pub fn frame(&mut self, t: usize) -> Vec<R> {
        let mut out = vec![R::default(); self.x0.len()];
        self.frame_into(t, &mut out);
        out
    }
}
