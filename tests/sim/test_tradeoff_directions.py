"""The coupled twin's trade-offs (a)–(d) keep their direction (issue 10, docs/validation.md).

Each test reads the runs of :mod:`kiban.validation.tradeoffs` (the shipped example scenarios, a
fixed block of jobs or the scenario's own workload) and fails if the trade-off the seed names
is lost; the numbers themselves are reported in docs/validation.md, not pinned here.
"""

from __future__ import annotations

import numpy as np

from kiban.validation import tradeoffs as tr


def test_a_lower_clock_saves_gpu_power_but_lengthens_jobs():
    a = tr.clock_tradeoff()
    assert np.all(np.diff(a.gpu_power_w) < 0.0)
    assert np.all(np.diff(a.jct_h) >= 0.0)
    assert a.jct_h[-1] > 2.0 * a.jct_h[0]


def test_a_below_an_optimum_a_lower_clock_costs_facility_energy():
    a = tr.clock_tradeoff()
    assert 0 < a.optimum < len(a.cap_frac) - 1
    # below the optimum every further step down costs energy
    assert np.all(np.diff(a.facility_kwh[a.optimum :]) > 0.0)


def test_b_packing_a_short_aisle_throttles_and_spreading_removes_most():
    b = tr.density_tradeoff()
    packed, spread = 0, 1
    assert b.max_deficit_frac[packed] > b.max_deficit_frac[spread]
    assert b.max_inlet_c[packed] > b.max_inlet_c[spread] + 5.0
    assert b.throttle_share[packed] > 0.0
    assert b.throttle_share[spread] < 0.5 * b.throttle_share[packed]


def test_c_warmer_supply_saves_cooling_until_fans_eat_it():
    c = tr.supply_tradeoff()
    assert np.all(np.diff(c.cooling_kwh) < 0.0)
    assert c.it_kwh[-1] > c.it_kwh[0]
    # the saving per kelvin shrinks while the fans' cost grows
    saving = -np.diff(c.cooling_kwh)
    assert saving[-1] < saving[0]


def test_c_facility_energy_has_an_interior_minimum():
    c = tr.supply_tradeoff()
    k = int(np.argmin(c.facility_kwh))
    assert 0 < k < len(c.supply_c) - 1


def test_d_tight_racks_trap_heat_sparse_racks_waste_air():
    d = tr.spacing_tradeoff()
    assert d.max_inlet_c[0] > d.max_inlet_c[-1]
    assert d.it_kwh[0] > d.it_kwh[-1]  # server fans work harder behind recirculating racks
    assert np.all(np.diff(d.air_handling_kwh) > 0.0)
