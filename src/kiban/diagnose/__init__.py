"""Diagnose a real cluster: telemetry in, the twin's lost-GPU-hour ledger out.

:func:`~kiban.diagnose.engine.diagnose` books every GPU-second of a window into the ledger
buckets from dcgm-exporter metrics, node I/O pressure and the queue length;
:func:`~kiban.diagnose.output.save_diagnosis` writes the same result files as ``kiban simulate``.
"""

from __future__ import annotations

from kiban.diagnose.engine import BUCKETS, DiagnoseSettings, Diagnosis, diagnose
from kiban.diagnose.output import diagnosis_report, save_diagnosis

__all__ = [
    "BUCKETS",
    "DiagnoseSettings",
    "Diagnosis",
    "diagnose",
    "diagnosis_report",
    "save_diagnosis",
]
