"""The kiban error hierarchy: every error a user can cause derives from KibanError.

Each error subclasses the matching builtin so callers can catch either. Messages say what was
wrong, the value, and what is allowed; the CLI prints them as one line and exits 2.
"""

from __future__ import annotations


class KibanError(Exception):
    """Root of every error kiban raises on purpose."""


class ConfigError(KibanError, ValueError):
    """A site spec, scenario or CLI option is invalid (names the file, dotted path and value)."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[str] = problems if problems is not None else [message]


class SchemaError(KibanError, ValueError):
    """A data table does not match its declared schema (column, dtype or unit)."""


class CatalogError(KibanError, KeyError):
    """An unknown hardware name, or a malformed catalog file."""

    def __str__(self) -> str:
        # KeyError quotes its argument; we want the plain message.
        return str(self.args[0]) if self.args else ""


class TraceError(KibanError, ValueError):
    """A job trace is malformed (names the file, line, field and value)."""


class TelemetryError(KibanError, ValueError):
    """Telemetry could not be read or parsed."""


class PolicyError(KibanError, RuntimeError):
    """A policy returned an invalid decision, or an unknown policy was requested."""


class SimulationError(KibanError, RuntimeError):
    """The simulator reached an inconsistent state (a bug or an impossible scenario)."""


class PlanError(KibanError, ValueError):
    """The facility planner cannot satisfy the request (says which constraint and by how much)."""


class DataNotFoundError(KibanError, FileNotFoundError):
    """A public data set kiban needs is not where it was told to look."""
