"""The canonical jobs table: declared columns and units, validation errors, job-model mix."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from kiban.errors import ConfigError, TraceError
from kiban.units import SUFFIXES, unit_of
from kiban.workload import (
    JOB_MODEL_COLUMNS,
    JOBS_COLUMNS,
    JOBS_SCHEMA,
    JobModelMix,
    assign_job_model,
    jobs_frame,
    validate_jobs,
)
from kiban.workload.job_model import DURATION_CLASSES, SIZE_CLASSES


def test_columns_match_the_contract():
    """docs/contracts.md 'Canonical jobs table' lists exactly these columns, in this order."""
    assert JOBS_COLUMNS == (
        "job_id", "submit_time_s", "duration_s", "num_gpus", "gpus_per_node", "gpu_model",
        "user", "queue", "priority", "compute_bound_frac", "activity_frac",
        "input_rate_b_per_s_per_gpu", "dataset_size_b", "checkpoint_size_b",
        "checkpoint_interval_s", "status",
    )  # fmt: skip


def test_declared_units_match_name_suffixes():
    """Every float column's suffix declares the unit the schema says (STYLE.md §9.5).

    ``input_rate_b_per_s_per_gpu`` (name fixed by docs/contracts.md) carries its unit before the
    ``_per_gpu`` qualifier.
    """
    for spec in JOBS_SCHEMA:
        if spec.dtype == pl.Float64:
            name = spec.name.removesuffix("_per_gpu")
            assert unit_of(name) == spec.unit, spec.name
            assert any(name.endswith(s) for s in SUFFIXES)
        else:
            assert spec.unit in {"", "1"}, spec.name


def _table(n=3, **overrides):
    cols = {
        "job_id": [f"j{i}" for i in range(n)],
        "submit_time_s": np.arange(n, dtype=float) * 10,
        "duration_s": np.full(n, 100.0),
        "num_gpus": np.ones(n, dtype=np.int64),
    }
    cols.update(overrides)
    return assign_job_model(jobs_frame(cols), np.random.default_rng(0))


def test_valid_table_passes():
    table = _table()
    validate_jobs(table, "t")  # raises TraceError on any problem
    assert table.height == 3


@pytest.mark.parametrize(
    ("column", "values", "needle"),
    [
        ("duration_s", [100.0, -5.0, 1.0], "duration_s = -5.0 at row 1"),
        ("num_gpus", [1, 0, 1], "num_gpus = 0 at row 1"),
        ("submit_time_s", [0.0, 20.0, 10.0], "sorted"),
        ("job_id", ["a", "b", "a"], "unique"),
        ("submit_time_s", [0.0, np.nan, 10.0], "submit_time_s"),
    ],
)
def test_validation_names_column_value_and_row(column, values, needle):
    df = _table(**{column: values})
    with pytest.raises(TraceError, match="t: column") as err:
        validate_jobs(df, "t")
    assert needle in str(err.value)


def test_missing_and_unknown_columns_are_reported():
    df = _table()
    with pytest.raises(TraceError, match="lacks column"):
        validate_jobs(df.drop("status"), "t")
    with pytest.raises(TraceError, match="unknown column"):
        validate_jobs(df.with_columns(pl.lit(1).alias("extra")), "t")
    with pytest.raises(TraceError, match="dtype"):
        validate_jobs(df.with_columns(pl.col("num_gpus").cast(pl.Float64)), "t")


def test_job_model_is_deterministic_and_in_range():
    """Same table and seed → identical job-model columns; values inside the documented ranges."""
    rng = np.random.default_rng(7)
    n = 5000
    base = jobs_frame(
        {
            "job_id": [str(i) for i in range(n)],
            "submit_time_s": np.sort(rng.random(n) * 1e6),
            "duration_s": np.exp(rng.uniform(2, 13, n)),
            "num_gpus": rng.choice([1, 2, 4, 8, 16, 64, 128], n),
        }
    )
    a = assign_job_model(base, np.random.default_rng(1))
    b = assign_job_model(base, np.random.default_rng(1))
    assert a.equals(b)
    validate_jobs(a, "mix")
    c = assign_job_model(base, np.random.default_rng(2))
    assert not a.equals(c)
    assert a["activity_frac"].is_between(0, 1).all()
    # ckpt = 14 B/param: every checkpoint is within [1e6, 7e10] params × 14 B, or 0 (dev jobs)
    ckpt = a["checkpoint_size_b"].to_numpy()
    assert ((ckpt == 0) | ((ckpt >= 14 * 1e6) & (ckpt <= 14 * 7e10))).all()
    interval = a["checkpoint_interval_s"].to_numpy()
    assert ((ckpt == 0) == (interval == 0)).all()
    assert interval[interval > 0].min() >= 600
    assert interval.max() <= 4 * 3600


def test_job_model_classes_follow_the_mix():
    """Long 1-GPU jobs are never 'dev' (A ≈ 0.3); short 1-GPU jobs are 'dev' ≈ 60 % of the time."""
    n = 20_000
    rng = np.random.default_rng(3)

    def frame(duration_s, gpus):
        return jobs_frame(
            {
                "job_id": [str(i) for i in range(n)],
                "submit_time_s": np.arange(n, dtype=float),
                "duration_s": np.full(n, duration_s),
                "num_gpus": np.full(n, gpus),
            }
        )

    long_jobs = assign_job_model(frame(3 * 86400.0, 1), rng)
    assert long_jobs["activity_frac"].min() > 0.7
    short = assign_job_model(frame(60.0, 1), rng)
    dev_share = (short["activity_frac"] < 0.5).mean()
    assert dev_share == pytest.approx(0.60, abs=0.02)
    # llm-sized jobs carry big checkpoints: > 64 GPUs, long → 60 % llm with ≥ 1e9 params
    big = assign_job_model(frame(3 * 86400.0, 128), rng)
    assert (big["checkpoint_size_b"] >= 14e9).mean() == pytest.approx(0.60, abs=0.02)


def test_mix_overrides_and_errors():
    mix = JobModelMix.from_dict(
        {"archetypes": {"dev": {"activity_frac": 0.1}}, "weights": {"*/short": {"dev": 1.0}}}
    )
    assert mix.archetypes["dev"].activity_frac == 0.1
    for size in SIZE_CLASSES:
        assert dict(mix.weights[f"{size}/short"]) == {"dev": 1.0}
    assert set(mix.weights) == {f"{s}/{d}" for s in SIZE_CLASSES for d in DURATION_CLASSES}
    with pytest.raises(
        ConfigError, match=r"mix\.archetypes\.dev\.activity_frac = 1\.5: must be in"
    ):
        JobModelMix.from_dict({"archetypes": {"dev": {"activity_frac": 1.5}}})
    with pytest.raises(ConfigError, match="unknown archetype"):
        JobModelMix.from_dict({"weights": {"small/short": {"nope": 1.0}}})
    with pytest.raises(ConfigError, match="unknown key"):
        JobModelMix.from_dict({"colour": "red"})
    with pytest.raises(ConfigError, match="<size>/<duration>"):
        JobModelMix.from_dict({"weights": {"tiny/short": {"dev": 1.0}}})


def test_job_model_columns_are_listed():
    assert set(JOB_MODEL_COLUMNS) <= set(JOBS_COLUMNS)
