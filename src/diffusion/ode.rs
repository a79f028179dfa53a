//! An adaptive Dormand–Prince 5(4) solver (RK45): the method of scipy's
//! `solve_ivp(method="RK45")`, which Song et al.'s likelihood code calls, with its step
//! control (Hairer, Nørsett & Wanner, *Solving ODEs I*, §II.4 and §II.5).
//!
//! The state is a batch of independent systems of `block` values each (a point and its
//! log-density change): a step is accepted when every block's RMS error, scaled by
//! `atol + rtol · max(|y|, |y_new|)` per value, is below 1 — the batch moves together at
//! the pace of its hardest member, and each member meets the tolerance on its own.
//! (scipy's norm, the RMS over the whole batch that Song et al.'s batched solve uses,
//! lets single points miss: on the 8 Gaussians' analytic check its worst point is off by
//! 7.9e−3 nats at 116 evaluations, against 6.1e−4 at 170 with this one.)
//! [`Dopri::step`] takes one accepted step, so a caller can show the solution as it goes.

use thiserror::Error;

/// Why an integration stopped.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum OdeError {
    /// The step size fell below what `f64` can resolve at `t`.
    #[error("the ODE solver's step fell below {h:.1e} at t = {t:.6}: the equation is too stiff there")]
    StepTooSmall {
        /// Where.
        t: f64,
        /// The step it needed.
        h: f64,
    },
    /// The equation cannot be set up for this input (the message says why).
    #[error("{0}")]
    Unsupported(String),
    /// The right-hand side returned a value that is not finite.
    #[error("the ODE's right-hand side is not finite at t = {t:.6}")]
    NonFinite {
        /// Where.
        t: f64,
    },
    /// The caller's progress callback asked to stop.
    #[error("the ODE solve was cancelled")]
    Cancelled,
}

/// A right-hand side `f(t, y, dy/dt)`: writes `dy/dt` at `(t, y)`.
pub type Rhs<'a, E> = dyn FnMut(f64, &[f64], &mut [f64]) -> Result<(), E> + 'a;

/// Relative and absolute tolerances of the local error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Relative (`rtol`).
    pub rtol: f64,
    /// Absolute (`atol`).
    pub atol: f64,
}

impl Tolerance {
    /// `rtol = atol = 1e−5`, Song et al.'s for likelihoods.
    pub const LIKELIHOOD: Self = Self {
        rtol: 1e-5,
        atol: 1e-5,
    };
}

/// Work done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OdeStats {
    /// Evaluations of the right-hand side (per batch: one evaluation covers every block).
    pub nfe: usize,
    /// Accepted steps.
    pub accepted: usize,
    /// Rejected steps.
    pub rejected: usize,
}

// Dormand–Prince 5(4) tableau (scipy.integrate._ivp.rk.RK45).
const C: [f64; 6] = [0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0];
const A: [&[f64]; 6] = [
    &[],
    &[1.0 / 5.0],
    &[3.0 / 40.0, 9.0 / 40.0],
    &[44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0],
    &[
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
    ],
    &[
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
    ],
];
const B: [f64; 6] = [
    35.0 / 384.0,
    0.0,
    500.0 / 1113.0,
    125.0 / 192.0,
    -2187.0 / 6784.0,
    11.0 / 84.0,
];
/// The difference of the 5th- and 4th-order weights, the last for the FSAL stage.
const E: [f64; 7] = [
    -71.0 / 57600.0,
    0.0,
    71.0 / 16695.0,
    -71.0 / 1920.0,
    17253.0 / 339_200.0,
    -22.0 / 525.0,
    1.0 / 40.0,
];
/// The order of the error estimate plus one: the step scales as `error^(−1/5)`.
const ERROR_EXPONENT: f64 = -1.0 / 5.0;
const SAFETY: f64 = 0.9;
const MIN_FACTOR: f64 = 0.2;
const MAX_FACTOR: f64 = 10.0;

/// A Dormand–Prince integration of `dy/dt = f(t, y)` from `t0` towards `t_end` (either
/// direction), one accepted step at a time.
#[derive(Clone, Debug)]
pub struct Dopri {
    t: f64,
    t_end: f64,
    /// `|h|` of the next attempt.
    h_abs: f64,
    y: Vec<f64>,
    /// `f(t, y)` (first same as last: the previous step's seventh stage).
    f: Vec<f64>,
    tol: Tolerance,
    block: usize,
    stats: OdeStats,
}

impl Dopri {
    /// Starts at `(t0, y0)`; evaluates `f` twice to choose the first step (scipy's
    /// `select_initial_step`). `block` values of `y` form one system (`y0.len()` a
    /// multiple of it).
    ///
    /// # Errors
    /// The right-hand side's, or [`OdeError::NonFinite`] (converted).
    ///
    /// # Panics
    /// If `block` is 0 or does not divide `y0.len()`.
    pub fn new<E: From<OdeError>>(
        f: &mut Rhs<'_, E>,
        (t0, t_end): (f64, f64),
        y0: Vec<f64>,
        tol: Tolerance,
        block: usize,
    ) -> Result<Self, E> {
        assert!(block > 0 && y0.len().is_multiple_of(block), "y has whole blocks");
        let mut f0 = vec![0.0; y0.len()];
        eval(f, t0, &y0, &mut f0)?;
        let mut solver = Self {
            t: t0,
            t_end,
            h_abs: 0.0,
            y: y0,
            f: f0,
            tol,
            block,
            stats: OdeStats {
                nfe: 1,
                ..OdeStats::default()
            },
        };
        solver.h_abs = solver.initial_step(f)?;
        Ok(solver)
    }

    /// Hairer's starting step ([`Trial`]), one evaluation.
    fn initial_step<E: From<OdeError>>(&mut self, f: &mut Rhs<'_, E>) -> Result<f64, E> {
        let span = (self.t_end - self.t).abs();
        if span == 0.0 {
            return Ok(0.0);
        }
        let block = self.block;
        let norm = |v: &[f64], s: &[f64]| batch_norm(block, v, s);
        let trial = Trial::new(span, &self.y, &self.f, self.tol, &norm);
        let y1 = trial.point(&self.y, &self.f, self.direction());
        let mut f1 = vec![0.0; y1.len()];
        eval(f, self.t + trial.h0 * self.direction(), &y1, &mut f1)?;
        self.stats.nfe += 1;
        Ok(trial.step(span, &self.f, &f1, &norm))
    }

    fn direction(&self) -> f64 {
        if self.t_end >= self.t { 1.0 } else { -1.0 }
    }

    /// The largest over blocks of each block's RMS of `v / scale`.
    fn norm(&self, v: &[f64], scale: &[f64]) -> f64 {
        batch_norm(self.block, v, scale)
    }

    /// Where the solution is.
    #[must_use]
    pub fn t(&self) -> f64 {
        self.t
    }

    /// The solution at [`Self::t`].
    #[must_use]
    pub fn y(&self) -> &[f64] {
        &self.y
    }

    /// `f(t, y)` there.
    #[must_use]
    pub fn dydt(&self) -> &[f64] {
        &self.f
    }

    /// Work so far.
    #[must_use]
    pub fn stats(&self) -> OdeStats {
        self.stats
    }

    /// The step size of the next attempt.
    #[must_use]
    pub fn next_step(&self) -> f64 {
        self.h_abs
    }

    /// Whether `t_end` is reached.
    #[must_use]
    #[allow(clippy::float_cmp, reason = "the last step lands on t_end exactly")]
    pub fn is_done(&self) -> bool {
        self.t == self.t_end
    }

    /// One accepted step (retrying smaller ones as the error asks); nothing once done.
    ///
    /// # Errors
    /// The right-hand side's, [`OdeError::NonFinite`] or [`OdeError::StepTooSmall`].
    pub fn step<E: From<OdeError>>(&mut self, f: &mut Rhs<'_, E>) -> Result<(), E> {
        if self.is_done() {
            return Ok(());
        }
        let dir = self.direction();
        let n = self.y.len();
        let mut k: Vec<Vec<f64>> = vec![self.f.clone()];
        k.extend((1..7).map(|_| vec![0.0; n]));
        let mut y_new = vec![0.0; n];
        let mut y_stage = vec![0.0; n];
        let mut rejected = false;
        loop {
            let (t_new, h) = attempt(self.t, self.t_end, self.h_abs, dir)?;
            for s in 1..6 {
                combine(&self.y, &k, A[s], h, &mut y_stage);
                eval(f, self.t + C[s] * h, &y_stage, &mut k[s])?;
            }
            combine(&self.y, &k, &B, h, &mut y_new);
            eval(f, t_new, &y_new, &mut k[6])?;
            self.stats.nfe += 6;
            let (err, scale) = error_and_scale(&self.y, &y_new, &k, h, self.tol);
            let error = self.norm(&err, &scale);
            if error < 1.0 {
                self.h_abs *= accepted_factor(error, rejected);
                self.t = t_new;
                self.y.copy_from_slice(&y_new);
                self.f.copy_from_slice(&k[6]);
                self.stats.accepted += 1;
                return Ok(());
            }
            self.h_abs *= rejected_factor(error);
            self.stats.rejected += 1;
            rejected = true;
        }
    }
}

/// Hairer's starting step (scipy's `select_initial_step`): a trial `h0 = 0.01 ‖y0‖/‖f0‖`,
/// then one Euler step of `h0` to estimate the second derivative.
struct Trial {
    h0: f64,
    d1: f64,
    scale: Vec<f64>,
}

/// An error norm: of `v / scale`, over one system or the largest over a batch's.
type Norm<'a> = dyn Fn(&[f64], &[f64]) -> f64 + 'a;

impl Trial {
    /// The trial step at `(y, f0)`, `span > 0` the distance to the end.
    fn new(span: f64, y: &[f64], f0: &[f64], tol: Tolerance, norm: &Norm<'_>) -> Self {
        let scale: Vec<f64> = y.iter().map(|v| tol.atol + v.abs() * tol.rtol).collect();
        let d0 = norm(y, &scale);
        let d1 = norm(f0, &scale);
        let h0 = if d0 < 1e-5 || d1 < 1e-5 {
            1e-6
        } else {
            0.01 * d0 / d1
        }
        .min(span);
        Self { h0, d1, scale }
    }

    /// Where the Euler probe evaluates: `y + h0·dir·f0`.
    fn point(&self, y: &[f64], f0: &[f64], dir: f64) -> Vec<f64> {
        y.iter().zip(f0).map(|(y, f)| y + self.h0 * dir * f).collect()
    }

    /// The first step from the slope `f1` at the probe.
    fn step(&self, span: f64, f0: &[f64], f1: &[f64], norm: &Norm<'_>) -> f64 {
        let diff: Vec<f64> = f1.iter().zip(f0).map(|(a, b)| a - b).collect();
        let d2 = norm(&diff, &self.scale) / self.h0;
        let h1 = if self.d1 <= 1e-15 && d2 <= 1e-15 {
            (self.h0 * 1e-3).max(1e-6)
        } else {
            (0.01 / self.d1.max(d2)).powf(1.0 / 5.0)
        };
        (100.0 * self.h0).min(h1).min(span)
    }
}

/// The next attempt from `t` with `|h| = h_abs` towards `t_end`: its end (clamped to
/// `t_end`) and signed step.
fn attempt(t: f64, t_end: f64, h_abs: f64, dir: f64) -> Result<(f64, f64), OdeError> {
    let min_step = 10.0 * (f64::EPSILON * t.abs()).max(f64::MIN_POSITIVE);
    if h_abs < min_step {
        return Err(OdeError::StepTooSmall { t, h: h_abs });
    }
    let mut t_new = t + dir * h_abs;
    if dir * (t_new - t_end) > 0.0 {
        t_new = t_end;
    }
    Ok((t_new, t_new - t))
}

/// `y + h Σ_j a_j k_j` into `out`: a stage's point (a row of `A`) or the new solution (`B`).
fn combine(y: &[f64], k: &[Vec<f64>], a: &[f64], h: f64, out: &mut [f64]) {
    for (i, o) in out.iter_mut().enumerate() {
        let incr: f64 = a.iter().enumerate().map(|(j, a)| a * k[j][i]).sum();
        *o = y[i] + h * incr;
    }
}

/// The step's local error estimate `h Σ_j e_j k_j` and its scale
/// `atol + rtol·max(|y|, |y_new|)`.
fn error_and_scale(y: &[f64], y_new: &[f64], k: &[Vec<f64>], h: f64, tol: Tolerance) -> (Vec<f64>, Vec<f64>) {
    let err = (0..y.len())
        .map(|i| h * E.iter().enumerate().map(|(j, e)| e * k[j][i]).sum::<f64>())
        .collect();
    let scale = (0..y.len())
        .map(|i| tol.atol + y[i].abs().max(y_new[i].abs()) * tol.rtol)
        .collect();
    (err, scale)
}

/// The step's growth after an accepted step of `error < 1` (not above 1 right after a
/// rejection).
fn accepted_factor(error: f64, rejected: bool) -> f64 {
    let factor = if error == 0.0 {
        MAX_FACTOR
    } else {
        (SAFETY * error.powf(ERROR_EXPONENT)).min(MAX_FACTOR)
    };
    if rejected { factor.min(1.0) } else { factor }
}

/// The step's shrinking after a rejected step of `error ≥ 1`.
fn rejected_factor(error: f64) -> f64 {
    (SAFETY * error.powf(ERROR_EXPONENT)).max(MIN_FACTOR)
}

/// The largest over the systems of `block` values of each one's [`rms`].
fn batch_norm(block: usize, v: &[f64], scale: &[f64]) -> f64 {
    v.chunks_exact(block)
        .zip(scale.chunks_exact(block))
        .map(|(v, s)| rms(v, s))
        .fold(0.0, f64::max)
}

/// The RMS of `v / scale`: one system's error norm.
fn rms(v: &[f64], scale: &[f64]) -> f64 {
    let sum: f64 = v.iter().zip(scale).map(|(v, s)| (v / s) * (v / s)).sum();
    (sum / v.len() as f64).sqrt()
}

/// `f(t, y)` into `out`, refusing a value that is not finite.
fn eval<E: From<OdeError>>(f: &mut Rhs<'_, E>, t: f64, y: &[f64], out: &mut [f64]) -> Result<(), E> {
    f(t, y, out)?;
    if out.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(OdeError::NonFinite { t }.into())
    }
}

/// Integrates from `t0` to `t_end` and returns the solution there with the work done.
///
/// # Errors
/// As [`Dopri::step`].
pub fn solve<E: From<OdeError>>(
    f: &mut Rhs<'_, E>,
    span: (f64, f64),
    y0: Vec<f64>,
    tol: Tolerance,
    block: usize,
) -> Result<(Vec<f64>, OdeStats), E> {
    let mut solver = Dopri::new(f, span, y0, tol, block)?;
    while !solver.is_done() {
        solver.step(f)?;
    }
    let stats = solver.stats();
    Ok((solver.y, stats))
}

/// A right-hand side of independent systems, each at its own time:
/// `f(ts, y, dy/dt, partial)` writes `dy/dt` of the systems `y` (one after another,
/// `ts.len()` of them) at their times `ts`. Where `partial[i]`, system `i`'s accumulators'
/// slopes are not used and need not be computed (the solver sets them to 0).
pub type SystemsRhs<'a, E> = dyn FnMut(&[f64], &[f64], &mut [f64], &[bool]) -> Result<(), E> + 'a;

/// The shape of [`solve_each`]'s systems.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Systems {
    /// Values per system.
    pub block: usize,
    /// Systems in flight at once (the rows of each evaluation).
    pub slots: usize,
    /// The last values of each system that are accumulators — a quadrature along the
    /// path, as a likelihood's `Δ log p`: no slope depends on them, and their size is an
    /// offset from where they started — held to `atol` alone (no relative part). Their
    /// slopes at a step's second stage are never used (its weight is 0 in the solution
    /// and in the error estimate), so that evaluation is asked for the rest alone.
    pub accumulators: usize,
}

/// Integrates the independent systems of `y0` (`block` values each, one after another)
/// from `t0` to `t_end`, each with its own steps: without accumulators, system `i`'s
/// solution and work are exactly [`solve`]'s of that system alone. `slots` systems are in
/// flight at once; each round asks `f` for one evaluation of every system in flight (each
/// at its own stage and time), and a finished system's slot takes the next waiting one, so
/// the batch stays full until the last systems. `progress(done)` is told how many systems
/// have finished after every round, and cancels by returning `false`.
///
/// A batch solved by [`solve`] moves at its hardest member's pace; here each moves at its
/// own, so a point's result does not depend on the others. Alone, a point's steps are
/// longer than in a batch, and its `Δ log p` needs its own absolute tolerance: with the
/// relative one too, the likelihood's analytic check (tests/prob_flow.rs) misses 1e−3 nats
/// at one point in 100 (1.04e−3); held to `atol`, its worst is 5.7e−4.
///
/// # Errors
/// As [`Dopri::step`] (of the first system that fails), or [`OdeError::Cancelled`].
///
/// # Panics
/// If `block` or `slots` is 0, `block` does not divide `y0.len()`, or there are more
/// accumulators than values.
pub fn solve_each<E: From<OdeError>>(
    f: &mut SystemsRhs<'_, E>,
    (t0, t_end): (f64, f64),
    y0: &[f64],
    tol: Tolerance,
    systems: Systems,
    progress: &mut dyn FnMut(usize) -> bool,
) -> Result<(Vec<f64>, OdeStats), E> {
    let Systems {
        block,
        slots,
        accumulators,
    } = systems;
    assert!(accumulators <= block, "accumulators are values of the system");
    assert!(
        block > 0 && slots > 0 && y0.len().is_multiple_of(block),
        "whole systems"
    );
    let count = y0.len() / block;
    let mut out = vec![0.0; y0.len()];
    let mut stats = OdeStats::default();
    let start = |system: usize| Flight::new(system, t0, &y0[system * block..(system + 1) * block]);
    let mut flights: Vec<Flight> = (0..slots.min(count)).map(start).collect();
    let (mut waiting, mut done) = (flights.len(), 0);
    let (mut ts, mut ys, mut dys, mut partial) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    while !flights.is_empty() {
        ts.clear();
        ys.clear();
        partial.clear();
        for flight in &mut flights {
            ts.push(flight.request(t_end, &mut ys));
            partial.push(accumulators > 0 && flight.phase == Phase::Stage(1));
        }
        dys.resize(ys.len(), 0.0);
        f(&ts, &ys, &mut dys, &partial)?;
        let mut i = 0;
        while i < flights.len() {
            if partial[i] {
                dys[(i + 1) * block - accumulators..(i + 1) * block].fill(0.0);
            }
            let row = &dys[i * block..(i + 1) * block];
            if !row.iter().all(|v| v.is_finite()) {
                return Err(OdeError::NonFinite { t: ts[i] }.into());
            }
            if flights[i].advance(row, t_end, tol, accumulators)? {
                let flight = &flights[i];
                out[flight.system * block..(flight.system + 1) * block].copy_from_slice(&flight.y);
                stats.nfe += flight.stats.nfe;
                stats.accepted += flight.stats.accepted;
                stats.rejected += flight.stats.rejected;
                done += 1;
                if waiting < count {
                    flights[i] = start(waiting);
                    waiting += 1;
                } else {
                    // The last flight moves into slot i, and its slope with it.
                    flights.swap_remove(i);
                    let last = flights.len() * block;
                    dys.copy_within(last..last + block, i * block);
                    ts.swap_remove(i);
                    partial.swap_remove(i);
                    continue;
                }
            }
            i += 1;
        }
        if !progress(done) {
            return Err(OdeError::Cancelled.into());
        }
    }
    Ok((out, stats))
}

/// Where a system in flight is: which evaluation it waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// `f(t0, y0)`.
    Start,
    /// The initial step's Euler probe ([`Trial`]).
    Probe,
    /// Stage `s` of a step attempt (1..=5), or its last point `(t_new, y_new)` (6).
    Stage(usize),
}

/// One system of [`solve_each`], stepped as [`Dopri`] steps a batch of one.
struct Flight {
    system: usize,
    phase: Phase,
    t: f64,
    h_abs: f64,
    /// The attempt's end and signed step.
    t_new: f64,
    h: f64,
    rejected: bool,
    trial: Option<Trial>,
    y: Vec<f64>,
    y_new: Vec<f64>,
    /// The stages' slopes; `k[0] = f(t, y)`.
    k: Vec<Vec<f64>>,
    stats: OdeStats,
}

impl Flight {
    fn new(system: usize, t0: f64, y0: &[f64]) -> Self {
        let n = y0.len();
        Self {
            system,
            phase: Phase::Start,
            t: t0,
            h_abs: 0.0,
            t_new: t0,
            h: 0.0,
            rejected: false,
            trial: None,
            y: y0.to_vec(),
            y_new: vec![0.0; n],
            k: vec![vec![0.0; n]; 7],
            stats: OdeStats::default(),
        }
    }

    fn direction(&self, t_end: f64) -> f64 {
        if t_end >= self.t { 1.0 } else { -1.0 }
    }

    /// Appends the point of the evaluation this system waits for to `ys`; returns its time.
    fn request(&mut self, t_end: f64, ys: &mut Vec<f64>) -> f64 {
        let n = self.y.len();
        let at = ys.len();
        ys.resize(at + n, 0.0);
        let point = &mut ys[at..];
        match self.phase {
            Phase::Start => {
                point.copy_from_slice(&self.y);
                self.t
            }
            Phase::Probe => {
                let trial = self.trial.as_ref().expect("a probe has its trial");
                let dir = self.direction(t_end);
                point.copy_from_slice(&trial.point(&self.y, &self.k[0], dir));
                self.t + trial.h0 * dir
            }
            Phase::Stage(6) => {
                combine(&self.y, &self.k, &B, self.h, &mut self.y_new);
                point.copy_from_slice(&self.y_new);
                self.t_new
            }
            Phase::Stage(s) => {
                combine(&self.y, &self.k, A[s], self.h, point);
                self.t + C[s] * self.h
            }
        }
    }

    /// Takes the slope at the requested point; `true` once the system reached `t_end`.
    fn advance(
        &mut self,
        slope: &[f64],
        t_end: f64,
        tol: Tolerance,
        accumulators: usize,
    ) -> Result<bool, OdeError> {
        self.stats.nfe += 1;
        let span = (t_end - self.t).abs();
        match self.phase {
            Phase::Start => {
                self.k[0].copy_from_slice(slope);
                if span == 0.0 {
                    return Ok(true);
                }
                self.trial = Some(Trial::new(span, &self.y, &self.k[0], tol, &rms));
                self.phase = Phase::Probe;
            }
            Phase::Probe => {
                let trial = self.trial.take().expect("a probe has its trial");
                self.h_abs = trial.step(span, &self.k[0], slope, &rms);
                self.begin(t_end)?;
            }
            Phase::Stage(s) if s < 6 => {
                self.k[s].copy_from_slice(slope);
                self.phase = Phase::Stage(s + 1);
            }
            Phase::Stage(_) => {
                self.k[6].copy_from_slice(slope);
                let (err, mut scale) = error_and_scale(&self.y, &self.y_new, &self.k, self.h, tol);
                let n = scale.len();
                scale[n - accumulators..].fill(tol.atol);
                let error = rms(&err, &scale);
                if error < 1.0 {
                    self.h_abs *= accepted_factor(error, self.rejected);
                    self.t = self.t_new;
                    self.y.copy_from_slice(&self.y_new);
                    let last = std::mem::take(&mut self.k[6]);
                    self.k[0].copy_from_slice(&last);
                    self.k[6] = last;
                    self.stats.accepted += 1;
                    self.rejected = false;
                    #[allow(clippy::float_cmp, reason = "the last step lands on t_end exactly")]
                    if self.t == t_end {
                        return Ok(true);
                    }
                } else {
                    self.h_abs *= rejected_factor(error);
                    self.stats.rejected += 1;
                    self.rejected = true;
                }
                self.begin(t_end)?;
            }
        }
        Ok(false)
    }

    /// Starts a step attempt from `t` with the current `|h|`.
    fn begin(&mut self, t_end: f64) -> Result<(), OdeError> {
        (self.t_new, self.h) = attempt(self.t, t_end, self.h_abs, self.direction(t_end))?;
        self.phase = Phase::Stage(1);
        Ok(())
    }
}
