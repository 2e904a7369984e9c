"""Extract the text a reader sees from a report's HTML (tags, scripts and styles stripped)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_SKIP_CONTENT = {"style", "script"}
_VOID = {"meta", "link", "br", "hr", "img", "input", "area", "base", "col", "source", "wbr"}


class _TextParser(HTMLParser):
    """Collects visible text, SVG <text>/<title> included, skipping <style>, <script> and
    elements marked translate="no" (the verbatim scenario file echo)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []
        self.parts: list[str] = []

    def _skipping(self) -> bool:
        return any(skip for _, skip in self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            return
        skip = tag in _SKIP_CONTENT or dict(attrs).get("translate") == "no"
        self.stack.append((tag, skip))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        return

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        while self.stack:
            open_tag, _ = self.stack.pop()
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self._skipping() and data.strip():
            self.parts.append(data.strip())


def visible_text(html: str) -> list[str]:
    """The text runs of ``html`` a reader sees, in document order."""
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    return parser.parts


ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")
