"""The structured report: plain dataclasses of numbers, strings and chart specs.

A :class:`ReportContext` holds everything a report shows, already translated and formatted.
Golden tests compare it (through :meth:`ReportContext.to_dict`) instead of pixels; the HTML
template and the chart renderer (:mod:`kiban.charts`) only lay it out.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

from kiban.charts.spec import Bar, Cell, ChartKind, ChartSpec, ColorBar, Series, Tick

# The chart vocabulary lives in kiban.charts (shared with the planner); these names stay
# importable from here for the report's builders.
__all__ = [
    "Bar",
    "Card",
    "Cell",
    "ChartKind",
    "ChartSpec",
    "ColorBar",
    "ComparisonRow",
    "LossLine",
    "PolicyCards",
    "PolicySection",
    "ReportContext",
    "ScenarioEcho",
    "Series",
    "SiteReportContext",
    "TableCell",
    "Tick",
]


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
