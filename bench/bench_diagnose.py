"""Time `kiban.diagnose` on 1,024 GPUs × 7 days at 15 s (target: under a minute on 2 cores, with
memory bounded by streaming) and record the result.

The source is synthetic and generated chunk by chunk (it answers exactly like a Prometheus
answers diagnose's per-chunk range queries: one series per GPU and job, 1,440 steps at a time),
so the run measures the engine: assembling series into GPU × step matrices, booking, per-job and
per-host accounting. A second, smaller run fetches the hand-built twin from a real backfilled
Prometheus (if installed) to give the HTTP + JSON cost per sample.

Run: .venv/bin/python bench/bench_diagnose.py [--gpus 1024] [--days 7] [--chunk-steps 1440]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kiban.diagnose import diagnose  # noqa: E402
from kiban.diagnose.engine import DiagnoseSettings  # noqa: E402
from kiban.telemetry import dcgm  # noqa: E402
from kiban.telemetry.series import Series, Window  # noqa: E402

T0 = 1_736_121_600.0
GPUS_PER_NODE = 8


class SyntheticSource:
    """1,024 GPUs on 128 hosts; jobs of 8 GPUs (one host) lasting 1-12 h; some hosts free."""

    description = "synthetic fleet"

    def __init__(self, n_gpus: int, window: Window, seed: int = 7) -> None:
        self.n_gpus = n_gpus
        self.n_hosts = n_gpus // GPUS_PER_NODE
        rng = np.random.default_rng(seed)
        n = window.n_steps
        self.window = window
        # a job id per (host, step): jobs of random length with idle gaps between them
        jobs = np.full((self.n_hosts, n), -1, dtype=np.int64)
        next_id = 0
        for h in range(self.n_hosts):
            k = 0
            while k < n:
                gap = int(rng.integers(0, 240))
                run = int(rng.integers(240, 2880))
                k += gap
                jobs[h, k : k + run] = next_id
                next_id += 1
                k += run
        self.jobs = jobs
        self.source_s = 0.0
        self._parts_key: float | None = None
        self._parts_val: list = []
        self.labels = [
            {"gpu": str(g % GPUS_PER_NODE), "Hostname": f"gn{g // GPUS_PER_NODE:04d}",
             "UUID": f"GPU-{g:08d}", "modelName": "NVIDIA H100 80GB HBM3",
             "rack": f"r{g // (GPUS_PER_NODE * 4):03d}"}
            for g in range(n_gpus)
        ]  # fmt: skip

    def _steps(self, window: Window) -> slice:
        k0 = round((window.start_s - self.window.start_s) / window.step_s)
        return slice(k0, k0 + window.n_steps)

    def _values(self, metric: str, window: Window) -> np.ndarray:
        sl = self._steps(window)
        rng = np.random.default_rng(sl.start * 31 + len(metric))
        shape = (self.n_gpus, window.n_steps)
        if metric == dcgm.GR_ENGINE_ACTIVE:
            return rng.uniform(0.3, 1.0, shape)
        if metric == dcgm.SM_CLOCK:
            return np.where(rng.random(shape) < 0.05, 1500.0, 1980.0)
        if metric == dcgm.MAX_SM_CLOCK:
            return np.full(shape, 1980.0)
        if metric == dcgm.CLOCKS_EVENT_REASONS:
            return np.where(rng.random(shape) < 0.05, 0x20, 0).astype(np.float64)
        if metric == dcgm.XID_ERRORS:
            return np.where(rng.random(shape) < 1e-4, 79.0, 0.0)
        if metric == dcgm.PCIE_TX_BYTES:
            return np.where(rng.random(shape) < 0.02, 5e9, 0.0)
        return rng.uniform(100, 700, shape)

    def gauge(self, metric: str, window: Window) -> list[Series]:
        sl = self._steps(window)
        if metric == dcgm.QUEUE_PENDING:
            v = (np.arange(sl.start, sl.stop) // 97 % 3).astype(np.float64)
            return [Series({}, np.arange(window.n_steps), v)]
        t0 = time.process_time()
        vals = self._values(metric, window)
        out = [Series(lab, part, vals[g, part]) for g, lab, part in self._parts(window)]
        self.source_s += time.process_time() - t0
        return out

    def _parts(self, window: Window) -> list:
        """(gpu, labels, steps) of every series in the chunk: one per (GPU, job), like
        dcgm-exporter's hpc_job label makes them (computed once per chunk)."""
        if self._parts_key == window.start_s:
            return self._parts_val
        sl = self._steps(window)
        idx = np.arange(window.n_steps)
        parts = []
        for g in range(self.n_gpus):
            job = self.jobs[g // GPUS_PER_NODE, sl]
            cuts = np.flatnonzero(np.diff(job)) + 1
            for part in np.split(idx, cuts):
                lab = dict(self.labels[g])
                j = int(job[part[0]])
                if j >= 0:
                    lab["hpc_job"] = str(j)
                parts.append((g, lab, part))
        self._parts_key, self._parts_val = window.start_s, parts
        return parts

    def counter_rate(self, metric: str, window: Window) -> list[Series]:
        rng = np.random.default_rng(self._steps(window).start)
        idx = np.arange(window.n_steps)
        return [
            Series({"instance": f"gn{h:04d}:9100"}, idx, rng.uniform(0.0, 0.2, window.n_steps))
            for h in range(self.n_hosts)
        ]

    def inventory(self, metric: str, window: Window) -> list[dict[str, str]]:
        if metric in (dcgm.QUEUE_PENDING, dcgm.NODE_IO_WAITING):
            return [{}]
        return [dict(x) for x in self.labels]

    def latest_sample_s(self, metric: str, window: Window) -> float | None:
        return window.end_s


def bench_engine(n_gpus: int, days: float, chunk_steps: int, prefetch: bool = True) -> dict:
    window = Window(T0, T0 + days * 86400.0, 15.0)
    src = SyntheticSource(n_gpus, window)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    diag = diagnose(src, window, DiagnoseSettings(chunk_steps=chunk_steps, prefetch=prefetch))
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tot = diag.totals_s()
    assert abs(sum(tot.values()) - diag.capacity_gpu_s) <= 1e-9 * diag.capacity_gpu_s
    return {
        "gpus": n_gpus,
        "days": days,
        "step_s": 15.0,
        "chunk_steps": chunk_steps,
        "prefetch": prefetch,
        "gpu_steps": n_gpus * window.n_steps,
        "jobs": len(diag.job_buckets_s),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "synthetic_source_cpu_s": round(src.source_s, 2),
        "gpu_steps_per_s": round(n_gpus * window.n_steps / wall),
        "peak_rss_b_before": rss0,
        "peak_rss_b": peak,
    }


def synthetic_twin(folder: Path, n_gpus: int, hours: float, seed: int = 3) -> Path:
    """A contract-format twin folder: 8-GPU nodes, whole-node jobs with random loss shares."""
    import polars as pl  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    horizon = hours * 3600.0
    folder.mkdir(parents=True, exist_ok=True)
    n_nodes = n_gpus // GPUS_PER_NODE
    gpus = pl.DataFrame(
        {
            "gpu_idx": np.arange(n_gpus, dtype=np.int32),
            "node_name": [f"gn{g // GPUS_PER_NODE:04d}" for g in range(n_gpus)],
            "rack_name": [f"r{g // (GPUS_PER_NODE * 4):03d}" for g in range(n_gpus)],
            "gpu_in_node": (np.arange(n_gpus) % GPUS_PER_NODE).astype(np.int32),
            "uuid": [f"GPU-{g:08d}" for g in range(n_gpus)],
            "model_name": ["NVIDIA H100 80GB HBM3"] * n_gpus,
        }
    )
    rows: dict[str, list] = {k: [] for k in (
        "gpu_idx", "start_s", "end_s", "job_id", "state", "activity_frac", "power_w",
        "die_temp_c", "clock_frac", "clock_event_reasons", "io_stall_frac", "underused_frac",
        "thermal_throttle_frac", "power_cap_frac", "checkpoint_frac",
    )}  # fmt: skip
    job = 0
    for node in range(n_nodes):
        t = 0.0
        while t < horizon:
            gap = float(rng.uniform(0, 3600))
            run = float(rng.uniform(1800, 4 * 3600))
            segs = [(t, min(t + gap, horizon), "", "free")]
            segs.append(
                (min(t + gap, horizon), min(t + gap + run, horizon), f"job{job}", "allocated")
            )
            job += 1
            t += gap + run
            io, und = float(rng.uniform(0, 0.3)), float(rng.uniform(0, 0.2))
            throttled = rng.random() < 0.2
            clock = 0.8 if throttled else 1.0
            for s0, s1, jid, state in segs:
                if s1 <= s0:
                    continue
                alloc = state == "allocated"
                busy = 1.0 - io - und if alloc else 0.0
                for g in range(node * GPUS_PER_NODE, (node + 1) * GPUS_PER_NODE):
                    rows["gpu_idx"].append(g)
                    rows["start_s"].append(s0)
                    rows["end_s"].append(s1)
                    rows["job_id"].append(jid)
                    rows["state"].append(state)
                    rows["activity_frac"].append(busy)
                    rows["power_w"].append(100 + 500 * busy)
                    rows["die_temp_c"].append(40 + 30 * busy)
                    rows["clock_frac"].append(clock if alloc else 1.0)
                    rows["clock_event_reasons"].append(0x20 if alloc and throttled else 0)
                    rows["io_stall_frac"].append(io if alloc else 0.0)
                    rows["underused_frac"].append(und if alloc else 0.0)
                    rows["thermal_throttle_frac"].append(busy * 0.2 if alloc and throttled else 0.0)
                    rows["power_cap_frac"].append(0.0)
                    rows["checkpoint_frac"].append(0.0)
    gpus.write_parquet(folder / "gpus.parquet")
    pl.DataFrame(rows).sort(["gpu_idx", "start_s"]).with_columns(
        pl.col("gpu_idx").cast(pl.Int32)
    ).write_parquet(folder / "gpu_timeline.parquet")
    (folder / "summary.json").write_text(json.dumps({"horizon_s": horizon}))
    return folder


def bench_prometheus(n_gpus: int, hours: float) -> dict | None:
    if not (shutil.which("prometheus") and shutil.which("promtool")):
        return None
    from datetime import datetime  # noqa: PLC0415

    from tests.telemetry.helpers import Prometheus, backfill  # noqa: PLC0415

    from kiban.telemetry.openmetrics import write_openmetrics  # noqa: PLC0415
    from kiban.telemetry.prometheus import PrometheusSource  # noqa: PLC0415
    from kiban.telemetry.twin import DEFAULT_ORIGIN_UTC, load_twin  # noqa: PLC0415

    origin = datetime.fromisoformat(DEFAULT_ORIGIN_UTC).timestamp()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        om = base / "t.om"
        t0 = time.perf_counter()
        with om.open("w") as fh:
            n_samples = write_openmetrics(
                load_twin(synthetic_twin(base / "run", n_gpus, hours)), fh, step_s=15.0
            )
        export_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        backfill(om, base / "data")
        backfill_s = time.perf_counter() - t0
        prom = Prometheus(base / "data")
        try:
            with PrometheusSource(prom.url) as src:
                window = Window(origin, origin + hours * 3600.0, 15.0)
                cpu0 = time.process_time()
                t0 = time.perf_counter()
                diagnose(src, window)
                wall = time.perf_counter() - t0
                cpu = time.process_time() - cpu0
                requests = src.requests
        finally:
            prom.stop()
    return {
        "gpus": n_gpus,
        "hours": hours,
        "samples": n_samples,
        "export_openmetrics_s": round(export_s, 2),
        "promtool_backfill_s": round(backfill_s, 2),
        "diagnose_wall_s": round(wall, 2),
        "diagnose_cpu_s": round(cpu, 2),
        "requests": requests,
        "samples_per_s": round(n_samples / wall),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gpus", type=int, default=1024)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--chunk-steps", type=int, default=1440)
    parser.add_argument("--prom-gpus", type=int, default=64)
    parser.add_argument("--prom-hours", type=float, default=24.0)
    parser.add_argument(
        "--compare-prefetch", type=int, default=0,
        help="N interleaved rounds of the engine with and without prefetch (1 day each)",
    )  # fmt: skip
    parser.add_argument("--no-prometheus", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "diagnose.json")
    args = parser.parse_args()
    result = {
        "command": " ".join(["bench/bench_diagnose.py", *sys.argv[1:]]),
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_avg_1m": os.getloadavg()[0],
        "engine": bench_engine(args.gpus, args.days, args.chunk_steps),
        "prometheus_fetch": (
            None if args.no_prometheus else bench_prometheus(args.prom_gpus, args.prom_hours)
        ),
    }
    rounds = []
    for _ in range(args.compare_prefetch):
        on = bench_engine(args.gpus, 1.0, args.chunk_steps, prefetch=True)["wall_s"]
        off = bench_engine(args.gpus, 1.0, args.chunk_steps, prefetch=False)["wall_s"]
        rounds.append(
            {"prefetch_wall_s": on, "sequential_wall_s": off, "ratio": round(off / on, 3)}
        )
    if rounds:
        result["prefetch_vs_sequential_1day"] = rounds
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
