"""The five baseline policies (``kiban simulate --policy``), each a :class:`LayeredPolicy`.

| name | scheduling | placement | what it stands for |
|---|---|---|---|
| ``fifo-static`` | ``fifo`` (blocking) | ``first-fit`` | static allocation most sites run |
| ``easy-backfill`` | ``easy-backfill`` | ``first-fit`` | Slurm-like backfill |
| ``tiresias-las`` | ``tiresias-las`` | ``first-fit`` | 2D-LAS with preemption (Tiresias) |
| ``best-fit`` | ``fifo`` (blocking) | ``best-fit`` | FIFO with packing placement |
| ``random-fit`` | ``fifo`` (blocking) | ``random-fit`` | FIFO with random placement |
| ``fgd`` | ``fifo`` (blocking) | ``fgd`` | FIFO with fragmentation gradient descent |
| ``xint`` | ``fifo`` (blocking) | ``xint`` | FIFO with min-peak-inlet placement (Tang et al.) |
| ``minhr`` | ``fifo`` (blocking) | ``minhr`` | FIFO with min-heat-recirculation placement |

All run uncapped at the scenario's default power cap with the scenario's fixed supply
temperature: they differ only in order, preemption and placement. ``xint`` and ``minhr`` make
the thermal-aware placement layers (:mod:`kiban.policies.thermal_placement`) runnable by name,
``kiban simulate SCENARIO --policy xint,minhr``, like the other placements; they are not in
:data:`BASELINES` (the reports' baseline set).
"""

from __future__ import annotations

from kiban.policies.layered import LayeredPolicy
from kiban.policies.placement import BestFit, FirstFit, FragmentationGradientDescent, RandomFit
from kiban.policies.registry import register_policy
from kiban.policies.scheduling import EasyBackfill, Fifo, TiresiasLas
from kiban.policies.thermal_placement import MinHR, XInt

__all__ = [
    "BASELINES",
    "BestFitPolicy",
    "EasyBackfillPolicy",
    "FgdPolicy",
    "FifoStatic",
    "MinHRPolicy",
    "RandomFitPolicy",
    "TiresiasLasPolicy",
    "XIntPolicy",
]

BASELINES: tuple[str, ...] = (
    "fifo-static",
    "easy-backfill",
    "tiresias-las",
    "best-fit",
    "random-fit",
)
"""Names of the baseline policies, in the order reports show them."""


@register_policy("policy", "fifo-static")
class FifoStatic(LayeredPolicy):
    """FIFO with first fit and fixed allocations."""

    def __init__(self) -> None:
        super().__init__("fifo-static", scheduling=Fifo(), placement=FirstFit())


@register_policy("policy", "easy-backfill")
class EasyBackfillPolicy(LayeredPolicy):
    """EASY backfilling with first-fit placement."""

    Params = EasyBackfill.Params

    def __init__(self, params: EasyBackfill.Params | None = None) -> None:
        super().__init__("easy-backfill", scheduling=EasyBackfill(params), placement=FirstFit())


@register_policy("policy", "tiresias-las")
class TiresiasLasPolicy(LayeredPolicy):
    """Tiresias 2D-LAS with preemption and promotion, first-fit placement."""

    Params = TiresiasLas.Params

    def __init__(self, params: TiresiasLas.Params | None = None) -> None:
        super().__init__("tiresias-las", scheduling=TiresiasLas(params), placement=FirstFit())


@register_policy("policy", "best-fit")
class BestFitPolicy(LayeredPolicy):
    """FIFO with best-fit (packing) placement."""

    def __init__(self) -> None:
        super().__init__("best-fit", scheduling=Fifo(), placement=BestFit())


@register_policy("policy", "random-fit")
class RandomFitPolicy(LayeredPolicy):
    """FIFO with uniformly random placement."""

    def __init__(self) -> None:
        super().__init__("random-fit", scheduling=Fifo(), placement=RandomFit())


@register_policy("policy", "fgd")
class FgdPolicy(LayeredPolicy):
    """FIFO with fragmentation-gradient-descent placement (Weng et al., ATC 2023)."""

    def __init__(self) -> None:
        super().__init__("fgd", scheduling=Fifo(), placement=FragmentationGradientDescent())


@register_policy("policy", "xint")
class XIntPolicy(LayeredPolicy):
    """FIFO with XInt placement: the rack that minimizes the peak inlet (Tang et al. 2008)."""

    Params = XInt.Params

    def __init__(self, params: XInt.Params | None = None) -> None:
        super().__init__("xint", scheduling=Fifo(), placement=XInt(params))


@register_policy("policy", "minhr")
class MinHRPolicy(LayeredPolicy):
    """FIFO with MinHR placement: power spread by heat recirculation (Moore et al. 2005)."""

    Params = MinHR.Params

    def __init__(self, params: MinHR.Params | None = None) -> None:
        super().__init__("minhr", scheduling=Fifo(), placement=MinHR(params))
