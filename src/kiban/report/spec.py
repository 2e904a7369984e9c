"""The structured report: plain dataclasses of numbers, strings and chart specs.

A :class:`ReportContext` holds everything a report shows, already translated and formatted.
Golden tests compare it (through :meth:`ReportContext.to_dict`) instead of pixels; the HTML
template and the SVG renderer only lay it out.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

Tick = tuple[float, str]
ChartKind = Literal["waterfall", "area", "lines", "heatmap", "bars"]


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
    """

    label: str
    color: str
    x: list[float]
    y: list[float]
    axis: Literal["left", "right"] = "left"
    stacked: bool = False
    dashed: bool = False


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
    """One rack of a floor heatmap (centre and size in metres)."""

    name: str
    x_m: float
    y_m: float
    width_m: float
    depth_m: float
    value: float
    color: str
    tooltip: str


@dataclass
class ColorBar:
    """The colour scale of a heatmap."""

    label: str
    lo: float
    hi: float
    stops: list[str]
    ticks: list[Tick]


@dataclass
class ChartSpec:
    """Everything needed to draw one chart, and its one-line reading.

    Attributes:
        chart_id: unique id in the page (also the SVG element id).
        kind: ``waterfall``, ``area`` (stacked areas and lines), ``lines``, ``heatmap`` or ``bars``.
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


@dataclass
class Card:
    """One headline number."""

    key: str
    label: str
    value_text: str
    value: float | None


@dataclass
class PolicyCards:
    """The headline cards of one policy."""

    policy: str
    cards: list[Card]


@dataclass
class TableCell:
    """One cell of the comparison table."""

    text: str
    value: float | None
    best: bool


@dataclass
class ComparisonRow:
    """One metric across the policies."""

    key: str
    label: str
    better: Literal["higher", "lower", "context"]
    better_text: str
    cells: list[TableCell]


@dataclass
class PolicySection:
    """The per-policy charts."""

    policy: str
    title: str
    anchor: str
    charts: list[ChartSpec]
    notes: list[str]


@dataclass
class ScenarioEcho:
    """The scenario file text, verbatim, and which runs used it.

    Attributes:
        label: the policies that used this scenario text.
        text: the file, verbatim.
        summary: the line shown on the folded echo (policies and line count).
    """

    label: str
    text: str
    summary: str = ""


@dataclass
class LossLine:
    """One lost-GPU-hour bucket for the terminal summary."""

    key: str
    label: str
    gpu_hours_text: str
    share_text: str
    gpu_hours: float


@dataclass
class ReportContext:
    """Everything a simulation report shows, translated for ``lang``.

    Attributes:
        lang: ``en`` or ``ja``.
        title: page title.
        subtitle: scenario, number of policies, kiban version.
        scenario_name: the scenario's name.
        policies: the policy labels, in column order.
        labels: headings and fixed sentences used by the template.
        headline: headline cards per policy.
        comparison: the policy comparison table.
        sections: charts per policy.
        distributions: the JCT and wait-time CDFs (all policies overlaid).
        distribution_notes: notes shown when distributions are missing.
        losses: lost-GPU-hour lines per policy (terminal summary).
        scenarios: scenario echoes.
        kiban_version: version that built the report.
    """

    lang: str
    title: str
    subtitle: str
    scenario_name: str
    policies: list[str]
    labels: dict[str, str]
    headline: list[PolicyCards]
    comparison: list[ComparisonRow]
    sections: list[PolicySection]
    distributions: list[ChartSpec]
    distribution_notes: list[str]
    losses: dict[str, list[LossLine]]
    scenarios: list[ScenarioEcho]
    kiban_version: str

    def charts(self) -> list[ChartSpec]:
        """Every chart in page order."""
        out = [c for s in self.sections for c in s.charts]
        return out + list(self.distributions)

    def to_dict(self, sig_digits: int = 6) -> dict[str, Any]:
        """A JSON-ready dict; floats rounded to ``sig_digits`` significant digits, NaN → None."""
        return _jsonable(dataclasses.asdict(self), sig_digits)


@dataclass
class SiteReportContext:
    """Everything a site-evaluation report shows, translated for ``lang``."""

    lang: str
    title: str
    subtitle: str
    scenario_name: str
    labels: dict[str, str]
    cards: list[Card]
    charts: list[ChartSpec]
    notes: list[str]
    kiban_version: str

    def to_dict(self, sig_digits: int = 6) -> dict[str, Any]:
        """A JSON-ready dict (see :meth:`ReportContext.to_dict`)."""
        return _jsonable(dataclasses.asdict(self), sig_digits)


def _jsonable(obj: Any, sig_digits: int) -> Any:
    if isinstance(obj, float):
        if not math.isfinite(obj):
            return None
        return float(f"{obj:.{sig_digits}g}")
    if isinstance(obj, dict):
        return {str(k): _jsonable(v, sig_digits) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v, sig_digits) for v in obj]
    return obj
