"""Node failures and repairs: a Poisson process on its own random stream.

:class:`Failures` owns the failure stream, the hazard of the whole cluster and the repairs in
flight. It picks *which* node fails and *when*; what a failure does (the jobs on the node
stop, the node goes down, its power drops) is the event loop's handler, through the
allocation and running-job components.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiban.sim.events import EventKind

if TYPE_CHECKING:
    import numpy as np

    from kiban.sim.events import EventQueue

__all__ = ["Failures"]


class Failures:
    """Failure and repair times (see the module docstring).

    Args:
        rng: The failure stream (child 0 of the run's seed).
        queue: The event queue the failures and repairs go into.
        n_nodes: Nodes in the cluster.
        rate_per_node_s: Hazard per node (1/s); 0 switches failures off.
        repair_s: Time a failed node stays down (s).
    """

    def __init__(
        self,
        rng: np.random.Generator,
        queue: EventQueue,
        *,
        n_nodes: int,
        rate_per_node_s: float,
        repair_s: float,
    ) -> None:
        self._rng = rng
        self._queue = queue
        self._n_nodes = n_nodes
        self.rate_per_s = rate_per_node_s * n_nodes
        self.repair_s = repair_s
        self.repairs_pending = 0
        self.count = 0

    def start(self, t_s: float) -> None:
        """Schedule the first failure (if failures are on)."""
        if self.rate_per_s > 0:
            self.schedule_next(t_s)

    def schedule_next(self, t_s: float) -> None:
        """Draw the time to the next failure of any node."""
        wait = float(self._rng.exponential(1.0 / self.rate_per_s))
        self._queue.schedule(t_s + wait, EventKind.FAILURE)

    def pick_node(self) -> int:
        """The node the failure that is due hits (uniform over nodes, up or not)."""
        return int(self._rng.integers(self._n_nodes))

    def node_down(self, node: int, t_s: float) -> None:
        """A node failed: count it and schedule its repair."""
        self.count += 1
        self.repairs_pending += 1
        self._queue.schedule(t_s + self.repair_s, EventKind.REPAIR, node)

    def node_repaired(self) -> None:
        """A repair finished."""
        self.repairs_pending -= 1
