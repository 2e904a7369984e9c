"""`kiban simulate` on examples/time-slice-l40s.toml (time-slicing, issue 15).

The example's trace is synthetic (scripts/make_time_slice_trace.py, seeded): 240 jobs, 201 of
them asking for part of a GPU, which time-slice the L40S GPUs (4 replicas each). End to end
every policy must finish every job and book each GPU-second once (the ledger sums to 16 GPUs ×
the horizon, to 1e-9 relative); with no switching overhead, every policy allocates the same GPU
time to the jobs' work (productive + underused = Σ duration × GPUs, to 1e-9 relative) and the
shared jobs run slower than alone.
"""

from __future__ import annotations

import polars as pl
import pytest
from tests.conftest import EXAMPLES
from tests.workload._simulate_example import (
    assert_ledger_sums_to_capacity,
    simulate_every_placement,
)


def test_kiban_simulate_the_time_slice_example_under_every_placement(tmp_path):
    """Every job finishes under first-, best-, random-fit and fgd; the ledger sums to capacity;
    the GPU time booked to work (productive + underused) is the jobs' work alone (Σ duration ×
    GPUs) under every policy; the shared jobs' mean run time exceeds their duration alone."""
    summaries = simulate_every_placement("time-slice-l40s.toml", tmp_path)
    trace = pl.read_csv(EXAMPLES / "traces" / "time-slice-l40s.csv")
    work_gpu_h = float((trace["duration_s"] * trace["num_gpus"]).sum()) / 3600.0
    shared = trace["gpu_milli"] < 1000
    for pol, summary in summaries.items():
        assert summary["jobs_completed"] == 240
        assert summary["jobs_sharing_gpu"] == int(shared.sum())
        assert_ledger_sums_to_capacity(summary)
        worked = summary["gpu_hours_productive"] + summary["ledger_gpu_hours"]["underused"]
        assert worked == pytest.approx(work_gpu_h, rel=1e-9)
        jobs = pl.read_parquet(tmp_path / pol / "jobs.parquet")
        run_s = jobs["run_s"].to_numpy()[shared.to_numpy()]
        assert run_s.mean() > float(trace["duration_s"].filter(shared).mean())
