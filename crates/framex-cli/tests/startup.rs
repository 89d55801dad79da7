//! The `framex` executable links no FFmpeg: a run whose every clip is in the store is answered
//! without loading it (checked with the dynamic loader's own `LD_DEBUG=libs` log, and with a copy
//! of `framex` that has no `framex-engine` beside it), while anything that must probe or decode
//! is handed to `framex-engine` in the same process, with results, help and exit status as the
//! engine gives them itself.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::common::*;
use serde_json::{json, Value};

/// The engine `framex` hands over to.
const ENGINE: &str = env!("CARGO_BIN_EXE_framex-engine");

/// Runs `c` with the dynamic loader logging every library it loads (on stderr).
fn with_loader_log(mut c: Command) -> Run {
    c.env("LD_DEBUG", "libs");
    run(c)
}

/// Whether the loader log of `r` shows FFmpeg's libraries being loaded.
fn loaded_ffmpeg(r: &Run) -> bool {
    r.stderr.contains("libavcodec.so") || r.stderr.contains("libavformat.so")
}

fn extract_cmd(w: &Work, comp: &Path, out: bool) -> Command {
    let mut c = w.command();
    c.arg("extract").arg(comp).arg("--json");
    if out {
        c.arg("--out").arg(w.out());
    }
    c
}

/// The two sources, copied: a hard link would share the fixture's inode, whose change time any
/// other test linking it changes, and a source whose identity changed is hashed again (by the
/// engine: the store-only path cannot check a file it does not know).
fn sources(w: &Work) {
    w.write("a.mp4", &fs::read(cfr30()).unwrap());
    w.write("b.mp4", &fs::read(cfr24()).unwrap());
}

fn two_clips() -> Value {
    manifest(
        json!(30),
        vec![
            clip("a", "a.mp4", 0.0, 1.0, 0.0, false),
            clip("b", "b.mp4", 1.0, 2.0, 0.5, false),
        ],
    )
}

#[test]
fn all_hit_runs_never_load_ffmpeg_and_the_rest_go_to_the_engine() {
    let w = Work::new();
    sources(&w);
    let comp = w.write_manifest(&two_clips());

    let cold = with_loader_log(extract_cmd(&w, &comp, true));
    cold.assert_ok();
    assert_eq!(cold.breakdown("clipMisses"), 2, "{cold}");
    assert!(
        loaded_ffmpeg(&cold),
        "a cold run decodes, so FFmpeg must be loaded (by framex-engine)\n{cold}"
    );

    for out in [true, false] {
        let warm = with_loader_log(extract_cmd(&w, &comp, out));
        warm.assert_ok();
        assert_eq!(warm.breakdown("clipHits"), 2, "--out {out}: {warm}");
        assert!(
            !loaded_ffmpeg(&warm),
            "an all-hit run (--out {out}) loaded FFmpeg\n{warm}"
        );
    }
    let mut at = w.command();
    at.arg("frame").arg(&comp).arg("--at").arg("1.5");
    let frame = with_loader_log(at);
    assert_eq!(frame.code(), Some(0), "{frame}");
    assert!(!loaded_ffmpeg(&frame), "a warm `frame --at` loaded FFmpeg\n{frame}");
    let cache = with_loader_log({
        let mut c = w.command();
        c.args(["cache", "stats"]);
        c
    });
    assert_eq!(cache.code(), Some(0), "{cache}");
    assert!(!loaded_ffmpeg(&cache), "`cache stats` loaded FFmpeg\n{cache}");

    // One clip more (a new trim): the run must plan and decode, so it goes to the engine, which
    // still answers the two stored clips from the store.
    let mut m = two_clips();
    m["videos"]
        .as_array_mut()
        .unwrap()
        .push(clip("c", "a.mp4", 2.0, 2.5, 1.25, false));
    let comp3 = w.write("comp3.json", serde_json::to_string(&m).unwrap().as_bytes());
    let mixed = with_loader_log(extract_cmd(&w, &comp3, true));
    mixed.assert_ok();
    assert_eq!(
        (mixed.breakdown("clipHits"), mixed.breakdown("clipMisses")),
        (2, 1),
        "{mixed}"
    );
    assert!(loaded_ffmpeg(&mixed), "a run with a miss must reach FFmpeg\n{mixed}");
    let src = w.path().join("a.mp4");
    let want = source_times(&src).expected(Q::parse("0.5"), Q::parse("1.25"), Q::int(1), Q::int(30), false);
    check_clip(&mixed, &w, "c", &src, "jpg", LANDSCAPE, &want);

    // A copy of `framex` alone, with no engine beside it: an all-hit run still works; a probe
    // cannot, and says why.
    let lone_dir = w.path().join("lone");
    fs::create_dir(&lone_dir).unwrap();
    let lone = lone_dir.join("framex");
    fs::copy(BIN, &lone).unwrap();
    let mut warm = Command::new(&lone);
    warm.current_dir(w.path())
        .env("FRAMEX_CACHE_DIR", w.cache())
        .arg("extract")
        .arg(&comp)
        .arg("--json");
    let warm = run(warm);
    warm.assert_ok();
    assert_eq!(warm.breakdown("clipHits"), 2, "{warm}");
    let mut probe = Command::new(&lone);
    probe.current_dir(w.path()).arg("probe").arg("a.mp4");
    let probe = run(probe);
    assert_eq!(probe.code(), Some(1), "{probe}");
    assert!(
        probe.stderr.contains("cannot start framex-engine"),
        "a probe without the engine should say what is missing\n{probe}"
    );
}

/// The result with what differs between two runs of the same work left out: times.
fn timeless(mut v: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.retain(|k, _| !k.ends_with("Ms"));
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

#[test]
fn framex_and_framex_engine_answer_alike() {
    let w = Work::new();
    sources(&w);
    let comp = w.write_manifest(&two_clips());
    run(extract_cmd(&w, &comp, true)).assert_ok();

    let engine = |args: &[&str]| {
        let mut c = w.command();
        let mut e = Command::new(ENGINE);
        e.current_dir(w.path())
            .env("FRAMEX_CACHE_DIR", w.cache())
            .arg0("framex")
            .args(args);
        c.args(args);
        (run(c), run(e))
    };
    let comp_s = comp.to_str().unwrap();
    for args in [
        vec!["extract", comp_s, "--json", "--out", "out"],
        vec!["extract", comp_s, "--json"],
    ] {
        let (front, eng) = engine(&args);
        front.assert_ok();
        eng.assert_ok();
        assert_eq!(
            timeless(front.result().clone()),
            timeless(eng.result().clone()),
            "{args:?}: framex answered from the store, framex-engine ran the full path\n{front}\n{eng}"
        );
    }
    for args in [
        vec!["--help"],
        vec!["--version"],
        vec!["extract", "--help"],
        vec!["frame", "--help"],
        vec!["cache", "--help"],
        vec!["extract"],
        vec!["probe", "a.mp4"],
        vec!["probe", "missing.mp4"],
    ] {
        let (front, eng) = engine(&args);
        assert_eq!(front.code(), eng.code(), "{args:?}\n{front}\n{eng}");
        assert_eq!(front.stdout, eng.stdout, "{args:?}: stdout");
        assert_eq!(front.stderr, eng.stderr, "{args:?}: stderr");
    }
}

#[test]
fn a_dead_runs_staging_folder_in_out_is_swept_and_counted_by_whichever_executable_answers() {
    let w = Work::new();
    sources(&w);
    let comp = w.write_manifest(&two_clips());
    run(extract_cmd(&w, &comp, true)).assert_ok();
    let dead = |n: u32| {
        let d = w.out().join(format!(".framex-999999999-{n}.partial"));
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("frame_00001.jpg"), b"left by a killed run").unwrap();
        d
    };

    // Answered by `framex` from the store.
    let d = dead(1);
    let warm = run(extract_cmd(&w, &comp, true));
    warm.assert_ok();
    assert_eq!(warm.breakdown("clipHits"), 2, "{warm}");
    assert!(!d.exists(), "{warm}");
    assert_eq!(warm.breakdown("tempsCleared"), 1, "{warm}");

    // Handed to `framex-engine` (one clip more): swept there, and counted there, once.
    let d = dead(2);
    let mut m = two_clips();
    m["videos"]
        .as_array_mut()
        .unwrap()
        .push(clip("c", "b.mp4", 2.0, 2.5, 2.0, false));
    let comp3 = w.write("comp3.json", serde_json::to_string(&m).unwrap().as_bytes());
    let mixed = run(extract_cmd(&w, &comp3, true));
    mixed.assert_ok();
    assert_eq!(mixed.breakdown("clipMisses"), 1, "{mixed}");
    assert!(!d.exists(), "{mixed}");
    assert_eq!(mixed.breakdown("tempsCleared"), 1, "{mixed}");
}
