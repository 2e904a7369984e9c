"""``kiban validate FILE...`` and ``kiban schema``: check scenario files, print the JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kiban.cli._app import app, console
from kiban.errors import ConfigError
from kiban.units import W_PER_KW

if TYPE_CHECKING:
    from kiban.spec import Scenario


def summary_line(path: Path, scenario: Scenario) -> str:
    """One-line description of a valid scenario: fleet, racks, IT power, cooling, climate."""
    racks = scenario.racks_resolved()
    used = [r for r in racks if r.servers]
    techs = sorted({r.cooling.name for r in used}) or [scenario.cooling.technology]
    climate = scenario.site.climate
    where = climate.monthly if climate.monthly is not None else climate.kind
    line = (
        f"{path}: {scenario.display_name}: {scenario.n_servers} servers ({scenario.n_gpus} GPUs) "
        f"in {len(used)}/{len(racks)} racks, IT max {scenario.it_max_power_w / W_PER_KW:,.1f} kW, "
        f"cooling {', '.join(techs)}, climate {where}"
    )
    trace = scenario.workload.trace_path
    if trace is not None:
        line += f", trace {scenario.workload.trace_format}"
        if not trace.is_file():
            line += f" (not found here: {trace}; needed to simulate)"
    return line


@app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(help="Scenario TOML files.", show_default=False)],
    check_data: Annotated[
        bool, typer.Option("--check-data", help="Also require the workload trace file to exist.")
    ] = False,
) -> None:
    """Check scenario files: types, units and physical consistency.

    Prints one OK line per valid file. Any problem is one line, FILE: dotted.path = value:
    what is allowed, and the exit status is 2.
    """
    from rich.markup import escape  # noqa: PLC0415 (startup time)

    from kiban.spec import load_spec  # noqa: PLC0415 (startup time)

    problems: list[str] = []
    for path in files:
        try:
            scenario = load_spec(path)
            if check_data:
                scenario.workload.check_trace()
        except ConfigError as err:
            problems.extend(
                line if line.startswith(f"{path}:") else f"{path}: {line}" for line in err.problems
            )
            continue
        console.print(
            f"[green]OK[/green] {escape(summary_line(path, scenario))}",
            highlight=False,
            soft_wrap=True,
        )
    if problems:
        msg = f"{len(problems)} problem(s) in {len(files)} file(s)"
        raise ConfigError(msg, problems=problems)


@app.command("schema")
def schema() -> None:
    """Print the JSON Schema of a scenario file (the TOML keys, types and defaults)."""
    from kiban.spec import Scenario  # noqa: PLC0415 (startup time)

    typer.echo(json.dumps(Scenario.model_json_schema(), indent=2, ensure_ascii=False))
