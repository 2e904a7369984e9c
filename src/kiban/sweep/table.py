"""The tidy table of a sweep: ``runs.parquet``, one row per planned run.

Columns, in order: ``run_id``, ``status`` (``ok``, ``failed`` or ``missing``), ``error``,
``run_dir`` (relative to the sweep folder), one column per axis (named by its key, e.g.
``policy``, ``cooling.supply_temp_c``, ``params.estimate_factor``), ``seed``,
``run_wall_time_s`` (the whole run in its worker), then every numeric key of the run's
``summary.json`` (``wall_time_s`` is the simulation's own) and each lost-GPU-hour bucket as
``ledger_<bucket>_gpu_hours``.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import polars as pl

from kiban.results import atomic_write_bytes
from kiban.sweep.spec import SEED_COLUMN, RunPoint
from kiban.sweep.worker import RunOutcome

__all__ = ["FIXED_COLUMNS", "metric_columns", "row_for_run", "write_runs_table"]

FIXED_COLUMNS = ("run_id", "status", "error", "run_dir")
STATUS_MISSING = "missing"
LEDGER_KEY = "ledger_gpu_hours"


def metric_columns(summary: dict[str, Any]) -> dict[str, float | int | None]:
    """Numeric summary values, with the ledger buckets as ``ledger_<bucket>_gpu_hours``."""
    out: dict[str, float | int | None] = {}
    for key, value in sorted(summary.items()):
        if key == LEDGER_KEY and isinstance(value, dict):
            for bucket, hours in sorted(value.items()):
                out[f"ledger_{bucket}_gpu_hours"] = _number(hours)
        elif key != SEED_COLUMN and (value is None or _is_number(value)):
            out[key] = _number(value)
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: Any) -> float | int | None:
    if not _is_number(value):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def row_for_run(point: RunPoint, outcome: RunOutcome, *, run_dir: str) -> dict[str, Any]:
    """The record of a finished run (kept as ``run.json`` and as its row of the table)."""
    return {
        "run_id": point.run_id,
        "status": outcome.status,
        "error": outcome.error,
        "run_dir": run_dir,
        "values": point.values,
        "seed": point.seed,
        "run_wall_time_s": outcome.wall_time_s,
        "metrics": metric_columns(outcome.summary or {}),
    }


def write_runs_table(
    path: Path, plan: list[RunPoint], records: dict[str, dict[str, Any]]
) -> dict[str, int]:
    """Write ``runs.parquet`` atomically: every planned run, in plan order.

    Returns:
        Rows per status.
    """
    axis_keys: list[str] = list(plan[0].values) if plan else []
    metric_keys: list[str] = []
    seen: set[str] = set()
    for rec in records.values():
        for key in rec.get("metrics", {}):
            if key not in seen:
                seen.add(key)
                metric_keys.append(key)
    metric_keys.sort()
    columns: dict[str, list[Any]] = {
        k: [] for k in (*FIXED_COLUMNS, *axis_keys, SEED_COLUMN, "run_wall_time_s", *metric_keys)
    }
    counts: dict[str, int] = {}
    for point in plan:
        record = records.get(point.run_id)
        status = str(record["status"]) if record else STATUS_MISSING
        counts[status] = counts.get(status, 0) + 1
        columns["run_id"].append(point.run_id)
        columns["status"].append(status)
        columns["error"].append(str(record.get("error", "")) if record else "")
        columns["run_dir"].append(str(record.get("run_dir", "")) if record else "")
        for key in axis_keys:
            columns[key].append(point.values[key])
        columns[SEED_COLUMN].append(point.seed)
        columns["run_wall_time_s"].append(record.get("run_wall_time_s") if record else None)
        metrics = record.get("metrics", {}) if record else {}
        for key in metric_keys:
            columns[key].append(metrics.get(key))
    series = []
    for name, raw in columns.items():
        values = raw
        if all(_is_number(v) or v is None for v in raw) and any(isinstance(v, float) for v in raw):
            values = [None if v is None else float(v) for v in raw]
        series.append(pl.Series(name, values, strict=False))
    frame = pl.DataFrame(series)
    buf = io.BytesIO()
    frame.write_parquet(buf)
    atomic_write_bytes(path, buf.getvalue())
    return counts
