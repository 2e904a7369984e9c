"""Write deploy/grafana/kiban.json, the Grafana dashboard built on diagnose's queries.

Run: python scripts/make_grafana_dashboard.py (the JSON is committed; tests run every query).
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "kiban.json"

BUSY = "DCGM_FI_PROF_GR_ENGINE_ACTIVE"
REASONS = "DCGM_FI_DEV_CLOCKS_EVENT_REASONS"
SEL = '{Hostname=~"$host"}'


def bit(mask: int) -> str:
    """GPUs whose clock-event reasons have bit ``mask`` set."""
    return f"count((floor({REASONS}{SEL} / {mask}) % 2) == 1) or vector(0)"


PANELS = [
    (
        "Ledger now: GPUs by state",
        "timeseries",
        "short",
        [
            ("allocated", f'count({BUSY}{{hpc_job!="",Hostname=~"$host"}}) or vector(0)'),
            (
                "busy (productive + clock losses)",
                f'sum({BUSY}{{hpc_job!="",Hostname=~"$host"}}) or vector(0)',
            ),
            (
                "free, no demand",
                f'(count({BUSY}{{hpc_job="",Hostname=~"$host"}}) or vector(0)) '
                "unless on() (slurm_queue_pending > 0)",
            ),
            (
                "free, queue blocked",
                f'(count({BUSY}{{hpc_job="",Hostname=~"$host"}}) or vector(0)) '
                "and on() (slurm_queue_pending > 0)",
            ),
            ("failed (XID)", f"count(DCGM_FI_DEV_XID_ERRORS{SEL} > 0) or vector(0)"),
        ],
    ),
    (
        "Top causes: GPUs lost per cause",
        "bargauge",
        "short",
        [
            ("idle inside jobs", f'sum(1 - {BUSY}{{hpc_job!="",Hostname=~"$host"}})'),
            (
                "clock losses",
                f'sum({BUSY}{{hpc_job!="",Hostname=~"$host"}} * on(Hostname, gpu) group_left() '
                f"max by (Hostname, gpu) (1 - DCGM_FI_DEV_SM_CLOCK{SEL} / on(Hostname, gpu) "
                f"group_left() max by (Hostname, gpu) (DCGM_FI_DEV_MAX_SM_CLOCK{SEL})))",
            ),
            ("checkpoint (PCIe TX share)", f"sum(DCGM_FI_PROF_PCIE_TX_BYTES{SEL}) / 25e9"),
            ("failed", f"count(DCGM_FI_DEV_XID_ERRORS{SEL} > 0) or vector(0)"),
        ],
    ),
    (
        "Throttle reasons: GPUs with each clock-event bit",
        "timeseries",
        "short",
        [
            ("power_cap (0x4)", bit(4)),
            ("hw_slowdown (0x8)", bit(8)),
            ("sw_thermal (0x20)", bit(32)),
            ("hw_thermal (0x40)", bit(64)),
            ("hw_power_brake (0x80)", bit(128)),
        ],
    ),
    (
        "Hottest racks (max GPU temperature)",
        "bargauge",
        "celsius",
        [("{{rack}}", f"topk(5, max by (rack) (DCGM_FI_DEV_GPU_TEMP{SEL}))")],
    ),
    (
        "GPU power against budget",
        "timeseries",
        "watt",
        [
            ("GPU power", f"sum(DCGM_FI_DEV_POWER_USAGE{SEL})"),
            ("budget", "vector($power_budget_w)"),
        ],
    ),
    (
        "Jobs waiting (slurm_queue_pending)",
        "timeseries",
        "short",
        [("pending", "sum(slurm_queue_pending)")],
    ),
    (
        "Node I/O pressure (share of time waiting on I/O)",
        "timeseries",
        "percentunit",
        [("{{instance}}", "rate(node_pressure_io_waiting_seconds_total[$__rate_interval])")],
    ),
    (
        "Worst jobs: GPUs idle inside the job",
        "bargauge",
        "short",
        [
            (
                "{{hpc_job}}",
                f'topk(10, sum by (hpc_job) (1 - {BUSY}{{hpc_job!="",Hostname=~"$host"}}))',
            )
        ],
    ),
]


def build() -> dict:
    """The dashboard as a dict."""
    panels = []
    for i, (title, kind, unit, targets) in enumerate(PANELS):
        panels.append(
            {
                "id": i + 1,
                "type": kind,
                "title": title,
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "options": {},
                "targets": [
                    {
                        "refId": chr(ord("A") + k),
                        "expr": expr,
                        "legendFormat": legend,
                        "datasource": {"type": "prometheus", "uid": "${datasource}"},
                    }
                    for k, (legend, expr) in enumerate(targets)
                ],
            }
        )
    return {
        "__inputs": [
            {
                "name": "DS_PROMETHEUS",
                "label": "Prometheus",
                "type": "datasource",
                "pluginId": "prometheus",
                "pluginName": "Prometheus",
            }
        ],
        "uid": "kiban-lost-gpu-hours",
        "title": "kiban: where the GPU-hours go",
        "tags": ["kiban", "dcgm", "gpu"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-24h", "to": "now"},
        "templating": {
            "list": [
                {
                    "type": "datasource",
                    "name": "datasource",
                    "label": "Prometheus",
                    "query": "prometheus",
                },
                {
                    "type": "query",
                    "name": "host",
                    "label": "Host",
                    "datasource": {"type": "prometheus", "uid": "${datasource}"},
                    "query": {"query": f"label_values({BUSY}, Hostname)", "refId": "host"},
                    "definition": f"label_values({BUSY}, Hostname)",
                    "includeAll": True,
                    "allValue": ".*",
                    "multi": True,
                    "current": {"text": "All", "value": "$__all"},
                    "refresh": 2,
                },
                {
                    "type": "constant",
                    "name": "power_budget_w",
                    "label": "GPU power budget (W)",
                    "query": "5000",
                    "hide": 0,
                },
            ]
        },
        "panels": panels,
    }


if __name__ == "__main__":
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(build(), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
