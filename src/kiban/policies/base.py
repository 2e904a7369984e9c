"""Policy protocols and the frozen decisions policies return to the simulator.

A *policy* (``Policy``) is what the simulator calls: ``decide(view) -> Decision`` at every
arrival, completion, failure, repair and requested wake-up (and every ``epoch_s`` if set). A
decision may set everything the co-optimizer of ``reference/cooptimizer.md`` §10 needs per
epoch: which jobs start on which GPUs (admission, order, GPU count and placement), which running
jobs are preempted, per-job power caps, per-job cache and I/O shares, and the cooling supply
temperature. The simulator validates every entry and raises
:class:`kiban.errors.PolicyError` naming the policy and the bad entry.

Most policies are *layered* (:class:`kiban.policies.layered.LayeredPolicy`): one object per
concern, each usable alone for ablations (STYLE.md §9.3):

* ``AdmissionPolicy.admit(view, pending) -> pending subset``
* ``SchedulingPolicy.schedule(view, pending, alloc) -> Schedule`` (order, starts, preemptions);
  it asks the placement layer for GPUs through an :class:`Allocator`
* ``PlacementPolicy.place(view, job, free) -> GPU indices | None``
* ``PowerPolicy.set_caps(view, starting) -> {job: cap_w}``
* ``CoolingPolicy.supply_temp_c(view) -> °C | None``
* ``DataPolicy.shares(view, starting) -> (cache_b, io_weight)``

Policies never mutate the view (its arrays are read-only); they may keep their own state, and
``reset(ctx)`` is called once at the start of each run with the static inputs and the
policy's own random stream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from kiban.mig import MIG_COMPUTE_SLICES, MIG_GEOMETRIES, MIG_MEMORY_SLICES
from kiban.vocabulary import MILLI_PER_GPU

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from kiban._typing import BoolArray, FloatArray, IntArray
    from kiban.mig import MigGeometry
    from kiban.physics.facility_dynamics import HallAir
    from kiban.sim.jobs import JobTable
    from kiban.sim.layout import ClusterLayout
    from kiban.sim.state import ClusterView

__all__ = [
    "EMPTY_MAP",
    "AdmissionPolicy",
    "Allocator",
    "CoolingPolicy",
    "DataPolicy",
    "Decision",
    "FreeState",
    "PlacementPolicy",
    "Policy",
    "PolicyContext",
    "PowerPolicy",
    "Schedule",
    "SchedulingPolicy",
    "job_share_frac",
    "mig_geometry",
    "special_jobs",
]

EMPTY_MAP: Mapping[Any, Any] = MappingProxyType({})
"""An immutable empty mapping, the default of every mapping field of a decision."""


def _empty_map() -> Mapping[Any, Any]:
    return EMPTY_MAP


@dataclass(frozen=True, slots=True)
class Decision:
    """What a policy wants changed now. Every field is optional; the default changes nothing.

    Attributes:
        start: Pending job → the GPU indices it starts on. The number of GPUs must lie in the
            job's [min_num_gpus, max_num_gpus] (rigid jobs: exactly num_gpus).
        preempt: Running jobs to stop (they keep their progress, pay a checkpoint save and
            restore, and go back to the queue). Applied before ``start``.
        power_cap_w: Job → per-GPU power cap (W), within the SKU's [min_power_limit_w, tdp_w].
            Applies to running and starting jobs.
        cache_b: Job → local cache bytes granted to it (sets its cache hit ratio).
        io_weight: Job → weight of its share of the shared file system (max-min fair).
        supply_temp_c: New cooling supply temperature (°C), within the cooling technology's
            allowed range; None keeps the current one.
        wake_at_s: Ask to be called again at this time (s), e.g. when a job's attained service
            crosses a queue threshold; replaces any earlier request.
    """

    start: Mapping[int, IntArray] = field(default_factory=_empty_map)
    preempt: frozenset[int] = frozenset()
    power_cap_w: Mapping[int, float] = field(default_factory=_empty_map)
    cache_b: Mapping[int, float] = field(default_factory=_empty_map)
    io_weight: Mapping[int, float] = field(default_factory=_empty_map)
    supply_temp_c: float | None = None
    wake_at_s: float | None = None

    def is_empty(self) -> bool:
        """True if the decision changes nothing."""
        return not (
            self.start
            or self.preempt
            or self.power_cap_w
            or self.cache_b
            or self.io_weight
            or self.supply_temp_c is not None
            or self.wake_at_s is not None
        )


NO_DECISION = Decision()
"""The decision that changes nothing."""


@dataclass(frozen=True, slots=True)
class PolicyContext:
    """Static inputs given to ``reset`` at the start of a run.

    Attributes:
        layout: The cluster topology.
        jobs: The job table.
        rng: The policy's own random stream (a child of the run's seed).
        checkpoint_write_s: Per job, the time one checkpoint write takes (s): what a
            preemption costs twice (save, then restore).
        supply_temp_range_c: Allowed (min, max) supply temperature (°C).
        storage_bandwidth_b_per_s: Shared file-system bandwidth (B/s; inf = no I/O limit).
        facility_power_w: The facility's power model as a pure function
            ``(it_power_w, time_s, supply_temp_c) -> (cooling_w, loss_w, misc_w)`` (arrays,
            W), or None; policies query it through
            :class:`kiban.policies.facility_model.FacilityModel`, never the run's state.
        site_budget_w: The site's power budget (W; inf = none): the tightest of the
            facility's named limits when it exposes them (``budgets_w``).
        hall_air: The hall's air side as the scenario describes it (CRAH units' airflow and
            capacity, which aisles they serve, bypass, room heat capacity, plant limits), when
            the facility is in the loop; None otherwise. Static: what a unit fails is seen
            through the view.
    """

    layout: ClusterLayout
    jobs: JobTable
    rng: np.random.Generator
    checkpoint_write_s: FloatArray
    supply_temp_range_c: tuple[float, float] = (15.0, 32.0)
    storage_bandwidth_b_per_s: float = math.inf
    facility_power_w: Callable[[Any, Any, Any], tuple[Any, Any, Any]] | None = None
    site_budget_w: float = math.inf
    hall_air: HallAir | None = None


@runtime_checkable
class Policy(Protocol):
    """What the simulator calls. ``LayeredPolicy`` implements it from layers.

    Attributes:
        name: Registered name (used in results and error messages).
        preemptive: True if the policy may preempt; the simulator then calls it even when no
            GPU is free.
        epoch_s: Period of extra calls (s), or None for event-driven only.
    """

    name: str
    preemptive: bool
    epoch_s: float | None

    def reset(self, ctx: PolicyContext) -> None:
        """Prepare for a new run (forget any state of the previous one)."""
        ...

    def decide(self, view: ClusterView) -> Decision:
        """Return the changes wanted now; must not mutate ``view``."""
        ...


# --- layers ------------------------------------------------------------------------------------


class AdmissionPolicy(Protocol):
    """Chooses which waiting jobs may be considered now (e.g. queue limits, power headroom)."""

    def reset(self, ctx: PolicyContext) -> None:
        """Prepare for a new run."""
        ...

    def admit(self, view: ClusterView, pending: IntArray) -> IntArray:
        """Return the admitted subset of ``pending`` (same order)."""
        ...


@dataclass(frozen=True, slots=True)
class Schedule:
    """Output of a scheduling layer.

    Attributes:
        start: Job → GPUs (from the allocator's placements).
        preempt: Running jobs to stop.
        wake_at_s: When to be called again (s), or None.
    """

    start: Mapping[int, IntArray] = field(default_factory=_empty_map)
    preempt: frozenset[int] = frozenset()
    wake_at_s: float | None = None


class SchedulingPolicy(Protocol):
    """Orders the queue and decides starts and preemptions, placing through an ``Allocator``.

    Attributes:
        preemptive: Whether it may preempt running jobs.
    """

    preemptive: bool

    def reset(self, ctx: PolicyContext) -> None:
        """Prepare for a new run."""
        ...

    def schedule(self, view: ClusterView, pending: IntArray, alloc: Allocator) -> Schedule:
        """Decide which jobs start (placed via ``alloc``) and which running jobs stop."""
        ...


class PlacementPolicy(Protocol):
    """Chooses GPUs for one job given the (tentative) free GPUs."""

    def reset(self, ctx: PolicyContext) -> None:
        """Prepare for a new run."""
        ...

    def place(self, view: ClusterView, job: int, free: FreeState) -> IntArray | None:
        """Return GPU indices for ``job`` among ``free``, or None if it does not fit."""
        ...


class PowerPolicy(Protocol):
    """Sets per-job power caps (W per GPU)."""

    def reset(self, ctx: PolicyContext) -> None:
        """Prepare for a new run."""
        ...

    def set_caps(self, view: ClusterView, starting: Mapping[int, IntArray]) -> Mapping[int, float]:
        """Return job → cap for jobs whose cap should change (running or starting)."""
        ...


class CoolingPolicy(Protocol):
    """Sets the cooling supply temperature."""

    def reset(self, ctx: PolicyContext) -> None:
        """Prepare for a new run."""
        ...

    def supply_temp_c(self, view: ClusterView) -> float | None:
        """Return a new supply temperature (°C) or None to keep the current one."""
        ...


class DataPolicy(Protocol):
    """Gives jobs cache bytes and shared-bandwidth weights."""

    def reset(self, ctx: PolicyContext) -> None:
        """Prepare for a new run."""
        ...

    def shares(
        self, view: ClusterView, starting: Mapping[int, IntArray]
    ) -> tuple[Mapping[int, float], Mapping[int, float]]:
        """Return (job → cache_b, job → io_weight) for jobs whose shares should change."""
        ...


# --- tentative allocation used inside one decision ---------------------------------------------


def special_jobs(view: ClusterView) -> BoolArray | None:
    """Jobs that share a GPU or state CPU/memory the layout checks; None if there are none."""
    return view.special_jobs


@dataclass(eq=False)
class FreeState:
    """Free GPUs as a scheduling layer sees them while it builds one decision.

    Copies of the view's free GPUs, per-node free counts and per-rack reserved GPU power; the
    allocator updates them as it places and preempts, so later placements in the same decision
    see earlier ones. ``n_free`` counts free GPUs on up nodes.
    """

    gpu_free: BoolArray
    node_free: IntArray
    rack_gpu_alloc_w: FloatArray
    n_free: int
    job_cap_w: float = math.nan  # cap used for the rack-budget check of the job being placed
    taken: dict[int, IntArray] = field(default_factory=dict)
    gpu_milli: IntArray | None = None
    """Milli-GPU left per GPU (1000 free, a shared GPU's remainder, else 0); None when no job
    of the run shares a GPU."""
    node_cpu_free_milli: IntArray | None = None
    """Free CPU per node (milli-cores); None where the layout states no node CPU."""
    node_memory_free_b: FloatArray | None = None
    """Free memory per node (B); None where the layout states no node memory."""
    gpu_mig_mask: IntArray | None = None
    """Occupied MIG memory slices per GPU (bit mask; 0 = none); None when no job of the run
    asks for a MIG instance."""
    gpu_mig_compute: IntArray | None = None
    """Compute slices held by MIG instances per GPU; None as ``gpu_mig_mask``."""
    view_mark: int | None = None
    """The view's :meth:`~kiban.sim.state.ClusterView.change_mark` when this state was read
    (None: the view keeps no change log)."""
    changed_nodes: list[int] = field(default_factory=list)
    """Nodes this state changed since it was read (:meth:`take`, the allocator's placements
    and releases; repeats possible). Change the arrays through those, or readers that follow
    the changes (FGD) miss it."""

    @classmethod
    def from_view(cls, view: ClusterView) -> FreeState:
        """Copy the free GPUs of the current state."""
        free = cls.live(view)
        free.own()
        return free

    @classmethod
    def live(cls, view: ClusterView) -> FreeState:
        """The free GPUs of the current state, reading the view's arrays without copies.

        For reading only (a placement that looks): :meth:`own` copies the arrays before the
        first change. ``gpu_free`` is computed, so it is this state's own already.
        """
        return cls(
            gpu_free=view.gpu_job == -1,
            node_free=view.node_free,
            rack_gpu_alloc_w=view.rack_gpu_alloc_w,
            n_free=view.free_gpus,
            gpu_milli=view.gpu_milli_left() if view.jobs.any_shared else None,
            node_cpu_free_milli=view.node_cpu_free_milli,
            node_memory_free_b=view.node_memory_free_b,
            gpu_mig_mask=view.gpu_mig_mask(),
            gpu_mig_compute=view.gpu_mig_compute(),
            view_mark=view.change_mark() if hasattr(view, "change_mark") else None,
        )

    def own(self) -> None:
        """Replace the arrays read from the view (:meth:`live`) by copies this state may change."""
        self.node_free = self.node_free.copy()
        self.rack_gpu_alloc_w = self.rack_gpu_alloc_w.copy()
        if self.gpu_milli is not None:
            self.gpu_milli = self.gpu_milli.copy()
        if self.node_cpu_free_milli is not None:
            self.node_cpu_free_milli = self.node_cpu_free_milli.copy()
        if self.node_memory_free_b is not None:
            self.node_memory_free_b = self.node_memory_free_b.copy()
        if self.gpu_mig_mask is not None:
            self.gpu_mig_mask = self.gpu_mig_mask.copy()
        if self.gpu_mig_compute is not None:
            self.gpu_mig_compute = self.gpu_mig_compute.copy()

    def take(self, view: ClusterView, job: int, gpus: IntArray, sign: int = 1) -> None:
        """Job ``job`` takes (``sign`` 1) or returns (-1) ``gpus``: its share, CPU and memory.

        GPU counts, the free mask and ``n_free`` change when a GPU becomes or stops being
        free; a job that shares a GPU moves only that GPU's milli unless it is the first or
        last tenant.
        """
        jobs, layout = view.jobs, view.layout
        milli = int(jobs.gpu_milli[job])
        nodes = layout.gpu_node[gpus]
        self.changed_nodes.extend(nodes.tolist())
        if self.gpu_mig_mask is not None and jobs.mig_compute_slices[job]:
            self._take_mig(view, job, int(gpus[0]), int(nodes[0]), sign)
        elif milli < MILLI_PER_GPU and self.gpu_milli is not None:
            g = int(gpus[0])
            was = int(self.gpu_milli[g])
            self.gpu_milli[g] = was - sign * milli
            now = int(self.gpu_milli[g])
            if MILLI_PER_GPU in (was, now):  # became or stopped being free
                self.gpu_free[g] = now == MILLI_PER_GPU
                self.node_free[int(nodes[0])] -= sign
                self.n_free -= sign
        elif gpus.shape[0] == 1:  # one whole GPU: scalar updates
            g = int(gpus[0])
            self.gpu_free[g] = sign < 0
            self.node_free[int(nodes[0])] -= sign
            self.n_free -= sign
            if self.gpu_milli is not None:
                self.gpu_milli[g] = MILLI_PER_GPU if sign < 0 else 0
        else:
            self.gpu_free[gpus] = sign < 0
            np.subtract.at(self.node_free, nodes, sign)
            self.n_free -= sign * int(gpus.shape[0])
            if self.gpu_milli is not None:
                self.gpu_milli[gpus] = MILLI_PER_GPU if sign < 0 else 0
        if self.node_cpu_free_milli is None and self.node_memory_free_b is None:
            return
        on = int(nodes[0]) if nodes.shape[0] == 1 else np.unique(nodes)
        if self.node_cpu_free_milli is not None and jobs.cpu_milli[job]:
            self.node_cpu_free_milli[on] -= sign * int(jobs.cpu_milli[job])
        if self.node_memory_free_b is not None and jobs.memory_b[job]:
            self.node_memory_free_b[on] -= sign * float(jobs.memory_b[job])

    def _take_mig(self, view: ClusterView, job: int, g: int, node: int, sign: int) -> None:
        """A MIG instance of ``job`` is created on (``sign`` 1) or removed from GPU ``g``.

        A new instance takes the start its geometry prefers (:meth:`kiban.mig.MigGeometry.
        start_for`); a running one is removed from where it sits. The GPU leaves the free
        count with its first instance and comes back with its last.
        """
        mask, compute = self.gpu_mig_mask, self.gpu_mig_compute
        assert mask is not None
        assert compute is not None
        geo = mig_geometry(view.layout, g)
        name = str(view.jobs.mig_profile[job])  # type: ignore[index]
        prof = geo.profiles[name]
        was = int(mask[g])
        if sign > 0:
            start = geo.start_for(was, name)
            # no free placement (a placement layer that ignored the slices; the simulator will
            # refuse the start): the GPU takes no further instance in this decision
            mask[g] = was | (prof.mask(start) if start >= 0 else (1 << MIG_MEMORY_SLICES) - 1)
            compute[g] += prof.compute_slices
        else:
            start = view.job_mig_start(job)
            mask[g] = was & ~prof.mask(start)
            compute[g] -= prof.compute_slices
        now = int(mask[g])
        if (was == 0) != (now == 0):  # entered or left MIG mode: the free counts move
            self.gpu_free[g] = now == 0
            self.node_free[node] -= sign
            self.n_free -= sign
            if self.gpu_milli is not None:
                self.gpu_milli[g] = MILLI_PER_GPU if now == 0 else 0


def mig_geometry(layout: ClusterLayout, g: int) -> MigGeometry:
    """The MIG geometry of GPU ``g``'s model (KeyError if it has none)."""
    return MIG_GEOMETRIES[layout.skus[int(layout.node_sku_idx[layout.gpu_node[g]])].mig]


def job_share_frac(jobs: JobTable, job: int) -> float:
    """Share of one GPU a job holds: milli / 1000, a MIG instance's slices / 7, else 1."""
    slices = int(jobs.mig_compute_slices[job])
    if slices:
        return slices / MIG_COMPUTE_SLICES
    return float(jobs.gpu_milli[job]) / MILLI_PER_GPU


class Allocator:
    """Places jobs for a scheduling layer, through the placement layer, without side effects.

    The free state is read from the view on first use, so a decision that places nothing costs
    nothing. ``release`` returns a running job's GPUs (for preemption); ``try_place`` asks the
    placement policy and, on success, marks the GPUs taken.

    A placement is written into the free state when the state is next read (the next placement,
    ``n_free``, ``free``, ``release``), and the view's arrays are copied only then: a decision
    that places one job (most of them) reads the live arrays and copies nothing.
    """

    def __init__(self, view: ClusterView, placement: PlacementPolicy) -> None:
        self._view = view
        self._placement = placement
        self._free: FreeState | None = None
        self._owned = False
        """``_free`` holds its own copies of the view's arrays (:meth:`FreeState.own`)."""
        self._deferred: list[tuple[int, IntArray, bool]] = []
        """Placements (job, GPUs, special) not yet written into ``_free``, in order."""
        self._budgets = view.layout.has_rack_budgets
        # Shapes that found no GPUs in this decision. Free GPUs only shrink between releases,
        # so for a placement whose answer depends only on the job's shape (it says so with
        # ``shape_determined = True``) a failed shape fails again: skip the search.
        self._memo = bool(getattr(placement, "shape_determined", False))
        self._failed: set[tuple[object, ...]] = set()
        self._special = special_jobs(view)

    @property
    def free(self) -> FreeState:
        """The tentative free state (copied from the view on first access)."""
        return self._state(write=True)

    def _state(self, *, write: bool) -> FreeState:
        """The free state with every placement so far written in.

        Its arrays are copies when ``write`` is set or a placement had to be written in;
        otherwise they may be the view's own (to be read only).
        """
        free = self._free
        if free is None:
            free = self._free = FreeState.live(self._view)
        if (write or self._deferred) and not self._owned:
            free.own()
            self._owned = True
        if self._deferred:
            deferred, self._deferred = self._deferred, []
            for job, gpus, special in deferred:
                self._mark_taken(free, job, gpus, special=special)
        return free

    @property
    def placement(self) -> PlacementPolicy:
        """The placement layer this allocator places through (read-only)."""
        return self._placement

    @property
    def n_free(self) -> int:
        """Free GPUs now, counting tentative placements and releases."""
        if self._free is None:
            return self._view.free_gpus
        return self._state(write=False).n_free

    def _cap_w(self, gpus: IntArray, job: int) -> FloatArray:
        layout = self._view.layout
        cap = self._view.job_power_cap_w[job]
        share = job_share_frac(self._view.jobs, job)
        if math.isnan(cap):
            tdp = np.array([s.tdp_w for s in layout.skus])
            per = np.asarray(tdp[layout.node_sku_idx[layout.gpu_node[gpus]]], dtype=np.float64)
            return per * share if share < 1.0 else per
        return np.full(gpus.shape[0], float(cap) * share)

    def _shape_key(self, job: int, special: bool) -> tuple[object, ...]:
        """What a placement's answer depends on besides the free state (the failed-shape memo)."""
        jobs = self._view.jobs
        key: tuple[object, ...] = (
            int(jobs.num_gpus[job]),
            int(jobs.gpus_per_node[job]),
            str(jobs.gpu_model[job]),
            float(self._view.job_power_cap_w[job]),
        )
        if special:
            key = (
                *key,
                int(jobs.gpu_milli[job]),
                int(jobs.cpu_milli[job]),
                float(jobs.memory_b[job]),
                "" if jobs.mig_profile is None else str(jobs.mig_profile[job]),
            )
        return key

    def try_place(self, job: int) -> IntArray | None:
        """Ask the placement layer for GPUs for ``job``; mark them taken if it finds some."""
        view = self._view
        jobs = view.jobs
        special = self._special is not None and bool(self._special[job])
        if jobs.min_num_gpus[job] > self.n_free and not (
            special and (jobs.gpu_milli[job] < MILLI_PER_GPU or jobs.mig_compute_slices[job])
        ):
            return None
        if self._memo and self._failed and self._shape_key(job, special) in self._failed:
            return None
        free = self._state(write=False)
        gpus = self._placement.place(view, job, free)
        if gpus is None:
            if self._memo:
                self._failed.add(self._shape_key(job, special))
            return None
        gpus = np.asarray(gpus, dtype=np.int64)
        self._deferred.append((job, gpus, special))  # written in when the state is next read
        free.taken[job] = gpus
        return gpus

    def _mark_taken(self, free: FreeState, job: int, gpus: IntArray, *, special: bool) -> None:
        """Write a placement into the free state (its GPUs, shares, host and rack power)."""
        view = self._view
        layout = view.layout
        if special:
            free.take(view, job, gpus)
        else:
            free.gpu_free[gpus] = False
            free.changed_nodes.extend(layout.gpu_node[gpus].tolist())
            if gpus.shape[0] == 1:
                free.node_free[layout.gpu_node[gpus[0]]] -= 1
            else:
                np.subtract.at(free.node_free, layout.gpu_node[gpus], 1)
            free.n_free -= int(gpus.shape[0])
            if free.gpu_milli is not None:
                free.gpu_milli[gpus] = 0
        if self._budgets:
            rack = layout.node_rack_idx[layout.gpu_node[gpus]]
            np.add.at(free.rack_gpu_alloc_w, rack, self._cap_w(gpus, job))

    def release(self, job: int) -> None:
        """Return the GPUs of a running job to the tentative free state (for preemption)."""
        gpus = self._view.job_gpus(job)
        if gpus is None:
            return
        self._failed.clear()
        free = self.free
        layout = self._view.layout
        nodes = layout.gpu_node[gpus]
        if self._special is not None and self._special[job]:
            free.take(self._view, job, np.asarray(gpus), -1)
        else:
            free.gpu_free[gpus] = True
            free.changed_nodes.extend(nodes.tolist())
            np.add.at(free.node_free, nodes, 1)
            free.n_free += int(gpus.shape[0])
            if free.gpu_milli is not None:
                free.gpu_milli[gpus] = MILLI_PER_GPU
        if self._budgets:
            rack = layout.node_rack_idx[nodes]
            np.subtract.at(free.rack_gpu_alloc_w, rack, self._cap_w(np.asarray(gpus), job))
