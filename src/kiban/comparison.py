"""Comparisons of policies that do not mislead: same jobs, censoring, work actually done.

A run cut at a horizon leaves some jobs unfinished, and each policy leaves *different* ones. Mean
JCT over finished jobs then compares different job sets: a policy that starves long jobs looks
fast. This module computes, from each run's ``summary.json`` and ``jobs.parquet``:

- ``finished_frac``: jobs finished out of the jobs that arrived before the horizon;
- ``common_jct_mean_s`` / ``common_jct_p99_s``: JCT over the jobs that *every* compared policy
  finished (the same job set for all);
- ``slowdown_mean``: mean bounded slowdown over *all* arrived jobs, an unfinished job counted as
  if it ended at the horizon (a lower bound on its true slowdown, so censoring never flatters a
  policy): ``(end or horizon − submit) / max(service, 10 s)``, where ``service`` is the job's
  running time in a policy that finished it (the shortest such), else the longest running time
  any policy gave it (Feitelson's bounded slowdown, 10 s threshold);
- energy, cost and CO2 per *useful* (productive) GPU-hour, so that a policy which did less work
  does not look "best" on totals;
- ``all_finished``: every job of the trace arrived and finished (only then is a makespan
  meaningful).

Inputs are plain ``(summary, jobs)`` pairs, so results in memory (``SimulationResult``) and
result folders read back (``kiban.report``) give the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

__all__ = [
    "SLOWDOWN_THRESHOLD_S",
    "FairStats",
    "fair_stats",
    "per_useful_gpu_hour",
]

SLOWDOWN_THRESHOLD_S = 10.0
"""Bounded-slowdown threshold: jobs shorter than this count as this long (Feitelson et al.)."""

NOT_ARRIVED = "not-arrived"
"""``jobs.parquet`` status of a job submitted after the horizon."""


@dataclass(frozen=True)
class FairStats:
    """Per-run statistics on a common footing (lists are indexed like the runs)."""

    finished_frac: list[float | None]
    arrived: list[int]
    common_jobs: int
    """Jobs every run finished."""
    common_frac: float | None
    """``common_jobs`` over the jobs that arrived (in the first run)."""
    common_jct_mean_s: list[float | None]
    common_jct_p99_s: list[float | None]
    slowdown_mean: list[float | None]
    all_finished: list[bool]
    energy_kwh_per_useful_gpu_h: list[float | None]
    cost_jpy_per_useful_gpu_h: list[float | None]
    co2_kg_per_useful_gpu_h: list[float | None]


def _num(summary: dict[str, Any], key: str) -> float | None:
    value = summary.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    out = float(value)
    return out if np.isfinite(out) else None


def per_useful_gpu_hour(summary: dict[str, Any], key: str) -> float | None:
    """``summary[key]`` divided by the productive GPU-hours (None if either is missing or 0)."""
    total, useful = _num(summary, key), _num(summary, "gpu_hours_productive")
    if total is None or useful is None or useful <= 0:
        return None
    return total / useful


def _arrived(jobs: pl.DataFrame) -> pl.DataFrame:
    if "status" in jobs.columns:
        return jobs.filter(pl.col("status") != NOT_ARRIVED)
    return jobs


def _completed(jobs: pl.DataFrame) -> pl.Series:
    if "completed" in jobs.columns:
        return jobs["completed"].fill_null(value=False)
    return jobs["jct_s"].is_not_null()


def _all_finished(summary: dict[str, Any]) -> bool:
    unfinished = _num(summary, "jobs_unfinished")
    if unfinished is None:
        total, done = _num(summary, "jobs_total"), _num(summary, "jobs_completed")
        unfinished = total - done if total is not None and done is not None else 0.0
    not_arrived = _num(summary, "jobs_not_arrived") or 0.0
    unschedulable = _num(summary, "jobs_unschedulable") or 0.0
    return unfinished == 0 and not_arrived == 0 and unschedulable == 0


def fair_stats(runs: Sequence[tuple[dict[str, Any], pl.DataFrame]]) -> FairStats:
    """Statistics that compare runs of the same jobs on the same footing (see module doc).

    Args:
        runs: ``(summary, jobs)`` per run; ``jobs`` needs ``job_id``, ``submit_time_s``,
            ``jct_s`` and, when present, ``status``, ``completed`` and ``run_s``.

    Returns:
        The statistics, one entry per run.
    """
    arrived_frames = [_arrived(jobs) for _, jobs in runs]
    finished_frac: list[float | None] = []
    for frame in arrived_frames:
        n = frame.height
        finished_frac.append(float(_completed(frame).sum()) / n if n else None)
    have_ids = all("job_id" in f.columns for f in arrived_frames) and bool(arrived_frames)
    common_mean: list[float | None] = [None] * len(runs)
    common_p99: list[float | None] = [None] * len(runs)
    slowdown: list[float | None] = [None] * len(runs)
    common_jobs = 0
    common_frac: float | None = None
    if have_ids:
        done_sets = [set(f.filter(_completed(f))["job_id"].to_list()) for f in arrived_frames]
        common = set.intersection(*done_sets) if done_sets else set()
        common_jobs = len(common)
        n0 = arrived_frames[0].height
        common_frac = common_jobs / n0 if n0 else None
        if common:
            ids = pl.DataFrame({"job_id": sorted(common)})
            for i, frame in enumerate(arrived_frames):
                jct = _finite(frame.join(ids, on="job_id", how="semi")["jct_s"])
                if jct.size:
                    common_mean[i] = float(jct.mean())
                    common_p99[i] = float(np.quantile(jct, 0.99))
        slowdown = _slowdowns(runs, arrived_frames)
    return FairStats(
        finished_frac=finished_frac,
        arrived=[f.height for f in arrived_frames],
        common_jobs=common_jobs,
        common_frac=common_frac,
        common_jct_mean_s=common_mean,
        common_jct_p99_s=common_p99,
        slowdown_mean=slowdown,
        all_finished=[_all_finished(s) for s, _ in runs],
        energy_kwh_per_useful_gpu_h=[
            per_useful_gpu_hour(s, "facility_energy_kwh") for s, _ in runs
        ],
        cost_jpy_per_useful_gpu_h=[per_useful_gpu_hour(s, "cost_jpy") for s, _ in runs],
        co2_kg_per_useful_gpu_h=[per_useful_gpu_hour(s, "co2_kg") for s, _ in runs],
    )


def _finite(values: pl.Series) -> np.ndarray:
    arr = values.cast(pl.Float64).drop_nulls().to_numpy()
    return np.asarray(arr[np.isfinite(arr)], dtype=np.float64)


def _slowdowns(
    runs: Sequence[tuple[dict[str, Any], pl.DataFrame]], frames: list[pl.DataFrame]
) -> list[float | None]:
    """Mean bounded slowdown per run, unfinished jobs counted at the horizon."""
    if any("run_s" not in f.columns for f in frames):
        return [None] * len(frames)
    parts = []
    for i, frame in enumerate(frames):
        parts.append(
            frame.select(
                pl.col("job_id"),
                pl.lit(i).alias("run"),
                pl.col("submit_time_s").cast(pl.Float64),
                pl.col("jct_s").cast(pl.Float64),
                pl.col("run_s").cast(pl.Float64).fill_null(0.0),
                _completed(frame).alias("done"),
            )
        )
    allj = pl.concat(parts)
    service = allj.group_by("job_id").agg(
        pl.col("run_s").filter(pl.col("done")).min().alias("done_run_s"),
        pl.col("run_s").max().alias("max_run_s"),
    )
    service = service.with_columns(
        pl.coalesce("done_run_s", "max_run_s")
        .clip(lower_bound=SLOWDOWN_THRESHOLD_S)
        .alias("service_s")
    )
    out: list[float | None] = []
    for i, (summary, _) in enumerate(runs):
        horizon = _num(summary, "horizon_s")
        rows = allj.filter(pl.col("run") == i).join(
            service.select("job_id", "service_s"), on="job_id"
        )
        if rows.height == 0:
            out.append(None)
            continue
        if horizon is None:
            rows = rows.filter(pl.col("done"))
            response = rows["jct_s"]
        else:
            response = rows.select(
                pl.when(pl.col("done"))
                .then(pl.col("jct_s"))
                .otherwise(pl.lit(horizon) - pl.col("submit_time_s"))
                .clip(lower_bound=0.0)
            ).to_series()
        ratio = (response / rows["service_s"]).cast(pl.Float64)
        ratio = ratio.fill_nan(None).drop_nulls()
        out.append(float(ratio.clip(lower_bound=1.0).mean()) if ratio.len() else None)  # type: ignore[arg-type]
    return out
