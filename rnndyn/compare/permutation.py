"""Blocked and stratified permutation tests over networks nested in units (tasks).

When networks are nested in tasks, the networks of one task are not independent evidence about
the task's *kind*: they estimate that task's value. The exchangeable units are then the tasks, so
the group labels are permuted over tasks and every task keeps its networks together (a blocked,
or cluster, permutation test). ``strata`` restrict the permutations further: labels move only
between units of the same stratum (e.g. the same sequence length), so a stratum variable cannot
produce a difference. With one network per unit and one stratum this is the ordinary
permutation test over networks.

The statistic is Cliff's δ over all networks (rank-based, so one extreme network cannot dominate);
its CI comes from a cluster bootstrap that resamples units within each group.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.stats

from rnndyn.compare.family import permutation_floor

_MAX_ENUMERATE = 200_000


@dataclass(frozen=True, eq=False)
class Design:
    """Who is in which unit, stratum and group.

    ``unit`` ``(N,)``: unit index per network (0..U−1); ``in_a`` ``(U,)``: the unit is in group A;
    ``stratum`` ``(U,)``: stratum index per unit.
    """

    unit: np.ndarray
    in_a: np.ndarray
    stratum: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))

    def __post_init__(self) -> None:
        if self.stratum.size != self.in_a.size:  # default: one stratum
            object.__setattr__(self, "stratum", np.zeros(len(self.in_a), dtype=int))

    @classmethod
    def from_labels(
        cls,
        units: Sequence[str],
        groups: Sequence[bool],
        strata: Sequence[str] | None = None,
    ) -> Design:
        """From per-network unit names, in-A flags and stratum names (constant within a unit)."""
        names = list(dict.fromkeys(units))
        index = {u: i for i, u in enumerate(names)}
        unit = np.array([index[u] for u in units], dtype=int)
        in_a = np.zeros(len(names), dtype=bool)
        in_a[unit] = np.asarray(groups, dtype=bool)
        strat = np.zeros(len(names), dtype=int)
        if strata is not None:
            levels = {s: i for i, s in enumerate(dict.fromkeys(strata))}
            strat[unit] = [levels[s] for s in strata]
        return cls(unit, in_a, strat)

    @property
    def n_units(self) -> tuple[int, int]:
        return int(self.in_a.sum()), int((~self.in_a).sum())

    def network_in_a(self) -> np.ndarray:
        return self.in_a[self.unit]

    def _per_stratum(self) -> list[tuple[np.ndarray, int]]:
        return [
            (np.flatnonzero(self.stratum == s), int(self.in_a[self.stratum == s].sum()))
            for s in np.unique(self.stratum)
        ]

    def n_labelings(self) -> int:
        """Labelings that keep each stratum's count of A units."""
        return math.prod(math.comb(len(idx), k) for idx, k in self._per_stratum())

    def symmetric(self) -> bool:
        """Whether swapping A and B is itself an allowed labeling (equal counts per stratum)."""
        return all(2 * k == len(idx) for idx, k in self._per_stratum())

    def floor(self, n_permutations: int) -> float:
        return permutation_floor(self.n_labelings(), n_permutations, self.symmetric())

    def labelings(self, n_permutations: int, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
        """Unit labelings ``(P, U)`` and whether they are all of them (exact)."""
        total = self.n_labelings()
        parts = self._per_stratum()
        if total <= n_permutations and total <= _MAX_ENUMERATE:
            out = np.zeros((total, len(self.in_a)), dtype=bool)
            choices = [itertools.combinations(idx, k) for idx, k in parts]
            for row, pick in enumerate(itertools.product(*choices)):
                out[row, [i for chosen in pick for i in chosen]] = True
            return out, True
        out = np.zeros((n_permutations, len(self.in_a)), dtype=bool)
        for idx, _ in parts:
            out[:, idx] = rng.permuted(np.tile(self.in_a[idx], (n_permutations, 1)), axis=1)
        return out, False


def delta_from_ranks(ranks: np.ndarray, in_a: np.ndarray) -> np.ndarray:
    """Cliff's δ for labelings ``in_a`` ``(P, N)`` of networks with pooled mid-ranks ``(N,)``."""
    n_a = in_a.sum(axis=1)
    n_b = in_a.shape[1] - n_a
    u = in_a.astype(float) @ ranks - n_a * (n_a + 1) / 2
    return 2.0 * u / (n_a * n_b) - 1.0


@dataclass(frozen=True)
class BlockedResult:
    """Cliff's δ over networks with its blocked-permutation p-value and cluster-bootstrap CI."""

    delta: float
    p_value: float
    n_permutations: int
    exact: bool
    floor: float
    ci_low: float
    ci_high: float


def blocked_test(
    values: np.ndarray,
    design: Design,
    *,
    n_permutations: int = 999,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    rng: np.random.Generator | None = None,
) -> BlockedResult:
    """Two-sided test of Cliff's δ (A vs B) by permuting group labels over units within strata.

    ``values`` ``(N,)``: one value per network (finite or ±inf; no NaN).
    """
    rng = np.random.default_rng(rng)
    ranks = scipy.stats.rankdata(values)
    observed = float(delta_from_ranks(ranks, design.network_in_a()[None])[0])
    labelings, exact = design.labelings(n_permutations, rng)
    null = delta_from_ranks(ranks, labelings[:, design.unit])
    hits = int((np.abs(null) >= abs(observed) - 1e-12).sum())
    p = hits / len(labelings) if exact else (1 + hits) / (1 + n_permutations)
    lo, hi = cluster_delta_ci(values, design, n_bootstrap, confidence, rng)
    return BlockedResult(
        delta=observed,
        p_value=float(p),
        n_permutations=len(labelings),
        exact=exact,
        floor=design.floor(n_permutations),
        ci_low=lo,
        ci_high=hi,
    )


def cluster_weights(design: Design, n_bootstrap: int, rng: np.random.Generator) -> np.ndarray:
    """Network weights ``(B, N)``: how often each network's unit is drawn when units are
    resampled with replacement within their group."""
    counts = np.zeros((n_bootstrap, len(design.in_a)))
    for side in (design.in_a, ~design.in_a):
        idx = np.flatnonzero(side)
        draws = rng.integers(0, idx.size, (n_bootstrap, idx.size))
        np.add.at(counts, (np.arange(n_bootstrap)[:, None], idx[draws]), 1.0)
    return counts[:, design.unit]


def cluster_delta_ci(
    values: np.ndarray,
    design: Design,
    n_bootstrap: int,
    confidence: float,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """Percentile CI of Cliff's δ under the cluster bootstrap (units resampled within groups)."""
    a = design.network_in_a()
    with np.errstate(invalid="ignore"):  # inf − inf: equal
        sign = np.nan_to_num(np.sign(values[a][:, None] - values[~a][None, :]), nan=0.0)
    w = cluster_weights(design, n_bootstrap, rng)
    wa, wb = w[:, a], w[:, ~a]
    deltas = np.einsum("bi,ij,bj->b", wa, sign, wb) / (wa.sum(1) * wb.sum(1))
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(deltas, [alpha, 1 - alpha])
    return float(lo), float(hi)


def cluster_median_ci(
    values: np.ndarray,
    unit: np.ndarray,
    n_bootstrap: int,
    confidence: float,
    rng: np.random.Generator,
) -> tuple[float, float, float]:
    """A group's median over networks and its CI when its units are resampled with replacement."""
    x = np.asarray(values, dtype=float)
    keep = ~np.isnan(x)
    x, unit = x[keep], np.unique(unit[keep], return_inverse=True)[1]
    if x.size == 0:
        return (math.nan,) * 3
    med = float(np.median(x))
    if unit.max() == 0 or np.all(x == x[0]):
        return med, med, med
    n_units = int(unit.max()) + 1
    draws = rng.integers(0, n_units, (n_bootstrap, n_units))
    counts = np.zeros((n_bootstrap, n_units))
    np.add.at(counts, (np.arange(n_bootstrap)[:, None], draws), 1.0)
    order = np.argsort(x, kind="stable")
    cum = np.cumsum(counts[:, unit[order]], axis=1)
    half = cum[:, -1:] / 2
    lower = x[order][(cum >= half).argmax(axis=1)]
    upper = x[order][(cum > half).argmax(axis=1)]
    with np.errstate(invalid="ignore"):  # −inf + inf only where lower == upper is not taken
        meds = np.where(lower == upper, lower, 0.5 * (lower + upper))
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(meds, [alpha, 1 - alpha], method="inverted_cdf")
    return med, float(lo), float(hi)
