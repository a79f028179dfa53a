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

/// Starts the thread `name` at nice 10 ([`lower_priority`]) and runs `run` on a one-thread
/// rayon pool (`{name}-pool`), so that candle's matrix products and the fused kernels of a
/// model thread stay on one core and the window keeps the other (`run` goes on without
/// the pool if it cannot be built).
///
/// # Panics
/// If the OS cannot start a thread.
pub(crate) fn spawn_pooled(name: &str, run: impl FnOnce() + Send + 'static) -> std::thread::JoinHandle<()> {
    let pool_name = format!("{name}-pool");
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            lower_priority();
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .thread_name(move |_| pool_name.clone())
                .start_handler(|_| lower_priority())
                .build();
            match pool {
                Ok(pool) => pool.install(run),
                Err(_) => run(),
            }
        })
        .unwrap_or_else(|e| panic!("start the {name} thread: {e}"))
}
