"""The co-optimizer's ablation tables (docs/cooptimizer.md) from ``kiban sweep`` folders.

Usage (the §11.3 factorial on the six §11.2 scenarios, 1 simulated day each):

    for s in power-tight hot-season io-heavy recirculation llm-heavy crac-failure; do
        kiban sweep examples/sweeps/ablation-$s.toml --out sweep-ablation-$s
        kiban sweep examples/sweeps/ablation-$s-joint.toml --out sweep-ablation-$s-joint
        kiban sweep examples/sweeps/ablation-$s-reference.toml --out sweep-ablation-$s-reference
    done
    .venv/bin/python scripts/coopt_ablation.py sweep-ablation-* [--json OUT.json]

The older 4-day sweeps (ablation-layers.toml, ablation-joint.toml, ablation-oversub*.toml) go
through the same script: ``scripts/coopt_ablation.py sweep-ablation-layers
sweep-ablation-joint --oversub sweep-ablation-oversub sweep-ablation-oversub-joint``.

A run's scenario is the one its sweep is named after (``coopt-ablation-<scenario>`` or
``coopt-ablation-<scenario>-joint``, from the folder's ``sweep.json``); runs of the older sweeps
are named from their axes (a site budget → ``power-tight``, a filer under 10 GB/s →
``io-heavy``, else ``demo``). A run's configuration is ``joint`` (policy ``j-dec``) or its
``coopt-layers`` switches: ``static`` (all off), one layer's name, ``all layers`` (the
sequential stack) or the layers that are on joined by ``+``. Per scenario it prints, as markdown:

1. the §11.3 table: static, each layer alone, trim-and-respond cooling alone (the reference
   sweeps ``ablation-<scenario>-reference.toml``), the sequential stack, the stack minus each
   layer, the best of the factorial's configurations and the joint mode, each as the mean over seeds
   with its 95 % confidence interval (Student's t, n − 1 degrees of freedom);
2. main effects and two-way interactions of the six switches (five in sweeps without the
   elastic axis) on useful GPU-hours per facility MWh (and on p99 JCT), from an ordinary
   least-squares fit of the 2⁶ (2⁵) factorial with the seeds
   as blocks (common random numbers: a seed is the same jobs in every configuration); an effect
   is mean(on) − mean(off), an interaction half the change of one switch's effect when the
   other switch goes from off to on (Box, Hunter & Hunter, *Statistics for Experimenters*,
   2nd ed., ch. 5); 95 % intervals from the fit's t distribution with its residual degrees of
   freedom (three-way and higher interactions pooled into the residual);
3. whether the joint mode beats each configuration on useful GPU-hours per MWh with intervals
   that do not overlap, the paired difference per seed with its interval, and whether its p99
   JCT is no worse (the paired interval of joint − configuration reaches 0 or below);
4. the joint mode and the sequential stack against the static baseline in the issue's metrics
   (effective utilization, mean JCT, energy per useful GPU-hour, throttled GPU-hours, seconds over
   the budget) and the targets' verdicts (throttling −95 %, energy per useful GPU-hour −20 %,
   mean JCT ÷3);
5. the lost-GPU-hour ledger of the joint mode minus the static baseline and minus the
   sequential stack, bucket by bucket (paired mean over seeds).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from kiban.report.sweep import mean_ci95

LAYERS = ("order", "elastic", "thermal", "power", "data", "cooling")
LETTER = {"order": "O", "elastic": "E", "thermal": "T", "power": "P", "data": "D", "cooling": "C"}
"""§11.3's six switches. Sweeps without an ``elastic`` axis (made before the elastic layer
existed) are read as the 2⁵ factorial of the other five."""
CONFIGS = ("static", *LAYERS, "all layers", "joint")
SCENARIOS = (
    "power-tight",
    "hot-season",
    "io-heavy",
    "recirculation",
    "llm-heavy",
    "llm-heavy-7d",
    "crac-failure",
    "demo",
)
"""§11.2's six scenarios in its order (S1–S6; S5 also over 7 days, ``llm-heavy-7d``), then the
older sweeps' ``demo``."""
INTERACTIONS_CLAIMED = (
    ("thermal", "power"),
    ("power", "cooling"),
    ("power", "data"),
    ("order", "data"),
)
"""§11.3 (iii): the interactions that should be positive if co-optimization adds value."""
BUCKETS = (
    "idle_no_demand",
    "queue_blocked",
    "io_stall",
    "underused",
    "power_cap",
    "thermal_throttle",
    "checkpoint",
    "failure",
)
HEADLINE = "useful_gpu_h_per_mwh"
# (key, label, format, higher is better)
METRICS: tuple[tuple[str, str, str, bool], ...] = (
    ("useful_gpu_h_per_mwh", "useful GPU-h / MWh", "{:.1f}", True),
    ("useful_gpu_h", "useful GPU-h", "{:,.0f}", True),
    ("effective_util_pct", "effective util %", "{:.2f}", True),
    ("jct_mean_h", "mean JCT h", "{:.2f}", False),
    ("jct_p99_h", "p99 JCT h", "{:.1f}", False),
    ("kwh_per_useful_gpu_h", "kWh / useful GPU-h", "{:.3f}", False),
    ("throttled_gpu_h", "throttled GPU-h", "{:,.0f}", False),
    ("s_over_budget", "s over budget", "{:,.0f}", False),
)
TABLE_113: tuple[tuple[str, str, str], ...] = (
    ("useful_gpu_h_per_mwh", "useful GPU-h / MWh", "{:.1f}"),
    ("useful_gpu_h", "useful GPU-h", "{:,.0f}"),
    ("jct_p99_h", "p99 JCT h", "{:.1f}"),
    ("facility_mwh", "facility MWh", "{:.3f}"),
    ("pue", "PUE", "{:.3f}"),
    ("max_inlet_c", "hottest inlet °C", "{:.1f}"),
    ("throttled_gpu_h", "throttle GPU-h", "{:,.1f}"),
    ("io_stall_gpu_h", "IO-stall GPU-h", "{:,.1f}"),
    ("cap_events", "cap events", "{:,.0f}"),
    ("s_over_budget", "s over budget", "{:,.0f}"),
)
"""§11.3's table columns (``cap events``: the twin's power-cap events, POLCA's net included)."""
_WITHOUT_ELASTIC = tuple(x for x in LAYERS if x != "elastic")
TRIM = "cooling (trim-and-respond)"
RIGID_STACK = "order+thermal+power+data+cooling"
"""The sequential stack without the elastic layer (all five rigid layers)."""
"""The reference cooling configuration of §11.3 (ASHRAE trim-and-respond alone)."""
_SWEEP_NAME = re.compile(r"^coopt-ablation-(?P<scen>.+?)(?:-joint|-reference|-elastic)?$")


# --- the factorial's linear model -----------------------------------------------------------


@dataclass(frozen=True)
class Effect:
    """A main effect or two-way interaction of a two-level factorial, with its 95 % interval.

    Attributes:
        term: Factor name, or ``A×B`` for an interaction.
        estimate: Main effect: mean response with the factor on minus off. Interaction: half
            the difference between A's effect with B on and A's effect with B off.
        half_width: Half-width of the 95 % confidence interval (t, residual df).
        p_value: Two-sided p-value of estimate = 0.
        df: Residual degrees of freedom of the fit.
    """

    term: str
    estimate: float
    half_width: float
    p_value: float
    df: int

    @property
    def significant(self) -> bool:
        """The 95 % interval excludes 0."""
        return abs(self.estimate) > self.half_width


def factorial_effects(
    y: np.ndarray,
    on: np.ndarray,
    names: tuple[str, ...] | list[str],
    blocks: np.ndarray | None = None,
) -> list[Effect]:
    """Main effects and two-way interactions of a two-level factorial by least squares.

    The model is ``y = b0 + Σ b_i x_i + Σ_{i<j} b_ij x_i x_j + block + ε`` with ``x = ±1``
    (off/on) and one fixed effect per block (seed) but the first; effects are ``2 b``
    (mean(on) − mean(off) in a balanced design). Higher interactions go to the residual.

    Args:
        y: Responses, shape (n,).
        on: Switch settings (bool or 0/1), shape (n, k).
        names: The k factor names.
        blocks: Block label per run (e.g. the seed), or None.

    Returns:
        The k main effects, then the k(k−1)/2 interactions in (i, j) order.

    Raises:
        ValueError: with fewer runs than parameters + 1 (no residual degrees of freedom).
    """
    y = np.asarray(y, dtype=np.float64)
    x = 2.0 * np.asarray(on, dtype=np.float64) - 1.0
    n, k = x.shape
    pairs = list(itertools.combinations(range(k), 2))
    cols = [np.ones(n), *(x[:, i] for i in range(k)), *(x[:, i] * x[:, j] for i, j in pairs)]
    if blocks is not None:
        labels = np.asarray(blocks)
        for level in sorted(set(labels.tolist()))[1:]:
            cols.append((labels == level).astype(np.float64))
    design = np.column_stack(cols)
    rank = int(np.linalg.matrix_rank(design))
    df = n - rank
    if df < 1:
        msg = f"factorial fit: {n} runs for {rank} independent parameters: no residual df"
        raise ValueError(msg)
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ beta
    sigma2 = float(resid @ resid) / df
    cov = sigma2 * np.linalg.pinv(design.T @ design)
    t975 = float(stats.t.ppf(0.975, df))
    terms = list(names) + [f"{names[i]}×{names[j]}" for i, j in pairs]
    out = []
    for idx, term in enumerate(terms, start=1):
        est = 2.0 * float(beta[idx])
        se = 2.0 * math.sqrt(max(float(cov[idx, idx]), 0.0))
        p = float(2.0 * stats.t.sf(abs(est) / se, df)) if se > 0 else 0.0
        out.append(Effect(term, est, t975 * se, p, df))
    return out


# --- runs ---------------------------------------------------------------------------------


def scenario_of(row: dict[str, Any], sweep_name: str = "") -> str:
    """The §11.2 scenario a run belongs to: from its sweep's name, else from its axis values."""
    match = _SWEEP_NAME.match(sweep_name)
    if match is not None and (match["scen"] in SCENARIOS or match["scen"].endswith("-oversub")):
        return match["scen"]  # an -oversub sweep (POLCA framing) is kept out of the tables
    if float(row.get("params.site_budget_kw") or 0.0) > 0:
        return "power-tight"
    if float(row.get("storage.shared_fs_bandwidth_gb_per_s") or 10.0) < 10.0:
        return "io-heavy"
    return "demo"


def config_of(row: dict[str, Any]) -> str:
    """The ablation configuration of a run: static, one layer, all layers, A+B…, or joint."""
    if row["policy"] == "j-dec":
        return "joint"
    layers = LAYERS if row.get("params.elastic") is not None else _WITHOUT_ELASTIC
    on = [name for name in layers if bool(row.get(f"params.{name}"))]
    if on == ["cooling"] and row.get("params.cooling_mode") == "trim-and-respond":
        return TRIM
    if not on:
        return "static"
    if len(on) == len(layers):
        return "all layers"
    return "+".join(on)


def seconds_over_budget(timeseries: Path, budget_w: float) -> float:
    """Seconds in which facility power was above ``budget_w`` (0 without a budget)."""
    if not budget_w > 0:
        return 0.0
    ts = pl.read_parquet(timeseries, columns=["duration_s", "facility_power_w"])
    over = ts["facility_power_w"].to_numpy() > budget_w
    return float(ts["duration_s"].to_numpy()[over].sum())


def _sweep_name(sweep_dir: Path) -> str:
    meta = sweep_dir / "sweep.json"
    if not meta.is_file():
        return ""
    try:
        return str(json.loads(meta.read_text(encoding="utf-8")).get("name", ""))
    except (OSError, ValueError):
        return ""


def run_metrics(sweep_dir: Path, budget_kw: float = 0.0) -> list[dict[str, Any]]:
    """One record per ok run of a sweep folder: scenario, configuration, switches, seed, metrics.

    ``budget_kw`` > 0 counts the seconds over that budget in every run (also in runs that were
    not given it); else each run's own ``params.site_budget_kw``.
    """
    table = pl.read_parquet(sweep_dir / "runs.parquet").filter(pl.col("status") == "ok")
    name = _sweep_name(sweep_dir)
    out = []
    for row in table.iter_rows(named=True):
        energy_kwh = float(row["facility_energy_kwh"])
        useful = float(row["gpu_hours_productive"])
        budget_w = (budget_kw or float(row.get("params.site_budget_kw") or 0.0)) * 1000.0
        ts = sweep_dir / str(row["run_dir"]) / str(row["policy"]) / "timeseries.parquet"
        rec: dict[str, Any] = {
            "scenario": scenario_of(row, name),
            "config": config_of(row),
            "seed": int(row["seed"]),
            "useful_gpu_h_per_mwh": useful / energy_kwh * 1000.0,
            "useful_gpu_h": useful,
            "effective_util_pct": 100.0 * float(row["effective_util_frac"]),
            "jct_mean_h": float(row["jct_mean_s"] or math.nan) / 3600.0,
            "jct_p99_h": float(row["jct_p99_s"] or math.nan) / 3600.0,
            "kwh_per_useful_gpu_h": energy_kwh / max(useful, 1e-9),
            "facility_mwh": energy_kwh / 1000.0,
            "pue": float(row.get("pue") or math.nan),
            "throttled_gpu_h": float(row["ledger_thermal_throttle_gpu_hours"])
            + float(row["ledger_power_cap_gpu_hours"]),
            "io_stall_gpu_h": float(row.get("ledger_io_stall_gpu_hours") or 0.0),
            "cap_events": float(row.get("power_cap_events") or 0.0),
            "max_inlet_c": float(row.get("max_inlet_temp_c") or math.nan),
            "s_over_budget": seconds_over_budget(ts, budget_w) if budget_w > 0 else math.nan,
            "site_budget_kw": float(row.get("params.site_budget_kw") or 0.0),
            "wall_s": float(row["run_wall_time_s"]),
        }
        for layer in LAYERS:
            rec[layer] = bool(row.get(f"params.{layer}"))
        for bucket in BUCKETS:
            rec[f"ledger_{bucket}"] = float(row.get(f"ledger_{bucket}_gpu_hours") or 0.0)
        out.append(rec)
    return out


def with_inert_order(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records, plus each elastic-on run again as its order-on twin where that is missing.

    While the elastic layer is on it decides order itself (``coopt-layers`` ignores ``order``),
    so an order-on run would be the order-off run again, output for output: the sweeps
    ``ablation-<scenario>-elastic.toml`` run only order off and the twin is counted from it
    (marked ``order_inert``), which completes the 2⁶ factorial.
    """
    layered = [r for r in recs if r["config"] not in ("joint", TRIM)]
    have = {(r["scenario"], r["seed"], *(bool(r.get(x)) for x in LAYERS)) for r in layered}
    out = list(recs)
    for r in layered:
        if not (r.get("elastic") and not r.get("order")):
            continue
        twin = dict(r, order=True, order_inert=True)
        key = (twin["scenario"], twin["seed"], *(bool(twin.get(x)) for x in LAYERS))
        if key in have:
            continue
        on = [x for x in LAYERS if twin.get(x)]
        twin["config"] = "all layers" if len(on) == len(LAYERS) else "+".join(on)
        have.add(key)
        out.append(twin)
    return out


def scenarios_in(recs: list[dict[str, Any]]) -> list[str]:
    """The scenarios present, in §11.2's order."""
    present = {r["scenario"] for r in recs}
    return [s for s in SCENARIOS if s in present]


def by_seed(recs: list[dict[str, Any]], scen: str, config: str, key: str) -> dict[int, float]:
    """Seed → value of one metric for one scenario and configuration."""
    return {r["seed"]: r[key] for r in recs if r["scenario"] == scen and r["config"] == config}


def ci(values: list[float]) -> tuple[float, float]:
    """(mean, 95 % half-width; NaN for fewer than two values)."""
    mean, half, _ = mean_ci95(values)
    return mean, (math.nan if half is None else half)


def paired(a: dict[int, float], b: dict[int, float]) -> tuple[float, float, int]:
    """Mean and 95 % half-width of a − b over the seeds both have, and that count."""
    seeds = sorted(set(a) & set(b))
    mean, half = ci([a[s] - b[s] for s in seeds])
    return mean, half, len(seeds)


def fmt_ci(fmt: str, mean: float, half: float) -> str:
    """``mean ± half`` in one metric's format (– for NaN)."""
    if not math.isfinite(mean):
        return "–"
    if not math.isfinite(half):
        return fmt.format(mean)
    return f"{fmt.format(mean)} ± {fmt.replace('+', '').format(half)}"


def _label(config: str) -> str:
    if config in LAYERS:
        return f"{LETTER[config]} only ({config})"
    if config == "all layers":
        return "all layers, sequential"
    if config == "joint":
        return "J-DEC (joint)"
    return config


def best_config(recs: list[dict[str, Any]], scen: str) -> str | None:
    """The layered configuration with the highest mean useful GPU-h per MWh in a scenario."""
    configs = {
        r["config"] for r in recs if r["scenario"] == scen and r["config"] not in ("joint", TRIM)
    }
    if not configs:
        return None
    return max(
        sorted(configs),
        key=lambda c: float(np.mean(list(by_seed(recs, scen, c, HEADLINE).values()))),
    )


def factors_of(recs: list[dict[str, Any]], scen: str) -> tuple[str, ...]:
    """The switches a scenario's factorial varies (all six, or five in the older sweeps)."""
    rows = [r for r in recs if r["scenario"] == scen and r["config"] not in ("joint", TRIM)]
    return tuple(x for x in LAYERS if len({bool(r.get(x)) for r in rows}) == 2) or (
        _WITHOUT_ELASTIC
    )


def minus_configs(factors: tuple[str, ...] = LAYERS) -> list[tuple[str, str]]:
    """(label, configuration) of the sequential stack without each layer."""
    return [
        (f"all layers minus {LETTER[x]}", "+".join(layer for layer in factors if layer != x))
        for x in factors
    ]


def table_113(recs: list[dict[str, Any]], scen: str) -> list[str]:
    """Markdown: §11.3's table for one scenario (mean ± 95 % CI over seeds)."""
    lines = [
        f"| configuration | seeds | {' | '.join(label for _, label, _ in TABLE_113)} |",
        "|---" * (2 + len(TABLE_113)) + "|",
    ]
    rows: list[tuple[str, str]] = [("static (all off)", "static")]
    factors = factors_of(recs, scen)
    rows += [(_label(x), x) for x in factors]
    rows.append(("C = trim-and-respond (reference)", TRIM))
    rows.append(("all layers, sequential", "all layers"))
    rows += minus_configs(factors)
    best = best_config(recs, scen)
    if best is not None:
        rows.append((f"best of the factorial ({best})", best))
    rows.append(("J-DEC (joint)", "joint"))
    for label, config in rows:
        cells = []
        n = 0
        for key, _, fmt in TABLE_113:
            vals = list(by_seed(recs, scen, config, key).values())
            n = max(n, len(vals))
            finite = [v for v in vals if math.isfinite(v)]
            cells.append(fmt_ci(fmt, *ci(finite)) if finite else "–")
        if n:
            lines.append(f"| {label} | {n} | {' | '.join(cells)} |")
    return lines


def effects_of(recs: list[dict[str, Any]], scen: str, key: str = HEADLINE) -> list[Effect]:
    """The factorial fit for one scenario and metric (empty without a full factorial)."""
    rows = [
        r
        for r in recs
        if r["scenario"] == scen and r["config"] not in ("joint", TRIM) and math.isfinite(r[key])
    ]
    factors = factors_of(recs, scen)
    configs = {tuple(bool(r.get(layer)) for layer in factors) for r in rows}
    for partial in ("elastic", "order"):
        # a half not (yet) run in full (its switch on in some runs only): fit the complete
        # factorial of the other switches on the runs with that switch off
        if len(configs) < 2 ** len(factors) and partial in factors:
            rows = [r for r in rows if not r.get(partial)]
            factors = tuple(x for x in factors if x != partial)
            configs = {tuple(bool(r.get(layer)) for layer in factors) for r in rows}
    if len(configs) < 2 ** len(factors):
        return []
    y = np.array([r[key] for r in rows])
    on = np.array([[bool(r.get(layer)) for layer in factors] for r in rows])
    seeds = np.array([r["seed"] for r in rows])
    return factorial_effects(y, on, factors, seeds)


def effects_lines(recs: list[dict[str, Any]], scenarios: list[str]) -> list[str]:
    """Markdown: main effects and two-way interactions per scenario (headline and p99 JCT)."""
    lines = [
        "| scenario | term | Δ useful GPU-h / MWh | p | Δ p99 JCT h | p | df |",
        "|---" * 7 + "|",
    ]
    for scen in scenarios:
        head = effects_of(recs, scen)
        p99 = {e.term: e for e in effects_of(recs, scen, "jct_p99_h")}
        for e in head:
            q = p99.get(e.term)
            star = "**" if e.significant else ""
            p99_cells = (
                f"{fmt_ci('{:+.2f}', q.estimate, q.half_width)} | {q.p_value:.3f}"
                if q is not None
                else "– | –"
            )
            lines.append(
                f"| {scen} | {e.term} | {star}{fmt_ci('{:+.2f}', e.estimate, e.half_width)}{star}"
                f" | {e.p_value:.3f} | {p99_cells} | {e.df} |"
            )
    return lines


def effects_wide(
    recs: list[dict[str, Any]], scenarios: list[str], key: str = HEADLINE
) -> list[str]:
    """Markdown: one row per term, one column per scenario.

    Cells are the estimate ± its 95 % half-width, bold where the interval excludes 0.
    """
    fits = {scen: {e.term: e for e in effects_of(recs, scen, key)} for scen in scenarios}
    shown = [s for s in scenarios if fits[s]]
    if not shown:
        return []
    lines = [f"| term | {' | '.join(shown)} |", "|---" * (1 + len(shown)) + "|"]
    terms = max((list(f) for f in fits.values()), key=len)
    for term in terms:
        cells = []
        for scen in shown:
            e = fits[scen].get(term)
            if e is None:  # a smaller fit (a half incomplete) has no terms of that switch
                cells.append("–")
                continue
            text = fmt_ci("{:+.1f}", e.estimate, e.half_width)
            cells.append(f"**{text}**" if e.significant else text)
        name = "×".join(LETTER[t] for t in term.split("×"))
        lines.append(f"| {name} ({term}) | {' | '.join(cells)} |")
    df = sorted({e.df for f in fits.values() for e in f.values()})
    lines.append("")
    lines.append(f"Residual degrees of freedom: {', '.join(map(str, df))}.")
    return lines


def claims_lines(recs: list[dict[str, Any]], scenarios: list[str]) -> list[str]:
    """Markdown: §11.3's three statements per scenario, as the data answer them."""
    lines = [
        "| scenario | (i) joint beats every single layer and the stack "
        "| (ii) stack minus each layer < stack (paired) | (iii) T×P, P×C, P×D, O×D > 0 (95 %) |",
        "|---" * 4 + "|",
    ]
    for scen in scenarios:
        rows = {(r["config"]) for r in joint_vs_configs(recs, [scen])[1] if r["beats"]}
        tested = [r["config"] for r in joint_vs_configs(recs, [scen])[1]]
        lost = [c for c in tested if c not in rows]
        first = (
            "yes"
            if tested and not lost
            else ("no joint runs" if not tested else f"no: not {', '.join(lost)}")
        )
        stack = by_seed(recs, scen, "all layers", HEADLINE)
        second = []
        for label, config in minus_configs(factors_of(recs, scen)):
            d, h, n = paired(by_seed(recs, scen, config, HEADLINE), stack)
            if n:
                verdict = "lower" if d + h < 0 else ("higher" if d - h > 0 else "n.s.")
                second.append(f"{label.split()[-1]} {d:+.1f} ({verdict})")
        eff = {e.term: e for e in effects_of(recs, scen)}
        third = []
        for a, b in INTERACTIONS_CLAIMED:
            e = eff.get(f"{a}×{b}")
            if e is None:
                continue
            verdict = (
                "> 0" if e.estimate - e.half_width > 0 else ("< 0" if e.significant else "n.s.")
            )
            third.append(f"{LETTER[a]}×{LETTER[b]} {e.estimate:+.2f} ({verdict})")
        lines.append(
            f"| {scen} | {first} | {'; '.join(second) or '–'} | {'; '.join(third) or '–'} |"
        )
    return lines


def summary_tables(recs: list[dict[str, Any]], scenarios: list[str]) -> list[str]:
    """Markdown: mean ± CI per scenario and configuration (the issue's metrics)."""
    lines = []
    head = " | ".join(label for _, label, _, _ in METRICS)
    lines.append(f"| scenario | configuration | seeds | {head} |")
    lines.append("|---" * (3 + len(METRICS)) + "|")
    for scen in scenarios:
        for config in CONFIGS:
            cells = []
            n = 0
            for key, _, fmt, _ in METRICS:
                vals = [v for v in by_seed(recs, scen, config, key).values() if math.isfinite(v)]
                n = max(n, len(by_seed(recs, scen, config, key)))
                cells.append(fmt_ci(fmt, *ci(vals)) if vals else "–")
            if n:
                lines.append(f"| {scen} | {config} | {n} | {' | '.join(cells)} |")
    return lines


def joint_vs_factorial(recs: list[dict[str, Any]], scenarios: list[str]) -> list[str]:
    """Markdown: per scenario, how many of the factorial's configurations the joint mode beats.

    Counted over every layered configuration present (the 2⁶, the reference): beaten with
    intervals apart and p99 JCT no worse (the issue's test), above by the paired interval
    (excludes 0), below by the paired interval, and the rest (the paired interval holds 0).
    """
    lines = [
        "| scenario | configurations | beaten (CIs apart, p99 no worse) | paired Δ > 0 "
        "| paired Δ < 0 | paired n.s. |",
        "|---" * 6 + "|",
    ]
    for scen in scenarios:
        joint = by_seed(recs, scen, "joint", HEADLINE)
        if not joint:
            continue
        jm, jh = ci(list(joint.values()))
        jp99 = by_seed(recs, scen, "joint", "jct_p99_h")
        configs = sorted({r["config"] for r in recs if r["scenario"] == scen} - {"joint"})
        beaten = above = below = 0
        for config in configs:
            other = by_seed(recs, scen, config, HEADLINE)
            om, oh = ci(list(other.values()))
            p, ph, _ = paired(jp99, by_seed(recs, scen, config, "jct_p99_h"))
            beaten += bool(jm - jh > om + oh and not (p - ph > 0))
            d, dh, _ = paired(joint, other)
            above += bool(d - dh > 0)
            below += bool(d + dh < 0)
        n = len(configs)
        lines.append(f"| {scen} | {n} | {beaten} | {above} | {below} | {n - above - below} |")
    return lines


def joint_vs_configs(
    recs: list[dict[str, Any]], scenarios: list[str]
) -> tuple[list[str], list[dict[str, Any]]]:
    """Markdown and records: does the joint mode beat each configuration (statement (i))."""
    lines = [
        "| scenario | joint vs | GPU-h/MWh joint | GPU-h/MWh config | CIs apart | "
        "paired Δ GPU-h/MWh | paired Δ p99 JCT h | p99 no worse | beats |",
        "|---" * 9 + "|",
    ]
    rows = []
    for scen in scenarios:
        joint = by_seed(recs, scen, "joint", HEADLINE)
        jp99 = by_seed(recs, scen, "joint", "jct_p99_h")
        if not joint:
            continue
        jm, jh = ci(list(joint.values()))
        others = [*CONFIGS[:-1], TRIM, RIGID_STACK]  # and the stack without the elastic layer
        best = best_config(recs, scen)
        if best is not None and best not in others:
            others.append(best)
        for config in others:
            other = by_seed(recs, scen, config, HEADLINE)
            if not other:
                continue
            om, oh = ci(list(other.values()))
            apart = jm - jh > om + oh
            d, dh, _ = paired(joint, other)
            p, ph, _ = paired(jp99, by_seed(recs, scen, config, "jct_p99_h"))
            no_worse = not (p - ph > 0)
            beats = apart and no_worse
            rows.append(
                {
                    "scenario": scen,
                    "config": config,
                    "ci_apart": apart,
                    "paired_delta": d,
                    "paired_half": dh,
                    "p99_no_worse": no_worse,
                    "beats": beats,
                }
            )
            label = f"{config} (best)" if config == best else config
            lines.append(
                f"| {scen} | {label} | {fmt_ci('{:.1f}', jm, jh)} | {fmt_ci('{:.1f}', om, oh)} "
                f"| {'yes' if apart else 'no'} | {fmt_ci('{:+.1f}', d, dh)} "
                f"| {fmt_ci('{:+.2f}', p, ph)} | {'yes' if no_worse else 'no'} "
                f"| **{'yes' if beats else 'no'}** |"
            )
    return lines, rows


def _change(
    recs: list[dict[str, Any]], scen: str, key: str, config: str = "joint"
) -> tuple[float, float, float]:
    """(static mean, configuration mean, paired relative change config/static − 1 in %)."""
    base = by_seed(recs, scen, "static", key)
    other = by_seed(recs, scen, config, key)
    seeds = [s for s in sorted(set(base) & set(other)) if math.isfinite(base[s] + other[s])]
    b = float(np.mean([base[s] for s in seeds])) if seeds else math.nan
    j = float(np.mean([other[s] for s in seeds])) if seeds else math.nan
    return b, j, (j / b - 1.0) * 100.0 if b else math.nan


def targets(recs: list[dict[str, Any]], scenarios: list[str], config: str = "joint") -> list[str]:
    """Markdown: a configuration vs static in the issue's metrics and the targets' verdicts."""
    lines = [
        "| scenario | effective util % | mean JCT h | p99 JCT h | kWh / useful GPU-h | "
        "throttled GPU-h | s over budget | throttling −95 % | energy/work −20 % | mean JCT ÷3 |",
        "|---" * 10 + "|",
    ]
    for scen in scenarios:
        if not by_seed(recs, scen, config, "useful_gpu_h") or not by_seed(
            recs, scen, "static", "useful_gpu_h"
        ):
            continue
        cells = []
        for key, fmt in (
            ("effective_util_pct", "{:.2f}"),
            ("jct_mean_h", "{:.2f}"),
            ("jct_p99_h", "{:.1f}"),
            ("kwh_per_useful_gpu_h", "{:.3f}"),
            ("throttled_gpu_h", "{:,.1f}"),
            ("s_over_budget", "{:,.0f}"),
        ):
            b, j, rel = _change(recs, scen, key, config)
            if key == "s_over_budget" and not math.isfinite(b):
                cells.append("– (no budget)")
            elif math.isfinite(rel):
                cells.append(f"{fmt.format(b)} → {fmt.format(j)} ({rel:+.1f} %)")
            else:
                cells.append(f"{fmt.format(b)} → {fmt.format(j)}")
        tb, tj, trel = _change(recs, scen, "throttled_gpu_h", config)
        if tb < 1.0:
            throttle = f"not measurable (static throttles {tb:,.1f} GPU-h; {tj:,.1f})"
        else:
            throttle = f"{'met' if trel <= -95.0 else 'not met'} ({trel:+.1f} %)"
        _, _, erel = _change(recs, scen, "kwh_per_useful_gpu_h", config)
        energy = f"{'met' if erel <= -20.0 else 'not met'} ({erel:+.1f} %)"
        jb, jj, _ = _change(recs, scen, "jct_mean_h", config)
        ratio = jb / jj if jj else math.nan
        jct = f"{'met' if ratio >= 3.0 else 'not met'} (÷{ratio:.2f})"
        lines.append(f"| {scen} | {' | '.join(cells)} | {throttle} | {energy} | {jct} |")
    return lines


def ledger_lines(recs: list[dict[str, Any]], scenarios: list[str]) -> list[str]:
    """Markdown: joint − static and joint − all layers per ledger bucket (GPU-h, seed mean)."""
    lines = [
        f"| scenario | joint minus | {' | '.join(b.replace('_', ' ') for b in BUCKETS)} |",
        "|---" * (2 + len(BUCKETS)) + "|",
    ]
    for scen in scenarios:
        for other in ("static", "all layers"):
            cells = []
            for bucket in BUCKETS:
                d, h, n = paired(
                    by_seed(recs, scen, "joint", f"ledger_{bucket}"),
                    by_seed(recs, scen, other, f"ledger_{bucket}"),
                )
                cells.append(fmt_ci("{:+,.1f}", d, h) if n else "–")
            if any(c != "–" for c in cells):
                lines.append(f"| {scen} | {other} | {' | '.join(cells)} |")
    return lines


def oversub_lines(
    recs: list[dict[str, Any]], budget_kw: float, base: dict[int, float] | None = None
) -> list[str]:
    """Markdown: POLCA's framing, each configuration against the unbudgeted static run.

    ``base`` (seed → useful GPU-h of the hall before the added servers, its static run) adds
    the change against the un-oversubscribed hall.
    """

    def label(r: dict[str, Any]) -> str:
        if r["config"] == "static":
            return "static, no budget" if not r.get("site_budget_kw") else "static, under it"
        return r["config"]

    ref = {r["seed"]: r["useful_gpu_h"] for r in recs if label(r) == "static, no budget"}
    head = (
        f"| configuration | seeds | useful GPU-h | useful-work loss vs static, no budget | "
        f"useful GPU-h / MWh | s over {budget_kw:,.0f} kW | throttled GPU-h | mean JCT h |"
    )
    lines = [head + (" useful work vs the hall without the added servers |" if base else "")]
    lines.append("|---" * (8 + bool(base)) + "|")
    order = ["static, no budget", "static, under it", *CONFIGS[1:]]
    for name in order:
        rows = [r for r in recs if label(r) == name]
        if not rows:
            continue
        loss = [
            100.0 * (1.0 - r["useful_gpu_h"] / ref[r["seed"]]) for r in rows if r["seed"] in ref
        ]
        cells = [
            fmt_ci("{:,.0f}", *ci([r["useful_gpu_h"] for r in rows])),
            fmt_ci("{:+.2f}", *ci(loss)) + " %",
            fmt_ci("{:.1f}", *ci([r["useful_gpu_h_per_mwh"] for r in rows])),
            fmt_ci("{:,.0f}", *ci([r["s_over_budget"] for r in rows])),
            fmt_ci("{:,.0f}", *ci([r["throttled_gpu_h"] for r in rows])),
            fmt_ci("{:.2f}", *ci([r["jct_mean_h"] for r in rows])),
        ]
        if base:
            gain = [
                100.0 * (r["useful_gpu_h"] / base[r["seed"]] - 1.0)
                for r in rows
                if r["seed"] in base
            ]
            cells.append(fmt_ci("{:+.1f}", *ci(gain)) + " %")
        lines.append(f"| {name} | {len(rows)} | {' | '.join(cells)} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Print the ablation's tables for the given sweep folders."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument(
        "dirs",
        type=Path,
        nargs="+",
        metavar="DIR",
        help="kiban sweep --out folders (factorial and joint sweeps, any scenarios)",
    )
    ap.add_argument("--json", default="", help="also write the per-run records here")
    ap.add_argument(
        "--oversub",
        nargs="+",
        type=Path,
        default=None,
        metavar="DIR",
        help="also the sweeps of ablation-oversub.toml and ablation-oversub-joint.toml",
    )
    ap.add_argument("--oversub-budget-kw", type=float, default=455.0)
    args = ap.parse_args(argv)
    for folder in args.dirs:
        if not (folder / "runs.parquet").is_file():
            print(f"error: {folder}: no runs.parquet; run `kiban sweep ... --out {folder}`")
            return 2
    recs = with_inert_order([rec for folder in args.dirs for rec in run_metrics(folder)])
    scenarios = scenarios_in(recs)
    for scen in scenarios:
        print(f"\n## §11.3 table: {scen} (mean ± 95 % CI over seeds)\n")
        print("\n".join(table_113(recs, scen)))
    if any(effects_of(recs, s) for s in scenarios):
        print("\n## Main effects and two-way interactions (OLS, 2⁶ or 2⁵, seeds as blocks)\n")
        print("\n".join(effects_wide(recs, scenarios)))
        print("\n### The same on p99 JCT (h)\n")
        print("\n".join(effects_wide(recs, scenarios, "jct_p99_h")))
        print("\n### Long form with p-values\n")
        print("\n".join(effects_lines(recs, scenarios)))
        print("\n## §11.3's three statements\n")
        print("\n".join(claims_lines(recs, scenarios)))
    print("\n## Mean ± 95 % CI over seeds (the issue's metrics)\n")
    print("\n".join(summary_tables(recs, scenarios)))
    print("\n## Joint vs every configuration (useful GPU-h per MWh; p99 JCT)\n")
    print("\n".join(joint_vs_configs(recs, scenarios)[0]))
    print("\n## Joint vs all the factorial's configurations (counts)\n")
    print("\n".join(joint_vs_factorial(recs, scenarios)))
    print("\n## Joint vs static: the issue's metrics and targets (seed means)\n")
    print("\n".join(targets(recs, scenarios)))
    print("\n## Sequential stack vs static: the same metrics (seed means)\n")
    print("\n".join(targets(recs, scenarios, "all layers")))
    print("\n## Ledger: joint minus static / sequential stack (GPU-h, paired mean ± 95 % CI)\n")
    print("\n".join(ledger_lines(recs, scenarios)))
    if args.oversub:
        over = [
            rec
            for folder in args.oversub
            if (folder / "runs.parquet").is_file()
            for rec in run_metrics(folder, args.oversub_budget_kw)
        ]
        print("\n## +30 % servers under the same site budget (POLCA framing)\n")
        base = by_seed(recs, "power-tight", "static", "useful_gpu_h") or None
        print("\n".join(oversub_lines(over, args.oversub_budget_kw, base)))
        recs = recs + [dict(r, scenario="oversub") for r in over]
    walls = [r["wall_s"] for r in recs if not r.get("order_inert")]
    inert = sum(bool(r.get("order_inert")) for r in recs)
    print(
        f"\n{len(walls)} runs, {sum(walls):,.0f} s of run wall time in the workers"
        f" (+ {inert} elastic-on runs counted again as order on: order is inert there)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(recs, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
