"""``kiban report DIR... [--lang en|ja] [--out FILE.html]``: one self-contained HTML report."""

from __future__ import annotations

from pathlib import Path

import typer

from kiban.cli._app import app, console, real_console
from kiban.errors import ConfigError


def default_report_path(first_dir: Path, lang: str) -> Path:
    """``DIR/report.html`` (English) or ``DIR/report-ja.html`` beside the results."""
    return first_dir / ("report.html" if lang == "en" else f"report-{lang}.html")


def check_report_target(out: Path) -> None:
    """``--out`` must name an HTML file: never a folder or another command's result file.

    Raises:
        ConfigError: naming the path and what is allowed.
    """
    if out.is_dir():
        msg = f"--out {out}: is a folder; give the report file, e.g. {out / 'report.html'}"
        raise ConfigError(msg)
    if out.suffix.lower() not in {".html", ".htm"}:
        exists = " (it exists: a results file is never overwritten)" if out.exists() else ""
        msg = f"--out {out}: the report is HTML; give a file name ending in .html{exists}"
        raise ConfigError(msg)


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
    from rich.markup import escape  # noqa: PLC0415 (startup time)

    from kiban.i18n import check_lang, translator  # noqa: PLC0415
    from kiban.report import build_context, print_summary, render_html  # noqa: PLC0415
    from kiban.report.html import atomic_write_text  # noqa: PLC0415
    from kiban.report.sweep import (  # noqa: PLC0415
        build_sweep_report,
        is_sweep_dir,
        print_sweep_summary,
        render_sweep_html,
    )

    check_lang(lang)
    if out is not None:
        check_report_target(out)
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
    print_summary(context, real_console(console))
    console.print(
        escape(translator(lang).t("summary.report_written", path=str(target))), soft_wrap=True
    )
