"""``kiban plan`` for a first-time user (issue 16): TCO with sourced capital costs, files written
without --out, a portable layout.toml (floor-plan labels: tests/charts)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.conftest import EXAMPLES
from tests.plan.test_plan import write_hall

from kiban.catalog import default_catalog
from kiban.plan.output import portable_layout_toml
from kiban.plan.run import plan_site
from kiban.spec import load_spec


@pytest.fixture(scope="module")
def tight_plan(tmp_path_factory: pytest.TempPathFactory):
    path = write_hall(tmp_path_factory.mktemp("hall"), name="tight", per_row=16, length=14.0,
                      count=32, limit=45.0)  # fmt: skip
    return plan_site(load_spec(path), compare=False, sweep=False, time_limit_s=30.0)


def test_tco_includes_sourced_capex_of_cooling_power_and_racks(tight_plan):
    """Old behaviour: no capex for any cooling option unless [plan.capex] gave one."""
    cat = default_catalog()
    for name in ("crac-raised-floor", "rear-door-hx", "direct-liquid", "immersion-1p"):
        rec = cat.cooling(name)
        assert rec.capex_jpy_per_kw
        assert rec.capex_jpy_per_kw > 0
        assert rec.rack_capex_jpy
        assert rec.rack_capex_jpy > 0
        assert "Turner & Townsend" in rec.source
    ups = cat.table("ups")["enterprise"]
    assert ups.capex_jpy_per_kw
    assert "Turner & Townsend" in ups.source
    s = tight_plan.summary
    assert s.capex_given
    # capex ≥ power chain + cooling per kW of nameplate IT + one enclosure per used rack
    it_kw = 32 * cat.server("dgx-h100").max_power_w / 1000.0
    floor = it_kw * (ups.capex_jpy_per_kw + 513_000.0) + s.n_racks * 300_000.0
    assert s.capex_jpy >= 0.99 * floor
    assert s.tco_jpy > s.capex_jpy
    assert any(n.startswith("TCO = capital cost") for n in tight_plan.notes)


def test_layout_toml_has_no_machine_specific_paths(tmp_path, monkeypatch):
    """Old behaviour: layout.toml stored the absolute trace path of the planning machine."""
    data = tmp_path / "data"
    (data / "philly").mkdir(parents=True)
    monkeypatch.setenv("KIBAN_DATA", str(data))
    scenario = load_spec(EXAMPLES / "hall-512-h100-rdhx.toml")
    assert scenario.workload.trace_path == data / "philly" / "pollux_philly_jobs.csv"
    other = tmp_path / "elsewhere" / "climate.csv"
    text = (
        "# header\n"
        f'catalog = "{tmp_path / "cat.toml"}"\n'
        f'[workload]\ntrace = "philly:{data}/philly/pollux_philly_jobs.csv"\n'
        f'[site.climate]\nhourly_csv = "{other}"\n'
    )
    out = tmp_path / "plans" / "p1"
    portable = portable_layout_toml(text, out)
    assert str(tmp_path) not in portable
    assert 'trace = "philly:$KIBAN_DATA/philly/pollux_philly_jobs.csv"' in portable
    assert 'hourly_csv = "../../elsewhere/climate.csv"' in portable
    assert portable.startswith("# header\n")


def test_plan_writes_files_without_out(tmp_path, monkeypatch):
    """Old behaviour: without --out nothing was written although the README promised files."""
    import sys  # noqa: PLC0415

    from kiban.cli import main  # noqa: PLC0415

    path = write_hall(tmp_path, name="small", per_row=4, count=8)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["kiban", "plan", str(path), "--no-compare",
                                      "--no-sweep-spacing", "--time-limit", "20"])  # fmt: skip
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code in (0, None)
    written = sorted(p.name for p in (tmp_path / "kiban-plan").iterdir())
    assert {"layout.toml", "plan.json", "floorplan.svg"} <= set(written)
    assert os.stat(tmp_path / "kiban-plan" / "layout.toml").st_size > 0


def test_example_trace_paths_follow_kiban_data(tmp_path, monkeypatch):
    """Old behaviour: the examples' trace path ignored $KIBAN_DATA."""
    monkeypatch.setenv("KIBAN_DATA", str(tmp_path))
    for name in ("philly", "hall-512-h100-rdhx"):
        scenario = load_spec(EXAMPLES / f"{name}.toml")
        assert scenario.workload.trace_path == Path(tmp_path) / "philly" / "pollux_philly_jobs.csv"
