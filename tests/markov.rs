//! The Markov view (issue 12, item 9): the batched normals are the stream's, the bridge
//! tree draws the chain's law (independent N(0, 1) steps), an independent implementation
//! gives the same numbers, and the `forward-frames` worker answers any `t` at once.

use std::time::{Duration, Instant};

use diffscope::app::forward::image_job;
use diffscope::data::BuiltinImage;
use diffscope::diffusion::forward::{self, MarkovChain};
use diffscope::diffusion::noise::{self, BLOCK, StreamKey};
use diffscope::diffusion::{Schedule, ScheduleKind, ScheduleSpec};
use diffscope::export::image_to_rgba;
use diffscope::worker::frames::{FrameCommand, FrameEvent, FrameWorker};

fn schedule(kind: ScheduleKind, steps: usize) -> Schedule {
    Schedule::new(&ScheduleSpec::new(kind, steps)).expect("valid schedule")
}

/// Golden draws from an independent Python implementation of the stream (SplitMix64
/// keyed by a hash of `(seed, stream, index)`, fed to rand_distr 0.5's ZIGNOR ziggurat
/// with its table parsed from rand_distr's source), hex floats so they are exact:
///
/// ```python
/// import math, re, struct
/// src = open("rand_distr-0.5.1/src/ziggurat_tables.rs").read()
/// table = lambda name: [float(v) for v in re.search(name + r": \[f64; 257\] =\s*\[(.*?)\]", src, re.S).group(1).split(",")]
/// X, F, R, M = table("ZIG_NORM_X"), table("ZIG_NORM_F"), 3.654152885361008796, (1 << 64) - 1
/// G = 0x9e3779b97f4a7c15
/// def mix64(z):
///     z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M
///     z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M
///     return z ^ (z >> 31)
/// key = lambda seed, stream: mix64(mix64(seed ^ 0x6a09e667f3bcc908) ^ ((stream * G) & M))
/// f64 = lambda b: struct.unpack("<d", struct.pack("<Q", b))[0]
/// class Rng:
///     def __init__(s, state): s.state = state
///     def next(s):
///         s.state = (s.state + G) & M
///         return mix64(s.state)
/// open01 = lambda rng: f64((rng.next() >> 12) | (1023 << 52)) - (1.0 - 2.0**-53)
/// def normal(seed, stream, i):
///     rng = Rng(mix64(key(seed, stream) ^ ((i * 0xd1b54a32d192ed03) & M)))
///     while True:
///         b = rng.next(); j = b & 0xff
///         u = f64((b >> 12) | (1024 << 52)) - 3.0
///         x = u * X[j]
///         if abs(x) < X[j + 1]: return x
///         if j == 0:
///             x_, y_ = 1.0, 0.0
///             while -2.0 * y_ < x_ * x_:
///                 x_, y_ = math.log(open01(rng)) / R, math.log(open01(rng))
///             return x_ - R if u < 0 else R - x_
///         if F[j + 1] + (F[j] - F[j + 1]) * ((rng.next() >> 11) * 2.0**-53) < math.exp(-x * x / 2): return x
/// print(normal(3, 17, 123).hex())   # and the rest of the table below
/// ```
///
/// The last four leave the ziggurat's fast path: indices 60 and 386 of stream (1, 1) are
/// its first two wedge draws, 4575 and 7611 its first two tail draws.
const GOLDEN_NORMALS: [(u64, u64, u64, &str); 9] = [
    (0, 0, 0, "0x1.59767949b5236p+0"),
    (3, 17, 123, "-0x1.668afef16ed15p-1"),
    (9, 5, 199_999, "0x1.e90b3637aba9fp+0"),
    (42, 1, 1_000_000_000_000, "0x1.914f8f0df9206p-2"),
    (7, u64::MAX, 65, "-0x1.16a55ddb22510p-1"),
    (1, 1, 60, "-0x1.2b66ffd49606dp+1"),
    (1, 1, 386, "-0x1.748e24edbe19dp-1"),
    (1, 1, 4575, "0x1.fcdac826f1dd6p+1"),
    (1, 1, 7611, "0x1.d5bbab186011ep+1"),
];

/// Parses a hex float `±0x1.<13 hex digits>p±e`.
fn hex_f64(text: &str) -> f64 {
    let (sign, rest) = text.strip_prefix('-').map_or((1.0, text), |r| (-1.0, r));
    let rest = rest.strip_prefix("0x1.").expect("normalised hex float");
    let (mantissa, exponent) = rest.split_once('p').expect("exponent");
    let mantissa = u64::from_str_radix(mantissa, 16).expect("hex digits");
    let exponent: i32 = exponent.parse().expect("exponent");
    sign * (1.0 + mantissa as f64 / (1u64 << 52) as f64) * 2f64.powi(exponent)
}

#[test]
fn normals_match_an_independent_implementation_of_the_stream() {
    for (seed, stream, index, hex) in GOLDEN_NORMALS {
        let golden = hex_f64(hex);
        let key = StreamKey::new(seed, stream);
        assert_eq!(
            noise::normal(seed, stream, index),
            golden,
            "ε({seed}, {stream}, {index})"
        );
        // The batched kernel, with the index at each position of a block.
        for lane in [0, 1, 37, BLOCK as u64 - 1] {
            let first = index.wrapping_sub(lane);
            let mut block = [0.0; BLOCK];
            key.normal_block(first, &mut block);
            assert_eq!(
                block[lane as usize], golden,
                "ε({seed}, {stream}, {index}) in lane {lane}"
            );
        }
    }
}

#[test]
fn batched_normals_are_the_one_at_a_time_draws_bit_for_bit() {
    // 2^21 values of each of three streams, from an offset that is not a multiple of the
    // block, against rand_distr's sampler one value at a time: about 0.9 % of them take
    // the slow path (a wedge or the tail), which the batched kernel hands back to it.
    let n = 1 << 21;
    let mut tails = 0;
    for (seed, stream, first) in [(0, 1, 0), (5, 999, 12_345), (u64::MAX, 3, u64::MAX - 1_000)] {
        let key = StreamKey::new(seed, stream);
        let mut batched = vec![0.0f64; n];
        noise::fill_normal_from(key, first, &mut batched);
        for (i, &x) in batched.iter().enumerate() {
            let one = key.normal(first.wrapping_add(i as u64));
            assert_eq!(x.to_bits(), one.to_bits(), "ε({seed}, {stream}, first + {i})");
            // Beyond the base strip's edge x_1 = 3.654 only the tail draw goes.
            tails += usize::from(x.abs() > 3.654_152_885_361_009);
        }
        let mut single = vec![0.0f32; 1000];
        noise::fill_normal_f32_from(seed, stream, first.wrapping_add(777), &mut single);
        assert_eq!(
            single[..],
            batched[777..1777].iter().map(|&x| x as f32).collect::<Vec<_>>()[..]
        );
    }
    // P(|Z| > 3.654) = 2.6e-4: ~1600 of 6.3 million.
    assert!(
        tails > 1000,
        "only {tails} tail draws: the slow path is not exercised"
    );
}

/// The chain with constant `β = 0.1`, `T = 6`, seed 3 and `x_0 = 0.5` everywhere, drawn
/// as a bridge tree by an independent Python implementation (the stream's `normal` as
/// above, in the same file):
///
/// ```python
/// T, beta, seed, x0 = 6, 0.1, 3, 0.5
/// abar = [(1 - beta) ** t for t in range(T + 1)]
/// V = [1 / a - 1 for a in abar]          # Var W_t of the walk x_t = sqrt(abar_t)(x0 + W_t)
/// def path(i):
///     W = [0.0] * (T + 1)
///     W[T] = math.sqrt(V[T]) * normal(seed, T, i)
///     def fill(a, b):                    # the midpoint m of [a, b] uses stream m
///         if b - a < 2: return
///         m = a + (b - a) // 2
///         mean = W[a] + (V[m] - V[a]) / (V[b] - V[a]) * (W[b] - W[a])
///         var = (V[m] - V[a]) * (V[b] - V[m]) / (V[b] - V[a])
///         W[m] = mean + math.sqrt(var) * normal(seed, m, i)
///         fill(a, m); fill(m, b)
///     fill(0, T)
///     return [math.sqrt(abar[t]) * (x0 + W[t]) for t in range(T + 1)]
/// for i in [0, 79, 80, 4999]: print(i, [repr(v) for v in path(i)])
/// ```
///
/// Elements 79 and 80 sit on either side of a block of the batched kernel.
const GOLDEN_TREE: [(usize, [f64; 7]); 4] = [
    (
        0,
        [
            0.5,
            0.725_086_605_838_058_8,
            0.929_405_348_268_639_2,
            1.220_873_160_052_607,
            1.172_783_580_691_124_6,
            0.746_325_000_463_985_1,
            1.081_251_288_584_809_1,
        ],
    ),
    (
        79,
        [
            0.5,
            0.434_653_687_010_194_5,
            0.041_068_115_533_071_22,
            -0.539_551_932_867_069_2,
            -0.713_961_333_661_635_4,
            -0.332_510_636_722_760_77,
            -0.668_806_783_301_724_4,
        ],
    ),
    (
        80,
        [
            0.5,
            0.665_349_961_585_341_3,
            0.773_796_831_668_523_9,
            0.601_215_270_162_081_2,
            0.240_506_062_528_522_6,
            0.782_448_351_589_831_6,
            0.899_428_564_861_920_5,
        ],
    ),
    (
        4999,
        [
            0.5,
            0.343_532_995_703_984_16,
            0.278_144_052_054_427_44,
            0.615_058_073_865_413_6,
            1.084_192_926_616_218,
            0.815_398_808_494_061_5,
            0.691_905_519_758_092_8,
        ],
    ),
];

#[test]
fn markov_frames_match_an_independent_implementation_of_the_bridge_tree() {
    let mut spec = ScheduleSpec::new(ScheduleKind::Constant, 6);
    spec.beta = Some(0.1);
    let s = Schedule::new(&spec).unwrap();
    let mut chain = MarkovChain::new(s.clone(), vec![0.5f64; 5000], 3);
    // Backwards, so that each frame reuses part of the last one's way down.
    for t in (0..=6).rev() {
        let frame = chain.frame(t);
        for (i, golden) in GOLDEN_TREE {
            // The schedule's ᾱ_t = exp(Σ ln(1 − β)) differs from 0.9^t in the last bits.
            let tolerance = 1e-14 * golden[t].abs().max(1.0);
            assert!(
                (frame[i] - golden[t]).abs() < tolerance,
                "x_{t}[{i}] = {} against {}",
                frame[i],
                golden[t]
            );
        }
    }
    // The few-element path the 2D view draws is the same tree.
    let indices: Vec<u64> = GOLDEN_TREE.iter().map(|(i, _)| *i as u64).collect();
    let path = forward::markov_path(&s, 3, &[0.5; 4], &indices);
    for (j, (_, golden)) in GOLDEN_TREE.iter().enumerate() {
        for t in 0..=6 {
            assert!((path[t][j] - golden[t]).abs() < 1e-14, "path x_{t}[{j}]");
        }
    }
}

/// `n` elements, all starting at `x0`, of the f64 chain at `t − 1` and `t`: the step's
/// noise `ε_t = (x_t − √α_t x_{t−1}) / √β_t` of each.
fn step_noise(chain: &mut MarkovChain<f64>, t: usize) -> Vec<f64> {
    let s = chain.schedule().clone();
    let before = chain.frame(t - 1);
    let after = chain.frame(t);
    before
        .iter()
        .zip(&after)
        .map(|(p, x)| (x - s.alpha(t).sqrt() * p) / s.beta(t).sqrt())
        .collect()
}

fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    (
        mean,
        x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0),
    )
}

fn correlation(x: &[f64], y: &[f64]) -> f64 {
    let ((mx, vx), (my, vy)) = (mean_var(x), mean_var(y));
    let cov = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum::<f64>() / (x.len() as f64 - 1.0);
    cov / (vx * vy).sqrt()
}

#[test]
fn the_tree_draws_the_markov_chain_independent_standard_normal_steps() {
    // MATH.md §2: x_t = √α_t x_{t−1} + √β_t ε_t with a fresh ε_t ~ N(0, 1) each step.
    // The elements of one chain are independent draws (each has its own normals), so
    // 200,000 elements from x_0 = 0.7 give the step noise's law. Steps on both sides of
    // the tree's boundaries: 1 and 2 (the first leaves), 500 and 501 (the root's
    // midpoint of [0, 1000]), 250/251, 999 and 1000 (the root, drawn first).
    let s = schedule(ScheduleKind::Cosine, 1000);
    let n = 200_000;
    let mut chain = MarkovChain::new(s, vec![0.7f64; n], 17);
    let ts = [1, 2, 250, 251, 500, 501, 999, 1000];
    let eps: Vec<Vec<f64>> = ts.iter().map(|&t| step_noise(&mut chain, t)).collect();
    // Mean 0 (SE 1/√n = 0.0022), variance 1 (SE √(2/n) = 0.0032), the two-sided 5 %
    // tail (SE √(0.05·0.95/n) = 0.00049); bounds at 5 standard errors.
    let nf = n as f64;
    for (e, t) in eps.iter().zip(ts) {
        let (mean, var) = mean_var(e);
        let tail = e.iter().filter(|v| v.abs() > 1.959_963_984_540_054).count() as f64 / nf;
        assert!(mean.abs() < 5.0 / nf.sqrt(), "ε_{t}: mean {mean}");
        assert!(
            (var - 1.0).abs() < 5.0 * (2.0 / nf).sqrt(),
            "ε_{t}: variance {var}"
        );
        assert!(
            (tail - 0.05).abs() < 5.0 * (0.05 * 0.95 / nf).sqrt(),
            "ε_{t}: tail {tail}"
        );
    }
    // Independent steps: every pair uncorrelated (SE of a correlation 1/√n).
    for a in 0..ts.len() {
        for b in a + 1..ts.len() {
            let r = correlation(&eps[a], &eps[b]);
            assert!(r.abs() < 5.0 / nf.sqrt(), "corr(ε_{}, ε_{}) = {r}", ts[a], ts[b]);
        }
    }
}

#[test]
fn with_zero_terminal_snr_x_t_is_its_own_fresh_noise() {
    // ᾱ_T = 0, β_T = 1: x_T = ε_T, independent of x_{T−1}; the tree covers [0, T − 1].
    let mut spec = ScheduleSpec::new(ScheduleKind::Linear, 100);
    spec.zero_terminal_snr = true;
    let s = Schedule::new(&spec).unwrap();
    assert_eq!(s.alpha_bar(100), 0.0);
    let n = 100_000;
    let mut chain = MarkovChain::new(s.clone(), vec![1.5f64; n], 2);
    let (x99, x100) = (chain.frame(99), chain.frame(100));
    let nf = n as f64;
    let (mean, var) = mean_var(&x100);
    assert!(mean.abs() < 5.0 / nf.sqrt() && (var - 1.0).abs() < 5.0 * (2.0 / nf).sqrt());
    assert!(correlation(&x99, &x100).abs() < 5.0 / nf.sqrt());
    // x_99 has the closed form's law: mean √ᾱ x_0, variance 1 − ᾱ.
    let (mean, var) = mean_var(&x99);
    let (m, v) = (s.sqrt_alpha_bar(99) * 1.5, s.one_minus_alpha_bar(99));
    assert!(
        (mean - m).abs() < 5.0 * (v / nf).sqrt(),
        "mean {mean} against {m}"
    );
    assert!(
        (var - v).abs() < 5.0 * v * (2.0 / nf).sqrt(),
        "variance {var} against {v}"
    );
    // And the path of a few elements says the same.
    let path = forward::markov_path(&s, 2, &[1.5, 1.5], &[0, 77_777]);
    assert_eq!((path[99][1], path[100][1]), (x99[77_777], x100[77_777]));
}

#[test]
fn markov_frames_are_the_same_however_they_are_reached_and_keep_at_most_68_draws() {
    // 10,001 values: two full chunks of 4160, a partial one, and a partial block of 80.
    let s = schedule(ScheduleKind::Cosine, 1000);
    let x0: Vec<f32> = (0..10_001)
        .map(|i| ((i * 37 % 256) as f32 / 127.5) - 1.0)
        .collect();
    let fresh = |t: usize| MarkovChain::new(s.clone(), x0.clone(), 21).frame(t);
    let mut chain = MarkovChain::new(s.clone(), x0.clone(), 21);
    // Scrubbing forward and back, jumps, and the ends: each frame reuses the levels its
    // way down shares with the last one.
    for t in [
        500, 501, 502, 499, 1000, 1, 0, 999, 250, 251, 250, 733, 734, 1000, 0, 500,
    ] {
        let frame = chain.frame(t);
        let differing = frame
            .iter()
            .zip(&fresh(t))
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        assert_eq!(
            differing, 0,
            "t = {t}: {differing} values differ from a fresh chain's"
        );
    }
    // Playing through the whole chain: the top seven levels (1 + 1 + 2 + … + 32 = 64
    // draws) stay, the deeper ones only while on the way down (⌈log₂ 1000⌉ + 1 = 11
    // levels in all): 64 + 4 arrays at most, where keeping every draw would be 1000.
    for t in 1..=1000 {
        chain.frame_into(t, &mut vec![0.0; x0.len()]);
        assert!(
            chain.kept_draws() <= 68,
            "t = {t}: {} draws kept",
            chain.kept_draws()
        );
    }
    // The few-element path is the same numbers, in f64, at the chunks' and blocks' edges.
    let indices = [0u64, 79, 80, 4159, 4160, 10_000];
    let x0f: Vec<f64> = x0.iter().map(|&v| f64::from(v)).collect();
    let starts: Vec<f64> = indices.iter().map(|&i| x0f[i as usize]).collect();
    let path = forward::markov_path(&s, 21, &starts, &indices);
    let mut chain = MarkovChain::new(s, x0f, 21);
    for t in [0, 1, 377, 999, 1000] {
        let frame = chain.frame(t);
        for (j, &i) in indices.iter().enumerate() {
            assert_eq!(
                path[t][j].to_bits(),
                frame[i as usize].to_bits(),
                "t = {t}, element {i}"
            );
        }
    }
}

#[test]
fn after_a_new_image_the_worker_answers_any_t_with_both_views_at_once() {
    let img = BuiltinImage::Astronaut.load(256).unwrap();
    assert_eq!(img.pixels.len(), 256 * 256 * 3);
    let s = schedule(ScheduleKind::Linear, 1000);
    let worker = FrameWorker::spawn(Box::new(|| {}));
    worker.send(FrameCommand::SetImage(Box::new(image_job(1, &img, &s, 9))));
    worker.send(FrameCommand::Frame {
        generation: 1,
        t: 1000,
    });
    // The first event is the frame asked for, with the chain's x_1000 in it.
    let event = next_event(&worker);
    let FrameEvent::Frame {
        generation: 1,
        t: 1000,
        markov,
        ..
    } = event
    else {
        panic!("the first event is not the frame at t = 1000: {event:?}")
    };
    let x1000 = MarkovChain::new(s.clone(), img.pixels.clone(), 9).frame(1000);
    assert_eq!(
        markov.image.pixels,
        image_to_rgba(&x1000, img.width, img.height, img.channels)
    );
    // A second image replaces the first: its frame carries its own generation.
    worker.send(FrameCommand::SetImage(Box::new(image_job(2, &img, &s, 4))));
    worker.send(FrameCommand::Frame {
        generation: 2,
        t: 250,
    });
    let FrameEvent::Frame { generation, t, .. } = next_event(&worker) else {
        panic!("no frame")
    };
    assert_eq!((generation, t), (2, 250));
}

/// The worker's next event (at most a minute).
fn next_event(worker: &FrameWorker) -> FrameEvent {
    let start = Instant::now();
    loop {
        if let Some(event) = worker.try_recv() {
            return event;
        }
        assert!(start.elapsed() < Duration::from_mins(1), "no event");
        std::thread::sleep(Duration::from_millis(1));
    }
}
