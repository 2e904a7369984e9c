"""Scenario specification: frozen pydantic models loaded from TOML, with physical checks.

``load_spec(path)`` reads a scenario file and returns a :class:`Scenario`; every mistake comes
back as a :class:`kiban.errors.ConfigError` with one line per problem,
``FILE: dotted.path = value: what is allowed``. ``Scenario.racks_resolved()`` gives each rack
with its servers, floor position and cooling technology after ``auto`` placement.
"""

from __future__ import annotations

from kiban.spec._common import KNOWN_CLIMATE_CITIES
from kiban.spec.checks import HOURLY_COLUMNS, check_scenario
from kiban.spec.load import load_spec, read_toml, validation_lines
from kiban.spec.models import (
    Cdu,
    Climate,
    CoolingPlant,
    FleetEntry,
    Hall,
    Plan,
    Policies,
    PolicyChoice,
    PowerChain,
    RackEntry,
    RackGrid,
    RackOptions,
    Scenario,
    Simulation,
    Site,
    Storage,
    Synthetic,
    Tariff,
    Workload,
)
from kiban.spec.placement import (
    RACK_DEFAULT_DEPTH_M,
    RACK_DEFAULT_UNITS,
    RACK_DEFAULT_WIDTH_M,
    PlacedRack,
    place_fleet,
)

__all__ = [
    "HOURLY_COLUMNS",
    "KNOWN_CLIMATE_CITIES",
    "RACK_DEFAULT_DEPTH_M",
    "RACK_DEFAULT_UNITS",
    "RACK_DEFAULT_WIDTH_M",
    "Cdu",
    "Climate",
    "CoolingPlant",
    "FleetEntry",
    "Hall",
    "PlacedRack",
    "Plan",
    "Policies",
    "PolicyChoice",
    "PowerChain",
    "RackEntry",
    "RackGrid",
    "RackOptions",
    "Scenario",
    "Simulation",
    "Site",
    "Storage",
    "Synthetic",
    "Tariff",
    "Workload",
    "check_scenario",
    "load_spec",
    "place_fleet",
    "read_toml",
    "validation_lines",
]
