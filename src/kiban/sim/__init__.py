"""The discrete-event simulator: event queue, struct-of-arrays state, physics between events."""

from __future__ import annotations

from kiban.sim.facility import FacilityModel, FacilityPower, PlantFacility, SimpleFacility
from kiban.sim.facility_loop import FacilityEffect, InLoopFacility
from kiban.sim.jobs import JobTable
from kiban.sim.layout import ClusterLayout, uniform_layout
from kiban.sim.simulator import LEDGER_BUCKETS, RunOutput, SimSettings, Simulator, simulate
from kiban.sim.state import ClusterView

__all__ = [
    "LEDGER_BUCKETS",
    "ClusterLayout",
    "ClusterView",
    "FacilityEffect",
    "FacilityModel",
    "FacilityPower",
    "InLoopFacility",
    "JobTable",
    "PlantFacility",
    "RunOutput",
    "SimSettings",
    "SimpleFacility",
    "Simulator",
    "simulate",
    "uniform_layout",
]
