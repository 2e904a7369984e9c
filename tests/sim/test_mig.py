"""MIG instances in the event simulator (issue 15: fixed partitions of a GPU).

A job with a ``mig_profile`` takes one GPU instance: a GPU enters MIG mode with its first
instance, holds instances at non-overlapping allowed starts (kiban.mig; NVIDIA MIG User Guide),
and leaves MIG mode with its last. An instance holds compute slices / 7 of its GPU: the ledger
books each GPU-second once (tenants by their shares, unheld slices as free time), and the GPU's
power and activity follow its tenants. The cluster here is one DGX H100 (8 × H100 80GB,
geometry h100-80gb). Ledger sums are checked to 1e-12 relative (float sums of a few terms).
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.sim.helpers import assert_gpu0_draws_like_one_job, jobs, layout, run

from kiban.errors import PolicyError, TraceError
from kiban.policies.base import Decision
from kiban.sim import JobTable
from kiban.vocabulary import LEDGER_BUCKETS, UNSCHEDULABLE
from kiban.workload.schema import jobs_frame, validate_jobs

HOLD_S = 100.0


def _ledger_sum_gpu_s(out):
    return sum(out.ledger_gpu_s[k] for k in LEDGER_BUCKETS)


def test_instances_share_a_gpu_and_book_each_gpu_second_once():
    """3g + 3g + 4g and six whole jobs on 8 GPUs all start at 0 (first-fit puts both 3g on GPU 0
    at starts 4 and 0, the 4g on GPU 1). Productive = 600 + (3 + 3 + 4)/7 · 100 GPU·s; the unheld
    slices (1 on GPU 0, 3 on GPU 1) are idle: 4/7 · 100 GPU·s; the ledger sums to 800 GPU·s."""
    rows = [(0, HOLD_S, 1)] * 9
    prof = ["3g.40gb", "3g.40gb", "4g.40gb"] + [""] * 6
    out = run(layout(), jobs(rows, mig_profile=prof))
    assert np.all(out.job["first_start_s"] == 0.0)
    led = out.ledger_gpu_s
    assert led["productive"] == pytest.approx(600.0 + 10.0 / 7.0 * HOLD_S, rel=1e-12)
    assert led["idle_no_demand"] == pytest.approx(4.0 / 7.0 * HOLD_S, rel=1e-12)
    assert _ledger_sum_gpu_s(out) == pytest.approx(8 * HOLD_S, rel=1e-12)
    assert out.job["attained_gpu_s"][:3] == pytest.approx(np.array([3, 3, 4]) / 7 * HOLD_S)
    assert out.mig_idle_slice_gpu_s == pytest.approx(4.0 / 7.0 * HOLD_S, rel=1e-12)


def test_whole_gpu_jobs_never_land_on_a_gpu_holding_instances():
    """One 1g instance and eight whole 1-GPU jobs: the instance's GPU is not free, so only seven
    whole jobs start at 0 and the eighth waits for the instance to go (at 100 s). Seven 1g
    instances then fill one GPU: all seven start at 0 beside seven whole jobs."""
    rows = [(0, HOLD_S, 1)] * 9
    out = run(layout(), jobs(rows, mig_profile=["1g.10gb"] + [""] * 8))
    first = out.job["first_start_s"]
    assert np.count_nonzero(first == 0.0) == 8  # the instance and seven whole jobs
    assert first.max() == pytest.approx(HOLD_S)
    assert _ledger_sum_gpu_s(out) == pytest.approx(8 * out.horizon_s, rel=1e-12)

    seven = run(layout(), jobs([(0, HOLD_S, 1)] * 14, mig_profile=["1g.10gb"] * 7 + [""] * 7))
    assert np.all(seven.job["first_start_s"] == 0.0)
    assert seven.ledger_gpu_s["idle_no_demand"] == pytest.approx(0.0, abs=1e-9)


def test_instances_and_milli_shares_never_share_a_gpu():
    """A 500-milli job and a 1g instance take two different GPUs (a milli-shared GPU is not in
    MIG mode; a GPU in MIG mode has no milli left): with seven more whole jobs, one of the nine
    waits."""
    rows = [(0, HOLD_S, 1)] * 9
    milli = [500, 1000] + [1000] * 7
    prof = ["", "1g.10gb"] + [""] * 7
    out = run(layout(), jobs(rows, gpu_milli=milli, mig_profile=prof))
    assert np.count_nonzero(out.job["first_start_s"] == 0.0) == 8
    assert _ledger_sum_gpu_s(out) == pytest.approx(8 * out.horizon_s, rel=1e-12)


def test_power_and_activity_of_a_partitioned_gpu_follow_its_tenants():
    """A 3g and a 4g instance on one GPU draw what one whole job of the same activity draws (idle
    plus each tenant's share of its power above idle), are as busy, and split the energy 3 : 4."""
    lay = layout()
    parts = run(
        lay,
        jobs([(0, HOLD_S, 1), (0, HOLD_S, 1)], mig_profile=["3g.40gb", "4g.40gb"]),
        record_gpus=True,
    )
    whole = run(lay, jobs([(0, HOLD_S, 1)]), record_gpus=True)
    energy = assert_gpu0_draws_like_one_job(parts, whole)
    assert energy[0] / energy[1] == pytest.approx(3.0 / 4.0, rel=1e-12)
    assert np.allclose(parts.log["it_power_w"][:1], whole.log["it_power_w"][:1], rtol=1e-12)


def test_best_fit_packs_instances_onto_partitioned_gpus():
    """GPU 0 holds a 7g (until 50 s), GPU 1 a 4g, GPUs 2-7 whole jobs (1000 s). A 1g arriving at
    60 s goes to GPU 0 under first-fit (the lowest index) but to the partitioned GPU 1 under
    best-fit, so a whole job arriving at 70 s starts at once only under best-fit."""
    rows = [(0, 50.0, 1), (0, 1000.0, 1)] + [(0, 1000.0, 1)] * 6 + [(60, 1000.0, 1), (70, 10, 1)]
    prof = ["7g.80gb", "4g.40gb"] + [""] * 6 + ["1g.10gb", ""]
    table = jobs(rows, mig_profile=prof)
    best = run(layout(), table, policy="best-fit")
    first = run(layout(), table, policy="fifo-static")
    assert best.job["first_start_s"][-1] == pytest.approx(70.0)
    assert first.job["first_start_s"][-1] == pytest.approx(1000.0)
    for out in (best, first):
        assert _ledger_sum_gpu_s(out) == pytest.approx(8 * out.horizon_s, rel=1e-12)


@pytest.mark.parametrize("policy", ["random-fit", "fgd"])
def test_other_placements_place_instances(policy):
    """Random-fit and fgd place instances too; 14 1g instances fill two GPUs exactly."""
    out = run(layout(), jobs([(0, HOLD_S, 1)] * 14, mig_profile=["1g.10gb"] * 14), policy=policy)
    assert np.all(out.job["first_start_s"] == 0.0)
    assert out.ledger_gpu_s["productive"] == pytest.approx(2 * HOLD_S, rel=1e-12)
    assert _ledger_sum_gpu_s(out) == pytest.approx(8 * HOLD_S, rel=1e-12)


class _OnGpu0:
    """A policy that puts every pending job on GPU 0."""

    name = "on-gpu-0"

    def reset(self, ctx):
        pass

    def decide(self, view):
        pend = view.pending_jobs().tolist()
        return Decision(start={int(j): np.array([0]) for j in pend}) if pend else Decision()


def test_the_dispatch_refuses_an_instance_without_a_placement():
    """Two 4g instances on one GPU: the second has no free start (4g only at slice 0)."""
    with pytest.raises(PolicyError, match=r"GPU 0 has no free placement for 4g.40gb"):
        run(layout(), jobs([(0, HOLD_S, 1)] * 2, mig_profile=["4g.40gb"] * 2), policy=_OnGpu0())


def test_the_dispatch_refuses_an_instance_on_a_gpu_held_whole():
    """A whole job holds GPU 0: an instance put there is refused, naming the holder."""
    with pytest.raises(PolicyError, match=r"GPU 0 is held whole by job '0'"):
        run(
            layout(),
            jobs([(0, HOLD_S, 1), (1, HOLD_S, 1)], mig_profile=["", "1g.10gb"]),
            policy=_OnGpu0(),
        )


def test_a_profile_no_gpu_of_the_cluster_offers_is_unschedulable(caplog):
    """1g.5gb is an A100 40GB profile: on H100s the job can never run (a warning names the
    profile and the cluster's models); the others do."""
    with caplog.at_level("WARNING", logger="kiban.sim.tables"):
        out = run(layout(), jobs([(0, HOLD_S, 1)] * 2, mig_profile=["1g.5gb", "1g.10gb"]))
    assert out.job["state"][0] == UNSCHEDULABLE
    assert out.job["first_start_s"][1] == 0.0
    assert "1 job(s) ask for MIG profile 1g.5gb" in caplog.text
    assert "h100-sxm (h100-80gb)" in caplog.text


def test_an_unknown_profile_is_one_clear_error():
    """An unknown profile names the source, field, value and the allowed profiles; a MIG job
    asking for two GPUs is refused too."""
    with pytest.raises(TraceError, match=r"mig_profile = '3g.30gb'.*allowed: '' \(none\) or "):
        JobTable.from_arrays([0], [1.0], [1], mig_profile=["3g.30gb"])
    with pytest.raises(TraceError, match=r"num_gpus 1"):
        JobTable.from_arrays([0], [1.0], [2], mig_profile=["3g.40gb"])
    frame = jobs_frame(
        {
            "job_id": ["a", "b"],
            "submit_time_s": [0.0, 1.0],
            "duration_s": [1.0, 1.0],
            "num_gpus": [1, 1],
            "mig_profile": ["", "9g.90gb"],
        }
    )
    with pytest.raises(
        TraceError, match=r"^mine.csv: column mig_profile = '9g.90gb' at row 1: not a MIG profile"
    ):
        validate_jobs(frame, "mine.csv", job_model=False)


@pytest.mark.parametrize("policy", ["tiresias-las", "easy-backfill"])
def test_preempting_and_backfilling_policies_keep_instances_consistent(policy):
    """Sixty random jobs, two thirds on MIG instances, on one DGX H100 under a preempting (LAS)
    and a backfilling policy, with the invariant checks on (non-overlapping instances at allowed
    starts, masks and free slices as booked): every job finishes, the ledger sums to capacity."""
    rng = np.random.default_rng(7)
    n = 60
    submit = np.sort(rng.uniform(0, 20_000.0, n))
    duration = rng.exponential(6000.0, n) + 10.0
    is_mig = rng.random(n) < 2 / 3
    names = np.array(["1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"])
    prof = np.where(is_mig, rng.choice(names, n), "")
    gpus = np.where(is_mig, 1, rng.choice([1, 2, 4], n))
    table = JobTable.from_arrays(submit, duration, gpus, mig_profile=prof.astype(object))
    out = run(layout(), table, policy=policy)
    assert np.all(out.job["state"] == 3)  # DONE
    if policy == "tiresias-las":
        assert out.counters["preemptions"] > 0
    assert _ledger_sum_gpu_s(out) == pytest.approx(8 * out.horizon_s, rel=1e-12)
    assert 0.0 < out.mig_idle_slice_gpu_s < 8 * out.horizon_s


def _a100_40gb_layout():
    """One 8-GPU server whose GPUs have the A100 40GB geometry (power as the H100 record)."""
    import dataclasses  # noqa: PLC0415

    from tests.sim.helpers import dgx  # noqa: PLC0415

    from kiban.sim import uniform_layout  # noqa: PLC0415

    server, sku = dgx()
    sku = dataclasses.replace(sku, name="a100-40gb-like", mig="a100-40gb")
    server = dataclasses.replace(server, gpu=sku.name)
    return uniform_layout(server, sku, n_racks=1, servers_per_rack=1)


@pytest.mark.parametrize(
    ("profiles", "gpus_used"),
    [
        (["3g.20gb", "3g.20gb"], 1),  # starts 4 and 0
        (["4g.20gb", "3g.20gb"], 1),  # starts 0 and 4
        (["4g.20gb", "4g.20gb"], 2),  # 4g only at start 0
        (["1g.5gb"] * 7, 1),
        (["1g.5gb"] * 8, 2),
        (["7g.40gb", "1g.5gb"], 2),
    ],
)
def test_a100_40gb_rules_in_the_simulator(profiles, gpus_used):
    """The guide's A100 40GB rules, end to end: the instances of one arrival instant fill as few
    GPUs as the placements allow (best-fit), seen in the GPU time left free on partitioned GPUs:
    7 · GPUs used − slices held, in sevenths of a GPU, for the 100 s they run."""
    n = len(profiles)
    out = run(
        _a100_40gb_layout(), jobs([(0, HOLD_S, 1)] * n, mig_profile=profiles), policy="best-fit"
    )
    assert np.all(out.job["first_start_s"] == 0.0)
    held = sum(int(p[0]) for p in profiles)
    assert out.mig_idle_slice_gpu_s == pytest.approx((7 * gpus_used - held) / 7 * HOLD_S, abs=1e-9)


def test_slices_a_waiting_instance_cannot_use_are_fragmentation():
    """Seven whole jobs and two 3g instances (slices 0-3 and 4-7 of GPU 7) hold the cluster for
    1000 s; a 1g arriving at 0 fits the one unheld compute slice by count but no memory slice is
    free: it waits 1000 s, and that slice's time (1/7 GPU × 1000 s) is queue-blocked
    fragmentation. Without the waiting 1g the same slice is idle, not fragmented."""
    rows = [(0, 1000.0, 1)] * 9 + [(0, 10.0, 1)]
    prof = [""] * 7 + ["3g.40gb", "3g.40gb", "1g.10gb"]
    out = run(layout(), jobs(rows, mig_profile=prof), policy="best-fit")
    assert out.job["first_start_s"][-1] == pytest.approx(1000.0)
    assert out.fragmentation_gpu_s == pytest.approx(1000.0 / 7.0, rel=1e-12)
    assert out.ledger_gpu_s["queue_blocked"] == pytest.approx(1000.0 / 7.0, rel=1e-12)
    alone = run(layout(), jobs(rows[:9], mig_profile=prof[:9]), policy="best-fit")
    assert alone.fragmentation_gpu_s == 0.0
    assert alone.ledger_gpu_s["idle_no_demand"] == pytest.approx(1000.0 / 7.0, rel=1e-12)


def test_fgd_keeps_room_for_the_profiles_the_run_needs():
    """The run's MIG jobs are ten 3g and one 1g. GPU 0 holds 2g + 2g (slices 0-3; 3 compute
    slices left), GPU 1 one 1g at slice 6 (6 left). Best-fit puts the 1g on the tighter GPU 0,
    whose only 3g placement (slices 4-7) it then blocks: (7 − 5) · 10/11 slices a 3g cannot use.
    fgd puts it on GPU 1 at slice 4, where a 3g still fits at 0: no fragmentation added."""
    from types import SimpleNamespace  # noqa: PLC0415

    from kiban.policies.base import FreeState  # noqa: PLC0415
    from kiban.policies.placement import (  # noqa: PLC0415
        BestFit,
        FragmentationGradientDescent,
    )

    lay = layout()
    table = jobs([(0, HOLD_S, 1)] * 11, mig_profile=["3g.40gb"] * 10 + ["1g.10gb"])
    view = SimpleNamespace(layout=lay, jobs=table)
    free = FreeState(
        gpu_free=np.zeros(8, dtype=bool),
        node_free=np.zeros(1, dtype=np.int64),
        rack_gpu_alloc_w=np.zeros(1),
        n_free=0,
        gpu_mig_mask=np.array([0b00001111, 0b01000000, 0, 0, 0, 0, 0, 0]),
        gpu_mig_compute=np.array([4, 1, 0, 0, 0, 0, 0, 0]),
    )
    cand = np.array([0, 1])
    assert BestFit()._pick_mig(view, 10, free, cand) == 0
    assert FragmentationGradientDescent()._pick_mig(view, 10, free, cand) == 1
