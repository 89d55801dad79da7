#!/usr/bin/env python3
"""The remote store tier's benchmark (issue 13), on loopback.

    python3 bench/remote.py --markdown            # Garage if installed, else moto
    python3 bench/remote.py --server moto --seconds 10 --repeat 1   # a quick smoke run

1. Warm from the remote tier: the control composition (run.py's `full`: 60 s 1080p30 H.264 →
   JPEG) decoded cold on host A, which uploads it; then host B — an empty local store, the same
   bucket — extracts it again, `--repeat` times (each a fresh store). Compared with a cold local
   decode (no tier) in the same run: wall, frames/s, CPU of framex, CPU of the server, requests.
   Target (issue 13): host B ≥ 3× faster than the cold decode and ≤ 10 % of its CPU.
2. Fleet: the same composition as four slices (`--frames`) on four hosts at once with empty
   stores, then re-rendered with every slice moved to another host (as a retried or re-planned
   Lambda chunk would be), then the whole composition on a fifth, new host: frames each host
   decoded.

The server runs on 127.0.0.1: Garage (`cargo install garage`, a production object store, one
node) when a `garage` binary is found on PATH or in /opt/garage/bin, else moto's server (Python)
through scripts/s3-test-server.py. The numbers say which.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as rb  # noqa: E402  (bench/run.py: fixtures, process measurement)

REPO = rb.REPO


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a live process and its reaped children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks


class Server:
    """An S3-compatible server on loopback and the environment that points framex at it."""

    def __init__(self, kind: str, root: Path):
        self.kind, self.root = kind, root
        self.proc: subprocess.Popen | None = None
        self.env: dict[str, str] = {}

    def start(self) -> None:
        if self.kind == "garage":
            self._garage()
        else:
            self._moto()

    def _moto(self) -> None:
        py = os.environ.get("FRAMEX_TEST_PYTHON", sys.executable)
        self.proc = subprocess.Popen([py, str(REPO / "scripts" / "s3-test-server.py")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        creds = json.loads(self.proc.stdout.readline())
        self.proc.stdin.write("bucket frames\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"
        self.env = {"AWS_ACCESS_KEY_ID": creds["accessKeyId"],
                    "AWS_SECRET_ACCESS_KEY": creds["secretAccessKey"],
                    "AWS_REGION": creds["region"], "AWS_ENDPOINT_URL": creds["endpoint"],
                    "AWS_ALLOW_HTTP": "true"}

    def _garage(self) -> None:
        exe = garage_binary()
        cfg = self.root / "garage.toml"
        s3_port, rpc_port, admin_port = free_port(), free_port(), free_port()
        cfg.write_text(f"""
metadata_dir = "{self.root / 'meta'}"
data_dir = "{self.root / 'data'}"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc_port}"
rpc_public_addr = "127.0.0.1:{rpc_port}"
rpc_secret = "{os.urandom(32).hex()}"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:{s3_port}"
[admin]
api_bind_addr = "127.0.0.1:{admin_port}"
""")
        g = [exe, "-c", str(cfg)]
        self.proc = subprocess.Popen(g + ["server"], stdout=subprocess.DEVNULL,
                                     stderr=open(self.root / "garage.log", "wb"),
                                     env=dict(os.environ, RUST_LOG="warn"))

        def cli(*args: str) -> str:
            for _ in range(100):
                p = subprocess.run(g + list(args), capture_output=True, text=True)
                if p.returncode == 0:
                    return p.stdout
                time.sleep(0.2)
            raise RuntimeError(f"garage {' '.join(args)}: {p.stderr[-800:]}")

        node = re.search(r"^([0-9a-f]{16})", cli("status"), re.M).group(1)
        cli("layout", "assign", "-z", "dc1", "-c", "20G", node)
        cli("layout", "apply", "--version", "1")
        cli("bucket", "create", "frames")
        out = cli("key", "create", "bench")
        key = re.search(r"(GK[0-9a-f]+)", out).group(1)
        secret = re.search(r"Secret key:\s*([0-9a-f]+)", out, re.I).group(1)
        cli("bucket", "allow", "--read", "--write", "--owner", "frames", "--key", "bench")
        self.env = {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
                    "AWS_REGION": "garage", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
                    "AWS_ALLOW_HTTP": "true"}

    def cpu(self) -> float:
        return proc_cpu(self.proc.pid) if self.proc else 0.0

    def stop(self) -> None:
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def garage_binary() -> str | None:
    return shutil.which("garage") or next(
        (str(p) for p in [Path("/opt/garage/bin/garage")] if p.exists()), None)


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Host:
    """One fleet host: a folder with its own local store."""

    def __init__(self, root: Path, name: str):
        self.dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root))

    def extract(self, binary: Path, manifest: dict, env: dict, extra: list[str],
                timeout: float) -> tuple[float, rb.Proc, dict]:
        comp = self.dir / "comp.json"
        comp.write_text(json.dumps(manifest))
        argv = [str(binary), "extract", str(comp), "--json", "--quiet",
                "--cache-dir", str(self.dir / "store"), *extra]
        os.sync()
        wall, procs = rb.run_parallel([argv], self.dir / f"logs-{time.monotonic_ns()}", timeout, env)
        p = procs[0]
        if p.rc != 0:
            raise RuntimeError(f"framex failed ({p.rc}): {p.stderr_tail()}")
        return wall, p, json.loads(p.stdout_path.read_text())


def parallel(binary: Path, jobs: list[tuple[Host, dict, list[str]]], env: dict,
             timeout: float) -> list[dict]:
    argvs = []
    for host, manifest, extra in jobs:
        comp = host.dir / f"comp-{len(argvs)}.json"
        comp.write_text(json.dumps(manifest))
        argvs.append([str(binary), "extract", str(comp), "--json", "--quiet",
                      "--cache-dir", str(host.dir / "store"), *extra])
    logs = Path(tempfile.mkdtemp(prefix="fleet-logs-", dir=jobs[0][0].dir.parent))
    _, procs = rb.run_parallel(argvs, logs, timeout, env)
    out = []
    for p in procs:
        if p.rc != 0:
            raise RuntimeError(f"framex failed ({p.rc}): {p.stderr_tail()}")
        out.append(json.loads(p.stdout_path.read_text()))
    return out


def table(headers: list[str], rows: list[list], markdown: bool) -> str:
    return rb.render_table(headers, rows, markdown)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", choices=("auto", "garage", "moto"), default="auto")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=None, help="cut the composition (smoke runs)")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--json", type=Path, help="write the raw measurements here")
    args = ap.parse_args()

    kind = args.server
    if kind == "auto":
        kind = "garage" if garage_binary() else "moto"
    binary = REPO / "target" / "release" / "framex"
    log("building framex (release) …")
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "framex-cli"], cwd=REPO, check=True)
    fixtures = rb.fixture_specs(False, REPO / "bench" / "fixtures")
    h264 = fixtures["h264"]
    rb.ensure_fixture(h264)
    length = Fraction(args.seconds) if args.seconds else h264.duration
    fps = rb.FPS
    manifest = {"fps": fps, "videos": [{"id": "a", "src": str(h264.path), "start": 0,
                                        "end": float(length), "mediaStart": 0}]}
    frames = int(length * fps)
    root = Path(tempfile.mkdtemp(prefix="framex-remote-bench-"))
    server = Server(kind, root)
    server.start()
    env = dict(os.environ, **server.env)
    for k in ("FRAMEX_REMOTE_STORE", "AWS_PROFILE"):
        env.pop(k, None)
    raw: dict = {"server": kind, "frames": frames, "runs": []}
    try:
        rows = []
        for rep in range(args.repeat):
            url = f"s3://frames/warm{rep}"
            cold_wall, cold, cold_r = Host(root, "cold").extract(binary, manifest, env, [], args.timeout)
            a_wall, a, a_r = Host(root, "hostA").extract(binary, manifest, env, ["--remote-store", url],
                                                         args.timeout)
            s0 = server.cpu()
            b_wall, b, b_r = Host(root, "hostB").extract(binary, manifest, env, ["--remote-store", url],
                                                         args.timeout)
            server_b = server.cpu() - s0
            bd = b_r["breakdown"]
            if bd["framesDecoded"] != 0:
                log(f"warning: host B decoded {bd['framesDecoded']} frames")
            run = {"cold_wall": cold_wall, "cold_cpu": cold.user_s + cold.sys_s,
                   "a_wall": a_wall, "a_cpu": a.user_s + a.sys_s,
                   "a_requests": a_r["breakdown"]["remoteRequests"],
                   "a_objects": a_r["breakdown"]["remoteObjectsUploaded"],
                   "a_bytes": a_r["breakdown"]["remoteBytesUploaded"],
                   "a_flush_ms": a_r["breakdown"]["remoteFlushMs"],
                   "b_wall": b_wall, "b_cpu": b.user_s + b.sys_s, "b_server_cpu": server_b,
                   "b_requests": bd["remoteRequests"], "b_bytes": bd["remoteBytesDownloaded"],
                   "b_decoded": bd["framesDecoded"], "b_downloaded": bd["remoteFramesDownloaded"]}
            raw["runs"].append(run)
            log(f"[{rep + 1}/{args.repeat}] cold {cold_wall:.2f} s  host A {a_wall:.2f} s "
                f"(flush {run['a_flush_ms'] / 1000:.2f} s, {run['a_objects']} objects)  host B {b_wall:.2f} s "
                f"cpu {run['b_cpu']:.2f} s vs {run['cold_cpu']:.2f} s  ({run['b_requests']} requests)")
        med = lambda k: statistics.median(r[k] for r in raw["runs"])  # noqa: E731
        mb = med("b_bytes") / 1e6
        rows.append(["cold local decode (no tier)", f"{med('cold_wall'):.2f}",
                     f"{frames / med('cold_wall'):.0f}", f"{med('cold_cpu'):.2f}", "", "", "", ""])
        rows.append(["host A: cold decode + upload", f"{med('a_wall'):.2f}",
                     f"{frames / med('a_wall'):.0f}", f"{med('a_cpu'):.2f}", "",
                     f"{med('a_requests'):.0f}", f"{med('a_bytes') / 1e6:.0f} up", ""])
        rows.append(["host B: empty store, from the tier", f"{med('b_wall'):.2f}",
                     f"{frames / med('b_wall'):.0f}", f"{med('b_cpu'):.2f}",
                     f"{med('b_server_cpu'):.2f}", f"{med('b_requests'):.0f}", f"{mb:.0f} down",
                     f"{med('cold_wall') / med('b_wall'):.1f}× faster, "
                     f"{100 * med('b_cpu') / med('cold_cpu'):.1f} % CPU"])
        print(f"\nWarm from the remote tier ({kind} on loopback; {frames} frames, medians of "
              f"{args.repeat}):\n")
        print(table(["run", "wall s", "frames/s", "framex CPU s", "server CPU s", "requests", "MB",
                     "vs cold"], rows, args.markdown))
        speed = med("cold_wall") / med("b_wall")
        cpu = med("b_cpu") / med("cold_cpu")
        print(f"\ntarget: ≥ 3× faster → {'met' if speed >= 3 else 'MISSED'} ({speed:.2f}×); "
              f"≤ 10 % CPU → {'met' if cpu <= 0.10 else 'MISSED'} ({100 * cpu:.1f} %)")

        # Fleet: 4 slices on 4 hosts at once, re-rendered moved, then a fifth host whole.
        url = "s3://frames/fleet"
        cuts = rb.fleet_cuts(frames, 4)
        hosts = [Host(root, f"fleet{h}") for h in range(4)]
        extra = lambda a, b: ["--remote-store", url, "--frames", f"{a}..{b}"]  # noqa: E731
        t0 = time.perf_counter()
        first = parallel(binary, [(hosts[h], manifest, extra(*cuts[h])) for h in range(4)], env, args.timeout)
        t1 = time.perf_counter()
        moved = parallel(binary, [(hosts[h], manifest, extra(*cuts[(h + 1) % 4])) for h in range(4)],
                         env, args.timeout)
        t2 = time.perf_counter()
        _, _, whole = Host(root, "fleet5").extract(binary, manifest, env, ["--remote-store", url], args.timeout)
        dec = lambda rs: [r["breakdown"]["framesDecoded"] for r in rs]  # noqa: E731
        down = lambda rs: [r["breakdown"]["remoteFramesDownloaded"] for r in rs]  # noqa: E731
        frows = [["render 1: slice h on host h, empty stores", f"{t1 - t0:.2f}", str(dec(first)),
                  str(down(first))],
                 ["render 2: slice h+1 on host h (re-planned)", f"{t2 - t1:.2f}", str(dec(moved)),
                  str(down(moved))],
                 ["a fifth host, the whole composition", f"{whole['durationMs'] / 1000:.2f}",
                  str(dec([whole])), str(down([whole]))]]
        raw["fleet"] = {"cuts": cuts, "first": dec(first), "moved": dec(moved), "whole": dec([whole])}
        print(f"\nFleet of 4 hosts, {frames} frames in 4 slices {cuts} ({kind}):\n")
        print(table(["render", "wall s", "frames decoded per host", "frames from the tier per host"],
                    frows, args.markdown))
        if args.json:
            args.json.write_text(json.dumps(raw, indent=1))
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
