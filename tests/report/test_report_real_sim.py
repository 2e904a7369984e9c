"""The report on the simulator's own result files (kiban.sim + kiban.results), not a fixture."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from report_text import ENGLISH_WORD, visible_text

from kiban.catalog import default_catalog
from kiban.policies.registry import make_policy
from kiban.report import build_context, render_html
from kiban.report.context import LEDGER_BUCKETS
from kiban.results import SimulationResult
from kiban.sim import JobTable, SimSettings, simulate, uniform_layout

POLICIES = ("fifo-static", "easy-backfill")


@pytest.fixture(scope="module")
def sim_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(3)
    n = 120
    submit = np.sort(rng.uniform(0, 86_400.0, n))
    table = JobTable.from_arrays(
        submit, rng.exponential(4 * 3600.0, n) + 60.0, rng.choice([1, 2, 4, 8, 16], n)
    )
    cat = default_catalog()
    layout = uniform_layout(
        cat.server("dgx-h100"), cat.gpu("h100-sxm"), n_racks=4, servers_per_rack=2
    )
    root = tmp_path_factory.mktemp("sim") / "run"
    for name in POLICIES:
        out = simulate(layout, table, make_policy("policy", name, None), settings=SimSettings())
        SimulationResult.from_run(
            out, scenario_name="tiny-sim", scenario_toml="[site]\nname = 'tiny-sim'\n"
        ).save(root / name)
    return root


def test_report_on_simulator_output_is_complete(sim_run):
    ctx = build_context(sim_run, "en")
    assert ctx.policies == list(POLICIES)  # baseline first (fifo-static), as the demo shows
    kinds = [c.kind for c in ctx.sections[0].charts]
    assert kinds == ["waterfall", "area", "area", "heatmap"]
    assert [c.chart_id for c in ctx.distributions] == ["jct-cdf", "wait-cdf"]
    for section in ctx.sections:
        summary = json.loads((sim_run / section.policy / "summary.json").read_text())
        wf = section.charts[0]
        bars = {b.key: b for b in wf.bars}
        for bucket in LEDGER_BUCKETS:
            lost = bars[bucket].end - bars[bucket].start
            assert lost == pytest.approx(summary["ledger_gpu_hours"][bucket], abs=1e-6)
        assert bars["productive"].end == pytest.approx(summary["gpu_hours_productive"])


def test_gpu_states_add_up_to_the_gpu_count(sim_run):
    ctx = build_context(sim_run, "en")
    summary = json.loads((sim_run / "fifo-static" / "summary.json").read_text())
    states = next(c for c in ctx.charts() if c.chart_id == "fifo-static-states")
    total = np.sum([s.y for s in states.series], axis=0)
    np.testing.assert_allclose(total, summary["n_gpus"], rtol=1e-6)
    # the time axis covers the whole run, last bin included
    ts = pl.read_parquet(sim_run / "fifo-static" / "timeseries.parquet")
    end_s = float(ts["time_s"][-1] + ts["duration_s"][-1])
    assert states.x_range[1] * 86_400.0 >= end_s or states.x_range[1] * 3600.0 >= end_s


def test_japanese_report_on_simulator_output_has_no_english(sim_run):
    ctx = build_context(sim_run, "ja")
    text = visible_text(render_html(ctx))
    allowed = {"PUE", "GPU", "JCT", "IT", "CO", "kWh", "MWh", "GWh", "kW", "MW", "kg"}
    allowed |= {"kiban", "ASHRAE", "fifo", "static", "easy", "backfill", "tiny", "sim"}
    # rack names come from the simulator's layout (r00-00 ...): data, not UI text
    allowed |= {
        w for name in ctx.sections[0].charts[-1].cells for w in ENGLISH_WORD.findall(name.name)
    }
    left = sorted({w for run in text for w in ENGLISH_WORD.findall(run)} - allowed)
    assert left == []
