"""Reference checks: a published value against the model's, with its tolerance and source.

A :class:`Row` is one check; :func:`near`, :func:`within`, :func:`at_most` and :func:`holds`
build them, a :class:`Section` groups a model's checks into tables.

Shared by ``tests/physics/`` (which assert on the checks) and ``scripts/validation_report.py``
(which renders them into ``docs/validation.md``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from kiban import units

PASS, FAIL, REPORTED = "pass", "**FAIL**", "reported"


@dataclass(frozen=True, slots=True)
class Row:
    """One reference point: a published value against kiban's, with the test's tolerance."""

    quantity: str
    published: str
    source: str
    kiban: str
    error: str
    tolerance: str
    passed: bool | None
    """True/False when a test holds the row to its tolerance; None when it is only reported."""
    model_value: float | None = None
    """kiban's value as a number (None for a qualitative check)."""
    allowed: tuple[float, float] | None = None
    """The interval ``model_value`` must lie in to pass (published value ± tolerance, a band)."""

    def explain(self) -> str:
        """One line for a failing test: what was compared, against what, from where."""
        return (
            f"{self.quantity}: kiban {self.kiban}, published {self.published} ({self.source}); "
            f"error {self.error}, tolerance {self.tolerance}"
        )

    @property
    def result(self) -> str:
        """The result cell: pass, FAIL or reported."""
        if self.passed is None:
            return REPORTED
        return PASS if self.passed else FAIL


@dataclass(frozen=True, slots=True)
class Table:
    """A captioned table of rows."""

    caption: str
    rows: tuple[Row, ...]


@dataclass(frozen=True, slots=True)
class Section:
    """One model: what it is, which test enforces it, and its tables."""

    title: str
    intro: str
    tables: tuple[Table, ...]
    notes: tuple[str, ...] = ()

    @property
    def rows(self) -> tuple[Row, ...]:
        """All rows of all tables."""
        return tuple(r for t in self.tables for r in t.rows)


def _is_zero(text: str) -> bool:
    return text.strip("+-").replace(",", "").strip("0.") == ""


def _f(value: float, digits: int) -> str:
    """Fixed-point text with thousands separators; never '-0.00'."""
    text = f"{value:,.{digits}f}"
    return text.lstrip("-") if _is_zero(text) else text


def _signed(value: float, digits: int) -> str:
    """Like ``_f`` with an explicit sign; zero prints as '+0.00'."""
    text = f"{value:+,.{digits}f}"
    return "+" + text[1:] if _is_zero(text) else text


def _test_ref(test: str) -> str:
    """A test name in backticks; free text (a note about the test) as it is."""
    return f"`{test}`" if re.fullmatch(r"[\w.:]+", test) else test


def near(
    quantity: str,
    published: float,
    value: float,
    *,
    source: str,
    test: str,
    unit: str = "",
    digits: int = 2,
    atol: float | None = None,
    rtol: float | None = None,
    published_text: str | None = None,
) -> Row:
    """A value against a published number, within an absolute or a relative tolerance."""
    u = f" {unit}" if unit else ""
    if rtol is not None:
        err = (value - published) / published
        passed = abs(err) <= rtol
        error = f"{_signed(err * units.PERCENT_PER_FRAC, 2)} %"
        tol = f"±{rtol * units.PERCENT_PER_FRAC:g} %"
    else:
        if atol is None:
            msg = f"{quantity}: give atol or rtol"
            raise ValueError(msg)
        err = value - published
        passed = abs(err) <= atol
        error = f"{_signed(err, digits + 1)}{u}"
        tol = f"±{atol:g}{u}"
    half = abs(published) * rtol if rtol is not None else float(atol or 0.0)
    return Row(
        quantity,
        published_text or f"{_f(published, digits)}{u}",
        source,
        f"{_f(value, digits + 1)}{u}",
        error,
        f"{tol} ({_test_ref(test)})",
        passed,
        value,
        (published - half, published + half),
    )


def within(
    quantity: str,
    lo: float,
    hi: float,
    value: float,
    *,
    source: str,
    test: str,
    unit: str = "",
    digits: int = 2,
    published_text: str | None = None,
    point: float | None = None,
) -> Row:
    """A value against a band [lo, hi]; the error is the distance outside the band.

    ``point`` (a published central value, when there is one) adds the difference from it.
    """
    u = f" {unit}" if unit else ""
    if value < lo:
        error = f"{_f(lo - value, digits + 1)}{u} below"
    elif value > hi:
        error = f"{_f(value - hi, digits + 1)}{u} above"
    else:
        error = "inside"
    if point is not None:
        error += f"; {_signed(value - point, digits + 1)}{u} vs {point:g}"
    return Row(
        quantity,
        published_text or f"{_f(lo, digits)}–{_f(hi, digits)}{u}",
        source,
        f"{_f(value, digits + 1)}{u}",
        error,
        f"{lo:g}–{hi:g}{u} ({_test_ref(test)})",
        lo <= value <= hi,
        value,
        (lo, hi),
    )


def at_most(
    quantity: str,
    value: float,
    limit: float,
    *,
    published: str,
    source: str,
    test: str,
    digits: int = 4,
) -> Row:
    """An error statistic (RMSE) against the test's upper bound; the error is the value."""
    return Row(
        quantity,
        published,
        source,
        _f(value, digits),
        _f(value, digits),
        f"≤ {limit:g} ({_test_ref(test)})",
        value <= limit,
        value,
        (-math.inf, limit),
    )


def holds(quantity: str, published: str, kiban: str, ok: bool, *, source: str, test: str) -> Row:
    """A qualitative statement (an ordering) that the published source makes."""
    return Row(
        quantity,
        published,
        source,
        kiban,
        "—" if ok else "violated",
        f"holds ({_test_ref(test)})",
        ok,
    )
