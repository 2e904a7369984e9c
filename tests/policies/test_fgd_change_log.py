"""FGD's node states follow the run's change log: after every sync they equal the states
computed from scratch from the free state the placement was handed.

The placement looks only at nodes the view's change log and the free state's own tentative
changes name (:meth:`FragmentationGradientDescent._log_changed`); a node missed there would
keep a stale state and could be scored wrongly.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from tests.policies._fgd_case import mixed_fgd_case
from tests.sim.helpers import jobs, layout, run

from kiban.policies.base import FreeState, PolicyContext
from kiban.policies.layered import LayeredPolicy
from kiban.policies.placement import _UNNUMBERED, FragmentationGradientDescent
from kiban.policies.registry import make_policy
from kiban.policies.scheduling import Fifo
from kiban.sim import Simulator
from kiban.sim.cluster import ClusterState


class _CheckedSync(FragmentationGradientDescent):
    """FGD that recomputes every node's state from scratch after each sync and compares."""

    def __init__(self):
        super().__init__()
        self.synced = 0
        self.by_log = 0

    def _sync(self, left, cpu_free, view, free):
        by_log = self._log_view is view and self._log_mark is not None
        super()._sync(left, cpu_free, view, free)
        self.by_log += by_log
        self.synced += 1
        cpu_free = cpu_free if self._uses_cpu else None
        for node in range(len(self._node_first)):
            a, b = self._node_first[node], self._node_end[node]
            if cpu_free is None:
                cpu = int(np.iinfo(np.int64).max // 4)
            else:
                below = [t for t in self._cpu_breaks if t <= int(cpu_free[node])]
                cpu = below[-1] if below else -1
            key = (self._node_sku_list[node], cpu, *sorted(left[a:b].tolist() + self._pad[node]))
            state = int(self._node_state[node])
            if state == _UNNUMBERED:
                assert self._unnumbered[node] == key
            else:
                assert self._state_keys[state] == key


def test_fgd_node_states_follow_the_change_log():
    """Four 8-GPU nodes with 64 cores each; 200 random jobs (shares of 100-900 milli, whole
    1-4 GPU jobs, 1-24 cores) under FGD: after every one of its syncs (almost all by the log)
    each node's state is the one its free GPUs and CPU give."""
    lay, table = mixed_fgd_case(
        seed=7, n=200, submit_span_s=4_000, share_milli=[100, 300, 500, 900, 1000]
    )
    placement = _CheckedSync()
    run(lay, table, policy=LayeredPolicy("fgd", scheduling=Fifo(), placement=placement))
    assert placement.synced >= 100
    assert placement.by_log >= placement.synced - 1  # the first sync compares everything


def test_fgd_forgets_tentative_placements_of_a_free_state_it_no_longer_sees():
    """Two 8-GPU nodes: a share placed tentatively in one free state (never started) moves a
    node's state; the next free state read from the unchanged view has it back."""
    lay = dataclasses.replace(
        layout(servers_per_rack=2), node_cpu_milli=np.full(2, 64_000, dtype=np.int64)
    )
    table = jobs(
        [(0, 10, 1), (0, 10, 1), (0, 10, 1)],
        gpu_milli=[500, 300, 1000],
        cpu_milli=[4_000, 1_000, 8_000],
        gpus_per_node=[1, 1, 1],
    )
    view = Simulator(lay, table, make_policy("policy", "fifo-static")).view
    fgd = _CheckedSync()
    fgd.reset(
        PolicyContext(
            layout=lay,
            jobs=table,
            rng=np.random.default_rng(0),
            checkpoint_write_s=np.zeros(table.n_jobs),
        )
    )
    first = FreeState.from_view(view)
    gpus = fgd.place(view, 0, first)
    assert gpus is not None
    first.take(view, 0, gpus)  # tentative: the view does not change
    assert fgd.place(view, 1, first) is not None  # sees the share taken
    assert fgd.place(view, 2, FreeState.from_view(view)) is not None  # the share is gone
    assert fgd.by_log == 2  # both later syncs followed the log (and states were checked)


def test_cluster_change_log_names_the_nodes_changed_since_a_mark():
    """Takes, shares and host CPU on a two-node cluster: the log names exactly those nodes."""
    lay = dataclasses.replace(
        layout(servers_per_rack=2), node_cpu_milli=np.full(2, 64_000, dtype=np.int64)
    )
    table = jobs([(0, 10, 1), (0, 10, 1)], gpu_milli=[500, 1000], cpu_milli=[1_000, 2_000])
    st = ClusterState(lay, table)
    mark = st.change_mark()
    assert st.nodes_changed_since(mark) == []
    st.take_share(0, 9, node=1, rack=0, cap_w=700.0, milli=500)
    assert st.nodes_changed_since(mark) == [1]
    mid = st.change_mark()
    st.take_host(1, np.array([0]))
    assert st.nodes_changed_since(mark) == [1, 0]
    assert st.nodes_changed_since(mid) == [0]
    st.node_log_base = mid + 1  # emptied past ``mark``: unknown
    assert st.nodes_changed_since(mark) is None
