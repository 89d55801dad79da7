//! The library contract (contract §3, §5), tested as a program calling `framex` would, with no
//! CLI in between: cancellation leaves every unfinished clip `Cancelled` and nothing partial
//! behind, the progress totals equal the result's totals, the result JSON keeps its shape (a
//! snapshot), and `framex::probe` agrees with ffprobe. Media is synthesized with the ffmpeg CLI
//! into a temp dir; every run gets its own store folder, never the user's cache.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use framex::{CancelToken, ClipSpec, Composition, ErrorKind, ExtractOptions, ExtractionResult, Progress, Rational};
use serde_json::Value;

// ------------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------------

/// The only place options are built: from `Default` (no store, no output folder), so no test
/// can fall back on the user's real cache folder.
fn options(out: &Path, cache: Option<&Path>) -> ExtractOptions {
    let mut o = ExtractOptions::default();
    o.out_dir = Some(out.to_path_buf());
    o.cache_dir = cache.map(Path::to_path_buf);
    o
}

/// The only place compositions are built: 30 fps, format chosen by alpha, quality 90, relative
/// `src` resolved against `base`, every clip through the checks of `push_clip`.
fn composition(base: &Path, clips: Vec<ClipSpec>) -> Composition {
    let mut c = Composition::new(Rational::from_int(30), base).expect("30 fps is valid");
    c.set_quality(90).expect("90 is a valid quality");
    for clip in clips {
        c.push_clip(clip).expect("a valid clip");
    }
    c
}

/// A clip of `src` from the composition's start, playing media `[from, from + secs)`.
fn clip(id: &str, src: &str, from: i64, secs: i64) -> ClipSpec {
    let mut c = ClipSpec::new(id, src);
    c.media_start = Rational::from_int(from);
    c.end = Some(Rational::from_int(secs));
    c
}

fn run_tool(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Writes `dir/name`: `secs` seconds of testsrc2 at `size` and 30 fps as H.264 (a keyframe
/// every second).
fn synth(dir: &Path, name: &str, size: &str, secs: u32) -> PathBuf {
    let path = dir.join(name);
    run_tool(
        Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-nostdin",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
            ])
            .arg(format!("testsrc2=size={size}:rate=30:duration={secs}"))
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
                "-g",
                "30",
            ])
            .arg(&path),
    );
    path
}

/// A temp folder holding the sources, the output folder and the store folder of one test.
struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn new() -> Work {
        Work {
            dir: tempfile::Builder::new()
                .prefix("framex-api-")
                .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
                .unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn out(&self) -> PathBuf {
        self.path().join("out")
    }

    fn cache(&self) -> PathBuf {
        self.path().join("cache")
    }
}

/// The clips' exact timings read back from a result JSON, as a Node caller holds them.
fn timings_of(json: &Value) -> Vec<framex::ClipTiming> {
    json["clips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| serde_json::from_value(c["timing"].clone()).unwrap())
        .collect()
}

/// Names in `dir` (none if it does not exist).
fn entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The store's folder of temporaries (staging folders of unpublished clips live there).
fn store_tmp(cache: &Path) -> PathBuf {
    cache.join("framex-v1").join("tmp")
}

/// Every clip in `result.clips` has its complete folder: exactly its frame files.
fn assert_complete(result: &ExtractionResult) {
    for c in &result.clips {
        let expected: BTreeSet<String> = (0..c.frames)
            .map(|k| framex::frame_file_name(k, c.format.extension()))
            .collect();
        assert_eq!(
            entries(&c.dir),
            expected,
            "clip {}: its folder holds exactly its frames",
            c.id
        );
    }
}

fn error_kinds(result: &ExtractionResult) -> Vec<(String, ErrorKind)> {
    result.errors.iter().map(|e| (e.id.clone(), e.kind)).collect()
}

/// Records what a run reports, and cancels it once `cancel_after` frames are reported written.
#[derive(Default)]
struct Recorder {
    planned: Mutex<Vec<u64>>,
    wrote: AtomicU64,
    cancel_after: Option<(u64, CancelToken)>,
}

impl Progress for Recorder {
    fn planned(&self, frames: u64, _sources: usize) {
        self.planned.lock().unwrap().push(frames);
    }

    fn wrote(&self, _source: Option<usize>, n: u64) {
        let total = self.wrote.fetch_add(n, Ordering::SeqCst) + n;
        if let Some((after, token)) = &self.cancel_after {
            if total >= *after {
                token.cancel();
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Cancellation
// ------------------------------------------------------------------------------------------------

#[test]
fn a_cancelled_token_fails_every_clip_as_cancelled_and_writes_nothing() {
    let w = Work::new();
    synth(w.path(), "a.mp4", "320x180", 1);
    synth(w.path(), "b.mp4", "320x180", 1);
    let comp = composition(w.path(), vec![clip("a", "a.mp4", 0, 1), clip("b", "b.mp4", 0, 1)]);
    let opts = options(&w.out(), Some(&w.cache()));
    opts.cancel.cancel();
    let result = framex::extract(&comp, &opts);
    assert!(!result.success, "{result:?}");
    assert!(result.clips.is_empty(), "{result:?}");
    assert_eq!(
        error_kinds(&result),
        vec![
            ("a".to_string(), ErrorKind::Cancelled),
            ("b".to_string(), ErrorKind::Cancelled)
        ]
    );
    assert!(
        result.errors.iter().all(|e| e.retryable),
        "cancelled clips may be retried"
    );
    assert_eq!(
        entries(&w.out()),
        BTreeSet::new(),
        "nothing written to the output folder"
    );
    assert_eq!(
        entries(&store_tmp(&w.cache())),
        BTreeSet::new(),
        "no store temporaries left"
    );
}

#[test]
fn cancelling_mid_run_leaves_unfinished_clips_cancelled_and_nothing_partial() {
    let w = Work::new();
    // 300 frames of 640x360: still being produced long after the first frames are reported.
    synth(w.path(), "long.mp4", "640x360", 10);
    synth(w.path(), "small.mp4", "320x180", 1);
    let comp = composition(
        w.path(),
        vec![clip("long", "long.mp4", 0, 10), clip("small", "small.mp4", 0, 1)],
    );
    let mut opts = options(&w.out(), Some(&w.cache()));
    let recorder = Arc::new(Recorder {
        cancel_after: Some((20, opts.cancel.clone())),
        ..Recorder::default()
    });
    opts.progress = Some(recorder.clone());
    let result = framex::extract(&comp, &opts);

    assert!(opts.cancel.is_cancelled(), "the run reported 20 frames written");
    assert!(!result.success, "{result:?}");
    assert!(
        result.errors.iter().any(|e| e.id == "long"),
        "the 300-frame clip cannot have finished: {result:?}"
    );
    assert!(
        result.errors.iter().all(|e| e.kind == ErrorKind::Cancelled),
        "every unfinished clip is cancelled: {:?}",
        error_kinds(&result)
    );
    assert_eq!(result.clips.len() + result.errors.len(), 2, "{result:?}");
    assert_complete(&result);
    let finished: BTreeSet<String> = result.clips.iter().map(|c| c.id.clone()).collect();
    assert_eq!(
        entries(&w.out()),
        finished,
        "the output folder holds the finished clips' folders and nothing else"
    );
    assert_eq!(
        entries(&store_tmp(&w.cache())),
        BTreeSet::new(),
        "no store temporaries left"
    );
}

// ------------------------------------------------------------------------------------------------
// Progress totals
// ------------------------------------------------------------------------------------------------

/// Runs `comp` with a fresh recorder; every clip must succeed, and the progress totals must equal
/// the result's.
fn run_and_check_totals(comp: &Composition, w: &Work) -> ExtractionResult {
    let mut opts = options(&w.out(), Some(&w.cache()));
    let recorder = Arc::new(Recorder::default());
    opts.progress = Some(recorder.clone());
    let result = framex::extract(comp, &opts);
    assert!(result.success, "{result:?}");
    assert_eq!(result.clips.len(), comp.clips().len());
    assert_complete(&result);
    let planned = recorder.planned.lock().unwrap().clone();
    assert_eq!(
        planned,
        vec![result.total_frames],
        "`planned` is reported once, with the result's total"
    );
    assert_eq!(
        recorder.wrote.load(Ordering::SeqCst),
        result.total_frames,
        "the frames reported written add up to the result's total"
    );
    result
}

#[test]
fn progress_totals_equal_the_result_totals() {
    let w = Work::new();
    synth(w.path(), "a.mp4", "320x180", 2);
    synth(w.path(), "b.mp4", "320x180", 2);
    // Cold store; `a2` is a duplicate of `a` (same source, same window), `b` a trim.
    let first = composition(
        w.path(),
        vec![
            clip("a", "a.mp4", 0, 1),
            clip("a2", "a.mp4", 0, 1),
            clip("b", "b.mp4", 1, 1),
        ],
    );
    let result = run_and_check_totals(&first, &w);
    assert_eq!(result.total_frames, 90);
    assert_eq!(result.breakdown.clip_hits, 0, "{:?}", result.breakdown);

    // Warm: `a` and `a2` are whole-clip hits, `c` is new.
    let second = composition(
        w.path(),
        vec![
            clip("a", "a.mp4", 0, 1),
            clip("a2", "a.mp4", 0, 1),
            clip("c", "b.mp4", 0, 2),
        ],
    );
    let result = run_and_check_totals(&second, &w);
    assert_eq!(result.total_frames, 120);
    assert_eq!(result.breakdown.clip_hits, 2, "{:?}", result.breakdown);
    assert_eq!(result.breakdown.clip_misses, 1, "{:?}", result.breakdown);
}

// ------------------------------------------------------------------------------------------------
// The result JSON's shape
// ------------------------------------------------------------------------------------------------

/// `v` with every leaf replaced by its JSON type name and every array by the shape of its first
/// element (`[]` when empty).
fn shape(v: &Value) -> Value {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
        Value::Array(a) => Value::Array(a.first().map(shape).into_iter().collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
    }
}

#[test]
fn the_result_json_keeps_its_shape() {
    let w = Work::new();
    synth(w.path(), "a.mp4", "320x180", 1);
    // A file where the store folder should be: the run warns and runs uncached.
    let not_a_folder = w.path().join("cache-is-a-file");
    std::fs::write(&not_a_folder, b"").unwrap();
    let comp = composition(
        w.path(),
        vec![clip("ok", "a.mp4", 0, 1), clip("missing", "missing.mp4", 0, 1)],
    );
    let result = framex::extract(&comp, &options(&w.out(), Some(&not_a_folder)));
    assert_eq!(result.clips.len(), 1, "{result:?}");
    assert_eq!(
        error_kinds(&result),
        vec![("missing".to_string(), ErrorKind::SourceMissing)]
    );
    assert_eq!(result.warnings.len(), 1, "{result:?}");

    let actual = shape(&serde_json::to_value(&result).unwrap());
    let snapshot = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/result-shape.json");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(snapshot.parent().unwrap()).unwrap();
        std::fs::write(&snapshot, serde_json::to_string_pretty(&actual).unwrap() + "\n").unwrap();
        return;
    }
    let text = std::fs::read_to_string(&snapshot)
        .unwrap_or_else(|e| panic!("{}: {e} (write it with UPDATE_SNAPSHOTS=1)", snapshot.display()));
    let expected: Value = serde_json::from_str(&text).unwrap();
    assert!(
        actual == expected,
        "the result JSON changed shape; if that is intended, rerun with UPDATE_SNAPSHOTS=1 and \
         commit {}\nexpected:\n{}\nactual:\n{}",
        snapshot.display(),
        serde_json::to_string_pretty(&expected).unwrap(),
        serde_json::to_string_pretty(&actual).unwrap()
    );
}

// ------------------------------------------------------------------------------------------------
// Probe
// ------------------------------------------------------------------------------------------------

#[test]
fn probe_matches_ffprobe() {
    let w = Work::new();
    let src = synth(w.path(), "p.mp4", "176x144", 2);
    let ff: Value = serde_json::from_slice(&run_tool(
        Command::new("ffprobe")
            .args(["-v", "error", "-of", "json", "-count_frames", "-select_streams", "v:0"])
            .args(["-show_entries", "stream=width,height,nb_read_frames"])
            .arg(&src),
    ))
    .unwrap();
    let stream = &ff["streams"][0];
    let ff_frames: u64 = stream["nb_read_frames"].as_str().unwrap().parse().unwrap();
    let info = framex::probe(&src).unwrap();
    assert_eq!(
        (u64::from(info.width), u64::from(info.height), info.frame_count),
        (
            stream["width"].as_u64().unwrap(),
            stream["height"].as_u64().unwrap(),
            ff_frames
        ),
        "framex::probe against ffprobe: {info:?}"
    );
    assert_eq!(ff_frames, 60, "fixture check: 2 s at 30 fps");
}

// ------------------------------------------------------------------------------------------------
// The input types carry the checks extraction relies on (a binding builds compositions this way)
// ------------------------------------------------------------------------------------------------

#[test]
fn a_composition_built_through_the_library_cannot_write_outside_the_output_folder() {
    let w = Work::new();
    synth(w.path(), "a.mp4", "160x90", 1);
    let mut comp = Composition::new(Rational::from_int(30), w.path()).unwrap();
    for id in ["../escape", "/tmp/absolute", "a/b", ".hidden", ""] {
        let e = comp.push_clip(ClipSpec::new(id, "a.mp4")).unwrap_err();
        assert!(e.location.ends_with(".id"), "{id:?}: {e}");
    }
    comp.push_clip(ClipSpec::new("ok", "a.mp4")).unwrap();
    let e = comp.push_clip(ClipSpec::new("ok", "a.mp4")).unwrap_err();
    assert!(e.message.contains("duplicate"), "{e}");
    assert_eq!(comp.clips().len(), 1, "refused clips are not added");

    let before = entries(w.path());
    let result = framex::extract(&comp, &options(&w.out(), None));
    assert!(result.success, "{:?}", result.errors);
    assert_eq!(entries(&w.out()), BTreeSet::from(["ok".to_string()]));
    let mut after = entries(w.path());
    after.remove("out");
    assert_eq!(after, before, "nothing written beside the output folder");
}

#[test]
fn options_without_a_store_or_an_output_folder_fail_every_clip_with_one_message() {
    let w = Work::new();
    synth(w.path(), "a.mp4", "160x90", 1);
    let comp = composition(w.path(), vec![clip("a", "a.mp4", 0, 1)]);
    let opts = ExtractOptions::default();
    let message = opts.check().unwrap_err();
    let result = framex::extract(&comp, &opts);
    assert_eq!(error_kinds(&result), vec![("a".to_string(), ErrorKind::OutputFailed)]);
    assert_eq!(result.errors[0].message, message);
}

#[test]
fn a_store_written_before_records_were_versioned_still_hits() {
    let w = Work::new();
    synth(w.path(), "a.mp4", "320x180", 2);
    let comp = composition(w.path(), vec![clip("a", "a.mp4", 0, 2)]);
    let first = framex::extract(&comp, &options(&w.out(), Some(&w.cache())));
    assert!(first.success, "{:?}", first.errors);
    // Rewrite every record as the previous store format wrote it: the same fields, no
    // `version` (meta.json was then the serde of the probe metadata).
    let mut rewritten = 0;
    for record in walk(&w.cache()) {
        let name = record.file_name().unwrap().to_string_lossy().into_owned();
        if name != "meta.json" && name != ".complete" {
            continue;
        }
        let mut v: Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
        assert_eq!(v["version"], 1, "{name} records its version");
        v.as_object_mut().unwrap().remove("version");
        std::fs::write(&record, serde_json::to_vec(&v).unwrap()).unwrap();
        rewritten += 1;
    }
    assert_eq!(rewritten, 2, "one meta.json and one .complete");
    let again = framex::extract(&comp, &options(&w.out(), Some(&w.cache())));
    assert!(again.success, "{:?}", again.errors);
    assert_eq!(again.breakdown.clip_hits, 1, "a whole-clip hit");
    assert_eq!(again.breakdown.frames_decoded, 0);
}

/// Every file below `dir`, hidden ones included.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn a_lookup_over_a_result_that_crossed_json_is_exact() {
    let w = Work::new();
    synth(w.path(), "a.mp4", "160x90", 3);
    let mut c = clip("a", "a.mp4", 0, 3);
    c.playback_rate = Rational::new(3, 2);
    c.looping = true;
    c.end = Some(Rational::new(37, 10));
    let mut comp = composition(w.path(), vec![c]);
    comp.set_fps(Rational::new(30000, 1001)).unwrap();
    let result = framex::extract(&comp, &options(&w.out(), Some(&w.cache())));
    assert!(result.success, "{:?}", result.errors);
    // Through JSON, as a Node caller holds it: the timing comes back exactly.
    let json: Value = serde_json::from_str(&serde_json::to_string(&result).unwrap()).unwrap();
    let timings = timings_of(&json);
    assert_eq!(json["clips"][0]["timing"]["fps"], "20000/1001");
    let (original, rebuilt) = (result.lookup(), framex::FrameLookup::new(timings));
    for n in 0..=4000 {
        // Times on and between the output grid, and the inclusive end instant.
        let t = Rational::new(n, 1000);
        assert_eq!(rebuilt.frame_at(t), original.frame_at(t), "t = {t}");
    }
    for (c, k) in rebuilt.frame_at(Rational::new(37, 10)) {
        assert!(result.clips[c].frame_path(k).is_file(), "the end instant names a file");
    }
}

// ------------------------------------------------------------------------------------------------
// Slices and index lists (issue 12)
// ------------------------------------------------------------------------------------------------

/// Every frame file of `dir` by name, with its bytes.
fn frame_bytes(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    entries(dir)
        .into_iter()
        .map(|n| (n.clone(), std::fs::read(dir.join(&n)).unwrap()))
        .collect()
}

#[test]
fn an_index_list_extracts_only_the_clips_and_runs_it_names() {
    let w = Work::new();
    synth(w.path(), "a.mp4", "160x90", 4);
    let comp = composition(w.path(), vec![clip("a", "a.mp4", 0, 4), clip("b", "a.mp4", 1, 3)]);
    let full_out = w.path().join("full");
    let full = framex::extract(&comp, &options(&full_out, Some(&w.path().join("full-store"))));
    assert!(full.success, "{:?}", full.errors);

    let mut opts = options(&w.out(), Some(&w.cache()));
    let runs = vec![
        framex::FrameRun {
            first_frame: 10,
            frames: 5,
        },
        framex::FrameRun {
            first_frame: 118,
            frames: 10,
        },
    ];
    opts.indices = Some([("a".to_string(), runs)].into_iter().collect());
    let r = framex::extract(&comp, &opts);
    assert!(r.success, "{:?}", r.errors);
    let a = r.clips.iter().find(|c| c.id == "a").unwrap();
    // Frames 118..128 of a 120-frame clip: only 118 and 119 exist (the rest is a warning).
    assert_eq!(a.ranges, vec![[10, 15], [118, 120]]);
    assert_eq!(a.frames, 7);
    assert_eq!(a.indices().collect::<Vec<_>>(), vec![10, 11, 12, 13, 14, 118, 119]);
    assert!(
        r.warnings.iter().any(|w| w.contains("8 of the frame indices")),
        "{:?}",
        r.warnings
    );
    let b = r.clips.iter().find(|c| c.id == "b").unwrap();
    assert_eq!(
        (b.frames, b.ranges.clone()),
        (0, vec![]),
        "a clip the list does not name gets nothing"
    );
    assert_eq!(r.total_frames, 7);
    // Global numbering: frame k is the full run's frame k, byte for byte.
    let whole = frame_bytes(&full_out.join("a"));
    let part = frame_bytes(&w.out().join("a"));
    assert_eq!(part.len(), 7);
    for k in a.indices() {
        let name = framex::frame_file_name(k, "jpg");
        assert!(part[&name] == whole[&name], "{name}");
        assert!(a.frame_path(k).is_file());
    }

    // With a slice too: the frames in both.
    opts.frames = Some(framex::FrameRange::new(0, 12).unwrap());
    let r = framex::extract(&comp, &opts);
    assert_eq!(r.clips.iter().find(|c| c.id == "a").unwrap().ranges, vec![[10, 12]]);

    // An id the composition does not have fails the whole call, touching nothing.
    let mut bad = options(&w.path().join("bad-out"), Some(&w.cache()));
    bad.indices = Some([("nope".to_string(), vec![])].into_iter().collect());
    assert!(bad.check_for(&comp).unwrap_err().contains("\"nope\""));
    let r = framex::extract(&comp, &bad);
    assert!(!r.success && r.clips.is_empty());
    assert!(
        r.errors
            .iter()
            .all(|e| e.kind == ErrorKind::InvalidRequest && !e.retryable),
        "{:?}",
        r.errors
    );
    assert!(entries(&w.path().join("bad-out")).is_empty());
}

#[test]
fn a_lookup_over_a_slice_says_not_extracted_outside_it_even_after_json() {
    let w = Work::new();
    synth(w.path(), "a.mp4", "160x90", 3);
    let mut looping = clip("loop", "a.mp4", 0, 3);
    looping.looping = true;
    looping.end = Some(Rational::from_int(8));
    let mut comp = composition(w.path(), vec![clip("a", "a.mp4", 0, 3), looping]);
    comp.set_timeline_end(Some(Rational::from_int(8))).unwrap();
    assert_eq!(comp.frame_count(), Some(240));
    let mut opts = options(&w.out(), Some(&w.cache()));
    opts.frames = Some(framex::FrameRange::new(60, 150).unwrap());
    let result = framex::extract(&comp, &opts);
    assert!(result.success, "{:?}", result.errors);
    let json: Value = serde_json::from_str(&serde_json::to_string(&result).unwrap()).unwrap();
    assert_eq!(json["clips"][0]["ranges"], serde_json::json!([[60, 90]]));
    assert_eq!(json["clips"][0]["timing"]["ranges"], serde_json::json!([[60, 90]]));
    let timings = timings_of(&json);
    for lookup in [result.lookup(), framex::FrameLookup::new(timings)] {
        // Every time inside the slice is answered with a file that exists.
        for n in 60..150 {
            let t = Rational::new(n, 30);
            for (c, shown) in lookup.shown_at(t) {
                match shown {
                    framex::Shown::Frame(k) => assert!(result.clips[c].frame_path(k).is_file(), "t = {t}"),
                    framex::Shown::NotExtracted(k) => panic!("t = {t}: clip {c} frame {k} not extracted"),
                }
            }
        }
        // Outside it: on screen, but not extracted — not another frame, and not inactive.
        assert_eq!(
            lookup.shown_at(Rational::from_int(1)),
            vec![
                (0, framex::Shown::NotExtracted(30)),
                (1, framex::Shown::NotExtracted(30))
            ]
        );
        assert_eq!(
            lookup.shown_at(Rational::from_int(7)),
            vec![(1, framex::Shown::NotExtracted(210))]
        );
        assert_eq!(lookup.shown_at(Rational::from_int(9)), vec![]);
    }
    // A slice past the composition's end is refused as a whole.
    opts.frames = Some(framex::FrameRange::new(200, 241).unwrap());
    assert!(opts.check_for(&comp).unwrap_err().contains("240 frames"));
    let r = framex::extract(&comp, &opts);
    assert!(r.errors.iter().all(|e| e.kind == ErrorKind::InvalidRequest) && r.errors.len() == 2);
}

/// Two extractions at once in one process (a Node server's concurrent calls) into one fresh
/// store: each opens its own `Store`, and their temp names must still differ — once they were
/// numbered per `Store`, so both proved the store writable with the same probe file and one of
/// them, finding it gone, ran uncached.
#[test]
fn concurrent_extractions_in_one_process_share_a_fresh_store() {
    let w = Work::new();
    let src = synth(w.path(), "a.mp4", "160x90", 2);
    for round in 0..12 {
        let cache = w.path().join(format!("store{round}"));
        let comp_a = composition(w.path(), vec![clip("x", "a.mp4", 0, 2), clip("y", "a.mp4", 1, 1)]);
        let comp_b = composition(w.path(), vec![clip("x", "a.mp4", 0, 2), clip("z", "a.mp4", 0, 1)]);
        let (ra, rb) = std::thread::scope(|s| {
            let a = s.spawn(|| framex::extract(&comp_a, &options(&w.path().join(format!("a{round}")), Some(&cache))));
            let b = s.spawn(|| framex::extract(&comp_b, &options(&w.path().join(format!("b{round}")), Some(&cache))));
            (a.join().unwrap(), b.join().unwrap())
        });
        for r in [&ra, &rb] {
            assert_complete(r);
            assert!(r.warnings.is_empty(), "round {round}: {:?}", r.warnings);
        }
        let again = framex::extract(&comp_b, &options(&w.path().join(format!("c{round}")), Some(&cache)));
        assert_eq!(again.breakdown.clip_hits, 2, "round {round}: both clips stored");
        assert_eq!(again.breakdown.frames_decoded, 0);
    }
    let _ = src;
}

/// A live process (a Node server) answers a repeat hit from its memo of verified folders, but
/// never past a change to the folder: a frame swapped in by a rename is found on the next hit,
/// reported, and extracted again.
#[test]
fn a_repeat_hit_in_one_process_still_sees_a_swapped_frame() {
    let w = Work::new();
    synth(w.path(), "a.mp4", "160x90", 2);
    let comp = composition(w.path(), vec![clip("x", "a.mp4", 0, 2)]);
    let mut opts = options(&w.out(), Some(&w.cache()));
    opts.out_dir = None; // frames stay in the store: `dir` is the stored clip folder
    let cold = framex::extract(&comp, &opts);
    assert!(cold.success, "{:?}", cold.errors);
    let original = std::fs::read(cold.clips[0].frame_path(1)).unwrap();
    for _ in 0..3 {
        let warm = framex::extract(&comp, &opts);
        assert_eq!(warm.breakdown.clip_hits, 1);
        assert!(warm.warnings.is_empty(), "{:?}", warm.warnings);
    }
    // Swap frame 2 for other bytes, as anything but framex would: written beside, renamed in.
    let stored = cold.clips[0].frame_path(1);
    let impostor = stored.with_file_name("impostor");
    std::fs::write(&impostor, b"not the frame").unwrap();
    std::fs::rename(&impostor, &stored).unwrap();
    let after = framex::extract(&comp, &opts);
    assert!(
        after.warnings.iter().any(|m| m.contains("damaged")),
        "the swap went unseen: {:?}",
        after.warnings
    );
    assert_eq!(after.breakdown.clip_hits, 0);
    assert_eq!(std::fs::read(after.clips[0].frame_path(1)).unwrap(), original);
    let again = framex::extract(&comp, &opts);
    assert_eq!(again.breakdown.clip_hits, 1);
    assert!(again.warnings.is_empty(), "{:?}", again.warnings);
}
