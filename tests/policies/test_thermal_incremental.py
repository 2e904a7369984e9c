"""XInt's room prediction for every candidate rack at once against one full prediction each.

:meth:`FacilityModel.predict_inlets_adding_c` answers XInt's question (Tang, Gupta,
Varsamopoulos, IEEE TPDS 19(11), 2008: the rack whose added power raises the peak inlet least)
with Tang's superposition ``T_room + D·p`` plus one column of D per candidate, where a
no-deficit certificate makes that :meth:`FacilityModel.predict_room`'s own fixed point, and with
the full prediction elsewhere. Nothing is linearized, so the tolerance is rounding only: the
sum ``D·p`` is taken in another order (1e-9 K, against inlets of 20–60 °C).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from tests.sim.helpers import jobs, layout

from kiban.policies.base import PolicyContext
from kiban.policies.facility_model import FacilityModel
from kiban.policies.layered import LayeredPolicy
from kiban.policies.scheduling import Fifo
from kiban.policies.thermal_placement import XInt
from kiban.sim import Simulator
from kiban.sim.coupled import hall_air_for
from kiban.sim.scenario import (
    inputs_from_scenario,
    jobs_from_scenario,
    time_of_year_s,
    workload_rng,
)
from kiban.spec import load_spec

TOL_K = 1e-9
"""Rounding of ``D·p`` summed in another order (K)."""
COOPT = Path(__file__).resolve().parents[2] / "examples" / "sweeps" / "coopt"


def _model(rng: np.random.Generator, airflow_m3_per_s: float) -> FacilityModel:
    """Eight racks of two DGX H100 in two rows, a random recirculation matrix, three units."""
    n = 8
    d = rng.uniform(0.0, 4e-5, (n, n))  # K/W: up to ~1 K per 25 kW rack per pair
    lay = layout(n_racks=n, servers_per_rack=2, racks_per_row=4, heat_distribution_k_per_w=d)
    hall = hall_air_for(lay, supply_temp_c=20.0, n_units=3, unit_airflow_m3_per_s=airflow_m3_per_s)
    ctx = PolicyContext(
        layout=lay,
        jobs=jobs([(0.0, 1.0, 1)]),
        rng=np.random.default_rng(0),
        checkpoint_write_s=np.zeros(1),
        hall_air=hall,
    )
    return FacilityModel(ctx)


@pytest.mark.parametrize("airflow_m3_per_s", [1.3, 2.5, 3.0])
def test_every_candidate_equals_its_full_prediction_on_random_states(airflow_m3_per_s):
    """Random rack power, measured inlets, set-points, units down and job sizes: each row (and
    its peak) equals ``predict_room`` with the power added to that rack, within 1e-9 K. The
    three airflows give rooms with a deficit at most loads, at some, and at few (units down),
    and the test checks that all three ways (one bound, per candidate, full prediction) ran."""
    rng = np.random.default_rng(15)
    counts = np.zeros(3, dtype=np.int64)
    for _ in range(3):
        m = _model(rng, airflow_m3_per_s)
        n = m.layout.n_racks
        for _ in range(40):
            p = m.rack_max_w * rng.uniform(0.0, 0.9, n)
            sp = float(rng.uniform(16.0, 24.0))
            failed = rng.random(3) < 0.2 if rng.random() < 0.4 else None
            now = sp + rng.uniform(0.0, 6.0, n) if rng.random() < 0.5 else None
            sup_now = sp + float(rng.uniform(-1.0, 1.0)) if now is not None else None
            racks = np.sort(rng.choice(n, size=int(rng.integers(1, n + 1)), replace=False))
            add_w = float(rng.uniform(0.0, 0.3)) * float(m.rack_max_w.max())
            room = {"units_failed": failed, "inlet_now_c": now, "supply_now_c": sup_now}
            got = m.predict_inlets_adding_c(sp, p, racks, add_w, **room)
            peak = m.peak_inlet_adding_c(sp, p, racks, add_w, **room)
            for k, r in enumerate(racks.tolist()):
                q = p.copy()
                q[r] += add_w
                want = m.predict_room(sp, q, failed, now, sup_now).inlet_c
                np.testing.assert_allclose(got[k], want, rtol=0.0, atol=TOL_K)
                assert peak[k] == pytest.approx(float(want.max()), abs=TOL_K)
        counts += np.asarray(m.adding_counts)
    assert (counts > 0).sum() >= 2  # the certificate and the fallbacks were both exercised
    if airflow_m3_per_s == 2.5:
        assert (counts > 0).all(), counts


def test_tangs_peak_equals_the_whole_array():
    """In Tang's linear room the pruned peak is the maximum over every inlet, exactly."""
    rng = np.random.default_rng(3)
    m = _model(rng, 2.0)
    for _ in range(50):
        p = m.rack_max_w * rng.uniform(0.0, 1.0, m.layout.n_racks)
        racks = np.arange(m.layout.n_racks)
        add_w = float(rng.uniform(0.0, 20_000.0))
        full = (m.inlet_rise_k(p)[:, None] + m.d_k_per_w * m.rack_air_frac * add_w).max(axis=0)
        np.testing.assert_array_equal(m.peak_rise_adding_k(p, racks, add_w), full)


class _XIntReference(XInt):
    """XInt as it was: one full room prediction per candidate rack."""

    def _rack_score(self, p_w, add_w, racks):
        m = self.model
        if m.room_is_linear(self._failed):
            return super()._rack_score(p_w, add_w, racks)
        room = (self._failed, self._inlet_now, self._supply_now_c)
        lost = self._lost
        keep = ~lost if not lost.all() else np.ones_like(lost)
        before = m.predict_room(self._setpoint_c, p_w, *room).inlet_c if lost.any() else None
        out = np.empty(racks.shape[0])
        for k, r in enumerate(racks.tolist()):
            p = p_w.copy()
            p[r] += add_w
            inlet = m.predict_room(self._setpoint_c, p, *room).inlet_c
            out[k] = float(inlet[keep].max())
            if before is not None:
                out[k] += 1000.0 * max(float((inlet - before)[lost].max()) - 0.1, 0.0)
        return out


@pytest.mark.parametrize("scenario", ["recirculation", "crac-failure"])
def test_placements_equal_one_prediction_per_candidate(scenario):
    """A coupled day of the ablation's recirculation and CRAC-failure rooms under FIFO + XInt:
    the same starts, ends and rack power as with one full prediction per candidate rack."""
    sc = load_spec(COOPT / f"{scenario}.toml")
    table, origin, *_ = jobs_from_scenario(sc, workload_rng(1))
    inp = inputs_from_scenario(
        sc, seed=1, until_s=43_200.0, start_time_of_year_s=time_of_year_s(origin)
    )
    settings = dataclasses.replace(inp.settings, locality="node")
    outs = []
    for place in (XInt(), _XIntReference()):
        pol = LayeredPolicy("xint", scheduling=Fifo(), placement=place)
        inp2 = inputs_from_scenario(
            sc, seed=1, until_s=43_200.0, start_time_of_year_s=time_of_year_s(origin)
        )
        outs.append(
            Simulator(inp.layout, table, pol, settings=settings, facility=inp2.facility).run()
        )
    new, ref = outs
    assert np.isfinite(ref.job["first_start_s"]).sum() > 10
    np.testing.assert_array_equal(new.job["first_start_s"], ref.job["first_start_s"])
    np.testing.assert_array_equal(new.job["end_s"], ref.job["end_s"])
    np.testing.assert_array_equal(new.log["it_power_w"], ref.log["it_power_w"])
