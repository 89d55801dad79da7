//! What a run does with fuzzed input once it parses or opens — shared by the stable mutation
//! tests (`crates/framex/tests/fuzz_*.rs`) and the `cargo fuzz` targets (`fuzz/fuzz_targets/`,
//! which include this file by path), so both exercise the same code. Internal items come from the
//! sibling `internals` module, which both kinds of includer declare next to this one.

use ffmpeg_next as ff;
use framex::{Composition, Rational};

use super::internals::{
    clip_timing, resolve_window, ColourFilters, Converter, FrameLookup, Hdr, ImageEncoder, ImageFormat, Target,
    Transform, Variant,
};

/// Source lengths a composition is resolved against: tiny, typical, odd, a day.
fn source_ends() -> [Rational; 5] {
    [
        Rational::new(1, 30),
        Rational::from_int(1),
        Rational::new(7_500_001, 1_000_000),
        Rational::new(1001, 24000),
        Rational::from_int(86_400),
    ]
}

/// What a run does with a parsed composition before any media: resolve every clip's window
/// against a source length, compute sample times and look frames up at composition times.
pub fn composition(comp: &Composition) {
    assert!(comp.fps().is_positive(), "a parsed composition has a positive fps");
    let mut timings = Vec::new();
    for clip in comp.clips().iter().take(32) {
        assert!(!clip.id.is_empty(), "a parsed clip has an id");
        for end in source_ends() {
            let Ok(w) = resolve_window(clip, comp.fps(), comp.timeline_end(), end) else {
                continue;
            };
            let n = w.frame_count;
            for k in [0, 1, n / 2, n.saturating_sub(1), n] {
                let m = w.media_time(k);
                let _ = w.timeline_time(k);
                if clip.looping && w.loop_cycle.is_some() {
                    assert!(m < end, "a looping clip's media time stays inside the source");
                }
            }
            let timing = clip_timing(clip.id.clone(), &w);
            for t in [
                Rational::ZERO,
                w.timeline_start,
                w.timeline_end,
                (w.timeline_start + w.timeline_end) * Rational::new(1, 2),
            ] {
                if let Some(k) = timing.frame_at(t) {
                    assert!(k < n, "frame {k} of a {n}-frame clip");
                }
                let _ = timing.source_frame_at(t);
            }
            timings.push(timing);
        }
    }
    let lookup = FrameLookup::new(timings);
    for t in [Rational::ZERO, Rational::new(1, 3), Rational::from_int(2)] {
        let _ = lookup.frame_at(t);
    }
}

/// An encoder variant with no colour transform.
fn variant(format: ImageFormat, alpha: bool) -> Variant {
    Variant {
        format,
        quality: 90,
        alpha,
        transform: Default::default(),
        size: None,
    }
}

/// Decoded pictures through both HDR filter graphs and the converter for every target, and
/// the results through the encoders, as workers do. Errors are fine; a crash is not. Returns
/// how many conversions succeeded.
pub fn pictures(frames: &[ff::frame::Video], rotation: u32) -> usize {
    let mut converted = 0;
    let mut converter = Converter::default();
    let mut encoder = ImageEncoder::default();
    let mut filters = ColourFilters::default();
    for frame in frames {
        // The filter graphs see every odd size and format too; what they produce goes through
        // the converter like a decoded picture.
        for transform in [Transform::SdrToHdr(Hdr::Pq), Transform::HdrToSdr] {
            if let Ok(picture) = filters.apply(frame, transform) {
                if converter.convert(picture, Target::Jpeg, rotation).is_ok() {
                    converted += 1;
                    let _ = encoder.encode(&converter.pixels(), variant(ImageFormat::Jpg, false));
                }
            }
        }
        for (target, variant) in [
            (Target::Jpeg, variant(ImageFormat::Jpg, false)),
            (Target::Rgba, variant(ImageFormat::Png, true)),
            (Target::Rgb, variant(ImageFormat::Png, false)),
        ] {
            if converter.convert(frame, target, rotation).is_ok() {
                converted += 1;
                let px = converter.pixels();
                let (w, h) = px.dimensions();
                assert!(w > 0 && h > 0, "converted pictures have a size");
                let _ = encoder.encode(&px, variant);
            }
            // A drawn size, as the planner gives one: even sides, smaller than the picture.
            let upright = if rotation % 180 == 90 {
                (frame.height(), frame.width())
            } else {
                (frame.width(), frame.height())
            };
            let size = ((upright.0 / 2).max(2) & !1, (upright.1 / 2).max(2) & !1);
            if converter.convert_sized(frame, target, rotation, Some(size)).is_ok() {
                converted += 1;
                let px = converter.pixels();
                assert_eq!(
                    px.dimensions(),
                    (size.0 as usize, size.1 as usize),
                    "scaled to the size asked"
                );
                let _ = encoder.encode(&px, variant);
            }
        }
    }
    converted
}
