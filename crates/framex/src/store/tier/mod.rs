//! The remote tier: the store's keys on S3-compatible object storage, shared by a fleet.
//!
//! The local [`Store`](super::Store) stays the first tier; this one sits beside it at the
//! level of typed keys and frame sets, never under it (object storage has no hard links,
//! `flock` or renames). It holds, under `<prefix>/framex-r1/src/<source key>/`:
//!
//! ```text
//! meta                          sealed meta.json (probe metadata + playable end)
//! clips/<clip key>              sealed .complete record (frames in order + their digests)
//! frames/<variant>/<segment>    packed frames (see `segment`): <first>_<last>_<count>_<id>.fxs
//! ```
//!
//! Its contract, the local store's rules restated for object storage:
//! - **Immutable, content-addressed objects.** A segment's name is the hash of its index, which
//!   holds every frame's hash; records are named by the key of what they describe. So two
//!   writers of one object write the same thing: uploads use `PutMode::Create` and take
//!   "already exists" as success. No locks, no read-modify-write.
//! - **Atomic visibility.** A PUT is visible whole or not at all (S3's guarantee; no multipart
//!   upload is used), so a writer killed mid-upload leaves nothing behind. Records are uploaded
//!   after the segments of their frames.
//! - **Nothing unverified enters the local store.** Records carry a seal (BLAKE3 of their
//!   body); every frame is checked against its segment's index and, where a clip record gives
//!   one, against the record's digest, before it is written under `tmp/` and renamed into the
//!   local store. A damaged or foreign object is reported and skipped.
//! - **Failure never fails a render.** The first failed request (after the client's own
//!   bounded retries) turns the tier off for the rest of the run with one warning; the run
//!   decodes what it could not download.
//! - **Blocking at the edge.** The client is async; its runtime lives here and every method
//!   blocks. The run's threads never see `async`.

pub mod config;
pub mod ops;
pub mod segment;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3ConfigKey;
use object_store::path::Path as ObjPath;
use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, ObjectStoreExt, PutMode, PutPayload, RetryConfig};

use super::keys::{ClipKey, SourceKey, VariantKey};
use segment::SegmentName;

/// The remote layout's version: the first part of every key under the prefix.
pub const FORMAT_DIR: &str = "framex-r1";
/// Segments close at this many frames or bytes, whichever comes first (bounds the memory of
/// an upload or download in flight: `concurrency` × this).
pub const SEGMENT_MAX_FRAMES: usize = 256;
pub const SEGMENT_MAX_BYTES: usize = 16 << 20;
/// Byte ranges of one segment closer than this are fetched in one request.
const COALESCE_GAP: u64 = 1 << 20;
const SEAL: &str = "framex-sealed-v1 ";

/// How to reach the remote tier and how long a run may wait on it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemoteStoreOptions {
    /// `s3://bucket/prefix`.
    pub url: String,
    /// The longest a run waits, after its frames are published locally, for uploads to finish.
    /// What is still pending then is abandoned (never half-visible) and reported. Default 30 s.
    pub flush_limit: Duration,
    /// Requests in flight at once. Default 8.
    pub concurrency: usize,
}

impl RemoteStoreOptions {
    pub fn new(url: impl Into<String>) -> RemoteStoreOptions {
        RemoteStoreOptions {
            url: url.into(),
            flush_limit: Duration::from_secs(30),
            concurrency: 8,
        }
    }

    pub fn with_flush_limit(mut self, d: Duration) -> Self {
        self.flush_limit = d;
        self
    }

    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }
}

/// What the tier did in one run (the result's `remote*` counters).
#[derive(Debug, Default)]
pub struct TierCounters {
    pub requests: AtomicU64,
    pub frames_down: AtomicU64,
    pub bytes_down: AtomicU64,
    pub frames_up: AtomicU64,
    pub bytes_up: AtomicU64,
    pub objects_up: AtomicU64,
    /// Objects refused: damaged, foreign, or failing their hash.
    pub damaged: AtomicU64,
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// An open remote tier.
pub struct RemoteTier {
    rt: tokio::runtime::Runtime,
    store: Arc<dyn ObjectStore>,
    root: ObjPath,
    url: String,
    concurrency: usize,
    /// Why the tier is off for the rest of the run (the first failure), if it is.
    down: Mutex<Option<String>>,
    /// The server refused conditional PUTs: plain (idempotent) PUTs from then on.
    no_create: AtomicBool,
    damage: Mutex<Vec<String>>,
    pub counters: TierCounters,
}

impl std::fmt::Debug for RemoteTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteTier")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// One upload: built lazily (segments read their frames only when their turn comes), so
/// memory stays at `concurrency` objects.
pub enum Upload {
    Meta(SourceKey, Vec<u8>),
    /// Frames `(pts, local file)` of one source and variant, in pts order, and their bytes.
    Segment(SourceKey, VariantKey, Vec<(i64, std::path::PathBuf)>, u64),
    /// A clip record, uploaded only once every segment of its source went up.
    Clip(SourceKey, ClipKey, Vec<u8>),
}

/// What a flush did and left.
#[derive(Debug, Default, Clone, Copy)]
pub struct Flushed {
    pub pending: u64,
    pub pending_bytes: u64,
    pub timed_out: bool,
}

/// A tier failure: the cause is remembered and the tier turned off.
#[derive(Debug)]
pub struct Down(pub String);

impl RemoteTier {
    /// Connects to `opts.url` (no request is made yet).
    pub fn open(opts: &RemoteStoreOptions) -> Result<RemoteTier, String> {
        let url = config::RemoteUrl::parse(&opts.url)?;
        // rustls needs a process-wide crypto provider; ring is the one framex links (ureq).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_millis(500),
                base: 2.0,
            },
            max_retries: 2,
            retry_timeout: Duration::from_secs(5),
        };
        // Set key by key: `with_client_options` would drop what the environment set
        // (`AWS_ALLOW_HTTP`).
        let s3 = config::builder(&url)
            .with_retry(retry)
            .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout), "2s")
            .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), "30s")
            .build()
            .map_err(|e| format!("remote store {}: {e}", opts.url))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("framex-remote")
            .enable_all()
            .build()
            .map_err(|e| format!("remote store: cannot start its I/O runtime: {e}"))?;
        Ok(RemoteTier {
            rt,
            store: Arc::new(s3),
            root: url.prefix.clone().join(FORMAT_DIR),
            url: opts.url.clone(),
            concurrency: opts.concurrency.max(1),
            down: Mutex::new(None),
            no_create: AtomicBool::new(false),
            damage: Mutex::new(Vec::new()),
            counters: TierCounters::default(),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Why the tier is off, if a request failed this run.
    pub fn down_reason(&self) -> Option<String> {
        self.down.lock().expect("not poisoned").clone()
    }

    /// The damaged or foreign objects met this run, one line each.
    pub fn take_damage(&self) -> Vec<String> {
        std::mem::take(&mut *self.damage.lock().expect("not poisoned"))
    }

    fn fail(&self, what: &str, e: impl std::error::Error) -> Down {
        let mut d = self.down.lock().expect("not poisoned");
        let msg = d.get_or_insert_with(|| format!("{what}: {}", causes(&e))).clone();
        Down(msg)
    }

    fn damaged(&self, what: String) {
        add(&self.counters.damaged, 1);
        self.damage.lock().expect("not poisoned").push(what);
    }

    fn check(&self) -> Result<(), Down> {
        match self.down_reason() {
            Some(r) => Err(Down(r)),
            None => Ok(()),
        }
    }

    fn source_dir(&self, source: &SourceKey) -> ObjPath {
        self.root.clone().join("src").join(source.as_str())
    }

    fn meta_path(&self, source: &SourceKey) -> ObjPath {
        self.source_dir(source).join("meta")
    }

    fn clip_path(&self, source: &SourceKey, clip: &ClipKey) -> ObjPath {
        self.source_dir(source).join("clips").join(clip.as_str())
    }

    fn frames_dir(&self, source: &SourceKey, variant: &VariantKey) -> ObjPath {
        self.source_dir(source).join("frames").join(variant.as_str())
    }

    /// GETs a whole object; `None` if it does not exist.
    async fn get(&self, path: &ObjPath) -> Result<Option<Bytes>, Down> {
        self.check()?;
        add(&self.counters.requests, 1);
        let r = async { self.store.get(path).await?.bytes().await }.await;
        match r {
            Ok(b) => {
                add(&self.counters.bytes_down, b.len() as u64);
                Ok(Some(b))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.fail(&format!("reading {path}"), e)),
        }
    }

    async fn get_range(&self, path: &ObjPath, range: Range<u64>) -> Result<Bytes, Down> {
        self.check()?;
        add(&self.counters.requests, 1);
        match self.store.get_range(path, range).await {
            Ok(b) => {
                add(&self.counters.bytes_down, b.len() as u64);
                Ok(b)
            }
            Err(e) => Err(self.fail(&format!("reading {path}"), e)),
        }
    }

    /// PUTs an object unless it exists (then ours would be the same bytes).
    async fn put(&self, path: &ObjPath, bytes: Vec<u8>) -> Result<(), Down> {
        self.check()?;
        let n = bytes.len() as u64;
        let payload = PutPayload::from(bytes);
        add(&self.counters.requests, 1);
        let create = !self.no_create.load(Ordering::Relaxed);
        let mode = if create { PutMode::Create } else { PutMode::Overwrite };
        let r = self.store.put_opts(path, payload.clone(), mode.into()).await;
        let r = match r {
            Err(object_store::Error::NotImplemented { .. }) if create => {
                self.no_create.store(true, Ordering::Relaxed);
                add(&self.counters.requests, 1);
                self.store.put(path, payload).await
            }
            r => r,
        };
        match r {
            Ok(_) => {
                add(&self.counters.bytes_up, n);
                add(&self.counters.objects_up, 1);
                Ok(())
            }
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => Ok(()),
            Err(e) => Err(self.fail(&format!("writing {path}"), e)),
        }
    }

    /// Lists every object under `dir` with its size.
    async fn list(&self, dir: &ObjPath) -> Result<Vec<object_store::ObjectMeta>, Down> {
        self.check()?;
        let found: Result<Vec<_>, _> = self.store.list(Some(dir)).try_collect().await;
        match found {
            Ok(v) => {
                // S3 lists up to 1000 keys a page.
                add(&self.counters.requests, 1 + v.len() as u64 / 1000);
                Ok(v)
            }
            Err(e) => Err(self.fail(&format!("listing {dir}"), e)),
        }
    }

    /// A sealed record's body, if the object exists and its seal holds (else `None`, with the
    /// damage reported).
    async fn get_sealed(&self, path: &ObjPath) -> Result<Option<Vec<u8>>, Down> {
        let Some(bytes) = self.get(path).await? else {
            return Ok(None);
        };
        match unseal(&bytes) {
            Some(body) => Ok(Some(body.to_vec())),
            None => {
                self.damaged(format!(
                    "{path}: a record whose seal does not hold (damaged or foreign); ignored"
                ));
                Ok(None)
            }
        }
    }

    /// Source metadata records for `sources` (bounded parallel GETs), in order.
    pub fn get_metas(&self, sources: &[SourceKey]) -> Result<Vec<Option<Vec<u8>>>, Down> {
        self.rt.block_on(async {
            stream::iter(sources)
                .map(|s| async move { self.get_sealed(&self.meta_path(s)).await })
                .buffered(self.concurrency)
                .try_collect()
                .await
        })
    }

    /// Clip records for `(source, clip)` pairs, in order.
    pub fn get_clips(&self, clips: &[(SourceKey, ClipKey)]) -> Result<Vec<Option<Vec<u8>>>, Down> {
        self.rt.block_on(async {
            stream::iter(clips)
                .map(|(s, c)| async move { self.get_sealed(&self.clip_path(s, c)).await })
                .buffered(self.concurrency)
                .try_collect()
                .await
        })
    }

    /// Fetches frames `wanted` of one source and variant: lists its segments, reads the headers
    /// (or whole segments, when most of one is wanted) of those that span a wanted frame, then
    /// the wanted frames' bytes by range. Each frame is checked against its segment's index and
    /// `expect(pts)` (a record's `(size, hash prefix)`, where there is one) before `put` gets
    /// it. Returns the frames delivered.
    pub fn fetch_frames(
        &self,
        source: &SourceKey,
        variant: &VariantKey,
        wanted: &BTreeSet<i64>,
        expect: &(dyn Fn(i64) -> Option<(u64, String)> + Sync),
        put: &(dyn Fn(i64, &[u8]) + Sync),
    ) -> Result<u64, Down> {
        if wanted.is_empty() {
            return Ok(0);
        }
        self.rt.block_on(async {
            let dir = self.frames_dir(source, variant);
            let mut segments = Vec::new();
            for o in self.list(&dir).await? {
                let name = o.location.filename().unwrap_or_default();
                match SegmentName::parse(name) {
                    Some(n) => segments.push((n, o.location.clone(), o.size)),
                    None => self.damaged(format!("{}: not a framex segment name; ignored", o.location)),
                }
            }
            // Largest segments first: fewer requests, and a wanted frame is taken from one.
            segments.sort_by(|a, b| b.0.count.cmp(&a.0.count).then_with(|| a.0.id.cmp(&b.0.id)));
            let mut remaining = wanted.clone();
            let mut delivered = 0u64;
            let mut used = vec![false; segments.len()];
            // A segment that spans a frame may still lack it (sparse runs): a second pass
            // asks the next segment that spans what is left.
            for _pass in 0..3 {
                let mut picks: BTreeMap<usize, Vec<i64>> = BTreeMap::new();
                for &pts in &remaining {
                    if let Some(i) = (0..segments.len()).find(|&i| !used[i] && segments[i].0.spans(pts)) {
                        picks.entry(i).or_default().push(pts);
                    }
                }
                if picks.is_empty() {
                    break;
                }
                for &i in picks.keys() {
                    used[i] = true;
                }
                let results: Vec<Vec<i64>> = stream::iter(picks)
                    .map(|(i, want)| {
                        let (name, path, size) = &segments[i];
                        async move { self.fetch_from(name, path, *size, &want, expect, put).await }
                    })
                    .buffer_unordered(self.concurrency)
                    .try_collect()
                    .await?;
                for got in results {
                    delivered += got.len() as u64;
                    for p in got {
                        remaining.remove(&p);
                    }
                }
                if remaining.is_empty() {
                    break;
                }
            }
            Ok(delivered)
        })
    }

    /// The frames `want` that one segment holds, verified and handed to `put`.
    async fn fetch_from(
        &self,
        name: &SegmentName,
        path: &ObjPath,
        size: u64,
        want: &[i64],
        expect: &(dyn Fn(i64) -> Option<(u64, String)> + Sync),
        put: &(dyn Fn(i64, &[u8]) + Sync),
    ) -> Result<Vec<i64>, Down> {
        let head_len = segment::header_len(name.count);
        // Most of it wanted: one request for the whole object.
        let whole = want.len() as u64 * 2 >= name.count as u64;
        let (head, body) = if whole {
            match self.get(path).await? {
                Some(b) => (b.slice(..(head_len as usize).min(b.len())), Some(b)),
                None => return Ok(Vec::new()),
            }
        } else {
            (self.get_range(path, 0..head_len.min(size)).await?, None)
        };
        let entries = match segment::read_header(name, &head, size) {
            Ok(e) => e,
            Err(why) => {
                self.damaged(format!("{path}: {why}; ignored"));
                return Ok(Vec::new());
            }
        };
        let by_pts: HashMap<i64, &segment::Entry> = entries.iter().map(|e| (e.pts, e)).collect();
        let mut held: Vec<&segment::Entry> = want.iter().filter_map(|p| by_pts.get(p).copied()).collect();
        held.sort_by_key(|e| e.start);
        // The byte ranges to read: the frames, merged where close.
        let mut ranges: Vec<(Range<u64>, Vec<&segment::Entry>)> = Vec::new();
        for e in held {
            let r = e.start..e.start + e.len as u64;
            match ranges.last_mut() {
                Some((last, members)) if r.start <= last.end + COALESCE_GAP => {
                    last.end = last.end.max(r.end);
                    members.push(e);
                }
                _ => ranges.push((r, vec![e])),
            }
        }
        let mut got = Vec::new();
        for (range, members) in ranges {
            let bytes = match &body {
                Some(b) if range.end as usize <= b.len() => b.slice(range.start as usize..range.end as usize),
                _ => self.get_range(path, range.clone()).await?,
            };
            for e in members {
                let off = (e.start - range.start) as usize;
                let Some(frame) = bytes.get(off..off + e.len as usize) else {
                    self.damaged(format!("{path}: frame at pts {} is truncated; ignored", e.pts));
                    continue;
                };
                // One hash per frame answers both: the segment's index, the record's digest.
                let hash = blake3::hash(frame);
                let index_ok = frame.len() == e.len as usize && hash.as_bytes() == &e.hash;
                let record_ok =
                    expect(e.pts).is_none_or(|(n, h)| n == frame.len() as u64 && hash.to_hex().starts_with(h.as_str()));
                if !index_ok || !record_ok {
                    self.damaged(format!(
                        "{path}: frame at pts {} does not match its hash; ignored",
                        e.pts
                    ));
                    continue;
                }
                put(e.pts, frame);
                add(&self.counters.frames_down, 1);
                got.push(e.pts);
            }
        }
        Ok(got)
    }

    /// Uploads `jobs` (metadata and segments first, then the clip records of sources whose
    /// segments all went up), giving up at `deadline`. Returns what was done and left.
    pub fn flush(&self, jobs: Vec<Upload>, deadline: Instant) -> Flushed {
        let (mut first, mut records) = (Vec::new(), Vec::new());
        for j in jobs {
            match j {
                Upload::Clip(..) => records.push(j),
                _ => first.push(j),
            }
        }
        let total = (first.len() + records.len()) as u64;
        let size = |j: &Upload| match j {
            Upload::Meta(_, b) | Upload::Clip(_, _, b) => b.len() as u64,
            Upload::Segment(_, _, _, bytes) => *bytes,
        };
        let left_bytes: u64 = first.iter().chain(&records).map(size).sum();
        let done = AtomicU64::new(0);
        let done_bytes = AtomicU64::new(0);
        let failed_sources: Mutex<BTreeSet<SourceKey>> = Mutex::new(BTreeSet::new());
        let run = async {
            let one = |j: Upload| {
                let (done, done_bytes, failed_sources) = (&done, &done_bytes, &failed_sources);
                async move {
                    let n = size(&j);
                    let (source, ok) = match j {
                        Upload::Meta(s, b) => {
                            let ok = self.put(&self.meta_path(&s), seal(&b)).await.is_ok();
                            (s, ok)
                        }
                        Upload::Clip(s, c, b) => {
                            let skip = failed_sources.lock().expect("not poisoned").contains(&s);
                            let ok = !skip && self.put(&self.clip_path(&s, &c), seal(&b)).await.is_ok();
                            (s, ok)
                        }
                        Upload::Segment(s, v, frames, _) => {
                            let ok = self.put_segment(&s, &v, &frames).await.is_ok();
                            (s, ok)
                        }
                    };
                    if ok {
                        done.fetch_add(1, Ordering::Relaxed);
                        done_bytes.fetch_add(n, Ordering::Relaxed);
                    } else {
                        failed_sources.lock().expect("not poisoned").insert(source);
                    }
                }
            };
            stream::iter(first).for_each_concurrent(self.concurrency, one).await;
            stream::iter(records).for_each_concurrent(self.concurrency, one).await;
        };
        let timed_out = self
            .rt
            .block_on(async { tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), run).await })
            .is_err();
        Flushed {
            pending: total - done.load(Ordering::Relaxed),
            pending_bytes: left_bytes.saturating_sub(done_bytes.load(Ordering::Relaxed)),
            timed_out,
        }
    }

    /// Reads one run of frames from the local store and uploads it as a segment. Frames whose
    /// file went missing meanwhile (evicted) are left out.
    async fn put_segment(
        &self,
        s: &SourceKey,
        v: &VariantKey,
        frames: &[(i64, std::path::PathBuf)],
    ) -> Result<(), Down> {
        self.check()?;
        let mut data = Vec::with_capacity(frames.len());
        for (pts, p) in frames {
            if let Ok(b) = std::fs::read(p) {
                data.push((*pts, b));
            }
        }
        if data.is_empty() {
            return Ok(());
        }
        let n = data.len() as u64;
        let packed = segment::pack(&data);
        drop(data);
        let path = self.frames_dir(s, v).join(packed.name.to_string().as_str());
        self.put(&path, packed.bytes).await?;
        add(&self.counters.frames_up, n);
        Ok(())
    }

    /// Every object under the tier's root: `(key relative to the root, size, last modified
    /// as Unix seconds)`.
    pub fn list_all(&self) -> Result<Vec<(String, u64, i64)>, Down> {
        self.rt.block_on(async {
            let root = &self.root;
            let all = self.list(root).await?;
            Ok(all
                .into_iter()
                .map(|o| {
                    let rel: Vec<String> = o
                        .location
                        .prefix_match(root)
                        .map(|parts| parts.map(|p| p.as_ref().to_string()).collect())
                        .unwrap_or_default();
                    (rel.join("/"), o.size, o.last_modified.timestamp())
                })
                .collect())
        })
    }

    /// Reads whole objects (relative keys), `None` where absent.
    pub fn read_all(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>, Down> {
        self.rt.block_on(async {
            stream::iter(keys)
                .map(|k| async move { self.get(&self.rel(k)).await })
                .buffered(self.concurrency)
                .try_collect()
                .await
        })
    }

    /// Deletes objects (relative keys). Returns how many went.
    pub fn delete_all(&self, keys: &[String]) -> Result<u64, Down> {
        self.rt.block_on(async {
            let n: Vec<()> = stream::iter(keys)
                .map(|k| async move {
                    self.check()?;
                    add(&self.counters.requests, 1);
                    match self.store.delete(&self.rel(k)).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                        Err(e) => Err(self.fail(&format!("deleting {k}"), e)),
                    }
                })
                .buffer_unordered(self.concurrency)
                .try_collect()
                .await?;
            Ok(n.len() as u64)
        })
    }

    fn rel(&self, key: &str) -> ObjPath {
        key.split('/').fold(self.root.clone(), |p, part| p.join(part))
    }
}

/// An error and its causes, `a: b: c` (the client's top-level messages alone rarely say
/// what went wrong: "builder error", "error sending request").
fn causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(c) = next {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = c.source();
    }
    out
}

/// A record body with its seal: `framex-sealed-v1 <blake3 hex of body>\n<body>`.
pub fn seal(body: &[u8]) -> Vec<u8> {
    let mut out = format!("{SEAL}{}\n", blake3::hash(body).to_hex()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// The body of a sealed record, if its seal holds.
pub fn unseal(bytes: &[u8]) -> Option<&[u8]> {
    let rest = bytes.strip_prefix(SEAL.as_bytes())?;
    let (hex, body) = (rest.get(..64)?, rest.get(65..)?);
    (rest.get(64) == Some(&b'\n') && blake3::hash(body).to_hex().as_bytes() == hex).then_some(body)
}

/// Splits one source's new frames `(pts, file)` (any order) into segment-sized runs, each with
/// its bytes in all.
pub fn segment_runs(mut frames: Vec<(i64, std::path::PathBuf)>) -> Vec<(Vec<(i64, std::path::PathBuf)>, u64)> {
    frames.sort_by_key(|f| f.0);
    frames.dedup_by_key(|f| f.0);
    let mut runs: Vec<(Vec<(i64, std::path::PathBuf)>, u64)> = Vec::new();
    for f in frames {
        let len = std::fs::metadata(&f.1).map(|m| m.len()).unwrap_or(0);
        let full = runs
            .last()
            .is_none_or(|(r, bytes)| r.len() >= SEGMENT_MAX_FRAMES || bytes + len > SEGMENT_MAX_BYTES as u64);
        if full {
            runs.push((Vec::new(), 0));
        }
        let (run, bytes) = runs.last_mut().expect("a run is open");
        run.push(f);
        *bytes += len;
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seal_holds_only_for_its_body() {
        let s = seal(b"{\"a\":1}");
        assert_eq!(unseal(&s), Some(&b"{\"a\":1}"[..]));
        let mut bad = s.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(unseal(&bad), None);
        assert_eq!(unseal(b"{\"a\":1}"), None);
        assert_eq!(unseal(&s[..s.len() - 1]), None);
    }

    #[test]
    fn runs_close_at_the_frame_limit() {
        let frames: Vec<_> = (0..(SEGMENT_MAX_FRAMES as i64 + 10))
            .rev()
            .map(|i| (i * 512, std::path::PathBuf::from("/nonexistent")))
            .collect();
        let runs = segment_runs(frames);
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].0.len(), SEGMENT_MAX_FRAMES);
        assert_eq!(runs[0].0[0].0, 0);
        assert!(runs
            .iter()
            .flat_map(|r| &r.0)
            .collect::<Vec<_>>()
            .windows(2)
            .all(|w| w[0].0 < w[1].0));
    }
}
