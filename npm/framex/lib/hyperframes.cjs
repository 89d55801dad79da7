"use strict";
// The HyperFrames drop-in: `extractAllVideoFrames` with the parameters and result of
// `@hyperframes/engine` 0.8.33 (see docs/hyperframes-differences.md for where framex differs
// on purpose). framex does the extraction; this file translates HyperFrames' inputs into a
// manifest, and framex's result into HyperFrames' `ExtractionResult`, with `framePaths` keyed
// the way HyperFrames' own `FrameLookupTable` indexes them.
const fs = require("node:fs");
const path = require("node:path");
const { runNative, fpsText, frameFileName } = require("./framex.cjs");

const CACHE_DIR_DISABLED = new Set(["off", "none", "false", "0"]);

function isHttpUrl(s) {
  return /^https?:\/\//i.test(s);
}

/** HyperFrames' URL-path variants: the percent-decoded form first, then the raw text. */
function urlPathVariants(p) {
  const variants = [p];
  try {
    const decoded = decodeURIComponent(p);
    if (decoded !== p) variants.unshift(decoded);
  } catch {
    // malformed %: the raw text only
  }
  return variants;
}

/**
 * `resolveProjectRelativeSrc` of HyperFrames: strip `?query`, keep an existing absolute path,
 * try percent-decoded variants, prefer `compiledDir`, clamp `..` escapes to the project root;
 * the first existing candidate, else the plain join.
 */
function resolveProjectRelativeSrc(src, baseDir, compiledDir) {
  const q = src.indexOf("?");
  const clean = q >= 0 ? src.slice(0, q) : src;
  if (path.isAbsolute(clean) && fs.existsSync(clean)) return clean;
  const candidates = [];
  const add = (c) => {
    if (!candidates.includes(c)) candidates.push(c);
  };
  const baseAbs = path.resolve(baseDir);
  for (const variant of urlPathVariants(clean)) {
    const fromBaseAbs = path.resolve(path.join(baseDir, variant));
    if (!fromBaseAbs.startsWith(baseAbs + path.sep) && fromBaseAbs !== baseAbs) {
      const normalized = path.posix.normalize(variant.replace(/\\/g, "/"));
      const stripped = normalized.replace(/^(\.\.\/)+/, "");
      if (stripped && stripped !== variant && !stripped.startsWith("..")) {
        if (compiledDir) add(path.join(compiledDir, stripped));
        add(path.join(baseDir, stripped));
      }
    }
    if (compiledDir) add(path.join(compiledDir, variant));
    add(path.join(baseDir, variant));
  }
  return candidates.find((c) => fs.existsSync(c)) ?? path.join(baseDir, clean);
}

/** HyperFrames' `toFps` + `fpsToNumber`: the decimal rate of a `FpsInput`. */
function fpsNumber(fps) {
  return typeof fps === "object" && fps !== null ? fps.num / fps.den : Number(fps);
}

/** Whole microseconds of a time, as the manifest reads it (truncated, as ffmpeg parses times). */
function micros(v) {
  return Math.trunc(v * 1e6);
}

/** `"num/den"` → number. */
function ratio(text) {
  const [n, d] = String(text).split("/");
  return d === undefined ? Number(n) : Number(n) / Number(d);
}

/** HyperFrames' `normalizePlaybackRate`: finite, clamped to 0.1..5, default 1. */
function normalizeRate(r) {
  const v = Number(r ?? 1);
  if (!Number.isFinite(v) || v <= 0) return 1;
  return Math.min(5, Math.max(0.1, v));
}

/** A folder name framex accepts as a clip id (one path component). */
function safeId(id) {
  return (
    typeof id === "string" &&
    id.length > 0 &&
    Buffer.byteLength(id) <= 200 &&
    !id.startsWith(".") &&
    !/[/\\\0-\x1f\x7f-\x9f]/.test(id)
  );
}

/** framex error kinds → HyperFrames' failure taxonomy (§2.1). */
function failureKind(e) {
  switch (e.kind) {
    case "source_missing":
      // framex reports a remote 404 / 410 as a missing source; HyperFrames calls it so.
      return isHttpUrl(e.src ?? "") ? "download_not_found" : "source_missing";
    case "source_rejected":
    case "invalid_media":
    case "media_start_out_of_range":
    case "cancelled":
    case "internal":
      return e.kind;
    case "decode_failed":
      return /time limit|timed out/i.test(e.message) ? "ffmpeg_timeout" : "ffmpeg_failed";
    case "output_failed":
      return "ffmpeg_transient";
    case "invalid_request":
      return "internal";
    case "download_failed":
      return "download_transient";
    default:
      return "internal";
  }
}

const RETRYABLE = new Set(["download_transient", "ffmpeg_transient", "ffmpeg_timeout"]);

function failure(videoId, kind, error) {
  return { videoId, kind, retryable: RETRYABLE.has(kind), error };
}

/** ffprobe-style rate text → HyperFrames' `fps` (2 decimals, at least 0.01). */
function metadataFps(m) {
  const v = ratio(m.avgFrameRate) || ratio(m.realFrameRate) || 0;
  const r = Math.round(v * 100) / 100;
  return r < 0.005 ? 0.01 : r;
}

const UNSET = new Set(["", "unknown", "unspecified", "reserved"]);

/** framex's `MediaInfo` as HyperFrames' `VideoMetadata`. */
function videoMetadata(m) {
  const field = (v) => (v && !UNSET.has(v) ? v : undefined);
  const c = m.color || {};
  const cs = { colorTransfer: field(c.transfer), colorPrimaries: field(c.primaries), colorSpace: field(c.matrix) };
  const anyColour = cs.colorTransfer || cs.colorPrimaries || cs.colorSpace;
  return {
    durationSeconds: m.duration,
    videoStreamDurationSeconds: m.playableDuration,
    videoStreamStartSeconds: m.streamStart,
    width: m.width,
    height: m.height,
    fps: metadataFps(m),
    videoCodec: m.codec || "unknown",
    hasAudio: m.hasAudio,
    isVFR: m.vfr,
    hasAlpha: m.alpha,
    colorSpace: anyColour
      ? { colorTransfer: cs.colorTransfer ?? "", colorPrimaries: cs.colorPrimaries ?? "", colorSpace: cs.colorSpace ?? "" }
      : null,
    frames: m.frameCount > 0 ? m.frameCount : undefined,
  };
}

/**
 * The element as HyperFrames leaves it after extraction, and `framePaths` keyed by the index
 * HyperFrames' `getFrameIndexAtTime` computes: for each framex frame `n` (composition sample
 * `n` of the clip), the index the HyperFrames lookup computes at that sample's grid time
 * points at frame `n`'s file. Keys no grid time reaches (a rate above 1 skips some) take the
 * previous frame, so the map has no holes.
 */
function hyperframesView(video, clip, fps) {
  const t = clip.timing;
  const S = ratio(t.start);
  const E = ratio(t.end);
  const rate = ratio(t.rate);
  const m0 = ratio(t.mediaStart);
  const metadata = videoMetadata(clip.metadata);
  let start = S;
  // A preroll longer than a non-looping source starts in its held tail: HyperFrames' one-frame
  // window sits at `playable − 1e-6`, inside the source, where its lookup expects it.
  let mediaStart = Math.min(m0, metadata.videoStreamDurationSeconds - 1e-6);
  let loopDuration = 0;
  if (clip.loop && t.loopCycle) {
    // Frames unroll the loop from frame 0 (media m0, possibly mid-cycle after a preroll).
    // HyperFrames wraps from the element's start at mediaStart, every (playable −
    // mediaStart) / rate: present the cycle's start and phase the way it keeps them.
    const cycle = ratio(t.loopCycle);
    const cycleStart = metadata.videoStreamDurationSeconds - cycle;
    const phase = (((m0 - cycleStart) % cycle) + cycle) % cycle;
    mediaStart = cycleStart;
    start = S - phase / rate;
    loopDuration = cycle / rate;
  }
  const ext = clip.format === "png" ? "png" : "jpg";
  const prefix = clip.dir + path.sep;
  const file = (n) => prefix + frameFileName(n, ext);
  // First composition grid time at or after S, as a fraction of a frame past S.
  const sf = S * fps;
  const delta = Math.max(0, Math.ceil(sf - 1e-9) - sf);
  const byKey = new Map();
  let maxKey = -1;
  for (let n = 0; n < clip.frames; n++) {
    let local = S + (n + delta) / fps - start;
    if (loopDuration > 0 && local >= loopDuration) local %= loopDuration;
    const key = Math.floor(local * rate * fps + 1e-9);
    if (key < 0 || byKey.has(key)) continue;
    byKey.set(key, n);
    if (key > maxKey) maxKey = key;
  }
  const framePaths = new Map();
  let last = 0;
  for (let k = 0; k <= maxKey; k++) {
    if (byKey.has(k)) last = byKey.get(k);
    framePaths.set(k, file(last));
  }
  return { start, end: E, mediaStart, framePaths, metadata };
}

/** Where HyperFrames would cache: `config.extractCacheDir`, else the environment variable. */
function cacheSetting(config) {
  const fromConfig = config?.extractCacheDir;
  const raw = fromConfig ?? process.env.HYPERFRAMES_EXTRACT_CACHE_DIR;
  if (raw === undefined || raw === null || String(raw).trim() === "") return undefined;
  if (CACHE_DIR_DISABLED.has(String(raw).trim().toLowerCase())) return undefined;
  return String(raw);
}

function cacheMaxBytes(config) {
  if (config?.extractCacheMaxBytes !== undefined) return config.extractCacheMaxBytes;
  const mb = Number(process.env.HYPERFRAMES_EXTRACT_CACHE_MAX_MB);
  return Number.isFinite(mb) && mb > 0 ? Math.max(1, Math.round(mb * 1024 ** 2)) : 2 * 1024 ** 3;
}

function emptyBreakdown() {
  return {
    resolveMs: 0,
    cachePublishFailures: 0,
    cacheGcEvictions: 0,
    cacheGcBytesFreed: 0,
    cacheAgedPartialsCleared: 0,
    hdrProbeMs: 0,
    hdrPreflightMs: 0,
    hdrPreflightCount: 0,
    vfrProbeMs: 0,
    vfrPreflightMs: 0,
    vfrPreflightCount: 0,
    extractMs: 0,
    cacheHits: 0,
    cacheMisses: 0,
    transientRetries: 0,
  };
}

/**
 * Drop-in for `@hyperframes/engine`'s `extractAllVideoFrames` (0.8.33): same parameters, same
 * result, `videos` mutated the same way (resolved `start` / `end` / `mediaStart`).
 */
async function extractAllVideoFrames(videos, baseDir, options, signal, config, compiledDir) {
  if (options.timelineEnd !== undefined && !Number.isFinite(options.timelineEnd)) {
    throw new Error(`Video extraction timelineEnd must be finite; got ${String(options.timelineEnd)}`);
  }
  const started = Date.now();
  const fps = fpsNumber(options.fps);
  const breakdown = emptyBreakdown();
  const errors = [];
  const extracted = [];

  // Phase 1: resolve sources (framex downloads https:// sources itself, into its store).
  const resolveStart = Date.now();
  const entries = [];
  const warned = new Set();
  const ids = new Set();
  for (const video of videos) {
    if (signal?.aborted) break;
    if (options.timelineEnd !== undefined && video.start >= options.timelineEnd) continue;
    // HyperFrames: a finite end at or before the start means the natural duration; a clip
    // ending at or before 0 shows nothing. A window shorter than a microsecond (framex's time
    // unit, as ffmpeg's) gets one microsecond: HyperFrames extracts at least one frame for it.
    let end = Number.isFinite(video.end) && video.end > video.start ? video.end : Infinity;
    if (end <= 0) continue;
    const visibleStart = micros(Math.max(0, video.start));
    if (Number.isFinite(end) && micros(end) <= visibleStart) end = (visibleStart + 1) / 1e6;
    if (!safeId(video.id) || ids.has(video.id)) {
      errors.push(failure(video.id, "internal", `video id ${JSON.stringify(video.id)} is not a unique folder name`));
      continue;
    }
    ids.add(video.id);
    let src = video.src;
    if (!isHttpUrl(src)) {
      src = resolveProjectRelativeSrc(video.src, baseDir, compiledDir);
      if (!fs.existsSync(src)) {
        if (!warned.has(video.src)) {
          warned.add(video.src);
          process.stderr.write(
            `[hyperframes:render] WARNING: video src="${video.src}" could not be resolved on disk ` +
              `(looked for ${src}). The rendered output will show this video's first frame for the entire clip duration.\n`,
          );
        }
        errors.push(failure(video.id, "source_missing", `Video file not found: ${src}`));
        continue;
      }
    }
    entries.push({ video, src: isHttpUrl(src) ? src : path.resolve(src), end });
  }
  if (signal?.aborted) throw new Error("Video frame extraction cancelled");

  let cacheDir = cacheSetting(config);
  if (cacheDir) {
    try {
      fs.mkdirSync(cacheDir, { recursive: true });
    } catch {
      process.stderr.write(
        `[hyperframes:render] WARNING: extraction cache dir ${cacheDir} is not writable; caching disabled for this render\n`,
      );
      cacheDir = undefined;
    }
  }
  breakdown.resolveMs = Date.now() - resolveStart;

  if (entries.length > 0) {
    const manifest = {
      fps: fpsText(options.fps),
      format: options.format ?? "auto",
      quality: options.quality ?? 95,
      // Times as given: the manifest truncates them to the microsecond, as ffmpeg would.
      videos: entries.map(({ video, src, end }) => ({
        id: video.id,
        src,
        start: video.start ?? 0,
        ...(Number.isFinite(end) ? { end } : {}),
        mediaStart: Math.max(0, video.mediaStart ?? 0),
        loop: Boolean(video.loop),
        playbackRate: normalizeRate(video.playbackRate),
        hasAudio: Boolean(video.hasAudio),
      })),
    };
    if (options.timelineEnd !== undefined) manifest.timelineEnd = options.timelineEnd;
    const nopts = {
      outDir: cacheDir ? undefined : path.resolve(options.outputDir),
      cacheDir: cacheDir ? path.resolve(cacheDir) : "off",
      cacheMax: cacheDir ? Math.max(1, Math.round(cacheMaxBytes(config))) : undefined,
      sourceTimeout: config?.ffmpegProcessTimeout ? config.ffmpegProcessTimeout / 1000 : undefined,
      // FRAMEX_REMOTE_STORE works through the local store: without an extraction cache, none.
      remoteStore: cacheDir ? process.env.FRAMEX_REMOTE_STORE : undefined,
    };
    const result = await runNative(
      { manifest: JSON.stringify(manifest), baseDir: path.resolve(baseDir) },
      nopts,
      signal,
      undefined,
    );
    const byId = new Map(entries.map((e) => [e.video.id, e]));
    const vfrSources = new Set();
    for (const clip of result.clips) {
      const entry = byId.get(clip.id);
      if (!entry || clip.frames === 0) continue; // nothing visible: HyperFrames skips it too
      const view = hyperframesView(entry.video, clip, fps);
      entry.video.start = view.start;
      entry.video.end = view.end;
      entry.video.mediaStart = view.mediaStart;
      if (clip.metadata.vfr) vfrSources.add(entry.src);
      if (clip.transform && clip.transform.startsWith("sdr2hdr")) breakdown.hdrPreflightCount += 1;
      extracted.push({
        videoId: clip.id,
        srcPath: entry.src,
        outputDir: clip.dir,
        framePattern: `frame_%05d.${clip.format === "png" ? "png" : "jpg"}`,
        fps,
        totalFrames: view.framePaths.size,
        metadata: view.metadata,
        framePaths: view.framePaths,
        // Store folders outlive the render (HyperFrames' cache entries: `true`); uncached
        // folders are the render's to delete, and HyperFrames leaves the field out for them.
        ...(cacheDir ? { ownedByLookup: true } : {}),
      });
    }
    for (const e of result.errors) errors.push(failure(e.id, failureKind({ ...e, src: byId.get(e.id)?.src }), e.message));
    for (const w of result.warnings) process.stderr.write(`[framex] WARNING: ${w}\n`);
    const b = result.breakdown;
    breakdown.resolveMs += Math.round(b.downloadMs);
    breakdown.hdrProbeMs = Math.round(b.probeMs);
    breakdown.vfrPreflightCount = vfrSources.size;
    breakdown.extractMs = Math.round(result.durationMs);
    if (cacheDir) {
      breakdown.cacheHits = b.clipHits;
      breakdown.cacheMisses = b.clipMisses;
      breakdown.cachePublishFailures = b.publishFailures;
      breakdown.cacheGcEvictions = b.gcEvictions;
      breakdown.cacheGcBytesFreed = b.gcBytesFreed;
      breakdown.cacheAgedPartialsCleared = b.tempsCleared;
    }
  }
  // Input order, as HyperFrames reports them.
  const order = new Map(videos.map((v, i) => [v.id, i]));
  errors.sort((a, b) => (order.get(a.videoId) ?? 0) - (order.get(b.videoId) ?? 0));
  extracted.sort((a, b) => (order.get(a.videoId) ?? 0) - (order.get(b.videoId) ?? 0));
  const totalFramesExtracted = extracted.reduce((n, e) => n + e.totalFrames, 0);
  return {
    success: errors.length === 0,
    extracted,
    errors,
    totalFramesExtracted,
    durationMs: Date.now() - started,
    phaseBreakdown: breakdown,
  };
}

module.exports = { extractAllVideoFrames, resolveProjectRelativeSrc };
