"""The coupled facility: cooling capacity, room thermal mass, airflow and faults inside the run.

:class:`CoupledFacility` is an :class:`~kiban.sim.facility_loop.InLoopFacility`. Every
``step_s`` (default 300 s) it reads the hall from the run's view and advances the physics of
:mod:`kiban.physics.facility_dynamics`:

* heat into the room air per rack (wall power × the air share) against what the working
  CRAH/CRAC units and the plant can remove at the outdoor temperature of that hour; a shortfall
  warms the room (two-node RC) and the supply air with it;
* per cold aisle (a row of racks), the servers' airflow demand (fan law: it grows with load and
  inlet temperature) against the air the units deliver; a deficit pulls exhaust into the top
  inlets;
* injected faults (``[[faults]]``) from their time to their repair, each stepped exactly at
  its start and repair (:meth:`CoupledFacility.next_step_s`; a step integrates the time before
  it with the faults in force then, and GPUs that a cooling fault shut down boot again one
  step after its repair): a CRAH unit (its air and coil
  capacity are lost), a chiller (plant capacity), server fans of a rack (less airflow, hotter
  chips), a CDU (the coolant loop warms through its heat capacity,
  :func:`cdu_coolant_step_c`, and the liquid-cooled GPUs see it), a power feed (a rack with no
  working feed goes down: its jobs are lost back to their last checkpoint and restarted
  elsewhere, its GPUs are ``failure`` in the ledger until the feed returns; a rack that keeps
  a feed runs its servers on the PSUs left, and a server they cannot carry at its maximum
  power is power-braked, :func:`~kiban.physics.facility_dynamics.psu_power_brake`);

and hands the simulator a :class:`~kiban.sim.facility_loop.FacilityEffect` (supply temperature
and per-rack inlet rise), which the thermal-throttle check sees at once. It also books the
observables of the run: time-weighted distributions of per-GPU power, die temperature and
activity, and the hall's power against its budgets (site grid limit, UPS capacity).

After the run, :meth:`power_w` prices the plant over the event log with the wrapped
:class:`~kiban.sim.facility.PlantFacility` (its supply temperature is the one the loop set).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from kiban.physics import activity as act
from kiban.physics import facility_dynamics as fd
from kiban.physics.budget import BudgetLevel
from kiban.physics.recirculation import (
    FAN_EFFICIENCY_FRAC,
    FAN_PRESSURE_PA,
    REF_AREA_PER_RACK_M2,
    bypass_frac,
)
from kiban.physics.server_power import fan_ramp_span_k, fan_speed_frac, fan_speed_frac_spans
from kiban.sim.facility_loop import FacilityEffect
from kiban.units import AIR_DENSITY_KG_PER_M3, AIR_SPECIFIC_HEAT_J_PER_KG_K

if TYPE_CHECKING:
    from kiban._typing import ArrayLike, FloatArray
    from kiban.physics.recirculation import Containment
    from kiban.sim.facility import FacilityModel, FacilityPower
    from kiban.sim.layout import ClusterLayout
    from kiban.sim.state import ClusterView

__all__ = [
    "DEFAULT_STEP_S",
    "CoupledFacility",
    "FaultEvent",
    "cdu_coolant_step_c",
    "hall_air_for",
]

DEFAULT_STEP_S = 300.0
"""Facility step (s). The room responds over 10–20 min (Tang et al. 2008: a new steady thermal
state 10–20 min after a power change) and the room step is exact for constant inputs, so 5 min
loses little; 60 s steps cost ≈ 3× the run time of the demo (measured), over its 60 s target.
Pass ``step_s=60`` for studies of fast transients."""
CAPACITY_CACHE_MAX = 4096
"""Most (faults, outdoor, set-point) answers of the plant capacity kept in one run."""
OUTDOOR_CACHE_MAX = 1 << 17
"""Most hours whose outdoor temperature is kept (≈ 15 years of hours)."""
_EXACT_WHOLE = 2.0**53
"""Whole numbers below this are exact in float64."""
OBSERVE_EVERY_S = 300.0
"""The GPU distributions (power, die temperature, activity) are sampled this often, each sample
weighted by the time since the previous one: a systematic sample of the time-weighted
distribution, which costs a per-GPU snapshot only every 5 minutes."""

UNIT_AIRFLOW_M3_PER_S = 10.0
"""Airflow of one CRAH unit when the scenario gives none: ≈ 21,000 CFM, a large chilled-water
CRAH. ASSUMED [weak] (vendor ranges 5–15 m³/s)."""
UNIT_DESIGN_DELTA_T_K = 12.0
"""Design air temperature drop across a CRAH coil (return − supply): 10–14 K typical [weak]."""
ROOM_HEIGHT_M = 3.0
"""Hall height when the scenario gives none (the spec's default)."""
RACK_SOLID_KG = 150.0
"""Empty rack enclosure + PDUs + cabling, added to the servers' weight (ASSUMED)."""
EXCHANGE_W_PER_K_PER_RACK = 300.0
"""Air-to-solid heat exchange hA per rack: ≈ 30 m² of server and rack surface at h ≈ 10
W/(m²·K) (natural and forced convection in the room; Khankari 2011 uses the rack surface)."""
BYPASS_FRAC = 0.15
"""Supplied air that bypasses IT (recirculation.BYPASS_REF_FRAC, open aisles 10–20 %)."""

DEFAULT_CDU_APPROACH_K = 5.0
"""CDU liquid-to-liquid approach at design load (physics.md §3.7; the spec's default)."""
LOOP_KG_PER_W = 1.0e-3
"""Coolant in the secondary (technology cooling) loop per W of CDU capacity: ≈ 1 L per kW
(pipes, manifolds, cold plates, CDU reservoir; a 1 MW CDU loop holds about 1 m³). ASSUMED
[weak]."""
WATER_CP = 4186.0
"""Specific heat of water, J/(kg·K) (a 25 % glycol mix is ≈ 3,900)."""

_RHO_CP = AIR_DENSITY_KG_PER_M3 * AIR_SPECIFIC_HEAT_J_PER_KG_K


def cdu_coolant_step_c(
    temp_c: float,
    heat_w: float,
    dt_s: float,
    *,
    water_c: float,
    ua_w_per_k: float,
    capacity_j_per_k: float,
) -> float:
    """Coolant temperature after ``dt_s`` of a lumped loop: C·dT/dt = Q − UA·(T − T_water).

    The CDU's heat exchanger removes UA·(T − T_water); with UA at its design value the steady
    coolant is the facility water + the design approach at the design load. A CDU that lost a
    share of its capacity has that share less UA (``ua_w_per_k`` 0: the loop only heats up,
    at Q/C). Exact for constant inputs.
    """
    if dt_s <= 0.0:
        return temp_c
    if ua_w_per_k <= 0.0:
        return temp_c + heat_w * dt_s / capacity_j_per_k
    steady = water_c + heat_w / ua_w_per_k
    return steady + (temp_c - steady) * math.exp(-ua_w_per_k * dt_s / capacity_j_per_k)


@dataclass(frozen=True, slots=True)
class FaultEvent:
    """A fault from the scenario, resolved to the layout.

    Attributes:
        kind: ``crac``, ``chiller``, ``cdu``, ``feed`` or ``gpu_fan``.
        start_s: When it happens (s).
        end_s: When it is repaired (s; inf = never).
        unit: Unit index (crac/chiller/cdu).
        rack: Rack index (feed/gpu_fan), -1 otherwise.
        fraction_lost: Share of the unit (or of the server fans) lost.
    """

    kind: str
    start_s: float
    end_s: float
    unit: int = 0
    rack: int = -1
    fraction_lost: float = 1.0

    def active(self, t_s: float) -> bool:
        """Whether the fault is in force at ``t_s``."""
        return self.start_s <= t_s < self.end_s


def hall_air_for(
    layout: ClusterLayout,
    *,
    supply_temp_c: float,
    n_units: int | None = None,
    unit_airflow_m3_per_s: float | None = None,
    unit_capacity_w: float | None = None,
    chiller_capacity_w: float | None = None,
    dry_cooler_capacity_w: float | None = None,
    hall_area_m2: float | None = None,
    hall_height_m: float = ROOM_HEIGHT_M,
) -> fd.HallAir:
    """The air side of a layout: aisles = rows, CRAH units sized N+1 unless given.

    Units default to :data:`UNIT_AIRFLOW_M3_PER_S`, enough of them for the servers' rated
    airflow plus bypass, plus one; each unit's coil is rated for its airflow at
    :data:`UNIT_DESIGN_DELTA_T_K`. Their air is shared over the aisles in proportion to the
    aisles' rated airflow. The chiller is sized to the load unless given (inf).
    """
    srv_flow = np.array(
        [s.airflow_m3_per_s * (1.0 - s.liquid_capture_frac) for s in layout.servers]
    )
    node_flow = srv_flow[layout.node_server_idx]
    rack_flow = np.bincount(layout.node_rack_idx, weights=node_flow, minlength=layout.n_racks)
    aisle = np.asarray(layout.rack_row_idx, dtype=np.int64)
    n_aisles = int(aisle.max()) + 1 if aisle.size else 1
    aisle_flow = np.bincount(aisle, weights=rack_flow, minlength=n_aisles)
    unit_flow = unit_airflow_m3_per_s or UNIT_AIRFLOW_M3_PER_S
    need = float(aisle_flow.sum()) * (1.0 + BYPASS_FRAC)
    n = n_units or max(1, math.ceil(need / unit_flow)) + 1
    cap = unit_capacity_w or _RHO_CP * unit_flow * UNIT_DESIGN_DELTA_T_K
    total = float(aisle_flow.sum())
    share = np.tile(aisle_flow / total if total > 0 else np.full(n_aisles, 1.0 / n_aisles), (n, 1))
    server_kg = np.array([s.weight_kg for s in layout.servers])[layout.node_server_idx].sum()
    area = hall_area_m2 or 2.4 * 0.6 * 2.0 * layout.n_racks
    c = fd.room_heat_capacity_j_per_k(
        area * hall_height_m, server_kg + RACK_SOLID_KG * layout.n_racks
    )
    return fd.HallAir(
        rack_aisle=aisle,
        n_aisles=n_aisles,
        crah_airflow_m3_per_s=np.full(n, unit_flow),
        crah_capacity_w=np.full(n, cap),
        crah_aisle_share=share,
        bypass_frac=BYPASS_FRAC,
        air_capacity_j_per_k=float(c[0]),
        solid_capacity_j_per_k=float(c[1]),
        exchange_w_per_k=EXCHANGE_W_PER_K_PER_RACK * layout.n_racks,
        chiller_capacity_w=math.inf if chiller_capacity_w is None else chiller_capacity_w,
        dry_cooler_capacity_w=dry_cooler_capacity_w or 0.0,
        dry_cooler_itd_k=12.0,
        water_return_temp_c=supply_temp_c + UNIT_DESIGN_DELTA_T_K,
        supply_setpoint_c=supply_temp_c,
    )


def _budget_levels(
    layout: ClusterLayout,
    hall_w: dict[str, float],
    rack_limit_w: ArrayLike | None,
    row_limit_w: float | None,
) -> tuple[BudgetLevel, ...]:
    """Rack, row, UPS and site limits as budget levels over racks (bottom level first)."""
    n = layout.n_racks
    out: list[BudgetLevel] = []
    if rack_limit_w is not None:
        lim = np.broadcast_to(np.asarray(rack_limit_w, dtype=np.float64), (n,)).copy()
        if np.isfinite(lim).any():
            out.append(BudgetLevel("rack", np.arange(n, dtype=np.int64), lim))
    if row_limit_w is not None and math.isfinite(row_limit_w):
        rows = np.asarray(layout.rack_row_idx, dtype=np.int64)
        out.append(BudgetLevel("row", rows, np.full(len(layout.row_names), float(row_limit_w))))
    for name in ("ups", "site"):
        if name in hall_w:
            out.append(BudgetLevel(name, np.zeros(n, dtype=np.int64), np.array([hall_w[name]])))
    return tuple(out)


class CoupledFacility:
    """The facility inside the run (see the module docstring).

    Args:
        plant: The after-the-run plant model (:class:`~kiban.sim.facility.PlantFacility`);
            its climate and time of year give the outdoor temperature of each step.
        layout: The cluster.
        hall: Air side and plant capacities (:func:`hall_air_for`).
        faults: Injected faults.
        budgets_w: Named power limits on the hall's total IT power (``site``: grid contract,
            ``ups``: UPS capacity), W.
        rack_limit_w: Power limit of each rack (W; inf = none).
        row_limit_w: Power limit of each row's PDU/busway (W; None = none).
        enforce_budgets: Whether the run caps jobs to hold the budgets
            (:class:`~kiban.sim.capping.PowerBudget`); False only measures them.
        rack_feeds: Power feeds per rack: a rack loses power when this many ``feed`` faults
            are in force on it (one feed: at the first).
        cdu_approach_k: CDU liquid-to-liquid approach at its design load (K).
        cdu_capacity_w: CDU design heat load (W; None = the liquid share of the racks'
            maximum power).
        area_per_rack_m2: Hall floor area per rack (m²; None = the packed reference 1.44 m²):
            sets the bypass air the CRAH fans must also move
            (:func:`kiban.physics.recirculation.air_handling_power_w`), booked as
            ``air_handling_energy_j``.
        containment: ``none``, ``hot-aisle`` or ``cold-aisle`` (bypass).
        step_s: Facility step (s).

    Attributes:
        budget_levels: The limits as :class:`~kiban.physics.budget.BudgetLevel` over racks
            (rack, row, ups, site: bottom first), read by the simulator's power budget.
        enforce_budgets: See Args.
    """

    def __init__(
        self,
        plant: FacilityModel,
        layout: ClusterLayout,
        hall: fd.HallAir,
        *,
        faults: tuple[FaultEvent, ...] = (),
        budgets_w: dict[str, float] | None = None,
        rack_limit_w: ArrayLike | None = None,
        row_limit_w: float | None = None,
        enforce_budgets: bool = True,
        rack_feeds: int = 1,
        cdu_approach_k: float = DEFAULT_CDU_APPROACH_K,
        cdu_capacity_w: float | None = None,
        area_per_rack_m2: float | None = None,
        containment: Containment = "none",
        step_s: float | None = DEFAULT_STEP_S,
    ) -> None:
        self.step_s = step_s
        self.enforce_budgets = enforce_budgets
        self._plant = plant
        self._layout = layout
        self._hall = hall
        self._faults = faults
        self._budgets = {k: v for k, v in (budgets_w or {}).items() if math.isfinite(v)}
        self.budget_levels = _budget_levels(layout, self._budgets, rack_limit_w, row_limit_w)
        if row_limit_w is not None and math.isfinite(row_limit_w):
            self._budgets = {"row": float(row_limit_w), **self._budgets}
        if rack_limit_w is not None and np.isfinite(np.asarray(rack_limit_w, float)).any():
            self._budgets = {"rack": float(np.min(rack_limit_w)), **self._budgets}
        srv = layout.servers
        self._srv_rated_flow = np.array(
            [s.airflow_m3_per_s * (1.0 - s.liquid_capture_frac) for s in srv]
        )
        self._srv_max_w = np.array([s.max_power_w for s in srv])
        self._node_srv = layout.node_server_idx
        self._node_rack = layout.node_rack_idx
        self._rack_rated_flow = np.bincount(
            self._node_rack, weights=self._srv_rated_flow[self._node_srv], minlength=layout.n_racks
        )
        self._rack_max_w = np.bincount(
            self._node_rack, weights=self._srv_max_w[self._node_srv], minlength=layout.n_racks
        )
        self._rack_max_pos = self._rack_max_w > 0
        self._rack_max_all_pos = bool(self._rack_max_pos.all())
        self._rack_server = np.zeros(layout.n_racks, dtype=np.int64)
        self._rack_server[self._node_rack] = self._node_srv  # a representative model per rack
        self._server_racks = [
            (server, sel)
            for k, server in enumerate(layout.servers)
            if (sel := np.flatnonzero(self._rack_server == k)).size
        ]
        self._one_server = (
            self._server_racks[0][0]
            if len(self._server_racks) == 1 and self._server_racks[0][1].size == layout.n_racks
            else None
        )
        # fan_speed_frac's temperature ramp per rack (its representative server's high set
        # point): one elementwise pass over every rack instead of one call per server model,
        # the same arithmetic per element
        self._rack_ramp_span_k = np.array(
            [fan_ramp_span_k(layout.servers[k]) for k in self._rack_server.tolist()]
        )
        n_units = hall.crah_capacity_w.shape[0]
        self._no_faults = (np.zeros(n_units, dtype=bool), 1.0, np.ones(layout.n_racks))
        self._no_faults[0].flags.writeable = False
        self._no_faults[2].flags.writeable = False
        # what a step without an air deficit hands on (read-only, the same objects each step)
        self._no_deficit = np.zeros(hall.n_aisles)
        self._no_rise = np.zeros(layout.n_racks)
        self._no_deficit.flags.writeable = False
        self._no_rise.flags.writeable = False
        # the outdoor dry bulb of each hour, kept over runs (it depends only on the hour and
        # on the plant's climate and start, checked at each run's start)
        self._outdoor_by_hour: dict[int, float] = {}
        self._outdoor_for: tuple[Any, float] | None = None
        self._air_frac = np.ones(layout.n_racks) - np.bincount(
            self._node_rack,
            weights=np.array([s.liquid_capture_frac for s in srv])[self._node_srv],
            minlength=layout.n_racks,
        ) / np.maximum(np.bincount(self._node_rack, minlength=layout.n_racks), 1)
        self._all_air = bool((self._air_frac == 1.0).all())  # heat = rack power (x·1 = x)
        self._rack_feeds = max(1, int(rack_feeds))
        self._rack_nodes = [np.flatnonzero(self._node_rack == r) for r in range(layout.n_racks)]
        # PSUs per node (power brake on a partial feed loss, fd.psu_power_brake)
        self._node_psu = np.array([s.psu_count for s in srv], dtype=np.int64)[self._node_srv]
        self._node_psu_w = np.array([s.psu_rating_w for s in srv])[self._node_srv]
        self._node_max_w = self._srv_max_w[self._node_srv]
        liquid_design_w = float(((1.0 - self._air_frac) * self._rack_max_w).sum())
        self._cdu_design_w = cdu_capacity_w or liquid_design_w
        self._cdu_approach_k = float(cdu_approach_k)
        self._liquid_base_c = float(layout.liquid_supply_temp_c)
        self._area_per_rack_m2 = float(area_per_rack_m2 or REF_AREA_PER_RACK_M2)
        self._containment: Containment = containment
        # air_handling_power_w's bypass factor (1 + b)³ of this floor, the same expression
        self._bypass_cube = (
            1.0 + bypass_frac(self._area_per_rack_m2, containment=containment)
        ) ** 3
        self._loop_capacity_j_per_k = LOOP_KG_PER_W * max(self._cdu_design_w, 1.0) * WATER_CP
        self._reset()

    def _reset(self) -> None:
        """Fresh run state: the same facility object may serve several runs (policies)."""
        hall = self._hall
        self._hall_now = hall
        self._units_failed: bytes = b""
        self._room = fd.RoomState(
            np.asarray(hall.supply_setpoint_c), np.asarray(hall.supply_setpoint_c)
        )
        # read-only zeros and ones: a step that hands on the same object again compares nothing
        self._last_offset: FloatArray = self._no_rise
        self._last_r_scale: FloatArray = self._no_faults[2]
        self._r_raised = False  # any(_last_r_scale != 1)
        self._last_supply = float(hall.supply_setpoint_c)
        self._t_last = 0.0
        self._t_observed = 0.0
        self._quiet = False
        self._quiet_key: tuple[bytes, float, bytes, int] | int | None = None
        self._quiet_rack_w: FloatArray = np.zeros(0)
        self._quiet_heat_w = 0.0
        self._quiet_again: tuple[fd.HallAir, FloatArray, Any, Any, Any] | None = None
        self._outdoor_hour = -1
        outdoor_for = (
            getattr(self._plant, "climate", None),
            float(getattr(self._plant, "start_time_of_year_s", 0.0)),
        )
        if self._outdoor_for is None or not (
            outdoor_for[0] is self._outdoor_for[0] and outdoor_for[1] == self._outdoor_for[1]
        ):
            self._outdoor_by_hour.clear()
            self._outdoor_for = outdoor_for
        self._capacity_cache: dict[
            tuple[bytes, float, float | None, float], tuple[float, FloatArray]
        ] = {}
        self._outdoor_cache = 25.0
        self._racks_down: frozenset[int] = frozenset()
        self._site_key: tuple[float, float, float] | None = None
        self._site_limit_w = math.inf
        self._pricers: dict[tuple[float, float], Any] = {}
        self._period_span: tuple[int, float, float] = (-1, math.inf, -math.inf)
        self._liquid_c = float(self._layout.liquid_supply_temp_c)
        self.feed_down_s = 0.0
        self._nodes_braked: frozenset[int] = frozenset()
        self.power_brake_node_s = 0.0
        self.max_liquid_supply_c = self._liquid_c
        self._air_w = 0.0
        self.air_handling_j = 0.0
        # observables
        self.power_hist = act.WeightedHistogram(0.0, 2000.0, 1.0)
        self.die_hist = act.WeightedHistogram(0.0, 130.0, 0.1)
        self.activity_hist = act.WeightedHistogram(0.0, 1.0 + 1e-9, 0.001)
        # per histogram: the samples last observed and the weight not yet added for them
        # (_observe); whether every weight so far is whole, and their sum
        self._held: list[tuple[FloatArray | None, float]] = [(None, 0.0)] * 3
        self._whole_weights = True
        self._observed_s = 0.0
        self.shortfall_s = 0.0
        self.max_deficit_frac = 0.0
        self.max_supply_c = float(hall.supply_setpoint_c)
        self.removed_j = 0.0
        self.stored_j = 0.0
        self.heat_j = 0.0

    # --- the InLoopFacility interface -----------------------------------------------------------
    def start(self, view: ClusterView) -> FacilityEffect | None:
        """A run starts: fresh state; the room starts at its set-point."""
        self._reset()
        self._t_last = view.time_s
        self._t_observed = view.time_s
        t = view.time_s
        return self._site_effect(view, self._fault_effect(view, t, t, None))

    def next_step_s(self, t_s: float) -> float:
        """The next step: ``step_s`` ahead, or earlier at a fault's start or repair."""
        nxt = t_s + float(self.step_s or math.inf)
        for f in self._faults:
            for b in (f.start_s, f.end_s):
                if t_s + 1e-9 < b < nxt:
                    nxt = b
        return nxt

    def next_repair_s(self, t_s: float) -> float:
        """When the next fault other than a feed loss is repaired at or after ``t_s`` (inf: none).

        The GPUs it shut down boot at the first step after the repair, so a repair since the
        last step still counts until then.
        """
        since = min(t_s, self._t_last)
        ends = [f.end_s for f in self._faults if f.kind != "feed" and f.end_s >= since]
        return min(ends, default=math.inf)

    def at_settle(self, view: ClusterView) -> FacilityEffect | None:
        """Settles are left to the steps (the room changes over minutes)."""
        return None

    def at_step(self, view: ClusterView) -> FacilityEffect | None:
        """One facility step: observables (every few steps), then the room and the aisles."""
        t = view.time_s
        t_prev = min(self._t_last, t)
        self._t_last = t
        since = t - self._t_observed
        if since >= OBSERVE_EVERY_S - 1e-9:
            self._observe(view, since)
            self._t_observed = t
        effect = self._fault_effect(view, t_prev, t, self._advance(view, t_prev, t))
        return self._site_effect(view, effect)

    def _site_effect(
        self, view: ClusterView, effect: FacilityEffect | None
    ) -> FacilityEffect | None:
        """Add the IT power the site's grid contract allows now (if the site has one).

        The contract meters facility power: IT + cooling + power-chain losses + fixed loads.
        With the plant model the run's facility energy uses, at the step's IT power, time and
        supply temperature, facility = r·IT + fixed with r = 1 + (cooling + losses) / IT, so
        the IT limit is (contract − fixed) / r: a hot afternoon (lower chiller COP) lowers it.
        """
        contract_w = self._budgets.get("site")
        if contract_w is None:
            return effect
        it_w = float(view.it_power_w)
        if it_w <= 0.0:
            return effect
        limit_w = self._site_it_limit_w(contract_w, it_w, view.time_s, view.supply_temp_c)
        if effect is None:
            return FacilityEffect(site_it_limit_w=limit_w)
        return dataclasses.replace(effect, site_it_limit_w=limit_w)

    def _site_it_limit_w(
        self, contract_w: float, it_w: float, t_s: float, supply_c: float
    ) -> float:
        """(contract − fixed) / (1 + (cooling + losses) / IT) at this IT power, time and supply.

        A plant model with a ``pricer`` (:class:`~kiban.sim.facility.PlantFacility`) is priced
        through one pricer per climate period and supply temperature (the outdoor-dependent
        part computed once: the same numbers, ~3× cheaper); the same inputs as the last step
        give the last answer.
        """
        supply_c = float(supply_c)
        span = getattr(self._plant, "climate_period_span", None)
        if span is None:
            period: float = t_s
        elif self._period_span[1] <= t_s < self._period_span[2]:
            period = self._period_span[0]
        else:
            self._period_span = span(t_s)
            period = self._period_span[0]
        key = (it_w, supply_c, period)
        if key == self._site_key:
            return self._site_limit_w
        pricer_for = getattr(self._plant, "pricer", None)
        if pricer_for is not None and span is not None:
            pkey = key[1:]
            pricer = self._pricers.get(pkey)
            if pricer is None:
                if len(self._pricers) >= 64:  # the supply moved a lot: forget old conditions
                    self._pricers.clear()
                pricer = self._pricers[pkey] = pricer_for(t_s, supply_c)
            cooling_w, loss_w, misc_w = pricer.power_w(it_w)
        else:
            parts = self._plant.power_w(np.array([it_w]), np.array([t_s]), np.array([supply_c]))
            cooling_w = float(parts.cooling_w[0])
            loss_w = float(parts.loss_w[0])
            misc_w = float(parts.misc_w[0])
        ratio = 1.0 + (cooling_w + loss_w) / it_w
        limit_w = max(contract_w - misc_w, 0.0) / ratio
        self._site_key = key
        self._site_limit_w = limit_w
        return limit_w

    def _fault_effect(
        self, view: ClusterView, t_prev: float, t: float, effect: FacilityEffect | None
    ) -> FacilityEffect | None:
        """Add what feed and CDU faults change now to ``effect``.

        The step integrates [``t_prev``, ``t``) with the faults in force then (the steps fall
        on every fault's start and repair, so they are those at ``t_prev``); what changes at
        ``t`` (racks down, brakes, the CDU's share from now on) applies from ``t``.
        """
        if not self._faults:
            return effect
        dt = t - t_prev
        changes: dict[str, Any] = {}
        # the units' alarms, as the BMS shows them
        failed = self._unit_state(t)[0]
        if failed.tobytes() != self._units_failed:
            self._units_failed = failed.tobytes()
            changes["units_failed"] = failed.copy()
        # feeds: a rack without a working feed has no power
        lost = np.zeros(self._layout.n_racks, dtype=np.int64)
        for f in self._faults:
            if f.kind == "feed" and f.rack >= 0 and f.active(t):
                lost[f.rack] += 1
        down = frozenset(np.flatnonzero(lost >= self._rack_feeds).tolist())
        if self._racks_down:
            self.feed_down_s += dt * len(self._racks_down)
        if down != self._racks_down:
            went = sorted(down - self._racks_down)
            back = sorted(self._racks_down - down)
            if went:
                changes["nodes_down"] = np.concatenate([self._rack_nodes[r] for r in went])
            if back:
                changes["nodes_up"] = np.concatenate([self._rack_nodes[r] for r in back])
            self._racks_down = down
        # a partial feed loss: servers whose remaining PSUs cannot carry them are braked
        braked = fd.psu_power_brake(
            self._node_max_w,
            self._node_psu,
            self._node_psu_w,
            self._rack_feeds,
            lost[self._node_rack],
        )
        if self._nodes_braked:
            self.power_brake_node_s += dt * len(self._nodes_braked)
        now_braked = frozenset(np.flatnonzero(braked).tolist())
        if now_braked != self._nodes_braked:
            changes["nodes_braked"] = np.array(sorted(now_braked), dtype=np.int64)
            self._nodes_braked = now_braked
        # a repaired cooling fault (CRAH, chiller, CDU, fans): GPUs that shut down boot again
        # one step after the repair, once the repaired cooling has brought the room and the
        # coolant back (at the repair itself they are as hot as the fault left them)
        if any(f.kind != "feed" and t_prev <= f.end_s < t for f in self._faults):
            back_all = np.arange(self._layout.n_nodes, dtype=np.int64)
            prev = changes.get("nodes_up")
            changes["nodes_up"] = back_all if prev is None else np.union1d(prev, back_all)
        # CDU: the coolant loop's heat against what the working share of the CDU removes
        ok = 1.0
        for f in self._faults:
            if f.kind == "cdu" and f.active(t_prev):
                ok = max(0.0, ok - f.fraction_lost)
        if ok < 1.0 or self._liquid_c > self._liquid_base_c:
            q_w = float((np.asarray(view.rack_power_w) * (1.0 - self._air_frac)).sum())
            new_c = cdu_coolant_step_c(
                self._liquid_c,
                q_w,
                dt,
                water_c=self._liquid_base_c - self._cdu_approach_k,
                ua_w_per_k=ok * self._cdu_design_w / self._cdu_approach_k,
                capacity_j_per_k=self._loop_capacity_j_per_k,
            )
            new_c = max(new_c, self._liquid_base_c)
            if new_c != self._liquid_c:
                self._liquid_c = new_c
                self.max_liquid_supply_c = max(self.max_liquid_supply_c, new_c)
                changes["liquid_supply_temp_c"] = new_c
        if not changes:
            return effect
        if effect is None:
            return FacilityEffect(**changes)
        return dataclasses.replace(effect, **changes)

    def power_w(
        self, it_power_w: ArrayLike, time_s: ArrayLike, supply_temp_c: ArrayLike
    ) -> FacilityPower:
        """Facility power over the event log (the wrapped plant model)."""
        return self._plant.power_w(it_power_w, time_s, supply_temp_c)

    # --- physics ----------------------------------------------------------------------------------
    def _unit_state(self, t: float) -> tuple[FloatArray, float, FloatArray]:
        """Failed units, chiller share in service, per-rack fan airflow share, at ``t``."""
        if not self._faults:
            return self._no_faults
        n_units = self._hall.crah_capacity_w.shape[0]
        failed = np.zeros(n_units, dtype=bool)
        chiller_ok = 1.0
        fan_ok = np.ones(self._layout.n_racks)
        for f in self._faults:
            if not f.active(t):
                continue
            if f.kind == "crac" and f.unit < n_units:
                failed[f.unit] = True
            elif f.kind == "chiller":
                chiller_ok = max(0.0, chiller_ok - f.fraction_lost)
            elif f.kind == "gpu_fan" and f.rack >= 0:
                fan_ok[f.rack] = min(fan_ok[f.rack], 1.0 - f.fraction_lost)
        return failed, chiller_ok, fan_ok

    def _outdoor_c(self, t: float) -> float:
        """Outdoor dry bulb, held for the hour (the climate is hourly at best).

        Each hour's value is kept over the runs of this facility (the policies of one
        ``kiban simulate`` step through the same hours): the same value, looked up once.
        """
        hour = int(t // 3600.0)
        if hour != self._outdoor_hour:
            self._outdoor_hour = hour
            assert self._outdoor_for is not None  # set by _reset
            climate, start = self._outdoor_for
            if climate is not None:
                known = self._outdoor_by_hour.get(hour)
                if known is None:
                    if len(self._outdoor_by_hour) >= OUTDOOR_CACHE_MAX:
                        self._outdoor_by_hour.clear()
                    mid_s = (hour + 0.5) * 3600.0
                    known = fd.outdoor_dry_bulb_at_c(mid_s, climate, start_s=start)
                    self._outdoor_by_hour[hour] = known
                self._outdoor_cache = known
        return self._outdoor_cache

    @property
    def hall_air(self) -> fd.HallAir:
        """The hall's air side and plant capacities (static: the scenario's description)."""
        return self._hall

    def _hall_at(self, setpoint_c: float) -> fd.HallAir:
        """The hall with the supply set-point the policy chose (the units control to it)."""
        hall = self._hall_now
        if hall.supply_setpoint_c != setpoint_c:
            hall = self._hall_now = dataclasses.replace(
                self._hall,
                supply_setpoint_c=setpoint_c,
                water_return_temp_c=setpoint_c + UNIT_DESIGN_DELTA_T_K,
            )
        return hall

    def _advance(self, view: ClusterView, t_prev: float, t: float) -> FacilityEffect | None:
        """The room over [``t_prev``, ``t``), then the aisles and the chips from ``t`` on.

        The room is integrated with the units, chiller and fans in force over the step (those
        at ``t_prev``: the steps fall on every fault's start and repair); the airflow balance
        per aisle and the chips' thermal resistance are what holds from ``t`` (a unit that
        fails at ``t`` starves its aisles from ``t``, not a step earlier). The units control
        to the supply set-point the policy chose.
        """
        hall = self._hall_at(
            float(getattr(view, "supply_setpoint_c", self._hall.supply_setpoint_c))
        )
        dt = t - t_prev
        rack_w = np.asarray(view.rack_power_w, dtype=np.float64)
        failed, chiller_ok, fan_ok = now = self._unit_state(t)
        then = self._unit_state(t_prev) if self._faults and dt > 0 else now
        same = then is now or (
            then[1] == chiller_ok
            and np.array_equal(then[0], failed)
            and np.array_equal(then[2], fan_ok)
        )
        # nothing moved since the last quiet step (same rack power, faults, hour): the room
        # stays at its set-point and the aisles as they were
        if self._faults:
            key: tuple[bytes, float, bytes, int] | int = (
                failed.tobytes(),
                chiller_ok,
                fan_ok.tobytes(),
                int(t // 3600.0),
            )
        else:  # no faults: the units are always the same, only the hour moves
            key = int(t // 3600.0)
        quiet_w = self._quiet_rack_w
        quiet_power = (
            self._quiet and rack_w.shape == quiet_w.shape and not (rack_w != quiet_w).any()
        )
        if quiet_power and key == self._quiet_key:
            self.removed_j += self._quiet_heat_w * dt
            self.heat_j += self._quiet_heat_w * dt
            self.air_handling_j += self._air_w * dt
            return None
        inlet = np.asarray(view.rack_inlet_temp_c, dtype=np.float64)
        if quiet_power and self._quiet_hour_passes(key, hall, inlet, then, t):
            # a new hour, nothing else moved: the last quiet step again (same heat, fans,
            # air and aisles) if the hour's plant capacity still takes the heat
            self.air_handling_j += self._air_w * dt
            self.removed_j += self._quiet_heat_w * dt
            self.heat_j += self._quiet_heat_w * dt
            self._quiet_key = key
            return None
        heat = rack_w if self._all_air else rack_w * self._air_frac
        heat_w = float(heat.sum())
        if self._rack_max_all_pos:  # every rack has a maximum: the same quotients, no mask
            load = rack_w / self._rack_max_w
        else:
            load = np.divide(
                rack_w, self._rack_max_w, out=np.zeros_like(rack_w), where=self._rack_max_pos
            )
        if self._one_server is not None:  # every rack holds one server model (elementwise)
            speed = fan_speed_frac(load, inlet, self._one_server)
        else:  # fan_speed_frac per rack with its server's ramp (the same values)
            speed = fan_speed_frac_spans(load, inlet, self._rack_ramp_span_k)
        # a rack whose fans failed moves less air: the remaining fans cannot make up for them
        # (every fan working: the scalar 1, the same products)
        fans = 1.0 if then[2] is self._no_faults[2] else then[2]
        flow = fd.server_airflow_m3_per_s(speed, self._rack_rated_flow, fan_ok_frac=fans)
        self._air_w = self._air_handling_w(flow)
        self.air_handling_j += self._air_w * dt
        step = self._quiet_step(heat, heat_w, flow, t, then[0], then[1], dt)
        quiet_step = step is not None
        if step is None:
            outdoor_c = self._outdoor_c(t)
            step = fd.facility_step(
                hall, self._room, heat, flow, outdoor_c, then[0], then[1], max(dt, 1e-9)
            )
        self._quiet = same and step.stored_j == 0.0 and step.room is self._room
        if self._quiet:
            self._quiet_key = key
            self._quiet_rack_w = rack_w.copy()
            self._quiet_heat_w = heat_w
            # what a later hour's step needs to be this one again (_quiet_hour_passes)
            self._quiet_again = (
                (hall, inlet.copy(), then[0], then[1], then[2]) if quiet_step else None
            )
        if dt > 0:
            self._room = step.room
            self.removed_j += step.removed_j
            self.stored_j += step.stored_j
            self.heat_j += heat_w * dt
            if heat_w > step.capacity_w:
                self.shortfall_s += dt
        deficit, offset = step.aisle_deficit_frac, step.rack_deficit_rise_k
        if not same:  # a fault started or was repaired at t: the air from now on
            flow = fd.server_airflow_m3_per_s(speed, self._rack_rated_flow, fan_ok_frac=fan_ok)
            self._air_w = self._air_handling_w(flow)
            deficit, offset = self._aisles(heat, flow, failed)
        if deficit is not self._no_deficit:  # (zeros leave the maximum, ≥ 0, as it is)
            self.max_deficit_frac = max(self.max_deficit_frac, float(deficit.max()))
        supply = float(self._room.air_temp_c)
        self.max_supply_c = max(self.max_supply_c, supply)
        # offset: a new array each step, or the read-only zeros (kept, never written)
        # failed server fans: the chips see a higher resistance, R ∝ V̇^−0.8
        if fan_ok is self._no_faults[2]:
            r_scale = fan_ok if self._r_raised else self._last_r_scale
        else:
            r_scale = fd.r_scale_for_airflow(np.maximum(fan_ok, 0.05))
        changed_supply = abs(supply - self._last_supply) > 1e-9
        last_offset, last_r = self._last_offset, self._last_r_scale
        changed_offset = offset is not last_offset and not np.array_equal(offset, last_offset)
        changed_r = r_scale is not last_r and not np.array_equal(r_scale, last_r)
        if not (changed_supply or changed_offset or changed_r):
            return None
        self._last_supply = supply
        self._last_offset = offset
        self._last_r_scale = r_scale
        self._r_raised = bool(np.any(r_scale != 1.0))
        return FacilityEffect(
            supply_temp_c=supply if changed_supply else None,
            rack_inlet_offset_k=offset if changed_offset else None,
            rack_r_scale=r_scale if changed_r else None,
        )

    def _quiet_hour_passes(
        self,
        key: tuple[bytes, float, bytes, int] | int,
        hall: fd.HallAir,
        inlet: FloatArray,
        then: tuple[FloatArray, float, FloatArray],
        t: float,
    ) -> bool:
        """The last step was quiet and only the hour moved: would this step repeat it?

        The caller has found the rack power the same as the last quiet step's. True when the
        last step was a :meth:`_quiet_step` (room at its set-point, no storage) and this one
        has the same units, chiller and fans (over the step and from ``t``), the same hall
        and inlets, so the same fan speeds, airflow, air-handling power
        and aisles; only the outdoor temperature, hence the plant capacity, is the new hour's.
        If that capacity still takes the heat, the full step computes the same numbers as the
        last one and changes nothing (the same effect: none), so the caller books the same
        energies. The hour's capacity is looked up as the full step would
        (:meth:`_quiet_capacity`).
        """
        again = self._quiet_again
        if (
            again is None
            or not self._quiet
            or not isinstance(key, int)  # faults in the run: the full step
            or self._faults
            or then is not self._no_faults
            or hall is not again[0]
            or hall is not self._hall_now
            or (inlet != again[1]).any()
        ):
            return False
        capacity_w, _ = self._quiet_capacity(then[0], then[1], t)
        return not self._quiet_heat_w > capacity_w

    def _air_handling_w(self, flow: FloatArray) -> float:
        """CRAH fan power for the servers' airflow (and the bypass of this floor).

        :func:`~kiban.physics.recirculation.air_handling_power_w` at its default pressure and
        efficiency, with this floor's bypass factor computed once: the same operations in the
        same order, (Δp·V̇/η)·(1 + b)³ (tested against it).
        """
        design_w = FAN_PRESSURE_PA * float(flow.sum()) / FAN_EFFICIENCY_FRAC
        return float(design_w * self._bypass_cube)

    def _aisles(
        self, heat: FloatArray, flow: FloatArray, failed: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Air deficit per aisle and inlet rise per rack with these units working.

        The airflow balance of :func:`~kiban.physics.facility_dynamics.facility_step`.
        """
        hall = self._hall
        working = ~np.asarray(failed, dtype=bool)
        supplied = (hall.crah_airflow_m3_per_s * working) @ hall.crah_aisle_share
        demand = np.bincount(hall.rack_aisle, weights=flow, minlength=hall.n_aisles)
        m = fd.aisle_deficit_frac(demand, supplied * (1.0 - hall.bypass_frac))
        top = np.minimum(fd.MAX_DEFICIT_FRAC, (5.0 / 3.0) * m[hall.rack_aisle])
        return m, fd.deficit_inlet_rise_k(top, heat, flow)

    def _quiet_step(  # noqa: PLR0917
        self,
        heat: FloatArray,
        heat_w: float,
        flow: FloatArray,
        t: float,
        failed: FloatArray,
        chiller_ok: float,
        dt: float,
    ) -> fd.FacilityStep | None:
        """The step when the room is at its set-point and the cooling has capacity.

        The common case: the room stays put and removes the heat (``heat_w``, the sum of
        ``heat``); only the aisles are computed. None when the full room step is needed.
        """
        hall, room = self._hall_now, self._room
        set_c = hall.supply_setpoint_c
        if float(room.air_temp_c) != set_c or abs(float(room.solid_temp_c) - set_c) > 1e-6:
            return None
        capacity_w, past_bypass = self._quiet_capacity(failed, chiller_ok, t)
        if heat_w > capacity_w:
            return None
        demand = np.bincount(hall.rack_aisle, weights=flow, minlength=hall.n_aisles)
        if (demand <= past_bypass).all():
            # every aisle has its air (the common case): aisle_deficit_frac's 1 − supply/demand
            # is ≤ 0 in every aisle (0 where no demand), clipped to 0; no rise
            m, rise = self._no_deficit, self._no_rise
        else:
            m = fd.aisle_deficit_frac(demand, past_bypass)
            if m.any():
                top = np.minimum(fd.MAX_DEFICIT_FRAC, (5.0 / 3.0) * m[hall.rack_aisle])
                rise = fd.deficit_inlet_rise_k(top, heat, flow)
            else:
                rise = self._no_rise
        return fd.FacilityStep(
            room=room,
            capacity_w=capacity_w,
            removed_j=heat_w * dt,
            stored_j=0.0,
            aisle_deficit_frac=m,
            rack_deficit_rise_k=rise,
        )

    def _quiet_capacity(
        self, failed: FloatArray, chiller_ok: float, t: float
    ) -> tuple[float, FloatArray]:
        """Cooling capacity (W) and air per aisle past the bypass (m³/s) of the working units.

        They change only with the faults, the outdoor temperature at ``t`` (hourly) and the
        set-point: the answers are kept per inputs over the run (monthly normals give each
        month the same 24 hourly temperatures, so most hours find theirs). A plant without a
        chiller limit (infinite: the units alone limit) does not depend on the outdoor
        temperature, which is then not looked up.
        """
        hall = self._hall_now
        plant_limited = math.isfinite(hall.chiller_capacity_w)
        outdoor_c = self._outdoor_c(t) if plant_limited else math.nan  # (nan: not used)
        key = (
            b"" if failed is self._no_faults[0] else np.asarray(failed, dtype=bool).tobytes(),
            chiller_ok,
            outdoor_c if plant_limited else None,
            hall.supply_setpoint_c,
        )
        cached = self._capacity_cache.get(key)
        if cached is not None:
            return cached
        working = ~np.asarray(failed, dtype=bool)
        crah_w = float(hall.crah_capacity_w[working].sum())
        if plant_limited:
            plant_w = chiller_ok * float(
                fd.chiller_available_capacity_w(hall.chiller_capacity_w, outdoor_c)
            ) + float(
                fd.dry_cooler_capacity_w(
                    hall.dry_cooler_capacity_w,
                    hall.water_return_temp_c,
                    outdoor_c,
                    hall.dry_cooler_itd_k,
                )
            )
        else:
            plant_w = math.inf
        capacity_w = min(crah_w, plant_w)
        supplied = (hall.crah_airflow_m3_per_s * working) @ hall.crah_aisle_share
        past_bypass = supplied * (1.0 - hall.bypass_frac)
        past_bypass.flags.writeable = False
        if len(self._capacity_cache) >= CAPACITY_CACHE_MAX:
            self._capacity_cache.clear()
        self._capacity_cache[key] = (capacity_w, past_bypass)
        return capacity_w, past_bypass

    def _observe(self, view: ClusterView, dt: float) -> None:
        """Time-weighted GPU power, die temperature and activity over the last step.

        Samples that did not change since the last step (the view hands the same read-only
        array again) are added once, with the sum of their weights, when the next samples
        differ or the run ends (:meth:`_add_held`). That gives the same bits as one add per
        step while every weight is a whole number of seconds and the samples times the
        weights' sum stay below 2**53: a histogram's per-step counts are whole numbers, so
        every product and sum is a whole number, exact. At the first weight where that fails,
        the held weights are added and every later step is added at once.
        """
        arrays = view.gpu_power_die_activity()
        hists = (self.power_hist, self.die_hist, self.activity_hist)
        self._observed_s += dt
        if self._whole_weights and not (
            float(dt).is_integer() and self._observed_s * arrays[0].shape[0] < _EXACT_WHOLE
        ):
            self._whole_weights = False
            self._add_held()
        if not self._whole_weights:
            for hist, values in zip(hists, arrays, strict=True):
                hist.add(values, dt)
            return
        held = self._held
        for k, values in enumerate(arrays):
            last, weight = held[k]
            if values is last and not values.flags.writeable:  # (never written: unchanged)
                held[k] = (last, weight + dt)
                continue
            if last is not None:
                hists[k].add(last, weight)
            held[k] = (values, dt)

    def _add_held(self) -> None:
        """Add the held samples' weights to the histograms (see :meth:`_observe`)."""
        hists = (self.power_hist, self.die_hist, self.activity_hist)
        for hist, (values, weight) in zip(hists, self._held, strict=True):
            if values is not None:
                hist.add(values, weight)
        self._held = [(None, 0.0)] * 3

    def finish(self, view: ClusterView) -> dict[str, Any]:
        """The run ended: observe the last partial step and return :meth:`summary`."""
        since = view.time_s - self._t_observed
        if since > 0:
            self._observe(view, since)
            self._t_observed = view.time_s
        return self.summary()

    def summary(self) -> dict[str, Any]:
        """The run's coupling figures for ``summary.json``.

        The budget figures (``power_budget_s_over``, ``power_budget_peak_w``,
        ``power_cap_events``) are measured by the simulator's
        :class:`~kiban.sim.capping.PowerBudget` at every event and added to these.
        """
        self._add_held()
        return {
            "gpu_power_w_quantiles": self.power_hist.quantiles(),
            "gpu_die_temp_c_quantiles": self.die_hist.quantiles(),
            "gpu_activity_frac_quantiles": self.activity_hist.quantiles(),
            "power_budget_limits_w": dict(self._budgets),
            "cooling_shortfall_s": self.shortfall_s,
            "max_supply_temp_c": self.max_supply_c,
            "max_airflow_deficit_frac": self.max_deficit_frac,
            "max_liquid_supply_temp_c": self.max_liquid_supply_c,
            "feed_down_rack_s": self.feed_down_s,
            "power_brake_node_s": self.power_brake_node_s,
            "air_handling_energy_j": self.air_handling_j,
            "room_heat_balance_j": {
                "heat_in": self.heat_j,
                "removed": self.removed_j,
                "stored": self.stored_j,
            },
        }
