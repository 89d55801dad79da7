//! What a run does with a parsed composition before any media (shared by the text targets).

use framex::composition::lookup::{ClipTiming, FrameLookup};
use framex::composition::window::resolve_window;
use framex::{Composition, Rational};

pub fn exercise(comp: &Composition) {
    let mut timings = Vec::new();
    for clip in comp.clips.iter().take(32) {
        for end in [Rational::new(1, 30), Rational::from_int(1), Rational::from_int(86_400)] {
            let Ok(w) = resolve_window(clip, comp.fps, comp.timeline_end, end) else {
                continue;
            };
            let n = w.frame_count;
            for k in [0, 1, n / 2, n.saturating_sub(1), n] {
                let _ = w.media_time(k);
                let _ = w.timeline_time(k);
            }
            let timing = ClipTiming::from_window(clip.id.clone(), &w);
            for t in [Rational::ZERO, w.timeline_start, w.timeline_end] {
                if let Some(k) = timing.frame_at(t) {
                    assert!(k < n);
                }
            }
            timings.push(timing);
        }
    }
    let lookup = FrameLookup::new(timings);
    let _ = lookup.frame_at(Rational::new(1, 3));
}
