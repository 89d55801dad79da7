//! The store's JSON records, as versioned types of their own.
//!
//! `meta.json` and `.complete` outlive the framex that wrote them (a store is shared by every
//! framex version on a machine, and later by a fleet). So they are not the serde of any type
//! the library hands out: [`StoredMeta`] converts from and to [`MediaInfo`] explicitly, and
//! a result field can be renamed without every existing store losing its hits. A record
//! without a `version` is version 1 (what framex wrote before the field existed); a record of
//! a newer version than this framex knows is treated as absent (re-probed, re-extracted).

use serde::{Deserialize, Serialize};

use crate::media::colour::Hdr;
use crate::media::source::ColorInfo;
use crate::media::MediaInfo;
use crate::time::Rational;

/// The `meta.json` format this framex writes (and the newest it reads).
const META_VERSION: u32 = 1;
/// The newest `.complete` format this framex reads. A record is written in the oldest version
/// that can say what it holds: a whole clip as version 1 (so every framex sharing the store
/// hits it), a partial clip folder — a slice's frames, listed in `ranges` — as version 2, so a
/// framex that predates slices treats it as absent instead of handing it out as a whole clip.
const CLIP_VERSION: u32 = 2;
const PARTIAL_CLIP_VERSION: u32 = 2;

fn version_1() -> u32 {
    1
}

/// Whether `bytes` is a clip record written by a newer store format than this framex knows (it
/// must be left alone: neither read nor called damage).
pub(crate) fn is_newer(bytes: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Versioned {
        #[serde(default = "version_1")]
        version: u32,
    }
    serde_json::from_slice::<Versioned>(bytes).is_ok_and(|v| v.version > CLIP_VERSION)
}

/// `src/<key>/meta.json`: what the store remembers of a source, so a whole-clip hit needs no
/// FFmpeg.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct StoredMeta {
    #[serde(default = "version_1")]
    version: u32,
    info: StoredInfo,
    /// Playable end in media seconds, exact: `[num, den]`.
    end: [i128; 2],
}

/// The probe metadata as stored (version 1 spells every field as the probe JSON did then).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredInfo {
    codec: String,
    width: u32,
    height: u32,
    display_width: u32,
    display_height: u32,
    rotation: u32,
    pixel_format: String,
    alpha: bool,
    color: StoredColor,
    #[serde(default)]
    hdr: Option<StoredHdr>,
    #[serde(default)]
    wide_gamut: bool,
    avg_frame_rate: String,
    real_frame_rate: String,
    vfr: bool,
    duration: f64,
    playable_duration: f64,
    stream_start: f64,
    frame_count: u64,
    keyframe_count: u64,
    time_base: String,
    has_audio: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct StoredColor {
    matrix: String,
    range: String,
    primaries: String,
    transfer: String,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum StoredHdr {
    Pq,
    Hlg,
}

/// The conversions between [`MediaInfo`] and [`StoredInfo`], from one list of the fields they
/// share as they are. Both directions are struct literals, so a field added to either type does
/// not compile until it is listed here (or converted by hand, as `color` and `hdr` are).
macro_rules! mirror_fields {
    ($($field:ident),* $(,)?) => {
        fn to_stored(i: MediaInfo) -> StoredInfo {
            StoredInfo {
                $($field: i.$field,)*
                color: StoredColor {
                    matrix: i.color.matrix,
                    range: i.color.range,
                    primaries: i.color.primaries,
                    transfer: i.color.transfer,
                },
                hdr: i.hdr.map(|h| match h {
                    Hdr::Pq => StoredHdr::Pq,
                    Hdr::Hlg => StoredHdr::Hlg,
                }),
            }
        }

        fn from_stored(i: StoredInfo) -> MediaInfo {
            MediaInfo {
                $($field: i.$field,)*
                color: ColorInfo {
                    matrix: i.color.matrix,
                    range: i.color.range,
                    primaries: i.color.primaries,
                    transfer: i.color.transfer,
                },
                hdr: i.hdr.map(|h| match h {
                    StoredHdr::Pq => Hdr::Pq,
                    StoredHdr::Hlg => Hdr::Hlg,
                }),
            }
        }
    };
}

mirror_fields!(
    codec,
    width,
    height,
    display_width,
    display_height,
    rotation,
    pixel_format,
    alpha,
    wide_gamut,
    avg_frame_rate,
    real_frame_rate,
    vfr,
    duration,
    playable_duration,
    stream_start,
    frame_count,
    keyframe_count,
    time_base,
    has_audio,
);

impl StoredMeta {
    pub fn new(info: &MediaInfo, end: Rational) -> StoredMeta {
        StoredMeta {
            version: META_VERSION,
            info: to_stored(info.clone()),
            end: [end.num(), end.den()],
        }
    }

    /// The metadata as the library hands it out.
    pub fn info(&self) -> MediaInfo {
        from_stored(self.info.clone())
    }

    /// The source's playable end in media seconds.
    pub fn end(&self) -> Rational {
        Rational::new(self.end[0], self.end[1].max(1))
    }

    pub fn from_json(bytes: &[u8]) -> Option<StoredMeta> {
        serde_json::from_slice::<StoredMeta>(bytes)
            .ok()
            .filter(|m| m.version <= META_VERSION)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a stored record serialises")
    }
}

/// The `.complete` record of a clip folder.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ClipRecord {
    #[serde(default = "version_1")]
    pub version: u32,
    /// The clip's frame count (of the whole clip, also in a partial record).
    pub frames: u64,
    pub ext: String,
    pub variant: String,
    /// Source frame (pts) shown by each output frame the folder holds, in order, for `cache
    /// verify`.
    pub pts: Vec<i64>,
    /// Every distinct frame's content, `[pts, bytes, blake3]` sorted by pts (one entry per
    /// stored frame, not per output frame: a long loop records its few frames once). A warm run
    /// checks sizes, `cache verify` the hashes. Absent in records written before it existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub digests: Vec<FrameDigest>,
    /// A partial clip folder (version 2): the frame indices it holds, as sorted half-open
    /// ranges. Absent: the whole clip, `0..frames`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Vec<[u64; 2]>>,
}

/// One stored frame's size and content hash (BLAKE3, 32 hex digits).
pub(crate) type FrameDigest = (i64, u64, String);

/// The digest of encoded frame bytes `bytes` shown at `pts`.
pub(crate) fn digest(pts: i64, bytes: &[u8]) -> FrameDigest {
    (pts, bytes.len() as u64, blake3::hash(bytes).to_hex()[..32].to_string())
}

impl ClipRecord {
    pub fn new(frames: u64, ext: &str, variant: &str, pts: Vec<i64>) -> ClipRecord {
        ClipRecord {
            version: 1,
            frames,
            ext: ext.to_string(),
            variant: variant.to_string(),
            pts,
            digests: Vec::new(),
            ranges: None,
        }
    }

    /// The record of a folder holding only the frames `ranges` (normalised) of a clip of
    /// `frames` frames; `pts` lists those frames' sources in order.
    pub fn partial(frames: u64, ranges: Vec<[u64; 2]>, ext: &str, variant: &str, pts: Vec<i64>) -> ClipRecord {
        ClipRecord {
            version: PARTIAL_CLIP_VERSION,
            ranges: Some(ranges),
            ..ClipRecord::new(frames, ext, variant, pts)
        }
    }

    /// The frame indices the folder holds, as sorted half-open ranges.
    pub fn held(&self) -> std::borrow::Cow<'_, [[u64; 2]]> {
        match &self.ranges {
            Some(r) => std::borrow::Cow::Borrowed(r.as_slice()),
            None if self.frames == 0 => std::borrow::Cow::Owned(Vec::new()),
            None => std::borrow::Cow::Owned(vec![[0, self.frames]]),
        }
    }

    /// The recorded size and hash of the frame at `pts`, if recorded.
    pub fn digest_of(&self, pts: i64) -> Option<(u64, &str)> {
        let i = self.digests.binary_search_by_key(&pts, |d| d.0).ok()?;
        Some((self.digests[i].1, self.digests[i].2.as_str()))
    }

    pub fn from_json(bytes: &[u8]) -> Option<ClipRecord> {
        serde_json::from_slice::<ClipRecord>(bytes)
            .ok()
            .filter(|r| r.version <= CLIP_VERSION)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a stored record serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `meta.json` exactly as framex wrote it before records were versioned (commit
    /// 3e00e5a, `SourceMeta { info: MediaInfo, end }`, for a 2 s 320×240 clip tagged
    /// `rotate=90`): it must still load, or every existing store would lose its whole-clip hits.
    const V1_UNVERSIONED: &str = r#"{"info":{"codec":"h264","width":320,"height":240,"displayWidth":240,"displayHeight":320,"rotation":270,"pixelFormat":"yuv420p","alpha":false,"color":{"matrix":"unknown","range":"unknown","primaries":"unknown","transfer":"unknown"},"hdr":null,"wideGamut":false,"avgFrameRate":"30/1","realFrameRate":"30/1","vfr":false,"duration":2.0,"playableDuration":2.0,"streamStart":0.0,"frameCount":60,"keyframeCount":1,"timeBase":"1/15360","hasAudio":false},"end":[2,1]}"#;

    #[test]
    fn an_unversioned_meta_record_still_loads() {
        let m = StoredMeta::from_json(V1_UNVERSIONED.as_bytes()).expect("v1 record loads");
        let info = m.info();
        assert_eq!((info.width, info.display_width, info.rotation), (320, 240, 270));
        assert_eq!(info.frame_count, 60);
        assert_eq!(m.end(), Rational::from_int(2));
        // Written back, it is the same record plus its version.
        let again = StoredMeta::new(&info, m.end());
        let a: serde_json::Value = serde_json::from_slice(&again.to_json()).unwrap();
        let mut b: serde_json::Value = serde_json::from_str(V1_UNVERSIONED).unwrap();
        b["version"] = 1.into();
        assert_eq!(a, b);
    }

    #[test]
    fn a_newer_record_is_treated_as_absent() {
        let newer = V1_UNVERSIONED.replacen('{', r#"{"version":2,"#, 1);
        assert!(StoredMeta::from_json(newer.as_bytes()).is_none());
        let clip = r#"{"frames":2,"ext":"jpg","variant":"jpg-q95-r0","pts":[0,512]}"#;
        assert_eq!(ClipRecord::from_json(clip.as_bytes()).unwrap().frames, 2);
        let clip2 = clip.replacen('{', r#"{"version":9,"#, 1);
        assert!(ClipRecord::from_json(clip2.as_bytes()).is_none());
        assert!(is_newer(clip2.as_bytes()) && !is_newer(clip.as_bytes()) && !is_newer(b"junk"));
    }

    #[test]
    fn a_whole_clip_record_stays_version_1_and_a_partial_one_is_version_2() {
        let whole = ClipRecord::new(3, "jpg", "jpg-q95-r0", vec![0, 512, 1024]);
        let v: serde_json::Value = serde_json::from_slice(&whole.to_json()).unwrap();
        assert_eq!(v["version"], 1);
        assert!(v.get("ranges").is_none(), "{v}");
        assert_eq!(&*whole.held(), &[[0, 3]]);
        let part = ClipRecord::partial(300, vec![[10, 12], [40, 41]], "jpg", "jpg-q95-r0", vec![5, 6, 9]);
        let bytes = part.to_json();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["version"], 2);
        assert_eq!(v["ranges"], serde_json::json!([[10, 12], [40, 41]]));
        let back = ClipRecord::from_json(&bytes).unwrap();
        assert_eq!(&*back.held(), &[[10, 12], [40, 41]]);
        assert!(!is_newer(&bytes));
        // What a framex that knows only version 1 does with it: treats it as absent.
        let v1_reader = |b: &[u8]| serde_json::from_slice::<ClipRecord>(b).ok().filter(|r| r.version <= 1);
        assert!(v1_reader(&bytes).is_none());
    }
}
