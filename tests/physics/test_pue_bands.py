"""Annual PUE of typical designs against the LBNL 2024 bands; climate ordering; climate data.

Every design is spelled out in full (kiban.validation.pue, shared with docs/validation.md),
so the band checks test the plant model and not a tuned preset. The load is 70 % of design IT
capacity: a realistic average (Uptime surveys put typical utilisation of built capacity at
50–80 %).
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest
from scipy.special import ndtr

from kiban.errors import ConfigError
from kiban.physics.climate import (
    HourlyClimate,
    load_hourly_climate,
    monthly_normals,
    wet_bulb_stull_c,
)
from kiban.physics.cooling import annual_pue, typical_plant
from kiban.units import S_PER_H
from kiban.validation.pue import (
    CITIES_WARM_ORDER,
    DESIGN_LABELS,
    DESIGN_W,
    DESIGNS,
    DIRECT_LIQUID,
    IT_W,
    MIDSIZE_WATERSIDE,
    annual_design_pue,
    enterprise_chain,
    hyperscale_chain,
    section_pue,
)

# The three designs (plants and power chains spelled out in full), the load and the cities are
# shared with the validation report: kiban.validation.pue.
_enterprise_chain, _hyperscale_chain, _annual = (
    enterprise_chain,
    hyperscale_chain,
    annual_design_pue,
)


@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_annual_pue_in_lbnl_2024_band_tokyo(name):
    """Annual PUE in Tokyo (JMA 1991–2020 normals) at 70 % load lies in the LBNL 2024 band.

    Bands (Shehabi et al., LBNL-2001637, Fig. 4.4/4.5 as compiled in physics.md §3.8/§9):
    legacy air 1.4–1.9; midsize waterside economizer 1.26–1.50 (median 1.38); IT liquid cooling
    with dry cooler 1.05–1.14 (median 1.09–1.10). Designs and chains are defined at the top of
    this file; misc (lighting, offices) is 2 % of design for the air designs, 1 % for liquid.
    """
    check = next(
        r for r in section_pue().rows if r.quantity.endswith(f"{DESIGN_LABELS[name][0]}, Tokyo")
    )
    assert check.allowed == DESIGNS[name][3]
    assert check.model_value == _annual(name, "tokyo")
    assert check.passed, check.explain()


@pytest.mark.parametrize("name", ["midsize_waterside", "direct_liquid_dry_cooler"])
def test_pue_orders_hokkaido_tokyo_osaka(name):
    """For the same design, annual PUE: Sapporo (Hokkaido) < Tokyo < Osaka.

    Expected from the climates (physics.md §7.3: annual 9.2 / 15.8 / 17.1 °C): the cooler the
    outdoor air, the more economizer hours. Design as in the LBNL band test.
    """
    values = [_annual(name, city) for city in CITIES_WARM_ORDER]
    assert values[0] < values[1] < values[2], values


def test_pue_orders_cities_for_every_economizer_preset():
    """The typical presets with economizers keep the Sapporo < Tokyo < Osaka order."""
    chain = _hyperscale_chain()
    for name in ("hot-aisle-containment", "rear-door-hx", "direct-liquid", "immersion-1p"):
        plant = typical_plant(name, DESIGN_W)
        values = [annual_pue(plant, IT_W, monthly_normals(c), chain).pue for c in CITIES_WARM_ORDER]
        assert values[0] < values[1] < values[2], (name, values)


def test_moore_crac_plant_is_climate_blind():
    """The Moore COP has no outdoor term (physics.md §3.4), so a CRAC plant with no economizer
    has the same PUE everywhere. That is a documented limit of the 2005 curve, pinned here."""
    values = [_annual("legacy_air", city) for city in CITIES_WARM_ORDER]
    assert max(values) - min(values) < 1e-9


@pytest.mark.parametrize("name", ["midsize_waterside", "direct_liquid_dry_cooler"])
def test_economizer_hours_increase_as_climate_cools(name):
    """Full-free-cooling-equivalent hours: Sapporo > Tokyo > Osaka (physics.md §7.3)."""
    plant, chain, _, _ = DESIGNS[name]
    hours = [
        annual_pue(plant, IT_W, monthly_normals(c), chain()).economizer_time_s / S_PER_H
        for c in CITIES_WARM_ORDER
    ]
    assert hours[0] > hours[1] > hours[2], hours


def test_waterside_rule_of_thumb_hours():
    """DOE/FEMP: a waterside economizer suits sites with wet bulb < 12.8 °C for ≥ 3,000 h/yr
    (physics.md §3.9). All three cities qualify from their normals and the assumed spread, and
    Sapporo has the most such hours."""
    hours = {}
    for city in CITIES_WARM_ORDER:
        c = monthly_normals(city)
        share = ndtr((12.8 - c.wet_bulb_c) / c.wet_bulb_std_k)
        hours[city] = float(np.sum(share * c.duration_s)) / S_PER_H
    assert all(h >= 3000.0 for h in hours.values()), hours
    assert hours["sapporo"] > hours["tokyo"] > hours["osaka"], hours


def test_annual_pue_is_energy_weighted():
    """PUE = ΣE_facility/ΣE_IT, not the mean of monthly PUEs (The Green Grid WP#49)."""
    it = np.linspace(0.3, 1.0, 12) * DESIGN_W
    res = annual_pue(MIDSIZE_WATERSIDE, it, monthly_normals("tokyo"), _enterprise_chain())
    assert res.pue == pytest.approx(res.facility_energy_j / res.it_energy_j, rel=1e-12)
    naive = float(np.mean(res.pue_by_period))
    assert abs(res.pue - naive) > 1e-4


def test_hourly_and_monthly_smoothing_agree(rng):
    """Annual PUE from 8,760 sampled hours equals the monthly closed-form result within 0.01.

    Each month's hours are drawn as N(normal mean, assumed σ). This checks that the
    monthly smoothing in economizer_free_frac stands in for the hours it summarises.
    """
    monthly = monthly_normals("tokyo")
    per_month = (monthly.duration_s / S_PER_H).astype(int)
    db = np.concatenate(
        [
            rng.normal(m, s, n)
            for m, s, n in zip(monthly.dry_bulb_c, monthly.dry_bulb_std_k, per_month, strict=True)
        ]
    )
    wb = np.concatenate(
        [
            rng.normal(m, s, n)
            for m, s, n in zip(monthly.wet_bulb_c, monthly.wet_bulb_std_k, per_month, strict=True)
        ]
    )
    wb = np.minimum(wb, db)
    hourly = HourlyClimate(
        db, wb, np.full(db.size, S_PER_H), np.zeros(db.size), np.zeros(db.size), "synthetic"
    )
    for name in ("midsize_waterside", "direct_liquid_dry_cooler"):
        plant, chain, misc_frac, _ = DESIGNS[name]
        p_month = annual_pue(plant, IT_W, monthly, chain(), misc_w=misc_frac * DESIGN_W).pue
        p_hour = annual_pue(plant, IT_W, hourly, chain(), misc_w=misc_frac * DESIGN_W).pue
        assert p_hour == pytest.approx(p_month, abs=0.01), name


def test_design_variants_move_pue_the_right_way():
    """Warmer liquid water and more liquid capture lower DLC PUE in Tokyo."""
    chain = _hyperscale_chain()
    tokyo = monthly_normals("tokyo")
    base = annual_pue(DIRECT_LIQUID, IT_W, tokyo, chain).pue
    warmer = annual_pue(
        dataclasses.replace(DIRECT_LIQUID, liquid_supply_temp_c=40.0), IT_W, tokyo, chain
    ).pue
    more = annual_pue(
        dataclasses.replace(DIRECT_LIQUID, liquid_capture_frac=0.95), IT_W, tokyo, chain
    ).pue
    assert warmer < base
    assert more < base


# --------------------------------------------------------------------------------------------
# Climate data
# --------------------------------------------------------------------------------------------


def test_stull_published_example():
    """Stull (2011), J. Appl. Meteor. Climatol. 50, 2267: T = 20 °C, RH = 50 % → Tw = 13.7 °C."""
    assert float(wet_bulb_stull_c(20.0, 0.5)) == pytest.approx(13.7, abs=0.05)


def test_stull_saturated_air_equals_dry_bulb():
    """At RH → 100 % the wet bulb meets the dry bulb; the Stull fit agrees within its error band."""
    t = np.array([0.0, 10.0, 25.0, 35.0])
    tw = wet_bulb_stull_c(t, 1.0)
    assert np.all(tw <= t)
    np.testing.assert_allclose(tw, t, atol=0.65)


@pytest.mark.parametrize(
    ("city", "annual_c", "august_c"),
    [("tokyo", 15.8, 26.9), ("osaka", 17.1, 29.0), ("sapporo", 9.2, 22.3)],
)
def test_embedded_normals_match_reference_summary(city, annual_c, august_c):
    """Annual and August means agree with physics.md §7.3 (JMA 1991–2020): annual within 0.15 K,
    August within 0.3 K. The Sapporo row is [S] (JMA via Wikipedia); Tokyo and Osaka are [R]
    (see kiban/data/climate/README.md)."""
    c = monthly_normals(city)
    annual = float(np.sum(c.dry_bulb_c * c.duration_s) / np.sum(c.duration_s))
    assert annual == pytest.approx(annual_c, abs=0.15)
    assert float(c.dry_bulb_c[7]) == pytest.approx(august_c, abs=0.3)
    assert float(np.sum(c.duration_s)) == pytest.approx(8760.0 * S_PER_H)


def test_embedded_wet_bulb_column_is_stull_of_the_means():
    """The CSV's wet_bulb_c equals Stull (2011) of its dry_bulb_c and rel_humidity_frac (0.01 K)."""
    for city in CITIES_WARM_ORDER:
        c = monthly_normals(city)
        np.testing.assert_allclose(
            c.wet_bulb_c, wet_bulb_stull_c(c.dry_bulb_c, c.rel_humidity_frac), atol=0.01
        )
        assert np.all(c.wet_bulb_c <= c.dry_bulb_c)
        assert "JMA" in c.source


def test_unknown_city_is_a_config_error():
    """An unknown city names the allowed ones."""
    with pytest.raises(ConfigError, match="tokyo, osaka, sapporo"):
        monthly_normals("naha")


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def test_load_hourly_climate_reads_wet_bulb_or_humidity(tmp_path):
    """Hourly files give wet bulb directly, or relative humidity (converted by Stull 2011)."""
    f1 = _write(
        tmp_path / "a.csv",
        [["time", "dry_bulb_c", "wet_bulb_c"], ["0", "20.0", "15.0"], ["1", "21.0", "15.5"]],
    )
    c1 = load_hourly_climate(f1)
    np.testing.assert_allclose(c1.dry_bulb_c, [20.0, 21.0])
    np.testing.assert_allclose(c1.wet_bulb_c, [15.0, 15.5])
    assert float(np.sum(c1.duration_s)) == 2 * S_PER_H
    f2 = _write(tmp_path / "b.csv", [["dry_bulb_c", "rel_humidity_frac"], ["20.0", "0.5"]])
    c2 = load_hourly_climate(f2)
    assert float(c2.wet_bulb_c[0]) == pytest.approx(13.7, abs=0.05)
    res = annual_pue(typical_plant("direct-liquid", DESIGN_W), IT_W, c1, _hyperscale_chain())
    assert res.pue_by_period.shape == (2,)


def test_load_hourly_climate_reports_file_line_field(tmp_path):
    """Bad rows are reported as FILE:LINE: field = value: what is allowed, all of them."""
    rows = [
        ["dry_bulb_c", "wet_bulb_c"],
        ["20.0", "15.0"],
        ["abc", "15.0"],
        ["20.0", "25.0"],
        ["-300", "-300"],
        ["20.0", ""],
    ]
    f = _write(tmp_path / "bad.csv", rows)
    with pytest.raises(ConfigError) as info:
        load_hourly_climate(f)
    problems = info.value.problems
    assert len(problems) == 4
    assert f"{f}:3: dry_bulb_c = 'abc': not a number" in problems[0]
    assert f"{f}:4: wet_bulb_c = 25.0" in problems[1]
    assert f"{f}:5: dry_bulb_c = -300.0" in problems[2]
    assert f"{f}:6: wet_bulb_c is empty" in problems[3]


def test_load_hourly_climate_structural_errors(tmp_path):
    """Missing file, missing columns and an empty table are ConfigErrors naming the file."""
    with pytest.raises(ConfigError, match="not found"):
        load_hourly_climate(tmp_path / "missing.csv")
    f = _write(tmp_path / "cols.csv", [["temp"], ["20"]])
    with pytest.raises(ConfigError, match="needs a dry_bulb_c column"):
        load_hourly_climate(f)
    f = _write(tmp_path / "empty.csv", [["dry_bulb_c", "wet_bulb_c"]])
    with pytest.raises(ConfigError, match="no data rows"):
        load_hourly_climate(f)
    f = _write(tmp_path / "rh.csv", [["dry_bulb_c", "rel_humidity_frac"], ["20", "65"]])
    with pytest.raises(ConfigError, match=r"rel_humidity_frac = 65.0: allowed 0…1"):
        load_hourly_climate(f)
