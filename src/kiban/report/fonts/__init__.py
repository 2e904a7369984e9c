"""The Japanese web font embedded in reports, so they render on machines without CJK fonts.

The package ships a subset of Noto Sans CJK JP Regular (SIL Open Font License 1.1, see
``OFL.txt`` here; made by ``scripts/make_cjk_font_subset.py``). Each report embeds only the glyphs
its own text uses (typically a few hundred, ~20-60 kB), as a ``data:`` WOFF in an ``@font-face``
rule named :data:`FONT_FAMILY`, restricted by ``unicode-range`` to CJK characters so Latin text
keeps the page's own fonts.
"""

from __future__ import annotations

import base64
import functools
import io
import re
from importlib import resources

__all__ = ["FONT_FAMILY", "FONT_FILE", "cjk_characters", "font_face_css"]

FONT_FAMILY = "kiban-ja"
"""CSS family name of the embedded font."""
FONT_FILE = "NotoSansCJKjp-Regular-kiban-subset.woff"
"""The shipped subset, inside this package folder."""
CJK_RANGES: tuple[tuple[int, int], ...] = (
    (0x3000, 0x303F),  # CJK symbols and punctuation
    (0x3040, 0x309F),  # hiragana
    (0x30A0, 0x30FF),  # katakana
    (0x31F0, 0x31FF),  # katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK unified ideographs extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xFF01, 0xFF9F),  # full-width forms, half-width katakana
)
"""Code points the embedded font serves (its ``unicode-range``)."""


def cjk_characters(text: str) -> str:
    """The distinct CJK characters of ``text``, sorted."""
    return "".join(sorted(set(_cjk_pattern().findall(text))))


@functools.cache
def _cjk_pattern() -> re.Pattern[str]:
    """One character class of :data:`CJK_RANGES` (a regex scan, ~100x faster than a loop)."""
    return re.compile("[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in CJK_RANGES) + "]")


@functools.cache
def _font_bytes() -> bytes:
    return resources.files(__name__).joinpath(FONT_FILE).read_bytes()


@functools.lru_cache(maxsize=16)
def _subset_woff(chars: str) -> bytes:
    from fontTools import subset  # noqa: PLC0415 (only when a page has CJK text)
    from fontTools.ttLib import TTFont  # noqa: PLC0415

    font = TTFont(io.BytesIO(_font_bytes()), recalcBBoxes=False)
    options = subset.Options()
    options.flavor = "woff"
    options.layout_features = ["*"]
    options.notdef_outline = True
    options.hinting = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=chars)
    subsetter.subset(font)
    font.flavor = "woff"
    buf = io.BytesIO()
    font.save(buf)
    return buf.getvalue()


def font_face_css(text: str) -> str:
    """An ``@font-face`` rule embedding the glyphs ``text`` needs ("" if it has no CJK text).

    Characters the shipped subset lacks (rare kanji) fall back to the reader's fonts.
    """
    chars = cjk_characters(text)
    if not chars:
        return ""
    data = base64.b64encode(_subset_woff(chars)).decode("ascii")
    ranges = ", ".join(f"U+{a:04X}-{b:04X}" for a, b in CJK_RANGES)
    return (
        f'@font-face {{ font-family: "{FONT_FAMILY}"; font-style: normal; font-weight: 100 900; '
        f'font-display: block; unicode-range: {ranges}; src: url("data:font/woff;base64,{data}") '
        'format("woff"); }'
    )
