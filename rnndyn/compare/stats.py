"""Two-group statistics with networks as replicates: rank tests, effect sizes, bootstrap CIs,
and permutation tests of distances between pooled eigenvalue distributions.

Everything here takes one value (or one eigenvalue array) *per network*; pooled eigenvalues are
never treated as independent samples. Permutation tests permute network labels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.stats

from rnndyn.compare.family import holm, mann_whitney_floor  # noqa: F401  (holm re-exported)
from rnndyn.compare.permutation import Design, delta_from_ranks

TESTS = ("mann-whitney", "permutation")
MAX_EXACT = (
    200_000  # enumerate every labeling of a tied Mann–Whitney up to this (10 vs 10: 184 756)
)
MAX_EXACT_U = 20_000  # scipy's exact U distribution (no ties) while n_a · n_b is at most this
MC_DRAWS = 99_999  # random labelings of a tied Mann–Whitney beyond MAX_EXACT (floor 2/(B + 1))
DISTANCES = (
    ("modulus", "wasserstein1"),
    ("modulus", "energy"),
    ("complex", "sliced_wasserstein1"),
    ("complex", "energy"),
)


def cliffs_delta(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray | float:
    """Cliff's delta ``P(A > B) − P(A < B)`` along ``axis`` (ties count half), from the rank sum."""
    a = np.moveaxis(np.asarray(a, dtype=float), axis, -1)
    b = np.moveaxis(np.asarray(b, dtype=float), axis, -1)
    na, nb = a.shape[-1], b.shape[-1]
    ranks = scipy.stats.rankdata(np.concatenate([a, b], axis=-1), axis=-1)
    u = ranks[..., :na].sum(axis=-1) - na * (na + 1) / 2
    return 2.0 * u / (na * nb) - 1.0


SPREAD_FLOOR = 1e-6  # s_pooled ≤ this × max(|mean|): rounding-level spread, not variation


def hedges_g_checked(a: np.ndarray, b: np.ndarray) -> tuple[float, str | None]:
    """Bias-corrected standardised mean difference ``(mean a − mean b)/s_pooled`` and, where it is
    not defined, ``(nan, reason)``: fewer than 2 values in a group, non-finite values, or a pooled
    spread at rounding level (``s_pooled ≤ SPREAD_FLOOR·max|mean|``, where a ratio of 1e14 would
    measure rounding, not an effect)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    na, nb = a.size, b.size
    if na < 2 or nb < 2:
        return float("nan"), "fewer than 2 networks in a group"
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("nan"), "non-finite values (e.g. infinite timescales): means are undefined"
    diff = a.mean() - b.mean()
    s2 = ((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2)
    scale = max(abs(a.mean()), abs(b.mean()))
    if math.sqrt(s2) <= SPREAD_FLOOR * scale or s2 == 0:
        return float("nan"), (
            f"zero within-group spread (pooled SD {math.sqrt(s2):.2g} ≤ {SPREAD_FLOOR:g} × "
            f"|mean| {scale:.3g}): the standardised difference is undefined"
        )
    correction = 1.0 - 3.0 / (4.0 * (na + nb) - 9.0)
    g = float(correction * diff / math.sqrt(s2))
    return (g, None) if math.isfinite(g) else (float("nan"), "not finite")


def hedges_g(a: np.ndarray, b: np.ndarray) -> float:
    """``hedges_g_checked``'s value: the effect size, or NaN where it is undefined."""
    return hedges_g_checked(a, b)[0]


@dataclass(frozen=True)
class TwoSampleResult:
    """One statistic compared between groups A and B (one value per network in each)."""

    test: str
    n_a: int
    n_b: int
    median_a: float
    median_b: float
    statistic: float  # U for Mann–Whitney, median(A) − median(B) for the permutation test
    p_value: float
    cliffs_delta: float  # > 0: A tends to be larger
    ci_low: float
    ci_high: float
    hedges_g: float  # NaN where undefined: ``hedges_g_note`` says why
    n_permutations: int | None = None  # labelings behind p (None: a rank test's own distribution)
    exact: bool = True  # p from the exact distribution (all labelings), not an approximation
    p_floor: float = 0.0  # the smallest p this test could give here
    hedges_g_note: str | None = None


def _median_diff(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    ma, mb = np.median(a, axis=axis), np.median(b, axis=axis)
    with np.errstate(invalid="ignore"):  # inf − inf: equal medians
        return np.where(ma == mb, 0.0, ma - mb)


def two_sample(
    a: np.ndarray | Sequence[float],
    b: np.ndarray | Sequence[float],
    *,
    test: str = "mann-whitney",
    n_permutations: int = 999,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    rng: np.random.Generator | int | None = None,
) -> TwoSampleResult:
    """Test one per-network statistic between two groups; effect size Cliff's delta with a
    percentile-bootstrap CI (networks resampled within each group) and Hedges' g.

    ``a``, ``b``: ``(n_a,)``, ``(n_b,)`` values, one per network (NaNs are dropped; ±inf are kept
    and ranked, so rank tests stay valid; Hedges' g is then NaN). Mann–Whitney is exact wherever
    it can be: see ``mann_whitney_method``. The result says how many labelings were used, whether
    p is exact, and its floor; p is never below that floor.
    """
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; choose one of {TESTS}")
    gen = np.random.default_rng(rng)
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    xa, xb = xa[~np.isnan(xa)], xb[~np.isnan(xb)]
    if xa.size < 2 or xb.size < 2:
        raise ValueError(
            f"each group needs at least 2 networks with a value (got {xa.size} and {xb.size})"
        )
    stat, p, labelings, exact, floor = _p_value(xa, xb, test, n_permutations, gen)
    g, g_note = hedges_g_checked(xa, xb)
    ci = scipy.stats.bootstrap(
        (xa, xb),
        cliffs_delta,
        vectorized=True,
        n_resamples=n_bootstrap,
        method="percentile",
        confidence_level=confidence,
        rng=gen,
    ).confidence_interval
    return TwoSampleResult(
        test=test,
        n_a=int(xa.size),
        n_b=int(xb.size),
        median_a=float(np.median(xa)),
        median_b=float(np.median(xb)),
        statistic=stat,
        p_value=p,
        cliffs_delta=float(cliffs_delta(xa, xb)),
        ci_low=float(ci.low),
        ci_high=float(ci.high),
        hedges_g=g,
        n_permutations=labelings,
        exact=exact,
        p_floor=floor,
        hedges_g_note=g_note,
    )


def mann_whitney_method(n_a: int, n_b: int, ties: bool) -> tuple[str, int | None, float]:
    """How Mann–Whitney is computed for these sizes, and its floor (smallest two-sided p).

    - no ties and ``n_a · n_b ≤ MAX_EXACT_U``: scipy's exact U distribution, floor
      ``2/C(n_a + n_b, n_a)``;
    - else, ``C(n_a + n_b, n_a) ≤ MAX_EXACT``: the exact permutation distribution of U (every
      labeling enumerated; ties handled by mid-ranks), the same floor;
    - else ``MC_DRAWS`` random labelings: floor ``2/(MC_DRAWS + 1)``.

    Returns ``(method, labelings or None, floor)`` with method ``exact``, ``enumerated`` or
    ``monte-carlo``.
    """
    total = math.comb(n_a + n_b, n_a)
    if not ties and n_a * n_b <= MAX_EXACT_U:
        return "exact", None, min(1.0, 2.0 / total)
    if total <= MAX_EXACT:
        return "enumerated", total, min(1.0, 2.0 / total)
    return "monte-carlo", MC_DRAWS, min(1.0, 2.0 / (MC_DRAWS + 1))


def _p_value(
    a: np.ndarray, b: np.ndarray, test: str, n_permutations: int, rng: np.random.Generator
) -> tuple[float, float, int | None, bool, float]:
    """Statistic, two-sided p, labelings used (None: a rank test's own distribution), exact, floor."""
    total = math.comb(a.size + b.size, a.size)
    ties = np.unique(np.concatenate([a, b])).size < a.size + b.size
    if test == "mann-whitney":
        method, draws, floor = mann_whitney_method(a.size, b.size, ties)
        if method == "exact":
            res = scipy.stats.mannwhitneyu(a, b, alternative="two-sided", method="exact")
            return float(res.statistic), max(float(res.pvalue), floor), None, True, floor
        stat, p = _rank_permutation(a, b, int(draws or 0), rng)
        return stat, max(p, floor), min(total, int(draws or 0)), method == "enumerated", floor
    # the median difference
    draws = n_permutations
    exact = total <= draws
    floor = min(1.0, 2.0 / (total if exact else draws + 1))
    both = np.concatenate([a, b])
    big = 2 * np.abs(both[np.isfinite(both)]).max(initial=0) + 1
    fa, fb = np.clip(a, -big, big), np.clip(b, -big, big)  # ±inf: the most extreme values
    res = scipy.stats.permutation_test(
        (fa, fb), _median_diff, vectorized=True, n_resamples=draws, rng=rng
    )
    p = max(float(res.pvalue), floor)
    return float(res.statistic), p, min(total, draws), exact, floor


def _rank_permutation(
    a: np.ndarray, b: np.ndarray, draws: int, rng: np.random.Generator
) -> tuple[float, float]:
    """Mann–Whitney U and its two-sided permutation p (twice the smaller tail, as scipy does):
    all labelings when there are at most ``draws``, else ``draws`` random ones."""
    x = np.concatenate([a, b])
    ranks = scipy.stats.rankdata(x)
    design = Design(np.arange(x.size), np.arange(x.size) < a.size)
    labelings, exact = design.labelings(draws, rng)
    null = delta_from_ranks(ranks, labelings)
    observed = float(delta_from_ranks(ranks, design.network_in_a()[None])[0])
    tail = min((null <= observed + 1e-12).sum(), (null >= observed - 1e-12).sum())
    p = 2 * tail / len(null) if exact else 2 * (tail + 1) / (draws + 1)
    return (observed + 1) * a.size * b.size / 2, min(1.0, float(p))


def median_ci(
    values: np.ndarray | Sequence[float],
    *,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    rng=None,
) -> tuple[float, float, float]:
    """Median and its percentile-bootstrap CI over networks; ``values`` ``(n,)``, NaNs dropped.

    Infinite values (e.g. timescales of non-decaying modes) are kept: the CI ends may be inf.
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return (float("nan"),) * 3
    med = float(np.median(x))
    if x.size < 2 or np.all(x == x[0]):
        return med, med, med
    idx = np.random.default_rng(rng).integers(0, x.size, (n_bootstrap, x.size))
    boot = np.sort(x[idx], axis=1)
    half = x.size // 2  # the median without arithmetic on inf when the two middle values agree
    meds = np.where(
        boot[:, half] == boot[:, (x.size - 1) // 2],
        boot[:, half],
        0.5 * (boot[:, half] + boot[:, (x.size - 1) // 2]),
    )
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(meds, [alpha, 1 - alpha], method="inverted_cdf")
    return med, float(lo), float(hi)


class PooledDistances:
    """Distances between two groups' pooled eigenvalue distributions, each network weighted equally.

    Built once from the networks' eigenvalues (a list of ``(n_i,)`` complex arrays); evaluated for
    many labelings of the networks, which is what a permutation test of network labels needs.

    - ``modulus``: exact 1-D Wasserstein-1 ``∫|F_A − F_B|`` and energy distance
      ``sqrt(2∫(F_A − F_B)²)`` (scipy's definitions) of the |λ| distributions.
    - ``complex``: sliced Wasserstein-1 (mean 1-D W1 over projection directions) and the 2-D energy
      distance via its projection identity ``E₂ = (π/2)·mean_θ E₁(θ)``, by midpoint quadrature over
      ``n_directions`` angles in ``[0, π/2]`` (real matrices: conjugate-symmetric spectra, so the
      projections on ``θ`` and ``π − θ`` agree).
    """

    def __init__(self, eigenvalues: Sequence[np.ndarray], *, n_directions: int = 8):
        sizes = np.array([len(e) for e in eigenvalues])
        if (sizes == 0).any():
            raise ValueError("every network needs at least one eigenvalue")
        self.n_networks = len(eigenvalues)
        z = np.concatenate([np.asarray(e, dtype=complex) for e in eigenvalues])
        net = np.repeat(np.arange(self.n_networks), sizes)
        weight = np.repeat(1.0 / sizes, sizes)
        theta = (np.arange(n_directions) + 0.5) * (np.pi / 2) / n_directions
        projections = [np.abs(z)] + [z.real * np.cos(t) + z.imag * np.sin(t) for t in theta]
        self._axes = []
        for x in projections:
            order = np.argsort(x, kind="stable")
            self._axes.append((net[order], weight[order], np.diff(x[order])))

    def evaluate(self, in_a: np.ndarray) -> np.ndarray:
        """Distances ``(P, 4)`` (``DISTANCES`` order) for labelings ``in_a`` ``(P, n_nets)``."""
        in_a = np.atleast_2d(np.asarray(in_a, dtype=bool))
        n_a = in_a.sum(axis=1, keepdims=True)
        coef = np.where(in_a, 1.0 / n_a, -1.0 / (self.n_networks - n_a))
        w1 = np.empty((in_a.shape[0], len(self._axes)))
        e1 = np.empty_like(w1)
        for j, (net, weight, dx) in enumerate(self._axes):
            diff = np.cumsum(coef[:, net] * weight, axis=1)[:, :-1]  # F_A − F_B between points
            w1[:, j] = np.abs(diff) @ dx
            e1[:, j] = 2.0 * (diff * diff) @ dx
        return np.column_stack(
            [
                w1[:, 0],
                np.sqrt(e1[:, 0]),
                w1[:, 1:].mean(axis=1),
                np.sqrt(np.pi / 2 * e1[:, 1:].mean(axis=1)),
            ]
        )

    def test(
        self,
        in_a: np.ndarray | Design,
        *,
        n_permutations: int = 999,
        rng=None,
        chunk_points: int = 4_000_000,
    ) -> tuple[np.ndarray, np.ndarray, int, bool]:
        """Observed distances ``(4,)``, permutation p-values ``(4,)``, labelings used, exact or not.

        ``in_a``: the networks in group A ``(n_nets,)``, or a ``Design`` whose units (tasks) keep
        their networks together and whose strata bound the permutations. Labelings keep the group
        sizes (per stratum); all of them are enumerated when there are at most ``n_permutations``
        (exact test, p = k/L), else ``n_permutations`` random ones (p = (1 + k)/(1 + P)).
        """
        design = (
            in_a
            if isinstance(in_a, Design)
            else Design(np.arange(len(in_a)), np.asarray(in_a, dtype=bool))
        )
        observed = self.evaluate(design.network_in_a()[None])[0]
        units, exact = design.labelings(n_permutations, np.random.default_rng(rng))
        labelings = units[:, design.unit]
        n_points = sum(len(ax[0]) for ax in self._axes)
        step = max(1, chunk_points // max(n_points, 1))
        hits = np.zeros(4)
        tol = 1e-10 * np.abs(observed)
        for s in range(0, len(labelings), step):
            hits += (self.evaluate(labelings[s : s + step]) >= observed - tol).sum(axis=0)
        p = hits / len(labelings) if exact else (1.0 + hits) / (1.0 + n_permutations)
        return observed, p, len(labelings), exact
