"""``kiban trace stats|convert|formats``: summarize job traces and convert them to kiban parquet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kiban.cli._app import app, console, err_console
from kiban.errors import ConfigError, TraceError
from kiban.units import PERCENT_PER_FRAC, S_PER_H

if TYPE_CHECKING:
    import numpy as np

    from kiban.workload import TraceReadResult

trace_app = typer.Typer(
    help="Job traces: statistics and conversion to the canonical parquet table.",
    no_args_is_help=True,
)
app.add_typer(trace_app, name="trace")

SpecArg = Annotated[
    str,
    typer.Argument(
        help="Trace as FORMAT:PATH, e.g. philly:jobs.csv (see 'kiban trace formats').",
        show_default=False,
    ),
]
SkipBadOpt = Annotated[
    bool,
    typer.Option(
        "--skip-bad", help="Skip malformed rows (counted and reported) instead of failing."
    ),
]
SeedOpt = Annotated[
    int,
    typer.Option("--seed", help="Seed of the job-model columns (β, A, I/O, checkpoints), ≥ 0."),
]

_PARQUET_MAGIC = b"PAR1"


def _rng(seed: int) -> np.random.Generator:
    if seed < 0:
        msg = f"--seed = {seed}: must be a whole number ≥ 0"
        raise ConfigError(msg)
    import numpy as np  # noqa: PLC0415 (startup time)

    return np.random.default_rng(seed)


def _report_skipped(result: TraceReadResult) -> None:
    from rich.markup import escape  # noqa: PLC0415 (startup time)

    for note in result.notes:
        err_console.print(f"note: {escape(note)}", highlight=False, soft_wrap=True)
    if result.n_bad:
        err_console.print(
            f"[yellow]skipped {result.n_bad} malformed row(s) of {result.n_rows}[/yellow]; first:",
            highlight=False,
        )
        for example in result.bad_examples:
            err_console.print(f"  {escape(example)}", highlight=False, soft_wrap=True)


def _fmt_duration(seconds: float) -> str:
    return f"{seconds:,.0f} s ({seconds / S_PER_H:,.2f} h)"


@trace_app.command("stats")
def stats(
    spec: SpecArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    skip_bad: SkipBadOpt = False,
    seed: SeedOpt = 0,
) -> None:
    """Jobs, GPU-hours, size mix, arrival rate and duration percentiles of a trace."""
    from rich.markup import escape  # noqa: PLC0415 (startup time)
    from rich.table import Table  # noqa: PLC0415

    from kiban.workload import read_trace, trace_stats  # noqa: PLC0415

    result = read_trace(spec, rng=_rng(seed), skip_bad=skip_bad)
    summary = trace_stats(result.jobs, origin=result.origin)
    if as_json:
        payload: dict[str, Any] = {
            "source": result.source,
            "rows": result.n_rows,
            "bad_rows": result.n_bad,
            "bad_examples": list(result.bad_examples),
            "excluded_rows": result.n_excluded,
            "notes": list(result.notes),
            **summary,
        }
        console.print_json(json.dumps(payload))
        return
    _report_skipped(result)
    table = Table(title=f"trace {escape(spec)}", show_header=True, header_style="bold")
    table.add_column("statistic")
    table.add_column("value", justify="right")
    table.add_row("rows read", f"{result.n_rows:,}")
    table.add_row("jobs", f"{summary['jobs']:,}")
    if result.n_bad or result.n_excluded:
        table.add_row("skipped (malformed) / left out", f"{result.n_bad:,} / {result.n_excluded:,}")
    table.add_row("GPU-hours", f"{summary['gpu_hours']:,.1f}")
    table.add_row("span", f"{summary['span_days']:,.2f} days")
    if "first_submit" in summary:
        table.add_row(
            "first / last submit", f"{summary['first_submit']} / {summary['last_submit']}"
        )
    table.add_row("arrival rate", f"{summary['arrival_rate_per_h']:,.2f} jobs/h")
    table.add_row("GPU-hours per day", f"{summary['gpu_hours_per_day']:,.1f}")
    table.add_row(
        "mean / max GPUs per job", f"{summary['mean_num_gpus']:.3f} / {summary['max_num_gpus']}"
    )
    for p in (50, 90, 99):
        table.add_row(f"duration p{p}", _fmt_duration(summary[f"duration_p{p}_s"]))
    console.print(table)
    mix = Table(title="size mix", show_header=True, header_style="bold")
    mix.add_column("GPUs")
    mix.add_column("jobs %", justify="right")
    mix.add_column("GPU-hours %", justify="right")
    for label, share in summary["size_mix"].items():
        mix.add_row(
            label,
            f"{share * PERCENT_PER_FRAC:.2f}",
            f"{summary['gpu_hours_by_size'][label] * PERCENT_PER_FRAC:.2f}",
        )
    console.print(mix)


@trace_app.command("convert")
def convert(
    spec: SpecArg,
    out: Annotated[Path, typer.Argument(help="Output parquet file.", show_default=False)],
    skip_bad: SkipBadOpt = False,
    seed: SeedOpt = 0,
) -> None:
    """Convert a trace to kiban's canonical jobs parquet (written atomically)."""
    from rich.markup import escape  # noqa: PLC0415 (startup time)

    from kiban.workload import read_trace, write_jobs_parquet  # noqa: PLC0415

    _check_output(spec, out)
    result = read_trace(spec, rng=_rng(seed), skip_bad=skip_bad)
    _report_skipped(result)
    host = result.host_pods
    write_jobs_parquet(result.jobs, out, origin=result.origin, source=result.source, host_pods=host)
    n_host = 0 if host is None else host.height
    kept = f" + {n_host:,} CPU-only pods (num_gpus = 0)" if n_host else ""
    console.print(
        f"wrote {escape(str(out))}: {result.jobs.height:,} jobs{kept} "
        f"({result.n_bad:,} malformed rows skipped, {result.n_excluded - n_host:,} left out)",
        highlight=False,
    )


def _check_output(spec: str, out: Path) -> None:
    """Refuse, before reading the trace, an output that would destroy data or cannot be written.

    Raises:
        TraceError: ``out`` is a folder, its folder is missing, it is the trace being read, or it
            exists and is not a parquet file (kiban overwrites only its own kind of file).
    """
    if out.is_dir():
        msg = f"{out}: is a folder; give the output file, e.g. {out / 'jobs.parquet'}"
        raise TraceError(msg)
    folder = out.parent if str(out.parent) else Path()
    if not folder.is_dir():
        msg = f"{out}: output folder {folder} does not exist"
        raise TraceError(msg)
    if not out.exists():
        return
    from kiban.workload import parse_trace_spec  # noqa: PLC0415 (startup time)

    _fmt, source = parse_trace_spec(spec)
    if source.exists() and out.samefile(source):
        msg = f"{out}: is the trace being read ({spec}); write the parquet to another file"
        raise TraceError(msg)
    try:
        with out.open("rb") as handle:
            magic = handle.read(len(_PARQUET_MAGIC))
    except OSError as err:
        msg = f"{out}: cannot open the existing file: {err.strerror or err}"
        raise TraceError(msg) from None
    if magic != _PARQUET_MAGIC:
        msg = (
            f"{out}: exists and is not a parquet file; kiban will not overwrite it "
            "(remove it first or choose another name, e.g. jobs.parquet)"
        )
        raise TraceError(msg)


@trace_app.command("formats")
def formats() -> None:
    """List the trace formats that FORMAT:PATH accepts."""
    from rich.markup import escape  # noqa: PLC0415 (startup time)
    from rich.table import Table  # noqa: PLC0415

    from kiban.workload import available_formats  # noqa: PLC0415

    table = Table(show_header=True, header_style="bold")
    table.add_column("format")
    table.add_column("reads")
    for name, description in available_formats().items():
        table.add_row(name, escape(description))
    console.print(table)


def _parse_seeds(text: str) -> list[int]:
    """``42-51`` or ``1,2,3`` → seeds; a clear error otherwise."""
    seeds: list[int] = []
    for part in text.split(","):
        piece = part.strip()
        lo, dash, hi = piece.partition("-")
        try:
            if dash:
                a, b = int(lo), int(hi)
                if b < a:
                    raise ValueError
                seeds.extend(range(a, b + 1))
            else:
                seeds.append(int(piece))
        except ValueError:
            msg = f"--seeds = {text!r}: give seeds ≥ 0 as 42-51 or 1,2,3"
            raise ConfigError(msg) from None
    if not seeds or min(seeds) < 0:
        msg = f"--seeds = {text!r}: give seeds ≥ 0 as 42-51 or 1,2,3"
        raise ConfigError(msg)
    return seeds


def _parse_levels(text: str) -> list[int]:
    try:
        levels = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        levels = []
    if not levels or min(levels) < 0:
        msg = f"--levels = {text!r}: give whole percentages ≥ 0, e.g. 100,130"
        raise ConfigError(msg)
    return levels


@trace_app.command("pack")
def pack(
    spec: Annotated[
        str,
        typer.Argument(
            help="openb:FOLDER holding openb_node_list_gpu_node.csv and the pod lists.",
            show_default=False,
        ),
    ],
    *,
    pods: Annotated[
        str,
        typer.Option(
            "--pods", help="Pod list: a name after openb_pod_list_ (default, cpu050, ...) or a CSV."
        ),
    ] = "default",
    policies: Annotated[
        str, typer.Option("--policy", help="Comma-separated: random, best-fit, fgd.")
    ] = "random,best-fit,fgd",
    seeds: Annotated[str, typer.Option("--seeds", help="Seeds, as 42-51 or 1,2,3.")] = "42-51",
    ratio: Annotated[
        float, typer.Option("--ratio", help="Requested GPU milli as a share of capacity.")
    ] = 1.3,
    levels: Annotated[
        str, typer.Option("--levels", help="Arrived shares (%) to report, e.g. 100,130.")
    ] = "100,130",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """The FGD paper's packing experiment: place pods once, report GPU allocation and fragmentation.

    Pods are shuffled per seed, topped up with sampled copies to --ratio of the GPU capacity and
    placed once each (no departures; a pod that fits nowhere is skipped). For each policy the
    allocated share of GPU milli and the fragmented GPUs (FGD's measure) are reported at each
    arrived share in --levels, as mean ± standard deviation over the seeds.
    """
    import numpy as np  # noqa: PLC0415 (startup time)
    from rich.markup import escape  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    from kiban.workload import parse_trace_spec  # noqa: PLC0415
    from kiban.workload.packing import (  # noqa: PLC0415
        PACKING_POLICIES,
        allocation_pct,
        binned_by_arrival,
        read_packing_nodes,
        read_packing_pods,
        run_packing,
    )

    fmt, folder = parse_trace_spec(spec)
    if fmt != "openb":
        msg = f"{spec}: the packing experiment reads openb traces (openb:FOLDER)"
        raise ConfigError(msg)
    chosen = [p.strip() for p in policies.split(",") if p.strip()]
    bad = [p for p in chosen if p not in PACKING_POLICIES]
    if bad or not chosen:
        msg = f"--policy = {policies!r}: allowed {', '.join(PACKING_POLICIES)}"
        raise ConfigError(msg)
    seed_list = _parse_seeds(seeds)
    level_list = _parse_levels(levels)
    cluster = read_packing_nodes(folder)
    pod_path = Path(pods)
    if not pod_path.suffix:
        base = folder if folder.is_dir() else folder.parent
        name = f"openb_pod_list_{pods}.csv"
        pod_path = base / name if (base / name).is_file() else base / "csv" / name
    pod_list = read_packing_pods(pod_path, cluster.models)
    lv = np.asarray(level_list)
    results: dict[str, Any] = {}
    for policy in chosen:
        alloc, frag, failed = [], [], []
        for seed in seed_list:
            run = run_packing(cluster, pod_list, policy, seed=seed, ratio=ratio)
            alloc.append(binned_by_arrival(run, allocation_pct(run), lv))
            frag.append(binned_by_arrival(run, run.frag_milli / 1000.0, lv))
            failed.append(run.n_failed)
        a, f = np.asarray(alloc), np.asarray(frag)
        results[policy] = {
            "seeds": seed_list,
            "levels_pct": level_list,
            "allocation_pct_mean": a.mean(axis=0).round(3).tolist(),
            "allocation_pct_std": (a.std(axis=0, ddof=1) if len(seed_list) > 1 else 0 * a[0])
            .round(3)
            .tolist(),
            "frag_gpus_mean": f.mean(axis=0).round(2).tolist(),
            "failed_pods_mean": float(np.mean(failed)),
        }
    if as_json:
        payload = {
            "pods": str(pod_path),
            "nodes": cluster.n_nodes,
            "gpus": int(cluster.n_gpus.sum()),
            "ratio": ratio,
            "policies": results,
        }
        console.print_json(json.dumps(payload))
        return
    table = Table(
        title=f"{escape(pod_path.name)}: {cluster.n_nodes:,} nodes, {int(cluster.n_gpus.sum()):,} "
        f"GPUs, {len(seed_list)} seed(s)",
        show_header=True,
        header_style="bold",
    )
    table.add_column("policy")
    for level in level_list:
        table.add_column(f"allocated % @ {level} %", justify="right")
        table.add_column(f"frag GPUs @ {level} %", justify="right")
    table.add_column("skipped pods", justify="right")
    for policy, res in results.items():
        cells = []
        for i in range(len(level_list)):
            cells.append(
                f"{res['allocation_pct_mean'][i]:.2f} ± {res['allocation_pct_std'][i]:.2f}"
            )
            cells.append(f"{res['frag_gpus_mean'][i]:,.0f}")
        table.add_row(policy, *cells, f"{res['failed_pods_mean']:,.0f}")
    console.print(table)
