//! The `forward-frames` thread: computes both views of an image's forward chain at the
//! requested `t`, off the UI thread.
//!
//! The Markov view draws the chain's random walk down a bridge tree
//! ([`MarkovChain`]): any `t` costs at most `⌈log₂ T⌉ + 1` normals per value, and a `t`
//! next to the last one only the levels where their ways down part, so there is no cache
//! to build after a change (a new image, schedule or seed). The work runs on a pool of as
//! many threads as rayon's default (`RAYON_NUM_THREADS`, set in `main`: both cores) at a
//! lowered priority, so the window's own threads get the CPU whenever they want it.
//!
//! The UI sends [`FrameCommand`]s and drains [`FrameEvent`]s; only the newest frame
//! request counts (dragging the slider sends many). Events carry plain pixels and
//! numbers, and the generation of the image they belong to, so the UI drops any event
//! of an image it no longer shows. A panic in the thread becomes a
//! [`FrameEvent::Failed`], and the thread goes on waiting for the next image.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use crate::diffusion::Schedule;
use crate::diffusion::forward::{self, MarkovChain, closed_form_noise};
use crate::diffusion::metrics::Histogram;
use crate::export;

/// Range and bin count of the value histograms.
pub const HIST_RANGE: (f64, f64, usize) = (-4.0, 4.0, 64);

/// An image for the worker.
#[derive(Clone, Debug)]
pub struct ImageJob {
    /// Identifies this image and schedule; events carry it back.
    pub generation: u64,
    /// `x_0` in `[−1, 1]`, HWC.
    pub pixels: Arc<[f32]>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// 1 (grey) or 3 (RGB).
    pub channels: u8,
    /// The schedule of both views.
    pub schedule: Schedule,
    /// The noise seed.
    pub seed: u64,
}

/// What the UI asks of the worker.
#[derive(Debug)]
pub enum FrameCommand {
    /// Work on this image from now on.
    SetImage(Box<ImageJob>),
    /// Show `x_t` of the current image (only the newest request counts).
    Frame {
        /// The image generation the request is for.
        generation: u64,
        /// The step.
        t: usize,
    },
    /// Forget the current image (the scene is points now).
    Clear,
}

/// An RGBA picture (unmultiplied, row-major).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rgba {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `4 · width · height` bytes.
    pub pixels: Vec<u8>,
}

/// One view of `x_t`: the picture and the histogram of its values.
#[derive(Clone, Debug)]
pub struct ViewFrame {
    /// `x_t` as a picture.
    pub image: Rgba,
    /// The histogram of the values of `x_t`.
    pub histogram: Histogram,
}

/// What the worker tells the UI.
#[derive(Debug)]
pub enum FrameEvent {
    /// Both views at `t`.
    Frame {
        /// The image generation.
        generation: u64,
        /// The step.
        t: usize,
        /// `q(x_t | x_0)` with the one fixed `ε`.
        closed: ViewFrame,
        /// The Markov chain's `x_t`.
        markov: ViewFrame,
    },
    /// A job failed (a panic in the worker); the message says why.
    Failed {
        /// The image generation.
        generation: u64,
        /// What went wrong.
        message: String,
    },
}

/// The handle the UI holds: a channel each way and the thread.
pub struct FrameWorker {
    tx: Sender<FrameCommand>,
    rx: Receiver<FrameEvent>,
    _thread: JoinHandle<()>,
}

impl FrameWorker {
    /// Starts the `forward-frames` thread; `wake` is called after each event (the UI
    /// passes its `request_repaint`).
    ///
    /// # Panics
    /// If the OS cannot start a thread.
    #[must_use]
    pub fn spawn(wake: Box<dyn Fn() + Send>) -> Self {
        let (tx, cmd_rx) = mpsc::channel();
        let (event_tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("forward-frames".into())
            .spawn(move || {
                // rayon's default number of threads (both cores), at a lower priority than
                // the window's threads: the frames are drawn on both cores, and the window
                // (and, without a GPU, its software renderer) takes the CPU back the
                // moment it needs it.
                let pool = rayon::ThreadPoolBuilder::new()
                    .thread_name(|_| "forward-frames-pool".into())
                    .start_handler(|_| super::lower_priority())
                    .build();
                match pool {
                    Ok(pool) => pool.install(move || run(&cmd_rx, &event_tx, wake.as_ref())),
                    Err(_) => run(&cmd_rx, &event_tx, wake.as_ref()),
                }
            })
            .expect("start the forward-frames thread");
        Self {
            tx,
            rx,
            _thread: thread,
        }
    }

    /// Sends a command (silently dropped if the thread is gone).
    pub fn send(&self, command: FrameCommand) {
        let _ = self.tx.send(command);
    }

    /// The next event, if any.
    #[must_use]
    pub fn try_recv(&self) -> Option<FrameEvent> {
        self.rx.try_recv().ok()
    }
}

/// The worker's state for one image.
struct Current {
    job: ImageJob,
    eps: Vec<f32>,
    chain: MarkovChain<f32>,
}

fn run(commands: &Receiver<FrameCommand>, events: &Sender<FrameEvent>, wake: &(dyn Fn() + Send)) {
    let mut current: Option<Current> = None;
    while let Ok(first) = commands.recv() {
        // Only the newest request counts: dragging the slider queues many.
        let mut pending = None;
        for command in std::iter::once(first).chain(commands.try_iter()) {
            match command {
                FrameCommand::SetImage(job) => {
                    let generation = job.generation;
                    match catch_unwind(AssertUnwindSafe(|| start(*job))) {
                        Ok(c) => current = Some(c),
                        Err(panic) => {
                            current = None;
                            let _ = events.send(FrameEvent::Failed {
                                generation,
                                message: panic_message(&panic),
                            });
                            wake();
                        }
                    }
                    pending = None;
                }
                FrameCommand::Frame { generation, t } => {
                    if current.as_ref().is_some_and(|c| c.job.generation == generation) {
                        pending = Some(t);
                    }
                }
                FrameCommand::Clear => {
                    current = None;
                    pending = None;
                }
            }
        }
        let (Some(cur), Some(t)) = (current.as_mut(), pending) else {
            continue;
        };
        let generation = cur.job.generation;
        let event = match catch_unwind(AssertUnwindSafe(|| frame(cur, t))) {
            Ok(event) => event,
            Err(panic) => {
                current = None;
                FrameEvent::Failed {
                    generation,
                    message: panic_message(&panic),
                }
            }
        };
        let _ = events.send(event);
        wake();
    }
}

fn start(job: ImageJob) -> Current {
    let eps = closed_form_noise(job.seed, job.pixels.len());
    let chain = MarkovChain::new(job.schedule.clone(), job.pixels.to_vec(), job.seed);
    Current { job, eps, chain }
}

/// Both views at `t` (clamped to `T`).
fn frame(cur: &mut Current, t: usize) -> FrameEvent {
    let t = t.min(cur.job.schedule.steps());
    let mut out = vec![0f32; cur.eps.len()];
    forward::q_sample(&cur.job.schedule, t, &cur.job.pixels, &cur.eps, &mut out);
    let closed = view(&cur.job, &out);
    cur.chain.frame_into(t, &mut out);
    let markov = view(&cur.job, &out);
    FrameEvent::Frame {
        generation: cur.job.generation,
        t,
        closed,
        markov,
    }
}

fn view(job: &ImageJob, values: &[f32]) -> ViewFrame {
    let (lo, hi, bins) = HIST_RANGE;
    ViewFrame {
        image: Rgba {
            width: job.width,
            height: job.height,
            pixels: export::image_to_rgba(values, job.width, job.height, job.channels),
        },
        histogram: Histogram::new(values, lo, hi, bins),
    }
}

/// The text of a caught panic.
#[must_use]
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    format!("internal error (panic): {text}")
}
