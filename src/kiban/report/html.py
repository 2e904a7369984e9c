"""Render report contexts to one self-contained HTML file (inline CSS and SVG, no network)."""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

import jinja2

from kiban.charts import render_many
from kiban.errors import ConfigError
from kiban.report.context import build_context
from kiban.report.fonts import font_face_css
from kiban.report.spec import ChartSpec, ReportContext, SiteReportContext


@functools.cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("kiban.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def _svgs(charts: Sequence[ChartSpec]) -> dict[str, str]:
    return dict(zip((c.chart_id for c in charts), render_many(charts), strict=True))


FONT_MARKER = "/* kiban:font-face */"
"""Where the templates' style sheet receives the embedded font."""


def embed_font(html: str) -> str:
    """Put the ``@font-face`` of the Japanese glyphs ``html`` uses into its style sheet.

    The page then renders its Japanese text (and chart labels) on a machine without any CJK
    font; a page without CJK text gets nothing.
    """
    return html.replace(FONT_MARKER, font_face_css(html), 1)


def render_html(context: ReportContext) -> str:
    """Return the simulation report as one HTML document (a string).

    The page has inline CSS and inline SVG charts, and a Content-Security-Policy that forbids
    every network fetch, so it opens the same offline as online.
    """
    template = _env().get_template("report.html.j2")
    return embed_font(template.render(ctx=context, svgs=_svgs(context.charts())))


def render_site_html(context: SiteReportContext) -> str:
    """Return the site-evaluation report as one HTML document (a string)."""
    template = _env().get_template("site.html.j2")
    return embed_font(template.render(ctx=context, svgs=_svgs(context.charts)))


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename.

    The file gets the permissions the umask allows (like any new file), not ``mkstemp``'s
    owner-only 0600, so a report can be shared or served as written. A failed write leaves
    ``path`` as it was and no temporary file behind.

    Raises:
        ConfigError: if the folder does not exist or is not writable.
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        msg = f"--out {path}: folder {folder} does not exist"
        raise ConfigError(msg)
    tmp = folder / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as err:
        msg = f"--out {path}: cannot write in {folder} ({err.strerror})"
        raise ConfigError(msg) from err
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        msg = f"--out {path}: writing failed ({err.strerror or err})"
        raise ConfigError(msg) from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_report(
    result_dirs: Sequence[Path | str] | Path | str, out_html: Path | str, lang: str = "en"
) -> Path:
    """Build the report for ``result_dirs`` and write it atomically to ``out_html``.

    Args:
        result_dirs: result directories (see :func:`kiban.report.build_context`).
        out_html: the HTML file to write.
        lang: ``en`` or ``ja``.

    Returns:
        The path written.
    """
    context = build_context(result_dirs, lang)
    return atomic_write_text(Path(out_html), render_html(context))
