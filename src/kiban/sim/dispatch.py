"""Policy dispatch: call the policy, validate its Decision entry by entry, apply it.

The :class:`~kiban.policies.base.Decision` is applied through the components.

Order of application: preemptions, power caps, cache shares, I/O weights, starts, supply
temperature, wake-up. Any invalid entry raises :class:`kiban.errors.PolicyError` naming the
policy, the entry and what is allowed.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import numpy as np

from kiban.errors import PolicyError
from kiban.policies.base import Decision
from kiban.sim.cluster import Placement
from kiban.sim.events import EventKind
from kiban.vocabulary import (
    GPU_DOWN,
    GPU_FREE,
    GPU_SHARED,
    JOB_STATE_NAMES,
    MILLI_PER_GPU,
    PENDING,
    RUNNING,
)

if TYPE_CHECKING:
    from kiban._typing import IntArray
    from kiban.policies.base import Policy
    from kiban.sim.cluster import ClusterState
    from kiban.sim.events import EventQueue
    from kiban.sim.flags import Dirty
    from kiban.sim.heat import NodeHeat
    from kiban.sim.runner import JobRunner
    from kiban.sim.slots import Slots
    from kiban.sim.state import ClusterView
    from kiban.sim.storage import SharedStorage
    from kiban.sim.tables import RunInputs

__all__ = ["Dispatch"]


class Dispatch:
    """The policy's side of the loop (see the module docstring).

    Attributes:
        calls: Policy calls so far.
        wall_s: Wall-clock time spent inside the policy (s).
        wake_pending: A wake-up the policy asked for is still ahead.
        wake_version: Version of the current wake-up (older queued ones are stale).
    """

    def __init__(  # noqa: PLR0917 - a decision touches all of these
        self,
        policy: Policy,
        inputs: RunInputs,
        state: ClusterState,
        slots: Slots,
        storage: SharedStorage,
        heat: NodeHeat,
        runner: JobRunner,
        queue: EventQueue,
        dirty: Dirty,
    ) -> None:
        self.policy = policy
        self._jobs, self._settings = inputs.jobs, inputs.settings
        self._hw, self._jt = inputs.hw, inputs.jt
        self._state, self._slots, self._storage, self._heat = state, slots, storage, heat
        self._runner, self._queue, self._dirty = runner, queue, dirty
        self._t = 0.0
        self.calls = 0
        self.wall_s = 0.0
        self.wake_version = 0
        self.wake_pending = False
        self.wake_time_s = math.inf
        self._default_cap_list: list[float] = inputs.hw.default_cap_w.tolist()

    # --- calling the policy -----------------------------------------------------------------------
    def decide(self, view: ClusterView, t_s: float) -> None:
        """Ask the policy and apply its decision."""
        t0 = time.perf_counter()
        decision = self.policy.decide(view)
        self.wall_s += time.perf_counter() - t0
        self.calls += 1
        if decision is None or not isinstance(decision, Decision):
            msg = (
                f"policy {self.policy.name!r} returned {type(decision).__name__}, "
                "expected a kiban.policies.base.Decision"
            )
            raise PolicyError(msg)
        if decision.is_empty():
            return
        self.apply(decision, t_s)

    def wake_due(self, version: int) -> bool:
        """A queued wake-up fired: True if it is the current one (then it is no longer pending)."""
        if version == self.wake_version:
            self.wake_pending = False
            return True
        return False

    # --- validation helpers -----------------------------------------------------------------------
    def _error(self, what: str) -> PolicyError:
        return PolicyError(f"policy {self.policy.name!r}: {what} (t={self._t:.0f} s)")

    def _label(self, j: int) -> str:
        return f"job {self._jobs.job_id[j]!r} (index {j})"

    def _job_index(self, field_name: str, j: object) -> int:
        if not isinstance(j, (int, np.integer)) or not 0 <= int(j) < self._jobs.n_jobs:
            msg = f"{field_name}[{j!r}]: not a job index"
            raise self._error(msg)
        return int(j)

    # --- applying -------------------------------------------------------------------------------
    def apply(self, d: Decision, t_s: float) -> None:
        """Validate and apply a decision at time ``t_s``."""
        self._t = t_s
        st = self._state
        if d.preempt or d.power_cap_w or d.cache_b or d.io_weight:
            self._apply_levers(d, t_s)
        if st.mig is not None and d.start:
            self._plan_mig(d)
        start = d.start
        # one start (most decisions): no sort
        keys = [int(next(iter(start)))] if len(start) == 1 else sorted(int(j) for j in start)
        for j_raw in keys:
            j = self._job_index("start", j_raw)
            self._start(j, start[j_raw])
        if st.mig is not None:
            st.mig.planned.clear()
        if d.supply_temp_c is not None or d.wake_at_s is not None:
            self._apply_cooling_wake(d, t_s)

    def _apply_levers(self, d: Decision, t_s: float) -> None:
        """A decision's preemptions, power caps, cache shares and I/O weights (before starts)."""
        st, sl = self._state, self._slots
        for j_raw in sorted(int(j) for j in d.preempt):
            j = self._job_index("preempt", j_raw)
            if st.job_state[j] != RUNNING:
                msg = (
                    f"preempt[{self._label(j)}]: job is "
                    f"{JOB_STATE_NAMES[int(st.job_state[j])]}, not running"
                )
                raise self._error(msg)
            self._runner.stop(j, t_s, failure=False)
        for j_raw, cap in d.power_cap_w.items():
            j = self._job_index("power_cap_w", j_raw)
            self._set_cap(j, float(cap))
        for j_raw, cache in d.cache_b.items():
            j = self._job_index("cache_b", j_raw)
            if not (math.isfinite(cache) and cache >= 0):
                msg = f"cache_b[{self._label(j)}] = {cache}: must be ≥ 0"
                raise self._error(msg)
            self._storage.job_cache_b[j] = cache
            slot = int(sl.job_slot[j])
            if slot >= 0:  # a running job's input demand follows its new cache share
                nodes, counts = sl.job_nodes[j], sl.job_node_counts[j]
                assert nodes is not None  # running job
                assert counts is not None
                demand = self._storage.demand_b_per_s(j, int(sl.n_gpus[slot]), nodes, counts)
                sl.set_io_demand(slot, t_s, demand)
            self._dirty.io = True
        for j_raw, weight in d.io_weight.items():
            j = self._job_index("io_weight", j_raw)
            if not (math.isfinite(weight) and weight > 0):
                msg = f"io_weight[{self._label(j)}] = {weight}: must be > 0"
                raise self._error(msg)
            self._storage.job_io_weight[j] = weight
            if sl.job_slot[j] >= 0:
                sl.set_io_weight(int(sl.job_slot[j]), weight)
            self._dirty.io = True

    def _apply_cooling_wake(self, d: Decision, t_s: float) -> None:
        """A decision's supply temperature and wake-up (after starts)."""
        if d.supply_temp_c is not None:
            lo, hi = self._settings.supply_temp_range_c
            temp = float(d.supply_temp_c)
            if not lo <= temp <= hi:
                msg = f"supply_temp_c = {temp}: allowed {lo}–{hi} °C"
                raise self._error(msg)
            self._heat.supply_setpoint_c = temp
            self._heat.set_supply_temp(temp)
        if d.wake_at_s is not None and d.wake_at_s > t_s:
            wake = float(d.wake_at_s)
            if not (self.wake_pending and wake == self.wake_time_s):
                self.wake_version += 1
                self.wake_pending = True
                self.wake_time_s = wake
                self._queue.schedule(wake, EventKind.POLICY_TICK, self.wake_version)

    # --- starts ---------------------------------------------------------------------------------
    def _start(self, j: int, gpus_in: object) -> None:
        st, jobs, hw = self._state, self._jobs, self._hw
        if st.job_state[j] != PENDING:
            msg = (
                f"start[{self._label(j)}]: job is {JOB_STATE_NAMES[int(st.job_state[j])]}, "
                "not pending"
            )
            raise self._error(msg)
        gpus = np.asarray(gpus_in, dtype=np.int64).reshape(-1)
        k = int(gpus.shape[0])
        if self._jt.special_list[j]:
            if self._jt.share_milli_list[j] < MILLI_PER_GPU:
                self._start_share(j, gpus)
                return
            if self._jt.mig_list[j]:
                self._start_mig(j, gpus)
                return
            if k == 1 and 0 <= gpus[0] < hw.layout.n_gpus:
                self._check_host1(j, hw.gpu_node_list[int(gpus[0])])
            else:
                inside = gpus[(gpus >= 0) & (gpus < hw.layout.n_gpus)]
                self._check_host(j, np.unique(hw.gpu_node[inside]))
        if k == 1 and jobs.min_num_gpus[j] <= 1 <= jobs.max_num_gpus[j]:
            g = int(gpus[0])
            if 0 <= g < hw.layout.n_gpus and st.gpu_job[g] == GPU_FREE:
                self._start_one_gpu(j, g)
                return
        if not jobs.min_num_gpus[j] <= k <= jobs.max_num_gpus[j]:
            msg = (
                f"start[{self._label(j)}]: {k} GPUs given; the job takes "
                f"{jobs.min_num_gpus[j]}–{jobs.max_num_gpus[j]}"
            )
            raise self._error(msg)
        n_gpus = hw.layout.n_gpus
        if k and (gpus.min() < 0 or gpus.max() >= n_gpus):
            msg = f"start[{self._label(j)}]: GPU index outside [0, {n_gpus})"
            raise self._error(msg)
        holders = st.gpu_job[gpus]
        if (holders != GPU_FREE).any():
            g = int(gpus[np.argmax(holders != GPU_FREE)])
            who = "a failed node" if st.gpu_job[g] == GPU_DOWN else self._label(int(st.gpu_job[g]))
            msg = f"start[{self._label(j)}]: GPU {g} is held by {who}"
            raise self._error(msg)
        gpu_nodes = hw.gpu_node[gpus]
        if len(set(gpus.tolist())) != k:
            msg = f"start[{self._label(j)}]: a GPU is listed twice"
            raise self._error(msg)
        if k == 1 or (gpu_nodes == gpu_nodes[0]).all():
            nodes = gpu_nodes[:1]
            counts = np.array([k], dtype=np.int64)
        else:
            nodes, counts = np.unique(gpu_nodes, return_counts=True)
        gpn = int(jobs.gpus_per_node[j])
        if gpn and (counts != gpn).any():
            msg = (
                f"start[{self._label(j)}]: GPUs per node {counts.tolist()}; the job needs "
                f"exactly {gpn} on each node"
            )
            raise self._error(msg)
        req = int(self._jt.req_sku[j])
        if req != -1 and not self._jt.sku_ok(req, hw.node_sku[nodes]).all():
            msg = f"start[{self._label(j)}]: the job needs GPU model {jobs.gpu_model[j]!r}"
            raise self._error(msg)
        sku = int(hw.node_sku[nodes[0]])
        cap_w = st.job_power_cap_w[j]
        if math.isnan(cap_w):
            cap_w = float(hw.default_cap_w[sku])
        racks = hw.node_rack[nodes]
        if hw.budget_finite:
            add = np.bincount(racks, weights=counts * cap_w, minlength=hw.layout.n_racks)
            over = st.rack_gpu_alloc_w + add > hw.budget_w + 1e-6
            if over.any():
                r = int(np.argmax(over))
                self._over_budget(j, r, float(st.rack_gpu_alloc_w[r] + add[r]))
        self._runner.start(
            j, Placement(gpus, nodes, counts, racks), sku=sku, cap_w=cap_w, t_s=self._t
        )

    def _check_host(self, j: int, nodes: IntArray) -> None:
        """The job's CPU and memory fit on each of ``nodes`` (where the layout states them)."""
        st, jobs = self._state, self._jobs
        cpu_free, mem_free = st.node_cpu_free_milli, st.node_memory_free_b
        if cpu_free is not None and (cpu_free[nodes] < jobs.cpu_milli[j]).any():
            node = int(nodes[np.argmax(cpu_free[nodes] < jobs.cpu_milli[j])])
            msg = (
                f"start[{self._label(j)}]: node {node} has {int(cpu_free[node])} milli-CPU "
                f"free; the job needs {int(jobs.cpu_milli[j])}"
            )
            raise self._error(msg)
        if mem_free is not None and (mem_free[nodes] < jobs.memory_b[j]).any():
            node = int(nodes[np.argmax(mem_free[nodes] < jobs.memory_b[j])])
            msg = (
                f"start[{self._label(j)}]: node {node} has {float(mem_free[node]):.0f} B of "
                f"memory free; the job needs {float(jobs.memory_b[j]):.0f} B"
            )
            raise self._error(msg)

    def _check_host1(self, j: int, node: int) -> None:
        """:meth:`_check_host` for one node, with scalar comparisons (most starts)."""
        st, jt = self._state, self._jt
        cpu_free, mem_free = st.node_cpu_free_milli, st.node_memory_free_b
        if (cpu_free is not None and cpu_free[node] < jt.cpu_milli_list[j]) or (
            mem_free is not None and mem_free[node] < jt.memory_b_list[j]
        ):
            self._check_host(j, np.array([node]))  # the error, worded once

    def _one_gpu(self, j: int, gpus: IntArray, takes: str) -> int:
        """The one GPU a start of a share or a MIG instance names (an error otherwise)."""
        if gpus.shape[0] != 1:
            msg = f"start[{self._label(j)}]: {gpus.shape[0]} GPUs given; the job takes {takes}"
            raise self._error(msg)
        g = int(gpus[0])
        if not 0 <= g < self._hw.layout.n_gpus:
            msg = f"start[{self._label(j)}]: GPU index outside [0, {self._hw.layout.n_gpus})"
            raise self._error(msg)
        return g

    def _start_share(self, j: int, gpus: IntArray) -> None:
        """Start a job that takes a share of one GPU: the GPU must have that share left."""
        st, hw, jt = self._state, self._hw, self._jt
        milli = jt.share_milli_list[j]
        g = self._one_gpu(j, gpus, f"{milli} milli of one GPU")
        holder = int(st.gpu_job[g])
        left = st.milli_left(g)
        if left < milli:
            if holder == GPU_DOWN:
                who = "is on a failed node"
            elif holder >= 0:
                who = f"is held by {self._label(holder)}"
            else:
                who = f"has {left} milli left"
            msg = f"start[{self._label(j)}]: GPU {g} {who}; the job needs {milli} milli"
            raise self._error(msg)
        node = hw.gpu_node_list[g]
        self._start_part(j, g, node, hw.node_sku_list[node])

    def _plan_mig(self, d: Decision) -> None:
        """Starts of the decision's MIG instances, assigned GPU by GPU (checked at each start)."""
        mig, jt, n_gpus = self._state.mig, self._jt, self._hw.layout.n_gpus
        assert mig is not None
        starts: dict[int, int] = {}
        for j_raw, gpus_in in d.start.items():
            if not isinstance(j_raw, (int, np.integer)) or not 0 <= int(j_raw) < len(jt.mig_list):
                continue  # the start loop reports it
            gpus = np.asarray(gpus_in, dtype=np.int64).reshape(-1)
            if jt.mig_list[int(j_raw)] and gpus.shape[0] == 1 and 0 <= int(gpus[0]) < n_gpus:
                starts[int(j_raw)] = int(gpus[0])
        mig.plan(starts)

    def _start_mig(self, j: int, gpus: IntArray) -> None:
        """Start a job on a MIG instance: one GPU, free or in MIG mode, with a placement left."""
        st, hw, jt = self._state, self._hw, self._jt
        mig = st.mig
        assert mig is not None  # a run with MIG jobs
        name = jt.mig_list[j]
        g = self._one_gpu(j, gpus, f"one {name} MIG instance of one GPU")
        node = hw.gpu_node_list[g]
        sku = hw.node_sku_list[node]
        geo = mig.geometry_of(g)
        if geo is None or name not in geo.profiles:
            offered = "no MIG profiles" if geo is None else ", ".join(geo.profiles)
            msg = (
                f"start[{self._label(j)}]: GPU {g} ({hw.layout.skus[sku].name}) has {offered}; "
                f"the job needs a {name} instance"
            )
            raise self._error(msg)
        holder = int(st.gpu_job[g])
        if holder != GPU_FREE and not (holder == GPU_SHARED and mig.gpu_mask[g] != 0):
            if holder == GPU_DOWN:
                who = "is on a failed node"
            elif holder >= 0:
                who = f"is held whole by {self._label(holder)}"
            else:
                who = "is shared by milli-GPU jobs (not in MIG mode)"
            msg = f"start[{self._label(j)}]: GPU {g} {who}; the job needs a {name} instance"
            raise self._error(msg)
        if mig.start_on(j, g) < 0:
            msg = (
                f"start[{self._label(j)}]: GPU {g} has no free placement for {name} (memory "
                f"slices taken: {int(mig.gpu_mask[g]):08b}, compute slices held: "
                f"{int(mig.gpu_compute[g])} of 7)"
            )
            raise self._error(msg)
        self._start_part(j, g, node, sku)

    def _start_part(self, j: int, g: int, node: int, sku: int) -> None:
        """Start a job on part of GPU ``g`` (a milli share or a MIG instance) with room for it.

        The model, host and rack budget checks, then the start.
        """
        st, hw, jt = self._state, self._hw, self._jt
        req = jt.req_list[j]
        if not jt.sku_ok1(req, sku):
            msg = f"start[{self._label(j)}]: the job needs GPU model {self._jobs.gpu_model[j]!r}"
            raise self._error(msg)
        if jt.host_request[j]:
            self._check_host1(j, node)
        cap_w = float(st.job_power_cap_w[j])
        if math.isnan(cap_w):
            cap_w = self._default_cap_list[sku]
        r = hw.node_rack_list[node]
        add_w = cap_w * jt.share_frac_list[j]  # milli / 1000 or compute slices / 7
        if hw.budget_finite and st.rack_gpu_alloc_w[r] + add_w > hw.budget_w[r] + 1e-6:
            self._over_budget(j, r, float(st.rack_gpu_alloc_w[r] + add_w))
        self._runner.start1(j, g, node=node, rack=r, sku=sku, cap_w=cap_w, t_s=self._t)

    def _over_budget(self, j: int, r: int, load_w: float) -> None:
        hw = self._hw
        msg = (
            f"start[{self._label(j)}]: rack {hw.layout.rack_names[r]!r} would carry "
            f"{load_w:.0f} W of GPU power; its power/cooling budget allows {hw.budget_w[r]:.0f} W"
        )
        raise self._error(msg)

    def _start_one_gpu(self, j: int, g: int) -> None:
        """:meth:`_start` for a job on one free GPU (most jobs): scalar checks."""
        st, hw, jt = self._state, self._hw, self._jt
        node = hw.gpu_node_list[g]
        req = jt.req_list[j]
        sku = hw.node_sku_list[node]
        if not jt.sku_ok1(req, sku):
            msg = f"start[{self._label(j)}]: the job needs GPU model {self._jobs.gpu_model[j]!r}"
            raise self._error(msg)
        gpn = jt.gpn_list[j]
        if gpn and gpn != 1:
            msg = (
                f"start[{self._label(j)}]: GPUs per node [1]; the job needs exactly {gpn} "
                "on each node"
            )
            raise self._error(msg)
        cap_w = float(st.job_power_cap_w[j])
        if math.isnan(cap_w):
            cap_w = self._default_cap_list[sku]
        r = hw.node_rack_list[node]
        if hw.budget_finite and st.rack_gpu_alloc_w[r] + cap_w > hw.budget_w[r] + 1e-6:
            self._over_budget(j, r, float(st.rack_gpu_alloc_w[r] + cap_w))
        self._runner.start1(j, g, node=node, rack=r, sku=sku, cap_w=cap_w, t_s=self._t)

    # --- power caps -----------------------------------------------------------------------------
    def _set_cap(self, j: int, cap_w: float) -> None:
        st, sl, hw = self._state, self._slots, self._hw
        slot = int(sl.job_slot[j])
        sku = int(sl.sku[slot]) if slot >= 0 else None
        skus = [sku] if sku is not None else range(len(hw.layout.skus))
        lo = max(hw.sku_min_cap_w[k] for k in skus)
        hi = min(hw.sku_tdp_w[k] for k in skus)
        if not (math.isfinite(cap_w) and lo <= cap_w <= hi):
            msg = (
                f"power_cap_w[{self._label(j)}] = {cap_w}: allowed {lo:.0f}–{hi:.0f} W "
                "(the GPU model's power-limit range)"
            )
            raise self._error(msg)
        st.job_power_cap_w[j] = cap_w
        if slot < 0:
            return
        nodes, counts = sl.job_nodes[j], sl.job_node_counts[j]
        assert nodes is not None  # running jobs always have them
        assert counts is not None
        old_cap = float(sl.cap_w[slot])
        held = np.asarray(counts * float(sl.share_frac[slot]), dtype=np.float64)
        st.reserve_more(hw.node_rack[nodes], held, cap_w - old_cap)
        busy, s_cap = self._runner.at_cap(j, int(sl.sku[slot]), cap_w)
        sl.set_cap(slot, self._t, cap_w=cap_w, busy_w=busy, s_cap=s_cap)
