//! Frames at the size they are drawn (contract §10): manifest `width` / `height` / `fit`, HTML
//! sizes and `--max-size` scale each frame once, from the decoded planes, before encoding. The
//! oracle is the ffmpeg CLI's `scale=W:-2:flags=lanczos` (after its own autorotation), compared
//! in decoded RGB(A) pixels.

use std::path::{Path, PathBuf};

use crate::common::*;
use serde_json::{json, Value};

/// Our scaled frames must match ffmpeg's Lanczos scale at least this closely (measured with
/// framex's Lanczos a = 2 against ffmpeg's a = 3: 44 dB for the 1080p JPEG, 40 dB for the
/// rotated 90×160 one, 48 dB for the alpha PNG, 52 dB its alpha alone).
const MIN_PSNR_DB: f64 = 35.0;

/// What ffmpeg writes for `-vf scale=…:flags=lanczos out.jpg`: the scaled picture in the
/// JPEG's own layout, 4:2:0 full range. Compared in RGB without it, any 4:2:0 JPEG — ffmpeg's
/// own included — loses its chroma detail against full-resolution RGB (33 dB, 25 dB at 90×160).
const AS_JPEG: &str = ",format=yuvj420p";

/// 1 s of 1920x1080 H.264 at 30 fps.
fn hd1080() -> PathBuf {
    synth_fixture(
        "draw-1080p.mp4",
        None,
        "-f lavfi -i testsrc2=size=1920x1080:rate=30:duration=1 -c:v libx264 -preset veryfast -pix_fmt yuv420p -g 30",
    )
}

/// 1 s of 640x360 VP9 with real alpha that varies in space (`alpha_mode=1`).
fn alpha640() -> PathBuf {
    synth_fixture(
        "draw-alpha640.webm",
        None,
        "-f lavfi -i testsrc2=s=640x360:d=1:r=30 \
         -f lavfi -i color=black:s=640x360:d=1:r=30,format=gray,geq=lum='128+100*sin(X/20+T*3)' \
         -filter_complex [0:v]format=yuva420p[c];[1:v]format=gray[a];[c][a]alphamerge,format=yuva420p[v] \
         -map [v] -c:v libvpx-vp9 -pix_fmt yuva420p -auto-alt-ref 0 -deadline realtime -cpu-used 8 -b:v 2M",
    )
}

/// A clip of `src` on `[0, end)` drawn with the extra manifest fields `size`.
fn sized(id: &str, src: &str, end: f64, size: Value) -> Value {
    let mut c = clip(id, src, 0.0, end, 0.0, false);
    for (k, v) in size.as_object().expect("an object of fields") {
        c[k] = v.clone();
    }
    c
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "rasters of one size");
    let mse = sse(a, b) as f64 / a.len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0 * 255.0 / mse).log10()
    }
}

/// The pixels of one image file, decoded by ffmpeg to `pix_fmt` (rgb24 or rgba).
fn image_pixels(p: &Path, pix_fmt: &str) -> Vec<u8> {
    let mut c = ffmpeg();
    c.arg("-i").arg(p).args(["-f", "rawvideo", "-pix_fmt", pix_fmt, "-"]);
    run_tool(&mut c)
}

/// Source frame `n` of `src` through `scale` (after ffmpeg's autorotation), as `pix_fmt`.
fn oracle_pixels(src: &Path, n: usize, scale: &str, pix_fmt: &str) -> Vec<u8> {
    let mut c = ffmpeg();
    if src.extension().is_some_and(|e| e == "webm") {
        c.args(["-c:v", "libvpx-vp9"]);
    }
    c.arg("-i").arg(src).args([
        "-vf",
        &format!("select=eq(n\\,{n}),{scale}"),
        "-frames:v",
        "1",
        "-f",
        "rawvideo",
        "-pix_fmt",
        pix_fmt,
        "-",
    ]);
    run_tool(&mut c)
}

fn frame(w: &Work, id: &str, k: usize, ext: &str) -> PathBuf {
    w.out().join(id).join(format!("frame_{:05}.{ext}", k + 1))
}

/// The clip's frame size as the result reports it.
fn reported_size(run: &Run, id: &str) -> (u64, u64) {
    let c = run.clip(id);
    (c["width"].as_u64().unwrap(), c["height"].as_u64().unwrap())
}

/// Variant folders the store holds for the source with these bytes.
fn stored_variants(w: &Work, src: &Path) -> Vec<String> {
    let key = blake3::hash(&std::fs::read(src).unwrap()).to_hex().to_string();
    let dir = w.cache().join("framex-v1/src").join(key).join("frames");
    let mut v: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Every frame file of clip `id` is `size`.
fn assert_files_sized(w: &Work, id: &str, size: (u64, u64)) {
    let files = w.files(id);
    assert!(!files.is_empty(), "clip {id} has frames");
    for f in [&files[0], &files[files.len() - 1]] {
        assert_eq!(dimensions(f), size, "{}", f.display());
    }
}

#[test]
fn a_1080p_clip_drawn_640_wide_matches_ffmpeg_lanczos() {
    let w = Work::new();
    let src = w.add("hd.mp4", &hd1080());
    let run = w.extract(
        &manifest(json!(30), vec![sized("v", "hd.mp4", 0.5, json!({"width": 640}))]),
        &[],
    );
    run.assert_ok();
    assert_eq!(run.clip("v")["format"], "jpg");
    assert_eq!(reported_size(&run, "v"), (640, 360), "{run}");
    assert_eq!(run.clip("v")["metadata"]["width"], 1920, "metadata stays the source's");
    assert_files_sized(&w, "v", (640, 360));
    for k in [0, 7, 14] {
        let ours = image_pixels(&frame(&w, "v", k, "jpg"), "rgb24");
        let theirs = oracle_pixels(&src, k, &format!("scale=640:-2:flags=lanczos{AS_JPEG}"), "rgb24");
        let p = psnr(&ours, &theirs);
        assert!(p >= MIN_PSNR_DB, "frame {k}: {p:.1} dB against ffmpeg's lanczos scale");
    }
}

#[test]
fn a_vp9_alpha_clip_drawn_320_wide_matches_ffmpeg_lanczos() {
    let w = Work::new();
    let src = w.add("alpha.webm", &alpha640());
    let run = w.extract(
        &manifest(json!(30), vec![sized("a", "alpha.webm", 0.5, json!({"width": 320}))]),
        &[],
    );
    run.assert_ok();
    assert_eq!(run.clip("a")["format"], "png");
    assert_eq!(reported_size(&run, "a"), (320, 180), "{run}");
    assert_files_sized(&w, "a", (320, 180));
    assert_eq!(pix_fmt(&frame(&w, "a", 0, "png")), "rgba");
    for k in [0, 7, 14] {
        let ours = image_pixels(&frame(&w, "a", k, "png"), "rgba");
        let theirs = oracle_pixels(&src, k, "scale=320:-2:flags=lanczos", "rgba");
        let p = psnr(&ours, &theirs);
        assert!(
            p >= MIN_PSNR_DB,
            "frame {k}: {p:.1} dB (RGBA) against ffmpeg's lanczos scale"
        );
        let alpha = |px: &[u8]| px.chunks_exact(4).map(|p| p[3]).collect::<Vec<u8>>();
        let pa = psnr(&alpha(&ours), &alpha(&theirs));
        assert!(pa >= MIN_PSNR_DB, "frame {k}: alpha {pa:.1} dB");
        let spread = alpha(&ours).iter().max().unwrap() - alpha(&ours).iter().min().unwrap();
        assert!(spread > 100, "the alpha ramp survives scaling (spread {spread})");
    }
}

#[test]
fn sizes_of_one_source_are_variants_decoded_once_and_kept_apart_in_the_store() {
    let w = Work::new();
    let src = w.add("hd.mp4", &hd1080());
    let comp = manifest(
        json!(30),
        vec![
            clip("full", "hd.mp4", 0.0, 0.5, 0.0, false),
            sized("half", "hd.mp4", 0.5, json!({"width": 960})),
            sized("small", "hd.mp4", 0.5, json!({"fit": "480x480"})),
            // The same size asked for another way: one variant, frames shared.
            sized("half2", "hd.mp4", 0.5, json!({"height": 540})),
        ],
    );
    let run = w.extract(&comp, &[]);
    run.assert_ok();
    assert_eq!(reported_size(&run, "full"), (1920, 1080));
    assert_eq!(reported_size(&run, "half"), (960, 540));
    assert_eq!(reported_size(&run, "half2"), (960, 540));
    assert_eq!(reported_size(&run, "small"), (480, 270));
    assert_files_sized(&w, "full", (1920, 1080));
    assert_files_sized(&w, "half", (960, 540));
    assert_files_sized(&w, "small", (480, 270));
    // Each source frame decoded once for all sizes, encoded once per size.
    assert_eq!(
        run.breakdown("framesDecoded") - run.breakdown("leadInFrames"),
        15,
        "{run}"
    );
    assert_eq!(run.breakdown("framesEncoded"), 45, "{run}");
    assert_eq!(
        stored_variants(&w, &src),
        ["jpg-q95-r0", "jpg-q95-r0-s480x270", "jpg-q95-r0-s960x540"]
    );
    let bytes = |id: &str| std::fs::read(frame(&w, id, 3, "jpg")).unwrap();
    assert_eq!(bytes("half"), bytes("half2"), "one variant, one file");
    assert_ne!(bytes("half"), bytes("small"));

    // Warm: every size is a whole-clip hit, nothing decoded, the same files.
    let warm = w.extract(&comp, &[]);
    warm.assert_ok();
    for id in ["full", "half", "small", "half2"] {
        assert_eq!(warm.clip(id)["cached"], true, "{id}: {warm}");
    }
    assert_eq!(warm.breakdown("framesDecoded"), 0, "{warm}");
    assert_eq!(reported_size(&warm, "small"), (480, 270), "{warm}");
    assert_eq!(bytes("small"), std::fs::read(frame(&w, "small", 3, "jpg")).unwrap());

    // A new clip at a stored size but another window reuses the stored frames.
    let moved = manifest(json!(30), vec![sized("later", "hd.mp4", 0.3, json!({"width": 960}))]);
    let again = w.extract(&moved, &[]);
    again.assert_ok();
    assert_eq!(again.breakdown("framesEncoded"), 0, "{again}");
    assert_eq!(again.breakdown("framesReused"), 9, "{again}");
}

#[test]
fn a_rotated_phone_clip_lands_upright_in_the_box() {
    let w = Work::new();
    let src = w.add("phone.mp4", &rot_phone());
    let run = w.extract(
        &manifest(
            json!(30),
            vec![sized(
                "p",
                "phone.mp4",
                0.5,
                json!({"fit": {"width": 160, "height": 160}}),
            )],
        ),
        &[],
    );
    run.assert_ok();
    // Displayed 180x320 (portrait): the box binds the height.
    assert_eq!(run.clip("p")["metadata"]["displayWidth"], 180);
    assert_eq!(reported_size(&run, "p"), (90, 160), "{run}");
    assert_files_sized(&w, "p", (90, 160));
    for k in [0, 10] {
        let ours = image_pixels(&frame(&w, "p", k, "jpg"), "rgb24");
        let theirs = oracle_pixels(&src, k, &format!("scale=-2:160:flags=lanczos{AS_JPEG}"), "rgb24");
        let p = psnr(&ours, &theirs);
        assert!(
            p >= MIN_PSNR_DB,
            "frame {k}: {p:.1} dB against ffmpeg's rotated, scaled frame"
        );
    }
}

#[test]
fn a_box_larger_than_the_source_does_not_upscale() {
    let w = Work::new();
    let src = w.add("a.mp4", &cfr30());
    let run = w.extract(
        &manifest(
            json!(30),
            vec![
                sized("wide", "a.mp4", 0.5, json!({"width": 1280})),
                sized("box", "a.mp4", 0.5, json!({"fit": "4000x4000"})),
                clip("plain", "a.mp4", 0.0, 0.5, 0.0, false),
            ],
        ),
        &["--max-size", "3840x2160"],
    );
    run.assert_ok();
    for id in ["wide", "box", "plain"] {
        assert_eq!(reported_size(&run, id), (320, 180), "{id}: {run}");
        assert_files_sized(&w, id, (320, 180));
    }
    // Not scaled means the plain variant: the three clips share every frame.
    assert_eq!(stored_variants(&w, &src), ["jpg-q95-r0"]);
    assert_eq!(run.breakdown("framesEncoded"), 15, "{run}");
}

#[test]
fn max_size_bounds_every_clip_and_the_smaller_side_wins() {
    let w = Work::new();
    w.add("a.mp4", &cfr30());
    let comp = manifest(
        json!(30),
        vec![
            clip("plain", "a.mp4", 0.0, 0.5, 0.0, false),
            sized("narrow", "a.mp4", 0.5, json!({"width": 100})),
            sized("loose", "a.mp4", 0.5, json!({"width": 300})),
        ],
    );
    let run = w.extract(&comp, &["--max-size", "160x160"]);
    run.assert_ok();
    assert_eq!(reported_size(&run, "plain"), (160, 90), "{run}");
    assert_eq!(reported_size(&run, "narrow"), (100, 56), "{run}");
    assert_eq!(reported_size(&run, "loose"), (160, 90), "{run}");
    assert_files_sized(&w, "plain", (160, 90));
    assert_files_sized(&w, "narrow", (100, 56));
    // Without the box, the clips' own sizes only.
    let run = w.extract(&comp, &[]);
    run.assert_ok();
    assert_eq!(reported_size(&run, "plain"), (320, 180), "{run}");
    assert_eq!(reported_size(&run, "loose"), (300, 168), "{run}");
    // A malformed box is a usage error.
    let bad = w.extract(&comp, &["--max-size", "160"]);
    assert_eq!(bad.code(), Some(2), "{bad}");
    assert!(bad.stderr.contains("--max-size"), "{bad}");
}

#[test]
fn html_video_sizes_are_drawn() {
    let w = Work::new();
    w.add("a.mp4", &cfr30());
    let html = w.write(
        "index.html",
        br#"<div data-composition-id="c" data-root="true" data-fps="30" data-duration="0.5">
              <video id="attr" src="a.mp4" data-start="0" data-duration="0.5" width="160" height="160"></video>
              <video id="styled" src="a.mp4" data-start="0" data-duration="0.5" style="width: 64px"></video>
              <video id="pct" src="a.mp4" data-start="0" data-duration="0.5" style="width: 50%"></video>
            </div>"#,
    );
    let run = w.extract_file(&html, &[]);
    run.assert_ok();
    assert_eq!(reported_size(&run, "attr"), (160, 90), "{run}");
    assert_eq!(reported_size(&run, "styled"), (64, 36), "{run}");
    assert_eq!(reported_size(&run, "pct"), (320, 180), "{run}");
    assert_files_sized(&w, "styled", (64, 36));
}
