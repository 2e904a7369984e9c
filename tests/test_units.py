"""The unit vocabulary: suffix lookup and the named conversion constants."""

from __future__ import annotations

import pytest

from kiban import units


@pytest.mark.parametrize(
    ("name", "unit"),
    [
        ("gpu_power_w", "W"),
        ("facility_energy_j", "J"),
        ("airflow_m3_per_s", "m3/s"),
        ("die_to_inlet_k_per_w", "K/W"),
        ("delta_t_k", "K"),
        ("inlet_temp_c", "degC"),
        ("util_frac", "1"),
        ("tariff_jpy_per_kwh", "JPY/kWh"),
        ("pue", None),
    ],
)
def test_unit_of_longest_suffix(name, unit):
    assert units.unit_of(name) == unit


def test_cfm_conversion_matches_dgx_h100_airflow():
    """NVIDIA DGX H100 User Guide: 1105 CFM; physics.md §1.2 derives 0.5215 m³/s."""
    assert 1105 * units.M3_PER_S_PER_CFM == pytest.approx(0.5215, abs=5e-4)


def test_btu_conversion_matches_dgx_heat_output():
    """DGX H100 user guide: 38,557 BTU/h heat output = 11.3 kW (physics.md §1.2)."""
    assert 38_557 * units.W_PER_BTU_PER_H == pytest.approx(11_300, rel=0.005)


def test_fahrenheit_round_trip():
    assert units.c_to_f(units.f_to_c(55.0)) == pytest.approx(55.0)
