//! HDR both ways (contract §2): in a composition with an HDR source, SDR clips are converted to
//! BT.2020 in the same pass (PQ target if any source is PQ, else HLG) while HDR clips stay
//! untouched; with `--tonemap`, HDR clips are tone-mapped to BT.709 SDR. Each transform is its
//! own store variant. The oracle is the ffmpeg CLI running the same filters.

use std::path::{Path, PathBuf};

use crate::common::*;
use serde_json::{json, Value};

/// Our frames must match the ffmpeg CLI's output of the same filter chain this closely (measured
/// 42–44 dB; the rest is JPEG quantisation and chroma resampling).
const MIN_PSNR_DB: f64 = 38.0;

const W: usize = 320;
const H: usize = 180;

/// The SDR→HDR conversion HyperFrames runs for SDR sources in an HDR composition.
const SDR2HDR: &str = "colorspace=all=bt2020:iall=bt709:range=tv";
/// Tone-mapping to SDR: linear light, BT.709 primaries, Hable, sRGB transfer.
const TONEMAP: &str = "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=tonemap=hable:desat=0,\
                       zscale=t=iec61966-2-1:m=bt709:r=tv,format=yuv420p";

/// 1 s of tagged BT.709 SDR.
fn sdr709() -> PathBuf {
    synth_fixture(
        "sdr709.mp4",
        None,
        "-f lavfi -i testsrc2=size=320x180:rate=30:duration=1 -c:v libx264 -preset veryfast -pix_fmt yuv420p \
         -colorspace bt709 -color_primaries bt709 -color_trc bt709",
    )
}

/// 1 s of 10-bit BT.2020 HDR with transfer `trc` (the same picture as [`sdr709`], mapped with
/// zscale to a 400-nit peak).
fn hdr(trc: &str) -> PathBuf {
    synth_fixture(
        &format!("hdr-{trc}.mp4"),
        None,
        &format!(
            "-f lavfi -i testsrc2=size=320x180:rate=30:duration=1 \
             -vf zscale=tin=bt709:pin=bt709:min=bt709:rin=tv:t={trc}:p=bt2020:m=bt2020nc:r=tv:npl=400,format=yuv420p10le \
             -c:v libx264 -preset veryfast -colorspace bt2020nc -color_primaries bt2020 -color_trc {trc}"
        ),
    )
}

fn rgb(bytes: Vec<u8>) -> Vec<u8> {
    assert_eq!(bytes.len(), W * H * 3, "one {W}x{H} RGB raster");
    bytes
}

/// RGB of one image file.
fn image_rgb(p: &Path) -> Vec<u8> {
    let mut c = ffmpeg();
    c.arg("-i").arg(p).args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]);
    rgb(run_tool(&mut c))
}

/// RGB of source frame `n` of `src` after the filter `chain` (none: plain decode), by the CLI.
fn oracle_rgb(src: &Path, n: usize, chain: Option<&str>) -> Vec<u8> {
    let mut vf = format!("select=eq(n\\,{n})");
    if let Some(chain) = chain {
        vf = format!("{vf},{chain}");
    }
    let mut c = ffmpeg();
    c.arg("-i")
        .arg(src)
        .args(["-vf", &vf, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]);
    rgb(run_tool(&mut c))
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = sse(a, b) as f64 / a.len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0 * 255.0 / mse).log10()
    }
}

/// Mean chroma spread (max − min channel) per pixel: how saturated a picture is.
fn saturation(rgb: &[u8]) -> f64 {
    let sum: u64 = rgb
        .chunks_exact(3)
        .map(|p| (p.iter().max().unwrap() - p.iter().min().unwrap()) as u64)
        .sum();
    sum as f64 / (rgb.len() / 3) as f64
}

fn frame(w: &Work, id: &str, k: usize) -> PathBuf {
    w.out().join(id).join(format!("frame_{:05}.jpg", k + 1))
}

fn transform(run: &Run, id: &str) -> Value {
    run.clip(id)["transform"].clone()
}

/// Variant folders the store holds for the source with these bytes.
fn stored_variants(w: &Work, src: &Path) -> Vec<String> {
    // The store names a source by the BLAKE3 of its bytes.
    let key = blake3::hash(&std::fs::read(src).unwrap()).to_hex().to_string();
    let dir = w.cache().join("framex-v1/src").join(key).join("frames");
    let mut v: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn probe_reports_hdr_transfer_and_wide_gamut() {
    let w = Work::new();
    for (file, hdr_kind, wide) in [
        (hdr("smpte2084"), json!("pq"), true),
        (hdr("arib-std-b67"), json!("hlg"), true),
        (sdr709(), Value::Null, false),
    ] {
        let run = w.probe(&file);
        assert_eq!(run.code(), Some(0), "{run}");
        let info = run.json.as_ref().expect("probe prints JSON");
        assert_eq!(info["hdr"], hdr_kind, "{}: {info}", file.display());
        assert_eq!(info["wideGamut"], json!(wide), "{}: {info}", file.display());
    }
    let pq = w.probe(&hdr("smpte2084"));
    let color = &pq.json.as_ref().unwrap()["color"];
    assert_eq!(color["transfer"], "smpte2084");
    assert_eq!(color["primaries"], "bt2020");
    assert_eq!(color["matrix"], "bt2020nc");
}

#[test]
fn sdr_clips_in_an_hdr_composition_are_converted_and_hdr_clips_untouched() {
    let w = Work::new();
    let sdr = w.add("sdr.mp4", &sdr709());
    let pq = w.add("pq.mp4", &hdr("smpte2084"));
    let mixed = manifest(
        json!(30),
        vec![
            clip("s", "sdr.mp4", 0.0, 1.0, 0.0, false),
            clip("p", "pq.mp4", 0.0, 1.0, 0.0, false),
        ],
    );
    let run = w.extract(&mixed, &[]);
    run.assert_ok();
    assert_eq!(transform(&run, "s"), json!("sdr2hdr-pq"), "{run}");
    assert_eq!(transform(&run, "p"), Value::Null, "{run}");
    assert_eq!(run.clip("s")["frames"], 30);

    for k in [0, 14, 29] {
        let ours = image_rgb(&frame(&w, "s", k));
        let converted = oracle_rgb(&sdr, k, Some(SDR2HDR));
        let plain = oracle_rgb(&sdr, k, None);
        let p = psnr(&ours, &converted);
        assert!(
            p >= MIN_PSNR_DB,
            "s frame {k}: {p:.2} dB against ffmpeg's colorspace filter"
        );
        // BT.709 colours expressed in the wider BT.2020 primaries: less saturated numbers.
        let (s_ours, s_plain) = (saturation(&ours), saturation(&plain));
        assert!(
            s_ours < 0.85 * s_plain,
            "s frame {k}: saturation {s_ours:.1} should drop well below the plain frame's {s_plain:.1}"
        );
        assert!(
            psnr(&ours, &plain) < 30.0,
            "s frame {k} must differ from a plain extraction"
        );
        // The HDR clip is decoded as is: its PQ code values, BT.2020 matrix honoured.
        let hdr_ours = image_rgb(&frame(&w, "p", k));
        let p = psnr(&hdr_ours, &oracle_rgb(&pq, k, None));
        assert!(p >= MIN_PSNR_DB, "p frame {k}: {p:.2} dB against a plain decode");
    }
    let mixed_s: Vec<Vec<u8>> = w.files("s").iter().map(|f| std::fs::read(f).unwrap()).collect();
    let mixed_p: Vec<Vec<u8>> = w.files("p").iter().map(|f| std::fs::read(f).unwrap()).collect();

    // The same SDR clip in an SDR composition: a separate store variant, decoded afresh.
    let plain = w.extract(
        &manifest(json!(30), vec![clip("s", "sdr.mp4", 0.0, 1.0, 0.0, false)]),
        &[],
    );
    plain.assert_ok();
    assert_eq!(transform(&plain, "s"), Value::Null);
    assert_eq!(
        plain.breakdown("framesReused"),
        0,
        "converted frames are not plain frames\n{plain}"
    );
    assert_eq!(plain.breakdown("framesEncoded"), 30, "{plain}");
    for (k, f) in w.files("s").iter().enumerate() {
        assert_ne!(
            std::fs::read(f).unwrap(),
            mixed_s[k],
            "plain frame {k} equals the converted one"
        );
    }
    assert_eq!(stored_variants(&w, &sdr), ["jpg-q95-r0", "jpg-q95-r0-sdr2hdr-pq"]);
    assert_eq!(stored_variants(&w, &pq), ["jpg-q95-r0"]);

    // The HDR clip alone (no SDR source, nothing to convert): the very same stored frames.
    let alone = w.extract(
        &manifest(json!(30), vec![clip("p", "pq.mp4", 0.0, 1.0, 0.0, false)]),
        &[],
    );
    alone.assert_ok();
    assert_eq!(alone.clip("p")["cached"], true, "{alone}");

    // The mixed composition again: both clips whole-clip hits with identical bytes.
    let again = w.extract(&mixed, &[]);
    again.assert_ok();
    assert_eq!(again.clip("s")["cached"], true, "{again}");
    assert_eq!(again.clip("p")["cached"], true, "{again}");
    assert_eq!(again.breakdown("framesDecoded"), 0, "{again}");
    let s_again: Vec<Vec<u8>> = w.files("s").iter().map(|f| std::fs::read(f).unwrap()).collect();
    let p_again: Vec<Vec<u8>> = w.files("p").iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert!(
        s_again == mixed_s && p_again == mixed_p,
        "a warm mixed run returns the same frames"
    );
}

/// 1 s of full-range BT.601 SDR (SMPTE 170M tags): decoded as `yuvj420p`.
fn sdr601_full() -> PathBuf {
    synth_fixture(
        "sdr601-full.mp4",
        None,
        "-f lavfi -i testsrc2=size=320x180:rate=30:duration=1 \
         -vf format=rgb24,scale=out_color_matrix=bt601:out_range=pc,gblur=sigma=1,noise=alls=8:allf=t \
         -c:v libx264 -preset veryfast -pix_fmt yuv420p -color_range pc \
         -colorspace smpte170m -color_primaries smpte170m -color_trc smpte170m",
    )
}

/// 1 s of untagged limited-range SDR (read as BT.601 matrix, BT.709 primaries and transfer).
fn sdr_untagged() -> PathBuf {
    synth_fixture(
        "sdr-untagged.mp4",
        None,
        "-f lavfi -i mandelbrot=size=320x180:rate=30:start_scale=0.3 -t 1 \
         -vf format=rgb24,scale=out_color_matrix=bt601:out_range=tv \
         -c:v libx264 -preset veryfast -pix_fmt yuv420p",
    )
}

/// 1 s of full-range BT.601 SDR with the BT.470BG (gamma 2.8) transfer: decoded as `yuvj420p`,
/// a transfer the fast path leaves to the filter.
fn sdr601_full_gamma28() -> PathBuf {
    synth_fixture(
        "sdr601-full-gamma28.mp4",
        None,
        "-f lavfi -i testsrc2=size=320x180:rate=30:duration=1 \
         -vf format=rgb24,scale=out_color_matrix=bt601:out_range=pc \
         -c:v libx264 -preset veryfast -pix_fmt yuv420p -color_range pc \
         -colorspace bt470bg -color_primaries bt470bg -color_trc gamma28",
    )
}

#[test]
fn sdr_to_hdr_takes_the_fast_path_and_matches_the_colorspace_filter() {
    let w = Work::new();
    w.add("s709.mp4", &sdr709());
    w.add("s601.mp4", &sdr601_full());
    w.add("sraw.mp4", &sdr_untagged());
    w.add("sg28.mp4", &sdr601_full_gamma28());
    w.add("pq.mp4", &hdr("smpte2084"));
    w.add("hlg.mp4", &hdr("arib-std-b67"));
    // The oracle: the filter framex ran before the fast path, told how framex reads each source.
    // The last source takes the filter itself: its output (`yuvj420p` tagged limited) must be
    // read as limited range.
    let sources = [
        ("s709", "s709.mp4", SDR2HDR),
        ("s601", "s601.mp4", "colorspace=all=bt2020:range=tv"),
        (
            "sraw",
            "sraw.mp4",
            "colorspace=all=bt2020:range=tv:ispace=smpte170m:iprimaries=bt709:itrc=bt709:irange=tv",
        ),
        ("sg28", "sg28.mp4", "colorspace=all=bt2020:range=tv"),
    ];
    for (hdr_src, target) in [("pq.mp4", "sdr2hdr-pq"), ("hlg.mp4", "sdr2hdr-hlg")] {
        let mut clips: Vec<Value> = sources
            .iter()
            .map(|(id, file, _)| clip(id, file, 0.0, 1.0, 0.0, false))
            .collect();
        clips.push(clip("h", hdr_src, 0.0, 1.0, 0.0, false));
        let run = w.extract(&manifest(json!(30), clips), &["--cache-dir", "off"]);
        run.assert_ok();
        // The first three sources' pictures took the fast path, the gamma 2.8 one libavfilter
        // (the HDR clip is not transformed at all).
        assert_eq!(run.breakdown("framesSdrToHdrFast"), 90, "{run}");
        assert_eq!(run.breakdown("framesColourFiltered"), 30, "{run}");
        for (id, file, chain) in sources {
            assert_eq!(transform(&run, id), json!(target), "{run}");
            for k in [0, 17, 29] {
                let ours = image_rgb(&frame(&w, id, k));
                let p = psnr(&ours, &oracle_rgb(&w.path().join(file), k, Some(chain)));
                eprintln!("{id} frame {k} ({target}): {p:.2} dB");
                assert!(
                    p >= MIN_PSNR_DB,
                    "{id} frame {k} ({target}): {p:.2} dB against ffmpeg's colorspace filter"
                );
            }
        }
    }
}

#[test]
fn hdr_target_is_pq_when_any_source_is_pq_else_hlg() {
    let w = Work::new();
    w.add("sdr.mp4", &sdr709());
    w.add("pq.mp4", &hdr("smpte2084"));
    w.add("hlg.mp4", &hdr("arib-std-b67"));
    let s = || clip("s", "sdr.mp4", 0.0, 0.2, 0.0, false);
    let h = || clip("h", "hlg.mp4", 0.0, 0.2, 0.0, false);
    let p = || clip("p", "pq.mp4", 0.0, 0.2, 0.0, false);

    let run = w.extract(&manifest(json!(30), vec![s(), h()]), &[]);
    run.assert_ok();
    assert_eq!(transform(&run, "s"), json!("sdr2hdr-hlg"), "{run}");
    assert_eq!(transform(&run, "h"), Value::Null, "{run}");

    let run = w.extract(&manifest(json!(30), vec![h(), s(), p()]), &[]);
    run.assert_ok();
    assert_eq!(transform(&run, "s"), json!("sdr2hdr-pq"), "{run}");
    assert_eq!(transform(&run, "h"), Value::Null, "{run}");
    assert_eq!(transform(&run, "p"), Value::Null, "{run}");
    // Two targets, two store variants (even though both convert to the same primaries).
    assert_eq!(
        stored_variants(&w, &w.path().join("sdr.mp4")),
        ["jpg-q95-r0-sdr2hdr-hlg", "jpg-q95-r0-sdr2hdr-pq"]
    );
}

#[test]
fn tonemap_maps_pq_and_hlg_to_sdr_like_zscale() {
    let w = Work::new();
    let pq = w.add("pq.mp4", &hdr("smpte2084"));
    let hlg = w.add("hlg.mp4", &hdr("arib-std-b67"));
    let sdr = w.add("sdr.mp4", &sdr709());
    let comp = manifest(
        json!(30),
        vec![
            clip("p", "pq.mp4", 0.0, 1.0, 0.0, false),
            clip("h", "hlg.mp4", 0.0, 1.0, 0.0, false),
            clip("s", "sdr.mp4", 0.0, 1.0, 0.0, false),
        ],
    );
    let run = w.extract(&comp, &["--tonemap"]);
    run.assert_ok();
    assert_eq!(transform(&run, "p"), json!("hdr2sdr-hable-srgb"), "{run}");
    assert_eq!(transform(&run, "h"), json!("hdr2sdr-hable-srgb"), "{run}");
    assert_eq!(
        transform(&run, "s"),
        Value::Null,
        "an SDR render leaves SDR clips alone\n{run}"
    );
    for (id, src) in [("p", &pq), ("h", &hlg)] {
        for k in [0, 15, 29] {
            let ours = image_rgb(&frame(&w, id, k));
            let p = psnr(&ours, &oracle_rgb(src, k, Some(TONEMAP)));
            assert!(p >= MIN_PSNR_DB, "{id} frame {k}: {p:.2} dB against zscale/tonemap");
            assert!(
                psnr(&ours, &oracle_rgb(src, k, None)) < 25.0,
                "{id} frame {k}: tone-mapped frame should differ from the PQ/HLG code values"
            );
        }
    }
    for k in [0, 29] {
        let p = psnr(&image_rgb(&frame(&w, "s", k)), &oracle_rgb(&sdr, k, None));
        assert!(p >= MIN_PSNR_DB, "s frame {k}: {p:.2} dB against a plain decode");
    }
    // Tone-mapping may also be asked for in the manifest; the stored variant is reused.
    let mut in_manifest = comp.clone();
    in_manifest["tonemap"] = json!(true);
    let again = w.extract(&in_manifest, &[]);
    again.assert_ok();
    assert_eq!(again.clip("p")["cached"], true, "{again}");
    assert_eq!(again.clip("h")["cached"], true, "{again}");
    assert_eq!(
        stored_variants(&w, &pq),
        ["jpg-q95-r0-hdr2sdr-hable-srgb"],
        "only the tone-mapped variant was ever made"
    );
}

#[test]
fn alpha_survives_the_sdr_to_hdr_conversion() {
    let w = Work::new();
    let alpha = w.add("alpha.webm", &alpha_webm());
    w.add("pq.mp4", &hdr("smpte2084"));
    let size = Size { w: 320, h: 180 };
    let run = w.extract(
        &manifest(
            json!(30),
            vec![
                clip("a", "alpha.webm", 0.0, 0.5, 0.0, false),
                clip("p", "pq.mp4", 0.0, 0.5, 0.0, false),
            ],
        ),
        &[],
    );
    run.assert_ok();
    assert_eq!(transform(&run, "a"), json!("sdr2hdr-pq"), "{run}");
    assert_eq!(run.clip("a")["format"], "png", "{run}");
    let ours = image_rasters(&w.out().join("a"), "png", size, Plane::Alpha);
    let source = video_rasters(&alpha, size, Plane::Alpha);
    assert_eq!(ours.len(), 15);
    for (k, a) in ours.iter().enumerate() {
        assert_eq!(a, &source[k], "alpha plane of frame {k} must pass through unchanged");
        assert!(
            a.iter().any(|&v| v < 60) && a.iter().any(|&v| v > 200),
            "frame {k} has real alpha"
        );
    }
    // The colour planes went through the same conversion as an opaque clip. The source is
    // untagged: framex reads it as the plain path does (BT.601 matrix, BT.709 primaries and
    // transfer, limited range).
    let untagged = "colorspace=all=bt2020:range=tv:ispace=bt470bg:iprimaries=bt709:itrc=bt709:irange=tv";
    for k in [0, 14] {
        let png = w.out().join("a").join(format!("frame_{:05}.png", k + 1));
        let ours = image_rgb(&png);
        let mut c = ffmpeg();
        c.args(["-c:v", "libvpx-vp9", "-i"]).arg(&alpha).args([
            "-vf",
            &format!("select=eq(n\\,{k}),{untagged}"),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ]);
        let p = psnr(&ours, &rgb(run_tool(&mut c)));
        assert!(
            p >= MIN_PSNR_DB,
            "a frame {k}: {p:.2} dB against ffmpeg's colorspace filter"
        );
    }
}

/// RGB of every output image of clip `id` (PNG), in order.
fn clip_rgb(w: &Work, id: &str, size: (usize, usize)) -> Vec<Vec<u8>> {
    w.files(id)
        .iter()
        .map(|f| {
            let mut c = ffmpeg();
            c.arg("-i").arg(f).args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]);
            let v = run_tool(&mut c);
            assert_eq!(
                v.len(),
                size.0 * size.1 * 3,
                "{}: {}x{} RGB",
                f.display(),
                size.0,
                size.1
            );
            v
        })
        .collect()
}

/// RGB of the first `n` frames of `src` through `chain`, by the CLI.
fn oracle_frames(src: &Path, chain: &str, n: usize, size: (usize, usize)) -> Vec<Vec<u8>> {
    let mut c = ffmpeg();
    c.arg("-i").arg(src).args([
        "-vf",
        chain,
        "-frames:v",
        &n.to_string(),
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-",
    ]);
    let v = run_tool(&mut c);
    assert_eq!(
        v.len(),
        n * size.0 * size.1 * 3,
        "{n} frames of {}x{} from {chain}",
        size.0,
        size.1
    );
    v.chunks(size.0 * size.1 * 3).map(|c| c.to_vec()).collect()
}

#[test]
fn odd_sizes_and_rgb_sources_convert_too() {
    // `colorspace` and zscale refuse odd sizes and `colorspace` refuses RGB input: framex pads
    // (and crops back) and converts RGB to BT.709 YUV first. The oracle runs the same steps.
    let w = Work::new();
    // FFV1 in Matroska keeps odd sizes (libx264 rounds them to even) and colour tags; the
    // pictures are cropped in 4:4:4 (cropping 4:2:0 rounds down to even).
    let odd = w.add(
        "odd.mkv",
        &synth_fixture(
            "odd420.mkv",
            None,
            "-f lavfi -i testsrc2=size=64x48:rate=30:duration=0.2 -vf format=yuv444p,crop=63:47:0:0 \
             -c:v ffv1 -pix_fmt yuv420p -colorspace bt709 -color_primaries bt709 -color_trc bt709",
        ),
    );
    let rgb = w.add(
        "rgb.mp4",
        &synth_fixture(
            "rgb.mp4",
            None,
            "-f lavfi -i testsrc2=size=64x48:rate=30:duration=0.2 -c:v libx264rgb -preset veryfast",
        ),
    );
    let odd_pq = w.add(
        "oddpq.mkv",
        &synth_fixture(
            "oddpq.mkv",
            None,
            "-f lavfi -i testsrc2=size=64x48:rate=30:duration=0.2 -vf format=yuv444p,crop=63:47:0:0,\
             zscale=tin=bt709:pin=bt709:min=bt709:rin=tv:t=smpte2084:p=bt2020:m=bt2020nc:r=tv:npl=400,format=yuv444p10le \
             -c:v ffv1 -pix_fmt yuv420p10le -colorspace bt2020nc -color_primaries bt2020 -color_trc smpte2084",
        ),
    );
    w.add("pq.mp4", &hdr("smpte2084"));
    let comp = manifest(
        json!(30),
        vec![
            clip("odd", "odd.mkv", 0.0, 0.2, 0.0, false),
            clip("rgb", "rgb.mp4", 0.0, 0.2, 0.0, false),
            clip("p", "pq.mp4", 0.0, 0.2, 0.0, false),
        ],
    );
    let run = w.extract(&comp, &["--format", "png"]);
    run.assert_ok();
    let checks = [
        (
            "odd",
            &odd,
            (63, 47),
            format!("pad=64:48,{SDR2HDR},format=yuv444p,crop=63:47:0:0"),
        ),
        (
            "rgb",
            &rgb,
            (64, 48),
            format!("scale=out_color_matrix=bt709:out_range=tv,format=yuv444p,{SDR2HDR}"),
        ),
    ];
    for (id, src, size, chain) in &checks {
        assert_eq!(transform(&run, id), json!("sdr2hdr-pq"), "{run}");
        let ours = clip_rgb(&w, id, *size);
        let want = oracle_frames(src, chain, ours.len(), *size);
        assert_eq!(ours.len(), 6, "{id}\n{run}");
        for (k, (a, b)) in ours.iter().zip(&want).enumerate() {
            let p = psnr(a, b);
            assert!(p >= MIN_PSNR_DB, "{id} frame {k}: {p:.2} dB against {chain}");
        }
    }

    let tm = w.extract(
        &manifest(json!(30), vec![clip("oddpq", "oddpq.mkv", 0.0, 0.2, 0.0, false)]),
        &["--format", "png", "--tonemap"],
    );
    tm.assert_ok();
    assert_eq!(transform(&tm, "oddpq"), json!("hdr2sdr-hable-srgb"), "{tm}");
    let ours = clip_rgb(&w, "oddpq", (63, 47));
    let chain = format!("pad=64:48,{TONEMAP},format=yuv444p,crop=63:47:0:0");
    let want = oracle_frames(&odd_pq, &chain, ours.len(), (63, 47));
    assert_eq!(ours.len(), 6, "{tm}");
    for (k, (a, b)) in ours.iter().zip(&want).enumerate() {
        let p = psnr(a, b);
        assert!(p >= MIN_PSNR_DB, "oddpq frame {k}: {p:.2} dB against zscale/tonemap");
    }
}
