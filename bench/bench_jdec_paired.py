"""J-DEC's stage A, this tree's against another tree's, on the same states (issue 12, session 8).

Runs j-dec on the oversubscribed power-tight hall
(``examples/sweeps/coopt/power-tight-oversub.toml``, 45 kW, the ablation's parameters) with the
OTHER tree's code; at every epoch that solves stage A it first builds and solves THIS tree's
stage A on the same view (its answer discarded), then lets the other tree's epoch run. So both
stage-A codes see the same states, which two separate runs do not (their decisions differ, and
with them the queues). Run it with the other tree first on the import path:

    PYTHONPATH=<other checkout>/src .venv/bin/python bench/bench_jdec_paired.py \\
        [--seed 2] [--cpu-cap-s 600] [--out paired.jsonl]

One JSON line per epoch (``new_cpu_s``/``new_wall_s``: this tree's stage A, build and solve;
``old_cpu_s``/``old_wall_s``: the other tree's whole epoch, stages A–D; the starts each chose);
then a summary line: p50/p99 of both over the stage-A epochs, the ratio of the CPU sums and how
many epochs chose the same starts. CPU is the process time (HiGHS's threads included). It stops
after ``--cpu-cap-s`` of process CPU (the old code can take many minutes on this hall).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

import kiban.policies.joint as old  # the other tree's, when its src is first on PYTHONPATH
import kiban.policies.registry as registry
from kiban.results import prepare_scenario, run_prepared
from kiban.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--cpu-cap-s", type=float, default=600.0)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    mine = ROOT / "src" / "kiban" / "policies" / "joint.py"
    if Path(old.__file__).resolve() == mine.resolve():
        sys.exit("put the other tree's src first on PYTHONPATH (this tree's joint.py was imported)")
    spec = importlib.util.spec_from_file_location("kiban_joint_this_tree", mine)
    assert spec is not None
    assert spec.loader is not None
    new = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = new  # dataclasses look their module up there
    register = registry.register_policy
    registry.register_policy = lambda *a, **k: lambda cls: cls  # "j-dec" is taken: skip
    try:
        spec.loader.exec_module(new)
    finally:
        registry.register_policy = register
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
    recs: list[dict] = []
    epoch = old.JDec._epoch

    def paired(self, view):  # type: ignore[no-untyped-def]
        rec: dict = {"t_s": view.time_s}
        if self._stage_a_needed(view):
            c0, t0 = time.process_time(), time.perf_counter()
            problem = new._StageA.build(self, view)
            res = None
            if problem is not None:
                with old._quiet_stdio():
                    res = problem.solve(self.params)
            rec["new_cpu_s"] = time.process_time() - c0
            rec["new_wall_s"] = time.perf_counter() - t0
            rec["new_start"] = sorted(res.start) if res is not None else None
        c0, t0 = time.process_time(), time.perf_counter()
        plan = epoch(self, view)
        rec["old_cpu_s"] = time.process_time() - c0
        rec["old_wall_s"] = time.perf_counter() - t0
        rec["old_status"] = self.stats.status[-1]
        rec["old_start"] = sorted(plan.start)
        rec["n_jobs"] = self.stats.n_jobs[-1]
        recs.append(rec)
        print(json.dumps(rec), file=out, flush=True)
        if time.process_time() > args.cpu_cap_s:
            raise SystemExit
        return plan

    old.JDec._epoch = paired
    scenario = load_spec(ROOT / "examples" / "sweeps" / "coopt" / "power-tight-oversub.toml")
    prepared = prepare_scenario(scenario, seed=args.seed, until_s=86_400.0, locality="node")
    params = {"queue_order": "arrival", "time_limit_s": 1.0, "epoch_s": 900.0,
              "site_budget_kw": 45.0}  # fmt: skip
    stopped = False
    try:
        run_prepared(prepared, "j-dec", params)
    except SystemExit:
        stopped = True
    sa = [r for r in recs if "new_cpu_s" in r and r["old_status"] >= -1]
    o = np.array([r["old_cpu_s"] for r in sa] or [0.0])
    n = np.array([r["new_cpu_s"] for r in sa] or [0.0])
    ow = np.array([r["old_wall_s"] for r in sa] or [0.0])
    nw = np.array([r["new_wall_s"] for r in sa] or [0.0])
    summary = {
        "seed": args.seed,
        "stopped_at_cpu_cap": stopped,
        "simulated_s": recs[-1]["t_s"] if recs else 0.0,
        "epochs": len(recs),
        "stage_a_epochs": len(sa),
        "most_jobs": max((r["n_jobs"] for r in sa), default=0),
        "old_cpu_p50_s": float(np.percentile(o, 50)),
        "old_cpu_p99_s": float(np.percentile(o, 99)),
        "old_wall_p50_s": float(np.percentile(ow, 50)),
        "old_wall_p99_s": float(np.percentile(ow, 99)),
        "new_cpu_p50_s": float(np.percentile(n, 50)),
        "new_cpu_p99_s": float(np.percentile(n, 99)),
        "new_wall_p50_s": float(np.percentile(nw, 50)),
        "new_wall_p99_s": float(np.percentile(nw, 99)),
        "cpu_sum_ratio": float(o.sum() / max(n.sum(), 1e-9)),
        "same_starts": sum(r["new_start"] == r["old_start"] for r in sa),
        "load": os.getloadavg()[0],
    }
    print(json.dumps(summary), file=out, flush=True)


if __name__ == "__main__":
    main()
