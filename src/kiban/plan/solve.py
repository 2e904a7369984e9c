"""Mixed-integer programs of the facility planner, solved with HiGHS (``scipy.optimize.milp``).

For one thermal configuration *k* (containment, supply set-point) the decisions are, for each
candidate position r, cooling option t and server model m: ``u[r,t,m]`` (binary: position r is a
rack cooled by t holding model m) and ``n[r,t,m]`` (integer: how many servers). Constraints, all
linear for fixed k:

- one option per position: ``Σ_{t,m} u[r,t,m] ≤ 1``;
- per-rack capacity: ``u ≤ n ≤ n_max[r,t,m]·u`` (rack height, rack power limit, cooling
  capacity per option, rack weight limit, concentrated floor load;
  :func:`~kiban.plan.problem.rack_capacity`);
- the fleet: ``Σ n[·,·,m] = count_m`` (for ``tco`` and ``pue``);
- distributed floor load: ``g·(m_frame·u + m_server·n) ≤ q_floor·(A_r·u + Σ_j A_j·s[r→j])`` where
  ``s[r→j] ∈ [0, 1]`` is the share of empty neighbour j's footprint lent to r and
  ``Σ_r s[r→j] + Σ u[j,·,·] ≤ 1`` (a tile carries its rating once);
- inlet temperature (Tang's heat-distribution model, linear in rack power at fixed set-point):
  ``T_sup + Σ_j D[r,j]·q_j ≤ T_max + M_r·(1 − U_r)`` with ``q_j = Σ a[t,m]·P_m·n[j,t,m]`` the
  room-air heat at design power and U_r the air-breathing use of position r;
- UPS capacity under redundancy: ``Σ P_m·n ≤ P_UPS,usable``;
- CDU capacity: ``Σ (1 − a)·P_m·n ≤ Q_CDU`` (heat into rack water paths);
- grid connection at the design day: ``Σ P_m·n·(1 + λ)·(1 + c_t) + P_loss,0 ≤ P_grid`` with
  λ the linearized power-chain loss and c_t the plant power per W of heat of option t;
- optional: most racks (``[plan].max_racks``) and a capital budget (``[plan].budget_jpy``).

The outer loop enumerates the configurations, orders them by their LP-relaxation bound and prunes
any whose bound cannot beat the incumbent; the global dual bound is the least bound of the
configurations not pruned, so the reported gap is a true optimality gap.

References:
    Tang, Gupta, Varsamopoulos, IEEE TPDS 19(11):1458–1472, 2008 (heat-distribution matrix D).
    Huangfu & Hall, "Parallelizing the dual revised simplex method", Math. Prog. Comp. 10, 2018
    (HiGHS).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from kiban._typing import FloatArray, IntArray
from kiban.errors import PlanError
from kiban.plan.problem import (
    DESIGN,
    MEAN,
    PEAK,
    PlanProblem,
    RackCapacity,
    ThermalConfig,
    rack_capacity,
)
from kiban.units import G_STANDARD_M_PER_S2, S_PER_YEAR

logger = logging.getLogger(__name__)

Family = Literal["floor", "thermal", "ups", "cdu", "grid", "fleet"]
ALL_FAMILIES: frozenset[Family] = frozenset({"floor", "thermal", "ups", "cdu", "grid", "fleet"})
ModeName = Literal["tco", "pue", "gpus", "max_servers", "min_design_power"]

JPY_PER_MJPY = 1.0e6
"""Objective scale for ``tco`` (million JPY), so HiGHS works with numbers near 1."""

ConfigStatus = Literal["optimal", "gap", "infeasible", "pruned", "no_solution"]


@dataclass(frozen=True)
class ConfigResult:
    """The outcome of one configuration's program.

    Attributes:
        config_idx: index into ``problem.configs``.
        status: ``optimal``, ``gap`` (time limit with an incumbent), ``infeasible``, ``pruned``
            (LP bound no better than the incumbent) or ``no_solution`` (time limit, none found).
        objective: objective value of the best solution found (``nan`` if none).
        bound: proven lower bound on this configuration's objective (``inf`` if infeasible).
        n: ``(R, T, M)`` server counts of the best solution, or None.
    """

    config_idx: int
    status: ConfigStatus
    objective: float
    bound: float
    n: IntArray | None = None


@dataclass(frozen=True)
class PlanSolution:
    """The planner's chosen layout and how well it is proven.

    Attributes:
        config_idx: chosen configuration.
        n: ``(R, T, M)`` servers per position, cooling option and model.
        objective_value: objective of the chosen layout (MJPY for tco, PUE, −GPUs for gpus).
        dual_bound: proven bound over all configurations.
        gap_frac: relative optimality gap, ``(objective − bound)/|objective|``.
        proven_optimal: gap within the requested tolerance.
        solve_s: wall time of all programs, s.
        per_config: each configuration's result.
        objective: the objective that was optimized.
        n_programs: programs (LP and MILP) solved.
    """

    config_idx: int
    n: IntArray
    objective_value: float
    dual_bound: float
    gap_frac: float
    proven_optimal: bool
    solve_s: float
    per_config: tuple[ConfigResult, ...]
    objective: str
    n_programs: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass
class _Program:
    """One assembled program: variables ``x = [u (V), n (V), s (S)]``."""

    c: FloatArray
    rows: list[sp.csr_matrix]
    lo: list[FloatArray]
    hi: list[FloatArray]
    integrality: FloatArray
    lb: FloatArray
    ub: FloatArray
    vr: IntArray
    vt: IntArray
    vm: IntArray
    n_spread: int
    const: float


def coefficients(problem: PlanProblem, k: int) -> dict[str, FloatArray]:
    """Return per-(t, m) linear coefficients of configuration k.

    Keys: ``air_frac`` (T, M); ``fac_mean``/``fac_peak``/``fac_design`` (T, M): facility power per W
    of IT power of model m on option t, ``(1 + λ)·(1 + c_t)`` with λ the linearized power-chain
    loss and c_t the cooling power per W of heat through option t (chain losses are cooled too),
    at the annual mean, the hottest month and the design day.
    """
    cfg = problem.configs[k]
    af = problem.air_frac()
    out: dict[str, FloatArray] = {"air_frac": af}
    n_m = len(problem.servers)
    for key, row in (("fac_mean", MEAN), ("fac_peak", PEAK), ("fac_design", DESIGN)):
        cool = np.repeat(cfg.cooling_w_per_w[row][:, None], n_m, axis=1)
        out[key] = (1.0 + problem.loss_frac) * (1.0 + cool)
    return out


def _variables(
    problem: PlanProblem, k: int, cap: RackCapacity, tech_mask: np.ndarray | None
) -> tuple[IntArray, IntArray, IntArray]:
    avail = problem.configs[k].tech_available.copy()
    if tech_mask is not None:
        avail &= tech_mask
    ok = (cap.n_max > 0) & avail[None, :, None]
    vr, vt, vm = np.nonzero(ok)
    return vr.astype(np.int64), vt.astype(np.int64), vm.astype(np.int64)


def _build(
    problem: PlanProblem,
    k: int,
    cap: RackCapacity,
    *,
    mode: ModeName,
    families: frozenset[Family],
    tech_mask: np.ndarray | None,
    min_gpus: float | None,
) -> _Program:
    pos = problem.positions
    cfg = problem.configs[k]
    vr, vt, vm = _variables(problem, k, cap, tech_mask)
    n_v = len(vr)
    n_r = pos.n
    co = coefficients(problem, k)
    design = np.array([s.design_power_w for s in problem.servers])
    mean = np.array([s.mean_power_w for s in problem.servers])
    weight = np.array([s.weight_kg for s in problem.servers])
    gpus = np.array([s.n_gpus for s in problem.servers], dtype=np.float64)
    counts = np.array([s.count for s in problem.servers], dtype=np.float64)
    rack_scale = np.array([s.is_rack_scale for s in problem.servers])
    nmax_v = cap.n_max[vr, vt, vm].astype(np.float64)
    p_v = design[vm]

    # Floor-spreading variables s[r→j] for positions whose full rack needs borrowed floor.
    spread_pos = np.zeros(n_r, dtype=bool)
    if "floor" in families:
        need = cap.spread_needed[vr, vt, vm]
        spread_pos[vr[need]] = True
    pairs: list[tuple[int, int]] = []
    for i, j in pos.neighbours:
        if spread_pos[i]:
            pairs.append((i, j))
        if spread_pos[j]:
            pairs.append((j, i))
    n_s = len(pairs)
    n_x = 2 * n_v + n_s
    iu = np.arange(n_v)
    inn = n_v + np.arange(n_v)

    rows: list[sp.csr_matrix] = []
    lo: list[FloatArray] = []
    hi: list[FloatArray] = []

    def add(mat: sp.coo_matrix | sp.csr_matrix, low: FloatArray, high: FloatArray) -> None:
        rows.append(sp.csr_matrix(mat))
        lo.append(np.asarray(low, dtype=np.float64))
        hi.append(np.asarray(high, dtype=np.float64))

    # One option per position.
    add(
        sp.coo_matrix((np.ones(n_v), (vr, iu)), shape=(n_r, n_x)),
        np.full(n_r, -np.inf),
        np.ones(n_r),
    )
    # n ≤ n_max·u and u ≤ n.
    link = sp.vstack(
        [
            sp.coo_matrix(
                (
                    np.r_[np.ones(n_v), -nmax_v],
                    (np.r_[np.arange(n_v), np.arange(n_v)], np.r_[inn, iu]),
                ),
                shape=(n_v, n_x),
            ),
            sp.coo_matrix(
                (
                    np.r_[np.ones(n_v), -np.ones(n_v)],
                    (np.r_[np.arange(n_v), np.arange(n_v)], np.r_[iu, inn]),
                ),
                shape=(n_v, n_x),
            ),
        ]
    )
    add(link, np.full(2 * n_v, -np.inf), np.zeros(2 * n_v))
    # The fleet.
    n_m = len(problem.servers)
    if "fleet" in families and mode in ("tco", "pue", "min_design_power"):
        add(sp.coo_matrix((np.ones(n_v), (vm, inn)), shape=(n_m, n_x)), counts, counts)
    elif mode == "max_servers":
        add(sp.coo_matrix((np.ones(n_v), (vm, inn)), shape=(n_m, n_x)), np.zeros(n_m), counts)
    if min_gpus is not None:
        add(
            sp.coo_matrix((gpus[vm], (np.zeros(n_v, dtype=np.int64), inn)), shape=(1, n_x)),
            np.array([min_gpus]),
            np.array([np.inf]),
        )

    # Distributed floor load with borrowed neighbour footprint.
    if n_s:
        g = G_STANDARD_M_PER_S2
        q = problem.floor_rating_pa
        frame_kg = np.where(rack_scale[vm], 0.0, pos.rack_empty_kg[vr])
        foot = np.where(
            rack_scale[vm],
            np.array([s.footprint_m2 for s in problem.servers])[vm],
            pos.footprint_m2[vr],
        )
        sel = spread_pos[vr]
        row_of = -np.ones(n_r, dtype=np.int64)
        row_of[np.nonzero(spread_pos)[0]] = np.arange(int(spread_pos.sum()))
        n_fr = int(spread_pos.sum())
        ri = np.r_[row_of[vr[sel]], row_of[vr[sel]], row_of[np.array([a for a, _ in pairs])]]
        ci = np.r_[iu[sel], inn[sel], 2 * n_v + np.arange(n_s)]
        val = np.r_[
            g * frame_kg[sel] - q * foot[sel],
            g * weight[vm[sel]],
            -q * pos.footprint_m2[np.array([b for _, b in pairs])],
        ]
        add(
            sp.coo_matrix((val, (ri, ci)), shape=(n_fr, n_x)),
            np.full(n_fr, -np.inf),
            np.zeros(n_fr),
        )
        lenders = sorted({b for _, b in pairs})
        lrow = {b: i for i, b in enumerate(lenders)}
        ri2 = [lrow[b] for _, b in pairs]
        ci2 = [2 * n_v + i for i in range(n_s)]
        for v in range(n_v):
            if int(vr[v]) in lrow:
                ri2.append(lrow[int(vr[v])])
                ci2.append(int(iu[v]))
        add(
            sp.coo_matrix((np.ones(len(ri2)), (ri2, ci2)), shape=(len(lenders), n_x)),
            np.full(len(lenders), -np.inf),
            np.ones(len(lenders)),
        )

    capex_v = (
        np.array([t.capex_per_rack_jpy for t in problem.techs])[vt]
        + problem.rack_capex_jpy
        + np.where(
            np.array([t.air_breathing for t in problem.techs])[vt] & cfg.containment,
            problem.containment_capex_per_rack_jpy,
            0.0,
        )
    )
    capex_n = np.array([t.capex_per_w_jpy for t in problem.techs])[vt] * p_v
    if problem.max_racks is not None:
        add(
            sp.coo_matrix((np.ones(n_v), (np.zeros(n_v, dtype=np.int64), iu)), shape=(1, n_x)),
            np.array([-np.inf]),
            np.array([float(problem.max_racks)]),
        )
    if problem.budget_jpy is not None:
        add(
            sp.coo_matrix(
                (np.r_[capex_v, capex_n], (np.zeros(2 * n_v, dtype=np.int64), np.r_[iu, inn])),
                shape=(1, n_x),
            ),
            np.array([-np.inf]),
            np.array([problem.budget_jpy - cfg.fixed_capex_jpy]),
        )

    # Inlet temperature under recirculation.
    if "thermal" in families:
        _thermal_rows(
            problem,
            cfg,
            co,
            vr=vr,
            vt=vt,
            vm=vm,
            p_v=p_v,
            nmax_v=nmax_v,
            iu=iu,
            inn=inn,
            n_x=n_x,
            add=add,
        )

    if "ups" in families and problem.ups_usable_w is not None:
        add(
            sp.coo_matrix((p_v, (np.zeros(n_v, dtype=np.int64), inn)), shape=(1, n_x)),
            np.array([-np.inf]),
            np.array([problem.ups_usable_w]),
        )
    if "cdu" in families and problem.cdu_capacity_w is not None:
        wet_v = p_v * (1.0 - co["air_frac"][vt, vm])
        add(
            sp.coo_matrix((wet_v, (np.zeros(n_v, dtype=np.int64), inn)), shape=(1, n_x)),
            np.array([-np.inf]),
            np.array([problem.cdu_capacity_w]),
        )
    design_fac_v = p_v * co["fac_design"][vt, vm]
    fixed_w = problem.loss_fixed_w + problem.misc_power_w
    if "grid" in families and problem.grid_limit_w is not None:
        add(
            sp.coo_matrix((design_fac_v, (np.zeros(n_v, dtype=np.int64), inn)), shape=(1, n_x)),
            np.array([-np.inf]),
            np.array([problem.grid_limit_w - fixed_w]),
        )

    # Objective.
    c = np.zeros(n_x)
    const = 0.0
    if mode == "tco":
        capex_v = (
            np.array([t.capex_per_rack_jpy for t in problem.techs])[vt] + problem.rack_capex_jpy
        )
        mean_fac_v = mean[vm] * co["fac_mean"][vt, vm]
        peak_fac_v = mean[vm] * co["fac_peak"][vt, vm]
        per_w_energy = problem.years * S_PER_YEAR * problem.energy_price_jpy_per_j
        per_w_demand = problem.years * problem.demand_charge_jpy_per_w_year
        c[iu] = capex_v / JPY_PER_MJPY
        c[inn] = (mean_fac_v * per_w_energy + peak_fac_v * per_w_demand) / JPY_PER_MJPY
        const = (cfg.fixed_capex_jpy + fixed_w * (per_w_energy + per_w_demand)) / JPY_PER_MJPY
    elif mode == "pue":
        it_mean = float(np.sum(counts * mean))
        c[inn] = mean[vm] * co["fac_mean"][vt, vm] / it_mean
        const = fixed_w / it_mean
    elif mode == "gpus":
        c[inn] = -gpus[vm]
    elif mode == "max_servers":
        c[inn] = -1.0
    elif mode == "min_design_power":
        c[inn] = design_fac_v
        const = fixed_w

    integrality = np.r_[np.ones(2 * n_v), np.zeros(n_s)]
    lb = np.zeros(n_x)
    ub = np.r_[np.ones(n_v), nmax_v, np.ones(n_s)]
    return _Program(
        c=c,
        rows=rows,
        lo=lo,
        hi=hi,
        integrality=integrality,
        lb=lb,
        ub=ub,
        vr=vr,
        vt=vt,
        vm=vm,
        n_spread=n_s,
        const=const,
    )


THERMAL_DROP_K = 1.0e-3
"""Entries of D·q_max below this (K) are left out of the inlet rows; the sum of what a row leaves
out is kept as a constant margin, so the rows stay conservative (at most a few hundredths of a
kelvin) while the matrix gets several times sparser."""


def _thermal_rows(
    problem: PlanProblem,
    cfg: ThermalConfig,
    co: dict[str, FloatArray],
    *,
    vr: IntArray,
    vt: IntArray,
    vm: IntArray,
    p_v: FloatArray,
    nmax_v: FloatArray,
    iu: IntArray,
    inn: IntArray,
    n_x: int,
    add: Callable[[sp.coo_matrix, FloatArray, FloatArray], None],
) -> None:
    """Add the inlet rows ``Σ_j D[r,j]·q_j + M_r·U_r ≤ T_max − T_sup + M_r``.

    One row per position r that can hold an air-breathing rack and could overheat.

    ``M_r`` leaves out r's own air-breathing heat (zero when r is not an air-breathing rack), which
    tightens the LP relaxation; entries below :data:`THERMAL_DROP_K` become a constant margin.
    """
    n_r = problem.positions.n
    d = cfg.heat_distribution_k_per_w
    airbreath = np.array([t.air_breathing for t in problem.techs])
    q_v = co["air_frac"][vt, vm] * p_v  # room-air heat per server at design power, W
    head = problem.inlet_max_c - cfg.supply_temp_c
    host = np.zeros(n_r, dtype=bool)
    host[vr[airbreath[vt]]] = True
    qmax_pos = np.zeros(n_r)
    np.maximum.at(qmax_pos, vr, q_v * nmax_v)
    qmax_wet = np.zeros(n_r)  # air heat of racks at r that have no inlet (immersion)
    wet = ~airbreath[vt]
    np.maximum.at(qmax_wet, vr[wet], (q_v * nmax_v)[wet])
    full = d @ qmax_pos
    rr = np.nonzero(host & (full - head > 1e-9))[0]
    if not len(rr):
        return
    diag = np.diagonal(d)
    big_m = np.maximum(full - diag * qmax_pos + diag * qmax_wet - head, 0.0)[rr]
    dense = d[np.ix_(rr, vr)] * q_v[None, :]
    small = dense * nmax_v[None, :] < THERMAL_DROP_K
    # Margin: what the dropped entries can add at most, one option per position.
    dropped = np.zeros((len(rr), n_r))
    for col in range(len(vr)):
        np.maximum(
            dropped[:, vr[col]],
            np.where(small[:, col], dense[:, col] * nmax_v[col], 0.0),
            out=dropped[:, vr[col]],
        )
    margin = dropped.sum(axis=1)
    keep = ~small & (dense > 0)
    r_i, v_i = np.nonzero(keep)
    vals = dense[keep]
    rindex = -np.ones(n_r, dtype=np.int64)
    rindex[rr] = np.arange(len(rr))
    own = np.nonzero(airbreath[vt])[0]
    own = own[rindex[vr[own]] >= 0]
    r_all = np.r_[r_i, rindex[vr[own]]]
    c_all = np.r_[inn[v_i], iu[own]]
    v_all = np.r_[vals, big_m[rindex[vr[own]]]]
    add(
        sp.coo_matrix((v_all, (r_all, c_all)), shape=(len(rr), n_x)),
        np.full(len(rr), -np.inf),
        head + big_m - margin,
    )


@dataclass(frozen=True)
class _Run:
    status: ConfigStatus
    objective: float
    bound: float
    x: FloatArray | None


def _run(prog: _Program, *, relax: bool, time_limit_s: float, gap_tol: float) -> _Run:
    if prog.c.size == 0:
        return _Run("infeasible", math.nan, math.inf, None)
    a = sp.vstack(prog.rows).tocsr() if prog.rows else sp.csr_matrix((0, prog.c.size))
    cons = LinearConstraint(a, np.concatenate(prog.lo), np.concatenate(prog.hi))
    integ = np.zeros_like(prog.integrality) if relax else prog.integrality
    res = milp(
        prog.c,
        constraints=cons,
        integrality=integ,
        bounds=Bounds(prog.lb, prog.ub),
        options={
            "time_limit": max(time_limit_s, 0.05),
            "mip_rel_gap": gap_tol,
            "presolve": True,
            "disp": False,
        },
    )
    if res.status == 2:  # infeasible
        return _Run("infeasible", math.nan, math.inf, None)
    if res.x is None:
        if res.status == 1:
            bound = getattr(res, "mip_dual_bound", None)
            return _Run(
                "no_solution",
                math.nan,
                -math.inf if bound is None else float(bound) + prog.const,
                None,
            )
        return _Run("infeasible", math.nan, math.inf, None)
    obj = float(res.fun) + prog.const
    if relax:
        return _Run("optimal", obj, obj, np.asarray(res.x))
    bound = getattr(res, "mip_dual_bound", None)
    bnd = obj if bound is None or not np.isfinite(bound) else float(bound) + prog.const
    bnd = min(bnd, obj)
    status: ConfigStatus = "optimal" if res.status == 0 else "gap"
    return _Run(status, obj, bnd, np.asarray(res.x))


def _counts(problem: PlanProblem, prog: _Program, x: FloatArray) -> IntArray:
    n_v = len(prog.vr)
    n = np.zeros((problem.positions.n, len(problem.techs), len(problem.servers)), dtype=np.int64)
    vals = np.rint(x[n_v : 2 * n_v]).astype(np.int64)
    n[prog.vr, prog.vt, prog.vm] = vals
    return n


def solve_config(
    problem: PlanProblem,
    k: int,
    *,
    mode: ModeName | None = None,
    families: frozenset[Family] = ALL_FAMILIES,
    tech_mask: np.ndarray | None = None,
    min_gpus: float | None = None,
    relax: bool = False,
    time_limit_s: float = 60.0,
    gap_tol: float = 1e-4,
    cap: RackCapacity | None = None,
) -> ConfigResult:
    """Solve the program of one configuration.

    Args:
        problem: the planning problem.
        k: configuration index.
        mode: objective (default: the problem's own); ``max_servers`` and ``min_design_power``
            serve the infeasibility explanations.
        families: constraint families to include (the per-position ones are always in).
        tech_mask: ``(T,)`` allowed cooling options (for the cooling comparison).
        min_gpus: lower bound on placed GPUs (second phase of the ``gpus`` objective).
        relax: solve the LP relaxation only.
        time_limit_s: HiGHS time limit.
        gap_tol: relative MIP gap at which HiGHS stops.
        cap: precomputed rack capacity.

    Returns:
        The configuration's result; ``n`` holds integer counts (rounded LP values when ``relax``).
    """
    cap = rack_capacity(problem) if cap is None else cap
    prog = _build(
        problem,
        k,
        cap,
        mode=mode or problem.objective,
        families=families,
        tech_mask=tech_mask,
        min_gpus=min_gpus,
    )
    run = _run(prog, relax=relax, time_limit_s=time_limit_s, gap_tol=gap_tol)
    n = None if run.x is None else _counts(problem, prog, run.x)
    return ConfigResult(
        config_idx=k, status=run.status, objective=run.objective, bound=run.bound, n=n
    )


def solve_plan(
    problem: PlanProblem,
    *,
    time_limit_s: float = 60.0,
    gap_tol: float = 1e-4,
    tech_mask: np.ndarray | None = None,
    mode: ModeName | None = None,
    families: frozenset[Family] = ALL_FAMILIES,
) -> PlanSolution | None:
    """Solve the planning problem over all configurations, pruning by LP bound.

    Each configuration's LP relaxation is solved first; configurations are then solved as MILPs in
    order of bound, and skipped once their bound cannot improve the incumbent by more than
    ``gap_tol``. The returned dual bound is the least bound over configurations not pruned.

    Args:
        problem: the planning problem.
        time_limit_s: total wall-time budget for all programs.
        gap_tol: relative optimality gap accepted as proven.
        tech_mask: ``(T,)`` allowed cooling options (None: all).
        mode: objective override.
        families: constraint families to include.

    Returns:
        The solution, or None when every configuration is infeasible (see
        :func:`kiban.plan.explain.explain_infeasible`).
    """
    t0 = time.perf_counter()
    mode = mode or problem.objective
    cap = rack_capacity(problem)
    results: dict[int, ConfigResult] = {}
    lp: list[tuple[float, int]] = []
    n_prog = 0
    for k in range(len(problem.configs)):
        remaining = time_limit_s - (time.perf_counter() - t0)
        r = solve_config(
            problem,
            k,
            mode=mode,
            families=families,
            tech_mask=tech_mask,
            relax=True,
            time_limit_s=remaining,
            gap_tol=gap_tol,
            cap=cap,
        )
        n_prog += 1
        if r.status == "infeasible":
            results[k] = r
        else:
            lp.append((r.bound, k))
    lp.sort()
    best: ConfigResult | None = None
    if mode == "gpus":
        best, n2 = _solve_gpus(
            problem, lp, results, cap, t0=t0, time_limit_s=time_limit_s, gap_tol=gap_tol,
            tech_mask=tech_mask, families=families,
        )  # fmt: skip
        n_prog += n2
    else:
        best, n2 = _branch_configs(
            problem, lp, results, cap, t0=t0, time_limit_s=time_limit_s, gap_tol=gap_tol,
            tech_mask=tech_mask, families=families, mode=mode,
        )  # fmt: skip
        n_prog += n2
    wall = time.perf_counter() - t0
    if best is None or best.n is None:
        timed_out = any(r.status == "no_solution" for r in results.values())
        if timed_out or len(results) < len(problem.configs) or wall >= time_limit_s:
            raise TimeLimitError(time_limit_message(problem, time_limit_s))
        return None
    per = tuple(results[k] for k in sorted(results))
    dual = min([best.objective] + [r.bound for r in per if r.status != "infeasible"])
    gap = (
        0.0 if best.objective == dual else (best.objective - dual) / max(abs(best.objective), 1e-12)
    )
    gap = max(gap, 0.0)
    return PlanSolution(
        config_idx=best.config_idx,
        n=best.n,
        objective_value=best.objective,
        dual_bound=dual,
        gap_frac=gap,
        proven_optimal=gap <= gap_tol + 1e-12,
        solve_s=wall,
        per_config=per,
        objective=mode,
        n_programs=n_prog,
    )


class TimeLimitError(PlanError):
    """The time limit ran out before any layout was found (not a proof that none exists)."""


def time_limit_message(problem: PlanProblem, time_limit_s: float) -> str:
    """Why no layout came back: the time ran out (not a proof that none exists), and what to cut.

    Args:
        problem: The planning problem.
        time_limit_s: The budget that ran out.

    Returns:
        One sentence with the problem's size and the levers.
    """
    r, t, m = problem.positions.n, len(problem.techs), len(problem.servers)
    return (
        f"no layout found within the time limit of {time_limit_s:g} s (the time ran out; this "
        f"does not prove that none exists): {r:,} candidate rack positions × {t} cooling "
        f"option(s) × {m} server model(s) in {len(problem.configs)} thermal configurations, "
        f"about {r * r * t * m:,} thermal coefficients per program; raise --time-limit, or "
        "plan fewer candidate positions (hall.grid rows × racks_per_row, e.g. one block of "
        "rows at a time), fewer cooling options or server models"
    )


FIRST_PASS_SHARE = 0.25
"""Share of the remaining time the first pass gives one configuration (or its even share of the
rest, if larger); the second pass returns to configurations whose bound is still open."""


def _branch_configs(
    problem: PlanProblem,
    lp: list[tuple[float, int]],
    results: dict[int, ConfigResult],
    cap: RackCapacity,
    *,
    t0: float,
    time_limit_s: float,
    gap_tol: float,
    tech_mask: np.ndarray | None,
    families: frozenset[Family],
    mode: ModeName,
) -> tuple[ConfigResult | None, int]:
    """Branch over configurations: MILPs in order of LP bound, pruning by the incumbent.

    Every configuration keeps its best proven bound (LP relaxation, then the MILP's dual bound).
    The first pass gives each open configuration a slice of the time; a second pass re-solves
    those whose bound still lies below the incumbent by more than ``gap_tol``, with all the time
    left, until the global gap closes or the time runs out.
    """
    n_prog = 0
    bound = {k: b for b, k in lp}
    best: ConfigResult | None = None

    def closes(k: int) -> bool:
        if best is None:
            return False
        return bound[k] >= best.objective - gap_tol * max(abs(best.objective), 1e-12)

    for pass_idx in (0, 1):
        open_k = [
            k
            for _, k in sorted((bound[k], k) for k in bound)
            if results.get(k) is None or results[k].status in ("gap", "no_solution")
        ]
        for i, k in enumerate(open_k):
            if closes(k):
                if k not in results or results[k].status != "optimal":
                    results[k] = ConfigResult(
                        k, "pruned", math.nan, bound[k], results[k].n if k in results else None
                    )
                continue
            remaining = time_limit_s - (time.perf_counter() - t0)
            if remaining <= 0.05:
                break
            left = len(open_k) - i
            if pass_idx == 0:
                slice_s = max(remaining / left, FIRST_PASS_SHARE * remaining)
            else:
                slice_s = remaining / left
            r = solve_config(
                problem,
                k,
                mode=mode,
                families=families,
                tech_mask=tech_mask,
                time_limit_s=slice_s,
                gap_tol=gap_tol,
                cap=cap,
            )
            n_prog += 1
            bound[k] = max(bound[k], r.bound) if r.status != "infeasible" else math.inf
            prev = results.get(k)
            if r.n is None and prev is not None and prev.n is not None:
                r = ConfigResult(k, prev.status, prev.objective, bound[k], prev.n)
            else:
                r = ConfigResult(k, r.status, r.objective, bound[k], r.n)
            results[k] = r
            if r.n is not None and (best is None or r.objective < best.objective):
                best = r
        if best is not None and all(
            closes(k)
            or (results.get(k) is not None and results[k].status in ("optimal", "infeasible"))
            for k in bound
        ):
            break
    for k, b in bound.items():  # never reached: their LP bound stands
        if k not in results:
            results[k] = ConfigResult(k, "no_solution", math.nan, b)
    return best, n_prog


def _solve_gpus(
    problem: PlanProblem,
    lp: list[tuple[float, int]],
    results: dict[int, ConfigResult],
    cap: RackCapacity,
    *,
    t0: float,
    time_limit_s: float,
    gap_tol: float,
    tech_mask: np.ndarray | None,
    families: frozenset[Family],
) -> tuple[ConfigResult | None, int]:
    """Most GPUs over all configurations, then the cheapest layout (TCO) with that many."""
    n_prog = 0
    phase1: dict[int, ConfigResult] = {}
    best_gpus: ConfigResult | None = None
    for bound_lp, k in lp:
        # Integral objective: a configuration must beat the incumbent by at least one GPU.
        if best_gpus is not None and math.ceil(bound_lp - 1e-6) >= best_gpus.objective:
            results[k] = ConfigResult(k, "pruned", math.nan, bound_lp)
            continue
        remaining = time_limit_s - (time.perf_counter() - t0)
        r = solve_config(
            problem,
            k,
            mode="gpus",
            families=families,
            tech_mask=tech_mask,
            time_limit_s=remaining,
            gap_tol=gap_tol,
            cap=cap,
        )
        n_prog += 1
        phase1[k] = r
        results[k] = r
        if r.n is not None and (best_gpus is None or r.objective < best_gpus.objective):
            best_gpus = r
    if best_gpus is None:
        return None, n_prog
    target = -best_gpus.objective
    best: ConfigResult | None = None
    for k, r in phase1.items():
        if r.n is None or -r.bound < target - 1e-6:
            continue
        remaining = time_limit_s - (time.perf_counter() - t0)
        r2 = solve_config(
            problem,
            k,
            mode="tco",
            families=families - {"fleet"},
            tech_mask=tech_mask,
            min_gpus=target,
            time_limit_s=remaining,
            gap_tol=gap_tol,
            cap=cap,
        )
        n_prog += 1
        if r2.n is not None and (best is None or r2.objective < best.objective):
            best = r2
    chosen = best if best is not None else best_gpus
    # Report the GPU objective (the primary one) with its proven bound.
    final = ConfigResult(
        chosen.config_idx,
        phase1[chosen.config_idx].status,
        best_gpus.objective,
        phase1[chosen.config_idx].bound,
        chosen.n,
    )
    return final, n_prog
