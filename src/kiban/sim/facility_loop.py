"""The facility inside the run: a component the event loop calls at every settle and at a step.

The cooling plant and power chain of :mod:`kiban.sim.facility` are evaluated after the run over
the event log (they do not feed back). A facility that must bind during the run (a plant with a
capacity and thermal mass, airflow balance, power budgets: issue 10) implements
:class:`InLoopFacility` instead; :class:`~kiban.sim.simulator.Simulator` then

* calls :meth:`InLoopFacility.start` once when the run starts,
* calls :meth:`InLoopFacility.at_settle` at every settle, after the physics of the event
  (node power, throttling, storage) and before the log row is written,
* schedules a ``FACILITY_STEP`` event every ``step_s`` seconds and calls
  :meth:`InLoopFacility.at_step` there (``step_s = None``: no steps); a facility with a
  ``next_step_s(t)`` method (e.g. to step exactly at an injected fault) chooses the next step
  time itself,

each time with the run's read-only :class:`~kiban.sim.state.ClusterView` (IT power, rack power
and inlets, supply temperature, the per-GPU observables). Each call may return a
:class:`FacilityEffect`: a new supply temperature and/or a per-rack inlet rise, which the node
heat applies and the throttle check sees at once. After the run :meth:`InLoopFacility.power_w`
gives the facility power over the event log, as :class:`~kiban.sim.facility.FacilityModel` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from kiban._typing import ArrayLike, BoolArray, FloatArray, IntArray
    from kiban.sim.facility import FacilityPower
    from kiban.sim.state import ClusterView

__all__ = ["FacilityEffect", "InLoopFacility"]


@dataclass(frozen=True, slots=True)
class FacilityEffect:
    """What the facility changes in the hall now (None: unchanged).

    Attributes:
        supply_temp_c: New supply air temperature (°C).
        rack_inlet_offset_k: Per-rack inlet rise on top of supply and recirculation (K), e.g.
            from a cooling shortfall or an airflow deficit; replaces the previous offset.
        liquid_supply_temp_c: New coolant supply temperature of liquid-cooled GPUs (°C), e.g.
            a CDU that lost capacity.
        nodes_down: Nodes that lose power now (a feed fault): their jobs are lost and
            restarted, their GPUs are down until ``nodes_up`` names them.
        nodes_up: Nodes whose power is back.
        site_it_limit_w: The IT power the site's grid contract allows now (W). The contract
            meters facility power (IT, cooling plant, power-chain losses, other loads), so
            the power budget holds IT power at this, updated at each facility step.
        rack_r_scale: Factor on each rack's GPU die-to-inlet thermal resistance (1 = design
            airflow; failed server fans raise it, R ∝ V̇^−0.8); replaces the previous one.
        nodes_braked: Every node whose GPUs are power-braked now (a partial feed loss that
            its remaining PSUs cannot carry); replaces the previous set (empty: none). Their
            jobs run at the HW-slowdown clock, booked as ``power_cap``.
        units_failed: The CRAH/CRAC units that are down now (their alarms, which policies see
            through :attr:`~kiban.sim.state.ClusterView.cooling_units_failed`); replaces the
            previous set.
    """

    supply_temp_c: float | None = None
    rack_inlet_offset_k: FloatArray | None = None
    liquid_supply_temp_c: float | None = None
    nodes_down: IntArray | None = None
    nodes_up: IntArray | None = None
    site_it_limit_w: float | None = None
    nodes_braked: IntArray | None = None
    rack_r_scale: FloatArray | None = None
    units_failed: BoolArray | None = None


@runtime_checkable
class InLoopFacility(Protocol):
    """A facility model called during the run (see the module docstring).

    Attributes:
        step_s: Period of facility steps (s), or None for none.
    """

    step_s: float | None

    def start(self, view: ClusterView) -> FacilityEffect | None:
        """The run starts (every GPU idle)."""
        ...

    def at_settle(self, view: ClusterView) -> FacilityEffect | None:
        """Something changed in the hall at ``view.time_s``."""
        ...

    def at_step(self, view: ClusterView) -> FacilityEffect | None:
        """A facility step at ``view.time_s``."""
        ...

    def power_w(
        self, it_power_w: ArrayLike, time_s: ArrayLike, supply_temp_c: ArrayLike
    ) -> FacilityPower:
        """Facility power parts at each event-log row (vectorized, after the run)."""
        ...
