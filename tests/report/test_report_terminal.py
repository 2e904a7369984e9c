"""The terminal summary shows the same numbers as the HTML report."""

from __future__ import annotations

import re
from html import unescape

from report_fixtures import write_result_dir
from rich.console import Console

from kiban.report import build_context, print_summary, render_html


def _table_cells(html: str) -> list[list[str]]:
    body = html.split('<table class="comparison">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr data-key=\"[^\"]+\">(.*?)</tr>", body, flags=re.S)
    return [[unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r)] for r in rows]


def test_terminal_and_html_show_the_same_numbers(result_run):
    ctx = build_context(result_run, "ja")
    console = Console(record=True, width=200, color_system=None)
    print_summary(ctx, console)
    out = console.export_text()
    html_rows = _table_cells(render_html(ctx))
    assert len(html_rows) == len(ctx.comparison)
    for row, html_cells in zip(ctx.comparison, html_rows, strict=True):
        line = next(ln for ln in out.splitlines() if ln.startswith(f"│ {row.label} "))
        assert [c.text for c in row.cells] == html_cells
        # the terminal row carries the same strings in the same column order
        positions = [line.index(text) for text in html_cells]
        assert positions == sorted(positions), line
    for lines in ctx.losses.values():
        for loss in lines:
            if loss.gpu_hours > 0:
                assert loss.gpu_hours_text in out


def test_print_summary_builds_from_directories(result_run):
    console = Console(record=True, width=160, color_system=None)
    ctx = print_summary([result_run], console, lang="en")
    out = console.export_text()
    assert "kiban summary: tiny-hall" in out
    assert "Lost GPU-hours under fifo" in out
    assert ctx.comparison[0].cells[0].text in out
    waterfall = next(c for c in ctx.charts() if c.chart_id == "fifo-waterfall")
    assert waterfall.reading[:40] in out.replace("\n", " ")


def test_narrow_terminal_wraps_labels_but_never_cuts_numbers(result_run):
    ctx = build_context(result_run, "ja")
    console = Console(record=True, width=72, color_system=None)
    print_summary(ctx, console)
    out = console.export_text()
    assert "…" not in out
    for row in ctx.comparison:
        for cell in row.cells:
            assert cell.text in out


def test_eighty_columns_keep_the_metric_names_and_whole_numbers(tmp_path):
    """Old behaviour: with five policies at 80 columns the metric-name column vanished."""
    for name in ("fifo-static", "easy-backfill", "tiresias-las", "best-fit", "random-fit"):
        write_result_dir(tmp_path, name)
    ctx = build_context(tmp_path, "en")
    console = Console(record=True, width=80, color_system=None)
    print_summary(ctx, console)
    out = console.export_text()
    table_lines = [ln for ln in out.splitlines() if ln.startswith(("│", "┃", "┏", "└"))]
    assert max(len(ln) for ln in table_lines) <= 80
    assert out.count("Effective utilization") >= 2  # the names repeat in each part
    for row in ctx.comparison:
        for cell in row.cells:
            assert cell.text in out, (row.key, cell.text)
