"""Compare eigen-spectra between groups of networks (regression vs classification, init A vs B).

Networks are the replicates. Per network and operator, ``rnndyn.compare.population.STATISTICS`` are
computed; each statistic is tested between groups (Mann–Whitney U or a permutation test) with
Cliff's delta, a bootstrap CI and Hedges' g, Holm-corrected within each (architecture, operator);
the groups' pooled |λ| and complex-plane distributions are compared by Wasserstein-1 and energy
distances with permutation p-values that permute network labels. Architectures and operators
(``hh``, each gate, ``jac``) are compared separately, never pooled.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnndyn.compare.grouping import (
    assign_groups,
    bad_input_error,
    check_groups,
    conditioning_notes,
    duplicate_notes,
    reject_duplicates,
)
from rnndyn.compare.population import STATISTICS, BadInput, Network, analyse
from rnndyn.compare.stats import DISTANCES, TESTS, PooledDistances, holm, median_ci, two_sample
from rnndyn.compare.tables import SCHEMA, ComparisonTables
from rnndyn.errors import UsageError

__all__ = [
    "SCHEMA",
    "STATISTICS",
    "ComparisonResult",
    "DistanceTest",
    "GroupStatistic",
    "StatisticTest",
    "compare_spectra",
]


@dataclass(frozen=True)
class StatisticTest:
    """One per-network statistic tested between two groups within one (architecture, operator)."""

    architecture: str
    operator: str
    statistic: str
    group_a: str
    group_b: str
    test: str
    n_a: int
    n_b: int
    median_a: float
    median_b: float
    u_or_diff: float  # Mann–Whitney U, or median(A) − median(B) for the permutation test
    p_value: float
    p_holm: float
    cliffs_delta: float  # > 0: group A tends to be larger
    ci_low: float
    ci_high: float
    hedges_g: float


@dataclass(frozen=True)
class DistanceTest:
    """Distance between two groups' pooled eigenvalue distributions; p-value permutes networks."""

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
    p_holm: float
    n_permutations: int
    exact: bool


@dataclass(frozen=True)
class GroupStatistic:
    """A group's median of one statistic with its bootstrap CI (over networks)."""

    architecture: str
    operator: str
    group: str
    statistic: str
    n: int
    median: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class ComparisonResult(ComparisonTables):
    """Everything ``compare_spectra`` found.

    Tables: ``to_frame()`` (network × operator × statistic), ``tests_frame()`` (one row per test),
    ``eigenvalues_frame()``, ``group_frame()``; ``to_dict()`` is the ``rnndyn.compare.spectra/1`` document.
    """

    groups: tuple[tuple[str, tuple[Network, ...]], ...]
    tests: tuple[StatisticTest, ...]
    distances: tuple[DistanceTest, ...]
    group_statistics: tuple[GroupStatistic, ...]
    skipped: tuple[BadInput, ...] = ()
    notes: tuple[str, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def group_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.groups)

    @property
    def strata(self) -> tuple[tuple[str, str], ...]:
        """(architecture, operator) pairs that were tested, in order."""
        seen = dict.fromkeys((t.architecture, t.operator) for t in (*self.tests, *self.distances))
        return tuple(seen)


def compare_spectra(
    checkpoints: Sequence[Any] | None = None,
    *,
    by: str = "task_kind",
    groups: Mapping[str, Sequence[Any]] | None = None,
    jobs: int = 1,
    skip_bad: bool = False,
    test: str = "mann-whitney",
    n_permutations: int = 999,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    n_directions: int = 8,
    seed: int = 0,
    trust: bool = False,
    matrix: str | None = None,
    jacobian: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ComparisonResult:
    """Compare the spectra of groups of networks, networks as replicates.

    Args:
        checkpoints: paths or ``Checkpoint`` objects, grouped by the metadata key ``by`` (dots reach
            into nested entries, e.g. ``task_params.T``).
        groups: instead, ``{name: [paths | Checkpoint | Spectrum, ...]}``.
        jobs: processes analysing checkpoint files in parallel.
        skip_bad: leave out unreadable/refused files and files without the key (they are listed
            in ``skipped``) instead of raising.
        test: ``"mann-whitney"`` or ``"permutation"`` (difference of medians) per statistic.
        n_permutations: label permutations for the distance tests (all labelings when fewer exist).
        n_bootstrap: bootstrap resamples (networks resampled within groups) for the CIs.
        n_directions: projection angles for the complex-plane distances.
        jacobian: also compare the state Jacobians at the zero-input fixed point (gate ``jac``).
        progress: ``progress(done, total)`` after each network is analysed.

    Raises:
        UsageError: fewer than two groups, a group with fewer than two networks, bad arguments.
        CheckpointError / RefusedError: bad files without ``skip_bad`` (all of them are listed).
    """
    if test not in TESTS:
        raise UsageError(f"unknown test {test!r}; choose one of {', '.join(TESTS)}")
    if (checkpoints is None) == (groups is None):
        raise UsageError(
            "give either checkpoints (grouped by a metadata key) or explicit groups, not both"
        )
    if checkpoints is not None:
        sources, wanted, key = list(checkpoints), [None] * len(checkpoints), by
    else:
        sources = [s for members in groups.values() for s in members]
        wanted = [name for name, members in groups.items() for _ in members]
        key = None
    if not sources:
        raise UsageError("no checkpoints to compare")
    reject_duplicates(sources)
    results = analyse(
        sources,
        jobs=jobs,
        trust=trust,
        matrix=matrix,
        key=key,
        jacobian=jacobian,
        progress=progress,
    )
    nets, bad = assign_groups(results, wanted, key)
    if bad and not skip_bad:
        raise bad_input_error(bad, len(sources))
    named = check_groups(nets, key, list(groups) if groups is not None else None, bad)
    settings = {
        "by": key,
        "test": test,
        "n_permutations": n_permutations,
        "n_bootstrap": n_bootstrap,
        "confidence": confidence,
        "n_directions": n_directions,
        "seed": seed,
        "jacobian": jacobian,
        "holm_family": "all statistic tests (all pairs) of one architecture and operator; "
        "distance tests form their own family",
        "pooling": "each network weighted equally in pooled eigenvalue distributions",
    }
    run = _Runner(named, test, n_permutations, n_bootstrap, confidence, n_directions, seed)
    run.all()
    notes = run.notes + duplicate_notes(nets) + conditioning_notes(nets)
    if not run.tests and not run.distances:
        raise UsageError(
            "no architecture/operator is shared by at least two groups with two networks each: "
            "nothing could be tested. " + " ".join(run.notes)
        )
    return ComparisonResult(
        tuple((g, tuple(ms)) for g, ms in named.items()),
        tuple(run.tests),
        tuple(run.distances),
        tuple(run.group_stats),
        tuple(bad),
        tuple(notes),
        settings,
    )


class _Runner:
    """Runs every test, stratum by stratum; collects results and notes."""

    def __init__(self, named, test, n_permutations, n_bootstrap, confidence, n_directions, seed):
        self.named, self.test = named, test
        self.n_perm, self.n_boot, self.conf, self.n_dir = (
            n_permutations,
            n_bootstrap,
            confidence,
            n_directions,
        )
        self.rng = np.random.default_rng(seed)
        self.tests: list[StatisticTest] = []
        self.distances: list[DistanceTest] = []
        self.group_stats: list[GroupStatistic] = []
        self.notes: list[str] = []

    def all(self) -> None:
        strata: dict[tuple[str, str], dict[str, list]] = {}
        for g, members in self.named.items():
            for net in members:
                for op in net.operators:
                    strata.setdefault(op.stratum, {name: [] for name in self.named})[g].append(op)
        for (arch, operator), by_group in strata.items():
            ok = {g: ops for g, ops in by_group.items() if len(ops) >= 2}
            short = [f"{g} (n={len(ops)})" for g, ops in by_group.items() if len(ops) < 2]
            if len(ok) < 2:
                self.notes.append(
                    f"{arch} {operator}: not tested (fewer than two groups with ≥2 networks: "
                    f"{', '.join(f'{g} n={len(o)}' for g, o in by_group.items())})"
                )
                continue
            if short:
                self.notes.append(
                    f"{arch} {operator}: left out of this comparison: {', '.join(short)}"
                )
            self._stratum(arch, operator, ok)

    def _stratum(self, arch: str, operator: str, by_group: dict[str, list]) -> None:
        values = {g: np.array([op.values for op in ops]) for g, ops in by_group.items()}  # (n_g, S)
        for g, v in values.items():
            for k, stat in enumerate(STATISTICS):
                med, lo, hi = median_ci(
                    v[:, k], n_bootstrap=self.n_boot, confidence=self.conf, rng=self.rng
                )
                n = int((~np.isnan(v[:, k])).sum())
                self.group_stats.append(GroupStatistic(arch, operator, g, stat, n, med, lo, hi))
        first = len(self.tests)
        for ga, gb in itertools.combinations(by_group, 2):
            for k, stat in enumerate(STATISTICS):
                a, b = values[ga][:, k], values[gb][:, k]
                if (~np.isnan(a)).sum() < 2 or (~np.isnan(b)).sum() < 2:
                    self.notes.append(
                        f"{arch} {operator} {stat}: not computed for enough networks; not tested"
                    )
                    continue
                r = two_sample(
                    a,
                    b,
                    test=self.test,
                    n_permutations=self.n_perm,
                    n_bootstrap=self.n_boot,
                    confidence=self.conf,
                    rng=self.rng,
                )
                self.tests.append(
                    StatisticTest(
                        arch,
                        operator,
                        stat,
                        ga,
                        gb,
                        r.test,
                        r.n_a,
                        r.n_b,
                        r.median_a,
                        r.median_b,
                        r.statistic,
                        r.p_value,
                        np.nan,
                        r.cliffs_delta,
                        r.ci_low,
                        r.ci_high,
                        r.hedges_g,
                    )
                )
        self._holm(self.tests, first)
        first = len(self.distances)
        for ga, gb in itertools.combinations(by_group, 2):
            eigs = [op.eigenvalues for op in (*by_group[ga], *by_group[gb])]
            in_a = np.arange(len(eigs)) < len(by_group[ga])
            dist, p, used, exact = PooledDistances(eigs, n_directions=self.n_dir).test(
                in_a, n_permutations=self.n_perm, rng=self.rng
            )
            for (distribution, metric), d, pv in zip(DISTANCES, dist, p, strict=True):
                self.distances.append(
                    DistanceTest(
                        arch,
                        operator,
                        distribution,
                        metric,
                        ga,
                        gb,
                        len(by_group[ga]),
                        len(by_group[gb]),
                        float(d),
                        float(pv),
                        np.nan,
                        used,
                        exact,
                    )
                )
        self._holm(self.distances, first)

    @staticmethod
    def _holm(rows: list, first: int) -> None:
        from dataclasses import replace

        adjusted = holm([r.p_value for r in rows[first:]])
        rows[first:] = [
            replace(r, p_holm=float(p)) for r, p in zip(rows[first:], adjusted, strict=True)
        ]
