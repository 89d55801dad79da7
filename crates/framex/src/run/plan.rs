//! Planning: what every clip needs, decided as data before anything is decoded.
//!
//! For: the window of each clip, which of its frames the run asks for ([`Request`]: all, a
//! timeline slice, an index list), the source frame behind each of those output files, how its
//! frames are rendered ([`Variant`]) and under which store keys, and, per source, which frames
//! must be decoded and which the store already holds. Not for: opening files, decoding, or
//! writing anything — [`plan_clip_frames`] and [`group_slots`] are pure, and [`split_stored`]
//! only asks the store which frames exist.
//!
//! ```text
//!  clip + FrameIndex + Request ──plan_clip_frames──▶ PlannedClip + (k, source frame) asked for
//!  all clips of a source ──group_slots──▶ SourceNeeds: (source frame, variant) → slots
//!  SourceNeeds + store ──split_stored──▶ Reuse (link a stored file) | Decode (frame → outputs)
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use crate::composition::lookup::ClipTiming;
use crate::composition::slice::{indices, intersect, runs_to_ranges, whole, FrameRange, FrameRun, Ranges};
use crate::composition::window::{resolve_window, ClipWindow, WindowError};
use crate::composition::{ClipSpec, Composition, FormatChoice};
use crate::encode::{ImageFormat, Variant};
use crate::error::{ErrorKind, Failure};
use crate::media::colour::{transform_for, Hdr};
use crate::media::{FrameIndex, MediaInfo};
use crate::store::{ClipKey, FrameKey, SourceKey, Store, VariantKey};
use crate::time::Rational;

/// Index of a clip in its composition.
pub(crate) type ClipNo = usize;
/// Index of a distinct source of a run.
pub(crate) type SourceNo = usize;
/// A source frame, numbered in presentation order ([`FrameIndex`]).
pub(crate) type FrameNo = usize;

/// Most output frames one clip may have (about 92 hours at 30 fps).
pub const MAX_CLIP_FRAMES: u64 = 10_000_000;

/// One output file: frame `k` (0-based) of clip `clip`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    pub clip: ClipNo,
    pub k: u64,
}

/// A clip whose frames will exist: its resolved window, which of its frames this run produces,
/// how they are rendered, and its source's metadata (for the result).
#[derive(Clone, Debug)]
pub(crate) struct PlannedClip {
    pub window: ClipWindow,
    /// The frame indices produced (normalised ranges; `[[0, frame_count]]` for a whole clip).
    pub ranges: Ranges,
    pub variant: Variant,
    pub info: MediaInfo,
}

impl PlannedClip {
    /// Whether this run produces only part of the clip (a slice, or an index list).
    pub fn partial(&self) -> bool {
        is_partial(&self.ranges, self.window.frame_count)
    }
}

/// Whether `ranges` is less than all of a clip of `frame_count` frames.
pub(crate) fn is_partial(ranges: &[[u64; 2]], frame_count: u64) -> bool {
    ranges != whole(frame_count).as_slice()
}

/// Which frames of each clip a run produces: all of them, or those a timeline slice shows
/// and/or an index list names (both given: the frames in both).
#[derive(Clone, Copy, Default)]
pub(crate) struct Request<'a> {
    pub frames: Option<FrameRange>,
    pub indices: Option<&'a BTreeMap<String, Vec<FrameRun>>>,
}

impl Request<'_> {
    /// The frames of clip `id` (window `w`) to produce. Indices its list names past its frames
    /// do not exist: nothing is produced for them.
    pub fn ranges(&self, id: &str, w: &ClipWindow) -> Ranges {
        let mut r = whole(w.frame_count);
        if let Some(slice) = self.frames {
            r = intersect(&r, &ClipTiming::from_window(id, w).frames_shown(w.fps, slice));
        }
        if let Some(indices) = self.indices {
            // A clip the list does not name gets no frames: the list says what to extract.
            let named = indices
                .get(id)
                .and_then(|runs| runs_to_ranges(runs))
                .unwrap_or_default();
            r = intersect(&r, &named);
        }
        r
    }
}

/// The render's dynamic range, decided once from every source's colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Render {
    /// Not decided yet (some source's colour is still unknown).
    Unknown,
    Sdr,
    Hdr(Hdr),
}

impl Render {
    pub fn of(target: Option<Hdr>) -> Render {
        target.map_or(Render::Sdr, Render::Hdr)
    }

    /// The HDR target, once decided.
    pub fn decided(self) -> Option<Option<Hdr>> {
        match self {
            Render::Unknown => None,
            Render::Sdr => Some(None),
            Render::Hdr(h) => Some(Some(h)),
        }
    }
}

/// How frames of `clip`, whose source has `info`, are rendered in `comp`, whose HDR target is
/// `hdr`. The drawn size is the clip's box within the composition's `max_size`, fitted to the
/// upright picture (contract §10): `None` when that is the source's own size, so such a clip
/// shares its frames with unsized clips.
pub(crate) fn choose_variant(comp: &Composition, clip: &ClipSpec, info: &MediaInfo, hdr: Option<Hdr>) -> Variant {
    let format = match comp.format {
        FormatChoice::Auto if info.alpha => ImageFormat::Png,
        FormatChoice::Auto | FormatChoice::Jpg => ImageFormat::Jpg,
        FormatChoice::Png => ImageFormat::Png,
    };
    Variant {
        format,
        quality: comp.quality(),
        alpha: format == ImageFormat::Png && info.alpha,
        transform: transform_for(&info.color, hdr, comp.tonemap),
        size: clip
            .size
            .within(comp.max_size)
            .fit(info.display_width, info.display_height),
    }
}

/// The store key of a folder holding only the frames `ranges` of the clip keyed `whole`: a key
/// of its own, so a partial folder can never be found as the whole clip (its record is
/// version 2 and lists `ranges` as well).
pub(crate) fn partial_clip_key(whole: &ClipKey, ranges: &[[u64; 2]]) -> ClipKey {
    let runs: Vec<String> = ranges.iter().map(|[a, b]| format!("{a}-{b}")).collect();
    ClipKey::of_description(&format!("v2|part|{}|{}", whole.as_str(), runs.join(",")))
}

/// The store key of a clip's frames: the same key means the same images in the same order,
/// whatever the clip's id or place on the timeline.
pub(crate) fn clip_key(w: &ClipWindow, variant: &VariantKey) -> ClipKey {
    // Every window field is named: what changes the frames is in the key; where the clip sits
    // on the timeline is deliberately not.
    let ClipWindow {
        timeline_start: _,
        timeline_end: _,
        frame_count,
        fps,
        rate,
        media_offset,
        loop_cycle,
    } = w;
    let cycle = loop_cycle.map(|(s, l)| format!("{s}+{l}")).unwrap_or_default();
    ClipKey::of_description(&format!(
        "v1|{variant}|fps={fps}|rate={rate}|off={media_offset}|n={frame_count}|loop={cycle}"
    ))
}

fn window_failure(e: WindowError) -> Failure {
    match e {
        WindowError::EmptySource => Failure::new(ErrorKind::InvalidMedia, "the source has no playable frames"),
        WindowError::MediaStartOutOfRange {
            media_start,
            source_end,
        } => Failure::new(
            ErrorKind::MediaStartOutOfRange,
            format!(
                "mediaStart {:.3}s is at or past the end of the source ({:.3}s)",
                media_start.to_f64(),
                source_end.to_f64()
            ),
        ),
    }
}

/// A clip's window against a source whose playable range ends at `source_end`.
pub(crate) fn clip_window(comp: &Composition, clip: &ClipSpec, source_end: Rational) -> Result<ClipWindow, Failure> {
    resolve_window(clip, comp.fps(), comp.timeline_end(), source_end).map_err(window_failure)
}

/// Resolves a clip's window and maps every output frame to the source frame shown then.
#[cfg(test)]
pub(crate) fn plan_clip(
    comp: &Composition,
    clip: &ClipSpec,
    index: &FrameIndex,
    info: &MediaInfo,
    hdr: Option<Hdr>,
) -> Result<(PlannedClip, Vec<FrameNo>), Failure> {
    let (planned, frames) = plan_clip_frames(comp, clip, index, info, hdr, &Request::default())?;
    Ok((planned, frames.into_iter().map(|(_, f)| f).collect()))
}

/// Resolves a clip's window, decides which of its frames `request` asks for, and maps each of
/// them (`(k, source frame)`, in order) to the source frame shown then — only those: a slice
/// of a long clip costs its own frames, not the clip's.
pub(crate) fn plan_clip_frames(
    comp: &Composition,
    clip: &ClipSpec,
    index: &FrameIndex,
    info: &MediaInfo,
    hdr: Option<Hdr>,
    request: &Request,
) -> Result<(PlannedClip, Vec<(u64, FrameNo)>), Failure> {
    let window = clip_window(comp, clip, index.end())?;
    if window.frame_count > MAX_CLIP_FRAMES {
        // A plan is a few words per output frame: refuse absurd clips (e.g. a loop with an end
        // a million hours away) instead of exhausting memory.
        return Err(Failure::new(
            ErrorKind::SourceRejected,
            format!(
                "the clip would have {} frames, more than the limit of {MAX_CLIP_FRAMES} per clip; shorten its end",
                window.frame_count
            ),
        ));
    }
    let ranges = request.ranges(&clip.id, &window);
    let frames = indices(&ranges)
        .map(|k| {
            let f = index
                .frame_at(window.media_time(k), comp.fps())
                .expect("non-empty index");
            (k, f)
        })
        .collect();
    let variant = choose_variant(comp, clip, info, hdr);
    Ok((
        PlannedClip {
            window,
            ranges,
            variant,
            info: info.clone(),
        },
        frames,
    ))
}

/// Per source: every (source frame, variant) needed and the output slots it fills, in
/// decode order.
pub(crate) type SourceNeeds = BTreeMap<(FrameNo, Variant), Vec<Slot>>;

/// Adds clip `clip`'s frames (the source frame of each output frame, in order) to its
/// source's needs: a source frame shown by several slots — held frames, duplicate clips,
/// overlapping trims — is one need.
#[cfg(test)]
pub(crate) fn group_needs(needs: &mut SourceNeeds, clip: ClipNo, variant: Variant, frames: Vec<FrameNo>) {
    group_slots(
        needs,
        clip,
        variant,
        frames.into_iter().enumerate().map(|(k, f)| (k as u64, f)),
    );
}

/// Adds clip `clip`'s output frames `(k, source frame)` to its source's needs: a source frame
/// shown by several slots — held frames, duplicate clips, overlapping trims — is one need.
pub(crate) fn group_slots(
    needs: &mut SourceNeeds,
    clip: ClipNo,
    variant: Variant,
    frames: impl IntoIterator<Item = (u64, FrameNo)>,
) {
    for (k, frame) in frames {
        needs.entry((frame, variant)).or_default().push(Slot { clip, k });
    }
}

/// One encode of one decoded frame: its rendering, the store key its bytes are kept under
/// (`None` uncached: the first slot's file is the original), and the slots it fills.
pub(crate) struct Output {
    pub variant: Variant,
    pub key: Option<FrameKey>,
    pub slots: Vec<Slot>,
}

/// A source's needs, split by where each frame comes from.
#[derive(Default)]
pub(crate) struct SourceWork {
    /// Frames the store already holds (the frame's pts, its file): link the file into every
    /// slot.
    pub reuse: Vec<(i64, PathBuf, Vec<Slot>)>,
    /// Frames to decode, sorted, each with its encodes.
    pub decode: Vec<(FrameNo, Vec<Output>)>,
}

/// Splits a source's needs into frames the store holds and frames to decode. `pts` gives a
/// frame's presentation time (its store identity); `key` is the source's content key when the
/// run has a store. One directory listing per variant answers "what exists".
pub(crate) fn split_stored(
    needs: SourceNeeds,
    store: Option<(&Store, &SourceKey)>,
    rotation: u32,
    pts: impl Fn(FrameNo) -> i64,
) -> SourceWork {
    let mut work = SourceWork::default();
    let mut stored: HashMap<Variant, (VariantKey, HashSet<i64>)> = HashMap::new();
    for ((frame, variant), slots) in needs {
        let key = store.map(|(store, source)| {
            let ext = variant.format.extension();
            let (vkey, have) = stored.entry(variant).or_insert_with(|| {
                let vkey = VariantKey::new(&variant, rotation);
                let have = store.existing_frames(source, &vkey, ext);
                (vkey, have)
            });
            let key = FrameKey {
                source: source.clone(),
                variant: vkey.clone(),
                pts: pts(frame),
            };
            (have.contains(&key.pts), key)
        });
        let key = match (key, store) {
            (Some((true, key)), Some((store, _))) => {
                work.reuse
                    .push((key.pts, store.frame_path(&key, variant.format.extension()), slots));
                continue;
            }
            (k, _) => k.map(|(_, key)| key),
        };
        let output = Output { variant, key, slots };
        match work.decode.last_mut() {
            Some((f, outs)) if *f == frame => outs.push(output),
            _ => work.decode.push((frame, vec![output])),
        }
    }
    work
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::colour::Transform;
    use crate::media::index::PacketEntry;

    /// A 2 s, 10 fps source with a keyframe every 5 frames (time base 1/1000).
    fn index() -> FrameIndex {
        let packets: Vec<PacketEntry> = (0..20)
            .map(|i| PacketEntry {
                pts: i * 100,
                dts: Some(i * 100),
                duration: 100,
                key: i % 5 == 0,
                discard: false,
            })
            .collect();
        FrameIndex::build(&packets, Rational::new(1, 1000), Rational::ZERO, None)
    }

    fn info() -> MediaInfo {
        let meta = r#"{"info":{"codec":"h264","width":64,"height":64,"displayWidth":64,"displayHeight":64,"rotation":0,"pixelFormat":"yuv420p","alpha":false,"color":{"matrix":"bt709","range":"tv","primaries":"bt709","transfer":"bt709"},"hdr":null,"wideGamut":false,"avgFrameRate":"10/1","realFrameRate":"10/1","vfr":false,"duration":2.0,"playableDuration":2.0,"streamStart":0.0,"frameCount":20,"keyframeCount":4,"timeBase":"1/1000","hasAudio":false},"end":[2,1]}"#;
        crate::store::StoredMeta::from_json(meta.as_bytes()).unwrap().info()
    }

    fn comp(clips: Vec<ClipSpec>) -> Composition {
        let mut c = Composition::new(Rational::from_int(30), ".").unwrap();
        for clip in clips {
            c.push_clip(clip).unwrap();
        }
        c
    }

    #[test]
    fn a_30_fps_clip_of_a_10_fps_source_holds_each_frame_three_times() {
        let c = comp(vec![ClipSpec::new("a", "a.mp4")]);
        let (p, frames) = plan_clip(&c, &c.clips()[0], &index(), &info(), None).unwrap();
        assert_eq!(p.window.frame_count, 60);
        assert_eq!(&frames[..7], &[0, 0, 0, 1, 1, 1, 2]);
        assert_eq!(p.variant.format, ImageFormat::Jpg);
        assert_eq!(p.variant.transform, Transform::None);
    }

    #[test]
    fn duplicate_clips_and_held_frames_are_one_need_each() {
        let mut a = ClipSpec::new("a", "a.mp4");
        a.end = Some(Rational::new(1, 2));
        let mut b = a.clone();
        b.id = "b".into();
        let c = comp(vec![a, b]);
        let mut needs = SourceNeeds::new();
        for (n, clip) in c.clips().iter().enumerate() {
            let (p, frames) = plan_clip(&c, clip, &index(), &info(), None).unwrap();
            group_needs(&mut needs, n, p.variant, frames);
        }
        // 15 output frames each at 30 fps over 0.5 s of a 10 fps source: frames 0..=4.
        assert_eq!(needs.len(), 5);
        let first = &needs.values().next().unwrap();
        assert_eq!(first.len(), 6, "3 held slots in each of 2 clips");
        let work = split_stored(needs, None, 0, |f| f as i64 * 100);
        assert!(work.reuse.is_empty());
        assert_eq!(
            work.decode.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4]
        );
        assert!(work
            .decode
            .iter()
            .all(|(_, outs)| outs.len() == 1 && outs[0].key.is_none()));
    }

    #[test]
    fn a_media_start_past_the_end_is_its_own_kind() {
        let mut a = ClipSpec::new("a", "a.mp4");
        a.media_start = Rational::from_int(5);
        let c = comp(vec![a]);
        let e = plan_clip(&c, &c.clips()[0], &index(), &info(), None).unwrap_err();
        assert_eq!(e.kind, ErrorKind::MediaStartOutOfRange);
    }

    #[test]
    fn clip_keys_ignore_the_timeline_position() {
        let c = comp(vec![ClipSpec::new("a", "a.mp4")]);
        let (p, _) = plan_clip(&c, &c.clips()[0], &index(), &info(), None).unwrap();
        let v = VariantKey::new(&p.variant, 0);
        let mut moved = p.window.clone();
        moved.timeline_start = Rational::from_int(7);
        assert_eq!(clip_key(&p.window, &v), clip_key(&moved, &v));
        let mut shorter = p.window.clone();
        shorter.frame_count -= 1;
        assert_ne!(clip_key(&p.window, &v), clip_key(&shorter, &v));
    }
}
