//! Seeded, counter-based Gaussian noise: `ε(seed, stream, index)` is a pure function.
//!
//! Scrubbing `t` back and forth must show the same frames, so no noise in diffscope
//! comes from a stateful generator that depends on the order of requests. Instead each
//! value is drawn from its own tiny SplitMix64 generator whose state is a hash of
//! `(seed, stream, index)`, and fed to the ziggurat sampler of `rand_distr` (exact
//! `N(0, 1)`, not an approximation). A *stream* names one use of noise: the Markov step
//! `t` uses stream `t`, the closed form's single `ε` uses [`CLOSED_FORM_STREAM`], and
//! data generators use their own streams.

use rand_core::RngCore;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// Stream of the one fixed `ε` of the closed form `x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε`.
pub const CLOSED_FORM_STREAM: u64 = u64::MAX;

/// Elements per parallel chunk when filling large buffers (keeps the per-thread work
/// large enough that rayon's scheduling costs nothing measurable).
const CHUNK: usize = 16 * 1024;

/// The SplitMix64 finaliser (Steele, Lea & Flood 2014): a bijective 64-bit mixer.
#[inline]
const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// The key of one noise stream: every element of the stream is derived from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamKey(u64);

impl StreamKey {
    /// The key of `stream` under `seed`.
    #[must_use]
    pub const fn new(seed: u64, stream: u64) -> Self {
        Self(mix64(
            mix64(seed ^ 0x6a09_e667_f3bc_c908) ^ stream.wrapping_mul(GOLDEN_GAMMA),
        ))
    }

    /// The private generator of element `index` of this stream.
    #[inline]
    const fn element_rng(self, index: u64) -> SplitMix64 {
        SplitMix64 {
            state: mix64(self.0 ^ index.wrapping_mul(0xd1b5_4a32_d192_ed03)),
        }
    }

    /// Standard normal sample number `index` of this stream.
    #[inline]
    #[must_use]
    pub fn normal(self, index: u64) -> f64 {
        StandardNormal.sample(&mut self.element_rng(index))
    }

    /// Uniform sample in `[0, 1)` number `index` of this stream (53 random bits).
    #[inline]
    #[must_use]
    pub fn uniform(self, index: u64) -> f64 {
        (self.element_rng(index).next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// SplitMix64 (Steele, Lea & Flood 2014) as a `rand_core` generator.
struct SplitMix64 {
    state: u64,
}

impl RngCore for SplitMix64 {
    #[inline]
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix64(self.state)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// Standard normal `ε(seed, stream, index)`.
#[must_use]
pub fn normal(seed: u64, stream: u64, index: u64) -> f64 {
    StreamKey::new(seed, stream).normal(index)
}

/// Uniform `u(seed, stream, index)` in `[0, 1)`.
#[must_use]
pub fn uniform(seed: u64, stream: u64, index: u64) -> f64 {
    StreamKey::new(seed, stream).uniform(index)
}

/// Fills `out[i] = ε(seed, stream, i)` as `f32`, in parallel for large buffers.
pub fn fill_normal_f32(seed: u64, stream: u64, out: &mut [f32]) {
    fill_normal_f32_from(seed, stream, 0, out);
}

/// Fills `out[i] = ε(seed, stream, first + i)` as `f32`, in parallel for large buffers.
pub fn fill_normal_f32_from(seed: u64, stream: u64, first: u64, out: &mut [f32]) {
    let key = StreamKey::new(seed, stream);
    out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, chunk)| {
        let base = first + (c * CHUNK) as u64;
        for (i, v) in chunk.iter_mut().enumerate() {
            *v = key.normal(base + i as u64) as f32;
        }
    });
}

/// Fills `out[i] = ε(seed, stream, i)` in `f64`.
pub fn fill_normal_f64(seed: u64, stream: u64, out: &mut [f64]) {
    let key = StreamKey::new(seed, stream);
    for (i, v) in out.iter_mut().enumerate() {
        *v = key.normal(i as u64);
    }
}
