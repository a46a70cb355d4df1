"""Run every test of one comparison: plan the family, test, adjust once over the whole run.

Steps, each a small function: ``strata_of`` (networks → per (architecture, operator) groups),
``plan_jobs`` (the tests to run, with their designs and p-value floors, before any testing),
``run_statistic`` / ``run_distances`` (one test each), ``adjust_family`` (one correction over
every statistic and distance test), ``group_statistics`` (medians with bootstrap CIs).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from rnndyn.compare.family import adjust, at_floor
from rnndyn.compare.pairs import PairedResult, paired_test
from rnndyn.compare.permutation import Design, blocked_test, cluster_median_ci
from rnndyn.compare.population import STATISTICS, Network, OperatorSummary
from rnndyn.compare.results import DistanceTest, GroupStatistic, StatisticTest
from rnndyn.compare.stats import (
    DISTANCES,
    PooledDistances,
    hedges_g_checked,
    mann_whitney_method,
    median_ci,
    two_sample,
)

Member = tuple[Network, OperatorSummary]


@dataclass(frozen=True)
class Options:
    """How to test: the per-statistic test, the unit and strata, resampling sizes."""

    test: str = "mann-whitney"
    unit_key: str | None = None  # metadata key of the unit networks are nested in ("task")
    strata_key: str | None = None
    n_permutations: int = 999
    n_bootstrap: int = 1000
    confidence: float = 0.95
    n_directions: int = 8
    pair_key: str | None = None  # metadata key of the twin pair: test within pairs (sign flips)
    primary: frozenset[tuple[str, str]] | None = None  # (statistic, gate): the primary family

    @property
    def blocked(self) -> bool:
        return self.unit_key is not None or self.strata_key is not None or self.paired

    @property
    def paired(self) -> bool:
        return self.pair_key is not None

    @property
    def unit(self) -> str:
        return self.unit_key or "network"

    def unit_of(self, net: Network) -> str:
        return str(net.metadata.get(self.unit_key)) if self.unit_key else net.path

    def stratum_of(self, net: Network) -> str:
        key = self.pair_key or self.strata_key
        return str(net.metadata.get(key)) if key else ""

    def family_of(self, statistic: str | None, gate: str) -> str:
        """``primary`` / ``secondary`` when a primary family is declared, else ``all``."""
        if self.primary is None:
            return "all"
        return "primary" if (statistic, gate) in self.primary else "secondary"


@dataclass(frozen=True, eq=False)
class Job:
    """One planned test: a statistic (``k`` its index) or the distances (``k`` None) of a pair."""

    stratum: tuple[str, str]
    group_a: str
    group_b: str
    members: tuple[Member, ...]
    design: Design
    floor: float
    k: int | None = None
    family: str = "all"


def strata_of(named: Mapping[str, list[Network]]) -> dict[tuple[str, str], dict[str, list]]:
    """``{(architecture, operator): {group: [(network, operator summary), ...]}}``."""
    out: dict[tuple[str, str], dict[str, list]] = {}
    for g, members in named.items():
        for net in members:
            for op in net.operators:
                out.setdefault(op.stratum, {name: [] for name in named})[g].append((net, op))
    return out


def _design(a: list[Member], b: list[Member], opts: Options) -> Design:
    nets = [net for net, _ in (*a, *b)]
    return Design.from_labels(
        [opts.unit_of(n) for n in nets],
        [i < len(a) for i in range(len(nets))],
        [opts.stratum_of(n) for n in nets] if (opts.strata_key or opts.pair_key) else None,
    )


def complete_pairs(a: list[Member], b: list[Member], opts: Options) -> tuple[list, list]:
    """Only the members whose pair has networks on both sides (a paired design); else as is."""
    if not opts.paired:
        return a, b
    both = {opts.stratum_of(n) for n, _ in a} & {opts.stratum_of(n) for n, _ in b}
    return (
        [m for m in a if opts.stratum_of(m[0]) in both],
        [m for m in b if opts.stratum_of(m[0]) in both],
    )


def untestable(values: np.ndarray) -> str | None:
    """Why one statistic cannot be tested (every value infinite, or all identical), or None."""
    x = np.asarray(values, dtype=float)
    if x.size and not np.isfinite(x).any():
        return "every value is infinite"
    if x.size and np.all(x == x[0]):
        return f"every value is {x[0]:.6g}"
    return None


def _floor(design: Design, opts: Options, ties: bool = False) -> float:
    """The smallest p this job's test can give (before seeing any value)."""
    if opts.blocked:
        return design.floor(opts.n_permutations)
    if opts.test == "mann-whitney":
        return mann_whitney_method(*design.n_units, ties=ties)[2]
    total = design.n_labelings()  # scipy's permutation_test doubles the smaller one-sided p
    return min(1.0, 2.0 / (total if total <= opts.n_permutations else opts.n_permutations + 1))


def _enumerated(design: Design, opts: Options) -> bool:
    return design.n_labelings() <= opts.n_permutations


def plan_jobs(
    strata: dict, opts: Options, untested: list[str] | None = None
) -> tuple[list[Job], list[str]]:
    """Every test the run will do, with its design and floor, and notes on what is left out.

    Statistics that cannot be tested (``untestable``) are left out of the family and listed in
    ``untested`` (when given) as well as in the notes."""
    jobs, notes = [], []
    untested = [] if untested is None else untested
    for (arch, op), by_group in strata.items():
        ok = {g: ms for g, ms in by_group.items() if len({opts.unit_of(n) for n, _ in ms}) >= 2}
        short = [f"{g} ({_count(ms, opts)})" for g, ms in by_group.items() if g not in ok]
        if len(ok) < 2:
            notes.append(
                f"{arch} {op}: not tested (fewer than two groups with ≥ 2 "
                f"{opts.unit}s: {', '.join(f'{g} {_count(m, opts)}' for g, m in by_group.items())})"
            )
            continue
        if short:
            notes.append(f"{arch} {op}: left out of this comparison: {', '.join(short)}")
        for ga, gb in itertools.combinations(ok, 2):
            jobs += _pair_jobs((arch, op), ga, gb, ok[ga], ok[gb], opts, notes, untested)
    return jobs, notes


def _pair_jobs(
    stratum, ga, gb, a, b, opts: Options, notes: list[str], untested: list[str]
) -> list[Job]:
    jobs = []
    gate = (a or b)[0][1].gate
    for k, stat in enumerate(STATISTICS):
        ka = [m for m in a if not np.isnan(m[1].values[k])]
        kb = [m for m in b if not np.isnan(m[1].values[k])]
        ka, kb = complete_pairs(ka, kb, opts)
        design = _design(ka, kb, opts) if ka and kb else None
        if design is None or min(design.n_units) < 2:
            notes.append(
                f"{stratum[0]} {stratum[1]} {stat}: not computed for enough "
                f"{'pair' if opts.paired else opts.unit}s; not tested"
            )
            continue
        why = untestable(np.array([m[1].values[k] for m in (*ka, *kb)]))
        if why is not None:
            untested.append(f"{stratum[0]} {stratum[1]} {stat}")
            notes.append(
                f"{stratum[0]} {stratum[1]} {stat}: untestable ({why} in both groups); "
                "left out of the family"
            )
            continue
        family = opts.family_of(stat, gate)
        values = np.array([m[1].values[k] for m in (*ka, *kb)])
        floor = _floor(design, opts, ties=np.unique(values).size < values.size)
        jobs.append(Job(stratum, ga, gb, (*ka, *kb), design, floor, k, family))
    a, b = complete_pairs(a, b, opts)
    design = _design(a, b, opts)
    if min(design.n_units) >= 2:
        floor = design.floor(opts.n_permutations)
        jobs += [Job(stratum, ga, gb, (*a, *b), design, floor, None, opts.family_of(None, gate))]
    return jobs


def _count(members: list[Member], opts: Options) -> str:
    units = len({opts.unit_of(n) for n, _ in members})
    return f"n={units}" if not opts.unit_key else f"{units} {opts.unit}s"


def _common(job: Job, opts: Options) -> dict:
    n_a, n_b = job.design.n_units
    pairs = len(np.unique(job.design.stratum)) if opts.paired else 0
    return {
        "architecture": job.stratum[0],
        "operator": job.stratum[1],
        "family": job.family,
        "n_pairs": pairs,
        "group_a": job.group_a,
        "group_b": job.group_b,
        "unit": opts.unit,
        "units_a": n_a,
        "units_b": n_b,
        "n_a": int(job.design.network_in_a().sum()),
        "n_b": int((~job.design.network_in_a()).sum()),
    }


def run_statistic(job: Job, opts: Options, rng: np.random.Generator) -> StatisticTest:
    """The test of one per-network statistic between the job's two groups."""
    k = job.k
    assert k is not None, "a distance job has no statistic"
    values = np.array([op.values[k] for _, op in job.members])
    in_a = job.design.network_in_a()
    a, b = values[in_a], values[~in_a]
    fields = _blocked(values, job, opts, rng) if opts.blocked else _unblocked(a, b, job, opts, rng)
    g, g_note = hedges_g_checked(a, b)
    return StatisticTest(
        **_common(job, opts),
        **fields,
        statistic=list(STATISTICS)[k],
        median_a=float(np.median(a)),
        median_b=float(np.median(b)),
        hedges_g=g,
        hedges_g_note=g_note,
        p_bound=at_floor(fields["p_value"], fields["p_floor"]),
    )


def _blocked(values: np.ndarray, job: Job, opts: Options, rng) -> dict[str, Any]:
    """Tasks as the unit: the blocked permutation test, or the sign flips within pairs."""
    test = paired_test if opts.paired else blocked_test
    r = test(
        values,
        job.design,
        n_permutations=opts.n_permutations,
        n_bootstrap=opts.n_bootstrap,
        confidence=opts.confidence,
        rng=rng,
    )
    out = {
        "test": "paired-sign-flip" if opts.paired else "blocked-permutation",
        "u_or_diff": r.delta,
        "p_value": r.p_value,
        "cliffs_delta": r.delta,
        "ci_low": r.ci_low,
        "ci_high": r.ci_high,
        "n_permutations": r.n_permutations,
        "exact": r.exact,
        "p_floor": r.floor,
    }
    if isinstance(r, PairedResult):
        out.update(
            median_diff=r.median_diff,
            median_diff_low=r.median_diff_low,
            median_diff_high=r.median_diff_high,
        )
    return out


def _unblocked(a: np.ndarray, b: np.ndarray, job: Job, opts: Options, rng) -> dict[str, Any]:
    r = two_sample(
        a,
        b,
        test=opts.test,
        n_permutations=opts.n_permutations,
        n_bootstrap=opts.n_bootstrap,
        confidence=opts.confidence,
        rng=rng,
    )
    return {
        "test": r.test,
        "u_or_diff": r.statistic,
        "p_value": r.p_value,
        "cliffs_delta": r.cliffs_delta,
        "ci_low": r.ci_low,
        "ci_high": r.ci_high,
        "n_permutations": r.n_permutations,
        "exact": r.exact,
        "p_floor": r.p_floor,
    }


def run_distances(job: Job, opts: Options, rng: np.random.Generator) -> list[DistanceTest]:
    """The four distances between the job's groups' pooled eigenvalue distributions."""
    eigs = [op.eigenvalues for _, op in job.members]
    dist, p, used, exact = PooledDistances(eigs, n_directions=opts.n_directions).test(
        job.design, n_permutations=opts.n_permutations, rng=rng
    )
    return [
        DistanceTest(
            **_common(job, opts),
            distribution=distribution,
            metric=metric,
            distance=float(d),
            p_value=float(pv),
            n_permutations=used,
            exact=exact,
            p_floor=job.floor,
            p_bound=at_floor(float(pv), job.floor),
        )
        for (distribution, metric), d, pv in zip(DISTANCES, dist, p, strict=True)
    ]


def adjust_family(
    tests: list, distances: list, correction: str, secondary: str | None = None
) -> tuple[list, list]:
    """One correction over every statistic and distance test of the run; with a declared
    primary family, the primary tests by ``correction`` and the rest by ``secondary``
    (each family on its own)."""
    rows = [*tests, *distances]
    adjusted = np.full(len(rows), np.nan)
    for family in dict.fromkeys(r.family for r in rows):
        idx = [i for i, r in enumerate(rows) if r.family == family]
        method = secondary if family == "secondary" and secondary else correction
        adjusted[idx] = adjust([rows[i].p_value for i in idx], method)
    out = [replace(r, p_adjusted=float(p)) for r, p in zip(rows, adjusted, strict=True)]
    return out[: len(tests)], out[len(tests) :]


def group_statistics(strata: dict, opts: Options, rng: np.random.Generator) -> list[GroupStatistic]:
    """Per stratum, group and statistic: the median over networks with its bootstrap CI
    (networks resampled, or whole units when networks are nested in units)."""
    out = []
    for (arch, op), by_group in strata.items():
        for g, members in by_group.items():
            if not members:
                continue
            values = np.array([o.values for _, o in members])  # (n_g, S)
            units = np.unique([opts.unit_of(n) for n, _ in members], return_inverse=True)[1]
            for k, stat in enumerate(STATISTICS):
                if opts.unit_key:
                    med, lo, hi = cluster_median_ci(
                        values[:, k], units, opts.n_bootstrap, opts.confidence, rng
                    )
                else:
                    med, lo, hi = median_ci(
                        values[:, k],
                        n_bootstrap=opts.n_bootstrap,
                        confidence=opts.confidence,
                        rng=rng,
                    )
                n = int((~np.isnan(values[:, k])).sum())
                out.append(
                    GroupStatistic(
                        architecture=arch,
                        operator=op,
                        group=g,
                        statistic=stat,
                        n=n,
                        median=med,
                        ci_low=lo,
                        ci_high=hi,
                    )
                )
    return out
