//! How a caller steers a running extraction: a [`CancelToken`] to stop it and a [`Progress`]
//! sink to watch it. Both are shared with threads deep in the run (decoders, downloads), so
//! they live here, beneath every layer, rather than in the orchestrator.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A cancel switch shared between the caller (a Ctrl-C handler, an `AbortSignal`) and a
/// running extraction. Cancelling stops work promptly, publishes nothing partial, and reports
/// every unfinished clip as `cancelled`.
#[derive(Clone, Default, Debug)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub(crate) fn flag(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }
}

/// Progress notifications for long work (the CLI draws bars from them). Called from the run's
/// threads: an implementation must return quickly and never block.
pub trait Progress: Send + Sync {
    /// Planning is done: `frames` output files will be produced from `sources` sources.
    fn planned(&self, _frames: u64, _sources: usize) {}
    /// Source number `source` (0-based) will produce `frames` output files.
    fn source_planned(&self, _source: usize, _name: &str, _frames: u64) {}
    /// `n` more output files exist (of source `source`, when known).
    fn wrote(&self, _source: Option<usize>, _n: u64) {}
    /// A remote source is downloading: `done` bytes of `total` (when announced). Reported for
    /// downloads over a few MB, about every MB, and once more at the end (`done == total`).
    fn downloading(&self, _url: &str, _done: u64, _total: Option<u64>) {}
}
