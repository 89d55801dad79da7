//! `framex probe FILE`: the metadata JSON (checked against ffprobe) and failure on bad files.

use crate::common::*;
use serde_json::Value;

fn probe_ok(w: &Work, file: &std::path::Path) -> Value {
    let run = w.probe(file);
    assert_eq!(run.code(), Some(0), "probe should succeed\n{run}");
    run.json
        .clone()
        .unwrap_or_else(|| panic!("probe stdout should be JSON\n{run}"))
}

fn num(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or_else(|| panic!("{k} should be a number: {v}"))
}

#[test]
fn probe_cfr_clip() {
    let w = Work::new();
    let f = w.add("clip.mp4", &cfr30());
    let p = probe_ok(&w, &f);
    assert_eq!(p["codec"], "h264", "{p}");
    assert_eq!(
        (p["width"].as_u64(), p["height"].as_u64()),
        (Some(320), Some(180)),
        "{p}"
    );
    assert_eq!(
        (p["displayWidth"].as_u64(), p["displayHeight"].as_u64()),
        (Some(320), Some(180)),
        "{p}"
    );
    assert_eq!(p["rotation"].as_i64(), Some(0), "{p}");
    assert_eq!(p["pixelFormat"], "yuv420p", "{p}");
    assert_eq!(p["alpha"], false, "{p}");
    assert_eq!(p["avgFrameRate"], "30/1", "{p}");
    assert_eq!(p["realFrameRate"], "30/1", "{p}");
    assert_eq!(p["vfr"], false, "{p}");
    assert_eq!(p["timeBase"], "1/15360", "{p}");
    assert!((num(&p, "duration") - 5.0).abs() < 1e-3, "{p}");
    assert!(num(&p, "streamStart").abs() < 1e-6, "{p}");
    let pk = packets(&f);
    assert_eq!(
        p["frameCount"].as_u64(),
        Some(pk.len() as u64),
        "frameCount = ffprobe packet count: {p}"
    );
    assert_eq!(p["frameCount"].as_u64(), Some(150));
    let keys = pk.iter().filter(|k| k.key).count() as u64;
    assert_eq!(
        p["keyframeCount"].as_u64(),
        Some(keys),
        "keyframeCount = ffprobe key packets: {p}"
    );
    for k in ["matrix", "range", "primaries", "transfer"] {
        assert!(p["color"].get(k).is_some(), "color.{k} should be present: {p}");
    }
}

#[test]
fn probe_vfr_clip() {
    let w = Work::new();
    let f = w.add("vfr.mp4", &vfr());
    let p = probe_ok(&w, &f);
    assert_eq!(p["vfr"], true, "{p}");
    assert_eq!(p["keyframeCount"].as_u64(), Some(1), "{p}");
    let pk = packets(&f);
    assert_eq!(
        p["frameCount"].as_u64(),
        Some(pk.len() as u64),
        "frameCount = ffprobe packet count: {p}"
    );
    assert_eq!(p["realFrameRate"], "60/1", "{p}");
    assert!((num(&p, "duration") - 10.0).abs() < 0.02, "{p}");
    assert_eq!(
        (p["width"].as_u64(), p["height"].as_u64()),
        (Some(320), Some(180)),
        "{p}"
    );
}

/// Rotation convention (the brief's): `rotation` is the clockwise rotation that makes the
/// picture upright, in [0, 360) — the negation of ffprobe's display-matrix `rotation`, which is
/// counter-clockwise. A phone's portrait clip (ffprobe: -90) is therefore 90.
#[test]
fn probe_rotated_clips() {
    let w = Work::new();
    for (name, fixture, cw) in [("phone.mp4", rot_phone(), 90), ("ccw.mp4", rot_ccw(), 270)] {
        let f = w.add(name, &fixture);
        assert_eq!((-ffprobe_rotation(&f)).rem_euclid(360), cw, "fixture check");
        let p = probe_ok(&w, &f);
        let rot = p["rotation"]
            .as_i64()
            .unwrap_or_else(|| panic!("{name}: rotation should be an integer: {p}"));
        assert_eq!(
            rot.rem_euclid(360),
            cw,
            "{name}: clockwise rotation to make upright: {p}"
        );
        assert_eq!(
            (p["width"].as_u64(), p["height"].as_u64()),
            (Some(320), Some(180)),
            "{name}: {p}"
        );
        assert_eq!(
            (p["displayWidth"].as_u64(), p["displayHeight"].as_u64()),
            (Some(180), Some(320)),
            "{name}: {p}"
        );
    }
}

#[test]
fn probe_vp9_alpha() {
    let w = Work::new();
    let f = w.add("alpha.webm", &alpha_webm());
    let p = probe_ok(&w, &f);
    assert_eq!(p["codec"], "vp9", "{p}");
    assert_eq!(p["alpha"], true, "{p}");
    assert_eq!(p["timeBase"], "1/1000", "{p}");
    assert_eq!(p["frameCount"].as_u64(), Some(60), "{p}");
}

#[test]
fn probe_rejects_files_that_are_not_video() {
    let w = Work::new();
    let text = w.write("notes.mp4", b"not a video\n");
    let empty = w.write("empty.mp4", b"");
    let missing = w.path().join("missing.mp4");
    for f in [&text, &empty, &missing] {
        let run = w.probe(f);
        assert_eq!(
            run.code(),
            Some(1),
            "{}: probe should fail with exit 1\n{run}",
            f.display()
        );
        assert!(
            !run.stderr.trim().is_empty(),
            "{}: message on stderr\n{run}",
            f.display()
        );
        assert!(run.json.is_none(), "{}: no JSON on stdout\n{run}", f.display());
    }
}
