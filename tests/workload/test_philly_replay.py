"""Reading the full Philly job table reproduces the trace's own statistics (issue 4, fidelity).

Independent reference: the raw CSV read with plain polars (not the kiban reader).
"""

from __future__ import annotations

import time
from datetime import datetime

import numpy as np
import polars as pl
import pytest
from tests.conftest import require_data

from kiban.workload import read_trace, trace_stats


@pytest.fixture(scope="module")
def philly(data_root):
    path = require_data(data_root, "philly", "pollux_philly_jobs.csv")
    start = time.perf_counter()
    result = read_trace(f"philly:{path}", rng=np.random.default_rng(0))
    elapsed_s = time.perf_counter() - start
    raw = pl.read_csv(path).drop_nulls()
    return result, raw, elapsed_s


def test_job_count_and_accounting(philly):
    result, raw, _ = philly
    assert result.jobs.height == 82_247 == raw.height
    assert (result.n_rows, result.n_bad, result.n_excluded) == (82_247, 0, 0)


def test_gpu_time_equals_duration_times_gpus(philly):
    """Per job: duration_s × num_gpus equals the CSV's gpu_time (job_id = CSV data row)."""
    result, raw, _ = philly
    jobs = result.jobs.sort(pl.col("job_id").cast(pl.Int64))
    gpu_s = (jobs["duration_s"] * jobs["num_gpus"]).to_numpy()
    np.testing.assert_array_equal(gpu_s, raw["gpu_time"].to_numpy())
    stats = trace_stats(result.jobs)
    assert stats["gpu_hours"] == pytest.approx(raw["gpu_time"].sum() / 3600.0, rel=1e-12)


def test_arrival_span_and_size_mix(philly):
    result, raw, _ = philly
    stats = trace_stats(result.jobs, origin=result.origin)
    assert result.origin == datetime(2017, 9, 4, 10, 30, 41)
    assert stats["first_submit"] == "2017-09-04T10:30:41"
    assert stats["last_submit"] == "2017-12-22T08:02:11"
    counts = raw["num_gpus"].value_counts()
    one_gpu = counts.filter(pl.col("num_gpus") == 1)["count"][0]
    assert stats["size_mix"]["1"] == pytest.approx(one_gpu / raw.height, rel=1e-12)
    assert stats["max_num_gpus"] == 128
    assert stats["duration_p50_s"] == pytest.approx(float(raw["duration"].median()), rel=1e-12)
    assert set(result.jobs["queue"].unique()) == set(raw["cluster"].unique())
