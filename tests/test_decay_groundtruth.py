"""Ground truth for the per-mode measurements in the nonlinear regime: run the real torch module
twice — from the probe's state ``s`` and from ``s + εb`` (``b`` a mode's basis vector) — and compare
``(run₂ − run₁)/ε`` with what ``measure_decay`` reports from its Jacobian products: the own-amplitude,
eigenspace-fraction (oblique), eigenspace-projection (orthogonal) and whole-norm curves, the own rate and the whole rate. tanh RNN, LSTM and GRU,
under a strong noise probe and a task probe; agreement improves as ε → 0."""

import numpy as np
import pytest
import torch
from torch import nn

from rnndyn.decay.measure import measure_decay
from rnndyn.dynamics.jacobian import jacobian_operators
from rnndyn.dynamics.modal import real_basis
from rnndyn.dynamics.probes import make_probe
from rnndyn.dynamics.trajectories import simulate
from rnndyn.operators import find_modules
from rnndyn.readers.checkpoint import Checkpoint
from rnndyn.spectrum import eigendecompose

K, B, H = 12, 6, 6


def module(arch: str, d: int) -> nn.RNNBase:
    torch.manual_seed(3)
    cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[arch]
    net = cls(d, H, batch_first=True).double()
    with torch.no_grad():  # a strong recurrence: |λ(W_hh)| well above 1, saturating on the probe
        net.weight_hh_l0.mul_(3.0)
    return net.requires_grad_(False)


def run(net: nn.RNNBase, x: torch.Tensor, state) -> list[torch.Tensor]:
    """The module itself, one step at a time (LSTM: keep c); full states ``[h; c]`` after each step."""
    out = []
    for t in range(x.shape[1]):
        _, state = net(x[:, t : t + 1], state)
        out.append(
            torch.cat([state[0][0], state[1][0]], -1) if isinstance(state, tuple) else state[0]
        )
    return out


def finite_difference(net, arch, x, basis, eps):
    """Batch-mean curves ``(G, K+1)`` of log own amplitude, eigenspace fraction, log norm, and the
    per-element logs ``(B, G, K+1)`` of the own amplitude and norm, from ``(run(s + εb) − run(s))/ε``."""
    t0 = x.shape[1] - K
    _, state = net(x[:, :t0])
    h0 = state
    cols = torch.from_numpy(basis.columns)  # (n, c): the mode's real basis vectors, as they are
    c = cols.shape[1]
    xr = x[:, t0:].repeat_interleave(c, 0)  # (B·c, K, D)
    if arch == "lstm":
        h, cc = (s[0].repeat_interleave(c, 0) for s in h0)
        dh, dc = cols[:H].T.repeat(B, 1), cols[H:].T.repeat(B, 1)
        base = run(net, xr, (h[None], cc[None]))
        pert = run(net, xr, ((h + eps * dh)[None], (cc + eps * dc)[None]))
        start = torch.cat([dh, dc], -1)
    else:
        h = h0[0].repeat_interleave(c, 0)
        dh = cols.T.repeat(B, 1)
        base, pert = run(net, xr, h[None]), run(net, xr, (h + eps * dh)[None])
        start = dh
    delta = torch.stack(
        [start] + [(p - b) / eps for p, b in zip(pert, base, strict=True)]
    )  # (K+1, B·c, n)
    delta = delta.view(K + 1, B, c, -1)
    rows = torch.from_numpy(basis.rows)  # (c, n)
    group = torch.from_numpy(basis.col_group)
    y = torch.einsum("jn,kbin->kbij", rows, delta)  # (K+1, B, c_start, c_row)
    same = (group[:, None] == group[None, :]).double()  # own-block rows of each start column
    own2 = (y * y * same).sum(-1)  # (K+1, B, c)
    proj = torch.einsum("nj,kbij->kbin", torch.from_numpy(basis.columns), y * same)
    share = (proj * proj).sum(-1) / (delta * delta).sum(-1)
    norm2 = (delta * delta).sum(-1)
    n_groups = basis.n_groups
    onehot = torch.nn.functional.one_hot(group, n_groups).double()  # (c, G)
    size = onehot.sum(0)
    log_amp = 0.5 * torch.log(own2 @ onehot)
    log_amp = log_amp - log_amp[0]
    frac = torch.sqrt((share @ onehot) / size)
    log_norm = 0.5 * torch.log(norm2 @ onehot)
    log_norm = log_norm - log_norm[0]
    # orthogonal projection of each start column's δ onto its own group's span (least squares)
    ortho2 = torch.empty_like(norm2)
    for j in range(c):
        span = cols[:, group == group[j]]  # (n, 1 or 2)
        q = span @ torch.linalg.pinv(span)  # (n, n) orthogonal projector
        pd = torch.einsum("mn,kbn->kbm", q, delta[:, :, j])
        ortho2[:, :, j] = (pd * pd).sum(-1) / norm2[:, :, j]
    ortho = torch.sqrt((ortho2 @ onehot) / size)
    return {
        "own": log_amp.permute(1, 2, 0).numpy(),  # (B, G, K+1)
        "frac": frac.mean(1).T.numpy(),
        "ortho": ortho.mean(1).T.numpy(),
        "norm": log_norm.permute(1, 2, 0).numpy(),
    }


CASES = [
    ("rnn", "noise:2"),
    ("lstm", "noise:2"),
    ("gru", "noise:2"),
    ("rnn", "task:adding"),
    ("lstm", "task:adding"),
    ("gru", "task:adding"),
]


@pytest.mark.parametrize(("arch", "probe"), CASES)
def test_jacobian_products_equal_finite_perturbations_of_the_real_module(arch, probe):
    d = 2  # the adding task's input size
    net = module(arch, d)
    ckpt = Checkpoint("net.pt", "0" * 64, "torch-zip", dict(net.state_dict()), {})
    res = measure_decay(
        ckpt,
        probe=probe,
        steps=K,
        modes=4,
        batch=B,
        memory=False,
        lyapunov=False,
        dtype=torch.float64,
        min_fit_steps=3,
    )
    md = res[0]
    assert np.isfinite(md.measured_rate).any()  # some own rates were fitted, and are checked below
    (mod,) = find_modules(ckpt)
    x = torch.from_numpy(make_probe(probe, mod, steps=K, batch=B).inputs).double()
    # the same modal basis, rebuilt: W_hh for the RNN, the mean Jacobian over the window otherwise
    if arch == "rnn":
        op = net.weight_hh_l0.numpy()
    else:
        traj = simulate(ckpt, x.numpy(), dtype=torch.float64)
        (op,) = jacobian_operators(ckpt, traj=traj, start=x.shape[1] - K, kinds=("mean",))
    basis = real_basis(eigendecompose(op)[0], 4)
    np.testing.assert_allclose(basis.eigenvalues, md.eigenvalues, atol=1e-9)
    g = basis.mode_group
    errors = []
    for eps in (1e-3, 1e-6):
        fd = finite_difference(net, arch, x, basis, eps)
        own = fd["own"].mean(0)[g]
        ok = md.eigenspace_fraction > 1e-3  # own coordinates resolvable against the whole
        errors.append(
            max(
                np.abs(own - md.log_curve)[ok].max(),
                np.abs(fd["norm"].mean(0)[g] - md.norm_curve).max(),
                np.abs(fd["frac"][g] - md.eigenspace_fraction).max(),
                np.abs(fd["ortho"][g] - md.eigenspace_projection).max(),
            )
        )
    assert errors[1] < 1e-4 and errors[1] < errors[0]  # converges as ε → 0
    assert (md.eigenspace_projection <= 1 + 1e-12).all()
    # rates from the finite-difference curves, fitted the same way (per element, then mean)
    whole = np.exp((fd["norm"][..., -1] / K).mean(0))[g]
    np.testing.assert_allclose(whole, md.whole_rate, rtol=1e-5)
    lo, hi = md.whole_rate_ci.T
    assert ((lo <= whole) & (whole <= hi)).all()
    for i in np.flatnonzero(np.isfinite(md.measured_rate)):
        k = md.fit_steps[i]
        slopes = np.polyfit(np.arange(k + 1), fd["own"][:, g[i], : k + 1].T, 1)[0]
        own_rate = np.exp(slopes.mean())
        assert own_rate == pytest.approx(md.measured_rate[i], rel=1e-5)
        assert md.measured_rate_ci[i, 0] <= own_rate <= md.measured_rate_ci[i, 1]


def test_float32_default_agrees_with_float64_within_the_interval():
    net = module("gru", 2)
    ckpt = Checkpoint("net.pt", "0" * 64, "torch-zip", dict(net.state_dict()), {})
    kw = dict(probe="noise:2", steps=K, modes=4, batch=B, memory=False, lyapunov=False)
    lo = measure_decay(ckpt, **kw)[0]
    hi = measure_decay(ckpt, dtype=torch.float64, **kw)[0]
    np.testing.assert_allclose(lo.whole_rate, hi.whole_rate, rtol=1e-4)
    both = np.isfinite(lo.measured_rate) & np.isfinite(hi.measured_rate)
    np.testing.assert_allclose(lo.measured_rate[both], hi.measured_rate[both], rtol=1e-4)
