//! The speed of the forward views on a 512×512 RGB image (issue 2, item 8):
//! the closed-form `x_t` at any `t` (target ≤ 2 ms) and the Markov-view `x_t` at an
//! arbitrary `t` from the keyframe cache (target ≤ 16 ms).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use diffscope::data::{BuiltinImage, DEFAULT_MAX_SIDE};
use diffscope::diffusion::forward::{self, DEFAULT_KEYFRAME_BUDGET_BYTES, MarkovChain, closed_form_noise};
use diffscope::diffusion::{Schedule, ScheduleKind, ScheduleSpec};

fn astronaut() -> Vec<f32> {
    let img = BuiltinImage::Astronaut
        .load(DEFAULT_MAX_SIDE)
        .expect("embedded image");
    assert_eq!((img.width, img.height, img.channels), (512, 512, 3));
    img.pixels
}

fn closed_form(c: &mut Criterion) {
    let schedule = Schedule::new(&ScheduleSpec::new(ScheduleKind::Cosine, 1000)).unwrap();
    let x0 = astronaut();
    let eps = closed_form_noise::<f32>(0, x0.len());
    let mut out = vec![0f32; x0.len()];
    let mut t = 0;
    c.bench_function("closed_form_x_t_512x512_rgb", |b| {
        b.iter(|| {
            t = (t + 337) % 1001;
            forward::q_sample(&schedule, black_box(t), &x0, &eps, &mut out);
            black_box(&out);
        });
    });
}

fn markov(c: &mut Criterion) {
    let schedule = Schedule::new(&ScheduleSpec::new(ScheduleKind::Cosine, 1000)).unwrap();
    let x0 = astronaut();
    let mut chain = MarkovChain::new(schedule, x0, 0, DEFAULT_KEYFRAME_BUDGET_BYTES);
    chain.build_keyframes(1000);
    let every = chain.keyframe_every();
    println!("keyframe spacing K = {every}");
    let mut out = vec![0f32; chain.x0().len()];
    let mut t = 0;
    c.bench_function("markov_x_t_arbitrary_t_512x512_rgb", |b| {
        b.iter(|| {
            t = (t + 337) % 1001;
            chain.frame_into(black_box(t), &mut out);
            black_box(&out);
        });
    });
    // The worst case: K − 1 steps past a keyframe.
    let worst: Vec<usize> = (0..1000 / every)
        .map(|k| k * every + every - 1)
        .filter(|&t| t <= 1000)
        .collect();
    let mut i = 0;
    c.bench_function("markov_x_t_worst_t_512x512_rgb", |b| {
        b.iter(|| {
            i = (i + 1) % worst.len();
            chain.frame_into(black_box(worst[i]), &mut out);
            black_box(&out);
        });
    });
}

fn build_cache(c: &mut Criterion) {
    let schedule = Schedule::new(&ScheduleSpec::new(ScheduleKind::Cosine, 1000)).unwrap();
    let x0 = astronaut();
    let mut group = c.benchmark_group("markov_cache");
    group.sample_size(10);
    group.bench_function("build_all_keyframes_T1000_512x512_rgb", |b| {
        b.iter(|| {
            let mut chain = MarkovChain::new(schedule.clone(), x0.clone(), 0, DEFAULT_KEYFRAME_BUDGET_BYTES);
            chain.build_keyframes(1000);
            black_box(chain.built_up_to());
        });
    });
    group.finish();
}

criterion_group!(benches, closed_form, markov, build_cache);
criterion_main!(benches);
