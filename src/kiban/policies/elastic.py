"""Elastic GPU counts: Sia's goodput ILP (Jayaram Subramanya et al., SOSP 2023).

Every round (Sia's 60 s) the scheduling layer ``sia`` re-decides, for every running job and
the waiting jobs of its window, one *configuration* — a GPU count — or none, by an integer
program over binaries ``x[j, c]`` (``siasosp23/artifacts`` ``sia-simulator/sia.py``,
``__solve_mip_rescaled``)::

    minimize   Σ_j Σ_c w_j · A[j, c] · x[j, c]  +  λ_n · (J − Σ_{j,c} x[j, c])
               − λ_a · Σ_{running j} x[j, current c]
    subject to Σ_c x[j, c] ≤ 1 (each job)          Σ_{j,c} gpus(c) · x[j, c] ≤ GPUs
    with       A[j, c] = min(round(G[j, c]^p, 2), 3000),  p = −0.5,  λ_n = 1.1,  w_j = 1

(p < 0, so Sia minimizes; an allocated job costs at most 1 = the goodput of its smallest
configuration, a job left out costs λ_n = 1.1). ``G[j, c]`` is the job's goodput at ``c``
normalized so its smallest valid configuration is 1: for an elastic job with a goodput
profile, Pollux's model (:mod:`kiban.workload.goodput`); for an elastic job without one,
``c / c_min``; for a rigid job its GPU count (Sia's rigid-job convention), with one
configuration (start or wait). A running job's other configurations are scaled by Pollux's
re-allocation factor ``max(age − restarts·penalty, 0)/(age + penalty)`` (1 while ``age <
penalty``), the penalty being exactly what the twin charges for a preemption: twice the
checkpoint write plus Sia's measured restart time of the job's model
(:func:`kiban.workload.goodput.restart_penalty_s`). Configurations are Sia's: 1, 2, 4, …, one
node, then whole nodes (2, 3, … × node size), within the job's ``[min_num_gpus,
max_num_gpus]``.

The ILP is solved by HiGHS (highspy) with a time limit, Sia's 1e-4 relative gap, one thread and a
fixed seed (deterministic). Before HiGHS runs, an exact dynamic program over the GPUs
(:func:`mckp_certified`: the best and the second-best choice of the multiple-choice knapsack)
answers the rounds whose optimum is unique by more than HiGHS's stopping gap: HiGHS must then
return that same choice, so the answer is HiGHS's without the solve (84 % of the rounds of a
power-tight day, 15× cheaper each); the others go to HiGHS. Placement follows Sia's greedy: jobs
whose count is unchanged keep their GPUs; the others are stopped (checkpoint and restore: the
twin's preemption) and placed largest first, elastic ones by best fit on as few nodes as possible,
rigid ones through the placement layer; an elastic job that does not fit takes its next smaller
configuration. Jobs the ILP does not see (GPU shares, host requests, a named GPU model, beyond the
window) are started afterwards in arrival order where they fit. Between rounds nothing changes: a
new job waits for the next round (at most ``round_s``), as in Sia.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from kiban.policies.base import Schedule
from kiban.policies.layered import LayeredPolicy
from kiban.policies.placement import BestFit
from kiban.policies.registry import register_policy
from kiban.workload.goodput import GOODPUT_PROFILES, goodput, restart_penalty_s, speedup

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kiban._typing import BoolArray, FloatArray, IntArray
    from kiban.policies.base import Allocator, PolicyContext
    from kiban.sim.state import ClusterView

__all__ = [
    "SiaElastic",
    "SiaPolicy",
    "SiaStats",
    "gpu_options",
    "job_gpu_options",
    "mckp_certified",
    "place_at_counts",
    "sia_configs",
    "sia_ilp",
    "speed_at",
    "stage_a_gpu_options",
    "take_count",
]

GOODPUT_CLIP = 3000.0
"""Sia's cap on G^p (``sia_goodput_clip_val``)."""
ZERO_ALLOC_GAIN = 1e-4
"""Sia's floor on a normalized goodput (``ZERO_ALLOC_GAIN``)."""
TIE_BREAK = 1e-9
"""Cost added per job index (arrival rank): prefers the earlier job where Sia's costs tie (Sia
leaves ties to the solver), far below the costs' 0.01 rounding; best effort, as HiGHS stops at
the relative gap."""


def sia_configs(node_gpus: int, total_gpus: int) -> list[int]:
    """Sia's GPU counts for one GPU type: 1, 2, 4, … up to a node, then whole nodes."""
    out = []
    k = 1
    while k < node_gpus:
        out.append(k)
        k *= 2
    out += list(range(node_gpus, max(total_gpus, node_gpus) + 1, node_gpus))
    return [c for c in out if c <= total_gpus]


def gpu_options(jobs: object, j: int, node_gpus: int, total_gpus: int) -> list[int]:
    """The GPU counts job ``j`` may run at: Sia's configurations in its range (rigid: one).

    Used by ``sia`` and by J-DEC's stage A for its job options.

    Args:
        jobs: The job table (``num_gpus``, ``min_num_gpus``, ``max_num_gpus``).
        j: Job index.
        node_gpus: GPUs per node.
        total_gpus: GPUs of the cluster.

    Returns:
        Ascending GPU counts (the requested count alone for a rigid job).
    """
    n = int(jobs.num_gpus[j])  # type: ignore[attr-defined]
    lo = int(jobs.min_num_gpus[j])  # type: ignore[attr-defined]
    hi = int(jobs.max_num_gpus[j])  # type: ignore[attr-defined]
    if lo >= hi:
        return [n]
    opts = [c for c in sia_configs(node_gpus, total_gpus) if lo <= c <= hi]
    return opts or [n]


def speed_at(jobs: object, j: int, gpus: list[int], node_gpus: int) -> FloatArray:
    """Job ``j``'s progress rate on each GPU count, relative to its requested count.

    Pollux's goodput ratio for an elastic job with a profile (packed on as few nodes as
    possible), ``k / num_gpus`` otherwise: the twin's own rule
    (``kiban.sim.tables.JobTables.scale_frac``).
    """
    n = int(jobs.num_gpus[j])  # type: ignore[attr-defined]
    k = np.asarray(gpus, dtype=np.float64)
    model = str(jobs.goodput_model[j])  # type: ignore[attr-defined]
    if not model:
        return k / n
    return speedup(GOODPUT_PROFILES[model], k, n, gpus_per_node=node_gpus)


def stage_a_gpu_options(
    jobs: object, j: int, *, free_gpus: int, node_gpus: int, total_gpus: int
) -> tuple[list[int], FloatArray]:
    """The GPU counts J-DEC's stage A may start job ``j`` at, with its speed at each.

    Sia's configurations within the job's range that fit the free GPUs (a rigid job, or one
    whose configurations do not fit: its requested count alone), and the progress rate at each
    relative to the requested count (:func:`speed_at`).
    """
    opts = [c for c in gpu_options(jobs, j, node_gpus, total_gpus) if c <= free_gpus]
    if not opts or int(jobs.min_num_gpus[j]) >= int(jobs.max_num_gpus[j]):  # type: ignore[attr-defined]
        opts = [int(jobs.num_gpus[j])]  # type: ignore[attr-defined]
    return opts, speed_at(jobs, j, opts, node_gpus)


def job_gpu_options(
    view: ClusterView,
    j: int,
    *,
    running: bool,
    held: int,
    elastic: bool = True,
    resize: bool = False,
) -> tuple[list[int], FloatArray]:
    """J-DEC's GPU-count options for job ``j`` and the useful GPU-equivalents of each.

    A waiting elastic job may take any of Sia's counts that fit the free GPUs
    (:func:`stage_a_gpu_options`). A running job keeps its count, or with ``resize`` (an
    elastic job) may also take any of Sia's counts in its range up to the GPUs it holds plus
    the free ones (:func:`resize_counts`). The work of an option is the requested GPUs × the
    job's speed at that count (for a rigid job: its GPUs).

    Args:
        view: The cluster view.
        j: Job index.
        running: Whether the job runs now.
        held: GPUs it holds (running) or requests (waiting).
        elastic: False: the requested (running: the held) count only.
        resize: A running elastic job may change its count.

    Returns:
        (GPU counts, useful GPU-equivalents per count).
    """
    jobs = view.jobs
    n = int(jobs.num_gpus[j])
    node = int(view.layout.max_node_gpus)
    if running and elastic and resize:
        counts = resize_counts(view, j, held)
        return counts, n * speed_at(jobs, j, counts, node)
    if running or not elastic:
        return [held], n * speed_at(jobs, j, [held], node)
    counts, speed = stage_a_gpu_options(
        jobs, j, free_gpus=view.free_gpus, node_gpus=node, total_gpus=view.layout.n_gpus
    )
    return counts, n * speed


def resize_counts(view: ClusterView, j: int, held: int) -> list[int]:
    """The GPU counts running job ``j`` (holding ``held``) may be resized to, ascending.

    Sia's configurations in the job's range up to ``held`` + the free GPUs, and ``held`` itself
    (kept whether or not it is one of them); ``[held]`` alone for a rigid job. A job that holds
    whole nodes' worth of GPUs moves by whole nodes only: a shrink to part of a node would free
    part-nodes that whole-node jobs cannot use (on the LLM-heavy hall, where every rigid job
    takes whole nodes, such shrinks left GPUs idle behind a queue: docs/cooptimizer.md,
    session 9).
    """
    jobs = view.jobs
    if int(jobs.min_num_gpus[j]) >= int(jobs.max_num_gpus[j]):
        return [held]
    room = held + int(view.free_gpus)
    node = int(view.layout.max_node_gpus)
    opts = {c for c in gpu_options(jobs, j, node, view.layout.n_gpus) if c <= room}
    if held >= node and held % node == 0:
        opts = {c for c in opts if c % node == 0}
    opts.add(held)
    return sorted(opts)


def resize_penalty_s(ctx: PolicyContext) -> FloatArray:
    """Per job, what the twin charges for a stop and restart (s of lost progress).

    Twice the checkpoint write plus Sia's measured restart time of the job's model
    (:func:`kiban.workload.goodput.restart_penalty_s`); 0 for a job without a goodput model
    beyond its checkpoint writes. ``sia`` and J-DEC price a resize with it.
    """
    jobs = ctx.jobs
    sia = np.array([restart_penalty_s(m) if m else 0.0 for m in jobs.goodput_model.tolist()])
    return 2.0 * np.asarray(ctx.checkpoint_write_s, dtype=np.float64) + sia


def reallocation_factor(age_s: float, restarts: int, penalty_s: float) -> float:
    """Pollux's re-allocation factor ``max(age − restarts·penalty, 0)/(age + penalty)``.

    The share of a new configuration's goodput a running job keeps once the restart's lost
    time is amortized over a horizon as long as its age (Pollux §4.1; Sia's ``sia.py``).
    """
    return max(age_s - restarts * penalty_s, 0.0) / max(age_s + penalty_s, 1e-9)


def resize_running(
    view: ClusterView, alloc: Allocator, placement: object, j: int, c: int
) -> IntArray | None:
    """Move running job ``j`` to ``c`` GPUs in ``alloc`` (its GPUs released, ``c`` taken).

    Through ``placement.place_count`` (else best fit), as the elastic layer places a resized
    job. When no ``c`` GPUs are found the job takes its own GPUs back (nothing changes in
    ``alloc``) and None is returned.
    """
    old = view.job_gpus(j)
    if old is None:
        return None
    alloc.release(j)
    place = placement if hasattr(placement, "place_count") else BestFit()
    gpus = take_count(view, alloc, place, j, c)
    if gpus is None:
        take_gpus(view, alloc, j, np.asarray(old, dtype=np.int64))
        alloc.free.taken.pop(j, None)
    return gpus


def place_at_counts(
    view: ClusterView,
    alloc: Allocator,
    placement: object,
    pending: IntArray,
    counts: Mapping[int, int],
) -> dict[int, IntArray]:
    """Place the waiting jobs of ``counts`` at their GPU count, in ``pending``'s order.

    Through the placement layer's ``place_count`` (node placements have it; others fall back to
    best fit). Jobs that do not fit are left out (they wait).
    """
    out: dict[int, IntArray] = {}
    if not counts:
        return out
    place = placement if hasattr(placement, "place_count") else BestFit()
    for j in pending.tolist():
        c = counts.get(int(j))
        if c is None:
            continue
        gpus = take_count(view, alloc, place, int(j), int(c))
        if gpus is not None:
            out[int(j)] = gpus
    return out


def take_count(
    view: ClusterView, alloc: Allocator, placement: object, j: int, c: int
) -> IntArray | None:
    """``c`` GPUs for job ``j`` through ``placement.place_count``; marked taken in ``alloc``."""
    free = alloc.free
    gpus = placement.place_count(view, j, free, c)  # type: ignore[attr-defined]
    if gpus is None:
        return None
    return take_gpus(view, alloc, j, np.asarray(gpus, dtype=np.int64))


def take_gpus(view: ClusterView, alloc: Allocator, j: int, gpus: IntArray) -> IntArray:
    """Mark ``gpus`` taken by job ``j`` in ``alloc`` (GPU counts and rack allocations)."""
    free = alloc.free
    free.take(view, j, gpus)
    lay = view.layout
    if lay.has_rack_budgets:
        cap = float(view.job_power_cap_w[j])
        tdp = np.array([s.tdp_w for s in lay.skus])[lay.node_sku_idx[lay.gpu_node[gpus]]]
        per = tdp if math.isnan(cap) else np.full(gpus.shape[0], cap)
        np.add.at(free.rack_gpu_alloc_w, lay.node_rack_idx[lay.gpu_node[gpus]], per)
    free.taken[j] = gpus
    return gpus


@dataclass
class SiaStats:
    """What ``sia`` measured over a run.

    Attributes:
        rounds: Rounds solved.
        solve_s: Wall time of each round's ILP (s).
        status: HiGHS status per round (0 optimal, 1 limit reached with an incumbent, 2 no
            incumbent, -3 the model equals the last round's and its answer was reused).
        reused: Rounds whose model equalled the previous round's (no solve).
        certified: Rounds answered by :func:`mckp_certified` (HiGHS's answer, no solve).
        resized: Running jobs stopped to change their GPU count (restarts charged).
        dropped: Chosen configurations that placement could not realize.
        room_limited: Rounds whose GPUs were limited to what the room can cool (a cooling
            unit down or an inlet above the redline; :meth:`SiaElastic._room_gpus`).
    """

    rounds: int = 0
    solve_s: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)
    reused: int = 0
    certified: int = 0
    resized: int = 0
    dropped: int = 0
    room_limited: int = 0


@register_policy("scheduling", "sia")
class SiaElastic:
    """Sia's round-based goodput ILP over GPU counts (see the module docstring)."""

    preemptive = True

    @dataclass(frozen=True)
    class Params:
        """Parameters (defaults: Sia's ``simulator_config.py``).

        Attributes:
            round_s: Scheduling round (s; Sia and Pollux: 60).
            p: Power of the goodput transform (Sia: −0.5).
            lambda_n: Cost of leaving a job without GPUs (Sia: 1.1; must exceed 1).
            lambda_a: Cost of changing a running job's allocation, to another count or to
                none (Sia's ``sia_default_lambda_a`` = 0.01; defined in its configuration,
                not used by its published objective; 0 reproduces that objective exactly).
            window: Most waiting jobs in one ILP (arrival order; the running ones always).
            time_limit_s: HiGHS time limit per round (s).
            mip_rel_gap: Relative optimality gap (Sia: 1e-4).
        """

        round_s: float = 60.0
        p: float = -0.5
        lambda_n: float = 1.1
        lambda_a: float = 0.01
        window: int = 200
        time_limit_s: float = 5.0
        mip_rel_gap: float = 1e-4

        def __post_init__(self) -> None:
            checks = (
                ("round_s", self.round_s > 0, "must be > 0 s"),
                ("p", self.p < 0, "must be < 0 (Sia minimizes Σ G^p)"),
                ("lambda_n", self.lambda_n > 1.0, "must be > 1 (above an allocated job's cost)"),
                ("lambda_a", self.lambda_a >= 0, "must be ≥ 0"),
                ("window", self.window >= 1, "must be ≥ 1"),
                ("time_limit_s", self.time_limit_s > 0, "must be > 0 s"),
                ("mip_rel_gap", 0 <= self.mip_rel_gap < 1, "must lie in [0, 1)"),
            )
            for name, ok, allowed in checks:
                if not ok:
                    msg = f"{name} = {getattr(self, name)!r}: {allowed}"
                    raise ValueError(msg)

    def __init__(self, params: Params | None = None) -> None:
        self.params = params if params is not None else self.Params()
        self.stats = SiaStats()
        self._next_round_s = 0.0
        self._restarts: dict[int, int] = {}
        self._penalty_s: FloatArray = np.zeros(0)
        self._node_gpus = 8
        self._place = BestFit()
        self._g_memo: dict[tuple[int, tuple[int, ...]], FloatArray] = {}
        self._last_key: tuple[object, ...] | None = None
        self._last_x: BoolArray | None = None
        self._held_place: _HeldPlacement | None = None

    def reset(self, ctx: PolicyContext) -> None:
        """Per-job restart penalties (the twin's preemption cost) and the node size."""
        self._penalty_s = resize_penalty_s(ctx)
        self._node_gpus = int(ctx.layout.max_node_gpus)
        self._next_round_s = 0.0
        self._restarts = {}
        self.stats = SiaStats()
        self._g_memo = {}
        self._last_key, self._last_x = None, None
        self._held_place = None
        self._place.reset(ctx)

    # --- the round ----------------------------------------------------------------------------
    def schedule(self, view: ClusterView, pending: IntArray, alloc: Allocator) -> Schedule:
        """At a round: solve the ILP and realize it; between rounds: wait for the next one."""
        t = view.time_s
        busy = view.n_running > 0 or pending.shape[0] > 0
        if t < self._next_round_s - 1e-9:
            return Schedule(wake_at_s=self._next_round_s if busy else None)
        self._next_round_s = t + self.params.round_s
        if not busy:
            return Schedule()
        jobs = view.jobs
        special = view.special_jobs
        running = view.running_jobs()
        held = view.running_num_gpus()
        cur: dict[int, int] = {}
        for j, k in zip(running.tolist(), held.tolist(), strict=True):
            if self._in_ilp(jobs, special, j):
                cur[j] = k
        capacity = view.free_gpus + sum(cur.values())
        waiting = [j for j in pending.tolist() if self._in_ilp(jobs, special, j)]
        waiting = waiting[: self.params.window]
        room = self._room_gpus(view, alloc, waiting)
        if room is not None:  # the room is at risk: running jobs keep their GPUs
            cur = {}
            capacity = min(view.free_gpus, room)
        cand = sorted([*cur, *waiting])  # canonical order: the same jobs give the same model
        total = view.layout.n_gpus
        opts = [
            [c for c in gpu_options(jobs, j, self._node_gpus, total) if c <= capacity] for j in cand
        ]
        chosen = self._solve(view, cand, opts, cur, capacity) if cand else {}
        return self._realize(view, pending, alloc, cur, chosen, opts=opts, cand=cand)

    def _room_gpus(self, view: ClusterView, alloc: Allocator, waiting: list[int]) -> int | None:
        """GPUs the room can cool more while it is at risk (None: not at risk, no limit).

        A thermal placement layer (``room_new_gpus``: XInt, MinHR) says how many busy GPUs
        more the room takes while a cooling unit is down or an inlet is above the redline.
        When that is fewer than the free GPUs, the round is an emergency one: running jobs
        keep their GPUs (a resize is a stop and a start, and the room may refuse the start;
        the power layer's thermal net caps or suspends running jobs), the ILP gives at most
        that many free GPUs to waiting jobs, and elastic jobs are placed through that layer
        (``place_count_held``: thermal score and hold-back) instead of by best fit. Without
        this, after a CRAH failure Sia restarted every round the jobs the power layer's
        thermal net had suspended and filled the hall the remaining unit could not cool (the
        room ran away to 73–75 °C).
        """
        self._held_place = None
        room = getattr(alloc.placement, "room_new_gpus", None)
        if room is None:
            return None
        limit = room(view, alloc, np.asarray(waiting, dtype=np.int64))
        if limit is None or int(limit) >= view.free_gpus:  # it takes every free GPU busy
            return None
        self._held_place = _HeldPlacement(alloc.placement)
        self.stats.room_limited += 1
        return int(limit)

    def _in_ilp(self, jobs: object, special: object, j: int) -> bool:
        if special is not None and bool(special[j]):  # type: ignore[index]
            return False
        return str(jobs.gpu_model[j]) == ""  # type: ignore[attr-defined]

    def _goodputs(self, view: ClusterView, j: int, opts: list[int], cur: int | None) -> FloatArray:
        """Normalized goodput per option, with the re-allocation factor of a running job."""
        jobs = view.jobs
        c = np.asarray(opts, dtype=np.float64)
        key = (j, tuple(opts))
        g = self._g_memo.get(key)
        if g is None:
            model = str(jobs.goodput_model[j])
            if int(jobs.min_num_gpus[j]) >= int(jobs.max_num_gpus[j]):
                g = c.copy()  # rigid: its GPU count (Sia's convention)
            elif model:
                g = goodput(GOODPUT_PROFILES[model], c, np.ceil(c / self._node_gpus))
                pos = g[g > 0]
                g = g / (pos.min() if pos.size else 1.0)
            else:
                g = c / c.min()
            g = np.maximum(g, ZERO_ALLOC_GAIN)
            self._g_memo[key] = g
        if cur is not None:
            pen = float(self._penalty_s[j])
            age = view.time_s - float(jobs.submit_time_s[j])
            if age >= pen > 0:
                lost = self._restarts.get(j, 0) * pen
                factor = max(age - lost, 0.0) / (age + pen)
                g = np.where(c == cur, g, np.maximum(g * factor, ZERO_ALLOC_GAIN))
        return g

    def _solve(
        self,
        view: ClusterView,
        cand: list[int],
        opts: list[list[int]],
        cur: dict[int, int],
        capacity: int,
    ) -> dict[int, int]:
        """The ILP: job → chosen GPU count (absent = no GPUs this round)."""
        p = self.params
        cost: list[float] = []
        gpus: list[float] = []
        owner: list[int] = []
        for row, (j, o) in enumerate(zip(cand, opts, strict=True)):
            if not o:
                continue
            g = self._goodputs(view, j, o, cur.get(j))
            a = np.minimum(np.round(g**p.p, 2), GOODPUT_CLIP) - p.lambda_n  # + λ_n·J, constant
            if j in cur:  # λ_a: any change of a running job's allocation costs λ_a
                a = np.where(np.asarray(o) == cur[j], a - p.lambda_a, a)
            a = a + TIE_BREAK * j  # equal costs: the earlier job
            cost += a.tolist()
            gpus += [float(c) for c in o]
            owner += [row] * len(o)
        if not cost:
            return {}
        t0 = time.perf_counter()
        c_arr, o_arr, g_arr = np.asarray(cost), np.asarray(owner), np.asarray(gpus)
        # the same model as the last round's (costs are rounded to 0.01, so they rarely move
        # between rounds): the same answer, HiGHS being deterministic; skip the solve
        key = (len(cand), capacity, c_arr.tobytes(), o_arr.tobytes(), g_arr.tobytes())
        if key == self._last_key:
            x, status = self._last_x, -3
            self.stats.reused += 1
        else:
            x = mckp_certified(c_arr, o_arr, g_arr, len(cand), capacity, mip_rel_gap=p.mip_rel_gap)
            status = 0
            if x is not None:
                self.stats.certified += 1
            else:
                x, status = sia_ilp(
                    c_arr, o_arr, g_arr, len(cand), capacity,
                    time_limit_s=p.time_limit_s, mip_rel_gap=p.mip_rel_gap,
                )  # fmt: skip
            self._last_key, self._last_x = key, x
        self.stats.solve_s.append(time.perf_counter() - t0)
        self.stats.rounds += 1
        self.stats.status.append(status)
        if x is None:  # no incumbent: the cheapest fitting option per job, in order
            x = _greedy_configs(c_arr, o_arr, g_arr, len(cand), capacity)
            self.stats.status[-1] = -4
        return {cand[owner[v]]: int(gpus[v]) for v in np.flatnonzero(x).tolist()}

    def _realize(
        self,
        view: ClusterView,
        pending: IntArray,
        alloc: Allocator,
        cur: dict[int, int],
        chosen: dict[int, int],
        *,
        opts: list[list[int]],
        cand: list[int],
    ) -> Schedule:
        """Sia's placement: keep unchanged jobs, stop changed ones, place largest first."""
        jobs = view.jobs
        stop = [j for j, k in cur.items() if chosen.get(j) != k]
        for j in stop:
            alloc.release(j)
        options = dict(zip(cand, opts, strict=True))
        todo = sorted(
            ((k, j) for j, k in chosen.items() if cur.get(j) != k), key=lambda kj: (-kj[0], kj[1])
        )
        start: dict[int, IntArray] = {}
        for k, j in todo:
            gpus = None
            if int(jobs.min_num_gpus[j]) >= int(jobs.max_num_gpus[j]):
                gpus = alloc.try_place(j)
            else:
                for c in [c for c in reversed(options[j]) if c <= k]:
                    gpus = self._take(view, alloc, j, c)
                    if gpus is not None:
                        break
            if gpus is None:
                self.stats.dropped += 1
                continue
            start[j] = gpus
        # jobs the ILP does not see: arrival order, where they fit
        seen = set(cand)
        for j in pending.tolist():
            if j not in seen:
                gpus = alloc.try_place(j)
                if gpus is not None:
                    start[j] = gpus
        preempt = frozenset(stop)
        for j in stop:
            self._restarts[j] = self._restarts.get(j, 0) + 1
            if j in start:
                self.stats.resized += 1
        return Schedule(start=start, preempt=preempt, wake_at_s=self._next_round_s)

    def _take(self, view: ClusterView, alloc: Allocator, j: int, c: int) -> IntArray | None:
        """``c`` GPUs for elastic job ``j`` by best fit (thermally while the room is at risk)."""
        place = self._place if self._held_place is None else self._held_place
        return take_count(view, alloc, place, j, c)


class _HeldPlacement:
    """A thermal placement's ``place_count_held`` as ``place_count`` (for :func:`take_count`)."""

    def __init__(self, placement: object) -> None:
        self._placement = placement

    def place_count(self, view: ClusterView, job: int, free: object, n: int) -> IntArray | None:
        """``n`` GPUs by the thermal score, refused when the room cannot cool them."""
        return self._placement.place_count_held(view, job, free, n)  # type: ignore[attr-defined]


def _greedy_configs(
    cost: FloatArray, owner: IntArray, gpus: FloatArray, n_jobs: int, capacity: float
) -> BoolArray:
    """Sia's configurations when HiGHS returns no solution (a fallback, never the answer).

    Job by job in candidate order, its least-cost option worth allocating (cost < 0) that still
    fits the GPUs left.
    """
    x = np.zeros(cost.shape[0], dtype=bool)
    left = float(capacity)
    for j in range(n_jobs):
        opts = np.flatnonzero((owner == j) & (cost < 0) & (gpus <= left))
        if opts.shape[0]:
            v = int(opts[np.argmin(cost[opts])])
            x[v] = True
            left -= float(gpus[v])
    return x


MIP_ABS_GAP = 1e-6
"""HiGHS's default absolute stopping gap (``mip_abs_gap``)."""
DP_MAX_CELLS = 4_000_000
"""Largest (GPUs + 1) × options for which :func:`mckp_certified` runs its program."""


def mckp_certified(
    cost: FloatArray,
    owner: IntArray,
    gpus: FloatArray,
    n_jobs: int,
    capacity: float,
    *,
    mip_rel_gap: float = 1e-4,
) -> BoolArray | None:
    """Sia's ILP (:func:`sia_ilp`) answered exactly where HiGHS's answer is certain, else None.

    A dynamic program over the integer GPU capacity keeps, per job prefix and GPU budget, the
    two least costs of distinct choices (the k-best knapsack recursion with k = 2; a choice is
    one option or none per job). HiGHS stops once its incumbent is within its gap of a proven
    bound, ``max(mip_rel_gap · |value|, mip_abs_gap)``; the optimum's value V₁ ≤ 0 (choosing
    nothing costs 0), so when every other choice costs more than V₁ plus twice that gap the
    incumbent HiGHS returns can only be the optimum, and that optimum is returned here without
    a solve. Ties (the 1e-9 tie-break, equal rounded costs) and problems beyond
    :data:`DP_MAX_CELLS` return None: HiGHS decides them.

    Args:
        cost: Cost of each option (as :func:`sia_ilp`).
        owner: Job (row 0..n_jobs-1) of each option.
        gpus: GPUs of each option (whole numbers).
        n_jobs: Number of jobs.
        capacity: GPUs available (a whole number).
        mip_rel_gap: HiGHS's relative gap of the solve this stands for.

    Returns:
        The chosen options as a mask, or None when HiGHS must decide.
    """
    n_var = int(cost.shape[0])
    cap = int(capacity)
    g = np.rint(gpus).astype(np.int64)
    if (
        cap != capacity
        or not np.array_equal(g, gpus)
        or (cap + 1) * max(n_var, 1) > DP_MAX_CELLS
        or not np.all(np.isfinite(cost))
    ):
        return None
    f = np.full((cap + 1, 2), np.inf)  # per GPU budget: the two least costs of distinct choices
    f[:, 0] = 0.0
    pick = np.full((n_jobs, cap + 1), -1, dtype=np.int64)  # the best choice's option per job
    by_job = np.argsort(owner, kind="stable")
    starts = np.searchsorted(owner[by_job], np.arange(n_jobs + 1))
    for j in range(n_jobs):
        idx = by_job[starts[j] : starts[j + 1]]
        if idx.shape[0] == 0:
            continue
        cand = np.full((idx.shape[0] + 1, cap + 1, 2), np.inf)
        cand[0] = f  # job j gets nothing
        for b, v in enumerate(idx.tolist(), start=1):
            gv = int(g[v])
            if gv <= cap:
                cand[b, gv:] = f[: cap + 1 - gv] + cost[v]
        flat = cand.transpose(1, 0, 2).reshape(cap + 1, -1)
        branch = np.argmin(flat, axis=1) // 2
        pick[j] = np.where(branch > 0, idx[np.maximum(branch - 1, 0)], -1)
        f = np.sort(np.partition(flat, 1, axis=1)[:, :2], axis=1)
    best, second = float(f[cap, 0]), float(f[cap, 1])
    gap = max(mip_rel_gap * max(abs(best), 1.0), MIP_ABS_GAP)
    if not second - best > 2.0 * gap + 1e-9:
        return None
    x = np.zeros(n_var, dtype=bool)
    left = cap
    for j in range(n_jobs - 1, -1, -1):
        v = int(pick[j, left])
        if v >= 0:
            x[v] = True
            left -= int(g[v])
    return x


def sia_ilp(
    cost: FloatArray,
    owner: IntArray,
    gpus: FloatArray,
    n_jobs: int,
    capacity: float,
    *,
    time_limit_s: float = 5.0,
    mip_rel_gap: float = 1e-4,
) -> tuple[BoolArray | None, int]:
    """Sia's ILP: choose at most one option per job within the GPU capacity, least total cost.

    Args:
        cost: Cost of each option (Sia's ``A − λ_n``; negative = worth allocating).
        owner: Job (row 0..n_jobs-1) of each option.
        gpus: GPUs of each option.
        n_jobs: Number of jobs.
        capacity: GPUs available.
        time_limit_s: HiGHS time limit (s).
        mip_rel_gap: Relative gap.

    Returns:
        (chosen options as a mask, or None without a feasible solution; 0 optimal, 1 a limit
        was reached and the incumbent is returned).
    """
    import highspy  # noqa: PLC0415 (startup time)

    n_var = int(cost.shape[0])
    h = highspy.Highs()
    for key, val in (
        ("output_flag", False),
        ("time_limit", float(time_limit_s)),
        ("mip_rel_gap", float(mip_rel_gap)),
        ("random_seed", 0),
    ):  # no "threads": HiGHS's scheduler is process-wide; once another solve (J-DEC, the
        # planner) has started it, a different thread count makes every run fail
        h.setOptionValue(key, val)
    lp = highspy.HighsLp()
    lp.num_col_ = n_var
    lp.num_row_ = n_jobs + 1
    lp.col_cost_ = np.asarray(cost, dtype=np.float64)
    lp.col_lower_ = np.zeros(n_var)
    lp.col_upper_ = np.ones(n_var)
    lp.row_lower_ = np.full(n_jobs + 1, -highspy.kHighsInf)
    lp.row_upper_ = np.array([1.0] * n_jobs + [float(capacity)])
    # column-wise: option v sits in its job's row (coefficient 1) and the GPU row (its GPUs)
    index = np.empty(2 * n_var, dtype=np.int32)
    index[0::2] = owner
    index[1::2] = n_jobs
    value = np.empty(2 * n_var)
    value[0::2] = 1.0
    value[1::2] = gpus
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.arange(0, 2 * n_var + 1, 2, dtype=np.int32)
    lp.a_matrix_.index_ = index
    lp.a_matrix_.value_ = value
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n_var
    h.passModel(lp)
    h.run()
    status = 0 if h.getModelStatus() == highspy.HighsModelStatus.kOptimal else 1
    if h.getInfo().primal_solution_status != 2:  # kSolutionStatusFeasible
        return None, 2
    return np.asarray(h.getSolution().col_value) > 0.5, status


@register_policy("policy", "sia")
class SiaPolicy(LayeredPolicy):
    """Sia's goodput ILP alone (best-fit placement for rigid jobs; uncapped, fixed supply)."""

    Params = SiaElastic.Params

    def __init__(self, params: SiaElastic.Params | None = None) -> None:
        super().__init__("sia", scheduling=SiaElastic(params), placement=BestFit())
