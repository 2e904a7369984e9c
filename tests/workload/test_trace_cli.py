"""``kiban trace stats|convert|formats``: output, atomic writes, one-line errors with exit 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

import kiban.cli
from kiban.cli import app, main
from kiban.workload import read_trace

FIXTURES = Path(__file__).parent / "fixtures"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _commands():
    kiban.cli._load_commands()


def run_main(monkeypatch, capsys, *args):
    """Run kiban's real entry point (error handling included); return (code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["kiban", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def test_stats_json():
    result = runner.invoke(
        app, ["trace", "stats", f"helios:{FIXTURES / 'helios_cluster_log.csv'}", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["jobs"] == 4
    assert data["rows"] == 5
    assert data["excluded_rows"] == 1
    assert data["gpu_hours"] == pytest.approx((36848 + 4 * 249 + 675233 + 16 * 7200) / 3600)
    assert data["first_submit"] == "2020-06-09T18:41:01"


def test_stats_table():
    result = runner.invoke(app, ["trace", "stats", f"philly:{FIXTURES / 'philly_jobs.csv'}"])
    assert result.exit_code == 0, result.output
    assert "GPU-hours" in result.stdout
    assert "size mix" in result.stdout
    assert "2017-09-29T07:58:32" in result.stdout


def test_convert_roundtrip(tmp_path):
    out = tmp_path / "jobs.parquet"
    spec = f"philly:{FIXTURES / 'philly_cluster_job_log.json'}"
    result = runner.invoke(app, ["trace", "convert", spec, str(out), "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "3 jobs" in result.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["jobs.parquet"]  # no temp file left
    back = read_trace(f"kiban:{out}")
    assert back.jobs.equals(read_trace(spec, rng=np.random.default_rng(3)).jobs)


def test_skip_bad_reports_count(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "jobs.csv"
    lines = (FIXTURES / "philly_jobs.csv").read_text().splitlines()
    lines.insert(2, "2017-10-09 07:01:55,-3,1,-3,11cb48")
    bad.write_text("\n".join(lines) + "\n")
    code, _out, err = run_main(monkeypatch, capsys, "trace", "stats", f"philly:{bad}", "--json")
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("error: ")
    assert f"{bad}:3: duration = '-3'" in err
    assert "Traceback" not in err
    result = runner.invoke(app, ["trace", "stats", f"philly:{bad}", "--skip-bad"])
    assert result.exit_code == 0
    assert "skipped 1 malformed row(s) of 5" in result.output
    assert f"{bad}:3: duration" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["trace", "stats", "nope:x.csv"],
        ["trace", "stats", "philly:/no/such/file.csv"],
        ["trace", "convert", f"philly:{FIXTURES / 'philly_jobs.csv'}", "/no/such/dir/out.parquet"],
    ],
)
def test_errors_are_one_line(monkeypatch, capsys, args):
    code, _, err = run_main(monkeypatch, capsys, *args)
    assert code == 2
    assert err.startswith("error: ")
    assert err.count("\n") == 1


def test_convert_failure_leaves_old_file(tmp_path, monkeypatch, capsys):
    """A failed conversion never replaces or half-writes the output."""
    out = tmp_path / "jobs.parquet"
    out.write_bytes(b"old")
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,duration,num_gpus,gpu_time,cluster\nx,1,1,1,a\n")
    code, _, _ = run_main(monkeypatch, capsys, "trace", "convert", f"philly:{bad}", str(out))
    assert code == 2
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "jobs.parquet"]


def test_formats_lists_every_reader():
    result = runner.invoke(app, ["trace", "formats"])
    assert result.exit_code == 0
    for name in (
        "philly",
        "gavel",
        "openb",
        "alibaba-pai2020",
        "helios",
        "tiresias",
        "slurm",
        "kiban",
    ):
        assert name in result.stdout


def test_converted_parquet_has_canonical_dtypes(tmp_path):
    out = tmp_path / "t.parquet"
    runner.invoke(app, ["trace", "convert", f"slurm:{FIXTURES / 'slurm_sacct_p.txt'}", str(out)])
    df = pl.read_parquet(out)
    assert df.schema["num_gpus"] == pl.Int64
    assert df.schema["submit_time_s"] == pl.Float64
