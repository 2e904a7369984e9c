"""Fragmentation check, invariant checks and assembling the :class:`~kiban.sim.settings.RunOutput`.

The functions are methods of :class:`~kiban.sim.simulator.Simulator` (bound in its class body),
kept here as plain functions so the class stays readable; they read and write the simulator's state
exactly as the methods did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kiban.errors import SimulationError
from kiban.sim.settings import LOG_COLUMNS, RunOutput
from kiban.sim.state import (
    GPU_FREE,
    LEDGER_COLUMNS,
    PENDING,
    R_ATTAINED,
    R_CAP,
    R_CKPT,
    R_ENERGY,
    R_FAIL,
    R_IO,
    R_PROGRESS,
    R_RUN,
    R_THERMAL,
    RUNNING,
)

if TYPE_CHECKING:
    from kiban.sim.simulator import Simulator


# fragmentation and invariants
def _fragmented(self: Simulator) -> bool:
    """True if a waiting job fits the free GPU count but no placement shape allows it."""
    st = self.state
    waiting = np.flatnonzero((self._class_pending > 0) & self._class_shaped)
    if waiting.size == 0:
        return False
    free = st.node_free
    for c in waiting.tolist():
        size, g, req = self._class_key[c]
        if size > st.n_free_gpus:
            continue
        ok_nodes = free if req < 0 else np.where(self._node_sku == req, free, 0)
        if g > 0:
            feasible = int(np.count_nonzero(ok_nodes >= g)) * g >= size
        else:
            feasible = int(ok_nodes.sum()) >= size
        if not feasible:
            return True
    return False


def _check_invariants(self: Simulator) -> None:
    """Expensive consistency checks (on when ``kiban.options.debug_checks``)."""
    st = self.state
    n = st.n_slots
    held = st.gpu_job[st.gpu_job >= 0]
    counts = np.bincount(held, minlength=self.jobs.n_jobs)
    running = np.flatnonzero(st.job_state == RUNNING)
    problems = []
    if set(running.tolist()) != set(st.slot_job[:n].tolist()):
        problems.append("running jobs and slots disagree")
    if (counts[running] != st.job_n_alloc[running]).any():
        problems.append("a running job holds a different number of GPUs than allocated")
    if counts.sum() != st.slot_n[:n].sum():
        problems.append("GPUs held by jobs that are not running")
    node_free = np.bincount(self._gpu_node[st.gpu_job == GPU_FREE], minlength=self.layout.n_nodes)
    if (node_free != st.node_free).any():
        problems.append("node free counts disagree with the GPU table")
    if int((st.gpu_job == GPU_FREE).sum()) != st.n_free_gpus:
        problems.append("free GPU count drifted")
    if not np.array_equal(np.flatnonzero(st.job_state == PENDING), st.pending_buf[: st.n_pending]):
        problems.append("the pending queue disagrees with the job states")
    exact = st.slot_n[:n] @ st.slot_rate[:n, LEDGER_COLUMNS]
    if not np.allclose(self._alloc_sums, exact, rtol=1e-9, atol=1e-9):
        problems.append("incremental ledger sums drifted from the slot rates")
    rows = st.slot_rate[:n, LEDGER_COLUMNS].sum(axis=1)
    if n and not np.allclose(rows, 1.0, rtol=0, atol=1e-9):
        problems.append("ledger shares of a running job do not sum to 1")
    if problems:
        msg = f"invariant broken at t={self._t} s: " + "; ".join(problems)
        raise SimulationError(msg)


# output
def _output(self: Simulator, horizon: float, wall_s: float) -> RunOutput:
    st, lay = self.state, self.layout
    log = self._log[: self._n_log]
    cols = {name: np.ascontiguousarray(log[:, i]) for i, name in enumerate(LOG_COLUMNS)}
    # exact server physics over every change, replacing the online estimate
    cols["it_power_w"] = self._power.exact_it_power_w(self._n_log)
    facility = self.facility.power_w(cols["it_power_w"], cols["time_s"], cols["supply_temp_c"])
    # flush running jobs so per-job accounting covers the whole window
    for i in range(st.n_slots):
        self._book(i)
    job_arrays: dict[str, np.ndarray] = {
        "state": st.job_state.copy(),
        "first_start_s": st.job_first_start_s.copy(),
        "end_s": st.job_end_s.copy(),
        "energy_j": st.job_energy_j.copy(),
        "stall_s": st.job_stall_s.copy(),
        "throttle_s": st.job_throttle_s.copy(),
        "power_cap_s": st.job_power_cap_s.copy(),
        "checkpoint_s": st.job_checkpoint_s.copy(),
        "failure_s": st.job_failure_s.copy(),
        "run_s": st.job_run_s.copy(),
        "attained_gpu_s": st.job_attained_gpu_s.copy(),
        "progress_s": st.job_progress_s.copy(),
        "restarts": st.job_restarts.copy(),
        "preemptions": st.job_preemptions.copy(),
    }
    n = st.n_slots
    if n:
        j = st.slot_job[:n]
        acc = st.slot_acc[:n]
        for key, col in (
            ("energy_j", R_ENERGY),
            ("stall_s", R_IO),
            ("throttle_s", R_THERMAL),
            ("power_cap_s", R_CAP),
            ("checkpoint_s", R_CKPT),
            ("failure_s", R_FAIL),
            ("run_s", R_RUN),
            ("attained_gpu_s", R_ATTAINED),
            ("progress_s", R_PROGRESS),
        ):
            job_arrays[key][j] += acc[:, col]
    rack_t, rack_dur, rack_power, rack_inlet = self._power.rack_series(
        cols["time_s"],
        cols["supply_temp_c"],
        horizon,
        period_s=self.settings.rack_sample_period_s,
        max_samples=self.settings.max_rack_samples,
        air_frac=self._air_frac,
        d_k_per_w=self._d,
    )
    alloc = self._led_alloc
    moved = self._moved_to_failure_gpu_s
    moved_ck = self._moved_to_ckpt_gpu_s
    ledger = {
        "productive": alloc[0] - moved - moved_ck,
        "idle_no_demand": self._idle_gpu_s,
        "queue_blocked": self._blocked_gpu_s,
        "io_stall": float(alloc[1]),
        "thermal_throttle": float(alloc[2]),
        "power_cap": float(alloc[3]),
        "failure": float(alloc[5]) + self._down_gpu_s + moved,
        "checkpoint": float(alloc[4]) + moved_ck,
    }
    return RunOutput(
        policy_name=self.policy.name,
        layout=lay,
        jobs=self.jobs,
        settings=self.settings,
        horizon_s=horizon,
        capacity_gpu_s=float(lay.n_gpus) * horizon,
        allocated_gpu_s=float(sum(alloc)),
        ledger_gpu_s=ledger,
        fragmentation_gpu_s=self._frag_gpu_s,
        job=job_arrays,
        log=cols,
        facility=facility,
        rack_time_s=rack_t,
        rack_duration_s=rack_dur,
        rack_power_w=rack_power,
        rack_inlet_temp_c=rack_inlet,
        counters=dict(self._counters),
        wall_time_s=wall_s,
        policy_wall_s=self._policy_wall_s,
        seed=self.settings.seed,
    )
