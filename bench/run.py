#!/usr/bin/env python3
"""The framex benchmark (contract §7): framex against the per-clip ffmpeg CLI method and the
decode-only limit, side by side in one run, on fixtures synthesized with the ffmpeg CLI.

Standard library only (Python 3.11). See bench/README.md for what each column means.

    python3 bench/run.py                 # full benchmark, 3 interleaved repeats, medians
    python3 bench/run.py --quick --repeat 1
    python3 bench/run.py --scenarios full,alpha --markdown
    python3 bench/run.py --scenarios retrim,misalign --methods framex,warm,warm-out
"""

from __future__ import annotations

import argparse
import hashlib
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
ALL_SCENARIOS = ("full", "alpha", "vfr", "trims", "dup3", "misalign", "retrim", "many8", "many", "4k",
                 "fleet", "drawsize", "sdr2hdr")
# drawsize (issue 14): a source drawn smaller (`--max-size`) against the same clip at full size,
# every run cold into a store of its own, one after another. (source, box or None, goal: the
# full run's wall ÷ the sized run's wall).
DRAWSIZE_CASES = (("h264", None, None), ("h264", "960x540", 2.0), ("h264", "480x270", None),
                  ("uhd", None, None), ("uhd", "1920x1080", 1.6))
# fleet: the control composition (the `full` scenario's clip) cut into 1, 2 and 4 timeline
# slices, each slice a cold worker with a store of its own, run one after another.
FLEET_SLICES = (1, 2, 4)
FLEET_CPU_GOAL = 1.1  # issue 12: slices' CPU ≤ 1.1 × one full run, plus the measured lead-in
# warm, warm-out: the identical manifest again, against the store the cold run just filled,
# without and with --out.
DEFAULT_METHODS = ("framex", "cli", "decode", "warm", "warm-out")
ALL_METHODS = DEFAULT_METHODS
WARM_METHODS = ("warm", "warm-out")
# Every framex measurement, in the order rows are listed. framex: cold. union: cold, the single
# pass over a scenario's union (misalign). first, retrim, new-only: the retrim sequence.
FRAMEX_METHODS = ("framex", "union", "first", "retrim", "new-only", "warm", "warm-out")
ROW_ORDER = ("framex", "union", "first", "retrim", "new-only", "warm", "warm-out", "cli", "decode")
# Quiet, non-interactive ffmpeg; changes no work done. HyperFrames passes none of these.
FFMPEG_QUIET = ["-nostdin", "-hide_banner", "-loglevel", "error"]
BREAKDOWN_KEYS = ("probeMs", "planMs", "decodeMs", "convertMs", "encodeMs", "publishMs")
COUNTER_KEYS = ("clipHits", "framesDecoded", "leadInFrames", "framesEncoded", "framesReused",
                "framesLinked", "seeks", "framesSdrToHdrFast", "framesColourFiltered")
WARM_MS = 10.0  # contract §7: warm runs ≤ 10 ms inside the engine without --out …
WARM_US_PER_FRAME = 10.0  # … plus ≤ 10 µs per frame hard-linked into --out
WARM_WALL_MS = 20.0  # issue 14: a warm CLI call without --out, process start included
SDR2HDR_GOAL = 1.3  # issue 14: the SDR clip in an HDR render ≤ 1.3 × its plain extraction


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
    rate: Fraction | None = None  # avg_frame_rate from ffprobe (CFR fixtures: the frame rate)
    scale: Fraction = Fraction(1)  # "many": its clips' times are multiplied by this (--quick)


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
    # Memory: eight different 1080p sources in one composition, and one 4K source.
    many_s = 3 if quick else 10
    many = [
        Fixture(
            f"many{i}",
            folder / f"h264_1080p_{many_s}s_hue{i}.mp4",
            ["-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={many_s},hue=h={i * 40}",
             "-c:v", "libx264", "-preset", "fast", "-crf", "20", "-pix_fmt", "yuv420p"],
        )
        for i in range(1, 9)
    ]
    uhd = Fixture(
        "uhd",
        folder / f"h264_2160p_{many_s}s.mp4",
        ["-f", "lavfi", "-i", f"testsrc2=size=3840x2160:rate=30:duration={many_s}",
         "-c:v", "libx264", "-preset", "fast", "-crf", "20", "-pix_fmt", "yuv420p"],
    )
    # "many" (issue 14): 12 short clips from 4 sources. --quick shortens every source and clip to
    # a sixth.
    k = 6 if quick else 1
    few = [
        Fixture("few_gop250", folder / f"h264_1080p_{60 // k}s_gop250.mp4",
                ["-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={60 / k:g}",
                 "-c:v", "libx264", "-preset", "fast", "-crf", "20", "-pix_fmt", "yuv420p",
                 "-g", "250", "-keyint_min", "250", "-sc_threshold", "0"], scale=Fraction(1, k)),
        Fixture("few_24", folder / f"h264_1080p24_{20 / k:g}s.mp4",
                ["-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=24:duration={20 / k:g}",
                 "-c:v", "libx264", "-preset", "fast", "-crf", "20", "-pix_fmt", "yuv420p"],
                scale=Fraction(1, k)),
        Fixture("few_720", folder / f"h264_720p_{3 / k:g}s.mp4",
                ["-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=30:duration={3 / k:g}",
                 "-c:v", "libx264", "-preset", "fast", "-crf", "20", "-pix_fmt", "yuv420p"],
                scale=Fraction(1, k)),
        Fixture("few_noisy", folder / f"h264_1080p_{10 / k:g}s_noisy.mp4",
                ["-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={10 / k:g}",
                 "-vf", "noise=alls=30:allf=t+u",
                 "-c:v", "libx264", "-preset", "fast", "-crf", "20", "-pix_fmt", "yuv420p"],
                scale=Fraction(1, k)),
    ]
    # sdr2hdr (issue 14): a short, small PQ clip that makes the composition an HDR render, so the
    # long SDR clip beside it is converted SDR→HDR. Small, so the comparison with the plain run
    # of the SDR clip alone measures the conversion, not the PQ clip's own frames.
    pq = Fixture(
        "pq",
        folder / "hevc_pq_360p_1s.mp4",
        ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=1",
         "-vf", "zscale=tin=bt709:pin=bt709:min=bt709:rin=tv:t=smpte2084:p=bt2020:m=bt2020nc:r=tv"
         ":npl=400,format=yuv420p10le",
         "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error",
         "-color_trc", "smpte2084", "-color_primaries", "bt2020", "-colorspace", "bt2020nc"],
    )
    return {f.key: f for f in (h264, alpha, vfr, *many, uhd, *few, pq)}


# "many": (fixture, media start s, media end s) of each clip, as issue 14 lists them.
MANY_CLIPS = (
    ("few_gop250", 0, 5), ("few_gop250", 12, 17), ("few_gop250", 40, 48), ("few_gop250", 13, 15),
    ("few_gop250", 55, 60),
    ("few_24", 1, 7), ("few_24", Fraction(7, 2), Fraction(19, 2)), ("few_24", 15, 19),
    ("few_720", 0, 2), ("few_720", Fraction(1, 2), 3), ("few_720", 0, 3),
    ("few_noisy", 2, 7),
)


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
    try:
        rate = Fraction(stream.get("avg_frame_rate") or "0")
    except (ValueError, ZeroDivisionError):
        rate = Fraction(0)
    fx.rate = rate if rate > 0 else None
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
    # The filter HyperFrames' per-clip ffmpeg applies after fps (sdr2hdr: the SDR→HDR one).
    cli_filter: str | None = None

    def expected_frames(self, fps: int) -> int:
        """One frame per sample time inside the window and the source's playable range."""
        span = min(self.duration, self.fixture.duration - self.media_start)
        return max(0, math.ceil(span * fps))

    def source_frames(self, fps: int) -> set[int] | None:
        """Indices of the source frames the clip shows (contract §2: the frame a player shows at each
        sample time, with a small tolerance), for a CFR fixture; None for VFR."""
        fx = self.fixture
        if fx.vfr or not fx.rate:
            return None
        tol = Fraction(1, 1000) * fx.rate / fps  # 1/1000 of an output frame interval, in frames
        last = max(0, fx.frames - 1)
        return {min(last, math.floor((self.media_start + Fraction(k, fps)) * fx.rate + tol))
                for k in range(self.expected_frames(fps))}


@dataclass
class Scenario:
    name: str
    clips: list[Clip]
    description: str
    # misalign: the single clip covering the union of the clips' source ranges ("union" method).
    union: Scenario | None = None
    # retrim: the first window, run cold into a fresh store before this (shifted) one, and a
    # window holding only the frames the shift adds (the "new-only" reference, cold).
    first: Scenario | None = None
    new_only: Scenario | None = None

    @property
    def fixture(self) -> Fixture:
        return self.clips[0].fixture

    def expected_frames(self, fps: int) -> int:
        return sum(c.expected_frames(fps) for c in self.clips)

    def distinct_source_frames(self, fps: int) -> set[tuple[str, int]] | None:
        """The source frames all clips together show (CFR fixtures only): what a frame-level
        store holds after a cold run."""
        out: set[tuple[str, int]] = set()
        for c in self.clips:
            frames = c.source_frames(fps)
            if frames is None:
                return None
            out |= {(c.fixture.key, f) for f in frames}
        return out

    def new_frames(self, fps: int) -> int | None:
        """retrim: source frames this window shows that the first window did not."""
        if self.first is None:
            return None
        mine, before = self.distinct_source_frames(fps), self.first.distinct_source_frames(fps)
        return None if mine is None or before is None else len(mine - before)

    def manifest(self, fps: int) -> dict:
        return {
            "fps": fps,
            "videos": [
                {"id": c.id, "src": str(c.fixture.path), "start": 0,
                 "end": float(c.duration), "mediaStart": float(c.media_start)}
                for c in self.clips
            ],
        }

    @property
    def fixtures(self) -> list[Fixture]:
        """The distinct sources of the clips, in clip order."""
        out: list[Fixture] = []
        for c in self.clips:
            if all(f.key != c.fixture.key for f in out):
                out.append(c.fixture)
        return out

    def decode_ranges(self, fx: Fixture | None = None) -> list[tuple[Fraction, Fraction]]:
        """The union of the source ranges of the clips of `fx` (default: the first source), as
        disjoint (start, end) intervals."""
        fx = fx or self.fixture
        spans = sorted((c.media_start, min(c.media_start + c.duration, c.fixture.duration))
                       for c in self.clips if c.fixture.key == fx.key)
        merged: list[list[Fraction]] = []
        for s, e in spans:
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        return [(s, e) for s, e in merged]


RETRIM_SHIFT = Fraction(1, 2)  # retrim: the window moves by 0.5 s, i.e. 15 new frames at 30 fps
MISALIGN = Fraction(17, 1000)  # misalign: the second trim starts 0.017 s (0.51 frame) off the grid


def build_scenarios(fixtures: dict[str, Fixture]) -> dict[str, Scenario]:
    h264, alpha, vfr = fixtures["h264"], fixtures["alpha"], fixtures["vfr"]
    length = usec(h264.duration)
    half = usec(length / 2)
    sixth = usec(length / 6)
    off = sixth + MISALIGN  # 10.017 (1.683667 with --quick)
    shifted = RETRIM_SHIFT
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
        "misalign": Scenario(
            "misalign", [Clip("a", h264, Fraction(0), half), Clip("b", h264, off, half)],
            f"two {dec(half)} s trims at 0 and {dec(off)} (off the frame grid), cold; "
            f"union: one clip from 0 for {dec(off + half)} s",
            union=Scenario("misalign", [Clip("a", h264, Fraction(0), off + half)],
                           f"union of misalign: 0 for {dec(off + half)} s")),
        "retrim": Scenario(
            "retrim", [Clip("a", h264, shifted, half)],
            f"window [0, {dec(half)}] cold into a fresh store, then [{dec(shifted)}, "
            f"{dec(half + shifted)}] against it; new-only: [{dec(half)}, {dec(half + shifted)}] "
            "cold",
            first=Scenario("retrim", [Clip("a", h264, Fraction(0), half)], "retrim, first window"),
            new_only=Scenario("retrim", [Clip("a", h264, half, shifted)],
                              "retrim, only the new frames")),
        "many8": Scenario("many8",
                          [Clip(f"s{i}", fixtures[f"many{i}"], Fraction(0), usec(fixtures[f"many{i}"].duration))
                           for i in range(1, 9)],
                          "eight different 1080p sources, one whole clip each → JPEG (memory)"),
        "many": Scenario(
            "many",
            [Clip(f"c{i + 1}", fixtures[key], usec(Fraction(a) * fixtures[key].scale),
                  usec(Fraction(b - a) * fixtures[key].scale))
             for i, (key, a, b) in enumerate(MANY_CLIPS)],
            "12 clips from 4 sources (60 s 1080p GOP 250: 0–5, 12–17, 40–48, 13–15, 55–60; 20 s "
            "1080p24: 1–7, 3.5–9.5, 15–19; 3 s 720p: 0–2, 0.5–3, 0–3; 10 s noisy 1080p: 2–7) → "
            "JPEG, against its CPU-bound limit"),
        "4k": Scenario("4k", [Clip("a", fixtures["uhd"], Fraction(0), usec(fixtures["uhd"].duration))],
                       "one 2160p source, whole clip → JPEG (memory)"),
        "drawsize": Scenario(
            "drawsize", [Clip("hd", h264, Fraction(0), length),
                         Clip("uhd", fixtures["uhd"], Fraction(0), usec(fixtures["uhd"].duration))],
            f"the {dec(length)} s 1080p30 clip at full size, within 960x540 and 480x270; the "
            f"{dec(fixtures['uhd'].duration)} s 2160p clip at full size and within 1920x1080 "
            "(--max-size; each a cold run) → JPEG"),
        "sdr2hdr": Scenario(
            "sdr2hdr",
            [Clip("a", h264, Fraction(0), length, cli_filter="colorspace=all=bt2020:iall=bt709:range=tv"),
             Clip("pq", fixtures["pq"], Fraction(0), usec(fixtures["pq"].duration))],
            f"the {dec(length)} s 1080p30 SDR clip beside a 1 s 360p PQ clip: an HDR render, the "
            "SDR clip converted SDR→HDR (compare with full: the same clip alone)"),
        "fleet": Scenario("fleet", [Clip("a", h264, Fraction(0), length)],
                          f"the {dec(length)} s 1080p30 clip as {', '.join(map(str, FLEET_SLICES))} "
                          "timeline slices (--frames), one cold worker each, one after another"),
    }


# ---------------------------------------------------------------------------------------------
# Fleet: chunked renders


def fleet_cuts(frames: int, n: int) -> list[tuple[int, int]]:
    """`n` slices [a, b) of composition frames 0..frames, as equal as whole frames allow."""
    bounds = [frames * i // n for i in range(n + 1)]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if a < b]


def run_fleet(framex: Framex, sc: Scenario, args: argparse.Namespace, work_root: Path,
              seconds: Fraction | None) -> list[dict]:
    """The fleet scenario, once per repeat: one full run, then the composition as 1, 2 and 4
    slices (`--frames a..b`), every run cold into a store of its own (a fleet worker starts
    empty) and all of them one after another, so the CPU figures are comparable on 2 cores.
    Per slicing: total CPU of the slices ÷ CPU of the full run, wall of the slowest slice, and
    per slice the frames decoded and the keyframe lead-in (frames decoded that the slice does
    not show). `seconds` cuts the composition shorter (a smoke test)."""
    if seconds is not None:
        sc = Scenario("fleet", [Clip(c.id, c.fixture, c.media_start, min(c.duration, seconds))
                                for c in sc.clips], sc.description)
    frames = sc.expected_frames(args.fps)
    rows = []
    for rep in range(args.repeat):
        def one(tag: str, extra: list[str]) -> tuple[float, Proc, dict]:
            work = Path(tempfile.mkdtemp(prefix=f"fleet-{tag}-", dir=work_root))
            store = work / "store"
            argv, env = framex._command(sc, args.fps, work, work / "out", store, str(store))
            os.sync()
            wall, procs = run_parallel([argv + extra], work / "logs", args.timeout, env)
            result = Framex._result(sc, argv + extra, procs[0])
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
            return wall, procs[0], result

        _, full, full_result = one("full", [])
        full_cpu = full.user_s + full.sys_s
        log(f"[{rep + 1}/{args.repeat}] fleet    full run  cpu {full_cpu:7.3f} s  frames "
            f"{full_result.get('totalFrames')}  decoded {breakdown_value(full_result, 'framesDecoded')}")
        for n in FLEET_SLICES:
            slices = []
            for a, b in fleet_cuts(frames, n):
                wall, p, result = one(f"{n}-{a}", ["--frames", f"{a}..{b}"])
                decoded = breakdown_value(result, "framesDecoded") or 0
                encoded = breakdown_value(result, "framesEncoded") or 0
                slices.append({"frames": [a, b], "cpu_s": round(p.user_s + p.sys_s, 4),
                               "wall_s": round(wall, 4),
                               "decoded": decoded, "encoded": encoded,
                               "lead_in": max(0, decoded - encoded), "seeks": breakdown_value(result, "seeks"),
                               "total_frames": result.get("totalFrames")})
            cpu = sum(s["cpu_s"] for s in slices)
            lead_in = sum(s["lead_in"] for s in slices)
            goal = FLEET_CPU_GOAL + lead_in / frames if frames else FLEET_CPU_GOAL
            row = {"repeat": rep, "slices": n, "frames": frames, "cpu_s": round(cpu, 4),
                   "full_cpu_s": round(full_cpu, 4), "cpu_ratio": round(cpu / full_cpu, 3) if full_cpu else None,
                   "goal": round(goal, 3), "slowest_wall_s": max(s["wall_s"] for s in slices),
                   "decoded_per_slice": [s["decoded"] for s in slices],
                   "lead_in_per_slice": [s["lead_in"] for s in slices], "per_slice": slices,
                   "frames_total": sum(s["total_frames"] or 0 for s in slices)}
            if row["frames_total"] != frames:
                log(f"warning: fleet {n} slices produced {row['frames_total']} frames, {frames} expected")
            rows.append(row)
            log(f"[{rep + 1}/{args.repeat}] fleet    {n} slice(s) cpu {cpu:7.3f} s  "
                f"÷ full {row['cpu_ratio']}  (goal ≤ {row['goal']})  slowest {row['slowest_wall_s']:.3f} s  "
                f"decoded {row['decoded_per_slice']}")
    return rows


def fleet_table(rows: list[dict], markdown: bool) -> str:
    """Medians over repeats, one line per slicing."""
    out = []
    for n in FLEET_SLICES:
        mine = [r for r in rows if r["slices"] == n]
        if not mine:
            continue
        ratio = median([r["cpu_ratio"] for r in mine if r["cpu_ratio"] is not None])
        goal = median([r["goal"] for r in mine])
        decoded = [median([r["decoded_per_slice"][i] for r in mine]) for i in range(n)]
        lead = [median([r["lead_in_per_slice"][i] for r in mine]) for i in range(n)]
        out.append([str(n), fmt(median([r["cpu_s"] for r in mine])),
                    fmt(median([r["full_cpu_s"] for r in mine])), fmt(ratio, 3), fmt(goal, 3),
                    "yes" if ratio is not None and ratio <= goal else "no",
                    fmt(median([r["slowest_wall_s"] for r in mine]), 3),
                    " ".join(fmt(d, 0) for d in decoded), " ".join(fmt(x, 0) for x in lead)])
    return render_table(["slices", "CPU s", "full CPU s", "CPU ÷ full", "goal", "met",
                         "slowest wall s", "decoded per slice", "lead-in per slice"], out, markdown) + \
        ("\n(fleet: every slice a cold worker with its own store, run one after another; goal = "
         f"{FLEET_CPU_GOAL} + measured lead-in ÷ frames; wall = the whole process)")


# ---------------------------------------------------------------------------------------------
# Drawn sizes


def run_drawsize(framex: Framex, sc: Scenario, args: argparse.Namespace, work_root: Path) -> list[dict]:
    """The drawsize scenario, once per repeat: each source's clip cold at full size and cold
    within each box of DRAWSIZE_CASES (`--max-size`), every run into a store of its own, one
    after another. Per run: wall, CPU, the frame size the result reports; per sized run, the
    full run's wall and CPU ÷ its own (the speed-up)."""
    rows = []
    for rep in range(args.repeat):
        for clip in sc.clips:
            sub = Scenario("drawsize", [clip], sc.description)
            full = None
            for key, box, goal in DRAWSIZE_CASES:
                if key != clip.fixture.key:
                    continue
                work = Path(tempfile.mkdtemp(prefix=f"drawsize-{key}-", dir=work_root))
                store = work / "store"
                argv, env = framex._command(sub, args.fps, work, work / "out", store, str(store))
                argv += ["--max-size", box] if box else []
                os.sync()
                wall, procs = run_parallel([argv], work / "logs", args.timeout, env)
                result = Framex._result(sub, argv, procs[0])
                if not args.keep:
                    shutil.rmtree(work, ignore_errors=True)
                p = procs[0]
                c = (result_clips(result) or [{}])[0]
                row = {"repeat": rep, "source": key, "box": box, "frames": result.get("totalFrames"),
                       "size": f"{c.get('width')}x{c.get('height')}", "wall_s": round(wall, 4),
                       "cpu_s": round(p.user_s + p.sys_s, 4), "goal": goal,
                       "decoded": breakdown_value(result, "framesDecoded")}
                if box is None:
                    full = row
                elif full:
                    row["speedup_wall"] = round(full["wall_s"] / wall, 3) if wall else None
                    row["speedup_cpu"] = round(full["cpu_s"] / row["cpu_s"], 3) if row["cpu_s"] else None
                rows.append(row)
                log(f"[{rep + 1}/{args.repeat}] drawsize {key:4} {box or 'full':9} {row['size']:9} "
                    f"wall {wall:7.3f} s  cpu {row['cpu_s']:7.3f} s"
                    + (f"  speed-up {row.get('speedup_wall')}× wall, {row.get('speedup_cpu')}× CPU"
                       if box else ""))
    return rows


def drawsize_table(rows: list[dict], markdown: bool) -> str:
    """Medians over repeats, one line per (source, box), with the speed-up check."""
    out = []
    for key, box, goal in DRAWSIZE_CASES:
        mine = [r for r in rows if r["source"] == key and r["box"] == box]
        if not mine:
            continue
        up = median([r["speedup_wall"] for r in mine if r.get("speedup_wall") is not None])
        cpu_up = median([r["speedup_cpu"] for r in mine if r.get("speedup_cpu") is not None])
        met = "" if goal is None or up is None else ("yes" if up >= goal else "no")
        out.append([key, box or "full", mine[0]["size"], fmt(mine[0]["frames"], 0),
                    fmt(median([r["wall_s"] for r in mine]), 3), fmt(median([r["cpu_s"] for r in mine]), 3),
                    fmt(up, 2) if box else "", fmt(cpu_up, 2) if box else "",
                    f"≥ {goal}" if goal else "", met])
    return render_table(["source", "box", "frames at", "frames", "wall s", "CPU s", "speed-up (wall)",
                         "speed-up (CPU)", "goal", "met"], out, markdown) + \
        ("\n(drawsize: every run cold into its own store, one after another; speed-up = the same "
         "source's full-size run ÷ this run)")


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
    store: dict | None = None  # `framex cache stats` after the run (cold runs into a store)

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
        st = binary.stat()
        self.original_stat = (st.st_ino, st.st_mtime_ns, st.st_size)
        self.built = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(st.st_mtime))
        # Measure a private copy: a `cargo build` elsewhere during the benchmark replaces
        # target/release/framex, which would otherwise switch binaries between runs.
        snapshot_dir = BENCH / "out" / "framex-under-test"
        snapshot_dir.mkdir(parents=True, exist_ok=True)
        snapshot = snapshot_dir / binary.name
        shutil.copy2(binary, snapshot)
        # `framex` hands every run it cannot answer from the store to `framex-engine` beside it:
        # the copy needs its engine (an older framex has none).
        engine = binary.with_name("framex-engine")
        (snapshot_dir / engine.name).unlink(missing_ok=True)
        if engine.is_file():
            shutil.copy2(engine, snapshot_dir / engine.name)
        self.sha256 = hashlib.sha256(snapshot.read_bytes()).hexdigest()
        self.original = binary
        self.binary = snapshot

    def rebuilt_since_start(self) -> bool:
        """Whether the original binary was replaced while the benchmark ran (the copy is what
        was measured)."""
        try:
            st = self.original.stat()
        except OSError:
            return True
        return (st.st_ino, st.st_mtime_ns, st.st_size) != self.original_stat

    def startup_ms(self, n: int = 7) -> float:
        """Median wall ms of `framex --version`: process start-up (dynamic loading), the floor
        under every run's wall time."""
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            subprocess.run([str(self.binary), "--version"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times.append((time.perf_counter() - t0) * 1000)
        return statistics.median(times)

    def describe_cache(self) -> str:
        if self.cache == "off" and self.has_cache_flag:
            return "cold runs with --cache-dir off"
        how = "--cache-dir" if self.has_cache_flag else "FRAMEX_CACHE_DIR"
        return f"cold runs into a fresh empty store (via {how})"

    def run(self, sc: Scenario, method: str, fps: int, work: Path, timeout: float,
            store: Path | None, out: bool, name: str | None = None,
            expect_new: int | None = None) -> Measurement:
        """One timed framex run of `sc`'s manifest. `store` None: `--cache-dir off`, else that
        store (fresh for a cold run, filled for warm and retrim). `out`: into a fresh, empty
        `--out` folder, else the frames stay in the store. `name` labels the row (sub-scenarios
        of misalign and retrim carry their parent's name)."""
        out_dir = work / "out" if out else None
        if out_dir:
            out_dir.mkdir()
        if store is None:
            env_store = work / "no-store"  # a binary without --cache-dir still runs cold
            env_store.mkdir()
            cache_arg = "off"
        else:
            env_store, cache_arg = store, str(store)
        argv, env = self._command(sc, fps, work, out_dir, env_store, cache_arg)
        before = tree_entries(store) if method == "warm" and store else None
        os.sync()  # flush earlier runs' frames so their write-back is not billed to this one
        wall, procs = run_parallel([argv], work / "logs", timeout, env)
        p = procs[0]
        result = self._result(sc, argv, p)
        m = Measurement(name or sc.name, method, 0, wall, p.user_s + p.sys_s, p.maxrss_mb,
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
        if result.get("warnings"):
            m.notes.append(f"framex warning: {'; '.join(map(str, result['warnings']))[:200]}")
        clips = {c.get("id"): c for c in result_clips(result)}
        warm = method in WARM_METHODS
        for clip in sc.clips:
            entry = clips.get(clip.id, {})
            # Without --out the frames are read where the result says they are (the store).
            folder = out_dir / clip.id if out_dir else Path(entry.get("dir") or work / "missing")
            files = count_frames(folder, sc.fixture.format)
            want = clip.expected_frames(fps)
            if files != want:
                m.notes.append(f"framex {clip.id}: {files} .{sc.fixture.format} files, {want} expected")
            if isinstance(entry.get("frames"), int) and entry["frames"] != files:
                m.notes.append(f"framex {clip.id}: reports {entry['frames']} frames, {files} files")
            if warm and entry.get("cached") is not True:
                m.notes.append(f"framex {clip.id}: not cached on a warm run")
            if store is not None and not out_dir and entry.get("dir") and \
                    not Path(entry["dir"]).resolve().is_relative_to(store.resolve()):
                m.notes.append(f"framex {clip.id}: dir outside the store")
            if method == "warm-out" and files and not is_hard_link(folder, sc.fixture.format):
                m.notes.append(f"framex {clip.id}: --out frames are not hard links")
        counters = {k: breakdown_value(result, k) for k in COUNTER_KEYS + ("crossFsCopies",)}
        if warm:
            missing = [] if isinstance(result.get("durationMs"), (int, float)) else ["durationMs"]
            for k in ("framesDecoded", "framesEncoded", "seeks", "crossFsCopies"):
                if counters.get(k):
                    m.notes.append(f"warm run: {k} {counters[k]:g} (expected 0)")
            if counters.get("clipHits") is not None and counters["clipHits"] != len(sc.clips):
                m.notes.append(f"warm run: clipHits {counters['clipHits']:g}≠{len(sc.clips)} clips")
            if before is not None:
                after = tree_entries(store)
                if after != before:
                    m.notes.append(f"warm run without --out changed the store: {before[0]}→"
                                   f"{after[0]} files, {before[1]}→{after[1]} folders")
        else:
            missing = [k for k in BREAKDOWN_KEYS + COUNTER_KEYS if breakdown_value(result, k) is None]
            # The limit trusts convertMs + encodeMs to be CPU time; threads' wall time (waiting
            # on queues included) would inflate it. CPU phases cannot exceed the process's CPU.
            # (decodeMs is the decoding thread's busy wall time, not CPU: on a loaded machine it
            # exceeds the decode CPU, so it is left out of this check.)
            phases = [breakdown_value(result, k) for k in ("convertMs", "encodeMs")]
            if None not in phases and sum(phases) > 1.05 * m.cpu_s * 1000 + 20:
                m.notes.append(f"framex convert+encode {sum(phases):.0f} ms > process CPU "
                               f"{m.cpu_s * 1000:.0f} ms: phase times are not pure CPU")
            if counters.get("crossFsCopies"):
                m.notes.append(f"framex copied {counters['crossFsCopies']:g} frames across "
                               "filesystems instead of linking them")
        if sc.name == "sdr2hdr" and not warm and counters.get("framesColourFiltered"):
            m.notes.append(f"sdr2hdr: {counters['framesColourFiltered']:g} frames through "
                           "libavfilter instead of the fast path")
        if expect_new is not None and counters.get("framesEncoded") is not None \
                and counters["framesEncoded"] != expect_new:
            m.notes.append(f"framesEncoded {counters['framesEncoded']:g}≠{expect_new} new frames")
        if missing:
            m.notes.append("framex result lacks " + ",".join(missing))
        return m

    def prime(self, sc: Scenario, fps: int, work: Path, timeout: float, store: Path) -> None:
        """Fills `store` for the warm methods (untimed) with the cold command: into --out."""
        out = work / "prime-out"
        argv, env = self._command(sc, fps, work, out, store, str(store))
        _, procs = run_parallel([argv], work / "prime-logs", timeout, env)
        self._result(sc, argv, procs[0])
        shutil.rmtree(out, ignore_errors=True)

    def stats(self, store: Path) -> dict | None:
        """`framex cache stats` (untimed); None if it fails."""
        proc = subprocess.run([str(self.binary), "cache", "stats", "--cache-dir", str(store)],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
        try:
            doc = json.loads(proc.stdout) if proc.returncode == 0 else None
        except ValueError:
            doc = None
        return doc if isinstance(doc, dict) else None

    def check_store(self, m: Measurement, store: Path, sc: Scenario, fps: int,
                    before: int = 0) -> None:
        """After a cold run into a fresh store (or a retrim into a filled one): the store holds
        each distinct source frame once, as many as the run says it encoded."""
        m.store = self.stats(store)
        if m.store is None:
            m.notes.append("`framex cache stats` failed")
            return
        stored = m.store.get("frames")
        encoded = breakdown_value(m.framex, "framesEncoded")
        if isinstance(stored, int) and encoded is not None and stored - before != encoded:
            m.notes.append(f"store gained {stored - before} frames, framesEncoded {encoded:g}")
        distinct = sc.distinct_source_frames(fps)
        if distinct is not None and isinstance(stored, int) and before == 0 \
                and stored != len(distinct):
            m.notes.append(f"store holds {stored} frames, {len(distinct)} distinct source frames")

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


def tree_entries(root: Path) -> tuple[int, int]:
    """(files, folders) below root."""
    files = folders = 0
    for _, dirs, names in os.walk(root):
        files += len(names)
        folders += len(dirs)
    return files, folders


def is_hard_link(folder: Path, ext: str) -> bool:
    """Whether the clip's first frame file has another link (the store's object)."""
    try:
        return (folder / f"frame_00001.{ext}").stat().st_nlink > 1
    except OSError:
        return False


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
        fx = clip.fixture
        (out / clip.id).mkdir(parents=True)
        argv = ["ffmpeg", *FFMPEG_QUIET, *fx.input_args,
                "-ss", dec(clip.media_start), "-i", str(fx.path), "-t", dec(clip.duration)]
        vf = f"fps={fps}" + (f",{clip.cli_filter}" if clip.cli_filter else "")
        argv += ["-fps_mode", "cfr", "-r", str(fps)] if fx.vfr else ["-vf", vf]
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
        files = count_frames(out / clip.id, clip.fixture.format)
        m.frames += files
        want = clip.expected_frames(fps)
        if p.rc != 0:
            m.notes.append(f"cli {clip.id}: ffmpeg exit {p.rc}: {p.stderr_tail(200).strip()}")
        if files != want:
            m.notes.append(f"cli {clip.id}: {files} files, {want} expected")
    return m


def measure_decode(sc: Scenario, cores: int, work: Path, timeout: float) -> Measurement:
    """The decode-only limit: the union of each source's ranges decoded once, to the null muxer."""
    wall = cpu = peak = 0.0
    frames = 0
    notes, argvs, records = [], [], []
    ranges = [(fx, r) for fx in sc.fixtures for r in sc.decode_ranges(fx)]
    for i, (fx, (start, end)) in enumerate(ranges):
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
    engine_ms: float | None = None  # framex's own durationMs (every framex method)
    vs_first: float | None = None  # retrim: wall ÷ the first window's cold wall
    vs_new_only: float | None = None  # retrim: wall ÷ cold wall of only the new frames
    new_frames: int | None = None  # retrim: source frames the shifted window adds


def summarize(measurements: list[Measurement], scenario_names: list[str], cores: int,
              fps: int = FPS, scenarios: dict[str, Scenario] | None = None
              ) -> tuple[list[Row], dict[str, dict]]:
    rows: list[Row] = []
    breakdowns: dict[str, dict] = {}
    by_key: dict[tuple[str, str], list[Measurement]] = {}
    for m in measurements:
        by_key.setdefault((m.scenario, m.method), []).append(m)
    med: dict[tuple[str, str], Row] = {}
    for name in scenario_names:
        for method in ROW_ORDER:
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
        retrim = med.get((name, "retrim"))
        if retrim:
            first, new_only = med.get((name, "first")), med.get((name, "new-only"))
            if first and first.wall_s:
                retrim.vs_first = retrim.wall_s / first.wall_s
            if new_only and new_only.wall_s:
                retrim.vs_new_only = retrim.wall_s / new_only.wall_s
            if scenarios and name in scenarios:
                retrim.new_frames = scenarios[name].new_frames(fps)
        if not fx_row:
            continue
        bd = breakdowns[f"{name} framex"]
        if dec_row and bd.get("convertMs") is not None and bd.get("encodeMs") is not None:
            fx_row.limit_s = (dec_row.cpu_s + (bd["convertMs"] + bd["encodeMs"]) / 1000) / cores
            fx_row.vs_limit = fx_row.wall_s / fx_row.limit_s if fx_row.limit_s else None
        if cli_row and fx_row.wall_s:
            fx_row.cli_speedup = cli_row.wall_s / fx_row.wall_s
        own_union = med.get((name, "union"))
        if own_union and own_union.wall_s:
            fx_row.vs_union = fx_row.wall_s / own_union.wall_s
        elif name in ("trims", "dup3") and union_wall:
            fx_row.vs_union = fx_row.wall_s / union_wall
    return rows, breakdowns


TARGETS = [
    # (label, scenario, method, row attribute, comparison, goal)
    ("full: framex wall ÷ CPU-bound limit", "full", "framex", "vs_limit", "<=", 1.15),
    ("full: CLI wall ÷ framex wall", "full", "framex", "cli_speedup", ">=", 1.8),
    ("alpha: CLI wall ÷ framex wall", "alpha", "framex", "cli_speedup", ">=", 3.0),
    ("trims: framex wall ÷ single pass over union", "trims", "framex", "vs_union", "<=", 1.1),
    ("dup3: framex wall ÷ single pass over union", "dup3", "framex", "vs_union", "<=", 1.1),
    ("misalign: framex wall ÷ single pass over union", "misalign", "framex", "vs_union", "<=",
     1.1),
    ("retrim: wall ÷ cold run of only the new frames", "retrim", "retrim", "vs_new_only", "<=",
     1.1),
    ("full: framex peak RSS MB", "full", "framex", "peak_rss_mb", "<=", 300),
    ("trims: framex peak RSS MB", "trims", "framex", "peak_rss_mb", "<=", 300),
    ("dup3: framex peak RSS MB", "dup3", "framex", "peak_rss_mb", "<=", 300),
    ("misalign: framex peak RSS MB", "misalign", "framex", "peak_rss_mb", "<=", 300),
    ("many8: framex peak RSS MB", "many8", "framex", "peak_rss_mb", "<=", 300),
    ("many: framex wall ÷ CPU-bound limit", "many", "framex", "vs_limit", "<=", 1.1),
    ("many: framex peak RSS MB", "many", "framex", "peak_rss_mb", "<=", 300),
    ("4k: framex peak RSS MB", "4k", "framex", "peak_rss_mb", "<=", 600),
]


def warm_out_goal_ms(frames: float) -> float:
    return WARM_MS + WARM_US_PER_FRAME / 1000 * frames


def warm_us_per_frame(rows: list[Row], breakdowns: dict[str, dict], scenario: str
                      ) -> float | None:
    """Cost of materialising --out on a warm run: (engine ms with --out − without) per frame."""
    w = next((r for r in rows if r.scenario == scenario and r.method == "warm"), None)
    wo = next((r for r in rows if r.scenario == scenario and r.method == "warm-out"), None)
    if not (w and wo and wo.frames and w.engine_ms is not None and wo.engine_ms is not None):
        return None
    return (wo.engine_ms - w.engine_ms) * 1000 / wo.frames


def warm_out_slope(rows: list[Row]) -> tuple[float, float, int] | None:
    """Theil–Sen fit over scenarios of (engine ms with --out − without) against frames:
    (µs per frame, fixed ms, scenarios). The slope is the median of the pairwise slopes, so one
    disturbed scenario cannot move it (least squares would follow it); the fixed cost of --out
    itself (creating the folders) is the intercept, the median of y − slope·x."""
    pts = []
    for name in dict.fromkeys(r.scenario for r in rows):
        w = next((r for r in rows if r.scenario == name and r.method == "warm"), None)
        wo = next((r for r in rows if r.scenario == name and r.method == "warm-out"), None)
        if w and wo and wo.frames and w.engine_ms is not None and wo.engine_ms is not None:
            pts.append((wo.frames, wo.engine_ms - w.engine_ms))
    # Too few scenarios, or frame counts too close together, give no usable slope.
    if len(pts) < 3 or max(x for x, _ in pts) < 2 * min(x for x, _ in pts):
        return None
    slopes = [(y2 - y1) / (x2 - x1) for i, (x1, y1) in enumerate(pts)
              for x2, y2 in pts[i + 1:] if x2 != x1]
    slope = statistics.median(slopes)
    return slope * 1000, statistics.median(y - slope * x for x, y in pts), len(pts)


def target_rows(rows: list[Row], breakdowns: dict[str, dict] | None = None) -> list[list[str]]:
    breakdowns = breakdowns or {}
    by = {(r.scenario, r.method): r for r in rows}
    checks = [(label, getattr(by[(sc, meth)], attr), op, goal,
               "{:.0f}" if attr == "peak_rss_mb" else "{:.2f}")
              for label, sc, meth, attr, op, goal in TARGETS if (sc, meth) in by]
    retrim = by.get(("retrim", "retrim"))
    if retrim and retrim.new_frames is not None:
        encoded = breakdowns.get("retrim retrim", {}).get("framesEncoded")
        checks.append((f"retrim: frames encoded (= the {retrim.new_frames} new ones)", encoded,
                       "==", retrim.new_frames, "{:.0f}"))
    # Warm: ≤ 10 ms inside the engine, plus ≤ 10 µs per frame hard-linked into --out.
    decoded = []
    for r in rows:
        if r.method == "warm":
            checks.append((f"{r.scenario}: warm engine ms", r.engine_ms, "<=", WARM_MS, "{:.1f}"))
            if r.wall_s is not None:
                checks.append((f"{r.scenario}: warm call wall ms (process start included)",
                               r.wall_s * 1000, "<=", WARM_WALL_MS, "{:.1f}"))
        elif r.method == "warm-out" and r.frames is not None:
            checks.append((f"{r.scenario}: warm engine ms with --out ({r.frames:.0f} frames)",
                           r.engine_ms, "<=", warm_out_goal_ms(r.frames), "{:.1f}"))
        if r.method in WARM_METHODS:
            d = breakdowns.get(f"{r.scenario} {r.method}", {}).get("framesDecoded")
            if d is not None:
                decoded.append(d)
    fit = warm_out_slope(rows)
    if fit:
        checks.append((f"warm --out: µs per frame linked (slope over {fit[2]} scenarios, "
                       f"fixed {fit[1]:.1f} ms)", fit[0], "<=", WARM_US_PER_FRAME, "{:.1f}"))
    if decoded:
        checks.append(("warm runs: frames decoded (largest median)", max(decoded), "==", 0,
                       "{:.0f}"))
    # sdr2hdr: the HDR render against the plain run of the same SDR clip (full).
    hdr, plain = by.get(("sdr2hdr", "framex")), by.get(("full", "framex"))
    if hdr and plain:
        for what in ("wall_s", "cpu_s"):
            a, b = getattr(hdr, what), getattr(plain, what)
            if a is not None and b:
                checks.append((f"sdr2hdr: framex {what[:-2]} ÷ full (the SDR clip alone)", a / b,
                               "<=", SDR2HDR_GOAL, "{:.2f}"))
    out = []
    for label, value, op, goal, shown in checks:
        if value is None:
            continue
        ok = {"<=": value <= goal, ">=": value >= goal, "==": value == goal}[op]
        sym = {"<=": "≤", ">=": "≥", "==": "="}[op]
        out.append([label, shown.format(value), f"{sym} {goal:g}", "yes" if ok else "NO"])
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


def warm_table(rows: list[Row], breakdowns: dict[str, dict]) -> list[list[str]]:
    out = []
    for name in dict.fromkeys(r.scenario for r in rows if r.method in WARM_METHODS):
        w = next((r for r in rows if r.scenario == name and r.method == "warm"), None)
        wo = next((r for r in rows if r.scenario == name and r.method == "warm-out"), None)
        frames = (wo or w).frames
        dec = lambda r: breakdowns.get(f"{name} {r.method}", {}).get("framesDecoded") if r else None
        out.append([name, fmt(frames, 0),
                    fmt(w.engine_ms if w else None, 1),
                    fmt(w.wall_s * 1000 if w and w.wall_s is not None else None, 1),
                    fmt(dec(w), 0),
                    fmt(wo.engine_ms if wo else None, 1),
                    fmt(warm_out_goal_ms(frames) if wo and frames is not None else None, 1),
                    fmt(wo.wall_s * 1000 if wo and wo.wall_s is not None else None, 1),
                    fmt(dec(wo), 0),
                    fmt(warm_us_per_frame(rows, breakdowns, name), 1)])
    return out


def retrim_table(rows: list[Row], breakdowns: dict[str, dict]) -> list[list[str]]:
    out = []
    for r in rows:
        if r.method != "retrim":
            continue
        by = {x.method: x for x in rows if x.scenario == r.scenario}
        first, new_only = by.get("first"), by.get("new-only")
        bd = breakdowns.get(f"{r.scenario} retrim", {})
        share = (f"{r.new_frames} of {r.frames:.0f} ({100 * r.new_frames / r.frames:.1f}%)"
                 if r.new_frames is not None and r.frames else "-")
        out.append([r.scenario, fmt(first.wall_s if first else None), fmt(r.wall_s),
                    fmt(r.vs_first, 3), share, fmt(new_only.wall_s if new_only else None),
                    fmt(r.vs_new_only), fmt(bd.get("framesDecoded"), 0),
                    fmt(bd.get("framesEncoded"), 0), fmt(bd.get("framesReused"), 0)])
    return out


def report(rows: list[Row], breakdowns: dict[str, dict], markdown: bool, header: str,
           startup_ms: float | None = None) -> str:
    main = [[r.scenario, r.method, fmt(r.frames, 0), fmt(r.wall_s, 3 if r.wall_s and r.wall_s < 1
                                                          else 2),
             fmt(r.cpu_s), fmt(r.peak_rss_mb, 0), fmt(r.fps, 0), fmt(r.limit_s), fmt(r.vs_limit),
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
            ["scenario", "method", "engine ms", "probe", "plan", "decode†", "convert*", "encode*",
             "publish", "hits", "decoded", "lead-in", "encoded", "reused", "linked", "seeks"],
            bd_rows, markdown))
        parts.append("(framex breakdown, medians; * = CPU ms summed over threads; † = the "
                     "decoding threads' busy wall ms, summed over sources)")
    warm = warm_table(rows, breakdowns)
    if warm:
        parts.append(render_table(
            ["scenario", "frames", "warm ms", "wall ms", "decoded", "--out ms", "goal ms",
             "wall ms", "decoded", "µs/frame"], warm, markdown))
        startup = (f"; process start-up alone (`framex --version`, median) {startup_ms:.1f} ms"
                   if startup_ms is not None else "")
        parts.append(f"(warm: the identical manifest again after the cold run, engine durationMs "
                     f"≤ {WARM_MS:g}; --out: into a fresh folder, ≤ {WARM_MS:g} ms + "
                     f"{WARM_US_PER_FRAME:g} µs/frame; µs/frame = (--out ms − warm ms) ÷ frames, "
                     f"fixed --out cost included; wall ms = whole process{startup})")
    retrim = retrim_table(rows, breakdowns)
    if retrim:
        parts.append(render_table(
            ["scenario", "first s", "retrim s", "retrim/first", "new frames", "new-only s",
             "retrim/new-only", "decoded", "encoded", "reused"], retrim, markdown))
        parts.append("(retrim: the shifted window against the store the first window filled; "
                     "new-only: a cold run of just the frames the shift adds, decode from the "
                     "keyframe included)")
    targets = target_rows(rows, breakdowns)
    if targets:
        parts.append(render_table(["target", "measured", "goal", "met"], targets, markdown))
    return "\n\n".join(parts)


# ---------------------------------------------------------------------------------------------
# Orchestration


def plan_units(sc: Scenario, methods: list[str], framex_cache: str) -> list[str]:
    """What one repeat runs for a scenario, in rotation order. `framex` is the cold run; when it
    writes a fresh store (--framex-cache empty) the warm runs follow it against that store.
    Otherwise a `warm` unit primes a store with an untimed cold run first. misalign adds `union`
    (the cold single pass over its union). retrim is one fixed sequence (see Runner.retrim)."""
    warm = [m for m in methods if m in WARM_METHODS]
    if sc.first is not None:
        return ["retrim"] if "framex" in methods or warm else []
    units = []
    for m in methods:
        if m in WARM_METHODS:
            continue
        units.append(m)
        if m == "framex" and sc.union is not None:
            units.append("union")
    if warm and not ("framex" in methods and framex_cache == "empty"):
        units.append("warm")
    return units


class Runner:
    """Runs the units of plan_units, records each measurement and cleans up after it."""

    def __init__(self, args: argparse.Namespace, framex: Framex | None, work_root: Path,
                 measurements: list[Measurement]):
        self.args, self.framex, self.work_root = args, framex, work_root
        self.measurements = measurements
        self.warm = [m for m in args.methods if m in WARM_METHODS]
        self.rep = 0

    def work(self, name: str, method: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"{name}-{method}-", dir=self.work_root))

    def done(self, m: Measurement, work: Path, load: float) -> None:
        m.repeat, m.loadavg_before = self.rep, load
        self.measurements.append(m)
        a = self.args
        engine = m.framex.get("durationMs") if m.framex else None
        extra = ""
        if isinstance(engine, (int, float)):
            extra = (f"  engine {engine:8.1f} ms  decoded "
                     f"{breakdown_value(m.framex, 'framesDecoded') or 0:5.0f}")
        log(f"[{self.rep + 1}/{a.repeat}] {m.scenario:8} {m.method:8} wall {m.wall_s:7.3f} s  "
            f"cpu {m.cpu_s:7.3f} s  rss {m.peak_rss_mb:6.0f} MB  frames {m.frames:5d}{extra}"
            + (f"  ! {'; '.join(m.notes)}" if m.notes else ""))
        self.cleanup(work)

    def cleanup(self, path: Path) -> None:
        if self.args.keep:
            log(f"        kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)

    def fx(self, sc: Scenario, method: str, store: Path | None, out: bool,
           name: str, expect_new: int | None = None) -> Measurement:
        work = self.work(name, method)
        load = os.getloadavg()[0]
        m = self.framex.run(sc, method, self.args.fps, work, self.args.timeout, store, out,
                            name, expect_new)
        self.done(m, work, load)
        return m

    def fresh_store(self, name: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"{name}-store-", dir=self.work_root))

    def run_unit(self, sc: Scenario, unit: str) -> None:
        a = self.args
        if unit in ("framex", "union"):
            target = sc.union if unit == "union" else sc
            store = self.fresh_store(sc.name) if a.framex_cache == "empty" else None
            m = self.fx(target, unit, store, True, sc.name)
            if store is not None:
                self.framex.check_store(m, store, target, a.fps)
                if unit == "framex" and self.warm:
                    self.warm_runs(sc, store)
                self.cleanup(store)
        elif unit == "warm":
            store = self.fresh_store(sc.name)
            work = self.work(sc.name, "prime")
            log(f"        priming a store for {sc.name}'s warm runs (untimed cold run)")
            self.framex.prime(sc, a.fps, work, a.timeout, store)
            self.cleanup(work)
            self.warm_runs(sc, store)
            self.cleanup(store)
        elif unit == "retrim":
            self.retrim(sc)
        else:
            work = self.work(sc.name, unit)
            load = os.getloadavg()[0]
            os.sync()
            m = (measure_cli(sc, a.fps, work, a.timeout) if unit == "cli"
                 else measure_decode(sc, a.cores, work, a.timeout))
            self.done(m, work, load)

    def warm_runs(self, sc: Scenario, store: Path) -> None:
        """The identical manifest again: (a) without --out, (b) into a fresh, empty --out."""
        for method in ("warm", "warm-out"):
            if method in self.warm:
                self.fx(sc, method, store, method == "warm-out", sc.name)

    def retrim(self, sc: Scenario) -> None:
        """Cold run of the first window into a fresh store, then the shifted window against it
        (timed: `retrim`), its warm runs, and the reference: a cold run, in another fresh store,
        of only the frames the shift adds (`new-only`). Always with a store."""
        a = self.args
        store = self.fresh_store(sc.name)
        first = self.fx(sc.first, "first", store, True, sc.name)
        self.framex.check_store(first, store, sc.first, a.fps)
        before = (first.store or {}).get("frames")
        m = self.fx(sc, "retrim", store, True, sc.name, sc.new_frames(a.fps))
        if isinstance(before, int):
            self.framex.check_store(m, store, sc, a.fps, before)
        self.warm_runs(sc, store)
        self.cleanup(store)
        store = self.fresh_store(sc.name)
        m = self.fx(sc.new_only, "new-only", store, True, sc.name)
        self.framex.check_store(m, store, sc.new_only, a.fps)
        self.cleanup(store)


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
    ap.add_argument("--framex-cache", choices=("off", "empty"), default="empty",
                    help="cold framex runs write a fresh empty store, as a user's first run does "
                         "(default), or run with --cache-dir off")
    ap.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)),
                    help="cores for the CPU-bound limit and `ffmpeg -threads` (default: available)")
    ap.add_argument("--fps", type=int, default=FPS, help=argparse.SUPPRESS)
    ap.add_argument("--timeout", type=float, default=1800, help="seconds before a process is killed")
    ap.add_argument("--results", type=Path, default=None,
                    help="raw results file (default: bench/out/results.json, "
                         "bench/out/results-quick.json with --quick)")
    ap.add_argument("--keep", action="store_true", help="keep frame output dirs in bench/out/work")
    ap.add_argument("--fleet-seconds", type=Fraction, default=None,
                    help="fleet: cut the control composition to this many seconds (a smoke test)")
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
    fleet: list[dict] = []
    drawsize: list[dict] = []
    try:
        framex = None
        if set(FRAMEX_METHODS) & set(args.methods):
            framex = Framex(args.framex.resolve(), args.framex_cache)
            meta.update(framex=str(framex.original), framex_measured_copy=str(framex.binary),
                        framex_sha256=framex.sha256, framex_version=framex.version,
                        framex_built=framex.built, framex_cache=framex.describe_cache())
            log(f"framex: {framex.original} ({framex.version or 'no --version'}, built "
                f"{framex.built}, sha256 {framex.sha256[:12]}; measuring a copy), "
                f"{framex.describe_cache()}")
            if (set(WARM_METHODS) & set(args.methods) or "retrim" in args.scenarios) \
                    and not framex.has_cache_flag:
                raise BenchError("the warm methods and the retrim scenario need a framex whose "
                                 "`extract --help` offers --cache-dir (the store)")
            meta["framex_startup_ms"] = framex.startup_ms()
        load1 = os.getloadavg()[0]
        if load1 > 0.25 * args.cores:
            log(f"warning: load average {load1:.2f} on {args.cores} cores: the machine is not idle, "
                "timings will be noisy")
        fixtures = fixture_specs(args.quick, BENCH / "fixtures" / ("quick" if args.quick else ""))
        scenarios = build_scenarios(fixtures)
        needed = {fx.key for s in args.scenarios for fx in scenarios[s].fixtures}
        for key, fx in fixtures.items():
            if key in needed:
                ensure_fixture(fx)
        scenarios = build_scenarios(fixtures)  # durations are known now
        meta["scenarios"] = {s: scenarios[s].description for s in args.scenarios}
        work_root = BENCH / "out" / "work"  # scratch: cleared at start, each run's dir removed after it
        shutil.rmtree(work_root, ignore_errors=True)
        work_root.mkdir(parents=True)
        runner = Runner(args, framex, work_root, measurements)
        for rep in range(args.repeat):
            runner.rep = rep
            for name in args.scenarios:
                if name in ("fleet", "drawsize"):
                    continue
                sc = scenarios[name]
                units = plan_units(sc, args.methods, args.framex_cache)
                # Rotate the order each repeat so no method always runs first.
                k = rep % len(units) if units else 0
                for unit in units[k:] + units[:k]:
                    runner.run_unit(sc, unit)
        if "fleet" in args.scenarios:
            if framex is None or not framex.has_cache_flag:
                raise BenchError("the fleet scenario needs framex (a --methods list with framex) "
                                 "with --cache-dir and --frames")
            fleet = run_fleet(framex, scenarios["fleet"], args, work_root, args.fleet_seconds)
        if "drawsize" in args.scenarios:
            if framex is None or not framex.has_cache_flag:
                raise BenchError("the drawsize scenario needs framex (a --methods list with framex) "
                                 "with --cache-dir and --max-size")
            drawsize = run_drawsize(framex, scenarios["drawsize"], args, work_root)
    except BenchError as e:
        write_results(args.results, meta, fixtures, measurements, None, failure=str(e))
        log(f"\nerror: {e}\n(partial raw results in {args.results}; "
            f"the failed run's files are kept in {BENCH / 'out' / 'work'})")
        return 1
    except KeyboardInterrupt:
        write_results(args.results, meta, fixtures, measurements, None, failure="interrupted")
        log(f"\ninterrupted (partial raw results in {args.results})")
        return 130

    if framex and framex.rebuilt_since_start():
        meta["framex_rebuilt_during_run"] = True
        log(f"note: {framex.original} was rebuilt during the benchmark; every run used the copy "
            f"taken at the start (sha256 {framex.sha256[:12]})")
    names = [s for s in args.scenarios if s not in ("fleet", "drawsize")]
    rows, breakdowns = summarize(measurements, names, args.cores, args.fps, scenarios)
    meta["fleet"] = fleet
    meta["drawsize"] = drawsize
    write_results(args.results, meta, fixtures, measurements, (rows, breakdowns))
    header = (f"framex benchmark{' (quick)' if args.quick else ''}: medians of {args.repeat} "
              f"interleaved run(s), {args.cores} cores, fps {args.fps}, "
              + (f"framex {meta['framex_sha256'][:12]} built {meta['framex_built']}, "
                 f"{meta['framex_cache']}" if framex else "framex not run")
              + (("; warm runs against the store their cold run filled"
                  if "framex" in args.methods and args.framex_cache == "empty" else
                  "; warm runs against a store filled by an untimed cold run")
                 if framex and set(WARM_METHODS) & set(args.methods) else ""))
    if names:
        print(report(rows, breakdowns, args.markdown, header, meta.get("framex_startup_ms")))
    if fleet:
        print(header if not names else "")
        print(fleet_table(fleet, args.markdown))
    if drawsize:
        print(header if not names and not fleet else "")
        print(drawsize_table(drawsize, args.markdown))
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
            "store_stats": m.store,
        } for m in measurements],
    }
    if summary:
        rows, breakdowns = summary
        doc["summary"] = {
            "rows": [r.__dict__ for r in rows],
            "framex_breakdown": breakdowns,
            "targets": [dict(zip(("target", "measured", "goal", "met"), t))
                        for t in target_rows(rows, breakdowns)],
        }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
