"""Fragmentation: free GPUs that a waiting job could use by count but not by shape.

:class:`QueueShapes` keeps how many waiting jobs each shape class (fewest GPUs, GPUs per node,
GPU model; :class:`~kiban.sim.tables.JobTables`) holds, and answers whether a waiting job fits
the free GPU count but no free placement shape (that free time is ``queue_blocked``, reported
as fragmentation beside the ledger).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from kiban._typing import IntArray
    from kiban.sim.tables import RunInputs

__all__ = ["QueueShapes"]


class QueueShapes:
    """Waiting jobs per shape class (see the module docstring)."""

    def __init__(self, inputs: RunInputs) -> None:
        self._hw, self._jt = inputs.hw, inputs.jt
        self.pending: IntArray = np.zeros(inputs.jt.n_classes, dtype=np.int64)
        self.any_shaped = bool(inputs.jt.class_shaped.any())
        self._version = 0  # counts queue changes
        self._last: tuple[int, int, bool] | None = None  # (version, n_free, answer)
        self._last_free: IntArray = np.zeros(inputs.layout.n_nodes, dtype=np.int64)

    def add(self, j: int) -> None:
        """Job ``j`` joined the queue."""
        self.pending[self._jt.job_class[j]] += 1
        self._version += 1

    def remove(self, j: int) -> None:
        """Job ``j`` left the queue."""
        self.pending[self._jt.job_class[j]] -= 1
        self._version += 1

    def fragmented(self, node_free: IntArray, n_free: int) -> bool:
        """True if a waiting job fits the free GPU count but no placement shape allows it.

        The answer of the last call is reused while the queue and the free GPUs are the same.
        """
        last = self._last
        if (
            last is not None
            and last[0] == self._version
            and last[1] == n_free
            and np.array_equal(node_free, self._last_free)
        ):
            return last[2]
        answer = self._fragmented(node_free, n_free)
        self._last = (self._version, n_free, answer)
        self._last_free[:] = node_free
        return answer

    def _fragmented(self, node_free: IntArray, n_free: int) -> bool:
        jt = self._jt
        waiting = np.flatnonzero((self.pending > 0) & jt.class_shaped)
        if waiting.size == 0:
            return False
        for c in waiting.tolist():
            size, g, req = jt.class_key[c]
            if size > n_free:
                continue
            ok_nodes = (
                node_free
                if req == -1
                else np.where(jt.sku_ok(req, self._hw.node_sku), node_free, 0)
            )
            if g > 0:
                feasible = int(np.count_nonzero(ok_nodes >= g)) * g >= size
            else:
                feasible = int(ok_nodes.sum()) >= size
            if not feasible:
                return True
        return False
