"""The Slurm agent against a real Slurm 22.05 on loopback (4 nodes × 8 fake H100, 2 racks).

Racks: r1 = gn01, gn02; r2 = gn03, gn04. Rack readings come from a metrics file the tests
write. Each test starts from a clean cluster (no jobs, nodes idle, weight 1, no features).
"""

from __future__ import annotations

import io
import json
import subprocess
import time

import pytest

from conftest import agent_config, reset_cluster, run_kiban, wait_prometheus, write_racks
from kiban.adapters.agent import ActionLog, SlurmAgent
from kiban.adapters.rack_metrics import FileRackMetrics
from kiban.adapters.slurm import SlurmCli, SlurmRest
from kiban.adapters.view import build_view
from kiban.cli.agent import make_metrics
from kiban.policies.base import Decision


@pytest.fixture(autouse=True)
def _clean(slurm):
    reset_cluster(slurm)
    yield
    reset_cluster(slurm)


def make_agent(cl, cfg, *, apply=False, allow_drain_busy=False):
    cli = SlurmCli(env=cl.env)
    return SlurmAgent(
        cli,
        cli,
        FileRackMetrics(cl.base / "racks.json"),
        cfg,
        apply=apply,
        allow_drain_busy=allow_drain_busy,
        log=ActionLog(io.StringIO()),
    )


def node_fields(cl):
    keep = ("State", "Weight", "Reason", "AvailableFeatures", "ActiveFeatures")
    return {n: {k: cl.scontrol_node(n).get(k) for k in keep} for n in cl.nodes}


def wait_running(cl, job_id, timeout_s=20.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = cl.run("squeue", "-h", "-j", str(job_id), "-o", "%T %N").stdout.split()
        if out and out[0] == "RUNNING":
            return out[1]
        time.sleep(0.2)
    msg = f"job {job_id} did not start: {cl.run('squeue').stdout}"
    raise AssertionError(msg)


def by_action(lines, action):
    return {ln["target"]: ln for ln in lines if ln["action"] == action}


def test_agent_submits_and_sees_jobs_through_cli_and_rest(slurm):
    cli = SlurmCli(env=slurm.env)
    running = cli.submit(command="sleep 60", gpus=3, output_dir=str(slurm.base / "out"))
    rest = SlurmRest(slurm.rest_url, user="root", token=slurm.token(), cli=cli)
    assert rest.version == "v0.0.38"
    wait_running(slurm, running)
    pending = rest.submit(command="sleep 60", gpus=32, output_dir=str(slurm.base / "out"))
    for reader in (cli, rest):
        snap = reader.snapshot()
        jobs = {j.job_id: j for j in snap.jobs}
        assert jobs[running].state == "RUNNING"
        assert jobs[running].n_gpus == 3
        assert sum(len(v) for v in jobs[running].gpu_idx.values()) == 3
        assert jobs[pending].state == "PENDING"
        assert jobs[pending].n_gpus == 32
        assert {n.gpu_model for n in snap.nodes.values()} == {"h100"}
        assert snap.partitions["preempt"].allows_requeue
        assert not snap.partitions["gpu"].allows_requeue
        write_racks(slurm, {"r1": 25.0, "r2": 25.0})
        live = build_view(
            snap, FileRackMetrics(slurm.base / "racks.json").read(), agent_config(slurm)
        )
        view = live.view
        assert view.layout.n_gpus == 32
        assert view.free_gpus == 29
        assert view.n_running == 1
        assert view.n_pending == 1


def test_dry_run_changes_nothing_and_logs_what_apply_would_do(slurm):
    write_racks(slurm, {"r1": 36.0, "r2": 24.0})
    before = node_fields(slurm)
    agent = make_agent(slurm, agent_config(slurm))
    lines = agent.cycle()
    assert node_fields(slurm) == before
    drains = by_action(lines, "drain")
    assert set(drains) == {"gn01", "gn02"}
    assert all(ln["result"].startswith("dry-run") for ln in drains.values())
    assert drains["gn01"]["metrics"]["inlet_temp_c"] == 36.0
    weights = by_action(lines, "set_weight")
    assert weights["gn01"]["args"]["Weight"] == 1000
    assert all(ln["mode"] == "dry-run" for ln in lines)
    for ln in lines:
        assert {"time", "action", "target", "reason", "metrics", "result"} <= set(ln)


def test_apply_changes_weights_drains_and_resumes(slurm):
    write_racks(slurm, {"r1": 36.0, "r2": 24.0})
    agent = make_agent(slurm, agent_config(slurm), apply=True)
    lines = agent.cycle()
    assert {t for t, ln in by_action(lines, "drain").items() if ln["result"] == "applied"} == {
        "gn01",
        "gn02",
    }
    for node in ("gn01", "gn02"):
        f = slurm.scontrol_node(node)
        assert "DRAIN" in f["State"]
        assert f["Weight"] == "1000"
        assert f["AvailableFeatures"] == "kiban_hot"
        assert f["Reason"].startswith("kiban: rack r1 inlet 36.0 °C > 32.0 °C limit")
    for node in ("gn03", "gn04"):
        f = slurm.scontrol_node(node)
        assert "DRAIN" not in f["State"]
        assert int(f["Weight"]) < 100
    # a node drained by an administrator is never resumed by kiban
    slurm.run("scontrol", "update", "NodeName=gn04", "State=DRAIN", "Reason=admin: bad DIMM")
    write_racks(slurm, {"r1": 29.0, "r2": 24.0})  # below the 30 °C resume threshold
    lines = agent.cycle()
    assert set(by_action(lines, "resume")) == {"gn01", "gn02"}
    for node in ("gn01", "gn02"):
        f = slurm.scontrol_node(node)
        assert "DRAIN" not in f["State"]
        assert f["AvailableFeatures"] == "(null)"
        assert int(f["Weight"]) < 1000  # 29 °C of 32 °C: "warm" tier, no longer "hot"
    assert "DRAIN" in slurm.scontrol_node("gn04")["State"]


def test_hysteresis_keeps_nodes_drained_between_limit_and_resume(slurm):
    write_racks(slurm, {"r1": 36.0, "r2": 24.0})
    agent = make_agent(slurm, agent_config(slurm), apply=True)
    agent.cycle()
    write_racks(slurm, {"r1": 31.0, "r2": 24.0})  # under the limit, above resume
    lines = agent.cycle()
    assert not by_action(lines, "resume")
    assert "DRAIN" in slurm.scontrol_node("gn01")["State"]


def test_hot_rack_steers_new_jobs_away(slurm):
    out = str(slurm.base / "out")
    cli = SlurmCli(env=slurm.env)
    # control: with equal weights Slurm puts a 1-GPU job on the first node, gn01 (rack r1)
    control = cli.submit(command="sleep 30", gpus=1, output_dir=out)
    assert wait_running(slurm, control) == "gn01"
    slurm.run("scancel", str(control))
    slurm.wait_jobs_done()
    write_racks(slurm, {"r1": 36.0, "r2": 24.0})
    cfg = agent_config(slurm, agent={"drain": False})  # steer with weights only
    make_agent(slurm, cfg, apply=True).cycle()
    jobs = [cli.submit(command="sleep 30", gpus=2, output_dir=out) for _ in range(4)]
    placed = {wait_running(slurm, j) for j in jobs}
    assert placed <= {"gn03", "gn04"}, placed


def test_busy_node_is_not_drained_without_allow_drain_busy(slurm):
    cli = SlurmCli(env=slurm.env)
    job = cli.submit(command="sleep 60", gpus=1, output_dir=str(slurm.base / "out"))
    assert wait_running(slurm, job) == "gn01"
    write_racks(slurm, {"r1": 36.0, "r2": 24.0})
    lines = make_agent(slurm, agent_config(slurm), apply=True).cycle()
    drains = by_action(lines, "drain")
    assert drains["gn01"]["result"].startswith("skipped: node runs jobs")
    assert drains["gn02"]["result"] == "applied"
    assert "DRAIN" not in slurm.scontrol_node("gn01")["State"]
    lines = make_agent(slurm, agent_config(slurm), apply=True, allow_drain_busy=True).cycle()
    assert by_action(lines, "drain")["gn01"]["result"] == "applied"
    assert "DRAIN" in slurm.scontrol_node("gn01")["State"]  # DRAINING: the job keeps running


def test_max_drain_share(slurm):
    write_racks(slurm, {"r1": 36.0, "r2": 24.0})
    cfg = agent_config(slurm, agent={"max_drain_frac": 0.25, "min_action_interval_s": 0.0})
    lines = make_agent(slurm, cfg, apply=True).cycle()
    drains = by_action(lines, "drain")
    assert drains["gn01"]["result"] == "applied"
    assert "max_drain_frac = 0.25" in drains["gn02"]["result"]
    assert "DRAIN" not in slurm.scontrol_node("gn02")["State"]


def test_budget_overshoot_caps_running_and_new_jobs(slurm):
    out = str(slurm.base / "out")
    cli = SlurmCli(env=slurm.env)
    job = cli.submit(command="sleep 60", gpus=4, output_dir=out)
    wait_running(slurm, job)
    cfg = agent_config(slurm, power={"budget_w": 30000.0, "on_overshoot": "cap"})
    write_racks(slurm, {"r1": 25.0, "r2": 24.0}, {"r1": 25000.0, "r2": 15000.0})
    agent = make_agent(slurm, cfg, apply=True)
    lines = agent.cycle()
    caps = by_action(lines, "cap_job")
    assert caps[str(job)]["result"] == "applied"
    assert caps[str(job)]["metrics"]["cluster_power_w"] == 40000.0
    # static-cap at its default 0.7 × the H100's 700 W TDP
    show = slurm.run("scontrol", "show", "job", str(job)).stdout
    assert "AdminComment=kiban:power_cap_w=490" in show
    assert (slurm.base / "kiban" / "gpu_freq").read_text().strip() == "medium"
    new = cli.submit(command="sleep 5", gpus=1, output_dir=out)
    show = slurm.run("scontrol", "show", "job", str(new)).stdout
    assert "TresFreq=gpu:medium" in show
    assert "kiban:gpu_freq=medium" in show
    # back under budget: the limit for new jobs is lifted
    write_racks(slurm, {"r1": 25.0, "r2": 24.0}, {"r1": 10000.0, "r2": 10000.0})
    lines = agent.cycle()
    assert (
        by_action(lines, "set_gpu_freq")[str(slurm.base / "kiban" / "gpu_freq")]["result"]
        == "applied"
    )
    later = cli.submit(command="sleep 5", gpus=1, output_dir=out)
    assert "TresFreq=gpu" not in slurm.run("scontrol", "show", "job", str(later)).stdout


def test_budget_overshoot_suspends_when_policy_says_suspend(slurm):
    out = str(slurm.base / "out")
    cli = SlurmCli(env=slurm.env)
    high = cli.submit(command="sleep 60", gpus=8, output_dir=out, extra=("--nice=0",))
    low = cli.submit(command="sleep 60", gpus=8, output_dir=out, extra=("--nice=1000",))
    wait_running(slurm, high)
    wait_running(slurm, low)
    cfg = agent_config(slurm, power={"budget_w": 30000.0, "on_overshoot": "suspend"})
    write_racks(slurm, {"r1": 25.0, "r2": 24.0}, {"r1": 20000.0, "r2": 14000.0})
    agent = make_agent(slurm, cfg, apply=True)
    lines = agent.cycle()
    assert set(by_action(lines, "suspend_job")) == {str(low)}  # 8 × 700 W covers 4 kW
    state = slurm.run("squeue", "-h", "-o", "%i %T").stdout.split()
    states = dict(zip(state[::2], state[1::2], strict=True))
    assert states[str(low)] == "SUSPENDED"
    assert states[str(high)] == "RUNNING"
    write_racks(slurm, {"r1": 25.0, "r2": 24.0}, {"r1": 8000.0, "r2": 8000.0})
    lines = agent.cycle()
    assert by_action(lines, "resume_job")[str(low)]["result"] == "applied"
    out_state = slurm.run("squeue", "-h", "-j", str(low), "-o", "%T").stdout.strip()
    assert out_state == "RUNNING"


def test_requeue_only_when_policy_says_so_and_partition_allows(slurm):
    out = str(slurm.base / "out")
    cli = SlurmCli(env=slurm.env)
    fixed = cli.submit(command="sleep 60", gpus=1, output_dir=out, partition="gpu")
    movable = cli.submit(command="sleep 60", gpus=1, output_dir=out, partition="preempt")
    wait_running(slurm, fixed)
    wait_running(slurm, movable)
    write_racks(slurm, {"r1": 25.0, "r2": 24.0})
    cfg = agent_config(slurm)
    agent = make_agent(slurm, cfg, apply=True)

    class PreemptBoth:
        """A policy that wants every running job preempted."""

        name, preemptive, epoch_s = "preempt-both", True, None

        def reset(self, ctx):
            pass

        def decide(self, view):
            return Decision(preempt=frozenset(int(j) for j in view.running_jobs()))

    agent.policy = PreemptBoth()
    lines = agent.cycle()
    requeues = by_action(lines, "requeue_job")
    assert requeues[str(fixed)]["result"].startswith(
        "skipped: partition gpu does not allow requeue"
    )
    assert requeues[str(movable)]["result"] == "applied"
    show = slurm.run("scontrol", "show", "job", str(movable)).stdout
    assert "Restarts=1" in show
    assert slurm.run("squeue", "-h", "-j", str(fixed), "-o", "%T").stdout.strip() == "RUNNING"
    # without a policy decision nothing is requeued
    lines = make_agent(slurm, cfg, apply=True).cycle()
    assert not by_action(lines, "requeue_job")


def test_power_save_powers_down_idle_nodes_through_suspend_program(slurm):
    write_racks(slurm, {"r1": 28.0, "r2": 24.0})
    cfg = agent_config(slurm, power_save={"enabled": True, "min_idle_nodes": 2})
    lines = make_agent(slurm, cfg, apply=True).cycle()
    downs = by_action(lines, "power_down")
    assert set(downs) == {"gn01", "gn02"}  # the warmer rack first
    states = {n: slurm.scontrol_node(n)["State"] for n in ("gn01", "gn02")}
    # POWERING_DOWN for SuspendTimeout (60 s here), then POWERED_DOWN. The fixture's fake nodes
    # cannot "boot" (slurmd's boot time predates the power-up request), so the test stops here
    # and the reset cancels the power-down while it is still in progress.
    assert all("POWER" in s and "DOWN" in s for s in states.values()), states
    log = slurm.base / "log" / "kiban-power.log"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (log.exists() and "gn02" in log.read_text()):
        time.sleep(0.2)
    text = log.read_text()
    assert "suspend gn01" in text
    assert "suspend gn02" in text
    assert "POWER" not in slurm.scontrol_node("gn03")["State"]


def test_cli_dry_run_prints_json_lines(slurm, tmp_path, monkeypatch, capsys):
    write_racks(slurm, {"r1": 36.0, "r2": 24.0})
    conf = tmp_path / "agent.toml"
    conf.write_text(
        f"""[agent]
policy = "easy-backfill"
[metrics]
file = "{slurm.base / "racks.json"}"
[power]
gpu_freq_file = "{slurm.base / "kiban" / "gpu_freq"}"
[racks.r1]
nodes = "gn[01-02]"
[racks.r2]
nodes = "gn[03-04]"
"""
    )
    before = node_fields(slurm)
    code, out, err = run_kiban(
        monkeypatch, capsys, "agent", "--slurm", "--config", str(conf), "--once", env=slurm.env
    )
    assert code == 0, err
    lines = [json.loads(x) for x in out.splitlines()]
    assert lines[0]["action"] == "observe"
    assert lines[0]["args"]["policy"] == "easy-backfill"
    drains = {ln["target"]: ln["result"] for ln in lines if ln["action"] == "drain"}
    assert drains["gn01"].startswith("dry-run")
    assert drains["gn02"].startswith("skipped: max_drain_frac = 0.25")  # the default
    assert node_fields(slurm) == before


def test_hot_rack_from_prometheus_drains_and_steers(slurm, prometheus):
    url, exporter = prometheus
    exporter.values = {
        "r1": {"inlet_temp_c": 36.5, "power_w": 30000.0},
        "r2": {"inlet_temp_c": 24.0, "power_w": 18000.0},
    }
    wait_prometheus(url, "r1", 36.5)
    cfg = agent_config(
        slurm,
        metrics={
            "file": "",
            "prometheus_url": url,
            "inlet_query": "max by (rack) (kiban_rack_inlet_temp_c)",
            "power_query": "sum by (rack) (kiban_rack_power_w)",
        },
    )
    cli = SlurmCli(env=slurm.env)
    agent = SlurmAgent(cli, cli, make_metrics(cfg), cfg, apply=True, log=ActionLog(io.StringIO()))
    lines = agent.cycle()
    assert lines[0]["metrics"]["inlet_temp_c.r1"] == 36.5
    assert lines[0]["reason"].endswith(f"metrics from prometheus {url}")
    drains = by_action(lines, "drain")
    assert {t for t, ln in drains.items() if ln["result"] == "applied"} == {"gn01", "gn02"}
    assert drains["gn01"]["metrics"]["power_w"] == 30000.0
    jobs = [
        cli.submit(command="sleep 30", gpus=2, output_dir=str(slurm.base / "out")) for _ in range(3)
    ]
    assert {wait_running(slurm, j) for j in jobs} <= {"gn03", "gn04"}
    # the rack cools down in telemetry: nodes come back
    exporter.values["r1"] = {"inlet_temp_c": 27.0, "power_w": 20000.0}
    wait_prometheus(url, "r1", 27.0)
    lines = agent.cycle()
    assert set(by_action(lines, "resume")) == {"gn01", "gn02"}
    assert "DRAIN" not in slurm.scontrol_node("gn01")["State"]


def test_node_hook_applies_marked_power_caps_with_nvidia_smi(slurm, tmp_path):
    """kiban-gpu-power (sync mode) reads the agent's AdminComment mark and calls nvidia-smi
    on exactly the job's GPUs of that node (a recording stand-in for nvidia-smi here)."""
    cli = SlurmCli(env=slurm.env)
    job = cli.submit(command="sleep 60", gpus=3, output_dir=str(slurm.base / "out"))
    node = wait_running(slurm, job)
    cli.update_job(job, AdminComment="kiban:power_cap_w=450")
    calls = tmp_path / "smi-calls"
    smi = tmp_path / "nvidia-smi"
    smi.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *--query-gpu=power.min_limit*) echo "200.00, 700.00"; exit;; esac\n'
        f'echo "$@" >> {calls}\necho 700.00\n'
    )
    smi.chmod(0o755)
    env = {
        **slurm.env,
        "KIBAN_NVIDIA_SMI": str(smi),
        "KIBAN_NODE": node,
        "KIBAN_HOOK_LOG": str(tmp_path / "hook.log"),
    }
    res = subprocess.run(
        [str(slurm.base / "kiban-gpu-power"), "sync"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert calls.read_text().splitlines() == [f"-i {g} -pl 450" for g in (0, 1, 2)]
    assert f"job {job} gpu 2 power limit 450 W" in (tmp_path / "hook.log").read_text()
    # epilog restores the default limit on the same GPUs
    calls.unlink()
    env_epi = {**env, "SLURM_JOB_ID": str(job), "SLURM_JOB_GPUS": "0,1,2"}
    subprocess.run(
        [str(slurm.base / "kiban-gpu-power"), "epilog"], env=env_epi, check=True, timeout=30
    )
    assert "-i 0 -pl 700" in calls.read_text().splitlines()
    # a cap outside the board's range is refused, not passed to nvidia-smi
    calls.unlink()
    cli.update_job(job, AdminComment="kiban:power_cap_w=150")
    subprocess.run([str(slurm.base / "kiban-gpu-power"), "sync"], env=env, check=True, timeout=30)
    assert not calls.exists()
    assert "cap 150 W outside the board's range [200, 700] W" in (tmp_path / "hook.log").read_text()


@pytest.mark.parametrize("policy", ["tiresias-las", "best-fit"])
def test_registered_policies_decide_on_the_live_cluster(slurm, policy):
    """The baselines run unchanged on the live view; where the policy would start a pending
    (held) job becomes the lowest node weight."""
    out = str(slurm.base / "out")
    cli = SlurmCli(env=slurm.env)
    running = cli.submit(command="sleep 60", gpus=6, output_dir=out)
    assert wait_running(slurm, running) == "gn01"
    held = cli.submit(command="sleep 5", gpus=2, output_dir=out, extra=("--hold",))
    for node in slurm.nodes:  # start every node at a neutral weight
        slurm.run("scontrol", "update", f"NodeName={node}", "Weight=5")
    write_racks(slurm, {"r1": 25.0, "r2": 24.0})
    agent = make_agent(slurm, agent_config(slurm, agent={"policy": policy}))
    lines = agent.cycle()
    assert lines[0]["args"]["policy"] == policy
    preferred = {t for t, ln in by_action(lines, "set_weight").items() if ln["args"]["Weight"] == 1}
    # 2 GPUs fit next to the 6-GPU job on gn01: best-fit packs there; first-fit takes gn01 too
    assert preferred == {"gn01"}, (policy, lines)
    others = {t: ln["args"]["Weight"] for t, ln in by_action(lines, "set_weight").items()}
    assert all(w >= 10 for t, w in others.items() if t != "gn01")
    slurm.run("scancel", str(held))


def test_gpu_requests_in_every_form_are_counted(slurm):
    """--gpus, --gpus-per-node over several nodes, and --gpus-per-task with several tasks."""
    out = str(slurm.base / "out")
    cli = SlurmCli(env=slurm.env)
    held = ("--hold",)
    a = cli.submit(command="true", gpus=5, output_dir=out, extra=held)
    b = slurm.sbatch("--hold", "-N2", "--gpus-per-node=h100:4", seconds=1)
    c = slurm.sbatch("--hold", "-n3", "--gpus-per-task=2", seconds=1)
    jobs = {j.job_id: j for j in cli.snapshot().jobs}
    assert (jobs[a].n_gpus, jobs[a].gpus_per_node) == (5, 0)
    assert (jobs[b].n_gpus, jobs[b].gpus_per_node, jobs[b].gpu_model) == (8, 4, "h100")
    assert jobs[c].n_gpus == 6


def test_rate_limits_stop_flapping_and_cap_actions_per_cycle(slurm):
    cfg = agent_config(slurm, agent={"min_action_interval_s": 300.0, "max_drain_frac": 0.5})
    agent = make_agent(slurm, cfg, apply=True)
    write_racks(slurm, {"r1": 36.0, "r2": 24.0})
    agent.cycle()  # drain gn01, gn02
    write_racks(slurm, {"r1": 25.0, "r2": 24.0})
    agent.cycle()  # resume them (a different action)
    write_racks(slurm, {"r1": 36.0, "r2": 24.0})
    lines = agent.cycle()  # drain again within 300 s: refused
    drains = by_action(lines, "drain")
    assert drains["gn01"]["result"].startswith("skipped: rate limit: drain on gn01")
    assert "DRAIN" not in slurm.scontrol_node("gn01")["State"]
    # the limit survives a restart (or a --once run from cron) through the state file
    state = slurm.base / "agent-state.json"
    keep = agent_config(slurm, agent={"min_action_interval_s": 300.0, "state_file": str(state)})
    write_racks(slurm, {"r1": 25.0, "r2": 24.0})
    make_agent(slurm, keep, apply=True).cycle()  # resumes nothing: nodes are not drained
    write_racks(slurm, {"r1": 36.0, "r2": 24.0})
    assert by_action(make_agent(slurm, keep, apply=True).cycle(), "drain")["gn01"]["result"] == (
        "applied"
    )
    write_racks(slurm, {"r1": 25.0, "r2": 24.0})
    lines = make_agent(slurm, keep, apply=True).cycle()  # a new agent: a fresh process
    assert by_action(lines, "resume")["gn01"]["result"] == "applied"
    write_racks(slurm, {"r1": 36.0, "r2": 24.0})
    lines = make_agent(slurm, keep, apply=True).cycle()
    assert by_action(lines, "drain")["gn01"]["result"].startswith("skipped: rate limit")
    state.unlink()
    few = agent_config(slurm, agent={"max_actions_per_cycle": 2})
    reset_cluster(slurm)
    lines = make_agent(slurm, few, apply=True).cycle()
    results = [ln["result"] for ln in lines[1:]]
    assert results.count("applied") == 2
    others = [r for r in results if r != "applied"]
    assert others
    assert all(r.startswith("skipped: max_actions_per_cycle = 2") for r in others)
