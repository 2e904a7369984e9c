"""Broken scenario files: `kiban validate` exits 2 with one clear line per problem, no traceback.

Each ``*.toml`` here has exactly one kind of mistake (its first line says which). For each, the
CLI output must name the file and the dotted field path (or say why the file is unreadable)
and say what is allowed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kiban.cli import main

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

# file stem -> fragments that must all appear in the output (path, value, what is allowed)
EXPECTED: dict[str, list[str]] = {
    "invalid_toml": ["invalid TOML", "line 2"],
    "empty": ["empty file", "[site]"],
    "comments_only": ["no settings"],
    "binary_garbage": ["binary data"],
    "not_utf8": ["not UTF-8", "0xe9"],
    "unknown_key": ["hall.lenght_m = 10", "unknown key", "did you mean 'length_m'?"],
    "unknown_section": ["simulaton", "did you mean 'simulation'?"],
    "wrong_type_string": ['hall.width_m = "8 m"', "must be a number"],
    "wrong_type_float_count": ["fleet[0].count = 4.5", "whole number"],
    "wrong_type_fleet_not_list": ['fleet = "dgx-h100"', "[[fleet]]"],
    "negative_count": ["fleet[0].count = -2", "must not be negative"],
    "unknown_model": ['fleet[0].model = "dgx-h10"', "did you mean 'dgx-h100'?"],
    "unknown_cooling": ['cooling.technology = "rear-door"', "did you mean 'rear-door-hx'?"],
    "unknown_ups": ['power.ups = "hyperscal"', "did you mean 'hyperscale'?"],
    "rack_over_power_limit": ["hall.rack_defaults.power_limit_kw = 25", "30.6 kW"],
    "over_cooling_capacity": [
        'cooling.technology = "crac-raised-floor"',
        "per-rack capacity of 25 kW",
        "hot-aisle-containment",
    ],
    "over_floor_rating": ["hall.floor_rating_kpa = 12", "20.8 kPa", "load_spread_area_m2"],
    "unit_mistake_kw": ["power_limit_kw = 30000", "implausible for a rack", "did you mean W?"],
    "unit_mistake_pa": ["hall.floor_rating_kpa = 12000", "did you mean Pa?"],
    "unit_mistake_fahrenheit": ["cooling.supply_temp_c = 65", "did you mean °F?"],
    "missing_section": ["hall = (missing)", "required table [hall]"],
    "missing_fleet": ["fleet = []", "at least 1 entry"],
    "bad_redundancy": ['power.redundancy = "3N"', "allowed: N, N+1, 2N"],
    "bad_containment": ['hall.containment = "hot"', "did you mean 'hot-aisle'?"],
    "bad_climate_city": ['site.climate.monthly = "kyoto"', "tokyo, osaka, sapporo"],
    "climate_eleven_months": ["site.climate.dry_bulb_c", "12 monthly values"],
    "placement_exceeds_racks": ["fleet[0].count = 20", "only 8 dgx-h100 fit"],
    "per_rack_exceeds_listed_racks": ["fleet[0].count = 6", "2 racks × per_rack 2"],
    "unknown_rack_name": ['fleet[0].racks[0] = "R1"', "did you mean 'R01'?"],
    "liquid_server_in_air_rack": ['cooling.technology = "crac-raised-floor"', "liquid"],
    "missing_liquid_supply_temp": ["cooling.liquid_supply_temp_c = (missing)", "W17–W45"],
    "bad_trace_reference": ["workload.trace", "FORMAT:PATH"],
    "two_workloads": ["workload = ", "exactly one of trace"],
    "duplicate_rack_names": ['hall.racks[1].name = "A1"', "unique"],
    "rack_outside_hall": ["hall.racks[1].x_m = 9.9", "outside the 10 × 8 m hall"],
    "grid_longer_than_hall": ["hall.length_m = 10", "at least 19.2 m long"],
    "grid_limit_too_small": ["site.grid_limit_kw = 20", "40.8 kW"],
    "grid_and_rack_list": ["hall = ", "exactly one"],
    "missing_user_catalog": ["catalog = ", "no-such-catalog.toml", "not found"],
    "policy_param_table": ["policies.scheduling.params", "numbers, strings"],
    "redundancy_2n_one_feed": ["power = ", "two feeds"],
    "rack_beyond_pipe_limit": [
        "cooling.max_pipe_length_m = 20",
        "rack A2 (rear-door-hx, 29 m of pipe)",
        "beyond the 20 m pipe limit",
    ],
    "unit_mistake_cable_mm": ["power.max_cable_length_m = 5000", "did you mean mm?"],
    "feed_outside_hall": ["power.feed_x_m = 12", "outside the 10 × 8 m hall", "allowed 0–10 m"],
}

FILES = sorted(HERE.glob("*.toml"))


def test_there_are_enough_broken_files_and_each_has_expectations():
    stems = {p.stem for p in FILES}
    assert len(stems) >= 22
    assert stems == set(EXPECTED), (
        f"missing expectations: {sorted(stems - set(EXPECTED))}; "
        f"missing files: {sorted(set(EXPECTED) - stems)}"
    )


def _run_main(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["kiban", *args])
    with pytest.raises(SystemExit) as info:
        main()
    captured = capsys.readouterr()
    return info.value.code, captured.out + captured.err


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_validate_reports_each_broken_file_in_one_line_per_problem(monkeypatch, capsys, path):
    code, out = _run_main(monkeypatch, capsys, "validate", str(path))
    assert code == 2, out
    assert "Traceback" not in out
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines, "no output"
    for line in lines:
        assert line.startswith(f"error: {path}: "), line  # file name on every line
    for fragment in EXPECTED[path.stem]:
        assert fragment in out, f"{fragment!r} not in:\n{out}"


def test_cli_subprocess_on_all_broken_files_at_once():
    """The installed entry point: exit 2, no traceback, every broken file named."""
    kiban = Path(sys.executable).with_name("kiban")
    cmd = (
        [str(kiban)]
        if kiban.exists()
        else [sys.executable, "-c", "from kiban.cli import main; main()"]
    )
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run(
        [*cmd, "validate", *(str(p.relative_to(REPO)) for p in FILES)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "Traceback" not in out
    for path in FILES:
        assert f"tests/broken/{path.name}: " in out
