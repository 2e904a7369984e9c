"""``kiban agent --slurm``: apply a kiban policy's decisions to a live Slurm cluster.

Dry run unless ``--apply``; every planned, skipped and applied action is one JSON line on
stdout (or ``--log FILE``). Credentials never come from the command line: the slurmrestd token
is read from ``SLURM_JWT`` or from ``[slurm].token_file`` / ``--token-file`` (a file only its
owner can read); the CLI backend uses munge. See docs/agent.md.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Annotated

import typer

from kiban.adapters.agent import ActionLog, SlurmAgent
from kiban.adapters.config import AgentConfig, load_agent_config
from kiban.adapters.hooks import write_hooks
from kiban.adapters.rack_metrics import (
    FileRackMetrics,
    PrometheusRackMetrics,
    RackMetricsSource,
)
from kiban.adapters.slurm import SlurmCli, SlurmReader, SlurmRest
from kiban.cli._app import app, console
from kiban.errors import ConfigError


def read_token(path: Path | None) -> str:
    """The slurmrestd JWT: from ``path`` (owner-only file) or ``SLURM_JWT``."""
    if path is None:
        token = os.environ.get("SLURM_JWT", "").strip()
        if not token:
            msg = (
                "slurmrestd needs a token: set SLURM_JWT (e.g. from `scontrol token`) or "
                "[slurm].token_file / --token-file naming a file only you can read"
            )
            raise ConfigError(msg)
        return token
    try:
        st = path.stat()
    except OSError as err:
        msg = f"{path}: cannot read the token file: {err.strerror or err}"
        raise ConfigError(msg) from err
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO) or st.st_uid != os.geteuid():
        msg = (
            f"{path}: token file mode is {stat.filemode(st.st_mode)} (owner uid {st.st_uid}); "
            "it must belong to you and be readable only by you (chmod 600)"
        )
        raise ConfigError(msg)
    token = path.read_text(encoding="utf-8").strip().removeprefix("SLURM_JWT=")
    if not token:
        msg = f"{path}: the token file is empty"
        raise ConfigError(msg)
    return token


def make_reader(cfg: AgentConfig, cli: SlurmCli, token_file: Path | None) -> SlurmReader:
    """CLI reader, or slurmrestd if ``[slurm].rest_url`` is set."""
    if not cfg.slurm.rest_url:
        return cli
    path = token_file or (Path(cfg.slurm.token_file) if cfg.slurm.token_file else None)
    return SlurmRest(
        cfg.slurm.rest_url,
        user=cfg.slurm.rest_user,
        token=read_token(path),
        cli=cli,
        version=cfg.slurm.rest_version or None,
    )


def make_metrics(cfg: AgentConfig) -> RackMetricsSource:
    """The rack metrics source named in ``[metrics]``."""
    m = cfg.metrics
    if m.file and m.prometheus_url:
        msg = f"{cfg.source}: metrics: set either file or prometheus_url, not both"
        raise ConfigError(msg)
    if m.prometheus_url:
        return PrometheusRackMetrics(
            m.prometheus_url,
            inlet_query=m.inlet_query,
            power_query=m.power_query,
            total_query=m.total_query,
            rack_label=m.rack_label,
        )
    if m.file:
        return FileRackMetrics(Path(m.file))
    msg = (
        f"{cfg.source}: metrics: no rack metrics source; set [metrics].file (JSON) or "
        "[metrics].prometheus_url"
    )
    raise ConfigError(msg)


@app.command("agent")
def agent_cmd(  # noqa: PLR0917 - typer maps each parameter to an option
    slurm: Annotated[bool, typer.Option("--slurm", help="Act on a Slurm cluster.")] = False,
    config: Annotated[
        Path | None, typer.Option("--config", help="Agent site file (TOML; docs/agent.md).")
    ] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Change the cluster (default: dry run).")
    ] = False,
    allow_drain_busy: Annotated[
        bool,
        typer.Option("--allow-drain-busy", help="With --apply, also drain nodes running jobs."),
    ] = False,
    once: Annotated[bool, typer.Option("--once", help="Run one cycle and exit.")] = False,
    cycles: Annotated[
        int | None, typer.Option("--cycles", min=1, help="Run this many cycles and exit.")
    ] = None,
    interval_s: Annotated[
        float | None, typer.Option("--interval-s", min=0.0, help="Seconds between cycles.")
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option("--policy", help="Registered policy (overrides agent.policy in the config)."),
    ] = None,
    rest: Annotated[
        str | None,
        typer.Option("--rest", help="slurmrestd URL (overrides slurm.rest_url in the config)."),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option("--token-file", help="File holding the slurmrestd JWT (mode 600)."),
    ] = None,
    metrics_file: Annotated[
        Path | None,
        typer.Option(
            "--metrics-file", help="Rack metrics JSON file (overrides the config's metrics source)."
        ),
    ] = None,
    log: Annotated[
        Path | None, typer.Option("--log", help="Append the JSON lines here (default: stdout).")
    ] = None,
    write_hooks_dir: Annotated[
        Path | None,
        typer.Option("--write-hooks", help="Write job_submit.lua and the node hooks here, exit."),
    ] = None,
) -> None:
    """Read Slurm and the racks, ask a kiban policy, and turn its decision into Slurm actions."""
    if not slurm:
        msg = "kiban agent: choose the scheduler to act on: --slurm (the only one so far)"
        raise ConfigError(msg)
    cfg = load_agent_config(config)
    updates: dict[str, object] = {}
    if policy:
        updates["agent"] = cfg.agent.model_copy(update={"policy": policy})
    if rest:
        updates["slurm"] = cfg.slurm.model_copy(update={"rest_url": rest})
    if metrics_file:
        updates["metrics"] = cfg.metrics.model_copy(
            update={"file": str(metrics_file), "prometheus_url": ""}
        )
    if updates:
        cfg = cfg.model_copy(update=updates)
    if write_hooks_dir is not None:
        for path in write_hooks(write_hooks_dir, cfg):
            console.print(f"wrote {path}")
        return
    cli = SlurmCli()
    reader = make_reader(cfg, cli, token_file)
    metrics = make_metrics(cfg)
    out = sys.stdout if log is None else log.open("a", encoding="utf-8")
    try:
        agent = SlurmAgent(
            reader,
            cli,
            metrics,
            cfg,
            apply=apply,
            allow_drain_busy=allow_drain_busy,
            log=ActionLog(out),
        )
        agent.run(1 if once else cycles, interval_s)
    finally:
        if out is not sys.stdout:
            out.close()
