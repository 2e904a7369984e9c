"""Compare the co-optimizer with the baselines on the demo hall under the scenarios of §11.2.

Usage:

    .venv/bin/python scripts/coopt_compare.py [--days 7] [--seeds 2024] \
        [--scenarios demo,power-tight,hot-season,io-heavy] \
        [--policies fifo-static,tiresias-las,coopt-layers,j-dec] [--json OUT.json]

Scenarios (all on the built-in demo: 64 DGX H100 in an air-cooled Tokyo hall, the synthetic
Philly-like workload at ≈ 90 % offered load, Philly's gang and locality rule):

* ``demo``: as shipped (January, 22 °C supply, 10 GB/s filer, 1 TB cache per node);
* ``power-tight``: a site budget of ``--budget-frac`` (default 80 %) of the peak facility
  power fifo-static draws on the same jobs (the hall's nameplate is ≈ 2.5× its real draw, so a
  nameplate-based budget never binds); power-aware policies get it as ``site_budget_kw``;
* ``hot-season``: the same month starting on 1 August (Tokyo's hottest);
* ``io-heavy``: a 3 GB/s filer and 0.25 TB of cache per node.

For every run it prints one markdown row of ``reference/cooptimizer.md`` §11.3's table:
useful GPU-hours per facility MWh, useful GPU-hours, mean and p99 JCT, facility MWh, PUE,
throttle (thermal + power cap) and I/O-stall GPU-hours, seconds over the budget and the
joint policy's epoch statistics.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from typing import Any

import numpy as np

from kiban.results import prepare_scenario, run_prepared
from kiban.sim.scenario import demo_scenario, inputs_from_scenario
from kiban.units import S_PER_H

AUGUST_1_S = 212 * 86_400.0


def prepared_for(name: str, days: float, seed: int) -> Any:
    """The demo's prepared inputs, changed for one scenario."""
    scenario, text = demo_scenario()
    if name == "io-heavy":
        storage = scenario.storage.model_copy(
            update={"shared_fs_bandwidth_gb_per_s": 3.0, "local_nvme_cache_tb": 0.25}
        )
        scenario = scenario.model_copy(update={"storage": storage})
    prep = prepare_scenario(
        scenario, scenario_toml=text, locality="node", until_s=days * 86_400.0, seed=seed
    )
    if name == "io-heavy":
        # the layout's node caches come from the scenario; rebuild the inputs for the new one
        inputs = inputs_from_scenario(scenario, seed=seed, until_s=days * 86_400.0)
        prep = dataclasses.replace(
            prep,
            layout=inputs.layout,
            settings=dataclasses.replace(
                prep.settings, storage_bandwidth_b_per_s=inputs.settings.storage_bandwidth_b_per_s
            ),
        )
    if name == "hot-season":
        inputs = inputs_from_scenario(
            scenario, seed=seed, until_s=days * 86_400.0, start_time_of_year_s=AUGUST_1_S
        )
        prep = dataclasses.replace(
            prep,
            facility=inputs.facility,
            settings=dataclasses.replace(prep.settings, start_time_of_year_s=AUGUST_1_S),
        )
    return prep


def row(result: Any, budget_w: float, wall_s: float) -> dict[str, Any]:
    """The §11.3 table's metrics of one run."""
    s = result.summary
    ts = result.timeseries
    fac = np.asarray(ts["facility_power_w"].to_numpy(), dtype=np.float64)
    dur = np.asarray(ts["duration_s"].to_numpy(), dtype=np.float64)
    over = float(dur[fac > budget_w].sum()) if math.isfinite(budget_w) else 0.0
    led = s["ledger_gpu_hours"]
    out = {
        "policy": result.policy,
        "useful_gpu_h_per_mwh": s["gpu_hours_productive"]
        / max(s["facility_energy_kwh"], 1e-9)
        * 1000.0,
        "useful_gpu_h": s["gpu_hours_productive"],
        "jobs_completed": s["jobs_completed"],
        "jct_mean_h": (s["jct_mean_s"] or 0.0) / S_PER_H,
        "jct_p99_h": (s["jct_p99_s"] or 0.0) / S_PER_H,
        "facility_mwh": s["facility_energy_kwh"] / 1000.0,
        "pue": s["pue"],
        "throttle_gpu_h": led["thermal_throttle"] + led["power_cap"],
        "io_stall_gpu_h": led["io_stall"],
        "effective_util_frac": s["effective_util_frac"],
        "peak_facility_kw": float(fac.max()) / 1000.0,
        "s_over_budget": over,
        "wall_s": wall_s,
        "ledger_gpu_hours": dict(led),
    }
    return out


def main() -> None:
    """Run the scenarios and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--seeds", default="2024")
    ap.add_argument("--scenarios", default="demo,power-tight,hot-season,io-heavy")
    ap.add_argument("--policies", default="fifo-static,tiresias-las,coopt-layers,j-dec")
    ap.add_argument("--budget-frac", type=float, default=0.8)
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    rows = []
    print(
        "| scenario | seed | policy | useful GPU-h/MWh | useful GPU-h | mean JCT h | p99 JCT h "
        "| facility MWh | PUE | throttle GPU-h | IO-stall GPU-h | peak kW | s over budget |"
    )
    print("|---" * 13 + "|")
    for scen in args.scenarios.split(","):
        for seed in (int(x) for x in args.seeds.split(",")):
            prep = prepared_for(scen, args.days, seed)
            budget_w = math.inf
            policies = args.policies.split(",")
            if scen == "power-tight":
                t0 = time.perf_counter()
                base = run_prepared(prep, "fifo-static")
                peak = float(base.timeseries["facility_power_w"].max())
                budget_w = args.budget_frac * peak
                cached = {"fifo-static": (base, time.perf_counter() - t0)}
            else:
                cached = {}
            for pol in policies:
                params = None
                if math.isfinite(budget_w) and pol in ("coopt-layers", "j-dec"):
                    params = {"site_budget_kw": budget_w / 1000.0}
                if pol in cached:
                    res, wall = cached[pol]
                else:
                    t0 = time.perf_counter()
                    res = run_prepared(prep, pol, params)
                    wall = time.perf_counter() - t0
                r = row(res, budget_w, wall)
                r.update(scenario=scen, seed=seed, budget_kw=budget_w / 1000.0)
                rows.append(r)
                print(
                    f"| {scen} | {seed} | {pol} | {r['useful_gpu_h_per_mwh']:.1f} | "
                    f"{r['useful_gpu_h']:,.0f} | {r['jct_mean_h']:.2f} | {r['jct_p99_h']:.1f} | "
                    f"{r['facility_mwh']:.1f} | {r['pue']:.3f} | {r['throttle_gpu_h']:,.0f} | "
                    f"{r['io_stall_gpu_h']:,.0f} | {r['peak_facility_kw']:.0f} | "
                    f"{r['s_over_budget']:,.0f} |",
                    flush=True,
                )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
