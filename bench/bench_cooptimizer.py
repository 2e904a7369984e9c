"""J-DEC epoch solve time: p50/p99 per epoch at 100, 400 and 1,000 jobs × 32–128 racks.

The instance follows ``reference/cooptimizer.md`` §10.6: racks of 4 DGX H100 (32 GPUs),
D_ir = 2·10⁻⁵·exp(−|i − r|/2) + U(0, 4·10⁻⁶) K/W, job sizes from {1, 2, 4, 8, 8, 16, 32}
GPUs (8 per node above 8), half of the jobs reading a dataset from a shared file system, a
site budget of 85 % of nameplate. All jobs arrive at t = 0 (the window is full from the
first epoch); the run lasts ``--epochs`` epochs of 300 s. Each epoch's wall time covers stages
A–D (allocation MILP, XInt placement, power/thermal LP, supply set-point). Run:

    .venv/bin/python bench/bench_cooptimizer.py [--sizes 100x32,400x64,1000x128] [--epochs 12]
        [--modes warm,cold] [--elastic 0.5]

It prints one JSON line per size and mode: p50/p99 epoch time, stage-A statuses, fallbacks and
their share of the stage-A epochs, the solves the wall-clock safety net stopped
(``time_limit_hits``: stage A stops at deterministic limits, the 1 % gap or the node limit,
so these are the epochs whose decisions depend on the machine), warm starts, machine, and
the process CPU time of the run (``run_cpu_s``: compare trees by it on a shared machine).
``warm`` gives HiGHS (through highspy) the layered decision as its first incumbent; ``cold``
does not (the modes alternate per size, so both see the same machine load). ``--elastic S``
makes a share S of the jobs without a per-node constraint elastic (``kiban.sim.jobs.make_elastic``:
1–64 GPUs, a goodput profile), so stage A has GPU-count options for waiting jobs and, since
session 9, resize options for running ones; the script runs on older trees too (through
``PYTHONPATH``), which give running jobs no resize options.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from kiban.catalog import default_catalog
from kiban.policies.joint import JDec
from kiban.sim import Simulator
from kiban.sim.jobs import JobTable, make_elastic
from kiban.sim.layout import uniform_layout
from kiban.sim.settings import SimSettings


def instance(n_jobs: int, n_racks: int, seed: int, elastic: float = 0.0):
    rng = np.random.default_rng(seed)
    cat = default_catalog()
    server, sku = cat.server("dgx-h100"), cat.gpu("h100-sxm")
    i = np.arange(n_racks)
    d = 2e-5 * np.exp(-np.abs(i[:, None] - i[None, :]) / 2.0) + rng.uniform(
        0, 4e-6, (n_racks, n_racks)
    )
    lay = uniform_layout(
        server,
        sku,
        n_racks=n_racks,
        servers_per_rack=4,
        heat_distribution_k_per_w=d,
        supply_temp_c=20.0,
        node_cache_b=2e12,
    )
    sizes = rng.choice([1, 2, 4, 8, 8, 16, 32], n_jobs)
    io = rng.random(n_jobs) < 0.5
    table = JobTable.from_arrays(
        np.zeros(n_jobs),
        rng.uniform(3_600.0, 36_000.0, n_jobs),
        sizes,
        gpus_per_node=np.where(sizes >= 8, 8, 0),
        activity_frac=rng.uniform(0.5, 1.0, n_jobs),
        compute_bound_frac=rng.uniform(0.5, 1.0, n_jobs),
        input_rate_b_per_s_per_gpu=np.where(io, rng.uniform(5e7, 4e8, n_jobs), 0.0),
        dataset_size_b=np.where(io, rng.uniform(1e11, 5e12, n_jobs), 0.0),
    )
    if elastic > 0:
        table = make_elastic(table, np.random.default_rng(seed + 1), share=elastic)
    nameplate_w = lay.n_nodes * server.max_power_w
    return lay, table, nameplate_w


class _TimedJDec(JDec):
    """J-DEC with each epoch's process CPU time (s) recorded (stages A–D)."""

    def __init__(self, params: JDec.Params) -> None:
        super().__init__(params)
        self.epoch_cpu_s: list[float] = []

    def _epoch(self, view):  # type: ignore[no-untyped-def]
        c0 = time.process_time()
        plan = super()._epoch(view)
        self.epoch_cpu_s.append(time.process_time() - c0)
        return plan


def run(
    n_jobs: int, n_racks: int, epochs: int, seed: int, *, warm: bool = True, elastic: float = 0.0
) -> dict:
    lay, table, nameplate_w = instance(n_jobs, n_racks, seed, elastic)
    budget_kw = 0.85 * nameplate_w * 1.2 / 1000.0  # 85 % of nameplate, with PUE ≈ 1.2
    policy = _TimedJDec(
        JDec.Params(window=n_jobs, site_budget_kw=budget_kw, epoch_s=300.0, warm_start=warm)
    )
    settings = SimSettings(
        seed=seed, until_s=300.0 * epochs, failures=False, storage_bandwidth_b_per_s=20e9
    )
    t0, c0 = time.perf_counter(), time.process_time()
    Simulator(lay, table, policy, settings=settings).run()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    st = policy.stats
    solved = [s for s, k in zip(st.solve_s, st.status, strict=True) if k >= -1]
    arr = np.asarray(solved) if solved else np.zeros(1)
    cpu_a = [c for c, k in zip(policy.epoch_cpu_s, st.status, strict=True) if k >= -1]
    cpu_arr = np.asarray(cpu_a) if cpu_a else np.zeros(1)
    return {
        "mode": "warm" if warm else "cold",
        "jobs": n_jobs,
        "racks": n_racks,
        "gpus": lay.n_gpus,
        "epochs": len(st.solve_s),
        "epochs_with_stage_a": len(solved),
        "epoch_p50_s": round(float(np.percentile(arr, 50)), 3),
        "epoch_p99_s": round(float(np.percentile(arr, 99)), 3),
        # process CPU per epoch (HiGHS's threads included): over the stage-A epochs, and the
        # mean over every epoch (what the run pays per epoch)
        "epoch_cpu_p50_s": round(float(np.percentile(cpu_arr, 50)), 3),
        "epoch_cpu_p99_s": round(float(np.percentile(cpu_arr, 99)), 3),
        "epoch_cpu_mean_all_s": round(float(np.mean(policy.epoch_cpu_s or [0.0])), 3),
        "elastic_share": elastic,
        "resized": getattr(st, "resized", None),
        "epoch_max_s": round(float(arr.max()), 3),
        "stage_a_status": {str(k): st.status.count(k) for k in sorted(set(st.status))},
        "fallbacks": st.fallbacks,
        # stage-A solves the wall-clock safety net stopped (their decisions depend on the
        # machine); absent in trees before session 7, where the time limit itself decided
        "time_limit_hits": getattr(st, "time_limit_hits", None),
        "fallback_share": round(st.fallbacks / max(len(solved), 1), 3),
        "warm_starts": st.warm_starts,
        "dropped": st.dropped,
        "run_wall_s": round(wall, 1),
        "run_cpu_s": round(cpu, 1),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100x32,400x64,1000x128")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--modes", default="warm", help="warm, cold or warm,cold (interleaved)")
    ap.add_argument("--elastic", type=float, default=0.0, help="share of elastic jobs (0–1)")
    args = ap.parse_args()
    modes = args.modes.split(",")
    for k, size in enumerate(args.sizes.split(",")):
        n_jobs, n_racks = (int(x) for x in size.split("x"))
        for mode in modes if k % 2 == 0 else modes[::-1]:
            out = run(
                n_jobs, n_racks, args.epochs, args.seed, warm=mode == "warm", elastic=args.elastic
            )
            print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
