"""Rack inlet temperature and power for the agent, behind one small interface.

The agent needs, per rack, the inlet air temperature (°C) and the wall power (W), and the
cluster's total power (W) for the budget check. Two sources:

* :class:`FileRackMetrics`: a JSON file ``{"racks": {"r01": {"inlet_temp_c": 27.5,
  "power_w": 31000.0}, ...}, "total_power_w": 64000.0}`` (written by a site's own collector,
  or by a test);
* :class:`PrometheusRackMetrics`: two PromQL instant queries (one sample per rack, label
  ``rack``) against Prometheus's HTTP API (``/api/v1/query``), stdlib only.

This is the seam where the telemetry room's sources (``kiban.telemetry``) plug in once they
land: any object with ``read() -> RackMetrics`` works.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from kiban.errors import TelemetryError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["FileRackMetrics", "PrometheusRackMetrics", "RackMetrics", "RackMetricsSource"]


@dataclass(frozen=True, slots=True)
class RackMetrics:
    """One reading of the racks.

    Attributes:
        time_s: When it was taken (Unix s).
        inlet_temp_c: Rack → inlet air temperature (°C).
        power_w: Rack → wall power (W).
        total_power_w: Cluster power for the budget (W); NaN = sum of ``power_w``.
        source: Where it came from (for the log).
    """

    time_s: float
    inlet_temp_c: dict[str, float] = field(default_factory=dict)
    power_w: dict[str, float] = field(default_factory=dict)
    total_power_w: float = math.nan
    source: str = ""

    @property
    def cluster_power_w(self) -> float:
        """Total power (W): the explicit total, else the sum over racks (NaN if unknown)."""
        if not math.isnan(self.total_power_w):
            return self.total_power_w
        return float(sum(self.power_w.values())) if self.power_w else math.nan


class RackMetricsSource(Protocol):
    """Anything that gives a :class:`RackMetrics` reading."""

    def read(self) -> RackMetrics:
        """Take one reading (raise :class:`TelemetryError` if it cannot)."""
        ...


class FileRackMetrics:
    """Rack readings from a JSON file (see the module docstring for the format)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> RackMetrics:
        """Read and check the file."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except OSError as err:
            msg = f"{self.path}: cannot read rack metrics: {err.strerror or err}"
            raise TelemetryError(msg) from err
        except json.JSONDecodeError as err:
            msg = f"{self.path}: not JSON (line {err.lineno}): {err.msg}"
            raise TelemetryError(msg) from err
        racks = data.get("racks") if isinstance(data, dict) else None
        if not isinstance(racks, dict):
            msg = f"{self.path}: racks: missing or not a table; want {{'racks': {{NAME: {{...}}}}}}"
            raise TelemetryError(msg)
        temp: dict[str, float] = {}
        power: dict[str, float] = {}
        for name, rec in racks.items():
            for key, out in (("inlet_temp_c", temp), ("power_w", power)):
                if not isinstance(rec, dict) or key not in rec:
                    continue
                out[str(name)] = _finite(rec[key], f"{self.path}: racks.{name}.{key}")
        total = data.get("total_power_w")
        return RackMetrics(
            time_s=float(data.get("time_s", time.time())),
            inlet_temp_c=temp,
            power_w=power,
            total_power_w=math.nan
            if total is None
            else _finite(total, f"{self.path}: total_power_w"),
            source=f"file {self.path}",
        )


def _finite(value: Any, where: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError) as err:
        msg = f"{where} = {value!r}: must be a number"
        raise TelemetryError(msg) from err
    if not math.isfinite(out):
        msg = f"{where} = {value!r}: must be finite"
        raise TelemetryError(msg)
    return out


class PrometheusRackMetrics:
    """Rack readings from Prometheus instant queries (one series per rack, label ``rack``).

    Args:
        url: Prometheus base URL (``http://prometheus:9090``).
        inlet_query: PromQL giving inlet °C per rack.
        power_query: PromQL giving wall W per rack.
        total_query: Optional PromQL giving the cluster's power (W) as one sample.
        rack_label: Label that names the rack.
        timeout_s: Per-query time limit.
    """

    def __init__(
        self,
        url: str,
        *,
        inlet_query: str,
        power_query: str,
        total_query: str = "",
        rack_label: str = "rack",
        timeout_s: float = 10.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.inlet_query = inlet_query
        self.power_query = power_query
        self.total_query = total_query
        self.rack_label = rack_label
        self.timeout_s = timeout_s

    def _query(self, promql: str) -> list[dict[str, Any]]:
        qs = urllib.parse.urlencode({"query": promql})
        try:
            with urllib.request.urlopen(
                f"{self.url}/api/v1/query?{qs}", timeout=self.timeout_s
            ) as resp:
                data = json.loads(resp.read())
        except (urllib.error.URLError, OSError, json.JSONDecodeError) as err:
            msg = f"Prometheus at {self.url}: query {promql!r} failed: {err}"
            raise TelemetryError(msg) from err
        if data.get("status") != "success":
            msg = f"Prometheus at {self.url}: query {promql!r}: {data.get('error', data)}"
            raise TelemetryError(msg)
        result: list[dict[str, Any]] = data.get("data", {}).get("result", [])
        return result

    def _by_rack(self, promql: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for series in self._query(promql):
            rack = series.get("metric", {}).get(self.rack_label)
            if rack is None:
                continue
            out[str(rack)] = float(series["value"][1])
        return out

    def read(self) -> RackMetrics:
        """Run the queries."""
        total = math.nan
        if self.total_query:
            res = self._query(self.total_query)
            if res:
                total = float(res[0]["value"][1])
        return RackMetrics(
            time_s=time.time(),
            inlet_temp_c=self._by_rack(self.inlet_query),
            power_w=self._by_rack(self.power_query),
            total_power_w=total,
            source=f"prometheus {self.url}",
        )
