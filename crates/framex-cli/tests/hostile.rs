//! Defects found by the hostile test campaign (issue 9), each with the behaviour a user must
//! get instead: output that cannot be written, absurd `--jobs`, ids with control characters.

use std::process::{Command, Stdio};

use crate::common::*;
use serde_json::json;

/// A workspace holding `clip.mp4` (2 s, 30 fps) and a manifest with one 1 s clip `a` of it.
fn one_second_clip() -> (Work, serde_json::Value) {
    let w = Work::new();
    let src = w.add("clip.mp4", &short2s());
    let m = manifest(json!(30), vec![clip("a", src.to_str().unwrap(), 0.0, 1.0, 0.0, false)]);
    (w, m)
}

/// Runs `c` with stdout connected to a pipe whose reader is already gone.
fn with_closed_stdout(mut c: Command) -> std::process::Output {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    c.stdout(writer).stderr(Stdio::piped());
    c.output().expect("framex runs")
}

fn assert_no_panic(out: &std::process::Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(101), "{what} panicked:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{what}:\n{stderr}");
}

#[test]
fn a_closed_stdout_ends_quietly_with_the_commands_own_status() {
    let (w, m) = one_second_clip();
    let src = w.path().join("clip.mp4");
    let m = w.write_manifest(&m);
    let mut probe = w.command();
    probe.arg("probe").arg(&src);
    let mut extract = w.command();
    extract.arg("extract").arg(&m).arg("--json").arg("-q");
    let mut frame = w.command();
    frame.arg("frame").arg(&m).arg("--at").arg("0.5").arg("-q");
    let mut stats = w.command();
    stats.args(["cache", "stats"]);
    for (what, c) in [
        ("probe", probe),
        ("extract --json", extract),
        ("frame", frame),
        ("cache stats", stats),
    ] {
        let out = with_closed_stdout(c);
        assert_no_panic(&out, what);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn output_that_cannot_be_written_is_an_error() {
    let (w, m) = one_second_clip();
    let src = w.path().join("clip.mp4");
    let m = w.write_manifest(&m);
    // A full disk behind stdout.
    let mut c = w.command();
    c.arg("extract").arg(&m).arg("--json").arg("-q");
    c.stdout(std::fs::File::create("/dev/full").unwrap())
        .stderr(Stdio::piped());
    let out = c.output().unwrap();
    assert_no_panic(&out, "extract --json > /dev/full");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write to standard output"));
    let mut c = w.command();
    c.arg("probe")
        .arg(&src)
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .stderr(Stdio::piped());
    let out = c.output().unwrap();
    assert_no_panic(&out, "probe > /dev/full");
    assert_eq!(out.status.code(), Some(1));
    // An unwritable --result file.
    let run = w.extract(
        &manifest(json!(30), vec![clip("a", src.to_str().unwrap(), 0.0, 1.0, 0.0, false)]),
        &["--result", "/dev/full", "-q"],
    );
    assert_eq!(run.code(), Some(1), "{run}");
    assert!(run.stderr.contains("cannot write the result to /dev/full"), "{run}");
}

#[test]
fn absurd_jobs_are_lowered_with_a_warning_not_a_panic() {
    let (w, m) = one_second_clip();
    let run = w.extract(&m, &["--jobs", "100000", "-q"]);
    run.assert_ok();
    assert_eq!(run.clip("a")["frames"], 30, "{run}");
    let warnings = run.result()["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("100000 jobs asked for")),
        "{run}"
    );
}

#[test]
fn clip_ids_with_control_characters_are_refused_in_manifests_and_sanitised_in_html() {
    let w = Work::new();
    let src = w.add("clip.mp4", &short2s());
    let run = w.extract(
        &manifest(
            json!(30),
            vec![clip("bad\nid", src.to_str().unwrap(), 0.0, 1.0, 0.0, false)],
        ),
        &["-q"],
    );
    assert_eq!(run.code(), Some(2), "{run}");
    assert!(
        run.stderr.contains("videos[0].id") && run.stderr.contains("control characters"),
        "{run}"
    );
    // HTML: as HyperFrames ids are sanitised into folder names, a newline becomes `_`.
    w.write(
        "index.html",
        b"<video id=\"two&#10;lines\" src=\"clip.mp4\" data-duration=\"1\"></video>",
    );
    let run = w.extract_file(&w.path().join("index.html"), &["-q"]);
    run.assert_ok();
    assert_eq!(run.result()["clips"][0]["id"], "two_lines", "{run}");
    assert!(w.out().join("two_lines").is_dir());
}

#[test]
fn file_urls_and_symbolic_links_out_of_the_project_are_refused() {
    let w = Work::new();
    let proj = w.path().join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    let outside = w.add("outside.mp4", &short2s());
    std::os::unix::fs::symlink(&outside, proj.join("link.mp4")).unwrap();
    std::fs::copy(&outside, proj.join("own.mp4")).unwrap();
    let m = manifest(
        json!(30),
        vec![
            clip("url", &format!("file://{}", outside.display()), 0.0, 1.0, 0.0, false),
            clip("link", "link.mp4", 0.0, 1.0, 0.0, false),
            clip("own", "own.mp4", 0.0, 1.0, 0.0, false),
        ],
    );
    std::fs::write(proj.join("comp.json"), serde_json::to_vec(&m).unwrap()).unwrap();
    let run = w.extract_file(&proj.join("comp.json"), &["-q"]);
    assert_eq!(run.code(), Some(1), "{run}");
    for id in ["url", "link"] {
        assert_eq!(
            run.error(id).map(|e| e["kind"].clone()),
            Some(json!("source_rejected")),
            "{id}\n{run}"
        );
        assert!(!w.out().join(id).exists());
    }
    assert_eq!(run.clip("own")["frames"], 30, "{run}");
    // The same link named by a HyperFrames HTML composition.
    std::fs::write(
        proj.join("index.html"),
        br#"<video id="v" src="link.mp4" data-duration="1"></video>"#,
    )
    .unwrap();
    let run = w.extract_file(&proj.join("index.html"), &["-q"]);
    assert_eq!(
        run.error("v").map(|e| e["kind"].clone()),
        Some(json!("source_rejected")),
        "{run}"
    );
}

/// Files below the store whose path contains `part` (e.g. "/frames/", "/clips/").
fn store_files(w: &Work, part: &str, ext: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = walk(&w.cache())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(part) && p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

/// Every frame file of clip `id` in OUT is a regular file holding a JPEG.
fn assert_real_jpegs(w: &Work, id: &str, n: usize) {
    let files = w.files(id);
    assert_eq!(files.len(), n, "{id}");
    for f in files {
        let meta = std::fs::symlink_metadata(&f).unwrap();
        assert!(meta.file_type().is_file(), "{} is not a regular file", f.display());
        assert!(
            std::fs::read(&f).unwrap().starts_with(&[0xFF, 0xD8]),
            "{} is not a JPEG",
            f.display()
        );
    }
}

#[test]
fn symbolic_links_planted_in_the_store_are_never_handed_out() {
    let w = Work::new();
    let src = w.add("clip.mp4", &short2s());
    let s = src.to_str().unwrap();
    let first = manifest(json!(30), vec![clip("a", s, 0.0, 1.0, 0.0, false)]);
    w.extract(&first, &["-q"]).assert_ok();
    // A frame object replaced by a link to a file that is not ours: a partial hit (another
    // window over the same frames) must encode that frame again, not link the link.
    let objects = store_files(&w, "/frames/", "jpg");
    assert_eq!(objects.len(), 30);
    std::fs::remove_file(&objects[10]).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &objects[10]).unwrap();
    let second = manifest(json!(30), vec![clip("b", s, 0.0, 1.5, 0.0, false)]);
    let run = w.extract(&second, &["-q"]);
    run.assert_ok();
    assert_real_jpegs(&w, "b", 45);
    assert!(
        std::fs::symlink_metadata(&objects[10]).unwrap().file_type().is_file(),
        "the link was replaced"
    );
    // A frame of a stored clip folder replaced by a link: the whole-clip hit is refused.
    let clip_frames = store_files(&w, "/clips/", "jpg");
    let planted = clip_frames
        .iter()
        .find(|p| p.ends_with("frame_00010.jpg"))
        .unwrap()
        .clone();
    std::fs::remove_file(&planted).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &planted).unwrap();
    let run = w.extract(&first, &["-q"]);
    run.assert_ok();
    assert_real_jpegs(&w, "a", 30);
    let warnings = run.result()["warnings"].to_string();
    assert!(warnings.contains("frame_00010.jpg is not a regular file"), "{run}");
}

#[test]
fn a_missing_file_in_a_stored_clip_folder_is_extracted_again() {
    let (w, m) = one_second_clip();
    w.extract(&m, &["-q"]).assert_ok();
    for (frame, with_out) in [("frame_00007.jpg", true), ("frame_00030.jpg", false)] {
        let missing = store_files(&w, "/clips/", "jpg")
            .into_iter()
            .find(|p| p.ends_with(frame))
            .unwrap();
        std::fs::remove_file(&missing).unwrap();
        let run = if with_out {
            w.extract(&m, &["-q"])
        } else {
            let mut c = w.command();
            c.arg("extract").arg(w.write_manifest(&m)).arg("--json").arg("-q");
            crate::common::run(c)
        };
        run.assert_ok();
        assert!(
            run.result()["warnings"]
                .to_string()
                .contains(&format!("{frame} is missing")),
            "{run}"
        );
        assert_eq!(run.breakdown("clipHits"), 0, "not a hit: {run}");
        assert_eq!(
            run.breakdown("framesDecoded"),
            0,
            "every frame came back from the store: {run}"
        );
        let dir = std::path::PathBuf::from(run.clip("a")["dir"].as_str().unwrap());
        assert!(dir.join(frame).is_file(), "{frame} is back in {}", dir.display());
        if with_out {
            assert_real_jpegs(&w, "a", 30);
        }
    }
}

#[test]
fn out_never_replaces_a_folder_framex_did_not_make() {
    let w = Work::new();
    let proj = w.path().join("proj");
    std::fs::create_dir_all(proj.join("media")).unwrap();
    std::fs::create_dir_all(proj.join("notes")).unwrap();
    let intro = proj.join("media/intro.mp4");
    std::fs::copy(short2s(), &intro).unwrap();
    std::fs::write(proj.join("notes/todo.txt"), b"buy milk").unwrap();
    std::fs::write(proj.join("plain"), b"a file named like a clip").unwrap();
    // A clip whose id is its own source's file name, with --out the project folder.
    std::fs::copy(short2s(), proj.join("own.mp4")).unwrap();
    let m = manifest(
        json!(30),
        vec![
            clip("media", "media/intro.mp4", 0.0, 1.0, 0.0, false),
            clip("notes", "media/intro.mp4", 0.0, 1.0, 0.0, false),
            clip("plain", "media/intro.mp4", 0.0, 1.0, 0.0, false),
            clip("fresh", "media/intro.mp4", 0.0, 1.0, 0.0, false),
            clip("own.mp4", "own.mp4", 0.0, 1.0, 0.0, false),
        ],
    );
    std::fs::write(proj.join("comp.json"), serde_json::to_vec(&m).unwrap()).unwrap();
    // `--out .` in the project folder, cached and uncached; then again (a warm run).
    for cache in ["store-outside", "off", "store-outside"] {
        let mut c = w.command();
        c.current_dir(&proj)
            .args(["extract", "comp.json", "--out", ".", "--json", "-q", "--cache-dir"]);
        c.arg(if cache == "off" {
            "off".into()
        } else {
            w.path().join(cache)
        });
        let run = crate::common::run(c);
        assert_eq!(run.code(), Some(1), "{run}");
        for id in ["media", "notes", "plain", "own.mp4"] {
            let e = run.error(id).unwrap_or_else(|| panic!("{id} must fail\n{run}"));
            assert_eq!(e["kind"], "output_failed");
            assert_eq!(e["retryable"], false, "retrying unchanged cannot help: {run}");
            assert!(
                e["message"].as_str().unwrap().contains(&format!("{id} already exists")),
                "{run}"
            );
        }
        assert_eq!(
            std::fs::read(&intro).unwrap(),
            std::fs::read(short2s()).unwrap(),
            "media/ untouched"
        );
        assert_eq!(std::fs::read(proj.join("notes/todo.txt")).unwrap(), b"buy milk");
        assert_eq!(std::fs::read(proj.join("plain")).unwrap(), b"a file named like a clip");
        assert_eq!(
            std::fs::read(proj.join("own.mp4")).unwrap(),
            std::fs::read(short2s()).unwrap(),
            "the source stays"
        );
        assert_eq!(
            list_files(&proj.join("fresh")).len(),
            30,
            "a folder framex made is replaced"
        );
        let leftovers: Vec<_> = list_files(&proj)
            .into_iter()
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(".framex-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
    // The store inside OUT/<id>: never replaced by the clip folder.
    let out = w.path().join("out2");
    let store = out.join("good");
    let m = manifest(
        json!(30),
        vec![clip("good", intro.to_str().unwrap(), 0.0, 1.0, 0.0, false)],
    );
    let first = w.extract(&m, &["--cache-dir", store.to_str().unwrap(), "-q"]);
    first.assert_ok();
    let mut c = w.command();
    c.arg("extract")
        .arg(w.write_manifest(&m))
        .arg("--out")
        .arg(&out)
        .arg("--cache-dir")
        .arg(&store)
        .args(["--json", "-q"]);
    let run = crate::common::run(c);
    assert_eq!(
        run.error("good").map(|e| e["kind"].clone()),
        Some(json!("output_failed")),
        "{run}"
    );
    assert!(store.join("framex-v1").is_dir(), "the store survives");
}

#[test]
fn sigterm_sighup_and_sigquit_stop_like_ctrl_c() {
    use std::time::{Duration, Instant};
    for signal in ["TERM", "HUP", "QUIT"] {
        let w = Work::new();
        w.add("long.mp4", &long720());
        let m = w.write_manifest(&manifest(
            json!(30),
            vec![clip("long", "long.mp4", 0.0, 20.0, 0.0, false)],
        ));
        let mut c = w.command();
        c.arg("extract").arg(&m).arg("--out").arg(w.out()).arg("--json");
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = c.spawn().expect("start framex");
        let (stdout, stderr) = drain(&mut child);
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before SIG{signal}: fixture too small"
        );
        let kill = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(kill.success());
        let sent = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(
                sent.elapsed() < Duration::from_secs(30),
                "still running after SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        let stopped_after = sent.elapsed();
        let run = finish(status, stdout, stderr, started.elapsed());
        assert!(
            stopped_after < Duration::from_secs(3),
            "SIG{signal}: {stopped_after:?}\n{run}"
        );
        assert_eq!(run.code(), Some(1), "SIG{signal}: exit 1 with a result\n{run}");
        assert_eq!(
            run.error("long").map(|e| e["kind"].clone()),
            Some(json!("cancelled")),
            "{run}"
        );
        let leftovers: Vec<_> = walk(&w.out())
            .into_iter()
            .chain(walk(&w.cache().join("framex-v1/tmp")))
            .collect();
        assert!(leftovers.is_empty(), "SIG{signal} left {leftovers:?}");
    }
}

#[test]
fn damaged_or_edited_frames_are_found_by_verify_and_never_handed_out_torn() {
    let (w, m) = one_second_clip();
    w.extract(&m, &["-q"]).assert_ok();
    let files = w.files("a");
    let originals: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let verify = |repair: bool| {
        let mut c = w.command();
        c.args(["cache", "verify"]);
        if repair {
            c.arg("--repair");
        }
        crate::common::run(c)
    };
    let clean = verify(false);
    assert_eq!(clean.code(), Some(0), "{clean}");
    // Same size, other bytes: a bit flip in the middle, and an edit saved in place through
    // the hard link in OUT (as an image editor does) — both change the stored frame.
    let mut flipped = originals[3].clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    std::fs::write(&files[3], &flipped).unwrap();
    let mut edited = originals[20].clone();
    let n = edited.len();
    edited[n - 10] = edited[n - 10].wrapping_add(1);
    std::fs::write(&files[20], &edited).unwrap();
    let found = verify(false);
    assert_eq!(found.code(), Some(1), "{found}");
    let damaged = found.result()["damaged"].to_string();
    assert!(damaged.contains("frame 4 does not match"), "{found}");
    assert_eq!(
        damaged.matches("frames/jpg-q95-r0/").count(),
        2,
        "both stored frames are tainted: {found}"
    );
    let repaired = verify(true);
    assert!(repaired.result()["repaired"].as_u64().unwrap() >= 3, "{repaired}");
    assert_eq!(verify(false).code(), Some(0), "clean after the repair");
    let again = w.extract(&m, &["-q"]);
    again.assert_ok();
    let now: Vec<Vec<u8>> = w.files("a").iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert!(now == originals, "the repaired store hands out the original frames");
    // A torn frame (another size) in a stored clip folder is never handed out by a warm run.
    let stored = store_files(&w, "/clips/", "jpg");
    let torn = stored.iter().find(|p| p.ends_with("frame_00012.jpg")).unwrap();
    let bytes = std::fs::read(torn).unwrap();
    std::fs::remove_file(torn).unwrap();
    std::fs::write(torn, &bytes[..bytes.len() / 2]).unwrap();
    let warm = w.extract(&m, &["-q"]);
    warm.assert_ok();
    assert!(
        warm.result()["warnings"]
            .to_string()
            .contains("frame_00012.jpg is not the size recorded"),
        "{warm}"
    );
    let now: Vec<Vec<u8>> = w.files("a").iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert!(now == originals, "the warm run handed out whole frames");
}

/// A small tmpfs at a fresh folder, unmounted when dropped; `None` where mounting is not
/// allowed (not root, or no mount permission in this sandbox).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: std::path::PathBuf, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(&at).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(at))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_cache_disk_runs_uncached_and_leaves_no_temporaries() {
    let (w, m) = one_second_clip();
    let Some(fs) = Tmpfs::mount(w.path().join("small"), "8m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let store = fs.0.join("store");
    // The store exists (as after earlier runs); then the disk fills up, to the last block.
    let mut c = w.command();
    c.args(["cache", "stats", "--cache-dir"]).arg(&store);
    assert_eq!(crate::common::run(c).code(), Some(0));
    let filler = std::fs::File::create(fs.0.join("filler")).unwrap();
    let mut f = std::io::BufWriter::new(filler);
    while std::io::Write::write_all(&mut f, &[0u8; 65536]).is_ok() {}
    drop(f);
    let run = w.extract(&m, &["--cache-dir", store.to_str().unwrap(), "-q"]);
    run.assert_ok();
    assert_eq!(w.files("a").len(), 30, "{run}");
    assert!(run.result()["warnings"].to_string().contains("is full"), "{run}");
    // Without an output folder the store is all there is: the clip fails, and the failed
    // writes leave nothing behind in tmp/.
    let mut c = w.command();
    c.arg("extract")
        .arg(w.write_manifest(&m))
        .arg("--cache-dir")
        .arg(&store)
        .args(["--json", "-q"]);
    let run = crate::common::run(c);
    assert_eq!(
        run.error("a").map(|e| e["kind"].clone()),
        Some(json!("output_failed")),
        "{run}"
    );
    let tmp = list_files(&store.join("framex-v1/tmp"));
    assert!(tmp.is_empty(), "temporaries left: {tmp:?}");
}

#[test]
fn a_run_that_only_hits_the_store_sweeps_dead_runs_temporaries() {
    let (w, m) = one_second_clip();
    w.extract(&m, &["-q"]).assert_ok();
    let dead = w.cache().join("framex-v1/tmp/999999999-7-write");
    std::fs::write(&dead, b"left by a killed run").unwrap();
    let warm = w.extract(&m, &["-q"]);
    warm.assert_ok();
    assert_eq!(warm.breakdown("clipHits"), 1, "{warm}");
    assert!(!dead.exists(), "{warm}");
    assert!(warm.breakdown("tempsCleared") >= 1, "{warm}");
}

#[test]
fn a_store_over_its_limit_says_why_and_gc_now_brings_it_under() {
    let w = Work::new();
    let src = w.add("clip.mp4", &short2s());
    let m = manifest(json!(30), vec![clip("a", src.to_str().unwrap(), 0.0, 2.0, 0.0, false)]);
    let run = w.extract(&m, &["--cache-max", "10K", "-q"]);
    run.assert_ok();
    let warnings = run.result()["warnings"].to_string();
    assert!(
        warnings.contains("stays over its limit") && warnings.contains("1 source(s) used within"),
        "{run}"
    );
    // Nothing runs now: the source is recent, not in use.
    let mut c = w.command();
    c.args(["cache", "gc", "--cache-max", "10K"]);
    let gc = crate::common::run(c);
    assert_eq!(
        (gc.result()["keptRecent"].as_u64(), gc.result()["keptInUse"].as_u64()),
        (Some(1), Some(0)),
        "{gc}"
    );
    let mut c = w.command();
    c.args(["cache", "gc", "--now", "--cache-max", "10K"]);
    let now = crate::common::run(c);
    assert_eq!(now.result()["evictions"].as_u64(), Some(1), "{now}");
    assert!(now.result()["bytesAfter"].as_u64().unwrap() <= 10 * 1024, "{now}");
}

/// A small ext4 filesystem (a loop-mounted image: ext4 allows 65 000 links per file),
/// unmounted and deleted when dropped; `None` where loop mounts are not allowed.
struct Ext4 {
    at: std::path::PathBuf,
    image: std::path::PathBuf,
}

impl Ext4 {
    fn mount(dir: &std::path::Path) -> Option<Ext4> {
        let (at, image) = (dir.join("ext4"), dir.join("ext4.img"));
        std::fs::create_dir_all(&at).ok()?;
        std::fs::File::create(&image).ok()?.set_len(96 << 20).ok()?;
        let quiet = |c: &mut Command| {
            c.stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let ok = quiet(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image))
            && quiet(Command::new("mount").args(["-o", "loop"]).arg(&image).arg(&at));
        ok.then_some(Ext4 { at, image })
    }
}

impl Drop for Ext4 {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.at).status();
        let _ = std::fs::remove_file(&self.image);
    }
}

#[test]
fn repeats_past_the_hard_link_limit_cost_a_copy_per_65000_links() {
    let w = Work::new();
    let Some(fs) = Ext4::mount(w.path()) else {
        eprintln!("skipped: cannot loop-mount an ext4 image here (needs root)");
        return;
    };
    // One frame, looped for 2200 s at 30 fps: 66 000 output files showing it.
    let one = w.path().join("one.mp4");
    run_tool(
        ffmpeg()
            .args(["-f", "lavfi", "-i", "testsrc2=size=64x36:rate=30", "-frames:v", "1"])
            .args(["-c:v", "libx264", "-pix_fmt", "yuv420p"])
            .arg(&one),
    );
    let m = manifest(
        json!(30),
        vec![clip("loop", one.to_str().unwrap(), 0.0, 2200.0, 0.0, true)],
    );
    let (out, store) = (fs.at.join("out"), fs.at.join("store"));
    let used_before = fs2_used(&fs.at);
    for attempt in ["cold", "warm", "warm again"] {
        let mut c = w.command();
        c.arg("extract")
            .arg(w.write_manifest(&m))
            .arg("--out")
            .arg(&out)
            .arg("--cache-dir")
            .arg(&store);
        c.args(["--json", "-q"]);
        let run = crate::common::run(c);
        run.assert_ok();
        assert_eq!(run.clip("loop")["frames"], 66_000, "{attempt}: {run}");
        assert_eq!(list_files(&out.join("loop")).len(), 66_000, "{attempt}");
        if attempt == "cold" {
            assert!(
                run.breakdown("linkLimitCopies") >= 1 && run.breakdown("linkLimitCopies") <= 4,
                "{run}"
            );
        }
    }
    // O(distinct frames) of disk, not O(slots): the frame is a few hundred bytes; 66 000
    // copies would be tens of MB. Directory entries are what remains.
    let used = fs2_used(&fs.at) - used_before;
    assert!(used < 12 << 20, "{used} bytes used");
}

/// Bytes in use on the filesystem at `p` (`df`).
fn fs2_used(p: &std::path::Path) -> u64 {
    let out = run_tool(Command::new("df").args(["-B1", "--output=used"]).arg(p));
    String::from_utf8_lossy(&out)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_read_only_output_folder_is_not_retryable() {
    let (w, m) = one_second_clip();
    let Some(fs) = Tmpfs::mount(w.path().join("ro"), "4m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    std::fs::create_dir_all(fs.0.join("out")).unwrap();
    let remount = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&fs.0)
        .status()
        .unwrap();
    assert!(remount.success());
    for cache in ["off", "store"] {
        let mut c = w.command();
        c.arg("extract")
            .arg(w.write_manifest(&m))
            .arg("--out")
            .arg(fs.0.join("out"))
            .arg("--cache-dir");
        c.arg(if cache == "off" { "off".into() } else { w.cache() })
            .args(["--json", "-q"]);
        let run = crate::common::run(c);
        let e = run.error("a").unwrap_or_else(|| panic!("{cache}: must fail\n{run}"));
        assert_eq!(
            (e["kind"].as_str(), e["retryable"].as_bool()),
            (Some("output_failed"), Some(false)),
            "{cache}: {run}"
        );
    }
}

#[test]
fn a_huge_file_that_is_no_video_is_refused_before_it_is_hashed() {
    let w = Work::new();
    // 4 GB of nothing (sparse: no disk used). Hashing it whole took 11.8 s before the check.
    let junk = w.path().join("x.mp4");
    std::fs::File::create(&junk).unwrap().set_len(4 << 30).unwrap();
    let src = w.add("clip.mp4", &short2s());
    let m = manifest(
        json!(30),
        vec![
            clip("junk", junk.to_str().unwrap(), 0.0, 1.0, 0.0, false),
            clip("good", src.to_str().unwrap(), 0.0, 1.0, 0.0, false),
        ],
    );
    let run = w.extract(&m, &["-q"]);
    assert_eq!(run.code(), Some(1), "{run}");
    assert_eq!(
        run.error("junk").map(|e| e["kind"].clone()),
        Some(json!("invalid_media")),
        "{run}"
    );
    assert_eq!(run.clip("good")["frames"], 30);
    // It was never hashed: the store remembers a content key for the good source only.
    let memos = list_files(&w.cache().join("framex-v1/ids"));
    assert_eq!(memos.len(), 1, "{memos:?}");
}

/// The short variant of `scripts/crash-loop.sh`: SIGKILL at spread-out moments of a run into one
/// store; after each kill the store verifies clean and every clip folder in `--out` is complete;
/// a final run hands out exactly the frames of a clean reference run.
#[test]
fn kill_9_at_random_moments_never_damages_the_store() {
    use std::time::Duration;
    let w = Work::new();
    w.add("a.mp4", &long720());
    w.add("b.mp4", &cfr24());
    let m = manifest(
        json!(30),
        vec![
            clip("a", "a.mp4", 0.0, 6.0, 0.0, false),
            clip("trim", "a.mp4", 0.0, 3.0, 4.0, false),
            clip("b", "b.mp4", 1.0, 5.0, 0.0, true),
        ],
    );
    let comp = w.write_manifest(&m);
    let reference = w.path().join("ref");
    let mut c = w.command();
    c.arg("extract")
        .arg(&comp)
        .arg("--out")
        .arg(&reference)
        .args(["--cache-dir", "off", "-q"]);
    assert_eq!(crate::common::run(c).code(), Some(0));
    // Delays spread over a cold run (a fixed sequence: the test is repeatable).
    for (n, delay_ms) in [60u64, 170, 320, 450, 700, 1100].into_iter().enumerate() {
        let mut c = w.command();
        c.arg("extract").arg(&comp).arg("--out").arg(w.out()).arg("-q");
        c.stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = c.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let mut v = w.command();
        v.args(["cache", "verify"]);
        let verify = crate::common::run(v);
        assert_eq!(
            verify.code(),
            Some(0),
            "kill {n} after {delay_ms} ms damaged the store\n{verify}"
        );
        for dir in list_files(&w.out()) {
            let id = dir.file_name().unwrap().to_string_lossy().into_owned();
            assert!(!id.starts_with('.') || id.contains(".framex-"), "{id}");
            if !id.starts_with('.') {
                assert_eq!(
                    list_files(&dir).len(),
                    list_files(&reference.join(&id)).len(),
                    "kill {n}: out/{id} is visible but incomplete"
                );
            }
        }
    }
    let run = w.extract(&m, &["-q"]);
    run.assert_ok();
    for id in ["a", "trim", "b"] {
        let (got, want) = (w.files(id), list_files(&reference.join(id)));
        assert_eq!(got.len(), want.len(), "{id}");
        for (g, r) in got.iter().zip(&want) {
            assert!(
                std::fs::read(g).unwrap() == std::fs::read(r).unwrap(),
                "{} differs",
                g.display()
            );
        }
    }
}

#[test]
fn a_y4m_header_claiming_a_huge_picture_says_so() {
    let w = Work::new();
    let small = w.path().join("small.y4m");
    run_tool(
        ffmpeg()
            .args([
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=32x32:rate=10:duration=0.3",
                "-pix_fmt",
                "yuv420p",
            ])
            .arg(&small),
    );
    let bytes = std::fs::read(&small).unwrap();
    let end = bytes.iter().position(|&b| b == b'\n').unwrap();
    let header = String::from_utf8_lossy(&bytes[..end]).replace("W32 H32", "W30000 H30000");
    let mut huge = header.into_bytes();
    huge.extend_from_slice(&bytes[end..]);
    let src = w.write("huge.y4m", &huge);
    let probe = w.probe(&src);
    assert_eq!(probe.code(), Some(1), "{probe}");
    assert!(
        probe.stderr.contains("picture size 30000x30000 is too large"),
        "{probe}"
    );
    let run = w.extract(
        &manifest(json!(30), vec![clip("h", src.to_str().unwrap(), 0.0, 1.0, 0.0, false)]),
        &["-q"],
    );
    let e = run.error("h").unwrap_or_else(|| panic!("{run}"));
    assert_eq!(e["kind"], "invalid_media");
    assert!(e["message"].as_str().unwrap().contains("is too large"), "{run}");
}
