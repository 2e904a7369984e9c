"""MIG benchmark: a synthetic month of MIG-heavy jobs on 512 A100 80GB GPUs, three placements.

64 DGX A100 (``uniform_layout``, 32 racks × 2), 20,000 jobs over 30 days: 85 % on a MIG instance
(1g.10gb 35 %, 1g.20gb 10 %, 2g.20gb 20 %, 3g.40gb 15 %, 4g.40gb 10 %, 7g.80gb 10 %; median
160 min), 15 % whole-GPU jobs of 1-8 GPUs (median 8 h), log-normal run times (σ 0.8), uniform
arrivals (numpy default_rng(1)); about 30 % of the GPU time offered. Default simulator settings
(failures, thermal, activity on; no coupled facility). Reports simulated jobs per second of the
process's CPU time (less disturbed than wall time on a shared machine) and the GPU time stranded
in unheld slices of partitioned GPUs.

Usage::

    .venv/bin/python bench/bench_mig.py
"""

from __future__ import annotations

import time

import numpy as np

from kiban.catalog import default_catalog
from kiban.policies.registry import make_policy
from kiban.sim import JobTable, SimSettings, simulate, uniform_layout

N_JOBS = 20_000
SPAN_S = 30 * 86_400.0
PROFILES = ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb")
PROFILE_P = (0.35, 0.10, 0.20, 0.15, 0.10, 0.10)


def main() -> None:
    """Run the three placements and print one line each."""
    cat = default_catalog()
    layout = uniform_layout(
        cat.server("dgx-a100"), cat.gpu("a100-sxm-80gb"), n_racks=32, servers_per_rack=2
    )
    rng = np.random.default_rng(1)
    submit = np.sort(rng.uniform(0, SPAN_S, N_JOBS))
    is_mig = rng.random(N_JOBS) < 0.85
    profile = np.where(is_mig, rng.choice(PROFILES, N_JOBS, p=PROFILE_P), "")
    gpus = np.where(is_mig, 1, rng.choice([1, 2, 4, 8], N_JOBS, p=[0.4, 0.3, 0.2, 0.1]))
    duration = np.where(is_mig, 9600.0, 28_800.0) * rng.lognormal(0.0, 0.8, N_JOBS)
    table = JobTable.from_arrays(submit, duration, gpus, mig_profile=profile.astype(object))
    for policy in ("fifo-static", "best-fit", "fgd"):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        pol = make_policy("policy", policy, None)
        out = simulate(layout, table, pol, settings=SimSettings(seed=1))
        cpu_s = time.process_time() - cpu0
        done = int((out.job["state"] == 3).sum())
        print(
            f"{policy:12s} {N_JOBS / cpu_s:8,.0f} jobs per CPU-s, wall "
            f"{time.perf_counter() - wall0:5.1f} s, {done:,} done, stranded slices "
            f"{out.mig_idle_slice_gpu_s / 3600:,.0f} GPU·h of {out.capacity_gpu_s / 3600:,.0f}"
        )


if __name__ == "__main__":
    main()
