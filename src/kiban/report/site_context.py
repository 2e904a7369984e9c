"""The site-evaluation report: floor heatmap, monthly power breakdown, PUE by month, yearly cost.

It reads any object with the fields of :class:`SiteEvaluationLike` (attributes, or keys of a
mapping), so ``kiban.site.SiteEvaluation`` needs no import from here and the report needs none
from ``kiban.site``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from kiban._typing import FloatArray
from kiban._version import __version__
from kiban.errors import SchemaError
from kiban.i18n import (
    check_lang,
    format_energy_kwh,
    format_jpy,
    format_mass_kg,
    format_number,
    format_percent,
    format_power_w,
    format_temp_c,
    translator,
)
from kiban.report._charts import heatmap_chart, heatmap_reading, stacked_bars_chart
from kiban.report._scales import auto_linear_axis
from kiban.report.context import POWER_COLORS
from kiban.report.html import atomic_write_text, render_site_html
from kiban.report.spec import Card, ChartSpec, Series, SiteReportContext
from kiban.units import J_PER_KWH, W_PER_KW, W_PER_MW

N_MONTHS = 12
FLAT_PUE = 0.005
"""Monthly PUE spread below this reads as "the same all year" (it rounds to one value)."""
FLAT_SHARE_FRAC = 0.001
"""Monthly cooling-share spread below this (0.1 %) reads as "the same every month"."""
JPY_PER_MILLION = 1.0e6


@runtime_checkable
class SiteEvaluationLike(Protocol):
    """The fields the site report reads (as attributes or mapping keys).

    These are the names of ``kiban.site.SiteEvaluation``. Monthly sequences have 12 entries,
    January first; power values are the month's mean.

    Attributes:
        scenario_name: name shown in the title.
        monthly_it_power_w: mean IT power per month (W).
        monthly_cooling_power_w: mean cooling power per month (W).
        monthly_loss_power_w: mean power-chain loss per month (W).
        monthly_pue: PUE per month.
        annual_pue: energy-weighted PUE over the year.
        facility_energy_j: facility energy per year (J).
        cost_jpy: electricity cost per year (JPY).
        co2_kg: CO2 per year (kg).
        rack_names: one name per rack.
        rack_x_m: rack centre x on the floor (m).
        rack_y_m: rack centre y on the floor (m).
        rack_inlet_temp_c: hottest inlet temperature per rack over the year (°C; NaN for a
            rack that breathes no room air, e.g. an immersion tank).

    Optional: ``monthly_misc_power_w`` (12 values; stacked as "other facility loads") and
    ``monthly_cost_jpy`` (12 values; adds a cost-by-month chart).
    """

    scenario_name: str
    monthly_it_power_w: Sequence[float]
    monthly_cooling_power_w: Sequence[float]
    monthly_loss_power_w: Sequence[float]
    monthly_pue: Sequence[float]
    annual_pue: float
    facility_energy_j: float
    cost_jpy: float
    co2_kg: float
    rack_names: Sequence[str]
    rack_x_m: Sequence[float]
    rack_y_m: Sequence[float]
    rack_inlet_temp_c: Sequence[float]


REQUIRED_FIELDS: tuple[str, ...] = tuple(SiteEvaluationLike.__annotations__)
MONTHLY_FIELDS = (
    "monthly_it_power_w",
    "monthly_cooling_power_w",
    "monthly_loss_power_w",
    "monthly_pue",
)
OPTIONAL_MONTHLY_FIELDS = ("monthly_misc_power_w", "monthly_cost_jpy")
_MISSING = object()


def _get(evaluation: Any, name: str) -> Any:
    if isinstance(evaluation, Mapping):
        return evaluation.get(name, _MISSING)
    return getattr(evaluation, name, _MISSING)


def _fields(evaluation: Any) -> dict[str, Any]:
    values = {name: _get(evaluation, name) for name in REQUIRED_FIELDS}
    missing = [k for k, v in values.items() if v is _MISSING]
    if missing:
        msg = (
            f"site evaluation {type(evaluation).__name__} lacks field(s) {', '.join(missing)}; "
            "the site report needs the fields of kiban.report.SiteEvaluationLike"
        )
        raise SchemaError(msg)
    for name in MONTHLY_FIELDS:
        if len(values[name]) != N_MONTHS:
            msg = f"site evaluation: {name} has {len(values[name])} values; expected 12 (Jan..Dec)"
            raise SchemaError(msg)
    n = len(values["rack_names"])
    for name in ("rack_x_m", "rack_y_m", "rack_inlet_temp_c"):
        if len(values[name]) != n:
            msg = f"site evaluation: {name} has {len(values[name])} values; rack_names has {n}"
            raise SchemaError(msg)
    for name in OPTIONAL_MONTHLY_FIELDS:
        got = _get(evaluation, name)
        values[name] = None if got is _MISSING or got is None or len(got) != N_MONTHS else got
    return values


def _bars(label: str, color: str, values: FloatArray) -> Series:
    return Series(label, color, [], [float(v) for v in values], stacked=True)


def build_site_context(evaluation: Any, lang: str = "en") -> SiteReportContext:
    """Build the structured site report from a site evaluation.

    Args:
        evaluation: anything with the fields of :class:`SiteEvaluationLike`.
        lang: ``en`` or ``ja``.

    Raises:
        SchemaError: naming the missing or mis-sized fields.
    """
    tr = translator(check_lang(lang))
    f = _fields(evaluation)
    months = [tr.t(f"month.{m}") for m in range(1, N_MONTHS + 1)]
    it = np.asarray(f["monthly_it_power_w"], dtype=np.float64)
    cool = np.asarray(f["monthly_cooling_power_w"], dtype=np.float64)
    loss = np.asarray(f["monthly_loss_power_w"], dtype=np.float64)
    pue = np.asarray(f["monthly_pue"], dtype=np.float64)
    misc = (
        np.zeros(N_MONTHS)
        if f["monthly_misc_power_w"] is None
        else np.asarray(f["monthly_misc_power_w"], dtype=np.float64)
    )
    names = [str(n) for n in f["rack_names"]]
    temps = [float(t) for t in f["rack_inlet_temp_c"]]
    finite_temps = [t for t in temps if np.isfinite(t)]
    facility_kwh = float(f["facility_energy_j"]) / J_PER_KWH

    cards = [
        Card("annual_pue", tr.t("site.annual_pue"), format_number(f["annual_pue"], lang, 2),
             float(f["annual_pue"])),
        Card("it_power", tr.t("site.it_power"), format_power_w(float(it.mean()), lang),
             float(it.mean())),
        Card("yearly_energy", tr.t("site.yearly_energy"),
             format_energy_kwh(facility_kwh, lang), facility_kwh),
        Card("yearly_cost", tr.t("site.yearly_cost"), format_jpy(f["cost_jpy"], lang),
             float(f["cost_jpy"])),
        Card("yearly_co2", tr.t("site.yearly_co2"), format_mass_kg(f["co2_kg"], lang),
             float(f["co2_kg"])),
        Card("hottest_inlet", tr.t("site.hottest_inlet"),
             format_temp_c(max(finite_temps) if finite_temps else None, lang),
             max(finite_temps) if finite_temps else None),
    ]  # fmt: skip

    charts: list[ChartSpec] = []
    notes: list[str] = []
    if names:
        charts.append(
            heatmap_chart(
                "site-heatmap",
                tr.t("chart.site_heatmap"),
                heatmap_reading(names, temps, lang),
                names=names,
                x_m=[float(x) for x in f["rack_x_m"]],
                y_m=[float(y) for y in f["rack_y_m"]],
                value_c=temps,
                lang=lang,
                colorbar_label=tr.t("chart.heatmap_colorbar"),
            )
        )
    else:
        notes.append(tr.t("report.no_rack_data"))

    facility = it + cool + loss + misc
    peak_w = float(facility.max(initial=0.0))
    scale_w, unit = (W_PER_MW, "MW") if peak_w >= W_PER_MW else (W_PER_KW, "kW")
    share = np.divide(cool, facility, out=np.zeros_like(cool), where=facility > 0)
    lo_m, hi_m = int(np.argmin(share)), int(np.argmax(share))
    year_share = float(cool.sum() / facility.sum()) if facility.sum() > 0 else None
    if float(share.max() - share.min()) < FLAT_SHARE_FRAC:
        power_reading = tr.t(
            "reading.site_power_flat", cooling_pct=format_percent(year_share, lang)
        )
    else:
        power_reading = tr.t(
            "reading.site_power",
            cooling_pct=format_percent(year_share, lang),
            cool_min_pct=format_percent(float(share[lo_m]), lang),
            min_month=months[lo_m],
            cool_max_pct=format_percent(float(share[hi_m]), lang),
            max_month=months[hi_m],
        )
    charts.append(
        stacked_bars_chart(
            "site-power",
            tr.t("chart.site_power"),
            power_reading,
            categories=months,
            series=[
                _bars(tr.t("power.it"), POWER_COLORS["it"], it / scale_w),
                _bars(tr.t("power.cooling"), POWER_COLORS["cooling"], cool / scale_w),
                _bars(tr.t("power.losses"), POWER_COLORS["losses"], loss / scale_w),
                *(
                    [_bars(tr.t("power.misc"), POWER_COLORS["misc"], misc / scale_w)]
                    if misc.any()
                    else []
                ),
            ],
            lang=lang,
            x_label=tr.t("axis.month"),
            y_label=tr.t("axis.power", unit=unit),
        )
    )

    p_lo, p_hi = int(np.nanargmin(pue)), int(np.nanargmax(pue))
    y_range, y_ticks = auto_linear_axis(
        max(1.0, float(np.nanmin(pue)) - 0.05), float(np.nanmax(pue)) + 0.05, lang, target=4
    )
    x = [float(m) for m in range(1, N_MONTHS + 1)]
    pue_annual = format_number(f["annual_pue"], lang, 2)
    if float(np.nanmax(pue) - np.nanmin(pue)) < FLAT_PUE:
        pue_reading = tr.t("reading.site_pue_flat", pue_annual=pue_annual)
    else:
        pue_reading = tr.t(
            "reading.site_pue",
            pue_min=format_number(float(pue[p_lo]), lang, 2),
            min_month=months[p_lo],
            pue_max=format_number(float(pue[p_hi]), lang, 2),
            max_month=months[p_hi],
            pue_annual=pue_annual,
        )
    charts.append(
        ChartSpec(
            chart_id="site-pue",
            kind="lines",
            title=tr.t("chart.site_pue"),
            x_label=tr.t("axis.month"),
            y_label=tr.t("axis.pue"),
            reading=pue_reading,
            x_range=(0.5, N_MONTHS + 0.5),
            y_range=y_range,
            x_ticks=[(m, months[int(m) - 1]) for m in x],
            y_ticks=y_ticks,
            series=[Series(tr.t("metric.pue"), POWER_COLORS["pue"], x, [float(v) for v in pue])],
        )
    )

    if f["monthly_cost_jpy"] is not None and len(f["monthly_cost_jpy"]) == N_MONTHS:
        cost = np.asarray(f["monthly_cost_jpy"], dtype=np.float64)
        c_hi = int(np.argmax(cost))
        charts.append(
            stacked_bars_chart(
                "site-cost",
                tr.t("chart.site_cost"),
                tr.t(
                    "reading.site_cost",
                    yearly_cost=format_jpy(f["cost_jpy"], lang),
                    max_month=months[c_hi],
                    max_cost=format_jpy(float(cost[c_hi]), lang),
                ),
                categories=months,
                series=[_bars(tr.t("metric.cost"), "#0072B2", cost / JPY_PER_MILLION)],
                lang=lang,
                x_label=tr.t("axis.month"),
                y_label=tr.t("axis.cost", unit=tr.t("unit.million_jpy")),
            )
        )

    scenario = str(f["scenario_name"])
    labels = {
        "headline": tr.t("site.headline"),
        "charts": tr.t("site.charts"),
        "footer": tr.t("report.footer", version=__version__),
    }
    return SiteReportContext(
        lang=lang,
        title=tr.t("site.title"),
        subtitle=tr.t("site.subtitle", scenario=scenario, version=__version__),
        scenario_name=scenario,
        labels=labels,
        cards=cards,
        charts=charts,
        notes=notes,
        kiban_version=__version__,
    )


def render_site_report(evaluation: Any, lang: str = "en") -> str:
    """Return the site-evaluation report as one self-contained HTML document.

    Args:
        evaluation: a ``kiban.site.SiteEvaluation`` or anything with the fields of
            :class:`SiteEvaluationLike`.
        lang: ``en`` or ``ja``.
    """
    return render_site_html(build_site_context(evaluation, lang))


def write_site_report(evaluation: Any, out_html: Path | str, lang: str = "en") -> Path:
    """Write :func:`render_site_report` atomically to ``out_html``; return the path."""
    return atomic_write_text(Path(out_html), render_site_report(evaluation, lang))
