"""The planner's mixed-integer programs on small synthetic halls: optimality against brute force,
every constraint family, the configuration branch-and-bound, and the explanations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from kiban.catalog import default_catalog
from kiban.plan.explain import binding_constraints, explain_infeasible, predicted_inlet_c
from kiban.plan.problem import (
    PlanPositions,
    PlanProblem,
    PlanServer,
    PlanTech,
    ThermalConfig,
    rack_capacity,
)
from kiban.plan.solve import coefficients, solve_config, solve_plan
from kiban.units import G_STANDARD_M_PER_S2, S_PER_YEAR

CAPEX = {"crac-raised-floor": 0.5e6, "hot-aisle-containment": 1.5e6, "rear-door-hx": 4e6,
         "direct-liquid": 9e6, "immersion-1p": 12e6}  # fmt: skip


def make_problem(
    *,
    rows: int = 2,
    per_row: int = 4,
    count: int = 8,
    server: str = "dgx-h100",
    techs: tuple[str, ...] = ("crac-raised-floor", "rear-door-hx"),
    power_limit_w: float = 45_000.0,
    floor_kpa: float = 12.0,
    grid_w: float | None = None,
    ups_w: float | None = None,
    setpoints: tuple[float, ...] = (20.0, 24.0),
    recirc_k_per_w: float = 5e-5,
    objective: str = "tco",
) -> PlanProblem:
    """A toy hall: D couples each rack to itself and its row neighbours (K per W of air heat)."""
    cat = default_catalog()
    n = rows * per_row
    x = np.tile(np.arange(per_row) * 0.6, rows)
    y = np.repeat(np.arange(rows) * 3.0, per_row)
    row = np.repeat(np.arange(rows), per_row)
    nb = tuple(
        (r * per_row + i, r * per_row + i + 1) for r in range(rows) for i in range(per_row - 1)
    )
    pos = PlanPositions(
        names=tuple(f"R{i + 1:02d}" for i in range(n)), x_m=x, y_m=y, row_idx=row,
        power_limit_w=np.full(n, power_limit_w), weight_limit_kg=np.full(n, 1500.0),
        rack_units=np.full(n, 42), footprint_m2=np.full(n, 0.72), rack_empty_kg=np.full(n, 150.0),
        neighbours=nb, allowed=np.ones((n, len(techs)), dtype=bool),
    )  # fmt: skip
    s = cat.server(server)
    srv = PlanServer(
        name=s.name, count=count, n_gpus=s.n_gpus, design_power_w=s.max_power_w,
        mean_power_w=0.75 * s.max_power_w, weight_kg=s.weight_kg, rack_units=s.rack_units,
        is_rack_scale=s.is_rack_scale, footprint_m2=s.footprint_m2,
        liquid_capture_frac=s.liquid_capture_frac, max_inlet_temp_c=s.max_inlet_temp_c,
    )  # fmt: skip
    recs = [cat.cooling(t) for t in techs]
    pt = tuple(
        PlanTech(name=t.name, medium=t.medium, max_rack_power_w=t.max_rack_power_w,
                 liquid_capture_frac=t.liquid_capture_frac, capex_per_rack_jpy=CAPEX[t.name],
                 capex_given=True)
        for t in recs
    )  # fmt: skip
    dx = np.abs(x[:, None] - x[None, :])
    same_row = row[:, None] == row[None, :]
    d = recirc_k_per_w * np.where(same_row, np.exp(-dx / 0.9), 0.0)
    configs = []
    for sup in setpoints:
        cop = 0.0068 * sup**2 + 0.0008 * sup + 0.458
        cool = np.array([[1.0 / cop * (0.8 if t.medium != "air" or t.liquid_capture_frac else 1.0)
                          for t in recs]] * 3)  # fmt: skip
        cool[1] *= 1.2
        cool[2] *= 1.5
        configs.append(ThermalConfig(containment=False, supply_temp_c=sup,
                                     heat_distribution_k_per_w=d,
                                     tech_available=np.ones(len(techs), dtype=bool),
                                     cooling_w_per_w=cool))  # fmt: skip
    return PlanProblem(
        positions=pos, servers=(srv,), techs=pt, configs=tuple(configs), inlet_max_c=27.0,
        floor_rating_pa=floor_kpa * 1000.0, concentrated_load_limit_n=None, casters_per_rack=3,
        ups_usable_w=ups_w, grid_limit_w=grid_w, loss_fixed_w=1000.0, loss_frac=0.05,
        energy_price_jpy_per_j=20.0 / 3.6e6, demand_charge_jpy_per_w_year=20.0,
        co2_kg_per_j=0.45 / 3.6e6, years=5.0, objective=objective,  # type: ignore[arg-type]
    )  # fmt: skip


def brute_force_tco(problem: PlanProblem, k: int) -> float:
    """Enumerate every (tech, count) per position; return the least feasible TCO (million JPY)."""
    cap = rack_capacity(problem)
    co = coefficients(problem, k)
    cfg = problem.configs[k]
    srv = problem.servers[0]
    n_r, n_t = problem.positions.n, len(problem.techs)
    choices = [(None, 0)] + [(t, c) for t in range(n_t) for c in range(1, cap.n_max[0, t, 0] + 1)]
    years = problem.years
    best = math.inf
    for combo in itertools.product(choices, repeat=n_r):
        if sum(c for _, c in combo) != srv.count:
            continue
        n = np.zeros((n_r, n_t, 1), dtype=np.int64)
        for r, (t, c) in enumerate(combo):
            if t is not None:
                n[r, t, 0] = c
        if np.any(n[:, :, 0] > cap.n_max[:, :, 0]):
            continue
        t_in = predicted_inlet_c(problem, k, n)
        if np.nanmax(t_in) > problem.inlet_max_c + 1e-9:
            continue
        fixed = problem.loss_fixed_w
        mean = (
            float(np.einsum("rt,t->", n[:, :, 0], co["fac_mean"][:, 0])) * srv.mean_power_w + fixed
        )
        peak = (
            float(np.einsum("rt,t->", n[:, :, 0], co["fac_peak"][:, 0])) * srv.mean_power_w + fixed
        )
        capex = sum(problem.techs[t].capex_per_rack_jpy for t, c in combo if t is not None)
        tco = capex + years * (mean * S_PER_YEAR * problem.energy_price_jpy_per_j
                               + peak * problem.demand_charge_jpy_per_w_year)  # fmt: skip
        best = min(best, tco / 1e6 + cfg.fixed_capex_jpy / 1e6)
    return best


@pytest.mark.parametrize("count", [3, 6])
def test_milp_matches_brute_force(count):
    """On a 4-position hall the MILP optimum equals exhaustive enumeration (both set-points)."""
    problem = make_problem(rows=1, per_row=4, count=count, recirc_k_per_w=2e-4)
    for k in range(len(problem.configs)):
        r = solve_config(problem, k, gap_tol=1e-9)
        expected = brute_force_tco(problem, k)
        if math.isinf(expected):
            assert r.status == "infeasible"
        else:
            assert r.status == "optimal"
            assert r.objective == pytest.approx(expected, rel=1e-6)


def test_thermal_rows_bind_and_force_rear_doors():
    """Strong recirculation makes an all-air layout exceed the inlet limit at 24 °C supply; the
    planner then buys rear doors or lowers the set-point, and its inlets stay within the limit."""
    weak = make_problem(count=8, recirc_k_per_w=1e-6)
    strong = make_problem(count=8, recirc_k_per_w=3e-4)
    sol_w = solve_plan(weak)
    sol_s = solve_plan(strong)
    assert sol_w is not None
    assert sol_s is not None
    assert sol_w.proven_optimal
    assert sol_s.proven_optimal
    # With negligible recirculation the cheap air racks win at the warm set-point.
    assert sol_w.n[:, 0, :].sum() == 8
    assert weak.configs[sol_w.config_idx].supply_temp_c == 24.0
    assert sol_s.objective_value > sol_w.objective_value
    assert sol_s.n[:, 1, :].sum() > 0 or strong.configs[sol_s.config_idx].supply_temp_c < 24.0
    t_in = predicted_inlet_c(strong, sol_s.config_idx, sol_s.n)
    assert np.nanmax(t_in) <= strong.inlet_max_c + 1e-6


def test_floor_spreading_every_other_position():
    """GB200 NVL72 at 20.8 kPa on a 12 kPa floor needs an empty neighbour's footprint: a row of
    four holds two, and the explanation says so (physics.md §4.2)."""
    p = make_problem(rows=1, per_row=4, count=2, server="gb200-nvl72",
                     techs=("direct-liquid",), power_limit_w=132_000.0)  # fmt: skip
    sol = solve_plan(p)
    assert sol is not None
    used = sol.n.sum(axis=(1, 2)) > 0
    assert used.sum() == 2
    assert not any(used[i] and used[i + 1] for i in range(3))  # never side by side
    words = " ".join(binding_constraints(p, sol.config_idx, sol.n))
    assert "every other position" in words
    over = make_problem(rows=1, per_row=4, count=3, server="gb200-nvl72",
                        techs=("direct-liquid",), power_limit_w=132_000.0)  # fmt: skip
    assert solve_plan(over) is None
    why = " ".join(explain_infeasible(over))
    assert "floor" in why
    assert "short by 1" in why
    # Load over the footprint: 1,360 kg · g / 0.641 m² ≈ 20.8 kPa.
    assert 1360 * G_STANDARD_M_PER_S2 / 0.6408 / 1000 == pytest.approx(20.8, abs=0.05)


def test_positions_infeasible_explained():
    p = make_problem(rows=1, per_row=3, count=20)
    assert solve_plan(p) is None
    lines = explain_infeasible(p)
    text = " ".join(lines)
    assert "20 × dgx-h100 need at least 5 racks at 4 per rack" in text
    assert "3 usable positions" in text
    assert "short by 8 servers" in text


def test_grid_infeasible_explained_with_shortfall():
    p = make_problem(count=8, grid_w=80_000.0)
    assert solve_plan(p) is None
    text = " ".join(explain_infeasible(p))
    assert "grid limit of 80.0 kW" in text
    it_kw = 8 * 10.2
    assert f"{it_kw:,.1f} kW IT" in text
    short = float(text.split("short by ")[1].split(" kW")[0].replace(",", ""))
    assert short > it_kw - 80.0  # cooling and losses come on top of the IT shortfall


def test_ups_infeasible_explained():
    p = make_problem(count=8, ups_w=60_000.0)
    assert solve_plan(p) is None
    text = " ".join(explain_infeasible(p))
    assert "UPS" in text
    assert "short by 21.6 kW" in text


def test_binding_rack_power_limit_words():
    p = make_problem(count=6, techs=("rear-door-hx",), power_limit_w=40_000.0)
    sol = solve_plan(p)
    assert sol is not None
    words = binding_constraints(p, sol.config_idx, sol.n)
    assert any("40.0 kW rack power limit" in w and "3 × dgx-h100" in w for w in words)


def test_gpus_objective_fills_the_hall_under_the_grid():
    """``gpus`` maximizes GPUs; a grid limit caps them; the layout then has the lowest TCO."""
    free = make_problem(count=1, objective="gpus", techs=("rear-door-hx",))
    sol = solve_plan(free)
    assert sol is not None
    assert sol.objective_value == -8 * 4 * 8
    capped = make_problem(count=1, objective="gpus", techs=("rear-door-hx",), grid_w=200_000.0)
    sol2 = solve_plan(capped)
    assert sol2 is not None
    n_srv = int(sol2.n.sum())
    co = coefficients(capped, sol2.config_idx)
    fac = n_srv * 10_200.0 * float(co["fac_design"][0, 0]) + capped.loss_fixed_w
    assert fac <= 200_000.0 + 1e-6
    fac_more = (n_srv + 1) * 10_200.0 * float(co["fac_design"][0, 0]) + capped.loss_fixed_w
    assert fac_more > 200_000.0  # one more server would break the grid limit


def test_branch_and_bound_reports_bound_and_prunes():
    p = make_problem(count=8, setpoints=(18.0, 20.0, 22.0, 24.0, 26.0))
    sol = solve_plan(p)
    assert sol is not None
    assert sol.dual_bound <= sol.objective_value + 1e-9
    assert sol.gap_frac <= 1e-4
    statuses = {r.status for r in sol.per_config}
    assert statuses <= {"optimal", "pruned", "infeasible"}
    # Every configuration's bound is at least the global bound.
    assert all(r.bound >= sol.dual_bound - 1e-9 for r in sol.per_config)
