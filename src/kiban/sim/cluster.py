"""Who holds what: GPUs and nodes, the jobs' life cycle and the waiting queue.

:class:`ClusterState` is the allocation component of a run. It owns, per GPU, the job holding
it (or :data:`~kiban.vocabulary.GPU_FREE` / :data:`~kiban.vocabulary.GPU_DOWN`); per node,
free GPUs and up/down; per rack, the GPU power reserved against its budget; per job, its
life-cycle state (:mod:`kiban.vocabulary`), start/end/queue times, power cap, restarts and
preemptions; and the queue of waiting jobs in arrival order. Every change goes through its
methods. Policies read it through :class:`kiban.sim.state.ClusterView`.

It also keeps the cluster's fragmentation by the measure of Weng et al. (USENIX ATC 2023): the
expected number of free GPUs that a job drawn from the run's own job shapes could not use
(:func:`kiban.workload.packing.whole_gpu_frag_table`), updated node by node as GPUs are taken
and freed, and its time integral ``fgd_frag_gpu_s`` (GPU·s), reported per run.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from kiban.vocabulary import GPU_DOWN, GPU_FREE
from kiban.workload.packing import job_typical_pods, model_requirements, whole_gpu_frag_table

if TYPE_CHECKING:
    from kiban._typing import BoolArray, FloatArray, IntArray
    from kiban.sim.jobs import JobTable
    from kiban.sim.layout import ClusterLayout

__all__ = ["ClusterState", "Placement"]


class Placement(NamedTuple):
    """Where a running job sits.

    Attributes:
        gpus: Its GPUs.
        nodes: The nodes of those GPUs (sorted, unique).
        counts: GPUs on each of ``nodes``.
        racks: The rack of each of ``nodes``.
    """

    gpus: IntArray
    nodes: IntArray
    counts: IntArray
    racks: IntArray


class ClusterState:
    """Allocation, job life cycle and queue of one run (see the module docstring).

    Args:
        layout: The cluster.
        jobs: The jobs.
    """

    def __init__(self, layout: ClusterLayout, jobs: JobTable) -> None:
        n_gpus, n_nodes, n_racks, n_jobs = (
            layout.n_gpus,
            layout.n_nodes,
            layout.n_racks,
            jobs.n_jobs,
        )
        self.time_s = 0.0
        # GPUs, nodes, racks
        self.gpu_job: IntArray = np.full(n_gpus, GPU_FREE, dtype=np.int64)
        self.gpu_version = 0
        """Counts changes of ``gpu_job`` (readers cache on it)."""
        self.node_free: IntArray = layout.node_n_gpus.copy()
        self.node_up: BoolArray = np.ones(n_nodes, dtype=bool)
        self.rack_gpu_alloc_w: FloatArray = np.zeros(n_racks)
        self.n_free_gpus = n_gpus
        self.n_down_gpus = 0
        # jobs
        self.job_state = np.zeros(n_jobs, dtype=np.int8)
        self.job_first_start_s: FloatArray = np.full(n_jobs, math.nan)
        self.job_end_s: FloatArray = np.full(n_jobs, math.nan)
        self.job_pending_since_s: FloatArray = np.full(n_jobs, math.nan)
        self.job_restarts: IntArray = np.zeros(n_jobs, dtype=np.int64)
        self.job_preemptions: IntArray = np.zeros(n_jobs, dtype=np.int64)
        self.job_restore_kind = np.zeros(n_jobs, dtype=np.int8)  # 0 none, 2 failure
        self.job_power_cap_w: FloatArray = np.full(n_jobs, math.nan)
        # pending queue: sorted job indices (= arrival order) in pending_buf[:n_pending]
        self.pending_buf: IntArray = np.zeros(max(n_jobs, 1), dtype=np.int64)
        self.n_pending = 0
        self.arrived = 0
        self.pending_version = 0
        # FGD fragmentation: table (model, free GPUs) → fragmented GPUs, its current sum, integral
        which, mask = model_requirements(jobs.gpu_model, [k.name for k in layout.skus])
        max_gpus = int(layout.node_n_gpus.max(initial=1))
        typical = job_typical_pods(
            np.asarray(jobs.min_num_gpus, dtype=np.int64),
            np.asarray(jobs.gpus_per_node, dtype=np.int64),
            mask[which],
            max_gpus,
        )
        self.frag_table: FloatArray = whole_gpu_frag_table(typical, len(layout.skus), max_gpus)
        self._node_sku = layout.node_sku_idx
        self._node_sku_list: list[int] = layout.node_sku_idx.tolist()
        self._frag_rows: list[list[float]] = self.frag_table.tolist()
        self.fgd_frag_gpus = float(self.frag_table[self._node_sku, self.node_free].sum())
        self.fgd_frag_gpu_s = 0.0
        self._frag_t = 0.0

    # --- queue ----------------------------------------------------------------------------------
    def pend_add(self, j: int) -> None:
        """Put job ``j`` in the queue, keeping arrival order (O(queue) memmove, no Python loop)."""
        n = self.n_pending
        buf = self.pending_buf
        if n == 0 or buf[n - 1] < j:
            buf[n] = j
        else:
            pos = int(np.searchsorted(buf[:n], j))
            buf[pos + 1 : n + 1] = buf[pos:n].copy()
            buf[pos] = j
        self.n_pending = n + 1
        self.pending_version += 1

    def pend_remove(self, j: int) -> None:
        """Take job ``j`` out of the queue."""
        n = self.n_pending
        buf = self.pending_buf
        pos = int(np.searchsorted(buf[:n], j))
        if pos < n - 1:
            buf[pos : n - 1] = buf[pos + 1 : n].copy()
        self.n_pending = n - 1
        self.pending_version += 1

    # --- fragmentation ----------------------------------------------------------------------------
    def _frag1(self, node: int, delta_free: int) -> None:
        """Node ``node``'s free GPUs change by ``delta_free``: move the fragmentation sum."""
        if self.time_s != self._frag_t:
            self.fgd_frag_gpu_s += self.fgd_frag_gpus * (self.time_s - self._frag_t)
            self._frag_t = self.time_s
        row = self._frag_rows[self._node_sku_list[node]]
        f = int(self.node_free[node])
        self.fgd_frag_gpus += row[f + delta_free] - row[f]

    def _frag_many(self, nodes: IntArray, delta_free: IntArray) -> None:
        if self.time_s != self._frag_t:
            self.fgd_frag_gpu_s += self.fgd_frag_gpus * (self.time_s - self._frag_t)
            self._frag_t = self.time_s
        sku = self._node_sku[nodes]
        f = self.node_free[nodes]
        self.fgd_frag_gpus += float(
            (self.frag_table[sku, f + delta_free] - self.frag_table[sku, f]).sum()
        )

    def fgd_frag_gpu_s_until(self, t_s: float) -> float:
        """Time integral of the fragmentation (GPU·s) from 0 to ``t_s``."""
        return self.fgd_frag_gpu_s + self.fgd_frag_gpus * max(t_s - self._frag_t, 0.0)

    # --- GPUs -----------------------------------------------------------------------------------
    def take1(self, j: int, g: int, node: int, rack: int, cap_w: float) -> None:
        """Job ``j`` takes GPU ``g`` (on ``node`` in ``rack``), reserving ``cap_w``."""
        self.gpu_job[g] = j
        self.gpu_version += 1
        self._frag1(node, -1)
        self.node_free[node] -= 1
        self.n_free_gpus -= 1
        self.rack_gpu_alloc_w[rack] += cap_w

    def take(self, j: int, where: Placement, cap_w: float) -> None:
        """Job ``j`` takes the GPUs of ``where``, reserving ``cap_w`` per GPU."""
        self.gpu_job[where.gpus] = j
        self.gpu_version += 1
        self._frag_many(where.nodes, -where.counts)
        self.node_free[where.nodes] -= where.counts
        self.n_free_gpus -= int(where.gpus.shape[0])
        np.add.at(self.rack_gpu_alloc_w, where.racks, where.counts * cap_w)

    def release(self, where: Placement, cap_w: float) -> None:
        """Free a job's GPUs and its power reservation of ``cap_w`` per GPU."""
        gpus, nodes = where.gpus, where.nodes
        k = int(gpus.shape[0])
        self.gpu_job[gpus] = GPU_FREE
        self.gpu_version += 1
        if nodes.shape[0] == 1:
            self._frag1(int(nodes[0]), k)
            self.node_free[int(nodes[0])] += k
            self.rack_gpu_alloc_w[int(where.racks[0])] -= k * cap_w
        else:
            self._frag_many(nodes, where.counts)
            self.node_free[nodes] += where.counts
            np.subtract.at(self.rack_gpu_alloc_w, where.racks, where.counts * cap_w)
        self.n_free_gpus += k

    def reserve_more(self, racks: IntArray, counts: IntArray, delta_w: float) -> None:
        """A running job's per-GPU cap changed by ``delta_w``: move its rack reservations."""
        np.add.at(self.rack_gpu_alloc_w, racks, counts * delta_w)

    # --- nodes ----------------------------------------------------------------------------------
    def fail_node(self, node: int, first_gpu: int, n_gpus: int) -> None:
        """Node down (its jobs already stopped): its GPUs are neither free nor held."""
        self.node_up[node] = False
        self.gpu_job[first_gpu : first_gpu + n_gpus] = GPU_DOWN
        self.gpu_version += 1
        self._frag1(node, -int(self.node_free[node]))
        self.n_free_gpus -= int(self.node_free[node])
        self.node_free[node] = 0
        self.n_down_gpus += n_gpus

    def repair_node(self, node: int, first_gpu: int, n_gpus: int) -> None:
        """Node back up with every GPU free."""
        self.node_up[node] = True
        self.gpu_job[first_gpu : first_gpu + n_gpus] = GPU_FREE
        self.gpu_version += 1
        self._frag1(node, n_gpus - int(self.node_free[node]))
        self.node_free[node] = n_gpus
        self.n_free_gpus += n_gpus
        self.n_down_gpus -= n_gpus
