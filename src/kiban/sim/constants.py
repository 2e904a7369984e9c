"""Constants shared by the simulator's modules: slot phases, restore kinds, job-state names."""

from __future__ import annotations

from kiban.sim.state import DONE, FUTURE, PENDING, RUNNING, UNSCHEDULABLE

PREV_INLET_BAND_K = 5.0
"""Inlets are remembered for the throttle-onset estimate only within this band below the throttle
margin (far below it no onset can follow soon, and the copy costs O(racks) per event)."""

SLOT_ARRAYS = ("slot_i", "slot_f", "slot_rate", "slot_acc", "slot_next_s")
"""Every per-slot table (row = slot); a slot moves with one row copy in each."""
PHASE_COMPUTE, PHASE_CKPT, PHASE_FAIL = 0, 1, 2
RESTORE_NONE, RESTORE_FAILURE = 0, 2
STATE_NAMES = {
    FUTURE: "not yet arrived",
    PENDING: "pending",
    RUNNING: "running",
    DONE: "done",
    UNSCHEDULABLE: "unschedulable",
}
