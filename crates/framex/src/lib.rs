//! framex: turns the video clips of a composition into one still image per output frame —
//! exactly the frame a player shows at each sample time — as fast as the cores allow.
//!
//! The engine is a library; the `framex` command is a thin layer over it.
//!
//! ```no_run
//! use framex::{ClipSpec, Composition, ExtractOptions, Rational};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // From a file (HTML or JSON by extension) …
//! let comp = framex::read_composition(std::path::Path::new("comp.json"))?;
//! // … or built in memory: the type checks ids (one safe folder name, unique), times and rates.
//! let mut comp = Composition::new(Rational::from_int(30), "/path/to/project")?;
//! let mut clip = ClipSpec::new("intro", "media/intro.mp4");
//! clip.end = Some(Rational::from_int(4));
//! comp.push_clip(clip)?;
//!
//! let mut opts = ExtractOptions::default();
//! opts.out_dir = Some("frames".into());
//! opts.cache_dir = framex::cache::default_dir(); // FRAMEX_CACHE_DIR, else ~/.cache/framex
//! let result = framex::extract(&comp, &opts);
//! for clip in &result.clips {
//!     println!("{}: {} frames in {}", clip.id, clip.frames, clip.dir.display());
//! }
//! let lookup = result.lookup(); // which frame file each clip shows at a composition time
//! # let _ = lookup;
//! # Ok(())
//! # }
//! ```
//!
//! # The API
//! - Input: [`Composition`] and [`ClipSpec`], built by hand or read by [`read_composition`]
//!   (JSON manifest or HyperFrames HTML), [`parse_manifest`], [`parse_html`] or
//!   [`Composition::from_manifest_value`]. The types hold the checks extraction relies on.
//! - The run: [`extract`] with [`ExtractOptions`] ([`CancelToken`], [`Progress`],
//!   [`RemotePolicy`]). It never fails as a whole: each clip has frames or a [`ClipError`].
//!   [`extract_stored`] is its all-hit path alone, reaching no FFmpeg function.
//! - Output: [`ExtractionResult`] (serialises to the result JSON of `docs/contract.md` §3),
//!   [`ClipFrames`], [`Breakdown`], [`ErrorKind`]; [`FrameLookup`] answers which frame file
//!   each clip shows at a composition time.
//! - Sources: [`probe`] → [`MediaInfo`].
//! - The store: [`cache`] (default folder, stats, GC, verify).
//!
//! The library reads no environment variable and changes no process-wide FFmpeg setting
//! unless asked ([`cache::default_dir`], [`quiet_ffmpeg_log`]).
//!
//! Data flows one way: composition (what was asked) → plan (windows + frame index) → decode →
//! convert → encode → store / files → result. See `ARCHITECTURE.md` for the map.

mod composition;
mod control;
mod encode;
mod error;
mod media;
mod par;
mod remote;
mod report;
mod run;
mod store;
mod time;
mod trace;

pub use composition::html::{parse_html, read_html};
pub use composition::lookup::{ClipTiming, FrameLookup, Shown};
pub use composition::manifest::{parse_manifest, read_manifest};
pub use composition::slice::{parse_indices, FrameRange, FrameRun};
pub use composition::{read_composition, ClipSpec, Composition, DrawSize, FormatChoice, InputError, MAX_DRAW_SIDE};
pub use control::{CancelToken, Progress};
pub use encode::ImageFormat;
pub use error::ErrorKind;
pub use media::colour::Hdr;
pub use media::source::{probe, ColorInfo, MediaPhase};
pub use media::{quiet_ffmpeg_log, MediaError, MediaInfo};
pub use remote::RemotePolicy;
pub use report::{Breakdown, ClipError, ClipFrames, ExtractionResult};
pub use run::{extract, extract_stored, ExtractOptions, DEFAULT_SOURCE_TIMEOUT, MAX_JOBS_PER_CORE};
pub use store::frame_file_name;
pub use time::Rational;
pub use trace::TraceEvent;

/// The frame store, from the outside: where it lives by default, and its maintenance
/// (`framex cache stats | gc | clear | verify`). Extraction opens it itself from
/// [`ExtractOptions::cache_dir`].
pub mod cache {
    pub use crate::store::gc::{
        clear, gc, stats, verify, GcOptions, GcReport, StoreStats, VerifyReport, DEFAULT_MAX_BYTES, DEFAULT_MIN_AGE,
    };
    pub use crate::store::tier::ops::{
        remote_gc, remote_stats, remote_verify, RemoteDamage, RemoteGcReport, RemoteStats, RemoteVerifyReport,
    };
    pub use crate::store::tier::RemoteStoreOptions;
    pub use crate::store::{default_dir, is_off, resolve_dir, Store};
}

/// Internals the fuzz targets and the mutation tests drive directly. Not part of the API: no
/// stability promise, and FFmpeg types show through.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::composition::window::{resolve_window, ClipWindow, WindowError};
    pub use crate::encode::{ImageEncoder, Variant};
    pub use crate::error::Failure;
    pub use crate::media::colour::{ColourFilters, PathCounts, Transform};
    pub use crate::media::convert::{Converter, Pixels, Target};
    pub use crate::media::decode::{decode_frames, decode_frames_parallel, parallel_gops, DecodeStats, Delivery};
    pub use crate::media::index::{FrameIndex, Keyframe, PacketEntry};
    pub use crate::media::limit::TimeLimit;
    pub use crate::media::picture::share;
    pub use crate::media::Source;

    /// The lookup timing of a clip framex extracts through `window`.
    pub fn clip_timing(id: impl Into<String>, window: &ClipWindow) -> crate::ClipTiming {
        crate::ClipTiming::from_window(id, window)
    }
}
