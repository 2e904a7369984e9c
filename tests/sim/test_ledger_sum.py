"""The ledger test: every GPU-second of capacity lands in exactly one bucket, and the buckets sum
to the capacity within 1e-9 relative, for every policy and with every physics effect on.

Also: productive + underused GPU·s equal the work the jobs did (Σ num_gpus × progress), every job
either completes exactly once or is reported unfinished, and (through ``options.debug_checks``,
on in tests) no GPU is ever held twice.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.sim.helpers import jobs, layout, productive_from_jobs, random_jobs, run

from kiban.ledger import Ledger
from kiban.policies.baselines import BASELINES
from kiban.sim.state import DONE, FUTURE, PENDING, RUNNING, UNSCHEDULABLE

REL = 1e-9


def _check(out):
    led = Ledger.from_run(out)
    led.check(rel_tol=REL)
    total = sum(out.ledger_gpu_s.values())
    assert abs(total - out.capacity_gpu_s) <= REL * out.capacity_gpu_s
    # the jobs' work (their wall time at full speed) is productive or underused (idle phases
    # inside the job, issue 10)
    work = out.ledger_gpu_s["productive"] + out.ledger_gpu_s["underused"]
    assert work == pytest.approx(productive_from_jobs(out), rel=REL)
    state = out.job["state"]
    done = state == DONE
    assert set(np.unique(state)) <= {DONE, FUTURE, PENDING, RUNNING, UNSCHEDULABLE}
    assert np.all(
        out.job["end_s"][done] >= out.jobs.submit_time_s[done] + out.jobs.duration_s[done] - 1e-6
    )
    assert np.all(np.isnan(out.job["end_s"][~done]))


@pytest.mark.parametrize("policy", BASELINES)
def test_ledger_sums_with_every_effect_on(policy):
    """Failures, checkpoints, I/O contention, recirculation and a hot supply, all at once."""
    rng = np.random.default_rng(11)
    n = 120
    lay = layout(
        n_racks=2,
        servers_per_rack=2,
        supply_temp_c=38.0,
        heat_distribution_k_per_w=np.full((2, 2), 2e-4),
        node_cache_b=1e12,
    )
    table = random_jobs(
        rng,
        n,
        horizon_s=40_000.0,
        sizes=(1, 2, 4, 8, 16),
        input_rate_b_per_s_per_gpu=rng.uniform(0, 5e8, n),
        dataset_size_b=rng.uniform(1e11, 5e12, n),
        checkpoint_size_b=rng.uniform(1e9, 5e10, n),
        checkpoint_interval_s=rng.uniform(600, 3600, n),
        activity_frac=rng.uniform(0.3, 1.0, n),
    )
    out = run(
        lay,
        table,
        policy,
        failures=True,
        thermal=True,
        node_failure_rate_per_s=1.0 / 20_000.0,
        repair_s=900.0,
        storage_bandwidth_b_per_s=6e9,
        seed=4,
        prep_b_per_s_per_core=5e7,  # fast host CPUs: the GPUs stay hot enough to throttle
    )
    _check(out)
    for bucket in ("io_stall", "failure", "checkpoint", "thermal_throttle"):
        assert out.ledger_gpu_s[bucket] > 0, bucket
    assert (out.job["state"] == DONE).all()


def test_ledger_sums_with_a_cut_window():
    rng = np.random.default_rng(2)
    out = run(layout(servers_per_rack=2), random_jobs(rng, 60), "tiresias-las", until_s=9_000.0)
    _check(out)
    assert out.horizon_s == 9_000.0
    assert (out.job["state"] == RUNNING).any() or (out.job["state"] == PENDING).any()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.tuples(
            st.floats(0, 5000, allow_nan=False),
            st.floats(0, 3000, allow_nan=False),
            st.sampled_from([1, 2, 3, 4, 8, 16, 24]),
        ),
        min_size=1,
        max_size=25,
    ),
    policy=st.sampled_from(BASELINES),
)
def test_ledger_property(rows, policy):
    out = run(layout(servers_per_rack=2), jobs(rows), policy)
    _check(out)
    state = out.job["state"]
    assert np.all((state == DONE) | (state == UNSCHEDULABLE))
    assert np.all(state[out.jobs.num_gpus > 16] == UNSCHEDULABLE)
