"""The agent's site file (TOML): racks and their limits, the policy, safety limits, sources.

Example (``docs/agent.md`` explains every key)::

    [agent]
    policy = "best-fit"
    max_drain_frac = 0.25

    [metrics]
    file = "/run/kiban/racks.json"

    [thermal]
    inlet_limit_c = 32.0
    inlet_resume_c = 30.0

    [power]
    budget_w = 120000
    on_overshoot = "cap"

    [racks.r01]
    nodes = "gn[01-08]"
    power_limit_w = 40000

Bad values raise :class:`kiban.errors.ConfigError` naming the file, the dotted key, the value
and what is allowed.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kiban.adapters.hostlist import expand_hostlist
from kiban.errors import ConfigError

__all__ = ["AgentConfig", "load_agent_config"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentSection(_Strict):
    """``[agent]``: which policy, how often, and the safety limits."""

    policy: str = "best-fit"
    policy_params: dict[str, Any] = Field(default_factory=dict)
    interval_s: float = Field(60.0, gt=0)
    max_actions_per_cycle: int = Field(20, ge=1)
    min_action_interval_s: float = Field(300.0, ge=0)
    max_drain_frac: float = Field(0.25, ge=0, le=1)
    default_job_time_s: float = Field(3600.0, gt=0)
    weights: bool = True
    drain: bool = True
    state_file: str = ""


class SlurmSection(_Strict):
    """``[slurm]``: how to reach Slurm (CLI by default; slurmrestd if ``rest_url`` is set)."""

    rest_url: str = ""
    rest_user: str = "root"
    rest_version: str = ""
    token_file: str = ""


class MetricsSection(_Strict):
    """``[metrics]``: where rack temperatures and power come from (a file or Prometheus)."""

    file: str = ""
    prometheus_url: str = ""
    inlet_query: str = "max by (rack) (kiban_rack_inlet_temp_c)"
    power_query: str = "sum by (rack) (kiban_rack_power_w)"
    total_query: str = ""
    rack_label: str = "rack"


class ThermalSection(_Strict):
    """``[thermal]``: rack inlet limits (°C); drain above the limit, resume at or below resume."""

    inlet_limit_c: float = Field(32.0, gt=0, lt=80)
    inlet_resume_c: float = Field(30.0, gt=0, lt=80)
    warn_frac: float = Field(0.9, gt=0, le=1)

    @model_validator(mode="after")
    def _order(self) -> ThermalSection:
        if self.inlet_resume_c > self.inlet_limit_c:
            msg = (
                f"inlet_resume_c = {self.inlet_resume_c} is above inlet_limit_c = "
                f"{self.inlet_limit_c}; it must be at or below it (hysteresis)"
            )
            raise ValueError(msg)
        return self


class PowerSection(_Strict):
    """``[power]``: the cluster power budget and what to do when it is overshot."""

    budget_w: float = Field(math.inf, gt=0)
    on_overshoot: Literal["cap", "suspend", "none"] = "cap"
    policy: str = "static-cap"
    params: dict[str, Any] = Field(default_factory=lambda: {"cap_frac": 0.7})
    gpu_freq: str = "medium"
    gpu_freq_file: str = "/etc/slurm/kiban/gpu_freq"
    resume_frac: float = Field(0.9, gt=0, le=1)
    rack_resume_frac: float = Field(0.9, gt=0, le=1)


class PowerSaveSection(_Strict):
    """``[power_save]``: power down idle nodes through Slurm's SuspendProgram."""

    enabled: bool = False
    min_idle_nodes: int = Field(1, ge=0)


class RackSection(_Strict):
    """``[racks.NAME]``: the rack's nodes (Slurm host list) and its limits."""

    nodes: str
    power_limit_w: float = Field(math.inf, gt=0)
    inlet_limit_c: float | None = Field(None, gt=0, lt=80)


class AgentConfig(_Strict):
    """The whole site file (see the module docstring)."""

    agent: AgentSection = Field(default_factory=AgentSection)  # type: ignore[arg-type]
    slurm: SlurmSection = Field(default_factory=SlurmSection)
    metrics: MetricsSection = Field(default_factory=MetricsSection)
    thermal: ThermalSection = Field(default_factory=ThermalSection)  # type: ignore[arg-type]
    power: PowerSection = Field(default_factory=PowerSection)  # type: ignore[arg-type]
    power_save: PowerSaveSection = Field(default_factory=PowerSaveSection)  # type: ignore[arg-type]
    gpu_models: dict[str, str] = Field(
        default_factory=lambda: {
            "h100": "h100-sxm",
            "h200": "h200-sxm",
            "a100": "a100-sxm-80gb",
            "b200": "b200",
            "l40s": "l40s",
            "mi300x": "mi300x",
        }
    )
    racks: dict[str, RackSection] = Field(default_factory=dict)
    source: str = "<defaults>"

    def node_racks(self) -> dict[str, str]:
        """Node name → rack name (from the racks' host lists)."""
        out: dict[str, str] = {}
        for rack, sec in self.racks.items():
            for node in expand_hostlist(sec.nodes):
                out[node] = rack
        return out

    def rack_inlet_limit_c(self, rack: str) -> float:
        """Inlet limit of a rack (its own, else ``[thermal].inlet_limit_c``)."""
        sec = self.racks.get(rack)
        if sec is not None and sec.inlet_limit_c is not None:
            return sec.inlet_limit_c
        return self.thermal.inlet_limit_c

    def rack_power_limit_w(self, rack: str) -> float:
        """Power limit of a rack (inf if none)."""
        sec = self.racks.get(rack)
        return math.inf if sec is None else sec.power_limit_w


def load_agent_config(path: Path | None) -> AgentConfig:
    """Read and check the agent's site file (defaults if ``path`` is None).

    Raises:
        ConfigError: one line per problem, ``FILE: dotted.key = value: what is allowed``.
    """
    if path is None:
        return AgentConfig()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        msg = f"{path}: cannot read the agent config: {err.strerror or err}"
        raise ConfigError(msg) from err
    except tomllib.TOMLDecodeError as err:
        msg = f"{path}: not valid TOML: {err}"
        raise ConfigError(msg) from err
    try:
        cfg = AgentConfig.model_validate({**raw, "source": str(path)})
    except ValidationError as err:
        problems = []
        for e in err.errors():
            loc = ".".join(str(p) for p in e["loc"])
            value = e.get("input")
            shown = "(missing)" if e["type"] == "missing" else repr(value)
            problems.append(f"{path}: {loc} = {shown}: {e['msg']}")
        raise ConfigError(problems[0], problems=problems) from err
    seen: dict[str, str] = {}
    problems = []
    for rack, sec in cfg.racks.items():
        try:
            nodes = expand_hostlist(sec.nodes)
        except ConfigError as err:
            problems.append(f"{path}: racks.{rack}.nodes = {sec.nodes!r}: {err}")
            continue
        for node in nodes:
            if node in seen:
                problems.append(
                    f"{path}: racks.{rack}.nodes = {sec.nodes!r}: node {node} is already in "
                    f"rack {seen[node]}; a node belongs to one rack"
                )
            seen[node] = rack
    if problems:
        raise ConfigError(problems[0], problems=problems)
    return cfg
