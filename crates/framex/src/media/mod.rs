//! Media: opening a source once, probing it, indexing its frames, decoding exactly the frames a
//! plan asks for, and converting decoded pictures into encoder-ready pixels.
//!
//! Demuxing and decoding are separate steps with a packet index between them ([`index`]): the
//! index (built from a packet scan, no decoding) says which source frame is on screen at any
//! media time and where its keyframe is, so the decoder can be told exactly what to decode.
//! This layer knows nothing of compositions, clips or output files.

pub mod colour;
pub mod convert;
pub mod decode;
pub mod index;
pub mod limit;
pub mod source;

pub use index::FrameIndex;
pub use limit::TimeLimit;
pub use source::{MediaError, MediaInfo, Source};

/// Initialises FFmpeg once per process and silences its console logging (errors are reported
/// through framex's own error kinds instead).
pub fn init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let _ = ffmpeg_next::init();
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Fatal);
    });
}
