//! The image denoiser's inference pass ([`super::conv::ConvInference`]): the whole network
//! on a chunk of images at a time, each chunk on one thread in buffers it reuses, without
//! candle's per-operation tensors.
//!
//! # Layout
//! A chunk of `b` images keeps every activation **channel-major, image-minor** (`CHWN`):
//! channel `ch` of pixel `p = y·W + x` of image `i` at `ch·R + p·b + i`, `R = H·W·b`. A
//! channel is one contiguous vector, an image row of it one contiguous run.
//!
//! # A convolution as three products
//! A 3×3 convolution with dilation `d` and zero padding `d` sums nine taps `(dy, dx)`,
//! each `dy, dx ∈ {−d, 0, d}`. Its input buffer holds three copies of the input side by
//! side: shifted by `−d` columns, as is, and shifted by `+d` columns, with zeros where the
//! shift leaves the image (each copy is one move of the whole buffer and a fill per
//! image row). A tap row `dy` is then one matrix product over the output rows whose
//! source row `y + dy` is inside the image: the output rows `[y0, y1)` of all pixels and
//! images are one contiguous range, the three copies at the source rows are the product's
//! `3c` columns, column-major with leading dimension `R`, which gemm reads in place. The
//! products of `dy = ±d` add to that of `dy = 0`.
//!
//! Rows outside the image are skipped exactly; columns outside are multiplied as zeros:
//! for the digits (8×8, dilations 1, 2, 4) 9 %, 20 % and 50 % more products than the taps
//! inside, for two moves of the input instead of an im2col of every tap (the grouped
//! im2col this replaced copied 3.5× as much, in many short pieces).
//!
//! The products call `gemm` directly, single-threaded, into reused buffers: the chunks
//! are the parallelism (candle's product allocates and zeroes its result and splits
//! itself over the threads again, inside a chunk that already has its thread).

use std::cell::RefCell;

use rayon::prelude::*;

use super::conv_ops::{Grid, TAPS};
use super::kernels::gelu;
use crate::simd::simd_fn;

/// Rows (pixels × images) of a chunk: 16 digits of 8×8. The largest im2col block, the
/// interior pixels of a dilation-1 convolution of 32 channels, is then 650 KB and stays
/// in this machine's 2 MB of L2 per core with the activations.
const CHUNK_ROWS: usize = 1024;

/// Images per chunk on `grid`.
#[must_use]
pub fn chunk_images(grid: Grid) -> usize {
    (CHUNK_ROWS / grid.pixels().max(1)).max(1)
}

/// `dst ← lhs · rhsᵀ` (or `dst + lhs · rhsᵀ` with `accumulate`) for the column-major
/// `dst` (`m × n`) and `lhs` (`m × k`), both with leading dimension `ld`, and the
/// row-major `rhs` (`n × k`), on this thread.
#[allow(unsafe_code)] // gemm's entry point is raw pointers; see SAFETY below
fn matmul(dst: &mut [f32], lhs: &[f32], rhs: &[f32], (m, n, k): (usize, usize, usize), ld: usize, accumulate: bool) {
    let span = |cols: usize| if cols == 0 { 0 } else { (cols - 1) * ld + m };
    assert!(
        m <= ld && dst.len() >= span(n) && lhs.len() >= span(k) && rhs.len() >= n * k,
        "matmul: {m}×{n}×{k} (leading dimension {ld}) does not fit buffers of {}, {} and {}",
        dst.len(),
        lhs.len(),
        rhs.len()
    );
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: gemm reads lhs[i + l·ld] (i < m ≤ ld, l < k), rhs[l + j·k] (l < k, j < n),
    // and writes (with `accumulate`, reads first) dst[i + j·ld] (i < m, j < n): the
    // largest indices are span(k) − 1, n·k − 1 and span(n) − 1, inside the slices by the
    // assert above. `dst` is a unique borrow, so it aliases neither input; without
    // `accumulate` gemm writes every element of it without reading it.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            ld as isize,
            1,
            accumulate,
            lhs.as_ptr(),
            ld as isize,
            1,
            rhs.as_ptr(),
            k as isize,
            1,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// A 3×3 convolution, dilation and zero padding `d`, prepared for inference on chunks
/// of images in the `CHWN` layout of this module: the weight of each tap row `dy` whose
/// source rows can be inside the image, as one matrix over the three column shifts.
#[derive(Clone, Debug)]
pub struct TapConv {
    grid: Grid,
    c: usize,
    out: usize,
    dilation: usize,
    /// Whether the shifted columns `x ± d` can be inside the image (`d < W`); if not,
    /// only the unshifted copy is used.
    shifted: bool,
    /// `(dy, weight)` for each tap row with a source row inside, `dy = 0` first; the
    /// weight is row-major `[out, k]`, columns `(shift, channel)`, `k = 3c` (or `c`).
    rows: Vec<(isize, Vec<f32>)>,
}

/// What a convolution's epilogue does with `v = z + bias` at every output value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Epilogue {
    /// `y ← v`.
    Store,
    /// `y ← GELU(v)`.
    Gelu,
    /// `h ← v`, `g ← GELU(h)`: the residual stream and the next convolution's input.
    StoreAndGelu,
    /// `h ← h + v`, `g ← GELU(h)`: a residual block's second convolution.
    AddAndGelu,
}

simd_fn! {
    /// The epilogue of a convolution: `z` is its product, `out` channels `CHWN`, `bias`
    /// is `out × images` (a bias per output channel and image); `first` and `second` are
    /// `out` channels `CHWN` (`second` empty unless the mode has a second output).
    fn epilogue<'a>(
        z: &'a [f32],
        bias: &'a [f32],
        images: usize,
        mode: Epilogue,
        first: &'a mut [f32],
        second: &'a mut [f32],
    ) {
        let out = bias.len() / images;
        let rows = z.len() / out;
        for o in 0..out {
            let b = &bias[o * images..][..images];
            let z = z[o * rows..][..rows].chunks_exact(images);
            let y = first[o * rows..][..rows].chunks_exact_mut(images);
            match mode {
                Epilogue::Store => {
                    for (y, z) in y.zip(z) {
                        for ((y, z), b) in y.iter_mut().zip(z).zip(b) {
                            *y = z + b;
                        }
                    }
                }
                Epilogue::Gelu => {
                    for (y, z) in y.zip(z) {
                        for ((y, z), b) in y.iter_mut().zip(z).zip(b) {
                            *y = gelu(z + b);
                        }
                    }
                }
                Epilogue::StoreAndGelu | Epilogue::AddAndGelu => {
                    let add = mode == Epilogue::AddAndGelu;
                    let g = second[o * rows..][..rows].chunks_exact_mut(images);
                    for ((y, g), z) in y.zip(g).zip(z) {
                        for (((y, g), z), b) in y.iter_mut().zip(g).zip(z).zip(b) {
                            let v = if add { *y + z + b } else { z + b };
                            *y = v;
                            *g = gelu(v);
                        }
                    }
                }
            }
        }
    }
}

/// `v[..len]`, growing `v` (never shrinking it: the buffers keep their largest size).
fn at_least(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if v.len() < len {
        v.resize(len, 0.0);
    }
    &mut v[..len]
}

impl TapConv {
    /// The convolution of `weight` (PyTorch's `[out, c, 3, 3]`) on `grid` at `dilation`.
    ///
    /// # Panics
    /// If `weight` does not hold `out·c·9` values.
    #[must_use]
    pub fn new(grid: Grid, dilation: usize, weight: &[f32], (out, c): (usize, usize)) -> Self {
        assert_eq!(weight.len(), out * c * TAPS, "conv weight of {out}×{c}×3×3");
        let shifted = dilation < grid.width;
        let kxs: &[usize] = if shifted { &[0, 1, 2] } else { &[1] };
        let rows = [1usize, 0, 2]
            .into_iter()
            .filter(|&ky| ky == 1 || dilation < grid.height)
            .map(|ky| {
                let k = kxs.len() * c;
                let mut m = vec![0f32; out * k];
                for (o, row) in m.chunks_exact_mut(k).enumerate() {
                    for (s, &kx) in kxs.iter().enumerate() {
                        for ch in 0..c {
                            row[s * c + ch] = weight[(o * c + ch) * TAPS + ky * 3 + kx];
                        }
                    }
                }
                ((ky as isize - 1) * dilation as isize, m)
            })
            .collect();
        Self {
            grid,
            c,
            out,
            dilation,
            shifted,
            rows,
        }
    }

    /// Output channels.
    #[must_use]
    pub const fn out(&self) -> usize {
        self.out
    }

    /// The convolution, without its bias, of the input held in the middle third of `xs`
    /// (`3c` channels of `images` images, `CHWN`) into `z` (`out` channels): fills the
    /// shifted thirds, then one product per tap row.
    fn apply(&self, xs: &mut [f32], images: usize, z: &mut [f32]) {
        let (h, w) = (self.grid.height, self.grid.width);
        let row = w * images;
        let rows_all = h * row;
        let plane = self.c * rows_all;
        if self.shifted {
            let shift = self.dilation * images;
            let (left, rest) = xs.split_at_mut(plane);
            let (centre, right) = rest.split_at_mut(plane);
            let right = &mut right[..plane];
            // left[p] = centre[p − shift], right[p] = centre[p + shift]; then the columns
            // the shift brought in from beside the image are zeroed, row by row.
            left[shift..].copy_from_slice(&centre[..plane - shift]);
            right[..plane - shift].copy_from_slice(&centre[shift..]);
            for r in 0..self.c * h {
                left[r * row..][..shift].fill(0.0);
                right[r * row + row - shift..][..shift].fill(0.0);
            }
        }
        let (lhs, k) = if self.shifted {
            (&xs[..3 * plane], 3 * self.c)
        } else {
            (&xs[plane..2 * plane], self.c)
        };
        for (i, (dy, weight)) in self.rows.iter().enumerate() {
            let y0 = (-dy).max(0) as usize;
            let y1 = h - dy.max(&0).unsigned_abs();
            let src = (y0 as isize + dy) as usize;
            matmul(
                &mut z[y0 * row..],
                &lhs[src * row..],
                weight,
                ((y1 - y0) * row, self.out, k),
                rows_all,
                i > 0,
            );
        }
    }

    /// The convolution plus `bias` (`out` values) of `x`, `n` images of `c × H × W`
    /// (CHW per image), as `n` images of `out × H × W`: a chunk at a time on this thread.
    /// What the network does per layer, for tests against the direct sum.
    ///
    /// # Panics
    /// If `x` is not whole images or `bias` does not hold `out` values.
    #[must_use]
    pub fn convolve(&self, x: &[f32], bias: &[f32]) -> Vec<f32> {
        let px = self.grid.pixels();
        assert!(x.len().is_multiple_of(px * self.c) && bias.len() == self.out);
        let per = chunk_images(self.grid);
        let mut y = vec![0f32; x.len() / self.c * self.out];
        for (x, y) in x.chunks(per * px * self.c).zip(y.chunks_mut(per * px * self.out)) {
            let images = x.len() / (px * self.c);
            let mut xs = vec![0f32; 3 * x.len()];
            to_chwn_into(x, self.c, px, images, &mut xs[x.len()..2 * x.len()]);
            let b: Vec<f32> = bias.iter().flat_map(|&v| std::iter::repeat_n(v, images)).collect();
            let mut z = vec![0f32; y.len()];
            let mut yc = vec![0f32; y.len()];
            self.apply(&mut xs, images, &mut z);
            epilogue(&z, &b, images, Epilogue::Store, &mut yc, &mut []);
            from_chwn(&yc, self.out, px, images, y);
        }
        y
    }
}

/// `images` images of `c × pixels` (CHW each) into `out` in the `CHWN` layout.
fn to_chwn_into(x: &[f32], c: usize, pixels: usize, images: usize, out: &mut [f32]) {
    for (i, img) in x.chunks_exact(c * pixels).enumerate() {
        for (ch, plane) in img.chunks_exact(pixels).enumerate() {
            for (p, &v) in plane.iter().enumerate() {
                out[(ch * pixels + p) * images + i] = v;
            }
        }
    }
}

/// The inverse of [`to_chwn`], into `out`.
fn from_chwn(y: &[f32], c: usize, pixels: usize, images: usize, out: &mut [f32]) {
    for (i, img) in out.chunks_exact_mut(c * pixels).enumerate() {
        for (ch, plane) in img.chunks_exact_mut(pixels).enumerate() {
            for (p, v) in plane.iter_mut().enumerate() {
                *v = y[(ch * pixels + p) * images + i];
            }
        }
    }
}

/// One residual block: `h ← h + conv2(GELU(conv1(GELU(h)) + b1 + e_i))`, `e_i` the
/// block's projection of the time embedding for image `i`.
#[derive(Clone, Debug)]
pub struct Block {
    /// The first convolution.
    pub conv1: TapConv,
    /// Its bias.
    pub bias1: Vec<f32>,
    /// The second convolution.
    pub conv2: TapConv,
    /// Its bias.
    pub bias2: Vec<f32>,
}

/// The whole network, every convolution's weight split by tap group.
#[derive(Clone, Debug)]
pub struct Network {
    /// The grid.
    pub grid: Grid,
    /// Image channels.
    pub channels: usize,
    /// Images per chunk.
    pub images: usize,
    /// `conv_in` and its bias.
    pub conv_in: (TapConv, Vec<f32>),
    /// The residual blocks.
    pub blocks: Vec<Block>,
    /// `conv_out` and its bias.
    pub conv_out: (TapConv, Vec<f32>),
}

/// Activations of one chunk, reused from chunk to chunk on a thread: the inputs of the
/// convolutions are three copies wide (see [`TapConv::apply`]).
#[derive(Debug, Default)]
struct Activations {
    /// The input images, `3C` channels.
    x: Vec<f32>,
    /// The residual stream, `F` channels.
    h: Vec<f32>,
    /// `GELU(h)`, `3F` channels.
    g: Vec<f32>,
    /// A block's inner activation, `3F` channels.
    u: Vec<f32>,
    /// A product, `F` channels (the output: `C`).
    z: Vec<f32>,
    /// `ε̂`, `C` channels.
    y: Vec<f32>,
    /// A convolution's bias per channel and image.
    bias: Vec<f32>,
}

thread_local! {
    /// This thread's buffers.
    static ACTIVATIONS: RefCell<Activations> = RefCell::new(Activations::default());
}

/// `bias[o] + rows[row(i)·out + o]` for `out` channels and `images` images, `out × images`
/// (`rows` empty: the bias alone; one row: the same for every image).
fn bias_rows(into: &mut Vec<f32>, bias: &[f32], rows: &[f32], first: usize, images: usize) {
    let out = bias.len();
    into.clear();
    for (o, &b) in bias.iter().enumerate() {
        into.extend((0..images).map(|i| {
            let extra = match rows.len() / out.max(1) {
                0 => 0.0,
                1 => rows[o],
                _ => rows[(first + i) * out + o],
            };
            b + extra
        }));
    }
}

impl Network {
    /// `ε̂` for `xt`, `n` images of `channels × H × W` (CHW each), into `eps`, with
    /// `temb[i]` block `i`'s projection of the time embedding (`rows × F`: one row for
    /// every image, or one per image): chunks in parallel, each through the whole network
    /// on its thread.
    pub fn run(&self, xt: &[f32], temb: &[Vec<f32>], eps: &mut [f32]) {
        let d = self.channels * self.grid.pixels();
        let per = self.images * d;
        eps.par_chunks_mut(per)
            .zip(xt.par_chunks(per))
            .enumerate()
            .for_each(|(chunk, (eps, xt))| {
                // Taken out while in use: a nested call on this thread gets fresh buffers.
                let mut acts = ACTIVATIONS.with(|a| std::mem::take(&mut *a.borrow_mut()));
                self.run_chunk(xt, temb, chunk * self.images, &mut acts, eps);
                ACTIVATIONS.with(|a| *a.borrow_mut() = acts);
            });
    }

    /// One chunk of images, the first being image `first` of the call.
    fn run_chunk(&self, xt: &[f32], temb: &[Vec<f32>], first: usize, acts: &mut Activations, eps: &mut [f32]) {
        let px = self.grid.pixels();
        let images = xt.len() / (self.channels * px);
        let f = self.conv_in.0.out();
        let (cn, fr) = (self.channels * px * images, f * px * images);
        let Activations {
            x,
            h,
            g,
            u,
            z,
            y,
            bias,
        } = acts;
        let x = at_least(x, 3 * cn);
        to_chwn_into(xt, self.channels, px, images, &mut x[cn..2 * cn]);
        let (h, g, u, z) = (at_least(h, fr), at_least(g, 3 * fr), at_least(u, 3 * fr), at_least(z, fr));
        bias_rows(bias, &self.conv_in.1, &[], first, images);
        self.conv_in.0.apply(x, images, z);
        epilogue(z, bias, images, Epilogue::StoreAndGelu, h, &mut g[fr..2 * fr]);
        for (block, temb) in self.blocks.iter().zip(temb) {
            bias_rows(bias, &block.bias1, temb, first, images);
            block.conv1.apply(g, images, z);
            epilogue(z, bias, images, Epilogue::Gelu, &mut u[fr..2 * fr], &mut []);
            bias_rows(bias, &block.bias2, &[], first, images);
            block.conv2.apply(u, images, z);
            epilogue(z, bias, images, Epilogue::AddAndGelu, h, &mut g[fr..2 * fr]);
        }
        let y = at_least(y, cn);
        let z = &mut z[..cn];
        bias_rows(bias, &self.conv_out.1, &[], first, images);
        self.conv_out.0.apply(g, images, z);
        epilogue(z, bias, images, Epilogue::Store, y, &mut []);
        from_chwn(y, self.channels, px, images, eps);
    }
}
