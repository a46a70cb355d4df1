"""The decay path enters each module at most twice (issue 21): a network resolved once is handed
down, not re-resolved; its weights are converted once per dtype and shared by every stage."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import rnndyn
from rnndyn.dynamics.network import resolve_network
from rnndyn.dynamics.trajectories import run_network, simulate
from rnndyn.operators import find_modules, module_weights
from rnndyn.readers.checkpoint import as_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("decay_path", ROOT / "benchmarks/decay_path.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", ["rnn_adding", "lstm_sine", "gru_tomita4"])
def test_no_module_on_the_decay_path_is_entered_more_than_twice(name):
    c = _bench().count(ROOT / f"data/examples/{name}.pt", steps=12)
    assert c.over == [], c.calls_in.most_common(5)
    # the stages really ran (the profile saw them), and the kernels are the recurrence's own loop
    for stage in ("dynamics/network.py", "readers/modules.py", "dynamics/trajectories.py"):
        assert c.calls_in[stage] >= 1
    assert c.kernel["dynamics/jacobian.py:apply"] >= 12
    # weights: each stored parameter converted to float64 once (by the reader), to the tangents'
    # float32 at most once (the network's cast), and never back
    ckpt = as_checkpoint(ROOT / f"data/examples/{name}.pt")
    n_params = len(module_weights(ckpt, find_modules(ckpt)[0]).params)
    assert c.conversions["readers/tensors.py double"] == n_params
    assert c.conversions["dynamics/network.py to"] <= n_params
    assert c.conversions["dynamics/network.py numpy"] == 0


def test_simulation_records_the_resolved_weights_and_builds_each_trace_once():
    torch.manual_seed(0)
    gru = torch.nn.GRU(2, 5, num_layers=2, bidirectional=True)
    net = resolve_network(gru)
    x = np.random.default_rng(0).standard_normal((3, 7, 2))
    traj = run_network(net, x, dtype=torch.float64)
    for (layer, d), run in traj.runs.items():
        p = run.params
        assert p is not None and p is traj.params[(layer, d)]
        assert p.w_hh.data_ptr() == net.params[(layer, d)].w_hh.data_ptr()  # no copy
        assert p.float32 is p.float32 and p.float32.w_hh.dtype == torch.float32  # converted once
        assert run.trace is run.trace
        for a, b in zip(run.trace, traj.trace(layer, d), strict=True):
            assert (a is None and b is None) or torch.equal(a, b)
        np.testing.assert_array_equal(run.states, traj.states(layer, d))
        np.testing.assert_array_equal(run.inputs, traj.layer_inputs(layer))
    # the public simulate gives the same states (it checks the budget, then runs the same code)
    np.testing.assert_array_equal(simulate(net, x, dtype=torch.float64).hidden, traj.hidden)
    with torch.no_grad():
        out, _ = gru.double()(torch.from_numpy(x).transpose(0, 1))
    np.testing.assert_allclose(traj.output, out.numpy(), atol=1e-12)


def test_decay_on_hand_built_trajectories_falls_back_to_the_network():
    """Trajectories without recorded weights (built by hand) still decay: the weights are then
    taken from the network, with the same result."""
    from dataclasses import replace

    from rnndyn.decay.lyapunov import network_lyapunov

    net = resolve_network(ROOT / "data/examples/rnn_adding.pt")
    x = np.random.default_rng(1).standard_normal((4, 150, net.module.input_size))
    traj = run_network(net, x, dtype=torch.float64)
    bare = replace(traj, params={})
    a = network_lyapunov(net, traj, 3, torch.float64, 0, [])[1]
    b = network_lyapunov(net, bare, 3, torch.float64, 0, [])[1]
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-14)
    assert rnndyn.measure_decay  # the public entry point is the one profiled above
