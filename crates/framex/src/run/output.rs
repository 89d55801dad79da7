//! Where frames land: clip staging folders, publication (store clip folder and/or `OUT/<id>`),
//! and materialising a stored clip into an output folder with hard links.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use super::plan::{PlannedClip, SourceNo};
use crate::error::ErrorKind;
use crate::report::{ClipError, Counters};
use crate::store::layout::parse_frame_file_name;
use crate::store::{frame_file_name, ClipKey, ClipRecord, FrameDigest, SourceKey, Store};

/// Where a clip is published in the store.
pub(crate) struct StoreTarget {
    pub source: SourceKey,
    pub clip_key: ClipKey,
    pub record: ClipRecord,
}

/// One clip during a run: its source, its plan, and its output bookkeeping (shared with the
/// pipeline's threads, hence the atomics).
pub(crate) struct ClipState {
    pub id: String,
    pub ext: &'static str,
    /// Folder the frames are linked into while the clip is being produced.
    pub staging: PathBuf,
    /// `OUT/<id>`, when an output folder was asked for.
    pub out_final: Option<PathBuf>,
    pub store: Option<StoreTarget>,
    pub remaining: AtomicU64,
    pub failure: OnceLock<ClipError>,
    pub published: AtomicBool,
    /// The folder the result points at once published.
    pub dir: OnceLock<PathBuf>,
    pub cached: AtomicBool,
    /// The run's source this clip reads, once resolved.
    pub source: Option<SourceNo>,
    /// Window, rendering and source metadata, once planned (or answered from the store).
    pub plan: Option<PlannedClip>,
    /// Size and hash of every distinct stored frame this clip's folder links, for its record.
    pub digests: Mutex<Vec<FrameDigest>>,
}

impl ClipState {
    pub fn new(id: &str) -> ClipState {
        ClipState {
            id: id.to_string(),
            ext: "jpg",
            staging: PathBuf::new(),
            out_final: None,
            store: None,
            remaining: AtomicU64::new(0),
            failure: OnceLock::new(),
            published: AtomicBool::new(false),
            dir: OnceLock::new(),
            cached: AtomicBool::new(false),
            source: None,
            plan: None,
            digests: Mutex::new(Vec::new()),
        }
    }

    pub fn frame_path(&self, k: u64) -> PathBuf {
        self.staging.join(frame_file_name(k, self.ext))
    }

    pub fn fail(&self, kind: ErrorKind, message: impl Into<String>) {
        let _ = self.failure.set(ClipError::new(&self.id, kind, message));
    }

    /// Fails the clip as `output_failed` after the I/O error `e`: retryable unless retrying
    /// unchanged cannot help (a read-only filesystem, a missing permission).
    pub fn fail_output(&self, e: &std::io::Error, message: impl Into<String>) {
        let mut error = ClipError::new(&self.id, ErrorKind::OutputFailed, message);
        error.retryable = retryable_io(e);
        let _ = self.failure.set(error);
    }

    pub fn failed(&self) -> bool {
        self.failure.get().is_some()
    }

    pub fn is_published(&self) -> bool {
        self.published.load(Ordering::Acquire)
    }

    /// Records the content of a stored frame this clip links (before its slot is marked done).
    pub fn note_digest(&self, d: &FrameDigest) {
        if self.store.is_some() {
            self.digests.lock().expect("digests").push(d.clone());
        }
    }
}

/// Whether trying again unchanged may get past output error `e`: yes for a full disk or an I/O
/// glitch, no for a read-only filesystem or a missing permission, and no for a folder framex
/// refuses to replace ([`check_replaceable`]).
pub(crate) fn retryable_io(e: &std::io::Error) -> bool {
    let refused = e.kind() == std::io::ErrorKind::AlreadyExists && e.raw_os_error().is_none();
    !refused && !matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM | libc::EROFS))
}

/// The staging folder for a clip produced straight into `OUT/`.
pub(crate) fn out_staging(out: &Path, id: &str) -> PathBuf {
    // The sequence number keeps two runs of one process (a Node server) apart.
    out.join(format!(
        ".framex-{}-{}-{id}.partial",
        std::process::id(),
        crate::store::unique_seq()
    ))
}

/// Removes staging folders left in `out` by framex processes that no longer run.
pub(crate) fn sweep_stale_staging(out: &Path) -> u64 {
    let mut cleared = 0;
    let Ok(rd) = std::fs::read_dir(out) else { return 0 };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(".framex-") else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id()
            && !Path::new(&format!("/proc/{pid}")).exists()
            && std::fs::remove_dir_all(e.path()).is_ok()
        {
            cleared += 1;
        }
    }
    cleared
}

/// Files that reached the filesystem's hard-link limit (ext4: 65 000 links), by device and
/// inode, with the copy made of each: further links of the same file go to its copy, so a frame
/// repeated a million times costs one copy per ~65 000 links, not one per link.
#[derive(Default)]
pub(crate) struct Saturated(std::collections::HashMap<(u64, u64), PathBuf>);

impl Saturated {
    /// Places `from` at `to` after a link of `from` failed with `EMLINK`: a link to the copy of
    /// `from` made earlier, or, when there is none (or it is full too), a new copy.
    fn place(&mut self, from: &Path, to: &Path, counters: &Counters) -> std::io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(from)?;
        let id = (m.dev(), m.ino());
        if let Some(copy) = self.0.get(&id) {
            match std::fs::hard_link(copy, to) {
                Err(e) if e.raw_os_error() == Some(libc::EMLINK) => {}
                r => return r,
            }
        }
        Counters::add(&counters.link_limit_copies, 1);
        std::fs::copy(from, to)?;
        self.0.insert(id, to.to_path_buf());
        Ok(())
    }
}

/// Links (or, across filesystems, copies) `from` to `to`, counting copies; at the link limit,
/// through `saturated`.
pub(crate) fn link_or_copy(
    from: &Path,
    to: &Path,
    saturated: &mut Saturated,
    counters: &Counters,
) -> std::io::Result<()> {
    let linked = match std::fs::hard_link(from, to) {
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
            std::fs::remove_file(to)?;
            std::fs::hard_link(from, to)
        }
        r => r,
    };
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EMLINK) => saturated.place(from, to, counters),
        Err(_) => {
            Counters::add(&counters.cross_fs_copies, 1);
            std::fs::copy(from, to).map(|_| ())
        }
    }
}

/// Whether `dest` (an `OUT/<clipId>` about to be replaced) may be: it does not exist, or it is a
/// folder framex could have made — nothing in it but `frame_<n>.jpg` / `.png` files (an empty
/// folder too). Anything else — a user's `media/` or `notes/`, a store, a file, a symbolic
/// link — is never replaced: framex refuses, naming the folder, and touches nothing. Judged by
/// content rather than a marker file, so the folders older framex versions made stay
/// replaceable and a clip folder holds nothing but its frames.
pub(crate) fn check_replaceable(dest: &Path) -> std::io::Result<()> {
    let refuse = |why: &str| {
        // `AlreadyExists` without an OS error code: how `retryable_io` knows it is a refusal.
        Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!(
                "{} already exists and {why}; framex replaces only clip folders it made (frame files \
                 only): move it away, or choose another --out or clip id",
                dest.display()
            ),
        ))
    };
    let meta = match std::fs::symlink_metadata(dest) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        return refuse("is not a folder");
    }
    for e in std::fs::read_dir(dest)? {
        let e = e?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        let frame = parse_frame_file_name(&name).is_some_and(|(_, ext)| ext == "jpg" || ext == "png");
        if !frame || !e.file_type()?.is_file() {
            return refuse(&format!("holds {name:?}, which is not a frame framex wrote"));
        }
    }
    Ok(())
}

/// Moves a finished folder to its final name, replacing an older one atomically (only one
/// [`check_replaceable`] allows).
fn replace_dir(staging: &Path, dest: &Path) -> std::io::Result<()> {
    check_replaceable(dest)?;
    if dest.exists() {
        exchange(staging, dest)?;
        // After the exchange the staging path holds the previous folder.
        let _ = std::fs::remove_dir_all(staging);
        Ok(())
    } else {
        std::fs::rename(staging, dest)
    }
}

/// Whether a stored clip folder still holds what its record promises: every frame file, each a
/// regular file (never a symbolic link planted there, which would be handed out as a frame) of
/// the recorded size (a torn or swapped file is never handed out silently; content hashes are
/// `cache verify`'s). One directory read plus one `statx` per frame when the record has sizes.
/// `Err` names the first problem.
pub(crate) fn check_clip_folder(dir: &Path, rec: &ClipRecord) -> Result<(), String> {
    let ext = rec.ext.as_str();
    let held = rec.held();
    let rd = std::fs::read_dir(dir).map_err(|e| format!("cannot read it: {e}"))?;
    // Frame number (1-based) → its entry, for the frames the record says the folder holds.
    let mut entries = std::collections::HashMap::new();
    for e in rd.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let Some(k) = parse_frame_file_name(&name)
            .filter(|&(k, e)| e == ext && k >= 1 && crate::composition::slice::contains(&held, k - 1))
            .map(|(k, _)| k)
        else {
            continue; // the record, or anything else: not handed out
        };
        if !e.file_type().is_ok_and(|t| t.is_file()) {
            return Err(format!("{name} is not a regular file"));
        }
        entries.insert(k - 1, e);
    }
    for (k, pts) in crate::composition::slice::indices(&held).zip(rec.pts.iter()) {
        let Some(e) = entries.get(&k) else {
            return Err(format!("{} is missing", frame_file_name(k, ext)));
        };
        if let Some((size, _)) = rec.digest_of(*pts) {
            if e.metadata().map(|m| m.len()).ok() != Some(size) {
                return Err(format!("{} is not the size recorded for it", frame_file_name(k, ext)));
            }
        }
    }
    if (rec.pts.len() as u64) < crate::composition::slice::count(&held) {
        return Err("its record lists fewer frames than it holds".into());
    }
    Ok(())
}

/// Builds `OUT/<id>` from the frames `ranges` of a complete clip folder with hard links, then
/// publishes it whole.
/// Links are made relative to open directory handles (`linkat`), so each costs one short
/// lookup instead of resolving two deep paths.
pub(crate) fn materialize(
    src_dir: &Path,
    dest: &Path,
    ranges: &[[u64; 2]],
    ext: &str,
    counters: &Counters,
) -> std::io::Result<()> {
    let out = dest.parent().unwrap_or(Path::new("."));
    let id = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging = out_staging(out, &id);
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    let r = (|| {
        let src = std::fs::File::open(src_dir)?;
        let dst = std::fs::File::open(&staging)?;
        let mut cross_fs = false;
        let mut saturated = Saturated::default();
        for k in crate::composition::slice::indices(ranges) {
            let name = frame_file_name(k, ext);
            if !cross_fs {
                match linkat(&src, &dst, &name) {
                    Ok(()) => continue,
                    Err(e) if e.raw_os_error() == Some(libc::EXDEV) => cross_fs = true,
                    Err(e) if e.raw_os_error() == Some(libc::EMLINK) => {
                        saturated.place(&src_dir.join(&name), &staging.join(&name), counters)?;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            Counters::add(&counters.cross_fs_copies, 1);
            std::fs::copy(src_dir.join(&name), staging.join(&name))?;
        }
        replace_dir(&staging, dest)
    })();
    if r.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    r
}

/// `linkat(src_dir/name, dst_dir/name)`.
fn linkat(src: &std::fs::File, dst: &std::fs::File, name: &str) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let c = std::ffi::CString::new(name)?;
    // SAFETY: both descriptors are open directories owned by the caller; `c` is NUL-terminated
    // and outlives the call.
    let r = unsafe { libc::linkat(src.as_raw_fd(), c.as_ptr(), dst.as_raw_fd(), c.as_ptr(), 0) };
    os_result(r)
}

/// A libc call's `0` / `-1` as an `io::Result` (the error from `errno`).
fn os_result(r: libc::c_int) -> std::io::Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Publishes a clip whose last frame is on disk: into the store (when it has a store target)
/// and/or to `OUT/<id>`. Called exactly once per clip, by whoever wrote its last frame.
pub(crate) fn publish(st: &ClipState, store: Option<&Store>, counters: &Counters, cancelled: bool) {
    if st.failed() || cancelled {
        return;
    }
    let t = Instant::now();
    let r = match (&st.store, store) {
        (Some(target), Some(store)) => {
            let mut record = target.record.clone();
            let mut digests = std::mem::take(&mut *st.digests.lock().expect("digests"));
            digests.sort_unstable();
            digests.dedup_by_key(|d| d.0);
            record.digests = digests;
            store
                .publish_clip(&st.staging, &target.source, &target.clip_key, &record)
                .and_then(|dir| match &st.out_final {
                    Some(out) => materialize(&dir, out, &record.held(), st.ext, counters).map(|_| out.clone()),
                    None => Ok(dir),
                })
        }
        _ => match &st.out_final {
            Some(out) => replace_dir(&st.staging, out).map(|_| out.clone()),
            None => Err(std::io::Error::other("no output folder and no store")),
        },
    };
    match r {
        Ok(dir) => {
            let _ = st.dir.set(dir);
            st.published.store(true, Ordering::Release);
        }
        Err(e) => {
            Counters::add(&counters.publish_failures, 1);
            let _ = std::fs::remove_dir_all(&st.staging);
            st.fail_output(&e, format!("cannot publish clip {:?}: {e}", st.id));
        }
    }
    Counters::add(&counters.publish_ns, t.elapsed().as_nanos() as u64);
}

/// Atomically swaps two paths (Linux `renameat2(RENAME_EXCHANGE)`).
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let ca = std::ffi::CString::new(a.as_os_str().as_bytes())?;
    let cb = std::ffi::CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths; renameat2 does not retain them.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    os_result(r)
}
