"""Bad job tables get one clear TraceError naming job, field and value; order is by submit time."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from kiban.errors import TraceError
from kiban.sim import JobTable


def test_unsorted_submit_times_are_sorted_stably_and_traced_back():
    t = JobTable.from_arrays([30.0, 10.0, 10.0], [1.0, 2.0, 3.0], [1, 2, 4], job_id=["a", "b", "c"])
    assert list(t.job_id) == ["b", "c", "a"]
    assert t.source_row.tolist() == [1, 2, 0]
    assert t.duration_s.tolist() == [2.0, 3.0, 1.0]


@pytest.mark.parametrize(
    ("submit", "duration", "gpus", "field"),
    [
        ([0.0], [-1.0], [1], "duration_s"),
        ([0.0], [np.nan], [1], "duration_s"),
        ([0.0], [5.0], [0], "num_gpus"),
        ([0.0], [5.0], [-2], "num_gpus"),
        ([np.inf], [5.0], [1], "submit_time_s"),
    ],
)
def test_bad_values_name_the_job_and_field(submit, duration, gpus, field):
    with pytest.raises(TraceError, match=field) as err:
        JobTable.from_arrays(submit, duration, gpus, job_id=["j7"], source="trace.csv")
    assert "trace.csv" in str(err.value)
    assert "'j7'" in str(err.value)


def test_gpus_per_node_must_divide_num_gpus():
    with pytest.raises(TraceError, match="gpus_per_node"):
        JobTable.from_arrays([0.0], [5.0], [6], gpus_per_node=[4])


def test_from_frame_takes_the_canonical_columns_and_defaults_the_rest():
    frame = pl.DataFrame(
        {
            "job_id": ["x", "y"],
            "submit_time_s": [5.0, 1.0],
            "duration_s": [10.0, 20.0],
            "num_gpus": [8, 1],
            "gpu_model": ["h100-sxm", ""],
            "activity_frac": [0.5, 0.9],
        }
    )
    t = JobTable.from_frame(frame)
    assert list(t.job_id) == ["y", "x"]
    assert list(t.gpu_model) == ["", "h100-sxm"]
    assert t.activity_frac.tolist() == [0.9, 0.5]
    assert t.compute_bound_frac.tolist() == [0.9, 0.9]


def test_from_frame_requires_the_time_columns():
    with pytest.raises(TraceError, match="duration_s"):
        JobTable.from_frame(pl.DataFrame({"submit_time_s": [0.0], "num_gpus": [1]}))
