"""The FGD paper's packing experiment (kiban.workload.packing) and its validation section.

The fragmentation measure is checked by hand against its definition (Weng et al., "Beware of
Fragmentation", USENIX ATC 2023, §4.1); placement against small clusters whose answer is known;
the whole experiment against the artifact's own results (hkust-adsl/kubernetes-scheduler-
simulator, experiments/analysis/expected_results/analysis_allo_discrete.csv), held to the
tolerance stated in kiban.validation.packing.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys

import numpy as np
import pytest
from tests.conftest import require_data

from kiban.cli import main
from kiban.errors import ConfigError, TraceError
from kiban.validation import packing as vpacking
from kiban.workload.packing import (
    PackingCluster,
    PackingPods,
    TypicalPods,
    allocation_pct,
    allowed_models,
    binned_by_arrival,
    node_frag_milli,
    read_packing_nodes,
    read_packing_pods,
    run_packing,
    tuned_order,
    typical_pods,
)


def _cluster(cpu, mem, gpus, model, models=("A", "B")) -> PackingCluster:
    n = len(cpu)
    return PackingCluster(
        name=[f"n{i}" for i in range(n)],
        cpu_milli=np.asarray(cpu, dtype=np.int64),
        memory_mib=np.asarray(mem, dtype=np.int64),
        n_gpus=np.asarray(gpus, dtype=np.int64),
        model=np.asarray(model, dtype=np.int64),
        models=tuple(models),
    )


def _pods(rows, models=("A", "B")) -> PackingPods:
    """rows: (cpu, mem, num_gpus, gpu_milli, gpu_spec)."""
    specs = [r[4] for r in rows]
    return PackingPods(
        name=[f"p{i:03d}" for i in range(len(rows))],
        cpu_milli=np.array([r[0] for r in rows], dtype=np.int64),
        memory_mib=np.array([r[1] for r in rows], dtype=np.int64),
        num_gpus=np.array([r[2] for r in rows], dtype=np.int64),
        gpu_milli=np.array([r[3] for r in rows], dtype=np.int64),
        allowed=allowed_models(specs, tuple(models)),
        gpu_spec=specs,
    )


def test_fragmentation_measure_by_hand():
    """A node with GPUs [1000, 300] left and 10 cores: a 0.5-GPU pod (p=.5) fits and strands the
    300 milli GPU; a 1-GPU 20-core pod (p=.25) lacks CPU, so all 1300 milli count; a CPU-only pod
    (p=.25) cannot use GPUs, so all 1300 count: .5·300 + .25·1300 + .25·1300 = 800 (§4.1)."""
    typ = TypicalPods(
        cpu_milli=np.array([1000, 20000, 500]),
        gpu_milli=np.array([500, 1000, 0]),
        num_gpus=np.array([1, 1, 0]),
        allowed=np.ones((3, 1), dtype=bool),
        freq=np.array([0.5, 0.25, 0.25]),
    )
    left = np.array([[1000, 300], [1000, 1000], [0, 0]])
    frag = node_frag_milli(left, np.array([10000, 30000, 30000]), np.array([0, 0, 0]), typ)
    # second node: every GPU pod fits, nothing below 500 left → only the CPU-only share counts
    assert frag.tolist() == pytest.approx([800.0, 0.25 * 2000, 0.0], abs=1e-9)
    # a model the pods do not accept: everything left is fragment
    typ_b = dataclasses.replace(typ, allowed=np.zeros((3, 1), dtype=bool))
    assert node_frag_milli(left[:1], np.array([10000]), np.array([0]), typ_b)[0] == 1300.0


def test_gpu_model_alternatives_are_one_rule():
    allowed = allowed_models(["A|B", "B", "", "|B|"], ("A", "B", "C"))
    assert allowed.tolist() == [
        [True, True, False],
        [False, True, False],
        [True, True, True],
        [False, True, False],
    ]


def test_filters_cpu_memory_model_and_shares():
    # node 0: model A, 2 GPUs, little memory; node 1: model B, 1 GPU, little CPU
    cluster = _cluster([64000, 4000], [1000, 100000], [2, 1], [0, 1])
    pods = _pods(
        [
            (1000, 500, 1, 600, "B"),  # only node 1 has B: fits (CPU 1000 ≤ 4000)
            (1000, 500, 1, 300, "A|B"),  # shares: node 0 or node 1's remaining 400
            (1000, 2000, 1, 1000, "A"),  # memory 2000 > node 0's 1000 - 500: skipped
            (8000, 100, 2, 1000, ""),  # two whole GPUs: node 0 has one shared GPU → skipped
            (500, 100, 0, 0, ""),  # CPU-only: fits
        ]
    )
    for policy in ("random", "best-fit", "fgd"):
        run = run_packing(cluster, pods, policy, seed=3, ratio=0.0)
        by_pod = dict(zip(run.pods.tolist(), run.placed.tolist(), strict=True))
        assert by_pod[0], policy
        assert by_pod[4], policy
        assert not by_pod[2], policy


def test_best_fit_packs_and_fgd_fills_partial_gpus():
    cluster = _cluster([96000] * 3, [10**6] * 3, [8, 8, 8], [0, 0, 0])
    rows = [(1000, 10, 1, 500, "")] * 6
    pods = _pods(rows)
    for policy in ("best-fit", "fgd"):
        run = run_packing(cluster, pods, policy, seed=0, ratio=0.0)
        assert run.placed.all()
        assert run.allocated_milli[-1] == 3000
        # six half-GPU pods on three empty 8-GPU nodes: the packing policies keep one node
        assert np.unique(run.nodes).shape[0] == 1, policy


def test_tuned_order_reaches_the_target_and_keeps_every_pod():
    pods = _pods([(1000, 10, 1, 500, ""), (1000, 10, 2, 1000, ""), (1000, 10, 0, 0, "")])
    order = tuned_order(pods, capacity_milli=10_000, ratio=1.3, rng=np.random.default_rng(1))
    assert sorted(order[:3].tolist()) == [0, 1, 2]
    total = int(pods.total_gpu_milli[order].sum())
    assert 13_000 - 1000 <= total <= 13_000 + 1000
    again = tuned_order(pods, capacity_milli=10_000, ratio=1.3, rng=np.random.default_rng(1))
    assert np.array_equal(order, again)


def test_typical_pods_cover_the_share_and_sum_to_one():
    pods = _pods([(1, 1, 1, 500, "")] * 6 + [(2, 1, 1, 1000, "")] * 3 + [(3, 1, 0, 0, "")])
    typ = typical_pods(pods, share=0.85)
    assert typ.freq.tolist() == pytest.approx([6 / 9, 3 / 9])
    assert typical_pods(pods, share=1.0).freq.shape == (3,)


def test_bad_input_names_file_field_and_value(tmp_path, monkeypatch, capsys):
    nodes = tmp_path / "openb_node_list_gpu_node.csv"
    nodes.write_text("sn,cpu_milli,memory_mib,gpu,model\nn0,64000,1000,2,A\n", encoding="utf-8")
    pods = tmp_path / "openb_pod_list_default.csv"
    pods.write_text(
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\np0,1000,10,1,500,Z\n",
        encoding="utf-8",
    )
    cluster = read_packing_nodes(tmp_path)
    with pytest.raises(TraceError, match=r"openb_pod_list_default.csv:2: gpu_spec = 'Z'"):
        read_packing_pods(tmp_path, cluster.models)
    with pytest.raises(ConfigError, match="placement policy"):
        run_packing(cluster, _pods([], models=("A",)), "worst-fit", seed=0)
    monkeypatch.setattr(
        sys, "argv", ["kiban", "trace", "pack", f"openb:{tmp_path}", "--seeds", "9-1"]
    )
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--seeds = '9-1'" in err
    assert "Traceback" not in err


def test_openb_one_seed_per_policy_near_the_artifact(data_root):
    """Default pod list, seed 42, each policy at 130 % arrived within 1 point of the artifact's
    10-seed mean (one seed: spread 0.1–0.3 points); the full 10-seed check is the slow test."""
    folder = require_data(data_root, "alibaba-gpu-v2023-openb", "csv")
    cluster = read_packing_nodes(folder)
    pods = read_packing_pods(folder / "openb_pod_list_default.csv", cluster.models)
    got = {}
    for policy in ("random", "best-fit", "fgd"):
        run = run_packing(cluster, pods, policy, seed=42)
        got[policy] = binned_by_arrival(run, allocation_pct(run), np.array([130]))[0]
        published = statistics.mean(vpacking.PUBLISHED[("default", policy)][1])
        assert got[policy] == pytest.approx(published, abs=1.0), policy
    assert got["fgd"] > got["best-fit"] > got["random"]


@pytest.mark.slow
def test_validation_section_passes(data_root):
    """The docs/validation.md section: 3 pod lists × 3 policies × 10 seeds, ±0.5 points."""
    require_data(data_root, "alibaba-gpu-v2023-openb", "csv")
    section = vpacking.section_packing()
    failed = [r.explain() for r in section.rows if r.passed is False]
    assert not failed, "\n".join(failed)
