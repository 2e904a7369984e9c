"""Shared file-system I/O: per-job demand and max-min sharing among running jobs.

The functions are methods of :class:`~kiban.sim.simulator.Simulator` (bound in its class body),
kept here as plain functions so the class stays readable; they read and write the simulator's state
exactly as the methods did.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from kiban.physics.storage_io import cache_hit_frac, maxmin_share_b_per_s
from kiban.sim.constants import PHASE_COMPUTE

if TYPE_CHECKING:
    from kiban._typing import IntArray
    from kiban.sim.simulator import Simulator


def _io_demand(self: Simulator, j: int, k: int, nodes: IntArray, counts: IntArray) -> float:
    """Remote (shared file system) bytes per second of a job at full speed."""
    if not self._io_active:
        return 0.0
    rate = float(self.jobs.input_rate_b_per_s_per_gpu[j]) * k
    if rate <= 0:
        return 0.0
    cache = self._job_cache_b[j]
    if math.isnan(cache) and nodes.shape[0] == 1 and k == self._num_gpus_list[j]:
        return float(self._io_default[j, self._node_cache_class[nodes[0]]])
    cls = self._node_cache_class[nodes]
    if math.isnan(cache) and k == self.jobs.num_gpus[j] and (cls == cls[0]).all():
        hit = float(self._hit[j, cls[0]])
    else:
        if math.isnan(cache):
            cache = float((self._node_cache_b[nodes] * counts / self._node_n[nodes]).sum())
        hit = float(cache_hit_frac(cache, self.jobs.dataset_size_b[j]))
    return rate * (1.0 - hit)


def _io_update(self: Simulator) -> None:
    """Share the file system max-min fairly among running jobs; re-rate the ones that change."""
    st = self.state
    n = st.n_slots
    if n == 0:
        self._io_total_b_per_s = 0.0
        return
    capacity_b_per_s = self.settings.storage_bandwidth_b_per_s
    if not self._io_limited and self._io_total_b_per_s <= capacity_b_per_s * (1.0 - 1e-9):
        return
    comp = st.slot_phase[:n] == PHASE_COMPUTE
    full_b_per_s = st.slot_io_demand_b_per_s[:n]
    s_c = st.slot_s_cap[:n] * st.slot_s_thermal[:n]
    demand_b_per_s = np.where(comp, full_b_per_s * s_c, 0.0)
    self._io_total_b_per_s = float(demand_b_per_s.sum())
    if self._io_total_b_per_s <= capacity_b_per_s:
        new = np.ones(n)
    else:
        alloc_b_per_s = maxmin_share_b_per_s(
            demand_b_per_s, capacity_b_per_s, st.slot_io_weight[:n]
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            new = np.where(
                demand_b_per_s > 0,
                alloc_b_per_s / np.where(full_b_per_s > 0, full_b_per_s, 1.0),
                1.0,
            )
        new = np.minimum(new, 1.0)
    self._io_limited = bool((new < 1.0).any())
    changed = np.flatnonzero(np.abs(new - st.slot_s_io[:n]) > 1e-12)
    if changed.size:
        self._book_many(changed)
        st.slot_s_io[changed] = new[changed]
        self._rates(changed)
