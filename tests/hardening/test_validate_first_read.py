"""Issue 16: the first ``kiban validate`` of a scenario with a trace: fast, and no check lost.

Three changes, each held to the behaviour before: the trace is checked in a forked process while
the scenario is loaded (same answer, same one-line error); validate reads the trace without
building the job-model columns (every row still checked); ``number_column`` checks on numpy
arrays (same rows flagged, same messages as the polars version it replaced).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.conftest import EXAMPLES

from kiban.cli._trace_memo import SETTLED_S
from kiban.cli.validate import _trace_in_toml
from kiban.errors import TraceError
from kiban.spec import load_spec
from kiban.workload import read_trace
from kiban.workload._rows import MAX_EXACT_INT, RowChecks, number_column
from kiban.workload.schema import JOB_MODEL_COLUMNS

PHILLY_HEAD = "timestamp,duration,num_gpus,gpu_time,cluster\n"
ROWS = [
    f"2017-10-0{1 + i % 9} 07:01:55,100,{1 + i % 4},{100 * (1 + i % 4)},vc{i}" for i in range(60)
]


def _scenario(tmp_path: Path, rows: list[str], trace_text: str | None = None) -> Path:
    """The philly example pointing at a small trace beside it (a relative path)."""
    (tmp_path / "jobs.csv").write_text(PHILLY_HEAD + "\n".join(rows) + "\n", encoding="utf-8")
    text = (EXAMPLES / "philly.toml").read_text(encoding="utf-8")
    old = 'trace = "philly:$KIBAN_DATA/philly/pollux_philly_jobs.csv"'
    assert old in text
    text = text.replace(old, f'trace = "{trace_text or "philly:jobs.csv"}"')
    path = tmp_path / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_trace_guessed_from_the_toml_is_the_loaded_one(tmp_path: Path) -> None:
    """The parallel check answers only for the loaded scenario's exact trace: the guess must hit."""
    cases = [p for p in sorted(EXAMPLES.glob("*.toml")) if _trace_in_toml(p) is not None]
    assert len(cases) >= 2
    (tmp_path / "sub").mkdir()
    cases.append(_scenario(tmp_path / "sub", ROWS, "philly:../sub/./jobs.csv"))
    for path in cases:
        workload = load_spec(path).workload
        assert _trace_in_toml(path) == (workload.trace, workload.skip_bad), path


def _kiban_subprocess(tmp_path: Path, *args: str) -> tuple[int, str, str, bool]:
    """``kiban ARGS`` in a fresh process; also whether that (parent) process imported polars."""
    code = (
        "import sys\nfrom kiban.cli import main\nsys.argv[0] = 'kiban'\n"
        "try:\n    main()\nfinally:\n"
        "    print('polars loaded:', 'polars' in sys.modules, file=sys.stderr)\n"
    )
    env = dict(os.environ, KIBAN_CACHE_DIR=str(tmp_path / "cache"), COLUMNS="200")
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    err, _, flag = proc.stderr.rpartition("polars loaded: ")
    return proc.returncode, proc.stdout, err, flag.strip() == "True"


def test_parallel_trace_check_gives_the_same_answer(tmp_path: Path, kiban) -> None:
    """A bad row: the forked check's one line equals the in-process check's, exit 2 both."""
    rows = list(ROWS)
    rows[40] = "2017-10-01 07:01:55,ten,1,100,vc40"
    scenario = _scenario(tmp_path, rows)
    code, out, err, parent_read = _kiban_subprocess(tmp_path, "validate", str(scenario))
    assert not parent_read, "the trace was read in the main process, not ahead in parallel"
    assert code == 2, out + err
    expected = f"{tmp_path / 'jobs.csv'}:42: duration = 'ten': must be a number ≥ 0 s"
    assert expected in err
    assert "Traceback" not in err
    # In this (test) process polars is loaded, so validate checks the trace in-process.
    code_here, _, err_here = kiban("validate", str(scenario))
    assert code_here == 2
    assert [line for line in err.splitlines() if "jobs.csv" in line] == [
        line for line in err_here.splitlines() if "jobs.csv" in line
    ]


def test_parallel_trace_check_remembers_a_clean_read(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path, ROWS)
    time.sleep(SETTLED_S + 0.1)  # a file is remembered once its last change has settled
    code, out, err, parent_read = _kiban_subprocess(tmp_path, "validate", str(scenario))
    assert code == 0, out + err
    assert not parent_read
    assert out.startswith(f"OK {scenario}: ")
    assert len(list((tmp_path / "cache" / "checked-traces").iterdir())) == 1


def test_check_only_read_keeps_every_row_and_check(tmp_path: Path) -> None:
    """``job_model=False`` gives the same rows and columns, less the job model (left NaN)."""
    scenario = _scenario(tmp_path, ROWS)
    trace = load_spec(scenario).workload.trace
    assert trace is not None
    full = read_trace(trace)
    checked = read_trace(trace, job_model=False)
    others = [c for c in full.jobs.columns if c not in JOB_MODEL_COLUMNS]
    assert checked.jobs.select(others).equals(full.jobs.select(others))
    for name in JOB_MODEL_COLUMNS:
        assert checked.jobs[name].is_nan().all(), name
    assert (checked.n_rows, checked.n_bad, checked.notes) == (full.n_rows, full.n_bad, full.notes)
    bad = list(ROWS)
    bad[7] = "2017-10-01 07:01:55,100,0,0,vc7"
    (tmp_path / "jobs.csv").write_text(PHILLY_HEAD + "\n".join(bad) + "\n", encoding="utf-8")
    for job_model in (True, False):
        with pytest.raises(TraceError, match=r"jobs\.csv:9: num_gpus = '0': must be an integer"):
            read_trace(trace, job_model=job_model)


def _number_column_polars(checks: RowChecks, raw: pl.Series, field: str, **kw: object) -> None:
    """The polars version of number_column that the numpy one replaced (reference)."""
    min_value, max_value = kw.get("min_value"), kw.get("max_value")
    integer, required = bool(kw.get("integer")), bool(kw.get("required", True))
    stripped = raw.str.strip_chars()
    empty = stripped.is_null() | (stripped == "")
    values = stripped.cast(pl.Float64, strict=False)
    bad_text = values.is_null() & ~empty
    if integer and max_value is None:
        max_value = float(MAX_EXACT_INT)
    allowed = "must be X"
    checks.check(bad_text, field, raw, allowed)
    if required:
        checks.check(raw.is_null() | (raw.str.strip_chars() == ""), field, raw, "is required (X)")
    nonfinite = values.is_nan() | values.is_infinite()
    checks.check(nonfinite, field, raw, allowed)
    if min_value is not None:
        checks.check(values < min_value, field, raw, allowed)
    if max_value is not None:
        checks.check(values > max_value, field, raw, allowed)
    if integer:
        checks.check((values.round(0) != values) & ~nonfinite, field, raw, f"{allowed}; fraction")


@pytest.mark.parametrize("seed", range(4))
def test_number_column_flags_what_the_polars_version_flagged(seed: int) -> None:
    rng = random.Random(seed)
    pool = ["1", "2.0", "2.5", " 3 ", "-1", "0", "", " ", "nan", "inf", "-inf", "1e400", "x",
            "1e16", "9007199254740993", "7", "0.0"]  # fmt: skip
    raw = pl.Series("f", [rng.choice(pool) for _ in range(200)] + [None], dtype=pl.String)
    lines = np.arange(2, raw.len() + 2)
    cases: list[dict[str, object]] = [
        {},
        {"min_value": 0},
        {"min_value": 1, "max_value": 8, "integer": True},
        {"integer": True, "required": False},
        {"max_value": 5, "required": False},
    ]
    for kw in cases:
        new = RowChecks("t.csv", lines, skip_bad=True)
        old = RowChecks("t.csv", lines, skip_bad=True)
        number_column(new, raw, "f", **kw)  # type: ignore[arg-type]
        _number_column_polars(old, raw, "f", **kw)
        keep_new, keep_old = new.finish(), old.finish()
        assert keep_new.tolist() == keep_old.tolist(), kw
        # The same check reports each bad row first: the same kind of message.
        for row in np.flatnonzero(~keep_new):
            assert _kind(new._describe(int(row))) == _kind(old._describe(int(row))), (kw, row)
        assert new.n_bad == old.n_bad


def _kind(message: str) -> str:
    if "is required" in message:
        return "required"
    return "fraction" if "fraction" in message else "allowed"
