"""``kiban report DIR... [--lang en|ja] [--out FILE.html]``: one self-contained HTML report."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from kiban.cli._app import app, console
from kiban.i18n import check_lang, translator
from kiban.report import build_context, print_summary, render_html
from kiban.report.html import atomic_write_text
from kiban.report.sweep import (
    build_sweep_report,
    is_sweep_dir,
    print_sweep_summary,
    render_sweep_html,
)


def default_report_path(first_dir: Path, lang: str) -> Path:
    """``DIR/report.html`` (English) or ``DIR/report-ja.html`` beside the results."""
    return first_dir / ("report.html" if lang == "en" else f"report-{lang}.html")


@app.command("report")
def report(
    dirs: list[Path] = typer.Argument(  # noqa: B008 (typer declares arguments this way)
        ...,
        help="Result directories: DIR/<policy>/ (with summary.json), a DIR holding several, "
        "or a `kiban sweep` folder.",
        show_default=False,
    ),
    lang: str = typer.Option("en", "--lang", help="Report language: en or ja."),
    out: Path | None = typer.Option(  # noqa: B008
        None, "--out", help="HTML file to write (default: DIR/report.html, or report-ja.html)."
    ),
) -> None:
    """Write an HTML report (charts, comparison table, scenario echo) and print a summary."""
    check_lang(lang)
    if len(dirs) == 1 and is_sweep_dir(dirs[0]):  # the --out folder of `kiban sweep`
        sweep = build_sweep_report(dirs[0], lang)
        target = out if out is not None else default_report_path(dirs[0], lang)
        atomic_write_text(target, render_sweep_html(sweep))
        print_sweep_summary(sweep, console)
        console.print(escape(sweep.text["written"].format(path=str(target))), soft_wrap=True)
        return
    context = build_context(dirs, lang)
    target = out if out is not None else default_report_path(dirs[0], lang)
    atomic_write_text(target, render_html(context))
    print_summary(context, console)
    console.print(
        escape(translator(lang).t("summary.report_written", path=str(target))), soft_wrap=True
    )
