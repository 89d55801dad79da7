//! Typed keys of everything the store holds. The same keys name a thing in the local store
//! ([`super::layout`] maps them to paths) and, later, in a remote tier (mapped to objects).
//!
//! For: building a key only from what identifies its content, so two different things can
//! never share one. Not for: where a key lives on disk (that is [`super::layout`]).

use std::fmt;

use crate::encode::{ImageFormat, Variant};
use crate::media::colour::Transform;

/// Content hash of a source: 64 lowercase hex digits of BLAKE3 over the file's bytes. Only
/// [`SourceKey::parse`] and [`SourceKey::of_hash`] make one, so a key is always a safe single
/// path component.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceKey(String);

impl SourceKey {
    /// A key from its text (as stored in identity memos and URL records), if well formed.
    pub fn parse(s: &str) -> Option<SourceKey> {
        let s = s.trim();
        (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| SourceKey(s.to_string()))
    }

    /// The key of content that hashed to `hash`.
    pub fn of_hash(hash: &blake3::Hash) -> SourceKey {
        SourceKey(hash.to_hex().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a source's frames are rendered (format, quality, alpha, transform) plus the rotation
/// applied: frames of one source under one variant key are interchangeable, under two they
/// are not. Spelled `jpg-q95-r0`, `png-a-r90`, `jpg-q95-r0-sdr2hdr-pq` (store format v1); a
/// drawn size adds `-s<w>x<h>` (`jpg-q95-r0-s640x360`), so unsized keys are unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VariantKey(String);

impl VariantKey {
    pub fn new(variant: &Variant, rotation: u32) -> VariantKey {
        // Every field of `Variant` is named here: a field added to it does not compile until
        // it is part of the key (or deliberately ignored), so two renderings never share frames.
        let Variant {
            format,
            quality,
            alpha,
            transform,
            size,
        } = *variant;
        let base = match format {
            ImageFormat::Jpg => format!("jpg-q{quality}-r{rotation}"),
            ImageFormat::Png => format!("png{}-r{rotation}", if alpha { "-a" } else { "" }),
        };
        let base = match transform {
            Transform::None => base,
            t => format!("{base}-{}", t.name()),
        };
        VariantKey(match size {
            None => base,
            Some((w, h)) => format!("{base}-s{w}x{h}"),
        })
    }

    /// A key read back from a stored record or folder name, if it is a safe path component:
    /// ASCII letters, digits and `-`, at most 100 bytes. Every key [`VariantKey::new`] spells
    /// must stay within that (`cache verify` calls anything else damage).
    pub fn parse(s: &str) -> Option<VariantKey> {
        let ok = !s.is_empty() && s.len() <= 100 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        ok.then(|| VariantKey(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VariantKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One encoded source frame: the source, its rendering, and the frame's presentation time in
/// the stream's time base.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FrameKey {
    pub source: SourceKey,
    pub variant: VariantKey,
    pub pts: i64,
}

/// A clip's frames in order: the same key means the same images in the same order, whatever
/// the clip's id or place on the timeline. 32 hex digits of BLAKE3 over a description that
/// starts with the store format version.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClipKey(String);

impl ClipKey {
    /// The key of a clip described by `description` (which must name every input that changes
    /// the clip's frames; the planner builds it).
    pub fn of_description(description: &str) -> ClipKey {
        ClipKey(blake3::hash(description.as_bytes()).to_hex()[..32].to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_keys_keep_the_v1_spelling() {
        let v = |format, quality, alpha, transform| Variant {
            format,
            quality,
            alpha,
            transform,
            size: None,
        };
        let key = |v: Variant, r| VariantKey::new(&v, r).as_str().to_string();
        assert_eq!(key(v(ImageFormat::Jpg, 95, false, Transform::None), 0), "jpg-q95-r0");
        assert_eq!(key(v(ImageFormat::Png, 95, true, Transform::None), 90), "png-a-r90");
        assert_eq!(key(v(ImageFormat::Png, 80, false, Transform::None), 0), "png-r0");
        assert_eq!(
            key(
                v(
                    ImageFormat::Jpg,
                    90,
                    false,
                    Transform::SdrToHdr(crate::media::colour::Hdr::Pq)
                ),
                0
            ),
            "jpg-q90-r0-sdr2hdr-pq"
        );
        let sized = Variant {
            size: Some((640, 360)),
            ..v(ImageFormat::Jpg, 95, false, Transform::None)
        };
        assert_eq!(key(sized, 90), "jpg-q95-r90-s640x360");
        assert!(VariantKey::parse(&key(sized, 90)).is_some());
    }

    #[test]
    fn source_keys_are_64_hex_digits() {
        assert!(SourceKey::parse(&"a".repeat(64)).is_some());
        assert!(SourceKey::parse(&"a".repeat(63)).is_none());
        assert!(SourceKey::parse(&format!("../{}", "a".repeat(61))).is_none());
        assert_eq!(
            SourceKey::of_hash(&blake3::hash(b"x")).as_str(),
            blake3::hash(b"x").to_hex().as_str()
        );
        assert!(VariantKey::parse("../x").is_none());
        assert!(VariantKey::parse("jpg-q95-r0").is_some());
    }
}
