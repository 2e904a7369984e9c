"""Turn a policy decision plus rack readings into a list of Slurm actions (pure, no I/O).

What comes from where:

* the **policy** (a registered kiban policy called on the live view): ``Decision.start`` → the
  nodes it would place pending jobs on get the lowest ``Weight`` (Slurm fills lower weights
  first); ``Decision.power_cap_w`` → per-job caps (``AdminComment`` mark read by the node-side
  hook); ``Decision.preempt`` → ``scontrol requeue``, only where the partition's
  ``PreemptMode`` includes ``REQUEUE`` and the job is requeueable; ``supply_temp_c`` → logged
  as advice (cooling set-points are not a Slurm action);
* the **site limits** (agent config): racks over their inlet or power limit → nodes drained
  with a reason and tagged ``kiban_hot``, weights raised on warm racks; kiban-drained nodes
  resumed once the rack is back under the resume thresholds (hysteresis);
* the **power budget**: above ``[power].budget_w`` the registered power policy
  (``[power].policy``) caps running jobs and new jobs get ``--gpu-freq`` through the generated
  ``job_submit.lua`` (``on_overshoot = "cap"``), or running jobs are suspended, lowest priority
  first, until the estimate is under budget (``"suspend"``); below ``resume_frac`` × budget the
  frequency limit is lifted and kiban-suspended jobs resume;
* **power saving**: with no pending GPU jobs, idle nodes beyond ``min_idle_nodes`` are powered
  down through Slurm (``State=POWER_DOWN``; Slurm's ``ResumeProgram`` wakes them on demand).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from kiban.adapters.view import kiban_marks

if TYPE_CHECKING:
    from kiban.adapters.config import AgentConfig
    from kiban.adapters.rack_metrics import RackMetrics
    from kiban.adapters.slurm import SlurmJob, SlurmSnapshot
    from kiban.adapters.view import LiveView
    from kiban.policies.base import Decision

__all__ = [
    "ACTION_ORDER",
    "DISRUPTIVE",
    "HOT_FEATURE",
    "KIBAN_REASON",
    "Action",
    "RackStatus",
    "plan_actions",
    "rack_status",
]

KIBAN_REASON = "kiban:"
"""Prefix of every reason kiban sets; kiban resumes only nodes whose reason starts with it."""
HOT_FEATURE = "kiban_hot"
"""Node feature kiban sets on nodes of racks over their limit (``--constraint`` can avoid it)."""
W_PREFERRED, W_COOL, W_WARM, W_HOT = 1, 10, 100, 1000
"""Weight tiers: policy's choice on a cool rack < cool < warm (near limit) < over limit."""

ACTION_ORDER = (
    "drain",
    "set_features",
    "set_weight",
    "set_gpu_freq",
    "cap_job",
    "suspend_job",
    "requeue_job",
    "resume",
    "resume_job",
    "power_down",
    "advise",
)
DISRUPTIVE = frozenset(
    {"drain", "resume", "suspend_job", "resume_job", "requeue_job", "power_down"}
)
"""Actions rate-limited per target (``[agent].min_action_interval_s``)."""


@dataclass
class Action:
    """One planned change.

    Attributes:
        action: One of :data:`ACTION_ORDER`.
        target: Node name, job id, or file path.
        reason: Why (human-readable; for drains it is also the Slurm reason).
        metrics: The readings that triggered it.
        args: What exactly will be set.
        blocked: Non-empty if a rule forbids it (logged as skipped, never applied).
        busy: For drains: the node runs jobs.
    """

    action: str
    target: str
    reason: str
    metrics: dict[str, float] = field(default_factory=dict)
    args: dict[str, Any] = field(default_factory=dict)
    blocked: str = ""
    busy: bool = False


@dataclass(frozen=True)
class RackStatus:
    """A rack's readings against its limits."""

    name: str
    inlet_temp_c: float
    power_w: float
    inlet_limit_c: float
    inlet_resume_c: float
    power_limit_w: float
    heat_frac: float
    hot: bool
    cool_enough: bool
    known: bool

    def metrics(self) -> dict[str, float]:
        """The readings for a log line."""
        out = {"inlet_temp_c": self.inlet_temp_c, "inlet_limit_c": self.inlet_limit_c}
        if not math.isnan(self.power_w):
            out["power_w"] = self.power_w
        if math.isfinite(self.power_limit_w):
            out["power_limit_w"] = self.power_limit_w
        return out

    def why_hot(self) -> str:
        """``rack r01 inlet 35.0 °C > 32.0 °C limit`` (and/or power)."""
        parts = []
        if self.inlet_temp_c > self.inlet_limit_c:
            parts.append(f"inlet {self.inlet_temp_c:.1f} °C > {self.inlet_limit_c:.1f} °C limit")
        if self.power_w > self.power_limit_w:
            parts.append(f"power {self.power_w:.0f} W > {self.power_limit_w:.0f} W limit")
        return f"rack {self.name} " + " and ".join(parts)


def rack_status(cfg: AgentConfig, metrics: RackMetrics, rack: str) -> RackStatus:
    """Compare one rack's readings with its limits (unknown readings: neither hot nor cool)."""
    limit = cfg.rack_inlet_limit_c(rack)
    resume = limit - (cfg.thermal.inlet_limit_c - cfg.thermal.inlet_resume_c)
    p_limit = cfg.rack_power_limit_w(rack)
    temp = metrics.inlet_temp_c.get(rack, math.nan)
    power = metrics.power_w.get(rack, math.nan)
    known = not math.isnan(temp) or not math.isnan(power)
    fracs = [temp / limit if not math.isnan(temp) else 0.0]
    if math.isfinite(p_limit) and not math.isnan(power):
        fracs.append(power / p_limit)
    hot = (temp > limit) or (power > p_limit)
    cool = (math.isnan(temp) or temp <= resume) and (
        math.isnan(power) or power <= cfg.power.rack_resume_frac * p_limit
    )
    return RackStatus(
        name=rack,
        inlet_temp_c=temp,
        power_w=power,
        inlet_limit_c=limit,
        inlet_resume_c=resume,
        power_limit_w=p_limit,
        heat_frac=max(fracs),
        hot=bool(hot),
        cool_enough=bool(known and cool),
        known=known,
    )


def plan_actions(
    snap: SlurmSnapshot,
    metrics: RackMetrics,
    cfg: AgentConfig,
    live: LiveView | None,
    decision: Decision | None,
    *,
    budget_caps_w: dict[int, float] | None = None,
    gpu_freq_now: str = "",
) -> list[Action]:
    """All actions the agent wants this cycle, in :data:`ACTION_ORDER` (see the module doc).

    Args:
        snap: Slurm's state.
        metrics: Rack readings.
        cfg: Agent config.
        live: The policy view (None if the cluster has no GPU jobs to decide on).
        decision: The policy's decision (None if the policy was not called).
        budget_caps_w: Slurm job id → per-GPU cap from the power policy (budget overshoot).
        gpu_freq_now: What the ``job_submit.lua`` frequency file says now ("" = no limit).

    Returns:
        The actions, blocked ones included (the agent logs them as skipped).
    """
    node_rack = cfg.node_racks()
    status = {r: rack_status(cfg, metrics, r) for r in cfg.racks}
    actions: list[Action] = []
    preferred: set[str] = set()
    if live is not None and decision is not None:
        for gpus in decision.start.values():
            preferred.update(live.gpu_nodes(np.asarray(gpus)))

    for node in snap.nodes.values():
        if node.n_gpus == 0:
            continue
        rack = node_rack.get(node.name)
        rs = status.get(rack) if rack else None
        m = rs.metrics() if rs else {}
        # weights and features
        if cfg.agent.weights:
            if rs is not None and rs.hot:
                want, why = W_HOT, rs.why_hot()
            elif rs is not None and rs.heat_frac >= cfg.thermal.warn_frac:
                want = W_WARM + min(int(99 * (rs.heat_frac - cfg.thermal.warn_frac) / 0.1), 99)
                why = f"rack {rack} near its limit (heat {rs.heat_frac:.2f} of limit)"
            elif node.name in preferred:
                want, why = W_PREFERRED, f"policy {cfg.agent.policy} places pending jobs here"
            else:
                frac = rs.heat_frac if rs is not None else 0.0
                want = W_COOL + 10 * min(int(frac * 10), 8)
                why = f"rack {rack or '-'} heat {frac:.2f} of limit"
            if want != node.weight:
                actions.append(
                    Action("set_weight", node.name, why, m, {"Weight": want, "was": node.weight})
                )
            hot = rs is not None and rs.hot
            feats = [f for f in node.features if f != HOT_FEATURE] + ([HOT_FEATURE] if hot else [])
            if tuple(feats) != node.features:
                actions.append(
                    Action(
                        "set_features",
                        node.name,
                        rs.why_hot() if hot and rs else f"rack {rack} back under its limits",
                        m,
                        {"AvailableFeatures": ",".join(feats), "ActiveFeatures": ",".join(feats)},
                    )
                )
        # drain / resume
        if cfg.agent.drain and rs is not None:
            if rs.hot and not node.drained:
                actions.append(
                    Action(
                        "drain",
                        node.name,
                        f"{KIBAN_REASON} {rs.why_hot()}",
                        m,
                        {"State": "DRAIN"},
                        busy=node.busy,
                    )
                )
            elif node.drained and node.reason.startswith(KIBAN_REASON) and rs.cool_enough:
                actions.append(
                    Action(
                        "resume",
                        node.name,
                        f"rack {rack} back under its limits "
                        f"(inlet ≤ {rs.inlet_resume_c:.1f} °C, power ≤ "
                        f"{cfg.power.rack_resume_frac:.0%} of limit); drained for: {node.reason}",
                        m,
                        {"State": "RESUME"},
                    )
                )

    actions += _budget_actions(snap, metrics, cfg, live, budget_caps_w or {}, gpu_freq_now)
    if live is not None and decision is not None:
        actions += _decision_actions(snap, cfg, live, decision, budget_caps_w or {})
    if cfg.power_save.enabled:
        actions += _power_save(snap, cfg, status, node_rack)
    rank = {a: i for i, a in enumerate(ACTION_ORDER)}
    return sorted(actions, key=lambda a: rank[a.action])


def _job_power_w(cfg: AgentConfig, live: LiveView | None, job_id: int, n_gpus: int) -> float:
    """Estimated power of a job: GPUs × its cap (or the GPU's TDP)."""
    if live is None:
        return 700.0 * n_gpus
    idx = live.job_ids.index(job_id) if job_id in live.job_ids else -1
    lay = live.view.layout
    tdp = max(s.tdp_w for s in lay.skus)
    if idx >= 0:
        cap = float(live.view.job_power_cap_w[idx])
        if not math.isnan(cap):
            return cap * n_gpus
    return tdp * n_gpus


def _budget_actions(  # noqa: PLR0917 - private helper of plan_actions
    snap: SlurmSnapshot,
    metrics: RackMetrics,
    cfg: AgentConfig,
    live: LiveView | None,
    caps: dict[int, float],
    freq_now: str,
) -> list[Action]:
    budget = cfg.power.budget_w
    power = metrics.cluster_power_w
    if not math.isfinite(budget) or math.isnan(power) or cfg.power.on_overshoot == "none":
        return []
    m = {"cluster_power_w": power, "budget_w": budget}
    out: list[Action] = []
    path = cfg.power.gpu_freq_file
    if power > budget:
        why = f"cluster power {power:.0f} W > budget {budget:.0f} W"
        if cfg.power.on_overshoot == "cap":
            if freq_now != cfg.power.gpu_freq:
                out.append(
                    Action(
                        "set_gpu_freq",
                        path,
                        f"{why}: new GPU jobs get --gpu-freq={cfg.power.gpu_freq}",
                        m,
                        {"gpu_freq": cfg.power.gpu_freq, "was": freq_now},
                    )
                )
            for jid, cap in sorted(caps.items()):
                job = next((j for j in snap.jobs if j.job_id == jid), None)
                if job is not None and job.state == "RUNNING":
                    why_cap = f"{why}: power policy {cfg.power.policy} caps running jobs"
                    out += _cap_action(job, cap, why_cap, m)
        else:
            running = [j for j in snap.jobs if j.state == "RUNNING" and j.n_gpus > 0]
            running.sort(key=lambda j: (j.priority, -j.start_time_s))
            need = power - budget
            for job in running:
                if need <= 0:
                    break
                est = _job_power_w(cfg, live, job.job_id, job.n_gpus)
                out.append(
                    Action(
                        "suspend_job",
                        str(job.job_id),
                        f"{why}: suspending lowest-priority jobs (~{est:.0f} W this one)",
                        {**m, "job_power_est_w": est},
                        {"priority": job.priority},
                    )
                )
                need -= est
    elif power <= cfg.power.resume_frac * budget:
        why = f"cluster power {power:.0f} W ≤ {cfg.power.resume_frac:.0%} of budget {budget:.0f} W"
        if freq_now:
            out.append(
                Action(
                    "set_gpu_freq",
                    path,
                    f"{why}: lift the GPU frequency limit",
                    m,
                    {"gpu_freq": "", "was": freq_now},
                )
            )
        headroom = cfg.power.resume_frac * budget - power
        held = [j for j in snap.jobs if j.state == "SUSPENDED"]
        held = [j for j in held if "suspended" in kiban_marks(j.admin_comment)]
        for job in sorted(held, key=lambda j: -j.priority):
            est = _job_power_w(cfg, live, job.job_id, job.n_gpus)
            if est <= headroom:
                out.append(
                    Action(
                        "resume_job",
                        str(job.job_id),
                        f"{why}: room for ~{est:.0f} W",
                        {**m, "job_power_est_w": est},
                        {},
                    )
                )
                headroom -= est
    return out


def _cap_action(job: SlurmJob, cap_w: float, why: str, m: dict[str, float]) -> list[Action]:
    """A ``cap_job`` action, unless the job already carries (about) this cap."""
    have = kiban_marks(job.admin_comment).get("power_cap_w", "")
    if have and abs(float(have) - cap_w) < 1.0:
        return []
    args = {"power_cap_w": round(float(cap_w), 1), "nodes": ",".join(job.nodes)}
    return [Action("cap_job", str(job.job_id), why, m, args)]


def _decision_actions(
    snap: SlurmSnapshot,
    cfg: AgentConfig,
    live: LiveView,
    decision: Decision,
    budget_caps: dict[int, float],
) -> list[Action]:
    out: list[Action] = []
    name = cfg.agent.policy
    for j, cap in decision.power_cap_w.items():
        jid = live.job_ids[int(j)]
        if jid in budget_caps:
            continue  # the budget's cap already covers this job
        out += _cap_action(live.jobs_by_id[jid], cap, f"policy {name} sets a per-GPU power cap", {})
    for j in sorted(decision.preempt):
        jid = live.job_ids[int(j)]
        job = live.jobs_by_id[jid]
        part = snap.partitions.get(job.partition)
        blocked = ""
        if part is None or not part.allows_requeue:
            mode = ",".join(part.preempt_mode).upper() if part else "unknown"
            blocked = (
                f"partition {job.partition} does not allow requeue (PreemptMode={mode}); "
                "set PreemptMode=REQUEUE on it to let kiban preempt"
            )
        elif not job.requeue:
            blocked = "job was submitted with --no-requeue"
        out.append(
            Action(
                "requeue_job", str(jid), f"policy {name} preempts this job", {}, {}, blocked=blocked
            )
        )
    if decision.supply_temp_c is not None:
        out.append(
            Action(
                "advise",
                "cooling",
                f"policy {name} wants supply air at "
                f"{decision.supply_temp_c:.1f} °C (not a Slurm action; set it at the CRAH/BMS)",
                {"supply_temp_c": float(decision.supply_temp_c)},
                {},
            )
        )
    return out


def _power_save(
    snap: SlurmSnapshot, cfg: AgentConfig, status: dict[str, RackStatus], node_rack: dict[str, str]
) -> list[Action]:
    if any(j.state == "PENDING" and j.n_gpus > 0 for j in snap.jobs):
        return []
    idle = [
        n
        for n in snap.nodes.values()
        if n.n_gpus > 0 and n.usable and not n.busy and n.state == "idle"
    ]
    keep = cfg.power_save.min_idle_nodes
    if len(idle) <= keep:
        return []

    def heat(n: str) -> float:
        rs = status.get(node_rack.get(n, ""))
        return rs.heat_frac if rs is not None else 0.0

    idle.sort(key=lambda n: (-heat(n.name), n.name))
    return [
        Action(
            "power_down",
            n.name,
            f"idle with no pending GPU jobs; keeping {keep} idle node(s) powered",
            {"idle_nodes": float(len(idle))},
            {"State": "POWER_DOWN"},
        )
        for n in idle[: len(idle) - keep]
    ]
