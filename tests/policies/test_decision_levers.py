"""The co-optimizer levers of a Decision: power caps, cache shares, I/O weights, supply
temperature and wake-ups, applied to running jobs with hand-checked effects."""

from __future__ import annotations

import numpy as np
import pytest
from tests.sim.helpers import IDEAL_STORAGE, jobs, layout

from kiban.physics.gpu_power import speed_frac_under_cap
from kiban.policies.base import Decision
from kiban.sim import SimSettings, simulate


class Lever:
    """Starts every waiting job on the first free GPUs; at a chosen time applies ``change``."""

    name = "lever"
    preemptive = False
    epoch_s = None

    def __init__(self, at_s, change):
        self.at_s = at_s
        self.change = change
        self.done = False

    def reset(self, ctx):
        self.done = False

    def decide(self, view):
        start = {}
        free = np.flatnonzero(view.gpu_job == -1)
        for j in view.pending_jobs().tolist():
            k = int(view.jobs.num_gpus[j])
            if k <= free.shape[0]:
                start[j], free = free[:k], free[k:]
        if not self.done and view.time_s >= self.at_s:
            self.done = True
            return Decision(start=start, **self.change(view))
        wake = self.at_s if not self.done else None
        return Decision(start=start, wake_at_s=wake)


def _run(change, rows, at_s=100.0, lay=None, **settings):
    merged = {"failures": False, "thermal": False, "gpu_activity": False, **IDEAL_STORAGE}
    merged.update(settings)
    return simulate(
        lay if lay is not None else layout(),
        jobs(
            rows,
            activity_frac=[1.0] * len(rows),
            compute_bound_frac=[1.0] * len(rows),
            input_rate_b_per_s_per_gpu=[1e9] * len(rows),
            dataset_size_b=[1e12] * len(rows),
        ),
        Lever(at_s, change),
        settings=SimSettings(**merged),
    )


def test_a_power_cap_on_a_running_job_slows_it_from_then_on():
    sku = layout().skus[0]
    out = _run(lambda v: {"power_cap_w": {0: 0.6 * sku.tdp_w}}, [(0, 1000, 8)])
    speed = float(speed_frac_under_cap(0.6 * sku.tdp_w, 1.0, 1.0, sku))
    assert out.job["end_s"][0] == pytest.approx(100 + 900 / speed, rel=1e-9)


def test_cache_share_moves_an_io_stall():
    """8 GB/s demand on 4 GB/s storage. The node's 1 TB cache holds the whole data set (hit
    ratio 1, no remote reads) until the policy takes the job's cache away at t=100 (cache_b 0):
    speed 0.5 after, so 900 s of work take 1800 s, 900 s of them stalled."""
    out = _run(
        lambda v: {"cache_b": {0: 0.0}},
        [(0, 1000, 8)],
        lay=layout(node_cache_b=1e12),
        storage_bandwidth_b_per_s=4e9,
    )
    assert out.job["end_s"][0] == pytest.approx(100 + 900 / 0.5, rel=1e-9)
    assert out.job["stall_s"][0] == pytest.approx(900.0, rel=1e-9)


def test_io_weights_split_the_shared_bandwidth():
    """Two 8-GPU jobs, 8 GB/s each, 8 GB/s storage; from t=100 job 0 has weight 3: it gets
    6 GB/s (speed 0.75), job 1 gets 2 GB/s (0.25)."""
    out = _run(
        lambda v: {"io_weight": {0: 3.0}},
        [(0, 1000, 8), (0, 1000, 8)],
        lay=layout(servers_per_rack=2),
        storage_bandwidth_b_per_s=8e9,
    )
    # 0–100 both at 0.5: 50 s of work each; then 950 s of work at 0.75 for job 0
    assert out.job["end_s"][0] == pytest.approx(100 + 950 / 0.75, rel=1e-9)


def test_supply_temperature_is_set_validated_and_recorded():
    out = _run(lambda v: {"supply_temp_c": 24.0}, [(0, 1000, 8)])
    t = out.log["time_s"]
    supply = out.log["supply_temp_c"]
    assert supply[t < 100].max() == 20.0
    assert supply[t >= 100].min() == 24.0
