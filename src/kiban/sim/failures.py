"""Node failures and repairs (Poisson process on its own random stream).

The functions are methods of :class:`~kiban.sim.simulator.Simulator` (bound in its class body),
kept here as plain functions so the class stays readable; they read and write the simulator's state
exactly as the methods did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kiban.sim.events import EventKind
from kiban.sim.state import GPU_DOWN, GPU_FREE

if TYPE_CHECKING:
    from kiban.sim.simulator import Simulator


def _schedule_failure(self: Simulator) -> None:
    wait = float(self._rng_fail.exponential(1.0 / self._fail_rate_per_s))
    self._queue.schedule(self._t + wait, EventKind.FAILURE)


def _on_failure(self: Simulator) -> None:
    st = self.state
    node = int(self._rng_fail.integers(self.layout.n_nodes))
    if not self._finished():
        self._schedule_failure()
    if not st.node_up[node]:
        return
    self._counters["failures"] += 1
    a = int(self._node_first[node])
    b = a + int(self._node_n[node])
    victims = np.unique(st.gpu_job[a:b])
    for j in victims[victims >= 0].tolist():
        self._stop(int(j), reason="failure")
    st.node_up[node] = False
    st.gpu_job[a:b] = GPU_DOWN
    st.n_free_gpus -= int(st.node_free[node])
    st.node_free[node] = 0
    st.n_down_gpus += b - a
    self._dirty_nodes.add(node)
    self._n_repairs_pending += 1
    self._queue.schedule(self._t + self.settings.repair_s, EventKind.REPAIR, node)


def _on_repair(self: Simulator, node: int) -> None:
    st = self.state
    a = int(self._node_first[node])
    n = int(self._node_n[node])
    st.node_up[node] = True
    st.gpu_job[a : a + n] = GPU_FREE
    st.node_free[node] = n
    st.n_free_gpus += n
    st.n_down_gpus -= n
    st.node_gpu_power_w[node] = n * self._sku_idle_w[self._node_sku[node]]
    self._dirty_nodes.add(node)
    self._n_repairs_pending -= 1
    self._policy_needed = True
