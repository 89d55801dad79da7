//! The pipeline: probe every source once, plan every clip's frames, then decode each source in
//! one sweep while workers convert, encode and write in parallel, and publish each clip's
//! folder when its last frame is written.
//!
//! ```text
//!  sources ──probe (parallel)──▶ plan ──▶ decode threads ──bounded queue──▶ workers ──▶ files
//!                                        (one per source,    (frames)     (convert, encode,
//!                                         up to `jobs`)                    write, link, publish)
//! ```
//! Memory is bounded by the queue (2 frames per worker) and the decoders' own buffers, not by
//! clip length. A source frame needed by several output slots (held frames, duplicate clips,
//! overlapping trims) is decoded and encoded once; the other slots are hard links to it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crossbeam_channel::bounded;
use ffmpeg_next as ff;

use crate::composition::window::{resolve_window, ClipWindow, WindowError};
use crate::composition::{ClipSpec, Composition, FormatChoice};
use crate::encode::{ImageEncoder, ImageFormat, Variant};
use crate::media::convert::{Converter, Target};
use crate::media::decode::{decode_frames, Delivery};
use crate::media::{MediaError, MediaInfo, Source};
use crate::report::{Breakdown, ClipError, ClipFrames, Counters, ErrorKind, ExtractionResult};

/// A cancel switch shared between the caller (e.g. a Ctrl-C handler) and a running extraction.
#[derive(Clone, Default, Debug)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub(crate) fn flag(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }
}

/// Progress notifications for long work (the CLI draws a bar from them).
pub trait Progress: Send + Sync {
    /// Planning is done: `frames` output files will be produced from `sources` sources.
    fn planned(&self, _frames: u64, _sources: usize) {}
    /// `n` more output files exist.
    fn wrote(&self, _n: u64) {}
}

/// How to run an extraction.
#[derive(Clone)]
pub struct ExtractOptions {
    /// Folder receiving `<clipId>/frame_00001.<ext>` …
    pub out_dir: PathBuf,
    /// Worker threads (decode + encode); 0 = the number of available cores.
    pub jobs: usize,
    pub cancel: CancelToken,
    pub progress: Option<Arc<dyn Progress>>,
}

impl ExtractOptions {
    pub fn new(out_dir: impl Into<PathBuf>) -> ExtractOptions {
        ExtractOptions {
            out_dir: out_dir.into(),
            jobs: 0,
            cancel: CancelToken::new(),
            progress: None,
        }
    }
}

/// One clip's output bookkeeping during a run.
struct ClipState {
    id: String,
    staging: PathBuf,
    final_dir: PathBuf,
    ext: &'static str,
    remaining: AtomicU64,
    failure: OnceLock<ClipError>,
    published: AtomicBool,
}

impl ClipState {
    fn frame_path(&self, k: u64) -> PathBuf {
        self.staging.join(frame_file_name(k, self.ext))
    }

    fn fail(&self, kind: ErrorKind, message: impl Into<String>) {
        let _ = self.failure.set(ClipError::new(&self.id, kind, message));
    }

    fn failed(&self) -> bool {
        self.failure.get().is_some()
    }
}

/// `frame_00001.jpg` for output frame `k = 0`.
pub fn frame_file_name(k: u64, ext: &str) -> String {
    format!("frame_{:05}.{ext}", k + 1)
}

/// One encode of one decoded frame: the variant and the output slots `(clip, k)` it fills.
type Outputs = Vec<(Variant, Vec<(usize, u64)>)>;

/// Per source: every (source frame, variant) needed and the output slots it fills.
type SourceNeeds = BTreeMap<(usize, Variant), Vec<(usize, u64)>>;

struct SourcePlan {
    source: Source,
    needed: Vec<usize>,
    outputs: Vec<Outputs>,
    clips: Vec<usize>,
}

struct Job {
    frame: ff::frame::Video,
    rotation: u32,
    outputs: Outputs,
}

struct Shared<'a> {
    clips: &'a [ClipState],
    counters: &'a Counters,
    cancel: &'a CancelToken,
    progress: Option<&'a dyn Progress>,
}

/// Where a clip's `src` points, or why it may not be used.
fn resolve_src(src: &str, base: &Path) -> Result<PathBuf, ClipErrorParts> {
    let lower = src.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Err((
            ErrorKind::SourceRejected,
            format!("remote source {src:?}: URLs are not supported by this build"),
        ));
    }
    let p = Path::new(src.strip_prefix("file://").unwrap_or(src));
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    let mut out = PathBuf::new();
    let mut depth = 0i32;
    for c in p.components() {
        match c {
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return Err((
                        ErrorKind::SourceRejected,
                        format!(
                            "{src:?} points outside the composition folder {}",
                            base.display()
                        ),
                    ));
                }
                out.pop();
            }
            Component::Normal(n) => {
                depth += 1;
                out.push(n);
            }
            _ => {}
        }
    }
    Ok(base.join(out))
}

type ClipErrorParts = (ErrorKind, String);

fn media_error_kind(e: &MediaError) -> ErrorKind {
    match e {
        MediaError::Missing(_) => ErrorKind::SourceMissing,
        MediaError::Invalid(_) => ErrorKind::InvalidMedia,
        MediaError::Decode(_) => ErrorKind::DecodeFailed,
        MediaError::Cancelled => ErrorKind::Cancelled,
    }
}

fn choose_variant(comp: &Composition, info: &MediaInfo) -> Variant {
    let format = match comp.format {
        FormatChoice::Auto if info.alpha => ImageFormat::Png,
        FormatChoice::Auto | FormatChoice::Jpg => ImageFormat::Jpg,
        FormatChoice::Png => ImageFormat::Png,
    };
    Variant {
        format,
        quality: comp.quality,
        alpha: format == ImageFormat::Png && info.alpha,
    }
}

fn available_jobs(jobs: usize) -> usize {
    if jobs > 0 {
        jobs
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    }
}

/// Removes staging folders left by earlier framex processes that no longer run.
fn sweep_stale_staging(out: &Path) -> u64 {
    let mut cleared = 0;
    let Ok(rd) = std::fs::read_dir(out) else {
        return 0;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(".framex-") else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id()
            && !Path::new(&format!("/proc/{pid}")).exists()
            && std::fs::remove_dir_all(e.path()).is_ok()
        {
            cleared += 1;
        }
    }
    cleared
}

/// Extracts every clip of `comp` into `opts.out_dir`. Never panics on bad input: each clip
/// either has its frames or an error of a [`ErrorKind`].
pub fn extract(comp: &Composition, opts: &ExtractOptions) -> ExtractionResult {
    let t_start = Instant::now();
    crate::media::init();
    let jobs = available_jobs(opts.jobs);
    let counters = Counters::default();
    let mut breakdown = Breakdown::default();
    let mut errors: Vec<Option<ClipError>> = vec![None; comp.clips.len()];

    // 1. Resolve sources and open each distinct one once, in parallel.
    let t = Instant::now();
    let mut source_paths: Vec<PathBuf> = Vec::new();
    let mut clip_source: Vec<Option<usize>> = vec![None; comp.clips.len()];
    {
        let mut by_path: HashMap<PathBuf, usize> = HashMap::new();
        for (i, clip) in comp.clips.iter().enumerate() {
            match resolve_src(&clip.src, &comp.base_dir) {
                Ok(p) => {
                    let key = std::fs::canonicalize(&p).unwrap_or(p.clone());
                    let n = by_path.len();
                    let s = *by_path.entry(key).or_insert(n);
                    if s == source_paths.len() {
                        source_paths.push(p);
                    }
                    clip_source[i] = Some(s);
                }
                Err((kind, msg)) => errors[i] = Some(ClipError::new(&clip.id, kind, msg)),
            }
        }
    }
    let opened: Vec<Result<Source, MediaError>> = open_all(&source_paths, jobs, &opts.cancel);
    breakdown.probe_ms = ms(t);

    // 2. Plan: windows, sample → source frame, output folders.
    let t = Instant::now();
    let _ = std::fs::create_dir_all(&opts.out_dir);
    let out_dir = std::fs::canonicalize(&opts.out_dir).unwrap_or(opts.out_dir.clone());
    breakdown.temps_cleared = sweep_stale_staging(&out_dir);
    let pid = std::process::id();
    let mut windows: Vec<Option<(ClipWindow, Variant)>> = vec![None; comp.clips.len()];
    let mut states: Vec<ClipState> = Vec::with_capacity(comp.clips.len());
    let mut frames_of_source: Vec<SourceNeeds> = vec![BTreeMap::new(); source_paths.len()];
    for (i, clip) in comp.clips.iter().enumerate() {
        let mut state = ClipState {
            id: clip.id.clone(),
            staging: out_dir.join(format!(".framex-{pid}-{}.partial", clip.id)),
            final_dir: out_dir.join(&clip.id),
            ext: "jpg",
            remaining: AtomicU64::new(0),
            failure: OnceLock::new(),
            published: AtomicBool::new(false),
        };
        if let Some(e) = errors[i].take() {
            let _ = state.failure.set(e);
            states.push(state);
            continue;
        }
        let s = clip_source[i].expect("resolved clip has a source");
        let src = match &opened[s] {
            Ok(src) => src,
            Err(e) => {
                state.fail(media_error_kind(e), e.to_string());
                states.push(state);
                continue;
            }
        };
        match plan_clip(comp, clip, src) {
            Ok((window, variant, slots)) => {
                state.ext = variant.format.extension();
                state.remaining.store(window.frame_count, Ordering::Relaxed);
                if let Err(e) = std::fs::create_dir_all(&state.staging) {
                    state.fail(
                        ErrorKind::OutputFailed,
                        format!("cannot create {}: {e}", state.staging.display()),
                    );
                } else {
                    for (k, frame) in slots.into_iter().enumerate() {
                        frames_of_source[s]
                            .entry((frame, variant))
                            .or_default()
                            .push((i, k as u64));
                    }
                    windows[i] = Some((window, variant));
                }
            }
            Err((kind, msg)) => state.fail(kind, msg),
        }
        states.push(state);
    }
    // Metadata for the result, before sources move into decode threads.
    let infos: Vec<Option<MediaInfo>> = opened
        .iter()
        .map(|o| o.as_ref().ok().map(|s| s.info.clone()))
        .collect();
    let mut plans: Vec<SourcePlan> = Vec::new();
    for (s, (opened, frames)) in opened.into_iter().zip(frames_of_source).enumerate() {
        let Ok(source) = opened else { continue };
        if frames.is_empty() {
            continue;
        }
        let mut needed: Vec<usize> = Vec::new();
        let mut outputs: Vec<Outputs> = Vec::new();
        for ((frame, variant), slots) in frames {
            if needed.last() != Some(&frame) {
                needed.push(frame);
                outputs.push(Vec::new());
            }
            outputs
                .last_mut()
                .expect("pushed above")
                .push((variant, slots));
        }
        let clips = (0..comp.clips.len())
            .filter(|&i| clip_source[i] == Some(s) && windows[i].is_some())
            .collect();
        plans.push(SourcePlan {
            source,
            needed,
            outputs,
            clips,
        });
    }
    let total: u64 = windows.iter().flatten().map(|(w, _)| w.frame_count).sum();
    if let Some(p) = &opts.progress {
        p.planned(total, plans.len());
    }
    breakdown.plan_ms = ms(t);

    // 3. Run: decode threads feed a bounded queue drained by encode workers.
    let shared = Shared {
        clips: &states,
        counters: &counters,
        cancel: &opts.cancel,
        progress: opts.progress.as_deref(),
    };
    for (i, st) in states.iter().enumerate() {
        if windows[i].as_ref().is_some_and(|(w, _)| w.frame_count == 0) && !st.failed() {
            publish(st, &shared);
        }
    }
    run_pipeline(plans, jobs, &shared);

    // 4. Settle every clip: published, failed, or cancelled (and clean its staging folder).
    let mut clips_out = Vec::new();
    let mut errs = Vec::new();
    for (i, st) in states.iter().enumerate() {
        if !st.published.load(Ordering::Acquire) {
            let _ = std::fs::remove_dir_all(&st.staging);
            if !st.failed() {
                if opts.cancel.is_cancelled() {
                    st.fail(
                        ErrorKind::Cancelled,
                        "extraction cancelled before this clip finished",
                    );
                } else {
                    st.fail(ErrorKind::Internal, "clip did not complete");
                }
            }
        }
        if let Some(e) = st.failure.get() {
            errs.push(e.clone());
            continue;
        }
        let (w, variant) = windows[i].as_ref().expect("published clip was planned");
        let info = clip_source[i]
            .and_then(|s| infos[s].clone())
            .expect("planned clip has metadata");
        let clip = &comp.clips[i];
        clips_out.push(ClipFrames {
            id: clip.id.clone(),
            src: clip.src.clone(),
            frames: w.frame_count,
            dir: st.final_dir.clone(),
            fps: comp.fps.to_f64(),
            format: variant.format,
            start: w.timeline_start.to_f64(),
            end: w.timeline_end.to_f64(),
            media_start: w.media_time(0).to_f64(),
            playback_rate: w.rate.to_f64(),
            looping: clip.looping,
            metadata: info,
            cached: false,
        });
    }
    counters.fill(&mut breakdown);
    breakdown.clip_misses = clips_out.len() as u64;
    let total_frames = clips_out.iter().map(|c| c.frames).sum();
    ExtractionResult {
        success: errs.is_empty(),
        clips: clips_out,
        errors: errs,
        total_frames,
        duration_ms: ms(t_start),
        breakdown,
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn open_all(
    paths: &[PathBuf],
    jobs: usize,
    cancel: &CancelToken,
) -> Vec<Result<Source, MediaError>> {
    let results: Vec<Mutex<Option<Result<Source, MediaError>>>> =
        paths.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(paths.len()).max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= paths.len() {
                    break;
                }
                let r = Source::open(&paths[i], cancel.flag());
                *results[i].lock().expect("probe slot") = Some(r);
            });
        }
    });
    results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .expect("probe slot")
                .unwrap_or(Err(MediaError::Cancelled))
        })
        .collect()
}

/// Resolves a clip's window and maps every output frame to the source frame shown then.
fn plan_clip(
    comp: &Composition,
    clip: &ClipSpec,
    src: &Source,
) -> Result<(ClipWindow, Variant, Vec<usize>), ClipErrorParts> {
    let window = resolve_window(clip, comp.fps, comp.timeline_end, src.index.end()).map_err(
        |e| match e {
            WindowError::EmptySource => (
                ErrorKind::InvalidMedia,
                "the source has no playable frames".to_string(),
            ),
            WindowError::MediaStartOutOfRange {
                media_start,
                source_end,
            } => (
                ErrorKind::MediaStartOutOfRange,
                format!(
                    "mediaStart {:.3}s is at or past the end of the source ({:.3}s)",
                    media_start.to_f64(),
                    source_end.to_f64()
                ),
            ),
        },
    )?;
    let tol = src.index.tolerance(comp.fps);
    let slots = (0..window.frame_count)
        .map(|k| {
            src.index
                .frame_at(window.media_time(k), tol)
                .expect("non-empty index")
        })
        .collect();
    Ok((window, choose_variant(comp, &src.info), slots))
}

fn run_pipeline(plans: Vec<SourcePlan>, jobs: usize, shared: &Shared<'_>) {
    if plans.is_empty() {
        return;
    }
    let concurrent = plans.len().min(jobs).max(1);
    let decoder_threads = (jobs / concurrent).max(1);
    let (tx, rx) = bounded::<Job>(jobs * 2);
    let queue = Mutex::new(plans.into_iter().collect::<Vec<_>>());
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
                decode_source(plan, decoder_threads, &tx, shared);
            });
        }
        drop(tx);
    });
}

fn decode_source(
    mut plan: SourcePlan,
    threads: usize,
    tx: &crossbeam_channel::Sender<Job>,
    shared: &Shared<'_>,
) {
    let rotation = plan.source.info.rotation;
    let mut cursor = 0usize;
    let needed = std::mem::take(&mut plan.needed);
    let mut outputs = std::mem::take(&mut plan.outputs);
    let decode = decode_frames(&mut plan.source, &needed, threads, |frame_no, frame| {
        debug_assert_eq!(needed[cursor], frame_no);
        let outs = std::mem::take(&mut outputs[cursor]);
        cursor += 1;
        if shared.cancel.is_cancelled() {
            return Delivery::Stop;
        }
        // Skip work only failed clips would use.
        if outs
            .iter()
            .all(|(_, slots)| slots.iter().all(|&(c, _)| shared.clips[c].failed()))
        {
            return Delivery::Continue;
        }
        match tx.send(Job {
            frame: frame.clone(),
            rotation,
            outputs: outs,
        }) {
            Ok(()) => Delivery::Continue,
            Err(_) => Delivery::Stop,
        }
    });
    let (stats, result) = decode;
    Counters::add(&shared.counters.frames_decoded, stats.frames_decoded);
    Counters::add(&shared.counters.seeks, stats.seeks);
    Counters::add(&shared.counters.frames_substituted, stats.substituted);
    Counters::add(&shared.counters.decode_ns, stats.busy.as_nanos() as u64);
    match result {
        Ok(()) => {}
        Err(e) => {
            let kind = match e {
                MediaError::Cancelled => ErrorKind::Cancelled,
                MediaError::Missing(_) => ErrorKind::SourceMissing,
                MediaError::Invalid(_) => ErrorKind::InvalidMedia,
                MediaError::Decode(_) => ErrorKind::DecodeFailed,
            };
            for &c in &plan.clips {
                if !shared.clips[c].published.load(Ordering::Acquire) {
                    shared.clips[c].fail(kind, e.to_string());
                }
            }
        }
    }
}

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass; CLOCK_THREAD_CPUTIME_ID is valid on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn worker(rx: crossbeam_channel::Receiver<Job>, shared: &Shared<'_>) {
    let mut converter = Converter::default();
    let mut encoder = ImageEncoder::default();
    for job in rx {
        if shared.cancel.is_cancelled() {
            continue; // drain so decoders never block
        }
        let mut converted: Option<Target> = None;
        for (variant, slots) in &job.outputs {
            let live: Vec<(usize, u64)> = slots
                .iter()
                .copied()
                .filter(|&(c, _)| !shared.clips[c].failed())
                .collect();
            if live.is_empty() {
                continue;
            }
            let fail_all = |kind: ErrorKind, msg: &str| {
                for &(c, _) in &live {
                    shared.clips[c].fail(kind, msg);
                }
            };
            let target = variant.target();
            let t0 = thread_cpu_ns();
            if converted != Some(target) {
                if let Err(e) = converter.convert(&job.frame, target, job.rotation) {
                    converted = None;
                    fail_all(ErrorKind::DecodeFailed, &e);
                    continue;
                }
                converted = Some(target);
            }
            let t1 = thread_cpu_ns();
            Counters::add(&shared.counters.convert_ns, t1 - t0);
            let bytes = match encoder.encode(&converter.pixels(), *variant) {
                Ok(b) => b,
                Err(e) => {
                    fail_all(ErrorKind::Internal, &e);
                    continue;
                }
            };
            Counters::add(&shared.counters.frames_encoded, 1);
            let (c0, k0) = live[0];
            let first = shared.clips[c0].frame_path(k0);
            if let Err(e) = std::fs::write(&first, bytes) {
                let _ = std::fs::remove_file(&first);
                fail_all(
                    ErrorKind::OutputFailed,
                    &format!("cannot write {}: {e}", first.display()),
                );
                continue;
            }
            Counters::add(&shared.counters.bytes_written, bytes.len() as u64);
            // Link every repeat before marking any slot done: marking the last slot of a clip
            // publishes (renames) its folder, which would move `first` away.
            let mut written = Vec::with_capacity(live.len());
            written.push(c0);
            for &(c, k) in &live[1..] {
                let path = shared.clips[c].frame_path(k);
                let linked = std::fs::hard_link(&first, &path).or_else(|_| {
                    Counters::add(&shared.counters.cross_fs_copies, 1);
                    std::fs::write(&path, bytes)
                });
                match linked {
                    Ok(()) => {
                        Counters::add(&shared.counters.frames_linked, 1);
                        written.push(c);
                    }
                    Err(e) => shared.clips[c].fail(
                        ErrorKind::OutputFailed,
                        format!("cannot write {}: {e}", path.display()),
                    ),
                }
            }
            for c in written {
                done_slot(c, shared);
            }
            Counters::add(&shared.counters.encode_ns, thread_cpu_ns() - t1);
        }
    }
}

/// One more frame of clip `c` is on disk; publish the clip when it was the last.
fn done_slot(c: usize, shared: &Shared<'_>) {
    if let Some(p) = shared.progress {
        p.wrote(1);
    }
    if shared.clips[c].remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
        publish(&shared.clips[c], shared);
    }
}

/// Moves a finished clip's staging folder to its final name, replacing an older one atomically.
fn publish(st: &ClipState, shared: &Shared<'_>) {
    if st.failed() || shared.cancel.is_cancelled() {
        return;
    }
    let t = Instant::now();
    let r = if st.final_dir.exists() {
        exchange(&st.staging, &st.final_dir)
    } else {
        std::fs::rename(&st.staging, &st.final_dir)
    };
    match r {
        Ok(()) => {
            // After an exchange the staging path holds the previous output.
            let _ = std::fs::remove_dir_all(&st.staging);
            st.published.store(true, Ordering::Release);
        }
        Err(e) => {
            Counters::add(&shared.counters.publish_failures, 1);
            st.fail(
                ErrorKind::OutputFailed,
                format!("cannot publish {}: {e}", st.final_dir.display()),
            );
        }
    }
    Counters::add(&shared.counters.publish_ns, t.elapsed().as_nanos() as u64);
}

/// Atomically swaps two paths (Linux `renameat2(RENAME_EXCHANGE)`).
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let ca = std::ffi::CString::new(a.as_os_str().as_bytes())?;
    let cb = std::ffi::CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths; renameat2 does not retain them.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_resolve_inside_the_composition_folder() {
        let base = Path::new("/proj");
        assert_eq!(
            resolve_src("media/a.mp4", base).unwrap(),
            PathBuf::from("/proj/media/a.mp4")
        );
        assert_eq!(
            resolve_src("./media/../a.mp4", base).unwrap(),
            PathBuf::from("/proj/a.mp4")
        );
        assert_eq!(
            resolve_src("/abs/a.mp4", base).unwrap(),
            PathBuf::from("/abs/a.mp4")
        );
        assert_eq!(
            resolve_src("../secret.mp4", base).unwrap_err().0,
            ErrorKind::SourceRejected
        );
        assert_eq!(
            resolve_src("a/../../b.mp4", base).unwrap_err().0,
            ErrorKind::SourceRejected
        );
        assert_eq!(
            resolve_src("https://x/y.mp4", base).unwrap_err().0,
            ErrorKind::SourceRejected
        );
    }

    #[test]
    fn frame_names_are_one_based() {
        assert_eq!(frame_file_name(0, "jpg"), "frame_00001.jpg");
        assert_eq!(frame_file_name(99_999, "png"), "frame_100000.png");
    }
}
