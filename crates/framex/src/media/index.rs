//! The frame index: every frame's presentation time and keyframe, from a packet scan.
//!
//! Frames are numbered in presentation order (`0..len`). Times are integer ticks of the
//! stream's time base; media time 0 is the container's start time (the origin ffmpeg's `-ss`
//! counts from). [`FrameIndex::frame_at`] implements the display rule of contract §2.

use crate::time::Rational;

/// One packet of the video stream as the demuxer delivers it (decode order).
#[derive(Clone, Copy, Debug)]
pub struct PacketEntry {
    /// Presentation timestamp in ticks (dts when the container has no pts).
    pub pts: i64,
    pub dts: Option<i64>,
    pub duration: i64,
    pub key: bool,
    /// The packet produces no displayed frame (edit-list trimming).
    pub discard: bool,
}

/// Presentation-ordered frames with their keyframe dependencies.
#[derive(Clone, Debug)]
pub struct FrameIndex {
    pub time_base: Rational,
    /// Container start time in seconds: media time 0.
    pub origin: Rational,
    /// Presentation timestamps (ticks), strictly increasing; index = frame number.
    pts: Vec<i64>,
    /// Decode-order position of each frame's packet.
    decode_pos: Vec<u32>,
    /// Keyframes in decode order: (decode position, pts, dts used for seeking).
    keyframes: Vec<Keyframe>,
    /// Packets sorted by pts: (pts, decode position), for identifying packets after a seek.
    by_pts: Vec<(i64, u32)>,
    /// End of the playable range, media seconds (last frame's pts + its duration).
    end: Rational,
    /// Median distance between consecutive frames, in ticks.
    median_interval: Option<i64>,
    /// Frame intervals vary by more than a tick and 10 % around the median.
    vfr: bool,
    packet_count: u32,
}

#[derive(Clone, Copy, Debug)]
pub struct Keyframe {
    pub pos: u32,
    pub pts: i64,
    pub seek_ts: i64,
}

impl FrameIndex {
    /// Builds the index from the packets of one stream in decode order.
    pub fn build(
        packets: &[PacketEntry],
        time_base: Rational,
        origin: Rational,
        nominal_rate: Option<Rational>,
    ) -> FrameIndex {
        let mut frames: Vec<(i64, u32, i64)> = packets
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.discard)
            .map(|(i, p)| (p.pts, i as u32, p.duration))
            .collect();
        frames.sort_by_key(|f| (f.0, f.1));
        frames.dedup_by_key(|f| f.0);
        let pts: Vec<i64> = frames.iter().map(|f| f.0).collect();
        let decode_pos: Vec<u32> = frames.iter().map(|f| f.1).collect();

        let mut keyframes: Vec<Keyframe> = Vec::new();
        for (i, p) in packets.iter().enumerate() {
            if p.key {
                let k = Keyframe {
                    pos: i as u32,
                    pts: p.pts,
                    seek_ts: p.dts.unwrap_or(p.pts).min(p.pts),
                };
                // Keep keyframes whose pts increase: a seek target must be monotonic.
                if keyframes.last().is_none_or(|last| k.pts > last.pts) {
                    keyframes.push(k);
                }
            }
        }
        let mut by_pts: Vec<(i64, u32)> = packets.iter().enumerate().map(|(i, p)| (p.pts, i as u32)).collect();
        by_pts.sort_unstable();

        // Frame intervals (ticks), sorted: their median is the typical interval; a spread
        // beyond a tick and 10 % of it marks a VFR source.
        let mut intervals: Vec<i64> = pts.windows(2).map(|w| w[1] - w[0]).collect();
        intervals.sort_unstable();
        let median_interval = intervals.get(intervals.len() / 2).copied();
        let vfr = pts.len() >= 3
            && median_interval.is_some_and(|med| {
                let slack = (med / 10).max(1);
                intervals.iter().any(|&x| (x - med).abs() > slack)
            });

        // Duration of the last frame: its packet duration, else the typical interval, else 1/rate.
        let end = match frames.last() {
            None => Rational::ZERO,
            Some(&(last_pts, _, last_dur)) => {
                let dur_ticks = if last_dur > 0 {
                    Rational::from(last_dur)
                } else if let Some(med) = median_interval {
                    Rational::from(med)
                } else if let Some(r) = nominal_rate {
                    Rational::ONE / r / time_base
                } else {
                    Rational::ZERO
                };
                (Rational::from(last_pts) + dur_ticks) * time_base - origin
            }
        };
        FrameIndex {
            time_base,
            origin,
            pts,
            decode_pos,
            keyframes,
            by_pts,
            end,
            median_interval,
            vfr,
            packet_count: packets.len() as u32,
        }
    }

    pub fn len(&self) -> usize {
        self.pts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pts.is_empty()
    }

    pub fn keyframe_count(&self) -> usize {
        self.keyframes.len()
    }

    pub fn packet_count(&self) -> u32 {
        self.packet_count
    }

    /// End of the playable range in media seconds.
    pub fn end(&self) -> Rational {
        self.end
    }

    /// Media time (seconds) at which frame `i` is presented.
    pub fn media_time(&self, i: usize) -> Rational {
        Rational::from(self.pts[i]) * self.time_base - self.origin
    }

    pub fn pts(&self, i: usize) -> i64 {
        self.pts[i]
    }

    /// The sampling tolerance for output rate `fps` (contract §2): one tick of the time base — it
    /// absorbs container rounding (a 30 fps WebM frame meant for 66.67 ms is stored at 67 ms) —
    /// but never more than 1/16 of the source's frame interval, and at least 1/1000 of an output
    /// frame. The cap matters only for coarse time bases: raw streams (y4m) tick once per frame,
    /// and a full tick of slack would show every sample a frame early.
    pub fn tolerance(&self, fps: Rational) -> Rational {
        let tick = match self.median_interval {
            Some(iv) => self
                .time_base
                .min(Rational::from(iv) * self.time_base / Rational::from_int(16)),
            None => self.time_base,
        };
        tick.max(Rational::new(1, 1000) / fps)
    }

    /// The frame on screen at media time `m` for output rate `fps`: the greatest pts `<= m +
    /// tolerance`; before the first frame, the first frame. `None` only for an empty index.
    pub fn frame_at(&self, m: Rational, fps: Rational) -> Option<usize> {
        if self.pts.is_empty() {
            return None;
        }
        let limit = ((m + self.origin + self.tolerance(fps)) / self.time_base).floor();
        let limit = limit.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        let n = self.pts.partition_point(|&p| p <= limit);
        Some(n.saturating_sub(1))
    }

    /// The frame whose pts is `pts`, or the latest one before it (decoders can disagree by a tick).
    pub fn frame_for_pts(&self, pts: i64) -> Option<usize> {
        let n = self.pts.partition_point(|&p| p <= pts);
        n.checked_sub(1).or(if self.pts.is_empty() { None } else { Some(0) })
    }

    /// Decode position of frame `i`'s packet.
    pub fn decode_pos(&self, i: usize) -> u32 {
        self.decode_pos[i]
    }

    /// The keyframe decoding must start from to reach frame `i`: the latest keyframe presented
    /// at or before it (so open-GOP leading pictures fall back to the previous keyframe).
    pub fn keyframe_for(&self, i: usize) -> Option<Keyframe> {
        let p = self.pts[i];
        let n = self.keyframes.partition_point(|k| k.pts <= p);
        n.checked_sub(1).map(|j| self.keyframes[j])
    }

    /// The GOP (index of its keyframe) frame `i` belongs to, by presentation time.
    pub fn gop_of(&self, i: usize) -> Option<usize> {
        let p = self.pts[i];
        self.keyframes.partition_point(|k| k.pts <= p).checked_sub(1)
    }

    /// Keyframe of GOP `g`.
    pub fn gop_keyframe(&self, g: usize) -> Keyframe {
        self.keyframes[g]
    }

    /// Every frame's packet lies, in decode order, between its own keyframe's packet and the
    /// next keyframe's: each GOP decodes on its own (no open-GOP leading pictures), so GOPs can
    /// go to different decoders.
    pub fn gops_are_closed(&self) -> bool {
        (0..self.pts.len()).all(|i| match self.gop_of(i) {
            Some(g) => {
                let pos = self.decode_pos[i];
                pos >= self.keyframes[g].pos && self.keyframes.get(g + 1).is_none_or(|next| pos < next.pos)
            }
            None => false,
        })
    }

    /// Decode position of the packet with presentation timestamp `pts`, if indexed.
    pub fn packet_pos(&self, pts: i64) -> Option<u32> {
        let i = self.by_pts.partition_point(|e| e.0 < pts);
        self.by_pts.get(i).filter(|e| e.0 == pts).map(|e| e.1)
    }

    /// Frame intervals vary by more than a tick and 10 % around the median: a VFR source.
    pub fn is_vfr(&self) -> bool {
        self.vfr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfr(n: i64, step: i64, key_every: i64) -> Vec<PacketEntry> {
        (0..n)
            .map(|i| PacketEntry {
                pts: i * step,
                dts: Some(i * step),
                duration: step,
                key: i % key_every == 0,
                discard: false,
            })
            .collect()
    }

    #[test]
    fn display_rule_with_tolerance() {
        // WebM-style millisecond time base, 30 fps stored as 0, 33, 67, 100 ...
        let pk: Vec<PacketEntry> = (0..30)
            .map(|i| {
                let pts = (i as f64 * 1000.0 / 30.0).round() as i64;
                PacketEntry {
                    pts,
                    dts: Some(pts),
                    duration: 33,
                    key: i == 0,
                    discard: false,
                }
            })
            .collect();
        let idx = FrameIndex::build(&pk, Rational::new(1, 1000), Rational::ZERO, None);
        let fps = Rational::from_int(30);
        for k in 0..30 {
            let m = Rational::new(k, 30);
            assert_eq!(idx.frame_at(m, fps), Some(k as usize), "sample {k}");
        }
        assert_eq!(idx.frame_at(Rational::new(-1, 10), fps), Some(0));
    }

    #[test]
    fn held_frames_at_a_higher_output_rate() {
        // 24 fps source, mp4-style time base 1/12288 (512 ticks a frame), sampled at 30 fps.
        let idx = FrameIndex::build(&cfr(48, 512, 12), Rational::new(1, 12288), Rational::ZERO, None);
        let fps = Rational::from_int(30);
        for k in 0..60i128 {
            assert_eq!(idx.frame_at(Rational::new(k, 30), fps), Some((k * 24 / 30) as usize));
        }
        assert_eq!(idx.end(), Rational::from_int(2));
    }

    #[test]
    fn a_coarse_time_base_is_not_a_frame_of_slack() {
        // Raw streams (y4m) tick once per frame: sample k/30 must show frame k, not k + 1.
        let idx = FrameIndex::build(&cfr(30, 1, 30), Rational::new(1, 30), Rational::ZERO, None);
        let fps = Rational::from_int(30);
        for k in 0..30 {
            assert_eq!(idx.frame_at(Rational::new(k, 30), fps), Some(k as usize), "sample {k}");
        }
        // 24 fps source with a 1/24 time base sampled at 30 fps: floor(k·24/30).
        let idx = FrameIndex::build(&cfr(24, 1, 24), Rational::new(1, 24), Rational::ZERO, None);
        for k in 0..30i128 {
            assert_eq!(
                idx.frame_at(Rational::new(k, 30), fps),
                Some((k * 24 / 30) as usize),
                "sample {k}"
            );
        }
    }

    #[test]
    fn a_fine_time_base_keeps_a_thousandth_of_a_frame_of_slack() {
        // 90 kHz ticks; a frame stored 2 ticks after its ideal time is still shown on time.
        let pk: Vec<PacketEntry> = (0..10)
            .map(|i| {
                let pts = i * 3000 + if i == 5 { 2 } else { 0 };
                PacketEntry {
                    pts,
                    dts: Some(pts),
                    duration: 3000,
                    key: i == 0,
                    discard: false,
                }
            })
            .collect();
        let idx = FrameIndex::build(&pk, Rational::new(1, 90000), Rational::ZERO, None);
        assert_eq!(idx.frame_at(Rational::new(5, 30), Rational::from_int(30)), Some(5));
    }

    #[test]
    fn closed_and_open_gops() {
        let idx = FrameIndex::build(&cfr(30, 100, 10), Rational::new(1, 1000), Rational::ZERO, None);
        assert!(idx.gops_are_closed());
        assert_eq!(idx.gop_of(25), Some(2));
        // Open GOP: a B-frame decoded after keyframe 10 is shown before it.
        let mut pk = cfr(30, 100, 10);
        pk.swap(10, 11);
        pk[10].key = true;
        pk[11].key = false;
        let idx = FrameIndex::build(&pk, Rational::new(1, 1000), Rational::ZERO, None);
        assert!(!idx.gops_are_closed());
    }

    #[test]
    fn keyframes_and_vfr() {
        let idx = FrameIndex::build(&cfr(30, 100, 10), Rational::new(1, 1000), Rational::ZERO, None);
        assert_eq!(idx.keyframe_for(15).unwrap().pos, 10);
        assert_eq!(idx.keyframe_for(9).unwrap().pos, 0);
        assert!(!idx.is_vfr());
        let mut pk = cfr(30, 100, 100);
        for p in pk.iter_mut().skip(10) {
            p.pts += 1000;
            p.dts = Some(p.pts);
        }
        let idx = FrameIndex::build(&pk, Rational::new(1, 1000), Rational::ZERO, None);
        assert!(idx.is_vfr());
        // held through the gap: media time 1.5 s shows frame 9 (pts 0.9 s)
        assert_eq!(idx.frame_at(Rational::new(3, 2), Rational::from_int(30)), Some(9));
    }
}
