//! framex: turns the video clips of a composition into one still image per output frame —
//! exactly the frame a player shows at each sample time — as fast as the cores allow.
//!
//! The engine is a library; the `framex` command is a thin layer over it.
//!
//! ```no_run
//! let comp = framex::read_manifest(std::path::Path::new("comp.json")).unwrap();
//! let result = framex::extract(&comp, &framex::ExtractOptions::new("out"));
//! for clip in &result.clips {
//!     println!("{}: {} frames in {}", clip.id, clip.frames, clip.dir.display());
//! }
//! ```
//!
//! Data flows one way: [`composition`] (what was asked) → plan ([`composition::window`] +
//! [`media::FrameIndex`]) → [`media::decode`] → [`media::convert`] → [`encode`] → files →
//! [`report`]. See `ARCHITECTURE.md` for the map.

pub mod composition;
pub mod encode;
pub mod media;
pub mod remote;
pub mod report;
pub mod store;
pub mod time;
pub mod trace;

mod run;

pub use composition::html::{parse_html, read_html};
pub use composition::lookup::{ClipTiming, FrameLookup};
pub use composition::manifest::{parse_manifest, read_manifest};
pub use composition::{ClipSpec, Composition, FormatChoice, InputError};
pub use media::source::probe;
pub use media::{MediaError, MediaInfo};
pub use remote::RemotePolicy;
pub use report::{Breakdown, ClipError, ClipFrames, ErrorKind, ExtractionResult};
pub use run::{extract, frame_file_name, CancelToken, ExtractOptions, Progress, DEFAULT_SOURCE_TIMEOUT};
pub use time::Rational;
