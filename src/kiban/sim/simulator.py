"""The discrete-event simulator: replays a job table on a cluster under a policy, with physics.

Events are arrivals (from the sorted job table), slot transitions of running jobs (completion,
end of a checkpoint-restore phase, thermal-throttle onset), node failures and repairs, policy
wake-ups and epochs, and rack-sample boundaries. Between events everything is piecewise
constant, so physics runs only where something changed:

* **Speed.** Each running job (a *slot*) has a compute speed ``s_c = s_cap · s_thermal``
  (power cap: :func:`kiban.physics.gpu_power.speed_frac_under_cap`; thermal: the clock that holds
  the die at its slowdown temperature) and an I/O speed ``s_io`` from max-min sharing of the
  shared file system (:func:`kiban.physics.storage_io.maxmin_share_b_per_s`, recomputed only when
  the running set or a speed changes). The job progresses at ``(1 − c) · min(s_c, s_io)`` where
  ``c`` is the share of time spent writing periodic checkpoints.
* **Ledger.** Every GPU-second is booked into exactly one bucket: for a running job the shares
  ``c`` (checkpoint), ``(1 − c)(1 − s_cap)`` (power cap), ``(1 − c)(s_cap − s_c)`` (thermal),
  ``(1 − c)(s_c − s)`` (I/O stall) and ``(1 − c)·s`` (productive) sum to 1; the restore phase
  after a failure counts as failure; free GPUs are ``queue_blocked`` while jobs wait and
  ``idle_no_demand`` otherwise; GPUs of failed nodes are ``failure``, and the work a failed job
  must redo (since its last checkpoint) moves from productive to failure. A preemption costs the
  job a checkpoint save and a restore (2 × the write time) of extra work, moved from productive
  to checkpoint the same way.
* **Power.** Node wall power comes from :func:`kiban.physics.server_power.server_power_w` and is
  re-evaluated only for nodes whose load changed; rack inlet temperatures follow Tang's linear
  model ``T_in = T_sup + D·p_air``, updated incrementally by the columns of the racks that changed.
* **Thermal throttling.** While every inlet is below a precomputed margin no GPU can reach its
  slowdown temperature and nothing is evaluated. Otherwise the steady die temperature of each
  running job is checked; a job that will cross the threshold gets a throttle-onset event at
  :func:`kiban.physics.thermal.time_to_reach_s` (RC response), after which it runs at the clock
  that holds the die at the threshold.
* **Failures.** Nodes fail as a Poisson process (own random stream), stay down ``repair_s``; the
  jobs on them lose the work since their last checkpoint, and restart after a restore phase.
* **Facility.** Cooling, losses and PUE are evaluated vectorized over the event log after the
  run (:mod:`kiban.sim.facility`).

Only the simulator mutates :class:`~kiban.sim.state.ClusterState`; policies see a
:class:`~kiban.sim.state.ClusterView` and return :class:`~kiban.policies.base.Decision` objects,
which are validated here (:class:`kiban.errors.PolicyError` names the policy and the entry).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from kiban.errors import PolicyError, SimulationError
from kiban.options import options
from kiban.physics.gpu_power import average_power_under_cap_w, speed_frac_under_cap
from kiban.physics.storage_io import cache_hit_frac, checkpoint_write_s, maxmin_share_b_per_s
from kiban.physics.thermal import time_to_reach_s
from kiban.policies.base import Decision, Policy, PolicyContext
from kiban.sim.events import EventKind, EventQueue
from kiban.sim.facility import FacilityModel, SimpleFacility
from kiban.sim.power import NodePower
from kiban.sim.settings import (
    LEDGER_BUCKETS,
    LOG_COLUMNS,
    RunOutput,
    SimSettings,
)
from kiban.sim.state import (
    DONE,
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
    FUTURE,
    GPU_DOWN,
    GPU_FREE,
    LEDGER_COLUMNS,
    N_RATES,
    N_SLOT_FLOAT,
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
    RUNNING,
    UNSCHEDULABLE,
    ClusterState,
    ClusterView,
)

if TYPE_CHECKING:
    from kiban._typing import FloatArray, IntArray
    from kiban.sim.jobs import JobTable
    from kiban.sim.layout import ClusterLayout

__all__ = [
    "LEDGER_BUCKETS",
    "LOG_COLUMNS",
    "RunOutput",
    "SimSettings",
    "Simulator",
    "simulate",
]

logger = logging.getLogger(__name__)

PREV_INLET_BAND_K = 5.0
"""Inlets are remembered for the throttle-onset estimate only within this band below the throttle
margin (far below it no onset can follow soon, and the copy costs O(racks) per event)."""

_SLOT_ARRAYS = ("slot_i", "slot_f", "slot_rate", "slot_acc", "slot_next_s")
"""Every per-slot table (row = slot); a slot moves with one row copy in each."""
_PHASE_COMPUTE, _PHASE_CKPT, _PHASE_FAIL = 0, 1, 2
_RESTORE_NONE, _RESTORE_FAILURE = 0, 2
_STATE_NAMES = {
    FUTURE: "not yet arrived",
    PENDING: "pending",
    RUNNING: "running",
    DONE: "done",
    UNSCHEDULABLE: "unschedulable",
}


class Simulator:
    """One run of one policy on one cluster and job table.

    Life cycle: construct (validates and precomputes), then :meth:`run` once.

    Args:
        layout: The cluster.
        jobs: The jobs (sorted by submit time).
        policy: The policy; ``reset`` is called at the start of :meth:`run`.
        settings: Run settings.
        facility: Cooling and power-chain model; default :class:`SimpleFacility`.
    """

    def __init__(
        self,
        layout: ClusterLayout,
        jobs: JobTable,
        policy: Policy,
        *,
        settings: SimSettings | None = None,
        facility: FacilityModel | None = None,
    ) -> None:
        self.layout = layout
        self.settings = settings if settings is not None else SimSettings()
        if self.settings.locality == "node":
            jobs = jobs.with_node_locality(layout.max_node_gpus)
        self.jobs = jobs
        self.policy = policy
        self.facility: FacilityModel = facility if facility is not None else SimpleFacility()
        seq = np.random.SeedSequence(self.settings.seed)
        fail_seq, policy_seq = seq.spawn(2)
        self._rng_fail = np.random.default_rng(fail_seq)
        self._rng_policy = np.random.default_rng(policy_seq)
        self.state = ClusterState(layout, jobs)
        self.view = ClusterView(self.state, layout, jobs)
        self._queue = EventQueue()
        self._ran = False
        self._slot_arrays = [getattr(self.state, name) for name in _SLOT_ARRAYS]
        self._dirty = True
        self._counters: dict[str, int] = {}
        self._power = NodePower(layout, layout.supply_temp_c)
        self._prepare_hardware()
        self._prepare_jobs()

    # =========================================================================================
    # preparation
    # =========================================================================================
    def _prepare_hardware(self) -> None:
        lay = self.layout
        skus = lay.skus
        self._sku_tdp_w = np.array([s.tdp_w for s in skus])
        self._sku_min_cap_w = np.array([s.min_power_limit_w for s in skus])
        self._sku_idle_w = np.array([s.idle_empty_power_w for s in skus])
        self._sku_idle_ctx_w = np.array([s.idle_context_power_w for s in skus])
        self._idle_ctx_list = self._sku_idle_ctx_w.tolist()
        self._idle_list = self._sku_idle_w.tolist()
        self._sku_r_k_per_w = np.array([s.die_to_inlet_k_per_w for s in skus])
        self._sku_tau_s = np.array([s.thermal_time_constant_s for s in skus])
        self._sku_slow_c = np.array([s.slowdown_temp_c for s in skus])
        self._sku_liquid = np.array([s.cooling != "air" for s in skus], dtype=bool)
        self._node_rack = lay.node_rack_idx
        self._node_rack_list: list[int] = lay.node_rack_idx.tolist()
        self._node_n_list: list[int] = lay.node_n_gpus.tolist()
        self._node_sku_list: list[int] = lay.node_sku_idx.tolist()
        self._gpu_node_list: list[int] = lay.gpu_node.tolist()
        self._node_cache_b = np.asarray(lay.node_cache_b, dtype=np.float64)
        self._node_n = lay.node_n_gpus
        self._node_first = lay.node_first_gpu
        self._node_sku = lay.node_sku_idx
        self._gpu_node = lay.gpu_node
        self._budget_w = lay.rack_gpu_budget_w
        self._budget_finite = bool(np.isfinite(self._budget_w).any())
        self._air_frac = 1.0 - lay.rack_liquid_capture_frac
        self._d = lay.heat_distribution_k_per_w
        self._air_frac_list: list[float] = (1.0 - lay.rack_liquid_capture_frac).tolist()
        # Each rack's column of D as (rows, values): all rows for a dense D, only the non-zero
        # ones when recirculation stays within halls (a block-diagonal D of a large site).
        self._d_cols: list[tuple[IntArray | slice, FloatArray]] = []
        self._dense_d = True
        if self._d is not None:
            nonzero = self._d != 0.0
            self._dense_d = bool(nonzero.mean() > 0.2)
            d_t = np.ascontiguousarray(self._d.T)
            for r in range(lay.n_racks):
                if self._dense_d:
                    self._d_cols.append((slice(None), d_t[r]))
                else:
                    rows = np.flatnonzero(nonzero[:, r])
                    self._d_cols.append((rows, d_t[r, rows].copy()))
        self._single_server = len(lay.servers) == 1
        # Margin: while every air inlet is below it, no GPU at full power reaches slowdown.
        cap_frac = self.settings.gpu_power_cap_frac
        air = ~self._sku_liquid
        if air.any():
            margins = self._sku_slow_c - self._sku_r_k_per_w * self._sku_tdp_w * cap_frac
            self._thermal_margin_c = float(margins[air].min())
        else:
            self._thermal_margin_c = math.inf
        liquid_ok = (
            lay.liquid_supply_temp_c + self._sku_r_k_per_w * self._sku_tdp_w < self._sku_slow_c
        )
        self._liquid_always_check = bool((self._sku_liquid & ~liquid_ok).any())

    def _prepare_jobs(self) -> None:
        jobs, lay, st = self.jobs, self.layout, self.state
        n = jobs.n_jobs
        req = np.full(n, -1, dtype=np.int64)
        for model in np.unique(jobs.gpu_model).tolist():
            if model:
                k = lay.sku_index(str(model))
                req[jobs.gpu_model == model] = k if k >= 0 else -2
        self._job_req_sku = req
        self._req_list: list[int] = req.tolist()
        self._gpn_list: list[int] = jobs.gpus_per_node.tolist()
        self._duration_list: list[float] = jobs.duration_s.tolist()
        self._num_gpus_list: list[int] = jobs.num_gpus.tolist()
        # Jobs no placement can ever satisfy (on an empty, fully up cluster).
        unsched = req == -2
        need = jobs.min_num_gpus
        gpn = jobs.gpus_per_node
        for k in np.unique(req[req >= -1]):
            node_ok = np.ones(lay.n_nodes, dtype=bool) if k == -1 else lay.node_sku_idx == k
            total = int(lay.node_n_gpus[node_ok].sum())
            sel = req == k
            unsched |= sel & (need > total)
            for g in np.unique(gpn[sel & (gpn > 0)]):
                n_nodes_g = int(np.count_nonzero(node_ok & (lay.node_n_gpus >= g)))
                unsched |= sel & (gpn == g) & (need > n_nodes_g * g)
        self._unschedulable = unsched
        # Shape classes (fewest GPUs, GPUs per node, GPU model) of the waiting jobs, for the
        # fragmentation check; only classes with a shape or model constraint can fragment.
        keys = np.column_stack((need, gpn, req))
        uniq, job_class = np.unique(keys, axis=0, return_inverse=True)
        self._job_class = np.asarray(job_class, dtype=np.int64).reshape(-1)
        self._class_key: list[tuple[int, int, int]] = [
            (int(a), int(b), int(c)) for a, b, c in uniq.tolist()
        ]
        self._class_shaped = (uniq[:, 1] > 0) | (uniq[:, 2] >= 0)
        self._class_pending = np.zeros(uniq.shape[0], dtype=np.int64)
        self._any_shaped = bool(self._class_shaped.any())
        # Checkpoints: write time and the share of time they take while computing.
        bw = min(
            self.settings.checkpoint_bandwidth_b_per_s, self.settings.storage_bandwidth_b_per_s
        )
        self._ckpt_write_s = np.asarray(checkpoint_write_s(jobs.checkpoint_size_b, bw))
        interval = jobs.checkpoint_interval_s
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(interval > 0, self._ckpt_write_s / (interval + self._ckpt_write_s), 0.0)
        self._ckpt_frac = np.nan_to_num(frac)
        # Power and speed of every job on every GPU model at the default cap.
        n_sku = len(lay.skus)
        self._busy_w = np.zeros((n, n_sku))
        self._s_cap = np.ones((n, n_sku))
        for k, sku in enumerate(lay.skus):
            cap = sku.tdp_w * self.settings.gpu_power_cap_frac
            self._busy_w[:, k] = average_power_under_cap_w(cap, jobs.activity_frac, sku)
            self._s_cap[:, k] = speed_frac_under_cap(
                cap, jobs.activity_frac, jobs.compute_bound_frac, sku
            )
        self._default_cap_w = self._sku_tdp_w * self.settings.gpu_power_cap_frac
        self._job_cache_b = np.full(n, math.nan)
        self._job_io_weight = np.ones(n)
        self._io_active = bool(
            math.isfinite(self.settings.storage_bandwidth_b_per_s)
            and (jobs.input_rate_b_per_s_per_gpu > 0).any()
        )
        st.job_power_cap_w[:] = math.nan
        # cache hit ratio of every job on each distinct per-GPU node cache, at its full size
        per_gpu = self._node_cache_b / self._node_n
        values, self._node_cache_class = np.unique(per_gpu, return_inverse=True)
        self._hit = np.zeros((n, values.shape[0]))
        if self._io_active:
            for u, cache_per_gpu in enumerate(values.tolist()):
                self._hit[:, u] = cache_hit_frac(cache_per_gpu * jobs.num_gpus, jobs.dataset_size_b)
        # remote demand of each job at its full size on one node of each cache class (B/s)
        self._io_default = (jobs.input_rate_b_per_s_per_gpu * jobs.num_gpus)[:, None] * (
            1.0 - self._hit
        )

    # =========================================================================================
    # run
    # =========================================================================================
    def run(self, progress: Callable[[float, int], None] | None = None) -> RunOutput:
        """Run the simulation to the end (or ``until_s``) and return its output.

        Args:
            progress: Optional callback ``progress(sim_time_s, events)``, called every
                ``settings.progress_interval_events`` events and once at the end.

        Returns:
            The run's output.

        Raises:
            PolicyError: if the policy returns an invalid decision.
            SimulationError: if the run was already used.
        """
        if self._ran:
            msg = "Simulator.run() may be called once; build a new Simulator for another run"
            raise SimulationError(msg)
        self._ran = True
        wall0 = time.perf_counter()
        st, lay = self.state, self.layout
        settings = self.settings
        ctx = PolicyContext(
            layout=lay,
            jobs=self.jobs,
            rng=self._rng_policy,
            checkpoint_write_s=self._ckpt_write_s,
            supply_temp_range_c=settings.supply_temp_range_c,
        )
        self.policy.reset(ctx)
        self._init_run_state()
        until = settings.until_s if settings.until_s is not None else math.inf
        n_jobs = self.jobs.n_jobs
        submit = self.jobs.submit_time_s
        queue = self._queue
        every = max(1, settings.progress_interval_events)
        events = 0
        while True:
            # next event: slot transitions (priority 0), queued events, arrivals (priority 5)
            t_slot = math.inf
            slot_i = -1
            if st.n_slots:
                slot_i = int(np.argmin(st.slot_next_s[: st.n_slots]))
                t_slot = float(st.slot_next_s[slot_i])
            t_arr = float(submit[st.arrived]) if st.arrived < n_jobs else math.inf
            head = queue.peek()
            while (
                head is not None
                and head.kind == EventKind.POLICY_TICK
                and 0 <= head.payload != self._wake_version
            ):
                queue.discard()  # a wake-up the policy has since replaced: not an event
                head = queue.peek()
            t_q = head.time_s if head is not None else math.inf
            t_next = min(t_slot, t_arr, t_q)
            if t_next > self._t and self._dirty:
                self._settle()
                continue
            if self._finished() or t_next > until or t_next == math.inf:
                break
            if self._stuck(t_next, head):
                break
            if t_next > self._t:
                self._advance(t_next)
            events += 1
            if t_slot == t_next:
                self._on_slot(slot_i)
            elif head is not None and t_q == t_next and (t_arr > t_next or head.priority < 5):
                queue.pop()
                self._on_queued(head.kind, head.payload)
            else:
                self._on_arrival()
            self._dirty = True
            if progress is not None and events % every == 0:
                progress(self._t, events)
        if self._dirty:
            self._settle()
        horizon = until if math.isfinite(until) else self._t
        if horizon > self._t:
            self._advance(horizon)
        self._record(final=True)
        if progress is not None:
            progress(self._t, events)
        self._counters["events"] = events
        return self._output(horizon, time.perf_counter() - wall0)

    def _init_run_state(self) -> None:
        st, lay = self.state, self.layout
        self._t = 0.0
        st.time_s = 0.0
        self._dirty = True
        self._policy_needed = False
        self._epoch_due = False
        self._wake_version = 0
        self._wake_pending = False
        self._wake_time_s = math.inf
        self._n_repairs_pending = 0
        self._thermal_active = False
        self._thermal_dirty = True
        self._io_dirty = False
        self._frag = False
        self._alloc_sums: list[float] = [0.0] * (LEDGER_COLUMNS.stop - LEDGER_COLUMNS.start)
        self._led_alloc = [0.0] * (LEDGER_COLUMNS.stop - LEDGER_COLUMNS.start)
        self._down_gpu_s = 0.0
        self._blocked_gpu_s = 0.0
        self._idle_gpu_s = 0.0
        self._moved_to_failure_gpu_s = 0.0
        self._moved_to_ckpt_gpu_s = 0.0
        self._frag_gpu_s = 0.0
        self._io_total_b_per_s = 0.0
        self._io_limited = False
        self._counters = {
            "events": 0,
            "policy_calls": 0,
            "failures": 0,
            "preemptions": 0,
            "restarts": 0,
            "throttle_onsets": 0,
            "unschedulable_jobs": int(self._unschedulable.sum()),
        }
        self._policy_wall_s = 0.0
        self._dirty_nodes: set[int] = set()
        self._job_racks: dict[int, IntArray] = {}
        self._settles = 0
        # initial power: every GPU idle, every node up
        st.node_gpu_power_w[:] = self._node_n * self._sku_idle_w[self._node_sku]
        all_nodes = np.arange(lay.n_nodes)
        load = np.zeros(lay.n_nodes)
        st.node_wall_power_w[:] = self._power.estimate_w(
            all_nodes, st.node_gpu_power_w, load, st.node_up
        )
        st.rack_power_w[:] = np.bincount(
            self._node_rack, weights=st.node_wall_power_w, minlength=lay.n_racks
        )
        self._recompute_inlet()
        self._prev_inlet = st.rack_inlet_temp_c.copy()
        # log buffer; row 0 is the idle cluster at t = 0
        self._log = np.zeros((max(1024, 3 * self.jobs.n_jobs + 64), len(LOG_COLUMNS)))
        self._n_log = 0
        self._power.record(
            0,
            nodes=all_nodes,
            gpu_w=st.node_gpu_power_w,
            load=load,
            inlet_c=st.rack_inlet_temp_c[self._node_rack],
            up=st.node_up,
        )
        self._record()
        # failures
        rate = self.settings.node_failure_rate_per_s * lay.n_nodes
        self._fail_rate_per_s = rate if self.settings.failures else 0.0
        if self._fail_rate_per_s > 0:
            self._schedule_failure()
        epoch = getattr(self.policy, "epoch_s", None)
        if epoch:
            self._queue.schedule(float(epoch), EventKind.POLICY_TICK, -1)

    # =========================================================================================
    # loop helpers
    # =========================================================================================
    def _finished(self) -> bool:
        st = self.state
        return st.arrived >= self.jobs.n_jobs and st.n_pending == 0 and st.n_slots == 0

    def _stuck(self, t_next: float, head: object) -> bool:
        st = self.state
        if st.arrived < self.jobs.n_jobs or st.n_slots or st.n_pending == 0:
            return False
        if self._n_repairs_pending or self._wake_pending:
            return False
        if getattr(self.policy, "epoch_s", None):
            return False
        logger.warning(
            "policy %s leaves %d job(s) waiting on an idle cluster at t=%.0f s; stopping",
            self.policy.name,
            st.n_pending,
            self._t,
        )
        return True

    def _advance(self, t_new: float) -> None:
        """Integrate the ledger and rack series over [t, t_new) with the current state."""
        st = self.state
        dt = t_new - self._t
        if dt > 0:
            # allocated GPU time by bucket (productive, io, thermal, cap, checkpoint, failure)
            sums = self._alloc_sums
            led = self._led_alloc
            for k in range(6):
                led[k] += sums[k] * dt
            self._down_gpu_s += st.n_down_gpus * dt
            free = st.n_free_gpus * dt
            if st.n_pending:
                self._blocked_gpu_s += free
                if self._frag:
                    self._frag_gpu_s += free
            else:
                self._idle_gpu_s += free
        self._t = t_new
        st.time_s = t_new

    def _on_queued(self, kind: EventKind, payload: int) -> None:
        if kind == EventKind.FAILURE:
            self._on_failure()
        elif kind == EventKind.REPAIR:
            self._on_repair(payload)
        elif kind == EventKind.POLICY_TICK:
            if payload < 0:
                self._epoch_due = True
                if not self._finished():
                    epoch = float(getattr(self.policy, "epoch_s", 0.0) or 0.0)
                    self._queue.schedule(self._t + epoch, EventKind.POLICY_TICK, -1)
            elif payload == self._wake_version:
                self._wake_pending = False
                self._epoch_due = True  # the policy asked for this call: make it
        else:  # pragma: no cover - every kind is handled above
            msg = f"unhandled event kind {kind!r}"
            raise SimulationError(msg)

    def _on_arrival(self) -> None:
        st = self.state
        j = st.arrived
        st.arrived += 1
        if self._unschedulable[j]:
            st.job_state[j] = UNSCHEDULABLE
            return
        st.job_state[j] = PENDING
        st.job_pending_since_s[j] = self._t
        st.pend_add(j)
        self._class_pending[self._job_class[j]] += 1
        self._policy_needed = True

    def _on_slot(self, i: int) -> None:
        st = self.state
        t_next = st.slot_next_s[i]
        if st.slot_finish_s[i] <= t_next:
            self._complete(i)
        elif st.slot_phase_end_s[i] <= t_next:
            self._book(i)
            st.slot_phase[i] = _PHASE_COMPUTE
            st.slot_phase_end_s[i] = math.inf
            self._rates(np.array([i]))
            self._io_dirty = True
        else:
            self._apply_throttle_onset(i)

    # =========================================================================================
    # settle: decide, then physics, then record
    # =========================================================================================
    def _settle(self) -> None:
        st = self.state
        if self._epoch_due or (
            self._policy_needed and st.n_pending and (st.n_free_gpus or self.policy.preemptive)
        ):
            self._decide()
        self._policy_needed = False
        self._epoch_due = False
        if self._dirty_nodes:
            self._refresh_nodes()
        if self.settings.thermal and st.n_slots and self._thermal_dirty:
            self._thermal_update()
        if self._io_dirty and self._io_active:
            self._io_update()
        self._io_dirty = False
        if self._dirty_nodes:
            self._refresh_nodes()
        self._frag = bool(
            self._any_shaped and st.n_pending and st.n_free_gpus and self._fragmented()
        )
        self._settles += 1
        if self._settles % 4096 == 0:
            self._resync()
        self._record()
        self._dirty = False
        if options.debug_checks:
            self._check_invariants()

    def _record(self, *, final: bool = False) -> None:
        st = self.state
        if self._n_log >= self._log.shape[0]:
            self._log = np.concatenate([self._log, np.zeros_like(self._log)])
        row = self._log[self._n_log]
        s = self._alloc_sums
        row[:] = (
            self._t,
            self._it_power_w,
            st.supply_temp_c,
            self._max_inlet_c,
            self.layout.n_gpus - st.n_free_gpus - st.n_down_gpus,
            s[0],
            s[1],
            s[2],
            s[3],
            s[4],
            s[5] + st.n_down_gpus,
            st.n_pending,
            st.n_slots,
        )
        if final and self._n_log > 0:
            # the closing row repeats the last state; it only marks the end of the window
            row[1:] = self._log[self._n_log - 1, 1:]
        self._n_log += 1

    def _resync(self) -> None:
        """Recompute incrementally kept totals from scratch (bounds floating-point drift)."""
        st = self.state
        n = st.n_slots
        self._alloc_sums = (st.slot_n[:n] @ st.slot_rate[:n, LEDGER_COLUMNS]).tolist()
        st.rack_power_w[:] = np.bincount(
            self._node_rack, weights=st.node_wall_power_w, minlength=self.layout.n_racks
        )
        self._recompute_inlet()

    # =========================================================================================
    # policy
    # =========================================================================================
    def _decide(self) -> None:
        t0 = time.perf_counter()
        decision = self.policy.decide(self.view)
        self._policy_wall_s += time.perf_counter() - t0
        self._counters["policy_calls"] += 1
        if decision is None or not isinstance(decision, Decision):
            msg = (
                f"policy {self.policy.name!r} returned {type(decision).__name__}, "
                "expected a kiban.policies.base.Decision"
            )
            raise PolicyError(msg)
        if decision.is_empty():
            return
        self._apply(decision)

    def _policy_error(self, what: str) -> PolicyError:
        return PolicyError(f"policy {self.policy.name!r}: {what} (t={self._t:.0f} s)")

    def _job_label(self, j: int) -> str:
        return f"job {self.jobs.job_id[j]!r} (index {j})"

    def _check_job_index(self, field_name: str, j: object) -> int:
        if not isinstance(j, (int, np.integer)) or not 0 <= int(j) < self.jobs.n_jobs:
            msg = f"{field_name}[{j!r}]: not a job index"
            raise self._policy_error(msg)
        return int(j)

    def _apply(self, d: Decision) -> None:
        st = self.state
        for j_raw in sorted(int(j) for j in d.preempt):
            j = self._check_job_index("preempt", j_raw)
            if st.job_state[j] != RUNNING:
                msg = (
                    f"preempt[{self._job_label(j)}]: job is {_STATE_NAMES[int(st.job_state[j])]}, "
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

    # =========================================================================================
    # starting and stopping jobs
    # =========================================================================================
    def _start(self, j: int, gpus_in: object) -> None:
        st, jobs = self.state, self.jobs
        if st.job_state[j] != PENDING:
            msg = (
                f"start[{self._job_label(j)}]: job is {_STATE_NAMES[int(st.job_state[j])]}, "
                "not pending"
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
            who = (
                "a failed node"
                if st.gpu_job[g] == GPU_DOWN
                else self._job_label(int(st.gpu_job[g]))
            )
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
            msg = (
                f"start[{self._job_label(j)}]: the job needs GPU model "
                f"{self.layout.skus[req].name!r}"
            )
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

    def _start_one_gpu(self, j: int, g: int) -> None:
        """:meth:`_start` for a job on one free GPU (most jobs): scalar checks and commit."""
        st = self.state
        node = self._gpu_node_list[g]
        req = self._req_list[j]
        sku = self._node_sku_list[node]
        if req >= 0 and sku != req:
            msg = (
                f"start[{self._job_label(j)}]: the job needs GPU model "
                f"{self.layout.skus[req].name!r}"
            )
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
        self._open_slot(
            j, k=1, sku=sku, nodes=nodes, counts=counts, racks=np.array([r]), cap_w=cap_w
        )

    def _open_slot(
        self,
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
        if restore == _RESTORE_FAILURE:
            dur_s = write_s + self.settings.restart_overhead_s
            phase = _PHASE_FAIL
        else:
            dur_s, phase = 0.0, _PHASE_COMPUTE
        if dur_s <= 0:
            phase = _PHASE_COMPUTE
        st.job_restore_kind[j] = _RESTORE_NONE
        t = self._t
        st.slot_i[i] = (j, k, sku, rack, phase)
        f = [0.0] * N_SLOT_FLOAT
        f[F_T_LAST] = t
        f[F_START] = t
        f[F_FINISH] = math.inf
        f[F_PHASE_END] = t + dur_s if phase != _PHASE_COMPUTE else math.inf
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

    def _io_demand(self, j: int, k: int, nodes: IntArray, counts: IntArray) -> float:
        """Remote (shared file system) bytes per second of a job at full speed."""
        if not self._io_active:
            return 0.0
        rate = float(self.jobs.input_rate_b_per_s_per_gpu[j]) * k
        if rate <= 0:
            return 0.0
        cache = self._job_cache_b[j]
        if math.isnan(cache) and nodes.shape[0] == 1 and k == self._num_gpus_list[j]:
            return float(self._io_default[j, self._node_cache_class[nodes[0]]])
        cls = self._node_cache_class[nodes]
        if math.isnan(cache) and k == self.jobs.num_gpus[j] and (cls == cls[0]).all():
            hit = float(self._hit[j, cls[0]])
        else:
            if math.isnan(cache):
                cache = float((self._node_cache_b[nodes] * counts / self._node_n[nodes]).sum())
            hit = float(cache_hit_frac(cache, self.jobs.dataset_size_b[j]))
        return rate * (1.0 - hit)

    def _at_cap(self, j: int, sku: int, cap_w: float) -> tuple[float, float]:
        rec = self.layout.skus[sku]
        a, b = self.jobs.activity_frac[j], self.jobs.compute_bound_frac[j]
        busy = float(average_power_under_cap_w(cap_w, a, rec))
        s_cap = float(speed_frac_under_cap(cap_w, a, b, rec))
        return busy, s_cap

    def _set_cap(self, j: int, cap_w: float) -> None:
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

    def _complete(self, i: int) -> None:
        st = self.state
        j = int(st.slot_job[i])
        self._book(i)
        self._close_slot(i)
        st.job_progress_s[j] = self.jobs.duration_s[j]
        st.job_end_s[j] = self._t
        st.job_state[j] = DONE
        self._policy_needed = True

    def _stop(self, j: int, *, reason: str) -> None:
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
            st.job_restore_kind[j] = _RESTORE_FAILURE
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

    def _close_slot(self, i: int) -> None:
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

    # =========================================================================================
    # rates and booking
    # =========================================================================================
    def _book(self, i: int) -> None:
        st = self.state
        dt = self._t - st.slot_t_last_s[i]
        if dt > 0:
            st.slot_acc[i] += dt * st.slot_rate[i]
            st.slot_t_last_s[i] = self._t

    def _book_many(self, idx: IntArray) -> None:
        st = self.state
        dt = self._t - st.slot_t_last_s[idx]
        st.slot_acc[idx] += dt[:, None] * st.slot_rate[idx]
        st.slot_t_last_s[idx] = self._t

    def _rate1(self, i: int) -> None:
        """Scalar form of :meth:`_rates` for one slot (the common case; same arithmetic)."""
        st = self.state
        f = st.slot_f[i].tolist()
        job, n_i, sku, _, phase = st.slot_i[i].tolist()
        n = float(n_i)
        comp = phase == _PHASE_COMPUTE
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
            c if comp else float(phase == _PHASE_CKPT),
            float(phase == _PHASE_FAIL),
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

    def _rates(self, idx: IntArray) -> None:
        """Recompute progress_rate rows, power and next transition of (booked) slots ``idx``."""
        if idx.shape[0] == 1:
            self._rate1(int(idx[0]))
            return
        st = self.state
        n = st.slot_n[idx].astype(np.float64)
        phase = st.slot_phase[idx]
        comp = phase == _PHASE_COMPUTE
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
        rows[:, R_CKPT] = np.where(comp, c, phase == _PHASE_CKPT)
        rows[:, R_FAIL] = phase == _PHASE_FAIL
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

    # =========================================================================================
    # physics
    # =========================================================================================
    def _refresh_nodes(self) -> None:
        """Re-estimate the wall power of changed nodes, log their inputs, update rack inlets."""
        st = self.state
        power = self._power
        if len(self._dirty_nodes) == 1:
            node = self._dirty_nodes.pop()
            r = self._node_rack_list[node]
            n_k = self._node_n_list[node]
            up = bool(st.node_up[node])
            load = (n_k - int(st.node_free[node])) / n_k if up else 0.0
            gpu_w = float(st.node_gpu_power_w[node])
            new_w = power.estimate1_w(node, gpu_w, load, up)
            delta_w = new_w - float(st.node_wall_power_w[node])
            st.node_wall_power_w[node] = new_w
            power.record1(
                self._n_log,
                node=node,
                gpu_w=gpu_w,
                load=load,
                inlet_c=float(st.rack_inlet_temp_c[r]),
                up=up,
            )
            st.rack_power_w[r] += delta_w
            self._it_power_w += delta_w
            if self._d is not None and delta_w != 0.0:
                idx, vals = self._d_cols[r]
                inlet = st.rack_inlet_temp_c
                inlet[idx] += vals * (delta_w * self._air_frac_list[r])
                if self._dense_d:
                    self._max_inlet_c = float(inlet.max())
                elif delta_w > 0.0:
                    self._max_inlet_c = max(self._max_inlet_c, float(inlet[idx].max()))
                else:
                    self._max_inlet_c = float(inlet.max())
            self._thermal_dirty = True
            return
        else:
            nodes = np.fromiter(self._dirty_nodes, dtype=np.int64, count=len(self._dirty_nodes))
            nodes.sort()
            self._dirty_nodes.clear()
            up_a = st.node_up[nodes]
            n_a = self._node_n[nodes]
            load_a = np.where(up_a, (n_a - st.node_free[nodes]) / n_a, 0.0)
            gpu_a = st.node_gpu_power_w[nodes]
            new_a_w = power.estimate_w(nodes, gpu_a, load_a, up_a)
            delta_a_w = new_a_w - st.node_wall_power_w[nodes]
            st.node_wall_power_w[nodes] = new_a_w
            racks = self._node_rack[nodes]
            power.record(
                self._n_log,
                nodes=nodes,
                gpu_w=gpu_a,
                load=load_a,
                inlet_c=st.rack_inlet_temp_c[racks],
                up=up_a,
            )
            d_rack_w = np.bincount(racks, weights=delta_a_w, minlength=self.layout.n_racks)
            st.rack_power_w += d_rack_w
            self._it_power_w += float(delta_a_w.sum())
            if self._d is not None:
                ch = np.flatnonzero(d_rack_w)
                st.rack_inlet_temp_c += self._d[:, ch] @ (d_rack_w[ch] * self._air_frac[ch])
        self._max_inlet_c = float(st.rack_inlet_temp_c.max())
        self._thermal_dirty = True

    def _recompute_inlet(self) -> None:
        st = self.state
        self._it_power_w = float(st.rack_power_w.sum())
        if self._d is None:
            st.rack_inlet_temp_c[:] = st.supply_temp_c
        else:
            st.rack_inlet_temp_c[:] = st.supply_temp_c + self._d @ (
                st.rack_power_w * self._air_frac
            )
        self._max_inlet_c = float(st.rack_inlet_temp_c.max())

    def _slot_gpu_inlet_c(self, idx: IntArray) -> FloatArray:
        st = self.state
        racks = st.slot_rack[idx]
        inlet = st.rack_inlet_temp_c[np.maximum(racks, 0)].copy()
        for pos in np.flatnonzero(racks < 0).tolist():
            j = int(st.slot_job[idx[pos]])
            inlet[pos] = st.rack_inlet_temp_c[self._job_racks[j]].max()
        liquid = self._sku_liquid[st.slot_sku[idx]]
        return np.where(liquid, self.layout.liquid_supply_temp_c, inlet)

    def _thermal_update(self) -> None:
        """Check throttling of running jobs; schedule onsets, release or re-rate throttled ones."""
        st = self.state
        self._thermal_dirty = False
        if (
            not self._thermal_active
            and not self._liquid_always_check
            and self._max_inlet_c < self._thermal_margin_c
        ):
            if self._max_inlet_c > self._thermal_margin_c - PREV_INLET_BAND_K:
                self._prev_inlet = st.rack_inlet_temp_c.copy()
            return
        n = st.n_slots
        idx = np.arange(n)
        sku = st.slot_sku[idx]
        r_k_per_w = self._sku_r_k_per_w[sku]
        slow_c = self._sku_slow_c[sku]
        inlet_c = self._slot_gpu_inlet_c(idx)
        busy_w = st.slot_busy_power_w[idx]
        steady_c = inlet_c + r_k_per_w * busy_w
        throttled = st.slot_s_thermal[idx] < 1.0
        pending = np.isfinite(st.slot_throttle_at_s[idx])
        over = steady_c > slow_c
        # new onsets: rising from the previous steady temperature (chips settle in ~τ)
        new = over & ~throttled & ~pending
        changed_next = np.zeros(n, dtype=bool)
        if new.any():
            pos = np.flatnonzero(new)
            racks = st.slot_rack[pos]
            prev_inlet_c = np.where(
                (racks >= 0) & ~self._sku_liquid[sku[pos]],
                self._prev_inlet[np.maximum(racks, 0)],
                inlet_c[pos],
            )
            # a job that starts now heats up from idle; one already running from its old steady
            prev_power_w = np.where(
                st.slot_start_s[pos] >= self._t, self._sku_idle_ctx_w[sku[pos]], busy_w[pos]
            )
            t0_c = np.minimum(prev_inlet_c + r_k_per_w[pos] * prev_power_w, slow_c[pos])
            wait_s = time_to_reach_s(
                t0_c,
                inlet_c[pos],
                busy_w[pos],
                r_k_per_w[pos],
                self._sku_tau_s[sku[pos]],
                slow_c[pos],
            )
            st.slot_throttle_at_s[pos] = self._t + wait_s
            changed_next[pos] = True
        cancel = pending & ~over
        if cancel.any():
            st.slot_throttle_at_s[np.flatnonzero(cancel)] = math.inf
            changed_next |= cancel
        # throttled jobs: new speed at the power that holds the die at the threshold
        release_c = slow_c - self.settings.throttle_hysteresis_k
        upd = np.flatnonzero(throttled)
        if upd.size:
            self._book_many(upd)
            s_th, p_th = self._thermal_speed(upd, inlet_c[upd])
            released = steady_c[upd] <= release_c[upd]
            st.slot_s_thermal[upd] = np.where(released, 1.0, s_th)
            st.slot_thermal_cap_w[upd] = np.where(released, math.inf, p_th)
            self._rates(upd)
            self._io_dirty = True
        onl = np.flatnonzero(changed_next & ~throttled)
        if onl.size:
            st.slot_next_s[onl] = np.minimum(
                np.minimum(st.slot_finish_s[onl], st.slot_phase_end_s[onl]),
                st.slot_throttle_at_s[onl],
            )
        self._thermal_active = bool(
            (st.slot_s_thermal[:n] < 1.0).any() or np.isfinite(st.slot_throttle_at_s[:n]).any()
        )
        self._prev_inlet = st.rack_inlet_temp_c.copy()

    def _thermal_speed(self, idx: IntArray, inlet_c: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Speed (relative to the job's speed at its cap_w) and board power_w at the die limit."""
        st, jobs = self.state, self.jobs
        out = np.ones(idx.shape[0])
        power_w = np.full(idx.shape[0], math.inf)
        sku = st.slot_sku[idx]
        for k in np.unique(sku).tolist():
            pos = np.flatnonzero(sku == k)
            rec = self.layout.skus[k]
            sl = idx[pos]
            j = st.slot_job[sl]
            p_max_w = (rec.slowdown_temp_c - inlet_c[pos]) / rec.die_to_inlet_k_per_w
            cap_w = np.minimum(st.slot_cap_w[sl], np.maximum(p_max_w, 1.0))
            s_t = speed_frac_under_cap(
                cap_w, jobs.activity_frac[j], jobs.compute_bound_frac[j], rec
            )
            out[pos] = np.minimum(1.0, s_t / np.maximum(st.slot_s_cap[sl], 1e-12))
            power_w[pos] = cap_w
        return out, power_w

    def _apply_throttle_onset(self, i: int) -> None:
        st = self.state
        self._book(i)
        st.slot_throttle_at_s[i] = math.inf
        idx = np.array([i])
        inlet = self._slot_gpu_inlet_c(idx)
        s_th, p_th = self._thermal_speed(idx, inlet)
        st.slot_s_thermal[i] = s_th[0]
        st.slot_thermal_cap_w[i] = p_th[0]
        self._rates(idx)
        self._counters["throttle_onsets"] += 1
        self._thermal_active = True
        self._io_dirty = True

    def _io_update(self) -> None:
        """Share the file system max-min fairly among running jobs; re-rate the ones that change."""
        st = self.state
        n = st.n_slots
        if n == 0:
            self._io_total_b_per_s = 0.0
            return
        capacity_b_per_s = self.settings.storage_bandwidth_b_per_s
        if not self._io_limited and self._io_total_b_per_s <= capacity_b_per_s * (1.0 - 1e-9):
            return
        comp = st.slot_phase[:n] == _PHASE_COMPUTE
        full_b_per_s = st.slot_io_demand_b_per_s[:n]
        s_c = st.slot_s_cap[:n] * st.slot_s_thermal[:n]
        demand_b_per_s = np.where(comp, full_b_per_s * s_c, 0.0)
        self._io_total_b_per_s = float(demand_b_per_s.sum())
        if self._io_total_b_per_s <= capacity_b_per_s:
            new = np.ones(n)
        else:
            alloc_b_per_s = maxmin_share_b_per_s(
                demand_b_per_s, capacity_b_per_s, st.slot_io_weight[:n]
            )
            with np.errstate(divide="ignore", invalid="ignore"):
                new = np.where(
                    demand_b_per_s > 0,
                    alloc_b_per_s / np.where(full_b_per_s > 0, full_b_per_s, 1.0),
                    1.0,
                )
            new = np.minimum(new, 1.0)
        self._io_limited = bool((new < 1.0).any())
        changed = np.flatnonzero(np.abs(new - st.slot_s_io[:n]) > 1e-12)
        if changed.size:
            self._book_many(changed)
            st.slot_s_io[changed] = new[changed]
            self._rates(changed)

    # =========================================================================================
    # failures
    # =========================================================================================
    def _schedule_failure(self) -> None:
        wait = float(self._rng_fail.exponential(1.0 / self._fail_rate_per_s))
        self._queue.schedule(self._t + wait, EventKind.FAILURE)

    def _on_failure(self) -> None:
        st = self.state
        node = int(self._rng_fail.integers(self.layout.n_nodes))
        if not self._finished():
            self._schedule_failure()
        if not st.node_up[node]:
            return
        self._counters["failures"] += 1
        a = int(self._node_first[node])
        b = a + int(self._node_n[node])
        victims = np.unique(st.gpu_job[a:b])
        for j in victims[victims >= 0].tolist():
            self._stop(int(j), reason="failure")
        st.node_up[node] = False
        st.gpu_job[a:b] = GPU_DOWN
        st.n_free_gpus -= int(st.node_free[node])
        st.node_free[node] = 0
        st.n_down_gpus += b - a
        self._dirty_nodes.add(node)
        self._n_repairs_pending += 1
        self._queue.schedule(self._t + self.settings.repair_s, EventKind.REPAIR, node)

    def _on_repair(self, node: int) -> None:
        st = self.state
        a = int(self._node_first[node])
        n = int(self._node_n[node])
        st.node_up[node] = True
        st.gpu_job[a : a + n] = GPU_FREE
        st.node_free[node] = n
        st.n_free_gpus += n
        st.n_down_gpus -= n
        st.node_gpu_power_w[node] = n * self._sku_idle_w[self._node_sku[node]]
        self._dirty_nodes.add(node)
        self._n_repairs_pending -= 1
        self._policy_needed = True

    # =========================================================================================
    # fragmentation and invariants
    # =========================================================================================
    def _fragmented(self) -> bool:
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

    def _check_invariants(self) -> None:
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
        node_free = np.bincount(
            self._gpu_node[st.gpu_job == GPU_FREE], minlength=self.layout.n_nodes
        )
        if (node_free != st.node_free).any():
            problems.append("node free counts disagree with the GPU table")
        if int((st.gpu_job == GPU_FREE).sum()) != st.n_free_gpus:
            problems.append("free GPU count drifted")
        if not np.array_equal(
            np.flatnonzero(st.job_state == PENDING), st.pending_buf[: st.n_pending]
        ):
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

    # =========================================================================================
    # output
    # =========================================================================================
    def _output(self, horizon: float, wall_s: float) -> RunOutput:
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


def simulate(
    layout: ClusterLayout,
    jobs: JobTable,
    policy: Policy,
    *,
    settings: SimSettings | None = None,
    facility: FacilityModel | None = None,
    progress: Callable[[float, int], None] | None = None,
) -> RunOutput:
    """Run one policy on one cluster and job table (convenience wrapper around :class:`Simulator`).

    Args:
        layout: The cluster.
        jobs: The jobs.
        policy: The policy.
        settings: Run settings.
        facility: Cooling and power-chain model.
        progress: Optional ``progress(sim_time_s, events)`` callback.

    Returns:
        The run's output.
    """
    return Simulator(layout, jobs, policy, settings=settings, facility=facility).run(progress)
