"""Stopping jobs and the GPU-second ledger: closing slots, booking, per-slot rates.

The functions are methods of :class:`~kiban.sim.simulator.Simulator` (bound in its class body),
kept here as plain functions so the class stays readable; they read and write the simulator's state
exactly as the methods did.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from kiban.sim.constants import PHASE_CKPT, PHASE_COMPUTE, PHASE_FAIL, RESTORE_FAILURE
from kiban.sim.state import (
    DONE,
    F_BUSY,
    F_CAP,
    F_CKPT,
    F_FINISH,
    F_IO_DEMAND,
    F_IO_NOW,
    F_PHASE_END,
    F_POWER,
    F_S_CAP,
    F_S_IO,
    F_S_THERMAL,
    F_SCALE,
    F_THERMAL_CAP,
    F_THROTTLE_AT,
    GPU_FREE,
    LEDGER_COLUMNS,
    N_RATES,
    PENDING,
    R_ATTAINED,
    R_CAP,
    R_CKPT,
    R_ENERGY,
    R_FAIL,
    R_IO,
    R_PROD,
    R_PROGRESS,
    R_RUN,
    R_THERMAL,
)

if TYPE_CHECKING:
    from kiban._typing import IntArray
    from kiban.sim.simulator import Simulator


def _complete(self: Simulator, i: int) -> None:
    st = self.state
    j = int(st.slot_job[i])
    self._book(i)
    self._close_slot(i)
    st.job_progress_s[j] = self.jobs.duration_s[j]
    st.job_end_s[j] = self._t
    st.job_state[j] = DONE
    self._policy_needed = True


def _stop(self: Simulator, j: int, *, reason: str) -> None:
    """Stop a running job (preemption or failure) and put it back in the queue."""
    st = self.state
    i = int(st.job_slot[j])
    self._book(i)
    self._close_slot(i)
    if reason == "failure":
        interval_s = float(self.jobs.checkpoint_interval_s[j])
        progress_s = float(st.job_progress_s[j])
        if progress_s <= 0.0:
            lost_s = 0.0
        elif interval_s > 0:
            lost_s = progress_s % interval_s  # work since the last checkpoint
        else:
            lost_s = progress_s  # never checkpoints: everything is redone
        st.job_progress_s[j] = progress_s - lost_s
        st.job_failure_s[j] += lost_s
        self._moved_to_failure_gpu_s += lost_s * float(self.jobs.num_gpus[j])
        st.job_restore_kind[j] = RESTORE_FAILURE
        st.job_restarts[j] += 1
        self._counters["restarts"] += 1
    else:
        # Save now and restore at the restart: 2 × the checkpoint write time (plus any
        # restart overhead) of extra work for the job, booked as checkpoint time. Folding
        # the save/restore into the job's work (instead of an idle restore phase with its
        # own event) keeps the GPU time exact and halves the events of a preemptive policy.
        redo_s = 2.0 * float(self._ckpt_write_s[j]) + self.settings.restart_overhead_s
        if redo_s > 0.0:
            st.job_progress_s[j] -= redo_s
            st.job_checkpoint_s[j] += redo_s
            self._moved_to_ckpt_gpu_s += redo_s * float(self.jobs.num_gpus[j])
        st.job_preemptions[j] += 1
        self._counters["preemptions"] += 1
    st.job_state[j] = PENDING
    st.job_pending_since_s[j] = self._t
    st.pend_add(j)
    self._class_pending[self._job_class[j]] += 1
    self._policy_needed = True


def _close_slot(self: Simulator, i: int) -> None:
    """Flush a (booked) slot into its job, release its GPUs and remove the slot."""
    st = self.state
    j = int(st.slot_job[i])
    # R_PROD..R_FAIL columns of job_acc hold job-seconds per bucket; R_PROD is unused there
    st.job_acc[j] += st.slot_acc[i]
    gpus, nodes, counts = st.job_gpus[j], st.job_nodes[j], st.job_node_counts[j]
    assert gpus is not None  # running job
    assert nodes is not None
    assert counts is not None
    k = int(gpus.shape[0])
    _, n_i, sku, _, _ = st.slot_i[i].tolist()
    f = st.slot_f[i].tolist()
    if nodes.shape[0] == 1:
        # one node (every 1-GPU job): scalar updates
        node = int(nodes[0])
        st.node_gpu_power_w[node] -= k * (f[F_POWER] - self._idle_list[sku])
        self._dirty_nodes.add(node)
        st.gpu_job[gpus] = GPU_FREE
        st.node_free[node] += k
        st.rack_gpu_alloc_w[self._node_rack_list[node]] -= k * f[F_CAP]
    else:
        st.node_gpu_power_w[nodes] -= counts * (f[F_POWER] - self._idle_list[sku])
        self._dirty_nodes.update(nodes.tolist())
        st.gpu_job[gpus] = GPU_FREE
        st.node_free[nodes] += counts
        np.subtract.at(st.rack_gpu_alloc_w, self._node_rack[nodes], counts * f[F_CAP])
    st.n_free_gpus += k
    sums = self._alloc_sums
    for col, val in enumerate(st.slot_rate[i, LEDGER_COLUMNS].tolist()):
        sums[col] -= n_i * val
    self._io_total_b_per_s -= f[F_IO_NOW]
    st.slot_io_now_b_per_s[i] = 0.0
    st.job_gpus[j] = None
    st.job_nodes[j] = None
    st.job_node_counts[j] = None
    st.job_n_alloc[j] = 0
    st.job_slot[j] = -1
    self._job_racks.pop(j, None)
    # swap-remove the slot
    last = st.n_slots - 1
    if i != last:
        for arr in self._slot_arrays:
            arr[i] = arr[last]
        st.job_slot[st.slot_job[i]] = i
    st.slot_next_s[last] = math.inf
    st.slot_job[last] = -1
    st.n_slots = last
    self._io_dirty = True
    self._thermal_dirty = True


# rates and booking
def _book(self: Simulator, i: int) -> None:
    st = self.state
    dt = self._t - st.slot_t_last_s[i]
    if dt > 0:
        st.slot_acc[i] += dt * st.slot_rate[i]
        st.slot_t_last_s[i] = self._t


def _book_many(self: Simulator, idx: IntArray) -> None:
    st = self.state
    dt = self._t - st.slot_t_last_s[idx]
    st.slot_acc[idx] += dt[:, None] * st.slot_rate[idx]
    st.slot_t_last_s[idx] = self._t


def _rate1(self: Simulator, i: int) -> None:
    """Scalar form of :meth:`_rates` for one slot (the common case; same arithmetic)."""
    st = self.state
    f = st.slot_f[i].tolist()
    job, n_i, sku, _, phase = st.slot_i[i].tolist()
    n = float(n_i)
    comp = phase == PHASE_COMPUTE
    c = f[F_CKPT] if comp else 0.0
    s_cap = f[F_S_CAP]
    s_c = s_cap * f[F_S_THERMAL]
    s = min(s_c, f[F_S_IO])
    run = 1.0 - c if comp else 0.0
    idle_ctx_w = self._idle_ctx_list[sku]
    busy_w = min(f[F_BUSY], f[F_THERMAL_CAP])
    active = s / s_c if s_c > 0 else 0.0
    comp_w = idle_ctx_w + (busy_w - idle_ctx_w) * active
    avg_w = c * idle_ctx_w + (1.0 - c) * comp_w if comp else idle_ctx_w
    progress_rate = run * s * f[F_SCALE]
    row = st.slot_rate[i]
    old = row[LEDGER_COLUMNS].tolist()
    new = (
        run * s,
        run * (s_c - s),
        run * (s_cap - s_c),
        run * (1.0 - s_cap),
        c if comp else float(phase == PHASE_CKPT),
        float(phase == PHASE_FAIL),
    )
    row[:] = (progress_rate, n * avg_w, *new, 1.0, n)
    sums = self._alloc_sums
    for k in range(6):
        sums[k] += n * (new[k] - old[k])
    delta_w = avg_w - f[F_POWER]
    io_now_b_per_s = f[F_IO_DEMAND] * s_c if comp else 0.0
    self._io_total_b_per_s += io_now_b_per_s - f[F_IO_NOW]
    if comp:
        left_s = (
            self._duration_list[job]
            - float(st.job_acc[job, R_PROGRESS])
            - float(st.slot_acc[i, R_PROGRESS])
        )
        if progress_rate > 0:
            finish_s = self._t + max(left_s, 0.0) / progress_rate
        else:
            finish_s = self._t if left_s <= 0 else math.inf
    else:
        finish_s = math.inf
    sf = st.slot_f[i]
    sf[F_POWER] = avg_w
    sf[F_IO_NOW] = io_now_b_per_s
    sf[F_FINISH] = finish_s
    st.slot_next_s[i] = min(finish_s, f[F_PHASE_END], f[F_THROTTLE_AT])
    if delta_w != 0.0:
        nodes, counts = st.job_nodes[job], st.job_node_counts[job]
        assert nodes is not None  # running job
        assert counts is not None
        if nodes.shape[0] == 1:
            node = int(nodes[0])
            st.node_gpu_power_w[node] += float(counts[0]) * delta_w
            self._dirty_nodes.add(node)
        else:
            st.node_gpu_power_w[nodes] += counts * delta_w
            self._dirty_nodes.update(nodes.tolist())


def _rates(self: Simulator, idx: IntArray) -> None:
    """Recompute progress_rate rows, power and next transition of (booked) slots ``idx``."""
    if idx.shape[0] == 1:
        self._rate1(int(idx[0]))
        return
    st = self.state
    n = st.slot_n[idx].astype(np.float64)
    phase = st.slot_phase[idx]
    comp = phase == PHASE_COMPUTE
    c = np.where(comp, st.slot_ckpt_frac[idx], 0.0)
    s_cap = st.slot_s_cap[idx]
    s_c = s_cap * st.slot_s_thermal[idx]
    s = np.minimum(s_c, st.slot_s_io[idx])
    run = np.where(comp, 1.0 - c, 0.0)
    rows = np.zeros((idx.shape[0], N_RATES))
    rows[:, R_PROGRESS] = run * s * st.slot_scale_frac[idx]
    rows[:, R_PROD] = run * s
    rows[:, R_IO] = run * (s_c - s)
    rows[:, R_THERMAL] = run * (s_cap - s_c)
    rows[:, R_CAP] = run * (1.0 - s_cap)
    rows[:, R_CKPT] = np.where(comp, c, phase == PHASE_CKPT)
    rows[:, R_FAIL] = phase == PHASE_FAIL
    sku = st.slot_sku[idx]
    idle_ctx_w = self._sku_idle_ctx_w[sku]
    busy_w = np.minimum(st.slot_busy_power_w[idx], st.slot_thermal_cap_w[idx])
    with np.errstate(divide="ignore", invalid="ignore"):
        active = np.where(s_c > 0, s / s_c, 0.0)
    comp_w = idle_ctx_w + (busy_w - idle_ctx_w) * active
    avg_w = np.where(comp, c * idle_ctx_w + (1.0 - c) * comp_w, idle_ctx_w)
    rows[:, R_ENERGY] = n * avg_w
    rows[:, R_RUN] = 1.0
    rows[:, R_ATTAINED] = n
    d_sums = (n @ (rows[:, LEDGER_COLUMNS] - st.slot_rate[idx][:, LEDGER_COLUMNS])).tolist()
    for col, val in enumerate(d_sums):
        self._alloc_sums[col] += val
    st.slot_rate[idx] = rows
    # node power follows the per-GPU average
    delta_w = avg_w - st.slot_power_w[idx]
    st.slot_power_w[idx] = avg_w
    changed = np.flatnonzero(delta_w != 0.0)
    for pos in changed.tolist():
        j = int(st.slot_job[idx[pos]])
        nodes, counts = st.job_nodes[j], st.job_node_counts[j]
        assert nodes is not None  # running job
        assert counts is not None
        st.node_gpu_power_w[nodes] += counts * delta_w[pos]
        self._dirty_nodes.update(nodes.tolist())
    io_now_b_per_s = np.where(comp, st.slot_io_demand_b_per_s[idx] * s_c, 0.0)
    self._io_total_b_per_s += float(io_now_b_per_s.sum() - st.slot_io_now_b_per_s[idx].sum())
    st.slot_io_now_b_per_s[idx] = io_now_b_per_s
    # next transition
    jobs = st.slot_job[idx]
    left_s = self.jobs.duration_s[jobs] - st.job_progress_s[jobs] - st.slot_acc[idx, R_PROGRESS]
    progress_rate = rows[:, R_PROGRESS]
    with np.errstate(divide="ignore", invalid="ignore"):
        finish_s = np.where(
            progress_rate > 0,
            self._t + np.maximum(left_s, 0.0) / progress_rate,
            np.where(left_s <= 0, self._t, math.inf),
        )
    finish_s = np.where(comp, finish_s, math.inf)
    st.slot_finish_s[idx] = finish_s
    st.slot_next_s[idx] = np.minimum(
        np.minimum(finish_s, st.slot_phase_end_s[idx]), st.slot_throttle_at_s[idx]
    )
