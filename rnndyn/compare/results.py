"""The rows and the result of a group comparison (``compare_spectra``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rnndyn.compare.family import FamilyPlan
from rnndyn.compare.population import BadInput, Network
from rnndyn.compare.tables import ComparisonTables

__all__ = ["ComparisonResult", "DistanceTest", "GroupStatistic", "StatisticTest"]


@dataclass(frozen=True)
class _Inference:
    """What every test row carries about its p-value: the unit, floor and family adjustment.

    ``unit``: what the labels were permuted over (``network`` or ``task``); ``units_a/b``: how
    many of them each side has; ``p_floor``: the smallest p this test could give; ``p_bound``:
    the p sits at that floor, so the true p may be smaller (report ``p ≤ …``); ``p_adjusted``:
    the family-wise adjusted p (method in the result's ``family``); a bound when ``p_bound``.
    """

    unit: str = "network"
    family: str = "all"  # "primary" / "secondary" when a primary family was declared
    n_pairs: int = 0  # pairs tested within (a paired design), else 0
    units_a: int = 0
    units_b: int = 0
    n_permutations: int | None = None  # labelings used (None: an exact rank test)
    exact: bool = True
    p_floor: float = float("nan")
    p_bound: bool = False
    p_adjusted: float = float("nan")


@dataclass(frozen=True, kw_only=True)
class StatisticTest(_Inference):
    """One per-network statistic tested between two groups within one (architecture, operator)."""

    architecture: str
    operator: str
    statistic: str
    group_a: str
    group_b: str
    test: str  # "mann-whitney", "permutation" (median difference) or "blocked-permutation" (δ)
    n_a: int  # networks
    n_b: int
    median_a: float
    median_b: float
    u_or_diff: float  # Mann–Whitney U, median(A) − median(B), or Cliff's δ (blocked permutation)
    p_value: float
    cliffs_delta: float  # > 0: group A tends to be larger
    ci_low: float
    ci_high: float
    hedges_g: float  # over networks; NaN where undefined (hedges_g_note says why)
    hedges_g_note: str | None = None
    median_diff: float = float("nan")  # paired: median over pairs of median(A) − median(B)
    median_diff_low: float = float("nan")  # its CI (pairs resampled)
    median_diff_high: float = float("nan")


@dataclass(frozen=True, kw_only=True)
class DistanceTest(_Inference):
    """Distance between two groups' pooled eigenvalue distributions; p-value permutes labels."""

    architecture: str
    operator: str
    distribution: str  # "modulus" (|λ|) or "complex" (the complex plane)
    metric: str  # "wasserstein1", "energy", "sliced_wasserstein1"
    group_a: str
    group_b: str
    n_a: int
    n_b: int
    distance: float
    p_value: float


@dataclass(frozen=True, kw_only=True)
class GroupStatistic:
    """A group's median of one statistic with its bootstrap CI (networks, or units, resampled)."""

    architecture: str
    operator: str
    group: str
    statistic: str
    n: int
    median: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True, kw_only=True)
class ComparisonResult(ComparisonTables):
    """Everything ``compare_spectra`` found.

    Tables: ``to_frame()`` (network × operator × statistic), ``tests_frame()`` (one row per test,
    statistics and distances, raw and adjusted p), ``eigenvalues_frame()``, ``group_frame()``,
    ``design_frame()``; ``to_dict()`` is the ``rnndyn.compare.spectra/2`` document.
    """

    groups: tuple[tuple[str, tuple[Network, ...]], ...]
    tests: tuple[StatisticTest, ...]
    distances: tuple[DistanceTest, ...]
    group_statistics: tuple[GroupStatistic, ...]
    family: FamilyPlan  # the primary family when one was declared, else the run's one family
    units: Mapping[str, int] = field(default_factory=dict)  # group → number of units
    secondary: FamilyPlan | None = None  # the exploratory rest, when a primary was declared
    untestable: tuple[str, ...] = ()  # "arch operator statistic" left out of every family
    confounds: tuple[Mapping[str, Any], ...] = ()
    skipped: tuple[BadInput, ...] = ()
    notes: tuple[str, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def group_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.groups)

    @property
    def strata(self) -> tuple[tuple[str, str], ...]:
        """(architecture, operator) pairs that were tested, in order."""
        pairs = [(t.architecture, t.operator) for t in self.tests]
        pairs += [(d.architecture, d.operator) for d in self.distances]
        return tuple(dict.fromkeys(pairs))

    @property
    def unit(self) -> str:
        return str(self.settings.get("unit", "network"))

    @property
    def alpha(self) -> float:
        return self.family.alpha
