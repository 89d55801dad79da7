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
use super::limit::TimeLimit;
use super::source::{decode_timeout, MediaError, Source};

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
    // SAFETY: setting a plain field of the codec context we own, before it is opened.
    unsafe { (*ctx.as_mut_ptr()).max_pixels = MAX_PIXELS };
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

/// The largest picture (in pixels) a decoder may allocate: the 16384×16384 that
/// [`Source::open`] accepts for the stream. A corrupt bitstream claiming more fails that packet
/// instead of allocating gigabytes and spending unbounded time in one decoder call.
const MAX_PIXELS: i64 = 16384 * 16384;

fn seek(src: &mut Source, kf: Keyframe) -> Result<(), MediaError> {
    seek_input(&mut src.input, src.stream_index, kf)
}

fn seek_to_start(src: &mut Source) -> Result<(), MediaError> {
    input_to_start(&mut src.input, src.stream_index)
}

fn seek_input(input: &mut ff::format::context::Input, stream: usize, kf: Keyframe) -> Result<(), MediaError> {
    // SAFETY: seeking an open format context we exclusively own, within its own stream.
    let r = unsafe { ffi::av_seek_frame(input.as_mut_ptr(), stream as i32, kf.seek_ts, ffi::AVSEEK_FLAG_BACKWARD) };
    if r >= 0 {
        return Ok(());
    }
    input_to_start(input, stream)
}

fn input_to_start(input: &mut ff::format::context::Input, stream: usize) -> Result<(), MediaError> {
    // SAFETY: as above; a byte seek to 0 restarts demuxing from the file's beginning.
    let r = unsafe { ffi::av_seek_frame(input.as_mut_ptr(), stream as i32, 0, ffi::AVSEEK_FLAG_BYTE) };
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
/// returned whether or not the sweep succeeded. The source's time limit clock resumes here.
pub fn decode_frames(
    src: &mut Source,
    needed: &[usize],
    threads: usize,
    mut deliver: impl FnMut(usize, &ff::frame::Video) -> Delivery,
) -> (DecodeStats, Result<(), MediaError>) {
    let t0 = Instant::now();
    src.resume_clock();
    let mut stats = DecodeStats::default();
    let limit = src.limit.clone();
    let deliver = move |f: usize, v: &ff::frame::Video| {
        let d = deliver(f, v);
        limit.progress();
        d
    };
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
        if src.time_limit_hit() {
            return Err(src.decode_timeout());
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
            Err(_) if src.time_limit_hit() => return Err(src.decode_timeout()),
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
    if next < needed.len() && src.time_limit_hit() {
        return Err(src.decode_timeout());
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

/// Work for one GOP: the needed frames in it (a range of `needed`) and the last packet (decode
/// position) any of them needs.
struct GopUnit {
    keyframe: Keyframe,
    frames: std::ops::Range<usize>,
    last_pos: u32,
}

enum GopMsg {
    /// The packets that follow belong to the GOP with these needed frames.
    Begin(std::ops::Range<usize>),
    Packet(ff::Packet),
    /// The GOP's packets are all sent: drain, hand out the rest, reset for the next GOP.
    End,
}

/// Whether [`decode_frames_parallel`] applies: closed GOPs and at least two GOPs to share.
pub fn parallel_gops(src: &Source, needed: &[usize]) -> bool {
    let mut gops = needed.iter().filter_map(|&f| src.index.gop_of(f));
    let first = gops.next();
    gops.any(|g| Some(g) != first) && src.index.gops_are_closed()
}

/// Like [`decode_frames`], but GOPs go round-robin to `decoders` single-threaded decoders fed
/// by one demuxer, so decoding spreads over the cores without frame threading's overhead. Only
/// for sources whose GOPs are closed ([`parallel_gops`]). `deliver` is called from the decoder
/// threads, once per needed frame, in no particular order across GOPs.
pub fn decode_frames_parallel(
    src: &mut Source,
    needed: &[usize],
    decoders: usize,
    deliver: &(impl Fn(usize, &ff::frame::Video) -> Delivery + Sync),
) -> (DecodeStats, Result<(), MediaError>) {
    let t0 = Instant::now();
    src.resume_clock();
    let mut units: Vec<GopUnit> = Vec::new();
    for (n, &f) in needed.iter().enumerate() {
        let Some(g) = src.index.gop_of(f) else { continue };
        let (kf, pos) = (src.index.gop_keyframe(g), src.index.decode_pos(f));
        match units.last_mut() {
            Some(u) if u.keyframe.pos == kf.pos => {
                u.frames.end = n + 1;
                u.last_pos = u.last_pos.max(pos);
            }
            _ => units.push(GopUnit {
                keyframe: kf,
                frames: n..n + 1,
                last_pos: pos,
            }),
        }
    }
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut decs = Vec::new();
    for _ in 0..decoders.max(1) {
        match open_decoder(src, 1) {
            Ok(d) => decs.push(d),
            Err(e) => return (DecodeStats::default(), Err(e)),
        }
    }
    let mut stats = DecodeStats::default();
    let capacity = units
        .iter()
        .map(|u| (u.last_pos - u.keyframe.pos) as usize + 3)
        .max()
        .unwrap_or(64);
    let Source {
        input,
        stream_index,
        index,
        cancel,
        limit,
        ..
    } = src;
    let limit: &TimeLimit = limit;
    let index: &crate::media::FrameIndex = index;
    let (demux_result, worker_results) = std::thread::scope(|scope| {
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        for mut decoder in decs {
            // A whole GOP must fit: the demuxer reads in file order, so it can only reach the
            // next decoder's GOP after queueing the rest of this one. Bounded by GOP length.
            let (tx, rx) = crossbeam_channel::bounded::<GopMsg>(capacity);
            senders.push(tx);
            let stop = &stop;
            handles.push(scope.spawn(move || -> (DecodeStats, Result<(), MediaError>) {
                let mut st = DecodeStats::default();
                let mut frame = ff::frame::Video::empty();
                let mut last: Option<(usize, ff::frame::Video)> = None;
                let mut unit = 0..0;
                let mut next = 0usize;
                let mut deliver = |f: usize, v: &ff::frame::Video| {
                    let d = deliver(f, v);
                    limit.progress();
                    d
                };
                let mut failed = None;
                for msg in rx {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        continue; // drain so the demuxer never blocks
                    }
                    if limit.expired() {
                        failed = Some(decode_timeout(limit));
                        stop.store(true, std::sync::atomic::Ordering::Relaxed);
                        continue;
                    }
                    let mut go_on = true;
                    let (ready, ended) = match msg {
                        GopMsg::Begin(r) => {
                            next = r.start;
                            unit = r;
                            last = None;
                            (false, false)
                        }
                        GopMsg::Packet(p) => (decoder.send_packet(&p).is_ok(), false),
                        GopMsg::End => (decoder.send_eof().is_ok(), true),
                    };
                    if ready {
                        let needed = &needed[..unit.end];
                        while go_on && decoder.receive_frame(&mut frame).is_ok() {
                            go_on = on_picture(&frame, index, &mut last, needed, &mut next, &mut st, &mut deliver);
                        }
                    }
                    if ended {
                        if go_on && next < unit.end {
                            match last.take() {
                                Some((_, f)) => {
                                    go_on = hand_out(
                                        usize::MAX,
                                        &f,
                                        None,
                                        &needed[..unit.end],
                                        &mut next,
                                        &mut st,
                                        &mut deliver,
                                    )
                                }
                                None => {
                                    failed = Some(MediaError::Decode("a group of pictures could not be decoded".into()))
                                }
                            }
                        }
                        decoder.flush();
                    }
                    if !go_on || failed.is_some() {
                        stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                (st, failed.map_or(Ok(()), Err))
            }));
        }
        let demux = demux_units(
            input,
            *stream_index,
            index,
            (cancel, limit),
            &units,
            &senders,
            &stop,
            &mut stats,
        );
        drop(senders);
        let results: Vec<_> = handles.into_iter().map(|h| h.join().expect("decoder thread")).collect();
        (demux, results)
    });
    let mut result = demux_result;
    for (st, r) in worker_results {
        stats.frames_decoded += st.frames_decoded;
        stats.substituted += st.substituted;
        stats.waiting += st.waiting;
        if result.is_ok() {
            result = r;
        }
    }
    if result.is_ok() && cancel.load(std::sync::atomic::Ordering::Relaxed) {
        result = Err(MediaError::Cancelled);
    }
    stats.busy = t0.elapsed();
    (stats, result)
}

/// The demuxer side of [`decode_frames_parallel`]: reads each unit's packets once, from its
/// keyframe to its last needed packet, seeking only between units, and routes them.
#[allow(clippy::too_many_arguments)]
fn demux_units(
    input: &mut ff::format::context::Input,
    stream_index: usize,
    index: &crate::media::FrameIndex,
    (cancel, limit): (&std::sync::atomic::AtomicBool, &TimeLimit),
    units: &[GopUnit],
    senders: &[crossbeam_channel::Sender<GopMsg>],
    stop: &std::sync::atomic::AtomicBool,
    stats: &mut DecodeStats,
) -> Result<(), MediaError> {
    let cancelled = || cancel.load(std::sync::atomic::Ordering::Relaxed);
    let Some(first) = units.first() else { return Ok(()) };
    let send = |u: usize, m: GopMsg| senders[u % senders.len()].send(m).is_ok();
    let mut u = 0usize;
    seek_input(input, stream_index, first.keyframe)?;
    if first.keyframe.pos > 0 {
        stats.seeks += 1;
    }
    send(0, GopMsg::Begin(first.frames.clone()));
    let mut landed_check = true;
    let mut fell_back = false;
    let mut last_pos: i64 = first.keyframe.pos as i64 - 1;
    'read: loop {
        if cancelled() {
            return Err(MediaError::Cancelled);
        }
        if limit.expired() {
            return Err(decode_timeout(limit));
        }
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        let mut packet = ff::Packet::empty();
        match packet.read(input) {
            Ok(()) => {}
            Err(ff::Error::Eof) => break,
            Err(ff::Error::Other { errno }) if errno == libc::EAGAIN => continue,
            Err(_) if cancelled() => return Err(MediaError::Cancelled),
            Err(_) if limit.expired() => return Err(decode_timeout(limit)),
            Err(_) => break, // unreadable tail: decode what we have
        }
        if packet.stream() != stream_index {
            continue;
        }
        let pos = packet
            .pts()
            .or(packet.dts())
            .and_then(|p| index.packet_pos(p))
            .map(|p| p as i64)
            .unwrap_or(last_pos + 1);
        if landed_check {
            landed_check = false;
            if pos > units[u].keyframe.pos as i64 && !fell_back {
                // The demuxer landed past the keyframe we need: restart from the beginning.
                fell_back = true;
                input_to_start(input, stream_index)?;
                continue;
            }
        }
        last_pos = pos;
        while pos > units[u].last_pos as i64 {
            send(u, GopMsg::End);
            u += 1;
            let Some(unit) = units.get(u) else { break 'read };
            send(u, GopMsg::Begin(unit.frames.clone()));
            if unit.keyframe.pos as i64 > pos + 1 {
                seek_input(input, stream_index, unit.keyframe)?;
                stats.seeks += 1;
                landed_check = true;
                continue 'read;
            }
        }
        if pos < units[u].keyframe.pos as i64 {
            continue;
        }
        if !send(u, GopMsg::Packet(packet)) {
            break;
        }
    }
    if u < units.len() {
        send(u, GopMsg::End);
        // Units the file ended before: nothing to decode them from.
        for (k, unit) in units.iter().enumerate().skip(u + 1) {
            send(k, GopMsg::Begin(unit.frames.clone()));
            send(k, GopMsg::End);
        }
    }
    Ok(())
}
