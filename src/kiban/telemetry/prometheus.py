"""Read telemetry from a Prometheus server over its HTTP API (``/api/v1/query_range``).

Queries are paged: Prometheus answers at most 11,000 points per series, and kiban asks for
``chunk`` steps at a time anyway so memory stays bounded. Before a metric is fetched for a chunk,
an instant ``count(...)`` query checks the number of series against ``max_series``. Every request
has a timeout and is retried with exponential backoff; when the server stays down or slow, one
:class:`~kiban.errors.TelemetryError` says so.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import numpy as np

from kiban.errors import TelemetryError
from kiban.telemetry.series import Series, Window

__all__ = ["MAX_POINTS_PER_SERIES", "PrometheusSource"]

logger = logging.getLogger(__name__)

MAX_POINTS_PER_SERIES = 11_000
"""Prometheus refuses range queries with more points per series than this."""


def _fmt(t_s: float) -> str:
    return f"{t_s:.3f}"


class PrometheusSource:
    """A Prometheus server as a telemetry source.

    Args:
        url: Base URL, e.g. ``http://127.0.0.1:9090``.
        timeout_s: Per-request timeout (s).
        retries: Attempts after the first one.
        backoff_s: First wait between attempts (s); doubles each time.
        max_series: Most series one metric may return in one chunk.
        match: Extra PromQL label matchers put on every selector, e.g. ``cluster="a"``.
        client: An ``httpx.Client`` to use (tests); one is made otherwise.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 30.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_series: int = 50_000,
        match: str = "",
        client: httpx.Client | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            msg = f"--prometheus {url!r}: must be an http:// or https:// URL"
            raise TelemetryError(msg)
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.retries = max(0, retries)
        self.backoff_s = backoff_s
        self.max_series = max_series
        self.match = match
        self.description = f"Prometheus at {self.url}"
        self._client = client or httpx.Client(timeout=timeout_s)
        self.requests = 0

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def __enter__(self) -> PrometheusSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- HTTP ------------------------------------------------------------------------------
    def _get(self, path: str, params: dict[str, str]) -> Any:
        last = ""
        wait = self.backoff_s
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(wait)
                wait *= 2
            self.requests += 1
            try:
                resp = self._client.get(f"{self.url}{path}", params=params, timeout=self.timeout_s)
            except httpx.TimeoutException:
                last = f"no answer within {self.timeout_s:g} s"
                continue
            except httpx.HTTPError as err:
                last = f"cannot connect ({type(err).__name__}: {err})"
                continue
            if resp.status_code in (429, 502, 503, 504):
                last = f"HTTP {resp.status_code}"
                continue
            try:
                body = resp.json()
            except ValueError:
                msg = (
                    f"{self.description}: {path} answered HTTP {resp.status_code} with "
                    "something that is not JSON; is this a Prometheus server?"
                )
                raise TelemetryError(msg) from None
            if body.get("status") != "success":
                msg = (
                    f"{self.description}: query {params.get('query', '')!r} failed: "
                    f"{body.get('errorType', '')} {body.get('error', resp.status_code)}"
                )
                raise TelemetryError(msg)
            return body["data"]
        msg = (
            f"{self.description}: {last} after {self.retries + 1} attempts "
            f"(timeout {self.timeout_s:g} s, backoff from {self.backoff_s:g} s); "
            "check the URL and that Prometheus is up (GET /-/ready)"
        )
        raise TelemetryError(msg)

    def _selector(self, metric: str) -> str:
        return f"{metric}{{{self.match}}}" if self.match else metric

    # --- queries ---------------------------------------------------------------------------
    def instant(self, expr: str, t_s: float) -> list[tuple[dict[str, str], float]]:
        """Evaluate ``expr`` at ``t_s``; ``[(labels, value)]``."""
        data = self._get("/api/v1/query", {"query": expr, "time": _fmt(t_s)})
        out = []
        for item in data.get("result", []):
            if data.get("resultType") == "scalar":
                return [({}, float(item[1]))] if isinstance(item, str) else []
            out.append((dict(item.get("metric", {})), float(item["value"][1])))
        return out

    def query_range(self, expr: str, window: Window) -> list[Series]:
        """Evaluate ``expr`` at every step end of ``window``, paging over long windows.

        Series are merged across pages by their label set.
        """
        merged: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], list[Any], list[Any]]] = {}
        for page in window.chunks(MAX_POINTS_PER_SERIES):
            offset = round((page.start_s - window.start_s) / window.step_s)
            params = {
                "query": expr,
                "start": _fmt(page.start_s + page.step_s),
                "end": _fmt(page.end_s),
                "step": f"{page.step_s:g}",
            }
            data = self._get("/api/v1/query_range", params)
            for item in data.get("result", []):
                labels = {k: v for k, v in item.get("metric", {}).items() if k != "__name__"}
                key = tuple(sorted(labels.items()))
                vals = item.get("values", [])
                if not vals:
                    continue
                arr = np.array(vals, dtype=np.float64)
                idx = np.rint((arr[:, 0] - page.start_s) / page.step_s).astype(np.int64) - 1
                entry = merged.setdefault(key, (labels, [], []))
                entry[1].append(idx + offset)
                entry[2].append(arr[:, 1])
        out = []
        for labels, idxs, vals in merged.values():
            out.append(Series(labels, np.concatenate(idxs), np.concatenate(vals)))
        return out

    def count_series(self, metric: str, window: Window) -> int:
        """How many series ``metric`` has in ``window`` (one instant query)."""
        rng = max(window.step_s, window.end_s - window.start_s)
        expr = f"count(last_over_time({self._selector(metric)}[{rng:.0f}s]))"
        res = self.instant(expr, window.end_s)
        return int(res[0][1]) if res else 0

    def _checked(self, metric: str, window: Window) -> bool:
        n = self.count_series(metric, window)
        if n > self.max_series:
            msg = (
                f"{self.description}: {metric} has {n} series in the window, more than "
                f"--max-series {self.max_series}; narrow the selection with --match "
                '(e.g. cluster="a") or raise --max-series'
            )
            raise TelemetryError(msg)
        return n > 0

    def gauge(self, metric: str, window: Window) -> list[Series]:
        """Last value of ``metric`` in each step (``last_over_time(m[step])``)."""
        if not self._checked(metric, window):
            return []
        # a range a millisecond short of the step: a series that ended at the previous step
        # (a job left the GPU) must not show up again in this one
        rng_ms = max(1, round(window.step_s * 1000) - 1)
        expr = f"last_over_time({self._selector(metric)}[{rng_ms}ms])"
        return self.query_range(expr, window)

    def counter_rate(self, metric: str, window: Window) -> list[Series]:
        """Per-second increase of a counter over each step (``irate``, resets handled)."""
        if not self._checked(metric, window):
            return []
        rng_ms = round((2 * window.step_s + max(1.0, 0.1 * window.step_s)) * 1000)
        expr = f"irate({self._selector(metric)}[{rng_ms}ms])"
        return self.query_range(expr, window)

    def inventory(self, metric: str, window: Window) -> list[dict[str, str]]:
        """Label sets of every series of ``metric`` seen in the window."""
        if not self._checked(metric, window):
            return []
        rng = max(window.step_s, window.end_s - window.start_s)
        expr = f"last_over_time({self._selector(metric)}[{rng:.0f}s])"
        return [
            {k: v for k, v in lab.items() if k != "__name__"}
            for lab, _ in self.instant(expr, window.end_s)
        ]

    def latest_sample_s(self, metric: str, window: Window) -> float | None:
        """Time of the newest sample of ``metric`` in the window (for clock-skew checks)."""
        expr = f"max(timestamp({self._selector(metric)}))"
        res = self.instant(expr, window.end_s)
        return res[0][1] if res else None
