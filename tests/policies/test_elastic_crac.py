"""The elastic layer (Sia) with the thermal and power layers after a CRAH failure.

coopt/crac-failure.toml: 8 DGX H100 under two CRAH units of 2.5 m³/s (the servers move
4.17 m³/s at rated fan speed, physics.md §1.2); unit 0 fails at 12 h and stays failed; half the
jobs are elastic (1–64 GPUs, Pollux goodput profiles).
"""

from __future__ import annotations

import numpy as np
from _crac_run import FAILURE_S, run_crac_failure
from tests.sim.helpers import jobs, layout

from kiban.metrics import summarize
from kiban.physics.server_power import server_power_w
from kiban.policies.base import PolicyContext
from kiban.policies.facility_model import FacilityModel
from kiban.policies.joint import CooptLayers

REDLINE_C = 27.0
"""The co-optimizer's redline: ASHRAE's recommended envelope's upper end (A1–A4 recommended
18–27 °C, ASHRAE TC 9.9 2021; ``kiban.policies.facility_model.DEFAULT_REDLINE_C``)."""


def test_the_elastic_stack_holds_the_room_after_a_crah_failure():
    """Seed 2 to 14 h, the sequential stack with the elastic layer (the ablation's settings).

    Before: Sia restarted, every 60 s round, the jobs the power layer's thermal net suspended
    (it did not see the shed set), elastic jobs were placed by best fit past thermal
    placement's hold-back, and the room models counted a starting GPU's board power only
    (a DGX H100 GPU at 600 W adds about 810 W at the wall: host, fans, PSU): the room ran away
    at 13.1 h (hottest inlet 43.6 °C by 14 h, 74.3 °C over the day, 6,008 preemptions). Now
    every inlet after the failure stays within the redline + 0.5 K (the twin's 300 s steps;
    J-DEC's test measures the same margin), Sia's rounds are limited to what the room can
    cool, and the hall still works (at least a third of the GPU-hours of the three hours
    before the failure; measured: about two thirds).
    """
    pol = CooptLayers(CooptLayers.Params(order=False, elastic=True, queue_order="arrival"))
    out = run_crac_failure(pol, seed=2, until_s=14 * 3600.0)
    t = out.log["time_s"]
    after = t >= FAILURE_S + 600.0  # the alarm's own step: the room as the failure left it
    assert float(out.log["max_inlet_temp_c"][after].max()) <= REDLINE_C + 0.5
    assert summarize(out)["thermal_shutdowns"] == 0
    assert pol.scheduling.stats.room_limited > 0  # type: ignore[attr-defined]
    busy = out.log["productive_gpus"]
    dt = np.diff(t, append=t[-1])
    work_after = float((busy * dt)[t >= FAILURE_S].sum()) / 2.0  # per hour, 2 h
    work_before = float((busy * dt)[(t >= FAILURE_S - 3 * 3600.0) & (t < FAILURE_S)].sum()) / 3.0
    assert work_after >= work_before / 3.0


def test_a_busy_gpu_adds_its_servers_wall_power():
    """``busy_gpu_wall_w`` is the server physics' wall power of a busy GPU over an idle one.

    DGX H100 (kiban.catalog: 10.2 kW max, PSU 96 %, host 1,688–3,376 W; physics.md §1.2): the
    server with all 8 GPUs at ``P`` and full host load less the idle server (GPUs at idle,
    no host load), per GPU, at 22 °C inlet (fans below their temperature ramp): within 1 %
    (the model's slope is one secant over the board power range; the fans' cube law bends
    it). At 600 W board power it is about 810 W at the wall.
    """
    lay = layout(n_racks=1, servers_per_rack=1, supply_temp_c=22.0)
    ctx = PolicyContext(
        layout=lay,
        jobs=jobs([(0.0, 1.0, 8)]),
        rng=np.random.default_rng(0),
        checkpoint_write_s=np.zeros(1),
    )
    m = FacilityModel(ctx)
    server, sku = lay.servers[0], lay.skus[0]
    idle = float(server_power_w(8 * sku.idle_empty_power_w, 0.0, 22.0, server, sku))
    for p_w in (200.0, 400.0, 600.0, 700.0):
        want = (float(server_power_w(8 * p_w, 1.0, 22.0, server, sku)) - idle) / 8.0
        got = float(m.busy_gpu_wall_w(np.array([0]), np.array([p_w]))[0])
        assert abs(got - want) <= 0.01 * want, (p_w, got, want)
    assert 780.0 < float(m.busy_gpu_wall_w(np.array([0]), np.array([600.0]))[0]) < 850.0
