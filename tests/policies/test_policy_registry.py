"""The policy registry: one decorator, lookup by name with suggestions, validated parameters."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import kiban.policies.registry as reg
from kiban.errors import PolicyError
from kiban.policies.baselines import BASELINES
from kiban.policies.registry import (
    available_policies,
    make_policy,
    policy_class,
    register_policy,
)


def test_the_five_baselines_are_registered():
    assert set(BASELINES) <= set(available_policies("policy"))
    for name in BASELINES:
        policy = make_policy("policy", name)
        assert policy.name == name


def test_spec_style_names_find_hyphenated_layers():
    assert policy_class("cooling", "fixed_setpoint") is policy_class("cooling", "fixed-setpoint")
    assert policy_class("placement", "pack") is policy_class("placement", "best-fit")
    assert make_policy("admission", "accept_all") is not None


def test_unknown_name_suggests_a_close_match():
    with pytest.raises(PolicyError, match="did you mean 'tiresias-las'"):
        make_policy("policy", "tiresias-lass")
    with pytest.raises(PolicyError, match="kind 'bogus' is unknown"):
        available_policies("bogus")


def test_parameters_are_checked_against_params():
    pol = make_policy("policy", "tiresias-las", {"queue_limits_gpu_s": [1000, 5000]})
    assert pol.scheduling.params.queue_limits_gpu_s == (1000.0, 5000.0)
    with pytest.raises(PolicyError, match="unknown parameter"):
        make_policy("policy", "tiresias-las", {"queue_limit": 5})
    with pytest.raises(PolicyError, match="ascending"):
        make_policy("policy", "tiresias-las", {"queue_limits_gpu_s": [5000, 1000]})
    with pytest.raises(PolicyError, match="takes no parameters"):
        make_policy("policy", "fifo-static", {"x": 1})


def test_a_name_cannot_be_taken_twice():
    @register_policy("admission", "test-only-admission")
    class First:
        pass

    with pytest.raises(PolicyError, match="already registered"):

        @register_policy("admission", "test-only-admission")
        class Second:
            pass

    with pytest.raises(PolicyError, match="kind"):
        register_policy("nonsense", "x")


def test_third_party_policies_load_from_entry_points(monkeypatch):
    class FakeEntryPoint:
        name = "plugin"
        value = "plugin_mod:Plugin"

        def load(self):
            @register_policy("policy", "test-plugin-policy")
            @dataclass
            class Plugin:
                name: str = "test-plugin-policy"

            return Plugin

    monkeypatch.setattr(reg, "_ENTRY_POINTS_LOADED", False)
    monkeypatch.setattr(reg, "entry_points", lambda group: [FakeEntryPoint()])
    assert policy_class("policy", "test-plugin-policy").__name__ == "Plugin"
