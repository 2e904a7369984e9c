"""Hand-checked tiny scenarios: start/end times and ledger buckets worked out on paper.

Every run here has failures and throttling off and default caps (speed 1), so a job holding its
GPUs progresses one second of work per second and the numbers are exact.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from tests.sim.helpers import (
    IDEAL_STORAGE,
    ends,
    jobs,
    layout,
    productive_from_jobs,
    run,
    starts,
)

from kiban.ledger import Ledger
from kiban.physics.gpu_power import speed_frac_under_cap
from kiban.policies.layered import layered_policy
from kiban.sim.state import DONE, UNSCHEDULABLE

H = 3600.0


def test_fifo_one_node_waits_then_runs():
    """GIVEN one 8-GPU node, A (8 GPUs, 100 s, t=0) and B (4 GPUs, 50 s, t=10)
    THEN B starts when A ends (100) and ends at 150; capacity 8×150 = 1200 GPU·s splits into
    productive 800 + 200, idle 4×50 (nothing waits after t=100) and no blocked time
    (A holds every GPU while B waits)."""
    out = run(layout(), jobs([(0, 100, 8), (10, 50, 4)]))
    assert starts(out).tolist() == [0.0, 100.0]
    assert ends(out).tolist() == [100.0, 150.0]
    led = out.ledger_gpu_s
    assert out.capacity_gpu_s == 1200.0
    assert led["productive"] == pytest.approx(1000.0, rel=1e-12)
    assert led["idle_no_demand"] == pytest.approx(200.0, rel=1e-12)
    assert led["queue_blocked"] == 0.0
    Ledger.from_run(out).check()


def test_fifo_blocks_and_backfill_does_not():
    """A (4 GPUs, 100 s, t=0), B (8 GPUs, 10 s, t=1), C (4 GPUs, 50 s, t=2) on one 8-GPU node.

    FIFO: B waits for A (100–110), C waits behind B (110–160); queue_blocked = 4 GPUs × 108 s
    (t = 2…100 with C waiting and 4 free, plus t = 1…2 with B waiting) = 4 × 99 = 396 GPU·s.
    EASY: B's reservation is at t = 100 with no spare GPUs; C ends at 52 ≤ 100, so it backfills
    at t = 2; B runs 100–110.
    """
    table = jobs([(0, 100, 4), (1, 10, 8), (2, 50, 4)])
    fifo = run(layout(), table, "fifo-static")
    assert starts(fifo).tolist() == [0.0, 100.0, 110.0]
    assert ends(fifo).tolist() == [100.0, 110.0, 160.0]
    assert fifo.ledger_gpu_s["queue_blocked"] == pytest.approx(4 * 99.0, rel=1e-12)
    easy = run(layout(), table, "easy-backfill")
    assert starts(easy).tolist() == [0.0, 100.0, 2.0]
    assert ends(easy).tolist() == [100.0, 110.0, 52.0]
    for out in (fifo, easy):
        Ledger.from_run(out).check()


def test_backfill_respects_the_reservation():
    """C (4 GPUs, 500 s) would end after B's reservation at 100 and B needs all 8: no backfill."""
    table = jobs([(0, 100, 4), (1, 10, 8), (2, 500, 4)])
    easy = run(layout(), table, "easy-backfill")
    assert starts(easy).tolist() == [0.0, 100.0, 110.0]


def test_fragmentation_is_counted_when_the_shape_blocks():
    """Two 8-GPU nodes; A and B take 6 GPUs each (one per node), C needs 4 GPUs on one node
    (gpus_per_node=4): 4 GPUs are free but no node has 4, from t=2 until A ends at t=100.
    Fragmentation = 4 free GPUs × 98 s (the whole blocked time)."""
    table = jobs([(0, 100, 6), (1, 200, 6), (2, 10, 4)], gpus_per_node=[0, 0, 4])
    out = run(layout(servers_per_rack=2), table)
    assert starts(out).tolist() == [0.0, 1.0, 100.0]
    assert out.fragmentation_gpu_s == pytest.approx(4 * 98.0, rel=1e-12)
    assert out.ledger_gpu_s["queue_blocked"] == pytest.approx(4 * 98.0, rel=1e-12)
    Ledger.from_run(out).check()


def test_job_larger_than_the_cluster_is_reported_not_dropped():
    table = jobs([(0, 10, 100), (1, 10, 8), (2, 10, 16)], gpus_per_node=[0, 0, 16])
    out = run(layout(n_racks=2), table)
    assert out.job["state"].tolist() == [UNSCHEDULABLE, DONE, UNSCHEDULABLE]
    assert out.counters["unschedulable_jobs"] == 2
    assert math.isnan(out.job["first_start_s"][0])


def test_tiresias_demotes_preempts_and_resumes():
    """One 8-GPU node, limits 3,600 and 18,000 GPU·s. A (8 GPUs, 10,000 s, t=0), B (8 GPUs,
    1,000 s, t=100). A crosses 3,600 GPU·s at t=450 → Q1; B (Q0) preempts it. B crosses 3,600 at
    t=900 → Q1, where it is running and A waiting: inside a queue running jobs come first
    (Tiresias' artifact, ``queue_order = "running-first"``), so B runs to its end at 1,450
    (450 + 1,000 s); A resumes and ends at 1,450 + 9,550 = 11,000 (preemption is free here: no
    checkpoint size). With ``queue_order = "arrival"`` A (arrived first) preempts B at 900 and
    B ends at 3,250 after A crosses 18,000 GPU·s at 2,700."""
    table = jobs([(0, 10_000, 8), (100, 1_000, 8)])
    out = run(layout(), table, "tiresias-las")
    assert ends(out) == pytest.approx([11_000.0, 1_450.0], rel=1e-12)
    assert out.job["preemptions"].tolist() == [1, 0]
    Ledger.from_run(out).check()
    old = run(layout(), table, "tiresias-las", {"queue_order": "arrival"})
    assert ends(old) == pytest.approx([11_000.0, 3_250.0], rel=1e-12)
    assert old.job["preemptions"].tolist() == [2, 1]
    assert out.ledger_gpu_s["productive"] == pytest.approx(8 * 11_000.0, rel=1e-12)


def test_preemption_pays_checkpoint_save_and_restore():
    """Same as above with a 4 GB checkpoint at 2 GB/s: A's one resume costs 2 × 2 s (save +
    load); B is never preempted."""
    table = jobs([(0, 10_000, 8), (100, 1_000, 8)], checkpoint_size_b=[4e9, 4e9])
    out = run(layout(), table, "tiresias-las", checkpoint_bandwidth_b_per_s=2e9)
    assert out.job["checkpoint_s"].tolist() == pytest.approx([4.0, 0.0])
    assert out.ledger_gpu_s["checkpoint"] == pytest.approx(8 * 4.0, rel=1e-12)
    Ledger.from_run(out).check()


def test_until_cuts_the_window_and_reports_unfinished_jobs():
    table = jobs([(0, 100, 8), (10, 1000, 8)])
    out = run(layout(), table, until_s=500.0)
    assert out.horizon_s == 500.0
    assert out.capacity_gpu_s == 8 * 500.0
    assert out.job["state"][0] == DONE
    assert out.job["progress_s"][1] == pytest.approx(400.0)
    Ledger.from_run(out).check()
    assert out.ledger_gpu_s["productive"] == pytest.approx(productive_from_jobs(out), rel=1e-12)


def test_io_contention_shares_bandwidth_max_min():
    """Two 8-GPU jobs each need 8 × 1 GB/s of input; storage gives 8 GB/s in total.
    Each gets 4 GB/s → speed 0.5 → 100 s of work takes 200 s; half the time is io_stall."""
    table = jobs(
        [(0, 100, 8), (0, 100, 8)],
        input_rate_b_per_s_per_gpu=[1e9, 1e9],
        dataset_size_b=[1e12, 1e12],
    )
    out = run(layout(servers_per_rack=2), table, storage_bandwidth_b_per_s=8e9, **IDEAL_STORAGE)
    assert ends(out) == pytest.approx([200.0, 200.0], rel=1e-12)
    assert out.job["stall_s"] == pytest.approx([100.0, 100.0], rel=1e-12)
    assert out.ledger_gpu_s["io_stall"] == pytest.approx(16 * 100.0, rel=1e-12)
    Ledger.from_run(out).check()


def test_io_share_speeds_up_when_a_job_leaves():
    """Same two jobs, B only 50 s of work: both run at 0.5 until B ends at 100, then A alone gets
    8 GB/s (full speed) for its remaining 50 s → ends at 150."""
    table = jobs(
        [(0, 100, 8), (0, 50, 8)],
        input_rate_b_per_s_per_gpu=[1e9, 1e9],
        dataset_size_b=[1e12, 1e12],
    )
    out = run(layout(servers_per_rack=2), table, storage_bandwidth_b_per_s=8e9, **IDEAL_STORAGE)
    assert ends(out) == pytest.approx([150.0, 100.0], rel=1e-12)


def test_static_power_cap_slows_jobs_by_the_physics_speed():
    server, sku = layout().servers[0], layout().skus[0]
    del server
    pol = layered_policy(
        "capped",
        {"power": ("static-cap", {"cap_frac": 0.6})},
    )
    table = jobs([(0, 1000, 8)], activity_frac=[1.0], compute_bound_frac=[1.0])
    out = run(layout(), table, pol)
    speed = float(speed_frac_under_cap(0.6 * sku.tdp_w, 1.0, 1.0, sku))
    assert speed < 0.95
    assert ends(out)[0] == pytest.approx(1000.0 / speed, rel=1e-9)
    assert out.job["power_cap_s"][0] == pytest.approx(1000.0 / speed - 1000.0, rel=1e-9)
    Ledger.from_run(out).check()


def test_failures_redo_work_since_the_last_checkpoint():
    """With very frequent failures jobs still finish; the ledger holds; productive GPU·s equal the
    useful work exactly (redone work moved to failure)."""
    rng = np.random.default_rng(3)
    n = 40
    table = jobs(
        np.column_stack(
            [
                np.sort(rng.uniform(0, 5 * H, n)),
                rng.uniform(600, 4 * H, n),
                rng.choice([1, 4, 8], n),
            ]
        ),
        checkpoint_size_b=np.full(n, 2e9),
        checkpoint_interval_s=np.full(n, 1800.0),
    )
    out = run(
        layout(servers_per_rack=4),
        table,
        failures=True,
        node_failure_rate_per_s=1.0 / (6 * H),
        repair_s=600.0,
        seed=5,
    )
    assert out.counters["failures"] > 3
    assert out.counters["restarts"] > 0
    assert (out.job["state"] == DONE).all()
    Ledger.from_run(out).check()
    assert out.ledger_gpu_s["productive"] == pytest.approx(
        float(np.dot(table.num_gpus, table.duration_s)), rel=1e-9
    )
    assert out.ledger_gpu_s["failure"] > 0
    assert out.job["failure_s"].sum() > 0
