//! The broken-media corpus (issue 5, "hostile input never hurts"): truncated files (many
//! offsets, mp4 with the index at either end, VP9 alpha WebM), garbage overwritten in the middle,
//! files with the wrong extension, a zero-size file, absurd dimensions, a stream with no frames,
//! a directory and a FIFO named like videos, an audio-only file — all in ONE composition with two
//! good clips. Every broken clip must end with its error kind (or, where a damaged file still
//! holds decodable frames, with exactly those frames by the ffmpeg-CLI oracle), never a panic
//! (exit 1, not 101), within a bounded time; the good clips succeed with the right frames; the
//! store stays healthy (`framex cache verify`) and a second run of the good clips is a whole-clip
//! hit. Plus: a source that would take too long hits `--source-timeout` with the right kind,
//! promptly, while the other clip succeeds; one whose probe or decode keeps making progress is
//! never cut off.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{json, Value};

/// `short2s` with the index (moov) at the front.
fn short2s_faststart() -> PathBuf {
    synth_fixture(
        "short2s-faststart.mp4",
        Some(&short2s()),
        "-i {in} -c copy -movflags +faststart",
    )
}

/// 1 s of audio only, in an MP4 container.
fn audio_only() -> PathBuf {
    synth_fixture(
        "audio-only.m4a",
        None,
        "-f lavfi -i sine=frequency=440:duration=1 -c:a aac",
    )
}

/// Offset of the first top-level box of `kind` in an MP4 file.
fn mp4_box(bytes: &[u8], kind: &[u8; 4]) -> (usize, usize) {
    let mut at = 0usize;
    while at + 8 <= bytes.len() {
        let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        if &bytes[at + 4..at + 8] == kind {
            return (at, size);
        }
        assert!(size >= 8, "fixture check: unexpected box layout");
        at += size;
    }
    panic!("fixture check: no {} box", String::from_utf8_lossy(kind));
}

/// Deterministic pseudo-random bytes (xorshift), for "garbage in the middle".
fn garbage(n: usize, mut s: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as u8
        })
        .collect()
}

/// What the oracle (ffprobe / the ffmpeg CLI) makes of a file.
struct Oracle {
    /// Video packets ffprobe reads (0 when it cannot open the file or finds no video).
    packets: usize,
    /// Decodable frames and their times, when there are any.
    times: Option<SourceTimes>,
}

/// End of the playable range by the packets that can be read: the latest `pts + duration`,
/// relative to the container's start (media time 0).
fn packets_end(p: &Path) -> Q {
    let v = ffprobe_json(
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts,duration:stream=time_base:format=start_time",
        ],
        p,
    );
    let tick = Q::parse(v["streams"][0]["time_base"].as_str().expect("time_base"));
    let start = v["format"]["start_time"].as_str().map(Q::parse).unwrap_or(Q::ZERO);
    let end = v["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| Some(k["pts"].as_i64()? + k["duration"].as_i64().unwrap_or(0)))
        .max()
        .expect("packets");
    Q::int(end as i128) * tick - start
}

fn oracle(p: &Path) -> Oracle {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json", "-select_streams", "v:0", "-count_packets"])
        .args([
            "-count_frames",
            "-show_entries",
            "stream=nb_read_packets,nb_read_frames",
        ])
        .arg(p)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let num = |k: &str| {
        v["streams"][0][k]
            .as_str()
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(0)
    };
    let (packets, frames) = if out.status.success() {
        (num("nb_read_packets"), num("nb_read_frames"))
    } else {
        (0, 0)
    };
    let times = (frames > 0).then(|| source_times(p));
    Oracle { packets, times }
}

/// What a broken clip must end with.
enum Expect {
    /// This error kind, no frames, no output folder.
    Error(&'static str),
    /// Success with the frames the damaged file really holds: one per sample time inside the
    /// range its readable packets cover (`end`), each showing the frame the sampling rule names
    /// among the frames the ffmpeg CLI can decode from the same file.
    ///
    /// `damaged`: a media-time range `[from, to)` (whole GOPs) whose pictures are garbage;
    /// how a decoder conceals that depends on its threading, so those samples are not compared.
    Frames {
        end: Q,
        times: SourceTimes,
        damaged: Option<(Q, Q)>,
    },
}

fn expectation(p: &Path) -> Expect {
    let o = oracle(p);
    match o.times {
        _ if o.packets == 0 => Expect::Error("invalid_media"),
        None => Expect::Error("decode_failed"),
        Some(times) => Expect::Frames {
            end: packets_end(p),
            times,
            damaged: None,
        },
    }
}

fn check_broken(run: &Run, w: &Work, id: &str, file: &Path, expect: &Expect) {
    match expect {
        Expect::Error(kind) => {
            let e = run
                .error(id)
                .unwrap_or_else(|| panic!("clip {id}: expected a `{kind}` error\n{run}"));
            assert_eq!(e["kind"].as_str(), Some(*kind), "clip {id}: error kind\n{run}");
            assert!(
                e["message"].as_str().is_some_and(|m| !m.is_empty()),
                "clip {id}: message\n{run}"
            );
            assert!(run.find_clip(id).is_none(), "clip {id} failed and has no frames\n{run}");
            assert!(!w.out().join(id).exists(), "failed clip {id} has no output folder");
        }
        Expect::Frames { end, times, damaged } => {
            assert!(
                run.error(id).is_none(),
                "clip {id}: the file holds decodable frames\n{run}"
            );
            let c = run.clip(id);
            let n = c["frames"].as_u64().unwrap() as usize;
            // Samples k/30 strictly inside [0, end).
            let want = -(Q::ZERO - *end * Q::int(30)).floor() as usize;
            assert_eq!(n, want, "clip {id}: one frame per sample before {end:?}\n{run}");
            let ext = c["format"].as_str().unwrap().to_string();
            assert_eq!(w.files(id).len(), n, "clip {id}: files");
            let fps = Q::int(30);
            let sample = |k: usize| Q::int(k as i128) / fps;
            let intact = |k: &usize| damaged.is_none_or(|(from, to)| sample(*k) < from || sample(*k) >= to);
            let keep: Vec<usize> = (0..n).filter(intact).collect();
            assert!(!keep.is_empty(), "clip {id}: some samples are outside the damage");
            let expected: Vec<usize> = keep.iter().map(|&k| times.frame_at(sample(k), fps)).collect();
            let sources = video_rasters(file, LANDSCAPE, Plane::Luma);
            let all = image_rasters(&w.out().join(id), &ext, LANDSCAPE, Plane::Luma);
            let outputs: Vec<Vec<u8>> = keep.iter().map(|&k| all[k].clone()).collect();
            assert_frames_match(&format!("clip {id}"), &outputs, &sources, times, &expected);
        }
    }
}

/// The media-time range of the GOPs whose packets overlap bytes `[from, to)` of `p`: from the
/// keyframe at or before the first damaged packet to the next keyframe after the last.
fn damaged_gops(p: &Path, from: usize, to: usize) -> (Q, Q) {
    let v = ffprobe_json(
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts,pos,size,flags:stream=time_base:format=start_time",
        ],
        p,
    );
    let tick = Q::parse(v["streams"][0]["time_base"].as_str().expect("time_base"));
    let start = v["format"]["start_time"].as_str().map(Q::parse).unwrap_or(Q::ZERO);
    let num = |x: &Value| x.as_i64().or_else(|| x.as_str().and_then(|s| s.parse().ok()));
    let mut pk: Vec<(i64, bool, bool)> = v["packets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let (pos, size) = (num(&k["pos"]).unwrap() as usize, num(&k["size"]).unwrap() as usize);
            let hit = pos < to && pos + size > from;
            (
                num(&k["pts"]).unwrap(),
                k["flags"].as_str().unwrap_or("").contains('K'),
                hit,
            )
        })
        .collect();
    pk.sort();
    let first = pk.iter().position(|p| p.2).expect("the garbage hits some packet");
    let last = pk.iter().rposition(|p| p.2).unwrap();
    let lo = pk[..=first].iter().rev().find(|p| p.1).map_or(pk[0].0, |p| p.0);
    let hi = pk[last + 1..].iter().find(|p| p.1).map_or(i64::MAX / 4, |p| p.0);
    let t = |ticks: i64| Q::int(ticks as i128) * tick - start;
    (t(lo), t(hi))
}

/// A y4m header (and optionally raw frames) as bytes.
fn y4m(w: u32, h: u32, frames: usize) -> Vec<u8> {
    let mut b = format!("YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg\n").into_bytes();
    let frame = (w as usize * h as usize) * 3 / 2;
    for _ in 0..frames {
        b.extend_from_slice(b"FRAME\n");
        b.extend(std::iter::repeat_n(0x80u8, frame));
    }
    b
}

#[test]
fn broken_media_corpus_fails_per_clip_with_its_kind_and_good_clips_succeed() {
    let w = Work::new();
    let good = w.add("good.mp4", &short2s());
    let good_alpha = w.add("good-alpha.webm", &alpha_webm());
    let mut clips: Vec<Value> = vec![
        clip("good", "good.mp4", 0.0, 1.0, 0.0, false),
        clip("good_alpha", "good-alpha.webm", 0.0, 1.0, 0.0, false),
    ];
    let mut cases: Vec<(String, PathBuf, Expect)> = Vec::new();
    let mut add = |id: String, name: &str, bytes: &[u8], expect: Option<Expect>, clips: &mut Vec<Value>| {
        let p = w.write(name, bytes);
        let expect = expect.unwrap_or_else(|| expectation(&p));
        // The whole clip (natural end): a damaged file is worth exactly what it holds.
        clips.push(json!({ "id": id, "src": name }));
        cases.push((id, p, expect));
    };

    // Truncations: moov at the end (no index before the cut), moov at the front (index promises
    // frames the data no longer holds), VP9 alpha WebM. Cuts in headers, mid-data, last byte.
    let plain = std::fs::read(short2s()).unwrap();
    let (moov, moov_len) = mp4_box(&plain, b"moov");
    let (mdat, _) = mp4_box(&plain, b"mdat");
    assert!(moov > mdat, "fixture check: short2s has its moov at the end");
    let fast = std::fs::read(short2s_faststart()).unwrap();
    let (fmoov, fmoov_len) = mp4_box(&fast, b"moov");
    let (fmdat, _) = mp4_box(&fast, b"mdat");
    assert!(fmoov < fmdat, "fixture check: the faststart copy has its moov first");
    let webm = std::fs::read(alpha_webm()).unwrap();
    let cuts: Vec<(&str, &[u8], Vec<usize>)> = vec![
        (
            "mp4",
            &plain,
            vec![
                1,
                12,
                40,
                mdat + 200,
                plain.len() / 2,
                moov - 1,
                moov + 20,
                moov + moov_len / 2,
                plain.len() - 1,
            ],
        ),
        (
            "fast",
            &fast,
            vec![
                30,
                fmoov + fmoov_len / 2,
                fmdat + 16,
                fast.len() / 3,
                fast.len() / 2,
                fast.len() * 4 / 5,
                fast.len() - 1,
            ],
        ),
        (
            "webm",
            &webm,
            vec![1, 200, webm.len() / 3, webm.len() * 2 / 3, webm.len() - 1],
        ),
    ];
    for (kind, bytes, offsets) in cuts {
        let ext = if kind == "webm" { "webm" } else { "mp4" };
        for k in offsets {
            assert!(k > 0 && k < bytes.len());
            add(
                format!("cut_{kind}_{k}"),
                &format!("cut-{kind}-{k}.{ext}"),
                &bytes[..k],
                None,
                &mut clips,
            );
        }
    }
    // Garbage overwritten in the middle of the data (index intact). (Not on the VP9 alpha file:
    // there the ffmpeg CLI and ffprobe disagree on how many frames survive, so the oracle has
    // no single answer.)
    for (kind, bytes, at) in [("mp4_a", &plain, plain.len() / 3), ("mp4_b", &plain, plain.len() / 2)] {
        let mut b = bytes.clone();
        let n = 2048.min(b.len() / 8);
        b[at..at + n].copy_from_slice(&garbage(n, at as u64 + 1));
        let name = format!("garbage-{kind}.mp4");
        let expect = match expectation(&w.write(&name, &b)) {
            Expect::Frames { end, times, .. } => Expect::Frames {
                end,
                times,
                damaged: Some(damaged_gops(&short2s(), at, at + n)),
            },
            e => e,
        };
        add(format!("garbage_{kind}"), &name, &b, Some(expect), &mut clips);
    }
    // Not video at all, whatever the extension says.
    add(
        "text".into(),
        "notes.mp4",
        b"just some notes\n",
        Some(Expect::Error("invalid_media")),
        &mut clips,
    );
    add(
        "json".into(),
        "manifest.mp4",
        br#"{"fps":30,"videos":[]}"#,
        Some(Expect::Error("invalid_media")),
        &mut clips,
    );
    add(
        "zero".into(),
        "zero.mp4",
        b"",
        Some(Expect::Error("invalid_media")),
        &mut clips,
    );
    // Absurd dimensions: FFmpeg refuses 100000x100000; 20000x8 is past framex's 16384 cap.
    let mut huge = y4m(100_000, 100_000, 0);
    huge.extend_from_slice(b"FRAME\n");
    huge.extend(garbage(4096, 9));
    add(
        "absurd".into(),
        "absurd.y4m",
        &huge,
        Some(Expect::Error("invalid_media")),
        &mut clips,
    );
    add(
        "wide".into(),
        "wide.y4m",
        &y4m(20_000, 8, 1),
        Some(Expect::Error("invalid_media")),
        &mut clips,
    );
    // A video stream with no frames.
    add(
        "no_frames".into(),
        "noframes.y4m",
        &y4m(64, 64, 0),
        Some(Expect::Error("invalid_media")),
        &mut clips,
    );
    // An audio-only file.
    let audio = std::fs::read(audio_only()).unwrap();
    add(
        "audio".into(),
        "audio.mp4",
        &audio,
        Some(Expect::Error("invalid_media")),
        &mut clips,
    );
    // A directory and a FIFO (that nobody writes: opening it would block forever) named like
    // videos, and a missing file.
    std::fs::create_dir(w.path().join("folder.mp4")).unwrap();
    clips.push(json!({ "id": "dir", "src": "folder.mp4" }));
    let fifo = w.path().join("fifo.mp4");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo");
    clips.push(json!({ "id": "fifo", "src": "fifo.mp4" }));
    clips.push(json!({ "id": "missing", "src": "nope.mp4" }));
    // Wrong extension on good media: FFmpeg probes content, so these are fine.
    w.add("really-mp4.webm", &short2s());
    w.add("really-webm.mp4", &alpha_webm());
    clips.push(clip("mp4_as_webm", "really-mp4.webm", 0.0, 0.5, 0.0, false));
    clips.push(clip("webm_as_mp4", "really-webm.mp4", 0.0, 0.5, 0.0, false));

    let started = Instant::now();
    let run = w.extract(&manifest(json!(30), clips), &["--source-timeout", "20"]);
    let elapsed = started.elapsed();
    assert_eq!(
        run.code(),
        Some(1),
        "some clips failed: exit 1 (never a panic's 101)\n{run}"
    );
    assert!(!run.stderr.contains("panicked"), "no panic\n{run}");
    assert!(
        elapsed < Duration::from_secs(90),
        "the whole run is bounded: {elapsed:?}\n{run}"
    );

    // The good clips: complete and correct.
    let expected = source_times(&good).expected(Q::int(1), Q::ZERO, Q::int(1), Q::int(30), false);
    check_clip(&run, &w, "good", &good, "jpg", LANDSCAPE, &expected);
    let expected_alpha = source_times(&good_alpha).expected(Q::int(1), Q::ZERO, Q::int(1), Q::int(30), false);
    check_clip(&run, &w, "good_alpha", &good_alpha, "png", LANDSCAPE, &expected_alpha);
    let half = source_times(&good).expected(Q::new(1, 2), Q::ZERO, Q::int(1), Q::int(30), false);
    check_clip(&run, &w, "mp4_as_webm", &good, "jpg", LANDSCAPE, &half);
    let half_alpha = source_times(&good_alpha).expected(Q::new(1, 2), Q::ZERO, Q::int(1), Q::int(30), false);
    check_clip(&run, &w, "webm_as_mp4", &good_alpha, "png", LANDSCAPE, &half_alpha);

    // Every broken clip: its kind, or exactly the frames the damaged file holds.
    let mut kinds = Vec::new();
    for (id, file, expect) in &cases {
        check_broken(&run, &w, id, file, expect);
        kinds.push(format!(
            "{id}: {}",
            match expect {
                Expect::Error(k) => k.to_string(),
                Expect::Frames { .. } => "frames".into(),
            }
        ));
    }
    for (id, kind) in [
        ("dir", "invalid_media"),
        ("fifo", "invalid_media"),
        ("missing", "source_missing"),
    ] {
        let e = run
            .error(id)
            .unwrap_or_else(|| panic!("clip {id}: expected {kind}\n{run}"));
        assert_eq!(e["kind"].as_str(), Some(kind), "clip {id}\n{run}");
    }
    // The corpus really covers both outcomes and several kinds.
    let count = |k: &str| kinds.iter().filter(|s| s.ends_with(k)).count();
    assert!(count("invalid_media") >= 10, "{kinds:#?}");
    assert!(count("frames") >= 3, "{kinds:#?}");
    eprintln!("broken corpus outcomes ({elapsed:?}):\n{}", kinds.join("\n"));

    // The store is healthy after all that.
    let mut verify = w.command();
    verify.args(["cache", "verify"]);
    let v = crate::common::run(verify);
    assert_eq!(v.code(), Some(0), "cache verify\n{v}");
    let report: Value = serde_json::from_str(v.stdout.trim()).expect("verify JSON");
    assert_eq!(report["damaged"].as_array().map(|a| a.len()), Some(0), "{v}");

    // And a second run of the good clips is answered from it whole.
    let again = w.extract(
        &manifest(
            json!(30),
            vec![
                clip("good", "good.mp4", 0.0, 1.0, 0.0, false),
                clip("good_alpha", "good-alpha.webm", 0.0, 1.0, 0.0, false),
            ],
        ),
        &[],
    );
    again.assert_ok();
    assert_eq!(again.breakdown("clipHits"), 2, "{again}");
    assert_eq!(again.breakdown("framesDecoded"), 0, "{again}");
    for id in ["good", "good_alpha"] {
        assert_eq!(again.clip(id)["cached"], json!(true), "{again}");
    }
    check_clip(&again, &w, "good", &good, "jpg", LANDSCAPE, &expected);
}

/// 20 s of 720p H.264 in a single GOP (one keyframe, 600 frames, CABAC): a frame near the end
/// can only be reached by decoding everything before it.
fn one_gop720() -> PathBuf {
    synth_fixture(
        "onegop720.mp4",
        None,
        "-f lavfi -i testsrc2=size=1280x720:rate=30:duration=20 -c:v libx264 -preset veryfast \
         -g 1000 -keyint_min 1000 -sc_threshold 0 -pix_fmt yuv420p",
    )
}

#[test]
fn a_source_over_its_time_limit_fails_promptly_while_the_other_clip_succeeds() {
    // The clip wants the last half second of a single-GOP source: about 585 frames (most of a
    // second of decoding) go by before the first frame it needs. With a 0.2 s limit between
    // frames the source must stop at the limit with `decode_failed`, and the short clip must
    // still be extracted.
    let w = Work::new();
    w.add("long.mp4", &one_gop720());
    let good = w.add("good.mp4", &short2s());
    let limit = 0.2;
    let run = w.extract(
        &manifest(
            json!(30),
            vec![
                clip("long", "long.mp4", 0.0, 0.5, 19.5, false),
                clip("good", "good.mp4", 0.0, 1.0, 0.0, false),
            ],
        ),
        &["--source-timeout", "0.2", "--jobs", "2"],
    );
    assert_eq!(run.code(), Some(1), "{run}");
    let e = run
        .error("long")
        .unwrap_or_else(|| panic!("the long source must time out\n{run}"));
    assert_eq!(e["kind"].as_str(), Some("decode_failed"), "{run}");
    assert!(
        e["message"].as_str().unwrap().contains("time limit"),
        "the message says the time limit was hit\n{run}"
    );
    assert!(
        !w.out().join("long").exists(),
        "no partial output for the timed-out clip"
    );
    let expected = source_times(&good).expected(Q::int(1), Q::ZERO, Q::int(1), Q::int(30), false);
    check_clip(&run, &w, "good", &good, "jpg", LANDSCAPE, &expected);
    // Bounded: the limit plus a margin for process start, probing and the short clip.
    assert!(
        run.elapsed < Duration::from_secs_f64(limit + 15.0),
        "took {:?}\n{run}",
        run.elapsed
    );
    // The run left the store healthy.
    let mut verify = w.command();
    verify.args(["cache", "verify"]);
    assert_eq!(crate::common::run(verify).code(), Some(0));
}

#[test]
fn a_long_source_that_keeps_producing_frames_is_never_cut_off() {
    // The limit bounds the time between frames, not a source's total: all 600 frames of
    // `long720` through one worker take well over the 0.3 s limit in all, but every frame comes
    // out within it.
    let w = Work::new();
    w.add("long.mp4", &long720());
    let run = w.extract(
        &manifest(json!(30), vec![json!({ "id": "long", "src": "long.mp4" })]),
        &["--source-timeout", "0.3", "--jobs", "1", "--cache-dir", "off"],
    );
    run.assert_ok();
    assert_eq!(run.clip("long")["frames"], 600, "{run}");
    let took = run.result()["durationMs"].as_f64().unwrap();
    assert!(
        took > 900.0,
        "the run took {took} ms, not clearly longer than the limit: this test shows nothing\n{run}"
    );
}

/// A y4m of `frames` frames of `w`x`h` at `path`, sparse on disk: only the headers are written,
/// the pictures read as zeros (so it costs no disk space or time to make, however large).
fn sparse_y4m(path: &Path, w: u64, h: u64, frames: u64) {
    use std::io::{Seek, SeekFrom, Write};
    let header = format!("YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg\n");
    let frame_len = w * h * 3 / 2;
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(header.as_bytes()).unwrap();
    let mut at = header.len() as u64;
    for _ in 0..frames {
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(b"FRAME\n").unwrap();
        at += 6 + frame_len;
    }
    f.set_len(at).unwrap();
}

#[test]
fn a_probe_over_its_time_limit_fails_as_invalid_media() {
    // A y4m of 12000x12000 frames (216 MB each, sparse on disk): every single read of the probe
    // past the header — `find_stream_info`'s first packet, or the packet scan's — is one 216 MB
    // frame, which cannot be read in 10 ms. So with a 0.01 s limit the budget runs out inside one
    // step (FFmpeg's interrupt callback stops the read, or the scan sees the read finish late)
    // and the probe must stop with `invalid_media` saying so, however fast the machine. (The
    // limit bounds the time between steps of reading on, not the whole scan: with a limit of
    // seconds this file would be scanned, slowly, in full.) No second clip: its own probe is
    // not guaranteed to fit in 10 ms; that other sources carry on is checked by the decode
    // timeout test above. Cache off: hashing a source is not part of the per-source limit (see
    // ARCHITECTURE.md).
    let w = Work::new();
    sparse_y4m(&w.path().join("huge.y4m"), 12000, 12000, 150);
    let run = w.extract(
        &manifest(json!(30), vec![json!({ "id": "huge", "src": "huge.y4m" })]),
        &["--cache-dir", "off", "--source-timeout", "0.01"],
    );
    assert_eq!(run.code(), Some(1), "{run}");
    let e = run
        .error("huge")
        .unwrap_or_else(|| panic!("the huge source must time out\n{run}"));
    assert_eq!(e["kind"].as_str(), Some("invalid_media"), "{run}");
    assert!(e["message"].as_str().unwrap().contains("time limit"), "{run}");
    assert!(run.elapsed < Duration::from_secs(10), "took {:?}\n{run}", run.elapsed);
}

#[test]
fn a_long_probe_that_keeps_reading_is_never_cut_off() {
    // The limit bounds the probe's time without reading further into the file, not the whole
    // probe: the packet scan of 900 sparse 1080p y4m frames (3 MB each, 2.8 GB in all) takes
    // clearly longer than the 0.25 s limit, but each frame arrives well within it. (Not much
    // less than 0.25 s: on a loaded 2-core machine a read can stall for 50 ms.)
    let w = Work::new();
    sparse_y4m(&w.path().join("long.y4m"), 1920, 1080, 900);
    let run = w.extract(
        &manifest(json!(30), vec![clip("long", "long.y4m", 0.0, 0.1, 29.0, false)]),
        &["--source-timeout", "0.25", "--jobs", "1", "--cache-dir", "off"],
    );
    run.assert_ok();
    assert_eq!(run.clip("long")["frames"], 3, "{run}");
    let probe = run.result()["breakdown"]["probeMs"].as_f64().unwrap();
    assert!(
        probe > 500.0,
        "the probe took {probe} ms, not clearly longer than the limit: this test shows nothing\n{run}"
    );
}
