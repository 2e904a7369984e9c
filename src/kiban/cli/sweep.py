"""``kiban sweep SWEEP.toml --out DIR``: many simulations, locally or on a Dask cluster."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from kiban.cli._app import app, console, err_console

EXIT_INTERRUPTED = 130
EXIT_INCOMPLETE = 1


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt, so both stop the sweep the same clean way."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (e.g. inside a test runner's thread)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _point_text(values: dict[str, object], seed: int) -> str:
    parts = [f"{k}={v}" for k, v in values.items()]
    return " ".join([*parts, f"seed={seed}"])


def _eta_text(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


@app.command("sweep")
def sweep(  # noqa: PLR0917 - typer maps each parameter to an option
    sweep_file: Annotated[Path, typer.Argument(help="Sweep TOML file.", show_default=False)],
    out: Annotated[
        Path, typer.Option("--out", help="Sweep folder: runs.parquet and runs/<run_id>/.")
    ] = Path("kiban-sweep"),
    executor: Annotated[
        str, typer.Option("--executor", help="local (worker processes) or dask.")
    ] = "local",
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            help="Use a running Dask scheduler: dask://HOST:PORT (implies --executor dask).",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Worker processes (default: all cores; with --executor dask, of the "
            "LocalCluster it starts).",
            show_default=False,
        ),
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Run recorded failures again.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check the sweep file, print the plan, run nothing.")
    ] = False,
) -> None:
    """Run a scenario x policy x parameter x seed study; rerun the same command to resume.

    Writes DIR/runs.parquet (one row per run: axis values, seed, status, metrics, ledger) and
    DIR/runs/<run_id>/ as `kiban simulate` writes a run. `kiban report DIR` reads the sweep.
    """
    from kiban.sweep import load_sweep, make_executor, run_sweep  # noqa: PLC0415
    from kiban.sweep.runner import SweepProgress  # noqa: PLC0415

    spec = load_sweep(sweep_file)
    axes = ", ".join(f"{k} ({len({str(x) for x in v})})" for k, v in spec.axes.items()) or "none"
    err_console.print(
        escape(
            f"{spec.name}: {spec.n_runs:,} runs = axes {axes} ({spec.combine}) × "
            f"{len(spec.seeds)} seed(s), on {spec.scenario_path.name}"
        ),
        soft_wrap=True,
    )
    if dry_run:
        return
    ex = make_executor(executor, workers=workers, cluster=cluster)
    where = f"{ex.name}, {ex.workers} worker(s)"
    tty = err_console.is_terminal
    bar = Progress(
        TextColumn("[bold]sweep"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )
    task_id = bar.add_task("sweep", total=None, failed=0)

    def on_progress(p: SweepProgress) -> None:
        if p.last is None:
            err_console.print(
                escape(
                    f"{p.done_before} of {p.total} runs already done; running {p.to_run} ({where})"
                ),
                soft_wrap=True,
            )
            bar.update(task_id, total=p.to_run, completed=0)
            return
        bar.update(task_id, completed=p.done + p.lost, failed=p.failed)
        last, point = p.last, p.last_point
        if tty or point is None:
            if last.status != "ok" and point is not None:
                bar.console.print(
                    escape(
                        f"{last.status}: {point.run_id} {_point_text(point.values, point.seed)}"
                        f": {last.error}"
                    ),
                    soft_wrap=True,
                )
            return
        n = p.done + p.lost
        line = (
            f"[{n:>{len(str(p.to_run))}}/{p.to_run}] {last.status:<6} {point.run_id} "
            f"{_point_text(point.values, point.seed)} {last.wall_time_s:.1f} s; "
            f"{p.failed} failed; ~{_eta_text(p.eta_s())} left"
        )
        if last.error:
            line += f"\n    {last.error}"
        print(line, file=sys.stderr, flush=True)  # noqa: T201 - plain log lines off a terminal

    interrupted = False
    try:
        with _sigterm_as_interrupt(), bar if tty else contextlib.nullcontext():
            summary = run_sweep(spec, out, ex, retry_failed=retry_failed, on_progress=on_progress)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        ex.close()
    if interrupted:
        err_console.print(
            escape(
                f"interrupted: workers stopped; finished runs are kept in {out}/ and "
                f"{out}/runs.parquet; run the same command to resume"
            ),
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_INTERRUPTED)
    console.print(
        escape(
            f"{summary.ok} ok, {summary.failed} failed, {summary.missing} missing of "
            f"{summary.total} runs ({summary.ran} run now, {summary.wall_time_s:.1f} s); "
            f"table: {out / 'runs.parquet'}"
        ),
        soft_wrap=True,
    )
    if summary.missing:
        err_console.print(
            escape(
                f"{summary.missing} run(s) lost with their workers; run the same command "
                "to retry them"
            ),
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_INCOMPLETE)
