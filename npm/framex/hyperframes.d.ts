// Types of the HyperFrames drop-in: the shapes of `@hyperframes/engine` 0.8.33's
// `extractAllVideoFrames` (structurally identical, so values pass between the two).

export type FpsInput = number | { num: number; den: number };

export interface VideoElement {
  id: string;
  src: string;
  start: number;
  /** `Infinity`: the source's natural end. */
  end: number;
  mediaStart: number;
  playbackRate?: number;
  loop: boolean;
  hasAudio: boolean;
}

export type VideoFrameFormat = "auto" | "jpg" | "png";

export interface ExtractionOptions {
  fps: FpsInput;
  /** Uncached runs write `<outputDir>/<videoId>/frame_00001.<ext>` …. */
  outputDir: string;
  quality?: number;
  format?: VideoFrameFormat;
  /** Accepted for compatibility; framex decides SDR→HDR from the sources. */
  sdrToHdrTransfer?: "pq" | "hlg";
  /** Accepted for compatibility (HyperFrames-internal). */
  finalFrameOnly?: boolean;
  /** Composition end, seconds; must be finite. */
  timelineEnd?: number;
  /** Accepted for compatibility; framex retries nothing itself. */
  maxTransientRetries?: number;
  /** Accepted for compatibility; framex always reports probe failures per video. */
  collectProbeFailures?: boolean;
}

export interface VideoColorSpace {
  colorTransfer: string;
  colorPrimaries: string;
  colorSpace: string;
}

export interface VideoMetadata {
  durationSeconds: number;
  videoStreamDurationSeconds: number;
  videoStreamStartSeconds?: number;
  width: number;
  height: number;
  fps: number;
  videoCodec: string;
  hasAudio: boolean;
  isVFR: boolean;
  hasAlpha: boolean;
  colorSpace: VideoColorSpace | null;
  frames?: number;
}

export interface ExtractedFrames {
  videoId: string;
  srcPath: string;
  outputDir: string;
  framePattern: string;
  fps: number;
  totalFrames: number;
  metadata: VideoMetadata;
  /** 0-based index (as HyperFrames' `FrameLookupTable` computes it) → absolute path. */
  framePaths: Map<number, string>;
  /** True for frames in the store: render cleanup must not delete `outputDir`. */
  ownedByLookup?: boolean;
}

export type VideoExtractionFailureKind =
  | "cancelled"
  | "external_interruption"
  | "source_missing"
  | "source_rejected"
  | "download_not_found"
  | "download_transient"
  | "invalid_media"
  | "media_start_out_of_range"
  | "ffmpeg_unavailable"
  | "ffmpeg_timeout"
  | "ffmpeg_transient"
  | "ffmpeg_failed"
  | "zero_output"
  | "internal";

export interface VideoExtractionFailure {
  videoId: string;
  kind?: VideoExtractionFailureKind;
  retryable?: boolean;
  error: string;
}

export interface ExtractionPhaseBreakdown {
  resolveMs: number;
  cachePublishFailures: number;
  cacheGcEvictions: number;
  cacheGcBytesFreed: number;
  cacheAgedPartialsCleared: number;
  hdrProbeMs: number;
  hdrPreflightMs: number;
  hdrPreflightCount: number;
  vfrProbeMs: number;
  vfrPreflightMs: number;
  vfrPreflightCount: number;
  extractMs: number;
  cacheHits: number;
  cacheMisses: number;
  transientRetries?: number;
}

export interface ExtractionResult {
  success: boolean;
  extracted: ExtractedFrames[];
  errors: VideoExtractionFailure[];
  totalFramesExtracted: number;
  durationMs: number;
  phaseBreakdown: ExtractionPhaseBreakdown;
}

/** The engine config fields the call reads (as `Partial<Pick<EngineConfig, …>>`). */
export interface ExtractionConfig {
  /** Milliseconds; framex uses it as the per-source limit without progress. */
  ffmpegProcessTimeout?: number;
  /** Store folder (`off` / `none` / `false` / `0`: uncached). Without it, `HYPERFRAMES_EXTRACT_CACHE_DIR`. */
  extractCacheDir?: string;
  /** Store size limit. Without it, `HYPERFRAMES_EXTRACT_CACHE_MAX_MB`, else 2 GiB. */
  extractCacheMaxBytes?: number;
}

/**
 * Drop-in for `extractAllVideoFrames` of `@hyperframes/engine` 0.8.33: same parameters, same
 * result; `videos` gets the resolved `start` / `end` / `mediaStart`. Where framex differs on
 * purpose (display-time sampling, a bad source fails only its own videos) is listed in
 * docs/hyperframes-differences.md.
 */
export declare function extractAllVideoFrames(
  videos: VideoElement[],
  baseDir: string,
  options: ExtractionOptions,
  signal?: AbortSignal,
  config?: ExtractionConfig,
  compiledDir?: string,
): Promise<ExtractionResult>;

/** HyperFrames' source resolution (`resolveProjectRelativeSrc`). */
export declare function resolveProjectRelativeSrc(src: string, baseDir: string, compiledDir?: string): string;
