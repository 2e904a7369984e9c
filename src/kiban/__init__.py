"""kiban: a digital twin and co-optimizer for GPU data centers.

Power x cooling x scheduling x storage, treated as one computer.
"""

from __future__ import annotations

from kiban._version import __version__
from kiban.errors import (
    ConfigError,
    KibanError,
    PolicyError,
    SimulationError,
    TraceError,
)

__all__ = [
    "ConfigError",
    "KibanError",
    "PolicyError",
    "SimulationError",
    "TraceError",
    "__version__",
]
