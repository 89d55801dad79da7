//! The sampling contract (contract §2): which media time every output frame of a clip stands for.
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

/// The window cases of HyperFrames' `videoFrameExtractor.test.ts` ("resolveVideoExtractionDuration"
/// describe block, reference §11 "Windows", §6 examples) and the frame-count pins of §5.1, run
/// through framex's [`resolve_window`] at 30 fps. Each test names the HyperFrames case; where
/// framex deliberately differs, a `// HyperFrames:` comment gives its value and the reason (see
/// also `docs/hyperframes-differences.md`).
///
/// HyperFrames' windows are seconds (`compositionStart`, `mediaStart`, `durationSeconds` of
/// source); framex's are frames. At 30 fps a HyperFrames CFR duration `d` becomes
/// `round_half_up(d · 30)` frames (§5.1), framex's `ceil(d · 30)` (one frame per sample time
/// strictly inside the window). Its `metadata(d)` fixture is a source whose playable length is
/// `d`; framex's `source_end` is that length.
#[cfg(test)]
mod hyperframes_cases {
    use super::*;

    const FPS: i64 = 30;

    fn r(s: &str) -> Rational {
        Rational::parse_decimal(s).unwrap()
    }

    /// HyperFrames' `video({...})` test helper: start 0, open end, mediaStart 0, rate 1, no loop.
    struct Video {
        start: &'static str,
        end: Option<&'static str>,
        media_start: &'static str,
        rate: &'static str,
        looping: bool,
    }

    fn video() -> Video {
        Video {
            start: "0",
            end: None,
            media_start: "0",
            rate: "1",
            looping: false,
        }
    }

    impl Video {
        fn start(mut self, s: &'static str) -> Video {
            self.start = s;
            self
        }
        fn end(mut self, e: &'static str) -> Video {
            self.end = Some(e);
            self
        }
        fn media_start(mut self, m: &'static str) -> Video {
            self.media_start = m;
            self
        }
        fn rate(mut self, rate: &'static str) -> Video {
            self.rate = rate;
            self
        }
        fn looping(mut self, l: bool) -> Video {
            self.looping = l;
            self
        }

        fn spec(&self) -> ClipSpec {
            let mut c = ClipSpec::new("v", "video.mp4");
            c.start = r(self.start);
            c.end = self.end.map(r);
            c.media_start = r(self.media_start);
            c.playback_rate = r(self.rate);
            c.looping = self.looping;
            c
        }

        /// `resolveVideoExtractionWindow(video, metadata(source), timelineEnd)` in framex terms.
        fn resolve(&self, source: &str, timeline_end: Option<&str>) -> Result<ClipWindow, WindowError> {
            resolve_window(&self.spec(), Rational::from_int(FPS), timeline_end.map(r), r(source))
        }

        fn window(&self, source: &str, timeline_end: Option<&str>) -> ClipWindow {
            self.resolve(source, timeline_end)
                .unwrap_or_else(|e| panic!("window should resolve: {e:?}"))
        }
    }

    /// Frames at 30 fps for `seconds` (exact decimal).
    fn frames(seconds: &str) -> u64 {
        (r(seconds) * Rational::from_int(FPS)).ceil() as u64
    }

    /// Media time of every output frame.
    fn media_times(w: &ClipWindow) -> Vec<Rational> {
        (0..w.frame_count).map(|k| w.media_time(k)).collect()
    }

    // ---- resolveVideoExtractionDuration / resolveVideoExtractionWindow ----

    #[test]
    fn caps_an_open_60_second_source_to_a_two_second_composition() {
        // HyperFrames: duration 2 s (60 frames @30).
        let w = video().window("60", Some("2"));
        assert_eq!(w.frame_count, 60);
        assert_eq!(w.timeline_start, Rational::ZERO);
        assert_eq!(w.timeline_end, r("2"));
        assert_eq!(w.media_time(0), Rational::ZERO);
    }

    #[test]
    fn keeps_a_shorter_natural_source_inside_a_longer_composition() {
        // HyperFrames: 2 s source in a 10 s composition → 2 s (60 frames).
        let w = video().window("2", Some("10"));
        assert_eq!(w.frame_count, 60);
        assert_eq!(w.timeline_end, r("2"));
        assert_eq!(w.media_time(59), Rational::new(59, 30));
    }

    #[test]
    fn container_duration_fallback() {
        // HyperFrames: metadata(2, 0) — no stream duration, container 2 s — → 2 s. framex never
        // reads either duration: `source_end` is the end of the video stream's last frame from
        // its frame index (`media::index`), so the case is the same window as a 2 s source.
        let w = video().window("2", Some("10"));
        assert_eq!(w.frame_count, 60);
    }

    #[test]
    fn explicit_loop_bounds_under_the_timeline_ceiling() {
        // HyperFrames: {end: 8, loop} over a 60 s source, timelineEnd 10 → 8 s, loop kept.
        let w = video().end("8").looping(true).window("60", Some("10"));
        assert_eq!(w.frame_count, frames("8"));
        assert_eq!(w.frame_count, 240);
        assert_eq!(w.timeline_end, r("8"));
        assert_eq!(w.loop_cycle, Some((Rational::ZERO, r("60"))));
    }

    #[test]
    fn double_rate_slot_reads_4_s_of_source_in_2_s_of_timeline() {
        // HyperFrames: {end: 2, mediaStart: 1, rate 2}, 8 s source, timelineEnd 2 →
        // {compositionStart 0, mediaStart 1, durationSeconds 4 (source), timelineDurationSeconds 2}.
        let w = video().end("2").media_start("1").rate("2").window("8", Some("2"));
        assert_eq!(w.timeline_start, Rational::ZERO);
        assert_eq!(w.timeline_end, r("2"));
        assert_eq!(w.media_time(0), r("1"));
        assert_eq!(w.frame_count, 60, "one frame per composition frame of the 2 s slot");
        // The frames cover 4 s of source: 60 samples, 2/30 s of media apart.
        let span = w.media_time(w.frame_count - 1) + w.rate / w.fps - w.media_time(0);
        assert_eq!(span, r("4"));
    }

    #[test]
    fn natural_timeline_duration_after_constant_rate_retiming() {
        // HyperFrames: {mediaStart 1, rate 2}, 5 s source, timelineEnd 10 →
        // {0, mediaStart 1, durationSeconds 4, timelineDurationSeconds 2}.
        let w = video().media_start("1").rate("2").window("5", Some("10"));
        assert_eq!(w.timeline_start, Rational::ZERO);
        assert_eq!(w.timeline_end, r("2"));
        assert_eq!(w.frame_count, 60);
        assert_eq!(w.media_time(0), r("1"));
        assert_eq!(w.media_time(59), r("1") + Rational::new(59 * 2, 30));
    }

    #[test]
    fn negative_preroll_advances_the_media_start() {
        // HyperFrames: {start −60, end 120}, 120 s source, timelineEnd 2 →
        // {compositionStart 0, mediaStart 60, durationSeconds 2}.
        let w = video().start("-60").end("120").window("120", Some("2"));
        assert_eq!(w.timeline_start, Rational::ZERO);
        assert_eq!(w.media_time(0), r("60"));
        assert_eq!(w.media_offset, r("60"));
        assert_eq!(w.frame_count, 60);
        assert_eq!(w.timeline_end, r("2"));
    }

    #[test]
    fn clip_entirely_before_zero_is_empty() {
        // HyperFrames: {start −60, end −10}, 120 s source, timelineEnd 2 →
        // {compositionStart 0, mediaStart 60, durationSeconds 0}.
        let w = video().start("-60").end("-10").window("120", Some("2"));
        assert_eq!(w.frame_count, 0);
        assert_eq!(w.timeline_start, Rational::ZERO);
        assert_eq!(w.media_offset, r("60"));
    }

    #[test]
    fn loop_across_the_composition_boundary_keeps_its_phase() {
        // {start −5, end 10, loop}, 3 s source, timelineEnd 2: at t = 0 the loop has played 5 s,
        // i.e. phase 2 s into its 3 s cycle.
        let w = video().start("-5").end("10").looping(true).window("3", Some("2"));
        // HyperFrames: {compositionStart −5, mediaStart 0, durationSeconds 3,
        // preserveTimelinePhase} — one full cycle (90 frames) wrapped by the lookup; framex differs
        // because it produces one frame per sample time inside the window (contract §2), loops
        // unrolled into (hard-linked) files: 60 frames from t = 0.
        assert_eq!(w.frame_count, 60);
        assert_eq!(w.timeline_start, Rational::ZERO);
        // Same phase as HyperFrames' lookup (local 5 mod 3 = 2): media 2 at t = 0, wrapping to 0
        // after one more second.
        assert_eq!(w.media_time(0), r("2"));
        assert_eq!(w.media_time(29), r("2") + Rational::new(29, 30));
        assert_eq!(w.media_time(30), Rational::ZERO);
        assert_eq!(w.loop_cycle, Some((Rational::ZERO, r("3"))));
    }

    #[test]
    fn entirely_held_interval_is_one_final_frame() {
        // {start −5, end 10, no loop}, 3 s source, timelineEnd 2: the source ended 2 s before t = 0.
        let w = video().start("-5").end("10").window("3", Some("2"));
        // HyperFrames: {compositionStart −2.000001, mediaStart 2.999999, durationSeconds 1e-6,
        // preserveTimelineEnd, ensureFinalFrame} → exactly 1 frame (the probed final frame).
        // framex: the same single frame, placed at t = 0; its media time is the unclipped 5 s,
        // which the display rule (contract §2) resolves to the source's last frame.
        assert_eq!(w.frame_count, 1);
        assert_eq!(w.timeline_start, Rational::ZERO);
        assert_eq!(w.media_time(0), r("5"));
        assert!(w.media_time(0) >= r("3"));
        // HyperFrames: the element keeps end 10 (preserveTimelineEnd); framex differs because
        // it cuts every clip at the composition's end (the lookup is never asked past it).
        assert_eq!(w.timeline_end, r("2"));
    }

    #[test]
    fn held_final_frame_after_a_long_preroll_section_6_example() {
        // §6 / ffmpeg-backed test: {start −15, end 5, mediaStart 0}, 10 s source, timelineEnd 2
        // → exactly 1 frame, element {start 0, end 5, mediaStart 9.999999}.
        let w = video().start("-15").end("5").window("10", Some("2"));
        assert_eq!(w.frame_count, 1);
        assert_eq!(w.timeline_start, Rational::ZERO);
        // HyperFrames: mediaStart 9.999999 (playable − 1e-6, the probed final frame); framex
        // differs because its sample time is exact (15 s, past the end) and the display rule
        // (contract §2) picks the last frame for any time past it, so no probe/epsilon is needed.
        assert_eq!(w.media_time(0), r("15"));
        // HyperFrames: end 5 (preserveTimelineEnd); framex differs because clips are cut at the
        // composition end.
        assert_eq!(w.timeline_end, r("2"));
    }

    #[test]
    fn long_slot_capped_to_the_source_for_loop() {
        // {end 60, loop}, 3 s source, timelineEnd 60.
        let w = video().end("60").looping(true).window("3", Some("60"));
        // HyperFrames: {0, mediaStart 0, durationSeconds 3, preserveTimelinePhase} — one cycle, 90
        // frames, the lookup wraps; framex differs because it produces every sample of the
        // window (contract §2: one frame per sample time inside the window; loops wrap media time),
        // as files linking the cycle's 90 stored frames: 1800 frames.
        assert_eq!(w.frame_count, 1800);
        let distinct: std::collections::BTreeSet<Rational> = media_times(&w).into_iter().collect();
        assert_eq!(distinct.len(), 90, "only one cycle of distinct media times");
        assert_eq!(w.media_time(90), Rational::ZERO);
        assert_eq!(w.timeline_end, r("60"));
    }

    #[test]
    fn long_slot_capped_to_the_source_for_held_tail() {
        // HyperFrames: {end 60}, 3 s source, timelineEnd 60 → {0, 0, durationSeconds 3,
        // preserveTimelineEnd, ensureFinalFrame}: 90 frames, the lookup holds the last to 60 s.
        let w = video().end("60").window("3", Some("60"));
        assert_eq!(w.frame_count, 90);
        assert_eq!(w.media_time(89), Rational::new(89, 30));
        assert_eq!(w.timeline_end, r("60"), "the clip stays active (held) to its end");
    }

    #[test]
    fn long_audio_mux_uses_the_video_streams_duration() {
        // HyperFrames: metadata(60, 3) — container 60 s (audio), video stream 3 s — behaves like a
        // 3 s source for both loop and held playback. framex's `source_end` is always the video
        // stream's end from its frame index, so the windows equal the 3 s cases above.
        let looped = video().end("60").looping(true).window("3", Some("60"));
        assert_eq!(looped.loop_cycle, Some((Rational::ZERO, r("3"))));
        // HyperFrames: one 90-frame cycle; framex differs (unrolled loop, contract §2): 1800.
        assert_eq!(looped.frame_count, 1800);
        let held = video().end("60").window("3", Some("60"));
        assert_eq!(held.frame_count, 90);
    }

    #[test]
    fn visible_interval_partially_crossing_a_held_tail() {
        // HyperFrames: {start −2, end 10}, 3 s source, timelineEnd 2 → {compositionStart 0,
        // mediaStart 2, durationSeconds 1, preserveTimelineEnd, ensureFinalFrame}: 30 frames,
        // then the last one held.
        let w = video().start("-2").end("10").window("3", Some("2"));
        assert_eq!(w.timeline_start, Rational::ZERO);
        assert_eq!(w.media_time(0), r("2"));
        assert_eq!(w.frame_count, 30);
        assert_eq!(w.media_time(29), r("2") + Rational::new(29, 30));
        // HyperFrames: end stays 10; framex differs because it cuts clips at the composition end.
        assert_eq!(w.timeline_end, r("2"));
    }

    #[test]
    fn omitted_duration_is_source_bounded_like_the_runtime() {
        // HyperFrames (loop and no loop, 3 s source, timelineEnd 15):
        //   start 0  → {0, mediaStart 0, durationSeconds 3}
        //   start −2 → {0, mediaStart 2, durationSeconds 1}
        //   start −5 → {0, mediaStart 5, durationSeconds 0}
        for looping in [false, true] {
            let w = video().looping(looping).window("3", Some("15"));
            assert_eq!(
                (w.frame_count, w.media_time(0)),
                (90, Rational::ZERO),
                "start 0, loop {looping}"
            );
            assert_eq!(w.timeline_end, r("3"));

            let w = video().start("-2").looping(looping).window("3", Some("15"));
            assert_eq!(
                (w.frame_count, w.media_time(0)),
                (30, r("2")),
                "start −2, loop {looping}"
            );
            assert_eq!(w.timeline_start, Rational::ZERO);
            assert_eq!(w.timeline_end, r("1"));
            // One pass: even a looping clip without an end never wraps.
            assert!(media_times(&w).windows(2).all(|p| p[0] < p[1]));

            let w = video().start("-5").looping(looping).window("3", Some("15"));
            assert_eq!(w.frame_count, 0, "start −5, loop {looping}");
            assert_eq!(w.media_offset, r("5"));
        }
    }

    #[test]
    fn minus_600_start_on_a_120_s_source_is_one_final_frame() {
        // HyperFrames: {start −600, end 10}, 120 s source, timelineEnd 2 →
        // {compositionStart −480.000001, mediaStart 119.999999, durationSeconds 1e-6,
        // preserveTimelineEnd, ensureFinalFrame}: 1 frame (the final frame).
        let w = video().start("-600").end("10").window("120", Some("2"));
        assert_eq!(w.frame_count, 1);
        assert_eq!(w.timeline_start, Rational::ZERO);
        // HyperFrames: mediaStart 119.999999; framex differs because the exact sample time (600 s)
        // is past the end and the display rule (contract §2) shows the last frame there.
        assert_eq!(w.media_time(0), r("600"));
    }

    #[test]
    fn visibility_ending_exactly_on_a_wrap_boundary() {
        // {start −1, end 10, loop}, 3 s source, timelineEnd 2: media 1 → 3, ending exactly at the
        // wrap.
        let w = video().start("-1").end("10").looping(true).window("3", Some("2"));
        // HyperFrames: {compositionStart −1, mediaStart 0, durationSeconds 3,
        // preserveTimelinePhase} — the full 90-frame cycle; framex differs because it produces
        // only the samples inside the window (contract §2): 60 frames from media 1, none wrapped.
        assert_eq!(w.frame_count, 60);
        assert_eq!(w.timeline_start, Rational::ZERO);
        assert_eq!(w.media_time(0), r("1"));
        assert_eq!(w.media_time(59), r("1") + Rational::new(59, 30));
        assert!(
            media_times(&w).windows(2).all(|p| p[0] < p[1]),
            "no wrap inside the window"
        );
    }

    #[test]
    fn open_ended_loop_is_source_bounded() {
        // HyperFrames: {loop}, 3 s source, timelineEnd 10 → {0, 0, durationSeconds 3} (one pass,
        // no invented longer slot).
        let w = video().looping(true).window("3", Some("10"));
        assert_eq!(w.frame_count, 90);
        assert_eq!(w.timeline_end, r("3"));
        assert_eq!(w.media_time(0), Rational::ZERO);
        assert_eq!(w.media_time(89), Rational::new(89, 30));
    }

    #[test]
    fn never_plans_more_than_the_playable_range() {
        // HyperFrames' sweep: loop × source {0.5, 3, 120} × mediaStart {0, source/3} × start
        // {−600, −5, −1, 0, 2}, end = start + 60, timelineEnd 10: durationSeconds ≤ source −
        // mediaStart. framex's equivalent: every frame's media time lies in the playable range
        // [mediaStart, source) (a held tail: one frame past it), a non-looping clip has at most
        // one frame per sample of that range, and a loop repeats at most one cycle of distinct
        // samples. HyperFrames plans one cycle for a loop; framex differs because it produces
        // every sample of the window (contract §2), so a loop's *frame count* may exceed the cycle.
        let fps = Rational::from_int(FPS);
        for looping in [false, true] {
            for source in [r("0.5"), r("3"), r("120")] {
                for media_start in [Rational::ZERO, source / Rational::from_int(3)] {
                    for start in [-600i64, -5, -1, 0, 2] {
                        let mut c = ClipSpec::new("v", "video.mp4");
                        c.start = Rational::from_int(start);
                        c.end = Some(Rational::from_int(start + 60));
                        c.media_start = media_start;
                        c.looping = looping;
                        let label = format!("loop {looping} source {source} mediaStart {media_start} start {start}");
                        let w = resolve_window(&c, fps, Some(r("10")), source).unwrap();
                        let times = media_times(&w);
                        let held = !looping && w.frame_count == 1 && times[0] >= source;
                        for &m in &times {
                            assert!(m >= media_start, "{label}: {m} before mediaStart");
                            assert!(m < source || held, "{label}: {m} past the source");
                        }
                        let per_range = ((source - media_start) * fps).ceil() as u64;
                        let distinct: std::collections::BTreeSet<Rational> = times.iter().copied().collect();
                        assert!(
                            distinct.len() as u64 <= per_range.max(1),
                            "{label}: {} distinct",
                            distinct.len()
                        );
                        if !looping {
                            assert!(w.frame_count <= per_range.max(1), "{label}: {} frames", w.frame_count);
                        }
                        assert!(w.frame_count <= 300, "{label}: never past timelineEnd 10");
                    }
                }
            }
        }
    }

    #[test]
    fn media_start_at_source_eof_is_out_of_range() {
        // HyperFrames: {mediaStart 3} over metadata(3) (container) and metadata(60, 3) (video
        // stream ends at 3 s) → media_start_out_of_range, not retryable. framex's source end is the
        // video stream's, so both are the same case.
        for timeline_end in [Some("10"), None] {
            assert_eq!(
                video().media_start("3").resolve("3", timeline_end),
                Err(WindowError::MediaStartOutOfRange {
                    media_start: r("3"),
                    source_end: r("3"),
                })
            );
        }
        // Just inside EOF is fine.
        assert!(video().media_start("2.999999").resolve("3", Some("10")).is_ok());
    }

    #[test]
    fn looping_slot_starting_at_source_eof_is_out_of_range() {
        // Newer HyperFrames test (after 0.8.33): {end 6, mediaStart 2, loop}, 2 s source,
        // timelineEnd 6 → media_start_out_of_range.
        assert!(matches!(
            video().end("6").media_start("2").looping(true).resolve("2", Some("6")),
            Err(WindowError::MediaStartOutOfRange { .. })
        ));
    }

    #[test]
    fn non_looping_slot_starting_past_eof() {
        // HyperFrames engine 0.8.33 (reference §5/§6): mediaStart ≥ playable →
        // media_start_out_of_range; framex agrees. (A newer HyperFrames test, after 0.8.33, plans a
        // one-frame held tail instead for {end 6, mediaStart 5} over a 2 s source.)
        assert!(matches!(
            video().end("6").media_start("5").resolve("2", None),
            Err(WindowError::MediaStartOutOfRange { .. })
        ));
    }

    #[test]
    fn non_looping_slot_starting_just_inside_eof_keeps_the_playable_suffix() {
        // Newer HyperFrames test (after 0.8.33): {end 6, mediaStart 1.9}, 2 s source, timelineEnd
        // 6 → {0, mediaStart 1.9, durationSeconds 0.1, preserveTimelineEnd, ensureFinalFrame}:
        // 3 frames @30, the last held to 6 s.
        let w = video().end("6").media_start("1.9").window("2", Some("6"));
        assert_eq!(w.frame_count, 3);
        assert_eq!(w.media_time(0), r("1.9"));
        assert_eq!(w.media_time(2), r("1.9") + Rational::new(2, 30));
        assert_eq!(w.timeline_end, r("6"));
    }

    #[test]
    fn loop_phase_rebases_when_the_visible_window_stays_within_one_cycle() {
        // HyperFrames: {start −5, end 10, loop}, 3 s source, timelineEnd 0.5 →
        // {compositionStart 0, mediaStart 2, durationSeconds 0.5}.
        let w = video().start("-5").end("10").looping(true).window("3", Some("0.5"));
        assert_eq!(w.timeline_start, Rational::ZERO);
        assert_eq!(w.media_time(0), r("2"));
        assert_eq!(w.frame_count, 15);
        assert_eq!(w.media_time(14), r("2") + Rational::new(14, 30));
        assert_eq!(w.timeline_end, r("0.5"));
    }

    #[test]
    fn loop_with_rate_and_media_start_wraps_to_media_start() {
        // §6 loop rebase with a rate: {start −1, end 10, mediaStart 1, rate 2, loop}, 4 s source,
        // timelineEnd 0.6: the cycle is [1, 4) (3 s of media, 1.5 s of timeline); preroll 1 s at
        // 2× puts t = 0 at phase 2 s, so media runs 3 → 4, wraps to 1 at t = 0.5.
        let w = video()
            .start("-1")
            .end("10")
            .media_start("1")
            .rate("2")
            .looping(true)
            .window("4", Some("0.6"));
        // HyperFrames: visible source 1.2 s ≥ remainder after phase (1 s) → one full cycle
        // {compositionStart −1, mediaStart 1, durationSeconds 3, preserveTimelinePhase} (90
        // frames, wrapped by the lookup); framex differs because it produces every sample of the
        // window (contract §2): 18 frames.
        assert_eq!(w.frame_count, 18);
        assert_eq!(w.media_time(0), r("3"));
        assert_eq!(w.media_time(14), r("3") + Rational::new(28, 30));
        assert_eq!(w.media_time(15), r("1"));
        assert_eq!(w.loop_cycle, Some((r("1"), r("3"))));
    }

    #[test]
    fn legacy_call_without_a_timeline_end() {
        // HyperFrames: resolveVideoExtractionDuration(video(), metadata(60)) → 60 s.
        let w = video().window("60", None);
        assert_eq!(w.frame_count, 1800);
        assert_eq!(w.timeline_end, r("60"));
    }

    #[test]
    fn legacy_window_past_the_source_is_clamped() {
        // §6: without timelineEnd HyperFrames does not clamp the window to the source:
        // {end 8} over a 3 s source → durationSeconds 8 (ffmpeg stops at EOF after 90 frames).
        // framex clamps itself: 90 frames, held by the lookup to 8 s.
        let w = video().end("8").window("3", None);
        assert_eq!(w.frame_count, 90);
        assert_eq!(w.timeline_end, r("8"));
    }

    #[test]
    fn non_looping_window_that_fits_after_preroll() {
        // §6 "non-loop that fits": {start −1, end 3, mediaStart 0.5, rate 2}, 10 s source,
        // timelineEnd 5 → {compositionStart 0, mediaStart 0.5 + 1·2 = 2.5, visible 3 s of
        // timeline = 6 s of source}.
        let w = video()
            .start("-1")
            .end("3")
            .media_start("0.5")
            .rate("2")
            .window("10", Some("5"));
        assert_eq!(w.timeline_start, Rational::ZERO);
        assert_eq!(w.media_time(0), r("2.5"));
        assert_eq!(w.frame_count, 90);
        assert_eq!(w.timeline_end, r("3"));
        assert_eq!(w.media_time(89) + w.rate / w.fps - w.media_time(0), r("6"));
    }

    // ---- extractionFrameCountForDuration (§5.1), through resolve_window ----

    /// Frames of a clip `[0, duration)` over a long source at `fps`; `duration` is a JS number's
    /// decimal spelling (read to the microsecond, as HyperFrames and ffmpeg do).
    fn count(duration: &str, fps: Rational) -> u64 {
        let mut c = ClipSpec::new("v", "video.mp4");
        c.end = Some(Rational::parse_decimal(duration).unwrap());
        resolve_window(&c, fps, None, r("1000")).unwrap().frame_count
    }

    fn count_f64(duration: f64, fps: i64) -> u64 {
        let mut c = ClipSpec::new("v", "video.mp4");
        c.end = Some(Rational::from_f64_decimal(duration).unwrap());
        resolve_window(&c, Rational::from_int(fps), None, r("1000"))
            .unwrap()
            .frame_count
    }

    #[test]
    fn frame_counts_agreeing_with_hyperframes() {
        let f30 = Rational::from_int(30);
        // HyperFrames: 14 (CFR and VFR).
        assert_eq!(count("0.466666", f30), 14);
        // HyperFrames: 62 (CFR, 61.5 rounds half up; framex: ceil 61.5).
        assert_eq!(count("2.05", f30), 62);
        // HyperFrames: VFR 18 — the 7th decimal is truncated (0.600000 s).
        assert_eq!(count("0.6000009", f30), 18);
        // HyperFrames: VFR 19 / VFR 10.
        assert_eq!(count("0.600001", f30), 19);
        assert_eq!(count("0.300001", f30), 10);
        // HyperFrames: 8 (CFR, 30000/1001: exactly 7.5 frames, rounds half up).
        assert_eq!(count("0.25025", Rational::new(30000, 1001)), 8);
        // HyperFrames: VFR 3 and 12 at 24000/1001 (exactly integral).
        assert_eq!(count("0.125125", Rational::new(24000, 1001)), 3);
        assert_eq!(count("0.5005", Rational::new(24000, 1001)), 12);
        // HyperFrames: 1 (CFR, 0.03 frames → max(1, round) = 1; framex: ceil).
        assert_eq!(count("0.001", f30), 1);
        // Float-noise inputs (VFR in HyperFrames): the JS value's decimal spelling, truncated to
        // microseconds, e.g. 0.33 − 0.03 = 0.30000000000000004 → 0.3 s.
        assert_eq!(count_f64(0.33 - 0.03, 30), 9);
        assert_eq!(count_f64(0.29 - 0.04, 24), 6);
        assert_eq!(count_f64(0.35 - 0.05, 60), 18);
        assert_eq!(count_f64(4.03 - 3.53, 30), 15);
        assert_eq!(count_f64(4.03 - 3.78, 24), 6);
    }

    #[test]
    fn frame_count_where_ceil_and_round_half_up_differ() {
        // (0.616666 s, 30): 18.49998 frames.
        // HyperFrames: VFR 19, CFR 18; framex differs from the CFR value because it samples at
        // display times — one frame per sample time strictly inside the window (contract §2), i.e.
        // ceil — for CFR and VFR alike (the sample at 18/30 = 0.6 s lies inside 0.616666 s).
        assert_eq!(count("0.616666", Rational::from_int(30)), 19);
        // HyperFrames: CFR 0.466666 → round(13.99998) = 14; framex ceil → 14 (same).
        assert_eq!(count("0.466666", Rational::from_int(30)), 14);
        // HyperFrames: CFR (0.0499, 30) → round(1.497) = 1; framex differs (contract §2, ceil): 2,
        // because the sample at 1/30 s is inside the 0.0499 s window.
        assert_eq!(count("0.0499", Rational::from_int(30)), 2);
    }

    #[test]
    fn invalid_or_empty_durations_have_no_frames() {
        // HyperFrames: NaN, fps 0 or duration 0 → 0 frames. framex rejects a zero fps or
        // non-numeric times when reading the composition; an empty window has 0 frames.
        assert_eq!(count("0", Rational::from_int(30)), 0);
        assert_eq!(Rational::parse_rate("0"), None);
        assert_eq!(Rational::parse_decimal("NaN"), None);
    }
}
