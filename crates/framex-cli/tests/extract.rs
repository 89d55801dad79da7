//! `framex extract`: which source frame every output file shows (contract §2), how many files a clip
//! gets, held frames, VFR, alpha, rotation and loops. Every frame is identified with the oracle
//! of `common` (minimum SSE over all source frames must be the frame the sampling rule names).

use std::os::unix::fs::MetadataExt;

use crate::common::*;
use serde_json::json;

/// The oracle's expected source frame for every output frame of a rate-1 clip of `src`.
fn expected_for(src: &std::path::Path, window: &str, media_start: &str, fps: &str, looping: bool) -> Vec<usize> {
    source_times(src).expected(
        Q::parse(window),
        Q::parse(media_start),
        Q::int(1),
        Q::parse(fps),
        looping,
    )
}

#[test]
fn cfr_30_to_30_window_from_the_middle_shows_exact_source_frames() {
    let w = Work::new();
    let src = w.add("clip.mp4", &cfr30());
    let run = w.extract(
        &manifest(json!(30), vec![clip("a", "clip.mp4", 0.0, 2.0, 2.5, false)]),
        &[],
    );
    run.assert_ok();
    let expected = expected_for(&src, "2", "2.5", "30", false);
    // The oracle agrees with the hand computation: 60 frames, source frames 75..=134.
    assert_eq!(expected, (75..135).collect::<Vec<_>>());
    check_clip(&run, &w, "a", &src, "jpg", LANDSCAPE, &expected);
    let c = run.clip("a");
    assert_eq!(c["fps"].as_f64(), Some(30.0), "{run}");
    assert!(
        c["src"].as_str().is_some_and(|s| s.ends_with("clip.mp4")),
        "result src\n{run}"
    );
    assert_eq!(run.result()["totalFrames"].as_u64(), Some(60), "{run}");
    // Opaque H.264 at 320x180 comes out as 320x180 JPEG.
    assert_eq!(dimensions(&w.files("a")[0]), (320, 180));
}

#[test]
fn cfr_30_source_at_ntsc_rate_shows_exact_source_frames() {
    let w = Work::new();
    let src = w.add("clip.mp4", &cfr30());
    let run = w.extract(
        &manifest(json!("30000/1001"), vec![clip("a", "clip.mp4", 0.0, 2.0, 2.5, false)]),
        &[],
    );
    run.assert_ok();
    let expected = expected_for(&src, "2", "2.5", "30000/1001", false);
    // Samples at k·1001/30000 < 2 s: k = 0..=59; source frame 75 + floor(k·1.001) — the
    // one-frame skip first appears at k = 1000, so in 60 frames this is 75 + k, yet the count
    // and times are the NTSC ones.
    assert_eq!(expected.len(), 60);
    check_clip(&run, &w, "a", &src, "jpg", LANDSCAPE, &expected);
    let fps = run.clip("a")["fps"].as_f64().unwrap();
    assert!((fps - 30000.0 / 1001.0).abs() < 1e-6, "fps {fps}\n{run}");
}

#[test]
fn ntsc_rate_over_a_long_window_skips_a_source_frame_where_the_rule_says() {
    // 4.9 s of the 5 s source at 30000/1001 from 0: 147 frames (k·1001/30000 < 4.9). The rule
    // gives floor(k·1.001 + tolerance) — same as k until the NTSC drift crosses a whole frame,
    // which does not happen in 147 frames, so this mainly checks the count at a non-integer
    // boundary: 146·1001/30000 = 4.8715 < 4.9 <= 147·1001/30000 = 4.9049.
    let w = Work::new();
    let src = w.add("clip.mp4", &cfr30());
    let run = w.extract(
        &manifest(json!("30000/1001"), vec![clip("a", "clip.mp4", 0.0, 4.9, 0.0, false)]),
        &[],
    );
    run.assert_ok();
    let expected = expected_for(&src, "4.9", "0", "30000/1001", false);
    assert_eq!(expected.len(), 147);
    check_clip(&run, &w, "a", &src, "jpg", LANDSCAPE, &expected);
}

#[test]
fn source_24_at_30_holds_frames_and_encodes_each_source_frame_once() {
    let w = Work::new();
    let src = w.add("clip.mp4", &cfr24());
    let run = w.extract(
        &manifest(json!(30), vec![clip("a", "clip.mp4", 0.0, 2.0, 0.0, false)]),
        &[],
    );
    run.assert_ok();
    let expected = expected_for(&src, "2", "0", "30", false);
    assert_eq!(expected, (0..60).map(|k| k * 24 / 30).collect::<Vec<_>>());
    check_clip(&run, &w, "a", &src, "jpg", LANDSCAPE, &expected);

    let distinct_frames = distinct(&expected) as u64; // 48
    assert_eq!(distinct_frames, 48);
    assert_eq!(
        run.breakdown("framesEncoded"),
        distinct_frames,
        "each source frame encoded once\n{run}"
    );
    assert_eq!(
        run.breakdown("framesLinked"),
        60 - distinct_frames,
        "held frames are links\n{run}"
    );
    assert_eq!(
        run.breakdown("crossFsCopies"),
        0,
        "out and cache are on one filesystem\n{run}"
    );

    // A held frame is the same file content as its first showing (hard-linked: same inode).
    let files = w.files("a");
    for k in 1..files.len() {
        if expected[k] == expected[k - 1] {
            let (a, b) = (
                std::fs::metadata(&files[k - 1]).unwrap(),
                std::fs::metadata(&files[k]).unwrap(),
            );
            assert_eq!(
                (a.dev(), a.ino()),
                (b.dev(), b.ino()),
                "{} and {} show the same source frame and should be one hard-linked file",
                files[k - 1].display(),
                files[k].display()
            );
        }
    }
}

#[test]
fn vfr_clip_holds_frames_through_gaps() {
    let w = Work::new();
    let src = w.add("vfr.mp4", &vfr());
    let run = w.extract(
        &manifest(json!(30), vec![clip("v", "vfr.mp4", 0.0, 4.0, 3.0, false)]),
        &[],
    );
    run.assert_ok();
    let expected = expected_for(&src, "4", "3", "30", false);
    assert_eq!(expected.len(), 120);
    // Media 3.0..4.0 lies in a gap: the frame before it (t = 2.983) is held for ~30 outputs.
    let t = source_times(&src);
    let held = expected.iter().filter(|&&i| i == expected[0]).count();
    assert!(held >= 30, "oracle: frame at the gap should be held ({held})");
    assert!((t.times[expected[0]].f64() - 2.98333).abs() < 1e-3);
    check_clip(&run, &w, "v", &src, "jpg", LANDSCAPE, &expected);
    assert_eq!(
        run.breakdown("framesEncoded"),
        distinct(&expected) as u64,
        "held VFR frames encoded once\n{run}"
    );
    assert_eq!(run.breakdown("framesLinked"), 120 - distinct(&expected) as u64, "{run}");
}

#[test]
fn vp9_alpha_is_png_with_real_alpha_while_opaque_clip_is_jpeg() {
    let w = Work::new();
    let alpha_src = w.add("alpha.webm", &alpha_webm());
    let opaque_src = w.add("clip.mp4", &cfr30());
    let run = w.extract(
        &manifest(
            json!(30),
            vec![
                clip("alpha", "alpha.webm", 0.0, 2.0, 0.0, false),
                clip("opaque", "clip.mp4", 0.0, 1.0, 0.0, false),
            ],
        ),
        &[],
    );
    run.assert_ok();

    // Opaque clip: JPEG.
    let expected_opaque = expected_for(&opaque_src, "1", "0", "30", false);
    check_clip(&run, &w, "opaque", &opaque_src, "jpg", LANDSCAPE, &expected_opaque);
    assert_eq!(run.clip("opaque")["metadata"]["alpha"], json!(false), "{run}");

    // Alpha clip: PNG, right colour frames (WebM's millisecond times: tolerance matters here).
    let expected = expected_for(&alpha_src, "2", "0", "30", false);
    assert_eq!(expected, (0..60).collect::<Vec<_>>());
    check_clip(&run, &w, "alpha", &alpha_src, "png", LANDSCAPE, &expected);
    assert_eq!(run.clip("alpha")["metadata"]["alpha"], json!(true), "{run}");

    let files = w.files("alpha");
    let fmt = pix_fmt(&files[0]);
    assert!(
        matches!(fmt.as_str(), "rgba" | "rgba64be" | "ya8" | "ya16be"),
        "PNG should have an alpha channel, ffprobe says pix_fmt {fmt:?}"
    );
    // Alpha varies within and across frames, and each frame's alpha is the source's.
    let dir = w.out().join("alpha");
    let out_alpha = image_rasters(&dir, "png", LANDSCAPE, Plane::Alpha);
    let src_alpha = video_rasters(&alpha_src, LANDSCAPE, Plane::Alpha);
    for (k, a) in out_alpha.iter().enumerate() {
        let (lo, hi) = (*a.iter().min().unwrap(), *a.iter().max().unwrap());
        assert!(
            lo < 64 && hi > 192,
            "frame {k}: alpha should span the source's 28..228 sine, got {lo}..{hi}"
        );
        let s = &src_alpha[expected[k]];
        let mad = a.iter().zip(s).map(|(&x, &y)| (x as i32 - y as i32).abs()).sum::<i32>() as f64 / a.len() as f64;
        assert!(
            mad < 4.0,
            "frame {k}: alpha differs from the source's by {mad:.2} levels on average"
        );
    }
    assert_ne!(out_alpha[0], out_alpha[30], "alpha should change over time");
    // And the alpha plane alone identifies the right source frame too.
    let times = source_times(&alpha_src);
    assert_frames_match("alpha plane", &out_alpha, &src_alpha, &times, &expected);
}

#[test]
fn rotated_phone_clips_come_out_upright() {
    let w = Work::new();
    let phone = w.add("phone.mp4", &rot_phone());
    let ccw = w.add("ccw.mp4", &rot_ccw());
    let run = w.extract(
        &manifest(
            json!(30),
            vec![
                clip("phone", "phone.mp4", 0.0, 1.0, 0.5, false),
                clip("ccw", "ccw.mp4", 0.0, 1.0, 0.5, false),
            ],
        ),
        &[],
    );
    run.assert_ok();
    for (id, src) in [("phone", &phone), ("ccw", &ccw)] {
        let expected = expected_for(src, "1", "0.5", "30", false);
        assert_eq!(expected, (15..45).collect::<Vec<_>>());
        let files = w.files(id);
        for f in [&files[0], files.last().unwrap()] {
            assert_eq!(
                dimensions(f),
                (180, 320),
                "{id}: {} should be upright 180x320",
                f.display()
            );
        }
        // ffmpeg's rasters of the source are its own autorotated decode: the content must match
        // that orientation (a wrong rotation direction matches nothing).
        check_clip(&run, &w, id, src, "jpg", PORTRAIT, &expected);
        let md = &run.clip(id)["metadata"];
        assert_eq!(
            (md["displayWidth"].as_u64(), md["displayHeight"].as_u64()),
            (Some(180), Some(320)),
            "{id}\n{run}"
        );
    }
}

#[test]
fn looping_clip_wraps_and_repeats_are_links() {
    let w = Work::new();
    let src = w.add("short.mp4", &short2s());
    let run = w.extract(
        &manifest(json!(30), vec![clip("loop", "short.mp4", 0.0, 5.0, 0.0, true)]),
        &[],
    );
    run.assert_ok();
    let expected = expected_for(&src, "5", "0", "30", true);
    assert_eq!(expected.len(), 150);
    assert_eq!(
        (expected[59], expected[60], expected[61], expected[149]),
        (59, 0, 1, 29)
    );
    check_clip(&run, &w, "loop", &src, "jpg", LANDSCAPE, &expected);
    // 60 distinct source frames, each encoded once; the 90 repeats are links.
    assert_eq!(run.breakdown("framesEncoded"), 60, "{run}");
    assert_eq!(run.breakdown("framesLinked"), 90, "{run}");
}

#[test]
fn looping_clip_wraps_back_to_its_media_start_not_to_zero() {
    // 2 s source from 0.5 s, looped over 3 s: the cycle is 1.5 s = 45 frames, so output 45
    // shows source frame 15 again.
    let w = Work::new();
    let src = w.add("short.mp4", &short2s());
    let run = w.extract(
        &manifest(json!(30), vec![clip("loop_ms", "short.mp4", 0.0, 3.0, 0.5, true)]),
        &[],
    );
    run.assert_ok();
    let expected = expected_for(&src, "3", "0.5", "30", true);
    assert_eq!(expected.len(), 90);
    assert_eq!(
        (expected[0], expected[44], expected[45], expected[89]),
        (15, 59, 15, 59)
    );
    check_clip(&run, &w, "loop_ms", &src, "jpg", LANDSCAPE, &expected);
    assert_eq!(run.breakdown("framesEncoded"), 45, "{run}");
    assert_eq!(run.breakdown("framesLinked"), 45, "{run}");
}

#[test]
fn non_looping_clip_past_the_source_end_stops_at_the_last_frame() {
    let w = Work::new();
    let src = w.add("short.mp4", &short2s());
    let run = w.extract(
        &manifest(json!(30), vec![clip("a", "short.mp4", 0.0, 5.0, 1.0, false)]),
        &[],
    );
    run.assert_ok();
    let expected = expected_for(&src, "5", "1", "30", false);
    assert_eq!(
        expected,
        (30..60).collect::<Vec<_>>(),
        "oracle: 30 files, the last is the last source frame"
    );
    check_clip(&run, &w, "a", &src, "jpg", LANDSCAPE, &expected);
}

#[test]
fn output_tree_has_only_clip_folders_and_frames() {
    // Nothing but OUT/<id>/frame_NNNNN.<ext> is left in --out after a successful run.
    let w = Work::new();
    w.add("clip.mp4", &cfr30());
    let run = w.extract(
        &manifest(
            json!(30),
            vec![
                clip("a", "clip.mp4", 0.0, 0.5, 0.0, false),
                clip("b", "clip.mp4", 0.0, 0.5, 1.0, false),
            ],
        ),
        &[],
    );
    run.assert_ok();
    for p in walk(&w.out()) {
        let rel = p.strip_prefix(w.out()).unwrap().to_string_lossy().into_owned();
        let ok = rel == "a" || rel == "b" || {
            let (dir, name) = rel.split_once('/').unwrap_or(("", ""));
            (dir == "a" || dir == "b") && name.starts_with("frame_") && name.ends_with(".jpg") && name.len() == 15
        };
        assert!(ok, "unexpected entry in --out: {rel}");
    }
    assert_eq!(w.files("a").len(), 15);
    assert_eq!(w.files("b").len(), 15);
}

#[test]
fn playback_rate_scales_media_time() {
    // Rate 2 from 1 s: output k shows source frame 30 + 2k. Rate 0.5 from 0: floor(k / 2), each
    // source frame held for two outputs (encoded once, linked once).
    let w = Work::new();
    let src = w.add("clip.mp4", &cfr30());
    let mut fast = clip("fast", "clip.mp4", 0.0, 1.0, 1.0, false);
    fast["playbackRate"] = json!(2);
    let mut slow = clip("slow", "clip.mp4", 0.0, 2.0, 0.0, false);
    slow["playbackRate"] = json!(0.5);
    let run = w.extract(&manifest(json!(30), vec![fast, slow]), &[]);
    run.assert_ok();
    let t = source_times(&src);
    let fps = Q::int(30);
    let e_fast = t.expected(Q::int(1), Q::int(1), Q::int(2), fps, false);
    assert_eq!(e_fast, (0..30).map(|k| 30 + 2 * k).collect::<Vec<_>>());
    check_clip(&run, &w, "fast", &src, "jpg", LANDSCAPE, &e_fast);
    let e_slow = t.expected(Q::int(2), Q::ZERO, Q::new(1, 2), fps, false);
    assert_eq!(e_slow, (0..60).map(|k| k / 2).collect::<Vec<_>>());
    check_clip(&run, &w, "slow", &src, "jpg", LANDSCAPE, &e_slow);
    // Source frames 30..=88 (even) and 0..=29: 60 distinct, no overlap.
    assert_eq!(run.breakdown("framesEncoded"), 60, "{run}");
    assert_eq!(run.breakdown("framesLinked"), 30, "{run}");
}

#[test]
fn duplicate_and_overlapping_clips_encode_each_source_frame_once() {
    // contract §4/§5: the frames needed by all clips of a source are planned together; a duplicate
    // clip and an overlapping trim reuse the frames already encoded in the run.
    let w = Work::new();
    let src = w.add("clip.mp4", &cfr30());
    let run = w.extract(
        &manifest(
            json!(30),
            vec![
                clip("a", "clip.mp4", 0.0, 1.0, 0.0, false),   // source 0..=29
                clip("dup", "clip.mp4", 0.0, 1.0, 0.0, false), // the same
                clip("b", "clip.mp4", 0.0, 1.0, 0.5, false),   // source 15..=44
            ],
        ),
        &[],
    );
    run.assert_ok();
    check_clip(&run, &w, "a", &src, "jpg", LANDSCAPE, &(0..30).collect::<Vec<_>>());
    check_clip(&run, &w, "dup", &src, "jpg", LANDSCAPE, &(0..30).collect::<Vec<_>>());
    check_clip(&run, &w, "b", &src, "jpg", LANDSCAPE, &(15..45).collect::<Vec<_>>());
    assert_eq!(run.breakdown("framesEncoded"), 45, "union of the clips' frames\n{run}");
    assert_eq!(run.breakdown("framesLinked"), 45, "{run}");
    assert_eq!(run.result()["totalFrames"].as_u64(), Some(90), "{run}");
}

#[test]
fn window_from_the_middle_decodes_from_the_keyframe_before_it_only() {
    // contract §5: decode forward from the keyframe before the first needed frame. cfr30 has a
    // keyframe every 30 frames; source frames 75..=134 need decoding from frame 60 (2.0 s):
    // 75 frames, plus a little B-frame reordering slack — not the 135 from the file's start.
    let w = Work::new();
    let src = w.add("clip.mp4", &cfr30());
    let keys: Vec<i64> = packets(&src).iter().filter(|p| p.key).map(|p| p.pts).collect();
    assert_eq!(
        keys,
        vec![0, 15360, 30720, 46080, 61440],
        "fixture check: a keyframe every second"
    );
    let run = w.extract(
        &manifest(json!(30), vec![clip("a", "clip.mp4", 0.0, 2.0, 2.5, false)]),
        &[],
    );
    run.assert_ok();
    let decoded = run.breakdown("framesDecoded");
    assert!(
        (60..=80).contains(&decoded),
        "decoded {decoded} frames for 60 outputs from 2.5 s\n{run}"
    );
    assert!(run.breakdown("seeks") <= 1, "{run}");
    assert_eq!(
        run.breakdown("leadInFrames"),
        decoded - 60,
        "every decoded frame but the 60 shown is lead-in (from the keyframe at 2.0 s)\n{run}"
    );
}

#[test]
fn many_clips_from_a_few_sources_are_decoded_across_sources_with_every_frame_right() {
    // Issue 14: with several sources, decode work is cut into units (one GOP each: the fixtures
    // have closed GOPs, a keyframe every second) that every decode thread takes, longest first,
    // from one queue, so two GOPs of one source may decode at once on different readers. What each
    // output file shows must not change; every decoded frame is either shown or lead-in.
    let w = Work::new();
    let a = w.add("a.mp4", &cfr30());
    let b = w.add("b.mp4", &cfr24());
    let c = w.add("c.mp4", &short2s());
    // (id, source, timeline start, end, mediaStart): trims inside GOPs, across GOP boundaries,
    // overlapping each other, and one source shared by four clips.
    let clips = [
        ("a1", "a.mp4", 0.0, 1.5, 0.0),
        ("a2", "a.mp4", 1.0, 2.5, 2.5),
        ("a3", "a.mp4", 2.0, 2.5, 4.2),
        ("a4", "a.mp4", 0.5, 1.5, 0.75),
        ("b1", "b.mp4", 0.0, 2.0, 0.5),
        ("b2", "b.mp4", 1.0, 1.5, 2.25),
        ("c1", "c.mp4", 0.0, 1.2, 0.6),
    ];
    let m = manifest(
        json!(30),
        clips
            .iter()
            .map(|&(id, src, start, end, ms)| clip(id, src, start, end, ms, false))
            .collect(),
    );
    let run = w.extract(&m, &["--jobs", "2"]);
    run.assert_ok();
    for &(id, src, start, end, ms) in &clips {
        let path = [&a, &b, &c][["a.mp4", "b.mp4", "c.mp4"].iter().position(|s| *s == src).unwrap()];
        let want = expected_for(path, &format!("{}", end - start), &format!("{ms}"), "30", false);
        check_clip(&run, &w, id, path, "jpg", LANDSCAPE, &want);
    }
    let (decoded, encoded, lead_in) = (
        run.breakdown("framesDecoded"),
        run.breakdown("framesEncoded"),
        run.breakdown("leadInFrames"),
    );
    // One variant: each distinct source frame shown is encoded once; the rest decoded is lead-in.
    assert_eq!(lead_in, decoded - encoded, "{run}");
    assert!(lead_in > 0, "trims from mid-GOP decode lead-in frames\n{run}");
}

#[test]
fn natural_end_and_cli_overrides() {
    // `end` omitted: the clip plays to the source's end (mediaStart 4 of 5 s: 30 frames at 30
    // fps). `--fps 24` overrides the manifest's 30; `--format png` forces PNG for an opaque
    // source; `--result FILE` writes the same result JSON as stdout.
    let w = Work::new();
    let src = w.add("clip.mp4", &cfr30());
    let m = json!({ "fps": 30, "videos": [ { "id": "tail", "src": "clip.mp4", "start": 0, "mediaStart": 4 } ] });
    let run = w.extract(&m, &[]);
    run.assert_ok();
    check_clip(
        &run,
        &w,
        "tail",
        &src,
        "jpg",
        LANDSCAPE,
        &(120..150).collect::<Vec<_>>(),
    );

    let w = Work::new();
    let src = w.add("clip.mp4", &cfr30());
    let result_file = w.path().join("result.json");
    let m = manifest(json!(30), vec![clip("a", "clip.mp4", 0.0, 1.0, 1.0, false)]);
    let run = w.extract(
        &m,
        &[
            "--fps",
            "24",
            "--format",
            "png",
            "--result",
            result_file.to_str().unwrap(),
        ],
    );
    run.assert_ok();
    let expected = source_times(&src).expected(Q::int(1), Q::int(1), Q::int(1), Q::int(24), false);
    assert_eq!(expected, (0..24).map(|k| 30 + k * 30 / 24).collect::<Vec<_>>());
    check_clip(&run, &w, "a", &src, "png", LANDSCAPE, &expected);
    assert_eq!(run.clip("a")["fps"].as_f64(), Some(24.0), "{run}");
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&result_file).expect("--result file")).unwrap();
    assert_eq!(
        &written,
        run.result(),
        "--result FILE should hold the same result as stdout"
    );
}

/// With two workers and a source of closed GOPs, GOPs are decoded round-robin by two decoders;
/// with one worker, by a single sweep. Both must give byte-identical, oracle-exact frames and
/// decode no GOP twice.
#[test]
fn gop_parallel_decoding_matches_the_single_sweep() {
    let comp = manifest(
        json!(30),
        vec![
            clip("a", "clip.mp4", 0.0, 4.0, 0.4, false),
            clip("b", "clip.mp4", 0.0, 1.5, 3.1, false),
        ],
    );
    let mut outputs = Vec::new();
    for jobs in ["1", "2"] {
        let w = Work::new();
        let src = w.add("clip.mp4", &cfr30());
        let run = w.extract(&comp, &["--jobs", jobs]);
        run.assert_ok();
        check_clip(
            &run,
            &w,
            "a",
            &src,
            "jpg",
            LANDSCAPE,
            &expected_for(&src, "4", "0.4", "30", false),
        );
        check_clip(
            &run,
            &w,
            "b",
            &src,
            "jpg",
            LANDSCAPE,
            &expected_for(&src, "1.5", "3.1", "30", false),
        );
        // The union is source frames 12..=137: decoding starts at the keyframe before (frame 0)
        // and never goes past the last needed GOP.
        let decoded = run.breakdown("framesDecoded");
        assert!((126..=150).contains(&decoded), "jobs {jobs}: decoded {decoded}\n{run}");
        let bytes: Vec<Vec<u8>> = ["a", "b"]
            .iter()
            .flat_map(|id| w.files(id))
            .map(|f| std::fs::read(f).unwrap())
            .collect();
        outputs.push(bytes);
    }
    assert_eq!(outputs[0].len(), outputs[1].len());
    assert!(
        outputs[0] == outputs[1],
        "GOP-parallel frames differ from the single sweep's"
    );
}
