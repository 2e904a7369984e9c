"""Telemetry sources and the twin's exporter, under dcgm-exporter's names.

* :class:`~kiban.telemetry.prometheus.PrometheusSource`: Prometheus HTTP API (paged range
  queries, series limit, timeouts, retry with backoff).
* :class:`~kiban.telemetry.openmetrics.FileSource`: an OpenMetrics dump or a CSV.
* :class:`~kiban.telemetry.nvml.NvmlSource`: one node through NVML (``kiban[live]``).
* :func:`~kiban.telemetry.twin.load_twin` + :func:`~kiban.telemetry.openmetrics.write_openmetrics`
  / :mod:`kiban.telemetry.serve`: the twin's per-GPU timeline as dcgm-exporter metrics.
"""

from __future__ import annotations

from kiban.telemetry.series import Series, Source, Window

__all__ = ["Series", "Source", "Window"]
