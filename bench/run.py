#!/usr/bin/env python3
"""The framex benchmark (SPEC §7): framex against the per-clip ffmpeg CLI method and the
decode-only limit, side by side in one run, on fixtures synthesized with the ffmpeg CLI.

Standard library only (Python 3.11). See bench/README.md for what each column means.

    python3 bench/run.py                 # full benchmark, 3 interleaved repeats, medians
    python3 bench/run.py --quick --repeat 1
    python3 bench/run.py --scenarios full,alpha --markdown
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
FPS = 30
ALL_SCENARIOS = ("full", "alpha", "vfr", "trims", "dup3")
DEFAULT_METHODS = ("framex", "cli", "decode")
# Opt-in: framex against a store primed by an untimed run, without and with --out.
ALL_METHODS = DEFAULT_METHODS + ("warm", "warm-out")
# Quiet, non-interactive ffmpeg; changes no work done. HyperFrames passes none of these.
FFMPEG_QUIET = ["-nostdin", "-hide_banner", "-loglevel", "error"]
BREAKDOWN_KEYS = ("probeMs", "planMs", "decodeMs", "convertMs", "encodeMs", "publishMs")
COUNTER_KEYS = ("framesDecoded", "framesEncoded", "framesLinked", "seeks")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class BenchError(Exception):
    """A failure that must stop the benchmark (bad fixture, framex failing, missing tool)."""


# ---------------------------------------------------------------------------------------------
# Fixtures


@dataclass
class Fixture:
    key: str  # "h264", "alpha", "vfr"
    path: Path
    args: list[str]  # ffmpeg arguments before the output path: the recipe
    duration: Fraction = Fraction(0)  # playable duration from ffprobe, filled by ensure()
    frames: int = 0  # video packets in the file
    format: str = "jpg"  # output format of the CLI method (and what framex should produce)
    input_args: tuple[str, ...] = ()  # decoder choice before -i (libvpx-vp9 keeps alpha)
    vfr: bool = False


def fixture_specs(quick: bool, folder: Path) -> dict[str, Fixture]:
    long_s = 10 if quick else 60
    alpha_s = 5 if quick else 20
    h264 = Fixture(
        "h264",
        folder / f"h264_1080p_{long_s}s.mp4",
        ["-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={long_s}",
         "-c:v", "libx264", "-preset", "fast", "-crf", "20", "-pix_fmt", "yuv420p"],
    )
    # Alpha: a linear black→white gradient spanning the frame whose direction rotates over time,
    # so every alpha value appears and changes from frame to frame.
    alpha = Fixture(
        "alpha",
        folder / f"vp9_alpha_720p_{alpha_s}s.webm",
        ["-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=30:duration={alpha_s}",
         "-f", "lavfi", "-i",
         f"gradients=size=1280x720:rate=30:duration={alpha_s}:c0=black:c1=white"
         ":x0=0:y0=0:x1=1280:y1=720:speed=0.01",
         "-filter_complex", "[1:v]format=gray[a];[0:v][a]alphamerge,format=yuva420p[v]",
         "-map", "[v]", "-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p",
         "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1", "-b:v", "2M",
         "-auto-alt-ref", "0"],
        format="png",
        input_args=("-c:v", "libvpx-vp9"),
    )
    vfr = Fixture(
        "vfr",
        folder / "h264_720p60_vfr_10s.mp4",
        ["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=60:duration=10",
         "-vf", "select='not(between(t,1,2)+between(t,3,4)+between(t,5,6)+between(t,7,8))'",
         "-fps_mode", "vfr", "-c:v", "libx264", "-preset", "fast", "-crf", "20",
         "-pix_fmt", "yuv420p", "-g", "100000", "-keyint_min", "100000", "-sc_threshold", "0"],
        vfr=True,
    )
    return {f.key: f for f in (h264, alpha, vfr)}


def ffprobe_json(path: Path, *args: str) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", *args, str(path)],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)


def ensure_fixture(fx: Fixture) -> None:
    """Synthesizes the fixture unless it exists with the same recipe, then verifies it."""
    recipe_path = fx.path.with_name(fx.path.name + ".recipe.json")
    recipe = {"args": fx.args}
    current = None
    if fx.path.exists() and recipe_path.exists():
        try:
            current = json.loads(recipe_path.read_text())
        except ValueError:
            current = None
    if current != recipe:
        fx.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = fx.path.with_name(".tmp-" + fx.path.name)
        log(f"fixture: synthesizing {fx.path.relative_to(REPO)} …")
        t0 = time.perf_counter()
        proc = subprocess.run(["ffmpeg", *FFMPEG_QUIET, "-y", *fx.args, str(tmp)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise BenchError(f"ffmpeg failed to synthesize {fx.path.name}:\n{proc.stderr[-2000:]}")
        os.replace(tmp, fx.path)
        recipe_path.write_text(json.dumps(recipe, indent=1) + "\n")
        log(f"fixture: {fx.path.name} done in {time.perf_counter() - t0:.1f} s")

    info = ffprobe_json(fx.path, "-show_format", "-show_streams", "-select_streams", "v:0")
    stream = info["streams"][0]
    dur = stream.get("duration") or info["format"].get("duration")
    fx.duration = Fraction(dur)
    flags = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=flags",
         "-of", "csv=p=0", str(fx.path)],
        check=True, capture_output=True, text=True,
    ).stdout.split()
    fx.frames = len(flags)
    keyframes = sum("K" in f for f in flags)
    if fx.key == "alpha":
        tags = {k.lower(): v for k, v in (stream.get("tags") or {}).items()}
        if tags.get("alpha_mode") != "1":
            raise BenchError(f"{fx.path.name}: ffprobe shows no ALPHA_MODE=1 tag ({tags})")
    if fx.key == "vfr":
        if keyframes != 1:
            raise BenchError(f"{fx.path.name}: expected 1 keyframe, found {keyframes}")
        if stream.get("r_frame_rate") == stream.get("avg_frame_rate"):
            raise BenchError(f"{fx.path.name}: not variable frame rate ({stream.get('r_frame_rate')})")


# ---------------------------------------------------------------------------------------------
# Scenarios


def usec(x) -> Fraction:
    """Rounds to whole microseconds, the precision manifests and ffmpeg arguments carry."""
    return Fraction(round(Fraction(x) * 1_000_000), 1_000_000)


def dec(x: Fraction) -> str:
    s = f"{float(x):.6f}".rstrip("0").rstrip(".")
    return s or "0"


@dataclass
class Clip:
    id: str
    fixture: Fixture
    media_start: Fraction
    duration: Fraction

    def expected_frames(self, fps: int) -> int:
        """One frame per sample time inside the window and the source's playable range."""
        span = min(self.duration, self.fixture.duration - self.media_start)
        return max(0, math.ceil(span * fps))


@dataclass
class Scenario:
    name: str
    clips: list[Clip]
    description: str

    @property
    def fixture(self) -> Fixture:
        return self.clips[0].fixture

    def expected_frames(self, fps: int) -> int:
        return sum(c.expected_frames(fps) for c in self.clips)

    def manifest(self, fps: int) -> dict:
        return {
            "fps": fps,
            "videos": [
                {"id": c.id, "src": str(c.fixture.path), "start": 0,
                 "end": float(c.duration), "mediaStart": float(c.media_start)}
                for c in self.clips
            ],
        }

    def decode_ranges(self) -> list[tuple[Fraction, Fraction]]:
        """The union of the clips' source ranges, as disjoint (start, end) intervals."""
        spans = sorted((c.media_start, min(c.media_start + c.duration, c.fixture.duration))
                       for c in self.clips)
        merged: list[list[Fraction]] = []
        for s, e in spans:
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        return [(s, e) for s, e in merged]


def build_scenarios(fixtures: dict[str, Fixture]) -> dict[str, Scenario]:
    h264, alpha, vfr = fixtures["h264"], fixtures["alpha"], fixtures["vfr"]
    length = usec(h264.duration)
    half = usec(length / 2)
    return {
        "full": Scenario("full", [Clip("a", h264, Fraction(0), length)],
                         f"{dec(length)} s 1080p30 H.264, whole clip → JPEG"),
        "alpha": Scenario("alpha", [Clip("a", alpha, Fraction(0), usec(alpha.duration))],
                          f"{dec(alpha.duration)} s 720p VP9 alpha, whole clip → PNG"),
        "vfr": Scenario("vfr", [Clip("a", vfr, Fraction(3), Fraction(4))],
                        "720p60 VFR (1 keyframe, 4 gaps), from 3 s for 4 s → JPEG"),
        "trims": Scenario("trims",
                          [Clip(cid, h264, usec(length * i / 6), half)
                           for i, cid in enumerate("abcd")],
                          f"four overlapping {dec(half)} s trims of the {dec(length)} s clip"),
        "dup3": Scenario("dup3", [Clip(cid, h264, Fraction(0), length) for cid in "abc"],
                         f"the {dec(length)} s clip three times"),
    }


# ---------------------------------------------------------------------------------------------
# Process measurement


@dataclass
class Proc:
    argv: list[str]
    rc: int
    user_s: float
    sys_s: float
    maxrss_mb: float
    stdout_path: Path
    stderr_path: Path

    def stderr_tail(self, n: int = 1500) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def run_parallel(argvs: list[list[str]], logdir: Path, timeout: float,
                 env: dict | None = None) -> tuple[float, list[Proc]]:
    """Starts all commands at once; returns wall seconds until the last exits, and per-process
    rusage from wait4 (the process plus its reaped descendants)."""
    logdir.mkdir(parents=True, exist_ok=True)
    started = []
    t0 = time.perf_counter()
    for i, argv in enumerate(argvs):
        out_path, err_path = logdir / f"{i}.stdout", logdir / f"{i}.stderr"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                 env=env, start_new_session=True)
        timer = threading.Timer(timeout, _kill_group, (p.pid,))
        timer.daemon = True
        timer.start()
        started.append((p, timer, argv, out_path, err_path))
    procs = []
    for p, timer, argv, out_path, err_path in started:
        _, status, ru = os.wait4(p.pid, 0)
        timer.cancel()
        p.returncode = os.waitstatus_to_exitcode(status)  # so Popen never waits on it again
        procs.append(Proc(argv, p.returncode, ru.ru_utime, ru.ru_stime, ru.ru_maxrss / 1024,
                          out_path, err_path))
    return time.perf_counter() - t0, procs


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def count_frames(folder: Path, ext: str) -> int:
    try:
        return sum(1 for e in os.scandir(folder)
                   if e.name.startswith("frame_") and e.name.endswith("." + ext))
    except FileNotFoundError:
        return 0


# ---------------------------------------------------------------------------------------------
# Methods


@dataclass
class Measurement:
    scenario: str
    method: str
    repeat: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    frames: int
    expected_frames: int
    notes: list[str] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)
    per_process: list[dict] = field(default_factory=list)
    framex: dict | None = None  # framex's result JSON
    loadavg_before: float = 0.0

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0


def proc_records(procs: list[Proc]) -> list[dict]:
    return [{"rc": p.rc, "user_s": round(p.user_s, 4), "sys_s": round(p.sys_s, 4),
             "maxrss_mb": round(p.maxrss_mb, 2)} for p in procs]


class Framex:
    def __init__(self, binary: Path, cache: str):
        self.binary = binary
        self.cache = cache  # "off" or "empty"
        if not binary.is_file():
            raise BenchError(
                f"framex binary not found at {binary}; build it with "
                "`cargo build --release -p framex-cli`, pass --framex PATH, "
                "or leave it out with --methods cli,decode")
        proc = subprocess.run([str(binary), "extract", "--help"], capture_output=True, text=True)
        help_text = proc.stdout + proc.stderr
        if proc.returncode != 0:
            raise BenchError(f"`{binary} extract --help` exited with status {proc.returncode}:\n"
                             f"{help_text[-1500:]}")
        self.has_cache_flag = "--cache-dir" in help_text
        missing = [f for f in ("--out", "--json") if f not in help_text]
        if missing:
            raise BenchError(f"`{binary} extract --help` does not mention {' or '.join(missing)}; "
                             f"is the CLI built from current sources?\n{help_text[:800]}")
        v = subprocess.run([str(binary), "--version"], capture_output=True, text=True)
        self.version = v.stdout.strip() if v.returncode == 0 else None
        self.built = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(binary.stat().st_mtime))

    def describe_cache(self) -> str:
        if self.cache == "off" and self.has_cache_flag:
            return "--cache-dir off"
        how = "--cache-dir" if self.has_cache_flag else "FRAMEX_CACHE_DIR"
        return f"fresh empty store per run via {how}"

    def measure(self, sc: Scenario, fps: int, work: Path, timeout: float,
                method: str = "framex", store: Path | None = None) -> Measurement:
        """One framex run. `framex`: cold (cache off, or a fresh empty store), into `--out`.
        `warm`: against the primed `store`, without `--out`. `warm-out`: the same, into `--out`."""
        out = None if method == "warm" else work / "out"
        if out:
            out.mkdir()
        if store is None:
            store = work / "store"
            store.mkdir()
            cache_arg = "off" if self.cache == "off" else str(store)
        else:
            cache_arg = str(store)
        argv, env = self._command(sc, fps, work, out, store, cache_arg)
        wall, procs = run_parallel([argv], work / "logs", timeout, env)
        p = procs[0]
        result = self._result(sc, argv, p)
        m = Measurement(sc.name, method, 0, wall, p.user_s + p.sys_s, p.maxrss_mb,
                        0, sc.expected_frames(fps), commands=[argv],
                        per_process=proc_records(procs), framex=result)
        total = result.get("totalFrames")
        m.frames = total if isinstance(total, int) else 0
        if not isinstance(total, int):
            m.notes.append("framex: no totalFrames")
        elif total != m.expected_frames:
            m.notes.append(f"framex totalFrames {total}≠{m.expected_frames} expected")
        if result.get("errors"):
            m.notes.append(f"framex: {len(result['errors'])} clip error(s)")
        clips = {c.get("id"): c for c in result_clips(result)}
        for clip in sc.clips:
            entry = clips.get(clip.id, {})
            # Without --out the frames are read where the result says they are (the store).
            folder = out / clip.id if out else Path(entry.get("dir") or work / "missing")
            files = count_frames(folder, sc.fixture.format)
            want = clip.expected_frames(fps)
            if files != want:
                m.notes.append(f"framex {clip.id}: {files} .{sc.fixture.format} files, {want} expected")
            if isinstance(entry.get("frames"), int) and entry["frames"] != files:
                m.notes.append(f"framex {clip.id}: reports {entry['frames']} frames, {files} files")
            if method != "framex" and entry.get("cached") is False:
                m.notes.append(f"framex {clip.id}: not cached on a warm run")
        if method == "framex":
            missing = [k for k in BREAKDOWN_KEYS + COUNTER_KEYS if breakdown_value(result, k) is None]
            # The limit trusts convertMs + encodeMs to be CPU time; threads' wall time (waiting
            # on queues included) would inflate it. CPU phases cannot exceed the process's CPU.
            phases = [breakdown_value(result, k) for k in ("decodeMs", "convertMs", "encodeMs")]
            if None not in phases and sum(phases) > 1.05 * m.cpu_s * 1000 + 20:
                m.notes.append(f"framex decode+convert+encode {sum(phases):.0f} ms > process CPU "
                               f"{m.cpu_s * 1000:.0f} ms: phase times are not pure CPU")
        else:
            missing = [] if isinstance(result.get("durationMs"), (int, float)) else ["durationMs"]
        if missing:
            m.notes.append("framex result lacks " + ",".join(missing))
        return m

    def prime(self, sc: Scenario, fps: int, work: Path, timeout: float, store: Path) -> None:
        """Fills `store` for the warm methods (untimed)."""
        argv, env = self._command(sc, fps, work, None, store, str(store))
        _, procs = run_parallel([argv], work / "logs", timeout, env)
        self._result(sc, argv, procs[0])

    def _command(self, sc: Scenario, fps: int, work: Path, out: Path | None, store: Path,
                 cache_arg: str) -> tuple[list[str], dict]:
        manifest = work / "manifest.json"
        manifest.write_text(json.dumps(sc.manifest(fps), indent=1))
        argv = [str(self.binary), "extract", str(manifest)]
        argv += ["--out", str(out), "--json"] if out else ["--json"]
        if self.has_cache_flag:
            argv += ["--cache-dir", cache_arg]
        # The environment variable always names the intended store too, so a cold run stays cold
        # even if the binary ignores --cache-dir.
        return argv, dict(os.environ, FRAMEX_CACHE_DIR=str(store))

    @staticmethod
    def _result(sc: Scenario, argv: list[str], p: Proc) -> dict:
        if p.rc != 0:
            raise BenchError(f"framex exited with status {p.rc} on scenario {sc.name}\n"
                             f"command: {' '.join(argv)}\nstderr:\n{p.stderr_tail()}")
        text = p.stdout_path.read_text(errors="replace")
        try:
            result = json.loads(text)
        except ValueError as e:
            raise BenchError(f"framex printed no JSON result on scenario {sc.name} ({e}); "
                             f"stdout starts: {text[:300]!r}\nstderr:\n{p.stderr_tail()}")
        if not isinstance(result, dict):
            raise BenchError(f"framex result on scenario {sc.name} is not a JSON object")
        return result


def result_clips(result: dict) -> list[dict]:
    """Per-clip entries of the result JSON, wherever the list lives (`clips`, `extracted`, …)."""
    for value in result.values():
        if isinstance(value, list) and value and all(
                isinstance(c, dict) and "id" in c and "frames" in c for c in value):
            return value
    return []


def breakdown_value(result: dict | None, key: str):
    """A phase time or counter from `breakdown` (nested objects included), else the top level."""
    if not result:
        return None
    stack = [result.get("breakdown")]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get(key), (int, float)):
                return node[key]
            stack.extend(v for v in node.values() if isinstance(v, dict))
    value = result.get(key)
    return value if isinstance(value, (int, float)) else None


def measure_cli(sc: Scenario, fps: int, work: Path, timeout: float) -> Measurement:
    """HyperFrames' method: one ffmpeg per clip, all started at once."""
    fx = sc.fixture
    out = work / "out"
    argvs = []
    for clip in sc.clips:
        (out / clip.id).mkdir(parents=True)
        argv = ["ffmpeg", *FFMPEG_QUIET, *fx.input_args,
                "-ss", dec(clip.media_start), "-i", str(fx.path), "-t", dec(clip.duration)]
        argv += ["-fps_mode", "cfr", "-r", str(fps)] if fx.vfr else ["-vf", f"fps={fps}"]
        if fx.format == "png":
            argv += ["-q:v", "0", "-compression_level", "1"]
        else:
            argv += ["-q:v", "2"]
        argv += ["-y", str(out / clip.id / f"frame_%05d.{fx.format}")]
        argvs.append(argv)
    wall, procs = run_parallel(argvs, work / "logs", timeout)
    m = Measurement(sc.name, "cli", 0, wall, sum(p.user_s + p.sys_s for p in procs),
                    sum(p.maxrss_mb for p in procs), 0, sc.expected_frames(fps),
                    commands=argvs, per_process=proc_records(procs))
    for clip, p in zip(sc.clips, procs):
        files = count_frames(out / clip.id, fx.format)
        m.frames += files
        want = clip.expected_frames(fps)
        if p.rc != 0:
            m.notes.append(f"cli {clip.id}: ffmpeg exit {p.rc}: {p.stderr_tail(200).strip()}")
        if files != want:
            m.notes.append(f"cli {clip.id}: {files} files, {want} expected")
    return m


def measure_decode(sc: Scenario, cores: int, work: Path, timeout: float) -> Measurement:
    """The decode-only limit: the union of the source ranges decoded once, to the null muxer."""
    fx = sc.fixture
    wall = cpu = peak = 0.0
    frames = 0
    notes, argvs, records = [], [], []
    for i, (start, end) in enumerate(sc.decode_ranges()):
        progress = work / f"progress{i}.txt"
        argv = ["ffmpeg", *FFMPEG_QUIET, "-progress", str(progress), "-threads", str(cores),
                *fx.input_args]
        whole = start <= 0 and end >= fx.duration
        argv += ["-i", str(fx.path)] if whole else ["-ss", dec(start), "-i", str(fx.path),
                                                     "-t", dec(end - start)]
        argv += ["-f", "null", "-"]
        w, procs = run_parallel([argv], work / f"logs{i}", timeout)
        p = procs[0]
        wall += w
        cpu += p.user_s + p.sys_s
        peak = max(peak, p.maxrss_mb)
        argvs.append(argv)
        records += proc_records(procs)
        if p.rc != 0:
            notes.append(f"decode: ffmpeg exit {p.rc}: {p.stderr_tail(200).strip()}")
        frames += last_progress_frame(progress)
    # Frames here are source frames handed to the null muxer, not output frames.
    return Measurement(sc.name, "decode", 0, wall, cpu, peak, frames, 0, notes, argvs, records)


def last_progress_frame(path: Path) -> int:
    frame = 0
    try:
        for line in path.read_text().splitlines():
            if line.startswith("frame="):
                frame = int(line[6:].strip() or 0)
    except (OSError, ValueError):
        pass
    return frame


# ---------------------------------------------------------------------------------------------
# Summary


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


@dataclass
class Row:
    scenario: str
    method: str
    frames: float | None
    wall_s: float | None
    cpu_s: float | None
    peak_rss_mb: float | None
    fps: float | None
    notes: list[str]
    limit_s: float | None = None
    vs_limit: float | None = None
    cli_speedup: float | None = None
    vs_union: float | None = None
    engine_ms: float | None = None  # framex's own durationMs (framex, warm, warm-out)


def summarize(measurements: list[Measurement], scenario_names: list[str], methods: list[str],
              cores: int) -> tuple[list[Row], dict[str, dict]]:
    rows: list[Row] = []
    breakdowns: dict[str, dict] = {}
    by_key: dict[tuple[str, str], list[Measurement]] = {}
    for m in measurements:
        by_key.setdefault((m.scenario, m.method), []).append(m)
    med: dict[tuple[str, str], Row] = {}
    for name in scenario_names:
        for method in methods:
            ms = by_key.get((name, method))
            if not ms:
                continue
            notes = list(dict.fromkeys(n for m in ms for n in m.notes))
            row = Row(name, method, median([m.frames for m in ms]), median([m.wall_s for m in ms]),
                      median([m.cpu_s for m in ms]), median([m.peak_rss_mb for m in ms]),
                      median([m.fps for m in ms]), notes)
            med[(name, method)] = row
            rows.append(row)
            if ms[0].framex is not None:
                row.engine_ms = median([m.framex.get("durationMs") if isinstance(
                    m.framex.get("durationMs"), (int, float)) else None for m in ms])
                breakdowns[f"{name} {method}"] = {
                    k: median([breakdown_value(m.framex, k) for m in ms])
                    for k in BREAKDOWN_KEYS + COUNTER_KEYS}
    union_wall = med.get(("full", "framex")).wall_s if ("full", "framex") in med else None
    for name in scenario_names:
        fx_row, cli_row, dec_row = (med.get((name, k)) for k in ("framex", "cli", "decode"))
        if not fx_row:
            continue
        bd = breakdowns[f"{name} framex"]
        if dec_row and bd.get("convertMs") is not None and bd.get("encodeMs") is not None:
            fx_row.limit_s = (dec_row.cpu_s + (bd["convertMs"] + bd["encodeMs"]) / 1000) / cores
            fx_row.vs_limit = fx_row.wall_s / fx_row.limit_s if fx_row.limit_s else None
        if cli_row and fx_row.wall_s:
            fx_row.cli_speedup = cli_row.wall_s / fx_row.wall_s
        if name in ("trims", "dup3") and union_wall:
            fx_row.vs_union = fx_row.wall_s / union_wall
    return rows, breakdowns


TARGETS = [
    # (label, scenario, row attribute, comparison, goal)
    ("full: framex wall ÷ CPU-bound limit", "full", "vs_limit", "<=", 1.15),
    ("full: CLI wall ÷ framex wall", "full", "cli_speedup", ">=", 1.8),
    ("alpha: CLI wall ÷ framex wall", "alpha", "cli_speedup", ">=", 3.0),
    ("trims: framex wall ÷ single pass over union", "trims", "vs_union", "<=", 1.1),
    ("dup3: framex wall ÷ single pass over union", "dup3", "vs_union", "<=", 1.1),
    ("full: framex peak RSS MB", "full", "peak_rss_mb", "<=", 300),
    ("trims: framex peak RSS MB", "trims", "peak_rss_mb", "<=", 300),
    ("dup3: framex peak RSS MB", "dup3", "peak_rss_mb", "<=", 300),
]


def target_rows(rows: list[Row]) -> list[list[str]]:
    fx = {r.scenario: r for r in rows if r.method == "framex"}
    checks = [(label, getattr(fx[sc], attr), op, goal, "{:.0f}" if attr == "peak_rss_mb" else "{:.2f}")
              for label, sc, attr, op, goal in TARGETS if sc in fx]
    # Warm: ≤ 10 ms inside the engine, plus ≤ 10 µs per frame hard-linked into --out.
    for r in rows:
        if r.method == "warm":
            checks.append((f"{r.scenario}: warm engine ms", r.engine_ms, "<=", 10, "{:.1f}"))
        elif r.method == "warm-out" and r.frames is not None:
            checks.append((f"{r.scenario}: warm engine ms with --out ({r.frames:.0f} frames)",
                           r.engine_ms, "<=", 10 + 0.01 * r.frames, "{:.1f}"))
    out = []
    for label, value, op, goal, shown in checks:
        if value is None:
            continue
        ok = value <= goal if op == "<=" else value >= goal
        out.append([label, shown.format(value), f"{op.replace('<=', '≤').replace('>=', '≥')} {goal:g}",
                    "yes" if ok else "NO"])
    return out


def fmt(value, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value.is_integer() and digits == 0:
        return str(int(value))
    return f"{value:.{digits}f}"


def render_table(headers: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(headers) + " |",
                 "|" + "|".join("---" if i < 2 or h in ("note", "target", "goal", "met") else "---:"
                                for i, h in enumerate(headers)) + "|"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def report(rows: list[Row], breakdowns: dict[str, dict], markdown: bool, header: str) -> str:
    main = [[r.scenario, r.method, fmt(r.frames, 0), fmt(r.wall_s), fmt(r.cpu_s),
             fmt(r.peak_rss_mb, 0), fmt(r.fps, 0), fmt(r.limit_s), fmt(r.vs_limit),
             fmt(r.cli_speedup), fmt(r.vs_union), "; ".join(r.notes)] for r in rows]
    parts = [header, render_table(
        ["scenario", "method", "frames", "wall s", "CPU s", "peak MB", "frames/s", "limit s",
         "framex/limit", "cli/framex", "vs union", "note"], main, markdown)]
    if breakdowns:
        engine = {f"{r.scenario} {r.method}": r.engine_ms for r in rows}
        bd_rows = [[*name.split(" "), fmt(engine.get(name), 1)]
                   + [fmt(bd.get(k), 0) for k in BREAKDOWN_KEYS + COUNTER_KEYS]
                   for name, bd in breakdowns.items()]
        parts.append(render_table(
            ["scenario", "method", "engine ms", "probe", "plan", "decode*", "convert*", "encode*",
             "publish", "decoded", "encoded", "linked", "seeks"], bd_rows, markdown))
        parts.append("(framex breakdown, medians; * = CPU ms summed over threads)")
    targets = target_rows(rows)
    if targets:
        parts.append(render_table(["target", "measured", "goal", "met"], targets, markdown))
    return "\n\n".join(parts)


# ---------------------------------------------------------------------------------------------
# Main


def git_describe() -> str | None:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True).stdout.strip()
        return (head or "no-commit") + ("+dirty" if dirty else "")
    except OSError:
        return None


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", default=",".join(ALL_SCENARIOS),
                    help=f"comma-separated subset of {','.join(ALL_SCENARIOS)} (default: all)")
    ap.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                    help=f"comma-separated subset of {','.join(ALL_METHODS)} "
                         f"(default: {','.join(DEFAULT_METHODS)})")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved repeats; medians reported")
    ap.add_argument("--quick", action="store_true",
                    help="10 s H.264 / 5 s VP9 fixtures (in bench/fixtures/quick) for a smoke test")
    ap.add_argument("--markdown", action="store_true", help="print markdown tables")
    ap.add_argument("--framex", type=Path, default=REPO / "target" / "release" / "framex",
                    help="framex binary (default: target/release/framex)")
    ap.add_argument("--framex-cache", choices=("off", "empty"), default="off",
                    help="cold framex runs use --cache-dir off (default) or a fresh empty store")
    ap.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)),
                    help="cores for the CPU-bound limit and `ffmpeg -threads` (default: available)")
    ap.add_argument("--fps", type=int, default=FPS, help=argparse.SUPPRESS)
    ap.add_argument("--timeout", type=float, default=1800, help="seconds before a process is killed")
    ap.add_argument("--results", type=Path, default=None,
                    help="raw results file (default: bench/out/results.json, "
                         "bench/out/results-quick.json with --quick)")
    ap.add_argument("--keep", action="store_true", help="keep frame output dirs in bench/out/work")
    args = ap.parse_args(argv)
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    args.methods = [m for m in args.methods.split(",") if m]
    for s in args.scenarios:
        if s not in ALL_SCENARIOS:
            ap.error(f"unknown scenario {s!r}; choose from {', '.join(ALL_SCENARIOS)}")
    for m in args.methods:
        if m not in ALL_METHODS:
            ap.error(f"unknown method {m!r}; choose from {', '.join(ALL_METHODS)}")
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    if args.results is None:
        args.results = BENCH / "out" / ("results-quick.json" if args.quick else "results.json")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    for tool in ("ffmpeg", "ffprobe"):
        if not shutil.which(tool):
            log(f"error: {tool} not found on PATH")
            return 2
    ffmpeg_version = subprocess.run(["ffmpeg", "-version"], capture_output=True,
                                    text=True).stdout.splitlines()[0]
    meta = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "quick": args.quick,
        "repeat": args.repeat, "fps": args.fps, "cores": args.cores,
        "cpu_count": os.cpu_count(), "machine": platform.platform(),
        "cpu_model": cpu_model(), "ffmpeg": ffmpeg_version, "git": git_describe(),
        "scenarios": args.scenarios, "methods": args.methods,
    }
    measurements: list[Measurement] = []
    fixtures: dict[str, Fixture] = {}
    try:
        framex = None
        if {"framex", "warm", "warm-out"} & set(args.methods):
            framex = Framex(args.framex.resolve(), args.framex_cache)
            meta.update(framex=str(framex.binary), framex_version=framex.version,
                        framex_built=framex.built, framex_cache=framex.describe_cache())
            log(f"framex: {framex.binary} ({framex.version or 'no --version'}, built "
                f"{framex.built}), cold runs with {framex.describe_cache()}")
            if {"warm", "warm-out"} & set(args.methods) and not framex.has_cache_flag:
                raise BenchError("the warm methods need a framex whose `extract --help` "
                                 "offers --cache-dir (the store)")
        load1 = os.getloadavg()[0]
        if load1 > 0.25 * args.cores:
            log(f"warning: load average {load1:.2f} on {args.cores} cores: the machine is not idle, "
                "timings will be noisy")
        fixtures = fixture_specs(args.quick, BENCH / "fixtures" / ("quick" if args.quick else ""))
        scenarios = build_scenarios(fixtures)
        needed = {scenarios[s].fixture.key for s in args.scenarios}
        for key in ("h264", "alpha", "vfr"):
            if key in needed:
                ensure_fixture(fixtures[key])
        scenarios = build_scenarios(fixtures)  # durations are known now
        meta["scenarios"] = {s: scenarios[s].description for s in args.scenarios}
        work_root = BENCH / "out" / "work"  # scratch: cleared at start, each run's dir removed after it
        shutil.rmtree(work_root, ignore_errors=True)
        work_root.mkdir(parents=True)
        stores_root = work_root / "warm-stores"  # one store per scenario for warm, warm-out
        shutil.rmtree(stores_root, ignore_errors=True)
        for rep in range(args.repeat):
            # Rotate the method order each repeat so no method always runs first.
            order = args.methods[rep % len(args.methods):] + args.methods[:rep % len(args.methods)]
            for name in args.scenarios:
                sc = scenarios[name]
                for method in order:
                    work = Path(tempfile.mkdtemp(prefix=f"{name}-{method}-", dir=work_root))
                    os.sync()  # flush the previous run's frames so their write-back is not billed here
                    load = os.getloadavg()[0]
                    if method == "framex":
                        m = framex.measure(sc, args.fps, work, args.timeout)
                    elif method in ("warm", "warm-out"):
                        store = stores_root / name
                        if not store.exists():
                            store.mkdir(parents=True)
                            log(f"        priming the warm store for {name} (untimed)")
                            framex.prime(sc, args.fps, work, args.timeout, store)
                            os.sync()
                        m = framex.measure(sc, args.fps, work, args.timeout, method, store)
                    elif method == "cli":
                        m = measure_cli(sc, args.fps, work, args.timeout)
                    else:
                        m = measure_decode(sc, args.cores, work, args.timeout)
                    m.repeat, m.loadavg_before = rep, load
                    measurements.append(m)
                    log(f"[{rep + 1}/{args.repeat}] {name:5} {method:8} wall {m.wall_s:7.3f} s  "
                        f"cpu {m.cpu_s:7.3f} s  rss {m.peak_rss_mb:6.0f} MB  frames {m.frames:5d}"
                        + (f"  ! {'; '.join(m.notes)}" if m.notes else ""))
                    if args.keep:
                        log(f"        kept {work}")
                    else:
                        shutil.rmtree(work, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(stores_root, ignore_errors=True)
    except BenchError as e:
        write_results(args.results, meta, fixtures, measurements, None, failure=str(e))
        log(f"\nerror: {e}\n(partial raw results in {args.results}; "
            f"the failed run's files are kept in {BENCH / 'out' / 'work'})")
        return 1
    except KeyboardInterrupt:
        write_results(args.results, meta, fixtures, measurements, None, failure="interrupted")
        log(f"\ninterrupted (partial raw results in {args.results})")
        return 130

    rows, breakdowns = summarize(measurements, args.scenarios, args.methods, args.cores)
    write_results(args.results, meta, fixtures, measurements, (rows, breakdowns))
    header = (f"framex benchmark{' (quick)' if args.quick else ''}: medians of {args.repeat} "
              f"interleaved run(s), {args.cores} cores, fps {args.fps}, "
              f"framex {meta.get('framex_cache', 'not run')}")
    print(report(rows, breakdowns, args.markdown, header))
    log(f"\nraw results: {args.results}")
    return 0


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def write_results(path: Path, meta: dict, fixtures: dict[str, Fixture],
                  measurements: list[Measurement], summary, failure: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "meta": meta,
        "failure": failure,
        "fixtures": {k: {"path": str(f.path), "recipe": ["ffmpeg", *f.args, f.path.name],
                         "duration_s": float(f.duration), "video_packets": f.frames}
                     for k, f in fixtures.items() if f.duration},
        "runs": [{
            "scenario": m.scenario, "method": m.method, "repeat": m.repeat,
            "wall_s": round(m.wall_s, 4), "cpu_s": round(m.cpu_s, 4),
            "peak_rss_mb": round(m.peak_rss_mb, 2), "frames": m.frames,
            "expected_frames": m.expected_frames, "frames_per_s": round(m.fps, 2),
            "notes": m.notes, "loadavg_before": m.loadavg_before,
            "commands": m.commands, "processes": m.per_process, "framex_result": m.framex,
        } for m in measurements],
    }
    if summary:
        rows, breakdowns = summary
        doc["summary"] = {
            "rows": [r.__dict__ for r in rows],
            "framex_breakdown": breakdowns,
            "targets": [dict(zip(("target", "measured", "goal", "met"), t))
                        for t in target_rows(rows)],
        }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
