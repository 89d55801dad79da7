//! The failure vocabulary every layer shares: an [`ErrorKind`] (what the caller can do about it)
//! and a [`Failure`] (a kind with a message written for people).
//!
//! For: the kinds of `docs/contract.md` §6 and the one error type that lower layers (remote
//! sources, window resolution, source paths, pixels, encoding) return when a clip cannot be
//! produced. Not for: composition syntax errors (`InputError`, exit status 2) or media errors
//! while the source is read (`MediaError`, which maps onto a kind with `ErrorKind::from`).
//! This module depends on nothing else in the crate.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The kinds of clip failure (contract §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    SourceMissing,
    SourceRejected,
    InvalidMedia,
    MediaStartOutOfRange,
    DecodeFailed,
    OutputFailed,
    /// A remote source could not be downloaded (timeout, stall, 5xx, connection lost).
    DownloadFailed,
    /// The options ask for frames the composition cannot give: a slice past its end, an index
    /// list naming a clip it does not have. Every clip of the call fails with it.
    InvalidRequest,
    Cancelled,
    Internal,
}

impl ErrorKind {
    /// Whether trying again unchanged may succeed.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::OutputFailed | ErrorKind::DownloadFailed | ErrorKind::Cancelled
        )
    }

    /// The kind as it appears in the result JSON (`source_missing`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::SourceMissing => "source_missing",
            ErrorKind::SourceRejected => "source_rejected",
            ErrorKind::InvalidMedia => "invalid_media",
            ErrorKind::MediaStartOutOfRange => "media_start_out_of_range",
            ErrorKind::DecodeFailed => "decode_failed",
            ErrorKind::OutputFailed => "output_failed",
            ErrorKind::DownloadFailed => "download_failed",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why something a clip needs could not be done: the kind decided where the failure happened,
/// and a message that names the thing (a URL, a path, a field) and, where there is one, the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub kind: ErrorKind,
    pub message: String,
}

impl Failure {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}
