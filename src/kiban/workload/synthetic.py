"""Synthetic jobs calibrated on Microsoft Philly: size mix, durations, diurnal and weekly arrivals.

Model (fitted by ``scripts/fit_synthetic.py`` from ``pollux_philly_jobs.csv``; parameters ship in
``kiban/data/fitted/synthetic_philly.json`` together with the Philly statistics they reproduce):

* **Arrivals**: a non-homogeneous Poisson process with piecewise-constant rate
  λ(t) = s · λ₀ · w[day of week] · h[hour of day] (jobs/h), where λ₀ is Philly's mean rate
  (jobs / submission span), w (7 values) and h (24 values) are Philly's arrival counts per weekday
  and per hour divided by the hours of that kind in the span, each normalized to mean 1, and s is
  ``arrival_scale``. Synthetic time 0 is Monday 00:00 (``start_weekday`` in the file). Each hour's
  count is Poisson(∫λ) with uniform times inside the hour, which samples the process exactly.
* **Size**: the empirical distribution of ``num_gpus`` (values and probabilities).
* **Duration**: per size group (1, 2, 3–4, 5–8, 9–16, ≥ 17 GPUs) an empirical quantile table of
  ln(duration_s) at fixed levels (dense toward the tail: 0.00–0.99 by 0.01, then 0.991–0.999 and
  0.9991–0.9999, and the maximum); sampling interpolates linearly in ln between levels (inverse
  CDF). Keeping durations per size group preserves Philly's GPU-hours mix, where 5–8-GPU jobs hold
  about half of the GPU-hours though they are 2 % of jobs.
* **Job model** columns: :func:`kiban.workload.job_model.assign_job_model`.

References:
    Jeon et al., "Analysis of Large-Scale Multi-Tenant GPU Clusters for DNN Training Workloads",
    USENIX ATC'19 (the Philly trace, msr-fiddle/philly-traces, CC BY 4.0); the job table as
    derived by Pollux (petuum/adaptdl ``simulator/traces/philly.csv``).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

import numpy as np
import polars as pl

from kiban.errors import ConfigError
from kiban.units import S_PER_DAY, S_PER_H
from kiban.workload.job_model import JobModelMix, assign_job_model
from kiban.workload.schema import jobs_frame, validate_jobs
from kiban.workload.stats import trace_stats

__all__ = [
    "DURATION_GROUPS",
    "QUANTILE_LEVELS",
    "SyntheticParams",
    "arrival_scale_for_load",
    "default_params",
    "fit_synthetic_params",
    "mean_gpu_seconds_per_job",
    "synthetic_jobs",
]

PARAMS_RESOURCE = ("data", "fitted", "synthetic_philly.json")
H_PER_DAY = 24
DAYS_PER_WEEK = 7
H_PER_WEEK = H_PER_DAY * DAYS_PER_WEEK

DURATION_GROUPS: tuple[tuple[int, int], ...] = (
    (1, 1),
    (2, 2),
    (3, 4),
    (5, 8),
    (9, 16),
    (17, 2**62),
)
"""GPU-count groups with their own duration table: (fewest, most) GPUs."""

QUANTILE_LEVELS: tuple[float, ...] = tuple(
    np.round(
        np.concatenate(
            [
                np.arange(0, 100) / 100,
                0.99 + np.arange(1, 10) / 1000,
                0.999 + np.arange(1, 10) / 10000,
                [1.0],
            ]
        ),
        6,
    ).tolist()
)
"""Levels of the duration quantile tables (119 values from 0 to 1)."""


@dataclass(frozen=True)
class SyntheticParams:
    """Fitted parameters of the synthetic generator (see the module docstring).

    Attributes:
        arrival_rate_per_h: λ₀, mean arrivals per hour.
        weekday_factor: w, 7 multipliers (Monday first), mean 1.
        hour_factor: h, 24 multipliers (hour 0 first), mean 1.
        start_weekday: Day of week of synthetic time 0 (0 = Monday).
        size_values: GPU counts that occur.
        size_probs: Their probabilities (sum 1).
        duration_levels: Quantile levels (increasing, 0 … 1).
        duration_log_quantiles_s: Per group in :data:`DURATION_GROUPS`, ln(duration_s) at each
            level.
        reference: The statistics of the trace the parameters were fitted on.
    """

    arrival_rate_per_h: float
    weekday_factor: tuple[float, ...]
    hour_factor: tuple[float, ...]
    start_weekday: int
    size_values: tuple[int, ...]
    size_probs: tuple[float, ...]
    duration_levels: tuple[float, ...]
    duration_log_quantiles_s: tuple[tuple[float, ...], ...]
    reference: dict[str, Any]

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not (np.isfinite(self.arrival_rate_per_h) and self.arrival_rate_per_h > 0):
            problems.append(f"arrival_rate_per_h = {self.arrival_rate_per_h}: must be > 0")
        if len(self.weekday_factor) != DAYS_PER_WEEK or min(self.weekday_factor) < 0:
            problems.append("weekday_factor: must be 7 values ≥ 0")
        if len(self.hour_factor) != H_PER_DAY or min(self.hour_factor) < 0:
            problems.append("hour_factor: must be 24 values ≥ 0")
        if not 0 <= self.start_weekday < DAYS_PER_WEEK:
            problems.append(f"start_weekday = {self.start_weekday}: must be 0–6 (0 = Monday)")
        if len(self.size_values) != len(self.size_probs) or not self.size_values:
            problems.append("size_values and size_probs: must be non-empty and of equal length")
        elif min(self.size_values) < 1 or abs(sum(self.size_probs) - 1.0) > 1e-6:
            problems.append("size_values must be ≥ 1 and size_probs must add up to 1")
        lv = np.asarray(self.duration_levels)
        if lv.size < 2 or lv[0] != 0.0 or lv[-1] != 1.0 or np.any(np.diff(lv) <= 0):
            problems.append("duration_levels: must increase from 0 to 1")
        if len(self.duration_log_quantiles_s) != len(DURATION_GROUPS):
            problems.append(f"duration_log_quantiles_s: must have {len(DURATION_GROUPS)} tables")
        for i, q in enumerate(self.duration_log_quantiles_s):
            qa = np.asarray(q)
            if qa.size != lv.size or not np.all(np.isfinite(qa)) or np.any(np.diff(qa) < 0):
                problems.append(
                    f"duration_log_quantiles_s[{i}]: must be {lv.size} finite, non-decreasing"
                )
        if problems:
            msg = f"synthetic params: {problems[0]}"
            raise ConfigError(msg, problems=problems)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SyntheticParams:
        """Build from the JSON layout written by :meth:`to_dict`.

        Raises:
            ConfigError: for missing keys or invalid values.
        """
        try:
            arr = data["arrival"]
            dur = data["duration"]
            return cls(
                arrival_rate_per_h=float(arr["rate_per_h"]),
                weekday_factor=tuple(float(x) for x in arr["weekday_factor"]),
                hour_factor=tuple(float(x) for x in arr["hour_factor"]),
                start_weekday=int(arr.get("start_weekday", 0)),
                size_values=tuple(int(x) for x in data["size"]["values"]),
                size_probs=tuple(float(x) for x in data["size"]["probs"]),
                duration_levels=tuple(float(x) for x in dur["levels"]),
                duration_log_quantiles_s=tuple(
                    tuple(float(x) for x in g["log_duration_s"]) for g in dur["groups"]
                ),
                reference=dict(data.get("reference", {})),
            )
        except (KeyError, TypeError, ValueError) as err:
            msg = f"synthetic params: missing or malformed entry {err}"
            raise ConfigError(msg) from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready layout (inverse of :meth:`from_dict`)."""
        return {
            "arrival": {
                "rate_per_h": self.arrival_rate_per_h,
                "weekday_factor": list(self.weekday_factor),
                "hour_factor": list(self.hour_factor),
                "start_weekday": self.start_weekday,
            },
            "size": {"values": list(self.size_values), "probs": list(self.size_probs)},
            "duration": {
                "levels": list(self.duration_levels),
                "groups": [
                    {"min_gpus": lo, "max_gpus": min(hi, 1_000_000), "log_duration_s": list(q)}
                    for (lo, hi), q in zip(
                        DURATION_GROUPS, self.duration_log_quantiles_s, strict=True
                    )
                ],
            },
            "reference": self.reference,
        }


@functools.cache
def default_params() -> SyntheticParams:
    """The shipped Philly fit (read once, lazily, from package data)."""
    resource = resources.files("kiban").joinpath(*PARAMS_RESOURCE)
    data = json.loads(resource.read_text(encoding="utf-8"))
    return SyntheticParams.from_dict(data)


def _group_index(num_gpus: np.ndarray) -> np.ndarray:
    highs = np.array([hi for _, hi in DURATION_GROUPS[:-1]])
    return np.searchsorted(highs, num_gpus, side="left")


def _mean_exp_piecewise(levels: np.ndarray, log_q: np.ndarray) -> float:
    """E[exp(Y)] for Y piecewise-linear in the uniform level u (closed form per segment)."""
    dp = np.diff(levels)
    y0, y1 = log_q[:-1], log_q[1:]
    dy = y1 - y0
    flat = np.abs(dy) < 1e-12
    with np.errstate(divide="ignore", invalid="ignore"):
        seg = np.where(flat, np.exp(y0), (np.exp(y1) - np.exp(y0)) / np.where(flat, 1.0, dy))
    return float(np.sum(dp * seg))


def _size_pmf(
    params: SyntheticParams, max_gpus: int | None, min_gpus: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(params.size_values, dtype=np.int64)
    probs = np.asarray(params.size_probs, dtype=np.float64)
    if max_gpus is not None or min_gpus is not None:
        ok = (values <= (max_gpus or values.max())) & (values >= (min_gpus or 1))
        if not ok.any():
            msg = (
                f"min_gpus = {min_gpus}, max_gpus = {max_gpus}: no job size of the fit is in "
                f"range (sizes {values.min()}–{values.max()})"
            )
            raise ConfigError(msg)
        values, probs = values[ok], probs[ok] / probs[ok].sum()
    return values, probs


def mean_gpu_seconds_per_job(
    params: SyntheticParams | None = None,
    *,
    max_gpus: int | None = None,
    min_gpus: int | None = None,
) -> float:
    """E[num_gpus · duration_s] of one synthetic job, from the fitted tables (closed form).

    Args:
        params: Fitted parameters; default :func:`default_params`.
        max_gpus: Largest job size (sizes above it are not drawn).
        min_gpus: Smallest job size (sizes below it are not drawn).

    Returns:
        GPU-seconds per job.
    """
    params = default_params() if params is None else params
    values, probs = _size_pmf(params, max_gpus, min_gpus)
    levels = np.asarray(params.duration_levels)
    means = np.array(
        [_mean_exp_piecewise(levels, np.asarray(q)) for q in params.duration_log_quantiles_s]
    )
    return float(np.sum(probs * values * means[_group_index(values)]))


def arrival_scale_for_load(
    target_load_frac: float,
    n_gpus: int,
    params: SyntheticParams | None = None,
    *,
    max_gpus: int | None = None,
) -> float:
    """Arrival-rate multiplier that offers a given load to a site.

    Offered load = s · λ₀ · E[num_gpus · duration_s] / n_gpus (λ₀ in jobs/s; the expectation from
    the fitted tables, sizes above ``max_gpus`` not drawn), so s = target · n_gpus / (λ₀ · E[g·d]).

    Args:
        target_load_frac: Wanted offered load, busy-GPU share in (0, 10].
        n_gpus: GPUs of the site (≥ 1).
        params: Fitted parameters; default :func:`default_params`.
        max_gpus: Largest job size drawn; default ``n_gpus``.

    Returns:
        The ``arrival_scale`` for :func:`synthetic_jobs`.

    Raises:
        ConfigError: for a load or GPU count out of range.
    """
    if not (np.isfinite(target_load_frac) and 0.0 < target_load_frac <= 10.0):
        msg = f"target_load_frac = {target_load_frac}: must be in (0, 10]"
        raise ConfigError(msg)
    if n_gpus < 1:
        msg = f"n_gpus = {n_gpus}: must be ≥ 1"
        raise ConfigError(msg)
    params = default_params() if params is None else params
    gpu_s = mean_gpu_seconds_per_job(params, max_gpus=n_gpus if max_gpus is None else max_gpus)
    rate_per_s = params.arrival_rate_per_h / S_PER_H
    return target_load_frac * n_gpus / (rate_per_s * gpu_s)


def _hourly_rate_per_h(params: SyntheticParams, n_hours: int) -> np.ndarray:
    hour = np.arange(n_hours)
    hod = hour % H_PER_DAY
    dow = (params.start_weekday + hour // H_PER_DAY) % DAYS_PER_WEEK
    w = np.asarray(params.weekday_factor)[dow]
    h = np.asarray(params.hour_factor)[hod]
    return params.arrival_rate_per_h * w * h


def _arrivals_s(
    rng: np.random.Generator,
    params: SyntheticParams,
    scale: float,
    horizon_s: float | None,
    n_jobs: int | None,
) -> np.ndarray:
    if horizon_s is not None:
        n_hours = int(np.ceil(horizon_s / S_PER_H))
        rate = _hourly_rate_per_h(params, n_hours) * scale
        counts = rng.poisson(rate)
        start = np.repeat(np.arange(n_hours) * S_PER_H, counts)
        times = np.sort(start + rng.random(start.size) * S_PER_H)
        times = times[times < horizon_s]
        return times if n_jobs is None else times[:n_jobs]
    wanted = 0 if n_jobs is None else n_jobs
    chunks: list[np.ndarray] = []
    total = 0
    week = 0
    while total < wanted:
        rate = _hourly_rate_per_h(params, H_PER_WEEK) * scale
        counts = rng.poisson(rate)
        start = np.repeat(week * H_PER_WEEK * S_PER_H + np.arange(H_PER_WEEK) * S_PER_H, counts)
        chunk = np.sort(start + rng.random(start.size) * S_PER_H)
        chunks.append(chunk)
        total += chunk.size
        week += 1
    return np.concatenate(chunks)[:wanted] if chunks else np.zeros(0)


def synthetic_jobs(
    rng: np.random.Generator,
    *,
    horizon_s: float | None = None,
    n_jobs: int | None = None,
    arrival_scale: float = 1.0,
    max_gpus: int | None = None,
    params: SyntheticParams | None = None,
    mix: JobModelMix | None = None,
    min_gpus: int | None = None,
) -> pl.DataFrame:
    """Draw a Philly-like canonical jobs table.

    Args:
        rng: The random generator (consumed; the same state gives the same table).
        horizon_s: Arrival window from 0 (jobs submitted in [0, horizon_s)).
        n_jobs: Number of jobs; with ``horizon_s`` too, at most this many within the window.
        arrival_scale: Multiplier s of the arrival rate (see :func:`arrival_scale_for_load`).
        max_gpus: Largest job size; larger Philly sizes are not drawn (the size distribution is
            renormalized over the sizes that fit).
        params: Fitted parameters; default :func:`default_params` (the shipped Philly fit).
        mix: Job-model mix; default :func:`kiban.workload.job_model.default_mix`.
        min_gpus: Smallest job size; smaller Philly sizes are not drawn (renormalized as for
            ``max_gpus``).

    Returns:
        Canonical jobs table sorted by submit time; ids ``syn-0``, ``syn-1``, … in arrival order.

    Raises:
        ConfigError: when neither ``horizon_s`` nor ``n_jobs`` is given, or for values out of
            range.
    """
    if horizon_s is None and n_jobs is None:
        msg = "synthetic jobs: give horizon_s or n_jobs"
        raise ConfigError(msg)
    if horizon_s is not None and not (np.isfinite(horizon_s) and horizon_s > 0):
        msg = f"synthetic jobs: horizon_s = {horizon_s}: must be > 0"
        raise ConfigError(msg)
    if n_jobs is not None and n_jobs < 0:
        msg = f"synthetic jobs: n_jobs = {n_jobs}: must be ≥ 0"
        raise ConfigError(msg)
    if not (np.isfinite(arrival_scale) and arrival_scale > 0):
        msg = f"synthetic jobs: arrival_scale = {arrival_scale}: must be > 0"
        raise ConfigError(msg)
    if max_gpus is not None and max_gpus < 1:
        msg = f"synthetic jobs: max_gpus = {max_gpus}: must be ≥ 1"
        raise ConfigError(msg)
    params = default_params() if params is None else params
    values, probs = _size_pmf(params, max_gpus, min_gpus)
    if n_jobs == 0:
        submit = np.zeros(0)
    else:
        submit = _arrivals_s(rng, params, arrival_scale, horizon_s, n_jobs)
    n = submit.size
    num_gpus = values[
        np.minimum(np.searchsorted(np.cumsum(probs), rng.random(n), "right"), values.size - 1)
    ]
    levels = np.asarray(params.duration_levels)
    tables = np.asarray(params.duration_log_quantiles_s)
    u = rng.random(n)
    group = _group_index(num_gpus)
    log_d = np.empty(n)
    for gi in range(len(DURATION_GROUPS)):
        m = group == gi
        log_d[m] = np.interp(u[m], levels, tables[gi])
    width = len(str(max(n - 1, 0)))
    df = jobs_frame(
        {
            "job_id": [f"syn-{i:0{width}d}" for i in range(n)],
            "submit_time_s": submit,
            "duration_s": np.exp(log_d),
            "num_gpus": num_gpus,
        }
    )
    df = assign_job_model(df, rng, mix)
    validate_jobs(df, "synthetic jobs")
    return df


# --- fitting ------------------------------------------------------------------------------


def _hour_exposure(first: datetime, last: datetime) -> tuple[np.ndarray, np.ndarray]:
    """Hours of each weekday and each hour of day in [first, last] (fractional at the ends)."""
    by_dow = np.zeros(DAYS_PER_WEEK)
    by_hod = np.zeros(H_PER_DAY)
    t = first.replace(minute=0, second=0, microsecond=0)
    while t < last:
        nxt = t + timedelta(hours=1)
        lo, hi = max(t, first), min(nxt, last)
        frac = (hi - lo).total_seconds() / S_PER_H
        by_dow[t.weekday()] += frac
        by_hod[t.hour] += frac
        t = nxt
    return by_dow, by_hod


def fit_synthetic_params(df: pl.DataFrame, origin: datetime) -> SyntheticParams:
    """Fit the generator to a trace with wall-clock times (Philly).

    Args:
        df: Canonical jobs table.
        origin: Wall-clock time of ``submit_time_s == 0``.

    Returns:
        Parameters whose ``reference`` holds ``trace_stats`` of the input.

    Raises:
        ConfigError: for a trace too small to fit (fewer than 100 jobs or a span under a week).
    """
    n = df.height
    t = df["submit_time_s"].to_numpy()
    span_s = float(t.max() - t.min()) if n else 0.0
    if n < 100 or span_s < DAYS_PER_WEEK * S_PER_DAY:
        msg = f"cannot fit: {n} jobs over {span_s / S_PER_DAY:.1f} days (need ≥ 100 and ≥ 7 days)"
        raise ConfigError(msg)
    first = origin + timedelta(seconds=float(t.min()))
    last = origin + timedelta(seconds=float(t.max()))
    wall = pl.Series([origin + timedelta(seconds=float(x)) for x in t], dtype=pl.Datetime("us"))
    dow = wall.dt.weekday().to_numpy() - 1  # polars: Monday = 1
    hod = wall.dt.hour().to_numpy()
    exp_dow, exp_hod = _hour_exposure(first, last)
    rate = n / (span_s / S_PER_H)
    w = np.bincount(dow, minlength=DAYS_PER_WEEK) / exp_dow
    h = np.bincount(hod, minlength=H_PER_DAY) / exp_hod
    w = w / w.mean()
    h = h / h.mean()

    g = df["num_gpus"].to_numpy()
    values, counts = np.unique(g, return_counts=True)
    probs = counts / counts.sum()
    d = df["duration_s"].to_numpy()
    levels = np.asarray(QUANTILE_LEVELS)
    group = _group_index(g)
    tables = []
    for gi, (lo, hi) in enumerate(DURATION_GROUPS):
        m = group == gi
        if not m.any():
            msg = f"cannot fit: no jobs with {lo}–{hi} GPUs"
            raise ConfigError(msg)
        logs = np.log(np.maximum(d[m], 1.0))
        tables.append(tuple(float(x) for x in np.quantile(logs, levels)))
    reference = trace_stats(df, origin=origin)
    return SyntheticParams(
        arrival_rate_per_h=float(rate),
        weekday_factor=tuple(float(x) for x in w),
        hour_factor=tuple(float(x) for x in h),
        start_weekday=0,
        size_values=tuple(int(x) for x in values),
        size_probs=tuple(float(x) for x in probs),
        duration_levels=tuple(float(x) for x in levels),
        duration_log_quantiles_s=tuple(tables),
        reference=reference,
    )
