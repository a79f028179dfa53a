//! A Markovian hierarchical VAE (lecture slides "Hierarchical VAE", "ELBO for MHVAE"):
//! latents `z_1 … z_T` of the data's dimension, learned or fixed (variational diffusion)
//! encoders, one decoder per level.

use super::ModelError;
use super::params::Param;
use super::vae::{Estimate, VaeTrainSettings};
use crate::diffusion::Schedule;

/// The encoders `q(z_t|z_{t−1})`.
#[derive(Clone, Debug)]
pub enum Encoders {
    /// One MLP per level.
    Learned,
    /// `N(√α_t z_{t−1}, (1−α_t) I)` of this schedule (its `T` = the levels).
    Fixed(Schedule),
}

/// The MHVAE's shape.
#[derive(Clone, Debug)]
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
    /// The 2D window's MHVAE.
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

    /// Tensor names and shapes, in order.
    #[must_use]
    pub fn layout(&self) -> Vec<(String, Vec<usize>)> {
        Vec::new()
    }

    /// Number of parameters.
    #[must_use]
    pub fn parameter_count(&self) -> usize {
        super::layout_size(&self.layout())
    }
}

/// An MHVAE with its parameters.
#[derive(Clone, Debug)]
pub struct Mhvae {
    /// Its shape.
    pub config: MhvaeConfig,
    /// Its parameters.
    pub params: Vec<Param>,
}

/// The MHVAE's ELBO in the consistency form.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct MhvaeElbo {
    /// `E log p_θ(x|z_1)`.
    pub recon: Estimate,
    /// `C_1 … C_{T−1}`.
    pub consistency: Vec<Estimate>,
    /// `E KL(q(z_T|z_{T−1}) ‖ N(0, I))`.
    pub prior: Estimate,
    /// `recon − prior − Σ C_t`.
    pub elbo: Estimate,
    /// Fixed encoders only: the ELBO tab's denoising-matching estimate.
    pub denoising: Option<Estimate>,
}

impl Mhvae {
    /// A freshly initialised MHVAE.
    #[must_use]
    pub fn new(config: MhvaeConfig, _seed: u64) -> Self {
        Self {
            config,
            params: Vec::new(),
        }
    }

    /// An MHVAE from loaded tensors.
    pub fn from_params(config: MhvaeConfig, params: Vec<Param>) -> Result<Self, ModelError> {
        super::check_layout(&config.layout(), &params)?;
        Ok(Self { config, params })
    }

    /// New encoders per `config`, the decoders' mean networks copied from `other`.
    #[must_use]
    pub fn with_decoders_of(config: MhvaeConfig, _other: &Mhvae, seed: u64) -> Self {
        Self::new(config, seed)
    }

    /// `[z_1, …, z_T]` jointly sampled from `q` for `x`.
    pub fn encode_levels(&self, x: &[f32], _seed: u64) -> Result<Vec<Vec<f32>>, ModelError> {
        Ok(vec![x.to_vec(); self.config.levels])
    }

    /// Ancestral samples `[z_T, …, z_1, x]`.
    pub fn generate(&self, n: usize, _seed: u64) -> Result<Vec<Vec<f32>>, ModelError> {
        Ok(vec![vec![0.0; n * self.config.data_dim]; self.config.levels + 1])
    }

    /// The ELBO's terms on `x`.
    pub fn elbo(&self, _x: &[f32], _samples: usize, _seed: u64) -> Result<MhvaeElbo, ModelError> {
        Ok(MhvaeElbo {
            consistency: vec![Estimate::default(); self.config.levels.saturating_sub(1)],
            ..MhvaeElbo::default()
        })
    }
}

/// One MHVAE step's loss.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct MhvaeStepLoss {
    /// The batch's mean single-sample ELBO (nats per example).
    pub elbo: f64,
}

/// An MHVAE being trained (the settings' β is unused).
#[derive(Clone, Debug)]
pub struct MhvaeTrainer {
    mhvae: Mhvae,
    data: Vec<f32>,
    settings: VaeTrainSettings,
    iteration: u64,
}

impl MhvaeTrainer {
    /// A trainer of `mhvae` on `data`.
    pub fn new(mhvae: Mhvae, data: Vec<f32>, settings: VaeTrainSettings) -> Result<Self, ModelError> {
        Ok(Self {
            mhvae,
            data,
            settings,
            iteration: 0,
        })
    }

    /// One step.
    pub fn step(&mut self) -> Result<MhvaeStepLoss, ModelError> {
        let _ = self.settings;
        self.iteration += 1;
        Ok(MhvaeStepLoss::default())
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

/// The schedule steps `t_1 < … < t_levels` the fixed encoders take from `schedule`.
#[must_use]
pub fn level_times(schedule: &Schedule, levels: usize, to_noise: bool) -> Vec<usize> {
    let t_s = schedule.spec().steps;
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
        out.push(t);
        prev = t;
    }
    out
}
