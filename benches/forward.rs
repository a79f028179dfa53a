//! The speed of the forward views on a 512×512 RGB image (issue 2, item 8):
//! the closed-form `x_t` at any `t` (target ≤ 2 ms) and the Markov-view `x_t` at an
//! arbitrary `t` and at the next `t` while scrubbing (target ≤ 16 ms). And after a
//! change (issue 12, item 9): the Markov view at `t` = 250 and `t` = 1000 from a new
//! image or schedule (target ≤ 1 s), through the library and through the
//! `forward-frames` worker; the cost of one standard normal.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use diffscope::data::{BuiltinImage, DEFAULT_MAX_SIDE};
use diffscope::diffusion::forward::{self, MarkovChain, closed_form_noise};
use diffscope::diffusion::noise;
use diffscope::diffusion::{Schedule, ScheduleKind, ScheduleSpec};
use diffscope::worker::frames::{FrameCommand, FrameEvent, FrameWorker, ImageJob};

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
    let mut chain = MarkovChain::new(schedule, x0, 0);
    let mut out = vec![0f32; chain.x0().len()];
    // Jumps of 337 steps: the ways down part near the root, so most levels are redrawn.
    let mut t = 0;
    c.bench_function("markov_x_t_arbitrary_t_512x512_rgb", |b| {
        b.iter(|| {
            t = (t + 337) % 1001;
            chain.frame_into(black_box(t), &mut out);
            black_box(&out);
        });
    });
    // Scrubbing or playing: the next t shares most of its way down with the last one.
    c.bench_function("markov_x_t_next_t_512x512_rgb", |b| {
        b.iter(|| {
            t = t % 1000 + 1;
            chain.frame_into(black_box(t), &mut out);
            black_box(&out);
        });
    });
}

/// The cost of one standard normal `ε(seed, stream, i)`: a million of them into an `f32`
/// buffer, on one thread and on the default pool (criterion reports values per second).
/// The one-thread figure is the thread's CPU time (from `/proc/thread-self/schedstat`),
/// which other processes on a shared machine change much less than the wall clock.
fn normals(c: &mut Criterion) {
    let mut out = vec![0f32; 1 << 20];
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let mut group = c.benchmark_group("normals");
    group.throughput(Throughput::Elements(out.len() as u64));
    let mut stream = 0;
    group.bench_function("fill_normal_f32_1Mi_one_thread_cpu_time", |b| {
        b.iter_custom(|iters| {
            one.install(|| {
                let start = thread_cpu_time();
                for _ in 0..iters {
                    stream += 1;
                    noise::fill_normal_f32(0, stream, &mut out);
                    black_box(&out);
                }
                thread_cpu_time().saturating_sub(start)
            })
        });
    });
    group.bench_function("fill_normal_f32_1Mi_all_threads", |b| {
        b.iter(|| {
            stream += 1;
            noise::fill_normal_f32(0, stream, &mut out);
            black_box(&out);
        });
    });
    group.finish();
}

/// The CPU time the calling thread has run (Linux; the wall clock elsewhere).
fn thread_cpu_time() -> Duration {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or_else(|| EPOCH.get_or_init(Instant::now).elapsed(), Duration::from_nanos)
}

/// After a change (new image, schedule or seed): the first Markov frame at `t` from a
/// fresh chain (nothing kept), through the library on the default pool.
fn first_frame(c: &mut Criterion) {
    let schedule = Schedule::new(&ScheduleSpec::new(ScheduleKind::Cosine, 1000)).unwrap();
    let x0 = astronaut();
    let mut out = vec![0f32; x0.len()];
    let mut group = c.benchmark_group("markov_after_a_change");
    group.sample_size(10);
    for t in [250, 1000] {
        let mut seed = 0;
        group.bench_function(format!("first_frame_t{t}_512x512_rgb"), |b| {
            b.iter(|| {
                seed += 1;
                let mut chain = MarkovChain::new(schedule.clone(), x0.clone(), seed);
                chain.frame_into(black_box(t), &mut out);
                black_box(&out);
            });
        });
    }
    group.finish();
}

/// What the window sees: a new image job sent to the `forward-frames` worker, then the
/// time until its Markov frame at `t` arrives.
fn worker_first_frame(c: &mut Criterion) {
    let schedule = Schedule::new(&ScheduleSpec::new(ScheduleKind::Cosine, 1000)).unwrap();
    let pixels: Arc<[f32]> = astronaut().into();
    let worker = FrameWorker::spawn(Box::new(|| {}));
    let mut generation = 0;
    let mut group = c.benchmark_group("worker_after_a_change");
    group.sample_size(10);
    for t in [250, 1000] {
        group.bench_function(format!("markov_frame_t{t}_512x512_rgb"), |b| {
            b.iter(|| {
                generation += 1;
                let job = ImageJob {
                    generation,
                    pixels: Arc::clone(&pixels),
                    width: 512,
                    height: 512,
                    channels: 3,
                    schedule: schedule.clone(),
                    seed: generation,
                };
                worker.send(FrameCommand::SetImage(Box::new(job)));
                worker.send(FrameCommand::Frame { generation, t });
                let start = Instant::now();
                loop {
                    match worker.try_recv() {
                        Some(FrameEvent::Frame {
                            generation: g,
                            markov: m,
                            ..
                        }) if g == generation => break black_box(m),
                        Some(FrameEvent::Failed { message, .. }) => panic!("{message}"),
                        Some(_) => {}
                        None => {
                            assert!(start.elapsed() < Duration::from_mins(2), "no frame");
                            std::thread::sleep(Duration::from_micros(200));
                        }
                    }
                }
            });
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    closed_form,
    markov,
    normals,
    first_frame,
    worker_first_frame
);
criterion_main!(benches);
