"""Start-up time of the CLI: `kiban --version`, `kiban --help`, `kiban validate EXAMPLE`.

Targets (issue 16): `--help` and `--version` under 0.3 s, `validate` of an example under 1 s, on a
quiet 2-core machine. The machine this runs on is shared, so the script times *CPU* seconds of the
child process (user + system, which other processes' load barely changes) as well as wall time,
and, with `--compare SRC`, interleaves runs of another source tree (e.g. the old `main`) with this
one and reports the ratios.

Run: .venv/bin/python bench/bench_startup.py [--repeat 7] [--compare /work/main/src]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = Path("examples") / "tokyo-air-dgx-h100.toml"
"""Relative to each tree's checkout (``SRC/..``): each tree validates its own example."""
COMMANDS: dict[str, list[str]] = {
    "--version": ["--version"],
    "--help": ["--help"],
    "validate": ["validate", str(EXAMPLE)],
}
TARGET_S = {"--version": 0.3, "--help": 0.3, "validate": 1.0}


def _run_once(src: Path, args: list[str]) -> tuple[float, float]:
    """(wall s, cpu s) of one `kiban ARGS` run with `src` first on the import path."""
    env = dict(os.environ, PYTHONPATH=str(src), COLUMNS="100")
    code = "import sys; from kiban.cli import main; sys.argv[0] = 'kiban'; main()"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        cwd=src.parent,
        check=True,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--compare", type=Path, help="another src/ folder to time alongside")
    args = parser.parse_args()
    trees = {"this": ROOT / "src"}
    if args.compare is not None:
        trees["compare"] = args.compare.resolve()
    samples: dict[str, dict[str, dict[str, list[float]]]] = {
        tree: {cmd: {"wall_s": [], "cpu_s": []} for cmd in COMMANDS} for tree in trees
    }
    for _ in range(args.repeat):  # interleaved: every tree and command once per round
        for cmd, cmd_args in COMMANDS.items():
            for tree, src in trees.items():
                wall, cpu = _run_once(src, cmd_args)
                samples[tree][cmd]["wall_s"].append(wall)
                samples[tree][cmd]["cpu_s"].append(cpu)
    result: dict[str, object] = {
        "command": " ".join(sys.argv),
        "cpu": platform.processor() or platform.machine(),
        "n_cpus": os.cpu_count(),
        "load_avg_1m": os.getloadavg()[0],
        "python": platform.python_version(),
        "targets_s": TARGET_S,
    }
    for tree in trees:
        result[tree] = {
            cmd: {
                "median_wall_s": statistics.median(s["wall_s"]),
                "median_cpu_s": statistics.median(s["cpu_s"]),
                "min_wall_s": min(s["wall_s"]),
            }
            for cmd, s in samples[tree].items()
        }
    if "compare" in trees:
        result["cpu_ratio_compare_over_this"] = {
            cmd: statistics.median(samples["compare"][cmd]["cpu_s"])
            / statistics.median(samples["this"][cmd]["cpu_s"])
            for cmd in COMMANDS
        }
    this = samples["this"]
    result["meets_target_cpu"] = {
        cmd: statistics.median(this[cmd]["cpu_s"]) < TARGET_S[cmd] for cmd in COMMANDS
    }
    out = ROOT / "bench" / "results" / "startup.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
