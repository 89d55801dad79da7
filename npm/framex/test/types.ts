// Compiled (not run) by types.test.mjs: the declarations cover every export, and the drop-in's
// types are assignable to and from @hyperframes/engine 0.8.33's own.
import * as hf from "@hyperframes/engine";
import {
  extract,
  probe,
  lookup,
  FrameLookup,
  framePath,
  FramexInputError,
  extractAllVideoFrames,
  type ExtractionResult,
  type ExtractOptions,
  type Manifest,
  type MediaInfo,
  type FrameAt,
  type HyperframesExtractionResult,
} from "framex";
import * as dropIn from "framex/hyperframes";

async function own(): Promise<void> {
  const manifest: Manifest = {
    fps: { num: 30000, den: 1001 },
    videos: [
      { id: "a", src: "a.mp4", end: 2 },
      { id: "b", src: "a.mp4", width: 640, fit: { width: 640, height: 360 } },
      { id: "c", src: "a.mp4", height: 360, fit: "640x360" },
    ],
  };
  const options: ExtractOptions = {
    outDir: "frames",
    cacheDir: "off",
    cacheMax: "2G",
    format: "png",
    frames: [0, 30],
    maxSize: { width: 1280, height: 720 },
    signal: AbortSignal.timeout(1000),
    onProgress: ({ done, total, source }) => console.log(done, total, source ?? ""),
  };
  const r: ExtractionResult = await extract(manifest, options);
  const fromPath: ExtractionResult = await extract("comp.html");
  const info: MediaInfo = await probe("a.mp4");
  const at: FrameAt[] = new FrameLookup(r).at(1.5);
  const once: FrameAt[] = lookup(fromPath, "1001/30000");
  const file: string = framePath(r.clips[0], at[0].index);
  const ranges: [number, number][] = r.clips[0].ranges;
  const drawn: [number, number] = [r.clips[0].width, r.clips[0].height];
  const boxed: ExtractOptions = { maxSize: "640x360" };
  const e = new FramexInputError("x");
  const code: "ERR_FRAMEX_INPUT" = e.code;
  console.log(info.codec, once.length, file, ranges, code, r.breakdown.framesDecoded, drawn, boxed);
}

async function swap(): Promise<void> {
  // The call shape: framex's function where HyperFrames' is expected, and back.
  const asEngine: typeof hf.extractAllVideoFrames = extractAllVideoFrames;
  const asFramex: typeof dropIn.extractAllVideoFrames = hf.extractAllVideoFrames;
  const videos: hf.VideoElement[] = [{ id: "v", src: "a.mp4", start: 0, end: Infinity, mediaStart: 0, loop: false, hasAudio: false }];
  const result: hf.ExtractionResult = await asEngine(videos, ".", { fps: 30, outputDir: "out" }, undefined, { extractCacheDir: "c" });
  const back: HyperframesExtractionResult = result;
  const table: hf.FrameLookupTable = hf.createFrameLookupTable(videos, (await dropIn.extractAllVideoFrames(videos, ".", { fps: 30, outputDir: "o" })).extracted);
  console.log(asFramex, back.phaseBreakdown.cacheHits, table);
}

void own;
void swap;
