"""The running jobs ("slots"), their speeds, shares and power, and the jobs' time integrals.

:class:`Slots` owns a compact, swap-removed table of the running jobs (``n`` live rows), so
whole-population updates touch only running jobs: per slot its job, GPUs, GPU model, rack,
phase, speed factors and rates, and the integrals since it opened. When a slot closes its
integrals go into the job's (``job_acc``: progress, energy and seconds per loss cause).

A running job has a compute speed ``s_c = s_cap · s_thermal`` (power cap; the clock that holds the
die at its slowdown temperature) and an I/O speed ``s_io`` (max-min share of the file system),
and progresses at ``(1 − c) · min(s_c, s_io)``, ``c`` being the share of time spent writing
checkpoints. Its allocated GPU time splits into the shares ``(1 − c)·s·κ`` (productive),
``(1 − c)·s·(1 − κ)`` (underused: idle inside the job, communication, evaluation; κ is the job's
compute share from :mod:`kiban.physics.activity`), ``(1 − c)(s_c − s)`` (I/O stall),
``(1 − c)(s_cap − s_c)`` (thermal), ``(1 − c)(1 − s_cap)`` (power cap) and ``c`` (checkpoint),
which sum to 1; a restore phase after a failure is all failure. The job's trace duration is its
wall time, idle phases included, so κ moves time between buckets and does not slow the job.

Other components change a slot only through its methods (caps, I/O demand and speed, thermal
speed, throttle onset time); the table's columns are public for reading. Every rate change is
passed on, as the interface of this class says: the shares to the ledger book
(:class:`~kiban.sim.ledger_book.LedgerBook`), GPU power to the nodes
(:class:`~kiban.sim.heat.NodeHeat`), and the flags ``io`` and ``thermal`` to the next settle.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from kiban.sim.constants import PHASE_CKPT, PHASE_COMPUTE, PHASE_FAIL

if TYPE_CHECKING:
    from collections.abc import Iterable

    from kiban._typing import FloatArray, IntArray
    from kiban.sim.cluster import Placement
    from kiban.sim.flags import Dirty
    from kiban.sim.heat import NodeHeat
    from kiban.sim.ledger_book import LedgerBook
    from kiban.sim.tables import RunInputs

__all__ = ["Slots"]

# Columns of Slots.rate (and acc, job_acc): per running job, per second of simulated time.
R_PROGRESS = 0  # full-speed seconds of work done per second
R_ENERGY = 1  # GPU board power of the whole job (W)
R_PROD = 2  # share of the job's allocated GPU time that is productive
R_IO = 3  # ... waiting on input (io_stall)
R_UNDER = 4  # ... idle inside the job: host work, communication, evaluation (underused)
R_THERMAL = 5  # ... lost to thermal throttling
R_CAP = 6  # ... lost to a power cap
R_CKPT = 7  # ... writing/restoring checkpoints (and preemption save/restore)
R_FAIL = 8  # ... recovering from a failure
R_RUN = 9  # always 1: wall time held
R_ATTAINED = 10  # GPUs held: attained service (GPU-seconds per second)
N_RATES = 11
SHARES = slice(R_PROD, R_RUN)
"""Columns of ``rate`` that split allocated GPU time into ledger buckets (sum to 1), in the
order of :data:`kiban.sim.ledger_book.ALLOCATED_BUCKETS`."""

# Columns of Slots.i_tab and f_tab (see the column views in Slots.__init__).
I_JOB, I_N, I_SKU, I_RACK, I_PHASE, I_NODE = range(6)
N_SLOT_INT = 6
(
    F_T_LAST,
    F_START,
    F_FINISH,
    F_PHASE_END,
    F_THROTTLE_AT,
    F_SCALE,
    F_CAP,
    F_BUSY,
    F_S_CAP,
    F_S_THERMAL,
    F_THERMAL_CAP,
    F_S_IO,
    F_CKPT,
    F_IO_DEMAND,
    F_IO_NOW,
    F_IO_WEIGHT,
    F_POWER,
    F_SHARE,
) = range(18)
N_SLOT_FLOAT = 18
_NO_SHARES = [0.0] * (R_RUN - R_PROD)
"""The ledger shares of a slot that has just opened (nothing rated yet)."""


class JobWatch:
    """Jobs whose rates changed, added to one set per reader (see :meth:`Slots.new_watch`)."""

    __slots__ = ("sets",)

    def __init__(self) -> None:
        self.sets: list[set[int]] = []

    def add(self, job: int) -> None:
        """Job ``job``'s rates, power or GPUs changed."""
        for got in self.sets:
            got.add(job)

    def update(self, jobs: Iterable[int]) -> None:
        """:meth:`add` for each of ``jobs``."""
        listed = list(jobs)
        for got in self.sets:
            got.update(listed)


class Slots:
    """Running jobs and the jobs' integrals (see the module docstring).

    Args:
        inputs: The run's static inputs.
        book: The ledger book the shares feed.
        heat: The node power the jobs' GPU power feeds.
        dirty: The settle's flags.
    """

    def __init__(self, inputs: RunInputs, book: LedgerBook, heat: NodeHeat, dirty: Dirty) -> None:
        hw, jt, n_jobs = inputs.hw, inputs.jt, inputs.jobs.n_jobs
        self._hw, self._jt, self._book, self._heat = hw, jt, book, heat
        self._dirty = dirty
        # at most one job per GPU, plus every job that shares one (a GPU may hold several)
        cap = hw.layout.n_gpus + int(np.count_nonzero(jt.share_frac < 1.0))
        self.n = 0
        # per job: integrals of every R_* rate (a slot's accumulator row adds in one step)
        self.job_acc: FloatArray = np.zeros((n_jobs, N_RATES))
        self.job_progress_s: FloatArray = self.job_acc[:, R_PROGRESS]
        self.job_energy_j: FloatArray = self.job_acc[:, R_ENERGY]
        self.job_stall_s: FloatArray = self.job_acc[:, R_IO]
        self.job_underused_s: FloatArray = self.job_acc[:, R_UNDER]
        self.job_throttle_s: FloatArray = self.job_acc[:, R_THERMAL]
        self.job_power_cap_s: FloatArray = self.job_acc[:, R_CAP]
        self.job_checkpoint_s: FloatArray = self.job_acc[:, R_CKPT]
        self.job_failure_s: FloatArray = self.job_acc[:, R_FAIL]
        self.job_run_s: FloatArray = self.job_acc[:, R_RUN]
        self.job_attained_gpu_s: FloatArray = self.job_acc[:, R_ATTAINED]
        # per job, while running: its slot and placement
        self.job_slot: IntArray = np.full(n_jobs, -1, dtype=np.int64)
        self.job_n_alloc: IntArray = np.zeros(n_jobs, dtype=np.int64)
        self.job_gpus: list[IntArray | None] = [None] * n_jobs
        self.job_nodes: list[IntArray | None] = [None] * n_jobs
        self.job_node_counts: list[IntArray | None] = [None] * n_jobs
        self.job_place: list[Placement | None] = [None] * n_jobs
        self.job_racks: dict[int, IntArray] = {}  # jobs spanning several racks
        # integer and float per-slot fields live in two row-major tables (one row per slot) so
        # that reading a slot or moving it is one operation; the names below are column views
        self.i_tab: IntArray = np.zeros((cap, N_SLOT_INT), dtype=np.int64)
        self.f_tab: FloatArray = np.zeros((cap, N_SLOT_FLOAT))
        self.job: IntArray = self.i_tab[:, I_JOB]
        self.n_gpus: IntArray = self.i_tab[:, I_N]
        self.sku: IntArray = self.i_tab[:, I_SKU]
        self.rack: IntArray = self.i_tab[:, I_RACK]  # -1: spans several racks
        self.phase: IntArray = self.i_tab[:, I_PHASE]  # 0 compute, 1/2 restore
        self.node: IntArray = self.i_tab[:, I_NODE]  # -1: spans several nodes
        self.t_last_s: FloatArray = self.f_tab[:, F_T_LAST]
        self.start_s: FloatArray = self.f_tab[:, F_START]
        self.finish_s: FloatArray = self.f_tab[:, F_FINISH]
        self.phase_end_s: FloatArray = self.f_tab[:, F_PHASE_END]
        self.throttle_at_s: FloatArray = self.f_tab[:, F_THROTTLE_AT]
        self.scale_frac: FloatArray = self.f_tab[:, F_SCALE]
        self.cap_w: FloatArray = self.f_tab[:, F_CAP]
        self.busy_power_w: FloatArray = self.f_tab[:, F_BUSY]  # per GPU, at cap
        self.s_cap: FloatArray = self.f_tab[:, F_S_CAP]
        self.s_thermal: FloatArray = self.f_tab[:, F_S_THERMAL]
        self.thermal_cap_w: FloatArray = self.f_tab[:, F_THERMAL_CAP]  # die-limit power
        self.s_io: FloatArray = self.f_tab[:, F_S_IO]
        self.ckpt_frac: FloatArray = self.f_tab[:, F_CKPT]
        self.io_demand_b_per_s: FloatArray = self.f_tab[:, F_IO_DEMAND]  # at full speed
        self.io_now_b_per_s: FloatArray = self.f_tab[:, F_IO_NOW]  # at its speed now
        self.io_weight: FloatArray = self.f_tab[:, F_IO_WEIGHT]
        self.power_w: FloatArray = self.f_tab[:, F_POWER]  # per GPU, average now
        # share of each GPU the job uses (1: whole GPUs; below 1 for jobs sharing one GPU): its
        # GPU time, energy and power above idle count this share of each of its GPUs
        self.share_frac: FloatArray = self.f_tab[:, F_SHARE]
        self.job[:] = -1
        self.node[:] = -1
        self.f_tab[:, (F_FINISH, F_PHASE_END, F_THROTTLE_AT, F_THERMAL_CAP)] = math.inf
        self.f_tab[:, (F_SCALE, F_S_CAP, F_S_THERMAL, F_S_IO, F_IO_WEIGHT, F_SHARE)] = 1.0
        self.rate: FloatArray = np.zeros((cap, N_RATES))
        self.acc: FloatArray = np.zeros((cap, N_RATES))
        self.next_s: FloatArray = np.full(cap, math.inf)  # contiguous: argmin each event
        self._tables = (self.i_tab, self.f_tab, self.rate, self.acc, self.next_s)
        self.io_now_total_b_per_s = 0.0
        """Σ ``io_now_b_per_s`` over running jobs (B/s), kept as rates change."""
        self.watch: JobWatch | None = None
        """Jobs whose rates changed, one set per reader (:meth:`new_watch`; None: no reader)."""
        self.version = 0
        """Counts changes of the slots' rates, power or order (observers cache on it)."""
        self.next_version = 0
        """Counts writes of ``next_s`` and of the number of slots (the loop caches its argmin)."""

    def new_watch(self) -> set[int]:
        """A set that collects every job whose rates change from now on (its reader clears it).

        Readers: the per-GPU timeline at each settle, the sampled observables at each facility
        step (:meth:`kiban.sim.observables.GpuObservables.power_die_activity`).
        """
        if self.watch is None:
            self.watch = JobWatch()
        got: set[int] = set()
        self.watch.sets.append(got)
        return got

    # --- open and close ---------------------------------------------------------------------------
    def open(
        self,
        j: int,
        t_s: float,
        where: Placement,
        *,
        sku: int,
        phase: int,
        phase_s: float,
        cap_w: float,
        busy_w: float,
        s_cap: float,
        io_demand_b_per_s: float,
        io_weight: float,
    ) -> int:
        """A job starts at ``where``: add its row and rate it. Returns the slot.

        The row is rated as :meth:`rate1` rates it (the same arithmetic) before it is written,
        so each table row is written once.
        """
        jt = self._jt
        gpus, nodes, racks = where.gpus, where.nodes, where.racks
        k = gpus.shape[0]
        n_nodes = nodes.shape[0]
        i = self.n
        self.n = i + 1
        self.job_slot[j] = i
        self.job_gpus[j] = gpus
        self.job_nodes[j] = nodes
        self.job_node_counts[j] = where.counts
        self.job_place[j] = where
        self.job_n_alloc[j] = k
        if racks.shape[0] == 1 or (racks == racks[0]).all():
            rack = int(racks[0])
        else:
            rack = -1
            self.job_racks[j] = np.unique(racks)
        node = int(nodes[0]) if n_nodes == 1 else -1
        self.i_tab[i] = (j, k, sku, rack, phase, node)
        f = [
            t_s,  # F_T_LAST
            t_s,  # F_START
            math.inf,  # F_FINISH (set below)
            t_s + phase_s if phase != PHASE_COMPUTE else math.inf,  # F_PHASE_END
            math.inf,  # F_THROTTLE_AT
            jt.scale_frac(j, k, n_nodes),  # F_SCALE
            cap_w,  # F_CAP
            busy_w,  # F_BUSY
            s_cap,  # F_S_CAP
            1.0,  # F_S_THERMAL
            math.inf,  # F_THERMAL_CAP
            1.0,  # F_S_IO
            float(jt.ckpt_frac[j]),  # F_CKPT
            io_demand_b_per_s,  # F_IO_DEMAND
            0.0,  # F_IO_NOW (set below)
            io_weight,  # F_IO_WEIGHT
            self._hw.idle_list[sku],  # F_POWER: the old value; the rating adds the change
            jt.share_frac_list[j],  # F_SHARE
        ]
        self.acc[i] = 0.0
        delta_w = self._rate_row(i, t_s, f, j, k, sku, phase, _NO_SHARES, 0.0)
        self.f_tab[i] = f
        if delta_w != 0.0:
            counts = where.counts
            if n_nodes == 1:
                self._heat.add_gpu_power1(node, float(counts[0]) * delta_w * f[F_SHARE])
            else:
                self._heat.add_gpu_power(
                    nodes, np.asarray(counts * delta_w * f[F_SHARE], np.float64)
                )
        self._dirty.io = True
        self._dirty.thermal = True
        return i

    def close(self, i: int) -> tuple[Placement, float]:
        """Remove a (booked) slot: its integrals go to its job, its power and shares leave.

        Returns:
            Where the job was and its per-GPU cap (W), for the allocation to release.
        """
        j, n_i, sku, _, _, node = self.i_tab[i].tolist()
        # R_PROD..R_FAIL columns of job_acc hold job-seconds per bucket; R_PROD is unused there
        self.job_acc[j] += self.acc[i]
        where = self.job_place[j]
        assert where is not None  # running job
        f = self.f_tab[i].tolist()
        share = f[F_SHARE]
        above_w = f[F_POWER] - self._hw.idle_list[sku]
        if node >= 0:  # one node (every 1-GPU job): scalar update
            self._heat.add_gpu_power1(node, -(n_i * above_w * share))
        else:
            self._heat.add_gpu_power(where.nodes, -(where.counts * above_w * share))
        self._book.remove(n_i * share, self.rate[i, SHARES].tolist())
        self.io_now_total_b_per_s -= f[F_IO_NOW]
        self.io_now_b_per_s[i] = 0.0
        self.job_gpus[j] = None
        self.job_nodes[j] = None
        self.job_node_counts[j] = None
        self.job_place[j] = None
        self.job_n_alloc[j] = 0
        self.job_slot[j] = -1
        if j in self.job_racks:
            del self.job_racks[j]
        if self.watch is not None:
            self.watch.add(j)
        self.version += 1
        # swap-remove the slot
        last = self.n - 1
        if i != last:
            for arr in self._tables:
                arr[i] = arr[last]
            self.job_slot[self.job[i]] = i
        self.next_s[last] = math.inf
        self.next_version += 1
        self.job[last] = -1
        self.node[last] = -1
        self.n = last
        self._dirty.io = True
        self._dirty.thermal = True
        return where, f[F_CAP]

    # --- booking ----------------------------------------------------------------------------------
    def book(self, i: int, t_s: float) -> None:
        """Integrate slot ``i``'s rates up to ``t_s``."""
        dt = t_s - self.t_last_s[i]
        if dt > 0:
            self.acc[i] += dt * self.rate[i]
            self.t_last_s[i] = t_s

    def book_many(self, idx: IntArray, t_s: float) -> None:
        """Integrate the rates of slots ``idx`` up to ``t_s``."""
        dt = t_s - self.t_last_s[idx]
        self.acc[idx] += dt[:, None] * self.rate[idx]
        self.t_last_s[idx] = t_s

    def book_all(self, t_s: float) -> None:
        """Integrate every running job up to ``t_s`` (the end of the run)."""
        for i in range(self.n):
            self.book(i, t_s)

    # --- rates ------------------------------------------------------------------------------------
    def rate1(self, i: int, t_s: float) -> None:
        """Scalar form of :meth:`rates` for one slot (the common case; same arithmetic)."""
        f = self.f_tab[i].tolist()
        job, n_i, sku, _, phase, _ = self.i_tab[i].tolist()
        old = self.rate[i, SHARES].tolist()
        delta_w = self._rate_row(
            i, t_s, f, job, n_i, sku, phase, old, float(self.acc[i, R_PROGRESS])
        )
        sf = self.f_tab[i]
        sf[F_POWER] = f[F_POWER]
        sf[F_IO_NOW] = f[F_IO_NOW]
        sf[F_FINISH] = f[F_FINISH]
        if delta_w != 0.0:
            nodes, counts = self.job_nodes[job], self.job_node_counts[job]
            assert nodes is not None  # running job
            assert counts is not None
            if nodes.shape[0] == 1:
                self._heat.add_gpu_power1(int(nodes[0]), float(counts[0]) * delta_w * f[F_SHARE])
            else:
                self._heat.add_gpu_power(nodes, counts * delta_w * f[F_SHARE])

    def _rate_row(  # noqa: PLR0917 - the slot's fields, read once by the caller
        self,
        i: int,
        t_s: float,
        f: list[float],
        job: int,
        n_i: int,
        sku: int,
        phase: int,
        old: list[float],
        acc_progress_s: float,
    ) -> float:
        """Rate slot ``i`` from its float fields ``f`` (:meth:`rate1`'s arithmetic).

        Writes the slot's rate row and next transition, tells the ledger book, and updates
        ``f`` (power, I/O now, finish time) for the caller to store. ``old`` holds the slot's
        ledger shares before the change and ``acc_progress_s`` its progress since it opened.

        Returns:
            The change of the slot's per-GPU power (W), for the caller to pass to the nodes.
        """
        jt = self._jt
        n = float(n_i) * f[F_SHARE]  # GPUs held (a share of one for a sharing job)
        comp = phase == PHASE_COMPUTE
        c = f[F_CKPT] if comp else 0.0
        s_cap = f[F_S_CAP]
        s_c = s_cap * f[F_S_THERMAL]
        s = min(s_c, f[F_S_IO])
        run = 1.0 - c if comp else 0.0
        idle_ctx_w = self._hw.idle_ctx_list[sku]
        busy_w = min(f[F_BUSY], f[F_THERMAL_CAP])
        active = s / s_c if s_c > 0 else 0.0
        comp_w = idle_ctx_w + (busy_w - idle_ctx_w) * active
        avg_w = c * idle_ctx_w + (1.0 - c) * comp_w if comp else idle_ctx_w
        progress_rate = run * s * f[F_SCALE]
        self.version += 1
        cs = jt.compute_share_list[job]
        new = [
            run * s * cs,
            run * (s_c - s),
            run * s * (1.0 - cs),
            run * (s_cap - s_c),
            run * (1.0 - s_cap),
            c if comp else float(phase == PHASE_CKPT),
            float(phase == PHASE_FAIL),
        ]
        self.rate[i] = (progress_rate, n * avg_w, *new, 1.0, n)
        self._book.change(n, old, new)
        delta_w = avg_w - f[F_POWER]
        io_now_b_per_s = f[F_IO_DEMAND] * s_c if comp else 0.0
        self.io_now_total_b_per_s += io_now_b_per_s - f[F_IO_NOW]
        if comp:
            left_s = jt.duration_list[job] - float(self.job_acc[job, R_PROGRESS]) - acc_progress_s
            if progress_rate > 0:
                finish_s = t_s + max(left_s, 0.0) / progress_rate
            else:
                finish_s = t_s if left_s <= 0 else math.inf
        else:
            finish_s = math.inf
        f[F_POWER] = avg_w
        f[F_IO_NOW] = io_now_b_per_s
        f[F_FINISH] = finish_s
        self.next_s[i] = min(finish_s, f[F_PHASE_END], f[F_THROTTLE_AT])
        self.next_version += 1
        if self.watch is not None:
            self.watch.add(job)
        return delta_w

    def rates(self, idx: IntArray, t_s: float) -> None:
        """Recompute rates, power and next transition of (booked) slots ``idx``."""
        if idx.shape[0] == 1:
            self.rate1(int(idx[0]), t_s)
            return
        self._rates(idx, t_s, self.i_tab[idx], self.f_tab[idx], self.rate[idx], None)

    def _rebook_rate(self, idx: IntArray, t_s: float, col: int, values: FloatArray) -> None:
        """Book slots ``idx`` up to ``t_s``, set their float column ``col``, re-rate them.

        The same arithmetic as :meth:`book_many`, a column write and :meth:`rates`, with each
        slot table gathered once.
        """
        if idx.shape[0] == 1:
            self.book_many(idx, t_s)
            self.f_tab[idx, col] = values
            self.rate1(int(idx[0]), t_s)
            return
        f = self.f_tab[idx]
        old = self.rate[idx]
        dt = t_s - f[:, F_T_LAST]
        acc = self.acc[idx]
        acc += dt[:, None] * old
        self.acc[idx] = acc
        f[:, F_T_LAST] = t_s
        f[:, col] = values
        self._rates(idx, t_s, self.i_tab[idx], f, old, acc[:, R_PROGRESS])

    def _rates(  # noqa: PLR0917
        self,
        idx: IntArray,
        t_s: float,
        it: IntArray,
        f: FloatArray,
        old: FloatArray,
        acc_progress_s: FloatArray | None,
    ) -> None:
        """:meth:`rates` of slots ``idx`` given their gathered rows.

        Args:
            idx: Slots (sorted, unique).
            t_s: Now.
            it: ``i_tab[idx]``.
            f: ``f_tab[idx]`` as the slots hold them now (written back, with the new power,
                I/O and finish time).
            old: ``rate[idx]`` before the change.
            acc_progress_s: ``acc[idx, R_PROGRESS]`` when the caller has it.
        """
        self.version += 1
        hw, jt = self._hw, self._jt
        jobs = it[:, I_JOB]
        share = f[:, F_SHARE]
        n = it[:, I_N].astype(np.float64) * share  # GPUs held (a share of one when sharing)
        phase = it[:, I_PHASE]
        comp = phase == PHASE_COMPUTE
        c = np.where(comp, f[:, F_CKPT], 0.0)
        s_cap = f[:, F_S_CAP]
        s_c = s_cap * f[:, F_S_THERMAL]
        s = np.minimum(s_c, f[:, F_S_IO])
        run = np.where(comp, 1.0 - c, 0.0)
        rows = np.zeros((idx.shape[0], N_RATES))
        rows[:, R_PROGRESS] = run * s * f[:, F_SCALE]
        cs = jt.compute_share[jobs]
        rows[:, R_PROD] = run * s * cs
        rows[:, R_IO] = run * (s_c - s)
        rows[:, R_UNDER] = run * s * (1.0 - cs)
        rows[:, R_THERMAL] = run * (s_cap - s_c)
        rows[:, R_CAP] = run * (1.0 - s_cap)
        rows[:, R_CKPT] = np.where(comp, c, phase == PHASE_CKPT)
        rows[:, R_FAIL] = phase == PHASE_FAIL
        idle_ctx_w = hw.sku_idle_ctx_w[it[:, I_SKU]]
        busy_w = np.minimum(f[:, F_BUSY], f[:, F_THERMAL_CAP])
        with np.errstate(divide="ignore", invalid="ignore"):
            active = np.where(s_c > 0, s / s_c, 0.0)
        comp_w = idle_ctx_w + (busy_w - idle_ctx_w) * active
        avg_w = np.where(comp, c * idle_ctx_w + (1.0 - c) * comp_w, idle_ctx_w)
        rows[:, R_ENERGY] = n * avg_w
        rows[:, R_RUN] = 1.0
        rows[:, R_ATTAINED] = n
        self._book.add((n @ (rows[:, SHARES] - old[:, SHARES])).tolist())
        self.rate[idx] = rows
        # node power follows the per-GPU average
        delta_w = avg_w - f[:, F_POWER]
        changed = (delta_w != 0.0).nonzero()[0]
        if changed.shape[0]:
            # a sharing job (one GPU) adds its share of its power above idle
            self._add_node_power(idx[changed], delta_w[changed] * share[changed])
        io_now_b_per_s = np.where(comp, f[:, F_IO_DEMAND] * s_c, 0.0)
        self.io_now_total_b_per_s += float(io_now_b_per_s.sum() - self.io_now_b_per_s[idx].sum())
        # next transition
        if self.watch is not None:
            self.watch.update(jobs.tolist())
        if acc_progress_s is None:
            acc_progress_s = self.acc[idx, R_PROGRESS]
        left_s = jt.duration_s[jobs] - self.job_progress_s[jobs] - acc_progress_s
        progress_rate = rows[:, R_PROGRESS]
        with np.errstate(divide="ignore", invalid="ignore"):
            finish_s = np.where(
                progress_rate > 0,
                t_s + np.maximum(left_s, 0.0) / progress_rate,
                np.where(left_s <= 0, t_s, math.inf),
            )
        finish_s = np.where(comp, finish_s, math.inf)
        f[:, F_POWER] = avg_w
        f[:, F_IO_NOW] = io_now_b_per_s
        f[:, F_FINISH] = finish_s
        self.f_tab[idx] = f
        self.next_s[idx] = np.minimum(np.minimum(finish_s, f[:, F_PHASE_END]), f[:, F_THROTTLE_AT])
        self.next_version += 1

    def _add_node_power(self, idx: IntArray, delta_w: FloatArray) -> None:
        """Per-GPU power of slots ``idx`` changed by ``delta_w``: tell the nodes, in slot order.

        The node sums are added to in the order of ``idx`` (one addition per slot and node, as
        one call per slot would), so the floating-point result does not depend on batching.
        """
        node = self.node[idx]
        if (node >= 0).all():  # every slot on one node (most jobs): no per-job lists
            self._heat.add_gpu_power_pieces(node, self.n_gpus[idx] * delta_w)
            return
        nodes: list[IntArray] = []
        counts: list[IntArray] = []
        for j in self.job[idx].tolist():
            job_nodes, job_counts = self.job_nodes[j], self.job_node_counts[j]
            assert job_nodes is not None  # running job
            assert job_counts is not None
            nodes.append(job_nodes)
            counts.append(job_counts)
        lens = [a.shape[0] for a in nodes]
        pieces_w = np.multiply(np.concatenate(counts), np.repeat(delta_w, lens), dtype=np.float64)
        self._heat.add_gpu_power_pieces(np.concatenate(nodes), pieces_w)

    # --- changes asked by other components --------------------------------------------------------
    def end_phase(self, i: int, t_s: float) -> None:
        """A restore phase ended: the job computes from now on."""
        self.book(i, t_s)
        self.phase[i] = PHASE_COMPUTE
        self.phase_end_s[i] = math.inf
        self.rates(np.array([i]), t_s)
        self._dirty.io = True

    def set_cap(self, i: int, t_s: float, *, cap_w: float, busy_w: float, s_cap: float) -> None:
        """A new power cap: per-GPU power while computing and speed at that cap."""
        self.book(i, t_s)
        self.cap_w[i] = cap_w
        self.busy_power_w[i] = busy_w
        self.s_cap[i] = s_cap
        self.rates(np.array([i]), t_s)
        self._dirty.io = True
        self._dirty.thermal = True

    def set_share(self, i: int, t_s: float, share: float, scale: float) -> None:
        """Slot ``i`` (one GPU) holds ``share`` of its GPU and runs at ``scale`` from ``t_s``.

        Time-slicing (:mod:`kiban.sim.time_slice`): a tenant's share and speed change when the
        GPU's tenants do. Its ledger shares and node power leave at the old share and come back
        at the new one, so the book and the node sums stay exact.
        """
        self.book(i, t_s)
        f = self.f_tab[i]
        old = float(f[F_SHARE])
        if old == share and float(f[F_SCALE]) == scale:
            return
        n_i = int(self.n_gpus[i])
        self._book.remove(n_i * old, self.rate[i, SHARES].tolist())  # type: ignore[arg-type]
        self.rate[i, SHARES] = 0.0
        idle_w = self._hw.idle_list[int(self.sku[i])]
        above_w = float(f[F_POWER]) - idle_w
        self._heat.add_gpu_power1(int(self.node[i]), n_i * above_w * (share - old))
        f[F_SHARE] = share
        f[F_SCALE] = scale
        self.rate1(i, t_s)
        self._dirty.thermal = True

    def set_io_demand(self, i: int, t_s: float, demand_b_per_s: float) -> None:
        """New remote input demand at full speed (e.g. a new cache share)."""
        self.book(i, t_s)
        self.io_demand_b_per_s[i] = demand_b_per_s
        self.rate1(i, t_s)
        self._dirty.io = True

    def set_io_weight(self, i: int, weight: float) -> None:
        """New weight of the job's share of the file system."""
        self.io_weight[i] = weight
        self._dirty.io = True

    def resync_io_total(self, total_b_per_s: float) -> None:
        """Replace the incremental I/O total by an exact sum (the storage share computes it)."""
        self.io_now_total_b_per_s = total_b_per_s

    def set_io_speed(self, idx: IntArray, s_io: FloatArray, t_s: float) -> None:
        """New I/O speeds of slots ``idx`` (from the storage share)."""
        self._rebook_rate(idx, t_s, F_S_IO, s_io)

    def set_ckpt_frac(self, idx: IntArray, ckpt_frac: FloatArray, t_s: float) -> None:
        """New checkpoint shares of slots ``idx`` (their writes got a smaller file-system share)."""
        self._rebook_rate(idx, t_s, F_CKPT, ckpt_frac)

    def set_phase_end(self, i: int, t_end_s: float) -> None:
        """Slot ``i``'s restore phase now ends at ``t_end_s`` (its read got a new share)."""
        self.phase_end_s[i] = t_end_s
        self.renext(np.array([i]))

    def set_thermal(
        self, idx: IntArray, s_thermal: FloatArray, cap_w: FloatArray, t_s: float
    ) -> None:
        """New thermal speeds and die-limit powers of slots ``idx`` (from the throttle check)."""
        self.book_many(idx, t_s)
        self.s_thermal[idx] = s_thermal
        self.thermal_cap_w[idx] = cap_w
        self.rates(idx, t_s)
        self._dirty.io = True

    def throttle_now(self, i: int, t_s: float, s_thermal: float, cap_w: float) -> None:
        """Slot ``i`` reached its slowdown temperature: run at the die-limit clock."""
        self.book(i, t_s)
        self.throttle_at_s[i] = math.inf
        self.s_thermal[i] = s_thermal
        self.thermal_cap_w[i] = cap_w
        self.rates(np.array([i]), t_s)
        self._dirty.io = True

    def set_throttle_at(self, idx: IntArray, at_s: FloatArray | float) -> None:
        """Expected throttle onset times of slots ``idx`` (inf: none); moves their next event."""
        self.throttle_at_s[idx] = at_s

    def renext(self, idx: IntArray) -> None:
        """Next transition of slots ``idx`` after their onset times changed."""
        self.next_s[idx] = np.minimum(
            np.minimum(self.finish_s[idx], self.phase_end_s[idx]), self.throttle_at_s[idx]
        )
        self.next_version += 1

    # --- observables ------------------------------------------------------------------------------
    def activity_frac(self, idx: IntArray) -> FloatArray:
        """Share of wall time the GPUs of slots ``idx`` are computing (GPU busy share).

        Inside a job the GPU is busy (a kernel runs) for the job's expected share u of its
        running time (:mod:`kiban.physics.activity`), and waits while writing checkpoints,
        restoring, or stalled on input: ``(1 − c)·(s/s_c)·u``.
        """
        comp = self.phase[idx] == PHASE_COMPUTE
        s_c = self.s_cap[idx] * self.s_thermal[idx]
        s = np.minimum(s_c, self.s_io[idx])
        with np.errstate(divide="ignore", invalid="ignore"):
            active = np.where(s_c > 0, s / s_c, 0.0)
        busy = self._jt.busy_frac[self.job[idx]]
        return np.where(comp, (1.0 - self.ckpt_frac[idx]) * active * busy, 0.0)

    def activity_frac_all(self) -> FloatArray:
        """:meth:`activity_frac` of every open slot (the same operations, on views)."""
        n = self.n
        comp = self.phase[:n] == PHASE_COMPUTE
        s_c = self.s_cap[:n] * self.s_thermal[:n]
        s = np.minimum(s_c, self.s_io[:n])
        with np.errstate(divide="ignore", invalid="ignore"):
            active = np.where(s_c > 0, s / s_c, 0.0)
        busy = self._jt.busy_frac[self.job[:n]]
        return np.where(comp, (1.0 - self.ckpt_frac[:n]) * active * busy, 0.0)

    def held_gpus(self, idx: IntArray) -> FloatArray:
        """GPUs each of slots ``idx`` holds (a share of one for a job sharing a GPU)."""
        return self.n_gpus[idx] * self.share_frac[idx]

    def effective_cap_w(self, idx: IntArray) -> FloatArray:
        """Per-GPU power limit in force: the cap, or the die limit while throttled (W)."""
        return np.minimum(self.cap_w[idx], self.thermal_cap_w[idx])

    # --- the jobs' integrals ----------------------------------------------------------------------
    def finish(self, j: int) -> None:
        """Job ``j`` completed: its progress is exactly its work."""
        self.job_progress_s[j] = self._jt.duration_s[j]

    def redo(self, j: int, work_s: float, *, failure: bool) -> None:
        """``work_s`` of job ``j``'s progress must be done again.

        Booked as failure (work lost since the last checkpoint) or checkpoint (a preemption's
        save and restore).
        """
        self.job_progress_s[j] -= work_s
        if failure:
            self.job_failure_s[j] += work_s
        else:
            self.job_checkpoint_s[j] += work_s
