import numpy as np
import pytest
import torch
from planted import planted
from torch import nn

from rnndyn.dynamics.modal import modal_coordinates, project, real_basis
from rnndyn.dynamics.network import build_network
from rnndyn.dynamics.probes import make_probe
from rnndyn.dynamics.trajectories import simulate
from rnndyn.errors import InvalidInputError, SimulationError, UsageError
from rnndyn.operators import find_modules
from rnndyn.readers.checkpoint import Checkpoint
from rnndyn.spectrum import eigendecompose


def ckpt_of(tensors, **meta) -> Checkpoint:
    return Checkpoint("net.pt", "0" * 64, "torch-zip", dict(tensors), meta)


def seq(b=3, t=9, d=3, seed=0):
    return np.random.default_rng(seed).standard_normal((b, t, d))


MODULES = [
    lambda: nn.RNN(3, 6, num_layers=2, nonlinearity="relu", dtype=torch.float64),
    lambda: nn.RNN(3, 6, bias=False, dtype=torch.float64),
    lambda: nn.GRU(3, 5, num_layers=2, bidirectional=True, dtype=torch.float64),
    lambda: nn.LSTM(3, 7, num_layers=2, bidirectional=True, proj_size=4, dtype=torch.float64),
    lambda: nn.LSTM(3, 7, dtype=torch.float64),
]


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")
@pytest.mark.parametrize("factory", MODULES)
def test_rebuilt_network_and_simulation_match_pytorch(factory):
    torch.manual_seed(0)
    net = factory()
    meta = {"nonlinearity": getattr(net, "nonlinearity", "tanh")}
    sd = {f"encoder.rnn.{k}": v for k, v in net.state_dict().items()}  # a nested, prefixed module
    sd["decoder.weight"] = torch.ones(2, 2)
    ckpt = ckpt_of(sd, **meta)
    x = seq()
    xt = torch.from_numpy(x).transpose(0, 1)
    ref, _ = net(xt)
    rebuilt = build_network(ckpt)
    torch.testing.assert_close(rebuilt(xt)[0], ref)
    traj = simulate(ckpt, x, dtype=torch.float64)
    assert traj.hidden.dtype == np.float64 and traj.steps == 9 and traj.batch == 3
    np.testing.assert_allclose(traj.output, ref.detach().numpy(), rtol=1e-12, atol=1e-13)
    assert simulate(ckpt, x).hidden.dtype == np.float32


def test_lstm_cell_states_match_a_cell_loop_both_directions():
    torch.manual_seed(1)
    net = nn.LSTM(3, 5, bidirectional=True, dtype=torch.float64)
    traj = simulate(ckpt_of(net.state_dict()), seq(b=2, t=6), dtype=torch.float64)
    x = torch.from_numpy(seq(b=2, t=6))
    for direction, sfx in (("forward", ""), ("reverse", "_reverse")):
        cell = nn.LSTMCell(3, 5, dtype=torch.float64)
        cell.load_state_dict(
            {
                k: getattr(net, f"{k}_l0{sfx}")
                for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            }
        )
        h = c = torch.zeros(2, 5, dtype=torch.float64)
        times = range(6) if direction == "forward" else range(5, -1, -1)
        for t in times:
            h, c = cell(x[:, t], (h, c))
            np.testing.assert_allclose(
                traj.cell[0, traj.module.directions.index(direction), t], c.detach(), atol=1e-13
            )
            np.testing.assert_allclose(traj.states(0, direction)[t], h.detach(), atol=1e-13)


def test_cells_and_custom_matrices_run():
    torch.manual_seed(2)
    cell = nn.GRUCell(3, 4, dtype=torch.float64)
    ckpt = ckpt_of({f"cell.{k}": v for k, v in cell.state_dict().items()})
    traj = simulate(ckpt, seq(b=2, t=3), dtype=torch.float64)
    h = torch.zeros(2, 4, dtype=torch.float64)
    for t in range(3):
        h = cell(torch.from_numpy(seq(b=2, t=3))[:, t], h)
    np.testing.assert_allclose(traj.output[-1], h.detach(), atol=1e-13)
    w = 0.5 * torch.eye(3, dtype=torch.float64)
    custom = ckpt_of({"W_hh": w})
    h0 = np.ones((1, 1, 2, 3))
    traj = simulate(custom, seq(b=2, t=4, d=5), h0=h0, dtype=torch.float64)  # input ignored
    expect = np.ones(3)
    for t in range(4):
        expect = np.tanh(0.5 * expect)
        np.testing.assert_allclose(traj.output[t], np.broadcast_to(expect, (2, 3)), atol=1e-14)


def test_input_errors_name_the_expected_shape():
    ckpt = ckpt_of(nn.GRU(3, 4).state_dict())
    with pytest.raises(InvalidInputError, match=r"expects shape \(B, T, 3\)"):
        simulate(ckpt, np.zeros((2, 5, 4)))
    with pytest.raises(InvalidInputError, match=r"shape \(5, 3\).*x\[None\]"):
        simulate(ckpt, np.zeros((5, 3)))
    with pytest.raises(InvalidInputError, match="dtype complex128"):
        simulate(ckpt, np.zeros((1, 5, 3), complex))
    with pytest.raises(InvalidInputError, match="NaN"):
        simulate(ckpt, np.full((1, 5, 3), np.nan))


def test_exploding_network_is_a_simulation_error():
    sd = {"weight_ih_l0": torch.ones(3, 1), "weight_hh_l0": 10 * torch.eye(3)}
    ckpt = ckpt_of(sd, nonlinearity="relu")
    with pytest.raises(SimulationError, match=r"range \(NaN/Inf\) in layer 0 at time step"):
        simulate(ckpt, np.ones((1, 400, 1)))


def test_probes(tmp_path):
    ckpt = ckpt_of(nn.RNN(2, 4).state_dict())
    (mod,) = find_modules(ckpt)
    z = make_probe("zeros", mod, steps=10)
    assert z.inputs.shape == (1, 1000, 2) and not z.inputs.any()  # max(2·steps, 1000)
    assert make_probe("zeros", mod, steps=700).length == 1400
    n = make_probe("noise:0.5", mod, steps=10, batch=64, length=300, seed=3)
    assert n.inputs.shape == (64, 300, 2) and n.inputs.std() == pytest.approx(0.5, rel=0.05)
    np.testing.assert_array_equal(
        n.inputs, make_probe("noise:0.5", mod, steps=10, batch=64, length=300, seed=3).inputs
    )
    imp = make_probe("impulse", mod, steps=10, length=20)
    assert imp.inputs.sum() == 2 and imp.inputs[0, 10].tolist() == [1, 1]
    with pytest.raises(UsageError, match="Valid probes"):
        make_probe("gaussian", mod, steps=10)
    with pytest.raises(UsageError, match="not a number"):
        make_probe("noise:abc", mod, steps=10)
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((4, 10, 3), np.float32))
    with pytest.raises(InvalidInputError, match=r"bad.npy.*expects shape \(B, T, 2\)"):
        make_probe(str(bad), mod, steps=5)
    with pytest.raises(InvalidInputError, match="does not exist"):
        make_probe(str(tmp_path / "missing.npy"), mod, steps=5)
    good = tmp_path / "good.npy"
    np.save(good, np.ones((4, 10, 2), np.int64))
    assert make_probe(str(good), mod, steps=5, batch=2).inputs.shape == (2, 10, 2)


def test_task_probe_uses_the_tasks_test_inputs():
    from rnndyn.tasks import get_task

    spec = get_task("adding").spec
    (mod,) = find_modules(ckpt_of(nn.RNN(spec.input_size, 4).state_dict()))
    p = make_probe("task:adding", mod, steps=10, batch=3, seed=1)
    np.testing.assert_array_equal(p.inputs, get_task("adding").generate(1).x_test[:3].numpy())


def test_modal_projection_of_a_linear_system_decays_like_lambda_k():
    """h_k = W^k h_0 in the planted non-normal basis: each mode's amplitude is |λ|^k times its start."""
    rng = np.random.default_rng(4)
    w, _ = planted([0.9, -0.7, 0.4], [0.8 * np.exp(0.6j), 0.95 * np.exp(2.0j)], rng, cond=10)
    spec = eigendecompose(w)[0]
    h = [rng.standard_normal((5, 7))]
    for _ in range(30):
        h.append(h[-1] @ w.T)
    states = np.stack(h)  # (T, B, n)
    mc = modal_coordinates(states, real_basis(spec))
    basis = real_basis(spec)
    k = np.arange(31)[:, None, None]
    expect = mc.amplitude[0] * np.abs(spec.eigenvalues) ** k
    # absolute error relative to the dominant mode at the same step (reliability.md §2.3), float32 GEMM
    err = np.abs(mc.amplitude - expect) / mc.amplitude.max(axis=2, keepdims=True)
    assert (err / (spec.eigvec_condition * np.finfo(np.float32).eps * (k + 7))).max() < 1e2
    # the real basis reconstructs the states
    coords = project(states, basis, dtype=torch.float64).numpy()
    np.testing.assert_allclose(coords @ basis.columns.T, states, atol=1e-10)
    # top-N keeps a pair whole
    assert [real_basis(spec, m).n_modes for m in (1, 2, 3, 4)] == [2, 2, 3, 5]


def test_network_weights_converted_once_operators_are_views():
    """A resolved network's float64 weights and its operators are one conversion: every gate block
    is a view of the layer's ``w_hh`` (no second copy), equal to the stored float32 weights."""
    from rnndyn.dynamics.network import resolve_network

    torch.manual_seed(0)
    gru = nn.GRU(3, 6, num_layers=2)
    net = resolve_network(ckpt_of({f"rnn.{k}": v for k, v in gru.state_dict().items()}))
    assert [o.qualified_id for o in net.operators][:3] == [
        "rnn:l0.fwd.r",
        "rnn:l0.fwd.z",
        "rnn:l0.fwd.n",
    ]
    for op in net.operators:
        w = net.params[(op.layer, op.direction)].w_hh
        assert w.dtype == torch.float64 and np.shares_memory(op.matrix, w.numpy())
        stored = getattr(gru, f"weight_hh_l{op.layer}").detach().double().numpy()
        g = "rzn".index(op.gate)
        np.testing.assert_array_equal(op.matrix, stored[6 * g : 6 * (g + 1)])
