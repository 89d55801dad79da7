//! Timeline of a run for `--trace FILE`: spans per phase, per source and per worker job, written
//! as Chrome trace events (open in Perfetto or chrome://tracing).
//!
//! Collection costs one `Instant::now()` pair and a mutex push per span, and nothing at all when
//! disabled.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

/// One completed span (Chrome trace event, phase "X").
#[derive(Clone, Debug, Serialize)]
pub struct TraceEvent {
    pub name: String,
    pub cat: &'static str,
    pub ph: &'static str,
    pub pid: u32,
    pub tid: u64,
    /// Start, microseconds since the run began.
    pub ts: f64,
    pub dur: f64,
}

/// Collects spans from every thread of a run.
pub(crate) struct Tracer {
    origin: Instant,
    events: Option<Mutex<Vec<TraceEvent>>>,
}

static NEXT_TID: AtomicU64 = AtomicU64::new(1);
thread_local! {
    static TID: Cell<u64> = const { Cell::new(0) };
}

fn tid() -> u64 {
    TID.with(|t| {
        if t.get() == 0 {
            t.set(NEXT_TID.fetch_add(1, Ordering::Relaxed));
        }
        t.get()
    })
}

/// Records its span when dropped.
pub(crate) struct Span<'a> {
    tracer: &'a Tracer,
    name: Option<String>,
    cat: &'static str,
    start: Instant,
}

impl Drop for Span<'_> {
    fn drop(&mut self) {
        if let (Some(events), Some(name)) = (&self.tracer.events, self.name.take()) {
            let ev = TraceEvent {
                name,
                cat: self.cat,
                ph: "X",
                pid: std::process::id(),
                tid: tid(),
                ts: (self.start - self.tracer.origin).as_secs_f64() * 1e6,
                dur: self.start.elapsed().as_secs_f64() * 1e6,
            };
            events.lock().expect("trace events").push(ev);
        }
    }
}

impl Tracer {
    pub fn new(enabled: bool) -> Tracer {
        Tracer {
            origin: Instant::now(),
            events: enabled.then(|| Mutex::new(Vec::new())),
        }
    }

    /// A span named by `name()` (only called when tracing is on).
    pub fn span(&self, cat: &'static str, name: impl FnOnce() -> String) -> Span<'_> {
        Span {
            tracer: self,
            name: self.events.as_ref().map(|_| name()),
            cat,
            start: Instant::now(),
        }
    }

    pub fn into_events(self) -> Vec<TraceEvent> {
        self.events
            .map(|m| m.into_inner().expect("trace events"))
            .unwrap_or_default()
    }
}
