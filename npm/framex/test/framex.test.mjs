// framex's own Node API: extract, probe, FrameLookup / lookup, cancel, progress, concurrency.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import * as framex from "../index.mjs";
import cjs from "../index.cjs";
import {
  alphaWebm,
  cfr24,
  cfr30,
  expectedFrame,
  frameFiles,
  frameTimes,
  identify,
  long720,
  median,
  short3,
  sourceRasters,
  tempDir,
  vfr,
  walk,
} from "./helpers.mjs";

const { extract, probe, lookup, FrameLookup, FramexInputError, framePath } = framex;
const here = path.dirname(fileURLToPath(import.meta.url));

/** Checks that output sample k of `clip` shows the source frame the display-time rule picks. */
function assertFramesRight(clip, src, timing, samples) {
  const times = frameTimes(src);
  const sources = sourceRasters(src);
  for (const k of samples) {
    const got = identify(framePath(clip, k), sources);
    const want = expectedFrame(times, timing, k);
    assert.equal(got, want, `${clip.id} frame ${k}: shows source frame ${got}, the display-time rule says ${want}`);
  }
}

test("ESM and CommonJS entries export the same functions", () => {
  for (const name of ["extract", "probe", "lookup", "FrameLookup", "framePath", "FramexInputError", "extractAllVideoFrames"]) {
    assert.equal(typeof framex[name], "function", name);
    assert.equal(cjs[name], framex[name], name);
  }
});

test("extract: a manifest object gives the right frames, counts and per-clip errors", async () => {
  const work = tempDir("extract");
  const a = cfr30();
  const b = cfr24();
  const manifest = {
    fps: 30,
    videos: [
      { id: "trim", src: a, start: 0, end: 2, mediaStart: 3 },
      { id: "slow", src: b, start: 1, end: 3, playbackRate: 0.5 },
      { id: "loop", src: short3(), start: 0, end: 7, loop: true },
      { id: "gone", src: path.join(work, "missing.mp4"), start: 0, end: 1 },
    ],
  };
  const res = await extract(manifest, { outDir: path.join(work, "out"), cacheDir: path.join(work, "store") });
  assert.equal(res.success, false);
  assert.deepEqual(res.errors.map((e) => [e.id, e.kind]), [["gone", "source_missing"]]);
  const byId = Object.fromEntries(res.clips.map((c) => [c.id, c]));
  assert.equal(byId.trim.frames, 60);
  assert.equal(byId.slow.frames, 60);
  assert.equal(byId.loop.frames, 210);
  assert.equal(res.totalFrames, 330);
  for (const c of res.clips) {
    assert.equal(c.dir, path.join(work, "out", c.id));
    assert.equal(frameFiles(c.dir).length, c.frames);
    assert.equal(c.format, "jpg");
  }
  assertFramesRight(byId.trim, a, { mediaStart: 3, fps: 30 }, [0, 1, 29, 30, 59]);
  assertFramesRight(byId.slow, b, { rate: 0.5, fps: 30 }, [0, 1, 2, 3, 30, 59]);
  assertFramesRight(byId.loop, short3(), { fps: 30, loopCycle: 3 }, [0, 89, 90, 91, 180, 209]);
  assert.ok(!fs.existsSync(path.join(work, "out", "gone")));
});

test("extract: a .json path and an .html path are read by extension", async () => {
  const work = tempDir("paths");
  fs.copyFileSync(cfr30(), path.join(work, "clip.mp4"));
  fs.writeFileSync(path.join(work, "comp.json"), JSON.stringify({ fps: 30, videos: [{ id: "j", src: "clip.mp4", start: 0, end: 1 }] }));
  fs.writeFileSync(
    path.join(work, "index.html"),
    `<!doctype html><div data-composition-id="c" data-duration="2"><video id="h" src="clip.mp4" data-start="0" data-duration="0.5"></video></div>`,
  );
  const j = await extract(path.join(work, "comp.json"), { cacheDir: path.join(work, "store") });
  assert.deepEqual(j.clips.map((c) => [c.id, c.frames]), [["j", 30]]);
  const h = await extract(path.join(work, "index.html"), { cacheDir: path.join(work, "store") });
  assert.deepEqual(h.clips.map((c) => [c.id, c.frames]), [["h", 15]]);
  // No outDir: frames stay in the store, and they are the same bytes as the JSON run's.
  assert.ok(h.clips[0].dir.startsWith(path.join(work, "store")));
  assert.deepEqual(fs.readFileSync(framePath(h.clips[0], 7)), fs.readFileSync(framePath(j.clips[0], 7)));
});

test("extract: alpha and VFR sources", async () => {
  const work = tempDir("alpha");
  const res = await extract(
    {
      fps: 30,
      videos: [
        { id: "alpha", src: alphaWebm(), start: 0, end: 2 },
        { id: "vfr", src: vfr(), start: 0, end: 4, mediaStart: 0.5 },
      ],
    },
    { outDir: path.join(work, "out"), cacheDir: "off" },
  );
  assert.equal(res.success, true, JSON.stringify(res.errors));
  const [alpha, v] = res.clips;
  assert.equal(alpha.format, "png");
  assert.equal(alpha.metadata.alpha, true);
  assert.match(execFileSync("ffprobe", ["-v", "error", "-show_entries", "stream=pix_fmt", "-of", "csv=p=0", framePath(alpha, 10)], { encoding: "utf8" }), /rgba/);
  assertFramesRight(alpha, alphaWebm(), { fps: 30 }, [0, 10, 59]);
  assert.equal(v.metadata.vfr, true);
  // Samples inside a gap show the last frame before it (display time), not a later one.
  assertFramesRight(v, vfr(), { mediaStart: 0.5, fps: 30 }, [0, 14, 15, 16, 44, 45, 60, 119]);
});

test("extract: unusable input rejects with FramexInputError naming the field", async () => {
  await assert.rejects(extract({ fps: 30, videos: [{ id: "../x", src: "a.mp4", start: 0, end: 1 }] }, { cacheDir: "off", outDir: tempDir("bad") }), (e) => {
    assert.ok(e instanceof FramexInputError);
    assert.equal(e.code, "ERR_FRAMEX_INPUT");
    assert.match(e.message, /id/);
    return true;
  });
  await assert.rejects(extract({ fps: 30, videos: [] }, { cacheDir: "off" }), /outDir is required/);
  await assert.rejects(extract({ fps: 30, videos: [], bogus: 1 }, { cacheDir: "off", outDir: tempDir("bad") }), /bogus/);
  await assert.rejects(extract("/nonexistent/comp.json"), FramexInputError);
  await assert.rejects(extract(42), FramexInputError);
  await assert.rejects(extract({ videos: [] }, { cacheDir: "off", outDir: tempDir("bad"), quality: 0 }), /quality/);
  await assert.rejects(extract({ videos: [] }, { cacheDir: "off", outDir: tempDir("bad"), cacheMax: "lots" }), /cacheMax/);
});

test("drawn sizes: clip width / fit and maxSize scale the frames, never up", async () => {
  const work = tempDir("drawn");
  const src = cfr30(); // 320x180
  const manifest = {
    fps: 30,
    videos: [
      { id: "w", src, end: 0.5, width: 160 },
      { id: "fit", src, end: 0.5, fit: { width: 100, height: 100 } },
      { id: "big", src, end: 0.5, width: 1000 },
    ],
  };
  const dims = (file) =>
    execFileSync("ffprobe", ["-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0", file]).toString().trim();
  const res = await extract(manifest, { outDir: path.join(work, "out"), cacheDir: path.join(work, "store") });
  const size = (r, id) => {
    const c = r.clips.find((c) => c.id === id);
    return [c.width, c.height];
  };
  assert.deepEqual(size(res, "w"), [160, 90]);
  assert.deepEqual(size(res, "fit"), [100, 56]);
  assert.deepEqual(size(res, "big"), [320, 180]);
  assert.equal(dims(path.join(work, "out", "w", "frame_00001.jpg")), "160,90");
  const boxed = await extract(manifest, { outDir: path.join(work, "out2"), cacheDir: path.join(work, "store"), maxSize: { width: 120, height: 120 } });
  assert.deepEqual(size(boxed, "w"), [120, 68]);
  assert.deepEqual(size(boxed, "big"), [120, 68]);
  assert.deepEqual(size(boxed, "fit"), [100, 56]);
  const text = await extract(manifest, { outDir: path.join(work, "out3"), cacheDir: path.join(work, "store"), maxSize: "120x120" });
  assert.deepEqual(size(text, "big"), [120, 68]);
  await assert.rejects(extract(manifest, { outDir: path.join(work, "o4"), maxSize: "big" }), /maxSize/);
  await assert.rejects(
    extract({ videos: [{ id: "x", src, width: 0 }] }, { outDir: path.join(work, "o5") }),
    (e) => e instanceof FramexInputError && /videos\[0\]\.width/.test(e.message),
  );
});

test("probe: metadata without decoding; a bad file rejects", async () => {
  const info = await probe(cfr30());
  assert.equal(info.codec, "h264");
  assert.equal(info.width, 320);
  assert.equal(info.height, 180);
  assert.equal(info.avgFrameRate, "30/1");
  assert.equal(info.frameCount, 300);
  assert.equal(info.vfr, false);
  const bad = path.join(tempDir("probe"), "bad.mp4");
  fs.writeFileSync(bad, "not a video");
  await assert.rejects(probe(bad), /bad\.mp4/);
});

test("FrameLookup answers like `framex frame` (loop wrap, rate, held tail, inclusive end)", async () => {
  const work = tempDir("lookup");
  const manifest = {
    fps: 30,
    videos: [
      { id: "loop", src: short3(), start: 0, end: 7, loop: true },
      { id: "fast", src: cfr30(), start: 1, end: 3, playbackRate: 2 },
      { id: "held", src: short3(), start: 4, end: 9 },
    ],
  };
  fs.writeFileSync(path.join(work, "comp.json"), JSON.stringify(manifest));
  const res = await extract(path.join(work, "comp.json"), { cacheDir: path.join(work, "store") });
  const times = [0, 0.5, 1, 2.999, 3, 3.5, 4, 6.99, 7, 7.01, 8.5, 9, 9.5];
  const fl = new FrameLookup(res);
  const ours = times.map((t) => ({ t, clips: fl.at(t) }));
  assert.deepEqual(lookup(res, 3), fl.at(3));
  assert.deepEqual(fl.at("3"), fl.at(3));
  // Hand-checked points: the loop wraps at 3 s, the 2× clip advances 2 source frames per frame,
  // the held clip shows its last frame to its end, every end is inclusive.
  const at = (t, id) => ours.find((o) => o.t === t).clips.find((c) => c.id === id)?.index;
  assert.equal(at(0.5, "loop"), 15);
  assert.equal(at(3.5, "loop"), 105);
  assert.equal(at(6.99, "loop"), 209);
  assert.equal(at(7, "loop"), 30); // the end instant, past the unrolled frames: the cycle's same point (1 s in)
  assert.equal(at(7.01, "loop"), undefined);
  assert.equal(at(2.999, "fast"), 59);
  assert.equal(at(3, "fast"), 59);
  assert.equal(at(8.5, "held"), 89);
  assert.equal(at(9, "held"), 89);
  assert.equal(at(9.5, "held"), undefined);
  for (const o of ours) for (const c of o.clips) assert.ok(fs.existsSync(c.file), c.file);
  // The CLI, where the Rust build left one: the same answers, file for file.
  const cli = ["debug", "release"].map((p) => path.join(here, "..", "..", "..", "target", p, "framex")).find((f) => fs.existsSync(f));
  if (cli) {
    const args = ["frame", path.join(work, "comp.json"), "--cache-dir", path.join(work, "store")];
    for (const t of times) args.push("--at", String(t));
    const answers = JSON.parse(execFileSync(cli, args, { encoding: "utf8" }));
    assert.deepEqual(
      answers.map((a) => a.clips.map((c) => [c.id, c.index, c.file])),
      ours.map((o) => o.clips.map((c) => [c.id, c.index, c.file])),
    );
  }
  assert.throws(() => fl.at(Number.NaN), FramexInputError);
});

test("progress: events on the JS thread, monotonic, ending at the total", async () => {
  const work = tempDir("progress");
  const events = [];
  const res = await extract(
    { fps: 30, videos: [{ id: "p", src: cfr30(), start: 0, end: 6 }] },
    { cacheDir: "off", outDir: path.join(work, "out"), onProgress: (e) => events.push(e) },
  );
  await new Promise((r) => setImmediate(r)); // queued reports land before this
  assert.ok(events.length >= 2, `only ${events.length} events`);
  for (let i = 1; i < events.length; i++) assert.ok(events[i].done >= events[i - 1].done);
  assert.equal(events[0].done, 0);
  assert.equal(events.at(-1).done, res.totalFrames);
  assert.ok(events.every((e) => e.total === res.totalFrames));
  assert.ok(events.some((e) => e.source === "cfr30.mp4"));
  // A listener that throws does not break the run.
  const warned = new Promise((r) => process.once("warning", r));
  const again = await extract(
    { fps: 30, videos: [{ id: "p", src: cfr30(), start: 0, end: 1 }] },
    { cacheDir: "off", outDir: path.join(work, "out2"), onProgress: () => { throw new Error("listener bug"); } },
  );
  assert.equal(again.success, true);
  assert.match(String((await warned).message), /listener bug/);
  // Nor one that throws something with no string form.
  const odd = await extract(
    { fps: 30, videos: [{ id: "p", src: cfr30(), start: 0, end: 1 }] },
    { cacheDir: "off", outDir: path.join(work, "out3"), onProgress: () => { throw Object.create(null); } },
  );
  assert.equal(odd.success, true);
});

test("abort mid-run: rejects with AbortError, stops early, leaves no partial folder", async () => {
  const work = tempDir("abort");
  const out = path.join(work, "out");
  const ac = new AbortController();
  let abortedAt = 0;
  let total = 0;
  const manifest = {
    fps: 30,
    videos: [
      { id: "a", src: long720(), start: 0, end: 12 },
      { id: "b", src: long720(), start: 0, end: 12, mediaStart: 0.5 },
    ],
  };
  const started = performance.now();
  const err = await extract(manifest, {
    outDir: out,
    cacheDir: path.join(work, "store"),
    signal: ac.signal,
    onProgress: (e) => {
      total = e.total;
      if (e.done > 30 && !abortedAt) {
        abortedAt = performance.now();
        ac.abort();
      }
    },
  }).then(
    () => assert.fail("resolved after abort"),
    (e) => e,
  );
  const stopped = performance.now();
  assert.equal(err.name, "AbortError");
  assert.ok(abortedAt > 0, "never aborted");
  console.log(`# abort: stopped ${(stopped - abortedAt).toFixed(0)} ms after abort() (run ${(stopped - started).toFixed(0)} ms)`);
  const r = err.result;
  assert.ok(r, "the partial result rides on the error");
  const done = r.clips.reduce((n, c) => n + c.frames, 0);
  assert.ok(done < total, `all ${total} frames were made despite the abort`);
  assert.ok(r.errors.every((e) => e.kind === "cancelled"));
  // Finished clips are complete; cancelled clips have no folder; no temp litter in outDir.
  for (const c of r.clips) assert.equal(frameFiles(c.dir).length, c.frames);
  for (const e of r.errors) assert.ok(!fs.existsSync(path.join(out, e.id)), `partial folder ${e.id}`);
  for (const f of walk(out)) assert.match(f, /^[ab]\/frame_\d{5}\.jpg$/);
  // An already-aborted signal rejects at once, without work.
  await assert.rejects(extract(manifest, { outDir: out, signal: AbortSignal.abort() }), { name: "AbortError" });
});

test("the event loop keeps ticking during a 10 s (of video) extraction", async () => {
  const work = tempDir("loop");
  let last = performance.now();
  let worst = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
    ticks++;
  }, 10);
  const started = performance.now();
  const res = await extract({ fps: 30, format: "png", videos: [{ id: "long", src: long720(), start: 0, end: 10 }] }, { cacheDir: "off", outDir: path.join(work, "out") });
  clearInterval(timer);
  const wall = performance.now() - started;
  assert.equal(res.clips[0].frames, 300);
  console.log(`# event loop: ${ticks} ticks of a 10 ms timer in ${wall.toFixed(0)} ms, longest gap ${worst.toFixed(1)} ms`);
  // A blocked loop would show one gap as long as the run; a free one ticks throughout.
  assert.ok(ticks >= (wall / 10) * 0.5, `${ticks} ticks in ${wall.toFixed(0)} ms`);
  assert.ok(worst < wall / 4, `a ${worst.toFixed(0)} ms gap in a ${wall.toFixed(0)} ms run`);
});

test("two concurrent calls in one process share the store correctly", async () => {
  const work = tempDir("concurrent");
  const m1 = { fps: 30, videos: [{ id: "x", src: cfr30(), start: 0, end: 4 }, { id: "y", src: cfr24(), start: 0, end: 3 }] };
  const m2 = { fps: 30, videos: [{ id: "x", src: cfr30(), start: 0, end: 4 }, { id: "z", src: cfr30(), start: 2, end: 5, mediaStart: 1 }] };
  // Several rounds, each into a fresh store: the race is at the store's first use.
  for (let round = 0; round < 4; round++) {
    const store = path.join(work, `store${round}`);
    const [r1, r2] = await Promise.all([
      extract(m1, { cacheDir: store, outDir: path.join(work, `o1-${round}`) }),
      extract(m2, { cacheDir: store, outDir: path.join(work, `o2-${round}`) }),
    ]);
    assert.equal(r1.success && r2.success, true);
    assert.deepEqual([r1.warnings, r2.warnings], [[], []], `round ${round}`);
    for (let k = 0; k < 120; k += 7) {
      assert.deepEqual(fs.readFileSync(framePath(r1.clips[0], k)), fs.readFileSync(framePath(r2.clips[0], k)), `frame ${k}`);
    }
    if (round === 0) assertFramesRight(r2.clips[1], cfr30(), { mediaStart: 1, fps: 30 }, [0, 45, 89]);
    // The store is whole afterwards: a third run is all hits, nothing decoded.
    const r3 = await extract(m2, { cacheDir: store });
    assert.equal(r3.breakdown.framesDecoded, 0);
    assert.equal(r3.breakdown.clipHits, 2, `round ${round}`);
  }
});

test("warm call time in a live process", async () => {
  const work = tempDir("warm");
  const store = path.join(work, "store");
  const m = {
    fps: 30,
    videos: [
      { id: "a", src: cfr30(), start: 0, end: 10 },
      { id: "b", src: cfr24(), start: 0, end: 6 },
      { id: "c", src: short3(), start: 0, end: 9, loop: true },
      { id: "d", src: cfr30(), start: 2, end: 4, mediaStart: 5 },
      { id: "e", src: vfr(), start: 0, end: 5 },
    ],
  };
  await extract(m, { cacheDir: store });
  const times = [];
  for (let i = 0; i < 25; i++) {
    const t = performance.now();
    const r = await extract(m, { cacheDir: store });
    times.push(performance.now() - t);
    assert.equal(r.breakdown.framesDecoded, 0);
  }
  console.log(`# warm call, 5 clips, ${m.videos.length} in the store: median ${median(times).toFixed(2)} ms (min ${Math.min(...times).toFixed(2)})`);
});

test("slices: frames / time / indices keep global numbering; the lookup says what a slice lacks", async () => {
  const work = tempDir("slice");
  const store = path.join(work, "store");
  const manifest = {
    fps: 30,
    videos: [
      { id: "a", src: cfr30(), start: 0, end: 4 },
      { id: "l", src: short3(), start: 1, end: 8, loop: true },
    ],
  };
  const full = await extract(manifest, { cacheDir: "off", outDir: path.join(work, "full") });
  const slice = await extract(manifest, { cacheDir: store, outDir: path.join(work, "s"), frames: [60, 90] });
  assert.equal(slice.success, true, JSON.stringify(slice.errors));
  const [a, l] = slice.clips;
  assert.deepEqual(a.ranges, [[60, 90]]);
  assert.deepEqual(l.ranges, [[30, 60]]);
  assert.deepEqual(frameFiles(a.dir), frameFiles(a.dir).filter((f) => f >= "frame_00061.jpg" && f <= "frame_00090.jpg"));
  for (const k of [60, 75, 89]) assert.deepEqual(fs.readFileSync(framePath(a, k)), fs.readFileSync(framePath(full.clips[0], k)), `frame ${k}`);
  const fl = new FrameLookup(slice);
  assert.deepEqual(fl.at("2.5").map((c) => [c.id, c.index, c.extracted]), [["a", 75, true], ["l", 45, true]]);
  assert.deepEqual(fl.at(3.5).map((c) => [c.id, c.index, c.extracted, c.file]), [["a", 105, false, null], ["l", 75, false, null]]);
  // The same slice in seconds, and an index list.
  const timed = await extract(manifest, { cacheDir: store, time: ["2", 3] });
  assert.deepEqual(timed.clips.map((c) => c.ranges), [[[60, 90]], [[30, 60]]]);
  assert.equal(timed.breakdown.framesDecoded, 0);
  const picked = await extract(manifest, { cacheDir: store, indices: { a: [{ firstFrame: 10, frames: 5 }] } });
  assert.deepEqual(picked.clips.map((c) => [c.id, c.ranges]), [["a", [[10, 15]]], ["l", []]]);
  await assert.rejects(extract(manifest, { cacheDir: store, frames: [90, 60] }), /empty|below/);
  await assert.rejects(extract(manifest, { cacheDir: store, frames: [0, 10_000] }), /past the composition/);
  await assert.rejects(extract(manifest, { cacheDir: store, indices: { nope: [{ firstFrame: 0, frames: 1 }] } }), /nope/);
});

test("frame file names: the JS spelling equals the store layout's", async () => {
  const { frameFileName } = await import("../lib/framex.cjs");
  const native = (await import("../lib/native.cjs")).default;
  for (const k of [0, 1, 9, 98, 99_998, 99_999, 100_000, 1_234_567]) {
    for (const ext of ["jpg", "png"]) assert.equal(frameFileName(k, ext), native.frameFileName(k, ext));
  }
});

test("remoteStore: a second host with an empty store decodes nothing (real S3 server, moto)", async () => {
  const { spawn } = await import("node:child_process");
  const readline = await import("node:readline");
  const script = path.join(here, "..", "..", "..", "scripts", "s3-test-server.py");
  // scripts/test.sh points FRAMEX_TEST_PYTHON at its venv with moto[server].
  const server = spawn(process.env.FRAMEX_TEST_PYTHON ?? "python3", [script], { stdio: ["pipe", "pipe", "ignore"] });
  try {
    const lines = readline.createInterface({ input: server.stdout });
    const next = () => new Promise((resolve) => lines.once("line", resolve));
    const creds = JSON.parse(await next());
    server.stdin.write("bucket frames\n");
    assert.equal(await next(), "ok");
    const env = {
      AWS_ACCESS_KEY_ID: creds.accessKeyId,
      AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
      AWS_REGION: creds.region,
      AWS_ENDPOINT_URL: creds.endpoint,
      AWS_ALLOW_HTTP: "true",
    };
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    try {
      const manifest = { fps: 30, videos: [{ id: "a", src: cfr30(), start: 0, end: 2 }] };
      const hostA = await extract(manifest, { cacheDir: tempDir("hostA"), remoteStore: "s3://frames/node" });
      assert.equal(hostA.success, true);
      assert.deepEqual(hostA.warnings, []);
      assert.equal(hostA.breakdown.remoteFramesUploaded, hostA.breakdown.framesEncoded);
      // The default comes from FRAMEX_REMOTE_STORE.
      process.env.FRAMEX_REMOTE_STORE = "s3://frames/node";
      const hostB = await extract(manifest, { cacheDir: tempDir("hostB") });
      delete process.env.FRAMEX_REMOTE_STORE;
      assert.deepEqual(hostB.warnings, []);
      assert.equal(hostB.breakdown.framesDecoded, 0);
      assert.equal(hostB.breakdown.remoteClipHits, 1);
      const a = frameFiles(hostA.clips[0].dir).map((f) => path.join(hostA.clips[0].dir, f));
      const b = frameFiles(hostB.clips[0].dir).map((f) => path.join(hostB.clips[0].dir, f));
      assert.equal(b.length, 60);
      for (let i = 0; i < a.length; i++) assert.ok(fs.readFileSync(a[i]).equals(fs.readFileSync(b[i])), `frame ${i}`);
      // null turns the tier off even with the variable set.
      process.env.FRAMEX_REMOTE_STORE = "s3://frames/node";
      const off = await extract(manifest, { cacheDir: tempDir("hostC"), remoteStore: null });
      delete process.env.FRAMEX_REMOTE_STORE;
      assert.equal(off.breakdown.remoteRequests, 0);
      assert.equal(off.breakdown.framesDecoded, 60);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  } finally {
    server.kill();
  }
});
