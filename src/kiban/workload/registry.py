"""Trace readers by format name, and ``read_trace("FORMAT:PATH")`` into the canonical jobs table.

A reader is one function in one module of :mod:`kiban.workload.readers`, registered with
``@register_reader("name", description=...)``; there is no central list. It parses its file and
returns a :class:`RawTrace` (the trace's own columns in canonical names, times in the trace's own
seconds). :func:`read_trace` then does what every format shares:

1. shifts times so the first submission is at 0 s (``TraceReadResult.origin`` keeps its wall-clock
   time where the trace has one);
2. sorts jobs by submit time (stable, so ties keep trace order);
3. fills the job-model columns from the mix (:mod:`kiban.workload.job_model`) with the given rng;
4. validates the result (:func:`kiban.workload.schema.validate_jobs`).
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import polars as pl

from kiban._files import input_file_problem
from kiban.errors import TraceError
from kiban.workload.job_model import JobModelMix, assign_job_model
from kiban.workload.schema import (
    JOBS_COLUMNS,
    JOBS_OPTIONAL_SCHEMA,
    jobs_frame,
    optional_columns,
    validate_jobs,
)

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "RawTrace",
    "ReaderFn",
    "TraceReadResult",
    "available_formats",
    "parse_trace_spec",
    "read_trace",
    "register_reader",
]

logger = logging.getLogger(__name__)

_READERS_PACKAGE = "kiban.workload.readers"
_FORMAT_RE = re.compile(r"^[a-z][a-z0-9\-]*$")
_DEFAULT_SEED = 0


@dataclass
class RawTrace:
    """What a reader hands back: kept rows in canonical column names, plus the row accounting.

    Attributes:
        columns: Canonical column name → values for the kept rows. Must hold ``job_id``,
            ``submit_time_s`` (in the trace's own seconds; any offset), ``duration_s`` and
            ``num_gpus``; other non-model columns are optional (empty when ``frame`` is given).
        n_rows: Data rows in the file(s).
        n_bad: Malformed rows skipped (only with ``skip_bad``).
        bad_examples: Messages for the first few skipped rows.
        n_excluded: Valid rows left out because they are not GPU jobs that ran (see ``notes``).
        notes: One line per kind of exclusion or mapping the reader applied.
        origin: Wall-clock time at ``submit_time_s == 0`` of the trace's own seconds, or None
            when the trace only has relative times.
        activity_scale_frac: Optional per-row factor in (0, 1] applied to ``activity_frac`` and
            ``input_rate_b_per_s_per_gpu`` after the mix (fractional-GPU jobs).
        input_scale_frac: Optional per-row factor in (0, 1] applied to
            ``input_rate_b_per_s_per_gpu`` alone (jobs that share a GPU read at their share).
        frame: A complete canonical table (``kiban`` format), used instead of ``columns``; its
            job-model columns come from the file.
        host_pods: Optional table of the trace's CPU-only pods (``job_id, submit_time_s,
            duration_s, cpu_milli, memory_b, never_scheduled``; the trace's own seconds): not
            jobs of the table (they stay counted in ``n_excluded``), but replayed on the nodes'
            CPU and memory (:class:`kiban.sim.jobs.HostPods`).
    """

    columns: dict[str, object]
    n_rows: int
    n_bad: int = 0
    bad_examples: list[str] = field(default_factory=list)
    n_excluded: int = 0
    notes: list[str] = field(default_factory=list)
    origin: datetime | None = None
    activity_scale_frac: np.ndarray | None = None
    frame: pl.DataFrame | None = None
    input_scale_frac: np.ndarray | None = None
    host_pods: pl.DataFrame | None = None


class ReaderFn(Protocol):
    """Signature of a registered reader."""

    def __call__(self, path: Path, *, skip_bad: bool) -> RawTrace:
        """Parse ``path``; raise TraceError for the first bad row unless ``skip_bad``."""
        ...


@dataclass(frozen=True)
class _Reader:
    name: str
    fn: ReaderFn
    description: str
    internal: bool = False


@dataclass(frozen=True)
class TraceReadResult:
    """The canonical jobs table read from one trace, with the accounting of every input row.

    ``n_rows == jobs.height + n_bad + n_excluded``: no row disappears without being counted.

    Attributes:
        jobs: Canonical jobs table (``kiban.workload.schema``), sorted by submit time.
        n_rows: Data rows read from the file(s).
        n_bad: Malformed rows skipped with ``skip_bad`` (0 otherwise; without it they raise).
        bad_examples: ``FILE:LINE: field = value: allowed`` for the first few skipped rows.
        source: The ``FORMAT:PATH`` that was read.
        n_excluded: Valid rows that are not GPU jobs that ran (CPU-only, never started, still
            running at the snapshot, job steps); ``notes`` says which.
        notes: Human-readable lines about exclusions and mappings.
        origin: Wall-clock time of ``submit_time_s == 0`` (naive, the trace's own clock), or None.
        host_pods: The trace's CPU-only pods on the jobs' clock (see :class:`RawTrace`), or None.
    """

    jobs: pl.DataFrame
    n_rows: int
    n_bad: int
    bad_examples: tuple[str, ...]
    source: str
    n_excluded: int = 0
    notes: tuple[str, ...] = ()
    origin: datetime | None = None
    host_pods: pl.DataFrame | None = None


_REGISTRY: dict[str, _Reader] = {}
_discovered: list[bool] = []


def register_reader(
    name: str, *, description: str, internal: bool = False
) -> Callable[[ReaderFn], ReaderFn]:
    """Register a trace reader under a format name (used as ``FORMAT:PATH``).

    Args:
        name: Lower-case format name, e.g. ``"philly"``.
        description: One line for ``kiban trace --help`` and error messages.
        internal: A reader kiban uses inside one process (e.g. a sweep worker's in-memory
            trace): readable by name, but not listed as a format users can give.

    Returns:
        A decorator that registers the function and returns it unchanged.

    Raises:
        ValueError: for a malformed or already registered name (a programming error).
    """
    if not _FORMAT_RE.match(name):
        msg = f"format name {name!r} must be lower-case letters, digits and '-'"
        raise ValueError(msg)

    def decorate(fn: ReaderFn) -> ReaderFn:
        if name in _REGISTRY and _REGISTRY[name].fn is not fn:
            msg = f"trace format {name!r} is registered twice"
            raise ValueError(msg)
        _REGISTRY[name] = _Reader(name, fn, description, internal)
        return fn

    return decorate


def _discover() -> None:
    """Import every module of the readers package once, so their decorators run."""
    if _discovered:
        return
    package = importlib.import_module(_READERS_PACKAGE)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{_READERS_PACKAGE}.{info.name}")
    _discovered.append(True)


def available_formats() -> dict[str, str]:
    """Return format name → one-line description of every user-facing reader, sorted by name."""
    _discover()
    return {
        name: _REGISTRY[name].description
        for name in sorted(_REGISTRY)
        if not _REGISTRY[name].internal
    }


def parse_trace_spec(spec: str) -> tuple[str, Path]:
    """Split ``"FORMAT:PATH"`` and check the format is known.

    Args:
        spec: e.g. ``"philly:../shared/data/philly/pollux_philly_jobs.csv"``.

    Returns:
        (format name, path).

    Raises:
        TraceError: for a missing ``:``, an unknown format (listing the known ones) or an empty
            path.
    """
    _discover()
    fmt, sep, raw_path = spec.partition(":")
    fmt = fmt.strip().lower()
    known = ", ".join(available_formats())
    if not sep or not raw_path.strip():
        msg = f"trace {spec!r}: expected FORMAT:PATH, e.g. philly:jobs.csv; formats: {known}"
        raise TraceError(msg)
    if fmt not in _REGISTRY:
        msg = f"trace {spec!r}: unknown format {fmt!r}; known formats: {known}"
        raise TraceError(msg)
    return fmt, Path(raw_path.strip()).expanduser()


def read_trace(
    spec: str,
    *,
    rng: np.random.Generator | None = None,
    skip_bad: bool = False,
    mix: JobModelMix | None = None,
    job_model: bool = True,
) -> TraceReadResult:
    """Read a job trace into the canonical jobs table.

    Args:
        spec: ``"FORMAT:PATH"``; see :func:`available_formats`.
        rng: Generator for the job-model columns. None uses a fixed seed (0), so the same file
            always gives the same table.
        skip_bad: Count and skip malformed rows instead of raising at the first one.
        mix: Job-model mix; default :func:`kiban.workload.job_model.default_mix`.
        job_model: Fill the job-model columns (:data:`JOB_MODEL_COLUMNS`). False leaves them
            NaN and unchecked: for checking a file (``kiban validate``), since they come from
            the mix, not from the file; every check of the file's rows runs either way.

    Returns:
        The table and the accounting of every input row.

    Raises:
        TraceError: unknown format, missing file, or (without ``skip_bad``) the first malformed
            row, naming file, line, field, value and what is allowed.
    """
    fmt, path = parse_trace_spec(spec)
    problem = input_file_problem(path, allow_dir=True)
    if problem is not None:
        msg = f"trace {spec!r}: {path}: {problem}"
        raise TraceError(msg)
    try:
        raw = _REGISTRY[fmt].fn(path, skip_bad=skip_bad)
    except IsADirectoryError:
        msg = f"trace {spec!r}: {path} is a folder; the {fmt} format reads a file, give its path"
        raise TraceError(msg) from None
    except OSError as err:
        # A reader that opens a file itself: any OS error is the user's file, not a kiban bug.
        where = err.filename if err.filename is not None else path
        msg = f"trace {spec!r}: cannot read {where}: {err.strerror or err}"
        raise TraceError(msg) from None
    rng = np.random.default_rng(_DEFAULT_SEED) if rng is None else rng
    jobs, origin, shift_s = _finish(raw, rng, mix, source=spec, job_model=job_model)
    host = raw.host_pods
    if host is not None and shift_s:
        # on the jobs' clock; a pod created before the first GPU job arrives at 0
        host = host.with_columns((pl.col("submit_time_s") - shift_s).clip(lower_bound=0.0))
    result = TraceReadResult(
        jobs=jobs,
        n_rows=raw.n_rows,
        n_bad=raw.n_bad,
        bad_examples=tuple(raw.bad_examples),
        source=spec,
        n_excluded=raw.n_excluded,
        notes=tuple(raw.notes),
        origin=origin,
        host_pods=host,
    )
    if result.n_rows != jobs.height + raw.n_bad + raw.n_excluded:
        msg = (
            f"{spec}: reader {fmt!r} accounted for {jobs.height} jobs + {raw.n_bad} bad + "
            f"{raw.n_excluded} excluded rows of {raw.n_rows}"
        )
        raise TraceError(msg)
    logger.info(
        "%s: %d jobs (%d rows, %d bad, %d excluded)",
        spec,
        jobs.height,
        raw.n_rows,
        raw.n_bad,
        raw.n_excluded,
    )
    return result


MAX_SPAN_S = 100 * 365.25 * 86_400.0
"""Longest span of submit times a trace may cover (100 years); more is a corrupt time field."""

MAX_TEXT_CHARS = 4096
"""Longest job id, user, queue, GPU model or status text a trace may hold."""


def _check_sizes(df: pl.DataFrame, source: str) -> None:
    """Refuse a submit span beyond 100 years and text fields beyond 4,096 characters."""
    submit = df["submit_time_s"].to_numpy()
    finite = submit[np.isfinite(submit)]
    if finite.size and float(finite.max() - finite.min()) > MAX_SPAN_S:
        first, last = float(finite.min()), float(finite.max())
        msg = (
            f"{source}: submit times span {(last - first) / 86_400 / 365.25:,.0f} years "
            f"({first:g} s to {last:g} s); a trace covers at most 100 years: is a time field "
            "in the wrong unit (ms, µs) or corrupt?"
        )
        raise TraceError(msg)
    for name in ("job_id", "user", "queue", "gpu_model", "status"):
        if name not in df.columns or df.schema[name] != pl.String:
            continue
        lengths = df[name].str.len_chars().fill_null(0).to_numpy()
        if lengths.size and int(lengths.max()) > MAX_TEXT_CHARS:
            row = int(np.argmax(lengths))
            msg = (
                f"{source}: {name} of job {row} has {int(lengths[row]):,} characters; "
                f"allowed at most {MAX_TEXT_CHARS:,}"
            )
            raise TraceError(msg)


def _finish(
    raw: RawTrace,
    rng: np.random.Generator,
    mix: JobModelMix | None,
    source: str,
    *,
    job_model: bool = True,
) -> tuple[pl.DataFrame, datetime | None, float]:
    """The canonical table, its time origin and the shift (s) taken off the trace's times."""
    shift_s = 0.0
    if raw.frame is not None:
        df = raw.frame.select([*JOBS_COLUMNS, *optional_columns(raw.frame)])
    else:
        names = {*JOBS_COLUMNS, *(c.name for c in JOBS_OPTIONAL_SCHEMA)}
        base = {k: v for k, v in raw.columns.items() if k in names}
        df = jobs_frame(base)  # type: ignore[arg-type]
    origin = raw.origin
    if df.height:
        _check_sizes(df, source)
        t0 = float(df["submit_time_s"].min())  # type: ignore[arg-type]
        if np.isfinite(t0) and t0 != 0.0:
            shift_s = t0
            df = df.with_columns(pl.col("submit_time_s") - t0)
            if origin is not None:
                origin = origin + timedelta(seconds=t0)
    scale = raw.activity_scale_frac
    in_scale = raw.input_scale_frac
    order = np.argsort(df["submit_time_s"].to_numpy(), kind="stable")
    if df.height and not np.all(order == np.arange(df.height)):
        df = df.select(pl.all().gather(order))
        scale = None if scale is None else scale[order]
        in_scale = None if in_scale is None else in_scale[order]
    if raw.frame is None and job_model:
        df = assign_job_model(df, rng, mix)
        if scale is not None:
            df = df.with_columns(
                pl.col("activity_frac") * pl.Series(scale),
                pl.col("input_rate_b_per_s_per_gpu") * pl.Series(scale),
            )
        if in_scale is not None:
            df = df.with_columns(pl.col("input_rate_b_per_s_per_gpu") * pl.Series(in_scale))
    validate_jobs(df, source, job_model=job_model or raw.frame is not None)
    return df, origin, shift_s
