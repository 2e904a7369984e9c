"""Draw :class:`~kiban.charts.spec.ChartSpec` charts with matplotlib as inline-ready SVG.

One stack for every chart kiban draws (the HTML reports and the planner's files): matplotlib's
SVG backend with ``svg.fonttype = "none"``, so labels stay ``<text>`` (Japanese renders with the
page's font, and the text can be searched and translated-checked), and a fixed hash salt and no
date, so the same spec gives the same bytes. The spec fixes every number, label, colour, range
and tick; this module only lays them out.

The SVG is then tidied for embedding in a page: the XML prologue and metadata go, the root gets
``class="chart"``, the chart id, an accessible ``<title>`` and the CJK font stack (which every
text inherits, so a page stylesheet or an embedded web font can restyle it), every id is
prefixed with the chart id (several charts share one page), and racks and bars get a hover
``<title>`` tooltip.
"""

from __future__ import annotations

import functools
import io
import math
import os
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from html import escape
from typing import Any

import numpy as np

from kiban.charts.spec import ChartSpec, Series

FONT_NAMES: tuple[str, ...] = (
    "Noto Sans CJK JP",
    "Noto Sans JP",
    "Hiragino Sans",
    "Hiragino Kaku Gothic ProN",
    "Yu Gothic",
    "Meiryo",
    "DejaVu Sans",
)
"""Fonts for chart text, Japanese-capable first; the reader's browser takes the first it has."""
FONT_STACK = ", ".join(f"'{n}'" for n in FONT_NAMES) + ", sans-serif"
"""The same list as a CSS ``font-family`` value (set on each chart's root element)."""

# Sizes are in CSS pixels: the figure is WIDTH_PX/72 inches wide, so 1 pt = 1 SVG unit = 1 px.
WIDTH_PX = 760
HEIGHT_PX = 360
TITLE_PX = 15
LABEL_PX = 12
TICK_PX = 11
GRID = "#e5e7eb"
AXIS = "#6b7280"
INK = "#1f2937"
HASH_SALT = "kiban"
"""Fixed salt for matplotlib's clip-path and marker ids: the same chart gives the same bytes."""
_PT_PER_IN = 72.0
LABEL_SIZES_PX = (TICK_PX, 9.5, 8.0)
"""Sizes tried for a rack label, largest first; smaller would not be legible at page scale."""
_CMAP_STEPS = 48  # under matplotlib's 50-step threshold, so the colour bar stays vector
PAD_PX = 6.0
"""Blank border around every chart."""
GAP_PX = 6.0
"""Space between the title, the legend and the plot."""
TITLE_X_FRAC = 0.012
TICK_LEN_PX = 3.5  # matplotlib's default major tick length and label pad (rc, in pt = px)
TICK_PAD_PX = 3.5
LABEL_PAD_PX = 4.0  # rc axes.labelpad
NOTE_DX_PX = 6.0
"""A marker's note and a waterfall bar's value start this far right of their point."""
LEGEND_HANDLE_H = 0.7  # legend geometry in font sizes (matplotlib's defaults)
LEGEND_SPACING = 0.5
LEGEND_HANDLE_W = 1.6
LEGEND_TEXT_PAD = 0.8
LEGEND_COL_GAP = 1.4
LEGEND_ABOVE = 0.02
COLORBAR_FRAC = 0.075
"""A floor chart's colour bar ends this fraction of the plot's width right of the plot."""
MIN_PLOT_PX = 40.0
"""The smallest plot side the layout leaves, however long the texts around it."""
PANEL_PX = 240.0
"""Height of each panel of :func:`render_panels_svg` (with its share of the gaps)."""
WATERFALL_ROW_PX = 30.0
"""Height of one waterfall bar's row."""
DECIMATE_PER_PX = 2
"""A series is thinned to the plot's pixel columns when it has more points than this per column."""
"""The top legend sits this fraction of the plot's height above it."""


def text_width_px(text: str, size_px: float) -> float:
    """Rough rendered width: CJK and full-width characters ~1 em, others ~0.58 em."""
    wide = sum(1 for ch in text if ord(ch) >= 0x2E80)
    return (wide + 0.58 * (len(text) - wide)) * size_px


@functools.cache
def _installed_fonts() -> tuple[str, ...]:
    from matplotlib import font_manager  # noqa: PLC0415 (matplotlib loads only when drawing)

    have = {f.name for f in font_manager.fontManager.ttflist}
    return tuple(n for n in FONT_NAMES if n in have) or ("DejaVu Sans",)


@contextmanager
def _style() -> Iterator[None]:
    """The matplotlib settings of every kiban chart (restored afterwards)."""
    import matplotlib as mpl  # noqa: PLC0415

    rc: Any = {
        "svg.fonttype": "none",
        "svg.hashsalt": HASH_SALT,
        "font.family": ["sans-serif"],
        "font.sans-serif": list(_installed_fonts()),  # for measuring text; the page picks the face
        "font.size": TICK_PX,
        "text.color": INK,
        "axes.labelcolor": INK,
        "axes.edgecolor": AXIS,
        "axes.linewidth": 1.0,
        "axes.labelsize": LABEL_PX,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "xtick.color": AXIS,
        "ytick.color": AXIS,
        "xtick.labelcolor": INK,
        "ytick.labelcolor": INK,
        "xtick.labelsize": TICK_PX,
        "ytick.labelsize": TICK_PX,
        "legend.fontsize": LABEL_PX,
        "legend.frameon": False,
        "figure.dpi": _PT_PER_IN,
        "savefig.dpi": _PT_PER_IN,
        "figure.facecolor": "#ffffff",
        "lines.solid_joinstyle": "round",
        "lines.dash_joinstyle": "round",
    }
    with mpl.rc_context(rc), warnings.catch_warnings():
        # Without a CJK font installed, measuring a Japanese label warns once per glyph; the
        # browser still draws it with its own font, so the warning says nothing useful here.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        yield


def _figure(width_px: float, height_px: float) -> Any:
    from matplotlib.figure import Figure  # noqa: PLC0415

    return Figure(figsize=(width_px / _PT_PER_IN, height_px / _PT_PER_IN))


def _title(fig: Any, title: str) -> None:
    _w, h_px = fig.get_size_inches() * _PT_PER_IN
    fig.text(TITLE_X_FRAC, 1.0 - PAD_PX / h_px, title, ha="left", va="top", fontsize=TITLE_PX,
             fontweight="bold", color=INK)  # fmt: skip


# --- layout ----------------------------------------------------------------------------------
# Every chart's frame is computed here, once, from the sizes of the texts around the plot,
# measured with matplotlib's own text metrics (the same numbers its layout engines use) and
# cached per string. matplotlib then draws once, with no layout engine: constrained layout drew
# every chart twice (a measuring pass, then the real one) and was half of the drawing time.
# tests/report/test_chart_layout.py checks that no text leaves the figure.


@functools.cache
def _measurer() -> tuple[Any, Any]:
    """A figure and an SVG renderer kept for measuring text (their metric cache stays warm)."""
    from matplotlib.figure import Figure  # noqa: PLC0415

    return Figure(dpi=_PT_PER_IN), _renderer_class()(WIDTH_PX, HEIGHT_PX, io.StringIO())


@functools.lru_cache(maxsize=8192)
def _text_box(text: str, size_px: float, bold: bool = False) -> tuple[float, float]:
    """Width and height in px of ``text`` as matplotlib lays it out (call inside :func:`_style`)."""
    if not text:
        return 0.0, 0.0
    from matplotlib.text import Text  # noqa: PLC0415

    fig, renderer = _measurer()
    t = Text(0.0, 0.0, text, fontsize=size_px, fontweight="bold" if bold else "normal")
    t.set_figure(fig)
    box = t.get_window_extent(renderer)
    return float(box.width), float(box.height)


def _ticks_w(ticks: Sequence[tuple[float, str]], size_px: float = TICK_PX) -> float:
    return max((_text_box(t, size_px)[0] for _, t in ticks), default=0.0)


def _ticks_h(ticks: Sequence[tuple[float, str]], size_px: float = TICK_PX) -> float:
    return max((_text_box(t, size_px)[1] for _, t in ticks), default=0.0)


def _frac(v: float, lo: float, hi: float, log: bool = False) -> float:
    """Where ``v`` sits along an axis from ``lo`` to ``hi`` (0 to 1)."""
    if log and lo > 0 and hi > 0 and v > 0:
        v, lo, hi = math.log(v), math.log(lo), math.log(hi)
    return (v - lo) / (hi - lo) if hi != lo else 0.0


def _left_px(ticks: Sequence[tuple[float, str]], label: str, *, tick_len: float = TICK_LEN_PX,
             size_px: float = TICK_PX) -> float:  # fmt: skip
    """Room left of the plot: tick marks, tick labels, the rotated axis label, the pad."""
    w = PAD_PX + tick_len + TICK_PAD_PX + _ticks_w(ticks, size_px)
    if label:
        w += LABEL_PAD_PX + _text_box(label, LABEL_PX)[1]
    return w


def _bottom_px(spec: ChartSpec, ticks: Sequence[tuple[float, str]] | None = None, *,
               tick_len: float = TICK_LEN_PX) -> float:  # fmt: skip
    """Room under the plot: tick marks, tick labels, the x label, the pad."""
    ticks = spec.x_ticks if ticks is None else ticks
    h = PAD_PX + tick_len + TICK_PAD_PX + _ticks_h(ticks)
    if spec.x_label:
        h += LABEL_PAD_PX + _text_box(spec.x_label, LABEL_PX)[1]
    return h


def _spill_px(items: Sequence[tuple[float, float]], width_px: float, left_px: float) -> float:
    """The right margin that keeps text hanging right of points inside the figure.

    ``items`` are (fraction along the plot's width, px the text reaches right of its point).
    A point at fraction f of a plot that spans ``left_px`` to ``width_px - right`` sits at
    ``left_px + f * (width_px - left_px - right)``; solve for the smallest ``right``.
    """
    span = width_px - left_px
    right = PAD_PX
    for f, reach in items:
        if f >= 1.0:
            right = max(right, reach + PAD_PX)
        elif f > 0.0:
            right = max(right, span - (span - PAD_PX - reach) / f)
    return right


def _x_overhang(spec: ChartSpec, ticks: Sequence[tuple[float, str]] | None = None,
                x_range: tuple[float, float] | None = None) -> tuple[float, float]:  # fmt: skip
    """Margins that centred x tick labels near either end of the axis need (left, right)."""
    ticks = spec.x_ticks if ticks is None else ticks
    lo, hi = spec.x_range if x_range is None else x_range
    guess_w = 0.6 * WIDTH_PX  # a plot is never narrower than this in practice; conservative
    left = right = PAD_PX
    for v, t in ticks:
        f = min(max(_frac(v, lo, hi, spec.x_log), 0.0), 1.0)
        half = _text_box(t, TICK_PX)[0] / 2
        left = max(left, PAD_PX + half - f * guess_w)
        right = max(right, PAD_PX + half - (1.0 - f) * guess_w)
    return left, right


def _note_spill(spec: ChartSpec) -> list[tuple[float, float]]:
    """Marker notes, written right of their point (see :func:`_draw_markers`)."""
    x_lo, x_hi = spec.x_range
    return [
        (_frac(m.x, x_lo, x_hi, spec.x_log), NOTE_DX_PX + _text_box(m.note, TICK_PX)[0])
        for m in spec.markers
        if m.note
    ]


def _legend_layout(labels: Sequence[str], width_px: float) -> tuple[int, float]:
    """Columns and height in px of a legend over ``width_px`` (matplotlib's legend geometry)."""
    if not labels:
        return 1, 0.0
    ncols = _legend_columns(labels, width_px)
    rows = math.ceil(len(labels) / ncols)
    row_h = max(*(_text_box(lb, LABEL_PX)[1] for lb in labels), LEGEND_HANDLE_H * LABEL_PX)
    return ncols, rows * row_h + (rows - 1) * LEGEND_SPACING * LABEL_PX


def _top_px(title: str, legend_h: float, y_ticks: Sequence[tuple[float, str]] = ()) -> float:
    """Room above the plot: the pad, the title, the legend, half a top tick label."""
    h = PAD_PX + _text_box(title, TITLE_PX, bold=True)[1] + GAP_PX
    if legend_h:
        h += legend_h + GAP_PX
    return h + _ticks_h(y_ticks) / 2


def _axes(fig: Any, left: float, bottom: float, width: float, height: float, **kw: Any) -> Any:
    """An axes at a rectangle given in px from the figure's lower left corner."""
    fw, fh = fig.get_size_inches() * _PT_PER_IN
    # texts too long for the figure squeeze the plot, but never below a visible minimum
    width, height = max(width, MIN_PLOT_PX), max(height, MIN_PLOT_PX)
    return fig.add_axes((left / fw, bottom / fh, width / fw, height / fh), **kw)


def _gid(spec_id: str, what: str, i: int) -> str:
    return f"{spec_id}-{what}-{i}"


# --- axes ------------------------------------------------------------------------------------


def _x_axis(ax: Any, spec: ChartSpec, *, labels: bool = True) -> None:
    from matplotlib.ticker import NullLocator  # noqa: PLC0415

    if spec.x_log:
        ax.set_xscale("log")
    ax.set_xlim(*spec.x_range)
    ax.set_xticks(
        [v for v, _ in spec.x_ticks], labels=[t for _, t in spec.x_ticks] if labels else []
    )
    ax.xaxis.set_minor_locator(NullLocator())
    if spec.x_label and labels:
        ax.set_xlabel(spec.x_label)


def _y_axis(ax: Any, spec: ChartSpec, *, grid: bool = True) -> None:
    ax.set_ylim(*spec.y_range)
    ax.set_yticks([v for v, _ in spec.y_ticks], labels=[t for _, t in spec.y_ticks])
    if grid:
        ax.yaxis.grid(True, color=GRID, linewidth=1.0)
        ax.set_axisbelow(True)
    if spec.y_label:
        ax.set_ylabel(spec.y_label)


def _right_axis(ax: Any, spec: ChartSpec) -> Any:
    ax2 = ax.twinx()
    ax2.spines["right"].set_visible(True)
    ax2.spines["top"].set_visible(False)
    ax2.set_ylim(*(spec.y2_range or spec.y_range))
    ax2.set_yticks([v for v, _ in spec.y2_ticks], labels=[t for _, t in spec.y2_ticks])
    if spec.y2_label:
        ax2.set_ylabel(spec.y2_label, rotation=270, va="bottom")
    return ax2


# --- legend ----------------------------------------------------------------------------------


def _line_handle(color: str, *, dashed: bool = False, marker: str = "", line: bool = True) -> Any:
    from matplotlib.lines import Line2D  # noqa: PLC0415

    return Line2D(
        [],
        [],
        color=color,
        lw=2.5 if line else 0,
        ls="--" if dashed else "-",
        marker=marker or None,
    )


def _patch_handle(color: str, *, empty: bool = False, edge: str = "none") -> Any:
    from matplotlib.patches import Patch  # noqa: PLC0415

    if empty:
        return Patch(fill=False, ls=":", ec="#999999")
    return Patch(fc=color, ec=edge)


def _legend_entries(spec: ChartSpec, *, floor: bool = False) -> tuple[list[Any], list[str]]:
    """Legend handles and labels: series, swatches, marked points, shaded spans (deduplicated)."""
    handles: list[Any] = []
    labels: list[str] = []

    def add(handle: Any, label: str) -> None:
        if label and label not in labels:
            handles.append(handle)
            labels.append(label)

    for s in spec.series:
        if s.axis == "right" or (not s.stacked and s.x):
            add(_line_handle(s.color, dashed=s.dashed, marker=s.marker), s.label)
        else:
            add(_patch_handle(s.color), s.label)
    for item in spec.legend:
        add(
            _patch_handle(item.color, empty=item.empty, edge="#222222" if floor else "none"),
            item.label,
        )
    for m in spec.markers:
        add(_line_handle(m.color, marker=m.symbol, line=False), m.label)
    for span in spec.spans:
        add(_patch_handle(span.color), span.label)
    return handles, labels


def _legend_columns(labels: Sequence[str], width_px: float) -> int:
    """As many legend entries per row as fit ``width_px`` (measured text, matplotlib's spacing)."""
    fs = LABEL_PX
    item_w = [(LEGEND_HANDLE_W + LEGEND_TEXT_PAD) * fs + _text_box(lb, fs)[0] for lb in labels]
    best = 1
    for ncols in range(1, len(labels) + 1):
        # matplotlib fills the legend column by column
        rows = math.ceil(len(labels) / ncols)
        cols = [item_w[c * rows : (c + 1) * rows] for c in range(math.ceil(len(labels) / rows))]
        if sum(max(c) for c in cols) + (len(cols) - 1) * LEGEND_COL_GAP * fs <= width_px:
            best = ncols
    return best


def _top_legend(ax: Any, handles: list[Any], labels: list[str], ncols: int) -> None:
    """The legend in rows above the plot, under the title (the frame left room for it)."""
    if labels:
        ax.legend(
            handles,
            labels,
            loc="lower left",
            bbox_to_anchor=(0.0, 1.0 + LEGEND_ABOVE),
            ncols=ncols,
            handlelength=LEGEND_HANDLE_W,
            handletextpad=LEGEND_TEXT_PAD,
            handleheight=LEGEND_HANDLE_H,
            labelspacing=LEGEND_SPACING,
            columnspacing=LEGEND_COL_GAP,
            borderaxespad=0.0,
            borderpad=0.0,
        )


# --- chart kinds -----------------------------------------------------------------------------


def _columns(x: np.ndarray, n_cols: int, spec: ChartSpec) -> np.ndarray | None:
    """Start index of each run of points that fall in one pixel column, or None to keep all.

    Only a sorted, finite x longer than :data:`DECIMATE_PER_PX` points per column is thinned.
    """
    if n_cols < 1 or x.size <= DECIMATE_PER_PX * n_cols or not np.isfinite(x).all():
        return None
    if np.any(np.diff(x) < 0):
        return None
    lo, hi = spec.x_range
    if spec.x_log and lo > 0 and hi > 0 and np.all(x > 0):
        pos = (np.log(x) - math.log(lo)) / (math.log(hi) - math.log(lo))
    else:
        pos = (x - lo) / ((hi - lo) or 1.0)
    col = np.clip(np.floor(pos * n_cols), -1, n_cols).astype(np.int64)
    return np.flatnonzero(np.r_[True, col[1:] != col[:-1]])


def _thin_line(x: np.ndarray, y: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Indices to keep of a line: per pixel column its first, last, lowest and highest point.

    The drawn line then has the same extremes in every column as the full one (M4
    decimation); NaN points and their neighbours are kept, so breaks stay where they were.
    """
    n = x.size
    col = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, n]))
    finite = np.isfinite(y)
    order_lo = np.lexsort((np.where(finite, y, np.inf), col))
    order_hi = np.lexsort((np.where(finite, -y, np.inf), col))
    ends = np.r_[starts[1:], n] - 1
    keep = np.zeros(n, dtype=bool)
    keep[starts] = True
    keep[ends] = True
    keep[order_lo[starts]] = True
    keep[order_hi[starts]] = True
    gaps = np.flatnonzero(~finite)
    for shift in (-1, 0, 1):
        keep[np.clip(gaps + shift, 0, n - 1)] = True
    return np.flatnonzero(keep)


def _mean_by(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    counts = np.diff(np.r_[starts, values.size])
    return np.add.reduceat(values, starts) / counts


def _draw_series(ax: Any, spec: ChartSpec, plot_w_px: float) -> None:
    """Stacked areas, lines, shaded spans and marked points of an ``area``/``lines`` chart.

    A series with more points than the plot has pixel columns is thinned to the columns:
    stacked areas to each column's mean (stacking and the area under each layer are kept),
    lines to each column's first, last, lowest and highest point.
    """
    n_cols = int(plot_w_px)
    base: np.ndarray | None = None
    for i, s in enumerate(spec.series):
        if s.axis == "right":
            continue
        gid = _gid(spec.chart_id, "area" if s.stacked else "line", i)
        if s.stacked:
            x = np.asarray(s.x, dtype=np.float64)
            y = np.nan_to_num(np.asarray(s.y, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
            lower = base if base is not None else np.zeros_like(y)
            upper = lower + y
            base = upper
            starts = _columns(x, n_cols, spec)
            if starts is not None:
                x, lower, upper = (_mean_by(v, starts) for v in (x, lower, upper))
            ax.fill_between(
                x,
                lower,
                upper,
                facecolor=s.color,
                alpha=0.85,
                edgecolor=s.color,
                linewidth=0.5,
                gid=gid,
            )
        else:
            _plot_line(ax, s, gid, spec, n_cols)
    for i, span in enumerate(spec.spans):
        ax.axvspan(
            span.lo, span.hi, color=span.color, alpha=0.5, lw=0, gid=_gid(spec.chart_id, "span", i)
        )
    _draw_markers(ax, spec)
    right = [(i, s) for i, s in enumerate(spec.series) if s.axis == "right"]
    if right and spec.y2_range is not None:
        ax2 = _right_axis(ax, spec)
        for i, s in right:
            _plot_line(ax2, s, _gid(spec.chart_id, "line", i), spec, n_cols)


def _plot_line(ax: Any, s: Series, gid: str, spec: ChartSpec, n_cols: int) -> None:
    """One line series (NaN breaks it), dashed and with point markers when the series says so."""
    x = np.asarray(s.x, dtype=np.float64)
    y = np.asarray(s.y, dtype=np.float64)
    starts = None if s.marker or x.size != y.size else _columns(x, n_cols, spec)
    if starts is not None:
        keep = _thin_line(x, y, starts)
        x, y = x[keep], y[keep]
    ax.plot(x, y, color=s.color, lw=2, ls="--" if s.dashed else "-",
            marker=s.marker or None, ms=4, gid=gid)  # fmt: skip


def _draw_markers(ax: Any, spec: ChartSpec) -> None:
    for i, m in enumerate(spec.markers):
        ax.plot(
            [m.x],
            [m.y],
            ls="none",
            marker=m.symbol,
            color=m.color,
            ms=16 if m.symbol == "*" else 8,
            clip_on=False,
            zorder=5,
            gid=_gid(spec.chart_id, "marker", i),
        )
        if m.note:
            ax.annotate(
                m.note,
                (m.x, m.y),
                xytext=(NOTE_DX_PX, 4),
                textcoords="offset points",
                fontsize=TICK_PX,
                color=INK,
            )


def _series_frame(spec: ChartSpec, width_px: float, height_px: float) -> tuple[
        Any, Any, float, list[Any], list[str], int]:  # fmt: skip
    """Figure, axes, plot width and legend of an ``area``/``lines``/``bars`` chart."""
    twin = spec.y2_range is not None and any(s.axis == "right" for s in spec.series)
    ticks = spec.x_ticks
    if spec.kind == "bars":
        ticks = [(i + 0.5, c) for i, c in enumerate(spec.categories)]
    over_l, over_r = _x_overhang(spec, ticks, (0.0, float(len(ticks))) if spec.kind == "bars"
                                 else None)  # fmt: skip
    left = max(_left_px(spec.y_ticks, spec.y_label), over_l)
    right = over_r
    if twin:
        right = max(right, _left_px(spec.y2_ticks, spec.y2_label))
    right = max(right, _spill_px(_note_spill(spec), width_px, left))
    plot_w = width_px - left - right
    handles, labels = _legend_entries(spec)
    ncols, legend_h = _legend_layout(labels, plot_w)
    bottom = _bottom_px(spec, ticks, tick_len=0.0 if spec.kind == "bars" else TICK_LEN_PX)
    top = _top_px(spec.title, legend_h, [] if legend_h else [*spec.y_ticks, *spec.y2_ticks])
    top += LEGEND_ABOVE * height_px if legend_h else 0.0
    fig = _figure(width_px, height_px)
    _title(fig, spec.title)
    ax = _axes(fig, left, bottom, plot_w, height_px - top - bottom)
    return fig, ax, plot_w, handles, labels, ncols


def _series_chart(spec: ChartSpec, width_px: float) -> tuple[Any, dict[str, str]]:
    fig, ax, plot_w, handles, labels, ncols = _series_frame(spec, width_px, HEIGHT_PX)
    _x_axis(ax, spec)
    _y_axis(ax, spec)
    _draw_series(ax, spec, plot_w)
    _top_legend(ax, handles, labels, ncols)
    return fig, {}


def _waterfall(spec: ChartSpec, width_px: float) -> tuple[Any, dict[str, str]]:
    n = len(spec.bars)
    x_lo, x_hi = spec.x_range
    min_w = 0.002 * abs(x_hi - x_lo)
    cats = [(float(i), b.label) for i, b in enumerate(spec.bars)]
    over_l, over_r = _x_overhang(spec)
    left = max(_left_px(cats, "", tick_len=0.0, size_px=LABEL_PX), over_l)
    ends = [max(b.start, b.end, min(b.start, b.end) + min_w) for b in spec.bars]
    reach = [(_frac(e, x_lo, x_hi, spec.x_log), NOTE_DX_PX + _text_box(b.value_text, TICK_PX)[0])
             for e, b in zip(ends, spec.bars, strict=True)]  # fmt: skip
    right = max(over_r, _spill_px(reach, width_px, left))
    top = _top_px(spec.title, 0.0) + GAP_PX
    bottom = _bottom_px(spec)
    plot_h = WATERFALL_ROW_PX * max(n, 1)
    fig = _figure(width_px, top + plot_h + bottom)
    _title(fig, spec.title)
    ax = _axes(fig, left, bottom, width_px - left - right, plot_h)
    _x_axis(ax, spec)
    ax.xaxis.grid(True, color=GRID, linewidth=1.0)
    ax.set_axisbelow(True)
    ax.spines["left"].set_visible(False)
    ax.tick_params(axis="y", length=0, labelsize=LABEL_PX)
    ax.set_yticks(range(n), labels=[b.label for b in spec.bars])
    ax.set_ylim(n - 0.5, -0.5)
    tips: dict[str, str] = {}
    prev_level: float | None = None
    for i, bar in enumerate(spec.bars):
        lo, hi = min(bar.start, bar.end), max(bar.start, bar.end)
        gid = _gid(spec.chart_id, "bar", i)
        ax.barh(i, max(hi - lo, min_w), left=lo, height=0.6, color=bar.color, gid=gid)
        tips[gid] = f"{bar.label}: {bar.value_text}"
        ax.annotate(
            bar.value_text,
            (ends[i], i),
            xytext=(NOTE_DX_PX, 0),
            textcoords="offset points",
            va="center",
            fontsize=TICK_PX,
        )
        if prev_level is not None:
            ax.vlines(prev_level, i - 0.7, i - 0.3, colors=AXIS, linestyles=(0, (2, 2)), lw=1)
        prev_level = bar.start if bar.kind == "loss" else bar.end
    return fig, tips


def _ink_on(color: str) -> str:
    """Dark text on light fills, white on dark ones (WCAG relative luminance)."""
    from matplotlib.colors import to_rgb  # noqa: PLC0415

    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(c) for c in to_rgb(color))
    return "#ffffff" if 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.18 else INK


def _floor(spec: ChartSpec, width_px: float) -> tuple[Any, dict[str, str]]:
    """Racks on the floor to scale: a value heatmap (colour bar) or a categorical floor plan."""
    from matplotlib.patches import Rectangle  # noqa: PLC0415

    x_lo, x_hi = spec.x_range
    y_lo, y_hi = spec.y_range
    x_span = (x_hi - x_lo) or 1.0
    y_span = (y_hi - y_lo) or 1.0
    over_l, over_r = _x_overhang(spec)
    left = max(_left_px(spec.y_ticks, spec.y_label), over_l)
    cb = spec.colorbar
    if cb is not None:
        # the colour bar hangs right of the plot box, from 1.04 to 1.075 of its width
        cb_px = _left_px(cb.ticks, "") + LABEL_PAD_PX + _text_box(cb.label, TICK_PX)[1]
        pw = (width_px - left - cb_px) / (1.0 + COLORBAR_FRAC)
    else:
        right = max(over_r, _spill_px(_note_spill(spec), width_px, left))
        pw = width_px - left - right
    ph = pw * y_span / x_span
    # In a page the plot is at most 320 px tall; a wider drawing (a floor-plan file) is drawn
    # to scale up to a portrait page.
    ph_max = 320.0 if width_px <= WIDTH_PX else 1.2 * width_px
    if ph > ph_max:
        ph = ph_max
        pw = ph * x_span / y_span
    ph = max(ph, 120.0)
    handles, labels = _legend_entries(spec, floor=True)
    ncols, legend_h = _legend_layout(labels, width_px - left - PAD_PX)
    top = _top_px(spec.title, legend_h, [] if legend_h else spec.y_ticks)
    top += LEGEND_ABOVE * ph if legend_h else 0.0
    bottom = _bottom_px(spec)
    fig = _figure(width_px, top + ph + bottom)
    _title(fig, spec.title)
    ax = _axes(fig, left, bottom, pw, ph)
    _x_axis(ax, spec)
    _y_axis(ax, spec, grid=False)
    ax.set_aspect("equal")
    ax.set_anchor("W")
    tips: dict[str, str] = {}
    heat = spec.kind == "heatmap"
    for i, c in enumerate(spec.cells):
        gid = _gid(spec.chart_id, "cell", i)
        xy = (c.x_m - c.width_m / 2, c.y_m - c.depth_m / 2)
        if c.empty:
            patch = Rectangle(xy, c.width_m, c.depth_m, fill=False, ls=":", ec="#999999", lw=0.8)
        else:
            patch = Rectangle(
                xy,
                c.width_m,
                c.depth_m,
                fc=c.color,
                ec="#ffffff" if heat else "#222222",
                lw=0.5 if heat else 0.6,
            )
        patch.set_gid(gid)
        ax.add_patch(patch)
        tips[gid] = c.tooltip
    if spec.outline is not None:
        x0, y0, x1, y1 = spec.outline
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=1.5, ec="#333333"))
    _draw_markers(ax, spec)
    if cb is not None:
        from matplotlib.cm import ScalarMappable  # noqa: PLC0415
        from matplotlib.colors import LinearSegmentedColormap, Normalize  # noqa: PLC0415

        cmap = LinearSegmentedColormap.from_list("kiban", list(cb.stops), N=_CMAP_STEPS)
        # The bar hangs beside the plot box itself (which equal aspect may narrow), not at the
        # far edge of the figure.
        cax = ax.inset_axes((1.0 + COLORBAR_FRAC - 0.035, 0.05, 0.035, 0.9))
        bar = fig.colorbar(ScalarMappable(Normalize(cb.lo, cb.hi), cmap), cax=cax)
        bar.set_ticks([v for v, _ in cb.ticks], labels=[t for _, t in cb.ticks])
        bar.ax.minorticks_off()
        bar.solids.set_edgecolor("face")  # no hairline seams between the colour steps
        bar.outline.set_edgecolor(AXIS)
        bar.outline.set_linewidth(0.5)
        bar.set_label(cb.label, fontsize=TICK_PX)
    if labels:
        _top_legend(ax, handles, labels, ncols)
    _label_cells(ax, spec, pw, ph)
    return fig, tips


def _label_cells(ax: Any, spec: ChartSpec, plot_w_px: float, plot_h_px: float) -> None:
    """Write each rack's label inside it at the largest of :data:`LABEL_SIZES_PX` that fits.

    A label that fits at no size is cut to its first line (the rack name), and if even that
    does not fit, left to the hover tooltip: labels never spill onto a neighbour. Sizes in pixels
    come from the plot box the figure was sized for (equal aspect: one scale for both axes).
    """
    x_lo, x_hi = spec.x_range
    y_lo, y_hi = spec.y_range
    px_per_m = min(plot_w_px / ((x_hi - x_lo) or 1.0), plot_h_px / ((y_hi - y_lo) or 1.0))
    for c in spec.cells:
        if c.empty:
            continue
        w, h = c.width_m * px_per_m, c.depth_m * px_per_m
        lines = (c.label or c.name).split("\n")
        for text_lines in (lines, lines[:1]):
            size = next(
                (
                    px
                    for px in LABEL_SIZES_PX
                    if max(text_width_px(t, px) for t in text_lines) + 4 <= w
                    and len(text_lines) * px * 1.2 + 2 <= h
                ),
                None,
            )
            if size is not None:
                ax.text(
                    c.x_m,
                    c.y_m,
                    "\n".join(text_lines),
                    ha="center",
                    va="center",
                    fontsize=size,
                    color=_ink_on(c.color),
                    linespacing=1.1,
                )
                break


def _bars(spec: ChartSpec, width_px: float) -> tuple[Any, dict[str, str]]:
    fig, ax, _plot_w, handles, labels, ncols = _series_frame(spec, width_px, HEIGHT_PX)
    _y_axis(ax, spec)
    n = max(len(spec.categories), 1)
    ax.set_xlim(0.0, float(n))
    ax.set_xticks([i + 0.5 for i in range(len(spec.categories))], labels=spec.categories)
    ax.tick_params(axis="x", length=0)
    if spec.x_label:
        ax.set_xlabel(spec.x_label)
    stacked = any(s.stacked for s in spec.series)
    n_slots = sum(not s.stacked for s in spec.series) + (1 if stacked else 0)
    slot_w = 0.8 / max(n_slots, 1)
    tips: dict[str, str] = {}
    level = np.zeros(len(spec.categories))
    slot = 0 if stacked else -1
    for j, s in enumerate(spec.series):
        y = np.array(
            [
                v if i < len(s.y) and math.isfinite(v) else 0.0
                for i, v in enumerate(s.y[: len(spec.categories)])
            ]
        )
        y = np.pad(y, (0, len(spec.categories) - y.size))
        if s.stacked:
            left, bottom = 0.1, level.copy()
            level = level + y
        else:
            slot += 1
            left, bottom = 0.1 + slot * slot_w, np.zeros_like(y)
        for i, cat in enumerate(spec.categories):
            gid = _gid(spec.chart_id, "bar", j * len(spec.categories) + i)
            ax.bar(
                i + left, y[i], width=slot_w, bottom=bottom[i], align="edge", color=s.color, gid=gid
            )
            tips[gid] = f"{cat} · {s.label}"
    _top_legend(ax, handles, labels, ncols)
    return fig, tips


_DRAWERS: dict[str, Callable[[ChartSpec, float], tuple[Any, dict[str, str]]]] = {
    "area": _series_chart,
    "lines": _series_chart,
    "waterfall": _waterfall,
    "heatmap": _floor,
    "floorplan": _floor,
    "bars": _bars,
}


# --- SVG output ------------------------------------------------------------------------------

_PROLOGUE = re.compile(r"^.*?(?=<svg\b)", re.DOTALL)
_ROOT = re.compile(r"<svg\b[^>]*>")
_VIEWBOX = re.compile(r'viewBox="([^"]*)"')
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)
_STYLE = re.compile(r"\s*<defs>\s*<style[^>]*>.*?</style>\s*</defs>", re.DOTALL)


PATH_DECIMALS = 1
"""Path coordinates are written to 0.1 px."""
_PATH_CODES = [b"M", b"L", b"Q", b"C", b"z"]
_METRICS: dict[tuple[str, int, Any], tuple[float, float, float]] = {}
"""Text metrics shared by every chart this process draws (string, font, math mode)."""
_METRICS_MAX = 65536


@functools.cache
def _renderer_class() -> type:
    """The SVG renderer of matplotlib, with text metrics cached across figures.

    matplotlib caches metrics per renderer, and every figure gets a new renderer: each chart
    measured its tick labels and legend texts afresh (about 1 ms per string with a CJK font).
    The metrics depend only on the string and the font, so one cache serves every chart.
    """
    from matplotlib import _path  # noqa: PLC0415
    from matplotlib.backends.backend_svg import RendererSVG  # noqa: PLC0415

    class _Renderer(RendererSVG):
        def _convert_path(
            self,
            path: Any,
            transform: Any = None,
            clip: Any = None,
            simplify: Any = None,
            sketch: Any = None,
        ) -> str:
            # RendererSVG's own conversion, at 0.1 px (it writes six decimals): a third of the
            # bytes, and no pass over the text afterwards to shorten them.
            box = (0.0, 0.0, self.width, self.height) if clip else None
            return str(
                _path.convert_to_string(  # type: ignore[attr-defined]
                    path, transform, box, simplify, sketch, PATH_DECIMALS, _PATH_CODES, False
                ).decode("ascii")
            )

        def get_text_width_height_descent(self, s: str, prop: Any, ismath: Any) -> Any:
            key = (s, hash(prop), ismath)
            hit = _METRICS.get(key)
            if hit is None:
                if len(_METRICS) >= _METRICS_MAX:
                    _METRICS.clear()
                hit = _METRICS[key] = super().get_text_width_height_descent(s, prop, ismath)
            return hit

    return _Renderer


def _draw_svg(fig: Any) -> str:
    """The figure as SVG text: what ``savefig(format="svg")`` does, with the cached renderer."""
    from matplotlib.backends.backend_mixed import MixedModeRenderer  # noqa: PLC0415
    from matplotlib.backends.backend_svg import FigureCanvasSVG  # noqa: PLC0415

    FigureCanvasSVG(fig)
    buf = io.StringIO()
    w_in, h_in = fig.get_size_inches()
    meta = {"Date": None, "Creator": None, "Format": None, "Type": None}
    svg = _renderer_class()(w_in * _PT_PER_IN, h_in * _PT_PER_IN, buf, image_dpi=fig.dpi,
                            metadata=meta)  # fmt: skip
    renderer = MixedModeRenderer(fig, w_in, h_in, fig.dpi, svg)
    fig.draw(renderer)
    renderer.finalize()
    return buf.getvalue()


def _svg_text(
    fig: Any, chart_id: str, title: str, kind: str, tips: dict[str, str], *, standalone: bool
) -> str:
    svg = _PROLOGUE.sub("", _draw_svg(fig), count=1)
    svg = _METADATA.sub("", svg, count=1)
    svg = _STYLE.sub("", svg, count=1)
    svg = svg.replace(_mpl_family_css(), "")
    cid = escape(chart_id)
    # Ids are per page: prefix matplotlib's own (figure_1, clip paths, markers) with the chart id.
    svg = re.sub(rf'(\bid="|url\(#|href="#)(?!{re.escape(cid)}-)', rf"\g<1>{cid}-", svg)
    for gid, tip in tips.items():
        svg = svg.replace(f'<g id="{gid}">', f'<g id="{gid}">\n   <title>{escape(tip)}</title>', 1)
    view = _VIEWBOX.search(svg)
    box = view.group(1) if view else f"0 0 {WIDTH_PX} {HEIGHT_PX}"
    # In a page the chart fills its frame; a file opens at its drawn size.
    size = 'width="{}" height="{}"'.format(*box.split()[2:]) if standalone else 'width="100%"'
    root = (
        f'<svg class="chart" id="{cid}" xmlns="http://www.w3.org/2000/svg"'
        + (' xmlns:xlink="http://www.w3.org/1999/xlink"' if standalone else "")
        + f' viewBox="{box}" {size} role="img"'
        f' aria-labelledby="{cid}-title" font-family="{FONT_STACK}" stroke-linejoin="round"'
        f' stroke-linecap="butt" data-kind="{escape(kind)}">\n'
        f' <title id="{cid}-title">{escape(title)}</title>'
    )
    svg = _ROOT.sub(lambda _: root, svg, count=1)
    return svg.rstrip() + "\n"


def _mpl_family_css() -> str:
    """The font-family declaration matplotlib writes on every text (removed: text inherits)."""
    names = [repr(n) for n in _installed_fonts()]
    return "; font-family: " + ", ".join([*names, "sans-serif"])


def render_svg(spec: ChartSpec, *, standalone: bool = False, width_px: float = WIDTH_PX) -> str:
    """Return the chart as an ``<svg class="chart">`` element (a string).

    Args:
        spec: the chart.
        standalone: also declare the xlink namespace, as a separate ``.svg`` file needs.
        width_px: the drawing's width (fonts keep their size: a wider floor plan has room for
            more rack labels).
    """
    with _style():
        fig, tips = _DRAWERS[spec.kind](spec, width_px)
        return _svg_text(fig, spec.chart_id, spec.title, spec.kind, tips, standalone=standalone)


PARALLEL_MIN_CHARTS = 8
"""Fewer charts than this are drawn in this process (a worker process costs about 0.1 s)."""
PARALLEL_MAX_WORKERS = 4


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def chart_workers(n_charts: int) -> int:
    """Processes :func:`render_many` uses for ``n_charts`` charts on this machine (1: none).

    Only cores that are idle now count (usable CPUs less the 1-minute load average): on a
    busy machine, worker processes only add their start-up cost. Workers are forked (they
    inherit the loaded matplotlib and fonts), so only where ``fork`` exists, and never from a
    daemon process (which may not have children).
    """
    import multiprocessing as mp  # noqa: PLC0415

    if n_charts < PARALLEL_MIN_CHARTS or "fork" not in mp.get_all_start_methods():
        return 1
    if mp.current_process().daemon:
        return 1
    cpus = _usable_cpus()
    try:
        idle = int(cpus - os.getloadavg()[0] + 0.5)
    except OSError:  # load average not available
        idle = 1
    return max(1, min(idle, cpus, PARALLEL_MAX_WORKERS, n_charts // 4))


def _render_one(spec: ChartSpec) -> str:
    return render_svg(spec)


def render_many(specs: Sequence[ChartSpec], *, workers: int | None = None) -> list[str]:
    """Draw several charts (e.g. one report's) as :func:`render_svg` does, in parallel if it pays.

    The SVG of each chart is the same bytes whichever process draws it (fixed hash salt, no
    dates, same fonts). Charts are shared out to forked worker processes, one at a time.

    Args:
        specs: the charts.
        workers: processes to use; None: :func:`chart_workers` (1 draws here).

    Returns:
        The SVG of each chart, in the order of ``specs``.
    """
    n = chart_workers(len(specs)) if workers is None else max(1, min(workers, len(specs)))
    if n <= 1:
        return [render_svg(s) for s in specs]
    import concurrent.futures as cf  # noqa: PLC0415
    import multiprocessing as mp  # noqa: PLC0415

    with _style():  # load matplotlib and the font list once, before forking
        _measurer()
    with cf.ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context("fork")) as pool:
        return list(pool.map(_render_one, specs, chunksize=1))


def render_panels_svg(
    chart_id: str, title: str, panels: Sequence[ChartSpec], *, standalone: bool = False
) -> str:
    """Stack ``lines``/``area`` charts that share their x axis into one figure, one above the other.

    Each panel keeps its own y axis and legend (inside the panel); the x axis, its ticks and its
    label come from the last panel.
    """
    if not panels:
        msg = "render_panels_svg: no panels"
        raise ValueError(msg)
    with _style():
        last = panels[-1]
        height_px = 40.0 + PANEL_PX * len(panels)
        left = max(_left_px(p.y_ticks, p.y_label) for p in panels)
        over_l, right = _x_overhang(last)
        left = max(left, over_l)
        for p in panels:
            if p.y2_range is not None and any(s.axis == "right" for s in p.series):
                right = max(right, _left_px(p.y2_ticks, p.y2_label))
        top = _top_px(title, 0.0, panels[0].y_ticks)
        bottom = _bottom_px(last)
        gap = TICK_LEN_PX + 2 * GAP_PX + max(_ticks_h(p.y_ticks) for p in panels)
        plot_w = WIDTH_PX - left - right
        plot_h = (height_px - top - bottom - gap * (len(panels) - 1)) / len(panels)
        fig = _figure(WIDTH_PX, height_px)
        _title(fig, title)
        axes: list[Any] = []
        for k in range(len(panels)):
            y0 = bottom + (len(panels) - 1 - k) * (plot_h + gap)
            axes.append(_axes(fig, left, y0, plot_w, plot_h, sharex=axes[0] if axes else None))
        for k, (ax, spec) in enumerate(zip(axes, panels, strict=True)):
            inner = k < len(panels) - 1
            if not inner:
                _x_axis(ax, spec)
            ax.tick_params(axis="x", labelbottom=not inner)
            _y_axis(ax, spec)
            _draw_series(ax, spec, plot_w)
            handles, labels = _legend_entries(spec)
            if labels:
                ax.legend(
                    handles,
                    labels,
                    loc="best",
                    fontsize=TICK_PX,
                    framealpha=0.9,
                    frameon=True,
                    edgecolor=GRID,
                )
        return _svg_text(fig, chart_id, title, "panels", {}, standalone=standalone)
