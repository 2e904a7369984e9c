"""openb replay benchmark: the Alibaba GPU-sharing trace with departures under every placement.

``kiban simulate``'s path (``prepare_scenario`` → ``Simulator.run`` → ``SimulationResult``) on
``examples/philly.toml`` (552 machines, 2,490 GPUs) with the openb trace
(``../shared/data/alibaba-gpu-v2023-openb/csv``: 7,064 GPU pods of 8,152; Pending pods are kept
with their lifetime as duration; the 1,088 CPU-only pods hold node CPU and memory where the
cluster states them, ``--cluster openb-nodes``, or ``--cluster openb-toml``:
``examples/openb.toml``, whose ``[[fleet]] from_trace`` gives the same nodes in a hall with its
coupled facility, what ``kiban simulate examples/openb.toml`` runs), real durations, under the
baselines that differ only in placement: ``fifo-static`` (first-fit), ``best-fit``,
``random-fit`` and ``fgd`` (fragmentation gradient descent). Each case runs twice: with the
scenario's coupled facility (the twin steps every 300 s over the trace's ~149 days) and with
no in-loop facility (scheduling and GPU physics only), in a fresh process each.

Since issue 15 a sharing pod (``gpu_milli`` < 1000) takes its share of one GPU, several sharing
one GPU up to 1000 milli. ``--cluster openb-nodes`` replays on the trace's own 1,213 nodes
(``openb_node_list_gpu_node.csv``: GPUs, CPU and memory per node, so CPU and memory filter
placement; every GPU is modelled as a V100 SXM2, a power proxy, since the catalog lacks
Alibaba's models and the default pod list names none). ``--facility-step-s`` sets the coupled
twin's step (default 300 s). ``jobs_per_s`` is GPU pods per second of ``Simulator(...)`` and
``run()`` (CPU-only pods are replayed in that time but not counted; ``pods_per_s`` counts
them); reading the trace and building the policy (importing its modules) come before the timer
and are in ``jobs_per_s_end_to_end``. ``--cpu-pods with|without|both`` replays the CPU-only pods
or drops them (the effect of CPU-only pods), ``--pods NAME`` reads ``openb_pod_list_NAME.csv``
(``cpu300``: the CPU-heaviest re-sampling) and ``--time-scale X`` multiplies every arrival time
by X (durations kept; ``1e-5`` packs the 149 days into two minutes: a loaded cluster).

Usage::

    .venv/bin/python bench/bench_openb.py
    .venv/bin/python bench/bench_openb.py --json bench/results/openb.json
    .venv/bin/python bench/bench_openb.py --cluster openb-nodes --facility none
    .venv/bin/python bench/bench_openb.py --facility coupled --facility-step-s 3600
    .venv/bin/python bench/bench_openb.py --facility none --baseline ../wt-old --repeat 3
    .venv/bin/python bench/bench_openb.py --cluster openb-nodes --facility none --cpu-pods both
    .venv/bin/python bench/bench_openb.py --cluster openb-toml --facility none,coupled
    .venv/bin/python bench/bench_openb.py --cluster openb-nodes --facility none --cpu-pods both \
        --pods cpu300 --time-scale 1e-5 --policies fifo-static,fgd

``--policies`` takes any registered policy, ``xint`` and ``minhr`` (FIFO with the thermal-aware
placements) too; a checkout that registers only their placement layer (before session 9) gets
FIFO with that layer, the same policy. ``--until-days D`` stops the run at day D of the trace (its
first pods: XInt on main placed ~45 pods per CPU second, the whole trace took minutes) and counts
the GPU pods submitted before then.

``bench/bench_openb_simulate.py`` runs issue 15's exact command (``kiban simulate
examples/openb.toml --policy fifo-static,best-fit,random-fit,fgd``) in a fresh process and
reports the whole command's wall and CPU time beside each summary's ``jobs_per_s``.

With ``--baseline OTHER_CHECKOUT`` every case runs with that checkout's code (its ``src`` first
on the path, this harness) and with this one's, back to back in alternating order,
``--repeat`` times each, and the ratio new/old of the fastest runs (and of the medians) is
printed, for wall-clock jobs/s and for jobs per CPU second of the timed part (``process_time``:
less sensitive than the wall clock to other processes on a shared machine): the two sides see
the same load.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _child import child_row

if TYPE_CHECKING:
    from kiban.policies.base import Policy

REPO = Path(__file__).resolve().parents[1]
SITE = REPO / "examples" / "philly.toml"
OPENB_SCENARIO = REPO / "examples" / "openb.toml"
TRACE = "openb:" + str(REPO.parent / "shared" / "data" / "alibaba-gpu-v2023-openb" / "csv")
POLICIES = ("fifo-static", "best-fit", "random-fit", "fgd")
REQUIRED_JOBS_PER_S = 2_700.0


def openb_nodes_layout(folder: Path) -> object:
    """The openb GPU nodes as a layout: GPUs, CPU and memory per node, 8 nodes per rack."""
    from kiban.catalog import default_catalog  # noqa: PLC0415
    from kiban.sim.layout import layout_from_packing  # noqa: PLC0415
    from kiban.workload.packing import read_packing_nodes  # noqa: PLC0415

    cat = default_catalog()
    return layout_from_packing(
        read_packing_nodes(folder), cat.gpu("v100-sxm2"), cat.server("philly-8gpu")
    )


def policy_by_name(name: str) -> Policy:
    """A registered policy; else FIFO with the placement layer of that name (xint, minhr)."""
    from kiban.errors import PolicyError  # noqa: PLC0415
    from kiban.policies.registry import make_policy  # noqa: PLC0415

    try:
        policy: Policy = make_policy("policy", name)
    except PolicyError:
        from kiban.policies.layered import LayeredPolicy  # noqa: PLC0415
        from kiban.policies.scheduling import Fifo  # noqa: PLC0415

        placement = make_policy("placement", name)  # a checkout before session 9
        return LayeredPolicy(name, scheduling=Fifo(), placement=placement)
    return policy


def child(
    policy: str,
    facility: str,
    cluster: str = "philly",
    step_s: float = 0.0,
    cpu_pods: str = "with",
    time_scale: float = 1.0,
    pods: str = "default",
    until_days: float = 0.0,
) -> dict[str, object]:
    import dataclasses  # noqa: PLC0415

    from kiban.results import SimulationResult, prepare_scenario  # noqa: PLC0415
    from kiban.sim import Simulator  # noqa: PLC0415
    from kiban.spec import load_spec  # noqa: PLC0415

    t0 = time.perf_counter()
    trace = TRACE if pods == "default" else f"{TRACE}/openb_pod_list_{pods}.csv"
    site = OPENB_SCENARIO if cluster == "openb-toml" else SITE
    until_s = until_days * 86_400.0 if until_days > 0 else None
    prepared = prepare_scenario(load_spec(site), trace=trace, until_s=until_s)
    if cluster == "openb-nodes":
        if facility != "none":
            msg = "--cluster openb-nodes runs without the coupled facility (no hall for it)"
            raise SystemExit(msg)
        folder = Path(TRACE.split(":", 1)[1])
        prepared = dataclasses.replace(prepared, layout=openb_nodes_layout(folder))
    if cpu_pods == "without" and hasattr(prepared.jobs, "with_host_pods"):
        prepared = dataclasses.replace(prepared, jobs=prepared.jobs.with_host_pods(None))
    if time_scale != 1.0:  # arrivals closer together (durations kept): a loaded cluster
        from kiban.validation.packing import with_arrivals_scaled  # noqa: PLC0415

        prepared = dataclasses.replace(
            prepared, jobs=with_arrivals_scaled(prepared.jobs, time_scale)
        )
    if step_s and prepared.facility is not None and hasattr(prepared.facility, "step_s"):
        prepared.facility.step_s = step_s
    # the policy object (and the import of its modules: with PYTHONDONTWRITEBYTECODE set, as on
    # the shared machine, ~0.1-0.2 s of compiling) is part of preparing the run, like the trace
    t_policy = time.perf_counter()
    the_policy = policy_by_name(policy)
    c1 = time.process_time()
    t1 = time.perf_counter()
    sim = Simulator(
        prepared.layout,
        prepared.jobs,
        the_policy,
        settings=prepared.settings,
        facility=prepared.facility if facility == "coupled" else None,
    )
    out = sim.run()
    t2 = time.perf_counter()
    c2 = time.process_time()
    result = SimulationResult.from_run(
        out,
        scenario_name=prepared.name,
        tariff=prepared.tariff,
        co2_kg_per_kwh=prepared.tariff.co2_kg_per_kwh,
        min_interval_s=prepared.interval_s,
    )
    t3 = time.perf_counter()
    s = result.summary
    n = prepared.jobs.n_jobs
    if until_s is not None:  # the pods submitted before the horizon
        n = int((prepared.jobs.submit_time_s < until_s).sum())
    host = getattr(prepared.jobs, "host_pods", None)
    n_host = int(s.get("cpu_pods") or 0)  # replayed CPU-only pods (0: none or not simulated)
    return {
        "policy": policy,
        "cpu_pods_given": 0 if host is None else host.n_pods,
        "cpu_pods": n_host,
        "cpu_pods_completed": s.get("cpu_pods_completed"),
        "cpu_pods_waiting_at_end": s.get("cpu_pods_waiting_at_end"),
        "cpu_pods_unschedulable": s.get("cpu_pods_unschedulable"),
        "cpu_pods_wait_mean_s": s.get("cpu_pods_wait_mean_s"),
        "pods_per_s": (n + n_host) / (t2 - t1),
        "wait_gpu_jobs_mean_s": s["wait_mean_s"],
        "facility": facility,
        "cluster": cluster,
        "facility_step_s": step_s or None,
        "jobs_sharing_gpu": s.get("jobs_sharing_gpu"),
        "fgd_fragmentation_gpu_hours": s.get("fgd_fragmentation_gpu_hours"),
        "fgd_fragmentation_frac": s.get("fgd_fragmentation_frac"),
        "n_gpus": prepared.layout.n_gpus,
        "jobs": n,
        "until_days": until_days or None,
        "jobs_completed": s["jobs_completed"],
        "jobs_unschedulable": s.get("jobs_unschedulable"),
        "events": out.counters["events"],
        "policy_build_s": t1 - t_policy,
        "kiban_src": str(Path(sys.modules["kiban"].__file__ or "").parent),
        "simulate_s": t2 - t1,
        "jobs_per_s": n / (t2 - t1),
        "simulate_cpu_s": c2 - c1,
        "jobs_per_cpu_s": n / (c2 - c1),
        "jobs_per_s_end_to_end": n / (t3 - t0),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "allocated_util_frac": s["allocated_util_frac"],
        "fragmentation_gpu_hours": s.get("fragmentation_gpu_hours"),
        "wait_mean_h": (s["wait_mean_s"] or float("nan")) / 3600.0,
    }


def run_child(
    tree: Path,
    policy: str,
    facility: str,
    cluster: str,
    step_s: float,
    cpu_pods: str = "with",
    time_scale: float = 1.0,
    pods: str = "default",
    until_days: float = 0.0,
) -> dict[str, Any]:
    """One case in a fresh process, with the code of ``tree`` (its ``src`` first on the path)."""
    extra = ["--cluster", cluster, "--facility-step-s", str(step_s), "--cpu-pods", cpu_pods]
    extra += ["--time-scale", str(time_scale), "--pods", pods, "--until-days", str(until_days)]
    return child_row(tree, __file__, [policy, facility, *extra])


def compare(args: argparse.Namespace, baseline: Path) -> list[dict[str, object]]:
    """Interleaved before/after of every case (see the module docstring)."""
    rows: list[dict[str, object]] = []
    for facility in args.facility.split(","):
        for policy in args.policies.split(","):
            old: list[float] = []
            new: list[float] = []
            old_cpu: list[float] = []
            new_cpu: list[float] = []
            for k in range(max(1, args.repeat)):
                order = ((baseline, old, old_cpu), (REPO, new, new_cpu))
                for tree, into, into_cpu in order if k % 2 == 0 else order[::-1]:
                    row = run_child(
                        tree,
                        policy,
                        facility,
                        args.cluster,
                        args.facility_step_s,
                        args.cpu_pods,
                        args.time_scale,
                        args.pods,
                        args.until_days,
                    )
                    into.append(float(row["jobs_per_s"]))
                    into_cpu.append(float(row["jobs_per_cpu_s"]))
            load = os.getloadavg()
            rows.append(
                {
                    "cluster": args.cluster,
                    "facility": facility,
                    "policy": policy,
                    "old_jobs_per_s": old,
                    "new_jobs_per_s": new,
                    "ratio": max(new) / max(old),
                    "ratio_median": statistics.median(new) / statistics.median(old),
                    "old_jobs_per_cpu_s": old_cpu,
                    "new_jobs_per_cpu_s": new_cpu,
                    "cpu_ratio": max(new_cpu) / max(old_cpu),
                    "cpu_ratio_median": statistics.median(new_cpu) / statistics.median(old_cpu),
                    "load_avg": load,
                }
            )
            print(
                f"  {args.cluster} {facility:8s} {policy:11s} best old {max(old):7,.0f} "
                f"new {max(new):7,.0f} jobs/s, ratio {max(new) / max(old):.2f} (medians "
                f"{statistics.median(new) / statistics.median(old):.2f}; runs old "
                f"{[round(x) for x in old]}, new {[round(x) for x in new]}; load {load[0]:.2f}); "
                f"per CPU second: best old {max(old_cpu):,.0f} new {max(new_cpu):,.0f}, ratio "
                f"{max(new_cpu) / max(old_cpu):.2f} (medians "
                f"{statistics.median(new_cpu) / statistics.median(old_cpu):.2f})",
                flush=True,
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument("--child", nargs=2, metavar=("POLICY", "FACILITY"), help=argparse.SUPPRESS)
    parser.add_argument("--facility", default="none,coupled", help="none, coupled or both")
    parser.add_argument(
        "--cluster",
        default="philly",
        choices=("philly", "openb-nodes", "openb-toml"),
        help="the cluster (openb-toml: examples/openb.toml, its fleet from the node list)",
    )
    parser.add_argument(
        "--facility-step-s", type=float, default=0.0, help="coupled twin step (default 300 s)"
    )
    parser.add_argument("--policies", default=",".join(POLICIES), help="comma-separated")
    parser.add_argument(
        "--cpu-pods",
        default="with",
        help="with, without or both: replay openb's CPU-only pods on the nodes' CPU and memory",
    )
    parser.add_argument(
        "--pods",
        default="default",
        help="pod list: the name after openb_pod_list_ (default, cpu050, cpu300, ...)",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="multiply every arrival time by this (durations kept; < 1 loads the cluster)",
    )
    parser.add_argument(
        "--until-days",
        type=float,
        default=0.0,
        help="stop at this day of the trace and count the GPU pods submitted before (0: all)",
    )
    parser.add_argument(
        "--baseline", type=Path, default=None, help="another checkout: interleaved before/after"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per case and tree (--baseline)")
    args = parser.parse_args()
    if args.child:
        row = child(
            args.child[0],
            args.child[1],
            args.cluster,
            args.facility_step_s,
            args.cpu_pods,
            args.time_scale,
            args.pods,
            until_days=args.until_days,
        )
        print(json.dumps(row))
        return
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores", flush=True)
    if args.baseline is not None:
        rows = compare(args, args.baseline.resolve())
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
        return
    rows = []
    variants = ("with", "without") if args.cpu_pods == "both" else (args.cpu_pods,)
    cases = itertools.product(args.facility.split(","), args.policies.split(","), variants)
    for facility, policy, variant in cases:
        row = run_child(
            REPO,
            policy,
            facility,
            args.cluster,
            args.facility_step_s,
            variant,
            args.time_scale,
            args.pods,
            args.until_days,
        )
        row["cpu_pods_variant"] = variant
        row["pods_list"] = args.pods
        row["time_scale"] = args.time_scale
        rows.append(row)
        ok = "meets" if row["jobs_per_s"] >= REQUIRED_JOBS_PER_S else "BELOW"
        print(
            f"  {args.cluster} {args.pods} ×{args.time_scale:g} {facility} {policy:11s} "
            f"CPU-only pods {variant:7s}: "
            f"{row['jobs_completed']:,} GPU pods + {row['cpu_pods_completed'] or 0:,} "
            f"CPU-only done ({row['cpu_pods_waiting_at_end'] or 0} waiting at the end, "
            f"CPU-only wait {(row['cpu_pods_wait_mean_s'] or 0):,.0f} s), GPU pods' wait "
            f"{(row['wait_gpu_jobs_mean_s'] or 0):,.0f} s, FGD frag "
            f"{row['fgd_fragmentation_gpu_hours'] or 0:,.1f} GPU·h "
            f"({row['fgd_fragmentation_frac'] or 0:.5f}); "
            f"{row['jobs_per_s']:,.0f} GPU jobs/s ({ok} {REQUIRED_JOBS_PER_S:,.0f}), "
            f"{row['pods_per_s']:,.0f} pods/s; {row['events']:,} events, "
            f"allocated {row['allocated_util_frac']:.4f}, "
            f"unschedulable {row['jobs_unschedulable']}, "
            f"RSS {row['peak_rss_mb']:.0f} MB, load {row['load_avg'][0]:.2f}",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
