"""The structured report context: golden snapshots, and properties that must hold for any input.

Set KIBAN_UPDATE_GOLDEN=1 to rewrite tests/report/golden/*.json after an intended change, then
review the diff before committing.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import polars as pl
import pytest
from report_fixtures import site_evaluation, write_result_dir

from kiban._version import __version__
from kiban.errors import ConfigError, KibanError, SchemaError
from kiban.report import build_context, build_site_context
from kiban.report._load import load_runs
from kiban.report.context import COMPARISON_ROWS, LEDGER_BUCKETS, fair_values
from kiban.site import evaluate_site
from kiban.spec import load_spec

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("KIBAN_UPDATE_GOLDEN", "") not in {"", "0"}


def _normalize(obj):
    """Drop the version (it changes every release) from the snapshot."""
    if isinstance(obj, dict):
        return {k: _normalize(v) for k, v in obj.items() if k != "kiban_version"}
    if isinstance(obj, list):
        return [_normalize(v) for v in obj]
    if isinstance(obj, str):
        return obj.replace(__version__, "<version>")
    return obj


def _assert_same(actual, expected, path="$"):
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        assert sorted(actual) == sorted(expected), f"{path}: keys differ"
        for k in expected:
            _assert_same(actual[k], expected[k], f"{path}.{k}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), path
        assert len(actual) == len(expected), f"{path}: length {len(actual)} != {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _assert_same(a, e, f"{path}[{i}]")
    elif isinstance(expected, float) and not isinstance(expected, bool):
        assert actual == pytest.approx(expected, rel=1e-5, abs=1e-9), path
    else:
        assert actual == expected, path


def _check_golden(name: str, data: dict) -> None:
    path = GOLDEN / name
    data = _normalize(data)
    if UPDATE or not path.exists():
        if not UPDATE and os.environ.get("CI"):
            pytest.fail(f"golden file {path} is missing; run with KIBAN_UPDATE_GOLDEN=1")
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        if not UPDATE:
            pytest.skip(f"wrote new golden file {path.name}; review and commit it")
    expected = json.loads(path.read_text(encoding="utf-8"))
    _assert_same(data, expected)


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_context_matches_golden(result_run, lang):
    _check_golden(f"context_{lang}.json", build_context(result_run, lang).to_dict())


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_site_context_matches_golden(lang):
    _check_golden(f"site_{lang}.json", build_site_context(site_evaluation(), lang).to_dict())


def test_golden_check_can_fail(result_run):
    data = _normalize(build_context(result_run, "en").to_dict())
    data["comparison"][0]["cells"][0]["text"] = "99.9%"
    expected = json.loads((GOLDEN / "context_en.json").read_text(encoding="utf-8"))
    with pytest.raises(AssertionError):
        _assert_same(data, expected)


def test_every_chart_has_title_axis_labels_and_a_reading(result_run):
    ctx = build_context(result_run, "en")
    charts = ctx.charts()
    kinds = sorted({c.kind for c in charts})
    assert kinds == ["area", "heatmap", "lines", "waterfall"]
    assert len(charts) == 2 * 4 + 2
    for chart in charts:
        assert chart.title, chart.chart_id
        assert chart.x_label, chart.chart_id
        assert chart.reading.endswith("."), chart.chart_id
        if chart.kind != "waterfall":  # the waterfall's other axis is the bucket names
            assert chart.y_label, chart.chart_id
        assert chart.x_ticks, chart.chart_id
    ids = [c.chart_id for c in charts]
    assert len(ids) == len(set(ids))


def test_waterfall_runs_from_capacity_to_productive(result_run):
    ctx = build_context(result_run, "en")
    summary = json.loads((result_run / "fifo" / "summary.json").read_text())
    wf = next(c for c in ctx.charts() if c.chart_id == "fifo-waterfall")
    assert [b.key for b in wf.bars] == ["capacity", *LEDGER_BUCKETS, "productive"]
    capacity = wf.bars[0].end
    assert capacity == summary["gpu_hours_capacity"]
    lost = sum(b.end - b.start for b in wf.bars if b.kind == "loss")
    assert capacity - lost == pytest.approx(wf.bars[-1].end, rel=1e-9)
    assert wf.bars[-1].end == pytest.approx(summary["gpu_hours_productive"])
    # The reading names the largest bucket with its share, computed from the data.
    worst = max(LEDGER_BUCKETS, key=lambda b: summary["ledger_gpu_hours"][b])
    share = summary["ledger_gpu_hours"][worst] / summary["gpu_hours_capacity"]
    assert wf.reading.startswith(f"Queue blocked is the largest loss, {share:.1%} of capacity")
    assert worst == "queue_blocked"
    assert "GPUs were free" in wf.reading
    assert "fragmentation alone cost 6.0% of capacity" in wf.reading


def test_best_value_per_row_is_highlighted(result_run):
    ctx = build_context(result_run, "en")
    runs = load_runs([result_run])
    extra, _ = fair_values(runs)
    for (key, skey, better, _), row in zip(COMPARISON_ROWS, ctx.comparison, strict=True):
        assert row.key == key
        values = [e[skey] if skey in e else r.num(skey) for e, r in zip(extra, runs, strict=True)]
        if better == "context" or any(v is None for v in values):
            assert not any(c.best for c in row.cells), key  # context rows are never ranked
            continue
        best = max(values) if better == "higher" else min(values)
        best_text = row.cells[values.index(best)].text
        all_tie = all(c.text == best_text for c in row.cells)
        for cell, value in zip(row.cells, values, strict=True):
            if value == best and not all_tie:
                assert cell.best, (key, value)
            if cell.best:
                assert cell.text == best_text, key
        if all_tie:  # nothing stands out when every policy shows the same value
            assert not any(c.best for c in row.cells), key
    assert any(c.best for row in ctx.comparison for c in row.cells)


def test_single_policy_highlights_nothing(tmp_path):
    write_result_dir(tmp_path, "fifo")
    ctx = build_context(tmp_path / "fifo", "en")
    assert ctx.policies == ["fifo"]
    assert not any(c.best for row in ctx.comparison for c in row.cells)
    jct = next(c for c in ctx.charts() if c.chart_id == "jct-cdf")
    assert jct.reading.startswith("Half of the jobs finished within")


def test_power_reading_numbers_come_from_the_timeseries(result_run):
    ctx = build_context(result_run, "en")
    ts = pl.read_parquet(result_run / "fifo" / "timeseries.parquet")
    power = next(c for c in ctx.charts() if c.chart_id == "fifo-power")
    peak_kw = ts["facility_power_w"].max() / 1000.0
    assert f"(peak {peak_kw:.1f}\u00a0kW)" in power.reading
    assert power.y_label == "Power (kW)"
    assert power.y2_label == "PUE"


def test_heatmap_puts_each_rack_at_its_floor_position(result_run):
    ctx = build_context(result_run, "en")
    heat = next(c for c in ctx.charts() if c.chart_id == "fifo-heatmap")
    layout = json.loads((result_run / "fifo" / "layout.json").read_text())["racks"]
    racks = pl.read_parquet(result_run / "fifo" / "racks.parquet")
    hottest = racks.group_by("rack_name").agg(pl.col("inlet_temp_c").max()).sort("inlet_temp_c")
    assert [(c.name, c.x_m, c.y_m) for c in heat.cells] == [
        (r["name"], r["x_m"], r["y_m"]) for r in layout
    ]
    assert f"The hottest rack, {hottest['rack_name'][-1]}," in heat.reading
    assert heat.colorbar is not None
    assert heat.colorbar.lo <= min(c.value for c in heat.cells)
    assert heat.colorbar.hi >= max(c.value for c in heat.cells)


def test_missing_rack_files_leave_a_note_not_a_crash(tmp_path):
    d = write_result_dir(tmp_path, "fifo")
    (d / "racks.parquet").unlink()
    ctx = build_context(d, "ja")
    assert not any(c.kind == "heatmap" for c in ctx.charts())
    assert "ヒートマップを省略" in ctx.sections[0].notes[0]


def test_not_a_result_directory_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"no summary\.json in it or in any sub-directory"):
        build_context(tmp_path, "en")
    with pytest.raises(ConfigError, match="not a directory"):
        build_context(tmp_path / "missing", "en")
    with pytest.raises(ConfigError, match="not a supported language"):
        build_context(tmp_path, "de")


def test_broken_files_name_the_file_and_the_column(tmp_path):
    d = write_result_dir(tmp_path, "fifo")
    pl.read_parquet(d / "jobs.parquet").drop("jct_s").write_parquet(d / "jobs.parquet")
    with pytest.raises(SchemaError, match=r"jobs\.parquet: missing column\(s\) jct_s"):
        build_context(d, "en")
    (d / "summary.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(SchemaError, match=r"summary\.json: not valid JSON"):
        build_context(d, "en")


def test_duplicate_policy_names_are_told_apart(tmp_path):
    a = write_result_dir(tmp_path / "a", "fifo")
    b = tmp_path / "b" / "fifo"
    shutil.copytree(a, b)
    ctx = build_context([a, b], "en")
    assert ctx.policies == ["fifo (a)", "fifo (b)"]


def test_missing_summary_values_show_a_dash(tmp_path):
    d = write_result_dir(tmp_path, "fifo")
    summary = json.loads((d / "summary.json").read_text())
    del summary["co2_kg"]
    summary["pue"] = None
    (d / "summary.json").write_text(json.dumps(summary))
    ctx = build_context(d, "en")
    row = {r.key: r for r in ctx.comparison}
    assert row["co2"].cells[0].text == "—"
    assert row["pue"].cells[0].text == "—"
    assert math.isfinite(row["cost"].cells[0].value)


def test_site_evaluation_missing_fields_are_named():
    ev = site_evaluation()
    del ev["monthly_pue"]
    with pytest.raises(SchemaError, match=r"lacks field\(s\) monthly_pue"):
        build_site_context(ev, "en")
    ev = site_evaluation()
    ev["rack_x_m"] = ev["rack_x_m"][:-1]
    with pytest.raises(KibanError, match="rack_x_m has 39 values; rack_names has 40"):
        build_site_context(ev, "en")


def test_site_evaluation_can_be_an_object():
    class Ev:
        pass

    ev = Ev()
    for k, v in site_evaluation().items():
        setattr(ev, k, v)
    ctx = build_site_context(ev, "en")
    assert [c.chart_id for c in ctx.charts] == [
        "site-heatmap",
        "site-power",
        "site-pue",
        "site-cost",
    ]
    pue = next(c for c in ctx.charts if c.chart_id == "site-pue")
    assert pue.reading.startswith("PUE ranges from 1.19 in Jan to 1.37 in Jul")


def test_site_report_reads_a_real_site_evaluation():
    example = Path(__file__).resolve().parents[2] / "examples" / "hall-512-h100-rdhx.toml"
    ev = evaluate_site(load_spec(example))
    ctx = build_site_context(ev, "ja")
    ids = [c.chart_id for c in ctx.charts]
    assert ids == ["site-heatmap", "site-power", "site-pue", "site-cost"]
    cards = {c.key: c for c in ctx.cards}
    assert cards["annual_pue"].value == pytest.approx(ev.annual_pue)
    assert cards["yearly_cost"].value == pytest.approx(ev.cost_jpy)
    heat = ctx.charts[0]
    assert len(heat.cells) == len(ev.rack_names)


def test_site_rack_without_room_air_is_grey_not_hottest():
    ev = site_evaluation()
    temps = list(ev["rack_inlet_temp_c"])
    temps[0] = float("nan")  # an immersion tank
    ev["rack_inlet_temp_c"] = temps
    ctx = build_site_context(ev, "en")
    heat = ctx.charts[0]
    assert heat.cells[0].color == "#cccccc"
    cards = {c.key: c for c in ctx.cards}
    assert cards["hottest_inlet"].value == max(t for t in temps if t == t)


def test_pue_reading_without_summary_pue_is_energy_weighted(tmp_path):
    d = write_result_dir(tmp_path, "fifo")
    summary = json.loads((d / "summary.json").read_text())
    del summary["pue"]
    (d / "summary.json").write_text(json.dumps(summary))
    ts = pl.read_parquet(d / "timeseries.parquet")
    dt = ts["time_s"].diff().drop_nulls().to_numpy()
    fac = float((ts["facility_power_w"].to_numpy()[:-1] * dt).sum())
    it = float((ts["it_power_w"].to_numpy()[:-1] * dt).sum())
    power = next(c for c in build_context(d, "en").charts() if c.chart_id == "fifo-power")
    assert f"PUE averaged {fac / it:.2f} (from" in power.reading
