"""The coupled twin's site limit prices the plant through :class:`PlantPricer` (the outdoor part
of the plant computed once per climate period and supply). It must give the very numbers of
:meth:`PlantFacility.power_w`, bit for bit, for every plant kind: outputs stay byte-identical."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from tests.conftest import REPO_ROOT

from kiban.physics.climate import monthly_normals
from kiban.physics.cooling import (
    TYPICAL_PLANTS,
    plant_conditions,
    plant_power_at,
    plant_power_w,
    plant_total_w,
    typical_plant,
)
from kiban.physics.power_chain import PowerChain, chain_loss_w
from kiban.results import prepare_scenario
from kiban.sim.facility import PlantFacility, _chain_loss_w
from kiban.spec import load_spec

CHILLERS = ("moore_crac", "dx_air_cooled", "air_cooled", "water_cooled")
ECONOMIZERS = ("none", "airside", "waterside", "dry_cooler")


def _bits(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).view(np.uint64)


@pytest.mark.parametrize("chiller", CHILLERS)
def test_split_plant_gives_the_same_bits(chiller):
    """plant_power_w is plant_power_at of plant_conditions: every field, every kind."""
    rng = np.random.default_rng(3)
    for tech in TYPICAL_PLANTS:
        for econ in ECONOMIZERS:
            plant = dataclasses.replace(typical_plant(tech, 1e6), chiller=chiller, economizer=econ)
            q = rng.uniform(0.0, 1.3e6, 5)
            db = rng.uniform(-10.0, 40.0, 5)
            wb = db - rng.uniform(0.0, 8.0, 5)
            sd = np.array([0.0, 2.5, 0.0, 3.1, 1.0])
            whole = plant_power_w(q, db, wb, plant, outdoor_db_std_k=sd, outdoor_wb_std_k=sd)
            cond = plant_conditions(db, wb, plant, outdoor_db_std_k=sd, outdoor_wb_std_k=sd)
            split = plant_power_at(q, cond)
            for f in dataclasses.fields(whole):
                a, b = getattr(whole, f.name), getattr(split, f.name)
                assert a.shape == b.shape
                assert np.array_equal(_bits(a), _bits(b)), (tech, econ, f.name)


@pytest.mark.parametrize(
    "example", ["hall-512-h100-rdhx.toml", "philly.toml", "tokyo-air-dgx-h100.toml"]
)
def test_pricer_matches_power_w(example):
    """PlantPricer.power_w(IT) == PlantFacility.power_w([IT], [t], [supply]) exactly."""
    prepared = prepare_scenario(load_spec(REPO_ROOT / "examples" / example))
    plant = getattr(prepared.facility, "_plant", prepared.facility)
    assert isinstance(plant, PlantFacility)
    rng = np.random.default_rng(5)
    for t_s in rng.uniform(0.0, 3.2e7, 12).tolist():
        for supply_c in (18.0, 22.0, 24.7):
            pricer = plant.pricer(t_s, supply_c)
            for it_w in rng.uniform(1e3, 2e6, 4).tolist():
                ref = plant.power_w(np.array([it_w]), np.array([t_s]), np.array([supply_c]))
                got = pricer.power_w(it_w)
                assert got == (
                    float(ref.cooling_w[0]),
                    float(ref.loss_w[0]),
                    float(ref.misc_w[0]),
                )


def test_pricer_hourly_climate_periods():
    """The climate period changes at each month of the normals: a new pricer per period."""
    plant = PlantFacility(
        plants=(typical_plant("hot-aisle-containment", 1e6, economizer="waterside"),),
        shares=(1.0,),
        climate=monthly_normals("tokyo"),
    )
    assert plant.climate_period(0.0) == 0
    assert plant.climate_period(40 * 86_400.0) == 1
    a = plant.pricer(10.0, 22.0).power_w(5e5)
    b = plant.pricer(200 * 86_400.0, 22.0).power_w(5e5)
    assert a[0] != b[0]  # winter and summer differ


def test_climate_period_span_holds_one_period():
    """Every instant of a span has the span's period; the span ends at the period's edge."""
    plant = PlantFacility(
        plants=(typical_plant("hot-aisle-containment", 1e6),),
        shares=(1.0,),
        climate=monthly_normals("osaka"),
        start_time_of_year_s=123_456.7,
    )
    rng = np.random.default_rng(8)
    for t_s in rng.uniform(0.0, 9.0e7, 40).tolist():
        idx, lo, hi = plant.climate_period_span(t_s)
        assert lo <= t_s < hi
        assert idx == plant.climate_period(t_s)
        for u in np.linspace(lo, np.nextafter(hi, lo), 9).tolist():
            assert plant.climate_period(u) == idx
        assert plant.climate_period(hi + 0.01) != idx  # the next month


@pytest.mark.parametrize("chiller", CHILLERS)
def test_scalar_plant_total_gives_the_same_bits(chiller):
    """plant_total_w (Python floats) == plant_power_at(one-element array).total_w, bit for bit,
    for every technology × chiller × economizer, loads from 0 to 1.3 × design, cool and hot
    outdoor conditions with and without a spread."""
    rng = np.random.default_rng(11)
    for tech in TYPICAL_PLANTS:
        for econ in ECONOMIZERS:
            plant = dataclasses.replace(typical_plant(tech, 1e6), chiller=chiller, economizer=econ)
            for db, spread in ((-5.0, 0.0), (12.0, 2.5), (24.0, 3.1), (38.0, 0.0)):
                wb = db - float(rng.uniform(0.0, 8.0))
                cond = plant_conditions(
                    np.array([db]),
                    np.array([wb]),
                    plant,
                    supply_air_temp_c=np.array([float(rng.uniform(16.0, 27.0))]),
                    outdoor_db_std_k=np.array([spread]),
                    outdoor_wb_std_k=np.array([spread]),
                )
                for q in [0.0, *rng.uniform(0.0, 1.3e6, 6).tolist()]:
                    ref = plant_power_at(np.array([q]), cond).total_w
                    got = plant_total_w(q, cond)
                    assert _bits(np.array([got]))[0] == _bits(ref)[0], (tech, econ, q)


@pytest.mark.parametrize("redundancy", ["N", "N+1", "2N"])
def test_scalar_chain_loss_gives_the_same_bits(redundancy):
    """The pricer's power-chain loss on Python floats == chain_loss_w of a one-element array."""
    prepared = prepare_scenario(load_spec(REPO_ROOT / "examples" / "hall-512-h100-rdhx.toml"))
    base = prepared.facility._plant.chain
    assert isinstance(base, PowerChain)
    rng = np.random.default_rng(2)
    for transformer in (base.transformer, base.pdu, None):
        chain = dataclasses.replace(base, redundancy=redundancy, transformer=transformer)
        for it_w in [0.0, *rng.uniform(1e3, 2e6, 20).tolist()]:
            ref = chain_loss_w(
                np.array([it_w]),
                chain.ups,
                chain.redundancy,
                n_ups_modules=chain.n_ups_modules,
                ups_rated_w=chain.ups_rated_w,
                pdu=chain.pdu,
                transformer=chain.transformer,
            )
            assert _bits(np.array([_chain_loss_w(chain, it_w)]))[0] == _bits(ref)[0]
