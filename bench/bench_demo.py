"""Time `kiban demo` end to end (target: under 60 s, DESIGN.md) and record the result.

Run: .venv/bin/python bench/bench_demo.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    kiban = Path(sys.executable).with_name("kiban")
    times_s = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            subprocess.run(
                [str(kiban), "demo", "--out", tmp], check=True, capture_output=True, text=True
            )
            times_s.append(time.perf_counter() - t0)
    peak_rss_b = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    result = {
        "command": "kiban demo",
        "wall_s": times_s,
        "best_wall_s": min(times_s),
        "peak_rss_b": peak_rss_b,
        "cpu": platform.processor() or platform.machine(),
        "n_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "target_s": 60.0,
        "meets_target": max(times_s) < 60.0,
    }
    out = ROOT / "bench" / "results" / "demo.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
