//! Maintenance of the remote tier: `framex cache remote stats | gc | verify`.
//!
//! For: a fleet operator's view of the bucket and its upkeep. Not for: extraction (the run
//! talks to the tier through `run::tiered`).

use std::time::Duration;

use serde::Serialize;

use super::segment::{self, SegmentName};
use super::{unseal, RemoteStoreOptions, RemoteTier};
use crate::store::keys::{SourceKey, VariantKey};
use crate::store::{ClipRecord, StoredMeta};

/// What one object under the tier's root is, by its key.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Meta,
    Clip,
    Segment(SegmentName),
    /// Not something framex writes.
    Foreign,
}

fn kind(rel: &str) -> (Option<SourceKey>, Kind) {
    let parts: Vec<&str> = rel.split('/').collect();
    let source = match parts.as_slice() {
        ["src", key, ..] => SourceKey::parse(key),
        _ => None,
    };
    let hex32 = |s: &str| s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let k = match (source.is_some(), parts.as_slice()) {
        (true, ["src", _, "meta"]) => Kind::Meta,
        (true, ["src", _, "clips", c]) if hex32(c) => Kind::Clip,
        (true, ["src", _, "frames", v, name]) if VariantKey::parse(v).is_some() => {
            SegmentName::parse(name).map_or(Kind::Foreign, Kind::Segment)
        }
        _ => Kind::Foreign,
    };
    (source, k)
}

/// `framex cache remote stats`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RemoteStats {
    pub url: String,
    /// Distinct sources with anything stored.
    pub sources: u64,
    pub metadata_records: u64,
    pub clip_records: u64,
    pub segments: u64,
    /// Frames in all segments (a frame two hosts uploaded at once counts twice).
    pub frames: u64,
    pub segment_bytes: u64,
    pub total_bytes: u64,
    /// Objects under the root that framex did not write.
    pub foreign_objects: u64,
    /// Upload time of the oldest and newest object, Unix seconds (absent when empty).
    pub oldest_upload: Option<i64>,
    pub newest_upload: Option<i64>,
    pub requests: u64,
}

fn failed(tier: &RemoteTier, e: super::Down) -> String {
    format!("remote store {}: {}", tier.url(), e.0)
}

pub fn remote_stats(opts: &RemoteStoreOptions) -> Result<RemoteStats, String> {
    let tier = RemoteTier::open(opts)?;
    let all = tier.list_all().map_err(|e| failed(&tier, e))?;
    let mut s = RemoteStats {
        url: opts.url.clone(),
        sources: 0,
        metadata_records: 0,
        clip_records: 0,
        segments: 0,
        frames: 0,
        segment_bytes: 0,
        total_bytes: 0,
        foreign_objects: 0,
        oldest_upload: None,
        newest_upload: None,
        requests: 0,
    };
    let mut sources = std::collections::HashSet::new();
    for (rel, size, modified) in &all {
        let (source, k) = kind(rel);
        s.total_bytes += size;
        s.oldest_upload = Some(s.oldest_upload.map_or(*modified, |o| o.min(*modified)));
        s.newest_upload = Some(s.newest_upload.map_or(*modified, |o| o.max(*modified)));
        match k {
            Kind::Meta => s.metadata_records += 1,
            Kind::Clip => s.clip_records += 1,
            Kind::Segment(n) => {
                s.segments += 1;
                s.frames += n.count as u64;
                s.segment_bytes += size;
            }
            Kind::Foreign => s.foreign_objects += 1,
        }
        if let Some(src) = source {
            sources.insert(src);
        }
    }
    s.sources = sources.len() as u64;
    s.requests = tier.counters.requests.load(std::sync::atomic::Ordering::Relaxed);
    Ok(s)
}

/// `framex cache remote gc --older-than D`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RemoteGcReport {
    pub deleted: u64,
    pub bytes_freed: u64,
    pub kept: u64,
    pub requests: u64,
}

/// Deletes every framex object uploaded more than `older_than` ago (object storage keeps no
/// access time: age is time since upload; a frame still in use is uploaded again by the next
/// host that decodes it). Objects framex did not write are left alone. Clip records go
/// before the segments they point to, so no record outlives its frames for long.
pub fn remote_gc(opts: &RemoteStoreOptions, older_than: Duration) -> Result<RemoteGcReport, String> {
    let tier = RemoteTier::open(opts)?;
    let all = tier.list_all().map_err(|e| failed(&tier, e))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let cutoff = now - older_than.as_secs() as i64;
    let (mut records, mut segments) = (Vec::new(), Vec::new());
    let (mut bytes, mut kept) = (0, 0);
    for (rel, size, modified) in all {
        let k = kind(&rel).1;
        if modified > cutoff || k == Kind::Foreign {
            kept += 1;
            continue;
        }
        bytes += size;
        match k {
            Kind::Segment(_) => segments.push(rel),
            _ => records.push(rel),
        }
    }
    let mut deleted = tier.delete_all(&records).map_err(|e| failed(&tier, e))?;
    deleted += tier.delete_all(&segments).map_err(|e| failed(&tier, e))?;
    Ok(RemoteGcReport {
        deleted,
        bytes_freed: bytes,
        kept,
        requests: tier.counters.requests.load(std::sync::atomic::Ordering::Relaxed),
    })
}

/// One damaged object `verify` found.
#[derive(Debug, Serialize)]
#[non_exhaustive]
pub struct RemoteDamage {
    pub key: String,
    pub problem: String,
}

/// `framex cache remote verify [--repair]`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RemoteVerifyReport {
    pub url: String,
    pub objects: u64,
    pub segments: u64,
    pub frames: u64,
    pub records: u64,
    pub bytes_read: u64,
    /// Objects framex did not write (left alone, not damage).
    pub foreign_objects: u64,
    pub damaged: Vec<RemoteDamage>,
    /// Damaged objects deleted (with `--repair`).
    pub removed: u64,
}

/// Reads every framex object back and checks it: a segment's index against its name and each
/// frame against its hash, a record's seal and its contents. With `repair`, damaged objects
/// are deleted (the next host that needs them decodes and uploads them again).
pub fn remote_verify(opts: &RemoteStoreOptions, repair: bool) -> Result<RemoteVerifyReport, String> {
    let tier = RemoteTier::open(opts)?;
    let all = tier.list_all().map_err(|e| failed(&tier, e))?;
    let mut r = RemoteVerifyReport {
        url: opts.url.clone(),
        objects: all.len() as u64,
        segments: 0,
        frames: 0,
        records: 0,
        bytes_read: 0,
        foreign_objects: 0,
        damaged: Vec::new(),
        removed: 0,
    };
    let mine: Vec<(String, Kind)> = all
        .into_iter()
        .filter_map(|(rel, _, _)| match kind(&rel).1 {
            Kind::Foreign => {
                r.foreign_objects += 1;
                None
            }
            k => Some((rel, k)),
        })
        .collect();
    // A few objects at a time: memory stays at `concurrency` objects however big the bucket.
    for chunk in mine.chunks(opts.concurrency.max(1)) {
        let keys: Vec<String> = chunk.iter().map(|(k, _)| k.clone()).collect();
        let bodies = tier.read_all(&keys).map_err(|e| failed(&tier, e))?;
        for ((key, k), body) in chunk.iter().zip(bodies) {
            let Some(bytes) = body else { continue }; // deleted meanwhile
            r.bytes_read += bytes.len() as u64;
            let problem = match k {
                Kind::Segment(name) => match segment::verify(name, &bytes) {
                    Ok(n) => {
                        r.segments += 1;
                        r.frames += n as u64;
                        None
                    }
                    Err(e) => Some(e),
                },
                Kind::Meta | Kind::Clip => {
                    r.records += 1;
                    match unseal(&bytes) {
                        None => Some("its seal does not hold".to_string()),
                        Some(b) if *k == Kind::Meta && StoredMeta::from_json(b).is_none() => {
                            Some("not a metadata record this framex reads".into())
                        }
                        Some(b) if *k == Kind::Clip && ClipRecord::from_json(b).is_none() => {
                            Some("not a clip record this framex reads".into())
                        }
                        Some(_) => None,
                    }
                }
                Kind::Foreign => None,
            };
            if let Some(problem) = problem {
                r.damaged.push(RemoteDamage {
                    key: key.clone(),
                    problem,
                });
            }
        }
    }
    if repair && !r.damaged.is_empty() {
        let keys: Vec<String> = r.damaged.iter().map(|d| d.key.clone()).collect();
        r.removed = tier.delete_all(&keys).map_err(|e| failed(&tier, e))?;
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_classified_by_their_shape() {
        let src = "a".repeat(64);
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(kind(&format!("src/{src}/meta")).1, Kind::Meta);
        assert_eq!(kind(&format!("src/{src}/clips/{id}")).1, Kind::Clip);
        assert!(matches!(
            kind(&format!("src/{src}/frames/jpg-q95-r0/0_10_2_{id}.fxs")).1,
            Kind::Segment(_)
        ));
        for foreign in [
            "README".to_string(),
            format!("src/{}/meta", "a".repeat(63)),
            format!("src/{src}/clips/{}", &id[1..]),
            format!("src/{src}/frames/jpg..q/0_10_2_{id}.fxs"),
            format!("src/{src}/frames/jpg-q95-r0/junk.fxs"),
        ] {
            assert_eq!(kind(&foreign).1, Kind::Foreign, "{foreign}");
        }
    }
}
