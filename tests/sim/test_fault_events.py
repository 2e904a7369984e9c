"""Faults as events (issue 10 item 5): a feed loss, a CDU failure and a server-fan failure
injected at a time; the consequences follow from the physics and nothing leaves the ledger."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tests.sim.helpers import jobs, layout

from kiban.catalog import default_catalog
from kiban.ledger import Ledger
from kiban.policies.registry import make_policy
from kiban.sim import SimpleFacility, SimSettings, Simulator, uniform_layout
from kiban.sim.coupled import CoupledFacility, FaultEvent, cdu_coolant_step_c, hall_air_for


def _sim(lay, table, faults, record_gpus=False, **fac_kw):
    fac = CoupledFacility(
        SimpleFacility(),
        lay,
        hall_air_for(lay, supply_temp_c=float(lay.supply_temp_c)),
        faults=tuple(faults),
        **fac_kw,
    )
    sim = Simulator(
        lay,
        table,
        make_policy("policy", "fifo-static"),
        settings=SimSettings(failures=False, gpu_activity=False, seed=3, record_gpus=record_gpus),
        facility=fac,
    )
    out = sim.run()
    Ledger.from_run(out).check(rel_tol=1e-9)
    return out


def test_feed_loss_takes_the_rack_down_and_its_jobs_restart():
    """One feed per rack: rack 0 loses it at 1.25 h for 2 h. Its four 8-GPU jobs lose the work
    since their last checkpoint (at 1 h: 15 min each) and restart at once on rack 1; rack 0's 32
    GPUs are down (failure bucket) for the 2 h."""
    lay = layout(n_racks=2, servers_per_rack=4, supply_temp_c=22.0)
    table = jobs([(0.0, 4 * 3600.0, 8)] * 4, checkpoint_interval_s=np.full(4, 1800.0))
    ok = _sim(lay, table, [])
    out = _sim(lay, table, [FaultEvent("feed", 4500.0, 4500.0 + 7200.0, rack=0)])
    assert ok.counters["restarts"] == 0
    assert out.counters["restarts"] == 4
    # down GPUs 32 × 7200 s, plus the lost work 32 × 900 s, plus the restore phase (≤ 10 min)
    down = 32 * 7200.0
    lost = 32 * 900.0
    assert down + lost <= out.ledger_gpu_s["failure"] <= down + lost + 32 * 600.0
    assert out.coupling["feed_down_rack_s"] == pytest.approx(7200.0)
    late_s = out.job["end_s"] - ok.job["end_s"]
    assert (late_s >= 900.0).all()
    assert (late_s <= 900.0 + 600.0).all()


def test_two_feeds_ride_through_one_feed_loss():
    lay = layout(n_racks=2, servers_per_rack=4, supply_temp_c=22.0)
    table = jobs([(0.0, 4 * 3600.0, 8)] * 4)
    out = _sim(lay, table, [FaultEvent("feed", 3600.0, math.inf, rack=0)], rack_feeds=2)
    assert out.counters["restarts"] == 0
    assert out.ledger_gpu_s["failure"] == 0.0


def test_cdu_loop_heats_at_q_over_c_without_its_cdu():
    """Lumped loop: with no UA the coolant rises at Q/C; with UA it settles at T_w + Q/UA."""
    c = 4186.0 * 1000.0
    assert cdu_coolant_step_c(
        30.0, 500e3, 60.0, water_c=25.0, ua_w_per_k=0.0, capacity_j_per_k=c
    ) == (pytest.approx(30.0 + 500e3 * 60.0 / c))
    steady = cdu_coolant_step_c(
        30.0, 500e3, 1e6, water_c=25.0, ua_w_per_k=100e3, capacity_j_per_k=c
    )
    assert steady == pytest.approx(25.0 + 5.0)


def test_cdu_failure_shuts_the_liquid_cooled_gpus_down_until_repaired():
    """A GB200 NVL72 rack (85 % of its heat to liquid) loses its CDU from 1 h to 2 h: with no
    heat exchange the coolant warms at Q/C (≈ 100 kW into a 1 L/kW loop: ≈ 0.2 K/s), past the
    GPUs' shutdown temperature within a 5-minute facility step, so the rack's GPUs turn off
    (the node fails, its job goes back to its last checkpoint) and boot again when the CDU is
    repaired; the job then finishes."""
    cat = default_catalog()
    server = cat.server("gb200-nvl72")
    sku = cat.gpu(server.gpu)
    lay = uniform_layout(
        server,
        sku,
        n_racks=1,
        servers_per_rack=1,
        supply_temp_c=25.0,
        liquid_capture_frac=server.liquid_capture_frac,
    )
    table = jobs([(0.0, 4 * 3600.0, 72)], activity_frac=np.full(1, 1.0))
    ok = _sim(lay, table, [])
    hot = _sim(lay, table, [FaultEvent("cdu", 3600.0, 7200.0)])
    assert ok.counters["throttle_onsets"] == 0
    assert ok.counters["thermal_shutdowns"] == 0
    assert hot.coupling["max_liquid_supply_temp_c"] > float(lay.liquid_supply_temp_c) + 10.0
    assert hot.counters["thermal_shutdowns"] == 1
    assert hot.counters["restarts"] == 1
    assert hot.ledger_gpu_s["failure"] > 72 * 3600.0  # down until 2 h, plus the lost work
    assert hot.job["end_s"][0] > ok.job["end_s"][0] + 3600.0


def test_server_fan_failure_throttles_only_its_rack():
    """Rack 1's server fans lose 75 % of their airflow: its chips run hotter (R ∝ V̇^−0.8) and
    throttle at a 30 °C supply, rack 0 does not."""
    lay = layout(n_racks=2, servers_per_rack=2, supply_temp_c=30.0)
    table = jobs([(0.0, 2 * 3600.0, 8)] * 4, activity_frac=np.full(4, 1.0))
    out = _sim(lay, table, [FaultEvent("gpu_fan", 600.0, math.inf, rack=1, fraction_lost=0.75)])
    thr = out.job["throttle_s"]
    rack_of_job = np.array([0, 0, 1, 1])  # fifo-static packs in order
    assert (thr[rack_of_job == 1] > 0.0).all()
    assert (thr[rack_of_job == 0] == 0.0).all()


def test_scenario_faults_reach_the_run(tmp_path):
    """``[[faults]]`` in a scenario file: the tokyo room is 2N (two feeds per rack); losing feed
    A of R01 at 1 h leaves R01's DGX H100 on 3 of 6 PSUs (9.9 kW < 10.2 kW): power brake, the
    jobs run at 1/(0.1 + 0.9/0.5) of their speed; losing feed B too at 2 h takes R01's two DGX
    down until feed A returns at 3 h."""
    from tests.conftest import REPO_ROOT  # noqa: PLC0415

    from kiban.sim.scenario import inputs_from_scenario  # noqa: PLC0415
    from kiban.spec import load_spec  # noqa: PLC0415

    text = (REPO_ROOT / "examples" / "tokyo-air-dgx-h100.toml").read_text(encoding="utf-8")
    text += (
        '\n[[faults]]\nkind = "feed"\ntarget = "R01"\nat_s = 3600.0\nduration_s = 7200.0\n'
        '\n[[faults]]\nkind = "feed"\ntarget = "R01"\nat_s = 7200.0\n'
    )
    path = tmp_path / "tokyo-faults.toml"
    path.write_text(text, encoding="utf-8")
    inputs = inputs_from_scenario(load_spec(path), failures=False)
    sim = Simulator(
        inputs.layout,
        jobs([(0.0, 5 * 3600.0, 8)] * 2),
        make_policy("policy", "fifo-static"),
        settings=SimSettings(failures=False, gpu_activity=False, seed=1),
        facility=inputs.facility,
    )
    out = sim.run()
    Ledger.from_run(out).check(rel_tol=1e-9)
    assert out.counters["restarts"] == 2  # both jobs started on R01's two nodes
    assert out.coupling["feed_down_rack_s"] == pytest.approx(3600.0)
    # 16 GPUs down from 2 h to 3 h, plus the restarted jobs' lost work (no checkpoints: 1 h at
    # full speed and 1 h braked each) and their restore phases
    braked = 1.0 / (0.1 + 0.9 / 0.5)
    assert out.ledger_gpu_s["failure"] >= 16 * 3600.0 + 16 * 3600.0 * (1.0 + braked) - 1e-6
    assert out.ledger_gpu_s["power_cap"] == pytest.approx(16 * 3600.0 * (1.0 - braked))


def test_budget_caps_and_faults_leave_nothing_out_of_the_ledger():
    """Budget capping, a feed loss, a CRAH failure and random node failures at once, with the
    GPU activity process: the ledger sums to capacity (1e-9) and the per-GPU timeline integrates
    back to the power_cap and failure buckets (capping and feed losses are seen by it)."""
    lay = layout(n_racks=2, servers_per_rack=4, supply_temp_c=24.0)
    rng = np.random.default_rng(7)
    n = 40
    table = jobs(
        np.column_stack(
            [
                np.sort(rng.uniform(0, 6 * 3600.0, n)),
                rng.uniform(600, 4 * 3600.0, n),
                rng.choice([1, 2, 4, 8, 16], n),
            ]
        ),
        priority=rng.integers(0, 3, n),
        checkpoint_interval_s=np.full(n, 900.0),
    )
    fac = CoupledFacility(
        SimpleFacility(),
        lay,
        hall_air_for(lay, supply_temp_c=24.0, n_units=3, unit_airflow_m3_per_s=2.0),
        faults=(
            FaultEvent("feed", 2 * 3600.0, 3 * 3600.0, rack=1),
            FaultEvent("crac", 4 * 3600.0, 5 * 3600.0, unit=0),
        ),
        budgets_w={"site": 45e3},
    )
    sim = Simulator(
        lay,
        table,
        make_policy("policy", "tiresias-las"),
        settings=SimSettings(seed=5, node_failure_rate_per_s=2e-5, record_gpus=True),
        facility=fac,
    )
    out = sim.run()
    Ledger.from_run(out).check(rel_tol=1e-9)
    led, tl = out.ledger_gpu_s, out.gpu_timeline
    assert led["power_cap"] > 0.0
    assert out.coupling["power_cap_events"] >= 1
    assert out.coupling["feed_down_rack_s"] == pytest.approx(3600.0)
    dt = tl["end_s"] - tl["start_s"]
    alloc = tl["state"] == "allocated"
    assert np.sum(dt[alloc] * tl["power_cap_frac"][alloc]) == pytest.approx(
        led["power_cap"], rel=1e-9
    )
    failed = tl["state"] == "failed"
    assert np.sum(dt[failed]) + np.sum(dt[alloc] * tl["failure_frac"][alloc]) + out.moved_gpu_s[
        "failure"
    ] == pytest.approx(led["failure"], rel=1e-9)


def test_dgx_h100_psus_cannot_carry_it_on_one_feed_of_two():
    """NVIDIA DGX H100/H200 User Guide (Power Specifications; PSU redundancy): six 3,300 W PSUs
    in 4+2, 10.2 kW max; with three PSUs unpowered "the system continues to function, but at a
    reduced performance level". One feed of two leaves 3 PSUs = 9.9 kW < 10.2 kW: braked. DGX
    A100 (user guide: six 3,000 W PSUs, 3+3, "full power with the remaining three"): 9 kW ≥ 6.5
    kW, not braked. Exact numbers (tolerance 0)."""
    from kiban.physics import facility_dynamics as fd  # noqa: PLC0415

    cat = default_catalog()
    h100, a100 = cat.server("dgx-h100"), cat.server("dgx-a100")
    assert (h100.psu_count, h100.psu_rating_w, h100.psu_redundant_count) == (6, 3300.0, 2)
    assert h100.max_power_w == 10_200.0
    left = int(fd.psus_left(h100.psu_count, 2, 1))
    assert left == 3
    assert h100.psu_capacity_w(left) == 9_900.0
    # the N of N+R carries the server; N − 1 does not (the vendor's redundancy is consistent)
    n_h100 = h100.psu_count - h100.psu_redundant_count
    assert h100.psu_capacity_w(n_h100) >= h100.max_power_w > h100.psu_capacity_w(n_h100 - 1)
    assert fd.psu_power_brake(h100.max_power_w, 6, 3300.0, 2, 1)
    assert not fd.psu_power_brake(h100.max_power_w, 6, 3300.0, 2, 0)
    assert not fd.psu_power_brake(h100.max_power_w, 6, 3300.0, 2, 2)  # down, not braked
    assert not fd.psu_power_brake(a100.max_power_w, a100.psu_count, a100.psu_rating_w, 2, 1)


def test_partial_feed_loss_power_brakes_dgx_h100_and_books_power_cap():
    """Two feeds per rack of four DGX H100; rack 0 loses feed A from 1 h to 2 h. Its servers run
    on 3 of 6 PSUs (9.9 kW < 10.2 kW): the power brake holds their GPUs at half clock (nvml.h:
    HW slowdown cuts clocks ≥ 2×). A job with β = 0.9 then runs at 1/(0.1 + 0.9/0.5) = 0.526 of
    its speed, so rack 0's four 8-GPU jobs lose 0.474 h of work each, booked as power_cap
    (32 GPUs × 3600 s × 0.474, to 1e-6), and end 0.474 h late; rack 1 is untouched; nothing
    restarts, nothing is down."""
    from kiban.physics.gpu_power import runtime_factor  # noqa: PLC0415

    lay = layout(n_racks=2, servers_per_rack=4, supply_temp_c=22.0)
    table = jobs([(0.0, 4 * 3600.0, 8)] * 8)
    ok = _sim(lay, table, [], rack_feeds=2)
    out = _sim(lay, table, [FaultEvent("feed", 3600.0, 7200.0, rack=0)], rack_feeds=2)
    speed = 1.0 / float(runtime_factor(0.5, 0.9))
    assert speed == pytest.approx(0.5263, abs=1e-4)
    lost_s = 3600.0 * (1.0 - speed)
    assert out.counters["restarts"] == 0
    assert out.ledger_gpu_s["failure"] == 0.0
    assert ok.ledger_gpu_s["power_cap"] == 0.0
    assert out.ledger_gpu_s["power_cap"] == pytest.approx(32 * lost_s, rel=1e-6)
    assert out.coupling["power_brake_events"] == 1
    assert out.coupling["power_brake_node_s"] == pytest.approx(4 * 3600.0)
    late_s = out.job["end_s"] - ok.job["end_s"]
    rack_of_job = np.repeat([0, 1], 4)  # fifo-static packs in order
    assert late_s[rack_of_job == 0] == pytest.approx(np.full(4, lost_s), rel=1e-6)
    assert (late_s[rack_of_job == 1] == 0.0).all()


def _fan_run(fraction_lost):
    """Rack 1 of two (two DGX H100 each, 22 °C supply, no recirculation) loses a share of its
    server fans' airflow at 10 min; four pegged 8-GPU jobs (A = 1, β = 0.9) run 2 h."""
    lay = layout(n_racks=2, servers_per_rack=2, supply_temp_c=22.0)
    table = jobs([(0.0, 2 * 3600.0, 8)] * 4, activity_frac=np.full(4, 1.0))
    faults = [FaultEvent("gpu_fan", 600.0, math.inf, rack=1, fraction_lost=fraction_lost)]
    return _sim(lay, table, faults if fraction_lost > 0 else [])


def test_fan_failure_reaches_hw_slowdown_and_shutdown():
    """HW slowdown and shutdown from the physics, H100 SXM thresholds 87/89/92 °C (nvidia-smi
    -q, physics.md §1.1), R = 0.07 K/W scaled by (V̇/V̇_0)^−0.8 for the fans left. At the
    bottom of the DVFS range (345/1980 MHz) a job with A = 1 draws 700·(0.366 + 0.634·0.174^2.95)
    = 258.8 W. With 19 % of the airflow left R = 0.07·0.19^−0.8 = 0.264 K/W, so the die there is
    22 + 0.264·258.8 = 90.4 °C: above the HW slowdown threshold (89), below shutdown (92): HW
    slowdown, the jobs of rack 1 run at the floor clock, 1/(0.1 + 0.9/0.174) = 0.19 of their
    speed. With 10 % left the die would settle at 136 °C: the GPUs shut down (their nodes fail
    and their jobs restart). With 25 % left only SW slowdown (floor die 84.9 °C)."""
    ok = _fan_run(0.0)
    assert ok.counters["hw_slowdown_onsets"] == 0
    sw = _fan_run(0.75)
    assert sw.counters["throttle_onsets"] > 0
    assert sw.counters["hw_slowdown_onsets"] == 0
    hw = _fan_run(0.81)
    assert hw.counters["hw_slowdown_onsets"] == 2  # rack 1's two jobs
    assert hw.counters["thermal_shutdowns"] == 0
    thr = hw.job["throttle_s"]
    rack_of_job = np.array([0, 0, 1, 1])
    assert (thr[rack_of_job == 0] == 0.0).all()
    # after the fault (10 min) rack 1's jobs progress at the floor speed 0.190 ± 0.005; the
    # first τ·ln(…) seconds (die heating from its old steady) run at full speed
    speed = 1.0 / (0.1 + 0.9 / (345.0 / 1980.0))
    late_s = hw.job["end_s"][rack_of_job == 1] - ok.job["end_s"][rack_of_job == 1]
    work_after_s = 2 * 3600.0 - 600.0
    assert late_s == pytest.approx(np.full(2, work_after_s * (1.0 / speed - 1.0)), rel=0.03)
    shut = _fan_run(0.9)
    assert shut.counters["thermal_shutdowns"] == 2  # rack 1's two nodes
    assert shut.counters["restarts"] >= 2
    assert shut.ledger_gpu_s["failure"] > 0.0


def _reasons_between(out, gpus, t0_s, t1_s):
    """The clock-event reason bitmasks of ``gpus`` over intervals overlapping (t0, t1)."""
    tl = out.gpu_timeline
    gpu = np.asarray(tl["gpu_idx"])
    start = np.asarray(tl["start_s"])
    end = np.asarray(tl["end_s"])
    keep = np.isin(gpu, gpus) & (start < t1_s) & (end > t0_s) & (end > start)
    return set(np.asarray(tl["clock_event_reasons"])[keep].tolist())


def test_power_brake_and_hw_slowdown_show_in_the_clock_event_reasons():
    """What DCGM would report (nvml.h ``nvmlClocksEventReason*``): a GPU held at the external
    power brake reports HW slowdown with the power-brake bit (0x08 | 0x80 = 0x88, and no SW
    power cap); a GPU in thermal HW slowdown reports 0x08 | 0x40 on top of SW thermal slowdown
    (0x20). ``kiban diagnose`` books 0x88 as power, 0x48 as thermal."""
    from kiban.diagnose.engine import _classify_reason_bits  # noqa: PLC0415

    lay = layout(n_racks=2, servers_per_rack=4, supply_temp_c=22.0)
    table = jobs([(0.0, 4 * 3600.0, 8)] * 8)
    out = _sim(
        lay, table, [FaultEvent("feed", 3600.0, 7200.0, rack=0)], record_gpus=True, rack_feeds=2
    )
    rack0 = np.arange(32)
    during = _reasons_between(out, rack0, 3600.0, 7200.0)
    assert during == {0x88}
    assert _reasons_between(out, rack0, 0.0, 3600.0) == {0}
    assert _reasons_between(out, np.arange(32, 64), 0.0, 4 * 3600.0) == {0}
    lay = layout(n_racks=2, servers_per_rack=2, supply_temp_c=22.0)
    table = jobs([(0.0, 2 * 3600.0, 8)] * 4, activity_frac=np.full(4, 1.0))
    faults = [FaultEvent("gpu_fan", 600.0, math.inf, rack=1, fraction_lost=0.81)]
    hw = _sim(lay, table, faults, record_gpus=True)
    assert _reasons_between(hw, np.arange(16, 32), 600.0, 2 * 3600.0) == {0x68}
    assert _reasons_between(hw, np.arange(16), 0.0, 2 * 3600.0) == {0}
    thermal, power = _classify_reason_bits(np.array([0x88, 0x48, 0x68, 0x08, 0x04, 0x00]))
    assert thermal.tolist() == [False, True, True, True, False, False]
    assert power.tolist() == [True, False, False, False, True, False]
