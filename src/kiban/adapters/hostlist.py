"""Slurm host lists (``gn[01-04,07],login1``) expanded to node names, without calling Slurm."""

from __future__ import annotations

import re

from kiban.errors import ConfigError

__all__ = ["expand_hostlist"]

_BRACKET = re.compile(r"^(?P<pre>[^\[\]]*)\[(?P<ranges>[^\[\]]+)\](?P<post>.*)$")


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside brackets."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def expand_hostlist(text: str) -> list[str]:
    """Expand a Slurm host list expression into node names, in order.

    Args:
        text: e.g. ``"gn[01-03,07],login1"`` (one bracket group per name, as Slurm writes them
            for flat names; nested groups like ``a[1-2]b[3-4]`` are expanded left to right).

    Returns:
        The node names.

    Raises:
        ConfigError: for an unbalanced bracket or a bad range.
    """
    out: list[str] = []
    for part in _split_top(text):
        out.extend(_expand_one(part, text))
    return out


def _expand_one(part: str, whole: str) -> list[str]:
    m = _BRACKET.match(part)
    if m is None:
        if "[" in part or "]" in part:
            msg = f"host list {whole!r}: unbalanced brackets in {part!r}"
            raise ConfigError(msg)
        return [part]
    names: list[str] = []
    for rng in m.group("ranges").split(","):
        lo, sep, hi = rng.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            msg = f"host list {whole!r}: range {rng!r} is not N or N-M"
            raise ConfigError(msg)
        width = len(lo)
        a, b = int(lo), int(hi) if sep else int(lo)
        if b < a:
            msg = f"host list {whole!r}: range {rng!r} runs backwards"
            raise ConfigError(msg)
        for i in range(a, b + 1):
            for rest in _expand_one(m.group("post"), whole) if m.group("post") else [""]:
                names.append(f"{m.group('pre')}{i:0{width}d}{rest}")
    return names
