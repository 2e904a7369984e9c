"""The layered stack after a CRAH failure, per seed (docs/cooptimizer.md, session 8).

Usage:

    .venv/bin/python scripts/crac_elastic_check.py [--cells 011101 011111] [--seeds 1 2 3 4 5]

Runs the cells of the CRAC-failure ablation (``examples/sweeps/ablation-crac-failure*.toml``:
``coopt/crac-failure.toml``, 1 day, ``locality = "node"``, ``queue_order = "arrival"``) with
the same settings as ``kiban sweep`` and prints one CSV row per run: the hottest inlet over the
day and from 12 h 15 min on (after the alarm's own steps), useful GPU-hours, preemptions,
thermal shutdowns, facility MWh and the run's CPU seconds. A cell is the six switches of
``coopt-layers`` in the order O E T P D C as 0/1 (``011111``: every layer on, order inert
under E; ``011101``: elastic + thermal + power + cooling; ``001101``: thermal + power +
cooling; ``101111``: the rigid stack). Point ``PYTHONPATH`` at another tree's ``src`` to
measure that tree.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from kiban.metrics import summarize
from kiban.policies.joint import CooptLayers
from kiban.sim import Simulator
from kiban.sim.scenario import (
    inputs_from_scenario,
    jobs_from_scenario,
    time_of_year_s,
    workload_rng,
)
from kiban.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "examples" / "sweeps" / "coopt" / "crac-failure.toml"
FAILURE_S = 12 * 3600.0
SETTLE_S = 900.0
"""After the alarm: the inlets of the failure's own steps are the room as the failure left
it, before any policy could act."""


def _cell(bits: str) -> CooptLayers.Params:
    if len(bits) != 6 or set(bits) - {"0", "1"}:
        msg = f"--cells {bits!r}: six 0/1 switches in the order O E T P D C"
        raise SystemExit(msg)
    o, e, t, p, d, c = (b == "1" for b in bits)
    return CooptLayers.Params(
        order=o, elastic=e, thermal=t, power=p, data=d, cooling=c, queue_order="arrival"
    )


def main() -> None:
    """Run the cells and print the CSV rows."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--cells", nargs="+", default=["011101", "011111"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5])
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    sc = load_spec(SCENARIO)
    print(
        "tag,cell,seed,max_inlet_c,max_inlet_after_c,useful_gpu_h,preemptions,"
        "thermal_shutdowns,facility_mwh,cpu_s"
    )
    for bits in args.cells:
        params = _cell(bits)
        for seed in args.seeds:
            table, origin, *_ = jobs_from_scenario(sc, workload_rng(seed))
            inp = inputs_from_scenario(
                sc, seed=seed, until_s=86400.0, start_time_of_year_s=time_of_year_s(origin)
            )
            settings = dataclasses.replace(inp.settings, locality="node")
            c0 = time.process_time()
            out = Simulator(
                inp.layout, table, CooptLayers(params), settings=settings, facility=inp.facility
            ).run()
            cpu_s = time.process_time() - c0
            s = summarize(out)
            t = out.log["time_s"]
            late = float(out.log["max_inlet_temp_c"][t >= FAILURE_S + SETTLE_S].max())
            print(
                f"{args.tag},{bits},{seed},{s['max_inlet_temp_c']:.2f},{late:.2f},"
                f"{s['gpu_hours_productive']:.1f},{s['preemptions']},{s['thermal_shutdowns']},"
                f"{s['facility_energy_kwh'] / 1000.0:.3f},{cpu_s:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
