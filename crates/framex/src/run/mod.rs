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
use std::sync::{Arc, Mutex};
use std::time::Instant;

mod output;
mod pipeline;

pub use output::frame_file_name;

use output::{materialize, out_staging, publish, sweep_stale_staging, ClipState, StoreTarget};
use pipeline::{run_pipeline, Output, Shared, SourcePlan};

use crate::composition::lookup::ClipTiming;
use crate::composition::window::{resolve_window, ClipWindow, WindowError};
use crate::composition::{ClipSpec, Composition, FormatChoice};
use crate::encode::{ImageFormat, Variant};
use crate::media::{MediaError, MediaInfo, Source};
use crate::report::{Breakdown, ClipFrames, Counters, ErrorKind, ExtractionResult};
use crate::store::gc::{self, GcOptions};
use crate::store::{ClipRecord, SourceKey, SourceLock, SourceMeta, Store};
use crate::time::Rational;
use crate::trace::Tracer;

/// Per source: every (source frame, variant) needed and the output slots `(clip, k)` it fills.
type SourceNeeds = BTreeMap<(usize, Variant), Vec<(usize, u64)>>;

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

/// Progress notifications for long work (the CLI draws bars from them).
pub trait Progress: Send + Sync {
    /// Planning is done: `frames` output files will be produced from `sources` sources.
    fn planned(&self, _frames: u64, _sources: usize) {}
    /// Source number `source` (0-based) will produce `frames` output files.
    fn source_planned(&self, _source: usize, _name: &str, _frames: u64) {}
    /// `n` more output files exist (of source `source`, when known).
    fn wrote(&self, _source: Option<usize>, _n: u64) {}
}

/// How to run an extraction.
#[derive(Clone)]
pub struct ExtractOptions {
    /// Folder receiving `<clipId>/frame_00001.<ext>` …; `None` leaves frames in the store only
    /// (each clip's `dir` is then its folder inside the store).
    pub out_dir: Option<PathBuf>,
    /// Store folder; `None` runs uncached (then `out_dir` is required).
    pub cache_dir: Option<PathBuf>,
    /// Store size limit and eviction age, applied by the sweep after a run that wrote frames.
    pub gc: GcOptions,
    /// Worker threads (decode + encode); 0 = the number of available cores.
    pub jobs: usize,
    pub cancel: CancelToken,
    pub progress: Option<Arc<dyn Progress>>,
    /// Collect a timeline of the run into [`ExtractionResult::trace`].
    pub trace: bool,
}

impl ExtractOptions {
    /// Frames into `out_dir`, with the store at its default place (`FRAMEX_CACHE_DIR`, else the
    /// user cache folder).
    pub fn new(out_dir: impl Into<PathBuf>) -> ExtractOptions {
        ExtractOptions {
            out_dir: Some(out_dir.into()),
            cache_dir: Store::default_dir(),
            gc: GcOptions::default(),
            jobs: 0,
            cancel: CancelToken::new(),
            progress: None,
            trace: false,
        }
    }
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
                        format!("{src:?} points outside the composition folder {}", base.display()),
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
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
    }
}

/// A distinct source of this run (several clips and paths may share it).
struct SourceEntry {
    path: PathBuf,
    key: Option<SourceKey>,
    _lock: Option<SourceLock>,
    meta: Option<SourceMeta>,
    opened: Option<Result<Source, MediaError>>,
}

fn variant_key(v: &Variant, rotation: u32) -> String {
    match v.format {
        ImageFormat::Jpg => format!("jpg-q{}-r{rotation}", v.quality),
        ImageFormat::Png => format!("png{}-r{rotation}", if v.alpha { "-a" } else { "" }),
    }
}

/// Identifies a clip's frames: the same key means the same images in the same order, whatever
/// the clip's id or place on the timeline.
fn clip_key(w: &ClipWindow, vkey: &str) -> String {
    let cycle = w.loop_cycle.map(|(s, l)| format!("{s}+{l}")).unwrap_or_default();
    let text = format!(
        "v1|{vkey}|fps={}|rate={}|off={}|n={}|loop={cycle}",
        w.fps, w.rate, w.media_offset, w.frame_count
    );
    blake3::hash(text.as_bytes()).to_hex()[..32].to_string()
}

fn window_error(e: WindowError) -> ClipErrorParts {
    match e {
        WindowError::EmptySource => (ErrorKind::InvalidMedia, "the source has no playable frames".to_string()),
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
    }
}

/// Extracts every clip of `comp`. Never panics on bad input: each clip either has its frames
/// or an error of an [`ErrorKind`].
pub fn extract(comp: &Composition, opts: &ExtractOptions) -> ExtractionResult {
    let t_start = Instant::now();
    let tracer = Tracer::new(opts.trace);
    crate::media::init();
    let jobs = available_jobs(opts.jobs);
    let counters = Counters::default();
    let mut breakdown = Breakdown::default();
    let mut warnings = Vec::new();
    let n = comp.clips.len();
    let mut states: Vec<ClipState> = comp.clips.iter().map(|c| ClipState::new(&c.id)).collect();

    let store = opts.cache_dir.as_ref().and_then(|d| match Store::open(d) {
        Ok(s) => Some(s),
        Err(e) => {
            warnings.push(format!(
                "cache folder {} is not writable ({e}); running uncached",
                d.display()
            ));
            None
        }
    });
    let out_dir = match &opts.out_dir {
        Some(o) => match std::fs::create_dir_all(o).and_then(|_| std::fs::canonicalize(o)) {
            Ok(o) => {
                breakdown.temps_cleared += sweep_stale_staging(&o);
                Some(o)
            }
            Err(e) => {
                for st in &states {
                    st.fail(
                        ErrorKind::OutputFailed,
                        format!("cannot create the output folder {}: {e}", o.display()),
                    );
                }
                None
            }
        },
        None => None,
    };
    if out_dir.is_none() && store.is_none() {
        for st in &states {
            st.fail(
                ErrorKind::OutputFailed,
                "nowhere to write frames: give an output folder or enable the cache",
            );
        }
    }

    // 1. Resolve sources; identify each distinct one (by content with a store, else by path).
    let t = Instant::now();
    let span = tracer.span("phase", || "resolve sources".into());
    let mut sources: Vec<SourceEntry> = Vec::new();
    let mut clip_source: Vec<Option<usize>> = vec![None; n];
    {
        let mut by_id: HashMap<String, usize> = HashMap::new();
        for (i, clip) in comp.clips.iter().enumerate() {
            if states[i].failed() {
                continue;
            }
            let path = match resolve_src(&clip.src, &comp.base_dir) {
                Ok(p) => p,
                Err((kind, msg)) => {
                    states[i].fail(kind, msg);
                    continue;
                }
            };
            let canonical = std::fs::canonicalize(&path).unwrap_or(path.clone());
            let key = match &store {
                Some(store) if canonical.is_file() => match store.source_key(&canonical) {
                    Ok(k) => Some(k),
                    Err(e) => {
                        states[i].fail(ErrorKind::InvalidMedia, format!("cannot read {}: {e}", path.display()));
                        continue;
                    }
                },
                _ => None,
            };
            let ident = key
                .as_ref()
                .map(|k| k.0.clone())
                .unwrap_or_else(|| canonical.display().to_string());
            let s = *by_id.entry(ident).or_insert_with(|| {
                let (lock, meta) = match (&store, &key) {
                    (Some(store), Some(k)) => (store.lock_source(k).ok(), store.load_meta(k)),
                    _ => (None, None),
                };
                sources.push(SourceEntry {
                    path: path.clone(),
                    key: key.clone(),
                    _lock: lock,
                    meta,
                    opened: None,
                });
                sources.len() - 1
            });
            clip_source[i] = Some(s);
        }
    }

    drop(span);

    // 2. Whole-clip hits: answered from the store's clip records, without FFmpeg.
    let span = tracer.span("phase", || "whole-clip hits".into());
    let mut planned: Vec<Option<(ClipWindow, Variant, MediaInfo)>> = vec![None; n];
    let mut hits: Vec<(usize, PathBuf, u64)> = Vec::new();
    if let Some(store) = &store {
        for i in 0..n {
            let Some(s) = clip_source[i] else { continue };
            let (Some(key), Some(meta)) = (&sources[s].key, &sources[s].meta) else {
                continue;
            };
            let end = Rational::new(meta.end[0], meta.end[1].max(1));
            let Ok(window) = resolve_window(&comp.clips[i], comp.fps, comp.timeline_end, end) else {
                continue;
            };
            let variant = choose_variant(comp, &meta.info);
            let vkey = variant_key(&variant, meta.info.rotation);
            let ckey = clip_key(&window, &vkey);
            let Some(rec) = store.lookup_clip(key, &ckey) else {
                continue;
            };
            if rec.frames != window.frame_count {
                continue;
            }
            let st = &mut states[i];
            st.ext = variant.format.extension();
            let dir = store.clip_dir(key, &ckey);
            planned[i] = Some((window, variant, meta.info.clone()));
            hits.push((i, dir, rec.frames));
        }
    }
    // Materialise hits into OUT in parallel: each clip is its own folder, so links to different
    // clips do not contend on one directory.
    let next_hit = AtomicU64::new(0);
    std::thread::scope(|scope| {
        let workers = if out_dir.is_some() { jobs.min(hits.len()) } else { 0 };
        let work = || loop {
            let h = next_hit.fetch_add(1, Ordering::Relaxed) as usize;
            let Some((i, dir, frames)) = hits.get(h) else { break };
            let st = &states[*i];
            let published = match &out_dir {
                Some(out) => {
                    let dest = out.join(&comp.clips[*i].id);
                    materialize(dir, &dest, *frames, st.ext, &counters).map(|_| dest)
                }
                None => Ok(dir.clone()),
            };
            match published {
                Ok(d) => {
                    let _ = st.dir.set(d);
                    st.published.store(true, Ordering::Release);
                    st.cached.store(true, Ordering::Relaxed);
                }
                Err(e) => st.fail(
                    ErrorKind::OutputFailed,
                    format!("cannot materialise clip {:?}: {e}", st.id),
                ),
            }
        };
        for _ in 1..workers {
            scope.spawn(work);
        }
        work();
    });
    for &(i, _, _) in &hits {
        if states[i].failed() {
            planned[i] = None;
        }
    }
    drop(span);

    // 3. Open (probe + index) every source some remaining clip needs, in parallel.
    let span = tracer.span("phase", || "probe".into());
    let to_open: Vec<usize> = (0..sources.len())
        .filter(|&s| (0..n).any(|i| clip_source[i] == Some(s) && !states[i].failed() && !states[i].is_published()))
        .collect();
    let paths: Vec<PathBuf> = to_open.iter().map(|&s| sources[s].path.clone()).collect();
    for (s, r) in to_open.iter().zip(open_all(&paths, jobs, &opts.cancel, &tracer)) {
        if let (Ok(src), Some(store), Some(key)) = (&r, &store, &sources[*s].key) {
            let end = src.index.end();
            let meta = SourceMeta {
                info: src.info.clone(),
                end: [end.num(), end.den()],
            };
            let _ = store.save_meta(key, &meta);
        }
        sources[*s].opened = Some(r);
    }
    breakdown.probe_ms = ms(t);
    drop(span);

    // 4. Plan the misses: windows, sample → source frame, staging folders.
    let t = Instant::now();
    let span = tracer.span("phase", || "plan".into());
    let mut needs: Vec<SourceNeeds> = vec![BTreeMap::new(); sources.len()];
    for i in 0..n {
        let st = &mut states[i];
        if st.failed() || st.is_published() {
            continue;
        }
        let Some(s) = clip_source[i] else { continue };
        let src = match &sources[s].opened {
            Some(Ok(src)) => src,
            Some(Err(e)) => {
                st.fail(media_error_kind(e), e.to_string());
                continue;
            }
            None => continue,
        };
        let (window, variant, slots) = match plan_clip(comp, &comp.clips[i], src) {
            Ok(p) => p,
            Err((kind, msg)) => {
                st.fail(kind, msg);
                continue;
            }
        };
        st.ext = variant.format.extension();
        st.out_final = out_dir.as_ref().map(|o| o.join(&comp.clips[i].id));
        let vkey = variant_key(&variant, src.info.rotation);
        match (&store, &sources[s].key) {
            (Some(store), Some(key)) => {
                st.staging = store.temp_path(&format!("clip-{}", comp.clips[i].id));
                st.store = Some(StoreTarget {
                    source: key.clone(),
                    clip_key: clip_key(&window, &vkey),
                    record: ClipRecord {
                        frames: window.frame_count,
                        ext: st.ext.to_string(),
                        variant: vkey.clone(),
                        pts: slots.iter().map(|&f| src.index.pts(f)).collect(),
                    },
                });
            }
            _ => {
                st.staging = out_staging(
                    out_dir.as_ref().expect("uncached runs have an output folder"),
                    &comp.clips[i].id,
                )
            }
        }
        let _ = std::fs::remove_dir_all(&st.staging);
        if let Err(e) = std::fs::create_dir_all(&st.staging) {
            st.fail(
                ErrorKind::OutputFailed,
                format!("cannot create {}: {e}", st.staging.display()),
            );
            continue;
        }
        st.remaining.store(window.frame_count, Ordering::Relaxed);
        st.source = Some(s);
        for (k, frame) in slots.into_iter().enumerate() {
            needs[s].entry((frame, variant)).or_default().push((i, k as u64));
        }
        planned[i] = Some((window, variant, src.info.clone()));
    }
    let total: u64 = (0..n)
        .filter(|&i| !states[i].failed())
        .filter_map(|i| planned[i].as_ref())
        .map(|p| p.0.frame_count)
        .sum();
    if let Some(p) = &opts.progress {
        p.planned(total, to_open.len());
        let hit: u64 = (0..n)
            .filter(|&i| states[i].cached.load(Ordering::Relaxed))
            .filter_map(|i| planned[i].as_ref())
            .map(|p| p.0.frame_count)
            .sum();
        p.wrote(None, hit);
        for &s in &to_open {
            let frames = (0..n)
                .filter(|&i| clip_source[i] == Some(s) && !states[i].failed() && !states[i].is_published())
                .filter_map(|i| planned[i].as_ref())
                .map(|p| p.0.frame_count)
                .sum();
            let name = sources[s]
                .path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            p.source_planned(s, &name, frames);
        }
    }

    // 5. Frames already in the store are linked, not decoded; the rest become decode plans.
    let shared = Shared {
        clips: &states,
        counters: &counters,
        cancel: &opts.cancel,
        progress: opts.progress.as_deref(),
        store: store.as_ref(),
        tracer: &tracer,
    };
    for st in &states {
        if !st.failed()
            && !st.is_published()
            && st.remaining.load(Ordering::Relaxed) == 0
            && !st.staging.as_os_str().is_empty()
        {
            publish(st, store.as_ref(), &counters, opts.cancel.is_cancelled());
        }
    }
    let mut plans: Vec<SourcePlan> = Vec::new();
    for (s, frames) in needs.into_iter().enumerate() {
        if frames.is_empty() {
            continue;
        }
        let Some(Ok(_)) = &sources[s].opened else { continue };
        let key = sources[s].key.clone();
        let mut existing: HashMap<Variant, std::collections::HashSet<i64>> = HashMap::new();
        let mut needed: Vec<usize> = Vec::new();
        let mut outputs: Vec<Vec<Output>> = Vec::new();
        let source = match sources[s].opened.take() {
            Some(Ok(src)) => src,
            _ => continue,
        };
        let rotation = source.info.rotation;
        for ((frame, variant), slots) in frames {
            let object = match (&store, &key) {
                (Some(store), Some(key)) => {
                    let vkey = variant_key(&variant, rotation);
                    let pts = source.index.pts(frame);
                    let have = existing
                        .entry(variant)
                        .or_insert_with(|| store.existing_frames(key, &vkey, variant.format.extension()));
                    let obj = store.frame_path(key, &vkey, pts, variant.format.extension());
                    if have.contains(&pts) {
                        Counters::add(&counters.frames_reused, 1);
                        shared.fill_slots(&obj, &slots);
                        continue;
                    }
                    Some(obj)
                }
                _ => None,
            };
            if needed.last() != Some(&frame) {
                needed.push(frame);
                outputs.push(Vec::new());
            }
            outputs
                .last_mut()
                .expect("pushed above")
                .push(Output { variant, object, slots });
        }
        if needed.is_empty() {
            continue;
        }
        let clips = (0..n)
            .filter(|&i| clip_source[i] == Some(s) && planned[i].is_some())
            .collect();
        let name = sources[s]
            .path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        plans.push(SourcePlan {
            source,
            name,
            needed,
            outputs,
            clips,
        });
    }
    breakdown.plan_ms = ms(t);
    drop(span);

    // 6. Decode, convert, encode, write, publish.
    let span = tracer.span("phase", || "decode + encode".into());
    run_pipeline(plans, jobs, &shared);
    drop(span);

    // 7. Settle every clip: published, failed, or cancelled (and clean its staging folder).
    let mut clips_out = Vec::new();
    let mut errs = Vec::new();
    for (i, st) in states.iter().enumerate() {
        if !st.is_published() {
            if !st.staging.as_os_str().is_empty() {
                let _ = std::fs::remove_dir_all(&st.staging);
            }
            if !st.failed() {
                if opts.cancel.is_cancelled() {
                    st.fail(ErrorKind::Cancelled, "extraction cancelled before this clip finished");
                } else {
                    st.fail(ErrorKind::Internal, "clip did not complete");
                }
            }
        }
        if let Some(e) = st.failure.get() {
            errs.push(e.clone());
            continue;
        }
        let (w, variant, info) = planned[i].clone().expect("published clip was planned");
        let clip = &comp.clips[i];
        let cached = st.cached.load(Ordering::Relaxed);
        if cached {
            breakdown.clip_hits += 1;
        } else {
            breakdown.clip_misses += 1;
        }
        clips_out.push(ClipFrames {
            id: clip.id.clone(),
            src: clip.src.clone(),
            frames: w.frame_count,
            dir: st.dir.get().cloned().unwrap_or_default(),
            fps: comp.fps.to_f64(),
            format: variant.format,
            start: w.timeline_start.to_f64(),
            end: w.timeline_end.to_f64(),
            media_start: w.media_time(0).to_f64(),
            playback_rate: w.rate.to_f64(),
            looping: clip.looping,
            metadata: info,
            cached,
            timing: ClipTiming::from_window(clip.id.clone(), &w),
        });
    }
    counters.fill(&mut breakdown);

    // 8. Keep the store bounded: sweep when this run wrote something or the last sweep is old.
    if let Some(store) = &store {
        if gc::sweep_due(store, breakdown.frames_encoded > 0) {
            let _span = tracer.span("phase", || "gc".into());
            let t = Instant::now();
            let r = gc::gc(store, opts.gc);
            breakdown.gc_evictions = r.evictions;
            breakdown.gc_bytes_freed = r.bytes_freed;
            breakdown.temps_cleared += r.temps_cleared;
            breakdown.gc_ms = ms(t);
        }
    }
    let total_frames = clips_out.iter().map(|c| c.frames).sum();
    ExtractionResult {
        success: errs.is_empty(),
        clips: clips_out,
        errors: errs,
        warnings,
        total_frames,
        duration_ms: ms(t_start),
        breakdown,
        trace: tracer.into_events(),
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn open_all(paths: &[PathBuf], jobs: usize, cancel: &CancelToken, tracer: &Tracer) -> Vec<Result<Source, MediaError>> {
    let results: Vec<Mutex<Option<Result<Source, MediaError>>>> = paths.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(paths.len()).max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= paths.len() {
                    break;
                }
                let _span = tracer.span("probe", || format!("open {}", paths[i].display()));
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
    let window = resolve_window(clip, comp.fps, comp.timeline_end, src.index.end()).map_err(window_error)?;
    let slots = (0..window.frame_count)
        .map(|k| {
            src.index
                .frame_at(window.media_time(k), comp.fps)
                .expect("non-empty index")
        })
        .collect();
    Ok((window, choose_variant(comp, &src.info), slots))
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
        assert_eq!(resolve_src("/abs/a.mp4", base).unwrap(), PathBuf::from("/abs/a.mp4"));
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
}
