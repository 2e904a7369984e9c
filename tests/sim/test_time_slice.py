"""Time-slicing in the event simulator (issue 15: sharing with a slowdown).

With ``time_slice_max_tenants`` = R, a job asking for part of a GPU takes one of the GPU's R
replicas (NVIDIA k8s-device-plugin / GPU Operator time-slicing) and the GPU's k tenants get an
equal share of its time ("CUDA will simply give an equal share of time to all of the GPU
processes", k8s-device-plugin README): each holds 1/k of the GPU and progresses at 1/k. No
context-switch overhead is published, so none is modelled: k equal tenants alone on a GPU all
end at k × their duration. The cluster is one DGX H100 (8 GPUs); activity is pegged and failures
and thermals are off (tests.sim.helpers.QUIET), so the numbers are hand-checkable; ledger sums
are checked to 1e-12 relative (float sums of a few terms).
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.sim.helpers import assert_gpu0_draws_like_one_job, jobs, layout, run

from kiban.errors import ConfigError
from kiban.sim import SimSettings
from kiban.vocabulary import LEDGER_BUCKETS

HOLD_S = 100.0


def _ledger_sum_gpu_s(out):
    return sum(out.ledger_gpu_s[k] for k in LEDGER_BUCKETS)


def test_k_tenants_each_run_at_one_kth_and_the_gpu_is_booked_once():
    """Four 100-s jobs asking for a share, R = 4: all four start at 0 on one GPU and each
    progresses at 1/4, so all end at 400 s. The GPU is allocated (productive) for 400 GPU·s,
    each job attains 100 GPU·s, the other 7 GPUs idle 2,800 GPU·s, and the ledger sums to
    8 × 400 GPU·s (each GPU-second once)."""
    out = run(layout(), jobs([(0, HOLD_S, 1)] * 4, gpu_milli=[500] * 4), time_slice_max_tenants=4)
    assert np.all(out.job["first_start_s"] == 0.0)
    assert out.job["end_s"] == pytest.approx([4 * HOLD_S] * 4, rel=1e-12)
    led = out.ledger_gpu_s
    assert led["productive"] == pytest.approx(4 * HOLD_S, rel=1e-12)
    assert led["idle_no_demand"] == pytest.approx(7 * 4 * HOLD_S, rel=1e-12)
    assert _ledger_sum_gpu_s(out) == pytest.approx(8 * 4 * HOLD_S, rel=1e-12)
    assert out.job["attained_gpu_s"] == pytest.approx([HOLD_S] * 4, rel=1e-12)


def test_a_tenant_speeds_up_when_another_leaves():
    """Jobs of 100 s and 300 s of work share a GPU (R = 2): both run at 1/2 until the short one
    ends at 200 s (the long one has done 100 s), then the long one runs alone at full speed for
    its last 200 s: it ends at 400 s. Allocated time: 400 GPU·s on the one GPU."""
    out = run(
        layout(),
        jobs([(0, HOLD_S, 1), (0, 3 * HOLD_S, 1)], gpu_milli=[300, 300]),
        time_slice_max_tenants=2,
    )
    assert out.job["end_s"] == pytest.approx([2 * HOLD_S, 4 * HOLD_S], rel=1e-12)
    assert out.ledger_gpu_s["productive"] == pytest.approx(4 * HOLD_S, rel=1e-12)
    assert out.job["attained_gpu_s"] == pytest.approx([HOLD_S, 3 * HOLD_S], rel=1e-12)
    assert _ledger_sum_gpu_s(out) == pytest.approx(8 * 4 * HOLD_S, rel=1e-12)


def test_at_most_max_tenants_share_a_gpu():
    """R = 2 and 17 share jobs on 8 GPUs: 16 start at 0 (two per GPU), the 17th waits until a
    pair ends at 200 s; R = 3 takes all 17 at once (1000 // 3 = 333 milli per replica)."""
    rows = [(0, HOLD_S, 1)] * 17
    two = run(layout(), jobs(rows, gpu_milli=[100] * 17), time_slice_max_tenants=2)
    assert np.count_nonzero(two.job["first_start_s"] == 0.0) == 16
    assert two.job["first_start_s"].max() == pytest.approx(2 * HOLD_S, rel=1e-12)
    assert _ledger_sum_gpu_s(two) == pytest.approx(8 * two.horizon_s, rel=1e-12)
    three = run(layout(), jobs(rows, gpu_milli=[100] * 17), time_slice_max_tenants=3)
    assert np.all(three.job["first_start_s"] == 0.0)
    assert _ledger_sum_gpu_s(three) == pytest.approx(8 * three.horizon_s, rel=1e-12)


def test_power_and_activity_of_a_time_sliced_gpu_follow_its_tenants():
    """Two tenants of one GPU draw what one whole job of the same activity draws (idle plus each
    tenant's half of its power above idle), are as busy, and together use the energy of one
    job running twice as long (each progresses at half speed)."""
    lay = layout()
    sliced = run(
        lay,
        jobs([(0, HOLD_S, 1), (0, HOLD_S, 1)], gpu_milli=[500, 500]),
        record_gpus=True,
        time_slice_max_tenants=2,
    )
    whole = run(lay, jobs([(0, 2 * HOLD_S, 1)]), record_gpus=True)
    energy = assert_gpu0_draws_like_one_job(sliced, whole)
    assert energy[0] == pytest.approx(energy[1], rel=1e-12)


def test_without_time_slicing_the_same_jobs_are_milli_shares():
    """The default (0) keeps milli shares: two 500-milli jobs share a GPU at full speed (end at
    100 s), and the unused half of a lone 500-milli job's GPU is free time."""
    out = run(layout(), jobs([(0, HOLD_S, 1)] * 2, gpu_milli=[500, 500]))
    assert out.job["end_s"] == pytest.approx([HOLD_S] * 2, rel=1e-12)
    lone = run(layout(), jobs([(0, HOLD_S, 1)], gpu_milli=[500]))
    assert lone.ledger_gpu_s["idle_no_demand"] == pytest.approx(7.5 * HOLD_S, rel=1e-12)
    sliced = run(layout(), jobs([(0, HOLD_S, 1)], gpu_milli=[500]), time_slice_max_tenants=4)
    assert sliced.ledger_gpu_s["idle_no_demand"] == pytest.approx(7 * HOLD_S, rel=1e-12)
    assert sliced.job["end_s"][0] == pytest.approx(HOLD_S, rel=1e-12)


@pytest.mark.parametrize(
    "policy", ["fifo-static", "best-fit", "random-fit", "fgd", "tiresias-las", "easy-backfill"]
)
def test_random_runs_keep_the_ledger_exact(policy):
    """Random arrivals of share and whole jobs, with failures, activity and thermals on and the
    simulator's invariant checks (on in tests): every job ends and the ledger sums to capacity
    under every placement policy and a preempting (LAS) and a backfilling one (to 1e-9:
    thousands of float increments)."""
    rng = np.random.default_rng(15)
    n = 60
    submit = np.sort(rng.uniform(0, 2000.0, n))
    dur = rng.exponential(400.0, n) + 10.0
    num = np.where(rng.random(n) < 0.3, rng.choice([1, 2, 4], n), 1)
    milli = np.where(num == 1, rng.choice([200, 500, 1000], n), 1000)
    rows = list(zip(submit, dur, num, strict=True))
    out = run(
        layout(),
        jobs(rows, gpu_milli=milli),
        policy=policy,
        time_slice_max_tenants=3,
        failures=True,
        thermal=True,
        gpu_activity=True,
        node_failure_rate_per_s=1e-3,
        seed=15,
    )
    assert np.all(out.job["state"] == 3)  # DONE
    assert out.counters["failures"] > 0  # tenants redo lost work (1 GPU-second per second)
    if policy == "tiresias-las":
        assert out.counters["preemptions"] > 0
    assert _ledger_sum_gpu_s(out) == pytest.approx(8 * out.horizon_s, rel=1e-9)


def test_a_tenant_count_whose_replica_admits_more_is_refused():
    """300 tenants would get 3 milli each, which admits 333: one clear error naming the field."""
    with pytest.raises(ConfigError, match="time_slice_max_tenants"):
        SimSettings(time_slice_max_tenants=300)
    with pytest.raises(ConfigError, match="time_slice_max_tenants"):
        SimSettings(time_slice_max_tenants=1)
    assert SimSettings(time_slice_max_tenants=31).time_slice_max_tenants == 31
