//! Flow matching on the straight path (Lipman et al. 2023; rectified flow, Liu et al.
//! 2023): the mathematics, in `f64`, beside the diffusion of [`super::prob_flow`].
//!
//! The path from data to noise is the straight line `x_τ = (1 − τ) x_0 + τ ε`, `τ ∈ [0, 1]`,
//! so `α_τ = 1 − τ`, `σ_τ = τ`. A model regresses the conditional velocity
//! `dx_τ/dτ = ε − x_0`; its minimiser is the marginal velocity
//! `v(x, τ) = E[ε − x_0 | x_τ = x]`, and the ODE `dx/dτ = v(x, τ)` carries `p_0` (the data)
//! to `p_1 = N(0, I)` and back. Sampling integrates it from `τ = 1` to `0` (Euler, Heun);
//! the instantaneous change of variables (Chen et al. 2018) gives the exact likelihood,
//!
//! ```text
//! d log p_τ(x(τ))/dτ = −∇·v(x(τ), τ)
//! log p_0(x) = log N(x_1; 0, I) + ∫_0^1 ∇·v(x(τ), τ) dτ
//! ```
//!
//! integrated from the data (`τ = 0`) to the noise (`τ = 1`) by the same Dormand–Prince
//! solver ([`super::ode`]) as the probability flow. Unlike the diffusion ODE, nothing is
//! singular at either end: `α_1 = 0` is reached exactly and `x̂_0 = x − τ v` is defined at
//! every `τ`.

use super::Real;
use super::ode::{OdeError, Tolerance, solve_each};
use super::prob_flow::{
    FlowLikelihood, IsotropicMixture, augmented_state, evaluate_split, points_of_state, systems,
};

/// `(α_τ, σ_τ) = (1 − τ, τ)`, the straight path's coefficients.
#[must_use]
pub fn alpha_sigma(tau: f64) -> (f64, f64) {
    (1.0 - tau, tau)
}

/// `x_τ = (1 − τ) x_0 + τ ε` into `out` (the forward path; `q_sample` of flow matching).
pub fn path_sample<R: Real>(tau: f64, x0: &[R], eps: &[R], out: &mut [R]) {
    for ((o, x), e) in out.iter_mut().zip(x0).zip(eps) {
        *o = R::from_f64((1.0 - tau) * x.to_f64() + tau * e.to_f64());
    }
}

/// `x̂_0 = x_τ − τ v`: the straight path's data end seen from `x_τ` along the velocity.
pub fn predict_x0_from_velocity<R: Real>(tau: f64, x: &[R], v: &[R], out: &mut [R]) {
    euler_step(tau, x, v, out);
}

/// One Euler step of `dx/dτ = v` from `τ` to `τ − h`: `x' = x − h v(x, τ)`.
pub fn euler_step<R: Real>(h: f64, x: &[R], v: &[R], out: &mut [R]) {
    for ((o, x), v) in out.iter_mut().zip(x).zip(v) {
        *o = R::from_f64(x.to_f64() - h * v.to_f64());
    }
}

/// Heun's corrector from `τ` to `τ − h`, given `v(x, τ)` and `v(x̃, τ − h)` at the Euler
/// point `x̃`: `x' = x − h/2 (v(x, τ) + v(x̃, τ − h))` (the explicit trapezoidal rule;
/// second order, Karras et al. 2022, Algorithm 1).
pub fn heun_step<R: Real>(h: f64, x: &[R], v: &[R], v_euler: &[R], out: &mut [R]) {
    for (((o, x), v), w) in out.iter_mut().zip(x).zip(v).zip(v_euler) {
        *o = R::from_f64(x.to_f64() - 0.5 * h * (v.to_f64() + w.to_f64()));
    }
}

/// What the flow-matching ODE asks of a model: the velocity `v(x, τ)` of a batch and, for
/// the likelihood, each point's divergence `∇·v = tr ∂v/∂x`.
pub trait VelocityField {
    /// The error a model's evaluation can end in.
    type Error: From<OdeError>;

    /// Values per point.
    fn dim(&self) -> usize;

    /// `v(x, τ)` of the points `x` (`n × dim`) into `v`.
    ///
    /// # Errors
    /// The model's.
    fn velocity(&mut self, x: &[f64], tau: f64, v: &mut [f64]) -> Result<(), Self::Error>;

    /// `v(x, τ)` into `v` and `∇·v` per point into `div` (`n`).
    ///
    /// # Errors
    /// The model's; a model without an exact divergence says so.
    fn velocity_and_divergence(
        &mut self,
        x: &[f64],
        tau: f64,
        v: &mut [f64],
        div: &mut [f64],
    ) -> Result<(), Self::Error>;

    /// [`Self::velocity`] with a time per point (`taus.len() = n`). By default one point at
    /// a time.
    ///
    /// # Errors
    /// As [`Self::velocity`].
    fn velocity_each(&mut self, x: &[f64], taus: &[f64], v: &mut [f64]) -> Result<(), Self::Error> {
        let d = self.dim();
        for (i, &tau) in taus.iter().enumerate() {
            self.velocity(&x[i * d..(i + 1) * d], tau, &mut v[i * d..(i + 1) * d])?;
        }
        Ok(())
    }

    /// [`Self::velocity_and_divergence`] with a time per point (`taus.len() = n`): the
    /// likelihood's points each move at their own pace. By default one point at a time.
    ///
    /// # Errors
    /// As [`Self::velocity_and_divergence`].
    fn velocity_and_divergence_each(
        &mut self,
        x: &[f64],
        taus: &[f64],
        v: &mut [f64],
        div: &mut [f64],
    ) -> Result<(), Self::Error> {
        let d = self.dim();
        for (i, &tau) in taus.iter().enumerate() {
            let at = i * d..(i + 1) * d;
            self.velocity_and_divergence(&x[at.clone()], tau, &mut v[at], &mut div[i..=i])?;
        }
        Ok(())
    }
}

/// `log p_0(x)` of the points `x` (`n × dim`) under the flow of `field`: the state
/// `(x, Δ log p)` per point integrated from `τ = 0` to `1` at `tol` with the exact
/// divergence (module docs), each point with its own steps ([`solve_each`], all points in
/// flight at once).
///
/// # Errors
/// The model's or the solver's.
pub fn log_likelihood<F: VelocityField>(
    field: &mut F,
    x: &[f64],
    tol: Tolerance,
) -> Result<FlowLikelihood, F::Error> {
    let n = x.len() / field.dim();
    log_likelihood_with(field, x, tol, n.max(1), &mut |_| true)
}

/// [`log_likelihood`] with `slots` points in flight at once, telling `progress` how many
/// points are done after each network evaluation (`false` cancels).
///
/// # Errors
/// The model's or the solver's, or [`OdeError::Cancelled`].
pub fn log_likelihood_with<F: VelocityField>(
    field: &mut F,
    x: &[f64],
    tol: Tolerance,
    slots: usize,
    progress: &mut dyn FnMut(usize) -> bool,
) -> Result<FlowLikelihood, F::Error> {
    let d = field.dim();
    let y0 = augmented_state(x, d);
    let (mut pts, mut v, mut div) = (Vec::new(), Vec::new(), Vec::new());
    let mut f = |taus: &[f64], y: &[f64], dy: &mut [f64], partial: &[bool]| -> Result<(), F::Error> {
        let n = taus.len();
        pts.resize(n * d, 0.0);
        v.resize(n * d, 0.0);
        div.resize(n, 0.0);
        points_of_state(y, d, &mut pts);
        let pick = |rows: &[usize]| rows.iter().map(|&i| taus[i]).collect::<Vec<_>>();
        evaluate_split(
            (&pts, d, partial),
            (&mut v, &mut div),
            &mut |rows, x, out, dv| match dv {
                Some(dv) => field.velocity_and_divergence_each(x, &pick(rows), out, dv),
                None => field.velocity_each(x, &pick(rows), out),
            },
        )?;
        for (i, out) in dy.chunks_exact_mut(d + 1).enumerate() {
            out[..d].copy_from_slice(&v[i * d..(i + 1) * d]);
            out[d] = div[i];
        }
        Ok(())
    };
    let (y, stats) = solve_each(&mut f, (0.0, 1.0), &y0, tol, systems(d, slots), progress)?;
    Ok(FlowLikelihood::at_noise_end(&y, d, stats))
}

/// An isotropic Gaussian mixture (the data, `τ = 0`) moved along the straight path: each
/// component `k` stays Gaussian, `N((1 − τ) μ_k, v_k I)` with `v_k = (1 − τ)² s_k² + τ²`,
/// so the marginal velocity and its divergence are known in closed form — the analytic
/// reference of the flow-matching likelihood and samplers (the 8 Gaussians is one).
///
/// With `r_k = x − (1 − τ) μ_k`, `E[ε | x, k] = τ r_k / v_k` and
/// `E[x_0 | x, k] = μ_k + (1 − τ) s_k² r_k / v_k`, so the component's velocity is
/// `u_k = a_k r_k − μ_k` with `a_k = (τ − (1 − τ) s_k²) / v_k`, and
///
/// ```text
/// v(x, τ) = Σ_k w_k(x) u_k(x),   w_k ∝ π_k N(x; (1 − τ) μ_k, v_k I)
/// ∇·v     = Σ_k w_k (d a_k + g_k · u_k) − ḡ · v,   g_k = ∇ log N_k = −r_k / v_k, ḡ = Σ_k w_k g_k
/// ```
///
/// (the second term from `∇w_k = w_k (g_k − ḡ)`).
#[derive(Clone, Debug, PartialEq)]
pub struct StraightPathMixture(pub IsotropicMixture);

impl StraightPathMixture {
    /// `v(x, τ)` of one point into `v`; returns `∇·v` there.
    #[must_use]
    pub fn velocity_and_divergence_at(&self, x: &[f64], tau: f64, v: &mut [f64]) -> f64 {
        let m = &self.0;
        let d = m.dim;
        let a = 1.0 - tau;
        // Per component: log weight, a_k, v_k.
        let comps: Vec<(f64, f64, f64)> = m
            .means
            .chunks_exact(d)
            .zip(&m.weights)
            .zip(&m.variances)
            .map(|((mu, w), s2)| {
                let var = a * a * s2 + tau * tau;
                let r2: f64 = x.iter().zip(mu).map(|(x, mu)| (x - a * mu).powi(2)).sum();
                let log_w =
                    w.ln() - 0.5 * r2 / var - 0.5 * d as f64 * (2.0 * std::f64::consts::PI * var).ln();
                (log_w, (tau - a * s2) / var, var)
            })
            .collect();
        let max = comps.iter().map(|c| c.0).fold(f64::NEG_INFINITY, f64::max);
        let total: f64 = comps.iter().map(|c| (c.0 - max).exp()).sum();
        v.fill(0.0);
        let mut g_bar = vec![0.0; d];
        let mut div = 0.0;
        let (mut r, mut u) = (vec![0.0; d], vec![0.0; d]);
        for (mu, &(log_w, ak, var)) in m.means.chunks_exact(d).zip(&comps) {
            let w = (log_w - max).exp() / total;
            let mut gu = 0.0;
            for i in 0..d {
                r[i] = x[i] - a * mu[i];
                u[i] = ak * r[i] - mu[i];
                gu += -r[i] / var * u[i];
                v[i] += w * u[i];
                g_bar[i] += w * (-r[i] / var);
            }
            div += w * (d as f64 * ak + gu);
        }
        div - g_bar.iter().zip(v.iter()).map(|(g, v)| g * v).sum::<f64>()
    }

    /// `log p_τ(x)` of one point (the moved mixture's density).
    #[must_use]
    pub fn log_density_at(&self, x: &[f64], tau: f64) -> f64 {
        let m = &self.0;
        let a = 1.0 - tau;
        IsotropicMixture {
            dim: m.dim,
            weights: m.weights.clone(),
            means: m.means.iter().map(|mu| a * mu).collect(),
            variances: m.variances.iter().map(|s2| a * a * s2 + tau * tau).collect(),
        }
        .log_density(x)
    }
}

/// The mixture's exact velocity at every `τ`.
impl VelocityField for StraightPathMixture {
    type Error = OdeError;

    fn dim(&self) -> usize {
        self.0.dim
    }

    fn velocity(&mut self, x: &[f64], tau: f64, v: &mut [f64]) -> Result<(), OdeError> {
        let mut div = vec![0.0; x.len() / self.0.dim];
        self.velocity_and_divergence(x, tau, v, &mut div)
    }

    fn velocity_and_divergence(
        &mut self,
        x: &[f64],
        tau: f64,
        v: &mut [f64],
        div: &mut [f64],
    ) -> Result<(), OdeError> {
        let d = self.0.dim;
        for ((p, out), dv) in x.chunks_exact(d).zip(v.chunks_exact_mut(d)).zip(div) {
            *dv = self.velocity_and_divergence_at(p, tau, out);
        }
        Ok(())
    }
}
