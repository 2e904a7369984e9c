"""PUE of typical designs against the LBNL 2024 bands, per design and city.

Shared by ``tests/physics/`` (which assert on the checks) and ``scripts/validation_report.py``
(which renders them into ``docs/validation.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from kiban.catalog import default_catalog
from kiban.physics.climate import monthly_normals
from kiban.physics.cooling import CoolingPlant, annual_pue
from kiban.physics.power_chain import PowerChain
from kiban.validation.checks import Row, Section, Table, holds, within

DESIGN_W = 1.0e6
IT_W = 0.7 * DESIGN_W
CITIES_WARM_ORDER = ("sapporo", "tokyo", "osaka")

# Same designs as tests/physics/test_pue_bands.py (tests/test_validation_doc.py checks that).
LEGACY_AIR = CoolingPlant(
    technology="air",
    design_heat_w=DESIGN_W,
    supply_air_temp_c=18.0,
    air_delta_t_k=10.0,
    chiller="moore_crac",
    economizer="none",
    fan_pressure_pa=500.0,
    fan_efficiency_frac=0.6,
    fan_min_speed_frac=0.6,
)
# The legacy air hall with a water-cooled chiller and a waterside economizer.
MIDSIZE_WATERSIDE = replace(
    LEGACY_AIR,
    coil_approach_k=8.0,
    chw_delta_t_k=6.0,
    chiller="water_cooled",
    cop_rated=5.5,
    economizer="waterside",
    tower_approach_k=4.0,
    hx_approach_k=2.0,
)
DIRECT_LIQUID = CoolingPlant(
    technology="direct_liquid",
    design_heat_w=DESIGN_W,
    liquid_capture_frac=0.85,
    supply_air_temp_c=24.0,
    air_delta_t_k=14.0,
    coil_approach_k=5.0,
    chiller="air_cooled",
    cop_rated=3.0,
    economizer="dry_cooler",
    liquid_supply_temp_c=32.0,
    liquid_delta_t_k=10.0,
    liquid_economizer="dry_cooler",
    drycooler_approach_k=10.0,
    fan_pressure_pa=300.0,
    fan_efficiency_frac=0.65,
)


def _ups_chain(ups_class: str, floor_pdu: str) -> PowerChain:
    """UPS of ``ups_class``, N+1 of 2 × 500 kW, rack PDU 1 %, then the floor PDU ``floor_pdu``."""
    cat = default_catalog()
    return PowerChain(
        cat.ups(ups_class),
        "N+1",
        2,
        DESIGN_W / 2,
        cat.pdu("rack-pdu-3ph-400v-32a"),
        cat.pdu(floor_pdu),
    )


def enterprise_chain() -> PowerChain:
    """Enterprise UPS, N+1 of 2 × 500 kW, rack PDU 1 %, floor transformer 1.9 %."""
    return _ups_chain("enterprise", "floor-pdu-transformer")


def hyperscale_chain() -> PowerChain:
    """Hyperscale/AI UPS, N+1 of 2 × 500 kW, rack PDU 1 %, transformer 0.4 %."""
    return _ups_chain("hyperscale", "floor-pdu-high-efficiency")


DESIGNS: dict[str, tuple[CoolingPlant, Callable[[], PowerChain], float, tuple[float, float]]] = {
    "legacy_air": (LEGACY_AIR, enterprise_chain, 0.02, (1.4, 1.9)),
    "midsize_waterside": (MIDSIZE_WATERSIDE, enterprise_chain, 0.02, (1.26, 1.50)),
    "direct_liquid_dry_cooler": (DIRECT_LIQUID, hyperscale_chain, 0.01, (1.05, 1.14)),
}
DESIGN_LABELS = {
    "legacy_air": ("legacy air (CRAC, no economizer)", "legacy air 1.4–1.9 (§9)"),
    "midsize_waterside": (
        "midsize waterside economizer",
        "midsize waterside economizer, median 1.38 (P5–P95 1.26–1.50)",
    ),
    "direct_liquid_dry_cooler": (
        "direct liquid + dry cooler",
        "IT liquid cooling, dry cooler, 1.09–1.10 (1.05–1.14)",
    ),
}


PUE_MEDIANS = {"midsize_waterside": 1.38}  # the one design whose LBNL median is a single number


def annual_design_pue(name: str, city: str) -> float:
    """Annual PUE of one design in one city at 70 % of design IT load (JMA normals)."""
    plant, chain, misc_frac, _ = DESIGNS[name]
    res = annual_pue(plant, IT_W, monthly_normals(city), chain(), misc_w=misc_frac * DESIGN_W)
    return res.pue


def section_pue() -> Section:
    """LBNL 2024 bands for three designs in three cities, and the climate ordering."""
    src = "LBNL 2024 (Shehabi et al., LBNL-2001637) Fig. 4.4/4.5 via physics.md §3.8/§9"
    rows: list[Row] = []
    values: dict[tuple[str, str], float] = {}
    for name, (_, _, _, (lo, hi)) in DESIGNS.items():
        label, band_text = DESIGN_LABELS[name]
        for city in CITIES_WARM_ORDER:
            values[name, city] = annual_design_pue(name, city)
            test = (
                "test_annual_pue_in_lbnl_2024_band_tokyo"
                if city == "tokyo"
                else "same band; the physics test enforces Tokyo"
            )
            rows.append(
                within(
                    f"annual PUE, {label}, {city.capitalize()}",
                    lo,
                    hi,
                    values[name, city],
                    published_text=band_text,
                    source=src,
                    test=test,
                    digits=2,
                    point=PUE_MEDIANS.get(name),
                )
            )
    order = []
    for name in ("midsize_waterside", "direct_liquid_dry_cooler"):
        v = [values[name, c] for c in CITIES_WARM_ORDER]
        order.append(
            holds(
                f"Sapporo < Tokyo < Osaka, {DESIGN_LABELS[name][0]}",
                "annual 9.2 / 15.8 / 17.1 °C: cooler climate, more economizer hours",
                " < ".join(f"{x:.4f}" for x in v),
                v[0] < v[1] < v[2],
                source="JMA 1991–2020 normals; physics.md §7.3",
                test="test_pue_orders_hokkaido_tokyo_osaka",
            )
        )
    return Section(
        "PUE of typical designs (kiban.physics.cooling.annual_pue)",
        "Annual energy-weighted PUE at 70 % of a 1 MW design, monthly JMA 1991–2020 normals, "
        "with the designs and power chains spelled out in `tests/physics/test_pue_bands.py` "
        "(misc load 2 % of design for air, 1 % for liquid).",
        (Table("LBNL 2024 bands", tuple(rows)), Table("Climate ordering", tuple(order))),
        notes=(
            "The legacy-air design uses the Moore COP, which has no outdoor term, so its PUE is "
            "the same in every city (a documented limit of the 2005 curve). LBNL's bands are "
            "U.S. simulations; the physics test holds only Tokyo to them.",
        ),
    )
