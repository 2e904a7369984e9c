"""The one chart stack (kiban.charts): deterministic bytes, text kept as text, floor labels that
fit or fall back to the tooltip, and the planner's figures drawn through the same renderer."""

from __future__ import annotations

import ast
import hashlib
import re
import subprocess
import sys
from pathlib import Path

from kiban.charts import Cell, ChartSpec, LegendItem, Marker, Series, render_svg

_DRAW = """
import hashlib, sys
sys.path.insert(0, {tests!r})
from test_charts import sample_specs
from kiban.charts import render_svg
print(hashlib.sha256("".join(render_svg(s) for s in sample_specs()).encode()).hexdigest())
"""


def sample_specs() -> list[ChartSpec]:
    """A line chart with a right axis and a floor plan with every optional part."""
    lines = ChartSpec(
        chart_id="power", kind="area", title="消費電力", x_label="日", y_label="kW", reading="",
        x_range=(0.0, 2.0), y_range=(0.0, 10.0), y2_range=(1.0, 1.5), y2_label="PUE",
        x_ticks=[(0.0, "0"), (1.0, "1"), (2.0, "2")], y_ticks=[(0.0, "0"), (10.0, "10")],
        y2_ticks=[(1.0, "1.0"), (1.5, "1.5")],
        series=[Series("IT", "#0072B2", [0.0, 1.0, 2.0], [4.0, 5.0, 6.0], stacked=True),
                Series("PUE", "#000000", [0.0, 1.0, 2.0], [1.2, 1.3, 1.2], axis="right")],
    )  # fmt: skip
    cells = [
        Cell("R01", 1.0, 1.0, 0.6, 1.2, 30.0, "#0072B2", "R01: 30 kW", label="R01\n30 kW\n25.0 °C"),
        Cell("R02", 1.6, 1.0, 0.05, 1.2, 30.0, "#0072B2", "R02: 30 kW", label="R02\n30 kW"),
        Cell("R03", 3.0, 1.0, 0.6, 1.2, float("nan"), "none", "R03: empty position", empty=True),
    ]
    floor = ChartSpec(
        chart_id="floor", kind="floorplan", title="hall", x_label="x (m)", y_label="y (m)",
        reading="", x_range=(0.0, 4.0), y_range=(0.0, 2.0), cells=cells,
        x_ticks=[(0.0, "0"), (4.0, "4")], y_ticks=[(0.0, "0"), (2.0, "2")],
        legend=[LegendItem("rear-door-hx", "#0072B2"), LegendItem("empty", "none", empty=True)],
        markers=[Marker("power feed", 0.0, 1.0, "#CC0000", "s", note="feed")],
        outline=(0.0, 0.0, 4.0, 2.0),
    )  # fmt: skip
    return [lines, floor]


def test_same_specs_give_the_same_bytes_in_two_processes():
    """matplotlib salts its clip-path ids per process unless told not to: kiban fixes the salt."""
    code = _DRAW.format(tests=str(Path(__file__).parent))
    digests = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       check=True).stdout.strip()
        for _ in range(2)
    }  # fmt: skip
    assert len(digests) == 1, digests
    here = hashlib.sha256("".join(render_svg(s) for s in sample_specs()).encode()).hexdigest()
    assert digests == {here}


def test_text_stays_text_and_ids_are_per_chart():
    svg = "".join(render_svg(s) for s in sample_specs())
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert "消費電力" in texts
    assert "PUE" in texts
    ids = re.findall(r'\bid="([^"]+)"', svg)
    assert len(ids) == len(set(ids)), "duplicate ids across two charts in one page"
    assert all(i.startswith(("power-", "power", "floor-", "floor")) for i in ids)
    for ref in re.findall(r'(?:url\(#|href="#)([^)"]+)', svg):
        assert ref in ids, ref
    assert "<metadata>" not in svg
    assert "<?xml" not in svg
    assert "matplotlib.org" not in svg


def test_floor_labels_fit_or_fall_back_to_the_tooltip():
    """R01 is wide enough for its label; R02 (5 cm wide) gets no text, only its tooltip."""
    svg = render_svg(sample_specs()[1])
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert "R01" in texts
    assert "30 kW" in texts
    assert "R02" not in texts
    assert "<title>R02: 30 kW</title>" in svg
    assert "<title>R03: empty position</title>" in svg
    assert len(re.findall(r'<g id="floor-cell-\d+">', svg)) == 3
    assert "feed" in texts  # the marker's note
    assert "power feed" in texts  # its legend entry
    assert render_svg(sample_specs()[1], standalone=True).count('xmlns:xlink="') == 1


def test_only_kiban_charts_imports_matplotlib():
    """One charting stack: the reports and the planner describe charts; kiban.charts draws them."""
    src = Path(__file__).resolve().parents[2] / "src" / "kiban"
    drawing = []
    for path in src.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])  # fmt: skip
            if any(n.split(".")[0] == "matplotlib" for n in names):
                drawing.append(path.relative_to(src).as_posix())
    assert drawing, "the check must see kiban.charts' own imports"
    assert {p.split("/")[0] for p in drawing} == {"charts"}, sorted(set(drawing))
