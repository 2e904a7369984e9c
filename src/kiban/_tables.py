"""Terminal tables that fit the terminal: wrap headers at spaces, never split a number, else stack.

Rich shrinks a table that is wider than the console by wrapping cells mid-word, which splits
numbers ("1,23" / "4.5") or drops whole columns. :func:`fit_table` measures first: when every cell
fits on one line beside the others (headers may wrap at their spaces), it returns an ordinary table
whose cells never wrap; otherwise it returns a *stacked* rendering, one block per row with
``header: value`` lines, which fits any width.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import RenderableType

__all__ = ["column_chunks", "fit_table", "table_width"]

_PAD = 2
"""Horizontal padding of a rich table cell (one space each side)."""


def _numeric(cell: str) -> bool:
    """True for a number-like cell ("1,234.5", "-3 %", "—"), which is right-aligned."""
    head = cell.strip()[:1]
    return not head or head.isdigit() or head in "+-−–—."


def _wrap_header(header: str, width: int) -> str:
    """Break ``header`` at spaces so no line is wider than ``width`` (words are never split)."""
    lines: list[str] = []
    for word in header.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "\n".join(lines)


def _longest_word(text: str) -> int:
    return max((len(w) for line in text.split("\n") for w in line.split(" ")), default=0)


def _col_widths(header: Sequence[str], rows: Sequence[Sequence[str]], *, wrap: bool) -> list[int]:
    """Width of each column; with ``wrap``, headers and the first column break at spaces."""
    widths = []
    for i, head in enumerate(header):
        cells = [r[i] for r in rows if i < len(r)]
        if wrap and i == 0:
            cell = max((_longest_word(c) for c in cells), default=0)
        else:
            cell = max((len(c) for c in cells), default=0)
        head_w = _longest_word(head) if wrap else len(head)
        widths.append(max(cell, head_w, 1))
    return widths


def _total(widths: Sequence[int]) -> int:
    return sum(w + _PAD for w in widths) + len(widths) - 1  # inner rules only (no outer edge)


def table_width(header: Sequence[str], rows: Sequence[Sequence[str]]) -> int:
    """Columns a table needs (inner rules only) when numbers stay on one line."""
    return _total(_col_widths(header, rows, wrap=True))


def fit_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    width: int,
    *,
    title: str = "",
    right: Sequence[bool] | None = None,
) -> RenderableType:
    """A table of plain-text cells that fits ``width`` columns without splitting any cell.

    Args:
        header: Column headings (may wrap at spaces).
        rows: Cells, already formatted (plain text, no markup).
        width: Console width in characters.
        title: Table title.
        right: Per column, True to right-align (default: columns of numbers).

    Returns:
        A rich ``Table`` when it fits, else a stacked ``Group`` (one block per row).
    """
    from rich.console import Group  # noqa: PLC0415 (startup time)
    from rich.table import Table  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    align = (
        list(right)
        if right is not None
        else [i > 0 and all(_numeric(r[i]) for r in rows if i < len(r)) for i in range(len(header))]
    )
    wrap = _total(_col_widths(header, rows, wrap=False)) > width
    widths = _col_widths(header, rows, wrap=wrap)
    if _total(widths) <= width:
        table = Table(
            title=title or None, title_justify="left", header_style="bold", show_edge=False
        )
        for i, head in enumerate(header):
            table.add_column(
                Text(_wrap_header(head, widths[i]) if wrap else head),
                justify="right" if align[i] else "left",
                no_wrap=not (wrap and i == 0),
                min_width=widths[i],
            )
        for row in rows:
            table.add_row(*(Text(c) for c in row))
        return table
    parts: list[RenderableType] = []
    if title:
        parts.append(Text(title, style="bold"))
    label_w = max((len(h) for h in header[1:]), default=0)
    for row in rows:
        block = Text(row[0], style="bold") if row else Text("")
        for head, cell in zip(header[1:], row[1:], strict=False):
            block.append(f"\n  {head:<{label_w}}  {cell}")
        parts.append(block)
    return Group(*parts)


def column_chunks(widths: Sequence[int], total_width: int, label_width: int) -> list[list[int]]:
    """Split value columns into groups that fit beside a label column in ``total_width``.

    A boxed rich table with a label column of ``label_width`` and value columns of ``widths``
    (cells never wrap) is ``label_width + 4 + sum(w + 3)`` wide; each group is as many columns
    as fit, in order, at least one.
    """
    chunks: list[list[int]] = [[]]
    used = label_width + 4  # label column, its padding and the two outer rules
    for i, w in enumerate(widths):
        need = w + 3  # padding and one rule
        if chunks[-1] and used + need > total_width:
            chunks.append([])
            used = label_width + 4
        chunks[-1].append(i)
        used += need
    return chunks
