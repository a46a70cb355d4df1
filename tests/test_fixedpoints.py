"""Fixed points against ground truth: closed forms, PyTorch's own modules, a trained flip-flop GRU."""

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.optimize import brentq
from torch import nn
from torch.func import jacrev

import rnndyn
from rnndyn.dynamics.fixedpoints import Settings, find_fixed_points
from rnndyn.dynamics.fixedpoints.solver import deduplicate
from rnndyn.errors import InvalidInputError, RefusedError, UsageError
from rnndyn.readers.checkpoint import Checkpoint, load

DATA = Path(__file__).parent / "data"
FLIPFLOP = DATA / "gru_flipflop3.pt"


def ckpt_of(module: nn.Module, **meta) -> Checkpoint:
    return Checkpoint("net.pt", "0" * 64, "torch-zip", dict(module.state_dict()), meta)


def scaled_identity(a: float, h: int = 3) -> nn.RNN:
    torch.manual_seed(0)
    net = nn.RNN(2, h, dtype=torch.float64)
    with torch.no_grad():
        net.weight_hh_l0.copy_(a * torch.eye(h))
        net.bias_hh_l0.zero_()
        net.bias_ih_l0.zero_()
    return net


def test_scaled_identity_all_stable_points_found_and_every_point_classified():
    a, h = 2.0, 3
    hstar = brentq(lambda v: np.tanh(a * v) - v, 0.1, 1.0)
    res = find_fixed_points(ckpt_of(scaled_identity(a, h)), probe="noise:1", n_inits=512)
    lay = res.layer(0)
    assert lay.isolated.all()
    grid = np.array(list(itertools.product((-hstar, 0.0, hstar), repeat=h)))  # all 3^H points
    match = np.abs(lay.states[:, None, :] - grid[None]).max(-1).min(1)
    assert match.max() < 1e-8  # every point found is one of the 27
    which = np.abs(lay.states[:, None, :] - grid[None]).max(-1).argmin(1)
    zeros = (np.abs(grid[which]) < 1e-12).sum(1)
    np.testing.assert_array_equal(lay.n_unstable, zeros)  # a zero coordinate: λ = a > 1
    np.testing.assert_array_equal(lay.stable, zeros == 0)
    corners = {tuple(np.sign(s).astype(int)) for s in lay.states[lay.stable]}
    assert corners == set(itertools.product((-1, 1), repeat=h))  # all 2^H stable points
    assert len(lay) == len(set(which.tolist()))  # no duplicates
    expected = np.sort(np.where(np.abs(grid[which]) < 1e-12, a, a * (1 - hstar**2)), axis=1)
    np.testing.assert_allclose(np.sort(lay.eigenvalues.real, axis=1), expected, atol=1e-9)
    assert (lay.kind == "fixed").all() and (lay.q < 1e-20).all()


def test_linear_regime_has_exactly_one_point_equal_to_the_modules_limit():
    torch.manual_seed(1)
    net = nn.RNN(2, 5, dtype=torch.float64)
    with torch.no_grad():
        q, _ = torch.linalg.qr(torch.randn(5, 5, dtype=torch.float64))
        net.weight_hh_l0.copy_(0.3 * q)
    res = find_fixed_points(ckpt_of(net), probe="noise:2", n_inits=256)
    lay = res.layer(0)
    assert len(lay) == 1 and lay.stable[0] and lay.kind[0] == "fixed"
    with torch.no_grad():  # independent route: iterate PyTorch's own module to its limit
        out, _ = net(torch.zeros(400, 1, 2, dtype=torch.float64))
    np.testing.assert_allclose(lay.states[0], out[-1, 0].numpy(), atol=1e-12)
    assert lay.counts[0] == 256


def module_step(net: nn.Module, s: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """One step of PyTorch's own module on the full state (LSTM ``[h; c]``)."""
    if isinstance(net, nn.LSTM):
        p = net.hidden_size
        _, (h2, c2) = net(x[None, None], (s[None, None, :p], s[None, None, p:]))
        return torch.cat([h2[0, 0], c2[0, 0]])
    out, _ = net(x[None, None], s[None, None])
    return out[0, 0]


def strong(kind: str, seed: int) -> tuple[nn.Module, dict]:
    torch.manual_seed(seed)
    cls = {"rnn": nn.RNN, "relu": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[kind]
    kw = {"nonlinearity": "relu"} if kind == "relu" else {}
    net = cls(2, 4, dtype=torch.float64, **kw)
    with torch.no_grad():
        for name, t in net.named_parameters():
            t.mul_((1.2 if kind == "relu" else 3.0) if "weight_hh" in name else 1.0)
    return net, {"nonlinearity": "relu" if kind == "relu" else "tanh"}


@pytest.mark.parametrize("kind", ["rnn", "relu", "gru", "lstm"])
def test_points_are_fixed_under_the_torch_module_and_jacobians_match_jacrev(kind):
    net, meta = strong(kind, seed=3)
    res = find_fixed_points(ckpt_of(net, **meta), "mean", probe="noise:1", n_inits=128)
    lay = res.layer(0)
    assert len(lay) >= 1
    x = torch.from_numpy(lay.inputs[0])
    np.testing.assert_allclose(x.numpy(), res.input["value"])
    for s, jac, q in zip(lay.states, lay.jacobians, lay.q, strict=True):
        st = torch.from_numpy(s)
        with torch.no_grad():
            moved = module_step(net, st, x)
        assert float(0.5 * ((moved - st) ** 2).sum()) == pytest.approx(q, abs=1e-14)
        if q <= lay.tol:
            np.testing.assert_allclose(moved.numpy(), s, atol=1e-6)
        ref = jacrev(lambda v: module_step(net, v, x))(st).detach()
        np.testing.assert_allclose(jac, ref.numpy(), atol=1e-10)
    ev = np.linalg.eigvals(lay.jacobians)
    np.testing.assert_allclose(np.sort(np.abs(ev), 1), np.sort(np.abs(lay.eigenvalues), 1))


def test_flipflop_gru_has_eight_stable_points_at_the_eight_memories():
    res = find_fixed_points(FLIPFLOP, n_inits=512)
    lay = res.layer(0)
    assert res.probe["spec"] == "task:flipflop"  # the checkpoint's own task drives the search
    ck = load(FLIPFLOP)
    w, b = ck.tensors["readout.weight"].double().numpy(), ck.tensors["readout.bias"].numpy()
    iso = lay.isolated
    out = lay.states[lay.stable & iso] @ w.T + b
    assert (lay.stable & iso).sum() == 8
    assert {tuple(np.sign(o).astype(int)) for o in out} == set(itertools.product((-1, 1), repeat=3))
    assert np.abs(np.abs(out) - 1).max() < 0.1  # each stable point reads out a memory
    assert (lay.n_unstable[iso & ~lay.stable] >= 1).all()
    np.testing.assert_allclose(lay.readout, lay.states @ w.T + b, atol=1e-12)  # read-out per point
    assert res.readout == "readout.weight"


@pytest.mark.slow
def test_flipflop_gru_trained_from_scratch_has_eight_stable_points():
    from rnndyn.training.train import train

    result = train("flipflop", "gru", seed=1, epochs=30)
    assert result.metrics["test"] < 0.05
    ckpt = Checkpoint("fresh.pt", "0" * 64, "torch-zip", result.model.state_dict(), result.meta)
    lay = find_fixed_points(ckpt, n_inits=512).layer(0)
    assert lay.stable.sum() == 8


def test_ghost_of_a_saddle_node_is_a_slow_point_at_the_minimum_of_q():
    net = nn.RNN(1, 1, dtype=torch.float64)
    with torch.no_grad():  # h' = tanh(1.5 h + 0.23): just past the saddle-node at b ≈ 0.2076
        net.weight_hh_l0.fill_(1.5)
        net.weight_ih_l0.fill_(1.0)  # noise drives trajectories through both basins
        net.bias_hh_l0.fill_(0.23)
        net.bias_ih_l0.zero_()
    grid = np.linspace(-1.0, 0.0, 200001)
    qg = 0.5 * (np.tanh(1.5 * grid + 0.23) - grid) ** 2
    res = find_fixed_points(ckpt_of(net), probe="noise:1", n_inits=256, max_q=1e-2)
    lay = res.layer(0)
    slow = np.flatnonzero(lay.kind == "slow")
    assert (lay.kind == "fixed").sum() == 1 and len(slow) >= 1
    ghost = slow[lay.q[slow].argmin()]  # box starts may stall short of it: it holds most of them
    assert lay.counts[ghost] >= 0.9 * lay.counts[slow].sum()
    assert lay.states[ghost, 0] == pytest.approx(grid[qg.argmin()], abs=2e-3)
    assert lay.q[ghost] == pytest.approx(qg.min(), rel=1e-3)


def test_two_layer_stack_points_are_fixed_points_of_the_whole_stack():
    torch.manual_seed(5)
    net = nn.GRU(2, 3, num_layers=2, dtype=torch.float64)
    with torch.no_grad():
        net.weight_hh_l0.mul_(3.0)
    res = find_fixed_points(ckpt_of(net), probe="noise:1", n_inits=128)
    low, up = res.layer(0), res.layer(1)
    assert len(low) >= 1 and len(up) >= 1
    x = torch.zeros(1, 1, 2, dtype=torch.float64)
    for i in np.flatnonzero(up.q <= up.tol):
        h0 = torch.tensor(np.stack([low.states[up.upstream[i]], up.states[i]]))[:, None]
        with torch.no_grad():
            _, hn = net(x, h0)
        np.testing.assert_allclose(hn[:, 0].numpy(), h0[:, 0].numpy(), atol=1e-8)


def test_deduplicate_keeps_lowest_q_and_counts_members():
    pts = torch.tensor(
        [[0.0, 0.0], [1e-7, 0.0], [1.0, 1.0], [1.0, 1.0 + 1e-8]], dtype=torch.float64
    )
    q = torch.tensor([1e-20, 1e-25, 1e-22, 1e-30], dtype=torch.float64)
    keep, owner = deduplicate(pts, q, 1e-6)
    assert sorted(keep.tolist()) == [1, 3]
    assert np.bincount(owner).tolist() == [2, 2]


def test_json_document_and_lazy_export(tmp_path):
    assert rnndyn.find_fixed_points is find_fixed_points
    res = find_fixed_points(ckpt_of(scaled_identity(2.0, 2)), probe="noise:1", n_inits=64)
    doc = res.to_dict()
    assert doc["schema"] == "rnndyn.fixedpoints/1"
    assert doc["checkpoint"] == {"path": "net.pt", "sha256": "0" * 64}
    p = doc["fixed_points"][0]
    assert {"state", "q", "stable", "n_unstable", "eigenvalues", "kind"} <= set(p)
    assert len(res.to_frame()) == len(doc["fixed_points"])


def test_bad_inputs_are_refused(tmp_path):
    ck = ckpt_of(scaled_identity(2.0, 2))
    with pytest.raises(UsageError):
        find_fixed_points(ck, "sideways")
    bad = tmp_path / "x.npy"
    np.save(bad, np.zeros((2, 5)))  # read as two constant inputs of the wrong size
    with pytest.raises(InvalidInputError, match=r"x\.npy"):
        find_fixed_points(ck, str(bad), probe="noise:1")
    np.save(bad, np.zeros(5))
    with pytest.raises(InvalidInputError):
        find_fixed_points(ck, str(bad), probe="noise:1")
    with pytest.raises(UsageError):
        find_fixed_points(ck, n_inits=0)
    bi = nn.GRU(2, 3, num_layers=2, bidirectional=True)
    with pytest.raises(RefusedError):
        find_fixed_points(ckpt_of(bi), probe="noise:1")


def test_vector_input_file_sets_the_constant_input(tmp_path):
    net = scaled_identity(0.5, 3)
    f = tmp_path / "x.npy"
    np.save(f, np.array([0.3, -0.2]))
    lay = find_fixed_points(ckpt_of(net), str(f), probe="noise:1", n_inits=32).layer(0)
    assert len(lay) == 1
    x = torch.tensor([0.3, -0.2], dtype=torch.float64)
    with torch.no_grad():
        out, _ = net(x.expand(300, 1, 2).contiguous())
    np.testing.assert_allclose(lay.states[0], out[-1, 0].numpy(), atol=1e-12)
    assert Settings().tol < Settings().max_q


def test_flipflop_task_targets_hold_the_last_pulse():
    from rnndyn.tasks import get_task

    task = get_task("flipflop", k=2, T=30, p=0.1)
    data = task.generate(3, n_train=4, n_val=2, n_test=50)
    x, y = data.x_test.numpy(), data.y_test.numpy()
    assert x.shape == y.shape == (50, 30, 2) and task.spec.readout == "every"
    assert set(np.unique(x)) <= {-1.0, 0.0, 1.0} and (x[:, 0] != 0).all()
    held = np.zeros_like(y)
    for t in range(30):  # independent route: an explicit scan
        held[:, t] = np.where(x[:, t] != 0, x[:, t], held[:, t - 1] if t else 0)
    np.testing.assert_array_equal(y, held)
    assert task.evaluate(torch.zeros_like(data.y_test), data.y_test) == pytest.approx(1.0)
    assert 0.05 < (x[:, 1:] != 0).mean() < 0.15
    with pytest.raises(UsageError):
        get_task("flipflop", p=0)
