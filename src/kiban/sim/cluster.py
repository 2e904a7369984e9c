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

GPU shares (issue 15): a job whose ``gpu_milli`` is below 1000 shares one GPU with other such
jobs up to 1000 milli. Such a GPU is marked :data:`~kiban.vocabulary.GPU_SHARED` in ``gpu_job``
(neither free nor held by one job), ``gpu_tenants`` lists its jobs and ``gpu_milli_free`` the
milli left on it; it leaves the free count when its first tenant comes and returns when its last
goes. ``shared_free_milli`` (Σ milli left on shared GPUs) is the unused remainder the ledger
books as free GPU time. Where the layout states node CPU and memory, jobs' ``cpu_milli`` and
``memory_b`` are taken from their nodes (``node_cpu_free_milli``, ``node_memory_free_b``).
Whole-GPU jobs without host requests never touch this machinery. MIG instances (a job's
``mig_profile``) are the fixed-partition variant: :meth:`ClusterState.take_mig` puts a GPU in
MIG mode (also ``GPU_SHARED``, with 0 milli left so no milli share lands there) and
``mig`` (:class:`~kiban.sim.mig_state.MigState`) keeps its slices. With shares or CPU in play the
fragmentation is the paper's measure in milli-GPU (:func:`kiban.workload.packing.node_frag_milli`)
per node, recomputed for the nodes that changed, instead of the whole-GPU table.
"""

from __future__ import annotations

import bisect
import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from kiban.mig import MIG_COMPUTE_SLICES
from kiban.sim.mig_state import MigState
from kiban.vocabulary import GPU_DOWN, GPU_FREE, GPU_SHARED, MILLI_PER_GPU
from kiban.workload.packing import (
    job_typical_pods,
    model_requirements,
    node_frag_milli,
    table_typical_pods,
    whole_gpu_frag_table,
)

if TYPE_CHECKING:
    from kiban._typing import BoolArray, FloatArray, IntArray
    from kiban.sim.jobs import JobTable
    from kiban.sim.layout import ClusterLayout

__all__ = ["ClusterState", "Placement"]

_NO_CPU_LIMIT = np.iinfo(np.int64).max // 4
"""Free CPU of a node whose CPU is not modelled (never binds)."""
_NODE_LOG_MAX = 1 << 16
"""Changed nodes :attr:`ClusterState.node_log` keeps before it is emptied (at a time step)."""


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
        self.node_log: list[int] = []
        """Nodes whose GPUs, shares or host CPU/memory changed, in order (repeats kept):
        appended wherever the fragmentation is told of a change (every take and release).
        Readers hold a mark (:meth:`change_mark`) and ask what changed since."""
        self.node_log_base = 0
        """Mark of ``node_log[0]``: the log is emptied now and then (long runs)."""
        # GPU shares and host resources (issue 15; untouched by whole-GPU jobs)
        self.gpu_milli_free: IntArray = np.zeros(n_gpus, dtype=np.int64)
        self.gpu_tenants: dict[int, list[int]] = {}
        self.shared_free_milli = 0
        self.node_cpu_free_milli: IntArray | None = (
            None if layout.node_cpu_milli is None else layout.node_cpu_milli.copy()
        )
        self.node_memory_free_b: FloatArray | None = (
            None if layout.node_memory_b is None else layout.node_memory_b.copy()
        )
        self.host_version = 0
        """Counts the times host CPU or memory came free or a node came back (readers retry)."""
        self._jobs = jobs
        self._layout = layout
        self._cpu_milli_list: list[int] = jobs.cpu_milli.tolist()
        self._memory_b_list: list[float] = jobs.memory_b.tolist()
        self._gpu_left: IntArray | None = None
        self.mig: MigState | None = MigState(layout, jobs) if jobs.any_mig else None
        """MIG instances (:mod:`kiban.sim.mig_state`); None in runs without MIG jobs."""
        self.time_sliced = False
        """Shares of a GPU are CUDA time-slices (set by :mod:`kiban.sim.time_slice`)."""
        if jobs.any_shared:
            self._track_left()
        host = jobs.host_pods
        uses_cpu = self.node_cpu_free_milli is not None and bool(
            (jobs.cpu_milli > 0).any() or (host is not None and (host.cpu_milli > 0).any())
        )
        if jobs.any_shared or uses_cpu:
            self._milli_mode(jobs, layout, mask[which], max_gpus, uses_cpu=uses_cpu)

    def _milli_mode(
        self,
        jobs: JobTable,
        layout: ClusterLayout,
        allowed: BoolArray,
        max_gpus: int,
        *,
        uses_cpu: bool,
    ) -> None:
        """Fragmentation in milli-GPU per node (shares or CPU requests in the run)."""
        self._typical = table_typical_pods(jobs, allowed, max_gpus, uses_cpu=uses_cpu)
        self._uses_cpu = uses_cpu
        # the measure only asks whether a node's free CPU covers each target pod's CPU: a node
        # state keeps the largest target CPU at or below its free CPU (same value, fewer states)
        # (CPU-only target pods count a node's free GPU milli whatever its CPU: no step)
        gpu_shapes = self._typical.gpu_milli > 0
        self._cpu_steps: list[int] = sorted(set(self._typical.cpu_milli[gpu_shapes].tolist()))
        self._max_gpus = max_gpus
        self._frag_memo: dict[tuple[int, ...], float] = {}
        n_nodes = layout.n_nodes
        node_frag = self._frag_of(np.arange(n_nodes))
        self.fgd_frag_gpus = float(node_frag.sum())
        self._node_frag: list[float] = node_frag.tolist()
        self._frag_dirty: set[int] = set()
        self._node_first_list: list[int] = layout.node_first_gpu.tolist()
        self._node_end_list: list[int] = (layout.node_first_gpu + layout.node_n_gpus).tolist()
        self._node_pad: list[tuple[int, ...]] = [
            (0,) * (max_gpus - n) for n in layout.node_n_gpus.tolist()
        ]
        """Per node, the zeros that pad its GPUs' milli left to the widest node."""
        self._frag1 = self._frag1_milli  # type: ignore[method-assign]
        self._frag_many = self._frag_many_milli  # type: ignore[method-assign]

    def gpu_left_all(self) -> IntArray:
        """:meth:`gpu_milli_left` of every GPU (kept as GPUs change in runs with shares)."""
        if self._gpu_left is not None:
            return self._gpu_left
        return self.gpu_milli_left(np.arange(self.gpu_job.shape[0]))

    def _track_left(self) -> None:
        """Runs with shares: keep every GPU's milli left current (placement reads it often)."""
        self._gpu_left = self.gpu_milli_left(np.arange(self.gpu_job.shape[0]))
        left = self._gpu_left
        take1, take, release = self.take1, self.take, self.release
        fail, repair = self.fail_node, self.repair_node
        share_take, share_release = self.take_share, self.release_share

        def take1_t(j: int, g: int, node: int, rack: int, cap_w: float) -> None:
            take1(j, g, node, rack, cap_w)
            left[g] = 0

        def take_t(j: int, where: Placement, cap_w: float) -> None:
            take(j, where, cap_w)
            if where.gpus.shape[0] == 1:
                left[int(where.gpus[0])] = 0
            else:
                left[where.gpus] = 0

        def release_t(where: Placement, cap_w: float) -> None:
            release(where, cap_w)
            if where.gpus.shape[0] == 1:
                left[int(where.gpus[0])] = MILLI_PER_GPU
            else:
                left[where.gpus] = MILLI_PER_GPU

        def fail_t(node: int, first_gpu: int, n_gpus: int) -> None:
            fail(node, first_gpu, n_gpus)
            left[first_gpu : first_gpu + n_gpus] = 0

        def repair_t(node: int, first_gpu: int, n_gpus: int) -> None:
            repair(node, first_gpu, n_gpus)
            left[first_gpu : first_gpu + n_gpus] = MILLI_PER_GPU

        def share_take_t(j: int, g: int, *, node: int, rack: int, cap_w: float, milli: int) -> None:
            share_take(j, g, node=node, rack=rack, cap_w=cap_w, milli=milli)
            left[g] = self.gpu_milli_free[g]

        def share_release_t(
            j: int, g: int, *, node: int, rack: int, cap_w: float, milli: int
        ) -> None:
            share_release(j, g, node=node, rack=rack, cap_w=cap_w, milli=milli)
            left[g] = MILLI_PER_GPU if self.gpu_job[g] == GPU_FREE else self.gpu_milli_free[g]

        self.take1 = take1_t  # type: ignore[method-assign]
        self.take = take_t  # type: ignore[method-assign]
        self.release = release_t  # type: ignore[method-assign]
        self.fail_node = fail_t  # type: ignore[method-assign]
        self.repair_node = repair_t  # type: ignore[method-assign]
        self.take_share = share_take_t  # type: ignore[method-assign]
        self.release_share = share_release_t  # type: ignore[method-assign]

    def gpu_milli_left(self, gpus: IntArray) -> IntArray:
        """Milli-GPU left on each of ``gpus``: 1000 free, the remainder of a shared GPU, else 0."""
        job = self.gpu_job[gpus]
        return np.where(
            job == GPU_FREE,
            MILLI_PER_GPU,
            np.where(job == GPU_SHARED, self.gpu_milli_free[gpus], 0),
        )

    def milli_left(self, g: int) -> int:
        """:meth:`gpu_milli_left` of one GPU."""
        job = int(self.gpu_job[g])
        if job == GPU_FREE:
            return MILLI_PER_GPU
        return int(self.gpu_milli_free[g]) if job == GPU_SHARED else 0

    def _frag_of(self, nodes: IntArray) -> FloatArray:
        """Fragmentation (GPUs) of ``nodes`` now, by the measure in milli-GPU."""
        lay = self._layout
        first = lay.node_first_gpu[nodes]
        size = lay.node_n_gpus[nodes]
        col = np.arange(self._max_gpus)
        gpus = np.minimum(first[:, None] + col[None, :], lay.n_gpus - 1)
        left = np.where(col[None, :] < size[:, None], self.gpu_milli_left(gpus), 0)
        if self._uses_cpu and self.node_cpu_free_milli is not None:
            cpu = np.array(
                [self._cpu_class(c) for c in self.node_cpu_free_milli[nodes].tolist()],
                dtype=np.int64,
            )
        else:
            cpu = np.full(nodes.shape[0], _NO_CPU_LIMIT, dtype=np.int64)
        model = np.where(self.node_up[nodes], self._node_sku[nodes], -1)
        # the measure depends on the multiset of milli left, the CPU left and the model: node
        # states repeat, so each distinct one is computed once per run
        memo = self._frag_memo
        keys = [
            (m, c, *sorted(row))
            for m, c, row in zip(model.tolist(), cpu.tolist(), left.tolist(), strict=True)
        ]
        miss = [i for i, k in enumerate(keys) if k not in memo]
        if miss:
            idx = np.asarray(miss, dtype=np.int64)
            vals = node_frag_milli(left[idx], cpu[idx], model[idx], self._typical)
            for i, v in zip(miss, vals.tolist(), strict=True):
                memo[keys[i]] = v / MILLI_PER_GPU
        return np.array([memo[k] for k in keys], dtype=np.float64)

    def _frag_node(self, node: int) -> float:
        """:meth:`_frag_of` for one node, with plain Python values (the common case)."""
        a = self._node_first_list[node]
        b = self._node_end_list[node]
        if self._gpu_left is not None:  # kept current (flushes happen before any change)
            left = sorted(self._gpu_left[a:b].tolist())
        else:
            left = sorted(
                MILLI_PER_GPU if j == GPU_FREE else (m if j == GPU_SHARED else 0)
                for j, m in zip(
                    self.gpu_job[a:b].tolist(), self.gpu_milli_free[a:b].tolist(), strict=True
                )
            )
        cpu_free = self.node_cpu_free_milli
        cpu = (
            self._cpu_class(int(cpu_free[node]))
            if self._uses_cpu and cpu_free is not None
            else _NO_CPU_LIMIT
        )
        model = self._node_sku_list[node] if self.node_up[node] else -1
        key = (model, cpu, *left, *self._node_pad[node])
        val = self._frag_memo.get(key)
        if val is None:
            left += self._node_pad[node]
            val = float(
                node_frag_milli(
                    np.array([left], dtype=np.int64),
                    np.array([cpu], dtype=np.int64),
                    np.array([model], dtype=np.int64),
                    self._typical,
                )[0]
                / MILLI_PER_GPU
            )
            self._frag_memo[key] = val
        return val

    def _cpu_class(self, cpu: int) -> int:
        """The largest target-pod CPU ≤ ``cpu`` (-1 below them all): the measure is the same."""
        i = bisect.bisect_right(self._cpu_steps, cpu)
        return self._cpu_steps[i - 1] if i else -1

    def _frag_flush(self) -> None:
        if self._frag_dirty:
            node_frag = self._node_frag
            total = 0.0
            for node in self._frag_dirty:
                new = self._frag_node(node)
                total += new - node_frag[node]
                node_frag[node] = new
            self._frag_dirty.clear()
            self.fgd_frag_gpus += total

    def _frag1_milli(self, node: int, delta_free: int) -> None:
        del delta_free  # recomputed from the node's state when next needed
        if self.time_s != self._frag_t:
            self._frag_flush()
            self._frag_time_moved()
        self._frag_dirty.add(node)
        self.node_log.append(node)

    def _frag_many_milli(self, nodes: IntArray, delta_free: IntArray) -> None:
        del delta_free
        if self.time_s != self._frag_t:
            self._frag_flush()
            self._frag_time_moved()
        changed = nodes.tolist()
        self._frag_dirty.update(changed)
        self.node_log.extend(changed)

    def jobs_on(self, first_gpu: int, n_gpus: int) -> IntArray:
        """The jobs holding GPUs ``first_gpu .. first_gpu + n_gpus - 1`` (tenants included)."""
        held = self.gpu_job[first_gpu : first_gpu + n_gpus]
        jobs = np.unique(held[held >= 0])
        if self.gpu_tenants and (held == GPU_SHARED).any():
            shared = np.flatnonzero(held == GPU_SHARED) + first_gpu
            tenants = [j for g in shared.tolist() for j in self.gpu_tenants[g]]
            jobs = np.unique(np.concatenate([jobs, np.asarray(tenants, dtype=np.int64)]))
        return jobs

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
        # the head of the queue (FIFO starts) without a search
        pos = 0 if n and buf[0] == j else int(buf[:n].searchsorted(j))
        if pos < n - 1:
            buf[pos : n - 1] = buf[pos + 1 : n].copy()
        self.n_pending = n - 1
        self.pending_version += 1

    # --- fragmentation ----------------------------------------------------------------------------
    def _frag1(self, node: int, delta_free: int) -> None:
        """Node ``node``'s free GPUs change by ``delta_free``: move the fragmentation sum."""
        if self.time_s != self._frag_t:
            self._frag_time_moved()
        self.node_log.append(node)
        row = self._frag_rows[self._node_sku_list[node]]
        f = int(self.node_free[node])
        self.fgd_frag_gpus += row[f + delta_free] - row[f]

    def _frag_many(self, nodes: IntArray, delta_free: IntArray) -> None:
        if self.time_s != self._frag_t:
            self._frag_time_moved()
        self.node_log.extend(nodes.tolist())
        sku = self._node_sku[nodes]
        f = self.node_free[nodes]
        self.fgd_frag_gpus += float(
            (self.frag_table[sku, f + delta_free] - self.frag_table[sku, f]).sum()
        )

    def change_mark(self) -> int:
        """A mark of the allocation now, for :meth:`nodes_changed_since`."""
        return self.node_log_base + len(self.node_log)

    def nodes_changed_since(self, mark: int) -> list[int] | None:
        """Nodes whose GPUs, shares or host CPU/memory changed since ``mark``; None: unknown.

        ``mark`` is a :meth:`change_mark`; repeats are possible; None when the log no longer
        reaches back that far. Changes made through this class's methods only (not by writing
        its arrays).
        """
        i = mark - self.node_log_base
        return None if i < 0 else self.node_log[i:]

    def _frag_time_moved(self) -> None:
        """Time moved since the last change: book the fragmentation held since then.

        A long change log is emptied here (readers holding older marks then compare everything).
        """
        self.fgd_frag_gpu_s += self.fgd_frag_gpus * (self.time_s - self._frag_t)
        self._frag_t = self.time_s
        if len(self.node_log) > _NODE_LOG_MAX:
            self.node_log_base += len(self.node_log)
            self.node_log = []

    def fgd_frag_gpu_s_until(self, t_s: float) -> float:
        """Time integral of the fragmentation (GPU·s) from 0 to ``t_s``."""
        if hasattr(self, "_frag_dirty"):
            self._frag_flush()
        return self.fgd_frag_gpu_s + self.fgd_frag_gpus * max(t_s - self._frag_t, 0.0)

    # --- GPUs -----------------------------------------------------------------------------------
    def take1(self, j: int, g: int, node: int, rack: int, cap_w: float) -> None:
        """Job ``j`` takes GPU ``g`` (on ``node`` in ``rack``), reserving ``cap_w``."""
        self._frag1(node, -1)
        self.gpu_job[g] = j
        self.gpu_version += 1
        self.node_free[node] -= 1
        self.n_free_gpus -= 1
        self.rack_gpu_alloc_w[rack] += cap_w

    def take(self, j: int, where: Placement, cap_w: float) -> None:
        """Job ``j`` takes the GPUs of ``where``, reserving ``cap_w`` per GPU."""
        if where.nodes.shape[0] == 1:  # one node: scalar updates
            node, k = int(where.nodes[0]), int(where.gpus.shape[0])
            self._frag1(node, -k)
            if k == 1:
                self.gpu_job[int(where.gpus[0])] = j
            else:
                self.gpu_job[where.gpus] = j
            self.gpu_version += 1
            self.node_free[node] -= k
            self.n_free_gpus -= k
            self.rack_gpu_alloc_w[int(where.racks[0])] += k * cap_w
            return
        self._frag_many(where.nodes, -where.counts)
        self.gpu_job[where.gpus] = j
        self.gpu_version += 1
        self.node_free[where.nodes] -= where.counts
        self.n_free_gpus -= int(where.gpus.shape[0])
        np.add.at(self.rack_gpu_alloc_w, where.racks, where.counts * cap_w)

    def release(self, where: Placement, cap_w: float) -> None:
        """Free a job's GPUs and its power reservation of ``cap_w`` per GPU."""
        gpus, nodes = where.gpus, where.nodes
        k = int(gpus.shape[0])
        if nodes.shape[0] == 1:  # one node: scalar updates
            node = int(nodes[0])
            self._frag1(node, k)
            if k == 1:
                self.gpu_job[int(gpus[0])] = GPU_FREE
            else:
                self.gpu_job[gpus] = GPU_FREE
            self.gpu_version += 1
            self.node_free[node] += k
            self.rack_gpu_alloc_w[int(where.racks[0])] -= k * cap_w
            self.n_free_gpus += k
            return
        self._frag_many(nodes, where.counts)
        self.gpu_job[gpus] = GPU_FREE
        self.gpu_version += 1
        self.node_free[nodes] += where.counts
        np.subtract.at(self.rack_gpu_alloc_w, where.racks, where.counts * cap_w)
        self.n_free_gpus += k

    # --- shares and host resources (issue 15) ----------------------------------------------------
    def take_share(self, j: int, g: int, *, node: int, rack: int, cap_w: float, milli: int) -> None:
        """Job ``j`` takes ``milli`` of GPU ``g`` (free or shared) and its share of ``cap_w``."""
        if self.gpu_job[g] == GPU_FREE:
            self._frag1(node, -1)
            self.gpu_job[g] = GPU_SHARED
            self.gpu_milli_free[g] = MILLI_PER_GPU
            self.gpu_tenants[g] = []
            self.node_free[node] -= 1
            self.n_free_gpus -= 1
            self.shared_free_milli += MILLI_PER_GPU
        else:
            self._frag1(node, 0)
        self.gpu_milli_free[g] -= milli
        self.shared_free_milli -= milli
        self.gpu_tenants[g].append(j)
        self.rack_gpu_alloc_w[rack] += cap_w * milli / MILLI_PER_GPU

    def release_share(
        self, j: int, g: int, *, node: int, rack: int, cap_w: float, milli: int
    ) -> None:
        """Job ``j`` leaves its share of GPU ``g``; the last tenant leaving frees the GPU."""
        self._frag1(node, 0)
        tenants = self.gpu_tenants[g]
        tenants.remove(j)
        self.gpu_milli_free[g] += milli
        self.shared_free_milli += milli
        self.rack_gpu_alloc_w[rack] -= cap_w * milli / MILLI_PER_GPU
        if not tenants:
            del self.gpu_tenants[g]
            self.gpu_job[g] = GPU_FREE
            self.gpu_milli_free[g] = 0
            self.node_free[node] += 1
            self.n_free_gpus += 1
            self.shared_free_milli -= MILLI_PER_GPU

    def take_mig(self, j: int, g: int, *, node: int, rack: int, cap_w: float) -> None:
        """Job ``j``'s MIG instance is created on GPU ``g`` (free, or in MIG mode).

        A free GPU enters MIG mode (``GPU_SHARED``, leaving the free count); the instance's
        start is the geometry's choice (:meth:`kiban.sim.mig_state.MigState.start_on`) and the
        rack reserves ``cap_w`` × its share (compute slices / 7).
        """
        mig = self.mig
        assert mig is not None  # a run with MIG jobs
        first = bool(self.gpu_job[g] == GPU_FREE)
        if first:
            self._frag1(node, -1)
            self.gpu_job[g] = GPU_SHARED
            self.gpu_version += 1
            self.gpu_tenants[g] = []
            self.node_free[node] -= 1
            self.n_free_gpus -= 1
            if self._gpu_left is not None:
                self._gpu_left[g] = 0
        else:
            self._frag1(node, 0)
        mig.take(j, g, first=first)
        self.gpu_tenants[g].append(j)
        self.rack_gpu_alloc_w[rack] += cap_w * mig.job_slices[j] / MIG_COMPUTE_SLICES

    def release_mig(self, j: int, g: int, *, node: int, rack: int, cap_w: float) -> None:
        """Job ``j``'s MIG instance on GPU ``g`` goes; the last one leaving frees the GPU."""
        mig = self.mig
        assert mig is not None
        self._frag1(node, 0)
        self.gpu_tenants[g].remove(j)
        self.rack_gpu_alloc_w[rack] -= cap_w * mig.job_slices[j] / MIG_COMPUTE_SLICES
        if mig.release(j, g):
            del self.gpu_tenants[g]
            self.gpu_job[g] = GPU_FREE
            self.gpu_version += 1
            self.node_free[node] += 1
            self.n_free_gpus += 1
            if self._gpu_left is not None:
                self._gpu_left[g] = MILLI_PER_GPU

    def hold_host(self, node: int, cpu_milli: int, memory_b: float, sign: int = 1) -> None:
        """A CPU-only pod takes (``sign`` 1) or gives back (-1) CPU and memory on ``node``."""
        self._frag1(node, 0)
        if self.node_cpu_free_milli is not None:
            self.node_cpu_free_milli[node] -= sign * cpu_milli
        if self.node_memory_free_b is not None:
            self.node_memory_free_b[node] -= sign * memory_b
        if sign < 0:
            self.host_version += 1

    def take_host(self, j: int, nodes: IntArray, sign: int = 1) -> None:
        """Job ``j`` takes (``sign`` 1) or gives back (-1) its CPU and memory on ``nodes``."""
        if sign < 0:
            self.host_version += 1
        if nodes.shape[0] == 1:  # most jobs: scalar updates
            node = int(nodes[0])
            self._frag1(node, 0)
            if self.node_cpu_free_milli is not None:
                self.node_cpu_free_milli[node] -= sign * self._cpu_milli_list[j]
            if self.node_memory_free_b is not None:
                self.node_memory_free_b[node] -= sign * self._memory_b_list[j]
            return
        self._frag_many(nodes, nodes * 0)
        if self.node_cpu_free_milli is not None:
            self.node_cpu_free_milli[nodes] -= sign * int(self._jobs.cpu_milli[j])
        if self.node_memory_free_b is not None:
            self.node_memory_free_b[nodes] -= sign * float(self._jobs.memory_b[j])

    def reserve_more(self, racks: IntArray, counts: IntArray | FloatArray, delta_w: float) -> None:
        """A running job's per-GPU cap changed by ``delta_w``: move its rack reservations."""
        np.add.at(self.rack_gpu_alloc_w, racks, counts * delta_w)

    # --- nodes ----------------------------------------------------------------------------------
    def fail_node(self, node: int, first_gpu: int, n_gpus: int) -> None:
        """Node down (its jobs already stopped): its GPUs are neither free nor held."""
        self._frag1(node, -int(self.node_free[node]))
        self.node_up[node] = False
        self.gpu_job[first_gpu : first_gpu + n_gpus] = GPU_DOWN
        self.gpu_version += 1
        self.n_free_gpus -= int(self.node_free[node])
        self.node_free[node] = 0
        self.n_down_gpus += n_gpus

    def repair_node(self, node: int, first_gpu: int, n_gpus: int) -> None:
        """Node back up with every GPU free."""
        self._frag1(node, n_gpus - int(self.node_free[node]))
        self.host_version += 1
        self.node_up[node] = True
        self.gpu_job[first_gpu : first_gpu + n_gpus] = GPU_FREE
        self.gpu_version += 1
        self.node_free[node] = n_gpus
        self.n_free_gpus += n_gpus
        self.n_down_gpus -= n_gpus
