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

Module layout: this module holds the event loop (:meth:`Simulator.run` and the per-event
handlers). The rest of the class lives as plain functions taking the simulator as ``self`` in
:mod:`kiban.sim.prepare` (precomputation and run state), :mod:`kiban.sim.dispatch` (policy
decisions, starting jobs, power caps), :mod:`kiban.sim.accounting` (stopping jobs, slot rates,
the GPU-second ledger), :mod:`kiban.sim.throttle` (node power, rack inlets, thermal throttling),
:mod:`kiban.sim.io_share` (shared file-system I/O), :mod:`kiban.sim.failures` (node failures and
repairs) and :mod:`kiban.sim.output` (invariants and :class:`~kiban.sim.settings.RunOutput`).
They are bound as methods in the class body, so a call costs exactly what a method call did.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from kiban.errors import PolicyError, SimulationError
from kiban.options import options
from kiban.policies.base import Decision, Policy, PolicyContext
from kiban.sim import accounting, dispatch, failures, io_share, output, prepare, throttle
from kiban.sim.constants import PHASE_COMPUTE, PREV_INLET_BAND_K, SLOT_ARRAYS
from kiban.sim.events import EventKind, EventQueue
from kiban.sim.facility import FacilityModel, SimpleFacility
from kiban.sim.power import NodePower
from kiban.sim.settings import LEDGER_BUCKETS, LOG_COLUMNS, RunOutput, SimSettings
from kiban.sim.state import LEDGER_COLUMNS, PENDING, UNSCHEDULABLE, ClusterState, ClusterView

if TYPE_CHECKING:
    import numpy.typing as npt

    from kiban._typing import BoolArray, FloatArray, IntArray
    from kiban.sim.jobs import JobTable
    from kiban.sim.layout import ClusterLayout

__all__ = [
    "LEDGER_BUCKETS",
    "LOG_COLUMNS",
    "PREV_INLET_BAND_K",
    "RunOutput",
    "SimSettings",
    "Simulator",
    "simulate",
]

logger = logging.getLogger(__name__)


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

    # Run state set by the helper modules (kiban.sim.prepare and the others); declared here so
    # the type checker sees the whole state of the class in one place.
    _air_frac: FloatArray
    _air_frac_list: list[float]
    _any_shaped: bool
    _blocked_gpu_s: float
    _budget_finite: bool
    _budget_w: FloatArray
    _busy_w: FloatArray
    _ckpt_frac: npt.NDArray[Any]
    _ckpt_write_s: FloatArray
    _class_key: list[tuple[int, int, int]]
    _class_pending: IntArray
    _class_shaped: BoolArray
    _d: FloatArray | None
    _d_cols: list[tuple[IntArray | slice, FloatArray]]
    _default_cap_w: FloatArray
    _dense_d: bool
    _dirty_nodes: set[int]
    _down_gpu_s: float
    _duration_list: list[float]
    _fail_rate_per_s: float
    _frag_gpu_s: float
    _gpn_list: list[int]
    _gpu_node: IntArray
    _gpu_node_list: list[int]
    _hit: FloatArray
    _idle_ctx_list: Any
    _idle_gpu_s: float
    _idle_list: Any
    _io_active: bool
    _io_default: FloatArray
    _io_limited: bool
    _io_total_b_per_s: float
    _it_power_w: float
    _job_cache_b: npt.NDArray[Any]
    _job_class: IntArray
    _job_io_weight: FloatArray
    _job_racks: dict[int, IntArray]
    _job_req_sku: IntArray
    _led_alloc: list[float]
    _liquid_always_check: bool
    _max_inlet_c: float
    _moved_to_ckpt_gpu_s: float
    _moved_to_failure_gpu_s: float
    _n_log: int
    _n_repairs_pending: int
    _node_cache_b: FloatArray
    _node_cache_class: npt.NDArray[np.signedinteger[Any]]
    _node_first: IntArray
    _node_n: IntArray
    _node_n_list: list[int]
    _node_rack: IntArray
    _node_rack_list: list[int]
    _node_sku: IntArray
    _node_sku_list: list[int]
    _num_gpus_list: list[int]
    _policy_wall_s: float
    _prev_inlet: FloatArray
    _req_list: list[int]
    _s_cap: FloatArray
    _settles: int
    _single_server: bool
    _sku_idle_ctx_w: npt.NDArray[Any]
    _sku_idle_w: npt.NDArray[Any]
    _sku_liquid: npt.NDArray[Any]
    _sku_min_cap_w: npt.NDArray[Any]
    _sku_r_k_per_w: npt.NDArray[Any]
    _sku_slow_c: npt.NDArray[Any]
    _sku_tau_s: npt.NDArray[Any]
    _sku_tdp_w: npt.NDArray[Any]
    _thermal_active: bool
    _thermal_dirty: bool
    _thermal_margin_c: float
    _unschedulable: Any
    _wake_time_s: float
    _wake_version: int
    _t: float
    _frag: bool
    _log: FloatArray

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
        self._slot_arrays = [getattr(self.state, name) for name in SLOT_ARRAYS]
        self._dirty = True
        self._counters: dict[str, int] = {}
        self._power = NodePower(layout, layout.supply_temp_c)
        self._prepare_hardware()
        self._prepare_jobs()

    # Methods defined as plain functions in the helper modules and bound here: an ordinary method
    # call, no extra call layer.
    # prepare
    _prepare_hardware = prepare._prepare_hardware
    _prepare_jobs = prepare._prepare_jobs
    _init_run_state = prepare._init_run_state
    # dispatch
    _policy_error = dispatch._policy_error
    _job_label = dispatch._job_label
    _check_job_index = dispatch._check_job_index
    _apply = dispatch._apply
    _start = dispatch._start
    _start_one_gpu = dispatch._start_one_gpu
    _open_slot = dispatch._open_slot
    _at_cap = dispatch._at_cap
    _set_cap = dispatch._set_cap
    # accounting
    _complete = accounting._complete
    _stop = accounting._stop
    _close_slot = accounting._close_slot
    _book = accounting._book
    _book_many = accounting._book_many
    _rate1 = accounting._rate1
    _rates = accounting._rates
    # throttle
    _refresh_nodes = throttle._refresh_nodes
    _recompute_inlet = throttle._recompute_inlet
    _slot_gpu_inlet_c = throttle._slot_gpu_inlet_c
    _thermal_update = throttle._thermal_update
    _thermal_speed = throttle._thermal_speed
    _apply_throttle_onset = throttle._apply_throttle_onset
    # io_share
    _io_demand = io_share._io_demand
    _io_update = io_share._io_update
    # failures
    _schedule_failure = failures._schedule_failure
    _on_failure = failures._on_failure
    _on_repair = failures._on_repair
    # output
    _fragmented = output._fragmented
    _check_invariants = output._check_invariants
    _output = output._output

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
            st.slot_phase[i] = PHASE_COMPUTE
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
