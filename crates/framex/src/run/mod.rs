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
use std::time::{Duration, Instant};

mod output;
mod pipeline;

pub use output::frame_file_name;

use output::{materialize, out_staging, publish, sweep_stale_staging, ClipState, StoreTarget};
use pipeline::{run_pipeline, Output, Shared, SourcePlan};

use crate::composition::lookup::ClipTiming;
use crate::composition::window::{resolve_window, ClipWindow, WindowError};
use crate::composition::{ClipSpec, Composition, FormatChoice};
use crate::encode::{ImageFormat, Variant};
use crate::media::colour::{hdr_target, transform_for, Hdr, Transform};
use crate::media::{MediaError, MediaInfo, Source};
use crate::remote::{self, FetchContext, RemotePolicy};
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
    /// A remote source is downloading: `done` bytes of `total` (when announced). Reported for
    /// downloads over a few MB, about every MB, and once more at the end (`done == total`).
    fn downloading(&self, _url: &str, _done: u64, _total: Option<u64>) {}
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
    /// Wall-time limit per source ([`DEFAULT_SOURCE_TIMEOUT`] by default; `None`: no limit) for
    /// each stretch of its probe without reading further into the file (every MiB read on
    /// restarts the clock; opening the file, a bounded read, gets one budget) and for each
    /// stretch of decoding without a new frame (every needed frame restarts the clock). The
    /// clock runs only while the source is worked on. A source that
    /// runs out fails its clips — `invalid_media` while probing, `decode_failed` while decoding —
    /// and the other sources carry on.
    pub source_timeout: Option<Duration>,
    /// Which `https://` sources may be fetched and within which limits (size, time; the
    /// testing allowance for private addresses).
    pub remote: RemotePolicy,
}

/// Most output frames one clip may have (about 92 hours at 30 fps).
pub const MAX_CLIP_FRAMES: u64 = 10_000_000;

/// Default of [`ExtractOptions::source_timeout`]: 10 minutes.
pub const DEFAULT_SOURCE_TIMEOUT: Duration = Duration::from_secs(600);

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
            source_timeout: Some(DEFAULT_SOURCE_TIMEOUT),
            remote: RemotePolicy::default(),
        }
    }
}

/// What a clip's `src` names: a file, or a remote source (`http(s)://`, fetched first).
#[derive(Debug, PartialEq)]
enum SrcRef {
    Local(PathBuf),
    Remote(String),
}

/// Where a clip's `src` points, or why it may not be used.
fn resolve_src(src: &str, base: &Path) -> Result<SrcRef, ClipErrorParts> {
    if remote::is_remote(src) {
        return Ok(SrcRef::Remote(src.trim().to_string()));
    }
    let p = Path::new(src.strip_prefix("file://").unwrap_or(src));
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
    Ok(SrcRef::Local(base.join(out)))
}

type ClipErrorParts = (ErrorKind, String);

/// How frames of a source with `info` are rendered in `comp`, whose HDR target is `hdr`.
fn choose_variant(comp: &Composition, info: &MediaInfo, hdr: Option<Hdr>) -> Variant {
    let format = match comp.format {
        FormatChoice::Auto if info.alpha => ImageFormat::Png,
        FormatChoice::Auto | FormatChoice::Jpg => ImageFormat::Jpg,
        FormatChoice::Png => ImageFormat::Png,
    };
    Variant {
        format,
        quality: comp.quality,
        alpha: format == ImageFormat::Png && info.alpha,
        transform: transform_for(&info.color, hdr, comp.tonemap),
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
    /// An uncached run's download folder (removed when the last source using it is dropped).
    _download_dir: Option<Arc<tempfile::TempDir>>,
}

fn variant_key(v: &Variant, rotation: u32) -> String {
    let base = match v.format {
        ImageFormat::Jpg => format!("jpg-q{}-r{rotation}", v.quality),
        ImageFormat::Png => format!("png{}-r{rotation}", if v.alpha { "-a" } else { "" }),
    };
    match v.transform {
        Transform::None => base,
        t => format!("{base}-{}", t.name()),
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
    crate::media::init();
    let mut run = Run::new(comp, opts);
    run.resolve_sources();
    run.whole_clip_hits();
    let opened = run.open_sources();
    let needs = run.plan_misses();
    run.produce(needs, opened);
    run.finish()
}

/// One extraction, phase by phase: resolve → whole-clip hits → probe → plan → produce → finish.
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
    /// Per clip, in composition order.
    states: Vec<ClipState>,
    clip_source: Vec<Option<usize>>,
    planned: Vec<Option<(ClipWindow, Variant, MediaInfo)>>,
    sources: Vec<SourceEntry>,
    /// The composition's HDR target once known (from every source's metadata): `Some(None)`
    /// for an SDR render.
    hdr: Option<Option<Hdr>>,
}

impl<'a> Run<'a> {
    /// Opens the store (or warns and runs uncached) and prepares the output folder.
    fn new(comp: &'a Composition, opts: &'a ExtractOptions) -> Run<'a> {
        let n = comp.clips.len();
        let mut run = Run {
            comp,
            opts,
            started: Instant::now(),
            jobs: available_jobs(opts.jobs),
            tracer: Tracer::new(opts.trace),
            counters: Counters::default(),
            breakdown: Breakdown::default(),
            warnings: Vec::new(),
            store: None,
            out_dir: None,
            states: comp.clips.iter().map(|c| ClipState::new(&c.id)).collect(),
            clip_source: vec![None; n],
            planned: vec![None; n],
            sources: Vec::new(),
            hdr: None,
        };
        run.store = opts.cache_dir.as_ref().and_then(|d| match Store::open(d) {
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
                    run.breakdown.temps_cleared += sweep_stale_staging(&o);
                    run.out_dir = Some(o);
                }
                Err(e) => run.fail_all(
                    ErrorKind::OutputFailed,
                    &format!("cannot create the output folder {}: {e}", o.display()),
                ),
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

    fn fail_all(&self, kind: ErrorKind, message: &str) {
        for st in &self.states {
            st.fail(kind, message);
        }
    }

    /// Clips still to be produced (not failed, not answered from the store).
    fn pending(&self, i: usize) -> bool {
        !self.states[i].failed() && !self.states[i].is_published()
    }

    /// Resolves every clip's `src` and identifies each distinct source — by content with a
    /// store, else by canonical path — taking a shared store lock on it for the whole run.
    fn resolve_sources(&mut self) {
        let refs: Vec<Option<SrcRef>> = (0..self.comp.clips.len()).map(|i| self.resolve_clip_src(i)).collect();
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
                        self.states[i].fail(e.kind, e.message.clone());
                        continue;
                    }
                    None => {
                        self.states[i].fail(ErrorKind::Internal, format!("{url} was not fetched"));
                        continue;
                    }
                },
            };
            let canonical = std::fs::canonicalize(&path).unwrap_or(path.clone());
            let key = match &self.store {
                // A download was hashed as it arrived: no need to read it again.
                _ if known_key.is_some() => known_key,
                Some(store) if canonical.is_file() => match store.source_key(&canonical) {
                    Ok(k) => Some(k),
                    Err(e) => {
                        self.states[i].fail(ErrorKind::InvalidMedia, format!("cannot read {}: {e}", path.display()));
                        continue;
                    }
                },
                _ => None,
            };
            let ident = key
                .as_ref()
                .map(|k| k.0.clone())
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
                        opened: None,
                        _download_dir: download_dir.clone().filter(|_| from_download),
                    });
                    by_id.insert(ident, self.sources.len() - 1);
                    self.sources.len() - 1
                }
            };
            self.clip_source[i] = Some(s);
        }
        drop(fetched);
    }

    /// Resolves clip `i`'s `src` (a remote one is checked and normalised here), failing the
    /// clip when it may not be used.
    fn resolve_clip_src(&self, i: usize) -> Option<SrcRef> {
        if self.states[i].failed() {
            return None;
        }
        let r = resolve_src(&self.comp.clips[i].src, &self.comp.base_dir).and_then(|r| match r {
            SrcRef::Remote(u) => remote::check_url(&u, &self.opts.remote)
                .map(|u| SrcRef::Remote(u.to_string()))
                .map_err(|e| (e.kind, e.message)),
            local => Ok(local),
        });
        r.map_err(|(kind, msg)| self.states[i].fail(kind, msg)).ok()
    }

    /// Fetches every distinct remote source — from the store when a finished download is
    /// recorded there (no network), else downloaded, up to `jobs` at once. Uncached runs
    /// download into a temporary folder inside the output folder, removed after the run.
    #[allow(clippy::type_complexity)]
    fn fetch_remote(
        &mut self,
        refs: &[Option<SrcRef>],
    ) -> (
        HashMap<String, Result<remote::Fetched, remote::RemoteError>>,
        Option<Arc<tempfile::TempDir>>,
    ) {
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

    /// Decides the composition's HDR target from the colour of every source known now (opened,
    /// or described by its stored metadata) and warns when a clip's source could not be read at
    /// all: its colour may have changed the decision (an unreachable PQ source leaves the SDR
    /// clips unconverted), so retrying only the failed clip may not be enough.
    fn decide_hdr(&self) -> (Option<Hdr>, Option<String>) {
        fn colour(e: &SourceEntry) -> Option<&crate::media::source::ColorInfo> {
            match (&e.opened, &e.meta) {
                (Some(Ok(src)), _) => Some(&src.info.color),
                (_, Some(meta)) => Some(&meta.info.color),
                _ => None,
            }
        }
        let hdr = hdr_target(self.sources.iter().filter_map(colour));
        // Only failures worth retrying matter: a clip that will not be produced (a missing
        // file, a rejected URL) cannot end up next to the others unconverted.
        let retryable = |i: usize| {
            self.states[i]
                .failure
                .get()
                .is_some_and(|e| e.retryable && e.kind != ErrorKind::Cancelled)
        };
        let unknown: Vec<&str> = (0..self.comp.clips.len())
            .filter(|&i| self.clip_source[i].is_none() && retryable(i))
            .map(|i| self.comp.clips[i].id.as_str())
            .collect();
        let others = self.comp.clips.len() - unknown.len();
        let warning = (!unknown.is_empty() && others > 0).then(|| {
            format!(
                "the render's colour ({}) was decided without clip(s) {} whose source could not be read; \
                 if one is HDR, the other clips must be extracted again with it",
                match hdr {
                    Some(Hdr::Pq) => "HDR, PQ target",
                    Some(Hdr::Hlg) => "HDR, HLG target",
                    None => "SDR",
                },
                unknown.join(", ")
            )
        });
        (hdr, warning)
    }

    /// Answers clips whose frames the store already holds as a complete clip folder — from the
    /// source's stored metadata, without FFmpeg — and materialises them into `--out` in parallel
    /// (each clip is its own folder, so links to different clips do not contend).
    fn whole_clip_hits(&mut self) {
        let _span = self.tracer.span("phase", || "whole-clip hits".into());
        let Some(store) = &self.store else { return };
        // Every source's colour must be known to choose variants (one HDR source changes how
        // the SDR ones are rendered); a source never probed before sends everything to planning.
        let used = |s: usize| (0..self.comp.clips.len()).any(|i| self.clip_source[i] == Some(s));
        if (0..self.sources.len()).any(|s| used(s) && self.sources[s].meta.is_none()) {
            return;
        }
        let (hdr, warning) = self.decide_hdr();
        self.hdr = Some(hdr);
        self.warnings.extend(warning);
        let mut hits: Vec<(usize, PathBuf, u64)> = Vec::new();
        for i in 0..self.comp.clips.len() {
            let Some(s) = self.clip_source[i] else { continue };
            let (Some(key), Some(meta)) = (&self.sources[s].key, &self.sources[s].meta) else {
                continue;
            };
            let end = Rational::new(meta.end[0], meta.end[1].max(1));
            let Ok(window) = resolve_window(&self.comp.clips[i], self.comp.fps, self.comp.timeline_end, end) else {
                continue;
            };
            let variant = choose_variant(self.comp, &meta.info, hdr);
            let ckey = clip_key(&window, &variant_key(&variant, meta.info.rotation));
            let Some(rec) = store.lookup_clip(key, &ckey) else {
                continue;
            };
            if rec.frames != window.frame_count {
                continue;
            }
            self.states[i].ext = variant.format.extension();
            self.planned[i] = Some((window, variant, meta.info.clone()));
            hits.push((i, store.clip_dir(key, &ckey), rec.frames));
        }
        let next = AtomicU64::new(0);
        let (states, out_dir, comp, counters) = (&self.states, &self.out_dir, self.comp, &self.counters);
        std::thread::scope(|scope| {
            let work = || loop {
                let h = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some((i, dir, frames)) = hits.get(h) else { break };
                let st = &states[*i];
                let published = match out_dir {
                    Some(out) => {
                        let dest = out.join(&comp.clips[*i].id);
                        materialize(dir, &dest, *frames, st.ext, counters).map(|_| dest)
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
            let workers = if out_dir.is_some() {
                self.jobs.min(hits.len())
            } else {
                0
            };
            for _ in 1..workers {
                scope.spawn(work);
            }
            work();
        });
        for &(i, _, _) in &hits {
            if self.states[i].failed() {
                self.planned[i] = None;
            }
        }
    }

    /// Opens (probe + packet index) every source some pending clip needs, in parallel, and
    /// saves its metadata to the store. Returns the sources opened.
    fn open_sources(&mut self) -> Vec<usize> {
        let t = Instant::now();
        let _span = self.tracer.span("phase", || "probe".into());
        let n = self.comp.clips.len();
        let to_open: Vec<usize> = (0..self.sources.len())
            .filter(|&s| (0..n).any(|i| self.clip_source[i] == Some(s) && self.pending(i)))
            .collect();
        let paths: Vec<PathBuf> = to_open.iter().map(|&s| self.sources[s].path.clone()).collect();
        for (&s, r) in to_open.iter().zip(open_all(
            &paths,
            self.jobs,
            &self.opts.cancel,
            self.opts.source_timeout,
            &self.tracer,
        )) {
            if let (Ok(src), Some(store), Some(key)) = (&r, &self.store, &self.sources[s].key) {
                let end = src.index.end();
                let _ = store.save_meta(
                    key,
                    &SourceMeta {
                        info: src.info.clone(),
                        end: [end.num(), end.den()],
                    },
                );
            }
            self.sources[s].opened = Some(r);
        }
        self.breakdown.probe_ms = ms(t);
        to_open
    }

    /// Plans every pending clip: window, the source frame of each output frame, and a staging
    /// folder. Returns, per source, the output slots grouped by (source frame, variant).
    fn plan_misses(&mut self) -> Vec<SourceNeeds> {
        let t = Instant::now();
        let _span = self.tracer.span("phase", || "plan".into());
        let mut needs: Vec<SourceNeeds> = vec![BTreeMap::new(); self.sources.len()];
        let hdr = match self.hdr {
            Some(hdr) => hdr,
            None => {
                let (hdr, warning) = self.decide_hdr();
                self.hdr = Some(hdr);
                self.warnings.extend(warning);
                hdr
            }
        };
        for i in 0..self.comp.clips.len() {
            if !self.pending(i) {
                continue;
            }
            let Some(s) = self.clip_source[i] else { continue };
            let clip = &self.comp.clips[i];
            let st = &mut self.states[i];
            let src = match &self.sources[s].opened {
                Some(Ok(src)) => src,
                Some(Err(e)) => {
                    st.fail(ErrorKind::from(e), e.to_string());
                    continue;
                }
                None => continue,
            };
            let (window, variant, slots) = match plan_clip(self.comp, clip, src, hdr) {
                Ok(p) => p,
                Err((kind, msg)) => {
                    st.fail(kind, msg);
                    continue;
                }
            };
            st.ext = variant.format.extension();
            st.out_final = self.out_dir.as_ref().map(|o| o.join(&clip.id));
            let vkey = variant_key(&variant, src.info.rotation);
            match (&self.store, &self.sources[s].key) {
                (Some(store), Some(key)) => {
                    st.staging = store.temp_path(&format!("clip-{}", clip.id));
                    st.store = Some(StoreTarget {
                        source: key.clone(),
                        clip_key: clip_key(&window, &vkey),
                        record: ClipRecord {
                            frames: window.frame_count,
                            ext: st.ext.to_string(),
                            variant: vkey,
                            pts: slots.iter().map(|&f| src.index.pts(f)).collect(),
                        },
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
            self.planned[i] = Some((window, variant, src.info.clone()));
        }
        self.breakdown.plan_ms = ms(t);
        needs
    }

    /// Links frames the store already holds into the clips' staging folders, decodes and
    /// encodes the rest (one sweep per source), and publishes each clip when complete.
    fn produce(&mut self, needs: Vec<SourceNeeds>, opened: Vec<usize>) {
        let n = self.comp.clips.len();
        if let Some(p) = &self.opts.progress {
            let frames_of = |pick: &dyn Fn(usize) -> bool| -> u64 {
                (0..n)
                    .filter(|&i| pick(i))
                    .filter_map(|i| self.planned[i].as_ref())
                    .map(|p| p.0.frame_count)
                    .sum()
            };
            p.planned(frames_of(&|i| !self.states[i].failed()), opened.len());
            p.wrote(None, frames_of(&|i| self.states[i].cached.load(Ordering::Relaxed)));
            for &s in &opened {
                let name = self.sources[s]
                    .path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                p.source_planned(
                    s,
                    &name,
                    frames_of(&|i| self.clip_source[i] == Some(s) && self.pending(i)),
                );
            }
        }
        let shared = Shared {
            clips: &self.states,
            counters: &self.counters,
            cancel: &self.opts.cancel,
            progress: self.opts.progress.as_deref(),
            store: self.store.as_ref(),
            tracer: &self.tracer,
        };
        // Clips with no frames are complete as soon as they are planned.
        for st in &self.states {
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
            let Some(Ok(source)) = self.sources[s].opened.take() else {
                continue;
            };
            let key = self.sources[s].key.clone();
            let rotation = source.info.rotation;
            let mut stored: HashMap<Variant, std::collections::HashSet<i64>> = HashMap::new();
            let mut needed: Vec<usize> = Vec::new();
            let mut outputs: Vec<Vec<Output>> = Vec::new();
            for ((frame, variant), slots) in frames {
                let object = match (shared.store, &key) {
                    (Some(store), Some(key)) => {
                        let vkey = variant_key(&variant, rotation);
                        let ext = variant.format.extension();
                        let pts = source.index.pts(frame);
                        let have = stored
                            .entry(variant)
                            .or_insert_with(|| store.existing_frames(key, &vkey, ext));
                        let obj = store.frame_path(key, &vkey, pts, ext);
                        if have.contains(&pts) {
                            Counters::add(&self.counters.frames_reused, 1);
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
                .filter(|&i| self.clip_source[i] == Some(s) && self.planned[i].is_some())
                .collect();
            let name = self.sources[s]
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
        let _span = self.tracer.span("phase", || "decode + encode".into());
        run_pipeline(plans, self.jobs, &shared);
    }

    /// Settles every clip (published, failed or cancelled; staging folders removed), sweeps
    /// the store when due, and builds the result.
    fn finish(mut self) -> ExtractionResult {
        let mut clips = Vec::new();
        let mut errors = Vec::new();
        for (i, st) in self.states.iter().enumerate() {
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
            let (w, variant, info) = self.planned[i].clone().expect("published clip was planned");
            let clip = &self.comp.clips[i];
            let cached = st.cached.load(Ordering::Relaxed);
            if cached {
                self.breakdown.clip_hits += 1;
            } else {
                self.breakdown.clip_misses += 1;
            }
            clips.push(ClipFrames {
                id: clip.id.clone(),
                src: clip.src.clone(),
                frames: w.frame_count,
                dir: st.dir.get().cloned().unwrap_or_default(),
                fps: self.comp.fps.to_f64(),
                format: variant.format,
                transform: Some(variant.transform.name()).filter(|n| !n.is_empty()),
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
                let r = Source::open_with_limit(&paths[i], cancel.flag(), limit);
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
    hdr: Option<Hdr>,
) -> Result<(ClipWindow, Variant, Vec<usize>), ClipErrorParts> {
    let window = resolve_window(clip, comp.fps, comp.timeline_end, src.index.end()).map_err(window_error)?;
    if window.frame_count > MAX_CLIP_FRAMES {
        // A plan is a few words per output frame: refuse absurd clips (e.g. a loop with an end
        // a million hours away) instead of exhausting memory.
        return Err((
            ErrorKind::SourceRejected,
            format!(
                "the clip would have {} frames, more than the limit of {MAX_CLIP_FRAMES} per clip; shorten its end",
                window.frame_count
            ),
        ));
    }
    let slots = (0..window.frame_count)
        .map(|k| {
            src.index
                .frame_at(window.media_time(k), comp.fps)
                .expect("non-empty index")
        })
        .collect();
    Ok((window, choose_variant(comp, &src.info, hdr), slots))
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
        assert_eq!(
            resolve_src("../secret.mp4", base).unwrap_err().0,
            ErrorKind::SourceRejected
        );
        assert_eq!(
            resolve_src("a/../../b.mp4", base).unwrap_err().0,
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
}
