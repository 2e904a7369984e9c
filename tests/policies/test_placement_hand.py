"""Placement layers on hand-made free states: which node each one picks, and why."""

from __future__ import annotations

import numpy as np
import pytest
from tests.sim.helpers import jobs, layout

from kiban.catalog import default_catalog
from kiban.policies.base import FreeState, PolicyContext
from kiban.policies.placement import BestFit, FirstFit, FragmentationGradientDescent, RandomFit
from kiban.policies.registry import make_policy
from kiban.sim import ClusterLayout, Simulator


def make_view(lay, table, busy):
    """busy: node -> GPUs already taken (by a fake job 10**6)."""
    sim = Simulator(lay, table, make_policy("policy", "fifo-static"))
    st = sim.state
    for node, k in busy.items():
        a = int(lay.node_first_gpu[node])
        st.gpu_job[a : a + k] = 10**6
        st.node_free[node] -= k
        st.n_free_gpus -= k
    return sim.view


def ctx(lay, table, seed=0):
    return PolicyContext(
        layout=lay,
        jobs=table,
        rng=np.random.default_rng(seed),
        checkpoint_write_s=np.zeros(table.n_jobs),
    )


def place(policy, view, job):
    gpus = policy.place(view, job, FreeState.from_view(view))
    return None if gpus is None else sorted(view.layout.gpu_node[gpus].tolist())


def test_first_fit_takes_the_lowest_node_and_best_fit_the_tightest():
    lay = layout(servers_per_rack=3)
    table = jobs([(0, 10, 2), (0, 10, 2)], gpus_per_node=[2, 0])
    view = make_view(lay, table, {0: 2, 1: 5})  # free: 6, 3, 8
    ff, bf = FirstFit(), BestFit()
    ff.reset(ctx(lay, table))
    bf.reset(ctx(lay, table))
    for job in (0, 1):  # shaped (2 per node) and free-shaped single-node jobs alike
        assert place(ff, view, job) == [0, 0]
        assert place(bf, view, job) == [1, 1]


def test_a_spread_job_fills_nodes_in_policy_order():
    lay = layout(servers_per_rack=3)
    table = jobs([(0, 10, 12)])
    view = make_view(lay, table, {0: 2, 1: 5})  # free: 6, 3, 8
    ff, bf = FirstFit(), BestFit()
    ff.reset(ctx(lay, table))
    bf.reset(ctx(lay, table))
    assert place(ff, view, 0) == [0] * 6 + [1] * 3 + [2] * 3  # index order
    assert place(bf, view, 0) == [0] * 4 + [2] * 8  # fewest nodes: the emptiest first


def test_whole_node_jobs_need_free_nodes_and_report_when_none():
    lay = layout(servers_per_rack=3)
    table = jobs([(0, 10, 16)], gpus_per_node=[8])
    view = make_view(lay, table, {0: 1})
    ff = FirstFit()
    ff.reset(ctx(lay, table))
    assert place(ff, view, 0) == [1] * 8 + [2] * 8
    view = make_view(lay, table, {0: 1, 2: 1})  # 22 GPUs free, but one whole node only
    assert place(ff, view, 0) is None


def test_random_fit_uses_every_feasible_node_and_only_those():
    lay = layout(servers_per_rack=4)
    table = jobs([(0, 10, 4)], gpus_per_node=[4])
    view = make_view(lay, table, {1: 6})  # node 1 cannot take 4
    rf = RandomFit()
    rf.reset(ctx(lay, table, seed=3))
    seen = {place(rf, view, 0)[0] for _ in range(60)}
    assert seen == {0, 2, 3}


def test_rack_budget_keeps_gpus_out_of_a_full_rack():
    """Two racks of one DGX H100; a 9 kW rack limit leaves room for a few GPUs at TDP only."""
    lay = layout(n_racks=2, servers_per_rack=1, rack_power_limit_w=9_000.0)
    budget = lay.rack_gpu_budget_w[0]
    fits = int(budget // lay.skus[0].tdp_w)
    assert 0 < fits < 8
    table = jobs([(0, 10, fits), (0, 10, fits)], gpus_per_node=[fits, fits])
    view = make_view(lay, table, {})
    ff = FirstFit()
    ff.reset(ctx(lay, table))
    free = FreeState.from_view(view)
    first = ff.place(view, 0, free)
    assert first is not None
    free.rack_gpu_alloc_w[0] += fits * lay.skus[0].tdp_w  # as the allocator would
    free.node_free[0] -= fits
    free.gpu_free[first] = False
    second = ff.place(view, 1, free)
    assert second is not None
    assert set(lay.gpu_node[second].tolist()) == {1}  # rack 0 has no budget left


@pytest.mark.parametrize("cls", [FirstFit, BestFit, RandomFit])
def test_gpu_model_constraint_is_respected(cls):
    cat = default_catalog()
    a100, h100 = cat.server("dgx-a100"), cat.server("dgx-h100")
    lay = ClusterLayout(
        name="mixed",
        skus=(cat.gpu("a100-sxm-80gb"), cat.gpu("h100-sxm")),
        servers=(a100, h100),
        node_server_idx=np.array([0, 1]),
        node_rack_idx=np.array([0, 0]),
        rack_names=("r0",),
        rack_row_idx=np.array([0]),
        row_names=("row0",),
        rack_x_m=np.array([0.0]),
        rack_y_m=np.array([0.0]),
        rack_power_limit_w=np.array([np.inf]),
        rack_cooling_limit_w=np.array([np.inf]),
        rack_liquid_capture_frac=np.array([0.0]),
    )
    table = jobs([(0, 10, 4)], gpu_model=["h100-sxm"])
    view = make_view(lay, table, {})
    pol = cls()
    pol.reset(ctx(lay, table))
    assert place(pol, view, 0) == [1] * 4


def _mixed_layout():
    cat = default_catalog()
    a100, h100 = cat.server("dgx-a100"), cat.server("dgx-h100")
    return ClusterLayout(
        name="mixed",
        skus=(cat.gpu("a100-sxm-80gb"), cat.gpu("h100-sxm")),
        servers=(a100, h100, h100),
        node_server_idx=np.array([0, 1, 1]),
        node_rack_idx=np.array([0, 0, 0]),
        rack_names=("r0",),
        rack_row_idx=np.array([0]),
        row_names=("row0",),
        rack_x_m=np.array([0.0]),
        rack_y_m=np.array([0.0]),
        rack_power_limit_w=np.array([np.inf]),
        rack_cooling_limit_w=np.array([np.inf]),
        rack_liquid_capture_frac=np.array([0.0]),
    )


@pytest.mark.parametrize("cls", [FirstFit, BestFit, RandomFit])
def test_gpu_model_alternatives_mean_the_same_to_simulator_and_placement(cls):
    """'A|B' (openb's gpu_spec) allows either model in placement and in the simulator; a list
    naming no model of the cluster is unschedulable in both (issue 15)."""
    lay = _mixed_layout()
    table = jobs(
        [(0, 10, 8), (0, 10, 8), (0, 10, 2)],
        gpu_model=["b200|h100-sxm", "v100|a100-sxm-80gb|h100-sxm", "v100|mi250"],
    )
    view = make_view(lay, table, {1: 8})  # h100 node 1 is full
    pol = cls()
    pol.reset(ctx(lay, table))
    assert place(pol, view, 0) == [2] * 8  # only h100 allowed: node 2
    assert place(pol, view, 1) in ([0] * 8, [2] * 8)
    assert place(pol, view, 2) is None
    sim = Simulator(lay, table, make_policy("policy", "fifo-static"))
    jt = sim.jt
    assert jt.sku_ok(int(jt.req_sku[0]), lay.node_sku_idx).tolist() == [False, True, True]
    assert jt.req_sku[1] <= -3  # a pattern of two models
    assert jt.sku_ok(int(jt.req_sku[1]), lay.node_sku_idx).all()
    assert jt.unschedulable.tolist() == [False, False, True]


def test_fgd_keeps_free_gpus_usable_where_best_fit_strands_them():
    """Target workload: half 1-GPU jobs, half jobs of 4 GPUs on one node. Free GPUs per node
    8, 5, 2, 6. A 4-GPU job: best-fit takes the tightest node (5 → 1 free: one GPU a 4-GPU job
    cannot use); FGD takes the node whose fragmentation does not grow (8 → 4), by the paper's
    measure F = f × P(job needs more than f) (Weng et al., ATC 2023, §4)."""
    lay = layout(servers_per_rack=4)
    table = jobs([(0, 10, 1), (0, 10, 1), (0, 10, 4), (0, 10, 4)], gpus_per_node=[0, 0, 4, 4])
    view = make_view(lay, table, {1: 3, 2: 6, 3: 2})  # free: 8, 5, 2, 6
    fgd, bf = FragmentationGradientDescent(), BestFit()
    fgd.reset(ctx(lay, table))
    bf.reset(ctx(lay, table))
    assert place(bf, view, 2) == [1] * 4
    assert place(fgd, view, 2) == [0] * 4
    # fragmentation table: f free GPUs of the one model → f × P(per-node need > f)
    assert fgd._frag[0, :6].tolist() == pytest.approx([0, 0.5, 1.0, 1.5, 0, 0])
    # a 1-GPU job goes where it sheds fragmentation: the node with 2 free (2 → 1: 1.0 → 0.5)
    assert place(fgd, view, 0) == [2]


def test_allocator_placements_in_one_decision_see_each_other_and_leave_the_view_alone():
    """The allocator writes a placement into its free state when the state is next read: the
    next placement, ``n_free`` and ``free`` see it, and the view's arrays never change."""
    from kiban.policies.base import Allocator  # noqa: PLC0415

    lay = layout(servers_per_rack=2)
    table = jobs([(0, 10, 8), (0, 10, 4), (0, 10, 4), (0, 10, 4)])
    view = make_view(lay, table, {0: 2})  # free: 6, 8
    ff = FirstFit()
    ff.reset(ctx(lay, table))
    before = (view.node_free.copy(), view.gpu_job.copy(), view.free_gpus)
    alloc = Allocator(view, ff)
    first = alloc.try_place(0)  # 8 GPUs: only node 1 has them
    assert first is not None
    assert set(lay.gpu_node[first].tolist()) == {1}
    assert alloc.n_free == 6
    second = alloc.try_place(1)  # 4 GPUs: node 0, where 6 are free
    assert second is not None
    assert set(lay.gpu_node[second].tolist()) == {0}
    assert alloc.try_place(2) is None  # 2 GPUs left on node 0, none on node 1
    assert alloc.free.node_free.tolist() == [2, 0]
    assert not alloc.free.gpu_free[np.concatenate((first, second))].any()
    assert set(alloc.free.taken) == {0, 1}
    assert view.node_free.tolist() == before[0].tolist()
    assert (view.gpu_job == before[1]).all()
    assert view.free_gpus == before[2]
