//! A source's wall-time budget: hostile or pathological input must never hang a run (SPEC §6).
//!
//! Each source gets its own [`TimeLimit`] for probe + decode. The clock runs only while the
//! source is being worked on — from the start of its probe to the end of its packet scan, and
//! again from the start of its decode — so time spent waiting for a decode thread is not
//! charged to it. Progress restarts it ([`TimeLimit::progress`]) — in the packet scan every MiB
//! read further into the file, while decoding every needed frame handed out: the limit bounds
//! the open, then the time between steps of the scan, then the time from one frame to the next,
//! so a huge file or a long source whose workers are slow (tone-mapping, say) is never cut off
//! while it makes progress, while a source that stops reading on or producing frames is. The limit is checked by FFmpeg's interrupt callback (every blocking read of
//! the demuxer), once per packet in the packet scan and the decode loops, and once per packet
//! by each GOP-parallel decoder. What it cannot bound is a single FFmpeg call that never returns
//! (e.g. one decoder call on one packet): decoders are opened with a pixel-count cap so that no
//! single picture can be absurdly large, which keeps every such call short.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// No deadline (unlimited, or the clock is stopped).
const NEVER: u64 = u64::MAX;

/// Nanoseconds since a process-wide origin (monotonic).
fn now_ns() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// The wall-time budget of one source (probe + decode). Cheap to check from any thread.
#[derive(Debug)]
pub struct TimeLimit {
    limit: Option<Duration>,
    /// When the budget runs out, in [`now_ns`] time; [`NEVER`] while stopped or unlimited.
    deadline: AtomicU64,
    /// Time used by earlier running periods, and the start of the current one.
    clock: Mutex<(Duration, Option<Instant>)>,
}

impl TimeLimit {
    /// A stopped clock with `limit` of wall time (`None`: no limit).
    pub fn new(limit: Option<Duration>) -> TimeLimit {
        TimeLimit {
            limit,
            deadline: AtomicU64::new(NEVER),
            clock: Mutex::new((Duration::ZERO, None)),
        }
    }

    /// The configured limit.
    pub fn limit(&self) -> Option<Duration> {
        self.limit
    }

    /// Starts (or resumes) the clock with what is left of the budget. Idempotent.
    pub fn start(&self) {
        let mut c = self.clock.lock().unwrap_or_else(|p| p.into_inner());
        if c.1.is_some() {
            return;
        }
        c.1 = Some(Instant::now());
        if let Some(limit) = self.limit {
            let left = limit.saturating_sub(c.0);
            let deadline = now_ns().saturating_add(left.as_nanos().min(u64::MAX as u128 - 1) as u64);
            self.deadline.store(deadline.min(NEVER - 1), Ordering::Relaxed);
        }
    }

    /// Stops the clock, keeping the time used so far. Idempotent.
    pub fn stop(&self) {
        let mut c = self.clock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = c.1.take() {
            c.0 += t.elapsed();
        }
        self.deadline.store(NEVER, Ordering::Relaxed);
    }

    /// Work advanced (the packet scan read on, a needed frame came out): the running clock starts
    /// afresh, so the limit bounds the time between steps, not a long source's total. No effect
    /// while stopped.
    pub fn progress(&self) {
        let mut c = self.clock.lock().unwrap_or_else(|p| p.into_inner());
        if c.1.is_none() {
            return;
        }
        *c = (Duration::ZERO, Some(Instant::now()));
        if let Some(limit) = self.limit {
            let deadline = now_ns().saturating_add(limit.as_nanos().min(u64::MAX as u128 - 1) as u64);
            self.deadline.store(deadline.min(NEVER - 1), Ordering::Relaxed);
        }
    }

    /// Whether the running clock has used up the budget.
    pub fn expired(&self) -> bool {
        let d = self.deadline.load(Ordering::Relaxed);
        d != NEVER && now_ns() >= d
    }

    /// "the per-source time limit (10 s)", for error messages.
    pub fn describe(&self) -> String {
        match self.limit {
            Some(l) => format!("the per-source time limit ({} s)", l.as_secs_f64()),
            None => "no time limit".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_counts_only_running_periods() {
        let t = TimeLimit::new(Some(Duration::from_millis(60)));
        assert!(!t.expired(), "a stopped clock never expires");
        t.start();
        assert!(!t.expired());
        std::thread::sleep(Duration::from_millis(40));
        t.stop();
        std::thread::sleep(Duration::from_millis(60));
        assert!(!t.expired(), "time while stopped is not charged");
        t.start();
        assert!(!t.expired(), "about 20 ms are left");
        std::thread::sleep(Duration::from_millis(40));
        assert!(t.expired());
    }

    #[test]
    fn progress_restarts_the_budget() {
        let t = TimeLimit::new(Some(Duration::from_millis(60)));
        t.progress();
        assert!(!t.expired(), "progress does not start a stopped clock");
        t.start();
        for _ in 0..4 {
            std::thread::sleep(Duration::from_millis(30));
            t.progress();
            assert!(!t.expired(), "120 ms in all, but never 60 ms without progress");
        }
        std::thread::sleep(Duration::from_millis(70));
        assert!(t.expired());
    }

    #[test]
    fn unlimited_and_zero() {
        let u = TimeLimit::new(None);
        u.start();
        assert!(!u.expired());
        let z = TimeLimit::new(Some(Duration::ZERO));
        z.start();
        assert!(z.expired());
    }
}
