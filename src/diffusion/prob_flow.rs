//! The probability-flow ODE (Song et al. 2021) of the app's discrete schedules, and the
//! exact log-likelihood it gives (MATH.md, the continuous-time view).
//!
//! Continuous time is the log SNR `λ`: at the steps `1..T` it is the schedule's
//! `λ_t = ln ᾱ_t − ln(1 − ᾱ_t)`, linear in the step in between (as the ELBO tab asks a
//! network at a fractional step), and `x_λ = α_λ x_0 + σ_λ ε` with `α_λ² = sigmoid(λ)`,
//! `σ_λ² = sigmoid(−λ)`. In `λ` the variance-preserving SDE's probability flow
//! `dx/dt = f(x, t) − ½ g(t)² ∇ log p_t(x)` reads, with the score `−ε̂/σ`,
//!
//! ```text
//! dx/dλ = ½ σ_λ² x − ½ σ_λ ε̂(x, λ)            (the DDIM ODE dx̃/dσ̃ = ε̂ in x̃ = x/α)
//! d log p_λ(x(λ))/dλ = −∇·(dx/dλ) = −½ σ_λ² d + ½ σ_λ tr ∂ε̂/∂x
//! ```
//!
//! so `log p(x) = log N(x_T; 0, I) + ∫_{λ_1}^{λ_T} ∇·(dx/dλ) dλ`, integrated from the
//! data (`λ_1`, the lowest noise level a model is trained at) to `λ_T`. The trace is
//! exact (two Jacobian–vector products in 2D, not Hutchinson's estimate). `λ` is a better
//! clock than the step: the drift has no kinks at the integer steps, and the solver's
//! steps spread evenly over the noise levels that matter.

use super::Schedule;
use super::ode::{Dopri, OdeError, OdeStats, Systems, Tolerance, solve_each};

/// `(α_λ, σ_λ) = (√sigmoid(λ), √sigmoid(−λ))`, accurate at both ends.
#[must_use]
pub fn alpha_sigma(lambda: f64) -> (f64, f64) {
    let sigmoid = |v: f64| {
        if v >= 0.0 {
            1.0 / (1.0 + (-v).exp())
        } else {
            let e = v.exp();
            e / (1.0 + e)
        }
    };
    (sigmoid(lambda).sqrt(), sigmoid(-lambda).sqrt())
}

/// The continuous time of a discrete schedule: its log SNR at the steps `1..T`, linear in
/// the step in between.
#[derive(Clone, Debug, PartialEq)]
pub struct LogSnrTime {
    /// `λ_t` at `t = 1..T` (index `t − 1`), decreasing.
    lam: Vec<f64>,
}

impl LogSnrTime {
    /// The continuous time of `schedule`.
    ///
    /// # Errors
    /// A schedule with zero terminal SNR (`λ_T = −∞`: the flow would start at infinite
    /// noise) or a log SNR that does not decrease.
    pub fn new(schedule: &Schedule) -> Result<Self, OdeError> {
        let lam: Vec<f64> = (1..=schedule.steps()).map(|t| schedule.log_snr(t)).collect();
        let last = lam.last().copied().unwrap_or(f64::NAN);
        if !last.is_finite() || lam.len() < 2 {
            return Err(OdeError::Unsupported(
                "the probability-flow ODE starts from N(0, I) at a finite noise level: this \
                 schedule has zero terminal SNR (log SNR at T is −∞)"
                    .into(),
            ));
        }
        if lam.windows(2).any(|w| w[1] >= w[0] || !w[0].is_finite()) {
            return Err(OdeError::Unsupported(
                "the probability-flow ODE needs a log SNR that falls at every step".into(),
            ));
        }
        Ok(Self { lam })
    }

    /// `λ_T`, where sampling starts.
    #[must_use]
    pub fn noise_end(&self) -> f64 {
        self.lam[self.lam.len() - 1]
    }

    /// `λ_1`, the data end.
    #[must_use]
    pub fn data_end(&self) -> f64 {
        self.lam[0]
    }

    /// The fractional step `s ∈ [1, T]` whose interpolated log SNR is `lambda` (clamped).
    #[must_use]
    pub fn step_at(&self, lambda: f64) -> f64 {
        let n = self.lam.len();
        if lambda >= self.lam[0] {
            return 1.0;
        }
        if lambda <= self.lam[n - 1] {
            return n as f64;
        }
        // lam[k − 1] > lambda ≥ lam[k].
        let k = self.lam.partition_point(|&v| v > lambda);
        let (hi, lo) = (self.lam[k - 1], self.lam[k]);
        k as f64 + (hi - lambda) / (hi - lo)
    }

    /// The log SNR at a fractional step `s ∈ [1, T]` (clamped).
    #[must_use]
    pub fn lambda_at(&self, step: f64) -> f64 {
        let n = self.lam.len();
        let s = step.clamp(1.0, n as f64);
        let k = (s.floor() as usize).min(n - 1);
        let frac = s - k as f64;
        self.lam[k - 1] + frac * (self.lam[k] - self.lam[k - 1])
    }
}

/// A noise level in both clocks: the log SNR and the model's fractional step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Level {
    /// `λ`.
    pub lambda: f64,
    /// The fractional step `s ∈ [1, T]` of the model's schedule with that `λ`.
    pub step: f64,
}

/// What the flow asks of a model: `ε̂` of a batch at one noise level and, for the
/// likelihood, the trace of each point's Jacobian `∂ε̂/∂x`.
pub trait EpsField {
    /// The error a model's evaluation can end in.
    type Error: From<OdeError>;

    /// Values per point.
    fn dim(&self) -> usize;

    /// `ε̂` of the points `x` (`n × dim`) into `eps`.
    ///
    /// # Errors
    /// The model's.
    fn eps(&mut self, x: &[f64], level: Level, eps: &mut [f64]) -> Result<(), Self::Error>;

    /// `ε̂` into `eps` and `tr ∂ε̂/∂x` per point into `trace` (`n`).
    ///
    /// # Errors
    /// The model's; a model without an exact divergence says so.
    fn eps_and_trace(
        &mut self,
        x: &[f64],
        level: Level,
        eps: &mut [f64],
        trace: &mut [f64],
    ) -> Result<(), Self::Error>;

    /// [`Self::eps`] with a noise level per point (`levels.len() = n`). By default one
    /// point at a time.
    ///
    /// # Errors
    /// As [`Self::eps`].
    fn eps_each(&mut self, x: &[f64], levels: &[Level], eps: &mut [f64]) -> Result<(), Self::Error> {
        let d = self.dim();
        for (i, &level) in levels.iter().enumerate() {
            self.eps(&x[i * d..(i + 1) * d], level, &mut eps[i * d..(i + 1) * d])?;
        }
        Ok(())
    }

    /// [`Self::eps_and_trace`] with a noise level per point (`levels.len() = n`): the
    /// likelihood's points each move at their own pace. By default one point at a time.
    ///
    /// # Errors
    /// As [`Self::eps_and_trace`].
    fn eps_and_trace_each(
        &mut self,
        x: &[f64],
        levels: &[Level],
        eps: &mut [f64],
        trace: &mut [f64],
    ) -> Result<(), Self::Error> {
        let d = self.dim();
        for (i, &level) in levels.iter().enumerate() {
            let at = i * d..(i + 1) * d;
            self.eps_and_trace(&x[at.clone()], level, &mut eps[at], &mut trace[i..=i])?;
        }
        Ok(())
    }
}

/// The flow's velocity `dx/dλ = ½σ² x − ½σ ε̂` into `out`.
fn velocity(lambda: f64, x: &[f64], eps: &[f64], out: &mut [f64]) {
    let (_, sigma) = alpha_sigma(lambda);
    for ((o, x), e) in out.iter_mut().zip(x).zip(eps) {
        *o = 0.5 * sigma * sigma * x - 0.5 * sigma * e;
    }
}

/// `log N(x; 0, I)` of one point.
#[must_use]
pub fn standard_normal_log_density(x: &[f64]) -> f64 {
    let d = x.len() as f64;
    -0.5 * x.iter().map(|v| v * v).sum::<f64>() - 0.5 * d * (2.0 * std::f64::consts::PI).ln()
}

/// The flow's log-likelihoods of a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowLikelihood {
    /// `log p(x)` per point, in nats: of `x` at step 1, the lowest noise level.
    pub log_p: Vec<f64>,
    /// Where each point's flow ends at `λ_T` (`n × dim`).
    pub x_noise: Vec<f64>,
    /// The solver's work, summed over the points (each solved on its own).
    pub stats: OdeStats,
}

/// `log p(x)` of the points `x` (`n × dim`) under the flow of `field`, integrated from
/// `λ_1` to `λ_T` at `tol` with the exact divergence, each point with its own steps
/// ([`solve_each`], all points in flight at once).
///
/// # Errors
/// The model's or the solver's.
pub fn log_likelihood<F: EpsField>(
    field: &mut F,
    time: &LogSnrTime,
    x: &[f64],
    tol: Tolerance,
) -> Result<FlowLikelihood, F::Error> {
    let n = x.len() / field.dim();
    log_likelihood_with(field, time, x, tol, n.max(1), &mut |_| true)
}

/// [`log_likelihood`] with `slots` points in flight at once, telling `progress` how many
/// points are done after each network evaluation (`false` cancels).
///
/// # Errors
/// The model's or the solver's, or [`OdeError::Cancelled`].
pub fn log_likelihood_with<F: EpsField>(
    field: &mut F,
    time: &LogSnrTime,
    x: &[f64],
    tol: Tolerance,
    slots: usize,
    progress: &mut dyn FnMut(usize) -> bool,
) -> Result<FlowLikelihood, F::Error> {
    let d = field.dim();
    // The state: each point's d values and its accumulated ∫ ∇·(dx/dλ) dλ.
    let y0 = augmented_state(x, d);
    let (mut pts, mut eps, mut trace, mut levels) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut f = |lambdas: &[f64], y: &[f64], dy: &mut [f64], partial: &[bool]| -> Result<(), F::Error> {
        let n = lambdas.len();
        pts.resize(n * d, 0.0);
        eps.resize(n * d, 0.0);
        trace.resize(n, 0.0);
        points_of_state(y, d, &mut pts);
        levels.clear();
        levels.extend(lambdas.iter().map(|&lambda| Level {
            lambda,
            step: time.step_at(lambda),
        }));
        let pick = |rows: &[usize]| rows.iter().map(|&i| levels[i]).collect::<Vec<_>>();
        evaluate_split(
            (&pts, d, partial),
            (&mut eps, &mut trace),
            &mut |rows, x, e, tr| match tr {
                Some(tr) => field.eps_and_trace_each(x, &pick(rows), e, tr),
                None => field.eps_each(x, &pick(rows), e),
            },
        )?;
        for (i, out) in dy.chunks_exact_mut(d + 1).enumerate() {
            let lambda = lambdas[i];
            let (_, sigma) = alpha_sigma(lambda);
            velocity(
                lambda,
                &pts[i * d..(i + 1) * d],
                &eps[i * d..(i + 1) * d],
                &mut out[..d],
            );
            out[d] = 0.5 * sigma * sigma * d as f64 - 0.5 * sigma * trace[i];
        }
        Ok(())
    };
    let span = (time.data_end(), time.noise_end());
    let (y, stats) = solve_each(&mut f, span, &y0, tol, systems(d, slots), progress)?;
    Ok(FlowLikelihood::at_noise_end(&y, d, stats))
}

/// [`evaluate_split`]'s model: `(rows, points, out, trace)`, the trace `None` where it is
/// not wanted.
pub(super) type SplitModel<'a, E> =
    dyn FnMut(&[usize], &[f64], &mut [f64], Option<&mut [f64]>) -> Result<(), E> + 'a;

/// A model's value and trace at the points `pts` (`n × d`) into `out` and `trace`, the
/// trace only where `!partial[i]` ([`Systems::accumulators`]; 0 elsewhere): `model` runs
/// on those rows with a trace to fill, and on the rest without, each time on its rows
/// gathered (given their indices).
pub(super) fn evaluate_split<E>(
    (pts, d, partial): (&[f64], usize, &[bool]),
    (out, trace): (&mut [f64], &mut [f64]),
    model: &mut SplitModel<'_, E>,
) -> Result<(), E> {
    let (lean, full): (Vec<usize>, Vec<usize>) = (0..partial.len()).partition(|&i| partial[i]);
    let gather = |rows: &[usize]| -> Vec<f64> {
        rows.iter()
            .flat_map(|&i| &pts[i * d..(i + 1) * d])
            .copied()
            .collect()
    };
    if !full.is_empty() {
        let (mut o, mut tr) = (vec![0.0; full.len() * d], vec![0.0; full.len()]);
        model(&full, &gather(&full), &mut o, Some(&mut tr))?;
        for (k, &i) in full.iter().enumerate() {
            out[i * d..(i + 1) * d].copy_from_slice(&o[k * d..(k + 1) * d]);
            trace[i] = tr[k];
        }
    }
    if !lean.is_empty() {
        let mut o = vec![0.0; lean.len() * d];
        model(&lean, &gather(&lean), &mut o, None)?;
        for (k, &i) in lean.iter().enumerate() {
            out[i * d..(i + 1) * d].copy_from_slice(&o[k * d..(k + 1) * d]);
            trace[i] = 0.0;
        }
    }
    Ok(())
}

/// A likelihood ODE's systems: a point's `d` values and its `Δ log p`, an accumulator
/// ([`Systems::accumulators`]), `slots` at a time.
pub(super) fn systems(d: usize, slots: usize) -> Systems {
    Systems {
        block: d + 1,
        slots,
        accumulators: 1,
    }
}

/// A likelihood ODE's state for the points `x` (`n × d`): each point's `d` values followed
/// by its accumulated change of `log p`, 0 (this module's flow and flow matching's,
/// [`super::flow_matching::log_likelihood`]).
pub(super) fn augmented_state(x: &[f64], d: usize) -> Vec<f64> {
    let mut y = Vec::with_capacity(x.len() / d * (d + 1));
    for p in x.chunks_exact(d) {
        y.extend_from_slice(p);
        y.push(0.0);
    }
    y
}

/// The points of an [`augmented_state`] `y` into `pts` (`n × d`).
pub(super) fn points_of_state(y: &[f64], d: usize, pts: &mut [f64]) {
    for (p, s) in pts.chunks_exact_mut(d).zip(y.chunks_exact(d + 1)) {
        p.copy_from_slice(&s[..d]);
    }
}

impl FlowLikelihood {
    /// The likelihoods of an [`augmented_state`] `y` solved to the noise end, where the
    /// density is `N(0, I)`: `log p = log N(x_end; 0, I) + Δ log p` per point.
    pub(super) fn at_noise_end(y: &[f64], d: usize, stats: OdeStats) -> Self {
        let mut log_p = Vec::with_capacity(y.len() / (d + 1));
        let mut x_noise = Vec::with_capacity(y.len() / (d + 1) * d);
        for s in y.chunks_exact(d + 1) {
            log_p.push(standard_normal_log_density(&s[..d]) + s[d]);
            x_noise.extend_from_slice(&s[..d]);
        }
        Self {
            log_p,
            x_noise,
            stats,
        }
    }
}

/// The flow from noise to data, one accepted solver step at a time: the probability-flow
/// ODE sampler.
#[derive(Clone, Debug)]
pub struct FlowSampler {
    solver: Dopri,
    time: LogSnrTime,
    dim: usize,
}

impl FlowSampler {
    /// Starts at `x` (`n × dim`) at the noise level `from` (a fractional step; `T` for
    /// pure noise) towards step 1.
    ///
    /// # Errors
    /// The model's.
    pub fn new<F: EpsField>(
        field: &mut F,
        time: LogSnrTime,
        x: Vec<f64>,
        from: f64,
        tol: Tolerance,
    ) -> Result<Self, F::Error> {
        let dim = field.dim();
        let span = (time.lambda_at(from), time.data_end());
        let solver = Dopri::new(&mut rhs(field, &time), span, x, tol, dim)?;
        Ok(Self { solver, time, dim })
    }

    /// One accepted step.
    ///
    /// # Errors
    /// The model's or the solver's.
    pub fn step<F: EpsField>(&mut self, field: &mut F) -> Result<(), F::Error> {
        let time = self.time.clone();
        self.solver.step(&mut rhs(field, &time))
    }

    /// Whether step 1 is reached.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.solver.is_done()
    }

    /// The fractional step of the current state.
    #[must_use]
    pub fn step_now(&self) -> f64 {
        self.time.step_at(self.solver.t())
    }

    /// The log SNR of the current state.
    #[must_use]
    pub fn lambda_now(&self) -> f64 {
        self.solver.t()
    }

    /// The current state (`n × dim`).
    #[must_use]
    pub fn x(&self) -> &[f64] {
        self.solver.y()
    }

    /// Values per point.
    #[must_use]
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// `ε̂` at the current state, recovered from the solver's last velocity
    /// (`ε̂ = (σ² x − 2 dx/dλ)/σ`: no extra evaluation).
    #[must_use]
    pub fn eps_now(&self) -> Vec<f64> {
        let (_, sigma) = alpha_sigma(self.solver.t());
        self.solver
            .y()
            .iter()
            .zip(self.solver.dydt())
            .map(|(x, v)| (sigma * sigma * x - 2.0 * v) / sigma)
            .collect()
    }

    /// The solver's work so far.
    #[must_use]
    pub fn stats(&self) -> OdeStats {
        self.solver.stats()
    }

    /// Accepted steps still to go at the current step size (an estimate, ≥ 1 until done).
    #[must_use]
    pub fn steps_left(&self) -> usize {
        if self.is_done() {
            return 0;
        }
        let left = (self.time.data_end() - self.solver.t()).abs();
        (left / self.solver.next_step().max(1e-12)).ceil().max(1.0) as usize
    }
}

/// The sampler's right-hand side: the flow's velocity of a batch.
fn rhs<'a, F: EpsField>(
    field: &'a mut F,
    time: &'a LogSnrTime,
) -> impl FnMut(f64, &[f64], &mut [f64]) -> Result<(), F::Error> + 'a {
    let mut eps = Vec::new();
    move |lambda, y, dy| {
        eps.resize(y.len(), 0.0);
        let level = Level {
            lambda,
            step: time.step_at(lambda),
        };
        field.eps(y, level, &mut eps)?;
        velocity(lambda, y, &eps, dy);
        Ok(())
    }
}

/// A mixture of isotropic Gaussians: the forward process keeps it one at every noise level
/// (`N(α μ_k, (α² s_k² + σ²) I)`), so its score and log density are known in closed form.
/// The analytic reference of the flow's likelihood (the 8 Gaussians is one).
#[derive(Clone, Debug, PartialEq)]
pub struct IsotropicMixture {
    /// Values per point.
    pub dim: usize,
    /// Weights (sum 1).
    pub weights: Vec<f64>,
    /// Means, `k × dim`.
    pub means: Vec<f64>,
    /// Variances per coordinate, one per component.
    pub variances: Vec<f64>,
}

impl IsotropicMixture {
    /// The mixture of `x_λ` (its components moved by the forward process to `λ`).
    #[must_use]
    pub fn at(&self, lambda: f64) -> Self {
        let (alpha, sigma) = alpha_sigma(lambda);
        Self {
            dim: self.dim,
            weights: self.weights.clone(),
            means: self.means.iter().map(|m| alpha * m).collect(),
            variances: self
                .variances
                .iter()
                .map(|v| alpha * alpha * v + sigma * sigma)
                .collect(),
        }
    }

    /// Each component's `ln w_k + log N(x; μ_k, v_k I)` at one point.
    fn component_logs(&self, x: &[f64]) -> Vec<f64> {
        let d = self.dim as f64;
        self.means
            .chunks_exact(self.dim)
            .zip(&self.weights)
            .zip(&self.variances)
            .map(|((m, w), v)| {
                let d2: f64 = x.iter().zip(m).map(|(a, b)| (a - b) * (a - b)).sum();
                w.ln() - 0.5 * d2 / v - 0.5 * d * (2.0 * std::f64::consts::PI * v).ln()
            })
            .collect()
    }

    /// `log p(x)` of one point.
    #[must_use]
    pub fn log_density(&self, x: &[f64]) -> f64 {
        let logs = self.component_logs(x);
        let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        max + logs.iter().map(|l| (l - max).exp()).sum::<f64>().ln()
    }

    /// `∇ log p(x)` into `grad` and `tr ∇² log p(x)` of one point.
    #[must_use]
    pub fn score_and_laplacian(&self, x: &[f64], grad: &mut [f64]) -> f64 {
        let logs = self.component_logs(x);
        let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let r: Vec<f64> = logs.iter().map(|l| (l - max).exp()).collect();
        let total: f64 = r.iter().sum();
        grad.fill(0.0);
        let mut laplacian = 0.0;
        for ((m, v), r) in self.means.chunks_exact(self.dim).zip(&self.variances).zip(&r) {
            let r = r / total;
            let mut g2 = 0.0;
            for ((g, a), b) in grad.iter_mut().zip(x).zip(m) {
                let gk = -(a - b) / v;
                *g += r * gk;
                g2 += gk * gk;
            }
            laplacian += r * (g2 - self.dim as f64 / v);
        }
        laplacian - grad.iter().map(|g| g * g).sum::<f64>()
    }
}

/// The mixture's exact `ε̂ = −σ ∇ log p_λ` at every `λ` (data: the mixture itself).
impl EpsField for IsotropicMixture {
    type Error = OdeError;

    fn dim(&self) -> usize {
        self.dim
    }

    fn eps(&mut self, x: &[f64], level: Level, eps: &mut [f64]) -> Result<(), OdeError> {
        let mut trace = vec![0.0; x.len() / self.dim];
        self.eps_and_trace(x, level, eps, &mut trace)
    }

    fn eps_and_trace(
        &mut self,
        x: &[f64],
        level: Level,
        eps: &mut [f64],
        trace: &mut [f64],
    ) -> Result<(), OdeError> {
        let (_, sigma) = alpha_sigma(level.lambda);
        let diffused = self.at(level.lambda);
        for ((p, e), tr) in x
            .chunks_exact(self.dim)
            .zip(eps.chunks_exact_mut(self.dim))
            .zip(trace)
        {
            let laplacian = diffused.score_and_laplacian(p, e);
            for v in e.iter_mut() {
                *v *= -sigma;
            }
            *tr = -sigma * laplacian;
        }
        Ok(())
    }
}
