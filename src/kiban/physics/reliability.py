"""Failures and checkpoints: node hazard, job MTBF, checkpoint intervals, expected goodput.

The hazard may depend on temperature; the intervals are Young, Daly and availability-optimal.

    λ_node      = r / 86,400 s                 r failures per node-day (default 4 / 1,000)
    λ(T)        = λ_0 · (1 + κ·max(0, T − T_ref))                      linear mode
                = λ_0 · exp((E_a/k_B)·(1/T_ref − 1/T))  (T in K)        Arrhenius mode
    MTBF_job    = 1 / (N_nodes · λ_node)        series model (Kokolis et al., HPCA'25)
    τ_Young     = sqrt(2·δ·M)
    τ_Daly      = sqrt(2δM)·[1 + (1/3)·sqrt(δ/(2M)) + (1/9)·(δ/(2M))] − δ   (δ < 2M; else M)
    T_c (Saxena)= δ + sqrt(2·(M + T_r)·δ + δ²)
    goodput     ≈ 1 − δ/τ − (τ/2 + T_r)/M   (ETTR-like, clipped to [0, 1])

(physics.md §6.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

from kiban.errors import ConfigError
from kiban.units import BOLTZMANN_EV_PER_K, KELVIN_OFFSET_K, S_PER_DAY

if TYPE_CHECKING:
    from kiban._typing import ArrayLike, FloatArray

__all__ = [
    "DEFAULT_ACTIVATION_ENERGY_EV",
    "DEFAULT_FAILURES_PER_1000_NODE_DAYS",
    "DEFAULT_LINEAR_COEFF_PER_K",
    "DEFAULT_NODE_FAILURE_RATE_PER_S",
    "DEFAULT_REF_TEMP_C",
    "TemperatureMode",
    "availability_optimal_interval_s",
    "daly_interval_s",
    "expected_goodput_frac",
    "failure_rate_per_s",
    "job_mtbf_s",
    "node_failure_rate_per_s",
    "temperature_factor",
    "young_interval_s",
]

TemperatureMode = Literal["none", "linear", "arrhenius"]

NODE_DAYS_PER_1000 = 1000.0
"""The unit of published fleet failure rates: failures per 1,000 node-days."""
DEFAULT_FAILURES_PER_1000_NODE_DAYS = 4.0
"""Default hazard: between Llama 3 (3.8, Meta 2024) and Kokolis RSC-1/RSC-2 (6.5 / 2.34)."""
DEFAULT_REF_TEMP_C = 60.0
"""Reference device temperature for the temperature factor. ASSUMED (GPU under load at a
normal inlet); the hazard equals the base rate at and below it in linear mode."""
DEFAULT_LINEAR_COEFF_PER_K = 0.03
"""κ of the linear mode, per K above T_ref: physics.md §6.3 (0.02–0.05, weak; El-Sayed et al.,
SIGMETRICS'12 saw linear, not exponential, growth)."""
DEFAULT_ACTIVATION_ENERGY_EV = 0.7
"""E_a of the Arrhenius mode: the '×2 per +10 °C' rule near 50–80 °C (physics.md §6.3, [R])."""


def node_failure_rate_per_s(
    failures_per_1000_node_days: ArrayLike = DEFAULT_FAILURES_PER_1000_NODE_DAYS,
) -> FloatArray:
    """Convert a fleet failure rate in failures per 1,000 node-days to failures per node-second.

    Args:
        failures_per_1000_node_days: published rate (Llama 3: 3.8; Kokolis RSC-1: 6.5).

    Returns:
        Hazard per node in 1/s.

    References:
        Meta, "The Llama 3 Herd of Models" (2024); Kokolis et al., HPCA'25 (arXiv 2410.21680).
    """
    r = np.asarray(failures_per_1000_node_days, dtype=np.float64)
    return r / NODE_DAYS_PER_1000 / S_PER_DAY


DEFAULT_NODE_FAILURE_RATE_PER_S = float(node_failure_rate_per_s())
"""4 failures per 1,000 node-days, per node-second (≈ 4.63e-8 /s)."""


def temperature_factor(
    temp_c: ArrayLike,
    *,
    mode: TemperatureMode = "linear",
    ref_temp_c: float = DEFAULT_REF_TEMP_C,
    linear_coeff_per_k: float = DEFAULT_LINEAR_COEFF_PER_K,
    activation_energy_ev: float = DEFAULT_ACTIVATION_ENERGY_EV,
) -> FloatArray:
    """Multiplier of the failure hazard at device temperature T relative to T_ref.

    linear:    1 + κ·max(0, T − T_ref)
    arrhenius: exp((E_a/k_B)·(1/T_ref − 1/T)), temperatures in K
    none:      1

    Args:
        temp_c: device temperature in °C.
        mode: "none", "linear" or "arrhenius".
        ref_temp_c: T_ref in °C.
        linear_coeff_per_k: κ in 1/K.
        activation_energy_ev: E_a in eV.

    Returns:
        Factor (≥ 1 above T_ref in both modes), shape of ``temp_c``.

    Raises:
        ConfigError: for an unknown mode.

    References:
        physics.md §6.3; El-Sayed et al., SIGMETRICS'12; Arrhenius acceleration factor.
    """
    t = np.asarray(temp_c, dtype=np.float64)
    if mode == "none":
        return np.ones_like(t)
    if mode == "linear":
        return 1.0 + linear_coeff_per_k * np.maximum(0.0, t - ref_temp_c)
    if mode == "arrhenius":
        t_k = t + KELVIN_OFFSET_K
        ref_k = ref_temp_c + KELVIN_OFFSET_K
        return np.exp(activation_energy_ev / BOLTZMANN_EV_PER_K * (1.0 / ref_k - 1.0 / t_k))
    msg = f"reliability temperature mode = {mode!r}: allowed are 'none', 'linear', 'arrhenius'"
    raise ConfigError(msg)


def failure_rate_per_s(
    temp_c: ArrayLike | None = None,
    *,
    base_rate_per_s: ArrayLike = DEFAULT_NODE_FAILURE_RATE_PER_S,
    mode: TemperatureMode = "linear",
    ref_temp_c: float = DEFAULT_REF_TEMP_C,
    linear_coeff_per_k: float = DEFAULT_LINEAR_COEFF_PER_K,
    activation_energy_ev: float = DEFAULT_ACTIVATION_ENERGY_EV,
) -> FloatArray:
    """Failure hazard of each node, optionally scaled by its temperature.

    λ = λ_0 · temperature_factor(T) (λ_0 alone when ``temp_c`` is None).

    Args:
        temp_c: device (hottest GPU) temperature per node in °C, or None.
        base_rate_per_s: λ_0 per node in 1/s (default 4 per 1,000 node-days).
        mode: temperature dependence, see ``temperature_factor``.
        ref_temp_c: T_ref in °C.
        linear_coeff_per_k: κ of the linear mode.
        activation_energy_ev: E_a of the Arrhenius mode.

    Returns:
        Hazard in 1/s, broadcast shape of the inputs.

    References:
        physics.md §6.1–§6.3.
    """
    base = np.asarray(base_rate_per_s, dtype=np.float64)
    if temp_c is None:
        return base.astype(np.float64, copy=True)
    factor = temperature_factor(
        temp_c,
        mode=mode,
        ref_temp_c=ref_temp_c,
        linear_coeff_per_k=linear_coeff_per_k,
        activation_energy_ev=activation_energy_ev,
    )
    return base * factor


def job_mtbf_s(
    n_nodes: ArrayLike, rate_per_s: ArrayLike = DEFAULT_NODE_FAILURE_RATE_PER_S
) -> FloatArray:
    """Mean time between failures of a job spanning N nodes (series model): 1/(N·λ).

    Args:
        n_nodes: nodes of the job (> 0; 0 gives inf).
        rate_per_s: hazard per node in 1/s.

    Returns:
        MTBF in s.

    References:
        Kokolis et al., HPCA'25 (MTTF_job = 1/(N_nodes·r_f)); physics.md §6.2.
    """
    n = np.asarray(n_nodes, dtype=np.float64)
    lam = n * np.asarray(rate_per_s, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(lam > 0.0, 1.0 / np.where(lam > 0.0, lam, 1.0), np.inf)


def young_interval_s(ckpt_s: ArrayLike, mtbf_s: ArrayLike) -> FloatArray:
    """Young's first-order optimal checkpoint interval: τ = sqrt(2·δ·M).

    Args:
        ckpt_s: checkpoint save time δ in s.
        mtbf_s: mean time between failures M in s.

    Returns:
        Interval in s.

    References:
        Young, "A first order approximation to the optimum checkpoint interval", CACM 17(9),
        1974; physics.md §6.4.
    """
    d = np.maximum(np.asarray(ckpt_s, dtype=np.float64), 0.0)
    m = np.maximum(np.asarray(mtbf_s, dtype=np.float64), 0.0)
    return np.sqrt(2.0 * d * m)


def daly_interval_s(ckpt_s: ArrayLike, mtbf_s: ArrayLike) -> FloatArray:
    """Daly's higher-order optimal checkpoint interval.

    τ = sqrt(2δM)·[1 + (1/3)·sqrt(δ/(2M)) + (1/9)·(δ/(2M))] − δ for δ < 2M, else τ = M.
    Tends to Young's interval when δ ≪ M.

    Args:
        ckpt_s: checkpoint save time δ in s.
        mtbf_s: mean time between failures M in s.

    Returns:
        Interval in s.

    References:
        Daly, "A higher order estimate of the optimum checkpoint interval for restart dumps",
        FGCS 22(3), 2006; physics.md §6.4.
    """
    d = np.maximum(np.asarray(ckpt_s, dtype=np.float64), 0.0)
    m = np.maximum(np.asarray(mtbf_s, dtype=np.float64), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(m > 0.0, d / (2.0 * np.where(m > 0.0, m, 1.0)), np.inf)
        tau = np.sqrt(2.0 * d * m) * (1.0 + np.sqrt(x) / 3.0 + x / 9.0) - d
    return np.where(d < 2.0 * m, tau, m)


def availability_optimal_interval_s(
    ckpt_s: ArrayLike, mtbf_s: ArrayLike, restart_s: ArrayLike = 0.0
) -> FloatArray:
    """Availability-optimal checkpoint period: T_c = δ + sqrt(2·(M + T_r)·δ + δ²).

    Tends to Young's sqrt(2δM) when δ ≪ T_r ≪ M.

    Args:
        ckpt_s: checkpoint save time δ (T_s) in s.
        mtbf_s: mean time between failures M (T_f) in s.
        restart_s: restart / recovery time T_r in s.

    Returns:
        Checkpoint period in s.

    References:
        Saxena et al. (NVIDIA), arXiv 2410.18124; physics.md §6.4.
    """
    d = np.maximum(np.asarray(ckpt_s, dtype=np.float64), 0.0)
    m = np.maximum(np.asarray(mtbf_s, dtype=np.float64), 0.0)
    r = np.maximum(np.asarray(restart_s, dtype=np.float64), 0.0)
    return d + np.sqrt(2.0 * (m + r) * d + d * d)


def expected_goodput_frac(
    interval_s: ArrayLike, ckpt_s: ArrayLike, mtbf_s: ArrayLike, restart_s: ArrayLike = 0.0
) -> FloatArray:
    """Expected share of wall time spent on useful work (ETTR-like).

    G ≈ 1 − δ/τ − (τ/2 + T_r)/M, clipped to [0, 1]: checkpoint overhead, then per failure half
    an interval of lost work plus the restart.

    Args:
        interval_s: checkpoint interval τ in s (> 0).
        ckpt_s: checkpoint save time δ in s.
        mtbf_s: mean time between failures M in s (inf: no failures).
        restart_s: restart time T_r in s.

    Returns:
        Goodput fraction in [0, 1], broadcast shape of the inputs.

    References:
        physics.md §6.4 (ETTR ≈ 1 − δ/τ − (τ/2 + T_r)/M); Young 1974.
    """
    tau = np.asarray(interval_s, dtype=np.float64)
    d = np.maximum(np.asarray(ckpt_s, dtype=np.float64), 0.0)
    m = np.asarray(mtbf_s, dtype=np.float64)
    r = np.maximum(np.asarray(restart_s, dtype=np.float64), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ckpt_loss = np.where(tau > 0.0, d / np.where(tau > 0.0, tau, 1.0), 1.0)
        fail_loss = np.where(m > 0.0, (tau / 2.0 + r) / np.where(m > 0.0, m, 1.0), 1.0)
    return np.clip(1.0 - ckpt_loss - fail_loss, 0.0, 1.0)
