//! The `forward-frames` worker: its protocol, its numbers, its stale events.

use std::time::{Duration, Instant};

use diffscope::app::forward::image_job;
use diffscope::data::BuiltinImage;
use diffscope::diffusion::forward::{self, MarkovChain, closed_form_noise};
use diffscope::diffusion::{Schedule, ScheduleKind, ScheduleSpec};
use diffscope::export::image_to_rgba;
use diffscope::worker::frames::{FrameCommand, FrameEvent, FrameWorker};

/// Waits for the first event that `pick` accepts (others are dropped), at most 20 s.
#[track_caller]
fn wait_for<T>(worker: &FrameWorker, what: &str, mut pick: impl FnMut(FrameEvent) -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        while let Some(event) = worker.try_recv() {
            if let Some(found) = pick(event) {
                return found;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no event: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn the_frames_worker_answers_the_newest_request_with_both_exact_views() {
    let worker = FrameWorker::spawn(Box::new(|| {}));
    let img = BuiltinImage::Camera.load(48).unwrap();
    let schedule = Schedule::new(&ScheduleSpec::new(ScheduleKind::Linear, 100)).unwrap();
    worker.send(FrameCommand::SetImage(Box::new(image_job(7, &img, &schedule, 3))));
    for t in [10, 20, 60] {
        worker.send(FrameCommand::Frame { generation: 7, t });
    }
    // A request for an image the worker no longer has is ignored.
    worker.send(FrameCommand::Frame { generation: 6, t: 99 });
    let (closed, markov) = wait_for(&worker, "both views of t = 60", |event| match event {
        FrameEvent::Frame {
            generation: 7,
            t: 60,
            closed,
            markov,
        } => Some((closed, markov)),
        FrameEvent::Frame { generation, t, .. } => {
            assert!(
                generation == 7 && [10, 20, 60].contains(&t),
                "unexpected frame {generation}/{t}"
            );
            None
        }
        FrameEvent::Failed { message, .. } => panic!("{message}"),
    });
    // The pictures are exactly the library's closed form and Markov chain at t = 60.
    let n = img.pixels.len();
    let eps = closed_form_noise::<f32>(3, n);
    let mut xt = vec![0f32; n];
    forward::q_sample(&schedule, 60, &img.pixels, &eps, &mut xt);
    assert_eq!(
        closed.image.pixels,
        image_to_rgba(&xt, img.width, img.height, img.channels)
    );
    let mut chain = MarkovChain::new(schedule.clone(), img.pixels.clone(), 3);
    let xt = chain.frame(60);
    assert_eq!(
        markov.image.pixels,
        image_to_rgba(&xt, img.width, img.height, img.channels)
    );
    assert_eq!(closed.histogram.total, n as u64);
    // A new image drops the old one: its frames carry the new generation only.
    worker.send(FrameCommand::SetImage(Box::new(image_job(8, &img, &schedule, 4))));
    worker.send(FrameCommand::Frame { generation: 8, t: 5 });
    let generation = wait_for(&worker, "the new image's frame", |event| match event {
        FrameEvent::Frame { generation, t: 5, .. } => Some(generation),
        _ => None,
    });
    assert_eq!(generation, 8);
}
