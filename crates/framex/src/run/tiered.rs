//! The run's side of the remote tier ([`crate::store::tier`]): which questions it asks, when,
//! and what it does with the answers. Every phase here is skipped without a tier, and a tier
//! failure only ends the tier's part of the run (with a warning): the local store and the
//! decoder do the rest.
//!
//! ```text
//! resolve ─▶ remote metadata ─▶ local clip hits ─▶ remote clip hits ─▶ local clip hits
//!        (sources never probed     (record + its frames → a local
//!         here: no FFmpeg needed)   clip folder, then a local hit)
//! probe ─▶ plan ─▶ remote frames ─▶ decode the rest ─▶ publish ─▶ remote flush
//!                  (frames missing locally,            (new frames in segments,
//!                   by segment and range)               metadata, then clip records)
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Instant;

use super::plan::{SourceNeeds, SourceNo};
use super::{decide_render, ms, record_holds, ExtractOptions, Opened, Run};
use crate::store::layout::Layout;
use crate::store::tier::{segment_runs, Flushed, RemoteStoreOptions, RemoteTier, Upload};
use crate::store::{ClipRecord, FrameKey, SourceKey, StoredMeta, VariantKey};

/// The tier and what this run did with it.
pub(super) struct TierRun {
    tier: RemoteTier,
    opts: RemoteStoreOptions,
    /// Sources whose metadata the tier already holds.
    meta_remote: HashSet<SourceNo>,
    /// Frames this run stored locally (encoded), for the flush.
    pub new_frames: Mutex<Vec<(FrameKey, &'static str)>>,
    clip_hits: u64,
    clip_misses: u64,
    fallbacks: u64,
    lookup_ms: f64,
}

impl TierRun {
    /// Opens the tier `opts` asks for; a tier that cannot be opened is a warning.
    pub fn open(opts: &ExtractOptions, has_store: bool, warnings: &mut Vec<String>) -> Option<TierRun> {
        let ro = opts.remote_store.as_ref()?;
        if !has_store {
            warnings.push(format!(
                "remote store {} ignored: it works through the local store, and this run has none",
                ro.url
            ));
            return None;
        }
        match RemoteTier::open(ro) {
            Ok(tier) => Some(TierRun {
                tier,
                opts: ro.clone(),
                meta_remote: HashSet::new(),
                new_frames: Mutex::new(Vec::new()),
                clip_hits: 0,
                clip_misses: 0,
                fallbacks: 0,
                lookup_ms: 0.0,
            }),
            Err(e) => {
                warnings.push(format!("{e}; running without it"));
                None
            }
        }
    }
}

/// Where a verified frame fetched from the tier goes: the local store's frame object (written
/// under `tmp/` and renamed, as every stored frame is).
fn keep_fetched<'a>(
    store: &'a crate::store::Store,
    source: &'a SourceKey,
    variant: &'a VariantKey,
    ext: &'a str,
) -> impl Fn(i64, &[u8]) + Sync + 'a {
    move |pts, bytes| {
        let frame = FrameKey {
            source: source.clone(),
            variant: variant.clone(),
            pts,
        };
        let _ = store.put_frame(&store.frame_path(&frame, ext), bytes);
    }
}

impl Run<'_> {
    /// Opens the remote tier the options ask for (only [`super::extract`] does: the store-only
    /// path answers all-hit runs, which need nothing from it).
    pub(super) fn open_tier(&mut self) {
        self.tier = TierRun::open(self.opts, self.store.is_some(), &mut self.warnings);
    }

    /// Sources some pending clip reads, with a key and no local metadata.
    fn sources_lacking_meta(&self) -> Vec<SourceNo> {
        (0..self.sources.len())
            .filter(|&s| self.sources[s].key.is_some() && self.sources[s].meta.is_none() && self.source_pending(s))
            .collect()
    }

    /// Fetches the metadata of sources this host never probed, so their clips can be looked
    /// up (locally and remotely) without opening them.
    pub(super) fn remote_metadata(&mut self) {
        let lacking = self.sources_lacking_meta();
        let (Some(t), Some(store)) = (self.tier.as_mut(), &self.store) else {
            return;
        };
        if lacking.is_empty() {
            return;
        }
        let t0 = Instant::now();
        let _span = self.tracer.span("phase", || "remote metadata".into());
        let keys: Vec<SourceKey> = lacking.iter().filter_map(|&s| self.sources[s].key.clone()).collect();
        match t.tier.get_metas(&keys) {
            Ok(found) => {
                for ((&s, key), body) in lacking.iter().zip(&keys).zip(found) {
                    if let Some(meta) = body.and_then(|b| StoredMeta::from_json(&b)) {
                        let _ = store.save_meta(key, &meta);
                        self.sources[s].meta = Some(meta);
                        t.meta_remote.insert(s);
                    }
                }
            }
            Err(_) => t.fallbacks += 1,
        }
        t.lookup_ms += ms(t0);
    }

    /// Asks the tier for the record of every clip still pending and, for each one it holds,
    /// fetches the frames the local store lacks and builds the clip's local folder from them.
    /// Returns whether any clip was built (the local hits are then looked up again).
    pub(super) fn remote_clip_hits(&mut self) -> bool {
        if self.tier.is_none() || self.store.is_none() {
            return false;
        }
        // As for local hits: every source's colour must be known to choose the variants.
        let used = |s: usize| self.clips.iter().any(|st| st.source == Some(s));
        if (0..self.sources.len()).any(|s| used(s) && self.sources[s].meta.is_none()) {
            return false;
        }
        let colours = self.stored_colours();
        let hdr = decide_render(&mut self.render, &mut self.warnings, colours, &self.clips);
        // A slice asks only for a record of exactly its frames: fetching a whole clip's frames
        // to serve a part of them would cost a fleet worker the whole clip's download; its
        // frames come by range after planning instead (`remote_frames`).
        let asks: Vec<_> = (0..self.clips.len())
            .filter(|&i| self.pending(i))
            .filter_map(|i| self.stored_candidates(i, hdr).map(|(k, p, c)| (k.clone(), p, c)))
            .map(|(k, p, mut c)| {
                c.truncate(1);
                (k, p, c)
            })
            .collect();
        if asks.is_empty() {
            return false;
        }
        let t0 = Instant::now();
        let _span = self.tracer.span("phase", || "remote clip hits".into());
        let (Some(t), Some(store)) = (self.tier.as_mut(), &self.store) else {
            return false;
        };
        let pairs: Vec<(SourceKey, crate::store::ClipKey)> = asks
            .iter()
            .flat_map(|(k, _, cands)| cands.iter().map(move |c| (k.clone(), c.clone())))
            .collect();
        let mut bodies = match t.tier.get_clips(&pairs) {
            Ok(b) => b.into_iter(),
            Err(_) => {
                t.fallbacks += 1;
                t.lookup_ms += ms(t0);
                return false;
            }
        };
        let mut built = false;
        for (key, planned, cands) in asks {
            let vkey = VariantKey::new(&planned.variant, planned.info.rotation);
            let ext = planned.variant.format.extension();
            let mut found = None;
            for c in cands {
                let rec = bodies.next().flatten().and_then(|b| ClipRecord::from_json(&b));
                let fits = |r: &ClipRecord| record_holds(r, &planned) && r.variant == vkey.as_str() && r.ext == ext;
                if let (None, Some(rec)) = (&found, rec.filter(fits)) {
                    found = Some((c, rec));
                }
            }
            let Some((ckey, rec)) = found else {
                t.clip_misses += 1;
                continue;
            };
            let have = store.existing_frames(&key, &vkey, ext);
            let wanted: BTreeSet<i64> = rec.pts.iter().copied().filter(|p| !have.contains(p)).collect();
            let put = keep_fetched(store, &key, &vkey, ext);
            let expect = |pts: i64| rec.digest_of(pts).map(|(n, h)| (n, h.to_string()));
            match t.tier.fetch_frames(&key, &vkey, &wanted, &expect, &put) {
                Ok(n) if n == wanted.len() as u64 => {}
                // Some frames are not there: planning finds the ones that are, decodes the rest.
                Ok(_) => {
                    t.clip_misses += 1;
                    continue;
                }
                Err(_) => {
                    t.fallbacks += 1;
                    break;
                }
            }
            if store.assemble_clip(&key, &ckey, &rec).is_ok() {
                t.clip_hits += 1;
                built = true;
            } else {
                t.clip_misses += 1;
            }
        }
        t.lookup_ms += ms(t0);
        built
    }

    /// Fetches, from the tier, the planned frames the local store lacks, before any decode:
    /// the producer then finds them stored.
    pub(super) fn remote_frames(&mut self, needs: &[SourceNeeds], opened: &Opened) {
        let (Some(t), Some(store)) = (self.tier.as_mut(), &self.store) else {
            return;
        };
        if needs.iter().all(|n| n.is_empty()) {
            return;
        }
        let t0 = Instant::now();
        let _span = self.tracer.span("phase", || "remote frames".into());
        'sources: for (s, need) in needs.iter().enumerate() {
            let (Some(key), Some(Ok(src))) = (&self.sources[s].key, &opened.sources[s]) else {
                continue;
            };
            let mut by_variant: BTreeMap<VariantKey, (&'static str, BTreeSet<i64>)> = BTreeMap::new();
            for &(frame, variant) in need.keys() {
                let vkey = VariantKey::new(&variant, src.info.rotation);
                let e = by_variant
                    .entry(vkey)
                    .or_insert_with(|| (variant.format.extension(), BTreeSet::new()));
                e.1.insert(src.index.pts(frame));
            }
            for (vkey, (ext, pts)) in by_variant {
                let have = store.existing_frames(key, &vkey, ext);
                let wanted: BTreeSet<i64> = pts.into_iter().filter(|p| !have.contains(p)).collect();
                let put = keep_fetched(store, key, &vkey, ext);
                if t.tier.fetch_frames(key, &vkey, &wanted, &|_| None, &put).is_err() {
                    t.fallbacks += 1;
                    break 'sources;
                }
            }
        }
        t.lookup_ms += ms(t0);
    }

    /// Uploads what this run added to the local store — new frames as segments, metadata of
    /// sources the tier lacked, then the records of clips published here — within the flush
    /// limit, and reports the tier's counters and warnings.
    pub(super) fn remote_flush(&mut self) {
        let Some(mut t) = self.tier.take() else {
            return;
        };
        let t0 = Instant::now();
        let mut flushed = Flushed::default();
        if let (false, Some(store)) = (self.opts.cancel.is_cancelled(), &self.store) {
            let _span = self.tracer.span("phase", || "remote flush".into());
            let mut jobs = Vec::new();
            for (s, src) in self.sources.iter().enumerate() {
                if let (true, false, Some(key)) = (src.probed, t.meta_remote.contains(&s), &src.key) {
                    if let Some(meta) = store.load_meta(key) {
                        jobs.push(Upload::Meta(key.clone(), meta.to_json()));
                    }
                }
            }
            let mut runs: HashMap<(SourceKey, VariantKey), Vec<(i64, std::path::PathBuf)>> = HashMap::new();
            for (f, ext) in t.new_frames.get_mut().expect("not poisoned").drain(..) {
                let path = store.frame_path(&f, ext);
                runs.entry((f.source, f.variant)).or_default().push((f.pts, path));
            }
            for ((s, v), frames) in runs {
                for (run, bytes) in segment_runs(frames) {
                    jobs.push(Upload::Segment(s.clone(), v.clone(), run, bytes));
                }
            }
            for st in &self.clips {
                let (true, false, Some(target)) = (st.is_published(), st.cached.load(Ordering::Relaxed), &st.store)
                else {
                    continue;
                };
                let dir = store.clip_dir(&target.source, &target.clip_key);
                if let Ok(bytes) = std::fs::read(Layout::complete_record(&dir)) {
                    jobs.push(Upload::Clip(target.source.clone(), target.clip_key.clone(), bytes));
                }
            }
            if !jobs.is_empty() {
                flushed = t.tier.flush(jobs, Instant::now() + t.opts.flush_limit);
            }
        }
        let b = &mut self.breakdown;
        let c = &t.tier.counters;
        let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        b.remote_clip_hits = t.clip_hits;
        b.remote_clip_misses = t.clip_misses;
        b.remote_frames_downloaded = n(&c.frames_down);
        b.remote_bytes_downloaded = n(&c.bytes_down);
        b.remote_frames_uploaded = n(&c.frames_up);
        b.remote_objects_uploaded = n(&c.objects_up);
        b.remote_bytes_uploaded = n(&c.bytes_up);
        b.remote_requests = n(&c.requests);
        b.remote_damaged = n(&c.damaged);
        b.remote_pending = flushed.pending;
        b.remote_ms = t.lookup_ms;
        b.remote_flush_ms = ms(t0);
        let url = t.tier.url().to_string();
        let damage = t.tier.take_damage();
        for d in damage.iter().take(5) {
            self.warnings.push(format!("remote store {url}: {d}"));
        }
        if damage.len() > 5 {
            self.warnings.push(format!(
                "remote store {url}: {} more damaged or foreign objects ignored",
                damage.len() - 5
            ));
        }
        if flushed.timed_out && t.tier.down_reason().is_none() {
            self.warnings.push(format!(
                "remote store {url}: {} object(s) ({} KiB) not uploaded within the flush limit of {:.1} s; \
                 their frames stay in the local store only",
                flushed.pending,
                flushed.pending_bytes.div_ceil(1024),
                t.opts.flush_limit.as_secs_f64()
            ));
        }
        if let Some(why) = t.tier.down_reason() {
            // A failure during the flush is a fallback too: its uploads were given up.
            t.fallbacks = t.fallbacks.max(1);
            let pending = match flushed.pending {
                0 => String::new(),
                p => format!("; {p} object(s) not uploaded"),
            };
            self.warnings.push(format!(
                "remote store {url} failed ({why}): this run carried on with the local store and the decoder{pending}"
            ));
        }
        self.breakdown.remote_fallbacks = t.fallbacks;
    }
}
