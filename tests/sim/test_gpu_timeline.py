"""The per-GPU timeline (docs/contracts.md, "Per-GPU timeline"): its intervals tile every GPU's
time, its shares integrate back to the run's ledger, it is deterministic, and recording it
changes no other output."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import sys
from importlib import resources

import numpy as np
import polars as pl
import pytest
from tests.conftest import REPO_ROOT
from tests.sim.helpers import layout, random_jobs
from typer.testing import CliRunner

from kiban.cli import _load_commands, app
from kiban.policies.registry import make_policy
from kiban.results import GPU_TIMELINE_FILE, GPUS_FILE, SimulationResult, load_result
from kiban.sim import SimSettings, Simulator
from kiban.sim.scenario import DEMO_SCENARIO
from kiban.sim.timeline import GPUS_COLUMNS, TIMELINE_COLUMNS


def _contract_columns(file_name: str) -> list[str]:
    """Column names of one file as docs/contracts.md ("Per-GPU timeline") lists them."""
    text = (REPO_ROOT / "docs" / "contracts.md").read_text(encoding="utf-8")
    bullet = text.split(f"- `{file_name}`:", 1)[1].split("\n- ", 1)[0]
    bullet = re.sub(r"\([^)]*\)", "", bullet.split("(for `allocated`", 1)[0])
    names = re.findall(r"`([a-z_]+)`", bullet)
    return [n for n in names if n not in {"free", "allocated", "failed"}]


CONTRACT_TIMELINE = _contract_columns("gpu_timeline.parquet")
CONTRACT_GPUS = _contract_columns("gpus.parquet")
LOSS = ("io_stall_frac", "thermal_throttle_frac", "power_cap_frac", "checkpoint_frac")


def _golden():
    name = "kiban_golden_digests"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, REPO_ROOT / "scripts" / "golden_digests.py"
        )
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _busy_run(record_gpus=True, policy="tiresias-las"):
    """Two racks at a hot supply (throttling), GPUs capped at 85 % of TDP, shared storage
    (I/O stalls), checkpoints, frequent node failures and a preemptive policy: every bucket of
    the ledger is non-zero."""
    rng = np.random.default_rng(3)
    lay = layout(n_racks=2, servers_per_rack=2, supply_temp_c=65.0, node_cache_b=1e12)
    n = 60
    table = random_jobs(
        rng,
        n,
        horizon_s=15_000.0,
        sizes=(1, 2, 4, 8, 16),
        activity_frac=rng.uniform(0.6, 1.0, n),
        input_rate_b_per_s_per_gpu=rng.choice([0.0, 1e9, 3e9], n),
        dataset_size_b=np.full(n, 5e12),
        checkpoint_size_b=np.full(n, 5e10),
        checkpoint_interval_s=np.full(n, 900.0),
    )
    settings = SimSettings(
        seed=11,
        node_failure_rate_per_s=1.0 / 20_000.0,
        repair_s=1800.0,
        restart_overhead_s=30.0,
        storage_bandwidth_b_per_s=20e9,
        gpu_power_cap_frac=0.85,
        record_gpus=record_gpus,
    )
    return Simulator(lay, table, make_policy("policy", policy), settings=settings).run()


@pytest.fixture(scope="module")
def busy():
    return _busy_run()


def test_columns_are_the_contracts(busy):
    assert list(busy.gpu_timeline)[: len(CONTRACT_TIMELINE)] == CONTRACT_TIMELINE
    assert tuple(busy.gpu_timeline) == TIMELINE_COLUMNS
    assert list(busy.gpus) == CONTRACT_GPUS == list(GPUS_COLUMNS)
    g = busy.gpus
    assert g["gpu_idx"].dtype == np.int32
    assert g["gpu_in_node"].tolist()[:10] == [0, 1, 2, 3, 4, 5, 6, 7, 0, 1]
    assert all(re.fullmatch(r"GPU-[0-9a-f-]{36}", u) for u in g["uuid"])
    assert len(set(g["uuid"])) == busy.layout.n_gpus
    assert set(g["model_name"]) == {"h100-sxm"}
    assert busy.gpu_timeline["clock_event_reasons"].dtype == np.int64


def test_intervals_tile_each_gpus_time(busy):
    tl = busy.gpu_timeline
    gpu, start, end = tl["gpu_idx"], tl["start_s"], tl["end_s"]
    assert np.all(end > start)
    order = np.lexsort((start, gpu))
    assert np.array_equal(order, np.arange(gpu.shape[0]))  # sorted by gpu_idx, start_s
    for g in range(busy.layout.n_gpus):
        sel = gpu == g
        s, e = start[sel], end[sel]
        assert s[0] == 0.0
        assert e[-1] == busy.horizon_s
        assert np.array_equal(s[1:], e[:-1])


def test_shares_integrate_back_to_the_ledger(busy):
    """Σ duration × share over the timeline = the run's ledger, bucket by bucket (rel 1e-9)."""
    tl = busy.gpu_timeline
    dt = tl["end_s"] - tl["start_s"]
    alloc = tl["state"] == "allocated"
    led = busy.ledger_gpu_s
    moved = busy.moved_gpu_s
    for bucket in ("io_stall", "thermal_throttle", "power_cap", "failure", "checkpoint"):
        assert led[bucket] > 0, bucket  # the case exercises every cause
    share = {c: tl[c] for c in (*LOSS, "failure_frac", "underused_frac")}
    productive = 1.0 - sum(share.values())
    rel = 1e-9
    # moved work left productive and underused in the job's compute share (moved["underused"])
    assert np.sum(dt[alloc] * productive[alloc]) == pytest.approx(
        led["productive"] + moved["failure"] + moved["checkpoint"] - moved["underused"], rel=rel
    )
    for col, bucket in zip(LOSS, ("io_stall", "thermal_throttle", "power_cap"), strict=False):
        assert np.sum(dt[alloc] * tl[col][alloc]) == pytest.approx(led[bucket], rel=rel)
    assert np.sum(dt[alloc] * tl["checkpoint_frac"][alloc]) + moved["checkpoint"] == pytest.approx(
        led["checkpoint"], rel=rel
    )
    failed = tl["state"] == "failed"
    assert np.sum(dt[failed]) + np.sum(dt[alloc] * tl["failure_frac"][alloc]) + moved[
        "failure"
    ] == pytest.approx(led["failure"], rel=rel)
    free = tl["state"] == "free"
    assert np.sum(dt[free]) == pytest.approx(led["idle_no_demand"] + led["queue_blocked"], rel=rel)
    assert np.sum(dt) == pytest.approx(busy.capacity_gpu_s, rel=1e-12)
    assert np.sum(dt[alloc] * tl["underused_frac"][alloc]) == pytest.approx(
        led["underused"] + moved["underused"], rel=rel
    )
    assert led["underused"] > 0  # the activity model leaves allocated GPUs idle inside jobs
    assert np.all(tl["job_id"][~alloc] == "")
    assert np.all(tl["job_id"][alloc] != "")


def test_observables_of_the_intervals_are_physical(busy):
    tl = busy.gpu_timeline
    sku = busy.layout.skus[0]
    alloc = tl["state"] == "allocated"
    free = tl["state"] == "free"
    assert np.all(tl["power_w"][free] == sku.idle_empty_power_w)
    assert np.all(tl["power_w"][tl["state"] == "failed"] == 0.0)
    assert np.all(tl["power_w"][alloc] <= sku.tdp_w + 1e-9)
    assert np.all((tl["activity_frac"] >= 0) & (tl["activity_frac"] <= 1))
    assert np.all(tl["activity_frac"][free] == 0.0)
    throttled = alloc & (tl["thermal_throttle_frac"] > 0)
    assert throttled.any()
    assert np.all(tl["clock_event_reasons"][throttled] & 0x20)  # SW_THERMAL_SLOWDOWN
    assert np.all(tl["clock_frac"][throttled] < 1.0)
    # a throttled die sits at its slowdown temperature while it computes (steady, at its power)
    assert np.all(tl["die_temp_c"][throttled] <= sku.max_operating_temp_c + 1e-6)
    assert np.all(tl["die_temp_c"][free] > 55.0)


def test_the_timeline_is_deterministic_and_changes_no_other_output(busy):
    golden = _golden()
    again = _busy_run()
    for col in TIMELINE_COLUMNS:
        assert np.array_equal(busy.gpu_timeline[col], again.gpu_timeline[col]), col
    without = _busy_run(record_gpus=False)
    assert without.gpu_timeline is None
    plain = dataclasses.replace(busy, settings=without.settings)
    assert golden.run_digest(plain) == golden.run_digest(without)


def test_saved_files_follow_the_contract(busy, tmp_path):
    result = SimulationResult.from_run(busy, time_origin_utc="2017-10-03T00:00:00+00:00")
    folder = result.save(tmp_path / "p")
    back = load_result(folder)
    tl = pl.read_parquet(folder / GPU_TIMELINE_FILE)
    assert tl.columns == list(TIMELINE_COLUMNS)
    assert tl.schema["gpu_idx"] == pl.Int32
    assert tl.schema["clock_event_reasons"] == pl.Int64
    assert pl.read_parquet(folder / GPUS_FILE).columns == CONTRACT_GPUS
    assert back.gpu_timeline is not None
    assert back.gpu_timeline.equals(result.gpu_timeline)
    assert back.summary["time_origin_utc"] == "2017-10-03T00:00:00+00:00"


def _simulate_demo(out, until, *extra):
    _load_commands()
    demo = str(resources.files("kiban.sim").joinpath(DEMO_SCENARIO))
    args = ["simulate", demo, "--policy", "fifo-static", "--until", until, "--out", str(out)]
    res = CliRunner().invoke(app, [*args, "--json", *extra])
    assert res.exit_code == 0, res.output
    return out / "fifo-static"


def test_cli_record_gpus_writes_the_timeline(tmp_path):
    folder = _simulate_demo(tmp_path / "gpus", "2h", "--record-gpus")
    tl = pl.read_parquet(folder / GPU_TIMELINE_FILE)
    assert tl["gpu_idx"].n_unique() == 512
    assert (tl["end_s"].max()) == 2 * 3600.0
    assert not (_simulate_demo(tmp_path / "plain", "1h") / GPUS_FILE).exists()
