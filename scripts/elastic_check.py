"""Sia against rigid baselines on a Sia-like workload (docs/cooptimizer.md, "The elastic layer").

Usage:

    .venv/bin/python scripts/elastic_check.py [--seeds 1 2 3] [--days 7]

The scale of Pollux's and Sia's testbed experiments (64 GPUs; reference/cooptimizer.md §6.1):
the 1/8 demo hall of ``examples/sweeps/coopt/power-tight.toml`` (8 DGX H100, no site budget),
about 230 jobs from the Philly-fitted generator arriving over 8 hours (0.8× the demo's rate),
every whole-GPU job elastic (1–64 GPUs, a Pollux goodput profile of
``kiban.workload.goodput``), run until the queue drains or ``--days``. For each seed
it runs ``sia`` (Sia's goodput ILP, 60 s rounds), ``easy-backfill`` and ``tiresias-las``
(requested GPU counts, rigid) on the same jobs and prints mean and p99 JCT over the jobs every
policy completed (paired, so a policy is not rewarded for leaving long jobs unfinished), the
completed counts and Sia's resizes.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

import kiban.policies.registry as registry
from kiban.results import prepare_scenario, run_prepared
from kiban.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "examples" / "sweeps" / "coopt" / "power-tight.toml"
POLICIES = ("sia", "easy-backfill", "tiresias-las")
WORKLOAD = """
[workload.synthetic]
days = 0.3333
scale = 0.8
max_gpus = 64

[workload.elastic]
share = 1.0
min_gpus = 1
max_gpus = 64
"""


def scenario_text() -> str:
    """The base hall with the Sia-like workload instead of the ablation's."""
    text = SCENARIO.read_text(encoding="utf-8")
    head = text.split("[workload.synthetic]")[0]
    tail = text.split("[simulation]")[1].split("[workload.elastic]")[0]
    tail = "\n".join(line for line in tail.splitlines() if not line.startswith("#"))
    return head + WORKLOAD + "\n[simulation]" + tail


def main() -> None:
    """Run the policies on each seed and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--days", type=float, default=7.0, help="horizon (days)")
    args = ap.parse_args()
    made = []
    orig = registry.make_policy

    def keep(*a: object, **k: object) -> object:
        pol = orig(*a, **k)  # type: ignore[arg-type]
        made.append(pol)
        return pol

    registry.make_policy = keep  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sia-like.toml"
        path.write_text(scenario_text(), encoding="utf-8")
        scenario = load_spec(path)
    print("| seed | jobs | policy | completed | paired mean JCT h | paired p99 JCT h | resizes |")
    print("|---|---|---|---|---|---|---|")
    ratios = []
    for seed in args.seeds:
        prep = prepare_scenario(scenario, seed=seed, until_s=args.days * 86400.0)
        frames = {}
        resized: dict[str, int] = {}
        for pol in POLICIES:
            res = run_prepared(prep, pol)
            frames[pol] = res.jobs.select("job_id", "jct_s", "completed")
            stats = getattr(getattr(made[-1], "scheduling", None), "stats", None)
            resized[pol] = int(getattr(stats, "resized", 0))
        done = None
        for f in frames.values():
            ids = set(f.filter(pl.col("completed"))["job_id"].to_list())
            done = ids if done is None else done & ids
        assert done is not None
        means = {}
        for pol, f in frames.items():
            jct = f.filter(pl.col("job_id").is_in(sorted(done)))["jct_s"].to_numpy() / 3600.0
            means[pol] = float(jct.mean())
            print(
                f"| {seed} | {prep.jobs.n_jobs} | {pol} | {int(f['completed'].sum())} "
                f"| {jct.mean():.2f} | {np.percentile(jct, 99):.1f} | {resized[pol] or '–'} |"
            )
        ratios.append(means["sia"] / means["easy-backfill"])
    print(f"\nSia / EASY mean JCT per seed: {', '.join(f'{r:.2f}' for r in ratios)}")


if __name__ == "__main__":
    main()
