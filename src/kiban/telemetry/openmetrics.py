"""OpenMetrics text with timestamps: the twin's export, and a file source.

The writer produces input for ``promtool tsdb create-blocks-from openmetrics`` (backfill); the file
source serves sites that cannot open their Prometheus (an OpenMetrics dump, or a CSV with
``time, metric, value`` and one column per label).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import IO

import numpy as np

from kiban.errors import ConfigError, TelemetryError
from kiban.telemetry import dcgm
from kiban.telemetry.series import Series, Window, grid_from_samples
from kiban.telemetry.twin import GPU_METRICS, TwinTimeline

__all__ = ["FileSource", "MemorySource", "write_openmetrics"]

_LABEL_RE = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')
_LINE_RE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})?\s+(\S+)(?:\s+(\S+))?\s*$")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels_text(labels: Mapping[str, str]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _num(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.9g}"


def write_openmetrics(twin: TwinTimeline, out: IO[str], *, step_s: float = 15.0) -> int:
    """Write the twin's telemetry as OpenMetrics with timestamps (ends with ``# EOF``).

    Args:
        twin: The loaded timeline.
        out: Text stream.
        step_s: Scrape interval (s).

    Returns:
        Number of samples written.
    """
    t = twin.scrape_times_s(step_s)
    frames = twin.frames(t, step_s)
    stamps = [f"{x:.3f}" for x in (twin.origin_unix_s + t).tolist()]
    n = 0
    base = [twin.labels(g) for g in range(twin.gpus.height)]
    for name, key, help_text in GPU_METRICS:
        out.write(f"# HELP {name} {help_text}\n# TYPE {name} gauge\n")
        mat = frames.gpu[key]
        for g, lab in enumerate(base):
            row = mat[g].tolist()
            codes = frames.job[g]
            for code in np.unique(codes).tolist():
                labels = dict(lab)
                if code >= 0:
                    labels["hpc_job"] = frames.job_names[code]
                head = name + _labels_text(labels)
                for k in np.flatnonzero(codes == code).tolist():
                    v = row[k]
                    if not math.isnan(v):
                        out.write(f"{head} {_num(v)} {stamps[k]}\n")
                        n += 1
    name = dcgm.MAX_SM_CLOCK
    out.write(f"# HELP {name} Maximum SM clock (in MHz).\n# TYPE {name} gauge\n")
    for g, lab in enumerate(base):
        head = name + _labels_text(lab) + f" {_num(float(twin.max_clock_mhz[g]))} "
        out.writelines(head + s + "\n" for s in stamps)
        n += len(stamps)
    fam = dcgm.NODE_IO_WAITING.removesuffix("_total")
    out.write(f"# HELP {fam} Total time in seconds that processes have waited due to IO.\n")
    out.write(f"# TYPE {fam} counter\n")
    for i, node in enumerate(twin.node_names):
        head = dcgm.NODE_IO_WAITING + _labels_text({"instance": f"{node}:9100"})
        row = frames.node_io_s[i].tolist()
        out.writelines(f"{head} {row[k]:.9g} {stamps[k]}\n" for k in range(len(stamps)))
        n += len(stamps)
    name = dcgm.QUEUE_PENDING
    out.write(f"# HELP {name} Pending jobs in queue\n# TYPE {name} gauge\n")
    pend = frames.pending.tolist()
    out.writelines(f"{name} {_num(pend[k])} {stamps[k]}\n" for k in range(len(stamps)))
    n += len(stamps)
    out.write("# EOF\n")
    return n


def _parse_time(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        msg = f"{where}: time {text!r} is neither Unix seconds nor ISO 8601"
        raise TelemetryError(msg) from None


class MemorySource:
    """Raw timestamped samples held in memory, answered like Prometheus would."""

    def __init__(self, description: str = "samples in memory") -> None:
        self.description = description
        self._data: dict[str, dict[tuple[tuple[str, str], ...], tuple[list[float], list[float]]]]
        self._data = {}

    def add(self, name: str, labels: Mapping[str, str], t_s: float, value: float) -> None:
        """Add one sample of metric ``name``."""
        key = tuple(sorted(labels.items()))
        ts, vs = self._data.setdefault(name, {}).setdefault(key, ([], []))
        ts.append(t_s)
        vs.append(value)

    _add = add

    def _series(self, metric: str, window: Window, *, counter: bool) -> Iterator[Series]:
        for key, (ts, vs) in self._data.get(metric, {}).items():
            t = np.asarray(ts)
            v = np.asarray(vs)
            order = np.argsort(t, kind="stable")
            idx, val = grid_from_samples(t[order], v[order], window, counter=counter)
            if idx.shape[0]:
                yield Series(dict(key), idx, val)

    def gauge(self, metric: str, window: Window) -> list[Series]:
        """Last value in each step."""
        return list(self._series(metric, window, counter=False))

    def counter_rate(self, metric: str, window: Window) -> list[Series]:
        """Per-second increase over each step."""
        return list(self._series(metric, window, counter=True))

    def inventory(self, metric: str, window: Window) -> list[dict[str, str]]:
        """Label sets of every series of ``metric`` with a sample in the window."""
        return [dict(s.labels) for s in self._series(metric, window, counter=False)]

    def latest_sample_s(self, metric: str, window: Window) -> float | None:
        """Time of the newest sample of ``metric`` at or before the window's end."""
        best = None
        for ts, _ in self._data.get(metric, {}).values():
            inside = [t for t in ts if t <= window.end_s]
            if inside:
                best = max(inside) if best is None else max(best, *inside)
        return best

    def time_range_s(self) -> tuple[float, float] | None:
        """First and last sample time in the file (Unix s)."""
        lo, hi = math.inf, -math.inf
        for per in self._data.values():
            for ts, _ in per.values():
                lo = min(lo, *ts)
                hi = max(hi, *ts)
        return (lo, hi) if lo <= hi else None


class FileSource(MemorySource):
    """Telemetry from an OpenMetrics/Prometheus text dump with timestamps, or a CSV.

    CSV columns: ``time`` (Unix s or ISO 8601), ``metric``, ``value``, and one column per label.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        super().__init__(f"file {self.path}")
        if not self.path.is_file():
            msg = f"--file {self.path}: no such file"
            raise ConfigError(msg)
        try:
            if self.path.suffix.lower() == ".csv":
                self._read_csv()
            else:
                self._read_text()
        except UnicodeDecodeError as err:
            msg = f"{self.path}: not UTF-8 text ({err.reason} at byte {err.start})"
            raise TelemetryError(msg) from None

    def _read_text(self) -> None:
        with self.path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip() or line.startswith("#"):
                    continue
                m = _LINE_RE.match(line)
                where = f"{self.path}:{lineno}"
                if m is None:
                    msg = f"{where}: not an OpenMetrics sample line: {line.strip()[:80]!r}"
                    raise TelemetryError(msg)
                name, lab, value, stamp = m.groups()
                if stamp is None:
                    msg = f"{where}: sample without a timestamp; a file source needs timestamps"
                    raise TelemetryError(msg)
                labels = dict(_LABEL_RE.findall(lab or ""))
                labels = {k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in labels.items()}
                try:
                    val = float(value)
                except ValueError:
                    msg = f"{where}: value {value!r} is not a number"
                    raise TelemetryError(msg) from None
                t = _parse_time(stamp, where)
                if t > 1e11:  # Prometheus text format uses milliseconds
                    t /= 1000.0
                self._add(name, labels, t, val)

    def _read_csv(self) -> None:
        with self.path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            need = {"time", "metric", "value"}
            missing = need - set(reader.fieldnames or [])
            if missing:
                msg = f"{self.path}: missing CSV columns {', '.join(sorted(missing))}"
                raise TelemetryError(msg)
            for lineno, row in enumerate(reader, 2):
                where = f"{self.path}:{lineno}"
                try:
                    val = float(row["value"])
                except ValueError:
                    msg = f"{where}: value {row['value']!r} is not a number"
                    raise TelemetryError(msg) from None
                labels = {k: v for k, v in row.items() if k not in need and k is not None and v}
                self._add(row["metric"], labels, _parse_time(row["time"], where), val)
