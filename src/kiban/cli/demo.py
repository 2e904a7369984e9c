"""``kiban demo``: the baselines and the joint co-optimizer on the Tokyo hall, explained."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kiban._atomic import held_signals, replace_dir
from kiban.cli._app import app, console, err_console
from kiban.cli._stop import Stopped, exit_stopped, stop_workers, stoppable
from kiban.cli.simulate import MAX_WORKERS, print_results, run_with_progress
from kiban.errors import ConfigError
from kiban.units import PERCENT_PER_FRAC, S_PER_H

if TYPE_CHECKING:
    from kiban.results import SimulationResult

__all__ = ["comparison_lines", "usable_cpus", "write_html_report"]

REPORT_FILE = "report.html"
JOINT_POLICY = "j-dec"
"""The co-optimizer shown beside the baselines (``kiban.policies.joint``, J-DEC)."""
RUN_ORDER = ("j-dec", "tiresias-las", "easy-backfill", "best-fit", "random-fit", "fifo-static")
"""Submission order to the workers: longest runs first, so two workers finish together."""


def demo_policies() -> list[str]:
    """The demo's policies in display order: the five baselines, then the joint policy."""
    from kiban.policies.baselines import BASELINES  # noqa: PLC0415

    return [*BASELINES, JOINT_POLICY]


def comparison_lines(results: list[SimulationResult], baseline: str = "fifo-static") -> list[str]:
    """Plain-words comparison of each policy with the baseline, on the same jobs.

    JCT is compared over the jobs that both the policy and the baseline finished, beside each
    one's finished share, so a policy that leaves long jobs unfinished does not look fast.

    Args:
        results: One result per policy, the baseline among them.
        baseline: Name of the reference policy.

    Returns:
        One sentence per other policy.
    """
    from kiban.comparison import fair_stats  # noqa: PLC0415 (startup time)

    ref = next((r for r in results if r.policy == baseline), None)
    if ref is None:
        return []
    lines = []
    rs = ref.summary
    for r in results:
        if r is ref:
            continue
        s = r.summary
        pair = fair_stats([(rs, ref.jobs), (s, r.jobs)])
        parts = []
        jct0, jct = pair.common_jct_mean_s
        done0, done = pair.finished_frac
        if jct and jct0:
            change = (jct / jct0 - 1.0) * PERCENT_PER_FRAC
            parts.append(
                f"mean completion time of the {pair.common_jobs:,} jobs both finished "
                f"{jct / S_PER_H:,.1f} h ({change:+.0f} % vs {baseline})"
            )
        if done is not None and done0 is not None:
            parts.append(
                f"finished {done * PERCENT_PER_FRAC:.1f} % of arrived jobs "
                f"({baseline}: {done0 * PERCENT_PER_FRAC:.1f} %)"
            )
        blocked = s["ledger_gpu_hours"]["queue_blocked"]
        blocked0 = rs["ledger_gpu_hours"]["queue_blocked"]
        parts.append(f"{blocked:,.0f} GPU-hours free while jobs waited (vs {blocked0:,.0f})")
        util, util0 = s.get("effective_util_frac"), rs.get("effective_util_frac")
        if util is not None and util0 is not None:
            parts.append(
                f"effective utilization {util * PERCENT_PER_FRAC:.1f} % "
                f"({(util - util0) * PERCENT_PER_FRAC:+.1f} points)"
            )
        e0, e = pair.energy_kwh_per_useful_gpu_h
        if e is not None and e0 is not None:
            parts.append(f"{e:.2f} kWh per useful GPU-hour (vs {e0:.2f})")
        preempt = int(s.get("preemptions") or 0)
        if preempt:
            ckpt = float(s["ledger_gpu_hours"].get("checkpoint") or 0.0)
            parts.append(f"{preempt:,} preemptions, {ckpt:,.0f} GPU-hours of checkpoints")
        lines.append(f"{r.policy}: " + "; ".join(parts) + ".")
    return lines


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def write_html_report(result_dirs: list[Path], out_html: Path, lang: str) -> Path | None:
    """Report hook: write the HTML report if ``kiban.report`` is installed.

    Calls ``kiban.report.write_report(result_dirs, out_html, lang)``; returns None (and writes
    nothing) when that module or function is not available.
    """
    if importlib.util.find_spec("kiban.report") is None:
        return None
    report = importlib.import_module("kiban.report")
    writer = getattr(report, "write_report", None)
    if writer is None:
        return None
    written = writer(result_dirs, out_html, lang)
    return Path(written) if written is not None else out_html


@app.command("demo")
def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the results and the report.")
    ] = Path("kiban-demo"),
    lang: Annotated[str, typer.Option("--lang", help="Report language: en or ja.")] = "en",
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Processes (default: one per policy, at most the usable CPUs).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summaries as JSON instead of tables.")
    ] = False,
) -> None:
    """Run every baseline policy and the co-optimizer on a Philly-like month on 512 H100 GPUs.

    The built-in scenario: 64 DGX H100 in an air-cooled (hot-aisle contained) hall, jobs from
    kiban's Philly-calibrated generator at about 90 % offered load, gang and locality rules as
    in Philly. The five baselines run beside J-DEC, the joint co-optimizer (power, cooling,
    scheduling and storage decided together; docs/cooptimizer.md). Writes DIR/<policy>/ result
    folders and, when the report module is installed, DIR/report.html.
    """
    from kiban.results import prepare_scenario  # noqa: PLC0415
    from kiban.sim.scenario import demo_scenario  # noqa: PLC0415

    if lang not in ("en", "ja"):
        msg = f"--lang = {lang!r}: allowed en, ja"
        raise ConfigError(msg)
    policies = demo_policies()
    run_order = sorted(policies, key=lambda p: RUN_ORDER.index(p) if p in RUN_ORDER else -1)
    n_workers = workers if workers is not None else min(len(policies), usable_cpus())
    if not 1 <= n_workers <= MAX_WORKERS:
        msg = f"--workers = {n_workers}: must be from 1 to {MAX_WORKERS}"
        raise ConfigError(msg)
    t0 = time.perf_counter()
    saved: dict[str, Path] = {}

    def save(result: SimulationResult) -> None:
        try:
            saved[result.policy] = replace_dir(out / result.policy, result.save)
        except BaseException:
            stop_workers()  # do not wait for the other policies before saying why
            raise

    with stoppable():
        try:
            scenario, text = demo_scenario()
            prepared = prepare_scenario(scenario, scenario_toml=text, locality="node")
            if not as_json:
                err_console.print(
                    f"kiban demo: {prepared.jobs.n_jobs:,} synthetic Philly-like jobs over 30 "
                    f"days on {prepared.layout.n_gpus} H100 GPUs (64 DGX H100, air-cooled, "
                    f"Tokyo); {len(policies) - 1} baseline policies and the co-optimizer "
                    f"{JOINT_POLICY}; a few minutes on 2 cores",
                    soft_wrap=True,
                )
            done = run_with_progress(
                prepared, run_order, workers=n_workers, quiet=as_json, on_result=save
            )
            by_name = {r.policy: r for r in done}
            results = [by_name[name] for name in policies]
            dirs = [saved[r.policy] for r in results]
            with held_signals():
                report = write_html_report(dirs, out / REPORT_FILE, lang)
        except Stopped as stop:
            exit_stopped(
                stop, list(saved), out, "unfinished policies and the report wrote nothing", now=True
            )
    wall_s = time.perf_counter() - t0
    if as_json:
        payload: dict[str, Any] = {
            "scenario": prepared.name,
            "out": str(out),
            "report": str(report) if report is not None else None,
            "wall_time_s": wall_s,
            "policies": {r.policy: r.summary for r in results},
        }
        typer.echo(json.dumps(payload, indent=2, sort_keys=True))
        return
    print_results(results, f"{prepared.name}: 30 days, {prepared.jobs.n_jobs:,} jobs")
    base = results[0]
    console.print(
        f"\n[bold]Where the GPU-hours went under {base.policy}[/bold] "
        "(FIFO with fixed allocations, what most sites run):"
    )
    for line in base.ledger.explain(lang):
        console.print(f"  • {line}")
    console.print("\n[bold]The other policies on the same jobs:[/bold]")
    for line in comparison_lines(results, base.policy):
        console.print(f"  • {line}")
    where = f"results in {out}/"
    if report is not None:
        where += f", report {report}"
    console.print(f"\n{where} ({wall_s:.1f} s)")
