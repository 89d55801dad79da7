//! Timeline slices and frame-index requests: which part of a composition a run produces.
//!
//! For: what a chunked render asks for — [`FrameRange`], composition frames `[start, end)`, and
//! [`FrameRun`], HyperFrames' `frameRanges` entries — and the arithmetic of index sets kept as
//! sorted, disjoint, half-open ranges (`[[0, 120], [300, 450]]`). Not for: which clip frame a
//! composition frame shows (the lookup, [`super::lookup`], decides that), or anything on disk.

use serde::{Deserialize, Serialize};

use super::InputError;
use crate::time::Rational;

/// A slice of the composition's timeline: composition frames `start ≤ n < end`, frame `n`
/// being the instant `n / fps`. Serialised as `{"start": A, "end": B}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrameRange {
    pub start: u64,
    pub end: u64,
}

impl FrameRange {
    /// Composition frames `start..end`; refuses an empty slice (`start >= end`).
    pub fn new(start: u64, end: u64) -> Result<FrameRange, InputError> {
        if start >= end {
            return Err(InputError {
                location: "frames".into(),
                message: format!("the slice {start}..{end} is empty: its start must be below its end"),
            });
        }
        Ok(FrameRange { start, end })
    }

    /// The composition frames whose instants lie in `[start, end)` seconds at `fps`: every `n ≥
    /// 0` with `start ≤ n / fps < end`, i.e. `ceil(start · fps) ≤ n < ceil(end · fps)` — so two
    /// slices that share a boundary time share no frame and miss none. Refuses a range that
    /// holds no frame.
    pub fn from_time(start: Rational, end: Rational, fps: Rational) -> Result<FrameRange, InputError> {
        let err = |message: String| InputError {
            location: "time".into(),
            message,
        };
        if !fps.is_positive() {
            return Err(err(format!("the frame rate must be positive, got {fps}")));
        }
        let frame = |t: Rational| u64::try_from((t * fps).ceil().max(0)).ok();
        match (frame(start), frame(end)) {
            (Some(a), Some(b)) if a < b => Ok(FrameRange { start: a, end: b }),
            (Some(_), Some(_)) => Err(err(format!(
                "{}..{} s holds no frame at {fps} fps (a slice's start must be below its end)",
                start.to_f64(),
                end.to_f64()
            ))),
            _ => Err(err(format!("{start}..{end} s is out of range"))),
        }
    }

    /// Number of composition frames in the slice.
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Whether the slice holds no frame (never, for one made by [`FrameRange::new`]).
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    /// Whether composition frame `n` is in the slice.
    pub fn contains(&self, n: u64) -> bool {
        (self.start..self.end).contains(&n)
    }
}

/// A contiguous run of one clip's frame indices, `first_frame .. first_frame + frames` —
/// HyperFrames' `frameRanges` entry, serialised as `{"firstFrame": 450, "frames": 30}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrameRun {
    pub first_frame: u64,
    pub frames: u64,
}

impl FrameRun {
    /// The run as a half-open range, `None` when its end does not fit in a `u64`.
    pub(crate) fn range(&self) -> Option<[u64; 2]> {
        Some([self.first_frame, self.first_frame.checked_add(self.frames)?])
    }
}

/// Per-clip frame index runs from JSON text, `{"<clipId>": [{"firstFrame": N, "frames": N}, …]}`
/// (`--indices FILE`, the Node package's `indices`). `Err` says which shape was expected.
pub fn parse_indices(text: &str) -> Result<std::collections::BTreeMap<String, Vec<FrameRun>>, String> {
    serde_json::from_str(text)
        .map_err(|e| format!("expected {{\"<clipId>\": [{{\"firstFrame\": N, \"frames\": N}}, ...]}}: {e}"))
}

/// Sorted, disjoint, non-empty half-open ranges of frame indices.
pub(crate) type Ranges = Vec<[u64; 2]>;

/// Every index `0..n`.
pub(crate) fn whole(n: u64) -> Ranges {
    if n == 0 {
        Vec::new()
    } else {
        vec![[0, n]]
    }
}

/// `ranges` sorted, with empty ones dropped and overlapping or touching ones merged.
pub(crate) fn normalize(mut ranges: Ranges) -> Ranges {
    ranges.retain(|[a, b]| a < b);
    ranges.sort_unstable();
    let mut out: Ranges = Vec::with_capacity(ranges.len());
    for [a, b] in ranges {
        match out.last_mut() {
            Some(last) if a <= last[1] => last[1] = last[1].max(b),
            _ => out.push([a, b]),
        }
    }
    out
}

/// The indices in both `a` and `b` (both normalised).
pub(crate) fn intersect(a: &[[u64; 2]], b: &[[u64; 2]]) -> Ranges {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let (lo, hi) = (a[i][0].max(b[j][0]), a[i][1].min(b[j][1]));
        if lo < hi {
            out.push([lo, hi]);
        }
        if a[i][1] < b[j][1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// How many indices `ranges` holds.
pub(crate) fn count(ranges: &[[u64; 2]]) -> u64 {
    ranges.iter().map(|[a, b]| b - a).sum()
}

/// Whether normalised `ranges` holds `k`.
pub(crate) fn contains(ranges: &[[u64; 2]], k: u64) -> bool {
    let i = ranges.partition_point(|r| r[1] <= k);
    ranges.get(i).is_some_and(|r| r[0] <= k)
}

/// Every index of `ranges`, in order.
pub(crate) fn indices(ranges: &[[u64; 2]]) -> impl Iterator<Item = u64> + '_ {
    ranges.iter().flat_map(|&[a, b]| a..b)
}

/// A clip's runs as normalised ranges (`None` when a run's end overflows).
pub(crate) fn runs_to_ranges(runs: &[FrameRun]) -> Option<Ranges> {
    runs.iter()
        .map(FrameRun::range)
        .collect::<Option<Ranges>>()
        .map(normalize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slice_by_time_takes_the_frames_whose_instants_it_holds() {
        let fps = Rational::new(30000, 1001);
        let r = |s: &str| Rational::parse_decimal(s).unwrap();
        // 1 s at 29.97: instants 0, 1001/30000, … ; frame 30 is at 1.001 s, past 1 s.
        assert_eq!(
            FrameRange::from_time(r("0"), r("1"), fps).unwrap(),
            FrameRange { start: 0, end: 30 }
        );
        let (a, b) = (
            FrameRange::from_time(r("0"), r("2.5"), fps).unwrap(),
            FrameRange::from_time(r("2.5"), r("5"), fps).unwrap(),
        );
        assert_eq!(a.end, b.start, "adjacent time slices share no frame and miss none");
        assert!(FrameRange::from_time(r("1"), r("1"), fps).is_err());
        assert!(
            FrameRange::from_time(r("1"), r("1.00001"), fps).is_err(),
            "no instant inside"
        );
        assert_eq!(FrameRange::from_time(r("-1"), r("0.1"), fps).unwrap().start, 0);
        assert!(FrameRange::new(5, 5).is_err() && FrameRange::new(6, 5).is_err());
        assert_eq!(FrameRange::new(5, 6).unwrap().len(), 1);
    }

    #[test]
    fn range_sets_merge_intersect_and_rank() {
        let a = normalize(vec![[10, 20], [0, 5], [5, 7], [30, 30], [15, 25]]);
        assert_eq!(a, vec![[0, 7], [10, 25]]);
        assert_eq!(intersect(&a, &[[3, 12], [24, 40]]), vec![[3, 7], [10, 12], [24, 25]]);
        assert_eq!(count(&a), 22);
        assert!(contains(&a, 0) && contains(&a, 6) && !contains(&a, 7) && contains(&a, 24) && !contains(&a, 25));
        assert_eq!(indices(&[[1, 3], [5, 6]]).collect::<Vec<_>>(), vec![1, 2, 5]);
        let runs = [
            FrameRun {
                first_frame: 450,
                frames: 30,
            },
            FrameRun {
                first_frame: 0,
                frames: 2,
            },
        ];
        assert_eq!(runs_to_ranges(&runs), Some(vec![[0, 2], [450, 480]]));
        assert_eq!(
            runs_to_ranges(&[FrameRun {
                first_frame: u64::MAX,
                frames: 2
            }]),
            None
        );
        let json = serde_json::to_string(&runs[0]).unwrap();
        assert_eq!(json, r#"{"firstFrame":450,"frames":30}"#);
    }
}
