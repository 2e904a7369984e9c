"""Electricity cost (JPY) and carbon: energy × tariff, the 30-minute demand charge, grid CO2.

    cost_energy = E_kWh · (energy rate + fuel-cost adjustment + renewable surcharge)
    cost_demand = Σ_months contract_kW · monthly demand charge,
                  contract_kW = max 30-minute average demand over the trailing 12 months
    CO2         = E_kWh · grid factor

Japanese defaults (physics.md §7.1–§7.2): 高圧 (high voltage) all-in 22 JPY/kWh and 特別高圧
(extra-high voltage) 18 JPY/kWh, split into the FY2026 renewable surcharge (再エネ賦課金) 4.18,
TEPCO EP's fuel-cost adjustment (燃料費調整額, 高圧, May 2026) 2.67 and the energy rate for the
rest; grid factor 0.45 kg-CO2/kWh for the Tokyo area. The all-in averages (revenue / kWh)
already include basic (demand) charges, so the presets carry no separate demand charge; set
``monthly_demand_charge_jpy_per_kw`` for a contract with an explicit one (and lower the energy
rate accordingly).

Tariff values are user-facing (JPY/kWh, JPY/kW per month); functions take SI (J, W) and convert
with ``kiban.units``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kiban.errors import ConfigError
from kiban.units import J_PER_KWH, S_PER_MIN, W_PER_KW

if TYPE_CHECKING:
    from kiban._typing import ArrayLike, FloatArray

__all__ = [
    "CAPACITY_CONTRIBUTION_TOKYO_FY2026_JPY_PER_KW",
    "DEMAND_WINDOW_S",
    "GRID_CO2_TOKYO_KG_PER_KWH",
    "TARIFF_EXTRA_HIGH_VOLTAGE",
    "TARIFF_HIGH_VOLTAGE",
    "Tariff",
    "co2_kg",
    "demand_charge_jpy",
    "electricity_cost_jpy",
    "energy_cost_jpy",
    "peak_30min_w",
    "ratcheted_demand_w",
]

DEMAND_WINDOW_S = 30.0 * S_PER_MIN
"""Japanese demand meters average power over fixed 30-minute periods (デマンド時限)."""
RATCHET_MONTHS = 12
"""高圧 contract demand = the highest 30-minute demand of the current and previous 11 months."""

HIGH_VOLTAGE_ALL_IN_JPY_PER_KWH = 22.0
"""高圧 average unit price, all-in (physics.md §7.1 default; 新電力ネット via EIC, May 2025 22.6,
May 2026 ≈ 21.7) [S, weak]."""
EXTRA_HIGH_VOLTAGE_ALL_IN_JPY_PER_KWH = 18.0
"""特別高圧 average unit price, all-in (physics.md §7.1 default; May 2024 18.0, 2025 17.7)
[S, weak]."""
RENEWABLE_SURCHARGE_FY2026_JPY_PER_KWH = 4.18
"""再エネ賦課金 FY2026 (from May 2026), METI notice as quoted (physics.md §7.1) [S]."""
FUEL_ADJUSTMENT_TEPCO_MAY2026_JPY_PER_KWH = 2.67
"""燃料費調整額, TEPCO EP 高圧, May 2026 (EIC; physics.md §7.1) [S, weak]."""
GRID_CO2_TOKYO_KG_PER_KWH = 0.45
"""Tokyo-area grid emission factor default (range 0.38–0.50; physics.md §7.2)."""
CAPACITY_CONTRIBUTION_TOKYO_FY2026_JPY_PER_KW = 14_812.0 / RATCHET_MONTHS
"""容量拠出金, Tokyo area FY2026: 14,812 JPY/kW-year (EIC; physics.md §7.1) [S, weak], per month.
A sourced order of magnitude for an explicit demand charge; not in the presets."""


@dataclass(frozen=True, slots=True)
class Tariff:
    """An electricity contract: per-kWh parts, a monthly demand charge and the grid CO2 factor.

    The default instance is the 高圧 (high-voltage) preset; ``TARIFF_EXTRA_HIGH_VOLTAGE`` is
    the 特別高圧 one. All values must be ≥ 0 (checked on construction).
    """

    name: str = "jp-high-voltage"
    energy_rate_jpy_per_kwh: float = (
        HIGH_VOLTAGE_ALL_IN_JPY_PER_KWH
        - FUEL_ADJUSTMENT_TEPCO_MAY2026_JPY_PER_KWH
        - RENEWABLE_SURCHARGE_FY2026_JPY_PER_KWH
    )
    fuel_adjustment_jpy_per_kwh: float = FUEL_ADJUSTMENT_TEPCO_MAY2026_JPY_PER_KWH
    renewable_surcharge_jpy_per_kwh: float = RENEWABLE_SURCHARGE_FY2026_JPY_PER_KWH
    monthly_demand_charge_jpy_per_kw: float = 0.0
    co2_kg_per_kwh: float = GRID_CO2_TOKYO_KG_PER_KWH
    source: str = (
        "physics.md §7.1-7.2: 高圧 all-in 22 JPY/kWh (新電力ネット via EIC), 再エネ賦課金 FY2026 "
        "4.18 (METI), 燃料費調整額 TEPCO EP May 2026 2.67 (EIC), grid 0.45 kg-CO2/kWh"
    )

    def __post_init__(self) -> None:
        for field in (
            "energy_rate_jpy_per_kwh",
            "renewable_surcharge_jpy_per_kwh",
            "monthly_demand_charge_jpy_per_kw",
            "co2_kg_per_kwh",
        ):
            value = getattr(self, field)
            if not np.isfinite(value) or value < 0.0:
                msg = f"tariff {self.name!r}: {field} = {value}: must be a finite number ≥ 0"
                raise ConfigError(msg)
        if not np.isfinite(self.fuel_adjustment_jpy_per_kwh):
            msg = (
                f"tariff {self.name!r}: fuel_adjustment_jpy_per_kwh = "
                f"{self.fuel_adjustment_jpy_per_kwh}: must be finite (it may be negative)"
            )
            raise ConfigError(msg)

    @property
    def all_in_jpy_per_kwh(self) -> float:
        """Energy rate + fuel-cost adjustment + renewable surcharge, in JPY/kWh."""
        return (
            self.energy_rate_jpy_per_kwh
            + self.fuel_adjustment_jpy_per_kwh
            + self.renewable_surcharge_jpy_per_kwh
        )


TARIFF_HIGH_VOLTAGE = Tariff()
"""高圧 preset: 15.15 + 2.67 + 4.18 = 22 JPY/kWh, no separate demand charge, 0.45 kg/kWh."""
TARIFF_EXTRA_HIGH_VOLTAGE = Tariff(
    name="jp-extra-high-voltage",
    energy_rate_jpy_per_kwh=(
        EXTRA_HIGH_VOLTAGE_ALL_IN_JPY_PER_KWH
        - FUEL_ADJUSTMENT_TEPCO_MAY2026_JPY_PER_KWH
        - RENEWABLE_SURCHARGE_FY2026_JPY_PER_KWH
    ),
    source=(
        "physics.md §7.1-7.2: 特別高圧 all-in 18 JPY/kWh (新電力ネット via EIC), 再エネ賦課金 "
        "FY2026 4.18 (METI), 燃料費調整額 TEPCO EP May 2026 2.67 (EIC; 高圧 value), 0.45 kg/kWh"
    ),
)
"""特別高圧 preset: 11.15 + 2.67 + 4.18 = 18 JPY/kWh."""


def energy_cost_jpy(energy_j: ArrayLike, tariff: Tariff = TARIFF_HIGH_VOLTAGE) -> FloatArray:
    """Energy charge: E_kWh · (energy rate + fuel adjustment + renewable surcharge).

    Args:
        energy_j: facility energy in J (any shape).
        tariff: the contract.

    Returns:
        Cost in JPY, shape of ``energy_j``.

    References:
        physics.md §7.1 (cost model and Japanese defaults).
    """
    e_kwh = np.asarray(energy_j, dtype=np.float64) / J_PER_KWH
    return e_kwh * tariff.all_in_jpy_per_kwh


def peak_30min_w(
    time_s: ArrayLike,
    power_w: ArrayLike,
    *,
    end_time_s: float | None = None,
    window_s: float = DEMAND_WINDOW_S,
) -> float:
    """Highest 30-minute average power of a piecewise-constant power series.

    ``power_w[i]`` holds on [time_s[i], time_s[i+1]) and the last value until ``end_time_s``.
    Windows are fixed periods [k·W, (k+1)·W) aligned to t = 0, as on a demand meter. A window
    only partly covered by the series is averaged over the covered part. Vectorized: the
    cumulative energy is piecewise linear, so it is interpolated at the window edges.

    Args:
        time_s: sample times in s, non-decreasing, shape (n,).
        power_w: power on each interval in W, shape (n,).
        end_time_s: end of the last interval (default ``time_s[-1]``, i.e. the last sample has
            no duration).
        window_s: demand window in s (1800).

    Returns:
        Peak window-average power in W (0 for an empty series).

    Raises:
        ConfigError: if shapes differ, times decrease, or end_time_s is before the last time.

    References:
        physics.md §7.1 (30-minute demand, 1-year ratchet).
    """
    t = np.asarray(time_s, dtype=np.float64).reshape(-1)
    p = np.asarray(power_w, dtype=np.float64).reshape(-1)
    if t.shape != p.shape:
        msg = f"peak_30min_w: time_s has {t.size} samples but power_w has {p.size}: must match"
        raise ConfigError(msg)
    if t.size == 0:
        return 0.0
    if np.any(np.diff(t) < 0.0):
        msg = "peak_30min_w: time_s must be non-decreasing"
        raise ConfigError(msg)
    t_end = float(t[-1]) if end_time_s is None else float(end_time_s)
    if t_end < t[-1]:
        msg = f"peak_30min_w: end_time_s = {t_end} is before the last sample at {t[-1]}"
        raise ConfigError(msg)
    breaks = np.append(t, t_end)
    energy = np.concatenate(([0.0], np.cumsum(p * np.diff(breaks))))
    if t_end <= t[0]:
        return 0.0
    first = np.floor(t[0] / window_s) * window_s
    n_win = max(int(np.ceil((t_end - first) / window_s)), 1)
    edges = first + window_s * np.arange(n_win + 1)
    e_edges = np.interp(edges, breaks, energy)
    covered_s = np.minimum(edges[1:], t_end) - np.maximum(edges[:-1], t[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_w = np.where(covered_s > 0.0, np.diff(e_edges) / covered_s, 0.0)
    return float(mean_w.max())


def ratcheted_demand_w(monthly_peak_30min_w: ArrayLike, months: int = RATCHET_MONTHS) -> FloatArray:
    """Contract demand per month: the highest 30-minute peak of this and the previous months.

    Args:
        monthly_peak_30min_w: each month's peak 30-minute demand in W, shape (n_months,).
        months: ratchet length (12 for 高圧 contracts under 500 kW).

    Returns:
        Contract demand per month in W, shape (n_months,).

    References:
        physics.md §7.1 ("30-min demand, 1-yr ratchet").
    """
    peaks = np.asarray(monthly_peak_30min_w, dtype=np.float64).reshape(-1)
    if peaks.size == 0:
        return peaks.copy()
    padded = np.concatenate((np.full(months - 1, -np.inf), peaks))
    windows = np.lib.stride_tricks.sliding_window_view(padded, months)
    return windows.max(axis=1)


def demand_charge_jpy(
    peak_30min_w: ArrayLike, tariff: Tariff = TARIFF_HIGH_VOLTAGE, n_months: float = 1.0
) -> FloatArray:
    """Demand (basic) charge: contract kW · monthly charge · months.

    Args:
        peak_30min_w: contract demand in W (the 30-minute peak, or ``ratcheted_demand_w``).
        tariff: the contract (``monthly_demand_charge_jpy_per_kw``).
        n_months: months billed at this demand.

    Returns:
        Charge in JPY, shape of ``peak_30min_w``.

    References:
        physics.md §7.1.
    """
    peak_kw = np.maximum(np.asarray(peak_30min_w, dtype=np.float64), 0.0) / W_PER_KW
    return peak_kw * tariff.monthly_demand_charge_jpy_per_kw * n_months


def electricity_cost_jpy(
    energy_j: ArrayLike,
    peak_30min_w: ArrayLike,
    tariff: Tariff = TARIFF_HIGH_VOLTAGE,
    n_months: float = 1.0,
) -> FloatArray:
    """Energy charge plus demand charge, in JPY.

    Args:
        energy_j: facility energy in J over the billing period.
        peak_30min_w: contract demand in W.
        tariff: the contract.
        n_months: months in the billing period.

    Returns:
        Cost in JPY.

    References:
        physics.md §7.1 (Cost = Σ E·(rate + fuel adj. + surcharge) + demand charge × max kW).
    """
    return energy_cost_jpy(energy_j, tariff) + demand_charge_jpy(peak_30min_w, tariff, n_months)


def co2_kg(energy_j: ArrayLike, co2_kg_per_kwh: float = GRID_CO2_TOKYO_KG_PER_KWH) -> FloatArray:
    """CO2 emitted by the grid for this energy: E_kWh · factor.

    Args:
        energy_j: energy in J.
        co2_kg_per_kwh: grid emission factor (Tokyo default 0.45; ``Tariff.co2_kg_per_kwh``).

    Returns:
        CO2 in kg.

    References:
        physics.md §7.2 (MOE/METI 電気事業者別排出係数; Tokyo default 0.45, range 0.38–0.50).
    """
    return np.asarray(energy_j, dtype=np.float64) / J_PER_KWH * co2_kg_per_kwh
