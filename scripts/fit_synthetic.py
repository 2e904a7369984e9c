"""Fit the synthetic job generator to the Microsoft Philly job table.

Data: ``philly/pollux_philly_jobs.csv`` (82,247 jobs, 2017-09-04 .. 2017-12-22; petuum/adaptdl
``simulator/traces/philly.csv``, derived from msr-fiddle/philly-traces, CC BY 4.0), found through
``kiban.shared_data.data_path`` and read with ``kiban.workload.read_trace("philly:...")``.

Method (model in ``kiban.workload.synthetic``): arrival rate = jobs / submission span; weekday
and hour-of-day multipliers = arrivals per weekday / hour divided by the hours of that kind in the
span, normalized to mean 1; size distribution = empirical ``num_gpus`` frequencies; durations =
per size group, quantiles of ln(duration) at ``QUANTILE_LEVELS``.

The script writes ``src/kiban/data/fitted/synthetic_philly.json``: the parameters, the Philly
statistics they should reproduce (``reference``, from ``trace_stats``), the model's own expected
GPU-hours per day, the input file's SHA-256 and the fit date. It then draws a 30-day synthetic
trace at seed 0 and prints it next to Philly. Run:
``.venv/bin/python scripts/fit_synthetic.py``
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import numpy as np

from kiban.shared_data import data_path
from kiban.units import S_PER_DAY, S_PER_H
from kiban.workload import read_trace, trace_stats
from kiban.workload.synthetic import (
    SyntheticParams,
    fit_synthetic_params,
    mean_gpu_seconds_per_job,
    synthetic_jobs,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT_DEFAULT = REPO_ROOT / "src" / "kiban" / "data" / "fitted" / "synthetic_philly.json"
CHECK_DAYS = 30.0


def compact_json(data: object) -> str:
    """JSON with one key per line but lists of numbers on one line (readable diffs)."""
    text = json.dumps(data, indent=1)
    return re.sub(
        r"\[\s*([-+0-9.eE,\s]+?)\s*\]",
        lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]",
        text,
    )


def main() -> None:
    """Fit, write the JSON and print the synthetic-vs-Philly check."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DEFAULT, help="output JSON")
    args = parser.parse_args()

    path = data_path("philly", "pollux_philly_jobs.csv")
    result = read_trace(f"philly:{path}", rng=np.random.default_rng(0))
    if result.origin is None:
        msg = "the Philly reader gave no wall-clock origin"
        raise SystemExit(msg)
    params = fit_synthetic_params(result.jobs, result.origin)
    data = params.to_dict()
    data["model"] = {
        "expected_gpu_hours_per_day": mean_gpu_seconds_per_job(params)
        * params.arrival_rate_per_h
        * 24.0
        / S_PER_H,
        "expected_mean_gpu_seconds_per_job": mean_gpu_seconds_per_job(params),
    }
    data["source"] = {
        "file": "philly/pollux_philly_jobs.csv",
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "rows": result.n_rows,
        "fitted_on": dt.date.today().isoformat(),
        "script": "scripts/fit_synthetic.py",
    }
    args.out.write_text(compact_json(data) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")

    check = SyntheticParams.from_dict(data)
    syn = synthetic_jobs(np.random.default_rng(0), horizon_s=CHECK_DAYS * S_PER_DAY, params=check)
    ref = params.reference
    got = trace_stats(syn)
    print(f"{'statistic':<24}{'Philly':>14}{'synthetic 30 d':>16}{'error':>9}")
    for key in ("arrival_rate_per_h", "gpu_hours_per_day", "duration_p50_s", "duration_p90_s"):
        err = got[key] / ref[key] - 1.0
        print(f"{key:<24}{ref[key]:>14.1f}{got[key]:>16.1f}{err:>+9.1%}")
    for label, share in ref["size_mix"].items():
        print(
            f"size {label:<19}{share:>14.4f}{got['size_mix'][label]:>16.4f}"
            f"{got['size_mix'][label] - share:>+9.4f}"
        )


if __name__ == "__main__":
    main()
