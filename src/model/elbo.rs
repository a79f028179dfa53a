// Over 500 lines: the estimator (three entry points over one request), both forms, and the
// curves the ELBO tab plots from a report; one coherent piece of the mathematics.
//! The ELBO of a model (learned or ideal) on data, term by term (MATH.md §4), by Monte
//! Carlo over a batch of `x_0` and the forward noise, in two forms:
//!
//! - **denoising matching** (what diffusion papers report):
//!   `−ELBO = L_recon + L_prior + Σ_{t=2..T} L_t`, `L_t = E KL(q(x_{t−1}|x_t,x_0) ‖ p_θ(x_{t−1}|x_t))`;
//! - **consistency** (the lecture's slide "ELBO for VDMs"):
//!   `−ELBO = L_recon + E_{q(x_{T−1}|x_0)} KL(q(x_T|x_{T−1}) ‖ N(0, I)) + Σ_{t=1..T−1} C_t`.
//!
//! # Sign conventions
//! Every term is a positive magnitude in nats per example, as in MATH.md: `recon` is
//! `−E ln p_θ(x_0|x_1)` (a negative log-likelihood, which can be negative for continuous
//! data), `prior` and `step` are the KL terms, and their sum is `−ELBO`, an upper bound on
//! `−ln p_θ(x_0)`. Bits per dimension are `−ELBO / (d ln 2)`.
//!
//! # The estimator
//! Every term is evaluated once per example with one draw of its own noise, counter-based
//! ([`crate::diffusion::noise`]) under the caller's seed, element `i·d + k` of a stream for
//! coordinate `k` of example `i`: the estimate does not depend on how the work is split,
//! and every term has its own stream, so terms are independent given `x_0`.
//!
//! - Denoising matching, step `t ≥ 2`: `x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε` (stream
//!   [`step_stream`]`(t)`), then the exact Gaussian KL through the ε form
//!   `β_t²/(2σ_t² α_t (1−ᾱ_t)) ‖ε − ε_θ‖²` plus the variance part. The `ε` is the one
//!   implied by the `f32` `x_t` the model saw, so the ε form equals the KL with explicit
//!   means at that `x_t`.
//! - Reconstruction (both forms, the same draw, stream `step_stream(1)`): `x_1` from the
//!   closed form, `μ_θ(x_1, 1)`, and the density of `N(μ_θ, β_1 I)` (`σ_1² = β_1` for
//!   either reverse variance, `β̃_1 = 0`), or for 8-bit images the discretised Gaussian
//!   decoder of Ho et al. 2020.
//! - Prior, denoising matching: exact, `KL(q(x_T|x_0) ‖ N(0, I))` (it still varies with
//!   `x_0`, so it has a standard error over the data).
//! - Consistency, `1 ≤ t < T`: `x_{t−1} ~ q(x_{t−1}|x_0)` (stream [`prev_stream`]`(t)`),
//!   `x_{t+1} ~ q(x_{t+1}|x_{t−1})` (stream [`next_stream`]`(t)`), then the expectation over
//!   `x_t` given both in closed form ([`consistency_term`]; why that and not the slide's
//!   literal KL is explained there). Prior: `x_{T−1} ~ q(x_{T−1}|x_0)` (stream
//!   [`CONSISTENCY_PRIOR_STREAM`]) and the exact KL given it.
//!
//! Each term's standard error is the sample standard deviation of its per-example
//! values over `√n` (0 for `n = 1`); the total's is that of the per-example totals (the
//! terms are independent given `x_0` but share `x_0`, so it is not the root sum of
//! squares). All arithmetic is `f64`; the model sees `f32` inputs. Each step evaluates
//! all `n` examples at one `t` (the 2D model and the conv net in one call — the conv net
//! splits it into parallel chunks itself —, the U-Net in parallel chunks of 8 images): `T`
//! steps of model work in all.
//!
//! The consistency step terms are differences of two KLs (see [`consistency_term`]) and
//! can be negative; the consistency prior is much larger than the denoising-matching one,
//! and the steps near `T` give the difference back.
//!
//! With `discrete`, the data are 8-bit images: every value is first rounded to the
//! nearest of the 256 levels `2k/255 − 1` (the bound is of those levels; the digits'
//! 17 levels `v/8 − 1` are not on that grid), and the decoder is the discretised one.

use rayon::prelude::*;

use super::ModelError;
use super::sample::Denoiser;
use crate::diffusion::elbo::{
    bits_per_dim, bridge_coefs, consistency_prior_term, consistency_term, denoising_term,
    discretized_gaussian_log_likelihood, gaussian_log_density, nearest_8bit_level, prior_term,
};
use crate::diffusion::noise::StreamKey;
use crate::diffusion::{ReverseVariance, Schedule};

/// The base of the ELBO's noise streams.
pub const ELBO_STREAM: u64 = 0xE1B0_0000_0000_0000;
/// The stream of `x_{T−1}` in the consistency form's prior term.
pub const CONSISTENCY_PRIOR_STREAM: u64 = ELBO_STREAM + (3 << 32);

/// The stream of the `ε` of `x_t` in the denoising-matching term `t` (and, at `t = 1`, of
/// `x_1` in the reconstruction term of both forms).
#[must_use]
pub const fn step_stream(t: usize) -> u64 {
    ELBO_STREAM + t as u64
}

/// The stream of `x_{t−1}` in the consistency term `t`.
#[must_use]
pub const fn prev_stream(t: usize) -> u64 {
    ELBO_STREAM + (1 << 32) + t as u64
}

/// The stream of `x_{t+1}` given `x_{t−1}` in the consistency term `t`.
#[must_use]
pub const fn next_stream(t: usize) -> u64 {
    ELBO_STREAM + (2 << 32) + t as u64
}

/// Which decomposition of the ELBO to estimate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ElboForm {
    /// `L_recon + L_prior + Σ_{t=2..T} L_t` (MATH.md §4; low variance).
    Denoising,
    /// The lecture's consistency form (MATH.md §4; two random variables per term).
    Consistency,
}

impl ElboForm {
    /// A short name.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Denoising => "denoising matching",
            Self::Consistency => "consistency",
        }
    }
}

/// What a term of the ELBO is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TermKind {
    /// `−E ln p_θ(x_0|x_1)`.
    Recon,
    /// The prior matching term.
    Prior,
    /// A denoising-matching term `L_t` or a consistency term `C_t`.
    Step,
}

impl TermKind {
    /// The name used in CSV files: `recon`, `prior` or `step`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Recon => "recon",
            Self::Prior => "prior",
            Self::Step => "step",
        }
    }
}

/// One term of the ELBO: its mean over the examples and the standard error of that mean.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ElboTerm {
    /// What it is.
    pub kind: TermKind,
    /// Its step: 1 for `recon`, `T` for `prior`, `t` for a step term.
    pub t: usize,
    /// Nats per example, a positive magnitude (see the module's sign conventions).
    pub nats: f64,
    /// Standard error of `nats`.
    pub std_err: f64,
}

/// The estimated bound and its terms.
#[derive(Clone, Debug, PartialEq)]
pub struct ElboReport {
    /// The decomposition.
    pub form: ElboForm,
    /// `recon`, then the step terms in increasing `t`, then `prior`.
    pub terms: Vec<ElboTerm>,
    /// `−ELBO` in nats per example: the sum of the terms.
    pub total_nats: f64,
    /// Standard error of `total_nats`, from the per-example totals.
    pub total_std_err: f64,
    /// `−ELBO / (d ln 2)`.
    pub bits_per_dim: f64,
    /// `d`, values per example.
    pub dim: usize,
    /// Examples.
    pub n: usize,
}

impl ElboReport {
    /// The standard error of `bits_per_dim`.
    #[must_use]
    pub fn bits_per_dim_std_err(&self) -> f64 {
        self.total_std_err / (self.dim as f64 * std::f64::consts::LN_2)
    }
}

/// `λ_t = ln SNR(t)` for `t = 0..=T` (`λ_0 = +∞`): the `x` of the log-SNR view of the
/// terms, and what [`ElboForm::log_snr_width`] takes.
#[must_use]
pub fn log_snrs(schedule: &Schedule) -> Vec<f64> {
    (0..=schedule.steps()).map(|t| schedule.log_snr(t)).collect()
}

impl ElboForm {
    /// The width in log SNR the term at `t` stands for, from `lambda` = [`log_snrs`]:
    /// `λ_{t−1} − λ_t` for a denoising-matching term; `(λ_{t−1} − λ_{t+1})/2` for the
    /// consistency term at `t`; one-sided at the ends (`λ_1 − λ_2` at `t = 1`,
    /// `λ_{T−1} − λ_T` at `T`). NaN where that is not a positive finite number (zero
    /// terminal SNR at `T`).
    #[must_use]
    pub fn log_snr_width(self, lambda: &[f64], t: usize) -> f64 {
        let steps = lambda.len() - 1;
        let width = match self {
            Self::Denoising if t >= 2 => lambda[t - 1] - lambda[t],
            Self::Consistency if t >= 2 && t < steps => (lambda[t - 1] - lambda[t + 1]) / 2.0,
            _ if t < steps => lambda[t] - lambda[t + 1],
            _ => lambda[t - 1] - lambda[t],
        };
        if width.is_finite() && width > 0.0 {
            width
        } else {
            f64::NAN
        }
    }

    /// `nats` of the term at `t` per unit log SNR: `nats / `[`Self::log_snr_width`] (the
    /// view in which schedules with different `T` are comparable).
    #[must_use]
    pub fn per_unit_log_snr(self, lambda: &[f64], t: usize, nats: f64) -> f64 {
        nats / self.log_snr_width(lambda, t)
    }
}

impl ElboReport {
    /// `L_recon + Σ_{s ≤ t} L_s` at each step `t` as `(t, nats)`, from `recon` at 1, then
    /// with the prior at `T`: the last is `−ELBO`.
    #[must_use]
    pub fn cumulative(&self) -> Vec<(usize, f64)> {
        let mut sum = self
            .terms
            .iter()
            .find(|t| t.kind == TermKind::Recon)
            .map_or(0.0, |t| t.nats);
        let mut points = vec![(1, sum)];
        for term in self.terms.iter().filter(|t| t.kind == TermKind::Step) {
            sum += term.nats;
            points.push((term.t, sum));
        }
        if let Some(prior) = self.terms.iter().find(|t| t.kind == TermKind::Prior) {
            points.push((prior.t, sum + prior.nats));
        }
        points
    }
}

/// Mean and standard error of per-example values.
fn mean_and_std_err(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

/// `out[i] = ε(seed, stream, i)` in `f64`, in parallel for large buffers.
fn fill_noise(seed: u64, stream: u64, out: &mut [f64]) {
    const CHUNK: usize = 8 * 1024;
    let key = StreamKey::new(seed, stream);
    out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, chunk)| {
        let base = (c * CHUNK) as u64;
        for (i, v) in chunk.iter_mut().enumerate() {
            *v = key.normal(base + i as u64);
        }
    });
}

/// Images per call of the U-Net.
const UNET_CHUNK: usize = 8;

/// `ε̂` for a batch all at step `t`: what [`estimate_with`] asks of a model.
pub type PredictEps<'a> = dyn FnMut(&[f32], usize) -> Result<Vec<f32>, ModelError> + 'a;

/// What to estimate: the bound of which data under which schedule, reverse variance and
/// form, with which noise (everything but the model and the progress callback).
#[derive(Clone, Copy, Debug)]
pub struct ElboRequest<'a> {
    /// The schedule of the forward process and of the model's reverse steps.
    pub schedule: &'a Schedule,
    /// `σ_t²` of the reverse steps.
    pub variance: ReverseVariance,
    /// Which decomposition.
    pub form: ElboForm,
    /// The examples, `n × dim` values (CHW for images).
    pub x0: &'a [f32],
    /// Values per example.
    pub dim: usize,
    /// 8-bit images: round to the 256 levels and use the discretised decoder.
    pub discrete: bool,
    /// Seed of the Monte-Carlo noise.
    pub seed: u64,
}

/// Estimates the ELBO of `denoiser` on the request's `x0` (`n × dim` values) under its
/// `schedule` with the reverse variance `variance`, in `form`; see the module
/// documentation for the estimator and the sign conventions. `progress` is told the fraction done after every
/// step and cancels the estimate (an error) by returning `false`.
///
/// A learned model should be given its own schedule (and data of its shape: the 2D model's
/// dimension is checked, the image model's only as far as whole images go). The ideal
/// denoiser is evaluated in parallel over the examples.
///
/// # Errors
/// Bad data (empty, ragged, not finite, outside `[−1, 1]` with `discrete`, or not of the
/// model's dimension), a schedule
/// with `α_t = 0` (zero terminal SNR: `μ_θ` of an ε-model is not finite at `T`), a model
/// that fails or returns the wrong number of values, or a cancel.
pub fn estimate(
    denoiser: &Denoiser,
    request: &ElboRequest<'_>,
    progress: &mut dyn FnMut(f64) -> bool,
) -> Result<ElboReport, ModelError> {
    estimate_under(denoiser, None, request, progress)
}

/// For each step `t = 1..=T` of `target` (index `t − 1`), the fractional step of `own`
/// with the same log SNR, by linear interpolation of `own`'s log SNR between its integer
/// steps, clamped to `[1, T_own]` where `target` leaves `own`'s range. A network trained
/// under `own` is a function of the noise level: asked there, it denoises `target`'s
/// `x_t` (the variational diffusion model view, Kingma et al. 2021). Where the two
/// schedules agree the steps are exactly `1, 2, …`.
#[must_use]
pub fn equivalent_steps(own: &Schedule, target: &Schedule) -> Vec<f32> {
    let n = own.steps();
    // log SNR of `own`, decreasing in t (strictly for any schedule with β_t > 0).
    let lam: Vec<f64> = (1..=n).map(|t| own.log_snr(t)).collect();
    (1..=target.steps())
        .map(|t| {
            let l = target.log_snr(t);
            if l.is_nan() || l >= lam[0] {
                return 1.0;
            }
            if l <= lam[n - 1] {
                return n as f32;
            }
            // The first index whose log SNR is at most l: lam[k − 1] > l ≥ lam[k].
            let k = lam.partition_point(|&v| v > l);
            let (hi, lo) = (lam[k - 1], lam[k]);
            let frac = if hi > lo { (hi - l) / (hi - lo) } else { 0.0 };
            (k as f64 + frac) as f32
        })
        .collect()
}

/// [`estimate`] with a learned model trained under `own` (its own schedule) evaluated
/// under the request's `schedule`: at step `t` the network is asked at
/// [`equivalent_steps`]`(own, schedule)[t − 1]`. With `own` `None` (or equal to
/// `schedule`) it is [`estimate`].
///
/// # Errors
/// As [`estimate`].
pub fn estimate_under(
    denoiser: &Denoiser,
    own: Option<&Schedule>,
    request: &ElboRequest<'_>,
    progress: &mut dyn FnMut(f64) -> bool,
) -> Result<ElboReport, ModelError> {
    let (schedule, dim) = (request.schedule, request.dim);
    let model_dim = match denoiser {
        Denoiser::Learned(super::Inference::Mlp(_)) => Some(2),
        Denoiser::Learned(super::Inference::Conv(_) | super::Inference::UNet(_)) => None,
        Denoiser::Ideal(ideal) => Some(ideal.dim()),
        Denoiser::Guided(..) => {
            return Err(ModelError::Data(
                "guidance is a rule for sampling, not a model: the ELBO is of the network itself".into(),
            ));
        }
    };
    if let Some(m) = model_dim.filter(|&m| m != dim) {
        return Err(ModelError::Data(format!(
            "the model denoises examples of {m} values, the data have {dim}"
        )));
    }
    let steps_of_model: Option<Vec<f32>> = own
        .filter(|own| own.spec() != schedule.spec())
        .map(|own| equivalent_steps(own, schedule));
    let model_t = |t: usize| steps_of_model.as_ref().map_or(t as f32, |s| s[t - 1]);
    let mut predict = |xt: &[f32], t: usize| -> Result<Vec<f32>, ModelError> {
        match denoiser {
            // The U-Net runs its matrix products on one thread each: small chunks of images
            // in parallel keep both cores busy and every buffer small (for 500 digits 1.7×
            // faster than one call; chunks of 64 fault in fresh pages). The conv net
            // splits a call into chunks itself.
            Denoiser::Learned(net @ super::Inference::UNet(_)) => {
                let parts = xt
                    .par_chunks(UNET_CHUNK * dim)
                    .map(|c| net.predict_eps_at(c, model_t(t)))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(parts.concat())
            }
            // A guided denoiser was refused above.
            Denoiser::Learned(net) | Denoiser::Guided(net, _) => net.predict_eps_at(xt, model_t(t)),
            Denoiser::Ideal(ideal) => {
                let d = ideal.dim();
                let mut out = vec![0f32; xt.len()];
                // A few examples per task: each costs a pass over the whole data set.
                xt.par_chunks(16 * d)
                    .zip(out.par_chunks_mut(16 * d))
                    .for_each(|(x, o)| {
                        let x: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
                        let mut eps = vec![0.0; x.len()];
                        ideal.predict_eps_batch(schedule, t, &x, &mut eps);
                        for (o, e) in o.iter_mut().zip(eps) {
                            *o = e as f32;
                        }
                    });
                Ok(out)
            }
        }
    };
    estimate_with(&mut predict, request, progress)
}

/// [`estimate`] for any `ε` predictor: `predict(x_t, t)` returns `ε̂` for `n × dim` values
/// all at step `t` (tests plug in closed-form denoisers here).
///
/// # Errors
/// As [`estimate`].
pub fn estimate_with(
    predict: &mut PredictEps<'_>,
    request: &ElboRequest<'_>,
    progress: &mut dyn FnMut(f64) -> bool,
) -> Result<ElboReport, ModelError> {
    let &ElboRequest {
        schedule,
        variance,
        form,
        x0,
        dim,
        discrete,
        seed,
    } = request;
    if dim == 0 || x0.is_empty() || !x0.len().is_multiple_of(dim) {
        return Err(ModelError::Data(format!(
            "{} values are not whole examples of {dim} values",
            x0.len()
        )));
    }
    if x0.iter().any(|v| !v.is_finite()) {
        return Err(ModelError::Data(
            "the data hold a value that is not finite".into(),
        ));
    }
    if discrete && x0.iter().any(|v| !(-1.0..=1.0).contains(v)) {
        return Err(ModelError::Data("8-bit image data must lie in [-1, 1]".into()));
    }
    let steps = schedule.steps();
    if let Some(t) = (1..=steps).find(|&t| schedule.alpha(t) <= 0.0) {
        return Err(ModelError::Data(format!(
            "α_{t} = 0 (zero terminal SNR): an ε-predicting model's μ_θ is not finite there, \
             and neither is the ELBO"
        )));
    }
    let mut x0: Vec<f64> = x0.iter().map(|&v| f64::from(v)).collect();
    if discrete {
        for v in &mut x0 {
            *v = nearest_8bit_level(*v);
        }
    }
    let n = x0.len() / dim;
    let mut est = Estimator {
        predict,
        schedule,
        variance,
        x0: &x0,
        dim,
        seed,
        totals: vec![0.0; n],
        terms: Vec::with_capacity(steps + 1),
    };
    let mut done = 0usize;
    let mut tick = |done: &mut usize| -> Result<(), ModelError> {
        *done += 1;
        if progress(*done as f64 / steps as f64) {
            Ok(())
        } else {
            Err(ModelError::Data("the ELBO estimate was cancelled".into()))
        }
    };
    est.recon(discrete)?;
    tick(&mut done)?;
    match form {
        ElboForm::Denoising => {
            for t in 2..=steps {
                est.denoising_step(t)?;
                tick(&mut done)?;
            }
            let values: Vec<f64> = x0
                .chunks_exact(dim)
                .map(|x| prior_term(schedule, dim, x.iter().map(|v| v * v).sum()))
                .collect();
            est.push(TermKind::Prior, steps, &values);
        }
        ElboForm::Consistency => {
            for t in 1..steps {
                est.consistency_step(t)?;
                tick(&mut done)?;
            }
            est.consistency_prior();
        }
    }
    let (total_nats, total_std_err) = mean_and_std_err(&est.totals);
    Ok(ElboReport {
        form,
        terms: est.terms,
        total_nats,
        total_std_err,
        bits_per_dim: bits_per_dim(-total_nats, dim),
        dim,
        n,
    })
}

/// The running state of one estimate.
struct Estimator<'e, 'p> {
    predict: &'e mut PredictEps<'p>,
    schedule: &'e Schedule,
    variance: ReverseVariance,
    x0: &'e [f64],
    dim: usize,
    seed: u64,
    /// Per-example running sums of the terms.
    totals: Vec<f64>,
    terms: Vec<ElboTerm>,
}

impl Estimator<'_, '_> {
    /// Records a term from its per-example values.
    fn push(&mut self, kind: TermKind, t: usize, values: &[f64]) {
        for (total, v) in self.totals.iter_mut().zip(values) {
            *total += v;
        }
        let (nats, std_err) = mean_and_std_err(values);
        self.terms.push(ElboTerm {
            kind,
            t,
            nats,
            std_err,
        });
    }

    /// `x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε` with `ε` from the step stream of `t`, as the `f32`
    /// values the model sees.
    fn closed_form_sample(&self, t: usize) -> Vec<f32> {
        let mut eps = vec![0.0; self.x0.len()];
        fill_noise(self.seed, step_stream(t), &mut eps);
        let (s, r) = (
            self.schedule.sqrt_alpha_bar(t),
            self.schedule.sqrt_one_minus_alpha_bar(t),
        );
        self.x0
            .iter()
            .zip(&eps)
            .map(|(x, e)| (s * x + r * e) as f32)
            .collect()
    }

    /// `ε̂(x_t, t)`, checked for length and finiteness.
    fn eps_hat(&mut self, xt: &[f32], t: usize) -> Result<Vec<f32>, ModelError> {
        let eps = (self.predict)(xt, t)?;
        if eps.len() != xt.len() {
            return Err(ModelError::Data(format!(
                "the model returned {} values for {} inputs",
                eps.len(),
                xt.len()
            )));
        }
        if eps.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::Diverged(format!(
                "the model predicted a non-finite ε at t = {t}"
            )));
        }
        Ok(eps)
    }

    /// `μ_θ(x_t, t) = a x_t + b ε̂` per value, in `f64`.
    fn p_mean(&self, t: usize, xt: &[f32], eps: &[f32]) -> Vec<f64> {
        let (a, b) = self.schedule.p_mean_from_eps_coefs(t);
        xt.iter()
            .zip(eps)
            .map(|(&x, &e)| a * f64::from(x) + b * f64::from(e))
            .collect()
    }

    /// `−ln p_θ(x_0|x_1)`, `x_1 ~ q(x_1|x_0)`.
    fn recon(&mut self, discrete: bool) -> Result<(), ModelError> {
        let x1 = self.closed_form_sample(1);
        let eps = self.eps_hat(&x1, 1)?;
        let mean = self.p_mean(1, &x1, &eps);
        let var = self.schedule.beta(1);
        let (d, sd) = (self.dim, var.sqrt());
        let values: Vec<f64> = self
            .x0
            .par_chunks(d)
            .zip(mean.par_chunks(d))
            .map(|(x, m)| {
                if discrete {
                    -x.iter()
                        .zip(m)
                        .map(|(&v, &mu)| discretized_gaussian_log_likelihood(v, mu, sd))
                        .sum::<f64>()
                } else {
                    let sq: f64 = x.iter().zip(m).map(|(a, b)| (a - b) * (a - b)).sum();
                    -gaussian_log_density(d, var, sq)
                }
            })
            .collect();
        self.push(TermKind::Recon, 1, &values);
        Ok(())
    }

    /// `L_t`, `t ≥ 2`, through the ε form.
    fn denoising_step(&mut self, t: usize) -> Result<(), ModelError> {
        let xt = self.closed_form_sample(t);
        let eps_hat = self.eps_hat(&xt, t)?;
        let (s, r) = (
            self.schedule.sqrt_alpha_bar(t),
            self.schedule.sqrt_one_minus_alpha_bar(t),
        );
        let d = self.dim;
        let (schedule, variance) = (self.schedule, self.variance);
        let values: Vec<f64> = self
            .x0
            .par_chunks(d)
            .zip(xt.par_chunks(d))
            .zip(eps_hat.par_chunks(d))
            .map(|((x0, xt), e)| {
                // The ε that the (rounded) x_t the model saw implies.
                let sq: f64 = x0
                    .iter()
                    .zip(xt)
                    .zip(e)
                    .map(|((&x0, &xt), &e)| {
                        let eps = (f64::from(xt) - s * x0) / r;
                        let diff = eps - f64::from(e);
                        diff * diff
                    })
                    .sum();
                denoising_term(schedule, t, variance, d, sq)
            })
            .collect();
        self.push(TermKind::Step, t, &values);
        Ok(())
    }

    /// `C_t`, `1 ≤ t < T`.
    fn consistency_step(&mut self, t: usize) -> Result<(), ModelError> {
        let len = self.x0.len();
        let (s_prev, r_prev) = (
            self.schedule.sqrt_alpha_bar(t - 1),
            self.schedule.sqrt_one_minus_alpha_bar(t - 1),
        );
        let bridge = bridge_coefs(self.schedule, t);
        let mut prev = vec![0.0; len];
        if t > 1 {
            fill_noise(self.seed, prev_stream(t), &mut prev);
        }
        for (p, x) in prev.iter_mut().zip(self.x0) {
            *p = s_prev * x + r_prev * *p;
        }
        let mut next = vec![0.0; len];
        fill_noise(self.seed, next_stream(t), &mut next);
        let next: Vec<f32> = prev
            .iter()
            .zip(&next)
            .map(|(p, e)| (bridge.next_mean * p + bridge.next_std * e) as f32)
            .collect();
        let eps_hat = self.eps_hat(&next, t + 1)?;
        let mu = self.p_mean(t + 1, &next, &eps_hat);
        let sqrt_alpha = self.schedule.alpha(t).sqrt();
        let d = self.dim;
        let (schedule, variance) = (self.schedule, self.variance);
        let values: Vec<f64> = prev
            .par_chunks(d)
            .zip(next.par_chunks(d))
            .zip(mu.par_chunks(d))
            .map(|((a, c), mu)| {
                let (mut to_model, mut to_forward) = (0.0, 0.0);
                for ((&a, &c), &mu) in a.iter().zip(c).zip(mu) {
                    let m = bridge.coef_prev * a + bridge.coef_next * f64::from(c);
                    to_model += (m - mu) * (m - mu);
                    to_forward += (m - sqrt_alpha * a) * (m - sqrt_alpha * a);
                }
                consistency_term(schedule, t, variance, d, to_model, to_forward)
            })
            .collect();
        self.push(TermKind::Step, t, &values);
        Ok(())
    }

    /// `KL(q(x_T|x_{T−1}) ‖ N(0, I))`, `x_{T−1} ~ q(x_{T−1}|x_0)`.
    fn consistency_prior(&mut self) {
        let steps = self.schedule.steps();
        let (s, r) = (
            self.schedule.sqrt_alpha_bar(steps - 1),
            self.schedule.sqrt_one_minus_alpha_bar(steps - 1),
        );
        let mut eps = vec![0.0; self.x0.len()];
        if steps > 1 {
            fill_noise(self.seed, CONSISTENCY_PRIOR_STREAM, &mut eps);
        }
        let d = self.dim;
        let values: Vec<f64> = self
            .x0
            .chunks_exact(d)
            .zip(eps.chunks_exact(d))
            .map(|(x, e)| {
                let sq: f64 = x.iter().zip(e).map(|(x, e)| (s * x + r * e).powi(2)).sum();
                consistency_prior_term(self.schedule, d, sq)
            })
            .collect();
        self.push(TermKind::Prior, steps, &values);
    }
}
