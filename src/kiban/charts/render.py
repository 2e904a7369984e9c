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
    from matplotlib.layout_engine import ConstrainedLayoutEngine  # noqa: PLC0415

    pad_in = 6 / _PT_PER_IN
    return Figure(
        figsize=(width_px / _PT_PER_IN, height_px / _PT_PER_IN),
        layout=ConstrainedLayoutEngine(w_pad=pad_in, h_pad=pad_in),
    )


def _title(fig: Any, title: str) -> None:
    fig.suptitle(title, x=0.012, ha="left", fontsize=TITLE_PX, fontweight="bold", color=INK)


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
    """As many legend entries per row as fit the chart width."""
    item_w = [text_width_px(lb, LABEL_PX) + 40 for lb in labels]
    best = 1
    for ncols in range(1, len(labels) + 1):
        rows = [item_w[i : i + ncols] for i in range(0, len(item_w), ncols)]
        col_w = [max(r[c] for r in rows if c < len(r)) for c in range(ncols)]
        if sum(col_w) <= width_px - 24:
            best = ncols
    return best


def _top_legend(ax: Any, handles: list[Any], labels: list[str], width_px: float) -> None:
    """The legend in rows above the plot, under the title (the layout makes room for it)."""
    if labels:
        ax.legend(
            handles,
            labels,
            loc="lower left",
            bbox_to_anchor=(0.0, 1.02),
            ncols=_legend_columns(labels, width_px),
            handlelength=1.6,
            columnspacing=1.4,
            borderaxespad=0.0,
            borderpad=0.0,
        )


# --- chart kinds -----------------------------------------------------------------------------


def _draw_series(ax: Any, spec: ChartSpec) -> None:
    """Stacked areas, lines, shaded spans and marked points of an ``area``/``lines`` chart."""
    base: np.ndarray | None = None
    for i, s in enumerate(spec.series):
        if s.axis == "right":
            continue
        gid = _gid(spec.chart_id, "area" if s.stacked else "line", i)
        if s.stacked:
            y = np.nan_to_num(np.asarray(s.y, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
            lower = base if base is not None else np.zeros_like(y)
            upper = lower + y
            ax.fill_between(
                s.x,
                lower,
                upper,
                facecolor=s.color,
                alpha=0.85,
                edgecolor=s.color,
                linewidth=0.5,
                gid=gid,
            )
            base = upper
        else:
            _plot_line(ax, s, gid)
    for i, span in enumerate(spec.spans):
        ax.axvspan(
            span.lo, span.hi, color=span.color, alpha=0.5, lw=0, gid=_gid(spec.chart_id, "span", i)
        )
    _draw_markers(ax, spec)
    right = [(i, s) for i, s in enumerate(spec.series) if s.axis == "right"]
    if right and spec.y2_range is not None:
        ax2 = _right_axis(ax, spec)
        for i, s in right:
            _plot_line(ax2, s, _gid(spec.chart_id, "line", i))


def _plot_line(ax: Any, s: Series, gid: str) -> None:
    """One line series (NaN breaks it), dashed and with point markers when the series says so."""
    ax.plot(s.x, s.y, color=s.color, lw=2, ls="--" if s.dashed else "-",
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
                xytext=(6, 4),
                textcoords="offset points",
                fontsize=TICK_PX,
                color=INK,
            )


def _series_chart(spec: ChartSpec, width_px: float) -> tuple[Any, dict[str, str]]:
    fig = _figure(width_px, HEIGHT_PX)
    _title(fig, spec.title)
    ax = fig.add_subplot()
    _x_axis(ax, spec)
    _y_axis(ax, spec)
    _draw_series(ax, spec)
    _top_legend(ax, *_legend_entries(spec), width_px)
    return fig, {}


def _waterfall(spec: ChartSpec, width_px: float) -> tuple[Any, dict[str, str]]:
    n = len(spec.bars)
    fig = _figure(width_px, 44 + 30 * n + 56)
    _title(fig, spec.title)
    ax = fig.add_subplot()
    _x_axis(ax, spec)
    ax.xaxis.grid(True, color=GRID, linewidth=1.0)
    ax.set_axisbelow(True)
    ax.spines["left"].set_visible(False)
    ax.tick_params(axis="y", length=0, labelsize=LABEL_PX)
    ax.set_yticks(range(n), labels=[b.label for b in spec.bars])
    ax.set_ylim(n - 0.5, -0.5)
    min_w = 0.002 * abs(spec.x_range[1] - spec.x_range[0])
    tips: dict[str, str] = {}
    prev_level: float | None = None
    for i, bar in enumerate(spec.bars):
        lo, hi = min(bar.start, bar.end), max(bar.start, bar.end)
        gid = _gid(spec.chart_id, "bar", i)
        ax.barh(i, max(hi - lo, min_w), left=lo, height=0.6, color=bar.color, gid=gid)
        tips[gid] = f"{bar.label}: {bar.value_text}"
        ax.annotate(
            bar.value_text,
            (max(hi, lo + min_w), i),
            xytext=(6, 0),
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
    pw = float(width_px - 70 - 150)
    ph = pw * y_span / x_span
    # In a page the plot is at most 320 px tall; a wider drawing (a floor-plan file) is drawn
    # to scale up to a portrait page.
    ph_max = 320.0 if width_px <= WIDTH_PX else 1.2 * width_px
    if ph > ph_max:
        ph = ph_max
        pw = ph * x_span / y_span
    ph = max(ph, 120.0)
    handles, labels = _legend_entries(spec, floor=True)
    legend_rows = math.ceil(len(labels) / _legend_columns(labels, width_px)) if labels else 0
    fig = _figure(width_px, 44 + ph + 56 + 20 * legend_rows)
    _title(fig, spec.title)
    ax = fig.add_subplot()
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
    cb = spec.colorbar
    if cb is not None:
        from matplotlib.cm import ScalarMappable  # noqa: PLC0415
        from matplotlib.colors import LinearSegmentedColormap, Normalize  # noqa: PLC0415

        cmap = LinearSegmentedColormap.from_list("kiban", list(cb.stops), N=_CMAP_STEPS)
        # The bar hangs beside the plot box itself (which equal aspect may narrow), not at the
        # far edge of the figure.
        cax = ax.inset_axes((1.04, 0.05, 0.035, 0.9))
        bar = fig.colorbar(ScalarMappable(Normalize(cb.lo, cb.hi), cmap), cax=cax)
        bar.set_ticks([v for v, _ in cb.ticks], labels=[t for _, t in cb.ticks])
        bar.ax.minorticks_off()
        bar.solids.set_edgecolor("face")  # no hairline seams between the colour steps
        bar.outline.set_edgecolor(AXIS)
        bar.outline.set_linewidth(0.5)
        bar.set_label(cb.label, fontsize=TICK_PX)
    if labels:
        _top_legend(ax, handles, labels, width_px)
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
    fig = _figure(width_px, HEIGHT_PX)
    _title(fig, spec.title)
    ax = fig.add_subplot()
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
    _top_legend(ax, *_legend_entries(spec), width_px)
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
_PATH_DATA = re.compile(r' d="([^"]*)"')
_LONG_DECIMAL = re.compile(r"(\.\d)\d+")
_STYLE = re.compile(r"\s*<defs>\s*<style[^>]*>.*?</style>\s*</defs>", re.DOTALL)


def _svg_text(
    fig: Any, chart_id: str, title: str, kind: str, tips: dict[str, str], *, standalone: bool
) -> str:
    buf = io.StringIO()
    fig.savefig(
        buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None}
    )
    svg = _PROLOGUE.sub("", buf.getvalue(), count=1)
    svg = _METADATA.sub("", svg, count=1)
    svg = _STYLE.sub("", svg, count=1)
    svg = svg.replace(_mpl_family_css(), "")
    # Path coordinates to 0.1 px (matplotlib writes six decimals): a third of the bytes.
    svg = _PATH_DATA.sub(lambda m: ' d="' + _LONG_DECIMAL.sub(r"\1", m.group(1)) + '"', svg)
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


def render_panels_svg(
    chart_id: str, title: str, panels: Sequence[ChartSpec], *, standalone: bool = False
) -> str:
    """Stack ``lines``/``area`` charts that share their x axis into one figure, one above the other.

    Each panel keeps its own y axis and legend (inside the panel); the x axis, its ticks and its
    label come from the last panel.
    """
    with _style():
        fig = _figure(WIDTH_PX, 40 + 240 * len(panels))
        _title(fig, title)
        axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
        for k, (ax, spec) in enumerate(zip(axes, panels, strict=True)):
            _x_axis(ax, spec, labels=k == len(panels) - 1)
            _y_axis(ax, spec)
            _draw_series(ax, spec)
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
