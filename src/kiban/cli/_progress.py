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
from typing import TextIO

from kiban.units import S_PER_DAY

__all__ = ["PLAIN_PROGRESS_INTERVAL_S", "PlainProgress", "fmt_clock"]

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
        self._current: tuple[str, float] | None = None
        self._t0 = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- state -----------------------------------------------------------------------------
    def update(self, policy: str, t_s: float, events: int) -> None:
        """Per-event progress callback: ``policy`` has reached simulated time ``t_s``."""
        with self._lock:
            self._current = (policy, min(max(t_s, 0.0), self.horizon_s))

    def done(self, policy: str) -> None:
        """``policy`` finished."""
        with self._lock:
            self._finished.add(policy)
            if self._current is not None and self._current[0] == policy:
                self._current = None

    def fraction(self) -> float:
        """Share of the whole work done, 0-1 (finished policies plus the running one's share)."""
        with self._lock:
            n = max(len(self.policies), 1)
            part = 0.0
            if self._current is not None and self._current[0] not in self._finished:
                part = self._current[1] / self.horizon_s
            return min((len(self._finished) + part) / n, 1.0)

    def line(self) -> str:
        """The progress line for now."""
        frac = self.fraction()
        elapsed = self.clock() - self._t0
        with self._lock:
            n_done, n = len(self._finished), len(self.policies)
            current = self._current
        detail = f"{n_done}/{n} policies done"
        if current is not None:
            detail += (
                f"; {current[0]} at day {current[1] / S_PER_DAY:.1f} of "
                f"{self.horizon_s / S_PER_DAY:.1f}"
            )
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
