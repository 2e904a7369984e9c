"""A small hand-built twin result (contract format) and a real Prometheus for tests."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
import polars as pl
import pytest

HORIZON_S = 4 * 3600.0
NODES = (("node-a", "r01"), ("node-b", "r02"))
GPUS_PER_NODE = 4
ORIGIN = "2025-01-06T00:00:00+00:00"
ORIGIN_UNIX_S = 1736121600.0

# (node, gpus, start, end, job, state, io, underused, thermal, power_cap, checkpoint, clock, bits)
# plus the simulator's optional failure share (restore after a failure) in RESTORE below
SEGMENTS = [
    ("node-a", (0, 1, 2, 3), 600, 3000, "j1", "allocated", 0.2, 0.1, 0.0, 0.0, 0.0, 1.0, 0),
    # thermal throttle at clock 0.8 (fully compute-bound): the twin books 0.2 of the running time
    ("node-a", (0, 1, 2, 3), 3000, 3600, "j1", "allocated", 0.0, 0.1, 0.2, 0.0, 0.0, 0.8, 0x20),
    ("node-a", (0, 1, 2, 3), 3600, 3900, "j1", "allocated", 0.0, 0.0, 0.0, 0.0, 0.6, 1.0, 0),
    ("node-a", (0, 1, 2, 3), 3900, 9000, "j1", "allocated", 0.0, 0.05, 0.0, 0.0, 0.0, 1.0, 0),
    # power cap at clock 0.7: 0.3 of the running time
    ("node-b", (0, 1), 1200, 7200, "j2", "allocated", 0.0, 0.1, 0.0, 0.3, 0.0, 0.7, 0x4),
    ("node-b", (0, 1, 2, 3), 7200, 7500, "j3", "allocated", 0.0, 0.1, 0.0, 0.0, 0.0, 1.0, 0),
    ("node-b", (0, 1, 2, 3), 7500, 12000, "j3", "allocated", 0.1, 0.0, 0.0, 0.0, 0.0, 1.0, 0),
    ("node-a", (3,), 10000, 12000, "", "failed", 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0),
]
RESTORE = {("node-b", 7200): 0.6}
"""(node, start) → failure share: j3 restores a checkpoint for most of its first 300 s."""
JOBS = [  # job, submit, start
    ("j1", 500.0, 600.0),
    ("j2", 1200.0, 1200.0),
    ("j3", 2000.0, 7200.0),
    ("j4", 13000.0, None),
]


def _rows() -> list[dict]:
    per_gpu: dict[int, list[tuple]] = {}
    for node, gpus, s, e, job, state, io, und, th, cap, ck, clock, bits in SEGMENTS:
        n = [x for x, _ in NODES].index(node)
        fail = RESTORE.get((node, s), 0.0)
        for g in gpus:
            per_gpu.setdefault(n * GPUS_PER_NODE + g, []).append(
                (s, e, job, state, io, und, th, cap, ck, clock, bits, fail)
            )
    rows = []
    for gi in range(len(NODES) * GPUS_PER_NODE):
        segs = sorted(per_gpu.get(gi, []))
        t = 0.0
        filled = []
        for seg in segs:
            if seg[0] > t:
                filled.append((t, seg[0], "", "free", 0, 0, 0, 0, 0, 1.0, 0x1, 0.0))
            filled.append(seg)
            t = seg[1]
        if t < HORIZON_S:
            filled.append((t, HORIZON_S, "", "free", 0, 0, 0, 0, 0, 1.0, 0x1, 0.0))
        for s, e, job, state, io, und, th, cap, ck, clock, bits, fail in filled:
            # the engine's busy share in the twin's accounting (kiban.telemetry.twin)
            run = 1.0 - ck - fail
            speed = 1.0 - (th + cap) / run if run > 0 else 1.0
            prod = 1.0 - io - und - ck - fail - th - cap
            busy = prod / speed if state == "allocated" and speed > 0 else 0.0
            rows.append(
                {
                    "gpu_idx": gi,
                    "start_s": float(s),
                    "end_s": float(e),
                    "job_id": job,
                    "state": state,
                    "activity_frac": busy,
                    "power_w": 100.0 + 500.0 * busy,
                    "die_temp_c": 40.0 + 30.0 * busy,
                    "clock_frac": clock,
                    "clock_event_reasons": bits,
                    "io_stall_frac": io,
                    "underused_frac": und,
                    "thermal_throttle_frac": th,
                    "power_cap_frac": cap,
                    "checkpoint_frac": ck,
                    "failure_frac": fail,
                }
            )
    return rows


def expected_ledger_s() -> dict[str, float]:
    """Bucket → GPU-seconds booked straight from the timeline (1-s resolution for the queue)."""
    tl = pl.DataFrame(_rows())
    t = np.arange(HORIZON_S) + 0.5
    pend = np.zeros(t.shape[0], dtype=bool)
    for _, submit, start in JOBS:
        pend |= (t >= submit) & (t < (start if start is not None else np.inf))
    out = dict.fromkeys(
        (
            "productive", "idle_no_demand", "queue_blocked", "io_stall", "underused",
            "thermal_throttle", "power_cap", "failure", "checkpoint",
        ),
        0.0,
    )  # fmt: skip
    for r in tl.iter_rows(named=True):
        dt = r["end_s"] - r["start_s"]
        if r["state"] == "failed":
            out["failure"] += dt
        elif r["state"] == "free":
            sl = slice(int(r["start_s"]), int(r["end_s"]))
            out["queue_blocked"] += float(pend[sl].sum())
            out["idle_no_demand"] += float((~pend[sl]).sum())
        else:
            losses = 0.0
            for b, col in (
                ("io_stall", "io_stall_frac"),
                ("underused", "underused_frac"),
                ("thermal_throttle", "thermal_throttle_frac"),
                ("power_cap", "power_cap_frac"),
                ("checkpoint", "checkpoint_frac"),
                ("failure", "failure_frac"),
            ):
                out[b] += r[col] * dt
                losses += r[col]
            out["productive"] += (1.0 - losses) * dt
    return out


def write_twin(folder: Path) -> Path:
    """A result folder with gpus.parquet, gpu_timeline.parquet, jobs.parquet, summary.json."""
    folder.mkdir(parents=True, exist_ok=True)
    gpus = []
    for n, (node, rack) in enumerate(NODES):
        for g in range(GPUS_PER_NODE):
            gpus.append(
                {
                    "gpu_idx": n * GPUS_PER_NODE + g,
                    "node_name": node,
                    "rack_name": rack,
                    "gpu_in_node": g,
                    "uuid": f"GPU-00000000-0000-0000-0000-{n * GPUS_PER_NODE + g:012d}",
                    "model_name": "NVIDIA H100 80GB HBM3",
                }
            )
    pl.DataFrame(gpus).with_columns(
        pl.col("gpu_idx").cast(pl.Int32), pl.col("gpu_in_node").cast(pl.Int32)
    ).write_parquet(folder / "gpus.parquet")
    pl.DataFrame(_rows()).with_columns(
        pl.col("gpu_idx").cast(pl.Int32), pl.col("clock_event_reasons").cast(pl.Int64)
    ).write_parquet(folder / "gpu_timeline.parquet")
    pl.DataFrame(
        {
            "job_id": [j for j, _, _ in JOBS],
            "submit_time_s": [s for _, s, _ in JOBS],
            "start_time_s": [st for _, _, st in JOBS],
        },
        schema={"job_id": pl.Utf8, "submit_time_s": pl.Float64, "start_time_s": pl.Float64},
    ).write_parquet(folder / "jobs.parquet")
    (folder / "summary.json").write_text(
        json.dumps({"horizon_s": HORIZON_S, "time_origin_utc": ORIGIN}), encoding="utf-8"
    )
    return folder


# --- a real Prometheus ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prometheus:
    """A Debian ``prometheus`` on a free loopback port with its own data folder."""

    def __init__(self, data: Path, *, config: str = "global:\n  scrape_interval: 15s\n") -> None:
        self.data = data
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = data.parent / f"{data.name}-prom.yml"
        cfg.write_text(config, encoding="utf-8")
        self.log = (data.parent / f"{data.name}-prom.log").open("w")
        self.proc = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={cfg}",
                f"--storage.tsdb.path={data}",
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"prometheus did not start; log: {(data.parent / f'{data.name}-prom.log')}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def need_prometheus() -> None:
    """Skip without Debian prometheus locally; CI installs it (.ci/run) so there it fails."""
    import os  # noqa: PLC0415

    if shutil.which("prometheus") and shutil.which("promtool"):
        return
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail("prometheus/promtool missing; .ci/run installs the Debian package")
    pytest.skip("Debian prometheus is not installed")


def backfill(openmetrics: Path, data: Path) -> None:
    """``promtool tsdb create-blocks-from openmetrics FILE DATA``."""
    data.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(openmetrics), str(data)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-2000:]


def run_cli(args: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    """Run ``kiban ARGS`` in-process; ``(exit code, stdout, stderr)``."""
    from kiban.cli import main  # noqa: PLC0415

    monkeypatch.setattr("sys.argv", ["kiban", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err
