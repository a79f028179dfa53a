//! candle `CustomOp`s over the fused kernels of [`super::kernels`], with forward and
//! backward, so that autograd sees one node where plain candle would record several
//! elementwise passes.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, InplaceOp3, Layout, Shape, Storage, Tensor};

use rayon::prelude::*;

use super::kernels;

/// Reads a contiguous `f32` CPU storage as a slice.
pub(super) fn slice<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    op: &'static str,
) -> candle_core::Result<&'a [f32]> {
    let data = storage.as_slice::<f32>()?;
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg(format!("{op}: input must be contiguous")))?;
    Ok(&data[start..end])
}

/// The error of a tensor that is not on the CPU.
pub(super) fn cpu_only() -> candle_core::Error {
    candle_core::Error::Msg("diffscope runs its models on the CPU".into())
}

/// Runs `f` on the contiguous `f32` values of a CPU tensor, without copying them (`op`
/// names the caller in errors).
pub(super) fn with_values<R>(
    tensor: &Tensor,
    op: &'static str,
    f: impl FnOnce(&[f32]) -> candle_core::Result<R>,
) -> candle_core::Result<R> {
    let tensor = tensor.contiguous()?;
    let (storage, layout) = tensor.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => f(slice(cpu, layout, op)?),
        _ => Err(cpu_only()),
    }
}

/// Copies a tensor's values out (contiguous, `f32`, CPU).
pub fn tensor_vec(tensor: &Tensor) -> candle_core::Result<Vec<f32>> {
    with_values(tensor, "tensor_vec", |v| Ok(v.to_vec()))
}

/// The parameters as candle variables (for a training step).
pub fn vars(params: &[super::params::Param]) -> candle_core::Result<Vec<candle_core::Var>> {
    params
        .iter()
        .map(|p| candle_core::Var::from_slice(&p.data, p.shape.as_slice(), &candle_core::Device::Cpu))
        .collect()
}

/// The parameters as constant tensors (for inference).
pub fn tensors(params: &[super::params::Param]) -> candle_core::Result<Vec<Tensor>> {
    params
        .iter()
        .map(|p| Tensor::from_slice(&p.data, p.shape.as_slice(), &candle_core::Device::Cpu))
        .collect()
}

/// `L_simple = mean((out − target)²)` and its gradient with respect to each of `vars`
/// (zeros for a variable the loss does not depend on), in order.
pub fn mse_and_grads(
    out: &Tensor,
    target: &Tensor,
    vars: &[candle_core::Var],
) -> candle_core::Result<(f32, Vec<Vec<f32>>)> {
    let loss = (out - target)?.sqr()?.mean_all()?;
    let grads = grads_of(&loss, vars)?;
    Ok((loss.to_scalar::<f32>()?, grads))
}

/// The gradient of the scalar `loss` with respect to each of `vars`, in order, as plain
/// vectors (zeros for a variable the loss does not depend on).
pub fn grads_of(loss: &Tensor, vars: &[candle_core::Var]) -> candle_core::Result<Vec<Vec<f32>>> {
    let grads = loss.backward()?;
    vars.iter()
        .map(|v| {
            grads
                .get(v)
                .map_or_else(|| Ok(vec![0.0; v.elem_count()]), tensor_vec)
        })
        .collect()
}

/// Sinusoidal embedding of every value of a `rows × cols` input, each column with its
/// own scale, concatenated per row: `rows × (cols·width)`; optionally followed by the same
/// precomputed `tail` in every row (the one `t` of a sampling step, embedded once).
#[derive(Clone, Debug)]
pub struct Embed {
    /// Scale per input column (25 for x and y, 1 for t in the 2D model).
    pub scales: Vec<f32>,
    /// `f_k`, `k = 0..width/2`.
    pub freqs: Arc<[f32]>,
    /// Values appended to every row (not differentiated).
    pub tail: Option<Arc<[f32]>>,
}

impl Embed {
    /// Embedding of `scales.len()` columns, `width` values each.
    #[must_use]
    pub fn new(scales: Vec<f32>, width: usize) -> Self {
        Self {
            scales,
            freqs: kernels::frequencies(width).into(),
            tail: None,
        }
    }

    fn width(&self) -> usize {
        2 * self.freqs.len()
    }
}

impl CustomOp1 for Embed {
    fn name(&self) -> &'static str {
        "sinusoidal-embedding"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let input = slice(storage, layout, self.name())?;
        let cols = self.scales.len();
        let (rows, in_cols) = layout.shape().dims2()?;
        if in_cols != cols {
            return Err(candle_core::Error::Msg(format!(
                "embedding: {in_cols} columns, expected {cols}"
            )));
        }
        let body = cols * self.width();
        let tail = self.tail.as_deref().unwrap_or(&[]);
        let out_cols = body + tail.len();
        let mut out = vec![0f32; rows * out_cols];
        if tail.is_empty() {
            kernels::embed_rows(input, &self.scales, &self.freqs, &mut out);
        } else {
            let mut body_buf = vec![0f32; rows * body];
            kernels::embed_rows(input, &self.scales, &self.freqs, &mut body_buf);
            for (row, src) in out.chunks_exact_mut(out_cols).zip(body_buf.chunks_exact(body)) {
                row[..body].copy_from_slice(src);
                row[body..].copy_from_slice(tail);
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((rows, out_cols))))
    }

    fn bwd(&self, arg: &Tensor, res: &Tensor, grad_res: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (rows, cols) = arg.dims2()?;
        let body = cols * self.width();
        let res = res.narrow(1, 0, body)?;
        let grad = grad_res.narrow(1, 0, body)?;
        let out = tensor_vec(&res)?;
        let grad = tensor_vec(&grad)?;
        let mut grad_input = vec![0f32; rows * cols];
        kernels::embed_rows_backward(&out, &grad, &self.scales, &self.freqs, &mut grad_input);
        Ok(Some(Tensor::from_vec(grad_input, (rows, cols), arg.device())?))
    }
}

/// `GELU(z + b)` with the exact (erf) GELU, `z` a `rows × n` matrix and `b` a vector of
/// `n`: one pass forward, one pass backward (which also sums the bias gradient).
#[derive(Clone, Copy, Debug)]
pub struct BiasGelu;

impl CustomOp2 for BiasGelu {
    fn name(&self) -> &'static str {
        "bias-gelu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let z = slice(s1, l1, self.name())?;
        let bias = slice(s2, l2, self.name())?;
        let (_, n) = l1.shape().dims2()?;
        if bias.len() != n {
            return Err(candle_core::Error::Msg(format!(
                "bias-gelu: bias of {} for {n} columns",
                bias.len()
            )));
        }
        let mut out = vec![0f32; z.len()];
        kernels::bias_gelu(z, bias, &[], &mut out);
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        z: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (grad_z, grad_b) = bias_gelu_grads(z, bias, grad_res, 1)?;
        Ok((Some(grad_z), Some(grad_b)))
    }
}

/// Gradients of `GELU(z + b)` with respect to `z` and `b`: `z` is `rows × f`, `bias` one
/// row of `f` for all rows, or one row per `per` rows of `z` (see [`bias_gelu_backward`]).
pub(super) fn bias_gelu_grads(
    z: &Tensor,
    bias: &Tensor,
    grad_res: &Tensor,
    per: usize,
) -> candle_core::Result<(Tensor, Tensor)> {
    let zv = tensor_vec(z)?;
    let bv = tensor_vec(bias)?;
    let g = tensor_vec(grad_res)?;
    let (grad_z, grad_b) = bias_gelu_backward(&zv, &bv, &g, last_dim(z.dims()), per);
    Ok((
        Tensor::from_vec(grad_z, z.shape(), z.device())?,
        Tensor::from_vec(grad_b, bias.shape(), bias.device())?,
    ))
}

/// `(∂z, ∂b)` of `GELU(z + b)` given `∂out = g`, `z` in rows of `f` values: `bias` is one
/// row of `f` for all rows (one pass), or a row of `f` per `per` rows of `z` (those blocks
/// in parallel, each summing its own bias row's gradient).
pub(super) fn bias_gelu_backward(
    z: &[f32],
    bias: &[f32],
    g: &[f32],
    f: usize,
    per: usize,
) -> (Vec<f32>, Vec<f32>) {
    let mut grad_z = vec![0f32; z.len()];
    let mut grad_b = vec![0f32; bias.len()];
    if bias.len() <= f {
        kernels::bias_gelu_backward(z, bias, g, &mut grad_z, &mut grad_b);
    } else {
        let block = per * f;
        grad_z
            .par_chunks_mut(block)
            .zip(grad_b.par_chunks_mut(f))
            .zip(z.par_chunks(block).zip(g.par_chunks(block)))
            .zip(bias.par_chunks(f))
            .for_each(|(((gz, gb), (z, g)), b)| kernels::bias_gelu_backward(z, b, g, gz, gb));
    }
    (grad_z, grad_b)
}

/// The last dimension of a shape (1 for a scalar).
pub(super) fn last_dim(dims: &[usize]) -> usize {
    dims.last().copied().unwrap_or(1).max(1)
}

/// The residual block's activation, `h + GELU(z + b)` (`h`, `z` are `rows × n`, `b` has
/// `n` values), in one pass each way.
#[derive(Clone, Copy, Debug)]
pub struct ResidualBiasGelu;

impl CustomOp3 for ResidualBiasGelu {
    fn name(&self) -> &'static str {
        "residual-bias-gelu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let h = slice(s1, l1, self.name())?;
        let z = slice(s2, l2, self.name())?;
        let bias = slice(s3, l3, self.name())?;
        let (_, n) = l2.shape().dims2()?;
        if bias.len() != n || h.len() != z.len() {
            return Err(candle_core::Error::Msg(format!(
                "residual-bias-gelu: shapes {:?}, {:?}, {:?} do not fit",
                l1.dims(),
                l2.dims(),
                l3.dims()
            )));
        }
        let mut out = vec![0f32; z.len()];
        kernels::bias_gelu(z, bias, h, &mut out);
        Ok((CpuStorage::F32(out), l2.shape().clone()))
    }

    fn bwd(
        &self,
        _h: &Tensor,
        z: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (grad_z, grad_b) = bias_gelu_grads(z, bias, grad_res, 1)?;
        Ok((Some(grad_res.clone()), Some(grad_z), Some(grad_b)))
    }
}

/// A residual block of the 2D model with the two tangents of its exact divergence, in
/// place on `z = h·Wᵀ` (inference only): with `h` and `z` (`3n × cols`, values then the x
/// and y tangents) and the bias `b`, `z ← h + [GELU(z_v + b); GELU'(z_v + b)·z_x;
/// GELU'(z_v + b)·z_y]` — no new buffer per layer. `parts`: 3, or 1 for the values alone.
#[derive(Clone, Copy, Debug)]
pub struct ResidualGeluTangents {
    /// Row blocks of `z`: 3 (values and two tangents) or 1 (values).
    pub parts: usize,
}

impl InplaceOp3 for ResidualGeluTangents {
    fn name(&self) -> &'static str {
        "residual-gelu-tangents"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<()> {
        let h = slice(s2, l2, self.name())?;
        let bias = slice(s3, l3, self.name())?;
        let (rows, cols) = l1.shape().dims2()?;
        let (start, end) = l1
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg(format!("{}: z must be contiguous", self.name())))?;
        let CpuStorage::F32(z) = s1 else {
            return Err(candle_core::Error::Msg(format!("{}: z must be f32", self.name())));
        };
        let z = &mut z[start..end];
        if bias.len() != cols || h.len() != z.len() || !rows.is_multiple_of(self.parts) {
            return Err(candle_core::Error::Msg(format!(
                "residual-gelu-tangents: shapes {:?}, {:?}, {:?} do not fit",
                l1.dims(),
                l2.dims(),
                l3.dims()
            )));
        }
        kernels::bias_gelu_with_tangents(z, bias, h, self.parts);
        Ok(())
    }
}

/// A linear map without bias, `x·Wᵀ` (`x` is `rows × in`, `W` is PyTorch's `out × in`),
/// whose backward skips the input's gradient when the input is data (the embedding): plain
/// candle computes both gradients of every matmul and accumulates each into a fresh zero
/// tensor.
#[derive(Clone, Copy, Debug)]
pub struct Linear {
    /// Whether to return the gradient with respect to the input.
    pub input_grad: bool,
}

impl CustomOp2 for Linear {
    fn name(&self) -> &'static str {
        "linear"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        use candle_core::backend::BackendStorage;
        let (rows, k) = l1.shape().dims2()?;
        let (out, k2) = l2.shape().dims2()?;
        if k != k2 {
            return Err(candle_core::Error::Msg(format!(
                "linear: input has {k} columns, weight takes {k2}"
            )));
        }
        let wt = l2.transpose(0, 1)?;
        let y = s1.matmul(s2, (1, rows, out, k), l1, &wt)?;
        Ok((y, Shape::from((rows, out))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad_x = if self.input_grad {
            Some(grad_res.matmul(w)?)
        } else {
            None
        };
        let grad_w = grad_res.t()?.matmul(x)?;
        Ok((grad_x, Some(grad_w)))
    }
}
