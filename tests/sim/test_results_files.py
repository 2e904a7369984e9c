"""Result files: every contract key and column, atomic writes, exact energy after downsampling,
byte-identical summaries for a seed, and the exact server physics in the IT power."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.sim.helpers import jobs, layout, random_jobs, run

from kiban.physics.gpu_power import average_power_under_cap_w
from kiban.physics.server_power import server_power_w
from kiban.results import SimulationResult, downsample_timeseries, load_result
from kiban.units import J_PER_KWH

SUMMARY_KEYS = {
    "jobs_total",
    "jobs_completed",
    "gpu_hours_capacity",
    "gpu_hours_productive",
    "ledger_gpu_hours",
    "fragmentation_gpu_hours",
    "allocated_util_frac",
    "effective_util_frac",
    "jct_mean_s",
    "jct_p50_s",
    "jct_p99_s",
    "wait_mean_s",
    "makespan_s",
    "it_energy_kwh",
    "facility_energy_kwh",
    "pue",
    "cost_jpy",
    "co2_kg",
    "max_inlet_temp_c",
    "seed",
    "kiban_version",
    "wall_time_s",
    "events",
    "policy",
    "scenario_name",
    "n_gpus",
}
LEDGER_KEYS = {
    "idle_no_demand",
    "queue_blocked",
    "io_stall",
    "underused",
    "thermal_throttle",
    "power_cap",
    "failure",
    "checkpoint",
}
JOB_COLUMNS = {
    "job_id",
    "num_gpus",
    "submit_time_s",
    "start_time_s",
    "end_time_s",
    "wait_s",
    "jct_s",
    "energy_j",
    "stall_s",
    "throttle_s",
    "power_cap_s",
    "failure_s",
    "checkpoint_s",
    "completed",
}
TS_COLUMNS = {
    "time_s",
    "it_power_w",
    "cooling_power_w",
    "loss_power_w",
    "facility_power_w",
    "pue",
    "max_inlet_temp_c",
    "allocated_gpus",
    "productive_gpus",
    "io_stall_gpus",
    "throttled_gpus",
    "failed_gpus",
    "queued_jobs",
}


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(5)
    table = random_jobs(rng, 150, horizon_s=50_000.0)
    out = run(
        layout(n_racks=2, servers_per_rack=2),
        table,
        "easy-backfill",
        seed=9,
        failures=True,
        node_failure_rate_per_s=2e-5,
    )
    return out, SimulationResult.from_run(out, scenario_name="t", scenario_toml="name = 't'\n")


def test_every_contract_key_and_column_is_there(result, tmp_path):
    _, res = result
    folder = res.save(tmp_path / "easy-backfill")
    summary = json.loads((folder / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary)
    assert set(summary["ledger_gpu_hours"]) == LEDGER_KEYS
    back = load_result(folder)
    assert JOB_COLUMNS <= set(back.jobs.columns)
    assert TS_COLUMNS <= set(back.timeseries.columns)
    assert {"time_s", "rack_idx", "rack_name", "inlet_temp_c", "power_w"} <= set(back.racks.columns)
    layout_json = json.loads((folder / "layout.json").read_text())
    assert [r["name"] for r in layout_json["racks"]] == ["r00-00", "r00-01"]
    assert {"x_m", "y_m"} <= set(layout_json["racks"][0])
    assert (folder / "scenario.toml").read_text() == "name = 't'\n"
    assert back.summary == summary
    assert back.jobs.equals(res.jobs)
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temp files left
    back.ledger.check()


def test_downsampled_series_keep_the_energy_exactly(result):
    out, res = result
    ts = res.timeseries
    assert ts.height <= 5000
    it_j = float((ts["it_power_w"] * ts["duration_s"]).sum())
    assert it_j == pytest.approx(res.summary["it_energy_kwh"] * J_PER_KWH, rel=1e-9)
    fac_j = float((ts["facility_power_w"] * ts["duration_s"]).sum())
    assert fac_j == pytest.approx(res.summary["facility_energy_kwh"] * J_PER_KWH, rel=1e-9)
    prod = float((ts["productive_gpus"] * ts["duration_s"]).sum())
    assert prod == pytest.approx(out.ledger_gpu_s["productive"] + _redone(out), rel=1e-9)
    assert ts["max_inlet_temp_c"].max() == pytest.approx(res.summary["max_inlet_temp_c"])
    rack_j = res.racks["power_w"] * res.racks["duration_s"]
    assert float(rack_j.sum()) == pytest.approx(it_j, rel=1e-9)


def _redone(out):
    """Redone work was counted productive while it ran, then moved to failure."""
    return float(np.dot(out.jobs.num_gpus, out.job["failure_s"])) - _restore_fail(out)


def _restore_fail(out):
    t = out.log["time_s"]
    alloc = out.log["allocated_gpus"]
    parts = sum(
        out.log[k]
        for k in (
            "productive_gpus",
            "io_stall_gpus",
            "throttled_gpus",
            "power_capped_gpus",
            "checkpoint_gpus",
        )
    )
    return float(np.dot((alloc - parts)[:-1], np.diff(t)))


def test_time_weighted_average_by_hand():
    cols = {
        "time_s": np.array([0.0, 10.0, 30.0]),
        "x_w": np.array([1.0, 3.0, 99.0]),
        "max_inlet_temp_c": np.array([20.0, 25.0, 21.0]),
    }
    ts = downsample_timeseries(cols, 40.0, max_rows=2)
    np.testing.assert_allclose(ts["time_s"], [0.0, 20.0])
    np.testing.assert_allclose(ts["x_w"], [(10 * 1 + 10 * 3) / 20, (10 * 3 + 10 * 99) / 20])
    np.testing.assert_allclose(ts["max_inlet_temp_c"], [25.0, 25.0])


def test_same_seed_gives_a_byte_identical_summary_but_for_timing():
    rng = np.random.default_rng(2)
    table = random_jobs(rng, 100)
    timing = ("wall_time_s", "jobs_per_s", "events_per_s")
    texts = []
    for _ in range(2):
        out = run(
            layout(servers_per_rack=2),
            table,
            "random-fit",
            seed=11,
            failures=True,
            node_failure_rate_per_s=3e-5,
        )
        summary = SimulationResult.from_run(out).summary
        for key in timing:
            summary.pop(key)
        texts.append(json.dumps(summary, sort_keys=True))
    assert texts[0] == texts[1]
    out3 = run(
        layout(servers_per_rack=2),
        table,
        "random-fit",
        seed=12,
        failures=True,
        node_failure_rate_per_s=3e-5,
    )
    assert json.loads(texts[0])["seed"] != SimulationResult.from_run(out3).summary["seed"]


def test_it_power_is_the_exact_server_model():
    """One DGX H100, one 8-GPU job: while it runs the IT power is server_power_w of the node at
    8 × the job's GPU power, full host load and the supply inlet (no recirculation)."""
    lay = layout(supply_temp_c=24.0)
    out = run(lay, jobs([(100.0, 1000.0, 8)], activity_frac=[0.7]))
    server, sku = lay.servers[0], lay.skus[0]
    gpu_w = 8 * float(average_power_under_cap_w(sku.tdp_w, 0.7, sku))
    busy = float(server_power_w(gpu_w, 1.0, 24.0, server, sku))
    idle = float(server_power_w(8 * sku.idle_empty_power_w, 0.0, 24.0, server, sku))
    t = out.log["time_s"]
    p = out.log["it_power_w"]
    assert p[t == 0.0][0] == pytest.approx(idle, rel=1e-12)
    assert p[t == 100.0][-1] == pytest.approx(busy, rel=1e-12)
    assert p[t == 1100.0][-1] == pytest.approx(idle, rel=1e-12)
