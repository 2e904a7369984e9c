"""Heat recirculation: Tang's room (the inlet temperatures of the published example).

Shared by ``tests/physics/`` (which assert on the checks) and ``scripts/validation_report.py``
(which renders them into ``docs/validation.md``).
"""

from __future__ import annotations

import numpy as np

from kiban._typing import FloatArray
from kiban.physics import recirculation
from kiban.validation.checks import Row, Section, Table, holds, within

TANG_CHASSIS_FLOW_M3_PER_S = 0.2454  # 520 CFM per chassis, Tang Table 1
TANG_RACK_FLOW_M3_PER_S = 5 * TANG_CHASSIS_FLOW_M3_PER_S
TANG_SUPPLY_M3_PER_S = 8.0  # one CRAC
TANG_SUPPLY_TEMP_C = 15.0
TANG_PEAK_BAND_C = (25.6, 30.5)  # XInt-GA .. MCE at 50 % load


def tang_room_inlets_c(
    load_frac: float, supply_m3_per_s: float | None = TANG_SUPPLY_M3_PER_S
) -> FloatArray:
    """Inlet temperatures of Tang's 10-rack room at a uniform load (as test_recirculation.py)."""
    x, y, row = recirculation.aisle_layout(2, 5, pitch_m=0.6, cold_aisle_width_m=1.2)
    a = recirculation.recirculation_matrix(
        x,
        y,
        row,
        rack_airflow_m3_per_s=TANG_RACK_FLOW_M3_PER_S,
        supply_airflow_m3_per_s=supply_m3_per_s,
    )
    d = recirculation.heat_distribution_matrix_k_per_w(a, TANG_RACK_FLOW_M3_PER_S)
    # Dell PowerEdge 1855 chassis: b = 2,020 W idle, a = 50 W per busy blade, 10 blades.
    rack_w = 5 * (2_020.0 + 50.0 * 10 * load_frac)
    return recirculation.inlet_temp_c(TANG_SUPPLY_TEMP_C, d, np.full(10, rack_w))


def section_recirculation() -> Section:
    """Tang 2008 room: peak inlet at 50 % load inside the published placement band."""
    src = "Tang, Gupta, Varsamopoulos, IEEE TPDS 19(11) 2008, §6.1–6.2; physics.md §3.3"
    peak = {lf: float(tang_room_inlets_c(lf).max()) for lf in (0.0, 0.5, 1.0)}
    ample = float(tang_room_inlets_c(0.5, supply_m3_per_s=None).max())
    rows = [
        within(
            "peak inlet, uniform placement, 50 % load, T_sup 15 °C",
            *TANG_PEAK_BAND_C,
            peak[0.5],
            unit="°C",
            digits=1,
            published_text="25.6 (XInt-GA) – 30.5 (MCE) °C",
            source=src,
            test="test_tang_room_peak_inlet_in_published_range",
        ),
        holds(
            "peak inlet idle (101 kW) < 50 % < full (126 kW)",
            "more load, hotter inlets",
            f"{peak[0.0]:.2f} < {peak[0.5]:.2f} < {peak[1.0]:.2f} °C",
            peak[0.0] < peak[0.5] < peak[1.0],
            source=src,
            test="test_tang_room_peak_inlet_in_published_range",
        ),
        Row(
            "peak inlet, 50 % load, supply air not limiting",
            "< 20 °C (supply deficit dominates)",
            src,
            f"{ample:.3f} °C",
            "—" if ample < 20.0 else f"{ample - 20.0:.3f} °C above",
            "< 20 °C (`test_tang_room_peak_inlet_in_published_range`)",
            ample < 20.0,
        ),
    ]
    return Section(
        "Heat recirculation (kiban.physics.recirculation)",
        "Tang's abstract heat-flow model t_in = t_sup + D·p, D = (K − AᵀK)⁻¹ − K⁻¹, with A from "
        "kiban's geometric recirculation model for Tang's CFD room (2 rows × 5 racks, 5 chassis "
        "of 520 CFM each, one CRAC at 8 m³/s, Dell PE1855 chassis 2,020 W idle + 50 W per busy "
        "blade). Test: `tests/physics/test_recirculation.py`.",
        (Table("Tang 2008 room", tuple(rows)),),
        notes=(
            "Tang's published band spans placement policies (coolest-inlet-first 30.5 °C to "
            "XInt-GA 25.6 °C); kiban's uniform placement must fall inside it. The A matrix is a "
            "parametric stand-in for CFD with ASSUMED amplitude and decay lengths.",
        ),
    )
