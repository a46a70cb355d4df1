"""How many fixed points the search probably missed: a species-richness estimate from the starts.

Every start that converged is an observation of the point it reached. With ``S_obs`` distinct
points, ``f₁`` of them reached by exactly one start and ``f₂`` by exactly two, out of ``n``
converged starts, the bias-corrected Chao1 estimator (Chao 1987; Chao 2005; the form EstimateS uses,
defined for ``f₂ = 0`` too) is

    Ŝ = S_obs + ((n − 1)/n) · f₁(f₁ − 1) / (2(f₂ + 1)),

with variance ``var = a·g + a²·f₁(2f₁ − 1)²/(4(f₂ + 1)²) + a²·f₁²f₂(f₁ − 1)²/(4(f₂ + 1)⁴)``,
``a = (n − 1)/n``, ``g = f₁(f₁ − 1)/(2(f₂ + 1))``, and the log-normal 95 % interval
``[S_obs + T/C, S_obs + T·C]``, ``T = Ŝ − S_obs``, ``C = exp(1.96·√ln(1 + var/T²))`` (Chao 1987).
Where ``T = 0`` but ``f₁ > 0`` (one singleton) the upper end is ``S_obs + 1.96·√var``.

``complete`` only when no point was reached by a single start (``f₁ = 0``): then the estimator sees
nothing missing. Basins of attraction of ``q`` are unequal (a point with a tiny basin is hardly
ever reached), so even ``Ŝ`` is a lower bound on the true count; the document says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rnndyn._util.jsonsafe import JsonObject

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Coverage:
    """Chao1 estimate of the number of distinct points from per-point start counts."""

    found: int
    estimated_total: float
    interval: tuple[float, float]
    f1: int
    f2: int
    n_starts: int

    @property
    def complete(self) -> bool:
        """True only when no point was reached by exactly one start (nothing seen missing)."""
        return self.f1 == 0

    @property
    def missing(self) -> float:
        return self.estimated_total - self.found

    def to_dict(self) -> JsonObject:
        return {
            "found": self.found,
            "estimated_total": round(self.estimated_total, 3),
            "interval_95": [round(self.interval[0], 3), round(self.interval[1], 3)],
            "complete": self.complete,
            "singletons": self.f1,
            "doubletons": self.f2,
            "converged_starts": self.n_starts,
            "estimator": "bias-corrected Chao1 over isolated points (Chao 1987), log-normal "
            "95% interval; a lower bound: basins are unequal",
        }

    def sentence(self) -> str:
        """The estimate in plain words."""
        if self.complete:
            return (
                f"coverage: {self.found} isolated points; every one was reached by at least two "
                "starts, so the estimate sees none missing (points with tiny basins could still be)"
            )
        lo, hi = self.interval
        return (
            f"coverage: {self.found} isolated points found, about {self.estimated_total:.1f} "
            f"estimated (95% interval {lo:.1f}–{hi:.1f}); {self.f1} point(s) were reached by a "
            "single start, so the list is probably incomplete — use more starts "
            "(--n-inits auto or a larger --n-inits)"
        )


def chao1(counts: np.ndarray) -> Coverage:
    """Coverage from ``counts`` ``(M,)``: how many converged starts reached each distinct point."""
    counts = np.asarray(counts, dtype=int)
    counts = counts[counts > 0]
    s_obs, n = int(counts.size), int(counts.sum())
    f1, f2 = int((counts == 1).sum()), int((counts == 2).sum())
    if n == 0:
        return Coverage(0, 0.0, (0.0, 0.0), 0, 0, 0)
    a = (n - 1) / n
    g = f1 * (f1 - 1) / (2 * (f2 + 1))
    est = s_obs + a * g
    var = (
        a * g
        + a * a * f1 * (2 * f1 - 1) ** 2 / (4 * (f2 + 1) ** 2)
        + a * a * f1 * f1 * f2 * (f1 - 1) ** 2 / (4 * (f2 + 1) ** 4)
    )
    t = est - s_obs
    if f1 == 0:
        interval = (float(s_obs), float(s_obs))
    elif t <= 0:
        interval = (float(s_obs), s_obs + Z95 * math.sqrt(var))
    else:
        c = math.exp(Z95 * math.sqrt(math.log1p(var / (t * t))))
        interval = (s_obs + t / c, s_obs + t * c)
    return Coverage(s_obs, float(est), interval, f1, f2, n)


def combine(parts: list[Coverage]) -> JsonObject:
    """The document's top-level ``coverage``: sums over layers and inputs; complete when all are."""
    lo = sum(p.interval[0] for p in parts)
    hi = sum(p.interval[1] for p in parts)
    return {
        "found": int(sum(p.found for p in parts)),
        "estimated_total": round(float(sum(p.estimated_total for p in parts)), 3),
        "interval_95": [round(lo, 3), round(hi, 3)],
        "complete": all(p.complete for p in parts),
    }
