"""The sweep file: a base scenario, the axes to vary, the seeds, and how axes combine.

A sweep file is TOML::

    name = "supply-temperature"            # optional (default: the file name)
    scenario = "tokyo-air-dgx-h100.toml"   # base scenario, relative to this file
    trace = "philly:jobs.csv"              # optional FORMAT:PATH overriding [workload]
    until = "2d"                           # optional horizon (30d, 12h, 90m, 3600)
    combine = "factorial"                  # or "paired" (axes zipped, equal lengths)
    seeds = [1, 2, 3]                      # or { start = 1, stop = 5 }; default: simulation.seed
    locality = "none"                      # as `kiban simulate --locality`
    failures = true                        # false = `kiban simulate --no-failures`

    [axes]
    policy = ["fifo-static", "easy-backfill"]            # registered policies or "scenario"
    "cooling.supply_temp_c" = { start = 18, stop = 27, step = 3 }   # any scenario field
    "params.estimate_factor" = [1.0, 2.0]                 # a parameter of the swept policies

An axis is a list of values or a range table ``{start, stop, step}`` (``stop`` included) or
``{start, stop, num}`` (evenly spaced, like ``numpy.linspace``); a single value is a fixed
setting. Keys are dotted paths into the scenario (``fleet[0].count``), checked against the
scenario model, or ``policy``, or ``params.NAME``. Seeds always cross the other axes: they are
the replicates that give confidence intervals.

Every mistake is one :class:`~kiban.errors.ConfigError` line naming the file, the field and the
value, and what is allowed, the way :func:`kiban.spec.load_spec` reports a scenario.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from kiban.catalog import suggestion
from kiban.errors import ConfigError, KibanError
from kiban.spec import Scenario, check_scenario, load_spec, read_toml, validation_lines
from kiban.spec._common import fmt_value

__all__ = [
    "COMBINE_MODES",
    "POLICY_AXIS",
    "SEED_COLUMN",
    "RunPoint",
    "SweepSpec",
    "load_sweep",
    "parse_duration_s",
    "plan_runs",
    "scenario_for_point",
]

POLICY_AXIS = "policy"
"""Axis key that varies the policy (names as in ``kiban simulate --policy``)."""
PARAMS_PREFIX = "params."
"""Axis keys ``params.NAME`` vary a parameter of the swept policies."""
SEED_COLUMN = "seed"
COMBINE_MODES = ("factorial", "paired")
SCENARIO_POLICY = "scenario"
"""Policy name meaning the scenario's own ``[policies]`` table (as in ``kiban simulate``)."""
LOCALITIES = ("none", "node")
TOP_KEYS = (
    "name",
    "description",
    "scenario",
    "trace",
    "until",
    "combine",
    "seeds",
    "locality",
    "failures",
    "axes",
)
RANGE_KEYS = frozenset({"start", "stop", "step", "num"})
MAX_RUNS = 1_000_000
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")
_UNITS_S = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_SEGMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_\-]*)((?:\[\d+\])*)$")


def parse_duration_s(text: str, where: str) -> float:
    """Parse ``30d``, ``12h``, ``90m``, ``3600s`` or ``3600`` into seconds (> 0).

    Raises:
        ConfigError: naming ``where`` (file and field) and the accepted forms.
    """
    match = _DURATION.match(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS_S or float(match.group(1)) <= 0:
        msg = (
            f"{where} = {fmt_value(text)}: not a duration; use a positive number with s, m, h "
            "or d (e.g. 30d, 12h, 90m, 3600)"
        )
        raise ConfigError(msg)
    return float(match.group(1)) * _UNITS_S[unit]


@dataclass(frozen=True)
class RunPoint:
    """One run of the sweep: the value of every axis, and the seed.

    Attributes:
        run_id: Stable name of the run (hash of the base inputs, the values and the seed), so
            adding values to a sweep keeps the ids of the runs already done.
        index: Position in the plan (row order of ``runs.parquet``).
        values: Axis key → value, in axis order.
        seed: The run's seed.
    """

    run_id: str
    index: int
    values: dict[str, Any]
    seed: int

    @property
    def policy(self) -> str:
        """The policy of this run (``scenario`` when no policy axis)."""
        return str(self.values.get(POLICY_AXIS, SCENARIO_POLICY))

    @property
    def params(self) -> dict[str, Any]:
        """Policy parameters set by ``params.NAME`` axes."""
        return {
            k[len(PARAMS_PREFIX) :]: v
            for k, v in self.values.items()
            if k.startswith(PARAMS_PREFIX)
        }

    @property
    def overrides(self) -> dict[str, Any]:
        """Scenario field overrides (dotted path → value)."""
        return {
            k: v
            for k, v in self.values.items()
            if k != POLICY_AXIS and not k.startswith(PARAMS_PREFIX)
        }


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep file.

    Attributes:
        path: The sweep file.
        name: Sweep name.
        description: Free text.
        scenario_path: The base scenario file.
        scenario: The base scenario (validated).
        base_data: The base scenario as a plain dict (paths absolute), where overrides go.
        trace: ``FORMAT:PATH`` overriding ``[workload]`` (absolute path), or None.
        until_s: Horizon (s) or None (the scenario's own).
        combine: ``factorial`` or ``paired``.
        seeds: Seeds (replicates).
        locality: ``none`` or ``node``.
        failures: Whether nodes fail.
        axes: Axis key → values, in file order.
        text: The sweep file's text (echoed into the output folder).
    """

    path: Path
    name: str
    description: str
    scenario_path: Path
    scenario: Scenario
    base_data: dict[str, Any]
    trace: str | None
    until_s: float | None
    combine: str
    seeds: tuple[int, ...]
    locality: str
    failures: bool
    axes: dict[str, list[Any]] = field(default_factory=dict)
    text: str = ""

    @property
    def n_runs(self) -> int:
        """Number of runs the sweep plans."""
        if not self.axes:
            return len(self.seeds)
        sizes = [len(v) for v in self.axes.values()]
        n = sizes[0] if self.combine == "paired" else math.prod(sizes)
        return n * len(self.seeds)


# --- parsing helpers ---------------------------------------------------------------------------


def _err(path: Path, where: str, value: Any, why: str) -> ConfigError:
    shown = "(missing)" if value is _MISSING else fmt_value(value)
    return ConfigError(f"{path}: {where} = {shown}: {why}")


_MISSING = object()


def _num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _expand_range(path: Path, where: str, table: dict[str, Any]) -> list[Any]:
    unknown = sorted(set(table) - RANGE_KEYS)
    if unknown:
        raise _err(
            path,
            where,
            table,
            f"unknown range key {unknown[0]!r}; allowed: start, stop, and step or num",
        )
    if "start" not in table or "stop" not in table or ("step" in table) == ("num" in table):
        raise _err(path, where, table, "a range needs start, stop and either step or num")
    start, stop = table["start"], table["stop"]
    if not _num(start) or not _num(stop):
        raise _err(path, where, table, "start and stop must be numbers")
    if "num" in table:
        num = table["num"]
        if not isinstance(num, int) or isinstance(num, bool) or num < 1:
            raise _err(path, f"{where}.num", num, "must be a whole number ≥ 1")
        if num == 1:
            return [start]
        vals = [start + (stop - start) * i / (num - 1) for i in range(num)]
        return [round(v, 12) for v in vals]
    step = table["step"]
    if not _num(step) or step == 0 or (stop - start) / step < 0:
        raise _err(
            path, f"{where}.step", step, f"must be a number that goes from {start} towards {stop}"
        )
    count = math.floor((stop - start) / step + 1e-9) + 1
    if count > MAX_RUNS:
        raise _err(path, where, table, f"gives {count:,} values; at most {MAX_RUNS:,}")
    if all(isinstance(v, int) for v in (start, stop, step)):
        return [start + i * step for i in range(count)]
    return [round(start + i * step, 12) for i in range(count)]


def _axis_values(path: Path, where: str, raw: Any, *, unique: bool = True) -> list[Any]:
    if isinstance(raw, dict):
        return _expand_range(path, where, raw)
    values = list(raw) if isinstance(raw, list) else [raw]
    if not values:
        raise _err(path, where, raw, "must list at least one value")
    seen: list[str] = []
    for v in values if unique else []:
        key = json.dumps(v, sort_keys=True, default=str)
        if key in seen:
            raise _err(path, where, raw, f"value {fmt_value(v)} is listed twice")
        seen.append(key)
    return values


def _flatten_axes(raw: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{cooling = {supply_temp_c = [..]}}`` (TOML's reading of bare dotted keys) → dotted."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict) and value and not (set(value) & {"start", "stop"}):
            out.update(_flatten_axes(value, f"{full}."))
        else:
            out[full] = value
    return out


def _unwrap(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """(model inside, container kind: '', 'list' or 'dict')."""
    origin = typing.get_origin(annotation)
    if origin is list:
        inner, _ = _unwrap(typing.get_args(annotation)[0])
        return inner, "list"
    if origin is dict:
        return None, "dict"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    for arg in typing.get_args(annotation):
        inner, kind = _unwrap(arg)
        if inner is not None or kind:
            return inner, kind
    return None, ""


def split_path(key: str) -> list[str | int] | None:
    """``fleet[0].count`` → ``["fleet", 0, "count"]``; None when malformed."""
    parts: list[str | int] = []
    for segment in key.split("."):
        match = _SEGMENT.match(segment)
        if match is None:
            return None
        parts.append(match.group(1))
        parts.extend(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
    return parts


def _check_scenario_path(path: Path, key: str, base: dict[str, Any]) -> list[str | int]:
    """Check a dotted path against the scenario model; return its parts."""
    where = f"axes.{fmt_value(key)}"
    parts = split_path(key)
    if parts is None:
        msg = f"{path}: {where}: not a dotted path such as cooling.supply_temp_c or fleet[0].count"
        raise ConfigError(msg)
    model: type[BaseModel] | None = Scenario
    kind = ""
    node: Any = base
    for i, part in enumerate(parts):
        shown = ".".join(str(p) for p in parts[:i]) or "the scenario"
        if isinstance(part, int):
            if kind != "list":
                msg = f"{path}: {where}: [{part}] after {shown}, which is not a list"
                raise ConfigError(msg)
            if not isinstance(node, list) or part >= len(node):
                n = len(node) if isinstance(node, list) else 0
                msg = (
                    f"{path}: {where}: index [{part}] but the base scenario has "
                    f"{n} {shown} entr{'y' if n == 1 else 'ies'}"
                )
                raise ConfigError(msg)
            node = node[part]
            kind = ""
            continue
        if kind == "list":
            msg = f"{path}: {where}: {shown} is a list; give an index, e.g. {shown}[0].{part}"
            raise ConfigError(msg)
        if kind == "dict" or model is None:
            if kind != "dict":
                msg = f"{path}: {where}: {shown} is a value, not a table"
                raise ConfigError(msg)
            node = node.get(part) if isinstance(node, dict) else None
            kind = "dict" if isinstance(node, dict) else ""
            model = None
            continue
        fields = model.model_fields
        if part not in fields:
            hint = suggestion(part, list(fields))
            msg = (
                f"{path}: {where}: no field {part!r} in [{shown}]{hint or ';'} "
                f"allowed: {', '.join(fields)}"
            )
            raise ConfigError(msg)
        model, kind = _unwrap(fields[part].annotation)
        node = node.get(part) if isinstance(node, dict) else None
    if kind == "list":
        msg = f"{path}: {where}: a whole list cannot be an axis; give an index"
        raise ConfigError(msg)
    return parts


def _set_path(data: dict[str, Any], parts: list[str | int], value: Any) -> None:
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        if isinstance(part, int):
            node = node[part]
        else:
            if not isinstance(node.get(part), dict | list):
                node[part] = {} if isinstance(nxt, str) else []
            node = node[part]
    last = parts[-1]
    node[last] = value


def scenario_for_point(
    spec: SweepSpec, overrides: dict[str, Any]
) -> tuple[dict[str, Any], Scenario]:
    """The base scenario with the overrides applied, validated.

    Returns:
        (plain dict of the run's scenario, validated scenario).

    Raises:
        ConfigError: the scenario's own problems, as lines ``path = value: why``.
    """
    data = copy.deepcopy(spec.base_data)
    for key, value in overrides.items():
        parts = split_path(key)
        assert parts is not None  # checked when the sweep was loaded
        _set_path(data, parts, value)
    context = {"base_dir": spec.scenario_path.parent.resolve()}
    try:
        scenario = Scenario.model_validate(data, context=context)
    except ValidationError as err:
        msg = "invalid scenario"
        raise ConfigError(msg, problems=validation_lines(err)) from None
    _, problems = check_scenario(scenario)
    if problems:
        msg = "invalid scenario"
        raise ConfigError(msg, problems=problems)
    return data, scenario


def _seeds(path: Path, raw: Any, default: int) -> tuple[int, ...]:
    if raw is _MISSING:
        return (default,)
    values = _axis_values(path, "seeds", raw)
    for v in values:
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise _err(path, "seeds", raw, f"{fmt_value(v)} is not a whole number ≥ 0")
    return tuple(values)


def _known_policies() -> list[str]:
    from kiban.policies.registry import available_policies  # noqa: PLC0415

    return sorted(available_policies())


def _check_policies(path: Path, axes: dict[str, list[Any]]) -> None:
    policies = axes.get(POLICY_AXIS, [SCENARIO_POLICY])
    known = _known_policies()
    for name in policies:
        if not isinstance(name, str):
            raise _err(path, f"axes.{POLICY_AXIS}", name, "a policy is a name (in quotes)")
        if name != SCENARIO_POLICY and name.replace("_", "-") not in known:
            hint = suggestion(name, known)
            raise _err(
                path,
                f"axes.{POLICY_AXIS}",
                name,
                f"not a registered policy{hint or ';'} "
                f"known: {SCENARIO_POLICY}, {', '.join(known)}",
            )
    param_keys = [k for k in axes if k.startswith(PARAMS_PREFIX)]
    if not param_keys:
        return
    if SCENARIO_POLICY in policies:
        raise _err(
            path,
            f"axes.{param_keys[0]}",
            axes[param_keys[0]],
            "parameters go to the "
            'swept policies; with policy "scenario" set [policies] fields instead, e.g. '
            '"policies.scheduling.params.NAME"',
        )
    from kiban.policies.registry import make_policy  # noqa: PLC0415

    for key in param_keys:
        for value in axes[key]:
            for name in policies:
                try:
                    make_policy("policy", name, {key[len(PARAMS_PREFIX) :]: value})
                except KibanError as err:
                    raise _err(path, f"axes.{key}", value, str(err)) from None


def load_sweep(path: Path | str) -> SweepSpec:
    """Read and validate a sweep file (and its base scenario, and every axis value on it).

    Raises:
        ConfigError: one line naming the file, the field, the value and what is allowed.
    """
    path = Path(path)
    data = read_toml(path)
    text = path.read_text(encoding="utf-8")
    for key in data:
        if key not in TOP_KEYS:
            hint = suggestion(key, TOP_KEYS)
            raise _err(
                path, key, data[key], f"unknown key{hint or ';'} allowed: {', '.join(TOP_KEYS)}"
            )
    raw_scenario = data.get("scenario", _MISSING)
    if not isinstance(raw_scenario, str) or not raw_scenario.strip():
        raise _err(
            path,
            "scenario",
            raw_scenario,
            "required: the base scenario file (a path relative to the sweep file)",
        )
    scenario_path = (path.parent / Path(raw_scenario).expanduser()).resolve()
    if not scenario_path.is_file():
        raise _err(path, "scenario", raw_scenario, f"file not found: {scenario_path}")
    scenario = load_spec(scenario_path)
    base_data = scenario.model_dump(mode="json", exclude_none=True, exclude_unset=True)
    for key, kind in (
        ("name", str),
        ("description", str),
        ("trace", str),
        ("until", str),
        ("combine", str),
        ("locality", str),
        ("failures", bool),
    ):
        if key in data and not isinstance(data[key], kind):
            want = "true or false" if kind is bool else "a string (in quotes)"
            raise _err(path, key, data[key], f"must be {want}")
    combine = data.get("combine", "factorial")
    if combine not in COMBINE_MODES:
        hint = suggestion(combine, COMBINE_MODES)
        raise _err(path, "combine", combine, f"allowed: {', '.join(COMBINE_MODES)}{hint}")
    locality = data.get("locality", "none")
    if locality not in LOCALITIES:
        raise _err(path, "locality", locality, f"allowed: {', '.join(LOCALITIES)}")
    until_s = parse_duration_s(data["until"], f"{path}: until") if "until" in data else None
    trace = data.get("trace")
    if trace is not None:
        fmt, sep, raw_trace = trace.partition(":")
        if not sep or not raw_trace.strip():
            raise _err(path, "trace", trace, "expected FORMAT:PATH, e.g. philly:jobs.csv")
        trace_path = (path.parent / Path(raw_trace.strip()).expanduser()).resolve()
        if not trace_path.exists():
            raise _err(path, "trace", trace, f"file not found: {trace_path}")
        trace = f"{fmt.strip()}:{trace_path}"
    raw_axes = data.get("axes", {})
    if not isinstance(raw_axes, dict):
        raise _err(path, "axes", raw_axes, "must be a table: [axes] with one key per axis")
    axes: dict[str, list[Any]] = {}
    for key, raw in _flatten_axes(raw_axes).items():
        if key == SEED_COLUMN:
            raise _err(path, f"axes.{key}", raw, "seeds are set by the top-level seeds key")
        axes[key] = _axis_values(path, f"axes.{fmt_value(key)}", raw, unique=combine == "factorial")
    if combine == "paired" and axes:
        sizes = {k: len(v) for k, v in axes.items()}
        if len(set(sizes.values()) - {1}) > 1:
            listing = ", ".join(f"{k}: {n}" for k, n in sizes.items())
            raise _err(
                path,
                "combine",
                combine,
                f"paired axes need the same number of values (or one); got {listing}",
            )
        n = max(sizes.values())
        axes = {k: v * n if len(v) == 1 else v for k, v in axes.items()}
        combos = [json.dumps(c, default=str) for c in zip(*axes.values(), strict=True)]
        for i, combo in enumerate(combos):
            if combos.index(combo) != i:
                raise _err(
                    path,
                    "combine",
                    combine,
                    f"paired runs {combos.index(combo) + 1} and {i + 1} are the same: {combo}",
                )
    _check_policies(path, axes)
    spec = SweepSpec(
        path=path,
        name=str(data.get("name") or path.stem),
        description=str(data.get("description", "")),
        scenario_path=scenario_path,
        scenario=scenario,
        base_data=base_data,
        trace=trace,
        until_s=until_s,
        combine=combine,
        seeds=_seeds(path, data.get("seeds", _MISSING), scenario.simulation.seed),
        locality=locality,
        failures=bool(data.get("failures", True)),
        axes=axes,
        text=text,
    )
    for key, values in axes.items():
        if key == POLICY_AXIS or key.startswith(PARAMS_PREFIX):
            continue
        _check_scenario_path(path, key, base_data)
        for value in values:
            try:
                scenario_for_point(spec, {key: value})
            except ConfigError as err:
                raise _err(
                    path,
                    f"axes.{fmt_value(key)}",
                    value,
                    f"invalid in the base scenario {scenario_path.name}: {err.problems[0]}",
                ) from None
    if spec.n_runs > MAX_RUNS:
        raise _err(path, "axes", list(axes), f"gives {spec.n_runs:,} runs; at most {MAX_RUNS:,}")
    return spec


def _run_id(fingerprint: str, values: dict[str, Any], seed: int) -> str:
    blob = json.dumps({"base": fingerprint, "values": values, "seed": seed}, sort_keys=True)
    return "r-" + hashlib.sha256(blob.encode()).hexdigest()[:12]


def plan_runs(spec: SweepSpec, fingerprint: str) -> list[RunPoint]:
    """Every run of the sweep, in a stable order (axes in file order, then seeds).

    Args:
        spec: The sweep.
        fingerprint: Hash of the base inputs (scenario, trace, horizon...), part of each run id.

    Returns:
        The runs.
    """
    keys = list(spec.axes)
    if not keys:
        combos: list[tuple[Any, ...]] = [()]
    elif spec.combine == "paired":
        combos = list(zip(*(spec.axes[k] for k in keys), strict=True))
    else:
        combos = list(itertools.product(*(spec.axes[k] for k in keys)))
    runs: list[RunPoint] = []
    for combo in combos:
        values = dict(zip(keys, combo, strict=True))
        for seed in spec.seeds:
            runs.append(
                RunPoint(
                    run_id=_run_id(fingerprint, values, seed),
                    index=len(runs),
                    values=values,
                    seed=seed,
                )
            )
    return runs
