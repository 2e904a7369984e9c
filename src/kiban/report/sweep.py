"""The report of a sweep folder (``kiban sweep --out DIR``): what each axis does, with CIs.

It reads ``DIR/runs.parquet`` and ``DIR/sweep.json`` only. For each swept axis and each
metric, runs are first averaged over the other axes within each seed (one number per axis
value and seed), then the mean across seeds is shown with its 95 % confidence interval
(Student's t with n − 1 degrees of freedom; no interval from a single seed). Charts (matplotlib
SVG, inline) plot each metric against the swept axis, one line per policy when policies are
swept too, with the confidence band.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import polars as pl

from kiban._version import __version__
from kiban.errors import ConfigError, SchemaError

__all__ = [
    "SWEEP_METRICS",
    "AxisEffect",
    "SweepReport",
    "build_sweep_report",
    "is_sweep_dir",
    "mean_ci95",
    "print_sweep_summary",
    "render_sweep_html",
]

RUNS_TABLE = "runs.parquet"
MANIFEST = "sweep.json"
FIXED = ("run_id", "status", "error", "run_dir", "seed", "run_wall_time_s")

# (column, label en, label ja, scale, unit, better)
SWEEP_METRICS: tuple[tuple[str, str, str, float, str, str], ...] = (
    ("effective_util_frac", "effective utilization", "実効利用率", 0.01, "%", "higher"),
    ("jct_mean_s", "mean JCT", "平均ジョブ完了時間", 3600.0, "h", "lower"),
    ("wait_mean_s", "mean wait", "平均待ち時間", 3600.0, "h", "lower"),
    ("jobs_completed", "jobs completed", "完了ジョブ数", 1.0, "", "higher"),
    ("facility_energy_kwh", "facility energy", "施設電力量", 1000.0, "MWh", "lower"),
    ("pue", "PUE", "PUE", 1.0, "", "lower"),
    ("cost_jpy", "energy cost", "電力コスト", 1.0, "JPY", "lower"),
    ("co2_kg", "CO2", "CO2", 1000.0, "t", "lower"),
    ("max_inlet_temp_c", "hottest inlet", "最高吸気温度", 1.0, "°C", "lower"),
    (
        "ledger_queue_blocked_gpu_hours",
        "lost: queue blocked",
        "損失: 待ち行列",
        1.0,
        "GPU·h",
        "lower",
    ),
    ("ledger_io_stall_gpu_hours", "lost: I/O stall", "損失: I/O 待ち", 1.0, "GPU·h", "lower"),
    (
        "ledger_thermal_throttle_gpu_hours",
        "lost: thermal throttle",
        "損失: 熱スロットリング",
        1.0,
        "GPU·h",
        "lower",
    ),
    ("ledger_power_cap_gpu_hours", "lost: power cap", "損失: 電力キャップ", 1.0, "GPU·h", "lower"),
    ("ledger_failure_gpu_hours", "lost: failures", "損失: 故障", 1.0, "GPU·h", "lower"),
)
"""Metrics the sweep report shows, with their display scale (value / scale) and unit."""

TABLE_METRICS = 6
"""The effects tables show the first this many metrics present; the charts show them all."""

_TEXT = {
    "en": {
        "title": "kiban sweep report",
        "runs": "{ok} of {total} runs ok, {failed} failed, {missing} missing",
        "effects": "Effect of each axis",
        "effects_note": "Mean across seeds ± 95 % confidence interval (Student's t); each "
        "seed's value is first averaged over the other axes. n = seeds.",
        "delta": "difference from {base}, paired by seed (same workload and failures)",
        "charts": "Metrics against {axis}",
        "axes": "Axes",
        "value": "value",
        "failed": "Failed runs",
        "no_ci": "one seed: no interval",
        "written": "sweep report written to {path}",
    },
    "ja": {
        "title": "kiban スイープレポート",
        "runs": "{total} 件中 {ok} 件成功、{failed} 件失敗、{missing} 件未実行",
        "effects": "各軸の効果",
        "effects_note": "シード間の平均 ± 95 % 信頼区間 (t 分布)。各シードの値は他の軸で平均済み。"
        "n = シード数。",
        "delta": "{base} との差 (同じシード同士で対応させた差)",
        "charts": "{axis} に対する指標",
        "axes": "軸",
        "value": "値",
        "failed": "失敗した実行",
        "no_ci": "シード 1 つ: 区間なし",
        "written": "スイープレポートを {path} に書き出しました",
    },
}


def is_sweep_dir(path: Path | str) -> bool:
    """Whether ``path`` is a sweep folder (``runs.parquet`` and ``sweep.json``)."""
    p = Path(path)
    return (p / RUNS_TABLE).is_file() and (p / MANIFEST).is_file()


def mean_ci95(values: list[float] | np.ndarray) -> tuple[float, float | None, int]:
    """Mean, half-width of its 95 % confidence interval (Student's t), and n.

    The half-width is None for fewer than two finite values.

    Examples:
        >>> m, h, n = mean_ci95([1.0, 2.0, 3.0])
        >>> round(m, 3), round(h, 3), n
        (2.0, 2.484, 3)
    """
    from scipy import stats  # noqa: PLC0415

    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    n = int(arr.size)
    if n == 0:
        return math.nan, None, 0
    mean = float(arr.mean())
    if n < 2:
        return mean, None, n
    sem = float(arr.std(ddof=1)) / math.sqrt(n)
    return mean, float(stats.t.ppf(0.975, n - 1)) * sem, n


@dataclass
class EffectCell:
    """One metric at one axis value: mean, CI half-width (None = one seed), seeds."""

    mean: float
    half: float | None
    n: int
    text: str


@dataclass
class AxisEffect:
    """The main effect of one axis: a row per value, a cell per metric."""

    axis: str
    values: list[str]
    metrics: list[str]
    labels: list[str]
    cells: list[list[EffectCell]]
    deltas: list[list[EffectCell]] = field(default_factory=list)
    """Difference from the first value, paired by seed (rows for the 2nd value on)."""


@dataclass
class SweepReport:
    """Everything the sweep report shows."""

    lang: str
    name: str
    scenario_name: str
    path: Path
    subtitle: str
    axes: dict[str, list[Any]]
    effects: list[AxisEffect]
    charts: list[tuple[str, str]]
    chart_axis: str
    failed: list[tuple[str, str, str]]
    text: dict[str, str] = field(default_factory=dict)
    kiban_version: str = __version__


def _digits(mean: float, half: float | None) -> int:
    """Decimals: two significant digits of the interval, or three of the value without one."""
    if half is not None and half > 0:
        return max(0, min(6, 1 - math.floor(math.log10(half))))
    if mean == 0 or not math.isfinite(mean):
        return 3
    return max(0, min(6, 2 - math.floor(math.log10(abs(mean)))))


def _fmt(mean: float, half: float | None, scale: float, unit: str) -> str:
    if not math.isfinite(mean):
        return "–"
    v = mean / scale
    h = None if half is None else half / scale
    digits = _digits(v, h)
    text = f"{v:,.{digits}f}"
    if h is not None:
        text += f" ± {h:,.{digits}f}"
    return f"{text} {unit}".rstrip()


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _load(path: Path) -> tuple[pl.DataFrame, dict[str, Any]]:
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        runs = pl.read_parquet(path / RUNS_TABLE)
    except (OSError, ValueError, pl.exceptions.PolarsError) as err:
        msg = f"{path}: cannot read the sweep ({type(err).__name__}: {err})"
        raise SchemaError(msg) from err
    if not isinstance(manifest, dict) or not isinstance(manifest.get("axes"), dict):
        msg = f"{path / MANIFEST}: not a kiban sweep manifest (no axes)"
        raise SchemaError(msg)
    for col in ("run_id", "status", "seed"):
        if col not in runs.columns:
            msg = f"{path / RUNS_TABLE}: missing column {col}; written by `kiban sweep`"
            raise SchemaError(msg)
    return runs, manifest


def _per_seed(ok: pl.DataFrame, by: list[str], metric: str) -> pl.DataFrame:
    """Average over every other axis within a seed: one row per (by..., seed)."""
    return ok.group_by([*by, "seed"], maintain_order=True).agg(pl.col(metric).mean())


def _effect(ok: pl.DataFrame, axis: str, values: list[Any], metrics: list[tuple]) -> AxisEffect:
    cells: list[list[EffectCell]] = []
    deltas: list[list[EffectCell]] = []
    per_seed = {m[0]: _per_seed(ok, [axis], m[0]) for m in metrics}
    for i, value in enumerate(values):
        row: list[EffectCell] = []
        delta: list[EffectCell] = []
        for col, *_rest in metrics:
            scale, unit = _rest[2], _rest[3]
            table = per_seed[col]
            seeds = table.filter(pl.col(axis) == value)
            mean, half, n = mean_ci95(seeds[col].cast(pl.Float64).to_numpy())
            row.append(EffectCell(mean, half, n, _fmt(mean, half, scale, unit)))
            if i:  # paired by seed: the same seed's runs share the workload and the failures
                base = table.filter(pl.col(axis) == values[0]).select(
                    "seed", pl.col(col).alias("b")
                )
                both = seeds.join(base, on="seed", how="inner")
                diff = (both[col].cast(pl.Float64) - both["b"].cast(pl.Float64)).to_numpy()
                d_mean, d_half, d_n = mean_ci95(diff)
                text = _fmt(d_mean, d_half, scale, unit)
                delta.append(EffectCell(d_mean, d_half, d_n, text if d_mean < 0 else "+" + text))
        cells.append(row)
        if i:
            deltas.append(delta)
    return AxisEffect(
        axis=axis,
        values=[_value_text(v) for v in values],
        metrics=[m[0] for m in metrics],
        labels=[m[1] for m in metrics],
        cells=cells,
        deltas=deltas,
    )


def _is_numeric(values: list[Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


_PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")


def _chart_svg(
    ok: pl.DataFrame,
    metric: tuple[str, str, str, float, str, str],
    *,
    x_axis: str,
    x_values: list[Any],
    group: str | None,
    lang: str,
) -> str:
    """One metric against the swept axis (SVG text), with 95 % CI bands across seeds."""
    from kiban.charts.ci import CiSeries, ci_chart_svg  # noqa: PLC0415 (matplotlib is slow)

    col, label_en, label_ja, scale, unit, better = metric
    label = label_ja if lang == "ja" else label_en
    numeric = _is_numeric(x_values)
    xs = [float(v) for v in x_values] if numeric else [float(i) for i in range(len(x_values))]
    groups = ok[group].unique(maintain_order=True).to_list() if group else [None]
    by = [x_axis, group] if group else [x_axis]
    per_seed = _per_seed(ok, by, col)
    series = []
    for i, g in enumerate(groups):
        means, lows, highs = [], [], []
        for v in x_values:
            sel = per_seed.filter(pl.col(x_axis) == v)
            if group:
                sel = sel.filter(pl.col(group) == g)
            mean, half, _ = mean_ci95(sel[col].cast(pl.Float64).to_numpy())
            means.append(mean / scale)
            h = (half or 0.0) / scale
            lows.append(mean / scale - h)
            highs.append(mean / scale + h)
        name = str(g) if group else label
        series.append(CiSeries(name, _PALETTE[i % len(_PALETTE)], means, lows, highs))
    arrow = "↑" if better == "higher" else "↓"
    return ci_chart_svg(
        series,
        xs,
        tick_labels=None if numeric else [_value_text(v) for v in x_values],
        x_label=x_axis,
        y_label=f"{label} ({unit})" if unit else label,
        title=f"{label} ({arrow} better) vs {x_axis}",
        legend_title=group if group else None,
    )


def build_sweep_report(path: Path | str, lang: str = "en") -> SweepReport:
    """Read a sweep folder and compute the effects and charts.

    Raises:
        ConfigError: not a sweep folder, or no finished run to report.
        SchemaError: unreadable files.
    """
    path = Path(path)
    if not is_sweep_dir(path):
        msg = f"{path}: no {RUNS_TABLE} and {MANIFEST}; expected the --out folder of `kiban sweep`"
        raise ConfigError(msg)
    runs, manifest = _load(path)
    text = _TEXT.get(lang, _TEXT["en"])
    ok = runs.filter(pl.col("status") == "ok")
    total = runs.height
    n_ok = ok.height
    n_failed = runs.filter(pl.col("status") == "failed").height
    if n_ok == 0:
        msg = f"{path}: no finished run yet ({total} planned); run `kiban sweep` first"
        raise ConfigError(msg)
    axes: dict[str, list[Any]] = {}
    for key, values in manifest["axes"].items():
        if key in runs.columns:  # distinct values, in order (paired sweeps repeat them)
            seen = {json.dumps(v, sort_keys=True): v for v in values}
            axes[key] = list(seen.values())
    metrics = [m for m in SWEEP_METRICS if m[0] in ok.columns]
    swept = [k for k, v in axes.items() if len(v) > 1]
    effects = [_effect(ok, a, axes[a], metrics[:TABLE_METRICS]) for a in swept]
    numeric = [a for a in swept if _is_numeric(axes[a])]
    x_axis = numeric[0] if numeric else (swept[0] if swept else "")
    others = [a for a in swept if a != x_axis]
    group = "policy" if "policy" in others else (others[0] if others else None)
    charts: list[tuple[str, str]] = []
    if x_axis:
        for m in metrics:
            charts.append(
                (
                    m[0],
                    _chart_svg(ok, m, x_axis=x_axis, x_values=axes[x_axis], group=group, lang=lang),
                )
            )
    failed = [
        (str(r["run_id"]), str(r.get("error", "")), str(r.get("run_dir", "")))
        for r in runs.filter(pl.col("status") == "failed").iter_rows(named=True)
    ]
    subtitle = text["runs"].format(
        ok=n_ok, total=total, failed=n_failed, missing=total - n_ok - n_failed
    )
    return SweepReport(
        lang=lang,
        name=str(manifest.get("name", path.name)),
        scenario_name=str(manifest.get("scenario_name", "")),
        path=path,
        subtitle=subtitle,
        axes=axes,
        effects=effects,
        charts=charts,
        chart_axis=x_axis,
        failed=failed,
        text=text,
    )


def render_sweep_html(report: SweepReport) -> str:
    """The sweep report as one self-contained HTML page (inline CSS and SVG, no network)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("kiban.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template("sweep.html.j2").render(r=report)


def print_sweep_summary(report: SweepReport, console: Any) -> None:
    """Print the effects tables to a rich console (the same strings as the HTML)."""
    from rich.markup import escape  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    console.print(escape(f"{report.name}: {report.subtitle}"), soft_wrap=True)
    for e in report.effects:
        table = Table(title=escape(f"{report.text['effects']}: {e.axis}"), title_justify="left")
        table.add_column(escape(report.text["value"]))
        for label in e.labels:
            table.add_column(escape(label), justify="right")
        table.add_column("n", justify="right")
        for value, row in zip(e.values, e.cells, strict=True):
            table.add_row(escape(value), *[escape(c.text) for c in row], str(row[0].n))
        console.print(table)
        if e.deltas:
            title = report.text["delta"].format(base=e.values[0])
            table = Table(title=escape(f"{e.axis}: {title}"), title_justify="left")
            table.add_column(escape(report.text["value"]))
            for label in e.labels:
                table.add_column(escape(f"Δ {label}"), justify="right")
            table.add_column("n", justify="right")
            for value, row in zip(e.values[1:], e.deltas, strict=True):
                table.add_row(escape(value), *[escape(c.text) for c in row], str(row[0].n))
            console.print(table)
    for run_id, error, _ in report.failed:
        console.print(escape(f"failed {run_id}: {error}"), soft_wrap=True)
