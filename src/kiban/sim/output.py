"""Run output: the event log while the run goes, and the run's output at the end.

:class:`RunRecorder` owns the event log: one row per settled instant (:data:`LOG_COLUMNS`),
valid until the next row. At the end it evaluates the exact server power over every change,
the facility over the log, the per-rack series, flushes the running jobs into the per-job
arrays and builds the ledger from the book.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from kiban.sim.settings import LOG_COLUMNS, RunOutput
from kiban.sim.slots import (
    R_ATTAINED,
    R_CAP,
    R_CKPT,
    R_ENERGY,
    R_FAIL,
    R_IO,
    R_PROGRESS,
    R_RUN,
    R_THERMAL,
    R_UNDER,
)

if TYPE_CHECKING:
    from kiban._typing import FloatArray
    from kiban.sim.cluster import ClusterState
    from kiban.sim.facility import FacilityPower
    from kiban.sim.heat import NodeHeat
    from kiban.sim.ledger_book import LedgerBook
    from kiban.sim.slots import Slots
    from kiban.sim.tables import RunInputs

__all__ = ["RunRecorder"]


class RunRecorder:
    """The event log and the final output of a run (see the module docstring)."""

    def __init__(
        self, inputs: RunInputs, state: ClusterState, slots: Slots, heat: NodeHeat, book: LedgerBook
    ) -> None:
        jobs = inputs.jobs
        self._layout, self._jobs, self._settings = inputs.layout, jobs, inputs.settings
        self._state = state
        self._slots, self._heat, self._book = slots, heat, book
        # rows as tuples of Python numbers, made float64 once by columns(): the same values as
        # writing each row into a float64 array, without a NumPy assignment per settle
        self._rows: list[tuple[float, ...]] = []
        self.n_rows = 0
        self._n_gpus = inputs.layout.n_gpus

    @property
    def log(self) -> FloatArray:
        """The log so far as one float64 array (rows × :data:`LOG_COLUMNS`)."""
        if not self._rows:
            return np.zeros((0, len(LOG_COLUMNS)))
        return np.array(self._rows, dtype=np.float64)

    def record(self, t_s: float, *, final: bool = False) -> None:
        """Append the state now as a log row (``final``: the row that closes the window)."""
        if final and self.n_rows > 0:
            # the closing row repeats the last state; it only marks the end of the window
            self._rows.append((float(t_s), *self._rows[-1][1:]))
            self.n_rows += 1
            return
        st, heat = self._state, self._heat
        s0, s1, s2, s3, s4, s5, s6 = self._book.rate_gpus
        n_down = st.n_down_gpus
        self._rows.append(
            (
                t_s,
                heat.it_power_w,
                heat.supply_temp_c,
                heat.max_inlet_c,
                self._n_gpus - st.n_free_gpus - n_down,
                heat.n_busy_nodes,  # up nodes with a GPU held (kept by the heat's refresh)
                s0,  # productive
                s1,  # io_stall
                s2,  # underused
                s3,  # thermal_throttle
                s4,  # power_cap
                s5,  # checkpoint
                s6 + n_down,  # failure
                st.n_pending,
                self._slots.n,
            )
        )
        self.n_rows += 1

    def columns(self) -> dict[str, FloatArray]:
        """The log so far, one array per :data:`LOG_COLUMNS` name."""
        log = self.log
        return {name: np.ascontiguousarray(log[:, i]) for i, name in enumerate(LOG_COLUMNS)}

    def output(
        self,
        *,
        policy_name: str,
        horizon_s: float,
        facility: FacilityPower,
        log: dict[str, FloatArray],
        counters: dict[str, int],
        wall_s: float,
        policy_wall_s: float,
        extra: dict[str, Any] | None = None,
    ) -> RunOutput:
        """Build the run's output (the running jobs are booked up to the end first)."""
        st, sl, lay = self._state, self._slots, self._layout
        sl.book_all(st.time_s)  # the run ends at the horizon: running jobs count up to it
        job_arrays: dict[str, np.ndarray] = {
            "state": st.job_state.copy(),
            "first_start_s": st.job_first_start_s.copy(),
            "end_s": st.job_end_s.copy(),
            "energy_j": sl.job_energy_j.copy(),
            "stall_s": sl.job_stall_s.copy(),
            "underused_s": sl.job_underused_s.copy(),
            "throttle_s": sl.job_throttle_s.copy(),
            "power_cap_s": sl.job_power_cap_s.copy(),
            "checkpoint_s": sl.job_checkpoint_s.copy(),
            "failure_s": sl.job_failure_s.copy(),
            "run_s": sl.job_run_s.copy(),
            "attained_gpu_s": sl.job_attained_gpu_s.copy(),
            "progress_s": sl.job_progress_s.copy(),
            "restarts": st.job_restarts.copy(),
            "preemptions": st.job_preemptions.copy(),
        }
        n = sl.n
        if n:
            j = sl.job[:n]
            acc = sl.acc[:n]
            for key, col in (
                ("energy_j", R_ENERGY),
                ("stall_s", R_IO),
                ("underused_s", R_UNDER),
                ("throttle_s", R_THERMAL),
                ("power_cap_s", R_CAP),
                ("checkpoint_s", R_CKPT),
                ("failure_s", R_FAIL),
                ("run_s", R_RUN),
                ("attained_gpu_s", R_ATTAINED),
                ("progress_s", R_PROGRESS),
            ):
                job_arrays[key][j] += acc[:, col]
        rack_t, rack_dur, rack_power, rack_inlet = self._heat.power.rack_series(
            log["time_s"],
            log["supply_temp_c"],
            horizon_s,
            period_s=self._settings.rack_sample_period_s,
            max_samples=self._settings.max_rack_samples,
            air_frac=1.0 - lay.rack_liquid_capture_frac,
            d_k_per_w=lay.heat_distribution_k_per_w,
        )
        book = self._book
        return RunOutput(
            policy_name=policy_name,
            layout=lay,
            jobs=self._jobs,
            settings=self._settings,
            horizon_s=horizon_s,
            capacity_gpu_s=float(lay.n_gpus) * horizon_s,
            allocated_gpu_s=book.allocated_gpu_s,
            ledger_gpu_s=book.buckets_gpu_s(),
            fragmentation_gpu_s=book.frag_gpu_s,
            job=job_arrays,
            log=log,
            facility=facility,
            rack_time_s=rack_t,
            rack_duration_s=rack_dur,
            rack_power_w=rack_power,
            rack_inlet_temp_c=rack_inlet,
            counters=counters,
            wall_time_s=wall_s,
            policy_wall_s=policy_wall_s,
            seed=self._settings.seed,
            moved_gpu_s={
                "failure": book.moved_failure_gpu_s,
                "checkpoint": book.moved_ckpt_gpu_s,
                "underused": book.moved_underused_gpu_s,
            },
            **(extra or {}),
        )
