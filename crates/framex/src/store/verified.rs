//! Clip folders this process has already verified whole, so that a repeat hit in a live process
//! (a Node server answering the same composition again) costs two `statx` calls instead of one
//! per frame plus parsing the record.
//!
//! For: the warm path of [`crate::run`]'s whole-clip hits. A folder is remembered only after the
//! full check (every frame a regular file of its recorded size) passed, together with stamps
//! taken *before* that check: the folder's identity and modification times, and the record
//! file's identity. Any rename into or out of the folder, any removal (GC eviction, `cache
//! clear`, another process's repair) or a rewritten record changes a stamp, and the next hit
//! checks everything again.
//!
//! What it does not see: a frame file rewritten in place, without a rename, by something other
//! than framex (framex never writes a stored file in place). Such a change is caught by the first
//! hit of every new process and by `framex cache verify`. The memo lives as long as the process.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::layout::Layout;
use super::records::ClipRecord;

/// A file or folder's identity and modification state, as `statx` reports it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        let m = std::fs::symlink_metadata(path).ok()?;
        Some(Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

/// The stamps of a clip folder and of its record, read before the folder is checked.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct FolderStamps {
    folder: Stamp,
    /// The record's identity only (device, inode, size): a hit touches its mtime (the LRU clock),
    /// and a new record is always a new file (written elsewhere and renamed in).
    record: (u64, u64, u64),
}

impl FolderStamps {
    pub(crate) fn read(dir: &Path) -> Option<FolderStamps> {
        let folder = Stamp::of(dir)?;
        let r = Stamp::of(&Layout::complete_record(dir))?;
        Some(FolderStamps {
            folder,
            record: (r.dev, r.ino, r.size),
        })
    }
}

struct Entry {
    stamps: FolderStamps,
    record: Arc<ClipRecord>,
}

/// Bounds the memo by the frames its records list (about 60 bytes each, so ~60 MB): past it, it
/// starts over. A long-lived process working through many compositions must not grow without
/// limit; a forgotten folder is only checked again.
const MAX_FRAMES: usize = 1 << 20;

#[derive(Default)]
struct Memo {
    entries: HashMap<PathBuf, Entry>,
    frames: usize,
}

fn weight(record: &ClipRecord) -> usize {
    record.pts.len() + record.digests.len() + 1
}

fn memo() -> &'static Mutex<Memo> {
    static MEMO: std::sync::OnceLock<Mutex<Memo>> = std::sync::OnceLock::new();
    MEMO.get_or_init(|| Mutex::new(Memo::default()))
}

/// The record of `dir` if this process verified the folder whole and nothing about it changed
/// since: `stamps` (just read) equal those taken before that verification.
pub(crate) fn recall(dir: &Path, stamps: &FolderStamps) -> Option<Arc<ClipRecord>> {
    let memo = memo().lock().unwrap_or_else(|e| e.into_inner());
    memo.entries
        .get(dir)
        .filter(|e| e.stamps == *stamps)
        .map(|e| e.record.clone())
}

/// Notes that `dir`, in the state `stamps` were read in before the check, passed the full check.
pub(crate) fn remember(dir: &Path, stamps: FolderStamps, record: Arc<ClipRecord>) {
    let mut memo = memo().lock().unwrap_or_else(|e| e.into_inner());
    let w = weight(&record);
    if memo.frames + w > MAX_FRAMES {
        *memo = Memo::default();
    }
    memo.frames += w;
    if let Some(old) = memo.entries.insert(dir.to_path_buf(), Entry { stamps, record }) {
        memo.frames -= weight(&old.record);
    }
}

/// Drops `dir` (it was found damaged, or is being replaced).
pub(crate) fn forget(dir: &Path) {
    let mut memo = memo().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(old) = memo.entries.remove(dir) {
        memo.frames -= weight(&old.record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rename_into_the_folder_or_a_new_record_changes_the_stamps() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("frame_00001.jpg"), b"x").unwrap();
        std::fs::write(Layout::complete_record(d), b"{}").unwrap();
        let before = FolderStamps::read(d).unwrap();
        assert_eq!(FolderStamps::read(d), Some(before), "reading changes nothing");
        // Touching the record (the LRU clock) keeps it the same record.
        let f = std::fs::File::options()
            .write(true)
            .open(Layout::complete_record(d))
            .unwrap();
        f.set_modified(std::time::SystemTime::now()).unwrap();
        assert_eq!(FolderStamps::read(d), Some(before));
        // A frame swapped by a rename changes the folder.
        std::thread::sleep(std::time::Duration::from_millis(5));
        std::fs::write(d.join("new"), b"yy").unwrap();
        std::fs::rename(d.join("new"), d.join("frame_00001.jpg")).unwrap();
        let after = FolderStamps::read(d).unwrap();
        assert_ne!(after, before);
        // A new record (written elsewhere, renamed in) is another file.
        std::fs::write(d.join("rec"), b"{ }").unwrap();
        std::fs::rename(d.join("rec"), Layout::complete_record(d)).unwrap();
        assert_ne!(FolderStamps::read(d).unwrap().record, after.record);
    }
}
