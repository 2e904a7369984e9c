"""One charting stack for every figure kiban draws: chart specs, and matplotlib to render them.

The HTML reports (:mod:`kiban.report`) and the planner's floor plan and spacing sweep
(:mod:`kiban.plan`) both describe a chart as a :class:`ChartSpec` (numbers, translated labels,
colours, ticks) and draw it with :func:`render_svg` (matplotlib's SVG backend, text kept as
text, byte-identical output for the same spec). See ``docs/contracts.md``, "Charts".
"""

from __future__ import annotations

from kiban.charts.render import (
    FONT_STACK,
    chart_workers,
    render_many,
    render_panels_svg,
    render_svg,
    text_width_px,
)
from kiban.charts.spec import (
    Bar,
    Cell,
    ChartKind,
    ChartSpec,
    ColorBar,
    LegendItem,
    Marker,
    Series,
    Span,
    Tick,
)

__all__ = [
    "FONT_STACK",
    "Bar",
    "Cell",
    "ChartKind",
    "ChartSpec",
    "ColorBar",
    "LegendItem",
    "Marker",
    "Series",
    "Span",
    "Tick",
    "chart_workers",
    "render_many",
    "render_panels_svg",
    "render_svg",
    "text_width_px",
]
