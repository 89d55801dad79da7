//! The frame store: a frame-level, content-addressed cache shared by clips, runs and processes.
//!
//! Layout under `<cache dir>/framex-v1/`:
//! ```text
//! ids/<blake3(dev,ino,size,mtime,ctime)>      content hash of the file with that identity
//! src/<content hash>/meta.json                 probe metadata + playable end (no FFmpeg on hits)
//! src/<content hash>/used                      LRU clock (mtime touched by every run)
//! src/<content hash>/frames/<variant>/<pts>.<ext>   one encoded frame, stored once
//! src/<content hash>/clips/<clip key>/frame_00001.<ext> … + .complete   hard links, a clip's folder
//! src/<content hash>/remote.<ext>              a downloaded source (see `downloads`)
//! locks/<content hash>                         shared flock held by every run using the source
//! locks/url-<url id>                           exclusive flock held while a URL downloads
//! downloads/<url id>.part, .json               an unfinished download and its sidecar
//! urls/<url id>.json                           URL → content hash + file of a finished download
//! tmp/                                         temporaries (write-then-rename), swept when stale
//! last-gc                                      mtime = last sweep
//! ```
//! Invariants: every file under `src/` is complete (written under `tmp/` and renamed into
//! place); a clip folder is visible only with its `.complete` record (the folder is renamed into
//! place whole); a source is evicted only while no process holds its lock. The store knows
//! nothing of compositions: it stores bytes under keys the pipeline computes.
//!
//! Every name in the table is spelled once, in [`layout`]; the typed keys that name what is
//! stored are in [`keys`]; the JSON records (`meta.json`, `.complete`) are versioned types of
//! their own (`records`), never the serde of a result type, so renaming a result field cannot
//! cost an existing store its hits.

pub mod downloads;
pub mod gc;
pub mod keys;
pub mod layout;
mod records;
pub mod tier;
pub(crate) mod verified;

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub use keys::{ClipKey, FrameKey, SourceKey, VariantKey};
pub use layout::frame_file_name;
pub(crate) use layout::Layout;
pub(crate) use records::{digest, is_newer, ClipRecord, FrameDigest, StoredMeta};

/// A clip folder the store holds, as [`Store::lookup_clip`] found it.
pub(crate) struct ClipHit {
    pub dir: PathBuf,
    pub record: std::sync::Arc<ClipRecord>,
    /// The folder's and record's stamps, read before the record (for [`verified::remember`]).
    pub stamps: Option<verified::FolderStamps>,
    /// This process already checked the folder whole, and nothing changed since: the per-frame
    /// check can be skipped.
    pub verified: bool,
}

/// An open store.
#[derive(Debug)]
pub struct Store {
    layout: Layout,
}

/// A shared lock on one source, held for the whole run: GC cannot evict the source meanwhile.
#[derive(Debug)]
pub struct SourceLock {
    _file: File,
}

/// Opens (creating, never truncating) a file that is only ever locked or touched: lock files
/// and the LRU marker. Lock files are never deleted, so every process contends on one inode.
pub(crate) fn open_marker(path: &Path) -> io::Result<File> {
    File::options().create(true).truncate(false).write(true).open(path)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The store folder the `framex` command uses when none is given: `FRAMEX_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/framex`, else `~/.cache/framex`. `None` when the variable says `off`.
/// The library never reads the environment on its own: this is the one, explicitly named
/// entry point that does.
pub fn default_dir() -> Option<PathBuf> {
    match std::env::var("FRAMEX_CACHE_DIR") {
        Ok(v) if is_off(&v) => None,
        Ok(v) if !v.trim().is_empty() => Some(PathBuf::from(v)),
        _ => {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .unwrap_or_else(std::env::temp_dir);
            Some(base.join("framex"))
        }
    }
}

/// The store folder for a `--cache-dir`-style setting: `off` (see [`is_off`]) disables the
/// store, a path names it, and no setting means [`default_dir`].
pub fn resolve_dir(setting: Option<&str>) -> Option<PathBuf> {
    match setting {
        Some(v) if is_off(v) => None,
        Some(v) => Some(PathBuf::from(v)),
        None => default_dir(),
    }
}

impl Store {
    /// Opens (creating if needed) the store under `dir`. Fails if it cannot be written.
    pub fn open(dir: &Path) -> io::Result<Store> {
        let root = dir.join(layout::FORMAT_DIR);
        for sub in layout::TOP_DIRS {
            fs::create_dir_all(root.join(sub))?;
        }
        let store = Store {
            layout: Layout::new(fs::canonicalize(&root)?),
        };
        // Prove it is writable now rather than failing mid-run.
        let probe = store.temp_path("probe");
        File::create(&probe)?;
        fs::remove_file(&probe)?;
        Ok(store)
    }

    /// Bytes an unprivileged process may still write on the store's filesystem.
    pub(crate) fn free_bytes(&self) -> Option<u64> {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(self.root().as_os_str().as_bytes()).ok()?;
        // SAFETY: `path` is NUL-terminated and outlives the call; `st` is a plain C struct that
        // statvfs fills in.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let r = unsafe { libc::statvfs(path.as_ptr(), &mut st) };
        (r == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
    }

    /// The store's folder (`<cache dir>/framex-v1`, canonical).
    pub fn root(&self) -> &Path {
        self.layout.root()
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    /// A fresh path under `tmp/` named after this process (so stale ones can be swept) and
    /// unique within it, across every `Store` the process has open (two extractions at once
    /// in one process, as a Node server runs them, never share a temp name).
    pub(crate) fn temp_path(&self, tag: &str) -> PathBuf {
        self.layout
            .tmp_dir()
            .join(format!("{}-{}-{tag}", std::process::id(), unique_seq()))
    }

    /// Hashes the file at `path` whole and remembers its key for its identity (device, inode,
    /// size, mtime, ctime), so an unchanged file is hashed once ([`Store::remembered_key`]);
    /// a copy or rename hashes to the same key.
    pub(crate) fn hash_source(&self, path: &Path) -> io::Result<SourceKey> {
        let id_path = self.identity_path(&fs::metadata(path)?);
        let mut hasher = blake3::Hasher::new();
        hasher.update_mmap(path)?;
        let key = SourceKey::of_hash(&hasher.finalize());
        let _ = self.write_atomic(&id_path, key.as_str().as_bytes());
        Ok(key)
    }

    /// The content key remembered for the file at `path` as it is now, without reading it.
    pub(crate) fn remembered_key(&self, path: &Path) -> Option<SourceKey> {
        let id_path = self.identity_path(&fs::metadata(path).ok()?);
        fs::read_to_string(id_path).ok().and_then(|s| SourceKey::parse(&s))
    }

    /// Remembers that the file at `path` (as it is now) hashes to `key`, e.g. after a download
    /// hashed it on the way in.
    pub(crate) fn remember_key(&self, path: &Path, key: &SourceKey) {
        if let Ok(m) = fs::metadata(path) {
            let _ = self.write_atomic(&self.identity_path(&m), key.as_str().as_bytes());
        }
    }

    /// The memo file of a file identity (device, inode, size, mtime, ctime).
    fn identity_path(&self, m: &fs::Metadata) -> PathBuf {
        let identity = format!(
            "{}:{}:{}:{}.{}:{}.{}",
            m.dev(),
            m.ino(),
            m.size(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec()
        );
        self.layout
            .identity_memo(&hex(&blake3::hash(identity.as_bytes()).as_bytes()[..16]))
    }

    /// Takes a shared lock on a source for as long as the returned guard lives, and marks the
    /// source used now (the LRU clock).
    pub(crate) fn lock_source(&self, key: &SourceKey) -> io::Result<SourceLock> {
        let file = open_marker(&self.layout.source_lock(key.as_str()))?;
        file.lock_shared()?;
        let dir = self.layout.source_dir(key);
        fs::create_dir_all(&dir)?;
        let used = Layout::used_marker(&dir);
        let _ = open_marker(&used)?.set_modified(std::time::SystemTime::now());
        Ok(SourceLock { _file: file })
    }

    /// What the store remembers of a source; `None` when never probed, unreadable, or written
    /// by a newer store format.
    pub(crate) fn load_meta(&self, key: &SourceKey) -> Option<StoredMeta> {
        StoredMeta::from_json(&fs::read(self.layout.meta_record(key)).ok()?)
    }

    pub(crate) fn save_meta(&self, key: &SourceKey, meta: &StoredMeta) -> io::Result<()> {
        self.write_atomic(&self.layout.meta_record(key), &meta.to_json())
    }

    /// Where the encoded frame `frame` lives.
    pub(crate) fn frame_path(&self, frame: &FrameKey, ext: &str) -> PathBuf {
        self.layout.frame_object(frame, ext)
    }

    /// The stored frames (pts) of one variant: one directory read, not a stat per frame.
    pub(crate) fn existing_frames(&self, key: &SourceKey, variant: &VariantKey, ext: &str) -> HashSet<i64> {
        let Ok(rd) = fs::read_dir(self.layout.frames_dir(key, variant)) else {
            return HashSet::new();
        };
        // Only regular files count: a symbolic link planted in the store is never handed out
        // (the frame is encoded again and its file renamed over the link).
        rd.flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| layout::parse_stored_frame_name(&e.file_name().to_string_lossy(), ext))
            .collect()
    }

    /// Stores an encoded frame: written under `tmp/`, renamed into place (an identical frame
    /// written concurrently by another process is simply replaced).
    pub(crate) fn put_frame(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        self.write_atomic(path, bytes)
    }

    /// Writes `bytes` to `path` atomically: a temporary under `tmp/` (same file system; swept if
    /// this process dies before the rename), then a rename over `path`.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let tmp = self.temp_path("write");
        // A failed write (a full disk) must not leave its temporary behind either.
        let written = File::create(&tmp).and_then(|mut f| f.write_all(bytes));
        written.and_then(|_| fs::rename(&tmp, path)).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
    }

    /// The folder of a complete clip, if stored.
    pub(crate) fn clip_dir(&self, key: &SourceKey, clip: &ClipKey) -> PathBuf {
        self.layout.clip_dir(key, clip)
    }

    /// A complete clip's record; touches it (clip folders used in the last hour are kept).
    pub(crate) fn lookup_clip(&self, key: &SourceKey, clip: &ClipKey) -> Option<ClipHit> {
        let dir = self.clip_dir(key, clip);
        let path = Layout::complete_record(&dir);
        // Stamps first: whatever changes after them makes the memo miss next time.
        let stamps = verified::FolderStamps::read(&dir);
        let remembered = stamps.as_ref().and_then(|s| verified::recall(&dir, s));
        let (record, verified) = match remembered {
            Some(rec) => (rec, true),
            None => (
                std::sync::Arc::new(ClipRecord::from_json(&fs::read(&path).ok()?)?),
                false,
            ),
        };
        if let Ok(f) = File::options().write(true).open(&path) {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
        Some(ClipHit {
            dir,
            record,
            stamps,
            verified,
        })
    }

    /// Builds and publishes the folder of clip `clip` from frame objects this store holds, as
    /// `rec` lists them (a clip record from the remote tier whose frames were fetched). Fails
    /// if a frame object is missing.
    pub(crate) fn assemble_clip(&self, key: &SourceKey, clip: &ClipKey, rec: &ClipRecord) -> io::Result<PathBuf> {
        let variant = VariantKey::parse(&rec.variant)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad variant in a clip record"))?;
        let staging = self.temp_path("remote-clip");
        fs::create_dir_all(&staging)?;
        let filled = (|| {
            let held = rec.held();
            for (k, &pts) in crate::composition::slice::indices(&held).zip(rec.pts.iter()) {
                let frame = FrameKey {
                    source: key.clone(),
                    variant: variant.clone(),
                    pts,
                };
                let (from, to) = (
                    self.frame_path(&frame, &rec.ext),
                    staging.join(frame_file_name(k, &rec.ext)),
                );
                if fs::hard_link(&from, &to).is_err() {
                    fs::copy(&from, &to)?; // a frame at the link limit (or missing: the error)
                }
            }
            self.publish_clip(&staging, key, clip, rec)
        })();
        if filled.is_err() {
            let _ = fs::remove_dir_all(&staging);
        }
        filled
    }

    /// Publishes a filled staging folder as a complete clip. If another process published the
    /// same clip first, its folder wins and ours is removed.
    pub(crate) fn publish_clip(
        &self,
        staging: &Path,
        key: &SourceKey,
        clip: &ClipKey,
        rec: &ClipRecord,
    ) -> io::Result<PathBuf> {
        self.write_atomic(&Layout::complete_record(staging), &rec.to_json())?;
        let dest = self.clip_dir(key, clip);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)?;
        }
        let complete = |d: &Path| Layout::complete_record(d).exists();
        match fs::rename(staging, &dest) {
            Ok(()) => Ok(dest),
            Err(_) if complete(&dest) => {
                let _ = fs::remove_dir_all(staging);
                Ok(dest)
            }
            Err(e) => {
                // A folder without its record is debris from a crash: replace it once.
                if dest.exists() && !complete(&dest) {
                    let trash = self.temp_path("stale-clip");
                    if fs::rename(&dest, &trash).is_ok() {
                        let _ = fs::remove_dir_all(&trash);
                        return fs::rename(staging, &dest).map(|_| dest);
                    }
                }
                Err(e)
            }
        }
    }
}

/// `off`, `none`, `false`, `0` (any case) disable the store.
/// A number no other call in this process gets: the part of a temp name that keeps two
/// concurrent extractions in one process apart.
pub(crate) fn unique_seq() -> u64 {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    SEQ.fetch_add(1, Ordering::Relaxed)
}

pub fn is_off(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "off" | "none" | "false" | "0")
}
