"""The co-optimizer's ablation tables (docs/cooptimizer.md) from two ``kiban sweep`` folders.

Usage:

    kiban sweep examples/sweeps/ablation-layers.toml --out sweep-ablation-layers
    kiban sweep examples/sweeps/ablation-joint.toml --out sweep-ablation-joint
    .venv/bin/python scripts/coopt_ablation.py sweep-ablation-layers sweep-ablation-joint \
        [--oversub sweep-ablation-oversub sweep-ablation-oversub-joint] [--json OUT.json]

It names each run's scenario from its axes (a site budget → ``power-tight``, a filer under
10 GB/s → ``io-heavy``, else ``demo``) and its configuration from the layer switches
(``static`` = all off, one layer name, ``all layers`` = the sequential stack) or the policy
(``joint`` = ``j-dec``). Per scenario and configuration it prints, as markdown:

1. the mean over seeds with the 95 % confidence interval (Student's t, n − 1 degrees of
   freedom) of useful GPU-hours per facility MWh, useful GPU-hours, effective utilization, mean
   and p99 JCT, facility energy per useful GPU-hour, throttled GPU-hours (thermal + power cap)
   and seconds over the site budget (from each run's ``timeseries.parquet``);
2. whether the joint mode beats each configuration on useful GPU-hours per MWh with confidence
   intervals that do not overlap, the paired difference per seed (common random numbers: the
   same jobs per seed) with its interval, and whether its p99 JCT is no worse (the paired
   interval of joint − configuration reaches 0 or below);
3. the joint mode's change against the static baseline in the issue's metrics, each target
   (throttling −95 %, energy per useful GPU-hour −20 %, mean JCT ÷3) as met / not met / not
   measurable with the number;
4. the lost-GPU-hour ledger of the joint mode minus the static baseline and minus the
   sequential stack (mean over seeds), bucket by bucket: which loss went down, which went up.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from kiban.report.sweep import mean_ci95

LAYERS = ("order", "thermal", "power", "data", "cooling")
CONFIGS = ("static", *LAYERS, "all layers", "joint")
SCENARIOS = ("demo", "io-heavy", "power-tight")
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


def scenario_of(row: dict[str, Any]) -> str:
    """The §11.2 scenario a run belongs to, from its axis values."""
    if float(row.get("params.site_budget_kw") or 0.0) > 0:
        return "power-tight"
    if float(row.get("storage.shared_fs_bandwidth_gb_per_s") or 10.0) < 10.0:
        return "io-heavy"
    return "demo"


def config_of(row: dict[str, Any]) -> str:
    """The ablation configuration of a run: static, one layer, all layers or joint."""
    if row["policy"] == "j-dec":
        return "joint"
    on = [name for name in LAYERS if bool(row.get(f"params.{name}"))]
    if not on:
        return "static"
    if len(on) == len(LAYERS):
        return "all layers"
    if len(on) == 1:
        return on[0]
    return "+".join(on)


def seconds_over_budget(timeseries: Path, budget_w: float) -> float:
    """Seconds in which facility power was above ``budget_w`` (0 without a budget)."""
    if not budget_w > 0:
        return 0.0
    ts = pl.read_parquet(timeseries, columns=["duration_s", "facility_power_w"])
    over = ts["facility_power_w"].to_numpy() > budget_w
    return float(ts["duration_s"].to_numpy()[over].sum())


def run_metrics(sweep_dir: Path, budget_kw: float = 0.0) -> list[dict[str, Any]]:
    """One record per ok run of a sweep folder: scenario, configuration, seed, metrics.

    ``budget_kw`` > 0 counts the seconds over that budget in every run (also in runs that were
    not given it); else each run's own ``params.site_budget_kw``.
    """
    table = pl.read_parquet(sweep_dir / "runs.parquet").filter(pl.col("status") == "ok")
    out = []
    for row in table.iter_rows(named=True):
        energy_kwh = float(row["facility_energy_kwh"])
        useful = float(row["gpu_hours_productive"])
        budget_w = (budget_kw or float(row.get("params.site_budget_kw") or 0.0)) * 1000.0
        ts = sweep_dir / str(row["run_dir"]) / str(row["policy"]) / "timeseries.parquet"
        rec = {
            "scenario": scenario_of(row),
            "config": config_of(row),
            "seed": int(row["seed"]),
            "useful_gpu_h_per_mwh": useful / energy_kwh * 1000.0,
            "useful_gpu_h": useful,
            "effective_util_pct": 100.0 * float(row["effective_util_frac"]),
            "jct_mean_h": float(row["jct_mean_s"] or math.nan) / 3600.0,
            "jct_p99_h": float(row["jct_p99_s"] or math.nan) / 3600.0,
            "kwh_per_useful_gpu_h": energy_kwh / max(useful, 1e-9),
            "throttled_gpu_h": float(row["ledger_thermal_throttle_gpu_hours"])
            + float(row["ledger_power_cap_gpu_hours"]),
            "s_over_budget": seconds_over_budget(ts, budget_w) if budget_w > 0 else math.nan,
            "wall_s": float(row["run_wall_time_s"]),
        }
        for bucket in BUCKETS:
            rec[f"ledger_{bucket}"] = float(row.get(f"ledger_{bucket}_gpu_hours") or 0.0)
        out.append(rec)
    return out


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


def summary_tables(recs: list[dict[str, Any]]) -> list[str]:
    """Markdown: mean ± CI per scenario and configuration."""
    lines = []
    head = " | ".join(label for _, label, _, _ in METRICS)
    lines.append(f"| scenario | configuration | seeds | {head} |")
    lines.append("|---" * (3 + len(METRICS)) + "|")
    for scen in SCENARIOS:
        for config in CONFIGS:
            cells = []
            n = 0
            for key, _, fmt, _ in METRICS:
                vals = list(by_seed(recs, scen, config, key).values())
                n = max(n, len(vals))
                if key == "s_over_budget" and scen != "power-tight":
                    cells.append("–")
                    continue
                cells.append(fmt_ci(fmt, *ci(vals)))
            if n:
                lines.append(f"| {scen} | {config} | {n} | {' | '.join(cells)} |")
    return lines


def joint_vs_configs(recs: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """Markdown and records: does the joint mode beat each configuration (statement (i))."""
    lines = [
        "| scenario | joint vs | GPU-h/MWh joint | GPU-h/MWh config | CIs apart | "
        "paired Δ GPU-h/MWh | paired Δ p99 JCT h | p99 no worse | beats |",
        "|---" * 9 + "|",
    ]
    rows = []
    for scen in SCENARIOS:
        joint = by_seed(recs, scen, "joint", "useful_gpu_h_per_mwh")
        jp99 = by_seed(recs, scen, "joint", "jct_p99_h")
        if not joint:
            continue
        jm, jh = ci(list(joint.values()))
        for config in CONFIGS[:-1]:
            other = by_seed(recs, scen, config, "useful_gpu_h_per_mwh")
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
            lines.append(
                f"| {scen} | {config} | {fmt_ci('{:.1f}', jm, jh)} | {fmt_ci('{:.1f}', om, oh)} "
                f"| {'yes' if apart else 'no'} | {fmt_ci('{:+.1f}', d, dh)} "
                f"| {fmt_ci('{:+.2f}', p, ph)} | {'yes' if no_worse else 'no'} "
                f"| **{'yes' if beats else 'no'}** |"
            )
    return lines, rows


def _change(recs: list[dict[str, Any]], scen: str, key: str) -> tuple[float, float, float]:
    """(static mean, joint mean, paired relative change joint/static − 1 in %)."""
    base = by_seed(recs, scen, "static", key)
    joint = by_seed(recs, scen, "joint", key)
    seeds = sorted(set(base) & set(joint))
    b = float(np.mean([base[s] for s in seeds])) if seeds else math.nan
    j = float(np.mean([joint[s] for s in seeds])) if seeds else math.nan
    return b, j, (j / b - 1.0) * 100.0 if b else math.nan


def targets(recs: list[dict[str, Any]]) -> list[str]:
    """Markdown: joint vs static in the issue's metrics and the targets' verdicts."""
    lines = [
        "| scenario | effective util % | mean JCT h | p99 JCT h | kWh / useful GPU-h | "
        "throttled GPU-h | s over budget | throttling −95 % | energy/work −20 % | mean JCT ÷3 |",
        "|---" * 10 + "|",
    ]
    for scen in SCENARIOS:
        if not by_seed(recs, scen, "joint", "useful_gpu_h") or not by_seed(
            recs, scen, "static", "useful_gpu_h"
        ):
            continue
        cells = []
        for key, fmt in (
            ("effective_util_pct", "{:.2f}"),
            ("jct_mean_h", "{:.2f}"),
            ("jct_p99_h", "{:.1f}"),
            ("kwh_per_useful_gpu_h", "{:.3f}"),
            ("throttled_gpu_h", "{:,.0f}"),
            ("s_over_budget", "{:,.0f}"),
        ):
            b, j, rel = _change(recs, scen, key)
            if key == "s_over_budget" and scen != "power-tight":
                cells.append("–")
            elif math.isfinite(rel):
                cells.append(f"{fmt.format(b)} → {fmt.format(j)} ({rel:+.1f} %)")
            else:
                cells.append(f"{fmt.format(b)} → {fmt.format(j)}")
        tb, tj, trel = _change(recs, scen, "throttled_gpu_h")
        if tb < 1.0:
            throttle = f"not measurable (static throttles {tb:,.0f} GPU-h; joint {tj:,.0f})"
        else:
            throttle = f"{'met' if trel <= -95.0 else 'not met'} ({trel:+.1f} %)"
        _, _, erel = _change(recs, scen, "kwh_per_useful_gpu_h")
        energy = f"{'met' if erel <= -20.0 else 'not met'} ({erel:+.1f} %)"
        jb, jj, _ = _change(recs, scen, "jct_mean_h")
        ratio = jb / jj if jj else math.nan
        jct = f"{'met' if ratio >= 3.0 else 'not met'} (÷{ratio:.2f})"
        lines.append(f"| {scen} | {' | '.join(cells)} | {throttle} | {energy} | {jct} |")
    return lines


def ledger_lines(recs: list[dict[str, Any]]) -> list[str]:
    """Markdown: joint − static and joint − all layers per ledger bucket (GPU-h, seed mean)."""
    lines = [
        f"| scenario | joint minus | {' | '.join(b.replace('_', ' ') for b in BUCKETS)} |",
        "|---" * (2 + len(BUCKETS)) + "|",
    ]
    for scen in SCENARIOS:
        for other in ("static", "all layers"):
            cells = []
            for bucket in BUCKETS:
                d, h, n = paired(
                    by_seed(recs, scen, "joint", f"ledger_{bucket}"),
                    by_seed(recs, scen, other, f"ledger_{bucket}"),
                )
                cells.append(fmt_ci("{:+,.0f}", d, h) if n else "–")
            if any(c != "–" for c in cells):
                lines.append(f"| {scen} | {other} | {' | '.join(cells)} |")
    return lines


def oversub_lines(recs: list[dict[str, Any]], budget_kw: float) -> list[str]:
    """Markdown: POLCA's framing, each configuration against the unbudgeted static run."""
    ref = {r["seed"]: r["useful_gpu_h"] for r in recs if r["config"] == "static"}
    lines = [
        f"| configuration | seeds | useful GPU-h | useful-work loss vs static, no budget | "
        f"useful GPU-h / MWh | s over {budget_kw:,.0f} kW | throttled GPU-h | mean JCT h |",
        "|---" * 8 + "|",
    ]
    for config in CONFIGS:
        rows = [r for r in recs if r["config"] == config]
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
        label = "static, no budget" if config == "static" else config
        lines.append(f"| {label} | {len(rows)} | {' | '.join(cells)} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Print the ablation's tables for two sweep folders."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "dirs",
        type=Path,
        nargs="+",
        metavar="DIR",
        help="kiban sweep --out folders of ablation-layers.toml and ablation-joint.toml",
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
    recs = [rec for folder in args.dirs for rec in run_metrics(folder)]
    print("## Mean ± 95 % CI over seeds\n")
    print("\n".join(summary_tables(recs)))
    print("\n## Joint vs every configuration (useful GPU-h per MWh; p99 JCT)\n")
    print("\n".join(joint_vs_configs(recs)[0]))
    print("\n## Joint vs static: the issue's metrics and targets (seed means)\n")
    print("\n".join(targets(recs)))
    print("\n## Ledger: joint minus static / sequential stack (GPU-h, paired mean ± 95 % CI)\n")
    print("\n".join(ledger_lines(recs)))
    if args.oversub:
        over = [
            rec
            for folder in args.oversub
            if (folder / "runs.parquet").is_file()
            for rec in run_metrics(folder, args.oversub_budget_kw)
        ]
        print("\n## +30 % servers under the same site budget (POLCA framing)\n")
        print("\n".join(oversub_lines(over, args.oversub_budget_kw)))
        recs = recs + [dict(r, scenario="oversub") for r in over]
    walls = [r["wall_s"] for r in recs]
    print(f"\n{len(recs)} runs, {sum(walls):,.0f} s of run wall time in the workers")
    if args.json:
        Path(args.json).write_text(json.dumps(recs, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
