"""J-DEC's epochs do not depend on wall time: deterministic limits stop stage A.

Stage A stops at the 1 % gap or its node limit; HiGHS's wall-clock limit
(``safety_time_limit_s``) is a safety net whose firing is counted and logged.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from kiban.catalog import default_catalog
from kiban.policies.joint import JDec
from kiban.sim import Simulator
from kiban.sim.jobs import JobTable
from kiban.sim.layout import uniform_layout
from kiban.sim.settings import SimSettings

pytest.importorskip("highspy")


def _instance(n_jobs: int = 60, n_racks: int = 8, seed: int = 3):
    """§10.6's instance in small (bench/bench_cooptimizer.py): a binding site budget, half the
    jobs reading from a shared file system, all arriving at t = 0, so stage A is a real MILP."""
    rng = np.random.default_rng(seed)
    cat = default_catalog()
    server, sku = cat.server("dgx-h100"), cat.gpu("h100-sxm")
    i = np.arange(n_racks)
    d = 2e-5 * np.exp(-np.abs(i[:, None] - i[None, :]) / 2.0) + rng.uniform(
        0, 4e-6, (n_racks, n_racks)
    )
    lay = uniform_layout(
        server, sku, n_racks=n_racks, servers_per_rack=4, heat_distribution_k_per_w=d,
        supply_temp_c=20.0, node_cache_b=2e12,
    )  # fmt: skip
    sizes = rng.choice([1, 2, 4, 8, 8, 16], n_jobs)
    io = rng.random(n_jobs) < 0.5
    table = JobTable.from_arrays(
        np.zeros(n_jobs),
        rng.uniform(1_800.0, 7_200.0, n_jobs),
        sizes,
        gpus_per_node=np.where(sizes >= 8, 8, 0),
        activity_frac=rng.uniform(0.5, 1.0, n_jobs),
        input_rate_b_per_s_per_gpu=np.where(io, rng.uniform(5e7, 4e8, n_jobs), 0.0),
        dataset_size_b=np.where(io, rng.uniform(1e11, 5e12, n_jobs), 0.0),
    )
    budget_kw = 0.85 * lay.n_nodes * server.max_power_w * 1.2 / 1000.0
    return lay, table, budget_kw


def _run(safety_s: float):
    lay, table, budget_kw = _instance()
    pol = JDec(
        JDec.Params(
            epoch_s=600.0, window=60, site_budget_kw=budget_kw, safety_time_limit_s=safety_s
        )
    )
    settings = SimSettings(
        seed=1, until_s=4 * 3600.0, failures=False, storage_bandwidth_b_per_s=5e9
    )
    return pol, Simulator(lay, table, pol, settings=settings).run()


def _same(a, b) -> bool:
    keys = set(a.job) | set(a.log)
    return (
        all(
            np.array_equal(
                np.asarray((a.job if k in a.job else a.log)[k]),
                np.asarray((b.job if k in b.job else b.log)[k]),
                equal_nan=True,
            )
            for k in keys
        )
        and a.counters["preemptions"] == b.counters["preemptions"]
    )


def test_a_tight_but_not_binding_time_limit_gives_the_same_run():
    """The same run with a generous (600 s) and a tight safety limit (4× the longest stage-A
    solve of the generous run, at least 0.3 s) gives identical outputs: every job's start,
    end, energy and preemptions and every log column. Before session 7 HiGHS's time limit
    stopped stage A (5 s by default, 1 s in the ablation) and decided what the incumbent
    was; on a loaded machine runs of one seed differed."""
    pol_a, out_a = _run(600.0)
    st = pol_a.stats
    assert sum(1 for s in st.status if s >= 0) >= 2  # stage A solved at least twice
    assert st.time_limit_hits == 0
    tight = max(4.0 * max(st.solve_s), 0.3)
    pol_b, out_b = _run(tight)
    assert pol_b.stats.time_limit_hits == 0
    assert pol_b.stats.status == st.status
    assert _same(out_a, out_b)


def test_the_safety_net_is_counted_and_logged_when_it_fires(caplog):
    """A wall-clock limit far below any stage-A solve (0.1 ms) fires: each such epoch is
    counted in ``EpochStats.time_limit_hits`` and the run logs once that its decisions
    depend on the machine; and its outputs differ from the generous run's (so the comparison
    of the test above does see a wall-clock limit that binds)."""
    with caplog.at_level(logging.WARNING, logger="kiban.policies.joint"):
        pol, out = _run(1e-4)
    assert pol.stats.time_limit_hits >= 1
    assert pol.stats.time_limit_hits == sum(1 for s in pol.stats.status if s >= -1)
    warned = [r for r in caplog.records if "safety_time_limit_s" in r.getMessage()]
    assert len(warned) == 1
    _, generous = _run(600.0)
    assert not _same(out, generous)
