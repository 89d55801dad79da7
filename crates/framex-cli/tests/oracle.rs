//! Self-checks of the test tooling, independent of framex: the fixtures are what they claim to
//! be, and the frame-identity oracle can tell every source frame from every other one after a
//! JPEG/PNG round trip (so a frame-identity failure elsewhere is framex's, not the oracle's).

use std::path::Path;

use crate::common::*;

/// Encodes every frame of `src` with the ffmpeg CLI the way framex would (JPEG `-q:v 2`, or PNG),
/// then requires the oracle to map each image back to its own source frame with a clear margin.
fn round_trip_is_identified(src: &Path, ext: &str, size: Size, plane: Plane) {
    let work = Work::new();
    let dir = work.path().join("frames");
    std::fs::create_dir_all(&dir).unwrap();
    let mut c = ffmpeg();
    if src.extension().is_some_and(|e| e == "webm") {
        c.args(["-c:v", "libvpx-vp9"]);
    }
    c.arg("-i").arg(src).args(["-map", "0:v:0", "-fps_mode", "passthrough"]);
    if ext == "jpg" {
        c.args(["-q:v", "2"]);
    } else {
        c.args(["-pix_fmt", "rgba"]);
    }
    c.arg(dir.join(format!("frame_%05d.{ext}")));
    run_tool(&mut c);

    let times = source_times(src);
    let sources = video_rasters(src, size, plane);
    let outputs = image_rasters(&dir, ext, size, plane);
    let identity: Vec<usize> = (0..sources.len()).collect();
    assert_frames_match(
        &format!("{} round trip", src.display()),
        &outputs,
        &sources,
        &times,
        &identity,
    );

    // Margin: the nearest *other* source frame is far further than the round-trip error.
    let mut worst = f64::INFINITY;
    for (k, img) in outputs.iter().enumerate() {
        let own = sse(img, &sources[k]).max(1) as f64;
        let other = sources
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != k)
            .map(|(_, s)| sse(img, s))
            .min()
            .unwrap() as f64;
        worst = worst.min(other / own);
    }
    eprintln!(
        "{}: {ext} {plane:?} worst margin (nearest other / own SSE) = {worst:.1}",
        src.display()
    );
    assert!(
        worst > 3.0,
        "{}: frames are not distinguishable with a safe margin ({worst:.2})",
        src.display()
    );
}

#[test]
fn oracle_identifies_cfr30_frames() {
    round_trip_is_identified(&cfr30(), "jpg", LANDSCAPE, Plane::Luma);
}

#[test]
fn oracle_identifies_cfr24_frames() {
    round_trip_is_identified(&cfr24(), "jpg", LANDSCAPE, Plane::Luma);
}

#[test]
fn oracle_identifies_vfr_frames() {
    round_trip_is_identified(&vfr(), "jpg", LANDSCAPE, Plane::Luma);
}

#[test]
fn oracle_identifies_short_and_rotated_frames() {
    round_trip_is_identified(&short2s(), "jpg", LANDSCAPE, Plane::Luma);
    round_trip_is_identified(&rot_phone(), "jpg", PORTRAIT, Plane::Luma);
    round_trip_is_identified(&rot_ccw(), "jpg", PORTRAIT, Plane::Luma);
}

#[test]
fn oracle_identifies_alpha_frames_by_colour_and_by_alpha() {
    round_trip_is_identified(&alpha_webm(), "png", LANDSCAPE, Plane::Luma);
    round_trip_is_identified(&alpha_webm(), "png", LANDSCAPE, Plane::Alpha);
}

#[test]
fn oracle_sampling_rule_matches_hand_computed_cases() {
    // 30 fps mp4 (time base 1/15360): from 2.5 s, output k shows source frame 75 + k.
    let t = source_times(&cfr30());
    assert_eq!(t.times.len(), 150);
    let fps = Q::int(30);
    let e = t.expected(Q::int(2), Q::parse("2.5"), Q::int(1), fps, false);
    assert_eq!(e, (75..135).collect::<Vec<_>>());
    // 24 fps at 30: floor(k * 24 / 30).
    let t = source_times(&cfr24());
    let e = t.expected(Q::int(2), Q::ZERO, Q::int(1), fps, false);
    assert_eq!(e, (0..60).map(|k| k * 24 / 30).collect::<Vec<_>>());
    // WebM stores 30 fps times in whole ms (0, 33, 67, 100…): the tolerance keeps frame 2 at
    // 66.67 ms.
    let t = source_times(&alpha_webm());
    assert_eq!(t.tick, Q::new(1, 1000));
    let e = t.expected(Q::int(2), Q::ZERO, Q::int(1), fps, false);
    assert_eq!(e, (0..60).collect::<Vec<_>>());
    // Loop of a 2 s source in a 5 s clip: 150 frames, wrapping at 60.
    let t = source_times(&short2s());
    let e = t.expected(Q::int(5), Q::ZERO, Q::int(1), fps, true);
    assert_eq!(e.len(), 150);
    assert_eq!(e, (0..150).map(|k| k % 60).collect::<Vec<_>>());
    // Non-looping past the end: 2 s source, mediaStart 1, 5 s window -> 30 frames, 30..59.
    let e = t.expected(Q::int(5), Q::int(1), Q::int(1), fps, false);
    assert_eq!(e, (30..60).collect::<Vec<_>>());
}
