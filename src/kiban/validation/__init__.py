"""Every physics model against its published reference points, as checks.

One module per model (``gpu_power``, ``server_power``, ``thermal``, ``recirculation``,
``cooling``, ``pue``, ``power_chain``, ``reliability``, ``cost``, ``coupled``, and the coupled
trade-offs ``tradeoffs``); each
``section_*`` function runs the library on the inputs of a published measurement or worked
example and returns a
:class:`~kiban.validation.checks.Section` of :class:`~kiban.validation.checks.Row` checks: the
published value and its source, kiban's value, the error, the tolerance, and whether it passes.

``tests/physics/`` assert on these checks and take their scenario inputs (PUE designs, MLPerf
system mapping, Tang's room, Moore's table, Llama 3 fleet) from here;
``scripts/validation_report.py`` renders the same checks into ``docs/validation.md``. So a
physics check is written once. The GPU and server sections read public data (Zeus traces, MLPerf
Power) through :func:`kiban.shared_data.data_path`.
"""

from __future__ import annotations

from collections.abc import Callable

from kiban.validation.checks import Section
from kiban.validation.cooling import section_cop
from kiban.validation.cost import section_cost
from kiban.validation.coupled import section_coupled
from kiban.validation.gpu_power import section_gpu_power
from kiban.validation.packing import section_packing
from kiban.validation.power_chain import section_power_chain
from kiban.validation.pue import section_pue
from kiban.validation.recirculation import section_recirculation
from kiban.validation.reliability import section_reliability
from kiban.validation.server_power import section_server_power
from kiban.validation.storage import section_storage
from kiban.validation.thermal import section_thermal
from kiban.validation.tradeoffs import section_tradeoffs

SECTIONS: tuple[Callable[[], Section], ...] = (
    section_gpu_power,
    section_server_power,
    section_thermal,
    section_recirculation,
    section_cop,
    section_pue,
    section_power_chain,
    section_reliability,
    section_cost,
    section_coupled,
    section_tradeoffs,
    section_storage,
    section_packing,
)
"""The models in the order docs/validation.md lists them."""

__all__ = ["SECTIONS", "Section"]
