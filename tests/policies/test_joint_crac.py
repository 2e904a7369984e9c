"""J-DEC after a CRAH failure: the joint mode holds the room through the facility model.

coopt/crac-failure.toml: 8 DGX H100 under two CRAH units of 2.5 m³/s (the servers move
4.17 m³/s at rated fan speed, physics.md §1.2); unit 0 fails at 12 h and stays failed.
"""

from __future__ import annotations

import numpy as np
from _crac_run import FAILURE_S, run_crac_failure

from kiban.metrics import summarize
from kiban.policies.joint import JDec

DGX_H100_MAX_INLET_C = 30.0
"""DGX H100 allowed inlet 5–30 °C (NVIDIA DGX H100/H200 User Guide; physics.md §1.2)."""


def test_j_dec_holds_the_room_after_a_crah_failure():
    """Seed 1 to 15 h (the ablation's J-DEC settings: 1 s stage-A limit, 900 s epochs).

    Before session 7 J-DEC's stages used Tang's D only and it had no thermal safety net: on
    this seed the hottest inlet reached 83 °C and 6 of 8 DGX shut down (the day). Now the
    alarm starts an epoch at once, the facility model sets stage A's headroom, stage C's
    rows and the set-point, and the power layer's thermal caps with J-DEC's room guard
    hold back work: every inlet within the DGX H100's allowed 30 °C (tolerance 0.5 K: the
    twin's 300 s steps), no shutdown, the set-point lowered after the failure, and the hall
    still works (at least half the GPU-hours of the three hours before the failure).
    """
    pol = JDec(JDec.Params(time_limit_s=1.0, epoch_s=900.0))
    out = run_crac_failure(pol, seed=1, until_s=15 * 3600.0)
    s = summarize(out)
    assert s["max_inlet_temp_c"] <= DGX_H100_MAX_INLET_C + 0.5
    assert s["thermal_shutdowns"] == 0
    assert pol.stats.alarm_epochs == 1
    t = out.log["time_s"]
    sup = out.log["supply_temp_c"]
    assert float(np.min(sup[t > FAILURE_S])) < float(np.min(sup[(t < FAILURE_S) & (t > 0)]))
    busy = out.log["productive_gpus"]
    dt = np.diff(t, append=t[-1])
    after = float((busy * dt)[t >= FAILURE_S].sum())
    before = float((busy * dt)[(t >= FAILURE_S - 3 * 3600.0) & (t < FAILURE_S)].sum())
    assert after >= 0.5 * before
