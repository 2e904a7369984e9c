"""The discrete-event simulator: replays a job table on a cluster under a policy, with physics.

Events are arrivals (from the sorted job table), slot transitions of running jobs (completion,
end of a restore phase, thermal-throttle onset), node failures and repairs, policy wake-ups and
epochs, and facility steps. Between events everything is piecewise constant: the loop only
integrates the ledger (:meth:`Simulator._advance`). After the events of one instant it
*settles* (:meth:`Simulator._settle`): the policy decides (if something it cares about
changed), then only the physics that changed is re-evaluated, then one log row is written.

The loop owns no physics. It calls components, each owning its state:

================================  ===============================================================
component                         owns
================================  ===============================================================
:class:`~.cluster.ClusterState`   who holds each GPU, node up/down, rack power reservations, job
                                  life cycle and the waiting queue
:class:`~.slots.Slots`            running jobs: speeds, ledger shares, power, integrals per job
:class:`~.ledger_book.LedgerBook` GPU-seconds per ledger bucket
:class:`~.storage.SharedStorage`  cache shares, I/O weights, the max-min file-system share
:class:`~.heat.NodeHeat`          node and rack power, supply and rack inlet temperatures
:class:`~.throttle.ThermalThrottle`  throttle onsets and die-limit speeds
:class:`~.fragmentation.QueueShapes` waiting jobs per shape class (fragmentation)
:class:`~.failures.Failures`      the failure stream and repairs in flight
:class:`~.runner.JobRunner`       starting, completing and stopping jobs
:class:`~.dispatch.Dispatch`      calling the policy, validating and applying its Decision
:class:`~.output.RunRecorder`     the event log and the run's output
:class:`~.timeline.GpuTimeline`   the per-GPU timeline (``record_gpus``)
================================  ===============================================================

Policies see a read-only :class:`~kiban.sim.state.ClusterView`; a facility that runs during
the simulation implements :class:`~kiban.sim.facility_loop.InLoopFacility`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from kiban.errors import SimulationError
from kiban.mig import MIG_COMPUTE_SLICES
from kiban.options import options
from kiban.policies.base import PolicyContext
from kiban.sim.capping import PowerBudget
from kiban.sim.checks import check_invariants
from kiban.sim.cluster import ClusterState
from kiban.sim.dispatch import Dispatch
from kiban.sim.events import EventKind, EventQueue
from kiban.sim.facility import FacilityModel, SimpleFacility
from kiban.sim.facility_loop import FacilityEffect, InLoopFacility
from kiban.sim.failures import Failures
from kiban.sim.flags import Dirty
from kiban.sim.fragmentation import QueueShapes
from kiban.sim.heat import NodeHeat
from kiban.sim.host_pods import HostTenants
from kiban.sim.ledger_book import LedgerBook
from kiban.sim.observables import GpuObservables
from kiban.sim.output import RunRecorder
from kiban.sim.runner import JobRunner
from kiban.sim.settings import LOG_COLUMNS, RunOutput, SimSettings
from kiban.sim.slots import SHARES, Slots
from kiban.sim.state import ClusterView
from kiban.sim.storage import SharedStorage
from kiban.sim.tables import RunInputs
from kiban.sim.throttle import ThermalThrottle
from kiban.sim.time_slice import replica_jobs
from kiban.sim.timeline import GpuTimeline
from kiban.vocabulary import LEDGER_BUCKETS, MILLI_PER_GPU, RUNNING, UNSCHEDULABLE

if TYPE_CHECKING:
    from kiban._typing import IntArray
    from kiban.policies.base import Policy
    from kiban.sim.events import Event
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

RESYNC_EVERY = 4096
"""Settles between exact recomputations of incrementally kept totals (bounds drift)."""

# event kinds the loop tests at every event, as module names (an enum member is looked up
# through its class at each ``EventKind.X``, ~0.1 µs)
_FAILURE, _REPAIR, _TICK, _STEP, _STORAGE = (
    EventKind.FAILURE,
    EventKind.REPAIR,
    EventKind.POLICY_TICK,
    EventKind.FACILITY_STEP,
    EventKind.STORAGE,
)
_HOST_ARRIVAL, _HOST_END = EventKind.HOST_ARRIVAL, EventKind.HOST_END


class Simulator:
    """One run of one policy on one cluster and job table.

    Life cycle: construct (validates and precomputes), then :meth:`run` once.

    Args:
        layout: The cluster.
        jobs: The jobs (sorted by submit time).
        policy: The policy; ``reset`` is called at the start of :meth:`run`.
        settings: Run settings.
        facility: Cooling and power-chain model (default :class:`SimpleFacility`), evaluated
            over the event log after the run, or an
            :class:`~kiban.sim.facility_loop.InLoopFacility` called during it.
    """

    def __init__(
        self,
        layout: ClusterLayout,
        jobs: JobTable,
        policy: Policy,
        *,
        settings: SimSettings | None = None,
        facility: FacilityModel | InLoopFacility | None = None,
    ) -> None:
        self.layout = layout
        self.settings = s = settings if settings is not None else SimSettings()
        if s.locality == "node":
            jobs = jobs.with_node_locality(layout.max_node_gpus)
        if s.time_slice_max_tenants:  # a share of a GPU is one time-slice replica
            jobs = replica_jobs(jobs, s.time_slice_max_tenants)
        self.jobs = jobs
        self.policy = policy
        self.facility: FacilityModel | InLoopFacility = (
            facility if facility is not None else SimpleFacility()
        )
        self._in_loop = self.facility if isinstance(self.facility, InLoopFacility) else None
        fail_seq, policy_seq = np.random.SeedSequence(s.seed).spawn(2)
        self._rng_policy = np.random.default_rng(policy_seq)
        self._queue = queue = EventQueue()
        self._dirty = dirty = Dirty()
        self.inputs = inputs = RunInputs(layout, jobs, s)
        self.hw, self.jt = inputs.hw, inputs.jt
        # components, lowest first (each gets only what its interface names)
        self.state = st = ClusterState(layout, jobs)
        self.book = book = LedgerBook()
        self.heat = heat = NodeHeat(inputs.hw, dirty)
        self.slots = slots = Slots(inputs, book, heat, dirty)
        self.storage = storage = SharedStorage(inputs, queue)
        self.throttle = ThermalThrottle(inputs, heat, slots)
        self.shapes = shapes = QueueShapes(inputs)
        self.failures = Failures(
            np.random.default_rng(fail_seq),
            queue,
            n_nodes=layout.n_nodes,
            rate_per_node_s=s.node_failure_rate_per_s if s.failures else 0.0,
            repair_s=s.repair_s,
        )
        self.runner = runner = JobRunner(inputs, st, slots, storage, shapes, book, dirty)
        self.dispatch = Dispatch(policy, inputs, st, slots, storage, heat, runner, queue, dirty)
        self.observables = obs = GpuObservables(inputs, st, slots, heat)
        self.view = ClusterView(st, layout, jobs, slots=slots, heat=heat, observables=obs)
        self.recorder = RunRecorder(inputs, st, slots, heat, book)
        hp = jobs.host_pods  # CPU-only pods hold node CPU and memory where the layout has them
        self.host: HostTenants | None = None
        if (
            hp is not None
            and hp.n_pods
            and (layout.node_cpu_milli is not None or layout.node_memory_b is not None)
        ):
            self.host = HostTenants(hp, layout, st, queue, dirty, self._place_host, policy.name)
        self.timeline = GpuTimeline(inputs, st, slots, obs) if s.record_gpus else None
        self.budget = (
            PowerBudget(
                inputs,
                st,
                slots,
                heat,
                tuple(getattr(self.facility, "budget_levels", ())),
                enforce=bool(getattr(self.facility, "enforce_budgets", True)),
            )
            if self._in_loop is not None
            else None
        )
        obs.hw_slowdown_jobs = lambda: self.throttle.hw_slowdown_jobs
        if self.budget is not None:
            obs.braked_jobs = lambda: self.budget.braked_jobs if self.budget else frozenset()
        self._step_due = False
        self._unpowered: set[int] = set()  # nodes whose feed is lost (facility faults)
        self._unpowered_failed: set[int] = set()  # of those, nodes that had failed anyway
        self._repair_done: set[int] = set()  # ... whose repair finished while unpowered
        self._ran = False
        self._t = 0.0
        self._changed = True  # something happened since the last settle
        self._epoch_due = False
        self._frag = False
        self._settles = 0
        self._thermal = s.thermal
        self.thermal_shutdowns = 0
        self._thermal_down: set[int] = set()  # nodes off at their shutdown temperature

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
        settings = self.settings
        self.policy.reset(
            PolicyContext(
                layout=self.layout,
                jobs=self.jobs,
                rng=self._rng_policy,
                checkpoint_write_s=self.jt.ckpt_write_s,
                supply_temp_range_c=settings.supply_temp_range_c,
                storage_bandwidth_b_per_s=settings.storage_bandwidth_b_per_s,
                facility_power_w=_pure_facility_power(self.facility),
                site_budget_w=min(
                    dict(getattr(self.facility, "budgets_w", None) or {}).values(),
                    default=math.inf,
                ),
                hall_air=getattr(self.facility, "hall_air", None),
            )
        )
        self._start()
        until = settings.until_s if settings.until_s is not None else math.inf
        n_jobs = self.jobs.n_jobs
        submit = self.jobs.submit_time_s.tolist()  # Python floats: the same values, no boxing
        st, sl, queue, dispatch = self.state, self.slots, self._queue, self.dispatch
        every = max(1, settings.progress_interval_events)
        events = 0
        next_version = -1  # the slots' next_s when slot_i and t_slot were found
        slot_i, t_slot = -1, math.inf
        inf = math.inf
        tick, host_end = _TICK, _HOST_END
        settle, advance = self._settle, self._advance
        while True:
            # next event: slot transitions (priority 0), queued events, arrivals (priority 5)
            if sl.next_version != next_version:
                next_version = sl.next_version
                if sl.n:
                    slot_i = int(sl.next_s[: sl.n].argmin())
                    t_slot = float(sl.next_s[slot_i])
                else:
                    slot_i, t_slot = -1, inf
            arrived = st.arrived
            t_arr = submit[arrived] if arrived < n_jobs else inf
            head = queue.peek()
            while (
                head is not None
                and head.kind == tick
                and 0 <= head.payload != dispatch.wake_version
            ):
                queue.discard()  # a wake-up the policy has since replaced: not an event
                head = queue.peek()
            t_q = head.time_s if head is not None else inf
            # min(t_slot, t_arr, t_q), without the call: the first of equal values
            t_next = t_arr if t_arr < t_slot else t_slot
            t_next = t_q if t_q < t_next else t_next
            later = t_next > self._t
            if later and self._changed:
                settle()
                continue
            if t_next > until or t_next == inf:
                break
            # (neither can hold while jobs are still to arrive)
            if arrived >= n_jobs and (self._finished() or self._stuck(head)):
                break
            if later:
                advance(t_next)
            events += 1
            if t_slot == t_next:
                self._on_slot(slot_i)
            elif head is not None and t_q == t_next and (t_arr > t_next or head.priority < 5):
                queue.pop()
                if head.kind >= host_end:  # CPU-only pods: no GPU, power or log change
                    self._on_host(head.kind, head.payload)
                    continue
                self._on_queued(head.kind, head.payload)
            else:
                self._on_arrival()
            self._changed = True
            if progress is not None and events % every == 0:
                progress(self._t, events)
        if self._changed:
            self._settle()
        horizon = until if math.isfinite(until) else self._t
        if horizon > self._t:
            self._advance(horizon)
        self.recorder.record(self._t, final=True)
        if progress is not None:
            progress(self._t, events)
        return self._output(horizon, events, time.perf_counter() - wall0)

    def _start(self) -> None:
        """The idle cluster at t = 0: power, inlets, log row 0, first failure, first ticks."""
        self.heat.start(self.state.node_up, self.recorder.n_rows)
        self.throttle.start()
        if self._in_loop is not None:  # the facility's starting state is part of row 0
            self._apply_facility(self._in_loop.start(self.view))
        if self.timeline is not None:
            self.timeline.start()
        self.recorder.record(0.0)
        self.failures.start(0.0)
        if self.host is not None:
            self.host.start()
        epoch = getattr(self.policy, "epoch_s", None)
        if epoch:
            self._queue.schedule(float(epoch), EventKind.POLICY_TICK, -1)
        if self._in_loop is not None and self._in_loop.step_s:
            self._queue.schedule(self._next_step_s(), EventKind.FACILITY_STEP)

    def _next_step_s(self) -> float:
        """When the in-loop facility steps next (its own choice if it has one)."""
        assert self._in_loop is not None
        chooser = getattr(self._in_loop, "next_step_s", None)
        if chooser is not None:
            return float(chooser(self._t))
        return self._t + float(self._in_loop.step_s or 0.0)

    def _output(self, horizon: float, events: int, wall_s: float) -> RunOutput:
        rec = self.recorder
        log = rec.columns()
        # exact server physics over every change, replacing the online estimate
        log["it_power_w"] = self.heat.power.exact_it_power_w(rec.n_rows)
        facility = self.facility.power_w(log["it_power_w"], log["time_s"], log["supply_temp_c"])
        counters = {
            "events": events,
            "policy_calls": self.dispatch.calls,
            "failures": self.failures.count,
            "preemptions": self.runner.preemptions,
            "restarts": self.runner.restarts,
            "throttle_onsets": self.throttle.onsets,
            "hw_slowdown_onsets": self.throttle.hw_onsets,
            "thermal_shutdowns": self.thermal_shutdowns,
            "unschedulable_jobs": int(self.jt.unschedulable.sum()),
        }
        extra: dict[str, Any] = {}
        if self.timeline is not None:
            extra = self.timeline.finish(horizon, self.heat)
        if self._in_loop is not None:
            finish = getattr(self._in_loop, "finish", None)
            if finish is not None:
                extra["coupling"] = finish(self.view)
            if self.budget is not None:
                extra.setdefault("coupling", {}).update(self.budget.finish(self._t))
        extra["fgd_frag_gpu_s"] = self.state.fgd_frag_gpu_s_until(horizon)
        if self.state.mig is not None:
            extra["mig_idle_slice_gpu_s"] = self.state.mig.idle_slice_gpu_s
        figures = getattr(self.policy, "run_figures", None)
        if callable(figures):  # the policy's own counts (J-DEC: epochs, fallbacks, limit hits)
            extra["policy_stats"] = dict(figures())
        if self.host is not None:
            extra["host_pods"] = self.host.figures()
        elif self.jobs.host_pods is not None and self.jobs.host_pods.n_pods:
            # the nodes state no CPU or memory ([[fleet]] cpu_milli/memory_gib/from_trace)
            extra["host_pods"] = {"cpu_pods_not_replayed": int(self.jobs.host_pods.n_pods)}
        return rec.output(
            policy_name=self.policy.name,
            horizon_s=horizon,
            facility=facility,
            log=log,
            counters=counters,
            wall_s=wall_s,
            policy_wall_s=self.dispatch.wall_s,
            extra=extra,
        )

    # =========================================================================================
    # loop helpers
    # =========================================================================================
    def _finished(self) -> bool:
        st = self.state
        return (
            st.arrived >= self.jobs.n_jobs
            and st.n_pending == 0
            and self.slots.n == 0
            and (self.host is None or not self.host.busy)
        )

    def _place_host(self, cpu_milli: int, memory_b: float) -> int | None:
        """The policy's node for a CPU-only pod (None: it has no rule; first-fit then)."""
        place = getattr(self.policy, "place_host", None)
        return None if place is None else place(self.view, cpu_milli, memory_b)

    def _stuck(self, head: Event | None) -> bool:
        st = self.state
        if self._changed:
            return False  # more events at this instant (e.g. a facility step): settle first
        if st.arrived < self.jobs.n_jobs or self.slots.n or st.n_pending == 0:
            return False
        if self.failures.repairs_pending or self.dispatch.wake_pending:
            return False
        if self.host is not None and self.host.busy:  # CPU-only pods will free CPU and memory
            return False
        if self._thermal_down:  # nodes off until a fault's repair brings them back
            repair = getattr(self._in_loop, "next_repair_s", None)
            if repair is not None and math.isfinite(float(repair(self._t))):
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
        """Integrate the ledger over [t, t_new) with the current state."""
        st = self.state
        dt = t_new - self._t
        if dt > 0:
            n_free = (
                st.n_free_gpus + st.shared_free_milli / MILLI_PER_GPU
                if st.shared_free_milli
                else st.n_free_gpus
            )
            if st.mig is not None and st.mig.free_slices:
                # compute slices of GPUs in MIG mode that no instance holds: free GPU time
                idle_gpus = st.mig.free_slices / MIG_COMPUTE_SLICES
                n_free += idle_gpus
                st.mig.idle_slice_gpu_s += idle_gpus * dt
            # (dt, n_down, n_free, waiting, fragmented), positional: called at every event
            self.book.advance(dt, st.n_down_gpus, n_free, bool(st.n_pending), self._frag)
        self._t = t_new
        st.time_s = t_new

    # =========================================================================================
    # events
    # =========================================================================================
    def _on_arrival(self) -> None:
        st = self.state
        j = st.arrived
        st.arrived += 1
        if self.jt.unschedulable[j]:
            st.job_state[j] = UNSCHEDULABLE
            return
        self.runner.enqueue(j, self._t)

    def _on_slot(self, i: int) -> None:
        sl = self.slots
        t_next = sl.next_s[i]
        if sl.finish_s[i] <= t_next:
            self.runner.complete(i, self._t)
        elif sl.phase_end_s[i] <= t_next:
            sl.end_phase(i, self._t)
        else:
            self.throttle.onset(i, self._t)

    def _on_queued(self, kind: EventKind, payload: int) -> None:
        if kind == _FAILURE:
            self._on_failure()
        elif kind == _REPAIR:
            self._on_repair(payload)
        elif kind == _TICK:
            if payload < 0:
                self._epoch_due = True
                if not self._finished():
                    epoch = float(getattr(self.policy, "epoch_s", 0.0) or 0.0)
                    self._queue.schedule(self._t + epoch, _TICK, -1)
            elif self.dispatch.wake_due(payload):
                self._epoch_due = True  # the policy asked for this call: make it
        elif kind == _STEP and self._in_loop is not None:
            self._apply_facility(self._in_loop.at_step(self.view))
            self._step_due = True
            if not self._finished() and self._in_loop.step_s:
                self._queue.schedule(self._next_step_s(), _STEP)
        elif kind == _STORAGE:
            self.storage.on_event(payload, self.slots, self._t)
        else:  # pragma: no cover - every kind is handled above
            msg = f"unhandled event kind {kind!r}"
            raise SimulationError(msg)

    def _on_host(self, kind: EventKind, payload: int) -> None:
        """A CPU-only pod arrives or ends; settle only if the policy may now start a GPU pod.

        Host pods change no GPU, power or log value: the instant is settled (policy call,
        physics, log row) only when CPU or memory came free while GPU pods wait.
        """
        assert self.host is not None  # only its events have these kinds
        if kind == _HOST_ARRIVAL:
            self.host.on_arrival(payload, self._t)
        else:
            self.host.on_end(payload, self._t)
        if self._dirty.policy and self.state.n_pending:
            self._changed = True

    def _on_failure(self) -> None:
        fail = self.failures
        node = fail.pick_node()
        if not self._finished():
            fail.schedule_next(self._t)
        self._fail_node(node)

    def _fail_node(self, node: int) -> bool:
        """Node ``node`` fails now (if up): its jobs stop and restart, its repair is scheduled."""
        st, hw = self.state, self.hw
        if not st.node_up[node]:
            return False
        a = int(hw.node_first[node])
        n = int(hw.node_n[node])
        victims = st.jobs_on(a, n)
        for j in victims.tolist():
            self.runner.stop(int(j), self._t, failure=True)
        st.fail_node(node, a, n)
        if self.host is not None:
            self.host.node_down(node, self._t)
        self.heat.mark(node)
        self.failures.node_down(node, self._t)
        return True

    def _on_repair(self, node: int) -> None:
        hw = self.hw
        if node in self._unpowered:  # repaired, but its rack has no power: up with the feed
            self.failures.node_repaired()
            self._repair_done.add(node)
            return
        self.state.repair_node(node, int(hw.node_first[node]), int(hw.node_n[node]))
        self.heat.set_idle(node)
        self.failures.node_repaired()
        self._dirty.policy = True

    # =========================================================================================
    # settle: decide, then physics, then record
    # =========================================================================================
    def _settle(self) -> None:
        st, dirty, t = self.state, self._dirty, self._t
        host = self.host
        if host is not None:
            host.retry_if_freed(t)
        if self._epoch_due or (
            dirty.policy and st.n_pending and (st.n_free_gpus or self.policy.preemptive)
        ):
            self.dispatch.decide(self.view, t)
        dirty.policy = False
        self._epoch_due = False
        self._physics()
        in_loop = self._in_loop
        if in_loop is not None:
            effect = in_loop.at_settle(self.view)
            if effect is not None:
                self._apply_facility(effect)
        budget = self.budget
        if budget is not None:
            if budget.decide(t, step=self._step_due):
                self._physics()
            budget.measure()
            self._step_due = False
        n_pending = st.n_pending
        shapes = self.shapes
        self._frag = frag = bool(
            shapes.any_shaped
            and n_pending
            and st.n_free_gpus
            and shapes.fragmented(st.node_free, st.n_free_gpus)
        )
        mig = st.mig
        if mig is not None and not frag and n_pending and mig.free_slices:
            # a waiting MIG instance fits the unheld slices by count but nowhere by shape
            self._frag = mig.stranded(
                st.pending_buf[:n_pending],
                st.gpu_job,
                (st.pending_version, st.gpu_version),
            )
        self._settles += 1
        if self._settles % RESYNC_EVERY == 0:
            sl = self.slots
            n = sl.n
            self.book.resync((sl.held_gpus(np.arange(n)) @ sl.rate[:n, SHARES]).tolist())
            self.heat.resync()
        if self.timeline is not None:
            self.timeline.update(t, self.heat)
        self.recorder.record(t)
        self._changed = False
        if options.debug_checks:
            check_invariants(self.hw, st, self.slots, self.book)

    def _physics(self) -> None:
        """Node power, throttling and storage, each only if something it depends on changed."""
        st, heat, dirty = self.state, self.heat, self._dirty
        if heat.dirty_nodes:
            heat.refresh(self.recorder.n_rows, st.node_up, st.node_free)
        if dirty.thermal and self._thermal and self.slots.n:
            dirty.thermal = False
            self.throttle.check(self._t)
        if self.throttle.shutdown_nodes:
            self._thermal_shutdown()
        if dirty.io:
            if self.storage.active:
                self.storage.share(self.slots, self._t)
            dirty.io = False
        if heat.dirty_nodes:
            heat.refresh(self.recorder.n_rows, st.node_up, st.node_free)

    def _thermal_shutdown(self) -> None:
        """GPUs at their shutdown temperature turn off (NVML SHUTDOWN threshold).

        Their nodes go down like a failure (jobs back to their last checkpoint, restarted
        elsewhere) and stay down until the in-loop facility reports a repaired fault
        (``FacilityEffect.nodes_up``): the cause (failed fans, a CDU, a CRAH) must be fixed.
        """
        st, hw = self.state, self.hw
        for node in sorted(set(self.throttle.shutdown_nodes)):
            if not st.node_up[node]:
                continue
            a = int(hw.node_first[node])
            n = int(hw.node_n[node])
            for j in st.jobs_on(a, n).tolist():
                self.runner.stop(int(j), self._t, failure=True)
            st.fail_node(node, a, n)
            if self.host is not None:
                self.host.node_down(node, self._t)
            self.heat.mark(node)
            self._thermal_down.add(node)
            self.thermal_shutdowns += 1
        self.throttle.shutdown_nodes.clear()
        self._dirty.policy = True

    def _apply_facility(self, effect: FacilityEffect | None) -> None:
        """Apply what an in-loop facility changed, then redo the physics it affects."""
        if effect is None:
            return
        if effect.supply_temp_c is not None:
            self.heat.set_supply_temp(float(effect.supply_temp_c))
        if effect.rack_inlet_offset_k is not None:
            self.heat.set_inlet_offset(effect.rack_inlet_offset_k)
        if effect.liquid_supply_temp_c is not None:
            self.heat.set_liquid_supply_temp(float(effect.liquid_supply_temp_c))
        if effect.rack_r_scale is not None:
            self.heat.set_r_scale(np.asarray(effect.rack_r_scale, dtype=np.float64))
        if effect.units_failed is not None:
            failed = np.array(effect.units_failed, dtype=bool)
            failed.flags.writeable = False
            prev = self.heat.cooling_units_failed
            self.heat.cooling_units_failed = failed
            if prev is not None and not np.array_equal(prev, failed):
                self._dirty.policy = True  # a unit alarm: the policy hears of it at once
        if effect.nodes_down is not None:
            self._power_down(np.asarray(effect.nodes_down, dtype=np.int64))
        if effect.nodes_up is not None:
            self._power_up(np.asarray(effect.nodes_up, dtype=np.int64))
        if effect.site_it_limit_w is not None and self.budget is not None:
            self.budget.set_limit_w("site", float(effect.site_it_limit_w))
        if effect.nodes_braked is not None and self.budget is not None:
            self.budget.set_brake(np.asarray(effect.nodes_braked, dtype=np.int64))
        self._physics()

    def _power_down(self, nodes: IntArray) -> None:
        """Nodes lose power (a feed fault).

        Their jobs are lost back to the last checkpoint and queued again; the GPUs are down
        (``failure`` in the ledger) until the power returns.
        """
        st, hw = self.state, self.hw
        for node in nodes.tolist():
            if node in self._unpowered:
                continue
            self._unpowered.add(node)
            if not st.node_up[node]:
                self._unpowered_failed.add(node)  # a node failure: repaired, it waits for power
                continue
            a = int(hw.node_first[node])
            n = int(hw.node_n[node])
            victims = st.jobs_on(a, n)
            for j in victims.tolist():
                if st.job_state[j] == RUNNING:
                    self.runner.stop(int(j), self._t, failure=True)
            st.fail_node(node, a, n)
            if self.host is not None:
                self.host.node_down(node, self._t)
            self.heat.mark(node)
        self._dirty.policy = True

    def _power_up(self, nodes: IntArray) -> None:
        """Power is back: nodes come up with every GPU free (unless still being repaired)."""
        hw = self.hw
        for node in nodes.tolist():
            if node in self._thermal_down:  # its cause was repaired: it boots again
                self._thermal_down.discard(node)
                if node not in self._unpowered:
                    self.state.repair_node(node, int(hw.node_first[node]), int(hw.node_n[node]))
                    self.heat.set_idle(node)
                    continue
            if node not in self._unpowered:
                continue
            self._unpowered.discard(node)
            if node in self._unpowered_failed:
                self._unpowered_failed.discard(node)
                if node not in self._repair_done:
                    continue  # still being repaired: its REPAIR event brings it up
            self._repair_done.discard(node)
            self.state.repair_node(node, int(hw.node_first[node]), int(hw.node_n[node]))
            self.heat.set_idle(node)
        self._dirty.policy = True


def simulate(
    layout: ClusterLayout,
    jobs: JobTable,
    policy: Policy,
    *,
    settings: SimSettings | None = None,
    facility: FacilityModel | InLoopFacility | None = None,
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


def _pure_facility_power(
    facility: FacilityModel | InLoopFacility,
) -> Callable[[Any, Any, Any], tuple[Any, Any, Any]]:
    """The facility's power model as a function of (IT power, time, supply), for policies.

    Only the pure after-the-run pricing (``power_w``) is exposed, never the facility object.
    """
    power_w = facility.power_w

    def query(it_power_w: Any, time_s: Any, supply_temp_c: Any) -> tuple[Any, Any, Any]:
        out = power_w(it_power_w, time_s, supply_temp_c)
        return out.cooling_w, out.loss_w, out.misc_w

    return query
