//! Decoding exactly the planned frames of one source in one forward sweep.
//!
//! Given the sorted frame numbers a run needs, decode forward from the keyframe before the
//! first; seek again only when the next needed frame's keyframe lies past the last packet sent
//! to the decoder (so no GOP is decoded twice), and stop reading as soon as the last needed
//! frame is out.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ff::ffi;
use ffmpeg_next as ff;

use super::index::{FrameIndex, Keyframe};
use super::limit::TimeLimit;
use super::picture::share;
use super::source::{next_packet, Decoding, Interrupts, MediaError, MediaPhase, Source};

/// What a sweep did.
#[derive(Clone, Debug, Default)]
pub struct DecodeStats {
    pub frames_decoded: u64,
    /// Decoded pictures that are no needed frame: decoded only to reach one (the keyframe
    /// lead-in of a trim, frames between needed ones, reordered frames past the last).
    pub lead_in: u64,
    pub seeks: u64,
    /// Needed frames the decoder never produced (corrupt data); the nearest decodable frame
    /// was delivered in their place.
    pub substituted: u64,
    /// Wall time spent inside demuxer and decoder calls.
    pub busy: Duration,
    /// Wall time the consumer took to accept frames (queue back-pressure).
    pub waiting: Duration,
}

/// Outcome of handing a decoded frame to the consumer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// Hands decoded pictures out as the needed frames they show, in order, holding the latest one
/// for frames the decoder never produced.
struct Handout<'a, F> {
    /// Sorted, unique frame numbers; those at `next..end` are still to be handed out.
    needed: &'a [usize],
    next: usize,
    end: usize,
    /// The latest decoded picture and the frame it is.
    last: Option<(usize, ff::frame::Video)>,
    stats: &'a mut DecodeStats,
    deliver: F,
}

impl<'a, F: FnMut(usize, &ff::frame::Video) -> Delivery> Handout<'a, F> {
    /// Hands out `needed[frames]`.
    fn new(needed: &'a [usize], frames: Range<usize>, stats: &'a mut DecodeStats, deliver: F) -> Self {
        Handout {
            needed,
            next: frames.start,
            end: frames.end,
            last: None,
            stats,
            deliver,
        }
    }

    /// Starts over on `needed[frames]` (the next GOP), holding nothing.
    fn begin(&mut self, frames: Range<usize>) {
        self.next = frames.start;
        self.end = frames.end;
        self.last = None;
    }

    fn done(&self) -> bool {
        self.next >= self.end
    }

    /// The next frame to hand out; only while not [`Handout::done`].
    fn wanted(&self) -> usize {
        self.needed[self.next]
    }

    /// After a seek the held picture no longer precedes what is decoded next.
    fn forget(&mut self) {
        self.last = None;
    }

    /// A decoded picture: identify it in the index and hand out the needed frames up to it; it
    /// becomes the held picture.
    fn on_picture(&mut self, frame: &ff::frame::Video, index: &FrameIndex) -> Delivery {
        self.stats.frames_decoded += 1;
        let idx = frame
            .timestamp()
            .and_then(|t| index.frame_for_pts(t))
            .unwrap_or_else(|| self.last.as_ref().map_or(0, |l| l.0 + 1));
        if self.needed.binary_search(&idx).is_err() {
            self.stats.lead_in += 1;
        }
        let prev = self.last.take();
        let d = self.hand_out(idx, frame, prev.as_ref());
        self.last = Some((idx, share(frame)));
        d
    }

    /// Frames the index promised but the decoder never produced (truncated or corrupt data):
    /// every one left shows the held picture, as a player would. `None` when nothing was decoded.
    fn hold_last(&mut self) -> Option<Delivery> {
        let (_, held) = self.last.take()?;
        Some(self.hand_out(usize::MAX, &held, None))
    }

    /// Hands out every needed frame up to decoded frame `idx`. A needed frame the decoder never
    /// produced (corrupt data) shows what a player would: the previous decodable frame `prev`,
    /// held; only when there is none (start of the sweep) the next one.
    fn hand_out(&mut self, idx: usize, f: &ff::frame::Video, prev: Option<&(usize, ff::frame::Video)>) -> Delivery {
        while self.next < self.end && self.needed[self.next] <= idx {
            let wanted = self.needed[self.next];
            let mut picture = f;
            if wanted < idx {
                self.stats.substituted += 1;
                if let Some((_, held)) = prev.filter(|p| p.0 < wanted) {
                    picture = held;
                }
            }
            let w = Instant::now();
            let d = (self.deliver)(wanted, picture);
            self.stats.waiting += w.elapsed();
            if d == Delivery::Stop {
                return Delivery::Stop;
            }
            self.next += 1;
        }
        Delivery::Continue
    }
}

/// Where the sequential sweep's demuxer stands.
#[derive(Clone, Copy)]
enum Position {
    /// Nothing read yet: the first needed frame's keyframe decides where to start.
    Unpositioned,
    At {
        /// Decode position of the last packet sent to the decoder (-1: none yet).
        last_sent: i64,
        /// Packets before this decode position (the keyframe sought) are read past, not sent.
        skip_below: u32,
    },
}

impl Position {
    /// Just after a seek to `kf`.
    fn at(kf: Keyframe) -> Position {
        Position::At {
            last_sent: kf.pos as i64 - 1,
            skip_below: kf.pos,
        }
    }

    /// Reading from the start of the file, sending everything.
    const START: Position = Position::At {
        last_sent: -1,
        skip_below: 0,
    };

    /// Whether reaching `kf` takes a seek: before the first read, or when `kf` lies past the next
    /// packet to be sent (reading on is never slower than seeking back, and no GOP is decoded
    /// twice).
    fn must_seek(self, kf: Keyframe) -> bool {
        match self {
            Position::Unpositioned => true,
            Position::At { last_sent, .. } => kf.pos as i64 > last_sent + 1,
        }
    }

    /// The decode position assumed for a packet that does not say (see [`packet_pos`]).
    fn next_pos(self) -> i64 {
        match self {
            Position::Unpositioned => 0,
            Position::At { last_sent, .. } => last_sent + 1,
        }
    }

    /// Whether the packet at decode position `pos` is read past (before the keyframe sought).
    fn skips(self, pos: i64) -> bool {
        matches!(self, Position::At { skip_below, .. } if pos < skip_below as i64)
    }

    /// The packet at decode position `pos` went to the decoder.
    fn sent(&mut self, pos: i64) {
        if let Position::At { last_sent, .. } = self {
            *last_sent = (*last_sent).max(pos);
        }
    }
}

/// The rule for a seek that landed late, shared by the sweep and the GOP demuxer: some demuxers
/// land on a keyframe after the one asked for, and decoding from there would miss frames. The
/// first packet read after a seek shows it; then reading restarts from the beginning of the
/// file, at most once per read, so a file whose packets disagree with its index cannot loop.
#[derive(Default)]
struct Landing {
    /// Decode position of the keyframe sought, until the first packet after the seek is read.
    expected: Option<u32>,
    fell_back: bool,
}

impl Landing {
    /// A seek to the keyframe at decode position `keyframe` was made.
    fn expect(&mut self, keyframe: u32) {
        self.expected = Some(keyframe);
    }

    /// The first packet after a seek is at decode position `pos` (later packets are not checked):
    /// whether the demuxer landed past the keyframe and the caller must restart from the beginning.
    fn landed_past(&mut self, pos: i64) -> bool {
        let Some(keyframe) = self.expected.take() else {
            return false;
        };
        if pos > keyframe as i64 && !self.fell_back {
            self.fell_back = true;
            return true;
        }
        false
    }
}

/// A packet's decode position, found by its timestamp; `None` when it has none the index knows.
fn packet_pos(packet: &ff::Packet, index: &FrameIndex) -> Option<i64> {
    packet
        .pts()
        .or(packet.dts())
        .and_then(|p| index.packet_pos(p))
        .map(i64::from)
}

/// Decodes the frames `needed` (sorted, unique frame numbers of `src.index`) and hands each
/// to `deliver` in order. `threads` is the decoder's own thread count. The statistics are
/// returned whether or not the sweep succeeded. The source's [`TimeLimit`] clock resumes here.
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
    deliver: impl FnMut(usize, &ff::frame::Video) -> Delivery,
) -> Result<(), MediaError> {
    if needed.is_empty() {
        return Ok(());
    }
    let mut decoder = open_decoder(src, threads)?;
    let Decoding {
        input,
        stream_index,
        index,
        interrupts,
    } = src.decoding(None);
    let mut frame = ff::frame::Video::empty();
    let mut handout = Handout::new(needed, 0..needed.len(), stats, deliver);
    let mut position = Position::Unpositioned;
    let mut landing = Landing::default();

    'sweep: while !handout.done() {
        // Also checked before positioning, not only before reading: a stopped sweep does not seek.
        interrupts.check()?;
        match index.keyframe_for(handout.wanted()) {
            Some(kf) if position.must_seek(kf) => {
                seek_input(input, stream_index, kf)?;
                decoder.flush();
                handout.forget();
                if kf.pos > 0 {
                    handout.stats.seeks += 1;
                }
                position = Position::at(kf);
                landing.expect(kf.pos);
            }
            None if matches!(position, Position::Unpositioned) => {
                input_to_start(input, stream_index)?;
                position = Position::START;
            }
            _ => {}
        }
        let Some(packet) = next_packet(input, &interrupts)? else {
            break 'sweep;
        };
        if packet.stream() != stream_index {
            continue;
        }
        let pos = packet_pos(&packet, index).unwrap_or(position.next_pos());
        if landing.landed_past(pos) {
            input_to_start(input, stream_index)?;
            decoder.flush();
            continue;
        }
        if position.skips(pos) {
            continue;
        }
        position.sent(pos);
        match decoder.send_packet(&packet) {
            Ok(()) => {}
            Err(ff::Error::Other { errno }) if errno == libc::EAGAIN => {}
            Err(_) => continue, // corrupt packet: skip it as ffmpeg's CLI does
        }
        while decoder.receive_frame(&mut frame).is_ok() {
            if handout.on_picture(&frame, index) == Delivery::Stop {
                break 'sweep;
            }
        }
    }
    if !handout.done() {
        // End of stream: drain the decoder.
        let _ = decoder.send_eof();
        while decoder.receive_frame(&mut frame).is_ok() {
            if handout.on_picture(&frame, index) == Delivery::Stop {
                break;
            }
        }
    }
    if interrupts.cancelled() {
        return Err(MediaError::Cancelled);
    }
    if !handout.done() && interrupts.limit.expired() {
        return Err(interrupts.timed_out());
    }
    if !handout.done() && handout.hold_last().is_none() {
        return Err(MediaError::Decode("no frame of the video could be decoded".into()));
    }
    Ok(())
}

/// Work for one GOP: the needed frames in it (a range of `needed`) and the last packet (decode
/// position) any of them needs.
struct GopUnit {
    keyframe: Keyframe,
    frames: Range<usize>,
    last_pos: u32,
}

enum GopMsg {
    /// The packets that follow belong to the GOP with these needed frames.
    Begin(Range<usize>),
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

/// Packets one forward sweep decodes to reach every needed frame (sorted): from the keyframe
/// before the first to the last, lead-in included. An upper bound: the sweep may seek over a
/// long stretch of unneeded GOPs.
pub fn sweep_span(src: &Source, needed: &[usize]) -> usize {
    let Some(&first) = needed.first() else {
        return 0;
    };
    let start = src.index.keyframe_for(first).map_or(0, |k| k.pos);
    let end = needed.iter().map(|&f| src.index.decode_pos(f)).max().unwrap_or(0);
    end.saturating_sub(start) as usize + 1
}

/// Units of decode work for a source whose GOPs are closed ([`parallel_gops`]'s condition): the
/// needed frames (sorted) split by GOP, each as the range of `needed` it covers and the packets
/// decoding it takes (keyframe to its last needed packet, lead-in included). Each unit decodes
/// on its own from its keyframe, so units can go to different decoders in any order. Without
/// closed GOPs (or with one GOP) the whole list is one unit, costed as one sweep.
pub fn gop_spans(src: &Source, needed: &[usize]) -> Vec<(Range<usize>, usize)> {
    if needed.is_empty() {
        return Vec::new();
    }
    let units = gop_units(&src.index, needed);
    if !src.index.gops_are_closed() || units.len() < 2 {
        return vec![(0..needed.len(), sweep_span(src, needed))];
    }
    // With closed GOPs every frame has one, so the units cover `needed` whole.
    units
        .iter()
        .map(|u| (u.frames.clone(), (u.last_pos - u.keyframe.pos) as usize + 1))
        .collect()
}

/// The needed frames (sorted) grouped into runs that share a GOP, in order. Frames before the
/// first keyframe belong to no GOP and are left out.
fn gop_units(index: &FrameIndex, needed: &[usize]) -> Vec<GopUnit> {
    let mut units: Vec<GopUnit> = Vec::new();
    for (n, &f) in needed.iter().enumerate() {
        let Some(g) = index.gop_of(f) else { continue };
        let (kf, pos) = (index.gop_keyframe(g), index.decode_pos(f));
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
    units
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
    let units = gop_units(&src.index, needed);
    let stop = AtomicBool::new(false);
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
    let Decoding {
        input,
        stream_index,
        index,
        interrupts,
    } = src.decoding(Some(&stop));
    let limit: &TimeLimit = interrupts.limit;
    let (demux_result, worker_results) = std::thread::scope(|scope| {
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        for decoder in decs {
            // A whole GOP must fit: the demuxer reads in file order, so it can only reach the
            // next decoder's GOP after queueing the rest of this one. Bounded by GOP length.
            let (tx, rx) = crossbeam_channel::bounded::<GopMsg>(capacity);
            senders.push(tx);
            let stop = &stop;
            handles.push(scope.spawn(move || gop_decoder(rx, decoder, needed, index, limit, stop, deliver)));
        }
        let demux = demux_units(input, stream_index, index, &interrupts, &units, &senders, &mut stats);
        drop(senders);
        let results: Vec<_> = handles.into_iter().map(|h| h.join().expect("decoder thread")).collect();
        (demux, results)
    });
    let mut result = demux_result;
    for (st, r) in worker_results {
        stats.frames_decoded += st.frames_decoded;
        stats.lead_in += st.lead_in;
        stats.substituted += st.substituted;
        stats.waiting += st.waiting;
        if result.is_ok() {
            result = r;
        }
    }
    if result.is_ok() && interrupts.cancelled() {
        result = Err(MediaError::Cancelled);
    }
    stats.busy = t0.elapsed();
    (stats, result)
}

/// One decoder thread of [`decode_frames_parallel`]: decodes the GOPs `rx` brings and hands out
/// their needed frames. It keeps draining `rx` after a failure (so the demuxer never blocks) and
/// sets `stop` when it fails or its consumer stops, which ends the demuxer and the other decoders.
fn gop_decoder(
    rx: crossbeam_channel::Receiver<GopMsg>,
    mut decoder: ff::decoder::Video,
    needed: &[usize],
    index: &FrameIndex,
    limit: &TimeLimit,
    stop: &AtomicBool,
    deliver: &impl Fn(usize, &ff::frame::Video) -> Delivery,
) -> (DecodeStats, Result<(), MediaError>) {
    let mut stats = DecodeStats::default();
    let mut frame = ff::frame::Video::empty();
    let mut failed = None;
    let deliver = |f: usize, v: &ff::frame::Video| {
        let d = deliver(f, v);
        limit.progress();
        d
    };
    let mut handout = Handout::new(needed, 0..0, &mut stats, deliver);
    for msg in rx {
        if stop.load(Ordering::Relaxed) {
            continue; // drain so the demuxer never blocks
        }
        if limit.expired() {
            failed = Some(limit.timed_out(MediaPhase::Decode));
            stop.store(true, Ordering::Relaxed);
            continue;
        }
        let mut go_on = true;
        let (ready, ended) = match msg {
            GopMsg::Begin(r) => {
                handout.begin(r);
                (false, false)
            }
            GopMsg::Packet(p) => (decoder.send_packet(&p).is_ok(), false),
            GopMsg::End => (decoder.send_eof().is_ok(), true),
        };
        if ready {
            while go_on && decoder.receive_frame(&mut frame).is_ok() {
                go_on = handout.on_picture(&frame, index) == Delivery::Continue;
            }
        }
        if ended {
            if go_on && !handout.done() {
                match handout.hold_last() {
                    Some(d) => go_on = d == Delivery::Continue,
                    None => failed = Some(MediaError::Decode("a group of pictures could not be decoded".into())),
                }
            }
            decoder.flush();
        }
        if !go_on || failed.is_some() {
            stop.store(true, Ordering::Relaxed);
        }
    }
    (stats, failed.map_or(Ok(()), Err))
}

/// The demuxer side of [`decode_frames_parallel`]: reads each unit's packets once, from its
/// keyframe to its last needed packet, seeking only between units, and routes them.
fn demux_units(
    input: &mut ff::format::context::Input,
    stream_index: usize,
    index: &FrameIndex,
    interrupts: &Interrupts<'_>,
    units: &[GopUnit],
    senders: &[crossbeam_channel::Sender<GopMsg>],
    stats: &mut DecodeStats,
) -> Result<(), MediaError> {
    let Some(first) = units.first() else { return Ok(()) };
    let send = |u: usize, m: GopMsg| senders[u % senders.len()].send(m).is_ok();
    let mut u = 0usize;
    seek_input(input, stream_index, first.keyframe)?;
    if first.keyframe.pos > 0 {
        stats.seeks += 1;
    }
    send(0, GopMsg::Begin(first.frames.clone()));
    let mut landing = Landing::default();
    landing.expect(first.keyframe.pos);
    // Decode position of the last packet read (unlike the sweep's, of any packet of the stream).
    let mut last_pos: i64 = first.keyframe.pos as i64 - 1;
    'read: while let Some(packet) = next_packet(input, interrupts)? {
        if packet.stream() != stream_index {
            continue;
        }
        let pos = packet_pos(&packet, index).unwrap_or(last_pos + 1);
        if landing.landed_past(pos) {
            input_to_start(input, stream_index)?;
            continue;
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
                landing.expect(unit.keyframe.pos);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::index::PacketEntry;
    use crate::time::Rational;

    /// Packets in decode order with these pts (ticks of 1/1000 s, 100 a frame) and keyframe flags.
    fn index(packets: &[(i64, bool)]) -> FrameIndex {
        let packets: Vec<PacketEntry> = packets
            .iter()
            .map(|&(pts, key)| PacketEntry {
                pts,
                dts: None,
                duration: 100,
                key,
                discard: false,
            })
            .collect();
        FrameIndex::build(&packets, Rational::new(1, 1000), Rational::ZERO, None)
    }

    /// Each unit as (keyframe decode position, range of `needed`, last decode position).
    fn units(index: &FrameIndex, needed: &[usize]) -> Vec<(u32, Range<usize>, u32)> {
        gop_units(index, needed)
            .into_iter()
            .map(|u| (u.keyframe.pos, u.frames, u.last_pos))
            .collect()
    }

    /// `n` frames in presentation = decode order, a keyframe every `key_every`.
    fn in_order(n: i64, key_every: i64) -> Vec<(i64, bool)> {
        (0..n).map(|i| (i * 100, i % key_every == 0)).collect()
    }

    #[test]
    fn needed_frames_group_by_gop_in_order() {
        let idx = index(&in_order(30, 10));
        assert_eq!(
            units(&idx, &[3, 5, 12, 25, 27]),
            vec![(0, 0..2, 5), (10, 2..3, 12), (20, 3..5, 27)]
        );
        assert_eq!(units(&idx, &[0, 9]), vec![(0, 0..2, 9)], "one GOP, one unit");
        assert_eq!(units(&idx, &[10]), vec![(10, 0..1, 10)], "a keyframe alone");
        assert!(units(&idx, &[]).is_empty());
    }

    #[test]
    fn a_unit_reads_up_to_its_latest_packet_in_decode_order() {
        // I0 P3 B1 B2 | I4 P7 B5 B6, in decode order: frame 3's packet comes before frames 1 and 2.
        let pts = [0, 3, 1, 2, 4, 7, 5, 6];
        let idx = index(&pts.map(|p| (p * 100, p % 4 == 0)));
        assert_eq!(
            units(&idx, &[1, 3]),
            vec![(0, 0..2, 2)],
            "frame 1 is decoded after frame 3"
        );
        assert_eq!(units(&idx, &[3, 6]), vec![(0, 0..1, 1), (4, 1..2, 7)]);
    }

    #[test]
    fn frames_before_the_first_keyframe_belong_to_no_unit() {
        let mut packets = in_order(30, 10);
        packets[0].1 = false;
        let idx = index(&packets);
        // Ranges still count positions in `needed`, the left-out frame included.
        assert_eq!(units(&idx, &[2, 15, 16]), vec![(10, 1..3, 16)]);
    }
}
