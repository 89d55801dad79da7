//! Keeping the store bounded and healthy: size accounting, LRU eviction, stale temporaries,
//! clearing and verification. Never evicts a source another process holds a lock on.

use std::collections::HashSet;
use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::downloads::read_record;
use super::layout::{self, Layout};
use super::{ClipRecord, SourceKey, Store, VariantKey};

/// Default size limit: 2 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 2 << 30;
/// Sources (and their clip folders) used more recently than this are not evicted.
pub const DEFAULT_MIN_AGE: Duration = Duration::from_secs(3600);
/// A sweep is due when the last one is older than this, even if nothing was written.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// Temporaries older than this whose process is gone are removed.
const TEMP_MAX_AGE: Duration = Duration::from_secs(600);
/// Partial downloads untouched for this long (and not being downloaded) are removed.
pub const PARTIAL_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// How far a sweep may go.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct GcOptions {
    /// Evict least-recently-used sources until the store fits this many bytes (real disk
    /// usage, a hard-linked file counted once). Default: [`DEFAULT_MAX_BYTES`].
    pub max_bytes: u64,
    /// Never evict a source used more recently than this. Default: [`DEFAULT_MIN_AGE`].
    pub min_age: Duration,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            max_bytes: DEFAULT_MAX_BYTES,
            min_age: DEFAULT_MIN_AGE,
        }
    }
}

/// What a sweep (`gc`, `clear`) did.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct GcReport {
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub evictions: u64,
    pub bytes_freed: u64,
    pub temps_cleared: u64,
    /// Sources over the limit that were kept because a running extraction holds them (locked).
    pub kept_in_use: u64,
    /// Sources over the limit that were kept because they were used within the eviction age
    /// (one hour by default; `framex cache gc --now` evicts them).
    pub kept_recent: u64,
    /// Partial downloads older than a day removed (also counted in `temps_cleared`).
    pub partial_downloads_cleared: u64,
    /// Partial downloads evicted to bring the store under its size limit (their bytes are in
    /// `bytes_freed`; `evictions` counts sources only).
    pub partial_downloads_evicted: u64,
    /// URL records whose source is gone (evicted) removed.
    pub url_records_removed: u64,
}

/// What the store holds (`framex cache stats`).
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct StoreStats {
    pub root: PathBuf,
    pub sources: u64,
    pub frames: u64,
    pub clips: u64,
    /// Real disk usage: every inode counted once however many links it has.
    pub bytes: u64,
    /// Downloaded sources held in the store (`src/<hash>/remote.<ext>`).
    pub remote_files: u64,
    /// URL records (`urls/`), each naming the download of one URL.
    pub url_records: u64,
    /// Unfinished downloads (`downloads/*.part`), kept for resuming.
    pub partial_downloads: u64,
    /// Their disk usage with their sidecars (part of `bytes`, and of the size `--cache-max`
    /// bounds).
    pub partial_download_bytes: u64,
}

/// What `verify` found (and repaired).
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct VerifyReport {
    pub frames_checked: u64,
    pub clips_checked: u64,
    /// Downloaded sources re-hashed against their folder's content key.
    pub remote_files_checked: u64,
    pub url_records_checked: u64,
    pub damaged: Vec<String>,
    pub repaired: u64,
}

/// Disk usage of a tree, counting each inode once (`seen` is shared across trees).
fn tree_usage(path: &Path, seen: &mut HashSet<(u64, u64)>) -> u64 {
    let mut total = 0;
    let Ok(rd) = fs::read_dir(path) else { return 0 };
    for e in rd.flatten() {
        let Ok(m) = e.metadata() else { continue };
        if m.is_dir() {
            total += tree_usage(&e.path(), seen);
        }
        if seen.insert((m.dev(), m.ino())) {
            total += m.blocks() * 512;
        }
    }
    total
}

struct SourceUsage {
    key: String,
    bytes: u64,
    last_used: SystemTime,
}

fn sources(store: &Store) -> Vec<SourceUsage> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir(store.layout().sources_dir()) else {
        return out;
    };
    for e in rd.flatten() {
        let key = e.file_name().to_string_lossy().into_owned();
        let dir = e.path();
        let last_used = fs::metadata(Layout::used_marker(&dir))
            .and_then(|m| m.modified())
            .or_else(|_| e.metadata().and_then(|m| m.modified()))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        // The newest use of any clip folder counts too (renderers read them after framex exits).
        let clip_used = fs::read_dir(Layout::clips_root(&dir))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|c| {
                fs::metadata(Layout::complete_record(&c.path()))
                    .and_then(|m| m.modified())
                    .ok()
            })
            .max()
            .unwrap_or(SystemTime::UNIX_EPOCH);
        out.push(SourceUsage {
            key,
            bytes: tree_usage(&dir, &mut seen),
            last_used: last_used.max(clip_used),
        });
    }
    out
}

struct PartialUsage {
    id: String,
    /// The `.part` file and its sidecar.
    bytes: u64,
    /// The newest modification of either.
    modified: SystemTime,
}

/// The partial downloads in `downloads/` (a sidecar without its `.part` counts too).
fn partials(store: &Store) -> Vec<PartialUsage> {
    let dl = store.layout().downloads_dir();
    let mut ids: Vec<String> = fs::read_dir(&dl)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let id = name.strip_suffix(".part").or_else(|| name.strip_suffix(".json"))?;
            Some(id.to_string())
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids.into_iter()
        .map(|id| {
            let metas: Vec<fs::Metadata> = [store.part_path(&id), store.layout().partial_sidecar(&id)]
                .iter()
                .filter_map(|f| fs::metadata(f).ok())
                .collect();
            PartialUsage {
                bytes: metas.iter().map(|m| m.blocks() * 512).sum(),
                modified: metas
                    .iter()
                    .filter_map(|m| m.modified().ok())
                    .max()
                    .unwrap_or(SystemTime::UNIX_EPOCH),
                id,
            }
        })
        .collect()
}

/// The URL lock of `id`, if no process holds it (that process is downloading the URL).
fn try_lock_url(store: &Store, id: &str) -> Option<File> {
    super::open_marker(&store.url_lock_path(id))
        .ok()
        .filter(|f| f.try_lock().is_ok())
}

/// Removes partial download `id` (bytes and sidecar) under its URL lock; `false` if a process
/// is downloading that URL (or the bytes were already gone).
fn remove_partial(store: &Store, id: &str) -> bool {
    let Some(_held) = try_lock_url(store, id) else {
        return false;
    };
    let removed = fs::remove_file(store.part_path(id)).is_ok();
    let sidecar = fs::remove_file(store.layout().partial_sidecar(id)).is_ok();
    removed || sidecar
}

/// Removes temporaries whose process is gone and that are older than a few minutes.
pub(crate) fn sweep_temps(store: &Store) -> u64 {
    let mut cleared = 0;
    let Ok(rd) = fs::read_dir(store.layout().tmp_dir()) else {
        return 0;
    };
    let now = SystemTime::now();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid: Option<u32> = name.split('-').next().and_then(|p| p.parse().ok());
        let alive = pid.is_some_and(|p| p == std::process::id() || Path::new(&format!("/proc/{p}")).exists());
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .map(|t| now.duration_since(t).unwrap_or_default() > TEMP_MAX_AGE)
            .unwrap_or(true);
        if !alive || (old && pid.is_none()) {
            let p = e.path();
            let ok = if p.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
            if ok.is_ok() {
                cleared += 1;
            }
        }
    }
    cleared
}

/// Evicts one source if nobody holds it; `None` if a run holds it (or it vanished).
fn evict(store: &Store, key: &str) -> Option<()> {
    let lock = super::open_marker(&store.layout().source_lock(key)).ok()?;
    lock.try_lock().ok()?;
    let trash = store.temp_path("evict");
    fs::rename(store.layout().sources_dir().join(key), &trash).ok()?;
    let _ = fs::remove_dir_all(&trash);
    // The lock file stays: a process waiting on it must keep contending on the same inode
    // (deleting it would let a later GC lock a new file while that process uses the source).
    Some(())
}

/// Whether a sweep is due: something was written this run, or the last sweep is old.
pub(crate) fn sweep_due(store: &Store, wrote: bool) -> bool {
    wrote
        || fs::metadata(store.layout().last_gc())
            .and_then(|m| m.modified())
            .map(|t| SystemTime::now().duration_since(t).unwrap_or_default() > SWEEP_INTERVAL)
            .unwrap_or(true)
}

/// Sweeps stale temporaries and partial downloads, then evicts partial downloads (oldest first)
/// and least-recently-used sources until the store — sources and partial downloads — fits
/// `max_bytes`, skipping anything a running extraction holds (a source's lock, the URL lock of a
/// download being written) or that was used within `min_age`.
pub fn gc(store: &Store, opts: GcOptions) -> GcReport {
    let _ = File::create(store.layout().last_gc());
    let mut report = GcReport {
        temps_cleared: sweep_temps(store),
        ..Default::default()
    };
    let stale = sweep_stale_partials(store);
    report.partial_downloads_cleared = stale;
    report.temps_cleared += stale;
    let mut srcs = sources(store);
    let mut parts = partials(store);
    let total: u64 = srcs.iter().map(|s| s.bytes).sum::<u64>() + parts.iter().map(|p| p.bytes).sum::<u64>();
    report.bytes_before = total;
    let mut total = total;
    srcs.sort_by_key(|s| s.last_used);
    parts.sort_by_key(|p| p.modified);
    let now = SystemTime::now();
    // Partial downloads go before any source. A partial download serves no run until it is
    // finished: it only saves network time if that same URL is fetched again, after its
    // download already failed once (and it may never be retried). A stored source is what makes
    // the next run of a composition instant (whole-clip hits), renderers may still be reading
    // its clip folders, and re-making it costs decoding — for a remote source, the whole
    // download again too. Partials are also the unbounded part (up to the download size limit
    // each, any number of them). Like sources, ones touched within `min_age` are kept, so
    // retrying a failed download soon after still resumes it; one being written never goes.
    for p in parts {
        if total <= opts.max_bytes {
            break;
        }
        let recent = now.duration_since(p.modified).unwrap_or_default() < opts.min_age;
        if recent || !remove_partial(store, &p.id) {
            continue;
        }
        report.partial_downloads_evicted += 1;
        report.bytes_freed += p.bytes;
        total -= p.bytes;
    }
    for s in srcs {
        if total <= opts.max_bytes {
            break;
        }
        if now.duration_since(s.last_used).unwrap_or_default() < opts.min_age {
            report.kept_recent += 1;
            continue;
        }
        if evict(store, &s.key).is_none() {
            report.kept_in_use += 1;
            continue;
        }
        report.evictions += 1;
        report.bytes_freed += s.bytes;
        total -= s.bytes;
    }
    report.bytes_after = total;
    report.url_records_removed = sweep_url_records(store);
    report
}

/// Whether a source folder file is a downloaded source (`remote.<ext>`).
fn is_remote_file(name: &str) -> bool {
    name.starts_with(&layout::remote_source_name(""))
}

/// Removes partial downloads untouched for [`PARTIAL_MAX_AGE`] and URL records whose source is
/// gone. Returns (partials removed, records removed).
fn sweep_downloads(store: &Store) -> (u64, u64) {
    (sweep_stale_partials(store), sweep_url_records(store))
}

/// Removes partial downloads (and their sidecars) untouched for [`PARTIAL_MAX_AGE`] that no
/// process is downloading. Returns how many.
fn sweep_stale_partials(store: &Store) -> u64 {
    let now = SystemTime::now();
    partials(store)
        .into_iter()
        .filter(|p| now.duration_since(p.modified).unwrap_or_default() > PARTIAL_MAX_AGE)
        .filter(|p| remove_partial(store, &p.id))
        .count() as u64
}

/// Removes URL records whose source file is gone (evicted) or that cannot be read, unless a
/// process is downloading that URL. Returns how many.
fn sweep_url_records(store: &Store) -> u64 {
    let mut records = 0;
    for e in fs::read_dir(store.layout().urls_dir()).into_iter().flatten().flatten() {
        let path = e.path();
        let Some(id) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
            continue;
        };
        let present = |p: &Path| {
            read_record(p).is_some_and(|r| {
                SourceKey::parse(&r.key).is_some_and(|k| store.layout().source_dir(&k).join(&r.file).is_file())
            })
        };
        if present(&path) {
            continue;
        }
        if let Some(_held) = try_lock_url(store, &id) {
            // Re-check under the lock: a download may have just recorded it.
            if !present(&path) && fs::remove_file(&path).is_ok() {
                records += 1;
            }
        }
    }
    records
}

/// Counts sources, stored frames, clip folders and real bytes.
pub fn stats(store: &Store) -> StoreStats {
    let mut st = StoreStats {
        root: store.root().to_path_buf(),
        ..Default::default()
    };
    let mut seen = HashSet::new();
    st.bytes = tree_usage(store.root(), &mut seen);
    for e in fs::read_dir(store.layout().sources_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        st.sources += 1;
        for v in fs::read_dir(Layout::frames_root(&e.path()))
            .into_iter()
            .flatten()
            .flatten()
        {
            st.frames += fs::read_dir(v.path()).map(|r| r.count() as u64).unwrap_or(0);
        }
        st.clips += fs::read_dir(Layout::clips_root(&e.path()))
            .map(|r| r.count() as u64)
            .unwrap_or(0);
        st.remote_files += fs::read_dir(e.path())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|f| is_remote_file(&f.file_name().to_string_lossy()))
            .count() as u64;
    }
    st.url_records = fs::read_dir(store.layout().urls_dir())
        .map(|r| r.count() as u64)
        .unwrap_or(0);
    st.partial_downloads = fs::read_dir(store.layout().downloads_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|f| f.file_name().to_string_lossy().ends_with(".part"))
        .count() as u64;
    st.partial_download_bytes = partials(store).iter().map(|p| p.bytes).sum();
    st
}

/// Evicts every source not locked by a running extraction and every partial download not being
/// written, and stale temporaries.
pub fn clear(store: &Store) -> GcReport {
    gc(
        store,
        GcOptions {
            max_bytes: 0,
            min_age: Duration::ZERO,
        },
    )
}

/// A stored image is whole: JPEG from SOI to EOI, PNG from signature to IEND.
fn image_is_whole(path: &Path) -> bool {
    let Ok(b) = fs::read(path) else { return false };
    match path.extension().and_then(|e| e.to_str()) {
        Some("jpg") => b.len() > 4 && b.starts_with(&[0xFF, 0xD8]) && b.ends_with(&[0xFF, 0xD9]),
        Some("png") => b.len() > 20 && b.starts_with(b"\x89PNG\r\n\x1a\n") && b[b.len() - 8..b.len() - 4] == *b"IEND",
        _ => false,
    }
}

/// Re-checks every stored frame and clip record; with `repair`, removes damaged frames, clip
/// folders that are incomplete or point at missing/damaged frames, and stale temporaries.
pub fn verify(store: &Store, repair: bool) -> VerifyReport {
    let mut rep = VerifyReport::default();
    for src in fs::read_dir(store.layout().sources_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let src_dir = src.path();
        let mut bad_frames: HashSet<PathBuf> = HashSet::new();
        let mut tainted: HashSet<PathBuf> = HashSet::new();
        for v in fs::read_dir(Layout::frames_root(&src_dir))
            .into_iter()
            .flatten()
            .flatten()
        {
            for f in fs::read_dir(v.path()).into_iter().flatten().flatten() {
                let p = f.path();
                rep.frames_checked += 1;
                if !image_is_whole(&p) {
                    rep.damaged.push(p.display().to_string());
                    bad_frames.insert(p.clone());
                    if repair && fs::remove_file(&p).is_ok() {
                        rep.repaired += 1;
                    }
                }
            }
        }
        for c in fs::read_dir(Layout::clips_root(&src_dir))
            .into_iter()
            .flatten()
            .flatten()
        {
            rep.clips_checked += 1;
            let dir = c.path();
            if let Some(problem) = check_clip(&dir, &src_dir, &bad_frames, &mut tainted) {
                rep.damaged.push(format!("{}: {problem}", dir.display()));
                if repair && fs::remove_dir_all(&dir).is_ok() {
                    rep.repaired += 1;
                }
            }
        }
        // Stored frames whose content a clip record contradicts: gone with a repair, so the
        // next extraction encodes them again.
        for obj in tainted.drain() {
            rep.damaged
                .push(format!("{}: does not match its recorded content", obj.display()));
            if repair && fs::remove_file(&obj).is_ok() {
                rep.repaired += 1;
            }
        }
        // A downloaded source must still hash to its folder's key.
        let key = src.file_name().to_string_lossy().into_owned();
        for f in fs::read_dir(&src_dir).into_iter().flatten().flatten() {
            if !is_remote_file(&f.file_name().to_string_lossy()) {
                continue;
            }
            rep.remote_files_checked += 1;
            let p = f.path();
            let mut h = blake3::Hasher::new();
            let ok = h.update_mmap(&p).is_ok() && h.finalize().to_hex().as_str() == key;
            if !ok {
                rep.damaged
                    .push(format!("{}: does not hash to its content key", p.display()));
                if repair && fs::remove_file(&p).is_ok() {
                    rep.repaired += 1;
                }
            }
        }
    }
    // URL records: readable and well-formed (one whose source was evicted is not damage; the
    // sweep removes it).
    for e in fs::read_dir(store.layout().urls_dir()).into_iter().flatten().flatten() {
        rep.url_records_checked += 1;
        let p = e.path();
        if read_record(&p).is_none_or(|r| SourceKey::parse(&r.key).is_none()) {
            rep.damaged.push(format!("{}: unreadable URL record", p.display()));
            if repair && fs::remove_file(&p).is_ok() {
                rep.repaired += 1;
            }
        }
    }
    if repair {
        rep.repaired += sweep_temps(store);
        sweep_downloads(store);
    }
    rep
}

/// What is wrong with clip folder `dir`, if anything. A frame whose recorded hash no longer
/// matches (edited in place through a hard link in `OUT`, bit-flipped, truncated and padded,
/// replaced) is damage; when the file is the stored frame object itself, that object is added
/// to `tainted` so a repair removes it too.
fn check_clip(dir: &Path, src_dir: &Path, bad: &HashSet<PathBuf>, tainted: &mut HashSet<PathBuf>) -> Option<String> {
    let bytes = fs::read(Layout::complete_record(dir)).unwrap_or_default();
    if super::is_newer(&bytes) {
        // Written by a newer framex sharing this store: its to judge, not ours.
        return None;
    }
    let rec = match ClipRecord::from_json(&bytes) {
        Some(r) => r,
        None => return Some("missing or unreadable .complete record".into()),
    };
    let held = rec.held();
    if rec.pts.len() as u64 != held.iter().map(|[a, b]| b - a).sum::<u64>() {
        return Some("record lists the wrong number of frames".into());
    }
    let Some(variant) = VariantKey::parse(&rec.variant) else {
        return Some("record names no valid variant".into());
    };
    // Hash mismatches do not stop the scan: every stored frame they taint must be found.
    let mut mismatch: Option<String> = None;
    let mut hashed: HashSet<i64> = HashSet::new();
    let held_indices = held.iter().flat_map(|&[a, b]| a..b);
    for (k, pts) in held_indices.zip(rec.pts.iter()) {
        let f = dir.join(layout::frame_file_name(k, &rec.ext));
        let obj = Layout::frames_root(src_dir)
            .join(variant.as_str())
            .join(layout::stored_frame_name(*pts, &rec.ext));
        let (Ok(fm), om) = (fs::symlink_metadata(&f), fs::metadata(&obj)) else {
            return Some(format!("frame {} is missing", k + 1));
        };
        if !fm.is_file() {
            return Some(format!("frame {} is not a regular file", k + 1));
        }
        if bad.contains(&obj) {
            return Some(format!("frame {} is damaged", k + 1));
        }
        if let Some((size, hash)) = rec.digest_of(*pts) {
            let same_file = om.as_ref().is_ok_and(|om| om.ino() == fm.ino() && om.dev() == fm.dev());
            // A held frame's other slots are links to the same object: hash it once.
            if same_file && !hashed.insert(*pts) {
                continue;
            }
            let content = fs::read(&f).map(|b| super::digest(*pts, &b)).ok();
            if content.as_ref().is_none_or(|d| d.1 != size || d.2 != hash) {
                if same_file {
                    tainted.insert(obj.clone());
                }
                mismatch.get_or_insert_with(|| format!("frame {} does not match its recorded content", k + 1));
            }
            continue;
        }
        match om {
            Ok(om) if om.ino() == fm.ino() && om.dev() == fm.dev() => {}
            // Stored frame replaced or gone: the clip's own link must still be a whole image.
            _ if image_is_whole(&f) => {}
            _ => return Some(format!("frame {} is damaged", k + 1)),
        }
    }
    mismatch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ClipKey, FrameKey};

    fn key(c: char) -> SourceKey {
        SourceKey::parse(&std::iter::repeat_n(c, 64).collect::<String>()).unwrap()
    }

    /// A source with `kb` KiB of frames, last used `age` ago.
    fn add_source(store: &Store, k: &SourceKey, kb: usize, age: Duration) {
        drop(store.lock_source(k).unwrap());
        let frame = FrameKey {
            source: k.clone(),
            variant: VariantKey::parse("jpg-q95-r0").unwrap(),
            pts: 0,
        };
        let obj = store.frame_path(&frame, "jpg");
        let mut bytes = vec![0xFFu8, 0xD8];
        bytes.resize(kb * 1024 - 2, 7);
        bytes.extend_from_slice(&[0xFF, 0xD9]);
        store.put_frame(&obj, &bytes).unwrap();
        let used = Layout::used_marker(&store.layout().source_dir(k));
        File::options()
            .write(true)
            .open(used)
            .unwrap()
            .set_modified(SystemTime::now() - age)
            .unwrap();
    }

    fn present(store: &Store, k: &SourceKey) -> bool {
        store.layout().source_dir(k).exists()
    }

    #[test]
    fn evicts_least_recently_used_first_and_never_a_locked_source() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (a, b, c) = (key('a'), key('b'), key('c'));
        add_source(&store, &a, 64, Duration::from_secs(300));
        add_source(&store, &b, 64, Duration::from_secs(200));
        add_source(&store, &c, 64, Duration::from_secs(100));
        let one = tree_usage(&store.layout().source_dir(&c), &mut HashSet::new());
        let r = gc(
            &store,
            GcOptions {
                max_bytes: one + one / 2,
                min_age: Duration::ZERO,
            },
        );
        assert_eq!(r.evictions, 2);
        assert!(!present(&store, &a) && !present(&store, &b) && present(&store, &c));
        assert!(r.bytes_freed >= 2 * 64 * 1024, "{r:?}");

        // A source held by a run survives even `clear`.
        add_source(&store, &a, 64, Duration::from_secs(500));
        let held = store.lock_source(&a).unwrap();
        let r = clear(&store);
        assert!(present(&store, &a), "locked source was evicted");
        assert!(!present(&store, &c));
        assert_eq!(r.kept_in_use, 1);
        drop(held);
        clear(&store);
        assert!(!present(&store, &a));
    }

    #[test]
    fn recently_used_sources_are_kept_by_default() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        add_source(&store, &key('a'), 16, Duration::from_secs(10));
        let r = gc(
            &store,
            GcOptions {
                max_bytes: 0,
                ..GcOptions::default()
            },
        );
        assert_eq!((r.evictions, r.kept_in_use, r.kept_recent), (0, 0, 1));
        assert!(r.bytes_after > 0, "still over the limit of 0");
    }

    #[test]
    fn hard_links_are_counted_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let k = key('d');
        add_source(&store, &k, 64, Duration::ZERO);
        let frame = FrameKey {
            source: k.clone(),
            variant: VariantKey::parse("jpg-q95-r0").unwrap(),
            pts: 0,
        };
        let obj = store.frame_path(&frame, "jpg");
        let before = stats(&store).bytes;
        let clip = store.clip_dir(&k, &ClipKey::of_description("x"));
        fs::create_dir_all(&clip).unwrap();
        for i in 0..5 {
            fs::hard_link(&obj, clip.join(format!("frame_{i:05}.jpg"))).unwrap();
        }
        let after = stats(&store).bytes;
        assert!(
            after - before < 64 * 1024,
            "links counted as copies: {before} -> {after}"
        );
    }

    #[test]
    fn stale_temporaries_of_dead_processes_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let dead = store.layout().tmp_dir().join("999999999-0-frame");
        fs::write(&dead, b"half").unwrap();
        let mine = store.temp_path("frame");
        fs::write(&mine, b"in use").unwrap();
        let r = gc(&store, GcOptions::default());
        assert_eq!(r.temps_cleared, 1);
        assert!(!dead.exists() && mine.exists());
    }

    #[test]
    fn downloads_stale_partials_and_dangling_url_records_are_swept() {
        use crate::store::downloads::{url_id, PartialInfo};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // A finished download: adopted into its source folder and recorded.
        let bytes = b"not really a video".to_vec();
        let key = SourceKey::of_hash(&blake3::hash(&bytes));
        let url = "https://example.com/a.mp4";
        let part = store.part_path(&url_id(url));
        fs::write(&part, &bytes).unwrap();
        let info = PartialInfo {
            url: url.into(),
            etag: Some("\"e\"".into()),
            ..Default::default()
        };
        store.save_partial(&url_id(url), &info).unwrap();
        let got = store.adopt_download(url, &part, &key, "mp4").unwrap();
        assert_eq!(got.path, store.layout().source_dir(&key).join("remote.mp4"));
        assert!(!part.exists() && store.load_partial(&url_id(url)).is_none());
        assert_eq!(
            store.remembered_key(&got.path),
            Some(key.clone()),
            "the memo knows the key"
        );
        drop(got);
        let hit = store.lookup_url(url).expect("recorded");
        assert_eq!(hit.key, key);
        drop(hit);
        assert!(store.lookup_url("https://example.com/other.mp4").is_none());
        let st = stats(&store);
        assert_eq!((st.remote_files, st.url_records, st.partial_downloads), (1, 1, 0));
        let v = verify(&store, false);
        assert!(v.damaged.is_empty(), "{v:?}");
        assert_eq!((v.remote_files_checked, v.url_records_checked), (1, 1));

        // Two partial downloads: one fresh, one untouched for two days.
        let (fresh, old) = (url_id("https://example.com/fresh"), url_id("https://example.com/old"));
        for id in [&fresh, &old] {
            fs::write(store.part_path(id), b"half").unwrap();
        }
        let two_days = SystemTime::now() - Duration::from_secs(48 * 3600);
        File::options()
            .write(true)
            .open(store.part_path(&old))
            .unwrap()
            .set_modified(two_days)
            .unwrap();
        assert_eq!(stats(&store).partial_downloads, 2);
        let r = gc(&store, GcOptions::default());
        assert_eq!((r.partial_downloads_cleared, r.url_records_removed), (1, 0));
        assert!(store.part_path(&fresh).exists() && !store.part_path(&old).exists());

        // Evicting the source leaves the record dangling: the same sweep removes it.
        let r = clear(&store);
        assert_eq!((r.evictions, r.url_records_removed), (1, 1), "{r:?}");
        assert!(store.lookup_url(url).is_none());
        assert_eq!(stats(&store).url_records, 0);

        // A damaged download is found by verify.
        let part = store.part_path(&url_id(url));
        fs::write(&part, &bytes).unwrap();
        let got = store.adopt_download(url, &part, &key, "mp4").unwrap();
        fs::write(&got.path, b"tampered").unwrap();
        let v = verify(&store, false);
        assert_eq!(v.damaged.len(), 1, "{v:?}");
    }

    #[test]
    fn partial_downloads_count_toward_the_size_limit_and_go_first() {
        use crate::store::downloads::url_id;
        use std::sync::atomic::AtomicBool;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let k = key('f');
        add_source(&store, &k, 64, Duration::from_secs(300));
        let src_bytes = tree_usage(&store.layout().source_dir(&k), &mut HashSet::new());
        // Three partial downloads of 256 KiB, untouched for 3, 2 and 1 hours (under the day
        // after which the sweep drops them anyway); the oldest is being downloaded right now.
        let ids: Vec<String> = ["busy", "old", "new"]
            .iter()
            .map(|n| url_id(&format!("https://example.com/{n}.mp4")))
            .collect();
        for (i, id) in ids.iter().enumerate() {
            let part = store.part_path(id);
            fs::create_dir_all(part.parent().unwrap()).unwrap();
            fs::write(&part, vec![1u8; 256 * 1024]).unwrap();
            File::options()
                .write(true)
                .open(&part)
                .unwrap()
                .set_modified(SystemTime::now() - Duration::from_secs(3600 * (3 - i as u64)))
                .unwrap();
        }
        let (busy, old, new) = (&ids[0], &ids[1], &ids[2]);
        let writing = store.lock_url(busy, &AtomicBool::new(false)).unwrap().unwrap();
        let one = partials(&store)[0].bytes;
        assert!(one >= 256 * 1024);
        let st = stats(&store);
        assert_eq!(
            (st.partial_downloads, st.partial_download_bytes),
            (3, 3 * one),
            "{st:?}"
        );
        assert!(st.bytes >= src_bytes + 3 * one, "{st:?}");

        // Over the limit by one partial: the oldest one nobody is writing goes, nothing else.
        let r = gc(
            &store,
            GcOptions {
                max_bytes: src_bytes + 2 * one,
                min_age: Duration::from_secs(1800),
            },
        );
        assert_eq!(r.bytes_before, src_bytes + 3 * one, "{r:?}");
        assert_eq!((r.partial_downloads_evicted, r.evictions), (1, 0), "{r:?}");
        assert_eq!((r.bytes_freed, r.bytes_after), (one, src_bytes + 2 * one), "{r:?}");
        assert!(store.part_path(busy).exists(), "the partial being written was evicted");
        assert!(!store.part_path(old).exists() && store.part_path(new).exists());
        assert!(present(&store, &k));

        // Partials touched within `min_age` are kept, like recently used sources.
        let r = gc(
            &store,
            GcOptions {
                max_bytes: 0,
                min_age: Duration::from_secs(2 * 3600),
            },
        );
        assert_eq!((r.partial_downloads_evicted, r.evictions), (0, 0), "{r:?}");
        assert!(store.part_path(new).exists());

        // `clear` removes every partial no process is writing; the written one goes once free.
        let r = clear(&store);
        assert_eq!((r.partial_downloads_evicted, r.evictions), (1, 1), "{r:?}");
        assert!(store.part_path(busy).exists() && !store.part_path(new).exists());
        drop(writing);
        clear(&store);
        assert!(!store.part_path(busy).exists());
        assert_eq!(stats(&store).partial_download_bytes, 0);
    }

    #[test]
    fn a_concurrent_publisher_wins_and_is_adopted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let k = key('e');
        let rec = ClipRecord::new(0, "jpg", "jpg-q95-r0", vec![]);
        let ck = ClipKey::of_description("ck");
        let first = store.temp_path("clip");
        fs::create_dir_all(&first).unwrap();
        fs::write(first.join("marker"), b"first").unwrap();
        let dest = store.publish_clip(&first, &k, &ck, &rec).unwrap();
        let second = store.temp_path("clip");
        fs::create_dir_all(&second).unwrap();
        fs::write(second.join("marker"), b"second").unwrap();
        assert_eq!(store.publish_clip(&second, &k, &ck, &rec).unwrap(), dest);
        assert_eq!(fs::read(dest.join("marker")).unwrap(), b"first");
        assert!(!second.exists());
        assert!(store.lookup_clip(&k, &ck).is_some());
        // verify finds the empty clip consistent
        assert!(verify(&store, false).damaged.is_empty());
    }
}
