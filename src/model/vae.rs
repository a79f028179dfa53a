// Over 500 lines: the VAE's model, ELBO and training step, and what the MHVAE shares with
// it (`Estimate`, the data check, the training settings and the checked update).
//! A variational autoencoder (Kingma & Welling 2014) on small data, as on the lecture's
//! VAE slides:
//!
//! ```text
//! q_φ(z|x) = N(μ_φ(x), diag σ_φ²(x))     encoder MLP  x → (μ_z, log σ_z²)   encoder.i.*
//! p_θ(x|z) = N(μ_θ(z), σ_x² I)           decoder MLP  z → μ_θ(z)            decoder.i.*
//! p(z)     = N(0, I)                     σ_x² = exp(decoder.log_var), ONE learned scalar
//! ```
//!
//! `σ_x²` is a single learned number, not a function of `z`: then the decoder is a proper
//! density whose nats mean something (a variance per `z` lets the likelihood grow without
//! bound on a point it fits exactly), and with `layers = 0` (both maps affine) the model
//! is exactly probabilistic PCA (Tipping & Bishop 1999), whose maximum likelihood the
//! trained ELBO reaches (`tests/vae.rs`).
//!
//! Training maximises the β-weighted ELBO per example,
//! `E_q log p_θ(x|z) − β·KL(q_φ(z|x) ‖ p(z))`, with one reparameterised sample
//! `z = μ + σ ⊙ ε` per example and the KL in closed form; the ELBO the model reports is
//! always the one at `β = 1`. The networks are [`Dense`] MLPs (SiLU; see there why).
//! Every random number is counter-based under the caller's seed.

use candle_core::{Device, Tensor};

use super::dense::Dense;
use super::ops::{tensor_vec, tensors, vars};
use super::params::{AdamW, Param, all_finite};
use super::{ModelError, check_layout};
use crate::diffusion::noise::StreamKey;

pub use super::vae_io::{LatentCheckpoint, LatentModel, from_bytes, load, save, shipped, to_bytes};

/// `ln 2π`.
pub(crate) const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// Noise streams of VAE training: step `i` draws its batch from `TRAIN_STREAM + 2i`,
/// its `ε` from `TRAIN_STREAM + 2i + 1`.
const TRAIN_STREAM: u64 = 0x7AE0_0000_0000_0000;
/// Noise streams of the ELBO estimate (draw `s` uses `ELBO_STREAM + s`).
const ELBO_STREAM: u64 = 0x7AE1_0000_0000_0000;
/// Stream of `reconstruct`'s `ε`.
const RECON_STREAM: u64 = 0x7AE2_0000_0000_0000;
/// Streams of `sample` (`z`, then the decoder noise).
const SAMPLE_STREAM: u64 = 0x7AE3_0000_0000_0000;
/// Initialisation streams.
const INIT_STREAM: u64 = 0x7AE4_0000_0000_0000;

/// A Monte-Carlo estimate: the mean over examples and its standard error.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Estimate {
    /// The mean.
    pub mean: f64,
    /// Its standard error (the sample standard deviation over `√n`; 0 for `n = 1`).
    pub std_err: f64,
}

impl Estimate {
    /// Mean and standard error of per-example values.
    #[must_use]
    pub fn of(values: &[f64]) -> Self {
        let n = values.len() as f64;
        if values.is_empty() {
            return Self::default();
        }
        let mean = values.iter().sum::<f64>() / n;
        if values.len() < 2 {
            return Self { mean, std_err: 0.0 };
        }
        let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
        Self {
            mean,
            std_err: (var / n).sqrt(),
        }
    }
}

/// Checks `x` as `n × dim` finite values and returns `n`.
pub(crate) fn check_data(x: &[f32], dim: usize) -> Result<usize, ModelError> {
    if dim == 0 || x.is_empty() || !x.len().is_multiple_of(dim) {
        return Err(ModelError::Data(format!(
            "{} values are not whole examples of {dim} values",
            x.len()
        )));
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(ModelError::Data(format!(
            "the data hold a value that is not finite (example {}, value {})",
            i / dim,
            x[i]
        )));
    }
    Ok(x.len() / dim)
}

/// `n·dim` standard normals of stream `stream` under `seed`, as `f32`.
pub(crate) fn normals(seed: u64, stream: u64, len: usize) -> Vec<f32> {
    let key = StreamKey::new(seed, stream);
    (0..len as u64).map(|i| key.normal(i) as f32).collect()
}

/// A `[rows, cols]` tensor of `values`.
pub(crate) fn matrix(values: &[f32], rows: usize, cols: usize) -> candle_core::Result<Tensor> {
    Tensor::from_slice(values, (rows, cols), &Device::Cpu)
}

/// The VAE's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VaeConfig {
    /// Dimension of `x`.
    pub data_dim: usize,
    /// Dimension of `z`.
    pub latent_dim: usize,
    /// Width of the hidden layers.
    pub hidden: usize,
    /// Hidden layers of each map (0: affine maps, probabilistic PCA).
    pub layers: usize,
}

impl VaeConfig {
    /// The 2D window's VAE: 2D data, 2D latent, 64 wide, 2 hidden layers (9,095
    /// parameters).
    #[must_use]
    pub fn two_d() -> Self {
        Self {
            data_dim: 2,
            latent_dim: 2,
            hidden: 64,
            layers: 2,
        }
    }

    /// The encoder `x → (μ_z, log σ_z²)`.
    #[must_use]
    pub const fn encoder(&self) -> Dense {
        Dense {
            input: self.data_dim,
            hidden: self.hidden,
            layers: self.layers,
            output: 2 * self.latent_dim,
        }
    }

    /// The decoder's mean `z → μ_θ(z)`.
    #[must_use]
    pub const fn decoder(&self) -> Dense {
        Dense {
            input: self.latent_dim,
            hidden: self.hidden,
            layers: self.layers,
            output: self.data_dim,
        }
    }

    /// Tensor names and shapes, in order: the encoder's, the decoder's, then
    /// `decoder.log_var` (`[1]`, `ln σ_x²`).
    #[must_use]
    pub fn layout(&self) -> Vec<(String, Vec<usize>)> {
        let mut out = self.encoder().layout("encoder");
        out.extend(self.decoder().layout("decoder"));
        out.push(("decoder.log_var".to_owned(), vec![1]));
        out
    }

    /// Number of parameters.
    #[must_use]
    pub fn parameter_count(&self) -> usize {
        super::layout_size(&self.layout())
    }

    /// Checks the dimensions (each at least 1, at most 4096).
    pub fn validate(&self) -> Result<(), ModelError> {
        for (name, v) in [
            ("data dimension", self.data_dim),
            ("latent dimension", self.latent_dim),
            ("hidden width", self.hidden),
        ] {
            if !(1..=4096).contains(&v) {
                return Err(ModelError::Layout(format!(
                    "the VAE's {name} {v} is not in 1..=4096"
                )));
            }
        }
        if self.layers > 16 {
            return Err(ModelError::Layout(format!(
                "the VAE's {} hidden layers are more than 16",
                self.layers
            )));
        }
        Ok(())
    }
}

/// A VAE with its parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Vae {
    /// Its shape.
    pub config: VaeConfig,
    /// Its parameters, in the order of [`VaeConfig::layout`].
    pub params: Vec<Param>,
}

/// `q_φ(z|x)` for `n` examples: `n × latent_dim` means and log-variances.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Posterior {
    /// `μ_φ(x)`, `n × latent_dim`.
    pub mean: Vec<f32>,
    /// `log σ²_φ(x)`, `n × latent_dim`.
    pub log_var: Vec<f32>,
}

impl Posterior {
    /// `z = μ + σ ⊙ ε` for standard normal `eps` of the same length (the reparameterisation).
    #[must_use]
    pub fn draw(&self, eps: &[f32]) -> Vec<f32> {
        self.mean
            .iter()
            .zip(&self.log_var)
            .zip(eps)
            .map(|((m, lv), e)| m + (0.5 * lv).exp() * e)
            .collect()
    }
}

/// The ELBO's terms (β = 1) on a data set, nats per example.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct VaeElbo {
    /// `E_q log p_θ(x|z)` (a log-likelihood: higher is better).
    pub recon: Estimate,
    /// `KL(q_φ(z|x) ‖ N(0, I))`, in closed form per example.
    pub kl: Estimate,
    /// `recon − kl`, with the standard error of the per-example differences.
    pub elbo: Estimate,
    /// The KL of each latent dimension, averaged over examples.
    pub kl_per_dim: Vec<f64>,
    /// `Cov_x(E_q[z_i])` per latent dimension: how much the posterior mean moves with `x`.
    pub active_variance: Vec<f64>,
    /// Dimensions with `active_variance > 0.01` (Burda et al. 2016): the rest have
    /// collapsed to the prior.
    pub active_units: usize,
    /// `σ_x²`.
    pub decoder_variance: f64,
}

/// `KL(N(μ, e^{lv}) ‖ N(0, 1))` of one coordinate.
fn kl_coordinate(mu: f64, log_var: f64) -> f64 {
    0.5 * (mu * mu + log_var.exp() - 1.0 - log_var)
}

impl Vae {
    /// A freshly initialised VAE (`σ_x² = 1`).
    #[must_use]
    pub fn new(config: VaeConfig, seed: u64) -> Self {
        let mut params = config.encoder().init("encoder", seed, INIT_STREAM);
        params.extend(config.decoder().init("decoder", seed, INIT_STREAM + 0x100));
        params.push(Param::zeros("decoder.log_var", vec![1]));
        Self { config, params }
    }

    /// A VAE from loaded tensors, checked against the layout of `config`.
    pub fn from_params(config: VaeConfig, params: Vec<Param>) -> Result<Self, ModelError> {
        config.validate()?;
        check_layout(&config.layout(), &params)?;
        Ok(Self { config, params })
    }

    /// Checks the shape and that the parameters fit it (a model built by hand could
    /// disagree): every entry point calls this first, so a bad model is an error, not a
    /// panic.
    pub fn check(&self) -> Result<(), ModelError> {
        self.config.validate()?;
        check_layout(&self.config.layout(), &self.params)
    }

    /// The tensors split into (encoder, decoder, log σ_x²).
    fn split<'a>(&self, w: &'a [Tensor]) -> (&'a [Tensor], &'a [Tensor], &'a Tensor) {
        let e = self.config.encoder().tensors();
        let d = self.config.decoder().tensors();
        (&w[..e], &w[e..e + d], &w[e + d])
    }

    /// `(μ_z, log σ_z²)`, each `[n, latent]`.
    fn encode_tensors(&self, w: &[Tensor], x: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let k = self.config.latent_dim;
        let (enc, _, _) = self.split(w);
        let out = self.config.encoder().forward(enc, x)?; // [n, 2k]
        Ok((out.narrow(1, 0, k)?, out.narrow(1, k, k)?))
    }

    /// `q_φ(z|x)` for `x`, `n × data_dim`.
    pub fn encode(&self, x: &[f32]) -> Result<Posterior, ModelError> {
        self.check()?;
        let n = check_data(x, self.config.data_dim)?;
        let w = tensors(&self.params)?;
        let (mu, lv) = self.encode_tensors(&w, &matrix(x, n, self.config.data_dim)?)?;
        Ok(Posterior {
            mean: tensor_vec(&mu)?,
            log_var: tensor_vec(&lv)?,
        })
    }

    /// `μ_θ(z)` for `z`, `n × latent_dim`: `n × data_dim`.
    pub fn decode(&self, z: &[f32]) -> Result<Vec<f32>, ModelError> {
        self.check()?;
        let n = check_data(z, self.config.latent_dim)?;
        let w = tensors(&self.params)?;
        let (_, dec, _) = self.split(&w);
        let out = self
            .config
            .decoder()
            .forward(dec, &matrix(z, n, self.config.latent_dim)?)?;
        Ok(tensor_vec(&out)?)
    }

    /// `σ_x²`.
    #[must_use]
    pub fn decoder_variance(&self) -> f64 {
        self.params
            .last()
            .and_then(|p| p.data.first())
            .map_or(1.0, |&lv| f64::from(lv).exp())
    }

    /// `z ~ q(z|x)` (noise of `seed`), then `μ_θ(z)`: `n × data_dim`.
    pub fn reconstruct(&self, x: &[f32], seed: u64) -> Result<Vec<f32>, ModelError> {
        let post = self.encode(x)?;
        let z = post.draw(&normals(seed, RECON_STREAM, post.mean.len()));
        self.decode(&z)
    }

    /// `z ~ N(0, I)`, `x ~ p_θ(x|z)` (the decoder's noise included): `n × data_dim`.
    pub fn sample(&self, n: usize, seed: u64) -> Result<Vec<f32>, ModelError> {
        self.sample_with(n, seed, true)
    }

    /// [`sample`](Self::sample), or with `decoder_noise = false` the decoder's means
    /// `μ_θ(z)` of the same `z`.
    pub fn sample_with(&self, n: usize, seed: u64, decoder_noise: bool) -> Result<Vec<f32>, ModelError> {
        self.check()?;
        if n == 0 {
            return Ok(Vec::new());
        }
        let z = normals(seed, SAMPLE_STREAM, n * self.config.latent_dim);
        let mean = self.decode(&z)?;
        if !decoder_noise {
            return Ok(mean);
        }
        let sd = self.decoder_variance().sqrt() as f32;
        let eps = normals(seed, SAMPLE_STREAM + 1, mean.len());
        Ok(mean.iter().zip(&eps).map(|(m, e)| m + sd * e).collect())
    }

    /// The ELBO's terms (β = 1) on `x` (`n × data_dim`): per example, the mean of
    /// `log p_θ(x|z)` over `samples` draws `z ~ q_φ(z|x)` and the KL in closed form; the
    /// standard errors are over the examples.
    pub fn elbo(&self, x: &[f32], samples: usize, seed: u64) -> Result<VaeElbo, ModelError> {
        let (d, k) = (self.config.data_dim, self.config.latent_dim);
        let n = check_data(x, d)?;
        let samples = samples.max(1);
        let post = self.encode(x)?;
        let var_x = self.decoder_variance();
        let mut recon = vec![0.0f64; n];
        for s in 0..samples {
            let z = post.draw(&normals(seed, ELBO_STREAM + s as u64, n * k));
            let mean = self.decode(&z)?;
            for (i, r) in recon.iter_mut().enumerate() {
                let sq: f64 = (0..d)
                    .map(|j| (f64::from(x[i * d + j]) - f64::from(mean[i * d + j])).powi(2))
                    .sum();
                *r += (-0.5 * d as f64 * (LN_2PI + var_x.ln()) - sq / (2.0 * var_x)) / samples as f64;
            }
        }
        let mut kl = vec![0.0f64; n];
        let mut kl_per_dim = vec![0.0f64; k];
        for (i, kl) in kl.iter_mut().enumerate() {
            for (j, per_dim) in kl_per_dim.iter_mut().enumerate() {
                let v = kl_coordinate(
                    f64::from(post.mean[i * k + j]),
                    f64::from(post.log_var[i * k + j]),
                );
                *kl += v;
                *per_dim += v / n as f64;
            }
        }
        let active_variance: Vec<f64> = (0..k)
            .map(|j| {
                let m = (0..n).map(|i| f64::from(post.mean[i * k + j])).sum::<f64>() / n as f64;
                (0..n)
                    .map(|i| (f64::from(post.mean[i * k + j]) - m).powi(2))
                    .sum::<f64>()
                    / n as f64
            })
            .collect();
        let elbo: Vec<f64> = recon.iter().zip(&kl).map(|(r, k)| r - k).collect();
        let result = VaeElbo {
            recon: Estimate::of(&recon),
            kl: Estimate::of(&kl),
            elbo: Estimate::of(&elbo),
            kl_per_dim,
            active_units: active_variance.iter().filter(|&&v| v > 0.01).count(),
            active_variance,
            decoder_variance: var_x,
        };
        if !(result.elbo.mean.is_finite() && result.recon.mean.is_finite() && result.kl.mean.is_finite()) {
            return Err(ModelError::Diverged(
                "the VAE's ELBO is not finite (its parameters have diverged)".into(),
            ));
        }
        Ok(result)
    }

    /// The loss `−(recon − β·KL)` averaged over the batch `x` (`[n, d]`) with the noise
    /// `eps` (`[n, k]`), its two terms' batch means, and every parameter's gradient.
    fn loss_and_grads(
        &self,
        x: &[f32],
        eps: &[f32],
        beta: f64,
    ) -> Result<(StepLoss, Vec<Vec<f32>>), ModelError> {
        let (d, k) = (self.config.data_dim, self.config.latent_dim);
        let n = x.len() / d;
        let vs = vars(&self.params)?;
        let w: Vec<Tensor> = vs.iter().map(|v| v.as_tensor().clone()).collect();
        let xt = matrix(x, n, d)?; // [n, d]
        let (mu, lv) = self.encode_tensors(&w, &xt)?; // [n, k] each
        let z = (&mu + ((&lv * 0.5)?.exp()? * matrix(eps, n, k)?)?)?; // [n, k]
        let (_, dec, log_var_x) = self.split(&w);
        let mean = self.config.decoder().forward(dec, &z)?; // [n, d]
        // recon_i = −d/2 (ln 2π + ln σ²) − ‖x − μ‖²/(2σ²)
        let sq = (xt - mean)?.sqr()?.sum(1)?; // [n]
        let inv_var = log_var_x.neg()?.exp()?; // [1]
        let recon = (sq.broadcast_mul(&inv_var)? * (-0.5))?
            .broadcast_sub(&((log_var_x + LN_2PI)? * (0.5 * d as f64))?)?; // [n]
        // KL_i = ½ Σ (μ² + σ² − 1 − ln σ²)
        let kl = ((mu.sqr()? + lv.exp()?)? - (lv + 1.0)?)?.sum(1)? * 0.5; // [n]
        let kl = kl?;
        let recon_mean = recon.mean_all()?;
        let kl_mean = kl.mean_all()?;
        let loss = ((kl_mean.clone() * beta)? - &recon_mean)?;
        let grads = super::ops::grads_of(&loss, &vs)?;
        Ok((
            StepLoss {
                recon: f64::from(recon_mean.to_scalar::<f32>()?),
                kl: f64::from(kl_mean.to_scalar::<f32>()?),
            },
            grads,
        ))
    }
}

/// How to train a VAE (or an MHVAE).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VaeTrainSettings {
    /// The KL's weight (β-VAE, Higgins et al. 2017); the reported ELBO is always at
    /// β = 1. Unused by the MHVAE.
    pub beta: f64,
    /// AdamW's learning rate, cosine-decayed to a tenth over `iterations` (then kept).
    pub lr: f32,
    /// Examples per step (drawn with replacement; the whole set, in order, if it has no
    /// more examples than this).
    pub batch: usize,
    /// Steps the learning rate's decay spans (and the command line trains).
    pub iterations: u64,
    /// Seed of the batches and the noise.
    pub seed: u64,
}

impl Default for VaeTrainSettings {
    /// The VAE's: β 1, lr 3·10⁻³, batch 256, 20,000 iterations, in which the two moons'
    /// VAE reaches its stated ELBO (README, "Shipped weights"; about 22 s on one core).
    fn default() -> Self {
        Self {
            beta: 1.0,
            lr: 3e-3,
            batch: 256,
            iterations: 20_000,
            seed: 1,
        }
    }
}

impl VaeTrainSettings {
    /// The MHVAE's: as [`Default`] with a peak learning rate of 10⁻² and 8000 iterations
    /// (a step of the `T = 4` MHVAE costs about 4.5 ms on one core, four times the VAE's:
    /// 37 s with learned encoders). At 3·10⁻³ the learned MHVAE reached only −2.42 nats
    /// in 8000 steps, at 10⁻² −1.36 (held-out two moons); the VAE does slightly worse at
    /// 10⁻² (−1.52 against −1.47 in 20,000 steps), the fixed-encoder one the same.
    #[must_use]
    pub fn mhvae() -> Self {
        Self {
            lr: 1e-2,
            iterations: 8000,
            ..Self::default()
        }
    }

    /// The learning rate at step `i`: cosine decay from `lr` to `lr/10` over
    /// `iterations`, then `lr/10`.
    #[must_use]
    pub fn lr_at(&self, i: u64) -> f32 {
        super::train::cosine_lr(self.lr, i, self.iterations)
    }

    /// Checks the settings.
    pub(crate) fn validate(&self) -> Result<(), ModelError> {
        if self.batch == 0 {
            return Err(ModelError::Data("the batch must hold at least 1 example".into()));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(ModelError::Data(format!(
                "learning rate {} must be positive",
                self.lr
            )));
        }
        if !(self.beta.is_finite() && self.beta >= 0.0) {
            return Err(ModelError::Data(format!(
                "β = {} must be a number ≥ 0",
                self.beta
            )));
        }
        Ok(())
    }

    /// The batch of step `i` from `data` (`n × dim`).
    pub(crate) fn batch_at(&self, data: &[f32], dim: usize, i: u64) -> Vec<f32> {
        let n = data.len() / dim;
        if n <= self.batch {
            return data.to_vec();
        }
        let key = StreamKey::new(self.seed, TRAIN_STREAM + 2 * i);
        (0..self.batch as u64)
            .flat_map(|b| {
                let j = ((key.uniform(b) * n as f64) as usize).min(n - 1);
                data[j * dim..(j + 1) * dim].iter().copied()
            })
            .collect()
    }

    /// The `ε` of step `i`: `len` standard normals.
    pub(crate) fn noise_at(&self, i: u64, len: usize) -> Vec<f32> {
        normals(self.seed, TRAIN_STREAM + 2 * i + 1, len)
    }
}

/// One step's loss terms: the batch's means, nats per example.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct StepLoss {
    /// `E_q log p_θ(x|z)` (one sample per example; higher is better).
    pub recon: f64,
    /// `KL(q_φ(z|x) ‖ p(z))`.
    pub kl: f64,
}

/// Applies one AdamW update to a copy of `params`: the new parameters, or an error
/// (and nothing changed) when the gradients or the result are not finite.
pub(crate) fn checked_update(
    optimiser: &mut AdamW,
    params: &[Param],
    grads: &[Vec<f32>],
    lr: f32,
    what: &str,
) -> Result<Vec<Param>, ModelError> {
    if grads.iter().any(|g| g.iter().any(|v| !v.is_finite())) {
        return Err(ModelError::Diverged(format!(
            "the {what}'s gradient is not finite: training stopped, the model before this step is kept"
        )));
    }
    let mut next = params.to_vec();
    let mut opt = optimiser.clone();
    opt.lr = lr;
    opt.step(&mut next, grads);
    if !all_finite(&next) {
        return Err(ModelError::Diverged(format!(
            "the {what}'s parameters became non-finite: training stopped, the model before this step is kept"
        )));
    }
    *optimiser = opt;
    Ok(next)
}

/// A VAE being trained: the model, its optimiser, the data and the settings.
#[derive(Clone, Debug)]
pub struct VaeTrainer {
    vae: Vae,
    optimiser: AdamW,
    data: Vec<f32>,
    settings: VaeTrainSettings,
    iteration: u64,
}

impl VaeTrainer {
    /// A trainer of `vae` on `data` (`n × data_dim`, finite).
    pub fn new(vae: Vae, data: Vec<f32>, settings: VaeTrainSettings) -> Result<Self, ModelError> {
        vae.check()?;
        check_data(&data, vae.config.data_dim)?;
        settings.validate()?;
        Ok(Self {
            optimiser: AdamW::new(&vae.params, settings.lr),
            vae,
            data,
            settings,
            iteration: 0,
        })
    }

    /// Sets the KL's weight β (from the next step on).
    pub fn set_beta(&mut self, beta: f64) {
        if beta.is_finite() && beta >= 0.0 {
            self.settings.beta = beta;
        }
    }

    /// The settings.
    #[must_use]
    pub fn settings(&self) -> &VaeTrainSettings {
        &self.settings
    }

    /// One AdamW step on a batch. A non-finite loss, gradient or parameter is an error
    /// and leaves the model (and the optimiser) as they were before the step.
    pub fn step(&mut self) -> Result<StepLoss, ModelError> {
        let i = self.iteration;
        let (d, k) = (self.vae.config.data_dim, self.vae.config.latent_dim);
        let x = self.settings.batch_at(&self.data, d, i);
        let eps = self.settings.noise_at(i, x.len() / d * k);
        let (loss, grads) = self.vae.loss_and_grads(&x, &eps, self.settings.beta)?;
        if !(loss.recon.is_finite() && loss.kl.is_finite()) {
            return Err(ModelError::Diverged(format!(
                "the VAE's loss is not finite at iteration {i}: training stopped, the model before this step is kept"
            )));
        }
        let lr = self.settings.lr_at(i);
        self.vae.params = checked_update(&mut self.optimiser, &self.vae.params, &grads, lr, "VAE")?;
        self.iteration += 1;
        Ok(loss)
    }

    /// Steps done.
    #[must_use]
    pub fn iteration(&self) -> u64 {
        self.iteration
    }

    /// The model.
    #[must_use]
    pub fn vae(&self) -> &Vae {
        &self.vae
    }

    /// The training data.
    #[must_use]
    pub fn data(&self) -> &[f32] {
        &self.data
    }
}
