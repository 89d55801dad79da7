//! Remote sources: a clip `src` that is an `https://` URL is downloaded once into the store,
//! keyed by content, and then used like a local file.
//!
//! Safety rules (contract §6, `source_rejected`):
//! - only `https://`; plain `http://` and any other scheme are refused, except under the testing
//!   allowance ([`RemotePolicy::allow_private_network`]), which permits `http://` too;
//! - every address a host name resolves to is checked before connecting, and the connection is
//!   made only to those checked addresses (the resolver hands ureq exactly the list it checked,
//!   so there is no second lookup to rebind): loopback, private, link-local, CGNAT, unspecified,
//!   broadcast, multicast, documentation/benchmarking/reserved ranges, IPv6 unique-local and the
//!   IPv4-mapped/compatible/NAT64/6to4 forms of those are refused unless allowed; a literal IP
//!   in the URL is held to the same rules;
//! - redirects are followed by hand (at most [`MAX_REDIRECTS`]), each hop checked again;
//!   an `https` → `http` downgrade is refused;
//! - the body may not exceed [`RemotePolicy::max_bytes`] (checked against `Content-Length`
//!   before reading and while streaming); the whole download is bounded by
//!   [`RemotePolicy::timeout`] and a silence longer than [`RemotePolicy::stall_timeout`] fails it.
//!
//! A download is written to `downloads/<url id>.part` with a sidecar (validator, length) and
//! hashed on the way in. An interrupted download resumes with `Range` + `If-Range` (in the same
//! run, and in a later one); a `200` answer restarts it from zero. The finished file is synced
//! and renamed into `src/<content key>/remote.<ext>`, and `urls/<url id>.json` records the
//! URL. A later run that finds the record uses the file without any network request: URLs are
//! treated as immutable (a changed remote file needs a new URL, or `framex cache clear`).
//! Uncached runs download into a temporary folder deleted at the end of the run.

use std::collections::HashSet;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::{header, Response, StatusCode};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};
use ureq::{Agent, Body, Timeout};
use url::{Host, Url};

use crate::control::{CancelToken, Progress};
use crate::error::{ErrorKind, Failure};
use crate::store::downloads::{url_id, PartialInfo};
use crate::store::{SourceKey, SourceLock, Store};

/// Default body size limit: 2 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 2 << 30;
/// Default limit on a whole download (all hops and retries): 10 minutes.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// Default limit on silence (no byte received): 30 s.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Redirects followed at most.
pub const MAX_REDIRECTS: usize = 5;
/// Attempts at one download within a run (a retry only after a dropped connection that had
/// delivered bytes; it resumes where the last one stopped).
const MAX_ATTEMPTS: usize = 3;
/// Downloads larger than this (or of unknown size) report progress.
const PROGRESS_MIN_BYTES: u64 = 4 << 20;

/// What remote sources may be fetched, and within which limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemotePolicy {
    /// **For tests and local development only.** Lifts the address checks (loopback, private,
    /// link-local … become reachable) and permits plain `http://`, so a test can serve files
    /// from a server on 127.0.0.1.
    pub allow_private_network: bool,
    /// Largest body accepted, in bytes.
    pub max_bytes: u64,
    /// Limit on a whole download: connecting, redirects, retries and the body.
    pub timeout: Duration,
    /// A download that receives nothing for this long fails ("stalled").
    pub stall_timeout: Duration,
}

impl Default for RemotePolicy {
    fn default() -> Self {
        RemotePolicy {
            allow_private_network: false,
            max_bytes: DEFAULT_MAX_BYTES,
            timeout: DEFAULT_TIMEOUT,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
        }
    }
}

impl RemotePolicy {
    /// Sets the limit on a whole download. A stall limit longer than the whole limit could
    /// never fire, so it is lowered to `timeout` too; set [`RemotePolicy::stall_timeout`]
    /// afterwards to choose it separately.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
        self.stall_timeout = self.stall_timeout.min(timeout);
    }
}

fn rejected(url: &str, why: impl fmt::Display) -> Failure {
    Failure {
        kind: ErrorKind::SourceRejected,
        message: format!("remote source {url} refused: {why}"),
    }
}

fn failed(url: &str, why: impl fmt::Display) -> Failure {
    Failure {
        kind: ErrorKind::DownloadFailed,
        message: format!("cannot download {url}: {why}"),
    }
}

fn missing(url: &str, why: impl fmt::Display) -> Failure {
    Failure {
        kind: ErrorKind::SourceMissing,
        message: format!("remote source {url} not found: {why}"),
    }
}

fn cancelled(url: &str) -> Failure {
    Failure {
        kind: ErrorKind::Cancelled,
        message: format!("download of {url} cancelled"),
    }
}

/// Whether a clip `src` is a URL to fetch (`scheme://…` other than `file://`, any case): only
/// `https://` (and `http://` under the testing allowance) pass [`check_url`]; other schemes are
/// refused there rather than read as odd relative paths.
pub fn is_remote(src: &str) -> bool {
    let Some((scheme, _)) = src.trim_start().split_once("://") else {
        return false;
    };
    let b = scheme.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || b"+.-".contains(c))
        && !scheme.eq_ignore_ascii_case("file")
}

/// Why an address may not be fetched from (without the testing allowance), or `None` if it is
/// a public unicast address.
pub fn forbidden_address(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "unspecified (\"this network\")",
        (10, _, _) => "private",
        (100, 64..=127, _) => "shared address space (CGNAT)",
        (127, _, _) => "loopback",
        (169, 254, _) => "link-local",
        (172, 16..=31, _) => "private",
        (192, 0, 0) => "reserved (IETF protocol assignments)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (192, 88, 99) => "reserved (6to4 relay anycast)",
        (192, 168, _) => "private",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, _, _) => "multicast",
        _ if ip.is_broadcast() => "broadcast",
        (240..=255, _, _) => "reserved",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    let embedded = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    // IPv4-mapped ::ffff:a.b.c.d and the deprecated IPv4-compatible ::a.b.c.d.
    if s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0) {
        return forbidden_v4(embedded(s[6], s[7])).or(if s[5] == 0 {
            Some("reserved (IPv4-compatible)")
        } else {
            None
        });
    }
    // NAT64 well-known prefix 64:ff9b::/96 reaches the embedded IPv4 address.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return forbidden_v4(embedded(s[6], s[7]));
    }
    // 6to4 2002:a.b.c.d::/48 (deprecated, RFC 7526) reaches the embedded IPv4 address through
    // public relays: refused whatever it embeds.
    if s[0] == 0x2002 {
        return forbidden_v4(embedded(s[1], s[2])).or(Some("reserved (6to4)"));
    }
    Some(match s[0] {
        0x0064 if s[1] == 0xff9b && s[2] == 1 => "reserved (local-use NAT64)",
        0x0100 if s[1..4] == [0, 0, 0] => "reserved (discard-only)",
        0x2001 if s[1] == 0 => "reserved (Teredo)",
        0x2001 if s[1] == 2 && s[2] == 0 => "benchmarking",
        0x2001 if (0x10..=0x2f).contains(&s[1]) => "reserved (ORCHID)",
        0x2001 if s[1] == 0x0db8 => "documentation",
        0x3fff if s[1] < 0x1000 => "documentation",
        0xfc00..=0xfdff => "unique local (IPv6 ULA)",
        0xfe80..=0xfebf => "link-local",
        0xfec0..=0xfeff => "site-local (deprecated)",
        0xff00..=0xffff => "multicast",
        _ => return None,
    })
}

/// Parses a remote `src` and checks what can be checked without the network: the scheme (only
/// `https`, or `http` under the testing allowance), no credentials, a host, and a literal IP
/// host against [`forbidden_address`]. Returns the normalised URL (fragment removed).
pub fn check_url(text: &str, policy: &RemotePolicy) -> Result<Url, Failure> {
    let text = text.trim();
    let mut u = Url::parse(text).map_err(|e| rejected(text, format!("not a valid URL ({e})")))?;
    match u.scheme() {
        "https" => {}
        "http" if policy.allow_private_network => {}
        "http" => {
            return Err(rejected(
                text,
                "plain http:// is not allowed, use https:// (http is permitted only with the \
                 testing allowance --allow-private-network)",
            ))
        }
        other => return Err(rejected(text, format!("the scheme {other}: is not supported"))),
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(rejected(text, "credentials in URLs are not supported"));
    }
    let ip = match u.host() {
        None => return Err(rejected(text, "the URL has no host")),
        Some(Host::Domain(_)) => None,
        Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
    };
    if let (Some(ip), false) = (ip, policy.allow_private_network) {
        if let Some(why) = forbidden_address(ip) {
            return Err(rejected(text, format!("address {ip} is {why}")));
        }
    }
    u.set_fragment(None);
    Ok(u)
}

/// The file extension a download keeps (from the URL's last path segment; `mp4` otherwise).
pub fn url_extension(u: &Url) -> String {
    u.path_segments()
        .and_then(|mut s| s.next_back())
        .and_then(|name| name.rsplit_once('.'))
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .filter(|e| (1..=8).contains(&e.len()) && e.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "mp4".to_string())
}

/// A resolver that checks every address a host resolves to and hands ureq only checked ones:
/// the connection goes to an address that was checked, with no second lookup.
struct CheckedResolver {
    allow_private_network: bool,
    inner: DefaultResolver,
    /// Why the last resolution was refused (read back to report `source_rejected`).
    refused: Arc<Mutex<Option<String>>>,
}

impl fmt::Debug for CheckedResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckedResolver")
            .field("allow_private_network", &self.allow_private_network)
            .finish()
    }
}

impl Resolver for CheckedResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let refuse = |why: String| {
            *self.refused.lock().unwrap_or_else(|p| p.into_inner()) = Some(why.clone());
            Err(ureq::Error::Io(io::Error::new(io::ErrorKind::PermissionDenied, why)))
        };
        if !self.allow_private_network && uri.scheme_str() != Some("https") {
            return refuse(format!("the scheme of {uri} is not https"));
        }
        let addrs = self.inner.resolve(uri, config, timeout)?;
        if !self.allow_private_network {
            for a in addrs.iter() {
                if let Some(why) = forbidden_address(a.ip()) {
                    let host = uri.host().unwrap_or("");
                    return refuse(format!("{host} resolves to {}, which is {why}", a.ip()));
                }
            }
        }
        Ok(addrs)
    }
}

/// Where a fetch may keep its bytes: the store (resumable, shared) or a run's temporary folder.
pub enum Destination<'a> {
    Store(&'a Store),
    Temp(&'a Path),
}

/// A fetched remote source, ready to be opened like a local file.
#[derive(Debug)]
pub struct Fetched {
    pub path: PathBuf,
    /// Content key (known with a store: the bytes were hashed as they arrived).
    pub key: Option<SourceKey>,
    /// Shared lock on the source in the store, held until the caller takes its own.
    pub _lock: Option<SourceLock>,
    /// Whether bytes came over the network in this call (false: answered from the store).
    pub downloaded: bool,
}

impl Fetched {
    /// A finished download found in the store: no network involved.
    fn stored(hit: crate::store::downloads::StoredUrl) -> Fetched {
        Fetched {
            path: hit.path,
            key: Some(hit.key),
            _lock: Some(hit.lock),
            downloaded: false,
        }
    }
}

/// The finished download of `url` (normalised by [`check_url`]) recorded in `store`, if any:
/// what [`fetch`] answers without the network. The store-only path takes nothing else.
pub fn fetch_stored(url: &str, store: &Store) -> Option<Fetched> {
    store.lookup_url(url).map(Fetched::stored)
}

/// Per-fetch settings and the run's shared state.
pub struct FetchContext<'a> {
    pub policy: RemotePolicy,
    pub cancel: &'a CancelToken,
    pub progress: Option<&'a dyn Progress>,
    /// Bytes received over the network, summed over every fetch using this context.
    pub bytes_received: &'a AtomicU64,
}

/// Fetches the remote source `text`: from the store when a finished download of this URL is
/// recorded there (no network at all), else by downloading it.
pub fn fetch(text: &str, dest: Destination<'_>, ctx: &FetchContext<'_>) -> Result<Fetched, Failure> {
    let url = check_url(text, &ctx.policy)?;
    let url_s = url.as_str().to_string();
    let ext = url_extension(&url);
    if ctx.cancel.is_cancelled() {
        return Err(cancelled(&url_s));
    }
    match dest {
        Destination::Store(store) => {
            if let Some(hit) = store.lookup_url(&url_s) {
                return Ok(Fetched::stored(hit));
            }
            let id = url_id(&url_s);
            let cancel_flag = ctx.cancel.flag();
            let _url_lock = match store.lock_url(&id, &cancel_flag) {
                Ok(Some(l)) => l,
                Ok(None) => return Err(cancelled(&url_s)),
                Err(e) => return Err(output_failed(&url_s, &store.url_lock_path(&id), e)),
            };
            // Another process may have finished it while we waited.
            if let Some(hit) = store.lookup_url(&url_s) {
                return Ok(Fetched::stored(hit));
            }
            let part = store.part_path(&id);
            let mut sink = PartFile {
                path: part.clone(),
                info: store.load_partial(&id).filter(|i| i.url == url_s).unwrap_or_default(),
                save: Some((store, id.clone())),
            };
            let result = download(&url, &mut sink, ctx);
            let key = match result {
                Ok(k) => k,
                Err(e) => {
                    // Nothing a retry could resume: drop the partial bytes.
                    if matches!(e.kind, ErrorKind::SourceRejected | ErrorKind::SourceMissing) {
                        store.discard_partial(&id);
                    }
                    return Err(e);
                }
            };
            let stored = store
                .adopt_download(&url_s, &part, &key, &ext)
                .map_err(|e| output_failed(&url_s, &part, e))?;
            Ok(Fetched {
                path: stored.path,
                key: Some(stored.key),
                _lock: Some(stored.lock),
                downloaded: true,
            })
        }
        Destination::Temp(dir) => {
            let path = dir.join(format!("{}.{ext}", url_id(&url_s)));
            let mut sink = PartFile {
                path: path.clone(),
                info: PartialInfo::default(),
                save: None,
            };
            let result = download(&url, &mut sink, ctx);
            if let Err(e) = result {
                let _ = fs::remove_file(&path);
                return Err(e);
            }
            Ok(Fetched {
                path,
                key: None,
                _lock: None,
                downloaded: true,
            })
        }
    }
}

fn output_failed(url: &str, path: &Path, e: io::Error) -> Failure {
    Failure {
        kind: ErrorKind::OutputFailed,
        message: format!("cannot store the download of {url} ({}): {e}", path.display()),
    }
}

/// The file a download accumulates in, and where its sidecar is saved.
struct PartFile<'a> {
    path: PathBuf,
    info: PartialInfo,
    /// The store and URL id the sidecar is saved under (none when uncached).
    save: Option<(&'a Store, String)>,
}

impl PartFile<'_> {
    fn len(&self) -> u64 {
        fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0)
    }

    fn save_info(&self) -> io::Result<()> {
        match &self.save {
            Some((store, id)) => store.save_partial(id, &self.info),
            None => Ok(()),
        }
    }
}

/// One attempt's failure: the error, and whether another attempt may resume it.
struct AttemptError {
    error: Failure,
    /// A dropped connection: worth another attempt if bytes arrived.
    resumable: bool,
}

impl From<Failure> for AttemptError {
    fn from(error: Failure) -> Self {
        AttemptError {
            error,
            resumable: false,
        }
    }
}

/// Downloads `url` into `part` (resuming what it holds when the sidecar allows), within the
/// policy's limits. Returns the content key (BLAKE3) of the whole body.
fn download(url: &Url, part: &mut PartFile<'_>, ctx: &FetchContext<'_>) -> Result<SourceKey, Failure> {
    let policy = ctx.policy;
    let deadline = Instant::now() + policy.timeout;
    let refused = Arc::new(Mutex::new(None));
    let resolve_limit = policy.stall_timeout.min(Duration::from_secs(30));
    let config = Agent::config_builder()
        .http_status_as_error(false)
        .https_only(!policy.allow_private_network)
        .proxy(None)
        .max_redirects(0)
        .user_agent(concat!("framex/", env!("CARGO_PKG_VERSION")))
        .accept_encoding("identity")
        .timeout_per_read(Some(policy.stall_timeout))
        .timeout_resolve(Some(resolve_limit))
        .timeout_connect(Some(resolve_limit))
        .build();
    let resolver = CheckedResolver {
        allow_private_network: policy.allow_private_network,
        inner: DefaultResolver::default(),
        refused: refused.clone(),
    };
    let agent = Agent::with_parts(config, DefaultConnector::new(), resolver);
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        // Cancellation: a blocked read is interrupted by shutting the agent's sockets down.
        let watchdog = scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                if ctx.cancel.is_cancelled() {
                    agent.clone().shutdown();
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let mut attempts = 0;
        let result = loop {
            attempts += 1;
            let before = part.len();
            let got = Attempt {
                url,
                agent: &agent,
                refused: &refused,
                deadline,
                ctx,
            }
            .run(part);
            match got {
                Ok(hash) => break Ok(hash),
                Err(e)
                    if e.resumable
                        && attempts < MAX_ATTEMPTS
                        && part.len() > before
                        && !ctx.cancel.is_cancelled()
                        && Instant::now() < deadline => {}
                Err(e) => break Err(e.error),
            }
        };
        done.store(true, Ordering::Relaxed);
        let _ = watchdog.join();
        result
    })
}

struct Attempt<'a, 'b> {
    url: &'a Url,
    agent: &'a Agent,
    refused: &'a Mutex<Option<String>>,
    deadline: Instant,
    ctx: &'a FetchContext<'b>,
}

impl Attempt<'_, '_> {
    fn name(&self) -> &str {
        self.url.as_str()
    }

    fn run(&self, part: &mut PartFile<'_>) -> Result<SourceKey, AttemptError> {
        let url = self.name();
        let policy = &self.ctx.policy;
        // Resume only what the sidecar can vouch for: same URL and a validator for If-Range.
        let mut have = part.len();
        let validator = part
            .info
            .etag
            .clone()
            .filter(|e| !e.starts_with("W/"))
            .or_else(|| part.info.last_modified.clone());
        if have > 0 && (validator.is_none() || part.info.url != url) {
            have = 0;
        }
        let range = (have > 0).then(|| (have, validator.clone().unwrap_or_default()));
        let mut resp = self.request(range.as_ref())?;
        let mut status = resp.status();
        if range.is_some() && status == StatusCode::RANGE_NOT_SATISFIABLE {
            // What we hold does not fit the file any more: start over.
            have = 0;
            resp = self.request(None)?;
            status = resp.status();
        }
        let content_length = header_u64(&resp, header::CONTENT_LENGTH);
        let (offset, total) = match status {
            StatusCode::OK => (0, content_length),
            StatusCode::PARTIAL_CONTENT if have > 0 => {
                match parse_content_range(resp.headers().get(header::CONTENT_RANGE)) {
                    Some((start, total)) if start == have => (have, total),
                    _ => {
                        // A range we did not ask for: start over without one.
                        resp = self.request(None)?;
                        if resp.status() != StatusCode::OK {
                            return Err(self.status_error(resp.status()).into());
                        }
                        (0, header_u64(&resp, header::CONTENT_LENGTH))
                    }
                }
            }
            s => return Err(self.status_error(s).into()),
        };
        if let Some(total) = total {
            if total > policy.max_bytes {
                return Err(rejected(
                    url,
                    format!(
                        "the body ({}) is larger than the {} limit",
                        human_bytes(total),
                        human_bytes(policy.max_bytes)
                    ),
                )
                .into());
            }
        }
        let io_err = |what: &str, e: io::Error| -> AttemptError {
            Failure {
                kind: ErrorKind::OutputFailed,
                message: format!(
                    "cannot write the download of {url} to {}: {what}: {e}",
                    part.path.display()
                ),
            }
            .into()
        };
        let mut hasher = blake3::Hasher::new();
        let mut file = if offset == 0 {
            part.info = PartialInfo {
                url: url.to_string(),
                etag: header_str(&resp, header::ETAG),
                last_modified: header_str(&resp, header::LAST_MODIFIED),
                length: total,
            };
            let f = File::create(&part.path).map_err(|e| io_err("create", e))?;
            part.save_info().map_err(|e| io_err("sidecar", e))?;
            f
        } else {
            // Hash the prefix we already hold, then append.
            let mut f = File::options()
                .read(true)
                .append(true)
                .open(&part.path)
                .map_err(|e| io_err("open", e))?;
            hasher
                .update_reader((&mut f).take(offset))
                .map_err(|e| io_err("read", e))?;
            if total.is_some() && part.info.length != total {
                part.info.length = total;
                part.save_info().map_err(|e| io_err("sidecar", e))?;
            }
            f
        };
        let mut done = offset;
        let report = self
            .ctx
            .progress
            .filter(|_| total.is_none_or(|t| t > PROGRESS_MIN_BYTES));
        let mut reported = 0u64;
        if let Some(p) = report {
            p.downloading(url, done, total);
        }
        let mut reader = resp.into_body().into_reader();
        let mut buf = vec![0u8; 256 << 10];
        loop {
            if self.ctx.cancel.is_cancelled() {
                return Err(cancelled(url).into());
            }
            let n = match reader.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = file.flush();
                    return Err(self.read_error(e, done, total));
                }
            };
            if n == 0 {
                break;
            }
            self.ctx.bytes_received.fetch_add(n as u64, Ordering::Relaxed);
            if done + n as u64 > policy.max_bytes {
                return Err(rejected(
                    url,
                    format!("the body is larger than the {} limit", human_bytes(policy.max_bytes)),
                )
                .into());
            }
            file.write_all(&buf[..n]).map_err(|e| io_err("write", e))?;
            hasher.update(&buf[..n]);
            done += n as u64;
            if let Some(p) = report {
                if done - reported >= 1 << 20 {
                    p.downloading(url, done, total);
                    reported = done;
                }
            }
        }
        if self.ctx.cancel.is_cancelled() {
            // A shut-down socket can look like the end of a body without a length.
            return Err(cancelled(url).into());
        }
        if let Some(total) = total {
            if done != total {
                return Err(AttemptError {
                    error: failed(
                        url,
                        format!("the connection closed after {done} of {total} bytes (truncated body)"),
                    ),
                    resumable: true,
                });
            }
        }
        file.sync_all().map_err(|e| io_err("sync", e))?;
        if let Some(p) = report {
            p.downloading(url, done, Some(done));
        }
        Ok(SourceKey::of_hash(&hasher.finalize()))
    }

    /// Sends the GET (with `Range`/`If-Range` when resuming), following redirects by hand with
    /// every hop checked again. Returns the final non-redirect response.
    fn request(&self, range: Option<&(u64, String)>) -> Result<Response<Body>, AttemptError> {
        let policy = &self.ctx.policy;
        let mut current = self.url.clone();
        let mut seen = HashSet::from([current.as_str().to_string()]);
        for hop in 0..=MAX_REDIRECTS {
            let remaining = self.deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(failed(self.name(), format!("timed out after {}", secs(policy.timeout))).into());
            }
            let mut req = self.agent.get(current.as_str());
            if let Some((from, validator)) = range {
                req = req
                    .header(header::RANGE, format!("bytes={from}-"))
                    .header(header::IF_RANGE, validator.as_str());
            }
            let resp = req
                .config()
                .timeout_global(Some(remaining))
                .build()
                .call()
                .map_err(|e| self.call_error(e, current.as_str()))?;
            if !resp.status().is_redirection() || resp.status() == StatusCode::NOT_MODIFIED {
                return Ok(resp);
            }
            let Some(location) = header_str(&resp, header::LOCATION) else {
                return Err(failed(
                    self.name(),
                    format!("HTTP {} from {current} without a Location", resp.status().as_u16()),
                )
                .into());
            };
            let next = current
                .join(&location)
                .map_err(|e| rejected(self.name(), format!("bad redirect target {location:?} ({e})")))?;
            if current.scheme() == "https" && next.scheme() != "https" {
                return Err(rejected(
                    self.name(),
                    format!("redirect from https to {next} (a downgrade) refused"),
                )
                .into());
            }
            let next = check_url(next.as_str(), policy).map_err(|e| Failure {
                kind: e.kind,
                message: format!("{} (redirected from {})", e.message, self.name()),
            })?;
            if hop == MAX_REDIRECTS {
                return Err(rejected(self.name(), format!("more than {MAX_REDIRECTS} redirects")).into());
            }
            if !seen.insert(next.as_str().to_string()) {
                return Err(rejected(self.name(), format!("redirect loop at {next}")).into());
            }
            current = next;
        }
        unreachable!("the loop returns by the last hop")
    }

    fn status_error(&self, s: StatusCode) -> Failure {
        let url = self.name();
        let what = format!("HTTP {} {}", s.as_u16(), s.canonical_reason().unwrap_or(""));
        let what = what.trim_end();
        match s.as_u16() {
            404 | 410 => missing(url, what),
            408 | 425 | 429 => failed(url, what),
            400..=499 => rejected(url, format!("the server answered {what}")),
            _ => failed(url, format!("the server answered {what}")),
        }
    }

    fn timeout_reason(&self, t: Option<Timeout>) -> String {
        let policy = &self.ctx.policy;
        if Instant::now() >= self.deadline || t == Some(Timeout::Global) {
            return format!("timed out after {}", secs(policy.timeout));
        }
        match t {
            Some(Timeout::Resolve) => "timed out resolving the host name".to_string(),
            Some(Timeout::Connect) => "timed out connecting".to_string(),
            _ => format!("stalled: no data for {}", secs(policy.stall_timeout)),
        }
    }

    /// Maps an error of `call()` (before a response): refused address, timeout, connection.
    fn call_error(&self, e: ureq::Error, target: &str) -> AttemptError {
        let url = self.name();
        if let Some(why) = self.refused.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return rejected(url, why).into();
        }
        if self.ctx.cancel.is_cancelled() {
            return cancelled(url).into();
        }
        // Name the hop only when it is not the URL itself (after a redirect).
        let at = if target == url {
            String::new()
        } else {
            format!("{target}: ")
        };
        let why = match e {
            ureq::Error::Timeout(t) => self.timeout_reason(Some(t)),
            ureq::Error::HostNotFound => format!("cannot resolve the host of {target}"),
            ureq::Error::RequireHttpsOnly(_) => return rejected(url, "plain http:// is not allowed").into(),
            ureq::Error::BadUri(m) => return rejected(url, format!("bad URL ({m})")).into(),
            ureq::Error::Io(io) if io.kind() == io::ErrorKind::TimedOut || io.kind() == io::ErrorKind::WouldBlock => {
                self.timeout_reason(None)
            }
            ureq::Error::Io(io) => format!("{at}{io}"),
            e @ (ureq::Error::Tls(_) | ureq::Error::Rustls(_)) => format!("{at}TLS failed: {e}"),
            other => format!("{at}{other}"),
        };
        failed(url, why).into()
    }

    /// Maps an error while reading the body: cancel, stall/timeout, dropped connection.
    fn read_error(&self, e: io::Error, done: u64, total: Option<u64>) -> AttemptError {
        let url = self.name();
        if self.ctx.cancel.is_cancelled() {
            return cancelled(url).into();
        }
        let of = total.map(|t| format!(" of {t}")).unwrap_or_default();
        let timeout = match ureq::Error::from(e) {
            ureq::Error::Timeout(t) => Some(t),
            ureq::Error::Io(io) if matches!(io.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) => None,
            ureq::Error::Io(io)
                if matches!(
                    io.kind(),
                    io::ErrorKind::UnexpectedEof
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::BrokenPipe
                ) =>
            {
                return AttemptError {
                    error: failed(
                        url,
                        format!("the connection closed after {done}{of} bytes (truncated body): {io}"),
                    ),
                    resumable: true,
                }
            }
            ureq::Error::Io(io) => {
                return AttemptError {
                    error: failed(url, format!("the connection failed after {done}{of} bytes: {io}")),
                    resumable: true,
                }
            }
            other => {
                return AttemptError {
                    error: failed(url, format!("the transfer failed after {done}{of} bytes: {other}")),
                    resumable: true,
                }
            }
        };
        failed(
            url,
            format!("{} (after {done}{of} bytes)", self.timeout_reason(timeout)),
        )
        .into()
    }
}

fn header_str(resp: &Response<Body>, name: header::HeaderName) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn header_u64(resp: &Response<Body>, name: header::HeaderName) -> Option<u64> {
    header_str(resp, name).and_then(|s| s.parse().ok())
}

/// `bytes START-END/TOTAL` → (START, TOTAL when known).
fn parse_content_range(v: Option<&header::HeaderValue>) -> Option<(u64, Option<u64>)> {
    let s = v?.to_str().ok()?.trim();
    let rest = s.strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let (start, end): (u64, u64) = (start.trim().parse().ok()?, end.trim().parse().ok()?);
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse::<u64>().ok()?),
    };
    if end < start || total.is_some_and(|t| end >= t) {
        return None;
    }
    Some((start, total))
}

/// `100 MB`, `1.5 GB`, `512 KB`, `300 bytes` (binary multiples, as `--cache-max` reads them).
pub fn human_bytes(b: u64) -> String {
    for (unit, name) in [(1u64 << 30, "GB"), (1 << 20, "MB"), (1 << 10, "KB")] {
        if b >= unit {
            let v = b as f64 / unit as f64;
            return if b.is_multiple_of(unit) {
                format!("{} {name}", b / unit)
            } else {
                format!("{v:.1} {name}")
            };
        }
    }
    format!("{b} bytes")
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{s:.1} s")
    }
}

/// Fetches several remote sources (distinct URLs), up to `jobs` at once. Results follow `urls`.
pub fn fetch_all(
    urls: &[String],
    store: Option<&Store>,
    temp: Option<&Path>,
    jobs: usize,
    ctx: &FetchContext<'_>,
) -> Vec<Result<Fetched, Failure>> {
    crate::par::map(urls, jobs, |url| {
        let dest = match (store, temp) {
            (Some(s), _) => Destination::Store(s),
            (None, Some(t)) => Destination::Temp(t),
            (None, None) => return Err(failed(url, "no folder to download into")),
        };
        fetch(url, dest, ctx)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn address_classifier() {
        let refused = [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.0.9",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::8.8.8.8",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:2::1",
            "2001:10::1",
            "2001:db8::1",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
            "2002:808:808::1",
            "3fff::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
        ];
        for a in refused {
            assert!(forbidden_address(ip(a)).is_some(), "{a} must be refused");
        }
        let allowed = [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.1.1",
            "192.169.0.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.255",
            "169.253.0.1",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2a00:1450:4001::200e",
        ];
        for a in allowed {
            assert_eq!(forbidden_address(ip(a)), None, "{a} must be allowed");
        }
        assert_eq!(forbidden_address(ip("127.0.0.1")), Some("loopback"));
        assert_eq!(forbidden_address(ip("::ffff:192.168.0.1")), Some("private"));
        assert_eq!(forbidden_address(ip("fe80::1")), Some("link-local"));
    }

    #[test]
    fn url_checks() {
        let strict = RemotePolicy::default();
        let lab = RemotePolicy {
            allow_private_network: true,
            ..RemotePolicy::default()
        };
        let kind = |u: &str, p: &RemotePolicy| check_url(u, p).map(|_| ()).map_err(|e| e.kind);
        assert_eq!(kind("https://example.com/a.mp4", &strict), Ok(()));
        assert_eq!(kind("HTTPS://Example.COM/a.mp4", &strict), Ok(()));
        assert_eq!(kind("https://8.8.8.8/a.mp4", &strict), Ok(()));
        for bad in [
            "http://example.com/a.mp4",
            "ftp://example.com/a.mp4",
            "file:///etc/passwd",
            "https://127.0.0.1/a.mp4",
            "https://127.1/a.mp4",
            "https://0x7f000001/a.mp4",
            "https://2130706433/a.mp4",
            "https://[::1]/a.mp4",
            "https://[::ffff:7f00:1]/a.mp4",
            "https://10.0.0.1:8443/a.mp4",
            "https://169.254.169.254/latest/meta-data",
            "https://user:pw@example.com/a.mp4",
            "https://",
            "not a url",
        ] {
            assert_eq!(kind(bad, &strict), Err(ErrorKind::SourceRejected), "{bad}");
        }
        assert_eq!(kind("http://127.0.0.1:8080/a.mp4", &lab), Ok(()));
        assert_eq!(kind("https://[::1]/a.mp4", &lab), Ok(()));
        assert_eq!(kind("ftp://127.0.0.1/a.mp4", &lab), Err(ErrorKind::SourceRejected));
        let msg = check_url("https://127.0.0.1/a.mp4", &strict).unwrap_err().message;
        assert!(
            msg.contains("https://127.0.0.1/a.mp4") && msg.contains("loopback"),
            "{msg}"
        );
        // The fragment is not part of what is fetched (nor of the URL's identity).
        assert_eq!(
            check_url("https://example.com/a.mp4#t=3", &strict).unwrap().as_str(),
            "https://example.com/a.mp4"
        );
    }

    #[test]
    fn remote_sources_and_extensions() {
        assert!(is_remote("https://x/y.mp4") && is_remote("HTTP://x") && is_remote("  https://x"));
        assert!(!is_remote("media/https.mp4") && !is_remote("file:///a.mp4") && !is_remote("http"));
        assert!(is_remote("ftp://x/a.mp4") && is_remote("s3://b/k") && !is_remote("a b://x") && !is_remote("://x"));
        let ext = |u: &str| url_extension(&Url::parse(u).unwrap());
        assert_eq!(ext("https://x/a/b.WebM?sig=1"), "webm");
        assert_eq!(ext("https://x/a/b"), "mp4");
        assert_eq!(ext("https://x/"), "mp4");
        assert_eq!(ext("https://x/a.b/c.mov"), "mov");
        assert_eq!(ext("https://x/a.toolongext"), "mp4");
        assert_eq!(ext("https://x/a.m%20p"), "mp4");
    }

    #[test]
    fn content_range_and_sizes() {
        let h = |s: &str| header::HeaderValue::from_str(s).unwrap();
        assert_eq!(
            parse_content_range(Some(&h("bytes 100-199/200"))),
            Some((100, Some(200)))
        );
        assert_eq!(parse_content_range(Some(&h("bytes 0-9/*"))), Some((0, None)));
        assert_eq!(parse_content_range(Some(&h("bytes 100-199/150"))), None);
        assert_eq!(parse_content_range(Some(&h("items 0-1/2"))), None);
        assert_eq!(parse_content_range(None), None);
        assert_eq!(human_bytes(100 << 20), "100 MB");
        assert_eq!(human_bytes(2 << 30), "2 GB");
        assert_eq!(human_bytes(1536 << 10), "1.5 MB");
        assert_eq!(human_bytes(12), "12 bytes");
        assert_eq!(secs(Duration::from_secs(30)), "30 s");
        assert_eq!(secs(Duration::from_millis(1500)), "1.5 s");
    }
}
