//! The image denoiser (being written).

use super::ModelError;
use super::params::Param;

/// Shape of the image denoiser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvConfig {
    /// Image channels (1 or 3).
    pub channels: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Feature channels.
    pub features: usize,
    /// Residual blocks.
    pub blocks: usize,
}

impl ConvConfig {
    /// Parameter names and shapes, in order.
    #[must_use]
    pub fn layout(&self) -> Vec<(String, Vec<usize>)> {
        Vec::new()
    }

    /// Number of parameters.
    #[must_use]
    pub fn parameter_count(&self) -> usize {
        0
    }
}

/// The image denoiser.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvNet {
    /// Its shape.
    pub config: ConvConfig,
    /// Its parameters.
    pub params: Vec<Param>,
}

impl ConvNet {
    /// A fresh network.
    #[must_use]
    pub fn new(config: ConvConfig, _seed: u64) -> Self {
        Self { config, params: Vec::new() }
    }

    /// From loaded tensors.
    pub fn from_params(config: ConvConfig, params: Vec<Param>) -> Result<Self, ModelError> {
        Ok(Self { config, params })
    }

    /// Loss and gradients.
    pub fn loss_and_grads(&self, _xt: &[f32], _t: &[f32], _eps: &[f32]) -> Result<(f32, Vec<Vec<f32>>), ModelError> {
        Err(ModelError::Data("not yet".into()))
    }

    /// For inference.
    pub fn inference(&self) -> Result<ConvInference, ModelError> {
        Ok(ConvInference)
    }
}

/// Inference.
#[derive(Debug)]
pub struct ConvInference;

impl ConvInference {
    /// ε̂.
    pub fn predict_eps(&self, _xt: &[f32], _t: f32) -> Result<Vec<f32>, ModelError> {
        Err(ModelError::Data("not yet".into()))
    }
}
