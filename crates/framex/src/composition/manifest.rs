//! The JSON manifest (`comp.json`): parsing and validation with errors that name the field.
//!
//! ```json
//! { "fps": 30, "format": "auto", "quality": 95, "tonemap": false, "timelineEnd": 20,
//!   "frames": [0, 300],
//!   "videos": [ { "id": "intro", "src": "media/intro.mp4", "start": 0, "end": 4,
//!                 "mediaStart": 3, "loop": false, "playbackRate": 1, "hasAudio": false,
//!                 "width": 640, "height": 360, "fit": "640x360" } ] }
//! ```

use std::collections::HashSet;
use std::path::Path;

use serde_json::{Map, Value};

use super::slice::FrameRange;
use super::{check_end, check_id, check_media_start, check_playback_rate, check_side};
use super::{ClipSpec, Composition, DrawSize, FormatChoice, InputError};
use crate::time::Rational;

/// Frame-rate fallback when neither the manifest nor the caller gives one.
pub const DEFAULT_FPS: i64 = 30;
/// JPEG quality default (≈ ffmpeg `-q:v 2`, HyperFrames' default).
pub const DEFAULT_QUALITY: u8 = 95;

const TOP_FIELDS: &[&str] = &["fps", "format", "quality", "tonemap", "timelineEnd", "frames", "videos"];
const CLIP_FIELDS: &[&str] = &[
    "id",
    "src",
    "start",
    "end",
    "mediaStart",
    "loop",
    "playbackRate",
    "hasAudio",
    "width",
    "height",
    "fit",
];

/// Reads and validates a manifest file. Relative sources resolve against its folder.
pub fn read_manifest(path: &Path) -> Result<Composition, InputError> {
    let text = std::fs::read_to_string(path).map_err(|e| InputError {
        location: path.display().to_string(),
        message: format!("cannot read the manifest: {e}"),
    })?;
    let base = path
        .parent()
        .map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p })
        .unwrap_or(Path::new("."));
    parse_manifest(&text, &path.display().to_string(), base)
}

/// Parses manifest text. `name` is used in error locations; `base_dir` resolves relative `src`.
pub fn parse_manifest(text: &str, name: &str, base_dir: &Path) -> Result<Composition, InputError> {
    let root: Value = serde_json::from_str(text).map_err(|e| InputError {
        location: format!("{name}:{}:{}", e.line(), e.column()),
        message: format!("invalid JSON: {e}"),
    })?;
    from_value(&root, name, base_dir)
}

/// Validates a manifest already parsed into a JSON value ([`Composition::from_manifest_value`]).
pub(super) fn from_value(root: &Value, name: &str, base_dir: &Path) -> Result<Composition, InputError> {
    let err = |field: &str, message: String| InputError {
        location: format!("{name}: {field}"),
        message,
    };
    let obj = root
        .as_object()
        .ok_or_else(|| err("(top level)", "expected an object with \"fps\" and \"videos\"".into()))?;
    reject_unknown(obj, TOP_FIELDS, "", &err)?;

    let fps = match obj.get("fps") {
        None | Some(Value::Null) => Rational::from_int(DEFAULT_FPS),
        Some(v) => parse_fps_value(v).ok_or_else(|| {
            err(
                "fps",
                format!("expected a positive number up to 1000 or \"num/den\", got {v}"),
            )
        })?,
    };
    let format = match obj.get("format") {
        None | Some(Value::Null) => FormatChoice::Auto,
        Some(Value::String(s)) => FormatChoice::parse(s)
            .ok_or_else(|| err("format", format!("expected \"auto\", \"jpg\" or \"png\", got {s:?}")))?,
        Some(v) => return Err(err("format", format!("expected a string, got {v}"))),
    };
    let quality = match obj.get("quality") {
        None | Some(Value::Null) => DEFAULT_QUALITY,
        Some(v) => match v.as_u64() {
            Some(q @ 1..=100) => q as u8,
            _ => return Err(err("quality", format!("expected an integer from 1 to 100, got {v}"))),
        },
    };
    let tonemap = match obj.get("tonemap") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => return Err(err("tonemap", format!("expected true or false, got {v}"))),
    };
    let timeline_end = match obj.get("timelineEnd") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let t = number(v).ok_or_else(|| err("timelineEnd", format!("expected a number, got {v}")))?;
            if t.is_negative() {
                return Err(err("timelineEnd", "must not be negative".into()));
            }
            Some(t)
        }
    };
    let frames = match obj.get("frames") {
        None | Some(Value::Null) => None,
        Some(v) => Some(parse_frames(v).map_err(|m| err("frames", m))?),
    };
    let videos = match obj.get("videos") {
        Some(Value::Array(a)) => a,
        Some(v) => return Err(err("videos", format!("expected an array of clips, got {v}"))),
        None => return Err(err("videos", "missing: list the clips under \"videos\"".into())),
    };

    let mut clips = Vec::with_capacity(videos.len());
    let mut ids = HashSet::new();
    for (i, v) in videos.iter().enumerate() {
        let clip = parse_clip(v, i, &err)?;
        if !ids.insert(clip.id.clone()) {
            return Err(err(&format!("videos[{i}].id"), format!("duplicate id {:?}", clip.id)));
        }
        clips.push(clip);
    }
    Ok(Composition {
        fps,
        format,
        quality,
        tonemap,
        timeline_end,
        clips,
        frames,
        base_dir: base_dir.to_path_buf(),
        max_size: DrawSize::NONE,
    })
}

/// `"frames": [A, B]`: composition frames `A ≤ n < B`.
fn parse_frames(v: &Value) -> Result<FrameRange, String> {
    let expected = || format!("expected [start, end] composition frame numbers (integers), got {v}");
    match v.as_array().map(|a| a.as_slice()) {
        Some([a, b]) => {
            let (a, b) = a.as_u64().zip(b.as_u64()).ok_or_else(expected)?;
            FrameRange::new(a, b).map_err(|e| e.message)
        }
        _ => Err(expected()),
    }
}

fn reject_unknown(
    obj: &Map<String, Value>,
    known: &[&str],
    prefix: &str,
    err: &impl Fn(&str, String) -> InputError,
) -> Result<(), InputError> {
    for key in obj.keys() {
        if !known.contains(&key.as_str()) {
            let hint = known
                .iter()
                .find(|k| k.eq_ignore_ascii_case(key))
                .map(|k| format!(" (did you mean \"{k}\"?)"))
                .unwrap_or_default();
            return Err(err(
                &format!("{prefix}{key}"),
                format!("unknown field{hint}; known fields: {}", known.join(", ")),
            ));
        }
    }
    Ok(())
}

fn parse_clip(v: &Value, i: usize, err: &impl Fn(&str, String) -> InputError) -> Result<ClipSpec, InputError> {
    let f = |name: &str| format!("videos[{i}].{name}");
    let obj = v
        .as_object()
        .ok_or_else(|| err(&format!("videos[{i}]"), format!("expected a clip object, got {v}")))?;
    reject_unknown(obj, CLIP_FIELDS, &format!("videos[{i}]."), err)?;

    let id = match obj.get("id") {
        None | Some(Value::Null) => format!("hf-video-{i}"),
        Some(Value::String(s)) => s.clone(),
        Some(v) => return Err(err(&f("id"), format!("expected a string, got {v}"))),
    };
    check_id(&id).map_err(|m| err(&f("id"), m))?;
    let src = match obj.get("src") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) => return Err(err(&f("src"), "must not be empty".into())),
        Some(v) => return Err(err(&f("src"), format!("expected a path or URL string, got {v}"))),
        None => return Err(err(&f("src"), "missing: every clip needs a source".into())),
    };
    let time = |name: &str| -> Result<Option<Rational>, InputError> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => number(v)
                .map(Some)
                .ok_or_else(|| err(&f(name), format!("expected a number of seconds, got {v}"))),
        }
    };
    let flag = |name: &str| -> Result<bool, InputError> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(err(&f(name), format!("expected true or false, got {v}"))),
        }
    };
    let start = time("start")?.unwrap_or(Rational::ZERO);
    let end = time("end")?;
    check_end(start, end).map_err(|m| err(&f("end"), m))?;
    let media_start = time("mediaStart")?.unwrap_or(Rational::ZERO);
    check_media_start(media_start).map_err(|m| err(&f("mediaStart"), m))?;
    let playback_rate = time("playbackRate")?.unwrap_or(Rational::ONE);
    check_playback_rate(playback_rate).map_err(|m| err(&f("playbackRate"), m))?;
    let side = |name: &str, v: &Value| -> Result<u32, InputError> {
        let px = v.as_u64().and_then(|n| u32::try_from(n).ok());
        let px = px.ok_or_else(|| err(&f(name), format!("expected a whole number of pixels, got {v}")))?;
        check_side(px).map_err(|m| err(&f(name), m))?;
        Ok(px)
    };
    let mut size = DrawSize::NONE;
    for name in ["width", "height"] {
        let Some(v) = obj.get(name).filter(|v| !v.is_null()) else {
            continue;
        };
        let px = Some(side(name, v)?);
        size = size.within(if name == "width" {
            DrawSize::new(px, None)
        } else {
            DrawSize::new(None, px)
        });
    }
    match obj.get("fit") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            let fit = DrawSize::parse(s).ok_or_else(|| {
                err(
                    &f("fit"),
                    format!(
                        "expected \"WxH\" with whole numbers of pixels from 2 to {}, got {s:?}",
                        super::MAX_DRAW_SIDE
                    ),
                )
            })?;
            size = size.within(fit);
        }
        Some(Value::Object(o)) => {
            reject_unknown(o, &["width", "height"], &format!("videos[{i}].fit."), err)?;
            let get = |name: &str| match o.get(name) {
                Some(v) => side(&format!("fit.{name}"), v).map(Some),
                None => Err(err(
                    &f(&format!("fit.{name}")),
                    "missing: a fit box has a width and a height".into(),
                )),
            };
            size = size.within(DrawSize::new(get("width")?, get("height")?));
        }
        Some(v) => {
            return Err(err(
                &f("fit"),
                format!("expected \"WxH\" or {{\"width\": W, \"height\": H}}, got {v}"),
            ))
        }
    }
    Ok(ClipSpec {
        id,
        src,
        start,
        end,
        media_start,
        looping: flag("loop")?,
        playback_rate,
        has_audio: flag("hasAudio")?,
        size,
    })
}

/// A JSON number (read exactly via its shortest decimal spelling) or a numeric string.
fn number(v: &Value) -> Option<Rational> {
    match v {
        Value::Number(n) => Rational::from_f64_decimal(n.as_f64()?),
        Value::String(s) => Rational::parse_decimal(s),
        _ => None,
    }
}

fn parse_fps_value(v: &Value) -> Option<Rational> {
    match v {
        Value::Number(_) => number(v).and_then(Rational::checked_rate),
        Value::String(s) => Rational::parse_rate(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Composition, InputError> {
        parse_manifest(text, "comp.json", Path::new("/p"))
    }

    #[test]
    fn full_manifest() {
        let c = parse(
            r#"{ "fps": "30000/1001", "format": "png", "quality": 80, "tonemap": true, "timelineEnd": 20,
                 "videos": [ { "id": "intro", "src": "media/intro.mp4", "start": 0, "end": 4,
                 "mediaStart": 3, "loop": true, "playbackRate": 2, "hasAudio": false } ] }"#,
        )
        .unwrap();
        assert_eq!(c.fps, Rational::new(30000, 1001));
        assert_eq!(c.format, FormatChoice::Png);
        assert_eq!(c.quality, 80);
        assert!(c.tonemap);
        assert_eq!(c.timeline_end, Some(Rational::from_int(20)));
        let v = &c.clips[0];
        assert_eq!(v.end, Some(Rational::from_int(4)));
        assert_eq!(v.media_start, Rational::from_int(3));
        assert!(v.looping);
        assert_eq!(v.playback_rate, Rational::from_int(2));
    }

    #[test]
    fn defaults_and_generated_ids() {
        let c = parse(r#"{"videos":[{"src":"a.mp4"},{"src":"b.mp4","mediaStart":2.5}]}"#).unwrap();
        assert_eq!(c.fps, Rational::from_int(30));
        assert_eq!(c.quality, 95);
        assert!(!c.tonemap);
        assert_eq!(c.clips[0].id, "hf-video-0");
        assert_eq!(c.clips[1].media_start, Rational::new(5, 2));
        assert_eq!(c.clips[1].end, None);
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse(r#"{"fps":30,"videos":[{"src":"a.mp4","start":"x"}]}"#).unwrap_err();
        assert_eq!(e.location, "comp.json: videos[0].start");
        let e = parse(r#"{"fps":0,"videos":[]}"#).unwrap_err();
        assert_eq!(e.location, "comp.json: fps");
        let e = parse(r#"{"tonemap":"yes","videos":[]}"#).unwrap_err();
        assert_eq!(e.location, "comp.json: tonemap");
        let e = parse(r#"{"videos":[{"src":"a.mp4","mediastart":1}]}"#).unwrap_err();
        assert!(e.message.contains("did you mean \"mediaStart\""), "{}", e.message);
        let e = parse(r#"{"videos":[{"id":"a","src":"a.mp4"},{"id":"a","src":"b.mp4"}]}"#).unwrap_err();
        assert_eq!(e.location, "comp.json: videos[1].id");
        let e = parse(r#"{"videos":[{"id":"../x","src":"a.mp4"}]}"#).unwrap_err();
        assert_eq!(e.location, "comp.json: videos[0].id");
        let e = parse("{\n  \"fps\": 30,\n  \"videos\": [\n}").unwrap_err();
        assert!(e.location.starts_with("comp.json:4:"), "{}", e.location);
        let e = parse(r#"{"videos":[{"src":"a.mp4","start":2,"end":1}]}"#).unwrap_err();
        assert_eq!(e.location, "comp.json: videos[0].end");
        let e = parse(r#"{"fps":30}"#).unwrap_err();
        assert_eq!(e.location, "comp.json: videos");
    }

    #[test]
    fn drawn_sizes_are_read_and_checked() {
        let size = |clip: &str| parse(&format!(r#"{{"videos":[{clip}]}}"#)).map(|c| c.clips[0].size);
        assert_eq!(size(r#"{"src":"a.mp4"}"#).unwrap(), DrawSize::NONE);
        assert_eq!(
            size(r#"{"src":"a.mp4","width":640}"#).unwrap(),
            DrawSize::new(Some(640), None)
        );
        assert_eq!(
            size(r#"{"src":"a.mp4","height":360}"#).unwrap(),
            DrawSize::new(None, Some(360))
        );
        assert_eq!(
            size(r#"{"src":"a.mp4","fit":"1280x720"}"#).unwrap(),
            DrawSize::new(Some(1280), Some(720))
        );
        // Several bounds: the smaller side wins.
        assert_eq!(
            size(r#"{"src":"a.mp4","width":640,"fit":{"width":1280,"height":300}}"#).unwrap(),
            DrawSize::new(Some(640), Some(300))
        );
        for (clip, field) in [
            (r#"{"src":"a.mp4","width":0}"#, "videos[0].width"),
            (r#"{"src":"a.mp4","width":640.5}"#, "videos[0].width"),
            (r#"{"src":"a.mp4","height":"360"}"#, "videos[0].height"),
            (r#"{"src":"a.mp4","height":99999}"#, "videos[0].height"),
            (r#"{"src":"a.mp4","fit":"640"}"#, "videos[0].fit"),
            (r#"{"src":"a.mp4","fit":true}"#, "videos[0].fit"),
            (r#"{"src":"a.mp4","fit":{"width":640}}"#, "videos[0].fit.height"),
            (
                r#"{"src":"a.mp4","fit":{"width":640,"height":1}}"#,
                "videos[0].fit.height",
            ),
            (
                r#"{"src":"a.mp4","fit":{"width":640,"height":2,"depth":3}}"#,
                "videos[0].fit.depth",
            ),
        ] {
            assert_eq!(
                size(clip).unwrap_err().location,
                format!("comp.json: {field}"),
                "{clip}"
            );
        }
    }

    #[test]
    fn a_slice_of_the_timeline_is_a_pair_of_frame_numbers() {
        let c = parse(r#"{"frames": [30, 90], "videos": []}"#).unwrap();
        assert_eq!(c.frames(), Some(FrameRange { start: 30, end: 90 }));
        for bad in [
            r#"[90, 30]"#,
            r#"[5, 5]"#,
            r#"[1]"#,
            r#"[0.5, 3]"#,
            r#""0..3""#,
            r#"[-1, 3]"#,
        ] {
            let e = parse(&format!(r#"{{"frames": {bad}, "videos": []}}"#)).unwrap_err();
            assert_eq!(e.location, "comp.json: frames", "{bad}");
        }
        let e = parse(r#"{"Frames": [0, 3], "videos": []}"#).unwrap_err();
        assert!(e.message.contains("did you mean \"frames\""), "{}", e.message);
    }
}
