//! Background threads: named, behind typed commands and events that carry plain data.

pub mod export;
pub mod frames;
pub mod latent;
pub mod model;

/// Lowers the calling thread's scheduling priority to nice 10 (on Linux): when the
/// window's software renderer wants both cores of a two-core machine, it gets about nine
/// tenths of the contended one, and training (or the forward frames' cache) takes the
/// rest. (Nice 19 starved a sampling
/// chain of the CPU whenever anything else ran, e.g. tests in parallel; at equal
/// priority training raised the window's p99 frame time from 20 to 21 ms, BENCHMARKS.md.)
/// Failure (a platform without per-thread priorities) is harmless and ignored.
pub(crate) fn lower_priority() {
    // thread-priority maps 0..=99 onto nice 19..=−20; 22 is nice 10.
    if let Ok(value) = thread_priority::ThreadPriorityValue::try_from(22u8) {
        let _ = thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Crossplatform(
            value,
        ));
    }
}
