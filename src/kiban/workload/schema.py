"""The canonical jobs table: column declarations (name, dtype, unit, description) and validation.

Every trace reader and the synthetic generator produce this table (``docs/contracts.md``,
"Canonical jobs table"). It is a polars DataFrame in memory and a parquet file on disk; every
column that holds a physical quantity carries its unit suffix (:mod:`kiban.units`).

Rows are sorted by ``submit_time_s`` (ties keep trace order) and times count from the trace's first
submission, so the first row has ``submit_time_s == 0`` for every reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from kiban.errors import TraceError
from kiban.mig import MIG_PROFILE_NAMES
from kiban.vocabulary import MILLI_PER_GPU

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "JOBS_COLUMNS",
    "JOBS_OPTIONAL_SCHEMA",
    "JOBS_SCHEMA",
    "JOB_MODEL_COLUMNS",
    "MILLI_PER_GPU",
    "ColumnSpec",
    "empty_jobs",
    "jobs_frame",
    "optional_columns",
    "validate_jobs",
]


@dataclass(frozen=True)
class ColumnSpec:
    """One column of the canonical jobs table.

    Attributes:
        name: Column name (with its unit suffix where it holds a physical quantity).
        dtype: polars dtype.
        unit: SI unit of the values ("" for identifiers, counts and text; "1" for fractions).
        description: What the column means and its allowed range.
    """

    name: str
    dtype: type[pl.DataType]
    unit: str
    description: str


JOBS_SCHEMA: tuple[ColumnSpec, ...] = (
    ColumnSpec("job_id", pl.String, "", "Job identifier from the trace (unique, non-empty)."),
    ColumnSpec("submit_time_s", pl.Float64, "s", "Submission time from the trace's first submit."),
    ColumnSpec(
        "duration_s", pl.Float64, "s", "Run time at full speed on num_gpus, unshared (≥ 0)."
    ),
    ColumnSpec("num_gpus", pl.Int64, "", "GPUs the job needs (≥ 1)."),
    ColumnSpec("gpus_per_node", pl.Int64, "", "Required GPUs per node (0 = any split)."),
    ColumnSpec("gpu_model", pl.String, "", "Required GPU model as the trace names it ('' = any)."),
    ColumnSpec("user", pl.String, "", "User (hashed in public traces; '' if unknown)."),
    ColumnSpec("queue", pl.String, "", "Queue, partition or virtual cluster ('' if unknown)."),
    ColumnSpec("priority", pl.Int64, "", "Scheduler priority from the trace; larger = sooner."),
    ColumnSpec(
        "compute_bound_frac",
        pl.Float64,
        "1",
        "β, share of run time that scales with the SM clock, in [0, 1] (physics.md §2.4).",
    ),
    ColumnSpec(
        "activity_frac",
        pl.Float64,
        "1",
        "A, power-weighted GPU activity while running, in [0, 1] (physics.md §2.2).",
    ),
    ColumnSpec(
        "input_rate_b_per_s_per_gpu",
        pl.Float64,
        "B/s",
        "Input bytes per second per GPU at full speed (≥ 0; physics.md §5.1).",
    ),
    ColumnSpec("dataset_size_b", pl.Float64, "B", "Training data set size (≥ 0)."),
    ColumnSpec(
        "checkpoint_size_b", pl.Float64, "B", "Checkpoint size, N_params · 14 B (≥ 0; §5.2)."
    ),
    ColumnSpec(
        "checkpoint_interval_s",
        pl.Float64,
        "s",
        "Compute time between checkpoints (≥ 0; 0 = never checkpoints).",
    ),
    ColumnSpec("status", pl.String, "", "The trace's final job state ('' if unknown)."),
)
"""The columns, in order. A test checks every numeric name's unit suffix against ``unit``."""

JOBS_COLUMNS: tuple[str, ...] = tuple(c.name for c in JOBS_SCHEMA)
"""Column names in canonical order."""


JOBS_OPTIONAL_SCHEMA: tuple[ColumnSpec, ...] = (
    ColumnSpec(
        "gpu_milli",
        pl.Int64,
        "",
        "Share of one GPU a single-GPU job needs, in milli-GPU (1–1000; 1000 = a whole GPU; "
        "below 1000 only when num_gpus = 1). Jobs below 1000 share a GPU (openb's gpu_milli).",
    ),
    ColumnSpec("cpu_milli", pl.Int64, "", "Host CPU the job needs on its node, milli-cores (≥ 0)."),
    ColumnSpec("memory_b", pl.Float64, "B", "Host memory the job needs on its node (≥ 0)."),
    ColumnSpec(
        "mig_profile",
        pl.String,
        "",
        "MIG profile a single-GPU job runs on, as NVIDIA names it ('3g.40gb'; '' = none): the job "
        "takes one GPU instance of that profile on a GPU whose catalog geometry offers it "
        "(kiban.mig).",
    ),
    ColumnSpec(
        "min_num_gpus",
        pl.Int64,
        "",
        "Fewest GPUs an elastic job accepts (≤ num_gpus; absent = rigid).",
    ),
    ColumnSpec(
        "max_num_gpus",
        pl.Int64,
        "",
        "Most GPUs an elastic job accepts (≥ num_gpus; absent = rigid).",
    ),
    ColumnSpec(
        "goodput_model",
        pl.String,
        "",
        "Pollux goodput profile of an elastic job (kiban.workload.goodput.GOODPUT_PROFILES; "
        "'' = speed proportional to GPUs).",
    ),
)
"""Columns a table may carry (sharing and host-resource traces such as openb); absent = whole
GPUs and no CPU or memory request. Kept through reading, conversion and simulation."""

_OPTIONAL: dict[str, ColumnSpec] = {c.name: c for c in JOBS_OPTIONAL_SCHEMA}

JOB_MODEL_COLUMNS: tuple[str, ...] = (
    "compute_bound_frac",
    "activity_frac",
    "input_rate_b_per_s_per_gpu",
    "dataset_size_b",
    "checkpoint_size_b",
    "checkpoint_interval_s",
)
"""Columns that traces do not carry; ``kiban.workload.job_model.assign_job_model`` fills them."""

_DTYPES: dict[str, type[pl.DataType]] = {c.name: c.dtype for c in JOBS_SCHEMA}
_MAX_SHOWN = 3


def empty_jobs() -> pl.DataFrame:
    """Return an empty canonical jobs table with the declared dtypes."""
    return pl.DataFrame(schema={c.name: c.dtype for c in JOBS_SCHEMA})


def jobs_frame(columns: Mapping[str, Sequence[object] | np.ndarray | pl.Series]) -> pl.DataFrame:
    """Build a canonical table from per-column arrays, cast to the declared dtypes, in order.

    Missing text columns become "", missing ``gpus_per_node``/``priority`` become 0. Job-model
    columns must be given (or added later by ``assign_job_model``); missing ones become NaN so
    that :func:`validate_jobs` reports them.

    Args:
        columns: Column name → values. Unknown names raise.

    Returns:
        A DataFrame with exactly :data:`JOBS_COLUMNS`.

    Raises:
        TraceError: for a column name that is not in the schema.
    """
    unknown = sorted(set(columns) - set(JOBS_COLUMNS) - set(_OPTIONAL))
    if unknown:
        msg = f"unknown jobs-table column(s) {unknown}; allowed: {list(JOBS_COLUMNS)}"
        raise TraceError(msg)
    n = len(next(iter(columns.values()))) if columns else 0
    data: dict[str, pl.Series] = {}
    for spec in (*JOBS_SCHEMA, *(_OPTIONAL[c] for c in _OPTIONAL if c in columns)):
        if spec.name in columns:
            values = columns[spec.name]
            series = values if isinstance(values, pl.Series) else pl.Series(values)
            if spec.dtype == pl.Int64 and series.dtype.is_float():
                _whole_or_fail(spec.name, series)
            try:
                data[spec.name] = series.alias(spec.name).cast(spec.dtype, strict=True)
            except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError):
                msg = f"jobs-table column {spec.name}: values do not fit {spec.dtype}"
                raise TraceError(msg) from None
        elif spec.dtype == pl.String:
            data[spec.name] = pl.repeat("", n, eager=True, dtype=pl.String).alias(spec.name)
        elif spec.dtype == pl.Int64:
            data[spec.name] = pl.Series(spec.name, np.zeros(n, dtype=np.int64))
        else:
            data[spec.name] = pl.Series(spec.name, np.full(n, np.nan))
    return pl.DataFrame(data)


def _whole_or_fail(name: str, series: pl.Series) -> None:
    """Integer columns hold whole numbers: a fraction is an error, never truncated."""
    v = series.to_numpy().astype(float)
    with np.errstate(invalid="ignore"):
        bad = np.isfinite(v) & ((v != np.round(v)) | (np.abs(v) > 2**53))
    if bad.any():
        _fail("<jobs table>", name, bad, v, "must be a whole number (never rounded)")


def _py(value: object) -> object:
    """A numpy scalar as the plain Python value (for readable messages)."""
    return value.item() if isinstance(value, np.generic) else value


def _fail(source: str, column: str, rows: np.ndarray, values: np.ndarray, allowed: str) -> None:
    idx = np.flatnonzero(rows)
    first = int(idx[0])
    shown = ", ".join(f"row {int(i)}: {_py(values[i])!r}" for i in idx[:_MAX_SHOWN])
    more = f" (and {idx.size - _MAX_SHOWN} more)" if idx.size > _MAX_SHOWN else ""
    value = _py(values[first])
    msg = f"{source}: column {column} = {value!r} at row {first}: {allowed} [{shown}{more}]"
    raise TraceError(msg)


def validate_jobs(
    df: pl.DataFrame, source: str = "<jobs table>", *, job_model: bool = True
) -> None:
    """Check a canonical jobs table: columns, dtypes, ranges, unique ids and sorted submits.

    Args:
        df: The table to check.
        source: Where it came from (a file name), used in error messages.
        job_model: Also check the values of :data:`JOB_MODEL_COLUMNS` (False: a table read
            only to check the trace, whose job-model columns were left unset).

    Raises:
        TraceError: naming the column, the first bad value and its row, and what is allowed.
    """
    missing = [c for c in JOBS_COLUMNS if c not in df.columns]
    if missing:
        msg = f"{source}: jobs table lacks column(s) {missing}; required: {list(JOBS_COLUMNS)}"
        raise TraceError(msg)
    extra = [c for c in df.columns if c not in _DTYPES and c not in _OPTIONAL]
    if extra:
        msg = f"{source}: jobs table has unknown column(s) {extra}; allowed: {list(JOBS_COLUMNS)}"
        raise TraceError(msg)
    dtypes = {**_DTYPES, **{c: _OPTIONAL[c].dtype for c in _OPTIONAL if c in df.columns}}
    for name, dtype in dtypes.items():
        if not job_model and name in JOB_MODEL_COLUMNS:
            continue
        if df.schema[name] != dtype:
            msg = f"{source}: column {name} has dtype {df.schema[name]}; required: {dtype}"
            raise TraceError(msg)
        if df[name].null_count():
            rows = df[name].is_null().to_numpy()
            _fail(source, name, rows, df[name].to_numpy(), "must not be missing (null)")
    if df.height == 0:
        return

    job_id = df["job_id"].to_numpy()
    _check(
        source, "job_id", df["job_id"].str.len_chars().to_numpy() == 0, job_id, "must be non-empty"
    )
    dup = df["job_id"].is_duplicated().to_numpy()
    _check(source, "job_id", dup, job_id, "must be unique")

    submit = df["submit_time_s"].to_numpy()
    _check(source, "submit_time_s", ~np.isfinite(submit) | (submit < 0), submit, "finite ≥ 0 s")
    unsorted = np.zeros(submit.size, dtype=bool)
    unsorted[1:] = submit[1:] < submit[:-1]
    _check(
        source,
        "submit_time_s",
        unsorted,
        submit,
        "rows must be sorted by submit_time_s (readers sort; sort the table before use)",
    )
    dur = df["duration_s"].to_numpy()
    _check(source, "duration_s", ~np.isfinite(dur) | (dur < 0), dur, "must be finite and ≥ 0 s")
    gpus = df["num_gpus"].to_numpy()
    _check(source, "num_gpus", gpus < 1, gpus, "must be ≥ 1 (CPU-only jobs are not GPU jobs)")
    per_node = df["gpus_per_node"].to_numpy()
    _check(source, "gpus_per_node", per_node < 0, per_node, "must be ≥ 0 (0 = any split)")
    if job_model:
        for name in ("compute_bound_frac", "activity_frac"):
            v = df[name].to_numpy()
            _check(source, name, ~np.isfinite(v) | (v < 0) | (v > 1), v, "must be in [0, 1]")
        for name in (
            "input_rate_b_per_s_per_gpu",
            "dataset_size_b",
            "checkpoint_size_b",
            "checkpoint_interval_s",
        ):
            v = df[name].to_numpy()
            _check(source, name, ~np.isfinite(v) | (v < 0), v, "must be finite and ≥ 0")
    _validate_optional(df, source, gpus)


def optional_columns(df: pl.DataFrame) -> list[str]:
    """The optional columns (:data:`JOBS_OPTIONAL_SCHEMA`) that ``df`` carries, in order."""
    return [c for c in _OPTIONAL if c in df.columns]


def _validate_optional(df: pl.DataFrame, source: str, gpus: np.ndarray) -> None:
    if "gpu_milli" in df.columns:
        milli = df["gpu_milli"].to_numpy()
        _check(
            source,
            "gpu_milli",
            (milli < 1) | (milli > MILLI_PER_GPU),
            milli,
            f"must be 1–{MILLI_PER_GPU} milli-GPU",
        )
        _check(
            source,
            "gpu_milli",
            (milli < MILLI_PER_GPU) & (gpus != 1),
            milli,
            f"must be {MILLI_PER_GPU} when num_gpus > 1 (only single-GPU jobs share a GPU)",
        )
    if "mig_profile" in df.columns:
        check_mig_profiles(source, df["mig_profile"].to_numpy(), gpus)
        if "gpu_milli" in df.columns:
            milli = df["gpu_milli"].to_numpy()
            _check(
                source,
                "gpu_milli",
                (df["mig_profile"].to_numpy() != "") & (milli != MILLI_PER_GPU),
                milli,
                f"must be {MILLI_PER_GPU} for a job with a mig_profile (the profile is its share)",
            )
    if "cpu_milli" in df.columns:
        cpu = df["cpu_milli"].to_numpy()
        _check(source, "cpu_milli", cpu < 0, cpu, "must be ≥ 0 milli-cores")
    if "memory_b" in df.columns:
        mem = df["memory_b"].to_numpy()
        _check(source, "memory_b", ~np.isfinite(mem) | (mem < 0), mem, "must be finite and ≥ 0")


def check_mig_profiles(source: str, profiles: np.ndarray, gpus: np.ndarray) -> None:
    """Check a ``mig_profile`` column: known profile names, on single-GPU jobs only.

    Raises:
        TraceError: naming the source, the column, the first bad value and its row, and the
            profiles the catalog knows (:data:`kiban.mig.MIG_PROFILE_NAMES`).
    """
    values = np.asarray(profiles, dtype=object)
    known = np.array([v == "" or v in MIG_PROFILE_NAMES for v in values.tolist()], dtype=bool)
    _check(
        source,
        "mig_profile",
        ~known,
        values,
        "not a MIG profile of any GPU in the catalog; allowed: '' (none) or "
        + ", ".join(MIG_PROFILE_NAMES),
    )
    _check(
        source,
        "mig_profile",
        (values != "") & (np.asarray(gpus) != 1),
        values,
        "a job with a MIG profile takes one GPU instance: num_gpus must be 1",
    )


def _check(source: str, column: str, bad: np.ndarray, values: np.ndarray, allowed: str) -> None:
    if bad.any():
        _fail(source, column, bad, values, allowed)


HOST_POD_COLUMNS: tuple[str, ...] = (
    "job_id",
    "submit_time_s",
    "duration_s",
    "cpu_milli",
    "memory_b",
)
"""Columns of a trace's CPU-only pods table (optional: ``never_scheduled``)."""


def check_host_pods(frame: pl.DataFrame, source: str) -> dict[str, np.ndarray]:
    """The CPU-only pods table's numeric columns as float arrays, checked.

    Raises:
        TraceError: a missing column, or a value that is not a finite number ≥ 0 (names the
            source, the pod, the column and the value).
    """
    missing = [c for c in HOST_POD_COLUMNS if c not in frame.columns]
    if missing:
        msg = f"{source}: CPU-only pods table lacks column(s) {missing}; has {frame.columns}"
        raise TraceError(msg)
    out: dict[str, np.ndarray] = {}
    for name in HOST_POD_COLUMNS[1:]:
        v = frame[name].cast(pl.Float64).to_numpy()
        bad = np.flatnonzero(~np.isfinite(v) | (v < 0))
        if bad.size:
            i = int(bad[0])
            msg = (
                f"{source}: CPU-only pod {frame['job_id'].cast(str)[i]!r}: {name} = "
                f"{float(v[i])!r}: must be a finite number ≥ 0"
            )
            raise TraceError(msg)
        out[name] = v
    return out
