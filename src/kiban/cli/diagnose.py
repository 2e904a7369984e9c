"""``kiban diagnose`` and ``kiban serve``: telemetry in, the ledger out; the twin as an exporter.

``kiban diagnose`` books a real cluster's GPU-seconds into the twin's ledger buckets from
Prometheus (or a file); ``kiban serve`` exposes a recorded twin as a dcgm-exporter (live
``/metrics``, or OpenMetrics for ``promtool tsdb create-blocks-from openmetrics``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from kiban.cli._app import app, console, err_console
from kiban.errors import ConfigError
from kiban.units import S_PER_H


@app.command("diagnose")
def diagnose_cmd(  # noqa: PLR0917 - typer maps each parameter to an option
    prometheus: str | None = typer.Option(
        None, "--prometheus", help="Prometheus base URL, e.g. http://127.0.0.1:9090."
    ),
    file: Path | None = typer.Option(  # noqa: B008
        None, "--file", help="OpenMetrics/Prometheus text dump with timestamps, or a CSV."
    ),
    start: str = typer.Option(
        "now-1d", "--start", help="Window start: Unix s, ISO 8601, or now-7d."
    ),
    end: str = typer.Option("now", "--end", help="Window end: Unix s, ISO 8601, or now."),
    step: float = typer.Option(15.0, "--step", help="Step in seconds (the scrape interval)."),
    out: Path = typer.Option(  # noqa: B008
        Path("diagnosis"), "--out", help="Folder; the result goes to OUT/diagnosed/."
    ),
    match: str = typer.Option(
        "", "--match", help='Extra PromQL label matchers on every selector, e.g. cluster="a".'
    ),
    max_series: int = typer.Option(50_000, "--max-series", help="Most series per metric."),
    timeout_s: float = typer.Option(30.0, "--timeout", help="Per-request timeout (s)."),
    retries: int = typer.Option(3, "--retries", help="Retries per request (backoff doubles)."),
    compute_bound_frac: float = typer.Option(
        1.0, "--compute-bound-frac", help="Share of work that scales with the SM clock (0-1)."
    ),
    chunk_steps: int = typer.Option(1440, "--chunk-steps", help="Steps read at once."),
    name: str = typer.Option("diagnosed cluster", "--name", help="Cluster name in the report."),
    jobs: Path | None = typer.Option(  # noqa: B008
        None,
        "--jobs",
        help="sacct -P output (JobID,Submit,Start,End,NodeList,AllocTRES): the queue when "
        "slurm_queue_pending is not scraped, allocations when GPU series have no job label.",
    ),
    jobs_utc_offset_h: float = typer.Option(
        0.0, "--jobs-utc-offset", help="Hours the scheduler's clock is ahead of UTC (Japan: 9)."
    ),
) -> None:
    """Book every GPU-second of a time window into the ledger buckets, from telemetry."""
    from kiban.diagnose import DiagnoseSettings, diagnose, save_diagnosis  # noqa: PLC0415
    from kiban.telemetry.series import Window, parse_time_s  # noqa: PLC0415

    if (prometheus is None) == (file is None):
        msg = "give exactly one source: --prometheus URL or --file FILE"
        raise ConfigError(msg)
    if not 0.0 <= compute_bound_frac <= 1.0:
        msg = f"--compute-bound-frac {compute_bound_frac!r}: must be within 0..1"
        raise ConfigError(msg)
    now = time.time()
    window = Window(
        parse_time_s(start, now_s=now, option="--start"),
        parse_time_s(end, now_s=now, option="--end"),
        step,
    )
    settings = DiagnoseSettings(chunk_steps=chunk_steps, compute_bound_frac=compute_bound_frac)
    records = None
    if jobs is not None:
        from kiban.diagnose.jobs import read_sacct_jobs  # noqa: PLC0415

        records = read_sacct_jobs(jobs, utc_offset_s=jobs_utc_offset_h * S_PER_H)
    t0 = time.perf_counter()
    if prometheus is not None:
        from kiban.telemetry.prometheus import PrometheusSource  # noqa: PLC0415

        src = PrometheusSource(
            prometheus, timeout_s=timeout_s, retries=retries, max_series=max_series, match=match
        )
        try:
            diag = diagnose(src, window, settings, jobs=records)
        finally:
            src.close()
    else:
        from kiban.telemetry.openmetrics import FileSource  # noqa: PLC0415

        assert file is not None
        diag = diagnose(FileSource(file), window, settings, jobs=records)
    folder = save_diagnosis(diag, out / "diagnosed", name=name, wall_s=time.perf_counter() - t0)
    _print(diag)
    console.print(f"wrote {escape(str(folder))}", soft_wrap=True)


def _print(diag: object) -> None:
    from kiban.diagnose.engine import BUCKETS, MEASURED, Diagnosis  # noqa: PLC0415

    assert isinstance(diag, Diagnosis)
    tot = diag.totals_s()
    cap = diag.capacity_gpu_s
    table = Table(title=f"{len(diag.gpu_keys)} GPUs, {diag.window.duration_s / S_PER_H:.1f} h")
    for col in ("bucket", "GPU-hours", "share", "±GPU-hours", "how"):
        table.add_column(col)
    for b in sorted(BUCKETS, key=lambda x: -tot[x]):
        table.add_row(
            b,
            f"{tot[b] / S_PER_H:,.1f}",
            f"{100 * tot[b] / cap:.1f}%" if cap else "-",
            f"{diag.uncertainty_s[b] / S_PER_H:,.1f}",
            MEASURED[b],
        )
    console.print(table)
    from kiban.diagnose.output import diagnosis_report  # noqa: PLC0415

    report = diagnosis_report(diag, top=3)
    for key, title in (
        ("worst_racks", "worst racks"),
        ("worst_nodes", "worst nodes"),
        ("worst_jobs", "worst jobs"),
    ):
        rows = report[key]
        if rows:
            text = ", ".join(
                f"{r['name']} {r['lost_gpu_hours']:,.1f} GPU-h lost (mostly {r['top_cause']})"
                for r in rows
            )
            console.print(f"{title}: {escape(text)}", soft_wrap=True)
    for metric, lost in diag.missing.items():
        err_console.print(f"[yellow]missing:[/yellow] {metric}: {escape(lost)}", soft_wrap=True)
    for line in diag.warnings:
        err_console.print(f"[yellow]warning:[/yellow] {escape(line)}", soft_wrap=True)


@app.command("serve")
def serve_cmd(  # noqa: PLR0917 - typer maps each parameter to an option
    result: Path = typer.Argument(  # noqa: B008
        ..., help="A `kiban simulate --record-gpus` result folder (DIR/<policy>)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
    port: int = typer.Option(9400, "--port", help="TCP port (dcgm-exporter's is 9400)."),
    speed: float = typer.Option(60.0, "--speed", help="Simulated seconds per wall second."),
    step: float = typer.Option(15.0, "--step", help="Averaging window / scrape step (s)."),
    openmetrics: Path | None = typer.Option(  # noqa: B008
        None,
        "--openmetrics",
        help="Write OpenMetrics with timestamps to this file (for `promtool tsdb "
        "create-blocks-from openmetrics`) instead of serving.",
    ),
    origin: str | None = typer.Option(
        None, "--origin", help="Wall-clock time of simulated t=0 (ISO 8601)."
    ),
) -> None:
    """Expose the twin's per-GPU metrics under dcgm-exporter's names."""
    from kiban.telemetry.twin import load_twin  # noqa: PLC0415

    if step <= 0 or speed <= 0:
        msg = f"--step {step!r} and --speed {speed!r}: both must be > 0"
        raise ConfigError(msg)
    twin = load_twin(result, origin_utc=origin)
    if openmetrics is not None:
        import os  # noqa: PLC0415
        import tempfile  # noqa: PLC0415

        from kiban.telemetry.openmetrics import write_openmetrics  # noqa: PLC0415

        # stream into a temporary file beside the target, then rename: no half-written file
        try:
            openmetrics.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(
                prefix=f".{openmetrics.name}.", suffix=".tmp", dir=openmetrics.parent
            )
        except OSError as err:
            msg = f"--openmetrics {openmetrics}: cannot write there ({err.strerror or err})"
            raise ConfigError(msg) from err
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                n = write_openmetrics(twin, fh, step_s=step)
            os.replace(tmp, openmetrics)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        console.print(f"wrote {n:,} samples to {escape(str(openmetrics))}", soft_wrap=True)
        return
    from kiban.telemetry.serve import serve_twin  # noqa: PLC0415

    def ready(bound: int) -> None:
        console.print(
            f"serving {twin.gpus.height} GPUs on http://{host}:{bound}/metrics "
            f"({speed:g}x, {twin.horizon_s / S_PER_H:.1f} simulated h)",
            soft_wrap=True,
        )
        sys.stdout.flush()

    try:
        serve_twin(twin, host=host, port=port, speed=speed, window_s=step, on_ready=ready)
    except OSError as err:
        msg = f"--host {host} --port {port}: cannot listen ({err.strerror or err})"
        raise ConfigError(msg) from err
    except KeyboardInterrupt:
        pass
