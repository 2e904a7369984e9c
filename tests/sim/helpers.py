"""Tiny hand-made clusters and job tables for simulator and policy tests."""

from __future__ import annotations

import numpy as np
import pytest

from kiban.catalog import default_catalog
from kiban.policies.registry import make_policy
from kiban.sim import JobTable, SimSettings, simulate, uniform_layout

QUIET = {"failures": False, "thermal": False, "gpu_activity": False}
"""Settings that switch off the random, thermal and activity parts for exact hand checks
(``gpu_activity``: allocated GPUs compute all the time, as the hand-checked numbers assume)."""
IDEAL_STORAGE = {
    "prep_b_per_s_per_core": float("inf"),
    "cache_warmup": False,
    "input_rate_reference_memory_bw_b_per_s": None,
}
"""Storage settings of the old twin, for hand checks of the file-system share alone: host CPUs
never limit, caches are warm at once, input rates hold on every GPU model."""


def dgx():
    cat = default_catalog()
    return cat.server("dgx-h100"), cat.gpu("h100-sxm")


def layout(n_racks=1, servers_per_rack=1, **kw):
    server, sku = dgx()
    return uniform_layout(server, sku, n_racks=n_racks, servers_per_rack=servers_per_rack, **kw)


def jobs(rows, **cols):
    """rows: (submit_s, duration_s, num_gpus) tuples."""
    arr = np.asarray(rows, dtype=np.float64).reshape(-1, 3)
    return JobTable.from_arrays(arr[:, 0], arr[:, 1], arr[:, 2].astype(int), **cols)


def run(lay, table, policy="fifo-static", params=None, **settings):
    merged = {**QUIET, **settings}
    pol = make_policy("policy", policy, params) if isinstance(policy, str) else policy
    return simulate(lay, table, pol, settings=SimSettings(**merged))


def ends(out):
    return out.job["end_s"]


def starts(out):
    return out.job["first_start_s"]


def productive_from_jobs(out):
    """Σ num_gpus · progress: what productive + underused must equal (all of it productive when
    the GPU activity process is off)."""
    return float(np.dot(out.jobs.num_gpus, out.job["progress_s"]))


def random_jobs(rng, n, *, horizon_s=20_000.0, sizes=(1, 2, 4, 8, 16), mean_s=1500.0, **cols):
    submit = np.sort(rng.uniform(0, horizon_s, n))
    duration = rng.exponential(mean_s, n) + 1.0
    gpus = rng.choice(sizes, n)
    return JobTable.from_arrays(submit, duration, gpus, **cols)


def assert_gpu0_draws_like_one_job(shared, whole):
    """GPU 0 of run ``shared`` (tenants on one GPU) draws the power and activity of run
    ``whole`` (one job on it) at the first sample, and its jobs' energy sums to the whole
    job's. Both runs need ``record_gpus=True``; returns ``shared``'s per-job energy (J)."""
    tl_s, tl_w = shared.gpu_timeline, whole.gpu_timeline
    assert tl_s is not None
    assert tl_w is not None
    s0 = tl_s["gpu_idx"] == 0
    w0 = tl_w["gpu_idx"] == 0
    assert tl_s["power_w"][s0][0] == pytest.approx(tl_w["power_w"][w0][0], rel=1e-12)
    assert tl_s["activity_frac"][s0][0] == pytest.approx(tl_w["activity_frac"][w0][0], rel=1e-12)
    energy = shared.job["energy_j"]
    assert energy.sum() == pytest.approx(whole.job["energy_j"][0], rel=1e-12)
    return energy
