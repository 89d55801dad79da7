//! Compositions: what the caller asked for, before any media is opened.
//!
//! A [`Composition`] is a frame rate plus clips ([`ClipSpec`]), read from a JSON manifest
//! ([`manifest`]). [`window`] turns one clip plus its source's playable range into the exact
//! media time of every output frame. This module never touches media files or the disk
//! beyond reading the manifest itself.

pub mod html;
pub mod lookup;
pub mod manifest;
pub mod slice;
pub mod window;

use std::path::PathBuf;

use crate::time::Rational;

/// Which image format clip frames are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FormatChoice {
    /// PNG for sources with alpha, JPEG otherwise.
    Auto,
    Jpg,
    Png,
}

impl FormatChoice {
    pub fn parse(s: &str) -> Option<FormatChoice> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(FormatChoice::Auto),
            "jpg" | "jpeg" => Some(FormatChoice::Jpg),
            "png" => Some(FormatChoice::Png),
            _ => None,
        }
    }
}

/// A composition: frame rate, output settings and clips.
///
/// Built by a reader ([`crate::read_composition`], [`crate::parse_manifest`],
/// [`crate::parse_html`], [`Composition::from_manifest_value`]) or by hand with
/// [`Composition::new`] and [`Composition::push_clip`]. Either way it holds only what
/// extraction can use: a frame rate in range and clips whose ids are unique, safe folder names
/// and whose times and rates are valid — the checks live in the type, so a composition built
/// through the library can never make `extract` write outside its output folder.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Composition {
    /// Output frames per second, exact (positive, at most 1000).
    fps: Rational,
    pub format: FormatChoice,
    /// JPEG quality 1..=100 (95 ≈ ffmpeg `-q:v 2`).
    quality: u8,
    /// Render SDR: tone-map HDR sources to BT.709 instead of converting SDR sources to HDR.
    pub tonemap: bool,
    /// The composition's end on the timeline, if known (not negative); clips are cut there.
    timeline_end: Option<Rational>,
    clips: Vec<ClipSpec>,
    /// The timeline slice to extract (the manifest's `frames`), if only part is wanted.
    frames: Option<slice::FrameRange>,
    /// Folder that relative `src` paths are resolved against (the manifest's folder).
    pub base_dir: PathBuf,
    /// A box every clip's frames are drawn within (`--max-size WxH`, the Node `maxSize`),
    /// combined with each clip's own [`ClipSpec::size`] (the smaller side wins).
    pub max_size: DrawSize,
}

impl Composition {
    /// An empty composition at `fps` whose relative sources resolve against `base_dir`, with
    /// the manifest's defaults: format `auto`, quality 95, no tone-mapping, no timeline end.
    pub fn new(fps: Rational, base_dir: impl Into<PathBuf>) -> Result<Composition, InputError> {
        let mut c = Composition {
            fps: Rational::ONE,
            format: FormatChoice::Auto,
            quality: manifest::DEFAULT_QUALITY,
            tonemap: false,
            timeline_end: None,
            clips: Vec::new(),
            frames: None,
            base_dir: base_dir.into(),
            max_size: DrawSize::NONE,
        };
        c.set_fps(fps)?;
        Ok(c)
    }

    /// A composition from a manifest already parsed into a JSON value (an object from a
    /// binding, say): the same fields, defaults and errors as [`crate::parse_manifest`].
    /// `name` is used in error locations.
    pub fn from_manifest_value(
        value: &serde_json::Value,
        name: &str,
        base_dir: &std::path::Path,
    ) -> Result<Composition, InputError> {
        manifest::from_value(value, name, base_dir)
    }

    /// Output frames per second, exact.
    pub fn fps(&self) -> Rational {
        self.fps
    }

    /// Sets the output frame rate: positive, at most 1000, denominator at most 10⁶.
    pub fn set_fps(&mut self, fps: Rational) -> Result<(), InputError> {
        self.fps = fps.checked_rate().ok_or_else(|| InputError {
            location: "fps".into(),
            message: format!("expected a positive number up to 1000 or \"num/den\", got {fps}"),
        })?;
        Ok(())
    }

    /// JPEG quality, 1..=100.
    pub fn quality(&self) -> u8 {
        self.quality
    }

    /// Sets the JPEG quality: 1..=100 (95 ≈ ffmpeg `-q:v 2`).
    pub fn set_quality(&mut self, quality: u8) -> Result<(), InputError> {
        if !(1..=100).contains(&quality) {
            return Err(InputError {
                location: "quality".into(),
                message: format!("expected an integer from 1 to 100, got {quality}"),
            });
        }
        self.quality = quality;
        Ok(())
    }

    /// The composition's end on the timeline, if known.
    pub fn timeline_end(&self) -> Option<Rational> {
        self.timeline_end
    }

    /// Sets (or clears) the composition's end on the timeline: not negative.
    pub fn set_timeline_end(&mut self, end: Option<Rational>) -> Result<(), InputError> {
        if let Some(e) = end {
            if e.is_negative() || e.den() > MAX_TIME_DEN {
                return Err(InputError {
                    location: "timelineEnd".into(),
                    message: format!("expected a time in seconds, not negative, got {e}"),
                });
            }
        }
        self.timeline_end = end;
        Ok(())
    }

    /// The timeline slice this composition asks for (the manifest's `"frames": [A, B]`), if
    /// any; [`crate::ExtractOptions::frames`] overrides it.
    pub fn frames(&self) -> Option<slice::FrameRange> {
        self.frames
    }

    /// Sets (or clears) the timeline slice: composition frames `start..end`, not empty.
    pub fn set_frames(&mut self, frames: Option<slice::FrameRange>) -> Result<(), InputError> {
        if let Some(f) = frames {
            slice::FrameRange::new(f.start, f.end)?;
        }
        self.frames = frames;
        Ok(())
    }

    /// How many composition frames the timeline has (frames `0..n`, frame `n` at `n / fps`),
    /// when that is known without opening any media: `ceil(end · fps)` with `end` the
    /// `timelineEnd`, else the latest clip `end` when every clip has one. `None` when a clip
    /// plays to its source's natural end and no `timelineEnd` is given (or there is no clip).
    pub fn frame_count(&self) -> Option<u64> {
        let end = match self.timeline_end {
            Some(e) => e,
            None => {
                let ends: Option<Vec<Rational>> = self.clips.iter().map(|c| c.end).collect();
                ends?.into_iter().max()?
            }
        };
        u64::try_from((end * self.fps).ceil().max(0)).ok()
    }

    /// The clips, in composition order.
    pub fn clips(&self) -> &[ClipSpec] {
        &self.clips
    }

    /// Adds a clip after checking what extraction relies on: its id is one safe path component
    /// (it names the clip's output folder) and unique in the composition; `end` is after
    /// `start`; `mediaStart` is not negative; the playback rate is within 0.1..=5; every time
    /// and the rate are exact to the microsecond (denominator at most 10⁶, as any decimal input
    /// is), which keeps the window arithmetic far from overflow.
    pub fn push_clip(&mut self, clip: ClipSpec) -> Result<(), InputError> {
        let n = self.clips.len();
        let err = |field: &str, message: String| InputError {
            location: format!("clips[{n}].{field}"),
            message,
        };
        check_id(&clip.id).map_err(|m| err("id", m))?;
        if self.clips.iter().any(|c| c.id == clip.id) {
            return Err(err("id", format!("duplicate id {:?}", clip.id)));
        }
        if clip.src.trim().is_empty() {
            return Err(err("src", "must not be empty".into()));
        }
        let fine = [
            ("start", Some(clip.start)),
            ("end", clip.end),
            ("mediaStart", Some(clip.media_start)),
            ("playbackRate", Some(clip.playback_rate)),
        ];
        for (field, t) in fine {
            if let Some(t) = t.filter(|t| t.den() > MAX_TIME_DEN) {
                return Err(err(field, format!("must be exact to the microsecond, got {t}")));
            }
        }
        check_end(clip.start, clip.end).map_err(|m| err("end", m))?;
        check_media_start(clip.media_start).map_err(|m| err("mediaStart", m))?;
        check_playback_rate(clip.playback_rate).map_err(|m| err("playbackRate", m))?;
        for (field, side) in [("width", clip.size.width), ("height", clip.size.height)] {
            if let Some(v) = side {
                check_side(v).map_err(|m| err(field, m))?;
            }
        }
        self.clips.push(clip);
        Ok(())
    }
}

/// The finest time step a composition accepts: a microsecond (what decimal input gives).
const MAX_TIME_DEN: i128 = 1_000_000;

/// Clip ids become folder names: keep them to one safe path component.
pub(crate) fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("must not be empty".into());
    }
    if id == "." || id == ".." || id.starts_with('.') {
        return Err(format!(
            "{id:?} cannot start with '.' (it names the clip's output folder)"
        ));
    }
    if id.contains(['/', '\\', '\0']) {
        return Err(format!(
            "{id:?} must not contain '/', '\\' or NUL (it names the clip's output folder)"
        ));
    }
    if id.chars().any(char::is_control) {
        return Err(format!(
            "{id:?} must not contain control characters (it names the clip's output folder)"
        ));
    }
    if id.len() > 200 {
        return Err("must be at most 200 bytes".into());
    }
    Ok(())
}

pub(crate) fn check_end(start: Rational, end: Option<Rational>) -> Result<(), String> {
    match end {
        Some(e) if e <= start => Err(format!("must be after start ({} <= {})", e.to_f64(), start.to_f64())),
        _ => Ok(()),
    }
}

pub(crate) fn check_media_start(media_start: Rational) -> Result<(), String> {
    if media_start.is_negative() {
        return Err("must not be negative".into());
    }
    Ok(())
}

pub(crate) fn check_playback_rate(rate: Rational) -> Result<(), String> {
    if rate < Rational::new(1, 10) || rate > Rational::from_int(5) {
        return Err(format!("must be between 0.1 and 5, got {}", rate.to_f64()));
    }
    Ok(())
}

/// Reads a composition file: HyperFrames HTML for `.html` / `.htm` (any case), a JSON manifest
/// otherwise. Relative sources resolve against the file's folder.
pub fn read_composition(path: &std::path::Path) -> Result<Composition, InputError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ext == "html" || ext == "htm" {
        html::read_html(path)
    } else {
        manifest::read_manifest(path)
    }
}

/// One clip as authored: where it sits on the timeline and which part of which source it plays.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipSpec {
    pub id: String,
    /// Source as written: a path (relative to the composition folder, or absolute) or a URL.
    pub src: String,
    /// Timeline start in seconds (may be negative: the clip started before the composition).
    pub start: Rational,
    /// Timeline end in seconds; `None` plays to the source's natural end.
    pub end: Option<Rational>,
    /// Media time shown at `start`, in seconds from the source's start.
    pub media_start: Rational,
    pub looping: bool,
    pub playback_rate: Rational,
    pub has_audio: bool,
    /// The size its frames are drawn at (manifest `width` / `height` / `fit`, HTML `width` /
    /// `height` attributes and inline `style` pixels); [`DrawSize::NONE`]: the source's size.
    pub size: DrawSize,
}

impl ClipSpec {
    /// A clip with the defaults of a `<video>` element: start 0, natural end, rate 1.
    pub fn new(id: impl Into<String>, src: impl Into<String>) -> ClipSpec {
        ClipSpec {
            id: id.into(),
            src: src.into(),
            start: Rational::ZERO,
            end: None,
            media_start: Rational::ZERO,
            looping: false,
            playback_rate: Rational::ONE,
            has_audio: false,
            size: DrawSize::NONE,
        }
    }
}

/// Largest side a drawn size may ask for, in pixels.
pub const MAX_DRAW_SIDE: u32 = 16384;

/// A box a clip's frames are drawn within, each side optional (absent: unbounded). Frames are
/// scaled down, once, to the largest size inside the box that keeps the upright (rotated)
/// picture's aspect — never up (contract §10):
///
/// - width only (`{"width": 640}`): 640 wide, height from the aspect;
/// - height only: likewise;
/// - both, or a `fit` box: the largest size inside `width × height`;
/// - both sides are even: the side that binds is rounded down to even, the other to the
///   nearest even number, as ffmpeg's `scale=W:-2` does (JPEG's 4:2:0 needs even sides);
/// - a box the picture already fits in leaves it at its own size (the unsized frames).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DrawSize {
    pub width: Option<u32>,
    pub height: Option<u32>,
}

impl DrawSize {
    /// No box: frames at the source's size.
    pub const NONE: DrawSize = DrawSize {
        width: None,
        height: None,
    };

    /// A box of `width × height` pixels.
    pub fn new(width: Option<u32>, height: Option<u32>) -> DrawSize {
        DrawSize { width, height }
    }

    /// Whether no side is bounded.
    pub fn is_none(self) -> bool {
        self.width.is_none() && self.height.is_none()
    }

    /// The box inside both `self` and `other`: per side, the smaller bound wins.
    pub fn within(self, other: DrawSize) -> DrawSize {
        let min = |a: Option<u32>, b: Option<u32>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        DrawSize {
            width: min(self.width, other.width),
            height: min(self.height, other.height),
        }
    }

    /// `"WxH"` (`"1280x720"`; `X` or `×` also separate), each side a whole number of pixels
    /// from 2 to [`MAX_DRAW_SIDE`].
    pub fn parse(text: &str) -> Option<DrawSize> {
        let t = text.trim().to_ascii_lowercase().replace('×', "x");
        let (w, h) = t.split_once('x')?;
        let side = |s: &str| s.trim().parse::<u32>().ok().filter(|v| check_side(*v).is_ok());
        Some(DrawSize::new(Some(side(w)?), Some(side(h)?)))
    }

    /// The size frames of an upright `width × height` picture are drawn at in this box, or
    /// `None` when they stay at the picture's own size (no box, or one it fits in).
    pub fn fit(self, width: u32, height: u32) -> Option<(u32, u32)> {
        if width == 0 || height == 0 {
            return None;
        }
        let (w, h) = (width as u64, height as u64);
        let bw = self.width.map_or(u64::MAX, |b| b.max(2) as u64);
        let bh = self.height.map_or(u64::MAX, |b| b.max(2) as u64);
        if bw >= w && bh >= h {
            return None;
        }
        let floor_even = |v: u64| (v / 2 * 2).max(2);
        // Nearest even of n/d: 2·round(n / 2d).
        let round_even = |n: u64, d: u64| ((n + d) / (2 * d) * 2).max(2);
        let (ow, oh) = if bw.saturating_mul(h) <= bh.saturating_mul(w) {
            let ow = floor_even(bw);
            (ow, round_even(h * ow, w).min(floor_even(bh.min(h))))
        } else {
            let oh = floor_even(bh);
            (round_even(w * oh, h).min(floor_even(bw.min(w))), oh)
        };
        (ow < w || oh < h).then_some((ow as u32, oh as u32))
    }
}

impl std::fmt::Display for DrawSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = |s: Option<u32>| s.map_or("any".to_string(), |v| v.to_string());
        write!(f, "{}x{}", side(self.width), side(self.height))
    }
}

/// A drawn side: a whole number of pixels from 2 to [`MAX_DRAW_SIDE`].
pub(crate) fn check_side(v: u32) -> Result<(), String> {
    if (2..=MAX_DRAW_SIDE).contains(&v) {
        Ok(())
    } else {
        Err(format!(
            "expected a whole number of pixels from 2 to {MAX_DRAW_SIDE}, got {v}"
        ))
    }
}

/// A problem with the composition itself (exit status 2): names the field and, for syntax
/// errors, the line.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {message}")]
pub struct InputError {
    /// `file:line:column`, or `file: field.path`.
    pub location: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comp() -> Composition {
        Composition::new(Rational::from_int(30), "/proj").unwrap()
    }

    #[test]
    fn a_clip_id_that_would_leave_the_output_folder_is_refused() {
        for id in [
            "../x",
            "/abs",
            "a/b",
            "a\\b",
            ".hidden",
            "..",
            "",
            "nul\0",
            "new\nline",
            "tab\t",
        ] {
            let e = comp().push_clip(ClipSpec::new(id, "a.mp4")).unwrap_err();
            assert_eq!(e.location, "clips[0].id", "{id:?}");
        }
        let mut c = comp();
        c.push_clip(ClipSpec::new("intro", "a.mp4")).unwrap();
        let e = c.push_clip(ClipSpec::new("intro", "b.mp4")).unwrap_err();
        assert_eq!(e.location, "clips[1].id");
        assert!(e.message.contains("duplicate"), "{e}");
        assert_eq!(c.clips().len(), 1);
    }

    #[test]
    fn clip_times_and_rates_are_checked_as_the_manifest_checks_them() {
        let with = |f: &dyn Fn(&mut ClipSpec)| {
            let mut clip = ClipSpec::new("a", "a.mp4");
            f(&mut clip);
            comp().push_clip(clip).map_err(|e| e.location)
        };
        assert_eq!(with(&|c| c.end = Some(Rational::ZERO)), Err("clips[0].end".into()));
        assert_eq!(
            with(&|c| c.media_start = Rational::from_int(-1)),
            Err("clips[0].mediaStart".into())
        );
        assert_eq!(
            with(&|c| c.playback_rate = Rational::new(1, 20)),
            Err("clips[0].playbackRate".into())
        );
        assert_eq!(
            with(&|c| c.playback_rate = Rational::from_int(6)),
            Err("clips[0].playbackRate".into())
        );
        assert_eq!(with(&|c| c.src = " ".into()), Err("clips[0].src".into()));
        assert_eq!(with(&|c| c.start = Rational::from_int(-2)), Ok(()));
        // Finer than a microsecond: not something any decimal input gives, and a risk of
        // overflow in the window arithmetic.
        assert_eq!(
            with(&|c| c.start = Rational::new(1, 10_000_000)),
            Err("clips[0].start".into())
        );
        assert_eq!(
            with(&|c| c.playback_rate = Rational::new(1_000_001, 1_000_003)),
            Err("clips[0].playbackRate".into())
        );
    }

    #[test]
    fn a_drawn_size_keeps_the_aspect_and_never_upscales() {
        let b = |w, h| DrawSize::new(w, h);
        // Width only: height from the aspect, rounded to even as scale=W:-2.
        assert_eq!(b(Some(640), None).fit(1920, 1080), Some((640, 360)));
        assert_eq!(b(Some(500), None).fit(1920, 1080), Some((500, 282))); // 281.25 → 282
        assert_eq!(b(None, Some(270)).fit(1920, 1080), Some((480, 270)));
        // A box: the side that binds.
        assert_eq!(b(Some(960), Some(960)).fit(1920, 1080), Some((960, 540)));
        assert_eq!(b(Some(960), Some(300)).fit(1920, 1080), Some((534, 300)));
        assert_eq!(b(Some(640), Some(640)).fit(1080, 1920), Some((360, 640)));
        // Odd sides round down to even.
        assert_eq!(b(Some(641), None).fit(1920, 1080), Some((640, 360)));
        // Never up, and a box the picture fits in changes nothing.
        assert_eq!(b(Some(4000), Some(4000)).fit(1920, 1080), None);
        assert_eq!(b(Some(1920), None).fit(1920, 1080), None);
        assert_eq!(DrawSize::NONE.fit(1920, 1080), None);
        assert_eq!(b(Some(1920), Some(100)).fit(64, 48), None);
        // Combining boxes: the smaller side wins.
        assert_eq!(
            b(Some(640), None).within(b(Some(1280), Some(300))),
            b(Some(640), Some(300))
        );
        assert_eq!(DrawSize::parse("1280x720"), Some(b(Some(1280), Some(720))));
        assert_eq!(DrawSize::parse(" 640 X 360 "), Some(b(Some(640), Some(360))));
        for bad in ["640", "0x10", "x", "640x", "-5x5", "1x1", "20000x5"] {
            assert_eq!(DrawSize::parse(bad), None, "{bad}");
        }
        let mut clip = ClipSpec::new("a", "a.mp4");
        clip.size = b(Some(0), None);
        assert_eq!(comp().push_clip(clip).unwrap_err().location, "clips[0].width");
    }

    #[test]
    fn quality_and_timeline_end_are_checked() {
        let mut c = comp();
        assert!(c.set_quality(0).is_err() && c.set_quality(101).is_err());
        c.set_quality(80).unwrap();
        assert_eq!(c.quality(), 80);
        assert!(c.set_timeline_end(Some(Rational::from_int(-1))).is_err());
        c.set_timeline_end(Some(Rational::new(5, 2))).unwrap();
        assert_eq!(c.timeline_end(), Some(Rational::new(5, 2)));
    }

    #[test]
    fn the_frame_rate_is_checked() {
        assert!(Composition::new(Rational::ZERO, ".").is_err());
        assert!(Composition::new(Rational::from_int(1001), ".").is_err());
        let mut c = comp();
        assert!(c.set_fps(Rational::from_int(-30)).is_err());
        assert_eq!(c.fps(), Rational::from_int(30));
        c.set_fps(Rational::new(30000, 1001)).unwrap();
        assert_eq!(c.fps(), Rational::new(30000, 1001));
    }

    #[test]
    fn a_manifest_value_reads_like_its_text() {
        let text = r#"{"fps": "30000/1001", "videos": [{"id": "a", "src": "a.mp4", "end": 2.5}]}"#;
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        let from_value = Composition::from_manifest_value(&value, "comp", std::path::Path::new("/p")).unwrap();
        let from_text = manifest::parse_manifest(text, "comp", std::path::Path::new("/p")).unwrap();
        assert_eq!(from_value.fps(), from_text.fps());
        assert_eq!(from_value.clips(), from_text.clips());
        let bad: serde_json::Value = serde_json::from_str(r#"{"videos": [{"id": "../a", "src": "a.mp4"}]}"#).unwrap();
        let e = Composition::from_manifest_value(&bad, "comp", std::path::Path::new("/p")).unwrap_err();
        assert_eq!(e.location, "comp: videos[0].id");
    }

    #[test]
    fn the_reader_follows_the_extension() {
        let dir = tempfile::tempdir().unwrap();
        let html = dir.path().join("index.HTML");
        std::fs::write(&html, r#"<video id="v" src="a.mp4"></video>"#).unwrap();
        assert_eq!(read_composition(&html).unwrap().clips()[0].id, "v");
        let json = dir.path().join("comp.json");
        std::fs::write(&json, r#"{"videos": [{"id": "j", "src": "a.mp4"}]}"#).unwrap();
        assert_eq!(read_composition(&json).unwrap().clips()[0].id, "j");
    }
}
