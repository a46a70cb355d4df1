"""Compare eigen-spectra between groups of networks (regression vs classification, init A vs B).

Per network and operator, ``rnndyn.compare.population.STATISTICS`` are computed; each statistic
is tested between groups with Cliff's delta, a bootstrap CI and Hedges' g; the groups' pooled |λ|
and complex-plane distributions are compared by Wasserstein-1 and energy distances with
permutation p-values. Architectures and operators (``hh``, each gate, ``jac``) are compared
separately, never pooled.

Inference (see ``rnndyn.compare.family`` and ``rnndyn.compare.permutation``):

- one run is one family: every statistic and distance test is corrected together (Holm by
  default, Benjamini–Hochberg or none on request); the smallest attainable p is worked out
  before testing and the notes say when α cannot be reached;
- the unit: networks are the replicates, unless they are nested in tasks. When grouping by
  ``task_kind`` and every network records its ``task``, the default unit is the task: labels are
  permuted over tasks (each task keeps its networks — a blocked permutation of Cliff's δ) and
  CIs resample tasks. We chose the blocked permutation over a mixed-effects model because it
  needs no distributional assumption, works for the rank statistic and the distances alike, and
  its smallest attainable p is known exactly before testing;
- ``strata``: labels move only within strata of a metadata key (e.g. ``seq_len``);
- metadata keys that differ between groups are listed as possible confounds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from rnndyn.compare import dynamics, runner
from rnndyn.compare.confounds import confound_notes, confounds
from rnndyn.compare.family import CORRECTIONS, plan_family
from rnndyn.compare.grouping import (
    assign_groups,
    bad_input_error,
    check_groups,
    check_units,
    conditioning_notes,
    duplicate_notes,
    reject_duplicates,
)
from rnndyn.compare.population import STATISTICS, Network, analyse
from rnndyn.compare.results import ComparisonResult, DistanceTest, GroupStatistic, StatisticTest
from rnndyn.compare.stats import DISTANCES, TESTS
from rnndyn.compare.tables import SCHEMA
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
UNITS = ("auto", "network", "task")
DISTANCE_KINDS = ("eigenvalues", "similarity")


def compare_spectra(
    checkpoints: Sequence[Any] | None = None,
    *,
    by: str = "task_kind",
    groups: Mapping[str, Sequence[Any]] | None = None,
    jobs: int = 1,
    cluster: str | None = None,
    skip_bad: bool = False,
    test: str = "mann-whitney",
    unit: str = "auto",
    strata: str | None = None,
    correction: str = "holm",
    alpha: float = 0.05,
    n_permutations: int = 999,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    n_directions: int = 8,
    seed: int = 0,
    trust: bool = False,
    matrix: str | None = None,
    jacobian: bool = False,
    progress: Callable[[int, int], None] | None = None,
    stats_progress: Callable[[int, int], None] | None = None,
    distance: str = "eigenvalues",
    top: int | None = None,
    pairs: str | None = None,
    primary: Sequence[str] | None = None,
    secondary_correction: str = "bh",
) -> ComparisonResult:
    """Compare the spectra of groups of networks.

    Args:
        checkpoints: paths or ``Checkpoint`` objects, grouped by the metadata key ``by`` (dots reach
            into nested entries, e.g. ``task_params.T``).
        groups: instead, ``{name: [paths | Checkpoint | Spectrum, ...]}``.
        jobs: processes analysing checkpoint files in parallel.
        cluster: analyse the files on Dask instead (``local:N`` or ``tcp://HOST:PORT``).
        skip_bad: leave out unreadable/refused files and files without the key (listed in
            ``skipped``) instead of raising.
        test: ``"mann-whitney"`` or ``"permutation"`` (difference of medians) per statistic when
            networks are the unit and there are no strata; otherwise the blocked permutation.
        unit: ``"task"`` (networks nested in tasks, metadata key ``task``), ``"network"``, or
            ``"auto"``: task when grouping by ``task_kind`` and every network names its task.
        strata: a metadata key; group labels are permuted only within its values.
        correction: ``"holm"``, ``"bh"`` (Benjamini–Hochberg) or ``"none"``, over the whole run.
        alpha: the level the notes and findings use.
        n_permutations: label permutations (all labelings when fewer exist).
        n_bootstrap: bootstrap resamples (networks, or tasks, resampled within groups).
        n_directions: projection angles for the complex-plane distances.
        jacobian: also compare the state Jacobians at the zero-input fixed point (gate ``jac``).
        progress: ``progress(done, total)`` after each network is analysed.
        stats_progress: ``stats_progress(done, total)`` after each test (statistic or distance).
        distance: ``"eigenvalues"`` (the pooled-eigenvalue distances) or ``"similarity"`` (instead,
            one test per pair of groups on the DSA-style distance matrix of all networks, from
            their trajectories; ``rnndyn.compare.dynamics``), in the same family either way.
        top: only the ``top`` eigenvalues of largest modulus per operator (``rnndyn.topk``;
            automatic for operators of size ≥ 4096): statistics that need the full spectrum are
            NaN and not tested, and the distances compare the top eigenvalues' distributions.
        pairs: a metadata key naming each network's pair (twins record ``pair``): a paired
            design. Tasks are the unit, each pair one task per group; labels are swapped within
            pairs (exact sign-flip test over the ``2ⁿ`` relabelings, floor ``2/2ⁿ``); the effect
            is the mean within-pair Cliff's δ with a CI that resamples pairs.
        primary: the pre-registered primary family, ``STAT`` or ``STAT@GATE`` (gate default
            ``jac``, the fixed-point Jacobian), for every architecture that has the gate. It is
            corrected on its own by ``correction``; every other test is secondary (exploratory),
            corrected on its own by ``secondary_correction``.

    Raises:
        UsageError: fewer than two groups, a group with fewer than two units, bad arguments.
        CheckpointError / RefusedError: bad files without ``skip_bad`` (all of them are listed).
    """
    _check_options(test, unit, correction, alpha, checkpoints, groups)
    if distance not in DISTANCE_KINDS:
        raise UsageError(
            f"unknown distance {distance!r}; choose one of {', '.join(DISTANCE_KINDS)}"
        )
    if distance == "similarity" and (primary is not None or pairs is not None):
        raise UsageError(
            "distance='similarity' is not yet combined with a primary family or a paired design",
            hint="Run the similarity test without --primary/--pairs, or the spectra tests with them.",
        )
    if secondary_correction not in CORRECTIONS:
        raise UsageError(f"unknown secondary correction {secondary_correction!r}")
    chosen = parse_primary(primary) if primary is not None else None
    if pairs is not None and (strata is not None or unit == "network"):
        raise UsageError(
            "a paired design (pairs) tests tasks within pairs: no --strata, no --unit network"
        )
    named, bad, key = _load(
        checkpoints, groups, by, jobs, skip_bad, trust, matrix, jacobian, progress, cluster, top
    )
    opts = runner.Options(
        test=test,
        unit_key="task" if pairs is not None else _resolve_unit(unit, key, named),
        strata_key=strata,
        n_permutations=n_permutations,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        n_directions=n_directions,
        pair_key=pairs,
        primary=chosen,
    )
    units = check_units(named, opts.unit_key, strata or pairs)
    if pairs is not None:
        check_pairs(named, pairs)
    by_stratum = runner.strata_of(named)
    untested: list[str] = []
    jobs_, notes = runner.plan_jobs(by_stratum, opts, untested)
    dyn_plans: list = []
    if distance == "similarity":  # the DSA matrix's tests replace the pooled-eigenvalue ones
        jobs_ = [j for j in jobs_ if j.k is not None]
        dyn_nets, dyn_plans = dynamics.plan(named, opts)
    if not jobs_ and not dyn_plans:
        raise UsageError(
            "no architecture/operator is shared by at least two groups with two "
            f"{opts.unit}s each: nothing could be tested. " + " ".join(notes)
        )
    if chosen is not None and not any(j.family == "primary" for j in jobs_):
        raise UsageError(
            f"the primary family ({', '.join(primary or ())}) matches no testable statistic "
            "of these networks",
            hint="Name a statistic and a gate the networks have, e.g. spectral_radius@jac "
            "(with jacobian=True) or spectral_radius@hh.",
        )
    family, secondary = _plans(
        jobs_,
        chosen is not None,
        correction,
        secondary_correction,
        alpha,
        extra=[p.floor for p in dyn_plans],
    )
    rng = np.random.default_rng(seed)
    tests, distances = _run(jobs_, opts, rng, stats_progress)
    if dyn_plans:
        from rnndyn.dsa.matrix import similarity  # torch: only when asked for

        sim = similarity([n.path for n in dyn_nets], jobs=jobs, seed=seed, trust=trust)
        distances += dynamics.run(sim.distances, dyn_plans, opts, rng, "similarity:trajectories")
    tests, distances = runner.adjust_family(tests, distances, correction, secondary_correction)
    found = confounds(
        {g: [n.metadata for n in ms] for g, ms in named.items()},
        ignore=[k for k in (key, strata, "task_kind") if k],
    )
    notes = [
        *family.notes,
        *_unit_notes(opts, units),
        *confound_notes(found, opts.unit_key),
        *notes,
        *duplicate_notes([n for ms in named.values() for n in ms]),
        *conditioning_notes([n for ms in named.values() for n in ms]),
        *([_partial_note(top)] if top else []),
    ]
    return ComparisonResult(
        groups=tuple((g, tuple(ms)) for g, ms in named.items()),
        tests=tuple(tests),
        distances=tuple(distances),
        group_statistics=tuple(runner.group_statistics(by_stratum, opts, rng)),
        family=family,
        secondary=secondary,
        untestable=tuple(untested),
        units=units,
        confounds=tuple(found),
        skipped=tuple(bad),
        notes=tuple(notes),
        settings={
            **_settings(key, opts, family, seed, jacobian, tests, secondary),
            "distance": distance,
        },
    )


def _partial_note(top: int) -> str:
    from rnndyn.compare.population import NEEDS_DEPTH, NEEDS_FULL

    return (
        f"partial spectra (top {top} by |λ|): {', '.join(NEEDS_FULL)} need the full spectrum and "
        f"were not tested; {', '.join(NEEDS_DEPTH)} only where the top {top} reach far enough; "
        "the distances compare the top eigenvalues' distributions"
    )


def parse_primary(items: Sequence[str]) -> frozenset[tuple[str, str]]:
    """``["spectral_radius@jac", "frac_above_1@hh"]`` → ``{(statistic, gate), …}`` (gate
    default ``jac``); UsageError for an unknown statistic or an empty list."""
    out = set()
    for item in items:
        stat, _, gate = item.strip().partition("@")
        if stat not in STATISTICS:
            raise UsageError(
                f"primary statistic {stat!r} is unknown; choose from {', '.join(STATISTICS)}"
            )
        out.add((stat, gate.strip() or "jac"))
    if not out:
        raise UsageError("the primary family is empty; name at least one STAT[@GATE]")
    return frozenset(out)


def check_pairs(named: Mapping[str, list[Network]], key: str) -> None:
    """Every network names its pair, and no pair holds two tasks of one group."""
    seen: dict[tuple[str, str], set[str]] = {}
    for g, ms in named.items():
        for n in ms:
            seen.setdefault((g, str(n.metadata.get(key))), set()).add(str(n.metadata.get("task")))
    doubled = [(g, p, sorted(t)) for (g, p), t in seen.items() if len(t) > 1]
    if doubled:
        g, p, t = doubled[0]
        raise UsageError(
            f"pair {p!r} holds {len(t)} tasks of group {g!r} ({', '.join(t)}); a paired design "
            "needs one task per group in each pair"
        )


def _plans(
    jobs_, declared: bool, correction: str, secondary: str, alpha: float, extra: Sequence = ()
):
    """The family plans (primary or the one family; the secondary one when declared). ``extra``:
    floors of further tests in the one family (the similarity-matrix tests)."""

    def floors(family: str | None) -> list[float]:
        return [
            j.floor
            for j in jobs_
            if family is None or j.family == family
            for _ in range(1 if j.k is not None else len(DISTANCES))
        ]

    if not declared:
        return plan_family([*floors(None), *extra], correction, alpha), None
    return (
        plan_family(floors("primary"), correction, alpha),
        plan_family(floors("secondary"), secondary, alpha),
    )


def _check_options(test, unit, correction, alpha, checkpoints, groups) -> None:
    if test not in TESTS:
        raise UsageError(f"unknown test {test!r}; choose one of {', '.join(TESTS)}")
    if unit not in UNITS:
        raise UsageError(f"unknown unit {unit!r}; choose one of {', '.join(UNITS)}")
    if correction not in CORRECTIONS:
        raise UsageError(
            f"unknown correction {correction!r}; choose one of {', '.join(CORRECTIONS)}"
        )
    if not 0 < alpha < 1:
        raise UsageError(f"alpha={alpha!r} must lie strictly between 0 and 1")
    if (checkpoints is None) == (groups is None):
        raise UsageError(
            "give either checkpoints (grouped by a metadata key) or explicit groups, not both"
        )


def _load(
    checkpoints,
    groups,
    by,
    jobs,
    skip_bad,
    trust,
    matrix,
    jacobian,
    progress,
    cluster=None,
    top=None,
):
    """Analyse every source and name the groups: ``({group: networks}, left out, key)``."""
    if checkpoints is not None:
        wanted: list[str | None] = [None] * len(checkpoints)
        sources, key = list(checkpoints), by
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
        cluster=cluster,
        top=top,
    )
    nets, bad = assign_groups(results, wanted, key)
    if bad and not skip_bad:
        raise bad_input_error(bad, len(sources))
    named = check_groups(nets, key, list(groups) if groups is not None else None, bad)
    return named, bad, key


def _resolve_unit(unit: str, key: str | None, named: Mapping[str, list[Network]]) -> str | None:
    """The metadata key of the unit networks are nested in (``"task"``), or None (networks).

    ``auto`` picks the task when grouping by ``task_kind``, every network names its task and no
    task has networks in two groups (else the networks are not nested in tasks).
    """
    has_task = all(n.metadata.get("task") is not None for ms in named.values() for n in ms)
    owners: dict[str, set[str]] = {}
    for g, ms in named.items():
        for n in ms:
            owners.setdefault(str(n.metadata.get("task")), set()).add(g)
    nested = has_task and all(len(gs) == 1 for gs in owners.values())
    if unit == "network" or (unit == "auto" and not (key == "task_kind" and nested)):
        return None
    if not has_task:
        raise UsageError(
            "--unit task needs every network's metadata to name its task (key 'task'); some do not",
            hint="Use --unit network, or compare checkpoints written by rnndyn train.",
        )
    return "task"


def _run(jobs, opts, rng, progress=None) -> tuple[list[StatisticTest], list[DistanceTest]]:
    tests, distances = [], []
    for i, job in enumerate(jobs, 1):
        if job.k is None:
            distances += runner.run_distances(job, opts, rng)
        else:
            tests.append(runner.run_statistic(job, opts, rng))
        if progress:
            progress(i, len(jobs))
    return tests, distances


def _unit_notes(opts: runner.Options, units: Mapping[str, int]) -> list[str]:
    counts = ", ".join(f"{g}: {n}" for g, n in units.items())
    if opts.paired:
        return [
            f"twin pairs (metadata {opts.pair_key!r}): labels are swapped within pairs (exact "
            f"sign-flip test over the 2ⁿ relabelings of n pairs) and CIs resample pairs; tasks "
            f"per group — {counts}"
        ]
    if opts.unit_key:
        return [
            f"tasks are the unit (networks are nested in tasks): group labels are permuted over "
            f"whole tasks and CIs resample tasks; tasks per group — {counts}"
        ]
    if opts.strata_key:
        return [f"labels permuted within strata of {opts.strata_key!r}; networks — {counts}"]
    return []


def _settings(key, opts, family, seed, jacobian, tests, secondary=None) -> dict[str, object]:
    return {
        "pairs": opts.pair_key,
        "primary": sorted(f"{s}@{g}" for s, g in opts.primary) if opts.primary else None,
        "secondary_correction": secondary.correction if secondary else None,
        "secondary_family_size": secondary.size if secondary else None,
        "by": key,
        "test": tests[0].test if tests else opts.test,
        "unit": opts.unit,
        "strata": opts.strata_key,
        "correction": family.correction,
        "alpha": family.alpha,
        "family_size": family.size,
        "n_permutations": opts.n_permutations,
        "n_bootstrap": opts.n_bootstrap,
        "confidence": opts.confidence,
        "n_directions": opts.n_directions,
        "seed": seed,
        "jacobian": jacobian,
        "pooling": "each network weighted equally in pooled eigenvalue distributions",
    }
