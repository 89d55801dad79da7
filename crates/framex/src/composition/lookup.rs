//! Composition time → frame file: which extracted frame of each active clip a renderer shows at
//! time `t` (HyperFrames' `FrameLookupTable` / `getFrameAtTime` contract, contract §3).
//!
//! For: the capture loop of a renderer, after extraction: given `t`, the 0-based frame index of
//! every clip on screen, with loop wrap, playback rate, the held last frame and the inclusive
//! end. Not for: deciding which media time a frame shows or extracting anything
//! ([`super::window`] does that); it never touches files.
//!
//! # The rule (HyperFrames engine 0.8.x `getFrameIndexAtTime`)
//! A clip is active for `start <= t <= end` (both ends inclusive, so adjacent clips are both
//! active at their shared instant). With `local = t − start`, a looping clip whose cycle lasts
//! `C` media seconds wraps `local` modulo `C / rate` once `local >= C / rate`. The frame is
//! `floor(local · rate · fps + 1e-9)`, held at the last frame when it runs past the frames; a
//! clip with no frames shows nothing. HyperFrames adds `1e-9` against float noise
//! (`0.28 · 25 = 6.999…`); here times are exact, and the same rule is applied exactly: a value
//! less than 10⁻⁹ below an integer counts as that integer. `mediaStart` never offsets the index:
//! frame 0 already shows it.

use super::window::ClipWindow;
use crate::time::Rational;

/// How one clip's extracted frames map onto composition time. In the result JSON every time
/// is exact text (`"30000/1001"`), so a lookup rebuilt from a serialised result
/// ([`FrameLookup::new`] over deserialised timings) answers exactly as the original.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClipTiming {
    pub id: String,
    /// Composition time of frame 0.
    pub start: Rational,
    /// Last composition time the clip is on screen (inclusive).
    pub end: Rational,
    /// Media time of frame 0; informational (the index never depends on it).
    pub media_start: Rational,
    /// Playback rate: media seconds per composition second.
    pub rate: Rational,
    /// Extracted frames per second of *media* time. HyperFrames samples the source at the
    /// composition fps, so there it is the composition fps; framex's own clips have one frame
    /// per composition frame, i.e. `fps / rate`.
    pub fps: Rational,
    pub frame_count: u64,
    /// For a looping clip whose frames hold one cycle: the cycle's length in media seconds
    /// (HyperFrames: playable duration − mediaStart). The lookup wraps every `cycle / rate`
    /// seconds. `None`: no wrap (not looping, or the frames already cover the whole window).
    pub loop_cycle: Option<Rational>,
    /// The frames cover every sample of the window, loops unrolled (framex's own clips): wrap
    /// only past the last frame (the inclusive end instant), so grid times use their exact file.
    pub unrolled: bool,
    /// The frame indices that were extracted, as sorted half-open ranges (`[[0, 120], [300,
    /// 450]]`; a whole clip is `[[0, frameCount]]`). A result of a slice holds only part of a
    /// clip: [`ClipTiming::shown_at`] tells a frame that was not extracted from one that is.
    /// `None` (a timing built by hand, or read from a result older than slices): every frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Vec<[u64; 2]>>,
}

/// What one active clip shows at a composition time ([`FrameLookup::shown_at`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    /// 0-based frame `k`, whose file the result holds.
    Frame(u64),
    /// The clip is on screen showing frame `k`, but this result did not extract it (a slice's
    /// result asked about a time outside its slice): extract it, do not show another frame.
    NotExtracted(u64),
}

/// `1e-9`, exactly.
fn epsilon() -> Rational {
    Rational::new(1, 1_000_000_000)
}

impl ClipTiming {
    /// The timing of a clip extracted by framex through [`ClipWindow`]: frame `k` sits at
    /// `timeline_start + k / fps` and loops are already unrolled into the frames.
    pub(crate) fn from_window(id: impl Into<String>, window: &ClipWindow) -> ClipTiming {
        ClipTiming {
            id: id.into(),
            start: window.timeline_start,
            end: window.timeline_end,
            media_start: window.media_offset,
            rate: window.rate,
            fps: window.fps / window.rate,
            frame_count: window.frame_count,
            loop_cycle: window.loop_cycle.map(|(_, len)| len),
            unrolled: true,
            ranges: None,
        }
    }

    /// Whether frame `k` was extracted (see [`ClipTiming::ranges`]).
    pub fn is_extracted(&self, k: u64) -> bool {
        match &self.ranges {
            Some(r) => super::slice::contains(r, k),
            None => k < self.frame_count,
        }
    }

    /// What the clip shows at `t`: `None` when it is not on screen (as [`ClipTiming::frame_at`]),
    /// else the frame and whether the result holds it.
    pub fn shown_at(&self, t: Rational) -> Option<Shown> {
        let k = self.frame_at(t)?;
        Some(if self.is_extracted(k) {
            Shown::Frame(k)
        } else {
            Shown::NotExtracted(k)
        })
    }

    /// The frames this clip shows at composition frames `slice` (frame `n` at `n / fps`), by
    /// [`ClipTiming::frame_at`] itself — loop wrap, rate, held last frame, inclusive end — as
    /// normalised ranges. A held tail costs one frame: past the last frame of a clip that does
    /// not loop every instant shows that frame, so the walk stops there; anywhere else it
    /// visits each active composition frame of the slice once.
    pub(crate) fn frames_shown(&self, fps: Rational, slice: super::slice::FrameRange) -> Vec<[u64; 2]> {
        if self.frame_count == 0 || !fps.is_positive() {
            return Vec::new();
        }
        let first = u64::try_from((self.start * fps).ceil().max(0)).unwrap_or(u64::MAX);
        let Ok(last) = u64::try_from((self.end * fps).floor()) else {
            return Vec::new();
        };
        let (from, to) = (slice.start.max(first), slice.end.min(last.saturating_add(1)));
        let mut shown: Vec<[u64; 2]> = Vec::new();
        for n in from..to {
            let Some(k) = self.frame_at(Rational::from(n as i128) / fps) else {
                continue;
            };
            match shown.last_mut() {
                Some(r) if r[1] == k => r[1] = k + 1,
                Some(r) if r[0] <= k && k < r[1] => {}
                _ => shown.push([k, k + 1]),
            }
            if k + 1 >= self.frame_count && self.loop_cycle.is_none() {
                break;
            }
        }
        super::slice::normalize(shown)
    }

    /// The frame on screen at composition time `t` (`FrameLookupTable` semantics): `None`
    /// outside `[start, end]` or without frames; past the frames, the last one.
    pub fn frame_at(&self, t: Rational) -> Option<u64> {
        if t < self.start || t > self.end {
            return None;
        }
        let index = self.raw_index(t)?;
        Some(index.min(self.frame_count - 1))
    }

    /// The frame at `t` ignoring `end` and without holding (standalone `getFrameAtTime`):
    /// `None` before `start`, without frames, or past the frames of a clip that does not loop.
    pub fn source_frame_at(&self, t: Rational) -> Option<u64> {
        if t < self.start {
            return None;
        }
        let index = self.raw_index(t)?;
        match self.loop_cycle {
            Some(_) => Some(index.min(self.frame_count - 1)),
            None => (index < self.frame_count).then_some(index),
        }
    }

    /// `floor(local · rate · fps + 1e-9)` after loop wrap; `None` without frames. `t >= start`.
    fn raw_index(&self, t: Rational) -> Option<u64> {
        // Timings come from outside too (a deserialised result): one that cannot map time to
        // frames maps nothing, rather than dividing by zero.
        if self.frame_count == 0 || !self.rate.is_positive() || !self.fps.is_positive() {
            return None;
        }
        let index_at = |local: Rational| {
            let index = (local * self.rate * self.fps + epsilon()).floor();
            u64::try_from(index.max(0)).unwrap_or(u64::MAX)
        };
        let local = t - self.start;
        let Some(period) = self.loop_cycle.filter(|c| c.is_positive()).map(|c| c / self.rate) else {
            return Some(index_at(local));
        };
        if self.unrolled {
            let index = index_at(local);
            // Past the unrolled frames (the end instant): the same point of the cycle earlier on.
            return Some(if index >= self.frame_count {
                index_at(local.rem_euclid(period))
            } else {
                index
            });
        }
        Some(index_at(if local >= period {
            local.rem_euclid(period)
        } else {
            local
        }))
    }
}

/// Frame lookup over all clips of a composition.
#[derive(Clone, Debug)]
pub struct FrameLookup {
    clips: Vec<ClipTiming>,
}

impl FrameLookup {
    pub fn new(clips: Vec<ClipTiming>) -> FrameLookup {
        FrameLookup { clips }
    }

    pub fn clips(&self) -> &[ClipTiming] {
        &self.clips
    }

    /// Every clip on screen at `t` as `(clip index, 0-based frame index)`, in clip order.
    pub fn frame_at(&self, t: Rational) -> Vec<(usize, u64)> {
        self.clips
            .iter()
            .enumerate()
            .filter_map(|(i, clip)| clip.frame_at(t).map(|frame| (i, frame)))
            .collect()
    }

    /// The frame of one clip at `t` (`FrameLookupTable.getFrame`).
    pub fn clip_frame_at(&self, clip: usize, t: Rational) -> Option<u64> {
        self.clips.get(clip)?.frame_at(t)
    }

    /// Every clip on screen at `t` as `(clip index, what it shows)`, in clip order. Unlike
    /// [`FrameLookup::frame_at`] (which names the frame on screen whether or not its file was
    /// extracted), this tells a frame the result holds from one it does not: over a slice's
    /// result, every time inside the slice is a [`Shown::Frame`], and a clip on screen outside
    /// it a [`Shown::NotExtracted`] — never another frame, and never "inactive".
    pub fn shown_at(&self, t: Rational) -> Vec<(usize, Shown)> {
        self.clips
            .iter()
            .enumerate()
            .filter_map(|(i, clip)| clip.shown_at(t).map(|s| (i, s)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::composition::window::resolve_window;
    use crate::composition::ClipSpec;

    fn r(s: &str) -> Rational {
        Rational::parse_decimal(s).unwrap()
    }

    /// A HyperFrames-style clip: `frames` extracted at `fps` (media time), rate 1, no loop.
    fn timing(id: &str, start: &str, end: &str, frames: u64, fps: i64) -> ClipTiming {
        ClipTiming {
            id: id.into(),
            start: r(start),
            end: r(end),
            media_start: Rational::ZERO,
            rate: Rational::ONE,
            fps: Rational::from_int(fps),
            frame_count: frames,
            loop_cycle: None,
            unrolled: false,
            ranges: None,
        }
    }

    fn one(clip: ClipTiming) -> FrameLookup {
        FrameLookup::new(vec![clip])
    }

    fn frame(table: &FrameLookup, t: &str) -> Option<u64> {
        let active = table.frame_at(r(t));
        assert!(active.len() <= 1);
        active.first().map(|&(_, f)| f)
    }

    #[test]
    fn loop_wraps_when_the_slot_exceeds_the_source() {
        // 30 frames @ 30 fps (a 1 s source) looping in a 5 s slot.
        let mut clip = timing("hero", "0", "5", 30, 30);
        clip.loop_cycle = Some(r("1"));
        let table = one(clip);
        for t in ["0.5", "1.5", "4.5"] {
            assert_eq!(frame(&table, t), Some(15), "t = {t}");
        }
        assert_eq!(frame(&table, "1"), Some(0));
        assert_eq!(frame(&table, "5"), Some(0));
    }

    #[test]
    fn double_rate_advances_twice_as_fast() {
        let mut clip = timing("hero", "0", "2", 120, 30);
        clip.rate = Rational::from_int(2);
        let table = one(clip);
        assert_eq!(frame(&table, "1"), Some(60));
        assert_eq!(frame(&table, "0.5"), Some(30));
    }

    #[test]
    fn loop_wraps_at_the_video_streams_end_when_audio_is_longer() {
        // 6 frames @ 2 fps: the video stream lasts 3 s in a 60 s container.
        let mut clip = timing("hero", "0", "60", 6, 2);
        clip.loop_cycle = Some(r("3"));
        assert_eq!(frame(&one(clip), "4"), Some(2));
    }

    #[test]
    fn loop_with_rate_and_media_start_wraps_on_the_timeline_period() {
        // Source 10 s, mediaStart 4 → 6 media seconds per cycle; at 2× a cycle lasts 3 s.
        let mut clip = timing("hero", "1", "20", 180, 30);
        clip.rate = Rational::from_int(2);
        clip.media_start = r("4");
        clip.loop_cycle = Some(r("6"));
        let table = one(clip);
        assert_eq!(frame(&table, "1"), Some(0));
        assert_eq!(frame(&table, "3.5"), Some(150));
        assert_eq!(frame(&table, "4"), Some(0));
        assert_eq!(frame(&table, "4.5"), Some(30));
    }

    #[test]
    fn holds_the_last_frame_until_the_slot_ends_then_nothing() {
        let table = one(timing("hero", "0", "5", 30, 30));
        assert_eq!(frame(&table, "0.5"), Some(15));
        assert_eq!(frame(&table, "1.5"), Some(29));
        assert_eq!(frame(&table, "4.5"), Some(29));
        assert_eq!(table.clip_frame_at(0, r("4.5")), Some(29));
        assert_eq!(frame(&table, "5.1"), None);
        assert_eq!(table.clip_frame_at(0, r("5.1")), None);
        assert_eq!(frame(&table, "-0.1"), None);
        assert_eq!(table.clip_frame_at(1, r("1")), None);
    }

    #[test]
    fn no_frame_is_invented_when_extraction_produced_none() {
        let table = one(timing("hero", "0", "5", 0, 30));
        assert_eq!(frame(&table, "4.5"), None);
        assert_eq!(table.clip_frame_at(0, r("4.5")), None);
        assert_eq!(table.clips()[0].source_frame_at(r("0")), None);
        let mut looping = timing("hero", "0", "5", 0, 30);
        looping.loop_cycle = Some(r("1"));
        assert_eq!(looping.frame_at(r("2")), None);
    }

    #[test]
    fn reference_resolved_window_from_html() {
        let comp = crate::composition::html::parse_html(
            r#"<video id="intro" src="a.mp4" data-start="0" data-duration="10"></video>
               <video id="main" src="b.mp4" data-start="intro" data-duration="20"></video>"#,
            "index.html",
            std::path::Path::new("."),
        )
        .unwrap();
        let main = comp.clips.iter().find(|c| c.id == "main").unwrap();
        let clip = ClipTiming {
            id: main.id.clone(),
            start: main.start,
            end: main.end.unwrap(),
            media_start: main.media_start,
            rate: main.playback_rate,
            fps: Rational::from_int(30),
            frame_count: 600,
            loop_cycle: None,
            unrolled: false,
            ranges: None,
        };
        let table = one(clip);
        assert_eq!(frame(&table, "5"), None);
        assert_eq!(frame(&table, "15"), Some(150));
        assert_eq!(frame(&table, "29"), Some(570));
        assert_eq!(frame(&table, "31"), None);
    }

    #[test]
    fn the_end_instant_shows_the_last_frame() {
        let table = one(timing("hero", "1", "3", 60, 30));
        assert_eq!(frame(&table, "3"), Some(59));
        assert_eq!(frame(&table, "2.5"), Some(45));
    }

    #[test]
    fn held_tail_over_a_shorter_source() {
        let table = one(timing("hero", "0", "5", 30, 30));
        assert_eq!(frame(&table, "1.5"), Some(29));
        assert_eq!(frame(&table, "5"), Some(29));
    }

    #[test]
    fn source_a_sub_frame_shorter_than_the_slot_holds_its_last_frame() {
        // [2, 3.45] with 43 frames @ 30 (1.433 s of source).
        let table = one(timing("hero", "2", "3.45", 43, 30));
        assert_eq!(frame(&table, "3.4"), Some(42));
        assert_eq!(frame(&table, "3.44"), Some(42));
        assert_eq!(frame(&table, "3.45"), Some(42));
    }

    #[test]
    fn adjacent_clips_are_both_active_at_the_shared_boundary() {
        let table = FrameLookup::new(vec![timing("a", "0", "3", 90, 30), timing("b", "3", "6", 90, 30)]);
        assert_eq!(table.frame_at(r("3")), vec![(0, 89), (1, 0)]);
        assert_eq!(table.frame_at(r("2.9")), vec![(0, 87)]);
        assert_eq!(table.frame_at(r("3.1")), vec![(1, 3)]);
    }

    // getFrameAtTime (no held frame, no end)

    #[test]
    fn grid_aligned_times_give_every_frame_once() {
        let clip = timing("v", "0", "100", 351, 25);
        let indices: Vec<u64> = (0..351)
            .map(|i| clip.source_frame_at(Rational::new(i, 25)).unwrap())
            .collect();
        assert_eq!(indices, (0..351).collect::<Vec<u64>>());
    }

    #[test]
    fn frame_indices_increase_monotonically() {
        let clip = timing("v", "0", "100", 100, 25);
        let mut last = None;
        for i in 0..100 {
            let index = clip.source_frame_at(Rational::new(i, 25));
            assert!(index > last, "{index:?} after {last:?}");
            last = index;
        }
    }

    #[test]
    fn point_28_times_25_is_frame_7() {
        let clip = timing("v", "0", "100", 10, 25);
        assert_eq!(clip.source_frame_at(r("0.28")), Some(7));
    }

    #[test]
    fn values_within_a_billionth_below_an_integer_count_as_it() {
        let clip = timing("v", "0", "100", 100, 1);
        let seven = Rational::from_int(7);
        assert_eq!(clip.source_frame_at(seven - Rational::new(1, 10_000_000_000)), Some(7));
        assert_eq!(clip.source_frame_at(seven - Rational::new(1, 1_000_000_000)), Some(7));
        assert_eq!(clip.source_frame_at(seven - Rational::new(2, 1_000_000_000)), Some(6));
    }

    #[test]
    fn media_start_does_not_offset_the_index() {
        let mut clip = timing("v", "0", "100", 100, 25);
        clip.media_start = r("1");
        assert_eq!(clip.source_frame_at(Rational::ZERO), Some(0));
        assert_eq!(clip.frame_at(Rational::ZERO), Some(0));
    }

    #[test]
    fn nothing_after_the_frames_run_out_without_a_slot() {
        let clip = timing("v", "0", "100", 25, 25);
        assert_eq!(clip.source_frame_at(r("3")), None);
        assert_eq!(clip.source_frame_at(r("0.99")), Some(24));
        let mut looping = clip.clone();
        looping.loop_cycle = Some(r("1"));
        assert_eq!(looping.source_frame_at(r("3.2")), Some(5));
    }

    #[test]
    fn framex_windows_map_back_to_their_frames() {
        let fps = Rational::new(30000, 1001);
        let mut spec = ClipSpec::new("c", "s.mp4");
        spec.start = r("-1");
        spec.end = Some(r("4"));
        spec.playback_rate = r("2");
        spec.looping = true;
        let window = resolve_window(&spec, fps, None, r("3")).unwrap();
        let clip = ClipTiming::from_window("c", &window);
        assert_eq!(clip.start, Rational::ZERO);
        for k in 0..window.frame_count {
            let t = window.timeline_time(k);
            assert_eq!(clip.frame_at(t), Some(k), "frame {k} at {t}");
            // Just before the next frame's time, frame k still shows.
            let before_next = window.timeline_time(k + 1) - Rational::new(1, 1_000_000);
            assert_eq!(clip.frame_at(before_next.min(clip.end)), Some(k));
        }
        assert_eq!(clip.frame_at(clip.end), Some(window.frame_count - 1));
        assert_eq!(clip.frame_at(clip.end + Rational::new(1, 1_000_000)), None);
    }

    #[test]
    fn an_unrolled_loop_wraps_at_its_inclusive_end_instead_of_holding() {
        use crate::composition::window::resolve_window;
        use crate::composition::ClipSpec;
        // A 0.8 s cycle (1 s source from 0.2) looped over [0.5, 2.5] at 30 fps: 60 files.
        let mut c = ClipSpec::new("loop", "s.mp4");
        c.start = r("0.5");
        c.end = Some(r("2.5"));
        c.media_start = r("0.2");
        c.looping = true;
        let w = resolve_window(&c, Rational::from_int(30), None, r("1")).unwrap();
        let clip = ClipTiming::from_window("loop", &w);
        assert_eq!(w.frame_count, 60);
        // Grid times use their own (exactly sampled) file.
        for k in 0..60u64 {
            let t = w.timeline_time(k);
            assert_eq!(clip.frame_at(t), Some(k), "t = {t}");
        }
        // At the end instant (local 2.0 s = 2.5 cycles), the cycle position 0.4 s: frame 12,
        // whose media time 0.2 + 12/30 = 0.6 is the wrapped media time — not the held frame 59.
        assert_eq!(clip.frame_at(r("2.5")), Some(12));
        assert_eq!(w.media_time(12), r("0.6"));
    }

    #[test]
    fn the_frames_a_slice_shows_are_the_lookups_answers_at_its_frames() {
        use crate::composition::slice::{normalize, FrameRange};
        let fps = Rational::from_int(30);
        // (start, end, mediaStart, rate, loop) over a 2 s source: off-grid starts, a preroll,
        // loops (wrapping at the inclusive end), double rate, a long held tail.
        let cases = [
            ("0", "4", "0", "1", false),
            ("0.51", "1.995", "0.2", "1", false),
            ("-1", "3", "0.5", "1", true),
            ("0.5", "2.5", "0.2", "1", true),
            ("1", "9", "0", "2", false),
            ("2", "60", "1.5", "0.5", false),
        ];
        for (start, end, media_start, rate, looping) in cases {
            let mut c = ClipSpec::new("c", "s.mp4");
            c.start = r(start);
            c.end = Some(r(end));
            c.media_start = r(media_start);
            c.playback_rate = r(rate);
            c.looping = looping;
            let w = resolve_window(&c, fps, None, r("2")).unwrap();
            let clip = ClipTiming::from_window("c", &w);
            for (a, b) in [
                (0, 1900),
                (0, 1),
                (15, 16),
                (20, 75),
                (59, 61),
                (60, 61),
                (89, 95),
                (240, 1800),
            ] {
                let slice = FrameRange::new(a, b).unwrap();
                let brute = normalize(
                    (a..b)
                        .filter_map(|n| clip.frame_at(Rational::from(n as i128) / fps))
                        .map(|k| [k, k + 1])
                        .collect(),
                );
                assert_eq!(
                    clip.frames_shown(fps, slice),
                    brute,
                    "{start}..{end} loop {looping}, slice {a}..{b}"
                );
            }
        }
    }

    #[test]
    fn a_timing_with_ranges_says_which_frames_were_not_extracted() {
        let mut clip = timing("hero", "0", "5", 150, 30);
        clip.ranges = Some(vec![[30, 60]]);
        assert_eq!(clip.shown_at(r("1.5")), Some(Shown::Frame(45)));
        assert_eq!(clip.shown_at(r("0.5")), Some(Shown::NotExtracted(15)));
        assert_eq!(clip.shown_at(r("6")), None);
        let json = serde_json::to_string(&clip).unwrap();
        assert!(json.contains(r#""ranges":[[30,60]]"#), "{json}");
        let back: ClipTiming = serde_json::from_str(&json).unwrap();
        assert_eq!(back, clip);
        // A timing without ranges (older results) holds every frame.
        let old: ClipTiming = serde_json::from_str(&json.replace(r#","ranges":[[30,60]]"#, "")).unwrap();
        assert_eq!(old.shown_at(r("0.5")), Some(Shown::Frame(15)));
        let table = FrameLookup::new(vec![clip, old]);
        assert_eq!(
            table.shown_at(r("0.5")),
            vec![(0, Shown::NotExtracted(15)), (1, Shown::Frame(15))]
        );
        assert_eq!(table.frame_at(r("0.5")), vec![(0, 15), (1, 15)]);
    }

    #[test]
    fn a_lookup_rebuilt_from_json_answers_exactly_as_the_original() {
        // 29.97 fps, rate 1.5, a loop: times whose float spelling is inexact.
        let mut clip = ClipSpec::new("a", "a.mp4");
        clip.start = r("0.1");
        clip.end = Some(r("7.3"));
        clip.media_start = r("0.35");
        clip.playback_rate = r("1.5");
        clip.looping = true;
        let fps = Rational::new(30000, 1001);
        let w = resolve_window(&clip, fps, None, r("2.002")).unwrap();
        let timing = ClipTiming::from_window("a", &w);
        let json = serde_json::to_string(&timing).unwrap();
        assert!(json.contains(r#""fps":"20000/1001""#), "{json}");
        let back: ClipTiming = serde_json::from_str(&json).unwrap();
        assert_eq!(back, timing);
        let (a, b) = (FrameLookup::new(vec![timing]), FrameLookup::new(vec![back]));
        for n in 0..=800 {
            let t = Rational::new(n * 1001, 100_000);
            assert_eq!(a.frame_at(t), b.frame_at(t), "t = {t}");
        }
        assert!(serde_json::from_str::<ClipTiming>(&json.replace("20000/1001", "20000/0")).is_err());
        // A timing from outside that cannot map time to frames answers nothing, never panics.
        let zero: ClipTiming = serde_json::from_str(&json.replace(r#""rate":"3/2""#, r#""rate":"0""#)).unwrap();
        assert_eq!(FrameLookup::new(vec![zero]).frame_at(r("1")), Vec::new());
    }
}
