"use strict";
// framex's own API: extract, probe, FrameLookup / lookup. The work runs in the native addon on
// the libuv pool; this file only maps options and converts the result JSON.
const path = require("node:path");
const native = require("./native.cjs");

/** Input the library refused (the composition, an option): the message names the field. */
class FramexInputError extends Error {
  constructor(message) {
    super(message);
    this.name = "FramexInputError";
    this.code = "ERR_FRAMEX_INPUT";
  }
}

const SIZE_UNITS = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** Bytes from a number or CLI-style text ("500M", "2G"). */
function toBytes(name, v) {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "number") return v;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$/i.exec(String(v));
  if (!m) throw new FramexInputError(`${name}: expected bytes or a size like "500M", got ${JSON.stringify(v)}`);
  return Math.round(Number(m[1]) * SIZE_UNITS[m[2].toUpperCase()]);
}

/** A frame rate as the library reads it: a number, "num/den" text or `{num, den}`. */
function fpsText(fps) {
  if (fps === undefined || fps === null) return undefined;
  if (typeof fps === "object") return `${fps.num}/${fps.den}`;
  return String(fps);
}

/** A drawn-size box as the library reads it: "WxH" text or `{width, height}`. */
function sizeText(v) {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "object") return `${v.width}x${v.height}`;
  return String(v);
}

function nativeOptions(o) {
  const sourceTimeout = o.sourceTimeout === "off" || o.sourceTimeout === null ? 0 : o.sourceTimeout;
  return {
    outDir: o.outDir === undefined ? undefined : path.resolve(o.outDir),
    cacheDir: o.cacheDir,
    cacheMax: toBytes("cacheMax", o.cacheMax),
    fps: fpsText(o.fps),
    format: o.format,
    quality: o.quality,
    tonemap: o.tonemap,
    maxSize: sizeText(o.maxSize),
    jobs: o.jobs,
    sourceTimeout,
    downloadMax: toBytes("downloadMax", o.downloadMax),
    downloadTimeout: o.downloadTimeout,
    downloadStallTimeout: o.downloadStallTimeout,
    allowPrivateNetwork: o.allowPrivateNetwork,
    frames: o.frames,
    time: o.time === undefined ? undefined : o.time.map(String),
    indices: o.indices === undefined ? undefined : JSON.stringify(o.indices),
    remoteStore: o.remoteStore === undefined ? process.env.FRAMEX_REMOTE_STORE : o.remoteStore ?? undefined,
    remoteFlushLimit: o.remoteFlushLimit,
  };
}

function abortError(signal) {
  if (signal.reason instanceof Error) return signal.reason;
  const e = new DOMException("The operation was aborted", "AbortError");
  if (signal.reason !== undefined) e.cause = signal.reason;
  return e;
}

function rethrow(err) {
  if (err && err.code === "InvalidArg") throw new FramexInputError(err.message);
  throw err;
}

/**
 * Runs the native extraction of `input` with a cancel handle tied to `signal` and progress
 * forwarded to `onProgress`; resolves with the parsed result JSON.
 */
async function runNative(input, options, signal, onProgress) {
  const handle = new native.CancelHandle();
  const onAbort = () => handle.cancel();
  signal?.addEventListener("abort", onAbort, { once: true });
  const progress = onProgress
    ? (event) => {
        try {
          onProgress(event);
        } catch (err) {
          // A throwing listener must not take the process down from a native callback, and
          // neither may describing what it threw (a Symbol, an object without toString).
          let what;
          try {
            what = err && err.stack ? err.stack : String(err);
          } catch {
            what = Object.prototype.toString.call(err);
          }
          process.emitWarning(`framex: onProgress threw: ${what}`);
        }
      }
    : undefined;
  try {
    return JSON.parse(await native.extract(input, options, handle, progress));
  } catch (err) {
    return rethrow(err);
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * Extracts every clip of `composition` (a manifest object, or the path of a `.json` / `.html`
 * composition). Resolves with the result (contract §3); rejects with a `FramexInputError`
 * for unusable input and with the signal's `AbortError` when aborted (its `result` holds the
 * clips that finished; unfinished folders are removed).
 */
async function extract(composition, options = {}) {
  const { signal, onProgress, baseDir, ...rest } = options;
  signal?.throwIfAborted();
  let input;
  if (typeof composition === "string") input = { path: path.resolve(composition) };
  else if (composition && typeof composition === "object")
    input = { manifest: JSON.stringify(composition), baseDir: path.resolve(baseDir ?? process.cwd()) };
  else throw new FramexInputError("composition: expected a manifest object or a path to a .json / .html file");
  const result = await runNative(input, nativeOptions(rest), signal, onProgress);
  if (signal?.aborted) {
    const err = abortError(signal);
    try {
      err.result = result;
    } catch {
      // a frozen reason: the result is not attachable
    }
    throw err;
  }
  return result;
}

/** Probes a source's metadata (no decoding). */
async function probe(file) {
  try {
    return JSON.parse(await native.probe(path.resolve(file)));
  } catch (err) {
    return rethrow(err);
  }
}

const EXTENSIONS = { jpg: "jpg", jpeg: "jpg", png: "png" };

/**
 * Which frame file each clip of a result shows at a composition time — the answers of
 * `framex frame` (exact times: the lookup reads each clip's `timing` text).
 */
class FrameLookup {
  constructor(result) {
    if (!result || !Array.isArray(result.clips)) throw new FramexInputError("FrameLookup: expected an extraction result");
    this.clips = result.clips;
    this.native = new native.NativeLookup(JSON.stringify(result.clips.map((c) => c.timing)));
  }

  /** Every clip on screen at `t` seconds (number, or exact decimal / "num/den" text). */
  at(t) {
    let flat;
    try {
      flat = this.native.at(t);
    } catch (err) {
      return rethrow(err);
    }
    const out = [];
    for (let i = 0; i < flat.length; i += 3) {
      const clip = this.clips[flat[i]];
      const index = flat[i + 1];
      if (flat[i + 2] === 1) out.push({ id: clip.id, index, file: framePath(clip, index), extracted: true });
      // On screen, but outside what this (slice's) result extracted: no file to show.
      else out.push({ id: clip.id, index, file: null, extracted: false });
    }
    return out;
  }
}

/** One-shot form of {@link FrameLookup#at}. */
function lookup(result, t) {
  return new FrameLookup(result).at(t);
}

/**
 * The file name of 0-based frame `k`: `frame_00001.jpg` for 0 — the store layout's rule
 * (`framex::frame_file_name`), spelled here too because a result's paths are built thousands
 * at a time and a Node-API call per name costs more than the name (a test pins the two equal).
 */
function frameFileName(k, ext) {
  return `frame_${String(k + 1).padStart(5, "0")}.${ext}`;
}

/** Path of 0-based frame `k` of a result clip. */
function framePath(clip, k) {
  return path.join(clip.dir, frameFileName(k, EXTENSIONS[clip.format] || clip.format));
}

module.exports = { extract, probe, FrameLookup, lookup, framePath, frameFileName, FramexInputError, runNative, nativeOptions, fpsText };
