//! The SDR→HDR fast path: libavfilter's `colorspace=all=bt2020:range=tv` redone by hand for
//! 8-bit 4:2:0 pictures, without a filter graph, the filter's three full-frame int16 RGB buffers
//! or its frame allocation, and with the arithmetic the compiler vectorises (an AVX2 build of the
//! same code chosen at run time).
//!
//! It follows FFmpeg 5.1's `vf_colorspace.c` and `colorspacedsp_template.c` step by step, with
//! the same fixed-point formats, tables and rounding, so its output matches the filter's:
//!
//! 1. YCbCr → R'G'B' in the filter's int16 format (1.0 = 28672, Q15 with headroom): each 2×2
//!    block's four luma samples with the block's one chroma sample (nearest neighbour, no
//!    chroma interpolation), coefficients `lrint(28672 · 128 · m / range)`, `>> 7`, clipped to
//!    int16. The source's own matrix and range.
//! 2. R'G'B' → linear light through a 32768-entry table over `(v − 2048) / 28672` (the source
//!    transfer: BT.709 and SMPTE 170M share one curve).
//! 3. A Q14 3×3 matrix from the source primaries to BT.2020 (both D65: no white-point
//!    adaptation), rounded, clipped to int16.
//! 4. Linear → R'G'B' through the output curve's table: the BT.2020-10 OETF, whatever the HDR
//!    target ([`out_curve`] builds it from the target) — `colorspace=all=bt2020` re-encodes with
//!    BT.2020's transfer for PQ and HLG renders alike, and the render's encoder tags the
//!    transfer later (HyperFrames does the same: only the cache name differs).
//! 5. R'G'B' → BT.2020 NCL YCbCr, limited range: luma per pixel, chroma from the rounded
//!    average of each 2×2 block's R'G'B' (after step 4), coefficients
//!    `lrint(2^21 · range · m / 28672)`, `>> 21`; no dither (the filter's default).
//!
//! It applies to 8-bit `yuv420p` / `yuvj420p` of even size (no alpha, no RGB) with a BT.709 or
//! BT.601 matrix, BT.709 / BT.470BG / SMPTE 170M primaries and the BT.709 / SMPTE 170M transfer,
//! untagged values read as [`super::colour`]'s `default_tags` fills them for the filter; every
//! other picture keeps the libavfilter graph, which is also the tests' oracle.

use ff::ffi;
use ffmpeg_next as ff;

use super::colour::Hdr;

/// A source matrix the fast path handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Matrix {
    Bt709,
    /// BT.470BG / SMPTE 170M (and untagged, read as SMPTE 170M).
    Bt601,
}

/// Source primaries the fast path handles (all D65, like BT.2020).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Primaries {
    /// BT.709 (and untagged, read as BT.709).
    Bt709,
    Bt470bg,
    Smpte170m,
}

/// What the tables depend on: the source's matrix, range and primaries and the render's target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key {
    matrix: Matrix,
    full: bool,
    primaries: Primaries,
    target: Hdr,
}

/// Whether the fast path takes this picture, and with which tables; `None` sends it to the
/// filter graph. Untagged values are read as `default_tags` fills them for the filter.
fn key_of(f: &ffi::AVFrame, target: Hdr) -> Option<Key> {
    use ffi::{AVColorPrimaries as P, AVColorRange as R, AVColorSpace as S, AVColorTransferCharacteristic as T};
    let yuvj = f.format == ffi::AVPixelFormat::AV_PIX_FMT_YUVJ420P as i32;
    if !(yuvj || f.format == ffi::AVPixelFormat::AV_PIX_FMT_YUV420P as i32) {
        return None;
    }
    if f.width <= 0 || f.height <= 0 || f.width % 2 == 1 || f.height % 2 == 1 {
        return None;
    }
    let matrix = match f.colorspace {
        S::AVCOL_SPC_BT709 => Matrix::Bt709,
        S::AVCOL_SPC_BT470BG | S::AVCOL_SPC_SMPTE170M | S::AVCOL_SPC_UNSPECIFIED | S::AVCOL_SPC_RESERVED => {
            Matrix::Bt601
        }
        _ => return None,
    };
    let primaries = match f.color_primaries {
        P::AVCOL_PRI_BT709 | P::AVCOL_PRI_UNSPECIFIED | P::AVCOL_PRI_RESERVED | P::AVCOL_PRI_RESERVED0 => {
            Primaries::Bt709
        }
        P::AVCOL_PRI_BT470BG => Primaries::Bt470bg,
        P::AVCOL_PRI_SMPTE170M => Primaries::Smpte170m,
        _ => return None,
    };
    if !matches!(
        f.color_trc,
        T::AVCOL_TRC_BT709
            | T::AVCOL_TRC_SMPTE170M
            | T::AVCOL_TRC_UNSPECIFIED
            | T::AVCOL_TRC_RESERVED
            | T::AVCOL_TRC_RESERVED0
    ) {
        return None;
    }
    let full = match f.color_range {
        R::AVCOL_RANGE_JPEG => true,
        R::AVCOL_RANGE_MPEG => false,
        R::AVCOL_RANGE_UNSPECIFIED => yuvj,
        _ => return None,
    };
    Some(Key {
        matrix,
        full,
        primaries,
        target,
    })
}

/// `lrint`: round half to even, as FFmpeg's tables are built (default rounding mode).
fn lrint(v: f64) -> i32 {
    v.round_ties_even() as i32
}

fn clip_i16(v: i64) -> i16 {
    v.clamp(i16::MIN as i64, i16::MAX as i64) as i16
}

/// Kr, Kg, Kb of a matrix (libavfilter's `luma_coefficients`).
fn luma(m: Matrix) -> [f64; 3] {
    match m {
        Matrix::Bt709 => [0.2126, 0.7152, 0.0722],
        Matrix::Bt601 => [0.299, 0.587, 0.114],
    }
}

const BT2020_LUMA: [f64; 3] = [0.2627, 0.6780, 0.0593];

/// `ff_fill_rgb2yuv_table`.
fn rgb2yuv_table(c: [f64; 3]) -> [[f64; 3]; 3] {
    let bscale = 0.5 / (c[2] - 1.0);
    let rscale = 0.5 / (c[0] - 1.0);
    [
        [c[0], c[1], c[2]],
        [bscale * c[0], bscale * c[1], 0.5],
        [0.5, rscale * c[1], rscale * c[2]],
    ]
}

/// `ff_matrix_invert_3x3`, operation for operation.
fn invert(m: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let [[m00, m01, m02], [m10, m11, m12], [m20, m21, m22]] = m;
    let mut out = [
        [
            (m11 * m22 - m21 * m12),
            -(m01 * m22 - m21 * m02),
            (m01 * m12 - m11 * m02),
        ],
        [
            -(m10 * m22 - m20 * m12),
            (m00 * m22 - m20 * m02),
            -(m00 * m12 - m10 * m02),
        ],
        [
            (m10 * m21 - m20 * m11),
            -(m00 * m21 - m20 * m01),
            (m00 * m11 - m10 * m01),
        ],
    ];
    let det = 1.0 / (m00 * out[0][0] + m10 * out[0][1] + m20 * out[0][2]);
    for row in &mut out {
        for v in row {
            *v *= det;
        }
    }
    out
}

/// `ff_matrix_mul_3x3(dst, a, b)`: `dst[m][n] = Σ b[m][k] · a[k][n]`.
fn mul(a: [[f64; 3]; 3], b: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut dst = [[0.0; 3]; 3];
    for (m, row) in dst.iter_mut().enumerate() {
        for (n, v) in row.iter_mut().enumerate() {
            *v = b[m][0] * a[0][n] + b[m][1] * a[1][n] + b[m][2] * a[2][n];
        }
    }
    dst
}

/// xr, yr, xg, yg, xb, yb of a set of primaries (libavfilter's `color_primaries`).
fn chromaticities(p: Option<Primaries>) -> [f64; 6] {
    match p {
        Some(Primaries::Bt709) => [0.640, 0.330, 0.300, 0.600, 0.150, 0.060],
        Some(Primaries::Bt470bg) => [0.640, 0.330, 0.290, 0.600, 0.150, 0.060],
        Some(Primaries::Smpte170m) => [0.630, 0.340, 0.310, 0.595, 0.155, 0.070],
        None => [0.708, 0.292, 0.170, 0.797, 0.131, 0.046], // BT.2020
    }
}

/// The D65 white point.
const WP_D65: (f64, f64) = (0.3127, 0.3290);

/// `ff_fill_rgb2xyz_table`.
fn rgb2xyz(c: [f64; 6], wp: (f64, f64)) -> [[f64; 3]; 3] {
    let [xr, yr, xg, yg, xb, yb] = c;
    let mut m = [
        [xr / yr, xg / yg, xb / yb],
        [1.0, 1.0, 1.0],
        [(1.0 - xr - yr) / yr, (1.0 - xg - yg) / yg, (1.0 - xb - yb) / yb],
    ];
    let i = invert(m);
    let (xw, yw) = wp;
    let zw = 1.0 - xw - yw;
    let s = [
        i[0][0] * xw + i[0][1] * yw + i[0][2] * zw,
        i[1][0] * xw + i[1][1] * yw + i[1][2] * zw,
        i[2][0] * xw + i[2][1] * yw + i[2][2] * zw,
    ];
    for row in &mut m {
        for (v, s) in row.iter_mut().zip(s) {
            *v *= s;
        }
    }
    m
}

/// A transfer curve in libavfilter's parametrisation (alpha, beta, gamma, delta).
#[derive(Clone, Copy)]
struct Curve {
    alpha: f64,
    beta: f64,
    gamma: f64,
    delta: f64,
}

/// BT.709 / SMPTE 170M / BT.2020-10: one curve.
const BT709_CURVE: Curve = Curve {
    alpha: 1.099,
    beta: 0.018,
    gamma: 0.45,
    delta: 4.5,
};

/// The curve the output R'G'B' is encoded with for an HDR target. `colorspace=all=bt2020`
/// encodes with the BT.2020-10 transfer for both targets (what HyperFrames and the existing
/// variant do); a display-referred PQ or HLG curve (SDR white at 203 nits, BT.2408) would be a
/// different variant, with a different name.
fn out_curve(target: Hdr) -> Curve {
    match target {
        Hdr::Pq | Hdr::Hlg => BT709_CURVE,
    }
}

/// Table entries: int16 R'G'B' `v` is looked up at `clamp(v + 2048, 0, 32767)`.
const LUT_SIZE: usize = 32768;

/// `fill_gamma_table`: the linearising table of `inp` and the delinearising one of `out`.
fn gamma_tables(inp: Curve, out: Curve) -> (Box<[i16]>, Box<[i16]>) {
    let (in_ialpha, in_igamma, in_idelta) = (1.0 / inp.alpha, 1.0 / inp.gamma, 1.0 / inp.delta);
    let mut lin = vec![0i16; LUT_SIZE];
    let mut delin = vec![0i16; LUT_SIZE];
    for n in 0..LUT_SIZE {
        let v = (n as f64 - 2048.0) / 28672.0;
        let d = if v <= -out.beta {
            -out.alpha * (-v).powf(out.gamma) + (out.alpha - 1.0)
        } else if v < out.beta {
            out.delta * v
        } else {
            out.alpha * v.powf(out.gamma) - (out.alpha - 1.0)
        };
        delin[n] = clip_i16(lrint_i64(d * 28672.0));
        let l = if v <= -inp.beta * inp.delta {
            -((1.0 - inp.alpha - v) * in_ialpha).powf(in_igamma)
        } else if v < inp.beta * inp.delta {
            v * in_idelta
        } else {
            ((v + inp.alpha - 1.0) * in_ialpha).powf(in_igamma)
        };
        lin[n] = clip_i16(lrint_i64(l * 28672.0));
    }
    (lin.into_boxed_slice(), delin.into_boxed_slice())
}

fn lrint_i64(v: f64) -> i64 {
    v.round_ties_even() as i64
}

/// Everything one (source colour, target) needs, built once.
struct Tables {
    /// Source luma offset (16 or 0).
    y_off: i32,
    /// yuv2rgb: Y, V→R, U→G, V→G, U→B.
    cy: i32,
    crv: i32,
    cgu: i32,
    cgv: i32,
    cbu: i32,
    lin: Box<[i16]>,
    delin: Box<[i16]>,
    /// Linear source RGB → linear BT.2020 RGB, Q14.
    m: [[i32; 3]; 3],
    /// rgb2yuv to BT.2020 NCL limited: Y row, then Cb's and Cr's (Cb's B = Cr's R = `cburv`).
    cry: i32,
    cgy: i32,
    cby: i32,
    cru: i32,
    cgu_out: i32,
    cburv: i32,
    cgv_out: i32,
    cbv: i32,
}

impl Tables {
    fn new(k: Key) -> Tables {
        // yuv2rgb (`create_filtergraph`, 8-bit: bits = 128).
        let (y_off, y_rng, uv_rng) = if k.full { (0, 255.0, 255.0) } else { (16, 219.0, 224.0) };
        let yuv2rgb = invert(rgb2yuv_table(luma(k.matrix)));
        let c = |n: usize, m: usize| {
            let rng = if m == 0 { y_rng } else { uv_rng };
            lrint((28672 * 128) as f64 * yuv2rgb[n][m] / rng) as i16 as i32
        };
        // lrgb2lrgb: xyz2rgb(BT.2020) · rgb2xyz(source).
        let xyz2rgb = invert(rgb2xyz(chromaticities(None), WP_D65));
        let rgb2rgb = mul(rgb2xyz(chromaticities(Some(k.primaries)), WP_D65), xyz2rgb);
        let mut m = [[0i32; 3]; 3];
        for (row, src) in m.iter_mut().zip(rgb2rgb) {
            for (v, s) in row.iter_mut().zip(src) {
                *v = lrint(16384.0 * s) as i16 as i32;
            }
        }
        let (lin, delin) = gamma_tables(BT709_CURVE, out_curve(k.target));
        // rgb2yuv (8-bit: bits = 1 << 21), BT.2020 NCL, limited range.
        let rgb2yuv = rgb2yuv_table(BT2020_LUMA);
        let o = |n: usize, m: usize| {
            let rng: i32 = if n == 0 { 219 } else { 224 };
            lrint(((1 << 21) * rng) as f64 * rgb2yuv[n][m] / 28672.0) as i16 as i32
        };
        Tables {
            y_off,
            cy: c(0, 0),
            crv: c(0, 2),
            cgu: c(1, 1),
            cgv: c(1, 2),
            cbu: c(2, 1),
            lin,
            delin,
            m,
            cry: o(0, 0),
            cgy: o(0, 1),
            cby: o(0, 2),
            cru: o(1, 0),
            cgu_out: o(1, 1),
            cburv: o(1, 2),
            cgv_out: o(2, 1),
            cbv: o(2, 2),
        }
    }
}

/// Per-row-pair scratch: R, G, B of two luma rows (`2w` each, first row then second) and the
/// chroma terms of the pair's chroma row, upsampled to luma width.
#[derive(Default)]
struct Scratch {
    rgb: [Vec<i16>; 3],
    idx: [Vec<u16>; 3],
    chroma: [Vec<i32>; 3],
}

/// A worker's fast-path state: the tables of the last colour seen and the output picture,
/// reused for every frame.
#[derive(Default)]
pub struct Sdr2Hdr {
    tables: Option<(Key, Box<Tables>)>,
    out: Option<ff::frame::Video>,
    scratch: Scratch,
}

// SAFETY: the output frame is owned by one worker thread at a time; AVFrames have no thread
// affinity.
unsafe impl Send for Sdr2Hdr {}

impl Sdr2Hdr {
    /// Converts `frame` to BT.2020 (8-bit `yuv420p`, BT.2020 NCL, limited range) for an HDR
    /// render with target `target`, into [`Sdr2Hdr::output`]; `false` when the fast path does
    /// not apply (the caller then uses the filter graph).
    pub fn convert(&mut self, frame: &ff::frame::Video, target: Hdr) -> bool {
        // SAFETY: reading plain fields of a valid frame.
        let Some(key) = key_of(unsafe { &*frame.as_ptr() }, target) else {
            return false;
        };
        let (w, h) = (frame.width(), frame.height());
        if self.out.as_ref().is_none_or(|o| (o.width(), o.height()) != (w, h)) {
            self.out = None;
            let mut out = ff::frame::Video::new(ff::format::Pixel::YUV420P, w, h);
            // SAFETY: our own freshly allocated frame; tagged as the filter tags its output.
            unsafe {
                let o = &mut *out.as_mut_ptr();
                if o.data[0].is_null() {
                    return false; // allocation failed: the filter graph reports it properly
                }
                o.colorspace = ffi::AVColorSpace::AVCOL_SPC_BT2020_NCL;
                o.color_primaries = ffi::AVColorPrimaries::AVCOL_PRI_BT2020;
                o.color_trc = ffi::AVColorTransferCharacteristic::AVCOL_TRC_BT2020_10;
                o.color_range = ffi::AVColorRange::AVCOL_RANGE_MPEG;
            }
            self.out = Some(out);
        }
        if self.tables.as_ref().is_none_or(|(k, _)| *k != key) {
            self.tables = Some((key, Box::new(Tables::new(key))));
        }
        let t = &self.tables.as_ref().expect("set above").1;
        let out = self.out.as_mut().expect("set above");
        let (w, h) = (w as usize, h as usize);
        let src = Planes {
            y: frame.data(0),
            u: frame.data(1),
            v: frame.data(2),
            strides: [frame.stride(0), frame.stride(1), frame.stride(2)],
        };
        let strides = [out.stride(0), out.stride(1), out.stride(2)];
        // SAFETY: the three planes of our own yuv420p frame are distinct allocations of at least
        // `stride · rows` bytes each (luma h rows, chroma h/2 rows), and nothing else refers to
        // them while the slices live.
        let dst = unsafe {
            let o = &*out.as_ptr();
            PlanesMut {
                y: std::slice::from_raw_parts_mut(o.data[0], strides[0] * h),
                u: std::slice::from_raw_parts_mut(o.data[1], strides[1] * (h / 2)),
                v: std::slice::from_raw_parts_mut(o.data[2], strides[2] * (h / 2)),
                strides,
            }
        };
        convert(t, &src, dst, w, h, &mut self.scratch);
        true
    }

    /// The picture of the last successful [`Sdr2Hdr::convert`].
    pub fn output(&self) -> &ff::frame::Video {
        self.out.as_ref().expect("a picture was converted")
    }
}

struct Planes<'a> {
    y: &'a [u8],
    u: &'a [u8],
    v: &'a [u8],
    strides: [usize; 3],
}

struct PlanesMut<'a> {
    y: &'a mut [u8],
    u: &'a mut [u8],
    v: &'a mut [u8],
    strides: [usize; 3],
}

fn convert(t: &Tables, src: &Planes<'_>, dst: PlanesMut<'_>, w: usize, h: usize, s: &mut Scratch) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above); the function is otherwise safe code.
        unsafe { convert_avx2(t, src, dst, w, h, s) };
        return;
    }
    convert_body(t, src, dst, w, h, s);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn convert_avx2(t: &Tables, src: &Planes<'_>, dst: PlanesMut<'_>, w: usize, h: usize, s: &mut Scratch) {
    convert_body(t, src, dst, w, h, s);
}

/// The whole picture, one 2×2-block row (two luma rows, one chroma row) at a time, so the
/// intermediate R'G'B' stays in cache. Each stage is a plain loop over slices: the arithmetic
/// ones vectorise, the two table lookups are scalar gathers.
#[inline(always)]
fn convert_body(t: &Tables, src: &Planes<'_>, dst: PlanesMut<'_>, w: usize, h: usize, s: &mut Scratch) {
    let cw = w / 2;
    let n = 2 * w;
    for b in &mut s.rgb {
        b.resize(n, 0);
    }
    for b in &mut s.idx {
        b.resize(n, 0);
    }
    for b in &mut s.chroma {
        b.resize(w, 0);
    }
    let [ys, us, vs] = src.strides;
    let [dys, dus, dvs] = dst.strides;
    let PlanesMut {
        y: dy, u: du, v: dv, ..
    } = dst;
    let (y_off, cy) = (t.y_off, t.cy);
    for j in 0..h / 2 {
        // 1. Chroma terms of the row (with the rounding constant), at luma width.
        {
            let su = &src.u[j * us..j * us + cw];
            let sv = &src.v[j * vs..j * vs + cw];
            let [cr, cg, cb] = &mut s.chroma;
            let (cr, cg, cb) = (&mut cr[..w], &mut cg[..w], &mut cb[..w]);
            let (crv, cgu, cgv, cbu) = (t.crv, t.cgu, t.cgv, t.cbu);
            for (x, (&u, &v)) in su.iter().zip(sv).enumerate() {
                let (u, v) = (u as i32 - 128, v as i32 - 128);
                let r = crv * v + 64;
                let g = cgu * u + cgv * v + 64;
                let b = cbu * u + 64;
                cr[2 * x] = r;
                cr[2 * x + 1] = r;
                cg[2 * x] = g;
                cg[2 * x + 1] = g;
                cb[2 * x] = b;
                cb[2 * x + 1] = b;
            }
        }
        // 2. R'G'B' of both luma rows as table indices.
        for row in 0..2 {
            let r = 2 * j + row;
            let sy = &src.y[r * ys..r * ys + w];
            let [ir, ig, ib] = &mut s.idx;
            let [cr, cg, cb] = &s.chroma;
            let (cr, cg, cb) = (&cr[..w], &cg[..w], &cb[..w]);
            let range = row * w..(row + 1) * w;
            let (ir, ig, ib) = (&mut ir[range.clone()], &mut ig[range.clone()], &mut ib[range]);
            for x in 0..w {
                let l = (sy[x] as i32 - y_off) * cy;
                ir[x] = index((l + cr[x]) >> 7);
                ig[x] = index((l + cg[x]) >> 7);
                ib[x] = index((l + cb[x]) >> 7);
            }
        }
        // 3. Linear light.
        lookup(&s.idx, &mut s.rgb, &t.lin);
        // 4. To BT.2020 primaries, as indices into the output curve.
        {
            let [r, g, b] = &s.rgb;
            let [ir, ig, ib] = &mut s.idx;
            let (r, g, b) = (&r[..n], &g[..n], &b[..n]);
            let (ir, ig, ib) = (&mut ir[..n], &mut ig[..n], &mut ib[..n]);
            let m = t.m;
            for x in 0..n {
                let (r0, g0, b0) = (r[x] as i32, g[x] as i32, b[x] as i32);
                ir[x] = index((m[0][0] * r0 + m[0][1] * g0 + m[0][2] * b0 + 8192) >> 14);
                ig[x] = index((m[1][0] * r0 + m[1][1] * g0 + m[1][2] * b0 + 8192) >> 14);
                ib[x] = index((m[2][0] * r0 + m[2][1] * g0 + m[2][2] * b0 + 8192) >> 14);
            }
        }
        // 5. The output curve.
        lookup(&s.idx, &mut s.rgb, &t.delin);
        // 6. BT.2020 NCL YCbCr, limited range.
        let [r, g, b] = &s.rgb;
        let (r, g, b) = (&r[..n], &g[..n], &b[..n]);
        let (cry, cgy, cby) = (t.cry, t.cgy, t.cby);
        const RND: i32 = 1 << 20;
        for row in 0..2 {
            let y = 2 * j + row;
            let out = &mut dy[y * dys..y * dys + w];
            let range = row * w..(row + 1) * w;
            let (r, g, b) = (&r[range.clone()], &g[range.clone()], &b[range]);
            for x in 0..w {
                let v = (r[x] as i32 * cry + g[x] as i32 * cgy + b[x] as i32 * cby + RND) >> 21;
                out[x] = (16 + v).clamp(0, 255) as u8;
            }
        }
        let ou = &mut du[j * dus..j * dus + cw];
        let ov = &mut dv[j * dvs..j * dvs + cw];
        let (r0, r1) = r.split_at(w);
        let (g0, g1) = g.split_at(w);
        let (b0, b1) = b.split_at(w);
        let (cru, cgu, cburv, cgv, cbv) = (t.cru, t.cgu_out, t.cburv, t.cgv_out, t.cbv);
        for x in 0..cw {
            let avg = |a: &[i16], c: &[i16]| {
                (a[2 * x] as i32 + a[2 * x + 1] as i32 + c[2 * x] as i32 + c[2 * x + 1] as i32 + 2) >> 2
            };
            let (ra, ga, ba) = (avg(r0, r1), avg(g0, g1), avg(b0, b1));
            let cb = (ra * cru + ga * cgu + ba * cburv + RND) >> 21;
            let cr = (ra * cburv + ga * cgv + ba * cbv + RND) >> 21;
            ou[x] = (128 + cb).clamp(0, 255) as u8;
            ov[x] = (128 + cr).clamp(0, 255) as u8;
        }
    }
}

/// The table index of an int16 R'G'B' value computed in i32: clipped to int16 (as the filter
/// stores it), then `clamp(v + 2048, 0, 32767)`. Clipping to int16 first cannot change the
/// result: every value outside int16 also lands outside 0..=32767 after the offset.
#[inline(always)]
fn index(v: i32) -> u16 {
    (v + 2048).clamp(0, LUT_SIZE as i32 - 1) as u16
}

#[inline(always)]
fn lookup(idx: &[Vec<u16>; 3], out: &mut [Vec<i16>; 3], lut: &[i16]) {
    let lut = &lut[..LUT_SIZE];
    for (i, o) in idx.iter().zip(out.iter_mut()) {
        for (o, &i) in o.iter_mut().zip(i.iter()) {
            *o = lut[i as usize & (LUT_SIZE - 1)];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One flat 2×2-block row: every luma sample `y`, chroma `u`, `v`; the output's first
    /// (Y, Cb, Cr).
    fn convert_flat(k: Key, y: u8, u: u8, v: u8) -> (u8, u8, u8) {
        let t = Tables::new(k);
        let (w, h) = (32, 2);
        let (sy, su, sv) = (vec![y; w * h], vec![u; w / 2], vec![v; w / 2]);
        let (mut dy, mut du, mut dv) = (vec![0; w * h], vec![0; w / 2], vec![0; w / 2]);
        let src = Planes {
            y: &sy,
            u: &su,
            v: &sv,
            strides: [w, w / 2, w / 2],
        };
        let dst = PlanesMut {
            y: &mut dy,
            u: &mut du,
            v: &mut dv,
            strides: [w, w / 2, w / 2],
        };
        convert(&t, &src, dst, w, h, &mut Scratch::default());
        assert!(dy.iter().all(|&p| p == dy[0]) && du.iter().all(|&p| p == du[0]));
        (dy[0], du[0], dv[0])
    }

    fn key(matrix: Matrix, full: bool, primaries: Primaries) -> Key {
        Key {
            matrix,
            full,
            primaries,
            target: Hdr::Pq,
        }
    }

    #[test]
    fn black_white_and_grey_stay_neutral() {
        for m in [Matrix::Bt709, Matrix::Bt601] {
            for p in [Primaries::Bt709, Primaries::Bt470bg, Primaries::Smpte170m] {
                assert_eq!(convert_flat(key(m, false, p), 16, 128, 128), (16, 128, 128));
                assert_eq!(convert_flat(key(m, false, p), 235, 128, 128), (235, 128, 128));
                assert_eq!(convert_flat(key(m, true, p), 0, 128, 128), (16, 128, 128));
                assert_eq!(convert_flat(key(m, true, p), 255, 128, 128), (235, 128, 128));
                let (y, u, v) = convert_flat(key(m, false, p), 126, 128, 128);
                assert!((y as i32 - 126).abs() <= 1 && u == 128 && v == 128, "{y} {u} {v}");
            }
        }
    }

    #[test]
    fn bt709_red_is_what_the_filter_makes_of_it() {
        // Limited-range BT.709 red (Y 63, Cb 102, Cr 240): `colorspace=all=bt2020:range=tv`
        // (FFmpeg 5.1) gives (97, 93, 192) for it.
        let red = convert_flat(key(Matrix::Bt709, false, Primaries::Bt709), 63, 102, 240);
        assert_eq!(red, (97, 93, 192));
    }

    #[test]
    fn pq_and_hlg_targets_use_the_one_bt2020_curve() {
        let (a, b) = (
            Tables::new(key(Matrix::Bt709, false, Primaries::Bt709)),
            Tables::new(Key {
                target: Hdr::Hlg,
                ..key(Matrix::Bt709, false, Primaries::Bt709)
            }),
        );
        assert_eq!(a.delin, b.delin);
        // The curve's ends: 0 → 0, 1.0 (28672) → 1.0.
        assert_eq!(a.delin[2048], 0);
        assert_eq!(a.delin[2048 + 28672], 28672);
        assert_eq!(a.lin[2048 + 28672], 28672);
    }

    #[test]
    fn identity_primaries_matrix_rows_sum_to_one() {
        // White stays white: each row of the Q14 matrix sums to 16384 (± rounding).
        for p in [Primaries::Bt709, Primaries::Bt470bg, Primaries::Smpte170m] {
            let t = Tables::new(key(Matrix::Bt601, false, p));
            for row in t.m {
                assert!((row.iter().sum::<i32>() - 16384).abs() <= 1, "{p:?} {row:?}");
            }
        }
    }
}
