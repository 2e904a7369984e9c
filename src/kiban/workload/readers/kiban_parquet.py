"""kiban's own canonical jobs table as parquet (what ``kiban trace convert`` writes).

The file holds exactly the canonical columns (``kiban.workload.schema``) with their dtypes; its
parquet key-value metadata may hold ``kiban.origin`` (ISO wall-clock time of the first submission)
and ``kiban.source``. Reading keeps the job-model columns from the file (no mix is applied), sorts
rows by submit time if they are not sorted, and shifts times so the first submission is at 0 s.
The whole table is validated; ``--skip-bad`` does not apply to this format (a bad value names the
column and row).

CPU-only pods (openb's ``num_gpu = 0``, issue 15) are rows with ``num_gpus = 0``: their
``submit_time_s``, ``duration_s``, ``cpu_milli`` and ``memory_b`` on the jobs' clock, ``status``
"Pending" when the trace never scheduled them, zeros elsewhere. Reading hands them on as the
trace's host pods (``RawTrace.host_pods``, counted as excluded rows), so a converted openb trace
replays the same as its CSV.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from kiban.errors import TraceError
from kiban.workload._rows import check_input
from kiban.workload.registry import RawTrace, register_reader
from kiban.workload.schema import (
    JOBS_COLUMNS,
    JOBS_OPTIONAL_SCHEMA,
    JOBS_SCHEMA,
    check_host_pods,
    optional_columns,
    validate_jobs,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["read_kiban", "write_jobs_parquet"]

NEVER_SCHEDULED_STATUS = "Pending"
"""``status`` of a CPU-only pod row that the trace never scheduled (openb's ``pod_phase``)."""
ORIGIN_KEY = b"kiban.origin"
SOURCE_KEY = b"kiban.source"


@register_reader("kiban", description="kiban canonical jobs table (parquet)")
def read_kiban(path: Path, *, skip_bad: bool) -> RawTrace:
    """Read a canonical jobs parquet file.

    Args:
        path: The parquet file.
        skip_bad: Ignored (the table is validated as a whole).

    Returns:
        The raw trace carrying the complete frame.

    Raises:
        TraceError: unreadable file, missing or mistyped columns.
    """
    import pyarrow as pa  # noqa: PLC0415 (startup time: discovery imports every reader)
    import pyarrow.parquet as pq  # noqa: PLC0415

    check_input(path, text=False)
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException, UnicodeDecodeError) as err:
        msg = f"{path}: cannot read parquet: {_first_line(err)}"
        raise TraceError(msg) from None
    names = list(schema.names)
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        msg = f"{path}: column(s) {dupes} appear more than once; a kiban jobs table has each once"
        raise TraceError(msg)
    missing = [c for c in JOBS_COLUMNS if c not in names]
    if missing:
        msg = f"{path}: missing column(s) {missing}; a kiban jobs table has {list(JOBS_COLUMNS)}"
        raise TraceError(msg)
    for spec in JOBS_SCHEMA:
        _check_type(path, spec.name, spec.dtype, schema.field(spec.name).type)
    try:
        extra = [c.name for c in JOBS_OPTIONAL_SCHEMA if c.name in names]
        for spec in JOBS_OPTIONAL_SCHEMA:
            if spec.name in names:
                _check_type(path, spec.name, spec.dtype, schema.field(spec.name).type)
        table = pq.read_table(path, columns=[*JOBS_COLUMNS, *extra])
    except (OSError, pa.ArrowException, UnicodeDecodeError) as err:
        msg = f"{path}: cannot read parquet: {_first_line(err)}"
        raise TraceError(msg) from None
    meta = schema.metadata or {}
    n_rows = table.num_rows
    origin = None
    if ORIGIN_KEY in meta:
        try:
            origin = datetime.fromisoformat(meta[ORIGIN_KEY].decode())
        except (ValueError, UnicodeDecodeError):
            msg = f"{path}: metadata kiban.origin = {meta[ORIGIN_KEY]!r}: must be an ISO time"
            raise TraceError(msg) from None
    df = pl.from_arrow(table)
    if not isinstance(df, pl.DataFrame):  # pragma: no cover - from_arrow of a Table
        msg = f"{path}: not a table"
        raise TraceError(msg)
    specs = [*JOBS_SCHEMA, *(c for c in JOBS_OPTIONAL_SCHEMA if c.name in df.columns)]
    for spec in specs:
        if spec.dtype == pl.Int64 and df.schema[spec.name].is_float():
            _check_whole(path, spec.name, df[spec.name])
    try:
        df = df.select([pl.col(c.name).cast(c.dtype, strict=True) for c in specs])
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as err:
        msg = f"{path}: a column has the wrong type: {_first_line(err)}"
        raise TraceError(msg) from None
    cpu_only = df["num_gpus"] == 0
    if not cpu_only.any():
        return RawTrace(columns={}, n_rows=n_rows, origin=origin, frame=df)
    host = df.filter(cpu_only)
    zeros = pl.Series([0] * host.height, dtype=pl.Int64)
    host_pods = pl.DataFrame(
        {
            "job_id": host["job_id"],
            "submit_time_s": host["submit_time_s"],
            "duration_s": host["duration_s"],
            "cpu_milli": host["cpu_milli"] if "cpu_milli" in host.columns else zeros,
            "memory_b": host["memory_b"] if "memory_b" in host.columns else zeros.cast(pl.Float64),
            "never_scheduled": host["status"] == NEVER_SCHEDULED_STATUS,
        }
    )
    note = (
        f"{host.height:,} CPU-only pods (num_gpus = 0) replayed on the nodes' CPU and memory, "
        "not as GPU jobs"
    )
    return RawTrace(
        columns={},
        n_rows=n_rows,
        origin=origin,
        frame=df.filter(~cpu_only),
        n_excluded=host.height,
        notes=[note],
        host_pods=host_pods,
    )


def _first_line(err: Exception) -> str:
    """The first line of a library error (pyarrow appends the whole schema)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _check_type(path: Path, name: str, want: type[pl.DataType], got: pa.DataType) -> None:
    """A column's parquet type must be the kind the table declares (text, whole number, number)."""
    import pyarrow as pa  # noqa: PLC0415 (startup time)

    if want == pl.String:
        ok = pa.types.is_string(got) or pa.types.is_large_string(got)
        ok = ok or pa.types.is_string_view(got)
        kind = "text (string)"
    elif want == pl.Int64:
        ok = pa.types.is_integer(got) or pa.types.is_floating(got)
        kind = "whole numbers (int64)"
    else:
        ok = pa.types.is_integer(got) or pa.types.is_floating(got)
        kind = "numbers (float64)"
    if ok:
        return
    hint = ""
    if pa.types.is_timestamp(got) or pa.types.is_date(got) or pa.types.is_duration(got):
        hint = (
            f"; {name} holds seconds, not date-times: convert it to seconds (for a submit time, "
            "seconds from the first submission) before writing, e.g. with kiban trace convert"
        )
    msg = f"{path}: column {name} has type {got}; required: {kind}{hint}"
    raise TraceError(msg)


def _check_whole(path: Path, name: str, values: pl.Series) -> None:
    """A float column that the table declares as integer must hold whole numbers only."""
    v = values.to_numpy()
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(v) | (v != np.round(v)) | (np.abs(v) > 2**53)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        msg = (
            f"{path}: column {name} = {float(v[row])!r} at row {row}: must be a whole number "
            f"(a fraction is never rounded; {int(bad.sum())} such row(s))"
        )
        raise TraceError(msg)


def write_jobs_parquet(
    df: pl.DataFrame,
    path: Path,
    *,
    origin: datetime | None = None,
    source: str | None = None,
    host_pods: pl.DataFrame | None = None,
) -> Path:
    """Validate and write a canonical jobs table as parquet, atomically (temp file + rename).

    Args:
        df: The canonical table.
        path: Output file; its folder must exist.
        origin: Wall-clock time of ``submit_time_s == 0``, stored as metadata.
        source: Where the table came from (e.g. ``philly:jobs.csv``), stored as metadata.
        host_pods: The trace's CPU-only pods (``TraceReadResult.host_pods``), written as rows
            with ``num_gpus = 0`` (see the module docstring), or None.

    Returns:
        The path written.

    Raises:
        TraceError: invalid table, or the file cannot be written (nothing is left behind).
    """
    validate_jobs(df, source or str(path))
    out = df.select([*JOBS_COLUMNS, *optional_columns(df)])
    if host_pods is not None and host_pods.height:
        out = _with_host_rows(out, host_pods, source or str(path))
    table = out.to_arrow()
    meta = dict(table.schema.metadata or {})
    if origin is not None:
        meta[ORIGIN_KEY] = origin.isoformat().encode()
    if source is not None:
        meta[SOURCE_KEY] = source.encode()
    table = table.replace_schema_metadata(meta)
    folder = path.parent if str(path.parent) else Path()
    if path.is_dir():
        msg = f"{path}: is a folder; give the output file, e.g. {path / 'jobs.parquet'}"
        raise TraceError(msg)
    if not folder.is_dir():
        msg = f"{path}: output folder {folder} does not exist"
        raise TraceError(msg)
    tmp = folder / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        # os.open with 0o666 honours the umask, so the file gets the user's usual permissions.
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as err:
        msg = f"{path}: cannot write in {folder}: {err.strerror or err}"
        raise TraceError(msg) from None
    try:
        import pyarrow.parquet as pq  # noqa: PLC0415 (startup time)

        pq.write_table(table, str(tmp))
        tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        msg = f"{path}: cannot write: {err.strerror or err}"
        raise TraceError(msg) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _with_host_rows(df: pl.DataFrame, host_pods: pl.DataFrame, source: str) -> pl.DataFrame:
    """``df`` with the CPU-only pods appended as ``num_gpus = 0`` rows, sorted by submit time."""
    check_host_pods(host_pods, source)
    n = host_pods.height
    never = (
        host_pods["never_scheduled"].cast(pl.Boolean)
        if "never_scheduled" in host_pods.columns
        else pl.Series([False] * n)
    )
    values: dict[str, pl.Series] = {
        "job_id": host_pods["job_id"].cast(pl.String),
        "submit_time_s": host_pods["submit_time_s"].cast(pl.Float64),
        "duration_s": host_pods["duration_s"].cast(pl.Float64),
        "cpu_milli": host_pods["cpu_milli"].cast(pl.Int64),
        "memory_b": host_pods["memory_b"].cast(pl.Float64),
        "status": pl.Series(
            [NEVER_SCHEDULED_STATUS if v else "" for v in never.to_list()], dtype=pl.String
        ),
    }
    columns = []
    for name, dtype in df.schema.items():
        if name in values:
            columns.append(values[name].alias(name))
        elif dtype == pl.String:
            columns.append(pl.Series(name, [""] * n, dtype=pl.String))
        else:
            columns.append(pl.Series(name, [0] * n).cast(dtype))
    host = pl.DataFrame(columns)
    for name in ("cpu_milli", "memory_b"):  # a trace whose GPU jobs lack the column
        if name not in df.columns:
            df = df.with_columns(pl.lit(0).cast(host_pods[name].dtype).alias(name))
            host = host.with_columns(values[name].alias(name))
    both = pl.concat([df, host.select(df.columns)], how="vertical")
    order = np.argsort(both["submit_time_s"].to_numpy(), kind="stable")
    return both.select(pl.all().gather(order))
