"""Sampling the eigen law: exact spectra, per-gate blocks, baselines' defining properties, shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from planted import matched_error
from scipy import stats

from rnndyn.errors import UsageError
from rnndyn.init.law import Dist, EigenInitParams, TargetLaw
from rnndyn.init.sample import (
    block_matrix,
    eigen_,
    eigen_bias_,
    real_count,
    sample_basis,
    sample_eigenvalues,
    sample_matrix,
)
from rnndyn.spectrum import eigendecompose


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def eigs(w: torch.Tensor) -> np.ndarray:
    return np.linalg.eigvals(w.detach().double().numpy())


VM = Dist("vonmises", {"weights": [0.6, 0.4], "locs": [0.4, 2.3], "kappas": [6.0, 2.0]}, "phase")
LAW = EigenInitParams(
    {
        "hh": TargetLaw(
            Dist("beta", {"a": 4.0, "b": 1.5, "low": 0.0, "high": 1.05}),
            VM,
            real_fraction=0.25,
            positive_fraction=0.75,
        )
    }
)


# -- baselines -------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 7, 64])
def test_orthogonal_law_gives_orthogonal_matrices(n):
    w = eigen_(
        torch.empty(n, n, dtype=torch.float64), EigenInitParams.orthogonal(), generator=gen(n)
    )
    torch.testing.assert_close(w.T @ w, torch.eye(n, dtype=torch.float64), atol=1e-12, rtol=0)
    np.testing.assert_allclose(np.abs(eigs(w)), 1.0, atol=1e-10)


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_irnn_law_gives_the_scaled_identity(scale):
    w = eigen_(torch.empty(9, 9), EigenInitParams.irnn(scale), generator=gen())
    assert torch.equal(w, scale * torch.eye(9))
    w = eigen_(torch.empty(12, 3), EigenInitParams.irnn(scale), layout="lstm", generator=gen())
    assert torch.equal(w, scale * torch.eye(3).repeat(4, 1))


def test_lru_ring_moduli_squared_are_uniform():
    r_min, r_max, max_phase = 0.4, 0.99, 3.0
    n = 512
    w = eigen_(
        torch.empty(n, n, dtype=torch.float64),
        EigenInitParams.lru_ring(r_min, r_max, max_phase),
        generator=gen(3),
    )
    lam = eigs(w)
    upper = lam[lam.imag > 0]
    assert len(upper) == n // 2
    u = (np.abs(upper) ** 2 - r_min**2) / (r_max**2 - r_min**2)
    assert stats.kstest(u, "uniform").pvalue > 0.01
    assert stats.kstest(np.angle(upper) / max_phase, "uniform").pvalue > 0.01
    assert stats.kstest(u, stats.beta(1.3, 1).cdf).pvalue < 0.01  # the test has power


# -- the spectrum matches the law ------------------------------------------------------------------


def check_law(n: int, seed: int) -> None:
    law = LAW.targets["hh"]
    lam = eigs(eigen_(torch.empty(n, n, dtype=torch.float64), LAW, generator=gen(seed)))
    is_real = np.abs(lam.imag) < 1e-9
    upper = lam[lam.imag > 1e-9]
    assert abs(is_real.mean() - law.real_fraction) <= 2 / n + 1e-12
    assert stats.kstest(np.abs(upper), law.radius.cdf).pvalue > 0.01
    assert stats.kstest(np.angle(upper), law.phase.cdf).pvalue > 0.01
    reals = lam.real[is_real]
    assert stats.kstest(np.abs(reals), law.radius.cdf).pvalue > 0.01
    assert stats.binomtest(int((reals > 0).sum()), len(reals), 0.75).pvalue > 0.01
    # power: a wrong law is told apart at this size
    assert stats.kstest(np.abs(upper), stats.uniform(0, 1.05).cdf).pvalue < 0.01


def test_spectrum_matches_the_law_512():
    check_law(512, seed=11)


@pytest.mark.slow
def test_spectrum_matches_the_law_2048():
    check_law(2048, seed=12)


def test_real_count_has_the_right_parity_and_mean():
    for n in (1, 2, 5, 8, 33):
        for frac in (0.0, 0.13, 0.5, 0.99, 1.0):
            counts = [real_count(frac, n, u) for u in np.linspace(0, 1, 1000, endpoint=False)]
            assert all(k % 2 == n % 2 and 0 <= k <= n for k in counts)
            if n % 2 <= frac * n <= n:
                assert np.mean(counts) == pytest.approx(frac * n, abs=2e-3)


# -- exactness: eigenvalues of W are the drawn ones ------------------------------------------------


@st.composite
def laws(draw):
    radius = draw(
        st.sampled_from(
            [
                Dist("beta", {"a": 2.0, "b": 0.7, "low": 0.0, "high": 1.2}),
                Dist("ring", {"r_min": 0.0, "r_max": 1.0}),
                Dist("truncnorm", {"mu": 0.9, "sigma": 0.2, "low": 0.0, "high": 1.3}),
                Dist("empirical", {"quantiles": [0.05, 0.5, 0.6, 1.1]}),
                Dist("point", {"value": 0.8}),
            ]
        )
    )
    phase = draw(
        st.sampled_from(
            [
                VM,
                Dist("uniform", {"low": 0.0, "high": 6.0}, "phase"),
                Dist("point", {"value": 1.0}, "phase"),
            ]
        )
    )
    frac = draw(st.floats(0.0, 1.0))
    law = TargetLaw(radius, phase, real_fraction=frac, positive_fraction=draw(st.floats(0, 1)))
    return EigenInitParams({"hh": law}, condition=draw(st.sampled_from([1.0, 4.0])))


@settings(max_examples=40, deadline=None)
@given(params=laws(), n=st.integers(1, 40), seed=st.integers(0, 2**31 - 1))
def test_sampled_eigenvalues_are_recovered_exactly(params, n, seed):
    drawn = sample_eigenvalues(params, n, generator=gen(seed))
    w = eigen_(torch.empty(n, n, dtype=torch.float64), params, generator=gen(seed))
    got = eigendecompose(w.numpy(), diagnostics=False)[0].eigenvalues
    assert len(drawn) == n
    assert matched_error(got, drawn) <= 1e-9 * params.condition**2 * max(1.0, np.abs(drawn).max())
    np.testing.assert_array_equal(np.sort_complex(drawn), np.sort_complex(drawn.conj()))


def test_block_matrix_is_exact_and_needs_conjugate_pairs():
    lam = np.array([0.3 + 0.4j, 0.3 - 0.4j, -0.5, 1.0 + 0j, 0.1j, -0.1j])
    b = block_matrix(lam)
    assert matched_error(np.linalg.eigvals(b), lam) < 1e-15
    np.testing.assert_array_equal(b[:2, :2], [[0.3, -0.4], [0.4, 0.3]])
    with pytest.raises(ValueError, match="conjugate pairs"):
        block_matrix(np.array([0.3 + 0.4j, 0.3 + 0.4j]))


@pytest.mark.parametrize("condition", [1.0, 10.0, 1e3])
def test_basis_has_the_requested_condition_number(condition):
    p, p_inv = sample_basis(40, condition=condition, generator=gen())
    assert np.linalg.cond(p.numpy()) == pytest.approx(condition, rel=1e-9)
    torch.testing.assert_close(p @ p_inv, torch.eye(40, dtype=torch.float64), atol=1e-10, rtol=0)


def test_condition_knob_makes_w_non_normal_with_the_same_eigenvalues():
    normal = EigenInitParams(LAW.targets, condition=1.0)
    skew = EigenInitParams(LAW.targets, condition=50.0)
    (w1, lam1), (w2, lam2) = (
        sample_matrix(p, 64, generator=gen(5), return_eigenvalues=True) for p in (normal, skew)
    )
    np.testing.assert_array_equal(lam1, lam2)  # eigenvalues are drawn before the basis
    torch.testing.assert_close(w1 @ w1.T, w1.T @ w1, atol=1e-12, rtol=0)
    s1, s2 = eigendecompose(np.stack([w1.numpy(), w2.numpy()]))
    assert s1.departure_from_normality < 1e-7 < 0.1 < s2.departure_from_normality
    assert matched_error(s2.eigenvalues, lam2) < 1e-8


# -- layouts, gates, shapes, determinism -----------------------------------------------------------


def point_law(values: dict[str, float]) -> EigenInitParams:
    phase = Dist("uniform", {"low": 0.0, "high": math.pi}, "phase")
    return EigenInitParams(
        {t: TargetLaw(Dist("point", {"value": v}), phase) for t, v in values.items()}
    )


@pytest.mark.parametrize(
    ("layout", "values"),
    [
        ("lstm", {"i": 0.1, "f": 0.9, "g": 0.5, "o": 0.3}),
        ("gru", {"r": 0.2, "z": 0.95, "n": 0.6}),
    ],
)
def test_each_gate_law_lands_in_its_row_block(layout, values):
    h = 6
    w = eigen_(torch.empty(len(values) * h, h), point_law(values), layout=layout, generator=gen())
    for k, (gate, radius) in enumerate(values.items()):
        block = w[k * h : (k + 1) * h]
        np.testing.assert_allclose(np.abs(eigs(block)), radius, atol=1e-6, err_msg=gate)
    single = eigen_(torch.empty(h, h), point_law(values), gate=list(values)[1], generator=gen())
    np.testing.assert_allclose(np.abs(eigs(single)), list(values.values())[1], atol=1e-6)


def test_layout_rnn_and_star_laws():
    w = eigen_(torch.empty(5, 5), point_law({"hh": 0.7}), layout="rnn", generator=gen())
    np.testing.assert_allclose(np.abs(eigs(w)), 0.7, atol=1e-6)
    w = eigen_(torch.empty(15, 5), EigenInitParams.orthogonal(), layout="gru", generator=gen())
    np.testing.assert_allclose(np.abs(eigs(w[10:])), 1.0, atol=1e-6)


@pytest.mark.parametrize(
    ("shape", "kw"),
    [
        ((5,), {}),
        ((2, 3, 3), {}),
        ((5, 4), {}),
        ((12, 3), {"layout": "gru"}),
        ((16, 3), {"layout": "lstm"}),  # an LSTM weight_hh with proj_size: (4H, P)
        ((4, 4), {"layout": "lstm"}),
        ((0, 0), {}),
        ((4, 4), {"layout": "transformer"}),
        ((4, 4), {"layout": "gru", "gate": "f"}),
        ((4, 4), {"gate": "q"}),
    ],
)
def test_wrong_shapes_and_layouts_raise_value_error(shape, kw):
    with pytest.raises(ValueError):
        eigen_(torch.empty(shape), EigenInitParams.orthogonal(), **kw)


def test_missing_target_is_a_usage_error():
    with pytest.raises(UsageError, match="no target 'f'"):
        eigen_(torch.empty(4, 4), point_law({"hh": 0.5}), gate="f")
    with pytest.raises(UsageError, match="several targets"):
        eigen_(torch.empty(4, 4), point_law({"i": 0.5, "f": 0.5, "g": 0.5, "o": 0.5}))


def test_in_place_no_grad_deterministic_and_dtype_preserving(tmp_path):
    law = EigenInitParams({"*": LAW.targets["hh"]})
    p = torch.nn.Parameter(torch.zeros(24, 6))
    out = eigen_(p, law.save(tmp_path / "law.json"), layout="lstm", generator=gen(1))  # a path
    assert out is p and p.dtype == torch.float32 and p.grad_fn is None and p.requires_grad
    again = eigen_(torch.zeros(24, 6), law, layout="lstm", generator=gen(1))
    other = eigen_(torch.zeros(24, 6), law, layout="lstm", generator=gen(2))
    assert torch.equal(p.detach(), again) and not torch.equal(again, other)
    torch.manual_seed(0)
    a = eigen_(torch.zeros(6, 6), LAW)
    torch.manual_seed(0)
    assert torch.equal(a, eigen_(torch.zeros(6, 6), LAW))  # global RNG without a generator


def test_gate_bias_rules_fill_only_their_slices():
    params = EigenInitParams(
        point_law({"f": 0.5}).targets,
        gate_biases={"f": {"mean": 1.0, "std": 0.0}, "o": {"mean": -2.0, "std": 0.5}},
    )
    b = torch.full((16,), 7.0)
    eigen_bias_(b, params, layout="lstm", generator=gen())
    assert torch.all(b[:4] == 7.0) and torch.all(b[4:8] == 1.0) and torch.all(b[8:12] == 7.0)
    assert b[12:].std() > 0 and abs(b[12:].mean() + 2.0) < 1.5
    with pytest.raises(ValueError):
        eigen_bias_(torch.zeros(10), params, layout="lstm")
