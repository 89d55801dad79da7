//! A source's wall-time budget, [`TimeLimit`]: hostile or pathological input must never hang a
//! run (contract §6).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::source::{MediaError, MediaPhase};

/// No deadline (unlimited, or the clock is stopped).
const NEVER: u64 = u64::MAX;

/// Nanoseconds since a process-wide origin (monotonic).
fn now_ns() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// The wall-time budget of one source (probe + decode). Cheap to check from any thread.
///
/// This is the one statement of the rule:
/// - **When the clock runs.** Only while the source is worked on: from the start of its probe to
///   the end of its packet scan, and again from the start of its decode. Time spent waiting for
///   a decode thread is not charged to it.
/// - **What restarts it** ([`TimeLimit::progress`]). In the packet scan, every MiB the demuxer
///   reads past the furthest position so far (its byte position, else the packet's, capped at
///   the file's size; every 256 packets where no position is known), so a hostile file that
///   seeks back and forth gets at most size / 1 MiB restarts. While decoding, every needed frame
///   handed out. So the limit bounds the open (header and `find_stream_info`, a bounded read,
///   get one budget), then the time between steps of the scan, then the time from one frame to
///   the next: a huge file, or a long source whose frames are slow to process (tone-mapping, say),
///   is never cut off while it makes progress; a source that stops reading on or producing
///   frames is. A packet whose read alone outlasts the budget is a timeout.
/// - **Where it is checked.** By FFmpeg's interrupt callback (every blocking read of the
///   demuxer, including the open), once per packet in the packet scan, the sequential sweep and
///   the GOP-parallel demuxer, and once per packet by each GOP-parallel decoder.
/// - **What running out means.** [`MediaError::TimedOut`]: in the probe the source is invalid
///   media, while decoding its decode failed.
/// - **What it cannot bound.** A single FFmpeg call that never returns (one decoder call on one
///   packet, say): decoders are opened with a pixel-count cap so that no single picture can be
///   absurdly large, which keeps every such call short.
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
            Some(l) => describe_limit(l),
            None => "no time limit".into(),
        }
    }

    /// The error for work cut short in `phase` by this limit. Only a set limit ever expires, so
    /// the limit reported is the one set.
    pub(crate) fn timed_out(&self, phase: MediaPhase) -> MediaError {
        MediaError::TimedOut {
            phase,
            limit: self.limit.unwrap_or_default(),
        }
    }
}

/// "the per-source time limit (10 s)".
pub(crate) fn describe_limit(limit: Duration) -> String {
    format!("the per-source time limit ({} s)", limit.as_secs_f64())
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
    fn running_out_reads_like_the_failures_of_its_kind() {
        use crate::error::ErrorKind;
        let t = TimeLimit::new(Some(Duration::from_millis(2500)));
        let probe = t.timed_out(MediaPhase::Probe("/media/a.mp4".into()));
        assert_eq!(
            probe.to_string(),
            "not a playable video: /media/a.mp4: probing hit the per-source time limit (2.5 s) and was stopped"
        );
        assert_eq!(ErrorKind::from(&probe), ErrorKind::InvalidMedia);
        let decode = t.timed_out(MediaPhase::Decode);
        assert_eq!(
            decode.to_string(),
            "decoding failed: decoding hit the per-source time limit (2.5 s) and was stopped"
        );
        assert_eq!(ErrorKind::from(&decode), ErrorKind::DecodeFailed);
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
