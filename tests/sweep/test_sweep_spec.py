"""The sweep file: validated like a scenario (file, field, value, what is allowed), planned."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.sweep.helpers import copy_inputs

from kiban.errors import ConfigError
from kiban.sweep import load_sweep, plan_runs


def _sweep(tmp_path, body: str):
    head = 'scenario = "tiny.toml"\n'
    return load_sweep(copy_inputs(tmp_path, head + body))


def _error(tmp_path, body: str) -> str:
    with pytest.raises(ConfigError) as info:
        _sweep(tmp_path, body)
    lines = info.value.problems
    assert len(lines) == 1, lines
    assert lines[0].startswith(str(tmp_path / "sweep.toml") + ": ")
    return lines[0]


def test_ranges_include_stop_and_lists_keep_order(tmp_path):
    spec = _sweep(
        tmp_path,
        "seeds = { start = 1, stop = 3, step = 1 }\n[axes]\n"
        '"cooling.supply_temp_c" = { start = 18, stop = 27, step = 3 }\n'
        '"storage.local_nvme_cache_tb" = { start = 0.0, stop = 1.0, num = 3 }\n'
        'policy = ["easy-backfill", "fifo-static"]\n',
    )
    assert spec.seeds == (1, 2, 3)
    assert spec.axes["cooling.supply_temp_c"] == [18, 21, 24, 27]
    assert spec.axes["storage.local_nvme_cache_tb"] == [0.0, 0.5, 1.0]
    assert spec.axes["policy"] == ["easy-backfill", "fifo-static"]
    assert spec.n_runs == 4 * 3 * 2 * 3
    assert len(plan_runs(spec, "x")) == spec.n_runs


def test_bare_dotted_keys_read_as_nested_tables_are_flattened(tmp_path):
    spec = _sweep(tmp_path, "[axes]\ncooling.supply_temp_c = [18, 24]\n")
    assert spec.axes == {"cooling.supply_temp_c": [18, 24]}


def test_paired_zips_axes_and_crosses_seeds(tmp_path):
    spec = _sweep(
        tmp_path,
        'combine = "paired"\nseeds = [5, 6]\n[axes]\n'
        'policy = ["fifo-static", "easy-backfill"]\n"cooling.supply_temp_c" = [18, 24]\n',
    )
    plan = plan_runs(spec, "x")
    assert [(p.policy, p.values["cooling.supply_temp_c"], p.seed) for p in plan] == [
        ("fifo-static", 18, 5),
        ("fifo-static", 18, 6),
        ("easy-backfill", 24, 5),
        ("easy-backfill", 24, 6),
    ]


def test_run_ids_are_stable_when_values_are_added(tmp_path):
    small = plan_runs(_sweep(tmp_path, 'seeds = [1]\n[axes]\npolicy = ["fifo-static"]\n'), "b")
    big = plan_runs(
        _sweep(tmp_path, 'seeds = [1, 2]\n[axes]\npolicy = ["fifo-static", "easy-backfill"]\n'),
        "b",
    )
    assert small[0].run_id in {p.run_id for p in big}
    assert len({p.run_id for p in big}) == len(big)
    one = 'seeds = [1]\n[axes]\npolicy = ["fifo-static", "easy-backfill"]\n'
    other_base = plan_runs(_sweep(tmp_path, one), "c")
    assert other_base[0].run_id != small[0].run_id


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("senarios = 1\n", "senarios = 1: unknown key; did you mean 'scenario'?"),
        (
            '[axes]\n"cooling.supply_tmp_c" = [18]\n',
            "no field 'supply_tmp_c' in [cooling]; did you mean 'supply_temp_c'?",
        ),
        (
            '[axes]\n"cooling.supply_temp_c" = [18, "hot"]\n',
            'axes."cooling.supply_temp_c" = "hot": invalid in the base scenario tiny.toml: '
            'cooling.supply_temp_c = "hot": must be a number',
        ),
        ('[axes]\n"fleet.count" = [1]\n', "fleet is a list; give an index, e.g. fleet[0].count"),
        ('[axes]\n"fleet[3].count" = [1]\n', "index [3] but the base scenario has 1 fleet entry"),
        (
            '[axes]\npolicy = ["fifo-statik"]\n',
            "axes.policy = \"fifo-statik\": not a registered policy; did you mean 'fifo-static'?",
        ),
        ('[axes]\n"params.estimate_factor" = [2.0]\n', 'with policy "scenario" set [policies]'),
        (
            '[axes]\npolicy = ["easy-backfill"]\n"params.no_such" = [1]\n',
            "unknown parameter(s) ['no_such']",
        ),
        (
            'combine = "paired"\n[axes]\npolicy = ["fifo-static", "easy-backfill"]\n'
            '"cooling.supply_temp_c" = [18, 20, 22]\n',
            "paired axes need the same number of values (or one); got policy: 2, "
            "cooling.supply_temp_c: 3",
        ),
        ('combine = "zip"\n', 'combine = "zip": allowed: factorial, paired'),
        (
            '[axes]\n"cooling.supply_temp_c" = { start = 18, stop = 10, step = 2 }\n',
            "step = 2: must be a number that goes from 18 towards 10",
        ),
        (
            '[axes]\n"cooling.supply_temp_c" = { start = 18, stop = 20 }\n',
            "a range needs start, stop and either step or num",
        ),
        ("seeds = [1, -2]\n", "-2 is not a whole number ≥ 0"),
        ('until = "3 weeks"\n', 'until = "3 weeks": not a duration'),
        ('[axes]\n"cooling.supply_temp_c" = []\n', "must list at least one value"),
        ('trace = "kiban:nope.parquet"\n', "file not found"),
    ],
)
def test_one_clear_line_per_mistake(tmp_path, body, expected):
    assert expected in _error(tmp_path, body)


def test_missing_base_scenario_names_the_field(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('scenario = "nope.toml"\n')
    with pytest.raises(ConfigError, match=r"s\.toml: scenario = \"nope\.toml\": file not found"):
        load_sweep(path)


@pytest.mark.parametrize("name", ["supply-temp.toml", "storage-paired.toml"])
def test_shipped_sweep_examples_load(name):
    examples = Path(__file__).resolve().parents[2] / "examples" / "sweeps"
    spec = load_sweep(examples / name)
    assert spec.n_runs == {"supply-temp.toml": 24, "storage-paired.toml": 20}[name]
