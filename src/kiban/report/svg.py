"""Draw a :class:`~kiban.report.spec.ChartSpec` as a self-contained inline SVG string.

Hand-built SVG keeps text as ``<text>`` elements (no glyph paths), so Japanese renders with the
reader's CJK font through the font-family stack below, and a chart is a few kilobytes. All
numbers and labels come from the spec; this module only does geometry.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from html import escape

from kiban.report.spec import ChartSpec, Series

FONT_STACK = (
    "'Noto Sans CJK JP', 'Noto Sans JP', 'Hiragino Sans', 'Hiragino Kaku Gothic ProN', "
    "'Yu Gothic', 'Meiryo', 'DejaVu Sans', sans-serif"
)
WIDTH = 760
HEIGHT = 360
TITLE_PX = 15
LABEL_PX = 12
TICK_PX = 11
GRID = "#e5e7eb"
AXIS = "#6b7280"
INK = "#1f2937"


def text_width_px(text: str, size_px: float) -> float:
    """Rough rendered width: CJK and full-width characters ~1 em, others ~0.58 em."""
    wide = sum(1 for ch in text if ord(ch) >= 0x2E80)
    return (wide + 0.58 * (len(text) - wide)) * size_px


def _f(v: float) -> str:
    return f"{v:.1f}"


def _t(  # noqa: PLR0917 (a one-line SVG <text> helper, called ~20 times)
    x: float, y: float, text: str, size: float = TICK_PX, anchor: str = "start", extra: str = ""
) -> str:
    return (
        f'<text x="{_f(x)}" y="{_f(y)}" font-size="{size:g}" text-anchor="{anchor}" '
        f'fill="{INK}"{extra}>{escape(text)}</text>'
    )


class _Frame:
    """Maps data coordinates to the plot rectangle."""

    def __init__(self, x0: float, y0: float, x1: float, y1: float, spec: ChartSpec) -> None:
        self.x0, self.y0, self.x1, self.y1 = x0, y0, x1, y1
        self.spec = spec

    def sx(self, v: float) -> float:
        lo, hi = self.spec.x_range
        if self.spec.x_log:
            lo, hi, v = math.log10(lo), math.log10(hi), math.log10(max(v, self.spec.x_range[0]))
        return self.x0 + (v - lo) / ((hi - lo) or 1.0) * (self.x1 - self.x0)

    def sy(self, v: float) -> float:
        lo, hi = self.spec.y_range
        return self.y1 - (v - lo) / ((hi - lo) or 1.0) * (self.y1 - self.y0)

    def sy2(self, v: float) -> float:
        lo, hi = self.spec.y2_range or self.spec.y_range
        return self.y1 - (v - lo) / ((hi - lo) or 1.0) * (self.y1 - self.y0)


def _open(spec: ChartSpec, width: float, height: float) -> list[str]:
    cid = escape(spec.chart_id)
    return [
        f'<svg class="chart" id="{cid}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width:g} {height:g}" width="100%" role="img" '
        f'aria-labelledby="{cid}-title" font-family="{FONT_STACK}" data-kind="{spec.kind}">',
        f'<title id="{cid}-title">{escape(spec.title)}</title>',
        f'<rect x="0" y="0" width="{width:g}" height="{height:g}" fill="#ffffff"/>',
        _t(12, 22, spec.title, TITLE_PX, extra=' font-weight="600" class="chart-title"'),
    ]


def _legend(series: list[Series], width: float, y: float) -> tuple[list[str], float]:
    """Legend items in rows; returns the SVG and the y below the legend."""
    out: list[str] = []
    x = 12.0
    seen: set[str] = set()
    for s in series:
        if s.label in seen:
            continue
        seen.add(s.label)
        w = 18 + text_width_px(s.label, LABEL_PX) + 16
        if x + w > width - 12 and x > 12:
            x, y = 12.0, y + 18
        if s.axis == "right" or (not s.stacked and s.x):
            dash = ' stroke-dasharray="5 3"' if s.dashed else ""
            out.append(
                f'<line x1="{_f(x)}" y1="{_f(y - 4)}" x2="{_f(x + 14)}" y2="{_f(y - 4)}" '
                f'stroke="{s.color}" stroke-width="2.5"{dash}/>'
            )
        else:
            out.append(
                f'<rect x="{_f(x)}" y="{_f(y - 10)}" width="12" height="12" fill="{s.color}"/>'
            )
        out.append(_t(x + 18, y, s.label, LABEL_PX, extra=' class="legend"'))
        x += w
    return out, y + 12


def _axes(
    fr: _Frame, spec: ChartSpec, width: float, height: float, *, x_ticks: bool = True
) -> list[str]:
    out: list[str] = []
    for v, label in spec.y_ticks:
        y = fr.sy(v)
        out.append(
            f'<line x1="{_f(fr.x0)}" y1="{_f(y)}" x2="{_f(fr.x1)}" y2="{_f(y)}" '
            f'stroke="{GRID}" stroke-width="1"/>'
        )
        out.append(_t(fr.x0 - 6, y + 4, label, anchor="end"))
    if spec.y2_range is not None:
        for v, label in spec.y2_ticks:
            out.append(_t(fr.x1 + 6, fr.sy2(v) + 4, label))
    if x_ticks:
        for v, label in spec.x_ticks:
            x = fr.sx(v)
            out.append(
                f'<line x1="{_f(x)}" y1="{_f(fr.y1)}" x2="{_f(x)}" y2="{_f(fr.y1 + 5)}" '
                f'stroke="{AXIS}"/>'
            )
            out.append(_t(x, fr.y1 + 18, label, anchor="middle"))
    out.append(
        f'<line x1="{_f(fr.x0)}" y1="{_f(fr.y1)}" x2="{_f(fr.x1)}" y2="{_f(fr.y1)}" '
        f'stroke="{AXIS}"/>'
    )
    out.append(
        f'<line x1="{_f(fr.x0)}" y1="{_f(fr.y0)}" x2="{_f(fr.x0)}" y2="{_f(fr.y1)}" '
        f'stroke="{AXIS}"/>'
    )
    if spec.x_label:
        out.append(_t((fr.x0 + fr.x1) / 2, height - 10, spec.x_label, LABEL_PX, "middle",
                      ' class="axis-label"'))  # fmt: skip
    if spec.y_label:
        cy = (fr.y0 + fr.y1) / 2
        out.append(_t(16, cy, spec.y_label, LABEL_PX, "middle",
                      f' class="axis-label" transform="rotate(-90 16 {_f(cy)})"'))  # fmt: skip
    if spec.y2_label and spec.y2_range is not None:
        cy = (fr.y0 + fr.y1) / 2
        x = width - 12
        out.append(_t(x, cy, spec.y2_label, LABEL_PX, "middle",
                      f' class="axis-label" transform="rotate(90 {_f(x)} {_f(cy)})"'))  # fmt: skip
    return out


def _segments(xs: list[float], ys: list[float]) -> list[list[tuple[float, float]]]:
    segs: list[list[tuple[float, float]]] = [[]]
    for x, y in zip(xs, ys, strict=True):
        if math.isfinite(x) and math.isfinite(y):
            segs[-1].append((x, y))
        elif segs[-1]:
            segs.append([])
    return [s for s in segs if s]


def _polyline(pts: list[tuple[float, float]], color: str, dashed: bool, cls: str) -> str:
    dash = ' stroke-dasharray="5 3"' if dashed else ""
    coords = " ".join(f"{_f(x)},{_f(y)}" for x, y in pts)
    return (
        f'<polyline class="{cls}" points="{coords}" fill="none" stroke="{color}" '
        f'stroke-width="2" stroke-linejoin="round"{dash}/>'
    )


def _series_chart(spec: ChartSpec) -> str:
    width, height = WIDTH, HEIGHT
    out = _open(spec, width, height)
    legend, top = _legend(spec.series, width, 46)
    right = 64 if spec.y2_range is not None else 24
    fr = _Frame(70, top + 10, width - right, height - 52, spec)
    out += _axes(fr, spec, width, height)
    base: list[float] | None = None
    for s in spec.series:
        if s.axis == "right":
            continue
        if s.stacked:
            ys = [0.0 if not math.isfinite(v) else v for v in s.y]
            lower = base if base is not None else [0.0] * len(ys)
            upper = [a + b for a, b in zip(lower, ys, strict=True)]
            top_pts = [(fr.sx(x), fr.sy(y)) for x, y in zip(s.x, upper, strict=True)]
            bot_pts = [(fr.sx(x), fr.sy(y)) for x, y in zip(s.x, lower, strict=True)]
            pts = top_pts + bot_pts[::-1]
            coords = " ".join(f"{_f(x)},{_f(y)}" for x, y in pts)
            out.append(
                f'<polygon class="area" points="{coords}" fill="{s.color}" fill-opacity="0.85" '
                f'stroke="{s.color}" stroke-width="0.5"/>'
            )
            base = upper
        else:
            for seg in _segments(s.x, s.y):
                pts = [(fr.sx(x), fr.sy(y)) for x, y in seg]
                out.append(_polyline(pts, s.color, s.dashed, "line"))
    for s in spec.series:
        if s.axis != "right":
            continue
        for seg in _segments(s.x, s.y):
            pts = [(fr.sx(x), fr.sy2(y)) for x, y in seg]
            out.append(_polyline(pts, s.color, s.dashed, "line"))
    out += legend
    out.append("</svg>")
    return "\n".join(out)


def _waterfall(spec: ChartSpec) -> str:
    width = WIDTH
    row_h = 30
    label_w = max((text_width_px(b.label, LABEL_PX) for b in spec.bars), default=80) + 20
    top = 44
    height = top + row_h * len(spec.bars) + 56
    out = _open(spec, width, height)
    fr = _Frame(label_w, top, width - 150, top + row_h * len(spec.bars), spec)
    for v, label in spec.x_ticks:
        x = fr.sx(v)
        out.append(
            f'<line x1="{_f(x)}" y1="{_f(fr.y0)}" x2="{_f(x)}" y2="{_f(fr.y1)}" stroke="{GRID}"/>'
        )
        out.append(_t(x, fr.y1 + 18, label, anchor="middle"))
    out.append(
        f'<line x1="{_f(fr.x0)}" y1="{_f(fr.y1)}" x2="{_f(fr.x1)}" y2="{_f(fr.y1)}" '
        f'stroke="{AXIS}"/>'
    )
    prev_level: float | None = None
    for i, bar in enumerate(spec.bars):
        y = top + i * row_h
        x_a, x_b = fr.sx(min(bar.start, bar.end)), fr.sx(max(bar.start, bar.end))
        w = max(x_b - x_a, 1.0)
        if prev_level is not None:
            xl = fr.sx(prev_level)
            out.append(
                f'<line x1="{_f(xl)}" y1="{_f(y - row_h * 0.2)}" x2="{_f(xl)}" '
                f'y2="{_f(y + row_h * 0.2)}" stroke="{AXIS}" stroke-dasharray="2 2"/>'
            )
        out.append(
            f'<rect class="bar" x="{_f(x_a)}" y="{_f(y + row_h * 0.2)}" width="{_f(w)}" '
            f'height="{_f(row_h * 0.6)}" fill="{bar.color}"><title>{escape(bar.label)}: '
            f"{escape(bar.value_text)}</title></rect>"
        )
        out.append(_t(fr.x0 - 8, y + row_h * 0.62, bar.label, LABEL_PX, "end"))
        out.append(_t(x_a + w + 6, y + row_h * 0.62, bar.value_text, TICK_PX))
        prev_level = bar.start if bar.kind == "loss" else bar.end
    out.append(_t((fr.x0 + fr.x1) / 2, height - 10, spec.x_label, LABEL_PX, "middle",
                  ' class="axis-label"'))  # fmt: skip
    out.append("</svg>")
    return "\n".join(out)


def _heatmap(spec: ChartSpec) -> str:
    width = WIDTH
    top = 44
    x_lo, x_hi = spec.x_range
    y_lo, y_hi = spec.y_range
    x_span = (x_hi - x_lo) or 1.0
    y_span = (y_hi - y_lo) or 1.0
    pw = float(width - 70 - 150)
    ph = pw * y_span / x_span
    if ph > 320:
        ph = 320.0
        pw = ph * x_span / y_span
    ph = max(ph, 120.0)
    height = top + ph + 56
    out = _open(spec, width, height)
    fr = _Frame(70, top, 70 + pw, top + ph, spec)
    out += _axes(fr, spec, width, height)
    for c in spec.cells:
        x = fr.sx(c.x_m - c.width_m / 2)
        y = fr.sy(c.y_m + c.depth_m / 2)
        w = fr.sx(c.x_m + c.width_m / 2) - x
        h = fr.sy(c.y_m - c.depth_m / 2) - y
        out.append(
            f'<rect class="cell" x="{_f(x)}" y="{_f(y)}" width="{_f(max(w, 1.0))}" '
            f'height="{_f(max(h, 1.0))}" fill="{c.color}" stroke="#ffffff" stroke-width="0.5">'
            f"<title>{escape(c.tooltip)}</title></rect>"
        )
        if text_width_px(c.name, TICK_PX) + 4 <= w and h >= TICK_PX + 4:
            out.append(_t(x + w / 2, y + h / 2 + 4, c.name, TICK_PX, "middle",
                          ' class="cell-label" fill-opacity="0.85"'))  # fmt: skip
    cb = spec.colorbar
    if cb is not None:
        gid = f"{escape(spec.chart_id)}-grad"
        bx, by, bw, bh = fr.x1 + 40, top + 20, 14, max(ph - 30, 60)
        stops = "".join(
            f'<stop offset="{i / (len(cb.stops) - 1):.3f}" stop-color="{col}"/>'
            for i, col in enumerate(reversed(cb.stops))
        )
        out.append(f'<defs><linearGradient id="{gid}" x1="0" y1="0" x2="0" y2="1">{stops}'
                   "</linearGradient></defs>")  # fmt: skip
        out.append(
            f'<rect class="colorbar" x="{_f(bx)}" y="{_f(by)}" width="{bw}" height="{_f(bh)}" '
            f'fill="url(#{gid})" stroke="{AXIS}" stroke-width="0.5"/>'
        )
        for v, label in cb.ticks:
            frac = (v - cb.lo) / ((cb.hi - cb.lo) or 1.0)
            ty = by + bh - frac * bh
            out.append(f'<line x1="{_f(bx + bw)}" y1="{_f(ty)}" x2="{_f(bx + bw + 4)}" '
                       f'y2="{_f(ty)}" stroke="{AXIS}"/>')  # fmt: skip
            out.append(_t(bx + bw + 7, ty + 4, label))
        out.append(_t(bx - 6, by - 8, cb.label, TICK_PX, extra=' class="axis-label"'))
    out.append("</svg>")
    return "\n".join(out)


def _bars(spec: ChartSpec) -> str:
    width, height = WIDTH, HEIGHT
    out = _open(spec, width, height)
    legend, top = _legend(spec.series, width, 46)
    fr = _Frame(70, top + 10, width - 24, height - 52, spec)
    out += _axes(fr, spec, width, height, x_ticks=False)
    n = max(len(spec.categories), 1)
    band = (fr.x1 - fr.x0) / n
    side = [s for s in spec.series if not s.stacked]
    n_slots = len(side) + (1 if any(s.stacked for s in spec.series) else 0)
    slot_w = band * 0.8 / max(n_slots, 1)
    for i, cat in enumerate(spec.categories):
        left = fr.x0 + i * band + band * 0.1
        level = 0.0
        slot = 0
        for s in spec.series:
            v = s.y[i] if i < len(s.y) and math.isfinite(s.y[i]) else 0.0
            if s.stacked:
                y_top, y_bot = fr.sy(level + v), fr.sy(level)
                level += v
                x = left
            else:
                slot += 1
                y_top, y_bot = fr.sy(v), fr.sy(0.0)
                x = left + slot * slot_w if any(t.stacked for t in spec.series) else (
                    left + (slot - 1) * slot_w)  # fmt: skip
            out.append(
                f'<rect class="bar" x="{_f(x)}" y="{_f(y_top)}" width="{_f(slot_w)}" '
                f'height="{_f(max(y_bot - y_top, 0.0))}" fill="{s.color}">'
                f"<title>{escape(cat)} · {escape(s.label)}</title></rect>"
            )
        out.append(_t(fr.x0 + (i + 0.5) * band, fr.y1 + 18, cat, anchor="middle"))
    out += legend
    out.append("</svg>")
    return "\n".join(out)


_RENDERERS: dict[str, Callable[[ChartSpec], str]] = {
    "area": _series_chart,
    "lines": _series_chart,
    "waterfall": _waterfall,
    "heatmap": _heatmap,
    "bars": _bars,
}


def render_chart(spec: ChartSpec) -> str:
    """Return the chart as an ``<svg class="chart">`` element (a string)."""
    return _RENDERERS[spec.kind](spec)
