import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from planted import matched_error, planted

from rnndyn.errors import RnndynWarning
from rnndyn.spectrum import eigendecompose, order_eigenvalues, periods, timescales


@st.composite
def spectra(draw):
    n_real = draw(st.integers(0, 6))
    n_pairs = draw(st.integers(0 if n_real else 1, 5))
    radius = st.floats(0.05, 1.3)
    real = [draw(radius) * draw(st.sampled_from([-1, 1])) for _ in range(n_real)]
    pairs = [
        draw(radius) * np.exp(1j * draw(st.floats(0.05, np.pi - 0.05))) for _ in range(n_pairs)
    ]
    seed = draw(st.integers(0, 2**31 - 1))
    return np.array(real), np.array(pairs), seed


@settings(max_examples=60, deadline=None)
@given(spectra())
def test_planted_spectrum_recovered(case):
    real, pairs, seed = case
    w, eigs = planted(real, pairs, np.random.default_rng(seed))
    s = eigendecompose(w)[0]
    assert matched_error(s.eigenvalues, eigs) <= 1e-10 * max(1.0, np.abs(eigs).max())
    assert s.residual < 1e-12
    # orthogonal basis: the eigenvector matrix is well conditioned
    assert s.eigvec_condition < 1e6


@settings(max_examples=40, deadline=None)
@given(spectra())
def test_order_pairs_adjacent_and_descending(case):
    real, pairs, seed = case
    w, _ = planted(real, pairs, np.random.default_rng(seed))
    ev = eigendecompose(w, diagnostics=False)[0].eigenvalues
    mod = np.abs(ev)
    assert np.all(np.diff(mod) <= 1e-9)
    i = 0
    while i < len(ev):
        if abs(ev[i].imag) > 1e-12:
            assert ev[i].imag > 0
            assert ev[i + 1] == pytest.approx(np.conj(ev[i]), abs=1e-12)
            i += 2
        else:
            i += 1


def test_permutation_and_similarity_invariance():
    rng = np.random.default_rng(3)
    w, eigs = planted([0.9, -0.3], [0.7 + 0.2j, 0.1 + 0.5j], rng)
    perm = np.eye(len(w))[rng.permutation(len(w))]
    base, permuted = eigendecompose(np.stack([w, perm @ w @ perm.T])).operators
    assert matched_error(base.eigenvalues, permuted.eigenvalues) < 1e-12
    assert permuted.eigvec_condition == pytest.approx(base.eigvec_condition, rel=1e-8)
    assert permuted.departure_from_normality == pytest.approx(
        base.departure_from_normality, rel=1e-8
    )
    s = rng.standard_normal((len(w), len(w)))
    similar = eigendecompose(s @ w @ np.linalg.inv(s))[0]
    assert matched_error(similar.eigenvalues, eigs) < 1e-9


def test_nonnormal_basis_reports_condition_and_departure():
    rng = np.random.default_rng(1)
    w_normal, _ = planted([0.5, 0.2], [0.6 + 0.3j], rng)
    w_skew, eigs = planted([0.5, 0.2], [0.6 + 0.3j], rng, cond=1e3)
    normal, skew = eigendecompose(np.stack([w_normal, w_skew])).operators
    assert normal.departure_from_normality < 1e-7
    assert np.allclose(normal.eigenvalue_condition, 1.0, atol=1e-7)
    assert skew.departure_from_normality > 0.1
    assert skew.eigvec_condition > 10
    assert matched_error(skew.eigenvalues, eigs) < 1e-8


def test_nilpotent_chain_warns_and_keeps_schur():
    n = 12
    chain = np.diag(np.ones(n - 1), 1)
    with pytest.warns(RnndynWarning, match="ill-conditioned"):
        s = eigendecompose(chain)[0]
    assert s.ill_conditioned
    assert s.schur is not None
    t, z = s.schur
    assert np.allclose(z @ t @ z.T, chain, atol=1e-12)
    assert np.abs(s.eigenvalues).max() < 1e-6
    assert s.to_dict()["eigvec_condition"] is None or s.to_dict()["eigvec_condition"] > 1e8


def test_timescales_half_lives_periods():
    lam = np.array([0.5, 1.0, 1.2, 0.0, -0.5, 0.9 * np.exp(1j * np.pi / 4)])
    tau = timescales(lam)
    assert tau[0] == pytest.approx(1 / np.log(2))
    assert np.isinf(tau[1]) and np.isinf(tau[2])
    assert tau[3] == 0
    assert tau[4] == pytest.approx(1 / np.log(2))
    per = periods(lam)
    assert np.isinf(per[0]) and per[4] == pytest.approx(2.0) and per[5] == pytest.approx(8.0)


def test_batched_mixed_sizes_and_json_nulls():
    rng = np.random.default_rng(0)
    w1, _ = planted([1.5, 0.5], [], rng)
    w2, _ = planted([0.1], [0.3 + 0.3j], rng)
    from rnndyn.operators import OperatorId, RecurrentOperator

    ops = [
        RecurrentOperator(OperatorId(i, "forward", "hh", "m", "custom"), w, "x")
        for i, w in enumerate([w1, w2, w1])
    ]
    spec = eigendecompose(ops)
    assert [s.n for s in spec] == [2, 3, 2]
    doc = spec[0].to_dict()
    assert doc["spectral_radius"] == pytest.approx(1.5)
    assert doc["n_outside_unit_circle"] == 1
    assert doc["timescales"][0] is None and doc["timescales"][1] == pytest.approx(1 / np.log(2))
    frame = spec.to_frame()
    assert len(frame) == 7 and set(frame.columns) >= {
        "re",
        "im",
        "modulus",
        "timescale",
        "operator",
    }


def test_order_eigenvalues_handles_non_adjacent_pairs():
    w = np.array([0.3 - 0.4j, 0.9, 0.3 + 0.4j, -0.95])
    out = w[order_eigenvalues(w)]
    assert list(out) == [-0.95, 0.9, 0.3 + 0.4j, 0.3 - 0.4j]


def test_eigvec_condition_estimate_above_exact_size_matches_svd():
    from rnndyn.conditioning import EXACT_COND_MAX_N

    rng = np.random.default_rng(5)
    n = EXACT_COND_MAX_N + 40
    real = rng.uniform(-0.9, 0.9, size=n)
    w, _ = planted(real, [], rng, cond=50.0)
    s = eigendecompose(w)[0]
    exact = np.linalg.cond(s.eigenvectors)
    assert s.eigvec_condition == pytest.approx(exact, rel=0.05)
    assert s.eigvec_condition <= exact * (1 + 1e-9)  # power iteration bounds from below
