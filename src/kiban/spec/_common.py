"""Shared pieces of the spec models: the strict frozen base model and plausibility checks.

A plausibility check turns a likely unit mistake into a message that says what was probably
meant, e.g. ``power_limit_kw = 30000`` → "implausible for a rack (expected 1–300 kW); did you
mean W? (30000 W = 30 kW)".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo

from kiban.units import f_to_c

KNOWN_CLIMATE_CITIES: tuple[str, ...] = ("tokyo", "osaka", "sapporo")
"""Cities with built-in monthly climate normals (``kiban.physics.climate.monthly_normals``)."""


class SpecModel(BaseModel):
    """Base of every spec model: frozen, strict types, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


VALUE_LIMIT = 160
"""Longest value an error message shows whole; longer ones keep their start and their end."""
PATH_LIMIT = 1000
"""Paths (values holding a / or \\) are shown whole up to this length: the file name matters."""


def _shorten(text: str, limit: int) -> str:
    """Cut the middle of ``text`` to ``limit`` characters, keeping its end (e.g. a file name)."""
    if len(text) <= limit:
        return text
    head = max(limit // 3, 1)
    tail = max(limit - head - 1, 1)
    return text[:head] + "…" + text[-tail:]


def fmt_value(value: Any, limit: int = VALUE_LIMIT) -> str:
    """Render a value the way the user wrote it in TOML (strings quoted), shortened to ``limit``.

    A path keeps its whole text (up to :data:`PATH_LIMIT`); anything longer than the limit
    loses its middle, never its end, so a file name at the end of a long path stays visible.

    Examples:
        >>> fmt_value("dgx-h100")
        '"dgx-h100"'
        >>> fmt_value(30000.0)
        '30000'
    """
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = '"' + value.replace("\n", "\\n") + '"'
    elif isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k} = {fmt_value(v, 20)}" for k, v in value.items()) + "}"
    elif isinstance(value, list | tuple):
        text = "[" + ", ".join(fmt_value(v, 20) for v in value) + "]"
    else:
        text = str(value)
    if isinstance(value, str | Path) and ("/" in text or "\\" in text):
        limit = max(limit, PATH_LIMIT)
    return _shorten(text, limit)


def check_range(
    value: float,
    low: float,
    high: float,
    what: str,
    unit: str,
    *,
    alternatives: tuple[tuple[float, str], ...] = (),
) -> float:
    """Return ``value`` if ``low ≤ value ≤ high``; otherwise raise a ValueError that says why.

    Args:
        value: The number as written (in ``unit``).
        low: Lowest plausible value.
        high: Highest plausible value.
        what: What the number describes ("a rack", "a hall floor").
        unit: The unit of the key (kW, m, °C ...).
        alternatives: ``(factor, unit)`` pairs: if ``value·factor`` is plausible, the message
            asks "did you mean <unit>?".

    Raises:
        ValueError: the message says the allowed range and the likely unit mistake.
    """
    if low <= value <= high:
        return value
    if value < 0.0 <= low:
        msg = f"must not be negative (expected {low:g}–{high:g} {unit} for {what})"
        raise ValueError(msg)
    hint = ""
    for factor, alt_unit in alternatives:
        converted = value * factor
        if low <= converted <= high:
            hint = f"; did you mean {alt_unit}? ({value:g} {alt_unit} = {converted:.4g} {unit})"
            break
    msg = f"implausible for {what} (expected {low:g}–{high:g} {unit}){hint}"
    raise ValueError(msg)


def check_temp_c(value: float, low: float, high: float, what: str) -> float:
    """Return a °C value in range, or raise a ValueError that suggests °F when that fits."""
    if low <= value <= high:
        return value
    hint = ""
    if low <= f_to_c(value) <= high:
        hint = f"; did you mean °F? ({value:g} °F = {f_to_c(value):.1f} °C)"
    msg = f"implausible for {what} (expected {low:g}–{high:g} °C){hint}"
    raise ValueError(msg)


DATA_VARIABLE = "KIBAN_DATA"
"""A spec path may start with ``$KIBAN_DATA/`` (or ``${KIBAN_DATA}/``): the public data folder."""


def expand_data_variable(text: str) -> str:
    """Replace a leading ``$KIBAN_DATA`` / ``${KIBAN_DATA}`` with the public data folder.

    The folder is ``$KIBAN_DATA`` when set, else ``../shared/data`` beside the checkout
    (:func:`kiban.shared_data.default_data_root`). Other text is returned unchanged; with
    ``KIBAN_DATA=/data``, ``$KIBAN_DATA/philly/jobs.csv`` becomes ``/data/philly/jobs.csv``.
    """
    for prefix in (f"${{{DATA_VARIABLE}}}", f"${DATA_VARIABLE}"):
        if text == prefix or text.startswith((prefix + "/", prefix + "\\")):
            from kiban.shared_data import default_data_root  # noqa: PLC0415

            return str(default_data_root()) + text[len(prefix) :]
    return text


def resolve_path(text: str, info: ValidationInfo) -> str:
    """Resolve a path written in a spec against the spec file's folder (validation context).

    A leading ``$KIBAN_DATA`` names the public data folder (:func:`expand_data_variable`).
    Absolute paths and ``~`` are kept; a relative path becomes absolute when the loader passed
    ``{"base_dir": folder}`` as validation context, and stays as written otherwise.
    """
    if not text.strip():
        msg = "must be a non-empty path"
        raise ValueError(msg)
    path = Path(expand_data_variable(text.strip())).expanduser()
    context = info.context if isinstance(info.context, dict) else {}
    base = context.get("base_dir")
    if not path.is_absolute() and isinstance(base, Path):
        path = (base / path).resolve()
    return str(path)
