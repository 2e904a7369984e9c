"""Applying policy decisions: validation, starting jobs on GPUs, opening slots, power caps.

The functions are methods of :class:`~kiban.sim.simulator.Simulator` (bound in its class body),
kept here as plain functions so the class stays readable; they read and write the simulator's state
exactly as the methods did.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from kiban.errors import PolicyError
from kiban.physics.gpu_power import average_power_under_cap_w, speed_frac_under_cap
from kiban.policies.base import Decision
from kiban.sim.constants import (
    PHASE_COMPUTE,
    PHASE_FAIL,
    RESTORE_FAILURE,
    RESTORE_NONE,
    STATE_NAMES,
)
from kiban.sim.events import EventKind
from kiban.sim.state import (
    F_BUSY,
    F_CAP,
    F_CKPT,
    F_FINISH,
    F_IO_DEMAND,
    F_IO_NOW,
    F_IO_WEIGHT,
    F_PHASE_END,
    F_POWER,
    F_S_CAP,
    F_S_IO,
    F_S_THERMAL,
    F_SCALE,
    F_START,
    F_T_LAST,
    F_THERMAL_CAP,
    F_THROTTLE_AT,
    GPU_DOWN,
    GPU_FREE,
    N_SLOT_FLOAT,
    PENDING,
    RUNNING,
)

if TYPE_CHECKING:
    from kiban._typing import IntArray
    from kiban.sim.simulator import Simulator


def _policy_error(self: Simulator, what: str) -> PolicyError:
    return PolicyError(f"policy {self.policy.name!r}: {what} (t={self._t:.0f} s)")


def _job_label(self: Simulator, j: int) -> str:
    return f"job {self.jobs.job_id[j]!r} (index {j})"


def _check_job_index(self: Simulator, field_name: str, j: object) -> int:
    if not isinstance(j, (int, np.integer)) or not 0 <= int(j) < self.jobs.n_jobs:
        msg = f"{field_name}[{j!r}]: not a job index"
        raise self._policy_error(msg)
    return int(j)


def _apply(self: Simulator, d: Decision) -> None:
    st = self.state
    for j_raw in sorted(int(j) for j in d.preempt):
        j = self._check_job_index("preempt", j_raw)
        if st.job_state[j] != RUNNING:
            msg = (
                f"preempt[{self._job_label(j)}]: job is {STATE_NAMES[int(st.job_state[j])]}, "
                "not running"
            )
            raise self._policy_error(msg)
        self._stop(j, reason="preempt")
    for j_raw, cap in d.power_cap_w.items():
        j = self._check_job_index("power_cap_w", j_raw)
        self._set_cap(j, float(cap))
    for j_raw, cache in d.cache_b.items():
        j = self._check_job_index("cache_b", j_raw)
        if not (math.isfinite(cache) and cache >= 0):
            msg = f"cache_b[{self._job_label(j)}] = {cache}: must be ≥ 0"
            raise self._policy_error(msg)
        self._job_cache_b[j] = cache
        slot = int(st.job_slot[j])
        if slot >= 0:  # a running job's input demand follows its new cache share
            nodes, counts = st.job_nodes[j], st.job_node_counts[j]
            assert nodes is not None  # running job
            assert counts is not None
            self._book(slot)
            st.slot_io_demand_b_per_s[slot] = self._io_demand(
                j, int(st.slot_n[slot]), nodes, counts
            )
            self._rate1(slot)
        self._io_dirty = True
    for j_raw, weight in d.io_weight.items():
        j = self._check_job_index("io_weight", j_raw)
        if not (math.isfinite(weight) and weight > 0):
            msg = f"io_weight[{self._job_label(j)}] = {weight}: must be > 0"
            raise self._policy_error(msg)
        self._job_io_weight[j] = weight
        if st.job_slot[j] >= 0:
            st.slot_io_weight[st.job_slot[j]] = weight
        self._io_dirty = True
    for j_raw in sorted(int(j) for j in d.start):
        j = self._check_job_index("start", j_raw)
        self._start(j, d.start[j_raw])
    if d.supply_temp_c is not None:
        lo, hi = self.settings.supply_temp_range_c
        temp = float(d.supply_temp_c)
        if not lo <= temp <= hi:
            msg = f"supply_temp_c = {temp}: allowed {lo}–{hi} °C"
            raise self._policy_error(msg)
        st.rack_inlet_temp_c += temp - st.supply_temp_c
        st.supply_temp_c = temp
        self._max_inlet_c = float(st.rack_inlet_temp_c.max())
        self._thermal_dirty = True
    if d.wake_at_s is not None and d.wake_at_s > self._t:
        wake = float(d.wake_at_s)
        if not (self._wake_pending and wake == self._wake_time_s):
            self._wake_version += 1
            self._wake_pending = True
            self._wake_time_s = wake
            self._queue.schedule(wake, EventKind.POLICY_TICK, self._wake_version)


# starting jobs
def _start(self: Simulator, j: int, gpus_in: object) -> None:
    st, jobs = self.state, self.jobs
    if st.job_state[j] != PENDING:
        msg = (
            f"start[{self._job_label(j)}]: job is {STATE_NAMES[int(st.job_state[j])]}, not pending"
        )
        raise self._policy_error(msg)
    gpus = np.asarray(gpus_in, dtype=np.int64).reshape(-1)
    k = int(gpus.shape[0])
    if k == 1 and jobs.min_num_gpus[j] <= 1 <= jobs.max_num_gpus[j]:
        g = int(gpus[0])
        if 0 <= g < self.layout.n_gpus and st.gpu_job[g] == GPU_FREE:
            self._start_one_gpu(j, g)
            return
    if not jobs.min_num_gpus[j] <= k <= jobs.max_num_gpus[j]:
        msg = (
            f"start[{self._job_label(j)}]: {k} GPUs given; the job takes "
            f"{jobs.min_num_gpus[j]}–{jobs.max_num_gpus[j]}"
        )
        raise self._policy_error(msg)
    n_gpus = self.layout.n_gpus
    if k and (gpus.min() < 0 or gpus.max() >= n_gpus):
        msg = f"start[{self._job_label(j)}]: GPU index outside [0, {n_gpus})"
        raise self._policy_error(msg)
    holders = st.gpu_job[gpus]
    if (holders != GPU_FREE).any():
        g = int(gpus[np.argmax(holders != GPU_FREE)])
        who = "a failed node" if st.gpu_job[g] == GPU_DOWN else self._job_label(int(st.gpu_job[g]))
        msg = f"start[{self._job_label(j)}]: GPU {g} is held by {who}"
        raise self._policy_error(msg)
    gpu_nodes = self._gpu_node[gpus]
    if len(set(gpus.tolist())) != k:
        msg = f"start[{self._job_label(j)}]: a GPU is listed twice"
        raise self._policy_error(msg)
    if k == 1 or (gpu_nodes == gpu_nodes[0]).all():
        nodes = gpu_nodes[:1]
        counts = np.array([k], dtype=np.int64)
    else:
        nodes, counts = np.unique(gpu_nodes, return_counts=True)
    gpn = int(jobs.gpus_per_node[j])
    if gpn and (counts != gpn).any():
        msg = (
            f"start[{self._job_label(j)}]: GPUs per node {counts.tolist()}; the job needs "
            f"exactly {gpn} on each node"
        )
        raise self._policy_error(msg)
    req = int(self._job_req_sku[j])
    if req >= 0 and (self._node_sku[nodes] != req).any():
        msg = f"start[{self._job_label(j)}]: the job needs GPU model {self.layout.skus[req].name!r}"
        raise self._policy_error(msg)
    sku = int(self._node_sku[nodes[0]])
    cap_w = st.job_power_cap_w[j]
    if math.isnan(cap_w):
        cap_w = float(self._default_cap_w[sku])
    racks = self._node_rack[nodes]
    if self._budget_finite:
        add = np.bincount(racks, weights=counts * cap_w, minlength=self.layout.n_racks)
        over = st.rack_gpu_alloc_w + add > self._budget_w + 1e-6
        if over.any():
            r = int(np.argmax(over))
            msg = (
                f"start[{self._job_label(j)}]: rack {self.layout.rack_names[r]!r} would carry "
                f"{st.rack_gpu_alloc_w[r] + add[r]:.0f} W of GPU power; its power/cooling "
                f"budget allows {self._budget_w[r]:.0f} W"
            )
            raise self._policy_error(msg)
    # --- commit ---------------------------------------------------------------------------
    st.gpu_job[gpus] = j
    st.node_free[nodes] -= counts
    st.n_free_gpus -= k
    np.add.at(st.rack_gpu_alloc_w, racks, counts * cap_w)
    st.job_gpus[j] = gpus
    st.job_nodes[j] = nodes
    st.job_node_counts[j] = counts
    st.job_n_alloc[j] = k
    st.job_state[j] = RUNNING
    st.pend_remove(j)
    self._class_pending[self._job_class[j]] -= 1
    if math.isnan(st.job_first_start_s[j]):
        st.job_first_start_s[j] = self._t
    self._open_slot(j, k=k, sku=sku, nodes=nodes, counts=counts, racks=racks, cap_w=cap_w)


def _start_one_gpu(self: Simulator, j: int, g: int) -> None:
    """:meth:`_start` for a job on one free GPU (most jobs): scalar checks and commit."""
    st = self.state
    node = self._gpu_node_list[g]
    req = self._req_list[j]
    sku = self._node_sku_list[node]
    if req >= 0 and sku != req:
        msg = f"start[{self._job_label(j)}]: the job needs GPU model {self.layout.skus[req].name!r}"
        raise self._policy_error(msg)
    gpn = self._gpn_list[j]
    if gpn and gpn != 1:
        msg = (
            f"start[{self._job_label(j)}]: GPUs per node [1]; the job needs exactly {gpn} "
            "on each node"
        )
        raise self._policy_error(msg)
    cap_w = float(st.job_power_cap_w[j])
    if math.isnan(cap_w):
        cap_w = float(self._default_cap_w[sku])
    r = self._node_rack_list[node]
    if self._budget_finite and st.rack_gpu_alloc_w[r] + cap_w > self._budget_w[r] + 1e-6:
        msg = (
            f"start[{self._job_label(j)}]: rack {self.layout.rack_names[r]!r} would carry "
            f"{st.rack_gpu_alloc_w[r] + cap_w:.0f} W of GPU power; its power/cooling "
            f"budget allows {self._budget_w[r]:.0f} W"
        )
        raise self._policy_error(msg)
    st.gpu_job[g] = j
    st.node_free[node] -= 1
    st.n_free_gpus -= 1
    st.rack_gpu_alloc_w[r] += cap_w
    nodes = np.array([node])
    counts = np.ones(1, dtype=np.int64)
    st.job_gpus[j] = np.array([g])
    st.job_nodes[j] = nodes
    st.job_node_counts[j] = counts
    st.job_n_alloc[j] = 1
    st.job_state[j] = RUNNING
    st.pend_remove(j)
    self._class_pending[self._job_class[j]] -= 1
    if math.isnan(st.job_first_start_s[j]):
        st.job_first_start_s[j] = self._t
    self._open_slot(j, k=1, sku=sku, nodes=nodes, counts=counts, racks=np.array([r]), cap_w=cap_w)


def _open_slot(
    self: Simulator,
    j: int,
    *,
    k: int,
    sku: int,
    nodes: IntArray,
    counts: IntArray,
    racks: IntArray,
    cap_w: float,
) -> None:
    st = self.state
    i = st.n_slots
    st.n_slots += 1
    st.job_slot[j] = i
    if racks.shape[0] == 1 or (racks == racks[0]).all():
        rack = int(racks[0])
    else:
        rack = -1
        self._job_racks[j] = np.unique(racks)
    if cap_w == self._default_cap_w[sku]:
        busy_w = float(self._busy_w[j, sku])
        s_cap = float(self._s_cap[j, sku])
    else:
        busy_w, s_cap = self._at_cap(j, sku, cap_w)
    restore = int(st.job_restore_kind[j])
    write_s = float(self._ckpt_write_s[j])
    if restore == RESTORE_FAILURE:
        dur_s = write_s + self.settings.restart_overhead_s
        phase = PHASE_FAIL
    else:
        dur_s, phase = 0.0, PHASE_COMPUTE
    if dur_s <= 0:
        phase = PHASE_COMPUTE
    st.job_restore_kind[j] = RESTORE_NONE
    t = self._t
    st.slot_i[i] = (j, k, sku, rack, phase)
    f = [0.0] * N_SLOT_FLOAT
    f[F_T_LAST] = t
    f[F_START] = t
    f[F_FINISH] = math.inf
    f[F_PHASE_END] = t + dur_s if phase != PHASE_COMPUTE else math.inf
    f[F_THROTTLE_AT] = math.inf
    f[F_SCALE] = k / float(self._num_gpus_list[j])
    f[F_CAP] = cap_w
    f[F_BUSY] = busy_w
    f[F_S_CAP] = s_cap
    f[F_S_THERMAL] = 1.0
    f[F_THERMAL_CAP] = math.inf
    f[F_S_IO] = 1.0
    f[F_CKPT] = float(self._ckpt_frac[j])
    f[F_IO_DEMAND] = self._io_demand(j, k, nodes, counts)
    f[F_IO_NOW] = 0.0
    f[F_IO_WEIGHT] = float(self._job_io_weight[j])
    f[F_POWER] = self._idle_list[sku]  # the old value; _rate1 adds the change
    st.slot_f[i] = f
    st.slot_acc[i] = 0.0
    st.slot_rate[i] = 0.0
    self._rate1(i)
    self._io_dirty = True
    self._thermal_dirty = True


def _at_cap(self: Simulator, j: int, sku: int, cap_w: float) -> tuple[float, float]:
    rec = self.layout.skus[sku]
    a, b = self.jobs.activity_frac[j], self.jobs.compute_bound_frac[j]
    busy = float(average_power_under_cap_w(cap_w, a, rec))
    s_cap = float(speed_frac_under_cap(cap_w, a, b, rec))
    return busy, s_cap


def _set_cap(self: Simulator, j: int, cap_w: float) -> None:
    st = self.state
    slot = int(st.job_slot[j])
    sku = int(st.slot_sku[slot]) if slot >= 0 else None
    skus = [sku] if sku is not None else range(len(self.layout.skus))
    lo = max(self._sku_min_cap_w[k] for k in skus)
    hi = min(self._sku_tdp_w[k] for k in skus)
    if not (math.isfinite(cap_w) and lo <= cap_w <= hi):
        msg = (
            f"power_cap_w[{self._job_label(j)}] = {cap_w}: allowed {lo:.0f}–{hi:.0f} W "
            "(the GPU model's power-limit range)"
        )
        raise self._policy_error(msg)
    st.job_power_cap_w[j] = cap_w
    if slot < 0:
        return
    nodes, counts = st.job_nodes[j], st.job_node_counts[j]
    assert nodes is not None  # running jobs always have them
    assert counts is not None
    old_cap = float(st.slot_cap_w[slot])
    np.add.at(st.rack_gpu_alloc_w, self._node_rack[nodes], counts * (cap_w - old_cap))
    self._book(slot)
    busy, s_cap = self._at_cap(j, int(st.slot_sku[slot]), cap_w)
    st.slot_cap_w[slot] = cap_w
    st.slot_busy_power_w[slot] = busy
    st.slot_s_cap[slot] = s_cap
    self._rates(np.array([slot]))
    self._io_dirty = True
    self._thermal_dirty = True
