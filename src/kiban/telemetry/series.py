"""Telemetry as kiban's engines see it: labelled series on a regular time grid.

Every source (Prometheus, an OpenMetrics or CSV file, NVML) answers two questions for a
:class:`Window`: the value of a gauge in each step, and the per-second rate of a counter in each
step. Step ``k`` (0-based) covers ``(start + k·step, start + (k+1)·step]`` and carries the last
sample inside it, which is what PromQL's ``last_over_time(m[step])`` returns when evaluated at the
step's end. :func:`assemble` turns a list of series into a GPU × step matrix.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from kiban.errors import TelemetryError
from kiban.telemetry.dcgm import gpu_key, host_of, job_of

__all__ = ["Series", "Source", "Window", "assemble", "assemble_jobs", "grid_from_samples"]


@dataclass(frozen=True)
class Window:
    """A time window cut into equal steps.

    Attributes:
        start_s: Start (Unix s).
        end_s: End (Unix s); the window holds ``round((end - start) / step)`` steps.
        step_s: Step (s), normally the scrape interval.
    """

    start_s: float
    end_s: float
    step_s: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_s) and math.isfinite(self.end_s)):
            msg = f"window start {self.start_s!r} / end {self.end_s!r}: must be finite times"
            raise TelemetryError(msg)
        if not self.step_s > 0:
            msg = f"--step {self.step_s!r} s: must be > 0 (the scrape interval, e.g. 15)"
            raise TelemetryError(msg)
        if self.end_s - self.start_s < self.step_s:
            msg = (
                f"window {self.start_s:.0f}..{self.end_s:.0f} is shorter than one step "
                f"({self.step_s:g} s): the end must be at least one step after the start"
            )
            raise TelemetryError(msg)

    @property
    def n_steps(self) -> int:
        """Number of steps."""
        return max(1, round((self.end_s - self.start_s) / self.step_s))

    @property
    def duration_s(self) -> float:
        """Length booked (s): steps × step."""
        return self.n_steps * self.step_s

    def step_ends_s(self) -> np.ndarray:
        """End time of every step (s)."""
        return self.start_s + self.step_s * np.arange(1, self.n_steps + 1, dtype=np.float64)

    def chunks(self, max_steps: int) -> Iterator[Window]:
        """Consecutive sub-windows of at most ``max_steps`` steps covering this one."""
        k = 0
        n = self.n_steps
        while k < n:
            m = min(max_steps, n - k)
            s = self.start_s + k * self.step_s
            yield Window(s, s + m * self.step_s, self.step_s)
            k += m


@dataclass(frozen=True)
class Series:
    """One labelled series on a window's grid.

    Attributes:
        labels: Label name → value (without ``__name__``).
        step_idx: Step indices with a value (sorted, unique).
        values: Values at those steps.
    """

    labels: Mapping[str, str]
    step_idx: np.ndarray
    values: np.ndarray
    name: str = field(default="")


class Source(Protocol):
    """What every telemetry source answers."""

    description: str

    def gauge(self, metric: str, window: Window) -> list[Series]:
        """Last value of ``metric`` in each step, one :class:`Series` per label set."""
        ...

    def counter_rate(self, metric: str, window: Window) -> list[Series]:
        """Per-second increase of counter ``metric`` over each step (resets handled)."""
        ...

    def inventory(self, metric: str, window: Window) -> list[dict[str, str]]:
        """Label sets of every series of ``metric`` seen in the window."""
        ...

    def latest_sample_s(self, metric: str, window: Window) -> float | None:
        """Time of the newest sample of ``metric`` at the window's end (clock-skew check)."""
        ...


def grid_from_samples(
    t_s: np.ndarray, v: np.ndarray, window: Window, *, counter: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Put raw samples of one series on the window's grid.

    Gauges keep the last sample of each step. Counters give the increase from the last sample of
    the previous step to the last sample of this one, divided by their time apart; a decrease is a
    counter reset and counts the new value as the increase (Prometheus's rule).

    Args:
        t_s: Sample times (Unix s), sorted.
        v: Sample values.
        window: The grid.
        counter: Treat as a counter.

    Returns:
        ``(step_idx, values)``.
    """
    lo = window.start_s - (window.step_s if counter else 0.0)
    keep = (t_s > lo) & (t_s <= window.end_s) & np.isfinite(v)
    t = t_s[keep]
    x = v[keep]
    if t.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    k = np.ceil((t - window.start_s) / window.step_s - 1e-9).astype(np.int64) - 1
    last = np.ones(k.shape[0], dtype=bool)
    last[:-1] = k[1:] != k[:-1]
    k, t, x = k[last], t[last], x[last]
    if not counter:
        inside = k >= 0
        return k[inside], x[inside]
    if t.shape[0] < 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    inc = np.diff(x)
    inc = np.where(inc < 0, x[1:], inc)
    dt = np.diff(t)
    rate = inc / dt
    k1 = k[1:]
    inside = k1 >= 0
    return k1[inside], rate[inside]


def assemble(
    series: Sequence[Series], gpus: Mapping[tuple[str, str], int], n_steps: int
) -> tuple[np.ndarray, int]:
    """GPU × step matrix (NaN where no value) from per-GPU series.

    Series of an unknown GPU are ignored. When two series give a value for the same GPU and step
    (duplicate series, e.g. the same exporter scraped by two jobs, or ``Hostname`` and
    ``hostname`` versions side by side), the first one wins.

    Returns:
        ``(matrix, duplicate_cells)``.
    """
    out = np.full((len(gpus), n_steps), np.nan)
    dup = 0
    for s in series:
        g = gpus.get(gpu_key(s.labels))
        if g is None or s.step_idx.shape[0] == 0:
            continue
        row = out[g]
        taken = ~np.isnan(row[s.step_idx])
        dup += int(taken.sum())
        free = s.step_idx[~taken]
        row[free] = s.values[~taken]
    return out, dup


def assemble_jobs(
    series: Sequence[Series], gpus: Mapping[tuple[str, str], int], n_steps: int
) -> tuple[np.ndarray, list[str]]:
    """GPU × step job codes (−1 = no job) from the job label of per-GPU series.

    Returns:
        ``(codes, job_names)``; code ``i`` is ``job_names[i]``.
    """
    codes = np.full((len(gpus), n_steps), -1, dtype=np.int64)
    names: dict[str, int] = {}
    for s in series:
        g = gpus.get(gpu_key(s.labels))
        job = job_of(s.labels)
        if g is None or not job or s.step_idx.shape[0] == 0:
            continue
        code = names.setdefault(job, len(names))
        row = codes[g]
        free = s.step_idx[row[s.step_idx] < 0]
        row[free] = code
    return codes, list(names)


def node_of_series(labels: Mapping[str, str]) -> str:
    """The host a node-level series (node-exporter) belongs to."""
    return host_of(labels)


_UNITS_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_time_s(text: str, *, now_s: float, option: str = "--start") -> float:
    """A time given as Unix seconds, ISO 8601 (UTC unless it says otherwise) or ``now-7d``.

    Relative times take the units s, m, h, d and w.

    Raises:
        TelemetryError: naming the option and the value.
    """
    from datetime import UTC, datetime  # noqa: PLC0415

    raw = text.strip()
    if raw.startswith("now"):
        rest = raw[3:].replace(" ", "")
        if not rest:
            return now_s
        sign = -1.0 if rest[0] == "-" else 1.0 if rest[0] == "+" else 0.0
        unit = _UNITS_S.get(rest[-1:])
        try:
            amount = float(rest[1:-1])
        except ValueError:
            amount = math.nan
        if sign and unit and math.isfinite(amount):
            return now_s + sign * amount * unit
    else:
        try:
            return float(raw)
        except ValueError:
            pass
        try:
            stamp = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            stamp = None
        if stamp is not None:
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=UTC)
            return stamp.timestamp()
    msg = (
        f"{option} {text!r}: not a time; give Unix seconds, ISO 8601 "
        "(2025-01-06T00:00:00Z) or now-7d (units s, m, h, d, w)"
    )
    raise TelemetryError(msg)
