"""Microsoft Philly (2017): the derived job CSV and the original ``cluster_job_log`` JSON.

Two inputs, chosen by content (a JSON file starts with ``[`` or ``{``):

* ``pollux_philly_jobs.csv`` (petuum/adaptdl ``simulator/traces/philly.csv``; columns
  ``timestamp, duration, num_gpus, gpu_time, cluster``): ``job_id`` is the data-row index (0-based,
  as the shared LOADER.md recommends), ``submit_time_s`` from ``timestamp``
  (``%Y-%m-%d %H:%M:%S``, cluster-local wall clock), ``duration_s`` = ``duration``, ``queue`` =
  ``cluster`` (the virtual cluster); user, status, shape and GPU model are not in this file.
  ``gpu_time`` must equal ``duration × num_gpus`` (a row where it does not is malformed).
* ``cluster_job_log`` (msr-fiddle/philly-traces, schema in its README): a JSON list of jobs with
  ``jobid, user, vc, submitted_time, status, attempts[{start_time, end_time, detail[{ip,
  gpus[]}]}]``. ``duration_s`` is the sum of the attempts' run times (end − start; the GPU time
  the job held, retries included); ``num_gpus`` is the GPU count of the last attempt that lists
  GPUs, and ``gpus_per_node`` the per-machine count when every machine of that attempt had the
  same number of GPUs (else 0). Jobs with no attempt, with no attempt that has both times
  (logging gaps), whose last attempt has no end (still running at the snapshot) or whose attempts
  list no GPUs are left out and counted (``TraceReadResult.notes``).

Both give wall-clock ``origin`` (the first submission).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from kiban.errors import TraceError
from kiban.workload._rows import (
    MAX_GPUS,
    RowChecks,
    check_ragged,
    json_records,
    number_column,
    read_text,
    read_text_table,
    text_or_empty,
    to_datetime_s,
    trailing_text_problem,
    wall_clock_check,
)
from kiban.workload.registry import RawTrace, register_reader

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["read_philly"]

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_EPOCH = datetime(1970, 1, 1)
_DIR_CANDIDATES = ("pollux_philly_jobs.csv", "cluster_job_log", "cluster_job_log.json")


@register_reader(
    "philly", description="Microsoft Philly 2017: pollux_philly_jobs.csv or cluster_job_log JSON"
)
def read_philly(path: Path, *, skip_bad: bool) -> RawTrace:
    """Read a Philly trace (CSV or ``cluster_job_log`` JSON; a folder holding one of them).

    Args:
        path: The file, or a folder with ``pollux_philly_jobs.csv`` or ``cluster_job_log``.
        skip_bad: Skip and count malformed rows instead of raising.

    Returns:
        The raw trace (times in seconds of the cluster's wall clock since 1970).
    """
    if path.is_dir():
        for name in _DIR_CANDIDATES:
            if (path / name).is_file():
                path = path / name
                break
        else:
            msg = f"{path}: folder holds none of {', '.join(_DIR_CANDIDATES)}; give the file itself"
            raise TraceError(msg)
    with path.open("rb") as handle:
        head = handle.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip()  # UTF-8 BOM (Excel)
    if head[:1] in (b"[", b"{"):
        return _read_job_log(path, skip_bad=skip_bad)
    return _read_csv(path, skip_bad=skip_bad)


def _read_csv(path: Path, *, skip_bad: bool) -> RawTrace:
    table = read_text_table(path, required=["timestamp", "duration", "num_gpus", "cluster"])
    checks = RowChecks(path, table.lines, skip_bad=skip_bad)
    check_ragged(checks, table)
    submit_s, bad_time = to_datetime_s(table.col("timestamp"), (TIME_FORMAT,))
    checks.check(bad_time, "timestamp", table.col("timestamp"), "must be like 2017-10-09 07:01:55")
    checks.check(
        submit_s.is_null() & ~bad_time,
        "timestamp",
        table.col("timestamp"),
        "is required (like 2017-10-09 07:01:55)",
    )
    wall_clock_check(checks, submit_s, "timestamp", table.col("timestamp"))
    duration = number_column(checks, table.col("duration"), "duration", min_value=0, unit="s")
    gpus = number_column(
        checks, table.col("num_gpus"), "num_gpus", min_value=1, max_value=MAX_GPUS, integer=True
    )
    if table.has("gpu_time"):
        gpu_time = number_column(checks, table.col("gpu_time"), "gpu_time", min_value=0)
        expected = duration * gpus
        off = (gpu_time - expected).abs() > 1e-6 * expected.abs().clip(lower_bound=1.0)
        checks.check(off, "gpu_time", table.col("gpu_time"), "must equal duration × num_gpus")
    keep = checks.finish()
    n = table.n_rows
    ids = pl.int_range(0, n, eager=True).cast(pl.String).alias("job_id")
    return checks.raw_trace(
        {
            "job_id": ids.filter(keep),
            "submit_time_s": submit_s.filter(keep),
            "duration_s": duration.filter(keep),
            "num_gpus": gpus.filter(keep),
            "queue": text_or_empty(table.col("cluster")).filter(keep),
        },
        origin=_EPOCH,
    )


def _parse_time(value: Any) -> float | None:
    """Seconds since 1970 for a Philly time string; None for a missing value; raise ValueError."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(type(value).__name__)
    if value.strip() in {"", "None"}:
        return None
    return (datetime.strptime(value.strip(), TIME_FORMAT) - _EPOCH).total_seconds()


def _show_time(seconds: float) -> str:
    try:
        return str(_EPOCH + timedelta(seconds=float(seconds)))
    except (OverflowError, ValueError):
        return f"{seconds:g} s"


def _read_job_log(path: Path, *, skip_bad: bool) -> RawTrace:
    text = read_text(path)
    stripped = text.lstrip()
    start = len(text) - len(stripped)
    is_array = stripped.startswith("[")
    start = start + 1 if is_array else start
    records, end = json_records(path, text, start, array=is_array)
    if is_array:
        trailing_text_problem(path, text, end)
    lines = np.array([line for line, _ in records], dtype=np.int64)
    checks = RowChecks(path, lines, skip_bad=skip_bad)
    n = len(records)
    job_id = [""] * n
    user = [""] * n
    vc = [""] * n
    status = [""] * n
    submit = np.zeros(n)
    duration = np.zeros(n)
    num_gpus = np.ones(n, dtype=np.int64)
    per_node = np.zeros(n, dtype=np.int64)
    no_attempt = np.zeros(n, dtype=bool)
    running = np.zeros(n, dtype=bool)
    gaps = np.zeros(n, dtype=bool)
    no_gpus = np.zeros(n, dtype=bool)
    time_hint = "like 2017-10-07 01:11:39"
    for i, (_, rec) in enumerate(records):
        if not isinstance(rec, dict):
            checks.add(i, "job", type(rec).__name__, "must be a JSON object with jobid, attempts…")
            continue
        jid = rec.get("jobid")
        if not isinstance(jid, str) or not jid.strip():
            checks.add(i, "jobid", jid, "is required (a non-empty string)")
            continue
        job_id[i] = jid.strip()
        for key, out in (("user", user), ("vc", vc), ("status", status)):
            value = rec.get(key)
            if value is not None and not isinstance(value, str):
                checks.add(i, key, value, "must be a string")
            out[i] = value.strip() if isinstance(value, str) else ""
        try:
            submitted = _parse_time(rec.get("submitted_time"))
        except ValueError:
            checks.add(i, "submitted_time", rec.get("submitted_time"), f"must be {time_hint}")
            continue
        if submitted is None:
            checks.add(i, "submitted_time", None, f"is required ({time_hint})")
            continue
        submit[i] = submitted
        attempts = rec.get("attempts")
        if attempts is None:
            attempts = []
        if not isinstance(attempts, list):
            checks.add(i, "attempts", attempts, "must be a list of attempts")
            continue
        if not attempts:
            no_attempt[i] = True
            continue
        total = 0.0
        complete = 0
        gpus_seen: list[int] = []
        shape = 0
        bad = False
        for k, att in enumerate(attempts):
            if not isinstance(att, dict):
                checks.add(i, f"attempts[{k}]", att, "must be an object")
                bad = True
                break
            try:
                t_start = _parse_time(att.get("start_time"))
                t_end = _parse_time(att.get("end_time"))
            except ValueError:
                value = (att.get("start_time"), att.get("end_time"))
                checks.add(i, f"attempts[{k}].start_time/end_time", value, f"must be {time_hint}")
                bad = True
                break
            if t_start is not None and t_end is not None:
                if t_end < t_start:
                    checks.add(
                        i, f"attempts[{k}].end_time", att.get("end_time"), "must not precede start"
                    )
                    bad = True
                    break
                total += t_end - t_start
                complete += 1
            detail = att.get("detail") or []
            if not isinstance(detail, list) or not all(
                isinstance(d, dict) and isinstance(d.get("gpus", []), list) for d in detail
            ):
                checks.add(i, f"attempts[{k}].detail", detail, "must be a list of {ip, gpus[]}")
                bad = True
                break
            counts = [len(d.get("gpus", [])) for d in detail]
            if sum(counts) > 0:
                gpus_seen.append(sum(counts))
                used = [c for c in counts if c > 0]
                shape = used[0] if len(set(used)) == 1 else 0
        if bad:
            continue
        last = attempts[-1]
        if isinstance(last, dict) and last.get("start_time") and not last.get("end_time"):
            running[i] = True
        elif complete == 0:
            gaps[i] = True
        elif not gpus_seen:
            no_gpus[i] = True
        else:
            duration[i] = total
            num_gpus[i] = gpus_seen[-1]
            per_node[i] = shape
    ids = pl.Series("job_id", job_id, dtype=pl.String)
    wall_clock_check(checks, submit, "submitted_time", [_show_time(t) for t in submit])
    checks.check_unique(ids, "jobid", "must be unique; this id appeared earlier in the file")
    checks.exclude(no_attempt, "jobs with no scheduling attempt (never ran)")
    checks.exclude(running, "jobs still running at the snapshot (last attempt has no end_time)")
    checks.exclude(gaps, "jobs with no attempt that has both start_time and end_time")
    checks.exclude(no_gpus, "jobs whose attempts list no GPUs")
    keep = checks.finish()
    return checks.raw_trace(
        {
            "job_id": ids.filter(keep),
            "submit_time_s": submit[keep],
            "duration_s": duration[keep],
            "num_gpus": num_gpus[keep],
            "gpus_per_node": per_node[keep],
            "user": pl.Series(user, dtype=pl.String).filter(keep),
            "queue": pl.Series(vc, dtype=pl.String).filter(keep),
            "status": pl.Series(status, dtype=pl.String).filter(keep),
        },
        origin=_EPOCH,
    )
