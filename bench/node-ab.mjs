#!/usr/bin/env node
// A/B of the HyperFrames extraction call from Node: `extractAllVideoFrames` of
// @hyperframes/engine 0.8.33 (ffmpeg CLI processes) against framex's drop-in (the native
// addon), on the same synthesized fixtures. Every cold run is its own Node process with an
// empty cache folder (nothing memoised from an earlier run); in that process the same call is
// then repeated warm (cache on for both). Medians are reported.
//
//   (cd npm/framex && npm ci --ignore-scripts && npm run build)   # release addon + the engine
//   node bench/node-ab.mjs [--repeat 3] [--warm 10] [--cells control,alpha] [--markdown]
//
// Needs ffmpeg/ffprobe ≥ 5.1 on PATH. Fixtures go to bench/fixtures/ (shared with run.py),
// work folders to bench/out/node-ab/. Run it on an otherwise idle machine.
import { execFileSync, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.join(here, "..", "npm", "framex");
const fixtures = path.join(here, "fixtures");
const work = path.join(here, "out", "node-ab");

// The fixtures of bench/run.py (same recipes, same files), plus the VFR clip of HyperFrames'
// "VFR mid-seek" case.
const FIXTURES = {
  h264: {
    file: "h264_1080p_60s.mp4",
    args: ["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30:duration=60", "-c:v", "libx264", "-preset", "fast", "-crf", "20", "-pix_fmt", "yuv420p"],
  },
  alpha: {
    file: "vp9_alpha_720p_20s.webm",
    args: [
      "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration=20",
      "-f", "lavfi", "-i", "gradients=size=1280x720:rate=30:duration=20:c0=black:c1=white:x0=0:y0=0:x1=1280:y1=720:speed=0.01",
      "-filter_complex", "[1:v]format=gray[a];[0:v][a]alphamerge,format=yuva420p[v]",
      "-map", "[v]", "-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p", "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1", "-b:v", "2M", "-auto-alt-ref", "0",
    ],
  },
  vfr: {
    file: "h264_720p60_vfr_10s.mp4",
    args: [
      "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=60:duration=10",
      "-vf", "select='not(between(t,1,2)+between(t,3,4)+between(t,5,6)+between(t,7,8))'",
      "-fps_mode", "vfr", "-c:v", "libx264", "-preset", "fast", "-crf", "20", "-pix_fmt", "yuv420p", "-g", "100000", "-keyint_min", "100000", "-sc_threshold", "0",
    ],
  },
};

const v = (id, src, start, end, mediaStart = 0) => ({ id, src, start, end, mediaStart, loop: false, hasAudio: false });

// The cells of HyperFrames' own A/B (PR #1885 / #1900 benchmarks).
const CELLS = {
  vfr: { label: "VFR mid-seek (720p60, 4 s from 3 s)", videos: () => [v("vfr", FIXTURES.vfr.file, 0, 4, 3)], format: "jpg", timelineEnd: 4 },
  alpha: { label: "VP9 alpha 20 s → PNG", videos: () => [v("alpha", FIXTURES.alpha.file, 0, 20)], format: "png", timelineEnd: 20 },
  control: { label: "60 s 1080p H.264 → JPEG (control)", videos: () => [v("control", FIXTURES.h264.file, 0, 60)], format: "jpg", timelineEnd: 60 },
  trims: {
    label: "four overlapping 30 s trims",
    videos: () => [0, 10, 20, 30].map((s, i) => v(`trim${i}`, FIXTURES.h264.file, s, s + 30, s)),
    format: "jpg",
    timelineEnd: 60,
  },
  dup3: { label: "the clip three times", videos: () => ["a", "b", "c"].map((id) => v(id, FIXTURES.h264.file, 0, 60)), format: "jpg", timelineEnd: 60 },
};

function ensureFixtures() {
  fs.mkdirSync(fixtures, { recursive: true });
  for (const f of Object.values(FIXTURES)) {
    const file = path.join(fixtures, f.file);
    if (fs.existsSync(file)) continue;
    process.stderr.write(`node-ab: synthesizing ${f.file}\n`);
    execFileSync("ffmpeg", ["-v", "error", "-nostdin", "-y", ...f.args, file]);
  }
}

/** SHA-256 over every frame file, in frame order (a run-to-run identity of the output). */
function filesHash(result) {
  const h = crypto.createHash("sha256");
  for (const e of result.extracted) {
    for (const k of [...e.framePaths.keys()].sort((a, b) => a - b)) h.update(fs.readFileSync(e.framePaths.get(k)));
  }
  return h.digest("hex").slice(0, 12);
}

/** One process: a cold call into an empty cache, then `warm` warm calls. Prints JSON. */
async function child(impl, cellName, dir, warm) {
  const cell = CELLS[cellName];
  const mod =
    impl === "hyperframes"
      ? await import(pathToFileURL(path.join(pkg, "node_modules", "@hyperframes", "engine", "dist", "index.js")).href)
      : await import(pathToFileURL(path.join(pkg, "hyperframes.mjs")).href);
  const config = { extractCacheDir: path.join(dir, "cache") };
  const call = () =>
    mod.extractAllVideoFrames(cell.videos(), fixtures, { fps: 30, outputDir: path.join(dir, "out"), format: cell.format, timelineEnd: cell.timelineEnd }, undefined, config);
  let t = performance.now();
  const cold = await call();
  const coldMs = performance.now() - t;
  const warmMs = [];
  let hits = 0;
  for (let i = 0; i < warm; i++) {
    t = performance.now();
    const r = await call();
    warmMs.push(performance.now() - t);
    hits = r.phaseBreakdown.cacheHits;
  }
  process.stdout.write(
    JSON.stringify({
      coldMs,
      warmMs,
      frames: cold.totalFramesExtracted,
      errors: cold.errors.length,
      hash: filesHash(cold),
      warmHits: hits,
      success: cold.success,
    }),
  );
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === "--child") return child(args[1], args[2], args[3], Number(args[4]));
  const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : dflt;
  };
  const repeat = Number(opt("--repeat", 3));
  const warm = Number(opt("--warm", 10));
  const cells = opt("--cells", Object.keys(CELLS).join(",")).split(",");
  const markdown = args.includes("--markdown");
  if (!fs.existsSync(path.join(pkg, "framex.node"))) throw new Error("build the addon first: (cd npm/framex && npm run build)");
  ensureFixtures();
  const load = os.loadavg()[0];
  if (load > os.availableParallelism() / 4) process.stderr.write(`node-ab: warning: load average ${load.toFixed(2)}: timings will be noise\n`);
  const runs = {};
  for (let r = 0; r < repeat; r++) {
    for (const cell of cells) {
      // Alternate which implementation goes first, so neither always runs on a warmer page cache.
      const order = r % 2 === 0 ? ["hyperframes", "framex"] : ["framex", "hyperframes"];
      for (const impl of order) {
        const dir = path.join(work, `${impl}-${cell}-${r}`);
        fs.rmSync(dir, { recursive: true, force: true });
        fs.mkdirSync(dir, { recursive: true });
        const p = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--child", impl, cell, dir, String(warm)], {
          encoding: "utf8",
          maxBuffer: 1 << 26,
          env: { ...process.env, HYPERFRAMES_EXTRACT_CACHE_DIR: "" },
        });
        if (p.status !== 0) throw new Error(`${impl} ${cell} failed:\n${p.stderr}`);
        const out = JSON.parse(p.stdout);
        (runs[`${impl}/${cell}`] ??= []).push(out);
        process.stderr.write(`node-ab: ${impl} ${cell} #${r + 1}: cold ${out.coldMs.toFixed(0)} ms, warm ${median(out.warmMs).toFixed(2)} ms, ${out.frames} frames\n`);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  const rows = cells.map((cell) => {
    const h = runs[`hyperframes/${cell}`];
    const f = runs[`framex/${cell}`];
    const hc = median(h.map((x) => x.coldMs));
    const fc = median(f.map((x) => x.coldMs));
    const hw = median(h.flatMap((x) => x.warmMs));
    const fw = median(f.flatMap((x) => x.warmMs));
    const same = (xs) => (new Set(xs.map((x) => x.hash)).size === 1 ? xs[0].hash : "varies");
    return [
      CELLS[cell].label,
      `${hc.toFixed(0)}`,
      `${fc.toFixed(0)}`,
      `${(hc / fc).toFixed(2)}×`,
      `${h[0].frames} / ${f[0].frames}`,
      `${h[0].errors} / ${f[0].errors}`,
      `${same(h)} / ${same(f)}`,
      `${hw.toFixed(2)}`,
      `${fw.toFixed(2)}`,
    ];
  });
  const head = ["cell", "HyperFrames cold ms", "framex cold ms", "speed-up", "frames (HF / fx)", "errors", "files hash (HF / fx)", "HF warm ms", "framex warm ms"];
  console.log(`node-ab: ${repeat} cold runs per cell (median), ${warm} warm calls each (median of all); ${os.availableParallelism()} cores; node ${process.version}`);
  if (markdown) {
    console.log(`| ${head.join(" | ")} |`);
    console.log(`|${head.map(() => "---").join("|")}|`);
    for (const r of rows) console.log(`| ${r.join(" | ")} |`);
  } else {
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padEnd(w[i])).join("  "));
  }
  fs.mkdirSync(work, { recursive: true });
  fs.writeFileSync(path.join(work, "results.json"), JSON.stringify({ date: new Date().toISOString(), cores: os.availableParallelism(), runs }, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
