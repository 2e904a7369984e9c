"""Scale benchmark: time and memory from 1,000 to 100,000 GPUs (DESIGN.md: 100,000 GPUs, about
1M jobs, 30 simulated days in under 10 minutes and 8 GB; time and memory roughly linear).

Clusters are halls of 32 racks (two rows of 16) holding four DGX H100 each (1,024 GPUs per
hall), with Tang's recirculation D inside each hall (block-diagonal across halls), hot-aisle air
cooling with a waterside economizer in Tokyo, a shared file system of 0.1 GB/s per GPU and node
failures. Jobs come from kiban's Philly-calibrated generator: 10 jobs per GPU over 30 days (1M
jobs at 100,000 GPUs), as in the DESIGN target. Policy: ``fifo-static``.

Each size runs in a fresh process (its own peak RSS). The table goes to stdout; ``--json`` and
``--svg`` write the rows and the curve.

``--facility plant`` (default) prices the cooling plant over the event log after the run;
``--facility coupled`` runs the coupled twin in the loop (issue 10): the room, the aisles (a row
of racks each, CRAH units sized N+1 by :func:`kiban.sim.coupled.hall_air_for`), the GPU
observables, the rack limits and a site grid contract of 1.3 × the IT nameplate, stepped every
300 s; its steps are timed on their own (steps, µs per step, share of the simulation).

Usage::

    .venv/bin/python bench/bench_scale.py                      # 1k, 4k, 16k, 50k, 100k GPUs
    .venv/bin/python bench/bench_scale.py --sizes 1024,4096
    .venv/bin/python bench/bench_scale.py --sizes 102400 --facility coupled
    # before/after in one interleaved run: OLD is a checkout of the previous code
    .venv/bin/python bench/bench_scale.py --sizes 16384 --facility coupled \\
        --baseline ../wt-old --repeat 2
    .venv/bin/python bench/bench_scale.py --json bench/results/scale.json \\
        --svg bench/results/scale.svg
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from bench_replay import machine, time_facility_steps  # noqa: E402

GPUS_PER_HALL = 1024
RACKS_PER_HALL = 32
SERVERS_PER_RACK = 4
JOBS_PER_GPU = 10
DAYS = 30.0
DEFAULT_SIZES = (1024, 4096, 16384, 51200, 102400)


def build(n_gpus: int, seed: int = 1, facility_kind: str = "plant"):
    import numpy as np  # noqa: PLC0415

    from kiban.catalog import default_catalog  # noqa: PLC0415
    from kiban.physics.climate import monthly_normals  # noqa: PLC0415
    from kiban.physics.cooling import typical_plant  # noqa: PLC0415
    from kiban.physics.recirculation import (  # noqa: PLC0415
        heat_distribution_matrix_k_per_w,
        recirculation_matrix,
    )
    from kiban.sim import JobTable, PlantFacility, SimSettings, uniform_layout  # noqa: PLC0415
    from kiban.units import B_PER_GB, S_PER_DAY  # noqa: PLC0415
    from kiban.workload import synthetic_jobs  # noqa: PLC0415

    cat = default_catalog()
    server, sku = cat.server("dgx-h100"), cat.gpu("h100-sxm")
    n_halls = max(1, n_gpus // GPUS_PER_HALL)
    n_racks = n_halls * RACKS_PER_HALL
    # one hall's D from its rack positions, repeated along the diagonal
    per_row = RACKS_PER_HALL // 2
    x = np.tile(np.arange(per_row) * 0.6 + 0.3, 2)
    y = np.repeat([1.2, 4.8], per_row)
    row = np.repeat([0, 1], per_row)
    airflow = SERVERS_PER_RACK * server.airflow_m3_per_s
    a = recirculation_matrix(x, y, row, containment="hot-aisle", rack_airflow_m3_per_s=airflow)
    d_hall = heat_distribution_matrix_k_per_w(a, airflow)
    d = np.zeros((n_racks, n_racks))
    for h in range(n_halls):
        s = slice(h * RACKS_PER_HALL, (h + 1) * RACKS_PER_HALL)
        d[s, s] = d_hall
    layout = uniform_layout(
        server,
        sku,
        n_racks=n_racks,
        servers_per_rack=SERVERS_PER_RACK,
        racks_per_row=per_row,
        rack_power_limit_w=45_000.0,
        heat_distribution_k_per_w=d,
        supply_temp_c=22.0,
        node_cache_b=30e12,
        name=f"scale-{n_halls * GPUS_PER_HALL}",
    )
    n_jobs = JOBS_PER_GPU * layout.n_gpus
    rng = np.random.default_rng(seed)
    # arrival rate scaled so about n_jobs arrive in 30 days (the generator's own rate is ~23k)
    frame = synthetic_jobs(
        rng,
        horizon_s=DAYS * S_PER_DAY,
        n_jobs=n_jobs,
        arrival_scale=n_jobs / 22_900.0 * 1.05,
        max_gpus=256,
    )
    jobs = JobTable.from_frame(frame, source="synthetic")
    plant = typical_plant(
        "hot-aisle-containment", layout.n_gpus / 8 * 10_200.0, economizer="waterside"
    )
    facility = PlantFacility(plants=(plant,), shares=(1.0,), climate=monthly_normals("tokyo"))
    if facility_kind == "coupled":
        from kiban.sim.coupled import CoupledFacility, hall_air_for  # noqa: PLC0415

        nameplate_w = layout.n_gpus / 8 * server.max_power_w
        facility = CoupledFacility(
            facility,
            layout,
            hall_air_for(layout, supply_temp_c=22.0),
            budgets_w={"site": 1.3 * nameplate_w},
            rack_limit_w=layout.rack_power_limit_w,
        )
    settings = SimSettings(
        seed=seed,
        until_s=DAYS * S_PER_DAY,
        storage_bandwidth_b_per_s=0.1 * B_PER_GB * layout.n_gpus,
    )
    return layout, jobs, facility, settings


def child(n_gpus: int, facility_kind: str = "plant") -> dict[str, object]:
    from kiban.policies.registry import make_policy  # noqa: PLC0415
    from kiban.results import SimulationResult  # noqa: PLC0415
    from kiban.sim import Simulator  # noqa: PLC0415

    t0 = time.perf_counter()
    layout, jobs, facility, settings = build(n_gpus, facility_kind=facility_kind)
    step_clock = time_facility_steps(facility)
    t1 = time.perf_counter()
    c1 = time.process_time()
    out = Simulator(
        layout, jobs, make_policy("policy", "fifo-static"), settings=settings, facility=facility
    ).run()
    t2 = time.perf_counter()
    c2 = time.process_time()
    result = SimulationResult.from_run(out)
    t3 = time.perf_counter()
    s = result.summary
    return {
        "n_gpus": layout.n_gpus,
        "n_nodes": layout.n_nodes,
        "n_racks": layout.n_racks,
        "jobs": jobs.n_jobs,
        "events": out.counters["events"],
        "build_s": t1 - t0,
        "simulate_s": t2 - t1,
        "simulate_cpu_s": c2 - c1,
        "results_s": t3 - t2,
        "total_s": t3 - t0,
        "jobs_per_s": (jobs.n_jobs - s["jobs_not_arrived"]) / (t2 - t1),
        "facility": facility_kind,
        "facility_steps": step_clock["steps"],
        "facility_step_s": step_clock["s"],
        "facility_step_us": 1e6 * step_clock["s"] / max(step_clock["steps"], 1),
        "facility_step_cpu_s": step_clock["cpu_s"],
        "facility_step_cpu_us": 1e6 * step_clock["cpu_s"] / max(step_clock["steps"], 1),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "allocated_util_frac": s["allocated_util_frac"],
        "pue": s["pue"],
        "failures": s["failures"],
    }


def plot(rows: list[dict[str, object]], path: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    gpus = [r["n_gpus"] for r in rows]
    fig, ax1 = plt.subplots(figsize=(6.4, 4.0))
    ax1.plot(gpus, [r["total_s"] for r in rows], "o-", color="tab:blue", label="wall time")
    ax1.set_xlabel("GPUs (10 jobs per GPU, 30 simulated days)")
    ax1.set_ylabel("wall time (s)", color="tab:blue")
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax2 = ax1.twinx()
    ax2.plot(gpus, [r["peak_rss_mb"] for r in rows], "s--", color="tab:red", label="peak RSS")
    ax2.set_ylabel("peak RSS (MB)", color="tab:red")
    ax2.set_yscale("log")
    ax1.set_title("kiban simulate: scaling (fifo-static, full physics)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg")


def run_size(size: int, facility: str, tree: Path = REPO) -> dict[str, object]:
    """One size in a fresh process, with the code of ``tree`` (its ``src`` first on the path);
    the child is this file on both sides, so only the simulator's code differs."""
    env = dict(os.environ)
    if tree != REPO:
        env["PYTHONPATH"] = str(tree / "src") + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(size), "--facility", facility],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env=env,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare(sizes: list[int], facility: str, baseline: Path, repeat: int) -> list[dict]:
    """Interleaved before/after: each size on the baseline tree and on this one, alternating
    which goes first, ``repeat`` times; the ratio is of the fastest simulation on each side."""
    out = []
    for size in sizes:
        runs: dict[str, list[dict[str, object]]] = {"old": [], "new": []}
        for k in range(repeat):
            order = (("old", baseline), ("new", REPO))
            for side, tree in order if k % 2 == 0 else order[::-1]:
                runs[side].append(run_size(size, facility, tree))
        best = {side: min(float(r["simulate_s"]) for r in rs) for side, rs in runs.items()}
        cpu = {side: min(float(r["simulate_cpu_s"]) for r in rs) for side, rs in runs.items()}
        row = {
            "n_gpus": size,
            "facility": facility,
            "old_simulate_s": [r["simulate_s"] for r in runs["old"]],
            "new_simulate_s": [r["simulate_s"] for r in runs["new"]],
            "old_facility_step_us": [r["facility_step_us"] for r in runs["old"]],
            "new_facility_step_us": [r["facility_step_us"] for r in runs["new"]],
            "old_facility_step_s": [r["facility_step_s"] for r in runs["old"]],
            "new_facility_step_s": [r["facility_step_s"] for r in runs["new"]],
            "old_simulate_cpu_s": [r["simulate_cpu_s"] for r in runs["old"]],
            "new_simulate_cpu_s": [r["simulate_cpu_s"] for r in runs["new"]],
            "old_facility_step_cpu_us": [r["facility_step_cpu_us"] for r in runs["old"]],
            "new_facility_step_cpu_us": [r["facility_step_cpu_us"] for r in runs["new"]],
            "speedup": best["old"] / best["new"],
            "speedup_cpu": cpu["old"] / cpu["new"],
            "load_avg": os.getloadavg(),
        }
        out.append(row)
        print(
            f"  {size:>7,d} GPUs ({facility}): simulate s old "
            f"{[round(float(x), 1) for x in row['old_simulate_s']]}, new "
            f"{[round(float(x), 1) for x in row['new_simulate_s']]}; speedup (best) "
            f"{row['speedup']:.3f}; facility step µs old "
            f"{[round(float(x)) for x in row['old_facility_step_us']]}, new "
            f"{[round(float(x)) for x in row['new_facility_step_us']]}; CPU s old "
            f"{[round(float(x), 1) for x in row['old_simulate_cpu_s']]}, new "
            f"{[round(float(x), 1) for x in row['new_simulate_cpu_s']]}; speedup (best CPU) "
            f"{row['speedup_cpu']:.3f}; facility step CPU µs old "
            f"{[round(float(x)) for x in row['old_facility_step_cpu_us']]}, new "
            f"{[round(float(x)) for x in row['new_facility_step_cpu_us']]}; "
            f"load {os.getloadavg()[0]:.2f}",
            flush=True,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES))
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--svg", type=Path, default=None)
    parser.add_argument("--facility", choices=("plant", "coupled"), default="plant")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="a checkout of the previous code: run each size there and here, interleaved",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per size and tree")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.facility)))
        return
    info = machine()
    print(
        f"machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}, "
        f"numpy {info['numpy']}, load average {info['load_avg'][0]:.2f}"
    )
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.baseline is not None:
        result = compare(sizes, args.facility, args.baseline.resolve(), max(1, args.repeat))
        if args.json is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"machine": info, "compare": result}, indent=2) + "\n")
        return
    rows = []
    for size in sizes:
        rows.append(run_size(size, args.facility))
        r = rows[-1]
        print(
            f"  done {r['n_gpus']:>7,d} GPUs: {r['total_s']:7.1f} s, {r['peak_rss_mb']:6.0f} MB",
            flush=True,
        )
    header = (
        f"{'GPUs':>8s} {'racks':>6s} {'jobs':>10s} {'events':>10s} {'build s':>8s} "
        f"{'sim s':>8s} {'total s':>8s} {'jobs/s':>8s} {'RSS MB':>8s} {'alloc %':>7s} "
        f"{'steps':>6s} {'step s':>7s} {'µs/step':>8s}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['n_gpus']:8,d} {r['n_racks']:6,d} {r['jobs']:10,d} {r['events']:10,d} "
            f"{r['build_s']:8.1f} {r['simulate_s']:8.1f} {r['total_s']:8.1f} "
            f"{r['jobs_per_s']:8,.0f} {r['peak_rss_mb']:8.0f} "
            f"{100 * r['allocated_util_frac']:7.1f} "
            f"{r['facility_steps']:6,d} {r['facility_step_s']:7.1f} {r['facility_step_us']:8.0f}"
        )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": info, "rows": rows}, indent=2) + "\n")
    if args.svg is not None:
        plot(rows, args.svg)


if __name__ == "__main__":
    main()
