#![no_main]
//! The media path: the input is written to a file, probed and indexed (`Source::open_with_limit`),
//! every frame (up to 64) decoded as the pipeline does, and a few pictures through the HDR filter
//! graphs, the converter and the encoders (`exercise::pictures`, shared with the stable tests).
//! The file's extension follows its magic bytes (so the committed seeds are used as they are);
//! the input length's parity picks sequential or GOP-parallel decoding.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ffmpeg_next as ff;
use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../crates/framex/tests/fuzzkit/exercise.rs"]
mod exercise;
// Everything internal to framex that the harness names, shared with the stable tests.
#[allow(dead_code, unused_imports)]
#[path = "../../crates/framex/tests/fuzzkit/internals.rs"]
mod internals;

use internals::{decode_frames, decode_frames_parallel, parallel_gops, share, Delivery, Source};

fn extension(data: &[u8]) -> &'static str {
    match data {
        [b'Y', b'U', b'V', b'4', ..] => "y4m",
        [0x1a, 0x45, 0xdf, 0xa3, ..] => "mkv",
        [b'R', b'I', b'F', b'F', ..] => "avi",
        [0x47, ..] => "ts",
        _ => "mp4",
    }
}

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("framex-fuzz-{}.{}", std::process::id(), extension(data)));
    std::fs::write(&path, data).unwrap();
    let cancel = Arc::new(AtomicBool::new(false));
    let Ok(mut src) = Source::open_with_limit(&path, cancel, Some(Duration::from_secs(10))) else {
        return;
    };
    let needed: Vec<usize> = (0..src.index.len().min(64)).collect();
    let kept: Mutex<Vec<ff::frame::Video>> = Mutex::new(Vec::new());
    let deliver = |_: usize, f: &ff::frame::Video| {
        let mut k = kept.lock().unwrap();
        if k.len() < 2 {
            k.push(share(f));
        }
        Delivery::Continue
    };
    if data.len() % 2 == 1 && parallel_gops(&src, &needed) {
        let _ = decode_frames_parallel(&mut src, &needed, 2, &deliver);
    } else {
        let _ = decode_frames(&mut src, &needed, 1, deliver);
    }
    exercise::pictures(&kept.into_inner().unwrap(), src.info.rotation);
});
