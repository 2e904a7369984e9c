"""The event queue orders by (time, priority, seq) and refuses the past."""

from __future__ import annotations

import math

import pytest

from kiban.sim.events import EventKind, EventQueue


def test_ties_break_by_priority_then_insertion_order():
    q = EventQueue()
    q.schedule(10.0, EventKind.POLICY_TICK, 1)
    q.schedule(10.0, EventKind.FAILURE, 2)
    q.schedule(10.0, EventKind.POLICY_TICK, 3)
    q.schedule(5.0, EventKind.ARRIVAL, 4)
    q.schedule(10.0, EventKind.REPAIR, 5)
    assert [q.pop().payload for _ in range(5)] == [4, 5, 2, 1, 3]
    assert q.peek() is None
    assert q.peek_time_s() == math.inf


def test_scheduling_in_the_past_or_nan_is_refused():
    q = EventQueue()
    q.schedule(10.0, EventKind.FAILURE)
    q.pop()
    with pytest.raises(ValueError, match="before now"):
        q.schedule(9.0, EventKind.FAILURE)
    with pytest.raises(ValueError):
        q.schedule(math.nan, EventKind.FAILURE)
    q.schedule(10.0, EventKind.FAILURE)  # same time is fine
    assert len(q) == 1
