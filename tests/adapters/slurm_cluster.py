"""A real Slurm on loopback for the adapter tests (recipe: ecosystem.md §2.2, without slurmdbd).

``SlurmCluster.start(base)`` writes a munge key, slurm.conf and gres.conf into ``base``, starts
its own ``munged`` (own socket and key), ``slurmctld``, one ``slurmd`` per fake node (each with
its own port; fake GPUs are character devices made with ``mknod``) and, if asked,
``slurmrestd`` with JWT auth, all on free ports of 127.0.0.1. ``stop()`` kills exactly the
processes it started. Needs root (mknod, setpriv) and the Debian packages that ``.ci/run``
installs; :func:`slurm_missing` says why the cluster cannot start here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

BINARIES = ("munged", "slurmctld", "slurmd", "scontrol", "sinfo", "squeue", "sbatch")


def slurm_missing() -> str | None:
    """Why a real Slurm cannot be started here, or None if it can."""
    missing = [b for b in BINARIES if shutil.which(b) is None and not Path("/usr/sbin", b).exists()]
    if missing:
        return (
            f"Slurm/munge binaries missing: {', '.join(missing)} "
            "(apt-get install slurmctld slurmd slurm-client munge slurmrestd)"
        )
    if os.geteuid() != 0:
        return "the Slurm fixture needs root (mknod for fake GPU devices, runuser for munged)"
    return None


def _free_ports(n: int, *, contiguous: bool = False) -> list[int]:
    """``n`` currently free TCP ports on 127.0.0.1 (a contiguous block if asked)."""
    if not contiguous:
        socks, ports = [], []
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
        for s in socks:
            s.close()
        return ports
    for _ in range(200):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        start = s.getsockname()[1]
        s.close()
        if start + n > 65000:
            continue
        ok = True
        for p in range(start, start + n):
            t = socket.socket()
            try:
                t.bind(("127.0.0.1", p))
            except OSError:
                ok = False
            finally:
                t.close()
            if not ok:
                break
        if ok:
            return list(range(start, start + n))
    msg = "no free block of ports"
    raise RuntimeError(msg)


def _term(p: subprocess.Popen) -> None:
    """SIGTERM the process group we started (reaches daemons run through runuser too)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(p.pid, signal.SIGTERM)


def _sbin(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


@dataclass
class SlurmCluster:
    """A running loopback cluster (see the module docstring)."""

    base: Path
    nodes: list[str]
    gpus_per_node: int
    ctld_port: int
    rest_port: int | None = None
    procs: list[subprocess.Popen] = field(default_factory=list)
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.base / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """Environment for Slurm client commands (SLURM_CONF set)."""
        env = dict(os.environ)
        env["SLURM_CONF"] = str(self.conf)
        env.pop("SLURM_JWT", None)
        return env

    @property
    def rest_url(self) -> str:
        assert self.rest_port is not None
        return f"http://127.0.0.1:{self.rest_port}"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a Slurm client command against this cluster."""
        return subprocess.run(
            list(args), env=self.env, capture_output=True, text=True, check=check, timeout=30
        )

    def scontrol_node(self, node: str) -> dict[str, str]:
        """``scontrol show node NODE -o`` parsed into key → value."""
        out = self.run("scontrol", "show", "node", node, "-o").stdout
        fields: dict[str, str] = {}
        for part in out.replace(" Reason=", "\x00Reason=").split("\x00"):
            if part.startswith("Reason="):
                fields["Reason"] = part[len("Reason=") :].strip()
                continue
            for token in part.split():
                if "=" in token:
                    k, v = token.split("=", 1)
                    fields[k] = v
        return fields

    def wait_idle(self, timeout_s: float = 30.0) -> None:
        """Wait until every node is up (idle or better)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            r = self.run("sinfo", "-h", "-N", "-o", "%N %T", check=False)
            states = dict(line.split() for line in r.stdout.splitlines() if line.strip())
            if len(states) == len(self.nodes) and all(
                s.rstrip("*~#%!") in {"idle", "mixed", "allocated", "drained", "draining"}
                for s in states.values()
            ):
                return
            time.sleep(0.2)
        msg = f"Slurm nodes did not come up: {self.run('sinfo', '-N', check=False).stdout}"
        raise RuntimeError(msg)

    def wait_jobs_done(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.run("squeue", "-h", check=False).stdout.strip():
                return
            time.sleep(0.3)

    def sbatch(self, *opts: str, seconds: float = 30.0) -> int:
        """Submit a sleep job; returns its id."""
        r = self.run(
            "sbatch",
            "--parsable",
            f"--output={self.base}/out/%j.out",
            *opts,
            f"--wrap=sleep {seconds}",
        )
        return int(r.stdout.strip().split(";")[0])

    # --- life cycle ------------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        base: Path,
        *,
        n_nodes: int = 4,
        gpus_per_node: int = 8,
        rest: bool = False,
        extra_conf: str = "",
        partitions: str | None = None,
    ) -> SlurmCluster:
        base.mkdir(parents=True, exist_ok=True)
        base.chmod(0o755)
        for d in ("state", "log", "run", "dev", "spool"):
            (base / d).mkdir(exist_ok=True)
        (base / "out").mkdir(exist_ok=True)
        (base / "out").chmod(0o1777)
        nodes = [f"gn{i:02d}" for i in range(1, n_nodes + 1)]
        ctld_port, rest_port = _free_ports(2)
        node_ports = _free_ports(n_nodes, contiguous=True)
        cl = cls(base, nodes, gpus_per_node, ctld_port, rest_port if rest else None)
        try:
            cl._start_munge()
            cl._write_conf(node_ports, extra_conf, partitions)
            cl._spawn("slurmctld", [_sbin("slurmctld"), "-D", "-f", str(cl.conf)])
            cl._wait_ctld()
            for node in nodes:
                cl._spawn(f"slurmd-{node}", [_sbin("slurmd"), "-D", "-N", node, "-f", str(cl.conf)])
            cl.wait_idle()
            if rest:
                cl._start_rest()
        except BaseException:
            cl.stop()
            raise
        return cl

    def _start_munge(self) -> None:
        self._spawn_munged("munged", self.base / "munge")

    def _spawn_munged(self, name: str, d: Path) -> None:
        d.mkdir(exist_ok=True)
        (d / "key").mkdir(exist_ok=True)
        key = d / "key" / "munge.key"
        key.write_bytes(os.urandom(1024))
        for path in (d, d / "key", key):
            shutil.chown(path, "munge", "munge")
        key.chmod(0o400)
        (d / "key").chmod(0o700)
        d.chmod(0o755)
        sock = d / "munge.sock"
        cmd = [
            "setpriv",
            "--reuid=munge",
            "--regid=munge",
            "--init-groups",
            _sbin("munged"),
            "-F",
            f"--key-file={key}",
            f"--socket={sock}",
            f"--pid-file={d}/{name}.pid",
            f"--log-file={d}/{name}.log",
            f"--seed-file={d}/{name}.seed",
        ]
        self._spawn(name, cmd)
        deadline = time.monotonic() + 10
        while not sock.exists():
            if time.monotonic() > deadline:
                msg = f"munged did not start: {(d / f'{name}.log').read_text(errors='replace')}"
                raise RuntimeError(msg)
            time.sleep(0.05)

    def start_wrong_munge(self) -> Path:
        """Start a second munged with a different key; returns a slurm.conf that uses it."""
        d = self.base / "munge-wrong"
        self._spawn_munged("munged-wrong", d)
        conf = self.base / "slurm-wrongkey.conf"
        conf.write_text(
            self.conf.read_text().replace(
                str(self.base / "munge" / "munge.sock"), str(d / "munge.sock")
            )
        )
        return conf

    def _write_conf(self, node_ports: list[int], extra: str, partitions: str | None) -> None:
        b = self.base
        host = socket.gethostname().split(".")[0]
        g = self.gpus_per_node
        for n, node in enumerate(self.nodes):
            for i in range(g):
                dev = b / "dev" / f"{node}gpu{i}"
                if not dev.exists():
                    os.mknod(dev, 0o666 | 0o020000, os.makedev(195, (n * g + i) % 250))
        sock = b / "munge" / "munge.sock"
        n = len(self.nodes)
        parts = partitions or "PartitionName=gpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
        conf = f"""ClusterName=kibantest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={self.ctld_port}
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket={sock}
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key={b}/jwt.key
StateSaveLocation={b}/state
SlurmdSpoolDir={b}/spool/%n
SlurmctldPidFile={b}/run/slurmctld.pid
SlurmdPidFile={b}/run/slurmd-%n.pid
SlurmctldLogFile={b}/log/slurmctld.log
SlurmdLogFile={b}/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
ReturnToService=2
SlurmdParameters=config_overrides
SlurmctldTimeout=30
SlurmdTimeout=60
MessageTimeout=5
TCPTimeout=3
{extra}
NodeName=gn[01-{n:02d}] NodeHostname={host} NodeAddr=127.0.0.1 \
 Port=[{node_ports[0]}-{node_ports[-1]}] CPUs=8 RealMemory=4000 Gres=gpu:h100:{g} State=UNKNOWN
{parts}
"""
        (b / "slurm.conf").write_text(conf)
        lines = ["AutoDetect=off"]
        for node in self.nodes:
            lines.append(f"NodeName={node} Name=gpu Type=h100 File={b}/dev/{node}gpu[0-{g - 1}]")
        (b / "gres.conf").write_text("\n".join(lines) + "\n")
        key = b / "jwt.key"
        key.write_bytes(os.urandom(32))
        key.chmod(0o600)

    def _spawn(
        self, name: str, cmd: list[str], env: dict[str, str] | None = None, user: str | None = None
    ) -> None:
        log = open(self.base / "log" / f"{name}.stdout", "ab")  # noqa: SIM115
        p = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env or self.env, start_new_session=True
        )
        log.close()
        self.procs.append(p)
        self.pids[name] = p.pid

    def _wait_ctld(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.run("scontrol", "ping", check=False).stdout.count("UP"):
                return
            time.sleep(0.1)
        msg = (
            f"slurmctld did not start: {(self.base / 'log' / 'slurmctld.log').read_text()[-2000:]}"
        )
        raise RuntimeError(msg)

    def _start_rest(self) -> None:
        assert self.rest_port is not None
        self.start_rest("v0.0.38", self.rest_port, "slurmrestd")

    def start_rest(self, version: str, port: int | None = None, name: str = "") -> str:
        """Start a slurmrestd offering one OpenAPI version; returns its URL."""
        port = port or _free_ports(1)[0]
        name = name or f"slurmrestd-{version}"
        env = self.env
        env["SLURM_JWT"] = "daemon"
        cmd = [
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            _sbin("slurmrestd"),
            "-a",
            "rest_auth/jwt",
            "-s",
            f"openapi/{version}",
            f"127.0.0.1:{port}",
        ]
        self._spawn(name, cmd, env=env)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return f"http://127.0.0.1:{port}"
            time.sleep(0.1)
        msg = f"slurmrestd did not start: {(self.base / 'log' / f'{name}.stdout').read_text()}"
        raise RuntimeError(msg)

    def token(self, lifespan_s: int = 3600) -> str:
        out = self.run("scontrol", "token", f"lifespan={lifespan_s}").stdout.strip()
        return out.split("=", 1)[1]

    def kill(self, name: str) -> None:
        """Stop one daemon this cluster started (e.g. slurmctld, for failure tests)."""
        pid = self.pids.pop(name, None)
        if pid is None:
            return
        for p in self.procs:
            if p.pid == pid:
                _term(p)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)

    def restart_slurmd(self, node: str) -> None:
        """Restart one node's slurmd (it registers again at once: a "boot" for fake nodes)."""
        self.kill(f"slurmd-{node}")
        self._spawn(f"slurmd-{node}", [_sbin("slurmd"), "-D", "-N", node, "-f", str(self.conf)])

    def restart_ctld(self) -> None:
        self.kill("slurmctld")
        self._spawn("slurmctld", [_sbin("slurmctld"), "-D", "-f", str(self.conf)])
        self._wait_ctld()
        self.wait_idle()

    def stop(self) -> None:
        """Cancel jobs and stop every process this cluster started (never others)."""
        if "slurmctld" in self.pids:
            self.run("scancel", "--full", "-u", "root", check=False)
        daemons = [n for n in self.pids if not n.startswith("munged")]
        live = {pid for name, pid in self.pids.items() if name in daemons}
        for p in self.procs:  # SIGTERM all daemons at once, then wait: shutdowns overlap
            if p.pid in live and p.poll() is None:
                _term(p)
        for p in self.procs:
            if p.pid in live:
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
        for name in daemons:
            self.pids.pop(name, None)
        for name in [n for n in self.pids if n.startswith("munged")]:
            self.kill(name)
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
