//! The one place the fuzz harnesses name framex's internal modules. The stable mutation tests
//! (`fuzzkit`, `fuzz_media`) and the `cargo fuzz` targets (which include this file by path) all
//! import from here, so when those items move behind a dedicated hidden module of the library
//! only this file changes.

pub use framex::fuzzing::{
    clip_timing, resolve_window, ColourFilters, Converter, ImageEncoder, PathCounts, Source, Target, Transform, Variant,
};
pub use framex::fuzzing::{decode_frames, decode_frames_parallel, parallel_gops, share, Delivery};
pub use framex::{FrameLookup, Hdr, ImageFormat, MediaError};
