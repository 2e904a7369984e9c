"""Write the synthetic job CSV of ``examples/mig-a100.toml`` (MIG inference beside training).

The trace is made up, not measured: 200 jobs over 8 hours on a cluster of 16 A100 80GB GPUs
(two DGX A100). 85 % are small jobs on a MIG instance (the inference and fine-tuning pattern
NVIDIA's MIG User Guide describes): profile 1g.10gb 35 %, 1g.20gb 10 %, 2g.20gb 20 %, 3g.40gb
15 %, 4g.40gb 10 %, 7g.80gb 10 %; run time log-normal, median 20 min (σ 0.8). 15 % are whole-GPU
training jobs of 1, 2, 4 or 8 GPUs (40/30/20/10 %), median 60 min (σ 0.8). Arrivals are a
Poisson process (mean gap 8 h / 200). The GPU-time offered is about 90 % of the cluster's, so
queues form and packing matters. Seeded (numpy default_rng(15)): the same file every time.

    python scripts/make_mig_trace.py examples/traces/mig-a100.csv
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

N_JOBS = 200
SPAN_S = 8 * 3600.0
PROFILES = ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb")
PROFILE_P = (0.35, 0.10, 0.20, 0.15, 0.10, 0.10)
SIZES = (1, 2, 4, 8)
SIZE_P = (0.4, 0.3, 0.2, 0.1)
MIG_SHARE = 0.85


def main(out: Path) -> None:
    """Write the trace to ``out``."""
    rng = np.random.default_rng(15)
    gaps_s = rng.exponential(SPAN_S / N_JOBS, N_JOBS)
    submit_s = np.cumsum(gaps_s) - gaps_s[0]
    is_mig = rng.random(N_JOBS) < MIG_SHARE
    profile = rng.choice(PROFILES, N_JOBS, p=PROFILE_P)
    size = rng.choice(SIZES, N_JOBS, p=SIZE_P)
    median_s = np.where(is_mig, 20 * 60.0, 60 * 60.0)
    duration_s = median_s * rng.lognormal(0.0, 0.8, N_JOBS)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["job_id", "submit_time_s", "duration_s", "num_gpus", "mig_profile", "queue"])
        for i in range(N_JOBS):
            mig = bool(is_mig[i])
            w.writerow(
                [
                    f"job-{i:03d}",
                    f"{submit_s[i]:.1f}",
                    f"{duration_s[i]:.1f}",
                    1 if mig else int(size[i]),
                    str(profile[i]) if mig else "",
                    "inference" if mig else "training",
                ]
            )


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "examples/traces/mig-a100.csv"))
