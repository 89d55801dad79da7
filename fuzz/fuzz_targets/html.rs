#![no_main]
//! HyperFrames HTML compositions: parse, then resolve windows and look frames up.

#[allow(dead_code)]
#[path = "../../crates/framex/tests/fuzzkit/exercise.rs"]
mod exercise;
// Everything internal to framex that the harness names, shared with the stable tests.
#[allow(dead_code, unused_imports)]
#[path = "../../crates/framex/tests/fuzzkit/internals.rs"]
mod internals;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(comp) = framex::parse_html(&text, "index.html", std::path::Path::new("/p")) {
        exercise::composition(&comp);
    }
});
