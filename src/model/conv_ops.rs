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
use std::cell::RefCell;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Shape, Storage, Tensor};
use rayon::prelude::*;

use super::kernels;
use super::ops::{bias_gelu_backward, bias_gelu_grads, cpu_only, last_dim, slice, tensor_vec, with_values};

/// Taps of a 3×3 kernel.
pub(super) const TAPS: usize = 9;

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
                    Some(s) => copy_channels(dst, &input[s * c..][..c]),
                    None => copy_channels(dst, &ZEROS[..c.min(ZEROS.len())]),
                }
            }
        }
    }
}

/// Zeros for the taps outside the image.
const ZEROS: [f32; FEATURE_COPY] = [0.0; FEATURE_COPY];

/// The most channels copied as one fixed-size move.
const FEATURE_COPY: usize = 64;

/// `dst ← src` (`dst` of `c` values; `src` of `c`, or the first `c` of [`ZEROS`]). The
/// networks' feature widths (24, 32, 48, 64) are each one fixed-size copy the compiler
/// inlines as a few vector moves: a call to `memmove` (or `memset`) per tap cost a tenth
/// of the digits model's time, and an eighth of the glyph U-Net's.
#[allow(clippy::inline_always)] // it must inline into im2col's loop to become moves
#[inline(always)]
fn copy_channels(dst: &mut [f32], src: &[f32]) {
    macro_rules! fixed {
        ($($n:literal),*) => {
            match dst.len() {
                $($n => {
                    if let (Ok(d), Ok(s)) = (
                        <&mut [f32; $n]>::try_from(&mut *dst),
                        <&[f32; $n]>::try_from(src),
                    ) {
                        *d = *s;
                        return;
                    }
                })*
                _ => {}
            }
        };
    }
    fixed!(24, 32, 48, 64);
    if src.len() == dst.len() {
        dst.copy_from_slice(src);
    } else {
        dst.fill(0.0);
    }
}

/// Values of im2col scratch per chunk of images (1 MiB): a chunk's columns are written
/// and then read by the matrix product while still in cache.
const CHUNK_VALUES: usize = 256 * 1024;

thread_local! {
    /// This thread's im2col buffer, reused from call to call.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Fills this thread's scratch buffer, resized to `len`, with `fill` and hands it to `f`
/// as candle storage. The buffer is taken out while in use, so a nested call (rayon may
/// run another chunk on this thread inside the matrix product) simply gets a fresh one.
fn with_scratch<R>(
    len: usize,
    fill: impl FnOnce(&mut [f32]),
    f: impl FnOnce(&CpuStorage) -> candle_core::Result<R>,
) -> candle_core::Result<R> {
    let mut buf = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
    buf.resize(len, 0.0);
    fill(&mut buf);
    let storage = CpuStorage::F32(buf);
    let out = f(&storage);
    if let CpuStorage::F32(buf) = storage {
        SCRATCH.with(|s| *s.borrow_mut() = buf);
    }
    out
}

/// PyTorch's `[out, in, 3, 3]` weight as the `[out, 9·in]` matrix of im2col's column
/// order `(ky, kx, in)`; with `flip`, the weight of the adjoint convolution instead, as
/// `[in, 9·out]`: `w[o, c, 8 − tap]` at `[c, tap·out + o]`.
#[must_use]
pub fn weight_to_cols(w: &[f32], out: usize, c: usize, flip: bool) -> Vec<f32> {
    let mut m = vec![0f32; w.len()];
    for o in 0..out {
        for ch in 0..c {
            for tap in 0..TAPS {
                let v = w[(o * c + ch) * TAPS + tap];
                if flip {
                    m[ch * TAPS * out + (TAPS - 1 - tap) * out + o] = v;
                } else {
                    m[o * TAPS * c + tap * c + ch] = v;
                }
            }
        }
    }
    m
}

/// The inverse of [`weight_to_cols`] without `flip`.
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

/// Output pixels of an image that share the set of taps falling inside it: at the U-Net's
/// sampling a convolution skips the zero padding's taps, grouping the pixels by those
/// sets (the conv net's inference has its own pass, [`super::conv_infer`]). A dilation-4
/// convolution of an 8×8 digit has 4 of its 9 taps inside at every pixel.
#[derive(Clone, Debug, PartialEq, Eq)]
struct TapClass {
    /// The taps used, in im2col's order.
    taps: Vec<usize>,
    /// The class's output pixels.
    pixels: Vec<usize>,
    /// For each pixel and tap, the source pixel, or `None` for a zero (a tap outside the
    /// image, in a class merged from small ones).
    sources: Vec<Option<usize>>,
}

/// A class of fewer output rows than this per chunk is merged with the other small ones
/// (computing their zeros): the matrix product of a few rows costs more than it skips.
const MIN_CLASS_ROWS: usize = 64;

/// The tap classes of `grid` at `dilation` for chunks of `images` images.
fn tap_classes(grid: Grid, dilation: usize, images: usize) -> Vec<TapClass> {
    let offsets = Grid::offsets(dilation);
    let mut by_mask: Vec<(u16, Vec<usize>)> = Vec::new();
    for y in 0..grid.height {
        for x in 0..grid.width {
            let mask = (0..TAPS)
                .filter(|&t| grid.source(y, x, offsets[t]).is_some())
                .fold(0u16, |m, t| m | 1 << t);
            match by_mask.iter_mut().find(|(m, _)| *m == mask) {
                Some((_, pixels)) => pixels.push(y * grid.width + x),
                None => by_mask.push((mask, vec![y * grid.width + x])),
            }
        }
    }
    let (big, small): (Vec<_>, Vec<_>) = by_mask
        .into_iter()
        .partition(|(_, pixels)| pixels.len() * images >= MIN_CLASS_ROWS);
    let merged = small.into_iter().reduce(|(m1, mut p1), (m2, p2)| {
        p1.extend(p2);
        (m1 | m2, p1)
    });
    big.into_iter()
        .chain(merged)
        .map(|(mask, mut pixels)| {
            pixels.sort_unstable();
            let taps: Vec<usize> = (0..TAPS).filter(|t| mask & 1 << t != 0).collect();
            let sources = pixels
                .iter()
                .flat_map(|&p| {
                    let (y, x) = (p / grid.width, p % grid.width);
                    taps.iter().map(move |&t| grid.source(y, x, offsets[t]))
                })
                .collect();
            TapClass {
                taps,
                pixels,
                sources,
            }
        })
        .collect()
}

/// A 3×3 convolution, dilation `d`, zero padding `d`, stride 1 — PyTorch's
/// `nn.Conv2d(in, out, 3, padding=d, dilation=d)` — on NHWC images: input
/// `(n·H·W) × in`, weight `[out, in, 3, 3]`, bias `[out]`, output `(n·H·W) × out`.
///
/// Forward is `im2col(x)·W'ᵀ + b` (`W'` the weight as `[out, 9·in]`), a chunk of images at a
/// time so that the columns stay in cache. Backward: `∂W' = Σ_chunks gᵀ·im2col(x)`, and
/// `∂x` is the adjoint convolution, `im2col(g)·W''ᵀ` with the taps of `W` mirrored
/// (`W''` is `[in, 9·out]`; skipped when the input is data).
#[derive(Clone, Copy, Debug)]
pub struct Conv3x3 {
    /// Image size.
    pub grid: Grid,
    /// Dilation (and padding).
    pub dilation: usize,
    /// Whether to return the gradient with respect to the input.
    pub input_grad: bool,
    /// The weight is already the `[out, 9·in]` matrix of [`weight_to_cols`] (prepared once
    /// for the U-Net's inference; such a convolution has no backward).
    pub prepared: bool,
}

impl Conv3x3 {
    fn check(&self, rows: usize, c: usize, w_dims: &[usize]) -> candle_core::Result<usize> {
        if !rows.is_multiple_of(self.grid.pixels()) {
            return Err(candle_core::Error::Msg(format!(
                "conv3x3: {rows} rows are not whole {}×{} images",
                self.grid.height, self.grid.width
            )));
        }
        match *w_dims {
            [out, c2, 3, 3] if c2 == c && !self.prepared => Ok(out),
            [out, k] if k == TAPS * c && self.prepared => Ok(out),
            _ => Err(candle_core::Error::Msg(format!(
                "conv3x3: input {rows}×{c} and weight {w_dims:?} do not fit {}×{} images",
                self.grid.height, self.grid.width
            ))),
        }
    }

    /// im2col of whole images: `x` is `n` images of `c` channels, `cols` their `n·pixels ×
    /// 9c` columns.
    fn im2col(&self, c: usize, x: &[f32], cols: &mut [f32]) {
        let px = self.grid.pixels();
        for (x, cols) in x.chunks_exact(px * c).zip(cols.chunks_exact_mut(px * TAPS * c)) {
            im2col_image(self.grid, self.dilation, c, x, cols);
        }
    }

    /// Images per chunk for `c` input channels.
    fn chunk_images(&self, c: usize) -> usize {
        (CHUNK_VALUES / (self.grid.pixels() * TAPS * c).max(1)).max(1)
    }

    /// `im2col(x)·Wᵀ + b` for `x` of `c` channels, `wm` the `[out, 9c]` weight matrix and
    /// `bias` of `out` values (or empty for none).
    fn apply(
        &self,
        x: &[f32],
        c: usize,
        (wm, wm_layout): (&CpuStorage, &Layout),
        bias: &[f32],
        out: usize,
    ) -> candle_core::Result<Vec<f32>> {
        let px = self.grid.pixels();
        let k = TAPS * c;
        let imgs = self.chunk_images(c);
        let wt = wm_layout.transpose(0, 1)?;
        let mut y = vec![0f32; x.len() / c * out];
        y.par_chunks_mut(imgs * px * out)
            .zip(x.par_chunks(imgs * px * c))
            .try_for_each(|(y, x)| {
                let rows = x.len() / c;
                with_scratch(
                    rows * k,
                    |cols| self.im2col(c, x, cols),
                    |cols| {
                        let r = cols.matmul(wm, (1, rows, out, k), &Layout::contiguous((rows, k)), &wt)?;
                        let r = r.as_slice::<f32>()?;
                        if bias.is_empty() {
                            y.copy_from_slice(r);
                        } else {
                            for (y, r) in y.chunks_exact_mut(out).zip(r.chunks_exact(out)) {
                                for ((y, r), b) in y.iter_mut().zip(r).zip(bias) {
                                    *y = r + b;
                                }
                            }
                        }
                        Ok(())
                    },
                )
            })?;
        Ok(y)
    }

    /// [`Self::apply`] without the zero padding's taps: each chunk of images is one matrix
    /// product per [`TapClass`], of the class's pixels and taps (`wm` the `[out, 9c]`
    /// weight matrix, `bias` of `out` values). The same sums less the zero terms.
    fn apply_by_taps(
        &self,
        x: &[f32],
        c: usize,
        wm: &[f32],
        bias: &[f32],
        out: usize,
    ) -> candle_core::Result<Vec<f32>> {
        let px = self.grid.pixels();
        let imgs = self.chunk_images(c);
        let classes = tap_classes(self.grid, self.dilation, imgs);
        // Each class's weight matrix `[out, taps·c]`, its columns gathered from `wm`.
        let weights: Vec<CpuStorage> = classes
            .iter()
            .map(|class| {
                let k = class.taps.len() * c;
                let mut m = vec![0f32; out * k];
                for (row, w) in m.chunks_exact_mut(k).zip(wm.chunks_exact(TAPS * c)) {
                    for (dst, &tap) in row.chunks_exact_mut(c).zip(&class.taps) {
                        dst.copy_from_slice(&w[tap * c..][..c]);
                    }
                }
                CpuStorage::F32(m)
            })
            .collect();
        let mut y = vec![0f32; x.len() / c * out];
        y.par_chunks_mut(imgs * px * out)
            .zip(x.par_chunks(imgs * px * c))
            .try_for_each(|(y, x)| {
                let n = x.len() / (px * c);
                for (class, wk) in classes.iter().zip(&weights) {
                    let taps = class.taps.len();
                    let k = taps * c;
                    let rows = n * class.pixels.len();
                    with_scratch(
                        rows * k,
                        |cols| {
                            let per_image = class.pixels.len() * k;
                            for (x, cols) in x.chunks_exact(px * c).zip(cols.chunks_exact_mut(per_image)) {
                                for (dst, src) in cols.chunks_exact_mut(c).zip(&class.sources) {
                                    match src {
                                        Some(s) => copy_channels(dst, &x[s * c..][..c]),
                                        None => copy_channels(dst, &ZEROS[..c.min(ZEROS.len())]),
                                    }
                                }
                            }
                        },
                        |cols| {
                            let wt = Layout::contiguous((out, k)).transpose(0, 1)?;
                            let r =
                                cols.matmul(wk, (1, rows, out, k), &Layout::contiguous((rows, k)), &wt)?;
                            let r = r.as_slice::<f32>()?;
                            let mut r = r.chunks_exact(out);
                            for y in y.chunks_exact_mut(px * out) {
                                for (&p, r) in class.pixels.iter().zip(&mut r) {
                                    for ((y, r), b) in y[p * out..][..out].iter_mut().zip(r).zip(bias) {
                                        *y = r + b;
                                    }
                                }
                            }
                            Ok(())
                        },
                    )?;
                }
                Ok::<(), candle_core::Error>(())
            })?;
        Ok(y)
    }

    /// `∂W'` (`[out, 9c]`) from the input `x` and the output gradient `g` (storage and
    /// layout, contiguous).
    fn weight_grad(
        &self,
        x: &[f32],
        c: usize,
        g: &CpuStorage,
        g_layout: &Layout,
        out: usize,
    ) -> candle_core::Result<Vec<f32>> {
        let px = self.grid.pixels();
        let k = TAPS * c;
        let imgs = self.chunk_images(c);
        let base = g_layout.start_offset();
        let partials = x
            .par_chunks(imgs * px * c)
            .enumerate()
            .map(|(i, x)| {
                let rows = x.len() / c;
                with_scratch(
                    rows * k,
                    |cols| self.im2col(c, x, cols),
                    |cols| {
                        let gt = Layout::contiguous_with_offset((rows, out), base + i * imgs * px * out)
                            .transpose(0, 1)?;
                        let r = g.matmul(cols, (1, out, k, rows), &gt, &Layout::contiguous((rows, k)))?;
                        match r {
                            CpuStorage::F32(v) => Ok(v),
                            _ => Err(candle_core::Error::Msg("conv3x3: f32 expected".into())),
                        }
                    },
                )
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        // Summed in chunk order: the same result for any number of threads.
        let mut sum = vec![0f32; out * k];
        for p in partials {
            for (s, v) in sum.iter_mut().zip(p) {
                *s += v;
            }
        }
        Ok(sum)
    }
}

impl CustomOp3 for Conv3x3 {
    fn name(&self) -> &'static str {
        "conv3x3"
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
        let x = slice(s1, l1, self.name())?;
        let w = slice(s2, l2, self.name())?;
        let b = slice(s3, l3, self.name())?;
        let (rows, c) = l1.shape().dims2()?;
        let out = self.check(rows, c, l2.dims())?;
        if b.len() != out {
            return Err(candle_core::Error::Msg(format!(
                "conv3x3: bias of {} for {out} channels",
                b.len()
            )));
        }
        let y = if self.prepared {
            self.apply_by_taps(x, c, w, b, out)?
        } else {
            let wm = CpuStorage::F32(weight_to_cols(w, out, c, false));
            self.apply(x, c, (&wm, &Layout::contiguous((out, TAPS * c))), b, out)?
        };
        Ok((CpuStorage::F32(y), Shape::from((rows, out))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (rows, c) = x.dims2()?;
        if self.prepared {
            return Err(candle_core::Error::Msg(
                "conv3x3: a prepared (inference) weight has no backward".into(),
            ));
        }
        let out = self.check(rows, c, w.dims())?;
        let dev = x.device();
        let g = grad_res.contiguous()?;
        let (g_storage, g_layout) = g.storage_and_layout();
        let Storage::Cpu(g_cpu) = &*g_storage else {
            return Err(cpu_only());
        };
        let g_values = slice(g_cpu, g_layout, self.name())?;
        let gw = with_values(x, self.name(), |x| self.weight_grad(x, c, g_cpu, g_layout, out))?;
        let grad_w = Tensor::from_vec(cols_to_weight(&gw, out, c), w.shape(), dev)?;
        let mut gb = vec![0f32; out];
        for row in g_values.chunks_exact(out) {
            for (s, v) in gb.iter_mut().zip(row) {
                *s += v;
            }
        }
        let grad_b = Tensor::from_vec(gb, b.shape(), dev)?;
        let grad_x = if self.input_grad {
            let wb = CpuStorage::F32(with_values(w, self.name(), |w| {
                Ok(weight_to_cols(w, out, c, true))
            })?);
            let gx = self.apply(g_values, out, (&wb, &Layout::contiguous((c, TAPS * out))), &[], c)?;
            Some(Tensor::from_vec(gx, (rows, c), dev)?)
        } else {
            None
        };
        Ok((grad_x, Some(grad_w), Some(grad_b)))
    }
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
        let f = last_dim(arg.dims());
        // The bias-GELU backward with one zero bias row for all rows.
        let (gz, _) = bias_gelu_backward(&z, &vec![0f32; f], &g, f, z.len() / f);
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
    fn rows_per_bias(self, z: &[usize], b: &[usize]) -> candle_core::Result<usize> {
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
        let (gz, gb) = bias_gelu_grads(z, b, grad_res, per)?;
        Ok((Some(gz), Some(gb)))
    }
}
