"""Make the Japanese font subset that kiban embeds in its HTML reports.

A report must read the same on a machine with no CJK font (headless Linux, CI artefact viewers),
so `kiban.report` embeds a per-page subset of a freely licensed Japanese font. This script makes
the font that ships in the package, from Noto Sans CJK JP Regular (SIL Open Font License 1.1;
Debian package `fonts-noto-cjk`, upstream github.com/notofonts/noto-cjk):

- kana, CJK symbols and punctuation, full-width and half-width forms;
- the 2,965 kanji of JIS X 0208 level 1 (the common kanji of Japanese text);
- every character of kiban's Japanese messages (`src/kiban/i18n/ja.toml`) and templates.

Output: `src/kiban/report/fonts/NotoSansCJKjp-Regular-kiban-subset.woff` (WOFF, zlib), beside the
licence `OFL.txt`. Run: .venv/bin/python scripts/make_cjk_font_subset.py [--ttc PATH]
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "kiban" / "report" / "fonts" / "NotoSansCJKjp-Regular-kiban-subset.woff"
TTC = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
RANGES = (
    (0x3000, 0x303F),  # CJK symbols and punctuation
    (0x3040, 0x309F),  # hiragana
    (0x30A0, 0x30FF),  # katakana
    (0x31F0, 0x31FF),  # katakana phonetic extensions
    (0xFF01, 0xFF9F),  # full-width ASCII forms, half-width katakana
)
JIS_LEVEL1_ROWS = range(16, 48)
"""JIS X 0208 rows 16-47: the level-1 kanji."""


def jis_level1_kanji() -> set[str]:
    """The JIS X 0208 level-1 kanji, decoded from their EUC-JP codes."""
    out = set()
    for row in JIS_LEVEL1_ROWS:
        for cell in range(1, 95):
            try:
                out.add(bytes([0xA0 + row, 0xA0 + cell]).decode("euc_jp"))
            except UnicodeDecodeError:
                continue
    return out


def is_cjk(ch: str) -> bool:
    """True for kana, kanji, CJK punctuation and full-width forms."""
    cp = ord(ch)
    return any(a <= cp <= b for a, b in RANGES) or 0x3400 <= cp <= 0x9FFF


def wanted_text() -> str:
    """Every character the shipped subset covers."""
    chars = {chr(cp) for a, b in RANGES for cp in range(a, b + 1)} | jis_level1_kanji()
    sources = [ROOT / "src" / "kiban" / "i18n" / "ja.toml"]
    sources += sorted((ROOT / "src" / "kiban" / "report" / "templates").glob("*"))
    for path in sources:
        chars |= {c for c in path.read_text(encoding="utf-8") if is_cjk(c)}
    return "".join(sorted(chars))


def main() -> int:
    """Write the subset; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ttc", type=Path, default=TTC, help="Noto Sans CJK Regular .ttc")
    args = parser.parse_args()
    collection = TTCollection(str(args.ttc))
    font: TTFont = next(
        f for f in collection.fonts if f["name"].getDebugName(4) == "Noto Sans CJK JP"
    )
    options = subset.Options()
    options.flavor = "woff"
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.hinting = False
    subsetter = subset.Subsetter(options)
    text = wanted_text()
    subsetter.populate(text=text)
    subsetter.subset(font)
    font.flavor = "woff"
    buf = io.BytesIO()
    font.save(buf)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(buf.getvalue())
    print(f"wrote {OUT} ({len(buf.getvalue()):,} bytes, {len(text):,} characters)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
