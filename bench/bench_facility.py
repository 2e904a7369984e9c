"""Cost of one facility step, measured on its own (issue 10: "the facility step's cost separately").

One step does what the coupled run does every facility interval (e.g. 60 s):

* draw one activity sample per running job and turn the phase mix into board power
  (:mod:`kiban.physics.activity`), for every GPU;
* server fan speed and airflow demand per node, summed per rack;
* the room (capacity, RC step, airflow deficit per aisle: :func:`facility_step`);
* die/HBM temperature, clock ceiling and reason bits of every GPU (:func:`chip_state`);
* the power-budget controller over rack → row → site (:class:`PowerBudgetController`).

Sizes: the 512-GPU hall (64 DGX H100 in 16 racks of 4), 2,490 GPUs (Philly's count)
and 100,000 GPUs. Reports microseconds per step and what that costs over a 30-day run at 60 s.

It also times the coupled twin's site grid limit, priced at every facility step: the plant of
``examples/hall-512-h100-rdhx.toml`` and ``examples/philly.toml`` through
:meth:`~kiban.sim.facility.PlantFacility.power_w` on one-element arrays (before) and through a
:class:`~kiban.sim.facility.PlantPricer` (after: the same numbers), interleaved, µs per call.
The steps of a real run are timed by ``bench_replay.py`` and ``bench_scale.py --facility
coupled``.

Usage::

    .venv/bin/python bench/bench_facility.py [--json bench/results/facility.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from kiban.catalog import default_catalog
from kiban.physics import activity, budget, facility_dynamics
from kiban.physics.server_power import fan_speed_frac

SIZES = {"hall-512": 512, "philly-2490": 2_490, "scale-100k": 100_000}
GPUS_PER_NODE = 8
NODES_PER_RACK = 4
STEPS = 200


def build(n_gpus: int, rng: np.random.Generator):
    """Arrays of one hall of ``n_gpus`` DGX H100 GPUs with one job per node."""
    n_nodes = n_gpus // GPUS_PER_NODE
    n_racks = max(1, n_nodes // NODES_PER_RACK)
    node_rack = np.arange(n_nodes) // NODES_PER_RACK % n_racks
    n_aisles = max(1, n_racks // 10)
    n_units = max(2, n_racks // 5)
    share = np.full((n_units, n_aisles), 1.0 / n_aisles)
    c = facility_dynamics.room_heat_capacity_j_per_k(3.5 * 2.0 * n_racks, 700.0 * n_racks)
    hall = facility_dynamics.HallAir(
        rack_aisle=np.arange(n_racks) % n_aisles,
        n_aisles=n_aisles,
        crah_airflow_m3_per_s=np.full(n_units, 10.0),
        crah_capacity_w=np.full(n_units, 200e3),
        crah_aisle_share=share,
        bypass_frac=0.15,
        air_capacity_j_per_k=float(c[0]),
        solid_capacity_j_per_k=float(c[1]),
        exchange_w_per_k=2e4,
        chiller_capacity_w=n_racks * 45e3,
        dry_cooler_capacity_w=0.0,
        dry_cooler_itd_k=12.0,
        water_return_temp_c=18.0,
        supply_setpoint_c=20.0,
    )
    levels = (
        budget.BudgetLevel("rack", node_rack, np.full(n_racks, 40e3)),
        budget.BudgetLevel("site", np.zeros(n_nodes, dtype=np.int64), np.array([n_nodes * 9e3])),
    )
    fit = activity.fitted_activity()
    jobs = {
        "busy_mean": activity.draw_job_busy_mean(rng, np.full(n_nodes, 8), fit),
        "eps": activity.draw_power_factor(rng, n_nodes),
        "a": np.full(n_nodes, 0.95),
    }
    return hall, levels, node_rack, n_racks, jobs, fit


def one_step(ctx, room, rng, dt_s=60.0):
    """Everything one facility step evaluates (see the module docstring)."""
    hall, _levels, node_rack, n_racks, jobs, fit, sku, server, ctl = ctx
    n_nodes = node_rack.size
    u = activity.draw_minute_busy(rng, jobs["busy_mean"], fit)
    sh = activity.phase_shares(u, 8)
    pp = activity.phase_power(sh, jobs["a"], jobs["eps"], sku.tdp_w, sku)
    gpu_node_w = pp.power_w * GPUS_PER_NODE
    inlet_node = np.full(n_nodes, float(room.air_temp_c))
    fan = fan_speed_frac(gpu_node_w / (GPUS_PER_NODE * sku.tdp_w), inlet_node, server)
    flow = facility_dynamics.server_airflow_m3_per_s(fan, server.airflow_m3_per_s)
    wall = gpu_node_w / server.psu_efficiency_frac + server.host_idle_power_w
    allowed = ctl.step(wall, np.full(n_nodes, 2500.0), np.zeros(n_nodes, dtype=np.int64), dt_s)
    rack_w = np.bincount(node_rack, weights=allowed, minlength=n_racks)
    rack_flow = np.bincount(node_rack, weights=flow, minlength=n_racks)
    fs = facility_dynamics.facility_step(
        hall, room, rack_w, rack_flow, 25.0, np.zeros(hall.crah_capacity_w.size, bool), 1.0, dt_s
    )
    inlet = fs.room.air_temp_c + fs.rack_deficit_rise_k[node_rack]
    gpu_inlet = np.repeat(inlet, GPUS_PER_NODE)
    gpu_w = np.repeat(pp.power_w, GPUS_PER_NODE)
    facility_dynamics.chip_state(gpu_inlet, gpu_w, sku, power_limit_w=sku.tdp_w)
    return fs.room


def measure(name: str, n_gpus: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    hall, levels, node_rack, n_racks, jobs, fit = build(n_gpus, rng)
    cat = default_catalog()
    ctx = (
        hall,
        levels,
        node_rack,
        n_racks,
        jobs,
        fit,
        cat.gpu("h100-sxm"),
        cat.server("dgx-h100"),
        budget.PowerBudgetController(levels),
    )
    room = facility_dynamics.RoomState(np.asarray(20.0), np.asarray(20.0))
    for _ in range(5):
        room = one_step(ctx, room, rng)
    t0 = time.perf_counter()
    for _ in range(STEPS):
        room = one_step(ctx, room, rng)
    per_step_s = (time.perf_counter() - t0) / STEPS
    steps_30d = 30 * 86_400 / 60.0
    return {
        "case": name,
        "n_gpus": n_gpus,
        "us_per_step": per_step_s * 1e6,
        "s_per_30_days_at_60s": per_step_s * steps_30d,
    }


def site_limit_pricing(rounds: int = 5, calls: int = 400) -> list[dict[str, float | str]]:
    """µs per site-limit pricing: PlantFacility.power_w vs PlantPricer.power_w, interleaved."""
    from kiban.results import prepare_scenario  # noqa: PLC0415
    from kiban.spec import load_spec  # noqa: PLC0415

    repo = Path(__file__).resolve().parents[1]
    rows: list[dict[str, float | str]] = []
    for example in ("hall-512-h100-rdhx.toml", "philly.toml"):
        prepared = prepare_scenario(load_spec(repo / "examples" / example))
        plant = getattr(prepared.facility, "_plant", prepared.facility)
        t_s, supply_c = 5.0e6, 22.0
        pricer = plant.pricer(t_s, supply_c)
        old: list[float] = []
        new: list[float] = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            for k in range(calls):
                plant.power_w(np.array([4e5 + k]), np.array([t_s]), np.array([supply_c]))
            t1 = time.perf_counter()
            for k in range(calls):
                pricer.power_w(4e5 + k)
            t2 = time.perf_counter()
            old.append((t1 - t0) / calls * 1e6)
            new.append((t2 - t1) / calls * 1e6)
        rows.append(
            {
                "case": f"site-limit {example.removesuffix('.toml')}",
                "power_w_us": min(old),
                "pricer_us": min(new),
                "ratio": min(old) / min(new),
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows = [measure(k, v) for k, v in SIZES.items()]
    for r in rows:
        print(
            f"{r['case']:>12}: {r['us_per_step']:10.1f} µs/step, "
            f"{r['s_per_30_days_at_60s']:8.1f} s per 30 days at 60 s steps"
        )
    pricing = site_limit_pricing()
    for r in pricing:
        print(
            f"{r['case']}: PlantFacility.power_w {r['power_w_us']:.0f} µs, "
            f"PlantPricer {r['pricer_us']:.0f} µs per call ({r['ratio']:.2f}×)"
        )
    if args.json:
        load = os.getloadavg()
        args.json.write_text(
            json.dumps({"load_avg": load, "rows": rows, "site_limit": pricing}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()
