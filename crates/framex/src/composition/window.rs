//! The sampling contract (SPEC §2): which media time every output frame of a clip stands for.
//!
//! Output frame `k` of a clip sits at composition time `t_k = timelineStart + k / fps` and shows
//! media time `m_k = mediaStart' + k · rate / fps` (exact rationals), where `mediaStart'` has
//! already absorbed any preroll (a clip that started before 0). A clip has one frame per `t_k`
//! inside its timeline window and, unless it loops, inside the source's playable range
//! `[0, sourceEnd)`; a looping clip wraps back to its `mediaStart` at `sourceEnd`. A visible
//! non-looping clip whose first sample already lies past `sourceEnd` (a held tail, e.g. after a
//! long preroll) has exactly one frame: the source's final frame, which the lookup holds.
//!
//! Which *source frame* is on screen at `m_k` is decided by the media layer's frame index
//! (`media::index`), not here: this module knows nothing of timestamps or files.

use super::ClipSpec;
use crate::time::Rational;

/// Where one clip's output frames come from, resolved against its source's playable length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClipWindow {
    /// Composition time of output frame 0 (`max(0, start)`).
    pub timeline_start: Rational,
    /// Composition time where the clip stops being active (lookup treats it as inclusive).
    pub timeline_end: Rational,
    /// Number of output frames.
    pub frame_count: u64,
    pub fps: Rational,
    pub rate: Rational,
    /// Media time of output frame 0 before loop wrapping (mediaStart + preroll · rate).
    pub media_offset: Rational,
    /// For a looping clip: the cycle `[mediaStart, sourceEnd)` that media time wraps within.
    pub loop_cycle: Option<(Rational, Rational)>,
}

/// Why a clip has no valid window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WindowError {
    /// The source has no playable length.
    EmptySource,
    /// `mediaStart` is at or past the end of the source.
    MediaStartOutOfRange {
        media_start: Rational,
        source_end: Rational,
    },
}

impl ClipWindow {
    /// Media time (seconds from the source's start) shown by output frame `k`.
    pub fn media_time(&self, k: u64) -> Rational {
        let m = self.media_offset + Rational::from(k as i128) * self.rate / self.fps;
        match self.loop_cycle {
            Some((cycle_start, cycle_len)) => cycle_start + (m - cycle_start).rem_euclid(cycle_len),
            None => m,
        }
    }

    /// Composition time of output frame `k`.
    pub fn timeline_time(&self, k: u64) -> Rational {
        self.timeline_start + Rational::from(k as i128) / self.fps
    }
}

/// Resolves a clip against its source (`source_end`: playable length in seconds of media time),
/// the composition's `fps` and optional end.
pub fn resolve_window(
    clip: &ClipSpec,
    fps: Rational,
    timeline_end: Option<Rational>,
    source_end: Rational,
) -> Result<ClipWindow, WindowError> {
    if !source_end.is_positive() {
        return Err(WindowError::EmptySource);
    }
    if clip.media_start >= source_end {
        return Err(WindowError::MediaStartOutOfRange {
            media_start: clip.media_start,
            source_end,
        });
    }
    let rate = clip.playback_rate;
    let remaining = source_end - clip.media_start; // media seconds from mediaStart to the end
    let natural_end = clip.start + remaining / rate; // one pass (one cycle for loops)
    let mut end = clip.end.unwrap_or(natural_end);
    if let Some(t) = timeline_end {
        end = end.min(t);
    }
    let timeline_start = clip.start.max(Rational::ZERO);
    let preroll = timeline_start - clip.start;
    let media_offset = clip.media_start + preroll * rate;

    let mut frame_count = if end > timeline_start {
        ((end - timeline_start) * fps).ceil().max(0) as u64
    } else {
        0
    };
    let loop_cycle = if clip.looping {
        Some((clip.media_start, remaining))
    } else {
        // Never past the source: frames with m_k < source_end only.
        let playable = source_end - media_offset;
        let max_frames = if playable.is_positive() {
            (playable * fps / rate).ceil().max(0) as u64
        } else {
            0
        };
        // A visible clip that starts in its held tail (past the source's end) still shows the
        // final frame: exactly one frame, held by the lookup (HyperFrames' final-frame window).
        frame_count = frame_count.min(max_frames.max(1));
        None
    };
    Ok(ClipWindow {
        timeline_start,
        timeline_end: end.max(timeline_start),
        frame_count,
        fps,
        rate,
        media_offset,
        loop_cycle,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Rational {
        Rational::parse_decimal(s).unwrap()
    }

    fn clip(start: &str, end: Option<&str>, media_start: &str) -> ClipSpec {
        let mut c = ClipSpec::new("c", "s.mp4");
        c.start = r(start);
        c.end = end.map(r);
        c.media_start = r(media_start);
        c
    }

    #[test]
    fn window_in_the_middle() {
        let w = resolve_window(&clip("0", Some("4"), "2.5"), r("30"), None, r("10")).unwrap();
        assert_eq!(w.frame_count, 120);
        assert_eq!(w.media_time(0), r("2.5"));
        assert_eq!(w.media_time(3), r("2.6"));
    }

    #[test]
    fn ntsc_rate_counts_samples_strictly_inside_the_window() {
        let fps = Rational::new(30000, 1001);
        let w = resolve_window(&clip("0", Some("2"), "0"), fps, None, r("10")).unwrap();
        // samples at k*1001/30000 < 2  ->  k < 59.94  -> 60 frames
        assert_eq!(w.frame_count, 60);
        assert_eq!(w.media_time(1), Rational::new(1001, 30000));
    }

    #[test]
    fn non_looping_clip_stops_at_the_source_end() {
        let w = resolve_window(&clip("0", Some("5"), "1"), r("30"), None, r("2")).unwrap();
        assert_eq!(w.frame_count, 30);
        assert_eq!(w.media_time(29), r("1") + Rational::new(29, 30));
    }

    #[test]
    fn loop_wraps_to_media_start() {
        let mut c = clip("0", Some("5"), "0");
        c.looping = true;
        let w = resolve_window(&c, r("30"), None, r("2")).unwrap();
        assert_eq!(w.frame_count, 150);
        assert_eq!(w.media_time(59), Rational::new(59, 30));
        assert_eq!(w.media_time(60), Rational::ZERO);
        assert_eq!(w.media_time(149), Rational::new(29, 30));
    }

    #[test]
    fn preroll_and_timeline_end() {
        let w = resolve_window(&clip("-2", Some("3"), "1"), r("30"), Some(r("2")), r("10")).unwrap();
        assert_eq!(w.timeline_start, Rational::ZERO);
        assert_eq!(w.media_offset, r("3"));
        assert_eq!(w.frame_count, 60);
    }

    #[test]
    fn playback_rate_and_natural_end() {
        let mut c = clip("1", None, "0");
        c.playback_rate = r("2");
        let w = resolve_window(&c, r("30"), None, r("4")).unwrap();
        assert_eq!(w.timeline_end, r("3"));
        assert_eq!(w.frame_count, 60);
        assert_eq!(w.media_time(1), Rational::new(1, 15));
    }

    #[test]
    fn media_start_out_of_range() {
        let e = resolve_window(&clip("0", None, "10"), r("30"), None, r("10")).unwrap_err();
        assert!(matches!(e, WindowError::MediaStartOutOfRange { .. }));
        assert_eq!(
            resolve_window(&clip("0", None, "0"), r("30"), None, Rational::ZERO),
            Err(WindowError::EmptySource)
        );
    }

    #[test]
    fn held_tail_after_preroll_is_one_final_frame() {
        // HyperFrames: {start: -15, end: 5, mediaStart: 0} over a 10 s source, composition end 2
        let w = resolve_window(&clip("-15", Some("5"), "0"), r("30"), Some(r("2")), r("10")).unwrap();
        assert_eq!(w.frame_count, 1);
        assert_eq!(w.timeline_start, Rational::ZERO);
        assert!(w.media_time(0) >= r("10"));
    }

    #[test]
    fn clip_wholly_before_zero_has_no_frames() {
        let w = resolve_window(&clip("-5", Some("-1"), "0"), r("30"), None, r("10")).unwrap();
        assert_eq!(w.frame_count, 0);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn micros(v: i64) -> Rational {
        Rational::new(v as i128, 1_000_000)
    }

    proptest! {
        #[test]
        fn frames_stay_inside_the_source_and_the_window(
            start in -20_000_000i64..20_000_000,
            len in 1i64..30_000_000,
            media_start in 0i64..12_000_000,
            source_len in 1i64..15_000_000,
            rate_tenths in 1i64..=50,
            fps_num in prop::sample::select(vec![(24, 1), (25, 1), (30, 1), (60, 1), (30000, 1001), (24000, 1001)]),
            looping: bool,
            timeline_end in prop::option::of(0i64..40_000_000),
        ) {
            let mut clip = ClipSpec::new("c", "s.mp4");
            clip.start = micros(start);
            clip.end = Some(micros(start + len));
            clip.media_start = micros(media_start);
            clip.looping = looping;
            clip.playback_rate = Rational::new(rate_tenths as i128, 10);
            let fps = Rational::new(fps_num.0, fps_num.1);
            let source_end = micros(source_len);
            let end = timeline_end.map(micros);
            match resolve_window(&clip, fps, end, source_end) {
                Err(WindowError::MediaStartOutOfRange { .. }) => prop_assert!(clip.media_start >= source_end),
                Err(e) => prop_assert!(false, "unexpected {e:?}"),
                Ok(w) => {
                    prop_assert!(w.frame_count < 10_000);
                    let mut prev = None;
                    let held_tail = !looping && w.frame_count == 1 && w.media_time(0) >= source_end;
                    for k in 0..w.frame_count {
                        let m = w.media_time(k);
                        prop_assert!(m >= Rational::ZERO && (m < source_end || held_tail), "frame {k} at {m} outside the source");
                        if looping {
                            prop_assert!(m >= clip.media_start);
                        } else if let Some(p) = prev {
                            prop_assert!(m > p, "media time must increase");
                        }
                        prev = Some(m);
                        let t = w.timeline_time(k);
                        prop_assert!(t >= Rational::ZERO && t < w.timeline_end, "frame {k} at {t} outside the window");
                    }
                    // Every sample strictly inside the window (and the source) has a frame.
                    let t_next = w.timeline_time(w.frame_count);
                    let inside_window = t_next < w.timeline_end;
                    let inside_source = looping || w.media_time(w.frame_count) < source_end || w.frame_count == 0;
                    prop_assert!(!(inside_window && inside_source), "frame {} is missing", w.frame_count);
                }
            }
        }
    }
}
