"""Scheduling layers (queue order, starts, preemptions): fifo, easy-backfill, tiresias-las.

* ``fifo``: strict first-in-first-out with blocking: jobs start in arrival order while they
  fit; the first job that does not fit blocks everyone behind it ("static" scheduling).
* ``easy-backfill``: EASY backfilling (Lifka 1995; Slurm's ``sched/backfill``): FIFO, and when
  the head job does not fit it gets a reservation at the earliest time enough GPUs free up
  (the *shadow time*, from the running jobs' expected ends); later jobs may start now if they fit
  and either end before the shadow time or use only GPUs the head job will not need. Run-time
  estimates are the trace durations times ``estimate_factor`` (1 = perfect estimates).
* ``tiresias-las``: Tiresias' discretized two-dimensional least-attained-service (Gu et al.,
  NSDI 2019). Attained service = GPUs × time held. Jobs sit in queues by attained service
  (thresholds ``queue_limits_gpu_s``); higher queues first, FIFO by arrival within a queue;
  a job runs if enough GPUs remain, and running jobs not chosen are preempted (they pay a
  checkpoint save and restore). A waiting job in a lower queue whose waiting time reaches
  ``starvation_knob`` × its run time so far is promoted back to the top queue. The policy asks
  to be woken when a running job crosses its queue's limit while others wait.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kiban.errors import PolicyError
from kiban.policies.base import Schedule
from kiban.policies.registry import register_policy
from kiban.vocabulary import GPU_SHARED

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kiban._typing import FloatArray, IntArray
    from kiban.policies.base import Allocator, PolicyContext
    from kiban.sim.state import ClusterView

__all__ = ["EasyBackfill", "Fifo", "TiresiasLas", "needed_preemptions"]

_EMPTY = Schedule()


@register_policy("scheduling", "fifo")
class Fifo:
    """Strict FIFO with head-of-line blocking (see the module docstring)."""

    preemptive = False

    def reset(self, ctx: PolicyContext) -> None:
        """Nothing to prepare."""

    def schedule(self, view: ClusterView, pending: IntArray, alloc: Allocator) -> Schedule:
        """Start jobs in arrival order until one does not fit."""
        start: dict[int, IntArray] = {}
        for pos in range(pending.shape[0]):  # no tolist(): the queue may be long, we stop early
            j = int(pending[pos])
            gpus = alloc.try_place(j)
            if gpus is None:
                break
            start[j] = gpus
        return Schedule(start=start) if start else _EMPTY


@register_policy("scheduling", "easy-backfill")
class EasyBackfill:
    """EASY backfilling with one reservation for the head of the queue."""

    preemptive = False

    @dataclass(frozen=True)
    class Params:
        """Parameters.

        Attributes:
            estimate_factor: User run-time estimate = remaining duration × this (≥ 1 means
                over-estimates, as users' time limits usually are).
        """

        estimate_factor: float = 1.0

        def __post_init__(self) -> None:
            if not self.estimate_factor >= 1.0:
                msg = f"estimate_factor = {self.estimate_factor}: must be ≥ 1"
                raise ValueError(msg)

    def __init__(self, params: Params | None = None) -> None:
        self.params = params if params is not None else self.Params()

    def reset(self, ctx: PolicyContext) -> None:
        """Nothing to prepare."""

    def _estimate_s(self, view: ClusterView, jobs: IntArray) -> FloatArray:
        left = view.jobs.duration_s[jobs] - view.job_progress_s[jobs]
        return np.maximum(left, 0.0) * self.params.estimate_factor

    def schedule(self, view: ClusterView, pending: IntArray, alloc: Allocator) -> Schedule:
        """FIFO starts, then one reservation and backfill (see the module docstring)."""
        start: dict[int, IntArray] = {}
        n_pending = pending.shape[0]
        head_pos = -1
        for pos in range(n_pending):
            j = int(pending[pos])
            gpus = alloc.try_place(j)
            if gpus is None:
                head_pos = pos
                break
            start[j] = gpus
        if head_pos < 0 or alloc.n_free == 0 or head_pos == n_pending - 1:
            return Schedule(start=start) if start else _EMPTY
        now = view.time_s
        head = int(pending[head_pos])
        need = int(view.jobs.num_gpus[head])
        # shadow time: when the running (and just started) jobs free enough GPUs for the head
        started = np.fromiter(start, dtype=np.int64, count=len(start))
        ends = np.concatenate(
            (
                np.asarray(view.running_expected_end_s()),
                now + self._estimate_s(view, started) / 1.0,
            )
        )
        sizes = np.concatenate((np.asarray(view.running_num_gpus()), view.jobs.num_gpus[started]))
        order_end = np.argsort(ends, kind="stable")
        avail = alloc.n_free + np.cumsum(sizes[order_end])
        k = int(np.searchsorted(avail, need))
        if k < avail.shape[0]:
            shadow = float(ends[order_end[k]])
            extra = int(avail[k]) - need
        else:
            shadow = float("inf")
            extra = int(avail[-1]) - need if avail.shape[0] else alloc.n_free - need
        rest = np.asarray(pending[head_pos + 1 :], dtype=np.int64)
        size = view.jobs.num_gpus[rest]
        before = now + self._estimate_s(view, rest) <= shadow
        ok = np.flatnonzero((size <= alloc.n_free) & (before | (size <= max(extra, 0))))
        sizes = size[ok].tolist()
        befores = before[ok].tolist()
        for c, pos in enumerate(ok.tolist()):
            n = sizes[c]
            if n > alloc.n_free:
                continue
            before_shadow = befores[c]
            if not before_shadow and n > extra:
                continue
            j = int(rest[pos])
            gpus = alloc.try_place(j)
            if gpus is None:
                continue
            start[j] = gpus
            if not before_shadow:
                extra -= n
            if alloc.n_free == 0:
                break
        return Schedule(start=start) if start else _EMPTY


@register_policy("scheduling", "tiresias-las")
class TiresiasLas:
    """Discretized 2D-LAS with preemption and starvation promotion (Tiresias)."""

    preemptive = True

    @dataclass(frozen=True)
    class Params:
        """Parameters.

        Attributes:
            queue_limits_gpu_s: Attained-service thresholds between queues (GPU·s), ascending;
                Tiresias' code uses limits such as 3,600 and 18,000 GPU·s.
            starvation_knob: Promote a waiting job to the top queue when its waiting time
                reaches this multiple of its run time so far (0 disables promotion).
            promote_check_s: Starvation is checked at decisions at most this often (s), like
                Tiresias' once-per-scheduling-round check.
            queue_order: Order inside a queue. ``"running-first"`` (default): running jobs
                before waiting ones, each by arrival, so a waiting job never preempts a running
                job of its own queue; this is Tiresias' artifact (``dlas_sim_jobs`` moves the
                waiting jobs behind the running ones after every pass: SymbioticLab/Tiresias
                ``simulator/run_sim.py``) and its paper's FIFO-by-start-time order within a
                queue. ``"arrival"``: by arrival only (kiban before session 7: an earlier job
                that was skipped preempts a later one of the same queue that was skip-filled).
        """

        queue_limits_gpu_s: tuple[float, ...] = (3600.0, 18000.0)
        starvation_knob: float = 8.0
        promote_check_s: float = 60.0
        queue_order: str = "running-first"

        def __post_init__(self) -> None:
            limits = tuple(float(x) for x in self.queue_limits_gpu_s)
            if not limits or any(b <= a for a, b in itertools.pairwise(limits)):
                msg = f"queue_limits_gpu_s = {self.queue_limits_gpu_s}: need ascending values"
                raise ValueError(msg)
            if any(x <= 0 for x in limits):
                msg = f"queue_limits_gpu_s = {self.queue_limits_gpu_s}: values must be > 0"
                raise ValueError(msg)
            object.__setattr__(self, "queue_limits_gpu_s", limits)
            if self.starvation_knob < 0:
                msg = f"starvation_knob = {self.starvation_knob}: must be ≥ 0"
                raise ValueError(msg)
            if self.promote_check_s < 0:
                msg = f"promote_check_s = {self.promote_check_s}: must be ≥ 0"
                raise ValueError(msg)
            if self.queue_order not in ("running-first", "arrival"):
                msg = f"queue_order = {self.queue_order!r}: allowed 'running-first', 'arrival'"
                raise ValueError(msg)

    def __init__(self, params: Params | None = None) -> None:
        self.params = params if params is not None else self.Params()
        self._limits = np.asarray(self.params.queue_limits_gpu_s, dtype=np.float64)
        self._limits_ext = np.append(self._limits, math.inf)  # upper limit of each queue
        self._limits_list: list[float] = self._limits.tolist()
        self._offset_gpu_s: FloatArray = np.zeros(0)
        self._next_check_s = -math.inf
        self._running_first = self.params.queue_order == "running-first"

    def reset(self, ctx: PolicyContext) -> None:
        """Forget promotions of an earlier run."""
        self._offset_gpu_s = np.zeros(ctx.jobs.n_jobs)
        self._next_check_s = -math.inf

    def _queue_of(self, service: FloatArray) -> IntArray:
        """Queue index of each attained service: the number of limits at or below it."""
        limits = self._limits_list
        q = (service >= limits[0]).astype(np.int64)
        for limit in limits[1:]:
            q += service >= limit
        return q

    def schedule(self, view: ClusterView, pending: IntArray, alloc: Allocator) -> Schedule:
        """Choose the jobs to run by (queue, arrival); preempt the others; place new ones.

        Three paths give the same result as the full sort: every waiting job fits in the free
        GPUs (start them all, preempt nothing); no waiting job fits in the free GPUs and every
        waiting job comes after every running job in (queue, arrival) order (change nothing);
        otherwise the full greedy pass over all running and waiting jobs.
        """
        if self._offset_gpu_s.shape[0] != view.jobs.n_jobs:
            msg = "tiresias-las: reset() was not called before schedule()"
            raise PolicyError(msg)
        now = view.time_s
        n_jobs = view.jobs.n_jobs
        size_p = view.jobs.num_gpus[pending]
        svc_p = view.job_attained_booked_gpu_s[pending] - self._offset_gpu_s[pending]
        q_p = self._queue_of(svc_p)
        if now >= self._next_check_s:
            self._promote(view, pending, svc_p, q_p, now)
            self._next_check_s = now + self.params.promote_check_s
        n_free = alloc.n_free
        if int(size_p.sum()) <= n_free:
            # Everyone fits by count: LAS order chooses every job and preempts none.
            start: dict[int, IntArray] = {}
            for pos in range(pending.shape[0]):
                j = int(pending[pos])
                gpus = alloc.try_place(j)
                if gpus is not None:
                    start[j] = gpus
            if len(start) == pending.shape[0]:
                return Schedule(start=start)
            held = np.concatenate(
                (np.asarray(view.running_jobs()), np.fromiter(start, np.int64, len(start)))
            )
            return Schedule(start=start, wake_at_s=self._wake_s(view, held, now))
        running = np.asarray(view.running_jobs())
        svc_r = view.running_attained_gpu_s() - self._offset_gpu_s[running]
        q_r = self._queue_of(svc_r)
        key_r, key_p = self._order_keys(
            running, pending, svc_r=svc_r, q_r=q_r, svc_p=svc_p, q_p=q_p, n_jobs=n_jobs
        )
        if int(size_p.min()) > n_free and running.shape[0] and int(key_p.min()) > int(key_r.max()):
            cross = now + (self._limits_ext[q_r] - svc_r) / view.running_num_gpus()
            return Schedule(wake_at_s=self._relevant_wake(key_r, cross, key_p, n_jobs, now))
        jobs = np.concatenate((running, pending))
        n_run = running.shape[0]
        size_all = np.concatenate((view.running_num_gpus(), size_p))
        service = np.concatenate((svc_r, svc_p))
        queue = np.concatenate((q_r, q_p))
        keys = np.concatenate((key_r, key_p))
        order = np.argsort(keys, kind="stable")
        size = size_all[order]
        budget = view.layout.n_gpus - view.down_gpus  # GPUs on up nodes
        chosen = np.zeros(jobs.shape[0], dtype=bool)
        cum = np.cumsum(size)
        k = int(np.searchsorted(cum, budget, side="right"))
        chosen[:k] = True
        remaining = budget - (int(cum[k - 1]) if k else 0)
        if remaining > 0 and k < jobs.shape[0]:
            # skip-fill: later jobs that still fit (only those no larger than what is left)
            cand = np.flatnonzero(size[k:] <= remaining) + k
            for c in range(cand.shape[0]):
                pos = int(cand[c])
                n = int(size[pos])
                if n <= remaining:
                    chosen[pos] = True
                    remaining -= n
                    if remaining == 0:
                        break
        sel = np.zeros(jobs.shape[0], dtype=bool)
        picked = order[chosen]
        sel[picked] = True
        out = np.flatnonzero(~sel[:n_run])
        for j in running[out].tolist():
            alloc.release(j)
        start = {}
        to_start = picked[picked >= n_run]
        for p in to_start.tolist():
            j = int(jobs[p])
            gpus = alloc.try_place(j)
            if gpus is not None:
                start[j] = gpus
            else:
                sel[p] = False  # chosen but not placeable: stays waiting
        # a preemption stands only if a start takes its GPUs; the others keep running (Tiresias
        # preempts a job to run a higher-priority one, never to leave its GPUs idle)
        preempt = needed_preemptions(view, frozenset(running[out].tolist()), start)
        if len(preempt) < out.shape[0]:
            kept = np.fromiter(preempt, np.int64, len(preempt))
            sel[out[~np.isin(running[out], kept)]] = True
        still_waiting = pending.shape[0] - len(start) + len(preempt) > 0
        wake = None
        if still_waiting:
            cross = now + (self._limits_ext[queue] - service) / size_all
            wake = self._relevant_wake(keys[sel], cross[sel], keys[~sel], n_jobs, now)
        return Schedule(
            start=start,
            preempt=preempt,
            wake_at_s=wake if still_waiting else None,
        )

    def _order_keys(
        self,
        running: IntArray,
        pending: IntArray,
        *,
        svc_r: FloatArray,
        q_r: IntArray,
        svc_p: FloatArray,
        q_p: IntArray,
        n_jobs: int,
    ) -> tuple[IntArray, IntArray]:
        """Priority keys of the running and the waiting jobs (lower runs first).

        2D-LAS with ``queue_order = "running-first"``: queue, then running before waiting, then
        arrival (job index): ``q·2N + j`` running, ``q·2N + N + j`` waiting. With ``"arrival"``:
        ``q·N + j`` for both. A running job that crosses its queue's limit moves up one queue
        step, ``2N`` (``N``) (:meth:`_relevant_wake` relies on it).
        """
        del svc_r, svc_p
        if self._running_first:
            step = 2 * n_jobs
            return q_r * step + running, q_p * step + n_jobs + pending
        return q_r * n_jobs + running, q_p * n_jobs + pending

    def _promote(
        self,
        view: ClusterView,
        pending: IntArray,
        service: FloatArray,
        queue: IntArray,
        now: float,
    ) -> None:
        """Starvation: promote waiting jobs that waited knob × their run time to the top queue.

        Their service counter restarts; ``service`` and ``queue`` are updated in place.
        """
        knob = self.params.starvation_knob
        if knob <= 0 or pending.shape[0] == 0:
            return
        lower = np.flatnonzero(queue > 0)
        if lower.shape[0] == 0:
            return
        cand = pending[lower]
        run_s = view.job_run_booked_s[cand]
        wait_s = now - view.job_pending_since_s[cand]
        promote = (run_s > 0) & (wait_s >= knob * run_s)
        if promote.any():
            hit = lower[promote]
            self._offset_gpu_s[pending[hit]] += service[hit]
            service[hit] = 0.0
            queue[hit] = 0

    def _relevant_wake(
        self,
        key_held: IntArray,
        cross_held: FloatArray,
        key_waiting: IntArray,
        n_jobs: int,
        now: float,
    ) -> float | None:
        """Earliest crossing that can change the decision.

        A held job's key moves up one queue step (:meth:`_order_keys`) when it crosses its
        queue's limit. The greedy pass can only change if a waiting job lies between the two keys
        (it overtakes the held job); crossings with no waiting job in between are skipped. Held
        jobs are keyed as running (a job this decision starts runs at the next one). Arrivals,
        completions and failures call the policy anyway.
        """
        if key_held.shape[0] == 0 or key_waiting.shape[0] == 0:
            return None
        step = n_jobs
        if self._running_first:
            step = 2 * n_jobs
            key_held = (key_held // step) * step + key_held % n_jobs
        kw = np.sort(key_waiting)
        lo = np.searchsorted(kw, key_held, side="right")
        hi = np.searchsorted(kw, key_held + step, side="left")
        relevant = hi > lo
        if not relevant.any():
            return None
        t = float(cross_held[relevant].min())
        return max(t, now + 1e-6) if math.isfinite(t) else None

    def _wake_s(self, view: ClusterView, held: IntArray, now: float) -> float | None:
        service = view.attained_gpu_s(held) - self._offset_gpu_s[held]
        queue = self._queue_of(service)
        return self._crossing_s(view, held, service, queue, now)

    def _crossing_s(
        self, view: ClusterView, held: IntArray, service: FloatArray, queue: IntArray, now: float
    ) -> float | None:
        """Earliest time one of the ``held`` jobs crosses its queue's upper limit."""
        below = queue < self._limits.shape[0]
        if not below.any():
            return None
        limit = self._limits[queue[below]]
        gpus = view.jobs.num_gpus[held[below]].astype(np.float64)
        t = now + (limit - service[below]) / gpus
        return float(max(t.min(), now + 1e-6))


def needed_preemptions(
    view: ClusterView, preempt: frozenset[int], start: Mapping[int, IntArray]
) -> frozenset[int]:
    """The preemptions that free GPUs a start uses; the others are dropped.

    2D-LAS chooses the jobs to run by GPU count, preempts the rest, then places the chosen
    ones; with node locality a chosen job often fits nowhere even on the released GPUs, and
    the preempted job's GPUs then sit idle while it pays a checkpoint and a restore (on the
    demo month 78 % of J-DEC's preemptions were such, and 2D-LAS alone preempted the same
    way). A preempted job whose GPUs no start takes keeps running: the starts' GPUs do not
    overlap its own, so the decision stays valid. Shared by ``tiresias-las`` (and the layers
    built on it) and J-DEC's between-epoch decisions.
    """
    if not preempt:
        return preempt
    if not start:
        return frozenset()
    used = np.concatenate([np.asarray(g, dtype=np.int64) for g in start.values()])
    holders = np.asarray(view.gpu_job)[used]  # running jobs on the GPUs the starts take
    keep = {int(j) for j in np.unique(holders[holders >= 0]).tolist() if j in preempt}
    if (holders == GPU_SHARED).any():  # jobs sharing a GPU: look at each one's GPUs
        taken = np.zeros(view.layout.n_gpus, dtype=bool)
        taken[used] = True
        for j in sorted(preempt - keep):
            gpus = view.job_gpus(int(j))
            if gpus is not None and taken[np.asarray(gpus, dtype=np.int64)].any():
                keep.add(int(j))
    return frozenset(keep)
