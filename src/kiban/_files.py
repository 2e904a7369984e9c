"""Checks every input file passes before kiban opens it (traces, scenarios).

``open()`` on a named pipe with no writer blocks for ever, a symbolic-link loop looks like a
missing file to ``Path.exists``, and a UTF-16 file without a byte-order mark decodes as UTF-8
full of NUL characters. :func:`input_file_problem` and :func:`text_problem` turn each of these
into one sentence; the caller adds its own error type and the file's name.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["SNIFF_BYTES", "input_file_problem", "memory_bytes", "text_problem"]

SNIFF_BYTES = 4096
"""How many leading bytes :func:`text_problem` looks at."""

_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def input_file_problem(path: Path, *, allow_dir: bool = False) -> str | None:
    """Why ``path`` cannot be read as an input file, or None when it is a regular file.

    Follows symbolic links; reports a link loop, a missing target, a folder (unless
    ``allow_dir``), a pipe, socket or device (reading one could block for ever), and a file
    that cannot be opened for reading.

    Args:
        path: The file.
        allow_dir: Whether a folder is acceptable (readers that take a folder of files).

    Returns:
        One sentence without the path, e.g. ``"is a named pipe (FIFO), not a regular file"``.
    """
    try:
        info = os.stat(path)
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "is a symbolic link that loops back on itself; point it at a real file"
        if err.errno == errno.ENOENT:
            if os.path.islink(path):
                return f"is a symbolic link to {os.readlink(path)}, which does not exist"
            return "file not found"
        if err.errno == errno.ENAMETOOLONG:
            return "the path is too long for this file system"
        return f"cannot read ({err.strerror or err})"
    if stat.S_ISDIR(info.st_mode):
        return None if allow_dir else "is a folder; give the file itself"
    for test, kind in _KINDS:
        if test(info.st_mode):
            return f"is {kind}, not a regular file; kiban reads only regular files"
    if not os.access(path, os.R_OK):
        return "cannot read (permission denied)"
    return None


def text_problem(head: bytes) -> str | None:
    """Why the leading bytes of a file are not UTF-8 text, or None when they may be.

    Recognizes UTF-16 and UTF-32 (with or without a byte-order mark, from the pattern of NUL
    bytes in ASCII-range text) and other binary data (any NUL byte).

    Args:
        head: The first bytes of the file (:data:`SNIFF_BYTES` is enough).

    Returns:
        One sentence, or None.
    """
    for bom, name in (
        (b"\xff\xfe\x00\x00", "UTF-32 LE"),
        (b"\x00\x00\xfe\xff", "UTF-32 BE"),
        (b"\xff\xfe", "UTF-16 LE"),
        (b"\xfe\xff", "UTF-16 BE"),
    ):
        if head.startswith(bom):
            return f"looks like {name} text (byte-order mark); save it as UTF-8"
    if b"\x00" not in head:
        return None
    even = head[0::2]
    odd = head[1::2]
    n = max(len(head) // 2, 1)
    if odd.count(0) >= 0.8 * n and even.count(0) <= 0.1 * n:
        return "looks like UTF-16 LE text (every other byte is NUL); save it as UTF-8"
    if even.count(0) >= 0.8 * n and odd.count(0) <= 0.1 * n:
        return "looks like UTF-16 BE text (every other byte is NUL); save it as UTF-8"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 4:  # not a character cut at the end of the sample
            byte = head[err.start]
            return (
                f"not UTF-8 text (byte 0x{byte:02x} at offset {err.start} cannot be decoded; "
                "NUL bytes too): binary data, compressed, or another encoding?"
            )
    return "holds binary data (NUL bytes), not text; is it compressed or in another format?"


def memory_bytes() -> int | None:
    """Physical memory of this machine in bytes, or None where the OS does not say."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None
