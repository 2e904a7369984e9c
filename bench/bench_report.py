"""Time the HTML report: building its context, then drawing its charts and the page.

Run: .venv/bin/python bench/bench_report.py RESULT_DIR [--repeat 3] [--lang en]
         [--baseline OTHER_CHECKOUT] [--json OUT.json]

RESULT_DIR holds one folder per policy, e.g. the output of `kiban demo --out RESULT_DIR`. Each
measurement runs in a fresh process (imports, font loading and caches start cold, as in
`kiban report`); the timed part is the report itself, after the imports. With --baseline, every
repeat runs this checkout and the other one (its src/ first on PYTHONPATH) back to back, in
alternating order, so both see the same machine load; the ratio of the medians is printed.
Prints one JSON object; --json also writes it to a file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_ONE = """
import json, sys, time
from pathlib import Path
t0 = time.perf_counter()
from kiban.report import build_context, render_html
t1 = time.perf_counter()
dirs = sorted(p for p in Path(sys.argv[1]).iterdir() if p.is_dir())
ctx = build_context(dirs, sys.argv[2])
t2 = time.perf_counter()
html = render_html(ctx)
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "context_s": t2 - t1, "render_s": t3 - t2,
                  "charts": len(ctx.charts()), "html_bytes": len(html.encode())}))
"""


def measure(src: Path, results: Path, lang: str) -> dict:
    """One cold report build in a fresh process with ``src`` first on the import path."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run(
        [sys.executable, "-c", _ONE, str(results), lang],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lang", default="en")
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    trees = {"new": ROOT / "src"}
    if args.baseline is not None:
        trees["old"] = args.baseline.resolve() / "src"
    runs: dict[str, list[dict]] = {k: [] for k in trees}
    load = [os.getloadavg()[0]]
    for i in range(args.repeat):
        order = list(trees) if i % 2 == 0 else list(reversed(trees))
        for name in order:
            runs[name].append(measure(trees[name], args.results, args.lang))
        load.append(os.getloadavg()[0])
    result: dict = {
        "command": "bench/bench_report.py " + " ".join(sys.argv[1:]),
        "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu": platform.processor() or platform.machine(),
        "n_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_avg_1min": [round(v, 2) for v in load],
    }
    for name, rs in runs.items():
        result[name] = {
            "render_s": [round(r["render_s"], 3) for r in rs],
            "context_s": [round(r["context_s"], 3) for r in rs],
            "import_s": [round(r["import_s"], 3) for r in rs],
            "charts": rs[0]["charts"],
            "html_bytes": rs[0]["html_bytes"],
        }
    if "old" in runs:
        med = {k: statistics.median(r["render_s"] for r in runs[k]) for k in runs}
        result["render_ratio_old_over_new"] = round(med["old"] / med["new"], 2)
    text = json.dumps(result, indent=2)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
