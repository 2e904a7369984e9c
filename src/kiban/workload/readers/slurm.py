"""Slurm accounting: ``sacct --json`` and ``sacct -P`` (``--parsable2``, ``|``-separated) output.

Pipe format: a header line naming the fields, e.g. from
``sacct -a -P -X --format=JobID,User,Partition,Submit,Start,End,Elapsed,NNodes,AllocTRES,ReqTRES,
State,Priority``. Required: ``JobID``, ``Submit``, a GPU source (``AllocTRES``, ``ReqTRES`` or
``TRES``) and a run time (``Elapsed``, ``ElapsedRaw`` or ``Start`` and ``End``). Times are
``YYYY-MM-DDTHH:MM:SS`` (Slurm's default); ``Elapsed`` is ``[D-][HH:]MM:SS``.

JSON format: ``{"jobs": [...]}`` as ``sacct --json`` prints it (data_parser/OpenAPI v0.0.37 and
later): ``job_id``, ``user``, ``partition``, ``state.current``, ``time.{submission, start, end,
elapsed}`` (Unix seconds), ``tres.allocated`` / ``tres.requested`` lists of ``{type, name,
count}``, ``allocation_nodes`` and ``priority``. Newer versions wrap numbers as ``{"set": true,
"number": N}``; both forms are accepted.

Mapping: GPUs = the ``gres/gpu`` count of the allocated TRES (the requested TRES when nothing was
allocated); a typed entry (``gres/gpu:h100=8``) also sets ``gpu_model`` (from the request when it
names one). ``gpus_per_node`` = GPUs / nodes when that divides evenly (else 0). ``queue`` =
partition, ``status`` = the first word of the state. Left out, counted in the notes: job steps
(``123.batch``, ``123.0``; use ``sacct -X`` to omit them), jobs without GPUs, jobs that never
started and jobs still running. Times are Unix / wall-clock seconds, so ``origin`` is set.
"""

from __future__ import annotations

import csv
import json
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from kiban.errors import TraceError
from kiban.workload._rows import (
    MAX_EXACT_INT,
    MAX_GPUS,
    RowChecks,
    check_ragged,
    json_records,
    missing,
    number_column,
    read_text,
    read_text_table,
    safe_int,
    text_or_empty,
    to_datetime_s,
    wall_clock_check,
)
from kiban.workload.registry import RawTrace, register_reader

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["gpus_from_tres", "parse_elapsed_s", "read_slurm"]

TIME_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")
_MISSING_TIMES = ["Unknown", "None", "N/A", ""]
_ELAPSED_RE = re.compile(r"^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)$")
_GRES_RE = re.compile(r"gres/gpu(?::([^=,]+))?=([^,]*)")
_COUNT_RE = re.compile(r"^\d{1,7}$")
_EPOCH = datetime(1970, 1, 1)


def parse_elapsed_s(text: str) -> float | None:
    """Seconds of a Slurm ``[D-][HH:]MM:SS`` duration; None if it does not parse.

    Examples:
        >>> parse_elapsed_s("1-02:03:04")
        93784.0
        >>> parse_elapsed_s("05:30")
        330.0
    """
    match = _ELAPSED_RE.match(text.strip())
    if match is None:
        return None
    days, hours, minutes, seconds = match.groups()
    return (
        int(days or 0) * 86_400.0 + int(hours or 0) * 3600.0 + int(minutes) * 60.0 + float(seconds)
    )


def gpus_from_tres(tres: str) -> tuple[int, str]:
    """GPU count and model from a TRES string such as ``cpu=8,gres/gpu:h100=2,gres/gpu=2``.

    The untyped ``gres/gpu=N`` is the total when present; otherwise typed entries are summed.

    Returns:
        (GPUs, model name if exactly one type is named else "").

    Raises:
        ValueError: for a count that is not a whole number from 0 to 1,000,000 (``gres/gpu=1.5``
            is never rounded).

    Examples:
        >>> gpus_from_tres("billing=8,cpu=8,gres/gpu=2,gres/gpu:a100=2,mem=64G,node=1")
        (2, 'a100')
    """
    total: int | None = None
    typed: dict[str, int] = {}
    for model, text in _GRES_RE.findall(tres):
        count = _gpu_count(text.strip())
        if model:
            typed[model] = typed.get(model, 0) + count
        else:
            total = count
    gpus = total if total is not None else sum(typed.values())
    return gpus, next(iter(typed)) if len(typed) == 1 else ""


def _gpu_count(text: str) -> int:
    """A GPU count from TRES text: a whole number 0..MAX_GPUS, else ValueError."""
    if not _COUNT_RE.match(text) or int(text) > MAX_GPUS:
        msg = f"GPU count {text!r} must be a whole number from 0 to {MAX_GPUS:,}"
        raise ValueError(msg)
    return int(text)


@register_reader("slurm", description="Slurm accounting: sacct --json or sacct -P output")
def read_slurm(path: Path, *, skip_bad: bool) -> RawTrace:
    """Read ``sacct --json`` or ``sacct -P`` output (chosen by content).

    Args:
        path: The saved output.
        skip_bad: Skip and count malformed jobs instead of raising.

    Returns:
        The raw trace (Unix seconds; wall-clock origin).
    """
    with path.open("rb") as handle:
        head = handle.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip()  # UTF-8 BOM (Excel)
    if head[:1] == b"{":
        return _read_json(path, skip_bad=skip_bad)
    return _read_pipe(path, skip_bad=skip_bad)


def _first(table_cols: list[str], *names: str) -> str | None:
    for name in names:
        if name.lower() in table_cols:
            return name.lower()
    return None


def _read_pipe(path: Path, *, skip_bad: bool) -> RawTrace:
    table = read_text_table(
        path, delimiter="|", quoting=csv.QUOTE_NONE, required=["JobID", "Submit"]
    )
    cols = list(table.columns)
    tres_col = _first(cols, "AllocTRES", "ReqTRES", "TRES", "AllocGRES", "ReqGRES")
    if tres_col is None:
        msg = f"{path}: no GPU column; add AllocTRES (or ReqTRES) to sacct --format"
        raise TraceError(msg)
    if _first(cols, "Elapsed", "ElapsedRaw") is None and not ({"start", "end"} <= set(cols)):
        msg = f"{path}: no run time; add Elapsed (or Start and End) to sacct --format"
        raise TraceError(msg)
    checks = RowChecks(path, table.lines, skip_bad=skip_bad)
    check_ragged(checks, table)
    job_id = text_or_empty(table.col("JobID"))
    checks.check(job_id == "", "JobID", job_id, "is required")
    step = job_id.str.contains(".", literal=True)
    allowed = "must be unique (run sacct without --duplicates)"
    checks.check_unique(job_id, "JobID", allowed, among=~step)

    def times(name: str) -> pl.Series:
        if not table.has(name):
            return pl.Series(name, [None] * table.n_rows, dtype=pl.Float64)
        raw = table.col(name)
        cleaned = raw.str.strip_chars().replace(_MISSING_TIMES, [""] * len(_MISSING_TIMES))
        values, bad = to_datetime_s(cleaned, TIME_FORMATS)
        checks.check(bad & ~step, name, raw, "must be a time like 2024-05-01T09:30:00 or Unknown")
        return values

    submit = times("Submit")
    start = times("Start")
    end = times("End")
    for name, values in (("Submit", submit), ("Start", start), ("End", end)):
        if table.has(name):
            wall_clock_check(checks, values, name, table.col(name))
    checks.check(missing(table.col("Submit")) & ~step, "Submit", table.col("Submit"), "is required")
    elapsed_col = _first(cols, "ElapsedRaw", "Elapsed")
    if elapsed_col == "elapsedraw":
        elapsed = number_column(checks, table.col("ElapsedRaw"), "ElapsedRaw", min_value=0)
    elif elapsed_col == "elapsed":
        raw = text_or_empty(table.col("Elapsed"))
        parsed = [parse_elapsed_s(v) if v else None for v in raw.to_list()]
        elapsed = pl.Series("Elapsed", parsed, dtype=pl.Float64)
        bad = elapsed.is_null() & (raw != "") & ~step
        checks.check(bad, "Elapsed", raw, "must be [D-][HH:]MM:SS")
    else:
        elapsed = pl.Series("elapsed", [None] * table.n_rows, dtype=pl.Float64)
    span = end - start
    checks.check(
        (span < 0) & ~step,
        "End",
        table.col("End") if table.has("End") else span,
        "must not precede Start",
    )
    duration = elapsed.fill_null(span)

    tres = text_or_empty(table.col(tres_col)).to_list()
    req_col = _first(cols, "ReqTRES", "ReqGRES")
    req = text_or_empty(table.col(req_col)).to_list() if req_col else [""] * table.n_rows
    gpus = np.zeros(table.n_rows, dtype=np.int64)
    model: list[str] = [""] * table.n_rows
    tres_field = table.header[list(table.columns).index(tres_col)]
    for i, (alloc_s, req_s) in enumerate(zip(tres, req, strict=True)):
        try:
            count, name = gpus_from_tres(alloc_s)
            req_count, req_name = gpus_from_tres(req_s)
        except ValueError:
            allowed = f"gres/gpu counts must be whole numbers from 0 to {MAX_GPUS:,}"
            checks.add(i, tres_field, alloc_s if alloc_s else req_s, allowed)
            continue
        gpus[i] = count if count else req_count
        model[i] = req_name or name
    if table.has("NNodes"):
        nodes = number_column(
            checks, table.col("NNodes"), "NNodes", min_value=0, integer=True, required=False
        )
        nn = safe_int(nodes)
    else:
        nn = np.zeros(table.n_rows, dtype=np.int64)
    if table.has("Priority"):
        prio = number_column(
            checks, table.col("Priority"), "Priority", integer=True, required=False
        )
        priority = safe_int(prio)
    else:
        priority = np.zeros(table.n_rows, dtype=np.int64)
    state = (
        text_or_empty(table.col("State")).str.split(" ").list.first().fill_null("")
        if table.has("State")
        else pl.Series([""] * table.n_rows, dtype=pl.String)
    )
    checks.exclude(step, "job steps (JobID with '.'; sacct -X omits them)")
    checks.exclude(pl.Series(gpus == 0), "jobs without GPUs")
    checks.exclude(start.is_null(), "jobs that never started (Start = Unknown)")
    running = end.is_null() & start.is_not_null() if table.has("End") else duration.is_null()
    checks.exclude(running | duration.is_null(), "jobs still running (End = Unknown)")
    keep = checks.finish()
    even = (nn >= 1) & (gpus % np.maximum(nn, 1) == 0)
    per_node = np.where(even, gpus // np.maximum(nn, 1), 0)
    return checks.raw_trace(
        {
            "job_id": job_id.filter(keep),
            "submit_time_s": submit.filter(keep),
            "duration_s": duration.filter(keep),
            "num_gpus": gpus[keep],
            "gpus_per_node": per_node[keep],
            "gpu_model": pl.Series(model, dtype=pl.String).filter(keep),
            "user": _optional_text(table, "User", keep),
            "queue": _optional_text(table, "Partition", keep),
            "priority": priority[keep],
            "status": state.filter(keep),
        },
        origin=_EPOCH,
    )


def _optional_text(table: Any, name: str, keep: np.ndarray) -> pl.Series:
    if table.has(name):
        return text_or_empty(table.col(name)).filter(keep)
    return pl.Series([""] * int(keep.sum()), dtype=pl.String)


# --- sacct --json ---------------------------------------------------------------------------


class _BadField(ValueError):
    """One field of a ``sacct --json`` job is out of range (caught per job, named in the row)."""

    def __init__(self, field: str, value: Any, allowed: str) -> None:
        super().__init__(field)
        self.field, self.value, self.allowed = field, value, allowed


def _num(value: Any, field: str = "number") -> float | None:
    """A number, or the ``number`` of a ``{"set": …, "infinite": …, "number": …}`` wrapper.

    Raises:
        _BadField: for a number beyond ±2**53 (a 400-digit integer is not a Slurm field).
    """
    if isinstance(value, dict):
        if value.get("infinite") or value.get("set") is False:
            return None
        value = value.get("number")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int) and abs(value) > MAX_EXACT_INT:
        raise _BadField(field, value, f"must be a number within ±{MAX_EXACT_INT:,}")
    number = float(value)
    if abs(number) > MAX_EXACT_INT:
        raise _BadField(field, value, f"must be a number within ±{MAX_EXACT_INT:,}")
    return number


def _whole(value: Any, field: str, *, upper: int = MAX_EXACT_INT) -> int:
    """A whole number (0 when absent); a fraction or a value above ``upper`` is _BadField."""
    number = _num(value, field)
    if number is None:
        return 0
    if number != round(number) or abs(number) > upper:
        raise _BadField(field, value, f"must be a whole number up to {upper:,}; never rounded")
    return int(number)


def _tres_gpus(entries: Any) -> tuple[int, str]:
    if not isinstance(entries, list):
        return 0, ""
    total: int | None = None
    typed: dict[str, int] = {}
    for e in entries:
        if not isinstance(e, dict) or e.get("type") != "gres":
            continue
        name = str(e.get("name", ""))
        count = _whole(e.get("count"), f"tres {name} count", upper=MAX_GPUS)
        if name == "gpu":
            total = count
        elif name.startswith("gpu:"):
            typed[name[4:]] = typed.get(name[4:], 0) + count
    gpus = total if total is not None else sum(typed.values())
    return gpus, next(iter(typed)) if len(typed) == 1 else ""


def _check_document(path: Path, text: str, jobs_at: int, jobs_end: int) -> None:
    """The text around the ``"jobs"`` list must be one JSON object and nothing after it."""
    stand_in = '"jobs": null'
    whole = text[:jobs_at] + stand_in + text[jobs_end:]
    try:
        json.loads(whole)
    except json.JSONDecodeError as err:
        offset = err.pos if err.pos < jobs_at else err.pos - len(stand_in) + jobs_end
        line = text.count("\n", 0, offset) + 1
        what = (
            "text after the end of the JSON document; a trace file holds one JSON document"
            if err.msg == "Extra data"
            else f"malformed JSON: {err.msg}"
        )
        msg = f"{path}:{line}: {what}"
        raise TraceError(msg) from None
    except RecursionError:
        msg = f"{path}: JSON nested too deeply (over about 1,000 levels) outside the jobs list"
        raise TraceError(msg) from None


def _read_json(path: Path, *, skip_bad: bool) -> RawTrace:
    text = read_text(path)
    match = re.search(r'"jobs"\s*:\s*\[', text)
    if match is None:
        msg = f'{path}: not sacct --json output (no "jobs" list)'
        raise TraceError(msg)
    records, end = json_records(path, text, match.end())
    _check_document(path, text, match.start(), end)
    lines = np.array([line for line, _ in records], dtype=np.int64)
    checks = RowChecks(path, lines, skip_bad=skip_bad)
    n = len(records)
    job_id = [""] * n
    user = [""] * n
    partition = [""] * n
    status = [""] * n
    model = [""] * n
    submit = np.full(n, np.nan)
    duration = np.zeros(n)
    gpus = np.zeros(n, dtype=np.int64)
    per_node = np.zeros(n, dtype=np.int64)
    priority = np.zeros(n, dtype=np.int64)
    no_gpu = np.zeros(n, dtype=bool)
    not_started = np.zeros(n, dtype=bool)
    running = np.zeros(n, dtype=bool)

    def read_job(i: int, job: dict[str, Any]) -> None:
        jid = _num(job.get("job_id"), "job_id")
        if jid is None or jid <= 0 or jid != round(jid):
            checks.add(i, "job_id", job.get("job_id"), "is required (a positive integer)")
            return
        job_id[i] = str(int(jid))
        user_v = job.get("user") or (job.get("association") or {}).get("user") or ""
        user[i] = str(user_v)
        partition[i] = str(job.get("partition") or "")
        state = (job.get("state") or {}).get("current", "")
        status[i] = str(state[0] if isinstance(state, list) and state else state or "")
        t = job.get("time")
        if not isinstance(t, dict):
            checks.add(i, "time", t, "must be an object with submission, start, end, elapsed")
            return
        sub = _num(t.get("submission"), "time.submission")
        if sub is None or sub <= 0:
            raw_sub = t.get("submission")
            need = "is required" if raw_sub is None else "must be"
            checks.add(i, "time.submission", raw_sub, f"{need} Unix seconds > 0")
            return
        submit[i] = sub
        start = _num(t.get("start"), "time.start") or 0.0
        end = _num(t.get("end"), "time.end") or 0.0
        elapsed = _num(t.get("elapsed"), "time.elapsed")
        if start <= 0:
            not_started[i] = True
        elif end <= 0:
            running[i] = True
        elif end < start:
            checks.add(i, "time.end", t.get("end"), "must not precede time.start")
            return
        else:
            duration[i] = elapsed if elapsed is not None and elapsed >= 0 else end - start
        tres = job.get("tres") or {}
        if not isinstance(tres, dict):
            checks.add(i, "tres", tres, "must be an object with allocated and requested lists")
            return
        count, name = _tres_gpus(tres.get("allocated"))
        req_count, req_name = _tres_gpus(tres.get("requested"))
        gpus[i] = count or req_count
        model[i] = req_name or name
        if gpus[i] == 0:
            no_gpu[i] = True
        nodes = _whole(job.get("allocation_nodes"), "allocation_nodes", upper=MAX_GPUS)
        if nodes >= 1 and gpus[i] % nodes == 0:
            per_node[i] = gpus[i] // nodes
        priority[i] = int(_num(job.get("priority"), "priority") or 0)

    for i, (_, job) in enumerate(records):
        if not isinstance(job, dict):
            checks.add(i, "job", type(job).__name__, "must be a JSON object")
            continue
        try:
            read_job(i, job)
        except _BadField as err:
            checks.add(i, err.field, err.value, err.allowed)
        except (AttributeError, TypeError):
            # e.g. "state": 5 or "association": [] where an object belongs
            checks.add(i, "job", job, "fields must have sacct --json's types (objects, lists)")
    wall_clock_check(checks, submit, "time.submission", submit)
    ids = pl.Series(job_id, dtype=pl.String)
    checks.check_unique(ids, "job_id")
    checks.exclude(no_gpu, "jobs without GPUs")
    checks.exclude(not_started, "jobs that never started (time.start = 0)")
    checks.exclude(running, "jobs still running (time.end = 0)")
    keep = checks.finish()
    return checks.raw_trace(
        {
            "job_id": ids.filter(keep),
            "submit_time_s": submit[keep],
            "duration_s": duration[keep],
            "num_gpus": gpus[keep],
            "gpus_per_node": per_node[keep],
            "gpu_model": pl.Series(model, dtype=pl.String).filter(keep),
            "user": pl.Series(user, dtype=pl.String).filter(keep),
            "queue": pl.Series(partition, dtype=pl.String).filter(keep),
            "priority": priority[keep],
            "status": pl.Series(status, dtype=pl.String).filter(keep),
        },
        origin=_EPOCH,
    )
