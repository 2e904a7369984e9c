"""Adapters that let kiban act on a real cluster through the scheduler a site already runs.

``kiban.adapters.slurm`` reads Slurm (slurmrestd or the CLI's ``--json``) and acts through
``scontrol``; ``kiban.adapters.agent`` is the loop behind ``kiban agent --slurm``: it builds the
simulator's policy view from the live cluster (``kiban.adapters.view``), calls a registered
policy, plans Slurm actions (``kiban.adapters.plan``) and applies them only with ``--apply``.
Rack temperatures and power come through ``kiban.adapters.rack_metrics``. See docs/agent.md.
"""
