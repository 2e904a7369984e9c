"""Shared storage: caches that fill, node cache capacity, CPU preprocessing, and the file system.

:class:`SharedStorage` owns everything between a job's GPUs and its data (physics.md §5):

* **Node caches, enforced.** Each node's local cache (``ClusterLayout.node_cache_b``, the
  scenario's ``storage.local_nvme_cache_tb``, checked against the server's NVMe in the catalog)
  is split among the jobs on it. By default a job gets its GPUs' share of each node's cache, so
  a node never gives out more than it holds. A policy's ``Decision.cache_b`` is a *request*:
  the job is granted at most what its nodes still have free (first come, first granted), never
  more than the nodes hold (:meth:`SharedStorage.cache_granted_b`).
* **Caches warm up.** A job that (re)starts finds its cache cold: during its first epoch every
  read misses (random order without repetition), the cache keeps the first bytes it saw
  (CoorDL's MinIO: no eviction, no thrashing), and once the job has read its data set once the
  hit ratio is min(1, C/D) (:func:`~kiban.physics.storage_io.warm_cache_hit_frac`). The switch
  is an event (``EventKind.STORAGE``) at the time the job's progress reaches one epoch.
* **CPU preprocessing can bind.** A job's input pipeline gets its GPUs' share of the host cores
  (catalog ``ServerModel.host_cpu_cores``); at ``SimSettings.prep_b_per_s_per_core`` per core
  (:data:`~kiban.physics.storage_io.DEFAULT_PREP_B_PER_S_PER_CORE`) it prepares at most
  ``cores · r_core`` bytes/s, so a job whose GPUs eat faster runs at ``s_prep < 1``.
* **One file system for reads, checkpoints and restores.** At a settle the file system's
  bandwidth is split max-min fairly (weights: the jobs' I/O weights) among every computing
  job's remote reads, every checkpointing job's average write stream and every restore in
  progress (:func:`~kiban.physics.storage_io.maxmin_share_b_per_s`). A read stream granted less
  than it needs slows its job (``Slots.set_io_speed``); a checkpoint stream granted less makes
  its writes longer (``Slots.set_ckpt_frac``); a restore granted less ends later
  (``Slots.set_phase_end``).

Every stall lands in the ledger through the slot's shares: input waits (file system, cache
misses, CPU preprocessing) as ``io_stall``, longer checkpoint writes as ``checkpoint``, longer
restores as ``failure`` (the restore phase after a failure).

The per-GPU input rate of the job table is read as the rate on the reference GPU (an A100
SXM 80 GB, as the job model's vision archetype; with
``SimSettings.input_rate_reference_memory_bw_b_per_s = None`` the rates hold on every GPU); a
job on another GPU model reads in proportion to its published ResNet-50 training throughput
(catalog ``GpuSku.resnet50_train_img_per_s``: P40 0.096×, V100 0.47×, H100 2.06×), or to its
memory bandwidth where none is published (:func:`~kiban.physics.storage_io.input_rate_scale`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from kiban.physics.storage_io import input_rate_scale, water_level
from kiban.sim.constants import PHASE_COMPUTE, PHASE_FAIL
from kiban.sim.events import EventKind

if TYPE_CHECKING:
    from kiban._typing import FloatArray, IntArray
    from kiban.sim.events import EventQueue
    from kiban.sim.slots import Slots
    from kiban.sim.tables import RunInputs

__all__ = ["SharedStorage"]

_C_MAX = 0.999  # a checkpoint share never reaches 1 (the job must still make progress)


class SharedStorage:
    """Node caches, warm-up, CPU preprocessing and the file-system share (module docstring).

    Args:
        inputs: The run's static inputs (settings' bandwidths, the jobs' input rates, data set
            and checkpoint sizes, the nodes' caches and host cores).
        queue: The event queue, for the cache warm-up events; None: caches are warm at once
            (hit ratio min(1, C/D) from the start, the old twin).
    """

    def __init__(self, inputs: RunInputs, queue: EventQueue | None = None) -> None:
        jobs, hw, jt, settings = inputs.jobs, inputs.hw, inputs.jt, inputs.settings
        lay = hw.layout
        n = jobs.n_jobs
        self._jobs, self._hw, self._jt = jobs, hw, jt
        self._queue = queue if settings.cache_warmup else None
        self.capacity_b_per_s = settings.storage_bandwidth_b_per_s
        self._fs_finite = math.isfinite(self.capacity_b_per_s)
        self.job_cache_b: FloatArray = np.full(n, math.nan)  # NaN: the nodes' own caches
        self.job_io_weight: FloatArray = np.ones(n)
        self.limited = False
        # per GPU model: input-rate scale; per node: host cores per GPU (inf: not known)
        sku_bw = np.array([float(s.memory_bw_b_per_s) for s in lay.skus])
        sku_img = np.array([float(s.resnet50_train_img_per_s) for s in lay.skus])
        self._sku_scale: FloatArray = input_rate_scale(
            sku_bw, settings.input_rate_reference_memory_bw_b_per_s, sku_img
        )
        cores = np.array(
            [float(lay.servers[s].host_cpu_cores) for s in lay.node_server_idx.tolist()]
        )
        per_gpu = cores / np.maximum(hw.node_n, 1)
        self._node_prep_b_per_s_per_gpu: FloatArray = np.where(
            cores > 0, per_gpu * settings.prep_b_per_s_per_core, math.inf
        )
        self.node_cache_b: FloatArray = np.asarray(hw.node_cache_b, dtype=np.float64)
        self.node_held_b: FloatArray = np.zeros(lay.n_nodes)
        self._cache_list: list[float] = self.node_cache_b.tolist()
        self._prep_list: list[float] = self._node_prep_b_per_s_per_gpu.tolist()
        self._sku_scale_list: list[float] = self._sku_scale.tolist()
        self._any_cache = bool(self.node_cache_b.max() > 0) if lay.n_nodes else False
        # per job, static
        self._rate: FloatArray = np.maximum(jobs.input_rate_b_per_s_per_gpu, 0.0)
        self._data_b: FloatArray = np.maximum(jobs.dataset_size_b, 0.0)
        self._rate_list: list[float] = self._rate.tolist()
        self._data_list: list[float] = self._data_b.tolist()
        size = np.maximum(np.asarray(jobs.checkpoint_size_b, dtype=np.float64), 0.0)
        interval = np.asarray(jobs.checkpoint_interval_s, dtype=np.float64)
        self._ckpt_size_b: FloatArray = size
        self._ckpt_interval_s: FloatArray = interval
        write_s = np.asarray(jt.ckpt_write_s, dtype=np.float64)
        ckpts = (size > 0) & (interval > 0) & np.isfinite(write_s)
        with np.errstate(divide="ignore", invalid="ignore"):
            # average write stream while computing: one checkpoint of S per (I + t_write)
            self._ckpt_b_per_s: FloatArray = np.where(
                ckpts, size / np.where(ckpts, interval + write_s, 1.0), 0.0
            )
        self._ckpt_tab: FloatArray = np.column_stack(
            (self._ckpt_b_per_s, size, interval, np.asarray(jt.ckpt_frac, dtype=np.float64))
        )
        self._restore_b_per_s = min(
            settings.checkpoint_bandwidth_b_per_s, settings.storage_bandwidth_b_per_s
        )
        prep_possible = bool(np.isfinite(self._node_prep_b_per_s_per_gpu).any())
        reads = bool((self._rate > 0).any())
        self.active = bool(
            (self._fs_finite and (reads or bool(ckpts.any()))) or (prep_possible and reads)
        )
        # per job, while running
        self.job_prep_frac: FloatArray = np.ones(n)  # s_prep of its placement
        self.job_warm: np.ndarray = np.zeros(n, dtype=bool)
        self._p0_s: FloatArray = np.zeros(n)  # progress when it (re)started
        self._warm_due_s: FloatArray = np.full(n, math.nan)
        self._held: dict[int, tuple[IntArray, FloatArray]] = {}
        self._requests = False  # a policy asked for a cache share: track holds per node
        self._prep_pending: list[int] = []  # opened, prep-limited: s_io to set at the settle
        self._cold: set[int] = set()  # opened while the file system bound no one: warm-up due
        self._ckpt_running_b_per_s = 0.0  # Σ running jobs' checkpoint streams
        self._n_restoring = 0  # jobs opened with a restore (until they close): a bound
        self._restoring: np.ndarray = np.zeros(n, dtype=bool)
        self._restore_left_b: FloatArray = np.zeros(n)
        self._restore_x_b_per_s: FloatArray = np.zeros(n)
        self._restore_t_s: FloatArray = np.zeros(n)

    # --- caches ---------------------------------------------------------------------------------
    def _default_share_b(self, nodes: IntArray, counts: IntArray) -> FloatArray:
        """Per node, the cache a job's GPUs are entitled to: their share of the node's cache."""
        hw = self._hw
        return self.node_cache_b[nodes] * counts / hw.node_n[nodes]

    def _start_tracking(self, slots_jobs: list[tuple[int, IntArray, IntArray]]) -> None:
        """The first cache request: hold every running job's default share from now on."""
        self._requests = True
        for j, nodes, counts in slots_jobs:
            share = self._default_share_b(nodes, counts)
            self._held[j] = (nodes, share)
            np.add.at(self.node_held_b, nodes, share)

    def cache_granted_b(self, j: int, nodes: IntArray, counts: IntArray) -> float:
        """Cache job ``j`` gets on ``nodes``; held (replacing its old grant) when tracking.

        Without a policy request the job gets its GPUs' share of each node's cache. With a
        request (``Decision.cache_b``) it gets at most the request and at most what its nodes
        have free after the other running jobs' grants: the nodes never give out more than
        they hold.
        """
        request = float(self.job_cache_b[j])
        if not self._requests:
            if math.isnan(request):
                if nodes.shape[0] == 1:  # one node (most jobs): scalar arithmetic
                    node = int(nodes[0])
                    return self._cache_list[node] * int(counts[0]) / self._hw.node_n_list[node]
                return float(self._default_share_b(nodes, counts).sum())
            self._start_tracking([])
        old = self._held.pop(j, None)
        if old is not None:
            np.subtract.at(self.node_held_b, old[0], old[1])
        free = np.maximum(self.node_cache_b[nodes] - self.node_held_b[nodes], 0.0)
        if math.isnan(request):
            take = np.minimum(self._default_share_b(nodes, counts), free)
        else:
            total_free = float(free.sum())
            want = min(request, total_free)
            take = free * (want / total_free) if total_free > 0 else np.zeros_like(free)
        self._held[j] = (nodes, take)
        np.add.at(self.node_held_b, nodes, take)
        return float(take.sum())

    def hit_frac(self, j: int, cache_b: float) -> float:
        """Hit ratio of job ``j`` with ``cache_b``: 0 while cold, min(1, C/D) once warm."""
        if self._queue is not None and not self.job_warm[j]:
            return 0.0
        data_b = self._data_list[j]
        return min(1.0, max(cache_b, 0.0) / data_b) if data_b > 0 else 1.0

    # --- demand ---------------------------------------------------------------------------------
    def demand_b_per_s(self, j: int, k: int, nodes: IntArray, counts: IntArray) -> float:
        """Remote (file-system) bytes per second of job ``j`` on ``k`` GPUs at full speed.

        Per-GPU input rate × GPUs; for an elastic job with a goodput profile, × the GPUs its
        throughput on ``k`` is worth (``JobTables.data_gpus``): input follows examples read.

        Also fixes the job's cache grant on ``nodes`` and its CPU-preprocessing limit there.
        """
        if not self.active:
            return 0.0
        rate = self._rate_list[j]
        if rate <= 0.0:
            if self._requests:
                self.cache_granted_b(j, nodes, counts)
            return 0.0
        node = int(nodes[0])
        k_data = self._jt.data_gpus(j, k, int(nodes.shape[0])) if self._jt.has_profile[j] else k
        need_b_per_s = rate * self._sku_scale_list[self._hw.node_sku_list[node]] * k_data
        if nodes.shape[0] == 1:
            prep = self._prep_list[node] * int(counts[0])
        else:
            prep = float((self._node_prep_b_per_s_per_gpu[nodes] * counts).sum())
        self.job_prep_frac[j] = min(1.0, prep / need_b_per_s) if need_b_per_s > 0 else 1.0
        cache = self.cache_granted_b(j, nodes, counts)
        return need_b_per_s * (1.0 - self.hit_frac(j, cache))

    # --- life cycle (called by the job runner) --------------------------------------------------
    def on_open(self, j: int, i: int, slots: Slots, t_s: float) -> None:
        """Job ``j`` opened slot ``i``: a cold cache, its prep limit and its file-system flows."""
        if not self.active:
            return
        if self.job_prep_frac[j] < 1.0:
            self._prep_pending.append(j)
        self._ckpt_running_b_per_s += float(self._ckpt_b_per_s[j])
        if slots.phase[i] == PHASE_FAIL and self._ckpt_size_b[j] > 0:
            self._restoring[j] = True
            self._n_restoring += 1
            self._restore_left_b[j] = self._ckpt_size_b[j]
            self._restore_x_b_per_s[j] = self._restore_b_per_s
            self._restore_t_s[j] = t_s
        self._p0_s[j] = float(slots.job_progress_s[j])
        if self.limited:
            self._schedule_warm(j, i, slots, t_s)
        else:
            # while the file system binds no one a job's demand changes no speed: its warm-up
            # is looked at only when the file system is next shared (exact, see share)
            self._cold.add(j)

    def on_close(self, j: int) -> None:
        """Job ``j`` left its GPUs: its cache goes cold and its grant is released."""
        if not self.active:
            return
        self.job_warm[j] = False
        self._warm_due_s[j] = math.nan
        self._cold.discard(j)
        self.job_prep_frac[j] = 1.0
        self._restore_left_b[j] = 0.0
        self._ckpt_running_b_per_s -= float(self._ckpt_b_per_s[j])
        if self._restoring[j]:
            self._restoring[j] = False
            self._n_restoring -= 1
        old = self._held.pop(j, None)
        if old is not None:
            np.subtract.at(self.node_held_b, old[0], old[1])

    # --- warm-up --------------------------------------------------------------------------------
    def _epoch_progress_s(self, j: int) -> float:
        """Full-speed seconds of work in which job ``j`` reads its data set once."""
        per_s = self._rate_list[j] * self._jt.num_gpus_list[j]
        return self._data_list[j] / per_s if per_s > 0 else math.inf

    def _schedule_warm(self, j: int, i: int, slots: Slots, t_s: float) -> None:
        if self._queue is None or self.job_warm[j] or self._rate[j] <= 0:
            return
        if not self._any_cache and not self._requests:
            return  # no cache anywhere: warm or cold, every read misses
        done_s = float(slots.job_progress_s[j]) + float(slots.acc[i, 0]) - self._p0_s[j]
        left_s = self._epoch_progress_s(j) - done_s
        if not math.isfinite(left_s):
            return
        if left_s <= 1e-9 * self._epoch_progress_s(j):
            self._warm(j, i, slots, t_s)
            return
        work_left_s = (
            float(self._jt.duration_list[j])
            - float(slots.job_progress_s[j])
            - float(slots.acc[i, 0])
        )
        if left_s >= work_left_s:
            return  # the job ends before it has read its data set once: never warm (exact)
        # when the epoch ends at the job's progress rate now (at its top rate while it restores;
        # a later check re-predicts if it ran slower)
        rate = float(slots.rate[i, 0])
        if rate <= 0.0:
            rate = (1.0 - float(slots.ckpt_frac[i])) * float(slots.scale_frac[i])
        if rate <= 0.0:
            return
        due = t_s + left_s / rate
        if not math.isfinite(due) or due <= t_s:
            self._warm(j, i, slots, t_s)
            return
        self._warm_due_s[j] = due
        self._queue.schedule(due, EventKind.STORAGE, j)

    def _warm(self, j: int, i: int, slots: Slots, t_s: float) -> None:
        self.job_warm[j] = True
        self._warm_due_s[j] = math.nan
        nodes, counts = slots.job_nodes[j], slots.job_node_counts[j]
        assert nodes is not None  # running job
        assert counts is not None
        slots.set_io_demand(i, t_s, self.demand_b_per_s(j, int(slots.n_gpus[i]), nodes, counts))

    def on_event(self, j: int, slots: Slots, t_s: float) -> None:
        """A warm-up check of job ``j`` is due (``EventKind.STORAGE``); stale ones are ignored."""
        if self._warm_due_s[j] != t_s:
            return
        i = int(slots.job_slot[j])
        if i < 0:
            return
        slots.book(i, t_s)
        self._schedule_warm(j, i, slots, t_s)

    # --- the file-system share -----------------------------------------------------------------
    def share(self, slots: Slots, t_s: float) -> None:
        """Share the file system max-min among reads, checkpoints and restores; re-rate slots."""
        n = slots.n
        if n == 0:
            slots.resync_io_total(0.0)
            self._prep_pending.clear()
            return
        cap = self.capacity_b_per_s
        bound = self._ckpt_running_b_per_s + self._n_restoring * self._restore_b_per_s
        if not self.limited and slots.io_now_total_b_per_s + bound <= cap * (1.0 - 1e-9):
            self._apply_prep(slots, t_s)
            return
        self._prep_pending.clear()
        if self._cold:
            self._wake_cold(slots, t_s)
        jobs = slots.job[:n]
        phase = slots.phase[:n]
        comp = phase == PHASE_COMPUTE
        s_c = slots.s_cap[:n] * slots.s_thermal[:n]
        s_pre = self.job_prep_frac[jobs]
        full = slots.io_demand_b_per_s[:n]
        read = np.where(comp, full * np.minimum(s_c, s_pre), 0.0)
        # the jobs' checkpoint constants, one gather: stream, size, interval, c0
        ck_tab = self._ckpt_tab[jobs]
        ck = np.where(comp, ck_tab[:, 0], 0.0)
        if self._n_restoring:
            elapsed = t_s - self._restore_t_s[jobs]
            left = np.maximum(
                self._restore_left_b[jobs] - self._restore_x_b_per_s[jobs] * elapsed, 0.0
            )
            restoring = (phase == PHASE_FAIL) & (left > 0)
            rs = np.where(restoring, self._restore_b_per_s, 0.0)
        else:  # no job opened with a restore: no bytes left to read anywhere (exact)
            restoring = np.zeros(n, dtype=bool)
            rs = np.zeros(n)
        w = slots.io_weight[:n]
        demand = np.concatenate((read, ck, rs))
        slots.resync_io_total(float(read.sum()))
        if float(demand.sum()) <= cap:
            alloc = demand
        else:
            # maxmin_share_b_per_s, its level found among the non-zero demands only (most
            # jobs neither checkpoint nor restore: a third of the sort; the same level)
            d = np.maximum(demand, 0.0)
            ws = np.maximum(np.concatenate((w, w, w)), 1e-300)
            on = (d > 0.0).nonzero()[0]
            level = water_level(d[on], ws[on], max(float(cap), 0.0)) if on.shape[0] else 0.0
            alloc = np.minimum(d, ws * level)
        a_read, a_ck, a_rs = alloc[:n], alloc[n : 2 * n], alloc[2 * n :]
        reading = read > 0
        ck_on = ck > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            s_io = np.where(reading, a_read / np.where(full > 0, full, 1.0), s_pre)
            if ck_on.any():
                # checkpoint writes granted less than they need take longer: c = 1 − x·I/S
                size = ck_tab[:, 1]
                c0 = ck_tab[:, 3]
                ck_short = ck_on & (a_ck < ck * (1.0 - 1e-12))
                c_slow = 1.0 - a_ck * ck_tab[:, 2] / np.where(size > 0, size, 1.0)
                # np.clip(c_slow, c0, _C_MAX), written as its definition (fewer calls)
                c_new = np.where(ck_short, np.minimum(np.maximum(c_slow, c0), _C_MAX), c0)
                ck_limited = bool(ck_short.any())
            else:  # no running job checkpoints: every share is its own c0
                c_new = ck_tab[:, 3]
                ck_limited = False
        s_io = np.minimum(np.minimum(s_io, s_pre), 1.0)
        short = reading & (a_read < read * (1.0 - 1e-12))
        self.limited = bool(short.any()) or ck_limited
        if self._n_restoring:
            self.limited = self.limited or bool((restoring & (a_rs < rs * (1.0 - 1e-12))).any())
        changed = (np.abs(s_io - slots.s_io[:n]) > 1e-12).nonzero()[0]
        if changed.shape[0]:
            slots.set_io_speed(changed, s_io[changed], t_s)
        changed = (comp & (np.abs(c_new - slots.ckpt_frac[:n]) > 1e-12)).nonzero()[0]
        if changed.shape[0]:
            slots.set_ckpt_frac(changed, c_new[changed], t_s)
        if self._n_restoring:
            for pos in restoring.nonzero()[0].tolist():
                self._restore_rate(slots, pos, float(a_rs[pos]), t_s)

    def _wake_cold(self, slots: Slots, t_s: float) -> None:
        """The file system may bind: jobs opened while it bound no one get their warm-up now.

        Those past their first epoch warm at once (their demand before did not matter: the file
        system covered it), the others get their warm-up event.
        """
        for j in sorted(self._cold):
            i = int(slots.job_slot[j])
            if i >= 0:
                slots.book(i, t_s)
                self._schedule_warm(j, i, slots, t_s)
        self._cold.clear()

    def _apply_prep(self, slots: Slots, t_s: float) -> None:
        """The file system binds no one: opened prep-limited jobs run at their prep speed."""
        if not self._prep_pending:
            return
        for j in self._prep_pending:
            i = int(slots.job_slot[j])
            if i >= 0 and abs(slots.s_io[i] - self.job_prep_frac[j]) > 1e-12:
                slots.set_io_speed(np.array([i]), np.array([self.job_prep_frac[j]]), t_s)
        self._prep_pending.clear()

    def _restore_rate(self, slots: Slots, pos: int, x_b_per_s: float, t_s: float) -> None:
        """A restore now reads at ``x``: its bytes left and its end move accordingly."""
        j = int(slots.job[pos])
        old_x = float(self._restore_x_b_per_s[j])
        left = float(self._restore_left_b[j]) - old_x * (t_s - float(self._restore_t_s[j]))
        left = max(left, 0.0)
        self._restore_left_b[j] = left
        self._restore_t_s[j] = t_s
        if x_b_per_s == old_x or left <= 0.0 or x_b_per_s <= 0.0:
            return
        self._restore_x_b_per_s[j] = x_b_per_s
        end = float(slots.phase_end_s[pos]) + left / x_b_per_s - left / old_x
        slots.set_phase_end(pos, max(end, t_s))
