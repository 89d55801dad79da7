//! What an extraction returns: [`ExtractionResult`] with per-clip frames or errors and the phase
//! breakdown. Serialises to the result JSON of contract §3 (camelCase).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::composition::lookup::{ClipTiming, FrameLookup};
use crate::encode::ImageFormat;
use crate::error::ErrorKind;
use crate::media::MediaInfo;
use crate::store::frame_file_name;

/// One clip's failure.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct ClipError {
    pub id: String,
    pub kind: ErrorKind,
    pub retryable: bool,
    pub message: String,
}

impl ClipError {
    pub fn new(id: &str, kind: ErrorKind, message: impl Into<String>) -> ClipError {
        ClipError {
            id: id.to_string(),
            kind,
            retryable: kind.retryable(),
            message: message.into(),
        }
    }
}
/// One clip's frames.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ClipFrames {
    pub id: String,
    pub src: String,
    /// Number of frame files this run produced for the clip: all of them (`frame_00001.<ext>`
    /// … in `dir`), or, for a slice or an index list, those `ranges` lists.
    pub frames: u64,
    /// The frame indices (0-based) whose files exist, as sorted half-open ranges:
    /// `[[0, 120], [300, 450]]`; a whole clip is `[[0, n]]`. Frame `k` is always the file
    /// `frame_<k+1>` ([`ClipFrames::frame_path`]), whichever run produced it.
    pub ranges: Vec<[u64; 2]>,
    pub dir: PathBuf,
    pub fps: f64,
    pub format: ImageFormat,
    /// Dynamic-range transform applied to this clip's frames (`sdr2hdr-pq`, `sdr2hdr-hlg`,
    /// `hdr2sdr-hable-srgb`), or `null`.
    pub transform: Option<&'static str>,
    /// The frames' size in pixels: the size they are drawn at (contract §10), else the
    /// source's upright size (`metadata.displayWidth × displayHeight`).
    pub width: u32,
    pub height: u32,
    /// Composition time of frame 1 and where the clip stops being active (seconds).
    pub start: f64,
    pub end: f64,
    /// Media time shown by frame 1 (seconds).
    pub media_start: f64,
    pub playback_rate: f64,
    #[serde(rename = "loop")]
    pub looping: bool,
    pub metadata: MediaInfo,
    /// Served entirely from the store without decoding.
    pub cached: bool,
    /// Exact timing for frame lookups ([`crate::FrameLookup`]); in the JSON, times are exact
    /// `"num/den"` text.
    pub timing: ClipTiming,
}

impl ClipFrames {
    /// Path of 0-based frame `k` (global numbering: the same name in a whole run and in any
    /// slice). The file exists for every `k` of [`ClipFrames::indices`].
    pub fn frame_path(&self, k: u64) -> PathBuf {
        self.dir.join(frame_file_name(k, self.format.extension()))
    }

    /// Every frame index present, in order.
    pub fn indices(&self) -> impl Iterator<Item = u64> + '_ {
        crate::composition::slice::indices(&self.ranges)
    }
}

impl ExtractionResult {
    /// A composition-time → frame lookup over the extracted clips (clip indices follow
    /// `self.clips`).
    pub fn lookup(&self) -> FrameLookup {
        FrameLookup::new(self.clips.iter().map(|c| c.timing.clone()).collect())
    }

    /// The run's spans as a Chrome / Perfetto trace document (`traceEvents`, milliseconds),
    /// ready to be written to a `.json` file; empty unless [`crate::ExtractOptions::trace`].
    pub fn trace_document(&self) -> serde_json::Value {
        serde_json::json!({ "traceEvents": self.trace, "displayTimeUnit": "ms" })
    }
}

/// Time per phase (milliseconds) and counters.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Breakdown {
    /// Wall time opening, probing and indexing sources.
    pub probe_ms: f64,
    /// Wall time planning (windows, sample → frame mapping, output folders).
    pub plan_ms: f64,
    /// Time inside the demuxer and decoder, summed over sources.
    pub decode_ms: f64,
    /// CPU time converting pixels (colour, rotation), summed over workers.
    pub convert_ms: f64,
    /// CPU time encoding and writing images, summed over workers.
    pub encode_ms: f64,
    /// Wall time publishing finished clip folders.
    pub publish_ms: f64,
    pub gc_ms: f64,
    pub clip_hits: u64,
    pub clip_misses: u64,
    pub frames_decoded: u64,
    /// Decoded frames that are no needed frame, decoded only to reach one: the keyframe lead-in
    /// of a trim (from the GOP's keyframe up to the first frame shown), frames between the frames
    /// a run needs, reordered frames decoded past the last. Part of `framesDecoded`.
    pub lead_in_frames: u64,
    pub frames_encoded: u64,
    pub frames_reused: u64,
    /// Output files that are links to an already-encoded frame (held frames, repeats).
    pub frames_linked: u64,
    pub frames_substituted: u64,
    /// Pictures converted SDR→HDR by the hand-written 8-bit path (no filter graph).
    pub frames_sdr_to_hdr_fast: u64,
    /// Pictures through a libavfilter colour graph: SDR→HDR the fast path does not take (alpha,
    /// 10-bit, 4:2:2/4:4:4, odd sizes, RGB, other matrices, primaries or transfers) and every
    /// tone-mapped picture.
    pub frames_colour_filtered: u64,
    pub seeks: u64,
    pub bytes_written: u64,
    pub gc_evictions: u64,
    pub gc_bytes_freed: u64,
    pub temps_cleared: u64,
    pub publish_failures: u64,
    pub cross_fs_copies: u64,
    /// Repeats written as copies because a frame file reached the filesystem's hard-link limit
    /// (one per ~65 000 links on ext4).
    pub link_limit_copies: u64,
    /// Remote sources downloaded (not answered from the store), bytes received, wall time of
    /// the fetch phase.
    pub downloads: u64,
    pub download_bytes: u64,
    pub download_ms: f64,
    /// The remote store tier ([`crate::ExtractOptions::remote_store`]): clips whose record it
    /// held (and whose frames it supplied), clips asked for in vain.
    pub remote_clip_hits: u64,
    pub remote_clip_misses: u64,
    /// Frames and bytes fetched from it (verified, then written to the local store).
    pub remote_frames_downloaded: u64,
    pub remote_bytes_downloaded: u64,
    /// Frames (in packed segments), objects (segments and records) and bytes uploaded to it.
    pub remote_frames_uploaded: u64,
    pub remote_objects_uploaded: u64,
    pub remote_bytes_uploaded: u64,
    /// Requests made to it (GET, PUT, LIST pages, DELETE).
    pub remote_requests: u64,
    /// Phases in which it failed and the run carried on from the local store and the decoder.
    pub remote_fallbacks: u64,
    /// Its objects refused as damaged or foreign.
    pub remote_damaged: u64,
    /// Objects not uploaded when the flush limit ran out (or the tier failed).
    pub remote_pending: u64,
    /// Wall time asking it before decoding (metadata, clip records, frames), and flushing to
    /// it after publishing.
    pub remote_ms: f64,
    pub remote_flush_ms: f64,
}

/// The result of [`crate::extract`].
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ExtractionResult {
    pub success: bool,
    pub clips: Vec<ClipFrames>,
    pub errors: Vec<ClipError>,
    /// Problems that did not fail any clip (e.g. an unwritable cache folder: ran uncached).
    pub warnings: Vec<String>,
    pub total_frames: u64,
    pub duration_ms: f64,
    pub breakdown: Breakdown,
    /// Spans of the run when [`crate::ExtractOptions::trace`] was set (Chrome trace events).
    #[serde(skip)]
    pub trace: Vec<crate::trace::TraceEvent>,
}

/// Counters shared by the pipeline's threads.
#[derive(Default)]
pub(crate) struct Counters {
    pub decode_ns: AtomicU64,
    pub convert_ns: AtomicU64,
    pub encode_ns: AtomicU64,
    pub publish_ns: AtomicU64,
    pub frames_decoded: AtomicU64,
    pub lead_in_frames: AtomicU64,
    pub frames_encoded: AtomicU64,
    pub frames_reused: AtomicU64,
    pub frames_linked: AtomicU64,
    pub frames_substituted: AtomicU64,
    pub frames_sdr_to_hdr_fast: AtomicU64,
    pub frames_colour_filtered: AtomicU64,
    pub seeks: AtomicU64,
    pub bytes_written: AtomicU64,
    pub cross_fs_copies: AtomicU64,
    pub link_limit_copies: AtomicU64,
    pub publish_failures: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, v: u64) {
        counter.fetch_add(v, Ordering::Relaxed);
    }

    pub fn fill(&self, b: &mut Breakdown) {
        let ms = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64 / 1e6;
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        b.decode_ms = ms(&self.decode_ns);
        b.convert_ms = ms(&self.convert_ns);
        b.encode_ms = ms(&self.encode_ns);
        b.publish_ms = ms(&self.publish_ns);
        b.frames_decoded = n(&self.frames_decoded);
        b.lead_in_frames = n(&self.lead_in_frames);
        b.frames_encoded = n(&self.frames_encoded);
        b.frames_reused = n(&self.frames_reused);
        b.frames_linked = n(&self.frames_linked);
        b.frames_substituted = n(&self.frames_substituted);
        b.frames_sdr_to_hdr_fast = n(&self.frames_sdr_to_hdr_fast);
        b.frames_colour_filtered = n(&self.frames_colour_filtered);
        b.seeks = n(&self.seeks);
        b.bytes_written = n(&self.bytes_written);
        b.cross_fs_copies = n(&self.cross_fs_copies);
        b.link_limit_copies = n(&self.link_limit_copies);
        b.publish_failures = n(&self.publish_failures);
    }
}
