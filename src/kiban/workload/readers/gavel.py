"""Gavel's per-VC Philly-derived traces (stanford-futuredata/gavel, ``<vc>.trace``).

Each line has 7 tab-separated fields and no header: ``job_type, command, num_steps_arg,
needs_data_dir (0/1), total_steps, arrival_time (s), scale_factor (GPUs)``. A folder of
``.trace`` files is one trace with one queue per file (the file stem is the VC); a single file is
one VC. Arrival times in every file start at that VC's own 0, so merged VCs share one clock.

Gavel records work as steps, not seconds. ``duration_s`` = ``total_steps / (r · scale_factor)``
with r the job type's steps/s on one V100 alone (Gavel's ``oracle_throughputs.json``, worker type
``v100``, key ``null``: table below) and linear data-parallel scaling; ASSUMED: Gavel generated
these traces as Philly duration × throughput at the job's scale factor, which it measured only up to
8 GPUs, so multi-GPU durations are approximate. ``job_id`` = ``<vc>-<line>``. Arrivals are relative,
so the trace has no wall-clock ``origin``.
"""

from __future__ import annotations

import csv
from typing import TYPE_CHECKING

import polars as pl

from kiban.errors import TraceError
from kiban.workload._rows import MAX_GPUS, RowChecks, check_ragged, number_column, read_text_table
from kiban.workload.registry import RawTrace, register_reader

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["GAVEL_V100_STEPS_PER_S", "read_gavel"]

FIELDS = [
    "job_type",
    "command",
    "num_steps_arg",
    "needs_data_dir",
    "total_steps",
    "arrival_time",
    "scale_factor",
]

GAVEL_V100_STEPS_PER_S: dict[str, float] = {
    "ResNet-18 (batch size 16)": 77.317,
    "ResNet-18 (batch size 32)": 65.805,
    "ResNet-18 (batch size 64)": 48.884,
    "ResNet-18 (batch size 128)": 30.288,
    "ResNet-18 (batch size 256)": 16.987,
    "ResNet-50 (batch size 16)": 17.374,
    "ResNet-50 (batch size 32)": 9.9206,
    "ResNet-50 (batch size 64)": 5.4576,
    "ResNet-50 (batch size 128)": 2.8460,
    "Transformer (batch size 16)": 12.846,
    "Transformer (batch size 32)": 12.475,
    "Transformer (batch size 64)": 9.5680,
    "Transformer (batch size 128)": 5.7712,
    "Transformer (batch size 256)": 1.7070,
    "A3C": 8.2330,
    "LM (batch size 5)": 167.12,
    "LM (batch size 10)": 143.36,
    "LM (batch size 20)": 107.95,
    "LM (batch size 40)": 71.723,
    "LM (batch size 80)": 43.904,
    "Recommendation (batch size 512)": 0.33148,
    "Recommendation (batch size 1024)": 0.47998,
    "Recommendation (batch size 2048)": 0.56753,
    "Recommendation (batch size 4096)": 0.62441,
    "Recommendation (batch size 8192)": 0.60235,
    "CycleGAN": 4.9185,
}
"""Steps per second of each Gavel job type alone on one V100 (isolated, ``"null"`` entry of the
``v100`` section of ``scheduler/oracle_throughputs.json`` in stanford-futuredata/gavel, MIT;
rounded to 5 significant digits)."""


@register_reader("gavel", description="Gavel per-VC .trace files (tab-separated, 7 fields)")
def read_gavel(path: Path, *, skip_bad: bool) -> RawTrace:
    """Read one Gavel ``.trace`` file or a folder of them (one VC per file).

    Args:
        path: A ``.trace`` file or a folder holding ``*.trace``.
        skip_bad: Skip and count malformed lines instead of raising.

    Returns:
        The raw trace (relative seconds; no origin).

    Raises:
        TraceError: for a folder without ``.trace`` files or the first malformed line.
    """
    files = sorted(path.glob("*.trace")) if path.is_dir() else [path]
    if not files:
        msg = f"{path}: no .trace files in this folder"
        raise TraceError(msg)
    parts: list[RawTrace] = [_read_one(f, skip_bad=skip_bad) for f in files]
    columns: dict[str, object] = {}
    for key in parts[0].columns:
        columns[key] = pl.concat([_series(key, p.columns[key]) for p in parts])
    return RawTrace(
        columns=columns,
        n_rows=sum(p.n_rows for p in parts),
        n_bad=sum(p.n_bad for p in parts),
        bad_examples=[e for p in parts for e in p.bad_examples][:5],
        n_excluded=0,
        notes=[f"{len(files)} VC file(s); durations = total_steps / (V100 steps/s × scale_factor)"],
    )


def _series(name: str, values: object) -> pl.Series:
    if isinstance(values, pl.Series):
        return values.alias(name)
    return pl.Series(name, list(values))  # type: ignore[call-overload]


def _read_one(path: Path, *, skip_bad: bool) -> RawTrace:
    table = read_text_table(
        path, delimiter="\t", names=FIELDS, header="none", quoting=csv.QUOTE_NONE
    )
    checks = RowChecks(path, table.lines, skip_bad=skip_bad)
    check_ragged(checks, table)
    job_type = table.col("job_type").str.strip_chars()
    rate = job_type.replace_strict(GAVEL_V100_STEPS_PER_S, default=None, return_dtype=pl.Float64)
    known = ", ".join(GAVEL_V100_STEPS_PER_S)
    checks.check(rate.is_null(), "job_type", job_type, f"must be a Gavel job type: {known}")
    steps = number_column(checks, table.col("total_steps"), "total_steps", min_value=1)
    arrival = number_column(checks, table.col("arrival_time"), "arrival_time", min_value=0)
    scale = number_column(
        checks,
        table.col("scale_factor"),
        "scale_factor",
        min_value=1,
        max_value=MAX_GPUS,
        integer=True,
    )
    flag = table.col("needs_data_dir").str.strip_chars()
    checks.check(~flag.is_in(["0", "1"]), "needs_data_dir", flag, "must be 0 or 1")
    keep = checks.finish()
    duration = steps / (rate * scale)
    ids = pl.Series([f"{path.stem}-{line}" for line in table.lines], dtype=pl.String)
    return checks.raw_trace(
        {
            "job_id": ids.filter(keep),
            "submit_time_s": arrival.filter(keep),
            "duration_s": duration.filter(keep),
            "num_gpus": scale.filter(keep),
            "queue": pl.Series([path.stem] * table.n_rows, dtype=pl.String).filter(keep),
        },
    )
