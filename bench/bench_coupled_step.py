"""CPU time of the coupled facility's steps in the openb replay (`kiban simulate` of openb.toml).

Runs the openb scenario (its own 1,213 nodes, the coupled facility stepping hourly) under each
policy in a fresh process and reports the CPU time of the thread inside
``CoupledFacility.at_step`` (``time.thread_time`` around each call: the step's observables, room
and aisles, faults and site limit), the number of steps, and the CPU time of the whole
``Simulator.run``. With ``--baseline OTHER_CHECKOUT`` the same runs alternate between that
checkout's code and this one's (``--repeat`` times each) and the ratios new/old of the step's
CPU time are printed (best and median): what a change to the facility step saved, without the
rest of the run's noise. The two runs' coupling summaries (``RunOutput.coupling``) are compared
and a difference is reported.

Usage::

    .venv/bin/python bench/bench_coupled_step.py
    .venv/bin/python bench/bench_coupled_step.py --baseline ../main --repeat 3 --policies fgd
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _child import child_row

REPO = Path(__file__).resolve().parents[1]
POLICIES = ("fifo-static", "best-fit", "random-fit", "fgd")


def child(policy: str) -> dict[str, Any]:
    """One run in this process: the step's CPU time, the run's CPU time, the coupling summary."""
    sys.path.insert(0, str(REPO / "bench"))
    import bench_openb  # noqa: PLC0415

    from kiban.results import prepare_scenario  # noqa: PLC0415
    from kiban.sim import Simulator  # noqa: PLC0415
    from kiban.sim.coupled import CoupledFacility  # noqa: PLC0415
    from kiban.spec import load_spec  # noqa: PLC0415

    spent = [0.0, 0]
    at_step = CoupledFacility.at_step

    def timed(self: CoupledFacility, view: Any) -> Any:
        t0 = time.thread_time()
        try:
            return at_step(self, view)
        finally:
            spent[0] += time.thread_time() - t0
            spent[1] += 1

    CoupledFacility.at_step = timed  # type: ignore[method-assign]
    prepared = prepare_scenario(load_spec(bench_openb.OPENB_SCENARIO), trace=bench_openb.TRACE)
    sim = Simulator(
        prepared.layout,
        prepared.jobs,
        bench_openb.policy_by_name(policy),
        settings=prepared.settings,
        facility=prepared.facility,
    )
    c0 = time.process_time()
    out = sim.run()
    run_cpu_s = time.process_time() - c0
    return {
        "policy": policy,
        "kiban_src": str(Path(sys.modules["kiban"].__file__ or "").parent),
        "step_cpu_s": spent[0],
        "steps": spent[1],
        "run_cpu_s": run_cpu_s,
        "coupling": json.dumps(out.coupling, sort_keys=True, default=repr),
    }


def run_child(tree: Path, policy: str) -> dict[str, Any]:
    """One run in a fresh process with the code of ``tree`` (its ``src`` first on the path)."""
    return child_row(tree, __file__, [policy])


def main() -> int:
    """Run the cases (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--policies", default=",".join(POLICIES), help="comma-separated")
    parser.add_argument("--baseline", type=Path, default=None, help="checkout to compare with")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return 0
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores", flush=True)
    rows: list[dict[str, Any]] = []
    differ = False
    for policy in args.policies.split(","):
        trees = [("new", REPO)] if args.baseline is None else [("old", args.baseline.resolve())]
        if args.baseline is not None:
            trees.append(("new", REPO))
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in trees}
        for k in range(max(1, args.repeat)):
            for name, tree in trees if k % 2 == 0 else trees[::-1]:
                runs[name].append(run_child(tree, policy))
        rows.extend(r | {"tree": name} for name, rs in runs.items() for r in rs)
        new = runs["new"]
        step_ms = [1e3 * r["step_cpu_s"] for r in new]
        line = (
            f"  {policy:11s} steps {new[0]['steps']:5d}  step CPU ms new {min(step_ms):6.0f} "
            f"(runs {[round(x) for x in step_ms]}), run CPU s "
            f"{min(r['run_cpu_s'] for r in new):.2f}"
        )
        if args.baseline is not None:
            old = runs["old"]
            old_ms = [1e3 * r["step_cpu_s"] for r in old]
            same = {r["coupling"] for r in old + new}
            differ = differ or len(same) != 1
            line += (
                f"; old {min(old_ms):6.0f} (runs {[round(x) for x in old_ms]}), run CPU s "
                f"{min(r['run_cpu_s'] for r in old):.2f}; step CPU ratio new/old "
                f"{min(step_ms) / min(old_ms):.2f} (medians "
                f"{statistics.median(step_ms) / statistics.median(old_ms):.2f}); coupling "
                f"{'identical' if len(same) == 1 else 'DIFFERS'}"
            )
        print(line + f"; load {os.getloadavg()[0]:.2f}", flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
