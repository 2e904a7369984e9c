"""Power layers: per-job GPU power caps. ``uncapped``, ``static-cap``.

``uncapped`` leaves every GPU at its default limit (the SKU's TDP, or the scenario's default
cap). ``static-cap`` gives every starting job the same cap, as a share of its GPU's TDP, the
"uniform cap" baseline of ``reference/cooptimizer.md`` §10.3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kiban.policies.base import EMPTY_MAP
from kiban.policies.registry import register_policy

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kiban._typing import IntArray
    from kiban.policies.base import PolicyContext
    from kiban.sim.state import ClusterView

__all__ = ["StaticCap", "Uncapped"]


@register_policy("power", "uncapped")
class Uncapped:
    """No caps beyond the default limit."""

    noop = True

    def reset(self, ctx: PolicyContext) -> None:
        """Nothing to prepare."""

    def set_caps(self, view: ClusterView, starting: Mapping[int, IntArray]) -> Mapping[int, float]:
        """Change nothing."""
        return EMPTY_MAP


@register_policy("power", "static-cap")
class StaticCap:
    """Every starting job gets ``cap_frac`` × the TDP of its GPUs (clipped to the SKU range)."""

    noop = False

    @dataclass(frozen=True)
    class Params:
        """Parameters.

        Attributes:
            cap_frac: Cap as a share of TDP, in (0, 1].
        """

        cap_frac: float = 0.8

        def __post_init__(self) -> None:
            if not 0.0 < self.cap_frac <= 1.0:
                msg = f"cap_frac = {self.cap_frac}: must lie in (0, 1]"
                raise ValueError(msg)

    def __init__(self, params: Params | None = None) -> None:
        self.params = params if params is not None else self.Params()
        self._tdp_w = np.zeros(0)
        self._min_w = np.zeros(0)

    def reset(self, ctx: PolicyContext) -> None:
        """Cache the SKU power ranges."""
        self._tdp_w = np.array([s.tdp_w for s in ctx.layout.skus])
        self._min_w = np.array([s.min_power_limit_w for s in ctx.layout.skus])

    def set_caps(self, view: ClusterView, starting: Mapping[int, IntArray]) -> Mapping[int, float]:
        """Caps for the starting jobs."""
        lay = view.layout
        out: dict[int, float] = {}
        for j, gpus in starting.items():
            sku = int(lay.node_sku_idx[lay.gpu_node[int(gpus[0])]])
            cap = self.params.cap_frac * self._tdp_w[sku]
            out[j] = float(np.clip(cap, self._min_w[sku], self._tdp_w[sku]))
        return out
