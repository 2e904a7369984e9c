"""Open the reports in a real browser (Debian chromium via playwright), with the network off.

Checks: no console errors, no request leaves file://, every chart is a rendered, non-empty SVG.
Saves full-page screenshots to the test's tmp dir and, when KIBAN_SCREENSHOT_DIR is set, there.
Missing chromium or playwright skips locally and fails in CI (CI=true).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from report_browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, open_offline, sync_playwright
from report_fixtures import site_evaluation, write_run

from kiban.report import build_context, render_html, write_report, write_site_report

pytestmark = pytest.mark.browser

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason}; CI must install it (.ci/run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} not found (apt-get install chromium)")
    if sync_playwright is None:
        _unavailable("python package playwright is not installed")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def _keep(screenshot: Path) -> None:
    target = os.environ.get("KIBAN_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, Path(target) / screenshot.name)


def _assert_rendered(result: dict, expected_ids: list[str]) -> None:
    assert result["errors"] == [], result["errors"]
    assert result["blocked"] == [], result["blocked"]
    assert [c["id"] for c in result["charts"]] == expected_ids
    for chart in result["charts"]:
        box = chart["box"]
        assert box is not None, chart
        assert box["width"] > 100, chart
        assert box["height"] > 100, chart
        assert chart["children"] > 5, chart
        assert chart["drawn"] > 0, chart
        assert chart["text_width"] > 0, chart


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_report_renders_offline_in_chromium(browser, result_run, tmp_path, lang):
    ctx = build_context(result_run, lang)
    html_path = tmp_path / f"report-{lang}.html"
    html_path.write_text(render_html(ctx), encoding="utf-8")
    shot = tmp_path / f"report-{lang}.png"
    result = open_offline(browser, html_path, shot)
    _assert_rendered(result, [c.chart_id for c in ctx.charts()])
    assert shot.stat().st_size > 50_000
    _keep(shot)


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_site_report_renders_offline_in_chromium(browser, tmp_path, lang):
    html_path = write_site_report(site_evaluation(), tmp_path / f"site-{lang}.html", lang)
    shot = tmp_path / f"site-{lang}.png"
    result = open_offline(browser, html_path, shot)
    _assert_rendered(result, ["site-heatmap", "site-power", "site-pue", "site-cost"])
    _keep(shot)


def test_a_page_that_fetches_is_caught(browser, result_run, tmp_path):
    """The check can fail: a report with a remote image is reported as an error."""
    path = write_report(result_run, tmp_path / "r.html", "en")
    html = path.read_text(encoding="utf-8")
    path.write_text(html.replace("</main>", '<img src="https://example.com/x.png"></main>'))
    result = open_offline(browser, path, tmp_path / "bad.png")
    assert result["errors"] or result["blocked"]


def test_five_policies_fit_the_window(browser, tmp_path):
    """The demo's five policies: the comparison table wraps its metric names instead of running
    off the page (old behaviour: this page 1,549 px wide, the demo's Japanese report 1,585 px,
    in a 1,400 px window)."""
    run = write_run(
        tmp_path, ("fifo-static", "easy-backfill", "tiresias-las", "best-fit", "random-fit")
    )
    for lang in ("en", "ja"):
        path = write_report(run, tmp_path / f"five-{lang}.html", lang)
        result = open_offline(browser, path, tmp_path / f"five-{lang}.png")
        assert result["page_width"] <= VIEWPORT["width"], (lang, result["page_width"])
