"""Planner benchmark: a 200-rack hall solved to proven optimality or a 1 % gap within 60 s.

The hall: 10 rows × 20 positions (200 candidate racks, open hot/cold aisles 1.8 m wide), 45 kW
rack feeds, 12 kPa floor, a fleet of 300 DGX H100 (2,400 GPUs, 3.1 MW nameplate), three candidate
cooling options with capex (raised-floor air at 0.5 M JPY per rack and 2 servers per rack, rear
doors at 8 M JPY and 4 per rack, direct liquid at 20 M JPY), a grid limit the cooling must
respect, 20 containment × set-point configurations. Cheap air racks recirculate hot air onto
their neighbours, so the optimum mixes air and rear-door racks and places them with the inlet
limit binding: the hard, thermal-aware case. Run:

    .venv/bin/python bench/bench_plan.py [--time-limit 60] [--gap 1e-4] [--servers 300]

It prints one JSON line: wall time, objective, bound, gap, programs solved, machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

SCENARIO = """
name = "bench-200-rack-hall"

[site]
name = "bench"
climate = "tokyo"
grid_limit_kw = {grid_kw}

[site.tariff]
energy_jpy_per_kwh = 13.0
fuel_adjustment_jpy_per_kwh = 2.67
renewable_surcharge_jpy_per_kwh = 4.18
demand_charge_jpy_per_kw_month = 1700

[hall]
length_m = 20.0
width_m = 32.0
floor_rating_kpa = 12.0
containment = "none"

[hall.rack_defaults]
power_limit_kw = 45.0
weight_limit_kg = 1400.0
empty_weight_kg = 150.0

[hall.grid]
rows = 10
racks_per_row = 20
rack_pitch_m = 0.6
row_pitch_m = 3.0
origin_x_m = 2.0
origin_y_m = 2.0

[power]
ups = "hyperscale"
redundancy = "N+1"
ups_capacity_kw = {ups_kw}

[cooling]
technology = "rear-door-hx"
supply_temp_c = 22.0
chiller = "energyplus-chiller"
economizer = "waterside"
liquid_supply_temp_c = 32.0

[[fleet]]
model = "dgx-h100"
count = {servers}

[plan]
candidate_cooling = {candidates}
objective = "tco"
years = 5.0

[plan.capex]
crac-raised-floor_jpy_per_rack = 500000
hot-aisle-containment_jpy_per_rack = 1500000
rear-door-hx_jpy_per_rack = {rdhx_jpy}
direct-liquid_jpy_per_rack = {dlc_jpy}
containment_jpy = 20000000
"""


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--servers", type=int, default=300)
    parser.add_argument("--gap", type=float, default=1e-4, help="gap at which HiGHS stops")
    parser.add_argument(
        "--cooling",
        default="crac-raised-floor,rear-door-hx,direct-liquid",
        help="comma-separated candidate cooling options",
    )
    parser.add_argument("--rdhx-capex", type=float, default=8.0e6, help="JPY per rear door")
    parser.add_argument("--dlc-capex", type=float, default=20.0e6, help="JPY per DLC rack")
    args = parser.parse_args()

    from kiban.plan.build import build_problem  # noqa: PLC0415
    from kiban.plan.solve import solve_plan  # noqa: PLC0415
    from kiban.spec import load_spec  # noqa: PLC0415

    nameplate_kw = args.servers * 10.2
    text = SCENARIO.format(
        servers=args.servers,
        grid_kw=round(nameplate_kw * 1.25),
        ups_kw=round(nameplate_kw * 1.05),
        rdhx_jpy=round(args.rdhx_capex),
        dlc_jpy=round(args.dlc_capex),
        candidates=json.dumps(args.cooling.split(",")),
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hall200.toml"
        path.write_text(text, encoding="utf-8")
        scenario = load_spec(path)
        t0 = time.perf_counter()
        problem = build_problem(scenario)
        t_build = time.perf_counter() - t0
        t1 = time.perf_counter()
        # The budget covers building and solving: the solver gets what the build left, less a
        # second of headroom (HiGHS checks its clock between nodes and may overrun slightly).
        budget = max(args.time_limit - t_build - 1.0, 1.0)
        sol = solve_plan(problem, time_limit_s=budget, gap_tol=args.gap)
        t_solve = time.perf_counter() - t1
    if sol is None:
        msg = "benchmark problem is infeasible"
        raise SystemExit(msg)
    n = sol.n
    out = {
        "benchmark": "plan-200-racks",
        "positions": problem.positions.n,
        "servers": args.servers,
        "configurations": len(problem.configs),
        "build_s": round(t_build, 3),
        "solve_s": round(t_solve, 3),
        "total_s": round(t_build + t_solve, 3),
        "objective_mjpy": round(sol.objective_value, 4),
        "dual_bound_mjpy": round(sol.dual_bound, 4),
        "gap_frac": sol.gap_frac,
        "proven_optimal": sol.proven_optimal,
        "programs": sol.n_programs,
        "racks_used": int((n.sum(axis=(1, 2)) > 0).sum()),
        "racks_by_tech": {
            t.name: int((n[:, i, :].sum(axis=1) > 0).sum()) for i, t in enumerate(problem.techs)
        },
        "chosen": problem.configs[sol.config_idx].label,
        "machine": f"{_cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "command": (
            f"bench/bench_plan.py --time-limit {args.time_limit:g} --gap {args.gap:g} "
            f"--servers {args.servers} --cooling {args.cooling}"
        ),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
