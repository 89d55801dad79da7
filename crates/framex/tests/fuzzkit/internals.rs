//! The one place the fuzz harnesses name framex's internal modules. The stable mutation tests
//! (`fuzzkit`, `fuzz_media`) and the `cargo fuzz` targets (which include this file by path) all
//! import from here, so when those items move behind a dedicated hidden module of the library
//! only this file changes.

pub use framex::composition::lookup::{ClipTiming, FrameLookup};
pub use framex::composition::window::resolve_window;
pub use framex::encode::{ImageEncoder, ImageFormat, Variant};
pub use framex::media::colour::{ColourFilters, Hdr, Transform};
pub use framex::media::convert::{Converter, Target};
pub use framex::media::decode::{decode_frames, decode_frames_parallel, parallel_gops, share, Delivery};
pub use framex::media::Source;
pub use framex::MediaError;
