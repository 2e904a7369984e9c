"""cProfile of a coupled replay: where the simulator's time goes (facility step, budget, loop).

Usage::

    .venv/bin/python bench/profile_coupled.py                      # Philly, fifo-static, 30 days
    .venv/bin/python bench/profile_coupled.py --days 10 --top 30
    .venv/bin/python bench/profile_coupled.py --scale 16384 --days 5   # bench_scale's cluster
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import pstats
import sys
import time
from pathlib import Path

from kiban.policies.registry import make_policy
from kiban.results import prepare_scenario
from kiban.sim import Simulator
from kiban.spec import load_spec

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    """Profile one run and print the functions with the most cumulative time."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scenario", type=Path, default=REPO / "examples" / "philly.toml")
    parser.add_argument("--policy", default="fifo-static")
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument(
        "--scale",
        type=int,
        default=0,
        help="profile bench_scale.py's coupled cluster of this many GPUs instead of --scenario",
    )
    args = parser.parse_args()
    if args.scale:
        sys.path.insert(0, str(REPO / "bench"))
        from bench_scale import build  # noqa: PLC0415

        layout, jobs, facility, settings = build(args.scale, facility_kind="coupled")
    else:
        prepared = prepare_scenario(load_spec(args.scenario))
        layout, jobs, facility = prepared.layout, prepared.jobs, prepared.facility
        settings = prepared.settings
    settings = dataclasses.replace(settings, until_s=args.days * 86_400.0)
    sim = Simulator(
        layout, jobs, make_policy("policy", args.policy), settings=settings, facility=facility
    )
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    out = sim.run()
    prof.disable()
    print(f"wall {time.perf_counter() - t0:.1f} s, events {out.counters['events']}")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
