"""Constants shared by the simulator's components: slot phases, restore kinds, bands."""

from __future__ import annotations

PREV_INLET_BAND_K = 5.0
"""Inlets are remembered for the throttle-onset estimate only within this band below the throttle
margin (far below it no onset can follow soon, and the copy costs O(racks) per event)."""

PHASE_COMPUTE, PHASE_CKPT, PHASE_FAIL = 0, 1, 2
"""Phase of a running job: computing, restoring a checkpoint, recovering from a failure."""
RESTORE_NONE, RESTORE_FAILURE = 0, 2
"""What a job must do when it next starts (``ClusterState.job_restore_kind``)."""
