//! Bad sources fail per clip with the right kind while good clips still succeed (exit 1); a bad
//! manifest is unusable input (exit 2) with a message naming the field or line (contract §1, §6).

use crate::common::*;
use serde_json::json;

/// `cfr30` (moov at the end, as ffmpeg writes by default) cut in half: no index at all.
fn first_half_of_cfr30() -> Vec<u8> {
    let bytes = std::fs::read(cfr30()).unwrap();
    let half = bytes[..bytes.len() / 2].to_vec();
    assert!(
        !half.windows(4).any(|w| w == b"moov"),
        "fixture check: the first half of a non-faststart mp4 must not contain the moov box"
    );
    half
}

fn assert_error(run: &Run, id: &str, kind: &str) {
    let e = run
        .error(id)
        .unwrap_or_else(|| panic!("clip {id}: expected a `{kind}` error\n{run}"));
    assert_eq!(e["kind"].as_str(), Some(kind), "clip {id}: error kind\n{run}");
    assert!(
        e["retryable"].is_boolean(),
        "clip {id}: retryable should be a boolean\n{run}"
    );
    assert!(
        e["message"].as_str().is_some_and(|m| !m.trim().is_empty()),
        "clip {id}: message\n{run}"
    );
    let produced = run.find_clip(id).and_then(|c| c["frames"].as_u64()).unwrap_or(0);
    assert_eq!(produced, 0, "clip {id} failed and should have no frames\n{run}");
}

#[test]
fn bad_sources_fail_per_clip_while_the_good_clip_succeeds() {
    let w = Work::new();
    let src = w.add("clip.mp4", &cfr30());
    w.write("empty.mp4", b"");
    w.write("notes.mp4", b"These are my notes, not a video.\nSecond line.\n");
    w.write("trunc.mp4", &first_half_of_cfr30());
    let run = w.extract(
        &manifest(
            json!(30),
            vec![
                clip("missing", "nope.mp4", 0.0, 1.0, 0.0, false),
                clip("empty", "empty.mp4", 0.0, 1.0, 0.0, false),
                clip("good", "clip.mp4", 0.0, 1.0, 1.0, false),
                clip("text", "notes.mp4", 0.0, 1.0, 0.0, false),
                clip("trunc", "trunc.mp4", 0.0, 1.0, 0.0, false),
                clip("late", "clip.mp4", 0.0, 1.0, 10.0, false),
                // HyperFrames: mediaStart >= playable length is out of range (no sample exists).
                clip("at_end", "clip.mp4", 0.0, 1.0, 5.0, false),
            ],
        ),
        &[],
    );
    assert_eq!(run.code(), Some(1), "some clips failed: exit 1\n{run}");
    assert_eq!(run.result()["success"], json!(false), "{run}");

    assert_error(&run, "missing", "source_missing");
    assert_error(&run, "empty", "invalid_media");
    assert_error(&run, "text", "invalid_media");
    assert_error(&run, "trunc", "invalid_media");
    assert_error(&run, "late", "media_start_out_of_range");
    assert_error(&run, "at_end", "media_start_out_of_range");
    let errors = run.result()["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 6, "exactly the six bad clips fail\n{run}");

    // The good clip is complete and correct.
    assert!(run.error("good").is_none(), "{run}");
    let expected = source_times(&src).expected(Q::int(1), Q::int(1), Q::int(1), Q::int(30), false);
    check_clip(&run, &w, "good", &src, "jpg", LANDSCAPE, &expected);
    assert_eq!(run.result()["totalFrames"].as_u64(), Some(30), "{run}");

    // Failed clips leave nothing in --out.
    for id in ["missing", "empty", "text", "trunc", "late", "at_end"] {
        assert!(
            !w.out().join(id).exists(),
            "failed clip {id} should have no output folder"
        );
    }
}

#[test]
fn half_of_a_faststart_mp4_fails_cleanly_or_yields_only_real_frames() {
    // With the index first, the container opens and promises 150 frames, but only about the
    // first half can be decoded (ffmpeg decodes 76). Honest outcomes: an error of kind
    // invalid_media / decode_failed with no output, or success with fewer files than the window
    // asks for, each showing exactly the frame the rule names. Never 150 files (that would mean
    // invented or held frames presented as real ones).
    let w = Work::new();
    let bytes = std::fs::read(cfr30_faststart()).unwrap();
    assert!(bytes[..64].windows(4).any(|x| x == b"moov") || bytes[..4096].windows(4).any(|x| x == b"moov"));
    w.write("half.mp4", &bytes[..bytes.len() / 2]);
    let run = w.extract(
        &manifest(json!(30), vec![clip("half", "half.mp4", 0.0, 5.0, 0.0, false)]),
        &[],
    );
    match run.error("half") {
        Some(e) => {
            let kind = e["kind"].as_str().unwrap_or("");
            assert!(
                kind == "invalid_media" || kind == "decode_failed",
                "unexpected kind {kind:?}\n{run}"
            );
            assert_eq!(run.code(), Some(1), "{run}");
            assert!(
                !w.out().join("half").exists(),
                "failed clip should have no output folder"
            );
        }
        None => {
            run.assert_ok();
            let n = run.clip("half")["frames"].as_u64().unwrap() as usize;
            assert!(
                n > 0 && n < 150,
                "success must mean the frames that really exist ({n})\n{run}"
            );
            // The frames that really exist are the ones ffmpeg can decode from the cut file
            // (0..=74 and 76 here: the packet of frame 75 is cut short, while P-frame 76 came
            // before it in decode order). Each output must follow the rule over those frames:
            // never a frame from after its sample time.
            let half = w.path().join("half.mp4");
            let times = source_times(&half);
            let sources = video_rasters(&half, LANDSCAPE, Plane::Luma);
            let fps = Q::int(30);
            let expected: Vec<usize> = (0..n).map(|k| times.frame_at(Q::int(k as i128) / fps, fps)).collect();
            let c = run.clip("half");
            assert_eq!(c["format"].as_str(), Some("jpg"));
            assert_eq!(w.files("half").len(), n);
            let outputs = image_rasters(&w.out().join("half"), "jpg", LANDSCAPE, Plane::Luma);
            assert_frames_match("half", &outputs, &sources, &times, &expected);
        }
    }
}

#[test]
fn wrong_field_type_is_unusable_input_naming_the_field() {
    let w = Work::new();
    w.add("clip.mp4", &cfr30());
    let m = json!({ "fps": 30, "videos": [
        { "id": "a", "src": "clip.mp4", "start": "abc", "end": 1, "mediaStart": 0 } ] });
    let run = w.extract(&m, &[]);
    assert_eq!(run.code(), Some(2), "malformed manifest: exit 2\n{run}");
    assert!(
        run.stderr.contains("videos[0].start"),
        "stderr should name videos[0].start\n{run}"
    );
    assert!(!w.out().join("a").exists(), "nothing extracted for unusable input");
}

#[test]
fn json_syntax_error_is_unusable_input_naming_the_line() {
    let w = Work::new();
    w.add("clip.mp4", &cfr30());
    // Missing comma at the end of line 3; the parser trips on line 4.
    let text = "{\n  \"fps\": 30,\n  \"videos\": [ { \"id\": \"a\", \"src\": \"clip.mp4\", \"end\": 1 } ]\n  \"format\": \"jpg\"\n}\n";
    let m = w.write("comp.json", text.as_bytes());
    let mut c = w.command();
    c.arg("extract").arg(&m).arg("--out").arg(w.out()).arg("--json");
    let run = run(c);
    assert_eq!(run.code(), Some(2), "JSON syntax error: exit 2\n{run}");
    let s = &run.stderr;
    assert!(
        s.contains(":4:") || s.contains("line 4"),
        "stderr should name line 4 of the manifest\n{run}"
    );
    assert!(!w.out().join("a").exists());
}

#[test]
fn missing_manifest_is_unusable_input() {
    let w = Work::new();
    let mut c = w.command();
    c.arg("extract")
        .arg(w.path().join("nope.json"))
        .arg("--out")
        .arg(w.out())
        .arg("--json");
    let run = run(c);
    assert_eq!(run.code(), Some(2), "missing manifest: exit 2\n{run}");
    assert!(run.stderr.contains("nope.json"), "stderr should name the file\n{run}");
}

#[test]
fn relative_source_escaping_the_project_folder_is_rejected() {
    // contract §6: `source_rejected` for a path that escapes the project (manifest) folder; an
    // absolute path is allowed (contract §1: "A `src` may also be an absolute path").
    let w = Work::new();
    let outside = w.add("outside.mp4", &cfr30());
    let proj = w.path().join("proj");
    std::fs::create_dir(&proj).unwrap();
    std::fs::hard_link(&outside, proj.join("in.mp4")).unwrap();
    let m = manifest(
        json!(30),
        vec![
            clip("up", "../outside.mp4", 0.0, 0.5, 0.0, false),
            clip("abs", outside.to_str().unwrap(), 0.0, 0.5, 0.0, false),
            clip("in", "in.mp4", 0.0, 0.5, 0.0, false),
        ],
    );
    let run = extract_in(&w, &proj, &m);
    assert_eq!(run.code(), Some(1), "{run}");
    assert_error(&run, "up", "source_rejected");
    assert!(!w.out().join("up").exists());
    for id in ["abs", "in"] {
        assert!(run.error(id).is_none(), "clip {id} should succeed\n{run}");
        check_clip(&run, &w, id, &outside, "jpg", LANDSCAPE, &(0..15).collect::<Vec<_>>());
    }
}

#[test]
fn playlists_cannot_pull_other_files_into_a_clip() {
    // An HLS playlist (or a downloaded `.m3u8`) names its segments itself: read as a source, it
    // would let whoever wrote it put any local video — outside the project, another cached
    // source — into a clip's frames. Only real containers are opened; the segment itself is a
    // fine source when named directly.
    let w = Work::new();
    let secret = w.path().join("secret.ts");
    run_tool(
        ffmpeg()
            .arg("-i")
            .arg(cfr30())
            .args(["-t", "1", "-c", "copy", "-f", "mpegts"])
            .arg(&secret),
    );
    let proj = w.path().join("proj");
    std::fs::create_dir(&proj).unwrap();
    for (name, target) in [
        ("absolute.m3u8", format!("file://{}", secret.display())),
        ("relative.m3u8", "../secret.ts".to_string()),
    ] {
        let playlist = format!("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:1.0,\n{target}\n#EXT-X-ENDLIST\n");
        std::fs::write(proj.join(name), playlist).unwrap();
    }
    std::fs::copy(&secret, proj.join("segment.ts")).unwrap();
    let m = manifest(
        json!(30),
        vec![
            clip("abs", "absolute.m3u8", 0.0, 0.5, 0.0, false),
            clip("rel", "relative.m3u8", 0.0, 0.5, 0.0, false),
            clip("direct", "segment.ts", 0.0, 0.5, 0.0, false),
        ],
    );
    let run = extract_in(&w, &proj, &m);
    assert_eq!(run.code(), Some(1), "{run}");
    for id in ["abs", "rel"] {
        assert_error(&run, id, "invalid_media");
        assert!(!w.out().join(id).exists(), "{id}: no frames from a playlist");
    }
    assert!(run.error("direct").is_none(), "{run}");
    assert_eq!(w.files("direct").len(), 15, "{run}");
}

/// `framex extract` of manifest `m` saved as `dir/comp.json` (a project folder of its own).
fn extract_in(w: &Work, dir: &std::path::Path, m: &serde_json::Value) -> Run {
    let manifest_path = dir.join("comp.json");
    std::fs::write(&manifest_path, serde_json::to_vec_pretty(m).unwrap()).unwrap();
    let mut c = w.command();
    c.arg("extract")
        .arg(&manifest_path)
        .arg("--out")
        .arg(w.out())
        .arg("--json");
    run(c)
}
