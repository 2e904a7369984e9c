"""The agent's pure parts without Slurm: host lists, GRES strings, config and metrics errors,
token files, the planner's thresholds and the generated hooks."""

from __future__ import annotations

import math
import os
import subprocess

import pytest

from conftest import run_kiban
from kiban.adapters.agent import SlurmAgent
from kiban.adapters.config import AgentConfig, load_agent_config
from kiban.adapters.hooks import write_hooks
from kiban.adapters.hostlist import expand_hostlist
from kiban.adapters.plan import plan_actions, rack_status
from kiban.adapters.rack_metrics import FileRackMetrics, RackMetrics
from kiban.adapters.slurm import (
    SlurmJob,
    SlurmNode,
    SlurmPartition,
    SlurmSnapshot,
    parse_gres,
    parse_idx,
)
from kiban.adapters.view import build_view
from kiban.cli.agent import read_token
from kiban.errors import ConfigError, PolicyError, TelemetryError
from kiban.policies.registry import make_policy


def test_hostlist():
    assert expand_hostlist("gn[01-03,07],login1") == ["gn01", "gn02", "gn03", "gn07", "login1"]
    assert expand_hostlist("a[1-2]b[3-4]") == ["a1b3", "a1b4", "a2b3", "a2b4"]
    with pytest.raises(ConfigError, match="runs backwards"):
        expand_hostlist("gn[05-02]")
    with pytest.raises(ConfigError, match="unbalanced"):
        expand_hostlist("gn[01-02")


def test_gres_strings():
    assert parse_gres("gpu:h100:8(S:0-1)") == ("h100", 8)
    assert parse_gres("gpu:4") == ("", 4)
    assert parse_gres("gres:gpu:h100:2") == ("h100", 2)
    assert parse_gres("gpu:a100:4,gpu:h100:4") == ("h100", 8)
    assert parse_gres("") == ("", 0)
    assert parse_idx("gpu:h100:3(IDX:0-2,5)") == (0, 1, 2, 5)
    assert parse_idx("gpu:h100:0(IDX:N/A)") == ()


def test_config_errors_name_file_key_and_value(tmp_path):
    f = tmp_path / "agent.toml"
    f.write_text(
        "[agent]\nmax_drain_frac = 1.5\n[thermal]\ninlet_limit_c = 30\ninlet_resume_c = 31\n"
        '[racks.r1]\nnodes = "gn[01-02]"\n[racks.r2]\nnodes = "gn02"\n'
    )
    with pytest.raises(ConfigError) as err:
        load_agent_config(f)
    text = "\n".join(err.value.problems)
    assert f"{f}: agent.max_drain_frac = 1.5" in text
    assert "inlet_resume_c = 31.0 is above inlet_limit_c = 30.0" in text
    f.write_text('[racks.r1]\nnodes = "gn[01-02]"\n[racks.r2]\nnodes = "gn02"\n')
    with pytest.raises(ConfigError, match=r"node gn02 is already in rack r1"):
        load_agent_config(f)
    f.write_text("[agent]\npolcy = 'x'\n")
    with pytest.raises(ConfigError, match=r"agent\.polcy = 'x': Extra inputs are not permitted"):
        load_agent_config(f)


def test_metrics_file_errors(tmp_path):
    f = tmp_path / "racks.json"
    with pytest.raises(TelemetryError, match="cannot read rack metrics"):
        FileRackMetrics(f).read()
    f.write_text('{"racks": {"r1": {"inlet_temp_c": "hot"}}}')
    with pytest.raises(TelemetryError, match=r"racks\.r1\.inlet_temp_c = 'hot': must be a number"):
        FileRackMetrics(f).read()
    f.write_text('{"racks": {"r1": {"inlet_temp_c": 30, "power_w": 1000}}, "total_power_w": 5}')
    m = FileRackMetrics(f).read()
    assert m.inlet_temp_c == {"r1": 30.0}
    assert m.cluster_power_w == 5.0


def test_token_file_must_be_private(tmp_path, monkeypatch):
    f = tmp_path / "token"
    f.write_text("SLURM_JWT=abc\n")
    f.chmod(0o644)
    with pytest.raises(ConfigError, match=r"mode is -rw-r--r--.*chmod 600"):
        read_token(f)
    f.chmod(0o600)
    assert read_token(f) == "abc"
    monkeypatch.delenv("SLURM_JWT", raising=False)
    with pytest.raises(ConfigError, match="set SLURM_JWT"):
        read_token(None)
    monkeypatch.setenv("SLURM_JWT", "xyz")
    assert read_token(None) == "xyz"


def _node(name, *, weight=1, state="idle", flags=(), reason="", busy=False):
    return SlurmNode(
        name,
        state,
        frozenset(flags),
        reason,
        weight,
        (),
        "h100",
        8,
        2 if busy else 0,
        1 if busy else 0,
        ("gpu",),
    )


def _cfg(**extra):
    return AgentConfig.model_validate(
        {
            "racks": {
                "r1": {"nodes": "gn[01-02]", "power_limit_w": 40000.0},
                "r2": {"nodes": "gn[03-04]"},
            },
            **extra,
        }
    )


def _snap(nodes):
    return SlurmSnapshot(
        time_s=0.0, nodes={n.name: n for n in nodes}, jobs=(), partitions={}, source="test"
    )


def test_rack_status_thresholds():
    cfg = _cfg()
    m = RackMetrics(0.0, {"r1": 31.0, "r2": 29.9}, {"r1": 41000.0, "r2": 1.0})
    r1, r2 = rack_status(cfg, m, "r1"), rack_status(cfg, m, "r2")
    assert r1.hot
    assert r1.why_hot() == "rack r1 power 41000 W > 40000 W limit"
    assert not r2.hot
    assert r2.cool_enough  # 29.9 °C ≤ 30 °C resume
    unknown = rack_status(cfg, RackMetrics(0.0), "r1")
    assert not unknown.hot
    assert not unknown.cool_enough  # never resume on missing data


def test_plan_hysteresis_and_admin_drains():
    cfg = _cfg()
    nodes = [
        _node("gn01", flags=("DRAIN",), reason="kiban: rack r1 inlet 35.0 °C > 32.0 °C limit"),
        _node("gn02", flags=("DRAIN",), reason="admin: bad DIMM"),
        _node("gn03", weight=10),
        _node("gn04", weight=10),
    ]
    between = RackMetrics(0.0, {"r1": 31.0, "r2": 20.0}, {"r1": 1000.0, "r2": 1000.0})
    acts = plan_actions(_snap(nodes), between, cfg, None, None)
    assert not [a for a in acts if a.action == "resume"]
    cool = RackMetrics(0.0, {"r1": 29.0, "r2": 20.0}, {"r1": 1000.0, "r2": 1000.0})
    acts = plan_actions(_snap(nodes), cool, cfg, None, None)
    assert [a.target for a in acts if a.action == "resume"] == ["gn01"]  # never the admin's


def test_plan_power_save_keeps_min_idle_and_skips_with_queue():
    cfg = _cfg(power_save={"enabled": True, "min_idle_nodes": 1})
    nodes = [_node("gn01"), _node("gn02", busy=True, state="mixed"), _node("gn03"), _node("gn04")]
    m = RackMetrics(0.0, {"r1": 25.0, "r2": 20.0}, {})
    downs = [
        a.target for a in plan_actions(_snap(nodes), m, cfg, None, None) if a.action == "power_down"
    ]
    assert downs == ["gn01", "gn03"]  # warm rack first, gn04 stays up, busy gn02 untouched
    assert math.isnan(m.cluster_power_w)


def test_write_hooks_renders_every_placeholder(tmp_path):
    cfg = AgentConfig.model_validate({"power": {"gpu_freq_file": "/etc/slurm/kiban/gpu_freq"}})
    files = write_hooks(tmp_path, cfg)
    names = {p.name for p in files}
    assert names == {
        "job_submit.lua",
        "kiban-suspend",
        "kiban-resume",
        "kiban-gpu-power",
        "slurm.conf.snippet",
    }
    for p in files:
        text = p.read_text()
        assert "@@" not in text, p
    assert os.access(tmp_path / "kiban-resume", os.X_OK)
    assert '"/etc/slurm/kiban/gpu_freq"' in (tmp_path / "job_submit.lua").read_text()
    snippet = (tmp_path / "slurm.conf.snippet").read_text()
    assert "SuspendTimeout=" in snippet
    assert "ResumeTimeout=" in snippet
    for script in ("kiban-resume", "kiban-gpu-power"):
        res = subprocess.run(
            ["bash", "-n", str(tmp_path / script)], capture_output=True, text=True, check=False
        )
        assert res.returncode == 0, res.stderr


def test_cli_write_hooks_and_missing_scheduler(tmp_path, monkeypatch, capsys):
    code, _, err = run_kiban(monkeypatch, capsys, "agent", "--config", str(tmp_path / "x.toml"))
    assert code == 2
    assert "--slurm" in err
    code, _, err = run_kiban(
        monkeypatch, capsys, "agent", "--slurm", "--write-hooks", str(tmp_path / "hooks")
    )
    assert code == 0, err
    assert (tmp_path / "hooks" / "job_submit.lua").exists()


def test_view_from_a_snapshot_matches_slurm():
    """The policy view (the glue that must follow the simulator's state classes)."""

    nodes = [
        _node("gn01", busy=True, state="mixed"),
        _node("gn02", flags=("DRAIN",), reason="admin"),
        _node("gn03"),
        _node("gn04"),
    ]

    def job(jid, state, n, nodes=(), idx=None, comment=""):
        return SlurmJob(
            jid,
            state,
            "gpu",
            "u",
            n,
            0,
            "",
            tuple(nodes),
            idx or {},
            100.0 + jid,
            110.0 if nodes else 0.0,
            3600.0,
            10,
            True,
            comment,
        )

    jobs = (
        job(1, "RUNNING", 3, ["gn01"], {"gn01": (0, 1, 2)}, "kiban:power_cap_w=400"),
        job(2, "PENDING", 8),
        job(3, "PENDING", 64),
    )
    snap = SlurmSnapshot(
        200.0,
        {n.name: n for n in nodes},
        jobs,
        {"gpu": SlurmPartition("gpu", ("gn01",), ("off",), "UP")},
        "test",
    )
    cfg = _cfg()
    live = build_view(snap, RackMetrics(0.0, {"r1": 27.0}, {"r1": 9000.0}), cfg)
    v = live.view
    assert live.node_names == ("gn01", "gn02", "gn03", "gn04")
    assert v.layout.rack_names == ("r1", "r2")
    assert v.free_gpus == 8 - 3 + 8 + 8  # gn02 drained: down in the view
    assert v.down_gpus == 8
    assert v.n_running == 1
    assert v.n_pending == 2
    j1 = live.job_ids.index(1)
    assert v.job_gpus(j1).tolist() == [0, 1, 2]
    assert v.job_power_cap_w[j1] == 400.0
    assert v.rack_gpu_alloc_w.tolist() == [1200.0, 0.0]
    assert v.rack_inlet_temp_c[0] == 27.0
    assert v.rack_power_w[0] == 9000.0
    assert v.layout.rack_power_limit_w[0] == 40000.0
    policy = make_policy("policy", "best-fit")
    policy.reset(live.ctx)
    decision = policy.decide(v)
    j2 = live.job_ids.index(2)
    assert set(decision.start) == {j2}  # the 64-GPU job cannot fit; 8 GPUs fit on gn03
    assert live.gpu_nodes(decision.start[j2]) in (["gn03"], ["gn04"])


def test_corrupt_state_file_is_one_clear_error(tmp_path):
    state = tmp_path / "state.json"
    state.write_text("{not json")
    cfg = AgentConfig.model_validate({"agent": {"state_file": str(state)}})
    with pytest.raises(ConfigError, match=r"state\.json: agent state file is unreadable"):
        SlurmAgent(None, None, None, cfg)  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match="policy 'no-such' is not registered"):
        SlurmAgent(None, None, None, AgentConfig.model_validate({"agent": {"policy": "no-such"}}))
