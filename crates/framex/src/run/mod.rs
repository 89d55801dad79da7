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

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod output;
mod pipeline;
pub(crate) mod plan;
mod tiered;

use output::{
    check_clip_folder, check_replaceable, materialize, out_staging, publish, sweep_stale_staging, ClipState,
    StoreTarget,
};
use pipeline::{run_pipeline, Shared, SourcePlan};
use plan::{choose_variant, clip_key, clip_window, group_slots, is_partial, partial_clip_key, plan_clip_frames};
use plan::{split_stored, PlannedClip, Render, Request, SourceNeeds, SourceNo};

use crate::composition::lookup::ClipTiming;
use crate::composition::slice::count;
use crate::composition::Composition;
use crate::control::{CancelToken, Progress};
use crate::error::{ErrorKind, Failure};
use crate::media::colour::{hdr_target, Hdr};
use crate::media::{MediaError, Source};
use crate::remote::{self, FetchContext, RemotePolicy};
use crate::report::{Breakdown, ClipFrames, Counters, ExtractionResult};
use crate::store::gc::{self, GcOptions};
use crate::store::{ClipKey, ClipRecord, SourceKey, SourceLock, Store, StoredMeta, VariantKey};
use crate::trace::Tracer;

/// How to run an extraction. Start from [`ExtractOptions::default`] (frames stay in no store
/// and go nowhere: set at least [`out_dir`](Self::out_dir) or [`cache_dir`](Self::cache_dir))
/// and set the fields you need; new fields will come with defaults.
///
/// The library never reads the environment: the `framex` command resolves `--cache-dir` and
/// `FRAMEX_CACHE_DIR` with [`crate::cache::resolve_dir`].
#[derive(Clone)]
#[non_exhaustive]
pub struct ExtractOptions {
    /// Folder receiving `<clipId>/frame_00001.<ext>` …; `None` leaves frames in the store only
    /// (each clip's `dir` is then its folder inside the store). Default: `None`.
    pub out_dir: Option<PathBuf>,
    /// Store folder; `None` runs uncached (then `out_dir` is required). Default: `None`.
    pub cache_dir: Option<PathBuf>,
    /// Store size limit and eviction age, applied by the sweep after a run that wrote frames.
    /// Default: 2 GiB, one hour.
    pub gc: GcOptions,
    /// Worker threads (decode + encode); 0 = the number of available cores. More than
    /// [`MAX_JOBS_PER_CORE`] per core is lowered to that, with a warning. Default: 0.
    pub jobs: usize,
    /// Raise it to stop the run. Default: a fresh token.
    pub cancel: CancelToken,
    /// Receives progress events. Default: `None`.
    pub progress: Option<Arc<dyn Progress>>,
    /// Collect a timeline of the run into [`ExtractionResult::trace`]. Default: `false`.
    pub trace: bool,
    /// Wall-time limit per source for each stretch without progress (the probe reading no
    /// further into the file, the decoder producing no needed frame; the rule is stated once,
    /// on the crate's internal `TimeLimit`). A source that runs out fails its clips —
    /// `invalid_media` while probing, `decode_failed` while decoding — and the others carry on.
    /// `None`: no limit. Default: [`DEFAULT_SOURCE_TIMEOUT`].
    pub source_timeout: Option<Duration>,
    /// Which `https://` sources may be fetched and within which limits (size, time; the
    /// testing allowance for private addresses). Default: [`RemotePolicy::default`].
    pub remote: RemotePolicy,
    /// Extract only what a slice of the timeline shows: for composition frames `start ≤ n <
    /// end` (frame `n` at `n / fps`), each clip's frames on screen then by the lookup rules
    /// (loop wrap, rate, held last frame, inclusive end). Overrides the composition's own
    /// [`Composition::frames`]. A clip keeps its global numbering (its frame `k` is
    /// `frame_<k+1>` in any run), and the result lists which indices exist
    /// ([`ClipFrames::ranges`]). Must end within the composition when its end is known
    /// ([`Composition::frame_count`]). Default: `None` (the whole timeline).
    pub frames: Option<crate::FrameRange>,
    /// Explicit frame indices per clip id (HyperFrames' `frameRanges`: runs of `{firstFrame,
    /// frames}`). Only the clips named get frames, only those listed (indices past a clip's
    /// frames do not exist: they are left out, with a warning). With [`frames`](Self::frames)
    /// too, a clip gets the frames in both. An id the composition does not have fails the call.
    /// Default: `None` (every frame of every clip).
    pub indices: Option<std::collections::BTreeMap<String, Vec<crate::FrameRun>>>,
    /// A second store tier on S3-compatible object storage, shared by a fleet: frames and clip
    /// records missing locally are fetched from it before anything is decoded, and what this
    /// run encodes is uploaded to it after publishing (the `store::tier` module). Needs
    /// [`cache_dir`](Self::cache_dir). Credentials, region and endpoint come from the standard
    /// `AWS_*` variables and the AWS config files. Its failures are warnings, never errors.
    /// Default: `None`.
    pub remote_store: Option<crate::store::tier::RemoteStoreOptions>,
}

/// Below this much free space the store counts as full: the run goes uncached (with a warning)
/// when it has an output folder.
const MIN_STORE_FREE: u64 = 64 << 20;

/// Default of [`ExtractOptions::source_timeout`]: 10 minutes.
pub const DEFAULT_SOURCE_TIMEOUT: Duration = Duration::from_secs(600);

impl Default for ExtractOptions {
    fn default() -> ExtractOptions {
        ExtractOptions {
            out_dir: None,
            cache_dir: None,
            gc: GcOptions::default(),
            jobs: 0,
            cancel: CancelToken::new(),
            progress: None,
            trace: false,
            source_timeout: Some(DEFAULT_SOURCE_TIMEOUT),
            remote: RemotePolicy::default(),
            frames: None,
            indices: None,
            remote_store: None,
        }
    }
}

impl std::fmt::Debug for ExtractOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtractOptions")
            .field("out_dir", &self.out_dir)
            .field("cache_dir", &self.cache_dir)
            .field("gc", &self.gc)
            .field("jobs", &self.jobs)
            .field("cancel", &self.cancel)
            .field("progress", &self.progress.as_ref().map(|_| "dyn Progress"))
            .field("trace", &self.trace)
            .field("source_timeout", &self.source_timeout)
            .field("remote", &self.remote)
            .field("frames", &self.frames)
            .field("indices", &self.indices)
            .field("remote_store", &self.remote_store)
            .finish()
    }
}

impl ExtractOptions {
    /// Whether these options can produce frames at all: without a store, an output folder is
    /// required. [`extract`] fails every clip with this message (`output_failed`) otherwise;
    /// the `framex` command refuses the arguments with it (exit status 2).
    pub fn check(&self) -> Result<(), String> {
        if self.out_dir.is_none() && self.cache_dir.is_none() {
            return Err("nowhere to write frames: give an output folder or enable the cache".into());
        }
        Ok(())
    }

    /// [`ExtractOptions::check`], and whether what they ask of `comp` exists: the slice (these
    /// options' [`frames`](Self::frames), else the composition's) is not empty and ends within
    /// the timeline when its length is known ([`Composition::frame_count`]; a composition
    /// whose end depends on a source's length takes any slice, and one past every clip is
    /// empty); every id in [`indices`](Self::indices) is a clip of `comp` and every run fits.
    /// [`extract`] fails every clip with this message (`invalid_request`, or `output_failed`
    /// for `check`'s); the `framex` command refuses the arguments with it (exit status 2).
    pub fn check_for(&self, comp: &Composition) -> Result<(), String> {
        self.check()?;
        self.check_request(comp)
    }

    fn check_request(&self, comp: &Composition) -> Result<(), String> {
        if let Some(f) = self.frames.or(comp.frames()) {
            if f.is_empty() {
                return Err(format!(
                    "the slice {}..{} is empty: its start must be below its end",
                    f.start, f.end
                ));
            }
            if let Some(n) = comp.frame_count().filter(|&n| f.end > n) {
                return Err(format!(
                    "the slice {}..{} ends past the composition, which has {n} frames (0..{n} at {} fps)",
                    f.start,
                    f.end,
                    comp.fps()
                ));
            }
        }
        for (id, runs) in self.indices.iter().flatten() {
            if !comp.clips().iter().any(|c| &c.id == id) {
                return Err(format!(
                    "the frame indices name clip {id:?}, which the composition does not have"
                ));
            }
            if crate::composition::slice::runs_to_ranges(runs).is_none() {
                return Err(format!(
                    "the frame indices of clip {id:?} run past the largest frame number"
                ));
            }
        }
        Ok(())
    }
}

/// What a clip's `src` names: a file, or a remote source (`http(s)://`, fetched first).
#[derive(Debug, PartialEq)]
enum SrcRef {
    Local(PathBuf),
    Remote(String),
}

/// Where a clip's `src` points, or why it may not be used. Unlike the HTML reader (which
/// clamps `..` to the project folder, as HyperFrames does), a manifest's `..` that leaves the
/// composition folder is refused: a manifest is explicit input, and a silent clamp would read
/// a different file than the one named. The check is on real paths: a relative `src` that a
/// symbolic link inside the folder leads out of it is refused too. `file:` URLs are refused
/// (give a path): read as paths they made any file on the machine a relative-looking source.
fn resolve_src(src: &str, base: &Path) -> Result<SrcRef, Failure> {
    if remote::is_remote(src) {
        return Ok(SrcRef::Remote(src.trim().to_string()));
    }
    if src
        .trim_start()
        .get(..5)
        .is_some_and(|s| s.eq_ignore_ascii_case("file:"))
    {
        return Err(Failure::new(
            ErrorKind::SourceRejected,
            format!("{src:?}: file: URLs are not accepted as sources; give a path"),
        ));
    }
    let p = Path::new(src);
    if p.is_absolute() {
        return Ok(SrcRef::Local(p.to_path_buf()));
    }
    let mut out = PathBuf::new();
    let mut depth = 0i32;
    for c in p.components() {
        match c {
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return Err(Failure::new(
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
    let joined = base.join(out);
    // Through symbolic links, the file may still live elsewhere: compare real paths (a file
    // that does not exist fails later as source_missing).
    if let (Ok(real), Ok(real_base)) = (std::fs::canonicalize(&joined), std::fs::canonicalize(base)) {
        if !real.starts_with(&real_base) {
            return Err(Failure::new(
                ErrorKind::SourceRejected,
                format!(
                    "{src:?} leads (through a symbolic link) to {}, outside the composition folder {}",
                    real.display(),
                    base.display()
                ),
            ));
        }
    }
    Ok(SrcRef::Local(joined))
}

/// The worker count for `jobs` (0: one per core), at most [`MAX_JOBS_PER_CORE`] per core; and
/// whether it had to be lowered.
fn available_jobs(jobs: usize) -> (usize, bool) {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let max = cores * MAX_JOBS_PER_CORE;
    match jobs {
        0 => (cores, false),
        j if j > max => (max, true),
        j => (j, false),
    }
}

/// Workers beyond this many per core only add memory (every worker holds frames in flight)
/// and threads, never speed: `--jobs 1000` took 832 MB, `--jobs 100000` could not spawn.
pub const MAX_JOBS_PER_CORE: usize = 4;

/// A format check of a file never seen before (a format probe, no stream analysis).
type Sniff = fn(&Path) -> Result<(), MediaError>;

/// The content key of the local file at real path `real` (named `shown` in messages): the one
/// remembered for it, else its hash. A file never seen before is checked to be a video first
/// (`sniff`), so junk is refused without being read whole; without a `sniff` (the store-only
/// path, which cannot probe) such a file has no key yet: `Ok(None)`.
fn content_key(store: &Store, real: &Path, shown: &Path, sniff: Option<Sniff>) -> Result<Option<SourceKey>, Failure> {
    if let Some(key) = store.remembered_key(real) {
        return Ok(Some(key));
    }
    let Some(sniff) = sniff else { return Ok(None) };
    // An empty file is left to the probe, which says so in its own words.
    if std::fs::metadata(real).is_ok_and(|m| m.len() > 0) {
        sniff(real).map_err(|e| Failure::new(ErrorKind::from(&e), e.to_string()))?;
    }
    store
        .hash_source(real)
        .map(Some)
        .map_err(|e| Failure::new(ErrorKind::InvalidMedia, format!("cannot read {}: {e}", shown.display())))
}

/// The outcome of fetching each distinct remote source, by normalised URL.
type Fetches = HashMap<String, Result<remote::Fetched, Failure>>;

/// A distinct source of this run (several clips and paths may share it).
struct SourceEntry {
    path: PathBuf,
    key: Option<SourceKey>,
    _lock: Option<SourceLock>,
    meta: Option<StoredMeta>,
    /// Opened (probed) by this run.
    probed: bool,
    /// An uncached run's download folder (removed when the last source using it is dropped).
    _download_dir: Option<Arc<tempfile::TempDir>>,
}

impl SourceEntry {
    /// The file name, for progress and traces.
    fn name(&self) -> String {
        self.path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// What the probe phase opened, by source number (`None`: not opened), and which sources it
/// opened. Kept out of [`SourceEntry`] so that the phases before the probe — all an all-hit run
/// needs — hold no FFmpeg object: [`extract_stored`] runs them without FFmpeg.
struct Opened {
    sources: Vec<Option<Result<Source, MediaError>>>,
    numbers: Vec<SourceNo>,
}

/// Extracts every clip of `comp`. Never panics on bad input and never fails as a whole: each
/// clip either has its frames or an error of an [`ErrorKind`].
pub fn extract(comp: &Composition, opts: &ExtractOptions) -> ExtractionResult {
    crate::media::init();
    let mut run = Run::new(comp, opts, Some(crate::media::source::sniff));
    run.open_tier();
    run.resolve_sources();
    run.remote_metadata();
    run.whole_clip_hits();
    if run.remote_clip_hits() {
        run.whole_clip_hits();
    }
    let opened = run.open_sources();
    let needs = run.plan_misses(&opened);
    run.remote_frames(&needs, &opened);
    run.produce(needs, opened);
    run.remote_flush();
    run.finish()
}

/// [`extract`] answered from the store alone, without FFmpeg: when every clip of `comp` is a
/// whole-clip hit (its source known to the store by file identity, its folder complete), the
/// same result [`extract`] would return, with the same effects (clips materialised into
/// [`ExtractOptions::out_dir`], the store's sweep when due). Otherwise `None`, before anything
/// is materialised or fetched — the output folder and the store may have been created — and the
/// caller runs [`extract`]. No FFmpeg function is reachable from here, so a program that only
/// calls this (the `framex` command's all-hit path) need not load FFmpeg's libraries at all.
pub fn extract_stored(comp: &Composition, opts: &ExtractOptions) -> Option<ExtractionResult> {
    let mut run = Run::new(comp, opts, None);
    run.resolve_sources();
    if !run.needs_media {
        run.whole_clip_hits();
    }
    if run.needs_media {
        return None;
    }
    if let Some(o) = &run.out_dir {
        run.breakdown.temps_cleared += sweep_stale_staging(o);
    }
    run.nothing_to_produce();
    Some(run.finish())
}

/// One extraction, phase by phase: resolve → whole-clip hits → probe → plan → produce → finish,
/// with the remote tier's phases (in `tiered`) between: its metadata and clip records before the
/// local whole-clip hits are settled, its frames before decoding, the upload after publishing.
struct Run<'a> {
    comp: &'a Composition,
    opts: &'a ExtractOptions,
    started: Instant,
    jobs: usize,
    tracer: Tracer,
    counters: Counters,
    breakdown: Breakdown,
    warnings: Vec<String>,
    store: Option<Store>,
    out_dir: Option<PathBuf>,
    /// One record per clip, in composition order.
    clips: Vec<ClipState>,
    sources: Vec<SourceEntry>,
    render: Render,
    /// The remote tier and what this run did with it.
    tier: Option<tiered::TierRun>,
    /// How a never-seen file is format-checked: FFmpeg's probe in [`extract`]; `None` on the
    /// store-only path ([`extract_stored`]), which then sets `needs_media` instead.
    sniff: Option<Sniff>,
    /// The store-only path met something only [`extract`] can do (probe, decode, download).
    needs_media: bool,
}

impl<'a> Run<'a> {
    /// Opens the store (or warns and runs uncached) and prepares the output folder.
    fn new(comp: &'a Composition, opts: &'a ExtractOptions, sniff: Option<Sniff>) -> Run<'a> {
        let (jobs, lowered) = available_jobs(opts.jobs);
        let mut run = Run {
            comp,
            opts,
            started: Instant::now(),
            jobs,
            tracer: Tracer::new(opts.trace),
            counters: Counters::default(),
            breakdown: Breakdown::default(),
            warnings: Vec::new(),
            store: None,
            out_dir: None,
            clips: comp.clips().iter().map(|c| ClipState::new(&c.id)).collect(),
            sources: Vec::new(),
            render: Render::Unknown,
            tier: None,
            sniff,
            needs_media: false,
        };
        if lowered {
            run.warnings.push(format!(
                "{} jobs asked for; using {jobs} ({MAX_JOBS_PER_CORE} per core): more only costs memory",
                opts.jobs
            ));
        }
        if let Err(msg) = opts.check() {
            run.fail_all(ErrorKind::OutputFailed, &msg);
            return run;
        }
        if let Err(msg) = opts.check_request(comp) {
            run.fail_all(ErrorKind::InvalidRequest, &msg);
            return run;
        }
        run.store = opts.cache_dir.as_ref().and_then(|d| match Store::open(d) {
            // A full store cannot take a frame: with somewhere else to put them, run uncached.
            Ok(s) if opts.out_dir.is_some() && s.free_bytes().is_some_and(|b| b < MIN_STORE_FREE) => {
                run.warnings.push(format!(
                    "cache folder {} is full ({} KiB free); running uncached",
                    d.display(),
                    s.free_bytes().unwrap_or(0) / 1024
                ));
                None
            }
            Ok(s) => Some(s),
            Err(e) => {
                run.warnings.push(format!(
                    "cache folder {} is not writable ({e}); running uncached",
                    d.display()
                ));
                None
            }
        });
        if let Some(o) = &opts.out_dir {
            match std::fs::create_dir_all(o).and_then(|_| std::fs::canonicalize(o)) {
                Ok(o) => {
                    // The store-only path sweeps once it knows it answers (`extract_stored`):
                    // otherwise the engine's run does, and counts what it swept.
                    if run.sniff.is_some() {
                        run.breakdown.temps_cleared += sweep_stale_staging(&o);
                    }
                    run.out_dir = Some(o);
                }
                Err(e) => {
                    let message = format!("cannot create the output folder {}: {e}", o.display());
                    for st in &run.clips {
                        st.fail_output(&e, message.clone());
                    }
                }
            }
        }
        if run.out_dir.is_none() && run.store.is_none() && opts.out_dir.is_none() {
            run.fail_all(
                ErrorKind::OutputFailed,
                "nowhere to write frames: give an output folder or enable the cache",
            );
        }
        run
    }

    /// Which frames of each clip this run produces.
    fn request(&self) -> Request<'_> {
        Request {
            frames: self.opts.frames.or(self.comp.frames()),
            indices: self.opts.indices.as_ref(),
        }
    }

    fn fail_all(&self, kind: ErrorKind, message: &str) {
        for st in &self.clips {
            st.fail(kind, message);
        }
    }

    /// Clips still to be produced (not failed, not answered from the store).
    fn pending(&self, i: usize) -> bool {
        !self.clips[i].failed() && !self.clips[i].is_published()
    }

    /// Whether some clip still to be produced reads source `s`.
    fn source_pending(&self, s: SourceNo) -> bool {
        (0..self.clips.len()).any(|i| self.clips[i].source == Some(s) && self.pending(i))
    }

    /// Resolves every clip's `src` and identifies each distinct source — by content with a
    /// store, else by canonical path — taking a shared store lock on it for the whole run.
    fn resolve_sources(&mut self) {
        let refs: Vec<Option<SrcRef>> = (0..self.clips.len()).map(|i| self.resolve_clip_src(i)).collect();
        // Remote sources are fetched first (locks on them are held in `fetched` until the
        // sources below take their own); then they are files like any other.
        let (fetched, download_dir) = self.fetch_remote(&refs);
        let _span = self.tracer.span("phase", || "resolve sources".into());
        let mut by_id: HashMap<String, usize> = HashMap::new();
        for (i, r) in refs.into_iter().enumerate() {
            let (path, known_key, from_download) = match r {
                None => continue,
                Some(SrcRef::Local(p)) => (p, None, false),
                Some(SrcRef::Remote(url)) => match fetched.get(&url) {
                    Some(Ok(f)) => (f.path.clone(), f.key.clone(), true),
                    Some(Err(e)) => {
                        self.clips[i].fail(e.kind, e.message.clone());
                        continue;
                    }
                    None => {
                        self.clips[i].fail(ErrorKind::Internal, format!("{url} was not fetched"));
                        continue;
                    }
                },
            };
            let canonical = std::fs::canonicalize(&path).unwrap_or(path.clone());
            let key = match &self.store {
                // A download was hashed as it arrived: no need to read it again.
                _ if known_key.is_some() => known_key,
                Some(store) if canonical.is_file() => match content_key(store, &canonical, &path, self.sniff) {
                    Ok(Some(k)) => Some(k),
                    Ok(None) => {
                        self.needs_media = true;
                        return;
                    }
                    Err(e) => {
                        self.clips[i].fail(e.kind, e.message);
                        continue;
                    }
                },
                _ => None,
            };
            let ident = key
                .as_ref()
                .map(|k| k.to_string())
                .unwrap_or_else(|| canonical.display().to_string());
            let s = match by_id.get(&ident) {
                Some(&s) => s,
                None => {
                    let (lock, meta) = match (&self.store, &key) {
                        (Some(store), Some(k)) => (store.lock_source(k).ok(), store.load_meta(k)),
                        _ => (None, None),
                    };
                    self.sources.push(SourceEntry {
                        path,
                        key,
                        _lock: lock,
                        meta,
                        probed: false,
                        _download_dir: download_dir.clone().filter(|_| from_download),
                    });
                    by_id.insert(ident, self.sources.len() - 1);
                    self.sources.len() - 1
                }
            };
            self.clips[i].source = Some(s);
        }
        drop(fetched);
    }

    /// Resolves clip `i`'s `src` (a remote one is checked and normalised here), failing the
    /// clip when it may not be used.
    fn resolve_clip_src(&self, i: usize) -> Option<SrcRef> {
        if self.clips[i].failed() {
            return None;
        }
        let r = resolve_src(&self.comp.clips()[i].src, &self.comp.base_dir).and_then(|r| match r {
            SrcRef::Remote(u) => remote::check_url(&u, &self.opts.remote).map(|u| SrcRef::Remote(u.to_string())),
            local => Ok(local),
        });
        r.map_err(|e| self.clips[i].fail(e.kind, e.message)).ok()
    }

    /// Fetches every distinct remote source — from the store when a finished download is
    /// recorded there (no network), else downloaded, up to `jobs` at once. Uncached runs
    /// download into a temporary folder inside the output folder, removed after the run.
    fn fetch_remote(&mut self, refs: &[Option<SrcRef>]) -> (Fetches, Option<Arc<tempfile::TempDir>>) {
        let mut urls: Vec<String> = Vec::new();
        for r in refs.iter().flatten() {
            if let SrcRef::Remote(u) = r {
                if !urls.contains(u) {
                    urls.push(u.clone());
                }
            }
        }
        if urls.is_empty() {
            return (HashMap::new(), None);
        }
        let t = Instant::now();
        let _span = self
            .tracer
            .span("phase", || format!("fetch {} remote source(s)", urls.len()));
        if self.sniff.is_none() {
            // The store-only path takes finished downloads from the store, never the network.
            let stored: Vec<Option<remote::Fetched>> = urls
                .iter()
                .map(|u| self.store.as_ref().and_then(|s| remote::fetch_stored(u, s)))
                .collect();
            if stored.iter().any(Option::is_none) {
                self.needs_media = true;
                return (HashMap::new(), None);
            }
            self.breakdown.download_ms = ms(t);
            return (
                urls.into_iter().zip(stored.into_iter().flatten().map(Ok)).collect(),
                None,
            );
        }
        let download_dir = match (&self.store, &self.out_dir) {
            (None, Some(out)) => tempfile::Builder::new()
                .prefix(&format!(".framex-{}-downloads-", std::process::id()))
                .tempdir_in(out)
                .map(Arc::new)
                .map_err(|e| {
                    self.warnings
                        .push(format!("cannot create a download folder in {}: {e}", out.display()))
                })
                .ok(),
            _ => None,
        };
        let received = AtomicU64::new(0);
        let ctx = FetchContext {
            policy: self.opts.remote,
            cancel: &self.opts.cancel,
            progress: self.opts.progress.as_deref(),
            bytes_received: &received,
        };
        let results = remote::fetch_all(
            &urls,
            self.store.as_ref(),
            download_dir.as_deref().map(|d| d.path()),
            self.jobs,
            &ctx,
        );
        self.breakdown.downloads = results.iter().filter(|r| matches!(r, Ok(f) if f.downloaded)).count() as u64;
        self.breakdown.download_bytes = received.into_inner();
        self.breakdown.download_ms = ms(t);
        (urls.into_iter().zip(results).collect(), download_dir)
    }

    /// Answers clips whose frames the store already holds as a complete clip folder — from the
    /// source's stored metadata, without FFmpeg — and materialises them into `--out` in parallel
    /// (each clip is its own folder, so links to different clips do not contend).
    ///
    /// On the store-only path every clip must be a hit whose folder passes the check, or none
    /// is materialised (`needs_media` is set instead).
    fn whole_clip_hits(&mut self) {
        let _span = self.tracer.span("phase", || "whole-clip hits".into());
        let stored_only = self.sniff.is_none();
        // Every source's colour must be known to choose variants (one HDR source changes how
        // the SDR ones are rendered); a source never probed before sends everything to planning.
        let used = |s: usize| self.clips.iter().any(|st| st.source == Some(s));
        if self.store.is_none() || (0..self.sources.len()).any(|s| used(s) && self.sources[s].meta.is_none()) {
            self.needs_media |= stored_only;
            return;
        }
        let colours = self.stored_colours();
        let hdr = decide_render(&mut self.render, &mut self.warnings, colours, &self.clips);
        let Some(store) = &self.store else { return };
        let mut hits: Vec<(usize, crate::store::ClipHit)> = Vec::new();
        for i in 0..self.clips.len() {
            if !self.pending(i) {
                continue;
            }
            let Some((key, planned, candidates)) = self.stored_candidates(i, hdr) else {
                continue;
            };
            let found = candidates.into_iter().find_map(|ckey| {
                let hit = store.lookup_clip(key, &ckey)?;
                record_holds(&hit.record, &planned).then_some(hit)
            });
            let Some(hit) = found else {
                continue;
            };
            self.clips[i].ext = planned.variant.format.extension();
            self.clips[i].plan = Some(planned);
            hits.push((i, hit));
        }
        if stored_only && !self.store_only_hits(&mut hits) {
            self.needs_media = true;
            for &(i, _) in &hits {
                self.clips[i].plan = None;
            }
            return;
        }
        let (states, out_dir, comp, counters) = (&self.clips, &self.out_dir, self.comp, &self.counters);
        // Checking a folder costs one `statx` per frame (~2 µs) and materialising one link per
        // frame: spread over the cores once that outweighs starting threads (~50 µs each);
        // without --out, a handful of small or already verified hits is answered on this thread.
        let frames: u64 = hits
            .iter()
            .filter(|(_, h)| !h.verified)
            .map(|(_, h)| h.record.frames)
            .sum();
        let workers = if out_dir.is_some() || frames > 256 {
            self.jobs
        } else {
            1
        };
        let damaged = crate::par::map(&hits, workers, |(i, hit)| {
            let st = &states[*i];
            let dir = &hit.dir;
            let ranges = &st.plan.as_ref().expect("a hit is planned").ranges;
            // A folder whose frames went missing or were replaced by something other than a
            // regular file is not a hit: it is moved out of the way and the clip extracted
            // again (its frames mostly come back from the store's frame objects). A folder this
            // process verified before, unchanged since, is not checked again.
            let checked = if hit.verified {
                Ok(())
            } else {
                check_clip_folder(dir, &hit.record)
            };
            if let Err(problem) = checked {
                crate::store::verified::forget(dir);
                let trash = store.temp_path("damaged-clip");
                if std::fs::rename(dir, &trash).is_ok() {
                    let _ = std::fs::remove_dir_all(&trash);
                }
                return Some(format!(
                    "the stored folder of clip {:?} was damaged ({problem}); extracted it again",
                    st.id
                ));
            }
            if let (false, Some(stamps)) = (hit.verified, hit.stamps) {
                crate::store::verified::remember(dir, stamps, hit.record.clone());
            }
            let published = match out_dir {
                Some(out) => {
                    let dest = out.join(&comp.clips()[*i].id);
                    materialize(dir, &dest, ranges, st.ext, counters).map(|_| dest)
                }
                None => Ok(dir.clone()),
            };
            match published {
                Ok(d) => {
                    let _ = st.dir.set(d);
                    st.published.store(true, Ordering::Release);
                    st.cached.store(true, Ordering::Relaxed);
                }
                Err(e) => st.fail_output(&e, format!("cannot materialise clip {:?}: {e}", st.id)),
            }
            None
        });
        for (&(i, _), damage) in hits.iter().zip(damaged) {
            if self.clips[i].failed() || damage.is_some() {
                self.clips[i].plan = None;
            }
            self.warnings.extend(damage);
        }
    }

    /// The colour of every source whose metadata is known (stored, or fetched from the remote
    /// tier): what the render's dynamic range is decided from before any source is opened.
    fn stored_colours(&self) -> Vec<crate::media::source::ColorInfo> {
        self.sources
            .iter()
            .filter_map(|e| e.meta.as_ref())
            .map(|m| m.info().color)
            .collect()
    }

    /// Clip `i` as the store would hold it, from its source's stored metadata (no FFmpeg): its
    /// source's key, its plan, and the clip keys that answer it, a slice's own folder first,
    /// then the whole clip's. `None` when the source's metadata is not known.
    fn stored_candidates(&self, i: usize, hdr: Option<Hdr>) -> Option<(&SourceKey, PlannedClip, Vec<ClipKey>)> {
        let clip = &self.comp.clips()[i];
        let s = self.clips[i].source?;
        let (Some(key), Some(meta)) = (&self.sources[s].key, &self.sources[s].meta) else {
            return None;
        };
        let window = clip_window(self.comp, clip, meta.end()).ok()?;
        let info = meta.info();
        let variant = choose_variant(self.comp, clip, &info, hdr);
        let ranges = self.request().ranges(&clip.id, &window);
        let whole_key = clip_key(&window, &VariantKey::new(&variant, info.rotation));
        let mut candidates = vec![whole_key.clone()];
        if is_partial(&ranges, window.frame_count) {
            candidates.insert(0, partial_clip_key(&whole_key, &ranges));
        }
        let planned = PlannedClip {
            window,
            ranges,
            variant,
            info,
        };
        Some((key, planned, candidates))
    }

    /// The store-only path's condition for answering: every clip is a hit and every folder not
    /// verified before passes the check — made here, before anything is materialised (a damaged
    /// folder is left for [`extract`] to move away and re-extract, with its warning), and
    /// remembered, so the materialising pass does not check it again.
    fn store_only_hits(&self, hits: &mut [(usize, crate::store::ClipHit)]) -> bool {
        if hits.len() != self.clips.len() {
            return false;
        }
        let frames: u64 = hits
            .iter()
            .filter(|(_, h)| !h.verified)
            .map(|(_, h)| h.record.frames)
            .sum();
        let workers = if frames > 256 { self.jobs } else { 1 };
        let sound = crate::par::map(hits, workers, |(_, hit)| {
            hit.verified || check_clip_folder(&hit.dir, &hit.record).is_ok()
        });
        if sound.contains(&false) {
            return false;
        }
        for (_, hit) in hits.iter_mut().filter(|(_, h)| !h.verified) {
            if let Some(stamps) = hit.stamps.take() {
                crate::store::verified::remember(&hit.dir, stamps, hit.record.clone());
            }
            hit.verified = true;
        }
        true
    }

    /// The probe, plan and produce phases of a run left with nothing to produce (every clip
    /// answered from the store), recorded as [`extract`] records them — empty phases, the
    /// progress announcement — without FFmpeg.
    fn nothing_to_produce(&mut self) {
        let t = Instant::now();
        drop(self.tracer.span("phase", || "probe".into()));
        self.breakdown.probe_ms = ms(t);
        let t = Instant::now();
        drop(self.tracer.span("phase", || "plan".into()));
        self.breakdown.plan_ms = ms(t);
        self.report_planned(&[]);
        drop(self.tracer.span("phase", || "decode + encode".into()));
    }

    /// Opens (probe + packet index) every source some pending clip needs, in parallel, and
    /// saves its metadata to the store.
    fn open_sources(&mut self) -> Opened {
        let t = Instant::now();
        let _span = self.tracer.span("phase", || "probe".into());
        let to_open: Vec<SourceNo> = (0..self.sources.len()).filter(|&s| self.source_pending(s)).collect();
        let paths: Vec<PathBuf> = to_open.iter().map(|&s| self.sources[s].path.clone()).collect();
        let mut opened = Opened {
            sources: (0..self.sources.len()).map(|_| None).collect(),
            numbers: to_open.clone(),
        };
        for (&s, r) in to_open.iter().zip(open_all(
            &paths,
            self.jobs,
            &self.opts.cancel,
            self.opts.source_timeout,
            &self.tracer,
        )) {
            if let (Ok(src), Some(store), Some(key)) = (&r, &self.store, &self.sources[s].key) {
                let _ = store.save_meta(key, &StoredMeta::new(&src.info, src.index.end()));
            }
            self.sources[s].probed = r.is_ok();
            opened.sources[s] = Some(r);
        }
        self.breakdown.probe_ms = ms(t);
        opened
    }

    /// Plans every pending clip: window, the source frame of each output frame, and a staging
    /// folder. Returns, per source, the output slots grouped by (source frame, variant).
    fn plan_misses(&mut self, opened: &Opened) -> Vec<SourceNeeds> {
        let t = Instant::now();
        let _span = self.tracer.span("phase", || "plan".into());
        let mut needs: Vec<SourceNeeds> = vec![SourceNeeds::new(); self.sources.len()];
        let colours = (self.sources.iter().zip(&opened.sources))
            .filter_map(|(e, o)| match (o, &e.meta) {
                (Some(Ok(src)), _) => Some(src.info.color.clone()),
                (_, Some(meta)) => Some(meta.info().color),
                _ => None,
            })
            .collect();
        let hdr = decide_render(&mut self.render, &mut self.warnings, colours, &self.clips);
        for (i, clip) in self.comp.clips().iter().enumerate() {
            if !self.pending(i) {
                continue;
            }
            let st = &mut self.clips[i];
            let Some(s) = st.source else { continue };
            let src = match &opened.sources[s] {
                Some(Ok(src)) => src,
                Some(Err(e)) => {
                    st.fail(ErrorKind::from(e), e.to_string());
                    continue;
                }
                None => continue,
            };
            let request = Request {
                frames: self.opts.frames.or(self.comp.frames()),
                indices: self.opts.indices.as_ref(),
            };
            let (planned, frames) = match plan_clip_frames(self.comp, clip, &src.index, &src.info, hdr, &request) {
                Ok(p) => p,
                Err(e) => {
                    st.fail(e.kind, e.message);
                    continue;
                }
            };
            st.ext = planned.variant.format.extension();
            st.out_final = self.out_dir.as_ref().map(|o| o.join(&clip.id));
            // Refuse before any work when OUT/<id> is something framex must not replace.
            if let Some(Err(e)) = st.out_final.as_deref().map(check_replaceable) {
                st.fail_output(&e, e.to_string());
                continue;
            }
            let vkey = VariantKey::new(&planned.variant, src.info.rotation);
            match (&self.store, &self.sources[s].key) {
                (Some(store), Some(key)) => {
                    st.staging = store.temp_path(&format!("clip-{}", clip.id));
                    let (whole_key, n) = (clip_key(&planned.window, &vkey), planned.window.frame_count);
                    let pts = frames.iter().map(|&(_, f)| src.index.pts(f)).collect();
                    // A partial clip gets a folder and a record of its own, never the whole
                    // clip's: a later whole run finds its frames as frame objects instead.
                    let (clip_key, record) = if planned.partial() {
                        (
                            partial_clip_key(&whole_key, &planned.ranges),
                            ClipRecord::partial(n, planned.ranges.clone(), st.ext, vkey.as_str(), pts),
                        )
                    } else {
                        (whole_key, ClipRecord::new(n, st.ext, vkey.as_str(), pts))
                    };
                    st.store = Some(StoreTarget {
                        source: key.clone(),
                        clip_key,
                        record,
                    });
                }
                _ => {
                    st.staging = out_staging(
                        self.out_dir.as_ref().expect("uncached runs have an output folder"),
                        &clip.id,
                    )
                }
            }
            let _ = std::fs::remove_dir_all(&st.staging);
            if let Err(e) = std::fs::create_dir_all(&st.staging) {
                st.fail_output(&e, format!("cannot create {}: {e}", st.staging.display()));
                continue;
            }
            st.remaining.store(count(&planned.ranges), Ordering::Relaxed);
            group_slots(&mut needs[s], i, planned.variant, frames);
            st.plan = Some(planned);
        }
        self.breakdown.plan_ms = ms(t);
        needs
    }

    /// Output frames of the clips `pick` selects (planned ones).
    fn frames_of(&self, pick: impl Fn(usize) -> bool) -> u64 {
        (0..self.clips.len())
            .filter(|&i| pick(i))
            .filter_map(|i| self.clips[i].plan.as_ref())
            .map(|p| count(&p.ranges))
            .sum()
    }

    /// Announces the work planned: frames in all, already there, and per source to decode.
    fn report_planned(&self, opened: &[SourceNo]) {
        let Some(p) = &self.opts.progress else { return };
        p.planned(self.frames_of(|i| !self.clips[i].failed()), opened.len());
        p.wrote(None, self.frames_of(|i| self.clips[i].cached.load(Ordering::Relaxed)));
        for &s in opened {
            p.source_planned(
                s,
                &self.sources[s].name(),
                self.frames_of(|i| self.clips[i].source == Some(s) && self.pending(i)),
            );
        }
    }

    /// Links frames the store already holds into the clips' staging folders, decodes and
    /// encodes the rest (one sweep per source), and publishes each clip when complete.
    fn produce(&mut self, needs: Vec<SourceNeeds>, mut opened: Opened) {
        self.report_planned(&opened.numbers);
        let shared = Shared {
            clips: &self.clips,
            counters: &self.counters,
            cancel: &self.opts.cancel,
            progress: self.opts.progress.as_deref(),
            store: self.store.as_ref(),
            tracer: &self.tracer,
            new_frames: self.tier.as_ref().map(|t| &t.new_frames),
        };
        // Clips with no frames are complete as soon as they are planned.
        for st in &self.clips {
            if !st.failed()
                && !st.is_published()
                && st.remaining.load(Ordering::Relaxed) == 0
                && !st.staging.as_os_str().is_empty()
            {
                publish(st, shared.store, shared.counters, shared.cancel.is_cancelled());
            }
        }
        let mut plans: Vec<SourcePlan> = Vec::new();
        for (s, frames) in needs.into_iter().enumerate() {
            if frames.is_empty() {
                continue;
            }
            let Some(Ok(source)) = opened.sources[s].take() else {
                continue;
            };
            let store = shared.store.zip(self.sources[s].key.as_ref());
            let work = split_stored(frames, store, source.info.rotation, |f| source.index.pts(f));
            // Stored frames are linked (and, for the clips' records, read and hashed once) on
            // every core: this runs before the source's decode starts.
            Counters::add(&self.counters.frames_reused, work.reuse.len() as u64);
            crate::par::map(&work.reuse, self.jobs, |(pts, file, slots)| {
                if let Ok(bytes) = std::fs::read(file) {
                    shared.note_digest(slots, &crate::store::digest(*pts, &bytes));
                }
                shared.fill_slots(file, slots);
            });
            if work.decode.is_empty() {
                continue;
            }
            let (needed, outputs) = work.decode.into_iter().unzip();
            let clips = (0..self.clips.len())
                .filter(|&i| self.clips[i].source == Some(s) && self.clips[i].plan.is_some())
                .collect();
            plans.push(SourcePlan {
                source,
                path: self.sources[s].path.clone(),
                name: self.sources[s].name(),
                needed,
                outputs,
                clips,
            });
        }
        let _span = self.tracer.span("phase", || "decode + encode".into());
        run_pipeline(plans, self.jobs, &shared);
    }

    /// Settles every clip (published, failed or cancelled; staging folders removed), sweeps
    /// the store when due, and builds the result.
    fn finish(mut self) -> ExtractionResult {
        let mut clips = Vec::new();
        let mut errors = Vec::new();
        for (st, clip) in self.clips.iter().zip(self.comp.clips()) {
            if !st.is_published() {
                if !st.staging.as_os_str().is_empty() {
                    let _ = std::fs::remove_dir_all(&st.staging);
                }
                if !st.failed() {
                    if self.opts.cancel.is_cancelled() {
                        st.fail(ErrorKind::Cancelled, "extraction cancelled before this clip finished");
                    } else {
                        st.fail(ErrorKind::Internal, "clip did not complete");
                    }
                }
            }
            if let Some(e) = st.failure.get() {
                errors.push(e.clone());
                continue;
            }
            let PlannedClip {
                window: w,
                ranges,
                variant,
                info,
            } = st.plan.clone().expect("published clip was planned");
            let cached = st.cached.load(Ordering::Relaxed);
            if cached {
                self.breakdown.clip_hits += 1;
            } else {
                self.breakdown.clip_misses += 1;
            }
            if let Some(runs) = self.opts.indices.as_ref().and_then(|ix| ix.get(&clip.id)) {
                use crate::composition::slice::{intersect, runs_to_ranges, whole};
                let named = runs_to_ranges(runs).unwrap_or_default();
                let beyond = count(&named) - count(&intersect(&named, &whole(w.frame_count)));
                if beyond > 0 {
                    self.warnings.push(format!(
                        "clip {:?} has {} frames: {beyond} of the frame indices asked for lie past them and do not exist",
                        clip.id, w.frame_count
                    ));
                }
            }
            let mut timing = ClipTiming::from_window(clip.id.clone(), &w);
            timing.ranges = Some(ranges.clone());
            let (width, height) = variant.size.unwrap_or((info.display_width, info.display_height));
            clips.push(ClipFrames {
                id: clip.id.clone(),
                src: clip.src.clone(),
                frames: count(&ranges),
                ranges,
                dir: st.dir.get().cloned().unwrap_or_default(),
                fps: self.comp.fps().to_f64(),
                format: variant.format,
                transform: Some(variant.transform.name()).filter(|n| !n.is_empty()),
                width,
                height,
                start: w.timeline_start.to_f64(),
                end: w.timeline_end.to_f64(),
                media_start: w.media_time(0).to_f64(),
                playback_rate: w.rate.to_f64(),
                looping: clip.looping,
                metadata: info,
                cached,
                timing,
            });
        }
        self.counters.fill(&mut self.breakdown);
        // Keep the store bounded: sweep when this run wrote something or the last sweep is old.
        if let Some(store) = &self.store {
            if gc::sweep_due(store, self.breakdown.frames_encoded > 0) {
                let _span = self.tracer.span("phase", || "gc".into());
                let t = Instant::now();
                let r = gc::gc(store, self.opts.gc);
                self.breakdown.gc_evictions = r.evictions;
                self.breakdown.gc_bytes_freed = r.bytes_freed;
                self.breakdown.temps_cleared += r.temps_cleared;
                self.breakdown.gc_ms = ms(t);
                if r.bytes_after > self.opts.gc.max_bytes {
                    self.warnings.push(format!(
                        "the store {} stays over its limit after the sweep ({} MiB, limit {} MiB): {} source(s) \
                         used within the last {} min kept, {} held by a running extraction; \
                         `framex cache gc --now` evicts the recent ones",
                        store.root().display(),
                        r.bytes_after >> 20,
                        self.opts.gc.max_bytes >> 20,
                        r.kept_recent,
                        self.opts.gc.min_age.as_secs() / 60,
                        r.kept_in_use
                    ));
                }
            } else {
                // Temporaries of runs that died are swept by every run, even one that only hit
                // the store: one directory read.
                self.breakdown.temps_cleared += gc::sweep_temps(store);
            }
        }
        let total_frames = clips.iter().map(|c| c.frames).sum();
        ExtractionResult {
            success: errors.is_empty(),
            clips,
            errors,
            warnings: self.warnings,
            total_frames,
            duration_ms: ms(self.started),
            breakdown: self.breakdown,
            trace: self.tracer.into_events(),
        }
    }
}

/// Whether a stored clip record holds exactly the frames `planned` asks for.
fn record_holds(rec: &ClipRecord, planned: &PlannedClip) -> bool {
    rec.frames == planned.window.frame_count
        && match &rec.ranges {
            None => true,
            Some(r) => *r == planned.ranges,
        }
}

/// Decides the render's dynamic range (once: later calls return the decision) from `colours`, the
/// colour of every source known now (opened, or described by its stored metadata), and warns when a
/// clip's source could not be read at all: its colour may have changed the decision (an
/// unreachable PQ source leaves the SDR clips unconverted), so retrying only the failed clip may
/// not be enough.
fn decide_render(
    render: &mut Render,
    warnings: &mut Vec<String>,
    colours: Vec<crate::media::source::ColorInfo>,
    clips: &[ClipState],
) -> Option<Hdr> {
    if let Some(hdr) = render.decided() {
        return hdr;
    }
    let hdr = hdr_target(colours.iter());
    // Only failures worth retrying matter: a clip that will not be produced (a missing file, a
    // rejected URL) cannot end up next to the others unconverted.
    let retryable = |st: &ClipState| {
        st.failure
            .get()
            .is_some_and(|e| e.retryable && e.kind != ErrorKind::Cancelled)
    };
    let unknown: Vec<&str> = clips
        .iter()
        .filter(|st| st.source.is_none() && retryable(st))
        .map(|st| st.id.as_str())
        .collect();
    if !unknown.is_empty() && clips.len() > unknown.len() {
        warnings.push(format!(
            "the render's colour ({}) was decided without clip(s) {} whose source could not be read; \
             if one is HDR, the other clips must be extracted again with it",
            match hdr {
                Some(Hdr::Pq) => "HDR, PQ target",
                Some(Hdr::Hlg) => "HDR, HLG target",
                None => "SDR",
            },
            unknown.join(", ")
        ));
    }
    *render = Render::of(hdr);
    hdr
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn open_all(
    paths: &[PathBuf],
    jobs: usize,
    cancel: &CancelToken,
    limit: Option<Duration>,
    tracer: &Tracer,
) -> Vec<Result<Source, MediaError>> {
    crate::par::map(paths, jobs, |path| {
        let _span = tracer.span("probe", || format!("open {}", path.display()));
        Source::open_with_limit(path, cancel.flag(), limit)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_resolve_inside_the_composition_folder() {
        let base = Path::new("/proj");
        let local = |p: &str| SrcRef::Local(PathBuf::from(p));
        assert_eq!(resolve_src("media/a.mp4", base).unwrap(), local("/proj/media/a.mp4"));
        assert_eq!(resolve_src("./media/../a.mp4", base).unwrap(), local("/proj/a.mp4"));
        assert_eq!(resolve_src("/abs/a.mp4", base).unwrap(), local("/abs/a.mp4"));
        for url in ["file:///etc/passwd", "FILE:/etc/passwd", " file:a.mp4"] {
            assert_eq!(
                resolve_src(url, base).unwrap_err().kind,
                ErrorKind::SourceRejected,
                "{url}"
            );
        }
        assert_eq!(
            resolve_src("../secret.mp4", base).unwrap_err().kind,
            ErrorKind::SourceRejected
        );
        assert_eq!(
            resolve_src("a/../../b.mp4", base).unwrap_err().kind,
            ErrorKind::SourceRejected
        );
        assert_eq!(
            resolve_src("https://x/y.mp4", base).unwrap(),
            SrcRef::Remote("https://x/y.mp4".into())
        );
        assert_eq!(
            resolve_src("HTTP://x/../y.mp4", base).unwrap(),
            SrcRef::Remote("HTTP://x/../y.mp4".into())
        );
    }

    #[test]
    fn a_symbolic_link_out_of_the_composition_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (proj, outside) = (dir.path().join("proj"), dir.path().join("outside"));
        std::fs::create_dir_all(proj.join("media")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret.mp4"), b"x").unwrap();
        std::fs::write(proj.join("media/own.mp4"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.join("secret.mp4"), proj.join("media/link.mp4")).unwrap();
        std::os::unix::fs::symlink(&outside, proj.join("dirlink")).unwrap();
        std::os::unix::fs::symlink(proj.join("media/own.mp4"), proj.join("inside.mp4")).unwrap();
        for src in ["media/link.mp4", "dirlink/secret.mp4"] {
            assert_eq!(
                resolve_src(src, &proj).unwrap_err().kind,
                ErrorKind::SourceRejected,
                "{src}"
            );
        }
        assert!(
            resolve_src("inside.mp4", &proj).is_ok(),
            "a link within the folder is fine"
        );
        assert!(
            resolve_src("media/missing.mp4", &proj).is_ok(),
            "missing files fail later"
        );
    }
}
