//! Ctrl-C during `framex extract` (contract §5, §3): prompt exit, nothing partial published, no
//! temporaries left in --out, `cancelled` reported for unfinished clips, and the store still
//! works afterwards.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::json;

/// Upper bound for "exits promptly" after SIGINT (the contract says < ~2 s; 1 s of slack for a
/// loaded 2-core test machine).
const PROMPT: Duration = Duration::from_secs(3);

fn comp() -> serde_json::Value {
    manifest(
        json!(30),
        vec![
            clip("long", "long.mp4", 0.0, 20.0, 0.0, false), // 600 frames of 1280x720
            clip("small", "small.mp4", 0.0, 1.0, 0.0, false), // 30 frames of 320x180
        ],
    )
}

#[test]
fn sigint_stops_promptly_and_publishes_nothing_partial() {
    let w = Work::new();
    let long = w.add("long.mp4", &long720());
    w.add("small.mp4", &cfr30());
    let m = w.write_manifest(&comp());

    let mut c = w.command();
    c.arg("extract").arg(&m).arg("--out").arg(w.out()).arg("--json");
    c.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let started = Instant::now();
    let mut child = c.spawn().expect("start framex");
    let (stdout, stderr) = drain(&mut child);

    std::thread::sleep(Duration::from_millis(500));
    if let Some(status) = child.try_wait().unwrap() {
        let run = finish(status, stdout, stderr, started.elapsed());
        panic!("extraction finished before the interrupt (the cancellation fixture is too small)\n{run}");
    }
    let pid = child.id().to_string();
    let interrupted = Instant::now();
    let kill = Command::new("kill").args(["-INT", &pid]).status().expect("run kill");
    assert!(kill.success(), "kill -INT {pid} failed");

    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if interrupted.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("framex still running 30 s after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stopped_after = interrupted.elapsed();
    let run = finish(status, stdout, stderr, started.elapsed());
    assert!(
        stopped_after < PROMPT,
        "framex took {stopped_after:?} to stop after SIGINT (limit {PROMPT:?})\n{run}"
    );
    assert_eq!(run.code(), Some(1), "cancelled run: exit 1\n{run}");

    // The result names every clip, as finished or as an error; the long clip cannot have
    // finished 600 720p frames in half a second of a debug build.
    let r = run.result();
    assert_eq!(r["success"], json!(false), "{run}");
    let e = run
        .error("long")
        .unwrap_or_else(|| panic!("the long clip should be reported\n{run}"));
    assert_eq!(e["kind"].as_str(), Some("cancelled"), "{run}");
    let mut finished = BTreeSet::new();
    for id in ["long", "small"] {
        match (
            run.find_clip(id).filter(|c| c["frames"].as_u64().unwrap_or(0) > 0),
            run.error(id),
        ) {
            (Some(c), None) => {
                // A clip reported finished has its whole folder.
                let n = c["frames"].as_u64().unwrap() as usize;
                assert_eq!(w.files(id).len(), n, "clip {id} reported {n} frames\n{run}");
                assert_eq!(n, if id == "small" { 30 } else { 600 });
                finished.insert(id);
            }
            (None, Some(e)) => {
                assert_eq!(e["kind"].as_str(), Some("cancelled"), "clip {id}\n{run}");
                assert!(
                    !w.out().join(id).exists(),
                    "cancelled clip {id} must have no folder in --out"
                );
            }
            (c, e) => panic!("clip {id} should be either finished or failed: clip {c:?}, error {e:?}\n{run}"),
        }
    }

    // Nothing in --out but finished clips' frames: no temporaries, no partial folders.
    for p in walk(&w.out()) {
        let rel = p.strip_prefix(w.out()).unwrap().to_string_lossy().into_owned();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !name.contains(".tmp") && !name.contains(".partial") && !name.starts_with('.'),
            "temporary left behind: {rel}"
        );
        let ok = match rel.split_once('/') {
            None => finished.contains(rel.as_str()),
            Some((dir, file)) => {
                finished.contains(dir) && file.starts_with("frame_") && file.ends_with(".jpg") && !file.contains('/')
            }
        };
        assert!(ok, "unexpected entry in --out after cancellation: {rel}");
    }

    // The store survived: the same extraction now completes, and its frames are right.
    let again = w.extract(&comp(), &[]);
    again.assert_ok();
    assert_eq!(again.clip("long")["frames"].as_u64(), Some(600), "{again}");
    assert_eq!(again.clip("small")["frames"].as_u64(), Some(30), "{again}");
    assert_eq!(w.files("long").len(), 600);
    let times = source_times(&long);
    let size = Size { w: 64, h: 36 };
    let sources = video_rasters(&long, size, Plane::Luma);
    let files = w.files("long");
    let picks = [0usize, 1, 299, 300, 599];
    let outputs: Vec<Vec<u8>> = picks
        .iter()
        .map(|&k| file_raster(&files[k], size, Plane::Luma))
        .collect();
    assert_frames_match("long (after cancel)", &outputs, &sources, &times, &picks);
}
