//! Remote sources in the store: downloads in progress and URL records.
//!
//! ```text
//! downloads/<url id>.part     the bytes received so far (appended; resumable)
//! downloads/<url id>.json     its sidecar: URL, validator (ETag / Last-Modified), expected length
//! urls/<url id>.json          URL record: the content key and file name of a finished download
//! locks/url-<url id>          exclusive flock held while one process downloads that URL
//! src/<content key>/remote.<ext>   the downloaded source (renamed in whole, like every src/ file)
//! ```
//! `<url id>` is 32 hex digits of BLAKE3 over the normalised URL. A finished download lives in
//! its source's folder, so eviction removes it with the frames; the URL record then dangles and
//! is removed by the next sweep (a run that finds it dangling downloads again). URLs are treated
//! as immutable: a record is trusted without asking the server again. Partial downloads count
//! toward the store's size limit; the sweep removes them (under the URL lock, so never one being
//! written) when untouched for a day, or sooner, before any source, when the store is too big.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::layout;
use super::{SourceKey, SourceLock, Store};

/// 32 hex digits of BLAKE3 over a URL: names its partial download, sidecar, lock and record.
pub(crate) fn url_id(url: &str) -> String {
    blake3::hash(url.as_bytes()).to_hex()[..32].to_string()
}

/// The sidecar of a partial download: what a resumed request must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PartialInfo {
    pub url: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// The full body length announced by the server, when it did.
    pub length: Option<u64>,
}

/// A finished download: `src/<key>/<file>` holds the bytes served at `url`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UrlRecord {
    pub url: String,
    pub key: String,
    pub file: String,
    /// Seconds since the Unix epoch.
    pub fetched_at: u64,
}

/// An exclusive lock on one URL's download (released when dropped).
#[derive(Debug)]
pub(crate) struct UrlLock {
    _file: File,
}

/// A URL whose download is in the store: the file, its content key, and a shared lock on the
/// source (so the sweep cannot evict it while the run uses it).
#[derive(Debug)]
pub(crate) struct StoredUrl {
    pub path: PathBuf,
    pub key: SourceKey,
    pub lock: SourceLock,
}

impl Store {
    /// Where the bytes of an unfinished download of URL `id` accumulate.
    pub(crate) fn part_path(&self, id: &str) -> PathBuf {
        self.layout.partial_download(id)
    }

    fn partial_info_path(&self, id: &str) -> PathBuf {
        self.layout.partial_sidecar(id)
    }

    fn url_record_path(&self, id: &str) -> PathBuf {
        self.layout.url_record(id)
    }

    pub(crate) fn url_lock_path(&self, id: &str) -> PathBuf {
        self.layout.url_lock(id)
    }

    /// The sidecar of URL `id`'s partial download, if any.
    pub(crate) fn load_partial(&self, id: &str) -> Option<PartialInfo> {
        let text = fs::read(self.partial_info_path(id)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Records what the partial download of URL `id` is (written atomically through `tmp/`).
    pub(crate) fn save_partial(&self, id: &str, info: &PartialInfo) -> io::Result<()> {
        fs::create_dir_all(self.layout.downloads_dir())?;
        let text = serde_json::to_vec(info).map_err(io::Error::other)?;
        self.write_atomic(&self.partial_info_path(id), &text)
    }

    /// Forgets URL `id`'s partial download (bytes and sidecar).
    pub(crate) fn discard_partial(&self, id: &str) {
        let _ = fs::remove_file(self.part_path(id));
        let _ = fs::remove_file(self.partial_info_path(id));
    }

    /// Takes the exclusive lock on URL `id`, waiting while another process downloads it.
    /// `None` when `cancel` is raised while waiting.
    pub(crate) fn lock_url(&self, id: &str, cancel: &AtomicBool) -> io::Result<Option<UrlLock>> {
        let file = super::open_marker(&self.url_lock_path(id))?;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Some(UrlLock { _file: file })),
                Err(fs::TryLockError::WouldBlock) => {}
                Err(fs::TryLockError::Error(e)) => return Err(e),
            }
            if cancel.load(Ordering::Relaxed) {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The stored download of `url` (record present, file present), with a shared lock on its
    /// source; no network involved.
    pub(crate) fn lookup_url(&self, url: &str) -> Option<StoredUrl> {
        let id = url_id(url);
        let rec: UrlRecord = serde_json::from_slice(&fs::read(self.url_record_path(&id)).ok()?).ok()?;
        if rec.url != url || !is_plain_name(&rec.file) {
            return None;
        }
        let key = SourceKey::parse(&rec.key)?;
        // Lock first: once held, the sweep cannot evict the source under us.
        let lock = self.lock_source(&key).ok()?;
        let path = self.layout.source_dir(&key).join(&rec.file);
        path.is_file().then_some(StoredUrl { path, key, lock })
    }

    /// Moves a finished (synced) download into its source's folder as `remote.<ext>` and
    /// records the URL. `key` is the BLAKE3 of the bytes, as [`Store::hash_source`] computes it.
    pub(crate) fn adopt_download(&self, url: &str, part: &Path, key: &SourceKey, ext: &str) -> io::Result<StoredUrl> {
        let id = url_id(url);
        let lock = self.lock_source(key)?;
        let file = layout::remote_source_name(ext);
        let path = self.layout.remote_source(key, ext);
        fs::rename(part, &path)?;
        if let Ok(d) = File::open(self.layout.source_dir(key)) {
            let _ = d.sync_all();
        }
        let _ = fs::remove_file(self.partial_info_path(&id));
        // The file's identity changed with the rename (ctime): remember its key for it now, so
        // nothing ever hashes it again.
        self.remember_key(&path, key);
        let rec = UrlRecord {
            url: url.to_string(),
            key: key.to_string(),
            file,
            fetched_at: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        fs::create_dir_all(self.layout.urls_dir())?;
        self.write_atomic(
            &self.url_record_path(&id),
            &serde_json::to_vec(&rec).map_err(io::Error::other)?,
        )?;
        Ok(StoredUrl {
            path,
            key: key.clone(),
            lock,
        })
    }
}

fn is_plain_name(s: &str) -> bool {
    !s.is_empty() && !s.starts_with('.') && !s.contains('/') && !s.contains('\0')
}

/// Reads a URL record (for the sweep and `cache verify`).
pub(crate) fn read_record(path: &Path) -> Option<UrlRecord> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}
