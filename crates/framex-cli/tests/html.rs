//! A HyperFrames HTML composition end to end: `framex extract index.html` and then
//! `framex frame index.html --at t …` at every output time of the composition, checking which
//! clips are on screen and that each returned file shows the source frame the lookup rule
//! (contract §3, HyperFrames `FrameLookupTable`) and the sampling rule (contract §2) name — identified
//! with the oracle of `common` (minimum SSE over every source frame).
//!
//! The composition (30 fps, 3 s, 320x180 sources) has four clips:
//! - `loop`: a 1 s source looping from mediaStart 0.2 (a 0.8 s cycle) in a 2 s slot [0.5, 2.5];
//! - `fast`: `data-playback-rate="2"`, media 1 → 4 in the slot [0.2, 1.7];
//! - `pre`: a clip that "already played" 1.5 s when it appears. HyperFrames' HTML reader clamps
//!   every `data-start` (numbers and reference arithmetic alike) to ≥ 0, so an HTML composition
//!   cannot express a negative start (preroll); the equivalent is `data-media-start`. Its start is
//!   reference arithmetic, `"fast - 0.5"` = 1.7 − 0.5 = 1.2, slot [1.2, 2.7] over a 24 fps source;
//! - `held`: `data-end`, a 2.6 s slot [0.3, 2.9] over the last 1.2 s of a 2 s source, so the last
//!   frame is held from 1.5 s to 2.9 s.
//!
//! The independent expectation for clip (start S, end E, mediaStart M, rate R, loop L) at time t:
//! active iff S ≤ t ≤ E (E cut at the composition end); `local = t − S`, wrapped modulo the cycle
//! `(sourceEnd − M) / R` for a loop; media time `M + floor(local·R·fps)/fps`; a non-looping clip
//! holds its last sample. The file must show the source frame on screen at that media time.
//! A loop never holds: at its inclusive end instant (t = E, where no sample of the window exists)
//! HyperFrames' lookup still wraps, e.g. `loop` at t = 2.5 shows media 0.2 + (2.0 mod 0.8) = 0.6.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::*;
use serde_json::Value;

const FPS: i128 = 30;
/// Composition length (seconds): output times k/30 for k = 0..=90 (the end instant included).
const COMP_FRAMES: i128 = 90;

/// A 1 s, 30 fps, 320x180 H.264 source for the loop.
fn loop1s() -> PathBuf {
    synth_fixture(
        "loop1s.mp4",
        None,
        "-f lavfi -i testsrc2=size=320x180:rate=30:duration=1 -c:v libx264 -preset veryfast -pix_fmt yuv420p -g 30",
    )
}

const HTML: &str = r#"<!doctype html>
<html>
<head><title>framex html test</title></head>
<body>
  <div id="root" data-composition-id="main" data-root="true" data-fps="30" data-duration="3"
       data-width="320" data-height="180">
    <video id="loop" src="media/loop1s.mp4" data-start="0.5" data-duration="2"
           data-media-start="0.2" loop muted playsinline></video>
    <video id="fast" src="media/clip5s.mp4" data-start="0.2" data-duration="1.5"
           data-media-start="1" data-playback-rate="2" muted playsinline></video>
    <video id="pre" src="media/clip24.mp4" data-start="fast - 0.5" data-duration="1.5"
           data-media-start="1.5" muted playsinline></video>
    <video id="held" src="media/short2s.mp4" data-start="0.3" data-end="2.9"
           data-media-start="0.8" muted playsinline></video>
  </div>
</body>
</html>
"#;

/// One clip as the test expects it (independently of framex).
struct Expect {
    id: &'static str,
    src: PathBuf,
    start: Q,
    end: Q,
    media_start: Q,
    rate: Q,
    looping: bool,
    times: SourceTimes,
    /// Number of output frames (samples inside the window and, unless looping, the source).
    frames: usize,
}

impl Expect {
    fn new(
        id: &'static str,
        src: PathBuf,
        start: &str,
        end: &str,
        media_start: &str,
        rate: &str,
        looping: bool,
    ) -> Expect {
        let times = source_times(&src);
        let comp_end = Q::int(COMP_FRAMES) / Q::int(FPS);
        let (start, end) = (Q::parse(start), Q::parse(end));
        let end = if end > comp_end { comp_end } else { end };
        let (media_start, rate) = (Q::parse(media_start), Q::parse(rate));
        let frames = times.frame_count(end - start, media_start, rate, Q::int(FPS), looping);
        Expect {
            id,
            src,
            start,
            end,
            media_start,
            rate,
            looping,
            times,
            frames,
        }
    }

    fn active(&self, t: Q) -> bool {
        self.start <= t && t <= self.end
    }

    /// The 0-based file index framex's lookup returns at `t` (framex writes one file per
    /// composition frame: file `floor((t − S)·fps)`, held at the last), or `None` at the
    /// inclusive end instant, where no sample of the window exists and any file showing the
    /// right picture will do.
    fn index(&self, t: Q) -> Option<usize> {
        if t == self.end {
            return None;
        }
        let j = ((t - self.start) * Q::int(FPS)).floor() as usize;
        Some(j.min(self.frames - 1))
    }

    /// The media time on screen at `t` (HyperFrames' lookup rule, see the module comment).
    fn media_time(&self, t: Q) -> Q {
        let fps = Q::int(FPS);
        let mut local = t - self.start;
        if self.looping {
            let period = (self.times.duration - self.media_start) / self.rate;
            if local >= period {
                local = local.rem_euclid(period);
            }
        }
        let m = self.media_start + Q::int((local * self.rate * fps).floor()) / fps;
        if self.looping {
            return m;
        }
        // framex's last sample. HyperFrames holds its last extracted frame, which it samples on
        // the media-time grid: for `fast` (rate 2) at t = 1.7 that is media 1 + 89/30, framex's
        // is 1 + 44·2/30 (deliberate: one frame per composition frame, contract §2; see
        // docs/hyperframes-differences.md).
        let last = self.media_start + Q::int(self.frames as i128 - 1) * self.rate / fps;
        if m > last {
            last
        } else {
            m
        }
    }

    /// The source frame on screen at `t`.
    fn source_frame(&self, t: Q) -> usize {
        self.times.frame_at(self.media_time(t), Q::int(FPS))
    }
}

/// The smallest microsecond decimal ≥ k/30 (framex reads `--at` to the microsecond) and its
/// exact value.
fn output_time(k: i128) -> (String, Q) {
    let us = (k * 1_000_000 + FPS - 1) / FPS;
    (
        format!("{}.{:06}", us / 1_000_000, us % 1_000_000),
        Q::new(us, 1_000_000),
    )
}

struct Setup {
    work: Work,
    html: PathBuf,
    store: PathBuf,
    clips: Vec<Expect>,
}

fn setup() -> Setup {
    let work = Work::new();
    std::fs::create_dir_all(work.path().join("media")).unwrap();
    let clips = vec![
        Expect::new(
            "loop",
            work.add("media/loop1s.mp4", &loop1s()),
            "0.5",
            "2.5",
            "0.2",
            "1",
            true,
        ),
        Expect::new(
            "fast",
            work.add("media/clip5s.mp4", &cfr30()),
            "0.2",
            "1.7",
            "1",
            "2",
            false,
        ),
        Expect::new(
            "pre",
            work.add("media/clip24.mp4", &cfr24()),
            "1.2",
            "2.7",
            "1.5",
            "1",
            false,
        ),
        Expect::new(
            "held",
            work.add("media/short2s.mp4", &short2s()),
            "0.3",
            "2.9",
            "0.8",
            "1",
            false,
        ),
    ];
    let html = work.write("index.html", HTML.as_bytes());
    let store = work.path().join("store");
    Setup {
        work,
        html,
        store,
        clips,
    }
}

impl Setup {
    fn extract(&self) -> Run {
        let mut c = self.work.command();
        c.arg("extract")
            .arg(&self.html)
            .arg("--out")
            .arg(self.work.out())
            .arg("--json")
            .arg("--cache-dir")
            .arg(&self.store);
        run(c)
    }

    /// `framex frame index.html --at t …`: the parsed answer, one entry per time.
    fn frame(&self, times: &[String]) -> Vec<Value> {
        let mut c = self.work.command();
        c.arg("frame").arg(&self.html).arg("--cache-dir").arg(&self.store);
        for t in times {
            c.arg("--at").arg(t);
        }
        let run = run(c);
        assert_eq!(run.code(), Some(0), "framex frame should exit 0\n{run}");
        let answers = run
            .result()
            .as_array()
            .unwrap_or_else(|| panic!("not a JSON array\n{run}"))
            .clone();
        assert_eq!(answers.len(), times.len(), "one answer per --at\n{run}");
        answers
    }

    /// Checks the clip set `extract` reports, and every frame it wrote (oracle), against the
    /// expectations.
    fn check_extract(&self, run: &Run) {
        run.assert_ok();
        let ids: Vec<&str> = run.result()["clips"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            ["loop", "fast", "pre", "held"],
            "clip ids in document order\n{run}"
        );
        let frames: Vec<usize> = self.clips.iter().map(|c| c.frames).collect();
        // The hand computation agrees with the oracle's count:
        // loop 2 s slot → 60; fast 1.5 s at 2× (media 1 → 4 < 5) → 45; pre 1.5 s (media 1.5 → 3,
        // the source's end) → 45; held: media 0.8 + k/30 < 2 → 36, held to 2.9 s.
        assert_eq!(frames, [60, 45, 45, 36]);
        for e in &self.clips {
            let c = run.clip(e.id);
            let num = |k: &str| {
                c[k].as_f64()
                    .unwrap_or_else(|| panic!("clip {}: {k} missing\n{run}", e.id))
            };
            assert_eq!(
                c["frames"].as_u64(),
                Some(e.frames as u64),
                "clip {}: frames\n{run}",
                e.id
            );
            assert!(
                (num("start") - e.start.f64()).abs() < 1e-9,
                "clip {}: start\n{run}",
                e.id
            );
            assert!((num("end") - e.end.f64()).abs() < 1e-9, "clip {}: end\n{run}", e.id);
            assert!(
                (num("mediaStart") - e.media_start.f64()).abs() < 1e-9,
                "clip {}: mediaStart\n{run}",
                e.id
            );
            assert!(
                (num("playbackRate") - e.rate.f64()).abs() < 1e-9,
                "clip {}: playbackRate\n{run}",
                e.id
            );
            assert_eq!(c["loop"].as_bool(), Some(e.looping), "clip {}: loop\n{run}", e.id);
            assert_eq!(
                c["cached"].as_bool(),
                Some(false),
                "clip {}: first run is cold\n{run}",
                e.id
            );
            let expected = e
                .times
                .expected(e.end - e.start, e.media_start, e.rate, Q::int(FPS), e.looping);
            assert_eq!(expected.len(), e.frames);
            check_clip(run, &self.work, e.id, &e.src, "jpg", LANDSCAPE, &expected);
        }
        let total: usize = self.clips.iter().map(|c| c.frames).sum();
        assert_eq!(run.result()["totalFrames"].as_u64(), Some(total as u64), "{run}");
    }
}

/// Rasters of every file in a clip folder, decoded once per folder.
struct RasterCache {
    dirs: BTreeMap<PathBuf, Vec<Vec<u8>>>,
}

impl RasterCache {
    fn raster(&mut self, file: &Path) -> &[u8] {
        let dir = file.parent().unwrap().to_path_buf();
        let name = file.file_name().unwrap().to_str().unwrap();
        let n: usize = name
            .strip_prefix("frame_")
            .and_then(|s| s.strip_suffix(".jpg"))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("unexpected frame file name {}", file.display()));
        let rasters = self
            .dirs
            .entry(dir.clone())
            .or_insert_with(|| image_rasters(&dir, "jpg", LANDSCAPE, Plane::Luma));
        &rasters[n - 1]
    }
}

#[test]
fn html_composition_every_output_time_shows_the_right_frame_of_every_active_clip() {
    let s = setup();
    let extract = s.extract();
    s.check_extract(&extract);

    let times: Vec<(String, Q)> = (0..=COMP_FRAMES).map(output_time).collect();
    let mut answers = Vec::new();
    for batch in times.chunks(31) {
        let text: Vec<String> = batch.iter().map(|(s, _)| s.clone()).collect();
        answers.extend(s.frame(&text));
    }

    let sources: Vec<Vec<Vec<u8>>> = s
        .clips
        .iter()
        .map(|e| video_rasters(&e.src, LANDSCAPE, Plane::Luma))
        .collect();
    let mut rasters = RasterCache { dirs: BTreeMap::new() };
    let mut bad = Vec::new();
    let mut checked = 0;
    for ((text, t), answer) in times.iter().zip(&answers) {
        let at = answer["t"].as_f64().unwrap_or(f64::NAN);
        assert!(
            (at - t.f64()).abs() < 1e-9,
            "answer for {text} reports t = {at}: {answer}"
        );
        let returned: Vec<&Value> = answer["clips"].as_array().expect("clips array").iter().collect();
        let got_ids: Vec<&str> = returned.iter().map(|c| c["id"].as_str().unwrap()).collect();
        let want_ids: Vec<&str> = s.clips.iter().filter(|e| e.active(*t)).map(|e| e.id).collect();
        if got_ids != want_ids {
            bad.push(format!("t = {text}: active clips {got_ids:?}, expected {want_ids:?}"));
            continue;
        }
        for (c, (i, e)) in returned
            .iter()
            .zip(s.clips.iter().enumerate().filter(|(_, e)| e.active(*t)))
        {
            let index = c["index"].as_u64().unwrap_or(u64::MAX) as usize;
            let want_index = e.index(*t);
            let file = PathBuf::from(c["file"].as_str().unwrap_or(""));
            let want_name = format!("frame_{:05}.jpg", index.wrapping_add(1));
            if index >= e.frames
                || want_index.is_some_and(|w| w != index)
                || file.file_name().and_then(|n| n.to_str()) != Some(want_name.as_str())
            {
                bad.push(format!(
                    "t = {text}, clip {}: index {index}, file {}; expected index {want_index:?} of {} files, \
                     named frame_<index + 1>",
                    e.id,
                    file.display(),
                    e.frames
                ));
                continue;
            }
            if !file.is_file() {
                bad.push(format!(
                    "t = {text}, clip {}: file {} does not exist",
                    e.id,
                    file.display()
                ));
                continue;
            }
            // The store file `frame` returns is the file `extract` put in OUT/<id>.
            let out_file = s.work.out().join(e.id).join(&want_name);
            if std::fs::read(&file).ok() != std::fs::read(&out_file).ok() {
                bad.push(format!(
                    "t = {text}, clip {}: {} differs from {}",
                    e.id,
                    file.display(),
                    out_file.display()
                ));
                continue;
            }
            let want = e.source_frame(*t);
            let img = rasters.raster(&file);
            let (got, e_got) = best_match(img, &sources[i]);
            if got != want && sources[i][got] != sources[i][want] {
                bad.push(format!(
                    "t = {text}, clip {}: file {} shows source frame #{got} (SSE {e_got}), expected #{want} \
                     (media time {:.6}, SSE {})",
                    e.id,
                    file.display(),
                    e.media_time(*t).f64(),
                    sse(img, &sources[i][want]),
                ));
            }
            checked += 1;
        }
    }
    assert!(
        bad.is_empty(),
        "{} problem(s) over {} output times:\n{}",
        bad.len(),
        times.len(),
        bad.join("\n")
    );
    // loop 61 + fast 46 + pre 46 + held 79 active (time, clip) pairs, end instants included.
    assert_eq!(checked, 61 + 46 + 46 + 79);
}

#[test]
fn html_composition_lookup_at_float_spelled_output_times() {
    // A renderer computes output times as floating-point k/30 and passes their shortest decimal
    // spelling (JavaScript `String(k / 30)`, e.g. "0.03333333333333333"). HyperFrames'
    // `FrameLookupTable` answers those with frame `floor(local·rate·fps + 1e-9)`, i.e. the frame
    // of output time k/30 exactly (the 1e-9 absorbs float noise); contract §3 promises those
    // semantics. So `--at <String(k/30)>` must give the same clips and files as the exact time.
    let s = setup();
    s.extract().assert_ok();
    let exact: Vec<(String, Q)> = (0..=COMP_FRAMES).map(output_time).collect();
    let spelled: Vec<String> = (0..=COMP_FRAMES)
        .map(|k| format!("{}", k as f64 / FPS as f64))
        .collect();
    let mut want = Vec::new();
    let mut got = Vec::new();
    for (e, f) in exact.chunks(31).zip(spelled.chunks(31)) {
        want.extend(s.frame(&e.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>()));
        got.extend(s.frame(f));
    }
    let summary = |a: &Value| -> Vec<(String, u64)> {
        a["clips"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["id"].as_str().unwrap().to_string(), c["index"].as_u64().unwrap()))
            .collect()
    };
    let bad: Vec<String> = spelled
        .iter()
        .zip(want.iter().zip(&got))
        .filter(|(_, (w, g))| summary(w) != summary(g))
        .map(|(t, (w, g))| format!("--at {t}: {:?}, expected (as at k/30) {:?}", summary(g), summary(w)))
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} float-spelled output times answer differently from the exact time:\n{}",
        bad.len(),
        spelled.len(),
        bad.join("\n")
    );
}
