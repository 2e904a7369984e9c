"""Shared storage: each running job's remote input demand and the max-min share of the file system.

:class:`SharedStorage` owns the per-job cache shares and I/O weights a policy granted, the cache
hit tables, and whether the file system currently limits anyone. A job's remote demand at full
speed is its input rate times the cache miss ratio (:meth:`SharedStorage.demand_b_per_s`); at
a settle, when the running set or a speed changed, the file system is shared max-min fairly
(:func:`kiban.physics.storage_io.maxmin_share_b_per_s`) and the slots whose I/O speed changes are
re-rated (:meth:`SharedStorage.share`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from kiban.physics.storage_io import cache_hit_frac, maxmin_share_b_per_s
from kiban.sim.constants import PHASE_COMPUTE

if TYPE_CHECKING:
    from kiban._typing import FloatArray, IntArray
    from kiban.sim.jobs import JobTable
    from kiban.sim.settings import SimSettings
    from kiban.sim.slots import Slots
    from kiban.sim.tables import HardwareTables, JobTables

__all__ = ["SharedStorage"]


class SharedStorage:
    """Cache shares, I/O weights and the file-system share (see the module docstring).

    Args:
        jobs: The jobs.
        hw: Hardware tables.
        jt: Job tables.
        settings: Run settings (``storage_bandwidth_b_per_s``).
    """

    def __init__(
        self, jobs: JobTable, hw: HardwareTables, jt: JobTables, settings: SimSettings
    ) -> None:
        n = jobs.n_jobs
        self._jobs = jobs
        self._hw = hw
        self._jt = jt
        self.capacity_b_per_s = settings.storage_bandwidth_b_per_s
        self.job_cache_b: FloatArray = np.full(n, math.nan)  # NaN: the nodes' own caches
        self.job_io_weight: FloatArray = np.ones(n)
        self.active = bool(
            math.isfinite(settings.storage_bandwidth_b_per_s)
            and (jobs.input_rate_b_per_s_per_gpu > 0).any()
        )
        self.limited = False
        # cache hit ratio of every job on each distinct per-GPU node cache, at its full size
        per_gpu = hw.node_cache_b / hw.node_n
        values, self._node_cache_class = np.unique(per_gpu, return_inverse=True)
        self._hit = np.zeros((n, values.shape[0]))
        if self.active:
            for u, cache_per_gpu in enumerate(values.tolist()):
                self._hit[:, u] = cache_hit_frac(cache_per_gpu * jobs.num_gpus, jobs.dataset_size_b)
        # remote demand of each job at its full size on one node of each cache class (B/s)
        self._io_default = (jobs.input_rate_b_per_s_per_gpu * jobs.num_gpus)[:, None] * (
            1.0 - self._hit
        )

    def demand_b_per_s(self, j: int, k: int, nodes: IntArray, counts: IntArray) -> float:
        """Remote (shared file system) bytes per second of job ``j`` on ``k`` GPUs at full speed."""
        if not self.active:
            return 0.0
        jobs, hw = self._jobs, self._hw
        rate = float(jobs.input_rate_b_per_s_per_gpu[j]) * k
        if rate <= 0:
            return 0.0
        cache = self.job_cache_b[j]
        if math.isnan(cache) and nodes.shape[0] == 1 and k == self._jt.num_gpus_list[j]:
            return float(self._io_default[j, self._node_cache_class[nodes[0]]])
        cls = self._node_cache_class[nodes]
        if math.isnan(cache) and k == jobs.num_gpus[j] and (cls == cls[0]).all():
            hit = float(self._hit[j, cls[0]])
        else:
            if math.isnan(cache):
                cache = float((hw.node_cache_b[nodes] * counts / hw.node_n[nodes]).sum())
            hit = float(cache_hit_frac(cache, jobs.dataset_size_b[j]))
        return rate * (1.0 - hit)

    def share(self, slots: Slots, t_s: float) -> None:
        """Share the file system max-min fairly among running jobs; re-rate those that change."""
        n = slots.n
        if n == 0:
            slots.resync_io_total(0.0)
            return
        capacity_b_per_s = self.capacity_b_per_s
        if not self.limited and slots.io_now_total_b_per_s <= capacity_b_per_s * (1.0 - 1e-9):
            return
        comp = slots.phase[:n] == PHASE_COMPUTE
        full_b_per_s = slots.io_demand_b_per_s[:n]
        s_c = slots.s_cap[:n] * slots.s_thermal[:n]
        demand_b_per_s = np.where(comp, full_b_per_s * s_c, 0.0)
        total_b_per_s = float(demand_b_per_s.sum())
        slots.resync_io_total(total_b_per_s)
        if total_b_per_s <= capacity_b_per_s:
            new = np.ones(n)
        else:
            alloc_b_per_s = maxmin_share_b_per_s(
                demand_b_per_s, capacity_b_per_s, slots.io_weight[:n]
            )
            with np.errstate(divide="ignore", invalid="ignore"):
                new = np.where(
                    demand_b_per_s > 0,
                    alloc_b_per_s / np.where(full_b_per_s > 0, full_b_per_s, 1.0),
                    1.0,
                )
            new = np.minimum(new, 1.0)
        self.limited = bool((new < 1.0).any())
        changed = np.flatnonzero(np.abs(new - slots.s_io[:n]) > 1e-12)
        if changed.size:
            slots.set_io_speed(changed, new[changed], t_s)
