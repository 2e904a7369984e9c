"""The simulator's components: a facility called during the run, and per-GPU observables that
policies and facilities read (issue 9: ground for the coupled twin)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.sim.helpers import jobs, layout

from kiban.ledger import Ledger
from kiban.policies.base import Decision
from kiban.policies.registry import make_policy
from kiban.sim import SimpleFacility, SimSettings, Simulator
from kiban.sim.facility_loop import FacilityEffect, InLoopFacility
from kiban.vocabulary import GPU_FREE


class HotAfternoon:
    """A plant that loses its cooling at ``fail_s``: supply rises to ``hot_c`` from then on."""

    def __init__(self, step_s=600.0, fail_s=1200.0, hot_c=50.0):
        self.step_s = step_s
        self.fail_s = fail_s
        self.hot_c = hot_c
        self.steps: list[float] = []
        self.settles = 0
        self.started = False
        self._plant = SimpleFacility()

    def start(self, view):
        self.started = True
        return None

    def at_settle(self, view):
        self.settles += 1
        return None

    def at_step(self, view):
        self.steps.append(view.time_s)
        if view.time_s >= self.fail_s and view.supply_temp_c != self.hot_c:
            return FacilityEffect(supply_temp_c=self.hot_c)
        return None

    def power_w(self, it_power_w, time_s, supply_temp_c):
        return self._plant.power_w(it_power_w, time_s, supply_temp_c)


def _run(facility, **settings):
    table = jobs([(0, 7200, 8), (0, 7200, 8)], activity_frac=[1.0, 1.0])
    merged = {"failures": False, **settings}
    sim = Simulator(
        layout(servers_per_rack=2),
        table,
        make_policy("policy", "fifo-static"),
        settings=SimSettings(**merged),
        facility=facility,
    )
    return sim, sim.run()


def test_an_in_loop_facility_is_called_during_the_run_and_its_heat_reaches_the_chips():
    fac = HotAfternoon()
    assert isinstance(fac, InLoopFacility)
    _, out = _run(fac)
    assert fac.started
    assert fac.settles > 0
    assert fac.steps[:3] == [600.0, 1200.0, 1800.0]
    # 50 °C supply from t = 1200 s: the busy H100s reach their slowdown temperature
    assert out.counters["throttle_onsets"] == 2
    assert out.ledger_gpu_s["thermal_throttle"] > 0
    supply = out.log["supply_temp_c"]
    t = out.log["time_s"]
    assert supply[t < 1200].max() == 20.0
    assert supply[t >= 1200].min() == 50.0
    Ledger.from_run(out).check()


def test_a_post_run_facility_adds_no_event():
    _, out = _run(SimpleFacility())
    assert out.counters["throttle_onsets"] == 0
    assert out.job["end_s"].tolist() == [7200.0, 7200.0]
    assert not isinstance(SimpleFacility(), InLoopFacility)


class Watcher:
    """FIFO that also keeps what the view says about every GPU at each call."""

    name = "watcher"
    preemptive = False
    epoch_s = 300.0

    def __init__(self):
        self.inner = make_policy("policy", "fifo-static")
        self.seen = []

    def reset(self, ctx):
        self.inner.reset(ctx)

    def decide(self, view):
        snap = view.gpu_snapshot()
        self.seen.append((view.time_s, snap, view.gpu_power_w().copy(), view.gpu_job.copy()))
        return self.inner.decide(view)


def test_observables_follow_the_jobs_and_the_physics():
    """Allocated GPUs draw their job's per-GPU power and are busy; free GPUs idle; die
    temperature is inlet + R·P; the snapshot and the array accessors agree."""
    lay = layout(servers_per_rack=2)
    sku = lay.skus[0]
    table = jobs([(0, 3600, 8)], activity_frac=[0.8], compute_bound_frac=[1.0])
    pol = Watcher()
    sim = Simulator(lay, table, pol, settings=SimSettings(failures=False))
    sim.run()
    _, snap, power, holder = next(x for x in pol.seen if x[0] >= 600.0)
    held = holder >= 0
    assert held.sum() == 8
    assert np.array_equal(snap.power_w, power)
    assert np.all(snap.activity_frac[held] == 1.0)
    assert np.all(snap.activity_frac[~held] == 0.0)
    assert np.all(snap.power_w[~held] == sku.idle_empty_power_w)
    assert np.all(snap.power_w[held] > 0.5 * sku.tdp_w)
    inlet = lay.supply_temp_c  # no recirculation matrix: inlet = supply
    assert snap.die_temp_c == pytest.approx(inlet + sku.die_to_inlet_k_per_w * snap.power_w)
    assert np.all(snap.clock_frac == 1.0)
    assert np.all(snap.clock_event_reasons[~held] == 1)  # GPU_IDLE
    assert np.all(snap.clock_event_reasons[held] == 0)
    assert np.all(snap.shares[held, 0] == 1.0)  # all productive
    assert np.all(holder[~held] == GPU_FREE)


def test_a_capped_job_reports_its_clock_and_the_power_cap_reason():
    lay = layout()
    sku = lay.skus[0]

    class Capped(Watcher):
        def decide(self, view):
            d = super().decide(view)
            return Decision(start=d.start, power_cap_w={0: 0.5 * sku.tdp_w}) if d.start else d

    pol = Capped()
    Simulator(
        lay, jobs([(0, 3600, 8)], activity_frac=[1.0]), pol, settings=SimSettings(failures=False)
    ).run()
    _, snap, _, holder = next(x for x in pol.seen if x[0] >= 600.0)
    held = holder >= 0
    assert np.all(snap.clock_frac[held] < 1.0)
    assert np.all(snap.clock_event_reasons[held] & 0x4)  # SW_POWER_CAP
    assert np.all(snap.power_w[held] <= 0.5 * sku.tdp_w + 1e-9)
    assert np.all(snap.shares[held, 3] > 0)  # power_cap share
