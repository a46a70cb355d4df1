"""Memory capacity against closed forms: near-linear tanh RNNs driven by i.i.d. input have
``R²_k = c_kᵀ C⁻¹ c_k`` with ``c_k = W^k u`` and ``C`` the stationary state covariance (discrete
Lyapunov equation), so the capacity is known exactly; the estimate must be unbiased (within 2%),
survive ill-conditioned state Gram matrices, never exceed the state size, and be per input channel."""

import numpy as np
import pytest
import torch
from planted import planted

from rnndyn.decay.measure import measure_decay
from rnndyn.decay.memory import memory_fit
from rnndyn.readers.checkpoint import Checkpoint


def linear_net(real, pairs, *, inputs=1, seed=0, cond=3.0, scale=1e-7):
    rng = np.random.default_rng(seed)
    w, _ = planted(real, pairs, rng, cond=cond)
    u = rng.standard_normal((w.shape[0], inputs))
    sd = {"weight_ih_l0": torch.tensor(scale * u), "weight_hh_l0": torch.tensor(w)}
    return Checkpoint("net.pt", "0" * 64, "torch-zip", sd, {}), w, u


def closed_form(w, u, lags, horizon=4000):
    """``(L+1, D)`` R² per lag and channel, ``c_kᵀ C⁻¹ c_k``, for i.i.d. unit-variance inputs, and C.

    ``C = K Kᵀ`` with ``K = [c_0, c_1, …]`` (``c_j = W^j u``, per channel), so ``c_kᵀ C⁻¹ c_k`` is the
    leverage of row ``k`` of ``Kᵀ``: the squared norm of that row of ``Q`` in ``Kᵀ = QR``. A QR is
    backward stable, so this stays accurate where ``C`` (condition number ~1e14) cannot be inverted.
    """
    cols, c = [], u.copy()
    for _ in range(horizon):
        cols.append(c)
        c = w @ c
    kt = np.stack(cols)  # (J, N, D)
    d = u.shape[1]
    q, _ = np.linalg.qr(kt.transpose(0, 2, 1).reshape(-1, w.shape[0]))  # rows (j, channel)
    lev = (q * q).sum(1).reshape(horizon, d)
    cov = np.einsum("jnd,jmd->nm", kt, kt)
    return lev[: lags + 1], cov


def spread(n, lo, hi, seed):
    """``n`` eigenvalues (``n // 4`` real, the rest in pairs) with moduli spread over ``[lo, hi]``."""
    rng = np.random.default_rng(seed)
    n_real = n // 4 + (n - n // 4) % 2
    n_pairs = (n - n_real) // 2
    mod = rng.permutation(np.geomspace(hi, lo, n_real + n_pairs))
    real = list(mod[:n_real] * np.sign(rng.standard_normal(n_real)))
    pairs = [m * np.exp(1j * rng.uniform(0.2, 3.0)) for m in mod[n_real:]]
    return real, pairs


@pytest.mark.parametrize("n", [16, 24])
def test_total_capacity_within_two_percent_of_the_closed_form(n):
    real, pairs = spread(n, 0.3, 0.95, seed=n)
    ckpt, w, u = linear_net(real, pairs, seed=n)
    lags = 120
    res = measure_decay(
        ckpt, probe="noise", steps=lags, length=1200, batch=32, lyapunov=False, modes=2
    )
    exact, _ = closed_form(w, u, lags)
    assert exact.sum() == pytest.approx(n, rel=0.01)  # i.i.d. input, generic W: MC = N
    assert res.memory_capacity == pytest.approx(exact.sum(), rel=0.02)
    assert res.memory_capacity <= n
    np.testing.assert_allclose(res.memory_function, exact[:, 0], atol=0.05)


def test_ill_conditioned_state_gram_matrix():
    """Fast and slow modes with a strongly non-normal basis: the state covariance has condition
    number > 1e14 (normal equations in float64 would lose everything); a fixed ridge would bias the
    capacity (the old 1e-4·n penalty gave 11.6 of 16 on such a net), the validated readout does not."""
    real, pairs = spread(16, 0.05, 0.97, seed=2)
    ckpt, w, u = linear_net(real, pairs, seed=2, cond=30.0)
    exact, cov = closed_form(w, u, 150)
    assert np.linalg.cond(cov) > 1e14
    res = measure_decay(
        ckpt, probe="noise", steps=150, length=1500, batch=32, lyapunov=False, modes=2
    )
    assert res.memory_capacity == pytest.approx(exact.sum(), rel=0.02)
    assert res.memory_capacity <= 16
    assert any("ill-conditioned" in n for n in res.notes)


def test_singular_features_and_the_state_size_bound():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3000, 8, 1))
    z = np.concatenate([np.roll(x, k, 0) for k in range(4)], -1)  # the last 4 inputs, exactly
    z = np.concatenate([z, z[..., :2]], -1)  # two duplicated features: a singular Gram matrix
    fit = memory_fit(z[10:], x[10:], 6)
    np.testing.assert_allclose(fit.summed[0], [1, 1, 1, 1, 0, 0, 0], atol=2e-3)
    assert np.isinf(fit.condition) or fit.condition > 1e12
    # a long-memory 4-unit net reaches its bound: the reported capacity never exceeds it
    ckpt, _, _ = linear_net([0.99, -0.98], [0.985 * np.exp(0.4j)], seed=2)
    for seed in range(3):
        res = measure_decay(
            ckpt, probe="noise", steps=300, length=700, batch=8, lyapunov=False, seed=seed
        )
        assert res.memory_capacity <= 4 + 1e-9
        assert res.memory_capacity > 3.0


def test_per_channel_r2_for_two_inputs():
    real, pairs = spread(12, 0.3, 0.9, seed=3)
    ckpt, w, u = linear_net(real, pairs, inputs=2, seed=3)
    lags = 60
    res = measure_decay(
        ckpt, probe="noise", steps=lags, length=1000, batch=32, lyapunov=False, modes=2
    )
    exact, _ = closed_form(w, u, lags)
    assert res.memory_channels.shape == (lags + 1, 2)
    assert (res.memory_channels <= 1).all() and (res.memory_channels >= 0).all()
    np.testing.assert_allclose(res.memory_channels, exact, atol=0.03)
    np.testing.assert_allclose(res.memory_capacity_by_channel, exact.sum(0), rtol=0.03)
    assert res.memory_capacity == pytest.approx(exact.sum(), rel=0.02) and res.memory_capacity <= 12
    assert "r2_c1" in res.memory_frame()
