//! Seeded, counter-based Gaussian noise: `ε(seed, stream, index)` is a pure function.
//!
//! Scrubbing `t` back and forth must show the same frames, so no noise in diffscope
//! comes from a stateful generator that depends on the order of requests. Instead each
//! value is drawn from its own tiny SplitMix64 generator whose state is a hash of
//! `(seed, stream, index)`, and fed to the ziggurat sampler of `rand_distr` (exact
//! `N(0, 1)`, not an approximation). A *stream* names one use of noise: the Markov step
//! `t` uses stream `t`, the closed form's single `ε` uses [`CLOSED_FORM_STREAM`], and
//! data generators use their own streams.
//!
//! Drawing is batched: [`StreamKey::normal_block`] hashes 64 consecutive indices at once
//! (the loop vectorises: four 64-bit lanes under AVX2) and takes the ziggurat's fast
//! path for all of them branch-free; the ~1 % of values the fast path rejects are drawn
//! again by `rand_distr` itself. The result is the same stream, bit for bit, as one
//! value at a time (`tests/math.rs` compares them over millions of indices).

// The block kernels are `#[inline(always)]` on purpose: they must be inlined into the
// `#[target_feature]` bodies that `pulp` dispatches to, to be compiled for AVX2.
#![allow(clippy::inline_always)]

use rand_core::RngCore;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use super::forward::Real;

/// Stream of the one fixed `ε` of the closed form `x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε`.
pub const CLOSED_FORM_STREAM: u64 = u64::MAX;

/// Elements per parallel chunk when filling large buffers (keeps the per-thread work
/// large enough that rayon's scheduling costs nothing measurable).
const CHUNK: usize = 16 * 1024;

/// The SplitMix64 finaliser (Steele, Lea & Flood 2014): a bijective 64-bit mixer.
#[inline(always)]
const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// The odd constant that spreads element indices before hashing.
const INDEX_MULTIPLIER: u64 = 0xd1b5_4a32_d192_ed03;

/// Values per block of the batched generator [`StreamKey::normal_block`]: sixteen
/// groups of five (four in AVX2's lanes and one in the scalar unit, which works beside
/// them).
pub const BLOCK: usize = 80;
const _: () = assert!(
    BLOCK.is_multiple_of(8),
    "the rejection flags are read eight at a time"
);

/// `j · INDEX_MULTIPLIER` for `j` in a block: `(first + j)·M = first·M + j·M` (mod 2⁶⁴),
/// so a block costs one multiplication for its indices instead of one per value.
static INDEX_STEPS: [u64; BLOCK] = {
    let mut steps = [0u64; BLOCK];
    let mut j = 0;
    while j < BLOCK {
        steps[j] = (j as u64).wrapping_mul(INDEX_MULTIPLIER);
        j += 1;
    }
    steps
};

/// The first output of a fresh SplitMix64 generator whose state is `state`.
#[inline(always)]
const fn first_output(state: u64) -> u64 {
    mix64(mix64(state).wrapping_add(GOLDEN_GAMMA))
}

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
            state: mix64(self.0 ^ index.wrapping_mul(INDEX_MULTIPLIER)),
        }
    }

    /// Standard normal sample number `index` of this stream.
    #[inline]
    #[must_use]
    pub fn normal(self, index: u64) -> f64 {
        StandardNormal.sample(&mut self.element_rng(index))
    }

    /// Standard normal samples `first, first + 1, …, first + BLOCK − 1` of this stream:
    /// exactly `out[j] = self.normal(first + j)` (the portable kernel; see
    /// [`BlockSource`] for the one hand-written for AVX2).
    ///
    /// Each value's generator is fresh, so its first 64-bit output is
    /// `mix64(mix64(key ⊕ i·M) + γ)`: the block computes all of them in one vectorisable
    /// loop, then takes the ziggurat's fast path for all of them (see
    /// [`ziggurat_block`](Self::ziggurat_block)).
    #[inline(always)]
    pub fn normal_block(self, first: u64, out: &mut [f64; BLOCK]) {
        let base = first.wrapping_mul(INDEX_MULTIPLIER);
        for (x, &step) in out.iter_mut().zip(&INDEX_STEPS) {
            *x = f64::from_bits(first_output(self.0 ^ base.wrapping_add(step)));
        }
        self.ziggurat_block(first, out);
    }

    /// The normals of a block, in place, from the first outputs of its values'
    /// generators (`out[j]` holds output `j` as a bit pattern on entry):
    /// the first test of `rand_distr`'s ziggurat (Doornik's ZIGNOR, 256 layers) —
    /// `|u·x_i| < x_{i+1}`, with the layer `i` from the low 8 bits and `u ∈ [−1, 1)` from
    /// the high 52 — for all of them without branches. A value that fails it (about 1 in
    /// 110) is drawn again by `rand_distr` from its own generator, which repeats the same
    /// first output and goes on from there, so every value is `rand_distr`'s.
    #[inline(always)]
    fn ziggurat_block(self, first: u64, out: &mut [f64; BLOCK]) {
        let mut rejected = [0u8; BLOCK];
        for (x, r) in out.iter_mut().zip(&mut rejected) {
            // rand_distr 0.5's `ziggurat`: `i` from the low byte, `u` from the high 52
            // bits as a float in [2, 4) minus 3.
            let b = x.to_bits();
            let i = (b & 0xff) as usize;
            let u = f64::from_bits((b >> 12) | 0x4000_0000_0000_0000) - 3.0;
            *x = u * ZIG_NORM_X[i];
            *r = u8::from(x.abs() >= ZIG_NORM_X[i + 1]);
        }
        // Eight flags at a time: most words are zero.
        for (w, word) in rejected.chunks_exact(8).enumerate() {
            let mut word = u64::from_le_bytes(word.try_into().expect("eight flags"));
            while word != 0 {
                let j = w * 8 + (word.trailing_zeros() / 8) as usize;
                out[j] = self.normal_slow(first.wrapping_add(j as u64));
                word &= word - 1;
            }
        }
    }

    /// [`normal`](Self::normal) out of line: the batched kernels' rare slow path.
    #[cold]
    #[inline(never)]
    fn normal_slow(self, index: u64) -> f64 {
        self.normal(index)
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
    fill_normal_from(StreamKey::new(seed, stream), first, out);
}

/// Fills `out[i] = ε(seed, stream, i)` in `f64`, in parallel for large buffers.
pub fn fill_normal_f64(seed: u64, stream: u64, out: &mut [f64]) {
    fill_normal_from(StreamKey::new(seed, stream), 0, out);
}

/// Fills `out[i] = key.normal(first + i)` (rounded to `R`), in parallel for large
/// buffers.
pub fn fill_normal_from<R: Real>(key: StreamKey, first: u64, out: &mut [R]) {
    if out.len() <= CHUNK {
        fill_normal_chunk(key, first, out);
    } else {
        out.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(c, chunk)| fill_normal_chunk(key, first.wrapping_add((c * CHUNK) as u64), chunk));
    }
}

/// One thread's part of [`fill_normal_from`], compiled for the best instruction set
/// this CPU has.
fn fill_normal_chunk<R: Real>(key: StreamKey, first: u64, out: &mut [R]) {
    struct Fill<'a, R> {
        key: StreamKey,
        first: u64,
        out: &'a mut [R],
    }
    impl<R: Real> BlockWork for Fill<'_, R> {
        #[inline(always)]
        fn run<B: BlockSource>(self, blocks: B) {
            let mut eps = [0.0; BLOCK];
            for (k, values) in self.out.chunks_mut(BLOCK).enumerate() {
                blocks.normal_block(self.key, self.first.wrapping_add((k * BLOCK) as u64), &mut eps);
                for (v, &e) in values.iter_mut().zip(&eps) {
                    *v = R::from_f64(e);
                }
            }
        }
    }
    run_with_blocks(Fill { key, first, out });
}

/// A way to draw blocks of standard normals: every implementation gives exactly
/// [`StreamKey::normal_block`]'s values.
pub trait BlockSource: Copy {
    /// `out[j] = key.normal(first + j)` for the [`BLOCK`] values.
    fn normal_block(self, key: StreamKey, first: u64, out: &mut [f64; BLOCK]);
}

/// [`StreamKey::normal_block`] as the compiler vectorises it (any CPU).
#[derive(Clone, Copy, Debug)]
pub struct PortableBlocks;

impl BlockSource for PortableBlocks {
    #[inline(always)]
    fn normal_block(self, key: StreamKey, first: u64, out: &mut [f64; BLOCK]) {
        key.normal_block(first, out);
    }
}

/// Work that draws blocks of normals, run by [`run_with_blocks`] with the best
/// [`BlockSource`] for this CPU. `run` must be `#[inline(always)]`, so that it is compiled
/// inside the `#[target_feature]` function that calls it.
pub trait BlockWork {
    /// Does the work with `blocks`.
    fn run<B: BlockSource>(self, blocks: B);
}

/// Runs `work` compiled for AVX2 with the hand-written [`BlockSource`] where the CPU has
/// it, else for the best instruction set `pulp` finds with the portable one.
pub fn run_with_blocks<W: BlockWork>(work: W) {
    struct Portable<W>(W);
    impl<W: BlockWork> pulp::WithSimd for Portable<W> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _simd: S) {
            self.0.run(PortableBlocks);
        }
    }
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = pulp::x86::V3::try_new() {
        struct Call<W> {
            blocks: avx2::Avx2Blocks,
            work: W,
        }
        impl<W: BlockWork> pulp::NullaryFnOnce for Call<W> {
            type Output = ();
            #[inline(always)]
            fn call(self) {
                self.work.run(self.blocks);
            }
        }
        let blocks = avx2::Avx2Blocks::new(simd);
        return simd.vectorize(Call { blocks, work });
    }
    pulp::Arch::new().dispatch(Portable(work));
}

/// The first outputs hashed by hand in AVX2 (`pulp`'s safe intrinsics): four values in
/// the vector lanes and a fifth in the scalar unit at once, which measured 3.5 ns a
/// value here against 5.3 ns for the compiler's vectorisation of the portable loop.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::__m256i;

    use pulp::x86::V3;

    use super::{BLOCK, BlockSource, GOLDEN_GAMMA, INDEX_MULTIPLIER, StreamKey, first_output};

    const _: () = assert!(BLOCK.is_multiple_of(5), "a block is made of groups of five");

    /// The AVX2 [`BlockSource`].
    #[derive(Clone, Copy, Debug)]
    pub struct Avx2Blocks {
        simd: V3,
    }

    /// A 64-bit constant split for `vpmuludq`: its low and high 32 bits in each lane.
    #[derive(Clone, Copy)]
    struct Factor {
        lo: __m256i,
        hi: __m256i,
    }

    impl Avx2Blocks {
        pub const fn new(simd: V3) -> Self {
            Self { simd }
        }

        #[inline(always)]
        fn splat(self, v: u64) -> __m256i {
            self.simd.avx._mm256_set1_epi64x(v as i64)
        }

        #[inline(always)]
        fn factor(self, m: u64) -> Factor {
            Factor {
                lo: self.splat(m & 0xffff_ffff),
                hi: self.splat(m >> 32),
            }
        }

        /// `a·m mod 2⁶⁴` in each lane: `lo·m_lo + ((hi·m_lo + lo·m_hi) << 32)`.
        #[inline(always)]
        fn mul(self, a: __m256i, m: Factor) -> __m256i {
            let x = self.simd.avx2;
            let cross = x._mm256_add_epi64(
                x._mm256_mul_epu32(x._mm256_srli_epi64::<32>(a), m.lo),
                x._mm256_mul_epu32(a, m.hi),
            );
            x._mm256_add_epi64(x._mm256_mul_epu32(a, m.lo), x._mm256_slli_epi64::<32>(cross))
        }

        /// `mix64` in each lane.
        #[inline(always)]
        fn mix64(self, z: __m256i, m1: Factor, m2: Factor) -> __m256i {
            let x = self.simd.avx2;
            let z = self.mul(x._mm256_xor_si256(z, x._mm256_srli_epi64::<30>(z)), m1);
            let z = self.mul(x._mm256_xor_si256(z, x._mm256_srli_epi64::<27>(z)), m2);
            x._mm256_xor_si256(z, x._mm256_srli_epi64::<31>(z))
        }
    }

    impl BlockSource for Avx2Blocks {
        #[inline(always)]
        fn normal_block(self, key: StreamKey, first: u64, out: &mut [f64; BLOCK]) {
            let x = self.simd.avx2;
            let (m1, m2) = (
                self.factor(0xbf58_476d_1ce4_e5b9),
                self.factor(0x94d0_49bb_1331_11eb),
            );
            let (k, gamma) = (self.splat(key.0), self.splat(GOLDEN_GAMMA));
            // (first + j)·M for the four lanes of the first group, then five more each.
            let m = INDEX_MULTIPLIER;
            let base = first.wrapping_mul(m);
            let mut lanes: __m256i = pulp::cast([
                base,
                base.wrapping_add(m),
                base.wrapping_add(m.wrapping_mul(2)),
                base.wrapping_add(m.wrapping_mul(3)),
            ]);
            let mut fifth = base.wrapping_add(m.wrapping_mul(4));
            let (step, fifth_step) = (self.splat(m.wrapping_mul(5)), m.wrapping_mul(5));
            // The first outputs go into `out` as bit patterns; the ziggurat reads them back.
            for group in out.chunks_exact_mut(5) {
                let state = self.mix64(x._mm256_xor_si256(k, lanes), m1, m2);
                let four: [f64; 4] = pulp::cast(self.mix64(x._mm256_add_epi64(state, gamma), m1, m2));
                group[..4].copy_from_slice(&four);
                group[4] = f64::from_bits(first_output(key.0 ^ fifth));
                lanes = x._mm256_add_epi64(lanes, step);
                fifth = fifth.wrapping_add(fifth_step);
            }
            key.ziggurat_block(first, out);
        }
    }
}

/// `x_i` of rand_distr 0.5.1's ziggurat for the standard normal (`ZIG_NORM_X` of its
/// `ziggurat_tables.rs`, generated by its `ziggurat_tables.py`; MIT or Apache-2.0),
/// copied digit for digit so that [`StreamKey::normal_block`] can take the fast path
/// itself. `tests/math.rs` checks the batched draws against `rand_distr`'s over millions
/// of values, which uses every entry.
#[rustfmt::skip]
#[allow(clippy::unreadable_literal, clippy::excessive_precision, reason = "copied digit for digit")]
static ZIG_NORM_X: [f64; 257] =
    [3.910757959537090045, 3.654152885361008796, 3.449278298560964462, 3.320244733839166074,
     3.224575052047029100, 3.147889289517149969, 3.083526132001233044, 3.027837791768635434,
     2.978603279880844834, 2.934366867207854224, 2.894121053612348060, 2.857138730872132548,
     2.822877396825325125, 2.790921174000785765, 2.760944005278822555, 2.732685359042827056,
     2.705933656121858100, 2.680514643284522158, 2.656283037575502437, 2.633116393630324570,
     2.610910518487548515, 2.589575986706995181, 2.569035452680536569, 2.549221550323460761,
     2.530075232158516929, 2.511544441625342294, 2.493583041269680667, 2.476149939669143318,
     2.459208374333311298, 2.442725318198956774, 2.426670984935725972, 2.411018413899685520,
     2.395743119780480601, 2.380822795170626005, 2.366237056715818632, 2.351967227377659952,
     2.337996148795031370, 2.324308018869623016, 2.310888250599850036, 2.297723348901329565,
     2.284800802722946056, 2.272108990226823888, 2.259637095172217780, 2.247375032945807760,
     2.235313384928327984, 2.223443340090905718, 2.211756642882544366, 2.200245546609647995,
     2.188902771624720689, 2.177721467738641614, 2.166695180352645966, 2.155817819875063268,
     2.145083634046203613, 2.134487182844320152, 2.124023315687815661, 2.113687150684933957,
     2.103474055713146829, 2.093379631137050279, 2.083399693996551783, 2.073530263516978778,
     2.063767547809956415, 2.054107931648864849, 2.044547965215732788, 2.035084353727808715,
     2.025713947862032960, 2.016433734904371722, 2.007240830558684852, 1.998132471356564244,
     1.989106007615571325, 1.980158896898598364, 1.971288697931769640, 1.962493064942461896,
     1.953769742382734043, 1.945116560006753925, 1.936531428273758904, 1.928012334050718257,
     1.919557336591228847, 1.911164563769282232, 1.902832208548446369, 1.894558525668710081,
     1.886341828534776388, 1.878180486290977669, 1.870072921069236838, 1.862017605397632281,
     1.854013059758148119, 1.846057850283119750, 1.838150586580728607, 1.830289919680666566,
     1.822474540091783224, 1.814703175964167636, 1.806974591348693426, 1.799287584547580199,
     1.791640986550010028, 1.784033659547276329, 1.776464495522344977, 1.768932414909077933,
     1.761436365316706665, 1.753975320315455111, 1.746548278279492994, 1.739154261283669012,
     1.731792314050707216, 1.724461502945775715, 1.717160915015540690, 1.709889657069006086,
     1.702646854797613907, 1.695431651932238548, 1.688243209434858727, 1.681080704722823338,
     1.673943330923760353, 1.666830296159286684, 1.659740822855789499, 1.652674147080648526,
     1.645629517902360339, 1.638606196773111146, 1.631603456932422036, 1.624620582830568427,
     1.617656869570534228, 1.610711622367333673, 1.603784156023583041, 1.596873794420261339,
     1.589979870021648534, 1.583101723393471438, 1.576238702733332886, 1.569390163412534456,
     1.562555467528439657, 1.555733983466554893, 1.548925085471535512, 1.542128153226347553,
     1.535342571438843118, 1.528567729435024614, 1.521803020758293101, 1.515047842773992404,
     1.508301596278571965, 1.501563685112706548, 1.494833515777718391, 1.488110497054654369,
     1.481394039625375747, 1.474683555695025516, 1.467978458615230908, 1.461278162507407830,
     1.454582081885523293, 1.447889631277669675, 1.441200224845798017, 1.434513276002946425,
     1.427828197027290358, 1.421144398672323117, 1.414461289772464658, 1.407778276843371534,
     1.401094763676202559, 1.394410150925071257, 1.387723835686884621, 1.381035211072741964,
     1.374343665770030531, 1.367648583594317957, 1.360949343030101844, 1.354245316759430606,
     1.347535871177359290, 1.340820365893152122, 1.334098153216083604, 1.327368577624624679,
     1.320630975217730096, 1.313884673146868964, 1.307128989027353860, 1.300363230327433728,
     1.293586693733517645, 1.286798664489786415, 1.279998415710333237, 1.273185207661843732,
     1.266358287014688333, 1.259516886060144225, 1.252660221891297887, 1.245787495544997903,
     1.238897891102027415, 1.231990574742445110, 1.225064693752808020, 1.218119375481726552,
     1.211153726239911244, 1.204166830140560140, 1.197157747875585931, 1.190125515422801650,
     1.183069142678760732, 1.175987612011489825, 1.168879876726833800, 1.161744859441574240,
     1.154581450355851802, 1.147388505416733873, 1.140164844363995789, 1.132909248648336975,
     1.125620459211294389, 1.118297174115062909, 1.110938046009249502, 1.103541679420268151,
     1.096106627847603487, 1.088631390649514197, 1.081114409698889389, 1.073554065787871714,
     1.065948674757506653, 1.058296483326006454, 1.050595664586207123, 1.042844313139370538,
     1.035040439828605274, 1.027181966030751292, 1.019266717460529215, 1.011292417434978441,
     1.003256679539591412, 0.995156999629943084, 0.986990747093846266, 0.978755155288937750,
     0.970447311058864615, 0.962064143217605250, 0.953602409875572654, 0.945058684462571130,
     0.936429340280896860, 0.927710533396234771, 0.918898183643734989, 0.909987953490768997,
     0.900975224455174528, 0.891855070726792376, 0.882622229578910122, 0.873271068082494550,
     0.863795545546826915, 0.854189171001560554, 0.844444954902423661, 0.834555354079518752,
     0.824512208745288633, 0.814306670128064347, 0.803929116982664893, 0.793369058833152785,
     0.782615023299588763, 0.771654424216739354, 0.760473406422083165, 0.749056662009581653,
     0.737387211425838629, 0.725446140901303549, 0.713212285182022732, 0.700661841097584448,
     0.687767892786257717, 0.674499822827436479, 0.660822574234205984, 0.646695714884388928,
     0.632072236375024632, 0.616896989996235545, 0.601104617743940417, 0.584616766093722262,
     0.567338257040473026, 0.549151702313026790, 0.529909720646495108, 0.509423329585933393,
     0.487443966121754335, 0.463634336771763245, 0.437518402186662658, 0.408389134588000746,
     0.375121332850465727, 0.335737519180459465, 0.286174591747260509, 0.215241895913273806,
     0.000000000000000000];
