//! Noise schedules: `α_t`, `β_t`, `ᾱ_t`, `SNR(t)` and `β̃_t` for `t = 0..T` (MATH.md §1).
//!
//! A [`Schedule`] is built once from a [`ScheduleSpec`] and holds every derived quantity
//! as a table indexed by `t` (index 0 is `x_0`: `ᾱ_0 = 1`, `β_0 = 0`). Every schedule
//! clips `β_t` to at most [`MAX_BETA`] and computes `ᾱ_t` as the running product of the
//! clipped `1 − β_t`; the zero-terminal-SNR option (Lin et al. 2024) then rescales
//! `√ᾱ_t` so that `ᾱ_T = 0` exactly.

use std::fmt::{self, Write as _};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Fewest steps a schedule may have.
pub const MIN_STEPS: usize = 2;
/// Most steps a schedule may have.
pub const MAX_STEPS: usize = 100_000;
/// Every schedule clips `β_t` to at most this (Nichol & Dhariwal 2021).
pub const MAX_BETA: f64 = 0.999;
/// Offset `s` of the cosine schedule (Nichol & Dhariwal 2021, eq. 17).
pub const COSINE_S: f64 = 0.008;
/// Start, end and temperature `τ` of the sigmoid schedule on `ᾱ` (Jabri et al. 2022).
pub const SIGMOID_START_END_TAU: (f64, f64, f64) = (-3.0, 3.0, 1.0);
/// Default `β` of the constant schedule.
pub const DEFAULT_CONSTANT_BETA: f64 = 0.02;

/// Why a schedule cannot be built. The messages are shown to users as they are.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    /// `T` outside `MIN_STEPS..=MAX_STEPS`.
    #[error("the number of steps T must be in {MIN_STEPS}..={MAX_STEPS}, got {0}")]
    Steps(usize),
    /// A `β` parameter outside the open interval `(0, 1)`.
    #[error("{name} must be in (0, 1), got {value}")]
    Beta {
        /// Which parameter (`beta-start`, `beta-end`, `beta`).
        name: &'static str,
        /// The rejected value.
        value: f64,
    },
    /// `ᾱ_t` underflows to 0 before `T`: the rest of the chain would add nothing.
    #[error(
        "ᾱ_t underflows to 0 at t = {t} of T = {steps}: the signal is gone long before the \
         last step; use a smaller β or fewer steps"
    )]
    Underflow {
        /// First step at which `ᾱ_t` is not a normal positive number.
        t: usize,
        /// `T`.
        steps: usize,
    },
    /// Steps of a sub-chain that are not strictly increasing within `1..=T`.
    #[error("sub-chain steps: {0}")]
    SubchainTimes(String),
    /// A name that is not a schedule.
    #[error("unknown schedule '{0}' (valid: linear, cosine, quadratic, sigmoid, constant)")]
    UnknownKind(String),
}

/// The family of a schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ScheduleKind {
    /// `β_t` evenly spaced (Ho et al. 2020) with Nichol & Dhariwal's `1000/T` scaling.
    Linear,
    /// `ᾱ_t = f(t/T)/f(0)`, `f(u) = cos²(((u + s)/(1 + s))·π/2)` (Nichol & Dhariwal 2021).
    Cosine,
    /// `√β_t` evenly spaced (Stable Diffusion's "scaled linear" with its `β` ends).
    Quadratic,
    /// A sigmoid on `ᾱ` (Jabri et al. 2022).
    Sigmoid,
    /// `β_t = β` for every step: the lecture's plain Markov chain.
    Constant,
}

impl ScheduleKind {
    /// Every schedule family, in the order the UI lists them.
    pub const ALL: [Self; 5] = [
        Self::Linear,
        Self::Cosine,
        Self::Quadratic,
        Self::Sigmoid,
        Self::Constant,
    ];

    /// The name used on the command line and in files.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Linear => "linear",
            Self::Cosine => "cosine",
            Self::Quadratic => "quadratic",
            Self::Sigmoid => "sigmoid",
            Self::Constant => "constant",
        }
    }

    /// The label shown in the UI.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Linear => "linear",
            Self::Cosine => "cosine",
            Self::Quadratic => "quadratic",
            Self::Sigmoid => "sigmoid (on ᾱ)",
            Self::Constant => "constant β",
        }
    }

    /// Whether the family takes `β_1` and `β_T` as parameters.
    #[must_use]
    pub const fn uses_beta_range(self) -> bool {
        matches!(self, Self::Linear | Self::Quadratic)
    }
}

impl fmt::Display for ScheduleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ScheduleKind {
    type Err = ScheduleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|k| k.name() == lower)
            .ok_or_else(|| ScheduleError::UnknownKind(s.to_owned()))
    }
}

/// Everything that defines a schedule: its family, `T` and parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScheduleSpec {
    /// The family.
    pub kind: ScheduleKind,
    /// `T`, the number of steps.
    pub steps: usize,
    /// `β_1` of linear and quadratic; `None` is `1e-4 · 1000/T`.
    pub beta_start: Option<f64>,
    /// `β_T` of linear and quadratic; `None` is `0.02 · 1000/T`.
    pub beta_end: Option<f64>,
    /// `β` of the constant schedule; `None` is [`DEFAULT_CONSTANT_BETA`].
    pub beta: Option<f64>,
    /// Rescale so that `ᾱ_T = 0` (Lin et al. 2024).
    pub zero_terminal_snr: bool,
}

impl Default for ScheduleSpec {
    fn default() -> Self {
        Self::new(ScheduleKind::Linear, 1000)
    }
}

impl ScheduleSpec {
    /// A schedule of `kind` with `steps` steps and default parameters.
    #[must_use]
    pub const fn new(kind: ScheduleKind, steps: usize) -> Self {
        Self {
            kind,
            steps,
            beta_start: None,
            beta_end: None,
            beta: None,
            zero_terminal_snr: false,
        }
    }

    /// `β_1` in effect for linear and quadratic (the user's, or `1e-4 · 1000/T`).
    #[must_use]
    pub fn effective_beta_start(&self) -> f64 {
        self.beta_start.unwrap_or(1e-4 * 1000.0 / self.steps as f64)
    }

    /// `β_T` in effect for linear and quadratic (the user's, or `0.02 · 1000/T`).
    #[must_use]
    pub fn effective_beta_end(&self) -> f64 {
        self.beta_end.unwrap_or(0.02 * 1000.0 / self.steps as f64)
    }

    /// `β` in effect for the constant schedule.
    #[must_use]
    pub fn effective_beta(&self) -> f64 {
        self.beta.unwrap_or(DEFAULT_CONSTANT_BETA)
    }

    /// A short description, e.g. `cosine, T = 1000, zero terminal SNR`.
    #[must_use]
    pub fn describe(&self) -> String {
        let mut s = format!("{}, T = {}", self.kind.label(), self.steps);
        if self.kind.uses_beta_range() {
            let _ = write!(
                s,
                ", β₁ = {:.3e}, β_T = {:.3e}",
                self.effective_beta_start(),
                self.effective_beta_end()
            );
        }
        if self.kind == ScheduleKind::Constant {
            let _ = write!(s, ", β = {}", self.effective_beta());
        }
        if self.zero_terminal_snr {
            s += ", zero terminal SNR";
        }
        s
    }

    fn validate(&self) -> Result<(), ScheduleError> {
        if !(MIN_STEPS..=MAX_STEPS).contains(&self.steps) {
            return Err(ScheduleError::Steps(self.steps));
        }
        let check = |name: &'static str, value: Option<f64>| match value {
            Some(v) if !(v > 0.0 && v < 1.0) => Err(ScheduleError::Beta { name, value: v }),
            _ => Ok(()),
        };
        check("beta-start", self.beta_start)?;
        check("beta-end", self.beta_end)?;
        check("beta", self.beta)
    }

    /// The raw `β_1..β_T` of the family, before clipping (index `t − 1`).
    fn raw_betas(&self) -> Vec<f64> {
        let n = self.steps;
        let frac = |t: usize| (t - 1) as f64 / (n - 1) as f64;
        match self.kind {
            ScheduleKind::Linear => {
                let (b1, bt) = (self.effective_beta_start(), self.effective_beta_end());
                (1..=n).map(|t| b1 + (bt - b1) * frac(t)).collect()
            }
            ScheduleKind::Quadratic => {
                let (r1, rt) = (
                    self.effective_beta_start().sqrt(),
                    self.effective_beta_end().sqrt(),
                );
                (1..=n)
                    .map(|t| {
                        let r = r1 + (rt - r1) * frac(t);
                        r * r
                    })
                    .collect()
            }
            ScheduleKind::Constant => vec![self.effective_beta(); n],
            ScheduleKind::Cosine => betas_from_alpha_bar(n, cosine_alpha_bar),
            ScheduleKind::Sigmoid => betas_from_alpha_bar(n, sigmoid_alpha_bar),
        }
    }
}

/// `ᾱ(u)` of the cosine schedule, normalised so that `ᾱ(0) = 1`.
fn cosine_alpha_bar(u: f64) -> f64 {
    let f = |u: f64| ((u + COSINE_S) / (1.0 + COSINE_S) * std::f64::consts::FRAC_PI_2).cos();
    let (fu, f0) = (f(u), f(0.0));
    (fu * fu) / (f0 * f0)
}

/// `ᾱ(u)` of the sigmoid schedule (Jabri et al. 2022), `ᾱ(0) = 1`, `ᾱ(1) = 0`.
fn sigmoid_alpha_bar(u: f64) -> f64 {
    let (start, end, tau) = SIGMOID_START_END_TAU;
    let sigma = |x: f64| 1.0 / (1.0 + (-x).exp());
    let (v_start, v_end) = (sigma(start / tau), sigma(end / tau));
    (v_end - sigma((u * (end - start) + start) / tau)) / (v_end - v_start)
}

/// `β_t = 1 − ᾱ(t/T)/ᾱ((t−1)/T)` for a continuous `ᾱ(u)`.
fn betas_from_alpha_bar(n: usize, alpha_bar: fn(f64) -> f64) -> Vec<f64> {
    (1..=n)
        .map(|t| {
            let (now, before) = (
                alpha_bar(t as f64 / n as f64),
                alpha_bar((t - 1) as f64 / n as f64),
            );
            // (before − now)/before rather than 1 − now/before: exact for tiny β.
            (before - now) / before
        })
        .collect()
}

/// A noise schedule with every derived quantity tabulated for `t = 0..=T`.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    spec: ScheduleSpec,
    /// `β_t`; `β_0 = 0`.
    beta: Vec<f64>,
    /// `α_t = 1 − β_t`; `α_0 = 1`.
    alpha: Vec<f64>,
    /// `ᾱ_t`; `ᾱ_0 = 1`.
    alpha_bar: Vec<f64>,
    /// `1 − ᾱ_t`, computed without cancellation.
    one_minus_alpha_bar: Vec<f64>,
    /// `ln ᾱ_t`, computed as a sum of `ln(1 − β_i)` (finite where `ᾱ_t` is tiny).
    log_alpha_bar: Vec<f64>,
    /// For a sub-chain: the source's `T` and the steps taken from it.
    subchain: Option<(usize, Vec<usize>)>,
}

impl Schedule {
    /// Builds the schedule of `spec`, validating `T` and the `β` parameters.
    pub fn new(spec: &ScheduleSpec) -> Result<Self, ScheduleError> {
        spec.validate()?;
        let n = spec.steps;
        let mut beta = Vec::with_capacity(n + 1);
        let mut log_alpha_bar = Vec::with_capacity(n + 1);
        beta.push(0.0);
        log_alpha_bar.push(0.0);
        let mut log_ab = 0.0_f64;
        for raw in spec.raw_betas() {
            let b = raw.clamp(0.0, MAX_BETA);
            log_ab += (-b).ln_1p();
            beta.push(b);
            log_alpha_bar.push(log_ab);
        }
        let mut alpha_bar: Vec<f64> = log_alpha_bar.iter().map(|l| l.exp()).collect();
        let mut one_minus_alpha_bar: Vec<f64> = log_alpha_bar.iter().map(|l| -l.exp_m1()).collect();
        one_minus_alpha_bar[0] = 0.0; // −expm1(0) is −0.0

        if spec.zero_terminal_snr {
            // Lin et al. 2024, Algorithm 1: shift √ᾱ so √ᾱ_T = 0, scale so √ᾱ_1 is kept.
            let (r1, rt) = (alpha_bar[1].sqrt(), alpha_bar[n].sqrt());
            for t in 2..=n {
                let r = (alpha_bar[t].sqrt() - rt) * r1 / (r1 - rt);
                alpha_bar[t] = r * r;
                one_minus_alpha_bar[t] = 1.0 - r * r;
                log_alpha_bar[t] = 2.0 * r.ln();
            }
            alpha_bar[n] = 0.0;
            one_minus_alpha_bar[n] = 1.0;
            for t in 2..=n {
                // β_t = 1 − ᾱ_t/ᾱ_{t−1}, written without cancellation.
                beta[t] = (alpha_bar[t - 1] - alpha_bar[t]) / alpha_bar[t - 1];
            }
        }
        let last = if spec.zero_terminal_snr { n - 1 } else { n };
        if let Some(t) = (1..=last).find(|&t| !alpha_bar[t].is_normal()) {
            return Err(ScheduleError::Underflow { t, steps: n });
        }
        let alpha = beta.iter().map(|b| 1.0 - b).collect();
        Ok(Self {
            spec: spec.clone(),
            beta,
            alpha,
            alpha_bar,
            one_minus_alpha_bar,
            log_alpha_bar,
            subchain: None,
        })
    }

    /// The spec this schedule was built from.
    #[must_use]
    pub const fn spec(&self) -> &ScheduleSpec {
        &self.spec
    }

    /// `T`.
    #[must_use]
    pub const fn steps(&self) -> usize {
        self.spec.steps
    }

    /// `α_t` (`α_0 = 1`).
    #[must_use]
    pub fn alpha(&self, t: usize) -> f64 {
        self.alpha[t]
    }

    /// `β_t = 1 − α_t` (`β_0 = 0`).
    #[must_use]
    pub fn beta(&self, t: usize) -> f64 {
        self.beta[t]
    }

    /// `ᾱ_t = ∏_{i≤t} α_i` (`ᾱ_0 = 1`).
    #[must_use]
    pub fn alpha_bar(&self, t: usize) -> f64 {
        self.alpha_bar[t]
    }

    /// `1 − ᾱ_t`, accurate where `ᾱ_t` is close to 1.
    #[must_use]
    pub fn one_minus_alpha_bar(&self, t: usize) -> f64 {
        self.one_minus_alpha_bar[t]
    }

    /// `√ᾱ_t`: how much of `x_0` is left in `x_t`.
    #[must_use]
    pub fn sqrt_alpha_bar(&self, t: usize) -> f64 {
        self.alpha_bar[t].sqrt()
    }

    /// `√(1 − ᾱ_t)`: the standard deviation of the noise in `x_t`.
    #[must_use]
    pub fn sqrt_one_minus_alpha_bar(&self, t: usize) -> f64 {
        self.one_minus_alpha_bar[t].sqrt()
    }

    /// `SNR(t) = ᾱ_t / (1 − ᾱ_t)` (`+∞` at `t = 0`).
    #[must_use]
    pub fn snr(&self, t: usize) -> f64 {
        self.alpha_bar[t] / self.one_minus_alpha_bar[t]
    }

    /// `log SNR(t) = ln ᾱ_t − ln(1 − ᾱ_t)` (`−∞` where `ᾱ_T = 0`, `+∞` at `t = 0`).
    #[must_use]
    pub fn log_snr(&self, t: usize) -> f64 {
        self.log_alpha_bar[t] - self.one_minus_alpha_bar[t].ln()
    }

    /// `β̃_t = (1 − ᾱ_{t−1}) β_t / (1 − ᾱ_t)`, the variance of `q(x_{t−1}|x_t, x_0)`
    /// (`β̃_1 = 0`). Defined for `t ≥ 1`.
    #[must_use]
    pub fn posterior_variance(&self, t: usize) -> f64 {
        assert!(t >= 1, "β̃_t is defined for t ≥ 1");
        self.one_minus_alpha_bar[t - 1] * self.beta[t] / self.one_minus_alpha_bar[t]
    }

    /// One row of the schedule table at `t ≥ 1`.
    #[must_use]
    pub fn row(&self, t: usize) -> ScheduleRow {
        ScheduleRow {
            t,
            alpha: self.alpha(t),
            beta: self.beta(t),
            alpha_bar: self.alpha_bar(t),
            log_snr: self.log_snr(t),
            posterior_variance: self.posterior_variance(t),
        }
    }

    /// The sub-chain of this schedule at the steps `times` (strictly increasing, each in
    /// `1..=T`): a schedule of `times.len()` steps whose step `k` has
    /// `ᾱ_k = ᾱ(times[k−1])`, `α_k = ᾱ_k/ᾱ_{k−1}` and `β_k = 1 − α_k` (computed as
    /// `(ᾱ_{k−1} − ᾱ_k)/ᾱ_{k−1}`, without cancellation). Marginally, `x_{t_k}` of this
    /// chain is distributed as `x_{times[k−1]}` of the source: it is the source chain
    /// observed at those steps. Its [`spec`](Self::spec) is the source's with
    /// `steps = times.len()`: a sub-chain is not rebuilt from its spec alone; keep
    /// `times` (and the source spec, [`Schedule::subchain_source`]) with it.
    pub fn subchain(&self, times: &[usize]) -> Result<Self, ScheduleError> {
        let n = self.steps();
        if times.is_empty() {
            return Err(ScheduleError::Steps(0));
        }
        if let Some(&t) = times.iter().find(|&&t| t == 0 || t > n) {
            return Err(ScheduleError::SubchainTimes(format!(
                "step {t} is outside 1..={n}"
            )));
        }
        if times.windows(2).any(|w| w[1] <= w[0]) {
            return Err(ScheduleError::SubchainTimes(
                "the steps must be strictly increasing".into(),
            ));
        }
        let mut beta = vec![0.0];
        let mut alpha_bar = vec![1.0];
        let mut one_minus_alpha_bar = vec![0.0];
        let mut log_alpha_bar = vec![0.0];
        let mut prev = 0usize;
        for &t in times {
            let (before, now) = (self.alpha_bar[prev], self.alpha_bar[t]);
            beta.push(if before > 0.0 {
                (before - now) / before
            } else {
                1.0
            });
            alpha_bar.push(now);
            one_minus_alpha_bar.push(self.one_minus_alpha_bar[t]);
            log_alpha_bar.push(self.log_alpha_bar[t]);
            prev = t;
        }
        let alpha = beta.iter().map(|b| 1.0 - b).collect();
        let mut spec = self.spec.clone();
        spec.steps = times.len();
        Ok(Self {
            spec,
            beta,
            alpha,
            alpha_bar,
            one_minus_alpha_bar,
            log_alpha_bar,
            subchain: Some((self.spec.steps, times.to_vec())),
        })
    }

    /// For a [`subchain`](Self::subchain): the source's `T` and the steps taken.
    #[must_use]
    pub fn subchain_source(&self) -> Option<(usize, &[usize])> {
        self.subchain.as_ref().map(|(n, t)| (*n, t.as_slice()))
    }

    /// The table `t = 1..=T`, as `diffscope schedule` writes it.
    pub fn rows(&self) -> impl Iterator<Item = ScheduleRow> + '_ {
        (1..=self.steps()).map(|t| self.row(t))
    }
}

/// One row of the schedule table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScheduleRow {
    /// Step `t`.
    pub t: usize,
    /// `α_t`.
    pub alpha: f64,
    /// `β_t`.
    pub beta: f64,
    /// `ᾱ_t`.
    pub alpha_bar: f64,
    /// `log SNR(t)`.
    pub log_snr: f64,
    /// `β̃_t`.
    pub posterior_variance: f64,
}

impl ScheduleRow {
    /// The CSV header matching [`ScheduleRow::csv_line`].
    pub const CSV_HEADER: &'static str = "t,alpha,beta,alpha_bar,log_snr,posterior_variance";

    /// The row as CSV, numbers in Rust's shortest round-trip form (`{:?}`: exponent
    /// notation below 1e-5, so tiny `ᾱ_t` stay short; `-inf` for `log SNR = −∞`).
    #[must_use]
    pub fn csv_line(&self) -> String {
        format!(
            "{},{:?},{:?},{:?},{:?},{:?}",
            self.t, self.alpha, self.beta, self.alpha_bar, self.log_snr, self.posterior_variance
        )
    }
}
