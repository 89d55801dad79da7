//! Compositions: what the caller asked for, before any media is opened.
//!
//! A [`Composition`] is a frame rate plus clips ([`ClipSpec`]), read from a JSON manifest
//! ([`manifest`]). [`window`] turns one clip plus its source's playable range into the exact
//! media time of every output frame. This module never touches media files or the disk
//! beyond reading the manifest itself.

pub mod html;
pub mod lookup;
pub mod manifest;
pub mod window;

use std::path::PathBuf;

use crate::time::Rational;

/// Which image format clip frames are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FormatChoice {
    /// PNG for sources with alpha, JPEG otherwise.
    Auto,
    Jpg,
    Png,
}

impl FormatChoice {
    pub fn parse(s: &str) -> Option<FormatChoice> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(FormatChoice::Auto),
            "jpg" | "jpeg" => Some(FormatChoice::Jpg),
            "png" => Some(FormatChoice::Png),
            _ => None,
        }
    }
}

/// A composition: frame rate, output settings and clips.
#[derive(Clone, Debug)]
pub struct Composition {
    /// Output frames per second, exact.
    pub fps: Rational,
    pub format: FormatChoice,
    /// JPEG quality 1..=100 (95 ≈ ffmpeg `-q:v 2`).
    pub quality: u8,
    /// Render SDR: tone-map HDR sources to BT.709 instead of converting SDR sources to HDR.
    pub tonemap: bool,
    /// The composition's end on the timeline, if known; clips are cut there.
    pub timeline_end: Option<Rational>,
    pub clips: Vec<ClipSpec>,
    /// Folder that relative `src` paths are resolved against (the manifest's folder).
    pub base_dir: PathBuf,
}

/// One clip as authored: where it sits on the timeline and which part of which source it plays.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipSpec {
    pub id: String,
    /// Source as written: a path (relative to the composition folder, or absolute) or a URL.
    pub src: String,
    /// Timeline start in seconds (may be negative: the clip started before the composition).
    pub start: Rational,
    /// Timeline end in seconds; `None` plays to the source's natural end.
    pub end: Option<Rational>,
    /// Media time shown at `start`, in seconds from the source's start.
    pub media_start: Rational,
    pub looping: bool,
    pub playback_rate: Rational,
    pub has_audio: bool,
}

impl ClipSpec {
    /// A clip with the defaults of a `<video>` element: start 0, natural end, rate 1.
    pub fn new(id: impl Into<String>, src: impl Into<String>) -> ClipSpec {
        ClipSpec {
            id: id.into(),
            src: src.into(),
            start: Rational::ZERO,
            end: None,
            media_start: Rational::ZERO,
            looping: false,
            playback_rate: Rational::ONE,
            has_audio: false,
        }
    }
}

/// A problem with the composition itself (exit status 2): names the field and, for syntax
/// errors, the line.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {message}")]
pub struct InputError {
    /// `file:line:column`, or `file: field.path`.
    pub location: String,
    pub message: String,
}
