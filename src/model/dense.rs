//! The small fully connected networks of the latent-variable models ([`super::vae`],
//! [`super::mhvae`]): `input → hidden (× layers) → output`, SiLU between layers, no
//! activation after the last; `layers = 0` is one affine map (probabilistic PCA's).
//!
//! SiLU (`x·σ(x)`) rather than tanh: it is smooth (the ELBO's gradient is continuous)
//! and does not saturate for large inputs, so a decoder's mean reaches the far ends of
//! two moons (±2) and a latent far in the prior's tail without vanishing gradients.
//!
//! Tensors are named `{prefix}.{i}.weight` (`[out, in]`, PyTorch's) and
//! `{prefix}.{i}.bias` (`[out]`), `i = 0..=layers`.

use candle_core::Tensor;

use super::params::Param;
use crate::diffusion::noise::StreamKey;

/// The shape of one network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dense {
    /// Values in.
    pub input: usize,
    /// Width of the hidden layers.
    pub hidden: usize,
    /// Hidden layers (0: affine).
    pub layers: usize,
    /// Values out.
    pub output: usize,
}

impl Dense {
    /// Tensor names and shapes under `prefix`, in order.
    #[must_use]
    pub fn layout(&self, prefix: &str) -> Vec<(String, Vec<usize>)> {
        let mut out = Vec::with_capacity(2 * (self.layers + 1));
        let mut fan_in = self.input;
        for i in 0..=self.layers {
            let width = if i == self.layers {
                self.output
            } else {
                self.hidden
            };
            out.push((format!("{prefix}.{i}.weight"), vec![width, fan_in]));
            out.push((format!("{prefix}.{i}.bias"), vec![width]));
            fan_in = width;
        }
        out
    }

    /// Freshly initialised tensors (PyTorch's `nn.Linear` default, uniform in
    /// `±1/√fan_in`) from stream `stream` of `seed`.
    #[must_use]
    pub fn init(&self, prefix: &str, seed: u64, stream: u64) -> Vec<Param> {
        self.layout(prefix)
            .into_iter()
            .enumerate()
            .map(|(i, (name, shape))| {
                let fan_in = if shape.len() == 2 {
                    shape[1]
                } else if i == 1 {
                    self.input
                } else {
                    self.hidden
                };
                let bound = 1.0 / (fan_in as f32).sqrt();
                Param::uniform(name, shape, bound, StreamKey::new(seed, stream + i as u64))
            })
            .collect()
    }

    /// Number of tensors.
    #[must_use]
    pub const fn tensors(&self) -> usize {
        2 * (self.layers + 1)
    }

    /// The network on `x` (`[n, input]` → `[n, output]`); `w` holds its
    /// [`tensors`](Self::tensors) tensors in layout order.
    ///
    /// # Shapes
    /// `x: [n, input]`, `w[2i]: [out_i, in_i]`, `w[2i+1]: [out_i]`.
    pub fn forward(&self, w: &[Tensor], x: &Tensor) -> candle_core::Result<Tensor> {
        let mut h = x.clone();
        for i in 0..=self.layers {
            h = h.matmul(&w[2 * i].t()?)?.broadcast_add(&w[2 * i + 1])?; // [n, out_i]
            if i < self.layers {
                h = h.silu()?;
            }
        }
        Ok(h)
    }
}
