"""Storage inside the run (kiban.sim.storage): node cache capacity, warm-up, CPU preprocessing,
checkpoints and restores on the shared file system; every stall in the ledger, runs deterministic.

Hand-checked numbers use a DGX H100 (112 host cores for 8 GPUs: 14 per GPU) and the settings of
``tests.sim.helpers.IDEAL_STORAGE`` except the one mechanism under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.sim.helpers import IDEAL_STORAGE, QUIET, ends, jobs, layout, random_jobs, run

from kiban.errors import ConfigError
from kiban.ledger import Ledger
from kiban.physics.storage_io import DEFAULT_PREP_B_PER_S_PER_CORE, input_rate_scale
from kiban.policies.base import Decision
from kiban.sim import SimSettings, simulate
from kiban.sim.storage import SharedStorage
from kiban.sim.tables import RunInputs


def _ideal(**changes):
    return {**IDEAL_STORAGE, **changes}


class _CacheAsk:
    """FIFO that asks for ``cache_b`` for job 0 when it starts it."""

    name = "cache-ask"

    def __init__(self, cache_b):
        self.cache_b = cache_b

    def reset(self, ctx):
        del ctx

    def decide(self, view):
        free = [int(g) for g in np.flatnonzero(view.gpu_job == -1)]
        start = {}
        for j in view.pending_jobs().tolist():
            k = int(view.jobs.num_gpus[j])
            if k <= len(free):
                start[j] = np.array(free[:k])
                free = free[k:]
        cache = {0: self.cache_b} if 0 in start else {}
        return Decision(start=start, cache_b=cache)


def test_cache_warms_up_after_one_epoch():
    """8 GPUs × 1 GB/s on 4 GB/s; the node's 1 TB cache holds the 1 TB data set. Cold, every read
    misses: speed 0.5 until the job has read 1 TB (125 s of work at 8 GB/s, 250 s of wall time);
    then every read hits: 875 s of work at full speed → ends at 1125 s, 125 s stalled."""
    table = jobs([(0, 1000, 8)], input_rate_b_per_s_per_gpu=[1e9], dataset_size_b=[1e12])
    lay = layout(node_cache_b=1e12)
    out = run(lay, table, storage_bandwidth_b_per_s=4e9, **_ideal(cache_warmup=True))
    assert ends(out)[0] == pytest.approx(1125.0, rel=1e-9)
    assert out.job["stall_s"][0] == pytest.approx(125.0, rel=1e-9)
    instant = run(lay, table, storage_bandwidth_b_per_s=4e9, **_ideal())
    assert ends(instant)[0] == pytest.approx(1000.0, rel=1e-12)  # the old twin: warm at once
    Ledger.from_run(out).check()


def test_a_restarted_job_finds_its_cache_cold_again():
    """A preemption at t=600 (after warm-up) sends the job back through a cold first epoch."""
    table = jobs(
        [(0, 1000, 8), (600, 100, 8)],
        input_rate_b_per_s_per_gpu=[1e9, 0.0],
        dataset_size_b=[1e12, 0.0],
    )
    lay = layout(node_cache_b=1e12)
    out = run(
        lay,
        table,
        "tiresias-las",
        storage_bandwidth_b_per_s=4e9,
        **_ideal(cache_warmup=True),
    )
    if out.job["preemptions"][0] == 0:
        pytest.skip("tiresias did not preempt job 0 here")  # pragma: no cover
    assert out.job["stall_s"][0] > 125.0 + 1e-6  # two cold first epochs
    Ledger.from_run(out).check()


def test_cpu_preprocessing_limits_a_data_hungry_job():
    """14 cores per GPU × 25.2 MB/s = 352 MB/s of preprocessing per GPU; a job that needs twice
    that per GPU runs at 0.5 on an infinite file system: 1000 s of work take 2000 s, 1000 s
    stalled."""
    per_gpu = 112 / 8 * DEFAULT_PREP_B_PER_S_PER_CORE
    table = jobs([(0, 1000, 8)], input_rate_b_per_s_per_gpu=[2 * per_gpu], dataset_size_b=[1e12])
    out = run(layout(), table, **_ideal(prep_b_per_s_per_core=DEFAULT_PREP_B_PER_S_PER_CORE))
    assert ends(out)[0] == pytest.approx(2000.0, rel=1e-9)
    assert out.job["stall_s"][0] == pytest.approx(1000.0, rel=1e-9)
    Ledger.from_run(out).check()


def test_input_rates_follow_the_gpu_model():
    """Rates are stated for an A100 SXM 80 GB; an H100 trains ResNet-50 at 5,090 images/s
    against the A100's 2,470 (catalog, published), so a job reads 2.06× as much: 1 GB/s per GPU
    at the reference → 16.5 GB/s for 8 H100 on 8.2 GB/s → speed 0.5."""
    scale = float(input_rate_scale(3.35e12, 2.039e12, 5090.0))
    assert scale == pytest.approx(5090.0 / 2470.0, rel=1e-12)
    table = jobs([(0, 1000, 8)], input_rate_b_per_s_per_gpu=[1e9], dataset_size_b=[1e13])
    out = run(
        layout(),
        table,
        storage_bandwidth_b_per_s=8e9 * scale / 2,
        **_ideal(input_rate_reference_memory_bw_b_per_s=2.039e12),
    )
    assert ends(out)[0] == pytest.approx(2000.0, rel=1e-9)


def test_checkpoint_writes_take_bandwidth_from_readers():
    """Reader: 8 GB/s of input. Checkpointer: 100 GB every 50 s at 2 GB/s (50 s writes), an
    average stream of 1 GB/s. On 4 GB/s, max-min gives the checkpointer its 1 GB/s and the
    reader 3 GB/s: speed 3/8, so its 1000 s of work take 2666.7 s (2000 s without checkpoints)."""
    table = jobs(
        [(0, 1000, 8), (0, 1e5, 8)],
        input_rate_b_per_s_per_gpu=[1e9, 0.0],
        dataset_size_b=[1e13, 0.0],
        checkpoint_size_b=[0.0, 1e11],
        checkpoint_interval_s=[0.0, 50.0],
    )
    lay = layout(servers_per_rack=2)
    out = run(lay, table, storage_bandwidth_b_per_s=4e9, until_s=5000.0, **_ideal())
    assert ends(out)[0] == pytest.approx(1000.0 / (3.0 / 8.0), rel=1e-9)
    Ledger.from_run(out).check()


def test_checkpoints_granted_less_write_longer():
    """Same pair on 1.5 GB/s: the level is 0.75 GB/s, below the checkpointer's 1 GB/s, so its
    writes take longer: c = 1 − x·I/S = 1 − 0.75e9 · 50 / 1e11 = 0.625 (0.5 at full rate); the
    reader gets 0.75 GB/s (speed 0.09375). Over the first 1000 s the checkpointer books 625 s
    of checkpoint time per GPU."""
    table = jobs(
        [(0, 1e5, 8), (0, 1e5, 8)],
        input_rate_b_per_s_per_gpu=[1e9, 0.0],
        dataset_size_b=[1e13, 0.0],
        checkpoint_size_b=[0.0, 1e11],
        checkpoint_interval_s=[0.0, 50.0],
    )
    lay = layout(servers_per_rack=2)
    out = run(lay, table, storage_bandwidth_b_per_s=1.5e9, until_s=1000.0, **_ideal())
    assert out.job["checkpoint_s"][1] == pytest.approx(625.0, rel=1e-9)
    assert out.job["progress_s"][0] == pytest.approx(1000.0 * 0.75 / 8.0, rel=1e-9)
    assert out.ledger_gpu_s["checkpoint"] == pytest.approx(8 * 625.0, rel=1e-9)
    Ledger.from_run(out).check()


def test_a_cache_request_never_exceeds_the_node():
    """The policy asks for 5 TB of cache on a node with 0.5 TB: the job gets 0.5 TB (hit ratio
    0.5 of its 1 TB data set), so 8 GB/s of input needs 4 GB/s remote; on 2 GB/s it runs at 0.5."""
    table = jobs([(0, 1000, 8)], input_rate_b_per_s_per_gpu=[1e9], dataset_size_b=[1e12])
    merged = {**QUIET, **_ideal(), "storage_bandwidth_b_per_s": 2e9}
    out = simulate(
        layout(node_cache_b=5e11), table, _CacheAsk(5e12), settings=SimSettings(**merged)
    )
    assert ends(out)[0] == pytest.approx(2000.0, rel=1e-9)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    asks=st.lists(
        st.tuples(st.integers(0, 5), st.sampled_from([math.nan, 0.0, 2e11, 7e11, 3e12])),
        min_size=1,
        max_size=12,
    )
)
def test_node_caches_never_give_out_more_than_they_hold(asks):
    """Six jobs (1–8 GPUs) on two 1 TB nodes, grants asked in any order: Σ held ≤ capacity."""
    lay = layout(servers_per_rack=2, node_cache_b=1e12)
    table = jobs(
        [(0, 100, g) for g in (1, 2, 3, 4, 8, 2)],
        input_rate_b_per_s_per_gpu=[1e8] * 6,
        dataset_size_b=[1e12] * 6,
    )
    inputs = RunInputs(lay, table, SimSettings(**QUIET, storage_bandwidth_b_per_s=1e9))
    store = SharedStorage(inputs)
    places = {
        0: ([0], [1]),
        1: ([0], [2]),
        2: ([0], [3]),
        3: ([1], [4]),
        4: ([0, 1], [2, 4]),
        5: ([1], [2]),
    }
    for j, ask in asks:
        store.job_cache_b[j] = ask
        nodes, counts = (np.array(x, dtype=np.int64) for x in places[j])
        got = store.cache_granted_b(j, nodes, counts)
        assert got >= 0.0
        if not math.isnan(ask):
            assert got <= ask + 1e-3
        assert (store.node_held_b <= store.node_cache_b * (1 + 1e-12) + 1e-3).all()


def _storage_run(seed, policy="fifo-static"):
    rng = np.random.default_rng(seed)
    n = 40
    lay = layout(n_racks=2, servers_per_rack=2, node_cache_b=2e12)
    table = random_jobs(
        rng,
        n,
        horizon_s=20_000.0,
        sizes=(1, 2, 4, 8, 16),
        input_rate_b_per_s_per_gpu=rng.choice([0.0, 2e7, 1e8, 3e8], n),
        dataset_size_b=rng.uniform(1e11, 4e12, n),
        checkpoint_size_b=rng.uniform(1e9, 1e11, n),
        checkpoint_interval_s=rng.uniform(300, 3600, n),
    )
    return run(
        lay,
        table,
        policy,
        failures=True,
        node_failure_rate_per_s=1.0 / 30_000.0,
        repair_s=600.0,
        storage_bandwidth_b_per_s=5e9,
        gpu_activity=True,
        seed=seed,
    )


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    policy=st.sampled_from(["fifo-static", "tiresias-las", "random-fit"]),
)
def test_ledger_sums_with_every_storage_effect(seed, policy):
    """Cold caches, prep limits, shared checkpoints, restores after failures: ledger exact."""
    out = _storage_run(seed, policy)
    Ledger.from_run(out).check()
    total = sum(out.ledger_gpu_s.values())
    assert total == pytest.approx(out.capacity_gpu_s, rel=1e-9)
    assert out.ledger_gpu_s["io_stall"] >= 0.0


def test_storage_runs_are_deterministic_and_stall():
    a, b = _storage_run(7), _storage_run(7)
    assert a.ledger_gpu_s == b.ledger_gpu_s
    for key in a.job:
        np.testing.assert_array_equal(a.job[key], b.job[key])
    assert a.ledger_gpu_s["io_stall"] > 0
    assert a.ledger_gpu_s["checkpoint"] > 0


def test_a_scenario_cache_larger_than_the_servers_nvme_is_refused():
    from tests.conftest import REPO_ROOT  # noqa: PLC0415

    from kiban.sim.scenario import layout_from_scenario  # noqa: PLC0415
    from kiban.spec.load import load_spec  # noqa: PLC0415

    scenario = load_spec(REPO_ROOT / "examples" / "tokyo-air-dgx-h100.toml")
    big = scenario.model_copy(
        update={"storage": scenario.storage.model_copy(update={"local_nvme_cache_tb": 40.0})}
    )
    with pytest.raises(ConfigError, match=r"storage\.local_nvme_cache_tb = 40.*30\.72"):
        layout_from_scenario(big)
    layout_from_scenario(scenario)  # 30 TB fits the DGX H100's 30.72 TB
