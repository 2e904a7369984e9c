"""The coupled facility in a run (issue 10): unit failures heat the room and reach the chips,
summary figures are booked, and the room's heat balance closes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tests.sim.helpers import jobs, layout

from kiban.ledger import Ledger
from kiban.physics.recirculation import REF_AREA_PER_RACK_M2, air_handling_power_w
from kiban.policies.registry import make_policy
from kiban.sim import SimpleFacility, SimSettings, Simulator
from kiban.sim.coupled import CoupledFacility, FaultEvent, hall_air_for


def _run(faults=(), n_units=None, chiller_w=None, unit_m3_per_s=None, enforce=False):
    lay = layout(n_racks=2, servers_per_rack=4, supply_temp_c=22.0)
    hall = hall_air_for(
        lay,
        supply_temp_c=22.0,
        n_units=n_units,
        chiller_capacity_w=chiller_w,
        unit_airflow_m3_per_s=unit_m3_per_s,
    )
    fac = CoupledFacility(
        SimpleFacility(),
        lay,
        hall,
        faults=tuple(faults),
        budgets_w={"site": 40e3},
        enforce_budgets=enforce,
    )
    table = jobs([(0, 6 * 3600, 8)] * 8, activity_frac=np.full(8, 1.0))
    sim = Simulator(
        lay,
        table,
        make_policy("policy", "fifo-static"),
        settings=SimSettings(failures=False, gpu_activity=False, seed=1),
        facility=fac,
    )
    return sim.run(), fac


def test_coupled_run_books_the_summary_figures_and_the_heat_balance():
    out, _ = _run()
    c = out.coupling
    for key in ("gpu_power_w_quantiles", "gpu_die_temp_c_quantiles", "gpu_activity_frac_quantiles"):
        assert set(c[key]) == {"p01", "p10", "p25", "p50", "p75", "p90", "p99"}
    assert c["gpu_power_w_quantiles"]["p50"] > 500.0  # pegged 64 H100s, all busy
    assert c["power_budget_peak_w"] > 40e3
    assert c["power_budget_s_over"] > 0.0
    bal = c["room_heat_balance_j"]
    assert bal["heat_in"] == pytest.approx(bal["removed"] + bal["stored"], rel=1e-9)
    Ledger.from_run(out).check()


def test_chiller_loss_heats_the_room_until_the_chips_shut_down():
    """A plant-limited hall (chiller at 60 % of the load) loses its chiller from 1 h to 2 h: the
    supply air of this small room (17 m³ of air, C_air ≈ 21 kJ/K, 80 kW) warms through its
    thermal mass far past 100 °C within one 5-minute step; the busy GPUs reach their slowdown
    temperature and, still above their shutdown temperature (92 °C) at the bottom of the DVFS
    range, turn off: all 8 nodes fail, their jobs go back to the start and run again once the
    chiller is repaired."""
    base, _ = _run(chiller_w=120e3)
    hot, _ = _run(faults=[FaultEvent("chiller", 3600.0, 7200.0)], chiller_w=120e3)
    assert base.counters["throttle_onsets"] == 0
    assert base.counters["thermal_shutdowns"] == 0
    assert hot.coupling["max_supply_temp_c"] > 92.0
    assert hot.coupling["cooling_shortfall_s"] > 0.0
    assert hot.counters["throttle_onsets"] > 0
    assert hot.counters["thermal_shutdowns"] == 8
    assert hot.counters["restarts"] == 8
    assert np.isfinite(hot.job["end_s"]).all()
    assert (hot.job["end_s"] > base.job["end_s"] + 3600.0).all()
    Ledger.from_run(hot).check()


def test_crah_failures_starve_the_aisle_of_air():
    """Three 2.5 m³/s units for 8 DGX H100 (4.2 m³/s): two fail, the aisle gets half its air
    and the top inlets take hot exhaust."""
    ok, _ = _run(n_units=3, unit_m3_per_s=2.5)
    short, _ = _run(
        faults=[
            FaultEvent("crac", 0.0, math.inf, unit=0),
            FaultEvent("crac", 0.0, math.inf, unit=1),
        ],
        n_units=3,
        unit_m3_per_s=2.5,
    )
    assert ok.coupling["max_airflow_deficit_frac"] == 0.0
    assert short.coupling["max_airflow_deficit_frac"] > 0.2
    assert short.log["max_inlet_temp_c"].max() > ok.log["max_inlet_temp_c"].max() + 3.0


def test_one_facility_object_serves_several_runs_identically():
    """prepare_scenario builds one facility for every policy: each run starts afresh."""
    lay = layout(n_racks=2, servers_per_rack=4, supply_temp_c=22.0)
    fac = CoupledFacility(SimpleFacility(), lay, hall_air_for(lay, supply_temp_c=22.0))
    table = jobs([(0, 3 * 3600, 8)] * 6, activity_frac=np.full(6, 0.9))
    outs = [
        Simulator(
            lay,
            table,
            make_policy("policy", "fifo-static"),
            settings=SimSettings(failures=False, seed=2),
            facility=fac,
        ).run()
        for _ in range(2)
    ]
    assert outs[0].coupling == outs[1].coupling


@pytest.mark.parametrize(
    "fault",
    [
        FaultEvent("chiller", 3700.0, 5000.0),
        FaultEvent("crac", 3700.0, 5000.0, unit=0),
    ],
    ids=["chiller", "crac"],
)
def test_a_fault_off_the_step_grid_changes_nothing_before_it_starts(fault):
    """A fault at 3,700 s (facility steps at 3,600 and 3,900 s; the run steps at 3,700 s too):
    up to and at 3,700 s the room is what the run without the fault has, so the supply air
    recorded up to then is the set-point and the room holds no heat. The step ending at
    3,700 s once integrated the 100 s before it as if the fault had already been in force.

    A plant-limited room (chiller 120 kW for 80 kW) with one CRAH unit of 10 m³/s: without the
    chiller the room warms by tens of kelvin within a step; without the unit the aisle gets no
    air at once."""
    base, _ = _run(n_units=1, chiller_w=120e3)
    hot, _ = _run(faults=[fault], n_units=1, chiller_w=120e3)
    t_b, t_h = base.log["time_s"], hot.log["time_s"]
    assert (base.log["supply_temp_c"] == 22.0).all()
    upto = t_h <= fault.start_s
    assert (t_h == fault.start_s).any()
    assert (hot.log["supply_temp_c"][upto] == 22.0).all()
    # before the fault the recorded state is the fault-free run's, row for row
    before_h, before_b = t_h < fault.start_s, t_b < fault.start_s
    for col in ("time_s", "it_power_w", "supply_temp_c", "max_inlet_temp_c"):
        np.testing.assert_array_equal(hot.log[col][before_h], base.log[col][before_b])
    # after it the room or the aisle warms (the test would pass trivially otherwise)
    after = t_h >= fault.start_s
    assert hot.log["max_inlet_temp_c"][after].max() > base.log["max_inlet_temp_c"].max() + 5.0


@pytest.mark.parametrize("containment", ["none", "hot-aisle", "cold-aisle"])
@pytest.mark.parametrize("area_per_rack_m2", [None, 1.0, 3.7])
def test_air_handling_power_is_the_recirculation_models_bit_for_bit(containment, area_per_rack_m2):
    """The step's CRAH fan power (bypass factor computed once) equals air_handling_power_w.

    Any last-bit difference would move ``air_handling_energy_j`` of every coupled run.
    """
    lay = layout(n_racks=2, servers_per_rack=4, supply_temp_c=22.0)
    fac = CoupledFacility(
        SimpleFacility(),
        lay,
        hall_air_for(lay, supply_temp_c=22.0),
        area_per_rack_m2=area_per_rack_m2,
        containment=containment,
    )
    area = area_per_rack_m2 or REF_AREA_PER_RACK_M2
    rng = np.random.default_rng(11)
    for flow in rng.uniform(0.0, 40.0, (500, 7)):
        want = float(air_handling_power_w(float(flow.sum()), area, containment=containment))
        assert fac._air_handling_w(flow) == want


def test_unchanged_samples_added_once_give_the_histograms_of_one_add_per_step(monkeypatch):
    """Steps whose GPU samples did not change are added once, with their summed weight.

    Whole-second weights keep every count a whole number, so the histograms are bit for bit
    those of one add per step (forced here by an exactness bound of 0); and fewer adds ran.
    """
    from kiban.physics import activity  # noqa: PLC0415
    from kiban.sim import coupled  # noqa: PLC0415

    adds = [0]
    add = activity.WeightedHistogram.add

    def counting_add(self, values, weights):
        adds[0] += 1
        add(self, values, weights)

    monkeypatch.setattr(activity.WeightedHistogram, "add", counting_add)
    _, held = _run()
    held_adds, adds[0] = adds[0], 0
    monkeypatch.setattr(coupled, "_EXACT_WHOLE", 0.0)
    _, each = _run()
    assert held_adds < adds[0] / 2
    for name in ("power_hist", "die_hist", "activity_hist"):
        assert getattr(held, name)._counts.tobytes() == getattr(each, name)._counts.tobytes()
    assert held.summary() == each.summary()
