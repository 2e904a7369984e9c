"""Regenerate the README's report screenshots, docs/img/report-en.png and docs/img/report-ja.png.

Steps, all with the installed `kiban` next to this interpreter:

1. `kiban demo --out DIR` (the README's demo: 5 baseline policies on the built-in 512-GPU hall,
   a few minutes on 2 cores), unless `--results DIR` names a finished demo folder to reuse;
2. `kiban report DIR --lang en` and `--lang ja` into a scratch folder;
3. open each report in headless Debian chromium with the network blocked (the same helper as the
   browser tests, tests/report/report_browser.py) and save a full-page screenshot, 1400 px wide.

The script refuses to write a screenshot of a page that logged console errors, tried the network
or drew an empty chart. PNGs are written to a temporary name and moved into place, so a failed
run leaves the old images.

Run:
    .venv/bin/python scripts/screenshots.py                      # runs the demo (minutes)
    .venv/bin/python scripts/screenshots.py --results kiban-demo  # reuses a demo's results
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.report.report_browser import (  # noqa: E402 (the repository root is added above)
    CHROMIUM,
    CHROMIUM_ARGS,
    open_offline,
    problems,
)

IMAGES = {
    "en": ROOT / "docs" / "img" / "report-en.png",
    "ja": ROOT / "docs" / "img" / "report-ja.png",
}
KIBAN = Path(sys.executable).with_name("kiban")


def _kiban(*args: str) -> None:
    print("$ kiban", " ".join(args), flush=True)
    subprocess.run([str(KIBAN), *args], check=True)


def main() -> int:
    """Demo (or reuse), both reports, both screenshots; 1 if a page had a problem."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, help="a finished `kiban demo` folder to reuse")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 (test extra)

    with tempfile.TemporaryDirectory(prefix="kiban-screenshots-") as tmp_name:
        tmp = Path(tmp_name)
        results = args.results
        if results is None:
            results = tmp / "kiban-demo"
            _kiban("demo", "--out", str(results))
        pages = {}
        for lang in IMAGES:
            html = tmp / f"report-{lang}.html"
            _kiban("report", str(results), "--lang", lang, "--out", str(html))
            pages[lang] = html
        shots = {}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            for lang, html in pages.items():
                shot = tmp / f"report-{lang}.png"
                found = problems(open_offline(browser, html, shot))
                if found:
                    print(f"{html}: {'; '.join(found)}; docs/img left as it was", file=sys.stderr)
                    return 1
                shots[lang] = shot
            browser.close()
        for lang, shot in shots.items():
            target = IMAGES[lang]
            part = target.with_name(f".{target.name}.{os.getpid()}.part")
            part.write_bytes(shot.read_bytes())
            part.replace(target)
            print(f"{target.relative_to(ROOT)}: {target.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
