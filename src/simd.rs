//! Loops compiled for the best instruction set this CPU has (AVX2 + FMA, else SSE2),
//! chosen at run time by `pulp`, without `unsafe` in this crate: the [`simd_fn`] macro,
//! and the vectorisable `exp` that the model's kernels and the ideal denoiser share.

// The tiny math functions are `#[inline(always)]` on purpose: they must be inlined into
// the `#[target_feature]` bodies that `simd_fn!` generates to be compiled for AVX2.
#![allow(clippy::inline_always)]

/// Defines `fn name<'a>(args)` whose body is compiled for the best instruction set this
/// CPU has (AVX2 + FMA, else SSE2), chosen at run time by `pulp`. The body sits in an
/// `#[inline(always)]` method so that it is compiled inside pulp's `#[target_feature]`
/// function (a closure would be compiled once, for SSE2, and called from there).
macro_rules! simd_fn {
    ($(#[$meta:meta])* $vis:vis fn $name:ident<'a>($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        $vis fn $name<'a>($($arg: $ty),*) {
            struct Kernel<'a> {
                $($arg: $ty,)*
            }
            impl pulp::WithSimd for Kernel<'_> {
                type Output = ();
                #[inline(always)]
                fn with_simd<S: pulp::Simd>(self, _simd: S) {
                    let Kernel { $($arg),* } = self;
                    $body
                }
            }
            pulp::Arch::new().dispatch(Kernel { $($arg),* });
        }
    };
}

pub(crate) use simd_fn;

/// `exp(a)` for `a ≤ 0` down to −87 (below that, 0 would be exact enough: the result is
/// clamped to exp(−87) ≈ 1.6e-38). Relative error ≤ 2e-7.
#[inline(always)]
#[must_use]
pub fn exp_neg(a: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Round to nearest with the 1.5·2^23 trick: branch-free and vectorisable.
    const MAGIC: f32 = 12_582_912.0;
    let a = a.max(-87.0);
    let shifted = a * LOG2E + MAGIC;
    let n = shifted - MAGIC;
    let r = (a - n * LN2_HI) - n * LN2_LO;
    // Cephes expf polynomial on |r| ≤ ln2/2.
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let e = p * r * r + r + 1.0;
    // 2^n from the integer n sitting in the low mantissa bits of `shifted`.
    let bits = (shifted.to_bits() as i32).wrapping_sub(0x4B40_0000);
    let scale = f32::from_bits(((bits + 127) as u32) << 23);
    e * scale
}

simd_fn! {
    /// `v ← exp(v)` for every `v ≤ 0` (see [`exp_neg`]), and their sum in `f64`.
    pub fn exp_neg_in_place<'a>(values: &'a mut [f32], sum: &'a mut f64) {
        for v in values.iter_mut() {
            *v = exp_neg(*v);
        }
        // Eight independent f64 lanes: the sum vectorises without reassociating.
        let mut lanes = [0.0f64; 8];
        let chunks = values.chunks_exact(8);
        let tail: f64 = chunks.remainder().iter().map(|&v| f64::from(v)).sum();
        for chunk in chunks {
            for (lane, &v) in lanes.iter_mut().zip(chunk) {
                *lane += f64::from(v);
            }
        }
        *sum = lanes.iter().sum::<f64>() + tail;
    }
}
