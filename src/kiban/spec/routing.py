"""Cable and pipe runs on the floor: how far a rack is from the power feed and from the CDU.

A scenario may give the point where rack power cables start (``[power] feed_x_m``,
``feed_y_m``: the room PDU, remote power panel or busway feed) with ``max_cable_length_m``, and
the point where facility-water pipes start (``[cooling] cdu_x_m``, ``cdu_y_m``: the CDU or the
water manifold) with ``max_pipe_length_m``. Both are in hall coordinates (metres from the
corner at x = 0, y = 0, the same frame as the rack centres).

The length of a run is the rectilinear (Manhattan) distance between the point and the rack
centre, since cable trays and pipes follow the rows and aisles, plus a fixed vertical allowance
(:data:`VERTICAL_ALLOWANCE_M`) for rising from the source to the tray or under-floor level and
dropping into the rack:

    L = |x_rack − x_src| + |y_rack − y_src| + 2·h_rack,   h_rack = :data:`RACK_HEIGHT_M`.

Valid for halls whose trays and pipes run parallel to the walls; a run that must detour around
columns or other rows is longer, so a limit with a few metres of margin is prudent.

The pipe limit applies to cooling technologies that take heat into water at the rack
(``liquid_capture_frac > 0``: rear-door-hx, direct-liquid, immersion-1p); the cable limit to
every rack that holds servers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import numpy as np

from kiban.catalog import CoolingTech

if TYPE_CHECKING:
    from kiban.spec.models import Scenario

RACK_HEIGHT_M = 2.0
"""Height of a rack enclosure for routing: a 42U frame is 42 × 44.45 mm = 1.87 m of mounting
space plus plinth and roof, about 2.0 m (ASSUMED round value)."""
VERTICAL_ALLOWANCE_M = 2.0 * RACK_HEIGHT_M
"""Vertical part of every run: one rack height from the source up to the tray (or down to the
under-floor level) and one down into the rack."""

_Coord = TypeVar("_Coord", float, np.ndarray)


def route_length_m(x_m: _Coord, y_m: _Coord, from_x_m: float, from_y_m: float) -> _Coord:
    """Length of a cable or pipe run from ``(from_x_m, from_y_m)`` to a rack centre, m.

    ``L = |x − x0| + |y − y0| + VERTICAL_ALLOWANCE_M`` (rectilinear routing along rows and
    aisles plus the vertical allowance). Works element-wise on arrays of rack centres.

    Args:
        x_m: rack centre along the hall length, m (float or array).
        y_m: rack centre along the hall width, m (same shape as ``x_m``).
        from_x_m: source point along the length, m.
        from_y_m: source point along the width, m.

    Returns:
        The run length(s), m, in the shape of ``x_m``.
    """
    return abs(x_m - from_x_m) + abs(y_m - from_y_m) + VERTICAL_ALLOWANCE_M


def needs_pipe(tech: CoolingTech) -> bool:
    """True if racks cooled by ``tech`` need a facility-water pipe (some heat goes to water)."""
    return tech.liquid_capture_frac > 0.0


def feed_point_m(scenario: Scenario) -> tuple[float, float] | None:
    """The power feed point ``(x_m, y_m)``, or None when not given."""
    power = scenario.power
    if power.feed_x_m is None or power.feed_y_m is None:
        return None
    return (power.feed_x_m, power.feed_y_m)


def cdu_point_m(scenario: Scenario) -> tuple[float, float] | None:
    """The CDU / facility-water manifold point ``(x_m, y_m)``, or None when not given."""
    cooling = scenario.cooling
    if cooling.cdu_x_m is None or cooling.cdu_y_m is None:
        return None
    return (cooling.cdu_x_m, cooling.cdu_y_m)


def cable_limit(scenario: Scenario) -> tuple[float, float, float] | None:
    """``(feed_x_m, feed_y_m, max_cable_length_m)`` when a cable limit applies, else None."""
    point = feed_point_m(scenario)
    limit = scenario.power.max_cable_length_m
    return None if point is None or limit is None else (point[0], point[1], limit)


def pipe_limit(scenario: Scenario) -> tuple[float, float, float] | None:
    """``(cdu_x_m, cdu_y_m, max_pipe_length_m)`` when a pipe limit applies, else None."""
    point = cdu_point_m(scenario)
    limit = scenario.cooling.max_pipe_length_m
    return None if point is None or limit is None else (point[0], point[1], limit)


def fmt_point(point: tuple[float, float]) -> str:
    """``(2, 4.5) m`` for messages."""
    return f"({point[0]:g}, {point[1]:g}) m"


LENGTH_TOL_M = 1e-9
"""A run counts as within its limit up to this rounding tolerance."""
