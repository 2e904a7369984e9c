"""Chart-spec builders shared by the simulation and site reports (floor heatmap, bar stacks)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kiban.charts.scales import min_spacing
from kiban.i18n import format_temp_c, translator
from kiban.report._scales import RDYLBU_R, auto_linear_axis, color_at, nice_ticks, tick_formatter
from kiban.report.spec import Cell, ChartSpec, ColorBar, Series

ASHRAE_RECOMMENDED_MAX_INLET_C = 27.0
"""Upper edge of the ASHRAE recommended inlet envelope (18–27 °C) for air-cooled IT.

References:
    ASHRAE TC 9.9, *Thermal Guidelines for Data Processing Environments*, 4th ed. (2015),
    recommended envelope for classes A1–A4.
"""

ASHRAE_RECOMMENDED_MIN_INLET_C = 18.0
"""Lower edge of the same ASHRAE recommended envelope; the colour scale spans at least 18–27 °C,
so red means hot in absolute terms, not just the hottest of a uniform room."""

DEFAULT_RACK_WIDTH_M = 0.6
"""Standard 19-inch rack width (600 mm), used when the layout gives no size."""
DEFAULT_RACK_DEPTH_M = 1.2
"""Common deep GPU rack (1200 mm), used when the layout gives no size."""


def heatmap_chart(
    chart_id: str,
    title: str,
    reading: str,
    *,
    names: Sequence[str],
    x_m: Sequence[float],
    y_m: Sequence[float],
    value_c: Sequence[float],
    lang: str,
    colorbar_label: str,
    width_m: Sequence[float | None] | None = None,
    depth_m: Sequence[float | None] | None = None,
) -> ChartSpec:
    """A floor plan with one rectangle per rack, coloured by temperature.

    Rack positions are centres in metres. Sizes come from the layout when given; otherwise a
    rack is as wide as the smallest x spacing (at most 0.6 m) and as deep as 1.2 m, or 60 % of
    the smallest y spacing if rows are closer than that. A floor over twice as long in y as in x is
    drawn turned by 90° (the axis labels say which floor axis is which), so it fills the page
    width. The colour scale covers at least the ASHRAE recommended 18–27 °C.
    """
    tr = translator(lang)
    xs = np.asarray(x_m, dtype=np.float64)
    ys = np.asarray(y_m, dtype=np.float64)
    x_label, y_label = tr.t("axis.floor_x"), tr.t("axis.floor_y")
    if np.ptp(ys) > 2.0 * np.ptp(xs):
        xs, ys = ys, xs
        x_label, y_label = y_label, x_label
        width_m, depth_m = depth_m, width_m
    vals = np.asarray(value_c, dtype=np.float64)
    gap_x = min_spacing(xs)
    gap_y = min_spacing(ys)
    if x_label == tr.t("axis.floor_x"):
        auto_w = min(DEFAULT_RACK_WIDTH_M, 0.95 * gap_x) if gap_x else DEFAULT_RACK_WIDTH_M
        auto_d = min(DEFAULT_RACK_DEPTH_M, 0.6 * gap_y) if gap_y else DEFAULT_RACK_DEPTH_M
    else:  # turned: racks sit side by side along the vertical axis
        auto_w = min(DEFAULT_RACK_DEPTH_M, 0.6 * gap_x) if gap_x else DEFAULT_RACK_DEPTH_M
        auto_d = min(DEFAULT_RACK_WIDTH_M, 0.95 * gap_y) if gap_y else DEFAULT_RACK_WIDTH_M
    finite = vals[np.isfinite(vals)]
    lo = min(float(finite.min()), ASHRAE_RECOMMENDED_MIN_INLET_C) if finite.size else 18.0
    hi = max(float(finite.max()), ASHRAE_RECOMMENDED_MAX_INLET_C) if finite.size else 27.0
    bar_ticks = nice_ticks(lo, hi, 6)
    c_lo, c_hi = bar_ticks[0], bar_ticks[-1]
    fmt = tick_formatter(bar_ticks, lang)
    cells: list[Cell] = []
    for i, name in enumerate(names):
        w = (width_m[i] if width_m else None) or auto_w
        d = (depth_m[i] if depth_m else None) or auto_d
        value = float(vals[i])
        frac = (value - c_lo) / (c_hi - c_lo) if c_hi > c_lo else 0.5
        cells.append(
            Cell(
                name=str(name),
                x_m=float(xs[i]),
                y_m=float(ys[i]),
                width_m=float(w),
                depth_m=float(d),
                value=value,
                color=color_at(frac),
                tooltip=f"{name}: {format_temp_c(value, lang)}",
            )
        )
    half_w = max(c.width_m for c in cells) / 2 if cells else 0.5
    half_d = max(c.depth_m for c in cells) / 2 if cells else 0.5
    x_range, x_ticks = auto_linear_axis(float(xs.min()) - half_w, float(xs.max()) + half_w, lang)
    y_range, y_ticks = auto_linear_axis(float(ys.min()) - half_d, float(ys.max()) + half_d, lang)
    return ChartSpec(
        chart_id=chart_id,
        kind="heatmap",
        title=title,
        x_label=x_label,
        y_label=y_label,
        reading=reading,
        x_range=x_range,
        y_range=y_range,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        cells=cells,
        colorbar=ColorBar(
            label=colorbar_label,
            lo=c_lo,
            hi=c_hi,
            stops=list(RDYLBU_R),
            ticks=[(t, fmt(t)) for t in bar_ticks],
        ),
    )


def heatmap_reading(names: Sequence[str], value_c: Sequence[float], lang: str) -> str:
    """The reading of a floor heatmap: the hottest rack, and how many exceed 27 °C."""
    vals = np.asarray(value_c, dtype=np.float64)
    hottest = int(np.nanargmax(vals)) if np.isfinite(vals).any() else 0
    return translator(lang).t(
        "reading.heatmap",
        rack=names[hottest] if len(names) else "—",
        temp=format_temp_c(float(vals[hottest]) if vals.size else None, lang),
        n_hot=int(np.sum(vals > ASHRAE_RECOMMENDED_MAX_INLET_C)),
        n_racks=len(vals),
        limit=format_temp_c(ASHRAE_RECOMMENDED_MAX_INLET_C, lang),
    )


def stacked_bars_chart(
    chart_id: str,
    title: str,
    reading: str,
    *,
    categories: list[str],
    series: list[Series],
    lang: str,
    x_label: str,
    y_label: str,
) -> ChartSpec:
    """Vertical bars per category; series with ``stacked=True`` stack, others sit side by side."""
    totals = np.zeros(len(categories))
    peak = 0.0
    for s in series:
        y = np.nan_to_num(np.asarray(s.y, dtype=np.float64))
        if s.stacked:
            totals = totals + y
            peak = max(peak, float(totals.max(initial=0.0)))
        else:
            peak = max(peak, float(y.max(initial=0.0)))
    y_range, y_ticks = auto_linear_axis(0.0, peak if peak > 0 else 1.0, lang)
    return ChartSpec(
        chart_id=chart_id,
        kind="bars",
        title=title,
        x_label=x_label,
        y_label=y_label,
        reading=reading,
        x_range=(0.0, float(len(categories))),
        y_range=y_range,
        y_ticks=y_ticks,
        series=series,
        categories=categories,
    )
