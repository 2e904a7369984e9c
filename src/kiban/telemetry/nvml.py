"""One node's GPUs straight from NVML (``pip install 'kiban[live]'`` for ``nvidia-ml-py``).

:class:`NvmlSource` polls every GPU of this host at a fixed interval for a while and keeps the
samples under dcgm-exporter's names, so :func:`kiban.diagnose.diagnose` reads it like any other
source. NVML knows nothing of jobs or the queue: every GPU with a compute process counts as
allocated (``hpc_job`` = the lowest PID), and the queue is unknown.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from kiban.errors import TelemetryError
from kiban.telemetry import dcgm
from kiban.telemetry.openmetrics import MemorySource

__all__ = ["NvmlSource", "load_pynvml"]

MW_PER_W = 1000.0


def load_pynvml() -> Any:
    """Import ``pynvml`` (from ``nvidia-ml-py``) and initialise NVML.

    Raises:
        TelemetryError: if the package or the driver is missing.
    """
    try:
        import pynvml  # noqa: PLC0415
    except ImportError:
        msg = (
            "NVML source needs nvidia-ml-py: pip install 'kiban[live]' "
            "(module pynvml, NVIDIA's official binding)"
        )
        raise TelemetryError(msg) from None
    try:
        pynvml.nvmlInit()
    except Exception as err:  # NVMLError_LibraryNotFound, _DriverNotLoaded, ...
        msg = f"NVML could not start ({type(err).__name__}: {err}); is the NVIDIA driver loaded?"
        raise TelemetryError(msg) from None
    return pynvml


class NvmlSource(MemorySource):
    """Samples of this node's GPUs polled through NVML.

    Args:
        nvml: The ``pynvml`` module (from :func:`load_pynvml`; tests pass a fake).
        host: Host label (default: this machine's name).
    """

    def __init__(self, nvml: Any | None = None, *, host: str | None = None) -> None:
        self.nvml = nvml if nvml is not None else load_pynvml()
        self.host = host or socket.gethostname()
        super().__init__(f"NVML on {self.host}")

    def poll(self, t_s: float | None = None) -> None:
        """Read every GPU once and keep the samples (at ``t_s``, default now)."""
        n = self.nvml
        now = time.time() if t_s is None else t_s
        for i in range(n.nvmlDeviceGetCount()):
            h = n.nvmlDeviceGetHandleByIndex(i)
            procs = n.nvmlDeviceGetComputeRunningProcesses(h)
            labels = {
                "gpu": str(i),
                "UUID": str(n.nvmlDeviceGetUUID(h)),
                "modelName": str(n.nvmlDeviceGetName(h)),
                "Hostname": self.host,
            }
            if procs:
                labels["hpc_job"] = str(min(p.pid for p in procs))
            util = n.nvmlDeviceGetUtilizationRates(h)
            self.add(dcgm.GPU_UTIL, labels, now, float(util.gpu))
            self.add(dcgm.POWER_USAGE, labels, now, n.nvmlDeviceGetPowerUsage(h) / MW_PER_W)
            temp_c = float(n.nvmlDeviceGetTemperature(h, n.NVML_TEMPERATURE_GPU))
            self.add(dcgm.GPU_TEMP, labels, now, temp_c)
            self.add(
                dcgm.SM_CLOCK, labels, now, float(n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_SM))
            )
            max_mhz = float(n.nvmlDeviceGetMaxClockInfo(h, n.NVML_CLOCK_SM))
            self.add(dcgm.MAX_SM_CLOCK, labels, now, max_mhz)
            self.add(
                dcgm.CLOCKS_EVENT_REASONS,
                labels,
                now,
                float(n.nvmlDeviceGetCurrentClocksEventReasons(h)),
            )

    def record(self, duration_s: float, interval_s: float = 1.0) -> None:
        """Poll every ``interval_s`` for ``duration_s`` seconds."""
        end = time.monotonic() + duration_s
        while True:
            self.poll()
            if time.monotonic() + interval_s > end:
                return
            time.sleep(interval_s)
