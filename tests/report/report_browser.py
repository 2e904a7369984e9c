"""Open a report in headless Debian chromium with the network blocked; record what happened.

Used by test_report_browser.py, and runnable to take screenshots of real reports:

    .venv/bin/python tests/report/report_browser.py REPORT.html OUT.png [REPORT2.html OUT2.png ...]

Exit status 1 if a page logged console errors, tried the network, or drew an empty chart.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # optional: the browser test skips locally and fails in CI without it
    sync_playwright = None

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 900}
# The data a chart draws: matplotlib groups each bar, rack, area and line under an id
# "<chart id>-<what>-<n>" (kiban.charts.render).
DRAWN = 'g[id*="-bar-"], g[id*="-cell-"], g[id*="-area-"], g[id*="-line-"]'


def open_offline(browser, html_path: Path, screenshot: Path) -> dict:
    """Load a report with every non-file request aborted; return what the page did."""
    context = browser.new_context(viewport=VIEWPORT, offline=True)
    page = context.new_page()
    errors: list[str] = []
    blocked: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def _route(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", _route)
    page.goto(html_path.resolve().as_uri(), wait_until="load")
    charts = []
    for svg in page.query_selector_all("svg.chart"):
        box = svg.bounding_box()
        charts.append(
            {
                "id": svg.get_attribute("id"),
                "box": box,
                "children": svg.evaluate("e => e.querySelectorAll('*').length"),
                "drawn": svg.evaluate(f"e => e.querySelectorAll('{DRAWN}').length"),
                "text_width": svg.evaluate(
                    "e => Math.max(...[...e.querySelectorAll('text')].map(t => t.getBBox().width))"
                ),
            }
        )
    page_width = page.evaluate("document.documentElement.scrollWidth")
    page.screenshot(path=str(screenshot), full_page=True)
    context.close()
    return {"errors": errors, "blocked": blocked, "charts": charts, "page_width": page_width}


def problems(result: dict) -> list[str]:
    """What went wrong on a page: console errors, network attempts, empty charts, overflow."""
    out = [f"console error: {e}" for e in result["errors"]]
    if result["page_width"] > VIEWPORT["width"]:
        out.append(f"page is {result['page_width']} px wide, the window {VIEWPORT['width']} px")
    out += [f"network request: {u}" for u in result["blocked"]]
    for chart in result["charts"]:
        box = chart["box"]
        if box is None or box["width"] <= 0 or box["height"] <= 0 or chart["drawn"] == 0:
            out.append(f"empty chart: {chart['id']}")
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 2 or len(argv) % 2:
        print(__doc__)
        return 2
    bad = 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for html, png in zip(argv[::2], argv[1::2], strict=True):
            result = open_offline(browser, Path(html), Path(png))
            found = problems(result)
            print(f"{png}: {len(result['charts'])} charts, {'; '.join(found) or 'no problems'}")
            bad += bool(found)
        browser.close()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
