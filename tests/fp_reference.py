"""An independent fixed-point search for tests and benchmarks: ``scipy.optimize.root`` (MINPACK's
hybrid method) on a plain-numpy step function written from PyTorch's documented equations, started
from many uniform draws over the state box; every root is then verified by the torch module's own
step and its Jacobian taken by ``torch.func.jacrev`` of that step. Shares no code with rnndyn.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import root
from torch import nn


def _sig(v: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * v))


def numpy_step(net: nn.Module, x: np.ndarray):
    """``F(s)`` of layer 0 of ``net`` (``nn.RNN``/``GRU``/``LSTM``, full state; LSTM ``[h; c]``)
    under the constant input ``x``, in numpy float64 from the module's documented equations."""
    sd = {k: v.detach().double().numpy() for k, v in net.state_dict().items()}
    w_ih, w_hh = sd["weight_ih_l0"], sd["weight_hh_l0"]
    b_ih, b_hh = sd.get("bias_ih_l0", 0.0), sd.get("bias_hh_l0", 0.0)
    gi = w_ih @ x + b_ih
    hid = net.hidden_size
    if isinstance(net, nn.GRU):

        def f(s):
            gh = w_hh @ s + b_hh
            r = _sig(gi[:hid] + gh[:hid])
            z = _sig(gi[hid : 2 * hid] + gh[hid : 2 * hid])
            n = np.tanh(gi[2 * hid :] + r * gh[2 * hid :])
            return (1 - z) * n + z * s

    elif isinstance(net, nn.LSTM):

        def f(s):
            h, c = s[:hid], s[hid:]
            a = gi + w_hh @ h + b_hh
            i, fg, g, o = (
                _sig(a[:hid]),
                _sig(a[hid : 2 * hid]),
                np.tanh(a[2 * hid : 3 * hid]),
                _sig(a[3 * hid :]),
            )
            c2 = fg * c + i * g
            return np.concatenate([o * np.tanh(c2), c2])

    else:
        act = np.tanh if net.nonlinearity == "tanh" else (lambda v: np.maximum(v, 0.0))

        def f(s):
            return act(gi + w_hh @ s + b_hh)

    return f


def module_step(net: nn.Module, s: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """One step of PyTorch's own module on the full state (LSTM ``[h; c]``)."""
    if isinstance(net, nn.LSTM):
        p = net.hidden_size
        _, (h2, c2) = net(x[None, None], (s[None, None, :p], s[None, None, p:]))
        return torch.cat([h2[0, 0], c2[0, 0]])
    out, _ = net(x[None, None], s[None, None])
    return out[0, 0]


@dataclass(frozen=True)
class Reference:
    """Distinct verified roots: ``states`` (M, S), ``eigenvalues`` (M, S), ``marginal`` (M,) (an
    eigenvalue within ``unit_tol`` of the unit circle), ``counts`` (M,) starts that reached each."""

    states: np.ndarray
    eigenvalues: np.ndarray
    marginal: np.ndarray
    counts: np.ndarray

    @property
    def isolated(self) -> np.ndarray:
        return self.states[~self.marginal]

    @property
    def n_isolated(self) -> int:
        return int((~self.marginal).sum())


def reference_points(
    net: nn.Module,
    x: np.ndarray | None = None,
    *,
    n_starts: int = 2000,
    seed: int = 0,
    c_range: float = 3.0,
    residual: float = 1e-10,
    merge: float = 1e-6,
    unit_tol: float = 1e-6,
    extra_starts: np.ndarray | None = None,
) -> Reference:
    """Every root of ``F(s) = s`` that ``scipy.optimize.root`` reaches from ``n_starts`` uniform
    draws over ``[-1, 1]^H`` (LSTM ``c`` over ``[-c_range, c_range]``) plus all ``±0.95`` corners
    when ``2^H ≤ n_starts``, kept when the torch module's own step moves it by at most
    ``residual``; roots within ``merge`` of one another are one point."""
    net = net.double()
    d = net.input_size
    x = np.zeros(d) if x is None else np.asarray(x, dtype=float)
    f = numpy_step(net, x)
    hid = net.hidden_size
    dim = 2 * hid if isinstance(net, nn.LSTM) else hid
    hi = np.ones(dim)
    if isinstance(net, nn.LSTM):
        hi[hid:] = c_range
    rng = np.random.default_rng(seed)
    starts = [rng.uniform(-hi, hi, size=(n_starts, dim))]
    if 2**hid <= n_starts and not isinstance(net, nn.LSTM):
        starts.append(0.95 * np.array(list(itertools.product((-1.0, 1.0), repeat=hid))))
    if extra_starts is not None:
        starts.append(np.asarray(extra_starts, dtype=float))
    found: list[np.ndarray] = []
    counts: list[int] = []
    xt = torch.from_numpy(x)
    for s0 in np.concatenate(starts):
        sol = root(lambda s: f(s) - s, s0, method="hybr", options={"xtol": 1e-14})
        s = sol.x
        if not np.all(np.isfinite(s)):
            continue
        with torch.no_grad():
            moved = module_step(net, torch.from_numpy(s), xt).numpy()
        if np.linalg.norm(moved - s) > residual:
            continue
        for k, g in enumerate(found):
            if np.linalg.norm(g - s) <= merge:
                counts[k] += 1
                break
        else:
            found.append(s)
            counts.append(1)
    if not found:
        return Reference(
            np.zeros((0, dim)), np.zeros((0, dim), complex), np.zeros(0, bool), np.zeros(0, int)
        )
    states = np.stack(found)
    jac = [
        torch.func.jacrev(lambda v: module_step(net, v, xt))(torch.from_numpy(s)).detach().numpy()
        for s in states
    ]
    ev = np.stack([np.linalg.eigvals(j) for j in jac])
    marginal = (np.abs(np.abs(ev) - 1.0) <= unit_tol).any(1)
    return Reference(states, ev, marginal, np.array(counts))


def matched(found: np.ndarray, reference: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """``(M_ref,)`` True where some row of ``found`` lies within ``tol`` (max-norm) of the reference."""
    if len(found) == 0 or len(reference) == 0:
        return np.zeros(len(reference), bool)
    d = np.abs(reference[:, None, :] - found[None]).max(-1)
    return d.min(1) <= tol


# The issue-23 cases, shared by tests/test_fixedpoints_coverage.py and benchmarks/.
FLIPFLOP = __import__("pathlib").Path(__file__).parent / "data" / "gru_flipflop3.pt"


def identity_no_input(a: float = 2.0, h: int = 3) -> nn.RNN:
    """tanh RNN, ``W_hh = a·I``, no input weights, no bias: ``3^H`` points, ``2^H`` stable."""
    net = nn.RNN(1, h, dtype=torch.float64)
    with torch.no_grad():
        net.weight_hh_l0.copy_(a * torch.eye(h))
        net.weight_ih_l0.zero_()
        net.bias_hh_l0.zero_()
        net.bias_ih_l0.zero_()
    return net


def gru_x4(seed: int = 0) -> nn.GRU:
    """``nn.GRU(2, 6)`` (seed 0) with ``W_hh × 4``: one isolated point and closed-gate continua."""
    torch.manual_seed(seed)
    net = nn.GRU(2, 6, dtype=torch.float64)
    with torch.no_grad():
        net.weight_hh_l0.mul_(4.0)
    return net


def flipflop_module() -> nn.GRU:
    """The bundled 3-bit flip-flop GRU (tests/data/gru_flipflop3.pt) as a float64 ``nn.GRU``."""
    from rnndyn.readers.checkpoint import load

    ck = load(FLIPFLOP)
    net = nn.GRU(3, 16, dtype=torch.float64)
    net.load_state_dict(
        {k.removeprefix("rnn."): v.double() for k, v in ck.tensors.items() if k.startswith("rnn.")}
    )
    return net


def ckpt_of(module: nn.Module, **meta):
    """An in-memory checkpoint of ``module`` (path ``net.pt``, a dummy sha256)."""
    from rnndyn.readers.checkpoint import Checkpoint

    return Checkpoint("net.pt", "0" * 64, "torch-zip", dict(module.state_dict()), meta)
