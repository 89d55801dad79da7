//! Dynamic-range transforms: SDR clips brought into an HDR composition's colour space, and HDR
//! clips tone-mapped for an SDR render — both through FFmpeg's filter graphs, applied to each
//! decoded picture in the same pass that converts and encodes it.
//!
//! Which transform a source gets is a property of the whole composition ([`transform_for`]):
//! - Any HDR source (PQ `smpte2084` or HLG `arib-std-b67`) makes the render HDR: SDR sources are
//!   converted to BT.2020 (`colorspace=all=bt2020:range=tv`, HyperFrames' one-pass SDR→HDR); the
//!   target is PQ if any source is PQ, else HLG. HDR sources are left untouched.
//! - With tone-mapping requested the render is SDR: HDR sources are mapped to BT.709 primaries
//!   and sRGB transfer with the Hable curve (zscale + tonemap, the chain HyperFrames' newer
//!   engine names `hdr2sdr-hable-srgb`); SDR sources are left untouched.
//!
//! The transform is part of a frame's variant, so converted and plain frames of one source are
//! stored side by side and never mistaken for each other.

use std::collections::HashMap;

use ff::ffi;
use ffmpeg_next as ff;
use serde::{Deserialize, Serialize};

use super::picture::share;
use super::sdr2hdr::Sdr2Hdr;
use super::source::ColorInfo;
use crate::error::{ErrorKind, Failure};

/// The transfer function of an HDR source or render.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Hdr {
    /// SMPTE ST 2084 (HDR10).
    Pq,
    /// ARIB STD-B67 hybrid log-gamma.
    Hlg,
}

impl Hdr {
    /// The HDR kind of a stream from its colour description; `None` for SDR.
    pub fn of(color: &ColorInfo) -> Option<Hdr> {
        match color.transfer.as_str() {
            "smpte2084" => Some(Hdr::Pq),
            "arib-std-b67" => Some(Hdr::Hlg),
            _ => None,
        }
    }
}

/// What is done to a source's pictures before they are encoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transform {
    #[default]
    None,
    /// SDR source in an HDR render: BT.709 (or the source's own primaries) → BT.2020.
    SdrToHdr(Hdr),
    /// HDR source in an SDR render: tone-mapped to BT.709 primaries, sRGB transfer.
    HdrToSdr,
}

impl Transform {
    /// Name used in variant keys and results ("" for none), HyperFrames' cache `transform`
    /// names where it has one.
    pub fn name(self) -> &'static str {
        match self {
            Transform::None => "",
            Transform::SdrToHdr(Hdr::Pq) => "sdr2hdr-pq",
            Transform::SdrToHdr(Hdr::Hlg) => "sdr2hdr-hlg",
            Transform::HdrToSdr => "hdr2sdr-hable-srgb",
        }
    }

    /// The filter graph for pictures of `w × h` in pixel format `format` (`None`: nothing to
    /// do). Both PQ and HLG targets convert the same way (to BT.2020 primaries and matrix); only
    /// the name differs, as in HyperFrames — the render's video encoder applies the transfer tags.
    fn graph_spec(self, w: i32, h: i32, format: i32) -> Option<String> {
        let layout = layout_flags(format);
        let chain = match self {
            Transform::None => return None,
            // `colorspace` takes YUV only: RGB (and palette) pictures are brought to BT.709 YUV
            // first, and the filter is told so (the frame's tag still says RGB).
            Transform::SdrToHdr(_) if layout.rgb => {
                "scale=out_color_matrix=bt709:out_range=tv,format=yuv444p,\
                 colorspace=all=bt2020:range=tv:ispace=bt709:irange=tv"
            }
            Transform::SdrToHdr(_) => "colorspace=all=bt2020:range=tv",
            // The usual chain (`zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap…`)
            // with linearisation and the primaries change in one zscale: pixel-identical on the
            // tests' PQ clips, 7 % less CPU and one float picture less per graph.
            Transform::HdrToSdr => {
                "zscale=t=linear:npl=100:p=bt709,format=gbrpf32le,tonemap=tonemap=hable:desat=0,\
                 zscale=t=iec61966-2-1:m=bt709:r=tv,format=yuv420p"
            }
        };
        // Both filters refuse odd sizes (4:2:0 internals): pad to even, crop back after — in
        // 4:4:4, since cropping subsampled chroma rounds the size down to even.
        let chain = if w % 2 == 1 || h % 2 == 1 {
            format!(
                "pad=w={}:h={},{chain},format=yuv444p,crop=w={w}:h={h}:x=0:y=0",
                w + w % 2,
                h + h % 2
            )
        } else {
            chain.to_string()
        };
        // Neither filter carries alpha: split it off and merge it back.
        Some(if layout.alpha {
            format!("split[c][a];[a]alphaextract[al];[c]{chain}[rgb];[rgb][al]alphamerge")
        } else {
            chain
        })
    }
}

/// What a pixel format's layout implies for the filters.
struct Layout {
    alpha: bool,
    /// Packed or planar RGB, or a palette: no YUV matrix.
    rgb: bool,
}

fn layout_flags(format: i32) -> Layout {
    // SAFETY: av_pix_fmt_desc_get returns NULL or a pointer to a static descriptor.
    let desc = unsafe { ffi::av_pix_fmt_desc_get(std::mem::transmute::<i32, ffi::AVPixelFormat>(format)) };
    // SAFETY: checked for NULL.
    let flags = if desc.is_null() { 0 } else { unsafe { (*desc).flags } };
    Layout {
        alpha: flags & ffi::AV_PIX_FMT_FLAG_ALPHA as u64 != 0,
        rgb: flags & (ffi::AV_PIX_FMT_FLAG_RGB | ffi::AV_PIX_FMT_FLAG_PAL) as u64 != 0,
    }
}

/// The HDR target of a composition whose sources have these colour descriptions: PQ if any
/// source is PQ, else HLG if any is HLG, else none (an SDR render).
pub fn hdr_target<'a>(colors: impl IntoIterator<Item = &'a ColorInfo>) -> Option<Hdr> {
    colors.into_iter().filter_map(Hdr::of).min()
}

/// The transform a source with colour `color` gets in a render with HDR target `target`, with
/// or without tone-mapping requested.
pub fn transform_for(color: &ColorInfo, target: Option<Hdr>, tonemap: bool) -> Transform {
    match (Hdr::of(color), target) {
        (Some(_), _) if tonemap => Transform::HdrToSdr,
        (None, Some(t)) if !tonemap => Transform::SdrToHdr(t),
        _ => Transform::None,
    }
}

/// One configured filter graph: `buffer` → chain → `buffersink`.
struct Graph {
    _graph: ff::filter::Graph,
    src: *mut ffi::AVFilterContext,
    sink: *mut ffi::AVFilterContext,
}

/// What a graph was built for: transform and the input pictures' size, format and colour tags.
type GraphKey = (Transform, i32, i32, i32, [i32; 4]);

/// A worker's colour transforms: the SDR→HDR fast path (`media::sdr2hdr`) where it applies,
/// else filter graphs (one per transform and input layout), reused for every picture.
#[derive(Default)]
pub struct ColourFilters {
    fast: Sdr2Hdr,
    graphs: HashMap<GraphKey, Graph>,
    out: Option<ff::frame::Video>,
    counts: PathCounts,
}

/// How many pictures each path transformed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PathCounts {
    /// SDR→HDR by the fast path.
    pub sdr_to_hdr_fast: u64,
    /// Through a libavfilter graph (SDR→HDR it does not take, and every tone-mapping).
    pub filtered: u64,
}

// SAFETY: the graphs and frames are owned by one worker thread at a time; FFmpeg filter graphs
// have no thread affinity.
unsafe impl Send for ColourFilters {}

impl ColourFilters {
    /// `frame` with `transform` applied (or `frame` itself for [`Transform::None`]). The result
    /// stays valid until the next call.
    pub fn apply<'a>(
        &'a mut self,
        frame: &'a ff::frame::Video,
        transform: Transform,
    ) -> Result<&'a ff::frame::Video, Failure> {
        if transform == Transform::None {
            return Ok(frame);
        }
        if let Transform::SdrToHdr(target) = transform {
            if self.fast.convert(frame, target) {
                self.counts.sdr_to_hdr_fast += 1;
                return Ok(self.fast.output());
            }
        }
        self.filter(frame, transform)
    }

    /// The pictures each path has transformed so far, and the counts reset.
    pub fn take_counts(&mut self) -> PathCounts {
        std::mem::take(&mut self.counts)
    }

    /// `frame` through the libavfilter graph of `transform` (never [`Transform::None`]): the
    /// fallback of the fast path, and its oracle in the tests.
    pub fn filter<'a>(
        &'a mut self,
        frame: &'a ff::frame::Video,
        transform: Transform,
    ) -> Result<&'a ff::frame::Video, Failure> {
        if transform == Transform::None {
            return Ok(frame);
        }
        // Our own reference to the picture, with unspecified colour tags filled in the way the
        // plain path reads them (the filters refuse untagged input).
        let mut input = share(frame);
        // SAFETY: `input` is our own AVFrame (its buffers are shared, its fields are not).
        let (w, h, format, tags) = unsafe {
            let f = &mut *input.as_mut_ptr();
            default_tags(f, transform);
            (
                f.width,
                f.height,
                f.format,
                [
                    f.colorspace as i32,
                    f.color_primaries as i32,
                    f.color_trc as i32,
                    f.color_range as i32,
                ],
            )
        };
        let key = (transform, w, h, format, tags);
        // The graph refusing a picture is the source's doing (an odd format or size).
        let fail = |e: String| {
            Failure::new(
                ErrorKind::DecodeFailed,
                format!("colour transform {}: {e}", transform.name()),
            )
        };
        if !self.graphs.contains_key(&key) {
            // A stream whose size or format keeps changing must not pile up graphs (each holds
            // frame-sized buffers): keep only the few in use.
            if self.graphs.len() >= MAX_GRAPHS {
                self.graphs.clear();
            }
            let spec = transform.graph_spec(w, h, format).expect("a transform has a graph");
            let g = build(&spec, w, h, format).map_err(|e| fail(e.to_string()))?;
            self.graphs.insert(key, g);
        }
        let g = &self.graphs[&key];
        let out = self.out.get_or_insert_with(ff::frame::Video::empty);
        // SAFETY: `g.src`/`g.sink` belong to a configured graph owned by `self`; `input` is a
        // valid frame whose references av_buffersrc_add_frame takes over; `out` is our frame.
        let r = unsafe {
            ffi::av_frame_unref(out.as_mut_ptr());
            match ffi::av_buffersrc_add_frame(g.src, input.as_mut_ptr()) {
                r if r < 0 => Err(fail(ff::Error::from(r).to_string())),
                _ => match ffi::av_buffersink_get_frame(g.sink, out.as_mut_ptr()) {
                    r if r < 0 => Err(fail(format!("no output ({})", ff::Error::from(r)))),
                    _ if ((*out.as_ptr()).width, (*out.as_ptr()).height) != (w, h) => Err(fail(format!(
                        "the picture came out {}x{} instead of {w}x{h}",
                        (*out.as_ptr()).width,
                        (*out.as_ptr()).height
                    ))),
                    _ => Ok(()),
                },
            }
        };
        if r.is_err() {
            // The graph may still hold the picture it failed on: never feed it again.
            self.graphs.remove(&key);
        } else {
            self.counts.filtered += 1;
        }
        r.map(|_| &*out)
    }
}

/// Fills colour tags the filters need but the stream left unspecified: an SDR source is read as
/// the plain path reads it (BT.601 matrix when untagged, BT.709 primaries and transfer, limited
/// range); an HDR source as BT.2020.
///
/// # Safety
/// `f` must be a valid AVFrame.
unsafe fn default_tags(f: &mut ffi::AVFrame, transform: Transform) {
    use ffi::{AVColorPrimaries as P, AVColorRange as R, AVColorSpace as S, AVColorTransferCharacteristic as T};
    let hdr_source = transform == Transform::HdrToSdr;
    if matches!(f.colorspace, S::AVCOL_SPC_UNSPECIFIED | S::AVCOL_SPC_RESERVED) {
        f.colorspace = if layout_flags(f.format).rgb {
            S::AVCOL_SPC_RGB
        } else if hdr_source {
            S::AVCOL_SPC_BT2020_NCL
        } else {
            S::AVCOL_SPC_SMPTE170M
        };
    }
    if matches!(
        f.color_primaries,
        P::AVCOL_PRI_UNSPECIFIED | P::AVCOL_PRI_RESERVED | P::AVCOL_PRI_RESERVED0
    ) {
        f.color_primaries = if hdr_source {
            P::AVCOL_PRI_BT2020
        } else {
            P::AVCOL_PRI_BT709
        };
    }
    if matches!(
        f.color_trc,
        T::AVCOL_TRC_UNSPECIFIED | T::AVCOL_TRC_RESERVED | T::AVCOL_TRC_RESERVED0
    ) {
        f.color_trc = T::AVCOL_TRC_BT709;
    }
    if f.color_range == R::AVCOL_RANGE_UNSPECIFIED {
        f.color_range = if f.format == ffi::AVPixelFormat::AV_PIX_FMT_YUVJ420P as i32 {
            R::AVCOL_RANGE_JPEG
        } else {
            R::AVCOL_RANGE_MPEG
        };
    }
}

/// Graphs a worker keeps at once (one per transform and input layout).
const MAX_GRAPHS: usize = 4;

/// Builds `buffer → spec → buffersink` for pictures of `w × h` in pixel format `format`.
fn build(spec: &str, w: i32, h: i32, format: i32) -> Result<Graph, ff::Error> {
    let mut graph = ff::filter::Graph::new();
    // SAFETY: a freshly allocated graph; the thread count must be set before filters are added.
    // Workers already run one per core, so filters must not start threads of their own.
    unsafe { (*graph.as_mut_ptr()).nb_threads = 1 };
    let args = format!("video_size={w}x{h}:pix_fmt={format}:time_base=1/90000:pixel_aspect=1/1");
    let buffer = ff::filter::find("buffer").ok_or(ff::Error::FilterNotFound)?;
    let sink = ff::filter::find("buffersink").ok_or(ff::Error::FilterNotFound)?;
    graph.add(&buffer, "in", &args)?;
    graph.add(&sink, "out", "")?;
    graph.output("in", 0)?.input("out", 0)?.parse(spec)?;
    graph.validate()?;
    // SAFETY: the contexts live as long as the graph, which `Graph` keeps alongside them.
    let src = unsafe { graph.get("in").ok_or(ff::Error::Bug)?.as_mut_ptr() };
    // SAFETY: as above, for the sink.
    let sink = unsafe { graph.get("out").ok_or(ff::Error::Bug)?.as_mut_ptr() };
    Ok(Graph {
        _graph: graph,
        src,
        sink,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn color(transfer: &str) -> ColorInfo {
        ColorInfo {
            matrix: "bt709".into(),
            range: "tv".into(),
            primaries: "bt709".into(),
            transfer: transfer.into(),
        }
    }

    #[test]
    fn target_is_pq_if_any_pq_else_hlg() {
        let (sdr, pq, hlg) = (color("bt709"), color("smpte2084"), color("arib-std-b67"));
        assert_eq!(hdr_target([&sdr]), None);
        assert_eq!(hdr_target([&sdr, &hlg]), Some(Hdr::Hlg));
        assert_eq!(hdr_target([&hlg, &sdr, &pq, &hlg]), Some(Hdr::Pq));
        assert_eq!(hdr_target([&pq]), Some(Hdr::Pq));
    }

    #[test]
    fn transforms_by_source_and_render() {
        let (sdr, pq) = (color("bt709"), color("smpte2084"));
        // HDR render: SDR converted, HDR untouched.
        assert_eq!(transform_for(&sdr, Some(Hdr::Pq), false), Transform::SdrToHdr(Hdr::Pq));
        assert_eq!(
            transform_for(&sdr, Some(Hdr::Hlg), false),
            Transform::SdrToHdr(Hdr::Hlg)
        );
        assert_eq!(transform_for(&pq, Some(Hdr::Pq), false), Transform::None);
        // SDR render with tone-mapping: HDR mapped, SDR untouched.
        assert_eq!(transform_for(&pq, Some(Hdr::Pq), true), Transform::HdrToSdr);
        assert_eq!(transform_for(&sdr, Some(Hdr::Pq), true), Transform::None);
        // All SDR: nothing to do either way.
        assert_eq!(transform_for(&sdr, None, false), Transform::None);
        assert_eq!(transform_for(&sdr, None, true), Transform::None);
    }

    #[test]
    fn names_are_distinct() {
        let all = [
            Transform::None,
            Transform::SdrToHdr(Hdr::Pq),
            Transform::SdrToHdr(Hdr::Hlg),
            Transform::HdrToSdr,
        ];
        let names: std::collections::HashSet<_> = all.iter().map(|t| t.name()).collect();
        assert_eq!(names.len(), all.len());
    }
}
