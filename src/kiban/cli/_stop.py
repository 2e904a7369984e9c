"""Ctrl-C and SIGTERM for long commands: stop within a second, stop every worker, say what was kept.

Inside :func:`stoppable`, SIGINT and SIGTERM first kill the worker processes this process
started (a forked worker that receives the signal itself exits at once), then raise
:class:`Stopped` in the main thread. The command catches it, prints one line saying which
outputs are complete (each was written as a whole, :func:`kiban._atomic.replace_dir`), and exits
with 128 + the signal number: 130 for SIGINT, 143 for SIGTERM, as shells expect.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

import typer

from kiban.cli._app import err_console

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["Stopped", "exit_stopped", "stop_requested", "stop_workers", "stoppable"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_JOIN_S = 1.0
_received: list[int] = []
"""Signals received inside the current :func:`stoppable` block (for :func:`stop_requested`)."""


class Stopped(BaseException):
    """Raised in the main thread when SIGINT or SIGTERM arrives inside :func:`stoppable`."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        """``SIGINT`` or ``SIGTERM``."""
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        """128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum


def stop_workers() -> None:
    """Kill every child process of this process that multiprocessing started, and reap them."""
    children = multiprocessing.active_children()
    for child in children:
        with contextlib.suppress(OSError):
            child.kill()
    for child in children:
        child.join(_JOIN_S)


@contextlib.contextmanager
def stoppable() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into :class:`Stopped` (after stopping the workers) in the block."""
    owner = os.getpid()
    stopping: list[int] = []

    def handler(signum: int, _frame: Any) -> None:
        if os.getpid() != owner:  # a forked worker inherited this handler: leave at once
            os._exit(128 + signum)
        if stopping:  # a second Ctrl-C while stopping: the first one is being handled
            return
        stopping.append(signum)
        _received.append(signum)
        stop_workers()
        raise Stopped(signum)

    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    previous_hook = sys.unraisablehook

    def unraisable(info: Any) -> None:
        # A Stopped that Python had to drop (see stop_requested) is no error to print.
        if not isinstance(info.exc_value, Stopped):
            previous_hook(info)

    _received.clear()
    sys.unraisablehook = unraisable
    for sig in _SIGNALS:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        sys.unraisablehook = previous_hook
        _received.clear()


def stop_requested() -> Stopped | None:
    """The stop that a signal asked for in this :func:`stoppable` block, or None.

    The handler raises :class:`Stopped` wherever the main thread is, and Python drops an
    exception raised inside some callbacks (e.g. ``os.register_at_fork`` hooks while a process
    pool starts a worker). The workers are killed all the same, so the pool then reports them
    broken; code that sees such a consequence asks here whether it was a stop.
    """
    return Stopped(_received[0]) if _received else None


def exit_stopped(
    stop: Stopped, kept: list[str], out: Path | None, unfinished: str, *, now: bool = False
) -> None:
    """Print the one line about what was kept and exit with 128 + the signal number.

    Args:
        stop: The signal that stopped the command.
        kept: Outputs that are complete (policy names, files).
        out: Where they are, or None.
        unfinished: What the unfinished part left, in words.
        now: Leave at once (``os._exit``) without the interpreter's shutdown: for a solver
            thread in native code (HiGHS), whose threads abort the process if torn down, and
            for a process pool whose killed workers may hold its queue (its shutdown at exit
            can then wait for ever).

    Raises:
        typer.Exit: with :attr:`Stopped.exit_code` (unless ``now``).
    """
    where = f" in {out}/" if out is not None else ""
    done = f"kept {', '.join(kept)}{where} (complete)" if kept else "nothing kept"
    err_console.print(
        f"stopped by {stop.name}: {done}; {unfinished}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if now:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(stop.exit_code)
    raise typer.Exit(stop.exit_code)
