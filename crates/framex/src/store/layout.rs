//! The one owner of the store's on-disk layout: every folder, file and record name under
//! `<cache dir>/framex-v1/` is spelled here and nowhere else (see the table in [`super`]).
//!
//! For: mapping typed keys ([`super::keys`]) to paths. Not for: reading or writing anything
//! (the store does that), or deciding keys (the planner does).

use std::path::{Path, PathBuf};

use super::keys::{ClipKey, FrameKey, SourceKey, VariantKey};

/// The store format's folder under the cache dir; a future incompatible layout gets a new one.
pub(crate) const FORMAT_DIR: &str = "framex-v1";
/// The record that makes a clip folder complete (written last, inside the folder).
pub(crate) const COMPLETE: &str = ".complete";
/// Folders created when a store is opened.
pub(crate) const TOP_DIRS: [&str; 6] = [IDS, SRC, LOCKS, TMP, DOWNLOADS, URLS];

const IDS: &str = "ids";
const SRC: &str = "src";
const LOCKS: &str = "locks";
const TMP: &str = "tmp";
const DOWNLOADS: &str = "downloads";
const URLS: &str = "urls";
const META: &str = "meta.json";
const USED: &str = "used";
const FRAMES: &str = "frames";
const CLIPS: &str = "clips";
const LAST_GC: &str = "last-gc";
const URL_LOCK_PREFIX: &str = "url-";
/// A downloaded source is `src/<key>/remote.<ext>`.
const REMOTE_STEM: &str = "remote";

/// `frame_00001.jpg` for output frame `k = 0`: the file names inside a clip folder (and in
/// `OUT/<clipId>/`).
pub fn frame_file_name(k: u64, ext: &str) -> String {
    format!("frame_{:05}.{ext}", k + 1)
}

/// The 1-based number and the extension of a name [`frame_file_name`] writes
/// (`frame_00001.jpg` → `(1, "jpg")`); `None` for any other name.
pub(crate) fn parse_frame_file_name(name: &str) -> Option<(u64, &str)> {
    let (digits, ext) = name.strip_prefix("frame_")?.split_once('.')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((digits.parse().ok()?, ext))
}

/// The paths of one store, rooted at `<cache dir>/framex-v1` (canonical).
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: PathBuf) -> Layout {
        Layout { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `ids/<identity hash>`: the content key of the file with that identity.
    pub fn identity_memo(&self, identity_hash: &str) -> PathBuf {
        self.root.join(IDS).join(identity_hash)
    }

    /// `src/`, one folder per source.
    pub fn sources_dir(&self) -> PathBuf {
        self.root.join(SRC)
    }

    /// `src/<key>/`.
    pub fn source_dir(&self, key: &SourceKey) -> PathBuf {
        self.sources_dir().join(key.as_str())
    }

    /// `src/<key>/meta.json`: probe metadata and playable end.
    pub fn meta_record(&self, key: &SourceKey) -> PathBuf {
        self.source_dir(key).join(META)
    }

    /// `used` inside a source folder: its mtime is the source's LRU clock.
    pub fn used_marker(source_dir: &Path) -> PathBuf {
        source_dir.join(USED)
    }

    /// `frames/` inside a source folder: one folder per variant.
    pub fn frames_root(source_dir: &Path) -> PathBuf {
        source_dir.join(FRAMES)
    }

    /// `clips/` inside a source folder: one folder per clip key.
    pub fn clips_root(source_dir: &Path) -> PathBuf {
        source_dir.join(CLIPS)
    }

    /// `src/<key>/frames/<variant>/`.
    pub fn frames_dir(&self, key: &SourceKey, variant: &VariantKey) -> PathBuf {
        Self::frames_root(&self.source_dir(key)).join(variant.as_str())
    }

    /// `src/<key>/frames/<variant>/<pts>.<ext>`: one encoded frame.
    pub fn frame_object(&self, frame: &FrameKey, ext: &str) -> PathBuf {
        self.frames_dir(&frame.source, &frame.variant)
            .join(stored_frame_name(frame.pts, ext))
    }

    /// `src/<key>/clips/<clip key>/`.
    pub fn clip_dir(&self, key: &SourceKey, clip: &ClipKey) -> PathBuf {
        Self::clips_root(&self.source_dir(key)).join(clip.as_str())
    }

    /// The `.complete` record inside a clip folder.
    pub fn complete_record(clip_dir: &Path) -> PathBuf {
        clip_dir.join(COMPLETE)
    }

    /// `src/<key>/remote.<ext>`: a downloaded source.
    pub fn remote_source(&self, key: &SourceKey, ext: &str) -> PathBuf {
        self.source_dir(key).join(remote_source_name(ext))
    }

    /// `locks/`.
    pub fn locks_dir(&self) -> PathBuf {
        self.root.join(LOCKS)
    }

    /// `locks/<key>` (also the name the sweep try-locks before evicting a source folder).
    pub fn source_lock(&self, key_text: &str) -> PathBuf {
        self.locks_dir().join(key_text)
    }

    /// `locks/url-<url id>`.
    pub fn url_lock(&self, url_id: &str) -> PathBuf {
        self.locks_dir().join(format!("{URL_LOCK_PREFIX}{url_id}"))
    }

    /// `tmp/`: every temporary, so a crashed run's leftovers are always swept.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join(TMP)
    }

    /// `downloads/`: unfinished downloads and their sidecars.
    pub fn downloads_dir(&self) -> PathBuf {
        self.root.join(DOWNLOADS)
    }

    /// `downloads/<url id>.part`.
    pub fn partial_download(&self, url_id: &str) -> PathBuf {
        self.downloads_dir().join(format!("{url_id}.part"))
    }

    /// `downloads/<url id>.json`.
    pub fn partial_sidecar(&self, url_id: &str) -> PathBuf {
        self.downloads_dir().join(format!("{url_id}.json"))
    }

    /// `urls/`.
    pub fn urls_dir(&self) -> PathBuf {
        self.root.join(URLS)
    }

    /// `urls/<url id>.json`.
    pub fn url_record(&self, url_id: &str) -> PathBuf {
        self.urls_dir().join(format!("{url_id}.json"))
    }

    /// `last-gc`: its mtime is the last sweep.
    pub fn last_gc(&self) -> PathBuf {
        self.root.join(LAST_GC)
    }
}

/// `<pts>.<ext>`: a stored frame's file name in its variant folder.
pub(crate) fn stored_frame_name(pts: i64, ext: &str) -> String {
    format!("{pts}.{ext}")
}

/// The pts of a stored frame's file name with extension `ext`.
pub(crate) fn parse_stored_frame_name(name: &str, ext: &str) -> Option<i64> {
    name.strip_suffix(ext)?.strip_suffix('.')?.parse().ok()
}

/// `remote.<ext>`.
pub(crate) fn remote_source_name(ext: &str) -> String {
    format!("{REMOTE_STEM}.{ext}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_names_are_one_based() {
        assert_eq!(frame_file_name(0, "jpg"), "frame_00001.jpg");
        assert_eq!(frame_file_name(99_999, "png"), "frame_100000.png");
    }

    #[test]
    fn frame_names_parse_back() {
        assert_eq!(parse_frame_file_name(&frame_file_name(41, "png")), Some((42, "png")));
        assert_eq!(parse_frame_file_name("frame_.jpg"), None);
        assert_eq!(parse_frame_file_name("frame_+5.jpg"), None);
        assert_eq!(parse_frame_file_name("notes.txt"), None);
    }

    #[test]
    fn stored_frame_names_round_trip() {
        assert_eq!(parse_stored_frame_name(&stored_frame_name(-3, "png"), "png"), Some(-3));
        assert_eq!(parse_stored_frame_name("12.jpg", "png"), None);
        assert_eq!(parse_stored_frame_name("12jpg", "jpg"), None);
    }
}
