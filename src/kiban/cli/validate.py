"""``kiban validate FILE...`` and ``kiban schema``: check scenario files, print the JSON Schema."""

from __future__ import annotations

import json
import os
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
        if not trace.exists():  # a file, or a folder for readers that take one (openb, philly)
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


def trace_problems(
    scenario: Scenario, *, required: bool, ahead: TraceCheckAhead | None = None
) -> list[str]:
    """Read the scenario's trace as ``simulate`` will; one line if it cannot.

    A trace that is simply absent is a problem only when ``required`` (``--check-data``); the
    OK line says it is missing otherwise. A pipe, link loop or unreadable file is always one.
    A file that read cleanly before, unchanged since, is not read again
    (:mod:`kiban.cli._trace_memo`). ``ahead`` may hold the answer already, from a process that
    checked the same trace (same text, ``skip_bad`` and ``required``) in parallel.
    """
    workload = scenario.workload
    if workload.trace is None:
        return []
    if ahead is not None:
        found = ahead.result(workload.trace, skip_bad=workload.skip_bad, required=required)
        if found is not None:
            return found
    return trace_file_problems(workload.trace, skip_bad=workload.skip_bad, required=required)


def trace_file_problems(trace: str, *, skip_bad: bool, required: bool) -> list[str]:
    """The problems of reading the resolved ``FORMAT:PATH`` trace (see :func:`trace_problems`)."""
    from kiban._files import input_file_problem  # noqa: PLC0415
    from kiban.cli._trace_memo import (  # noqa: PLC0415
        read_cleanly_before,
        remember_clean_read,
        trace_key,
    )

    fmt, _, raw_path = trace.partition(":")
    path = Path(raw_path)
    where = f'workload.trace = "{trace}"'
    problem = input_file_problem(path, allow_dir=True)
    if problem == "file not found":
        return [f"{where}: trace file not found: {path}"] if required else []
    key = None
    if problem is None:
        key = trace_key(fmt, path, skip_bad=skip_bad)
        if read_cleanly_before(key):
            return []
    from kiban.errors import TraceError  # noqa: PLC0415
    from kiban.workload import read_trace  # noqa: PLC0415 (polars: only to read a trace)

    try:
        # The job-model columns come from kiban's mix, not from the file: not built here.
        read_trace(trace, skip_bad=skip_bad, job_model=False)
    except TraceError as err:
        return [f"{where}: {err}"]
    remember_clean_read(key, trace)
    return []


class TraceCheckAhead:
    """Check the traces of scenario files in a forked process while this one checks the rest.

    Reading a trace the first time (polars, the file, every row's checks) takes about as long
    as loading and checking the scenario itself (pydantic, the catalog, the policies); the two
    are independent, so on two cores they run side by side. The trace to check is taken from
    the TOML before the scenario is loaded (``workload.trace`` and ``skip_bad``, with the path
    resolved as the spec resolves it). That is only a guess: :meth:`result` answers only for
    the exact resolved trace text, ``skip_bad`` and ``required`` that the loaded scenario has,
    and the caller reads the trace itself otherwise, so the outcome is the same either way.

    Not started where ``os.fork`` is missing, or this process already runs threads (native
    ones included) or has numpy, polars or pyarrow loaded (a forked copy of a thread pool can
    hang); then everything runs in this process as before. ``kiban validate`` starts it before
    loading any of them.
    """

    def __init__(self, files: list[Path], *, required: bool) -> None:
        self.required = required
        self._pid: int | None = None
        self._fd: int | None = None
        self._results: dict[tuple[str, bool, bool], list[str]] | None = None
        self._traces = [t for t in (_trace_in_toml(f) for f in files) if t is not None]
        self._traces = [t for t in self._traces if not _remembered(*t)]

    def start(self) -> TraceCheckAhead:
        """Fork the checking process (when there is a trace and it is safe to fork)."""
        import sys  # noqa: PLC0415
        import threading  # noqa: PLC0415

        if (
            not self._traces
            or not hasattr(os, "fork")
            or any(name in sys.modules for name in ("polars", "pyarrow", "numpy"))
            or threading.active_count() > 1
            or _os_threads() > 1
        ):
            return self
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the checking process: never returns
            os.close(read_fd)
            self._run_child(write_fd)
        os.close(write_fd)
        self._pid, self._fd = pid, read_fd
        return self

    def _run_child(self, write_fd: int) -> None:
        code = 1
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            out = [
                (trace, skip_bad, self.required, found)
                for trace, skip_bad in self._traces
                for found in [trace_file_problems(trace, skip_bad=skip_bad, required=self.required)]
            ]
            data = json.dumps(out).encode("utf-8")
            while data:
                data = data[os.write(write_fd, data) :]
            code = 0
        finally:
            os._exit(code)  # no interpreter shutdown, no exit handlers of the parent

    def result(self, trace: str, *, skip_bad: bool, required: bool) -> list[str] | None:
        """The problems found for exactly this trace, or None (not checked ahead: check it)."""
        if self._results is None:
            if self._pid is None:
                return None
            self._collect()
        assert self._results is not None
        return self._results.get((trace, skip_bad, required))

    def _collect(self) -> None:
        """Read the checking process's answer and reap it (once; nothing on any failure)."""
        fd, pid = self._fd, self._pid
        self._fd = self._pid = None
        self._results = {}
        if fd is None or pid is None:
            return
        try:
            with os.fdopen(fd, "rb") as pipe:
                data = pipe.read()
        finally:
            _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            return  # the checking process failed or was stopped: the caller checks instead
        try:
            rows = json.loads(data)
            self._results = {
                (t, bool(sb), bool(rq)): [str(x) for x in found] for t, sb, rq, found in rows
            }
        except (ValueError, TypeError):
            return

    def close(self) -> None:
        """Wait for the checking process (it never outlives this command)."""
        if self._pid is not None:
            self._collect()


def _os_threads() -> int:
    """Threads of this process, native ones included (1 where /proc is not there to tell)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


def _remembered(trace: str, skip_bad: bool) -> bool:
    """Whether this trace read cleanly before and is unchanged (nothing to check ahead)."""
    from kiban.cli._trace_memo import read_cleanly_before, trace_key  # noqa: PLC0415

    fmt, _, path = trace.partition(":")
    return read_cleanly_before(trace_key(fmt, Path(path), skip_bad=skip_bad))


def _trace_in_toml(path: Path) -> tuple[str, bool] | None:
    """(resolved ``FORMAT:PATH``, ``skip_bad``) of a scenario file's trace, or None.

    Resolved as :func:`kiban.spec._common.resolve_path` does (a leading ``$KIBAN_DATA``, ``~``,
    relative to the file's folder), without loading the spec; anything unexpected is None.
    """
    import tomllib  # noqa: PLC0415

    try:
        with path.open("rb") as handle:
            workload = tomllib.load(handle).get("workload", {})
        text = workload.get("trace")
        skip_bad = workload.get("skip_bad", False)
        if not isinstance(text, str) or not isinstance(skip_bad, bool):
            return None
        fmt, sep, raw = text.strip().partition(":")
        if not sep or not raw.strip():
            return None
        raw = raw.strip()
        for prefix in ("${KIBAN_DATA}", "$KIBAN_DATA"):
            if raw == prefix or raw.startswith((prefix + "/", prefix + "\\")):
                from kiban.shared_data import default_data_root  # noqa: PLC0415

                raw = str(default_data_root()) + raw[len(prefix) :]
                break
        resolved = Path(raw).expanduser()
        if not resolved.is_absolute():
            resolved = (path.parent.resolve() / resolved).resolve()
    except (OSError, ValueError, RuntimeError):
        return None
    return f"{fmt}:{resolved}", skip_bad


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
    ahead = TraceCheckAhead(files, required=check_data).start()
    try:
        _validate_files(files, ahead, check_data=check_data)
    finally:
        ahead.close()


def _validate_files(files: list[Path], ahead: TraceCheckAhead, *, check_data: bool) -> None:
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
        found = policy_problems(scenario)
        found += trace_problems(scenario, required=check_data, ahead=ahead)
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
