//! Decoded picture → encoder-ready pixels, honouring the source's colour matrix and range, and
//! applying rotation.
//!
//! JPEG (JFIF) stores full-range BT.601 YCbCr. For 8-bit 4:2:0 sources framex converts the
//! decoded planes straight into that with integer arithmetic — a range-expansion lookup table
//! for BT.601 sources, plus a small matrix correction for BT.709 — so the JPEG encoder takes
//! planes directly and no RGB round trip is paid. Everything else (alpha, 10-bit, 4:2:2/4:4:4,
//! other matrices) goes through swscale to packed RGB/RGBA with the source's matrix and range
//! set explicitly.
//!
//! A drawn size ([`Converter::convert_sized`]) scales once, from the decoded planes, with
//! swscale's Lanczos filter (a = 2, [`LANCZOS_PARAM`]): on the fast path the 4:2:0 planes are
//! scaled as they are (source matrix and range kept) and the smaller planes then converted; on
//! the packed path the one swscale call that converts also scales. Rotation comes last, so the size asked for is the
//! upright picture's and the planes are scaled to its axes swapped for 90°/270°.

use ff::ffi;
use ffmpeg_next as ff;

use crate::error::{ErrorKind, Failure};

/// Pixels ready for an encoder, borrowed from a [`Converter`]'s buffers. Rows are tightly
/// packed (stride = width · bytes per pixel).
pub enum Pixels<'a> {
    /// Full-range BT.601 YCbCr 4:2:0 (JFIF), chroma planes `ceil(w/2) × ceil(h/2)`.
    Yuv420 {
        y: &'a [u8],
        u: &'a [u8],
        v: &'a [u8],
        width: usize,
        height: usize,
    },
    Rgb {
        data: &'a [u8],
        width: usize,
        height: usize,
    },
    Rgba {
        data: &'a [u8],
        width: usize,
        height: usize,
    },
}

impl Pixels<'_> {
    pub fn dimensions(&self) -> (usize, usize) {
        match self {
            Pixels::Yuv420 { width, height, .. }
            | Pixels::Rgb { width, height, .. }
            | Pixels::Rgba { width, height, .. } => (*width, *height),
        }
    }
}

/// Which layout the converter's buffers currently hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    Yuv420,
    Rgb,
    Rgba,
}

/// What the encoder wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// JPEG: YCbCr planes where possible, else RGB.
    Jpeg,
    Rgb,
    Rgba,
}

/// Luma coefficients (Kr, Kb) of a colour matrix; `None` for matrices without them.
fn matrix_coeffs(space: ffi::AVColorSpace) -> Option<(f64, f64)> {
    use ffi::AVColorSpace::*;
    match space {
        AVCOL_SPC_BT709 => Some((0.2126, 0.0722)),
        AVCOL_SPC_BT470BG | AVCOL_SPC_SMPTE170M | AVCOL_SPC_UNSPECIFIED | AVCOL_SPC_RESERVED => Some((0.299, 0.114)),
        AVCOL_SPC_FCC => Some((0.30, 0.11)),
        AVCOL_SPC_SMPTE240M => Some((0.212, 0.087)),
        AVCOL_SPC_BT2020_NCL | AVCOL_SPC_BT2020_CL => Some((0.2627, 0.0593)),
        _ => None,
    }
}

/// Full range if tagged so, limited if tagged so (libavfilter's `colorspace` turns `yuvj420p`
/// into `yuvj420p` tagged limited, as FFmpeg's own scaler reads it), else by the format.
fn is_full_range(frame: &ff::frame::Video) -> bool {
    // SAFETY: reading plain fields of a decoded frame.
    let (range, fmt) = unsafe { ((*frame.as_ptr()).color_range, (*frame.as_ptr()).format) };
    match range {
        ffi::AVColorRange::AVCOL_RANGE_JPEG => true,
        ffi::AVColorRange::AVCOL_RANGE_MPEG => false,
        _ => fmt == ffi::AVPixelFormat::AV_PIX_FMT_YUVJ420P as i32,
    }
}

fn color_space(frame: &ff::frame::Video) -> ffi::AVColorSpace {
    // SAFETY: reading a plain field of a decoded frame.
    unsafe { (*frame.as_ptr()).colorspace }
}

/// Fixed-point (Q16) transform from a source YCbCr (matrix + range) to full-range BT.601.
///
/// Every coefficient applies to the integer sample minus its zero (16 or 0 for luma, 128 for
/// chroma), so each output is `clamp((Σ (in − zero) · k + base · 2^16 + 2^15) / 2^16)` in 32-bit
/// integer arithmetic, which vectorises (a table lookup would not).
#[derive(Clone, Copy, PartialEq)]
struct YuvTransform {
    /// The source matrix differs from BT.601, so luma takes a share of both chroma planes and
    /// each chroma plane a share of the other.
    cross: bool,
    y_zero: i32,
    y_scale: i32,
    /// Luma's share of Cb − 128 and Cr − 128.
    y_cb: i32,
    y_cr: i32,
    cb_scale: i32,
    /// Output Cb's share of Cr − 128.
    cb_cr: i32,
    /// Output Cr's share of Cb − 128.
    cr_cb: i32,
    cr_scale: i32,
}

impl YuvTransform {
    fn new(kr: f64, kb: f64, full: bool) -> YuvTransform {
        // Source normalised y in [0,1], cb/cr in [-0.5,0.5]  ->  RGB  ->  BT.601 y', cb', cr'.
        let kg = 1.0 - kr - kb;
        // RGB = y + [0, -a, b] cb + [c, -d, 0] cr
        let b = 2.0 * (1.0 - kb);
        let c = 2.0 * (1.0 - kr);
        let a = b * kb / kg;
        let d = c * kr / kg;
        let (pr, pb) = (0.299, 0.114);
        let pg = 1.0 - pr - pb;
        // y' = pr R + pg G + pb B = y + (pb b - pg a) cb + (pr c - pg d) cr
        let ycb = pb * b - pg * a;
        let ycr = pr * c - pg * d;
        // cb' = (B - y') / (2(1-pb)),  cr' = (R - y') / (2(1-pr))
        let sb = 2.0 * (1.0 - pb);
        let sr = 2.0 * (1.0 - pr);
        let cbcb = (b - ycb) / sb;
        let cbcr = -ycr / sb;
        let crcb = -ycb / sr;
        let crcr = (c - ycr) / sr;
        let cross = ycb.abs() > 1e-4 || ycr.abs() > 1e-4;
        // One integer step of the source in full-range units.
        let (y_step, c_step): (f64, f64) = if full {
            (1.0, 1.0)
        } else {
            (255.0 / 219.0, 255.0 / 224.0)
        };
        let q = |v: f64| (v * c_step * 65536.0).round() as i32;
        YuvTransform {
            cross,
            y_zero: if full { 0 } else { 16 },
            y_scale: (y_step * 65536.0).round() as i32,
            y_cb: q(ycb),
            y_cr: q(ycr),
            cb_scale: q(cbcb),
            cb_cr: q(cbcr),
            cr_cb: q(crcb),
            cr_scale: q(crcr),
        }
    }
}

/// What a packed swscale context was made for: source width, height and format, destination
/// format, matrix, full range, destination width and height.
type PackedKey = (i32, i32, i32, i32, ffi::AVColorSpace, bool, i32, i32);

/// Converts decoded frames; keeps its swscale context, tables and pixel buffers between frames
/// so the hot path allocates nothing.
pub struct Converter {
    sws: *mut ffi::SwsContext,
    sws_key: Option<PackedKey>,
    yuv: Option<(ffi::AVColorSpace, bool, Box<YuvTransform>)>,
    /// The fast path's 4:2:0 plane scaler and its (source w, h, destination w, h).
    scaler: *mut ffi::SwsContext,
    scaler_key: Option<(i32, i32, i32, i32)>,
    /// Scaled 4:2:0 planes (rows of `scaled_stride` bytes) the fast path converts from.
    scaled: [Vec<u8>; 3],
    /// Converted pixels: three planes for 4:2:0, or one packed plane in `planes[0]`.
    planes: [Vec<u8>; 3],
    /// Rotation output, swapped with `planes` after rotating.
    spare: [Vec<u8>; 3],
    /// Scratch for [`to_jfif`]'s cross-term path.
    offsets: Vec<i32>,
    layout: Layout,
    width: usize,
    height: usize,
}

// SAFETY: the SwsContext is owned exclusively by this Converter and only used through &mut self.
unsafe impl Send for Converter {}

impl Default for Converter {
    fn default() -> Self {
        Converter {
            sws: std::ptr::null_mut(),
            sws_key: None,
            yuv: None,
            scaler: std::ptr::null_mut(),
            scaler_key: None,
            scaled: Default::default(),
            planes: Default::default(),
            spare: Default::default(),
            offsets: Vec::new(),
            layout: Layout::Rgb,
            width: 0,
            height: 0,
        }
    }
}

impl Drop for Converter {
    fn drop(&mut self) {
        if !self.sws.is_null() {
            // SAFETY: freeing the context we allocated; never used afterwards.
            unsafe { ffi::sws_freeContext(self.sws) };
        }
        if !self.scaler.is_null() {
            // SAFETY: as above, for the plane scaler.
            unsafe { ffi::sws_freeContext(self.scaler) };
        }
    }
}

/// Rows of scaled planes are padded to this many bytes (swscale's SIMD prefers aligned rows).
const ROW_ALIGN: usize = 64;

/// swscale's filter parameters for scaling to a drawn size: Lanczos with a = 2 (swscale's
/// default is 3). Measured on 1080p → 960×540: 1.8–2.0 ms a frame against 3.8–4.1 ms for a = 3,
/// at 44 dB (a = 3: 45 dB) against ffmpeg's `scale=…:flags=lanczos`; 90×160 from a 320×180
/// phone clip 40 dB (41.6). Area averaging was cheaper still (1.1 ms) but 34.5 dB on the small
/// picture, and softer.
const LANCZOS_PARAM: [f64; 2] = [2.0, ffi::SWS_PARAM_DEFAULT as f64];

/// Bytes of allocated capacity kept past a packed RGB(A) destination for swscale, whose SIMD
/// output stores may run up to a block (at most 32 pixels × 4 bytes here) past the last row.
const SWS_DST_SLACK: usize = 256;

/// Resizes `v` to `n` bytes without zeroing more than needed (contents are overwritten).
fn fit(v: &mut Vec<u8>, n: usize) {
    if v.len() != n {
        v.resize(n, 0);
    }
}

impl Converter {
    /// Converts `frame` for `target`, rotated clockwise by `rotation` degrees; read the result
    /// with [`Converter::pixels`]. A picture that cannot be converted fails its clips as
    /// `decode_failed` (the source delivered something unusable).
    pub fn convert(&mut self, frame: &ff::frame::Video, target: Target, rotation: u32) -> Result<(), Failure> {
        self.convert_sized(frame, target, rotation, None)
    }

    /// [`Converter::convert`], scaled to `size` (the upright picture's `(width, height)`, after
    /// rotation) with a Lanczos filter; `None` keeps the picture's size.
    pub fn convert_sized(
        &mut self,
        frame: &ff::frame::Video,
        target: Target,
        rotation: u32,
        size: Option<(u32, u32)>,
    ) -> Result<(), Failure> {
        // The planes are scaled before they are rotated: to the box's axes swapped for 90/270.
        let size = size
            .map(|(w, h)| if rotation % 180 == 90 { (h, w) } else { (w, h) })
            .filter(|&s| s != (frame.width(), frame.height()));
        let converted = match target {
            // The fast path converts in place when it applies, else the general one does.
            Target::Jpeg if self.yuv420_fast(frame, size) => Ok(()),
            Target::Jpeg | Target::Rgb => self.packed(frame, false, size),
            Target::Rgba => self.packed(frame, true, size),
        };
        converted.map_err(|m| Failure::new(ErrorKind::DecodeFailed, m))?;
        self.rotate(rotation);
        Ok(())
    }

    /// The pixels of the last [`Converter::convert`].
    pub fn pixels(&self) -> Pixels<'_> {
        let (width, height) = (self.width, self.height);
        match self.layout {
            Layout::Yuv420 => Pixels::Yuv420 {
                y: &self.planes[0],
                u: &self.planes[1],
                v: &self.planes[2],
                width,
                height,
            },
            Layout::Rgb => Pixels::Rgb {
                data: &self.planes[0],
                width,
                height,
            },
            Layout::Rgba => Pixels::Rgba {
                data: &self.planes[0],
                width,
                height,
            },
        }
    }

    fn yuv420_fast(&mut self, frame: &ff::frame::Video, size: Option<(u32, u32)>) -> bool {
        use ff::format::Pixel;
        if !matches!(frame.format(), Pixel::YUV420P | Pixel::YUVJ420P) {
            return false;
        }
        let (w, h) = size.unwrap_or((frame.width(), frame.height()));
        let (w, h) = (w as usize, h as usize);
        // libjpeg-turbo reads 4:2:0 planes in whole 2×2 blocks, so its luma plane must cover an
        // even width and height; odd-sized pictures take the RGB path (found by fuzzing: a
        // 64×191 picture made the encoder panic on a too-short Y plane).
        if w % 2 == 1 || h % 2 == 1 {
            return false;
        }
        let space = color_space(frame);
        let full = is_full_range(frame);
        let Some((kr, kb)) = matrix_coeffs(space) else {
            return false;
        };
        if size.is_some() && !self.scale_planes(frame, w, h) {
            return false;
        }
        if self.yuv.as_ref().is_none_or(|(s, f, _)| *s != space || *f != full) {
            self.yuv = Some((space, full, Box::new(YuvTransform::new(kr, kb, full))));
        }
        let t = &self.yuv.as_ref().expect("set above").2;
        let src = match size {
            None => [
                (frame.data(0), frame.stride(0)),
                (frame.data(1), frame.stride(1)),
                (frame.data(2), frame.stride(2)),
            ],
            Some(_) => {
                let (ys, cs) = (w.next_multiple_of(ROW_ALIGN), (w / 2).next_multiple_of(ROW_ALIGN));
                [
                    (&self.scaled[0][..], ys),
                    (&self.scaled[1][..], cs),
                    (&self.scaled[2][..], cs),
                ]
            }
        };
        to_jfif(t, src, &mut self.planes, &mut self.offsets, w, h);
        self.layout = Layout::Yuv420;
        self.width = w;
        self.height = h;
        true
    }

    /// Scales a 4:2:0 frame's planes to `w × h` (even) into `self.scaled`, as they are: the
    /// source's matrix and range are kept for [`to_jfif`]. `false` if swscale refuses.
    fn scale_planes(&mut self, frame: &ff::frame::Video, w: usize, h: usize) -> bool {
        let (sw, sh) = (frame.width() as i32, frame.height() as i32);
        let key = (sw, sh, w as i32, h as i32);
        if self.scaler_key != Some(key) {
            // SAFETY: creating/replacing our own swscale context with the frame's size and a
            // destination size the planner bounded (2..=16384, even). Both sides are declared
            // yuv420p, so swscale scales the planes without touching their range or matrix.
            unsafe {
                if !self.scaler.is_null() {
                    ffi::sws_freeContext(self.scaler);
                }
                self.scaler = ffi::sws_getContext(
                    sw,
                    sh,
                    ffi::AVPixelFormat::AV_PIX_FMT_YUV420P,
                    w as i32,
                    h as i32,
                    ffi::AVPixelFormat::AV_PIX_FMT_YUV420P,
                    ffi::SWS_LANCZOS,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    LANCZOS_PARAM.as_ptr(),
                );
            }
            if self.scaler.is_null() {
                self.scaler_key = None;
                return false;
            }
            self.scaler_key = Some(key);
        }
        let (ys, cs) = (w.next_multiple_of(ROW_ALIGN), (w / 2).next_multiple_of(ROW_ALIGN));
        let [y, u, v] = &mut self.scaled;
        fit(y, ys * h);
        fit(u, cs * (h / 2));
        fit(v, cs * (h / 2));
        for p in [&mut *y, &mut *u, &mut *v] {
            p.reserve_exact(SWS_DST_SLACK);
        }
        let mut dst = [y.as_mut_ptr(), u.as_mut_ptr(), v.as_mut_ptr(), std::ptr::null_mut()];
        let dst_stride = [ys as i32, cs as i32, cs as i32, 0];
        // SAFETY: `frame` is a valid decoded yuv420p/yuvj420p frame of the context's input
        // size; each destination plane holds its rows of `dst_stride` bytes (strides aligned,
        // covering the row) plus SWS_DST_SLACK bytes of spare capacity.
        let r = unsafe {
            let f = &*frame.as_ptr();
            ffi::sws_scale(
                self.scaler,
                f.data.as_ptr() as *const *const u8,
                f.linesize.as_ptr(),
                0,
                sh,
                dst.as_mut_ptr(),
                dst_stride.as_ptr(),
            )
        };
        r == h as i32
    }

    fn packed(&mut self, frame: &ff::frame::Video, alpha: bool, size: Option<(u32, u32)>) -> Result<(), String> {
        let (w, h) = (frame.width() as i32, frame.height() as i32);
        let (dw, dh) = size.map_or((w, h), |(dw, dh)| (dw as i32, dh as i32));
        // SAFETY: reading a plain field of a decoded frame.
        let src_fmt = unsafe { (*frame.as_ptr()).format };
        let space = color_space(frame);
        let full = is_full_range(frame);
        let dst_fmt = if alpha {
            ffi::AVPixelFormat::AV_PIX_FMT_RGBA
        } else {
            ffi::AVPixelFormat::AV_PIX_FMT_RGB24
        };
        let key = (w, h, src_fmt, dst_fmt as i32, space, full, dw, dh);
        if self.sws_key != Some(key) {
            // SAFETY: creating/replacing our own swscale context with validated sizes and the
            // frame's own pixel format; the colourspace tables are FFmpeg's static tables.
            unsafe {
                if !self.sws.is_null() {
                    ffi::sws_freeContext(self.sws);
                }
                self.sws = ffi::sws_getContext(
                    w,
                    h,
                    std::mem::transmute::<i32, ffi::AVPixelFormat>(src_fmt),
                    dw,
                    dh,
                    dst_fmt,
                    // Lanczos when scaling (a drawn size); at the source's size, bicubic only
                    // places the chroma samples.
                    if size.is_some() {
                        ffi::SWS_LANCZOS
                    } else {
                        ffi::SWS_BICUBIC
                    },
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    if size.is_some() {
                        LANCZOS_PARAM.as_ptr()
                    } else {
                        std::ptr::null()
                    },
                );
                if self.sws.is_null() {
                    self.sws_key = None;
                    return Err(format!("cannot convert pixel format {:?}", frame.format()));
                }
                let spc = match space {
                    ffi::AVColorSpace::AVCOL_SPC_UNSPECIFIED | ffi::AVColorSpace::AVCOL_SPC_RESERVED => {
                        ffi::SWS_CS_DEFAULT
                    }
                    s => s as i32,
                };
                let inv = ffi::sws_getCoefficients(spc);
                let fwd = ffi::sws_getCoefficients(ffi::SWS_CS_DEFAULT);
                ffi::sws_setColorspaceDetails(self.sws, inv, full as i32, fwd, 1, 0, 1 << 16, 1 << 16);
            }
            self.sws_key = Some(key);
        }
        let bpp = if alpha { 4 } else { 3 };
        let (wu, hu) = (dw as usize, dh as usize);
        let data = &mut self.planes[0];
        fit(data, wu * hu * bpp);
        // swscale's SIMD writers store whole blocks of pixels, so with tightly packed rows the
        // last row spills up to a block past its end (found by fuzzing: a 1032-pixel-wide RGBA
        // conversion wrote 24 bytes past an exact-size buffer and corrupted the heap). Keep
        // that much spare capacity behind the pixels; `pixels()` still sees exactly w·h·bpp.
        data.reserve_exact(SWS_DST_SLACK);
        let dst_stride = [(wu * bpp) as i32, 0, 0, 0];
        let mut dst_ptr = [
            data.as_mut_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        ];
        // SAFETY: `frame` is a valid decoded frame matching the context's input; `data` holds
        // h rows of `dst_stride` bytes plus SWS_DST_SLACK bytes of allocated spare capacity for
        // swscale's block-wise overshoot past the last row (never read back).
        let r = unsafe {
            let f = &*frame.as_ptr();
            ffi::sws_scale(
                self.sws,
                f.data.as_ptr() as *const *const u8,
                f.linesize.as_ptr(),
                0,
                h,
                dst_ptr.as_mut_ptr(),
                dst_stride.as_ptr(),
            )
        };
        if r != dh {
            return Err("pixel conversion failed".into());
        }
        self.layout = if alpha { Layout::Rgba } else { Layout::Rgb };
        self.width = wu;
        self.height = hu;
        Ok(())
    }

    fn rotate(&mut self, rotation: u32) {
        if rotation == 0 {
            return;
        }
        let (w, h) = (self.width, self.height);
        match self.layout {
            Layout::Yuv420 => {
                let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
                rotate_plane(&self.planes[0], &mut self.spare[0], w, h, 1, rotation);
                rotate_plane(&self.planes[1], &mut self.spare[1], cw, ch, 1, rotation);
                rotate_plane(&self.planes[2], &mut self.spare[2], cw, ch, 1, rotation);
                std::mem::swap(&mut self.planes, &mut self.spare);
            }
            Layout::Rgb | Layout::Rgba => {
                let bpp = if self.layout == Layout::Rgb { 3 } else { 4 };
                rotate_plane(&self.planes[0], &mut self.spare[0], w, h, bpp, rotation);
                std::mem::swap(&mut self.planes[0], &mut self.spare[0]);
            }
        }
        if rotation % 180 == 90 {
            std::mem::swap(&mut self.width, &mut self.height);
        }
    }
}

/// 8-bit 4:2:0 planes `(data, stride)` of a `w × h` picture (even sides) in the source's
/// matrix and range → full-range BT.601 (JFIF) planes, tightly packed, in `planes`.
/// `offsets` is scratch for the cross-term path (luma's chroma share, one per luma column).
/// Plain integer code on slices, so it vectorises; with AVX2 (checked at run time) a second
/// copy compiled for it.
fn to_jfif(
    t: &YuvTransform,
    src: [(&[u8], usize); 3],
    planes: &mut [Vec<u8>; 3],
    offsets: &mut Vec<i32>,
    w: usize,
    h: usize,
) {
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let [y, u, v] = planes;
    fit(y, w * h);
    fit(u, cw * ch);
    fit(v, cw * ch);
    if t.cross {
        offsets.resize(2 * cw, 0);
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above); the function is otherwise safe code.
        unsafe { to_jfif_avx2(t, src, [y, u, v], offsets, w, h) };
        return;
    }
    to_jfif_body(t, src, [y, u, v], offsets, w, h);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn to_jfif_avx2(
    t: &YuvTransform,
    src: [(&[u8], usize); 3],
    dst: [&mut Vec<u8>; 3],
    offsets: &mut [i32],
    w: usize,
    h: usize,
) {
    to_jfif_body(t, src, dst, offsets, w, h);
}

#[inline(always)]
fn to_jfif_body(
    t: &YuvTransform,
    src: [(&[u8], usize); 3],
    dst: [&mut Vec<u8>; 3],
    offsets: &mut [i32],
    w: usize,
    h: usize,
) {
    if t.cross {
        cross_planes(t, src, dst, offsets, w, h);
    } else {
        // BT.601 family: each plane is an independent affine map.
        let [(yp, ys), (up, us), (vp, vs)] = src;
        let [y, u, v] = dst;
        let cw = w.div_ceil(2);
        affine_plane(y, yp, ys, w, t.y_zero, t.y_scale, 0);
        affine_plane(u, up, us, cw, 128, t.cb_scale, 128);
        affine_plane(v, vp, vs, cw, 128, t.cr_scale, 128);
    }
}

/// The cross-term conversion a chroma row at a time: both output chroma samples, then luma's
/// chroma share once per chroma sample (widened to the two luma columns it covers) and the two
/// luma rows it covers. Straight-line integer loops over slices, so they vectorise.
#[inline(always)]
fn cross_planes(
    t: &YuvTransform,
    src: [(&[u8], usize); 3],
    dst: [&mut Vec<u8>; 3],
    offsets: &mut [i32],
    w: usize,
    h: usize,
) {
    let [(yp, ys), (up, us), (vp, vs)] = src;
    let [y, u, v] = dst;
    let cw = w.div_ceil(2);
    let round = 1 << 15;
    let chroma_base = (128 << 16) + round;
    let offsets = &mut offsets[..2 * cw];
    for r in 0..h.div_ceil(2) {
        let su = &up[r * us..r * us + cw];
        let sv = &vp[r * vs..r * vs + cw];
        let du = &mut u[r * cw..(r + 1) * cw];
        let dv = &mut v[r * cw..(r + 1) * cw];
        for ((((du, dv), &cb), &cr), off) in du
            .iter_mut()
            .zip(dv.iter_mut())
            .zip(su)
            .zip(sv)
            .zip(offsets.chunks_exact_mut(2))
        {
            let (cb, cr) = (cb as i32 - 128, cr as i32 - 128);
            *du = ((cb * t.cb_scale + cr * t.cb_cr + chroma_base) >> 16).clamp(0, 255) as u8;
            *dv = ((cb * t.cr_cb + cr * t.cr_scale + chroma_base) >> 16).clamp(0, 255) as u8;
            let o = cb * t.y_cb + cr * t.y_cr + round;
            off[0] = o;
            off[1] = o;
        }
        for row in 2 * r..(2 * r + 2).min(h) {
            let sy = &yp[row * ys..row * ys + w];
            let dy = &mut y[row * w..(row + 1) * w];
            for ((d, &s), &o) in dy.iter_mut().zip(sy).zip(&offsets[..w]) {
                *d = (((s as i32 - t.y_zero) * t.y_scale + o) >> 16).clamp(0, 255) as u8;
            }
        }
    }
}

/// `dst = clamp(((src − zero) · scale + 2^15) / 2^16 + base)` over a plane of `width` bytes a
/// row (`stride` in the source). Plain integer arithmetic on slices, so it vectorises (inlined
/// into [`to_jfif`]'s AVX2 copy, eight pixels a step).
#[inline(always)]
fn affine_plane(dst: &mut [u8], src: &[u8], stride: usize, width: usize, zero: i32, scale: i32, base: i32) {
    let add = (base << 16) + (1 << 15);
    for (drow, srow) in dst.chunks_exact_mut(width).zip(src.chunks(stride)) {
        for (d, &s) in drow.iter_mut().zip(&srow[..width]) {
            *d = (((s as i32 - zero) * scale + add) >> 16).clamp(0, 255) as u8;
        }
    }
}

/// Rotates a packed plane of `bpp`-byte pixels clockwise by 90, 180 or 270 degrees.
fn rotate_plane(src: &[u8], dst: &mut Vec<u8>, w: usize, h: usize, bpp: usize, rotation: u32) {
    fit(dst, src.len());
    match rotation {
        90 => {
            // dst is h wide, w tall: dst(x', y') = src(x = y', y = h-1-x')
            for y in 0..h {
                let row = &src[y * w * bpp..(y + 1) * w * bpp];
                let xd = h - 1 - y;
                for x in 0..w {
                    let o = (x * h + xd) * bpp;
                    dst[o..o + bpp].copy_from_slice(&row[x * bpp..(x + 1) * bpp]);
                }
            }
        }
        180 => {
            for y in 0..h {
                for x in 0..w {
                    let o = ((h - 1 - y) * w + (w - 1 - x)) * bpp;
                    let i = (y * w + x) * bpp;
                    dst[o..o + bpp].copy_from_slice(&src[i..i + bpp]);
                }
            }
        }
        270 => {
            for y in 0..h {
                let row = &src[y * w * bpp..(y + 1) * w * bpp];
                for x in 0..w {
                    let o = ((w - 1 - x) * h + y) * bpp;
                    dst[o..o + bpp].copy_from_slice(&row[x * bpp..(x + 1) * bpp]);
                }
            }
        }
        _ => dst.copy_from_slice(src),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bt601_limited_is_a_pure_range_expansion() {
        let t = YuvTransform::new(0.299, 0.114, false);
        assert!(!t.cross);
        let y = |v: i32| (((v - t.y_zero) * t.y_scale + (1 << 15)) >> 16).clamp(0, 255);
        assert_eq!((y(16), y(235), y(126)), (0, 255, 128));
    }

    #[test]
    fn affine_range_expansion_matches_the_formula() {
        for full in [false, true] {
            let t = YuvTransform::new(0.299, 0.114, full);
            assert!(!t.cross);
            let src: Vec<u8> = (0..=255).collect();
            let (mut y, mut c) = (vec![0u8; 256], vec![0u8; 256]);
            affine_plane(&mut y, &src, 256, 256, t.y_zero, t.y_scale, 0);
            affine_plane(&mut c, &src, 256, 256, 128, t.cb_scale, 128);
            for i in 0..256usize {
                let (ey, ec) = if full {
                    (i as f64, i as f64)
                } else {
                    (
                        (i as f64 - 16.0) * 255.0 / 219.0,
                        (i as f64 - 128.0) * 255.0 / 224.0 + 128.0,
                    )
                };
                let (ey, ec) = (ey.round().clamp(0.0, 255.0), ec.round().clamp(0.0, 255.0));
                assert!((y[i] as f64 - ey).abs() <= 1.0, "luma {i}: {} vs {ey}", y[i]);
                assert!((c[i] as f64 - ec).abs() <= 1.0, "chroma {i}: {} vs {ec}", c[i]);
            }
            if !full {
                assert_eq!((y[16], y[235], c[128]), (0, 255, 128));
            } else {
                assert_eq!(y, src, "full range BT.601 is the identity");
            }
        }
    }

    /// Converts one 2×2 picture of one colour through [`to_jfif`].
    fn convert_2x2(t: &YuvTransform, y: u8, cb: u8, cr: u8) -> (u8, u8, u8) {
        let (yp, up, vp) = ([y; 4], [cb], [cr]);
        let mut planes: [Vec<u8>; 3] = Default::default();
        let mut offsets = Vec::new();
        to_jfif(t, [(&yp, 2), (&up, 1), (&vp, 1)], &mut planes, &mut offsets, 2, 2);
        assert!(planes[0].iter().all(|&v| v == planes[0][0]));
        (planes[0][0], planes[1][0], planes[2][0])
    }

    #[test]
    fn bt709_matrix_is_corrected() {
        let t = YuvTransform::new(0.2126, 0.0722, false);
        assert!(t.cross);
        // Pure 709 red (R=1,G=0,B=0) in limited range: Y=63, Cb=102, Cr=240. In BT.601 full
        // range red is Y=76, Cb=85, Cr=255.
        let (y, cb, cr) = convert_2x2(&t, 63, 102, 240);
        assert!((y as i32 - 76).abs() <= 2, "y {y}");
        assert!((cb as i32 - 85).abs() <= 2, "cb {cb}");
        assert!((cr as i32 - 255).abs() <= 2, "cr {cr}");
    }

    /// The cross-term path against the same conversion in floating point, over a grid of inputs
    /// for BT.709 and BT.2020, limited and full range, on a picture wide enough for the vector
    /// loops and their tails.
    #[test]
    fn cross_terms_match_floating_point() {
        for (kr, kb) in [(0.2126, 0.0722), (0.2627, 0.0593)] {
            for full in [false, true] {
                let t = YuvTransform::new(kr, kb, full);
                assert!(t.cross);
                let (w, h) = (70usize, 4usize);
                let (cw, ch) = (w / 2, h / 2);
                let yp: Vec<u8> = (0..w * h).map(|i| (i * 37 % 256) as u8).collect();
                let up: Vec<u8> = (0..cw * ch).map(|i| (i * 53 % 256) as u8).collect();
                let vp: Vec<u8> = (0..cw * ch).map(|i| (i * 97 % 256) as u8).collect();
                let mut planes: [Vec<u8>; 3] = Default::default();
                let mut offsets = Vec::new();
                to_jfif(&t, [(&yp, w), (&up, cw), (&vp, cw)], &mut planes, &mut offsets, w, h);
                let (kg, pr, pb) = (1.0 - kr - kb, 0.299, 0.114);
                for row in 0..h {
                    for x in 0..w {
                        let (c, yv) = ((row / 2) * cw + x / 2, yp[row * w + x] as f64);
                        let (cb, cr) = (up[c] as f64 - 128.0, vp[c] as f64 - 128.0);
                        let (yn, cbn, crn) = if full {
                            (yv / 255.0, cb / 255.0, cr / 255.0)
                        } else {
                            ((yv - 16.0) / 219.0, cb / 224.0, cr / 224.0)
                        };
                        let r = yn + 2.0 * (1.0 - kr) * crn;
                        let bl = yn + 2.0 * (1.0 - kb) * cbn;
                        let g = (yn - kr * r - kb * bl) / kg;
                        let y601 = pr * r + (1.0 - pr - pb) * g + pb * bl;
                        let cb601 = (bl - y601) / (2.0 * (1.0 - pb));
                        let cr601 = (r - y601) / (2.0 * (1.0 - pr));
                        let q = |v: f64| v.round().clamp(0.0, 255.0);
                        let expect = [q(y601 * 255.0), q(cb601 * 255.0 + 128.0), q(cr601 * 255.0 + 128.0)];
                        let got = [planes[0][row * w + x], planes[1][c], planes[2][c]];
                        for (e, g) in expect.iter().zip(got) {
                            assert!(
                                (g as f64 - e).abs() <= 1.0,
                                "({kr}, {full}) at {x},{row}: {got:?} vs {expect:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn rotation_moves_pixels_clockwise() {
        // 3x2 image: a b c / d e f  -> rotated 90 cw (2x3): d a / e b / f c
        let src = b"abcdef";
        let mut dst = Vec::new();
        rotate_plane(src, &mut dst, 3, 2, 1, 90);
        assert_eq!(dst, b"daebfc");
        rotate_plane(src, &mut dst, 3, 2, 1, 270);
        assert_eq!(dst, b"cfbead");
        rotate_plane(src, &mut dst, 3, 2, 1, 180);
        assert_eq!(dst, b"fedcba");
    }
}
