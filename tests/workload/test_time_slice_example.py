"""`kiban simulate` on examples/time-slice-l40s.toml (time-slicing, issue 15).

The example's trace is synthetic (scripts/make_time_slice_trace.py, seeded): 240 jobs, 201 of
them asking for part of a GPU, which time-slice the L40S GPUs (4 replicas each). End to end
every policy must finish every job and book each GPU-second once (the ledger sums to 16 GPUs ×
the horizon, to 1e-9 relative); with no switching overhead, every policy allocates the same GPU
time to the jobs' work (productive + underused = Σ duration × GPUs, to 1e-9 relative) and the
shared jobs run slower than alone.
"""

from __future__ import annotations

import json

import polars as pl
import pytest
from tests.conftest import EXAMPLES
from typer.testing import CliRunner

from kiban.cli import _load_commands, app
from kiban.vocabulary import LOST_BUCKETS

_load_commands()
runner = CliRunner()


def test_kiban_simulate_the_time_slice_example_under_every_placement(tmp_path):
    """Every job finishes under first-, best-, random-fit and fgd; the ledger sums to capacity;
    the GPU time booked to work (productive + underused) is the jobs' work alone (Σ duration ×
    GPUs) under every policy; the shared jobs' mean run time exceeds their duration alone."""
    policies = ("fifo-static", "best-fit", "random-fit", "fgd")
    res = runner.invoke(
        app,
        ["simulate", str(EXAMPLES / "time-slice-l40s.toml"), "--policy", ",".join(policies),
         "--out", str(tmp_path), "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    trace = pl.read_csv(EXAMPLES / "traces" / "time-slice-l40s.csv")
    work_gpu_h = float((trace["duration_s"] * trace["num_gpus"]).sum()) / 3600.0
    shared = trace["gpu_milli"] < 1000
    for pol in policies:
        summary = json.loads((tmp_path / pol / "summary.json").read_text(encoding="utf-8"))
        assert summary["jobs_completed"] == 240
        assert summary["jobs_sharing_gpu"] == int(shared.sum())
        ledger = summary["ledger_gpu_hours"]
        total = summary["gpu_hours_productive"] + sum(ledger[k] for k in LOST_BUCKETS)
        assert total == pytest.approx(summary["gpu_hours_capacity"], rel=1e-9)
        worked = summary["gpu_hours_productive"] + ledger["underused"]
        assert worked == pytest.approx(work_gpu_h, rel=1e-9)
        jobs = pl.read_parquet(tmp_path / pol / "jobs.parquet")
        run_s = jobs["run_s"].to_numpy()[shared.to_numpy()]
        assert run_s.mean() > float(trace["duration_s"].filter(shared).mean())
