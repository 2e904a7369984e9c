"""Build the structured simulation report (:class:`ReportContext`) from result directories."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from kiban._typing import FloatArray
from kiban._version import __version__
from kiban.comparison import FairStats, fair_stats
from kiban.i18n import (
    check_lang,
    format_count,
    format_duration_s,
    format_energy_kwh,
    format_gpu_hours,
    format_jpy,
    format_mass_kg,
    format_number,
    format_percent,
    format_power_w,
    format_temp_c,
    translator,
)
from kiban.i18n.catalog import Translator
from kiban.report._charts import heatmap_chart, heatmap_reading
from kiban.report._load import RunData, load_runs
from kiban.report._scales import (
    PALETTE,
    auto_linear_axis,
    duration_log_axis,
    step_bin_means,
    step_integral,
    time_axis,
    time_unit,
)
from kiban.report.spec import (
    Bar,
    Card,
    ChartSpec,
    ComparisonRow,
    LossLine,
    PolicyCards,
    PolicySection,
    ReportContext,
    ScenarioEcho,
    Series,
    TableCell,
)
from kiban.units import S_PER_H, W_PER_KW, W_PER_MW

LEDGER_BUCKETS: tuple[str, ...] = (
    "idle_no_demand",
    "queue_blocked",
    "io_stall",
    "underused",
    "thermal_throttle",
    "power_cap",
    "failure",
    "checkpoint",
)
"""The lost-GPU-hour buckets of ``summary.json`` ``ledger_gpu_hours``, in waterfall order."""

MAX_TIME_BINS = 240
"""Time series are averaged into at most this many bins per chart."""
CDF_POINTS = 201
"""Quantiles drawn per CDF curve."""
MIN_LAYER_GPUS = 1e-3
"""A GPU state whose count never exceeds this (floating-point residue) is left off the chart."""
NO_WAIT_S = 60.0
"""A job that started within this long after submission counts as not having waited."""

COLOR_CAPACITY = "#6b7280"
COLOR_LOSS = "#D55E00"
COLOR_PRODUCTIVE = "#009E73"
STATE_COLORS: dict[str, str] = {
    "productive": "#009E73",
    "io_stall": "#56B4E9",
    "throttled": "#D55E00",
    "power_capped": "#F0E442",
    "checkpoint": "#0072B2",
    "other_allocated": "#E69F00",
    "failed": "#CC79A7",
    "idle": "#c7ccd4",
}
POWER_COLORS: dict[str, str] = {
    "it": "#0072B2",
    "cooling": "#56B4E9",
    "losses": "#E69F00",
    "pue": "#111111",
    "misc": "#CC79A7",
}

_Fmt = Callable[[float | None, str], str]


def _fmt_pue(value: float | None, lang: str) -> str:
    return format_number(value, lang, 2)


def _fmt_ratio(value: float | None, lang: str) -> str:
    return format_number(value, lang, 2) if value is not None else format_number(None, lang)


def _per_gpu_h(unit_key: str, decimals: int) -> _Fmt:
    def fmt(value: float | None, lang: str) -> str:
        if value is None:
            return format_number(None, lang)
        return f"{format_number(value, lang, decimals)}\u00a0{translator(lang).t(unit_key)}"

    return fmt


# (row key, value key, which way is better, formatter). "context" rows are shown but never
# highlighted: totals that reward doing less work, and JCT over each policy's own finished jobs.
COMPARISON_ROWS: tuple[tuple[str, str, str, _Fmt], ...] = (
    ("effective_util", "effective_util_frac", "higher", format_percent),
    ("allocated_util", "allocated_util_frac", "context", format_percent),
    ("productive_gpu_hours", "gpu_hours_productive", "higher", format_gpu_hours),
    ("finished_share", "finished_frac", "higher", format_percent),
    ("jobs_completed", "jobs_completed", "context", format_count),
    ("jct_common_mean", "common_jct_mean_s", "lower", format_duration_s),
    ("jct_common_p99", "common_jct_p99_s", "lower", format_duration_s),
    ("slowdown_mean", "slowdown_mean", "lower", _fmt_ratio),
    ("jct_mean", "jct_mean_s", "context", format_duration_s),
    ("jct_p50", "jct_p50_s", "context", format_duration_s),
    ("jct_p99", "jct_p99_s", "context", format_duration_s),
    ("wait_mean", "wait_mean_s", "lower", format_duration_s),
    ("preemptions", "preemptions", "context", format_count),
    ("checkpoint_gpu_hours", "checkpoint_gpu_hours", "context", format_gpu_hours),
    ("makespan", "makespan_s", "lower", format_duration_s),
    (
        "energy_per_useful",
        "facility_kwh_per_useful_gpu_h",
        "lower",
        _per_gpu_h("unit.kwh_per_gpu_h", 3),
    ),
    ("cost_per_useful", "cost_jpy_per_useful_gpu_h", "lower", _per_gpu_h("unit.jpy_per_gpu_h", 1)),
    ("co2_per_useful", "co2_kg_per_useful_gpu_h", "lower", _per_gpu_h("unit.kg_per_gpu_h", 3)),
    ("it_energy", "it_energy_kwh", "context", format_energy_kwh),
    ("facility_energy", "facility_energy_kwh", "context", format_energy_kwh),
    ("pue", "pue", "lower", _fmt_pue),
    ("cost", "cost_jpy", "context", format_jpy),
    ("co2", "co2_kg", "context", format_mass_kg),
    ("max_inlet", "max_inlet_temp_c", "lower", format_temp_c),
)
HEADLINE_ROWS: tuple[str, ...] = (
    "effective_util",
    "finished_share",
    "jct_common_mean",
    "energy_per_useful",
    "cost_per_useful",
    "pue",
)


def slug(text: str) -> str:
    """An HTML-id-safe version of ``text``."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"


@dataclass(frozen=True)
class _Series:
    """A run's time series as numpy arrays, one row per distinct time."""

    time_s: FloatArray
    cols: dict[str, FloatArray]
    n_gpus: float

    @property
    def span_s(self) -> float:
        return float(self.time_s[-1] - self.time_s[0]) if self.time_s.size else 0.0

    def col(self, name: str) -> FloatArray:
        return self.cols.get(name, np.zeros_like(self.time_s))

    def mean(self, values: FloatArray, mask: FloatArray | None = None) -> float | None:
        """Time-weighted mean over the run (optionally only where ``mask`` > 0)."""
        dt = np.diff(self.time_s)
        if dt.size == 0:
            return None
        v = np.nan_to_num(values[:-1])
        w = dt if mask is None else dt * (mask[:-1] > 0)
        total = float(w.sum())
        return float((v * w).sum() / total) if total > 0 else None


def _series_of(run: RunData) -> _Series:
    ts = run.timeseries.unique(subset="time_s", keep="last", maintain_order=True)
    if "duration_s" in ts.columns and ts.height:
        # Binned series (kiban.results): time_s is a bin start; close the last bin with a row
        # at its end that repeats its values (a step signal's final row holds for zero time).
        last = ts.tail(1)
        end = last.with_columns(
            (pl.col("time_s").cast(pl.Float64) + pl.col("duration_s").cast(pl.Float64)).alias(
                "time_s"
            )
        )
        if float(end["time_s"][0]) > float(last["time_s"][0]):
            ts = pl.concat([ts, end.cast(ts.schema)], how="vertical")
    time_s = ts["time_s"].cast(pl.Float64).to_numpy()
    cols = {
        c: ts[c].cast(pl.Float64).fill_null(float("nan")).to_numpy()
        for c in ts.columns
        if c != "time_s" and ts[c].dtype.is_numeric()
    }
    n_gpus = run.num("n_gpus")
    if n_gpus is None:
        cap_h = run.num("gpu_hours_capacity")
        span_s = float(time_s[-1] - time_s[0]) if time_s.size > 1 else 0.0
        if cap_h is not None and span_s > 0:
            n_gpus = cap_h * S_PER_H / span_s
        else:
            alloc = cols.get("allocated_gpus", np.zeros(1))
            n_gpus = float(np.nanmax(alloc)) if alloc.size else 0.0
    return _Series(time_s=time_s, cols=cols, n_gpus=float(n_gpus))


def _bins(series: _Series) -> FloatArray:
    n = int(min(MAX_TIME_BINS, max(series.time_s.size - 1, 1)))
    return np.linspace(series.time_s[0], series.time_s[-1], n + 1)


# --- headline and comparison ------------------------------------------------------------------


def fair_values(runs: Sequence[RunData]) -> tuple[list[dict[str, float | None]], FairStats]:
    """Per run, the comparison values computed from the result files (see kiban.comparison).

    Makespan is left out (None) for a run where not every job arrived and finished: a run cut at
    its horizon has the horizon as makespan, whatever the policy did.
    """
    stats = fair_stats([(run.summary, run.jobs) for run in runs])
    out: list[dict[str, float | None]] = []
    for i, run in enumerate(runs):
        ledger = run.summary.get("ledger_gpu_hours")
        ckpt = ledger.get("checkpoint") if isinstance(ledger, dict) else None
        out.append(
            {
                "finished_frac": stats.finished_frac[i],
                "common_jct_mean_s": stats.common_jct_mean_s[i],
                "common_jct_p99_s": stats.common_jct_p99_s[i],
                "slowdown_mean": stats.slowdown_mean[i],
                "checkpoint_gpu_hours": float(ckpt) if isinstance(ckpt, int | float) else None,
                "makespan_s": run.num("makespan_s") if stats.all_finished[i] else None,
                "facility_kwh_per_useful_gpu_h": stats.energy_kwh_per_useful_gpu_h[i],
                "cost_jpy_per_useful_gpu_h": stats.cost_jpy_per_useful_gpu_h[i],
                "co2_kg_per_useful_gpu_h": stats.co2_kg_per_useful_gpu_h[i],
            }
        )
    return out, stats


def _comparison(runs: Sequence[RunData], tr: Translator) -> list[ComparisonRow]:
    lang = tr.lang
    extra, stats = fair_values(runs)
    common_label = {
        "n_jobs": format_count(stats.common_jobs, lang),
        "pct": format_percent(stats.common_frac, lang),
    }
    rows: list[ComparisonRow] = []
    for key, skey, better, fmt in COMPARISON_ROWS:
        values = [
            extra[i][skey] if skey in extra[i] else run.num(skey) for i, run in enumerate(runs)
        ]
        texts = [fmt(v, lang) for v in values]
        if key == "makespan":
            texts = [
                t if stats.all_finished[i] else tr.t("metric.not_all_finished")
                for i, t in enumerate(texts)
            ]
        known = [v for v in values if v is not None]
        best_text = None
        if len(runs) > 1 and known and better != "context":
            best = max(known) if better == "higher" else min(known)
            best_text = texts[values.index(best)]
        best_flags = [best_text is not None and v is not None and t == best_text
                      for t, v in zip(texts, values, strict=True)]  # fmt: skip
        if all(best_flags):  # every policy shows the same value: nothing stands out
            best_flags = [False] * len(best_flags)
        cells = [
            TableCell(text=t, value=v, best=b)
            for t, v, b in zip(texts, values, best_flags, strict=True)
        ]
        rows.append(
            ComparisonRow(
                key=key,
                label=tr.t(f"metric.{key}", **common_label)
                if key.startswith("jct_common")
                else tr.t(f"metric.{key}"),
                better=better,  # type: ignore[arg-type]
                better_text=tr.t(f"metric.better_{better}"),
                cells=cells,
            )
        )
    return rows


def _headline(runs: Sequence[RunData], rows: list[ComparisonRow]) -> list[PolicyCards]:
    by_key = {r.key: r for r in rows}
    out: list[PolicyCards] = []
    for i, run in enumerate(runs):
        cards = [
            Card(key=k, label=by_key[k].label, value_text=by_key[k].cells[i].text,
                 value=by_key[k].cells[i].value)
            for k in HEADLINE_ROWS
        ]  # fmt: skip
        out.append(PolicyCards(policy=run.label, cards=cards))
    return out


# --- per-policy charts ------------------------------------------------------------------------


def _waterfall(
    run: RunData, series: _Series, tr: Translator, chart_id: str
) -> tuple[ChartSpec, list[LossLine]]:
    lang = tr.lang
    ledger_raw = run.summary.get("ledger_gpu_hours")
    ledger = ledger_raw if isinstance(ledger_raw, dict) else {}
    losses = {b: float(ledger.get(b) or 0.0) for b in LEDGER_BUCKETS}
    capacity = run.num("gpu_hours_capacity")
    if capacity is None:
        capacity = series.n_gpus * series.span_s / S_PER_H
    productive = run.num("gpu_hours_productive")
    if productive is None:
        productive = capacity - sum(losses.values())

    def share(v: float) -> str:
        return format_percent(v / capacity if capacity > 0 else None, lang)

    def text(v: float) -> str:
        return f"{format_gpu_hours(v, lang)} ({share(v)})"

    bars = [Bar("capacity", tr.t("bucket.capacity"), 0.0, capacity, "total", COLOR_CAPACITY,
                format_gpu_hours(capacity, lang))]  # fmt: skip
    level = capacity
    lines: list[LossLine] = []
    for b in LEDGER_BUCKETS:
        v = losses[b]
        bars.append(Bar(b, tr.t(f"bucket.{b}"), level - v, level, "loss", COLOR_LOSS, text(v)))
        lines.append(LossLine(b, tr.t(f"bucket.{b}"), format_gpu_hours(v, lang), share(v), v))
        level -= v
    bars.append(Bar("productive", tr.t("bucket.productive"), 0.0, productive, "result",
                    COLOR_PRODUCTIVE, text(productive)))  # fmt: skip

    worst = max(LEDGER_BUCKETS, key=lambda b: losses[b])
    if losses[worst] <= 0:
        reading = tr.t("reading.waterfall_none", capacity=format_gpu_hours(capacity, lang))
    else:
        if worst == "queue_blocked":
            free = gpu_state_layers(series)["idle"]
            free_mean = series.mean(free, mask=series.col("queued_jobs"))
            frag = run.num("fragmentation_gpu_hours") or 0.0
            fields = {"free_gpus": format_count(free_mean, lang)}
            if frag > 0:
                why = tr.t("why.queue_blocked_frag", frag_pct=share(frag), **fields)
            else:
                why = tr.t("why.queue_blocked", **fields)
        else:
            why = tr.t(f"why.{worst}")
        reading = tr.t(
            "reading.waterfall",
            bucket=tr.t(f"bucket.{worst}"),
            pct=share(losses[worst]),
            why=why,
            productive_pct=share(productive),
            capacity=format_gpu_hours(capacity, lang),
        )
    x_range, x_ticks = auto_linear_axis(0.0, capacity if capacity > 0 else 1.0, lang)
    chart = ChartSpec(
        chart_id=chart_id,
        kind="waterfall",
        title=tr.t("chart.waterfall"),
        x_label=tr.t("axis.gpu_hours"),
        y_label="",
        reading=reading,
        x_range=x_range,
        x_ticks=x_ticks,
        bars=bars,
    )
    return chart, lines


def gpu_state_layers(series: _Series) -> dict[str, FloatArray]:
    """Split the GPUs at each instant into states that add up to the GPU count.

    ``productive``, ``io_stall``, ``throttled``, ``power_capped`` and ``checkpoint`` are the
    simulator's weighted shares of allocated GPUs; ``failed_gpus`` counts down GPUs plus GPUs
    restoring after a failure (those are also allocated). So
    ``other_allocated = allocated − named − failed`` (clipped at 0: it is 0 for the simulator's
    own series, where ``allocated = named + restoring``) and ``idle = n_gpus − named − failed −
    other_allocated``, which is also the number of free GPUs.
    """
    named_keys = ("productive", "io_stall", "throttled", "power_capped", "checkpoint")
    named = {k: series.col(f"{k}_gpus") for k in named_keys}
    named_sum = np.sum(list(named.values()), axis=0)
    failed = series.col("failed_gpus")
    other = np.clip(series.col("allocated_gpus") - named_sum - failed, 0.0, None)
    idle = np.clip(series.n_gpus - named_sum - failed - other, 0.0, None)
    return {**named, "other_allocated": other, "failed": failed, "idle": idle}


def _states(series: _Series, tr: Translator, chart_id: str) -> ChartSpec:
    lang = tr.lang
    edges = _bins(series)
    unit_s, unit_name = time_unit(series.span_s, lang)
    centers = (edges[:-1] + edges[1:]) / 2 - series.time_s[0]
    x = [float(v) for v in centers / unit_s]

    def binned(values: FloatArray) -> FloatArray:
        return step_bin_means(series.time_s, values, edges)

    layers = gpu_state_layers(series)
    prod, idle = layers["productive"], layers["idle"]
    out_series = [
        Series(label=tr.t(f"state.{k}"), color=STATE_COLORS[k], x=x,
               y=[float(v) for v in binned(v_)], stacked=True)
        for k, v_ in layers.items()
        if k in {"productive", "idle"} or float(np.nanmax(v_, initial=0.0)) > MIN_LAYER_GPUS
    ]  # fmt: skip
    top = float(np.sum([s.y for s in out_series], axis=0).max(initial=0.0))
    y_range, y_ticks = auto_linear_axis(0.0, max(top, series.n_gpus, 1.0), lang)
    x_range, x_ticks = time_axis(series.span_s / unit_s, lang)
    queued = series.col("queued_jobs")
    peak_i = int(np.nanargmax(queued)) if np.isfinite(queued).any() else 0
    reading = tr.t(
        "reading.states",
        productive=format_count(series.mean(prod), lang),
        n_gpus=format_count(series.n_gpus, lang),
        idle=format_count(series.mean(idle), lang),
        queue_peak=format_count(float(np.nan_to_num(queued[peak_i])), lang),
        peak_time=format_duration_s(float(series.time_s[peak_i] - series.time_s[0]), lang),
    )
    return ChartSpec(
        chart_id=chart_id,
        kind="area",
        title=tr.t("chart.states"),
        x_label=tr.t("axis.time", unit=unit_name),
        y_label=tr.t("axis.gpus"),
        reading=reading,
        x_range=x_range,
        y_range=y_range,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        series=out_series,
    )


def _power(run: RunData, series: _Series, tr: Translator, chart_id: str) -> ChartSpec:
    lang = tr.lang
    edges = _bins(series)
    unit_s, unit_name = time_unit(series.span_s, lang)
    x = [float(v) for v in ((edges[:-1] + edges[1:]) / 2 - series.time_s[0]) / unit_s]
    fac_raw = series.col("facility_power_w")
    peak_w = float(np.nanmax(fac_raw)) if np.isfinite(fac_raw).any() else 0.0
    scale_w, unit_label = (W_PER_MW, "MW") if peak_w >= W_PER_MW else (W_PER_KW, "kW")
    it = step_bin_means(series.time_s, series.col("it_power_w"), edges)
    cool = step_bin_means(series.time_s, series.col("cooling_power_w"), edges)
    loss = step_bin_means(series.time_s, series.col("loss_power_w"), edges)
    misc = step_bin_means(series.time_s, series.col("misc_power_w"), edges)
    fac = step_bin_means(series.time_s, fac_raw, edges)
    with np.errstate(divide="ignore", invalid="ignore"):
        pue = np.where(it > 0, fac / it, np.nan)
    out_series = [
        Series(tr.t("power.it"), POWER_COLORS["it"], x, [float(v) for v in it / scale_w],
               stacked=True),
        Series(tr.t("power.cooling"), POWER_COLORS["cooling"], x,
               [float(v) for v in cool / scale_w], stacked=True),
        Series(tr.t("power.losses"), POWER_COLORS["losses"], x,
               [float(v) for v in loss / scale_w], stacked=True),
        Series(tr.t("power.misc"), POWER_COLORS["misc"], x,
               [float(v) for v in misc / scale_w], stacked=True),
        Series(tr.t("power.pue"), POWER_COLORS["pue"], x, [float(v) for v in pue], axis="right"),
    ]  # fmt: skip
    if not np.nan_to_num(misc).any():
        out_series = [s for s in out_series if s.label != tr.t("power.misc")]
    top = (
        float(np.nanmax(np.concatenate([(it + cool + loss + misc), fac])) / scale_w)
        if it.size
        else 1.0
    )
    y_range, y_ticks = auto_linear_axis(0.0, top if top > 0 else 1.0, lang)
    finite_pue = pue[np.isfinite(pue)]
    p_lo = float(finite_pue.min()) if finite_pue.size else 1.0
    p_hi = float(finite_pue.max()) if finite_pue.size else 2.0
    y2_range, y2_ticks = auto_linear_axis(max(1.0, p_lo - 0.05), p_hi + 0.05, lang, target=4)
    x_range, x_ticks = time_axis(series.span_s / unit_s, lang)
    t_end = np.array([series.time_s[-1]])
    fac_e = float(step_integral(series.time_s, fac_raw, t_end)[0])
    cool_e = float(step_integral(series.time_s, series.col("cooling_power_w"), t_end)[0])
    it_e = float(step_integral(series.time_s, series.col("it_power_w"), t_end)[0])
    pue_mean = run.num("pue")
    if pue_mean is None and it_e > 0:
        pue_mean = fac_e / it_e  # energy-weighted, as the summary defines it
    fields = {
        "mean_power": format_power_w(series.mean(fac_raw), lang),
        "peak_power": format_power_w(peak_w, lang),
        "cooling_pct": format_percent(cool_e / fac_e if fac_e > 0 else None, lang),
        "pue_mean": _fmt_pue(pue_mean, lang),
    }
    if finite_pue.size and _fmt_pue(p_lo, lang) != _fmt_pue(p_hi, lang):
        reading = tr.t(
            "reading.power",
            pue_min=_fmt_pue(p_lo, lang),
            pue_max=_fmt_pue(p_hi, lang),
            **fields,
        )
    else:
        reading = tr.t("reading.power_flat", **fields)
    return ChartSpec(
        chart_id=chart_id,
        kind="area",
        title=tr.t("chart.power"),
        x_label=tr.t("axis.time", unit=unit_name),
        y_label=tr.t("axis.power", unit=unit_label),
        y2_label=tr.t("axis.pue"),
        reading=reading,
        x_range=x_range,
        y_range=y_range,
        y2_range=y2_range,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        y2_ticks=y2_ticks,
        series=out_series,
    )


def _heatmap(run: RunData, tr: Translator, chart_id: str) -> ChartSpec | None:
    if run.racks is None or run.layout is None:
        return None
    agg = (
        run.racks.group_by("rack_idx")
        .agg(pl.col("inlet_temp_c").cast(pl.Float64).max().alias("max_c"))
        .sort("rack_idx")
    )
    idx = agg["rack_idx"].to_list()
    temps = agg["max_c"].to_list()
    keep = [(int(i), t) for i, t in zip(idx, temps, strict=True)
            if i is not None and 0 <= int(i) < len(run.layout) and t is not None]  # fmt: skip
    if not keep:
        return None
    places = [run.layout[i] for i, _ in keep]
    names = [p.name for p in places]
    values = [float(t) for _, t in keep]
    return heatmap_chart(
        chart_id,
        tr.t("chart.heatmap"),
        heatmap_reading(names, values, tr.lang),
        names=names,
        x_m=[p.x_m for p in places],
        y_m=[p.y_m for p in places],
        value_c=values,
        lang=tr.lang,
        colorbar_label=tr.t("chart.heatmap_colorbar"),
        width_m=[p.width_m for p in places],
        depth_m=[p.depth_m for p in places],
    )


# --- distributions ----------------------------------------------------------------------------


def _finite(values: pl.Series) -> FloatArray:
    arr = values.cast(pl.Float64).drop_nulls().to_numpy()
    return np.asarray(arr[np.isfinite(arr)], dtype=np.float64)


def _job_values(run: RunData, column: str) -> FloatArray:
    jobs = run.jobs
    if "completed" in jobs.columns and column == "jct_s":
        jobs = jobs.filter(pl.col("completed").fill_null(value=False))
    return _finite(jobs[column])


def _cdf_chart(
    runs: Sequence[RunData], column: str, tr: Translator, chart_id: str
) -> ChartSpec | None:
    lang = tr.lang
    per_run = [(i, run, _job_values(run, column)) for i, run in enumerate(runs)]
    per_run = [(i, r, v) for i, r, v in per_run if v.size]
    if not per_run:
        return None
    lo = min(float(v.min()) for _, _, v in per_run)
    hi = max(float(v.max()) for _, _, v in per_run)
    x_range, x_ticks = duration_log_axis(lo, hi, lang)
    probs = np.linspace(0.0, 1.0, CDF_POINTS)
    series = [
        Series(run.label, PALETTE[i % len(PALETTE)],
               [float(q) for q in np.maximum(np.quantile(v, probs), x_range[0])],
               [float(p) for p in probs * 100.0])
        for i, run, v in per_run
    ]  # fmt: skip
    y_range, y_ticks = auto_linear_axis(0.0, 100.0, lang)
    if column == "jct_s":
        reading = _jct_reading(per_run, tr)
        title, x_label = tr.t("chart.jct_cdf"), tr.t("axis.jct")
    else:
        reading = _wait_reading(per_run, tr)
        title, x_label = tr.t("chart.wait_cdf"), tr.t("axis.wait")
    return ChartSpec(
        chart_id=chart_id,
        kind="lines",
        title=title,
        x_label=x_label,
        y_label=tr.t("axis.jobs_pct"),
        reading=reading,
        x_range=x_range,
        y_range=y_range,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        x_log=True,
        series=series,
    )


def _stat(run: RunData, key: str, values: FloatArray, q: float | None) -> float:
    given = run.num(key)
    if given is not None:
        return given
    return float(np.mean(values)) if q is None else float(np.quantile(values, q))


def _jct_reading(per_run: list[tuple[int, RunData, FloatArray]], tr: Translator) -> str:
    lang = tr.lang
    p50 = {r.label: _stat(r, "jct_p50_s", v, 0.5) for _, r, v in per_run}
    p99 = {r.label: _stat(r, "jct_p99_s", v, 0.99) for _, r, v in per_run}
    if len(per_run) == 1:
        label = per_run[0][1].label
        return tr.t(
            "reading.jct_one",
            p50=format_duration_s(p50[label], lang),
            p99=format_duration_s(p99[label], lang),
        )
    best = min(p50, key=lambda k: p50[k])
    worst = max(p50, key=lambda k: p50[k])
    return tr.t(
        "reading.jct_many",
        best=best,
        worst=worst,
        best_p50=format_duration_s(p50[best], lang),
        worst_p50=format_duration_s(p50[worst], lang),
        best_p99=format_duration_s(p99[best], lang),
    )


def _wait_reading(per_run: list[tuple[int, RunData, FloatArray]], tr: Translator) -> str:
    lang = tr.lang
    no_wait = {r.label: float(np.mean(v < NO_WAIT_S)) for _, r, v in per_run}
    if len(per_run) == 1:
        _, run, v = per_run[0]
        return tr.t(
            "reading.wait_one",
            no_wait_pct=format_percent(no_wait[run.label], lang),
            p50=format_duration_s(float(np.quantile(v, 0.5)), lang),
            p99=format_duration_s(float(np.quantile(v, 0.99)), lang),
        )
    mean = {r.label: _stat(r, "wait_mean_s", v, None) for _, r, v in per_run}
    best = min(mean, key=lambda k: mean[k])
    worst = max(mean, key=lambda k: mean[k])
    return tr.t(
        "reading.wait_many",
        best=best,
        worst=worst,
        best_mean=format_duration_s(mean[best], lang),
        worst_mean=format_duration_s(mean[worst], lang),
        no_wait_pct=format_percent(no_wait[best], lang),
    )


# --- assembly ---------------------------------------------------------------------------------


def _scenario_echoes(runs: Sequence[RunData], tr: Translator) -> list[ScenarioEcho]:
    echoes: list[ScenarioEcho] = []
    for run in runs:
        if not run.scenario_toml:
            continue
        for echo in echoes:
            if echo.text == run.scenario_toml:
                echo.label = f"{echo.label}, {run.label}"
                break
        else:
            echoes.append(ScenarioEcho(label=run.label, text=run.scenario_toml))
    for echo in echoes:
        echo.summary = tr.t(
            "report.scenario_show",
            policies=echo.label,
            n_lines=format_count(len(echo.text.splitlines()), tr.lang),
        )
    return echoes


CO_OPTIMIZERS: tuple[str, ...] = ("j-dec", "coopt-layers")
"""Policies whose section explains their gain against a baseline run from the ledger."""
STATIC_BASELINE = "fifo-static"
"""The preferred baseline for that explanation (else the first other policy in the report)."""
LEDGER_CHANGE_MIN_GPU_H = 0.5
"""A bucket that changed by less than this is neither "down" nor "up"."""


def _policy(run: RunData) -> str:
    return str(run.summary.get("policy") or run.label)


def _coopt_gain_note(
    run: RunData, runs: Sequence[RunData], energy: list[float | None], tr: Translator
) -> str | None:
    """For a co-optimizer: its gain against the baseline run in plain words, from the ledger."""
    others = [i for i, r in enumerate(runs) if _policy(r) not in CO_OPTIMIZERS]
    if _policy(run) not in CO_OPTIMIZERS or not others:
        return None
    b = next((i for i in others if _policy(runs[i]) == STATIC_BASELINE), others[0])
    base, i = runs[b], runs.index(run)
    lang = tr.lang

    def rel(new: float | None, old: float | None) -> str:
        if new is None or old is None or old <= 0:
            return format_number(None, lang)
        change = new / old - 1.0
        return ("+" if change > 0 else "") + format_percent(change, lang)

    def ledger(r: RunData) -> dict[str, float]:
        raw = r.summary.get("ledger_gpu_hours")
        if not isinstance(raw, dict):
            return {}
        return {k: float(raw.get(k) or 0.0) for k in LEDGER_BUCKETS}

    new, old = ledger(run), ledger(base)
    deltas = {k: new.get(k, 0.0) - old.get(k, 0.0) for k in LEDGER_BUCKETS}
    words = {
        sign: [
            f"{tr.t(f'bucket.{k}')} {'+' if d > 0 else '−'}{format_gpu_hours(abs(d), lang)}"
            for k, d in sorted(deltas.items(), key=lambda kv: -abs(kv[1]))
            if d * sign > LEDGER_CHANGE_MIN_GPU_H
        ]
        for sign in (-1, 1)
    }
    none = tr.t("report.coopt_none")
    sep = "、" if lang == "ja" else ", "
    return tr.t(
        "report.coopt_gain",
        baseline=base.label,
        useful=rel(run.num("gpu_hours_productive"), base.num("gpu_hours_productive")),
        energy=rel(energy[i], energy[b]),
        down=sep.join(words[-1]) or none,
        up=sep.join(words[1]) or none,
    )


def build_context_from_runs(runs: Sequence[RunData], lang: str = "en") -> ReportContext:
    """Build the report context from already-loaded runs (see :func:`build_context`)."""
    tr = translator(check_lang(lang))
    comparison = _comparison(runs, tr)
    energy = fair_values(runs)[1].energy_kwh_per_useful_gpu_h
    sections: list[PolicySection] = []
    losses: dict[str, list[LossLine]] = {}
    for run in runs:
        key = slug(run.label)
        series = _series_of(run)
        charts: list[ChartSpec] = []
        notes: list[str] = []
        gain = _coopt_gain_note(run, runs, energy, tr)
        if gain is not None:
            notes.append(gain)
        waterfall, lines = _waterfall(run, series, tr, f"{key}-waterfall")
        charts.append(waterfall)
        losses[run.label] = lines
        if series.time_s.size >= 2 and series.span_s > 0:
            charts.append(_states(series, tr, f"{key}-states"))
            charts.append(_power(run, series, tr, f"{key}-power"))
        else:
            notes.append(tr.t("report.no_time_data"))
        heat = _heatmap(run, tr, f"{key}-heatmap")
        if heat is None:
            notes.append(tr.t("report.no_rack_data"))
        else:
            charts.append(heat)
        sections.append(
            PolicySection(
                policy=run.label,
                title=tr.t("report.policy_section", policy=run.label),
                anchor=f"policy-{key}",
                charts=charts,
                notes=notes,
            )
        )
    distributions = [
        c
        for c in (
            _cdf_chart(runs, "jct_s", tr, "jct-cdf"),
            _cdf_chart(runs, "wait_s", tr, "wait-cdf"),
        )
        if c is not None
    ]
    dist_notes = [] if distributions else [tr.t("report.no_job_data")]
    scenario_name = str(runs[0].summary.get("scenario_name") or runs[0].path.parent.name)
    labels = {
        k: tr.t(f"report.{k}")
        for k in ("headline", "comparison", "comparison_note", "metric", "distributions",
                  "scenario", "scenario_note", "contents")
    }  # fmt: skip
    labels["footer"] = tr.t("report.footer", version=__version__)
    return ReportContext(
        lang=lang,
        title=tr.t("report.title"),
        subtitle=tr.t(
            "report.subtitle",
            scenario=scenario_name,
            n_policies=len(runs),
            version=__version__,
        ),
        scenario_name=scenario_name,
        policies=[r.label for r in runs],
        labels=labels,
        headline=_headline(runs, comparison),
        comparison=comparison,
        sections=sections,
        distributions=distributions,
        distribution_notes=dist_notes,
        losses=losses,
        scenarios=_scenario_echoes(runs, tr),
        kiban_version=__version__,
    )


def build_context(
    result_dirs: Sequence[Path | str] | Path | str, lang: str = "en"
) -> ReportContext:
    """Read simulation result directories and build the structured report.

    Args:
        result_dirs: one or more directories; each is a policy result (``DIR/<policy>/`` with
            ``summary.json``) or a run directory holding such policy sub-directories.
        lang: ``en`` or ``ja``.

    Returns:
        The :class:`ReportContext`: translated labels, formatted numbers, chart specs and the
        one-line reading of every chart.

    Raises:
        ConfigError: for an unknown language or a directory that holds no results.
        SchemaError: for a result file that is unreadable or lacks a contract column.
    """
    check_lang(lang)
    dirs = [result_dirs] if isinstance(result_dirs, Path | str) else list(result_dirs)
    return build_context_from_runs(load_runs(dirs), lang)
