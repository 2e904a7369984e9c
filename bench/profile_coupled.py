"""cProfile of a coupled replay: where the simulator's time goes (facility step, budget, loop).

Usage::

    .venv/bin/python bench/profile_coupled.py                      # Philly, fifo-static, 30 days
    .venv/bin/python bench/profile_coupled.py --days 10 --top 30
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import pstats
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
    args = parser.parse_args()
    prepared = prepare_scenario(load_spec(args.scenario))
    settings = dataclasses.replace(prepared.settings, until_s=args.days * 86_400.0)
    sim = Simulator(
        prepared.layout,
        prepared.jobs,
        make_policy("policy", args.policy),
        settings=settings,
        facility=prepared.facility,
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
