//! The image denoiser's inference pass ([`super::conv::ConvInference`]): the whole network
//! on a chunk of images at a time, each chunk on one thread in buffers it reuses, without
//! candle's per-operation tensors.
//!
//! # Layout
//! A chunk of `b` images keeps every activation **channel-major, image-minor** (`CHWN`):
//! channel `ch` of pixel `p` of image `i` at `ch·R + p·b + i`, `R = H·W·b`. A channel is one
//! contiguous vector, and the `b` images of one pixel are one contiguous run. Then:
//!
//! - im2col writes each column (a tap and an input channel, over a group's pixels) as
//!   whole runs of `b` values copied from a contiguous run of the input, and the columns
//!   are the column-major matrix gemm reads without packing it again;
//! - the product comes out column-major (an output channel per column), and one
//!   vectorised pass per column adds the bias and applies GELU or the residual.
//!
//! # Work skipped
//! As at training, a 3×3 convolution with dilation `d` has zero padding `d`, and a tap
//! outside the image contributes zero. Each output pixel is grouped by the set of taps
//! inside the image ([`TapClass`]) and each group is one matrix product over its taps only:
//! a dilation-4 convolution of an 8×8 digit has 4 of its 9 taps inside at every pixel.
//!
//! The products call `gemm` directly, single-threaded, into reused buffers: the chunks
//! are the parallelism (candle's product allocates and zeroes its result and splits
//! itself over the threads again, inside a chunk that already has its thread).

use std::cell::RefCell;

use rayon::prelude::*;

use super::conv_ops::{Grid, TAPS, TapClass, tap_classes};
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

/// `dst ← lhs · rhsᵀ` for the column-major `dst` (`m × n`) and `lhs` (`m × k`), both with
/// leading dimension `m`, and the row-major `rhs` (`n × k`), on this thread.
#[allow(unsafe_code)] // gemm's entry point is raw pointers; see SAFETY below
fn matmul(dst: &mut [f32], lhs: &[f32], rhs: &[f32], (m, n, k): (usize, usize, usize)) {
    assert!(
        dst.len() >= m * n && lhs.len() >= m * k && rhs.len() >= n * k,
        "matmul: {m}×{n}×{k} does not fit buffers of {}, {} and {}",
        dst.len(),
        lhs.len(),
        rhs.len()
    );
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: gemm reads lhs[i + l·m] (i < m, l < k), rhs[l + j·k] (l < k, j < n) and
    // writes dst[i + j·m] (i < m, j < n): every index is inside its slice by the assert
    // above. `dst` is a unique borrow, so it aliases neither input, and with
    // `read_dst = false` gemm writes every element of it without reading it.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            m as isize,
            1,
            false,
            lhs.as_ptr(),
            m as isize,
            1,
            rhs.as_ptr(),
            k as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// A run of a group's pixels whose sources, for one tap, are consecutive pixels too (or
/// all outside the image): one copy of `len · images` values into im2col's column.
#[derive(Clone, Copy, Debug)]
struct Segment {
    /// The first source pixel, or `None` for zeros.
    source: Option<usize>,
    /// The first of the group's pixels (its index among them).
    at: usize,
    /// Pixels.
    len: usize,
}

/// The segments of tap `t` (its index among the group's taps) of `class`.
fn segments(class: &TapClass, t: usize) -> Vec<Segment> {
    let taps = class.taps.len();
    let mut out: Vec<Segment> = Vec::new();
    for j in 0..class.pixels.len() {
        let source = class.sources[j * taps + t];
        if let Some(last) = out.last_mut() {
            let next = match (last.source, source) {
                (None, None) => true,
                (Some(a), Some(b)) => a + last.len == b,
                _ => false,
            };
            if next && last.at + last.len == j {
                last.len += 1;
                continue;
            }
        }
        out.push(Segment { source, at: j, len: 1 });
    }
    out
}

/// One group of output pixels of a [`TapConv`] and its weight.
#[derive(Clone, Debug)]
struct ClassConv {
    /// The group: its pixels, taps and source pixels.
    class: TapClass,
    /// For each of its taps, the copies that make the tap's columns.
    segments: Vec<Vec<Segment>>,
    /// The weight of its taps, row-major `[out, taps·c]`, columns in `(tap, channel)`
    /// order.
    weight: Vec<f32>,
}

/// A 3×3 convolution, dilation and zero padding `d`, prepared for inference on chunks
/// of images in the `CHWN` layout of this module: the weight split by tap group once.
#[derive(Clone, Debug)]
pub struct TapConv {
    grid: Grid,
    c: usize,
    out: usize,
    classes: Vec<ClassConv>,
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
    /// The epilogue of one tap group: `z` is the group's product, column-major
    /// (`out` columns of `pixels.len()·images` rows), `bias` is `out × images` (a bias per
    /// output channel and image); `first` and `second` are `CHWN` activations of `out`
    /// channels (`second` empty unless the mode has a second output).
    fn scatter_epilogue<'a>(
        z: &'a [f32],
        bias: &'a [f32],
        pixels: &'a [usize],
        images: usize,
        mode: Epilogue,
        first: &'a mut [f32],
        second: &'a mut [f32],
    ) {
        let out = bias.len() / images;
        let rows = pixels.len() * images;
        let stride = first.len() / out;
        for o in 0..out {
            let b = &bias[o * images..][..images];
            for (j, &p) in pixels.iter().enumerate() {
                let z = &z[o * rows + j * images..][..images];
                let at = o * stride + p * images;
                let y = &mut first[at..][..images];
                match mode {
                    Epilogue::Store => {
                        for ((y, z), b) in y.iter_mut().zip(z).zip(b) {
                            *y = z + b;
                        }
                    }
                    Epilogue::Gelu => {
                        for ((y, z), b) in y.iter_mut().zip(z).zip(b) {
                            *y = gelu(z + b);
                        }
                    }
                    Epilogue::StoreAndGelu | Epilogue::AddAndGelu => {
                        let add = mode == Epilogue::AddAndGelu;
                        let g = &mut second[at..][..images];
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

/// Buffers a thread reuses from chunk to chunk.
#[derive(Debug, Default)]
pub struct Workspace {
    /// im2col columns of one tap group.
    cols: Vec<f32>,
    /// The product of one tap group.
    z: Vec<f32>,
}

/// `v[..len]`, growing `v` (never shrinking it: the buffers keep their largest size).
fn at_least(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if v.len() < len {
        v.resize(len, 0.0);
    }
    &mut v[..len]
}

impl TapConv {
    /// The convolution of `weight` (PyTorch's `[out, c, 3, 3]`) on `grid` at `dilation`,
    /// its tap groups sized for chunks of `images` images.
    ///
    /// # Panics
    /// If `weight` does not hold `out·c·9` values.
    #[must_use]
    pub fn new(grid: Grid, dilation: usize, weight: &[f32], (out, c): (usize, usize), images: usize) -> Self {
        assert_eq!(weight.len(), out * c * TAPS, "conv weight of {out}×{c}×3×3");
        let classes = tap_classes(grid, dilation, images)
            .into_iter()
            .map(|class| {
                let k = class.taps.len() * c;
                let mut m = vec![0f32; out * k];
                for (o, row) in m.chunks_exact_mut(k).enumerate() {
                    for (t, &tap) in class.taps.iter().enumerate() {
                        for ch in 0..c {
                            row[t * c + ch] = weight[(o * c + ch) * TAPS + tap];
                        }
                    }
                }
                let segments = (0..class.taps.len()).map(|t| segments(&class, t)).collect();
                ClassConv {
                    class,
                    segments,
                    weight: m,
                }
            })
            .collect();
        Self { grid, c, out, classes }
    }

    /// Output channels.
    #[must_use]
    pub const fn out(&self) -> usize {
        self.out
    }

    /// The convolution of `x` (`c` channels of `images` images, `CHWN`) without its bias,
    /// each tap group's product handed to [`scatter_epilogue`] with `bias` (`out × images`)
    /// and `mode` to write `first` (and `second`), `out` channels `CHWN`.
    fn apply(
        &self,
        x: &[f32],
        images: usize,
        ws: &mut Workspace,
        (bias, mode): (&[f32], Epilogue),
        first: &mut [f32],
        second: &mut [f32],
    ) {
        let rows_all = self.grid.pixels() * images;
        for cc in &self.classes {
            let class = &cc.class;
            let taps = class.taps.len();
            let k = taps * self.c;
            let rows = class.pixels.len() * images;
            let cols = at_least(&mut ws.cols, rows * k);
            // Column (tap t, channel ch): for each of the group's pixels, the images of its
            // source pixel, or zeros for a tap outside (a merged group); consecutive
            // pixels with consecutive sources are one copy.
            for (segs, col_block) in cc.segments.iter().zip(cols.chunks_exact_mut(rows * self.c)) {
                for (ch, col) in col_block.chunks_exact_mut(rows).enumerate() {
                    let channel = &x[ch * rows_all..][..rows_all];
                    for seg in segs {
                        let dst = &mut col[seg.at * images..][..seg.len * images];
                        match seg.source {
                            Some(s) => dst.copy_from_slice(&channel[s * images..][..seg.len * images]),
                            None => dst.fill(0.0),
                        }
                    }
                }
            }
            let z = at_least(&mut ws.z, rows * self.out);
            matmul(z, cols, &cc.weight, (rows, self.out, k));
            scatter_epilogue(z, bias, &class.pixels, images, mode, first, second);
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
        let mut ws = Workspace::default();
        let mut y = vec![0f32; x.len() / self.c * self.out];
        for (x, y) in x.chunks(per * px * self.c).zip(y.chunks_mut(per * px * self.out)) {
            let images = x.len() / (px * self.c);
            let xin = to_chwn(x, self.c, px, images);
            let b: Vec<f32> = bias.iter().flat_map(|&v| std::iter::repeat_n(v, images)).collect();
            let mut yc = vec![0f32; y.len()];
            self.apply(&xin, images, &mut ws, (&b, Epilogue::Store), &mut yc, &mut []);
            from_chwn(&yc, self.out, px, images, y);
        }
        y
    }
}

/// `images` images of `c × pixels` (CHW each) in the `CHWN` layout.
fn to_chwn(x: &[f32], c: usize, pixels: usize, images: usize) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    to_chwn_into(x, c, pixels, images, &mut out);
    out
}

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

/// Activations of one chunk, reused from chunk to chunk on a thread.
#[derive(Debug, Default)]
struct Activations {
    x: Vec<f32>,
    h: Vec<f32>,
    g: Vec<f32>,
    u: Vec<f32>,
    y: Vec<f32>,
    bias: Vec<f32>,
    ws: Workspace,
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
        let Activations {
            x,
            h,
            g,
            u,
            y,
            bias,
            ws,
        } = acts;
        let x = at_least(x, xt.len());
        to_chwn_into(xt, self.channels, px, images, x);
        let (h, g, u) = (
            at_least(h, f * px * images),
            at_least(g, f * px * images),
            at_least(u, f * px * images),
        );
        bias_rows(bias, &self.conv_in.1, &[], first, images);
        self.conv_in
            .0
            .apply(x, images, ws, (bias, Epilogue::StoreAndGelu), h, g);
        for (block, temb) in self.blocks.iter().zip(temb) {
            bias_rows(bias, &block.bias1, temb, first, images);
            block.conv1.apply(g, images, ws, (bias, Epilogue::Gelu), u, &mut []);
            bias_rows(bias, &block.bias2, &[], first, images);
            block.conv2.apply(u, images, ws, (bias, Epilogue::AddAndGelu), h, g);
        }
        let y = at_least(y, self.channels * px * images);
        bias_rows(bias, &self.conv_out.1, &[], first, images);
        self.conv_out.0.apply(g, images, ws, (bias, Epilogue::Store), y, &mut []);
        from_chwn(y, self.channels, px, images, eps);
    }
}
