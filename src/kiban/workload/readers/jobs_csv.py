"""A plain job CSV in kiban's own column names (small hand-made or converted traces).

Columns: ``job_id, submit_time_s, duration_s, num_gpus`` (required) and, optionally,
``gpu_model`` (a catalog GPU name or alternatives ``a|b``; empty = any), ``gpus_per_node``,
``gpu_milli`` (1–1000; a share of one GPU), ``mig_profile`` (a MIG profile as NVIDIA names it,
``3g.40gb``; empty = none; :mod:`kiban.mig`), ``queue`` and ``user``. Times are seconds from any
origin. The job-model columns (activity, I/O, checkpoints) come from the mix, as for the public
traces. A job on a share of a GPU (``gpu_milli`` below 1000, or a MIG instance of ``c`` compute
slices) reads input at that share of a whole GPU's rate (``gpu_milli / 1000``, ``c / 7``).

Every bad cell is reported as ``FILE:LINE: field = 'value': what is allowed``; an unknown MIG
profile lists the profiles the catalog knows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from kiban.mig import MIG_COMPUTE_SLICES, MIG_PROFILE_NAMES, profile_compute_slices
from kiban.vocabulary import MILLI_PER_GPU
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

__all__ = ["read_jobs_csv"]

REQUIRED = ["job_id", "submit_time_s", "duration_s", "num_gpus"]


@register_reader("jobs-csv", description="job CSV in kiban's column names (mig_profile allowed)")
def read_jobs_csv(path: Path, *, skip_bad: bool) -> RawTrace:
    """Read a job CSV in kiban's column names (see the module docstring).

    Args:
        path: The CSV file.
        skip_bad: Skip and count malformed rows instead of raising.

    Returns:
        The raw trace (relative seconds; no origin).
    """
    table = read_text_table(path, required=REQUIRED)
    checks = RowChecks(path, table.lines, skip_bad=skip_bad)
    check_ragged(checks, table)
    unique_column(checks, table.col("job_id"), "job_id")
    gpus = number_column(
        checks, table.col("num_gpus"), "num_gpus", min_value=1, max_value=MAX_GPUS, integer=True
    )
    submit = number_column(
        checks, table.col("submit_time_s"), "submit_time_s", min_value=0, unit="s"
    )
    duration = number_column(checks, table.col("duration_s"), "duration_s", min_value=0, unit="s")
    n = len(table.col("job_id"))
    share = np.ones(n)
    cols: dict[str, object] = {}
    if table.has("gpus_per_node"):
        gpn = number_column(
            checks,
            table.col("gpus_per_node"),
            "gpus_per_node",
            min_value=0,
            integer=True,
            required=False,
        )
        cols["gpus_per_node"] = gpn.fill_null(0).cast(pl.Int64)
    milli = pl.Series(np.full(n, MILLI_PER_GPU, dtype=np.float64))
    if table.has("gpu_milli"):
        raw = table.col("gpu_milli")
        milli = number_column(
            checks,
            raw,
            "gpu_milli",
            min_value=1,
            max_value=MILLI_PER_GPU,
            integer=True,
            required=False,
        ).fill_null(MILLI_PER_GPU)
        checks.check(
            (milli < MILLI_PER_GPU) & (gpus != 1),
            "gpu_milli",
            raw,
            "must be 1000 when num_gpus > 1 (only single-GPU jobs share a GPU)",
        )
        cols["gpu_milli"] = milli.cast(pl.Int64, strict=False).fill_null(MILLI_PER_GPU)
        share = np.nan_to_num(milli.to_numpy(), nan=MILLI_PER_GPU) / MILLI_PER_GPU
    if table.has("mig_profile"):
        raw = table.col("mig_profile")
        prof = text_or_empty(raw).str.strip_chars()
        names = prof.to_list()
        known = np.array([p == "" or p in MIG_PROFILE_NAMES for p in names], dtype=bool)
        checks.check(
            ~known,
            "mig_profile",
            raw,
            "not a MIG profile of any GPU in the catalog; allowed: empty (none) or "
            + ", ".join(MIG_PROFILE_NAMES),
        )
        is_mig = (prof != "").to_numpy()
        checks.check(
            is_mig & (gpus != 1).fill_null(False).to_numpy(),
            "mig_profile",
            raw,
            "a job with a MIG profile takes one GPU instance: num_gpus must be 1",
        )
        checks.check(
            is_mig & (milli != MILLI_PER_GPU).fill_null(False).to_numpy(),
            "mig_profile",
            raw,
            "a job with a MIG profile states no gpu_milli below 1000 (the profile is its share)",
        )
        cols["mig_profile"] = prof
        slices = np.array(
            [profile_compute_slices(p) if k and p else 0 for p, k in zip(names, known, strict=True)]
        )
        share = np.where(slices > 0, slices / MIG_COMPUTE_SLICES, share)
    for name in ("gpu_model", "queue", "user"):
        if table.has(name):
            cols[name] = text_or_empty(table.col(name)).str.strip_chars()
    keep = checks.finish()
    kept = pl.Series(keep)
    return checks.raw_trace(
        {
            "job_id": text_or_empty(table.col("job_id")).filter(kept),
            "submit_time_s": submit.filter(kept),
            "duration_s": duration.filter(kept),
            "num_gpus": gpus.filter(kept),
            **{k: v.filter(kept) for k, v in cols.items()},  # type: ignore[attr-defined]
        },
        input_scale_frac=share[keep] if (share < 1.0).any() else None,
    )
