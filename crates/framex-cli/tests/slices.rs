//! Chunked renders (issue 12): `--frames A..B` / `--time S..E` extract only what a slice of the
//! timeline shows, with global frame numbering, so slices run anywhere add up to exactly one
//! full run — byte for byte, file for file — and a store filled by slices serves a full run
//! without decoding. Also: decode work per slice (keyframe lead-in plus the slice), slice
//! boundaries inside a VFR gap, a slice showing only a held tail, an empty slice, and refusals.
//!
//! The oracle here is framex's own full run (whose frames the other suites check against the
//! ffmpeg CLI): a slice must reproduce exactly the files of the full run it is a part of.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Instant;

use crate::common::*;
use serde_json::{json, Value};

const X264: &str = "-c:v libx264 -preset veryfast -pix_fmt yuv420p";

// ------------------------------------------------------------------------------------------------
// Fixtures and helpers
// ------------------------------------------------------------------------------------------------

/// 320x180, 30 fps, 25 s testsrc2, a keyframe every 2 s: the trimmed H.264 clip.
fn long25() -> PathBuf {
    static C: OnceLock<PathBuf> = OnceLock::new();
    C.get_or_init(|| {
        let r = format!("-f lavfi -i testsrc2=size=320x180:rate=30:duration=25 {X264} -g 60");
        synth_fixture("slices-long25.mp4", None, &r)
    })
    .clone()
}

/// 320x180, 30 fps, 3 s of ffmpeg's `testsrc` (other pictures than testsrc2): the looped clip.
fn loop3() -> PathBuf {
    static C: OnceLock<PathBuf> = OnceLock::new();
    C.get_or_init(|| {
        let r = format!("-f lavfi -i testsrc=size=320x180:rate=30:duration=3 {X264} -g 30");
        synth_fixture("slices-loop3.mp4", None, &r)
    })
    .clone()
}

/// 320x180, 30 fps, 20 s, a keyframe exactly every 250 frames (0, 250, 500) and no B-frames.
fn gop250() -> PathBuf {
    static C: OnceLock<PathBuf> = OnceLock::new();
    C.get_or_init(|| {
        let r = format!(
            "-f lavfi -i testsrc2=size=320x180:rate=30:duration=20 {X264} -bf 0 -g 250 -keyint_min 250 -sc_threshold 0"
        );
        let p = synth_fixture("slices-gop250.mp4", None, &r);
        let keys: Vec<i64> = packets(&p).iter().filter(|k| k.key).map(|k| k.pts).collect();
        assert_eq!(
            keys,
            vec![0, 250 * 512, 500 * 512],
            "fixture check: keyframes at 0, 250, 500"
        );
        p
    })
    .clone()
}

/// The 60 s control composition at 30 fps (1800 frames): a trimmed H.264 clip, a VFR
/// screen-recording-style clip, a looped 3 s clip and a 24 fps clip whose held tail runs from
/// 41 s to the end.
fn sixty_seconds(w: &Work) -> Value {
    w.add("long.mp4", &long25());
    w.add("screen.mp4", &vfr());
    w.add("loop.mp4", &loop3());
    w.add("tail.mp4", &cfr24());
    json!({
        "fps": 30,
        "timelineEnd": 60,
        "videos": [
            clip("trim", "long.mp4", 0.0, 20.0, 3.0, false),
            clip("screen", "screen.mp4", 15.0, 25.0, 0.0, false),
            clip("loop", "loop.mp4", 22.0, 40.0, 0.0, true),
            clip("tail", "tail.mp4", 38.0, 60.0, 0.0, false),
        ]
    })
}

/// `framex extract COMP --json --cache-dir STORE --out OUT <extra>`, not yet started.
fn extract_cmd(w: &Work, store: &Path, out: &Path, extra: &[&str]) -> std::process::Command {
    let mut c = w.command();
    c.arg("extract")
        .arg(w.path().join("comp.json"))
        .arg("--json")
        .arg("--cache-dir")
        .arg(store)
        .arg("--out")
        .arg(out)
        .args(extra);
    c
}

/// Runs the commands at the same time and waits for all of them.
fn run_all(cmds: Vec<std::process::Command>) -> Vec<Run> {
    let started = Instant::now();
    let children: Vec<_> = cmds
        .into_iter()
        .map(|mut c| {
            c.stdout(Stdio::piped()).stderr(Stdio::piped());
            let mut child = c.spawn().expect("start framex");
            let pipes = drain(&mut child);
            (child, pipes)
        })
        .collect();
    children
        .into_iter()
        .map(|(mut child, (so, se))| {
            let status = wait_or_kill(&mut child, started, "concurrent framex");
            finish(status, so, se, started.elapsed())
        })
        .collect()
}

/// Every file of `dir` by name, with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    list_files(dir)
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// A clip's `ranges` in a result.
fn ranges(run: &Run, id: &str) -> Vec<[u64; 2]> {
    serde_json::from_value(run.clip(id)["ranges"].clone()).unwrap()
}

/// The file names `ranges` promises (global numbering: index `k` is `frame_<k+1>`).
fn names(ranges: &[[u64; 2]]) -> BTreeSet<String> {
    ranges
        .iter()
        .flat_map(|&[a, b]| a..b)
        .map(|k| format!("frame_{:05}.jpg", k + 1))
        .collect()
}

/// Asserts that every file of `part` (a slice's clip folder) is the same-named file of `full`,
/// byte for byte, and that the folder holds exactly what the result's `ranges` says.
fn assert_part_of(part: &Path, full: &BTreeMap<String, Vec<u8>>, promised: &[[u64; 2]], what: &str) {
    let got = files(part);
    assert_eq!(
        got.keys().cloned().collect::<BTreeSet<_>>(),
        names(promised),
        "{what}: the folder holds exactly the frames its ranges list"
    );
    for (name, bytes) in &got {
        let want = full
            .get(name)
            .unwrap_or_else(|| panic!("{what}: {name} is not a frame of the full run"));
        assert!(bytes == want, "{what}: {name} differs from the full run's");
    }
}

const IDS: [&str; 4] = ["trim", "screen", "loop", "tail"];

// ------------------------------------------------------------------------------------------------
// Slices add up to the whole
// ------------------------------------------------------------------------------------------------

#[test]
fn four_concurrent_slices_with_separate_stores_add_up_to_the_full_run_byte_for_byte() {
    let w = Work::new();
    w.write_manifest(&sixty_seconds(&w));
    let full_out = w.path().join("full");
    let full = run(extract_cmd(&w, &w.path().join("store-full"), &full_out, &[]));
    full.assert_ok();
    let cuts = [0, 450, 900, 1350, 1800];
    let slices: Vec<String> = cuts.windows(2).map(|c| format!("{}..{}", c[0], c[1])).collect();
    let cmds = slices
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (store, out) = (w.path().join(format!("store-{i}")), w.path().join(format!("out-{i}")));
            extract_cmd(&w, &store, &out, &["--frames", s])
        })
        .collect();
    let runs = run_all(cmds);
    for id in IDS {
        let whole = files(&full_out.join(id));
        assert_eq!(
            ranges(&full, id),
            vec![[0, whole.len() as u64]],
            "{id}: a full run is one range"
        );
        let mut union: BTreeSet<String> = BTreeSet::new();
        for (i, r) in runs.iter().enumerate() {
            r.assert_ok();
            let promised = ranges(r, id);
            assert_eq!(r.clip(id)["frames"], json!(names(&promised).len()), "{id} in slice {i}");
            assert_part_of(
                &w.path().join(format!("out-{i}/{id}")),
                &whole,
                &promised,
                &format!("{id}, slice {i}"),
            );
            union.extend(names(&promised));
        }
        assert_eq!(
            union,
            whole.keys().cloned().collect(),
            "{id}: the slices' union is the full run"
        );
    }
    // The last slice (45–60 s) shows only the held last frame of "tail" (its 3 s source ran
    // out at 41 s): one frame.
    assert_eq!(ranges(&runs[3], "tail"), vec![[89, 90]]);
    for id in ["trim", "screen", "loop"] {
        assert_eq!(
            ranges(&runs[3], id),
            Vec::<[u64; 2]>::new(),
            "{id} is not on screen after 45 s"
        );
    }
    assert_eq!(runs[3].breakdown("framesEncoded"), 1, "{}", runs[3]);
    // A loop inside a slice costs one cycle: slice 2 (30–45 s) shows 10 s of a 3 s, 90-frame
    // loop, and the 72 distinct frames of the 24 fps clip's 3 s.
    assert!(runs[2].breakdown("framesEncoded") <= 90 + 72, "{}", runs[2]);
}

#[test]
fn slices_into_one_shared_store_leave_nothing_for_a_full_run_to_decode() {
    let w = Work::new();
    w.write_manifest(&sixty_seconds(&w));
    let store = w.path().join("store");
    let cmds = ["0..450", "450..900", "900..1350", "1350..1800"]
        .iter()
        .enumerate()
        .map(|(i, s)| extract_cmd(&w, &store, &w.path().join(format!("out-{i}")), &["--frames", s]))
        .collect();
    for r in run_all(cmds) {
        r.assert_ok();
    }
    let full_out = w.path().join("full");
    let full = run(extract_cmd(&w, &store, &full_out, &[]));
    full.assert_ok();
    assert_eq!(full.breakdown("framesDecoded"), 0, "{full}");
    assert_eq!(full.breakdown("framesEncoded"), 0, "{full}");
    // The same files as a full run into a store of its own.
    let fresh_out = w.path().join("fresh");
    run(extract_cmd(&w, &w.path().join("fresh-store"), &fresh_out, &[])).assert_ok();
    for id in IDS {
        assert!(files(&full_out.join(id)) == files(&fresh_out.join(id)), "{id}");
    }
    // The partial clip folders were never taken for whole clips: every clip a slice covered
    // only in part was planned again (its frames linked from the store). A slice that showed
    // every frame of a clip made a whole clip: "screen" (15–25 s in 450..900) and "tail" (all
    // 90 frames by 41 s, in 900..1350).
    for (id, hit) in [("trim", false), ("screen", true), ("loop", false), ("tail", true)] {
        assert_eq!(full.clip(id)["cached"], hit, "{id}\n{full}");
    }
}

// ------------------------------------------------------------------------------------------------
// Decode work, VFR gaps, held tails, empty slices
// ------------------------------------------------------------------------------------------------

#[test]
fn a_slice_in_the_middle_of_a_long_gop_decodes_only_the_lead_in_and_the_slice() {
    let w = Work::new();
    w.add("g.mp4", &gop250());
    let m = manifest(json!(30), vec![clip("g", "g.mp4", 0.0, 20.0, 0.0, false)]);
    let r = w.extract(&m, &["--frames", "300..330"]);
    r.assert_ok();
    assert_eq!(ranges(&r, "g"), vec![[300, 330]]);
    // Keyframe 250 is the one before frame 300: 50 frames of lead-in, then the 30 of the slice.
    let decoded = r.breakdown("framesDecoded");
    assert!((30..=50 + 30).contains(&decoded), "decoded {decoded}\n{r}");
    assert_eq!(r.breakdown("seeks"), 1, "one seek, to keyframe 250\n{r}");
    assert_eq!(r.breakdown("framesEncoded"), 30);
    // The frames are the full run's.
    let full = Work::new();
    full.add("g.mp4", &gop250());
    full.extract(&m, &[]).assert_ok();
    assert_part_of(&w.out().join("g"), &files(&full.out().join("g")), &[[300, 330]], "g");
}

#[test]
fn vfr_slice_boundaries_inside_a_gap_split_the_held_frame_exactly() {
    // The VFR fixture has no frames in [1, 2] s: every output frame there holds the one shown
    // at ~0.983 s. Cut the clip at 1.5 s and at 3.5 s, both inside gaps.
    let w = Work::new();
    w.add("v.mp4", &vfr());
    let m = manifest(json!(30), vec![clip("v", "v.mp4", 0.0, 10.0, 0.0, false)]);
    w.write_manifest(&m);
    let full_out = w.path().join("full");
    run(extract_cmd(&w, &w.path().join("s-full"), &full_out, &[])).assert_ok();
    let whole = files(&full_out.join("v"));
    assert_eq!(whole.len(), 300);
    let cuts = ["0..1.5", "1.5..3.5", "3.5..10"];
    let cmds = cuts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            extract_cmd(
                &w,
                &w.path().join(format!("s{i}")),
                &w.path().join(format!("o{i}")),
                &["--time", t],
            )
        })
        .collect();
    let runs = run_all(cmds);
    let expect = [vec![[0u64, 45u64]], vec![[45, 105]], vec![[105, 300]]];
    let mut union = BTreeSet::new();
    for (i, r) in runs.iter().enumerate() {
        r.assert_ok();
        assert_eq!(ranges(r, "v"), expect[i], "slice {}", cuts[i]);
        assert_part_of(&w.path().join(format!("o{i}/v")), &whole, &expect[i], cuts[i]);
        union.extend(names(&expect[i]));
    }
    assert_eq!(union, whole.keys().cloned().collect());
    // Either side of each boundary, the same held source frame.
    assert!(whole["frame_00045.jpg"] == whole["frame_00046.jpg"]);
    assert!(whole["frame_00105.jpg"] == whole["frame_00106.jpg"]);
    // Each slice encoded that held frame once (the rest of the gap is links to it).
    assert!(runs[1].breakdown("framesLinked") >= 14, "{}", runs[1]);
}

#[test]
fn a_slice_showing_only_a_held_tail_costs_one_frame() {
    // A 2 s source in a 6 s slot: frames 0..60, the last held from 2 s to 6 s.
    let w = Work::new();
    w.add("s.mp4", &short2s());
    let m = manifest(json!(30), vec![clip("s", "s.mp4", 0.0, 6.0, 0.0, false)]);
    let r = w.extract(&m, &["--frames", "120..150"]);
    r.assert_ok();
    assert_eq!(ranges(&r, "s"), vec![[59, 60]]);
    assert_eq!(r.clip("s")["frames"], 1);
    assert_eq!(r.breakdown("framesEncoded"), 1);
    assert!(r.breakdown("framesDecoded") <= 30, "at most its GOP\n{r}");
    let full = Work::new();
    full.add("s.mp4", &short2s());
    full.extract(&m, &[]).assert_ok();
    assert_part_of(&w.out().join("s"), &files(&full.out().join("s")), &[[59, 60]], "s");
    // The lookup over the slice answers inside it and says "not extracted" outside.
    let mut c = w.command();
    c.arg("frame")
        .arg(w.path().join("comp.json"))
        .args(["--frames", "120..150", "--at", "4.5", "--at", "1", "-q"]);
    let f = run(c);
    assert_eq!(f.code(), Some(0), "{f}");
    let answers = f.result().as_array().unwrap();
    assert_eq!(answers[0]["clips"][0]["index"], 59);
    assert!(
        answers[0]["clips"][0]["file"]
            .as_str()
            .unwrap()
            .ends_with("frame_00060.jpg"),
        "{f}"
    );
    assert_eq!(answers[1]["clips"][0]["index"], 30);
    assert_eq!(answers[1]["clips"][0]["file"], Value::Null, "{f}");
    assert_eq!(answers[1]["clips"][0]["extracted"], false, "{f}");
}

#[test]
fn a_slice_where_no_clip_is_active_is_an_empty_result() {
    let w = Work::new();
    w.add("a.mp4", &cfr30());
    let m = json!({ "fps": 30, "timelineEnd": 4, "videos": [clip("a", "a.mp4", 0.0, 2.0, 0.0, false)] });
    let r = w.extract(&m, &["--frames", "90..120"]);
    r.assert_ok();
    assert_eq!(r.result()["totalFrames"], 0);
    assert_eq!(ranges(&r, "a"), Vec::<[u64; 2]>::new());
    assert_eq!(r.breakdown("framesDecoded"), 0);
    assert!(w.files("a").is_empty());
}

#[test]
fn empty_slices_and_slices_past_the_end_are_refused() {
    let w = Work::new();
    w.add("a.mp4", &cfr30());
    let m = manifest(json!(30), vec![clip("a", "a.mp4", 0.0, 2.0, 0.0, false)]);
    for (args, says) in [
        (vec!["--frames", "30..30"], "empty"),
        (vec!["--frames", "40..30"], "empty"),
        (vec!["--frames", "0..61"], "past the composition"),
        (vec!["--time", "1..2.5"], "past the composition"),
        (vec!["--time", "1..1"], "no frame"),
        (vec!["--frames", "a..b"], "expected A..B"),
    ] {
        let r = w.extract(&m, &args);
        assert_eq!(r.code(), Some(2), "{args:?}\n{r}");
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
        assert!(!w.out().join("a").exists(), "{args:?}: nothing written");
    }
    // The end is the last clip's end: the slice up to it is fine.
    w.extract(&m, &["--frames", "0..60"]).assert_ok();
    // An index file naming no clip of the composition, or not JSON.
    let bad = w.write("bad.json", br#"{"nope": [{"firstFrame": 0, "frames": 2}]}"#);
    let r = w.extract(&m, &["--indices", bad.to_str().unwrap()]);
    assert_eq!(r.code(), Some(2), "{r}");
    assert!(r.stderr.contains("\"nope\""), "{}", r.stderr);
    let junk = w.write("junk.json", b"[1, 2");
    let r = w.extract(&m, &["--indices", junk.to_str().unwrap()]);
    assert_eq!(r.code(), Some(2), "{r}");
}

#[test]
fn an_index_file_extracts_exactly_the_runs_it_lists() {
    let w = Work::new();
    w.add("a.mp4", &cfr30());
    let m = manifest(
        json!(30),
        vec![
            clip("a", "a.mp4", 0.0, 4.0, 0.0, false),
            clip("b", "a.mp4", 0.0, 4.0, 1.0, false),
        ],
    );
    let ix = w.write(
        "ix.json",
        br#"{"a": [{"firstFrame": 100, "frames": 5}, {"firstFrame": 3, "frames": 2}]}"#,
    );
    let r = w.extract(&m, &["--indices", ix.to_str().unwrap()]);
    r.assert_ok();
    assert_eq!(ranges(&r, "a"), vec![[3, 5], [100, 105]]);
    assert_eq!(
        ranges(&r, "b"),
        Vec::<[u64; 2]>::new(),
        "a clip not named gets no frames"
    );
    let full = Work::new();
    full.add("a.mp4", &cfr30());
    full.extract(&m, &[]).assert_ok();
    assert_part_of(
        &w.out().join("a"),
        &files(&full.out().join("a")),
        &[[3, 5], [100, 105]],
        "a",
    );
}
