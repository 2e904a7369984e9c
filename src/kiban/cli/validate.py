"""``kiban validate FILE...`` and ``kiban schema``: check scenario files, print the JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kiban.cli._app import app, console, err_console
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


_POLICY_KINDS = ("admission", "scheduling", "placement", "power", "cooling", "data")


def policy_problems(scenario: Scenario) -> list[str]:
    """The ``[policies]`` choices that ``simulate`` could not build: unknown names or params.

    Args:
        scenario: A loaded scenario.

    Returns:
        One ``policies.KIND = "name": why`` line per problem (no file prefix).
    """
    from kiban.catalog import suggestion  # noqa: PLC0415
    from kiban.errors import PolicyError  # noqa: PLC0415
    from kiban.policies.layered import policy_from_spec  # noqa: PLC0415
    from kiban.policies.registry import available_policies  # noqa: PLC0415

    out: list[str] = []
    for kind in _POLICY_KINDS:
        choice = getattr(scenario.policies, kind, None)
        if choice is None:
            continue
        known = available_policies(kind)
        name = str(choice.name)
        if name.strip().lower().replace("_", "-") not in known:
            hint = suggestion(name.replace("_", "-"), known)
            out.append(
                f'policies.{kind} = "{name}": not a registered {kind} policy'
                f"{hint or ';'} known: {', '.join(known)}"
            )
    if not out:
        try:
            policy_from_spec(scenario.policies)
        except PolicyError as err:
            out.append(f"policies = {err!s}")
    return out


def trace_problems(scenario: Scenario, *, required: bool) -> list[str]:
    """Read the scenario's trace as ``simulate`` will; one line if it cannot.

    A trace that is simply absent is a problem only when ``required`` (``--check-data``); the
    OK line says it is missing otherwise. A pipe, link loop or unreadable file is always one.
    A file that read cleanly before, unchanged since, is not read again
    (:mod:`kiban.cli._trace_memo`).
    """
    from kiban._files import input_file_problem  # noqa: PLC0415
    from kiban.cli._trace_memo import (  # noqa: PLC0415
        read_cleanly_before,
        remember_clean_read,
        trace_key,
    )

    workload = scenario.workload
    path = workload.trace_path
    if path is None or workload.trace is None:
        return []
    where = f'workload.trace = "{workload.trace}"'
    problem = input_file_problem(path, allow_dir=True)
    if problem == "file not found":
        return [f"{where}: trace file not found: {path}"] if required else []
    key = None
    if problem is None:
        key = trace_key(str(workload.trace_format), path, skip_bad=workload.skip_bad)
        if read_cleanly_before(key):
            return []
    from kiban.errors import TraceError  # noqa: PLC0415
    from kiban.workload import read_trace  # noqa: PLC0415 (polars: only to read a trace)

    try:
        read_trace(workload.trace, skip_bad=workload.skip_bad)
    except TraceError as err:
        return [f"{where}: {err}"]
    remember_clean_read(key, workload.trace)
    return []


@app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(help="Scenario TOML files.", show_default=False)],
    check_data: Annotated[
        bool, typer.Option("--check-data", help="Also require the workload trace file to exist.")
    ] = False,
) -> None:
    """Check scenario files: types, units, physical consistency, policies and the trace.

    Everything ``simulate`` and ``plan`` need is checked: registered policy names, a trace that
    reads, and capacities (cooling, power, floor) that carry the fleet. Values that are legal
    but outside the usual physical range are warnings with the expected range.

    A trace that read cleanly is remembered (by path, size and change times) in kiban's cache
    folder ($KIBAN_CACHE_DIR, else $XDG_CACHE_HOME/kiban or ~/.cache/kiban) and read again
    only when it changes.

    Prints one OK line per valid file. Any problem is one line, FILE: dotted.path = value:
    what is allowed, and the exit status is 2.
    """
    from rich.markup import escape  # noqa: PLC0415 (startup time)

    from kiban.spec import load_spec  # noqa: PLC0415 (startup time)
    from kiban.spec.checks import plausibility_warnings  # noqa: PLC0415

    problems: list[str] = []
    for path in files:
        try:
            scenario = load_spec(path)
        except ConfigError as err:
            problems.extend(
                line if line.startswith(f"{path}:") else f"{path}: {line}" for line in err.problems
            )
            continue
        found = policy_problems(scenario) + trace_problems(scenario, required=check_data)
        if found:
            problems.extend(f"{path}: {line}" for line in found)
            continue
        for line in plausibility_warnings(scenario):
            err_console.print(
                f"[yellow]warning:[/yellow] {escape(f'{path}: {line}')}",
                highlight=False,
                soft_wrap=True,
            )
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
