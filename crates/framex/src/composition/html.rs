//! HyperFrames HTML compositions (`index.html`): every `<video src>` element becomes a
//! [`ClipSpec`], with the attribute semantics of HyperFrames' `parseVideoElements`, and every
//! `src` is resolved the way its `resolveProjectRelativeSrc` does.
//!
//! For: reading a composition the renderer's HTML already describes, so `framex extract
//! index.html` extracts exactly the clips HyperFrames would. Not for: running scripts, following
//! `data-composition-src` sub-composition files (give framex the compiled/inlined document, as
//! HyperFrames' producer does), images, audio, or anything about layout.
//!
//! # Which elements
//! `video[src]` only, in document order, as HyperFrames engine 0.8.x does (its
//! `videoFrameExtractor.ts` queries `video[src]`; later engines also read `<source src>`
//! children, which framex does not). Elements inside `<template>` count: HyperFrames unwraps one
//! top-level template before querying; framex reads every template's content (so a document
//! with videos both inside and outside a template keeps all of them, where HyperFrames would keep
//! only the template's). Text inside `<script>`, `<style>`, `<textarea>`, `<title>` and comments
//! is never markup.
//!
//! # Attributes (HyperFrames `parseVideoElements`, `referenceResolver.ts`, `@hyperframes/core`)
//! - id = `data-hf-render-id` || `id` || `hf-video-N`, N counting only videos that needed a
//!   generated id. A video without an `id` attribute takes the chosen id as its `id`, so later
//!   `data-start` references can name it. Ids name output folders, so an id that is not a safe
//!   folder name is made one (`/`, `\`, NUL → `_`; a leading `.` gets a `_` prefix) and a
//!   repeated id gets `-2`, `-3`, … (the first occurrence keeps it; suffixes skip ids used by any
//!   video). References always use the ids as written.
//! - `data-start`: a number (negative → 0), or `ref`, `ref + s`, `ref - s`: `ref`'s end plus
//!   the offset, where `ref` is the first element with that `id`, else the first with that
//!   `data-composition-id` (any element: a `div` works). A target's end is its start plus
//!   `data-duration` (> 0), else plus `data-end − start` (> 0); with neither, its start. Unknown
//!   targets resolve to 0; a cycle resolves the element met again to 0 (so `a → b → a` with
//!   durations 4 and 3 gives `b = 4`, `a = 7`). Results are never negative.
//! - Numbers are read with JavaScript `Number()` rules (`"0x10"` is 16; `"2s"`, `"Infinity"`,
//!   `"NaN"` and blank are not numbers), exactly to the microsecond.
//! - A video is dropped only when its window is explicitly inactive: `data-duration <= 0` or
//!   `data-end <= start`. Otherwise end = `data-end`, else start + `data-duration`, else natural.
//! - mediaStart = `data-playback-start` ?? `data-media-start` ?? 0 (each used only if a finite
//!   number ≥ 0). Playback rate = `data-playback-rate` read like JavaScript `parseFloat` (`"2x"`
//!   is 2), used if finite and > 0, clamped to 0.1..5 (the JSON manifest rejects out-of-range
//!   rates instead); default 1. `loop` = the attribute is present; hasAudio =
//!   `data-has-audio="true"`.
//! - The composition root is the first element with `data-composition-id` and `data-root="true"`,
//!   else the first with `data-composition-id`. Its `data-fps` (a number or `"30000/1001"`) sets
//!   the frame rate (default 30; the CLI's `--fps` overrides) and its `data-duration` (> 0) the
//!   composition's end.
//!
//! # The size a video is drawn at (framex's own, contract §10)
//! A video's `width` / `height` attributes (whole pixels: `640`, `640px`) and its inline
//! `style` pixel sizes (`style="width: 640px; height: 360px"`, which win over the attributes as
//! CSS does) become the clip's [`DrawSize`]: its frames are extracted at that size, aspect kept,
//! never upscaled. Other units (`%`, `em`, `vw`, `auto`), stylesheets and sizes outside
//! 2..=16384 are ignored (the frames keep the source's size).
//!
//! # Errors
//! HTML is forgiving, and so is this reader: only input that cannot be a composition is an
//! [`InputError`]: a file that is not UTF-8, has no elements, has an invalid root `data-fps`, or
//! ends inside an unclosed tag, comment or `<script>`/`<style>` that swallows a `<video>`. The
//! location is `file:line`.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

// html5ever's tokenizer is the HTML standard's tokenizer (servo's; entity decoding in
// attributes, comments, raw-text elements, CR/LF handling, line numbers) without its tree
// builder and DOM, which a list of elements and attributes does not need. Among the
// alternatives, `tl` is smaller but not spec-compliant, and `scraper`/`lol_html` add CSS
// selector engines on top of the same kind of tokenizer.
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts};

use super::check_id;
use super::manifest::{DEFAULT_FPS, DEFAULT_QUALITY};
use super::{ClipSpec, Composition, DrawSize, FormatChoice, InputError};
use crate::time::Rational;

/// Reads an HTML composition file. Relative sources resolve against its folder.
pub fn read_html(path: &Path) -> Result<Composition, InputError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| InputError {
        location: name.clone(),
        message: format!("cannot read the composition: {e}"),
    })?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = valid.len() - valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        InputError {
            location: format!("{name}:{line}:{}", column + 1),
            message: "the file is not valid UTF-8; save the composition as UTF-8".into(),
        }
    })?;
    let base = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    parse_html(text, &name, base)
}

/// Parses composition HTML. `name` is used in error locations; `base_dir` (the project root)
/// resolves relative `src` (as HyperFrames' `resolveProjectRelativeSrc` does).
pub fn parse_html(text: &str, name: &str, base_dir: &Path) -> Result<Composition, InputError> {
    let doc = tokenize(text);
    if doc.elements.is_empty() {
        return Err(InputError {
            location: name.to_string(),
            message: "no HTML elements found; expected a HyperFrames composition with <video> \
                      elements"
                .into(),
        });
    }
    check_truncation(text, &doc, name)?;

    let root = doc
        .elements
        .iter()
        .find(|e| e.attr("data-composition-id").is_some() && e.attr("data-root") == Some("true"))
        .or_else(|| doc.elements.iter().find(|e| e.attr("data-composition-id").is_some()));
    let mut fps = Rational::from_int(DEFAULT_FPS);
    let mut timeline_end = None;
    if let Some(root) = root {
        if let Some(raw) = root.attr("data-fps").filter(|s| !s.trim().is_empty()) {
            fps = Rational::parse_rate(raw).ok_or_else(|| InputError {
                location: format!("{name}:{}", root.line),
                message: format!(
                    "data-fps={raw:?} on the composition root: expected a positive number up to 1000 or \
                     \"num/den\" (e.g. 30 or \"30000/1001\")"
                ),
            })?;
        }
        timeline_end = root
            .attr("data-duration")
            .and_then(js_number)
            .filter(|d| d.is_positive());
    }

    let clips = parse_video_elements(&doc, base_dir);
    Ok(Composition {
        fps,
        format: FormatChoice::Auto,
        quality: DEFAULT_QUALITY,
        tonemap: false,
        timeline_end,
        clips,
        frames: None,
        base_dir: base_dir.to_path_buf(),
        max_size: DrawSize::NONE,
    })
}

/// HyperFrames' `parseVideoElements` over the tokenized document.
fn parse_video_elements(doc: &Document, base_dir: &Path) -> Vec<ClipSpec> {
    let mut resolver = StartResolver::new(doc);
    let mut clips = Vec::new();
    let mut auto_ids = 0usize;
    for (index, el) in doc.elements.iter().enumerate() {
        if el.name != "video" {
            continue;
        }
        let src = match el.attr("src") {
            Some(s) if !s.is_empty() => s,
            _ => continue,
        };
        let authored_id = el.attr("id").filter(|s| !s.is_empty());
        let id = match el.attr("data-hf-render-id").filter(|s| !s.is_empty()) {
            Some(render_id) => render_id.to_string(),
            None => match authored_id {
                Some(id) => id.to_string(),
                None => {
                    auto_ids += 1;
                    format!("hf-video-{}", auto_ids - 1)
                }
            },
        };
        if authored_id.is_none() {
            // HyperFrames writes the chosen id back (`el.setAttribute("id", id)`) before resolving
            // this element's start, so references met from here on can name it.
            resolver.assign_id(&id, index);
        }

        let start = match el.attr("data-start") {
            Some(s) if !s.is_empty() => resolver.start(index),
            _ => Rational::ZERO,
        };
        let authored_end = el.attr("data-end").and_then(js_number);
        let authored_duration = el.attr("data-duration").and_then(js_number);
        // `isKnownInactiveTimelineWindow`: only an explicit empty window drops the element.
        if authored_duration.is_some_and(|d| !d.is_positive()) || authored_end.is_some_and(|e| e <= start) {
            continue;
        }
        let end = authored_end.or(authored_duration.map(|d| start + d));

        clips.push(ClipSpec {
            id,
            src: resolve_project_src(src, base_dir),
            start,
            end,
            media_start: media_start(el),
            looping: el.attr("loop").is_some(),
            playback_rate: playback_rate(el.attr("data-playback-rate")),
            has_audio: el.attr("data-has-audio") == Some("true"),
            size: drawn_size(el),
        });
    }
    make_ids_folder_safe(&mut clips);
    clips
}

/// The size the element is drawn at: inline `style` pixel sizes, else the `width` / `height`
/// attributes; other units are ignored.
fn drawn_size(el: &Element) -> DrawSize {
    let mut width = el.attr("width").and_then(|v| pixels(v, true));
    let mut height = el.attr("height").and_then(|v| pixels(v, true));
    for decl in el.attr("style").unwrap_or("").split(';') {
        let Some((prop, value)) = decl.split_once(':') else {
            continue;
        };
        let value = value.trim().trim_end_matches("!important").trim_end();
        match prop.trim().to_ascii_lowercase().as_str() {
            "width" => width = pixels(value, false).or(width),
            "height" => height = pixels(value, false).or(height),
            _ => {}
        }
    }
    DrawSize::new(width, height)
}

/// A whole number of pixels, `640px` (or a bare `640` in an attribute), within the drawn-size
/// range.
fn pixels(raw: &str, bare_ok: bool) -> Option<u32> {
    let v = raw.trim().to_ascii_lowercase();
    let digits = match v.strip_suffix("px") {
        Some(d) => d.trim_end(),
        None if bare_ok => v.as_str(),
        None => return None,
    };
    let px: f64 = digits.parse().ok().filter(|p: &f64| p.is_finite())?;
    let px = px.round();
    (2.0..=super::MAX_DRAW_SIDE as f64).contains(&px).then_some(px as u32)
}

/// `readMediaStart`: the first of `data-playback-start`, `data-media-start` that is a finite
/// number ≥ 0, else 0.
fn media_start(el: &Element) -> Rational {
    ["data-playback-start", "data-media-start"]
        .iter()
        .filter_map(|name| el.attr(name).and_then(js_number))
        .find(|v| !v.is_negative())
        .unwrap_or(Rational::ZERO)
}

/// `readElementPlaybackRate`: `parseFloat`, finite and > 0, clamped to 0.1..5; else 1.
fn playback_rate(raw: Option<&str>) -> Rational {
    let (min, max) = (Rational::new(1, 10), Rational::from_int(5));
    let Some(literal) = raw.and_then(js_parse_float_prefix) else {
        return Rational::ONE;
    };
    // The literal's f64 value (what JavaScript sees) decides positivity and range; the exact
    // value comes from its decimal digits.
    let approx = if literal.trim_start_matches(['+', '-']) == "Infinity" {
        f64::INFINITY
    } else {
        literal.parse::<f64>().unwrap_or(f64::NAN)
    };
    if !(approx.is_finite() && approx > 0.0) {
        return Rational::ONE;
    }
    if approx <= 0.1 {
        return min;
    }
    if approx >= 5.0 {
        return max;
    }
    Rational::parse_decimal(literal).map_or(Rational::ONE, |r| r.max(min).min(max))
}

/// Ids become folder names: make each one a safe, unique folder name, deterministically.
fn make_ids_folder_safe(clips: &mut [ClipSpec]) {
    let bases: Vec<String> = clips.iter().map(|c| folder_safe(&c.id)).collect();
    let mut taken: HashSet<String> = bases.iter().cloned().collect();
    let mut used = HashSet::new();
    for (clip, base) in clips.iter_mut().zip(bases) {
        let id = if used.contains(&base) {
            (2u64..)
                .map(|n| format!("{base}-{n}"))
                .find(|candidate| !taken.contains(candidate))
                .expect("an unused suffix exists")
        } else {
            base
        };
        taken.insert(id.clone());
        used.insert(id.clone());
        debug_assert!(check_id(&id).is_ok(), "{id:?}");
        clip.id = id;
    }
}

fn folder_safe(id: &str) -> String {
    let mut s: String = id
        .chars()
        .map(|c| {
            if matches!(c, '/' | '\\') || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if s.starts_with('.') {
        s.insert(0, '_');
    }
    // Leave room for a `-N` suffix under the 200-byte limit.
    if s.len() > 180 {
        let mut cut = 180;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

// ---------------------------------------------------------------------------------------------
// `data-start` references: HyperFrames `packages/engine/src/services/referenceResolver.ts`
// (`resolveReferencedStart`, `resolveReferencedDuration`) and `@hyperframes/core`'s
// `parseStartExpression`. Unlike a plain number, a reference anchors at the target's *end*.

enum StartExpression<'a> {
    Absolute(Rational),
    Reference { target: &'a str, offset: Rational },
}

/// `parseStartExpression`: a number, or `id`, `id + s`, `id - s` with
/// `id = [A-Za-z0-9_.:-]+` and `s = [0-9]*\.?[0-9]+` (whitespace around the sign allowed).
fn parse_start_expression(raw: &str) -> Option<StartExpression<'_>> {
    let s = raw.trim_matches(is_js_space);
    if s.is_empty() {
        return None;
    }
    if let Some(v) = js_number(s) {
        return Some(StartExpression::Absolute(v));
    }
    let is_id = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
    };
    // The regex's greedy id with backtracking: the longest id prefix whose rest is an offset.
    (1..=s.len())
        .rev()
        .filter(|&p| s.is_char_boundary(p) && is_id(&s[..p]))
        .find_map(|p| {
            let offset = if p == s.len() {
                Rational::ZERO
            } else {
                parse_offset(&s[p..])?
            };
            Some(StartExpression::Reference {
                target: &s[..p],
                offset,
            })
        })
}

/// `\s*[+-]\s*[0-9]*\.?[0-9]+`, exactly.
fn parse_offset(rest: &str) -> Option<Rational> {
    let rest = rest.trim_start_matches(is_js_space);
    let (negative, rest) = match rest.as_bytes().first()? {
        b'+' => (false, &rest[1..]),
        b'-' => (true, &rest[1..]),
        _ => return None,
    };
    let digits = rest.trim_start_matches(is_js_space);
    let (int, frac) = digits.split_once('.').unwrap_or(("", digits));
    let well_formed =
        int.bytes().all(|b| b.is_ascii_digit()) && !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit());
    if !well_formed {
        return None;
    }
    let magnitude = Rational::parse_decimal(digits)?;
    Some(if negative { -magnitude } else { magnitude })
}

/// `resolveReferencedStart` with its memo and cycle guard, over element indices.
struct StartResolver<'d> {
    doc: &'d Document,
    /// `getElementById`: first element (document order) with that id, including ids HyperFrames
    /// assigns to id-less videos while it walks them.
    ids: HashMap<String, usize>,
    /// First element with each `data-composition-id`.
    composition_ids: HashMap<String, usize>,
    cache: HashMap<usize, Rational>,
    visiting: HashSet<usize>,
}

impl<'d> StartResolver<'d> {
    fn new(doc: &'d Document) -> StartResolver<'d> {
        let mut ids = HashMap::new();
        let mut composition_ids = HashMap::new();
        for (i, el) in doc.elements.iter().enumerate() {
            if let Some(id) = el.attr("id").filter(|s| !s.is_empty()) {
                ids.entry(id.to_string()).or_insert(i);
            }
            if let Some(id) = el.attr("data-composition-id") {
                composition_ids.entry(id.to_string()).or_insert(i);
            }
        }
        StartResolver {
            doc,
            ids,
            composition_ids,
            cache: HashMap::new(),
            visiting: HashSet::new(),
        }
    }

    fn assign_id(&mut self, id: &str, index: usize) {
        let first = self.ids.entry(id.to_string()).or_insert(index);
        *first = (*first).min(index);
    }

    /// `findReferenceTargetEl`: by id, then by `data-composition-id`.
    fn target(&self, name: &str) -> Option<usize> {
        self.ids.get(name).or_else(|| self.composition_ids.get(name)).copied()
    }

    /// `resolveReferencedStart(index)`. HyperFrames recurses; chains of references can be as
    /// long as the document, so this runs the same recursion on an explicit stack.
    fn start(&mut self, index: usize) -> Rational {
        enum Frame {
            Enter(usize),
            /// `ret` holds the target's start: add its duration.
            TargetStarted {
                el: usize,
                target: usize,
                offset: Rational,
            },
            /// The target has no `data-duration`: `ret` holds its start again, for `data-end`.
            TargetRestarted {
                el: usize,
                offset: Rational,
                target_start: Rational,
                end: Rational,
            },
        }
        let doc = self.doc;
        let mut stack = vec![Frame::Enter(index)];
        let mut ret = Rational::ZERO;
        while let Some(frame) = stack.pop() {
            let (el, resolved) = match frame {
                Frame::Enter(el) => {
                    if let Some(&cached) = self.cache.get(&el) {
                        ret = cached;
                        continue;
                    }
                    if !self.visiting.insert(el) {
                        ret = Rational::ZERO; // cycle guard: not cached, as in HyperFrames
                        continue;
                    }
                    match doc.elements[el].attr("data-start").and_then(parse_start_expression) {
                        None => (el, Rational::ZERO),
                        Some(StartExpression::Absolute(v)) => (el, v),
                        Some(StartExpression::Reference { target, offset }) => match self.target(target) {
                            None => (el, Rational::ZERO),
                            Some(target) => {
                                stack.push(Frame::TargetStarted { el, target, offset });
                                stack.push(Frame::Enter(target));
                                continue;
                            }
                        },
                    }
                }
                Frame::TargetStarted { el, target, offset } => {
                    // `resolveReferencedDuration`: `data-duration` > 0, else `data-end − start` > 0.
                    let target_el = &doc.elements[target];
                    let duration = target_el.attr("data-duration").and_then(js_number);
                    match (duration, target_el.attr("data-end").and_then(js_number)) {
                        (Some(d), _) if d.is_positive() => (el, ret + d + offset),
                        (_, Some(end)) => {
                            stack.push(Frame::TargetRestarted {
                                el,
                                offset,
                                target_start: ret,
                                end,
                            });
                            stack.push(Frame::Enter(target));
                            continue;
                        }
                        _ => (el, ret + offset),
                    }
                }
                Frame::TargetRestarted {
                    el,
                    offset,
                    target_start,
                    end,
                } => {
                    let delta = end - ret;
                    let anchor = if delta.is_positive() {
                        target_start + delta
                    } else {
                        target_start
                    };
                    (el, anchor + offset)
                }
            };
            ret = resolved.max(Rational::ZERO);
            self.cache.insert(el, ret);
            self.visiting.remove(&el);
        }
        ret
    }
}

// ---------------------------------------------------------------------------------------------
// JavaScript number parsing, exact

/// JavaScript's `StrWhiteSpaceChar` (what `Number()` and `parseFloat` trim).
fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}' | '\u{feff}'
    )
}

/// Largest magnitude kept exactly; JavaScript-finite values beyond it saturate (≈ 31 700 years).
const MAX_SECONDS: i64 = 1_000_000_000_000;

/// `Number(raw)` when finite and `raw` is not blank (HyperFrames' `parseNumeric` /
/// `parseStrictFiniteTimingNumber`), read exactly to the microsecond: `"0x10"` → 16, `" 2.5 "`
/// → 2.5; `"2s"`, `"0abc"`, `"Infinity"`, `"NaN"`, `""`, `"   "` → `None`.
fn js_number(raw: &str) -> Option<Rational> {
    let s = raw.trim_matches(is_js_space);
    if s.is_empty() {
        return None;
    }
    let radix = match s.get(..2).map(|p| p.to_ascii_lowercase()) {
        Some(p) if p == "0x" => Some(16),
        Some(p) if p == "0o" => Some(8),
        Some(p) if p == "0b" => Some(2),
        _ => None,
    };
    if let Some(radix) = radix {
        let digits = &s[2..];
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return None;
        }
        let value = i128::from_str_radix(digits, radix).unwrap_or(i128::MAX);
        return Some(Rational::from(value.min(MAX_SECONDS as i128)));
    }
    if !is_decimal_literal(s) {
        return None;
    }
    let approx: f64 = s.parse().ok()?;
    if !approx.is_finite() {
        return None;
    }
    if approx.abs() >= MAX_SECONDS as f64 {
        let limit = Rational::from_int(MAX_SECONDS);
        return Some(if approx < 0.0 { -limit } else { limit });
    }
    Rational::parse_decimal(s)
}

/// JavaScript's `StrDecimalLiteral` without `Infinity`: `[+-]?(d+(.d*)?|.d+)([eE][+-]?d+)?`.
fn is_decimal_literal(s: &str) -> bool {
    decimal_prefix_len(s) == s.len()
}

/// Length of the longest prefix of `s` that is a decimal literal (0 if none).
fn decimal_prefix_len(s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let mut mantissa_digits = i - int_start;
    if b.get(i) == Some(&b'.') {
        let frac_start = i + 1;
        let mut j = frac_start;
        while b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        if mantissa_digits > 0 || j > frac_start {
            mantissa_digits += j - frac_start;
            i = j;
        }
    }
    if mantissa_digits == 0 {
        return 0;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let exp_start = j;
        while b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        if j > exp_start {
            i = j;
        }
    }
    i
}

/// The literal `parseFloat(raw)` reads: leading whitespace skipped, then the longest decimal
/// prefix, or `Infinity`. `None` when `parseFloat` gives `NaN`.
fn js_parse_float_prefix(raw: &str) -> Option<&str> {
    let s = raw.trim_start_matches(is_js_space);
    let unsigned = s.trim_start_matches(['+', '-']);
    if unsigned.starts_with("Infinity") && s.len() - unsigned.len() <= 1 {
        return Some(&s[..s.len() - unsigned.len() + "Infinity".len()]);
    }
    match decimal_prefix_len(s) {
        0 => None,
        n => Some(&s[..n]),
    }
}

// ---------------------------------------------------------------------------------------------
// Source paths: HyperFrames `resolveProjectRelativeSrc` (engine `videoFrameExtractor.ts` at
// v0.8.10, later `@hyperframes/parsers/asset-resolution`) and `decodeUrlPathVariants`.

/// Resolves a `<video src>` the way a browser serving the project folder would, as HyperFrames'
/// `resolveProjectRelativeSrc` does, into a `ClipSpec::src` the engine accepts:
///
/// - `http://` / `https://` URLs are returned unchanged.
/// - `?query` and `#fragment` are dropped.
/// - An absolute path that exists is kept as is. Otherwise a leading `/` is the project root
///   (`/media/a.mp4` → `media/a.mp4`).
/// - `..` cannot leave the project folder: it is clamped at the root, as URL paths are
///   (`../../a.mp4` and `media/../../a.mp4` → `a.mp4`), even when the file exists outside.
/// - Percent-encoded names (`%E6%97%A5.mp4`) are tried decoded first, then literally; a `%` not
///   followed by two hex digits, or a run that is not UTF-8, stays literal (`100%.mp4`).
///
/// The result is the first candidate that exists under `base_dir`, as a normalized relative path
/// (`/`-separated, no `.`/`..`); when none exists, the clamped literal path (so the engine
/// reports the source missing, where HyperFrames would report the unclamped path).
pub fn resolve_project_src(src: &str, base_dir: &Path) -> String {
    let src = src.trim_matches(|c: char| c.is_ascii_whitespace());
    let lower = src.get(..8).unwrap_or(src).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return src.to_string();
    }
    let clean = &src[..src.find(['?', '#']).unwrap_or(src.len())];
    if Path::new(clean).is_absolute() && Path::new(clean).exists() {
        return clean.to_string();
    }

    let base_abs = lexical_absolute(base_dir);
    let mut candidates: Vec<String> = Vec::new();
    for variant in decode_url_path_variants(clean) {
        let inside = join_inside(&base_abs, &variant);
        if inside.is_none() {
            candidates.push(clamp_to_root(&variant)); // the re-anchored candidate comes first
        }
        candidates.extend(inside);
    }
    candidates
        .into_iter()
        .filter(|c| !c.is_empty())
        .find(|c| base_dir.join(c).exists())
        .unwrap_or_else(|| match clamp_to_root(clean) {
            clamped if clamped.is_empty() => clean.to_string(),
            clamped => clamped,
        })
}

/// `decodeUrlPathVariants`: the decoded path first (when decoding changes it), then the literal.
fn decode_url_path_variants(path: &str) -> Vec<String> {
    let decoded = decode_well_formed_escapes(path);
    if decoded == path {
        vec![path.to_string()]
    } else {
        vec![decoded, path.to_string()]
    }
}

/// Decodes each maximal run of `%XX` escapes that forms valid UTF-8; other runs stay as written.
fn decode_well_formed_escapes(path: &str) -> String {
    let bytes = path.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let escape_at = |i: usize| -> Option<u8> {
        if bytes.get(i) != Some(&b'%') {
            return None;
        }
        Some(hex(*bytes.get(i + 1)?)? << 4 | hex(*bytes.get(i + 2)?)?)
    };
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    let mut literal_from = 0;
    while i < bytes.len() {
        if escape_at(i).is_none() {
            i += 1;
            continue;
        }
        let run_start = i;
        let mut run = Vec::new();
        while let Some(b) = escape_at(i) {
            run.push(b);
            i += 3;
        }
        if let Ok(decoded) = String::from_utf8(run) {
            out.push_str(&path[literal_from..run_start]);
            out.push_str(&decoded);
            literal_from = i;
        }
    }
    out.push_str(&path[literal_from..]);
    out
}

/// `path.posix.normalize` then strip leading `..`: the path as a URL resolves it from the root.
fn clamp_to_root(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

/// `join(base, path)` when it stays inside `base`, as a path relative to it; `None` when it
/// leaves (framex never reads outside the project through a relative `src`).
fn join_inside(base_abs: &[String], path: &str) -> Option<String> {
    let mut parts: Vec<&str> = base_abs.iter().map(String::as_str).collect();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    (parts.len() >= base_abs.len() && parts.iter().zip(base_abs).all(|(a, b)| a == b))
        .then(|| parts[base_abs.len()..].join("/"))
}

/// `base` as absolute, lexically normalized path segments.
fn lexical_absolute(base: &Path) -> Vec<String> {
    let abs: PathBuf = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
    let mut parts: Vec<String> = Vec::new();
    for c in abs.components() {
        match c {
            Component::Normal(n) => parts.push(n.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    parts
}

// ---------------------------------------------------------------------------------------------
// Tokenizing

/// One start tag: lower-case name, attributes as written (entities decoded, first of duplicates).
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    /// Line of the tag's closing `>`.
    line: u64,
}

impl Element {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

struct Document {
    elements: Vec<Element>,
    /// Set when the input ended inside something that swallowed the rest of the file.
    truncated: Option<Truncation>,
}

/// What the end of the input was inside of, and the line where that started.
enum Truncation {
    /// A tag (or doctype): its text was dropped by the tokenizer.
    Tag { line: u64 },
    /// A comment or a raw-text element (`<script>`, `<style>`, …) and the text it swallowed.
    Text { line: u64, text: String },
}

impl Document {
    fn video_count(&self) -> usize {
        self.elements
            .iter()
            .filter(|e| e.name == "video" && e.attr("src").is_some_and(|s| !s.is_empty()))
            .count()
    }
}

#[derive(Default)]
struct Collector {
    elements: RefCell<Vec<Element>>,
    /// Line of the last token before the current one.
    last_line: Cell<u64>,
    /// Open raw-text element (`script`, `style`, …), the line of its start tag and its text.
    raw_open: RefCell<Option<(String, u64)>>,
    raw_text: RefCell<String>,
    /// Tokenization is at the end of the input: errors now mean "ended inside something".
    ending: Cell<bool>,
    eof_error_line: Cell<Option<u64>>,
    /// A comment the end of the input closed.
    comment_at_eof: RefCell<Option<String>>,
}

impl TokenSink for Collector {
    type Handle = ();

    fn process_token(&self, token: Token, line: u64) -> TokenSinkResult<()> {
        let result = match token {
            Token::TagToken(tag) => {
                let name = tag.name.to_string();
                match tag.kind {
                    TagKind::StartTag => {
                        let raw = raw_text_kind(&name);
                        if raw.is_some() {
                            *self.raw_open.borrow_mut() = Some((name.clone(), line));
                            self.raw_text.borrow_mut().clear();
                        }
                        let attrs = tag
                            .attrs
                            .into_iter()
                            .map(|a| (a.name.local.to_string(), a.value.to_string()))
                            .collect();
                        self.elements.borrow_mut().push(Element { name, attrs, line });
                        raw.unwrap_or(TokenSinkResult::Continue)
                    }
                    TagKind::EndTag => {
                        let mut open = self.raw_open.borrow_mut();
                        if open.as_ref().is_some_and(|(n, _)| *n == name) {
                            *open = None;
                        }
                        TokenSinkResult::Continue
                    }
                }
            }
            Token::CharacterTokens(text) => {
                if self.raw_open.borrow().is_some() {
                    self.raw_text.borrow_mut().push_str(&text);
                }
                TokenSinkResult::Continue
            }
            Token::CommentToken(text) => {
                if self.ending.get() {
                    *self.comment_at_eof.borrow_mut() = Some(text.to_string());
                }
                TokenSinkResult::Continue
            }
            Token::ParseError(_) => {
                if self.ending.get() && self.eof_error_line.get().is_none() {
                    self.eof_error_line.set(Some(self.last_line.get()));
                }
                return TokenSinkResult::Continue;
            }
            _ => TokenSinkResult::Continue,
        };
        self.last_line.set(line);
        result
    }
}

/// The tokenizer state the tree builder would switch to after this start tag.
fn raw_text_kind(name: &str) -> Option<TokenSinkResult<()>> {
    match name {
        "script" => Some(TokenSinkResult::RawData(RawKind::ScriptData)),
        "style" | "xmp" | "iframe" | "noembed" | "noframes" => Some(TokenSinkResult::RawData(RawKind::Rawtext)),
        "title" | "textarea" => Some(TokenSinkResult::RawData(RawKind::Rcdata)),
        "plaintext" => Some(TokenSinkResult::Plaintext),
        _ => None,
    }
}

fn tokenize(text: &str) -> Document {
    let tokenizer = Tokenizer::new(Collector::default(), TokenizerOpts::default());
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(text));
    let _ = tokenizer.feed(&input);
    tokenizer.sink.ending.set(true);
    tokenizer.end();
    let sink = tokenizer.sink;
    let raw_open = sink.raw_open.into_inner();
    let truncated = match (sink.eof_error_line.get(), sink.comment_at_eof.into_inner(), raw_open) {
        (line, Some(text), _) => Some(Truncation::Text {
            line: line.unwrap_or(sink.last_line.get()),
            text,
        }),
        (Some(line), None, _) => Some(Truncation::Tag { line }),
        (None, None, Some((name, line))) if name != "plaintext" => Some(Truncation::Text {
            line,
            text: sink.raw_text.into_inner(),
        }),
        _ => None,
    };
    Document {
        elements: sink.elements.into_inner(),
        truncated,
    }
}

/// A file that ends inside an unclosed tag, comment or `<script>` is fine for a browser, unless
/// what that swallowed held a `<video>`.
fn check_truncation(text: &str, doc: &Document, name: &str) -> Result<(), InputError> {
    let has_video_tag = |s: &str| s.to_ascii_lowercase().contains("<video");
    let (line, lost_video) = match &doc.truncated {
        None => return Ok(()),
        Some(Truncation::Text { line, text }) => (*line, has_video_tag(text)),
        Some(Truncation::Tag { line }) => {
            // The tokenizer dropped the unfinished tag: close it and look at what it held.
            let closed = tokenize(&format!("{text}\"'>"));
            let recovered = (closed.elements.len() == doc.elements.len() + 1)
                .then(|| closed.elements.last())
                .flatten();
            let lost = closed.video_count() > doc.video_count()
                || recovered.is_some_and(|e| e.attrs.iter().any(|(_, v)| has_video_tag(v)));
            (*line, lost)
        }
    };
    if !lost_video {
        return Ok(());
    }
    Err(InputError {
        location: format!("{name}:{line}"),
        message: "the tag, comment or <script>/<style> element starting here is never closed, \
                  so a <video> after it is lost; is a closing quote, '>', '-->' or end tag \
                  missing?"
            .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Rational {
        Rational::parse_decimal(s).unwrap()
    }

    fn parse(html: &str) -> Composition {
        parse_html(html, "index.html", Path::new("/nonexistent-project")).unwrap()
    }

    fn clips(html: &str) -> Vec<ClipSpec> {
        parse(html).clips
    }

    fn clip<'a>(clips: &'a [ClipSpec], id: &str) -> &'a ClipSpec {
        clips.iter().find(|c| c.id == id).unwrap()
    }

    // parseVideoElements strict literal timing
    #[test]
    fn unparseable_durations_do_not_drop_the_element() {
        for duration in ["", "   ", "0s", "0abc", "0px", "-1s", "Infinity", "NaN", "0x10"] {
            let html = format!(r#"<video id="v" src="clip.mp4" data-start="0" data-duration="{duration}"></video>"#);
            let c = clips(&html);
            assert_eq!(c.len(), 1, "data-duration={duration:?}");
            let expected_end = (duration == "0x10").then(|| r("16"));
            assert_eq!(c[0].end, expected_end, "data-duration={duration:?}");
        }
    }

    #[test]
    fn video_without_id_or_start_gets_defaults() {
        let c = clips(r#"<video src="clip.mp4"></video>"#);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0], ClipSpec::new("hf-video-0", "clip.mp4"));
    }

    #[test]
    fn explicit_id_and_duration_derived_end() {
        let c = clips(
            r#"<video id="hero" src="clip.mp4" data-start="2" data-duration="5" data-media-start="1.5" data-has-audio="true"></video>"#,
        );
        assert_eq!(c[0].id, "hero");
        assert_eq!(c[0].start, r("2"));
        assert_eq!(c[0].end, Some(r("7")));
        assert_eq!(c[0].media_start, r("1.5"));
        assert!(c[0].has_audio);
        assert!(!c[0].looping);
    }

    #[test]
    fn drawn_sizes_from_attributes_and_inline_style() {
        let c = clips(
            r#"<video id="a" src="a.mp4" width="640" height="360"></video>
               <video id="b" src="b.mp4" style="width: 320px; height: 50%"></video>
               <video id="c" src="c.mp4" width="640" style="WIDTH:480PX !important; color: red"></video>
               <video id="d" src="d.mp4" width="100%" style="height: 10em"></video>
               <video id="e" src="e.mp4" height="200px" width="0"></video>"#,
        );
        assert_eq!(clip(&c, "a").size, DrawSize::new(Some(640), Some(360)));
        assert_eq!(clip(&c, "b").size, DrawSize::new(Some(320), None));
        assert_eq!(clip(&c, "c").size, DrawSize::new(Some(480), None));
        assert_eq!(clip(&c, "d").size, DrawSize::NONE);
        assert_eq!(clip(&c, "e").size, DrawSize::new(None, Some(200)));
        // A style width without a unit is not CSS pixels: ignored.
        let c = clips(r#"<video id="f" src="f.mp4" style="width: 300"></video>"#);
        assert_eq!(clip(&c, "f").size, DrawSize::NONE);
    }

    #[test]
    fn loop_attribute() {
        let c = clips(r#"<video id="hero" src="clip.webm" data-start="2" data-duration="5" loop></video>"#);
        assert!(c[0].looping);
        assert_eq!((c[0].start, c[0].end), (r("2"), Some(r("7"))));
    }

    #[test]
    fn end_prefers_data_end_and_inactive_windows_are_dropped() {
        let c = clips(
            r#"<video id="a" src="a.mp4" data-start="1" data-end="4" data-duration="9"></video>
               <video id="zero" src="b.mp4" data-duration="0"></video>
               <video id="negative" src="b.mp4" data-duration="-1"></video>
               <video id="ends-at-start" src="b.mp4" data-start="3" data-end="3"></video>
               <video id="ends-before" src="b.mp4" data-start="3" data-end="2"></video>
               <video id="bad-end" src="b.mp4" data-start="3" data-end="2s"></video>"#,
        );
        let ids: Vec<&str> = c.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["a", "bad-end"]);
        assert_eq!(c[0].end, Some(r("4")));
        assert_eq!(c[1].end, None);
    }

    #[test]
    fn negative_and_garbage_starts() {
        let c = clips(
            r#"<video id="a" src="a.mp4" data-start="-2" data-duration="5"></video>
               <video id="b" src="b.mp4" data-start="1.5e1"></video>
               <video id="c" src="c.mp4" data-start="2 seconds"></video>"#,
        );
        assert_eq!(clip(&c, "a").start, Rational::ZERO);
        assert_eq!(clip(&c, "a").end, Some(r("5")));
        assert_eq!(clip(&c, "b").start, r("15"));
        assert_eq!(clip(&c, "c").start, Rational::ZERO);
    }

    #[test]
    fn relative_reference_starts_at_the_targets_end() {
        let c = clips(
            r#"<video id="intro" src="a.mp4" data-start="0" data-duration="10"></video>
               <video id="main" src="b.mp4" data-start="intro" data-duration="20"></video>"#,
        );
        assert_eq!(clip(&c, "main").start, r("10"));
        assert_eq!(clip(&c, "main").end, Some(r("30")));
    }

    #[test]
    fn reference_offsets() {
        let c = clips(
            r#"<video id="intro" src="a.mp4" data-start="0" data-duration="10"></video>
               <video id="gap" src="b.mp4" data-start="intro + 2" data-duration="5"></video>
               <video id="overlap" src="c.mp4" data-start="intro - 0.5" data-duration="5"></video>
               <video id="tight" src="c.mp4" data-start="intro+.25" data-duration="5"></video>
               <video id="spaced" src="c.mp4" data-start="intro- 1" data-duration="5"></video>
               <video id="before-zero" src="c.mp4" data-start="intro - 30" data-duration="5"></video>"#,
        );
        assert_eq!(clip(&c, "gap").start, r("12"));
        assert_eq!(clip(&c, "overlap").start, r("9.5"));
        assert_eq!(clip(&c, "tight").start, r("10.25"));
        assert_eq!(clip(&c, "spaced").start, r("9"));
        assert_eq!(clip(&c, "before-zero").start, Rational::ZERO);
    }

    #[test]
    fn chained_references() {
        let c = clips(
            r#"<video id="a" src="a.mp4" data-start="0" data-duration="4"></video>
               <video id="b" src="b.mp4" data-start="a" data-duration="3"></video>
               <video id="c" src="c.mp4" data-start="b" data-duration="2"></video>"#,
        );
        assert_eq!(clip(&c, "b").start, r("4"));
        assert_eq!(clip(&c, "c").start, r("7"));
    }

    #[test]
    fn reference_to_a_div_and_to_a_composition_id() {
        let c = clips(
            r#"<div id="title" data-start="0" data-duration="6"></div>
               <div data-composition-id="card" data-start="1" data-duration="2"></div>
               <video id="clip" src="b.mp4" data-start="title" data-duration="5"></video>
               <video id="after-card" src="b.mp4" data-start="card + 1"></video>"#,
        );
        assert_eq!(clip(&c, "clip").start, r("6"));
        assert_eq!(clip(&c, "after-card").start, r("4"));
    }

    #[test]
    fn referenced_duration_from_data_end() {
        let c = clips(
            r#"<video id="intro" src="a.mp4" data-start="2" data-end="9"></video>
               <video id="main" src="b.mp4" data-start="intro" data-duration="5"></video>"#,
        );
        assert_eq!(clip(&c, "main").start, r("9"));
    }

    #[test]
    fn reference_without_a_known_duration_uses_the_targets_start() {
        let c = clips(
            r#"<video id="intro" src="a.mp4" data-start="3"></video>
               <video id="main" src="b.mp4" data-start="intro + 1"></video>"#,
        );
        assert_eq!(clip(&c, "main").start, r("4"));
    }

    #[test]
    fn unknown_reference_is_zero() {
        let c = clips(r#"<video id="orphan" src="a.mp4" data-start="does-not-exist" data-duration="5"></video>"#);
        assert_eq!(c[0].start, Rational::ZERO);
        assert_eq!(c[0].end, Some(r("5")));
    }

    #[test]
    fn circular_references_terminate_deterministically() {
        let c = clips(
            r#"<video id="a" src="a.mp4" data-start="b" data-duration="4"></video>
               <video id="b" src="b.mp4" data-start="a" data-duration="3"></video>
               <video id="self" src="c.mp4" data-start="self + 1" data-duration="3"></video>"#,
        );
        // a → b → a: the second visit of a counts as 0, so b = 0 + 4, a = 4 + 3.
        assert_eq!(clip(&c, "a").start, r("7"));
        assert_eq!(clip(&c, "b").start, r("4"));
        assert_eq!(clip(&c, "self").start, r("4"));
    }

    #[test]
    fn long_reference_chains_resolve_without_recursion() {
        let mut html = String::from(r#"<video id="v0" src="a.mp4" data-start="0" data-duration="1"></video>"#);
        for i in 1..20_000 {
            html.push_str(&format!(
                r#"<div id="v{i}" data-start="v{}" data-duration="1"></div>"#,
                i - 1
            ));
        }
        // Resolving the last video's start walks the whole chain at once.
        html.push_str(r#"<video id="last" src="b.mp4" data-start="v19999"></video>"#);
        let c = clips(&html);
        assert_eq!(clip(&c, "last").start, r("20000"));
    }

    #[test]
    fn playback_rate_parsing_and_clamping() {
        let cases = [
            ("2", "2"),
            ("0.5", "0.5"),
            ("10", "5"),
            ("1e30", "5"),
            ("0.01", "0.1"),
            ("0.0000001", "0.1"),
            ("2x", "2"),
            (" 1.25 ", "1.25"),
            ("abc", "1"),
            ("-1", "1"),
            ("0", "1"),
            ("", "1"),
            ("Infinity", "1"),
            ("0x10", "1"),
        ];
        for (attr, expected) in cases {
            let html = format!(r#"<video src="a.mp4" data-playback-rate="{attr}"></video>"#);
            assert_eq!(clips(&html)[0].playback_rate, r(expected), "{attr:?}");
        }
        assert_eq!(clips(r#"<video src="a.mp4"></video>"#)[0].playback_rate, Rational::ONE);
    }

    #[test]
    fn media_start_attributes() {
        let c = clips(
            r#"<video id="a" src="a.mp4" data-playback-start="2" data-media-start="5"></video>
               <video id="b" src="a.mp4" data-playback-start="-1" data-media-start="5"></video>
               <video id="c" src="a.mp4" data-media-start="abc"></video>
               <video id="d" src="a.mp4" data-media-start="0x3"></video>"#,
        );
        assert_eq!(clip(&c, "a").media_start, r("2"));
        assert_eq!(clip(&c, "b").media_start, r("5"));
        assert_eq!(clip(&c, "c").media_start, Rational::ZERO);
        assert_eq!(clip(&c, "d").media_start, r("3"));
    }

    #[test]
    fn id_generation() {
        let c = clips(
            r#"<video src="a.mp4" data-duration="3"></video>
               <video id="named" src="b.mp4"></video>
               <video src="c.mp4" data-hf-render-id="r-7"></video>
               <video src="d.mp4" data-start="hf-video-0"></video>
               <video src="e.mp4" data-start="r-7 + 1"></video>"#,
        );
        let ids: Vec<&str> = c.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["hf-video-0", "named", "r-7", "hf-video-1", "hf-video-2"]);
        // The generated and render ids were written back as `id`s, so references can name them.
        assert_eq!(clip(&c, "hf-video-1").start, r("3"));
        assert_eq!(clip(&c, "hf-video-2").start, r("1"));
    }

    #[test]
    fn render_id_wins_over_id() {
        let c = clips(r#"<video id="authored" data-hf-render-id="stamped" src="a.mp4"></video>"#);
        assert_eq!(c[0].id, "stamped");
    }

    #[test]
    fn unsafe_and_duplicate_ids_become_unique_folder_names() {
        let c = clips(
            r#"<video id="a" src="1.mp4"></video>
               <video id="a" src="2.mp4"></video>
               <video id="a-2" src="3.mp4"></video>
               <video id="../up" src="4.mp4"></video>
               <video id=".hidden" src="5.mp4"></video>
               <video id="a" src="6.mp4"></video>"#,
        );
        let ids: Vec<&str> = c.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["a", "a-3", "a-2", "_.._up", "_.hidden", "a-4"]);
        for id in ids {
            assert!(check_id(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn only_video_elements_with_a_src_attribute() {
        let c = clips(
            r#"<video id="sources"><source src="a.mp4" type="video/mp4"></video>
               <video id="empty" src=""></video>
               <audio id="music" src="a.mp3"></audio>
               <img id="still" src="a.png">
               <video id="real" src="b.mp4"></video>"#,
        );
        let ids: Vec<&str> = c.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["real"]);
    }

    #[test]
    fn markup_is_read_like_a_browser() {
        let c = clips(
            r#"<!DOCTYPE html><html><head><title><video src="title.mp4"></title>
               <script>const s = '<video src="script.mp4">';</script>
               <style>/* <video src="style.mp4"> */</style></head>
               <body><!-- <video src="comment.mp4"> -->
               <VIDEO ID=Upper SRC=upper.mp4 DATA-START=2 LOOP></VIDEO>
               <video id="amp" src="a&amp;b.mp4?x=1&amp;y=2" data-start='1'>
               <template><video id="templated" src="t.mp4"></video></template>
               <textarea><video src="textarea.mp4"></textarea>
               </body></html>"#,
        );
        let ids: Vec<&str> = c.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["Upper", "amp", "templated"]);
        let upper = clip(&c, "Upper");
        assert_eq!(
            (upper.src.as_str(), upper.start, upper.looping),
            ("upper.mp4", r("2"), true)
        );
        assert_eq!(clip(&c, "amp").src, "a&b.mp4");
    }

    #[test]
    fn composition_root_sets_fps_and_end() {
        let comp = parse(
            r#"<div id="root" data-composition-id="main" data-fps="30000/1001" data-duration="12" data-width="1920">
               <video src="a.mp4"></video></div>"#,
        );
        assert_eq!(comp.fps, Rational::new(30000, 1001));
        assert_eq!(comp.timeline_end, Some(r("12")));
        assert_eq!(comp.quality, DEFAULT_QUALITY);
        assert_eq!(comp.format, FormatChoice::Auto);

        let comp = parse(
            r#"<div data-composition-id="card" data-fps="24" data-duration="3"></div>
               <div data-composition-id="main" data-root="true" data-fps="25" data-duration="10"></div>"#,
        );
        assert_eq!(comp.fps, r("25"));
        assert_eq!(comp.timeline_end, Some(r("10")));

        let comp = parse(r#"<body><video src="a.mp4"></video></body>"#);
        assert_eq!(comp.fps, Rational::from_int(DEFAULT_FPS));
        assert_eq!(comp.timeline_end, None);
        assert_eq!(comp.base_dir, PathBuf::from("/nonexistent-project"));
    }

    #[test]
    fn invalid_root_fps_names_the_attribute_and_line() {
        let e = parse_html(
            "<html>\n<body>\n<div data-composition-id=\"main\"\n     data-fps=\"fast\">\n</div>",
            "index.html",
            Path::new("."),
        )
        .unwrap_err();
        assert_eq!(e.location, "index.html:4");
        assert!(e.message.contains("data-fps=\"fast\""), "{}", e.message);
    }

    #[test]
    fn documents_without_elements_are_rejected() {
        for text in ["", "just some text", "{\"videos\": []}"] {
            let e = parse_html(text, "comp.html", Path::new(".")).unwrap_err();
            assert_eq!(e.location, "comp.html");
        }
        // A composition without videos is fine: nothing to extract.
        assert!(parse(r#"<div data-composition-id="main"></div>"#).clips.is_empty());
    }

    #[test]
    fn unclosed_constructs_that_swallow_a_video_are_errors() {
        let unclosed_quote = "<html>\n<video id=\"a\" src=\"a.mp4\"></video>\n<div title='oops>\n<video id=\"b\" src=\"b.mp4\"></video>\n";
        let e = parse_html(unclosed_quote, "index.html", Path::new(".")).unwrap_err();
        assert_eq!(e.location, "index.html:3");

        let unclosed_comment = "<p>x</p>\n<!-- note\n<video src=\"b.mp4\"></video>";
        let e = parse_html(unclosed_comment, "index.html", Path::new(".")).unwrap_err();
        assert_eq!(e.location, "index.html:2");

        let unclosed_script = "<p>\n<script>let x = 1;\n<video src=\"b.mp4\"></video>";
        let e = parse_html(unclosed_script, "index.html", Path::new(".")).unwrap_err();
        assert_eq!(e.location, "index.html:2");

        let unfinished_video = "<p></p>\n<video src=\"b.mp4\" data-start=\"1";
        let e = parse_html(unfinished_video, "index.html", Path::new(".")).unwrap_err();
        assert_eq!(e.location, "index.html:2");

        // Harmless truncations are tolerated, as browsers do.
        for text in [
            "<video src=\"a.mp4\"></video></body></html",
            "<video src=\"a.mp4\"></video><!-- trailing note",
            "<video src=\"a.mp4\"></video><script>let x = 1;",
            "<video src=\"a.mp4\"></video><!-- <video src=\"b.mp4\"> -->",
            "<video src=\"a.mp4\"></video><div title=\"<video src=b.mp4>\"></div></html",
        ] {
            assert_eq!(parse(text).clips.len(), 1, "{text}");
        }
    }

    #[test]
    fn read_html_checks_utf8_and_resolves_against_the_files_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("media")).unwrap();
        std::fs::write(dir.path().join("media/a.mp4"), b"").unwrap();
        let path = dir.path().join("index.html");
        std::fs::write(
            &path,
            "\u{feff}<video id=\"a\" src=\"../media/a.mp4?v=3\" data-start=\"1\"></video>",
        )
        .unwrap();
        let comp = read_html(&path).unwrap();
        assert_eq!(comp.base_dir, dir.path());
        assert_eq!(comp.clips[0].src, "media/a.mp4");

        std::fs::write(&path, b"<html>\n<p>caf\xe9</p>").unwrap();
        let e = read_html(&path).unwrap_err();
        assert_eq!(e.location, format!("{}:2:7", path.display()));

        let e = read_html(&dir.path().join("missing.html")).unwrap_err();
        assert!(e.message.contains("cannot read"), "{}", e.message);
    }

    #[test]
    fn javascript_number_rules() {
        let n = |s: &str| js_number(s);
        assert_eq!(n("0x10"), Some(r("16")));
        assert_eq!(n("0B11"), Some(r("3")));
        assert_eq!(n(" \n2.5\t"), Some(r("2.5")));
        assert_eq!(n("+.5"), Some(r("0.5")));
        assert_eq!(n("5."), Some(r("5")));
        assert_eq!(n("1e-3"), Some(r("0.001")));
        assert_eq!(n("-1e400"), None);
        assert_eq!(n("1e30"), Some(Rational::from_int(MAX_SECONDS)));
        for bad in [
            "",
            " ",
            "0s",
            "0abc",
            "0px",
            "-1s",
            "Infinity",
            "-Infinity",
            "NaN",
            "-0x10",
            "0x",
            ".",
            "1e",
            "e5",
            "1_000",
            "٣",
        ] {
            assert_eq!(n(bad), None, "{bad:?}");
        }
        assert_eq!(js_parse_float_prefix("  -2.5e1xyz"), Some("-2.5e1"));
        assert_eq!(js_parse_float_prefix("3e"), Some("3"));
        assert_eq!(js_parse_float_prefix("Infinityx"), Some("Infinity"));
        assert_eq!(js_parse_float_prefix("x3"), None);
    }

    // resolveProjectRelativeSrc

    struct Project {
        _tmp: tempfile::TempDir,
        dir: PathBuf,
    }

    fn project(files: &[&str]) -> Project {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("project");
        for f in files {
            let p = dir.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"").unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        Project { _tmp: tmp, dir }
    }

    #[test]
    fn src_literal_join_and_root_absolute_url() {
        let p = project(&["assets/foo.mp4"]);
        assert_eq!(resolve_project_src("assets/foo.mp4", &p.dir), "assets/foo.mp4");
        assert_eq!(resolve_project_src("./assets/foo.mp4", &p.dir), "assets/foo.mp4");
        assert_eq!(resolve_project_src("/assets/foo.mp4", &p.dir), "assets/foo.mp4");
    }

    #[test]
    fn src_parent_escapes_are_clamped_to_the_project_root() {
        let p = project(&["assets/foo.mp4"]);
        for src in [
            "../assets/foo.mp4",
            "../../../assets/foo.mp4",
            "assets/../../assets/foo.mp4",
            // Leaves and re-enters the project folder by name: the plain join is inside.
            "../project/assets/foo.mp4",
        ] {
            assert_eq!(resolve_project_src(src, &p.dir), "assets/foo.mp4", "{src}");
        }
    }

    #[test]
    fn src_never_resolves_outside_the_project() {
        let p = project(&[]);
        let outside = p.dir.parent().unwrap().join("secret.mp4");
        std::fs::write(&outside, b"").unwrap();
        // HyperFrames would fall back to the existing file outside; framex keeps the clamped path.
        assert_eq!(resolve_project_src("../secret.mp4", &p.dir), "secret.mp4");
    }

    #[test]
    fn src_miss_returns_the_clamped_literal() {
        let p = project(&["assets/foo.mp4"]);
        assert_eq!(
            resolve_project_src("../assets/missing.mp4", &p.dir),
            "assets/missing.mp4"
        );
        assert_eq!(resolve_project_src("/nowhere/x.mp4", &p.dir), "nowhere/x.mp4");
        assert_eq!(
            resolve_project_src("assets/%E6%97%A5.mp4", &p.dir),
            "assets/%E6%97%A5.mp4"
        );
    }

    #[test]
    fn src_percent_encoded_names_across_scripts() {
        let cases = [
            "%D9%87%D9%86%D8%A7-%D9%85%D8%B1%D9%88%D8%A7.mp4",
            "%E6%97%A5%E6%9C%AC%E8%AA%9E.mp4",
            "%D0%BF%D1%80%D0%B8%D0%B2%D0%B5%D1%82.mp4",
            "%ED%95%9C%EA%B8%80.mp4",
            "my%20clip.mp4",
        ];
        let decoded: Vec<String> = cases.iter().map(|c| decode_well_formed_escapes(c)).collect();
        assert_eq!(decoded[1], "日本語.mp4");
        assert_eq!(decoded[4], "my clip.mp4");
        let files: Vec<String> = decoded.iter().map(|d| format!("assets/{d}")).collect();
        let p = project(&files.iter().map(String::as_str).collect::<Vec<_>>());
        for (encoded, file) in cases.iter().zip(&files) {
            assert_eq!(resolve_project_src(&format!("assets/{encoded}"), &p.dir), *file);
        }
    }

    #[test]
    fn src_malformed_percent_falls_back_to_the_literal_name() {
        let p = project(&["assets/100%-discount.mp4", "assets/a%20b.mp4"]);
        assert_eq!(
            resolve_project_src("assets/100%-discount.mp4", &p.dir),
            "assets/100%-discount.mp4"
        );
        // The decoded name does not exist, the literal one does.
        assert_eq!(resolve_project_src("assets/a%20b.mp4", &p.dir), "assets/a%20b.mp4");
        // Not UTF-8 once decoded: stays literal.
        assert_eq!(decode_well_formed_escapes("a%FFb%41.mp4"), "a%FFbA.mp4");
        assert_eq!(decode_well_formed_escapes("%E6%97"), "%E6%97");
    }

    #[test]
    fn src_decoded_name_is_preferred() {
        let p = project(&["a b.mp4", "a%20b.mp4"]);
        assert_eq!(resolve_project_src("a%20b.mp4", &p.dir), "a b.mp4");
    }

    #[test]
    fn src_query_fragment_urls_and_absolute_paths() {
        let p = project(&["assets/foo.mp4"]);
        assert_eq!(
            resolve_project_src("assets/foo.mp4?v=2#t=1,2", &p.dir),
            "assets/foo.mp4"
        );
        assert_eq!(resolve_project_src("assets/foo.mp4#t=3", &p.dir), "assets/foo.mp4");
        assert_eq!(
            resolve_project_src("HTTPS://cdn.example.com/a.mp4?sig=1", &p.dir),
            "HTTPS://cdn.example.com/a.mp4?sig=1"
        );
        let abs = p.dir.join("assets/foo.mp4").display().to_string();
        assert_eq!(resolve_project_src(&abs, &p.dir), abs);
        assert_eq!(resolve_project_src(&format!("{abs}?v=1"), &p.dir), abs);
    }

    #[test]
    fn resolved_sources_stay_inside_the_project() {
        let p = project(&["a.mp4"]);
        for src in ["..", "../", ".", "a/../..", "../../x/../y.mp4", "/../a.mp4"] {
            let out = resolve_project_src(src, &p.dir);
            assert!(
                !Path::new(&out).components().any(|c| c == Component::ParentDir) || Path::new(&out) == Path::new(src),
                "{src} -> {out}"
            );
        }
        assert_eq!(resolve_project_src("/../a.mp4", &p.dir), "a.mp4");
    }
}
