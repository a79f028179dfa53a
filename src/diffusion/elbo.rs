//! The closed-form pieces of the ELBO (MATH.md §4): the Gaussian KL, the prior term,
//! the weights of the denoising-matching terms, the reconstruction densities and the
//! conversion to bits per dimension. All in nats.

use std::f64::consts::{LN_2, PI};

use super::reverse::ReverseVariance;
use super::schedule::Schedule;

/// Half-width of one bin of the 8-bit grid on `[−1, 1]`.
pub const HALF_BIN: f64 = 1.0 / 255.0;

/// `KL(N(μ₁, s₁ I) ‖ N(μ₂, s₂ I))` in `d` dimensions, from `‖μ₁ − μ₂‖²`:
/// `d/2 · (s₁/s₂ − 1 + ln(s₂/s₁)) + ‖μ₁ − μ₂‖² / (2 s₂)`.
#[must_use]
pub fn gaussian_kl_iso(d: usize, s1: f64, s2: f64, mean_sq_dist: f64) -> f64 {
    let r = s1 / s2;
    d as f64 / 2.0 * (r - 1.0 - r.ln()) + mean_sq_dist / (2.0 * s2)
}

/// `‖a − b‖²`.
#[must_use]
pub fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// The prior term `L_prior = KL(q(x_T | x_0) ‖ N(0, I))`
/// `= ½ (d(1 − ᾱ_T) + ᾱ_T ‖x_0‖² − d − d ln(1 − ᾱ_T))`, exact, from `‖x_0‖²`.
#[must_use]
pub fn prior_term(schedule: &Schedule, d: usize, x0_sq_norm: f64) -> f64 {
    let t = schedule.steps();
    let ab = schedule.alpha_bar(t);
    // d(1 − ᾱ) − d − d ln(1 − ᾱ) = −d(ᾱ + ln(1 − ᾱ)); ln_1p keeps it exact for tiny ᾱ_T.
    0.5 * (ab * x0_sq_norm - d as f64 * (ab + (-ab).ln_1p()))
}

/// The weight of `‖ε − ε_θ‖²` in the mean part of `L_t`:
/// `β_t² / (2 σ_t² α_t (1 − ᾱ_t))` (Ho et al. 2020, eq. 12), for `t ≥ 2`.
#[must_use]
pub fn eps_loss_weight(schedule: &Schedule, t: usize, variance: ReverseVariance) -> f64 {
    let beta = schedule.beta(t);
    let sigma2 = schedule.reverse_variance(t, variance);
    beta * beta / (2.0 * sigma2 * schedule.alpha(t) * schedule.one_minus_alpha_bar(t))
}

/// `L_t = KL(q(x_{t−1}|x_t, x_0) ‖ p_θ(x_{t−1}|x_t))` for one `x_0` and one `x_t`, from
/// `‖ε − ε_θ‖²`, in `d` dimensions, for `t ≥ 2`: the variance part plus the mean part.
#[must_use]
pub fn denoising_term(
    schedule: &Schedule,
    t: usize,
    variance: ReverseVariance,
    d: usize,
    eps_sq_err: f64,
) -> f64 {
    let s1 = schedule.posterior_variance(t);
    let s2 = schedule.reverse_variance(t, variance);
    // The mean part, ‖μ̃ − μ_θ‖²/(2σ²), equals eps_loss_weight · ‖ε − ε_θ‖².
    gaussian_kl_iso(d, s1, s2, 0.0) + eps_loss_weight(schedule, t, variance) * eps_sq_err
}

/// The VDM weight `½ (SNR(t−1) − SNR(t))` of `‖x_0 − x̂_0‖²` in `L_t` with
/// `σ_t² = β̃_t` (Kingma et al. 2021, eq. 13), for `t ≥ 2`.
#[must_use]
pub fn snr_weight(schedule: &Schedule, t: usize) -> f64 {
    0.5 * (schedule.snr(t - 1) - schedule.snr(t))
}

/// `ln N(x; μ, σ² I)` from `‖x − μ‖²` in `d` dimensions.
#[must_use]
pub fn gaussian_log_density(d: usize, variance: f64, sq_dist: f64) -> f64 {
    -0.5 * d as f64 * (2.0 * PI * variance).ln() - sq_dist / (2.0 * variance)
}

/// `Φ(x)`, the standard normal CDF.
#[must_use]
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// `ln Φ(x)`, accurate in the far left tail.
fn log_normal_cdf(x: f64) -> f64 {
    if x > -30.0 {
        normal_cdf(x).ln()
    } else {
        // Asymptotic series of Mills' ratio: Φ(x) ≈ φ(x)/|x| · (1 − 1/x² + 3/x⁴).
        let x2 = x * x;
        -0.5 * x2 - (-x).ln() - 0.5 * (2.0 * PI).ln() + (1.0 - 1.0 / x2 + 3.0 / (x2 * x2)).ln()
    }
}

/// The nearest of the 256 levels `2k/255 − 1` of the 8-bit grid on `[−1, 1]` (values
/// outside are clamped to the end levels).
#[must_use]
pub fn nearest_8bit_level(v: f64) -> f64 {
    2.0 * ((v + 1.0) * 127.5).round().clamp(0.0, 255.0) / 255.0 - 1.0
}

/// The discretised Gaussian log-likelihood of one value `v` on the 8-bit grid of
/// `[−1, 1]` (Ho et al. 2020 §3.3): `ln ∫ N(u; μ, σ²) du` over `[v − 1/255, v + 1/255]`,
/// with the edge bins extended to `−∞` (at `v = −1`) and `+∞` (at `v = 1`).
///
/// Exact (erfc), where the reference implementation uses a tanh approximation of `Φ`.
#[must_use]
pub fn discretized_gaussian_log_likelihood(v: f64, mean: f64, std_dev: f64) -> f64 {
    let lo = (v - HALF_BIN - mean) / std_dev;
    let hi = (v + HALF_BIN - mean) / std_dev;
    if v <= -1.0 + 1e-9 {
        log_normal_cdf(hi)
    } else if v >= 1.0 - 1e-9 {
        log_normal_cdf(-lo)
    } else if lo > 0.0 {
        // Both ends in the right tail: Φ(hi) − Φ(lo) = Φ(−lo) − Φ(−hi) without cancellation.
        log_diff_cdf(-hi, -lo)
    } else {
        log_diff_cdf(lo, hi)
    }
}

/// `ln(Φ(b) − Φ(a))` for `a < b ≤ ` a few: both CDFs are small or moderate here.
fn log_diff_cdf(a: f64, b: f64) -> f64 {
    let (la, lb) = (log_normal_cdf(a), log_normal_cdf(b));
    // ln(Φ(b) − Φ(a)) = ln Φ(b) + ln(1 − exp(ln Φ(a) − ln Φ(b)))
    lb + (-(la - lb).exp()).ln_1p()
}

/// Bits per dimension of a bound in nats: `bpd = −ELBO / (d · ln 2)`.
#[must_use]
pub fn bits_per_dim(elbo_nats: f64, d: usize) -> f64 {
    -elbo_nats / (d as f64 * LN_2)
}

/// `q(x_t | x_{t−1}, x_{t+1}) = N(coef_prev·x_{t−1} + coef_next·x_{t+1}, variance·I)`, the
/// forward chain's "bridge" over one step, and the two-step marginal
/// `q(x_{t+1} | x_{t−1}) = N(next_mean·x_{t−1}, next_std²·I)` it is drawn with; `1 ≤ t < T`.
///
/// With `c = 1 − α_t α_{t+1} = β_t + β_{t+1} − β_t β_{t+1}`:
/// `coef_prev = √α_t β_{t+1} / c`, `coef_next = √α_{t+1} β_t / c`, `variance = β_t β_{t+1} / c`,
/// `next_mean = √(α_t α_{t+1})`, `next_std = √c`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BridgeCoefs {
    /// Factor on `x_{t−1}` in the bridge mean.
    pub coef_prev: f64,
    /// Factor on `x_{t+1}` in the bridge mean.
    pub coef_next: f64,
    /// Variance of the bridge.
    pub variance: f64,
    /// `√(α_t α_{t+1})`: the mean of `x_{t+1}` given `x_{t−1}`, per unit of `x_{t−1}`.
    pub next_mean: f64,
    /// `√(1 − α_t α_{t+1})`: the standard deviation of `x_{t+1}` given `x_{t−1}`.
    pub next_std: f64,
}

/// The [`BridgeCoefs`] at `t` (`1 ≤ t < T`).
///
/// # Panics
/// If `t` is 0 or not below `T`.
#[must_use]
pub fn bridge_coefs(schedule: &Schedule, t: usize) -> BridgeCoefs {
    assert!(
        t >= 1 && t < schedule.steps(),
        "the bridge is defined for 1 ≤ t < T"
    );
    let (b1, b2) = (schedule.beta(t), schedule.beta(t + 1));
    let (a1, a2) = (schedule.alpha(t), schedule.alpha(t + 1));
    // 1 − α_t α_{t+1} without cancellation for tiny β.
    let c = b1 + b2 - b1 * b2;
    BridgeCoefs {
        coef_prev: a1.sqrt() * b2 / c,
        coef_next: a2.sqrt() * b1 / c,
        variance: b1 * b2 / c,
        next_mean: (a1 * a2).sqrt(),
        next_std: c.sqrt(),
    }
}

/// One consistency term of the ELBO (MATH.md §4, the lecture's "ELBO for VDMs"), for one
/// draw of `(x_{t−1}, x_{t+1}) ~ q(x_{t−1}, x_{t+1} | x_0)`, `1 ≤ t < T`:
/// `E_{q(x_t|x_{t−1}, x_{t+1})}[ln q(x_t|x_{t−1}) − ln p_θ(x_t|x_{t+1})]`
/// `= KL(r ‖ p_θ(x_t|x_{t+1})) − KL(r ‖ q(x_t|x_{t−1}))`, `r = q(x_t|x_{t−1}, x_{t+1})`.
///
/// The arguments are `‖m − μ_θ(x_{t+1}, t+1)‖²` and `‖m − √α_t x_{t−1}‖²`, `m` the bridge
/// mean of [`bridge_coefs`]; `p_θ(x_t|x_{t+1})` has variance `σ_{t+1}²` of `variance`.
///
/// Why not the slide's `KL(q(x_t|x_{t−1}) ‖ p_θ(x_t|x_{t+1}))` as written (Luo 2022,
/// eq. 45): under `q(x_{1:T}|x_0)`, `x_{t+1}` is drawn *from* `x_t`, so given
/// `(x_{t−1}, x_{t+1})` the step `x_t` follows the bridge `r`, not `q(x_t|x_{t−1})`. The
/// literal KL draws `x_t` independently of `x_{t+1}`, which costs of the order of `d/2`
/// nats per step (thousands of nats over `T = 1000`): it is not the ELBO. This term sums,
/// with the reconstruction and prior terms of the same form, to exactly the ELBO in
/// expectation. It is a difference of two KLs, not a KL: its mean can be negative (near
/// `T`, where the consistency prior `≈ d/2 · (β_T − 1 − ln β_T)` is large, the steps give
/// that back).
#[must_use]
pub fn consistency_term(
    schedule: &Schedule,
    t: usize,
    variance: ReverseVariance,
    d: usize,
    bridge_to_model_sq: f64,
    bridge_to_forward_sq: f64,
) -> f64 {
    let r = bridge_coefs(schedule, t).variance;
    let s_model = schedule.reverse_variance(t + 1, variance);
    gaussian_kl_iso(d, r, s_model, bridge_to_model_sq)
        - gaussian_kl_iso(d, r, schedule.beta(t), bridge_to_forward_sq)
}

/// The prior term of the consistency form for one draw of `x_{T−1} ~ q(x_{T−1}|x_0)`:
/// `KL(q(x_T|x_{T−1}) ‖ N(0, I)) = d/2 · (β_T − 1 − ln β_T) + α_T ‖x_{T−1}‖² / 2`.
#[must_use]
pub fn consistency_prior_term(schedule: &Schedule, d: usize, x_prev_sq_norm: f64) -> f64 {
    let t = schedule.steps();
    gaussian_kl_iso(d, schedule.beta(t), 1.0, schedule.alpha(t) * x_prev_sq_norm)
}
