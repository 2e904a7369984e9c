"""Remember which trace files ``kiban validate`` has read cleanly, so it reads each only once.

Reading a trace is the slowest part of ``validate`` (the 82,247-job Philly CSV alone takes
longer than all the other checks together). A file that read without a problem is recorded in
the cache folder under a key made of everything the result depends on: the resolved path, the
file's device, inode, size, modification and status-change times (``ctime`` changes on every
write and cannot be set back by ``touch``), the trace format, ``skip_bad``, the kiban version and
the size and modification time of every module of :mod:`kiban.workload` (so an edited reader
invalidates the record). Any change to the file or the readers reads it again; problems are never
recorded, so their messages always come from a fresh read. Only plain files are remembered (a
folder's contents can change without changing the folder's own times), and only once their last
change is :data:`SETTLED_S` old: file times have a granularity of a few milliseconds, so a file
rewritten within that tick of being read could otherwise keep its key (git's "racy" index entries).

The cache folder is ``$KIBAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/kiban``, else
``~/.cache/kiban``; a folder that cannot be written is simply not used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import time
from pathlib import Path

from kiban._version import __version__

CACHE_ENV = "KIBAN_CACHE_DIR"
"""Environment variable naming kiban's cache folder."""
_SUBDIR = "checked-traces"
SETTLED_S = 1.0
"""A file changed less than this long ago (s) is read every time, never remembered."""


def cache_dir() -> Path:
    """The cache folder: ``$KIBAN_CACHE_DIR``, ``$XDG_CACHE_HOME/kiban`` or ``~/.cache/kiban``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "kiban"


def _reader_fingerprint() -> list[list[object]]:
    """(name, size, mtime_ns) of every module of kiban.workload: the code that reads traces."""
    root = Path(__file__).resolve().parents[1] / "workload"
    out: list[list[object]] = []
    for path in sorted(root.rglob("*.py")):
        st = path.stat()
        out.append([str(path.relative_to(root)), st.st_size, st.st_mtime_ns])
    return out


def trace_key(fmt: str, path: Path, *, skip_bad: bool) -> str | None:
    """The record name for reading ``path`` as ``fmt``, or None to read it every time.

    None for anything but a plain file and for a file changed less than :data:`SETTLED_S` ago.
    """
    try:
        resolved = path.resolve(strict=True)
        st = resolved.stat()
    except (OSError, RuntimeError):
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) < SETTLED_S * 1e9:
        return None
    ident = {
        "kiban": __version__,
        "readers": _reader_fingerprint(),
        "format": fmt,
        "skip_bad": skip_bad,
        "path": str(resolved),
        "file": [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns],
    }
    text = json.dumps(ident, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_cleanly_before(key: str | None) -> bool:
    """Whether a trace with this key was read without a problem before."""
    return key is not None and (cache_dir() / _SUBDIR / key).is_file()


def remember_clean_read(key: str | None, source: str) -> None:
    """Record a clean read (best effort: an unwritable cache folder is ignored)."""
    if key is None:
        return
    folder = cache_dir() / _SUBDIR
    tmp = folder / f".{key}.{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp.write_text(source + "\n", encoding="utf-8")
        tmp.replace(folder / key)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
