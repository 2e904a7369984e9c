"""Hot-air recirculation between racks: Tang's heat-distribution matrix and a geometric A model.

Tang, Gupta and Varsamopoulos (IEEE TPDS 19(11), 2008) model the room as a linear map from rack
power to inlet temperature::

    t_in = t_sup + D · p,        D = (K − AᵀK)⁻¹ − K⁻¹,     K = diag(ρ c_p f_i)

where ``A[i, j]`` is the fraction of rack i's exhaust that enters rack j's inlet. Tang obtains A
from CFD. kiban has no CFD, so :func:`recirculation_matrix` builds A from the floor layout with a
**parametric stand-in for CFD** (documented there and calibrated against Tang's room), and
:func:`air_handling_power_w` prices the opposite effect: spreading racks over more floor makes the
air handlers move more bypass air. Together they give the planner a spacing trade-off with an
interior optimum (:func:`spacing_tradeoff`).

Conventions: racks are indexed ``0..n-1``; rows run along x; aisles run along x too and are
separated in y. Temperatures °C, power W, lengths m, airflow m³/s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from kiban.errors import ConfigError
from kiban.units import AIR_DENSITY_KG_PER_M3, AIR_SPECIFIC_HEAT_J_PER_KG_K

if TYPE_CHECKING:
    from kiban._typing import ArrayLike, FloatArray, IntArray

__all__ = [
    "BYPASS_REF_FRAC",
    "CONTAINMENT_FACTOR",
    "DEFICIT_TOP_FACTOR",
    "FAN_EFFICIENCY_FRAC",
    "FAN_PRESSURE_PA",
    "MAX_RECIRCULATION_FRAC",
    "OPEN_AISLE_WIDTH_M",
    "RACK_DEPTH_M",
    "RECIRC_AISLE_DECAY_M",
    "RECIRC_AMPLITUDE_FRAC",
    "RECIRC_ROW_DECAY_M",
    "REF_AREA_PER_RACK_M2",
    "Containment",
    "SpacingTradeoff",
    "air_handling_power_w",
    "aisle_layout",
    "bypass_frac",
    "heat_distribution_matrix_k_per_w",
    "inlet_temp_c",
    "max_supply_temp_c",
    "recirculation_matrix",
    "spacing_tradeoff",
    "supply_airflow_m3_per_s",
]

Containment = Literal["none", "hot-aisle", "cold-aisle"]

_RHO_CP_J_PER_M3_K = AIR_DENSITY_KG_PER_M3 * AIR_SPECIFIC_HEAT_J_PER_KG_K

# --- parameters of the geometric recirculation model (calibration: see recirculation_matrix) ---

RECIRC_AMPLITUDE_FRAC = 0.075
"""Share of a rack's exhaust that would reach its own top inlet with a zero-width hot aisle."""

RECIRC_ROW_DECAY_M = 0.9
"""e-folding distance of recirculation along a row (two 600 mm racks)."""

RECIRC_AISLE_DECAY_M = 1.2
"""e-folding distance of recirculation across aisles (from the hot-aisle centre to an inlet)."""

RACK_DEPTH_M = 1.2
"""Rack depth including doors (42U/48U racks are 1.0–1.2 m deep)."""

OPEN_AISLE_WIDTH_M = 2.4
"""Width assumed for a hot aisle with no facing row (against a wall or open room)."""

DEFICIT_TOP_FACTOR = 5.0 / 3.0
"""Ratio of the top inlet's room-air share to the rack mean in an under-supplied room: floor
tiles feed the lower servers first (Tang Fig. 7: chassis A–B near supply temperature at idle),
so the missing air enters the upper part of the rack; taken as the upper three of five chassis."""

MAX_RECIRCULATION_FRAC = 0.9
"""Ceiling on any rack's exhaust share sent to inlets and on any inlet's recirculated share."""

CONTAINMENT_FACTOR: dict[str, float] = {"none": 1.0, "hot-aisle": 0.1, "cold-aisle": 0.15}
"""Multiplier on recirculation (and on bypass air) by containment. Open aisles recirculate
≈ 0.1–0.2 of exhaust and contained ones ≈ 0.02 (kiban catalog ``CoolingTech.recirculation_frac``
notes), i.e. ×0.1–0.2; hot-aisle containment is taken as the tighter of the two [weak]."""

# --- parameters of the air-handling model -----------------------------------------------------

REF_AREA_PER_RACK_M2 = 1.44
"""Floor area per rack of the reference packed layout: 0.6 m pitch × (1.2 m rack + ½ of a 1.2 m
cold aisle + ½ of a 1.2 m hot aisle) = 0.6 × 2.4 m²."""

BYPASS_REF_FRAC = 0.15
"""Bypass air (supplied air that returns without passing through IT) at the reference layout, as
a fraction of IT airflow; well-managed open hot/cold aisles run 10–20 %, while surveys of legacy
rooms found ≈ 60 % (Uptime Institute bypass-airflow study, 2004) [R, weak]."""

FAN_PRESSURE_PA = 300.0
"""CRAH total pressure rise at design airflow: coil + filters + raised-floor tiles, typically
200–600 Pa [R, weak]."""

FAN_EFFICIENCY_FRAC = 0.6
"""CRAH fan + motor + drive efficiency (EC plug fans 0.5–0.7) [R, weak]."""


def _f64(value: ArrayLike) -> FloatArray:
    return np.asarray(value, dtype=np.float64)


def _containment_factor(containment: str, where: str) -> float:
    if containment not in CONTAINMENT_FACTOR:
        allowed = ", ".join(repr(c) for c in get_args(Containment))
        msg = f"{where}: containment = {containment!r}: allowed {allowed}"
        raise ConfigError(msg)
    return CONTAINMENT_FACTOR[containment]


# --- Tang's linear heat model -----------------------------------------------------------------


def heat_distribution_matrix_k_per_w(
    a_matrix: ArrayLike, airflow_m3_per_s: ArrayLike
) -> FloatArray:
    """Tang's heat-distribution matrix D, mapping rack power to inlet temperature rise.

    Equation (Tang et al. 2008, §2)::

        D = (K − AᵀK)⁻¹ − K⁻¹ = K⁻¹ (I − Aᵀ)⁻¹ Aᵀ,      K = diag(ρ c_p f_i)

    The second form (identical algebraically) is evaluated with ``numpy.linalg.solve`` on
    ``(I − Aᵀ) X = Aᵀ``, avoiding an explicit inverse and the cancellation of the first form.
    ``D[j, i]`` is the inlet rise of rack j per watt dissipated in rack i.

    Args:
        a_matrix: Recirculation matrix A, shape ``(n, n)``; ``A[i, j]`` = fraction of rack i's
            exhaust that enters rack j's inlet (≥ 0; physically every inlet share
            Σ_i A_ij f_i / f_j < 1, i.e. every column sum < 1 for equal flows).
        airflow_m3_per_s: Airflow through each rack, m³/s, scalar or shape ``(n,)`` (> 0).

    Returns:
        D in K/W, shape ``(n, n)``, non-negative.

    Raises:
        ConfigError: A is not square, has negative entries, or none of its max inlet share,
            max column sum and max row sum is below 1 (no bound on the spectral radius below 1:
            the room may have no steady state).

    Valid range:
        Linear, steady-state, constant flows (Tang: new steady state 10–20 min after a change).

    References:
        Tang, Gupta, Varsamopoulos, "Energy-Efficient Thermal-Aware Task Scheduling for
        Homogeneous HPC Data Centers: A Cyber-Physical Approach", IEEE TPDS 19(11):1458–1472,
        2008, eq. (5)–(6) and Table 1; physics.md §3.3.

    Examples:
        >>> a = np.array([[0.0, 0.2], [0.0, 0.0]])
        >>> d = heat_distribution_matrix_k_per_w(a, 0.2454)
        >>> round(float(d[1, 0]) * 1000.0, 4)  # K per kW: 0.2 / (ρ c_p f)
        0.6815
    """
    a = _f64(a_matrix)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        msg = f"heat_distribution_matrix_k_per_w: a_matrix shape = {a.shape}: must be (n, n)"
        raise ConfigError(msg)
    n = a.shape[0]
    if np.any(a < 0.0):
        msg = (
            f"heat_distribution_matrix_k_per_w: a_matrix min = {float(a.min())}: "
            "recirculation fractions must be ≥ 0"
        )
        raise ConfigError(msg)
    flow = np.broadcast_to(_f64(airflow_m3_per_s), (n,))
    # A steady state (and a non-negative D, by the Neumann series) needs spectral radius of A
    # below 1. Any induced norm bounds it: the column sums, the row sums, or the inlet shares
    # Σ_i A_ij f_i / f_j (row sums of diag(f)⁻¹ Aᵀ diag(f), similar to Aᵀ). One below 1 suffices.
    share = (a * flow[:, None]).sum(axis=0) / flow
    bounds = (share.max(), a.sum(axis=0).max(), a.sum(axis=1).max()) if n else (0.0,)
    if float(min(bounds)) >= 1.0:
        j = int(np.argmax(share))
        msg = (
            f"heat_distribution_matrix_k_per_w: inlet {j} recirculated share = "
            f"{float(share[j])} (flow-weighted column sum of a_matrix): must be < 1"
        )
        raise ConfigError(msg)
    k_w_per_k = _RHO_CP_J_PER_M3_K * flow
    at = a.T
    x = np.linalg.solve(np.eye(n) - at, at)
    return np.asarray(x / k_w_per_k[:, None], dtype=np.float64)


def inlet_temp_c(
    supply_temp_c: ArrayLike, d_matrix: ArrayLike, rack_power_w: ArrayLike
) -> FloatArray:
    """Rack inlet temperatures from supply temperature, D and rack power.

    Equation: ``t_in = t_sup + D · p`` (Tang et al. 2008, eq. (6)).

    Args:
        supply_temp_c: Cooling-unit supply air temperature, °C; scalar, per rack ``(n,)``, or
            anything broadcasting against the result (use shape ``(m, 1)`` for a batch).
        d_matrix: Heat-distribution matrix, K/W, shape ``(n, n)``.
        rack_power_w: Heat into the room air per rack, W, shape ``(n,)`` or a batch ``(m, n)``.

    Returns:
        Inlet temperatures, °C, shape of ``rack_power_w`` (broadcast with ``supply_temp_c``).

    References:
        Tang et al., IEEE TPDS 19(11) 2008; physics.md §3.3.

    Examples:
        >>> d = np.array([[0.0, 0.0], [1e-4, 0.0]])
        >>> inlet_temp_c(18.0, d, [10_000.0, 0.0]).tolist()
        [18.0, 19.0]
    """
    p = _f64(rack_power_w)
    d = _f64(d_matrix)
    return np.asarray(_f64(supply_temp_c) + p @ d.T, dtype=np.float64)


def max_supply_temp_c(
    redline_temp_c: ArrayLike, d_matrix: ArrayLike, rack_power_w: ArrayLike
) -> FloatArray:
    """Highest supply temperature that keeps every inlet at or below the redline.

    Equation (Tang et al. 2008, eq. (7), raising the supply by the slack)::

        T_sup,max = T_red − max_i (D · p)_i

    Args:
        redline_temp_c: Maximum allowed inlet temperature, °C (Tang: 25 °C; ASHRAE recommended
            upper 27 °C; DGX H100 allowable 30 °C); scalar or shape ``(m,)`` for a batch.
        d_matrix: Heat-distribution matrix, K/W, shape ``(n, n)``.
        rack_power_w: Rack power, W, shape ``(n,)`` or ``(m, n)``.

    Returns:
        Supply temperature in °C: a scalar array, or shape ``(m,)`` for a batch.

    References:
        Tang et al., IEEE TPDS 19(11) 2008, eq. (7); physics.md §3.3.

    Examples:
        >>> d = np.array([[0.0, 0.0], [1e-4, 0.0]])
        >>> float(max_supply_temp_c(27.0, d, [10_000.0, 0.0]))
        26.0
    """
    rise_k = inlet_temp_c(0.0, d_matrix, rack_power_w)
    return np.asarray(_f64(redline_temp_c) - rise_k.max(axis=-1), dtype=np.float64)


# --- geometry --------------------------------------------------------------------------------


def aisle_layout(
    n_rows: int,
    racks_per_row: int,
    *,
    pitch_m: float = 0.6,
    cold_aisle_width_m: float = 1.2,
    hot_aisle_width_m: float = 1.2,
    rack_depth_m: float = RACK_DEPTH_M,
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Rack centres of a regular hot-aisle/cold-aisle hall.

    Rows run along x with ``pitch_m`` between rack centres. Row 0 sits at the bottom (y = depth/2)
    and the gaps between consecutive rows alternate cold, hot, cold, … — rows 0 and 1 face each
    other across a cold aisle, the default orientation of :func:`recirculation_matrix`.

    Args:
        n_rows: Number of rows (≥ 1).
        racks_per_row: Racks per row (≥ 1).
        pitch_m: Centre-to-centre spacing along a row, m (≥ rack width, 0.6 m).
        cold_aisle_width_m: Front-to-front clearance, m.
        hot_aisle_width_m: Back-to-back clearance, m.
        rack_depth_m: Rack depth, m.

    Returns:
        ``(rack_x_m, rack_y_m, row_idx)``, each of shape ``(n_rows·racks_per_row,)``, row-major.

    Examples:
        >>> x, y, r = aisle_layout(2, 2, pitch_m=0.6)
        >>> x.round(2).tolist(), y.round(2).tolist(), r.tolist()
        ([0.3, 0.9, 0.3, 0.9], [0.6, 0.6, 3.0, 3.0], [0, 0, 1, 1])
    """
    gaps = np.where(np.arange(max(n_rows - 1, 0)) % 2 == 0, cold_aisle_width_m, hot_aisle_width_m)
    row_y = rack_depth_m / 2.0 + np.concatenate([[0.0], np.cumsum(gaps + rack_depth_m)])
    col_x = pitch_m * (np.arange(racks_per_row) + 0.5)
    x = np.tile(col_x, n_rows)
    y = np.repeat(row_y, racks_per_row)
    row = np.repeat(np.arange(n_rows, dtype=np.int64), racks_per_row)
    return x.astype(np.float64), y.astype(np.float64), row


def recirculation_matrix(
    rack_x_m: ArrayLike,
    rack_y_m: ArrayLike,
    row_idx: ArrayLike,
    *,
    containment: Containment = "none",
    exhaust_sign: ArrayLike | None = None,
    rack_depth_m: float = RACK_DEPTH_M,
    open_aisle_width_m: float = OPEN_AISLE_WIDTH_M,
    amplitude_frac: float = RECIRC_AMPLITUDE_FRAC,
    row_decay_m: float = RECIRC_ROW_DECAY_M,
    aisle_decay_m: float = RECIRC_AISLE_DECAY_M,
    containment_factor: float | None = None,
    max_recirculation_frac: float = MAX_RECIRCULATION_FRAC,
    rack_airflow_m3_per_s: ArrayLike | None = None,
    supply_airflow_m3_per_s: float | None = None,
    deficit_top_factor: float = DEFICIT_TOP_FACTOR,
) -> FloatArray:
    """Recirculation matrix A built from rack positions: a parametric stand-in for CFD.

    ``A[i, j]`` is the fraction of rack i's exhaust that enters rack j's inlet, where a rack's
    inlet stands for its **hottest (top-of-rack) server inlet** — the one a redline applies to.

    Model. Each rack blows its exhaust along ``±y`` (``exhaust_sign``) into a hot aisle of
    width ``w_i`` (the gap to the facing row's exhaust face, or ``open_aisle_width_m`` if no row
    faces it). Hot air wraps over rack tops into the cold aisles and is drawn into inlets; the
    share decays with the horizontal path length from the centre of i's hot aisle to j's inlet
    face::

        A_geo[i, j] = a · c · exp(−|x_i − x_j| / λ_row) · exp(−max(0, s_ij − d) / λ_aisle)
        s_ij = |y_hot,i − y_in,j|,   y_hot,i = y_i + σ_i (d + w_i)/2,   y_in,j = y_j − σ_j d/2

    with rack depth d, exhaust direction σ = ±1, amplitude a, containment factor c
    (:data:`CONTAINMENT_FACTOR`). It captures the top-of-rack wrap-around onto a rack's own inlet
    (s − d = w/2), the facing row across the hot aisle (same), the row across the cold aisle
    (s − d = w/2 + cold aisle width) and within-row neighbours (the x factor). Packing racks
    tighter (smaller pitch) or narrowing aisles shortens the paths and raises A; containment
    cuts it. Rows then scale down so that no rack sends more than ``max_recirculation_frac`` of
    its exhaust, and columns so that no inlet takes more than that share of recirculated air.

    Under-supplied rooms. If ``supply_airflow_m3_per_s`` is below the racks' total airflow F,
    the missing fraction ``m = 1 − V̇_sup / F`` of the intake must be room air, a flow-weighted
    mix of all exhausts. Floor tiles feed the lower servers first, so the top inlet takes more
    than the mean: ``m_top = min(cap, φ·m)`` with φ = ``deficit_top_factor`` (5/3: the deficit
    falls on the upper three of five chassis, after Tang's Fig. 7), added as
    ``A[i, j] += (1 − g_j) · m_top · f_j / F`` where ``g_j`` is inlet j's geometric share (so the
    inlet share becomes ``g_j + (1 − g_j)·m_top``).

    Calibration. ``a = 0.075``, ``λ_row = 0.9 m``, ``λ_aisle = 1.2 m``, φ = 5/3 are chosen so
    that Tang's room — two rows of five 42U racks facing a 1.2 m cold aisle, 0.6 m pitch, open
    hot aisles 2.4 m to the walls of the 9.6 × 8.4 m room, 5 chassis × 0.2454 m³/s per rack,
    one CRAC supplying 8 m³/s at 15 °C, 50 % load (113.5 kW) — gives a peak inlet inside Tang's
    published CFD range of 25.6–30.5 °C (27.5 °C here; tests/physics/test_recirculation.py).
    Most of that rise comes from the room's 35 % supply deficit (8 of 12.3 m³/s); the
    geometric part alone gives a top-inlet share of 8–10 % there. In a hall with enough supply
    air, an interior rack of a long open row at 0.6 m pitch with 1.2 m aisles takes ≈ 32 % of
    its top inlet air from exhausts (≈ 3 % with hot-aisle containment): with a 14 K exhaust
    rise the hottest inlet sits ≈ 6 K above supply, in line with the 5–10 K top-to-bottom
    spreads usual in open-aisle rooms [weak]. This is a stand-in for CFD with one published
    calibration point, not a fitted flow model: use it for trends (density, spacing,
    containment, placement) and replace A with CFD or measured perturbation data where
    available (Tang §2.3). The rack-level A also treats the whole rack's intake as if it were
    at the top inlet's temperature when D feeds exhaust back to inlets, which errs hot.

    Args:
        rack_x_m: Rack centre along the rows, m, shape ``(n,)``.
        rack_y_m: Rack centre across the rows, m, shape ``(n,)``.
        row_idx: Row of each rack (integers; rows are ranked by their mean y), shape ``(n,)``.
        containment: ``"none"``, ``"hot-aisle"`` or ``"cold-aisle"``.
        exhaust_sign: +1 where a rack exhausts toward +y, −1 toward −y, shape ``(n,)``. Default:
            rows ranked by y alternate −1, +1, −1, … (rows 0 and 1 share a cold aisle, as
            :func:`aisle_layout` builds them).
        rack_depth_m: Rack depth d, m.
        open_aisle_width_m: Hot-aisle width used where no row faces the exhaust, m.
        amplitude_frac: Amplitude a (calibrated; see above).
        row_decay_m: λ_row, m.
        aisle_decay_m: λ_aisle, m.
        containment_factor: Override of the containment multiplier c.
        max_recirculation_frac: Ceiling on row sums and on inlet shares (< 1).
        rack_airflow_m3_per_s: Airflow per rack, m³/s, scalar or ``(n,)``; needed with
            ``supply_airflow_m3_per_s`` and used to weigh inlet shares (default: equal flows).
        supply_airflow_m3_per_s: Total cooling-unit supply airflow, m³/s (None: enough supply).
        deficit_top_factor: φ, the top inlet's share of a supply deficit relative to the mean.

    Returns:
        A, shape ``(n, n)``, entries in [0, 1), each column (inlet share) and row sum
        ≤ ``max_recirculation_frac`` plus any supply-deficit term.

    Raises:
        ConfigError: Unknown containment, mismatched shapes, or a supply airflow given without
            rack airflow.

    References:
        Tang, Gupta, Varsamopoulos, IEEE TPDS 19(11) 2008, §2 (A and D) and §6.1 (room: 9.6 ×
        8.4 × 3.6 m, two rows, 10 racks × 5 chassis, 520 CFM per chassis, CRAC 8 m³/s, peak inlet
        30.5 / 26.3 / 25.6 °C at T_sup = 15 °C for MCE / MinHR-m / XInt-GA at 50 % load);
        physics.md §3.3.
    """
    x = _f64(rack_x_m)
    y = _f64(rack_y_m)
    row = np.asarray(row_idx)
    n = x.shape[0] if x.ndim == 1 else -1
    if x.ndim != 1 or y.shape != (n,) or row.shape != (n,):
        msg = (
            f"recirculation_matrix: rack_x_m {x.shape}, rack_y_m {y.shape}, row_idx {row.shape}: "
            "must be 1-D arrays of the same length"
        )
        raise ConfigError(msg)
    c = (
        _containment_factor(containment, "recirculation_matrix")
        if containment_factor is None
        else float(containment_factor)
    )
    if n == 0:
        return np.zeros((0, 0), dtype=np.float64)

    # Rows: mean y, rank, exhaust direction.
    rows, row_of = np.unique(row, return_inverse=True)
    n_rows = rows.shape[0]
    row_y = np.bincount(row_of, weights=y, minlength=n_rows) / np.bincount(row_of, minlength=n_rows)
    rank = np.empty(n_rows, dtype=np.int64)
    rank[np.argsort(row_y, kind="stable")] = np.arange(n_rows)
    if exhaust_sign is None:
        sign = np.where(rank[row_of] % 2 == 0, -1.0, 1.0)
    else:
        sign = np.sign(np.broadcast_to(_f64(exhaust_sign), (n,)))
    row_sign = np.bincount(row_of, weights=sign, minlength=n_rows)
    row_sign = np.where(row_sign >= 0.0, 1.0, -1.0)

    # Hot-aisle width per row: gap to the nearest row that exhausts back toward it.
    ahead_m = (row_y[None, :] - row_y[:, None]) * row_sign[:, None]  # [r, q]
    facing = (row_sign[None, :] == -row_sign[:, None]) & (ahead_m > 0.0)
    gap_m = np.where(facing, ahead_m - rack_depth_m, np.inf).min(axis=1)
    width_m = np.where(np.isfinite(gap_m), np.maximum(gap_m, 0.0), open_aisle_width_m)
    w = width_m[row_of]

    y_hot = y + sign * (rack_depth_m + w) / 2.0
    y_in = y - sign * rack_depth_m / 2.0
    s_m = np.abs(y_hot[:, None] - y_in[None, :])
    dx_m = np.abs(x[:, None] - x[None, :])
    a = (
        amplitude_frac
        * c
        * np.exp(-dx_m / row_decay_m)
        * np.exp(-np.maximum(s_m - rack_depth_m, 0.0) / aisle_decay_m)
    )

    if rack_airflow_m3_per_s is None:
        if supply_airflow_m3_per_s is not None:
            msg = (
                "recirculation_matrix: supply_airflow_m3_per_s given without "
                "rack_airflow_m3_per_s: pass the airflow of each rack"
            )
            raise ConfigError(msg)
        flow = np.ones(n)
    else:
        flow = np.broadcast_to(_f64(rack_airflow_m3_per_s), (n,)).astype(np.float64)

    # Caps: exhaust share sent (row sums), then inlet share taken (flow-weighted column sums).
    row_sum = a.sum(axis=1)
    a = a * np.minimum(1.0, max_recirculation_frac / np.maximum(row_sum, 1e-300))[:, None]
    share = (a * flow[:, None]).sum(axis=0) / flow
    a = a * np.minimum(1.0, max_recirculation_frac / np.maximum(share, 1e-300))[None, :]

    if supply_airflow_m3_per_s is not None:
        total_m3_per_s = float(flow.sum())
        deficit_frac = max(0.0, 1.0 - float(supply_airflow_m3_per_s) / total_m3_per_s)
        top_frac = min(max_recirculation_frac, deficit_top_factor * deficit_frac)
        g = (a * flow[:, None]).sum(axis=0) / flow
        a = a + ((1.0 - g) * top_frac * flow / total_m3_per_s)[None, :]
    return np.asarray(a, dtype=np.float64)


# --- air handling ---------------------------------------------------------------------------


def bypass_frac(
    area_per_rack_m2: ArrayLike,
    *,
    containment: Containment = "none",
    bypass_ref_frac: float = BYPASS_REF_FRAC,
    ref_area_per_rack_m2: float = REF_AREA_PER_RACK_M2,
) -> FloatArray:
    """Bypass air as a fraction of IT airflow, growing with the floor area per rack.

    Model: ``b = b_ref · c · (a / a_ref)``, with c the containment factor. Spreading racks over
    more floor leaves more open tiles, more room volume and longer return paths, so a larger
    share of the supplied air short-circuits back to the cooling units without passing through
    IT equipment; containment closes those paths.

    Args:
        area_per_rack_m2: Hall floor area per rack, m² (> 0).
        containment: ``"none"``, ``"hot-aisle"`` or ``"cold-aisle"``.
        bypass_ref_frac: Bypass at the reference area (default 0.15).
        ref_area_per_rack_m2: Reference area per rack (default 1.44 m², packed 0.6 m pitch).

    Returns:
        Bypass fraction (≥ 0), shape of ``area_per_rack_m2``.

    Valid range:
        0.5–20 m² per rack; a linear parametric model [weak], not a measurement.

    References:
        Uptime Institute, "Reducing Bypass Airflow Is Essential for Eliminating Computer Room
        Hot Spots" (Sullivan, Strong, 2004): ≈ 60 % bypass in surveyed legacy rooms [R];
        :data:`CONTAINMENT_FACTOR`.
    """
    c = _containment_factor(containment, "bypass_frac")
    return np.asarray(
        bypass_ref_frac * c * _f64(area_per_rack_m2) / ref_area_per_rack_m2, dtype=np.float64
    )


def supply_airflow_m3_per_s(
    it_airflow_m3_per_s: ArrayLike,
    area_per_rack_m2: ArrayLike,
    *,
    containment: Containment = "none",
) -> FloatArray:
    """Air the cooling units must supply: IT airflow plus bypass.

    Equation: ``V̇_sup = V̇_IT · (1 + b)``, b from :func:`bypass_frac`.

    Args:
        it_airflow_m3_per_s: Total airflow through the IT equipment, m³/s.
        area_per_rack_m2: Hall floor area per rack, m².
        containment: ``"none"``, ``"hot-aisle"`` or ``"cold-aisle"``.

    Returns:
        Supply airflow in m³/s, broadcast shape.

    References:
        As :func:`bypass_frac`.
    """
    return np.asarray(
        _f64(it_airflow_m3_per_s) * (1.0 + bypass_frac(area_per_rack_m2, containment=containment)),
        dtype=np.float64,
    )


def air_handling_power_w(
    it_airflow_m3_per_s: ArrayLike,
    area_per_rack_m2: ArrayLike,
    *,
    containment: Containment = "none",
    fan_pressure_pa: float = FAN_PRESSURE_PA,
    fan_efficiency_frac: float = FAN_EFFICIENCY_FRAC,
    bypass_ref_frac: float = BYPASS_REF_FRAC,
    ref_area_per_rack_m2: float = REF_AREA_PER_RACK_M2,
) -> FloatArray:
    """CRAH/CRAC fan power needed to supply the IT airflow plus the layout's bypass air.

    Model: the air handlers are sized to deliver the IT airflow at their design pressure rise
    Δp (design power ``P_ref = Δp · V̇_IT / η``); moving the extra bypass air makes the same fans
    spin faster, and by the fan affinity laws (V̇ ∝ N, Δp ∝ N², P ∝ N³)::

        P_fan = (Δp · V̇_IT / η) · (1 + b)³,     b = bypass_frac(area per rack)

    So spreading racks (more floor per rack, more bypass) raises air-handling power, while
    :func:`recirculation_matrix` makes packing raise the hottest inlet.

    Args:
        it_airflow_m3_per_s: Total airflow through the IT equipment, m³/s (≥ 0).
        area_per_rack_m2: Hall floor area per rack, m² (> 0).
        containment: ``"none"``, ``"hot-aisle"`` or ``"cold-aisle"``.
        fan_pressure_pa: Design pressure rise Δp, Pa (default 300).
        fan_efficiency_frac: Fan-system efficiency η (default 0.6), so 500 W per m³/s at design;
            for comparison, SustainDC configures 150 W per rack at 200 CFM/kW and ASHRAE 90.1
            caps constant-volume fan power near 1.7 kW per m³/s [R].
        bypass_ref_frac: Bypass at the reference area.
        ref_area_per_rack_m2: Reference floor area per rack, m².

    Returns:
        Fan power in W, broadcast shape.

    Valid range:
        Air-cooled halls; fans within their speed range (1 + b ≲ 2.5).

    References:
        Fan affinity laws (physics.md §3.5); HPE SustainDC ``P_fan = P_ref·(V̇/V̇_ref)³``
        (``HewlettPackard/dc-rl``, physics.md §3.5); :func:`bypass_frac`.

    Examples:
        >>> round(float(air_handling_power_w(10.0, REF_AREA_PER_RACK_M2)), 1)
        7604.4
    """
    b = bypass_frac(
        area_per_rack_m2,
        containment=containment,
        bypass_ref_frac=bypass_ref_frac,
        ref_area_per_rack_m2=ref_area_per_rack_m2,
    )
    design_w = fan_pressure_pa * _f64(it_airflow_m3_per_s) / fan_efficiency_frac
    return np.asarray(design_w * (1.0 + b) ** 3, dtype=np.float64)


# --- the planner's spacing trade-off --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpacingTradeoff:
    """Hottest inlet and air-handling power for each candidate rack pitch (arrays, one per pitch).

    ``max_inlet_rise_k`` is the hottest inlet minus the supply temperature; a cooling model turns
    it into the highest allowed supply temperature (redline − rise) and a COP.
    """

    pitch_m: FloatArray
    area_per_rack_m2: FloatArray
    max_inlet_rise_k: FloatArray
    air_handling_power_w: FloatArray
    supply_airflow_m3_per_s: FloatArray


def spacing_tradeoff(
    pitch_m_values: ArrayLike,
    *,
    n_rows: int,
    racks_per_row: int,
    rack_power_w: float,
    rack_airflow_m3_per_s: float,
    cold_aisle_width_m: float = 1.2,
    hot_aisle_width_m: float = 1.2,
    rack_depth_m: float = RACK_DEPTH_M,
    containment: Containment = "none",
) -> SpacingTradeoff:
    """Sweep the rack pitch of a regular hall: hottest inlet rise vs air-handling power.

    For each pitch p: build :func:`aisle_layout`, A (:func:`recirculation_matrix`, enough supply
    air), D (:func:`heat_distribution_matrix_k_per_w`), the hottest inlet rise ``max(D·p)``, and
    the fan power :func:`air_handling_power_w` for floor area per rack
    ``p · (d + (w_cold + w_hot)/2)``. Packing (small p) raises the hottest inlet, so the supply
    air must be colder and the chiller works harder; spreading raises fan power; the total
    cooling energy therefore has an interior optimum in p.

    Args:
        pitch_m_values: Candidate centre-to-centre pitches along the rows, m, shape ``(k,)``.
        n_rows: Rows in the hall.
        racks_per_row: Racks per row.
        rack_power_w: Heat per rack into the room air, W (uniform load).
        rack_airflow_m3_per_s: Airflow per rack, m³/s.
        cold_aisle_width_m: Cold-aisle width, m.
        hot_aisle_width_m: Hot-aisle width, m.
        rack_depth_m: Rack depth, m.
        containment: ``"none"``, ``"hot-aisle"`` or ``"cold-aisle"``.

    Returns:
        :class:`SpacingTradeoff` with arrays of shape ``(k,)``.

    References:
        Tang et al. 2008 (D, supply reset); :func:`recirculation_matrix`;
        :func:`air_handling_power_w`.
    """
    pitches = np.atleast_1d(_f64(pitch_m_values))
    n = n_rows * racks_per_row
    power = np.full(n, float(rack_power_w))
    rises = np.empty(pitches.shape[0])
    # One layout per candidate pitch: the planner sweeps a handful of values, each an O(n³) solve.
    for k, pitch in enumerate(pitches):
        x, y, row = aisle_layout(
            n_rows,
            racks_per_row,
            pitch_m=float(pitch),
            cold_aisle_width_m=cold_aisle_width_m,
            hot_aisle_width_m=hot_aisle_width_m,
            rack_depth_m=rack_depth_m,
        )
        a = recirculation_matrix(x, y, row, containment=containment, rack_depth_m=rack_depth_m)
        d = heat_distribution_matrix_k_per_w(a, rack_airflow_m3_per_s)
        rises[k] = float(inlet_temp_c(0.0, d, power).max())
    area = pitches * (rack_depth_m + (cold_aisle_width_m + hot_aisle_width_m) / 2.0)
    it_flow = n * float(rack_airflow_m3_per_s)
    return SpacingTradeoff(
        pitch_m=pitches,
        area_per_rack_m2=area,
        max_inlet_rise_k=rises,
        air_handling_power_w=air_handling_power_w(it_flow, area, containment=containment),
        supply_airflow_m3_per_s=supply_airflow_m3_per_s(it_flow, area, containment=containment),
    )
