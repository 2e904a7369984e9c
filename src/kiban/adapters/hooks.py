"""Write the Slurm-side files the agent relies on (``kiban agent --write-hooks DIR``).

* ``job_submit.lua``: gives new GPU jobs ``--gpu-freq`` from the agent's frequency file while
  the cluster is over its power budget;
* ``kiban-suspend`` / ``kiban-resume``: ``SuspendProgram`` / ``ResumeProgram`` for power
  saving (site power commands from a config file; log-only without one);
* ``kiban-gpu-power``: node-side Prolog/Epilog (and ``sync`` from a timer) applying the per-job
  power caps the agent marks in ``AdminComment`` with ``nvidia-smi -pl`` (NVML);
* ``slurm.conf.snippet``: the slurm.conf lines, with the timeouts Slurm expects.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

from kiban._version import __version__

if TYPE_CHECKING:
    from pathlib import Path

    from kiban.adapters.config import AgentConfig

__all__ = ["render_hook", "write_hooks"]

_FILES = {
    "job_submit.lua": ("job_submit.lua", 0o644),
    "kiban-suspend": ("kiban-power.sh", 0o755),
    "kiban-resume": ("kiban-power.sh", 0o755),
    "kiban-gpu-power": ("kiban-gpu-power.sh", 0o755),
    "slurm.conf.snippet": ("slurm.conf.snippet", 0o644),
}


def render_hook(template: str, values: dict[str, str]) -> str:
    """One packaged template with its ``@@KEY@@`` fields filled in."""
    text = resources.files("kiban.adapters").joinpath("hooks", template).read_text("utf-8")
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", value)
    return text


def write_hooks(
    out_dir: Path,
    cfg: AgentConfig,
    *,
    override_user_freq: bool = False,
    log_dir: Path | None = None,
) -> list[Path]:
    """Render every hook into ``out_dir`` (created if needed); returns the files written.

    Args:
        out_dir: Where to write.
        cfg: Agent config (the GPU frequency file path).
        override_user_freq: Let the budget's ``--gpu-freq`` replace a job's own.
        log_dir: Where the hooks log (default ``/var/log/slurm``).
    """
    logs = str(log_dir) if log_dir is not None else "/var/log/slurm"
    out_dir.mkdir(parents=True, exist_ok=True)
    values = {
        "VERSION": __version__,
        "GPU_FREQ_FILE": cfg.power.gpu_freq_file,
        "OVERRIDE": "true" if override_user_freq else "false",
        "OVERRIDE_NOTE": " (this site overrides them)" if override_user_freq else "",
        "POWER_CONF": str(out_dir / "kiban-power.conf"),
        "POWER_LOG": f"{logs}/kiban-power.log",
        "HOOK_LOG": f"{logs}/kiban-gpu-power.log",
        "DIR": str(out_dir),
    }
    written = []
    for name, (template, mode) in _FILES.items():
        path = out_dir / name
        path.write_text(render_hook(template, values), encoding="utf-8")
        path.chmod(mode)
        written.append(path)
    return written
