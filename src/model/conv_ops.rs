//! candle `CustomOp`s of the image denoiser ([`super::conv`]), forward and backward, on
//! images stored pixel-major: a batch of `n` images `H × W` with `C` channels is one
//! `(n·H·W) × C` matrix (NHWC), so that a 3×3 convolution is one matrix product
//! (im2col) and a per-channel bias is a bias per column, as in [`super::ops`].
//!
//! - [`Conv3x3`]: a 3×3 convolution with dilation `d` and zero padding `d` (same size
//!   out), weights in PyTorch's `[out, in, 3, 3]`, no bias.
//! - [`Gelu`]: the exact (erf) GELU.
//! - [`ExampleBiasGelu`]: `GELU(z + b[example])`, a bias row per image (the time
//!   embedding's projection) broadcast over that image's pixels.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::kernels;
use super::ops::tensor_vec;

/// Taps of a 3×3 kernel.
const TAPS: usize = 9;

/// Reads a contiguous `f32` CPU storage as a slice.
fn slice<'a>(storage: &'a CpuStorage, layout: &Layout, op: &'static str) -> candle_core::Result<&'a [f32]> {
    let data = storage.as_slice::<f32>()?;
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg(format!("{op}: input must be contiguous")))?;
    Ok(&data[start..end])
}

/// The pixel grid of a batch: `height × width` pixels per image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grid {
    /// Rows of an image.
    pub height: usize,
    /// Columns of an image.
    pub width: usize,
}

impl Grid {
    /// Pixels per image.
    #[must_use]
    pub const fn pixels(self) -> usize {
        self.height * self.width
    }

    /// For every tap `(ky, kx)` of a 3×3 kernel with dilation `d`, the pixel offset
    /// `(dy, dx) = ((ky − 1)·d, (kx − 1)·d)`.
    fn offsets(dilation: usize) -> [(isize, isize); TAPS] {
        let d = dilation as isize;
        std::array::from_fn(|tap| (((tap / 3) as isize - 1) * d, ((tap % 3) as isize - 1) * d))
    }

    /// The source pixel of output pixel `(y, x)` at offset `(dy, dx)`, if inside.
    #[inline]
    fn source(self, y: usize, x: usize, (dy, dx): (isize, isize)) -> Option<usize> {
        let sy = y as isize + dy;
        let sx = x as isize + dx;
        ((0..self.height as isize).contains(&sy) && (0..self.width as isize).contains(&sx))
            .then(|| sy as usize * self.width + sx as usize)
    }
}

/// im2col of one image: `input` is `pixels × c`, `cols` is `pixels × 9c`, row `p` holding
/// the 9 taps around pixel `p` in order `(ky, kx)`, `c` channels each (zeros outside).
fn im2col_image(grid: Grid, dilation: usize, c: usize, input: &[f32], cols: &mut [f32]) {
    let offsets = Grid::offsets(dilation);
    let k = TAPS * c;
    for y in 0..grid.height {
        for x in 0..grid.width {
            let row = &mut cols[(y * grid.width + x) * k..][..k];
            for (tap, off) in offsets.iter().enumerate() {
                let dst = &mut row[tap * c..][..c];
                match grid.source(y, x, *off) {
                    Some(s) => dst.copy_from_slice(&input[s * c..][..c]),
                    None => dst.fill(0.0),
                }
            }
        }
    }
}

/// im2col of a batch (`input` is `(n·pixels) × c`), in parallel over images.
#[must_use]
pub fn im2col(grid: Grid, dilation: usize, c: usize, input: &[f32]) -> Vec<f32> {
    let px = grid.pixels();
    let mut cols = vec![0f32; input.len() * TAPS];
    cols.par_chunks_mut(px * TAPS * c)
        .zip(input.par_chunks(px * c))
        .for_each(|(cols, input)| im2col_image(grid, dilation, c, input, cols));
    cols
}

/// The adjoint of [`im2col`]: sums each column entry back into the pixel it was read
/// from. Written as a gather (every input pixel sums its ≤ 9 uses), in parallel over images.
#[must_use]
pub fn col2im(grid: Grid, dilation: usize, c: usize, cols: &[f32]) -> Vec<f32> {
    let px = grid.pixels();
    let offsets = Grid::offsets(dilation);
    let k = TAPS * c;
    let mut out = vec![0f32; cols.len() / TAPS];
    out.par_chunks_mut(px * c).zip(cols.par_chunks(px * k)).for_each(|(out, cols)| {
        for y in 0..grid.height {
            for x in 0..grid.width {
                let dst = &mut out[(y * grid.width + x) * c..][..c];
                // Output pixel q read pixel p at tap j when p = q + off_j, so q = p − off_j.
                for (tap, &(dy, dx)) in offsets.iter().enumerate() {
                    if let Some(q) = grid.source(y, x, (-dy, -dx)) {
                        for (d, s) in dst.iter_mut().zip(&cols[q * k + tap * c..][..c]) {
                            *d += s;
                        }
                    }
                }
            }
        }
    });
    out
}

/// PyTorch's `[out, in, 3, 3]` weight as the `[out, 9·in]` matrix of [`im2col`]'s column
/// order `(ky, kx, in)`.
#[must_use]
pub fn weight_to_cols(w: &[f32], out: usize, c: usize) -> Vec<f32> {
    let mut m = vec![0f32; w.len()];
    for o in 0..out {
        for ch in 0..c {
            for tap in 0..TAPS {
                m[o * TAPS * c + tap * c + ch] = w[(o * c + ch) * TAPS + tap];
            }
        }
    }
    m
}

/// The inverse of [`weight_to_cols`].
#[must_use]
pub fn cols_to_weight(m: &[f32], out: usize, c: usize) -> Vec<f32> {
    let mut w = vec![0f32; m.len()];
    for o in 0..out {
        for ch in 0..c {
            for tap in 0..TAPS {
                w[(o * c + ch) * TAPS + tap] = m[o * TAPS * c + tap * c + ch];
            }
        }
    }
    w
}

/// A 3×3 convolution, dilation `d`, zero padding `d`, stride 1, no bias — PyTorch's
/// `nn.Conv2d(in, out, 3, padding=d, dilation=d, bias=False)` — on NHWC images:
/// input `(n·H·W) × in`, weight `[out, in, 3, 3]`, output `(n·H·W) × out`.
/// Forward is `im2col(x)·W'ᵀ`; backward `∂W' = gᵀ·im2col(x)` and
/// `∂x = col2im(g·W')` (skipped when the input is data).
#[derive(Clone, Copy, Debug)]
pub struct Conv3x3 {
    /// Image size.
    pub grid: Grid,
    /// Dilation (and padding).
    pub dilation: usize,
    /// Whether to return the gradient with respect to the input.
    pub input_grad: bool,
}

impl Conv3x3 {
    fn check(&self, rows: usize, c: usize, w_dims: &[usize]) -> candle_core::Result<usize> {
        match *w_dims {
            [out, c2, 3, 3] if c2 == c && rows % self.grid.pixels() == 0 => Ok(out),
            _ => Err(candle_core::Error::Msg(format!(
                "conv3x3: input {rows}×{c} and weight {w_dims:?} do not fit {}×{} images",
                self.grid.height, self.grid.width
            ))),
        }
    }
}

impl CustomOp2 for Conv3x3 {
    fn name(&self) -> &'static str {
        "conv3x3"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = slice(s1, l1, self.name())?;
        let w = slice(s2, l2, self.name())?;
        let (rows, c) = l1.shape().dims2()?;
        let out = self.check(rows, c, l2.dims())?;
        let k = TAPS * c;
        let cols = CpuStorage::F32(im2col(self.grid, self.dilation, c, x));
        let wm = CpuStorage::F32(weight_to_cols(w, out, c));
        let cols_l = Layout::contiguous((rows, k));
        let wt_l = Layout::contiguous((out, k)).transpose(0, 1)?;
        let y = cols.matmul(&wm, (1, rows, out, k), &cols_l, &wt_l)?;
        Ok((y, Shape::from((rows, out))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (rows, c) = x.dims2()?;
        let out = self.check(rows, c, w.dims())?;
        let k = TAPS * c;
        let dev = x.device();
        let g = grad_res.contiguous()?;
        let cols = Tensor::from_vec(im2col(self.grid, self.dilation, c, &tensor_vec(x)?), (rows, k), dev)?;
        let gw = tensor_vec(&g.t()?.matmul(&cols)?)?;
        let grad_w = Tensor::from_vec(cols_to_weight(&gw, out, c), w.shape(), dev)?;
        let grad_x = if self.input_grad {
            let wm = Tensor::from_vec(weight_to_cols(&tensor_vec(w)?, out, c), (out, k), dev)?;
            let gcols = tensor_vec(&g.matmul(&wm)?)?;
            Some(Tensor::from_vec(col2im(self.grid, self.dilation, c, &gcols), (rows, c), dev)?)
        } else {
            None
        };
        Ok((grad_x, Some(grad_w)))
    }
}

/// The last dimension of a shape (1 for a scalar).
fn last_dim(dims: &[usize]) -> usize {
    dims.last().copied().unwrap_or(1).max(1)
}

/// The exact (erf) GELU of every value, one pass each way.
#[derive(Clone, Copy, Debug)]
pub struct Gelu;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "gelu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let z = slice(storage, layout, self.name())?;
        let mut out = vec![0f32; z.len()];
        // The fused kernel with a zero bias over the last dimension.
        let zero = vec![0f32; last_dim(layout.dims())];
        kernels::bias_gelu(z, &zero, &[], &mut out);
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let z = tensor_vec(arg)?;
        let g = tensor_vec(grad_res)?;
        let mut gz = vec![0f32; z.len()];
        let zero = vec![0f32; last_dim(arg.dims())];
        let mut unused = zero.clone();
        kernels::bias_gelu_backward(&z, &zero, &g, &mut gz, &mut unused);
        Ok(Some(Tensor::from_vec(gz, arg.shape(), arg.device())?))
    }
}

/// `GELU(z + b[i])` on the pixels of image `i`: `z` is `(n·H·W) × f`, `b` is `n × f` (a
/// bias row per image) or `1 × f` (one row for all images, as at sampling).
#[derive(Clone, Copy, Debug)]
pub struct ExampleBiasGelu {
    /// Pixels per image, `H·W`.
    pub pixels: usize,
}

impl ExampleBiasGelu {
    /// Rows of `z` per bias row, checked.
    fn rows_per_bias(&self, z: &[usize], b: &[usize]) -> candle_core::Result<usize> {
        match (z, b) {
            (&[rows, f], &[1, f2]) if f == f2 => Ok(rows),
            (&[rows, f], &[m, f2]) if f == f2 && rows == m * self.pixels => Ok(self.pixels),
            _ => Err(candle_core::Error::Msg(format!(
                "example-bias-gelu: shapes {z:?} and {b:?} do not fit images of {} pixels",
                self.pixels
            ))),
        }
    }
}

impl CustomOp2 for ExampleBiasGelu {
    fn name(&self) -> &'static str {
        "example-bias-gelu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let z = slice(s1, l1, self.name())?;
        let b = slice(s2, l2, self.name())?;
        let per = self.rows_per_bias(l1.dims(), l2.dims())?;
        let f = l1.dims()[1];
        let mut out = vec![0f32; z.len()];
        out.par_chunks_mut(per * f)
            .zip(z.par_chunks(per * f))
            .zip(b.par_chunks(f))
            .for_each(|((out, z), b)| kernels::bias_gelu(z, b, &[], out));
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        z: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let per = self.rows_per_bias(z.dims(), b.dims())?;
        let f = z.dims()[1];
        let zv = tensor_vec(z)?;
        let bv = tensor_vec(b)?;
        let g = tensor_vec(grad_res)?;
        let mut gz = vec![0f32; zv.len()];
        let mut gb = vec![0f32; bv.len()];
        gz.par_chunks_mut(per * f)
            .zip(gb.par_chunks_mut(f))
            .zip(zv.par_chunks(per * f).zip(g.par_chunks(per * f)))
            .zip(bv.par_chunks(f))
            .for_each(|(((gz, gb), (z, g)), b)| kernels::bias_gelu_backward(z, b, g, gz, gb));
        Ok((
            Some(Tensor::from_vec(gz, z.shape(), z.device())?),
            Some(Tensor::from_vec(gb, b.shape(), b.device())?),
        ))
    }
}
