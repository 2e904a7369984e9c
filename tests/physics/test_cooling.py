"""Cooling components and the plant model: published curves, limits, and invariants."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiban.catalog import default_catalog
from kiban.errors import ConfigError
from kiban.physics.cooling import (
    CHILLER_CAPACITY_COEFFS,
    CHILLER_EIR_COEFFS,
    CHILLER_LIFT_OFFSET_K,
    TYPICAL_PLANTS,
    CoolingPlant,
    airside_free_frac,
    chiller_power_w,
    cooling_power_w,
    crac_cop,
    dry_cooler_free_frac,
    economizer_free_frac,
    fan_power_w,
    heat_split_w,
    mechanical_cooling_power_w,
    plant_power_w,
    pue,
    pump_power_w,
    reset_supply_temp_c,
    typical_plant,
    waterside_free_frac,
)
from kiban.validation.cooling import MOORE_TABLE

# --------------------------------------------------------------------------------------------
# Moore COP
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("supply_c", "cop_expected"), MOORE_TABLE)
def test_crac_cop_matches_published_table(supply_c, cop_expected):
    """COP(T) = 0.0068T² + 0.0008T + 0.458 reproduces the table in physics.md §3.4 within 0.01.

    Source: Moore et al., "Making Scheduling 'Cool'", USENIX ATC 2005, as reproduced in Tang et
    al., IEEE TPDS 19(11) 2008; table values [D] in physics.md §3.4.
    """
    assert float(crac_cop(supply_c)) == pytest.approx(cop_expected, abs=0.01)


def test_crac_cop_vectorised_and_increasing():
    """A warmer supply makes the CRAC more efficient (Moore 2005), over arrays."""
    t = np.linspace(10.0, 30.0, 41)
    cop = crac_cop(t)
    assert cop.shape == t.shape
    assert np.all(np.diff(cop) > 0)


# --------------------------------------------------------------------------------------------
# EnergyPlus chiller
# --------------------------------------------------------------------------------------------


def test_chiller_at_rating_conditions_gives_about_rated_cop():
    """At AHRI rating (35 °C condenser air, 6.67 °C chilled water) and full available load, the
    EnergyPlus Chiller:Electric curves give P ≈ Q / COP_rated.

    CAP(0) = 0.944836 and EIR(CAP(0)) = 1.0137 (EnergyPlus ChillerElectric unit-test
    coefficients, as used in HPE SustainDC), so the curves are normalised to within 2 % at rating.
    """
    capacity_w = 1.0e6
    c0 = CHILLER_CAPACITY_COEFFS[0]
    q = c0 * capacity_w  # full available capacity: PLR = 1, FLF = 1.0001
    p = float(chiller_power_w(q, 35.0, capacity_w, 3.0))
    assert q / p == pytest.approx(3.0, rel=0.02)
    e0, e1, e2 = CHILLER_EIR_COEFFS
    assert e0 + e1 * c0 + e2 * c0**2 == pytest.approx(1.0137, abs=1e-3)


def test_chiller_uses_less_power_when_the_condenser_is_cooler():
    """Cooler condenser air lowers chiller power at the same load (EnergyPlus curve form).

    This is the physical direction, and it is what our EnergyPlus-faithful ΔT definition gives.
    SustainDC's transcription (physics.md §3.4) would give the opposite.
    """
    t = np.array([15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 45.0])
    p = chiller_power_w(5.0e5, t, 1.0e6, 3.0)
    assert np.all(np.diff(p) > 0)


def test_chiller_warmer_chilled_water_saves_power():
    """Raising the chilled-water set-point lowers the lift and the power (EnergyPlus ΔT term)."""
    p_cold = float(chiller_power_w(5.0e5, 35.0, 1.0e6, 3.0, evap_out_temp_c=6.67))
    p_warm = float(chiller_power_w(5.0e5, 35.0, 1.0e6, 3.0, evap_out_temp_c=12.0))
    assert p_warm < p_cold


def test_chiller_lift_offset_is_range_plus_published_approaches():
    """Beyond its curve's edge the chiller's EIR follows the refrigerant lift, which exceeds the
    water lift by the condenser water's range plus the evaporator and condenser approaches.

    Sources: AHRI Standard 550/590 rating flow of 3.0 gpm/ton (85 → 95 °F condenser water, a
    10 °F = 5.6 K range); Trane support article DOC-84842 "Expected Approach Temperatures":
    1–2 °F per heat exchanger on a clean water loop, cleaning advised above 5 °F. The offset must
    lie between clean tubes at their best (range + 2 × 1 °F) and the cleaning threshold
    (range + 2 × 5 °F).
    """
    f_to_k = 5.0 / 9.0
    range_k = next(f.default for f in dataclasses.fields(CoolingPlant) if f.name == "cw_delta_t_k")
    assert isinstance(range_k, float)
    assert range_k == pytest.approx(10.0 * f_to_k, abs=0.1)
    assert range_k + 2 * 1.0 * f_to_k <= CHILLER_LIFT_OFFSET_K <= range_k + 2 * 5.0 * f_to_k
    # beyond the edge a warmer chilled-water set-point keeps saving power, at a rate set by the
    # Carnot lift: between 6 °C and 16 °C leaving water (27 °C tower water) the saving per kelvin
    # is within the Carnot bound of the refrigerant lift (≤ 1/L per K, L ≥ offset)
    p = chiller_power_w(5.0e5, 27.0, 1.0e6, 6.0, cond_rated_temp_c=29.44, evap_out_temp_c=16.0)
    p_warmer = chiller_power_w(
        5.0e5, 27.0, 1.0e6, 6.0, cond_rated_temp_c=29.44, evap_out_temp_c=17.0
    )
    assert 0.0 < 1.0 - float(p_warmer) / float(p) < 1.0 / CHILLER_LIFT_OFFSET_K


def test_chiller_zero_load_zero_power_and_cycling_below_min_plr():
    """No load draws nothing; below the 5 % minimum part load, power scales down linearly."""
    assert float(chiller_power_w(0.0, 30.0, 1.0e6, 3.0)) == 0.0
    p1 = float(chiller_power_w(1.0e4, 30.0, 1.0e6, 3.0))
    p2 = float(chiller_power_w(2.0e4, 30.0, 1.0e6, 3.0))
    assert p2 == pytest.approx(2.0 * p1, rel=1e-9)


# --------------------------------------------------------------------------------------------
# Pumps and fans
# --------------------------------------------------------------------------------------------


def test_pump_power_sustaindc_parameters():
    """P = Δp·V̇/η with SustainDC's 300 kPa head and 0.87 efficiency (physics.md §3.4).

    0.05 m³/s × 300 kPa / 0.87 = 17,241 W.
    """
    assert float(pump_power_w(0.05, 300e3, 0.87)) == pytest.approx(17241.4, rel=1e-4)


def test_fan_affinity_law_cube():
    """Half the flow costs one eighth of the power; double costs eight times (affinity laws)."""
    p = fan_power_w(np.array([0.5, 1.0, 2.0]), 1.0, 1000.0)
    np.testing.assert_allclose(p, [125.0, 1000.0, 8000.0])


# --------------------------------------------------------------------------------------------
# Economizers
# --------------------------------------------------------------------------------------------


def test_airside_economizer_thresholds():
    """Air side: free at T_db ≤ T_sup − approach, none at T_db ≥ T_ret − approach.

    Condition from physics.md §3.9; 22 °C supply, 34 °C return, 1.5 K approach.
    """
    f = airside_free_frac(np.array([10.0, 20.5, 26.5, 32.5, 40.0]), 22.0, 34.0, approach_k=1.5)
    np.testing.assert_allclose(f, [1.0, 1.0, 0.5, 0.0, 0.0])


def test_waterside_economizer_thresholds():
    """Water side: free at T_wb + tower + HX ≤ T_w,sup (physics.md §3.9); 4 + 2 K approaches.

    With 18/24 °C water, full free cooling up to T_wb = 12 °C, none from 18 °C.
    """
    wb = np.array([5.0, 12.0, 15.0, 18.0, 25.0])
    f = waterside_free_frac(wb, 18.0, 24.0, tower_approach_k=4.0, hx_approach_k=2.0)
    np.testing.assert_allclose(f, [1.0, 1.0, 0.5, 0.0, 0.0])


def test_dry_cooler_thresholds():
    """Dry cooler: free at T_db + approach ≤ T_w,sup (physics.md §3.9; approach 10 K)."""
    f = dry_cooler_free_frac(np.array([20.0, 22.0, 27.0, 32.0]), 32.0, 42.0, approach_k=10.0)
    np.testing.assert_allclose(f, [1.0, 1.0, 0.5, 0.0])


def test_monthly_smoothing_matches_monte_carlo(rng):
    """The closed-form expectation over a normal spread of hours equals sampling it.

    E[clip((hi − X)/(hi − lo), 0, 1)], X ~ N(μ, σ²), against 400,000 samples (error < 0.005).
    """
    lo, hi = 14.0, 20.0
    for mean, std in [(10.0, 3.5), (16.0, 3.5), (19.0, 2.0), (25.0, 4.0)]:
        x = rng.normal(mean, std, 400_000)
        mc = float(np.mean(np.clip((hi - x) / (hi - lo), 0.0, 1.0)))
        closed = float(economizer_free_frac(mean, lo, hi, std))
        assert closed == pytest.approx(mc, abs=0.005)


def test_smoothing_tends_to_hard_ramp_as_spread_vanishes():
    """σ → 0 recovers the hourly (hard) ramp."""
    t = np.linspace(5.0, 30.0, 26)
    hard = economizer_free_frac(t, 14.0, 20.0, 0.0)
    tiny = economizer_free_frac(t, 14.0, 20.0, 1e-4)
    np.testing.assert_allclose(tiny, hard, atol=1e-4)


def test_mechanical_power_of_unmet_share():
    """P_mech = (1 − f)·Q/COP."""
    assert float(mechanical_cooling_power_w(1.0e6, 0.25, 3.0)) == pytest.approx(2.5e5)


# --------------------------------------------------------------------------------------------
# Liquid cooling and the plant
# --------------------------------------------------------------------------------------------


def test_heat_split_conserves_heat():
    """Liquid + air = IT heat for RDHx (0.9), DLC (0.85, physics.md §9) and immersion (≈1)."""
    q = np.array([1.0e5, 5.0e5])
    for h in (0.0, 0.85, 0.9, 1.0):
        liq, air = heat_split_w(q, h)
        np.testing.assert_allclose(liq + air, q)
        np.testing.assert_allclose(liq, h * q)


@pytest.mark.parametrize("name", sorted(TYPICAL_PLANTS))
def test_plant_breakdown_adds_up_and_broadcasts(name):
    """Each part is ≥ 0 and they sum to total; 8,760 hourly steps broadcast in one call."""
    plant = typical_plant(name, 1.0e6)
    hours = np.arange(8760)
    db = 15.0 + 10.0 * np.sin(2 * np.pi * hours / 8760.0)
    wb = db - 4.0
    bd = plant_power_w(np.full(8760, 7.0e5), db, wb, plant)
    parts = bd.chiller_w + bd.crah_fan_w + bd.pump_w + bd.heat_rejection_fan_w + bd.cdu_w
    assert bd.total_w.shape == (8760,)
    np.testing.assert_allclose(parts, bd.total_w)
    for field in ("chiller_w", "crah_fan_w", "pump_w", "heat_rejection_fan_w", "cdu_w"):
        assert np.all(getattr(bd, field) >= 0.0), field
    np.testing.assert_allclose(bd.air_heat_w + bd.liquid_heat_w, 7.0e5)
    assert np.all((bd.free_frac >= 0.0) & (bd.free_frac <= 1.0))


def test_technologies_route_heat_as_described():
    """RDHx/DLC/immersion carry their capture share in liquid; air plants have no CDU."""
    q = 8.0e5
    air = plant_power_w(q, 30.0, 24.0, typical_plant("hot-aisle-containment", 1.0e6))
    assert float(air.liquid_heat_w) == 0.0
    assert float(air.cdu_w) == 0.0
    rdhx = plant_power_w(q, 30.0, 24.0, typical_plant("rear-door-hx", 1.0e6))
    assert float(rdhx.liquid_heat_w) == pytest.approx(0.9 * q)
    dlc = plant_power_w(q, 30.0, 24.0, typical_plant("direct-liquid", 1.0e6))
    assert float(dlc.air_heat_w) == pytest.approx(0.15 * q)
    assert float(dlc.cdu_w) > 0.0
    imm = plant_power_w(q, 30.0, 24.0, typical_plant("immersion-1p", 1.0e6))
    assert float(imm.liquid_heat_w) >= 0.98 * q
    # Less air to move means less CRAH fan power.
    assert float(imm.crah_fan_w) < float(dlc.crah_fan_w) < float(air.crah_fan_w)


def test_liquid_loop_is_chiller_free_in_cool_weather():
    """W32 water with a 10 K dry-cooler approach needs no trim chiller at 20 °C outdoor.

    That is the 'W45/W32 loops with dry coolers are chiller-free most of the year' rule of thumb
    (physics.md §3.7). At 35 °C outdoor the dry cooler cannot reach 32 °C water, so the trim
    chiller runs.
    """
    plant = typical_plant("direct-liquid", 1.0e6, liquid_capture_frac=1.0)
    cool = plant_power_w(7.0e5, 20.0, 15.0, plant)
    hot = plant_power_w(7.0e5, 35.0, 26.0, plant)
    assert float(cool.liquid_free_frac) == 1.0
    assert float(cool.chiller_w) == 0.0
    assert float(hot.liquid_free_frac) < 1.0
    assert float(hot.chiller_w) > 0.0


def test_supply_reset_up_saves_cooling_power():
    """A warmer supply air (after a reset) lowers plant power: Moore COP rises, economizers gain.

    Over a 16→26 °C sweep the power never rises and ends lower. Where the chiller curve sits on
    its ΔT clip and no economizer runs (18→20 °C here), it stays flat.
    """
    for name in ("crac-raised-floor", "hot-aisle-containment"):
        plant = typical_plant(name, 1.0e6)
        t_sup = np.array([16.0, 18.0, 20.0, 22.0, 24.0, 26.0])
        p = cooling_power_w(7.0e5, 20.0, 15.0, plant, supply_air_temp_c=t_sup)
        assert np.all(np.diff(p) <= 0), name
        assert p[-1] < 0.5 * p[0], name


def test_reset_supply_temp_tang_example():
    """Tang et al. 2008: at T_sup = 15 °C, coolest-inlet-first peaks at 30.5 °C and XInt at 25.6 °C.

    With the 25 °C redline, the reset supplies are 9.5 °C and 14.4 °C. Bounds win when crossed.
    """
    new = reset_supply_temp_c(15.0, np.array([30.5, 25.6]), 25.0, 5.0, 27.0)
    np.testing.assert_allclose(new, [9.5, 14.4])
    assert float(reset_supply_temp_c(15.0, 30.5, 25.0, 12.0, 27.0)) == 12.0
    assert float(reset_supply_temp_c(15.0, 10.0, 25.0, 12.0, 27.0)) == 27.0


@given(
    supply=st.floats(10.0, 25.0),
    rise=st.floats(0.0, 15.0),
    redline=st.floats(18.0, 32.0),
)
@settings(max_examples=60, deadline=None)
def test_reset_puts_hottest_inlet_on_redline_unless_bounded(supply, rise, redline):
    """If every inlet is T_sup + a fixed rise, the reset lands the hottest one on the redline,
    unless a bound stops it; then it stays below the redline or at the bound."""
    lo, hi = 10.0, 27.0
    new = float(reset_supply_temp_c(supply, supply + rise, redline, lo, hi))
    hottest = new + rise
    assert lo <= new <= hi
    if lo < new < hi:
        assert hottest == pytest.approx(redline, abs=1e-9)
    elif new == hi:
        assert hottest <= redline + 1e-9


# --------------------------------------------------------------------------------------------
# Invariants (Hypothesis)
# --------------------------------------------------------------------------------------------

heat_st = st.floats(0.0, 1.2e6)
db_st = st.floats(-15.0, 40.0)
depression_st = st.floats(0.0, 12.0)


@given(
    q1=heat_st,
    q2=heat_st,
    db=db_st,
    dep=depression_st,
    name=st.sampled_from(sorted(TYPICAL_PLANTS)),
)
@settings(max_examples=80, deadline=None)
def test_cooling_power_nonnegative_and_monotone_in_heat(q1, q2, db, dep, name):
    """Cooling power is ≥ 0 and never falls when the heat load rises (same weather, same plant)."""
    plant = typical_plant(name, 1.0e6)
    lo, hi = sorted((q1, q2))
    p_lo = float(cooling_power_w(lo, db, db - dep, plant))
    p_hi = float(cooling_power_w(hi, db, db - dep, plant))
    assert p_lo >= 0.0
    assert p_hi >= p_lo - 1e-9 * max(1.0, p_lo)


@given(
    it=st.floats(1.0, 1.0e7),
    cool=st.floats(0.0, 1.0e7),
    loss=st.floats(0.0, 1.0e6),
    misc=st.floats(0.0, 1.0e6),
)
@settings(max_examples=80, deadline=None)
def test_pue_at_least_one(it, cool, loss, misc):
    """PUE = facility/IT ≥ 1 whenever the non-IT parts are ≥ 0 (The Green Grid WP#49)."""
    assert float(pue(it, cool, loss, misc)) >= 1.0


def test_pue_of_zero_it_is_nan():
    """PUE is undefined at zero IT power."""
    assert np.isnan(float(pue(0.0, 10.0, 1.0, 0.0)))


# --------------------------------------------------------------------------------------------
# Construction and catalog
# --------------------------------------------------------------------------------------------


def test_plant_rejects_bad_values_with_field_names():
    """Out-of-range design values fail at construction with a field-named ConfigError."""
    with pytest.raises(ConfigError, match=r"cooling\.liquid_capture_frac = 1\.5"):
        CoolingPlant(technology="direct_liquid", liquid_capture_frac=1.5)
    with pytest.raises(ConfigError, match=r"cooling\.economizer = 'evaporative'"):
        CoolingPlant(economizer="evaporative")
    with pytest.raises(ConfigError, match=r"cooling\.liquid_economizer"):
        CoolingPlant(
            technology="direct_liquid", liquid_capture_frac=0.8, liquid_economizer="airside"
        )
    with pytest.raises(ConfigError, match=r"must be 0 for technology 'air'"):
        CoolingPlant(technology="air", liquid_capture_frac=0.5)
    with pytest.raises(ConfigError) as info:
        CoolingPlant(design_heat_w=-1.0, fan_efficiency_frac=0.0)
    assert len(info.value.problems) == 2


def test_typical_plant_from_every_catalog_cooling_record():
    """Each catalog cooling technology maps to a plant; the record's capture fraction is used."""
    cat = default_catalog()
    for name in TYPICAL_PLANTS:
        tech = cat.cooling(name)
        plant = typical_plant(tech, 2.0e6)
        assert plant.design_heat_w == 2.0e6
        if plant.technology != "air":
            assert plant.liquid_capture_frac == tech.liquid_capture_frac
    with pytest.raises(ConfigError, match="no typical plant"):
        typical_plant("swamp-cooler", 1.0e6)
    with pytest.raises(ConfigError, match="unknown plant field"):
        typical_plant("direct-liquid", 1.0e6, colour="blue")


def test_plant_is_frozen():
    """Designs are immutable; variants come from dataclasses.replace."""
    plant = typical_plant("direct-liquid", 1.0e6)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plant.design_heat_w = 2.0  # type: ignore[misc]
    assert dataclasses.replace(plant, liquid_supply_temp_c=40.0).liquid_supply_temp_c == 40.0
