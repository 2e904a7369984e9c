"""Thermal throttling: an onset event at the RC crossing time, then the clock that holds the die
at its SW thermal slowdown temperature: the GPU's max operating temperature (nvml.h,
NVML_TEMPERATURE_THRESHOLD_GPU_MAX, "SwThermalSlowdown": clocks reduced so the GPU stays at or
below it; H100 SXM 87 °C, physics.md §1.1/§1.3), not the higher HW slowdown threshold (89 °C).
Expected values are computed from the physics functions directly."""

from __future__ import annotations

import pytest
from tests.sim.helpers import jobs, layout, run

from kiban.ledger import Ledger
from kiban.physics.gpu_power import average_power_under_cap_w, speed_frac_under_cap
from kiban.physics.thermal import time_to_reach_s


def test_hot_inlet_throttles_after_the_rc_delay():
    lay = layout(supply_temp_c=50.0)
    sku = lay.skus[0]
    table = jobs([(0, 3600, 8)], activity_frac=[1.0], compute_bound_frac=[1.0])
    out = run(lay, table, thermal=True)
    inlet = 50.0
    power = float(average_power_under_cap_w(sku.tdp_w, 1.0, sku))
    r, tau, slow = sku.die_to_inlet_k_per_w, sku.thermal_time_constant_s, sku.max_operating_temp_c
    assert inlet + r * power > slow  # steady state would overheat
    t0 = inlet + r * sku.idle_context_power_w  # the GPUs were idle before the job
    onset = float(time_to_reach_s(t0, inlet, power, r, tau, slow))
    p_limit = (slow - inlet) / r
    s_th = float(speed_frac_under_cap(p_limit, 1.0, 1.0, sku)) / float(
        speed_frac_under_cap(sku.tdp_w, 1.0, 1.0, sku)
    )
    assert 0 < onset < 600
    assert 0.3 < s_th < 1.0
    expected_end = onset + (3600 - onset) / s_th
    assert out.job["end_s"][0] == pytest.approx(expected_end, rel=1e-9)
    assert out.counters["throttle_onsets"] == 1
    assert out.job["throttle_s"][0] == pytest.approx(expected_end - 3600, rel=1e-9)
    assert out.ledger_gpu_s["thermal_throttle"] == pytest.approx(
        8 * (expected_end - 3600), rel=1e-9
    )
    Ledger.from_run(out).check()


def test_cool_inlet_never_throttles():
    out = run(layout(supply_temp_c=20.0), jobs([(0, 3600, 8)]), thermal=True)
    assert out.counters["throttle_onsets"] == 0
    assert out.job["end_s"][0] == 3600.0
