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
pub mod picture;
pub mod sdr2hdr;
pub mod source;

pub use index::FrameIndex;
pub use source::{MediaError, MediaInfo, Source};

/// Initialises FFmpeg's libraries once per process. Touches no process-wide setting: FFmpeg's
/// log level stays what the host process chose (see [`quiet_ffmpeg_log`]).
pub(crate) fn init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let _ = ffmpeg_next::init();
    });
}

/// Silences FFmpeg's console logging for the whole process (its log level is process-wide
/// state, so a library must not change it unasked). The `framex` command calls this: every
/// failure is reported through framex's own error kinds instead.
pub fn quiet_ffmpeg_log() {
    init();
    ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Fatal);
}

impl From<&MediaError> for crate::error::ErrorKind {
    fn from(e: &MediaError) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match e {
            MediaError::Missing(_) => ErrorKind::SourceMissing,
            MediaError::Invalid(_) => ErrorKind::InvalidMedia,
            MediaError::Decode(_) => ErrorKind::DecodeFailed,
            // A probe that runs out of time never produced a usable source; a decode that does
            // failed while decoding.
            MediaError::TimedOut {
                phase: source::MediaPhase::Probe(_),
                ..
            } => ErrorKind::InvalidMedia,
            MediaError::TimedOut {
                phase: source::MediaPhase::Decode,
                ..
            } => ErrorKind::DecodeFailed,
            MediaError::Cancelled => ErrorKind::Cancelled,
        }
    }
}
