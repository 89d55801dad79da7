// Types of the `framex` package. The result types mirror the result JSON of framex's contract
// (docs/contract.md §3); field names are those of the JSON.

export {
  extractAllVideoFrames,
  type VideoElement,
  type FpsInput,
  type ExtractionOptions as HyperframesExtractionOptions,
  type ExtractionResult as HyperframesExtractionResult,
  type ExtractedFrames,
  type VideoMetadata,
  type VideoColorSpace,
  type VideoExtractionFailure,
  type VideoExtractionFailureKind,
  type ExtractionPhaseBreakdown,
  type ExtractionConfig,
} from "./hyperframes";

/** A frame rate: a number, exact `"num/den"` text or `{ num, den }`. */
export type Fps = number | string | { num: number; den: number };

/** One clip of a manifest (docs/contract.md §1). Times in seconds. */
export interface ManifestClip {
  id: string;
  /** Path relative to `baseDir`, an absolute path, or an `https://` URL. */
  src: string;
  start?: number;
  /** Omitted: the source's natural end. */
  end?: number;
  mediaStart?: number;
  loop?: boolean;
  /** 0.1–5. */
  playbackRate?: number;
  hasAudio?: boolean;
  /** Draw frames this many pixels wide (2–16384): height from the aspect, never upscaled (docs/contract.md §10). */
  width?: number;
  /** Draw frames this many pixels tall: width from the aspect, never upscaled. */
  height?: number;
  /** Draw frames within this box (`"640x360"` or `{ width, height }`), aspect kept, never upscaled. */
  fit?: string | DrawBox;
}

/** A box frames are drawn within, in pixels. */
export interface DrawBox {
  width: number;
  height: number;
}

/** A composition manifest (docs/contract.md §1). */
export interface Manifest {
  fps?: Fps;
  format?: "auto" | "jpg" | "png";
  quality?: number;
  tonemap?: boolean;
  timelineEnd?: number;
  videos: ManifestClip[];
}

export interface ProgressEvent {
  /** Output files that exist so far. */
  done: number;
  /** Output files the run will produce. */
  total: number;
  /** The source that wrote last, when known. */
  source?: string | null;
}

/** The options of `framex extract` (see its `--help`), plus `signal` and `onProgress`. */
export interface ExtractOptions {
  /** Folder receiving `<clipId>/frame_00001.<ext>` …; without it, frames stay in the store. */
  outDir?: string;
  /** Store folder, or `"off"` (then `outDir` is required). Default: `FRAMEX_CACHE_DIR`, else `~/.cache/framex`. */
  cacheDir?: string;
  /** Store size limit: bytes or text like `"2G"`. Default 2 GiB. */
  cacheMax?: number | string;
  /** Overrides the composition's rate. */
  fps?: Fps;
  format?: "auto" | "jpg" | "png";
  /** JPEG quality 1–100 (default 95). */
  quality?: number;
  /** Tone-map HDR sources to SDR. */
  tonemap?: boolean;
  /**
   * Draw every clip's frames within this box (`"1280x720"` or `{ width, height }`): scaled
   * down once per frame, aspect kept, never upscaled; with a clip's own `width` / `height` /
   * `fit` the smaller side wins (`--max-size`).
   */
  maxSize?: string | DrawBox;
  /** Worker threads; 0 or omitted = the number of cores. */
  jobs?: number;
  /** Seconds per source without progress, or `"off"`. Default 600. */
  sourceTimeout?: number | "off" | null;
  /** Largest remote source: bytes or text like `"500M"`. Default 2 GiB. */
  downloadMax?: number | string;
  /** Seconds for one whole download. Default 600. */
  downloadTimeout?: number;
  /** Seconds without a byte before a download fails. Default 30 (or `downloadTimeout` if shorter). */
  downloadStallTimeout?: number;
  /** For tests only: remote sources on loopback / private addresses and plain http. */
  allowPrivateNetwork?: boolean;
  /**
   * A timeline slice for render fleets: only the frames clips show at composition frames
   * `start ≤ n < end` (`framex extract --frames A..B`). Frame files keep their global numbers.
   */
  frames?: [number, number];
  /** The slice in seconds `[start, end)`: numbers or exact text (`--time S..E`); takes the place of `frames`. */
  time?: [number | string, number | string];
  /** Explicit per-clip frame index runs (HyperFrames' `frameRanges` shape); clips not named get none. */
  indices?: Record<string, { firstFrame: number; frames: number }[]>;
  /**
   * A second store tier shared by a render fleet: `s3://bucket/prefix` on any S3-compatible
   * service, or `"off"`/`null` for none. Frames and clip records missing locally come from it
   * before anything is decoded; what this run encodes is uploaded after publishing. Credentials,
   * region and endpoint come from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
   * `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP=true` (plain http) and `~/.aws/{credentials,config}`.
   * Its failures are `warnings`, never errors. Needs the local store. Default:
   * `process.env.FRAMEX_REMOTE_STORE`.
   */
  remoteStore?: string | null;
  /** Seconds the run waits, after publishing, for uploads to the remote tier. Default 30. */
  remoteFlushLimit?: number;
  /** Folder a manifest object's relative `src` paths resolve against. Default: `process.cwd()`. */
  baseDir?: string;
  /** Aborting stops the run promptly; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called on the JS thread, at most every 50 ms, never blocking the work. */
  onProgress?: (event: ProgressEvent) => void;
}

export interface ColorInfo {
  matrix: string;
  range: string;
  primaries: string;
  transfer: string;
}

/** A source's metadata (`framex probe`). */
export interface MediaInfo {
  codec: string;
  width: number;
  height: number;
  /** Size after rotation. */
  displayWidth: number;
  displayHeight: number;
  /** Clockwise degrees applied to show the picture upright. */
  rotation: number;
  pixelFormat: string;
  alpha: boolean;
  color: ColorInfo;
  hdr: "pq" | "hlg" | null;
  wideGamut: boolean;
  avgFrameRate: string;
  realFrameRate: string;
  vfr: boolean;
  /** Container duration, seconds. */
  duration: number;
  /** Playable length of the video stream (end of its last frame), seconds. */
  playableDuration: number;
  streamStart: number;
  frameCount: number;
  keyframeCount: number;
  timeBase: string;
  hasAudio: boolean;
}

/** Exact timing of a clip's frames; times are `"num/den"` text. */
export interface ClipTiming {
  id: string;
  start: string;
  end: string;
  mediaStart: string;
  rate: string;
  fps: string;
  frameCount: number;
  loopCycle: string | null;
  unrolled: boolean;
  /** The indices this result holds, when not every frame (a slice). */
  ranges?: [number, number][] | null;
}

export interface ClipFrames {
  id: string;
  src: string;
  /** Number of frame files in `dir`. */
  frames: number;
  /** The 0-based frame indices that exist, as half-open `[start, end)` runs (`[[0, n]]` for a whole clip). */
  ranges: [number, number][];
  dir: string;
  fps: number;
  format: "jpg" | "png";
  transform: "sdr2hdr-pq" | "sdr2hdr-hlg" | "hdr2sdr-hable-srgb" | null;
  /** The frames' size in pixels: the drawn size, else the source's upright size. */
  width: number;
  height: number;
  start: number;
  end: number;
  mediaStart: number;
  playbackRate: number;
  loop: boolean;
  metadata: MediaInfo;
  /** Served entirely from the store without decoding. */
  cached: boolean;
  timing: ClipTiming;
}

export type ErrorKind =
  | "source_missing"
  | "source_rejected"
  | "invalid_media"
  | "media_start_out_of_range"
  | "decode_failed"
  | "output_failed"
  | "download_failed"
  | "invalid_request"
  | "cancelled"
  | "internal";

export interface ClipError {
  id: string;
  kind: ErrorKind;
  retryable: boolean;
  message: string;
}

/** Milliseconds per phase and counters. */
export interface Breakdown {
  probeMs: number;
  planMs: number;
  decodeMs: number;
  convertMs: number;
  encodeMs: number;
  publishMs: number;
  gcMs: number;
  clipHits: number;
  clipMisses: number;
  framesDecoded: number;
  /** Decoded frames no clip shows, decoded only to reach one (keyframe lead-in); part of framesDecoded. */
  leadInFrames: number;
  framesEncoded: number;
  framesReused: number;
  framesLinked: number;
  framesSubstituted: number;
  /** Pictures converted SDR→HDR by the hand-written 8-bit path (no filter graph). */
  framesSdrToHdrFast: number;
  /** Pictures through a libavfilter colour graph (SDR→HDR the fast path does not take, tone-mapping). */
  framesColourFiltered: number;
  seeks: number;
  bytesWritten: number;
  gcEvictions: number;
  gcBytesFreed: number;
  tempsCleared: number;
  publishFailures: number;
  crossFsCopies: number;
  linkLimitCopies: number;
  downloads: number;
  downloadBytes: number;
  downloadMs: number;
  /** Remote store tier: clips whose record (and frames) it supplied, clips asked for in vain. */
  remoteClipHits: number;
  remoteClipMisses: number;
  /** Frames and bytes fetched from it (verified before they enter the local store). */
  remoteFramesDownloaded: number;
  remoteBytesDownloaded: number;
  /** Frames (in packed segments), objects and bytes uploaded to it. */
  remoteFramesUploaded: number;
  remoteObjectsUploaded: number;
  remoteBytesUploaded: number;
  /** Requests made to it. */
  remoteRequests: number;
  /** Phases in which it failed and the run carried on locally. */
  remoteFallbacks: number;
  /** Its objects refused as damaged or foreign. */
  remoteDamaged: number;
  /** Objects not uploaded when the flush limit ran out (or the tier failed). */
  remotePending: number;
  remoteMs: number;
  remoteFlushMs: number;
}

/** The result of {@link extract} (docs/contract.md §3). */
export interface ExtractionResult {
  success: boolean;
  clips: ClipFrames[];
  errors: ClipError[];
  /** Problems that failed no clip (e.g. an unwritable store: ran uncached). */
  warnings: string[];
  totalFrames: number;
  durationMs: number;
  breakdown: Breakdown;
}

/** Input framex refused (an unreadable composition, a bad option); the message names the field. */
export declare class FramexInputError extends Error {
  readonly code: "ERR_FRAMEX_INPUT";
}

/**
 * Extracts every clip of `composition` — a manifest object or the path of a `.json` / `.html`
 * composition — off the JS thread. Never rejects for a bad clip (each clip has frames or an
 * error); rejects with {@link FramexInputError} for unusable input, and with the signal's
 * reason (an `AbortError`, whose `result` holds the finished clips) when aborted.
 */
export declare function extract(composition: Manifest | string, options?: ExtractOptions): Promise<ExtractionResult>;

/** A source's metadata, without decoding. */
export declare function probe(path: string): Promise<MediaInfo>;

export interface FrameAt {
  id: string;
  /** 0-based frame index. */
  index: number;
  /** The frame's file; `null` when this result (a slice's) did not extract it. */
  file: string | null;
  extracted: boolean;
}

/** Which frame file each clip of a result shows at a composition time (`framex frame`). */
export declare class FrameLookup {
  constructor(result: ExtractionResult);
  /** Clips on screen at `t` seconds (a number, or exact decimal / `"num/den"` text), in clip order. */
  at(t: number | string): FrameAt[];
}

/** `new FrameLookup(result).at(t)`. */
export declare function lookup(result: ExtractionResult, t: number | string): FrameAt[];

/** Path of 0-based frame `k` of a result clip. */
export declare function framePath(clip: ClipFrames, k: number): string;
