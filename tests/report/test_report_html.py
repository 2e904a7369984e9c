"""The HTML report: self-contained, complete, and entirely Japanese with --lang ja."""

from __future__ import annotations

import os
import re
import stat
from html import unescape

import pytest
from report_fixtures import site_evaluation
from report_text import ENGLISH_WORD, visible_text

from kiban.errors import ConfigError
from kiban.report import build_context, render_html, render_site_report, write_report

# Units, abbreviations and proper nouns that stay in Latin letters in a Japanese report.
JA_ALLOWED = {
    "PUE", "GPU", "JCT", "IT", "CO",  # CO2
    "kWh", "MWh", "GWh", "kW", "MW", "GW", "kg",
    "kiban", "ASHRAE",
}  # fmt: skip


def _data_words(ctx) -> set[str]:
    """Names that come from the user's data (policies, scenario), not from kiban's UI."""
    words: set[str] = set()
    for name in [*ctx.policies, ctx.scenario_name]:
        words |= set(ENGLISH_WORD.findall(name))
    return words


def english_words_left(html: str, allowed: set[str]) -> list[str]:
    text = visible_text(html)
    return sorted({w for run in text for w in ENGLISH_WORD.findall(run)} - allowed)


def test_japanese_report_has_no_english_left(result_run):
    ctx = build_context(result_run, "ja")
    html = render_html(ctx)
    text = visible_text(html)
    assert len(text) > 200  # the extractor sees the page, SVG text included
    assert any("GPU時間の内訳" in t for t in text)  # an SVG title
    assert any(t == "サーマルスロットリング" for t in text)  # an SVG bar label
    left = english_words_left(html, JA_ALLOWED | _data_words(ctx))
    assert left == [], f"English words in the ja report: {left}"


def test_no_english_check_can_fail(result_run):
    html = render_html(build_context(result_run, "en"))
    left = english_words_left(html, JA_ALLOWED)
    assert {"Productive", "Cooling", "Policy"} <= set(left)


def test_japanese_site_report_has_no_english_left():
    html = render_site_report(site_evaluation(), "ja")
    left = english_words_left(html, JA_ALLOWED | {"tokyo", "hall"})
    assert left == [], f"English words in the ja site report: {left}"


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_report_is_self_contained(result_run, lang):
    html = render_html(build_context(result_run, lang))
    assert f'<html lang="{lang}">' in html
    assert "Content-Security-Policy" in html
    assert "default-src 'none'" in html
    for pattern in (r"<script", r"<link", r"<img", r"@import", r"\bsrc=", r"href=\"(?!#)",
                    r"url\((?!#|\"data:font/woff;base64,)"):  # fmt: skip
        assert not re.search(pattern, html), pattern  # the embedded font is a data: URL
    # The only URLs are XML namespaces, which are names, not fetches.
    urls = set(re.findall(r"https?://[^\s\"'<>]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls


def test_report_contains_every_part(result_run):
    ctx = build_context(result_run, "en")
    html = render_html(ctx)
    assert html.count('<svg class="chart"') == len(ctx.charts())
    for chart in ctx.charts():
        assert f'id="{chart.chart_id}"' in html
        assert chart.reading.replace("'", "&#39;") in html
    for section in ("headline", "comparison", "distributions", "scenario"):
        assert f'id="{section}"' in html
    assert html.count('class="best"') == sum(c.best for r in ctx.comparison for c in r.cells)
    assert 'name = "tiny-hall"' in unescape(html)  # the scenario echo, escaped
    for group in ctx.headline:
        assert len(group.cards) == 6


def test_japanese_svg_text_uses_a_cjk_font_stack(result_run):
    html = render_html(build_context(result_run, "ja"))
    assert "Noto Sans CJK JP" in html
    assert "Hiragino" in html
    assert "Yu Gothic" in html
    # Text stays text, never glyph outlines (matplotlib's svg.fonttype "path" would define
    # each glyph once as a <path id="DejaVuSans-..."> and place it with <use>), and every chart
    # text inherits the chart's font stack instead of naming a font itself.
    assert not re.search(r'<path id="[^"]*(DejaVu|Noto)', html)
    assert any("GPU時間の内訳" in t for t in re.findall(r"<text[^>]*>([^<]*)</text>", html))
    assert not re.search(r"<text[^>]*font-family", html)


def test_write_report_is_atomic_and_leaves_no_temp_files(result_run, tmp_path):
    out = tmp_path / "r.html"
    out.write_text("old", encoding="utf-8")
    path = write_report(result_run, out, lang="ja")
    assert path == out
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_write_report_into_missing_folder_is_a_clear_error(result_run, tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        write_report(result_run, tmp_path / "nope" / "r.html")


def test_written_report_follows_the_umask(result_run, tmp_path):
    old = os.umask(0o022)
    try:
        path = write_report(result_run, tmp_path / "r.html")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_failed_write_leaves_the_old_file_and_no_temp(result_run, tmp_path, monkeypatch):
    out = tmp_path / "r.html"
    out.write_text("old", encoding="utf-8")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(ConfigError, match="writing failed \\(No space left on device\\)"):
        write_report(result_run, out)
    assert out.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]
