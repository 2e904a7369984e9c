"""GPU board power against activity and SM clock, the clock under a power cap, and the slowdown.

The model (physics.md §2.2–§2.4), written so that the power-cap law fitted to the Zeus traces
(physics.md §2.3) falls out of it exactly:

    P_act(A)  = P_idle + (P_tdp − P_idle)·A                   demand at full clock (φ = f/f_max = 1)
    P(A, φ)   = max(P_idle, P_act(A)·(s + (1 − s)·φ^γ))       board power at clock fraction φ
    t(φ)/t_1  = (1 − β) + β/φ                                 runtime against clock

``s`` (``GpuSku.static_power_frac``) is the part of the active power that does not scale with
the SM clock (HBM and memory controllers, leakage at the voltage floor, board losses), and
``γ`` (``GpuSku.power_exponent``) the exponent of the part that does (C·V²·f with V rising
with f). At φ = 1 this is the reference form P_idle + (P_tdp − P_idle)·A exactly; the
reference's pure P_idle + ΔP·A·φ^γ is the special case s = P_idle/P_act(A). The floor at
P_idle keeps an idle GPU (A = 0) at its measured idle power, which is already taken at the
idle clock.

Mapping to the cap law: a cap P_cap < P_act(A) binds, and the clock that meets it solves
P_act·(s + (1 − s)·φ^γ) = P_cap, so with y = P_cap/P_act

    φ(y) = ((y − s)/(1 − s))^(1/γ)        (y < 1),      φ = 1 otherwise,

and for a compute-bound job (β = 1) the speed is φ itself: this is the Zeus law
speed = ((y − s)/(1 − s))^(1/γ). ``scripts/fit_gpu_power.py`` fits γ and s to every row of the
Zeus power-limit traces and ships them in ``kiban/data/fitted/gpu_power_fit.json``, together
with the measured ratio of average power to the cap on capped GPUs.

All functions are pure and broadcast over numpy arrays; one ``GpuSku`` per call (group a mixed
fleet by SKU).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np

from kiban.errors import CatalogError
from kiban.units import HZ_PER_MHZ

if TYPE_CHECKING:
    from kiban._typing import ArrayLike, FloatArray
    from kiban.catalog import GpuSku

__all__ = [
    "DEFAULT_MIN_CLOCK_FRAC",
    "GpuPowerFit",
    "average_power_under_cap_w",
    "clock_frac_for_cap",
    "clock_frac_for_power_ratio",
    "demand_power_w",
    "fitted_gpu_power",
    "gpu_power_w",
    "runtime_factor",
    "speed_frac_under_cap",
]

H100_IDLE_SM_CLOCK_HZ = 345.0 * HZ_PER_MHZ
"""SM clock of an idle H100 SXM5 (nvidia-smi dumps, physics.md §1.1): the lowest clock seen."""
H100_MAX_SM_CLOCK_HZ = 1980.0 * HZ_PER_MHZ
"""Maximum (and default application) SM clock of the H100 SXM5 (physics.md §1.1)."""
DEFAULT_MIN_CLOCK_FRAC = H100_IDLE_SM_CLOCK_HZ / H100_MAX_SM_CLOCK_HZ
"""Lowest clock fraction the cap solver goes to (345/1980 ≈ 0.174, the H100 idle clock)."""

_FIT_RESOURCE = "data/fitted/gpu_power_fit.json"


@dataclass(frozen=True, slots=True)
class GpuPowerFit:
    """The power-cap law fitted to the Zeus traces (``scripts/fit_gpu_power.py``).

    Attributes:
        power_exponent: γ in P_dyn ∝ φ^γ.
        static_power_frac: s, the share of active power that does not scale with the clock.
        capped_power_frac: measured average power / cap on GPUs whose cap binds.
        speed_rmse_frac: RMSE of predicted speed over all rows (speed is a fraction).
        power_rmse_frac: RMSE of predicted average power over all rows, as a fraction of the
            uncapped power of each configuration.
        n_rows: number of trace rows used.
    """

    power_exponent: float
    static_power_frac: float
    capped_power_frac: float
    speed_rmse_frac: float
    power_rmse_frac: float
    n_rows: int


@functools.lru_cache(maxsize=1)
def fitted_gpu_power() -> GpuPowerFit:
    """Load the shipped Zeus fit (read on first call, then cached; nothing is read at import).

    Returns:
        The fitted parameters and their errors.

    Raises:
        CatalogError: if the shipped json is missing or malformed (a packaging bug).

    References:
        You, Chung, Chowdhury, "Zeus: Understanding and Optimizing GPU Energy Consumption of DNN
        Training", NSDI 2023; traces ``summary_power_{v100,a40,p100,rtx6000}.csv``.
    """
    path = resources.files("kiban").joinpath(_FIT_RESOURCE)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return GpuPowerFit(
            power_exponent=float(raw["power_exponent"]),
            static_power_frac=float(raw["static_power_frac"]),
            capped_power_frac=float(raw["capped_power_frac"]),
            speed_rmse_frac=float(raw["speed_rmse_frac"]["all"]),
            power_rmse_frac=float(raw["power_rmse_frac"]["all"]),
            n_rows=int(raw["n_rows"]["all"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as err:
        msg = (
            f"{_FIT_RESOURCE}: cannot read the fitted GPU power law ({err}); "
            "regenerate it with scripts/fit_gpu_power.py"
        )
        raise CatalogError(msg) from err


def _idle_w(sku: GpuSku, context: bool) -> float:
    return sku.idle_context_power_w if context else sku.idle_empty_power_w


def demand_power_w(activity_frac: ArrayLike, sku: GpuSku, *, context: bool = True) -> FloatArray:
    """Board power at full clock: P_act(A) = P_idle + (P_tdp − P_idle)·A.

    Args:
        activity_frac: power-weighted activity A in [0, 1] (DCGM SM/tensor activity, not
            nvidia-smi GPU-Util); clipped to [0, 1]. Any shape.
        sku: GPU record (``tdp_w``, ``idle_empty_power_w``, ``idle_context_power_w``).
        context: True if a CUDA context is resident (idle 140 W on H100), False for an
            empty GPU (75 W on H100).

    Returns:
        Power in W, shape of ``activity_frac``.

    References:
        physics.md §1.1 (H100 idle 71–75 W empty, 140–145 W with a context), §2.2.
    """
    a = np.clip(np.asarray(activity_frac, dtype=np.float64), 0.0, 1.0)
    idle_w = _idle_w(sku, context)
    return idle_w + (sku.tdp_w - idle_w) * a


def gpu_power_w(
    activity_frac: ArrayLike,
    clock_frac: ArrayLike,
    sku: GpuSku,
    *,
    context: bool = True,
) -> FloatArray:
    """Board power of GPUs at activity A and SM clock fraction φ = f/f_max.

    P(A, φ) = max(P_idle, P_act(A)·(s + (1 − s)·φ^γ)),  P_act(A) = P_idle + (P_tdp − P_idle)·A.

    Monotone non-decreasing in A and φ; equals P_act(A) at φ = 1 and P_idle at A = 0.

    Args:
        activity_frac: power-weighted activity A in [0, 1] (clipped).
        clock_frac: SM clock / max SM clock in (0, 1] (clipped to [0, 1]).
        sku: GPU record (``tdp_w``, idle powers, ``power_exponent`` γ, ``static_power_frac`` s).
        context: whether a CUDA context is resident (selects the idle power).

    Returns:
        Power in W with the broadcast shape of the inputs.

    References:
        physics.md §2.2 (P ∝ f^γ, CMOS C·V²·f), §2.3 (Zeus cap law, fitted γ and s);
        Zeus, NSDI 2023.
    """
    p_act = demand_power_w(activity_frac, sku, context=context)
    phi = np.clip(np.asarray(clock_frac, dtype=np.float64), 0.0, 1.0)
    s = sku.static_power_frac
    scaled = p_act * (s + (1.0 - s) * phi**sku.power_exponent)
    return np.maximum(_idle_w(sku, context), scaled)


def clock_frac_for_power_ratio(
    power_ratio_frac: ArrayLike,
    static_power_frac: float,
    power_exponent: float,
    *,
    min_clock_frac: float = DEFAULT_MIN_CLOCK_FRAC,
) -> FloatArray:
    """Clock fraction at which power falls to a given share of its full-clock demand.

    φ(y) = ((y − s)/(1 − s))^(1/γ) for y < 1, and 1 for y ≥ 1; clipped to [min_clock_frac, 1].
    Below y = s (more cut than the static part allows) the result is ``min_clock_frac``.

    Args:
        power_ratio_frac: y = P_cap / P_act (≥ 0; values above 1 mean the cap does not bind).
        static_power_frac: s in [0, 1).
        power_exponent: γ > 0.
        min_clock_frac: the lowest clock fraction the GPU goes to.

    Returns:
        Clock fraction φ in [min_clock_frac, 1], shape of ``power_ratio_frac``.

    References:
        physics.md §2.3 (speed(y) = ((y − s)/(1 − s))^(1/γ), fitted to the Zeus traces).
    """
    y = np.asarray(power_ratio_frac, dtype=np.float64)
    z = np.clip((y - static_power_frac) / (1.0 - static_power_frac), 0.0, 1.0)
    return np.clip(z ** (1.0 / power_exponent), min_clock_frac, 1.0)


def clock_frac_for_cap(
    power_cap_w: ArrayLike,
    activity_frac: ArrayLike,
    sku: GpuSku,
    *,
    context: bool = True,
    min_clock_frac: float = DEFAULT_MIN_CLOCK_FRAC,
) -> FloatArray:
    """Highest SM clock fraction whose board power stays within the cap (closed form).

    φ* = clip(((P_cap/P_act − s)/(1 − s))^(1/γ), φ_min, 1); φ* = 1 when P_cap ≥ P_act(A).
    A cap below P(A, φ_min), or below the idle power, cannot be met by DVFS in this model; the
    result is then φ_min (hardware would fall back to HW slowdown).

    Args:
        power_cap_w: per-GPU power limit in W (> 0); any shape that broadcasts.
        activity_frac: activity A in [0, 1] (clipped).
        sku: GPU record.
        context: whether a CUDA context is resident.
        min_clock_frac: lowest clock fraction (default: H100 idle clock 345/1980 MHz).

    Returns:
        Clock fraction φ* in [min_clock_frac, 1], broadcast shape of the inputs.

    References:
        physics.md §1.3 (SW power cap lowers f until P ≤ limit), §2.3.
    """
    p_act = demand_power_w(activity_frac, sku, context=context)
    cap_w = np.asarray(power_cap_w, dtype=np.float64)
    phi = clock_frac_for_power_ratio(
        cap_w / p_act, sku.static_power_frac, sku.power_exponent, min_clock_frac=min_clock_frac
    )
    return np.where(cap_w < _idle_w(sku, context), min_clock_frac, phi)


def runtime_factor(clock_frac: ArrayLike, compute_bound_frac: ArrayLike) -> FloatArray:
    """Runtime relative to full clock: t/t_ref = (1 − β) + β/φ (≥ 1 for φ ≤ 1).

    Args:
        clock_frac: φ = f/f_max in (0, 1]; clipped to [1e-6, 1].
        compute_bound_frac: β in [0, 1], the share of runtime that scales with the SM clock
            (dense training ≈ 0.9, LLM decode ≈ 0.05–0.2); clipped to [0, 1].

    Returns:
        Runtime factor ≥ 1, broadcast shape of the inputs.

    References:
        physics.md §2.4; Maliakel et al., arXiv 2501.08219 (decode insensitive to clock).
    """
    phi = np.clip(np.asarray(clock_frac, dtype=np.float64), 1e-6, 1.0)
    beta = np.clip(np.asarray(compute_bound_frac, dtype=np.float64), 0.0, 1.0)
    return (1.0 - beta) + beta / phi


def speed_frac_under_cap(
    power_cap_w: ArrayLike,
    activity_frac: ArrayLike,
    compute_bound_frac: ArrayLike,
    sku: GpuSku,
    *,
    context: bool = True,
    min_clock_frac: float = DEFAULT_MIN_CLOCK_FRAC,
) -> FloatArray:
    """Throughput under a power cap relative to uncapped: 1 / runtime_factor(φ*(P_cap, A), β).

    For β = 1 this is the Zeus law speed = ((y − s)/(1 − s))^(1/γ), y = P_cap/P_act(A).

    Args:
        power_cap_w: per-GPU power limit in W.
        activity_frac: activity A in [0, 1].
        compute_bound_frac: β in [0, 1].
        sku: GPU record.
        context: whether a CUDA context is resident.
        min_clock_frac: lowest clock fraction.

    Returns:
        Speed fraction in (0, 1], broadcast shape of the inputs.

    References:
        physics.md §2.3–§2.4; Zeus (NSDI 2023) power-limit traces.
    """
    phi = clock_frac_for_cap(
        power_cap_w, activity_frac, sku, context=context, min_clock_frac=min_clock_frac
    )
    return 1.0 / runtime_factor(phi, compute_bound_frac)


def average_power_under_cap_w(
    power_cap_w: ArrayLike,
    activity_frac: ArrayLike,
    sku: GpuSku,
    *,
    context: bool = True,
    capped_power_frac: float | None = None,
) -> FloatArray:
    """Average board power of a GPU running under a power cap: min(P_act(A), k·P_cap).

    The power controller holds the board a little under its limit and dips below it during
    transients, so a GPU whose cap binds averages k·P_cap with k fitted to the Zeus traces
    (≈ 0.9; physics.md §2.3 quotes 0.95). Use this for energy; ``gpu_power_w`` at the clock
    from ``clock_frac_for_cap`` gives the instantaneous ceiling (= P_cap).

    Args:
        power_cap_w: per-GPU power limit in W.
        activity_frac: activity A in [0, 1].
        sku: GPU record.
        context: whether a CUDA context is resident.
        capped_power_frac: k; default the fitted value from ``fitted_gpu_power()``.

    Returns:
        Average power in W, broadcast shape of the inputs.

    References:
        physics.md §2.3; Zeus traces (average_power against power_limit).
    """
    k = fitted_gpu_power().capped_power_frac if capped_power_frac is None else capped_power_frac
    p_act = demand_power_w(activity_frac, sku, context=context)
    return np.minimum(p_act, k * np.asarray(power_cap_w, dtype=np.float64))
