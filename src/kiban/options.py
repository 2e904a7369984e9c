"""Tiny options object: the only process-wide state kiban has."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Options:
    """Run-time switches.

    Attributes:
        debug_checks: run the expensive invariant checks in ``kiban._guards`` (on in tests).
        rel_tol: relative tolerance used by the invariant checks.
    """

    debug_checks: bool = False
    rel_tol: float = 1e-9


options = Options()
