"""One registry for every policy: ``@register_policy(kind, name)`` and lookup by name.

Kinds are the layers of :mod:`kiban.policies.base` (``admission``, ``scheduling``,
``placement``, ``power``, ``cooling``, ``data``) plus ``policy`` for complete policies (what
``kiban simulate --policy NAME`` runs: the five baselines and, later, the co-optimizers).
Names are lower-case and hyphenated; lookups treat ``_`` and ``-`` alike, so the spec's
``fixed_setpoint`` finds ``fixed-setpoint``.

A registered class may define a nested frozen dataclass ``Params``; :func:`make_policy` checks
user parameters against its fields and raises :class:`kiban.errors.PolicyError` naming the
unknown or ill-typed key. Third-party packages register through the ``kiban.policies``
entry-point group: each entry point names a module, which is imported (and so registers its
classes) the first time a name is not found among the built-ins.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import logging
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any, TypeVar

from kiban.errors import PolicyError

__all__ = [
    "ENTRY_POINT_GROUP",
    "KINDS",
    "available_policies",
    "make_policy",
    "policy_class",
    "register_policy",
]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "kiban.policies"
"""Entry-point group through which third-party packages register policies."""
KINDS: tuple[str, ...] = (
    "admission",
    "scheduling",
    "placement",
    "power",
    "cooling",
    "data",
    "policy",
)
"""Registry kinds: the policy layers plus ``policy`` (complete, runnable policies)."""

_REGISTRY: dict[str, dict[str, type]] = {kind: {} for kind in KINDS}
_BUILTINS_LOADED = False
_ENTRY_POINTS_LOADED = False
_BUILTIN_MODULES = (
    "kiban.policies.admission",
    "kiban.policies.scheduling",
    "kiban.policies.placement",
    "kiban.policies.power",
    "kiban.policies.cooling",
    "kiban.policies.data",
    "kiban.policies.baselines",
    "kiban.policies.thermal_placement",
    "kiban.policies.power_budget",
    "kiban.policies.cooling_control",
    "kiban.policies.data_silod",
    "kiban.policies.joint",
    "kiban.policies.gittins",
    "kiban.policies.elastic",
)

T = TypeVar("T", bound=type)


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def register_policy(kind: str, name: str) -> Callable[[T], T]:
    """Class decorator that registers a policy under ``(kind, name)``.

    Args:
        kind: One of :data:`KINDS`.
        name: Lower-case hyphenated name, unique within the kind.

    Returns:
        The decorator; it returns the class unchanged (with ``policy_name`` set).

    Raises:
        PolicyError: for an unknown kind or a name already taken by another class.
    """
    if kind not in _REGISTRY:
        msg = f"register_policy: kind {kind!r} is unknown; allowed: {', '.join(KINDS)}"
        raise PolicyError(msg)
    key = _norm(name)

    def decorate(cls: T) -> T:
        existing = _REGISTRY[kind].get(key)
        if existing is not None and existing is not cls:
            msg = (
                f"register_policy: {kind} policy {key!r} is already registered by "
                f"{existing.__module__}.{existing.__qualname__}"
            )
            raise PolicyError(msg)
        _REGISTRY[kind][key] = cls
        cls.policy_name = key  # type: ignore[attr-defined]
        return cls

    return decorate


def _load_builtins() -> None:
    global _BUILTINS_LOADED  # noqa: PLW0603 - one-time lazy import of the built-in modules
    if not _BUILTINS_LOADED:
        _BUILTINS_LOADED = True
        for module in _BUILTIN_MODULES:
            importlib.import_module(module)


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED  # noqa: PLW0603 - entry points are scanned once per process
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as err:
            logger.warning("policy plug-in %s (%s) failed to load: %s", ep.name, ep.value, err)


def available_policies(kind: str = "policy") -> list[str]:
    """Registered names of one kind, sorted (built-ins and loaded plug-ins).

    Args:
        kind: One of :data:`KINDS`.

    Returns:
        Sorted names.
    """
    _load_builtins()
    _load_entry_points()
    if kind not in _REGISTRY:
        msg = f"policy kind {kind!r} is unknown; allowed: {', '.join(KINDS)}"
        raise PolicyError(msg)
    return sorted(_REGISTRY[kind])


def policy_class(kind: str, name: str) -> type:
    """The class registered under ``(kind, name)``.

    Raises:
        PolicyError: if no such policy is registered (the message lists the known names and a
            close match).
    """
    _load_builtins()
    if kind not in _REGISTRY:
        msg = f"policy kind {kind!r} is unknown; allowed: {', '.join(KINDS)}"
        raise PolicyError(msg)
    key = _norm(name)
    if key not in _REGISTRY[kind]:
        _load_entry_points()
    if key not in _REGISTRY[kind]:
        known = sorted(_REGISTRY[kind])
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        msg = f"{kind} policy {name!r} is not registered{hint}; known: {', '.join(known)}"
        raise PolicyError(msg)
    return _REGISTRY[kind][key]


def make_policy(kind: str, name: str, params: Mapping[str, Any] | None = None) -> Any:
    """Instantiate a registered policy with validated parameters.

    The class's nested ``Params`` dataclass (if any) is built from ``params`` and passed as the
    only constructor argument; classes without ``Params`` take no parameters.

    Args:
        kind: One of :data:`KINDS`.
        name: Registered name.
        params: Parameter values (from ``[policies.<kind>].params`` or the CLI).

    Returns:
        The policy object.

    Raises:
        PolicyError: for an unknown name, an unknown parameter, or a value of the wrong type.
    """
    cls = policy_class(kind, name)
    params = dict(params or {})
    param_cls = getattr(cls, "Params", None)
    if param_cls is None or not dataclasses.is_dataclass(param_cls):
        if params:
            msg = f"{kind} policy {name!r} takes no parameters; got {sorted(params)}"
            raise PolicyError(msg)
        return cls()
    fields = {f.name: f for f in dataclasses.fields(param_cls)}
    unknown = sorted(set(params) - set(fields))
    if unknown:
        msg = (
            f"{kind} policy {name!r}: unknown parameter(s) {unknown}; "
            f"allowed: {', '.join(sorted(fields)) or 'none'}"
        )
        raise PolicyError(msg)
    try:
        built = param_cls(**params)  # type: ignore[operator]
    except (TypeError, ValueError) as err:
        msg = f"{kind} policy {name!r}: bad parameters {params}: {err}"
        raise PolicyError(msg) from err
    return cls(built)
