//! The library's integration tests, as one test binary (ripgrep's layout): the deterministic
//! mutation fuzzers and the tests of the public contract that a program calling `framex` relies on.

// The seeded mutation fuzzer shared by the `fuzz_*` modules and, by path, the `cargo fuzz` targets.
mod fuzzkit;

// `framex::extract`, `framex::probe` and the result JSON, called as a library user would.
mod api;
// Mutants of the manifest and HTML corpora through the readers, window resolution and lookup.
mod fuzz_inputs;
// The SDR→HDR fast path against libavfilter's `colorspace`, plane by plane.
mod sdr2hdr;
// Mutants of the media corpus through probe, decode, conversion and encoding.
mod fuzz_media;
