"""Paired designs (twin pairs): the exact sign-flip test, its floor, its calibration and power;
exact Mann–Whitney floors; untestable statistics left out of the family; no printed p below its
printed floor, for every kind of test."""

import itertools
import math

import numpy as np
import pytest
import scipy.stats

from rnndyn.compare.family import at_floor, mann_whitney_floor
from rnndyn.compare.pairs import pair_deltas, paired_floor, paired_test
from rnndyn.compare.permutation import Design, blocked_test
from rnndyn.compare.runner import untestable
from rnndyn.compare.stats import PooledDistances, mann_whitney_method, two_sample


def paired_design(n_pairs: int, seeds: int = 3):
    """Networks of n pairs × 2 tasks × seeds: task names, in-A flags and pair names per network."""
    tasks, in_a, pairs = [], [], []
    for p in range(n_pairs):
        for side in (True, False):
            for _ in range(seeds):
                tasks.append(f"p{p}{'a' if side else 'b'}")
                in_a.append(side)
                pairs.append(f"p{p}")
    return tasks, in_a, pairs


def brute_force(values, tasks, in_a, pairs):
    """The two-sided p of the mean within-pair δ by swapping the labels of every subset of pairs,
    recomputing every δ from scratch with plain loops."""
    names = list(dict.fromkeys(pairs))

    def mean_delta(labels):
        total = 0.0
        for p in names:
            a = [v for v, lab, q in zip(values, labels, pairs, strict=True) if q == p and lab]
            b = [v for v, lab, q in zip(values, labels, pairs, strict=True) if q == p and not lab]
            wins = sum((x > y) - (x < y) for x in a for y in b)
            total += wins / (len(a) * len(b))
        return total / len(names)

    observed = mean_delta(in_a)
    hits = 0
    for flips in itertools.product((False, True), repeat=len(names)):
        swap = dict(zip(names, flips, strict=True))
        labels = [lab != swap[q] for lab, q in zip(in_a, pairs, strict=True)]
        hits += abs(mean_delta(labels)) >= abs(observed) - 1e-12
    return observed, hits / 2 ** len(names)


@pytest.mark.parametrize(("n_pairs", "seeds", "seed"), [(5, 3, 0), (6, 2, 1), (7, 1, 2), (4, 3, 3)])
def test_paired_p_matches_brute_force_enumeration(n_pairs, seeds, seed):
    rng = np.random.default_rng(seed)
    tasks, in_a, pairs = paired_design(n_pairs, seeds)
    pair_level = np.repeat(rng.normal(0, 3, n_pairs), 2 * seeds)  # strong pair effects
    values = pair_level + 0.6 * np.array(in_a) + rng.normal(size=len(tasks))
    values = np.round(values, 1)  # ties on purpose
    design = Design.from_labels(tasks, in_a, pairs)
    r = paired_test(values, design, n_permutations=10**6, rng=0)
    delta, p = brute_force(values.tolist(), tasks, in_a, pairs)
    assert r.exact and r.n_permutations == 2**n_pairs and r.n_pairs == n_pairs
    assert r.delta == pytest.approx(delta) and r.p_value == pytest.approx(p)
    assert r.ci_low <= r.delta <= r.ci_high


@pytest.mark.parametrize("n_pairs", [3, 8, 12, 16])
def test_pair_floor_is_two_over_two_to_the_n_and_perfect_separation_hits_it(n_pairs):
    assert paired_floor(n_pairs) == pytest.approx(2 / 2**n_pairs)
    assert paired_floor(n_pairs, 999) == pytest.approx(
        2 / 2**n_pairs if 2**n_pairs <= 999 else 1 / 1000
    )
    tasks, in_a, pairs = paired_design(n_pairs, 2)
    design = Design.from_labels(tasks, in_a, pairs)
    assert design.floor(2**n_pairs) == pytest.approx(2 / 2**n_pairs)
    rng = np.random.default_rng(n_pairs)
    values = np.repeat(rng.normal(0, 10, n_pairs), 4) + np.where(in_a, 1.0, 0.0)
    values += rng.uniform(0, 0.1, values.size)  # A above B inside every pair, not across pairs
    r = paired_test(values, design, n_permutations=2**n_pairs, rng=0)
    assert r.delta == 1.0 and r.exact
    assert r.p_value == pytest.approx(2 / 2**n_pairs) == pytest.approx(r.floor)
    assert at_floor(r.p_value, r.floor)


def test_planted_paired_shift_is_found_where_the_unpaired_test_cannot_see_it():
    rng = np.random.default_rng(7)
    n_pairs, seeds = 12, 3
    tasks, in_a, pairs = paired_design(n_pairs, seeds)
    pair_level = np.repeat(rng.normal(0, 5, n_pairs), 2 * seeds)  # pairs differ a lot
    values = pair_level + 1.0 * np.array(in_a) + rng.normal(0, 0.5, len(tasks))
    paired = paired_test(values, Design.from_labels(tasks, in_a, pairs), n_permutations=4096, rng=0)
    assert paired.p_value < 0.001 and paired.delta > 0.5 and paired.ci_low > 0
    assert paired.median_diff_low > 0  # median paired difference ≈ 1 (the planted shift)
    assert 0.5 < paired.median_diff < 1.5
    unpaired = blocked_test(values, Design.from_labels(tasks, in_a), n_permutations=999, rng=0)
    assert unpaired.p_value > 0.05  # tasks as unpaired units: the pair effect drowns the shift
    flipped = paired_test(-values, Design.from_labels(tasks, in_a, pairs), n_permutations=4096)
    assert flipped.delta == pytest.approx(-paired.delta)


def test_pair_deltas_are_within_pair_cliffs_delta():
    tasks, in_a, pairs = paired_design(3, 2)
    values = np.array([1, 2, 0, 0, 5, 5, 5, 5, np.inf, 1, np.inf, 0.5])
    d = pair_deltas(values, Design.from_labels(tasks, in_a, pairs))
    assert d.tolist() == pytest.approx([1.0, 0.0, 0.25])  # ∞ vs ∞ ties; ∞ beats finite values


@pytest.mark.slow
def test_paired_test_is_calibrated_under_the_null():
    """Labels exchangeable within pairs: at α = 0.05 the test rejects about 5 % of the time (it is
    exact, so at most α up to the discreteness of 2^10 labelings)."""
    rng = np.random.default_rng(11)
    tasks, in_a, pairs = paired_design(10, 3)
    design = Design.from_labels(tasks, in_a, pairs)
    rejections = 0
    trials = 400
    for _ in range(trials):
        pair_level = np.repeat(rng.normal(0, 2, 10), 6)
        values = pair_level + rng.standard_cauchy(len(tasks))  # heavy tails: ranks do not care
        r = paired_test(values, design, n_permutations=1024, n_bootstrap=10, rng=rng)
        rejections += r.p_value <= 0.05
    rate = rejections / trials
    assert rate <= 0.05 + 2.6 * math.sqrt(0.05 * 0.95 / trials)  # not anticonservative
    assert rate >= 0.02


def test_the_paired_test_refuses_a_pair_without_one_task_per_side():
    design = Design.from_labels(["a", "b", "c"], [True, False, False], ["p", "p", "p"])
    with pytest.raises(ValueError, match="one A unit and one B unit"):
        paired_test(np.array([1.0, 2.0, 3.0]), design)


# --- Mann–Whitney: exact floors ---------------------------------------------------------------


def enumerated_min_p(n_a: int, n_b: int) -> float:
    """The smallest two-sided exact p: enumerate every labeling of ranks 1..n, count U."""
    n = n_a + n_b
    counts: dict[float, int] = {}
    for pick in itertools.combinations(range(1, n + 1), n_a):
        u = sum(pick) - n_a * (n_a + 1) / 2
        counts[u] = counts.get(u, 0) + 1
    total = math.comb(n, n_a)
    us = sorted(counts)
    cdf = np.cumsum([counts[u] for u in us]) / total
    sf = np.cumsum([counts[u] for u in reversed(us)])[::-1] / total
    return float(min(1.0, np.min(2 * np.minimum(cdf, sf))))


@pytest.mark.parametrize(
    ("n_a", "n_b"), [(2, 2), (3, 3), (2, 7), (4, 6), (5, 5), (6, 9), (8, 8), (10, 10)]
)
def test_mann_whitney_floor_matches_enumeration(n_a, n_b):
    floor = enumerated_min_p(n_a, n_b)
    assert mann_whitney_floor(n_a, n_b) == pytest.approx(floor, rel=1e-12)
    assert floor == pytest.approx(min(1.0, 2 / math.comb(n_a + n_b, n_a)))
    a, b = np.arange(n_a, dtype=float), np.arange(n_a, n_a + n_b, dtype=float)
    r = two_sample(a, b, n_bootstrap=20, rng=0)  # perfectly separated, no ties
    assert r.exact and r.p_value == pytest.approx(floor) and r.p_floor == pytest.approx(floor)


def test_ten_vs_ten_is_exact_not_the_normal_approximation():
    """The issue's case: 10 vs 10 declared 1.8e-4 and printed 6.2e-5; exact is 1.08e-5."""
    rng = np.random.default_rng(3)
    a = np.round(rng.normal(0, 1, 10), 1)
    b = np.round(rng.normal(3, 1, 10), 1)
    b[:2] = a[:2]  # ties across groups
    r = two_sample(a, b, n_bootstrap=20, rng=0)
    assert mann_whitney_method(10, 10, ties=True)[0] == "enumerated"
    assert r.exact and r.n_permutations == math.comb(20, 10)
    assert r.p_floor == pytest.approx(1.0825088224469e-05)
    assert r.p_value >= r.p_floor
    ref = scipy.stats.mannwhitneyu(a, b, method=scipy.stats.PermutationMethod(n_resamples=10**6))
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-9)


# --- no printed p below the printed floor, for every test kind ---------------------------------


def _kinds():
    rng = np.random.default_rng(0)
    sep = (np.arange(9.0), np.arange(9.0, 21.0))
    tied = (np.repeat([0.0, 1.0, 2.0], 4), np.repeat([2.0, 3.0, 4.0], 4))
    big_tied = (np.round(rng.normal(0, 1, 30), 0), np.round(rng.normal(5, 1, 30), 0))
    big = (rng.normal(0, 1, 200), rng.normal(9, 1, 200))  # n_a · n_b > MAX_EXACT_U: Monte Carlo
    for name, (a, b) in {"sep": sep, "tied": tied, "big_tied": big_tied, "big": big}.items():
        for test in ("mann-whitney", "permutation"):
            r = two_sample(a, b, test=test, n_permutations=199, n_bootstrap=10, rng=0)
            yield f"{test}/{name}", r.p_value, r.p_floor
    tasks, in_a, pairs = paired_design(6, 2)
    values = np.arange(len(tasks), dtype=float) + 100 * np.array(in_a)
    for n_perm in (10**4, 20):  # exact and Monte Carlo
        r = paired_test(
            values, Design.from_labels(tasks, in_a, pairs), n_permutations=n_perm, rng=0
        )
        yield f"paired/{n_perm}", r.p_value, r.floor
        d = Design.from_labels(tasks, in_a)
        rb = blocked_test(values, d, n_permutations=n_perm, rng=0)
        yield f"blocked/{n_perm}", rb.p_value, rb.floor
        eigs = [rng.normal(size=4) + 1j * rng.normal(size=4) + 3 * a for a in in_a]
        for name, design in (("paired", Design.from_labels(tasks, in_a, pairs)), ("blocked", d)):
            _, ps, _, _ = PooledDistances(eigs).test(design, n_permutations=n_perm, rng=0)
            for k, pv in enumerate(ps):
                yield f"distance-{k}/{name}/{n_perm}", pv, design.floor(n_perm)


@pytest.mark.parametrize(("kind", "p", "floor"), [pytest.param(*k, id=k[0]) for k in _kinds()])
def test_no_p_below_its_floor(kind, p, floor):
    assert p >= floor * (1 - 1e-12), kind
    assert 0 < floor <= 1


def test_untestable_statistics():
    assert untestable(np.array([np.inf, np.inf, np.inf])) == "every value is infinite"
    assert untestable(np.array([0.5, 0.5])) == "every value is 0.5"
    assert untestable(np.array([np.inf, 1.0])) is None
    assert untestable(np.array([-np.inf, np.inf])) == "every value is infinite"


def test_untestable_statistics_leave_the_family_and_its_size_says_so(tmp_path):
    """Radii ≥ 1 in every network: the longest timescale is ∞ everywhere, so it is reported as
    untestable and the family is 11 − 1 statistics + 4 distances = 14 tests; with twin pairs
    the same holds for the paired test, and the primary family is corrected on its own."""
    from planted import planted
    from test_compare import write_net

    from rnndyn.compare.spectra import compare_spectra

    rng = np.random.default_rng(4)
    paths = []
    for p in range(5):
        for kind, top in (("classification", 1.1), ("regression", 1.3)):
            for s in range(2):
                meta = {"task_kind": kind, "task": f"{p}{kind[:3]}", "pair": f"p{p}", "seed": s}
                k = rng.integers(1, 4)  # 1–3 conjugate pairs: frac_complex varies
                real = np.r_[top + rng.uniform(0, 0.1), rng.uniform(0.1, 1.2, 7 - 2 * k)]
                pairs = rng.uniform(0.1, 0.9, k) * np.exp(1j * rng.uniform(0.2, 2.9, k))
                w = planted(real, pairs, rng)[0]  # radius ≥ 1: longest timescale ∞
                paths.append(str(write_net(tmp_path / f"{p}_{kind}_{s}.pt", w, meta)))
    fast = {"n_permutations": 999, "n_bootstrap": 50}
    res = compare_spectra(paths, **fast)
    assert res.untestable == ("rnn l0.fwd.hh longest_timescale",)
    assert res.family.size == 14 == len(res.tests) + len(res.distances)
    assert all(t.statistic != "longest_timescale" for t in res.tests)
    assert any("untestable (every value is infinite" in n for n in res.notes)
    paired = compare_spectra(paths, pairs="pair", primary=["spectral_radius@hh"], **fast)
    assert paired.untestable == res.untestable
    assert (paired.family.size, paired.secondary.size) == (1, 13)
    primary = [t for t in paired.tests if t.family == "primary"]
    assert len(primary) == 1 and primary[0].statistic == "spectral_radius"
    assert primary[0].n_pairs == 5 and primary[0].p_floor == pytest.approx(2 / 2**5)
    assert primary[0].p_adjusted == primary[0].p_value  # a family of one
    frame = paired.tests_frame()
    assert set(frame["family"]) == {"primary", "secondary"}
    assert (frame.loc[frame["family"] == "secondary", "family_size"] == 13).all()
