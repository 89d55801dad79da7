//! Decode threads feeding a bounded queue drained by convert/encode workers.
//!
//! A lone source is decoded by one thread (GOP-parallel inside when it can); several sources
//! are cut into units of decode work — one GOP of a source with closed GOPs, else a source's
//! whole sweep — that `jobs` decode threads take longest first from one queue, so the cores stay
//! busy until the end however the work is spread over the sources. Every decoded picture
//! (reference-counted, not copied) goes into a queue of `2 × jobs` entries; each worker converts
//! it once per pixel layout, encodes once per variant, stores the bytes once and links every
//! output slot to them. Memory is bounded by the queue, not by clip length.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use crossbeam_channel::bounded;
use ffmpeg_next as ff;

use super::output::{link_or_copy, publish, ClipState, Saturated};
use super::plan::{ClipNo, FrameNo, Output, Slot};
use crate::control::{CancelToken, Progress};
use crate::encode::ImageEncoder;
use crate::error::ErrorKind;
use crate::media::colour::{ColourFilters, Transform};
use crate::media::convert::{Converter, Target};
use crate::media::decode::{
    decode_frames, decode_frames_parallel, gop_spans, parallel_gops, sweep_span, DecodeStats, Delivery,
};
use crate::media::picture::share;
use crate::media::source::Reopen;
use crate::media::Source;
use crate::report::Counters;
use crate::store::{digest, FrameDigest, FrameKey, Store};
use crate::trace::Tracer;

/// What one source must produce: the sorted frame numbers to decode and, for each, its outputs.
pub(crate) struct SourcePlan {
    pub source: Source,
    /// The file, for the second readers several decode threads may need.
    pub path: PathBuf,
    /// File name, for progress and traces.
    pub name: String,
    pub needed: Vec<FrameNo>,
    pub outputs: Vec<Vec<Output>>,
    pub clips: Vec<ClipNo>,
}

struct Job {
    frame_no: usize,
    frame: ff::frame::Video,
    rotation: u32,
    outputs: Vec<Output>,
}

/// State every pipeline thread reads.
pub(crate) struct Shared<'a> {
    pub clips: &'a [ClipState],
    pub counters: &'a Counters,
    pub cancel: &'a CancelToken,
    pub progress: Option<&'a dyn Progress>,
    pub store: Option<&'a Store>,
    pub tracer: &'a Tracer,
    /// Where the frames this run stores are noted for the remote tier's upload, with one.
    pub new_frames: Option<&'a Mutex<Vec<(FrameKey, &'static str)>>>,
}

impl Shared<'_> {
    /// Records the content of a stored frame in the record of every clip that `slots` link it
    /// into: once per clip (a held frame's slots are consecutive), not once per slot.
    pub fn note_digest(&self, slots: &[Slot], d: &FrameDigest) {
        let mut last = None;
        for s in slots {
            if last != Some(s.clip) {
                self.clips[s.clip].note_digest(d);
                last = Some(s.clip);
            }
        }
    }

    /// One more frame of clip `c` is on disk; publish the clip when it was the last.
    pub fn done_slot(&self, c: ClipNo) {
        if let Some(p) = self.progress {
            p.wrote(self.clips[c].source, 1);
        }
        if self.clips[c]
            .remaining
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel)
            == 1
        {
            let _span = self.tracer.span("publish", || format!("publish {}", self.clips[c].id));
            publish(&self.clips[c], self.store, self.counters, self.cancel.is_cancelled());
        }
    }

    /// Links every slot to an already-written file, then marks them done. All links come before
    /// any slot is marked: marking a clip's last slot publishes (moves) its folder.
    pub fn fill_slots(&self, from: &std::path::Path, slots: &[Slot]) {
        let mut written = Vec::with_capacity(slots.len());
        let mut saturated = Saturated::default();
        for &Slot { clip: c, k } in slots {
            let path = self.clips[c].frame_path(k);
            if path == from {
                written.push(c);
                continue;
            }
            match link_or_copy(from, &path, &mut saturated, self.counters) {
                Ok(()) => written.push(c),
                Err(e) => self.clips[c].fail_output(&e, format!("cannot write {}: {e}", path.display())),
            }
        }
        for c in written {
            self.done_slot(c);
        }
    }
}

/// Bytes the queue of decoded pictures may hold (pictures are shared, not copied, so this
/// bounds what the decoders cannot reuse while workers are behind).
const QUEUE_BUDGET: usize = 256 << 20;
/// A generous size per pixel of a decoded picture (8-bit 4:2:0 is 1.5, 10-bit 4:4:4 with alpha 8).
const PICTURE_BYTES_PER_PIXEL: usize = 4;

pub(crate) fn run_pipeline(plans: Vec<SourcePlan>, jobs: usize, shared: &Shared<'_>) {
    if plans.is_empty() {
        return;
    }
    let concurrent = plans.len().min(jobs).max(1);
    // Decoding is about half of the work per frame (1080p H.264 → JPEG: ~3.9 ms decode,
    // ~3.2 ms convert + encode): give decoders half the cores as frame threads, the rest and any
    // slack to workers. On 2 cores that is one decoder thread: FFmpeg's frame threading costs
    // more than it gains there (measured: 2.44 s vs 2.50–2.58 s for 600 1080p frames).
    let decoder_threads = (jobs / (2 * concurrent)).max(1);
    // With one source and closed GOPs, GOPs go round-robin to single-threaded decoders instead
    // (one per core): decoding then spreads over the cores at no threading overhead.
    let parallel = if concurrent == 1 { jobs } else { 1 };
    // Frame threads for a lone source that cannot go GOP-parallel: every core, never more.
    let lone_threads = jobs.min(std::thread::available_parallelism().map_or(1, |n| n.get()));
    // Pictures in flight: two per worker, but never more than a fixed memory budget of the
    // largest picture, so many cores and 4K sources cannot multiply into gigabytes.
    let largest = plans
        .iter()
        .map(|p| p.source.info.width as usize * p.source.info.height as usize * PICTURE_BYTES_PER_PIXEL)
        .max()
        .unwrap_or(1)
        .max(1);
    let qcap = (jobs * 2).min((QUEUE_BUDGET / largest).max(2));
    let (tx, rx) = bounded::<Job>(qcap);
    if plans.len() > 1 {
        return run_units(plans, jobs, (tx, rx), shared);
    }
    let queue = Mutex::new(plans);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let rx = rx.clone();
            scope.spawn(move || worker(rx, shared));
        }
        drop(rx);
        for _ in 0..concurrent {
            let tx = tx.clone();
            let queue = &queue;
            scope.spawn(move || loop {
                let Some(plan) = queue.lock().expect("plan queue").pop() else {
                    break;
                };
                decode_source(plan, decoder_threads, lone_threads, parallel, &tx, shared);
            });
        }
        drop(tx);
    });
}

/// Decodes one source's needed frames onto the queue: GOP-parallel when it can (`parallel`
/// decoders), else one sweep with `threads` frame threads, or `lone_threads` when the sweep is
/// mostly lead-in.
fn decode_source(
    mut plan: SourcePlan,
    threads: usize,
    lone_threads: usize,
    parallel: usize,
    tx: &crossbeam_channel::Sender<Job>,
    shared: &Shared<'_>,
) {
    let _span = shared.tracer.span("decode", || {
        format!("decode {} ({} frames)", plan.name, plan.needed.len())
    });
    let rotation = plan.source.info.rotation;
    let needed = std::mem::take(&mut plan.needed);
    let outputs: Vec<Mutex<Vec<Output>>> = std::mem::take(&mut plan.outputs).into_iter().map(Mutex::new).collect();
    let deliver =
        |frame_no: usize, frame: &ff::frame::Video| hand_on(&needed, &outputs, rotation, frame_no, frame, tx, shared);
    let gop_parallel = parallel > 1 && parallel_gops(&plan.source, &needed);
    // A lone source whose needed frames cannot be split by GOP (one keyframe, as in screen
    // recordings, or a trim inside one GOP) and most of whose decoded frames are lead-in is
    // decode-bound: the workers would idle, so the decoder gets every core as frame threads.
    // (When decoded ≈ needed, frame threading costs more than it gains on 2 cores; see above.)
    let threads = if parallel > 1 && !gop_parallel && sweep_span(&plan.source, &needed) >= 2 * needed.len() {
        lone_threads
    } else {
        threads
    };
    let (stats, result) = if gop_parallel {
        decode_frames_parallel(&mut plan.source, &needed, parallel, &deliver)
    } else {
        decode_frames(&mut plan.source, &needed, threads, deliver)
    };
    count_decode(&stats, shared);
    if let Err(e) = result {
        fail_unpublished(&plan.clips, &e, shared);
    }
}

/// Adds a decode's statistics to the run's counters.
fn count_decode(stats: &DecodeStats, shared: &Shared<'_>) {
    Counters::add(&shared.counters.frames_decoded, stats.frames_decoded);
    Counters::add(&shared.counters.lead_in_frames, stats.lead_in);
    Counters::add(&shared.counters.seeks, stats.seeks);
    Counters::add(&shared.counters.frames_substituted, stats.substituted);
    Counters::add(&shared.counters.decode_ns, stats.busy.as_nanos() as u64);
}

/// A source failed to decode: its clips not yet published fail with its error.
fn fail_unpublished(clips: &[ClipNo], e: &crate::media::MediaError, shared: &Shared<'_>) {
    let kind = ErrorKind::from(e);
    for &c in clips {
        if !shared.clips[c].is_published() {
            shared.clips[c].fail(kind, e.to_string());
        }
    }
}

/// Hands decoded frame `frame_no` (if needed: `needed` is sorted, `outputs` parallel to it) to
/// the workers with its outputs, which are taken: each needed frame goes out once.
fn hand_on(
    needed: &[FrameNo],
    outputs: &[Mutex<Vec<Output>>],
    rotation: u32,
    frame_no: usize,
    frame: &ff::frame::Video,
    tx: &crossbeam_channel::Sender<Job>,
    shared: &Shared<'_>,
) -> Delivery {
    let Ok(at) = needed.binary_search(&frame_no) else {
        return Delivery::Continue;
    };
    let outs = std::mem::take(&mut *outputs[at].lock().expect("outputs"));
    if shared.cancel.is_cancelled() {
        return Delivery::Stop;
    }
    // Skip work only failed clips would use.
    if outs
        .iter()
        .all(|o| o.slots.iter().all(|s| shared.clips[s.clip].failed()))
    {
        return Delivery::Continue;
    }
    match tx.send(Job {
        frame_no,
        frame: share(frame),
        rotation,
        outputs: outs,
    }) {
        Ok(()) => Delivery::Continue,
        Err(_) => Delivery::Stop,
    }
}

/// One source of a many-source run, shared by the decode threads working on its units.
struct UnitSource {
    needed: Vec<FrameNo>,
    outputs: Vec<Mutex<Vec<Output>>>,
    rotation: u32,
    clips: Vec<ClipNo>,
    path: PathBuf,
    name: String,
    /// Readers not in use: the probe's own, then second ones opened as threads need them.
    readers: Mutex<Vec<Source>>,
    /// How to open a second reader.
    second: Reopen,
    /// Units not finished yet; at 0 the readers are closed.
    units_left: AtomicUsize,
    /// A unit failed (its clips have failed): the source's other units are skipped.
    failed: AtomicBool,
}

/// A unit of decode work: needed frames `frames` (a range of the source's `needed`) of source
/// `source`, costing `cost` packets to decode (lead-in included).
struct Unit {
    source: usize,
    frames: Range<usize>,
    cost: usize,
}

/// The many-source schedule: every source's needed frames cut into units ([`gop_spans`]: one
/// per GOP where GOPs are closed, else one sweep), all sorted longest first (so no long unit
/// is left for the end while the other cores idle), taken by `min(units, jobs)` decode threads
/// from one queue. A thread reads a unit with a reader of its source not in use — the probe's,
/// or a second one it opens — and its own single-threaded decoder, so two units of one source
/// can decode at once. Memory: one decoder per decode thread, readers closed with their source's
/// last unit, and the same bounded queue of pictures.
fn run_units(
    plans: Vec<SourcePlan>,
    jobs: usize,
    (tx, rx): (crossbeam_channel::Sender<Job>, crossbeam_channel::Receiver<Job>),
    shared: &Shared<'_>,
) {
    let mut units: Vec<Unit> = Vec::new();
    let mut sources: Vec<UnitSource> = Vec::new();
    for (n, plan) in plans.into_iter().enumerate() {
        let spans = gop_spans(&plan.source, &plan.needed);
        units.extend(spans.iter().map(|(frames, cost)| Unit {
            source: n,
            frames: frames.clone(),
            cost: *cost,
        }));
        sources.push(UnitSource {
            rotation: plan.source.info.rotation,
            needed: plan.needed,
            outputs: plan.outputs.into_iter().map(Mutex::new).collect(),
            clips: plan.clips,
            path: plan.path,
            name: plan.name,
            second: plan.source.reopener(),
            readers: Mutex::new(vec![plan.source]),
            units_left: AtomicUsize::new(spans.len()),
            failed: AtomicBool::new(false),
        });
    }
    // Longest first; equal ones in file order (stable sort), which keeps reads sequential.
    units.sort_by_key(|u| std::cmp::Reverse(u.cost));
    let decoders = units.len().min(jobs).max(1);
    // As for one sweep per source: decoders share the cores with the workers.
    let threads = (jobs / (2 * decoders)).max(1);
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let rx = rx.clone();
            scope.spawn(move || worker(rx, shared));
        }
        drop(rx);
        for _ in 0..decoders {
            let (tx, units, sources, next) = (tx.clone(), &units, &sources, &next);
            scope.spawn(move || {
                while let Some(unit) = units.get(next.fetch_add(1, Ordering::Relaxed)) {
                    decode_unit(&sources[unit.source], unit, threads, &tx, shared);
                }
            });
        }
        drop(tx);
    });
}

/// Decodes one unit onto the queue (see [`run_units`]).
fn decode_unit(
    src: &UnitSource,
    unit: &Unit,
    threads: usize,
    tx: &crossbeam_channel::Sender<Job>,
    shared: &Shared<'_>,
) {
    if !src.failed.load(Ordering::Acquire) && !shared.cancel.is_cancelled() {
        let _span = shared.tracer.span("decode", || {
            format!(
                "decode {} ({} frames from {})",
                src.name,
                unit.frames.len(),
                unit.frames.start
            )
        });
        // Every reader in use (another thread decodes this source): open one more.
        let reader = src.readers.lock().expect("readers").pop();
        match reader.map_or_else(|| src.second.open(&src.path), Ok) {
            Ok(mut reader) => {
                let needed = &src.needed[unit.frames.clone()];
                let deliver = |frame_no: usize, frame: &ff::frame::Video| {
                    hand_on(&src.needed, &src.outputs, src.rotation, frame_no, frame, tx, shared)
                };
                let (stats, result) = decode_frames(&mut reader, needed, threads, deliver);
                // The clock runs only while the source is worked on.
                reader.pause_clock();
                count_decode(&stats, shared);
                if let Err(e) = result {
                    if !src.failed.swap(true, Ordering::AcqRel) {
                        fail_unpublished(&src.clips, &e, shared);
                    }
                }
                src.readers.lock().expect("readers").push(reader);
            }
            Err(e) => {
                if !src.failed.swap(true, Ordering::AcqRel) {
                    fail_unpublished(&src.clips, &e, shared);
                }
            }
        }
    }
    if src.units_left.fetch_sub(1, Ordering::AcqRel) == 1 {
        src.readers.lock().expect("readers").clear();
    }
}

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we pass; CLOCK_THREAD_CPUTIME_ID is valid on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn worker(rx: crossbeam_channel::Receiver<Job>, shared: &Shared<'_>) {
    let mut converter = Converter::default();
    let mut filters = ColourFilters::default();
    let mut encoder = ImageEncoder::default();
    for job in rx {
        if shared.cancel.is_cancelled() {
            continue; // drain so decoders never block
        }
        let _span = shared.tracer.span("encode", || format!("frame {}", job.frame_no));
        /// What the converter holds: transform, layout, drawn size.
        type Held = (Transform, Target, Option<(u32, u32)>);
        let mut converted: Option<Held> = None;
        for out in &job.outputs {
            let live: Vec<Slot> = out
                .slots
                .iter()
                .copied()
                .filter(|s| !shared.clips[s.clip].failed())
                .collect();
            if live.is_empty() {
                continue;
            }
            let fail_all = |kind: ErrorKind, msg: &str| {
                for s in &live {
                    shared.clips[s.clip].fail(kind, msg);
                }
            };
            let wanted = (out.variant.transform, out.variant.target(), out.variant.size);
            let t0 = thread_cpu_ns();
            if converted != Some(wanted) {
                converted = None;
                let picture = match filters.apply(&job.frame, wanted.0) {
                    Ok(p) => p,
                    Err(e) => {
                        fail_all(e.kind, &e.message);
                        continue;
                    }
                };
                if let Err(e) = converter.convert_sized(picture, wanted.1, job.rotation, wanted.2) {
                    fail_all(e.kind, &e.message);
                    continue;
                }
                converted = Some(wanted);
            }
            let t1 = thread_cpu_ns();
            Counters::add(&shared.counters.convert_ns, t1 - t0);
            let bytes = match encoder.encode(&converter.pixels(), out.variant) {
                Ok(b) => b,
                Err(e) => {
                    fail_all(e.kind, &e.message);
                    continue;
                }
            };
            Counters::add(&shared.counters.frames_encoded, 1);
            let first = match (&out.key, shared.store) {
                (Some(key), Some(store)) => {
                    let obj = store.frame_path(key, out.variant.format.extension());
                    shared.note_digest(&live, &digest(key.pts, bytes));
                    let put = store.put_frame(&obj, bytes).map(|_| obj);
                    if let (Ok(_), Some(log)) = (&put, shared.new_frames) {
                        let ext = out.variant.format.extension();
                        log.lock().expect("not poisoned").push((key.clone(), ext));
                    }
                    put
                }
                _ => {
                    let path = shared.clips[live[0].clip].frame_path(live[0].k);
                    std::fs::write(&path, bytes).map(|_| path)
                }
            };
            match first {
                Ok(first) => {
                    Counters::add(&shared.counters.bytes_written, bytes.len() as u64);
                    Counters::add(&shared.counters.frames_linked, live.len() as u64 - 1);
                    shared.fill_slots(&first, &live);
                }
                Err(e) => {
                    for s in &live {
                        shared.clips[s.clip].fail_output(&e, format!("cannot write a frame: {e}"));
                    }
                }
            }
            Counters::add(&shared.counters.encode_ns, thread_cpu_ns() - t1);
        }
    }
    let paths = filters.take_counts();
    Counters::add(&shared.counters.frames_sdr_to_hdr_fast, paths.sdr_to_hdr_fast);
    Counters::add(&shared.counters.frames_colour_filtered, paths.filtered);
}
