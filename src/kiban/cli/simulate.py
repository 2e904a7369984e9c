"""``kiban simulate SCENARIO.toml``: replay a workload on the twin under one or more policies."""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kiban._atomic import replace_dir
from kiban.cli._app import app, console, err_console, real_console
from kiban.cli._stop import Stopped, exit_stopped, stop_workers, stoppable
from kiban.errors import ConfigError
from kiban.units import S_PER_DAY, S_PER_H, S_PER_MIN

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.table import Table

    from kiban.results import PreparedRun, SimulationResult

__all__ = [
    "parse_duration_s",
    "print_results",
    "results_table",
    "results_tables",
    "run_with_progress",
]

_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")
_UNITS_S = {"": 1.0, "s": 1.0, "m": S_PER_MIN, "min": S_PER_MIN, "h": S_PER_H, "d": S_PER_DAY}
DAYS_PER_YEAR = 365.25
MAX_DURATION_S = 100 * DAYS_PER_YEAR * S_PER_DAY
"""Longest ``--until``: 100 years of simulated time."""
MAX_SEED = 2**63 - 1
"""Largest ``--seed`` (numpy seeds are non-negative)."""
MAX_WORKERS = 256
"""Most ``--workers`` processes."""
KWH_PER_MWH = 1000.0
KG_PER_T = 1000.0


def parse_duration_s(text: str, option: str = "--until") -> float:
    """Parse a duration such as ``30d``, ``12h``, ``90m``, ``3600s`` or ``3600`` into seconds.

    Args:
        text: The user's value.
        option: Option name for the error message.

    Returns:
        Seconds (> 0).

    Raises:
        ConfigError: naming the option, the value and the accepted forms.

    Examples:
        >>> parse_duration_s("1.5d")
        129600.0
    """
    match = _DURATION.match(text[:100])
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS_S or float(match.group(1)) <= 0:
        msg = (
            f"{option} = {text[:100]!r}: not a duration; use a positive number with s, m, h or d "
            "(e.g. 30d, 12h, 90m, 3600)"
        )
        raise ConfigError(msg)
    seconds = float(match.group(1)) * _UNITS_S[unit]
    if not math.isfinite(seconds) or seconds > MAX_DURATION_S:
        msg = (
            f"{option} = {text!r}: {seconds:g} s is beyond the longest simulated time, "
            f"{MAX_DURATION_S / S_PER_DAY / DAYS_PER_YEAR:g} years ({MAX_DURATION_S:g} s)"
        )
        raise ConfigError(msg)
    return seconds


def _fmt(value: Any, scale: float = 1.0, digits: int = 1, suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value / scale:,.{digits}f}{suffix}"


ROWS: tuple[tuple[str, str, float, int, str], ...] = (
    ("jobs completed", "jobs_completed", 1.0, 0, ""),
    ("jobs unfinished", "jobs_unfinished", 1.0, 0, ""),
    ("finished share", "finished_frac", 0.01, 1, " %"),
    ("effective utilization", "effective_util_frac", 0.01, 1, " %"),
    ("allocated utilization", "allocated_util_frac", 0.01, 1, " %"),
    ("mean JCT, common jobs*", "common_jct_mean_s", S_PER_H, 2, " h"),
    ("p99 JCT, common jobs*", "common_jct_p99_s", S_PER_H, 1, " h"),
    ("mean slowdown**", "slowdown_mean", 1.0, 2, ""),
    ("mean JCT, own finished", "jct_mean_s", S_PER_H, 2, " h"),
    ("mean wait", "wait_mean_s", S_PER_H, 2, " h"),
    ("preemptions", "preemptions", 1.0, 0, ""),
    ("checkpoint", "ledger_gpu_hours.checkpoint", 1.0, 0, " GPU·h"),
    ("makespan", "makespan_s", S_PER_DAY, 2, " d"),
    ("queue blocked", "ledger_gpu_hours.queue_blocked", 1.0, 0, " GPU·h"),
    ("of which fragmentation", "fragmentation_gpu_hours", 1.0, 0, " GPU·h"),
    ("I/O stall", "ledger_gpu_hours.io_stall", 1.0, 0, " GPU·h"),
    ("failure", "ledger_gpu_hours.failure", 1.0, 0, " GPU·h"),
    ("energy / useful GPU·h", "facility_kwh_per_useful_gpu_h", 1.0, 3, " kWh"),
    ("cost / useful GPU·h", "cost_jpy_per_useful_gpu_h", 1.0, 1, " JPY"),
    ("CO2 / useful GPU·h", "co2_kg_per_useful_gpu_h", 1.0, 3, " kg"),
    ("IT energy", "it_energy_kwh", KWH_PER_MWH, 1, " MWh"),
    ("facility energy", "facility_energy_kwh", KWH_PER_MWH, 1, " MWh"),
    ("PUE", "pue", 1.0, 3, ""),
    ("cost", "cost_jpy", 1.0, 0, " JPY"),
    ("CO2", "co2_kg", KG_PER_T, 1, " t"),
    ("hottest inlet", "max_inlet_temp_c", 1.0, 1, " °C"),
    ("simulated jobs/s", "jobs_per_s", 1.0, 0, ""),
    ("wall time", "wall_time_s", 1.0, 1, " s"),
)
"""Rows of the summary table: label, summary key (dotted for nested), divisor, digits, unit."""
SHARING_ROWS: tuple[tuple[str, str, float, int, str], ...] = (
    ("jobs sharing a GPU", "jobs_sharing_gpu", 1.0, 0, ""),
    ("FGD fragmentation", "fgd_fragmentation_frac", 0.01, 2, " %"),
    ("CPU-only pods done", "cpu_pods_completed", 1.0, 0, ""),
    ("CPU-only pods waiting", "cpu_pods_wait_mean_s", 1.0, 1, " s"),
)
"""Rows shown after "of which fragmentation" only when a run has them (GPU sharing, FGD's
measure, CPU-only pods: openb-like traces); same layout as :data:`ROWS`."""
LABEL_WIDTH = 22
"""Width of the row-label column of the summary table."""
NOT_ALL_FINISHED = "not all done"
"""Makespan cell of a run that did not finish every job (its makespan is just the horizon)."""
TABLE_NOTE = (
    "* JCT over the jobs every policy finished (the same jobs for all); ** mean bounded slowdown "
    "over all arrived jobs, unfinished ones counted at the horizon. Compare energy, cost and CO2 "
    "per useful GPU-hour: totals reward a policy that did less work."
)


def _get(summary: dict[str, Any], key: str) -> Any:
    value: Any = summary
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _fair_summaries(results: list[SimulationResult]) -> list[dict[str, Any]]:
    """Each summary plus the comparison values of :mod:`kiban.comparison`."""
    from kiban.comparison import fair_stats  # noqa: PLC0415 (startup time)

    stats = fair_stats([(r.summary, r.jobs) for r in results])
    out = []
    for i, r in enumerate(results):
        s = dict(r.summary)
        s.update(
            finished_frac=stats.finished_frac[i],
            common_jct_mean_s=stats.common_jct_mean_s[i],
            common_jct_p99_s=stats.common_jct_p99_s[i],
            slowdown_mean=stats.slowdown_mean[i],
            facility_kwh_per_useful_gpu_h=stats.energy_kwh_per_useful_gpu_h[i],
            cost_jpy_per_useful_gpu_h=stats.cost_jpy_per_useful_gpu_h[i],
            co2_kg_per_useful_gpu_h=stats.co2_kg_per_useful_gpu_h[i],
        )
        if not stats.all_finished[i]:
            s["makespan_s"] = NOT_ALL_FINISHED
        out.append(s)
    return out


def results_tables(
    results: list[SimulationResult], title: str = "", width: int = 80
) -> list[Table]:
    """The summary as rich tables, one column per policy, split to fit ``width`` columns.

    Args:
        results: Results to compare (same jobs).
        title: Table title.
        width: Console width; policies that do not fit go to a further table.

    Returns:
        The tables (one when every policy fits).
    """
    from rich.table import Table  # noqa: PLC0415 (startup time)

    from kiban._tables import column_chunks  # noqa: PLC0415

    summaries = _fair_summaries(results)
    rows = list(ROWS)
    at = next(i for i, r in enumerate(rows) if r[1] == "fragmentation_gpu_hours") + 1
    shown = [r for r in SHARING_ROWS if any(_get(s, r[1]) is not None for s in summaries)]
    rows[at:at] = shown
    cells: list[list[str]] = []
    for label, key, scale, digits, unit in rows:
        row = []
        for s in summaries:
            value = _get(s, key)
            if isinstance(value, str):
                row.append(value)
            elif unit == " %" and value is not None:
                row.append(_fmt(value * 100.0, 1.0, digits, unit))
            else:
                row.append(_fmt(value, scale, digits, unit))
        cells.append([label, *row])
    widths = [max(len(r.policy), *(len(c[i + 1]) for c in cells)) for i, r in enumerate(results)]
    chunks = column_chunks(widths, width, LABEL_WIDTH)
    tables = []
    for n, chunk in enumerate(chunks):
        part = f" ({n + 1}/{len(chunks)})" if len(chunks) > 1 else ""
        table = Table(title=(title + part) or None, header_style="bold", title_justify="left")
        table.add_column("", min_width=LABEL_WIDTH, no_wrap=True)
        for i in chunk:
            table.add_column(results[i].policy, justify="right", no_wrap=True, min_width=widths[i])
        for row in cells:
            table.add_row(row[0], *(row[i + 1] for i in chunk))
        tables.append(table)
    return tables


def results_table(results: list[SimulationResult], title: str = "") -> Table:
    """A rich table with one column per policy and one row per KPI (all policies, any width).

    Args:
        results: Results to compare.
        title: Table title.

    Returns:
        The table.
    """
    return results_tables(results, title, width=10**6)[0]


def print_results(results: list[SimulationResult], title: str) -> None:
    """Print the summary tables (fitted to the console) and the note on how to read them."""
    for table in results_tables(results, title, width=console.width):
        console.print(table)
    console.print(TABLE_NOTE, soft_wrap=False, highlight=False, markup=False)


def _events_per_s(summary: dict[str, Any]) -> float:
    wall = float(summary.get("wall_time_s") or 0.0)
    return float(summary.get("events") or 0) / wall if wall > 0 else 0.0


def run_with_progress(
    prepared: PreparedRun,
    policies: list[str],
    *,
    workers: int = 1,
    quiet: bool = False,
    on_result: Callable[[SimulationResult], None] | None = None,
) -> list[SimulationResult]:
    """Run policies with a rich progress bar per policy (simulated time and events per second).

    Args:
        prepared: From :func:`kiban.results.prepare_scenario`.
        policies: Policy names.
        workers: Worker processes (bars then advance per finished policy).
        quiet: No progress output (for ``--json``).
        on_result: Called with each result as soon as it finishes (e.g. to save it, so that an
            interrupted run keeps the finished policies).

    Returns:
        The results, in the order of ``policies``.
    """
    from kiban.results import run_policies  # noqa: PLC0415

    jobs = prepared.jobs
    until = prepared.settings.until_s
    horizon = (
        until if until is not None else float(jobs.submit_time_s.max()) if jobs.n_jobs else 1.0
    )
    horizon = max(horizon, 1.0)
    if quiet:
        return run_policies(prepared, policies, workers=workers, on_done=on_result)
    if not err_console.is_terminal:
        return _run_with_plain_progress(
            prepared, policies, horizon, workers=workers, on_result=on_result
        )
    from rich.progress import (  # noqa: PLC0415 (startup time)
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    progress = Progress(
        TextColumn("[bold]{task.description:<14}"),
        BarColumn(),
        TextColumn("day {task.fields[day]:>6.1f}"),
        TextColumn("{task.fields[rate]:>9} events/s"),
        TimeElapsedColumn(),
        console=real_console(err_console),
        transient=False,
    )
    tasks = {name: progress.add_task(name, total=horizon, day=0.0, rate="–") for name in policies}
    started: dict[str, float] = {}

    def on_progress(policy: str, t_s: float, events: int) -> None:
        task = tasks.get(policy)
        if task is None:
            return
        t0 = started.setdefault(policy, time.perf_counter())
        rate = events / max(time.perf_counter() - t0, 1e-9)
        progress.update(task, completed=min(t_s, horizon), day=t_s / S_PER_DAY, rate=f"{rate:,.0f}")

    def on_done(result: SimulationResult) -> None:
        task = tasks.get(result.policy)
        if task is not None:
            progress.update(
                task,
                completed=horizon,
                day=float(result.summary.get("horizon_s") or 0.0) / S_PER_DAY,
                rate=f"{_events_per_s(result.summary):,.0f}",
            )
        if on_result is not None:
            on_result(result)

    with progress:
        return run_policies(
            prepared,
            policies,
            workers=workers,
            progress=on_progress if workers <= 1 else None,
            on_done=on_done,
        )


def _run_with_plain_progress(
    prepared: PreparedRun,
    policies: list[str],
    horizon_s: float,
    *,
    workers: int,
    on_result: Callable[[SimulationResult], None] | None = None,
) -> list[SimulationResult]:
    """Run policies, printing a plain progress line every few seconds and one per finished run."""
    from kiban.cli._progress import PlainProgress, run_parallel  # noqa: PLC0415
    from kiban.results import run_policies  # noqa: PLC0415

    def write(line: str) -> None:
        err_console.print(line, markup=False, highlight=False, soft_wrap=True)

    tracker = PlainProgress(policies, horizon_s, write)

    def on_done(result: SimulationResult) -> None:
        tracker.done(result.policy)
        write(
            f"{result.policy} done: {_events_per_s(result.summary):,.0f} events/s, "
            f"{float(result.summary.get('wall_time_s') or 0.0):.1f} s; {tracker.line()}"
        )
        if on_result is not None:
            on_result(result)

    with tracker:
        if workers > 1 and len(policies) > 1:
            results = run_parallel(prepared, policies, workers, tracker, on_done)
            if results is not None:
                return results
        return run_policies(
            prepared,
            policies,
            workers=workers,
            progress=tracker.update if workers <= 1 else None,
            on_done=on_done,
        )


@app.command("simulate")
def simulate(  # noqa: PLR0917 - typer maps each parameter to an option
    scenario_file: Annotated[Path, typer.Argument(help="Scenario TOML file.", show_default=False)],
    trace: Annotated[
        str | None,
        typer.Option(
            "--trace", help="Trace FORMAT:PATH (overrides [workload]).", show_default=False
        ),
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy",
            help="Policy name(s), comma-separated (default: the scenario's [policies]).",
            show_default=False,
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="Stop after this simulated time: 30d, 12h, 90m, 3600.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", help="Results folder; one sub-folder per policy.")
    ] = Path("kiban-results"),
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Random seed (default: simulation.seed).", show_default=False),
    ] = None,
    locality: Annotated[
        str,
        typer.Option("--locality", help="none: jobs may spread over servers; node: gang+locality."),
    ] = "none",
    no_failures: Annotated[
        bool, typer.Option("--no-failures", help="Switch node failures off.")
    ] = False,
    workers: Annotated[
        int, typer.Option("--workers", help="Run policies in this many processes.")
    ] = 1,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summaries as JSON instead of a table.")
    ] = False,
    record_gpus: Annotated[
        bool,
        typer.Option(
            "--record-gpus",
            help="Also write the per-GPU table and timeline (gpus.parquet, gpu_timeline.parquet).",
        ),
    ] = False,
) -> None:
    """Replay the scenario's workload on its cluster with full physics, once per policy.

    Writes DIR/<policy>/{summary.json, jobs.parquet, timeseries.parquet, racks.parquet,
    layout.json, scenario.toml} (with --record-gpus also gpus.parquet and
    gpu_timeline.parquet) and prints a summary table (or JSON with --json).
    """
    from kiban.policies.registry import available_policies  # noqa: PLC0415
    from kiban.results import SCENARIO_POLICY, prepare_scenario  # noqa: PLC0415
    from kiban.spec import load_spec  # noqa: PLC0415

    if locality not in ("none", "node"):
        msg = f"--locality = {locality!r}: allowed none, node"
        raise ConfigError(msg)
    if not 1 <= workers <= MAX_WORKERS:
        msg = f"--workers = {workers}: must be from 1 to {MAX_WORKERS}"
        raise ConfigError(msg)
    if seed is not None and not 0 <= seed <= MAX_SEED:
        msg = f"--seed = {seed}: must be a whole number from 0 to {MAX_SEED:,}"
        raise ConfigError(msg)
    until_s = parse_duration_s(until) if until is not None else None
    scenario = load_spec(scenario_file)
    names = [p.strip() for p in policy.split(",") if p.strip()] if policy else [SCENARIO_POLICY]
    known = set(available_policies())
    for name in names:
        if name != SCENARIO_POLICY and name.replace("_", "-") not in known:
            msg = f"--policy {name!r}: not a registered policy; known: {', '.join(sorted(known))}"
            raise ConfigError(msg)
    t0 = time.perf_counter()
    written: dict[str, str] = {}

    def save(result: SimulationResult) -> None:
        folder = out / result.policy
        try:
            replace_dir(folder, result.save)
        except BaseException:
            stop_workers()  # do not wait for the other policies before saying why
            raise
        written[result.policy] = str(folder)

    with stoppable():
        try:
            prepared = prepare_scenario(
                scenario,
                scenario_toml=scenario_file.read_text(encoding="utf-8"),
                trace=trace,
                seed=seed,
                until_s=until_s,
                locality=locality,
                failures=not no_failures,
                record_gpus=record_gpus,
            )
            if not as_json:
                err_console.print(
                    f"{prepared.name}: {prepared.jobs.n_jobs:,} jobs on "
                    f"{prepared.layout.n_gpus:,} GPUs ({prepared.layout.n_nodes:,} servers, "
                    f"{prepared.layout.n_racks} racks); prepared in "
                    f"{time.perf_counter() - t0:.1f} s",
                    highlight=False,
                    soft_wrap=True,
                )
            results = run_with_progress(
                prepared, names, workers=workers, quiet=as_json, on_result=save
            )
        except Stopped as stop:
            exit_stopped(stop, list(written), out, "unfinished policies wrote nothing", now=True)
    if as_json:
        payload = {
            "scenario": prepared.name,
            "out": str(out),
            "policies": {r.policy: r.summary for r in results},
        }
        typer.echo(json.dumps(payload, indent=2, sort_keys=True))
        return
    print_results(results, f"{prepared.name}: {prepared.jobs.n_jobs:,} jobs")
    console.print(f"results written to {out}/ ({', '.join(written)})")
