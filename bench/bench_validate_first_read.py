"""The first `kiban validate` of an example with a trace: where the time goes (issue 16).

`validate` checks the trace in a forked process while it loads the scenario
(`kiban.cli.validate.TraceCheckAhead`). On a quiet two-core machine its wall time is the longer
of the two paths: the main process (start-up, scenario, policies) and the start-up up to the
fork plus the forked check (polars, reading and checking every row). On a shared, loaded
machine the two processes compete for the same cores and the wall time shows little of that, so
this script reports, besides wall times, the CPU seconds of each path, which load changes far
less:

* ``fork``: CPU of the main process when it forks (Python, typer, rich, kiban.cli);
* ``main``: CPU of the main process in all; ``check``: CPU of the forked check;
* ``critical path``: max(main, fork + check), the wall time on two idle cores.

It also times, interleaved round by round with an empty kiban cache folder each time: another
source tree (``--compare``, e.g. `main` before the change), this tree with the check in one
process (a thread is started first, which turns the fork off), and this tree as shipped.

Run: .venv/bin/python bench/bench_validate_first_read.py [--repeat 6] [--compare OLD/src]
     [EXAMPLE.toml]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("KIBAN_DATA") or ROOT.parent / "shared" / "data")
_PLAIN = "import sys; from kiban.cli import main; sys.argv[0] = 'kiban'; main()"
_ONE_PROCESS = (
    "import sys, threading; threading.Thread(target=threading.Event().wait, daemon=True).start()"
    "\nfrom kiban.cli import main; sys.argv[0] = 'kiban'; main()"
)
_PATHS = r"""
import atexit, resource, sys
import kiban.cli.validate as v
at_fork = []
start = v.TraceCheckAhead.start
def timed_start(self):
    r = resource.getrusage(resource.RUSAGE_SELF)
    at_fork.append(r.ru_utime + r.ru_stime)
    return start(self)
v.TraceCheckAhead.start = timed_start
def report():
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    print("PATHS", at_fork[0], s.ru_utime + s.ru_stime, c.ru_utime + c.ru_stime, file=sys.stderr)
atexit.register(report)
from kiban.cli import main
sys.argv[0] = "kiban"
main()
"""


def _run(src: Path, code: str, example: Path) -> tuple[float, float, str]:
    """(wall s, CPU s of the process tree, stderr) of one first-read `kiban validate`."""
    cache = Path(tempfile.mkdtemp(prefix="kiban-bench-cache-"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=str(src), KIBAN_DATA=str(DATA), KIBAN_CACHE_DIR=str(cache))
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", code, "validate", str(example)],
            env=env, cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    if proc.returncode != 0:
        msg = f"validate {example} (src {src}) exited {proc.returncode}:\n{proc.stderr}"
        raise RuntimeError(msg)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("example", nargs="?", type=Path, default=ROOT / "examples/philly.toml")
    parser.add_argument("--repeat", type=int, default=6)
    parser.add_argument("--compare", type=Path, help="another src/ folder (before the change)")
    args = parser.parse_args()
    args.example = args.example.resolve()
    this = ROOT / "src"
    variants = {
        "this tree, check forked": (this, _PLAIN),
        "this tree, one process": (this, _ONE_PROCESS),
    }
    if args.compare is not None:
        variants = {"compare tree": (args.compare.resolve(), _PLAIN), **variants}
    for src, code in variants.values():  # warm-up: byte-compile, fill the OS cache
        _run(src, code, args.example)
    load_start = os.getloadavg()[0]
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    paths: list[tuple[float, float, float]] = []
    for _ in range(args.repeat):
        for name, (src, code) in variants.items():
            wall, cpu, _ = _run(src, code, args.example)
            times[name].append((wall, cpu))
        _, _, err = _run(this, _PATHS, args.example)
        line = next(x for x in err.splitlines() if x.startswith("PATHS "))
        fork_s, main_s, check_s = (float(x) for x in line.split()[1:])
        paths.append((fork_s, main_s, check_s))
    print(f"`kiban validate {args.example.relative_to(ROOT)}`, first read (empty cache)")
    print("| variant | best wall s | median wall s | median CPU s (process tree) |")
    print("|---|---|---|---|")
    for name, rows in times.items():
        walls, cpus = [r[0] for r in rows], [r[1] for r in rows]
        print(
            f"| {name} | {min(walls):.2f} | {statistics.median(walls):.2f} | "
            f"{statistics.median(cpus):.2f} |"
        )
    med = [statistics.median(p[i] for p in paths) for i in range(3)]
    crit = statistics.median(max(m, f + c) for f, m, c in paths)
    print(
        f"CPU s, medians: at the fork {med[0]:.2f}, main process {med[1]:.2f}, forked check "
        f"{med[2]:.2f}; critical path max(main, fork + check) {crit:.2f}; "
        f"sum {med[1] + med[2]:.2f}"
    )
    print(f"load average {load_start:.1f} → {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
