// The drop-in against the real thing: the same compositions through `@hyperframes/engine`
// 0.8.33's `extractAllVideoFrames` and through framex's, compared field by field, and
// HyperFrames' own `createFrameLookupTable` and coverage gate run over framex's result.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";

import * as hf from "@hyperframes/engine";
import * as hfCore from "@hyperframes/core";

import { extractAllVideoFrames } from "../hyperframes.mjs";
import { FrameLookup } from "../index.mjs";
import {
  alphaWebm,
  cfr24,
  cfr30,
  expectedFrame,
  folderRasters,
  frameTimes,
  nearest,
  short3,
  sourceRasters,
  tempDir,
  vfr,
} from "./helpers.mjs";

/**
 * HyperFrames' coverage gate (`computeVideoFrameCoverage` / `assertVideoFrameCoverage`): the
 * producer does not export it, so its own code is taken from the installed package and run
 * with the engine's and core's exports it calls.
 */
function loadCoverageGate() {
  const file = fileURLToPath(import.meta.resolve("@hyperframes/producer"));
  const text = fs.readFileSync(file, "utf8");
  const start = text.indexOf("var SHORT_CLIP_ONE_FRAME_TOLERANCE_MIN_EXPECTED_FRAMES");
  const end = text.indexOf("function countAuthoredTimedClips", start);
  assert.ok(start > 0 && end > start, "the coverage gate's code was not found in @hyperframes/producer");
  const body = text.slice(start, end);
  const make = new Function(
    "fpsToNumber",
    "toFps",
    "extractionFrameCountForDuration",
    "normalizePlaybackRate",
    "resolvePlayableVideoDuration",
    `${body}\nreturn { computeVideoFrameCoverage, assertVideoFrameCoverage };`,
  );
  return make(hfCore.fpsToNumber, hfCore.toFps, hf.extractionFrameCountForDuration, hfCore.normalizePlaybackRate, hf.resolvePlayableVideoDuration);
}

const FPS = 30;
const TIMELINE_END = 8;

/** The scenarios: the seed's (trims, mediaStart, VFR, alpha, duplicates) plus loop, preroll, held tail, 2× rate, a missing file. */
function scenario(dir) {
  for (const [name, make] of [["cfr30.mp4", cfr30], ["cfr24.mp4", cfr24], ["short3.mp4", short3], ["vfr.mp4", vfr], ["alpha.webm", alphaWebm]]) {
    const dest = path.join(dir, "media", name);
    if (!fs.existsSync(dest)) {
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(make(), dest);
    }
  }
  const v = (id, src, start, end, extra = {}) => ({ id, src: `media/${src}`, start, end, mediaStart: 0, loop: false, hasAudio: false, ...extra });
  return [
    v("plain", "cfr30.mp4", 0, 3),
    v("trim", "cfr30.mp4", 1, 4, { mediaStart: 2 }),
    v("dupe", "cfr30.mp4", 1, 4, { mediaStart: 2 }),
    v("ntsc", "cfr24.mp4", 0.5, 3.5, { mediaStart: 1 }),
    v("loop", "short3.mp4", 0, 7, { loop: true }),
    v("preroll", "cfr30.mp4", -2, 3),
    v("held", "short3.mp4", 3, 8),
    v("fast", "cfr30.mp4", 2, 4, { playbackRate: 2 }),
    v("vfr", "vfr.mp4", 0, 4, { mediaStart: 0.5 }),
    v("alpha", "alpha.webm", 4, 6),
    v("natural", "short3.mp4", 5, Infinity),
    v("missing", "nope.mp4", 0, 2),
  ];
}

const clone = (videos) => videos.map((v) => ({ ...v }));
const keys = (o) => Object.keys(o).filter((k) => o[k] !== undefined).sort();

let both;
/**
 * The scenarios through both engines, uncached, once for the tests that compare them (each
 * engine's run costs seconds): results and the elements each one mutated.
 */
function bothEngines() {
  both ??= (async () => {
    const dir = tempDir("hf-both");
    const base = scenario(dir);
    const oursVideos = clone(base);
    const theirsVideos = clone(base);
    const options = (name) => ({ fps: FPS, outputDir: path.join(dir, name), timelineEnd: TIMELINE_END, collectProbeFailures: true });
    const ours = await extractAllVideoFrames(oursVideos, dir, options("fx"));
    const theirs = await hf.extractAllVideoFrames(theirsVideos, dir, options("hf"));
    return { dir, base, oursVideos, theirsVideos, ours, theirs };
  })();
  return both;
}

test("the drop-in's result has HyperFrames' shape, ids, errors and element mutations", async (t) => {
  const { dir, oursVideos, theirsVideos, ours, theirs } = await bothEngines();

  assert.deepEqual(keys(ours), keys(theirs));
  assert.deepEqual(keys(ours.phaseBreakdown), keys(theirs.phaseBreakdown));
  assert.deepEqual(ours.extracted.map((e) => e.videoId), theirs.extracted.map((e) => e.videoId));
  assert.deepEqual(ours.errors.map((e) => [e.videoId, e.kind, e.retryable]), theirs.errors.map((e) => [e.videoId, e.kind, e.retryable]));
  assert.equal(ours.success, false);
  assert.equal(ours.totalFramesExtracted, ours.extracted.reduce((n, e) => n + e.totalFrames, 0));
  for (const [i, e] of ours.extracted.entries()) {
    const h = theirs.extracted[i];
    assert.deepEqual(keys(e), keys(h), e.videoId);
    // `frames` is optional in HyperFrames' type (ffprobe's nb_frames; WebM has none); framex
    // always knows the count from its packet index and reports it.
    assert.deepEqual(keys(e.metadata).filter((k) => k !== "frames" || h.metadata.frames !== undefined), keys(h.metadata), `${e.videoId} metadata`);
    for (const k of ["width", "height", "fps", "videoCodec", "hasAudio", "isVFR", "hasAlpha"]) {
      assert.equal(e.metadata[k], h.metadata[k], `${e.videoId} metadata.${k}`);
    }
    if (h.metadata.frames !== undefined) assert.equal(e.metadata.frames, h.metadata.frames, `${e.videoId} metadata.frames`);
    assert.ok(Math.abs(e.metadata.videoStreamDurationSeconds - h.metadata.videoStreamDurationSeconds) < 0.05, `${e.videoId} stream duration`);
    assert.equal(e.framePattern, h.framePattern, e.videoId);
    assert.equal(e.fps, h.fps);
    assert.equal(e.srcPath, h.srcPath);
    assert.equal(e.outputDir, path.join(dir, "fx", e.videoId)); // uncached: outputDir/<id>, as HyperFrames
    assert.equal(e.ownedByLookup, h.ownedByLookup);
    assert.ok(e.framePaths instanceof Map);
    assert.equal(e.totalFrames, e.framePaths.size);
    for (const [k, p] of e.framePaths) {
      assert.ok(Number.isInteger(k) && k >= 0);
      assert.ok(fs.existsSync(p), p);
    }
    // Frame counts within one frame of HyperFrames' where both sample the same span.
    t.diagnostic(`${e.videoId}: framex ${e.totalFrames} keys, HyperFrames ${h.totalFrames}`);
  }
  // The elements are resolved the way HyperFrames resolves them (loops keep their phase in
  // HyperFrames' own representation: the authored start).
  for (const [i, v] of oursVideos.entries()) {
    const h = theirsVideos[i];
    for (const k of ["start", "end", "mediaStart"]) {
      assert.ok(Math.abs(v[k] - h[k]) < 1e-3 || (v[k] === Infinity && h[k] === Infinity), `${v.id}.${k}: framex ${v[k]}, HyperFrames ${h[k]}`);
    }
  }
});

test("HyperFrames' own FrameLookupTable over framex's result shows the display-time frame at every output time", async (t) => {
  const { dir, base, oursVideos, theirsVideos, ours, theirs } = await bothEngines();
  const table = hf.createFrameLookupTable(oursVideos, ours.extracted);
  const theirTable = hf.createFrameLookupTable(theirsVideos, theirs.extracted);

  const byId = new Map(base.map((v) => [v.id, v]));
  const rastersOf = new Map();
  const identify = (file, sources) => {
    const dirName = path.dirname(file);
    if (!rastersOf.has(dirName)) rastersOf.set(dirName, folderRasters(dirName, path.extname(file).slice(1)));
    const k = Number(/frame_(\d+)\./.exec(path.basename(file))[1]) - 1;
    return nearest(rastersOf.get(dirName)[k], sources);
  };
  let checked = 0;
  let differ = 0;
  for (let n = 0; n <= TIMELINE_END * FPS; n++) {
    const time = n / FPS;
    const active = table.getActiveFrames(time);
    const theirActive = theirTable.getActiveFrames(time);
    for (const v of oursVideos) {
      const authored = byId.get(v.id);
      const visible = time >= Math.max(0, authored.start) && time <= Math.min(authored.end, TIMELINE_END) && v.id !== "missing";
      const file = active.get(v.id);
      if (!visible) continue;
      assert.ok(file, `${v.id} at ${time}: no frame`);
      assert.ok(fs.existsSync(file), file);
      const src = path.join(dir, authored.src);
      const times = frameTimes(src);
      const sources = sourceRasters(src);
      const got = identify(file, sources);
      // The display-time rule on the authored clip: media time mediaStart + (t − start)·rate,
      // looped within the source, held at the last frame.
      const rate = authored.playbackRate ?? 1;
      // At the inclusive end instant (one sample past the last) a clip shows its last frame.
      const samples = Math.ceil((Math.min(authored.end, TIMELINE_END) - Math.max(0, authored.start)) * FPS - 1e-9);
      const k0 = Math.round((time - Math.max(0, authored.start)) * FPS) + Math.round((Math.max(0, authored.start) - authored.start) * FPS);
      const k = authored.loop ? k0 : Math.min(k0, samples - 1 + Math.round((Math.max(0, authored.start) - authored.start) * FPS));
      const m = authored.mediaStart + (k * rate) / FPS;
      const playable = times.duration;
      const want = authored.loop
        ? expectedFrame(times, { fps: FPS, loopCycle: playable }, k)
        : Math.min(expectedFrame(times, { mediaStart: authored.mediaStart, rate, fps: FPS }, k), times.length - 1);
      assert.equal(got, want, `${v.id} at t=${time.toFixed(4)} (media ${m.toFixed(4)}): shows source frame ${got}, display time says ${want}`);
      checked++;
      const theirs = theirActive.get(v.id);
      if (theirs && identify(theirs, sources) !== got) differ++;
    }
  }
  t.diagnostic(`${checked} (time, clip) answers checked; HyperFrames' own frame differs (round=near / -fps_mode cfr) in ${differ}`);
  assert.ok(checked > 1000);
});

test("HyperFrames' coverage gate passes on framex's result", async () => {
  const dir = tempDir("hf-coverage");
  const videos = clone(scenario(dir));
  const res = await extractAllVideoFrames(videos, dir, { fps: FPS, outputDir: path.join(dir, "fx"), timelineEnd: TIMELINE_END });
  const gate = loadCoverageGate();
  const reports = gate.computeVideoFrameCoverage(videos.filter((v) => v.id !== "missing"), res.extracted, FPS);
  for (const r of reports) assert.ok(r.ratio >= 0.95, `${r.videoId}: ${r.capturedFrames} of ${r.expectedFrames}`);
  gate.assertVideoFrameCoverage(reports, 0.95);
});

test("cache: config.extractCacheDir and HYPERFRAMES_EXTRACT_CACHE_DIR, hits on the second call", async () => {
  const dir = tempDir("hf-cache");
  const store = path.join(dir, "store");
  const base = scenario(dir).filter((v) => v.id !== "missing");
  const options = { fps: FPS, outputDir: path.join(dir, "fx"), timelineEnd: TIMELINE_END };
  const first = await extractAllVideoFrames(clone(base), dir, options, undefined, { extractCacheDir: store });
  assert.equal(first.success, true, JSON.stringify(first.errors));
  assert.equal(first.phaseBreakdown.cacheHits, 0);
  assert.ok(first.phaseBreakdown.cacheMisses > 0);
  for (const e of first.extracted) {
    assert.equal(e.ownedByLookup, true);
    assert.ok(e.outputDir.startsWith(store), e.outputDir);
  }
  assert.ok(!fs.existsSync(path.join(dir, "fx", "plain")), "a cached run writes nothing under outputDir");
  const videos = clone(base);
  const second = await extractAllVideoFrames(videos, dir, options, undefined, { extractCacheDir: store });
  assert.equal(second.phaseBreakdown.cacheMisses, 0);
  assert.equal(second.phaseBreakdown.cacheHits, base.length);
  assert.deepEqual(
    second.extracted.map((e) => [e.videoId, e.totalFrames, e.framePaths.get(0)]),
    first.extracted.map((e) => [e.videoId, e.totalFrames, e.framePaths.get(0)]),
  );
  // The environment, as the producer's resolveConfig() would fill config from it.
  process.env.HYPERFRAMES_EXTRACT_CACHE_DIR = store;
  try {
    const env = await extractAllVideoFrames(clone(base), dir, options);
    assert.equal(env.phaseBreakdown.cacheHits, base.length);
    process.env.HYPERFRAMES_EXTRACT_CACHE_DIR = "off";
    const off = await extractAllVideoFrames(clone(base), dir, { ...options, outputDir: path.join(dir, "off") });
    assert.ok(!off.extracted[0].ownedByLookup);
    assert.ok(fs.existsSync(path.join(dir, "off", "plain", "frame_00001.jpg")));
  } finally {
    delete process.env.HYPERFRAMES_EXTRACT_CACHE_DIR;
  }
  // A cache folder that cannot be made: a warning, and the render goes on uncached.
  const blocker = path.join(dir, "file");
  fs.writeFileSync(blocker, "");
  const fallback = await extractAllVideoFrames(clone(base).slice(0, 1), dir, { ...options, outputDir: path.join(dir, "fb") }, undefined, {
    extractCacheDir: path.join(blocker, "sub"),
  });
  assert.equal(fallback.success, true);
  assert.ok(!fallback.extracted[0].ownedByLookup);
});

test("cancel: an aborted signal rejects up front; an abort mid-run reports `cancelled` per video", async () => {
  const dir = tempDir("hf-cancel");
  const base = scenario(dir).filter((v) => v.id !== "missing");
  const options = { fps: FPS, outputDir: path.join(dir, "fx"), timelineEnd: TIMELINE_END, format: "png" };
  await assert.rejects(extractAllVideoFrames(clone(base), dir, options, AbortSignal.abort()), /Video frame extraction cancelled/);
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 30);
  const res = await extractAllVideoFrames(clone(base), dir, options, ac.signal);
  assert.equal(res.success, false);
  assert.ok(res.errors.length > 0, "nothing was cancelled (the run finished within 30 ms?)");
  for (const e of res.errors) {
    assert.equal(e.kind, "cancelled");
    assert.ok(!fs.existsSync(path.join(dir, "fx", e.videoId)), `partial folder of ${e.videoId}`);
  }
  await assert.rejects(
    extractAllVideoFrames(clone(base), dir, { ...options, timelineEnd: Infinity }),
    /timelineEnd must be finite/,
  );
});

test("framex's own lookup and the drop-in's framePaths agree", async () => {
  const dir = tempDir("hf-agree");
  const base = scenario(dir).filter((v) => v.id !== "missing" && v.id !== "loop");
  const videos = clone(base);
  const res = await extractAllVideoFrames(videos, dir, { fps: FPS, outputDir: path.join(dir, "fx"), timelineEnd: TIMELINE_END });
  const table = hf.createFrameLookupTable(videos, res.extracted);
  // framex's FrameLookup over the same clips, through the native result of the same run.
  const { extract } = await import("../index.mjs");
  const manifest = {
    fps: FPS,
    timelineEnd: TIMELINE_END,
    videos: base.map((v) => ({ ...v, end: Number.isFinite(v.end) ? v.end : undefined, src: path.join(dir, v.src) })),
  };
  const native = await extract(manifest, { cacheDir: "off", outDir: path.join(dir, "own") });
  const fl = new FrameLookup(native);
  for (let n = 0; n <= TIMELINE_END * FPS; n++) {
    const time = n / FPS;
    const theirs = table.getActiveFrames(time);
    for (const { id, file } of fl.at(`${n}/${FPS}`)) {
      assert.equal(path.basename(theirs.get(id) ?? "none"), path.basename(file), `${id} at ${time}`);
    }
  }
});

test("edge cases: relative baseDir, off-microsecond starts, long prerolls, empty and reversed windows", async () => {
  const dir = tempDir("hf-edges");
  scenario(dir); // copies the media
  const v = (id, src, start, end, extra = {}) => ({ id, src: `media/${src}`, start, end, mediaStart: 0, loop: false, hasAudio: false, ...extra });
  const base = [
    v("grid", "cfr30.mp4", 2 / 30, 1), // a start on the frame grid that is no whole microsecond
    v("longpre", "short3.mp4", -4, 6), // a preroll longer than the 3 s source: its held tail
    v("tiny", "cfr30.mp4", 1.0000001, 1.0000004), // nothing visible at microsecond precision
    v("reversed", "short3.mp4", 2, 1), // end before start: HyperFrames plays the natural duration
  ];
  const options = { fps: FPS, outputDir: path.join(dir, "fx"), timelineEnd: TIMELINE_END };
  const ours = clone(base);
  const theirs = clone(base);
  // A baseDir relative to the working folder, as a CLI passes it.
  const res = await extractAllVideoFrames(ours, path.relative(process.cwd(), dir), options);
  const ref = await hf.extractAllVideoFrames(theirs, dir, { ...options, outputDir: path.join(dir, "hf") });
  assert.equal(res.success, true, JSON.stringify(res.errors));
  assert.deepEqual(res.extracted.map((e) => e.videoId), ref.extracted.map((e) => e.videoId));
  // A window shorter than a microsecond still gets its one frame, as in HyperFrames.
  assert.equal(res.extracted.find((e) => e.videoId === "tiny").totalFrames, 1);
  const gate = loadCoverageGate();
  const reports = gate.computeVideoFrameCoverage(ours, res.extracted, FPS);
  gate.assertVideoFrameCoverage(reports, 0.95);
  const table = hf.createFrameLookupTable(ours, res.extracted);
  const own = new FrameLookup(
    await (await import("../index.mjs")).extract(
      {
        fps: FPS,
        timelineEnd: TIMELINE_END,
        videos: base
          .filter((b) => b.id !== "tiny")
          .map((b) => ({ ...b, src: path.join(dir, b.src), end: b.end > b.start ? b.end : undefined })),
        // ("tiny" is left out: framex's own manifest refuses a window under a microsecond)
      },
      { cacheDir: "off", outDir: path.join(dir, "own") },
    ),
  );
  for (let n = 0; n <= TIMELINE_END * FPS; n++) {
    const got = table.getActiveFrames(n / FPS);
    for (const { id, file } of own.at(`${n}/${FPS}`)) {
      assert.equal(path.basename(got.get(id) ?? "none"), path.basename(file), `${id} at frame ${n}`);
    }
  }
  // The held-tail element is resolved inside the source, as HyperFrames resolves it.
  const held = ours.find((x) => x.id === "longpre");
  assert.ok(held.mediaStart < 3 && held.mediaStart > 2.99, `mediaStart ${held.mediaStart}`);
});
