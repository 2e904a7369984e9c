"""Facility planner: cooling technology, rack layout, containment and set-point under limits.

``kiban plan SITE.toml`` builds a :class:`~kiban.plan.problem.PlanProblem` from a scenario and
the twin's physics (:mod:`kiban.plan.build`), solves it as mixed-integer programs with HiGHS
(:mod:`kiban.plan.solve`), verifies the chosen layout with the full steady-state evaluation
(:func:`kiban.site.evaluate_site`) and writes the layout, a cooling comparison, a floor plan and
a spacing sweep (:mod:`kiban.plan.output`).
"""

from __future__ import annotations
