"""Policies: protocols, one registry, the baselines, and (later) the co-optimizers.

Use :func:`make_policy` / :func:`available_policies` from :mod:`kiban.policies.registry`;
importing this package does not import the policy modules (they load on first lookup).
"""

from __future__ import annotations

from kiban.policies.base import Decision, Policy, PolicyContext
from kiban.policies.registry import available_policies, make_policy, register_policy

__all__ = [
    "Decision",
    "Policy",
    "PolicyContext",
    "available_policies",
    "make_policy",
    "register_policy",
]
