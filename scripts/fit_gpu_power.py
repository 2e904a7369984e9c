"""Fit the GPU power-cap law (γ, s and the capped-power ratio) to the Zeus power-limit traces.

Data: ``zeus-power-traces/summary_power_{v100,a40,p100,rtx6000}.csv`` from ml-energy/zeus
(You, Chung, Chowdhury, NSDI'23; Apache-2.0), found through ``kiban.shared_data.data_path``.
Each row is one (dataset, network, batch_size, optimizer, power_limit) with the epoch time and
the average board power.

Method (physics.md §2.3, model in ``kiban.physics.gpu_power``):

1. Normalise each configuration (dataset, network, batch_size, optimizer) on each GPU type to
   its highest-power-limit point: P_demand = average power there, t_1 = epoch time there.
   speed = t_1 / t, y = power_limit / P_demand.
2. Fit γ and s by least squares (scipy.optimize.least_squares) of
   speed(y) = 1 if y ≥ 1 else ((y − s)/(1 − s))^(1/γ)   (clipped at the minimum clock),
   which is the library's clock under a cap with compute-bound fraction β = 1.
3. Fit k of the average power P_avg = min(P_demand, k·power_limit), residuals relative to
   P_demand.

Every row of all four files is used. The result is written to
``src/kiban/data/fitted/gpu_power_fit.json`` (γ, s, k, RMSE per GPU type, row counts, SHA-256
of each data file, date). Run:  ``.venv/bin/python scripts/fit_gpu_power.py``
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
import polars as pl
from scipy.optimize import least_squares

from kiban.physics.gpu_power import DEFAULT_MIN_CLOCK_FRAC, clock_frac_for_power_ratio
from kiban.shared_data import data_path

GPU_TYPES = ("v100", "a40", "p100", "rtx6000")
CONFIG_KEYS = ["dataset", "network", "batch_size", "optimizer"]
REPO_ROOT = Path(__file__).resolve().parents[1]
OUT_DEFAULT = REPO_ROOT / "src" / "kiban" / "data" / "fitted" / "gpu_power_fit.json"


def load_zeus() -> tuple[pl.DataFrame, dict[str, str]]:
    """All Zeus rows with gpu, speed_frac, power_ratio_frac, demand_power_w columns added."""
    frames = []
    hashes: dict[str, str] = {}
    for gpu in GPU_TYPES:
        path = data_path("zeus-power-traces", f"summary_power_{gpu}.csv")
        hashes[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        df = pl.read_csv(path).with_columns(pl.lit(gpu).alias("gpu"))
        df = df.with_columns(pl.col("power_limit").max().over(CONFIG_KEYS).alias("max_limit_w"))
        ref = (
            df.filter(pl.col("power_limit") == pl.col("max_limit_w"))
            .group_by(CONFIG_KEYS)
            .agg(
                pl.col("time_per_epoch").mean().alias("ref_time_s"),
                pl.col("average_power").mean().alias("demand_power_w"),
            )
        )
        frames.append(df.join(ref, on=CONFIG_KEYS, how="left"))
    rows = pl.concat(frames).with_columns(
        (pl.col("ref_time_s") / pl.col("time_per_epoch")).alias("speed_frac"),
        (pl.col("power_limit") / pl.col("demand_power_w")).alias("power_ratio_frac"),
    )
    return rows, hashes


def predict_speed(y: np.ndarray, gamma: float, static: float) -> np.ndarray:
    """The library's law at β = 1: speed = clock fraction under the cap."""
    return clock_frac_for_power_ratio(y, static, gamma, min_clock_frac=DEFAULT_MIN_CLOCK_FRAC)


def rmse(x: np.ndarray) -> float:
    """Root-mean-square of x."""
    return float(np.sqrt(np.mean(np.square(x))))


def fit(rows: pl.DataFrame) -> dict:
    """Fit γ, s (speed law) and k (capped power ratio); return them with per-GPU RMSE."""
    y = rows["power_ratio_frac"].to_numpy()
    speed = rows["speed_frac"].to_numpy()
    cap = rows["power_limit"].to_numpy().astype(np.float64)
    demand = rows["demand_power_w"].to_numpy()
    measured = rows["average_power"].to_numpy()
    gpu = rows["gpu"].to_numpy()

    res_speed = least_squares(
        lambda p: predict_speed(y, p[0], p[1]) - speed,
        x0=[2.9, 0.36],
        bounds=([1.0, 0.0], [6.0, 0.9]),
    )
    gamma, static = (float(v) for v in res_speed.x)
    res_power = least_squares(
        lambda p: (np.minimum(demand, p[0] * cap) - measured) / demand,
        x0=[0.95],
        bounds=([0.5], [1.2]),
    )
    k = float(res_power.x[0])
    speed_err = predict_speed(y, gamma, static) - speed
    power_err = (np.minimum(demand, k * cap) - measured) / demand

    speed_rmse = {"all": rmse(speed_err)}
    power_rmse = {"all": rmse(power_err)}
    n_rows = {"all": len(rows)}
    for g in GPU_TYPES:
        m = gpu == g
        speed_rmse[g] = rmse(speed_err[m])
        power_rmse[g] = rmse(power_err[m])
        n_rows[g] = int(m.sum())
    return {
        "power_exponent": gamma,
        "static_power_frac": static,
        "capped_power_frac": k,
        "speed_rmse_frac": speed_rmse,
        "power_rmse_frac": power_rmse,
        "n_rows": n_rows,
    }


def main() -> None:
    """Fit and write the json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DEFAULT, help="json file to write")
    args = parser.parse_args()

    rows, hashes = load_zeus()
    result = fit(rows)
    doc = {
        "model": (
            "speed = 1 if y >= 1 else ((y - s)/(1 - s))^(1/gamma), y = cap/P_demand "
            "(= clock fraction under the cap with beta = 1; kiban.physics.gpu_power); "
            "P_avg = min(P_demand, k*cap)"
        ),
        **result,
        "min_clock_frac": DEFAULT_MIN_CLOCK_FRAC,
        "normalisation": (
            "each (dataset, network, batch_size, optimizer) to its highest power limit"
        ),
        "data_files_sha256": hashes,
        "source": (
            "ml-energy/zeus examples/research_reproducibility/zeus_nsdi23/trace/"
            "summary_power_{v100,a40,p100,rtx6000}.csv (You, Chung, Chowdhury, NSDI'23)"
        ),
        "script": "scripts/fit_gpu_power.py",
        "fitted_on": dt.date.today().isoformat(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n", encoding="utf-8")

    print(
        f"gamma = {result['power_exponent']:.4f}  s = {result['static_power_frac']:.4f}  "
        f"k = {result['capped_power_frac']:.4f}"
    )
    print(f"{'gpu':8} {'rows':>5} {'speed RMSE':>11} {'power RMSE/P_unc':>17}")
    sr, pr, n = doc["speed_rmse_frac"], doc["power_rmse_frac"], doc["n_rows"]
    for g in (*GPU_TYPES, "all"):
        print(f"{g:8} {n[g]:5d} {sr[g]:11.4f} {pr[g]:17.4f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
