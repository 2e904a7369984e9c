"""What a worker does for one run: load the run's scenario, simulate, and hand the files back.

The worker writes nothing into the sweep's folder: it returns the result files as bytes, and
the process that owns the folder commits them atomically. So a worker on another machine needs
no shared file system, and a worker killed midway leaves nothing behind.

Inputs that every run shares (the trace, as a canonical jobs table in parquet) reach a worker
once: :class:`SharedTrace` is handed to the pool initializer (local processes) or scattered to
every Dask worker, and written to a file in the worker's own temporary folder on first use.
"""

from __future__ import annotations

import atexit
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RunOutcome", "RunTask", "SharedTrace", "execute_run", "init_local_worker"]

STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_LOST = "lost"
"""A run whose worker died too often; not recorded, so the next sweep retries it."""


@dataclass(frozen=True)
class SharedTrace:
    """The trace every run replays, as ``kiban`` parquet bytes, named by their hash."""

    sha256: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class RunTask:
    """Everything one run needs, small enough to send per run.

    Attributes:
        run_id: The run's name.
        scenario_toml: The run's whole scenario (base plus overrides, paths absolute).
        policy: Policy name (or ``scenario``).
        params: Policy parameters.
        seed: Seed.
        until_s: Horizon (s) or None.
        locality: ``none`` or ``node``.
        failures: Whether nodes fail.
        shared_trace: Hash of the shared trace the run replays, or None (the scenario's own
            workload).
    """

    run_id: str
    scenario_toml: str
    policy: str
    params: dict[str, Any]
    seed: int
    until_s: float | None
    locality: str
    failures: bool
    shared_trace: str | None = None


@dataclass(frozen=True)
class RunOutcome:
    """What came back from one run.

    Attributes:
        run_id: The run's name.
        status: ``ok``, ``failed`` or ``lost``.
        error: ``Type: message`` for a failed or lost run, else "".
        wall_time_s: Wall time of the whole run in the worker (load, prepare, simulate, save).
        summary: The result's ``summary.json`` as a dict (None unless ok).
        files: Result files, path relative to the run folder → bytes.
    """

    run_id: str
    status: str
    error: str = ""
    wall_time_s: float = 0.0
    summary: dict[str, Any] | None = None
    files: dict[str, bytes] = field(default_factory=dict, repr=False)


_state: dict[str, Any] = {}


def _scratch() -> Path:
    folder = _state.get("scratch")
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="kiban-sweep-worker-"))
        _state["scratch"] = folder
        atexit.register(shutil.rmtree, folder, True)
    return Path(folder)


MEMORY_FORMAT = "kiban-sweep-memory"
"""Trace format registered in workers: the shared trace, parsed once, served from memory."""


def _read_from_memory(path: Path, *, skip_bad: bool) -> Any:
    from kiban.workload import RawTrace  # noqa: PLC0415

    frame, origin = _state["frames"][str(path)]
    return RawTrace(columns={}, n_rows=frame.height, origin=origin, frame=frame)


def _trace_spec(trace: SharedTrace) -> str:
    """``FORMAT:PATH`` of the shared trace for :func:`kiban.results.prepare_scenario`.

    The first run in a worker writes the parquet to the worker's scratch folder and parses it
    (the ``kiban`` reader); later runs get the parsed table from memory through a reader
    registered under :data:`MEMORY_FORMAT` (same table, same validation, no file read).
    """
    from kiban.workload import read_trace, register_reader  # noqa: PLC0415

    path = _trace_file(trace)
    frames: dict[str, Any] = _state.setdefault("frames", {})
    if str(path) not in frames:
        result = read_trace(f"kiban:{path}")
        frames[str(path)] = (result.jobs, result.origin)
    if not _state.get("memory_reader"):
        register_reader(
            MEMORY_FORMAT, description="kiban sweep: shared trace held in memory", internal=True
        )(_read_from_memory)
        _state["memory_reader"] = True
    return f"{MEMORY_FORMAT}:{path}"


def _trace_file(trace: SharedTrace) -> Path:
    """Write the shared trace to this worker's scratch folder once; later runs reuse the file."""
    files: dict[str, Path] = _state.setdefault("traces", {})
    path = files.get(trace.sha256)
    if path is None or not path.is_file():
        path = _scratch() / f"trace-{trace.sha256[:16]}.parquet"
        # Dask workers may run several runs in threads: write aside, then rename into place.
        tmp = path.with_name(f".{path.name}.{threading.get_ident()}")
        tmp.write_bytes(trace.data)
        tmp.replace(path)
        files[trace.sha256] = path
    return path


def init_local_worker(trace: SharedTrace | None) -> None:
    """Initializer of a local worker process: keep the shared trace, ignore Ctrl-C.

    The terminal sends Ctrl-C to the whole process group; the sweep's own process then stops
    the workers itself, so they must not die half-way through writing a traceback.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _state["trace"] = trace


def execute_run(task: RunTask, trace: SharedTrace | None = None) -> RunOutcome:
    """Run one sweep point exactly as ``kiban simulate`` would, and return its files.

    Args:
        task: The run.
        trace: The shared trace (Dask passes it; local workers got it at start-up).

    Returns:
        The outcome; an exception inside the run becomes a ``failed`` outcome with its message.
    """
    from kiban.results import prepare_scenario, run_prepared  # noqa: PLC0415
    from kiban.spec import load_spec  # noqa: PLC0415

    t0 = time.perf_counter()
    trace = trace if trace is not None else _state.get("trace")
    run_dir = Path(tempfile.mkdtemp(prefix=f"{task.run_id}-", dir=_scratch()))
    try:
        scenario_file = run_dir / "scenario.toml"
        scenario_file.write_text(task.scenario_toml, encoding="utf-8")
        scenario = load_spec(scenario_file)
        trace_spec = None
        if task.shared_trace is not None:
            if trace is None or trace.sha256 != task.shared_trace:
                msg = f"worker has no copy of the shared trace {task.shared_trace[:12]}"
                raise RuntimeError(msg)
            trace_spec = _trace_spec(trace)
        prepared = prepare_scenario(
            scenario,
            scenario_toml=task.scenario_toml,
            trace=trace_spec,
            seed=task.seed,
            until_s=task.until_s,
            locality=task.locality,
            failures=task.failures,
        )
        result = run_prepared(prepared, task.policy, task.params or None)
        folder = result.save(run_dir / "out" / result.policy)
        files = {
            f"{result.policy}/{p.name}": p.read_bytes()
            for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.startswith(".")
        }
        files["scenario.toml"] = task.scenario_toml.encode("utf-8")
        return RunOutcome(
            run_id=task.run_id,
            status=STATUS_OK,
            wall_time_s=time.perf_counter() - t0,
            summary=result.summary,
            files=files,
        )
    except Exception as err:  # a failed run is recorded; the sweep goes on with the others
        lines = getattr(err, "problems", None) or [str(err)]
        return RunOutcome(
            run_id=task.run_id,
            status=STATUS_FAILED,
            error=f"{type(err).__name__}: {'; '.join(str(x) for x in lines)}",
            wall_time_s=time.perf_counter() - t0,
        )
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
