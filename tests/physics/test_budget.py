"""Power-budget capping: lowest priority first, hysteresis, hierarchy (Dynamo-style bands)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiban.physics import budget as bd


def _site(limit_w: float, n: int) -> bd.BudgetLevel:
    return bd.BudgetLevel("site", np.zeros(n, dtype=np.int64), np.array([limit_w]))


def test_lowest_priority_is_capped_first():
    """Dynamo (Wu et al., ISCA 2016) and Sakalkar et al. (ASPLOS 2020): low priority first."""
    demand = np.array([10e3, 10e3, 10e3, 10e3])
    floor = np.full(4, 3e3)
    prio = np.array([0, 5, 0, 9])
    res = bd.allocate_caps(demand, floor, prio, (_site(36e3, 4),))
    assert res.capping[0][0]
    assert res.allowed_w.sum() == pytest.approx(0.97 * 36e3)
    # the 5,080 W cut (40 kW − 34.92 kW) comes from the two priority-0 servers, shared equally
    np.testing.assert_allclose(res.allowed_w, [10e3 - 2540.0, 10e3, 10e3 - 2540.0, 10e3])


def test_cut_spills_to_next_priority_when_the_lowest_hit_their_floor():
    demand = np.array([10e3, 10e3, 10e3])
    floor = np.array([8e3, 2e3, 2e3])
    prio = np.array([0, 1, 2])
    res = bd.allocate_caps(demand, floor, prio, (_site(25e3, 3),))
    # target 24,250 W: 5,750 W to cut; server 0 gives 2,000 W, server 1 the remaining 3,750 W
    np.testing.assert_allclose(res.allowed_w, [8e3, 6250.0, 10e3])


def test_hysteresis_holds_caps_until_demand_falls_below_release():
    ctl = bd.PowerBudgetController((_site(100e3, 2),))
    floor, prio = np.zeros(2), np.zeros(2, dtype=np.int64)
    a = ctl.step(np.array([60e3, 45e3]), floor, prio, 60.0)  # 105 kW > 99 kW: cap to 97 kW
    assert a.sum() == pytest.approx(97e3)
    assert ctl.events == 1
    b = ctl.step(np.array([50e3, 46e3]), floor, prio, 60.0)  # 96 kW: below 99, above 95: keep
    assert b.sum() == pytest.approx(96e3)  # already under the target: nothing to cut
    assert ctl.capping is not None
    assert bool(ctl.capping[0][0])
    ctl.step(np.array([47e3, 46e3]), floor, prio, 60.0)  # 93 kW < 95 kW: release
    assert not bool(ctl.capping[0][0])
    assert ctl.events == 1
    assert ctl.s_over == 60.0  # only the first interval's demand was over the limit
    assert ctl.peak_demand_w == pytest.approx(105e3)
    assert ctl.peak_w == pytest.approx(97e3)


def test_rack_level_caps_before_site():
    rack = bd.BudgetLevel("rack", np.array([0, 0, 1, 1]), np.array([15e3, 15e3]))
    site = _site(1e9, 4)
    demand = np.array([9e3, 9e3, 5e3, 5e3])
    res = bd.allocate_caps(demand, np.zeros(4), np.zeros(4, dtype=np.int64), (rack, site))
    np.testing.assert_allclose(res.allowed_w[:2].sum(), 0.97 * 15e3)
    np.testing.assert_allclose(res.allowed_w[2:], [5e3, 5e3])
    assert res.over_w[0][0] == pytest.approx(3e3)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.0, 20e3), min_size=1, max_size=30),
    st.floats(1e3, 300e3),
    st.integers(0, 2**31 - 1),
)
def test_caps_respect_floor_demand_and_limit(demands, limit, seed):
    """0 ≤ floor ≤ allowed ≤ demand, and the total is within the target when floors allow."""
    rng = np.random.default_rng(seed)
    demand = np.array(demands)
    floor = demand * rng.uniform(0.0, 0.5, demand.size)
    prio = rng.integers(0, 3, demand.size)
    res = bd.allocate_caps(demand, floor, prio, (_site(limit, demand.size),))
    assert np.all(res.allowed_w <= demand + 1e-9)
    assert np.all(res.allowed_w >= floor - 1e-9)
    if demand.sum() > 0.99 * limit:
        assert res.allowed_w.sum() <= max(0.97 * limit, floor.sum()) + 1e-6
