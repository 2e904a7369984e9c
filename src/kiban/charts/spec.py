"""What a chart shows, independent of how it is drawn: axes, series, bars, racks on a floor.

Reports and the planner build these specs (numbers, translated labels, colours, ticks) and
:func:`kiban.charts.render_svg` draws them. Golden tests compare specs, not pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Tick = tuple[float, str]
ChartKind = Literal["waterfall", "area", "lines", "heatmap", "floorplan", "bars"]


@dataclass
class Series:
    """One line, area band or bar stack.

    Attributes:
        label: legend text.
        color: CSS colour.
        x: x values (chart units); empty for ``bars`` charts, which use the categories.
        y: y values; NaN breaks a line.
        axis: ``left`` or ``right`` (secondary y axis).
        stacked: stack on top of the previous stacked series of the same axis.
        dashed: draw the line dashed.
        marker: a point marker at every value (matplotlib code: ``o``, ``s``, ``^``), or "".
    """

    label: str
    color: str
    x: list[float]
    y: list[float]
    axis: Literal["left", "right"] = "left"
    stacked: bool = False
    dashed: bool = False
    marker: str = ""


@dataclass
class Bar:
    """One waterfall bar, from ``start`` to ``end`` along the value axis."""

    key: str
    label: str
    start: float
    end: float
    kind: Literal["total", "loss", "result"]
    color: str
    value_text: str


@dataclass
class Cell:
    """One rack of a floor heatmap or floor plan (centre and size in metres).

    Attributes:
        label: the text drawn inside the rack when it fits (lines split on newlines); ""
            draws the name. A label that does not fit is left to the tooltip.
        empty: an unused position: a dotted outline, no fill.
    """

    name: str
    x_m: float
    y_m: float
    width_m: float
    depth_m: float
    value: float
    color: str
    tooltip: str
    label: str = ""
    empty: bool = False


@dataclass
class ColorBar:
    """The colour scale of a heatmap."""

    label: str
    lo: float
    hi: float
    stops: list[str]
    ticks: list[Tick]


@dataclass
class LegendItem:
    """A colour swatch in the legend of a floor chart (``empty``: a dotted outline)."""

    label: str
    color: str
    empty: bool = False


@dataclass
class Marker:
    """One marked point, e.g. a power feed on a floor plan or the optimum of a sweep.

    Attributes:
        symbol: matplotlib marker code (``s`` square, ``D`` diamond, ``*`` star ...).
        note: text written beside the point ("" for none); ``label`` goes to the legend.
    """

    label: str
    x: float
    y: float
    color: str
    symbol: str = "o"
    note: str = ""


@dataclass
class Span:
    """A shaded range of the x axis (e.g. pitches where the row no longer fits the hall)."""

    label: str
    lo: float
    hi: float
    color: str


@dataclass
class ChartSpec:
    """Everything needed to draw one chart, and its one-line reading.

    Attributes:
        chart_id: unique id in the page (also the SVG element id).
        kind: ``waterfall``, ``area`` (stacked areas and lines), ``lines``, ``heatmap`` (racks
            coloured by a value, with a colour bar), ``floorplan`` (racks coloured by category,
            with a legend) or ``bars``.
        title: chart title.
        x_label: x-axis label with unit.
        y_label: y-axis label with unit.
        reading: one sentence, computed from the data, saying what the chart shows.
        y2_label: right-axis label ("" if none).
        x_range, y_range, y2_range: axis limits in chart units.
        x_ticks, y_ticks, y2_ticks: (position, label) pairs.
        x_log: logarithmic x axis.
        series: lines/areas/bar stacks.
        bars: waterfall bars.
        cells: heatmap racks.
        colorbar: heatmap colour scale.
        categories: category labels of a ``bars`` chart.
        legend: extra legend swatches (floor charts).
        markers: marked points.
        spans: shaded x ranges.
        outline: a rectangle drawn around the data (x0, y0, x1, y1 in chart units), e.g. the
            hall walls of a floor plan.
    """

    chart_id: str
    kind: ChartKind
    title: str
    x_label: str
    y_label: str
    reading: str
    y2_label: str = ""
    x_range: tuple[float, float] = (0.0, 1.0)
    y_range: tuple[float, float] = (0.0, 1.0)
    y2_range: tuple[float, float] | None = None
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    y2_ticks: list[Tick] = field(default_factory=list)
    x_log: bool = False
    series: list[Series] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    cells: list[Cell] = field(default_factory=list)
    colorbar: ColorBar | None = None
    categories: list[str] = field(default_factory=list)
    legend: list[LegendItem] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    outline: tuple[float, float, float, float] | None = None
