"""Time `kiban demo` end to end (target: under 60 s, DESIGN.md) and record the result.

Run: .venv/bin/python bench/bench_demo.py [--repeat 3] [--baseline OTHER_CHECKOUT]
         [--workers N] [--policy NAME [--keep DIR]] [--out bench/results/demo.json]

Each run is a fresh `kiban demo --out TMP --json` process. With --baseline, every repeat runs this
checkout and the other one (its src/ first on PYTHONPATH) back to back, in alternating order, so
both see the same machine load, and the ratio of the medians is recorded. The 1-minute load
average is sampled before and after each run: on a shared machine, quote it with the times.

With --policy NAME, each run is one policy alone on the demo's scenario instead (`kiban simulate
<the demo scenario> --policy NAME --locality node --json`, as the demo runs it): its wall time,
jobs per second and summary row (finished share, effective utilization, facility kWh per useful
GPU-hour, preemptions) are recorded; --keep DIR keeps each run's result folder as
DIR/<tree>-<repeat>/ (for comparisons on common jobs with `kiban.comparison.fair_stats`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 60.0


def run_demo(src: Path, workers: int | None) -> dict:
    """One `kiban demo` in a fresh process with ``src`` first on the import path."""
    kiban = Path(sys.executable).with_name("kiban")
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [str(kiban), "demo", "--json"]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    with tempfile.TemporaryDirectory() as tmp:
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        out = subprocess.run(
            [*cmd, "--out", tmp], env=env, check=True, capture_output=True, text=True
        )
        wall_s = time.perf_counter() - t0
    payload = json.loads(out.stdout)
    return {
        "wall_s": round(wall_s, 2),
        "demo_wall_time_s": round(float(payload["wall_time_s"]), 2),
        "load_avg_1min": [round(load0, 2), round(os.getloadavg()[0], 2)],
    }


def run_policy(src: Path, policy: str, keep: Path | None) -> dict:
    """One policy alone on the demo scenario, in a fresh ``kiban simulate`` process."""
    kiban = Path(sys.executable).with_name("kiban")
    scenario = ROOT / "src" / "kiban" / "sim" / "data" / "demo.toml"
    env = {**os.environ, "PYTHONPATH": str(src)}
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = keep if keep is not None else Path(tmp)
        cmd = [str(kiban), "simulate", str(scenario), "--policy", policy, "--locality", "node"]
        load0 = os.getloadavg()[0]
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        out = subprocess.run(
            [*cmd, "--json", "--out", str(out_dir)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        wall_s = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_s = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
        payload = json.loads(out.stdout)["policies"][policy]
        from kiban.comparison import fair_stats  # noqa: PLC0415
        from kiban.results import load_result  # noqa: PLC0415

        result = load_result(out_dir / policy)
        stats = fair_stats([(result.summary, result.jobs)])
    return {
        "wall_s": round(wall_s, 2),
        "cpu_s": round(cpu_s, 2),
        "finished_frac": stats.finished_frac[0],
        "facility_kwh_per_useful_gpu_h": stats.energy_kwh_per_useful_gpu_h[0],
        **{
            k: payload.get(k)
            for k in ("effective_util_frac", "preemptions", "jobs_completed", "jobs_per_s")
        },
        "load_avg_1min": [round(load0, 2), round(os.getloadavg()[0], 2)],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with")
    parser.add_argument("--workers", type=int, help="pass --workers N to both")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "demo.json")
    parser.add_argument("--policy", help="time this policy alone on the demo scenario")
    parser.add_argument("--keep", type=Path, help="with --policy: keep result folders here")
    args = parser.parse_args()
    trees = {"new": ROOT / "src"}
    if args.baseline is not None:
        trees["old"] = args.baseline.resolve() / "src"
    runs: dict[str, list[dict]] = {k: [] for k in trees}
    for i in range(args.repeat):
        order = list(trees) if i % 2 == 0 else list(reversed(trees))
        for name in order:
            if args.policy:
                keep = None if args.keep is None else args.keep / f"{name}-{i}"
                runs[name].append(run_policy(trees[name], args.policy, keep))
            else:
                runs[name].append(run_demo(trees[name], args.workers))
            print(name, runs[name][-1], file=sys.stderr, flush=True)
    times_s = [r["wall_s"] for r in runs["new"]]
    result: dict = {
        "command": "bench/bench_demo.py " + " ".join(sys.argv[1:]),
        "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "wall_s": times_s,
        "best_wall_s": min(times_s),
        "peak_rss_b": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
        "cpu": platform.processor() or platform.machine(),
        "n_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "target_s": TARGET_S,
        "meets_target": max(times_s) < TARGET_S,
        "runs": runs,
    }
    if "old" in runs:
        med = {k: statistics.median(r["wall_s"] for r in runs[k]) for k in runs}
        result["wall_ratio_old_over_new"] = round(med["old"] / med["new"], 3)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
