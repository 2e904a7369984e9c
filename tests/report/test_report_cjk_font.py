"""The Japanese report renders on a machine with no CJK font (issue 16).

Chromium is started with a fontconfig that knows only DejaVu (no CJK glyphs). A control check
proves the point: with the system fonts, two different kanji draw the same pixels (the same
missing-glyph box, "tofu"). With the report's embedded font they draw different glyphs, both
in the page text and in the chart labels. Without the embedded font (the old report) the kanji
are tofu, so this test fails on the old behaviour.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from report_browser import CHROMIUM, CHROMIUM_ARGS, sync_playwright

from kiban.report import build_context, render_html
from kiban.report.fonts import FONT_FAMILY, cjk_characters, font_face_css

pytestmark = pytest.mark.browser

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
LATIN_ONLY_FONTS = Path("/usr/share/fonts/truetype/dejavu")

_PROBE = """
async (pair) => {
  await document.fonts.ready;
  const draw = (ch, family) => {
    const c = document.createElement('canvas'); c.width = 64; c.height = 64;
    const x = c.getContext('2d'); x.font = `40px ${family}`; x.fillText(ch, 4, 48);
    const d = x.getImageData(0, 0, 64, 64).data; let ink = 0;
    for (let i = 3; i < d.length; i += 4) ink += d[i] > 0;
    return {pixels: Array.from(d).join(','), ink};
  };
  const body = getComputedStyle(document.body).fontFamily;
  const svgText = [...document.querySelectorAll('svg text')]
    .find(t => /[\\u3040-\\u30ff\\u4e00-\\u9fff]/.test(t.textContent));
  const svgFamily = svgText ? getComputedStyle(svgText).fontFamily : '';
  const [a, b] = pair;
  const page = [draw(a, body), draw(b, body)];
  const chart = svgText ? [draw(a, svgFamily), draw(b, svgFamily)] : null;
  const control = [draw(a, 'serif'), draw(b, 'serif')];
  const loaded = [...document.fonts]
    .filter(f => f.family.replace(/"/g, '') === FAMILY && f.status === 'loaded').length;
  return {
    loaded, svgFamily,
    page_differ: page[0].pixels !== page[1].pixels, page_ink: page[0].ink,
    chart_differ: chart ? chart[0].pixels !== chart[1].pixels : null,
    control_same: control[0].pixels === control[1].pixels,
  };
}
"""


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason}; CI must install it (.ci/run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def latin_only_browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} not found (apt-get install chromium)")
    if sync_playwright is None:
        _unavailable("python package playwright is not installed")
    if not LATIN_ONLY_FONTS.is_dir():
        _unavailable(f"{LATIN_ONLY_FONTS} not found (apt-get install fonts-dejavu-core)")
    conf_dir = tmp_path_factory.mktemp("fontconfig")
    conf = conf_dir / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
        f"  <dir>{LATIN_ONLY_FONTS}</dir>\n  <cachedir>{conf_dir / 'cache'}</cachedir>\n"
        "</fontconfig>\n",
        encoding="utf-8",
    )
    env = {**os.environ, "FONTCONFIG_FILE": str(conf), "FONTCONFIG_PATH": str(conf_dir)}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, env=env)
        yield browser
        browser.close()


def _probe(browser: object, html: str, tmp_path: Path) -> dict:
    path = tmp_path / "report.html"
    path.write_text(html, encoding="utf-8")
    context = browser.new_context(offline=True)  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(path.resolve().as_uri(), wait_until="load")
    result = page.evaluate(_PROBE.replace("FAMILY", repr(FONT_FAMILY)), ["稼", "働"])
    page.screenshot(path=str(tmp_path / "report-ja.png"), full_page=False)
    context.close()
    return result


def test_japanese_report_renders_with_no_cjk_system_font(latin_only_browser, result_run, tmp_path):
    html = render_html(build_context(result_run, "ja"))
    assert "稼働" in html
    result = _probe(latin_only_browser, html, tmp_path)
    assert result["control_same"], "the browser has a CJK system font; the check proves nothing"
    assert result["loaded"] >= 1, result
    assert result["page_differ"], result
    assert result["page_ink"] > 50, result
    assert FONT_FAMILY in result["svgFamily"], result
    assert result["chart_differ"], result


def test_without_the_embedded_font_the_kanji_are_tofu(latin_only_browser, result_run, tmp_path):
    """The old report (no @font-face): the same probe sees identical boxes."""
    html = render_html(build_context(result_run, "ja"))
    face = font_face_css(html)
    assert face
    assert face in html
    result = _probe(latin_only_browser, html.replace(face, ""), tmp_path)
    assert result["loaded"] == 0
    assert not result["page_differ"]


def test_only_the_glyphs_a_page_uses_are_embedded(result_run):
    html = render_html(build_context(result_run, "ja"))
    face = font_face_css(html)
    assert 5_000 < len(face) < 400_000  # a per-page subset, not the 1.4 MB shipped font
    assert len(cjk_characters(html)) > 100
    english = render_html(build_context(result_run, "en"))
    assert "@font-face" not in english  # no CJK text, no font
