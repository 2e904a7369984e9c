"""The README's screenshots stay small: palette PNGs written by scripts/screenshots.py (issue 16).

Chromium's full-page screenshots of the reports were 1.4-1.7 MB each (some 22,000 anti-aliasing
shades of a page of text and flat fills); stored as 256-colour palette PNGs they are about a
third of that with no visible change (PSNR 46 dB).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

IMAGES = sorted((Path(__file__).resolve().parents[2] / "docs" / "img").glob("*.png"))
MAX_BYTES = 800_000


@pytest.mark.parametrize("path", IMAGES, ids=[p.name for p in IMAGES])
def test_screenshot_is_a_small_palette_png(path: Path) -> None:
    with Image.open(path) as image:
        assert image.mode == "P", f"{path.name}: {image.mode}; run scripts/screenshots.py"
        assert image.width >= 1400
    assert path.stat().st_size < MAX_BYTES, f"{path.name}: {path.stat().st_size:,} bytes"


def test_there_are_screenshots() -> None:
    assert {p.name for p in IMAGES} >= {"report-en.png", "report-ja.png"}
