//! The image denoiser's inference pass ([`super::conv::ConvInference`]): the whole network
//! on a chunk of images at a time, each chunk on one thread in buffers it reuses, without
//! candle's per-operation tensors.
//!
//! # Layout
//! A chunk of `b` images keeps every activation **channel-major, image-minor** (`CHWN`):
//! channel `ch` of the pixel at position `p` of image `i` at `ch·R + p·b + i`, `R = H·W·b`.
//! A channel is one contiguous vector, one pixel's `b` images one run. Positions are in
//! the order of the convolution that reads or writes the activation ([`Order`]), or
//! raster order `y·W + x` for the residual stream and `ε̂`.
//!
//! # A convolution without im2col
//! A 3×3 convolution with dilation `d` and zero padding `d` sums nine taps `(dy, dx)`,
//! each `dy, dx ∈ {−d, 0, d}`. Its input is kept as three copies side by side: shifted
//! by `−d` columns, as is, and shifted by `+d` columns, written there by the previous
//! layer's epilogue. Pixels are ordered by column class ([`Order`]: which of `x ± d` are
//! inside the image), then row, then column, so that for a class and a tap row `dy` the
//! output rows whose source rows `y + dy` are inside form one contiguous range, and so do
//! their sources: one matrix product per tap row and class, whose `k` columns are the
//! copies that class has (two or three) at the source rows, column-major with leading
//! dimension `R`, read by gemm in place. The products of `dy = ±d` add to that of
//! `dy = 0`.
//!
//! No product touches the zero padding: the multiplications are exactly the taps inside
//! the image (for the digits a third fewer than a full 3×3 at every pixel). Nothing is
//! copied but the epilogue's writes of each activation into its three places.
//!
//! The products call `gemm` directly, single-threaded, into reused buffers: the chunks
//! are the parallelism (candle's product allocates and zeroes its result and splits
//! itself over the threads again, inside a chunk that already has its thread).

use std::cell::RefCell;

use rayon::prelude::*;

use super::conv_ops::{Grid, TAPS};
use super::kernels::gelu;
use crate::simd::simd_fn;

/// Rows (pixels × images) of a chunk: 16 digits of 8×8. A 32-channel activation is then
/// 128 KB and a convolution's three-copy input 384 KB, so a chunk's buffers (about
/// 1.2 MB) stay in this machine's 2 MB of L2 per core; chunks of 8 and of 32 digits
/// measured slower (BENCHMARKS.md).
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
fn matmul(
    dst: &mut [f32],
    lhs: &[f32],
    rhs: &[f32],
    (m, n, k): (usize, usize, usize),
    ld: usize,
    accumulate: bool,
) {
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

/// The order in which a convolution of dilation `d` keeps the pixels of its input and
/// output, and where each pixel's value goes in the three copies of its input.
///
/// Columns `x` fall in up to four classes by which horizontal taps are inside: `x ± d`
/// both, only `x + d` (`x < d`), only `x − d` (`x ≥ W − d`), neither. Each class is a
/// range of columns; the order is class by class, then row by row, then column by column,
/// so that any range of rows of a class is contiguous and every source row `y + dy` of a
/// class is in that class.
#[derive(Clone, Debug)]
pub struct Order {
    /// The pixel at each position.
    pixels: Vec<usize>,
    /// For each pixel, the positions of its value in the copies: `[left, centre, right]`
    /// (`usize::MAX` where it has none): the left copy holds `x − d` at pixel `x`, so
    /// pixel `x`'s value sits there at `x + d`.
    targets: Vec<[usize; 3]>,
    /// The column classes: first position, width in columns, first copy used, copies.
    classes: Vec<ColumnClass>,
    /// The rows of the classes as `(position, pixel, pixels)`: consecutive positions
    /// that are consecutive pixels.
    segments: Vec<(usize, usize, usize)>,
}

/// One class of columns of an [`Order`].
#[derive(Clone, Copy, Debug)]
struct ColumnClass {
    start: usize,
    width: usize,
    /// The first of the copies `[left, centre, right]` its products read.
    first_copy: usize,
    /// How many (consecutive) copies.
    copies: usize,
}

impl Order {
    fn new(grid: Grid, dilation: usize) -> Self {
        let (h, w, d) = (grid.height, grid.width, dilation);
        // (has x − d, has x + d) → copies [left, centre, right] from first_copy on.
        let kinds = [
            (false, true, 1, 2),
            (true, true, 0, 3),
            (true, false, 0, 2),
            (false, false, 1, 1),
        ];
        let mut pixels = Vec::with_capacity(h * w);
        let mut classes = Vec::new();
        let mut segments = Vec::new();
        for (left, right, first_copy, copies) in kinds {
            let cols: Vec<usize> = (0..w)
                .filter(|&x| (x >= d) == left && (x + d < w) == right)
                .collect();
            if cols.is_empty() {
                continue;
            }
            classes.push(ColumnClass {
                start: pixels.len(),
                width: cols.len(),
                first_copy,
                copies,
            });
            for y in 0..h {
                segments.push((pixels.len(), y * w + cols[0], cols.len()));
                pixels.extend(cols.iter().map(|&x| y * w + x));
            }
        }
        let mut position = vec![0; h * w];
        for (pos, &p) in pixels.iter().enumerate() {
            position[p] = pos;
        }
        let targets = (0..h * w)
            .map(|p| {
                let x = p % w;
                [
                    if x + d < w { position[p + d] } else { usize::MAX },
                    position[p],
                    if x >= d { position[p - d] } else { usize::MAX },
                ]
            })
            .collect();
        Self {
            pixels,
            targets,
            classes,
            segments,
        }
    }
}

/// One product of a [`TapConv`]: the tap row `dy` on the rows `[y0, y1)` of a class.
#[derive(Clone, Debug)]
struct Product {
    class: ColumnClass,
    dy: isize,
    y0: usize,
    y1: usize,
    /// Row-major `[out, copies·c]`, columns `(copy, channel)`.
    weight: Vec<f32>,
}

/// A 3×3 convolution, dilation and zero padding `d`, prepared for inference on chunks
/// of images in the `CHWN` layout of this module, its pixels in its [`Order`]: one
/// product per tap row and column class, over exactly the taps inside the image.
#[derive(Clone, Debug)]
pub struct TapConv {
    grid: Grid,
    c: usize,
    out: usize,
    order: Order,
    /// For each class its `dy = 0` product first (it writes every row of the class),
    /// then those of `dy = ±d` (they add).
    products: Vec<Product>,
}

/// What a convolution's epilogue does with `v = z + bias` at every output value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Epilogue {
    /// `y ← v`.
    Store,
    /// `u ← GELU(v)`.
    Gelu,
    /// `h ← v`, `g ← GELU(h)`: the residual stream and the next convolution's input.
    StoreAndGelu,
    /// `h ← h + v`, `g ← GELU(h)`: a residual block's second convolution.
    AddAndGelu,
}

/// `dst ← src`: a run of one pixel's 16 images as one fixed-size move (a `memcpy` call
/// per run costs more than the copy), anything else by `memcpy`.
#[allow(clippy::inline_always)] // it must inline into the epilogue to become moves
#[inline(always)]
fn copy_run(dst: &mut [f32], src: &[f32]) {
    if let (Ok(d), Ok(s)) = (<&mut [f32; 16]>::try_from(&mut *dst), <&[f32; 16]>::try_from(src)) {
        *d = *s;
    } else {
        dst.copy_from_slice(src);
    }
}

/// `v ← z + b` and, by `mode`, the residual stream `h` (pixel order) from it, run by run:
/// `z` and `v` one channel in the order `from`, `b` a bias per image; for `Store`, `h`
/// (then `ε̂`) gets `z + b` and `v` nothing.
#[allow(clippy::inline_always)] // it must inline into the epilogue's vector body
#[inline(always)]
fn add_bias_runs(z: &[f32], b: &[f32], mode: Epilogue, from: &Order, h: &mut [f32], v: &mut [f32]) {
    let images = b.len();
    let no_h = mode == Epilogue::Gelu;
    if images == 1 {
        // A single image: its one bias along whole segments, so that the loops run over
        // segments rather than pixels.
        for &(pos, p, len) in &from.segments {
            let h = if no_h { &mut [][..] } else { &mut h[p..][..len] };
            add_bias(
                &z[pos..][..len],
                std::iter::repeat(b[0]),
                mode,
                h,
                &mut v[pos..][..len],
            );
        }
        return;
    }
    for (pos, &p) in from.pixels.iter().enumerate() {
        let h = if no_h {
            &mut [][..]
        } else {
            &mut h[p * images..][..images]
        };
        add_bias(
            &z[pos * images..][..images],
            b.iter().copied(),
            mode,
            h,
            &mut v[pos * images..][..images],
        );
    }
}

/// One run of [`add_bias_runs`] (or a whole channel), `b` the bias of each value in turn.
#[allow(clippy::inline_always)] // it must inline into the epilogue's vector body
#[inline(always)]
fn add_bias(z: &[f32], b: impl Iterator<Item = f32>, mode: Epilogue, h: &mut [f32], v: &mut [f32]) {
    match mode {
        Epilogue::Store => {
            for ((y, z), b) in h.iter_mut().zip(z).zip(b) {
                *y = z + b;
            }
        }
        Epilogue::Gelu => {
            for ((v, z), b) in v.iter_mut().zip(z).zip(b) {
                *v = z + b;
            }
        }
        Epilogue::StoreAndGelu | Epilogue::AddAndGelu => {
            let add = mode == Epilogue::AddAndGelu;
            for (((y, v), z), b) in h.iter_mut().zip(v.iter_mut()).zip(z).zip(b) {
                let s = if add { *y + z + b } else { z + b };
                *y = s;
                *v = s;
            }
        }
    }
}

simd_fn! {
    /// The epilogue of a convolution: `z` is its product, `out` channels `CHWN` in the
    /// order `from`, `bias` is `out × images` (a bias per output channel and image). `h`
    /// is `out` channels in pixel order (`ε̂` for `Store`, the residual stream, or unused
    /// for `Gelu`); `act` the next convolution's input, three copies of `out` channels in
    /// its order, written through `links` (see [`links`]; unused for `Store`); `channel`
    /// is scratch of one channel.
    #[allow(clippy::too_many_arguments)] // the product, its bias and order, the mode, three outputs
    fn epilogue<'a>(
        z: &'a [f32],
        bias: &'a [f32],
        mode: Epilogue,
        from: &'a Order,
        h: &'a mut [f32],
        act: &'a mut [f32],
        links: &'a [(usize, usize, usize)],
        channel: &'a mut [f32],
    ) {
        let images = channel.len() / from.pixels.len();
        let out = bias.len() / images;
        let pixels = from.pixels.len();
        let rows = pixels * images;
        for o in 0..out {
            let b = &bias[o * images..][..images];
            let z = &z[o * rows..][..rows];
            if mode == Epilogue::Gelu && b.iter().all(|x| x.to_bits() == b[0].to_bits()) {
                // One bias for every image: one pass over the channel.
                add_bias(z, std::iter::repeat(b[0]), mode, &mut [], channel);
            } else {
                let h = if mode == Epilogue::Gelu { &mut [][..] } else { &mut h[o * rows..][..rows] };
                add_bias_runs(z, b, mode, from, h, channel);
            }
            if mode == Epilogue::Store {
                continue;
            }
            // GELU over the whole channel: one long loop, many values in flight.
            for v in channel.iter_mut() {
                *v = gelu(*v);
            }
            for &(pos, run, len) in links {
                let n = len * images;
                let dst = &mut act[(run + o * pixels) * images..][..n];
                let src = &channel[pos * images..][..n];
                if images == 16 {
                    for (d, s) in dst.chunks_exact_mut(16).zip(src.chunks_exact(16)) {
                        copy_run(d, s);
                    }
                } else {
                    dst.copy_from_slice(src);
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
        let order = Order::new(grid, dilation);
        let h = grid.height;
        let d = dilation as isize;
        let mut first = Vec::new();
        let mut rest = Vec::new();
        for class in &order.classes {
            for ky in [1usize, 0, 2] {
                let dy = (ky as isize - 1) * d;
                let y0 = (-dy).max(0).unsigned_abs();
                let y1 = (h as isize - dy.max(0)).max(0).unsigned_abs();
                if y0 >= y1 {
                    continue;
                }
                let k = class.copies * c;
                let mut m = vec![0f32; out * k];
                for (o, row) in m.chunks_exact_mut(k).enumerate() {
                    for s in 0..class.copies {
                        let kx = class.first_copy + s;
                        for ch in 0..c {
                            row[s * c + ch] = weight[(o * c + ch) * TAPS + ky * 3 + kx];
                        }
                    }
                }
                let product = Product {
                    class: *class,
                    dy,
                    y0,
                    y1,
                    weight: m,
                };
                if dy == 0 {
                    first.push(product);
                } else {
                    rest.push(product);
                }
            }
        }
        first.extend(rest);
        Self {
            grid,
            c,
            out,
            order,
            products: first,
        }
    }

    /// Output channels.
    #[must_use]
    pub const fn out(&self) -> usize {
        self.out
    }

    /// The convolution, without its bias, of `xs` (three copies of `c` channels of
    /// `images` images, `CHWN` in this convolution's order) into `z` (`out` channels in
    /// the same order).
    fn apply(&self, xs: &[f32], images: usize, z: &mut [f32]) {
        let rows_all = self.grid.pixels() * images;
        let plane = self.c * rows_all;
        for p in &self.products {
            let class = p.class;
            let row = class.width * images;
            let start = class.start * images;
            let src = (p.y0 as isize + p.dy).unsigned_abs();
            matmul(
                &mut z[start + p.y0 * row..],
                &xs[class.first_copy * plane + start + src * row..],
                &p.weight,
                ((p.y1 - p.y0) * row, self.out, class.copies * self.c),
                rows_all,
                p.dy != 0,
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
            to_copies(x, self.c, &self.order, images, &mut xs);
            let b: Vec<f32> = bias
                .iter()
                .flat_map(|&v| std::iter::repeat_n(v, images))
                .collect();
            let mut z = vec![0f32; y.len()];
            let mut yc = vec![0f32; y.len()];
            self.apply(&xs, images, &mut z);
            epilogue(
                &z,
                &b,
                Epilogue::Store,
                &self.order,
                &mut yc,
                &mut [],
                &[],
                &mut vec![0.0; px * images],
            );
            from_chwn(&yc, self.out, px, images, y);
        }
        y
    }
}

/// `images` images of `c × pixels` (CHW each) as the three copies of a convolution's
/// input in `order` (`CHWN`, `3c` channels).
fn to_copies(x: &[f32], c: usize, order: &Order, images: usize, out: &mut [f32]) {
    let pixels = order.pixels.len();
    let rows = pixels * images;
    for (i, img) in x.chunks_exact(c * pixels).enumerate() {
        for (ch, plane) in img.chunks_exact(pixels).enumerate() {
            for (&v, targets) in plane.iter().zip(&order.targets) {
                for (copy, &t) in targets.iter().enumerate() {
                    if t != usize::MAX {
                        out[(copy * c + ch) * rows + t * images + i] = v;
                    }
                }
            }
        }
    }
}

/// `c` channels `CHWN` in pixel order as `images` images of `c × pixels` (CHW each).
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
    grid: Grid,
    channels: usize,
    images: usize,
    conv_in: (TapConv, Vec<f32>),
    blocks: Vec<Block>,
    conv_out: (TapConv, Vec<f32>),
    /// For each convolution but the last, in order, where its activations go in the next
    /// one's input ([`links`]).
    links: Vec<Vec<(usize, usize, usize)>>,
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
    /// One channel of activations.
    run: Vec<f32>,
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

/// The copies from a convolution's output order `from` to the input of the next
/// convolution, of order `to`, for `out` channels: `(position in from, run, pixels)`
/// triples, the run of channel `o` at `run + o·pixels` in units of a pixel's images (the
/// copy `[left, centre, right]` of channel `o` begins at run `(copy·out + o)·pixels`).
fn links(from: &Order, to: &Order, out: usize) -> Vec<(usize, usize, usize)> {
    let pixels = from.pixels.len();
    let mut v: Vec<(usize, usize)> = from
        .pixels
        .iter()
        .enumerate()
        .flat_map(|(pos, &p)| {
            to.targets[p]
                .iter()
                .enumerate()
                .filter(|&(_, &t)| t != usize::MAX)
                .map(move |(copy, &t)| (pos, copy * out * pixels + t))
        })
        .collect();
    // In the order of the writes, consecutive runs from consecutive positions merged.
    v.sort_unstable_by_key(|&(_, run)| run);
    let mut merged: Vec<(usize, usize, usize)> = Vec::new();
    for (pos, run) in v {
        match merged.last_mut() {
            Some((p, r, len)) if *p + *len == pos && *r + *len == run => *len += 1,
            _ => merged.push((pos, run, 1)),
        }
    }
    merged
}

impl Network {
    /// The network of these convolutions and biases on `grid`, `channels` image channels,
    /// in chunks of `images` images.
    #[must_use]
    pub fn new(
        (grid, channels, images): (Grid, usize, usize),
        conv_in: (TapConv, Vec<f32>),
        blocks: Vec<Block>,
        conv_out: (TapConv, Vec<f32>),
    ) -> Self {
        let mut convs: Vec<&TapConv> = vec![&conv_in.0];
        for b in &blocks {
            convs.extend([&b.conv1, &b.conv2]);
        }
        convs.push(&conv_out.0);
        let links = convs
            .windows(2)
            .map(|w| links(&w[0].order, &w[1].order, w[0].out))
            .collect();
        Self {
            grid,
            channels,
            images,
            conv_in,
            blocks,
            conv_out,
            links,
        }
    }

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
    fn run_chunk(
        &self,
        xt: &[f32],
        temb: &[Vec<f32>],
        first: usize,
        acts: &mut Activations,
        eps: &mut [f32],
    ) {
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
            run,
        } = acts;
        let run = at_least(run, px * images);
        let x = at_least(x, 3 * cn);
        let (h, g, u, z) = (
            at_least(h, fr),
            at_least(g, 3 * fr),
            at_least(u, 3 * fr),
            at_least(z, fr),
        );
        let (conv_in, bias_in) = &self.conv_in;
        let mut links = self.links.iter().map(Vec::as_slice);
        let mut link = || links.next().unwrap_or_default();
        to_copies(xt, self.channels, &conv_in.order, images, x);
        bias_rows(bias, bias_in, &[], first, images);
        conv_in.apply(x, images, z);
        epilogue(z, bias, Epilogue::StoreAndGelu, &conv_in.order, h, g, link(), run);
        for (block, temb) in self.blocks.iter().zip(temb) {
            bias_rows(bias, &block.bias1, temb, first, images);
            block.conv1.apply(g, images, z);
            epilogue(
                z,
                bias,
                Epilogue::Gelu,
                &block.conv1.order,
                &mut [],
                u,
                link(),
                run,
            );
            bias_rows(bias, &block.bias2, &[], first, images);
            block.conv2.apply(u, images, z);
            epilogue(
                z,
                bias,
                Epilogue::AddAndGelu,
                &block.conv2.order,
                h,
                g,
                link(),
                run,
            );
        }
        let y = at_least(y, cn);
        let z = &mut z[..cn];
        let (conv_out, bias_out) = &self.conv_out;
        bias_rows(bias, bias_out, &[], first, images);
        conv_out.apply(g, images, z);
        epilogue(z, bias, Epilogue::Store, &conv_out.order, y, &mut [], &[], run);
        from_chwn(y, self.channels, px, images, eps);
    }
}
