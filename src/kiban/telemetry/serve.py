"""The twin as a live dcgm-exporter: ``/metrics`` replaying a recorded timeline.

Simulated time runs ``speed`` times faster than the wall clock from the moment the server starts.
Every scrape shows the state at the current simulated time, with busy share, power and PCIe
traffic averaged over the last ``window_s`` simulated seconds (as DCGM averages over its sample
period). Metric names and labels are dcgm-exporter's; the node I/O counter is node-exporter's and
the queue length prometheus-slurm-exporter's (see :mod:`kiban.telemetry.twin`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from kiban.telemetry import dcgm
from kiban.telemetry.twin import GPU_METRICS, TwinTimeline

__all__ = ["TwinCollector", "serve_twin"]

IO_GRID_S = 15.0
"""Grid of the node I/O counter's integral (simulated s)."""
_LABELS = ("gpu", "UUID", "device", "modelName", "Hostname", "rack", "hpc_job")


class TwinCollector(Collector):
    """A ``prometheus_client`` collector over a twin timeline.

    Args:
        twin: The loaded timeline.
        speed: Simulated seconds per wall second.
        window_s: Averaging window (simulated s).
        clock: Wall clock (tests pass a fake one).
    """

    def __init__(
        self,
        twin: TwinTimeline,
        *,
        speed: float = 1.0,
        window_s: float = 15.0,
        clock: Any = time.monotonic,
    ) -> None:
        self.twin = twin
        self.speed = speed
        self.window_s = window_s
        self.clock = clock
        self.t0 = clock()
        self._lock = threading.Lock()
        self._base = [twin.labels(g) for g in range(twin.gpus.height)]
        # the node I/O counter is the exact integral of the node's io share, tabulated on a
        # 15-s grid once (scrapes may be sparse; the counter must not depend on when they come)
        grid = twin.scrape_times_s(IO_GRID_S)
        self._io_t = np.concatenate(([0.0], grid))
        io_s = twin.frames(grid, IO_GRID_S).node_io_s if grid.shape[0] else np.zeros((0, 0))
        self._io_s = np.concatenate([np.zeros((len(twin.node_names), 1)), io_s], axis=1)

    def sim_time_s(self) -> float:
        """Current simulated time (s), held at the horizon once reached."""
        return min((self.clock() - self.t0) * self.speed, self.twin.horizon_s)

    def done(self) -> bool:
        """Whether the replay reached the end of the timeline."""
        return self.sim_time_s() >= self.twin.horizon_s

    def collect(self) -> Iterator[Metric]:
        """One scrape."""
        with self._lock:
            t = max(self.sim_time_s(), 1e-6)
            fr = self.twin.frames(np.array([t]), self.window_s)
            node_io = [float(np.interp(t, self._io_t, row)) for row in self._io_s]
        for name, key, help_text in GPU_METRICS:
            fam = GaugeMetricFamily(name, help_text, labels=_LABELS)
            col = fr.gpu[key][:, 0]
            for g, lab in enumerate(self._base):
                v = float(col[g])
                if np.isnan(v):
                    continue
                code = int(fr.job[g, 0])
                job = fr.job_names[code] if code >= 0 else ""
                fam.add_metric([*(lab[k] for k in _LABELS[:-1]), job], v)
            yield fam
        fam = GaugeMetricFamily(dcgm.MAX_SM_CLOCK, "Maximum SM clock (in MHz).", labels=_LABELS)
        for g, lab in enumerate(self._base):
            fam.add_metric([*(lab[k] for k in _LABELS[:-1]), ""], float(self.twin.max_clock_mhz[g]))
        yield fam
        cnt = CounterMetricFamily(
            dcgm.NODE_IO_WAITING.removesuffix("_total"),
            "Total time in seconds that processes have waited due to IO congestion.",
            labels=("instance",),
        )
        for i, node in enumerate(self.twin.node_names):
            cnt.add_metric([f"{node}:9100"], float(node_io[i]))
        yield cnt
        q = GaugeMetricFamily(dcgm.QUEUE_PENDING, "Pending jobs in queue")
        q.add_metric([], float(fr.pending[0]))
        yield q


def serve_twin(
    twin: TwinTimeline,
    *,
    host: str = "127.0.0.1",
    port: int = 9400,
    speed: float = 1.0,
    window_s: float = 15.0,
    stop: threading.Event | None = None,
    on_ready: Any = None,
) -> None:
    """Serve ``/metrics`` until the replay ends (or ``stop`` is set).

    Args:
        twin: The loaded timeline.
        host: Address to bind (loopback unless told otherwise).
        port: TCP port (dcgm-exporter's 9400 by default).
        speed: Simulated seconds per wall second.
        window_s: Averaging window (simulated s).
        stop: Set to stop early.
        on_ready: Called with the bound port once the server listens.
    """
    from prometheus_client import start_http_server  # noqa: PLC0415

    registry = CollectorRegistry(auto_describe=False)
    collector = TwinCollector(twin, speed=speed, window_s=window_s)
    registry.register(collector)
    server, thread = start_http_server(port, addr=host, registry=registry)
    try:
        if on_ready is not None:
            on_ready(server.server_port)
        ev = stop or threading.Event()
        while not ev.is_set() and not collector.done():
            ev.wait(0.2)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
