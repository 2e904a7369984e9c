"""Write the synthetic job CSV of ``examples/time-slice-l40s.toml`` (time-sliced inference).

The trace is made up, not measured: 240 jobs over 8 hours on 16 L40S GPUs (two 8-GPU L40S
servers). 80 % are small inference and notebook jobs that ask for part of a GPU (``gpu_milli``
250 or 500: in a time-slicing run each takes one replica, whatever the number), run time
log-normal, median 12 min (σ 0.8) alone on a GPU; 20 % are whole-GPU jobs of 1, 2 or 4 GPUs
(50/30/20 %), median 40 min (σ 0.8). Arrivals are a Poisson process (mean gap 8 h / 240). The
GPU time the jobs need alone is about 95 % of the cluster's, so GPUs are shared often and the
slowdown shows. Seeded (numpy default_rng(15)): the same file every time.

    python scripts/make_time_slice_trace.py examples/traces/time-slice-l40s.csv
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

N_JOBS = 240
SPAN_S = 8 * 3600.0
SIZES = (1, 2, 4)
SIZE_P = (0.5, 0.3, 0.2)
SHARE_P = 0.8


def main(out: Path) -> None:
    """Write the trace to ``out``."""
    rng = np.random.default_rng(15)
    gaps_s = rng.exponential(SPAN_S / N_JOBS, N_JOBS)
    submit_s = np.cumsum(gaps_s) - gaps_s[0]
    shared = rng.random(N_JOBS) < SHARE_P
    milli = rng.choice((250, 500), N_JOBS)
    size = rng.choice(SIZES, N_JOBS, p=SIZE_P)
    median_s = np.where(shared, 12 * 60.0, 40 * 60.0)
    duration_s = median_s * rng.lognormal(0.0, 0.8, N_JOBS)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["job_id", "submit_time_s", "duration_s", "num_gpus", "gpu_milli", "queue"])
        for i in range(N_JOBS):
            share = bool(shared[i])
            w.writerow(
                [
                    f"job-{i:03d}",
                    f"{submit_s[i]:.1f}",
                    f"{duration_s[i]:.1f}",
                    1 if share else int(size[i]),
                    int(milli[i]) if share else 1000,
                    "inference" if share else "training",
                ]
            )


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "examples/traces/time-slice-l40s.csv"))
