"""Replay benchmark: all 82,247 Philly jobs with full physics, on two sites, two policies.

Sites (DESIGN.md, performance targets):

* ``examples/philly.toml``: Philly's own 552 machines (2,490 GPUs); the trace is uncontended;
* ``examples/hall-512-h100-rdhx.toml``: 64 DGX H100 (512 GPUs) at about 73 % load, so queues
  form and policies differ.

Policies: ``fifo-static`` and ``tiresias-las``. Physics on: GPU power and speed, server power
(exact, after the run), recirculation and thermal throttling, shared-storage I/O, failures and
checkpoints, the cooling plant and power chain over the event log.

Each case runs in a fresh Python process so its peak RSS is its own. Jobs/s counts simulated
jobs per second of simulation wall time (the trace read and the result tables are timed
separately) and, less disturbed on a loaded machine, per second of the process's CPU time.
The coupled facility's steps are timed on their own (``at_step``: the room, the aisles, the GPU
observables and the site's grid limit): steps, µs per step and their share of the simulation
(issue 10), in wall and CPU time.

Usage::

    .venv/bin/python bench/bench_replay.py                 # all four cases
    .venv/bin/python bench/bench_replay.py --cases hall:tiresias-las
    .venv/bin/python bench/bench_replay.py --json bench/results/replay.json
    # before/after in one interleaved run: OLD is a checkout of the previous code
    .venv/bin/python bench/bench_replay.py --baseline ../wt-old --repeat 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SITES = {
    "philly": REPO / "examples" / "philly.toml",
    "hall": REPO / "examples" / "hall-512-h100-rdhx.toml",
}
POLICIES = ("fifo-static", "tiresias-las")
REQUIRED_JOBS_PER_S = 2_700.0
AIM_JOBS_PER_S = 10_000.0
MAX_RSS_MB = 1024.0


def machine() -> dict[str, object]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy as np  # noqa: PLC0415

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "load_avg": os.getloadavg(),
    }


def child(site: str, policy: str) -> dict[str, object]:
    import numpy as np  # noqa: PLC0415

    from kiban.policies.registry import make_policy  # noqa: PLC0415
    from kiban.results import SimulationResult, prepare_scenario  # noqa: PLC0415
    from kiban.sim import Simulator  # noqa: PLC0415
    from kiban.spec import load_spec  # noqa: PLC0415

    t0 = time.perf_counter()
    scenario = load_spec(SITES[site])
    prepared = prepare_scenario(scenario)
    step_clock = time_facility_steps(prepared.facility)
    t1 = time.perf_counter()
    c1 = time.process_time()
    sim = Simulator(
        prepared.layout,
        prepared.jobs,
        make_policy("policy", policy),
        settings=prepared.settings,
        facility=prepared.facility,
    )
    out = sim.run()
    t2 = time.perf_counter()
    c2 = time.process_time()
    result = SimulationResult.from_run(
        out,
        scenario_name=prepared.name,
        tariff=prepared.tariff,
        co2_kg_per_kwh=prepared.tariff.co2_kg_per_kwh,
        min_interval_s=prepared.interval_s,
    )
    t3 = time.perf_counter()
    s = result.summary
    n = prepared.jobs.n_jobs
    return {
        "site": site,
        "policy": policy,
        "n_gpus": prepared.layout.n_gpus,
        "jobs": n,
        "jobs_completed": s["jobs_completed"],
        "events": out.counters["events"],
        "preemptions": out.counters["preemptions"],
        "prepare_s": t1 - t0,
        "simulate_s": t2 - t1,
        "results_s": t3 - t2,
        "jobs_per_s": n / (t2 - t1),
        "simulate_cpu_s": c2 - c1,
        "jobs_per_cpu_s": n / (c2 - c1),
        "facility_steps": step_clock["steps"],
        "facility_step_s": step_clock["s"],
        "facility_step_us": 1e6 * step_clock["s"] / max(step_clock["steps"], 1),
        "facility_step_share": step_clock["s"] / (t2 - t1),
        "facility_step_cpu_us": 1e6 * step_clock["cpu_s"] / max(step_clock["steps"], 1),
        "facility_step_cpu_share": step_clock["cpu_s"] / (c2 - c1),
        "jobs_per_s_end_to_end": n / (t3 - t0),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "allocated_util_frac": s["allocated_util_frac"],
        "jct_mean_h": (s["jct_mean_s"] or float("nan")) / 3600.0,
        "wait_mean_h": (s["wait_mean_s"] or float("nan")) / 3600.0,
        "pue": s["pue"],
        "gpu_hours_productive": s["gpu_hours_productive"],
        "trace_gpu_hours": float(np.dot(prepared.jobs.duration_s, prepared.jobs.num_gpus)) / 3600.0,
    }


def time_facility_steps(facility: object) -> dict[str, float]:
    """Time the in-loop facility's steps (``at_step``) on their own: issue 10 asks for the
    facility step's cost separately. Returns the running totals (steps, seconds), filled in as
    the run goes; a facility that is not in the loop is left alone (zero steps)."""
    clock = {"steps": 0, "s": 0.0, "cpu_s": 0.0}
    at_step = getattr(facility, "at_step", None)
    if at_step is None:
        return clock

    def timed(view: object) -> object:
        t = time.perf_counter()
        c = time.process_time()
        out = at_step(view)
        clock["cpu_s"] += time.process_time() - c
        clock["s"] += time.perf_counter() - t
        clock["steps"] += 1
        return out

    facility.at_step = timed  # type: ignore[attr-defined]
    return clock


def run_case(site: str, policy: str, tree: Path = REPO) -> dict[str, object]:
    """One case in a fresh process, with the code of ``tree`` (its ``src`` first on the path).

    The child is this file on both sides (the same measurement, facility-step timer included);
    only the simulator's code differs."""
    env = dict(os.environ)
    if tree != REPO:
        env["PYTHONPATH"] = str(tree / "src") + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", site, policy],
        capture_output=True,
        text=True,
        check=True,
        cwd=tree,
        env=env,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _us(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.0f}" for v in values) + "]"


def compare(cases: list[tuple[str, ...]], baseline: Path, repeat: int) -> list[dict[str, object]]:
    """Interleaved before/after: each case runs on the baseline tree and on this one, in
    alternating order, ``repeat`` times.

    The ratio is of the fastest run on each side (on a shared machine whose load moves between
    runs, the fastest run is the least disturbed one); the ratio of medians is reported too.
    """
    rows = []
    for site, policy in cases:
        old: list[float] = []
        new: list[float] = []
        steps_us: dict[int, list[float]] = {id(old): [], id(new): []}
        cpu: dict[int, list[float]] = {id(old): [], id(new): []}
        step_cpu_us: dict[int, list[float]] = {id(old): [], id(new): []}
        for k in range(repeat):
            order = ((baseline, old), (REPO, new)) if k % 2 == 0 else ((REPO, new), (baseline, old))
            for tree, into in order:
                row = run_case(site, policy, tree)
                into.append(float(row["jobs_per_s"]))  # type: ignore[arg-type]
                steps_us[id(into)].append(float(row.get("facility_step_us", math.nan)))  # type: ignore[arg-type]
                cpu[id(into)].append(float(row.get("jobs_per_cpu_s", math.nan)))  # type: ignore[arg-type]
                step_cpu_us[id(into)].append(float(row.get("facility_step_cpu_us", math.nan)))  # type: ignore[arg-type]
        ratio = max(new) / max(old)
        ratio_median = statistics.median(new) / statistics.median(old)
        ratio_cpu = max(cpu[id(new)]) / max(cpu[id(old)])
        rows.append(
            {
                "site": site,
                "policy": policy,
                "old_jobs_per_s": old,
                "new_jobs_per_s": new,
                "ratio": ratio,
                "ratio_median": ratio_median,
                "old_facility_step_us": steps_us[id(old)],
                "new_facility_step_us": steps_us[id(new)],
                "old_jobs_per_cpu_s": cpu[id(old)],
                "new_jobs_per_cpu_s": cpu[id(new)],
                "ratio_cpu": ratio_cpu,
                "old_facility_step_cpu_us": step_cpu_us[id(old)],
                "new_facility_step_cpu_us": step_cpu_us[id(new)],
                "load_avg": os.getloadavg(),
            }
        )
        print(
            f"  {site:6s} {policy:13s} best old {max(old):8,.0f} new {max(new):8,.0f} jobs/s  "
            f"ratio {ratio:.3f} (medians {ratio_median:.3f}; runs old "
            f"{[round(x) for x in old]}, new {[round(x) for x in new]}; facility step µs old "
            f"{_us(steps_us[id(old)])}, new {_us(steps_us[id(new)])}; "
            f"CPU time: ratio {ratio_cpu:.3f}, jobs per CPU-s old {_us(cpu[id(old)])}, new "
            f"{_us(cpu[id(new)])}, facility step CPU µs old {_us(step_cpu_us[id(old)])}, new "
            f"{_us(step_cpu_us[id(new)])}; load {os.getloadavg()[0]:.2f})",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cases", default="", help="site:policy,... (default: all four)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument("--child", nargs=2, metavar=("SITE", "POLICY"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="a checkout of the previous code: run each case there and here, interleaved",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per case and tree")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    cases = [tuple(c.split(":")) for c in args.cases.split(",") if c] or [
        (site, pol) for site in SITES for pol in POLICIES
    ]
    info = machine()
    print(
        f"machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}, "
        f"numpy {info['numpy']}, load average {info['load_avg'][0]:.2f}"
    )
    if args.baseline is not None:
        result = compare(cases, args.baseline.resolve(), max(1, args.repeat))
        worst = min(float(r["ratio"]) for r in result)  # type: ignore[arg-type]
        print(f"lowest ratio new/old {worst:.3f} (must stay ≥ 0.95)")
        if args.json is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"machine": info, "compare": result}, indent=2) + "\n")
        return
    rows = []
    for site, policy in cases:
        rows.append(run_case(site, policy))
        r = rows[-1]
        print(f"  done {site:6s} {policy:13s} {r['jobs_per_s']:8,.0f} jobs/s", flush=True)
    header = (
        f"{'site':7s} {'policy':13s} {'GPUs':>5s} {'jobs':>7s} {'events':>8s} {'sim s':>7s} "
        f"{'jobs/s':>8s} {'e2e jobs/s':>10s} {'RSS MB':>7s} {'alloc %':>7s} {'JCT h':>7s} "
        f"{'PUE':>6s} {'steps':>7s} {'µs/step':>8s} {'step %':>6s}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['site']:7s} {r['policy']:13s} {r['n_gpus']:5d} {r['jobs']:7,d} "
            f"{r['events']:8,d} {r['simulate_s']:7.1f} {r['jobs_per_s']:8,.0f} "
            f"{r['jobs_per_s_end_to_end']:10,.0f} {r['peak_rss_mb']:7.0f} "
            f"{100 * r['allocated_util_frac']:7.1f} {r['jct_mean_h']:7.2f} {r['pue']:6.3f} "
            f"{r['facility_steps']:7,d} {r['facility_step_us']:8.0f} "
            f"{100 * r['facility_step_share']:6.1f}"
        )
    worst = min(r["jobs_per_s"] for r in rows)
    rss = max(r["peak_rss_mb"] for r in rows)
    print(
        f"slowest case {worst:,.0f} jobs/s (required ≥ {REQUIRED_JOBS_PER_S:,.0f}, aim "
        f"{AIM_JOBS_PER_S:,.0f}); peak RSS {rss:.0f} MB (limit {MAX_RSS_MB:.0f} MB)"
    )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": info, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
