"""Statistics with networks as replicates: effect sizes, Holm, bootstrap CIs, pooled distances."""

import itertools
import math

import numpy as np
import pytest
import scipy.stats

from rnndyn.compare.stats import (
    PooledDistances,
    cliffs_delta,
    hedges_g,
    hedges_g_checked,
    holm,
    median_ci,
    two_sample,
)


def _spectra(rng, sizes, scale=1.0):
    return [np.linalg.eigvals(rng.standard_normal((n, n)) * scale / np.sqrt(n)) for n in sizes]


def _pooled(nets, idx):
    z = np.concatenate([nets[i] for i in idx])
    w = np.concatenate([np.full(len(nets[i]), 1.0 / len(nets[i])) for i in idx])
    return z, w


def test_cliffs_delta_matches_pair_counting_with_ties():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, 13).astype(float), rng.integers(1, 6, 9).astype(float)
    brute = np.mean(np.sign(a[:, None] - b[None, :]))
    assert cliffs_delta(a, b) == pytest.approx(brute, abs=1e-12)
    batch = cliffs_delta(np.stack([a, a[::-1]]), np.stack([b, b]), axis=-1)
    assert batch == pytest.approx([brute, brute])
    assert (
        cliffs_delta([3.0, 4.0], [1.0, 2.0]) == 1.0
        and cliffs_delta([1.0, 2.0], [3.0, np.inf]) == -1.0
    )


def test_hedges_g_formula_and_undefined_cases():
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 4.0, 6.0])
    sp = math.sqrt((3 * a.var(ddof=1) + 2 * b.var(ddof=1)) / 5)
    assert hedges_g(a, b) == pytest.approx((1 - 3 / (4 * 7 - 9)) * (a.mean() - b.mean()) / sp)
    assert math.isnan(hedges_g([1.0, np.inf], [1.0, 2.0]))
    assert math.isnan(hedges_g([1.0], [1.0, 2.0]))
    assert math.isnan(hedges_g([1.0, 1.0], [1.0, 1.0]))  # 0/0: no spread, no scale


def test_hedges_g_on_rounding_level_spread_is_flagged_not_1e14():
    """Two groups whose values differ only by rounding inside each group (the 1.26e14 case):
    null with a reason, in the function and in ``two_sample``; a real spread still gives g."""
    base = 1.0 / 3.0
    a = base * (1 + np.array([0.0, 4e-16, -4e-16, 2e-16]))
    b = a + 0.25
    naive = (a.mean() - b.mean()) / math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    assert abs(naive) > 1e12  # what the unguarded formula prints
    g, note = hedges_g_checked(a, b)
    assert math.isnan(g) and "zero within-group spread" in note
    r = two_sample(a, b, rng=0)
    assert math.isnan(r.hedges_g) and "spread" in r.hedges_g_note
    g, note = hedges_g_checked([np.inf, 1.0], [1.0, 2.0])
    assert math.isnan(g) and "non-finite" in note
    g, note = hedges_g_checked([1.0, 1.1, 0.9], [2.0, 2.1, 1.9])
    assert note is None and g < -5


def test_holm_matches_hand_computation():
    p = [0.01, 0.04, 0.03, np.nan, 0.005]
    # sorted: 0.005×4=0.02, 0.01×3=0.03, 0.03×2=0.06, 0.04×1=0.04 → running max 0.06
    assert holm(p)[[4, 0, 2, 1]] == pytest.approx([0.02, 0.03, 0.06, 0.06])
    assert np.isnan(holm(p)[3])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]).size == 0


def test_two_sample_finds_shift_with_right_sign_and_ci():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 15), rng.normal(2.5, 1, 15)
    for test in ("mann-whitney", "permutation"):
        r = two_sample(a, b, test=test, n_permutations=999, rng=0)
        assert r.p_value < 0.01 and r.cliffs_delta < -0.6 and r.hedges_g < -1.5
        assert r.ci_low <= r.cliffs_delta <= r.ci_high and r.ci_high < 0
        assert (r.n_a, r.n_b) == (15, 15)
    mw = two_sample(a, b, rng=0)
    exact = scipy.stats.mannwhitneyu(a, b, method="exact").pvalue  # 15 vs 15, no ties: exact
    assert mw.exact and mw.p_value == pytest.approx(exact)


def test_two_sample_degenerate_and_infinite_values_give_no_nan():
    r = two_sample([0.0, 0.0, 0.0], [0.0, 0.0], rng=0)
    assert (r.p_value, r.cliffs_delta, r.ci_low, r.ci_high) == (1.0, 0.0, 0.0, 0.0)
    r = two_sample([np.inf, np.inf, np.inf, np.inf], [1.0, 2.0, 3.0, 4.0], rng=0)
    assert r.cliffs_delta == 1.0 and 0 < r.p_value < 0.05 and math.isnan(r.hedges_g)
    r = two_sample([1.0, np.nan, 2.0], [3.0, 4.0], rng=0)
    assert r.n_a == 2
    with pytest.raises(ValueError, match="at least 2"):
        two_sample([1.0], [1.0, 2.0])


def test_median_ci_brackets_median():
    x = np.random.default_rng(2).normal(size=40)
    med, lo, hi = median_ci(x, rng=0)
    assert med == pytest.approx(np.median(x)) and lo < med < hi
    assert median_ci([3.0, 3.0, 3.0]) == (3.0, 3.0, 3.0)
    assert median_ci([5.0]) == (5.0, 5.0, 5.0)


def test_modulus_distances_match_scipy_with_network_weights():
    rng = np.random.default_rng(3)
    nets = _spectra(rng, [10, 12, 8, 10, 14, 9])
    in_a = np.array([1, 0, 1, 0, 1, 0], bool)
    got = PooledDistances(nets).evaluate(in_a[None])[0]
    (za, wa), (zb, wb) = _pooled(nets, np.flatnonzero(in_a)), _pooled(nets, np.flatnonzero(~in_a))
    assert got[0] == pytest.approx(
        scipy.stats.wasserstein_distance(abs(za), abs(zb), wa, wb), rel=1e-10
    )
    assert got[1] == pytest.approx(scipy.stats.energy_distance(abs(za), abs(zb), wa, wb), rel=1e-10)


def test_complex_plane_distances_match_definitions():
    rng = np.random.default_rng(4)
    nets = _spectra(rng, [9, 11, 10, 8], scale=1.0) + _spectra(rng, [10, 10, 12], scale=0.6)
    in_a = np.arange(7) < 4
    (za, wa), (zb, wb) = _pooled(nets, range(4)), _pooled(nets, range(4, 7))
    wa, wb = wa / wa.sum(), wb / wb.sum()

    def mean_dist(x, y, u, v):
        return float((np.abs(x[:, None] - y[None, :]) * u[:, None] * v[None, :]).sum())

    energy = math.sqrt(
        2 * mean_dist(za, zb, wa, wb) - mean_dist(za, za, wa, wa) - mean_dist(zb, zb, wb, wb)
    )
    d = PooledDistances(nets, n_directions=32).evaluate(in_a[None])[0]
    assert d[3] == pytest.approx(energy, rel=2e-3)
    assert PooledDistances(nets, n_directions=8).evaluate(in_a[None])[0][3] == pytest.approx(
        energy, rel=3e-2
    )
    # sliced W1: the mean over directions in [0, π) of the 1-D W1 of the projections
    thetas = (np.arange(64) + 0.5) * np.pi / 64
    sliced = np.mean(
        [
            scipy.stats.wasserstein_distance(
                (za * np.exp(-1j * t)).real, (zb * np.exp(-1j * t)).real, wa, wb
            )
            for t in thetas
        ]
    )
    assert PooledDistances(nets, n_directions=32).evaluate(in_a[None])[0][2] == pytest.approx(
        sliced, rel=1e-2
    )


def test_distances_symmetric_under_label_swap_and_conjugation():
    rng = np.random.default_rng(5)
    nets = _spectra(rng, [8] * 6)
    in_a = np.array([1, 1, 0, 0, 1, 0], bool)
    pdist = PooledDistances(nets)
    assert pdist.evaluate(in_a[None]) == pytest.approx(pdist.evaluate(~in_a[None]))
    assert PooledDistances([np.conj(z) for z in nets]).evaluate(in_a[None]) == pytest.approx(
        pdist.evaluate(in_a[None])
    )
    same = PooledDistances([nets[0], nets[0]]).evaluate(np.array([[True, False]]))[0]
    assert same == pytest.approx(np.zeros(4), abs=1e-12)


def test_exact_permutation_p_value_is_rank_among_all_labelings():
    rng = np.random.default_rng(6)
    nets = _spectra(rng, [8] * 3, scale=0.5) + _spectra(rng, [8] * 3, scale=1.2)
    in_a = np.arange(6) < 3
    pdist = PooledDistances(nets)
    obs, p, used, exact = pdist.test(in_a, n_permutations=999)
    assert exact and used == 20
    all_labelings = np.array(
        [[i in c for i in range(6)] for c in itertools.combinations(range(6), 3)]
    )
    null = pdist.evaluate(all_labelings)
    assert p == pytest.approx((null >= obs - 1e-12).mean(axis=0))
    assert p[0] == pytest.approx(
        2 / 20
    )  # the observed split and its mirror image are the most extreme


def test_monte_carlo_p_value_bounds():
    rng = np.random.default_rng(7)
    nets = _spectra(rng, [6] * 20, scale=0.4) + _spectra(rng, [6] * 20, scale=1.3)
    _obs, p, used, exact = PooledDistances(nets).test(np.arange(40) < 20, n_permutations=199, rng=0)
    assert not exact and used == 199
    assert np.all(p == pytest.approx(1 / 200))
