"""The read-only view of a run that policies (and in-loop facility models) receive.

:class:`ClusterView` wraps the live arrays of the run's components with
``flags.writeable = False`` views, created once per run: readers see the live state at zero copy
cost and cannot change it. It reads the allocation and job life cycle
(:class:`~kiban.sim.cluster.ClusterState`, re-exported here), the running jobs
(:class:`~kiban.sim.slots.Slots`), node and rack power and inlets
(:class:`~kiban.sim.heat.NodeHeat`), and the per-GPU observables
(:class:`~kiban.sim.observables.GpuObservables`).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from kiban.sim.cluster import ClusterState
from kiban.sim.slots import R_ATTAINED, R_PROGRESS, R_RUN
from kiban.vocabulary import (
    DONE,
    FUTURE,
    GPU_DOWN,
    GPU_FREE,
    MILLI_PER_GPU,
    PENDING,
    RUNNING,
    UNSCHEDULABLE,
)

if TYPE_CHECKING:
    from kiban._typing import BoolArray, FloatArray, IntArray
    from kiban.sim.heat import NodeHeat
    from kiban.sim.jobs import JobTable
    from kiban.sim.layout import ClusterLayout
    from kiban.sim.observables import GpuObservables, GpuSnapshot
    from kiban.sim.slots import Slots

__all__ = [
    "DONE",
    "FUTURE",
    "GPU_DOWN",
    "GPU_FREE",
    "PENDING",
    "RUNNING",
    "UNSCHEDULABLE",
    "ClusterState",
    "ClusterView",
]


def _ro(arr: np.ndarray) -> np.ndarray:
    view = arr.view()
    view.flags.writeable = False
    return view


class ClusterView:
    """Read-only window on a run, handed to policies.

    Arrays are live views (they follow the run) with ``writeable = False``; writing to them
    raises ``ValueError``. Methods return fresh read-only arrays.

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
        node_cpu_free_milli: Free host CPU per node (milli-cores), or None where the layout
            states no node CPU.
        node_memory_free_b: Free host memory per node (B), or None likewise.
    """

    def __init__(
        self,
        state: ClusterState,
        layout: ClusterLayout,
        jobs: JobTable,
        *,
        slots: Slots,
        heat: NodeHeat,
        observables: GpuObservables,
    ) -> None:
        self._s, self._slots, self._heat, self._obs = state, slots, heat, observables
        self.layout = layout
        self.jobs = jobs
        self.gpu_job = _ro(state.gpu_job)
        self.node_free = _ro(state.node_free)
        self.node_up = _ro(state.node_up)
        self.rack_power_w = _ro(heat.rack_power_w)
        self.rack_inlet_temp_c = _ro(heat.rack_inlet_temp_c)
        self.rack_gpu_alloc_w = _ro(state.rack_gpu_alloc_w)
        self.job_state = _ro(state.job_state)
        self.job_progress_s = _ro(slots.job_progress_s)
        self.job_pending_since_s = _ro(state.job_pending_since_s)
        self.job_power_cap_w = _ro(state.job_power_cap_w)
        self.job_attained_booked_gpu_s = _ro(slots.job_attained_gpu_s)
        self.job_run_booked_s = _ro(slots.job_run_s)
        cpu, mem = state.node_cpu_free_milli, state.node_memory_free_b
        self.node_cpu_free_milli: IntArray | None = None if cpu is None else _ro(cpu)
        self.node_memory_free_b: FloatArray | None = None if mem is None else _ro(mem)
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
        return self._slots.n

    @property
    def supply_temp_c(self) -> float:
        """Current cooling supply temperature (°C)."""
        return self._heat.supply_temp_c

    @property
    def supply_setpoint_c(self) -> float:
        """Supply-air set-point now (°C): the policy's last one, else the scenario's."""
        return self._heat.supply_setpoint_c

    @property
    def cooling_units_failed(self) -> BoolArray | None:
        """CRAH/CRAC units that are down now (read-only; None: the facility reports none).

        What a building management system shows as unit alarms.
        """
        failed = self._heat.cooling_units_failed
        return None if failed is None else _ro(failed)

    @property
    def it_power_w(self) -> float:
        """Current IT power of the cluster (W)."""
        return float(self._heat.rack_power_w.sum())

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
        return _ro(self._slots.job[: self._slots.n])

    def running_expected_end_s(self) -> FloatArray:
        """Expected completion time of each running job at its current speed (slot order; s)."""
        return _ro(self._slots.finish_s[: self._slots.n])

    def running_num_gpus(self) -> IntArray:
        """GPUs held by each running job (slot order)."""
        return _ro(self._slots.n_gpus[: self._slots.n])

    def running_power_w(self) -> FloatArray:
        """Per-GPU board power of each running job now (slot order; W)."""
        return _ro(self._slots.power_w[: self._slots.n])

    def running_speed_frac(self) -> FloatArray:
        """Speed shares of each running job now (slot order), shape (n, 3), read-only.

        Columns: ``s_cap`` (power cap), ``s_thermal`` (thermal throttle), ``s_io`` (share of
        the shared file system); the job progresses at about ``min(s_cap · s_thermal, s_io)``.
        """
        sl = self._slots
        n = sl.n
        return _ro(np.stack((sl.s_cap[:n], sl.s_thermal[:n], sl.s_io[:n]), axis=1))

    def attained_gpu_s(self, jobs: IntArray) -> FloatArray:
        """Attained service (GPUs × seconds held) of the given jobs, up to now.

        Args:
            jobs: Job indices.

        Returns:
            GPU-seconds per job.
        """
        sl, t = self._slots, self._s.time_s
        jobs = np.asarray(jobs, dtype=np.int64)
        out = sl.job_attained_gpu_s[jobs].copy()
        slots = sl.job_slot[jobs]
        live = slots >= 0
        if live.any():
            i = slots[live]
            out[live] += sl.acc[i, R_ATTAINED] + sl.held_gpus(i) * (t - sl.t_last_s[i])
        return out

    def running_attained_gpu_s(self) -> FloatArray:
        """Attained service (GPU·s) of the running jobs up to now, in slot order."""
        sl, t = self._slots, self._s.time_s
        n = sl.n
        sj = sl.job[:n]
        return (
            sl.job_attained_gpu_s[sj]
            + sl.acc[:n, R_ATTAINED]
            + sl.held_gpus(np.arange(n)) * (t - sl.t_last_s[:n])
        )

    def run_time_s(self, jobs: IntArray) -> FloatArray:
        """Wall time the given jobs have held GPUs so far (s)."""
        sl, t = self._slots, self._s.time_s
        jobs = np.asarray(jobs, dtype=np.int64)
        out = sl.job_run_s[jobs].copy()
        slots = sl.job_slot[jobs]
        live = slots >= 0
        if live.any():
            i = slots[live]
            out[live] += sl.acc[i, R_RUN] + (t - sl.t_last_s[i])
        return out

    def progress_s(self, jobs: IntArray) -> FloatArray:
        """Work done (full-speed seconds) of the given jobs, up to now."""
        sl, t = self._slots, self._s.time_s
        jobs = np.asarray(jobs, dtype=np.int64)
        out = sl.job_progress_s[jobs].copy()
        slots = sl.job_slot[jobs]
        live = slots >= 0
        if live.any():
            i = slots[live]
            out[live] += sl.acc[i, R_PROGRESS] + sl.rate[i, R_PROGRESS] * (t - sl.t_last_s[i])
        return out

    @functools.cached_property
    def special_jobs(self) -> BoolArray | None:
        """Jobs that share a GPU or state CPU/memory the layout checks; None if there are none.

        Placement layers take a slower path for these jobs only.
        """
        jobs, layout = self.jobs, self.layout
        if not (jobs.any_shared or jobs.any_host_request or jobs.any_mig):
            return None
        special = (jobs.gpu_milli < MILLI_PER_GPU) | (jobs.mig_compute_slices > 0)
        if layout.node_cpu_milli is not None:
            special = special | (jobs.cpu_milli > 0)
        if layout.node_memory_b is not None:
            special = special | (jobs.memory_b > 0)
        return _ro(special) if special.any() else None

    def gpu_milli_left(self, gpus: IntArray | None = None) -> IntArray:
        """Milli-GPU left on each GPU (default: all): 1000 free, a shared GPU's remainder, else 0.

        GPUs held by jobs that take a share of one (``gpu_job`` = ``GPU_SHARED``) take further
        such jobs up to 1000 milli.
        """
        if gpus is None:
            return _ro(self._s.gpu_left_all())
        return _ro(self._s.gpu_milli_left(gpus))

    def change_mark(self) -> int:
        """A mark of the allocation now, for :meth:`nodes_changed_since`."""
        return self._s.change_mark()

    def nodes_changed_since(self, mark: int) -> list[int] | None:
        """Nodes whose GPUs, shares or host CPU/memory changed since ``mark``; None: unknown.

        ``mark`` is a :meth:`change_mark`; repeats are possible (do not modify the list); None
        when that is too long ago to tell.
        """
        return self._s.nodes_changed_since(mark)

    def gpu_mig_mask(self) -> IntArray | None:
        """Occupied MIG memory slices per GPU (bit mask; 0 = no instance); None without MIG jobs.

        A GPU with a non-zero mask is in MIG mode and takes further instances where its
        geometry has a free placement (:mod:`kiban.mig`); a free GPU takes any.
        """
        mig = self._s.mig
        return None if mig is None else _ro(mig.gpu_mask)

    def gpu_mig_compute(self) -> IntArray | None:
        """Compute slices held by MIG instances per GPU; None without MIG jobs."""
        mig = self._s.mig
        return None if mig is None else _ro(mig.gpu_compute)

    def job_mig_start(self, job: int) -> int:
        """First memory slice of a running job's MIG instance (-1: none)."""
        mig = self._s.mig
        return -1 if mig is None else int(mig.job_start[job])

    def job_gpus(self, job: int) -> IntArray | None:
        """GPUs held by a running job (read-only), or None."""
        gpus = self._slots.job_gpus[job]
        return None if gpus is None else _ro(gpus)

    # --- per-GPU observables ------------------------------------------------------------------
    def gpu_snapshot(self, gpus: IntArray | None = None) -> GpuSnapshot:
        """Power, die temperature, activity, clock and clock-event reasons of GPUs now.

        Args:
            gpus: GPU indices (default: every GPU).

        Returns:
            A :class:`~kiban.sim.observables.GpuSnapshot` (fresh arrays).
        """
        return self._obs.snapshot(None if gpus is None else np.asarray(gpus, dtype=np.int64))

    def gpu_power_die_activity(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Board power (W), steady die temperature (°C) and busy share of every GPU now.

        Read-only arrays, the same objects while their values do not change (the
        observables' own: :meth:`~kiban.sim.observables.GpuObservables.power_die_activity`).
        """
        return self._obs.power_die_activity()

    def gpu_power_w(self) -> FloatArray:
        """Board power of every GPU now (W)."""
        return _ro(self._obs.power_w(np.arange(self.layout.n_gpus)))

    def gpu_die_temp_c(self) -> FloatArray:
        """Steady die temperature of every GPU now (°C)."""
        return _ro(self._obs.snapshot().die_temp_c)

    def gpu_activity_frac(self) -> FloatArray:
        """Busy share of every GPU now (DCGM ``GPU_UTIL``/100)."""
        return _ro(self._obs.snapshot().activity_frac)
