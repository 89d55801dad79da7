//! The `framex` command's integration tests, as one test binary (ripgrep's layout), so the shared
//! `common` helpers compile once instead of once per file. Every test runs the built `framex`
//! executable against media synthesized with the ffmpeg CLI and checks it with an independent
//! oracle; the library contract itself is tested in `crates/framex/tests/api.rs`.

// Fixture synthesis, the isolated workspace that runs `framex`, and the frame-identity oracle.
mod common;

// Truncated, garbled, misnamed and absurd media in one composition, and `--source-timeout`.
mod broken;
// Ctrl-C during `framex extract`: prompt exit, nothing partial published, store still usable.
mod cancel;
// Frames at the size they are drawn: width/height/fit, HTML sizes, --max-size, against ffmpeg.
mod drawsize;
// Per-clip failure kinds for bad sources, and unusable manifests (exit 2).
mod errors;
// Which source frame every output file shows: windows, held frames, VFR, alpha, rotation, loops.
mod extract;
// HDR sources: SDR→HDR conversion in HDR compositions and `--tonemap` to SDR, against ffmpeg.
mod hdr;
// Defects of the hostile test campaign: unwritable output, absurd --jobs, control characters.
mod hostile;
// A HyperFrames HTML composition end to end, through `extract` and `frame --at`.
mod html;
// Self-checks of the fixtures and the oracle, independent of framex.
mod oracle;
// `framex probe`: the metadata JSON against ffprobe, and failure on bad files.
mod probe;
// The remote store tier on a real S3-compatible server (moto): hosts sharing a bucket, faults.
mod remote_store;
// URL sources: download once into the store, limits, redirects, resume, private addresses.
mod remote;
// `framex` without FFmpeg: all-hit runs never load it; the rest goes to `framex-engine`.
mod startup;
// Chunked renders: timeline slices and index lists that add up to exactly one full run.
mod slices;
// The frame store: reuse, content addressing, concurrent processes, kill -9, GC, `--cache-dir off`.
mod store;
