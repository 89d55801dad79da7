#![no_main]
//! HyperFrames HTML compositions: parse, then resolve windows and look frames up.

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(comp) = framex::parse_html(&text, "index.html", std::path::Path::new("/p")) {
        common::exercise(&comp);
    }
});
