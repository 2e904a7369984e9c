"""Summary statistics of a jobs table: jobs, GPU-hours, size mix, arrival rate, durations.

The same function describes a real trace and a synthetic one, so the synthetic generator's tests
compare like with like.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from kiban.units import S_PER_DAY, S_PER_H

if TYPE_CHECKING:
    from datetime import datetime

    import polars as pl

__all__ = ["SIZE_MIX_CLASSES", "size_mix", "trace_stats"]

SIZE_MIX_CLASSES: tuple[tuple[str, int, int], ...] = (
    ("1", 1, 1),
    ("2", 2, 2),
    ("3-4", 3, 4),
    ("5-8", 5, 8),
    ("9-16", 9, 16),
    ("17-32", 17, 32),
    ("33+", 33, 2**62),
)
"""Size classes of the reported size mix: (label, fewest GPUs, most GPUs)."""


def size_mix(num_gpus: np.ndarray) -> dict[str, float]:
    """Share of jobs in each :data:`SIZE_MIX_CLASSES` class (fractions that add up to 1)."""
    g = np.asarray(num_gpus)
    n = max(g.size, 1)
    return {label: float(((g >= lo) & (g <= hi)).sum() / n) for label, lo, hi in SIZE_MIX_CLASSES}


def trace_stats(df: pl.DataFrame, *, origin: datetime | None = None) -> dict[str, Any]:
    """Summarize a canonical jobs table.

    Definitions: ``span_s`` = last − first submit; ``arrival_rate_per_h`` = jobs / span in hours;
    ``gpu_hours`` = Σ num_gpus · duration_s / 3600; ``gpu_hours_per_day`` = gpu_hours / span in
    days (the mean number of busy GPUs × 24 if every job ran once, unshared);
    ``size_mix`` = share of jobs per :data:`SIZE_MIX_CLASSES`; ``gpu_hours_by_size`` = share of
    GPU-hours per class; duration percentiles over jobs.

    Args:
        df: Canonical jobs table (``num_gpus``, ``duration_s``, ``submit_time_s`` are used).
        origin: Wall-clock time of ``submit_time_s == 0``; adds ``first_submit`` and
            ``last_submit`` (ISO strings).

    Returns:
        A JSON-ready dict.
    """
    n = df.height
    g = df["num_gpus"].to_numpy().astype(np.float64)
    d = df["duration_s"].to_numpy().astype(np.float64)
    t = df["submit_time_s"].to_numpy().astype(np.float64)
    gpu_s = g * d
    span_s = float(t.max() - t.min()) if n else 0.0
    total_gpu_h = float(gpu_s.sum() / S_PER_H)
    pct = (
        {f"duration_p{p}_s": float(np.percentile(d, p)) for p in (50, 90, 99)}
        if n
        else {f"duration_p{p}_s": 0.0 for p in (50, 90, 99)}
    )
    by_size = {}
    for label, lo, hi in SIZE_MIX_CLASSES:
        m = (g >= lo) & (g <= hi)
        by_size[label] = float(gpu_s[m].sum() / gpu_s.sum()) if gpu_s.sum() > 0 else 0.0
    stats: dict[str, Any] = {
        "jobs": n,
        "gpu_hours": total_gpu_h,
        "span_s": span_s,
        "span_days": span_s / S_PER_DAY,
        "arrival_rate_per_h": n / (span_s / S_PER_H) if span_s > 0 else 0.0,
        "gpu_hours_per_day": total_gpu_h / (span_s / S_PER_DAY) if span_s > 0 else 0.0,
        "mean_num_gpus": float(g.mean()) if n else 0.0,
        "max_num_gpus": int(g.max()) if n else 0,
        "size_mix": size_mix(g),
        "gpu_hours_by_size": by_size,
        "duration_mean_s": float(d.mean()) if n else 0.0,
        **pct,
    }
    if origin is not None and n:
        stats["first_submit"] = (origin + timedelta(seconds=float(t.min()))).isoformat()
        stats["last_submit"] = (origin + timedelta(seconds=float(t.max()))).isoformat()
    return stats
