//! The posterior `q(x_{t−1}|x_t, x_0)` and the reverse steps built on a predicted `ε`
//! (MATH.md §3): `x̂_0`, `μ_θ`, DDPM (Ho et al. 2020, Algorithm 2) and DDIM
//! (Song et al. 2021, eq. 12). Noise `z` is injected, so tests can fix it.

use super::forward::{Real, axpby, axpbypcz};
use super::schedule::Schedule;

/// `q(x_{t−1} | x_t, x_0) = N(coef_x0·x_0 + coef_xt·x_t, variance·I)` (Ho et al. 2020, eq. 7).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PosteriorCoefs {
    /// `√ᾱ_{t−1} β_t / (1 − ᾱ_t)`.
    pub coef_x0: f64,
    /// `√α_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t)`.
    pub coef_xt: f64,
    /// `β̃_t`.
    pub variance: f64,
}

/// The variance `σ_t²` of the learned reverse step `p_θ(x_{t−1}|x_t)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub enum ReverseVariance {
    /// `σ_t² = β_t` (the upper bound on the reverse entropy, Ho et al. 2020 §3.2).
    #[default]
    Beta,
    /// `σ_t² = β̃_t` (the lower bound; the true posterior variance).
    PosteriorVariance,
}

impl ReverseVariance {
    /// The label shown in the UI.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Beta => "σ² = β_t",
            Self::PosteriorVariance => "σ² = β̃_t",
        }
    }
}

impl Schedule {
    /// The coefficients of `q(x_{t−1} | x_t, x_0)` at `t ≥ 1`.
    #[must_use]
    pub fn q_posterior(&self, t: usize) -> PosteriorCoefs {
        assert!(t >= 1, "the posterior is defined for t ≥ 1");
        let denom = self.one_minus_alpha_bar(t);
        PosteriorCoefs {
            coef_x0: self.sqrt_alpha_bar(t - 1) * self.beta(t) / denom,
            coef_xt: self.alpha(t).sqrt() * self.one_minus_alpha_bar(t - 1) / denom,
            variance: self.posterior_variance(t),
        }
    }

    /// `σ_t²` of `p_θ(x_{t−1}|x_t)` for the chosen variance.
    #[must_use]
    pub fn reverse_variance(&self, t: usize, choice: ReverseVariance) -> f64 {
        match choice {
            ReverseVariance::Beta => self.beta(t),
            ReverseVariance::PosteriorVariance => self.posterior_variance(t),
        }
    }

    /// `x̂_0 = (x_t − √(1 − ᾱ_t) ε) / √ᾱ_t` as `(coef on x_t, coef on ε)`.
    ///
    /// Not finite at a zero-terminal-SNR `t = T` (`ᾱ_T = 0`): there `ε` says nothing
    /// about `x_0`, and a model must predict `x_0` directly (Lin et al. 2024 §3.2).
    #[must_use]
    pub fn x0_from_eps_coefs(&self, t: usize) -> (f64, f64) {
        let s = self.sqrt_alpha_bar(t);
        (1.0 / s, -self.sqrt_one_minus_alpha_bar(t) / s)
    }

    /// `μ_θ = (x_t − β_t/√(1 − ᾱ_t) · ε) / √α_t` as `(coef on x_t, coef on ε)`
    /// (Ho et al. 2020, eq. 11).
    #[must_use]
    pub fn p_mean_from_eps_coefs(&self, t: usize) -> (f64, f64) {
        let r = 1.0 / self.alpha(t).sqrt();
        (r, -r * self.beta(t) / self.sqrt_one_minus_alpha_bar(t))
    }

    /// The DDIM step `t → t_prev` with `η` (Song et al. 2021, eq. 12 and 16).
    ///
    /// # Panics
    /// If `t_prev >= t`, `t > T`, or `η` is outside `[0, 1]`.
    #[must_use]
    pub fn ddim_coefs(&self, t: usize, t_prev: usize, eta: f64) -> DdimCoefs {
        assert!(t_prev < t && t <= self.steps(), "DDIM needs t_prev < t ≤ T");
        assert!((0.0..=1.0).contains(&eta), "η must be in [0, 1]");
        let (ab, ab_prev) = (self.alpha_bar(t), self.alpha_bar(t_prev));
        let (omab, omab_prev) = (self.one_minus_alpha_bar(t), self.one_minus_alpha_bar(t_prev));
        // σ = η √((1 − ᾱ')/(1 − ᾱ)) √(1 − ᾱ/ᾱ'); 1 − ᾱ/ᾱ' written as (ᾱ' − ᾱ)/ᾱ'.
        let sigma = eta * (omab_prev / omab).sqrt() * ((ab_prev - ab) / ab_prev).sqrt();
        let dir = (omab_prev - sigma * sigma).max(0.0).sqrt();
        let (x0_xt, x0_eps) = self.x0_from_eps_coefs(t);
        let s_prev = ab_prev.sqrt();
        DdimCoefs {
            x0: s_prev,
            direction: dir,
            sigma,
            xt: s_prev * x0_xt,
            eps: s_prev * x0_eps + dir,
        }
    }
}

/// `x_{t'} = x0·x̂_0 + direction·ε_θ + σ·z`, and the same as `xt·x_t + eps·ε_θ + σ·z`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DdimCoefs {
    /// `√ᾱ_{t'}`, the factor on `x̂_0`.
    pub x0: f64,
    /// `√(1 − ᾱ_{t'} − σ²)`, the factor on `ε_θ` (the "direction pointing to x_t").
    pub direction: f64,
    /// `σ`, the standard deviation of the fresh noise.
    pub sigma: f64,
    /// Factor on `x_t` once `x̂_0` is substituted.
    pub xt: f64,
    /// Factor on `ε_θ` once `x̂_0` is substituted.
    pub eps: f64,
}

/// `μ̃_t(x_t, x_0)`, the mean of `q(x_{t−1} | x_t, x_0)`.
pub fn q_posterior_mean<R: Real>(schedule: &Schedule, t: usize, x0: &[R], xt: &[R], out: &mut [R]) {
    let c = schedule.q_posterior(t);
    axpby(c.coef_x0, x0, c.coef_xt, xt, out);
}

/// `x̂_0` from a predicted `ε`: "what the model thinks `x_0` is".
pub fn predict_x0_from_eps<R: Real>(schedule: &Schedule, t: usize, xt: &[R], eps: &[R], out: &mut [R]) {
    let (a, b) = schedule.x0_from_eps_coefs(t);
    axpby(a, xt, b, eps, out);
}

/// `ε` implied by an estimate of `x_0`: `(x_t − √ᾱ_t x̂_0) / √(1 − ᾱ_t)`.
pub fn eps_from_x0<R: Real>(schedule: &Schedule, t: usize, xt: &[R], x0: &[R], out: &mut [R]) {
    let s = 1.0 / schedule.sqrt_one_minus_alpha_bar(t);
    axpby(s, xt, -schedule.sqrt_alpha_bar(t) * s, x0, out);
}

/// `μ_θ(x_t, t)` from a predicted `ε`.
pub fn p_mean_from_eps<R: Real>(schedule: &Schedule, t: usize, xt: &[R], eps: &[R], out: &mut [R]) {
    let (a, b) = schedule.p_mean_from_eps_coefs(t);
    axpby(a, xt, b, eps, out);
}

/// One DDPM ancestral step (Ho et al. 2020, Algorithm 2):
/// `x_{t−1} = μ_θ(x_t, t) + σ_t z`, with no noise at `t = 1`.
pub fn ddpm_step<R: Real>(
    schedule: &Schedule,
    t: usize,
    xt: &[R],
    eps: &[R],
    variance: ReverseVariance,
    z: &[R],
    out: &mut [R],
) {
    let (a, b) = schedule.p_mean_from_eps_coefs(t);
    let sigma = if t > 1 {
        schedule.reverse_variance(t, variance).sqrt()
    } else {
        0.0
    };
    axpbypcz(a, xt, b, eps, sigma, z, out);
}

/// One DDIM step `t → t_prev` (Song et al. 2021, eq. 12); `z` is used only when `η > 0`.
#[allow(clippy::too_many_arguments)]
pub fn ddim_step<R: Real>(
    schedule: &Schedule,
    t: usize,
    t_prev: usize,
    eta: f64,
    xt: &[R],
    eps: &[R],
    z: &[R],
    out: &mut [R],
) {
    let c = schedule.ddim_coefs(t, t_prev, eta);
    axpbypcz(c.xt, xt, c.eps, eps, c.sigma, z, out);
}

/// The decreasing DDIM time steps `T = τ_k > … > τ_1 ≥ 1`, then 0, for `k` steps, evenly
/// spaced ("linear" selection, Song et al. 2021 §D.2); `k` is clamped to `1..=T`.
#[must_use]
pub fn ddim_timesteps(steps: usize, k: usize) -> Vec<usize> {
    let k = k.clamp(1, steps);
    let mut ts: Vec<usize> = (1..=k)
        .map(|i| ((i as f64 * steps as f64 / k as f64).round() as usize).clamp(1, steps))
        .collect();
    ts.dedup();
    ts.reverse();
    ts.push(0);
    ts
}
