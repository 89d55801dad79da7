//! The Node-API addon behind the npm package `framex` (`npm/framex`): a thin layer over the
//! library, loaded by the package's JavaScript, which owns the public API (`extract`, `probe`,
//! `FrameLookup`, the HyperFrames drop-in) and its TypeScript declarations.
//!
//! For: moving a call off the JS thread and back. Every export that does work returns a
//! promise computed on the libuv pool (napi `AsyncTask`); cancel goes through a
//! [`CancelHandle`] (the JS side connects it to an `AbortSignal`), progress through a
//! threadsafe function called in non-blocking mode, so a slow listener never stalls decoding.
//! Not for: policy. Compositions are read by the library's readers, option rules are the
//! library's; results cross as the result JSON of contract §3 (a string the JS side parses:
//! one `JSON.parse` is cheaper than building the object through Node-API call by call).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use framex::{CancelToken, ExtractOptions, FormatChoice, Progress, Rational};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

/// What to extract: a composition file (HTML or JSON by extension) or manifest JSON text.
#[napi(object)]
pub struct CompositionInput {
    /// A `.json` / `.html` composition file.
    pub path: Option<String>,
    /// Manifest JSON text (contract §1).
    pub manifest: Option<String>,
    /// Folder relative `src` paths of `manifest` resolve against.
    pub base_dir: Option<String>,
}

/// The CLI's options (`framex extract --help`), by their camelCase names. Sizes in bytes,
/// times in seconds.
#[napi(object)]
pub struct NativeOptions {
    pub out_dir: Option<String>,
    /// Store folder, `"off"` for none; `None`: the default folder (`FRAMEX_CACHE_DIR`, else
    /// `~/.cache/framex`).
    pub cache_dir: Option<String>,
    pub cache_max: Option<f64>,
    /// Number or exact `"num/den"` text, overriding the composition.
    pub fps: Option<String>,
    /// `auto` | `jpg` | `png`, overriding the composition.
    pub format: Option<String>,
    pub quality: Option<u32>,
    pub tonemap: Option<bool>,
    /// `"WxH"`: every clip's frames drawn within that box (`--max-size`).
    pub max_size: Option<String>,
    pub jobs: Option<u32>,
    /// `0`: no limit.
    pub source_timeout: Option<f64>,
    pub download_max: Option<f64>,
    pub download_timeout: Option<f64>,
    pub download_stall_timeout: Option<f64>,
    pub allow_private_network: Option<bool>,
    /// Timeline slice: composition frames `[start, end)` (`framex extract --frames A..B`).
    pub frames: Option<Vec<f64>>,
    /// Timeline slice in seconds `[start, end)`, numbers or exact text (`--time S..E`).
    pub time: Option<Vec<String>>,
    /// Per-clip frame index runs, JSON text `{"<clipId>": [{"firstFrame": N, "frames": N}]}`
    /// (`--indices FILE`).
    pub indices: Option<String>,
    /// The remote store tier, `s3://bucket/prefix` (`--remote-store`); `None` or `"off"`: none.
    pub remote_store: Option<String>,
    /// Seconds the run waits for uploads to the remote tier (`--remote-flush-limit`).
    pub remote_flush_limit: Option<f64>,
}

/// A progress report: `done` of `total` output files exist; `source` names the source that
/// wrote last (when known).
#[napi(object)]
#[derive(Clone)]
pub struct ProgressEvent {
    pub done: f64,
    pub total: f64,
    pub source: Option<String>,
}

/// Stops a running extraction: the JS side calls [`CancelHandle::cancel`] from an
/// `AbortSignal`'s `abort` event. Work in flight stops within one frame's decode and encode.
#[napi]
pub struct CancelHandle {
    token: CancelToken,
}

#[napi]
impl CancelHandle {
    #[napi(constructor)]
    #[allow(clippy::new_without_default)] // napi constructors take no Default
    pub fn new() -> CancelHandle {
        CancelHandle {
            token: CancelToken::new(),
        }
    }

    #[napi]
    pub fn cancel(&self) {
        self.token.cancel();
    }
}

/// Unref'd (weak): a pending progress callback never keeps the process alive on its own; the
/// extraction's promise does.
type ProgressFn = ThreadsafeFunction<ProgressEvent, (), ProgressEvent, Status, false, true>;

/// Forwards library progress to JS at most every [`PROGRESS_EVERY`] (and at the start and the
/// end), so 1 800 frames do not queue 1 800 calls on the event loop.
struct JsProgress {
    callback: ProgressFn,
    total: AtomicU64,
    done: AtomicU64,
    names: Mutex<Vec<String>>,
    last: Mutex<Option<Instant>>,
}

const PROGRESS_EVERY: Duration = Duration::from_millis(50);

impl JsProgress {
    fn send(&self, source: Option<usize>, force: bool) {
        let now = Instant::now();
        {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if !force && last.is_some_and(|l| now.duration_since(l) < PROGRESS_EVERY) {
                return;
            }
            *last = Some(now);
        }
        let name = source.and_then(|s| {
            let names = self.names.lock().unwrap_or_else(|e| e.into_inner());
            names.get(s).cloned()
        });
        let event = ProgressEvent {
            done: self.done.load(Ordering::Relaxed) as f64,
            total: self.total.load(Ordering::Relaxed) as f64,
            source: name,
        };
        // Non-blocking: a full queue or a closing environment drops the report, never waits.
        let _ = self.callback.call(event, ThreadsafeFunctionCallMode::NonBlocking);
    }
}

impl Progress for JsProgress {
    fn planned(&self, frames: u64, _sources: usize) {
        self.total.store(frames, Ordering::Relaxed);
        self.send(None, true);
    }

    fn source_planned(&self, source: usize, name: &str, _frames: u64) {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        if names.len() <= source {
            names.resize(source + 1, String::new());
        }
        names[source] = name.to_string();
    }

    fn wrote(&self, source: Option<usize>, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        self.send(source, done >= self.total.load(Ordering::Relaxed));
    }
}

pub struct ExtractTask {
    input: CompositionInput,
    options: NativeOptions,
    cancel: CancelToken,
    progress: Option<Arc<JsProgress>>,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(Status::InvalidArg, message.into())
}

fn seconds(name: &str, v: f64) -> Result<Duration> {
    if v.is_finite() && v > 0.0 && v < 1e9 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(invalid(format!(
            "{name}: expected a positive number of seconds, got {v}"
        )))
    }
}

fn bytes(name: &str, v: f64) -> Result<u64> {
    if v.is_finite() && v >= 1.0 && v.fract() == 0.0 && v <= 2f64.powi(53) {
        Ok(v as u64)
    } else {
        Err(invalid(format!("{name}: expected a whole number of bytes, got {v}")))
    }
}

impl ExtractTask {
    fn run(&mut self) -> Result<String> {
        let o = &self.options;
        let mut opts = ExtractOptions::default();
        opts.out_dir = o.out_dir.as_ref().map(PathBuf::from);
        opts.cache_dir = framex::cache::resolve_dir(o.cache_dir.as_deref());
        opts.check()
            .map_err(|_| invalid("with the cache off (cacheDir: \"off\"), outDir is required"))?;
        if let Some(m) = o.cache_max {
            opts.gc.max_bytes = bytes("cacheMax", m)?;
        }
        opts.jobs = o.jobs.unwrap_or(0) as usize;
        opts.cancel = self.cancel.clone();
        opts.progress = self.progress.clone().map(|p| p as Arc<dyn Progress>);
        if let Some(t) = o.source_timeout {
            opts.source_timeout = if t == 0.0 {
                None
            } else {
                Some(seconds("sourceTimeout", t)?)
            };
        }
        opts.remote.allow_private_network = o.allow_private_network.unwrap_or(false);
        if let Some(m) = o.download_max {
            opts.remote.max_bytes = bytes("downloadMax", m)?;
        }
        if let Some(t) = o.download_timeout {
            opts.remote.set_timeout(seconds("downloadTimeout", t)?);
        }
        if let Some(t) = o.download_stall_timeout {
            opts.remote.stall_timeout = seconds("downloadStallTimeout", t)?;
        }
        if let Some(url) = o
            .remote_store
            .as_deref()
            .filter(|u| !u.trim().is_empty() && !framex::cache::is_off(u))
        {
            let mut r = framex::cache::RemoteStoreOptions::new(url.trim());
            if let Some(t) = o.remote_flush_limit {
                r = r.with_flush_limit(seconds("remoteFlushLimit", t)?);
            }
            opts.remote_store = Some(r);
        }

        let mut comp = match (&self.input.path, &self.input.manifest) {
            (Some(path), None) => framex::read_composition(std::path::Path::new(path)),
            (None, Some(text)) => {
                let base = self.input.base_dir.as_deref().unwrap_or(".");
                framex::parse_manifest(text, "composition", std::path::Path::new(base))
            }
            _ => return Err(invalid("give a composition path or a manifest object")),
        }
        .map_err(|e| invalid(e.to_string()))?;
        if let Some(f) = &o.fps {
            let fps = Rational::parse_rate(f).ok_or_else(|| {
                invalid(format!(
                    "fps: expected a positive number up to 1000 or \"num/den\", got {f:?}"
                ))
            })?;
            comp.set_fps(fps).map_err(|e| invalid(e.to_string()))?;
        }
        if let Some(f) = &o.format {
            comp.format = match f.as_str() {
                "auto" => FormatChoice::Auto,
                "jpg" | "jpeg" => FormatChoice::Jpg,
                "png" => FormatChoice::Png,
                other => return Err(invalid(format!("format: expected auto, jpg or png, got {other:?}"))),
            };
        }
        if let Some(q) = o.quality {
            let q = u8::try_from(q).map_err(|_| invalid(format!("quality: expected 1-100, got {q}")))?;
            comp.set_quality(q).map_err(|e| invalid(format!("quality: {e}")))?;
        }
        if let Some(t) = o.tonemap {
            comp.tonemap |= t;
        }
        if let Some(m) = &o.max_size {
            let b = framex::DrawSize::parse(m).ok_or_else(|| {
                invalid(format!(
                    "maxSize: expected \"WxH\" or {{width, height}}, whole numbers of pixels from 2 to {}, got {m:?}",
                    framex::MAX_DRAW_SIDE
                ))
            })?;
            comp.max_size = comp.max_size.within(b);
        }
        if let Some(f) = &o.frames {
            let [a, b] = f[..] else {
                return Err(invalid("frames: expected [start, end]"));
            };
            let whole =
                |v: f64| (v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 2f64.powi(53)).then_some(v as u64);
            let (Some(a), Some(b)) = (whole(a), whole(b)) else {
                return Err(invalid(format!("frames: expected whole frame numbers, got [{a}, {b}]")));
            };
            opts.frames = Some(framex::FrameRange::new(a, b).map_err(|e| invalid(format!("frames: {}", e.message)))?);
        }
        // As `framex extract --time`: the slice in seconds, taking the place of `frames`.
        if let Some(t) = &o.time {
            let [a, b] = &t[..] else {
                return Err(invalid("time: expected [start, end] in seconds"));
            };
            let secs = |s: &str| {
                Rational::parse_seconds(s).ok_or_else(|| invalid(format!("time: expected seconds, got {s:?}")))
            };
            opts.frames = Some(
                framex::FrameRange::from_time(secs(a)?, secs(b)?, comp.fps())
                    .map_err(|e| invalid(format!("time: {}", e.message)))?,
            );
        }
        if let Some(text) = &o.indices {
            opts.indices = Some(framex::parse_indices(text).map_err(|e| invalid(format!("indices: {e}")))?);
        }
        opts.check_for(&comp).map_err(invalid)?;
        let result = framex::extract(&comp, &opts);
        serde_json::to_string(&result).map_err(|e| Error::from_reason(format!("result: {e}")))
    }
}

impl Task for ExtractTask {
    type Output = String;
    type JsValue = String;

    fn compute(&mut self) -> Result<String> {
        self.run()
    }

    fn resolve(&mut self, _env: Env, output: String) -> Result<String> {
        Ok(output)
    }
}

/// Runs an extraction off the JS thread; resolves with the result JSON text. Input errors
/// (an unreadable composition, a bad option) reject with status `InvalidArg`.
#[napi(ts_return_type = "Promise<string>")]
pub fn extract(
    input: CompositionInput,
    options: NativeOptions,
    cancel: &CancelHandle,
    #[napi(ts_arg_type = "((event: ProgressEvent) => void) | undefined | null")] on_progress: Option<ProgressFn>,
) -> AsyncTask<ExtractTask> {
    let progress = on_progress.map(|callback| {
        Arc::new(JsProgress {
            callback,
            total: AtomicU64::new(0),
            done: AtomicU64::new(0),
            names: Mutex::new(Vec::new()),
            last: Mutex::new(None),
        })
    });
    AsyncTask::new(ExtractTask {
        input,
        options,
        cancel: cancel.token.clone(),
        progress,
    })
}

pub struct ProbeTask {
    path: String,
}

impl Task for ProbeTask {
    type Output = String;
    type JsValue = String;

    fn compute(&mut self) -> Result<String> {
        let info = framex::probe(std::path::Path::new(&self.path))
            .map_err(|e| Error::new(Status::GenericFailure, format!("{}: {e}", self.path)))?;
        serde_json::to_string(&info).map_err(|e| Error::from_reason(e.to_string()))
    }

    fn resolve(&mut self, _env: Env, output: String) -> Result<String> {
        Ok(output)
    }
}

/// Probes a source (no decoding); resolves with its metadata JSON text.
#[napi(ts_return_type = "Promise<string>")]
pub fn probe(path: String) -> AsyncTask<ProbeTask> {
    AsyncTask::new(ProbeTask { path })
}

/// The lookup of `framex frame` over the clips of a result: built from each clip's exact
/// `timing` (the result JSON's `"num/den"` text), so the answers equal the CLI's.
#[napi]
pub struct NativeLookup {
    lookup: framex::FrameLookup,
}

#[napi]
impl NativeLookup {
    /// `timings`: JSON text of the clips' `timing` objects, in result order.
    #[napi(constructor)]
    pub fn new(timings: String) -> Result<NativeLookup> {
        let clips: Vec<framex::ClipTiming> =
            serde_json::from_str(&timings).map_err(|e| invalid(format!("result clips' timing: {e}")))?;
        Ok(NativeLookup {
            lookup: framex::FrameLookup::new(clips),
        })
    }

    /// Every clip on screen at `t` (seconds, a number or exact decimal / `"num/den"` text) as
    /// a flat `[clipIndex, frameIndex, extracted (1 or 0), …]` list; `extracted` is 0 for a
    /// frame on screen that this result (a slice's) did not extract.
    #[napi]
    pub fn at(&self, t: Either<f64, String>) -> Result<Vec<f64>> {
        let t = match t {
            Either::A(v) => Rational::from_f64_decimal(v),
            Either::B(s) => Rational::parse_seconds(&s),
        }
        .ok_or_else(|| invalid("t: expected a finite time in seconds"))?;
        Ok(self
            .lookup
            .shown_at(t)
            .into_iter()
            .flat_map(|(clip, shown)| match shown {
                framex::Shown::Frame(k) => [clip as f64, k as f64, 1.0],
                framex::Shown::NotExtracted(k) => [clip as f64, k as f64, 0.0],
            })
            .collect())
    }
}

/// The file name of 0-based frame `k` (`frame_00001.jpg` for 0).
#[napi]
pub fn frame_file_name(k: f64, extension: String) -> String {
    framex::frame_file_name(k as u64, &extension)
}
