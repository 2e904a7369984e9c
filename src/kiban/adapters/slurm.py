"""Talking to Slurm: read nodes, GPUs (GRES), jobs and partitions; act through ``scontrol``.

Two read paths give the same :class:`SlurmSnapshot`:

* :class:`SlurmCli` runs ``sinfo --json``, ``squeue --json`` and ``scontrol show partition -o``
  (munge authentication, as any Slurm user on a login or admin node);
* :class:`SlurmRest` calls ``slurmrestd`` (JWT in ``X-SLURM-USER-TOKEN``). At start it reads
  ``/openapi`` and picks the newest OpenAPI version it offers that kiban speaks
  (:data:`REST_VERSIONS`); a server that offers none of them is a clear error.

Both write through ``scontrol`` (node ``Weight``, features, ``State=DRAIN/RESUME/POWER_DOWN``,
job ``AdminComment``, ``requeue``, ``suspend``/``resume``): the REST API of Slurm 22.05
(v0.0.38) has no node-update endpoint, and one write path keeps error handling in one place.

Every failure raises :class:`SlurmError` with one line saying what failed and the likely
cause (controller down, munge key mismatch, unknown node, REST version), never a traceback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Protocol

from kiban.adapters.hostlist import expand_hostlist
from kiban.errors import KibanError

__all__ = [
    "REST_VERSIONS",
    "SlurmCli",
    "SlurmError",
    "SlurmJob",
    "SlurmNode",
    "SlurmPartition",
    "SlurmReader",
    "SlurmRest",
    "SlurmSnapshot",
    "parse_gres",
    "parse_idx",
]

REST_VERSIONS: tuple[str, ...] = ("v0.0.38",)
"""slurmrestd OpenAPI versions whose node/job/partition fields kiban parses (Slurm 22.05)."""

CLI_TIMEOUT_S = 30.0


class SlurmError(KibanError, RuntimeError):
    """Slurm refused or failed a request; the message says which and why."""


# --- parsed records ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SlurmNode:
    """One node as Slurm reports it.

    Attributes:
        name: Node name.
        state: Base state, lower case (``idle``, ``mixed``, ``allocated``, ``down``, ...).
        flags: State flags, upper case (``DRAIN``, ``POWERED_DOWN``, ``NOT_RESPONDING``, ...).
        reason: Reason string of a drained/down node ("" if none).
        weight: Scheduling weight (Slurm prefers lower weights).
        features: Available features.
        gpu_model: GRES type of its GPUs ("" if untyped or none).
        n_gpus: GPUs configured.
        gpus_used: GPUs allocated now.
        alloc_cpus: CPUs allocated now.
        partitions: Partitions the node belongs to.
    """

    name: str
    state: str
    flags: frozenset[str]
    reason: str
    weight: int
    features: tuple[str, ...]
    gpu_model: str
    n_gpus: int
    gpus_used: int
    alloc_cpus: int
    partitions: tuple[str, ...]

    @property
    def drained(self) -> bool:
        """Drained or draining (no new jobs)."""
        return "DRAIN" in self.flags

    @property
    def powered_down(self) -> bool:
        """Powered down, or powering down, by Slurm's power saving."""
        return bool({"POWERED_DOWN", "POWERING_DOWN", "POWER_DOWN"} & self.flags)

    @property
    def busy(self) -> bool:
        """Runs at least one job."""
        return self.alloc_cpus > 0 or self.gpus_used > 0 or self.state in {"mixed", "allocated"}

    @property
    def usable(self) -> bool:
        """Up and accepting jobs (not down, drained, powered down or not responding)."""
        return (
            self.state not in {"down", "unknown", "future", "error"}
            and not self.drained
            and not self.powered_down
            and "NOT_RESPONDING" not in self.flags
        )


@dataclass(frozen=True, slots=True)
class SlurmJob:
    """One job in the queue or running.

    Attributes:
        job_id: Slurm job id.
        state: ``PENDING``, ``RUNNING``, ``SUSPENDED``, ...
        partition: Partition name.
        user: Owner.
        n_gpus: GPUs requested (running jobs: allocated).
        gpus_per_node: GPUs per node if requested per node (0 = any split).
        gpu_model: GRES type requested ("" = any).
        nodes: Nodes it runs on (empty while pending).
        gpu_idx: Node → GPU indices it holds there.
        submit_time_s: Submission time (Unix s).
        start_time_s: Start time (Unix s; 0 if not started).
        time_limit_s: Time limit (s), or None for none.
        priority: Slurm priority.
        requeue: Whether the job may be requeued.
        admin_comment: The job's AdminComment (kiban keeps its marks there).
    """

    job_id: int
    state: str
    partition: str
    user: str
    n_gpus: int
    gpus_per_node: int
    gpu_model: str
    nodes: tuple[str, ...]
    gpu_idx: dict[str, tuple[int, ...]]
    submit_time_s: float
    start_time_s: float
    time_limit_s: float | None
    priority: int
    requeue: bool
    admin_comment: str


@dataclass(frozen=True, slots=True)
class SlurmPartition:
    """One partition: its nodes and whether it lets jobs be requeued by preemption.

    Attributes:
        name: Partition name.
        nodes: Node names.
        preempt_mode: Preemption modes, lower case (``off``, ``requeue``, ``suspend``, ...).
        state: ``UP``, ``DOWN``, ...
    """

    name: str
    nodes: tuple[str, ...]
    preempt_mode: tuple[str, ...]
    state: str

    @property
    def allows_requeue(self) -> bool:
        """True if jobs of this partition may be requeued by preemption."""
        return "requeue" in self.preempt_mode


@dataclass(frozen=True, slots=True)
class SlurmSnapshot:
    """What one read of the cluster returned.

    Attributes:
        time_s: When it was read (Unix s).
        nodes: Nodes by name, in Slurm's order.
        jobs: Jobs not yet finished (pending, running, suspended).
        partitions: Partitions by name.
        source: How it was read (``cli``, ``rest v0.0.38``).
        slurm_version: Slurm release reported.
    """

    time_s: float
    nodes: dict[str, SlurmNode]
    jobs: tuple[SlurmJob, ...]
    partitions: dict[str, SlurmPartition]
    source: str
    slurm_version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# --- field parsers -------------------------------------------------------------------------

_GRES_RE = re.compile(r"^gpu(?::(?P<type>[A-Za-z][\w.-]*))?(?::(?P<n>\d+))?")


def parse_gres(text: str) -> tuple[str, int]:
    """GPU model and count from a GRES string (``gpu:h100:8(S:0-1)``, ``gpu:4``, ``gres:gpu:2``).

    Returns:
        (model or "", count); (``""``, 0) if the string names no GPUs.
    """
    model, total = "", 0
    for raw in re.split(r",(?![^()]*\))", text or ""):
        part = raw.strip().removeprefix("gres:").removeprefix("gres/")
        m = _GRES_RE.match(part)
        if m is None:
            continue
        model = m.group("type") or model
        total += int(m.group("n")) if m.group("n") else 1
    return model, total


def parse_idx(text: str) -> tuple[int, ...]:
    """GPU indices from a GRES detail string (``gpu:h100:3(IDX:0-2,5)`` → 0, 1, 2, 5)."""
    m = re.search(r"IDX:([^)]*)\)", text or "")
    if m is None or m.group(1) in {"", "N/A"}:
        return ()
    out: list[int] = []
    for rng in m.group(1).split(","):
        lo, _, hi = rng.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return tuple(out)


def _num(value: Any, default: float = 0.0) -> float:
    """A number from a v0.0.38 field (plain, or ``{"set": .., "number": ..}`` in later ones)."""
    if isinstance(value, dict):
        if not value.get("set", True) or value.get("infinite"):
            return default
        value = value.get("number", default)
    return default if value is None else float(value)


def _node(d: dict[str, Any]) -> SlurmNode:
    model, n = parse_gres(str(d.get("gres", "")))
    _, used = parse_gres(re.sub(r"\(IDX:[^)]*\)", "", str(d.get("gres_used", ""))))
    state = d.get("state", "unknown")
    if isinstance(state, list):  # newer plugins give a list of state words
        flags = {s.upper() for s in state}
        base = next((s.lower() for s in state if s.upper() in _BASE_STATES), "unknown")
    else:
        flags = set()
        base = str(state).lower()
    flags |= {str(f).upper() for f in d.get("state_flags", []) or []}
    feats = tuple(f for f in str(d.get("features", "") or "").split(",") if f)
    return SlurmNode(
        name=str(d["name"]),
        state=base,
        flags=frozenset(flags),
        reason=str(d.get("reason", "") or ""),
        weight=int(_num(d.get("weight"), 1)),
        features=feats,
        gpu_model=model,
        n_gpus=n,
        gpus_used=used,
        alloc_cpus=int(_num(d.get("alloc_cpus"), 0)),
        partitions=tuple(d.get("partitions", []) or []),
    )


_BASE_STATES = {"IDLE", "MIXED", "ALLOCATED", "DOWN", "UNKNOWN", "FUTURE", "ERROR", "COMPLETING"}


def _job(d: dict[str, Any]) -> SlurmJob:
    nodes_expr = str(d.get("nodes", "") or "")
    nodes = tuple(expand_hostlist(nodes_expr)) if nodes_expr else ()
    detail = list(d.get("gres_detail", []) or [])
    gpu_idx = {n: parse_idx(g) for n, g in zip(nodes, detail, strict=False)}
    per_node_model, per_node = parse_gres(str(d.get("tres_per_node", "") or ""))
    per_job_model, per_job = parse_gres(str(d.get("tres_per_job", "") or ""))
    per_task_model, per_task = parse_gres(str(d.get("tres_per_task", "") or ""))
    node_count = int(_num(d.get("node_count"), 1)) or 1
    tasks = int(_num(d.get("tasks"), 1)) or 1
    if gpu_idx and any(gpu_idx.values()):
        n_gpus = sum(len(v) for v in gpu_idx.values())
    else:
        n_gpus = per_job or per_node * node_count or per_task * tasks
    limit = d.get("time_limit")
    limit_min = _num(limit, -1.0)
    state = d.get("job_state", "")
    if isinstance(state, list):
        state = state[0] if state else ""
    return SlurmJob(
        job_id=int(d["job_id"]),
        state=str(state).upper(),
        partition=str(d.get("partition", "")),
        user=str(d.get("user_name", "")),
        n_gpus=int(n_gpus),
        gpus_per_node=int(per_node),
        gpu_model=per_node_model or per_job_model or per_task_model,
        nodes=nodes,
        gpu_idx=gpu_idx,
        submit_time_s=_num(d.get("submit_time"), 0.0),
        start_time_s=_num(d.get("start_time"), 0.0),
        time_limit_s=None if limit_min < 0 else 60.0 * limit_min,
        priority=int(_num(d.get("priority"), 0)),
        requeue=bool(d.get("requeue", False)),
        admin_comment=str(d.get("admin_comment", "") or ""),
    )


_LIVE_JOB_STATES = {"PENDING", "RUNNING", "SUSPENDED", "CONFIGURING", "COMPLETING", "REQUEUED"}


def _jobs(items: list[dict[str, Any]]) -> tuple[SlurmJob, ...]:
    jobs = [_job(d) for d in items]
    return tuple(j for j in jobs if j.state in _LIVE_JOB_STATES)


def _partition_rest(d: dict[str, Any]) -> SlurmPartition:
    nodes = str(d.get("nodes", "") or "")
    mode = d.get("preemption_mode", []) or []
    if isinstance(mode, str):
        mode = mode.split(",")
    state = d.get("state", "UP")
    if isinstance(state, list):
        state = state[0] if state else "UP"
    return SlurmPartition(
        name=str(d["name"]),
        nodes=tuple(expand_hostlist(nodes)) if nodes else (),
        preempt_mode=tuple(str(m).lower() for m in mode),
        state=str(state).upper(),
    )


# --- error classification ------------------------------------------------------------------

_CAUSES: tuple[tuple[str, str], ...] = (
    (
        "unable to contact slurm controller",
        "slurmctld is not reachable (is it running? check SlurmctldHost/SlurmctldPort "
        "in slurm.conf and the network)",
    ),
    (
        "connection refused",
        "slurmctld is not reachable (is it running? check SlurmctldHost/SlurmctldPort)",
    ),
    (
        "protocol authentication error",
        "munge authentication failed: the munge key on this host differs from the "
        "controller's, or munged is not running (check /etc/munge/munge.key and munged)",
    ),
    (
        "invalid authentication credential",
        "munge authentication failed: the munge key on this host differs from the "
        "controller's (check /etc/munge/munge.key)",
    ),
    (
        "zero bytes were transmitted or received",
        "slurmctld closed the connection without answering: munge authentication failed "
        "(the munge key on this host differs from the controller's) or client and "
        "controller run incompatible Slurm versions",
    ),
    ("munge", "munge authentication failed (is munged running, with the cluster's key?)"),
    ("invalid node name specified", "the node does not exist in this cluster"),
    ("invalid job id specified", "the job does not exist (or has already finished)"),
    ("access/permission denied", "permission denied: run the agent as root or SlurmUser"),
    ("requested operation is presently disabled", "the partition or job does not allow it"),
)


def _explain(stderr: str) -> str:
    low = stderr.lower()
    for needle, cause in _CAUSES:
        if needle in low:
            return cause
    return "Slurm refused the request"


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return " / ".join(lines[-3:])[:400]


# --- the clients ---------------------------------------------------------------------------


class SlurmReader(Protocol):
    """What the agent needs from Slurm."""

    def snapshot(self) -> SlurmSnapshot:
        """Read nodes, jobs and partitions."""
        ...

    def describe(self) -> str:
        """One line naming the backend and version (for the log)."""
        ...


_PLAIN_FORMAT = {"sinfo": "%N", "squeue": "%i"}


class SlurmCli:
    """Slurm through its command-line tools (``--json`` reads, ``scontrol`` writes).

    Args:
        env: Environment for the commands (default: this process's, so ``SLURM_CONF`` applies).
        timeout_s: Per-command time limit.
    """

    def __init__(self, env: dict[str, str] | None = None, timeout_s: float = CLI_TIMEOUT_S) -> None:
        self.env = dict(os.environ if env is None else env)
        self.timeout_s = timeout_s
        missing = [c for c in ("sinfo", "squeue", "scontrol") if shutil.which(c) is None]
        if missing:
            msg = (
                f"Slurm client commands not found: {', '.join(missing)}; install slurm-client "
                "(Debian) or put Slurm's bin directory on PATH"
            )
            raise SlurmError(msg)

    def run(self, *args: str, what: str | None = None) -> str:
        """Run one Slurm command; raise :class:`SlurmError` with the cause if it fails."""
        try:
            res = subprocess.run(
                list(args),
                env=self.env,
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as err:
            msg = (
                f"`{' '.join(args[:3])}` did not answer within {self.timeout_s:.0f} s: "
                "slurmctld is not reachable or overloaded"
            )
            raise SlurmError(msg) from err
        if res.returncode != 0:
            detail = _one_line(res.stderr or res.stdout)
            msg = f"{what or ' '.join(args[:3])} failed: {_explain(detail)} (Slurm said: {detail})"
            raise SlurmError(msg)
        return res.stdout

    def _json(self, *args: str) -> dict[str, Any]:
        data = _load_json(self.run(*args), f"`{' '.join(args)}` (Slurm older than 21.08?)")
        errors = _rest_errors(data)
        if errors:
            # 22.05's --json output hides the cause ("Unspecified error"); the plain command
            # prints it (controller unreachable, munge failure), so ask again without --json.
            self.run(args[0], "-h", "-o", _PLAIN_FORMAT.get(args[0], "%all"), what=args[0])
            msg = f"`{' '.join(args)}` reported errors: {'; '.join(errors)}"
            raise SlurmError(msg)
        return data

    def partitions(self) -> dict[str, SlurmPartition]:
        """Partitions from ``scontrol show partition -o`` (22.05's scontrol has no --json)."""
        out = self.run("scontrol", "show", "partition", "-o")
        parts: dict[str, SlurmPartition] = {}
        for line in out.splitlines():
            kv = dict(t.split("=", 1) for t in line.split() if "=" in t)
            if "PartitionName" not in kv:
                continue
            nodes = kv.get("Nodes", "")
            parts[kv["PartitionName"]] = SlurmPartition(
                name=kv["PartitionName"],
                nodes=tuple(expand_hostlist(nodes)) if nodes and nodes != "(null)" else (),
                preempt_mode=tuple(m.lower() for m in kv.get("PreemptMode", "OFF").split(",")),
                state=kv.get("State", "UP").upper(),
            )
        return parts

    def snapshot(self) -> SlurmSnapshot:
        """Read nodes (``sinfo --json``), jobs (``squeue --json``) and partitions."""
        t = time.time()
        nodes_d = self._json("sinfo", "--json")
        jobs_d = self._json("squeue", "--json")
        nodes: dict[str, SlurmNode] = {}
        for d in nodes_d.get("nodes", []):
            node = _node(d)
            nodes.setdefault(node.name, node)  # sinfo lists a node once per partition
        version = str(nodes_d.get("meta", {}).get("Slurm", {}).get("release", ""))
        return SlurmSnapshot(
            time_s=t,
            nodes=nodes,
            jobs=_jobs(jobs_d.get("jobs", [])),
            partitions=self.partitions(),
            source="cli",
            slurm_version=version,
        )

    def describe(self) -> str:
        """``cli (SLURM_CONF=...)``."""
        return f"cli (SLURM_CONF={self.env.get('SLURM_CONF', '/etc/slurm/slurm.conf')})"

    # --- actions ---------------------------------------------------------------------------
    def update_node(self, node: str, **fields: str) -> None:
        """``scontrol update NodeName=node Key=Value ...``."""
        args = [f"{k}={v}" for k, v in fields.items()]
        self.run("scontrol", "update", f"NodeName={node}", *args, what=f"update of node {node}")

    def update_job(self, job_id: int, **fields: str) -> None:
        """``scontrol update JobId=job Key=Value ...``."""
        args = [f"{k}={v}" for k, v in fields.items()]
        self.run("scontrol", "update", f"JobId={job_id}", *args, what=f"update of job {job_id}")

    def job_command(self, verb: str, job_id: int) -> None:
        """``scontrol requeue|suspend|resume JOB``."""
        self.run("scontrol", verb, str(job_id), what=f"{verb} of job {job_id}")

    def submit(
        self,
        *,
        command: str,
        gpus: int = 1,
        partition: str | None = None,
        output_dir: str = "/tmp",
        extra: tuple[str, ...] = (),
    ) -> int:
        """Submit a batch job (``sbatch --parsable``); returns its id."""
        args = ["sbatch", "--parsable", f"--output={output_dir}/%j.out", f"--gpus={gpus}"]
        if partition:
            args.append(f"--partition={partition}")
        args += [*extra, f"--wrap={command}"]
        out = self.run(*args, what="job submission")
        return int(out.strip().split(";")[0])


class SlurmRest:
    """Slurm through ``slurmrestd`` for reads (and job submission); ``scontrol`` for actions.

    Args:
        url: Base URL, e.g. ``http://slurm-head:6820``.
        user: Slurm user name the token belongs to.
        token: JWT (from ``SLURM_JWT`` or a user-only file; never the command line).
        cli: Command-line client used for actions.
        version: OpenAPI version to use (default: the newest offered that kiban speaks).
        timeout_s: Per-request time limit.
    """

    def __init__(
        self,
        url: str,
        *,
        user: str,
        token: str,
        cli: SlurmCli,
        version: str | None = None,
        timeout_s: float = CLI_TIMEOUT_S,
    ) -> None:
        self.url = url.rstrip("/")
        self.user = user
        self._token = token
        self.cli = cli
        self.timeout_s = timeout_s
        self.offered = self._offered_versions()
        usable = [v for v in REST_VERSIONS if v in self.offered]
        if version is not None:
            if version not in self.offered or version not in REST_VERSIONS:
                msg = self._mismatch(f"version {version} was asked for")
                raise SlurmError(msg)
            self.version = version
        elif not usable:
            raise SlurmError(self._mismatch("no common version"))
        else:
            self.version = usable[-1]

    def _mismatch(self, why: str) -> str:
        return (
            f"slurmrestd at {self.url} offers OpenAPI {', '.join(self.offered) or 'no versions'}; "
            f"kiban's Slurm adapter speaks {', '.join(REST_VERSIONS)} ({why}). Start slurmrestd "
            f"with `-s openapi/{REST_VERSIONS[-1]}`, or drop --rest to use the CLI's --json"
        )

    def _get(self, path: str) -> dict[str, Any]:
        req = urllib.request.Request(
            self.url + path,
            headers={
                "X-SLURM-USER-NAME": self.user,
                "X-SLURM-USER-TOKEN": self._token,
                "Accept": "application/json",
            },
        )
        return self._send(req, path)

    def _send(self, req: urllib.request.Request, path: str) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                body = resp.read()
        except urllib.error.HTTPError as err:
            body = err.read()
            text = body.decode(errors="replace")
            if err.code in (401, 403) or "authentication" in text.lower():
                msg = (
                    f"slurmrestd at {self.url} rejected the request for {path} (HTTP {err.code}): "
                    "the token (SLURM_JWT) is invalid or expired, or the user name is wrong"
                )
                raise SlurmError(msg) from err
            if err.code == 404:
                msg = f"slurmrestd at {self.url} has no {path} (HTTP 404): {self._mismatch('404')}"
                raise SlurmError(msg) from err
            errs = _rest_errors(text)
            hint = (
                "; from rest_auth/jwt an 'Unspecified error' usually means a bad or expired "
                "token (SLURM_JWT)"
                if any("unspecified" in e.lower() for e in errs)
                else ""
            )
            msg = (
                f"slurmrestd at {self.url} failed on {path} (HTTP {err.code}): "
                f"{'; '.join(errs) or text[:200]}{hint}"
            )
            raise SlurmError(msg) from err
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            msg = f"slurmrestd at {self.url} is not reachable: {reason}"
            raise SlurmError(msg) from err
        data = _load_json(body, f"slurmrestd at {self.url} for {path}")
        errs = _rest_errors(data)
        if errs:
            msg = f"slurmrestd at {self.url} reported errors for {path}: {errs}"
            raise SlurmError(msg)
        return data

    def _offered_versions(self) -> list[str]:
        spec = self._get("/openapi")
        found = set()
        for path in spec.get("paths", {}):
            m = re.match(r"^/slurm/(v\d+\.\d+\.\d+)/", path)
            if m:
                found.add(m.group(1))
        return sorted(found, key=lambda v: tuple(int(x) for x in v[1:].split(".")))

    def snapshot(self) -> SlurmSnapshot:
        """Read nodes, jobs and partitions over REST."""
        t = time.time()
        base = f"/slurm/{self.version}"
        nodes_d = self._get(f"{base}/nodes")
        jobs_d = self._get(f"{base}/jobs")
        parts_d = self._get(f"{base}/partitions")
        nodes = {n.name: n for n in (_node(d) for d in nodes_d.get("nodes", []))}
        parts = {p.name: p for p in (_partition_rest(d) for d in parts_d.get("partitions", []))}
        return SlurmSnapshot(
            time_s=t,
            nodes=nodes,
            jobs=_jobs(jobs_d.get("jobs", [])),
            partitions=parts,
            source=f"rest {self.version}",
            slurm_version=str(nodes_d.get("meta", {}).get("Slurm", {}).get("release", "")),
        )

    def describe(self) -> str:
        """``rest v0.0.38 at URL``."""
        return f"rest {self.version} at {self.url} (actions through scontrol)"

    def submit(
        self,
        *,
        command: str,
        gpus: int = 1,
        partition: str | None = None,
        output_dir: str = "/tmp",
        name: str = "kiban",
    ) -> int:
        """Submit a batch job through ``POST /slurm/<v>/job/submit``; returns its id."""
        job: dict[str, Any] = {
            "name": name,
            "gpus": str(gpus),
            "current_working_directory": output_dir,
            "standard_output": f"{output_dir}/%j.out",
            "environment": {"PATH": "/usr/bin:/bin"},
        }
        if partition:
            job["partition"] = partition
        body = json.dumps({"job": job, "script": f"#!/bin/sh\n{command}\n"}).encode()
        path = f"/slurm/{self.version}/job/submit"
        req = urllib.request.Request(
            self.url + path,
            data=body,
            method="POST",
            headers={
                "X-SLURM-USER-NAME": self.user,
                "X-SLURM-USER-TOKEN": self._token,
                "Content-Type": "application/json",
            },
        )
        data = self._send(req, path)
        return int(data["job_id"])


def _load_json(text: str | bytes, what: str) -> dict[str, Any]:
    """Parse a JSON object; :class:`SlurmError` naming ``what`` if it is not one."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        msg = f"{what} did not return JSON: {text[:200]!r}"
        raise SlurmError(msg) from err
    if not isinstance(data, dict):
        msg = f"{what} returned {type(data).__name__}, not a JSON object"
        raise SlurmError(msg)
    return data


def _rest_errors(data: Any) -> list[str]:
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError:
            return []
    if not isinstance(data, dict):
        return []
    out = []
    for e in data.get("errors", []) or []:
        if isinstance(e, dict) and (e.get("error") or e.get("description")):
            out.append(str(e.get("error") or e.get("description")))
    return out
