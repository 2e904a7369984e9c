"""Golden digests of the simulator's output, to prove a refactoring changes no number.

Runs fixed cases under every baseline policy and records a SHA-256 digest of each output:

* ``summary``: ``summary.json`` without the wall-clock keys :data:`WALL_CLOCK_KEYS`, as the same
  sorted, indented JSON text :meth:`SimulationResult.summary_json` writes;
* ``ledger``: capacity, the eight buckets and fragmentation (GPU-seconds, exact float ``repr``);
* ``run``: every array of the :class:`~kiban.sim.settings.RunOutput` (event log, per-job arrays,
  facility series, rack series, counters), before any downsampling;
* one digest per file the result folder holds: parquet files by their table *content* (column
  names, a canonical type, null mask and values; not the parquet bytes, so a pyarrow or polars
  upgrade that re-encodes the same table keeps the digest), JSON and TOML files by their bytes.

Cases (``TIERS``):

* ``fast`` (the default test, ~15 runs of a few seconds): windows of the two real inputs, plus a
  small synthetic hall that reaches the parts the real inputs never reach.

  - ``demo-window``: the built-in demo (``kiban demo``: gang + locality) with the jobs submitted in
    days 8-11, their arrival times halved (≈ 180 % offered load, so queues, backfill, preemption
    and fragmentation happen at once), node failures 30 × the default rate, 2 simulated days.
  - ``philly-hall-window``: the Philly trace on ``examples/hall-512-h100-rdhx.toml`` with the jobs
    of days 20-24 at arrival times halved, failures 30 ×, 3 simulated days.
  - ``stress``: 4 racks × 2 DGX H100 with hall recirculation (a dense D matrix) at a 44 °C
    supply, so GPUs throttle (onset events, throttled rates, release); a 20 GB/s file system with
    node caches (max-min I/O sharing); checkpoints; a node failure every 3 hours; jobs spanning
    racks; two jobs no GPU can take (unschedulable). Besides the five baselines it runs
    ``levers``: Tiresias-LAS plus every lever of a Decision (power caps, cache shares, I/O weights,
    supply temperature, wake-ups) on a fixed pattern.

* ``full`` (``-m slow``): the demo and the Philly replay on the 512-GPU hall as ``kiban demo`` and
  ``kiban simulate`` run them (every job, to the end).

Usage::

    .venv/bin/python scripts/golden_digests.py --write        # record tests/sim/golden/digests.json
    .venv/bin/python scripts/golden_digests.py --tier fast    # recompute and compare, print diffs

The digests were recorded from the code before the simulator was rebuilt as components
(issue 9); ``tests/sim/test_golden.py`` recomputes them.

Digests are computed in a child process under :func:`kiban.repro.pinned_env` (OpenBLAS's
Haswell kernels on one thread): the same digests on Intel and AMD machines (see
:mod:`kiban.repro`).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from kiban.policies.base import Decision, PolicyContext
from kiban.policies.baselines import BASELINES
from kiban.policies.registry import make_policy
from kiban.repro import pinned_env, reexec_pinned
from kiban.results import PreparedRun, SimulationResult, prepare_scenario, result_of
from kiban.sim import RunOutput, SimSettings, Simulator
from kiban.sim.jobs import JobTable
from kiban.units import S_PER_DAY, S_PER_H

REPO = Path(__file__).resolve().parents[1]
HALL = REPO / "examples" / "hall-512-h100-rdhx.toml"
DIGESTS = REPO / "tests" / "sim" / "golden" / "digests.json"

WALL_CLOCK_KEYS: tuple[str, ...] = ("wall_time_s", "jobs_per_s", "events_per_s")
"""``summary.json`` keys that measure the machine, not the simulation: left out of the digest."""

LEVERS = "levers"
"""Name of the synthetic policy that pulls every lever of a Decision (stress case only)."""


# --- canonical digests -------------------------------------------------------------------------
def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical_type(t: pa.DataType) -> str:
    if pa.types.is_floating(t):
        return "f64"
    if pa.types.is_integer(t):
        return f"i{t.bit_width}"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "str"
    return str(t)


def table_digest(table: pa.Table) -> str:
    """SHA-256 of a table's content: names, canonical types, null masks, values, in order."""
    h = hashlib.sha256()
    h.update(f"rows={table.num_rows};".encode())
    for name in table.column_names:
        col = table.column(name).combine_chunks()
        kind = _canonical_type(col.type)
        h.update(f"{name}:{kind};".encode())
        h.update(np.asarray(col.is_null().to_numpy(zero_copy_only=False), dtype=np.uint8).tobytes())
        if kind == "f64":
            values = col.fill_null(0.0).to_numpy(zero_copy_only=False).astype("<f8")
            h.update(values.tobytes())
        elif kind.startswith("i"):
            h.update(col.fill_null(0).to_numpy(zero_copy_only=False).astype("<i8").tobytes())
        elif kind == "bool":
            values = col.fill_null(False).to_numpy(zero_copy_only=False)
            h.update(np.asarray(values, dtype=np.uint8).tobytes())
        else:
            for item in col.to_pylist():
                data = str(item if item is not None else "").encode()
                h.update(len(data).to_bytes(8, "little") + data)
    return h.hexdigest()


def _array_bytes(value: np.ndarray) -> bytes:
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        return arr.astype("<f8").tobytes()
    if arr.dtype.kind in "iub":
        return arr.astype("<i8").tobytes()
    return "\0".join(str(x) for x in arr.reshape(-1).tolist()).encode()


def run_digest(out: RunOutput) -> str:
    """SHA-256 of every simulated array of a run (wall-clock fields left out)."""
    h = hashlib.sha256()

    def put(name: str, value: Any) -> None:
        h.update(name.encode() + b"=")
        if isinstance(value, np.ndarray):
            h.update(str(value.shape).encode() + _array_bytes(value))
        else:
            h.update(repr(value).encode())
        h.update(b";")

    put("policy", out.policy_name)
    put("horizon_s", float(out.horizon_s))
    put("capacity_gpu_s", float(out.capacity_gpu_s))
    put("allocated_gpu_s", float(out.allocated_gpu_s))
    put("fragmentation_gpu_s", float(out.fragmentation_gpu_s))
    for key in sorted(out.ledger_gpu_s):
        put(f"ledger.{key}", float(out.ledger_gpu_s[key]))
    for key in sorted(out.job):
        put(f"job.{key}", out.job[key])
    for key in sorted(out.log):
        put(f"log.{key}", out.log[key])
    for f in ("cooling_w", "loss_w", "misc_w", "outdoor_temp_c"):
        put(f"facility.{f}", np.asarray(getattr(out.facility, f)))
    put("rack_time_s", out.rack_time_s)
    put("rack_duration_s", out.rack_duration_s)
    put("rack_power_w", out.rack_power_w)
    put("rack_inlet_temp_c", out.rack_inlet_temp_c)
    for key in sorted(out.counters):
        put(f"counter.{key}", int(out.counters[key]))
    put("seed", int(out.seed))
    return h.hexdigest()


def summary_digest(summary: dict[str, Any]) -> str:
    """SHA-256 of ``summary.json`` text without :data:`WALL_CLOCK_KEYS`."""
    kept = {k: v for k, v in summary.items() if k not in WALL_CLOCK_KEYS}
    text = json.dumps(kept, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    return _sha(text.encode())


def ledger_digest(result: SimulationResult, out: RunOutput) -> str:
    """SHA-256 of the ledger: from the run (GPU-s) and as ``result.ledger`` rebuilds it."""
    led = result.ledger
    parts = [f"capacity_gpu_s={out.capacity_gpu_s!r}"]
    parts += [f"run.{k}={float(v)!r}" for k, v in sorted(out.ledger_gpu_s.items())]
    parts += [f"result.{k}={float(v)!r}" for k, v in sorted(led.buckets_gpu_s.items())]
    parts.append(f"fragmentation_gpu_s={float(out.fragmentation_gpu_s)!r}")
    return _sha("\n".join(parts).encode())


def folder_digests(folder: Path) -> dict[str, str]:
    """One digest per file of a result folder (parquet by content, the rest by bytes)."""
    found = {}
    for path in sorted(folder.iterdir()):
        if path.suffix == ".parquet":
            found[path.name] = table_digest(pq.read_table(path))
        elif path.name != "summary.json":  # its digest leaves out the wall-clock keys
            found[path.name] = _sha(path.read_bytes())
    return found


def result_digests(out: RunOutput, result: SimulationResult) -> dict[str, str]:
    """Every digest of one run (see the module docstring)."""
    digests = {
        "summary": summary_digest(result.summary),
        "ledger": ledger_digest(result, out),
        "run": run_digest(out),
    }
    with tempfile.TemporaryDirectory(prefix="kiban-golden-") as tmp:
        digests |= folder_digests(result.save(Path(tmp) / result.policy))
    return digests


# --- cases ---------------------------------------------------------------------------------------
def window(jobs: JobTable, start_s: float, end_s: float, time_scale: float) -> JobTable:
    """The jobs submitted in [start_s, end_s), moved to time 0 and their gaps scaled."""
    keep = (jobs.submit_time_s >= start_s) & (jobs.submit_time_s < end_s)
    cols: dict[str, Any] = {}
    for f in dataclasses.fields(jobs):
        if f.name != "host_pods":  # per-job arrays (CPU-only pods are not windowed)
            cols[f.name] = getattr(jobs, f.name)[keep]
    cols["submit_time_s"] = (cols["submit_time_s"] - start_s) * time_scale
    return dataclasses.replace(jobs, **cols)


def _windowed(
    prepared: PreparedRun,
    start_d: float,
    end_d: float,
    scale: float,
    until_d: float,
    fail_x: float,
) -> PreparedRun:
    s = prepared.settings
    settings = dataclasses.replace(
        s,
        until_s=until_d * S_PER_DAY,
        node_failure_rate_per_s=s.node_failure_rate_per_s * fail_x,
    )
    jobs = window(prepared.jobs, start_d * S_PER_DAY, end_d * S_PER_DAY, scale)
    return dataclasses.replace(prepared, jobs=jobs, settings=settings)


def _demo() -> PreparedRun:
    from kiban.sim.scenario import demo_scenario  # noqa: PLC0415

    scenario, text = demo_scenario()
    return prepare_scenario(scenario, scenario_toml=text, locality="node")


def _philly_hall() -> PreparedRun:
    from kiban.shared_data import data_path  # noqa: PLC0415
    from kiban.spec import load_spec  # noqa: PLC0415

    trace = data_path("philly", "pollux_philly_jobs.csv")
    return prepare_scenario(
        load_spec(HALL), scenario_toml=HALL.read_text(encoding="utf-8"), trace=f"philly:{trace}"
    )


class Levers:
    """EASY backfilling plus every Decision lever on a fixed pattern (stress case only).

    Every third call: a power cap on every third running job (alternating 60 % / 85 % of TDP), a
    cache share and an I/O weight on every fourth, the supply temperature toggled between 40 and
    46 °C, and a wake-up 10 minutes ahead; every fifth call it preempts the latest started job.
    """

    name = LEVERS
    epoch_s = None
    preemptive = True

    def __init__(self) -> None:
        self.inner = make_policy("policy", "easy-backfill")
        self.calls = 0

    def reset(self, ctx: PolicyContext) -> None:
        """Reset the inner policy."""
        self.inner.reset(ctx)
        self.calls = 0

    def decide(self, view: Any) -> Decision:
        """The inner decision with the levers added."""
        d = self.inner.decide(view)
        self.calls += 1
        running = view.running_jobs().tolist()
        preempt = frozenset(running[-1:]) if self.calls % 5 == 0 and not d.start else frozenset()
        if self.calls % 3 and not preempt:
            return d
        sku = view.layout.skus[0]
        running = [j for j in running if j not in preempt]
        frac = 0.6 if self.calls % 2 else 0.85
        return Decision(
            start=d.start,
            preempt=preempt,
            power_cap_w=dict.fromkeys(running[::3], frac * sku.tdp_w),
            cache_b={j: 2e11 * (1 + j % 5) for j in running[::4]},
            io_weight={j: 1.0 + j % 3 for j in running[1::4]},
            supply_temp_c=40.0 if self.calls % 2 else 46.0,
            wake_at_s=view.time_s + 600.0,
        )


def _stress() -> PreparedRun:
    from kiban.catalog import default_catalog  # noqa: PLC0415
    from kiban.physics.cost import TARIFF_HIGH_VOLTAGE  # noqa: PLC0415
    from kiban.sim import SimpleFacility, uniform_layout  # noqa: PLC0415

    cat = default_catalog()
    n_racks = 4
    d_k_per_w = 4e-5 * (np.ones((n_racks, n_racks)) + 2.0 * np.eye(n_racks))
    lay = uniform_layout(
        cat.server("dgx-h100"),
        cat.gpu("h100-sxm"),
        n_racks=n_racks,
        servers_per_rack=2,
        racks_per_row=2,
        heat_distribution_k_per_w=d_k_per_w,
        supply_temp_c=44.0,
        node_cache_b=2e12,
        name="stress",
    )
    rng = np.random.default_rng(2026)
    n = 200
    submit = np.sort(rng.uniform(0.0, 20_000.0, n))
    duration = rng.exponential(2400.0, n) + 30.0
    gpus = rng.choice([1, 1, 1, 2, 4, 8, 16, 24, 32], n)
    model = np.array([""] * n, dtype=object)
    model[[50, 150]] = "b200"  # no such GPU here: unschedulable
    jobs = JobTable.from_arrays(
        submit,
        duration,
        gpus,
        activity_frac=rng.uniform(0.5, 1.0, n),
        compute_bound_frac=rng.uniform(0.3, 1.0, n),
        input_rate_b_per_s_per_gpu=rng.choice([0.0, 2e8, 1e9, 3e9], n),
        dataset_size_b=rng.uniform(1e11, 1e13, n),
        checkpoint_size_b=rng.uniform(1e9, 2e11, n),
        checkpoint_interval_s=rng.choice([0.0, 900.0, 1800.0], n),
        gpu_model=model,
    )
    settings = SimSettings(
        seed=7,
        node_failure_rate_per_s=1.0 / (24.0 * S_PER_H),
        repair_s=3600.0,
        restart_overhead_s=60.0,
        storage_bandwidth_b_per_s=20e9,
        supply_temp_range_c=(30.0, 48.0),
        rack_sample_period_s=600.0,
    )
    return PreparedRun(
        name="stress",
        scenario_toml="",
        layout=lay,
        jobs=jobs,
        settings=settings,
        facility=SimpleFacility(),
        tariff=TARIFF_HIGH_VOLTAGE,
        interval_s=60.0,
        spec_policies=None,
    )


Case = tuple[Callable[[], PreparedRun], tuple[str, ...]]
BASELINE_NAMES: tuple[str, ...] = tuple(BASELINES)
TIERS: dict[str, dict[str, Case]] = {
    "fast": {
        "demo-window": (lambda: _windowed(_demo(), 8.0, 10.0, 0.25, 1.25, 30.0), BASELINE_NAMES),
        "philly-hall-window": (
            lambda: _windowed(_philly_hall(), 50.0, 51.0, 0.5, 0.75, 30.0),
            BASELINE_NAMES,
        ),
        "stress": (_stress, ("fifo-static", "random-fit", LEVERS)),
    },
    "full": {
        "demo": (_demo, BASELINE_NAMES),
        "philly-hall": (_philly_hall, BASELINE_NAMES),
    },
}


def run_case(prepared: PreparedRun, policy: str) -> tuple[RunOutput, SimulationResult]:
    """One run as :func:`kiban.results.run_prepared` makes it, keeping the raw output too."""
    pol = Levers() if policy == LEVERS else make_policy("policy", policy)
    out = Simulator(
        prepared.layout,
        prepared.jobs,
        pol,
        settings=prepared.settings,
        facility=prepared.facility,
    ).run()
    return out, result_of(prepared, out)


def case_digests(tier: str, case: str) -> Iterator[tuple[str, dict[str, str]]]:
    """(policy, digests) for each policy of one case."""
    make, policies = TIERS[tier][case]
    prepared = make()
    for policy in policies:
        out, result = run_case(prepared, policy)
        yield policy, result_digests(out, result)


def pinned_case_digests(tier: str, case: str) -> dict[str, dict[str, str]]:
    """:func:`case_digests` of one case, computed in a child process under :func:`pinned_env`."""
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--tier", tier, "--case", case, "--json"],
        env=pinned_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        msg = f"{tier}/{case} failed in the pinned child:\n{proc.stderr[-4000:]}"
        raise RuntimeError(msg)
    return json.loads(proc.stdout)


def compute(tiers: list[str], *, verbose: bool = True) -> dict[str, Any]:
    """Digests of every case of the given tiers: tier → case → policy → name → digest."""
    found: dict[str, Any] = {}
    for tier in tiers:
        for case in TIERS[tier]:
            t0 = time.perf_counter()
            found.setdefault(tier, {})[case] = dict(case_digests(tier, case))
            if verbose:
                print(f"{tier}/{case}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return found


def diff(expected: dict[str, Any], got: dict[str, Any], prefix: str = "") -> list[str]:
    """Paths where two digest trees differ."""
    out = []
    for key in sorted(set(expected) | set(got)):
        path = f"{prefix}/{key}" if prefix else key
        a, b = expected.get(key), got.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += diff(a, b, path)
        elif a != b:
            out.append(f"{path}: expected {a}, got {b}")
    return out


def main() -> int:
    """Write or compare the digests; exit 1 when they differ."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tier", choices=[*TIERS, "all"], default="all")
    parser.add_argument("--write", action="store_true", help=f"write {DIGESTS.relative_to(REPO)}")
    parser.add_argument("--case", help="one case of --tier only (with --json)")
    parser.add_argument("--json", action="store_true", help="print the digests as JSON")
    args = parser.parse_args()
    if args.case is not None:
        if args.tier == "all" or args.case not in TIERS[args.tier]:
            parser.error(f"--case needs --tier and one of its cases, got {args.tier}/{args.case}")
        print(json.dumps(dict(case_digests(args.tier, args.case)), sort_keys=True))
        return 0
    tiers = list(TIERS) if args.tier == "all" else [args.tier]
    got = compute(tiers)
    if args.write:
        old = json.loads(DIGESTS.read_text()) if DIGESTS.is_file() else {}
        DIGESTS.parent.mkdir(parents=True, exist_ok=True)
        DIGESTS.write_text(json.dumps(old | got, indent=1, sort_keys=True) + "\n")
        print(f"wrote {DIGESTS}")
        return 0
    expected = json.loads(DIGESTS.read_text())
    problems = diff({t: expected.get(t, {}) for t in tiers}, got)
    print("\n".join(problems) if problems else "all digests match")
    return 1 if problems else 0


if __name__ == "__main__":
    reexec_pinned()  # numpy and OpenBLAS read their settings at import: start over pinned
    sys.exit(main())
