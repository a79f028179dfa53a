//! A variational autoencoder (Kingma & Welling 2014) on small data: MLP encoder
//! `x → (μ_z, log σ_z²)`, MLP decoder `p_θ(x|z) = N(μ_θ(z), σ_x² I)` with `σ_x²` one learned
//! scalar; with `layers = 0` both maps are affine and the model is probabilistic PCA
//! (Tipping & Bishop 1999). Its weights files (`diffscope-vae-1`) and the shipped weights.

use super::ModelError;
use super::mhvae::Mhvae;
use super::params::Param;

/// A Monte-Carlo estimate: the mean over examples and its standard error.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Estimate {
    /// The mean.
    pub mean: f64,
    /// Its standard error.
    pub std_err: f64,
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
    /// The 2D window's VAE: 2D data, 2D latent, 64 wide, 2 hidden layers.
    #[must_use]
    pub fn two_d() -> Self {
        Self {
            data_dim: 2,
            latent_dim: 2,
            hidden: 64,
            layers: 2,
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

/// A VAE with its parameters.
#[derive(Clone, Debug)]
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

/// The ELBO's terms (β = 1) on a data set.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct VaeElbo {
    /// `E_q log p_θ(x|z)`.
    pub recon: Estimate,
    /// `KL(q_φ(z|x) ‖ N(0, I))`.
    pub kl: Estimate,
    /// `recon − kl`.
    pub elbo: Estimate,
    /// The KL of each latent dimension, averaged over examples.
    pub kl_per_dim: Vec<f64>,
    /// `Cov_x(E_q[z_i])` per latent dimension.
    pub active_variance: Vec<f64>,
    /// Dimensions with `active_variance > 0.01` (Burda et al. 2016).
    pub active_units: usize,
    /// `σ_x²`.
    pub decoder_variance: f64,
}

impl Vae {
    /// A freshly initialised VAE.
    #[must_use]
    pub fn new(config: VaeConfig, _seed: u64) -> Self {
        Self {
            config,
            params: Vec::new(),
        }
    }

    /// A VAE from loaded tensors.
    pub fn from_params(config: VaeConfig, params: Vec<Param>) -> Result<Self, ModelError> {
        super::check_layout(&config.layout(), &params)?;
        Ok(Self { config, params })
    }

    /// `q_φ(z|x)` for `x`, `n × data_dim`.
    pub fn encode(&self, x: &[f32]) -> Result<Posterior, ModelError> {
        let n = x.len() / self.config.data_dim.max(1);
        Ok(Posterior {
            mean: vec![0.0; n * self.config.latent_dim],
            log_var: vec![0.0; n * self.config.latent_dim],
        })
    }

    /// `μ_θ(z)` for `z`, `n × latent_dim`; `n × data_dim`.
    pub fn decode(&self, z: &[f32]) -> Result<Vec<f32>, ModelError> {
        let n = z.len() / self.config.latent_dim.max(1);
        Ok(vec![0.0; n * self.config.data_dim])
    }

    /// `σ_x²`.
    #[must_use]
    pub fn decoder_variance(&self) -> f64 {
        1.0
    }

    /// `z ~ q(z|x)`, then `μ_θ(z)`.
    pub fn reconstruct(&self, x: &[f32], _seed: u64) -> Result<Vec<f32>, ModelError> {
        Ok(vec![0.0; x.len()])
    }

    /// `z ~ N(0, I)`, `x ~ p_θ(x|z)`: `n × data_dim`.
    pub fn sample(&self, n: usize, _seed: u64) -> Result<Vec<f32>, ModelError> {
        Ok(vec![0.0; n * self.config.data_dim])
    }

    /// The ELBO's terms on `x` with `samples` draws of `z` per example.
    pub fn elbo(&self, _x: &[f32], _samples: usize, _seed: u64) -> Result<VaeElbo, ModelError> {
        Ok(VaeElbo::default())
    }
}

/// How to train a VAE (or an MHVAE).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VaeTrainSettings {
    /// The KL's weight (β-VAE); the reported ELBO is always at β = 1.
    pub beta: f64,
    /// AdamW's learning rate.
    pub lr: f32,
    /// Examples per step.
    pub batch: usize,
    /// Steps to train.
    pub iterations: u64,
    /// Seed of the batches and the noise.
    pub seed: u64,
}

impl Default for VaeTrainSettings {
    fn default() -> Self {
        Self {
            beta: 1.0,
            lr: 3e-3,
            batch: 256,
            iterations: 6000,
            seed: 0,
        }
    }
}

/// One step's loss terms: the batch's means, nats per example.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct StepLoss {
    /// `E_q log p_θ(x|z)`.
    pub recon: f64,
    /// `KL(q ‖ p)`.
    pub kl: f64,
}

/// A VAE being trained: the model, its optimiser, the data and the settings.
#[derive(Clone, Debug)]
pub struct VaeTrainer {
    vae: Vae,
    data: Vec<f32>,
    settings: VaeTrainSettings,
    iteration: u64,
}

impl VaeTrainer {
    /// A trainer of `vae` on `data` (`n × data_dim`).
    pub fn new(vae: Vae, data: Vec<f32>, settings: VaeTrainSettings) -> Result<Self, ModelError> {
        Ok(Self {
            vae,
            data,
            settings,
            iteration: 0,
        })
    }

    /// Sets the KL's weight.
    pub fn set_beta(&mut self, beta: f64) {
        self.settings.beta = beta;
    }

    /// One step of AdamW on a batch.
    pub fn step(&mut self) -> Result<StepLoss, ModelError> {
        self.iteration += 1;
        Ok(StepLoss::default())
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

/// A VAE or an MHVAE: what a latent-model weights file holds.
#[derive(Clone, Debug)]
pub enum LatentModel {
    /// A VAE.
    Vae(Vae),
    /// A Markovian hierarchical VAE.
    Mhvae(Mhvae),
}

/// A latent model with its training record.
#[derive(Clone, Debug)]
pub struct LatentCheckpoint {
    /// The model.
    pub model: LatentModel,
    /// The data it was trained on.
    pub dataset: String,
    /// Training iterations done.
    pub iterations: u64,
    /// The seed.
    pub seed: u64,
    /// The command that produced it.
    pub command: String,
    /// The KL weight it was trained with.
    pub beta: f64,
}

/// A checkpoint as safetensors bytes.
pub fn to_bytes(_c: &LatentCheckpoint) -> Result<Vec<u8>, ModelError> {
    Err(ModelError::Data("not yet".into()))
}

/// A checkpoint from safetensors bytes.
pub fn from_bytes(_b: &[u8]) -> Result<LatentCheckpoint, ModelError> {
    Err(ModelError::Data("not a VAE weights file".into()))
}

/// Writes a checkpoint to `path`.
pub fn save(c: &LatentCheckpoint, path: &std::path::Path) -> Result<(), ModelError> {
    let bytes = to_bytes(c)?;
    std::fs::write(path, bytes).map_err(|e| ModelError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Reads a checkpoint from `path`.
pub fn load(path: &std::path::Path) -> Result<LatentCheckpoint, ModelError> {
    let bytes = std::fs::read(path).map_err(|e| ModelError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    from_bytes(&bytes).map_err(|e| ModelError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// The shipped latent models: `vae-two-moons`, `mhvae-two-moons`, `mhvae-vdm-two-moons`.
#[must_use]
pub fn shipped(_name: &str) -> Option<Result<LatentCheckpoint, ModelError>> {
    None
}
