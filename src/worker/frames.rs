//! The `forward-frames` thread: computes both views of an image's forward chain at the
//! requested `t`, off the UI thread, and builds the Markov chain's keyframe cache in the
//! background.
//!
//! The UI sends [`FrameCommand`]s and drains [`FrameEvent`]s; only the newest frame
//! request counts (dragging the slider sends many). Events carry plain pixels and
//! numbers, and the generation of the image they belong to, so the UI drops any event
//! of an image it no longer shows. A panic in the thread becomes a
//! [`FrameEvent::Failed`], and the thread goes on waiting for the next image.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::diffusion::Schedule;
use crate::diffusion::forward::{self, DEFAULT_KEYFRAME_BUDGET_BYTES, MarkovChain, closed_form_noise};
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
    /// Work on this image from now on (drops the previous cache).
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
    /// The closed-form view at `t`, and the Markov view if its keyframes reach `t`.
    Frame {
        /// The image generation.
        generation: u64,
        /// The step.
        t: usize,
        /// `q(x_t | x_0)` with the one fixed `ε`.
        closed: ViewFrame,
        /// The Markov chain's `x_t`; `None` while the cache is still being built to `t`.
        markov: Option<ViewFrame>,
    },
    /// The Markov chain's keyframes now reach `built_up_to` of `steps`.
    Progress {
        /// The image generation.
        generation: u64,
        /// Highest step reachable without building more keyframes.
        built_up_to: usize,
        /// `T`.
        steps: usize,
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
                // One core for this worker, the other for the UI (and, without a GPU, for
                // the software renderer): its parallel loops run on this one-thread pool.
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .thread_name(|_| "forward-frames-pool".into())
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
    /// The `t` whose closed-form frame was sent while its Markov frame is pending.
    sent_closed_for: Option<usize>,
}

fn run(commands: &Receiver<FrameCommand>, events: &Sender<FrameEvent>, wake: &(dyn Fn() + Send)) {
    let mut current: Option<Current> = None;
    let mut pending: Option<usize> = None;
    loop {
        // Block only when there is nothing left to build or show.
        let idle = pending.is_none() && current.as_ref().is_none_or(|c| fully_built(&c.chain));
        let first = if idle {
            match commands.recv() {
                Ok(c) => Some(c),
                Err(_) => return,
            }
        } else {
            match commands.recv_timeout(Duration::ZERO) {
                Ok(c) => Some(c),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
        for command in first.into_iter().chain(commands.try_iter()) {
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
        let Some(cur) = current.as_mut() else { continue };
        let generation = cur.job.generation;
        let result = catch_unwind(AssertUnwindSafe(|| step(cur, &mut pending, events)));
        match result {
            Ok(true) => wake(),
            Ok(false) => {}
            Err(panic) => {
                current = None;
                pending = None;
                let _ = events.send(FrameEvent::Failed {
                    generation,
                    message: panic_message(&panic),
                });
                wake();
            }
        }
    }
}

fn start(job: ImageJob) -> Current {
    let eps = closed_form_noise(job.seed, job.pixels.len());
    let chain = MarkovChain::new(
        job.schedule.clone(),
        job.pixels.to_vec(),
        job.seed,
        DEFAULT_KEYFRAME_BUDGET_BYTES,
    );
    Current {
        job,
        eps,
        chain,
        sent_closed_for: None,
    }
}

fn fully_built(chain: &MarkovChain<f32>) -> bool {
    chain.built_up_to() + chain.keyframe_every() > chain.schedule().steps()
}

/// Does one unit of work: answers the pending request, or builds one more keyframe.
/// Returns whether an event was sent.
fn step(cur: &mut Current, pending: &mut Option<usize>, events: &Sender<FrameEvent>) -> bool {
    let generation = cur.job.generation;
    let steps = cur.job.schedule.steps();
    if let Some(t) = *pending {
        let t = t.min(steps);
        let reachable = t < cur.chain.built_up_to() + cur.chain.keyframe_every();
        if reachable || cur.sent_closed_for != Some(t) {
            let closed = closed_view(cur, t);
            let markov = reachable.then(|| markov_view(cur, t));
            if reachable {
                *pending = None;
                cur.sent_closed_for = None;
            } else {
                cur.sent_closed_for = Some(t);
            }
            let _ = events.send(FrameEvent::Frame {
                generation,
                t,
                closed,
                markov,
            });
            return true;
        }
    }
    if fully_built(&cur.chain) {
        return false;
    }
    let next = cur.chain.built_up_to() + cur.chain.keyframe_every();
    cur.chain.build_keyframes(next);
    let _ = events.send(FrameEvent::Progress {
        generation,
        built_up_to: (cur.chain.built_up_to() + cur.chain.keyframe_every() - 1).min(steps),
        steps,
    });
    true
}

fn closed_view(cur: &Current, t: usize) -> ViewFrame {
    let mut out = vec![0f32; cur.eps.len()];
    forward::q_sample(&cur.job.schedule, t, &cur.job.pixels, &cur.eps, &mut out);
    view(&cur.job, &out)
}

fn markov_view(cur: &mut Current, t: usize) -> ViewFrame {
    let mut out = vec![0f32; cur.eps.len()];
    cur.chain.frame_into(t, &mut out);
    view(&cur.job, &out)
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
