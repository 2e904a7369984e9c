"""Language-free scales for charts: round tick values, colour scales and palettes."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

# ColorBrewer "RdYlBu" (11 classes), reversed so that blue is cool and red is hot.
# Source: Brewer, C. A., colorbrewer2.org (Apache-2.0 style licence).
RDYLBU_R: tuple[str, ...] = (
    "#313695", "#4575b4", "#74add1", "#abd9e9", "#e0f3f8", "#ffffbf",
    "#fee090", "#fdae61", "#f46d43", "#d73027", "#a50026",
)  # fmt: skip

# Okabe & Ito (2008) colour-blind-safe palette, for policies and chart series.
PALETTE: tuple[str, ...] = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
)  # fmt: skip


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten) covering [lo, hi].

    The first tick is ≤ lo and the last ≥ hi, so the axis can use them as limits.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi - lo <= 1e-9 * max(1.0, abs(lo), abs(hi)):  # one value (up to rounding): pad it
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(target, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= raw)
    start = math.floor(lo / step + 1e-9) * step
    stop = math.ceil(hi / step - 1e-9) * step
    n = round((stop - start) / step)
    return [round(start + i * step, 12) + 0.0 for i in range(n + 1)]


def color_at(frac: float, stops: tuple[str, ...] = RDYLBU_R) -> str:
    """Linear interpolation along a colour scale; ``frac`` is clipped to [0, 1]."""
    if not math.isfinite(frac):
        return "#cccccc"
    pos = min(max(frac, 0.0), 1.0) * (len(stops) - 1)
    i = min(int(pos), len(stops) - 2)
    t = pos - i
    a = [int(stops[i][k : k + 2], 16) for k in (1, 3, 5)]
    b = [int(stops[i + 1][k : k + 2], 16) for k in (1, 3, 5)]
    rgb = [round(x + (y - x) * t) for x, y in zip(a, b, strict=True)]
    return "#" + "".join(f"{c:02x}" for c in rgb)


def min_spacing(values: npt.ArrayLike) -> float | None:
    """The smallest gap between distinct positions (to 1 µm), or None if all are equal.

    Floor charts size racks from it, so neighbours never overlap.
    """
    uniq = np.unique(np.round(np.asarray(values, dtype=np.float64), 6))
    gaps = np.diff(uniq)
    gaps = gaps[gaps > 1e-6]
    return float(gaps.min()) if gaps.size else None
