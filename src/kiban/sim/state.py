"""Cluster state as struct-of-arrays, and the read-only view that policies receive.

:class:`ClusterState` holds every mutable array of a run: per GPU (which job holds it), per node
(free GPUs, up/down, GPU power), per rack (wall power, inlet temperature, GPU power reserved
against the rack budget), per job (life-cycle state, progress, accounting) and per running-job
*slot*. Slots are a compact, swap-removed table of the running jobs (``n_slots`` live rows), so
whole-population updates touch only running jobs. Only the simulator writes to it.

:class:`ClusterView` wraps the same memory with ``flags.writeable = False`` views, created once
per run: policies see the live state at zero copy cost and cannot change it.

Job life cycle: FUTURE → PENDING (arrived) → RUNNING → DONE; RUNNING → PENDING on preemption or
node failure; FUTURE → UNSCHEDULABLE for jobs no placement can ever satisfy (more GPUs than
the cluster, an absent GPU model, more GPUs per node than any server).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from kiban._typing import BoolArray, FloatArray, IntArray
    from kiban.sim.jobs import JobTable
    from kiban.sim.layout import ClusterLayout

__all__ = [
    "DONE",
    "FUTURE",
    "GPU_DOWN",
    "GPU_FREE",
    "LEDGER_COLUMNS",
    "PENDING",
    "RUNNING",
    "UNSCHEDULABLE",
    "ClusterState",
    "ClusterView",
]

FUTURE, PENDING, RUNNING, DONE, UNSCHEDULABLE = 0, 1, 2, 3, 4
"""Job life-cycle states (``ClusterState.job_state``)."""
GPU_FREE, GPU_DOWN = -1, -2
"""Markers in ``ClusterState.gpu_job`` for a free GPU and a GPU on a failed node."""

# Columns of ClusterState.slot_rate: per running job, per second of simulated time.
R_PROGRESS = 0  # full-speed seconds of work done per second
R_ENERGY = 1  # GPU board power of the whole job (W)
R_PROD = 2  # share of the job's allocated GPU time that is productive
R_IO = 3  # ... waiting on input (io_stall)
R_THERMAL = 4  # ... lost to thermal throttling
R_CAP = 5  # ... lost to a power cap
R_CKPT = 6  # ... writing/restoring checkpoints (and preemption save/restore)
R_FAIL = 7  # ... recovering from a failure
R_RUN = 8  # always 1: wall time held
R_ATTAINED = 9  # GPUs held: attained service (GPU-seconds per second)
N_RATES = 10
LEDGER_COLUMNS = slice(R_PROD, R_RUN)

# Columns of ClusterState.slot_i and slot_f (see the column views in ClusterState.__init__).
I_JOB, I_N, I_SKU, I_RACK, I_PHASE = range(5)
N_SLOT_INT = 5
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
) = range(17)
N_SLOT_FLOAT = 17
"""Columns of ``slot_rate`` that split allocated GPU time into ledger buckets (sum to 1)."""


def _ro(arr: np.ndarray) -> np.ndarray:
    view = arr.view()
    view.flags.writeable = False
    return view


class ClusterState:
    """All mutable arrays of one run (see the module docstring for the life cycles).

    The per-slot arrays have one row per possible running job (at most one job per GPU); rows
    ``0 .. n_slots-1`` are live. ``slot_rate[i]`` holds the rates of slot i (columns R_*),
    ``slot_acc[i]`` their integrals since the slot opened, booked up to ``slot_t_last_s[i]``
    (one vector operation books every quantity of a slot).
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
        self.node_free: IntArray = layout.node_n_gpus.copy()
        self.node_up: BoolArray = np.ones(n_nodes, dtype=bool)
        self.node_gpu_power_w: FloatArray = np.zeros(n_nodes)
        self.node_wall_power_w: FloatArray = np.zeros(n_nodes)
        self.rack_power_w: FloatArray = np.zeros(n_racks)
        self.rack_inlet_temp_c: FloatArray = np.full(n_racks, layout.supply_temp_c)
        self.rack_gpu_alloc_w: FloatArray = np.zeros(n_racks)
        self.supply_temp_c = layout.supply_temp_c
        self.n_free_gpus = n_gpus
        self.n_down_gpus = 0
        # jobs
        self.job_state = np.zeros(n_jobs, dtype=np.int8)
        self.job_slot: IntArray = np.full(n_jobs, -1, dtype=np.int64)
        # per-job integrals, one column per R_* rate (a slot's accumulator row adds in one step)
        self.job_acc: FloatArray = np.zeros((n_jobs, N_RATES))
        self.job_progress_s: FloatArray = self.job_acc[:, R_PROGRESS]
        self.job_first_start_s: FloatArray = np.full(n_jobs, math.nan)
        self.job_end_s: FloatArray = np.full(n_jobs, math.nan)
        self.job_pending_since_s: FloatArray = np.full(n_jobs, math.nan)
        self.job_energy_j: FloatArray = self.job_acc[:, R_ENERGY]
        self.job_stall_s: FloatArray = self.job_acc[:, R_IO]
        self.job_throttle_s: FloatArray = self.job_acc[:, R_THERMAL]
        self.job_power_cap_s: FloatArray = self.job_acc[:, R_CAP]
        self.job_checkpoint_s: FloatArray = self.job_acc[:, R_CKPT]
        self.job_failure_s: FloatArray = self.job_acc[:, R_FAIL]
        self.job_run_s: FloatArray = self.job_acc[:, R_RUN]
        self.job_attained_gpu_s: FloatArray = self.job_acc[:, R_ATTAINED]
        self.job_n_alloc: IntArray = np.zeros(n_jobs, dtype=np.int64)
        self.job_restarts: IntArray = np.zeros(n_jobs, dtype=np.int64)
        self.job_preemptions: IntArray = np.zeros(n_jobs, dtype=np.int64)
        self.job_restore_kind = np.zeros(n_jobs, dtype=np.int8)  # 0 none, 1 preempt, 2 failure
        self.job_power_cap_w: FloatArray = np.full(n_jobs, math.nan)
        self.job_gpus: list[IntArray | None] = [None] * n_jobs
        self.job_nodes: list[IntArray | None] = [None] * n_jobs
        self.job_node_counts: list[IntArray | None] = [None] * n_jobs
        # running-job slots
        cap = n_gpus
        self.n_slots = 0
        # integer and float per-slot fields live in two row-major tables (one row per slot) so
        # that reading a slot or moving it is one operation; the names below are column views
        self.slot_i: IntArray = np.zeros((cap, N_SLOT_INT), dtype=np.int64)
        self.slot_f: FloatArray = np.zeros((cap, N_SLOT_FLOAT))
        self.slot_job: IntArray = self.slot_i[:, I_JOB]
        self.slot_n: IntArray = self.slot_i[:, I_N]
        self.slot_sku: IntArray = self.slot_i[:, I_SKU]
        self.slot_rack: IntArray = self.slot_i[:, I_RACK]  # -1: spans several racks
        self.slot_phase: IntArray = self.slot_i[:, I_PHASE]  # 0 compute, 1/2 restore
        self.slot_t_last_s: FloatArray = self.slot_f[:, F_T_LAST]
        self.slot_start_s: FloatArray = self.slot_f[:, F_START]
        self.slot_finish_s: FloatArray = self.slot_f[:, F_FINISH]
        self.slot_phase_end_s: FloatArray = self.slot_f[:, F_PHASE_END]
        self.slot_throttle_at_s: FloatArray = self.slot_f[:, F_THROTTLE_AT]
        self.slot_scale_frac: FloatArray = self.slot_f[:, F_SCALE]
        self.slot_cap_w: FloatArray = self.slot_f[:, F_CAP]
        self.slot_busy_power_w: FloatArray = self.slot_f[:, F_BUSY]  # per GPU, at cap
        self.slot_s_cap: FloatArray = self.slot_f[:, F_S_CAP]
        self.slot_s_thermal: FloatArray = self.slot_f[:, F_S_THERMAL]
        self.slot_thermal_cap_w: FloatArray = self.slot_f[:, F_THERMAL_CAP]  # die-limit power
        self.slot_s_io: FloatArray = self.slot_f[:, F_S_IO]
        self.slot_ckpt_frac: FloatArray = self.slot_f[:, F_CKPT]
        self.slot_io_demand_b_per_s: FloatArray = self.slot_f[:, F_IO_DEMAND]  # at full speed
        self.slot_io_now_b_per_s: FloatArray = self.slot_f[:, F_IO_NOW]  # at its speed now
        self.slot_io_weight: FloatArray = self.slot_f[:, F_IO_WEIGHT]
        self.slot_power_w: FloatArray = self.slot_f[:, F_POWER]  # per GPU, average now
        self.slot_job[:] = -1
        self.slot_f[:, (F_FINISH, F_PHASE_END, F_THROTTLE_AT, F_THERMAL_CAP)] = math.inf
        self.slot_f[:, (F_SCALE, F_S_CAP, F_S_THERMAL, F_S_IO, F_IO_WEIGHT)] = 1.0
        self.slot_rate: FloatArray = np.zeros((cap, N_RATES))
        self.slot_acc: FloatArray = np.zeros((cap, N_RATES))
        self.slot_next_s: FloatArray = np.full(cap, math.inf)  # contiguous: argmin each event
        # pending queue: sorted job indices (= arrival order) in pending_buf[:n_pending]
        self.pending_buf: IntArray = np.zeros(max(n_jobs, 1), dtype=np.int64)
        self.n_pending = 0
        self.arrived = 0
        self.pending_version = 0

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


class ClusterView:
    """Read-only window on a :class:`ClusterState`, handed to policies.

    Arrays are live views (they follow the state as the run goes) with ``writeable = False``;
    writing to them raises ``ValueError``. Methods return fresh read-only arrays.

    Attributes:
        layout: The static topology (:class:`~kiban.sim.layout.ClusterLayout`).
        jobs: The static job table (:class:`~kiban.sim.jobs.JobTable`).
        gpu_job: Job holding each GPU, ``GPU_FREE`` (-1) or ``GPU_DOWN`` (-2).
        node_free: Free GPUs per node (0 on failed nodes).
        node_up: Whether each node is up.
        rack_power_w: Wall power per rack (W).
        rack_inlet_temp_c: Inlet air temperature per rack (°C).
        rack_gpu_alloc_w: GPU power reserved per rack against ``layout.rack_gpu_budget_w`` (W).
        job_state: Life-cycle state per job (FUTURE, PENDING, RUNNING, DONE, UNSCHEDULABLE).
        job_progress_s: Work done per job in full-speed seconds (running jobs: as of their last
            rate change; use :meth:`progress_s` for the current value).
        job_pending_since_s: When each pending job last entered the queue (s).
        job_power_cap_w: Power cap set for each job (NaN = SKU default).
        job_attained_booked_gpu_s: Attained service (GPU·s) of each job as of its last stop;
            exact for jobs that are not running (see :meth:`attained_gpu_s`).
        job_run_booked_s: Wall time each job held GPUs as of its last stop (exact for jobs
            that are not running; see :meth:`run_time_s`).
    """

    def __init__(self, state: ClusterState, layout: ClusterLayout, jobs: JobTable) -> None:
        self._s = state
        self.layout = layout
        self.jobs = jobs
        self.gpu_job = _ro(state.gpu_job)
        self.node_free = _ro(state.node_free)
        self.node_up = _ro(state.node_up)
        self.rack_power_w = _ro(state.rack_power_w)
        self.rack_inlet_temp_c = _ro(state.rack_inlet_temp_c)
        self.rack_gpu_alloc_w = _ro(state.rack_gpu_alloc_w)
        self.job_state = _ro(state.job_state)
        self.job_progress_s = _ro(state.job_progress_s)
        self.job_pending_since_s = _ro(state.job_pending_since_s)
        self.job_power_cap_w = _ro(state.job_power_cap_w)
        self.job_attained_booked_gpu_s = _ro(state.job_attained_gpu_s)
        self.job_run_booked_s = _ro(state.job_run_s)
        self._pending_cache: IntArray = _ro(np.zeros(0, dtype=np.int64))
        self._pending_version = -1

    # --- scalars ------------------------------------------------------------------------------
    @property
    def time_s(self) -> float:
        """Current simulated time (s)."""
        return self._s.time_s

    @property
    def free_gpus(self) -> int:
        """Free GPUs on up nodes."""
        return self._s.n_free_gpus

    @property
    def down_gpus(self) -> int:
        """GPUs on failed nodes."""
        return self._s.n_down_gpus

    @property
    def n_pending(self) -> int:
        """Jobs waiting in the queue."""
        return self._s.n_pending

    @property
    def n_running(self) -> int:
        """Jobs holding GPUs."""
        return self._s.n_slots

    @property
    def supply_temp_c(self) -> float:
        """Current cooling supply temperature (°C)."""
        return self._s.supply_temp_c

    @property
    def it_power_w(self) -> float:
        """Current IT power of the cluster (W)."""
        return float(self._s.rack_power_w.sum())

    # --- queues -------------------------------------------------------------------------------
    def pending_jobs(self) -> IntArray:
        """Indices of the waiting jobs in arrival order (read-only)."""
        s = self._s
        if self._pending_version != s.pending_version:
            self._pending_cache = _ro(s.pending_buf[: s.n_pending].copy())
            self._pending_version = s.pending_version
        return self._pending_cache

    def running_jobs(self) -> IntArray:
        """Indices of the running jobs, in slot order (read-only)."""
        return _ro(self._s.slot_job[: self._s.n_slots])

    def running_expected_end_s(self) -> FloatArray:
        """Expected completion time of each running job at its current speed (slot order; s)."""
        return _ro(self._s.slot_finish_s[: self._s.n_slots])

    def running_num_gpus(self) -> IntArray:
        """GPUs held by each running job (slot order)."""
        return _ro(self._s.slot_n[: self._s.n_slots])

    def attained_gpu_s(self, jobs: IntArray) -> FloatArray:
        """Attained service (GPUs × seconds held) of the given jobs, up to now.

        Args:
            jobs: Job indices.

        Returns:
            GPU-seconds per job.
        """
        s = self._s
        jobs = np.asarray(jobs, dtype=np.int64)
        out = s.job_attained_gpu_s[jobs].copy()
        slots = s.job_slot[jobs]
        live = slots >= 0
        if live.any():
            sl = slots[live]
            out[live] += s.slot_acc[sl, R_ATTAINED] + s.slot_n[sl] * (
                s.time_s - s.slot_t_last_s[sl]
            )
        return out

    def running_attained_gpu_s(self) -> FloatArray:
        """Attained service (GPU·s) of the running jobs up to now, in slot order."""
        s = self._s
        n = s.n_slots
        sj = s.slot_job[:n]
        return (
            s.job_attained_gpu_s[sj]
            + s.slot_acc[:n, R_ATTAINED]
            + s.slot_n[:n] * (s.time_s - s.slot_t_last_s[:n])
        )

    def run_time_s(self, jobs: IntArray) -> FloatArray:
        """Wall time the given jobs have held GPUs so far (s)."""
        s = self._s
        jobs = np.asarray(jobs, dtype=np.int64)
        out = s.job_run_s[jobs].copy()
        slots = s.job_slot[jobs]
        live = slots >= 0
        if live.any():
            sl = slots[live]
            out[live] += s.slot_acc[sl, R_RUN] + (s.time_s - s.slot_t_last_s[sl])
        return out

    def progress_s(self, jobs: IntArray) -> FloatArray:
        """Work done (full-speed seconds) of the given jobs, up to now."""
        s = self._s
        jobs = np.asarray(jobs, dtype=np.int64)
        out = s.job_progress_s[jobs].copy()
        slots = s.job_slot[jobs]
        live = slots >= 0
        if live.any():
            sl = slots[live]
            out[live] += s.slot_acc[sl, R_PROGRESS] + s.slot_rate[sl, R_PROGRESS] * (
                s.time_s - s.slot_t_last_s[sl]
            )
        return out

    def job_gpus(self, job: int) -> IntArray | None:
        """GPUs held by a running job (read-only), or None."""
        gpus = self._s.job_gpus[job]
        return None if gpus is None else _ro(gpus)
