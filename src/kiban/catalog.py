"""Hardware catalog: frozen records for GPUs, servers, cooling technologies, UPS and PDU classes.

Every number comes from a CSV under ``kiban/data/`` whose numeric columns carry their unit in the
name and whose ``source`` column cites the document (and table or page) it was taken from.
A user catalog (TOML) can add entries and override values; see :func:`load_catalog`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CoolingMedium = Literal["air", "liquid", "immersion"]


@dataclass(frozen=True, slots=True)
class GpuSku:
    """One GPU model (board) and the parameters of its power, DVFS and thermal models.

    Power model (physics.md §2.2): P = P_idle + (P_tdp − P_idle)·A·(f/f_max)^γ.
    Thermal model (physics.md §3.1): C·dT/dt = P − (T − T_in)/R, τ = R·C.
    """

    name: str
    tdp_w: float
    min_power_limit_w: float
    idle_empty_power_w: float
    idle_context_power_w: float
    max_sm_clock_hz: float
    memory_b: float
    memory_bw_b_per_s: float
    shutdown_temp_c: float
    slowdown_temp_c: float
    max_operating_temp_c: float
    mem_max_temp_c: float
    die_to_inlet_k_per_w: float
    thermal_time_constant_s: float
    power_exponent: float
    static_power_frac: float
    cooling: CoolingMedium
    source: str


@dataclass(frozen=True, slots=True)
class ServerModel:
    """One server (or rack-scale system) model: its GPUs, host power, weight, size and airflow.

    ``n_gpus`` GPUs of ``gpu`` plus a host (CPUs, memory, NICs, fans). ``host_idle_power_w`` and
    ``host_max_power_w`` exclude GPUs and fans; ``fan_max_power_w`` is fan power at full speed
    (affinity law P ∝ N³). ``liquid_capture_frac`` is the share of heat taken by liquid (0 for air).
    """

    name: str
    gpu: str
    n_gpus: int
    max_power_w: float
    host_idle_power_w: float
    host_max_power_w: float
    fan_max_power_w: float
    psu_efficiency_frac: float
    weight_kg: float
    rack_units: int
    airflow_m3_per_s: float
    liquid_capture_frac: float
    footprint_m2: float
    is_rack_scale: bool
    source: str


@dataclass(frozen=True, slots=True)
class CoolingTech:
    """A cooling technology for a rack: its per-rack capacity and how heat leaves the room.

    ``liquid_capture_frac`` is the share of IT heat taken by liquid; the rest goes to room air.
    ``recirculation_frac`` is the share of exhaust air that returns to inlets at the reference
    rack pitch (open aisles ≈ 0.1–0.2; containment ≈ 0.02). ``pue_low``/``pue_high`` give the
    published annual PUE band for a typical design using it.
    """

    name: str
    medium: CoolingMedium
    max_rack_power_w: float
    liquid_capture_frac: float
    recirculation_frac: float
    supply_temp_min_c: float
    supply_temp_max_c: float
    pue_low: float
    pue_high: float
    source: str


@dataclass(frozen=True, slots=True)
class UpsClass:
    """A UPS class and its loss curve: loss = P_rated·(L0 + L1·x + L2·x²), x = load fraction."""

    name: str
    no_load_loss_frac: float
    proportional_loss_frac: float
    square_loss_frac: float
    source: str


@dataclass(frozen=True, slots=True)
class PduClass:
    """A PDU / transformer class: rated power and proportional loss at full load."""

    name: str
    rated_power_w: float
    loss_frac: float
    source: str
