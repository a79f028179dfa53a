//! Flow matching beside diffusion (Lipman et al. 2023; rectified flow, Liu et al. 2023):
//! the same 2D network ([`super::mlp`]) trained to regress the straight path's velocity
//! instead of the noise. The mathematics is [`crate::diffusion::flow_matching`]; this is
//! the model side: which objective a checkpoint was trained with ([`Objective`], the
//! weights file's `objective` key), and a network as the flow's [`VelocityField`].
//!
//! # Time convention
//!
//! A flow-matching model's time input is on the integer-step scale the network was built
//! for: `s = τ·T`, with `T` the steps of the checkpoint's schedule (1000 by default;
//! the schedule's `ᾱ` is not used). Training draws `τ ~ U(0, 1)` continuously and feeds
//! `τ·T` as `f32`; a chain visits integer steps `t = T … 0` with `τ = t/T`; the ODE and the
//! likelihood ask at fractional `s`.
//!
//! # Names
//!
//! The inference API predates flow matching and keeps its names:
//! [`Inference::predict_eps`](super::Inference::predict_eps),
//! [`predict_eps_at`](super::Inference::predict_eps_at) and
//! [`MlpInference::eps_and_trace`](super::mlp::MlpInference::eps_and_trace) return the
//! network's output, which for a flow-matching model is the velocity `v_θ(x_τ, τ·T)`,
//! not `ε̂` (and the trace is `∇·v`). What the output means is the checkpoint's
//! [`ModelInfo::objective`](super::ModelInfo::objective); samplers check it
//! ([`super::sample::SamplerKind::fits`]).
//!
//! Flow matching is for 2D models, unconditional: the trainer refuses an image network
//! or a class-conditional one.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::flow::{copy_out, to_f32};
use super::{Inference, ModelError};
use crate::diffusion::IdealDenoiser;
use crate::diffusion::flow_matching::{VelocityField, alpha_sigma};

/// The weights file's metadata key that records the objective.
pub const METADATA_KEY: &str = "objective";

/// What a network was trained to predict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
pub enum Objective {
    /// `ε` of `x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε` (`L_simple`, Ho et al. 2020): a diffusion model.
    #[default]
    #[value(name = "eps")]
    Epsilon,
    /// The velocity `ε − x_0` of the straight path `x_τ = (1 − τ) x_0 + τ ε` (conditional
    /// flow matching, Lipman et al. 2023).
    #[value(name = "flow-matching")]
    FlowMatching,
}

impl Objective {
    /// Its name in weights files and on the command line: `eps` or `flow-matching`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Epsilon => "eps",
            Self::FlowMatching => "flow-matching",
        }
    }

    /// A short label: `diffusion (ε)` or `flow matching`.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Epsilon => "diffusion (ε)",
            Self::FlowMatching => "flow matching",
        }
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for Objective {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "eps" => Ok(Self::Epsilon),
            "flow-matching" => Ok(Self::FlowMatching),
            other => Err(format!("'{other}' is not eps or flow-matching")),
        }
    }
}

/// `τ = s/T` of a step `s` of a schedule of `steps` steps.
#[must_use]
pub fn tau_of(step: f64, steps: usize) -> f64 {
    step / steps as f64
}

/// The ideal denoiser's velocity on the straight path at `τ > 0`: with
/// `x̂_0 = E[x_0 | x_τ]` under `α = 1 − τ`, `σ = τ`, `v = ε̂ − x̂_0 = (x − x̂_0)/τ` (as
/// `ε̂ = (x − α x̂_0)/σ`). Singular at `τ = 0`, where the data are deltas.
pub fn ideal_velocity(ideal: &IdealDenoiser, tau: f64, x: &[f64], v: &mut [f64]) {
    let (alpha, sigma) = alpha_sigma(tau);
    ideal.predict_x0_batch_at(alpha, sigma, x, v);
    for (o, x) in v.iter_mut().zip(x) {
        *o = (x - *o) / tau;
    }
}

/// A flow-matching network as the flow's [`VelocityField`]: `v_θ(x, τ·T)`, and for the 2D
/// network the exact divergence ([`super::mlp::MlpInference::eps_and_trace`], forward-mode
/// tangents).
pub struct NetworkVelocity<'a> {
    net: &'a Inference,
    steps: usize,
    dim: usize,
}

impl<'a> NetworkVelocity<'a> {
    /// The network `net` of a schedule of `steps` steps (`T`) on points of `dim` values.
    #[must_use]
    pub fn new(net: &'a Inference, steps: usize, dim: usize) -> Self {
        Self { net, steps, dim }
    }
}

impl VelocityField for NetworkVelocity<'_> {
    type Error = ModelError;

    fn dim(&self) -> usize {
        self.dim
    }

    fn velocity(&mut self, x: &[f64], tau: f64, v: &mut [f64]) -> Result<(), ModelError> {
        let s = (tau * self.steps as f64) as f32;
        copy_out(&self.net.predict_eps_at(&to_f32(x), s)?, v)
    }

    fn velocity_and_divergence(
        &mut self,
        x: &[f64],
        tau: f64,
        v: &mut [f64],
        div: &mut [f64],
    ) -> Result<(), ModelError> {
        self.velocity_and_divergence_each(x, &vec![tau; div.len()], v, div)
    }

    fn velocity_each(&mut self, x: &[f64], taus: &[f64], v: &mut [f64]) -> Result<(), ModelError> {
        let Inference::Mlp(net) = self.net else {
            for (i, &tau) in taus.iter().enumerate() {
                let at = i * self.dim..(i + 1) * self.dim;
                self.velocity(&x[at.clone()], tau, &mut v[at])?;
            }
            return Ok(());
        };
        let steps: Vec<f32> = taus.iter().map(|&tau| (tau * self.steps as f64) as f32).collect();
        copy_out(&net.eps_each(&to_f32(x), &steps)?, v)
    }

    fn velocity_and_divergence_each(
        &mut self,
        x: &[f64],
        taus: &[f64],
        v: &mut [f64],
        div: &mut [f64],
    ) -> Result<(), ModelError> {
        let Inference::Mlp(net) = self.net else {
            return Err(ModelError::Data(
                "the exact likelihood is computed for 2D models (its divergence takes one \
                 Jacobian–vector product per dimension)"
                    .into(),
            ));
        };
        let steps: Vec<f32> = taus.iter().map(|&tau| (tau * self.steps as f64) as f32).collect();
        let (out, tr) = net.eps_and_trace_each(&to_f32(x), &steps)?;
        copy_out(&out, v)?;
        copy_out(&tr, div)
    }
}
