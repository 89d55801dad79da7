//! Decoded pictures shared between threads without copying their pixels.
//!
//! Its own module so that the decoder (which makes pictures) and the colour filters (which
//! take them) both depend on it rather than on each other.

use ff::ffi;
use ffmpeg_next as ff;

/// A new reference to the same decoded picture (no pixel copy). ffmpeg-next's `Clone` for
/// frames is a deep copy (`av_frame_copy`), which for 1080p costs a 3 MB memcpy and fresh pages
/// per frame.
pub fn share(frame: &ff::frame::Video) -> ff::frame::Video {
    let mut out = ff::frame::Video::empty();
    // SAFETY: `out` is a freshly allocated, empty AVFrame; `frame` is a valid decoded frame whose
    // buffers are reference-counted, so av_frame_ref only takes new references to them.
    let r = unsafe { ffi::av_frame_ref(out.as_mut_ptr(), frame.as_ptr()) };
    if r < 0 {
        // Not reference-counted (never the case for decoder output): fall back to a copy.
        return frame.clone();
    }
    out
}
