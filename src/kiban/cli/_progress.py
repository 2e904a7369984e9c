"""Plain progress lines for long commands whose output is not a terminal (CI logs, nohup, files).

A rich progress bar redraws in place, which a log file cannot show: when stderr is not a terminal,
:class:`PlainProgress` prints one line every few seconds instead, with the work done out of the
total and an estimate of the time left::

    progress: 41 % (2/5 policies done; tiresias-las at day 12.3 of 30.0), 0:25 elapsed,
    about 0:36 left

(one line in the output; wrapped here).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from kiban.units import S_PER_DAY

if TYPE_CHECKING:
    from kiban.results import PreparedRun, SimulationResult

__all__ = ["PLAIN_PROGRESS_INTERVAL_S", "PlainProgress", "fmt_clock", "run_parallel"]

PLAIN_PROGRESS_INTERVAL_S = 5.0
"""Seconds between two plain progress lines."""


def fmt_clock(seconds: float) -> str:
    """``h:mm:ss`` or ``m:ss`` of a duration in seconds.

    Examples:
        >>> fmt_clock(65.2), fmt_clock(3725)
        ('1:05', '1:02:05')
    """
    total = round(max(seconds, 0.0))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class PlainProgress:
    """Progress of several policy runs, printed as a plain line every ``interval_s`` seconds.

    Feed it with :meth:`update` (per-event callback of a run in this process) and :meth:`done`
    (a policy finished, from any mode); a background thread prints the lines.

    Args:
        policies: Policy names, in run order.
        horizon_s: Simulated time of one run (the progress scale of :meth:`update`).
        write: Where a line goes (e.g. ``print`` to stderr).
        interval_s: Seconds between two lines.
        clock: Monotonic clock (tests pass a fake one).
    """

    def __init__(
        self,
        policies: list[str],
        horizon_s: float,
        write: Callable[[str], None],
        *,
        interval_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policies = list(policies)
        self.horizon_s = max(float(horizon_s), 1.0)
        self.write = write
        self.interval_s = PLAIN_PROGRESS_INTERVAL_S if interval_s is None else interval_s
        self.clock = clock
        self._lock = threading.Lock()
        self._finished: set[str] = set()
        self._running: dict[str, float] = {}
        self._t0 = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- state -----------------------------------------------------------------------------
    def update(self, policy: str, t_s: float, events: int = 0) -> None:
        """Per-event progress callback: ``policy`` has reached simulated time ``t_s``."""
        del events  # the ProgressFn signature; the line shows simulated time
        with self._lock:
            if policy not in self._finished:
                self._running[policy] = min(max(t_s, 0.0), self.horizon_s)

    def done(self, policy: str) -> None:
        """``policy`` finished."""
        with self._lock:
            self._finished.add(policy)
            self._running.pop(policy, None)

    def fraction(self) -> float:
        """Share of the whole work done, 0-1 (finished policies plus the running ones' shares)."""
        with self._lock:
            n = max(len(self.policies), 1)
            part = sum(t / self.horizon_s for t in self._running.values())
            return min((len(self._finished) + part) / n, 1.0)

    def line(self) -> str:
        """The progress line for now."""
        frac = self.fraction()
        elapsed = self.clock() - self._t0
        with self._lock:
            n_done, n = len(self._finished), len(self.policies)
            running = dict(self._running)
        detail = f"{n_done}/{n} policies done"
        if running:
            days = ", ".join(f"{p} at day {t / S_PER_DAY:.1f}" for p, t in running.items())
            detail += f"; {days} of {self.horizon_s / S_PER_DAY:.1f}"
        left = (
            f"about {fmt_clock(elapsed / frac * (1.0 - frac))} left"
            if frac > 0.0
            else "time left not known yet"
        )
        return f"progress: {frac * 100.0:.0f} % ({detail}), {fmt_clock(elapsed)} elapsed, {left}"

    # --- printing --------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.write(self.line())

    def __enter__(self) -> PlainProgress:
        self._t0 = self.clock()
        self._thread = threading.Thread(target=self._run, name="kiban-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def stderr_writer(stream: TextIO) -> Callable[[str], None]:
    """A ``write`` for :class:`PlainProgress` that prints one flushed line to ``stream``."""

    def write(line: str) -> None:
        stream.write(line + "\n")
        stream.flush()

    return write


# --- several policies in worker processes, with progress -----------------------------------
_SHARED_T: Any = None
"""Per-policy simulated time, shared with the worker processes (set by the pool initializer)."""


def _init_worker(shared: Any) -> None:
    global _SHARED_T  # noqa: PLW0603 (one shared array per worker process)
    _SHARED_T = shared


def _run_one(prepared: PreparedRun, index: int, policy: str) -> SimulationResult:
    from kiban.results import run_prepared  # noqa: PLC0415

    def progress(_policy: str, t_s: float, _events: int) -> None:
        _SHARED_T[index] = t_s

    return run_prepared(prepared, policy, progress=progress)


def run_parallel(
    prepared: PreparedRun,
    policies: list[str],
    workers: int,
    tracker: PlainProgress,
    on_done: Callable[[SimulationResult], None],
    *,
    poll_s: float = 0.5,
) -> list[SimulationResult] | None:
    """Run policies in worker processes, feeding ``tracker`` with each one's simulated time.

    Each worker runs :func:`kiban.results.run_prepared` exactly as ``run_policies`` does (same
    seeds, same results) and writes its simulated time into a shared array that this process
    reads every ``poll_s`` seconds. Returns None where processes cannot be forked (the caller
    then runs without per-event progress).
    """
    import concurrent.futures as cf  # noqa: PLC0415
    import multiprocessing as mp  # noqa: PLC0415

    if "fork" not in mp.get_all_start_methods():
        return None
    ctx = mp.get_context("fork")
    shared = ctx.Array("d", len(policies), lock=False)
    from kiban.cli._stop import Stopped, stop_requested  # noqa: PLC0415

    done: dict[str, SimulationResult] = {}
    pool = cf.ProcessPoolExecutor(
        max_workers=min(workers, len(policies)),
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(shared,),
    )
    try:
        futures = {pool.submit(_run_one, prepared, i, name): (i, name)
                   for i, name in enumerate(policies)}  # fmt: skip
        pending = set(futures)
        while pending:
            finished, pending = cf.wait(pending, timeout=poll_s)
            for i, name in (futures[f] for f in pending):
                if shared[i] > 0.0:
                    tracker.update(name, float(shared[i]))
            for fut in finished:
                result = fut.result()
                done[futures[fut][1]] = result
                on_done(result)
    except (Stopped, cf.process.BrokenProcessPool) as err:
        # Stopped (or workers killed by a stop whose Stopped was lost): do not wait for the
        # pool, whose killed workers may hold its queue.
        pool.shutdown(wait=False, cancel_futures=True)
        stop = err if isinstance(err, Stopped) else stop_requested()
        if stop is None:
            raise
        raise stop from None
    pool.shutdown(wait=True)
    return [done[name] for name in policies]
