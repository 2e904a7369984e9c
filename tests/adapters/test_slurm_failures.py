"""Failure handling against a real Slurm: one clear message each, and an exact account of
what took effect when a batch stops half-way."""

from __future__ import annotations

import dataclasses
import io

import pytest

from conftest import agent_config, reset_cluster, run_kiban, write_racks
from kiban.adapters.agent import ActionLog, SlurmAgent
from kiban.adapters.rack_metrics import FileRackMetrics
from kiban.adapters.slurm import SlurmCli, SlurmError, SlurmRest
from kiban.errors import ConfigError


def make_agent(cl, cfg, reader=None, *, apply=True):
    cli = SlurmCli(env=cl.env)
    return SlurmAgent(
        reader or cli,
        cli,
        FileRackMetrics(cl.base / "racks.json"),
        cfg,
        apply=apply,
        log=ActionLog(io.StringIO()),
    )


def test_node_that_does_not_exist(slurm):
    with pytest.raises(SlurmError, match=r"update of node gn09 failed: the node does not exist"):
        SlurmCli(env=slurm.env).update_node("gn09", Weight="5")
    write_racks(slurm, {"r1": 36.0, "r2": 24.0})
    cfg = agent_config(slurm, racks={"r1": {"nodes": "gn[01-02],gn09"}})
    agent = make_agent(slurm, cfg)
    with pytest.raises(
        ConfigError, match=r"racks\.r1\.nodes names node gn09, which Slurm does not know"
    ):
        agent.cycle()
    assert agent.log.lines[-1]["result"] == "no actions taken"
    assert "DRAIN" not in slurm.scontrol_node("gn01")["State"]


class StaleReader:
    """A snapshot read just before a node left the cluster (it is still listed)."""

    def __init__(self, cli):
        self.cli = cli

    def snapshot(self):
        snap = self.cli.snapshot()
        ghost = dataclasses.replace(snap.nodes["gn02"], name="gn05")
        return dataclasses.replace(snap, nodes={**snap.nodes, "gn05": ghost})

    def describe(self):
        return "stale cli"


def test_partial_failure_mid_batch_says_exactly_what_took_effect(slurm):
    reset_cluster(slurm)
    write_racks(slurm, {"r1": 36.0, "r2": 24.0})
    cfg = agent_config(
        slurm,
        agent={"max_drain_frac": 1.0, "min_action_interval_s": 0.0},
        racks={"r1": {"nodes": "gn[01-02],gn05"}},
    )
    agent = make_agent(slurm, cfg, StaleReader(SlurmCli(env=slurm.env)))
    try:
        with pytest.raises(SlurmError) as err:
            agent.cycle()
        msg = str(err.value)
        assert "stopped acting after drain gn05 failed" in msg
        assert "the node does not exist" in msg
        assert "Took effect before it: drain gn01, drain gn02." in msg
        assert "Not attempted: set_features gn01" in msg
        last = agent.log.lines[-1]
        assert last["action"] == "batch_stopped"
        assert last["args"]["applied"] == ["drain gn01", "drain gn02"]
        assert "set_weight gn01" in last["args"]["not_attempted"]
        results = {(ln["action"], ln["target"]): ln["result"] for ln in agent.log.lines}
        assert results[("drain", "gn01")] == "applied"
        assert results[("drain", "gn05")].startswith("failed:")
        assert results[("set_weight", "gn01")].startswith("not attempted")
        # and Slurm agrees: the drains took effect, the later weight change did not
        assert "DRAIN" in slurm.scontrol_node("gn01")["State"]
        assert slurm.scontrol_node("gn01")["Weight"] == "1"
    finally:
        reset_cluster(slurm)


def test_munge_key_wrong(slurm, monkeypatch, capsys):
    conf = slurm.start_wrong_munge()
    env = {**slurm.env, "SLURM_CONF": str(conf)}
    with pytest.raises(
        SlurmError, match=r"munge authentication failed \(the munge key on this host differs"
    ):
        SlurmCli(env=env, timeout_s=20).snapshot()
    # through the command line: one line, exit status 2, no traceback
    agent_toml = slurm.base / "agent-wrongkey.toml"
    agent_toml.write_text(f'[metrics]\nfile = "{slurm.base / "racks.json"}"\n')
    code, _, err = run_kiban(
        monkeypatch, capsys, "agent", "--slurm", "--config", str(agent_toml), "--once", env=env
    )
    assert code == 2
    assert err.startswith("error: ")
    assert "munge authentication failed" in err
    assert "Traceback" not in err


def test_rest_version_mismatch_and_bad_token(slurm):
    cli = SlurmCli(env=slurm.env)
    old = slurm.start_rest("v0.0.37")
    with pytest.raises(
        SlurmError, match=r"offers OpenAPI v0\.0\.37; kiban's Slurm adapter speaks v0\.0\.38"
    ):
        SlurmRest(old, user="root", token=slurm.token(), cli=cli)
    with pytest.raises(SlurmError, match=r"version v0\.0\.40 was asked for"):
        SlurmRest(slurm.rest_url, user="root", token=slurm.token(), cli=cli, version="v0.0.40")
    rest = SlurmRest(slurm.rest_url, user="root", token="not-a-token", cli=cli)
    with pytest.raises(SlurmError, match=r"bad or expired token"):
        rest.snapshot()


def test_slurmctld_down(slurm):
    """Last in the module: stops the controller (restarted after, for the fixture's teardown)."""
    slurm.kill("slurmctld")
    try:
        write_racks(slurm, {"r1": 36.0, "r2": 24.0})
        agent = make_agent(slurm, agent_config(slurm))
        with pytest.raises(SlurmError, match=r"slurmctld is not reachable"):
            agent.cycle()
        assert not [ln for ln in agent.log.lines if ln["result"] == "applied"]
    finally:
        slurm.restart_ctld()
