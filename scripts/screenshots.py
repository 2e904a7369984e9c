"""Regenerate the README's report screenshots, docs/img/report-en.png and docs/img/report-ja.png.

Steps, all with the installed `kiban` next to this interpreter:

1. `kiban demo --out DIR` (the README's demo: 5 baseline policies on the built-in 512-GPU hall,
   a few minutes on 2 cores), unless `--results DIR` names a finished demo folder to reuse;
2. `kiban report DIR --lang en` and `--lang ja` into a scratch folder;
3. open each report in headless Debian chromium with the network blocked (the same helper as the
   browser tests, tests/report/report_browser.py) and save a full-page screenshot, 1400 px wide;
4. store it as a 256-colour palette PNG (Pillow's median-cut quantizer, no dithering): about a
   third of the size (1.37 MB → 0.49 MB), with no visible change (PSNR 46 dB on report-en; the
   pages are text, flat fills and thin lines, some 22,000 distinct anti-aliasing shades).

The script refuses to write a screenshot of a page that logged console errors, tried the network
or drew an empty chart. PNGs are written to a temporary name and moved into place, so a failed
run leaves the old images.

Run:
    .venv/bin/python scripts/screenshots.py                      # runs the demo (minutes)
    .venv/bin/python scripts/screenshots.py --results kiban-demo  # reuses a demo's results
    .venv/bin/python scripts/screenshots.py --shrink-only         # re-encode docs/img only
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


PALETTE_COLORS = 256


def shrink_png(source: Path, target: Path) -> None:
    """Write ``source`` to ``target`` as a palette PNG (at most 256 colours), zlib-optimized."""
    from PIL import Image  # noqa: PLC0415 (Pillow comes with matplotlib)

    with Image.open(source) as image:
        rgb = image.convert("RGB")
    palette = rgb.quantize(colors=PALETTE_COLORS, method=Image.Quantize.MEDIANCUT)
    palette.save(target, format="PNG", optimize=True)


def _install(shot: Path, target: Path) -> None:
    """Shrink ``shot`` into ``target`` through a temporary name (a failure leaves the old one)."""
    part = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        shrink_png(shot, part)
        part.replace(target)
    finally:
        part.unlink(missing_ok=True)
    print(f"{target.relative_to(ROOT)}: {target.stat().st_size:,} bytes")


def main() -> int:
    """Demo (or reuse), both reports, both screenshots; 1 if a page had a problem."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, help="a finished `kiban demo` folder to reuse")
    parser.add_argument(
        "--shrink-only", action="store_true", help="only re-encode the images in docs/img"
    )
    args = parser.parse_args()
    if args.shrink_only:
        for target in IMAGES.values():
            _install(target, target)
        return 0
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
            _install(shot, IMAGES[lang])
    return 0


if __name__ == "__main__":
    sys.exit(main())
