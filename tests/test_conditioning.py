"""Eigenvalue error bounds from the stored precision, and the unit circle with a tolerance.

Independent routes: planted spectra (W = P·B·P⁻¹), the float64 original a float32 matrix was
rounded from, batches of random perturbations of the size the bound assumes, and a Jordan block
whose eigenvalues move like ε^{1/n}.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from planted import planted
from scipy.optimize import linear_sum_assignment

from rnndyn.conditioning import (
    UNIT_ROUNDOFF,
    classify,
    eigenvalue_bounds,
    format_bounded,
    on_unit_circle,
    schur_radius,
    unit_roundoff,
)
from rnndyn.spectrum import eigendecompose

U32 = UNIT_ROUNDOFF["float32"]


def _orthogonal32(h: int, seed: int = 0) -> np.ndarray:
    torch.manual_seed(seed)
    w = torch.empty(h, h)
    torch.nn.init.orthogonal_(w)
    return w.numpy()


def _matched(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``|a_i − b_π(i)|`` per ``i`` under the optimal matching ``π``."""
    cost = np.abs(a[:, None] - b[None, :])
    r, c = linear_sum_assignment(cost)
    out = np.empty(len(a))
    out[r] = cost[r, c]
    return out


def test_unit_roundoff_of_each_stored_dtype():
    assert unit_roundoff(torch.float32) == unit_roundoff(np.float32) == 2.0**-24
    assert unit_roundoff("bfloat16") == 2.0**-8 and unit_roundoff(torch.float16) == 2.0**-11
    assert unit_roundoff("float64") == unit_roundoff("int64") == 2.0**-53


@pytest.mark.parametrize("h", [64, 256])
def test_float32_orthogonal_is_on_the_circle_not_outside(h):
    w = _orthogonal32(h)
    old = int((np.abs(np.linalg.eigvals(w.astype(np.float64))) > 1).sum())
    assert old > 0  # what a plain |λ| > 1 count says: rounding alone puts some "outside"
    s = eigendecompose(w)[0]
    assert s.dtype == "float32" and s.roundoff == U32
    assert s.n_outside_unit_circle == 0 and s.n_on_unit_circle == h
    assert s.error_bound.max() <= 1e-5
    assert not np.isfinite(s.timescales).any()  # no finite timescale at all, so none above 1e6
    doc = s.to_dict()
    assert doc["timescales"] == [None] * h and doc["unit_circle"] == ["on"] * h
    lo, hi = doc["spectral_radius_interval"]
    assert lo <= 1.0 <= hi and hi - lo <= 2e-5
    # the same matrix stored in float64 is known far better: the bound shrinks with u
    s64 = eigendecompose(w.astype(np.float64))[0]
    assert s64.error_bound.max() < 1e-12


def test_lstm_orthogonal_gate_blocks_through_a_checkpoint(tmp_path):
    from rnndyn.analysis import analyze

    torch.manual_seed(1)
    lstm = torch.nn.LSTM(3, 64)
    with torch.no_grad():
        for g in range(4):
            torch.nn.init.orthogonal_(lstm.weight_hh_l0[g * 64 : (g + 1) * 64])
    torch.save(lstm.state_dict(), tmp_path / "lstm.pt")
    doc = analyze(tmp_path / "lstm.pt").to_dict()
    assert len(doc["matrices"]) == 4
    for m in doc["matrices"]:
        assert m["stored_dtype"] == "float32" and m["n_outside_unit_circle"] == 0
        assert m["n_on_unit_circle"] == 64 and max(m["error_bound"]) <= 1e-5
        assert all(t is None for t in m["timescales"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_planted_normal_one_plus_minus_1e3_still_classified(dtype):
    rng = np.random.default_rng(4)
    real = [1.001, 0.999, -1.001, -0.999, 0.5]
    pairs = [1.001 * np.exp(0.7j), 0.999 * np.exp(2.1j), 1.0 * np.exp(1.3j)]
    w, _ = planted(real, pairs, rng)
    s = eigendecompose(w.astype(dtype))[0]
    r, cls = s.moduli, s.unit_circle
    assert (cls[np.isclose(r, 1.001, atol=1e-6)] == "outside").all()
    assert (cls[np.isclose(r, 0.999, atol=1e-6)] == "inside").all()
    assert (cls[np.isclose(r, 1.0, atol=1e-6)] == "on").all()
    assert s.n_outside_unit_circle == 4 and s.n_on_unit_circle == 2
    inside = cls == "inside"
    assert np.isfinite(s.timescales[inside]).all() and not np.isfinite(s.timescales[~inside]).any()


def _non_normal(seed: int, cond: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    real = np.concatenate([[0.96], rng.uniform(0.2, 0.9, 15)])
    pairs = rng.uniform(0.2, 0.9, 24) * np.exp(1j * rng.uniform(0.1, 3.0, 24))
    return planted(real, pairs, rng, cond=cond)[0]


@pytest.mark.parametrize("cond", [1e3, 3e4])
def test_bound_covers_what_rounding_to_float32_really_does(cond):
    w64 = _non_normal(0, cond)
    s64, s32 = eigendecompose(w64)[0], eigendecompose(w64.astype(np.float32))[0]
    moved = _matched(s32.eigenvalues, s64.eigenvalues)
    assert moved.max() > 100 * U32  # rounding really moved them (the case is not trivial)
    assert (moved <= s32.error_bound).all()
    top = abs(s32.moduli[0] - s64.moduli[0])
    assert top <= s32.error_bound[0]
    # the radius interval covers the float64 original's radius
    lo, hi = s32.to_dict()["spectral_radius_interval"]
    assert lo <= s64.spectral_radius <= hi


def _perturbation_experiment(w: np.ndarray, trials: int, seed: int) -> np.ndarray:
    """Largest ``|δλ_i|`` per eigenvalue over random ``E`` with ``‖E‖₂ = u₃₂·‖W‖F``."""
    rng = np.random.default_rng(seed)
    lam = np.linalg.eigvals(w)
    g = rng.standard_normal((trials, *w.shape))
    g *= (U32 * np.linalg.norm(w) / np.linalg.norm(g, 2, axis=(1, 2)))[:, None, None]
    mu = np.linalg.eigvals(w[None] + g)
    worst = np.zeros(len(lam))
    for m in mu:
        worst = np.maximum(worst, _matched(lam, m))
    return lam, worst


@pytest.mark.parametrize("cond", [None, 1e2, 3e3])
def test_random_perturbations_stay_within_the_bound(cond):
    rng = np.random.default_rng(7)
    real = rng.uniform(-0.95, 0.95, 8)
    pairs = rng.uniform(0.3, 1.0, 12) * np.exp(1j * rng.uniform(0.1, 3.0, 12))
    w, _ = planted(real, pairs, rng, cond=cond)
    lam, worst = _perturbation_experiment(w, 300, 1)
    # the bound W would get if stored in float32: ε = (u₃₂ + residual)·‖W‖F
    s = replace(eigendecompose(w)[0], roundoff=U32, dtype="float32")
    order = linear_sum_assignment(np.abs(lam[:, None] - s.eigenvalues[None, :]))[1]
    bound = s.error_bound[order]
    assert (worst <= bound).all()
    if cond is not None:  # κ matters: u·‖W‖ alone would not cover the observed motion
        assert worst.max() > 2 * U32 * np.linalg.norm(w)


def test_defective_jordan_block_moves_like_the_nth_root_and_the_bound_covers_it():
    n, lam0, eps = 4, 0.5, 1e-8
    j = lam0 * np.eye(n) + np.diag(np.ones(n - 1), 1)
    pert = j.copy()
    pert[-1, 0] = eps  # eigenvalues λ₀ + ε^{1/4}·(4th roots of unity)
    moved = np.abs(np.linalg.eigvals(pert) - lam0).max()
    assert moved == pytest.approx(eps ** (1 / n), rel=1e-3)
    _, bound, cls = eigenvalue_bounds(j, roundoff=eps / np.linalg.norm(j))
    assert (bound >= moved).all() and (bound < 1.0).all()  # the Schur bound, not the trivial one
    assert (cls == "inside").all()  # 0.5 + 0.01 stays inside
    # schur_radius: normal matrices get δ = ε, a Jordan block about (ε ν^{n−1})^{1/n}
    assert schur_radius(1e-6, 0.0, 10) == 1e-6
    assert schur_radius(eps, 3**0.5, n) >= moved


def test_classify_and_on_unit_circle_agree():
    lam = np.array([1.0 + 1e-6, 1.0 - 1e-6, 1.01, 0.99j, -1.0])
    b = np.array([2e-6, 2e-6, 1e-3, 1e-3, 0.0])
    assert classify(lam, b).tolist() == ["on", "on", "outside", "inside", "on"]
    assert on_unit_circle(lam, b).tolist() == [True, True, False, False, True]


def test_eigenvalue_bounds_match_eigendecompose():
    w = _non_normal(3, 30.0).astype(np.float32)
    lam, bound, cls = eigenvalue_bounds(w, dtype="float32")
    s = eigendecompose(w)[0]
    order = linear_sum_assignment(np.abs(lam[:, None] - s.eigenvalues[None, :]))[1]
    np.testing.assert_allclose(bound, s.error_bound[order], rtol=1e-6)
    assert cls.tolist() == s.unit_circle[order].tolist()


def test_printed_digits_follow_the_bound():
    assert format_bounded(1.0000000579, 4.8e-7) == "1.000"
    assert format_bounded(1.0000000579, 4.8e-7, sig=10) == "1.0000001"
    assert format_bounded(0.9612345678, 0.0098) == "0.961"
    assert format_bounded(2.5, 3.0) == "2"
    assert format_bounded(0.123456789, float("nan")) == "0.1235"


@settings(max_examples=300, deadline=None)
@given(st.floats(-17, 2), st.floats(-10, 3), st.integers(1, 600))
def test_schur_radius_is_the_root_rounded_up(log_eps, log_nu, n):
    """``δ`` solves ``ε Σ_{k<n} ν^k/δ^{k+1} = 1``, never below the root (the bound must stay
    rigorous): the left side is ≤ 1 at δ and > 1 just below it."""
    eps, nu = 10.0**log_eps, 10.0**log_nu
    d = schur_radius(eps, nu, n)
    k = np.arange(n)

    def log_left(delta: float) -> float:
        terms = math.log(eps) + k * math.log(nu) - (k + 1) * math.log(delta)
        top = terms.max()
        return float(top + math.log(np.exp(terms - top).sum()))

    assert log_left(d) <= 1e-11  # at or above the root (up to the rounding of this check)
    assert log_left(d * (1 - 1e-10)) > 0  # and within 1e-10 of it
