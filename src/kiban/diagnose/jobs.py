"""Job records from Slurm accounting (``sacct -P``) for diagnose: the queue and node allocations.

diagnose uses them where telemetry lacks them: the queue length when
``slurm_queue_pending`` is not scraped, and which GPUs a job held when dcgm-exporter runs without
job mapping (no ``hpc_job`` label; whole-node jobs only, since sacct names nodes, not GPUs).
Format: ``sacct -a -P -X --format=JobID,Submit,Start,End,NodeList,AllocTRES`` (the workload
room's Slurm reader documents the fields). Times are wall-clock without a zone; ``utc_offset_s``
says where the scheduler's clock stands against UTC (Japan: +32,400).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kiban.errors import TraceError
from kiban.workload._rows import read_text_table, text_or_empty, to_datetime_s
from kiban.workload.readers.slurm import TIME_FORMATS, gpus_from_tres

__all__ = ["JobRecords", "expand_hostlist", "read_sacct_jobs"]

_MISSING = ("Unknown", "None", "N/A", "")
_RANGE_RE = re.compile(r"^(\d+)(?:-(\d+))?$")


def expand_hostlist(text: str) -> list[str]:
    """Slurm's compressed host list: ``gn[01-03,07],login1`` → gn01, gn02, gn03, gn07, login1."""
    out: list[str] = []
    depth = 0
    part = ""
    parts = []
    for ch in text.strip():
        if ch == "," and depth == 0:
            parts.append(part)
            part = ""
            continue
        depth += ch == "["
        depth -= ch == "]"
        part += ch
    if part:
        parts.append(part)
    for p in parts:
        if "[" not in p:
            if p and p != "None assigned":
                out.append(p)
            continue
        head, _, rest = p.partition("[")
        body, _, tail = rest.partition("]")
        for item in body.split(","):
            m = _RANGE_RE.match(item)
            if m is None:
                msg = f"host list {text!r}: {item!r} is not a number or range"
                raise TraceError(msg)
            lo, hi = m.group(1), m.group(2) or m.group(1)
            width = len(lo)
            out.extend(f"{head}{k:0{width}d}{tail}" for k in range(int(lo), int(hi) + 1))
    return out


@dataclass(frozen=True)
class JobRecords:
    """Jobs from the scheduler (Unix seconds; NaN when not started / not ended)."""

    job_id: list[str]
    submit_s: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    num_gpus: np.ndarray
    nodes: list[list[str]]
    source: str

    def pending(self, t_s: np.ndarray) -> np.ndarray:
        """Jobs submitted and not started at each time."""
        start = np.where(np.isnan(self.start_s), np.inf, self.start_s)
        t = np.asarray(t_s)[:, None]
        return ((self.submit_s[None, :] <= t) & (t < start[None, :])).sum(axis=1).astype(float)


def read_sacct_jobs(path: Path | str, *, utc_offset_s: float = 0.0) -> JobRecords:
    """Read ``sacct -P`` output (header line, ``|``-separated).

    Raises:
        TraceError: naming the file, line and field of a bad value.
    """
    file = Path(path)
    if not file.is_file():
        msg = f"--jobs {file}: no such file"
        raise TraceError(msg)
    table = read_text_table(
        file, delimiter="|", quoting=csv.QUOTE_NONE, required=["JobID", "Submit", "Start"]
    )
    ids = text_or_empty(table.col("JobID")).to_list()
    keep = [i for i, j in enumerate(ids) if j and "." not in j]

    def times(name: str) -> np.ndarray:
        if not table.has(name):
            return np.full(table.n_rows, np.nan)
        raw = text_or_empty(table.col(name))
        cleaned = raw.replace(list(_MISSING), [""] * len(_MISSING))
        values, bad = to_datetime_s(cleaned, TIME_FORMATS)
        bad_np = bad.to_numpy()
        for i in keep:
            if bad_np[i]:
                msg = (
                    f"{file}:{table.lines[i]}: {name} = {raw[i]!r}: must be a time like "
                    "2024-05-01T09:30:00 or Unknown"
                )
                raise TraceError(msg)
        return values.fill_null(np.nan).to_numpy().astype(np.float64) - utc_offset_s

    submit, start, end = times("Submit"), times("Start"), times("End")
    tres_name = next((c for c in ("AllocTRES", "ReqTRES", "TRES") if table.has(c)), None)
    tres = text_or_empty(table.col(tres_name)).to_list() if tres_name else [""] * table.n_rows
    hosts = (
        text_or_empty(table.col("NodeList")).to_list()
        if table.has("NodeList")
        else [""] * table.n_rows
    )
    return JobRecords(
        job_id=[ids[i] for i in keep],
        submit_s=submit[keep],
        start_s=start[keep],
        end_s=end[keep],
        num_gpus=np.array([gpus_from_tres(tres[i])[0] for i in keep], dtype=np.int64),
        nodes=[expand_hostlist(hosts[i]) for i in keep],
        source=str(file),
    )
