//! Packed segments: many encoded frames of one (source, variant) in one immutable object.
//!
//! Object storage charges per request and is slow per object, so the remote tier never stores
//! a frame on its own. A segment holds a run of frames in presentation order, behind an index:
//!
//! ```text
//! "FXSEG\0\0\x01"            magic + format version (8 bytes)
//! count: u32 LE, 0: u32      frames in the segment, reserved
//! count × entry              pts: i64 LE, offset: u64 LE (into the data), len: u32 LE,
//!                            blake3: [u8; 32] of the frame's bytes      (52 bytes each)
//! data                       the frames' bytes, back to back
//! ```
//!
//! Its object name (see [`SegmentName`]) spells the first and last pts, the count and the first
//! 32 hex digits of the BLAKE3 of the header. So the name alone says which frames a segment
//! may hold, the header can be read with one ranged request of known length, and a header
//! that does not hash to its name is foreign or damaged. Each frame is then checked against
//! the hash the header gives it. The same frames make the same bytes and the same name:
//! concurrent writers of one segment are idempotent.

use std::fmt;

const MAGIC: &[u8; 8] = b"FXSEG\0\0\x01";
const HEAD: usize = 16;
const ENTRY: usize = 52;
/// The file name suffix of a segment object.
pub const SUFFIX: &str = ".fxs";

/// The byte length of the header of a segment of `count` frames.
pub fn header_len(count: u32) -> u64 {
    (HEAD + ENTRY * count as usize) as u64
}

/// One frame's place in a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub pts: i64,
    /// Offset of the frame's bytes from the start of the object.
    pub start: u64,
    pub len: u32,
    pub hash: [u8; 32],
}

/// What a segment's object name says about it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SegmentName {
    pub first: i64,
    pub last: i64,
    pub count: u32,
    /// 32 hex digits of BLAKE3 over the header.
    pub id: String,
}

impl SegmentName {
    /// Reads a name `<first>_<last>_<count>_<id>.fxs`; `None` for anything else.
    pub fn parse(name: &str) -> Option<SegmentName> {
        let stem = name.strip_suffix(SUFFIX)?;
        let mut parts = stem.split('_');
        let first = parts.next()?.parse().ok()?;
        let last = parts.next()?.parse().ok()?;
        let count: u32 = parts.next()?.parse().ok()?;
        let id = parts.next()?;
        let ok = parts.next().is_none()
            && first <= last
            && count > 0
            && id.len() == 32
            && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| SegmentName {
            first,
            last,
            count,
            id: id.to_string(),
        })
    }

    /// Whether the segment may hold a frame at `pts`.
    pub fn spans(&self, pts: i64) -> bool {
        (self.first..=self.last).contains(&pts)
    }
}

impl fmt::Display for SegmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}_{}_{}{SUFFIX}", self.first, self.last, self.count, self.id)
    }
}

/// A segment's frames, ready to upload: the whole object's bytes and its name.
pub struct Packed {
    pub name: SegmentName,
    pub bytes: Vec<u8>,
}

/// Packs `frames` (`(pts, bytes)`, in increasing pts order, at least one) into a segment.
pub fn pack(frames: &[(i64, Vec<u8>)]) -> Packed {
    assert!(!frames.is_empty(), "a segment holds at least one frame");
    debug_assert!(
        frames.windows(2).all(|w| w[0].0 < w[1].0),
        "frames in increasing pts order"
    );
    let count = frames.len() as u32;
    let head = header_len(count) as usize;
    let data: usize = frames.iter().map(|(_, b)| b.len()).sum();
    let mut bytes = Vec::with_capacity(head + data);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&count.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes());
    let mut offset = head as u64;
    for (pts, b) in frames {
        bytes.extend_from_slice(&pts.to_le_bytes());
        bytes.extend_from_slice(&offset.to_le_bytes());
        bytes.extend_from_slice(&(b.len() as u32).to_le_bytes());
        bytes.extend_from_slice(blake3::hash(b).as_bytes());
        offset += b.len() as u64;
    }
    let id = blake3::hash(&bytes).to_hex()[..32].to_string();
    for (_, b) in frames {
        bytes.extend_from_slice(b);
    }
    Packed {
        name: SegmentName {
            first: frames[0].0,
            last: frames[frames.len() - 1].0,
            count,
            id,
        },
        bytes,
    }
}

/// Reads and checks a segment's header (the first [`header_len`] bytes of the object) against
/// its name: the hash, the count, the pts bounds and order, and that every frame lies inside
/// an object of `object_len` bytes. An error says what is wrong.
pub fn read_header(name: &SegmentName, head: &[u8], object_len: u64) -> Result<Vec<Entry>, String> {
    let want = header_len(name.count) as usize;
    if head.len() < want {
        return Err(format!("header is {} bytes, {want} expected", head.len()));
    }
    let head = &head[..want];
    if blake3::hash(head).to_hex()[..32] != name.id {
        return Err("header does not hash to the object's name".into());
    }
    if &head[..8] != MAGIC {
        return Err("not a framex segment (magic)".into());
    }
    let count = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
    if count != name.count {
        return Err(format!("header lists {count} frames, the name {}", name.count));
    }
    let mut entries = Vec::with_capacity(count as usize);
    for e in head[HEAD..].chunks_exact(ENTRY) {
        let pts = i64::from_le_bytes(e[0..8].try_into().expect("8 bytes"));
        let start = u64::from_le_bytes(e[8..16].try_into().expect("8 bytes"));
        let len = u32::from_le_bytes(e[16..20].try_into().expect("4 bytes"));
        let hash: [u8; 32] = e[20..52].try_into().expect("32 bytes");
        if start < want as u64 || start.saturating_add(len as u64) > object_len {
            return Err(format!("frame at pts {pts} lies outside the object"));
        }
        entries.push(Entry { pts, start, len, hash });
    }
    let ordered = entries.windows(2).all(|w| w[0].pts < w[1].pts);
    let bounded =
        entries.first().map(|e| e.pts) == Some(name.first) && entries.last().map(|e| e.pts) == Some(name.last);
    if !ordered || !bounded {
        return Err("frame list is out of order or disagrees with the name".into());
    }
    Ok(entries)
}

/// Whether `bytes` are the frame `entry` describes.
pub fn frame_ok(entry: &Entry, bytes: &[u8]) -> bool {
    bytes.len() == entry.len as usize && blake3::hash(bytes).as_bytes() == &entry.hash
}

/// Checks a whole segment object: header against name, every frame against its hash.
/// Returns the number of frames, or what is wrong.
pub fn verify(name: &SegmentName, bytes: &[u8]) -> Result<u32, String> {
    let entries = read_header(name, bytes, bytes.len() as u64)?;
    for e in &entries {
        let b = &bytes[e.start as usize..(e.start + e.len as u64) as usize];
        if !frame_ok(e, b) {
            return Err(format!("frame at pts {} does not match its hash", e.pts));
        }
    }
    Ok(entries.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames() -> Vec<(i64, Vec<u8>)> {
        vec![
            (-512, b"first".to_vec()),
            (0, vec![7; 1000]),
            (1024, b"third frame".to_vec()),
        ]
    }

    #[test]
    fn a_segment_round_trips_and_names_itself() {
        let p = pack(&frames());
        let name = SegmentName::parse(&p.name.to_string()).expect("its own name parses");
        assert_eq!(name, p.name);
        assert_eq!((name.first, name.last, name.count), (-512, 1024, 3));
        assert_eq!(verify(&name, &p.bytes), Ok(3));
        let entries = read_header(&name, &p.bytes[..header_len(3) as usize], p.bytes.len() as u64).unwrap();
        for ((pts, b), e) in frames().iter().zip(&entries) {
            assert_eq!(e.pts, *pts);
            let got = &p.bytes[e.start as usize..e.start as usize + e.len as usize];
            assert_eq!(got, &b[..]);
            assert!(frame_ok(e, got));
        }
        // Same frames, same bytes, same name: writers are idempotent.
        assert_eq!(pack(&frames()).name, p.name);
        assert!(name.spans(0) && !name.spans(1025));
    }

    #[test]
    fn damage_is_caught_where_it_is() {
        let p = pack(&frames());
        // A flipped byte in a frame: the header is fine, that frame fails its hash.
        let mut bad = p.bytes.clone();
        let n = bad.len();
        bad[n - 2] ^= 1;
        assert!(verify(&p.name, &bad).unwrap_err().contains("pts 1024"));
        // A flipped byte in the header, or a truncated object: refused whole.
        let mut bad = p.bytes.clone();
        bad[20] ^= 1;
        assert!(verify(&p.name, &bad).unwrap_err().contains("hash to the object's name"));
        assert!(verify(&p.name, &p.bytes[..p.bytes.len() - 1]).is_err());
        // Another segment's name over these bytes.
        let other = pack(&frames()[..2]);
        assert!(verify(&other.name, &p.bytes).is_err());
    }

    #[test]
    fn only_well_formed_names_parse() {
        let id = "0123456789abcdef0123456789abcdef";
        assert!(SegmentName::parse(&format!("0_10_2_{id}.fxs")).is_some());
        for bad in [
            format!("10_0_2_{id}.fxs"),
            format!("0_10_0_{id}.fxs"),
            format!("0_10_2_{}.fxs", &id[1..]),
            format!("0_10_2_{id}"),
            format!("0_10_2_{id}_x.fxs"),
            format!("0_10_2_{}.fxs", id.to_uppercase()),
        ] {
            assert!(SegmentName::parse(&bad).is_none(), "{bad}");
        }
    }
}
