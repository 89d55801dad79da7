//! Opening a source once: container, best video stream, metadata and the frame index.

use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ff::ffi;
use ff::packet::Ref as _;
use ffmpeg_next as ff;
use serde::Serialize;

use super::index::{FrameIndex, PacketEntry};
use super::limit::TimeLimit;
use crate::time::Rational;

/// What went wrong reading a source, by kind (mapped to the clip error kinds of contract §6).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    #[error("source file not found: {0}")]
    Missing(PathBuf),
    #[error("not a playable video: {0}")]
    Invalid(String),
    #[error("decoding failed: {0}")]
    Decode(String),
    /// The source used up its [`TimeLimit`] of `limit` during `phase`.
    #[error("{}", timed_out_message(phase, *limit))]
    TimedOut { phase: MediaPhase, limit: Duration },
    #[error("cancelled")]
    Cancelled,
}

/// The step of reading a source that ran out of its [`TimeLimit`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaPhase {
    /// Opening and indexing the file at this path (the probe).
    Probe(PathBuf),
    /// Decoding the frames a run needs.
    Decode,
}

/// Worded as the [`MediaError::Invalid`] and [`MediaError::Decode`] errors that a probe and a
/// decode timeout are counted as, so a timeout reads like the other failures of its kind.
fn timed_out_message(phase: &MediaPhase, limit: Duration) -> String {
    let what = super::limit::describe_limit(limit);
    match phase {
        MediaPhase::Probe(path) => format!(
            "not a playable video: {}: probing hit {what} and was stopped",
            path.display()
        ),
        MediaPhase::Decode => format!("decoding failed: decoding hit {what} and was stopped"),
    }
}

/// Colour description of the stream, as FFmpeg names it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct ColorInfo {
    pub matrix: String,
    pub range: String,
    pub primaries: String,
    pub transfer: String,
}

/// Metadata of a source's video stream (`framex probe`, and each clip's `metadata` in the
/// result). Serialised only: the store keeps its own versioned copy (`store::records`).
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
#[serde(rename_all = "camelCase")]
pub struct MediaInfo {
    pub codec: String,
    pub width: u32,
    pub height: u32,
    /// Size after rotation is applied.
    pub display_width: u32,
    pub display_height: u32,
    /// Clockwise degrees (0, 90, 180, 270) applied to show the picture upright.
    pub rotation: u32,
    pub pixel_format: String,
    pub alpha: bool,
    pub color: ColorInfo,
    /// HDR transfer (PQ or HLG) when the stream is HDR; `null` for SDR.
    pub hdr: Option<super::colour::Hdr>,
    /// BT.2020 primaries (wide colour gamut), HDR or not.
    pub wide_gamut: bool,
    pub avg_frame_rate: String,
    pub real_frame_rate: String,
    pub vfr: bool,
    /// Container duration in seconds.
    pub duration: f64,
    /// Playable length of the video stream in media seconds (end of its last frame).
    pub playable_duration: f64,
    /// Stream start time in seconds.
    pub stream_start: f64,
    pub frame_count: u64,
    pub keyframe_count: u64,
    pub time_base: String,
    pub has_audio: bool,
}

/// An opened source: the demuxer positioned anywhere, its metadata and frame index.
pub struct Source {
    pub(crate) input: ff::format::context::Input,
    pub(crate) stream_index: usize,
    pub info: MediaInfo,
    pub index: FrameIndex,
    pub(crate) cancel: Arc<AtomicBool>,
    /// The source's wall-time budget (probe + decode); stopped between probe and decode.
    pub(crate) limit: Arc<TimeLimit>,
}

/// The demuxers a source may be read with: video containers and raw video streams. Playlist and
/// manifest formats (HLS, DASH, concat, image sequences with patterns) are left out on purpose:
/// they open further files named *inside* the source, so a hostile file (a downloaded `.m3u8`, say)
/// could make FFmpeg read any local file into a clip's frames. Only the `file` protocol is allowed,
/// so nothing a source names can reach the network either.
const CONTAINER_WHITELIST: &str = "mov,mp4,matroska,webm,avi,mpegts,flv,ivf,yuv4mpegpipe,h264,hevc,mpeg,\
mpegvideo,m4v,asf,mxf,ogg,nut,dv,gif,apng,obu,av1,vc1,dirac,mjpeg,rm,nuv,wtv,gxf,lxf";

/// Whether `path` opens as a video container framex accepts (the demuxer whitelist, the `file`
/// protocol), reading only what FFmpeg needs to recognise the format: no stream analysis, no
/// packet scan. Run before a source is hashed for the store, so a file that is not a video — a
/// 4 GB sparse `x.mp4`, say — is refused at once instead of read whole.
pub(crate) fn sniff(path: &Path) -> Result<(), MediaError> {
    use std::os::unix::ffi::OsStrExt;
    super::init();
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| MediaError::Invalid(format!("{}: the path holds a NUL byte", path.display())))?;
    let mut opts: *mut ffi::AVDictionary = std::ptr::null_mut();
    let mut ctx: *mut ffi::AVFormatContext = std::ptr::null_mut();
    // SAFETY: every pointer passed is either a valid NUL-terminated string that outlives the call
    // or a pointer to our own (initially null) out-parameter; FFmpeg owns `ctx` only on success,
    // when avformat_close_input frees it; av_dict_free frees what is left of `opts` either way.
    let r = unsafe {
        ffi::av_dict_set(
            &mut opts,
            c"format_whitelist".as_ptr(),
            CONTAINER_WHITELIST_C.as_ptr(),
            0,
        );
        ffi::av_dict_set(&mut opts, c"protocol_whitelist".as_ptr(), c"file".as_ptr(), 0);
        let r = ffi::avformat_open_input(&mut ctx, c_path.as_ptr(), std::ptr::null(), &mut opts);
        ffi::av_dict_free(&mut opts);
        if r >= 0 {
            ffi::avformat_close_input(&mut ctx);
        }
        r
    };
    if r < 0 {
        return Err(open_failure(path, ff::Error::from(r)));
    }
    Ok(())
}

/// The largest picture side a source may have (the decoders' pixel cap is its square).
const MAX_SIDE: i32 = 16384;

fn too_large(path: &Path, width: i64, height: i64) -> MediaError {
    MediaError::Invalid(format!(
        "{}: picture size {width}x{height} is too large",
        path.display()
    ))
}

/// Why FFmpeg refused to open `path`, in words: its own error code is unhelpful for one known
/// case (a YUV4MPEG header declaring a picture FFmpeg will not allocate makes the demuxer fail
/// with EBUSY, "Device or resource busy"), so that header is read here to say so.
fn open_failure(path: &Path, e: impl std::fmt::Display) -> MediaError {
    let mut head = [0u8; 256];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .unwrap_or(0);
    let header = String::from_utf8_lossy(&head[..n]);
    if let Some(line) = header.strip_prefix("YUV4MPEG2 ").and_then(|h| h.lines().next()) {
        let dim = |tag: char| line.split(' ').find_map(|t| t.strip_prefix(tag)?.parse::<i64>().ok());
        if let (Some(w), Some(h)) = (dim('W'), dim('H')) {
            if w > MAX_SIDE as i64 || h > MAX_SIDE as i64 {
                return too_large(path, w, h);
            }
        }
    }
    MediaError::Invalid(format!(
        "{}: cannot read as a video file ({e}); playlists, manifests and image sequences are not \
         accepted as sources",
        path.display()
    ))
}

/// [`CONTAINER_WHITELIST`] as a C string.
static CONTAINER_WHITELIST_C: std::sync::LazyLock<std::ffi::CString> =
    std::sync::LazyLock::new(|| std::ffi::CString::new(CONTAINER_WHITELIST).expect("no NUL"));

fn cstr(p: *const std::os::raw::c_char) -> String {
    if p.is_null() {
        return "unknown".into();
    }
    // SAFETY: FFmpeg name functions return static NUL-terminated strings or NULL (checked).
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn rate_str(r: ff::Rational) -> String {
    format!("{}/{}", r.numerator(), r.denominator())
}

impl Source {
    /// Opens `path`, picks its best video stream, reads metadata and scans every packet of that
    /// stream (no decoding) into a `FrameIndex`. `cancel` aborts blocking reads.
    pub fn open(path: &Path, cancel: Arc<AtomicBool>) -> Result<Source, MediaError> {
        Source::open_with_limit(path, cancel, None)
    }

    /// [`Source::open`] under a [`TimeLimit`] of `limit` for probe + decode (`None`: none).
    pub fn open_with_limit(
        path: &Path,
        cancel: Arc<AtomicBool>,
        limit: Option<Duration>,
    ) -> Result<Source, MediaError> {
        let limit = Arc::new(TimeLimit::new(limit));
        limit.start();
        let r = Source::open_limited(path, cancel, limit.clone());
        limit.stop();
        r
    }

    fn open_limited(path: &Path, cancel: Arc<AtomicBool>, limit: Arc<TimeLimit>) -> Result<Source, MediaError> {
        super::init();
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => MediaError::Missing(path.to_path_buf()),
            _ => MediaError::Invalid(format!("{}: {e}", path.display())),
        })?;
        if meta.is_dir() {
            return Err(MediaError::Invalid(format!("{} is a directory", path.display())));
        }
        if !meta.is_file() {
            // A FIFO, socket or device: opening it may block forever (a FIFO nobody writes)
            // and it cannot be seeked; only regular files are media sources.
            return Err(MediaError::Invalid(format!("{} is not a regular file", path.display())));
        }
        if meta.len() == 0 {
            return Err(MediaError::Invalid(format!("{} is empty (0 bytes)", path.display())));
        }
        let (flag, lim) = (cancel.clone(), limit.clone());
        let interrupt = move || flag.load(Ordering::Relaxed) || lim.expired();
        let mut options = ff::Dictionary::new();
        options.set("format_whitelist", CONTAINER_WHITELIST);
        options.set("protocol_whitelist", "file");
        let interrupts = Interrupts {
            cancel: &cancel,
            limit: &limit,
            phase: MediaPhase::Probe(path.to_path_buf()),
            stop: None,
        };
        let mut input = ff::format::input_with_interrupt_and_dictionary(path, interrupt, options).map_err(|e| {
            if interrupts.cancelled() {
                MediaError::Cancelled
            } else if limit.expired() {
                interrupts.timed_out()
            } else {
                open_failure(path, e)
            }
        })?;
        let stream = input
            .streams()
            .best(ff::media::Type::Video)
            .ok_or_else(|| MediaError::Invalid(format!("{}: no video stream", path.display())))?;
        let stream_index = stream.index();
        let has_audio = input
            .streams()
            .any(|s| s.parameters().medium() == ff::media::Type::Audio);
        let tb = stream.time_base();
        if tb.numerator() <= 0 || tb.denominator() <= 0 {
            return Err(MediaError::Invalid(format!(
                "{}: invalid stream time base",
                path.display()
            )));
        }
        let time_base = Rational::new(tb.numerator() as i128, tb.denominator() as i128);
        let params = stream.parameters();
        // SAFETY: `params` wraps the stream's valid AVCodecParameters for the lifetime of `input`.
        let (codec_id, width, height, format, range, space, prim, trc) = unsafe {
            let p = &*params.as_ptr();
            (
                p.codec_id,
                p.width,
                p.height,
                p.format,
                p.color_range,
                p.color_space,
                p.color_primaries,
                p.color_trc,
            )
        };
        if width <= 0 || height <= 0 {
            return Err(MediaError::Invalid(format!(
                "{}: video stream has no picture size",
                path.display()
            )));
        }
        if width > MAX_SIDE || height > MAX_SIDE {
            return Err(too_large(path, width as i64, height as i64));
        }
        // SAFETY: the format value came from FFmpeg itself, so it is a valid AVPixelFormat.
        let pix_fmt: ffi::AVPixelFormat = unsafe { std::mem::transmute::<i32, ffi::AVPixelFormat>(format) };
        // SAFETY: plain lookups of FFmpeg's static name and descriptor tables (a null descriptor
        // is checked before it is read).
        let (codec, pixel_format_name, color, pix_has_alpha) = unsafe {
            let desc = ffi::av_pix_fmt_desc_get(pix_fmt);
            let alpha = !desc.is_null() && ((*desc).flags & ffi::AV_PIX_FMT_FLAG_ALPHA as u64) != 0;
            (
                cstr(ffi::avcodec_get_name(codec_id)),
                if format < 0 {
                    "unknown".to_string()
                } else {
                    cstr(ffi::av_get_pix_fmt_name(pix_fmt))
                },
                ColorInfo {
                    matrix: cstr(ffi::av_color_space_name(space)),
                    range: cstr(ffi::av_color_range_name(range)),
                    primaries: cstr(ffi::av_color_primaries_name(prim)),
                    transfer: cstr(ffi::av_color_transfer_name(trc)),
                },
                alpha,
            )
        };
        let alpha_tag = stream
            .metadata()
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("alpha_mode") && v.trim() == "1");
        let rotation = display_rotation(&stream);
        let avg = stream.avg_frame_rate();
        let real = stream.rate();
        let stream_start_ticks = stream.start_time();
        let nominal = [avg, real]
            .into_iter()
            .find(|r| r.numerator() > 0 && r.denominator() > 0)
            .map(|r| Rational::new(r.numerator() as i128, r.denominator() as i128));
        let container_start = {
            // SAFETY: reading a plain field of the open format context.
            let s = unsafe { (*input.as_ptr()).start_time };
            if s == ffi::AV_NOPTS_VALUE {
                Rational::ZERO
            } else {
                Rational::new(s as i128, ffi::AV_TIME_BASE as i128)
            }
        };
        let duration = {
            let d = input.duration();
            if d > 0 {
                d as f64 / ffi::AV_TIME_BASE as f64
            } else {
                0.0
            }
        };
        drop(params);

        let packets = scan_packets(&mut input, stream_index, &interrupts)?;
        let index = FrameIndex::build(&packets, time_base, container_start, nominal);
        if index.is_empty() {
            return Err(MediaError::Invalid(format!(
                "{}: the video stream has no frames",
                path.display()
            )));
        }
        let (w, h) = (width as u32, height as u32);
        let (display_width, display_height) = if rotation % 180 == 90 { (h, w) } else { (w, h) };
        let stream_start = if stream_start_ticks == ffi::AV_NOPTS_VALUE {
            0.0
        } else {
            (Rational::from(stream_start_ticks) * time_base).to_f64()
        };
        let info = MediaInfo {
            codec,
            width: w,
            height: h,
            display_width,
            display_height,
            rotation,
            pixel_format: pixel_format_name,
            alpha: pix_has_alpha || alpha_tag,
            hdr: super::colour::Hdr::of(&color),
            wide_gamut: color.primaries == "bt2020",
            color,
            avg_frame_rate: rate_str(avg),
            real_frame_rate: rate_str(real),
            vfr: index.is_vfr(),
            duration,
            playable_duration: index.end().to_f64(),
            stream_start,
            frame_count: index.len() as u64,
            keyframe_count: index.keyframe_count() as u64,
            time_base: format!("{}/{}", time_base.num(), time_base.den()),
            has_audio,
        };
        Ok(Source {
            input,
            stream_index,
            info,
            index,
            cancel,
            limit,
        })
    }

    /// What opening a second reader of this source takes ([`Reopen::open`]).
    pub(crate) fn reopener(&self) -> Reopen {
        Reopen {
            stream_index: self.stream_index,
            info: self.info.clone(),
            index: self.index.clone(),
            cancel: self.cancel.clone(),
            limit: self.limit.limit(),
        }
    }

    /// Stops the source's [`TimeLimit`] clock: nothing works on it until [`Source::resume_clock`].
    pub(crate) fn pause_clock(&self) {
        self.limit.stop();
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// Resumes the source's [`TimeLimit`] clock, stopped after the probe: call when decoding starts.
    pub fn resume_clock(&self) {
        self.limit.start();
    }

    /// Whether the source has used up its [`TimeLimit`].
    pub fn time_limit_hit(&self) -> bool {
        self.limit.expired()
    }
}

/// How to open a second reader of a probed source, to decode part of it on another thread.
pub(crate) struct Reopen {
    stream_index: usize,
    info: MediaInfo,
    index: FrameIndex,
    cancel: Arc<AtomicBool>,
    limit: Option<Duration>,
}

impl Reopen {
    /// The file at `path` read again: a demuxer of its own (the same whitelists and cancel flag)
    /// and a [`TimeLimit`] of the same length, sharing what the probe learnt (metadata, frame
    /// index) — no packet scan.
    pub(crate) fn open(&self, path: &Path) -> Result<Source, MediaError> {
        let limit = Arc::new(TimeLimit::new(self.limit));
        let (flag, lim) = (self.cancel.clone(), limit.clone());
        let interrupt = move || flag.load(Ordering::Relaxed) || lim.expired();
        let mut options = ff::Dictionary::new();
        options.set("format_whitelist", CONTAINER_WHITELIST);
        options.set("protocol_whitelist", "file");
        let input = ff::format::input_with_interrupt_and_dictionary(path, interrupt, options).map_err(|e| {
            if self.cancel.load(Ordering::Relaxed) {
                MediaError::Cancelled
            } else {
                open_failure(path, e)
            }
        })?;
        let same = input
            .stream(self.stream_index)
            .is_some_and(|s| s.parameters().medium() == ff::media::Type::Video);
        if !same {
            return Err(MediaError::Invalid(format!(
                "{} changed while it was read",
                path.display()
            )));
        }
        Ok(Source {
            input,
            stream_index: self.stream_index,
            info: self.info.clone(),
            index: self.index.clone(),
            cancel: self.cancel.clone(),
            limit,
        })
    }
}

/// A source split for decoding: its demuxer to read from, the video stream, the frame index,
/// and what interrupts the reads (`stop`: the GOP demuxer's decoders giving up).
pub(crate) struct Decoding<'a> {
    pub input: &'a mut ff::format::context::Input,
    pub stream_index: usize,
    pub index: &'a FrameIndex,
    pub interrupts: Interrupts<'a>,
}

impl Source {
    pub(crate) fn decoding<'a>(&'a mut self, stop: Option<&'a AtomicBool>) -> Decoding<'a> {
        Decoding {
            input: &mut self.input,
            stream_index: self.stream_index,
            index: &self.index,
            interrupts: Interrupts {
                cancel: &self.cancel,
                limit: &self.limit,
                phase: MediaPhase::Decode,
                stop,
            },
        }
    }
}

/// What ends a read of a source early, besides the end of its stream: the caller's cancel flag,
/// the source's [`TimeLimit`] (reported as a timeout of `phase`) and, for the GOP demuxer, its
/// decoders giving up.
pub(crate) struct Interrupts<'a> {
    pub(crate) cancel: &'a AtomicBool,
    pub(crate) limit: &'a TimeLimit,
    pub(crate) phase: MediaPhase,
    /// Set when nobody takes packets any more: the read ends as if the stream had.
    pub(crate) stop: Option<&'a AtomicBool>,
}

impl Interrupts<'_> {
    pub(crate) fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// `Err` once cancelled or out of time.
    pub(crate) fn check(&self) -> Result<(), MediaError> {
        if self.cancelled() {
            Err(MediaError::Cancelled)
        } else if self.limit.expired() {
            Err(self.timed_out())
        } else {
            Ok(())
        }
    }

    pub(crate) fn timed_out(&self) -> MediaError {
        self.limit.timed_out(self.phase.clone())
    }

    fn stopped(&self) -> bool {
        self.stop.is_some_and(|s| s.load(Ordering::Relaxed))
    }
}

/// The next packet the demuxer delivers, of any stream (the packet scan counts every read as
/// progress, so filtering is the caller's). `Ok(None)` at the end of the stream, when
/// [`Interrupts::stop`] is set, and at a read error that is neither a cancel nor a timeout: an
/// unreadable tail (truncation, garbage) ends the stream, and what was readable before it is
/// used. `interrupts` is checked before every read, including the retries a demuxer asks for.
pub(crate) fn next_packet(
    input: &mut ff::format::context::Input,
    interrupts: &Interrupts<'_>,
) -> Result<Option<ff::Packet>, MediaError> {
    loop {
        interrupts.check()?;
        if interrupts.stopped() {
            return Ok(None);
        }
        // A fresh packet per read, never one reused: ffmpeg-next's `Packet::read` does not
        // unreference the packet before `av_read_frame` overwrites it, so a reused packet leaks
        // every buffer it held (measured: a scan of a 60 MB file kept ~60 MB resident).
        let mut packet = ff::Packet::empty();
        match packet.read(input) {
            Ok(()) => return Ok(Some(packet)),
            Err(ff::Error::Eof) => return Ok(None),
            Err(ff::Error::Other { errno }) if errno == libc::EAGAIN => continue,
            Err(_) => {
                interrupts.check()?;
                return Ok(None);
            }
        }
    }
}

/// Clockwise rotation (0/90/180/270) that makes the picture upright, from the display matrix.
fn display_rotation(stream: &ff::format::stream::Stream) -> u32 {
    for sd in stream.side_data() {
        if sd.kind() == ff::codec::packet::side_data::Type::DisplayMatrix && sd.data().len() >= 36 {
            // SAFETY: the display matrix side data is nine i32 values (checked length above);
            // av_display_rotation_get only reads them.
            let theta = unsafe { ffi::av_display_rotation_get(sd.data().as_ptr() as *const i32) };
            if theta.is_nan() {
                return 0;
            }
            // FFmpeg's CLI rotates by -theta (counter-clockwise theta), i.e. clockwise -theta.
            let cw = (-theta).rem_euclid(360.0);
            return (((cw / 90.0).round() as u32) % 4) * 90;
        }
    }
    0
}

/// Input the packet scan must read further into the file, past the furthest point reached so
/// far, to count as progress and restart the source's time limit.
const SCAN_PROGRESS_BYTES: u64 = 1 << 20;

/// Packets read that count as progress when the demuxer cannot tell where it is in the file.
const SCAN_PROGRESS_PACKETS: u64 = 256;

/// What counts as progress of the packet scan, for [`TimeLimit::progress`]: a new furthest
/// position (capped at the file's size), at least [`SCAN_PROGRESS_BYTES`] beyond the last one, so
/// a hostile file whose demuxer seeks back and forth (or claims positions past the end) gets at
/// most size / 1 MiB restarts. Where no position is known (no byte context and none on the
/// packets), every [`SCAN_PROGRESS_PACKETS`] packets.
struct ScanProgress {
    /// Furthest position that restarted the clock. Starts at 0, not where the open left off: an
    /// mp4 with its index at the end leaves the open at the end of the file.
    mark: u64,
    /// The file's size, when known.
    size: Option<u64>,
    /// Packets read with no known position since the last restart.
    blind: u64,
}

/// The byte context's position (`avio_tell`), if the demuxer reads through one.
fn io_position(input: &mut ff::format::context::Input) -> Option<u64> {
    // SAFETY: `pb` of an open context we own is null or a valid AVIOContext; a zero `SEEK_CUR`
    // seek is `avio_tell` (an inline function bindgen does not export): it only reads the
    // logical position, without moving it.
    let at = unsafe {
        let pb = (*input.as_mut_ptr()).pb;
        if pb.is_null() {
            return None;
        }
        ffi::avio_seek(pb, 0, libc::SEEK_CUR)
    };
    (at >= 0).then_some(at as u64)
}

/// The size of the file behind the byte context, if known.
fn io_size(input: &mut ff::format::context::Input) -> Option<u64> {
    // SAFETY: as in `io_position`; `avio_size` asks the protocol for the size without moving the
    // logical position.
    let size = unsafe {
        let pb = (*input.as_mut_ptr()).pb;
        if pb.is_null() {
            return None;
        }
        ffi::avio_size(pb)
    };
    (size > 0).then_some(size as u64)
}

impl ScanProgress {
    fn new(input: &mut ff::format::context::Input) -> ScanProgress {
        ScanProgress {
            mark: 0,
            size: io_size(input),
            blind: 0,
        }
    }

    /// After a packet was read (`packet_pos`: its position, -1 if unknown): whether the scan has
    /// advanced far enough to restart the clock.
    fn advanced(&mut self, input: &mut ff::format::context::Input, packet_pos: i64) -> bool {
        let at = io_position(input).or((packet_pos >= 0).then_some(packet_pos as u64));
        match at {
            Some(at) => {
                let at = self.size.map_or(at, |s| at.min(s));
                if at >= self.mark.saturating_add(SCAN_PROGRESS_BYTES) {
                    self.mark = at;
                    return true;
                }
                false
            }
            None => {
                self.blind += 1;
                if self.blind >= SCAN_PROGRESS_PACKETS {
                    self.blind = 0;
                    return true;
                }
                false
            }
        }
    }
}

/// Reads every packet of the video stream (others are discarded by the demuxer) in decode order,
/// under the source's [`TimeLimit`], restarted by [`ScanProgress`].
fn scan_packets(
    input: &mut ff::format::context::Input,
    stream_index: usize,
    interrupts: &Interrupts<'_>,
) -> Result<Vec<PacketEntry>, MediaError> {
    // SAFETY: setting the discard level of other streams on an open context we own.
    unsafe {
        let ctx = &mut *input.as_mut_ptr();
        for i in 0..ctx.nb_streams as usize {
            if i != stream_index {
                (**ctx.streams.add(i)).discard = ffi::AVDiscard::AVDISCARD_ALL;
            }
        }
    }
    let mut packets = Vec::new();
    let mut progress = ScanProgress::new(input);
    while let Some(packet) = next_packet(input, interrupts)? {
        // A read that finished after the deadline took longer than the limit by itself: that is
        // a timeout too, not progress (one huge packet, say).
        if interrupts.limit.expired() {
            return Err(interrupts.timed_out());
        }
        // SAFETY: reading a plain field of the packet we just filled.
        let pos = unsafe { (*packet.as_ptr()).pos };
        if progress.advanced(input, pos) {
            interrupts.limit.progress();
        }
        if packet.stream() != stream_index {
            continue;
        }
        // SAFETY: reading plain fields of the packet we just filled.
        let (pts, dts, duration, flags) = unsafe {
            let p = &*packet.as_ptr();
            (p.pts, p.dts, p.duration, p.flags)
        };
        let pts = if pts != ffi::AV_NOPTS_VALUE {
            pts
        } else if dts != ffi::AV_NOPTS_VALUE {
            dts
        } else {
            continue;
        };
        packets.push(PacketEntry {
            pts,
            dts: (dts != ffi::AV_NOPTS_VALUE).then_some(dts),
            duration,
            key: flags & ffi::AV_PKT_FLAG_KEY != 0,
            discard: flags & ffi::AV_PKT_FLAG_DISCARD != 0,
        });
    }
    Ok(packets)
}

/// Opens and indexes `path` just for its metadata (`framex probe`).
pub fn probe(path: &Path) -> Result<MediaInfo, MediaError> {
    Source::open(path, Arc::new(AtomicBool::new(false))).map(|s| s.info)
}
