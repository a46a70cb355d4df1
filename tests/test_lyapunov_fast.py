"""The Lyapunov QR method with re-orthonormalisation intervals, and the torch-free vanilla-RNN path
(issue 29, item 4): both against an independent QR-every-step recursion written here in NumPy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rnndyn.decay.lyapunov as lyap

ROOT = Path(__file__).resolve().parents[1]


def reference(w, u, x, k, warmup, q0, relu=False):
    """Benettin's QR method with a QR after every step, per sequence (x: (T, B, D))."""
    t_len, b = x.shape[:2]
    out = np.zeros((b, k))
    for j in range(b):
        h, q = np.zeros(w.shape[0]), q0[:, j]
        acc = np.zeros(k)
        for t in range(t_len):
            pre = w @ h + u @ x[t, j]
            h = np.maximum(pre, 0) if relu else np.tanh(pre)
            a = (pre > 0).astype(float) if relu else 1 - h**2
            q, r = np.linalg.qr(a[:, None] * (w @ q))
            if t >= warmup:
                acc += np.log(np.abs(np.diag(r)))
        out[j] = np.sort(acc / (t_len - warmup))[::-1]
    return out


def network(h, gain, seed=0):
    rng = np.random.default_rng(seed)
    return gain * rng.standard_normal((h, h)) / np.sqrt(h), rng.standard_normal((h, 2))


@pytest.mark.parametrize(
    "gain", [0.9, 2.5]
)  # contracting, and chaotic (a wide spread of exponents)
def test_rnn_path_matches_qr_every_step(gain):
    w, u = network(30, gain)
    x = np.random.default_rng(1).standard_normal((400, 3, 2))
    k, warm = 12, 100
    ls = lyap.rnn_lyapunov_spectrum(w, u, x, k, warmup=warm, seed=4)
    q0 = lyap.orthonormalize(np.random.default_rng(4).standard_normal((30, 3, k)))[0]
    ref = reference(w, u, x, k, warm, q0)  # chaos amplifies the rounding of the two simulations
    np.testing.assert_allclose(ls.per_sample, ref, atol=1e-9 if gain < 1 else 1e-6, rtol=0)
    assert ls.steps == 300 and ls.exponents[0] > ls.exponents[-1]
    if gain > 2:
        assert ls.exponents[0] > 0  # the chaotic regime really is one


def test_intervals_are_used_and_agree_with_interval_one(monkeypatch):
    w, u = network(30, 1.2)
    x = np.random.default_rng(2).standard_normal((300, 2, 2))
    calls = []
    real = lyap.orthonormalize

    def counting(q):
        calls.append(1)
        return real(q)

    monkeypatch.setattr(lyap, "orthonormalize", counting)
    fast = lyap.rnn_lyapunov_spectrum(w, u, x, 8)
    n_fast = len(calls)
    monkeypatch.setattr(lyap, "MAX_INTERVAL", 1)
    slow = lyap.rnn_lyapunov_spectrum(w, u, x, 8)
    assert n_fast < (len(calls) - n_fast) / 3  # far fewer QRs than one per step
    np.testing.assert_allclose(fast.per_sample, slow.per_sample, atol=1e-10, rtol=0)
    np.testing.assert_allclose(fast.halves, slow.halves, atol=1e-10, rtol=0)


def test_relu_dead_units_give_minus_infinity():
    w, u = network(10, 1.0)
    w[:, :3] = 0.0  # units 0-2 never feed back: their directions are mapped to zero
    x = np.random.default_rng(3).standard_normal((200, 1, 2))
    ls = lyap.rnn_lyapunov_spectrum(w, u, x, 10, nonlinearity="relu")
    assert np.isneginf(ls.exponents[-3:]).all() and np.isfinite(ls.exponents[:5]).all()


def test_torch_path_agrees_with_numpy_path():
    torch = pytest.importorskip("torch")
    from rnndyn.dynamics.network import resolve_network
    from rnndyn.dynamics.trajectories import simulate
    from rnndyn.readers import Checkpoint

    w, u = network(20, 1.5)
    sd = {"weight_hh_l0": torch.from_numpy(w), "weight_ih_l0": torch.from_numpy(u)}
    ckpt = Checkpoint("x.npz", "0" * 64, "npz", sd, {"nonlinearity": "tanh"})
    x = np.random.default_rng(5).standard_normal((2, 300, 2))
    traj = simulate(ckpt, x, dtype=torch.float64)
    p = resolve_network(ckpt).layer(0, "forward", input_size=2)
    a = lyap.lyapunov_spectrum(p, traj.trace(0, "forward"), 6, dtype=torch.float64, seed=3)
    g = torch.Generator().manual_seed(3)  # the torch path's start frames
    q0 = torch.linalg.qr(torch.randn(2, 20, 6, generator=g, dtype=torch.float64))[0]
    frames = q0.permute(1, 0, 2).contiguous().numpy()
    b = lyap.rnn_lyapunov_spectrum(w, u, x.transpose(1, 0, 2), 6, frames=frames)
    np.testing.assert_allclose(a.per_sample, b.per_sample, atol=1e-9, rtol=0)
    c = lyap.lyapunov_spectrum(p, traj.trace(0, "forward"), 6, seed=3)  # float32 products
    np.testing.assert_allclose(c.exponents, b.exponents, atol=1e-4, rtol=0)


def test_rnn_path_does_not_import_torch():
    code = (
        "import sys, numpy as np\n"
        "from rnndyn.decay.lyapunov import rnn_lyapunov_spectrum\n"
        "rnn_lyapunov_spectrum(np.eye(3) * 0.5, np.ones((3, 1)), np.ones((50, 1)), 2)\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "False"


def test_run_rnn_matches_pytorch_rnn():
    torch = pytest.importorskip("torch")
    from rnndyn.dynamics.numpy_rnn import run_rnn

    for nl in ("tanh", "relu"):
        torch.manual_seed(0)
        m = torch.nn.RNN(3, 16, nonlinearity=nl).double()
        x = torch.randn(50, 4, 3, dtype=torch.float64)
        h0 = torch.randn(1, 4, 16, dtype=torch.float64)
        want = m(x, h0)[0].detach().numpy()
        sd = {k: v.detach().numpy() for k, v in m.state_dict().items()}
        states, _ = run_rnn(
            sd["weight_hh_l0"],
            sd["weight_ih_l0"],
            x.numpy(),
            bias=sd["bias_ih_l0"] + sd["bias_hh_l0"],
            nonlinearity=nl,
            h0=h0[0].numpy(),
        )
        np.testing.assert_allclose(states, want, atol=1e-12, rtol=0)


def test_torch_free_memory_capacity_of_a_linear_reservoir():
    """A delay line of 12 units in its linear regime holds exactly the last 12 inputs: R² = 1 at
    lags 0-11 and 0 beyond (i.i.d. input); run without importing torch."""
    code = """
import sys, numpy as np
from rnndyn.dynamics.numpy_rnn import run_rnn
from rnndyn.decay.memory import memory_fit
h = 12
w = np.eye(h, k=-1)  # a delay line: x_{t-k} sits in unit k for k < h
u = np.zeros((h, 1)); u[0] = 1e-4  # linear regime
x = np.random.default_rng(0).standard_normal((3000, 4, 1))
states, _ = run_rnn(w, u, x)
r2 = memory_fit(states, x, 20).r2[0, :, 0]
print(int('torch' in sys.modules), *np.round(r2, 6))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    assert out[0] == "0"  # torch was never imported
    r2 = np.array(out[1:], float)
    np.testing.assert_allclose(r2[:12], 1.0, atol=1e-4)  # lags held exactly by the line
    np.testing.assert_allclose(r2[12:], 0.0, atol=0.01)  # i.i.d. input: nothing beyond it
