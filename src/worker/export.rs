//! Export jobs (GIF, PNG) on a named background thread with progress and cancel.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};

use super::frames::panic_message;

/// Progress and cancellation shared between a job and the UI.
#[derive(Clone, Debug, Default)]
pub struct JobControl {
    done: Arc<AtomicUsize>,
    cancel: Arc<AtomicBool>,
}

impl JobControl {
    /// Records that `n` units are done; returns `false` once cancel was asked.
    #[must_use]
    pub fn report(&self, n: usize) -> bool {
        self.done.store(n, Ordering::Relaxed);
        !self.cancel.load(Ordering::Relaxed)
    }

    /// Whether cancel was asked.
    #[must_use]
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

/// A running export: what it is, how far it got, and its result when it ends.
pub struct ExportJob {
    /// What is being exported, for the status line.
    pub what: String,
    /// Units of work in all (frames).
    pub total: usize,
    control: JobControl,
    rx: Receiver<Result<PathBuf, ExportJobError>>,
}

/// Why an export job failed; `Display` is the status line's text.
#[derive(Debug, thiserror::Error)]
pub enum ExportJobError {
    /// Writing the file.
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
    /// The job panicked: its message.
    #[error("{0}")]
    Panicked(String),
    /// The thread could not be started.
    #[error("cannot start the export thread: {0}")]
    Spawn(std::io::Error),
}

/// How an export ended.
#[derive(Debug, PartialEq, Eq)]
pub enum ExportOutcome {
    /// Still running.
    Running,
    /// Written to this file.
    Done(PathBuf),
    /// Failed or was cancelled, with the reason.
    Failed(String),
}

impl ExportJob {
    /// Starts `job` on a thread named `export`; `wake` is called when it ends.
    pub fn spawn(
        what: String,
        total: usize,
        wake: impl Fn() + Send + 'static,
        job: impl FnOnce(&JobControl) -> Result<PathBuf, ExportJobError> + Send + 'static,
    ) -> Self {
        let control = JobControl::default();
        let (tx, rx) = mpsc::channel();
        let thread_control = control.clone();
        let spawned = std::thread::Builder::new().name("export".into()).spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&thread_control)))
                .unwrap_or_else(|panic| Err(ExportJobError::Panicked(panic_message(panic.as_ref()))));
            let _ = tx.send(result);
            wake();
        });
        if let Err(e) = spawned {
            let (tx, rx2) = mpsc::channel();
            let _ = tx.send(Err(ExportJobError::Spawn(e)));
            return Self {
                what,
                total,
                control,
                rx: rx2,
            };
        }
        Self {
            what,
            total,
            control,
            rx,
        }
    }

    /// Units done so far.
    #[must_use]
    pub fn done(&self) -> usize {
        self.control.done.load(Ordering::Relaxed)
    }

    /// Asks the job to stop.
    pub fn cancel(&self) {
        self.control.cancel.store(true, Ordering::Relaxed);
    }

    /// Whether cancel was asked.
    #[must_use]
    pub fn cancelled(&self) -> bool {
        self.control.cancelled()
    }

    /// Whether the job ended, and how.
    #[must_use]
    pub fn poll(&self) -> ExportOutcome {
        match self.rx.try_recv() {
            Ok(Ok(path)) => ExportOutcome::Done(path),
            Ok(Err(e)) => ExportOutcome::Failed(e.to_string()),
            Err(TryRecvError::Empty) => ExportOutcome::Running,
            Err(TryRecvError::Disconnected) => ExportOutcome::Failed("the export thread stopped".into()),
        }
    }
}
