"""Reports: HTML (inline SVG, English or Japanese) and terminal summaries of kiban results.

Public entry points:

- :func:`build_context` (result directories → :class:`ReportContext`, the structured report
  that golden tests compare), :func:`render_html`, :func:`write_report`;
- :func:`print_summary`, the rich terminal summary with the same numbers as the HTML;
- :func:`build_site_context`, :func:`render_site_report`, :func:`write_site_report` for a site
  evaluation (anything with the fields of :class:`SiteEvaluationLike`).
"""

from __future__ import annotations

from kiban.report.context import build_context
from kiban.report.html import render_html, write_report
from kiban.report.site_context import (
    SiteEvaluationLike,
    build_site_context,
    render_site_report,
    write_site_report,
)
from kiban.report.spec import ChartSpec, ReportContext, SiteReportContext
from kiban.report.terminal import print_summary

__all__ = [
    "ChartSpec",
    "ReportContext",
    "SiteEvaluationLike",
    "SiteReportContext",
    "build_context",
    "build_site_context",
    "print_summary",
    "render_html",
    "render_site_report",
    "write_report",
    "write_site_report",
]
