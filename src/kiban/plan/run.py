"""The planning pipeline: build, solve, verify with full physics, compare options, sweep spacing.

:func:`plan_site` is what ``kiban plan`` runs:

1. build the linear problem from the scenario and the physics
   (:func:`~kiban.plan.build.build_problem`);
2. solve it with HiGHS over all containment/set-point configurations
   (:func:`~kiban.plan.solve.solve_plan`), or explain why no layout exists
   (:func:`~kiban.plan.explain.explain_infeasible`, raised as :class:`~kiban.errors.PlanError`);
3. turn the solution into a site spec (``layout.toml``) that ``kiban validate`` accepts, and
   verify it with :func:`kiban.site.evaluate_site` at the planning load (energy, PUE, cost) and at
   full load (inlets). If full physics puts an inlet above the limit, D is rebuilt with the
   layout's real airflows and empty positions and the problem is solved again (up to
   :data:`MAX_REPAIRS` times);
4. compare every candidate cooling option alone with the optimal mix (same pipeline, restricted);
5. sweep the rack pitch (:func:`~kiban.plan.sweep.sweep_spacing`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from kiban._typing import IntArray
from kiban.catalog import Catalog
from kiban.errors import ConfigError, PlanError
from kiban.physics.cooling import TYPICAL_PLANTS
from kiban.plan.build import build_problem, heat_distributions
from kiban.plan.explain import (
    binding_constraints,
    configuration_sentences,
    explain_infeasible,
    predicted_inlet_c,
)
from kiban.plan.problem import Objective, PlanProblem
from kiban.plan.solve import (
    PlanSolution,
    TimeLimitError,
    coefficients,
    solve_plan,
    time_limit_message,
)
from kiban.plan.sweep import SpacingSweep, aisle_width_of, sweep_spacing
from kiban.site import SiteEvaluation, evaluate_site
from kiban.spec import Scenario, load_spec
from kiban.spec.placement import rack_slots
from kiban.units import G_STANDARD_M_PER_S2, S_PER_YEAR

logger = logging.getLogger(__name__)

MAX_REPAIRS = 3
"""Times D is rebuilt from a layout whose verified inlet exceeds the limit."""
INLET_TOL_K = 0.1
"""Verified inlet above the limit by more than this triggers a repair."""


@dataclass(frozen=True)
class LayoutSummary:
    """Key numbers of one layout: the planner's linear prediction and the full-physics check.

    Attributes:
        label: what the layout is ("optimal", "rear-door-hx only", ...).
        racks_by_tech: used racks per cooling option.
        servers_by_tech: servers per cooling option.
        n_racks: positions used.
        n_servers: servers placed.
        n_gpus: GPUs placed.
        floor_used_m2: footprint of the used positions, m².
        containment: ``none`` or ``hot-aisle``.
        supply_temp_c: supply set-point, °C.
        capex_jpy: capital cost of the options, containment and racks (0 where not given).
        capex_given: whether any capex entered.
        predicted_pue: annual PUE under the linear model.
        predicted_hottest_inlet_c: hottest inlet at nameplate power under the linear model, °C.
        predicted_design_facility_w: design-day facility power under the linear model, W.
        predicted_tco_jpy: capex + energy and demand charges over the horizon (linear model).
        verified: full physics at the planning load.
        verified_full_load: full physics at load 1.0 (for inlets).
        tco_jpy: capex + horizon × the verified yearly electricity cost.
    """

    label: str
    racks_by_tech: dict[str, int]
    servers_by_tech: dict[str, int]
    n_racks: int
    n_servers: int
    n_gpus: int
    floor_used_m2: float
    containment: str
    supply_temp_c: float
    capex_jpy: float
    capex_given: bool
    predicted_pue: float
    predicted_hottest_inlet_c: float
    predicted_design_facility_w: float
    predicted_tco_jpy: float
    verified: SiteEvaluation
    verified_full_load: SiteEvaluation
    tco_jpy: float


@dataclass(frozen=True)
class CoolingOption:
    """One row of the cooling comparison: an option alone (or the optimal mix).

    Attributes:
        name: option name, or ``optimal mix``.
        feasible: whether a layout exists.
        reason: why not (infeasible) or "".
        summary: the layout's numbers (None when infeasible).
        gap_frac: optimality gap of its program.
    """

    name: str
    feasible: bool
    reason: str
    summary: LayoutSummary | None
    gap_frac: float = math.nan


@dataclass(frozen=True)
class PlanResult:
    """Everything ``kiban plan`` reports and writes.

    Attributes:
        scenario: the input site.
        problem: the linear problem solved last.
        solution: its solution (layout, objective, bound, gap).
        layout_toml: the planned site spec as TOML text.
        layout: that spec, loaded and validated.
        summary: predicted and verified numbers of the plan.
        binding: binding constraints in plain words.
        options: the cooling comparison (each candidate alone, then the optimal mix).
        sweep: the spacing sweep (None if not requested).
        repairs: times D was rebuilt after a failed verification.
        notes: caveats (missing capex, approximations that bit).
    """

    scenario: Scenario
    problem: PlanProblem
    solution: PlanSolution
    layout_toml: str
    layout: Scenario
    summary: LayoutSummary
    binding: tuple[str, ...]
    options: tuple[CoolingOption, ...]
    sweep: SpacingSweep | None
    repairs: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)


# --- the layout as a site spec --------------------------------------------------------------------


def layout_document(
    scenario: Scenario, problem: PlanProblem, k: int, n: IntArray, *, label: str = ""
) -> dict[str, Any]:
    """Return the planned site spec as a TOML-ready dictionary.

    The hall keeps its size, floor and rack defaults; its racks become the used positions, each
    with its cooling option (and a spreader area where it borrows floor); the fleet becomes one
    entry per (model, servers per rack) with the rack names; containment and the supply
    set-point are the chosen ones.
    """
    cfg = problem.configs[k]
    doc = scenario.model_dump(exclude_none=True)
    pos = problem.positions
    per_rack = n.sum(axis=1)  # (R, M)
    used = np.nonzero(per_rack.sum(axis=1) > 0)[0]
    tech_of = {int(r): problem.techs[int(np.argmax(n[r].sum(axis=1)))].name for r in used}
    default_tech = Counter(tech_of.values()).most_common(1)[0][0]
    originals = {e["name"]: e for e in doc["hall"].get("racks", [])}
    racks = []
    g = G_STANDARD_M_PER_S2
    for r in used:
        name = pos.names[r]
        entry = dict(originals.get(name, {}))
        entry.update(
            {
                "name": name,
                "x_m": float(pos.x_m[r]),
                "y_m": float(pos.y_m[r]),
                "row": int(pos.row_idx[r]),
            }
        )
        if tech_of[int(r)] != default_tech:
            entry["cooling"] = tech_of[int(r)]
        else:
            entry.pop("cooling", None)
        weight = 0.0
        area = float(pos.footprint_m2[r])
        for m, srv in enumerate(problem.servers):
            if per_rack[r, m]:
                weight += per_rack[r, m] * srv.weight_kg
                if srv.is_rack_scale:
                    area = srv.footprint_m2
                else:
                    weight += float(pos.rack_empty_kg[r])
        need_m2 = weight * g / problem.floor_rating_pa
        if need_m2 > area + 1e-9:
            entry["load_spread_area_m2"] = math.ceil(need_m2 * 100.0) / 100.0
        racks.append(entry)
    hall = doc["hall"]
    hall.pop("grid", None)
    hall["racks"] = racks
    hall["containment"] = "hot-aisle" if cfg.containment else "none"
    cooling = doc["cooling"]
    cooling["technology"] = default_tech
    cooling["supply_temp_c"] = float(cfg.supply_temp_c)
    wet = [
        t
        for t in tech_of.values()
        if problem.techs[[x.name for x in problem.techs].index(t)].medium != "air"
    ]
    if wet and "liquid_supply_temp_c" not in cooling:
        cooling["liquid_supply_temp_c"] = float(TYPICAL_PLANTS[wet[0]]["liquid_supply_temp_c"])
    fleet = []
    for m, srv in enumerate(problem.servers):
        groups: dict[int, list[str]] = {}
        for r in used:
            if per_rack[r, m]:
                groups.setdefault(int(per_rack[r, m]), []).append(pos.names[r])
        for count, names in sorted(groups.items(), reverse=True):
            fleet.append(
                {"model": srv.name, "count": count * len(names), "racks": names, "per_rack": count}
            )
    doc["fleet"] = fleet
    doc["name"] = f"{scenario.display_name}-plan"
    doc["description"] = f"Layout planned by kiban plan ({problem.objective}; {cfg.label})" + (
        f"; {label}" if label else ""
    )
    return doc


def layout_toml_text(doc: dict[str, Any], scenario: Scenario) -> str:
    """TOML text of a planned layout, with a header saying where it came from."""
    head = (
        f"# Planned by `kiban plan` from "
        f"{Path(scenario.source_path).name if scenario.source_path else scenario.display_name}.\n"
        "# Validate with `kiban validate`, evaluate with `kiban site evaluate`.\n\n"
    )
    return head + tomli_w.dumps(doc)


def load_layout(text: str, path: Path | None = None) -> Scenario:
    """Validate a planned layout exactly as ``kiban validate`` does (via a file)."""
    if path is not None:
        path.write_text(text, encoding="utf-8")
        return load_spec(path)
    with tempfile.TemporaryDirectory(prefix="kiban-plan-") as tmp:
        file = Path(tmp) / "layout.toml"
        file.write_text(text, encoding="utf-8")
        return load_spec(file)


def load_site(path: Path) -> tuple[Scenario, list[str]]:
    """Load a site for planning, leaving placement problems to the planner.

    Like :func:`kiban.spec.load_spec`, except that a fleet that the spec's own ``auto``
    placement cannot fit (too many servers, overloaded floor, grid or UPS) is the planner's
    question, not an input error.

    Type errors, unknown names, impossible geometry, a missing or unreadable climate file and a
    fleet without any server still raise :class:`ConfigError`.

    Returns:
        ``(scenario, notes)``: notes repeat the placement problems the planner will address.
    """
    try:
        scenario = load_spec(path)
    except ConfigError as first:
        scenario, notes = _load_leniently(path, first)
    else:
        notes = []
    for i, entry in enumerate(scenario.fleet):
        if entry.from_trace is not None:  # its servers are no catalog records to lay out
            msg = (
                f"{path}: fleet[{i}].from_trace = {entry.from_trace!r}: kiban plan lays out "
                "catalog servers; list the fleet with model and count to plan it"
            )
            raise ConfigError(msg)
    if not any(entry.count > 0 for entry in scenario.fleet):
        counts = ", ".join(f"fleet[{i}].count = {e.count}" for i, e in enumerate(scenario.fleet))
        msg = f"{path}: {counts}: the planner needs at least one server to place (count ≥ 1)"
        raise ConfigError(msg)
    return scenario, notes


def _load_leniently(path: Path, first: ConfigError) -> tuple[Scenario, list[str]]:
    """:func:`load_site` after ``load_spec`` failed: placement problems become notes."""
    from pydantic import ValidationError  # noqa: PLC0415

    from kiban.spec.checks import layout_problems, name_problems  # noqa: PLC0415
    from kiban.spec.load import read_toml, validation_lines  # noqa: PLC0415
    from kiban.spec.placement import rack_slots  # noqa: PLC0415

    data = read_toml(path)
    try:
        scenario = Scenario.model_validate(data, context={"base_dir": path.parent.resolve()})
    except ValidationError as err:
        lines = [f"{path}: {line}" for line in validation_lines(err)]
        msg = f"{path}: {len(lines)} problem(s)"
        raise ConfigError(msg, problems=lines) from None
    scenario._source_path = path
    catalog = scenario.get_catalog()
    hard = name_problems(scenario, catalog)
    if not hard:
        hard = layout_problems(scenario, rack_slots(scenario, catalog))
    lines = [f"{path}: {line}" for line in hard]
    # A missing or unreadable climate file is an input error, not a placement question.
    lines += [line for line in first.problems if _HOURLY_KEY in line]
    if lines:
        msg = f"{path}: {len(lines)} problem(s)"
        raise ConfigError(msg, problems=lines) from None
    notes = [
        f"the spec's own placement fails ({line.split(': ', 1)[-1]}); planning anyway"
        for line in first.problems
    ]
    return scenario, notes


_HOURLY_KEY = "site.climate.hourly_csv"
"""Problems about this key are input errors even when planning leniently."""


# --- numbers of a layout ----------------------------------------------------------------------


def _capex(problem: PlanProblem, k: int, n: IntArray) -> float:
    cfg = problem.configs[k]
    design = np.array([s.design_power_w for s in problem.servers])
    used_rt = n.sum(axis=2) > 0  # (R, T)
    total = cfg.fixed_capex_jpy
    for t, tech in enumerate(problem.techs):
        racks = int(used_rt[:, t].sum())
        total += racks * (tech.capex_per_rack_jpy + problem.rack_capex_jpy)
        if tech.air_breathing and cfg.containment:
            total += racks * problem.containment_capex_per_rack_jpy
        total += tech.capex_per_w_jpy * float(n[:, t, :].sum(axis=0) @ design)
    return float(total)


def summarize(
    problem: PlanProblem,
    k: int,
    n: IntArray,
    layout: Scenario,
    *,
    label: str,
    load_frac: float,
    catalog: Catalog | None = None,
) -> LayoutSummary:
    """Predicted (linear) and verified (full physics) numbers of one layout."""
    cfg = problem.configs[k]
    co = coefficients(problem, k)
    design = np.array([s.design_power_w for s in problem.servers])
    mean = np.array([s.mean_power_w for s in problem.servers])
    fixed = problem.loss_fixed_w + problem.misc_power_w
    it_mean = float(np.einsum("rtm,m->", n, mean))
    fac_mean = float(np.einsum("rtm,tm,m->", n, co["fac_mean"], mean)) + fixed
    fac_peak = float(np.einsum("rtm,tm,m->", n, co["fac_peak"], mean)) + fixed
    fac_design = float(np.einsum("rtm,tm,m->", n, co["fac_design"], design)) + fixed
    years = problem.energy_years if problem.energy_years is not None else problem.years
    capex = _capex(problem, k, n)
    tco_pred = capex + years * (
        fac_mean * S_PER_YEAR * problem.energy_price_jpy_per_j
        + fac_peak * problem.demand_charge_jpy_per_w_year
    )
    inlet = predicted_inlet_c(problem, k, n)
    verified = evaluate_site(layout, load_frac=load_frac, catalog=catalog)
    verified_full = evaluate_site(layout, load_frac=1.0, catalog=catalog)
    used_r = n.sum(axis=(1, 2)) > 0
    racks_by_tech = {
        t.name: int((n[:, ti, :].sum(axis=1) > 0).sum())
        for ti, t in enumerate(problem.techs)
        if n[:, ti, :].sum()
    }
    servers_by_tech = {
        t.name: int(n[:, ti, :].sum()) for ti, t in enumerate(problem.techs) if n[:, ti, :].sum()
    }
    capex_given = any(t.capex_given for t in problem.techs) or problem.rack_capex_jpy > 0
    return LayoutSummary(
        label=label,
        racks_by_tech=racks_by_tech,
        servers_by_tech=servers_by_tech,
        n_racks=int(used_r.sum()),
        n_servers=int(n.sum()),
        n_gpus=int(np.einsum("rtm,m->", n, np.array([s.n_gpus for s in problem.servers]))),
        floor_used_m2=float(sum(r.footprint_m2 for r in layout.racks_resolved() if r.servers)),
        containment="hot-aisle" if cfg.containment else "none",
        supply_temp_c=cfg.supply_temp_c,
        capex_jpy=capex,
        capex_given=capex_given,
        predicted_pue=fac_mean / it_mean if it_mean > 0 else math.nan,
        predicted_hottest_inlet_c=float(np.nanmax(inlet)) if np.isfinite(inlet).any() else math.nan,
        predicted_design_facility_w=fac_design,
        predicted_tco_jpy=tco_pred,
        verified=verified,
        verified_full_load=verified_full,
        tco_jpy=capex + years * verified.cost_jpy,
    )


# --- the pipeline -----------------------------------------------------------------------------


def _repaired(problem: PlanProblem, scenario: Scenario, n: IntArray) -> PlanProblem:
    """Problem with D rebuilt from the layout's real rack airflows and its empty positions."""
    cat = scenario.get_catalog()
    flows = np.array([cat.server(s.name).airflow_m3_per_s for s in problem.servers])
    airflow = n.sum(axis=1) @ flows
    empty = airflow <= 0
    base = np.median(airflow[~empty]) if (~empty).any() else 1.0
    airflow = np.where(empty, base, airflow)
    d_by = heat_distributions(problem.positions, airflow, empty=empty)
    configs = tuple(
        dataclasses.replace(c, heat_distribution_k_per_w=d_by[c.containment])
        for c in problem.configs
    )
    return dataclasses.replace(problem, configs=configs)


def solve_and_verify(
    scenario: Scenario,
    problem: PlanProblem,
    *,
    load_frac: float,
    time_limit_s: float,
    gap_tol: float,
    tech_mask: np.ndarray | None = None,
    label: str = "optimal",
    deadline: float | None = None,
) -> tuple[PlanProblem, PlanSolution, str, Scenario, LayoutSummary, int]:
    """Solve, write the layout, verify it; rebuild D and re-solve while an inlet is too hot.

    Args:
        scenario: The site.
        problem: Its planning problem.
        load_frac: Planning load.
        time_limit_s: Budget of one solve (when no ``deadline``).
        gap_tol: Relative gap accepted as proven.
        tech_mask: Allowed cooling options (None: all).
        label: Layout label.
        deadline: ``time.perf_counter()`` value by which every solve (re-solves and the
            infeasibility explanation included) must be done; None gives each solve
            ``time_limit_s``.

    Raises:
        PlanError: no layout exists (with the explanation), or none was found in the time.
    """
    repairs = 0
    while True:
        budget = time_limit_s if deadline is None else deadline - time.perf_counter()
        if budget <= MIN_SOLVE_S:
            raise TimeLimitError(time_limit_message(problem, time_limit_s))
        sol = solve_plan(problem, time_limit_s=budget, gap_tol=gap_tol, tech_mask=tech_mask)
        if sol is None:
            masked = problem if tech_mask is None else _masked(problem, tech_mask)
            left = time_limit_s if deadline is None else deadline - time.perf_counter()
            lines = explain_infeasible(masked, time_limit_s=max(min(left, 20.0), MIN_SOLVE_S))
            raise PlanError("; ".join(lines))
        doc = layout_document(scenario, problem, sol.config_idx, sol.n, label=label)
        text = layout_toml_text(doc, scenario)
        layout = load_layout(text)
        summary = summarize(
            problem, sol.config_idx, sol.n, layout, label=label, load_frac=load_frac
        )
        hot = summary.verified_full_load.hottest_inlet_c
        out_of_time = deadline is not None and deadline - time.perf_counter() <= MIN_SOLVE_S
        if (
            not (np.isfinite(hot) and hot > problem.inlet_max_c + INLET_TOL_K)
            or repairs >= MAX_REPAIRS
            or out_of_time
        ):
            return problem, sol, text, layout, summary, repairs
        logger.info(
            "verified inlet %.2f °C above the %.1f °C limit: rebuilding D", hot, problem.inlet_max_c
        )
        problem = _repaired(problem, scenario, sol.n)
        repairs += 1


MIN_SOLVE_S = 0.5
"""Least time worth starting a solve with; below it the plan stops and says so."""

MAX_POSITIONS = 3000
"""Most candidate rack positions one plan takes, whatever the time limit: the heat-distribution
matrix is dense (positions² coefficients per containment) and each program's inlet constraints
carry positions² × options × models coefficients, about 1.1 GB at 3,000 positions with five
cooling options (docs/robustness.md has the measurements)."""

SOLVE_S_PER_POSITION_SQ = 4.5e-5
"""Seconds of the main solve per candidate position squared, measured on 200–700 positions (five
cooling options, one server model, 20 thermal configurations) on the 2-core CI machine; the
size guard refuses a site whose predicted solve exceeds --time-limit (docs/robustness.md)."""


def check_plan_size(scenario: Scenario, time_limit_s: float) -> None:
    """Refuse a site too large to plan in ``time_limit_s`` (or at all), saying what to reduce.

    Raises:
        PlanError: naming the number of candidate positions, the limit and the levers.
    """
    n = len(rack_slots(scenario, scenario.get_catalog()))
    fits = min(MAX_POSITIONS, int(math.sqrt(time_limit_s / SOLVE_S_PER_POSITION_SQ)))
    if n <= fits:
        return
    need_s = SOLVE_S_PER_POSITION_SQ * n * n
    more = (
        f"raise --time-limit to about {need_s:,.0f} s or "
        if n <= MAX_POSITIONS
        else f"kiban plans at most {MAX_POSITIONS:,} positions at once (memory and time grow with "
        f"their square: about {n * n * 5 * 24 / 1e9:,.0f} GB and {need_s:,.0f} s here); "
    )
    msg = (
        f"{n:,} candidate rack positions are too many to plan within --time-limit "
        f"{time_limit_s:g} s (up to {fits:,} fit); {more}plan fewer positions: split the hall "
        "into blocks of rows (hall.grid rows × racks_per_row) and plan each block"
    )
    raise PlanError(msg)


def _masked(problem: PlanProblem, tech_mask: np.ndarray) -> PlanProblem:
    techs = tuple(t for t, keep in zip(problem.techs, tech_mask, strict=True) if keep)
    keep = np.asarray(tech_mask, dtype=bool)
    configs = tuple(
        dataclasses.replace(
            c, tech_available=c.tech_available[keep], cooling_w_per_w=c.cooling_w_per_w[:, keep]
        )
        for c in problem.configs
        if c.tech_available[keep].any()
    )
    pos = dataclasses.replace(problem.positions, allowed=problem.positions.allowed[:, keep])
    return dataclasses.replace(problem, techs=techs, configs=configs, positions=pos)


def plan_site(
    scenario: Scenario,
    *,
    objective: Objective | None = None,
    years: float | None = None,
    load_frac: float = 0.8,
    inlet_max_c: float | None = None,
    time_limit_s: float = 60.0,
    gap_tol: float = 1e-4,
    compare: bool = True,
    sweep: bool = True,
) -> PlanResult:
    """Plan a site: the best layout, its verification, the cooling comparison, the spacing sweep.

    Args:
        scenario: the site to plan (hall positions, power, plant settings, fleet, ``[plan]``).
        objective: ``tco``, ``pue`` or ``gpus`` (default ``[plan].objective`` or ``tco``).
        years: TCO horizon (default ``[plan].years`` or 5).
        load_frac: planning load (energy, cost).
        inlet_max_c: allowed inlet (default 27 °C, ASHRAE recommended).
        time_limit_s: solver budget for the main plan.
        gap_tol: relative optimality gap accepted as proven.
        compare: also plan each candidate cooling option alone.
        sweep: also sweep the rack pitch.

    Returns:
        The :class:`PlanResult`.

    Raises:
        PlanError: no layout satisfies the constraints; the message names the constraint and the
            shortfall.
    """
    deadline = time.perf_counter() + time_limit_s
    check_plan_size(scenario, time_limit_s)
    kwargs: dict[str, Any] = {"objective": objective, "years": years, "load_frac": load_frac}
    if inlet_max_c is not None:
        kwargs["inlet_max_c"] = inlet_max_c
    problem = build_problem(scenario, **kwargs)
    problem, sol, text, layout, summary, repairs = solve_and_verify(
        scenario, problem, load_frac=load_frac, time_limit_s=time_limit_s, gap_tol=gap_tol,
        deadline=deadline,
    )  # fmt: skip
    binding = binding_constraints(problem, sol.config_idx, sol.n)
    binding += configuration_sentences(problem, sol)
    notes = _notes(problem, summary, repairs)
    if not sol.proven_optimal:
        notes.append(
            f"the time limit ({time_limit_s:g} s) ended the search: the layout is the best "
            f"found, within {sol.gap_frac:.2%} of the proven bound; raise --time-limit to close "
            "the gap"
        )
    options: list[CoolingOption] = []
    if compare:
        options = compare_cooling(
            scenario,
            problem,
            load_frac=load_frac,
            time_limit_s=max(time_limit_s / 4, 5.0),
            gap_tol=gap_tol,
            deadline=deadline,
        )
        skipped = len(problem.techs) - len(options)
        if skipped:
            notes.append(
                f"{skipped} cooling option(s) not compared: the time limit ({time_limit_s:g} s) "
                "ran out before a layout was found for them; raise --time-limit to compare "
                "every option"
            )
        options.append(CoolingOption("optimal mix", True, "", summary, sol.gap_frac))
    result_sweep = _sweep(scenario, problem, sol, summary, load_frac) if sweep else None
    return PlanResult(
        scenario=scenario,
        problem=problem,
        solution=sol,
        layout_toml=text,
        layout=layout,
        summary=summary,
        binding=tuple(binding),
        options=tuple(options),
        sweep=result_sweep,
        repairs=repairs,
        notes=tuple(notes),
    )


def compare_cooling(
    scenario: Scenario,
    problem: PlanProblem,
    *,
    load_frac: float,
    time_limit_s: float,
    gap_tol: float,
    deadline: float | None = None,
) -> list[CoolingOption]:
    """Plan with each candidate cooling option alone (containment decided as usual).

    With a ``deadline``, each option gets at most its even share of the time left; options the
    time does not reach are left out (the caller notes how many).
    """
    out: list[CoolingOption] = []
    names = [t.name for t in problem.techs]
    for ti, name in enumerate(names):
        mask = np.zeros(len(names), dtype=bool)
        mask[ti] = True
        if deadline is not None:
            left = deadline - time.perf_counter()
            if left <= MIN_SOLVE_S:
                break
            time_limit_s = min(time_limit_s, left / (len(names) - ti))
        try:
            _, sol, _, _, summary, _ = solve_and_verify(
                scenario,
                problem,
                load_frac=load_frac,
                time_limit_s=time_limit_s,
                gap_tol=gap_tol,
                tech_mask=mask,
                label=f"{name} only",
                deadline=None if deadline is None else time.perf_counter() + time_limit_s,
            )
        except TimeLimitError:
            continue  # not compared: the caller notes how many the time did not reach
        except PlanError as err:
            out.append(CoolingOption(name, False, str(err), None))
            continue
        out.append(CoolingOption(name, True, "", summary, sol.gap_frac))
    return out


def _sweep(
    scenario: Scenario,
    problem: PlanProblem,
    sol: PlanSolution,
    summary: LayoutSummary,
    load_frac: float,
) -> SpacingSweep:
    n = sol.n
    af = problem.air_frac()
    design = np.array([s.design_power_w for s in problem.servers])
    breathes = np.array([t.air_breathing for t in problem.techs])
    air_heat = np.einsum("rtm,tm,m->r", n[:, breathes, :], af[breathes], design)
    used = n[:, breathes, :].sum(axis=(1, 2)) > 0
    cat = scenario.get_catalog()
    flows = np.array([cat.server(s.name).airflow_m3_per_s for s in problem.servers])
    airflow = n.sum(axis=1) @ flows
    rows = problem.positions.row_idx[used]
    n_rows = int(np.unique(rows).size) if rows.size else 1
    per_row = int(np.bincount(rows).max()) if rows.size else 1
    heat = float(air_heat[used].mean()) if used.any() else 0.0
    flow = float(airflow[used].mean()) if used.any() else float(flows[0])
    depth = problem.positions.rack_depth_m
    return sweep_spacing(
        scenario, n_rows=n_rows, racks_per_row=per_row, rack_air_heat_w=heat,
        rack_airflow_m3_per_s=flow, containment=summary.containment,
        supply_fixed_c=summary.supply_temp_c, inlet_max_c=problem.inlet_max_c,
        aisle_width_m=aisle_width_of(scenario, depth), rack_depth_m=depth,
        load_frac=load_frac,
    )  # fmt: skip


def _notes(problem: PlanProblem, summary: LayoutSummary, repairs: int) -> list[str]:
    out: list[str] = [problem.capex_note] if problem.capex_note else []
    missing = [t.name for t in problem.techs if not t.capex_given]
    if missing:
        out.append(
            "capex not given for " + ", ".join(missing) + " ([plan.capex] <tech>_jpy_per_"
            "rack or _jpy_per_kw): TCO counts their energy and demand charges only"
        )
    if repairs:
        out.append(
            f"the linear inlet model was corrected {repairs} time(s) with the layout's own "
            "airflows after full-physics verification"
        )
    v = summary.verified_full_load.hottest_inlet_c
    if np.isfinite(v) and v > problem.inlet_max_c + INLET_TOL_K:
        out.append(
            f"full physics puts the hottest inlet at {v:.1f} °C, above the "
            f"{problem.inlet_max_c:g} °C limit, after {repairs} correction(s)"
        )
    return out
