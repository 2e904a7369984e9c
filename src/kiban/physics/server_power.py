"""Wall power of a GPU server: GPUs + host (CPUs, memory, NICs, storage) + fans, through the PSUs.

    P_host = P_host,idle + (P_host,max − P_host,idle)·L                 L = host load in [0, 1]
    h      = (P_gpu + P_host) / (n_gpus·P_tdp + P_host,max)             heat-load fraction
    N      = max(N_min + (N_load − N_min)·h,  N_min + (1 − N_min)·r(T_in))   fan speed fraction
    r(T)   = clip((T − T_lo)/(T_max,inlet − T_lo), 0, 1)                temperature ramp
    P_fan  = P_fan,max · N³                                             fan affinity law
    P_wall = (P_gpu + P_host + P_fan) / η_PSU

Fans follow the heat they must carry (N_load = 0.8 at full load: DGX H100 moves its rated
1105 CFM at 80 % PWM) and rise to full speed as the inlet approaches the server's maximum
allowed inlet temperature (``ServerModel.max_inlet_temp_c``), so at full load and the hottest
allowed inlet the model gives (n·P_tdp + P_host,max + P_fan,max)/η, the catalog's
``max_power_w``. Parameters come from the ``ServerModel`` record; the fan set points are keyword
arguments with the defaults below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from kiban._typing import ArrayLike, FloatArray, IntArray
    from kiban.catalog import GpuSku, ServerModel

__all__ = [
    "FAN_LOW_SETPOINT_C",
    "FAN_MIN_SPEED_FRAC",
    "FAN_SPEED_AT_FULL_LOAD_FRAC",
    "ServerPowerBreakdown",
    "fan_ramp_span_k",
    "fan_speed_frac",
    "fan_speed_frac_spans",
    "host_power_w",
    "rack_power_w",
    "server_max_power_w",
    "server_power_breakdown",
    "server_power_w",
]

FAN_MIN_SPEED_FRAC = 0.3
"""Fan speed floor (idle server, cool inlet). ASSUMED: typical BMC minimum duty of 20–30 %."""
FAN_SPEED_AT_FULL_LOAD_FRAC = 0.8
"""Fan speed at full heat load and normal inlet: DGX H100 is rated 1105 CFM at 80 % fan PWM
(NVIDIA DGX H100/H200 User Guide; physics.md §1.2)."""
FAN_LOW_SETPOINT_C = 25.0
"""Inlet temperature above which fans ramp towards full speed. ASSUMED: the upper part of the
ASHRAE recommended 18–27 °C envelope (physics.md §3.6); the high set point is the server's
``max_inlet_temp_c`` (DGX H100: 30 °C)."""


@dataclass(frozen=True, slots=True)
class ServerPowerBreakdown:
    """Where a server's wall power goes (all arrays share the broadcast shape; W).

    ``wall_w = (gpu_w + host_w + fan_w) / η`` and ``psu_loss_w = wall_w − (gpu_w + host_w +
    fan_w)``; ``fan_speed_frac`` is the fan speed used.
    """

    gpu_w: FloatArray
    host_w: FloatArray
    fan_w: FloatArray
    psu_loss_w: FloatArray
    wall_w: FloatArray
    fan_speed_frac: FloatArray


def host_power_w(load_frac: ArrayLike, server: ServerModel) -> FloatArray:
    """Host power (CPUs, memory, NICs, storage; no GPUs, no fans), linear in load.

    P_host = P_idle + (P_max − P_idle)·L (the linear server model of Tang et al. 2008).

    Args:
        load_frac: host load L in [0, 1] (clipped).
        server: server record (``host_idle_power_w``, ``host_max_power_w``).

    Returns:
        Power in W, shape of ``load_frac``.

    References:
        Tang, Gupta, Varsamopoulos, IEEE TPDS 19(11), 2008 (linear power model); physics.md §2.1.
    """
    load = np.clip(np.asarray(load_frac, dtype=np.float64), 0.0, 1.0)
    return server.host_idle_power_w + (server.host_max_power_w - server.host_idle_power_w) * load


def fan_speed_frac(
    heat_load_frac: ArrayLike,
    inlet_temp_c: ArrayLike,
    server: ServerModel,
    *,
    min_speed_frac: float = FAN_MIN_SPEED_FRAC,
    full_load_speed_frac: float = FAN_SPEED_AT_FULL_LOAD_FRAC,
    low_setpoint_c: float = FAN_LOW_SETPOINT_C,
) -> FloatArray:
    """Server fan speed from the heat it carries and the inlet temperature.

    N = max(N_min + (N_load − N_min)·h, N_min + (1 − N_min)·clip((T − T_lo)/(T_max − T_lo), 0, 1)).

    Args:
        heat_load_frac: h in [0, 1], (GPU + host power) / its maximum (clipped).
        inlet_temp_c: server inlet air temperature in °C.
        server: server record (``max_inlet_temp_c`` is the high set point).
        min_speed_frac: N_min.
        full_load_speed_frac: N_load, the speed at full heat load below the ramp.
        low_setpoint_c: T_lo, where the temperature ramp starts.

    Returns:
        Fan speed fraction in [N_min, 1], broadcast shape of the inputs.

    References:
        NVIDIA DGX H100/H200 User Guide (1105 CFM at 80 % PWM; inlet 5–30 °C); physics.md §3.5.
    """
    h = np.clip(np.asarray(heat_load_frac, dtype=np.float64), 0.0, 1.0)
    t = np.asarray(inlet_temp_c, dtype=np.float64)
    span_k = max(server.max_inlet_temp_c - low_setpoint_c, 1e-9)
    ramp = np.clip((t - low_setpoint_c) / span_k, 0.0, 1.0)
    by_load = min_speed_frac + (full_load_speed_frac - min_speed_frac) * h
    by_temp = min_speed_frac + (1.0 - min_speed_frac) * ramp
    return np.clip(np.maximum(by_load, by_temp), 0.0, 1.0)


def fan_ramp_span_k(server: ServerModel, low_setpoint_c: float = FAN_LOW_SETPOINT_C) -> float:
    """Width of :func:`fan_speed_frac`'s temperature ramp for ``server`` (K, > 0)."""
    return max(server.max_inlet_temp_c - low_setpoint_c, 1e-9)


def fan_speed_frac_spans(
    heat_load_frac: FloatArray,
    inlet_temp_c: FloatArray,
    ramp_span_k: FloatArray,
    *,
    min_speed_frac: float = FAN_MIN_SPEED_FRAC,
    full_load_speed_frac: float = FAN_SPEED_AT_FULL_LOAD_FRAC,
    low_setpoint_c: float = FAN_LOW_SETPOINT_C,
) -> FloatArray:
    """:func:`fan_speed_frac` with each element's own server ramp (:func:`fan_ramp_span_k`).

    The same arithmetic per element, bit for bit (``np.maximum``/``np.minimum`` for
    ``np.clip``: the same values, NaN included), in one pass over servers of several models
    (racks of a hall) instead of one call per model; the in-loop facility and the policies'
    room model call it at every step or prediction.

    Args:
        heat_load_frac: h per element (clipped to [0, 1]).
        inlet_temp_c: Inlet temperature per element, °C.
        ramp_span_k: ``fan_ramp_span_k`` of each element's server, K.
        min_speed_frac: N_min.
        full_load_speed_frac: N_load.
        low_setpoint_c: T_lo (the spans must have been taken from the same T_lo).

    Returns:
        Fan speed fraction per element.
    """
    h = np.minimum(np.maximum(heat_load_frac, 0.0), 1.0)
    ramp = (inlet_temp_c - low_setpoint_c) / ramp_span_k
    ramp = np.minimum(np.maximum(ramp, 0.0, out=ramp), 1.0, out=ramp)
    by_load = min_speed_frac + (full_load_speed_frac - min_speed_frac) * h
    by_temp = min_speed_frac + (1.0 - min_speed_frac) * ramp
    speed = np.maximum(by_load, by_temp, out=by_load)
    return np.minimum(np.maximum(speed, 0.0, out=speed), 1.0, out=speed)


def server_power_breakdown(
    gpu_power_w_total: ArrayLike,
    load_frac: ArrayLike,
    inlet_temp_c: ArrayLike,
    server: ServerModel,
    gpu: GpuSku | None = None,
    *,
    min_speed_frac: float = FAN_MIN_SPEED_FRAC,
    full_load_speed_frac: float = FAN_SPEED_AT_FULL_LOAD_FRAC,
    low_setpoint_c: float = FAN_LOW_SETPOINT_C,
) -> ServerPowerBreakdown:
    """Wall power of servers and its parts (GPUs, host, fans, PSU loss).

    See the module docstring for the equations.

    Args:
        gpu_power_w_total: summed board power of the server's GPUs in W (≥ 0).
        load_frac: host load L in [0, 1] (use the busy-GPU fraction if nothing better is known).
        inlet_temp_c: server inlet air temperature in °C.
        server: server record.
        gpu: the server's GPU record, used for the heat-load fraction (n·P_tdp); if None,
            the GPU maximum is taken as max_power_w·η − P_host,max − P_fan,max.
        min_speed_frac: fan speed floor.
        full_load_speed_frac: fan speed at full heat load.
        low_setpoint_c: inlet temperature where the fan ramp starts.

    Returns:
        A ``ServerPowerBreakdown`` with the broadcast shape of the inputs.

    References:
        physics.md §1.2 (DGX H100 10.2 kW max, 6 × 3.3 kW PSUs), §3.5 (fan affinity laws),
        §4.3 (PSU efficiency); Tang et al. 2008 (linear host model).
    """
    gpu_w = np.maximum(np.asarray(gpu_power_w_total, dtype=np.float64), 0.0)
    host_w = host_power_w(load_frac, server)
    if gpu is not None:
        gpu_max_w = server.n_gpus * gpu.tdp_w
    else:
        gpu_max_w = (
            server.max_power_w * server.psu_efficiency_frac
            - server.host_max_power_w
            - server.fan_max_power_w
        )
    heat_max_w = max(gpu_max_w + server.host_max_power_w, 1e-9)
    speed = fan_speed_frac(
        (gpu_w + host_w) / heat_max_w,
        inlet_temp_c,
        server,
        min_speed_frac=min_speed_frac,
        full_load_speed_frac=full_load_speed_frac,
        low_setpoint_c=low_setpoint_c,
    )
    fan_w = server.fan_max_power_w * speed**3
    dc_w = gpu_w + host_w + fan_w
    wall_w = dc_w / server.psu_efficiency_frac
    return ServerPowerBreakdown(
        gpu_w=np.broadcast_to(gpu_w, wall_w.shape).astype(np.float64),
        host_w=np.broadcast_to(host_w, wall_w.shape).astype(np.float64),
        fan_w=fan_w,
        psu_loss_w=wall_w - dc_w,
        wall_w=wall_w,
        fan_speed_frac=speed,
    )


def server_power_w(
    gpu_power_w_total: ArrayLike,
    load_frac: ArrayLike,
    inlet_temp_c: ArrayLike,
    server: ServerModel,
    gpu: GpuSku | None = None,
) -> FloatArray:
    """Wall power of servers: (P_gpu + P_host(L) + P_fan(h, T_in)) / η_PSU.

    Args:
        gpu_power_w_total: summed GPU board power per server in W.
        load_frac: host load in [0, 1] (the busy-GPU fraction is a fair proxy).
        inlet_temp_c: inlet air temperature in °C.
        server: server record.
        gpu: the server's GPU record (for the heat-load fraction); optional.

    Returns:
        Wall power in W, broadcast shape of the inputs.

    References:
        See ``server_power_breakdown``.
    """
    return server_power_breakdown(gpu_power_w_total, load_frac, inlet_temp_c, server, gpu).wall_w


def server_max_power_w(server: ServerModel, gpu: GpuSku) -> float:
    """Wall power at full GPU and host load with fans at full speed.

    (n_gpus·P_tdp + P_host,max + P_fan,max) / η — what the model gives at full load and the
    maximum allowed inlet; compare with the vendor's maximum system power.

    Args:
        server: server record.
        gpu: its GPU record.

    Returns:
        Power in W.

    References:
        NVIDIA DGX H100/H200 User Guide (10.2 kW max); physics.md §1.2.
    """
    dc_w = server.n_gpus * gpu.tdp_w + server.host_max_power_w + server.fan_max_power_w
    return float(dc_w / server.psu_efficiency_frac)


def rack_power_w(server_power_w: ArrayLike, rack_idx: ArrayLike, n_racks: int) -> FloatArray:
    """Sum server wall power into racks (no loop: ``np.bincount``).

    Args:
        server_power_w: wall power per server in W, shape (n_servers,).
        rack_idx: rack index of each server, ints in [0, n_racks), shape (n_servers,).
        n_racks: number of racks.

    Returns:
        Power per rack in W, shape (n_racks,).

    References:
        Tang et al. 2008 (chassis/rack power as the sum of its servers).
    """
    idx: IntArray = np.asarray(rack_idx, dtype=np.int64)
    weights = np.asarray(server_power_w, dtype=np.float64)
    return np.bincount(idx, weights=weights, minlength=n_racks).astype(np.float64)
