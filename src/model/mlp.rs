//! The 2D denoiser of tiny-diffusion (Tanel Pärnamaa's `ddpm.py`), bit for bit in
//! structure and names, so that its weights load into that PyTorch model.
//!
//! ```text
//! x_t = (x, y), t ∈ 1..T (float step number of MATH.md)
//! e = [emb(25·x) | emb(25·y) | emb(t)]             rows × 384   (emb: 128 values each)
//!   emb(v) = [sin(v·f_0..f_63), cos(v·f_0..f_63)],  f_k = exp(−ln(10000)·k/63)
//! h = GELU(e·W_0ᵀ + E[c] + b_0)                      joint_mlp.0   [128, 384], [128]
//!   E: a class-conditional model's table, K + 1 rows (∅ = K last)  class_emb [K + 1, 128]
//! h = h + GELU(h·W_iᵀ + b_i), i = 2, 3, 4            joint_mlp.i.ff [128, 128], [128]
//! ε̂ = h·W_5ᵀ + b_5                                   joint_mlp.5   [2, 128],   [2]
//! ```
//! 99,074 parameters at the defaults; GELU is the exact (erf) one. Width, depth and the
//! embedding size are configurable; the names follow `nn.Sequential`'s numbering. A
//! class-conditional model ([`super::classes`]) adds `nn.Embedding(K + 1, 128)` as
//! `class_emb` (last in the `state_dict`), its row added to the first layer's output.

use candle_core::{Device, Tensor, Var};

use super::ops::{BiasGelu, Embed, Linear, ResidualBiasGelu, ResidualGeluTangents, tensor_vec, with_values};
use super::params::Param;
use super::{ModelError, kernels};
use crate::diffusion::noise::StreamKey;

/// Shape of the 2D denoiser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MlpConfig {
    /// Hidden width (128).
    pub hidden: usize,
    /// Residual blocks (3).
    pub blocks: usize,
    /// Values per sinusoidal embedding (128; even).
    pub embedding: usize,
    /// Labelled classes `K` of a class-conditional model (0: unconditional); see
    /// [`super::classes`].
    pub classes: usize,
}

impl Default for MlpConfig {
    fn default() -> Self {
        Self {
            hidden: 128,
            blocks: 3,
            embedding: 128,
            classes: 0,
        }
    }
}

/// Scale of the x and y inputs before their embedding (tiny-diffusion's 25).
pub const INPUT_SCALE: f32 = 25.0;

impl MlpConfig {
    /// Parameter names and shapes, in order.
    #[must_use]
    pub fn layout(&self) -> Vec<(String, Vec<usize>)> {
        let h = self.hidden;
        let mut out = vec![
            ("joint_mlp.0.weight".to_owned(), vec![h, 3 * self.embedding]),
            ("joint_mlp.0.bias".to_owned(), vec![h]),
        ];
        for i in 0..self.blocks {
            out.push((format!("joint_mlp.{}.ff.weight", i + 2), vec![h, h]));
            out.push((format!("joint_mlp.{}.ff.bias", i + 2), vec![h]));
        }
        let last = self.blocks + 2;
        out.push((format!("joint_mlp.{last}.weight"), vec![2, h]));
        out.push((format!("joint_mlp.{last}.bias"), vec![2]));
        out.extend(super::classes::table_layout(self.classes, h));
        out
    }

    /// Number of parameters (99,074 at the defaults).
    #[must_use]
    pub fn parameter_count(&self) -> usize {
        super::layout_size(&self.layout())
    }
}

/// The 2D denoiser: a configuration and its parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp2d {
    /// Its shape.
    pub config: MlpConfig,
    /// Its parameters, in [`MlpConfig::layout`] order.
    pub params: Vec<Param>,
}

impl Mlp2d {
    /// A freshly initialised model (PyTorch's `nn.Linear` default: uniform in `±1/√fan_in`).
    #[must_use]
    pub fn new(config: MlpConfig, seed: u64) -> Self {
        let params = config
            .layout()
            .into_iter()
            .enumerate()
            .map(|(i, (name, shape))| {
                if name == super::classes::CLASS_TABLE {
                    return super::classes::init_table(shape, seed);
                }
                // A bias's fan-in is its weight's (the previous entry's second dimension).
                let fan_in = if shape.len() == 2 {
                    shape[1]
                } else if i % 2 == 1 {
                    config.layout()[i - 1].1[1]
                } else {
                    1
                };
                let bound = 1.0 / (fan_in as f32).sqrt();
                Param::uniform(name, shape, bound, StreamKey::new(seed, 0x1417_0000 + i as u64))
            })
            .collect();
        Self { config, params }
    }

    /// A model from loaded tensors, checked against the layout of `config`.
    pub fn from_params(config: MlpConfig, params: Vec<Param>) -> Result<Self, ModelError> {
        super::check_layout(&config.layout(), &params)?;
        Ok(Self { config, params })
    }

    /// `[emb(25·x) | emb(25·y) | emb(t)]` of `n × 2` points with a step per row.
    fn embed(&self, xt: &[f32], t: &[f32]) -> candle_core::Result<Tensor> {
        let mut input = Vec::with_capacity(3 * t.len());
        for (p, t) in xt.chunks_exact(2).zip(t) {
            input.extend_from_slice(&[p[0], p[1], *t]);
        }
        let op = Embed::new(vec![INPUT_SCALE, INPUT_SCALE, 1.0], self.config.embedding);
        Tensor::from_vec(input, (t.len(), 3), &Device::Cpu)?.apply_op1_no_bwd(&op)
    }

    /// `L_simple` on a batch and the gradient of every parameter: `xt` is `n × 2`, `t` the
    /// step of each row, `eps` the noise that made `xt`, `labels` the class of each row
    /// (empty: none, see [`super::classes::check_labels`]).
    pub fn loss_and_grads(
        &self,
        xt: &[f32],
        t: &[f32],
        eps: &[f32],
        labels: &[usize],
    ) -> Result<(f32, Vec<Vec<f32>>), ModelError> {
        let n = t.len();
        super::classes::check_labels(labels, self.config.classes, n)?;
        let dev = Device::Cpu;
        let vars = super::ops::vars(&self.params)?;
        let emb = self.embed(xt, t)?;
        let tensors: Vec<&Tensor> = vars.iter().map(Var::as_tensor).collect();
        let out = self.forward(&tensors, &emb, labels)?;
        let target = Tensor::from_slice(eps, (n, 2), &dev)?;
        Ok(super::ops::mse_and_grads(&out, &target, &vars)?)
    }

    /// `ε̂` for `n × 2` points with a step per row (no gradients, no class).
    pub fn predict_eps_rows(&self, xt: &[f32], t: &[f32]) -> Result<Vec<f32>, ModelError> {
        let n = t.len();
        if xt.len() != 2 * n {
            return Err(ModelError::Data(format!("{} values for {n} points", xt.len())));
        }
        let tensors = super::ops::tensors(&self.params)?;
        let emb = self.embed(xt, t)?;
        let refs: Vec<&Tensor> = tensors.iter().collect();
        Ok(tensor_vec(&self.forward(&refs, &emb, &[])?)?)
    }

    /// The network after the embedding (`emb` is `rows × 3·embedding`), with the class
    /// rows of `labels` added before the first GELU in a conditional model.
    fn forward(&self, w: &[&Tensor], emb: &Tensor, labels: &[usize]) -> candle_core::Result<Tensor> {
        let data = Linear { input_grad: false };
        let hidden = Linear { input_grad: true };
        let mut pre = emb.apply_op2(w[0], data)?;
        if self.config.classes > 0 {
            let table = w[4 + 2 * self.config.blocks];
            pre = (pre + super::classes::rows(table, labels, emb.dims2()?.0)?)?;
        }
        let mut h = pre.apply_op2(w[1], BiasGelu)?;
        for b in 0..self.config.blocks {
            let z = h.apply_op2(w[2 + 2 * b], hidden)?;
            h = h.apply_op3(&z, w[3 + 2 * b], ResidualBiasGelu)?;
        }
        let last = 2 + 2 * self.config.blocks;
        h.apply_op2(w[last], hidden)?.broadcast_add(w[last + 1])
    }

    /// Ready-to-run tensors for inference.
    pub fn inference(&self) -> Result<MlpInference, ModelError> {
        let tensors = super::ops::tensors(&self.params)?;
        let e = self.config.embedding;
        // The x–y part of the first layer; the t part becomes a bias per step.
        let w0_xy = tensors[0].narrow(1, 0, 2 * e)?.t()?;
        let w0_x = tensors[0].narrow(1, 0, e)?.t()?.contiguous()?;
        let w0_y = tensors[0].narrow(1, e, e)?.t()?.contiguous()?;
        let w0_t = self.params[0].data.clone();
        let w0_all = tensors[0].t()?.contiguous()?;
        // The first layer's bias in the likelihood's forward pass: b_0, plus the ∅ row of
        // a class-conditional model (its unconditional branch).
        let mut first_bias = self.params[1].data.clone();
        if self.config.classes > 0 {
            let table = &tensors[4 + 2 * self.config.blocks];
            let empty = tensor_vec(&super::classes::rows(table, &[], 1)?)?;
            for (b, c) in first_bias.iter_mut().zip(empty) {
                *b += c;
            }
        }
        let freqs = kernels::frequencies(e);
        let tangent_scales = freqs.iter().map(|f| INPUT_SCALE * f).collect();
        Ok(MlpInference {
            config: self.config,
            tensors,
            w0_all,
            w0_xy,
            w0_x,
            w0_y,
            w0_t,
            first_bias,
            tangent_scales,
            freqs,
        })
    }
}

/// Rows below which a batch is not split across threads.
const PARALLEL_MIN_ROWS: usize = 256;

/// The 2D denoiser prepared for sampling: one `t` for the whole batch, so the `t` part of
/// the first layer, `W_0[:, 256..]·emb(t) + b_0`, is computed once per step as a bias.
#[derive(Debug)]
pub struct MlpInference {
    config: MlpConfig,
    tensors: Vec<Tensor>,
    /// `W_0ᵀ` (`3e × h`, contiguous): the first layer of a batch at a step per point.
    w0_all: Tensor,
    w0_xy: Tensor,
    /// The x and y blocks of `w0_xy` (contiguous): the tangents' first layer.
    w0_x: Tensor,
    w0_y: Tensor,
    w0_t: Vec<f32>,
    /// `b_0` (plus a conditional model's ∅ row): the likelihood pass's first bias.
    first_bias: Vec<f32>,
    /// `25·f_k`: the (x, y) embedding's derivative per frequency.
    tangent_scales: Vec<f32>,
    freqs: Vec<f32>,
}

impl MlpInference {
    /// Labelled classes of a class-conditional model; 0 for an unconditional one.
    #[must_use]
    pub const fn classes(&self) -> usize {
        self.config.classes
    }

    /// `ε̂(x_t, t, c)` for `n × 2` points `xt`, all at step `t` (given as a float, 1..T),
    /// with a class per point (`labels`; empty: none). Large batches are split across the
    /// threads of the current rayon pool (the rows are independent; gemm alone does not
    /// parallelise matrices this thin).
    pub fn predict_eps(&self, xt: &[f32], t: f32, labels: &[usize]) -> Result<Vec<f32>, ModelError> {
        use rayon::prelude::*;
        if !xt.len().is_multiple_of(2) {
            return Err(ModelError::Data(format!(
                "{} values are not a list of 2D points",
                xt.len()
            )));
        }
        let threads = rayon::current_num_threads();
        let n = xt.len() / 2;
        super::classes::check_labels(labels, self.config.classes, n)?;
        if threads < 2 || n < 2 * PARALLEL_MIN_ROWS {
            return self.predict_chunk(xt, t, labels);
        }
        let rows = n.div_ceil(threads).max(PARALLEL_MIN_ROWS);
        let parts = xt
            .par_chunks(2 * rows)
            .enumerate()
            .map(|(i, chunk)| {
                let labels = if labels.is_empty() {
                    labels
                } else {
                    &labels[i * rows..i * rows + chunk.len() / 2]
                };
                self.predict_chunk(chunk, t, labels)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(parts.concat())
    }

    fn predict_chunk(&self, xt: &[f32], t: f32, labels: &[usize]) -> Result<Vec<f32>, ModelError> {
        let n = xt.len() / 2;
        let e = self.config.embedding;
        let h = self.config.hidden;
        let dev = Device::Cpu;
        // bias_t = b_0 + W_0[:, 2e..3e]·emb(t), in f32 like the reference.
        let bias = Tensor::from_vec(self.time_bias(t)?, h, &dev)?;
        let input = Tensor::from_slice(xt, (n, 2), &dev)?;
        let op = Embed::new(vec![INPUT_SCALE, INPUT_SCALE], e);
        let emb = input.apply_op1_no_bwd(&op)?;
        let mut pre = emb.matmul(&self.w0_xy)?;
        if self.config.classes > 0 {
            let table = &self.tensors[4 + 2 * self.config.blocks];
            pre = (pre + super::classes::rows(table, labels, n)?)?;
        }
        let mut hid = pre.apply_op2_no_bwd(&bias, &BiasGelu)?;
        for b in 0..self.config.blocks {
            let z = hid.matmul(&self.tensors[2 + 2 * b].t()?)?;
            hid = hid.apply_op3_no_bwd(&z, &self.tensors[3 + 2 * b], &ResidualBiasGelu)?;
        }
        let last = 2 + 2 * self.config.blocks;
        let out = hid
            .matmul(&self.tensors[last].t()?)?
            .broadcast_add(&self.tensors[last + 1])?;
        Ok(tensor_vec(&out)?)
    }
}

impl MlpInference {
    /// `ε̂(x_t, t)` and the trace of each point's Jacobian `∂ε̂/∂x_t` — the exact divergence
    /// the probability-flow likelihood needs — for `n × 2` points at the step `t` (a
    /// conditional model's unconditional branch). See [`Self::eps_and_trace_each`].
    pub fn eps_and_trace(&self, xt: &[f32], t: f32) -> Result<(Vec<f32>, Vec<f32>), ModelError> {
        self.eps_and_trace_each(xt, &vec![t; xt.len() / 2])
    }

    /// [`Self::eps_and_trace`] with a step per point (`ts.len() = n`), as the likelihood's
    /// points each move at their own pace. Forward mode: the two tangents `∂/∂x` and
    /// `∂/∂y` ride through the network beside the values (two Jacobian–vector products,
    /// each a matrix product per layer), and the trace is `∂ε̂_x/∂x + ∂ε̂_y/∂y`.
    pub fn eps_and_trace_each(&self, xt: &[f32], ts: &[f32]) -> Result<(Vec<f32>, Vec<f32>), ModelError> {
        self.each(xt, ts, true)
    }

    /// `ε̂` alone at a step per point, by the same pass as [`Self::eps_and_trace_each`]
    /// without its tangents (so the same values): a third of its work.
    pub fn eps_each(&self, xt: &[f32], ts: &[f32]) -> Result<Vec<f32>, ModelError> {
        Ok(self.each(xt, ts, false)?.0)
    }

    /// `ε̂` and, with `trace`, each point's trace, the rows split across the threads.
    fn each(&self, xt: &[f32], ts: &[f32], trace: bool) -> Result<(Vec<f32>, Vec<f32>), ModelError> {
        use rayon::prelude::*;
        if xt.len() != 2 * ts.len() {
            return Err(ModelError::Data(format!(
                "{} values are not a list of {} 2D points",
                xt.len(),
                ts.len()
            )));
        }
        let n = ts.len();
        let threads = rayon::current_num_threads();
        if threads < 2 || n < 2 * PARALLEL_MIN_ROWS {
            return self.predict_chunk_with_tangents(xt, ts, trace);
        }
        let rows = n.div_ceil(threads).max(PARALLEL_MIN_ROWS);
        let parts = xt
            .par_chunks(2 * rows)
            .zip(ts.par_chunks(rows))
            .map(|(chunk, ts)| self.predict_chunk_with_tangents(chunk, ts, trace))
            .collect::<Result<Vec<_>, _>>()?;
        let (eps, trace): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
        Ok((eps.concat(), trace.concat()))
    }

    /// The forward pass of [`Self::each`]: the values and (with `trace`) the two tangents
    /// are one `3n`-row matrix, so each layer after the first is one matrix product (and
    /// one fused pass of bias, GELU, its derivative and the residual). Without `trace` the
    /// trace is empty.
    fn predict_chunk_with_tangents(
        &self,
        xt: &[f32],
        ts: &[f32],
        trace: bool,
    ) -> Result<(Vec<f32>, Vec<f32>), ModelError> {
        let (e, h, n) = (self.config.embedding, self.config.hidden, ts.len());
        let parts = if trace { 3 } else { 1 };
        let dev = Device::Cpu;
        // The embedding of (x, y, t), `n × 3e` (the first layer's whole input), and the
        // derivatives of its (x, y) part, `2n × e`.
        let input: Vec<f32> = xt
            .chunks_exact(2)
            .zip(ts)
            .flat_map(|(p, &t)| [p[0], p[1], t])
            .collect();
        let mut emb = vec![0f32; n * 3 * e];
        kernels::embed_rows(&input, &[INPUT_SCALE, INPUT_SCALE, 1.0], &self.freqs, &mut emb);
        let mut first = Vec::with_capacity(3);
        if trace {
            let mut tangent = vec![0f32; 2 * n * e];
            kernels::embed_tangents(&emb, &self.tangent_scales, &mut tangent);
            let tangent = Tensor::from_vec(tangent, (2, n, e), &dev)?;
            first.push(tangent.get(0)?.matmul(&self.w0_x)?);
            first.push(tangent.get(1)?.matmul(&self.w0_y)?);
        }
        first.insert(0, Tensor::from_vec(emb, (n, 3 * e), &dev)?.matmul(&self.w0_all)?);
        // [GELU(u + b); GELU'(u + b) ⊙ du_x; GELU'(u + b) ⊙ du_y].
        let mut hid = Vec::with_capacity(parts * n * h);
        for part in &first {
            with_values(part, "trace", |v| {
                hid.extend_from_slice(v);
                Ok(())
            })?;
        }
        kernels::bias_gelu_with_tangents(&mut hid, &self.first_bias, &[], parts);
        let mut hid = Tensor::from_vec(hid, (parts * n, h), &dev)?;
        for b in 0..self.config.blocks {
            // h + GELU(z + b) and its tangents dh + GELU'(z + b) ⊙ dz, in z's buffer.
            let z = hid.matmul(&self.tensors[2 + 2 * b].t()?)?;
            z.inplace_op3(&hid, &self.tensors[3 + 2 * b], &ResidualGeluTangents { parts })?;
            hid = z;
        }
        let last = 2 + 2 * self.config.blocks;
        let out = hid.matmul(&self.tensors[last].t()?)?;
        let b = tensor_vec(&self.tensors[last + 1])?;
        Ok(with_values(&out, "trace", |out| {
            let eps = out[..2 * n]
                .chunks_exact(2)
                .flat_map(|o| [o[0] + b[0], o[1] + b[1]])
                .collect();
            // tr = ∂ε̂_x/∂x (x's tangent, output 0) + ∂ε̂_y/∂y (y's tangent, output 1).
            let trace = if trace {
                (0..n)
                    .map(|i| out[2 * (n + i)] + out[2 * (2 * n + i) + 1])
                    .collect()
            } else {
                Vec::new()
            };
            Ok((eps, trace))
        })?)
    }

    /// `b_0 + W_0[:, 2e..3e]·emb(t)`: the first layer's bias at step `t`, in `f32` like
    /// the reference.
    fn time_bias(&self, t: f32) -> Result<Vec<f32>, ModelError> {
        let (e, h) = (self.config.embedding, self.config.hidden);
        let mut t_emb = vec![0f32; e];
        kernels::embed_into(t, 1.0, &self.freqs, &mut t_emb);
        let b0 = tensor_vec(&self.tensors[1])?;
        Ok((0..h)
            .map(|j| {
                let row = &self.w0_t[j * 3 * e + 2 * e..(j + 1) * 3 * e];
                b0[j] + row.iter().zip(&t_emb).map(|(w, v)| w * v).sum::<f32>()
            })
            .collect())
    }
}
