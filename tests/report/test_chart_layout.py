"""The charts' fixed layout (no layout engine): every text inside the figure, the plot as large
as the texts allow, long series thinned to the pixel columns, and the same bytes from
``render_many`` in worker processes as from ``render_svg`` here."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

from kiban.charts import (
    Bar,
    Cell,
    ChartSpec,
    ColorBar,
    LegendItem,
    Marker,
    Series,
    render_many,
    render_panels_svg,
    render_svg,
)
from kiban.charts import render as R

LONG_JA = "ジョブ内の遊休（ホスト処理・通信・評価）"


def _ticks(values: list[float], fmt: str = "{:,.0f}") -> list[tuple[float, str]]:
    return [(v, fmt.format(v)) for v in values]


def layout_specs() -> list[ChartSpec]:
    """One chart of every kind, with long labels where they are hardest to fit."""
    x = [0.0, 10.0, 20.0, 30.0]
    area = ChartSpec(
        chart_id="area", kind="area", title="消費電力と PUE（右軸）の推移、30 日間",
        x_label="開始からの時間（日）", y_label="電力（kW）", reading="", y2_label="PUE（右軸）",
        x_range=(0.0, 30.0), y_range=(0.0, 500_000.0), y2_range=(1.0, 1.5),
        x_ticks=_ticks(x), y_ticks=_ticks([0.0, 250_000.0, 500_000.0]),
        y2_ticks=[(1.0, "1.00"), (1.5, "1.50")],
        series=[Series("IT 機器", "#0072B2", x, [1e5, 2e5, 3e5, 2e5], stacked=True),
                Series("冷却", "#56B4E9", x, [5e4, 5e4, 6e4, 5e4], stacked=True),
                Series("PUE（右軸）", "#000000", x, [1.2, 1.3, 1.2, 1.25], axis="right")],
    )  # fmt: skip
    lines = ChartSpec(
        chart_id="cdf", kind="lines", title="Distribution of job completion time (JCT)",
        x_label="Job completion time (log scale)", y_label="Share of jobs (%)", reading="",
        x_range=(1.0, 1e7), y_range=(0.0, 100.0), x_log=True,
        x_ticks=[(1.0, "1 s"), (3600.0, "1 h"), (1e7, "116 days")], y_ticks=_ticks([0, 50, 100]),
        series=[Series(f"policy-{i}", "#0072B2", [1.0, 1e3, 1e7], [0.0, 50.0, 100.0])
                for i in range(7)],
        markers=[Marker("best", 1e7, 100.0, "#CC0000", "*", note="the slowest job, 116 days")],
    )  # fmt: skip
    waterfall = ChartSpec(
        chart_id="wf", kind="waterfall", title="GPU 時間の内訳：総容量から有効稼働まで",
        x_label="GPU 時間", y_label="", reading="", x_range=(0.0, 400_000.0),
        x_ticks=_ticks([0.0, 200_000.0, 400_000.0]),
        bars=[Bar("cap", "総容量", 0.0, 400_000.0, "total", "#6b7280",
                  "400,000 GPU 時間 (100.0%)"),
              Bar("idle", LONG_JA, 400_000.0, 100_000.0, "loss", "#D55E00",
                  "300,000 GPU 時間 (75.0%)"),
              Bar("prod", "有効稼働", 0.0, 100_000.0, "result", "#009E73", "100,000 GPU 時間")],
    )  # fmt: skip
    cells = [Cell(f"R{i:02d}", 1.0 + i, 2.0, 0.6, 1.2, 20.0 + i, "#4575b4", f"R{i:02d}")
             for i in range(8)]  # fmt: skip
    heat = ChartSpec(
        chart_id="heat", kind="heatmap", title="Rack inlet temperature over the floor",
        x_label="Floor position x (m)", y_label="Floor position y (m)", reading="",
        x_range=(0.0, 10.0), y_range=(0.0, 4.0), x_ticks=_ticks([0, 5, 10]),
        y_ticks=_ticks([0, 2, 4]), cells=cells,
        colorbar=ColorBar("ラック吸気温度の最高値（°C）", 18.0, 28.0, ["#313695", "#a50026"],
                          _ticks([18, 23, 28])),
    )  # fmt: skip
    floor = ChartSpec(
        chart_id="floor", kind="floorplan", title="hall", x_label="x (m)", y_label="y (m)",
        reading="", x_range=(0.0, 10.0), y_range=(0.0, 4.0), cells=cells,
        x_ticks=_ticks([0, 10]), y_ticks=_ticks([0, 4]),
        legend=[LegendItem(f"cooling option {i} (rear-door heat exchanger)", "#0072B2")
                for i in range(5)],
        markers=[Marker("power feed", 10.0, 2.0, "#CC0000", "s", note="feed from the substation")],
    )  # fmt: skip
    bars = ChartSpec(
        chart_id="bars", kind="bars", title="Monthly energy", x_label="月", y_label="MWh",
        reading="", x_range=(0.0, 12.0), y_range=(0.0, 1000.0), y_ticks=_ticks([0, 500, 1000]),
        categories=[f"{m}月" for m in range(1, 13)],
        series=[Series("IT", "#0072B2", [], [500.0] * 12, stacked=True),
                Series("冷却", "#56B4E9", [], [300.0] * 12, stacked=True)],
    )  # fmt: skip
    return [area, lines, waterfall, heat, floor, bars]


def _figure_and_margins(spec: ChartSpec) -> tuple[float, float, float, float]:
    """Blank px left, bottom, right and top of the drawn content of ``spec``'s figure."""
    with R._style():
        fig, _tips = R._DRAWERS[spec.kind](spec, R.WIDTH_PX)
        w, h = fig.get_size_inches() * 72
        box = fig.get_tightbbox(R._renderer_class()(w, h, io.StringIO()))
        return box.x0 * 72, box.y0 * 72, w - box.x1 * 72, h - box.y1 * 72


@pytest.mark.parametrize("spec", layout_specs(), ids=lambda s: s.chart_id)
def test_every_text_is_inside_the_figure_and_the_plot_fills_it(spec):
    """Margins come from measured text: nothing is cut off, and no more room than needed is left
    (the widest text on the left and the lowest at the bottom reach the 6 px border)."""
    left, bottom, right, top = _figure_and_margins(spec)
    for side, blank in (("left", left), ("bottom", bottom), ("right", right), ("top", top)):
        assert blank >= R.PAD_PX - 0.5, f"{spec.chart_id}: text leaves the figure at the {side}"
    assert left <= R.PAD_PX + 2.0, f"{spec.chart_id}: {left:.1f} px unused on the left"
    assert bottom <= R.PAD_PX + 2.0, f"{spec.chart_id}: {bottom:.1f} px unused at the bottom"


def test_panels_keep_their_text_inside():
    a, b = layout_specs()[:2]
    svg = render_panels_svg("p", "two panels", [a, b])
    assert 'id="p-title"' in svg
    assert len(re.findall(r'<g id="p-axes_\d+">', svg)) >= 2


def _line_vertices(svg: str, gid: str) -> int:
    group = svg.split(f'<g id="{gid}">', 1)[1].split("</g>", 1)[0]
    path = re.search(r' d="([^"]*)"', group)
    assert path is not None
    return len(re.findall(r"[ML]", path.group(1)))


def test_a_long_series_is_thinned_to_the_pixel_columns_with_its_extremes():
    """10^5 points (a GPU-state series of a long run) do not need 10^5 vertices in the SVG; the
    thinned line keeps every column's lowest and highest value, so a one-sample spike shows."""
    n = 100_000
    x = np.linspace(0.0, 30.0, n)
    y = 300.0 + 50.0 * np.sin(x)
    y[54_321] = 990.0  # a spike one sample wide
    spec = ChartSpec(
        chart_id="big", kind="lines", title="GPUs busy", x_label="day", y_label="GPUs",
        reading="", x_range=(0.0, 30.0), y_range=(0.0, 1000.0), x_ticks=_ticks([0, 15, 30]),
        y_ticks=_ticks([0, 500, 1000]),
        series=[Series("busy", "#0072B2", x.tolist(), y.tolist())],
    )  # fmt: skip
    svg = render_svg(spec)
    n_vertices = _line_vertices(svg, "big-line-0")
    assert n_vertices <= 4 * R.WIDTH_PX, n_vertices
    keep = R._thin_line(x, y, R._columns(x, 700, spec))
    assert y[keep].max() == 990.0
    assert y[keep].min() == y.min()
    assert keep[0] == 0
    assert keep[-1] == n - 1
    # a series with up to two points per pixel column is drawn as it is
    assert R._columns(x[:1400], 700, spec) is None
    assert R._columns(x[:1401], 700, spec) is not None


def test_thinned_stacked_areas_keep_their_order_and_nan_breaks_lines():
    x = np.linspace(0.0, 1.0, 20_000)
    y = np.where(x > 0.5, np.nan, x)
    spec = ChartSpec(chart_id="t", kind="lines", title="", x_label="", y_label="", reading="",
                     x_range=(0.0, 1.0), y_range=(0.0, 1.0))  # fmt: skip
    keep = R._thin_line(x, y, R._columns(x, 500, spec))
    first_nan = int(np.argmax(np.isnan(y)))
    assert first_nan in keep
    assert first_nan - 1 in keep
    starts = R._columns(x, 500, spec)
    lower = R._mean_by(np.full_like(x, 1.0), starts)
    upper = R._mean_by(1.0 + x, starts)
    assert np.all(upper >= lower)


def test_render_many_in_worker_processes_gives_the_same_bytes():
    specs = layout_specs() * 2
    here = [render_svg(s) for s in specs]
    assert render_many(specs, workers=2) == here
    assert render_many(specs, workers=1) == here
