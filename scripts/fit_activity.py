"""Fit the GPU activity model (kiban.physics.activity) to Philly's measured utilization.

Data (read as published, found through ``kiban.shared_data.data_path``):

* ``philly-gpu-util/philly_gpu_util_cdf.csv``: 1,000-point quantile table of per-minute,
  per-GPU nvidia-smi utilization in Microsoft's Philly cluster (Hu et al., NSDI 2024, from the
  ``cluster_gpu_util`` logs of Jeon et al., ATC 2019).
* ``philly/pollux_philly_jobs.csv``: the Philly job trace, used only for the GPU-time share of
  the three size classes (1, 2–8, > 8 GPUs) that weight the mixture.

Method: the model CDF (``kiban.physics.activity.util_cdf``) is a mixture over size classes of
idle minutes (q0), saturated minutes (q1) and Beta-distributed ordinary minutes whose job means
are Beta(μ_c, κ_job), μ_c = μ_1·r^k. The five parameters (q0, q1, μ_1, r, κ_job) are fitted by
least squares of the CDF at the table's points (scipy.optimize.least_squares), then polished by
minimising the Kolmogorov–Smirnov distance (Nelder–Mead) and the KS distance is reported.

Which zero samples are jobs? The logs do not say whether a zero came from an idle allocation or
from a GPU without a job (LOADER.md). ``--unallocated-frac z`` states the share of samples from
GPUs without a job; the default z = 0 reads every sample as one of an allocated GPU (the
Philly replay's own idle GPUs are then compared separately, and the in-job fit is an upper bound
on in-job idleness). The value used is stored with the fit.

Run:  ``.venv/bin/python scripts/fit_activity.py`` (writes
``src/kiban/data/fitted/activity_fit.json``; ``--check`` only compares with the shipped file).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import polars as pl
from scipy.optimize import least_squares, minimize

from kiban.physics.activity import (
    MINUTE_CONCENTRATION,
    ActivityFit,
    activity_size_class,
    util_cdf,
)
from kiban.shared_data import data_path

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT_DEFAULT = REPO_ROOT / "src" / "kiban" / "data" / "fitted" / "activity_fit.json"
UTIL_FILE = ("philly-gpu-util", "philly_gpu_util_cdf.csv")
TRACE_FILE = ("philly", "pollux_philly_jobs.csv")
PCT = 100.0


def load_util() -> tuple[np.ndarray, np.ndarray, str]:
    """The quantile table as (util_frac sorted, cdf_frac), and the file's SHA-256."""
    path = data_path(*UTIL_FILE)
    df = pl.read_csv(path)
    util = df["gpu_util_pct"].to_numpy().astype(np.float64) / PCT
    cdf = df["cdf_pct"].to_numpy().astype(np.float64) / PCT
    order = np.argsort(util, kind="stable")
    return util[order], cdf[order], hashlib.sha256(path.read_bytes()).hexdigest()


def class_weights() -> tuple[np.ndarray, str]:
    """GPU-time share of the size classes in the Philly trace, and the file's SHA-256."""
    path = data_path(*TRACE_FILE)
    df = pl.read_csv(path).drop_nulls(["num_gpus", "duration"])
    n = df["num_gpus"].to_numpy()
    gpu_s = df["duration"].to_numpy().astype(np.float64) * n
    w = np.bincount(activity_size_class(n), weights=gpu_s, minlength=3)
    return w / w.sum(), hashlib.sha256(path.read_bytes()).hexdigest()


def _fit_from(x: np.ndarray, z: float) -> ActivityFit:
    q0, q1, mu1, r, log_k = x
    return ActivityFit(
        idle_minute_frac=float(q0),
        saturated_minute_frac=float(q1),
        busy_mean_1gpu_frac=float(mu1),
        busy_mean_ratio_per_class=float(r),
        job_concentration=float(np.exp(log_k)),
        minute_concentration=MINUTE_CONCENTRATION,
        ks_distance=float("nan"),
        unallocated_frac=z,
    )


def fit(util: np.ndarray, cdf: np.ndarray, weights: np.ndarray, z: float) -> ActivityFit:
    """Least squares on the CDF, then a Nelder–Mead polish of the KS distance."""
    lo = np.array([0.0, 0.0, 0.02, 0.3, np.log(0.2)])
    hi = np.array([0.9, 0.5, 0.98, 1.5, np.log(200.0)])
    x0 = np.array([0.3, 0.05, 0.6, 0.9, np.log(2.0)])

    def feasible(x: np.ndarray) -> bool:
        return bool(np.all(x >= lo) and np.all(x <= hi) and x[0] + x[1] < 1.0)

    uniq = np.unique(util)
    last = np.searchsorted(util, uniq, side="right") - 1
    f_at, f_left = cdf[last], np.concatenate(([0.0], cdf[last[:-1]]))
    left_x = np.maximum(uniq - 1e-9, 0.0)

    def model(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        both = util_cdf(
            np.concatenate((uniq, left_x)), weights, _fit_from(x, z), unallocated_frac=z
        )
        at, left = both[: uniq.size], both[uniq.size :]
        left[0] = 0.0  # nothing below zero utilization
        return at, left

    def resid(x: np.ndarray) -> np.ndarray:
        at, left = model(x)
        return np.concatenate((at - f_at, left - f_left))

    ls = least_squares(resid, x0, bounds=(lo, hi))

    def ks(x: np.ndarray) -> float:
        if not feasible(x):
            return 1.0
        at, left = model(x)
        return float(max(np.abs(at - f_at).max(), np.abs(left - f_left).max()))

    nm = minimize(ks, ls.x, method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-5})
    best = nm.x if nm.fun < ks(ls.x) else ls.x
    return dataclasses.replace(_fit_from(best, z), ks_distance=ks(best))


def main(argv: list[str] | None = None) -> int:
    """Fit, print the result, write (or check) the shipped json."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT_DEFAULT)
    ap.add_argument("--unallocated-frac", type=float, default=0.0)
    ap.add_argument("--check", action="store_true", help="compare with the shipped file only")
    args = ap.parse_args(argv)
    util, cdf, util_sha = load_util()
    weights, trace_sha = class_weights()
    result = fit(util, cdf, weights, args.unallocated_frac)
    mean_1gpu = (1 - result.idle_minute_frac - result.saturated_minute_frac) * (
        result.busy_mean_1gpu_frac
    ) + result.saturated_minute_frac
    params = {
        k: getattr(result, k)
        for k in (
            "idle_minute_frac",
            "saturated_minute_frac",
            "busy_mean_1gpu_frac",
            "busy_mean_ratio_per_class",
            "job_concentration",
            "minute_concentration",
        )
    }
    doc = {
        "model": "kiban.physics.activity.util_cdf (idle q0, saturated q1, Beta minutes around "
        "Beta(mu_c, kappa_job) job means; mu_c = mu_1 * r**k, k = 0, 1, 2 for 1, 2-8, >8 GPUs)",
        "params": params,
        "ks_distance": result.ks_distance,
        "ks_target": 0.1,
        "unallocated_frac": result.unallocated_frac,
        "class_gpu_time_weights": {"1": weights[0], "2-8": weights[1], ">8": weights[2]},
        "mean_util_1gpu_frac": mean_1gpu,
        "data_files_sha256": {UTIL_FILE[1]: util_sha, TRACE_FILE[1]: trace_sha},
        "fitted_on": dt.date.today().isoformat(),
    }
    print(json.dumps(doc, indent=2))
    if args.check:
        shipped = json.loads(args.out.read_text(encoding="utf-8"))
        diff = abs(shipped["ks_distance"] - result.ks_distance)
        print(f"shipped KS {shipped['ks_distance']:.4f}, refit {result.ks_distance:.4f}")
        return 0 if diff < 0.01 else 1
    args.out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
