"""The terminal summary: the report's headline numbers as rich tables (same text as the HTML)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kiban._tables import column_chunks
from kiban.i18n import translator
from kiban.report.context import build_context
from kiban.report.spec import ReportContext

METRIC_MIN_WIDTH = 22
"""Narrowest metric-name column (names wrap at spaces inside it; numbers never wrap)."""


def comparison_tables(ctx: ReportContext, width: int) -> list[Table]:
    """The comparison table, split into several (each with the metric names) to fit ``width``.

    Values are never wrapped or cut; when the policies do not all fit beside the metric names,
    they are spread over consecutive tables (policies 1-3, then 4-5, ...), the metric column kept.
    """
    tr = translator(ctx.lang)
    widths = [
        max([cell_len(policy)] + [cell_len(r.cells[i].text) for r in ctx.comparison])
        for i, policy in enumerate(ctx.policies)
    ]
    chunks = column_chunks(widths, width, METRIC_MIN_WIDTH)
    tables = []
    for n, chunk in enumerate(chunks):
        title = tr.t("summary.title", scenario=ctx.scenario_name)
        if len(chunks) > 1:
            title += f" ({n + 1}/{len(chunks)})"
        table = Table(title=title, title_justify="left")
        table.add_column(
            tr.t("report.metric"), min_width=METRIC_MIN_WIDTH, ratio=1, overflow="fold"
        )
        for i in chunk:
            table.add_column(
                escape(ctx.policies[i]), justify="right", no_wrap=True, min_width=widths[i]
            )
        for row in ctx.comparison:
            cells = [
                f"[bold green]{escape(row.cells[i].text)}[/bold green]"
                if row.cells[i].best
                else escape(row.cells[i].text)
                for i in chunk
            ]
            table.add_row(escape(row.label), *cells)
        tables.append(table)
    return tables


def print_summary(
    results: ReportContext | Sequence[Path | str] | Path | str,
    console: Console | None = None,
    lang: str = "en",
) -> ReportContext:
    """Print the comparison table and each policy's lost GPU-hours to a rich console.

    The numbers are the very strings the HTML report shows (both come from one
    :class:`ReportContext`), so the terminal and the page always agree.

    Args:
        results: a context from :func:`kiban.report.build_context`, or result directories
            to build one from.
        console: where to print; a new ``rich.console.Console()`` (stdout) by default.
        lang: ``en`` or ``ja``; ignored when a context is given (it is already translated).

    Returns:
        The context that was printed, so a caller can also write the HTML from it.
    """
    ctx = results if isinstance(results, ReportContext) else build_context(results, lang)
    out = console if console is not None else Console()
    tr = translator(ctx.lang)

    for table in comparison_tables(ctx, out.width):
        out.print(table)

    for section in ctx.sections:
        lines = ctx.losses.get(section.policy, [])
        losses = Table(
            title=tr.t("summary.losses", policy=section.policy), title_justify="left", box=None
        )
        losses.add_column("", no_wrap=True)
        losses.add_column(tr.t("axis.gpu_hours"), justify="right", no_wrap=True)
        losses.add_column(tr.t("summary.share"), justify="right", no_wrap=True)
        for line in sorted(lines, key=lambda ln: -ln.gpu_hours):
            if line.gpu_hours > 0:
                losses.add_row(escape(line.label), escape(line.gpu_hours_text), line.share_text)
        out.print(losses)
        waterfall = next((c for c in section.charts if c.kind == "waterfall"), None)
        if waterfall is not None:
            out.print(escape(waterfall.reading), soft_wrap=True)
        for note in section.notes:  # e.g. a co-optimizer's gain against the baseline
            out.print(escape(note), soft_wrap=True)
    return ctx
