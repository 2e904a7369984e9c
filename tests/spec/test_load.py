"""Loading scenario files: SI properties, frozen models, paths, climate forms, schema."""

from __future__ import annotations

import json

import pytest
from _spec_halls import hall_toml
from pydantic import ValidationError

from kiban import units
from kiban.errors import ConfigError
from kiban.spec import Scenario, load_spec

BASE = (
    hall_toml(grid_limit_kw=500)
    + """
[storage]
shared_fs_bandwidth_gb_per_s = 40.0
local_nvme_cache_tb = 3.84

[[fleet]]
model = "dgx-h100"
count = 4

[simulation]
seed = 3
horizon_days = 2.0
"""
)


def _write(tmp_path, text, name="s.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _problems(path):
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    return info.value.problems


def test_engineer_units_become_si_properties(tmp_path):
    scenario = load_spec(_write(tmp_path, BASE))
    assert scenario.site.grid_limit_w == pytest.approx(500 * units.W_PER_KW)
    assert scenario.hall.floor_rating_pa == pytest.approx(12 * units.PA_PER_KPA)
    assert scenario.storage.shared_fs_bandwidth_b_per_s == pytest.approx(40 * units.B_PER_GB)
    assert scenario.storage.local_nvme_cache_b == pytest.approx(3.84 * units.B_PER_TB)
    assert scenario.simulation.horizon_s == pytest.approx(2 * units.S_PER_DAY)
    rack = scenario.racks_resolved()[0]
    assert rack.power_limit_w == pytest.approx(25 * units.W_PER_KW)
    assert scenario.display_name == "s"
    assert scenario.source_path == tmp_path / "s.toml"


def test_defaults_fill_optional_sections(tmp_path):
    scenario = load_spec(_write(tmp_path, BASE))
    assert scenario.power.redundancy == "N"
    assert scenario.power.n_feeds == 1
    assert scenario.policies.scheduling.name == "fifo"
    assert scenario.workload.synthetic is not None
    assert scenario.workload.synthetic.n_jobs_resolved == 1000
    assert scenario.site.tariff.total_jpy_per_kwh == pytest.approx(22.0)  # physics.md §7.1
    assert scenario.site.grid_co2_kg_per_kwh == pytest.approx(0.45)  # physics.md §7.2


def test_models_are_frozen(tmp_path):
    scenario = load_spec(_write(tmp_path, BASE))
    with pytest.raises(ValidationError):
        scenario.hall.length_m = 3.0  # type: ignore[misc]


def test_grid_layout_names_and_coordinates(tmp_path):
    scenario = load_spec(_write(tmp_path, BASE))
    racks = scenario.racks_resolved()
    assert [r.name for r in racks] == ["R01", "R02", "R03", "R04", "R05", "R06"]
    assert [r.row for r in racks] == [0, 0, 0, 1, 1, 1]
    assert racks[1].x_m - racks[0].x_m == pytest.approx(0.6)  # default pitch = rack width
    assert racks[3].y_m - racks[0].y_m == pytest.approx(2.4)  # default row pitch
    assert [len(r.servers) for r in racks] == [2, 2, 0, 0, 0, 0]  # auto: fill in order


def test_explicit_racks_and_named_placement(tmp_path):
    text = BASE.replace(
        "[hall.grid]\nrows = 2\nracks_per_row = 3\n",
        "\n".join(
            f'[[hall.racks]]\nname = "{n}"\nx_m = {x}\ny_m = 2.0\nrow = 0\n'
            for n, x in (("A1", 2.0), ("A2", 2.6), ("A3", 3.2))
        )
        + '\n[[hall.racks]]\nname = "B1"\nx_m = 2.0\ny_m = 5.0\nrow = 1\npower_limit_kw = 12.0\n',
    ).replace("count = 4", 'count = 3\nracks = ["A3", "A1"]')
    scenario = load_spec(_write(tmp_path, text))
    by_name = {r.name: r for r in scenario.racks_resolved()}
    assert len(by_name["A3"].servers) == 2  # listed first, filled first
    assert len(by_name["A1"].servers) == 1
    assert not by_name["A2"].servers
    assert by_name["B1"].power_limit_w == pytest.approx(12_000.0)
    assert by_name["B1"].row == 1


def test_per_rack_puts_exactly_that_many(tmp_path):
    text = BASE.replace("count = 4", "count = 5\nper_rack = 1")
    racks = load_spec(_write(tmp_path, text)).racks_resolved()
    assert [len(r.servers) for r in racks] == [1, 1, 1, 1, 1, 0]


def test_auto_skips_racks_whose_cooling_cannot_take_liquid(tmp_path):
    text = BASE.replace('model = "dgx-h100"\ncount = 4', 'model = "gb200-nvl72"\ncount = 1')
    text = text.replace("floor_rating_kpa = 12.0", "floor_rating_kpa = 25.0")
    text = text.replace("[hall.grid]\nrows = 2\nracks_per_row = 3\n", "")
    text += (
        '\n[[hall.racks]]\nname = "AIR"\nx_m = 2.0\ny_m = 2.0\n'
        '\n[[hall.racks]]\nname = "DLC"\nx_m = 2.6\ny_m = 2.0\ncooling = "direct-liquid"\n'
        "power_limit_kw = 130.0\n"
    )
    text = text.replace(
        'technology = "crac-raised-floor"',
        'technology = "crac-raised-floor"\nliquid_supply_temp_c = 30.0',
    )
    by_name = {r.name: r for r in load_spec(_write(tmp_path, text)).racks_resolved()}
    assert not by_name["AIR"].servers
    assert [s.name for s in by_name["DLC"].servers] == ["gb200-nvl72"]
    assert by_name["DLC"].cooling.medium == "liquid"


def test_spreader_plates_bring_an_nvl72_within_a_raised_floor(tmp_path):
    """1,360 kg on 1.2 m² = 11.1 kPa ≤ 12 kPa, while 0.64 m² gives 20.8 kPa (physics.md §4.2)."""
    text = BASE.replace('model = "dgx-h100"\ncount = 4', 'model = "gb200-nvl72"\ncount = 1')
    text = text.replace(
        'technology = "crac-raised-floor"',
        'technology = "direct-liquid"\nliquid_supply_temp_c = 32.0',
    )
    text = text.replace("power_limit_kw = 25.0", "power_limit_kw = 130.0")
    (line,) = _problems(_write(tmp_path, text))
    assert "hall.floor_rating_kpa = 12" in line
    assert "20.8 kPa" in line
    fixed = text.replace(
        "power_limit_kw = 130.0", "power_limit_kw = 130.0\nload_spread_area_m2 = 1.2"
    )
    rack = load_spec(_write(tmp_path, fixed, "fixed.toml")).racks_resolved()[0]
    assert rack.floor_load_pa / units.PA_PER_KPA == pytest.approx(11.1, abs=0.05)


def test_paths_resolve_against_the_spec_folder(tmp_path):
    sub = tmp_path / "specs"
    sub.mkdir()
    text = BASE + '\n[workload]\ntrace = "philly:../traces/jobs.csv"\n'
    scenario = load_spec(_write(sub, text))
    assert scenario.workload.trace_format == "philly"
    assert scenario.workload.trace_path == (tmp_path / "traces" / "jobs.csv").resolve()
    with pytest.raises(ConfigError, match=r"trace file not found: .*traces/jobs\.csv"):
        scenario.workload.check_trace()


def test_user_catalog_in_the_spec_changes_placement(tmp_path):
    """An override of the DGX H100's max power to 8 kW lets three fit a 25 kW rack."""
    _write(tmp_path, "[server.dgx-h100]\nmax_power_w = 8000\n", "site-catalog.toml")
    text = 'catalog = "site-catalog.toml"\n' + BASE.replace("count = 4", "count = 6")
    scenario = load_spec(_write(tmp_path, text))
    assert scenario.get_catalog().server("dgx-h100").max_power_w == 8000.0
    assert [len(r.servers) for r in scenario.racks_resolved()][:2] == [3, 3]


def test_bad_user_catalog_reports_the_catalog_file(tmp_path):
    cat = _write(tmp_path, "[gpu.h100-sxm]\ntdp_w = -5\n", "bad-cat.toml")
    problems = _problems(_write(tmp_path, 'catalog = "bad-cat.toml"\n' + BASE))
    assert any(p.startswith(f"{cat}: gpu.h100-sxm.tdp_w = -5") for p in problems), problems


def test_explicit_monthly_climate(tmp_path):
    dry = [5.4, 6.1, 9.4, 14.3, 18.8, 21.9, 25.7, 26.9, 23.3, 18.0, 12.5, 7.7]
    wet = [t - 3.0 for t in dry]
    text = BASE.replace(
        'climate = "tokyo"', f"\n[site.climate]\ndry_bulb_c = {dry}\nwet_bulb_c = {wet}"
    )
    climate = load_spec(_write(tmp_path, text)).site.climate
    assert climate.kind == "explicit"
    assert climate.dry_bulb_c == dry
    swapped = text.replace(f"wet_bulb_c = {wet}", f"wet_bulb_c = {[t + 1.0 for t in dry]}")
    (line,) = _problems(_write(tmp_path, swapped, "swapped.toml"))
    assert "wet-bulb" in line


def test_hourly_climate_file_is_checked_at_validate_time(tmp_path):
    text = BASE.replace('climate = "tokyo"', '\n[site.climate]\nhourly_csv = "weather.csv"')
    (line,) = _problems(_write(tmp_path, text))
    assert 'site.climate.hourly_csv = "' in line
    assert "file not found" in line
    (tmp_path / "weather.csv").write_text("time,temp\n0,1\n", encoding="utf-8")
    (line,) = _problems(_write(tmp_path, text))
    assert "dry_bulb_c" in line
    (tmp_path / "weather.csv").write_text("dry_bulb_c,wet_bulb_c\n5.0,2.0\n", encoding="utf-8")
    climate = load_spec(_write(tmp_path, text)).site.climate
    assert climate.kind == "hourly"
    assert climate.hourly_csv_path == tmp_path / "weather.csv"


def test_several_problems_come_back_together(tmp_path):
    text = BASE.replace("count = 4", "count = -1").replace("length_m = 12.0", "length_m = -3")
    problems = _problems(_write(tmp_path, text))
    assert len(problems) == 2
    assert all(p.startswith(f"{tmp_path / 's.toml'}: ") for p in problems)


def test_json_schema_lists_sections_and_units():
    schema = Scenario.model_json_schema()
    json.dumps(schema)
    assert set(schema["required"]) == {"site", "hall", "cooling", "fleet"}
    hall = schema["$defs"]["Hall"]["properties"]
    assert "floor_rating_kpa" in hall
    assert "kPa" in hall["floor_rating_kpa"]["description"]


def test_model_copy_with_updates_is_placed_afresh(tmp_path):
    scenario = load_spec(_write(tmp_path, BASE))
    assert [len(r.servers) for r in scenario.racks_resolved()][:2] == [2, 2]
    hall = scenario.hall.model_copy(
        update={
            "rack_defaults": scenario.hall.rack_defaults.model_copy(update={"power_limit_kw": 11.0})
        }
    )
    smaller = scenario.model_copy(update={"hall": hall})
    assert [len(r.servers) for r in smaller.racks_resolved()][:4] == [1, 1, 1, 1]
    assert [len(r.servers) for r in scenario.racks_resolved()][:2] == [2, 2]  # original intact
