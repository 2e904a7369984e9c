"""Cost and carbon with hand-computed numbers from physics.md §7.1-§7.2 (Japanese defaults)."""

from __future__ import annotations

import numpy as np
import pytest

from kiban.errors import ConfigError
from kiban.physics import cost
from kiban.units import H_PER_YEAR, J_PER_KWH, W_PER_KW, W_PER_MW

MWH_J = 1000.0 * J_PER_KWH


def test_japanese_presets_add_up():
    """physics.md §7.1: 高圧 22 JPY/kWh all-in = energy 15.15 + 燃料費調整額 2.67 (TEPCO EP,
    May 2026) + 再エネ賦課金 4.18 (FY2026); 特別高圧 18 = 11.15 + 2.67 + 4.18; 0.45 kg-CO2/kWh."""
    hv = cost.TARIFF_HIGH_VOLTAGE
    assert hv.energy_rate_jpy_per_kwh == pytest.approx(15.15)
    assert hv.fuel_adjustment_jpy_per_kwh == 2.67
    assert hv.renewable_surcharge_jpy_per_kwh == 4.18
    assert hv.all_in_jpy_per_kwh == pytest.approx(22.0)
    assert cost.TARIFF_EXTRA_HIGH_VOLTAGE.energy_rate_jpy_per_kwh == pytest.approx(11.15)
    assert cost.TARIFF_EXTRA_HIGH_VOLTAGE.all_in_jpy_per_kwh == pytest.approx(18.0)
    assert hv.co2_kg_per_kwh == 0.45
    assert cost.Tariff() == hv


def test_energy_cost_and_co2_hand_computed():
    """1 MWh at 高圧: 1,000 kWh × 22 = 22,000 JPY; at 特別高圧 18,000 JPY; 450 kg CO2.
    A 1 MW IT load for a year (8,760 MWh) at 高圧: 192.72 M JPY and 3,942 t CO2."""
    assert cost.energy_cost_jpy(MWH_J) == pytest.approx(22_000.0)
    assert cost.energy_cost_jpy(MWH_J, cost.TARIFF_EXTRA_HIGH_VOLTAGE) == pytest.approx(18_000.0)
    assert cost.co2_kg(MWH_J) == pytest.approx(450.0)
    year_j = W_PER_MW * H_PER_YEAR * 3600.0
    assert cost.energy_cost_jpy(year_j) == pytest.approx(192_720_000.0)
    assert cost.co2_kg(year_j) == pytest.approx(3_942_000.0)
    np.testing.assert_allclose(cost.energy_cost_jpy(np.array([0.0, 2 * MWH_J])), [0.0, 44_000.0])


def test_peak_30min_of_piecewise_constant_series():
    """A 10-minute 400 kW spike on a 100 kW base inside one 30-minute period registers
    (100·600 + 400·600 + 100·600)/1800 = 200 kW; the same spike across a period boundary
    (1,500-2,100 s) is split and registers only 150 kW (fixed meter periods)."""
    kw = W_PER_KW
    t = np.array([0.0, 600.0, 1200.0])
    p = np.array([100.0, 400.0, 100.0]) * kw
    assert cost.peak_30min_w(t, p, end_time_s=3600.0) == pytest.approx(200.0 * kw)
    t2 = np.array([0.0, 1500.0, 2100.0])
    assert cost.peak_30min_w(t2, p, end_time_s=3600.0) == pytest.approx(150.0 * kw)
    # constant power: the peak is that power, whatever the sampling
    assert cost.peak_30min_w([0.0, 7.0, 4000.0], [5e5, 5e5, 5e5], end_time_s=9000.0) == 5e5
    assert cost.peak_30min_w([], []) == 0.0


def test_peak_30min_rejects_bad_series():
    with pytest.raises(ConfigError, match="non-decreasing"):
        cost.peak_30min_w([0.0, 10.0, 5.0], [1.0, 1.0, 1.0])
    with pytest.raises(ConfigError, match="must match"):
        cost.peak_30min_w([0.0, 10.0], [1.0])


def test_demand_charge_and_ratchet():
    """容量拠出金 Tokyo FY2026 14,812 JPY/kW-year (physics.md §7.1) as a demand charge:
    500 kW for 12 months = 7,406,000 JPY. The 高圧 ratchet keeps a month's 30-minute peak as the
    contract demand for the next 11 months."""
    tariff = cost.Tariff(
        name="explicit-demand",
        monthly_demand_charge_jpy_per_kw=cost.CAPACITY_CONTRIBUTION_TOKYO_FY2026_JPY_PER_KW,
    )
    assert cost.demand_charge_jpy(500.0 * W_PER_KW, tariff, n_months=12) == pytest.approx(
        7_406_000.0
    )
    assert cost.demand_charge_jpy(500.0 * W_PER_KW) == 0.0  # all-in presets carry none
    peaks = np.array([100.0, 300.0, 200.0] + [150.0] * 11)
    contract = cost.ratcheted_demand_w(peaks)
    np.testing.assert_allclose(contract[:13], [100.0] + [300.0] * 12)
    assert contract[13] == 200.0  # the 300 kW month has left the 12-month window
    total = cost.electricity_cost_jpy(MWH_J, 500.0 * W_PER_KW, tariff)
    assert total == pytest.approx(22_000.0 + 500.0 * 14_812.0 / 12.0)


def test_tariff_validation():
    with pytest.raises(ConfigError, match="energy_rate_jpy_per_kwh"):
        cost.Tariff(energy_rate_jpy_per_kwh=-1.0)
    cost.Tariff(fuel_adjustment_jpy_per_kwh=-0.5)  # fuel adjustment may be negative
