"""The facility-planning problem as plain arrays: candidate positions, servers, cooling options.

The planner (:mod:`kiban.plan.solve`) never reads a site spec directly: :mod:`kiban.plan.build`
turns a :class:`~kiban.spec.Scenario` plus the physics into a :class:`PlanProblem`, whose
numbers are all linear coefficients:

- per position *r*: power, weight and rack-unit limits, footprint, which cooling options its
  cable and pipe runs allow;
- per server model *m*: design (nameplate) power for limits, mean power at the planning load for
  energy, weight, height;
- per cooling option *t*: practical rack power limit, capex, the share of heat that leaves the
  rack in room air (the rest leaves in water or dielectric);
- per thermal configuration *k* (aisle containment x supply set-point, enumerated): the
  heat-distribution matrix ``D`` (inlet rise per watt of room-air heat, Tang 2008) and the
  cooling power per watt of heat at the annual mean, the hottest month and the design day.

For a fixed configuration every constraint is linear in the server counts, so each configuration is
one mixed-integer program; the solver enumerates configurations and prunes by bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from kiban._typing import BoolArray, FloatArray, IntArray
from kiban.site import air_heat_frac, is_compatible
from kiban.units import G_STANDARD_M_PER_S2

Objective = Literal["tco", "pue", "gpus"]
OBJECTIVES: tuple[Objective, ...] = ("tco", "pue", "gpus")

LimitReason = Literal[
    "rack_units",
    "power_limit",
    "cooling_capacity",
    "weight_limit",
    "floor_concentrated",
    "floor_distributed",
    "rack_scale",
    "incompatible",
    "cable_length",
    "pipe_length",
    "distance",
]
"""Why a rack position cannot hold more servers of a model with a cooling option."""

LIMIT_WORDS: dict[str, str] = {
    "rack_units": "rack height",
    "power_limit": "rack power limit",
    "cooling_capacity": "cooling capacity per rack",
    "weight_limit": "rack weight limit",
    "floor_concentrated": "concentrated floor load limit",
    "floor_distributed": "floor rating over the rack footprint (with empty neighbours)",
    "rack_scale": "one rack-scale system per position",
    "incompatible": "server/cooling compatibility",
    "cable_length": "power cable length from the feed",
    "pipe_length": "pipe length from the CDU",
    "distance": "cable or pipe distance",
}


@dataclass(frozen=True)
class PlanReach:
    """A cable or pipe length limit and the run length to every candidate position.

    Runs are measured by :func:`kiban.spec.routing.route_length_m`: rectilinear along rows and
    aisles plus a vertical allowance.

    Attributes:
        kind: ``cable`` (power feed; every rack) or ``pipe`` (CDU; water-cooled options only).
        source_x_m, source_y_m: where the runs start, m (hall coordinates).
        max_length_m: longest run allowed, m.
        length_m: ``(R,)`` run length to each position, m.
    """

    kind: Literal["cable", "pipe"]
    source_x_m: float
    source_y_m: float
    max_length_m: float
    length_m: FloatArray

    @property
    def within(self) -> BoolArray:
        """``(R,)`` True where the run is within the limit."""
        return np.asarray(self.length_m <= self.max_length_m + 1e-9)

    @property
    def source(self) -> str:
        """``the power feed at (0, 4.5) m`` or ``the CDU at (16, 2) m``."""
        what = "the power feed" if self.kind == "cable" else "the CDU"
        return f"{what} at ({self.source_x_m:g}, {self.source_y_m:g}) m"


@dataclass(frozen=True)
class PlanPositions:
    """Candidate rack positions on the floor.

    Attributes:
        names: position (rack) names, e.g. ``R01``.
        x_m, y_m: floor coordinates of the rack centre, m.
        row_idx: row index of each position (for floor-load spreading between row neighbours).
        power_limit_w: rack power limit (feed or PDU rating), W.
        weight_limit_kg: rack static weight limit (frame rating), kg; ``inf`` when not given.
        rack_units: usable height, U.
        footprint_m2: rack footprint, m².
        rack_empty_kg: weight of the empty rack frame and PDUs, kg.
        neighbours: pairs ``(i, j)`` of adjacent positions in a row (floor-load spreading).
        allowed: ``(R, T)`` mask, False where the cable or pipe run forbids cooling option *t*.
        rack_depth_m: mean rack depth (for the recirculation geometry), m.
        cable: the power-cable limit (positions beyond it are unusable), or None.
        pipe: the pipe limit (positions beyond it cannot take water-cooled options), or None.
    """

    names: tuple[str, ...]
    x_m: FloatArray
    y_m: FloatArray
    row_idx: IntArray
    power_limit_w: FloatArray
    weight_limit_kg: FloatArray
    rack_units: IntArray
    footprint_m2: FloatArray
    rack_empty_kg: FloatArray
    neighbours: tuple[tuple[int, int], ...]
    allowed: BoolArray
    rack_depth_m: float = 1.2
    cable: PlanReach | None = None
    pipe: PlanReach | None = None

    @property
    def n(self) -> int:
        """Number of candidate positions."""
        return len(self.names)


@dataclass(frozen=True)
class PlanServer:
    """One server model of the fleet.

    Attributes:
        name: catalog name.
        count: servers to place (an upper bound for the ``gpus`` objective).
        n_gpus: GPUs per server.
        design_power_w: nameplate power used for rack, UPS and grid limits, W.
        mean_power_w: wall power at the planning load, used for energy and cost, W.
        weight_kg: server weight, kg.
        rack_units: height, U.
        is_rack_scale: True for rack-scale systems (GB200 NVL72): one per position, no frame.
        footprint_m2: footprint of a rack-scale system, m² (ignored otherwise).
        liquid_capture_frac: share of the server's heat its own cold plates take (0 for air).
        max_inlet_temp_c: highest inlet temperature the vendor allows, °C.
    """

    name: str
    count: int
    n_gpus: int
    design_power_w: float
    mean_power_w: float
    weight_kg: float
    rack_units: int
    is_rack_scale: bool
    footprint_m2: float
    liquid_capture_frac: float
    max_inlet_temp_c: float


@dataclass(frozen=True)
class PlanTech:
    """One cooling option a rack can use.

    Attributes:
        name: catalog name (``crac-raised-floor``, ``rear-door-hx``, ...).
        medium: ``air``, ``liquid`` or ``immersion``.
        max_rack_power_w: practical rack power limit of the option, W.
        liquid_capture_frac: share of rack heat its water/dielectric path takes.
        capex_per_rack_jpy: capital cost per rack using it (0 when not given).
        capex_given: whether the spec gave a capex for this option.
        capex_per_w_jpy: capital cost per W of nameplate IT power cooled by it (0 if not given).
    """

    name: str
    medium: str
    max_rack_power_w: float
    liquid_capture_frac: float
    capex_per_rack_jpy: float
    capex_given: bool
    capex_per_w_jpy: float = 0.0

    @property
    def air_breathing(self) -> bool:
        """True when racks using it draw room air (everything but immersion)."""
        return self.medium != "immersion"

    @property
    def needs_pipe(self) -> bool:
        """True when racks using it need a facility-water pipe (some heat goes to water)."""
        return self.liquid_capture_frac > 0.0


def reach_mask(
    n_positions: int, techs: tuple[PlanTech, ...], cable: PlanReach | None, pipe: PlanReach | None
) -> BoolArray:
    """``(R, T)`` mask of the options each position may take under the cable and pipe limits.

    A position beyond the cable limit takes nothing; one beyond the pipe limit takes only
    options that need no water pipe (air cooling without a rear door).
    """
    out = np.ones((n_positions, len(techs)), dtype=bool)
    if cable is not None:
        out &= cable.within[:, None]
    if pipe is not None:
        piped = np.array([t.needs_pipe for t in techs], dtype=bool)
        out &= pipe.within[:, None] | ~piped[None, :]
    return out


@dataclass(frozen=True)
class ThermalConfig:
    """One enumerated room configuration: aisle containment and air supply set-point.

    Attributes:
        containment: hot-aisle containment installed.
        supply_temp_c: room-air supply set-point, °C.
        heat_distribution_k_per_w: ``(R, R)`` matrix D: inlet rise at r per W of air heat at j.
        tech_available: ``(T,)`` which cooling options exist in this configuration (the
            open-aisle air option and the contained one are different catalog entries).
        cooling_w_per_w: ``(3, T)`` cooling-plant power per W of heat removed through option t
            (its water path and its residual room air) at the annual mean, the hottest month and
            the design day (rows :data:`MEAN`, :data:`PEAK`, :data:`DESIGN`).
        fixed_capex_jpy: capex of the configuration itself (containment), JPY.
    """

    containment: bool
    supply_temp_c: float
    heat_distribution_k_per_w: FloatArray
    tech_available: BoolArray
    cooling_w_per_w: FloatArray
    fixed_capex_jpy: float = 0.0

    @property
    def label(self) -> str:
        """Short human label, e.g. ``hot-aisle containment, 24 °C supply``."""
        aisle = "hot-aisle containment" if self.containment else "open aisles"
        return f"{aisle}, {self.supply_temp_c:g} °C supply"


MEAN, PEAK, DESIGN = 0, 1, 2
"""Rows of the cooling-coefficient arrays: annual mean, hottest month, design day."""


@dataclass(frozen=True)
class PlanProblem:
    """Everything the planner's mixed-integer programs need, as linear coefficients.

    Attributes:
        positions: candidate rack positions.
        servers: fleet server models.
        techs: cooling options.
        configs: enumerated containment x set-point configurations.
        inlet_max_c: allowed inlet temperature (ASHRAE class, and the servers' own limit), °C.
        floor_rating_pa: distributed floor rating, Pa.
        concentrated_load_limit_n: largest point load per caster, N (None: not checked).
        casters_per_rack: how many casters share a rack's weight.
        ups_usable_w: UPS capacity usable under the redundancy scheme, W (None: unlimited).
        grid_limit_w: grid connection limit, W (None: unlimited).
        loss_fixed_w: power-chain loss at zero IT load (annual-mean linearization), W.
        loss_frac: power-chain loss per W of IT power (linearized), 1.
        energy_price_jpy_per_j: all-in energy price (rate + fuel adjustment + surcharge).
        demand_charge_jpy_per_w_year: demand charge per W of peak facility power per year.
        co2_kg_per_j: grid emission factor.
        years: planning horizon, years.
        objective: ``tco``, ``pue`` or ``gpus``.
        rack_capex_jpy: capex per used rack position (frame, PDUs), JPY.
        capex_note: what the TCO's capital cost holds and at which prices (for the report).
        misc_power_w: facility power that no decision changes (lighting, offices), W.
        max_racks: most rack positions the plan may use (None: all).
        cdu_capacity_w: heat the CDUs can take from rack water paths, W (None: unchecked).
        budget_jpy: capital budget (None: unlimited).
        energy_years: present-value years of energy cost (``years`` without discounting).
        containment_capex_per_rack_jpy: containment capex per used air-breathing rack, JPY.
    """

    positions: PlanPositions
    servers: tuple[PlanServer, ...]
    techs: tuple[PlanTech, ...]
    configs: tuple[ThermalConfig, ...]
    inlet_max_c: float
    floor_rating_pa: float
    concentrated_load_limit_n: float | None
    casters_per_rack: int
    ups_usable_w: float | None
    grid_limit_w: float | None
    loss_fixed_w: float
    loss_frac: float
    energy_price_jpy_per_j: float
    demand_charge_jpy_per_w_year: float
    co2_kg_per_j: float
    years: float
    objective: Objective
    rack_capex_jpy: float = 0.0
    capex_note: str = ""
    misc_power_w: float = 0.0
    max_racks: int | None = None
    budget_jpy: float | None = None
    cdu_capacity_w: float | None = None
    energy_years: float | None = None
    containment_capex_per_rack_jpy: float = 0.0

    def air_frac(self) -> FloatArray:
        """Return the ``(T, M)`` share of each server's heat that enters room air on option t.

        An air option with a rear door removes ``capture`` of the exhaust heat at the door; a
        liquid or immersion option takes at least its own capture fraction (or the server's, if
        its cold plates capture more).
        """
        out = np.empty((len(self.techs), len(self.servers)), dtype=np.float64)
        for ti, tech in enumerate(self.techs):
            for mi, srv in enumerate(self.servers):
                out[ti, mi] = air_heat_frac(
                    tech.medium, tech.liquid_capture_frac, srv.liquid_capture_frac
                )
        return out

    def compatible(self) -> BoolArray:
        """Return the ``(T, M)`` mask of server models each cooling option can cool."""
        out = np.zeros((len(self.techs), len(self.servers)), dtype=bool)
        for ti, tech in enumerate(self.techs):
            for mi, srv in enumerate(self.servers):
                out[ti, mi] = is_compatible(tech.medium, srv.liquid_capture_frac)
        return out


@dataclass(frozen=True)
class RackCapacity:
    """Most servers of each model a position can hold with each cooling option, and why.

    Attributes:
        n_max: ``(R, T, M)`` integer capacity.
        reason: ``(R, T, M)`` the limit that sets ``n_max`` (a key of :data:`LIMIT_WORDS`).
        spread_needed: ``(R, T, M)`` True where the floor load at ``n_max`` exceeds the rating over
            the footprint, so the position needs floor borrowed from empty neighbours.
        by_limit: name -> ``(R, T, M)`` capacity under that limit alone (for explanations).
    """

    n_max: IntArray
    reason: npt.NDArray[np.object_]
    spread_needed: BoolArray
    by_limit: dict[str, IntArray]


def rack_capacity(problem: PlanProblem) -> RackCapacity:
    """Compute the per-position capacity ``n_max[r, t, m]`` from every per-rack limit.

    Limits: rack height, rack power limit, cooling capacity of the option, rack weight limit,
    concentrated floor load per caster, and the distributed floor rating over the footprint plus
    the footprints of all row neighbours (the most floor a rack can borrow). The tightest wins.
    """
    pos = problem.positions
    n_r, n_t, n_m = pos.n, len(problem.techs), len(problem.servers)
    compat = problem.compatible()
    big = np.iinfo(np.int64).max // 4
    design = np.array([s.design_power_w for s in problem.servers])
    weight = np.array([s.weight_kg for s in problem.servers])
    ru = np.array([s.rack_units for s in problem.servers])
    rack_scale = np.array([s.is_rack_scale for s in problem.servers])
    cap_t = np.array([t.max_rack_power_w for t in problem.techs])

    # Per (r, m) frame weight and footprint: a rack-scale system is its own rack.
    frame_kg = np.where(rack_scale[None, :], 0.0, pos.rack_empty_kg[:, None])
    foot_m2 = np.where(
        rack_scale[None, :],
        np.array([s.footprint_m2 for s in problem.servers])[None, :],
        pos.footprint_m2[:, None],
    )
    neighbour_m2 = np.zeros(n_r)
    for i, j in pos.neighbours:
        neighbour_m2[i] += pos.footprint_m2[j]
        neighbour_m2[j] += pos.footprint_m2[i]

    def floor_div(budget: FloatArray, per: FloatArray) -> IntArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.where(per > 0, np.floor(budget / np.where(per > 0, per, 1.0) + 1e-9), big)
        return np.clip(q, 0, big).astype(np.int64)

    by: dict[str, IntArray] = {}
    shape = (n_r, n_t, n_m)
    # First on ties: a rack-scale system fills its position whatever else would allow.
    by["rack_scale"] = np.broadcast_to(np.where(rack_scale, 1, big)[None, None, :], shape).copy()
    by["incompatible"] = np.broadcast_to(np.where(compat, big, 0)[None, :, :], shape).copy()
    by["rack_units"] = np.broadcast_to(
        np.where(
            rack_scale[None, :],
            big,
            floor_div(pos.rack_units[:, None].astype(np.float64), ru[None, :].astype(np.float64)),
        )[:, None, :],
        shape,
    ).copy()
    by["power_limit"] = np.broadcast_to(
        floor_div(pos.power_limit_w[:, None], design[None, :])[:, None, :], shape
    ).copy()
    by["cooling_capacity"] = np.broadcast_to(
        floor_div(cap_t[:, None], design[None, :])[None, :, :], shape
    ).copy()
    by["weight_limit"] = np.broadcast_to(
        np.where(
            rack_scale[None, :],
            big,
            floor_div(pos.weight_limit_kg[:, None] - frame_kg, weight[None, :]),
        )[:, None, :],
        shape,
    ).copy()
    g = G_STANDARD_M_PER_S2
    if problem.concentrated_load_limit_n is not None:
        per_caster_budget_kg = problem.concentrated_load_limit_n * problem.casters_per_rack / g
        by["floor_concentrated"] = np.broadcast_to(
            floor_div(per_caster_budget_kg - frame_kg, weight[None, :])[:, None, :], shape
        ).copy()
    area_max = foot_m2 + neighbour_m2[:, None]
    floor_kg_max = problem.floor_rating_pa * area_max / g
    by["floor_distributed"] = np.broadcast_to(
        floor_div(floor_kg_max - frame_kg, weight[None, :])[:, None, :], shape
    ).copy()
    # Cable and pipe limits are named before the generic mask (which also holds them).
    if pos.cable is not None:
        by["cable_length"] = np.broadcast_to(
            np.where(pos.cable.within, big, 0)[:, None, None], shape
        ).copy()
    if pos.pipe is not None:
        piped = np.array([t.needs_pipe for t in problem.techs], dtype=bool)
        ok = pos.pipe.within[:, None] | ~piped[None, :]
        by["pipe_length"] = np.broadcast_to(np.where(ok, big, 0)[:, :, None], shape).copy()
    by["distance"] = np.broadcast_to(np.where(pos.allowed, big, 0)[:, :, None], shape).copy()

    names = list(by)
    stack = np.stack([by[k] for k in names])
    arg = np.argmin(stack, axis=0)
    n_max = np.min(stack, axis=0)
    reason = np.array(names, dtype=object)[arg]
    load_kg = frame_kg[:, None, :] + n_max * weight[None, None, :]
    spread_needed = (n_max > 0) & (
        load_kg * g > problem.floor_rating_pa * foot_m2[:, None, :] + 1e-6
    )
    return RackCapacity(n_max=n_max, reason=reason, spread_needed=spread_needed, by_limit=by)
