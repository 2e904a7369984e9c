"""Facility power around the IT load: cooling plant and power-chain losses, per event.

Between events the IT power and the supply temperature are constant, so the facility power is
piecewise constant too. The simulator records IT power, time and supply temperature at every
event and evaluates the plant **vectorized over the whole event log** after the run (or over any
slice of it during a run): that is the plant model "at each event" without a Python call per
event. Cooling does not feed back into scheduling for the baselines; a policy that needs
facility power online calls :meth:`FacilityModel.power_w` on the current values.

Two implementations:

* :class:`PlantFacility` uses :func:`kiban.physics.cooling.plant_power_w` with the outdoor
  climate of the month (or hour) of each event and :class:`kiban.physics.power_chain.PowerChain`
  losses: the full model.
* :class:`SimpleFacility` uses a fixed COP and loss fraction (tests, quick studies).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from kiban.physics.climate import HourlyClimate, MonthlyClimate
from kiban.physics.cooling import plant_conditions, plant_power_w, plant_total_w
from kiban.physics.power_chain import installed_ups_modules
from kiban.units import S_PER_DAY, S_PER_YEAR

if TYPE_CHECKING:
    from kiban._typing import ArrayLike, FloatArray
    from kiban.physics.cooling import CoolingPlant, PlantConditions
    from kiban.physics.power_chain import PowerChain

__all__ = ["FacilityModel", "FacilityPower", "PlantFacility", "PlantPricer", "SimpleFacility"]


@dataclass(frozen=True, slots=True)
class FacilityPower:
    """Facility power at a set of instants (all W, same shape).

    Attributes:
        cooling_w: Cooling plant electric power.
        loss_w: Power-chain losses (UPS, PDU, transformer).
        misc_w: Lighting, offices and other fixed loads.
        outdoor_temp_c: Outdoor dry bulb used (°C).
    """

    cooling_w: FloatArray
    loss_w: FloatArray
    misc_w: FloatArray
    outdoor_temp_c: FloatArray


class FacilityModel(Protocol):
    """Maps IT power, time and supply temperature to cooling, losses and other loads."""

    def power_w(
        self, it_power_w: ArrayLike, time_s: ArrayLike, supply_temp_c: ArrayLike
    ) -> FacilityPower:
        """Facility power parts at each instant (vectorized)."""
        ...


@dataclass(frozen=True, slots=True)
class SimpleFacility:
    """Constant-COP cooling and a proportional loss: cooling = IT/COP, loss = f·IT.

    Attributes:
        cop: Coefficient of performance of the whole cooling plant (> 0).
        loss_frac: Power-chain loss as a share of IT power.
        misc_w: Fixed other loads (W).
        outdoor_temp_c: Reported outdoor temperature (°C).
    """

    cop: float = 4.0
    loss_frac: float = 0.05
    misc_w: float = 0.0
    outdoor_temp_c: float = 15.0

    def power_w(
        self, it_power_w: ArrayLike, time_s: ArrayLike, supply_temp_c: ArrayLike
    ) -> FacilityPower:
        """See :class:`FacilityModel`; ignores time and supply temperature."""
        it = np.asarray(it_power_w, dtype=np.float64)
        return FacilityPower(
            cooling_w=it / self.cop,
            loss_w=it * self.loss_frac,
            misc_w=np.full(it.shape, self.misc_w),
            outdoor_temp_c=np.full(it.shape, self.outdoor_temp_c),
        )


@dataclass(frozen=True, slots=True)
class PlantFacility:
    """The physics plant model with outdoor climate by month (or hour) of the simulated time.

    A hall may mix cooling technologies; each has its own plant, which removes ``shares[k]`` of
    the IT heat (the technology's share of the hall's design power: exact for uniform load).

    Attributes:
        plants: Cooling plant design per cooling technology in the hall.
        shares: Share of the IT heat each plant removes (sums to 1).
        climate: Monthly normals or an hourly series (one year, wrapped around).
        chain: Power chain (losses), or None for no losses.
        start_time_of_year_s: Time of year (s after 1 January 00:00) at simulated time 0.
        misc_w: Fixed other loads (W).
        losses_in_cooled_space: If True, chain losses add to the heat the plants remove.
    """

    plants: tuple[CoolingPlant, ...]
    shares: tuple[float, ...]
    climate: MonthlyClimate | HourlyClimate
    chain: PowerChain | None = None
    start_time_of_year_s: float = 0.0
    misc_w: float = 0.0
    losses_in_cooled_space: bool = True

    def _climate_index(self, time_s: FloatArray) -> np.ndarray:
        year_s = np.mod(time_s + self.start_time_of_year_s, S_PER_YEAR)
        edges = np.cumsum(self.climate.duration_s)
        idx = np.searchsorted(edges, year_s, side="right")
        return np.minimum(idx, edges.shape[0] - 1)

    def power_w(
        self, it_power_w: ArrayLike, time_s: ArrayLike, supply_temp_c: ArrayLike
    ) -> FacilityPower:
        """See :class:`FacilityModel`.

        Cooling = Σ_k ``plant_power_w(share_k · (IT + losses), T_db, T_wb, plant_k, supply)`` with
        the outdoor conditions of the month/hour containing each instant (monthly normals carry
        their within-month spread); loss = ``chain.loss_w(IT)``.
        """
        it = np.asarray(it_power_w, dtype=np.float64)
        t = np.broadcast_to(np.asarray(time_s, dtype=np.float64), it.shape)
        idx = self._climate_index(t)
        c = self.climate
        loss = self.chain.loss_w(it) if self.chain is not None else np.zeros(it.shape)
        heat = it + loss if self.losses_in_cooled_space else it
        supply = np.broadcast_to(np.asarray(supply_temp_c, dtype=np.float64), it.shape)
        cooling = np.zeros(it.shape)
        for plant, share in zip(self.plants, self.shares, strict=True):
            cooling = (
                cooling
                + plant_power_w(
                    heat * share,
                    c.dry_bulb_c[idx],
                    c.wet_bulb_c[idx],
                    plant,
                    supply_air_temp_c=supply,
                    outdoor_db_std_k=c.dry_bulb_std_k[idx],
                    outdoor_wb_std_k=c.wet_bulb_std_k[idx],
                ).total_w
            )
        return FacilityPower(
            cooling_w=np.asarray(cooling, dtype=np.float64),
            loss_w=np.asarray(loss, dtype=np.float64),
            misc_w=np.full(it.shape, self.misc_w),
            outdoor_temp_c=np.asarray(c.dry_bulb_c[idx], dtype=np.float64),
        )

    def climate_period(self, time_s: float) -> int:
        """Index of the climate period (month or hour of the series) containing ``time_s``."""
        return int(self._climate_index(np.array([float(time_s)]))[0])

    def climate_period_span(self, time_s: float) -> tuple[int, float, float]:
        """:meth:`climate_period` at ``time_s`` and simulated times [from, to) that share it.

        The span is shrunk by 1 ms at both ends, so rounding in the time-of-year arithmetic
        can never put an instant inside it in another period: a caller may reuse the period
        for any instant in the span and ask again outside it.
        """
        t = float(time_s)
        year_s = float(np.mod(t + self.start_time_of_year_s, S_PER_YEAR))
        edges = np.cumsum(self.climate.duration_s)
        idx = int(self._climate_index(np.array([t]))[0])
        lo = float(edges[idx - 1]) if idx > 0 else 0.0
        hi = float(edges[idx]) if idx < edges.shape[0] - 1 else float(S_PER_YEAR)
        margin_s = 1e-3
        return idx, t - (year_s - lo) + margin_s, t + (hi - year_s) - margin_s

    def pricer(self, time_s: float, supply_temp_c: float) -> PlantPricer:
        """:meth:`power_w` at one instant's outdoor conditions and supply, for one IT power.

        The conditions hold for the whole climate period (:meth:`climate_period`) at that
        supply temperature, so a caller pricing one IT power at a time (the coupled twin's site
        limit at every facility step) builds one pricer per period and supply.
        """
        t = np.array([float(time_s)])
        idx = self._climate_index(t)
        c = self.climate
        supply = np.array([float(supply_temp_c)])
        conditions = tuple(
            plant_conditions(
                c.dry_bulb_c[idx],
                c.wet_bulb_c[idx],
                plant,
                supply_air_temp_c=supply,
                outdoor_db_std_k=c.dry_bulb_std_k[idx],
                outdoor_wb_std_k=c.wet_bulb_std_k[idx],
            )
            for plant in self.plants
        )
        return PlantPricer(self, conditions)


@dataclass(frozen=True, slots=True)
class PlantPricer:
    """:meth:`PlantFacility.power_w` of one IT power under fixed conditions (see ``pricer``).

    The same operations on the same values as :meth:`PlantFacility.power_w` of a one-element
    array, so the same numbers; the outdoor-dependent part (economizer shares, chiller curves)
    is computed once.

    Attributes:
        facility: The plant model.
        conditions: Each plant's :class:`~kiban.physics.cooling.PlantConditions`.
    """

    facility: PlantFacility
    conditions: tuple[PlantConditions, ...]

    def power_w(self, it_power_w: float) -> tuple[float, float, float]:
        """(cooling, loss, misc) W at IT power ``it_power_w`` W.

        On Python floats (:func:`~kiban.physics.cooling.plant_total_w`, :func:`_chain_loss_w`):
        the same operations in the same order as the array path, so the same bits.
        """
        f = self.facility
        it = float(it_power_w)
        loss = _chain_loss_w(f.chain, it) if f.chain is not None else 0.0
        heat = it + loss if f.losses_in_cooled_space else it
        cooling = 0.0
        for cond, share in zip(self.conditions, f.shares, strict=True):
            cooling = cooling + plant_total_w(heat * share, cond)
        return cooling, loss, float(f.misc_w)


def _chain_loss_w(chain: PowerChain, it_w: float) -> float:
    """:func:`~kiban.physics.power_chain.chain_loss_w` of one IT power, on Python floats.

    The same operations in the same order, so the same bits.
    """
    n_installed = installed_ups_modules(chain.n_ups_modules, chain.redundancy)
    pdu_loss = chain.pdu.loss_frac * it_w
    ups_out = it_w + pdu_loss
    per_module = ups_out / n_installed
    rated = float(chain.ups_rated_w)
    x = per_module / rated
    ups = chain.ups
    module_loss = rated * (
        ups.no_load_loss_frac + ups.proportional_loss_frac * x + ups.square_loss_frac * (x * x)
    )
    ups_loss = n_installed * module_loss
    tr = chain.transformer
    trafo_loss = tr.loss_frac * (ups_out + ups_loss) if tr is not None else 0.0 * it_w
    return pdu_loss + ups_loss + trafo_loss


def day_of_year_s(month: int, day: int = 1) -> float:
    """Seconds from 1 January 00:00 to the start of a date (non-leap year).

    Args:
        month: 1–12.
        day: 1–31.

    Returns:
        Seconds.
    """
    days = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)
    return (days[month - 1] + day - 1) * S_PER_DAY
