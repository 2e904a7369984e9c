"""Plain-word explanations: which constraints bind a plan, and why a request is infeasible.

Binding constraints are read off the solution (per-rack limits at capacity, floor borrowed from
empty neighbours, inlets at the limit, UPS and grid headroom). Infeasibility is explained by
adding the constraint families one at a time to a *max-servers* program (positions and per-rack
limits → floor → inlet temperature → UPS) and, for power, by the least design-day facility power
the fleet can have; the first family that loses servers (or power headroom) is the cause, and
the shortfall is the amount.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict

import numpy as np

from kiban._typing import FloatArray, IntArray
from kiban.plan.problem import LIMIT_WORDS, PlanProblem, RackCapacity, rack_capacity
from kiban.plan.solve import Family, PlanSolution, coefficients, solve_config
from kiban.units import G_STANDARD_M_PER_S2, PA_PER_KPA, W_PER_KW

_MAX_NAMES = 6


def _names(names: list[str]) -> str:
    if len(names) <= _MAX_NAMES:
        return ", ".join(names)
    return ", ".join(names[:_MAX_NAMES]) + f" and {len(names) - _MAX_NAMES} more"


def _count(n: int, word: str) -> str:
    """``1 rack``, ``3 racks``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _are(n: int) -> str:
    return "is" if n == 1 else "are"


def _kw(power_w: float) -> str:
    return f"{power_w / W_PER_KW:,.1f} kW"


def rack_heat_w(problem: PlanProblem, n: IntArray) -> tuple[FloatArray, FloatArray]:
    """Return (design power W, room-air heat W) of each position for counts ``n[r, t, m]``."""
    design = np.array([s.design_power_w for s in problem.servers])
    af = problem.air_frac()
    power = np.einsum("rtm,m->r", n, design)
    air = np.einsum("rtm,tm,m->r", n, af, design)
    return power, air


def predicted_inlet_c(problem: PlanProblem, k: int, n: IntArray) -> FloatArray:
    """Inlet temperature of each position under the planner's linear model, °C.

    T_in = T_sup + D·q with q the room-air heat of each rack at design power; NaN where the
    position is empty or holds an immersion tank (no air inlet).
    """
    cfg = problem.configs[k]
    _, air = rack_heat_w(problem, n)
    t_in = cfg.supply_temp_c + cfg.heat_distribution_k_per_w @ air
    breathes = np.array([t.air_breathing for t in problem.techs])
    used = n[:, breathes, :].sum(axis=(1, 2)) > 0
    return np.where(used, t_in, np.nan)


def binding_constraints(
    problem: PlanProblem,
    k: int,
    n: IntArray,
    *,
    cap: RackCapacity | None = None,
    inlet_tol_k: float = 0.05,
    headroom_frac: float = 0.02,
) -> list[str]:
    """Describe, in plain words, the constraints that hold the chosen layout where it is.

    Args:
        problem: the planning problem.
        k: chosen configuration.
        n: ``(R, T, M)`` chosen counts.
        cap: precomputed capacities.
        inlet_tol_k: an inlet within this of the limit counts as binding.
        headroom_frac: UPS or grid use within this share of the limit counts as binding.

    Returns:
        Sentences such as "rack R07 is at its 40.0 kW rack power limit (3 × dgx-h100 = 30.6 kW;
        one more would need 40.8 kW)".
    """
    cap = rack_capacity(problem) if cap is None else cap
    pos = problem.positions
    out: list[str] = []
    design = np.array([s.design_power_w for s in problem.servers])
    groups: dict[tuple[str, int, int, int], list[str]] = defaultdict(list)
    for r, t, m in zip(*np.nonzero(n), strict=True):
        cnt = int(n[r, t, m])
        if cnt >= cap.n_max[r, t, m]:
            groups[(str(cap.reason[r, t, m]), int(t), int(m), cnt)].append(pos.names[r])
    for (reason, t, m, cnt), racks in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        srv = problem.servers[m]
        tech = problem.techs[t]
        one_more = (cnt + 1) * srv.design_power_w
        subject = f"rack {racks[0]} is" if len(racks) == 1 else f"racks {_names(racks)} are"
        if reason == "power_limit":
            limit = float(pos.power_limit_w[pos.names.index(racks[0])])
            out.append(
                f"{subject} at the {_kw(limit)} rack power limit ({cnt} × {srv.name} = "
                f"{_kw(cnt * srv.design_power_w)}; one more would need {_kw(one_more)})"
            )
        elif reason == "cooling_capacity":
            out.append(
                f"{subject} at the {_kw(tech.max_rack_power_w)} practical limit of "
                f"{tech.name} ({cnt} × {srv.name} = {_kw(cnt * srv.design_power_w)}; "
                f"one more would need {_kw(one_more)})"
            )
        elif reason == "rack_units":
            out.append(
                f"{subject} full: {cnt} × {srv.rack_units} U {srv.name} in "
                f"{int(pos.rack_units[pos.names.index(racks[0])])} U"
            )
        elif reason == "rack_scale":
            continue
        else:
            out.append(f"{subject} at the {LIMIT_WORDS.get(reason, reason)} ({cnt} × {srv.name})")
    out += _floor_sentences(problem, n, cap)
    out += reach_sentences(problem, n)
    out += _thermal_sentences(problem, k, n, inlet_tol_k)
    power, _ = rack_heat_w(problem, n)
    it_w = float(power.sum())
    if problem.ups_usable_w is not None and it_w >= (1 - headroom_frac) * problem.ups_usable_w:
        out.append(
            f"UPS capacity: the racks draw {_kw(it_w)} at nameplate of the "
            f"{_kw(problem.ups_usable_w)} the UPS can carry under its redundancy"
        )
    if problem.grid_limit_w is not None:
        co = coefficients(problem, k)
        fac = float(np.einsum("rtm,tm,m->", n, co["fac_design"], design))
        fac += problem.loss_fixed_w + problem.misc_power_w
        if fac >= (1 - headroom_frac) * problem.grid_limit_w:
            out.append(
                f"grid connection: design-day facility power {_kw(fac)} of the "
                f"{_kw(problem.grid_limit_w)} limit"
            )
    used = int((n.sum(axis=(1, 2)) > 0).sum())
    if used == pos.n:
        out.append(f"all {pos.n} rack positions are used")
    return out


def _floor_sentences(problem: PlanProblem, n: IntArray, cap: RackCapacity) -> list[str]:
    pos = problem.positions
    used_r = n.sum(axis=(1, 2)) > 0
    out: list[str] = []
    g = G_STANDARD_M_PER_S2
    for m, srv in enumerate(problem.servers):
        heavy = [
            r
            for r in range(pos.n)
            if n[r, :, m].sum() > 0 and cap.spread_needed[r, int(np.argmax(n[r, :, m])), m]
        ]
        if not heavy:
            continue
        r0 = heavy[0]
        cnt = int(n[r0, :, m].sum())
        frame = 0.0 if srv.is_rack_scale else float(pos.rack_empty_kg[r0])
        load_kg = frame + cnt * srv.weight_kg
        foot = srv.footprint_m2 if srv.is_rack_scale else float(pos.footprint_m2[r0])
        kpa = load_kg * g / foot / PA_PER_KPA
        rating = problem.floor_rating_pa / PA_PER_KPA
        # Is every heavy rack separated from the next by an empty position?
        nbr: dict[int, list[int]] = defaultdict(list)
        for i, j in pos.neighbours:
            nbr[i].append(j)
            nbr[j].append(i)
        alternate = all(any(not used_r[j] for j in nbr[r]) for r in heavy)
        what = f"{cnt} × {srv.name}" if not srv.is_rack_scale else srv.name
        pattern = (
            "to every other position"
            if alternate and kpa <= 2 * rating
            else "to positions with empty neighbours"
        )
        out.append(
            f"floor load limits {srv.name} {pattern}: {what} weighs {load_kg:,.0f} kg, "
            f"{kpa:.1f} kPa over its {foot:.2f} m² footprint against the {rating:g} kPa "
            f"rating, so each such rack borrows the floor of an empty neighbour "
            f"({len(heavy)} racks)"
        )
    return out


def reach_sentences(problem: PlanProblem, n: IntArray) -> list[str]:
    """Cable and pipe limits that hold the layout, in plain words.

    The cable limit binds when it leaves some positions out and every position within it is
    used. The pipe limit binds when it leaves some (cable-reachable) positions out of liquid
    cooling and every position within it holds a water-cooled rack, or when no position is
    within it at all although water-cooled options are candidates.
    """
    pos = problem.positions
    used = n.sum(axis=(1, 2)) > 0
    out: list[str] = []
    cable_ok = np.ones(pos.n, dtype=bool) if pos.cable is None else pos.cable.within
    if pos.cable is not None:
        n_in = int(cable_ok.sum())
        if 0 < n_in < pos.n and bool(used[cable_ok].all()):
            out.append(
                f"power cable length from the feed limits the racks to the {n_in} positions "
                f"within {pos.cable.max_length_m:g} m of {pos.cable.source} (of {pos.n} "
                f"positions); all {n_in} are used"
            )
    piped = np.array([t.needs_pipe for t in problem.techs], dtype=bool)
    if pos.pipe is None or not piped.any():
        return out
    liquid = ", ".join(t.name for t in problem.techs if t.needs_pipe)
    within = pos.pipe.within & cable_ok
    beyond = ~pos.pipe.within & cable_ok
    if not beyond.any():
        return out
    n_in = int(within.sum())
    limit = f"{pos.pipe.max_length_m:g} m"
    if n_in == 0:
        nearest = float(pos.pipe.length_m[cable_ok].min()) if cable_ok.any() else math.nan
        out.append(
            f"pipe length from the CDU rules out liquid cooling ({liquid}): no usable position "
            f"is within {limit} of {pos.pipe.source} (the nearest is {nearest:.3g} m)"
        )
        return out
    wet = n[:, piped, :].sum(axis=(1, 2)) > 0
    if not bool(wet[within].all()):
        return out
    sentence = (
        f"pipe length from the CDU limits liquid cooling ({liquid}) to the {n_in} positions "
        f"within {limit} of {pos.pipe.source}; all {n_in} hold water-cooled racks"
    )
    far = used & beyond
    if far.any():
        air = sorted(
            {problem.techs[int(t)].name for r in np.nonzero(far)[0] for t in np.nonzero(n[r])[0]}
        )
        sentence += f", and the {int(far.sum())} racks beyond use {', '.join(air)}"
    out.append(sentence)
    return out


def _thermal_sentences(problem: PlanProblem, k: int, n: IntArray, tol_k: float) -> list[str]:
    cfg = problem.configs[k]
    t_in = predicted_inlet_c(problem, k, n)
    hot = [
        i
        for i in range(problem.positions.n)
        if np.isfinite(t_in[i]) and t_in[i] >= problem.inlet_max_c - tol_k
    ]
    if not hot:
        return []
    names = [problem.positions.names[i] for i in hot]
    rise = float(np.nanmax(t_in) - cfg.supply_temp_c)
    subject = (
        f"rack {names[0]}'s inlet is"
        if len(names) == 1
        else f"the inlets of racks {_names(names)} are"
    )
    return [
        f"{subject} at the {problem.inlet_max_c:g} °C limit ({cfg.label}; recirculation adds "
        f"{rise:.1f} K), so a higher supply set-point is not allowed"
    ]


def explain_infeasible(problem: PlanProblem, time_limit_s: float = 20.0) -> list[str]:
    """Say which constraint makes the request infeasible, and by how much.

    Families are added one at a time to a max-servers program (the best configuration for the
    family): positions and per-rack limits, then the floor, then inlet temperature, then the UPS.
    The first family that leaves servers unplaced is reported with its shortfall. If every server
    fits without the grid limit, the least design-day facility power of any layout is compared
    with the grid limit.

    Args:
        problem: the infeasible problem.
        time_limit_s: time budget for the diagnostic programs.

    Returns:
        One or more sentences, each naming a constraint and an amount.
    """
    cap = rack_capacity(problem)
    counts = np.array([s.count for s in problem.servers])
    total = int(counts.sum())
    pos = problem.positions
    out: list[str] = []
    design = np.array([s.design_power_w for s in problem.servers])

    # 1. Positions and per-rack limits (closed form per model).
    best_per_rack = cap.n_max.max(axis=1)  # (R, M)
    if len(problem.servers) == 1:
        per = best_per_rack[:, 0]
        capacity = int(per.sum())
        if capacity < total:
            reach = _reach_shortfall(problem, cap, total)
            if reach is not None:
                return [reach]
            srv = problem.servers[0]
            k_best = int(per.max()) if per.size else 0
            if k_best == 0:
                return [_nothing_fits(problem, cap, 0)]
            r_best = int(np.argmax(per))
            t_best = int(np.argmax(cap.n_max[r_best, :, 0]))
            why = LIMIT_WORDS.get(str(cap.reason[r_best, t_best, 0]), "per-rack limits")
            usable = int((per > 0).sum())
            need = math.ceil(total / k_best)
            out.append(
                f"{total} × {srv.name} need at least {need} racks at {k_best} per rack "
                f"(limited by the {why}), but the hall has {usable} usable positions "
                f"(of {pos.n}): room for {capacity}, short by {total - capacity} servers"
            )
            return out
    families: list[tuple[Family, ...]] = [
        (),
        ("floor",),
        ("floor", "thermal"),
        ("floor", "thermal", "ups"),
        ("floor", "thermal", "ups", "cdu"),
    ]
    for fams in families:
        placed = _max_servers(problem, frozenset(fams), cap, time_limit_s / 5)
        if placed < total:
            if not fams and _has_reach(problem):
                free = _without_reach(problem)
                placed_free = _max_servers(free, frozenset(), rack_capacity(free), time_limit_s / 5)
                if placed_free > placed:
                    out.append(_reach_family_sentence(problem, placed, placed_free, total))
                    return out
            out.append(_family_sentence(problem, fams, placed, total, cap))
            return out
    # 2. Power: least design-day facility power without the grid limit.
    if problem.grid_limit_w is not None:
        least = math.inf
        k_least = -1
        for k in range(len(problem.configs)):
            r = solve_config(
                problem,
                k,
                mode="min_design_power",
                families=frozenset({"floor", "thermal", "ups", "fleet"}),
                time_limit_s=time_limit_s / max(len(problem.configs), 1),
                cap=cap,
            )
            if r.n is not None and r.objective < least:
                least, k_least = r.objective, k
        if math.isfinite(least) and least > problem.grid_limit_w:
            it_w = float(np.sum(counts * design))
            short = least - problem.grid_limit_w
            cfg = problem.configs[k_least]
            out.append(
                f"the fleet needs {_kw(it_w)} IT at nameplate, and at best "
                f"{_kw(least - it_w)} more for cooling and power-chain losses on the design "
                f"day ({cfg.label}): {_kw(least)} against the grid limit of "
                f"{_kw(problem.grid_limit_w)}, short by {_kw(short)}"
            )
            return out
    out.append(
        "no layout satisfies every constraint together, although each family alone can "
        "be met; try relaxing the grid limit, the inlet limit or the floor rating"
    )
    return out


_REACH_KEYS = ("cable_length", "pipe_length", "distance")


def _has_reach(problem: PlanProblem) -> bool:
    return problem.positions.cable is not None or problem.positions.pipe is not None


def _without_reach(problem: PlanProblem) -> PlanProblem:
    """The same problem without cable and pipe limits (for the shortfall they cause)."""
    pos = dataclasses.replace(
        problem.positions,
        allowed=np.ones_like(problem.positions.allowed),
        cable=None,
        pipe=None,
    )
    return dataclasses.replace(problem, positions=pos)


def _n_max_without(cap: RackCapacity, skip: tuple[str, ...]) -> IntArray:
    """``(R, T, M)`` capacity under every limit except those named in ``skip``."""
    kept = [v for k, v in cap.by_limit.items() if k not in skip]
    return np.min(np.stack(kept), axis=0)


def _reach_shortfall(problem: PlanProblem, cap: RackCapacity, total: int) -> str | None:
    """For one server model: the cable or pipe limit as the cause, with the shortfall."""
    pos = problem.positions
    if not _has_reach(problem):
        return None
    free = _n_max_without(cap, _REACH_KEYS)[:, :, 0]  # (R, T)
    per_free = free.max(axis=1)
    if int(per_free.sum()) < total:
        return None  # the hall is too small even without the limits
    srv = problem.servers[0]
    k_best = int(per_free.max())
    r_best = int(np.argmax(per_free))
    t_best = int(np.argmax(free[r_best]))
    kept = {k: v for k, v in cap.by_limit.items() if k not in _REACH_KEYS}
    why = min(kept, key=lambda k: int(kept[k][r_best, t_best, 0]))
    need = math.ceil(total / k_best)
    fleet = (
        f"the fleet needs at least {need} racks ({total} × {srv.name} at {k_best} per rack, "
        f"limited by the {LIMIT_WORDS.get(why, why)})"
    )
    if pos.cable is not None:
        per_cable = _n_max_without(cap, ("pipe_length", "distance"))[:, :, 0].max(axis=1)
        room = int(per_cable.sum())
        if room < total:
            n_in = int(pos.cable.within.sum())
            short = (
                f"short by {_count(need - n_in, 'rack')} ({_count(total - room, 'server')})"
                if need > n_in
                else f"room for {room}: short by {_count(total - room, 'server')}"
            )
            nearest_m = float(pos.cable.length_m.min())
            nearest = f" (the nearest is {nearest_m:.3g} m)" if not n_in else ""
            return (
                f"power cable length: only {n_in} of {pos.n} positions {_are(n_in)} within "
                f"{pos.cable.max_length_m:g} m of cable from {pos.cable.source}{nearest}; "
                f"{fleet}: {short}"
            )
    if pos.pipe is None:
        return None
    cable_ok = np.ones(pos.n, dtype=bool) if pos.cable is None else pos.cable.within
    n_in = int((pos.pipe.within & cable_ok).sum())
    liquid = ", ".join(t.name for t in problem.techs if t.needs_pipe) or "none"
    capacity = int(cap.n_max[:, :, 0].max(axis=1).sum())
    dry = [t for t, tech in enumerate(problem.techs) if not tech.needs_pipe]
    room_dry = int(free[:, dry].max(axis=1).sum()) if dry else 0
    lead = (
        f"pipe length from the CDU: liquid cooling ({liquid}) reaches only {n_in} of {pos.n} "
        f"positions (within {pos.pipe.max_length_m:g} m of pipe from {pos.pipe.source})"
    )
    if room_dry == 0:
        short = (
            f"short by {_count(need - n_in, 'rack')} ({_count(total - capacity, 'server')})"
            if need > n_in
            else f"room for {capacity}: short by {_count(total - capacity, 'server')}"
        )
        return f"{lead}; {srv.name} needs liquid cooling here, and {fleet}: {short}"
    air = " or ".join(problem.techs[t].name for t in dry)
    return (
        f"{lead}; with {air} at the other positions the hall holds {capacity} of {total} × "
        f"{srv.name}: short by {_count(total - capacity, 'server')}"
    )


def _reach_family_sentence(problem: PlanProblem, placed: int, placed_free: int, total: int) -> str:
    pos = problem.positions
    limits = [
        f"{r.max_length_m:g} m of {r.kind} from {r.source}"
        for r in (pos.cable, pos.pipe)
        if r is not None
    ]
    names = "/".join(s.name for s in problem.servers)
    what = " and ".join(r.kind for r in (pos.cable, pos.pipe) if r is not None)
    return (
        f"{what} length ({'; '.join(limits)}): the positions within reach hold only "
        f"{placed} of {total} × {names} (without these limits {placed_free}): short by "
        f"{_count(total - placed, 'server')}"
    )


def _nothing_fits(problem: PlanProblem, cap: RackCapacity, m: int) -> str:
    srv = problem.servers[m]
    # Report the tightest reason at the best position/option.
    reasons: dict[str, int] = defaultdict(int)
    for r in range(problem.positions.n):
        for t in range(len(problem.techs)):
            reasons[str(cap.reason[r, t, m])] += 1
    why = "incompatible" if "incompatible" in reasons else max(reasons, key=lambda k: reasons[k])
    words = LIMIT_WORDS.get(why, why)
    detail = ""
    if why == "power_limit":
        detail = (
            f": one {srv.name} needs {_kw(srv.design_power_w)} but racks allow "
            f"{_kw(float(problem.positions.power_limit_w.max()))}"
        )
    elif why in ("floor_distributed", "floor_concentrated", "weight_limit"):
        detail = f": one {srv.name} weighs {srv.weight_kg:,.0f} kg"
    elif why == "incompatible":
        detail = (
            f": {srv.name} sends {srv.liquid_capture_frac:.0%} of its heat to its own cold "
            f"plates and needs a liquid loop (direct-liquid); the options here are "
            f"{', '.join(t.name for t in problem.techs)}"
        )
    elif why == "cooling_capacity":
        detail = (
            f": one {srv.name} needs {_kw(srv.design_power_w)}, more than any cooling "
            f"option's per-rack limit"
        )
    return f"not even one {srv.name} fits any position: {words}{detail}"


def _max_servers(
    problem: PlanProblem, fams: frozenset[Family], cap: RackCapacity, time_limit_s: float
) -> int:
    best = 0
    configs = range(len(problem.configs)) if "thermal" in fams else [0]
    for k in configs:
        r = solve_config(
            problem,
            k,
            mode="max_servers",
            families=fams,
            cap=cap,
            time_limit_s=time_limit_s / max(len(configs), 1),
        )
        if r.n is not None:
            best = max(best, int(r.n.sum()))
    return best


def _family_sentence(
    problem: PlanProblem, fams: tuple[Family, ...], placed: int, total: int, cap: RackCapacity
) -> str:
    short = total - placed
    names = "/".join(s.name for s in problem.servers)
    if not fams:
        return (
            f"positions and per-rack limits hold only {placed} of {total} × {names} "
            f"(hall of {problem.positions.n} positions): short by {short} servers"
        )
    last = fams[-1]
    if last == "floor":
        srv = problem.servers[0]
        pos = problem.positions
        frame = 0.0 if srv.is_rack_scale else float(pos.rack_empty_kg.max())
        foot = srv.footprint_m2 if srv.is_rack_scale else float(pos.footprint_m2.min())
        per = max(int(cap.n_max[:, :, 0].max()), 1)
        load = frame + per * srv.weight_kg
        kpa = load * G_STANDARD_M_PER_S2 / foot / PA_PER_KPA
        return (
            f"floor load: a rack of {per} × {srv.name} weighs {load:,.0f} kg = {kpa:.1f} kPa "
            f"over {foot:.2f} m² against the {problem.floor_rating_pa / PA_PER_KPA:g} kPa "
            f"rating, so racks need empty neighbours; the floor holds only {placed} of "
            f"{total} servers: short by {short}"
        )
    if last == "thermal":
        lo = min(c.supply_temp_c for c in problem.configs)
        return (
            f"inlet temperature: with heat recirculation, even at the lowest set-point "
            f"({lo:g} °C) and the best containment only {placed} of {total} servers keep "
            f"every inlet at or below {problem.inlet_max_c:g} °C: short by {short}"
        )
    design = np.array([s.design_power_w for s in problem.servers])
    if last == "cdu":
        cdu = problem.cdu_capacity_w or 0.0
        return (f"CDU capacity: the racks' water paths would take more than the "
                f"{_kw(cdu)} the CDUs carry; only {placed} of {total} servers fit: short by "
                f"{short}")  # fmt: skip
    counts = np.array([s.count for s in problem.servers])
    it_w = float(np.sum(counts * design))
    ups = problem.ups_usable_w or 0.0
    return (
        f"UPS capacity: the fleet needs {_kw(it_w)} at nameplate but the UPS carries "
        f"{_kw(ups)} under its redundancy: short by {_kw(it_w - ups)} "
        f"({short} servers cannot be powered)"
    )


def configuration_sentences(problem: PlanProblem, solution: PlanSolution) -> list[str]:
    """Why the chosen set-point and containment, in plain words.

    Compares the chosen configuration with the next warmer set-point (same containment) and
    with the other containment choice (same set-point), using each configuration's result:
    infeasible, worse by a proven amount, or pruned by its bound.
    """
    cfg = problem.configs[solution.config_idx]
    per = {r.config_idx: r for r in solution.per_config}
    out: list[str] = []
    warmer = [
        (c.supply_temp_c, k)
        for k, c in enumerate(problem.configs)
        if c.containment == cfg.containment and c.supply_temp_c > cfg.supply_temp_c
    ]
    tol = 1e-6 * max(abs(solution.objective_value), 1.0)

    def amount(diff: float) -> str:
        if solution.objective == "tco":
            return f"{diff * 1.0e6:,.0f} JPY over the horizon"
        if solution.objective == "pue":
            return f"{diff:.4f} in PUE"
        return f"{diff:.0f} GPUs"

    if warmer:
        _, k = min(warmer)
        nxt = problem.configs[k]
        res = per.get(k)
        if res is None or res.status == "infeasible":
            t_in = predicted_inlet_c(problem, solution.config_idx, solution.n)
            rise = float(np.nanmax(t_in)) - cfg.supply_temp_c if np.isfinite(t_in).any() else 0.0
            out.append(
                f"supply set-point {cfg.supply_temp_c:g} °C: at {nxt.supply_temp_c:g} °C no "
                f"layout keeps every inlet at or below {problem.inlet_max_c:g} °C (recirculation "
                f"adds {rise:.2f} K to the hottest inlet here)"
            )
        elif math.isfinite(res.bound) and res.bound > solution.objective_value + tol:
            diff = res.bound - solution.objective_value
            out.append(
                f"supply set-point {cfg.supply_temp_c:g} °C: {nxt.supply_temp_c:g} °C is worse "
                f"by at least {amount(diff)} (the inlet limit forces dearer cooling or placement "
                "there)"
            )
    other = [
        k
        for k, c in enumerate(problem.configs)
        if c.containment != cfg.containment and c.supply_temp_c == cfg.supply_temp_c
    ]
    if other:
        res = per.get(other[0])
        alt = "hot-aisle containment" if not cfg.containment else "open aisles"
        if res is None or res.status == "infeasible":
            out.append(
                f"with {alt} instead, no layout at {cfg.supply_temp_c:g} °C supply meets the "
                f"{problem.inlet_max_c:g} °C inlet limit with the cooling options available there"
            )
        elif math.isfinite(res.bound) and res.bound > solution.objective_value + tol:
            diff = res.bound - solution.objective_value
            out.append(f"{alt} would be worse by at least {amount(diff)}")
    return out
