"""Per-configuration table of the facility-model check (docs/cooptimizer.md, points 5 and 6).

    .venv/bin/python scripts/coopt_facility_table.py SWEEP_DIR [SWEEP_DIR ...]

Reads each sweep folder's ``runs.parquet`` (``kiban sweep``) and prints, per configuration
(the layer switches O T P D C of ``coopt-layers``, or the policy name), the mean and the 95 %
Student t interval over the seeds of: the run's hottest inlet, facility energy, PUE, useful GPU-h
per facility MWh, useful GPU-h, thermal-throttle and power-cap GPU-h, thermal shutdowns and
preemptions.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import polars as pl
from scipy import stats

COLUMNS = (
    ("max_inlet_temp_c", "hottest inlet °C", "{:.1f}"),
    ("facility_mwh", "facility MWh", "{:.3f}"),
    ("pue", "PUE", "{:.3f}"),
    ("useful_gpu_h", "useful GPU-h", "{:.0f}"),
    ("useful_per_mwh", "useful GPU-h / MWh", "{:.1f}"),
    ("throttle_gpu_h", "thermal-throttle GPU-h", "{:.1f}"),
    ("cap_gpu_h", "power-cap GPU-h", "{:.1f}"),
    ("thermal_shutdowns", "thermal shutdowns", "{:.1f}"),
    ("preemptions", "preemptions", "{:.1f}"),
)
LAYERS = ("order", "thermal", "power", "data", "cooling")


def _config(row: dict) -> str:
    if row.get("params.order") is None:
        return str(row["policy"])
    return "".join(k[0].upper() if row.get(f"params.{k}") else "-" for k in LAYERS)


def _ci(x: np.ndarray) -> tuple[float, float]:
    if x.shape[0] < 2:
        return float(x.mean()), math.nan
    half = stats.t.ppf(0.975, x.shape[0] - 1) * x.std(ddof=1) / math.sqrt(x.shape[0])
    return float(x.mean()), float(half)


def main(dirs: list[str]) -> None:
    """Print one markdown table for the given sweep folders."""
    rows: dict[str, list[dict[str, float]]] = {}
    for d in dirs:
        table = pl.read_parquet(Path(d) / "runs.parquet").filter(pl.col("status") == "ok")
        for r in table.iter_rows(named=True):
            mwh = float(r["facility_energy_kwh"]) / 1000.0
            rows.setdefault(_config(r), []).append(
                {
                    "max_inlet_temp_c": float(r["max_inlet_temp_c"]),
                    "facility_mwh": mwh,
                    "pue": float(r["pue"]),
                    "useful_gpu_h": float(r["gpu_hours_productive"]),
                    "useful_per_mwh": float(r["gpu_hours_productive"]) / mwh,
                    "throttle_gpu_h": float(r["ledger_thermal_throttle_gpu_hours"]),
                    "cap_gpu_h": float(r["ledger_power_cap_gpu_hours"]),
                    "thermal_shutdowns": float(r.get("thermal_shutdowns") or 0.0),
                    "preemptions": float(r.get("preemptions") or 0.0),
                }
            )
    print("| configuration | seeds | " + " | ".join(c[1] for c in COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    for name, recs in rows.items():
        cells = []
        for key, _, fmt in COLUMNS:
            mean, half = _ci(np.array([r[key] for r in recs]))
            cells.append(f"{fmt.format(mean)} ± {fmt.format(half)}")
        print(f"| {name} | {len(recs)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
