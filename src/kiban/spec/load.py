"""Read a scenario TOML file, validate it, and turn every mistake into one clear line.

Pydantic's errors become ``FILE: dotted.path = value: what is allowed``; unreadable files
(missing, empty, binary, not UTF-8, invalid TOML) become a single line. Users never see a
traceback for their own mistakes.
"""

from __future__ import annotations

import tomllib
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from kiban._files import SNIFF_BYTES, input_file_problem, text_problem
from kiban.catalog import suggestion
from kiban.errors import ConfigError
from kiban.spec._common import fmt_value
from kiban.spec.checks import check_scenario
from kiban.spec.models import Scenario

_REQUIRED_HINT = "a scenario needs [site], [hall], [cooling] and at least one [[fleet]] entry"


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file into a dict.

    Raises:
        ConfigError: one line naming the file: missing, a folder, empty, binary, not UTF-8 or
            invalid TOML (with the line and column).
    """
    problem = input_file_problem(path)
    handled_below = ("file not found", "is a folder")  # keep their established messages
    if problem is not None and not problem.startswith(handled_below):
        msg = f"{path}: {problem}"
        raise ConfigError(msg)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            msg = (
                f"{path}: {path.stat().st_size:,} bytes; a scenario file is at most "
                f"{MAX_FILE_BYTES:,} bytes (put large data in the files it names)"
            )
            raise ConfigError(msg)
        raw = path.read_bytes()
    except FileNotFoundError:
        msg = f"{path}: file not found"
        raise ConfigError(msg) from None
    except IsADirectoryError:
        msg = f"{path}: is a folder, expected a scenario TOML file"
        raise ConfigError(msg) from None
    except OSError as err:
        msg = f"{path}: cannot read ({err.strerror})"
        raise ConfigError(msg) from None
    if not raw.strip():
        msg = f"{path}: empty file; {_REQUIRED_HINT} (see examples/)"
        raise ConfigError(msg)
    sniffed = text_problem(raw[:SNIFF_BYTES])
    if sniffed is not None and ("UTF-16" in sniffed or "UTF-32" in sniffed):
        msg = f"{path}: {sniffed}"
        raise ConfigError(msg)
    if b"\x00" in raw:
        msg = f"{path}: binary data, not a TOML text file"
        raise ConfigError(msg)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        msg = (
            f"{path}: not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start}); "
            "save the file as UTF-8"
        )
        raise ConfigError(msg) from None
    try:
        data = tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as err:
        msg = f"{path}: invalid TOML: {err}"
        raise ConfigError(msg) from None
    except RecursionError:
        msg = (
            f"{path}: arrays or inline tables nested too deeply for the TOML reader; a scenario "
            f"is at most {MAX_DEPTH} levels deep"
        )
        raise ConfigError(msg) from None
    if not data:
        msg = f"{path}: no settings (only comments?); {_REQUIRED_HINT}"
        raise ConfigError(msg)
    problem = shape_problem(data)
    if problem is not None:
        msg = f"{path}: {problem}"
        raise ConfigError(msg)
    return data


MAX_FILE_BYTES = 10_000_000
"""Largest scenario file read (the shipped examples are about 5 kB)."""

MAX_DEPTH = 16
"""Deepest nesting of tables and arrays in a scenario (the schema needs 5)."""

MAX_TEXT_CHARS = 4096
"""Longest string value (names, descriptions, paths) in a scenario."""

MAX_KEY_CHARS = 200
"""Longest key in a scenario."""


def shape_problem(data: dict[str, Any]) -> str | None:
    """Why a parsed TOML document is too deep or holds an over-long key or string, or None.

    Walks the document without recursion, so no input can exhaust the stack. The message names
    the dotted path and the limit.
    """
    stack: list[tuple[str, Any, int]] = [("", data, 0)]
    while stack:
        where, value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"{where} = …: nested {depth} levels deep; a scenario is at most {MAX_DEPTH}"
        if isinstance(value, dict):
            for key, item in value.items():
                if len(key) > MAX_KEY_CHARS:
                    return (
                        f"{where + '.' if where else ''}{key[:40]}…: a key of {len(key):,} "
                        f"characters; keys are at most {MAX_KEY_CHARS}"
                    )
                stack.append((f"{where}.{key}" if where else key, item, depth + 1))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", item, depth + 1) for i, item in enumerate(value))
        elif isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
            return (
                f"{where} = {value[:40]!r}… ({len(value):,} characters): text values are at most "
                f"{MAX_TEXT_CHARS:,} characters"
            )
    return None


# --- pydantic errors → lines ----------------------------------------------------------------


def _is_tag(item: Any) -> bool:
    """Union/validator tags pydantic puts in an error location (not user keys)."""
    return isinstance(item, str) and ("[" in item or "(" in item)


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for item in loc:
        if _is_tag(item):
            continue
        if isinstance(item, int):
            out += f"[{item}]"
        else:
            out += f".{item}" if out else str(item)
    return out


def _unwrap(annotation: Any) -> type[BaseModel] | None:
    """The model class inside ``X``, ``X | None``, ``list[X]``, ``dict[str, X]``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _unwrap(arg)
        if found is not None:
            return found
    return None


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class whose fields live at ``loc`` (None past a leaf)."""
    model: type[BaseModel] | None = Scenario
    for item in loc:
        if model is None:
            return None
        if isinstance(item, int) or _is_tag(item):
            continue
        info = model.model_fields.get(item)
        if info is None:
            return None
        model = _unwrap(info.annotation)
    return model


def _field_is_section(loc: tuple[Any, ...]) -> tuple[bool, bool]:
    """(is a table, is a list of tables) for the field at ``loc``."""
    parent = _model_at(loc[:-1])
    if parent is None or not isinstance(loc[-1], str):
        return False, False
    info = parent.model_fields.get(loc[-1])
    if info is None:
        return False, False
    is_table = _unwrap(info.annotation) is not None
    is_list = typing.get_origin(info.annotation) is list
    return is_table, is_list and is_table


def _expected_literals(ctx: dict[str, Any]) -> list[str]:
    text = str(ctx.get("expected", ""))
    parts = text.replace(" or ", ", ").split(", ")
    return [p.strip().strip("'\"") for p in parts if p.strip()]


def _message(err: Any) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    loc = tuple(err["loc"])
    if kind == "missing":
        is_table, is_list = _field_is_section(loc)
        path = _dotted(loc)
        if is_list:
            return f"required: at least one [[{path}]] entry"
        if is_table:
            return f"required table [{path}] is missing"
        return "required key is missing"
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = list(model.model_fields) if model is not None else []
        hint = suggestion(str(loc[-1]), allowed) if allowed else ""
        return f"unknown key{hint or ';'} allowed: {', '.join(allowed)}"
    if kind == "literal_error":
        choices = _expected_literals(ctx)
        hint = (
            suggestion(str(err.get("input")), choices) if isinstance(err.get("input"), str) else ""
        )
        return f"allowed: {', '.join(choices)}{hint}"
    simple = {
        "float_type": "must be a number",
        "float_parsing": "must be a number",
        "finite_number": "must be a finite number",
        "int_type": "must be a whole number",
        "int_parsing": "must be a whole number",
        "int_from_float": "must be a whole number",
        "string_type": "must be a string (in quotes)",
        "bool_type": "must be true or false",
        "list_type": "must be a list, e.g. [1, 2]",
        "model_type": "must be a table (a [section] or { key = value })",
        "model_attributes_type": "must be a table (a [section] or { key = value })",
        "dict_type": "must be a table (a [section] or { key = value })",
    }
    if kind == "list_type" and _field_is_section(loc)[1]:
        return f"must be a list of tables: one [[{_dotted(loc)}]] section per entry"
    if kind in simple:
        return simple[kind]
    if kind == "greater_than_equal":
        bound = ctx.get("ge")
        return "must not be negative" if bound == 0 else f"must be at least {bound}"
    if kind == "greater_than":
        return f"must be greater than {ctx.get('gt')}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}"
    if kind == "less_than":
        return f"must be less than {ctx.get('lt')}"
    if kind == "too_short":
        n = ctx.get("min_length")
        return f"must have at least {n} {'entry' if n == 1 else 'entries'}"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} entries"
    if kind in {"value_error", "assertion_error"}:
        return str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return str(err["msg"])


def validation_lines(err: ValidationError) -> list[str]:
    """Turn a pydantic ValidationError on :class:`Scenario` into ``path = value: why`` lines."""
    lines: list[str] = []
    for item in err.errors(include_url=False):
        loc = tuple(item["loc"])
        path = _dotted(loc) or "(file)"
        value = "(missing)" if item["type"] == "missing" else fmt_value(item.get("input"))
        line = f"{path} = {value}: {_message(item)}"
        if line not in lines:
            lines.append(line)
    return lines


def load_spec(path: Path | str) -> Scenario:
    """Load a scenario TOML file and check it for type errors and physical consistency.

    Relative paths inside the file (user catalog, hourly climate CSV, trace) are resolved
    against the file's folder. The trace file itself is not required to exist here; see
    :meth:`kiban.spec.Workload.check_trace`.

    Args:
        path: The scenario file.

    Returns:
        The frozen :class:`Scenario`, with its racks already placed
        (:meth:`Scenario.racks_resolved` is then free).

    Raises:
        ConfigError: one problem per line, each ``FILE: dotted.path = value: what is allowed``.
    """
    path = Path(path)
    data = read_toml(path)
    context = {"base_dir": path.parent.resolve()}
    try:
        scenario = Scenario.model_validate(data, context=context)
    except ValidationError as err:
        lines = [f"{path}: {line}" for line in validation_lines(err)]
        msg = f"{path}: {len(lines)} problem(s)"
        raise ConfigError(msg, problems=lines) from None
    scenario._source_path = path
    try:
        scenario.get_catalog()
    except ConfigError:
        if scenario.catalog is not None and not Path(scenario.catalog).is_file():
            line = f"{path}: catalog = {fmt_value(scenario.catalog)}: user catalog file not found"
            raise ConfigError(line) from None
        raise
    racks, problems = check_scenario(scenario)
    if problems:
        lines = [f"{path}: {line}" for line in problems]
        msg = f"{path}: {len(lines)} problem(s)"
        raise ConfigError(msg, problems=lines)
    if racks is not None:
        scenario._racks = racks  # same object as the cache owner set by get_catalog()
    return scenario
