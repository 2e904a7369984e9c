"""Tiresias simulator job traces (SymbioticLab/Tiresias, NSDI'19), e.g. ``60_job.csv``.

Columns: ``job_id, num_gpu, submit_time (s), iterations, model_name, duration (s), interval``.
``submit_time_s`` = ``submit_time``, ``duration_s`` = ``duration``, ``num_gpus`` = ``num_gpu``
(≥ 1: Tiresias traces hold GPU jobs only, so 0 is malformed). ``model_name`` and ``iterations``
are not used; ``interval`` (gap to the next submission) must be ≥ 0 when present. Times are
relative, so there is no wall-clock origin.

Where to get one: the artifact's repository, github.com/SymbioticLab/Tiresias, folder
``simulator/`` (``60_job.csv``, the 60-job sample; ``tf_job.csv``); the sample is also in the
public data folder as ``tiresias-sample/60_job.csv`` (``$KIBAN_DATA``). Its cluster specs
(``n32g4.csv``: switches, servers per switch, GPUs per server) map to a kiban fleet, e.g.
``examples/tiresias-testbed.toml`` for the paper's 15 × 4-GPU testbed; the comparison with the
artifact simulator is ``scripts/tiresias_repro.py`` (docs/cooptimizer.md, Session 7).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiban.errors import TraceError
from kiban.workload._rows import (
    MAX_GPUS,
    RowChecks,
    check_ragged,
    number_column,
    read_text_table,
    text_or_empty,
    unique_column,
)
from kiban.workload.registry import RawTrace, register_reader

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["read_tiresias"]

REQUIRED = ["job_id", "num_gpu", "submit_time", "duration"]
DEFAULT_FILE = "60_job.csv"


@register_reader("tiresias", description="Tiresias simulator job CSV (job_id,num_gpu,submit_time…)")
def read_tiresias(path: Path, *, skip_bad: bool) -> RawTrace:
    """Read a Tiresias job CSV (or the ``60_job.csv`` of a folder).

    Args:
        path: The CSV, or a folder holding ``60_job.csv``.
        skip_bad: Skip and count malformed rows instead of raising.

    Returns:
        The raw trace (relative seconds; no origin).
    """
    if path.is_dir():
        if not (path / DEFAULT_FILE).is_file():
            msg = f"{path}: no {DEFAULT_FILE} in this folder; give the job CSV itself"
            raise TraceError(msg)
        path = path / DEFAULT_FILE
    table = read_text_table(path, required=REQUIRED)
    checks = RowChecks(path, table.lines, skip_bad=skip_bad)
    check_ragged(checks, table)
    unique_column(checks, table.col("job_id"), "job_id")
    gpus = number_column(
        checks, table.col("num_gpu"), "num_gpu", min_value=1, max_value=MAX_GPUS, integer=True
    )
    submit = number_column(checks, table.col("submit_time"), "submit_time", min_value=0, unit="s")
    duration = number_column(checks, table.col("duration"), "duration", min_value=0, unit="s")
    if table.has("interval"):
        number_column(
            checks, table.col("interval"), "interval", min_value=0, required=False, unit="s"
        )
    keep = checks.finish()
    return checks.raw_trace(
        {
            "job_id": text_or_empty(table.col("job_id")).filter(keep),
            "submit_time_s": submit.filter(keep),
            "duration_s": duration.filter(keep),
            "num_gpus": gpus.filter(keep),
        },
    )
