"""SenseTime Helios (SC'21) ``cluster_log.csv`` (S-Lab-System-Group/HeliosData).

Columns: ``job_id, user, vc, gpu_num, cpu_num, node_num, state, submit_time, start_time,
end_time, duration, queue`` with times as ``%Y-%m-%d %H:%M:%S`` wall-clock strings and
``duration`` (= end − start) and ``queue`` (= start − submit) in seconds. Mapping: ``queue`` (the
kiban column) = ``vc``; ``status`` = ``state`` (COMPLETED, CANCELLED, FAILED, TIMEOUT,
NODE_FAIL); ``duration_s`` = ``duration`` (or ``end_time − start_time`` when it is empty);
``gpus_per_node`` = ``gpu_num / node_num`` when that divides evenly (else 0 = any). CPU-only jobs
(``gpu_num = 0``, more than half of Helios) are left out and counted in the notes. A folder path
reads its ``cluster_log.csv``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from kiban.workload._rows import (
    MAX_GPUS,
    RowChecks,
    check_ragged,
    missing,
    number_column,
    read_text_table,
    safe_int,
    text_or_empty,
    to_datetime_s,
    unique_column,
    wall_clock_check,
)
from kiban.workload.registry import RawTrace, register_reader

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["read_helios"]

COLUMNS = [
    "job_id",
    "user",
    "vc",
    "gpu_num",
    "cpu_num",
    "node_num",
    "state",
    "submit_time",
    "start_time",
    "end_time",
    "duration",
    "queue",
]
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S",)
_HINT = "like 2020-06-09 18:41:01"


@register_reader("helios", description="SenseTime Helios cluster_log.csv (SC'21)")
def read_helios(path: Path, *, skip_bad: bool) -> RawTrace:
    """Read a Helios ``cluster_log.csv``.

    Args:
        path: The CSV, or a cluster folder holding ``cluster_log.csv``.
        skip_bad: Skip and count malformed rows instead of raising.

    Returns:
        The raw trace (wall-clock seconds since 1970 of the cluster's clock).
    """
    if path.is_dir():
        path = path / "cluster_log.csv"
    table = read_text_table(
        path, required=["job_id", "vc", "gpu_num", "node_num", "state", "submit_time"]
    )
    checks = RowChecks(path, table.lines, skip_bad=skip_bad)
    check_ragged(checks, table)
    unique_column(checks, table.col("job_id"), "job_id")
    gpus = number_column(
        checks, table.col("gpu_num"), "gpu_num", min_value=0, max_value=MAX_GPUS, integer=True
    )
    nodes = number_column(checks, table.col("node_num"), "node_num", min_value=0, integer=True)
    times: dict[str, pl.Series] = {}
    for name in ("submit_time", "start_time", "end_time"):
        if not table.has(name):
            times[name] = pl.Series(name, [None] * table.n_rows, dtype=pl.Float64)
            continue
        values, bad = to_datetime_s(table.col(name), TIME_FORMATS)
        checks.check(bad, name, table.col(name), f"must be {_HINT}")
        wall_clock_check(checks, values, name, table.col(name))
        times[name] = values
    checks.check(
        missing(table.col("submit_time")), "submit_time", table.col("submit_time"), "is required"
    )
    if table.has("duration"):
        duration = number_column(
            checks, table.col("duration"), "duration", min_value=0, required=False, unit="s"
        )
    else:
        duration = pl.Series("duration", [None] * table.n_rows, dtype=pl.Float64)
    span = times["end_time"] - times["start_time"]
    checks.check(
        span < 0,
        "end_time",
        table.col("end_time") if table.has("end_time") else span,
        "must not precede start_time",
    )
    duration = duration.fill_null(span)
    checks.check(
        duration.is_null(),
        "duration",
        table.col("duration") if table.has("duration") else duration,
        "is required (or both start_time and end_time)",
    )
    checks.exclude(gpus == 0, "CPU-only jobs (gpu_num = 0)")
    keep = checks.finish()
    g = safe_int(gpus)
    nn = safe_int(nodes)
    even = (nn >= 1) & (g % np.maximum(nn, 1) == 0)
    per_node = np.where(even, g // np.maximum(nn, 1), 0).astype(np.int64)
    return checks.raw_trace(
        {
            "job_id": text_or_empty(table.col("job_id")).filter(keep),
            "submit_time_s": times["submit_time"].filter(keep),
            "duration_s": duration.filter(keep),
            "num_gpus": gpus.filter(keep),
            "gpus_per_node": per_node[keep],
            "user": text_or_empty(table.col("user")).filter(keep)
            if table.has("user")
            else [""] * int(keep.sum()),
            "queue": text_or_empty(table.col("vc")).filter(keep),
            "status": text_or_empty(table.col("state")).filter(keep),
        },
        origin=datetime(1970, 1, 1),
    )
