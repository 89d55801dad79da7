// Test tooling: media synthesized with the ffmpeg CLI, and the frame-identity oracle (the same
// idea as the Rust tests' `common`): every source frame and every output image is decoded by
// the ffmpeg CLI to a small grey raster, and an output is "source frame i" when i's raster is
// the nearest one.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const W = 64;
export const H = 36;

const temps = [];
process.on("exit", () => {
  for (const dir of temps) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh temp folder, removed when the process exits. */
export function tempDir(name) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `framex-node-${name}-`));
  temps.push(dir);
  return dir;
}

function ffmpeg(args) {
  return execFileSync("ffmpeg", ["-v", "error", "-nostdin", "-y", ...args], { maxBuffer: 1 << 30 });
}

const media = tempDir("media");
const made = new Map();

/** Synthesizes (once per process) a clip from an ffmpeg argument list. */
export function fixture(name, args) {
  const file = path.join(media, name);
  if (!made.has(name)) {
    ffmpeg([...args, file]);
    made.set(name, file);
  }
  return file;
}

/** 10 s testsrc2 at 30 fps, keyframe every second. */
export const cfr30 = () =>
  fixture("cfr30.mp4", ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30", "-t", "10", "-c:v", "libx264", "-g", "30", "-pix_fmt", "yuv420p"]);

/** 6 s testsrc2 at 24 fps. */
export const cfr24 = () =>
  fixture("cfr24.mp4", ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=24", "-t", "6", "-c:v", "libx264", "-g", "24", "-pix_fmt", "yuv420p"]);

/** 3 s testsrc2 at 30 fps (a short loop source). */
export const short3 = () =>
  fixture("short3.mp4", ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30", "-t", "3", "-c:v", "libx264", "-g", "30", "-pix_fmt", "yuv420p"]);

/** A VFR screen-recording-like clip: 60 fps with 1 s gaps (frames dropped where t mod 2 in [1,2)). */
export const vfr = () =>
  fixture("vfr.mp4", [
    "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=60", "-t", "6",
    "-vf", "select='lt(mod(t\\,2)\\,1)'", "-fps_mode", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv420p",
  ]);

/** 2 s VP9 with alpha (a moving opaque box on transparency). */
export const alphaWebm = () =>
  fixture("alpha.webm", [
    "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30", "-f", "lavfi", "-i", "color=c=white:size=320x180:rate=30",
    "-filter_complex", "[1]geq=lum='if(lt(abs(X-160)\\,80)\\,255\\,0)'[a];[0][a]alphamerge,format=yuva420p",
    "-t", "2", "-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p", "-auto-alt-ref", "0", "-b:v", "1M",
  ]);

/** A longer 720p clip, for runs that must last a while (abort, event-loop checks). */
export const long720 = () =>
  fixture("long720.mp4", ["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-t", "12", "-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-pix_fmt", "yuv420p"]);

/**
 * Presentation times (seconds, from the stream start) of every frame of `file`, and the
 * tolerance of the sampling rule (contract §2: one tick of the time base, at most 1/16 of
 * the median frame interval).
 */
const timesCache = new Map();

export function frameTimes(file) {
  if (!timesCache.has(file)) timesCache.set(file, probeTimes(file));
  return timesCache.get(file);
}

function probeTimes(file) {
  const run = (entries) =>
    execFileSync("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", entries, "-of", "csv=p=0", file], {
      encoding: "utf8",
      maxBuffer: 1 << 28,
    });
  const ts = run("frame=best_effort_timestamp_time")
    .split("\n")
    .map((l) => l.split(",")[0].trim())
    .filter((l) => l !== "")
    .map(Number);
  const times = ts.map((t) => t - ts[0]);
  const [num, den] = run("stream=time_base").trim().split(",")[0].split("/").map(Number);
  const gaps = times.slice(1).map((t, i) => t - times[i]).sort((a, b) => a - b);
  const interval = gaps.length ? gaps[Math.floor(gaps.length / 2)] : 1;
  times.tolerance = Math.min(num / den, interval / 16);
  // The stream's length (end of its last frame) as ffprobe reports it.
  const duration = Number(run("stream=duration").trim().split(",")[0]);
  times.duration = Number.isFinite(duration) && duration > 0 ? duration : times.at(-1) + interval;
  return times;
}

function rasters(buf) {
  const n = W * H;
  const out = [];
  for (let i = 0; i + n <= buf.length; i += n) out.push(buf.subarray(i, i + n));
  return out;
}

const sourceCache = new Map();

/** Grey rasters of every frame of a source, in decode order (alpha dropped: composited on black). */
export function sourceRasters(file) {
  if (!sourceCache.has(file)) {
    const dec = file.endsWith(".webm") ? ["-c:v", "libvpx-vp9"] : [];
    sourceCache.set(
      file,
      rasters(ffmpeg([...dec, "-i", file, "-fps_mode", "passthrough", "-vf", `scale=${W}:${H}:flags=area,format=gray`, "-f", "rawvideo", "-"])),
    );
  }
  return sourceCache.get(file);
}

/** Grey raster of one output image. */
export function imageRaster(file) {
  return ffmpeg(["-i", file, "-vf", `scale=${W}:${H}:flags=area,format=gray`, "-f", "rawvideo", "-"]);
}

function sse(a, b) {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    s += d * d;
  }
  return s;
}

/** Index of the source frame an output image shows. */
export function identify(image, sources) {
  return nearest(imageRaster(image), sources);
}

/** The display-time rule: the last source frame presented at or before media time `m`. */
export function frameShownAt(times, m) {
  const tol = (times.tolerance ?? 0) + 1e-9;
  let lo = 0;
  for (let i = 0; i < times.length; i++) if (times[i] <= m + tol) lo = i;
  return lo;
}

/**
 * Source frame each output sample `k` of a clip must show: media time
 * `mediaStart + k·rate/fps`, wrapped into `[cycleStart, cycleStart + cycle)` for loops.
 */
export function expectedFrame(times, { mediaStart = 0, rate = 1, fps, loopCycle, cycleStart = 0 }, k) {
  let m = mediaStart + (k * rate) / fps;
  if (loopCycle) m = cycleStart + ((((m - cycleStart) % loopCycle) + loopCycle) % loopCycle);
  return frameShownAt(times, m);
}

/** Frame files of a folder, sorted. */
export function frameFiles(dir) {
  return fs
    .readdirSync(dir)
    .filter((f) => f.startsWith("frame_"))
    .sort();
}

/** Every file under `dir` (relative paths), sorted. */
export function walk(dir) {
  const out = [];
  const rec = (d, rel) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const r = path.join(rel, e.name);
      if (e.isDirectory()) rec(path.join(d, e.name), r);
      else out.push(r);
    }
  };
  if (fs.existsSync(dir)) rec(dir, "");
  return out.sort();
}

/** Median of numbers. */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Grey rasters of a folder's `frame_00001.<ext>` … images, in order (one ffmpeg run). */
export function folderRasters(dir, ext) {
  const n = frameFiles(dir).length;
  if (n === 0) return [];
  return rasters(
    ffmpeg(["-f", "image2", "-start_number", "1", "-i", path.join(dir, `frame_%05d.${ext}`), "-vf", `scale=${W}:${H}:flags=area,format=gray`, "-f", "rawvideo", "-"]),
  ).slice(0, n);
}

/** Index of the nearest source raster. */
export function nearest(raster, sources) {
  let best = -1;
  let bestSse = Infinity;
  sources.forEach((s, i) => {
    const e = sse(raster, s);
    if (e < bestSse) {
      bestSse = e;
      best = i;
    }
  });
  return best;
}
