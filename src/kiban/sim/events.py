"""Heap event queue with deterministic ties: events ordered by (time_s, priority, seq).

The contract follows SimPy's ``Environment``: events at equal times fire in priority order, and
events at equal time and priority fire in the order they were scheduled (``seq``). Unlike SimPy
there are no generator processes; the simulator pops typed events and dispatches on their kind.
Job completions, phase ends and throttle onsets are *not* kept here: the simulator finds them with
one vectorized ``argmin`` over its running-job slots (see :mod:`kiban.sim.simulator`), which is
cheaper than re-pushing every job whose speed changed.
"""

from __future__ import annotations

import heapq
import math
from enum import IntEnum
from typing import NamedTuple


class EventKind(IntEnum):
    """Kinds of queued events; the integer value is also the tie-break priority (lower first).

    Slot transitions (completions, restore ends, throttle onsets) have priority 0 and are handled
    before any queued event at the same time, so freed GPUs are visible to the policy. Arrivals
    (priority 5) come from the sorted job table, after every queued event at the same time.
    """

    REPAIR = 1
    FAILURE = 2
    FACILITY_STEP = 3
    POLICY_TICK = 4
    ARRIVAL = 5
    STORAGE = 6  # a job's cache may have warmed up (payload: the job)
    HOST_END = 7  # a CPU-only pod ends (payload: the pod; kiban.sim.host_pods)
    HOST_ARRIVAL = 8  # a CPU-only pod arrives (payload: the pod)


class Event(NamedTuple):
    """One queued event. ``payload`` is an integer (node index, version, ...) or -1."""

    time_s: float
    priority: int
    seq: int
    kind: EventKind
    payload: int


class EventQueue:
    """A min-heap of :class:`Event` ordered by ``(time_s, priority, seq)``.

    Life cycle: ``schedule`` any number of events, then repeatedly ``peek_time_s``/``pop``.
    Scheduling in the past (before the last popped time) raises ``ValueError``; that is a
    simulator bug, not a user error.

    Examples:
        >>> q = EventQueue()
        >>> _ = q.schedule(5.0, EventKind.FAILURE, payload=3)
        >>> _ = q.schedule(5.0, EventKind.REPAIR, payload=1)
        >>> [e.kind.name for e in (q.pop(), q.pop())]
        ['REPAIR', 'FAILURE']
    """

    __slots__ = ("_heap", "_now_s", "_seq")

    def __init__(self) -> None:
        self._heap: list[Event] = []
        self._seq = 0
        self._now_s = -math.inf

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, time_s: float, kind: EventKind, payload: int = -1) -> Event:
        """Add an event and return it.

        Args:
            time_s: Simulated time of the event (s); must not lie before the last popped event.
            kind: What happens; its value is the tie-break priority.
            payload: Integer argument (node index, request version, ...).

        Raises:
            ValueError: if ``time_s`` is NaN or earlier than the last popped time.
        """
        if not time_s >= self._now_s:  # also catches NaN
            msg = f"cannot schedule {kind.name} at t={time_s} s before now={self._now_s} s"
            raise ValueError(msg)
        event = Event(time_s, int(kind), self._seq, kind, payload)
        self._seq += 1
        heapq.heappush(self._heap, event)
        return event

    def peek_time_s(self) -> float:
        """Time of the next event, or +inf when the queue is empty."""
        return self._heap[0].time_s if self._heap else math.inf

    def peek(self) -> Event | None:
        """The next event without removing it, or None."""
        return self._heap[0] if self._heap else None

    def discard(self) -> None:
        """Remove the next event without processing it (e.g. a superseded wake-up).

        Unlike :meth:`pop` this does not move the queue's clock, so events may still be
        scheduled between now and the discarded event's time.
        """
        heapq.heappop(self._heap)

    def pop(self) -> Event:
        """Remove and return the next event.

        Raises:
            IndexError: if the queue is empty.
        """
        event = heapq.heappop(self._heap)
        self._now_s = event.time_s
        return event
