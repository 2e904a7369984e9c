"""GPU activity inside the allocation during a run (issue 10): the underused bucket and power."""

from __future__ import annotations

import numpy as np
import pytest
from tests.sim.helpers import layout, productive_from_jobs, random_jobs, run

from kiban.ledger import Ledger
from kiban.physics import activity as act


def _runs(seed=3):
    table = random_jobs(np.random.default_rng(seed), 60, activity_frac=np.full(60, 0.9))
    lay = layout(n_racks=2, servers_per_rack=2)
    on = run(lay, table, gpu_activity=True, seed=seed)
    off = run(lay, table, gpu_activity=False, seed=seed)
    return on, off


def test_underused_is_booked_and_the_ledger_still_sums():
    """With the Philly-fitted activity, allocated GPUs idle inside their jobs: that time is
    ``underused``, productive + underused is the jobs' work, and the ledger sums to 1e-9."""
    on, off = _runs()
    Ledger.from_run(on).check(rel_tol=1e-9)
    led = on.ledger_gpu_s
    assert off.ledger_gpu_s["underused"] == 0.0
    work = led["productive"] + led["underused"]
    assert work == pytest.approx(productive_from_jobs(on), rel=1e-9)
    # the fitted busy share of a 1–16 GPU mix is ≈ 0.4–0.5, so underused ≈ half the work
    share = led["underused"] / work
    fit = act.fitted_activity()
    busy = float(act.expected_busy_frac(act.busy_mean_by_class(fit), fit).mean())
    assert 0.5 * (1 - busy) < share < 1.0
    # durations are wall times: the activity does not stretch the jobs
    np.testing.assert_allclose(on.job["end_s"], off.job["end_s"], rtol=1e-9)


def test_activity_lowers_gpu_energy_and_is_deterministic():
    on, off = _runs()
    assert on.job["energy_j"].sum() < 0.8 * off.job["energy_j"].sum()
    again, _ = _runs()
    np.testing.assert_array_equal(on.job["energy_j"], again.job["energy_j"])
    other, _ = _runs(seed=4)
    assert not np.array_equal(on.job["energy_j"], other.job["energy_j"])
