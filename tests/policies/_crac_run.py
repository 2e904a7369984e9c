"""The CRAC-failure run (coopt/crac-failure.toml) that the elastic and J-DEC CRAC tests share."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from kiban.policies.base import Policy
from kiban.sim import Simulator
from kiban.sim.scenario import (
    inputs_from_scenario,
    jobs_from_scenario,
    time_of_year_s,
    workload_rng,
)
from kiban.sim.settings import RunOutput
from kiban.spec import load_spec

COOPT = Path(__file__).resolve().parents[2] / "examples" / "sweeps" / "coopt"
FAILURE_S = 12 * 3600.0
"""When the scenario's ``[[faults]] kind = "crac"`` takes unit 0 down (half the 1-day run)."""


def run_crac_failure(policy: Policy, *, seed: int, until_s: float) -> RunOutput:
    """Run ``policy`` on the scenario's seed to ``until_s``, node locality as in the ablation."""
    sc = load_spec(COOPT / "crac-failure.toml")
    table, origin, *_ = jobs_from_scenario(sc, workload_rng(seed))
    inp = inputs_from_scenario(
        sc, seed=seed, until_s=until_s, start_time_of_year_s=time_of_year_s(origin)
    )
    settings = dataclasses.replace(inp.settings, locality="node")
    return Simulator(inp.layout, table, policy, settings=settings, facility=inp.facility).run()
