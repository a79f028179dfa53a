//! The fused CPU kernels behind [`super::ops`]: sinusoidal embeddings and bias + exact GELU,
//! forward and backward, on plain `f32` slices.
//!
//! Why they exist: on this stack candle's elementwise `sin`, `cos`, `gelu_erf` and the
//! concatenation of three embeddings cost more than the matmuls of the 2D model
//! (STACK-NOTES.md). Here each is one pass over memory with branch-free polynomial
//! `exp`, `erf`, `sin` and `cos` that the compiler vectorises; [`crate::simd`] compiles
//! the loops for AVX2 + FMA when the CPU has them (runtime dispatch through `pulp`, no
//! `unsafe` in this crate).
//!
//! Accuracy (tests/model.rs checks it against `f64` libm over wide ranges):
//! - `sin`, `cos`: range reduction in `f64` (exact for any argument the model can see),
//!   then Cephes' single-precision polynomials on `[−π/4, π/4]`: ≤ 2 ulp.
//! - `erf`: Abramowitz & Stegun 7.1.28 in the forward GELU (absolute error ≤ 3e-7, no
//!   `exp`), 7.1.26 beside the Gaussian in its derivative (≤ 1.5e-7; the formula of
//!   PyTorch's vectorised CPU `erf`), so GELU matches `torch.nn.GELU()` to ~2e-7·|x|.

// The tiny math functions below are `#[inline(always)]` on purpose: they must be inlined
// into the `#[target_feature]` bodies that `simd_fn!` generates to be compiled for AVX2.
#![allow(clippy::inline_always)]

use crate::simd::{exp_neg, simd_fn};

/// `(erf(x/√2), exp(−x²/2))` for any x: the two pieces of GELU and its derivative.
#[inline(always)]
fn half_erf_and_gauss(x: f32) -> (f32, f32) {
    const P: f32 = 0.327_591_1;
    const A1: f32 = 0.254_829_6;
    const A2: f32 = -0.284_496_74;
    const A3: f32 = 1.421_413_8;
    const A4: f32 = -1.453_152_1;
    const A5: f32 = 1.061_405_4;
    let u = x * std::f32::consts::FRAC_1_SQRT_2;
    let au = u.abs();
    let gauss = exp_neg(-0.5 * x * x);
    let k = 1.0 / (1.0 + P * au);
    let poly = ((((A5 * k + A4) * k + A3) * k + A2) * k + A1) * k;
    let erf_abs = 1.0 - poly * gauss;
    (erf_abs.copysign(u), gauss)
}

/// Exact (erf) GELU, `x·Φ(x)`. The forward pass needs no Gaussian, so its `erf` is
/// Abramowitz & Stegun 7.1.28, `1 − (1 + a_1 u + … + a_6 u⁶)^−16` (absolute error
/// ≤ 3e-7), which costs no `exp`: about a third faster than 7.1.26 here.
#[inline(always)]
#[must_use]
pub fn gelu(x: f32) -> f32 {
    const A: [f32; 6] = [
        0.070_523_08,
        0.042_282_01,
        0.009_270_527,
        0.000_152_014_3,
        0.000_276_567_2,
        0.000_043_063_8,
    ];
    let u = (x * std::f32::consts::FRAC_1_SQRT_2).abs();
    let p = 1.0 + u * (A[0] + u * (A[1] + u * (A[2] + u * (A[3] + u * (A[4] + u * A[5])))));
    let p2 = p * p;
    let p4 = p2 * p2;
    let p8 = p4 * p4;
    let erf_abs = 1.0 - 1.0 / (p8 * p8);
    0.5 * x * (1.0 + erf_abs.copysign(x))
}

/// Derivative of the exact GELU, `Φ(x) + x·φ(x)`.
#[inline(always)]
#[must_use]
pub fn gelu_grad(x: f32) -> f32 {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    let (erf, gauss) = half_erf_and_gauss(x);
    0.5 * (1.0 + erf) + x * gauss * INV_SQRT_2PI
}

/// `(sin w, cos w)` for the `f32` argument `w`, reduced in `f64` so that even the step
/// number `t = 10,000` keeps full single precision.
#[inline(always)]
#[must_use]
pub fn sin_cos(w: f32) -> (f32, f32) {
    const TWO_OVER_PI: f64 = std::f64::consts::FRAC_2_PI;
    const PIO2_HI: f64 = 1.570_796_326_734_125_6;
    const PIO2_LO: f64 = 6.077_100_506_506_192e-11;
    const MAGIC: f64 = 6_755_399_441_055_744.0;
    let w = f64::from(w);
    let shifted = w * TWO_OVER_PI + MAGIC;
    let n = shifted - MAGIC;
    let r = ((w - n * PIO2_HI) - n * PIO2_LO) as f32;
    let quadrant = shifted.to_bits() & 3;
    let z = r * r;
    let s = ((-1.951_529_6e-4 * z + 8.332_161e-3) * z - 1.666_665_5e-1) * z * r + r;
    let c = ((2.443_315_7e-5 * z - 1.388_731_6e-3) * z + 4.166_664_6e-2) * z * z - 0.5 * z + 1.0;
    let (s, c) = if quadrant & 1 == 1 { (c, s) } else { (s, c) };
    let sin = if quadrant & 2 == 2 { -s } else { s };
    let cos = if (quadrant + 1) & 2 == 2 { -c } else { c };
    (sin, cos)
}

/// The frequencies of a sinusoidal embedding of `width` values:
/// `f_k = exp(−ln(10000)·k/(width/2 − 1))`, `k = 0..width/2`, computed as PyTorch does
/// (in `f32`).
#[must_use]
pub fn frequencies(width: usize) -> Vec<f32> {
    let half = width / 2;
    let step = 10_000f32.ln() / (half.max(2) - 1) as f32;
    (0..half).map(|k| (-step * k as f32).exp()).collect()
}

/// Writes the embedding of `value·scale` into `out` (`2·freqs.len()` values):
/// `[sin(v·f_0..), cos(v·f_0..)]`, where `v = value·scale` is rounded to `f32` first and
/// each product `v·f_k` too, exactly as the PyTorch reference computes it.
#[inline(always)]
pub fn embed_into(value: f32, scale: f32, freqs: &[f32], out: &mut [f32]) {
    let half = freqs.len();
    let v = value * scale;
    let (sin, cos) = out.split_at_mut(half);
    for ((f, s), c) in freqs.iter().zip(sin).zip(cos) {
        let (a, b) = sin_cos(v * f);
        *s = a;
        *c = b;
    }
}

simd_fn! {
    /// Forward embedding of a batch: `input` is `rows × scales.len()` (row-major), `out` is
    /// `rows × (scales.len()·2·freqs.len())`, each column's embedding in turn.
    pub fn embed_rows<'a>(input: &'a [f32], scales: &'a [f32], freqs: &'a [f32], out: &'a mut [f32]) {
        let cols = scales.len();
        let width = 2 * freqs.len();
        for (row, out_row) in input.chunks_exact(cols).zip(out.chunks_exact_mut(cols * width)) {
            for ((value, scale), out) in row.iter().zip(scales).zip(out_row.chunks_exact_mut(width)) {
                embed_into(*value, *scale, freqs, out);
            }
        }
    }
}

simd_fn! {
    /// Backward of [`embed_rows`]: `d out / d value = scale·f_k·[cos(v f_k), −sin(v f_k)]`,
    /// summed into one gradient per input value. `out` is the forward result.
    pub fn embed_rows_backward<'a>(
        out: &'a [f32],
        grad_out: &'a [f32],
        scales: &'a [f32],
        freqs: &'a [f32],
        grad_input: &'a mut [f32],
    ) {
        let width = 2 * freqs.len();
        let half = freqs.len();
        for (((grad_in, scale), out), grad) in grad_input
            .iter_mut()
            .zip(scales.iter().cycle())
            .zip(out.chunks_exact(width))
            .zip(grad_out.chunks_exact(width))
        {
            let (sin, cos) = out.split_at(half);
            let (g_sin, g_cos) = grad.split_at(half);
            let mut acc = 0.0f32;
            for k in 0..half {
                acc += freqs[k] * (g_sin[k] * cos[k] - g_cos[k] * sin[k]);
            }
            *grad_in = acc * scale;
        }
    }
}

simd_fn! {
    /// Bias + GELU on a `rows × bias.len()` matrix, plus an optional residual:
    /// `out = residual + GELU(z + b)` (`residual` empty for none).
    pub fn bias_gelu<'a>(z: &'a [f32], bias: &'a [f32], residual: &'a [f32], out: &'a mut [f32]) {
        let cols = bias.len();
        if residual.is_empty() {
            for (z_row, o_row) in z.chunks_exact(cols).zip(out.chunks_exact_mut(cols)) {
                for ((o, z), b) in o_row.iter_mut().zip(z_row).zip(bias) {
                    *o = gelu(z + b);
                }
            }
        } else {
            for ((z_row, r_row), o_row) in
                z.chunks_exact(cols).zip(residual.chunks_exact(cols)).zip(out.chunks_exact_mut(cols))
            {
                for (((o, z), b), r) in o_row.iter_mut().zip(z_row).zip(bias).zip(r_row) {
                    *o = r + gelu(z + b);
                }
            }
        }
    }
}

simd_fn! {
    /// Backward of bias + GELU: given the pre-activation `z` (without bias) and the gradient
    /// of the output, writes `∂/∂z` into `grad_z` and adds the column sums into `grad_bias`.
    pub fn bias_gelu_backward<'a>(
        z: &'a [f32],
        bias: &'a [f32],
        grad_out: &'a [f32],
        grad_z: &'a mut [f32],
        grad_bias: &'a mut [f32],
    ) {
        let cols = bias.len();
        for ((z_row, g_row), gz_row) in
            z.chunks_exact(cols).zip(grad_out.chunks_exact(cols)).zip(grad_z.chunks_exact_mut(cols))
        {
            for ((((zv, b), g), gz), gb) in
                z_row.iter().zip(bias).zip(g_row).zip(gz_row.iter_mut()).zip(grad_bias.iter_mut())
            {
                let d = g * gelu_grad(zv + b);
                *gz = d;
                *gb += d;
            }
        }
    }
}

simd_fn! {
    /// One AdamW update of `x` with gradient `g` and moments `m`, `v`; `c` holds
    /// `[β1, β2, decay = 1 − lr·λ, step = lr/(1 − β1^t), 1/√(1 − β2^t), ε]`.
    pub fn adamw_update<'a>(x: &'a mut [f32], g: &'a [f32], m: &'a mut [f32], v: &'a mut [f32], c: &'a [f32; 6]) {
        let [b1, b2, decay, step, inv_sqrt_bc2, eps] = *c;
        for (((x, g), m), v) in x.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            *x *= decay;
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *x -= step * *m / ((*v).sqrt() * inv_sqrt_bc2 + eps);
        }
    }
}

simd_fn! {
    /// Bias + GELU with its two tangents (the 2D model's exact divergence) in place, plus
    /// an optional residual. `m` holds `[z; dx; dy]` (each `rows × bias.len()`; `parts` is
    /// 3) or `z` alone (`parts` 1); with `v = z + b` it becomes `[r + GELU(v);
    /// r_x + GELU'(v)·dx; r_y + GELU'(v)·dy]` (`residual` in the same layout, or empty for
    /// none): one `erf` and one `exp` per value, and the values are the same either way.
    pub fn bias_gelu_with_tangents<'a>(m: &'a mut [f32], bias: &'a [f32], residual: &'a [f32], parts: usize) {
        const INV_SQRT_2PI: f32 = 0.398_942_3;
        let cols = bias.len();
        let (values, tangents) = m.split_at_mut(m.len() / parts);
        if tangents.is_empty() {
            for v_row in values.chunks_exact_mut(cols) {
                for (v, b) in v_row.iter_mut().zip(bias) {
                    let z = *v + b;
                    let (erf, _) = half_erf_and_gauss(z);
                    *v = z * 0.5 * (1.0 + erf);
                }
            }
        } else {
            let (dx, dy) = tangents.split_at_mut(values.len());
            let rows = values
                .chunks_exact_mut(cols)
                .zip(dx.chunks_exact_mut(cols))
                .zip(dy.chunks_exact_mut(cols));
            for ((v_row, x_row), y_row) in rows {
                for (((v, dx), dy), b) in v_row.iter_mut().zip(x_row).zip(y_row).zip(bias) {
                    let z = *v + b;
                    let (erf, gauss) = half_erf_and_gauss(z);
                    let phi = 0.5 * (1.0 + erf);
                    let grad = phi + z * gauss * INV_SQRT_2PI;
                    *v = z * phi;
                    *dx *= grad;
                    *dy *= grad;
                }
            }
        }
        if !residual.is_empty() {
            for (o, r) in m.iter_mut().zip(residual) {
                *o += r;
            }
        }
    }
}

simd_fn! {
    /// The tangents of the 2D model's (x, y) embedding: `emb` is `n × 3e` (each row's x,
    /// y and t embeddings), `scales` holds `s·f_k` (`e/2` values, the input scale times
    /// each frequency), and `out` (`2n × e`) gets `d emb(s·v)/dv = s·f·[cos, −sin]` of x in
    /// rows `0..n` and of y in rows `n..2n`.
    pub fn embed_tangents<'a>(emb: &'a [f32], scales: &'a [f32], out: &'a mut [f32]) {
        let half = scales.len();
        let e = 2 * half;
        let n = emb.len() / (3 * e);
        let (out_x, out_y) = out.split_at_mut(n * e);
        for ((row, dx), dy) in emb
            .chunks_exact(3 * e)
            .zip(out_x.chunks_exact_mut(e))
            .zip(out_y.chunks_exact_mut(e))
        {
            for (src, dst) in [(&row[..e], dx), (&row[e..2 * e], dy)] {
                let (sin, cos) = src.split_at(half);
                let (d_sin, d_cos) = dst.split_at_mut(half);
                for ((((ds, dc), s), c), k) in d_sin.iter_mut().zip(d_cos).zip(sin).zip(cos).zip(scales) {
                    *ds = k * c;
                    *dc = -k * s;
                }
            }
        }
    }
}
