import numpy as np
import pytest
import torch
from torch import nn
from torch.func import jacrev

from rnndyn.dynamics.jacobian import (
    FIXED_POINT_SOURCE,
    MEAN_SOURCE,
    apply,
    coefficient_chunks,
    fixed_point,
    jacobian_operators,
    state_map,
    step_jacobians,
)
from rnndyn.dynamics.network import layer_params
from rnndyn.dynamics.trajectories import simulate
from rnndyn.operators import extract_operators, find_modules
from rnndyn.readers.checkpoint import Checkpoint


def ckpt_of(module: nn.Module, **meta) -> Checkpoint:
    return Checkpoint("net.pt", "0" * 64, "torch-zip", dict(module.state_dict()), meta)


def make(kind: str, seed: int = 0, **kw) -> nn.Module:
    torch.manual_seed(seed)
    cls = {"rnn": nn.RNN, "relu": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[kind]
    if kind == "relu":
        kw["nonlinearity"] = "relu"
    net = cls(3, 6, dtype=torch.float64, **kw)
    with torch.no_grad():  # larger weights: gates away from 1/2, real saturation
        for name, t in net.named_parameters():
            t.mul_(2.0 if "weight" in name else 3.0)
    return net


def autograd_jacobian(net: nn.Module, h: torch.Tensor, c: torch.Tensor | None, x: torch.Tensor):
    """∂s'/∂s by torch.func.jacrev through PyTorch's own module (one step, one sample)."""
    p_out = h.shape[-1]

    def f(s):
        if c is None:
            out, _ = net(x[None, None], s[None, None])
            return out[0, 0]
        _, (h2, c2) = net(x[None, None], (s[None, None, :p_out], s[None, None, p_out:]))
        return torch.cat([h2[0, 0], c2[0, 0]])

    s = h if c is None else torch.cat([h, c])
    return jacrev(f)(s)


CASES = [("rnn", {}), ("relu", {}), ("gru", {}), ("lstm", {}), ("lstm", {"proj_size": 4})]


@pytest.mark.parametrize(("kind", "kw"), CASES)
def test_step_jacobians_equal_autograd(kind, kw):
    net = make(kind, **kw)
    ckpt = ckpt_of(net, nonlinearity="relu" if kind == "relu" else "tanh")
    (mod,) = find_modules(ckpt)
    p = layer_params(ckpt, mod, 0)
    g = torch.Generator().manual_seed(1)
    b = 4
    h = torch.randn(b, p.out_size, generator=g, dtype=torch.float64)
    c = torch.randn(b, p.hidden_size, generator=g, dtype=torch.float64) if kind == "lstm" else None
    x = torch.randn(b, 3, generator=g, dtype=torch.float64)
    jac = step_jacobians(p, h, c, x)
    assert jac.shape == (b, p.state_size, p.state_size)
    for i in range(b):
        ref = autograd_jacobian(net, h[i], None if c is None else c[i], x[i])
        torch.testing.assert_close(jac[i], ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("kind", "kw"), CASES)
def test_apply_equals_dense_product(kind, kw):
    net = make(kind, seed=3, **kw)
    ckpt = ckpt_of(net, nonlinearity="relu" if kind == "relu" else "tanh")
    (mod,) = find_modules(ckpt)
    traj = simulate(ckpt, np.random.default_rng(0).standard_normal((5, 7, 3)), dtype=torch.float64)
    p = layer_params(ckpt, mod, 0)
    x, h, c = traj.trace(0)
    coef = next(coefficient_chunks(p, x, h, c, 2, 3))
    d = torch.randn(p.state_size, 5, 4, dtype=torch.float64)
    out = apply(p, {k: v[0] for k, v in coef.items()}, d)
    jac = step_jacobians(p, h[2], None if c is None else c[2], x[2])  # (B, S, S)
    ref = torch.einsum("bij,jbm->ibm", jac, d)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-12)


def test_trajectory_states_match_step_function():
    net = make("lstm", proj_size=4)
    ckpt = ckpt_of(net)
    (mod,) = find_modules(ckpt)
    traj = simulate(ckpt, np.random.default_rng(0).standard_normal((2, 5, 3)), dtype=torch.float64)
    p = layer_params(ckpt, mod, 0)
    x, h, c = traj.trace(0)
    s_next, _ = state_map(p, torch.cat([h[3], c[3]], -1), x[3])
    torch.testing.assert_close(s_next, torch.cat([h[4], c[4]], -1))


@pytest.mark.parametrize(("kind", "kw"), CASES)
def test_fixed_point_converges_and_its_jacobian_is_autograds(kind, kw):
    net = make(kind, seed=5, **kw)
    with torch.no_grad():  # contractive enough that a unique fixed point exists
        for name, t in net.named_parameters():
            if "weight_hh" in name:
                t.mul_(0.1)
    ckpt = ckpt_of(net, nonlinearity="relu" if kind == "relu" else "tanh")
    (mod,) = find_modules(ckpt)
    p = layer_params(ckpt, mod, 0)
    x0 = torch.zeros(3, dtype=torch.float64)
    fp = fixed_point(p, x0)
    assert fp.converged and fp.residual < 1e-10
    s2, jac = state_map(p, fp.state, x0)
    torch.testing.assert_close(s2, fp.state, atol=1e-9, rtol=0)
    h = fp.state[: p.out_size]
    c = fp.state[p.out_size :] if kind == "lstm" else None
    torch.testing.assert_close(jac, autograd_jacobian(net, h, c, x0), rtol=1e-10, atol=1e-12)


def test_jacobian_operators_catalogue_bidirectional_two_layers():
    torch.manual_seed(0)
    net = nn.GRU(3, 5, num_layers=2, bidirectional=True, dtype=torch.float64)
    ckpt = ckpt_of(net)
    traj = simulate(ckpt, np.random.default_rng(0).standard_normal((4, 6, 3)), dtype=torch.float64)
    ops = jacobian_operators(ckpt, None, traj)
    assert [o.id for o in ops] == [
        "l0.fwd.jac",
        "l0.fwd.jacfp",
        "l0.rev.jac",
        "l0.rev.jacfp",
        "l1.fwd.jac",
        "l1.fwd.jacfp",
        "l1.rev.jac",
        "l1.rev.jacfp",
    ]
    assert all(o.gate == o.id.rsplit(".", 1)[1] and o.n == 5 for o in ops)
    assert all(o.identity.schema_gate == "jac" for o in ops)  # the JSON documents' value
    assert {o.source for o in ops} == {MEAN_SOURCE, FIXED_POINT_SOURCE}
    assert all(o.converged for o in ops if o.kind == "fixed_point")
    # the mean Jacobian is the average of the explicit per-step Jacobians (reverse: reversed time)
    (mod,) = find_modules(ckpt)
    p = layer_params(ckpt, mod, 1, "reverse", input_size=10)
    x, h, _ = traj.trace(1, "reverse")
    ref = step_jacobians(p, h[:-1], None, x).mean(dim=(0, 1)).numpy()
    np.testing.assert_allclose(ops[6].matrix, ref, rtol=1e-12, atol=1e-14)


def test_zero_bias_rnn_jacobians_are_w_at_the_origin():
    torch.manual_seed(0)
    net = nn.RNN(2, 6, bias=False, dtype=torch.float64)
    ckpt = ckpt_of(net)
    traj = simulate(ckpt, np.zeros((1, 4, 2)), dtype=torch.float64)
    mean, fp = jacobian_operators(ckpt, None, traj)
    (hh,) = extract_operators(ckpt)
    np.testing.assert_allclose(mean.matrix, hh.matrix, rtol=0, atol=0)
    np.testing.assert_allclose(fp.matrix, hh.matrix, rtol=0, atol=0)
    assert fp.iterations == 0 and fp.residual == 0.0
