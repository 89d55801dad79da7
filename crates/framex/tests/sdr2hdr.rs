//! The SDR→HDR fast path (issue 14) against libavfilter's `colorspace`, plane by plane: 8-bit
//! 4:2:0 pictures of testsrc2 and of a "real-content" clip (a blurred, noisy Mandelbrot zoom:
//! smooth gradients and grain) in BT.709 and BT.601, limited and full range, tagged and untagged,
//! go through `ColourFilters::apply` for PQ and HLG targets. The oracle is the ffmpeg CLI running
//! `colorspace=all=bt2020:range=tv` on the same raw planes, told the input's colour explicitly
//! (`ispace`, `iprimaries`, `itrc`, `irange`, as framex reads untagged input), and the library's
//! own filter graph (`ColourFilters::filter`) on the same frame. Pictures the fast path does not
//! take must reach the filter graph instead.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::fuzzkit::internals::{ColourFilters, Hdr, PathCounts, Transform};
use ff::ffi;
use ffmpeg_next as ff;

const W: usize = 320;
const H: usize = 180;
const FRAMES: usize = 2;
/// The requirement; the fast path repeats the filter's fixed-point arithmetic, so it measures
/// far above this (identical planes print as `inf`).
const MIN_PSNR_DB: f64 = 38.0;

fn run_tool(cmd: &mut Command, stdin: Option<&[u8]>) -> Vec<u8> {
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let feeder = stdin.map(|bytes| {
        let mut pipe = child.stdin.take().unwrap();
        let bytes = bytes.to_vec();
        std::thread::spawn(move || pipe.write_all(&bytes).unwrap())
    });
    let out = child.wait_with_output().unwrap();
    if let Some(f) = feeder {
        f.join().unwrap();
    }
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn ffmpeg() -> Command {
    let mut c = Command::new("ffmpeg");
    c.args(["-hide_banner", "-nostdin", "-loglevel", "error"]);
    c
}

const TESTSRC2: &str = "testsrc2=size=320x180:rate=30";
const REAL: &str = "mandelbrot=size=320x180:rate=30:start_scale=0.3,gblur=sigma=1.5,noise=alls=10:allf=t";

/// `FRAMES` raw yuv420p pictures of `source` with YCbCr matrix `matrix` (scale's names) and
/// full or limited range.
fn raw_frames(source: &str, matrix: &str, full: bool) -> Vec<u8> {
    let range = if full { "pc" } else { "tv" };
    let mut c = ffmpeg();
    c.args(["-f", "lavfi", "-i", source])
        .args([
            "-vf",
            &format!("format=rgb24,scale=out_color_matrix={matrix}:out_range={range},format=yuv420p"),
        ])
        .args([
            "-frames:v",
            &FRAMES.to_string(),
            "-f",
            "rawvideo",
            "-pix_fmt",
            "yuv420p",
            "-",
        ]);
    let raw = run_tool(&mut c, None);
    assert_eq!(raw.len(), FRAMES * W * H * 3 / 2);
    raw
}

/// libavfilter's output for raw yuv420p input with the given input colour (filter option values).
fn oracle(raw: &[u8], space: &str, primaries: &str, trc: &str, full: bool) -> Vec<u8> {
    let range = if full { "pc" } else { "tv" };
    let mut c = ffmpeg();
    c.args([
        "-f",
        "rawvideo",
        "-pix_fmt",
        "yuv420p",
        "-s",
        &format!("{W}x{H}"),
        "-i",
        "-",
    ])
    .args([
        "-vf",
        &format!("colorspace=all=bt2020:range=tv:ispace={space}:iprimaries={primaries}:itrc={trc}:irange={range}"),
    ])
    .args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-"]);
    let out = run_tool(&mut c, Some(raw));
    assert_eq!(out.len(), raw.len());
    out
}

/// One colour description of a source, as tags on the decoded frame and as the filter options
/// framex's reading of those tags amounts to.
struct Colour {
    name: &'static str,
    /// The YCbCr matrix the raw pictures are made with (scale's `out_color_matrix`).
    made_with: &'static str,
    full: bool,
    /// `yuvj420p` (its range left untagged) instead of `yuv420p`.
    yuvj: bool,
    tags: (
        ffi::AVColorSpace,
        ffi::AVColorPrimaries,
        ffi::AVColorTransferCharacteristic,
        ffi::AVColorRange,
    ),
    /// ispace, iprimaries, itrc for the oracle.
    reads_as: (&'static str, &'static str, &'static str),
}

fn colours() -> Vec<Colour> {
    use ffi::{AVColorPrimaries as P, AVColorRange as R, AVColorSpace as S, AVColorTransferCharacteristic as T};
    vec![
        Colour {
            name: "bt709 limited",
            made_with: "bt709",
            full: false,
            yuvj: false,
            tags: (
                S::AVCOL_SPC_BT709,
                P::AVCOL_PRI_BT709,
                T::AVCOL_TRC_BT709,
                R::AVCOL_RANGE_MPEG,
            ),
            reads_as: ("bt709", "bt709", "bt709"),
        },
        Colour {
            name: "bt709 full (yuvj420p)",
            made_with: "bt709",
            full: true,
            yuvj: true,
            tags: (
                S::AVCOL_SPC_BT709,
                P::AVCOL_PRI_BT709,
                T::AVCOL_TRC_BT709,
                R::AVCOL_RANGE_UNSPECIFIED,
            ),
            reads_as: ("bt709", "bt709", "bt709"),
        },
        Colour {
            name: "bt601 smpte170m limited",
            made_with: "bt601",
            full: false,
            yuvj: false,
            tags: (
                S::AVCOL_SPC_SMPTE170M,
                P::AVCOL_PRI_SMPTE170M,
                T::AVCOL_TRC_SMPTE170M,
                R::AVCOL_RANGE_MPEG,
            ),
            reads_as: ("smpte170m", "smpte170m", "smpte170m"),
        },
        Colour {
            name: "bt601 bt470bg full",
            made_with: "bt601",
            full: true,
            yuvj: false,
            tags: (
                S::AVCOL_SPC_BT470BG,
                P::AVCOL_PRI_BT470BG,
                T::AVCOL_TRC_SMPTE170M,
                R::AVCOL_RANGE_JPEG,
            ),
            reads_as: ("bt470bg", "bt470bg", "smpte170m"),
        },
        Colour {
            // Untagged: BT.601 matrix, BT.709 primaries and transfer, limited range.
            name: "untagged",
            made_with: "bt601",
            full: false,
            yuvj: false,
            tags: (
                S::AVCOL_SPC_UNSPECIFIED,
                P::AVCOL_PRI_UNSPECIFIED,
                T::AVCOL_TRC_UNSPECIFIED,
                R::AVCOL_RANGE_UNSPECIFIED,
            ),
            reads_as: ("smpte170m", "bt709", "bt709"),
        },
    ]
}

/// Picture `n` of `raw` as a decoded frame would hold it (padded strides), tagged `c.tags`.
fn frame(raw: &[u8], n: usize, c: &Colour, format: ff::format::Pixel) -> ff::frame::Video {
    let mut f = ff::frame::Video::new(format, W as u32, H as u32);
    let pic = &raw[n * W * H * 3 / 2..(n + 1) * W * H * 3 / 2];
    let (y, rest) = pic.split_at(W * H);
    let (u, v) = rest.split_at(W * H / 4);
    for (plane, src, width) in [(0, y, W), (1, u, W / 2), (2, v, W / 2)] {
        let stride = f.stride(plane);
        let data = f.data_mut(plane);
        for (row, src) in src.chunks(width).enumerate() {
            data[row * stride..row * stride + width].copy_from_slice(src);
        }
    }
    // SAFETY: setting plain fields of our own frame.
    unsafe {
        let p = &mut *f.as_mut_ptr();
        (p.colorspace, p.color_primaries, p.color_trc, p.color_range) = c.tags;
    }
    f
}

/// The three planes of a yuv420p picture, tightly packed.
fn planes(f: &ff::frame::Video) -> [Vec<u8>; 3] {
    let (w, h) = (f.width() as usize, f.height() as usize);
    let plane = |i: usize, w: usize, h: usize| {
        let stride = f.stride(i);
        (0..h)
            .flat_map(|r| f.data(i)[r * stride..r * stride + w].to_vec())
            .collect::<Vec<u8>>()
    };
    [plane(0, w, h), plane(1, w / 2, h / 2), plane(2, w / 2, h / 2)]
}

/// Tags of a frame: (matrix, primaries, transfer, range).
fn tags(f: &ff::frame::Video) -> (i32, i32, i32, i32) {
    // SAFETY: reading plain fields.
    let p = unsafe { &*f.as_ptr() };
    (
        p.colorspace as i32,
        p.color_primaries as i32,
        p.color_trc as i32,
        p.color_range as i32,
    )
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let sse: f64 = a.iter().zip(b).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum();
    if sse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0 * 255.0 * a.len() as f64 / sse).log10()
    }
}

#[test]
fn the_fast_path_matches_colorspace_for_bt709_and_bt601_limited_and_full_pq_and_hlg() {
    let mut filters = ColourFilters::default();
    let mut report = Vec::new();
    for (source_name, source) in [("testsrc2", TESTSRC2), ("real", REAL)] {
        for c in colours() {
            let raw = raw_frames(source, c.made_with, c.full);
            let expected = oracle(&raw, c.reads_as.0, c.reads_as.1, c.reads_as.2, c.full);
            let format = if c.yuvj {
                ff::format::Pixel::YUVJ420P
            } else {
                ff::format::Pixel::YUV420P
            };
            for target in [Hdr::Pq, Hdr::Hlg] {
                let transform = Transform::SdrToHdr(target);
                for n in 0..FRAMES {
                    let input = frame(&raw, n, &c, format);
                    let want = frame(&expected, n, &c, ff::format::Pixel::YUV420P);
                    let fast = filters.apply(&input, transform).unwrap();
                    // Tagged as the filter tags its output: BT.2020 NCL, BT.2020, BT.2020-10, tv.
                    assert_eq!(
                        tags(fast),
                        (
                            ffi::AVColorSpace::AVCOL_SPC_BT2020_NCL as i32,
                            ffi::AVColorPrimaries::AVCOL_PRI_BT2020 as i32,
                            ffi::AVColorTransferCharacteristic::AVCOL_TRC_BT2020_10 as i32,
                            ffi::AVColorRange::AVCOL_RANGE_MPEG as i32
                        ),
                        "{source_name} {}",
                        c.name
                    );
                    let fast = planes(fast);
                    let counts = filters.take_counts();
                    assert_eq!(
                        (counts.sdr_to_hdr_fast, counts.filtered),
                        (1, 0),
                        "{source_name} {}: the fast path takes it",
                        c.name
                    );
                    let cli = planes(&want);
                    let graph = planes(filters.filter(&input, transform).unwrap());
                    assert_eq!(filters.take_counts().filtered, 1);
                    for (p, name) in ["Y", "Cb", "Cr"].iter().enumerate() {
                        let (vs_cli, vs_graph) = (psnr(&fast[p], &cli[p]), psnr(&fast[p], &graph[p]));
                        report.push(format!(
                            "{source_name} {} {target:?} frame {n} {name}: {vs_cli:.1} dB vs CLI, {vs_graph:.1} dB vs graph",
                            c.name
                        ));
                        assert!(
                            vs_cli >= MIN_PSNR_DB && vs_graph >= MIN_PSNR_DB,
                            "{}",
                            report.last().unwrap()
                        );
                    }
                }
            }
        }
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn pictures_the_fast_path_does_not_take_go_through_the_filter() {
    use ffi::{AVColorPrimaries as P, AVColorRange as R, AVColorSpace as S, AVColorTransferCharacteristic as T};
    let raw = raw_frames(TESTSRC2, "bt709", false);
    // The first of `colours()` (BT.709 limited), renamed; each case below changes one tag.
    let base = || Colour {
        name: "",
        reads_as: ("", "", ""),
        ..colours().swap_remove(0)
    };
    let mut filters = ColourFilters::default();
    let transform = Transform::SdrToHdr(Hdr::Pq);
    // The fast path's own case first, then one departure at a time.
    let ok = frame(&raw, 0, &base(), ff::format::Pixel::YUV420P);
    filters.apply(&ok, transform).unwrap();
    assert_eq!(filters.take_counts().sdr_to_hdr_fast, 1);
    let departures = [
        (
            "sRGB transfer",
            (S::AVCOL_SPC_BT709, P::AVCOL_PRI_BT709, T::AVCOL_TRC_IEC61966_2_1),
        ),
        (
            "gamma 2.8 transfer",
            (S::AVCOL_SPC_BT709, P::AVCOL_PRI_BT709, T::AVCOL_TRC_GAMMA28),
        ),
        (
            "SMPTE 240M matrix",
            (S::AVCOL_SPC_SMPTE240M, P::AVCOL_PRI_BT709, T::AVCOL_TRC_BT709),
        ),
        (
            "BT.470M primaries",
            (S::AVCOL_SPC_BT709, P::AVCOL_PRI_BT470M, T::AVCOL_TRC_BT709),
        ),
    ];
    for (name, (space, prim, trc)) in departures {
        let c = Colour {
            tags: (space, prim, trc, R::AVCOL_RANGE_MPEG),
            ..base()
        };
        let f = frame(&raw, 0, &c, ff::format::Pixel::YUV420P);
        filters.apply(&f, transform).unwrap();
        let counts = filters.take_counts();
        assert_eq!((counts.sdr_to_hdr_fast, counts.filtered), (0, 1), "{name}");
    }
    // Another layout: 4:4:4 of the same picture.
    let mut yuv444 = ff::frame::Video::new(ff::format::Pixel::YUV444P, W as u32, H as u32);
    for p in 0..3 {
        let (stride, w) = (yuv444.stride(p), W);
        for row in 0..H {
            yuv444.data_mut(p)[row * stride..row * stride + w].fill(100 + 20 * p as u8);
        }
    }
    // SAFETY: plain fields of our own frame.
    unsafe {
        let f = &mut *yuv444.as_mut_ptr();
        (f.colorspace, f.color_primaries, f.color_trc, f.color_range) = base().tags;
    }
    filters.apply(&yuv444, transform).unwrap();
    assert_eq!(filters.take_counts(), framex_counts(0, 1), "yuv444p");
    // No transform: nothing to count.
    filters.apply(&ok, Transform::None).unwrap();
    assert_eq!(filters.take_counts(), framex_counts(0, 0));
}

fn framex_counts(fast: u64, filtered: u64) -> PathCounts {
    PathCounts {
        sdr_to_hdr_fast: fast,
        filtered,
    }
}
