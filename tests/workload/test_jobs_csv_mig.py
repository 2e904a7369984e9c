"""The jobs-csv reader with MIG profiles, and `kiban simulate` on examples/mig-a100.toml.

The example's trace is synthetic (scripts/make_mig_trace.py, seeded): 200 jobs, 172 on MIG
instances. End to end every policy must finish every job, book each GPU-second once (the ledger
sums to 16 GPUs × the horizon, to 1e-9 relative) and report the GPU time stranded in unheld
slices of partitioned GPUs.
"""

from __future__ import annotations

import pytest
from tests.workload._simulate_example import (
    assert_ledger_sums_to_capacity,
    simulate_every_placement,
)

from kiban.errors import TraceError
from kiban.workload import read_trace

HEADER = "job_id,submit_time_s,duration_s,num_gpus,mig_profile\n"


def test_reads_profiles_and_scales_input_to_the_share(tmp_path):
    """Profiles are kept; a 3g instance reads 3/7 of the input a whole GPU reads."""
    path = tmp_path / "jobs.csv"
    path.write_text(HEADER + "a,0,60,1,3g.40gb\nb,10,60,1,\nc,20,60,4,\n", encoding="utf-8")
    res = read_trace(f"jobs-csv:{path}")
    df = res.jobs
    assert df["mig_profile"].to_list() == ["3g.40gb", "", ""]
    rate = df["input_rate_b_per_s_per_gpu"].to_list()
    ref = read_trace(f"jobs-csv:{path}").jobs  # same seed, same mix draws
    assert rate == ref["input_rate_b_per_s_per_gpu"].to_list()
    path2 = tmp_path / "whole.csv"
    path2.write_text(HEADER + "a,0,60,1,\nb,10,60,1,\nc,20,60,4,\n", encoding="utf-8")
    whole = read_trace(f"jobs-csv:{path2}").jobs["input_rate_b_per_s_per_gpu"].to_list()
    assert rate[0] == pytest.approx(whole[0] * 3 / 7, rel=1e-12)
    assert rate[1:] == whole[1:]


def test_an_unknown_profile_names_file_line_field_value_and_the_allowed_ones(tmp_path):
    """One clear error: FILE:LINE: mig_profile = 'value': allowed profiles."""
    path = tmp_path / "jobs.csv"
    path.write_text(HEADER + "a,0,60,1,3g.40gb\nb,10,60,1,3g.30gb\n", encoding="utf-8")
    with pytest.raises(TraceError) as info:
        read_trace(f"jobs-csv:{path}")
    msg = str(info.value)
    assert f"{path}:3: mig_profile = '3g.30gb': not a MIG profile of any GPU in the catalog" in msg
    assert "allowed: empty (none) or 1g.5gb, 1g.10gb" in msg
    assert "3g.40gb" in msg


def test_a_mig_job_on_several_gpus_is_refused(tmp_path):
    path = tmp_path / "jobs.csv"
    path.write_text(HEADER + "a,0,60,2,1g.10gb\n", encoding="utf-8")
    with pytest.raises(TraceError, match=r"jobs.csv:2: mig_profile = '1g.10gb': .*num_gpus must"):
        read_trace(f"jobs-csv:{path}")


def test_kiban_simulate_the_mig_example_under_every_placement(tmp_path):
    """`kiban simulate examples/mig-a100.toml` under first-, best-, random-fit and fgd: every
    job finishes, the ledger sums to capacity, and the stranded-slice GPU time is reported."""
    for summary in simulate_every_placement("mig-a100.toml", tmp_path).values():
        assert summary["jobs_completed"] == 200
        assert summary["jobs_on_mig_instance"] == 172
        assert_ledger_sums_to_capacity(summary)
        ledger = summary["ledger_gpu_hours"]
        assert (
            0.0
            < summary["mig_idle_slice_gpu_hours"]
            < ledger["idle_no_demand"] + ledger["queue_blocked"]
        )
