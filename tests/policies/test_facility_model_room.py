"""The policies' facility model against the coupled twin, and the layers that use it (issue 12).

The twin (:mod:`kiban.sim.coupled`) steps the room of :mod:`kiban.physics.facility_dynamics`:
working CRAH units' capacity and air, server fans that speed up with load and inlet
(:func:`kiban.physics.server_power.fan_speed_frac`: DGX H100 1105 CFM at 80 % PWM, full speed
at its 30 °C allowed inlet, physics.md §1.2 and §3.5), the aisle's airflow deficit and the
exhaust it pulls into the inlets. :meth:`FacilityModel.predict_room` is the steady state of the
same equations; these tests hold it to what the twin does on the ablation's rooms.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from tests.sim.helpers import jobs, layout

from kiban.metrics import summarize
from kiban.policies.base import PolicyContext
from kiban.policies.cooling import FixedSetpoint
from kiban.policies.facility_model import FacilityModel
from kiban.policies.joint import CooptLayers
from kiban.policies.layered import LayeredPolicy
from kiban.policies.placement import BestFit
from kiban.policies.scheduling import EasyBackfill
from kiban.sim import SimpleFacility, SimSettings, Simulator
from kiban.sim.coupled import CoupledFacility, hall_air_for
from kiban.sim.scenario import (
    inputs_from_scenario,
    jobs_from_scenario,
    time_of_year_s,
    workload_rng,
)
from kiban.spec import load_spec

COOPT = Path(__file__).resolve().parents[2] / "examples" / "sweeps" / "coopt"
DGX_H100_MAX_INLET_C = 30.0
"""DGX H100 allowed inlet 5–30 °C (NVIDIA DGX H100/H200 User Guide; physics.md §1.2)."""


def _run(name: str, policy: object, *, until_s: float = 86400.0, seed: int = 1):
    sc = load_spec(COOPT / f"{name}.toml")
    jobs, origin, *_ = jobs_from_scenario(sc, workload_rng(seed))
    inp = inputs_from_scenario(
        sc, seed=seed, until_s=until_s, start_time_of_year_s=time_of_year_s(origin)
    )
    settings = dataclasses.replace(inp.settings, locality="node")
    return Simulator(inp.layout, jobs, policy, settings=settings, facility=inp.facility).run()


class _Probe(FixedSetpoint):
    """A fixed set-point that records, every call, the model's hottest inlet and the twin's."""

    def reset(self, ctx):
        super().reset(ctx)
        self.model = FacilityModel(ctx)
        self.rows: list[tuple[float, float, float]] = []

    def supply_temp_c(self, view):
        out = super().supply_temp_c(view)
        power = np.asarray(view.rack_power_w)
        room = self.model.predict_room(
            view.supply_setpoint_c,
            power,
            view.cooling_units_failed,
            view.rack_inlet_temp_c,
            view.supply_temp_c,
        )
        tang = self.model.inlet_temp_c(view.supply_setpoint_c, power)
        self.rows.append(
            (float(room.inlet_c.max()), float(tang.max()), float(np.max(view.rack_inlet_temp_c)))
        )
        return out


@pytest.mark.parametrize(
    ("scenario", "supply_c"),
    [("recirculation", 24.0), ("recirculation", 26.0), ("crac-failure", 22.0)],
)
def test_model_predicts_the_twins_hottest_inlet(scenario, supply_c):
    """coopt/recirculation.toml (open aisles, 3.5 m³/s of CRAC air for 4.17 m³/s of rated DGX
    H100 airflow), seed 1, one day, EASY + best fit, the supply held at 24 °C (the scenario's)
    and 26 °C (where session 5's model-based layer put it and the twin ran away to 47 °C); and
    coopt/crac-failure.toml at its 22 °C, where one of two CRAH units fails at 12 h (the model
    sees the alarm in the view) and the twin runs away to ≈ 88 °C.

    Every 300 s the model predicts the hottest inlet from the rack power, set-point and inlets
    measured now; tolerance: the run maximum within 0.5 K of the twin's, and 90 % of the
    predictions within 0.5 K of the inlet measured at the same time (the rest: the few steps
    the twin takes to run away after a load change, which the model predicts ahead). Tang's
    eq. 6 on the layout's D alone misses the runaway by ≈ 21 K at 26 °C."""
    probe = _Probe(FixedSetpoint.Params(supply_temp_c=supply_c))
    policy = LayeredPolicy(
        "probe", scheduling=EasyBackfill(), placement=BestFit(), cooling=probe, epoch_s=300.0
    )
    _run(scenario, policy)
    rows = np.asarray(probe.rows)
    model, tang, twin = rows[:, 0], rows[:, 1], rows[:, 2]
    assert rows.shape[0] > 200
    assert abs(model.max() - twin.max()) <= 0.5
    assert np.quantile(np.abs(model - twin), 0.9) <= 0.5
    if scenario == "recirculation" and supply_c == 26.0:  # a runaway Tang's model cannot see
        assert twin.max() > 40.0
        assert twin.max() - tang.max() > 15.0


def test_model_based_cooling_keeps_the_recirculation_room_at_the_redline():
    """Session 5: the model-based layer raised the supply to 26 °C and the hottest inlet went
    26 → 47 °C with more facility energy. With the room model it holds every inlet at the
    27 °C redline less its 0.5 K margin (tolerance 0.05 K: one facility step of lag) and uses
    less facility energy than the fixed 24 °C supply of the static configuration."""
    off = CooptLayers(
        CooptLayers.Params(order=False, thermal=False, power=False, data=False, cooling=False)
    )
    on = CooptLayers(
        CooptLayers.Params(order=False, thermal=False, power=False, data=False, cooling=True)
    )
    base = summarize(_run("recirculation", off))
    cool = summarize(_run("recirculation", on))
    assert base["max_inlet_temp_c"] <= 26.5  # the static room is within the redline too
    assert cool["max_inlet_temp_c"] <= 26.5 + 0.05
    assert cool["facility_energy_kwh"] < base["facility_energy_kwh"]


def _fixed(supply_c: float | None) -> LayeredPolicy:
    return LayeredPolicy(
        "fixed",
        scheduling=EasyBackfill(),
        placement=BestFit(),
        cooling=FixedSetpoint(FixedSetpoint.Params(supply_temp_c=supply_c)),
    )


def test_a_warmer_set_point_reaches_the_plant_energy_in_the_hot_season():
    """coopt/hot-season.toml (Dallas–Fort Worth, 3 August: tower water ≈ 27 °C, water-cooled
    chiller, 6 K coil approach). Session 5: PUE 1.341 with and without the cooling layer,
    because the EnergyPlus chiller curve was clipped flat for chilled water above ≈ 15 °C.
    Held at 25 °C instead of the scenario's 22 °C for 6 h (same jobs, same IT work), the plant
    must use less energy; by the Carnot extrapolation beyond the curve's edge the chiller saves
    ≈ 5 %/K of its power (field guidance 2–4 %/K), so the whole plant saves between 1 % and 30 %
    (measured: 14 %)."""
    base = _run("hot-season", _fixed(None), until_s=6 * 3600.0)
    warm = _run("hot-season", _fixed(25.0), until_s=6 * 3600.0)
    assert float(np.max(warm.log["supply_temp_c"])) == pytest.approx(25.0)
    e_base = float(summarize(base)["cooling_energy_kwh"])
    e_warm = float(summarize(warm)["cooling_energy_kwh"])
    assert 0.70 * e_base < e_warm < 0.99 * e_base


def test_the_room_follows_the_policys_set_point_when_the_cooling_falls_short():
    """Two racks of four DGX H100, every GPU busy for 4 h, three CRAH units of 10 m³/s whose
    coils (10 kW each, 30 kW) cannot take the ≈ 40 kW of heat. The room air settles at the
    set-point plus the shortfall over the coil conductance, ``T_set + Q_short/G``
    (facility_dynamics.room_step, Khankari 2011); the set-point is the policy's: held at 18 °C
    instead of the layout's 22 °C, the supply air over the last hour is 4 K cooler (tolerance
    0.3 K: the heat differs a little with the inlets) and the room is above its set-point in
    both. Before, the twin's room relaxed to the layout's 22 °C whatever the policy asked."""
    lay = layout(n_racks=2, servers_per_rack=4, supply_temp_c=22.0)
    table = jobs([(0.0, 5 * 3600.0, 8)] * 8)

    def run_at(supply_c: float | None):
        fac = CoupledFacility(
            SimpleFacility(),
            lay,
            hall_air_for(lay, supply_temp_c=22.0, n_units=3, unit_capacity_w=10_000.0),
        )
        settings = SimSettings(failures=False, gpu_activity=False, seed=3, until_s=4 * 3600.0)
        return Simulator(lay, table, _fixed(supply_c), settings=settings, facility=fac).run()

    def last_hour(out) -> float:
        t = out.log["time_s"]
        return float(np.mean(out.log["supply_temp_c"][t > 3 * 3600.0]))

    base, cold = run_at(None), run_at(18.0)
    assert last_hour(base) > 22.5
    assert last_hour(cold) > 18.5
    assert last_hour(base) - last_hour(cold) == pytest.approx(4.0, abs=0.3)


class _Alarms(FixedSetpoint):
    """Records the CRAH alarms the view shows at each call (keeps the scenario's set-point)."""

    def __init__(self) -> None:
        super().__init__()
        self.noop = False

    def reset(self, ctx):
        super().reset(ctx)
        self.seen: list[tuple[float, bool]] = []

    def supply_temp_c(self, view):
        failed = view.cooling_units_failed
        self.seen.append((view.time_s, bool(failed is not None and failed[0])))
        return super().supply_temp_c(view)


def test_the_layers_respond_to_a_crah_failure():
    """coopt/crac-failure.toml, seed 1, to 15 h: one of the two CRAH units (2.5 m³/s each for
    8 DGX H100 that move 4.17 m³/s at their rated fan speed) fails at 12 h.

    The view shows the alarm from 12 h on (and the policy is called at it). The static
    configuration runs away (hottest inlet far above the DGX H100's allowed 30 °C, nodes shut
    down). With the thermal, power and cooling layers on the facility model, the cooling layer
    lowers the set-point, the power layer caps the GPUs in the aisles that would exceed 30 °C
    and placement holds back work the room cannot cool: every inlet stays within the allowed
    30 °C (tolerance 0.5 K: the twin's 300 s steps) and no node shuts down."""
    alarms = _Alarms()
    static = LayeredPolicy(
        "static", scheduling=EasyBackfill(), placement=BestFit(), cooling=alarms, epoch_s=300.0
    )
    base = summarize(_run("crac-failure", static, until_s=15 * 3600.0))
    seen = np.asarray(alarms.seen)
    assert not seen[seen[:, 0] < 12 * 3600.0, 1].any()
    assert seen[seen[:, 0] >= 12 * 3600.0, 1].all()
    assert 12 * 3600.0 in seen[:, 0]  # called at the alarm itself
    assert base["max_inlet_temp_c"] > 40.0
    assert base["thermal_shutdowns"] >= 1
    layers = CooptLayers(
        CooptLayers.Params(order=False, thermal=True, power=True, data=False, cooling=True)
    )
    out = _run("crac-failure", layers, until_s=15 * 3600.0)
    resp = summarize(out)
    assert resp["max_inlet_temp_c"] <= DGX_H100_MAX_INLET_C + 0.5
    assert resp["thermal_shutdowns"] == 0
    t = out.log["time_s"]
    assert float(np.min(out.log["supply_temp_c"][t > 12 * 3600.0])) < float(
        np.min(out.log["supply_temp_c"][t < 12 * 3600.0])
    )


def test_in_a_room_with_spare_air_the_model_is_tangs():
    """Two racks of four DGX H100 (5.2 m³/s at full fan speed, 82 kW at most) under three CRAH
    units of 2.5 m³/s (6.4 m³/s after 15 % bypass; coils 36 kW each at a 12 K drop): no deficit
    or shortfall can arise, the room is
    ``room_is_linear`` and ``predict_room`` equals Tang's ``T_sup + D·p`` exactly at any load; with
    two units down the units no longer out-supply full fan speed and it is not."""
    lay = layout(n_racks=2, servers_per_rack=4, supply_temp_c=22.0)
    hall = hall_air_for(lay, supply_temp_c=22.0, n_units=3, unit_airflow_m3_per_s=2.5)
    ctx = PolicyContext(
        layout=lay,
        jobs=jobs([(0.0, 1.0, 1)]),
        rng=np.random.default_rng(0),
        checkpoint_write_s=np.zeros(1),
        hall_air=hall,
    )
    m = FacilityModel(ctx)
    assert m.room_is_linear()
    for load in (0.0, 0.5, 1.0):
        p = m.rack_max_w * load
        np.testing.assert_allclose(m.predict_room(24.0, p).inlet_c, m.inlet_temp_c(24.0, p))
    assert not m.room_is_linear(np.array([True, True, False]))
