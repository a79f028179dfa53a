//! Named parameter tensors as plain `f32` vectors, their PyTorch-style initialisation and
//! the AdamW optimiser, fused into one pass per tensor.
//!
//! The parameters live outside candle: each training step wraps them in `Var`s, runs
//! autograd, and updates the plain vectors here. A step of AdamW is then one loop per
//! tensor instead of a dozen candle ops (each of which allocates).

use crate::diffusion::noise::StreamKey;

/// One named tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// The PyTorch `state_dict` name, e.g. `joint_mlp.0.weight`.
    pub name: String,
    /// Its shape, PyTorch's (`[out, in]` for a linear layer's weight).
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

impl Param {
    /// A tensor of `shape` drawn uniformly from `[−bound, bound]` (PyTorch's default for
    /// `nn.Linear` and `nn.Conv2d`, with `bound = 1/√fan_in`).
    #[must_use]
    pub fn uniform(name: impl Into<String>, shape: Vec<usize>, bound: f32, key: StreamKey) -> Self {
        let n = shape.iter().product::<usize>();
        let data = (0..n as u64)
            .map(|i| ((2.0 * key.uniform(i) - 1.0) * f64::from(bound)) as f32)
            .collect();
        Self {
            name: name.into(),
            shape,
            data,
        }
    }

    /// A tensor of zeros.
    #[must_use]
    pub fn zeros(name: impl Into<String>, shape: Vec<usize>) -> Self {
        let n = shape.iter().product();
        Self {
            name: name.into(),
            shape,
            data: vec![0.0; n],
        }
    }

    /// Number of values.
    #[must_use]
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor has no values.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// Total number of values in a parameter list.
#[must_use]
pub fn count(params: &[Param]) -> usize {
    params.iter().map(Param::len).sum()
}

/// Whether every value is finite.
#[must_use]
pub fn all_finite(params: &[Param]) -> bool {
    params.iter().all(|p| p.data.iter().all(|v| v.is_finite()))
}

/// AdamW (Loshchilov & Hutter), as `torch.optim.AdamW`: decoupled weight decay, bias
/// correction, `ε` added to the corrected `√v`.
#[derive(Clone, Debug)]
pub struct AdamW {
    /// Learning rate.
    pub lr: f32,
    /// First-moment decay.
    pub beta1: f32,
    /// Second-moment decay.
    pub beta2: f32,
    /// Added to `√v̂`.
    pub eps: f32,
    /// Decoupled weight decay.
    pub weight_decay: f32,
    step: u32,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

impl AdamW {
    /// AdamW for `params` with PyTorch's defaults except the learning rate.
    #[must_use]
    pub fn new(params: &[Param], lr: f32) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            step: 0,
            m: params.iter().map(|p| vec![0.0; p.len()]).collect(),
            v: params.iter().map(|p| vec![0.0; p.len()]).collect(),
        }
    }

    /// Steps taken.
    #[must_use]
    pub fn steps(&self) -> u32 {
        self.step
    }

    /// One update of `params` with `grads` (same order and sizes).
    pub fn step(&mut self, params: &mut [Param], grads: &[Vec<f32>]) {
        self.step += 1;
        let t = self.step as i32;
        let bc1 = 1.0 - self.beta1.powi(t);
        let bc2 = 1.0 - self.beta2.powi(t);
        let step_size = self.lr / bc1;
        let inv_sqrt_bc2 = 1.0 / bc2.sqrt();
        let c = [
            self.beta1,
            self.beta2,
            1.0 - self.lr * self.weight_decay,
            step_size,
            inv_sqrt_bc2,
            self.eps,
        ];
        for (((p, g), m), v) in params.iter_mut().zip(grads).zip(&mut self.m).zip(&mut self.v) {
            super::kernels::adamw_update(&mut p.data, g, m, v, &c);
        }
    }
}
