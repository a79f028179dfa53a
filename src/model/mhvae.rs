// Over 500 lines: the MHVAE's model, its ELBO in the lecture's consistency form (and the
// ELBO tab's denoising form for fixed encoders) and its training step — one piece of the
// mathematics.
//! A Markovian hierarchical VAE (lecture slides "Hierarchical VAE", "ELBO for MHVAE"):
//! latents `z_1 … z_T` each of the data's dimension, `z_0 = x`,
//!
//! ```text
//! q(z_t|z_{t−1})   = N(μ_φt(z_{t−1}), diag σ²_φt(z_{t−1}))   learned: encoder.t.*  (d → 2d)
//!                  = N(√α_t z_{t−1}, (1 − α_t) I)            fixed: a schedule's step t
//! p_θ(z_{t−1}|z_t) = N(μ_θt(z_t), σ_t² I)                    decoder.t.*  (d → d)
//! p(z_T)           = N(0, I)
//! ```
//!
//! `σ_t²` is one learned scalar per level (`decoder.t.log_var`) with learned encoders; with
//! fixed encoders it is fixed to the schedule's `β_t` (`σ_1² = β_1`): exactly the DDPM
//! decoder with `ReverseVariance::Beta` that the ELBO tab's estimator evaluates, so
//! the two estimates of the same decoders can be compared ([`MhvaeElbo::denoising`]). With
//! fixed encoders there are no encoder parameters at all; only the decoders train.
//!
//! Training maximises the single-sample reparameterised joint ELBO
//! `log p(x|z_1) + Σ_{t=2}^T log p(z_{t−1}|z_t) + log p(z_T) − Σ_t log q(z_t|z_{t−1})`,
//! with `log p(z_T) − log q(z_T|z_{T−1})` replaced by `−KL(q(z_T|z_{T−1}) ‖ N(0, I))` in
//! closed form and each other `−log q(z_t|z_{t−1})` by its expectation given `z_{t−1}`, the
//! entropy (Rao–Blackwellisation: the same expectation, less noise). The settings' β is
//! not used: an MHVAE has no single KL term to weight.
//!
//! The reported terms are those of the lecture's slide "ELBO for VDMs" (the consistency
//! form of MATH.md §4), from joint samples `z_{1:T} ~ q(·|x)`:
//! `recon = E log p_θ(x|z_1)`, `prior = E_{q(z_{T−1}|x)} KL(q(z_T|z_{T−1}) ‖ N(0, I))`
//! (the inner KL in closed form), the consistency terms
//! `C_t = E_q[log q(z_t|z_{t−1}) − log p_θ(z_t|z_{t+1})]`, `t = 1..T−1` (the `log q` by its
//! conditional expectation, as in training), and `ELBO = recon − prior − Σ C_t`. The
//! expectation of `C_t` is exactly MATH.md §4's `E[KL(r‖p_θ) − KL(r‖q)]` with the bridge
//! `r = q(z_t|z_{t−1}, z_{t+1})`: integrate `z_t` out given its two neighbours first.

use candle_core::Tensor;

use super::dense::Dense;
use super::elbo::{ElboForm, ElboRequest, estimate_with};
use super::ops::{tensor_vec, tensors, vars};
use super::params::{AdamW, Param};
use super::vae::{Estimate, LN_2PI, VaeTrainSettings, check_data, checked_update, matrix, normals};
use super::{ModelError, check_layout};
use crate::diffusion::elbo::prior_term;
use crate::diffusion::{ReverseVariance, Schedule};

/// Most levels.
pub const MAX_LEVELS: usize = 8;
/// Noise streams of the ELBO: draw `s`, level `t` uses `ELBO_STREAM + 16 s + t`.
const ELBO_STREAM: u64 = 0x3DAE_1000_0000_0000;
/// Streams of `encode_levels` (level `t`: `+ t`).
const ENCODE_STREAM: u64 = 0x3DAE_2000_0000_0000;
/// Streams of `generate` (`z_T`: `+ 0`, the decoder of level `t`: `+ t`).
const GENERATE_STREAM: u64 = 0x3DAE_3000_0000_0000;
/// Initialisation streams.
const INIT_STREAM: u64 = 0x3DAE_4000_0000_0000;

/// The encoders `q(z_t|z_{t−1})`.
#[derive(Clone, Debug, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per model, built when a switch flips; a plain Schedule keeps the API simple"
)]
pub enum Encoders {
    /// One MLP per level, `z_{t−1} → (μ, log σ²)`.
    Learned,
    /// `N(√α_t z_{t−1}, (1−α_t) I)` of this schedule, whose `T` is the number of levels
    /// (usually a [`Schedule::subchain`] of the schedule on screen, see [`level_times`]).
    Fixed(Schedule),
}

/// The MHVAE's shape.
#[derive(Clone, Debug, PartialEq)]
pub struct MhvaeConfig {
    /// Dimension of `x` and of every `z_t`.
    pub data_dim: usize,
    /// `T`, 1..=8.
    pub levels: usize,
    /// Width of the hidden layers.
    pub hidden: usize,
    /// Hidden layers of each map.
    pub layers: usize,
    /// Learned or fixed encoders.
    pub encoders: Encoders,
}

impl MhvaeConfig {
    /// The 2D window's MHVAE: 64 wide, 2 hidden layers per map.
    #[must_use]
    pub fn two_d(levels: usize, encoders: Encoders) -> Self {
        Self {
            data_dim: 2,
            levels,
            hidden: 64,
            layers: 2,
            encoders,
        }
    }

    /// The encoder of a level (learned encoders).
    #[must_use]
    pub const fn encoder(&self) -> Dense {
        Dense {
            input: self.data_dim,
            hidden: self.hidden,
            layers: self.layers,
            output: 2 * self.data_dim,
        }
    }

    /// The decoder mean of a level.
    #[must_use]
    pub const fn decoder(&self) -> Dense {
        Dense {
            input: self.data_dim,
            hidden: self.hidden,
            layers: self.layers,
            output: self.data_dim,
        }
    }

    /// Whether the encoders (and the decoder variances) are learned.
    #[must_use]
    pub const fn learned(&self) -> bool {
        matches!(self.encoders, Encoders::Learned)
    }

    /// Tensor names and shapes, in order: `encoder.t.*` for `t = 1..=T` (learned only),
    /// `decoder.t.*` for `t = 1..=T`, then `decoder.t.log_var` (`[1]`, learned only).
    #[must_use]
    pub fn layout(&self) -> Vec<(String, Vec<usize>)> {
        let mut out = Vec::new();
        if self.learned() {
            for t in 1..=self.levels {
                out.extend(self.encoder().layout(&format!("encoder.{t}")));
            }
        }
        for t in 1..=self.levels {
            out.extend(self.decoder().layout(&format!("decoder.{t}")));
        }
        if self.learned() {
            for t in 1..=self.levels {
                out.push((format!("decoder.{t}.log_var"), vec![1]));
            }
        }
        out
    }

    /// Number of parameters.
    #[must_use]
    pub fn parameter_count(&self) -> usize {
        super::layout_size(&self.layout())
    }

    /// Checks the shape: `1 ≤ T ≤ 8`, a fixed schedule of `T` steps with `α_t > 0`.
    pub fn validate(&self) -> Result<(), ModelError> {
        if !(1..=MAX_LEVELS).contains(&self.levels) {
            return Err(ModelError::Layout(format!(
                "the MHVAE's {} levels are not in 1..={MAX_LEVELS}",
                self.levels
            )));
        }
        if !(1..=4096).contains(&self.data_dim) || !(1..=4096).contains(&self.hidden) || self.layers > 16 {
            return Err(ModelError::Layout(format!(
                "the MHVAE's shape (dimension {}, width {}, {} layers) is out of range",
                self.data_dim, self.hidden, self.layers
            )));
        }
        if let Encoders::Fixed(s) = &self.encoders {
            if s.steps() != self.levels {
                return Err(ModelError::Layout(format!(
                    "the fixed encoders' schedule has {} steps, the MHVAE {} levels",
                    s.steps(),
                    self.levels
                )));
            }
            if let Some(t) = (1..=self.levels).find(|&t| !(s.alpha(t) > 0.0 && s.beta(t) > 0.0)) {
                return Err(ModelError::Layout(format!(
                    "the fixed encoders need 0 < α_t < 1; step {t} has α = {}",
                    s.alpha(t)
                )));
            }
        }
        Ok(())
    }
}

/// An MHVAE with its parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Mhvae {
    /// Its shape.
    pub config: MhvaeConfig,
    /// Its parameters, in the order of [`MhvaeConfig::layout`].
    pub params: Vec<Param>,
}

/// The MHVAE's ELBO in the consistency form, nats per example (each term with its
/// standard error over examples).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct MhvaeElbo {
    /// `E log p_θ(x|z_1)` (a log-likelihood: higher is better).
    pub recon: Estimate,
    /// `C_1 … C_{T−1}` (costs: subtracted).
    pub consistency: Vec<Estimate>,
    /// `E_{q(z_{T−1}|x)} KL(q(z_T|z_{T−1}) ‖ N(0, I))` (a cost).
    pub prior: Estimate,
    /// `recon − prior − Σ C_t`, with the standard error of the per-example values.
    pub elbo: Estimate,
    /// Fixed encoders only: the ELBO (not its negative) of the same decoders by the
    /// ELBO tab's denoising-matching estimator ([`estimate_with`], `ReverseVariance::Beta`)
    /// on the same data (each example repeated `samples` times) and seed.
    pub denoising: Option<Estimate>,
    /// Fixed encoders only: the denoising-matching form's prior term,
    /// `KL(q(z_T|x) ‖ N(0, I))` in closed form per example (MATH.md §4, `prior_term`).
    /// This is the term that goes to zero as `ᾱ_T → 0` (`~1e-4` nats for the linear
    /// schedule's whole range); the consistency form's [`prior`](Self::prior) does not:
    /// it is about `d·α_T/2` (`α_T` of the last level, 0.012 at T = 4 of 1000 steps).
    pub prior_marginal: Option<Estimate>,
}

/// One level's `q(z_t|z_{t−1})` as tensors: mean and log-variance, `[n, d]` each (a
/// fixed encoder's log-variance is a `[1]` constant).
struct Level {
    mean: Tensor,
    log_var: Tensor,
}

/// What one pass through `q` and the decoders gives, per example (`[n]` tensors).
struct Pass {
    /// `log p(x|z_1)`.
    recon: Tensor,
    /// `C_t`, `t = 1..T−1`.
    consistency: Vec<Tensor>,
    /// `KL(q(z_T|z_{T−1}) ‖ N(0, I))`.
    prior: Tensor,
    /// The latents drawn, `z_1 … z_T`.
    latents: Vec<Tensor>,
}

/// `log N(x; μ, e^{lv} I)` per row of `[n, d]` tensors, `lv` a `[1]` tensor.
fn gaussian_log_density(
    x: &Tensor,
    mean: &Tensor,
    log_var: &Tensor,
    d: usize,
) -> candle_core::Result<Tensor> {
    let sq = (x - mean)?.sqr()?.sum(1)?; // [n]
    let inv_var = log_var.neg()?.exp()?; // [1]
    (sq.broadcast_mul(&inv_var)? * (-0.5))?.broadcast_sub(&((log_var + LN_2PI)? * (0.5 * d as f64))?)
}

impl Mhvae {
    /// A freshly initialised MHVAE (`σ_t² = 1` for learned decoder variances).
    #[must_use]
    pub fn new(config: MhvaeConfig, seed: u64) -> Self {
        let mut params = Vec::new();
        if config.learned() {
            for t in 1..=config.levels {
                params.extend(config.encoder().init(
                    &format!("encoder.{t}"),
                    seed,
                    INIT_STREAM + 0x100 * t as u64,
                ));
            }
        }
        for t in 1..=config.levels {
            params.extend(config.decoder().init(
                &format!("decoder.{t}"),
                seed,
                INIT_STREAM + 0x1_0000 + 0x100 * t as u64,
            ));
        }
        if config.learned() {
            for t in 1..=config.levels {
                params.push(Param::zeros(format!("decoder.{t}.log_var"), vec![1]));
            }
        }
        Self { config, params }
    }

    /// An MHVAE from loaded tensors, checked against the layout of `config`.
    pub fn from_params(config: MhvaeConfig, params: Vec<Param>) -> Result<Self, ModelError> {
        config.validate()?;
        check_layout(&config.layout(), &params)?;
        Ok(Self { config, params })
    }

    /// A fresh MHVAE of `config` (encoders, decoder variances) whose decoders' mean
    /// networks are `other`'s wherever a level exists in both with the same shapes (what
    /// the window keeps when a switch flips); the rest is initialised from `seed`.
    #[must_use]
    pub fn with_decoders_of(config: MhvaeConfig, other: &Mhvae, seed: u64) -> Self {
        let mut fresh = Self::new(config, seed);
        for p in &mut fresh.params {
            if !p.name.starts_with("decoder.") || p.name.ends_with(".log_var") {
                continue;
            }
            if let Some(o) = other
                .params
                .iter()
                .find(|o| o.name == p.name && o.shape == p.shape)
            {
                p.data.clone_from(&o.data);
            }
        }
        fresh
    }

    /// Checks the shape and that the parameters fit it: every entry point calls this
    /// first, so a model built by hand that disagrees is an error, not a panic.
    pub fn check(&self) -> Result<(), ModelError> {
        self.config.validate()?;
        check_layout(&self.config.layout(), &self.params)
    }

    /// The tensors of the encoder of level `t` (1-based; learned encoders).
    fn encoder_tensors<'a>(&self, w: &'a [Tensor], t: usize) -> &'a [Tensor] {
        let e = self.config.encoder().tensors();
        &w[(t - 1) * e..t * e]
    }

    /// The tensors of the decoder mean of level `t`.
    fn decoder_tensors<'a>(&self, w: &'a [Tensor], t: usize) -> &'a [Tensor] {
        let base = if self.config.learned() {
            self.config.levels * self.config.encoder().tensors()
        } else {
            0
        };
        let e = self.config.decoder().tensors();
        &w[base + (t - 1) * e..base + t * e]
    }

    /// `ln σ_t²` of the decoder of level `t`, a `[1]` tensor.
    fn decoder_log_var(&self, w: &[Tensor], t: usize) -> candle_core::Result<Tensor> {
        match &self.config.encoders {
            Encoders::Learned => Ok(w[w.len() - self.config.levels + t - 1].clone()),
            Encoders::Fixed(s) => Tensor::from_slice(&[s.beta(t).ln() as f32], 1, &candle_core::Device::Cpu),
        }
    }

    /// `q(z_t|z_{t−1})` of `prev` (`[n, d]`).
    fn encoder_level(&self, w: &[Tensor], t: usize, prev: &Tensor) -> candle_core::Result<Level> {
        let d = self.config.data_dim;
        match &self.config.encoders {
            Encoders::Learned => {
                let out = self.config.encoder().forward(self.encoder_tensors(w, t), prev)?; // [n, 2d]
                Ok(Level {
                    mean: out.narrow(1, 0, d)?,
                    log_var: out.narrow(1, d, d)?,
                })
            }
            Encoders::Fixed(s) => Ok(Level {
                mean: (prev * s.alpha(t).sqrt())?,
                log_var: Tensor::from_slice(&[s.beta(t).ln() as f32], 1, &candle_core::Device::Cpu)?,
            }),
        }
    }

    /// One joint draw `z_{1:T} ~ q(·|x)` with the noise `eps[t−1]` (`[n, d]` each) and
    /// the per-example terms of the consistency form.
    fn pass(&self, w: &[Tensor], x: &Tensor, eps: &[Tensor]) -> candle_core::Result<Pass> {
        let (d, levels) = (self.config.data_dim, self.config.levels);
        let mut prev = x.clone();
        let mut latents = Vec::with_capacity(levels);
        let mut neg_entropy = Vec::with_capacity(levels);
        let mut last_q = None;
        for t in 1..=levels {
            let q = self.encoder_level(w, t, &prev)?;
            let z = q
                .mean
                .broadcast_add(&q.log_var.affine(0.5, 0.0)?.exp()?.broadcast_mul(&eps[t - 1])?)?; // [n, d]
            // −H(q(z_t|z_{t−1})) = −½ Σ_k (ln 2π + 1 + log σ_k²), per example.
            let n = z.dim(0)?;
            let lv_sum = q.log_var.broadcast_as((n, d))?.sum(1)?; // [n]
            neg_entropy.push(((lv_sum + (d as f64) * (LN_2PI + 1.0))? * (-0.5))?);
            if t == levels {
                last_q = Some(q);
            }
            latents.push(z.clone());
            prev = z;
        }
        let q = last_q.expect("levels ≥ 1");
        // KL(N(m, e^{lv}) ‖ N(0, I)) = ½ Σ (m² + e^{lv} − 1 − lv)
        let n = x.dim(0)?;
        let lv = q.log_var.broadcast_as((n, d))?;
        let prior = (((q.mean.sqr()? + lv.exp()?)? - (lv + 1.0)?)?.sum(1)? * 0.5)?;
        let recon = gaussian_log_density(
            x,
            &self
                .config
                .decoder()
                .forward(self.decoder_tensors(w, 1), &latents[0])?,
            &self.decoder_log_var(w, 1)?,
            d,
        )?;
        let mut consistency = Vec::with_capacity(levels.saturating_sub(1));
        for t in 1..levels {
            let mean = self
                .config
                .decoder()
                .forward(self.decoder_tensors(w, t + 1), &latents[t])?;
            let log_p = gaussian_log_density(&latents[t - 1], &mean, &self.decoder_log_var(w, t + 1)?, d)?;
            consistency.push((&neg_entropy[t - 1] - log_p)?);
        }
        Ok(Pass {
            recon,
            consistency,
            prior,
            latents,
        })
    }

    /// `[z_1, …, z_T]` jointly sampled from `q` for `x` (`n × d`; each `n × d`).
    pub fn encode_levels(&self, x: &[f32], seed: u64) -> Result<Vec<Vec<f32>>, ModelError> {
        self.check()?;
        let d = self.config.data_dim;
        let n = check_data(x, d)?;
        let w = tensors(&self.params)?;
        let eps = (1..=self.config.levels)
            .map(|t| matrix(&normals(seed, ENCODE_STREAM + t as u64, n * d), n, d))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let pass = self.pass(&w, &matrix(x, n, d)?, &eps)?;
        Ok(pass
            .latents
            .iter()
            .map(tensor_vec)
            .collect::<candle_core::Result<Vec<_>>>()?)
    }

    /// Ancestral samples: `z_T ~ N(0, I)`, then `z_{t−1} ~ p_θ(z_{t−1}|z_t)` down to
    /// `x ~ p_θ(x|z_1)` (with each decoder's noise); `[z_T, …, z_1, x]`, each `n × d`.
    pub fn generate(&self, n: usize, seed: u64) -> Result<Vec<Vec<f32>>, ModelError> {
        self.generate_with(n, seed, true)
    }

    /// [`generate`](Self::generate), with `final_noise = false` ending at the last
    /// decoder's mean `x = μ_θ1(z_1)` instead of a draw from `p_θ(x|z_1)` (as DDPM's
    /// sampler does, Ho et al. 2020, Algorithm 2, which adds no noise at `t = 1`). With
    /// fixed encoders of few levels this matters: `σ_1² = β_1` of a 4-level sub-chain is
    /// 0.48, and the draws hide the moons in that noise. The same noise is used either
    /// way, so the two chains agree down to `z_1`.
    pub fn generate_with(&self, n: usize, seed: u64, final_noise: bool) -> Result<Vec<Vec<f32>>, ModelError> {
        self.check()?;
        let (d, levels) = (self.config.data_dim, self.config.levels);
        let mut z = normals(seed, GENERATE_STREAM, n * d);
        let mut out = vec![z.clone()];
        if n == 0 {
            return Ok(vec![Vec::new(); levels + 1]);
        }
        let w = tensors(&self.params)?;
        for t in (1..=levels).rev() {
            let mean = self
                .config
                .decoder()
                .forward(self.decoder_tensors(&w, t), &matrix(&z, n, d)?)?;
            let sd = if t == 1 && !final_noise {
                0.0
            } else {
                (0.5 * self.decoder_log_var(&w, t)?.to_vec1::<f32>()?[0]).exp()
            };
            let eps = normals(seed, GENERATE_STREAM + t as u64, n * d);
            z = tensor_vec(&mean)?
                .iter()
                .zip(&eps)
                .map(|(m, e)| m + sd * e)
                .collect();
            out.push(z.clone());
        }
        Ok(out)
    }

    /// The ELBO's terms on `x` (`n × d`), each per example the mean over `samples` joint
    /// draws of `q`; with fixed encoders also the denoising-matching estimate.
    pub fn elbo(&self, x: &[f32], samples: usize, seed: u64) -> Result<MhvaeElbo, ModelError> {
        self.check()?;
        let (d, levels) = (self.config.data_dim, self.config.levels);
        let n = check_data(x, d)?;
        let samples = samples.max(1);
        let w = tensors(&self.params)?;
        let xt = matrix(x, n, d)?;
        let mut recon = vec![0.0f64; n];
        let mut prior = vec![0.0f64; n];
        let mut consistency = vec![vec![0.0f64; n]; levels.saturating_sub(1)];
        let add = |acc: &mut [f64], t: &Tensor| -> candle_core::Result<()> {
            for (a, v) in acc.iter_mut().zip(t.to_vec1::<f32>()?) {
                *a += f64::from(v) / samples as f64;
            }
            Ok(())
        };
        for s in 0..samples {
            let eps = (1..=levels)
                .map(|t| {
                    matrix(
                        &normals(seed, ELBO_STREAM + 16 * s as u64 + t as u64, n * d),
                        n,
                        d,
                    )
                })
                .collect::<candle_core::Result<Vec<_>>>()?;
            let pass = self.pass(&w, &xt, &eps)?;
            add(&mut recon, &pass.recon)?;
            add(&mut prior, &pass.prior)?;
            for (acc, c) in consistency.iter_mut().zip(&pass.consistency) {
                add(acc, c)?;
            }
        }
        let elbo: Vec<f64> = (0..n)
            .map(|i| recon[i] - prior[i] - consistency.iter().map(|c| c[i]).sum::<f64>())
            .collect();
        let elbo = Estimate::of(&elbo);
        if !elbo.mean.is_finite() {
            return Err(ModelError::Diverged(
                "the MHVAE's ELBO is not finite (its parameters have diverged)".into(),
            ));
        }
        let (denoising, prior_marginal) = match &self.config.encoders {
            Encoders::Learned => (None, None),
            Encoders::Fixed(schedule) => {
                let marginal: Vec<f64> = x
                    .chunks_exact(d)
                    .map(|v| prior_term(schedule, d, v.iter().map(|&a| f64::from(a) * f64::from(a)).sum()))
                    .collect();
                (
                    Some(self.denoising_elbo(schedule, &w, x, samples, seed)?),
                    Some(Estimate::of(&marginal)),
                )
            }
        };
        Ok(MhvaeElbo {
            recon: Estimate::of(&recon),
            consistency: consistency.iter().map(|c| Estimate::of(c)).collect(),
            prior: Estimate::of(&prior),
            elbo,
            denoising,
            prior_marginal,
        })
    }

    /// The ELBO tab's denoising-matching estimate of these decoders: each decoder mean
    /// `μ_θt` is handed to [`estimate_with`] as the `ε̂` it implies,
    /// `μ = (x_t − β_t/√(1−ᾱ_t)·ε̂)/√α_t` ⇒ `ε̂ = (x_t − √α_t μ)·√(1−ᾱ_t)/β_t`.
    fn denoising_elbo(
        &self,
        schedule: &Schedule,
        w: &[Tensor],
        x: &[f32],
        samples: usize,
        seed: u64,
    ) -> Result<Estimate, ModelError> {
        let d = self.config.data_dim;
        let x0: Vec<f32> = (0..samples).flat_map(|_| x.iter().copied()).collect();
        let mut predict = |xt: &[f32], t: usize| -> Result<Vec<f32>, ModelError> {
            let n = xt.len() / d;
            let mean = self
                .config
                .decoder()
                .forward(self.decoder_tensors(w, t), &matrix(xt, n, d)?)?;
            let mean = tensor_vec(&mean)?;
            let sqrt_alpha = schedule.alpha(t).sqrt();
            let c = schedule.sqrt_one_minus_alpha_bar(t) / schedule.beta(t);
            Ok(xt
                .iter()
                .zip(&mean)
                .map(|(&xv, &m)| ((f64::from(xv) - sqrt_alpha * f64::from(m)) * c) as f32)
                .collect())
        };
        let request = ElboRequest {
            schedule,
            variance: ReverseVariance::Beta,
            form: ElboForm::Denoising,
            x0: &x0,
            dim: d,
            discrete: false,
            seed,
        };
        let report = estimate_with(&mut predict, &request, &mut |_| true)?;
        Ok(Estimate {
            mean: -report.total_nats,
            std_err: report.total_std_err,
        })
    }

    /// The training loss (the batch's mean of minus the single-sample joint ELBO), its
    /// value, and every parameter's gradient.
    fn loss_and_grads(&self, x: &[f32], eps: &[f32]) -> Result<(f64, Vec<Vec<f32>>), ModelError> {
        let d = self.config.data_dim;
        let n = x.len() / d;
        let vs = vars(&self.params)?;
        let w: Vec<Tensor> = vs.iter().map(|v| v.as_tensor().clone()).collect();
        let eps = (0..self.config.levels)
            .map(|t| matrix(&eps[t * n * d..(t + 1) * n * d], n, d))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let pass = self.pass(&w, &matrix(x, n, d)?, &eps)?;
        let mut elbo = (pass.recon - pass.prior)?; // [n]
        for c in &pass.consistency {
            elbo = (elbo - c)?;
        }
        let elbo = elbo.mean_all()?;
        let loss = elbo.neg()?;
        let value = f64::from(elbo.to_scalar::<f32>()?);
        if vs.is_empty() {
            return Ok((value, Vec::new()));
        }
        let grads = super::ops::grads_of(&loss, &vs)?;
        Ok((value, grads))
    }
}

/// One MHVAE step's loss.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct MhvaeStepLoss {
    /// The batch's mean single-sample ELBO (nats per example; higher is better).
    pub elbo: f64,
}

/// An MHVAE being trained: the model, its optimiser, the data and the settings (whose β
/// is unused: the MHVAE's loss is the plain negative ELBO).
#[derive(Clone, Debug)]
pub struct MhvaeTrainer {
    mhvae: Mhvae,
    optimiser: AdamW,
    data: Vec<f32>,
    settings: VaeTrainSettings,
    iteration: u64,
}

impl MhvaeTrainer {
    /// A trainer of `mhvae` on `data` (`n × d`, finite).
    pub fn new(mhvae: Mhvae, data: Vec<f32>, settings: VaeTrainSettings) -> Result<Self, ModelError> {
        mhvae.check()?;
        check_data(&data, mhvae.config.data_dim)?;
        settings.validate()?;
        Ok(Self {
            optimiser: AdamW::new(&mhvae.params, settings.lr),
            mhvae,
            data,
            settings,
            iteration: 0,
        })
    }

    /// The settings.
    #[must_use]
    pub fn settings(&self) -> &VaeTrainSettings {
        &self.settings
    }

    /// One AdamW step on a batch. A non-finite loss, gradient or parameter is an error
    /// and leaves the model (and the optimiser) as they were before the step.
    pub fn step(&mut self) -> Result<MhvaeStepLoss, ModelError> {
        let i = self.iteration;
        let d = self.mhvae.config.data_dim;
        let x = self.settings.batch_at(&self.data, d, i);
        let eps = self.settings.noise_at(i, x.len() * self.mhvae.config.levels);
        let (elbo, grads) = self.mhvae.loss_and_grads(&x, &eps)?;
        if !elbo.is_finite() {
            return Err(ModelError::Diverged(format!(
                "the MHVAE's loss is not finite at iteration {i}: training stopped, the model before this step is kept"
            )));
        }
        let lr = self.settings.lr_at(i);
        self.mhvae.params = checked_update(&mut self.optimiser, &self.mhvae.params, &grads, lr, "MHVAE")?;
        self.iteration += 1;
        Ok(MhvaeStepLoss { elbo })
    }

    /// Steps done.
    #[must_use]
    pub fn iteration(&self) -> u64 {
        self.iteration
    }

    /// The model.
    #[must_use]
    pub fn mhvae(&self) -> &Mhvae {
        &self.mhvae
    }

    /// The training data.
    #[must_use]
    pub fn data(&self) -> &[f32] {
        &self.data
    }
}

/// The steps `t_1 < … < t_levels` of `schedule` the fixed encoders take (for
/// [`Schedule::subchain`]). With `to_noise` (the third switch, "ᾱ_T → 0") they span the
/// whole schedule, `t_k = round(k·T_s/levels)`; without, they end at `t_half`, the first
/// step with `ᾱ_t ≤ ½` (the last latent keeps `√½` of the data),
/// `t_k = round(k·t_half/levels)`. Each is at least one more than the previous, and at
/// most `T_s` (fewer steps than levels cannot be strictly increasing: then the list is
/// cut at `T_s`, and [`Schedule::subchain`] of it has fewer steps than `levels`).
#[must_use]
pub fn level_times(schedule: &Schedule, levels: usize, to_noise: bool) -> Vec<usize> {
    let t_s = schedule.steps();
    let end = if to_noise {
        t_s
    } else {
        (1..=t_s).find(|&t| schedule.alpha_bar(t) <= 0.5).unwrap_or(t_s)
    };
    let mut out = Vec::with_capacity(levels);
    let mut prev = 0usize;
    for k in 1..=levels {
        let t = ((k * end) as f64 / levels as f64).round() as usize;
        let t = t.max(prev + 1);
        if t > t_s {
            break;
        }
        out.push(t);
        prev = t;
    }
    out
}
