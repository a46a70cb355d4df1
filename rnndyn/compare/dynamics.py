"""``compare --distance similarity``: test groups on the DSA-style distance matrix of their networks.

The whole population's matrix is computed once (``rnndyn.dsa.similarity``); each pair of groups is
then tested like the pooled-eigenvalue distances (``rnndyn.compare.stats.PooledDistances``): the
statistic is the mean between-group distance minus the mean within-group distance (the average of
the two groups' means), larger when the groups' dynamics are farther apart than their members
are from each other; its p-value permutes group labels over units (tasks when networks are nested
in tasks) within strata, all labelings when there are at most ``n_permutations``. The tests join
the run's one family (its floors are planned before testing, like every other test's).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnndyn.compare.family import at_floor
from rnndyn.compare.permutation import Design
from rnndyn.compare.population import Network
from rnndyn.compare.results import DistanceTest

OPERATOR = "dynamics"
METRIC = "dsa_between_minus_within"


@dataclass(frozen=True, eq=False)
class PairPlan:
    group_a: str
    group_b: str
    index: np.ndarray  # rows of the matrix, A's then B's
    design: Design
    floor: float


def plan(named: Mapping[str, list[Network]], opts: Any) -> tuple[list[Network], list[PairPlan]]:
    """Every network once (the matrix's rows) and one planned test per pair of groups."""
    nets = [n for ms in named.values() for n in ms]
    where = {id(n): i for i, n in enumerate(nets)}
    plans = []
    for ga, gb in itertools.combinations(named, 2):
        members = [*named[ga], *named[gb]]
        design = Design.from_labels(
            [opts.unit_of(n) for n in members],
            [i < len(named[ga]) for i in range(len(members))],
            [opts.stratum_of(n) for n in members] if opts.strata_key else None,
        )
        if min(design.n_units) < 2:
            continue
        index = np.array([where[id(n)] for n in members])
        plans.append(PairPlan(ga, gb, index, design, design.floor(opts.n_permutations)))
    return nets, plans


def between_minus_within(d: np.ndarray, in_a: np.ndarray) -> np.ndarray:
    """The statistic ``(P,)`` for labelings ``in_a`` ``(P, n)`` of the networks of ``d`` ``(n, n)``."""
    a = in_a.astype(float)
    b = 1.0 - a
    n_a, n_b = a.sum(axis=1), b.sum(axis=1)
    da, db = a @ d, b @ d
    between = (da * b).sum(axis=1) / (n_a * n_b)
    within_a = (da * a).sum(axis=1) / np.maximum(n_a * (n_a - 1), 1)
    within_b = (db * b).sum(axis=1) / np.maximum(n_b * (n_b - 1), 1)
    return between - 0.5 * (within_a + within_b)


def run(
    matrix: np.ndarray, plans: list[PairPlan], opts: Any, rng: np.random.Generator, label: str
) -> list[DistanceTest]:
    """One ``DistanceTest`` per planned pair of groups on ``matrix`` (the networks' distances)."""
    out = []
    for p in plans:
        d = matrix[np.ix_(p.index, p.index)]
        observed = between_minus_within(d, p.design.network_in_a()[None])[0]
        units, exact = p.design.labelings(opts.n_permutations, rng)
        stats = between_minus_within(d, units[:, p.design.unit])
        hits = int((stats >= observed - 1e-10 * abs(observed)).sum())
        pv = hits / len(units) if exact else (1.0 + hits) / (1.0 + opts.n_permutations)
        n_a, n_b = p.design.n_units
        out.append(
            DistanceTest(
                architecture="all",
                operator=OPERATOR,
                group_a=p.group_a,
                group_b=p.group_b,
                unit=opts.unit,
                units_a=n_a,
                units_b=n_b,
                n_a=int(p.design.network_in_a().sum()),
                n_b=int((~p.design.network_in_a()).sum()),
                distribution=label,
                metric=METRIC,
                distance=float(observed),
                p_value=float(pv),
                n_permutations=len(units),
                exact=exact,
                p_floor=p.floor,
                p_bound=at_floor(float(pv), p.floor),
            )
        )
    return out
