"""`kiban sweep` against sequential `kiban simulate` calls, and the per-run overhead of Dask.

64 runs of a small scenario (32 GPUs, 600 synthetic jobs, 3 simulated days; 4 policies × 4
supply temperatures × 4 seeds):

A. ``kiban sweep`` on the local executor (all cores), one process for the whole study;
B. the same 64 runs as 64 sequential ``kiban simulate`` calls, each with the run's own
   scenario file and the command the sweep recorded in its ``run.json``.

A and B alternate (A B B A ... with ``--rounds``), so machine load hits both alike; the ratio
B / A is the speedup. B's results must equal A's (summaries without timing keys), so both paths
do the same work. Then the same 64 runs go through a Dask LocalCluster (started beforehand,
its start-up reported apart) and the local executor again, in-process, and the per-run
overhead of each path is reported: (wall × workers − Σ run wall time) / runs, i.e. worker time
per run spent outside the run itself (scheduling, transfer, committing files).

Run: .venv/bin/python bench/bench_sweep.py [--rounds 2] [--workers N]
Writes bench/results/sweep.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
TIMING = {"wall_time_s", "jobs_per_s", "events_per_s"}

SWEEP = """name = "bench-64"
scenario = "small.toml"
until = "3d"
seeds = [1, 2, 3, 4]

[axes]
policy = ["fifo-static", "easy-backfill", "tiresias-las", "best-fit"]
"cooling.supply_temp_c" = [18, 21, 24, 27]
"""


def _inputs(folder: Path) -> Path:
    text = (ROOT / "tests" / "sweep" / "data" / "tiny.toml").read_text(encoding="utf-8")
    text = text.replace("n_jobs = 60", "n_jobs = 600").replace("horizon_days = 1.0", "")
    (folder / "small.toml").write_text(text, encoding="utf-8")
    sweep = folder / "sweep.toml"
    sweep.write_text(SWEEP, encoding="utf-8")
    return sweep


def _summary(path: Path) -> dict:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if k not in TIMING}


def _sweep_cli(kiban: Path, sweep: Path, out: Path, workers: int) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [str(kiban), "sweep", str(sweep), "--out", str(out), "--workers", str(workers)],
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - t0


def _sequential(kiban: Path, sweep_out: Path, out: Path) -> float:
    """Every run of the sweep as its own `kiban simulate` process, one after another."""
    table = pl.read_parquet(sweep_out / "runs.parquet")
    t0 = time.perf_counter()
    for row in table.iter_rows(named=True):
        record = json.loads((sweep_out / row["run_dir"] / "run.json").read_text())
        argv = shlex.split(record["command"])
        argv[0] = str(kiban)
        argv[argv.index("--out") + 1] = str(out / row["run_id"])
        subprocess.run(argv, check=True, capture_output=True, text=True, cwd=sweep_out)
    return time.perf_counter() - t0


def _check_same(sweep_out: Path, seq_out: Path) -> int:
    table = pl.read_parquet(sweep_out / "runs.parquet")
    for row in table.iter_rows(named=True):
        a = sweep_out / row["run_dir"] / row["policy"] / "summary.json"
        b = seq_out / row["run_id"] / row["policy"] / "summary.json"
        if _summary(a) != _summary(b):
            msg = f"{row['run_id']}: kiban sweep and kiban simulate differ"
            raise SystemExit(msg)
    return table.height


def _overhead(out: Path, wall_s: float, workers: int) -> dict:
    table = pl.read_parquet(out / "runs.parquet")
    busy_s = float(table["run_wall_time_s"].sum())
    n = table.height
    return {
        "wall_s": wall_s,
        "sum_run_wall_s": busy_s,
        "overhead_per_run_s": (wall_s * workers - busy_s) / n,
    }


def _executors(sweep: Path, folder: Path, workers: int) -> dict:
    import distributed  # noqa: PLC0415

    from kiban.sweep import DaskExecutor, LocalExecutor, load_sweep, run_sweep  # noqa: PLC0415

    spec = load_sweep(sweep)
    t0 = time.perf_counter()
    cluster = distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    startup_s = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        run_sweep(spec, folder / "dask", DaskExecutor(cluster.scheduler_address))
        dask_s = time.perf_counter() - t0
    finally:
        cluster.close()
    t0 = time.perf_counter()
    run_sweep(spec, folder / "local-lib", LocalExecutor(workers))
    local_s = time.perf_counter() - t0
    return {
        "dask_cluster_startup_s": startup_s,
        "dask": _overhead(folder / "dask", dask_s, workers),
        "local": _overhead(folder / "local-lib", local_s, workers),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2, help="A/B pairs (order alternates)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    kiban = Path(sys.executable).with_name("kiban")
    load_before = os.getloadavg()
    sweep_s: list[float] = []
    seq_s: list[float] = []
    with tempfile.TemporaryDirectory(prefix="kiban-bench-sweep-") as tmp:
        folder = Path(tmp)
        sweep = _inputs(folder)
        first = folder / "sweep-0"
        # A B | B A | A B ...: round 0's A also records the commands B replays.
        sweep_s.append(_sweep_cli(kiban, sweep, first, args.workers))
        seq_s.append(_sequential(kiban, first, folder / "seq-0"))
        n_runs = _check_same(first, folder / "seq-0")
        for r in range(1, args.rounds):
            for what in ("seq", "sweep") if r % 2 else ("sweep", "seq"):
                if what == "seq":
                    seq_s.append(_sequential(kiban, first, folder / f"seq-{r}"))
                else:
                    sweep_s.append(_sweep_cli(kiban, sweep, folder / f"sweep-{r}", args.workers))
        executors = _executors(sweep, folder, args.workers)
    speedups = [b / a for a, b in zip(sweep_s, seq_s, strict=True)]
    result = {
        "command": f"bench/bench_sweep.py --rounds {args.rounds} --workers {args.workers}",
        "n_runs": n_runs,
        "workers": args.workers,
        "n_cpus": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "load_avg_before": load_before,
        "load_avg_after": os.getloadavg(),
        "sweep_local_wall_s": sweep_s,
        "sequential_simulate_wall_s": seq_s,
        "speedup": speedups,
        "results_identical": True,
        **executors,
    }
    out = ROOT / "bench" / "results" / "sweep.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
