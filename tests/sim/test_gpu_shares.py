"""GPU shares, CPU and memory in the event simulator (issue 15).

Jobs with ``gpu_milli`` below 1000 share one GPU up to 1000 milli (openb's milli-GPU, Weng et
al., USENIX ATC 2023); the ledger books each GPU-second once: a shared GPU's second goes to its
tenants' buckets by their shares and the unused remainder is free GPU time. Where the layout
states node CPU and memory, jobs' ``cpu_milli`` and ``memory_b`` are placement filters.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from tests.conftest import require_data
from tests.sim.helpers import jobs, layout, run

from kiban.catalog import default_catalog
from kiban.errors import PolicyError, TraceError
from kiban.policies.base import Decision, Schedule
from kiban.policies.layered import LayeredPolicy
from kiban.policies.placement import BestFit, FragmentationGradientDescent, RandomFit
from kiban.policies.scheduling import Fifo
from kiban.sim import JobTable
from kiban.sim.layout import layout_from_packing
from kiban.vocabulary import LEDGER_BUCKETS, UNSCHEDULABLE
from kiban.workload import read_trace
from kiban.workload.packing import node_frag_milli, read_packing_nodes

HOLD_S = 100.0


def _ledger_sum_gpu_s(out):
    return sum(out.ledger_gpu_s[k] for k in LEDGER_BUCKETS)


def test_two_half_gpu_jobs_share_one_gpu_and_book_each_gpu_second_once():
    """One 8-GPU node, 100 s: seven whole 1-GPU jobs and two 500-milli jobs all start at 0 only
    if the two halves share the eighth GPU. Every GPU-second is productive (pegged activity):
    800 GPU·s, none idle, and the ledger sums to capacity to 1e-9. A third half waits for a
    share to free at 100 s."""
    lay = layout(servers_per_rack=1)
    rows = [(0, HOLD_S, 1)] * 9
    milli = [1000] * 7 + [500, 500]
    out = run(lay, jobs(rows, gpu_milli=milli))
    assert np.all(out.job["first_start_s"] == 0.0)
    led = out.ledger_gpu_s
    capacity = 8 * out.horizon_s
    assert out.horizon_s == pytest.approx(HOLD_S)
    assert led["productive"] == pytest.approx(8 * HOLD_S, rel=1e-12)
    assert led["idle_no_demand"] == pytest.approx(0.0, abs=1e-9)
    assert _ledger_sum_gpu_s(out) == pytest.approx(capacity, rel=1e-9)
    # each half booked half a GPU for its 100 s
    assert out.job["attained_gpu_s"][7:] == pytest.approx([0.5 * HOLD_S] * 2)

    third = run(lay, jobs([*rows, (0, HOLD_S, 1)], gpu_milli=[*milli, 500]))
    assert third.job["first_start_s"][-1] == pytest.approx(HOLD_S)
    assert _ledger_sum_gpu_s(third) == pytest.approx(8 * third.horizon_s, rel=1e-9)


def test_the_unused_remainder_of_a_shared_gpu_is_free_time():
    """Two 250-milli jobs alone on the cluster for 100 s: 50 GPU·s productive, the rest of the
    shared GPU (50 GPU·s) and the 7 untouched GPUs (700 GPU·s) idle."""
    out = run(layout(), jobs([(0, HOLD_S, 1), (0, HOLD_S, 1)], gpu_milli=[250, 250]))
    led = out.ledger_gpu_s
    assert led["productive"] == pytest.approx(50.0, rel=1e-12)
    assert led["idle_no_demand"] == pytest.approx(750.0, rel=1e-12)
    assert _ledger_sum_gpu_s(out) == pytest.approx(800.0, rel=1e-9)


def test_power_of_a_shared_gpu_follows_its_tenants():
    """Two 500-milli tenants of one GPU draw what one whole job of the same activity draws: the
    GPU's idle power plus each tenant's share of its power above idle; job energies split by
    share."""
    lay = layout()
    halves = run(
        lay, jobs([(0, HOLD_S, 1), (0, HOLD_S, 1)], gpu_milli=[500, 500]), record_gpus=True
    )
    whole = run(lay, jobs([(0, HOLD_S, 1)]), record_gpus=True)
    tl_h, tl_w = halves.gpu_timeline, whole.gpu_timeline
    assert tl_h is not None
    assert tl_w is not None
    gpu0_h = tl_h["power_w"][tl_h["gpu_idx"] == 0][0]
    gpu0_w = tl_w["power_w"][tl_w["gpu_idx"] == 0][0]
    assert gpu0_h == pytest.approx(gpu0_w, rel=1e-12)
    assert tl_h["activity_frac"][tl_h["gpu_idx"] == 0][0] == pytest.approx(
        tl_w["activity_frac"][tl_w["gpu_idx"] == 0][0], rel=1e-12
    )
    assert halves.job["energy_j"].sum() == pytest.approx(whole.job["energy_j"][0], rel=1e-12)
    assert halves.job["energy_j"][0] == pytest.approx(halves.job["energy_j"][1], rel=1e-12)
    assert np.allclose(halves.log["it_power_w"][:1], whole.log["it_power_w"][:1], rtol=1e-12)


def test_the_gpu_timeline_follows_tenants_leaving():
    """Two halves on GPU 0, one leaving at 50 s: GPU 0's timeline starts an interval at 50 s
    with less power (one tenant's share above idle instead of two), which lasts to 100 s."""
    out = run(
        layout(), jobs([(0, 50.0, 1), (0, HOLD_S, 1)], gpu_milli=[500, 500]), record_gpus=True
    )
    tl = out.gpu_timeline
    assert tl is not None
    mine = tl["gpu_idx"] == 0
    rows = np.flatnonzero(mine)
    last = rows[-1]
    assert tl["start_s"][last] == pytest.approx(50.0)
    assert tl["end_s"][last] == pytest.approx(HOLD_S)
    assert tl["power_w"][last] < tl["power_w"][rows[-2]]


def test_a_gpu_without_the_share_left_refuses_a_start():
    """A policy that puts a 600-milli job on a GPU with 500 milli left gets a PolicyError."""

    class Crowd:
        name = "crowd"

        def reset(self, ctx):
            pass

        def decide(self, view):
            pend = view.pending_jobs().tolist()
            return Decision(start={int(j): np.array([0]) for j in pend}) if pend else Decision()

    lay = layout()
    with pytest.raises(PolicyError, match="GPU 0 has 500 milli left; the job needs 600 milli"):
        run(lay, jobs([(0, HOLD_S, 1), (0, HOLD_S, 1)], gpu_milli=[500, 600]), policy=Crowd())


def test_cpu_and_memory_filter_nodes():
    """Two nodes, the first with 4 cores and 64 GiB free: a job asking 8 cores goes to the
    second node even under first-fit; a job asking more memory than any node has is
    unschedulable; without node CPU in the layout nothing is checked."""
    lay = dataclasses.replace(
        layout(servers_per_rack=2),
        node_cpu_milli=np.array([4_000, 64_000]),
        node_memory_b=np.array([64.0, 512.0]) * 2**30,
    )
    table = jobs(
        [(0, HOLD_S, 1), (0, HOLD_S, 1), (0, HOLD_S, 1)],
        cpu_milli=[8_000, 2_000, 1_000],
        memory_b=[1e9, 1e9, 1e13],
        gpu_milli=[1000, 300, 1000],
    )
    out = run(lay, table, policy="fifo-static", record_gpus=True)
    timeline = out.gpu_timeline
    assert timeline is not None
    gpus_of_job_0 = timeline["gpu_idx"][timeline["job_id"] == "0"]
    assert gpus_of_job_0.size
    assert (gpus_of_job_0 >= 8).all()  # the 8-core job is on the second node
    assert out.job["state"][2] == UNSCHEDULABLE  # 10 TB of memory fits no node
    free_cpu = run(layout(servers_per_rack=2), table, policy="fifo-static")
    assert free_cpu.job["first_start_s"][2] == 0.0  # memory is not checked without node sizes


def test_a_policy_start_on_a_node_without_the_cpu_is_refused():
    lay = dataclasses.replace(layout(), node_cpu_milli=np.array([4_000]))

    class Greedy:
        name = "greedy"

        def reset(self, ctx):
            pass

        def decide(self, view):
            pend = view.pending_jobs().tolist()
            return Decision(start={int(j): np.array([j]) for j in pend}) if pend else Decision()

    table = jobs([(0, HOLD_S, 1), (0, HOLD_S, 1)], cpu_milli=[3_000, 3_000])
    with pytest.raises(PolicyError, match="node 0 has 1000 milli-CPU free; the job needs 3000"):
        run(lay, table, policy=Greedy())


def test_share_columns_are_validated():
    with pytest.raises(
        TraceError, match=r"gpu_milli = \S*500\S*: must be 1000 unless the job takes"
    ):
        jobs([(0, HOLD_S, 2)], gpu_milli=[500])
    with pytest.raises(TraceError, match=r"gpu_milli = \S*0\S*: must be 1–1000"):
        jobs([(0, HOLD_S, 1)], gpu_milli=[0])


@pytest.mark.parametrize(
    "policy", ["fifo-static", "best-fit", "random-fit", "fgd", "easy-backfill", "tiresias-las"]
)
def test_shared_runs_are_deterministic_and_exact(policy, rng):
    """Random jobs, 60 % of the 1-GPU ones sharing; two runs with one seed agree exactly, and
    the ledger sums to capacity to 1e-9 (the invariant checks run at every settle in tests)."""
    n = 150
    submit = np.sort(rng.uniform(0, 10_000, n))
    dur = rng.exponential(1500.0, n)
    num = rng.choice([1, 1, 1, 2, 4, 8], n)
    milli = np.where((num == 1) & (rng.random(n) < 0.6), rng.choice([100, 250, 500, 700], n), 1000)
    table = jobs(np.column_stack([submit, dur, num]), gpu_milli=milli)
    lay = layout(servers_per_rack=2)
    a = run(lay, table, policy=policy, failures=True)
    b = run(lay, table, policy=policy, failures=True)
    assert a.ledger_gpu_s == b.ledger_gpu_s
    assert np.array_equal(a.job["first_start_s"], b.job["first_start_s"], equal_nan=True)
    assert a.fgd_frag_gpu_s == b.fgd_frag_gpu_s
    assert _ledger_sum_gpu_s(a) == pytest.approx(16 * a.horizon_s, rel=1e-9)


class _SkipWhatDoesNotFit:
    """Place every waiting job that fits, in arrival order; skip the others (the packing
    experiment's rule, Weng et al. 2023 §6.1)."""

    preemptive = False

    def reset(self, ctx):
        pass

    def schedule(self, view, pending, alloc):
        start = {}
        for j in pending.tolist():
            gpus = alloc.try_place(j)
            if gpus is not None:
                start[j] = gpus
        return Schedule(start=start)


def test_fgd_fragments_less_than_best_fit_on_an_openb_sample(data_root):
    """30 openb nodes (seed 1: 176 GPUs of several models and sizes, with their CPU and
    memory), pods of the default list in a shuffled order until they ask 130 % of the GPUs, one
    per second, never leaving; a pod that fits nowhere is skipped. FGD keeps the cluster less
    fragmented over the fill than best-fit and random-fit (its own measure in milli-GPU; Weng
    et al. 2023, §6.2: FGD fragments least), and places at least as much as best-fit."""
    folder = require_data(data_root, "alibaba-gpu-v2023-openb", "csv")
    rng = np.random.default_rng(1)
    nodes = read_packing_nodes(folder)
    pick = np.sort(rng.choice(nodes.n_nodes, 30, replace=False))
    nodes = dataclasses.replace(
        nodes,
        name=[nodes.name[i] for i in pick.tolist()],
        cpu_milli=nodes.cpu_milli[pick],
        memory_mib=nodes.memory_mib[pick],
        n_gpus=nodes.n_gpus[pick],
        model=nodes.model[pick],
    )
    cat = default_catalog()
    lay = layout_from_packing(nodes, cat.gpu("v100-sxm2"), cat.server("philly-8gpu"))
    assert lay.n_gpus == 176
    pods = read_trace(f"openb:{folder}", rng=np.random.default_rng(0)).jobs
    order = rng.permutation(pods.height)
    milli = (pods["num_gpus"] * pods["gpu_milli"]).to_numpy()[order]
    n = int(np.searchsorted(np.cumsum(milli), 1.3 * lay.n_gpus * 1000)) + 1
    sub = pods[order[:n]]
    table = JobTable.from_arrays(
        np.arange(n, dtype=float),
        np.full(n, 1e7),
        sub["num_gpus"].to_numpy(),
        gpus_per_node=sub["gpus_per_node"].to_numpy(),
        gpu_milli=sub["gpu_milli"].to_numpy(),
        cpu_milli=sub["cpu_milli"].to_numpy(),
        memory_b=sub["memory_b"].to_numpy(),
    )
    frag, placed_milli = {}, {}
    for name, placement in (
        ("best-fit", BestFit()),
        ("random-fit", RandomFit()),
        ("fgd", FragmentationGradientDescent()),
    ):
        policy = LayeredPolicy(name, scheduling=_SkipWhatDoesNotFit(), placement=placement)
        out = run(lay, table, policy=policy, until_s=float(n + 10))
        placed = out.job["first_start_s"] >= 0
        frag[name] = out.fgd_frag_gpu_s
        placed_milli[name] = int((table.num_gpus * table.gpu_milli)[placed].sum())
        assert _ledger_sum_gpu_s(out) == pytest.approx(lay.n_gpus * out.horizon_s, rel=1e-9)
    assert frag["fgd"] < frag["best-fit"] < frag["random-fit"]
    assert placed_milli["fgd"] >= placed_milli["best-fit"] > placed_milli["random-fit"]


class _CheckedFgd(FragmentationGradientDescent):
    """FGD that checks each share it places against the measure computed directly."""

    def __init__(self):
        super().__init__()
        self.checked = 0

    def _place_share(self, view, job, free):
        gpus = super()._place_share(view, job, free)
        if gpus is None:
            return None
        g = int(gpus[0])
        cand = self._share_candidates(view, job, free)  # every GPU that could take the share
        lay, milli = view.layout, int(view.jobs.gpu_milli[job])
        cpu_req = int(view.jobs.cpu_milli[job])

        def change(gpu):
            node = int(lay.gpu_node[gpu])
            a, n = int(lay.node_first_gpu[node]), int(lay.node_n_gpus[node])
            row = np.zeros(self._max_gpus, dtype=np.int64)
            row[:n] = free.gpu_milli[a : a + n]
            cpu = int(free.node_cpu_free_milli[node])
            model = np.array([lay.node_sku_idx[node]] * 2)
            after = row.copy()
            after[gpu - a] -= milli
            f = node_frag_milli(
                np.stack([row, after]), np.array([cpu, cpu - cpu_req]), model, self._typical
            )
            return f[1] - f[0]

        best = min(change(int(c)) for c in cand)
        assert change(g) == pytest.approx(best, abs=1e-6)
        self.checked += 1
        return gpus


def test_fgd_gives_a_share_the_gpu_whose_node_fragments_least():
    """Three 8-GPU nodes with 64 cores each; 120 random jobs (shares of 100-900 milli, whole
    1-2 GPU jobs, 1-24 cores) under FGD: every share goes to a GPU whose node's fragmentation
    (the paper's measure in milli-GPU, computed directly for every GPU that fits) rises least,
    to 1e-6 milli: the scores FGD keeps per node state and job shape are the measure's."""
    rng = np.random.default_rng(15)
    n = 120
    submit = np.sort(rng.uniform(0, 5_000, n))
    num = rng.choice([1, 1, 1, 2], n)
    milli = np.where(num == 1, rng.choice([100, 300, 500, 700, 900, 1000], n), 1000)
    table = jobs(
        np.column_stack([submit, rng.exponential(2_000.0, n), num]),
        gpu_milli=milli,
        cpu_milli=rng.choice([1_000, 4_000, 8_000, 24_000], n),
    )
    lay = dataclasses.replace(
        layout(servers_per_rack=3), node_cpu_milli=np.array([64_000, 64_000, 64_000])
    )
    placement = _CheckedFgd()
    out = run(lay, table, policy=LayeredPolicy("fgd", scheduling=Fifo(), placement=placement))
    assert placement.checked >= 60
    assert np.isfinite(out.job["first_start_s"]).all()
