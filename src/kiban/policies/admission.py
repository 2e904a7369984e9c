"""Admission layers (which waiting jobs the scheduler may consider): accept-all, queue-cap."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kiban.policies.registry import register_policy

if TYPE_CHECKING:
    from kiban._typing import IntArray
    from kiban.policies.base import PolicyContext
    from kiban.sim.state import ClusterView

__all__ = ["AcceptAll", "QueueCap"]


@register_policy("admission", "accept-all")
class AcceptAll:
    """Every waiting job may be scheduled."""

    noop = True

    def reset(self, ctx: PolicyContext) -> None:
        """Nothing to prepare."""

    def admit(self, view: ClusterView, pending: IntArray) -> IntArray:
        """Return ``pending`` unchanged."""
        return pending


@register_policy("admission", "queue-cap")
class QueueCap:
    """Only the first ``max_jobs`` waiting jobs (by arrival) are considered."""

    noop = False

    @dataclass(frozen=True)
    class Params:
        """Parameters.

        Attributes:
            max_jobs: How many waiting jobs the scheduler looks at (≥ 1).
        """

        max_jobs: int = 1000

        def __post_init__(self) -> None:
            if self.max_jobs < 1:
                msg = f"max_jobs = {self.max_jobs}: must be ≥ 1"
                raise ValueError(msg)

    def __init__(self, params: Params | None = None) -> None:
        self.params = params if params is not None else self.Params()

    def reset(self, ctx: PolicyContext) -> None:
        """Nothing to prepare."""

    def admit(self, view: ClusterView, pending: IntArray) -> IntArray:
        """Return the first ``max_jobs`` of ``pending``."""
        return pending[: self.params.max_jobs]
