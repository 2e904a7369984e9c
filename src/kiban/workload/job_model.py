r"""Job-model columns (β, A, input rate, data set, checkpoints) from a documented mix.

Public traces record when a job arrived, how many GPUs it held and for how long, but not how it
uses the hardware. The twin needs that (power, clock sensitivity, storage demand, checkpoints), so
every reader fills the job-model columns from a *mix* of job archetypes, chosen per job by its
size class (``num_gpus``) and duration class (``duration_s``), with one ``np.random.Generator``:
the same trace and seed always give the same table.

Archetypes (defaults; every number can be overridden with :meth:`JobModelMix.from_dict`):

========= ====== ====== ====================== ================= ==================== ==========
archetype A      β      input per GPU          data set          parameters           checkpoint
========= ====== ====== ====================== ================= ==================== ==========
standard  0.95   0.90   5–50 MB/s              10–200 GB         25 M–350 M           yes
vision    0.90   0.85   150–600 MB/s           140 GB–1.5 TB     11 M–60 M            yes
llm       0.95   0.90   0.5–8 MB/s             0.5–20 TB         1 B–70 B (≤ 2 B/GPU) yes
dev       0.30   0.50   1–20 MB/s              1–50 GB           1 M–350 M            no
========= ====== ====== ====================== ================= ==================== ==========

Ranges are log-uniform; A and β get a small normal jitter (σ = 0.02), clipped to [0, 1].

Sources:

* A and β of training jobs: physics.md §2.2 and §2.4, defaults in §9 (training A ≈ 0.95,
  β ≈ 0.9; GEMM-heavy training 0.9–1.0).
* ``vision`` is the data-heavy share that can stall on shared storage: physics.md §5.1, an A100
  ResNet-50 step can consume ~5,300 images/s (≈ 580 MB/s at ~110 kB per JPEG) while a CPU decodes
  ~850/s; Mohan et al. (VLDB'21) found DNN training time often dominated by data stalls. Its
  data sets span ImageNet-1k (~140 GB) to OpenImages-scale sets.
* ``llm`` reads little (physics.md §5.1: LLM text training needs ~8 MB/s per job) but writes big
  checkpoints: S = N_params · 14 B (physics.md §5.2 and §9, mixed-precision Adam); parameters are
  capped at 2 B per GPU so a model fits its GPUs' memory (16 B/param of training state on
  80 GB GPUs allows ≤ 5 B/GPU before activations).
* ``dev`` stands for debugging and interactive runs, most of the short jobs in Philly (Jeon et
  al., ATC'19, report many jobs killed or failed within minutes and ≈52 % mean per-GPU
  utilization for 1-GPU jobs, physics.md §8). Its A = 0.3 and β = 0.5 are ASSUMED (idle with a
  context is A ≈ 0.1, §2.2); they are the weakest numbers here. ``dev`` jobs never checkpoint.
* Checkpoint interval: Young's τ = sqrt(2·δ·M) (physics.md §6.4) with δ = S / (nodes · 2 GB/s)
  and the job's MTBF M = 1 / (nodes · λ), λ = 4 failures per 1,000 node-days (physics.md §9),
  nodes = ceil(num_gpus / 8); clipped to [10 min, 4 h], the range practitioners use.

Mix by class (weights of standard / vision / llm / dev; ASSUMED, shaped by physics.md §8 and the
Philly size mix: most GPU-hours are long multi-GPU training; short runs are mostly debugging):

============================ =================== =================== ===================
size class \ duration class   short (< 1 h)        medium (1 h–1 d)     long (> 1 d)
============================ =================== =================== ===================
small (1 GPU)                 .25 / .15 / 0 / .60  .55 / .40 / .05 / 0  .55 / .40 / .05 / 0
medium (2–8 GPUs)             .30 / .20 / 0 / .50  .45 / .40 / .15 / 0  .45 / .40 / .15 / 0
large (9–64 GPUs)             .30 / .20 / 0 / .50  .35 / .30 / .35 / 0  .35 / .30 / .35 / 0
xlarge (> 64 GPUs)            .30 / .20 / 0 / .50  .20 / .20 / .60 / 0  .20 / .20 / .60 / 0
============================ =================== =================== ===================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import polars as pl

from kiban.errors import ConfigError
from kiban.physics.reliability import job_mtbf_s, node_failure_rate_per_s, young_interval_s
from kiban.physics.storage_io import (
    DEFAULT_CHECKPOINT_BYTES_PER_PARAM,
    checkpoint_size_b,
    checkpoint_write_s,
)
from kiban.units import B_PER_GB, B_PER_MB, B_PER_TB, S_PER_DAY, S_PER_H, S_PER_MIN

__all__ = [
    "DURATION_CLASSES",
    "SIZE_CLASSES",
    "Archetype",
    "JobModelMix",
    "assign_job_model",
    "default_mix",
]

SIZE_CLASSES: tuple[str, ...] = ("small", "medium", "large", "xlarge")
"""Size classes by ``num_gpus``: 1, 2–8, 9–64, > 64 (edges in ``JobModelMix.size_edges_gpus``)."""
DURATION_CLASSES: tuple[str, ...] = ("short", "medium", "long")
"""Duration classes: < 1 h, 1 h–1 day, > 1 day (edges in ``JobModelMix.duration_edges_s``)."""


@dataclass(frozen=True)
class Archetype:
    """One kind of job and the ranges its job-model columns are drawn from.

    Attributes:
        activity_frac: Mean power-weighted activity A, in [0, 1].
        compute_bound_frac: Mean compute-bound fraction β, in [0, 1].
        jitter_frac: σ of the normal jitter added to A and β per job.
        input_rate_b_per_s_per_gpu: (low, high) of a log-uniform input rate per GPU, B/s.
        dataset_size_b: (low, high) of a log-uniform data-set size, B.
        n_params: (low, high) of a log-uniform parameter count.
        max_params_per_gpu: Cap on parameters per GPU of the job (memory), or 0 for no cap.
        checkpoints: Whether jobs of this kind write checkpoints.
    """

    activity_frac: float
    compute_bound_frac: float
    jitter_frac: float
    input_rate_b_per_s_per_gpu: tuple[float, float]
    dataset_size_b: tuple[float, float]
    n_params: tuple[float, float]
    max_params_per_gpu: float = 0.0
    checkpoints: bool = True


def _default_archetypes() -> dict[str, Archetype]:
    return {
        "standard": Archetype(
            0.95, 0.90, 0.02, (5 * B_PER_MB, 50 * B_PER_MB), (10 * B_PER_GB, 200 * B_PER_GB),
            (2.5e7, 3.5e8),
        ),
        "vision": Archetype(
            0.90, 0.85, 0.02, (150 * B_PER_MB, 600 * B_PER_MB), (140 * B_PER_GB, 1.5 * B_PER_TB),
            (1.1e7, 6.0e7),
        ),
        "llm": Archetype(
            0.95, 0.90, 0.02, (0.5 * B_PER_MB, 8 * B_PER_MB), (0.5 * B_PER_TB, 20 * B_PER_TB),
            (1.0e9, 7.0e10), max_params_per_gpu=2.0e9,
        ),
        "dev": Archetype(
            0.30, 0.50, 0.02, (1 * B_PER_MB, 20 * B_PER_MB), (1 * B_PER_GB, 50 * B_PER_GB),
            (1.0e6, 3.5e8), checkpoints=False,
        ),
    }  # fmt: skip


def _default_weights() -> dict[str, dict[str, float]]:
    short_small = {"standard": 0.25, "vision": 0.15, "llm": 0.0, "dev": 0.60}
    short_multi = {"standard": 0.30, "vision": 0.20, "llm": 0.0, "dev": 0.50}
    long_by_size = {
        "small": {"standard": 0.55, "vision": 0.40, "llm": 0.05, "dev": 0.0},
        "medium": {"standard": 0.45, "vision": 0.40, "llm": 0.15, "dev": 0.0},
        "large": {"standard": 0.35, "vision": 0.30, "llm": 0.35, "dev": 0.0},
        "xlarge": {"standard": 0.20, "vision": 0.20, "llm": 0.60, "dev": 0.0},
    }
    weights: dict[str, dict[str, float]] = {}
    for size in SIZE_CLASSES:
        weights[f"{size}/short"] = dict(short_small if size == "small" else short_multi)
        weights[f"{size}/medium"] = dict(long_by_size[size])
        weights[f"{size}/long"] = dict(long_by_size[size])
    return weights


def _freeze(d: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(d))


@dataclass(frozen=True)
class JobModelMix:
    """Which archetype a job gets, by size and duration class, plus the checkpoint assumptions.

    Build the default with :func:`default_mix`; override parts with :meth:`from_dict` (for
    example from a scenario's ``[workload.mix]`` table).

    Attributes:
        archetypes: Archetype name → :class:`Archetype`.
        weights: ``"<size>/<duration>"`` → archetype name → weight (normalized per class).
        size_edges_gpus: Upper GPU counts of the small, medium and large classes.
        duration_edges_s: Upper durations of the short and medium classes, s.
        bytes_per_param: Checkpoint bytes per parameter (physics.md §5.2: 12–16, default 14).
        checkpoint_write_b_per_s_per_node: Write bandwidth one node gets for checkpoints, B/s.
        gpus_per_node: GPUs per node used to count a job's nodes for its MTBF.
        failures_per_1000_node_days: Node failure rate for the MTBF (physics.md §9: 4).
        checkpoint_interval_min_s: Lower clip of Young's interval, s.
        checkpoint_interval_max_s: Upper clip of Young's interval, s.
    """

    archetypes: Mapping[str, Archetype] = field(
        default_factory=lambda: _freeze(_default_archetypes())
    )
    weights: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: _freeze({k: _freeze(v) for k, v in _default_weights().items()})
    )
    size_edges_gpus: tuple[int, int, int] = (1, 8, 64)
    duration_edges_s: tuple[float, float] = (S_PER_H, S_PER_DAY)
    bytes_per_param: float = DEFAULT_CHECKPOINT_BYTES_PER_PARAM
    checkpoint_write_b_per_s_per_node: float = 2.0 * B_PER_GB
    gpus_per_node: int = 8
    failures_per_1000_node_days: float = 4.0
    checkpoint_interval_min_s: float = 10.0 * S_PER_MIN
    checkpoint_interval_max_s: float = 4.0 * S_PER_H

    def __post_init__(self) -> None:
        problems = _check_mix(self)
        if problems:
            raise ConfigError(problems[0], problems=problems)

    @classmethod
    def from_dict(cls, overrides: Mapping[str, Any], *, where: str = "mix") -> JobModelMix:
        """Return the default mix with the given parts replaced.

        Args:
            overrides: Any of the attribute names. ``archetypes`` maps a name to a partial
                archetype (fields as in :class:`Archetype`; a new name needs every field);
                ``weights`` maps ``"<size>/<duration>"`` (or ``"*/<duration>"``,
                ``"<size>/*"``, ``"*/*"``) to a complete weight table for those classes.
            where: Dotted path of the table in the user's file, for error messages.

        Returns:
            A validated :class:`JobModelMix`.

        Raises:
            ConfigError: naming ``where.<field>``, the value and what is allowed.
        """
        base = default_mix()
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            msg = f"{where}: unknown key(s) {unknown}; allowed: {sorted(known)}"
            raise ConfigError(msg)
        kwargs: dict[str, Any] = {}
        archetypes = dict(base.archetypes)
        for name, spec in dict(overrides.get("archetypes", {})).items():
            archetypes[name] = _archetype_from(name, spec, archetypes.get(name), where)
        kwargs["archetypes"] = _freeze(archetypes)
        weights = {k: dict(v) for k, v in base.weights.items()}
        for key, table in dict(overrides.get("weights", {})).items():
            for target in _expand_class_key(key, where):
                if not isinstance(table, Mapping):
                    msg = f"{where}.weights.{key} = {table!r}: must be a table name → weight"
                    raise ConfigError(msg)
                weights[target] = {str(a): float(w) for a, w in table.items()}
        kwargs["weights"] = _freeze({k: _freeze(v) for k, v in weights.items()})
        for name in known - {"archetypes", "weights"}:
            if name in overrides:
                value = overrides[name]
                kwargs[name] = tuple(value) if isinstance(value, list) else value
        try:
            return dataclasses.replace(base, **kwargs)
        except ConfigError as err:
            problems = [f"{where}.{p}" for p in err.problems]
            raise ConfigError(problems[0], problems=problems) from None


def _expand_class_key(key: str, where: str) -> list[str]:
    parts = key.split("/")
    sizes = SIZE_CLASSES if parts[0] == "*" else (parts[0],)
    durs = DURATION_CLASSES if len(parts) == 2 and parts[1] == "*" else tuple(parts[1:2])
    if (
        len(parts) != 2
        or not set(sizes) <= set(SIZE_CLASSES)
        or not set(durs) <= set(DURATION_CLASSES)
    ):
        msg = (
            f"{where}.weights.{key}: key must be '<size>/<duration>' with size in "
            f"{list(SIZE_CLASSES)} (or *) and duration in {list(DURATION_CLASSES)} (or *)"
        )
        raise ConfigError(msg)
    return [f"{s}/{d}" for s in sizes for d in durs]


def _archetype_from(name: str, spec: Any, base: Archetype | None, where: str) -> Archetype:
    if isinstance(spec, Archetype):
        return spec
    if not isinstance(spec, Mapping):
        msg = f"{where}.archetypes.{name} = {spec!r}: must be a table of archetype fields"
        raise ConfigError(msg)
    fields = {f.name for f in dataclasses.fields(Archetype)}
    unknown = sorted(set(spec) - fields)
    if unknown:
        msg = f"{where}.archetypes.{name}: unknown field(s) {unknown}; allowed: {sorted(fields)}"
        raise ConfigError(msg)
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()}
    if base is None:
        missing = sorted(f for f in fields if f not in values and f not in _ARCH_OPTIONAL)
        if missing:
            msg = f"{where}.archetypes.{name}: a new archetype needs field(s) {missing}"
            raise ConfigError(msg)
        return Archetype(**values)
    return dataclasses.replace(base, **values)


_ARCH_OPTIONAL = {"max_params_per_gpu", "checkpoints"}


def _check_mix(mix: JobModelMix) -> list[str]:
    problems: list[str] = []
    for name, a in mix.archetypes.items():
        for fname in ("activity_frac", "compute_bound_frac"):
            v = getattr(a, fname)
            if not 0.0 <= v <= 1.0:
                problems.append(f"archetypes.{name}.{fname} = {v}: must be in [0, 1]")
        if not 0.0 <= a.jitter_frac <= 0.5:
            problems.append(f"archetypes.{name}.jitter_frac = {a.jitter_frac}: must be in [0, 0.5]")
        for fname in ("input_rate_b_per_s_per_gpu", "dataset_size_b", "n_params"):
            lo_hi = getattr(a, fname)
            if len(lo_hi) != 2 or not 0.0 < lo_hi[0] <= lo_hi[1] < np.inf:
                problems.append(
                    f"archetypes.{name}.{fname} = {lo_hi}: must be (low, high) with 0 < low ≤ high"
                )
        if a.max_params_per_gpu < 0:
            problems.append(f"archetypes.{name}.max_params_per_gpu = {a.max_params_per_gpu}: ≥ 0")
    expected = {f"{s}/{d}" for s in SIZE_CLASSES for d in DURATION_CLASSES}
    missing = sorted(expected - set(mix.weights))
    if missing:
        problems.append(f"weights: missing class(es) {missing}")
    for key, table in mix.weights.items():
        if key not in expected:
            problems.append(f"weights.{key}: unknown class; allowed: {sorted(expected)}")
            continue
        for arch, w in table.items():
            if arch not in mix.archetypes:
                problems.append(
                    f"weights.{key}.{arch}: unknown archetype; known: {sorted(mix.archetypes)}"
                )
            elif not (np.isfinite(w) and w >= 0):
                problems.append(f"weights.{key}.{arch} = {w}: must be ≥ 0")
        if sum(table.values()) <= 0:
            problems.append(f"weights.{key}: weights must add up to more than 0")
    s1, s2, s3 = mix.size_edges_gpus
    if not 1 <= s1 < s2 < s3:
        problems.append(f"size_edges_gpus = {mix.size_edges_gpus}: must be 1 ≤ a < b < c")
    d1, d2 = mix.duration_edges_s
    if not 0 < d1 < d2:
        problems.append(f"duration_edges_s = {mix.duration_edges_s}: must be 0 < a < b")
    for fname in (
        "bytes_per_param",
        "checkpoint_write_b_per_s_per_node",
        "failures_per_1000_node_days",
        "checkpoint_interval_min_s",
    ):
        v = getattr(mix, fname)
        if not (np.isfinite(v) and v > 0):
            problems.append(f"{fname} = {v}: must be > 0")
    if mix.gpus_per_node < 1:
        problems.append(f"gpus_per_node = {mix.gpus_per_node}: must be ≥ 1")
    if not mix.checkpoint_interval_max_s >= mix.checkpoint_interval_min_s:
        problems.append(
            f"checkpoint_interval_max_s = {mix.checkpoint_interval_max_s}: must be ≥ "
            f"checkpoint_interval_min_s = {mix.checkpoint_interval_min_s}"
        )
    return problems


def default_mix() -> JobModelMix:
    """Return the documented default mix (module docstring)."""
    return JobModelMix()


def size_class_index(num_gpus: np.ndarray, mix: JobModelMix) -> np.ndarray:
    """Index into :data:`SIZE_CLASSES` for each GPU count."""
    return np.searchsorted(np.asarray(mix.size_edges_gpus), num_gpus, side="left")


def duration_class_index(duration_s: np.ndarray, mix: JobModelMix) -> np.ndarray:
    """Index into :data:`DURATION_CLASSES` for each duration (edges belong to the lower class)."""
    return np.searchsorted(np.asarray(mix.duration_edges_s), duration_s, side="left")


def _log_uniform(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    u = rng.random(lo.size)
    return np.exp(np.log(lo) + u * (np.log(hi) - np.log(lo)))


def assign_job_model(
    df: pl.DataFrame, rng: np.random.Generator, mix: JobModelMix | None = None
) -> pl.DataFrame:
    """Fill the job-model columns of a jobs table from the mix, deterministically given ``rng``.

    Each job gets an archetype drawn with the weights of its (size, duration) class; then A and β
    (with jitter), a log-uniform input rate, data-set size and parameter count, the checkpoint
    size S = N·b and Young's checkpoint interval (module docstring). The draws are made for all
    rows at once in a fixed order, so the result depends only on the table and the rng state.

    Args:
        df: A table with at least ``num_gpus`` and ``duration_s``; other columns are kept.
        rng: The random generator (consumed).
        mix: The mix; default :func:`default_mix`.

    Returns:
        The table with the six job-model columns set (replaced if present).

    References:
        physics.md §2.2, §2.4, §5.1, §5.2, §6.4, §9 (see the module docstring).
    """
    mix = default_mix() if mix is None else mix
    n = df.height
    num_gpus = df["num_gpus"].to_numpy().astype(np.int64)
    duration_s = df["duration_s"].to_numpy().astype(np.float64)
    names = list(mix.archetypes)
    n_arch = len(names)

    # Archetype per job: one uniform per row against the class's cumulative weights.
    cls = size_class_index(num_gpus, mix) * len(DURATION_CLASSES) + duration_class_index(
        duration_s, mix
    )
    cum = np.zeros((len(SIZE_CLASSES) * len(DURATION_CLASSES), n_arch))
    for si, size in enumerate(SIZE_CLASSES):
        for di, dur in enumerate(DURATION_CLASSES):
            table = mix.weights[f"{size}/{dur}"]
            w = np.array([table.get(a, 0.0) for a in names], dtype=np.float64)
            cum[si * len(DURATION_CLASSES) + di] = np.cumsum(w / w.sum())
    u = rng.random(n)
    arch = np.minimum((u[:, None] >= cum[cls]).sum(axis=1), n_arch - 1)

    def per_job(attr: str) -> np.ndarray:
        values = np.array([getattr(mix.archetypes[a], attr) for a in names], dtype=np.float64)
        return values[arch]

    def per_job_range(attr: str) -> tuple[np.ndarray, np.ndarray]:
        lo_hi = np.array([getattr(mix.archetypes[a], attr) for a in names], dtype=np.float64)
        return lo_hi[arch, 0], lo_hi[arch, 1]

    jitter = per_job("jitter_frac")
    activity = np.clip(per_job("activity_frac") + jitter * rng.standard_normal(n), 0.0, 1.0)
    beta = np.clip(per_job("compute_bound_frac") + jitter * rng.standard_normal(n), 0.0, 1.0)
    rate = _log_uniform(rng, *per_job_range("input_rate_b_per_s_per_gpu"))
    dataset = _log_uniform(rng, *per_job_range("dataset_size_b"))
    p_lo, p_hi = per_job_range("n_params")
    cap = per_job("max_params_per_gpu")
    capped = cap > 0
    p_hi = np.where(capped, np.minimum(p_hi, cap * num_gpus), p_hi)
    p_lo = np.minimum(p_lo, p_hi)
    n_params = _log_uniform(rng, p_lo, p_hi)

    ckpt_b = checkpoint_size_b(n_params, mix.bytes_per_param)
    n_nodes = np.ceil(num_gpus / mix.gpus_per_node)
    write_s = checkpoint_write_s(ckpt_b, n_nodes * mix.checkpoint_write_b_per_s_per_node)
    mtbf_s = job_mtbf_s(n_nodes, node_failure_rate_per_s(mix.failures_per_1000_node_days))
    interval_s = np.clip(
        young_interval_s(write_s, mtbf_s),
        mix.checkpoint_interval_min_s,
        mix.checkpoint_interval_max_s,
    )
    writes = per_job("checkpoints") > 0
    return df.with_columns(
        pl.Series("compute_bound_frac", beta),
        pl.Series("activity_frac", activity),
        pl.Series("input_rate_b_per_s_per_gpu", rate),
        pl.Series("dataset_size_b", dataset),
        pl.Series("checkpoint_size_b", np.where(writes, ckpt_b, 0.0)),
        pl.Series("checkpoint_interval_s", np.where(writes, interval_s, 0.0)),
    )
