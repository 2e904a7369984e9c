"""Time the HTML report: building its context, then drawing its charts and the page.

Run: .venv/bin/python bench/bench_report.py RESULT_DIR [--repeat 3] [--lang en]
(RESULT_DIR holds one folder per policy, e.g. the output of `kiban demo --out RESULT_DIR`.)
Prints one JSON line: the seconds of each repeat for the context and for the rendering, the
number of charts and the HTML size. To compare two checkouts, run it alternately with each one's
src/ first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from kiban.report import build_context, render_html


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lang", default="en")
    args = parser.parse_args()
    dirs = sorted(p for p in args.results.iterdir() if p.is_dir())
    context_s, render_s = [], []
    html = ""
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        ctx = build_context(dirs, args.lang)
        t1 = time.perf_counter()
        html = render_html(ctx)
        t2 = time.perf_counter()
        context_s.append(round(t1 - t0, 3))
        render_s.append(round(t2 - t1, 3))
    print(json.dumps({"context_s": context_s, "render_s": render_s, "charts": len(ctx.charts()),
                      "html_bytes": len(html.encode())}))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
