"""Issue 15's command as a user runs it: ``kiban simulate examples/openb.toml``, every placement.

Runs, in a fresh process each time::

    kiban simulate examples/openb.toml --policy fifo-static,best-fit,random-fit,fgd --json

(the openb trace with its real durations on its own 1,213 nodes, the coupled facility stepping
hourly, ``[simulation] facility_step_s = 3600``) and reports, per run:

* the whole command: wall time and CPU time (user + sys of the child process, which includes
  Python's start, the imports, reading the trace and nodes, the four runs and writing the
  results);
* per policy, the summary's ``jobs_per_s``: GPU pods that arrived divided by ``wall_time_s``,
  the wall clock of ``Simulator.run`` alone (``kiban.sim.simulator``: from the policy's reset to
  the end of the event loop; imports, reading the trace, building the nodes and the facility,
  and writing the results are outside it). On a loaded machine that wall clock counts other
  processes' time too; ``bench/bench_openb.py --cluster openb-toml --facility coupled`` gives the
  same run's CPU time per policy (``jobs_per_cpu_s``).

With ``--baseline OTHER_CHECKOUT`` the command runs with that checkout's code (its ``src`` first
on ``PYTHONPATH``) and with this one's, alternating which goes first, ``--repeat`` times each;
the ratios new/old of the best and median figures are printed, and every run's result folders
are compared with the first baseline run's (``scripts/golden_digests.py``'s digests: parquet
by content, other files by bytes, ``summary.json`` without its wall-clock keys), so a speed-up
that moved any number is reported as such.

Usage::

    .venv/bin/python bench/bench_openb_simulate.py
    .venv/bin/python bench/bench_openb_simulate.py --baseline ../wt-old --repeat 3 \
        --json bench/results/openb_simulate.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "examples" / "openb.toml"
POLICIES = "fifo-static,best-fit,random-fit,fgd"
REQUIRED_JOBS_PER_S = 2_700.0


def _golden() -> Any:
    spec = importlib.util.spec_from_file_location("golden", REPO / "scripts" / "golden_digests.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["golden"] = module
    spec.loader.exec_module(module)
    return module


def digests(out: Path) -> dict[str, dict[str, str]]:
    """Per policy folder: every file's digest, ``summary.json`` without wall-clock keys."""
    golden = _golden()
    found = {}
    for folder in sorted(p for p in out.iterdir() if p.is_dir()):
        d = golden.folder_digests(folder)
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        d["summary.json"] = golden.summary_digest(summary)
        found[folder.name] = d
    return found


def run_once(tree: Path, policies: str, out: Path) -> dict[str, Any]:
    """One ``kiban simulate`` in a fresh process with the code of ``tree``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("KIBAN_DATA", str(REPO.parent / "shared" / "data"))
    cmd = [
        sys.executable,
        "-c",
        "import sys; from kiban.cli import main; sys.argv[0] = 'kiban'; main()",
        "simulate",
        str(SCENARIO),
        "--policy",
        policies,
        "--out",
        str(out),
        "--json",
    ]
    log = out.with_suffix(".log")
    with log.open("wb") as sink, out.with_suffix(".err").open("wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=sink, stderr=err, env=env, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        wall_s = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here (wait4: its rusage)
    if proc.returncode != 0:
        msg = f"kiban simulate failed:\n{out.with_suffix('.err').read_text()[-3000:]}"
        raise SystemExit(msg)
    result = json.loads(log.read_text(encoding="utf-8"))
    per = {
        name: {"jobs_per_s": s["jobs_per_s"], "wall_time_s": s["wall_time_s"]}
        for name, s in result["policies"].items()
    }
    return {
        "tree": str(tree),
        "command_wall_s": wall_s,
        "command_cpu_s": usage.ru_utime + usage.ru_stime,
        "policies": per,
        "load_avg": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--policies", default=POLICIES, help="comma-separated (--policy)")
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout")
    parser.add_argument("--repeat", type=int, default=2, help="runs per tree")
    parser.add_argument("--json", type=Path, default=None, help="also write the runs here")
    args = parser.parse_args()
    trees = [REPO] if args.baseline is None else [args.baseline.resolve(), REPO]
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores", flush=True)
    runs: list[dict[str, Any]] = []
    reference: dict[str, dict[str, str]] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(max(1, args.repeat)):
            for tree in trees if k % 2 == 0 else trees[::-1]:
                out = Path(tmp) / f"run{len(runs)}"
                row = run_once(tree, args.policies, out)
                found = digests(out)
                if reference is None:
                    reference = found
                row["outputs_identical_to_first"] = found == reference
                runs.append(row)
                side = "old" if tree != REPO else "new"
                cells = ", ".join(
                    f"{p} {v['jobs_per_s']:,.0f}" for p, v in sorted(row["policies"].items())
                )
                print(
                    f"  {side}: command {row['command_wall_s']:.1f} s wall, "
                    f"{row['command_cpu_s']:.1f} s CPU; jobs/s {cells}; outputs "
                    f"{'identical' if row['outputs_identical_to_first'] else 'DIFFER'}; "
                    f"load {row['load_avg'][0]:.2f}",
                    flush=True,
                )
    if args.baseline is not None:
        old = [r for r in runs if r["tree"] != str(REPO)]
        new = [r for r in runs if r["tree"] == str(REPO)]
        for key in ("command_cpu_s", "command_wall_s"):
            o, n = [r[key] for r in old], [r[key] for r in new]
            print(
                f"  {key}: best old {min(o):.2f} new {min(n):.2f} (ratio old/new "
                f"{min(o) / min(n):.2f}; medians {statistics.median(o) / statistics.median(n):.2f})"
            )
        for p in args.policies.split(","):
            o = [r["policies"][p]["jobs_per_s"] for r in old]
            n = [r["policies"][p]["jobs_per_s"] for r in new]
            print(
                f"  {p:11s} jobs/s best old {max(o):,.0f} new {max(n):,.0f} (ratio "
                f"{max(n) / max(o):.2f}; medians {statistics.median(n) / statistics.median(o):.2f})"
            )
    else:
        for p in args.policies.split(","):
            best = max(r["policies"][p]["jobs_per_s"] for r in runs)
            ok = "meets" if best >= REQUIRED_JOBS_PER_S else "BELOW"
            print(f"  {p:11s} best {best:,.0f} jobs/s ({ok} {REQUIRED_JOBS_PER_S:,.0f})")
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
