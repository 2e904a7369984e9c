"""DX CRAC with air-cooled condensers: COP against outdoor temperature and part load.

Published curves: EnergyPlus single-speed DX cooling coil (Engineering Reference, "Single-Speed
Electric DX Air Cooling Coil"), coefficients as in the LBNL Modelica Buildings library
``Buildings.Fluid.HeatExchangers.DXCoils.Data.PerformanceCurves.Curve_I``; part-load fraction
0.85 + 0.15·PLR (EnergyPlus default). Psychrometrics: Stull (2011).
"""

from __future__ import annotations

import numpy as np
import pytest

from kiban.physics.cooling import (
    DX_COP_RATED,
    CoolingPlant,
    dx_cop,
    plant_power_w,
    return_air_wet_bulb_c,
)


def test_rating_point_gives_the_rated_cop():
    """The published curve is normalized to 1 at the AHRI point (19.4 °C wb, 35 °C): ±0.1 %."""
    assert float(dx_cop(35.0)) == pytest.approx(DX_COP_RATED, rel=1e-3)


def test_cop_rises_as_the_outdoor_air_cools_until_head_pressure_control():
    t = np.array([18.0, 22.0, 27.0, 32.0, 35.0, 40.0, 46.0])
    cop = dx_cop(t)
    assert np.all(np.diff(cop) < 0)
    # 35 → 27.8 °C (AHRI 340/360 75 % point) gains 12-20 % COP on this curve
    assert float(dx_cop(27.8) / dx_cop(35.0)) == pytest.approx(1.16, abs=0.04)
    # below the curve's 18 °C bound the condensing pressure is held: no further gain
    assert float(dx_cop(5.0)) == pytest.approx(float(dx_cop(18.0)), rel=1e-12)


def test_part_load_cycling_costs_efficiency():
    """PLF = 0.85 + 0.15·PLR: at half load the COP is 92.5 % of full load."""
    assert float(dx_cop(35.0, part_load_frac=0.5) / dx_cop(35.0)) == pytest.approx(0.925)


def test_return_air_wet_bulb_matches_a_psychrometric_chart():
    """28 °C dry bulb at 10 °C dew point: wet bulb ≈ 17.5 °C (ASHRAE chart), ±0.4 K."""
    assert float(return_air_wet_bulb_c(28.0, 10.0)) == pytest.approx(17.5, abs=0.4)


def test_dx_plant_power_follows_the_outdoor_temperature():
    """Old behaviour: the air-cooled CRAC plant drew the same power at 5 °C and 30 °C."""
    plant = CoolingPlant(technology="air", design_heat_w=100e3, chiller="dx_air_cooled",
                         cop_rated=DX_COP_RATED, economizer="none", supply_air_temp_c=18.0,
                         air_delta_t_k=10.0)  # fmt: skip
    cold = plant_power_w(70e3, 5.0, 2.0, plant)
    hot = plant_power_w(70e3, 30.0, 24.0, plant)
    assert float(hot.chiller_w) > 1.2 * float(cold.chiller_w)
    assert float(hot.crah_fan_w) == pytest.approx(float(cold.crah_fan_w))
