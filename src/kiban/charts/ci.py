"""Mean with a 95 % confidence interval against one swept axis (the sweep report's charts).

Plain numbers in, SVG text out: a line with a shaded band per group when the axis is numeric,
points with error bars (groups side by side) when it is categorical. Same SVG conventions as
:func:`kiban.charts.render_svg` (text stays text, fixed hash salt, no date).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

__all__ = ["CiSeries", "ci_chart_svg"]


@dataclass(frozen=True)
class CiSeries:
    """One group: its name, colour, and per-x mean and interval bounds (already scaled)."""

    name: str
    color: str
    mean: list[float]
    low: list[float]
    high: list[float]


def ci_chart_svg(
    series: list[CiSeries],
    xs: list[float],
    *,
    tick_labels: list[str] | None,
    x_label: str,
    y_label: str,
    title: str,
    legend_title: str | None,
) -> str:
    """Draw ``series`` against ``xs``; ``tick_labels`` set means a categorical axis."""
    numeric = tick_labels is None
    with (
        mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": "kiban"}),
        warnings.catch_warnings(),
    ):
        # Text stays text in the SVG (the page's CJK font stack draws it); matplotlib's own
        # fonts only size the layout, so a glyph they lack is no error.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig = Figure(figsize=(6.4, 3.6))
        ax = fig.add_subplot()
        for i, s in enumerate(series):
            if numeric:
                ax.plot(xs, s.mean, "o-", color=s.color, ms=4, lw=1.6, label=s.name)
                ax.fill_between(xs, s.low, s.high, color=s.color, alpha=0.18, lw=0)
            else:
                off = (i - (len(series) - 1) / 2) * 0.08
                err = np.array([np.subtract(s.mean, s.low), np.subtract(s.high, s.mean)])
                ax.errorbar([x + off for x in xs], s.mean, yerr=err, fmt="o", color=s.color,
                            capsize=3, label=s.name)  # fmt: skip
        if tick_labels is not None:
            ax.set_xticks(xs, tick_labels)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.set_title(title, fontsize=10)
        ax.grid(True, color="#e5e7eb", lw=0.8)
        if legend_title is not None:
            ax.legend(fontsize=8, title=legend_title, title_fontsize=8)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    return svg[svg.find("<svg") :]
