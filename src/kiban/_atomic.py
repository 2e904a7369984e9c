"""Replace a whole output folder atomically: readers see the old folder or the new, never a mix.

:func:`replace_dir` fills a hidden staging folder beside the target, then swaps it in with one
``renameat2(RENAME_EXCHANGE)`` (Linux ≥ 3.15; elsewhere two renames, the target briefly absent
but never mixed) while SIGINT and SIGTERM are held back, and deletes the old contents. A run
killed before the swap leaves the old folder untouched; a run killed with SIGKILL can leave a
hidden ``.NAME.new-*`` or ``.NAME.old-*`` folder, which the next :func:`replace_dir` of the same
target removes. A write error (a full disk) removes the staging folder and leaves the old folder
as it was.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from kiban.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["held_signals", "replace_dir"]

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _libc_renameat2() -> Callable[..., int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        fn = ctypes.CDLL(name, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_RENAMEAT2 = _libc_renameat2()


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; False where the system cannot (then nothing changed)."""
    if _RENAMEAT2 is None:
        return False
    rc = _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in {errno.ENOSYS, errno.EINVAL, errno.ENOTSUP}:
        return False
    raise OSError(err, os.strerror(err), str(b))


@contextlib.contextmanager
def held_signals() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back (main thread only); they arrive when the block ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _sweep_stale(parent: Path, name: str) -> None:
    """Remove staging or old folders of ``name`` that a killed run left behind."""
    for prefix in (f".{name}.new-", f".{name}.old-"):
        for stale in parent.glob(f"{prefix}*"):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)


def replace_dir(target: Path, fill: Callable[[Path], object]) -> Path:
    """Write a folder as a whole: ``fill(staging)`` then swap it in place of ``target``.

    Args:
        target: The folder to create or replace (its parent is created if needed).
        fill: Writes every file into the staging folder it is given.

    Returns:
        ``target``.

    Raises:
        ConfigError: ``target`` is a file, or the files cannot be written (disk full, no
            permission); the old ``target`` is then left exactly as it was.
    """
    target = Path(target)
    parent = target.parent
    if target.exists() and not target.is_dir():
        msg = f"{target}: is a file, not a results folder; choose another --out"
        raise ConfigError(msg)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        _sweep_stale(parent, target.name)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=parent))
    except OSError as err:
        msg = f"{target}: cannot write in {parent} ({err.strerror or err})"
        raise ConfigError(msg) from None
    try:
        try:
            fill(staging)
        except OSError as err:
            kept = "the previous results are kept as they were" if target.exists() else ""
            msg = f"{target}: cannot write the results ({err.strerror or err}); " + (
                kept or "nothing was written"
            )
            raise ConfigError(msg) from None
        with held_signals():
            if not target.exists():
                staging.rename(target)
            elif _exchange(staging, target):
                shutil.rmtree(staging, ignore_errors=True)  # now holds the old contents
            else:
                old = parent / f".{target.name}.old-{staging.name.rsplit('-', 1)[-1]}"
                target.rename(old)
                staging.rename(target)
                shutil.rmtree(old, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target
