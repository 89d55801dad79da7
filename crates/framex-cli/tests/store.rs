//! The frame store (contract §3–§4): frame-level reuse inside a run and across runs, whole-clip hits
//! that decode nothing, content-addressed sources (copy / rename hit, rewrite misses), several
//! processes on one store, a kill -9 mid-write, LRU garbage collection that counts hard links once
//! and never evicts a locked source, an unwritable cache folder, and `--cache-dir off`.
//!
//! Every frame that matters is identified with the oracle of `common`; counters are asserted
//! exactly wherever the behaviour is deterministic.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{json, Value};

const X264: &str = "-c:v libx264 -preset veryfast -pix_fmt yuv420p";

/// Keyframe interval of the short-GOP fixtures.
const GOP: usize = 15;

// ------------------------------------------------------------------------------------------------
// Fixtures
// ------------------------------------------------------------------------------------------------

/// Keyframe pts of a file, checked to be exactly every `GOP` frames (time base 1/15360 at
/// 30 fps: 512 ticks per frame).
fn assert_short_gop(p: &Path, frames: usize) {
    let t = source_times(p);
    assert_eq!(t.times.len(), frames, "fixture check: {} frames", p.display());
    let keys: Vec<i64> = packets(p).iter().filter(|k| k.key).map(|k| k.pts).collect();
    let want: Vec<i64> = (0..frames.div_ceil(GOP)).map(|i| (i * GOP * 512) as i64).collect();
    assert_eq!(keys, want, "fixture check: a keyframe exactly every {GOP} frames");
}

fn short_gop(name: &str, source: &str, seconds: u32, vf: &str) -> PathBuf {
    let r = format!(
        "-f lavfi -i {source}=size=320x180:rate=30:duration={seconds} {vf} {X264} \
         -g {GOP} -keyint_min {GOP} -sc_threshold 0"
    );
    let p = synth_fixture(name, None, &r);
    assert_short_gop(&p, seconds as usize * 30);
    p
}

/// 320x180, 30 fps, 5 s testsrc2 with a keyframe every 15 frames (B-frames on).
fn g15() -> PathBuf {
    static C: OnceLock<PathBuf> = OnceLock::new();
    C.get_or_init(|| short_gop("store-g15.mp4", "testsrc2", 5, "")).clone()
}

/// The same shape as `g15` with entirely different pictures (ffmpeg's classic `testsrc`).
fn g15_other() -> PathBuf {
    static C: OnceLock<PathBuf> = OnceLock::new();
    C.get_or_init(|| short_gop("store-g15-other.mp4", "testsrc", 5, ""))
        .clone()
}

/// Two uncompressed 160x90 2 s Y4M files of exactly the same size with different pictures
/// (testsrc2 and its negative): a rewrite that keeps size and mtime.
fn same_size_pair() -> (PathBuf, PathBuf) {
    static C: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    C.get_or_init(|| {
        let base = "-f lavfi -i testsrc2=size=160x90:rate=30:duration=2";
        let a = synth_fixture("store-same-a.y4m", None, &format!("{base} -pix_fmt yuv420p"));
        let b = synth_fixture("store-same-b.y4m", None, &format!("{base} -vf negate -pix_fmt yuv420p"));
        let (la, lb) = (fs::metadata(&a).unwrap().len(), fs::metadata(&b).unwrap().len());
        assert_eq!(la, lb, "fixture check: same-size pair");
        assert_ne!(
            fs::read(&a).unwrap(),
            fs::read(&b).unwrap(),
            "fixture check: different bytes"
        );
        (a, b)
    })
    .clone()
}

/// Three distinct 4 s sources for the GC test.
fn gc_sources() -> [PathBuf; 3] {
    static C: OnceLock<[PathBuf; 3]> = OnceLock::new();
    C.get_or_init(|| {
        [
            short_gop("store-gc-a.mp4", "testsrc2", 4, ""),
            short_gop("store-gc-b.mp4", "testsrc", 4, ""),
            short_gop("store-gc-c.mp4", "testsrc2", 4, "-vf negate"),
        ]
    })
    .clone()
}

// ------------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------------

fn write_comp(w: &Work, name: &str, m: &Value) -> PathBuf {
    w.write(name, serde_json::to_string_pretty(m).unwrap().as_bytes())
}

/// `framex extract COMP --json [--out OUT] <extra>` with the workspace's cache.
fn extract_cmd(w: &Work, comp: &Path, out: Option<&Path>, extra: &[&str]) -> Command {
    let mut c = w.command();
    c.arg("extract").arg(comp).arg("--json");
    if let Some(o) = out {
        c.arg("--out").arg(o);
    }
    c.args(extra);
    c
}

fn extract(w: &Work, comp: &Path, out: Option<&Path>, extra: &[&str]) -> Run {
    run(extract_cmd(w, comp, out, extra))
}

/// `framex cache <args> --cache-dir <workspace cache>`.
fn cache(w: &Work, args: &[&str]) -> Run {
    let mut c = w.command();
    c.arg("cache").args(args).arg("--cache-dir").arg(w.cache());
    run(c)
}

/// `framex cache <args>` that must exit 0 with a JSON report.
fn cache_ok(w: &Work, args: &[&str]) -> Value {
    let r = cache(w, args);
    assert_eq!(r.code(), Some(0), "framex cache {args:?} should exit 0\n{r}");
    r.result().clone()
}

fn num(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} missing or not an integer in {v}"))
}

fn assert_verify_clean(w: &Work, when: &str) -> Value {
    let r = cache(w, &["verify"]);
    let v = r.result().clone();
    assert_eq!(
        v["damaged"].as_array().map(|a| a.len()),
        Some(0),
        "{when}: `framex cache verify` must find no damage\n{r}"
    );
    assert_eq!(r.code(), Some(0), "{when}: verify exit status\n{r}");
    v
}

fn store_root(w: &Work) -> PathBuf {
    w.cache().join("framex-v1")
}

/// The oracle's expected source frames of a rate-1, non-looping clip at 30 fps.
fn expected(src: &Path, window: &str, media_start: &str) -> Vec<usize> {
    source_times(src).expected(Q::parse(window), Q::parse(media_start), Q::int(1), Q::int(30), false)
}

/// Frame files (not dotfiles) of a folder, sorted by name.
fn frame_files(dir: &Path) -> Vec<PathBuf> {
    list_files(dir)
        .into_iter()
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect()
}

/// Checks a folder holds exactly `frame_00001.jpg … frame_N.jpg` and that every one shows the
/// oracle's expected source frame of `src`.
fn check_dir(label: &str, dir: &Path, src: &Path, expected: &[usize]) {
    let names: Vec<String> = frame_files(dir)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let want: Vec<String> = (1..=expected.len()).map(|i| format!("frame_{i:05}.jpg")).collect();
    assert_eq!(names, want, "{label}: frame files in {}", dir.display());
    let times = source_times(src);
    let sources = video_rasters(src, LANDSCAPE, Plane::Luma);
    let outputs = image_rasters(dir, "jpg", LANDSCAPE, Plane::Luma);
    assert_frames_match(label, &outputs, &sources, &times, expected);
}

/// Checks the output frames `ks` of a folder against the oracle (for long clips).
fn check_sample(label: &str, dir: &Path, src: &Path, expected: &[usize], ks: &[usize]) {
    let times = source_times(src);
    let sources = video_rasters(src, LANDSCAPE, Plane::Luma);
    assert_eq!(sources.len(), times.times.len(), "{label}: source rasters");
    let mut bad = Vec::new();
    for &k in ks {
        let f = dir.join(format!("frame_{:05}.jpg", k + 1));
        assert!(f.is_file(), "{label}: {} is missing", f.display());
        let img = file_raster(&f, LANDSCAPE, Plane::Luma);
        let (got, e) = best_match(&img, &sources);
        let want = expected[k];
        if got != want && sources[got] != sources[want] {
            bad.push(format!(
                "  output frame {k}: expected source frame #{want}, best match #{got} (SSE {e} vs {})",
                sse(&img, &sources[want])
            ));
        }
    }
    assert!(bad.is_empty(), "{label}: wrong frames:\n{}", bad.join("\n"));
}

/// (device, inode) of a file.
fn inode(p: &Path) -> (u64, u64) {
    let m = fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.dev(), m.ino())
}

/// (device, inode) of every stored frame object (`src/*/frames/*/*`).
fn stored_objects(w: &Work) -> HashSet<(u64, u64)> {
    stored_frame_paths(w).iter().map(|p| inode(p)).collect()
}

fn stored_frame_paths(w: &Work) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for s in list_files(&store_root(w).join("src")) {
        for variant in list_files(&s.join("frames")) {
            v.extend(list_files(&variant));
        }
    }
    v
}

/// Published clip folders in the store (`src/*/clips/*`).
fn stored_clip_dirs(w: &Work) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for s in list_files(&store_root(w).join("src")) {
        v.extend(list_files(&s.join("clips")));
    }
    v
}

/// The content hash of the source behind a store clip folder `…/src/<hash>/clips/<key>`.
fn source_hash_of(dir: &Path) -> String {
    let src_dir = dir.parent().and_then(|p| p.parent()).expect("clip dir depth");
    assert_eq!(
        src_dir
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned()),
        Some("src".to_string()),
        "clip dir {} is not under src/<hash>/clips/",
        dir.display()
    );
    src_dir.file_name().unwrap().to_string_lossy().into_owned()
}

/// `du -s --block-size=1` (hard links counted once).
fn du(p: &Path) -> u64 {
    let out = run_tool(Command::new("du").args(["-s", "--block-size=1"]).arg(p));
    String::from_utf8_lossy(&out)
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("du output")
}

/// Disk usage of every file under `p` counting each link separately (what a naive tool sees).
fn naive_usage(p: &Path) -> u64 {
    walk(p)
        .iter()
        .filter_map(|f| fs::symlink_metadata(f).ok())
        .filter(|m| m.is_file())
        .map(|m| m.blocks() * 512)
        .sum()
}

fn abs_diff(a: u64, b: u64) -> u64 {
    a.max(b) - a.min(b)
}

/// Name → (bytes, inode) of every frame file of a folder.
fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, (u64, u64))> {
    frame_files(dir)
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                (fs::read(&p).unwrap(), inode(&p)),
            )
        })
        .collect()
}

fn assert_all_cached(run: &Run, ids: &[&str]) {
    for id in ids {
        assert_eq!(
            run.clip(id)["cached"],
            json!(true),
            "clip {id} should be a whole-clip hit (cached: true)\n{run}"
        );
    }
}

// ------------------------------------------------------------------------------------------------
// 1. One run: duplicates, aligned and misaligned overlapping trims
// ------------------------------------------------------------------------------------------------

#[test]
fn duplicates_and_overlapping_trims_in_one_run_decode_one_sweep_and_encode_each_frame_once() {
    let w = Work::new();
    let src = w.add("clip.mp4", &g15());
    let clips: [(&str, f64, &str); 5] = [
        ("a", 0.0, "0"),
        ("a_dup", 0.0, "0"),
        ("b", 1.0, "1"),
        ("c", 2.0, "2"),
        ("m", 1.017, "1.017"), // misaligned by 0.017 s (about half a source frame)
    ];
    let m = manifest(
        json!(30),
        clips
            .iter()
            .map(|&(id, ms, _)| clip(id, "clip.mp4", 0.0, 2.0, ms, false))
            .collect(),
    );
    let run = extract(&w, &write_comp(&w, "comp.json", &m), Some(&w.out()), &[]);
    run.assert_ok();

    let exp: Vec<Vec<usize>> = clips.iter().map(|&(_, _, ms)| expected(&src, "2", ms)).collect();
    let union: BTreeSet<usize> = exp.iter().flatten().copied().collect();
    // Oracle sanity: 0..=59, 30..=89, 60..=119; the misaligned clip shows 30..=89 too.
    assert_eq!(union, (0..120).collect::<BTreeSet<_>>(), "oracle: union of the trims");
    let span = (union.last().unwrap() - union.first().unwrap() + 1) as u64;
    let total: u64 = exp.iter().map(|e| e.len() as u64).sum();
    assert_eq!(total, 300);

    for ((id, _, _), e) in clips.iter().zip(&exp) {
        check_clip(&run, &w, id, &src, "jpg", LANDSCAPE, e);
    }
    assert_eq!(run.breakdown("clipMisses"), 5, "{run}");
    assert_eq!(run.breakdown("clipHits"), 0, "{run}");
    assert_eq!(run.breakdown("framesReused"), 0, "cold store\n{run}");
    assert_eq!(
        run.breakdown("framesEncoded"),
        union.len() as u64,
        "every distinct source frame encoded exactly once\n{run}"
    );
    assert_eq!(
        run.breakdown("framesLinked"),
        total - union.len() as u64,
        "every other output slot is a link\n{run}"
    );
    let decoded = run.breakdown("framesDecoded");
    eprintln!("one run: decoded {decoded}, union {} (span {span})", union.len());
    assert!(
        decoded >= union.len() as u64 && decoded <= span,
        "one sweep over the union: decoded {decoded}, union spans {span} source frames\n{run}"
    );
    assert_eq!(
        run.breakdown("seeks"),
        0,
        "a contiguous union from frame 0 needs no seek\n{run}"
    );

    // Stored once: every output file showing a source frame is the same inode.
    let mut by_frame: HashMap<usize, (u64, u64)> = HashMap::new();
    for ((id, _, _), e) in clips.iter().zip(&exp) {
        for (k, f) in w.files(id).iter().enumerate() {
            let ino = inode(f);
            let first = *by_frame.entry(e[k]).or_insert(ino);
            assert_eq!(
                first, ino,
                "clip {id} frame {k} (source frame {}) is not the one stored file for that frame",
                e[k]
            );
        }
    }
    let distinct_inodes: HashSet<_> = by_frame.values().collect();
    assert_eq!(distinct_inodes.len(), union.len(), "one file per distinct source frame");
    let stats = cache_ok(&w, &["stats"]);
    assert_eq!(num(&stats, "frames"), union.len() as u64, "stored frames\n{stats}");
    assert_eq!(num(&stats, "sources"), 1, "{stats}");
    // a and a_dup share one clip folder; b, c and m have their own.
    assert_eq!(num(&stats, "clips"), 4, "{stats}");
}

// ------------------------------------------------------------------------------------------------
// 2. VFR: overlapping trims, one decode
// ------------------------------------------------------------------------------------------------

#[test]
fn vfr_overlapping_trims_decode_once() {
    let w = Work::new();
    let src = w.add("vfr.mp4", &vfr());
    let m = manifest(
        json!(30),
        vec![
            clip("a", "vfr.mp4", 0.0, 2.0, 0.5, false), // media 0.5..2.5 (gap 1..2 held)
            clip("b", "vfr.mp4", 2.0, 4.0, 1.5, false), // media 1.5..3.5 (ends in the 3..4 gap)
        ],
    );
    let run = extract(&w, &write_comp(&w, "comp.json", &m), Some(&w.out()), &[]);
    run.assert_ok();
    let ea = expected(&src, "2", "0.5");
    let eb = expected(&src, "2", "1.5");
    check_clip(&run, &w, "a", &src, "jpg", LANDSCAPE, &ea);
    check_clip(&run, &w, "b", &src, "jpg", LANDSCAPE, &eb);
    let union: BTreeSet<usize> = ea.iter().chain(&eb).copied().collect();
    // The fixture has a single keyframe: decoding starts at frame 0 and must stop at the last
    // frame the union needs.
    let upto = *union.last().unwrap() as u64 + 1;
    let decoded = run.breakdown("framesDecoded");
    eprintln!("vfr: decoded {decoded}, union {}, up to {upto}", union.len());
    assert!(
        decoded >= union.len() as u64 && decoded <= upto,
        "one decode: {decoded} decoded, {upto} source frames up to the end of the union\n{run}"
    );
    assert_eq!(run.breakdown("seeks"), 0, "{run}");
    assert_eq!(
        run.breakdown("framesEncoded"),
        union.len() as u64,
        "each distinct VFR frame encoded once (held frames and the overlap are links)\n{run}"
    );
    assert_eq!(run.breakdown("framesLinked"), 120 - union.len() as u64, "{run}");
}

// ------------------------------------------------------------------------------------------------
// 3. Warm re-run: with and without --out
// ------------------------------------------------------------------------------------------------

#[test]
fn warm_rerun_decodes_nothing_and_links_the_same_stored_files() {
    let w = Work::new();
    let src = w.add("clip.mp4", &g15());
    let m = manifest(
        json!(30),
        vec![
            clip("a", "clip.mp4", 0.0, 2.0, 0.0, false),
            clip("b", "clip.mp4", 2.0, 3.0, 2.5, false),
        ],
    );
    let comp = write_comp(&w, "comp.json", &m);
    let ea = expected(&src, "2", "0");
    let eb = expected(&src, "1", "2.5");

    let cold = extract(&w, &comp, Some(&w.out()), &[]);
    cold.assert_ok();
    assert_eq!(cold.breakdown("clipMisses"), 2, "{cold}");
    let before: BTreeMap<&str, _> = ["a", "b"].iter().map(|&id| (id, snapshot(&w.out().join(id)))).collect();
    assert_eq!(before["a"].len(), 60);
    assert_eq!(before["b"].len(), 30);
    fs::remove_dir_all(w.out()).unwrap();

    // Warm, into --out.
    let warm = extract(&w, &comp, Some(&w.out()), &[]);
    warm.assert_ok();
    for c in ["framesDecoded", "framesEncoded", "seeks", "bytesWritten", "clipMisses"] {
        assert_eq!(warm.breakdown(c), 0, "warm run: {c}\n{warm}");
    }
    assert_eq!(warm.breakdown("clipHits"), 2, "{warm}");
    assert_all_cached(&warm, &["a", "b"]);
    let objects = stored_objects(&w);
    for id in ["a", "b"] {
        let now = snapshot(&w.out().join(id));
        assert_eq!(
            now.keys().collect::<Vec<_>>(),
            before[id].keys().collect::<Vec<_>>(),
            "clip {id}: same file names"
        );
        for (name, (bytes, ino)) in &now {
            let (old_bytes, old_ino) = &before[id][name];
            assert!(bytes == old_bytes, "clip {id} {name}: bytes differ from the cold run");
            assert_eq!(
                ino, old_ino,
                "clip {id} {name}: not the same stored file as the cold run"
            );
            assert!(
                objects.contains(ino),
                "clip {id} {name}: not a hard link to a store object"
            );
        }
    }
    check_clip(&warm, &w, "a", &src, "jpg", LANDSCAPE, &ea);
    check_clip(&warm, &w, "b", &src, "jpg", LANDSCAPE, &eb);

    // Warm, without --out: the dirs are the clips' folders inside the store, and nothing new is
    // created.
    let stats_before = cache_ok(&w, &["stats"]);
    let tree_before = walk(&w.cache());
    let bare = extract(&w, &comp, None, &[]);
    bare.assert_ok();
    for c in ["framesDecoded", "framesEncoded", "seeks", "bytesWritten", "clipMisses"] {
        assert_eq!(bare.breakdown(c), 0, "warm run without --out: {c}\n{bare}");
    }
    assert_eq!(bare.breakdown("clipHits"), 2, "{bare}");
    assert_all_cached(&bare, &["a", "b"]);
    let src_root = fs::canonicalize(store_root(&w).join("src")).unwrap();
    for (id, e) in [("a", &ea), ("b", &eb)] {
        let c = bare.clip(id);
        let dir = PathBuf::from(c["dir"].as_str().expect("dir"));
        assert!(dir.is_absolute(), "clip {id}: dir should be absolute\n{bare}");
        let canon = fs::canonicalize(&dir).unwrap_or_else(|e| panic!("clip {id}: dir {}: {e}", dir.display()));
        assert!(
            canon.starts_with(&src_root),
            "clip {id}: dir {} should be inside the store ({})",
            canon.display(),
            src_root.display()
        );
        assert_eq!(c["frames"].as_u64(), Some(e.len() as u64), "{bare}");
        assert_eq!(
            frame_files(&dir).len(),
            e.len(),
            "clip {id}: frame files in {}",
            dir.display()
        );
        for (name, (_, ino)) in &before[id] {
            assert_eq!(
                inode(&dir.join(name)),
                *ino,
                "clip {id} {name}: the store clip folder should link the same stored frame"
            );
        }
        check_dir(&format!("clip {id} (store folder)"), &dir, &src, e);
    }
    assert_eq!(
        walk(&w.cache()),
        tree_before,
        "a warm run without --out should create nothing in the store"
    );
    let stats_after = cache_ok(&w, &["stats"]);
    for f in ["sources", "frames", "clips"] {
        assert_eq!(stats_after[f], stats_before[f], "stats.{f}");
    }
}

// ------------------------------------------------------------------------------------------------
// 4. Retrim: only the new frames are decoded and encoded
// ------------------------------------------------------------------------------------------------

#[test]
fn retrim_encodes_only_new_frames_and_reuses_the_rest() {
    let w = Work::new();
    let src = w.add("clip.mp4", &g15());
    let first = manifest(json!(30), vec![clip("t", "clip.mp4", 0.0, 2.0, 0.0, false)]);
    let run1 = extract(&w, &write_comp(&w, "one.json", &first), Some(&w.out()), &[]);
    run1.assert_ok();
    assert_eq!(run1.breakdown("framesEncoded"), 60, "{run1}");

    let second = manifest(json!(30), vec![clip("t", "clip.mp4", 0.0, 2.0, 0.5, false)]);
    let run2 = extract(&w, &write_comp(&w, "two.json", &second), Some(&w.out()), &[]);
    run2.assert_ok();
    let e1: BTreeSet<usize> = expected(&src, "2", "0").into_iter().collect();
    let e2 = expected(&src, "2", "0.5");
    let new: BTreeSet<usize> = e2.iter().copied().filter(|f| !e1.contains(f)).collect();
    let old = e2.iter().copied().collect::<BTreeSet<_>>().len() - new.len();
    assert_eq!(
        (new.len(), old),
        (15, 45),
        "oracle: [0.5, 2.5] adds source frames 60..=74"
    );
    check_clip(&run2, &w, "t", &src, "jpg", LANDSCAPE, &e2);
    assert_eq!(run2.breakdown("clipMisses"), 1, "{run2}");
    assert_eq!(run2.breakdown("clipHits"), 0, "{run2}");
    assert_eq!(
        run2.breakdown("framesEncoded"),
        15,
        "only the new frames are encoded\n{run2}"
    );
    assert_eq!(
        run2.breakdown("framesReused"),
        45,
        "the overlap comes from the store\n{run2}"
    );
    let decoded = run2.breakdown("framesDecoded");
    eprintln!("retrim: decoded {decoded}");
    let slack = 3;
    assert!(
        decoded >= 15 && decoded <= (15 + GOP + slack) as u64,
        "retrim decoded {decoded} frames; at most the 15 new ones + one GOP ({GOP}) + {slack}\n{run2}"
    );
}

// ------------------------------------------------------------------------------------------------
// 5. Content addressing: copy and rename hit, rewrite misses
// ------------------------------------------------------------------------------------------------

#[test]
fn copies_and_renames_hit_while_a_rewritten_source_misses() {
    let w = Work::new();
    // A real copy (not a link to the shared fixture): this file is rewritten below.
    let a = w.path().join("a.mp4");
    fs::copy(g15(), &a).unwrap();
    let comp_for = |name: &str, src: &str| {
        write_comp(
            &w,
            name,
            &manifest(json!(30), vec![clip("k", src, 0.0, 1.0, 1.0, false)]),
        )
    };
    let exp = expected(&a, "1", "1");
    assert_eq!(exp, (30..60).collect::<Vec<_>>());

    let run1 = extract(&w, &comp_for("a.json", "a.mp4"), Some(&w.out()), &[]);
    run1.assert_ok();
    assert_eq!(run1.breakdown("clipMisses"), 1, "{run1}");
    let first_bytes = snapshot(&w.out().join("k"));

    // A byte-for-byte copy under another name: same content hash, a whole-clip hit.
    fs::copy(&a, w.path().join("b.mp4")).unwrap();
    let run2 = extract(&w, &comp_for("b.json", "b.mp4"), Some(&w.out()), &[]);
    run2.assert_ok();
    assert_eq!(run2.breakdown("clipHits"), 1, "a copy of the source should hit\n{run2}");
    assert_eq!(run2.breakdown("framesDecoded"), 0, "{run2}");
    assert_eq!(run2.breakdown("framesEncoded"), 0, "{run2}");
    assert_all_cached(&run2, &["k"]);
    check_clip(&run2, &w, "k", &a, "jpg", LANDSCAPE, &exp);

    // Renamed (and moved into a subfolder).
    fs::create_dir(w.path().join("media")).unwrap();
    fs::rename(w.path().join("b.mp4"), w.path().join("media/c.mp4")).unwrap();
    let run3 = extract(&w, &comp_for("c.json", "media/c.mp4"), Some(&w.out()), &[]);
    run3.assert_ok();
    assert_eq!(run3.breakdown("clipHits"), 1, "a renamed source should hit\n{run3}");
    assert_eq!(run3.breakdown("framesDecoded"), 0, "{run3}");
    assert_all_cached(&run3, &["k"]);

    // Rewritten in place with different content (same inode; the old mtime restored, as
    // `rsync -t` or `cp -p` would): must miss and show the new pictures.
    let old_mtime = fs::metadata(&a).unwrap().modified().unwrap();
    let ino_before = inode(&a);
    fs::write(&a, fs::read(g15_other()).unwrap()).unwrap();
    fs::File::options()
        .write(true)
        .open(&a)
        .unwrap()
        .set_modified(old_mtime)
        .unwrap();
    assert_eq!(inode(&a), ino_before, "test setup: rewritten in place");
    let run4 = extract(&w, &comp_for("a.json", "a.mp4"), Some(&w.out()), &[]);
    run4.assert_ok();
    assert_eq!(
        run4.breakdown("clipHits"),
        0,
        "new bytes must not hit the old entry\n{run4}"
    );
    assert_eq!(run4.breakdown("clipMisses"), 1, "{run4}");
    assert_eq!(run4.clip("k")["cached"], json!(false), "{run4}");
    assert_eq!(
        run4.breakdown("framesReused"),
        0,
        "no frame of the old content may be reused\n{run4}"
    );
    assert_eq!(run4.breakdown("framesEncoded"), 30, "{run4}");
    assert!(run4.breakdown("framesDecoded") >= 30, "{run4}");
    let exp_new = expected(&a, "1", "1");
    check_clip(&run4, &w, "k", &a, "jpg", LANDSCAPE, &exp_new);
    let now = snapshot(&w.out().join("k"));
    let same = now
        .iter()
        .filter(|(name, (bytes, _))| &first_bytes[*name].0 == bytes)
        .count();
    assert_eq!(same, 0, "{same} frame files still hold the old content's bytes");
    assert_eq!(num(&cache_ok(&w, &["stats"]), "sources"), 2);

    // The hardest rewrite: same inode, same size, same mtime — only the content (and ctime)
    // differ.
    let (same_a, same_b) = same_size_pair();
    let s = w.path().join("s.y4m");
    fs::copy(&same_a, &s).unwrap();
    let comp = comp_for("s.json", "s.y4m");
    let exp = expected(&s, "1", "1");
    let run5 = extract(&w, &comp, Some(&w.out()), &[]);
    run5.assert_ok();
    assert_eq!(run5.breakdown("clipMisses"), 1, "{run5}");
    check_clip(&run5, &w, "k", &s, "jpg", LANDSCAPE, &exp);
    let old = snapshot(&w.out().join("k"));
    let meta = fs::metadata(&s).unwrap();
    let (old_mtime, old_len, ino_before) = (meta.modified().unwrap(), meta.len(), inode(&s));
    std::thread::sleep(Duration::from_millis(50));
    fs::write(&s, fs::read(&same_b).unwrap()).unwrap();
    fs::File::options()
        .write(true)
        .open(&s)
        .unwrap()
        .set_modified(old_mtime)
        .unwrap();
    let meta = fs::metadata(&s).unwrap();
    assert_eq!(
        (meta.modified().unwrap(), meta.len(), inode(&s)),
        (old_mtime, old_len, ino_before),
        "test setup: same inode, size and mtime"
    );
    let run6 = extract(&w, &comp, Some(&w.out()), &[]);
    run6.assert_ok();
    assert_eq!(
        run6.breakdown("clipHits"),
        0,
        "a same-size rewrite with the old mtime must not hit the old content\n{run6}"
    );
    assert_eq!(run6.breakdown("framesReused"), 0, "{run6}");
    // (Y4M's time base is 1/30: the one-tick tolerance of contract §2 is a whole frame here, so the
    // clip shows source frames 31..=59 with the last held — 29 distinct. The oracle knows.)
    let exp_new = expected(&s, "1", "1");
    assert_eq!(run6.breakdown("framesEncoded"), distinct(&exp_new) as u64, "{run6}");
    check_clip(&run6, &w, "k", &s, "jpg", LANDSCAPE, &exp_new);
    let now = snapshot(&w.out().join("k"));
    let same = now.iter().filter(|(name, (bytes, _))| &old[*name].0 == bytes).count();
    assert_eq!(same, 0, "{same} frame files still hold the old content's bytes");
}

// ------------------------------------------------------------------------------------------------
// 6. Two processes at once on one store
// ------------------------------------------------------------------------------------------------

#[test]
fn two_processes_on_one_store_both_succeed_with_identical_frames() {
    let w = Work::new();
    let src = w.add("clip.mp4", &g15());
    let vsrc = w.add("vfr.mp4", &vfr());
    let m = manifest(
        json!(30),
        vec![
            clip("full", "clip.mp4", 0.0, 5.0, 0.0, false),
            clip("mid", "clip.mp4", 0.0, 2.0, 1.5, false),
            clip("v", "vfr.mp4", 0.0, 4.0, 0.5, false),
        ],
    );
    let comp = write_comp(&w, "comp.json", &m);
    let outs = [w.path().join("out1"), w.path().join("out2")];

    let started = Instant::now();
    let mut children = Vec::new();
    for o in &outs {
        let mut c = extract_cmd(&w, &comp, Some(o), &[]);
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().expect("start framex");
        let pipes = drain(&mut child);
        children.push((child, pipes));
    }
    let mut runs = Vec::new();
    for (mut child, (so, se)) in children {
        let status = wait_or_kill(&mut child, started, "concurrent framex");
        runs.push(finish(status, so, se, started.elapsed()));
    }
    for r in &runs {
        r.assert_ok();
    }

    let exp: [(&str, &Path, Vec<usize>); 3] = [
        ("full", &src, expected(&src, "5", "0")),
        ("mid", &src, expected(&src, "2", "1.5")),
        ("v", &vsrc, expected(&vsrc, "4", "0.5")),
    ];
    for (id, s, e) in &exp {
        let one = snapshot(&outs[0].join(id));
        let two = snapshot(&outs[1].join(id));
        assert_eq!(one.len(), e.len(), "clip {id}: frames in out1");
        assert_eq!(
            one.keys().collect::<Vec<_>>(),
            two.keys().collect::<Vec<_>>(),
            "clip {id}: same files in both outputs"
        );
        for (name, (bytes, _)) in &one {
            assert!(
                bytes == &two[name].0,
                "clip {id} {name}: the two processes' frames differ"
            );
        }
        check_dir(&format!("clip {id} (process 1)"), &outs[0].join(id), s, e);
    }
    let v = assert_verify_clean(&w, "after two concurrent runs");
    assert_eq!(num(&v, "clipsChecked"), 3, "{v}");
    let distinct_frames: u64 = {
        let a: BTreeSet<usize> = exp[0].2.iter().chain(&exp[1].2).copied().collect();
        (a.len() + distinct(&exp[2].2)) as u64
    };
    assert_eq!(num(&v, "framesChecked"), distinct_frames, "each frame stored once\n{v}");
    let leftovers = list_files(&store_root(&w).join("tmp"));
    assert!(leftovers.is_empty(), "temporaries left in the store: {leftovers:?}");

    // And the store now answers the whole composition.
    let warm = extract(&w, &comp, Some(&w.out()), &[]);
    warm.assert_ok();
    assert_eq!(warm.breakdown("clipHits"), 3, "{warm}");
    assert_eq!(warm.breakdown("framesDecoded"), 0, "{warm}");
}

// ------------------------------------------------------------------------------------------------
// 7. kill -9 in the middle of writing
// ------------------------------------------------------------------------------------------------

#[test]
fn kill_9_mid_write_leaves_a_valid_store_and_the_next_run_recovers() {
    let w = Work::new();
    let src = w.add("long.mp4", &long720());
    let m = manifest(json!(30), vec![clip("long", "long.mp4", 0.0, 20.0, 0.0, false)]);
    let comp = write_comp(&w, "comp.json", &m);
    let exp = expected(&src, "20", "0");
    assert_eq!(exp.len(), 600);

    let mut c = extract_cmd(&w, &comp, Some(&w.out()), &[]);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = c.spawn().expect("start framex");
    let (so, se) = drain(&mut child);
    let pid = child.id();
    // Wait until frames are being written, then let it write a little more.
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let r = finish(status, so, se, started.elapsed());
            panic!("framex finished before it could be killed (use a larger fixture)\n{r}");
        }
        if !stored_frame_paths(&w).is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "framex wrote no frame within 60 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    if let Some(status) = child.try_wait().unwrap() {
        let r = finish(status, so, se, started.elapsed());
        panic!("framex finished before it could be killed (use a larger fixture)\n{r}");
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    let killed = finish(status, so, se, started.elapsed());
    assert_eq!(status.signal(), Some(9), "framex should have died of SIGKILL\n{killed}");

    let stored = stored_frame_paths(&w).len();
    eprintln!(
        "kill -9 after {:?}: {stored} of {} frames stored",
        killed.elapsed,
        exp.len()
    );
    assert!(
        stored > 0 && stored < exp.len(),
        "the kill should land mid-way: {stored} of {} frames stored",
        exp.len()
    );
    assert!(
        stored_clip_dirs(&w).is_empty(),
        "no clip may be published by the killed run"
    );
    assert!(!w.out().join("long").exists(), "no partial OUT/long");
    let dead_temps: Vec<PathBuf> = list_files(&store_root(&w).join("tmp"))
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(&format!("{pid}-")))
        .collect();
    assert!(
        !dead_temps.is_empty(),
        "test check: the killed run should have left its temporaries (staging) under tmp/"
    );
    // The crash leaves the store valid as it is.
    assert_verify_clean(&w, "right after kill -9");

    let run2 = extract(&w, &comp, Some(&w.out()), &[]);
    run2.assert_ok();
    assert_eq!(
        run2.breakdown("framesReused"),
        stored as u64,
        "the frames stored before the kill are whole and reused\n{run2}"
    );
    assert_eq!(run2.breakdown("framesEncoded"), (exp.len() - stored) as u64, "{run2}");
    assert!(
        run2.breakdown("tempsCleared") > 0,
        "the dead process's temporaries should be swept by the next run\n{run2}"
    );
    for t in &dead_temps {
        assert!(!t.exists(), "stale temporary {} survived the sweep", t.display());
    }
    assert_eq!(w.files("long").len(), 600);
    let mut ks: Vec<usize> = (0..600).step_by(20).collect();
    ks.push(599);
    check_sample("after kill -9", &w.out().join("long"), &src, &exp, &ks);
    let v = assert_verify_clean(&w, "after the recovery run");
    assert_eq!(num(&v, "framesChecked"), 600, "{v}");
    assert_eq!(num(&v, "clipsChecked"), 1, "{v}");
}

// ------------------------------------------------------------------------------------------------
// 8. Garbage collection: LRU order, real bytes, locked sources
// ------------------------------------------------------------------------------------------------

#[test]
fn gc_evicts_least_recently_used_first_counts_links_once_and_spares_locked_sources() {
    let w = Work::new();
    let fixtures = gc_sources();
    let names = ["A", "B", "C"];
    let mut hash = HashMap::new();
    let mut comps = HashMap::new();
    for (name, f) in names.iter().zip(&fixtures) {
        w.add(&format!("{name}.mp4"), f);
        let comp = write_comp(
            &w,
            &format!("{name}.json"),
            &manifest(
                json!(30),
                vec![clip(name, &format!("{name}.mp4"), 0.0, 2.0, 0.0, false)],
            ),
        );
        let r = extract(&w, &comp, None, &[]);
        r.assert_ok();
        assert_eq!(r.breakdown("framesEncoded"), 60, "{r}");
        hash.insert(*name, source_hash_of(Path::new(r.clip(name)["dir"].as_str().unwrap())));
        comps.insert(*name, comp);
        std::thread::sleep(Duration::from_millis(50)); // distinct LRU times
    }
    let src_dir = |n: &str| store_root(&w).join("src").join(&hash[n]);
    let present = |n: &str| src_dir(n).exists();
    let size: HashMap<&str, u64> = names.iter().map(|&n| (n, du(&src_dir(n)))).collect();

    // Real disk usage: hard links (clip folders) counted once, like du.
    let s0 = cache_ok(&w, &["stats"]);
    assert_eq!(
        (num(&s0, "sources"), num(&s0, "clips"), num(&s0, "frames")),
        (3, 3, 180),
        "{s0}"
    );
    let root = store_root(&w);
    let (bytes0, du0, naive0) = (num(&s0, "bytes"), du(&root), naive_usage(&root));
    assert!(
        abs_diff(bytes0, du0) <= 16 * 1024,
        "stats bytes {bytes0} should match du (links once) {du0}"
    );
    assert!(
        bytes0 * 3 < naive0 * 2,
        "stats bytes {bytes0} vs {naive0} counting every link: hard links must be counted once"
    );

    // Without --now, sources used within the last hour are protected — reported as recent,
    // not as in use (nothing runs now; issue 9: the two used to share one counter).
    let r = cache_ok(&w, &["gc", "--cache-max", "1K"]);
    assert_eq!(
        (num(&r, "evictions"), num(&r, "keptRecent"), num(&r, "keptInUse")),
        (0, 3, 0),
        "{r}"
    );
    assert!(present("A") && present("B") && present("C"));

    // A limit that needs one eviction: the least recently used, A.
    let limit = size["B"] + size["C"] + size["A"] / 2;
    let r = cache_ok(&w, &["gc", "--now", "--cache-max", &limit.to_string()]);
    assert_eq!(num(&r, "evictions"), 1, "{r}");
    assert!(
        !present("A") && present("B") && present("C"),
        "A (least recently used) goes first\n{r}"
    );
    let freed = num(&r, "bytesFreed");
    assert!(
        freed > 0 && abs_diff(freed, size["A"]) <= 16 * 1024,
        "bytesFreed {freed} vs A's {}",
        size["A"]
    );
    assert_eq!(num(&r, "bytesBefore") - num(&r, "bytesAfter"), freed, "{r}");
    assert!(num(&r, "bytesAfter") <= limit, "{r}");
    let s1 = cache_ok(&w, &["stats"]);
    assert_eq!(num(&s1, "sources"), 2, "{s1}");
    let drop1 = bytes0 - num(&s1, "bytes");
    assert!(
        abs_diff(drop1, freed) <= 16 * 1024,
        "stats bytes fell by {drop1}, GC reported {freed} freed"
    );
    assert!(abs_diff(num(&s1, "bytes"), du(&root)) <= 16 * 1024, "{s1}");

    // About one source: B (now the least recently used) goes, C stays.
    let limit = size["C"] + size["C"] / 2;
    let r = cache_ok(&w, &["gc", "--now", "--cache-max", &limit.to_string()]);
    assert_eq!(num(&r, "evictions"), 1, "{r}");
    assert!(!present("B") && present("C"), "B goes before C\n{r}");
    assert!(num(&r, "bytesFreed") > 0, "{r}");
    let s2 = cache_ok(&w, &["stats"]);
    assert_eq!((num(&s2, "sources"), num(&s2, "clips")), (1, 1), "{s2}");
    assert!(num(&s2, "bytes") < num(&s1, "bytes"), "{s1} -> {s2}");

    // Re-running A misses; C still hits.
    let ra = extract(&w, &comps["A"], None, &[]);
    ra.assert_ok();
    assert_eq!(ra.breakdown("clipMisses"), 1, "A was evicted\n{ra}");
    assert_eq!(ra.breakdown("framesEncoded"), 60, "{ra}");
    assert!(ra.breakdown("framesDecoded") > 0, "{ra}");
    let rc = extract(&w, &comps["C"], None, &[]);
    rc.assert_ok();
    assert_eq!(rc.breakdown("clipHits"), 1, "C survived\n{rc}");
    assert_eq!(rc.breakdown("framesDecoded"), 0, "{rc}");
    extract(&w, &comps["B"], None, &[]).assert_ok();
    assert!(present("A") && present("B") && present("C"));

    // A source a run holds (shared flock on locks/<hash>) is never evicted, even by `clear`.
    let lock = fs::File::options()
        .read(true)
        .write(true)
        .open(root.join("locks").join(&hash["A"]))
        .expect("A's lock file");
    lock.lock_shared().expect("shared lock");
    let r = cache_ok(&w, &["clear"]);
    assert!(num(&r, "keptInUse") >= 1, "{r}");
    assert_eq!(num(&r, "evictions"), 2, "{r}");
    assert!(present("A"), "a locked source was evicted\n{r}");
    assert!(
        !present("B") && !present("C"),
        "unlocked sources should be cleared\n{r}"
    );
    let ra = extract(&w, &comps["A"], None, &[]);
    ra.assert_ok();
    assert_eq!(ra.breakdown("clipHits"), 1, "A's frames are intact\n{ra}");
    drop(lock);
    // Released (and used just now): `gc --now` with a tiny limit evicts it.
    let r = cache_ok(&w, &["gc", "--now", "--cache-max", "1K"]);
    assert_eq!((num(&r, "evictions"), num(&r, "keptInUse")), (1, 0), "{r}");
    assert!(!present("A"), "released, A is evicted\n{r}");
    assert_eq!(num(&cache_ok(&w, &["stats"]), "sources"), 0);
}

// ------------------------------------------------------------------------------------------------
// 9. Unwritable cache folder: warn once, run uncached
// ------------------------------------------------------------------------------------------------

#[test]
fn unwritable_cache_dir_warns_once_and_runs_uncached() {
    let probe = Work::new();
    let not_a_dir = probe.write("cache-is-a-file", b"not a folder");
    let cases: [(&str, PathBuf); 2] = [
        ("a regular file", not_a_dir.clone()),
        ("a path under /proc", PathBuf::from("/proc/framex-nope")),
    ];
    for (what, dir) in cases {
        let w = Work::new();
        let src = w.add("clip.mp4", &g15());
        let comp = write_comp(
            &w,
            "comp.json",
            &manifest(json!(30), vec![clip("a", "clip.mp4", 0.0, 1.0, 0.5, false)]),
        );
        let run = extract(&w, &comp, Some(&w.out()), &["--cache-dir", dir.to_str().unwrap()]);
        run.assert_ok();
        let warnings = run.result()["warnings"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            warnings.len(),
            1,
            "cache dir is {what}: one warning in the result\n{run}"
        );
        let warned: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.to_lowercase().contains("warning"))
            .collect();
        assert_eq!(warned.len(), 1, "cache dir is {what}: warn once on stderr\n{run}");
        assert!(
            warned[0].contains(dir.to_str().unwrap()) || warned[0].to_lowercase().contains("cache"),
            "the warning should name the cache folder: {}",
            warned[0]
        );
        assert_eq!(run.breakdown("clipHits"), 0, "{run}");
        assert_eq!(run.breakdown("framesEncoded"), 30, "{run}");
        assert_eq!(run.clip("a")["cached"], json!(false), "{run}");
        check_clip(&run, &w, "a", &src, "jpg", LANDSCAPE, &expected(&src, "1", "0.5"));
        assert!(
            !w.cache().exists(),
            "--cache-dir overrides FRAMEX_CACHE_DIR: the env's store must not be used"
        );
        let leftovers: Vec<_> = fs::read_dir(w.out()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("a")], "only OUT/a");
    }
    assert_eq!(
        fs::read(&not_a_dir).unwrap(),
        b"not a folder",
        "the file was left alone"
    );
    assert!(!Path::new("/proc/framex-nope").exists());
}

// ------------------------------------------------------------------------------------------------
// 10. --cache-dir off
// ------------------------------------------------------------------------------------------------

#[test]
fn cache_off_without_out_is_unusable_input_and_with_out_runs_uncached() {
    let w = Work::new();
    let src = w.add("clip.mp4", &g15());
    let comp = write_comp(
        &w,
        "comp.json",
        &manifest(json!(30), vec![clip("a", "clip.mp4", 0.0, 1.0, 0.0, false)]),
    );
    let r = extract(&w, &comp, None, &["--cache-dir", "off"]);
    assert_eq!(r.code(), Some(2), "--cache-dir off without --out: exit 2\n{r}");
    assert!(
        r.stderr.contains("--out"),
        "the message should say --out is needed\n{r}"
    );
    assert!(!w.cache().exists(), "no store may be created\n{r}");

    let mut c = w.command();
    c.env("FRAMEX_CACHE_DIR", "off").arg("extract").arg(&comp).arg("--json");
    let r = run(c);
    assert_eq!(r.code(), Some(2), "FRAMEX_CACHE_DIR=off without --out: exit 2\n{r}");
    assert!(r.stderr.contains("--out"), "{r}");

    let r = extract(&w, &comp, Some(&w.out()), &["--cache-dir", "off"]);
    r.assert_ok();
    assert_eq!(r.breakdown("framesEncoded"), 30, "{r}");
    assert!(r.result()["warnings"].as_array().is_none_or(|a| a.is_empty()), "{r}");
    check_clip(&r, &w, "a", &src, "jpg", LANDSCAPE, &(0..30).collect::<Vec<_>>());
    assert!(!w.cache().exists(), "cache off: no store may be created");
}
