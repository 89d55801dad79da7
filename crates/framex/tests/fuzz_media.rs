//! Mutation fuzzing of the media path (issue 5, "hostile input never hurts"): mutants of the
//! tiny clips in `fuzz/corpus/media` (H.264 mp4 with the index at either end, 10-bit rotated
//! H.264, VP9 with alpha, VP8, y4m, MJPEG and ProRes 4444 in Matroska, QuickTime RLE with alpha,
//! MPEG-4 in AVI, VFR H.264 in MPEG-TS) are written to a file, opened with
//! [`Source::open_with_limit`] (probe + packet scan), and — when they open — decoded through the
//! same calls the extraction pipeline makes (`decode_frames`, and `decode_frames_parallel` when
//! the GOPs allow it), every frame or a random subset; a few decoded pictures then go through the
//! converter and both encoders, so the pixel path sees odd sizes and formats too. Every case must
//! return an error or frames, never panic, and finish within its time limit.
//!
//! FFmpeg runs in this process, so a crash inside it (abort, segfault) kills the test binary
//! rather than failing one case: before each case the harness writes the case's coordinates and
//! input to `target/tmp/fuzz-media/current.*`, which then holds the crashing input. Replay any
//! case with `FRAMEX_FUZZ_SEED=… FRAMEX_FUZZ_CASE=… cargo test -p framex --test integration fuzz_media::`.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::fuzzkit::internals::{
    decode_frames, decode_frames_parallel, parallel_gops, share, Delivery, MediaError, Source,
};
use crate::fuzzkit::{catch, corpus, exercise, mutant, record_failure, Rng, Seed, Settings};
use ffmpeg_next as ff;

/// Per-source time limit given to every case (probe + decode).
const LIMIT: Duration = Duration::from_secs(10);
/// A case may take at most this long in all (limit plus conversion/encoding and slack).
const CASE_BOUND: Duration = Duration::from_secs(20);
/// Frames decoded per case at most (the seeds have 3–20).
const MAX_FRAMES: usize = 64;

fn work_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-media");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn ext_of(name: &str) -> &str {
    name.rsplit_once('.').map_or("bin", |(_, e)| e)
}

/// What one case did.
#[derive(Default)]
struct Outcome {
    opened: bool,
    frames: usize,
    converted: usize,
}

/// Open, decode (all frames or a random subset, sequential or GOP-parallel), convert and encode
/// a few pictures. Errors are fine; panics and overruns are not (checked by the caller).
fn run_case(path: &Path, rng: &mut Rng) -> Outcome {
    let mut out = Outcome::default();
    let cancel = Arc::new(AtomicBool::new(false));
    let mut src = match Source::open_with_limit(path, cancel, Some(LIMIT)) {
        Ok(s) => s,
        Err(MediaError::Invalid(_) | MediaError::Missing(_) | MediaError::Decode(_) | MediaError::TimedOut { .. }) => {
            return out
        }
        Err(MediaError::Cancelled) => panic!("cancelled without a cancel"),
        // `MediaError` is non-exhaustive: a kind added later must be placed above deliberately.
        Err(e) => panic!("a media error this test does not know: {e:?}"),
    };
    out.opened = true;
    let n = src.index.len();
    assert!(n > 0, "an opened source has frames");
    let info = src.info.clone();
    assert!(info.width > 0 && info.height > 0 && info.width <= 16384 && info.height <= 16384);
    // Every frame (capped), or a sorted random subset (exercises the seek logic).
    let mut needed: Vec<usize> = if rng.chance(2) {
        (0..n.min(MAX_FRAMES)).collect()
    } else {
        let mut v: Vec<usize> = (0..1 + rng.below(8)).map(|_| rng.below(n)).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    needed.truncate(MAX_FRAMES);
    let kept: Mutex<Vec<ff::frame::Video>> = Mutex::new(Vec::new());
    let delivered = Mutex::new(Vec::new());
    let deliver = |f: usize, frame: &ff::frame::Video| {
        delivered.lock().unwrap().push(f);
        let mut k = kept.lock().unwrap();
        if k.len() < 3 {
            k.push(share(frame));
        }
        Delivery::Continue
    };
    let (_stats, result) = if rng.chance(2) && parallel_gops(&src, &needed) {
        decode_frames_parallel(&mut src, &needed, 2, &deliver)
    } else {
        decode_frames(&mut src, &needed, 1 + rng.below(2), deliver)
    };
    let mut delivered = delivered.into_inner().unwrap();
    delivered.sort_unstable();
    match result {
        // Success means every needed frame was handed out exactly once.
        Ok(()) => assert_eq!(
            delivered, needed,
            "a successful decode delivers every needed frame once"
        ),
        Err(MediaError::Cancelled) => panic!("cancelled without a cancel"),
        Err(_) => {}
    }
    out.frames = delivered.len();
    out.converted = exercise::pictures(&kept.into_inner().unwrap(), info.rotation);
    out
}

fn fuzz_media(default_iters: u64) {
    let settings = Settings::from_env(default_iters);
    let seeds: Vec<Seed> = corpus("media");
    let dir = work_dir();
    let mut failures = Vec::new();
    let (mut opened, mut with_frames, mut converted, mut total) = (0u64, 0u64, 0u64, 0u64);
    let started = Instant::now();
    for i in settings.cases() {
        let mut rng = Rng::for_case(settings.seed, i);
        // Mostly light damage (the file still parses deep), sometimes heavy.
        let ops = if rng.chance(4) { 8 } else { 2 };
        let (seed, bytes) = mutant(&mut rng, &seeds, ops, false);
        let ext = ext_of(&seed.name);
        let path = dir.join(format!("current.{ext}"));
        std::fs::write(&path, &bytes).unwrap();
        std::fs::write(
            dir.join("current.txt"),
            format!(
                "FRAMEX_FUZZ_SEED={:#x} FRAMEX_FUZZ_CASE={i} (from {}): input {}\n",
                settings.seed,
                seed.name,
                path.display()
            ),
        )
        .unwrap();
        let t0 = Instant::now();
        let r = catch(|| run_case(&path, &mut rng));
        let took = t0.elapsed();
        total += 1;
        let problem = match r {
            Ok(o) => {
                opened += o.opened as u64;
                with_frames += (o.frames > 0) as u64;
                converted += o.converted as u64;
                (took > CASE_BOUND).then(|| format!("took {took:?}"))
            }
            Err(p) => Some(format!("panicked: {p}")),
        };
        if let Some(problem) = problem {
            failures.push(record_failure(&settings, "media", i, ext, seed, &bytes, &problem));
        }
    }
    let _ = std::fs::remove_file(dir.join("current.txt"));
    eprintln!(
        "media: {total} cases in {:?}: {opened} opened, {with_frames} decoded frames, {converted} conversions, {} failures",
        started.elapsed(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "media: {} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    if settings.only.is_none() && total >= 100 {
        // Not vacuous: light mutations must still reach the decoder and the pixel path.
        assert!(opened * 4 >= total, "only {opened} of {total} mutants opened");
        assert!(
            with_frames * 5 >= total,
            "only {with_frames} of {total} mutants decoded a frame"
        );
        assert!(converted > 0, "no picture reached the converter");
    }
}

#[test]
fn fuzz_probe_decode_convert_on_mutated_clips() {
    fuzz_media(300);
}

/// Every unmutated seed opens and decodes every frame, and so does every regression input
/// (`regress-*`, inputs that once crashed or hung framex) without panicking.
#[test]
fn corpus_seeds_decode_and_regressions_do_not_crash() {
    let mut rng = Rng::new(7);
    for seed in corpus("media") {
        let path = work_dir().join(format!("seed-{}", seed.name));
        std::fs::write(&path, &seed.bytes).unwrap();
        let r = catch(|| {
            let src = Source::open_with_limit(&path, Arc::new(AtomicBool::new(false)), Some(LIMIT));
            let n = src.as_ref().map(|s| s.index.len()).unwrap_or(0);
            (src.is_ok(), n, run_case(&path, &mut rng))
        });
        let (ok, n, o) = r.unwrap_or_else(|p| panic!("{}: panicked: {p}", seed.name));
        if !seed.name.starts_with("regress-") {
            assert!(ok && n >= 3, "seed {} must open with frames ({n})", seed.name);
            assert!(
                o.frames > 0 && o.converted > 0,
                "seed {} must decode and convert",
                seed.name
            );
        }
        let _ = std::fs::remove_file(&path);
    }
}
