//! Decoding exactly the planned frames of one source in one forward sweep.
//!
//! Given the sorted frame numbers a run needs, decode forward from the keyframe before the
//! first; seek again only when the next needed frame's keyframe lies past the last packet sent
//! to the decoder (so no GOP is decoded twice), and stop reading as soon as the last needed
//! frame is out.

use std::time::{Duration, Instant};

use ff::ffi;
use ffmpeg_next as ff;

use super::index::Keyframe;
use super::source::{MediaError, Source};

/// What a sweep did.
#[derive(Clone, Debug, Default)]
pub struct DecodeStats {
    pub frames_decoded: u64,
    pub seeks: u64,
    /// Needed frames the decoder never produced (corrupt data); the nearest decodable frame
    /// was delivered in their place.
    pub substituted: u64,
    /// Wall time spent inside demuxer and decoder calls.
    pub busy: Duration,
    /// Wall time the consumer took to accept frames (queue back-pressure).
    pub waiting: Duration,
}

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

/// Outcome of handing a decoded frame to the consumer.
pub enum Delivery {
    Continue,
    /// The consumer is gone (cancelled or failed): stop decoding.
    Stop,
}

fn open_decoder(src: &Source, threads: usize) -> Result<ff::decoder::Video, MediaError> {
    let stream = src
        .input
        .stream(src.stream_index)
        .ok_or_else(|| MediaError::Invalid("video stream vanished".into()))?;
    let mut ctx = ff::codec::context::Context::from_parameters(stream.parameters())
        .map_err(|e| MediaError::Invalid(format!("unsupported codec parameters: {e}")))?;
    ctx.set_threading(ff::codec::threading::Config {
        kind: ff::codec::threading::Type::Frame,
        count: threads.max(1),
        ..Default::default()
    });
    let mut decoder = ctx.decoder();
    decoder.set_packet_time_base(stream.time_base());
    // FFmpeg's native VP8/VP9 decoders drop the alpha plane; libvpx keeps it.
    let id = decoder.id();
    let by_name = match (id, src.info.alpha) {
        (ff::codec::Id::VP9, true) => ff::decoder::find_by_name("libvpx-vp9"),
        (ff::codec::Id::VP8, true) => ff::decoder::find_by_name("libvpx"),
        _ => None,
    };
    let codec = by_name
        .or_else(|| ff::decoder::find(id))
        .ok_or_else(|| MediaError::Invalid(format!("no decoder for codec {}", src.info.codec)))?;
    decoder
        .open_as(codec)
        .and_then(|d| d.video())
        .map_err(|e| MediaError::Invalid(format!("no decoder for codec {}: {e}", src.info.codec)))
}

fn seek(src: &mut Source, kf: Keyframe) -> Result<(), MediaError> {
    // SAFETY: seeking an open format context we exclusively own, within its own stream.
    let r = unsafe {
        ffi::av_seek_frame(
            src.input.as_mut_ptr(),
            src.stream_index as i32,
            kf.seek_ts,
            ffi::AVSEEK_FLAG_BACKWARD,
        )
    };
    if r >= 0 {
        return Ok(());
    }
    seek_to_start(src)
}

fn seek_to_start(src: &mut Source) -> Result<(), MediaError> {
    // SAFETY: as above; a byte seek to 0 restarts demuxing from the file's beginning.
    let r = unsafe {
        ffi::av_seek_frame(
            src.input.as_mut_ptr(),
            src.stream_index as i32,
            0,
            ffi::AVSEEK_FLAG_BYTE,
        )
    };
    if r >= 0 {
        Ok(())
    } else {
        Err(MediaError::Decode("cannot seek in the source".into()))
    }
}

/// A decoded picture: identify it in the index and hand out the needed frames up to it; it
/// becomes the held `last` picture. `false` when the consumer stopped.
fn on_picture(
    frame: &ff::frame::Video,
    index: &crate::media::FrameIndex,
    last: &mut Option<(usize, ff::frame::Video)>,
    needed: &[usize],
    next: &mut usize,
    stats: &mut DecodeStats,
    deliver: &mut impl FnMut(usize, &ff::frame::Video) -> Delivery,
) -> bool {
    stats.frames_decoded += 1;
    let idx = frame
        .timestamp()
        .and_then(|t| index.frame_for_pts(t))
        .unwrap_or_else(|| last.as_ref().map_or(0, |l| l.0 + 1));
    let go_on = hand_out(idx, frame, last.as_ref(), needed, next, stats, deliver);
    *last = Some((idx, share(frame)));
    go_on
}

/// Hands out every needed frame up to decoded frame `idx`. A needed frame the decoder never
/// produced (corrupt data) shows what a player would: the previous decodable frame, held; only
/// when there is none (start of the sweep) the next one.
fn hand_out(
    idx: usize,
    f: &ff::frame::Video,
    prev: Option<&(usize, ff::frame::Video)>,
    needed: &[usize],
    next: &mut usize,
    stats: &mut DecodeStats,
    deliver: &mut impl FnMut(usize, &ff::frame::Video) -> Delivery,
) -> bool {
    while *next < needed.len() && needed[*next] <= idx {
        let mut picture = f;
        if needed[*next] < idx {
            stats.substituted += 1;
            if let Some((_, held)) = prev.filter(|p| p.0 < needed[*next]) {
                picture = held;
            }
        }
        let w = Instant::now();
        let d = deliver(needed[*next], picture);
        stats.waiting += w.elapsed();
        if let Delivery::Stop = d {
            return false;
        }
        *next += 1;
    }
    true
}

/// Decodes the frames `needed` (sorted, unique frame numbers of `src.index`) and hands each
/// to `deliver` in order. `threads` is the decoder's own thread count. The statistics are
/// returned whether or not the sweep succeeded.
pub fn decode_frames(
    src: &mut Source,
    needed: &[usize],
    threads: usize,
    deliver: impl FnMut(usize, &ff::frame::Video) -> Delivery,
) -> (DecodeStats, Result<(), MediaError>) {
    let t0 = Instant::now();
    let mut stats = DecodeStats::default();
    let r = sweep(src, needed, threads, &mut stats, deliver);
    stats.busy = t0.elapsed().saturating_sub(stats.waiting);
    (stats, r)
}

fn sweep(
    src: &mut Source,
    needed: &[usize],
    threads: usize,
    stats: &mut DecodeStats,
    mut deliver: impl FnMut(usize, &ff::frame::Video) -> Delivery,
) -> Result<(), MediaError> {
    if needed.is_empty() {
        return Ok(());
    }
    let mut decoder = open_decoder(src, threads)?;
    let mut frame = ff::frame::Video::empty();
    let mut last: Option<(usize, ff::frame::Video)> = None;
    let mut next = 0usize;
    let mut last_sent: i64 = -1; // decode position of the last packet sent
    let mut skip_below: u32 = 0; // after a seek: packets before the target keyframe are skipped
    let mut positioned = false;
    let mut landed_check = false;
    let mut fell_back = false;
    let mut packet = ff::Packet::empty();

    'sweep: while next < needed.len() {
        if src.is_cancelled() {
            return Err(MediaError::Cancelled);
        }
        if let Some(kf) = src.index.keyframe_for(needed[next]) {
            if !positioned || (kf.pos as i64) > last_sent + 1 {
                seek(src, kf)?;
                decoder.flush();
                last = None;
                if kf.pos > 0 {
                    stats.seeks += 1;
                }
                last_sent = kf.pos as i64 - 1;
                skip_below = kf.pos;
                positioned = true;
                landed_check = true;
            }
        } else if !positioned {
            seek_to_start(src)?;
            positioned = true;
        }
        match packet.read(&mut src.input) {
            Ok(()) => {}
            Err(ff::Error::Eof) => break 'sweep,
            Err(ff::Error::Other { errno }) if errno == libc::EAGAIN => continue,
            Err(_) if src.is_cancelled() => return Err(MediaError::Cancelled),
            Err(_) => break 'sweep, // unreadable tail: decode what we have
        }
        if packet.stream() != src.stream_index {
            continue;
        }
        let pts = packet.pts().or(packet.dts());
        let pos = pts
            .and_then(|p| src.index.packet_pos(p))
            .map(|p| p as i64)
            .unwrap_or(last_sent + 1);
        if landed_check {
            landed_check = false;
            if pos > skip_below as i64 && !fell_back {
                // The demuxer landed past the keyframe we need: restart from the beginning.
                fell_back = true;
                seek_to_start(src)?;
                decoder.flush();
                continue;
            }
        }
        if pos < skip_below as i64 {
            continue;
        }
        last_sent = last_sent.max(pos);
        match decoder.send_packet(&packet) {
            Ok(()) => {}
            Err(ff::Error::Other { errno }) if errno == libc::EAGAIN => {}
            Err(_) => continue, // corrupt packet: skip it as ffmpeg's CLI does
        }
        while decoder.receive_frame(&mut frame).is_ok() {
            if !on_picture(&frame, &src.index, &mut last, needed, &mut next, stats, &mut deliver) {
                break 'sweep;
            }
        }
    }
    if next < needed.len() {
        // End of stream: drain the decoder.
        let _ = decoder.send_eof();
        while decoder.receive_frame(&mut frame).is_ok() {
            if !on_picture(&frame, &src.index, &mut last, needed, &mut next, stats, &mut deliver) {
                break;
            }
        }
    }
    if src.is_cancelled() {
        return Err(MediaError::Cancelled);
    }
    if next < needed.len() {
        // Frames the index promised but the decoder never produced (truncated or corrupt
        // data): hold the last decodable frame, as a player would.
        match last {
            Some((_, f)) => {
                let _ = hand_out(usize::MAX, &f, None, needed, &mut next, stats, &mut deliver);
            }
            None => return Err(MediaError::Decode("no frame of the video could be decoded".into())),
        }
    }
    Ok(())
}
