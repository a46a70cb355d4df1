"""One family of tests per run: multiplicity corrections, the smallest attainable p-values, and
honest wording for p-values at a floor and for non-rejections.

A run of ``compare_spectra`` (and one study) is one family: every statistic test and every
distance test it reports is corrected together (Holm by default, Benjamini–Hochberg on request).
Before testing, :func:`plan_family` works out the smallest p-value each test can reach for its
group sizes and the smallest adjusted p the family can reach; when that is above α, no result of
the run can be significant and the notes say so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CORRECTIONS = ("holm", "bh", "none")
_FLOOR_RTOL = 1e-9


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (NaNs stay NaN and do not count in the family)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m = order.size
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order]) if m else p[order]
    out[order] = np.minimum(adjusted, 1.0)
    return out


def benjamini_hochberg(pvalues: Sequence[float]) -> np.ndarray:
    """Benjamini–Hochberg (step-up, FDR) adjusted p-values; NaNs stay NaN and do not count."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m = order.size
    if m:
        scaled = p[order] * m / np.arange(1, m + 1)
        out[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return out


def adjust(pvalues: Sequence[float], method: str = "holm") -> np.ndarray:
    """Adjusted p-values of one family by ``method`` (``holm``, ``bh`` or ``none``)."""
    if method == "holm":
        return holm(pvalues)
    if method == "bh":
        return benjamini_hochberg(pvalues)
    if method == "none":
        return np.asarray(pvalues, dtype=float).copy()
    raise ValueError(f"unknown correction {method!r}; choose one of {', '.join(CORRECTIONS)}")


def mann_whitney_floor(n_a: int, n_b: int) -> float:
    """The smallest two-sided p of the exact Mann–Whitney test for sizes n_a, n_b:
    ``2 / C(n_a + n_b, n_a)`` (both tails' single most extreme labeling)."""
    return min(1.0, 2.0 / math.comb(n_a + n_b, n_a))


def permutation_floor(n_labelings: int, n_permutations: int, symmetric: bool) -> float:
    """Smallest p of a permutation test: ``1/(B + 1)`` when ``B`` random labelings are drawn,
    ``1/L`` (``2/L`` when the complement labeling is also allowed, ``symmetric``) when all ``L``
    labelings are enumerated."""
    if n_labelings <= n_permutations:
        return min(1.0, (2.0 if symmetric else 1.0) / n_labelings)
    return 1.0 / (n_permutations + 1)


def at_floor(p: float, floor: float) -> bool:
    """Whether ``p`` sits at its floor (then the true p may be smaller: report ``p ≤ floor``)."""
    return bool(np.isfinite(p) and p <= floor * (1 + _FLOOR_RTOL))


@dataclass(frozen=True)
class FamilyPlan:
    """The family of one run, worked out before any test: its size and what it can reach.

    ``smallest_p``: the smallest raw p any member can reach; ``smallest_adjusted``: the smallest
    adjusted p of the family's most extreme member when it alone sits at that floor (Holm:
    ``m × floor``; BH: the same, or ``floor`` if every member were at its floor; none: ``floor``).
    """

    correction: str
    alpha: float
    size: int
    smallest_p: float
    smallest_adjusted: float
    best_case_adjusted: float  # every member at its floor (BH can then reach the floor itself)
    notes: tuple[str, ...] = ()

    @property
    def reachable(self) -> bool:
        """Whether any result of this family can be significant at ``alpha``."""
        return self.best_case_adjusted < self.alpha

    def to_dict(self) -> dict[str, object]:
        return {
            "correction": self.correction,
            "alpha": self.alpha,
            "size": self.size,
            "members": "every statistic test and every distance test of this run",
            "smallest_attainable_p": self.smallest_p,
            "smallest_attainable_adjusted_p": self.smallest_adjusted,
            "best_case_adjusted_p": self.best_case_adjusted,
            "alpha_reachable": self.reachable,
        }


def plan_family(floors: Sequence[float], correction: str, alpha: float) -> FamilyPlan:
    """The plan for a family whose members have the smallest attainable p-values ``floors``."""
    adjust([], correction)  # validates the name
    m = len(floors)
    if m == 0:
        return FamilyPlan(correction, alpha, 0, math.nan, math.nan, math.nan)
    f = float(min(floors))
    lone = min(1.0, f * m) if correction in ("holm", "bh") else f
    best = f if correction in ("bh", "none") else lone
    notes: list[str] = []
    if best >= alpha:
        notes.append(
            f"with these group sizes no test can reach α = {alpha:g}: the smallest attainable "
            f"p is {f:.2g}, and {_name(correction)} over the {m} tests of this run can get no "
            f"lower than {best:.2g}; a non-rejection here says nothing about whether the groups "
            "differ (add units, e.g. more tasks or networks per group, or test fewer things)"
        )
    elif lone >= alpha:
        need = math.ceil(m * f / alpha - 1e-12)
        notes.append(
            f"the smallest attainable p is {f:.2g}; one test alone at that floor cannot reach "
            f"α = {alpha:g} after {_name(correction)} over {m} tests ({lone:.2g}); "
            + (
                f"a rejection needs at least {need} tests at their floor"
                if correction == "bh"
                else "only a smaller family can"
            )
        )
    return FamilyPlan(correction, alpha, m, f, lone, best, tuple(notes))


def _name(correction: str) -> str:
    return {"holm": "Holm", "bh": "Benjamini–Hochberg", "none": "no correction"}[correction]


def format_p(
    p: float,
    bound: bool,
    n_permutations: int | None = None,
    exact: bool = False,
    adjusted: bool = False,
) -> str:
    """``0.012``, ``≤ 0.001 (999 permutations)``, ``≤ 0.0079 (exact)``, or for an adjusted p
    at a floor ``≤ 0.012``; ``—`` for NaN."""
    if p is None or not np.isfinite(p):
        return "—"
    text = f"{p:.2g}"
    if not bound or (adjusted and p >= 1):  # an adjusted p capped at 1 is no bound: it is 1
        return text
    if adjusted:
        return f"≤ {text}"
    if n_permutations and not exact:
        return f"≤ {text} ({n_permutations} permutations)"
    return f"≤ {text} ({'exact' if exact else 'smallest attainable'})"


def verdict(p_adjusted: float, alpha: float, n_a: int, n_b: int, unit: str) -> str:
    """Words for one adjusted p: a rejection, or "no detectable difference at n = …"."""
    if np.isfinite(p_adjusted) and p_adjusted < alpha:
        return "differs"
    return f"no detectable difference at n = {n_a} vs {n_b} {unit}s"
