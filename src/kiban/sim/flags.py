"""What the next settle must redo: the flags components raise when they change something.

Between events the loop only integrates; at a *settle* it asks the policy (if needed), then
re-runs the physics that may have changed. Components do not call each other to say so: they
raise a flag here, and the loop (:class:`~kiban.sim.simulator.Simulator`) reads it.
"""

from __future__ import annotations

__all__ = ["Dirty"]


class Dirty:
    """The settle's to-do list.

    Attributes:
        io: The running set or a job's speed, cache or weight changed: re-share storage.
        thermal: Power, inlets, caps or the running set changed: re-check throttling.
        policy: A job arrived, finished or was stopped, or a node came back: call the policy.
    """

    __slots__ = ("io", "policy", "thermal")

    def __init__(self) -> None:
        self.io = False
        self.thermal = True
        self.policy = False
