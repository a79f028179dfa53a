//! The `diffscope` binary: a thin shell over the library's command line.

use std::process::ExitCode;

fn main() -> ExitCode {
    configure_threads();
    diffscope::cli::run(std::env::args_os())
}

/// Fixes the thread counts candle reads from the environment, before any thread exists.
///
/// candle 0.11's CPU matmul asks `get_num_threads()` on every call, which — unless
/// `RAYON_NUM_THREADS` is set — counts physical cores by parsing `/proc/cpuinfo` (≈ 8 % of
/// a training step of the 2D model here). And its elementwise ops above 64 Ki values run
/// on a second pool of spinning threads (`CANDLE_NUM_THREADS`) that competes with rayon's
/// for the same two cores and with the window's frame. diffscope's models use fused
/// kernels and rayon pools of their own, so candle's pool gets one thread (the caller).
/// A value the user set is kept. Measured: training 240 → 430 it/s (BENCHMARKS.md).
#[allow(unsafe_code)]
fn configure_threads() {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    for (name, value) in [("RAYON_NUM_THREADS", cores), ("CANDLE_NUM_THREADS", 1)] {
        if std::env::var_os(name).is_none() {
            // SAFETY: called first thing in `main`, while this is the only thread, so no
            // other thread can read the environment concurrently.
            unsafe { std::env::set_var(name, value.to_string()) };
        }
    }
}
