"""Paired designs: tasks matched in pairs (twins), tested by flipping labels within pairs.

Twin tasks share inputs, initial weights and budget; only the target differs. Their networks are
then not two independent samples: each pair is one unit with two sides. The exchangeable act
under the null hypothesis "the kind makes no difference" is swapping the two sides of a pair, so
the exact test enumerates the ``2ⁿ`` within-pair relabelings of ``n`` pairs (a sign flip of each
pair's effect). Its smallest two-sided p is ``2/2ⁿ`` (the observed labeling and its mirror image),
known before any network is trained.

The per-pair effect is Cliff's δ between the pair's A networks and its B networks (seeds); the
paired effect is the mean over pairs, and the test statistic is that mean. Its CI, and the CI of
the median over pairs of the paired median difference, come from resampling whole pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnndyn.compare.permutation import Design

__all__ = ["PairedResult", "pair_deltas", "paired_floor", "paired_test", "sign_flip_p"]


def paired_floor(n_pairs: int, n_permutations: int | None = None) -> float:
    """The smallest two-sided p of the sign-flip test over ``n_pairs`` pairs: ``2/2ⁿ`` when all
    ``2ⁿ`` labelings are enumerated (at most ``n_permutations``, if given), else ``1/(B + 1)``."""
    total = 2**n_pairs
    if n_permutations is None or total <= n_permutations:
        return min(1.0, 2.0 / total)
    return 1.0 / (n_permutations + 1)


def _sides(design: Design) -> tuple[np.ndarray, np.ndarray]:
    """Per pair (stratum, in order): its A unit and its B unit. Each pair must hold one of each."""
    strata = np.unique(design.stratum)
    a_unit = np.empty(strata.size, dtype=int)
    b_unit = np.empty(strata.size, dtype=int)
    for i, s in enumerate(strata):
        units = np.flatnonzero(design.stratum == s)
        if units.size != 2 or design.in_a[units].sum() != 1:
            raise ValueError("a paired design needs exactly one A unit and one B unit per pair")
        a_unit[i], b_unit[i] = (units if design.in_a[units[0]] else units[::-1])[:2]
    return a_unit, b_unit


def pair_deltas(values: np.ndarray, design: Design) -> np.ndarray:
    """Cliff's δ (A vs B) within each pair ``(n_pairs,)``: ``P(a > b) − P(a < b)`` over the pair's
    A networks × B networks (±inf compare as values; equal values count as ties)."""
    x = np.asarray(values, dtype=float)
    a_unit, b_unit = _sides(design)
    out = np.empty(a_unit.size)
    for i, (ua, ub) in enumerate(zip(a_unit, b_unit, strict=True)):
        xa, xb = x[design.unit == ua], x[design.unit == ub]
        out[i] = (xa[:, None] > xb[None, :]).mean() - (xa[:, None] < xb[None, :]).mean()
    return out


def _median_diffs(values: np.ndarray, design: Design) -> np.ndarray:
    """Per pair: median(A networks) − median(B networks) (0 where both medians are equal, ±inf)."""
    x = np.asarray(values, dtype=float)
    a_unit, b_unit = _sides(design)
    ma = np.array([np.median(x[design.unit == u]) for u in a_unit])
    mb = np.array([np.median(x[design.unit == u]) for u in b_unit])
    with np.errstate(invalid="ignore"):
        return np.where(ma == mb, 0.0, ma - mb)


def sign_flip_p(
    d: np.ndarray, flips: np.ndarray, exact: bool, n_permutations: int
) -> tuple[float, float]:
    """Observed mean of ``d`` and its two-sided p over sign vectors ``flips`` ``(P, n)`` (±1)."""
    observed = float(np.mean(d))
    null = flips @ d / d.size
    hits = int((np.abs(null) >= abs(observed) - 1e-12).sum())
    p = hits / len(flips) if exact else (1 + hits) / (1 + n_permutations)
    return observed, float(min(1.0, p))


@dataclass(frozen=True)
class PairedResult:
    """A paired comparison over ``n_pairs`` pairs.

    ``delta``: mean within-pair Cliff's δ (the test statistic; > 0: A larger) with its pair-
    bootstrap CI; ``median_diff``: median over pairs of median(A) − median(B), with its CI;
    ``p_value`` over ``n_permutations`` within-pair relabelings (all ``2ⁿ`` when ``exact``);
    ``floor``: the smallest p this design could give.
    """

    n_pairs: int
    delta: float
    ci_low: float
    ci_high: float
    median_diff: float
    median_diff_low: float
    median_diff_high: float
    p_value: float
    n_permutations: int
    exact: bool
    floor: float


def paired_test(
    values: np.ndarray,
    design: Design,
    *,
    n_permutations: int = 999,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    rng: np.random.Generator | None = None,
) -> PairedResult:
    """Exact (or Monte Carlo) sign-flip test of the mean within-pair Cliff's δ.

    ``values`` ``(N,)`` one per network; ``design``: units are tasks, strata are pairs (each pair
    one A task and one B task), e.g. ``Design.from_labels(tasks, in_a, pairs)``.
    """
    rng = np.random.default_rng(rng)
    d = pair_deltas(values, design)
    a_unit, _ = _sides(design)
    labelings, exact = design.labelings(n_permutations, rng)  # (P, U): within-pair swaps
    flips = np.where(labelings[:, a_unit], 1.0, -1.0)  # the pair's A task still labelled A: +1
    delta, p = sign_flip_p(d, flips, exact, n_permutations)
    md = _median_diffs(values, design)
    picks = rng.integers(0, d.size, (n_bootstrap, d.size))
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(d[picks].mean(axis=1), [tail, 1 - tail])
    with np.errstate(invalid="ignore"):  # inf − inf inside a resample: NaN, ignored below
        boot_md = np.median(md[picks], axis=1)
        md_lo, md_hi = np.nanquantile(boot_md, [tail, 1 - tail], method="inverted_cdf")
    return PairedResult(
        n_pairs=int(d.size),
        delta=delta,
        ci_low=float(lo),
        ci_high=float(hi),
        median_diff=float(np.median(md)),
        median_diff_low=float(md_lo),
        median_diff_high=float(md_hi),
        p_value=p,
        n_permutations=len(labelings),
        exact=exact,
        floor=design.floor(n_permutations),
    )
