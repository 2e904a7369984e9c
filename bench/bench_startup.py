"""Start-up time of the CLI: `kiban --version`, `kiban --help`, `kiban validate EXAMPLE`.

Targets (issue 16): `--help` and `--version` under 0.3 s, `validate` of an example under 1 s, on a
quiet 2-core machine. Every command runs as a fresh process. The machine this runs on is shared,
so the script records the child's wall time (best and median of `--repeat` runs: the best is the
least disturbed run) and its CPU seconds (user + system, which other processes' load changes far
less). With `--compare SRC` it interleaves runs of another source tree (e.g. the `main` branch
before a change) with this one, command by command in every round, and reports the ratios.

`validate` runs on every example in `examples/` (this tree's files, for both trees, with
`KIBAN_DATA` pointing at the shared data, so both read the same traces). An example with a
workload trace is timed twice: `validate (first run)` with an empty kiban cache folder (the trace
is read), and `validate` with the cache left from the previous run (a trace that read cleanly and
has not changed is not read again, `kiban.cli._trace_memo`). A tree without that cache reads the
trace every time. Children run with byte-code caching on (PYTHONDONTWRITEBYTECODE removed), as
an installed kiban runs; the untimed warm-up round writes the `.pyc` files. The CPU seconds are
those of the whole process tree: they include the process `validate` forks to read a trace while
the scenario loads (`kiban.cli.validate.TraceCheckAhead`), so on two idle cores the wall time of
a first read can be well below its CPU time.

Run: .venv/bin/python bench/bench_startup.py [--repeat 7] [--compare /path/to/old/src]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))
DATA = Path(os.environ.get("KIBAN_DATA") or ROOT.parent / "shared" / "data")
TARGET_S = {"--version": 0.3, "--help": 0.3, "validate": 1.0}
FIRST = " (first run)"


def _has_trace(example: Path) -> bool:
    with example.open("rb") as handle:
        return "trace" in tomllib.load(handle).get("workload", {})


def _commands() -> dict[str, list[str]]:
    commands: dict[str, list[str]] = {"--version": ["--version"], "--help": ["--help"]}
    for example in EXAMPLES:
        name = f"validate {example.relative_to(ROOT)}"
        if _has_trace(example):
            commands[name + FIRST] = ["validate", str(example)]
        commands[name] = ["validate", str(example)]
    return commands


def _target(cmd: str) -> float:
    return TARGET_S[cmd.split(maxsplit=1)[0]]


def _run_once(src: Path, args: list[str], cache: Path) -> tuple[float, float]:
    """(wall s, cpu s) of one `kiban ARGS` run with `src` first on the import path."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(
        PYTHONPATH=str(src),
        COLUMNS="100",
        KIBAN_DATA=str(DATA),
        KIBAN_CACHE_DIR=str(cache),
    )
    code = "import sys; from kiban.cli import main; sys.argv[0] = 'kiban'; main()"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        msg = f"kiban {' '.join(args)} (src {src}) exited {proc.returncode}:\n{proc.stderr}"
        raise RuntimeError(msg)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _which_src(src: Path) -> Path:
    """The kiban package a child with `src` on PYTHONPATH really imports (guards the setup)."""
    out = subprocess.run(
        [sys.executable, "-c", "import kiban; print(kiban.__file__)"],
        env=dict(os.environ, PYTHONPATH=str(src)),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return Path(out).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--compare", type=Path, help="another src/ folder to time alongside")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "startup.json")
    args = parser.parse_args()
    trees = {"this": ROOT / "src"}
    if args.compare is not None:
        trees["compare"] = args.compare.resolve()
    for tree, src in trees.items():
        if _which_src(src) != src.resolve():
            msg = f"{tree}: a child with PYTHONPATH={src} imports kiban from {_which_src(src)}"
            raise SystemExit(msg)
    commands = _commands()
    samples: dict[str, dict[str, dict[str, list[float]]]] = {
        tree: {cmd: {"wall_s": [], "cpu_s": []} for cmd in commands} for tree in trees
    }
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="kiban-bench-cache-") as tmp:
        caches = {tree: Path(tmp) / tree for tree in trees}
        for tree, src in trees.items():  # warm-up, not timed: byte-compile, fill the OS cache
            for cmd_args in commands.values():
                _run_once(src, cmd_args, caches[tree])
        for _ in range(args.repeat):  # interleaved: every command and tree once per round
            for cmd, cmd_args in commands.items():
                for tree, src in trees.items():
                    if cmd.endswith(FIRST):
                        shutil.rmtree(caches[tree], ignore_errors=True)
                    wall, cpu = _run_once(src, cmd_args, caches[tree])
                    samples[tree][cmd]["wall_s"].append(wall)
                    samples[tree][cmd]["cpu_s"].append(cpu)
    result: dict[str, object] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "cpu": platform.processor() or platform.machine(),
        "n_cpus": os.cpu_count(),
        "load_avg_1m_start": load_start,
        "load_avg_1m_end": os.getloadavg()[0],
        "python": platform.python_version(),
        "repeat": args.repeat,
        "trees": {tree: str(src) for tree, src in trees.items()},
        "targets_s": TARGET_S,
    }
    for tree in trees:
        result[tree] = {
            cmd: {
                "best_wall_s": min(s["wall_s"]),
                "median_wall_s": statistics.median(s["wall_s"]),
                "median_cpu_s": statistics.median(s["cpu_s"]),
            }
            for cmd, s in samples[tree].items()
        }
    if "compare" in trees:
        result["ratio_compare_over_this"] = {
            cmd: {
                "best_wall": min(samples["compare"][cmd]["wall_s"])
                / min(samples["this"][cmd]["wall_s"]),
                "median_cpu": statistics.median(samples["compare"][cmd]["cpu_s"])
                / statistics.median(samples["this"][cmd]["cpu_s"]),
            }
            for cmd in commands
        }
    this = samples["this"]
    result["meets_target_best_wall"] = {
        cmd: min(this[cmd]["wall_s"]) < _target(cmd) for cmd in commands
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    _print_table(result, list(commands), "compare" in trees)
    return 0


def _print_table(result: dict[str, object], commands: list[str], compare: bool) -> None:
    this = result["this"]
    assert isinstance(this, dict)
    head = "| command | target s | best wall s | median wall s | median CPU s |"
    if compare:
        head += " before: best wall / CPU s | ratio best wall | ratio CPU |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for cmd in commands:
        row = this[cmd]
        line = (
            f"| `kiban {cmd}` | {_target(cmd)} | {row['best_wall_s']:.2f} | "
            f"{row['median_wall_s']:.2f} | {row['median_cpu_s']:.2f} |"
        )
        if compare:
            old = result["compare"][cmd]  # type: ignore[index]
            ratio = result["ratio_compare_over_this"][cmd]  # type: ignore[index]
            line += (
                f" {old['best_wall_s']:.2f} / {old['median_cpu_s']:.2f} | "
                f"{ratio['best_wall']:.2f}× | {ratio['median_cpu']:.2f}× |"
            )
        print(line)
    print(
        f"load average {result['load_avg_1m_start']:.1f} → {result['load_avg_1m_end']:.1f}, "
        f"{result['n_cpus']} CPUs, Python {result['python']}"
    )


if __name__ == "__main__":
    sys.exit(main())
