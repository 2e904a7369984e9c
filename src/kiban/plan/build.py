"""Turn a scenario and the twin's physics into the planner's linear :class:`PlanProblem`.

What comes from where:

- candidate positions: every rack position of the hall (``[hall.grid]`` or ``[[hall.racks]]``)
  with its power, weight and height limits (:func:`kiban.spec.placement.rack_slots`), and the
  cable and pipe runs to it (``[power] max_cable_length_m`` from the feed point,
  ``[cooling] max_pipe_length_m`` from the CDU point; :mod:`kiban.spec.routing`): a position
  beyond the cable limit is unusable, one beyond the pipe limit takes no water-cooled option;
- servers: the fleet's models; nameplate power for limits, and the wall power at the planning
  load from :func:`kiban.site.server_load_power_w` for energy;
- cooling options: ``[plan].candidate_cooling`` (default: every catalog technology), with capex
  from ``[plan.capex]`` keys ``<tech>_jpy_per_rack`` and ``<tech>_jpy_per_kw`` (and
  ``rack_jpy_per_rack``, ``containment_jpy``, ``containment_jpy_per_rack``);
- configurations: open aisles or hot-aisle containment × supply set-points (1 K steps); for each,
  Tang's D from :func:`kiban.site.heat_distribution_for` and the cooling power per W of heat of
  every option from its plant (:func:`kiban.site.site_plant`,
  :func:`~kiban.physics.cooling.plant_power_w`) under the site climate, linearized at the
  fleet's heat;
- power chain: :func:`kiban.site.site_power_chain`, linearized by the secant between the mean
  and the nameplate IT power; tariff and CO2 from the site.

The inlet limit is the ASHRAE recommended upper bound (27 °C) unless given, and never above a
server's own maximum inlet.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from typing import Literal

import numpy as np

from kiban._typing import BoolArray, FloatArray
from kiban.catalog import Catalog, CoolingTech
from kiban.errors import ConfigError
from kiban.physics.cooling import plant_power_w
from kiban.physics.recirculation import heat_distribution_matrix_k_per_w, recirculation_matrix
from kiban.plan.problem import (
    OBJECTIVES,
    Objective,
    PlanPositions,
    PlanProblem,
    PlanReach,
    PlanServer,
    PlanTech,
    ThermalConfig,
    reach_mask,
)
from kiban.site import (
    design_day_c,
    server_load_power_w,
    site_climate,
    site_plant,
    site_power_chain,
)
from kiban.spec import Scenario
from kiban.spec.placement import rack_slots
from kiban.spec.routing import cable_limit, pipe_limit, route_length_m
from kiban.units import J_PER_KWH, W_PER_KW

ASHRAE_RECOMMENDED_MAX_C = 27.0
"""Upper bound of the ASHRAE TC 9.9 recommended inlet envelope, 18–27 °C (physics.md §3.6)."""
SUPPLY_MIN_C = 18.0
"""Lowest supply set-point enumerated (lower end of the ASHRAE recommended envelope)."""
SUPPLY_STEP_K = 1.0
"""Set-point step of the enumeration."""
CONCENTRATED_LOAD_LIMIT_N = 4500.0
"""Concentrated (point) load a floor tile carries: 4.5 kN (1,000 lb), EIA/TIA-569 via GSA P100
(physics.md §4.2)."""
CASTERS_SHARING_WEIGHT = 3
"""A raised-floor tile must carry one third of a rack's weight per caster (IBM site planning,
physics.md §4.2), i.e. the weight is taken as shared by three casters."""
PLANNING_INLET_C = 22.0
"""Inlet temperature at which the servers' mean power is evaluated for energy (fans below their
temperature ramp)."""
NEIGHBOUR_GAP_FACTOR = 1.5
"""Two racks of a row are floor neighbours when their centres are at most this many rack widths
apart."""


def _capex(scenario: Scenario, key: str) -> float | None:
    if scenario.plan is None:
        return None
    return scenario.plan.capex.get(key)


def _first(*values: float | None) -> float:
    """The first value that is not None (0 when all are)."""
    return next((float(v) for v in values if v is not None), 0.0)


def power_capex_jpy_per_kw(scenario: Scenario, catalog: Catalog) -> float:
    """Capital cost of the power chain per kW of IT, JPY.

    ``[plan.capex] power_jpy_per_kw``, else the catalog's price for the site's UPS class (0 when
    neither gives one).
    """
    ups = catalog.table("ups").get(scenario.power.ups)
    from_catalog = getattr(ups, "capex_jpy_per_kw", None)
    return _first(_capex(scenario, "power_jpy_per_kw"), from_catalog)


def _capex_note(scenario: Scenario, records: list[CoolingTech], power_per_kw: float) -> str:
    """What the TCO's capital cost holds, with the unit prices used (for the report)."""
    given = scenario.plan.capex if scenario.plan is not None else {}
    parts = []
    for t in records:
        per_kw = _first(given.get(f"{t.name}_jpy_per_kw"), t.capex_jpy_per_kw)
        per_rack = _first(given.get(f"{t.name}_jpy_per_rack"), t.rack_capex_jpy)
        parts.append(f"{t.name} {per_kw:,.0f} JPY/kW + {per_rack:,.0f} JPY/rack")
    where = "[plan.capex]" if given else "catalog prices, sources in `kiban catalog show NAME`"
    return (
        "TCO = capital cost + energy and demand charges over the horizon; capital cost = "
        f"cooling plant per kW of IT and rack positions ({'; '.join(parts)}), power chain "
        f"{power_per_kw:,.0f} JPY/kW of IT (UPS class {scenario.power.ups}), containment where "
        f"[plan.capex] gives it ({where}). Not in it: land, building shell, IT equipment"
    )


def candidate_techs(scenario: Scenario, catalog: Catalog) -> list[str]:
    """Cooling options the planner may choose: ``[plan].candidate_cooling`` or every one."""
    names = list(scenario.plan.candidate_cooling) if scenario.plan is not None else []
    if not names:
        names = list(catalog.cooling_techs)
    for name in names:
        catalog.cooling(name)  # raises CatalogError with a suggestion
    return names


def _reach(
    kind: Literal["cable", "pipe"],
    limit: tuple[float, float, float] | None,
    x_m: FloatArray,
    y_m: FloatArray,
) -> PlanReach | None:
    if limit is None:
        return None
    x0_m, y0_m, max_m = limit
    return PlanReach(
        kind=kind,
        source_x_m=x0_m,
        source_y_m=y0_m,
        max_length_m=max_m,
        length_m=np.asarray(route_length_m(x_m, y_m, x0_m, y0_m), dtype=np.float64),
    )


def _positions(scenario: Scenario, catalog: Catalog, techs: tuple[PlanTech, ...]) -> PlanPositions:
    slots = rack_slots(scenario, catalog)
    if not slots:
        msg = f"{scenario.display_name}: the hall has no rack positions to plan"
        raise ConfigError(msg)
    n = len(slots)
    x = np.array([s.x_m for s in slots])
    y = np.array([s.y_m for s in slots])
    row = np.array([s.row for s in slots], dtype=np.int64)
    width = np.array([s.width_m for s in slots])
    foot = np.array([max(s.width_m * s.depth_m, s.load_spread_area_m2 or 0.0) for s in slots])
    neighbours: list[tuple[int, int]] = []
    for r in np.unique(row):
        idx = np.nonzero(row == r)[0]
        idx = idx[np.argsort(x[idx], kind="stable")]
        for a, b in itertools.pairwise(idx):
            if abs(x[b] - x[a]) <= NEIGHBOUR_GAP_FACTOR * max(width[a], width[b]) + 1e-9:
                neighbours.append((int(a), int(b)))
    cable = _reach("cable", cable_limit(scenario), x, y)
    pipe = _reach("pipe", pipe_limit(scenario), x, y)
    return PlanPositions(
        names=tuple(s.name for s in slots),
        x_m=x,
        y_m=y,
        row_idx=row,
        power_limit_w=np.array(
            [math.inf if s.power_limit_from_cooling else s.power_limit_w for s in slots]
        ),
        weight_limit_kg=np.array(
            [math.inf if s.weight_limit_kg is None else s.weight_limit_kg for s in slots]
        ),
        rack_units=np.array([s.rack_units for s in slots], dtype=np.int64),
        footprint_m2=foot,
        rack_empty_kg=np.array([s.empty_weight_kg for s in slots]),
        neighbours=tuple(neighbours),
        allowed=reach_mask(n, techs, cable, pipe),
        rack_depth_m=float(np.mean([s.depth_m for s in slots])),
        cable=cable,
        pipe=pipe,
    )


def _servers(scenario: Scenario, catalog: Catalog, load_frac: float) -> tuple[PlanServer, ...]:
    counts: dict[str, int] = defaultdict(int)
    for entry in scenario.fleet:
        counts[entry.model] += entry.count
    out = []
    for name, count in counts.items():
        srv = catalog.server(name)
        mean_w = float(server_load_power_w(srv, catalog, load_frac, PLANNING_INLET_C))
        out.append(
            PlanServer(
                name=name,
                count=count,
                n_gpus=srv.n_gpus,
                design_power_w=srv.max_power_w,
                mean_power_w=mean_w,
                weight_kg=srv.weight_kg,
                rack_units=srv.rack_units,
                is_rack_scale=srv.is_rack_scale,
                footprint_m2=srv.footprint_m2,
                liquid_capture_frac=srv.liquid_capture_frac,
                max_inlet_temp_c=srv.max_inlet_temp_c,
            )
        )
    return tuple(out)


def nominal_airflow_m3_per_s(
    problem_positions: PlanPositions,
    servers: tuple[PlanServer, ...],
    catalog: Catalog,
    per_rack: FloatArray,
) -> FloatArray:
    """Airflow of each position for D: ``per_rack[r]`` servers of the fleet's first model."""
    flow = catalog.server(servers[0].name).airflow_m3_per_s
    return np.maximum(per_rack, 1.0) * flow


def build_problem(
    scenario: Scenario,
    *,
    objective: Objective | None = None,
    years: float | None = None,
    load_frac: float = 0.8,
    inlet_max_c: float = ASHRAE_RECOMMENDED_MAX_C,
    supply_temps_c: list[float] | None = None,
    airflow_m3_per_s: FloatArray | None = None,
    catalog: Catalog | None = None,
) -> PlanProblem:
    """Build the planning problem of a scenario.

    Args:
        scenario: the site (hall positions, power, cooling plant settings, fleet, ``[plan]``).
        objective: ``tco``, ``pue`` or ``gpus`` (default: ``[plan].objective`` or ``tco``).
        years: TCO horizon (default: ``[plan].years`` or 5).
        load_frac: planning load for energy (GPU activity and host load).
        inlet_max_c: allowed inlet temperature (ASHRAE class limit), °C.
        supply_temps_c: set-points to enumerate (default 18 °C to the inlet limit, 1 K steps).
        airflow_m3_per_s: ``(R,)`` airflow of each position for D (default: a full rack of the
            first fleet model, from the rack capacity).
        catalog: hardware catalog (default: the scenario's).

    Returns:
        The :class:`PlanProblem`.

    Raises:
        ConfigError: bad option values or a hall without positions.
        CatalogError: an unknown cooling candidate.
    """
    cat = scenario.get_catalog() if catalog is None else catalog
    plan = scenario.plan
    obj = objective or (plan.objective if plan is not None else "tco")
    if obj not in OBJECTIVES:
        msg = f"--objective = {obj!r}: allowed {', '.join(OBJECTIVES)}"
        raise ConfigError(msg)
    yrs = years if years is not None else (plan.years if plan is not None else 5.0)
    if not 0.0 < yrs <= 50.0:
        msg = f"--years = {yrs:g}: must be more than 0 and at most 50 (years of the TCO horizon)"
        raise ConfigError(msg)
    if not 0.0 < load_frac <= 1.0:
        msg = f"--load = {load_frac:g}: must be a fraction in (0, 1]"
        raise ConfigError(msg)
    names = candidate_techs(scenario, cat)
    records = [cat.cooling(n) for n in names]
    power_per_kw = power_capex_jpy_per_kw(scenario, cat)
    techs = tuple(
        PlanTech(
            name=t.name,
            medium=t.medium,
            max_rack_power_w=t.max_rack_power_w,
            liquid_capture_frac=t.liquid_capture_frac,
            capex_per_rack_jpy=_first(_capex(scenario, f"{t.name}_jpy_per_rack"), t.rack_capex_jpy),
            capex_given=(
                _capex(scenario, f"{t.name}_jpy_per_rack") is not None
                or _capex(scenario, f"{t.name}_jpy_per_kw") is not None
                or t.capex_jpy_per_kw is not None
            ),
            capex_per_w_jpy=(
                _first(_capex(scenario, f"{t.name}_jpy_per_kw"), t.capex_jpy_per_kw) + power_per_kw
            )
            / W_PER_KW,
        )
        for t in records
    )
    positions = _positions(scenario, cat, techs)
    servers = _servers(scenario, cat, load_frac)
    inlet_max = min([inlet_max_c] + [s.max_inlet_temp_c for s in servers])

    # Power chain linearized between the mean and the nameplate IT power of the fleet.
    it_design = float(sum(s.count * s.design_power_w for s in servers))
    it_mean = float(sum(s.count * s.mean_power_w for s in servers))
    chain = site_power_chain(scenario, cat, it_design)
    loss_mean = float(chain.loss_w(it_mean))
    loss_design = float(chain.loss_w(it_design))
    loss_frac = (loss_design - loss_mean) / (it_design - it_mean) if it_design > it_mean else 0.0
    loss_fixed = loss_mean - loss_frac * it_mean

    # Configurations.
    if supply_temps_c is None:
        top = math.floor(inlet_max)
        supply_temps_c = [float(t) for t in np.arange(SUPPLY_MIN_C, top + 0.5, SUPPLY_STEP_K)]
    climate = site_climate(scenario)
    design_db, design_wb = design_day_c(climate)
    dur = climate.duration_s
    q_mean = it_mean + loss_mean
    q_design = it_design + loss_design
    if airflow_m3_per_s is None:
        airflow_m3_per_s = _default_airflow(positions, servers, cat, techs)
    d_by = heat_distributions(positions, airflow_m3_per_s)
    configs: list[ThermalConfig] = []
    cont_capex = _capex(scenario, "containment_jpy") or 0.0
    for cont in (False, True):
        avail = np.array(
            [
                not (t.name == "crac-raised-floor" and cont)
                and not (t.name == "hot-aisle-containment" and not cont)
                for t in techs
            ]
        )
        if not avail.any():
            continue
        for sup in supply_temps_c:
            cool = np.zeros((3, len(techs)))
            for ti, rec in enumerate(records):
                plant = site_plant(scenario, rec, q_design, supply_temp_c=sup)
                bd = plant_power_w(
                    np.full(dur.shape, q_mean),
                    climate.dry_bulb_c,
                    climate.wet_bulb_c,
                    plant,
                    outdoor_db_std_k=climate.dry_bulb_std_k,
                    outdoor_wb_std_k=climate.wet_bulb_std_k,
                )
                cool[0, ti] = float(np.sum(bd.total_w * dur) / np.sum(dur)) / q_mean
                cool[1, ti] = float(bd.total_w.max()) / q_mean
                cool[2, ti] = (
                    float(plant_power_w(q_design, design_db, design_wb, plant).total_w) / q_design
                )
            configs.append(ThermalConfig(
                containment=cont, supply_temp_c=float(sup), heat_distribution_k_per_w=d_by[cont],
                tech_available=avail, cooling_w_per_w=cool,
                fixed_capex_jpy=cont_capex if cont else 0.0,
            ))  # fmt: skip

    tariff = scenario.site.tariff
    discount = plan.discount_rate_frac if plan is not None else 0.0
    energy_years = _annuity_years(yrs, discount)
    return PlanProblem(
        positions=positions,
        servers=servers,
        techs=techs,
        configs=tuple(configs),
        inlet_max_c=inlet_max,
        floor_rating_pa=scenario.hall.floor_rating_pa,
        concentrated_load_limit_n=CONCENTRATED_LOAD_LIMIT_N,
        casters_per_rack=CASTERS_SHARING_WEIGHT,
        ups_usable_w=scenario.power.ups_capacity_w,
        grid_limit_w=scenario.site.grid_limit_w,
        loss_fixed_w=loss_fixed,
        loss_frac=loss_frac,
        energy_price_jpy_per_j=tariff.total_jpy_per_kwh / J_PER_KWH,
        demand_charge_jpy_per_w_year=12.0 * tariff.demand_charge_jpy_per_kw_month / W_PER_KW,
        co2_kg_per_j=scenario.site.grid_co2_kg_per_kwh / J_PER_KWH,
        years=yrs,
        objective=obj,
        rack_capex_jpy=_capex(scenario, "rack_jpy_per_rack") or 0.0,
        capex_note=_capex_note(scenario, records, power_per_kw),
        max_racks=plan.max_racks if plan is not None else None,
        budget_jpy=plan.budget_jpy if plan is not None else None,
        energy_years=energy_years,
        containment_capex_per_rack_jpy=_capex(scenario, "containment_jpy_per_rack") or 0.0,
        cdu_capacity_w=scenario.cooling.cdu.capacity_w
        if scenario.cooling.cdu is not None
        else None,
    )


def heat_distributions(
    positions: PlanPositions, airflow_m3_per_s: FloatArray, empty: BoolArray | None = None
) -> dict[bool, FloatArray]:
    """Tang's D for open aisles (False) and hot-aisle containment (True) at every position.

    Args:
        positions: candidate positions.
        airflow_m3_per_s: ``(R,)`` airflow of each position.
        empty: ``(R,)`` positions taken as empty: they neither send nor pass on exhaust (their
            rows and columns of A are zero). None: every position holds a rack.
    """
    out: dict[bool, FloatArray] = {}
    for cont in (False, True):
        a = recirculation_matrix(
            positions.x_m,
            positions.y_m,
            positions.row_idx,
            containment="hot-aisle" if cont else "none",
            rack_depth_m=positions.rack_depth_m,
            rack_airflow_m3_per_s=airflow_m3_per_s,
        )
        if empty is not None:
            a = a.copy()
            a[empty, :] = 0.0
            a[:, empty] = 0.0
        out[cont] = heat_distribution_matrix_k_per_w(a, airflow_m3_per_s)
    return out


def _annuity_years(years: float, rate: float) -> float:
    """Present value of one yen a year for ``years`` years at ``rate`` (= years at rate 0)."""
    if rate <= 0.0:
        return years
    return float((1.0 - (1.0 + rate) ** (-years)) / rate)


def _default_airflow(
    positions: PlanPositions,
    servers: tuple[PlanServer, ...],
    catalog: Catalog,
    techs: tuple[PlanTech, ...],
) -> FloatArray:
    """Airflow of a full rack at each position.

    A full rack holds the most servers of the first model any option allows there (at least one).
    """
    from kiban.plan.problem import PlanProblem as _P  # noqa: PLC0415 (local helper problem)
    from kiban.plan.problem import rack_capacity  # noqa: PLC0415

    probe = _P(
        positions=positions, servers=servers, techs=techs, configs=(), inlet_max_c=99.0,
        floor_rating_pa=math.inf, concentrated_load_limit_n=None, casters_per_rack=4,
        ups_usable_w=None, grid_limit_w=None, loss_fixed_w=0.0, loss_frac=0.0,
        energy_price_jpy_per_j=0.0, demand_charge_jpy_per_w_year=0.0, co2_kg_per_j=0.0,
        years=1.0, objective="tco",
    )  # fmt: skip
    cap = rack_capacity(probe)
    per = cap.n_max[:, :, 0].max(axis=1).astype(np.float64)
    return nominal_airflow_m3_per_s(positions, servers, catalog, per)
