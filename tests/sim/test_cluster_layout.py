"""Layout derives GPU numbering and rack GPU budgets from its records; bad indices fail clearly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tests.sim.helpers import dgx, layout

from kiban.errors import ConfigError
from kiban.sim import ClusterLayout


def test_gpu_numbering_follows_nodes():
    lay = layout(n_racks=2, servers_per_rack=3)
    assert lay.n_gpus == 48
    assert lay.node_first_gpu.tolist() == [0, 8, 16, 24, 32, 40]
    assert lay.gpu_node[15] == 1
    assert lay.node_rack_idx.tolist() == [0, 0, 0, 1, 1, 1]
    with pytest.raises(AttributeError):
        lay.name = "other"  # frozen dataclass
    with pytest.raises(ValueError):
        lay.node_rack_idx[0] = 1  # read-only array


def test_rack_budget_is_infinite_when_every_gpu_fits_and_finite_otherwise():
    server, sku = dgx()
    assert math.isinf(layout(servers_per_rack=2).rack_gpu_budget_w[0])
    # 20 kW for two DGX H100 (10.2 kW nameplate each): not every GPU can run at TDP
    lay = layout(servers_per_rack=2, rack_power_limit_w=20_000.0)
    budget = lay.rack_gpu_budget_w[0]
    host_w = 2 * (server.host_max_power_w + server.fan_max_power_w)
    assert budget == pytest.approx(20_000.0 * server.psu_efficiency_frac - host_w)
    assert budget < 16 * sku.tdp_w


def test_bad_index_arrays_are_reported():
    server, sku = dgx()
    with pytest.raises(ConfigError, match="node_rack_idx"):
        ClusterLayout(
            name="bad",
            skus=(sku,),
            servers=(server,),
            node_server_idx=np.array([0]),
            node_rack_idx=np.array([3]),
            rack_names=("r0",),
            rack_row_idx=np.array([0]),
            row_names=("row0",),
            rack_x_m=np.array([0.0]),
            rack_y_m=np.array([0.0]),
            rack_power_limit_w=np.array([math.inf]),
            rack_cooling_limit_w=np.array([math.inf]),
            rack_liquid_capture_frac=np.array([0.0]),
        )
