"""Cooling layers: the supply-air temperature. ``fixed-setpoint``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kiban.policies.registry import register_policy

if TYPE_CHECKING:
    from kiban.policies.base import PolicyContext
    from kiban.sim.state import ClusterView

__all__ = ["FixedSetpoint"]


@register_policy("cooling", "fixed-setpoint")
class FixedSetpoint:
    """Keep the scenario's supply temperature, or set ``supply_temp_c`` once at the first call."""

    @dataclass(frozen=True)
    class Params:
        """Parameters.

        Attributes:
            supply_temp_c: Set-point in °C; None keeps the scenario's.
        """

        supply_temp_c: float | None = None

    def __init__(self, params: Params | None = None) -> None:
        self.params = params if params is not None else self.Params()
        self.noop = self.params.supply_temp_c is None
        self._done = False

    def reset(self, ctx: PolicyContext) -> None:
        """Set again at the next call."""
        self._done = False

    def supply_temp_c(self, view: ClusterView) -> float | None:
        """The set-point once, then None."""
        if self._done or self.params.supply_temp_c is None:
            return None
        self._done = True
        return float(self.params.supply_temp_c)
