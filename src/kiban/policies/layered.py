"""A complete policy built from one object per layer.

Admission → scheduling (placing through the placement layer) → power, cooling, data: the shape
every baseline and every single-layer co-optimizer uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kiban.policies.base import (
    EMPTY_MAP,
    NO_DECISION,
    Allocator,
    Decision,
    PolicyContext,
)
from kiban.policies.facility_model import COIL_MARGIN_FRAC
from kiban.policies.registry import make_policy
from kiban.policies.scheduling import needed_preemptions

if TYPE_CHECKING:
    from kiban._typing import IntArray
    from kiban.policies.base import (
        AdmissionPolicy,
        CoolingPolicy,
        DataPolicy,
        PlacementPolicy,
        PowerPolicy,
        SchedulingPolicy,
    )
    from kiban.sim.state import ClusterView

__all__ = ["LayeredPolicy", "layered_policy", "policy_from_spec"]


def _noop(layer: object | None) -> bool:
    return layer is None or bool(getattr(layer, "noop", False))


class LayeredPolicy:
    """Runs its layers in order on each call and merges their outputs into one Decision.

    Args:
        name: Name shown in results.
        scheduling: Scheduling layer (order, starts, preemptions).
        placement: Placement layer (GPUs for each start).
        admission: Optional admission layer.
        power: Optional power layer.
        cooling: Optional cooling layer.
        data: Optional data layer.
        epoch_s: Period of extra calls (s), or None.
    """

    def __init__(
        self,
        name: str,
        *,
        scheduling: SchedulingPolicy,
        placement: PlacementPolicy,
        admission: AdmissionPolicy | None = None,
        power: PowerPolicy | None = None,
        cooling: CoolingPolicy | None = None,
        data: DataPolicy | None = None,
        epoch_s: float | None = None,
    ) -> None:
        self.name = name
        self.scheduling = scheduling
        self.placement = placement
        self.admission = None if _noop(admission) else admission
        self.power = None if _noop(power) else power
        self.cooling = None if _noop(cooling) else cooling
        self.data = None if _noop(data) else data
        self.epoch_s = epoch_s
        self.preemptive = bool(getattr(scheduling, "preemptive", False))
        # the layers hold the room after a cooling-unit alarm with no guard above them: their
        # thermal net and hold-back keep a share of the working coils free (J-DEC has its own
        # guard and builds its net without it)
        for layer in (self.power, self.placement):
            if layer is not None and hasattr(layer, "coil_margin_frac"):
                layer.coil_margin_frac = COIL_MARGIN_FRAC

    def reset(self, ctx: PolicyContext) -> None:
        """Reset every layer."""
        for layer in (
            self.admission,
            self.scheduling,
            self.placement,
            self.power,
            self.cooling,
            self.data,
        ):
            if layer is not None:
                layer.reset(ctx)

    def place_host(self, view: ClusterView, cpu_milli: int, memory_b: float) -> int | None:
        """The placement layer's node for a CPU-only pod (-1: none fits; None: no rule)."""
        place = getattr(self.placement, "place_host", None)
        return None if place is None else int(place(view, cpu_milli, memory_b))

    def decide(self, view: ClusterView) -> Decision:
        """Admission → scheduling (placing through the placement layer) → power, cooling, data."""
        pending = view.pending_jobs()
        if self.admission is not None:
            pending = self.admission.admit(view, pending)
        alloc = Allocator(view, self.placement)
        sched = self.scheduling.schedule(view, pending, alloc)
        caps: Mapping[int, float] = EMPTY_MAP
        cache: Mapping[int, float] = EMPTY_MAP
        weights: Mapping[int, float] = EMPTY_MAP
        supply = None
        preempt = sched.preempt
        start = sched.start
        if self.power is not None:
            caps = self.power.set_caps(view, start)
            shed = getattr(self.power, "shed", None)  # load the room cannot cool (power layer)
            if shed:  # held back if starting, suspended if running
                start = {j: g for j, g in start.items() if j not in shed}
                if len(start) < len(sched.start):
                    preempt = _preemptions_for(view, preempt, start, shed)
                preempt = preempt | frozenset(j for j in shed if j not in sched.start)
                caps = {j: c for j, c in caps.items() if j not in shed}
        if self.cooling is not None:
            supply = self.cooling.supply_temp_c(view)
        if self.data is not None:
            cache, weights = self.data.shares(view, start)
        if not (
            start
            or preempt
            or sched.wake_at_s is not None
            or caps
            or cache
            or weights
            or supply is not None
        ):
            return NO_DECISION
        return Decision(
            start=start,
            preempt=preempt,
            power_cap_w=caps,
            cache_b=cache,
            io_weight=weights,
            supply_temp_c=supply,
            wake_at_s=sched.wake_at_s,
        )


def _preemptions_for(
    view: ClusterView,
    preempt: frozenset[int],
    start: Mapping[int, IntArray],
    shed: frozenset[int],
) -> frozenset[int]:
    """The order layer's preemptions that still serve a start once shedding held some back.

    The order layer preempted running jobs to make room for starts; a start the power layer
    then holds back (the room cannot cool it) takes no GPUs, so the jobs preempted for it would
    pay a checkpoint and a restore while their GPUs sit idle. They keep running unless a
    remaining start takes their GPUs. A job that restarts in the same decision (a resize) or
    that shedding suspends stays preempted.
    """
    own = preempt & (frozenset(start) | shed)
    return needed_preemptions(view, preempt - own, start) | own


def layered_policy(
    name: str,
    choices: Mapping[str, tuple[str, Mapping[str, Any]] | None],
    *,
    epoch_s: float | None = None,
) -> LayeredPolicy:
    """Build a :class:`LayeredPolicy` from registered layer names (e.g. a scenario's [policies]).

    Args:
        name: Name of the resulting policy.
        choices: Layer kind → (registered name, params) for ``admission``, ``scheduling``,
            ``placement``, ``power``, ``cooling``, ``data``; missing or None layers are off
            (scheduling defaults to ``fifo`` and placement to ``first-fit``).
        epoch_s: Period of extra calls (s), or None.

    Returns:
        The policy.

    Raises:
        PolicyError: for unknown names or parameters.
    """
    layers: dict[str, Any] = {}
    defaults: dict[str, tuple[str, Mapping[str, Any]]] = {
        "scheduling": ("fifo", {}),
        "placement": ("first-fit", {}),
    }
    for kind in ("admission", "scheduling", "placement", "power", "cooling", "data"):
        choice = choices.get(kind) or defaults.get(kind)
        if choice is None:
            continue
        layer_name, params = choice
        layers[kind] = make_policy(kind, layer_name, params)
    return LayeredPolicy(name, epoch_s=epoch_s, **layers)


def policy_from_spec(policies: Any, name: str = "scenario") -> LayeredPolicy:
    """The layered policy a scenario's ``[policies]`` table describes.

    Args:
        policies: A :class:`kiban.spec.Policies` (admission, scheduling, placement, power,
            cooling, data choices, each with ``name`` and ``params``).
        name: Name of the resulting policy (the result folder).

    Returns:
        The policy.

    Raises:
        PolicyError: for unknown names or parameters (the message names the layer).
    """
    choices: dict[str, tuple[str, Mapping[str, Any]] | None] = {}
    for kind in ("admission", "scheduling", "placement", "power", "cooling", "data"):
        choice = getattr(policies, kind, None)
        choices[kind] = None if choice is None else (str(choice.name), dict(choice.params))
    return layered_policy(name, choices)
