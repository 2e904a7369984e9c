"""The packaged hardware catalog: unit-suffixed columns, sources, and published spot values.

Spot values are from reference/physics.md (§1.1 GPU table, §1.2 systems, §4.2 floor loading,
§4.3 UPS bands, §9 defaults); tolerances are stated per check.
"""

from __future__ import annotations

import csv
from importlib import resources

import pytest
from tests.conftest import require_data

from kiban import units
from kiban.catalog import (
    DIMENSIONLESS_FIELDS,
    KINDS,
    Catalog,
    default_catalog,
    load_catalog,
    plausible_range,
)
from kiban.errors import CatalogError

CSV_FILES = ("gpus.csv", "servers.csv", "cooling.csv", "ups.csv", "pdu.csv")


def _rows(filename):
    text = resources.files("kiban").joinpath("data", filename).read_text(encoding="utf-8")
    reader = csv.DictReader(text.splitlines())
    return list(reader.fieldnames or []), list(reader)


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("filename", CSV_FILES)
def test_every_numeric_column_has_a_unit_suffix(filename):
    header, rows = _rows(filename)
    assert rows, f"{filename} is empty"
    numeric = [c for c in header if all(_is_number(r[c]) for r in rows if r[c] != "")]
    assert numeric, f"{filename} has no numeric column"
    bad = [c for c in numeric if units.unit_of(c) is None and c not in DIMENSIONLESS_FIELDS]
    assert not bad, f"{filename}: numeric columns without a unit suffix: {bad}"


@pytest.mark.parametrize("filename", CSV_FILES)
def test_every_row_has_a_source_citing_a_document_or_saying_assumed(filename):
    header, rows = _rows(filename)
    assert "source" in header
    for row in rows:
        source = row["source"].strip()
        assert source, f"{filename}: {row['name']} has an empty source"
        cites = ("physics.md", ".csv", ".yaml", "ASSUMED", "IEEE", "NVIDIA")
        assert any(c in source for c in cites), f"{filename}: {row['name']}: {source!r}"


@pytest.mark.parametrize("filename", CSV_FILES)
def test_shipped_values_are_inside_the_plausible_ranges_used_for_user_catalogs(filename):
    header, rows = _rows(filename)
    for row in rows:
        for col in header:
            bounds = plausible_range(col)
            if bounds is None or row[col] == "":
                continue
            low, high = bounds
            assert low <= float(row[col]) <= high, f"{filename}: {row['name']}.{col} = {row[col]}"


def test_required_names_exist():
    cat = default_catalog()
    for name in (
        "h100-sxm",
        "h100-pcie",
        "h200-sxm",
        "a100-sxm-80gb",
        "a100-pcie-80gb",
        "b200",
        "b200-nvl72",
        "l40s",
        "mi300x",
        "v100-sxm2",
        "p100-pcie-12gb",
        "p40",
        "a40",
        "rtx6000",
    ):
        assert cat.gpu(name).name == name
    for name in (
        "dgx-h100",
        "dgx-a100",
        "dgx-b200",
        "gb200-nvl72",
        "l40s-8x-pcie",
        "philly-2gpu",
        "philly-8gpu",
    ):
        assert cat.server(name).name == name
    for name in (
        "crac-raised-floor",
        "hot-aisle-containment",
        "rear-door-hx",
        "direct-liquid",
        "immersion-1p",
    ):
        assert cat.cooling(name).name == name
    for name in ("edge", "enterprise", "hyperscale"):
        assert cat.ups(name).name == name
    assert any(p.level == "rack" for p in cat.pdu_classes.values())
    assert any(p.level == "room" for p in cat.pdu_classes.values())


def test_dgx_h100_matches_the_user_guide():
    """NVIDIA DGX H100/H200 User Guide via physics.md §1.2: 10.2 kW, 130.45 kg, 8U, 1105 CFM."""
    dgx = default_catalog().server("dgx-h100")
    assert dgx.max_power_w == pytest.approx(10_200.0, rel=1e-9)
    assert dgx.weight_kg == pytest.approx(130.45, rel=1e-9)
    assert dgx.rack_units == 8
    assert dgx.n_gpus == 8
    assert dgx.gpu == "h100-sxm"
    assert dgx.airflow_m3_per_s == pytest.approx(1105 * units.M3_PER_S_PER_CFM, rel=1e-3)
    assert dgx.max_inlet_temp_c == 30.0
    # physics.md §1.2 derived check: exhaust rise at max power ≈ 16.4 K (±0.1 K).
    rise_k = dgx.max_power_w / (
        dgx.airflow_m3_per_s * units.AIR_DENSITY_KG_PER_M3 * units.AIR_SPECIFIC_HEAT_J_PER_KG_K
    )
    assert rise_k == pytest.approx(16.4, abs=0.1)


def test_h100_sxm_matches_nvidia_smi_values():
    """physics.md §1.1 H100 SXM5 row and §9: 700 W, 200 W min, 75/140 W idle, 1980 MHz."""
    gpu = default_catalog().gpu("h100-sxm")
    assert gpu.tdp_w == 700.0
    assert gpu.min_power_limit_w == 200.0
    assert gpu.idle_empty_power_w == 75.0
    assert gpu.idle_context_power_w == 140.0
    assert gpu.max_sm_clock_hz == pytest.approx(1980 * units.HZ_PER_MHZ)
    assert gpu.memory_b == pytest.approx(80 * units.B_PER_GB)
    assert (
        gpu.shutdown_temp_c,
        gpu.slowdown_temp_c,
        gpu.max_operating_temp_c,
        gpu.mem_max_temp_c,
    ) == (92.0, 89.0, 87.0, 95.0)
    assert gpu.die_to_inlet_k_per_w == pytest.approx(0.07)
    # §3.1 design bound: the default must not exceed (T_maxop − 30 °C)/TDP.
    assert gpu.die_to_inlet_k_per_w <= (gpu.max_operating_temp_c - 30.0) / gpu.tdp_w
    assert gpu.thermal_time_constant_s == 30.0
    assert gpu.cooling == "air"


@pytest.mark.parametrize(
    ("name", "tdp_w", "memory_gb", "bw_gb_per_s"),
    [
        ("h100-pcie", 350, 80, 2000),
        ("h200-sxm", 700, 141, 4800),
        ("a100-sxm-80gb", 400, 80, 2039),
        ("a100-pcie-80gb", 300, 80, 1935),
        ("b200", 1000, 180, 8000),
        ("b200-nvl72", 1200, 186, 8000),
        ("l40s", 350, 48, 864),
        ("mi300x", 750, 192, 5300),
    ],
)
def test_gpu_table_spot_values(name, tdp_w, memory_gb, bw_gb_per_s):
    """physics.md §1.1 per-GPU table (TDP, memory, bandwidth), exact to the printed digits."""
    gpu = default_catalog().gpu(name)
    assert gpu.tdp_w == pytest.approx(tdp_w, rel=1e-9)
    assert gpu.memory_b == pytest.approx(memory_gb * units.B_PER_GB, rel=1e-9)
    assert gpu.memory_bw_b_per_s == pytest.approx(bw_gb_per_s * units.B_PER_GB, rel=1e-9)


def test_a100_values_and_design_bound_thermal_resistance():
    """physics.md §1.1 A100 rows and §3.1: R_th ≤ (85 − 30)/400 = 0.138 K/W."""
    cat = default_catalog()
    sxm, pcie = cat.gpu("a100-sxm-80gb"), cat.gpu("a100-pcie-80gb")
    assert (sxm.min_power_limit_w, sxm.idle_empty_power_w) == (100.0, 52.0)
    assert (pcie.min_power_limit_w, pcie.idle_empty_power_w) == (150.0, 65.0)
    assert sxm.max_sm_clock_hz == pytest.approx(1410e6)
    assert sxm.die_to_inlet_k_per_w == pytest.approx(0.138, abs=1e-3)


def test_zeus_and_philly_gpus_power_limits():
    """Zeus traces (max power limit) and the Philly/RAPS configs: the brief's TDPs."""
    cat = default_catalog()
    expected = {"v100-sxm2": 300, "p100-pcie-12gb": 250, "p40": 250, "a40": 300, "rtx6000": 260}
    for name, tdp in expected.items():
        assert cat.gpu(name).tdp_w == tdp
    assert "WEAK" in cat.gpu("v100-sxm2").source


def test_power_model_defaults_cite_the_zeus_fit():
    """γ and s come from the Zeus fit (physics.md §2.3: γ 2.88, s 0.36; §9: γ 2–3, s 0.2–0.5).

    tests/physics/test_gpu_power.py checks them against the shipped fit to 2 %; here we check that
    every record cites the fit and stays inside the published sensitivity ranges.
    """
    for gpu in default_catalog().gpus.values():
        assert 2.0 <= gpu.power_exponent <= 3.0
        assert 0.2 <= gpu.static_power_frac <= 0.5
        assert "scripts/fit_gpu_power.py" in gpu.source


def test_gb200_nvl72_rack_and_floor_load():
    """physics.md §1.2 and §4.2: 120 kW, 1,360 kg on 0.6 × 1.068 m → ≈ 20.8 kPa (±0.1)."""
    nvl = default_catalog().server("gb200-nvl72")
    assert nvl.is_rack_scale
    assert nvl.n_gpus == 72
    assert nvl.gpu == "b200-nvl72"
    assert nvl.max_power_w == pytest.approx(120_000.0)
    assert nvl.weight_kg == pytest.approx(1360.0)
    assert nvl.footprint_m2 == pytest.approx(0.6 * 1.068, rel=1e-3)
    load_kpa = nvl.weight_kg * units.G_STANDARD_M_PER_S2 / nvl.footprint_m2 / units.PA_PER_KPA
    assert load_kpa == pytest.approx(20.8, abs=0.1)
    assert nvl.liquid_capture_frac == pytest.approx(0.85)


def test_other_systems():
    """physics.md §1.2: DGX A100 6.5 kW / 123.16 kg / 6U; DGX B200 14.3 kW / 10U / 1,550 CFM."""
    cat = default_catalog()
    a100 = cat.server("dgx-a100")
    assert (a100.max_power_w, a100.weight_kg, a100.rack_units) == (6500.0, 123.16, 6)
    b200 = cat.server("dgx-b200")
    assert (b200.max_power_w, b200.rack_units) == (14_300.0, 10)
    assert b200.airflow_m3_per_s == pytest.approx(1550 * units.M3_PER_S_PER_CFM, rel=1e-3)


def test_server_power_budget_is_self_consistent():
    """max_power_w = (GPUs·TDP + host max + fans)/PSU efficiency, within 1 %."""
    cat = default_catalog()
    for srv in cat.servers.values():
        gpu = cat.server_gpu(srv)
        dc_w = srv.n_gpus * gpu.tdp_w + srv.host_max_power_w + srv.fan_max_power_w
        assert dc_w / srv.psu_efficiency_frac == pytest.approx(srv.max_power_w, rel=0.01), srv.name
        assert 0.0 <= srv.host_idle_power_w <= srv.host_max_power_w


def test_philly_servers_match_the_machine_list(data_root):
    """philly/cluster_machine_list.csv: 321 × 2-GPU 12 GB and 231 × 8-GPU 24 GB machines."""
    path = require_data(data_root, "philly", "cluster_machine_list.csv")
    with path.open(encoding="utf-8") as fh:
        rows = [[c.strip() for c in r] for r in csv.reader(fh)][1:]
    shapes = {}
    for _machine, n_gpus, mem in rows:
        shapes[(int(n_gpus), mem)] = shapes.get((int(n_gpus), mem), 0) + 1
    assert shapes == {(2, "12GB"): 321, (8, "24GB"): 231}
    cat = default_catalog()
    two, eight = cat.server("philly-2gpu"), cat.server("philly-8gpu")
    assert two.n_gpus == 2
    assert cat.server_gpu(two).memory_b == pytest.approx(12 * units.B_PER_GB)
    assert eight.n_gpus == 8
    assert cat.server_gpu(eight).memory_b == pytest.approx(24 * units.B_PER_GB)


def test_cooling_pue_bands_and_capacities():
    """physics.md §9 PUE defaults and ranges; §4.1 air limit 25–30 kW; §9 NVL72 120 kW."""
    cat = default_catalog()
    crac = cat.cooling("crac-raised-floor")
    assert (crac.pue_low, crac.pue_typical, crac.pue_high) == (1.4, 1.55, 1.9)
    assert 25_000 <= crac.max_rack_power_w <= 30_000
    hot = cat.cooling("hot-aisle-containment")
    assert (hot.pue_low, hot.pue_typical, hot.pue_high) == (1.1, 1.2, 1.3)
    dlc = cat.cooling("direct-liquid")
    assert (dlc.pue_low, dlc.pue_typical, dlc.pue_high) == (1.05, 1.1, 1.15)
    assert dlc.max_rack_power_w >= cat.server("gb200-nvl72").max_power_w
    assert dlc.liquid_capture_frac == pytest.approx(0.85)
    imm = cat.cooling("immersion-1p")
    assert (imm.pue_low, imm.pue_typical, imm.pue_high) == (1.03, 1.08, 1.12)
    for tech in cat.cooling_techs.values():
        assert tech.pue_typical is not None
        assert tech.pue_low <= tech.pue_typical <= tech.pue_high
        assert tech.supply_temp_min_c < tech.supply_temp_max_c


@pytest.mark.parametrize("name", ["edge", "enterprise", "hyperscale"])
def test_ups_efficiency_at_half_load_is_inside_the_lbnl_band(name):
    """LBNL 2024 Table 4.3 (physics.md §4.3): edge 77–85, enterprise 80–94, hyperscale 90–99 %."""
    ups = default_catalog().ups(name)
    x = 0.5
    loss = ups.no_load_loss_frac + ups.proportional_loss_frac * x + ups.square_loss_frac * x**2
    eff = x / (x + loss)
    assert ups.efficiency_low_frac <= eff <= ups.efficiency_high_frac


def test_enterprise_ups_uses_the_physics_md_defaults():
    """physics.md §4.3 suggested defaults L0 = 0.03, L1 = 0.02, L2 = 0.01."""
    ups = default_catalog().ups("enterprise")
    assert (ups.no_load_loss_frac, ups.proportional_loss_frac, ups.square_loss_frac) == (
        0.03,
        0.02,
        0.01,
    )


def test_unknown_name_suggests_the_closest():
    cat = default_catalog()
    with pytest.raises(CatalogError, match=r"did you mean 'dgx-h100'"):
        cat.server("dgx-h10")
    with pytest.raises(KeyError):  # CatalogError is also a KeyError
        cat.gpu("h100sxm")
    with pytest.raises(CatalogError, match="crac-raised-floor"):
        cat.cooling("crac")
    kind, rec = cat.find("rear-door-hx")
    assert kind == "cooling"
    assert rec.name == "rear-door-hx"
    with pytest.raises(CatalogError, match="did you mean"):
        cat.find("hyperscal")


def test_default_catalog_is_cached_and_read_only():
    cat = default_catalog()
    assert default_catalog() is cat
    assert isinstance(cat, Catalog)
    with pytest.raises(TypeError):
        cat.gpus["x"] = cat.gpu("h100-sxm")  # type: ignore[index]
    for kind in KINDS:
        assert len(cat.table(kind)) >= 3


def test_load_catalog_without_user_file_equals_default():
    assert load_catalog().gpus == default_catalog().gpus
