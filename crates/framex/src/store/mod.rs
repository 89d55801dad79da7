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

pub mod downloads;
pub mod gc;

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::media::MediaInfo;

/// Content hash of a source (64 hex digits of BLAKE3 over the file's bytes).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceKey(pub String);

/// What the store remembers of a source so a whole-clip hit needs no FFmpeg.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SourceMeta {
    pub info: MediaInfo,
    /// Playable end in media seconds, exact: `[num, den]`.
    pub end: [i128; 2],
}

/// The `.complete` record of a clip folder.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClipRecord {
    pub frames: u64,
    pub ext: String,
    pub variant: String,
    /// Source frame (pts) shown by each output frame, for `cache verify`.
    pub pts: Vec<i64>,
}

/// An open store.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    seq: AtomicU64,
}

/// A shared lock on one source, held for the whole run: GC cannot evict the source meanwhile.
#[derive(Debug)]
pub struct SourceLock {
    _file: File,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// The store folder framex uses when none is given: `FRAMEX_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/framex`, else `~/.cache/framex`. `None` when the variable says `off`.
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

    /// Opens (creating if needed) the store under `dir`. Fails if it cannot be written.
    pub fn open(dir: &Path) -> io::Result<Store> {
        let root = dir.join("framex-v1");
        for sub in ["ids", "src", "locks", "tmp", "downloads", "urls"] {
            fs::create_dir_all(root.join(sub))?;
        }
        let store = Store {
            root: fs::canonicalize(&root)?,
            seq: AtomicU64::new(0),
        };
        // Prove it is writable now rather than failing mid-run.
        let probe = store.temp_path("probe");
        File::create(&probe)?;
        fs::remove_file(&probe)?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn src_dir(&self, key: &SourceKey) -> PathBuf {
        self.root.join("src").join(&key.0)
    }

    /// A fresh path under `tmp/` named after this process (so stale ones can be swept).
    pub fn temp_path(&self, tag: &str) -> PathBuf {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        self.root.join("tmp").join(format!("{}-{n}-{tag}", std::process::id()))
    }

    /// The content hash of the file at `path`, remembered per file identity (device, inode,
    /// size, mtime, ctime) so an unchanged file is hashed once; a copy or rename hashes to the
    /// same key.
    pub fn source_key(&self, path: &Path) -> io::Result<SourceKey> {
        let id_path = self.identity_path(&fs::metadata(path)?);
        if let Ok(s) = fs::read_to_string(&id_path) {
            let s = s.trim();
            if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Ok(SourceKey(s.to_string()));
            }
        }
        let mut hasher = blake3::Hasher::new();
        hasher.update_mmap(path)?;
        let key = hasher.finalize().to_hex().to_string();
        let _ = self.write_atomic(&id_path, key.as_bytes());
        Ok(SourceKey(key))
    }

    /// Remembers that the file at `path` (as it is now) hashes to `key`, e.g. after a download
    /// hashed it on the way in.
    pub fn remember_key(&self, path: &Path, key: &SourceKey) {
        if let Ok(m) = fs::metadata(path) {
            let _ = self.write_atomic(&self.identity_path(&m), key.0.as_bytes());
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
        self.root
            .join("ids")
            .join(hex(&blake3::hash(identity.as_bytes()).as_bytes()[..16]))
    }

    /// Takes a shared lock on a source for as long as the returned guard lives, and marks the
    /// source used now (the LRU clock).
    pub fn lock_source(&self, key: &SourceKey) -> io::Result<SourceLock> {
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.root.join("locks").join(&key.0))?;
        file.lock_shared()?;
        let dir = self.src_dir(key);
        fs::create_dir_all(&dir)?;
        let used = dir.join("used");
        match File::options().create(true).truncate(false).write(true).open(&used) {
            Ok(f) => {
                let _ = f.set_modified(std::time::SystemTime::now());
            }
            Err(e) => return Err(e),
        }
        Ok(SourceLock { _file: file })
    }

    pub fn load_meta(&self, key: &SourceKey) -> Option<SourceMeta> {
        let text = fs::read(self.src_dir(key).join("meta.json")).ok()?;
        serde_json::from_slice(&text).ok()
    }

    pub fn save_meta(&self, key: &SourceKey, meta: &SourceMeta) -> io::Result<()> {
        let text = serde_json::to_vec(meta).map_err(io::Error::other)?;
        self.write_atomic(&self.src_dir(key).join("meta.json"), &text)
    }

    fn frames_dir(&self, key: &SourceKey, variant: &str) -> PathBuf {
        self.src_dir(key).join("frames").join(variant)
    }

    /// Where the encoded source frame `pts` of `variant` lives.
    pub fn frame_path(&self, key: &SourceKey, variant: &str, pts: i64, ext: &str) -> PathBuf {
        self.frames_dir(key, variant).join(format!("{pts}.{ext}"))
    }

    /// The stored frames of one variant (one directory read, not a stat per frame).
    pub fn existing_frames(&self, key: &SourceKey, variant: &str, ext: &str) -> HashSet<i64> {
        let mut set = HashSet::new();
        let Ok(rd) = fs::read_dir(self.frames_dir(key, variant)) else {
            return set;
        };
        let suffix = format!(".{ext}");
        for e in rd.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = name.strip_suffix(&suffix).and_then(|s| s.parse::<i64>().ok()) {
                set.insert(n);
            }
        }
        set
    }

    /// Stores an encoded frame: written under `tmp/`, renamed into place (an identical frame
    /// written concurrently by another process is simply replaced).
    pub fn put_frame(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        self.write_atomic(path, bytes)
    }

    /// Writes `bytes` to `path` atomically: a temporary under `tmp/` (same file system; swept if
    /// this process dies before the rename), then a rename over `path`.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let tmp = self.temp_path("write");
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        drop(f);
        fs::rename(&tmp, path).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
    }

    /// The folder of a complete clip, if stored.
    pub fn clip_dir(&self, key: &SourceKey, clip_key: &str) -> PathBuf {
        self.src_dir(key).join("clips").join(clip_key)
    }

    /// A complete clip's record; touches it (clip folders used in the last hour are kept).
    pub fn lookup_clip(&self, key: &SourceKey, clip_key: &str) -> Option<ClipRecord> {
        let path = self.clip_dir(key, clip_key).join(".complete");
        let text = fs::read(&path).ok()?;
        let rec: ClipRecord = serde_json::from_slice(&text).ok()?;
        if let Ok(f) = File::options().write(true).open(&path) {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
        Some(rec)
    }

    /// Publishes a filled staging folder as a complete clip. If another process published the
    /// same clip first, its folder wins and ours is removed.
    pub fn publish_clip(
        &self,
        staging: &Path,
        key: &SourceKey,
        clip_key: &str,
        rec: &ClipRecord,
    ) -> io::Result<PathBuf> {
        let text = serde_json::to_vec(rec).map_err(io::Error::other)?;
        self.write_atomic(&staging.join(".complete"), &text)?;
        let dest = self.clip_dir(key, clip_key);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)?;
        }
        match fs::rename(staging, &dest) {
            Ok(()) => Ok(dest),
            Err(_) if dest.join(".complete").exists() => {
                let _ = fs::remove_dir_all(staging);
                Ok(dest)
            }
            Err(e) => {
                // A folder without its record is debris from a crash: replace it once.
                if dest.exists() && !dest.join(".complete").exists() {
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
pub fn is_off(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "off" | "none" | "false" | "0")
}
