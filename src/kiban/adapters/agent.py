"""The agent loop: read Slurm and the racks, ask a policy, plan, check the safety rules, act.

One cycle (:meth:`SlurmAgent.cycle`):

1. read Slurm (:mod:`kiban.adapters.slurm`) and the rack metrics
   (:mod:`kiban.adapters.rack_metrics`);
2. build the policy view (:mod:`kiban.adapters.view`) and call the registered policy
   (``[agent].policy``); on a budget overshoot also the registered power policy;
3. plan actions (:mod:`kiban.adapters.plan`);
4. apply the safety rules: blocked actions, a per-target minimum interval for disruptive
   actions, a maximum share of drained nodes, no drain of a busy node unless ``--apply
   --allow-drain-busy``, a maximum number of actions per cycle;
5. dry run (default): log what would be done and change nothing; ``--apply``: do it, in
   order, and stop at the first Slurm error, logging exactly which actions took effect.

Every planned, skipped and applied action is one JSON line (``time``, ``cycle``, ``mode``,
``action``, ``target``, ``reason``, ``metrics``, ``args``, ``result``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from kiban.adapters.plan import DISRUPTIVE, Action, plan_actions
from kiban.adapters.slurm import SlurmError
from kiban.adapters.view import build_view, kiban_marks
from kiban.errors import ConfigError, KibanError
from kiban.policies.registry import make_policy

if TYPE_CHECKING:
    from kiban.adapters.config import AgentConfig
    from kiban.adapters.rack_metrics import RackMetricsSource
    from kiban.adapters.slurm import SlurmCli, SlurmReader, SlurmSnapshot
    from kiban.adapters.view import LiveView
    from kiban.policies.base import Decision

__all__ = ["ActionLog", "SlurmAgent", "read_gpu_freq_file"]


class ActionLog:
    """Writes one JSON object per line (to a file or a stream)."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out if out is not None else sys.stdout
        self.lines: list[dict[str, Any]] = []

    def write(self, record: dict[str, Any]) -> None:
        """Add the time stamp and write the record as one line."""
        rec = {"time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"), **record}
        self.lines.append(rec)
        self.out.write(json.dumps(rec, ensure_ascii=False, default=_jsonable) + "\n")
        self.out.flush()


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def read_gpu_freq_file(path: str) -> str:
    """The current GPU frequency limit that ``job_submit.lua`` applies ("" = none)."""
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


def _write_atomic(path: str, text: str) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o644)
    tmp.replace(p)


class SlurmAgent:
    """Runs cycles against one cluster (see the module docstring).

    Args:
        reader: Where the snapshot comes from (CLI or REST).
        actor: The ``scontrol`` client that applies actions.
        metrics: Rack metrics source.
        cfg: Agent config.
        apply: Change the cluster (default: dry run).
        allow_drain_busy: With ``apply``, also drain nodes that run jobs.
        log: Where the JSON lines go.
    """

    def __init__(
        self,
        reader: SlurmReader,
        actor: SlurmCli,
        metrics: RackMetricsSource,
        cfg: AgentConfig,
        *,
        apply: bool = False,
        allow_drain_busy: bool = False,
        log: ActionLog | None = None,
    ) -> None:
        self.reader = reader
        self.actor = actor
        self.metrics = metrics
        self.cfg = cfg
        self.apply = apply
        self.allow_drain_busy = allow_drain_busy
        self.log = log or ActionLog()
        self.mode = "apply" if apply else "dry-run"
        self.n_cycle = 0
        self._state_file = Path(cfg.agent.state_file) if cfg.agent.state_file else None
        self._last_action_s: dict[tuple[str, str], float] = self._load_state()
        # fail early on an unknown policy or bad parameters
        self.policy = make_policy("policy", cfg.agent.policy, cfg.agent.policy_params)
        self.power_policy = make_policy("power", cfg.power.policy, cfg.power.params)

    # --- rate-limit memory ------------------------------------------------------------------
    def _load_state(self) -> dict[tuple[str, str], float]:
        """Last time of each disruptive (action, target), from ``[agent].state_file``."""
        path = self._state_file
        if path is None or not path.exists():
            return {}
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return {
                (a, t): float(v) for a, rec in raw["last_action_s"].items() for t, v in rec.items()
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            msg = (
                f"{path}: agent state file is unreadable ({err}); it must be the JSON the "
                "agent writes ({'last_action_s': {ACTION: {TARGET: unix_s}}}); remove it to "
                "start afresh"
            )
            raise ConfigError(msg) from err

    def _save_state(self) -> None:
        if self._state_file is None:
            return
        out: dict[str, dict[str, float]] = {}
        for (a, t), v in self._last_action_s.items():
            out.setdefault(a, {})[t] = v
        _write_atomic(str(self._state_file), json.dumps({"last_action_s": out}) + "\n")

    # --- one cycle -------------------------------------------------------------------------
    def cycle(self) -> list[dict[str, Any]]:
        """Run one cycle; returns its log records. Raises SlurmError after logging it."""
        self.n_cycle += 1
        first = len(self.log.lines)
        snap = self.reader.snapshot()
        self._check_racks(snap)
        readings = self.metrics.read()
        live, decision, caps = self._decide(snap, readings)
        planned = plan_actions(
            snap,
            readings,
            self.cfg,
            live,
            decision,
            budget_caps_w=caps,
            gpu_freq_now=read_gpu_freq_file(self.cfg.power.gpu_freq_file),
        )
        self.log.write(
            {
                "cycle": self.n_cycle,
                "mode": self.mode,
                "action": "observe",
                "target": "cluster",
                "reason": f"{self.reader.describe()}; metrics from {readings.source}",
                "metrics": {
                    "nodes": len(snap.nodes),
                    "jobs_pending": sum(j.state == "PENDING" for j in snap.jobs),
                    "jobs_running": sum(j.state == "RUNNING" for j in snap.jobs),
                    "cluster_power_w": readings.cluster_power_w,
                    **{f"inlet_temp_c.{r}": t for r, t in readings.inlet_temp_c.items()},
                    **{f"power_w.{r}": p for r, p in readings.power_w.items()},
                },
                "args": {"policy": self.cfg.agent.policy, "planned": len(planned)},
                "result": "ok",
            }
        )
        allowed = self._guard(snap, planned)
        self._execute(snap, allowed)
        return self.log.lines[first:]

    def _check_racks(self, snap: SlurmSnapshot) -> None:
        """Every node the config puts in a rack must exist in Slurm (else: one clear error)."""
        for node, rack in self.cfg.node_racks().items():
            if node not in snap.nodes:
                known = ", ".join(sorted(snap.nodes)[:8]) + (", ..." if len(snap.nodes) > 8 else "")
                msg = (
                    f"{self.cfg.source}: racks.{rack}.nodes names node {node}, which Slurm does "
                    f"not know (Slurm has: {known}); fix the rack's host list"
                )
                self.log.write(
                    {
                        "cycle": self.n_cycle,
                        "mode": self.mode,
                        "action": "stopped",
                        "target": node,
                        "reason": msg,
                        "metrics": {},
                        "args": {},
                        "result": "no actions taken",
                    }
                )
                raise ConfigError(msg)

    def run(self, cycles: int | None, interval_s: float | None = None) -> None:
        """Run ``cycles`` cycles (forever if None), ``interval_s`` apart."""
        gap = self.cfg.agent.interval_s if interval_s is None else interval_s
        n = 0
        while cycles is None or n < cycles:
            t0 = time.monotonic()
            self.cycle()
            n += 1
            if cycles is not None and n >= cycles:
                break
            time.sleep(max(0.0, gap - (time.monotonic() - t0)))

    def _decide(
        self, snap: SlurmSnapshot, readings: Any
    ) -> tuple[LiveView | None, Decision | None, dict[int, float]]:
        if not any(n.n_gpus > 0 for n in snap.nodes.values()):
            return None, None, {}
        live = build_view(snap, readings, self.cfg, seed=self.n_cycle)
        decision: Decision | None = None
        if live.ctx.jobs.n_jobs > 0:
            self.policy.reset(live.ctx)
            decision = self.policy.decide(live.view)
        caps: dict[int, float] = {}
        budget = self.cfg.power.budget_w
        power = readings.cluster_power_w
        if (
            self.cfg.power.on_overshoot == "cap"
            and math.isfinite(budget)
            and not math.isnan(power)
            and power > budget
            and live.ctx.jobs.n_jobs > 0
        ):
            view = live.view
            running = {int(j): view.job_gpus(int(j)) for j in view.running_jobs().tolist()}
            self.power_policy.reset(live.ctx)
            got = self.power_policy.set_caps(
                view, {j: g for j, g in running.items() if g is not None}
            )
            caps = {live.job_ids[int(j)]: float(c) for j, c in got.items()}
        return live, decision, caps

    # --- safety rules ----------------------------------------------------------------------
    def _guard(self, snap: SlurmSnapshot, planned: list[Action]) -> list[Action]:
        cfg = self.cfg.agent
        now = time.time()
        gpu_nodes = [n for n in snap.nodes.values() if n.n_gpus > 0]
        max_drained = math.floor(cfg.max_drain_frac * len(gpu_nodes) + 1e-9)
        drained = sum(n.drained for n in gpu_nodes)
        allowed: list[Action] = []
        for a in planned:
            why = a.blocked
            if not why and a.action in DISRUPTIVE:
                last = self._last_action_s.get((a.action, a.target))
                if last is not None and now - last < cfg.min_action_interval_s:
                    why = (
                        f"rate limit: {a.action} on {a.target} {now - last:.0f} s ago "
                        f"(min_action_interval_s = {cfg.min_action_interval_s:g})"
                    )
            if not why and a.action == "drain":
                if a.busy and not (self.apply and self.allow_drain_busy):
                    why = "node runs jobs; draining a busy node needs --apply --allow-drain-busy"
                elif drained + 1 > max_drained:
                    why = (
                        f"max_drain_frac = {cfg.max_drain_frac:g}: {drained} of "
                        f"{len(gpu_nodes)} GPU nodes already drained (at most {max_drained})"
                    )
                else:
                    drained += 1
            if not why and len(allowed) >= cfg.max_actions_per_cycle:
                why = f"max_actions_per_cycle = {cfg.max_actions_per_cycle} reached"
            if why:
                self._record(a, f"skipped: {why}")
            else:
                allowed.append(a)
        return allowed

    # --- doing it --------------------------------------------------------------------------
    def _record(self, a: Action, result: str) -> None:
        self.log.write(
            {
                "cycle": self.n_cycle,
                "mode": self.mode,
                "action": a.action,
                "target": a.target,
                "reason": a.reason,
                "metrics": a.metrics,
                "args": a.args,
                "result": result,
            }
        )

    def _execute(self, snap: SlurmSnapshot, actions: list[Action]) -> None:
        if not self.apply:
            for a in actions:
                self._record(a, "dry-run: not applied (use --apply)")
            return
        done: list[str] = []
        for i, a in enumerate(actions):
            try:
                self._do(snap, a)
            except (SlurmError, OSError, KibanError) as err:
                self._record(a, f"failed: {err}")
                rest = actions[i + 1 :]
                for b in rest:
                    self._record(b, "not attempted: the batch stopped at an earlier failure")
                took = ", ".join(done) or "none"
                left = ", ".join(f"{b.action} {b.target}" for b in rest) or "none"
                summary = (
                    f"stopped acting after {a.action} {a.target} failed: {err}. "
                    f"Took effect before it: {took}. Not attempted: {left}"
                )
                self.log.write(
                    {
                        "cycle": self.n_cycle,
                        "mode": self.mode,
                        "action": "batch_stopped",
                        "target": "cluster",
                        "reason": summary,
                        "metrics": {},
                        "args": {
                            "applied": done,
                            "failed": f"{a.action} {a.target}",
                            "not_attempted": [f"{b.action} {b.target}" for b in rest],
                        },
                        "result": "stopped",
                    }
                )
                raise SlurmError(summary) from err
            if a.action in DISRUPTIVE:
                self._last_action_s[(a.action, a.target)] = time.time()
                self._save_state()
            done.append(f"{a.action} {a.target}")
            self._record(a, "applied")

    def _do(self, snap: SlurmSnapshot, a: Action) -> None:
        act = self.actor
        if a.action == "set_weight":
            act.update_node(a.target, Weight=str(a.args["Weight"]))
        elif a.action == "set_features":
            act.update_node(
                a.target,
                AvailableFeatures=a.args["AvailableFeatures"],
                ActiveFeatures=a.args["ActiveFeatures"],
            )
        elif a.action == "drain":
            act.update_node(a.target, State="DRAIN", Reason=a.reason)
        elif a.action == "resume":
            act.update_node(a.target, State="RESUME")
        elif a.action == "power_down":
            act.update_node(a.target, State="POWER_DOWN")
        elif a.action == "set_gpu_freq":
            _write_atomic(a.target, f"{a.args['gpu_freq']}\n" if a.args["gpu_freq"] else "")
        elif a.action == "cap_job":
            self._mark(snap, int(a.target), power_cap_w=f"{a.args['power_cap_w']:g}")
        elif a.action == "suspend_job":
            act.job_command("suspend", int(a.target))
            self._mark(snap, int(a.target), suspended="")
        elif a.action == "resume_job":
            act.job_command("resume", int(a.target))
            self._mark(snap, int(a.target), suspended=None)
        elif a.action == "requeue_job":
            act.job_command("requeue", int(a.target))
        elif a.action == "advise":
            return
        else:  # pragma: no cover - plan_actions only makes the actions above
            msg = f"unknown action {a.action!r}"
            raise SlurmError(msg)

    def _mark(self, snap: SlurmSnapshot, job_id: int, **marks: str | None) -> None:
        """Set or clear kiban's marks in a job's AdminComment, keeping other text."""
        job = next((j for j in snap.jobs if j.job_id == job_id), None)
        text = job.admin_comment if job else ""
        have = kiban_marks(text)
        other = " ".join(t for t in text.replace(";", " ").split() if not t.startswith("kiban:"))
        for k, v in marks.items():
            if v is None:
                have.pop(k, None)
            else:
                have[k] = v
        parts = [f"kiban:{k}={v}" if v else f"kiban:{k}" for k, v in have.items()]
        new = ";".join(([other] if other else []) + parts)
        self.actor.update_job(job_id, AdminComment=new)
