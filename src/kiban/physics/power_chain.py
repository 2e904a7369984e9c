"""Electrical losses between the utility meter and the IT load: transformer, UPS, PDU.

Power flows utility → transformer → UPS → PDU → IT. Each stage's loss is drawn from the facility
and appears as heat. This module gives the UPS loss curve (no-load + proportional + square-law),
how the redundancy mode spreads the load over the installed UPS modules, and the total chain
loss for an IT load.

Redundancy modes (Uptime tiers, physics.md §4.4). ``n_ups_modules`` is **N**, the number of
modules needed to carry the design load:

- ``"N"``: N modules installed; each carries load / N.
- ``"N+1"``: N + 1 modules installed, all sharing the load; each carries load / (N + 1).
- ``"2N"``: two independent sides of N modules each, both active; each module carries
  load / (2N). At any IT load within the design, each side runs at ≤ 50 %.

More installed modules at the same load means a lower load fraction per module, where the
no-load term dominates, and more modules paying it. So N+1 and 2N lose more than N.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from kiban._typing import ArrayLike, FloatArray
from kiban.catalog import PduClass, UpsClass
from kiban.errors import ConfigError

Redundancy = Literal["N", "N+1", "2N"]
REDUNDANCY_MODES: tuple[str, ...] = ("N", "N+1", "2N")


def ups_loss_w(load_w: ArrayLike, rated_w: ArrayLike, ups: UpsClass) -> FloatArray:
    """Loss of one UPS module at a given output load.

    loss = P_rated · (L0 + L1·x + L2·x²),  x = load / P_rated

    L0 (no-load: magnetics, control, fans), L1 (proportional: switching and conduction) and L2
    (square-law: I²R) are fractions of rated power from ``ups``.

    Args:
        load_w: Output power of the module (W), ≥ 0; any shape.
        rated_w: Rated output power of the module (W), > 0; broadcasts with ``load_w``.
        ups: Loss coefficients (``no_load_loss_frac``, ``proportional_loss_frac``,
            ``square_loss_frac``).

    Returns:
        Loss (W) in the broadcast shape. A module with zero load still loses P_rated·L0.

    Valid range: x in 0–1.25 (beyond rated power a real UPS moves to bypass or trips).

    Examples:
        >>> ups = UpsClass("dc", 0.03, 0.02, 0.01, "physics.md §4.3")
        >>> float(ups_loss_w(500e3, 1e6, ups))  # 1e6 * (0.03 + 0.01 + 0.0025)
        42500.0

    References:
        Schneider Electric / APC White Paper 108 ("Making Large UPS Systems More Efficient") and
        WP 113 (loss model form: no-load, proportional, square-law); physics.md §4.3. The default
        coefficients are assumptions (physics.md §10 item 4).
    """
    load = np.asarray(load_w, dtype=np.float64)
    rated = np.asarray(rated_w, dtype=np.float64)
    x = load / rated
    return np.asarray(
        rated
        * (ups.no_load_loss_frac + ups.proportional_loss_frac * x + ups.square_loss_frac * x**2),
        dtype=np.float64,
    )


def ups_efficiency_frac(load_w: ArrayLike, rated_w: ArrayLike, ups: UpsClass) -> FloatArray:
    """Efficiency of one UPS module, load / (load + loss); 0 at zero load.

    Args:
        load_w: Output power (W), ≥ 0.
        rated_w: Rated power (W), > 0.
        ups: Loss coefficients.

    Returns:
        Efficiency in [0, 1), broadcast shape.

    References:
        See :func:`ups_loss_w`.
    """
    load = np.asarray(load_w, dtype=np.float64)
    total = load + ups_loss_w(load, rated_w, ups)
    return np.asarray(
        np.divide(load, total, out=np.zeros_like(total), where=total > 0), dtype=np.float64
    )


def installed_ups_modules(n_ups_modules: int, redundancy: str) -> int:
    """Number of UPS modules installed for N modules of capacity under a redundancy mode.

    Args:
        n_ups_modules: N, modules needed to carry the design load (≥ 1).
        redundancy: ``"N"``, ``"N+1"`` or ``"2N"``.

    Returns:
        N, N + 1 or 2N.

    Raises:
        ConfigError: unknown redundancy mode or N < 1.
    """
    if n_ups_modules < 1:
        msg = f"power.n_ups_modules = {n_ups_modules}: must be ≥ 1"
        raise ConfigError(msg)
    if redundancy == "N":
        return n_ups_modules
    if redundancy == "N+1":
        return n_ups_modules + 1
    if redundancy == "2N":
        return 2 * n_ups_modules
    msg = f"power.redundancy = {redundancy!r}: allowed {', '.join(REDUNDANCY_MODES)}"
    raise ConfigError(msg)


def chain_loss_w(
    it_power_w: ArrayLike,
    ups: UpsClass,
    redundancy: str,
    *,
    n_ups_modules: int,
    ups_rated_w: float,
    pdu: PduClass,
    transformer: PduClass | None = None,
) -> FloatArray:
    """Total electrical loss between the utility and the IT load.

    pdu_loss  = f_pdu · P_IT
    ups_out   = P_IT + pdu_loss,     x = ups_out / (n_installed · P_rated)
    ups_loss  = n_installed · P_rated · (L0 + L1·x + L2·x²)
    trafo     = f_tr · (ups_out + ups_loss)
    loss      = pdu_loss + ups_loss + trafo

    ``n_installed`` comes from :func:`installed_ups_modules`. PDU and transformer losses are taken
    as proportional to their throughput at their full-load loss fraction (``loss_frac``). That
    simplification ignores transformer no-load (core) loss, which is small next to the UPS no-load
    term.

    Args:
        it_power_w: IT power at the PDU outputs (W), ≥ 0; any shape (time steps, racks, ...).
        ups: UPS loss coefficients.
        redundancy: ``"N"``, ``"N+1"`` or ``"2N"``.
        n_ups_modules: N, the number of modules needed for the design load.
        ups_rated_w: Rated output of one module (W).
        pdu: PDU class; ``loss_frac`` is its loss as a fraction of throughput (0.5–3 %).
        transformer: Optional MV/LV transformer class, same form (IEEE 3001.5: 0.4–1.9 % at
            full load).

    Returns:
        Loss (W), broadcast shape of ``it_power_w``.

    Raises:
        ConfigError: unknown redundancy or N < 1.

    Valid range: P_IT up to N · P_rated (design). Above it, x > 1 per module under mode N.

    References:
        UPS curve: Schneider Electric WP108/WP113; LBNL 2024 U.S. Data Center Energy Usage
        Report, Table 4.3 (UPS efficiency by space type). Transformer, cables and switchgear:
        IEEE Std 3001.5-2013, Table 1. physics.md §4.3–4.4.
    """
    it = np.asarray(it_power_w, dtype=np.float64)
    n_installed = installed_ups_modules(n_ups_modules, redundancy)
    pdu_loss = pdu.loss_frac * it
    ups_out = it + pdu_loss
    per_module = ups_out / n_installed
    ups_loss = n_installed * ups_loss_w(per_module, ups_rated_w, ups)
    trafo_loss = (
        transformer.loss_frac * (ups_out + ups_loss) if transformer is not None else 0.0 * it
    )
    return np.asarray(pdu_loss + ups_loss + trafo_loss, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class PowerChain:
    """Parameters of a facility's power chain, bundled for :func:`chain_loss_w`.

    Attributes:
        ups: UPS loss coefficients.
        redundancy: ``"N"``, ``"N+1"`` or ``"2N"``.
        n_ups_modules: N, modules needed for the design load.
        ups_rated_w: Rated output of one UPS module (W).
        pdu: PDU class.
        transformer: Optional transformer class.

    Raises:
        ConfigError: on construction, for an unknown redundancy mode, N < 1, a non-positive
            rating or a negative loss coefficient.
    """

    ups: UpsClass
    redundancy: str
    n_ups_modules: int
    ups_rated_w: float
    pdu: PduClass
    transformer: PduClass | None = None

    def __post_init__(self) -> None:
        installed_ups_modules(self.n_ups_modules, self.redundancy)
        if not self.ups_rated_w > 0:
            msg = f"power.ups_rated_w = {self.ups_rated_w}: must be > 0"
            raise ConfigError(msg)
        coeffs = {
            "no_load_loss_frac": self.ups.no_load_loss_frac,
            "proportional_loss_frac": self.ups.proportional_loss_frac,
            "square_loss_frac": self.ups.square_loss_frac,
        }
        for name, value in coeffs.items():
            if not 0.0 <= value < 1.0:
                msg = f"ups {self.ups.name}.{name} = {value}: allowed 0 ≤ value < 1"
                raise ConfigError(msg)
        for label, cls in (("pdu", self.pdu), ("transformer", self.transformer)):
            if cls is not None and not 0.0 <= cls.loss_frac < 1.0:
                msg = f"{label} {cls.name}.loss_frac = {cls.loss_frac}: allowed 0 ≤ value < 1"
                raise ConfigError(msg)

    @property
    def design_power_w(self) -> float:
        """IT power the chain is built for: N · P_rated (W)."""
        return self.n_ups_modules * self.ups_rated_w

    def loss_w(self, it_power_w: ArrayLike) -> FloatArray:
        """Total chain loss (W) at the given IT power; see :func:`chain_loss_w`."""
        return chain_loss_w(
            it_power_w,
            self.ups,
            self.redundancy,
            n_ups_modules=self.n_ups_modules,
            ups_rated_w=self.ups_rated_w,
            pdu=self.pdu,
            transformer=self.transformer,
        )


__all__ = [
    "REDUNDANCY_MODES",
    "PowerChain",
    "Redundancy",
    "chain_loss_w",
    "installed_ups_modules",
    "ups_efficiency_frac",
    "ups_loss_w",
]
