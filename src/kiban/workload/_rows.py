"""Shared machinery of the trace readers: delimited-text tables with line numbers, bad-row checks.

A reader loads its file into a :class:`TextTable` (every field a string, with the file line of
each row), converts columns with polars in bulk, and registers checks with :class:`RowChecks`.
``RowChecks.finish`` either raises a :class:`~kiban.errors.TraceError` for the first bad row in
file order (naming file, line, field, value and what is allowed) or, with ``skip_bad``, returns
which rows to keep and records how many were skipped and a few examples. Rows that are valid but
out of scope (CPU-only jobs, jobs that never ran) are *excluded* with a counted note, never
dropped silently.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
import polars as pl

from kiban._files import SNIFF_BYTES, input_file_problem, memory_bytes, text_problem
from kiban.errors import TraceError
from kiban.workload.registry import RawTrace

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from datetime import datetime
    from pathlib import Path

__all__ = [
    "MAX_EXAMPLES",
    "MAX_ROWS",
    "RowChecks",
    "TextTable",
    "check_input",
    "read_text_table",
]

MAX_EXAMPLES = 5
"""How many skipped rows ``TraceReadResult.bad_examples`` shows."""


MAX_GPUS = 1_000_000
"""Largest GPU count one job may ask for (the largest clusters hold about 10^5 GPUs)."""

MAX_EXACT_INT = 2**53
"""Largest whole number every integer field may hold (exact in a float, fits in Int64)."""

WALL_CLOCK_MIN_S = 631_152_000.0
"""1990-01-01T00:00:00 in seconds since 1970: the earliest plausible trace time."""

WALL_CLOCK_MAX_S = 4_102_444_800.0
"""2100-01-01T00:00:00 in seconds since 1970: the latest plausible trace time (exclusive)."""

MAX_ROWS = 20_000_000
"""Most data rows (or JSON records) one trace file may hold; a larger file is refused."""

MEMORY_PER_TEXT_BYTE = 20
"""Bytes of memory a text trace needs per byte of file while it is parsed (Python strings per
field plus the polars columns; measured on Philly and sacct files, see docs/robustness.md)."""


def check_input(path: Path, *, allow_dir: bool = False, text: bool = True) -> None:
    """Refuse anything but a readable regular file of plausible size before opening it.

    A named pipe, socket or device (whose ``open`` can block for ever), a symbolic-link loop, a
    UTF-16 or binary file (when ``text``), or a text file too large for this machine's memory is
    one :class:`TraceError` naming the file.

    Args:
        path: The file.
        allow_dir: Accept a folder (readers that take a folder of files).
        text: Also look at the first bytes and the size (False for parquet).

    Raises:
        TraceError: naming the file and the problem.
    """
    problem = input_file_problem(path, allow_dir=allow_dir)
    if problem is not None:
        msg = f"{path}: {problem}"
        raise TraceError(msg)
    if not text or path.is_dir():
        return
    try:
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
        size = path.stat().st_size
    except OSError as err:
        msg = f"{path}: cannot read trace file: {err.strerror or err}"
        raise TraceError(msg) from None
    problem = text_problem(head)
    if problem is not None:
        msg = f"{path}: {problem}"
        raise TraceError(msg)
    memory = memory_bytes()
    if memory is not None and size * MEMORY_PER_TEXT_BYTE > memory:
        msg = (
            f"{path}: {_size_text(size)} of text needs about "
            f"{_size_text(size * MEMORY_PER_TEXT_BYTE)} of memory to read, this machine has "
            f"{_size_text(memory)} (limit: files up to "
            f"{_size_text(memory // MEMORY_PER_TEXT_BYTE)}); split the trace (e.g. by month) "
            "or convert it in parts with kiban trace convert"
        )
        raise TraceError(msg)


def _size_text(n_bytes: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:,.1f} {unit}"
    return f"{n_bytes / 1e3:,.1f} kB"


def _records(path: Path, reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    """(first line, fields) of every CSV record; a record that spans lines is an error.

    No trace format has line breaks inside a field, so a record that runs over several lines
    means an unbalanced double quote: the file's rows would silently merge into one field.
    """
    line_num = 0
    while True:
        start = line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            end = getattr(reader, "line_num", start)
            if "field larger than field limit" in str(err):
                limit = csv.field_size_limit()
                msg = f"{path}:{start}: a field is longer than {limit:,} characters"
            elif end > start or "end of data" in str(err):
                msg = (
                    f"{path}:{start}: unbalanced double quote: the quoted field opened on this "
                    "line never closes; remove the stray quote or close it"
                )
            else:
                msg = f"{path}:{end}: cannot parse the line: {err}"
            raise TraceError(msg) from None
        line_num = getattr(reader, "line_num", start)
        if line_num > start:
            msg = (
                f"{path}:{start}: unbalanced double quote: the quoted field opened on this line "
                f"runs on through line {line_num}, swallowing {line_num - start} line(s); "
                "remove the stray quote or close it on the same line"
            )
            raise TraceError(msg)
        yield start, row


@dataclass
class TextTable:
    """A delimited text file as string columns.

    Attributes:
        path: The file.
        header: Column names as written in the file.
        columns: Lower-cased column name → polars String series (one value per data row).
        lines: File line number (1-based) of each data row.
        ragged: Row index → number of fields, for rows whose field count differs from the header.
    """

    path: Path
    header: list[str]
    columns: dict[str, pl.Series]
    lines: np.ndarray
    ragged: dict[int, int] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        """Number of data rows (blank lines are not rows)."""
        return int(self.lines.size)

    def col(self, name: str) -> pl.Series:
        """The string column ``name`` (case-insensitive)."""
        return self.columns[name.lower()]

    def has(self, name: str) -> bool:
        """Whether the file has column ``name`` (case-insensitive)."""
        return name.lower() in self.columns


def read_text_table(
    path: Path,
    *,
    delimiter: str = ",",
    names: list[str] | None = None,
    header: str = "required",
    quoting: Literal[0, 1, 2, 3] = csv.QUOTE_MINIMAL,
    required: list[str] | None = None,
) -> TextTable:
    """Read a delimited text file into string columns, keeping the line number of every row.

    Blank lines are skipped. Rows with the wrong number of fields are kept (padded or cut) and
    listed in ``ragged`` so the reader can report them as bad rows.

    Args:
        path: The file.
        delimiter: Field separator.
        names: Column names when the file has no header line (or may lack one).
        header: ``"required"``: the first line is the header; ``"none"``: no header, use
            ``names``; ``"optional"``: the first line is a header if it equals ``names``.
        quoting: ``csv`` quoting mode (``QUOTE_NONE`` for formats that never quote).
        required: Column names that must be present (case-insensitive).

    Returns:
        The table.

    Raises:
        TraceError: if the file cannot be read, is empty, or lacks a required column.
    """
    check_input(path)
    fast = _fast_text_table(
        path, delimiter=delimiter, names=names, header=header, quoting=quoting, required=required
    )
    if fast is not None:
        return fast
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as err:
        msg = f"{path}: cannot read trace file: {err.strerror or err}"
        raise TraceError(msg) from None
    rows: list[list[str]] = []
    lines: list[int] = []
    with handle:
        records = _records(
            path, csv.reader(handle, delimiter=delimiter, quoting=quoting, strict=True)
        )
        try:
            first_line, first = next(records, (0, None))
            while first is not None and not any(f.strip() for f in first):
                first_line, first = next(records, (0, None))
            if first is None:
                msg = f"{path}: the file is empty; expected a header line and data rows"
                raise TraceError(msg)
            if header == "required" or (
                header == "optional"
                and names is not None
                and [f.strip().lower() for f in first] == [n.lower() for n in names]
            ):
                cols = [f.strip() for f in first]
            else:
                if names is None:
                    msg = "names are needed when the file has no header"
                    raise ValueError(msg)
                cols = list(names)
                rows.append(first)
                lines.append(first_line)
            for line, row in records:
                if not any(f.strip() for f in row):
                    continue
                rows.append(row)
                lines.append(line)
                if len(rows) > MAX_ROWS:
                    msg = (
                        f"{path}:{line}: more than {MAX_ROWS:,} rows; kiban reads at most that "
                        "many jobs from one file: split the trace (e.g. by month)"
                    )
                    raise TraceError(msg)
        except UnicodeDecodeError as err:
            raise TraceError(not_utf8_message(path, err)) from None
    n_cols = len(cols)
    ragged: dict[int, int] = {}
    for i, row in enumerate(rows):
        if len(row) != n_cols:
            ragged[i] = len(row)
            rows[i] = (row + [""] * n_cols)[:n_cols]
    lowered = [c.lower() for c in cols]
    dupes = sorted({c for c in lowered if lowered.count(c) > 1})
    if dupes:
        msg = f"{path}:{first_line}: header repeats column(s) {dupes}"
        raise TraceError(msg)
    data = list(zip(*rows, strict=True)) if rows else [() for _ in cols]
    columns = {
        low: pl.Series(low, values, dtype=pl.String)
        for low, values in zip(lowered, data, strict=True)
    }
    missing = [r for r in (required or []) if r.lower() not in columns]
    if missing:
        msg = (
            f"{path}:{first_line}: missing column(s) {missing}; the header has {cols}"
            if header != "none"
            else f"{path}: missing column(s) {missing}"
        )
        raise TraceError(msg)
    return TextTable(path, cols, columns, np.asarray(lines, dtype=np.int64), ragged)


def _fast_text_table(
    path: Path,
    *,
    delimiter: str,
    names: list[str] | None,
    header: str,
    quoting: int,
    required: list[str] | None,
) -> TextTable | None:
    """The table of a plain file, parsed by polars in bulk; None whenever the file is not plain.

    A plain file is valid UTF-8 with no double quote (unless ``quoting`` is ``QUOTE_NONE``), no
    carriage return but in CRLF line ends, no NUL byte, no blank line but at the end, every line
    shorter than the csv field limit, at most :data:`MAX_ROWS` rows, the header (where there is
    one) complete and without repeats, and every line with exactly the header's number of
    fields. For such a file the ``csv`` module's fields are the text between delimiters, line
    ``k`` of the file is data row ``k - 2`` (``k - 1`` without header), and polars' reading is
    the same table, many times faster (82,247 Philly rows: 0.02 s instead of 0.3 s). Anything
    else (a bad row included) returns None, and :func:`read_text_table` reads the file line by
    line, which names the line and the problem. Both paths give equal tables
    (tests/hardening/test_fast_text_table.py).
    """
    if len(delimiter) != 1 or not delimiter.isascii() or delimiter in '"\r\n':
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    data = data.removeprefix(b"\xef\xbb\xbf")
    if b"\r" in data:  # CRLF line ends (Windows) end lines as LF does; a lone CR is not plain
        data = data.replace(b"\r\n", b"\n")
    if not data or b"\r" in data or (quoting != csv.QUOTE_NONE and b'"' in data) or b"\x00" in data:
        return None
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not data.endswith(b"\n"):
        data += b"\n"
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == ord("\n"))
    starts = np.concatenate(([0], ends[:-1] + 1))
    if int((ends - starts).max()) > csv.field_size_limit():
        return None
    # Bytes that may be white space or a delimiter (all but printable ASCII), newlines included:
    # a line holding only those may be blank, which the csv path skips.
    maybe_blank = np.flatnonzero((buf <= 0x20) | (buf >= 0x7F) | (buf == ord(delimiter)))
    per_line = np.diff(np.searchsorted(maybe_blank, ends, side="right"), prepend=0)
    content = np.flatnonzero(per_line != ends - starts + 1)
    if content.size == 0 or content.size != content[-1] + 1:
        return None  # a line before the last may be blank (white space and delimiters only)
    n_lines = int(content.size)
    if data[int(ends[n_lines - 1]) + 1 :].decode("utf-8").replace(delimiter, "").strip():
        return None  # the lines after the last with printable ASCII are not all blank
    data = data[: int(ends[n_lines - 1]) + 1]
    ends = ends[:n_lines]
    delims = np.flatnonzero(buf[: len(data)] == ord(delimiter))
    n_delims = np.diff(np.searchsorted(delims, ends), prepend=0)
    first = next(csv.reader([data[: ends[0]].decode("utf-8")], delimiter=delimiter))
    if header == "required" or (
        header == "optional"
        and names is not None
        and [f.strip().lower() for f in first] == [n.lower() for n in names]
    ):
        cols = [f.strip() for f in first]
        skip = 1
    elif names is not None:
        cols = list(names)
        skip = 0
    else:
        return None
    lowered = [c.lower() for c in cols]
    n_rows = int(ends.size) - skip
    if (
        len(set(lowered)) != len(lowered)
        or any(r.lower() not in lowered for r in required or [])
        or n_rows > MAX_ROWS
        or not np.all(n_delims[skip:] == len(cols) - 1)
    ):
        return None
    body = data[int(ends[0]) + 1 :] if skip else data
    try:
        frame = (
            pl.read_csv(
                body,
                has_header=False,
                separator=delimiter,
                quote_char=None,
                schema=dict.fromkeys(lowered, pl.String),
                eol_char="\n",
                raise_if_empty=False,
            )
            if n_rows
            else pl.DataFrame(schema=dict.fromkeys(lowered, pl.String))
        )
    except (pl.exceptions.PolarsError, ValueError, OSError):
        return None
    if frame.height != n_rows or frame.columns != lowered:
        return None
    columns = {c: frame[c].fill_null("") if frame[c].null_count() else frame[c] for c in lowered}
    lines = np.arange(skip + 1, skip + 1 + n_rows, dtype=np.int64)
    return TextTable(path, cols, columns, lines, {})


MAX_SHOWN_CHARS = 120
"""Longest value a message echoes (longer ones are cut with '…')."""


def short_repr(value: object) -> str:
    """``repr`` of a bad value for a message, cut to :data:`MAX_SHOWN_CHARS` characters."""
    shown = value.item() if isinstance(value, np.generic) else value
    try:
        text = repr(shown)
    except RecursionError:
        text = f"<{type(shown).__name__} nested too deeply>"
    if len(text) > MAX_SHOWN_CHARS:
        size = len(shown) if isinstance(shown, str) else len(text)
        text = f"{text[:MAX_SHOWN_CHARS]}… ({size:,} characters)"
    return text


@dataclass
class _Check:
    mask: np.ndarray
    field: str
    values: np.ndarray
    allowed: str


class RowChecks:
    """Collects per-row problems and exclusions of one trace file, then applies them.

    Life cycle: create → ``check``/``add``/``exclude`` any number of times → ``finish`` once.
    Without ``skip_bad`` the first bad row (in file order) raises at ``finish`` (or at ``add``,
    which readers call in file order).
    """

    def __init__(self, path: Path | str, lines: np.ndarray, *, skip_bad: bool) -> None:
        self.path = str(path)
        self.lines = lines
        self.skip_bad = skip_bad
        self._checks: list[_Check] = []
        self._single: dict[int, str] = {}
        self._excluded = np.zeros(lines.size, dtype=bool)
        self.notes: list[str] = []
        self.n_bad = 0
        self.n_excluded = 0
        self.excluded_mask: np.ndarray = np.zeros(lines.size, dtype=bool)
        self.bad_examples: list[str] = []

    def message(self, row: int, field: str, value: object, allowed: str) -> str:
        """Format one problem as ``FILE:LINE: field = 'value': allowed``."""
        return f"{self.path}:{int(self.lines[row])}: {field} = {short_repr(value)}: {allowed}"

    def check(self, mask: np.ndarray | pl.Series, field: str, values: object, allowed: str) -> None:
        """Register a vectorized check: rows where ``mask`` is true are bad.

        Args:
            mask: Bool per row (nulls count as false).
            field: Field name as the file names it.
            values: Raw values per row (shown in the message).
            allowed: What is allowed, in words.
        """
        m = mask.fill_null(False).to_numpy() if isinstance(mask, pl.Series) else mask
        m = np.asarray(m, dtype=bool)
        if m.any():
            vals = values.to_numpy() if isinstance(values, pl.Series) else np.asarray(values)
            self._checks.append(_Check(m, field, vals, allowed))

    def add(self, row: int, field: str, value: object, allowed: str) -> None:
        """Register one bad row (readers that loop over records call this in file order).

        Raises:
            TraceError: at once, unless ``skip_bad``.
        """
        text = self.message(row, field, value, allowed)
        if not self.skip_bad:
            raise TraceError(text)
        self._single.setdefault(row, text)

    def check_unique(
        self,
        ids: pl.Series,
        field: str,
        allowed: str = "must be unique",
        *,
        among: pl.Series | None = None,
    ) -> None:
        """Register every non-empty id that already appeared on an earlier row as bad.

        Args:
            ids: Identifier per row ("" or null for rows without one; those are not repeats).
            field: Field name as the file names it.
            allowed: What is allowed, in words.
            among: Optional bool per row: only these rows count as repeats (e.g. not job steps).
        """
        repeat = ~ids.is_first_distinct() & (ids != "")
        if among is not None:
            repeat = repeat & among
        self.check(repeat, field, ids, allowed)

    def exclude(self, mask: np.ndarray | pl.Series, reason: str) -> None:
        """Leave valid but out-of-scope rows out of the jobs table, with a counted note.

        Args:
            mask: Bool per row.
            reason: Why, e.g. "CPU-only jobs (gpu_num = 0)".
        """
        m = mask.fill_null(False).to_numpy() if isinstance(mask, pl.Series) else mask
        m = np.asarray(m, dtype=bool) & ~self._excluded
        count = int(m.sum())
        if count:
            self._excluded |= m
            self.notes.append(f"{count} {reason} left out")

    def finish(self) -> np.ndarray:
        """Apply the checks and return the mask of rows to keep.

        Raises:
            TraceError: for the first bad row in file order, unless ``skip_bad``.
        """
        n = self.lines.size
        bad = np.zeros(n, dtype=bool)
        for chk in self._checks:
            bad |= chk.mask
        for row in self._single:
            bad[row] = True
        if bad.any():
            rows = np.flatnonzero(bad)
            if not self.skip_bad:
                raise TraceError(self._describe(int(rows[0])))
            self.n_bad = int(rows.size)
            self.bad_examples = [self._describe(int(r)) for r in rows[:MAX_EXAMPLES]]
        excluded = self._excluded & ~bad
        self.n_excluded = int(excluded.sum())
        self.excluded_mask = excluded
        """Valid rows left out (after :meth:`finish`)."""
        return ~bad & ~excluded

    def raw_trace(
        self,
        columns: dict[str, object],
        *,
        origin: datetime | None = None,
        notes: Iterable[str] = (),
        activity_scale_frac: np.ndarray | None = None,
        input_scale_frac: np.ndarray | None = None,
        host_pods: pl.DataFrame | None = None,
    ) -> RawTrace:
        """The reader's result: ``columns`` (kept rows) with this file's row accounting.

        Call after :meth:`finish`. ``n_rows`` is the number of rows checked; ``n_bad``,
        ``bad_examples``, ``n_excluded`` and ``notes`` come from the checks.

        Args:
            columns: Canonical column name → values for the kept rows.
            origin: Wall-clock time at ``submit_time_s == 0``, or None for relative times.
            notes: Reader notes appended after the exclusion notes.
            activity_scale_frac: Optional per-kept-row activity factor (fractional GPUs).
            input_scale_frac: Optional per-kept-row input-rate factor (jobs sharing a GPU).
            host_pods: Optional CPU-only pods (see :class:`~kiban.workload.registry.RawTrace`).

        Returns:
            The raw trace.
        """
        return RawTrace(
            columns=columns,
            n_rows=int(self.lines.size),
            n_bad=self.n_bad,
            bad_examples=self.bad_examples,
            n_excluded=self.n_excluded,
            notes=[*self.notes, *notes],
            origin=origin,
            activity_scale_frac=activity_scale_frac,
            input_scale_frac=input_scale_frac,
            host_pods=host_pods,
        )

    def _describe(self, row: int) -> str:
        if row in self._single:
            return self._single[row]
        for chk in self._checks:
            if chk.mask[row]:
                return self.message(row, chk.field, chk.values[row], chk.allowed)
        return self.message(row, "?", "?", "bad row")  # unreachable: row came from a mask


# --- bulk converters ----------------------------------------------------------------------


def to_float(raw: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Parse numbers; return (values, bad) where bad marks non-empty text that is not a number.

    Empty strings and nulls become null values and are *not* bad (the caller decides).
    """
    stripped = raw.str.strip_chars()
    empty = stripped.is_null() | (stripped == "")
    values = stripped.cast(pl.Float64, strict=False)
    bad = values.is_null() & ~empty
    return values, bad


def missing(raw: pl.Series) -> pl.Series:
    """True where a raw field is empty or null."""
    return raw.is_null() | (raw.str.strip_chars() == "")


def to_datetime_s(raw: pl.Series, formats: tuple[str, ...]) -> tuple[pl.Series, pl.Series]:
    """Parse wall-clock date-times (naive) to seconds since 1970-01-01 in the same clock.

    Args:
        raw: Text values.
        formats: strptime formats tried in order.

    Returns:
        (seconds as Float64 with nulls for empty/bad, bad mask for non-empty unparsable text).
    """
    stripped = raw.str.strip_chars()
    empty = stripped.is_null() | (stripped == "")
    parsed = pl.Series(raw.name, [], dtype=pl.Datetime("us")).extend_constant(None, raw.len())
    for i, fmt in enumerate(formats):
        # cache=False: trace times are nearly all distinct, a cache of parsed strings costs more
        attempt = stripped.str.strptime(pl.Datetime("us"), fmt, strict=False, cache=False)
        parsed = attempt if i == 0 else parsed.fill_null(attempt)
    seconds = (parsed.dt.epoch("us").cast(pl.Float64) / 1e6).alias(raw.name)
    bad = seconds.is_null() & ~empty
    return seconds, bad


def json_records(
    path: Path, text: str, start: int, *, array: bool = True
) -> tuple[list[tuple[int, object]], int]:
    """Decode the items of a JSON array (or a stream of JSON values) with their line numbers.

    Args:
        path: The file (for error messages).
        text: The whole file.
        start: Index just after the opening ``[`` of the array, or of the first value of a stream.
        array: Whether the items are in an array (``,`` between items, ``]`` at the end) or a
            stream of values to the end of the text.

    Returns:
        ((line of the item's first character, decoded item) per item, in file order; index just
        after the closing ``]`` (array) or the end of the text (stream)).

    Raises:
        TraceError: at malformed JSON, an array that never closes, nesting deeper than the
            decoder allows (about 1,000 levels) or more than :data:`MAX_ROWS` items, naming the
            line.
    """
    decoder = json.JSONDecoder()
    items: list[tuple[int, object]] = []
    n = len(text)
    blank = " \t\r\n"

    def skip(i: int, line: int, chars: str) -> tuple[int, int]:
        j = i
        while j < n and text[j] in chars:
            j += 1
        return j, line + text.count("\n", i, j)

    def decode(i: int, line: int) -> tuple[object, int]:
        try:
            return decoder.raw_decode(text, i)
        except json.JSONDecodeError as err:
            msg = f"{path}:{err.lineno}: malformed JSON at column {err.colno}: {err.msg}"
            raise TraceError(msg) from None
        except RecursionError:
            msg = (
                f"{path}:{line}: JSON nested too deeply (over about 1,000 levels); a trace "
                "record is a few levels deep"
            )
            raise TraceError(msg) from None

    def add(line: int, obj: object) -> None:
        items.append((line, obj))
        if len(items) > MAX_ROWS:
            msg = f"{path}:{line}: more than {MAX_ROWS:,} records; split the trace (e.g. by month)"
            raise TraceError(msg)

    i, line = skip(start, text.count("\n", 0, start) + 1, blank)
    if not array:
        while True:
            i, line = skip(i, line, blank + ",")
            if i >= n:
                return items, n
            obj, end = decode(i, line)
            add(line, obj)
            line += text.count("\n", i, end)
            i = end
    if i < n and text[i] == "]":
        return items, i + 1
    while True:
        i, line = skip(i, line, blank)
        if i >= n:
            msg = f"{path}:{line}: the JSON list never closes with ']'; is the file truncated?"
            raise TraceError(msg)
        obj, end = decode(i, line)
        add(line, obj)
        line += text.count("\n", i, end)
        i, line = skip(end, line, blank)
        if i >= n:
            msg = f"{path}:{line}: the JSON list never closes with ']'; is the file truncated?"
            raise TraceError(msg)
        if text[i] == "]":
            return items, i + 1
        if text[i] != ",":
            msg = f"{path}:{line}: malformed JSON: expected ',' or ']' after a list item"
            raise TraceError(msg)
        i += 1


def trailing_text_problem(path: Path, text: str, end: int) -> None:
    """Raise if anything but white space follows the JSON document that ends at ``end``."""
    rest = text[end:]
    if rest.strip():
        offset = end + len(rest) - len(rest.lstrip())
        line = text.count("\n", 0, offset) + 1
        shown = rest.strip()[:40]
        msg = (
            f"{path}:{line}: text after the end of the JSON document ({shown!r}); a trace file "
            "holds one JSON document"
        )
        raise TraceError(msg)


def not_utf8_message(path: Path, err: UnicodeDecodeError) -> str:
    """One line for a trace file that is not UTF-8 text (binary data or another encoding)."""
    byte = err.object[err.start : err.start + 1].hex()
    return (
        f"{path}: not UTF-8 text (byte 0x{byte} cannot be decoded); a trace must be a UTF-8 "
        "text file (CSV or JSON as the format expects): is it binary, compressed, or saved in "
        "another encoding?"
    )


def read_text(path: Path) -> str:
    """Read a whole text file, turning OS and encoding errors into TraceError."""
    check_input(path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise TraceError(not_utf8_message(path, err)) from None
    except OSError as err:
        msg = f"{path}: cannot read trace file: {err.strerror or err}"
        raise TraceError(msg) from None


def number_column(
    checks: RowChecks,
    raw: pl.Series,
    field: str,
    *,
    min_value: float | None = None,
    max_value: float | None = None,
    required: bool = True,
    integer: bool = False,
    unit: str = "",
) -> pl.Series:
    """Parse a numeric column and register its checks; return Float64 values (null if empty).

    Args:
        checks: Where problems go.
        raw: Text values.
        field: Field name as the file names it.
        min_value: Smallest allowed value (inclusive), or None.
        max_value: Largest allowed value (inclusive); integers default to 2**53 (the largest
            whole number a float holds exactly).
        required: Whether an empty field is a problem.
        integer: Whether values must be whole numbers ("2" and "2.0" both pass).
        unit: Unit named in the message, e.g. "s".

    Returns:
        Parsed values; rows with problems hold null or the bad number (they are dropped later).
    """
    stripped = raw.str.strip_chars()
    empty = (stripped.is_null() | (stripped == "")).to_numpy()
    values = stripped.cast(pl.Float64, strict=False)
    v = values.to_numpy()  # NaN where null (empty or not a number)
    null = values.is_null().to_numpy()
    kind = "an integer" if integer else "a number"
    if integer and max_value is None:
        max_value = float(MAX_EXACT_INT)
    bound = "" if min_value is None else f" ≥ {min_value:g}"
    if max_value is not None:
        bound += f" and ≤ {max_value:,.0f}" if min_value is not None else f" ≤ {max_value:,.0f}"
    what = f"{kind}{bound}{' ' + unit if unit else ''}"
    allowed = f"must be {what}"
    checks.check(null & ~empty, field, raw, allowed)  # text that is not a number
    if required:
        checks.check(empty, field, raw, f"is required ({what})")
    # The checks run on numpy arrays (one conversion, not a polars call per check). A null or
    # NaN compares False below; NaN and inf rows are caught first by the non-finite check.
    finite = np.isfinite(v)
    checks.check(~finite & ~null, field, raw, allowed)
    with np.errstate(invalid="ignore"):
        if min_value is not None:
            checks.check(v < min_value, field, raw, allowed)
        if max_value is not None:
            checks.check(v > max_value, field, raw, allowed)
        if integer:
            fraction = (np.round(v) != v) & finite
            checks.check(fraction, field, raw, f"{allowed}; a fraction is never rounded")
    return values


def wall_clock_check(
    checks: RowChecks, seconds: pl.Series | np.ndarray, field: str, raw: object
) -> None:
    """Register wall-clock times (seconds since 1970) outside 1990–2100 as bad.

    A submit time in year 1 or 9999 parses, but no GPU cluster's accounting clock says so: it is
    a corrupt field, and it would stretch the replay over millennia.
    """
    v = seconds.to_numpy() if isinstance(seconds, pl.Series) else np.asarray(seconds, dtype=float)
    v = np.asarray(v, dtype=float)
    with np.errstate(invalid="ignore"):
        bad = np.isfinite(v) & ((v < WALL_CLOCK_MIN_S) | (v >= WALL_CLOCK_MAX_S))
    checks.check(bad, field, raw, "must be a date from 1990-01-01 to 2099-12-31")


def safe_int(values: pl.Series | np.ndarray) -> np.ndarray:
    """Whole numbers as int64, with null, non-finite or out-of-range values as 0.

    For columns whose bad values the checks already reported: the cast must not fail (or warn)
    on a row that is about to be dropped.
    """
    v = values.to_numpy() if isinstance(values, pl.Series) else np.asarray(values)
    v = np.asarray(v, dtype=float)
    ok = np.isfinite(v) & (np.abs(v) <= MAX_EXACT_INT)
    return np.where(ok, v, 0.0).astype(np.int64)


def unique_column(checks: RowChecks, raw: pl.Series, field: str) -> None:
    """Register: non-empty and unique (every repeat after the first occurrence is bad)."""
    checks.check(missing(raw), field, raw, "is required (a non-empty identifier)")
    allowed = "must be unique; this id appeared on an earlier line"
    checks.check_unique(raw, field, allowed, among=~missing(raw))


def text_or_empty(raw: pl.Series) -> pl.Series:
    """Stripped text with nulls as ""."""
    return raw.str.strip_chars().fill_null("")


def check_ragged(checks: RowChecks, table: TextTable) -> None:
    """Register rows whose field count differs from the header as bad."""
    if not table.ragged:
        return
    mask = np.zeros(table.n_rows, dtype=bool)
    found = np.full(table.n_rows, "", dtype=object)
    for row, n_fields in table.ragged.items():
        mask[row] = True
        found[row] = f"{n_fields} fields"
    allowed = f"must have {len(table.header)} fields ({', '.join(table.header)})"
    checks.check(mask, "line", found, allowed)
