"""dcgm-exporter's vocabulary: metric names, labels and the NVML clock-event reason bits.

kiban reads and writes GPU telemetry under the names dcgm-exporter ships
(``../shared/reference/ecosystem.md`` §1.1–1.2), so dashboards and alerts written for real fleets
work on the twin too. Node-level I/O pressure uses node-exporter's names and the job queue uses
prometheus-slurm-exporter's ``slurm_queue_pending``.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "ALIASES",
    "BUSY_METRICS",
    "HOST_LABELS",
    "JOB_LABELS",
    "REASON_POWER_BITS",
    "REASON_THERMAL_BITS",
    "REASON_WORDS",
    "gpu_key",
    "job_of",
]

GPU_UTIL = "DCGM_FI_DEV_GPU_UTIL"
"""% of the sample period with at least one kernel running (gauge, 0–100)."""
GR_ENGINE_ACTIVE = "DCGM_FI_PROF_GR_ENGINE_ACTIVE"
"""Share of time the graphics/compute engine was busy (gauge, 0–1)."""
SM_ACTIVE = "DCGM_FI_PROF_SM_ACTIVE"
"""Share of cycles an SM had a warp assigned (gauge, 0–1)."""
DRAM_ACTIVE = "DCGM_FI_PROF_DRAM_ACTIVE"
"""Share of cycles the device-memory interface was active (gauge, 0–1; practical peak ≈ 0.8)."""
POWER_USAGE = "DCGM_FI_DEV_POWER_USAGE"
"""Board power (gauge, W)."""
GPU_TEMP = "DCGM_FI_DEV_GPU_TEMP"
"""GPU die temperature (gauge, °C)."""
MEMORY_TEMP = "DCGM_FI_DEV_MEMORY_TEMP"
"""HBM temperature (gauge, °C)."""
SM_CLOCK = "DCGM_FI_DEV_SM_CLOCK"
"""Current SM clock (gauge, MHz)."""
MAX_SM_CLOCK = "DCGM_FI_DEV_MAX_SM_CLOCK"
"""Highest SM clock (gauge, MHz)."""
CLOCKS_EVENT_REASONS = "DCGM_FI_DEV_CLOCKS_EVENT_REASONS"
"""Clock-event reason bitmask (NVML ``nvmlClocksEventReason*``)."""
CLOCK_THROTTLE_REASONS = "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS"
"""Deprecated alias of :data:`CLOCKS_EVENT_REASONS` (same DCGM field 112)."""
XID_ERRORS = "DCGM_FI_DEV_XID_ERRORS"
"""Last XID error code (gauge; 0 = none)."""
PCIE_TX_BYTES = "DCGM_FI_PROF_PCIE_TX_BYTES"
"""Device-to-host PCIe traffic (gauge, B/s in dcgm-exporter)."""
PCIE_RX_BYTES = "DCGM_FI_PROF_PCIE_RX_BYTES"
"""Host-to-device PCIe traffic (gauge, B/s in dcgm-exporter)."""
ENERGY = "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"
"""Energy since driver load (counter, mJ; resets on driver reload)."""
NODE_IO_WAITING = "node_pressure_io_waiting_seconds_total"
"""node-exporter PSI: seconds during which some task waited on I/O (counter)."""
QUEUE_PENDING = "slurm_queue_pending"
"""prometheus-slurm-exporter: jobs waiting in the queue (gauge)."""

ALIASES: Mapping[str, tuple[str, ...]] = {
    CLOCKS_EVENT_REASONS: (CLOCKS_EVENT_REASONS, CLOCK_THROTTLE_REASONS),
}
"""Metric → names to try in order (exporter versions renamed some fields)."""

BUSY_METRICS: tuple[str, ...] = (GR_ENGINE_ACTIVE, SM_ACTIVE, GPU_UTIL)
"""Sources of GPU busy share, most honest first (PROF fields are optional on real fleets)."""

HOST_LABELS: tuple[str, ...] = ("Hostname", "hostname", "exported_instance", "instance")
"""Host label names: ``Hostname`` (before exporter PR #655), ``hostname`` (after), or the
``instance`` (``host:port``) an exporter set itself (renamed ``exported_instance`` by Prometheus
when it adds its own) or Prometheus's ``instance`` as the last resort."""
JOB_LABELS: tuple[str, ...] = ("hpc_job", "pod")
"""Labels dcgm-exporter adds with Slurm (``hpc_job``) or Kubernetes (``pod``) mapping."""

REASON_WORDS: Mapping[int, str] = {
    0x1: "gpu_idle",
    0x2: "clocks_setting",
    0x4: "power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal",
    0x40: "hw_thermal",
    0x80: "hw_power_brake",
    0x100: "display_clocks",
}
"""NVML clock-event reason bits and dcgm-exporter's ``clock_event`` label words."""
REASON_THERMAL_BITS = 0x20 | 0x40 | 0x8
"""SW thermal, HW thermal and HW slowdown (raised by temperature on datacenter boards)."""
REASON_POWER_BITS = 0x4 | 0x80
"""SW power cap and HW power brake."""
REASON_HW_SLOWDOWN_BIT = 0x8
"""HW slowdown: thermal on its own or with 0x40, the power brake's when 0x80 is set too."""
REASON_HW_POWER_BRAKE_BIT = 0x80
"""HW power brake (an external signal, e.g. the PSUs after a feed loss)."""


def host_of(labels: Mapping[str, str]) -> str:
    """The host of a series (``Hostname``, ``hostname`` or ``instance`` without its port)."""
    for name in HOST_LABELS:
        value = labels.get(name)
        if value:
            return value.rsplit(":", 1)[0] if name.endswith("instance") else value
    return ""


def gpu_key(labels: Mapping[str, str]) -> tuple[str, str]:
    """``(host, gpu index)`` identifying one physical GPU across exporter versions."""
    return host_of(labels), labels.get("gpu", "")


def job_of(labels: Mapping[str, str]) -> str:
    """The job a series belongs to ("" when dcgm-exporter mapped none)."""
    for name in JOB_LABELS:
        value = labels.get(name)
        if value:
            return value
    return ""
