"""Data layers: cache bytes and shared-bandwidth weights per job. ``equal-share``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiban.policies.base import EMPTY_MAP
from kiban.policies.registry import register_policy

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kiban._typing import IntArray
    from kiban.policies.base import PolicyContext
    from kiban.sim.state import ClusterView

__all__ = ["EqualShare"]


@register_policy("data", "equal-share")
class EqualShare:
    """Each job uses its nodes' cache in proportion to its GPUs and gets an equal max-min share."""

    noop = True

    def reset(self, ctx: PolicyContext) -> None:
        """Nothing to prepare."""

    def shares(
        self, view: ClusterView, starting: Mapping[int, IntArray]
    ) -> tuple[Mapping[int, float], Mapping[int, float]]:
        """Change nothing."""
        return EMPTY_MAP, EMPTY_MAP
