"""The regression-vs-classification study: do networks trained for regression and for
classification end with different spectra? Trains networks per task kind and architecture,
compares them with ``compare_spectra`` and writes a report. Entry point:
``regression_vs_classification(out_dir, Settings(...))``.

Designs:

- ``paired`` (default): twelve twin pairs of ``rnndyn.tasks.twins`` (``PAIRED_STUDY``),
  ``seeds`` networks per task. A regression task and its classification twin see the same input streams and, for the
  same seed, start from identical weights; only target and loss differ. Pairs are the unit: the
  test swaps the kind labels within pairs (exact sign-flip test over 2ⁿ relabelings, floor
  2/2ⁿ). Only networks that learned enter (criterion fixed up front: ``LEARNED``); a pair enters
  an architecture's tests when both twins have at least ``min_learned`` learned networks. The
  primary family (``primary``, default the spectral radius of the fixed-point Jacobian for each
  architecture) is corrected on its own (Holm); everything else is secondary, exploratory (BH).
- ``matched``: the first study's eight twin pairs, tested unpaired (task labels permuted over
  the 16 tasks), one family of every test.
- ``original``: the first study's tomita3, tomita4, digits vs sine, mackey_glass, narma10 (kind
  confounded with readout, loss, input size and sequence length).

The folder ``OUT`` (``rnndyn.studies.folder``) holds the marker, one checkpoint and one run
record per trained network, and ``report/`` (report.md, study.json, comparison.json, tidy
tables, figures) rebuilt at the end of every run. A re-run skips finished networks, so an
interrupted study resumes; a larger ``per_group``/``seeds`` or more ``archs`` extends it; other
training settings are refused (their networks would not be comparable).
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from rnndyn._util.jsonsafe import plain
from rnndyn.compare.family import CORRECTIONS, FamilyPlan, permutation_floor, plan_family
from rnndyn.compare.population import STATISTICS
from rnndyn.compare.spectra import compare_spectra, parse_primary
from rnndyn.compare.stats import DISTANCES
from rnndyn.errors import RnndynWarning, UsageError
from rnndyn.naming import GATES as GATE_NAMES
from rnndyn.studies.criteria import LEARNED, pairs_needed, select_learned
from rnndyn.studies.folder import finished, open_folder, train_all
from rnndyn.studies.records import StudyJob
from rnndyn.studies.study_report import FigureSet, StudyResult, write_report
from rnndyn.tasks.twins import FIRST_EIGHT, PAIRED_STUDY, pair_of, twin_name

__all__ = [
    "DESIGNS",
    "LEARNED",
    "Settings",
    "StudyResult",
    "pairs_needed",
    "plan",
    "plan_family_for",
    "regression_vs_classification",
    "select_learned",
]

DESIGNS: dict[str, dict[str, tuple[str, ...]]] = {
    "paired": {
        kind: tuple(twin_name(q, kind) for q in PAIRED_STUDY)
        for kind in ("classification", "regression")
    },
    "matched": {
        kind: tuple(twin_name(q, kind) for q in FIRST_EIGHT)
        for kind in ("classification", "regression")
    },
    "original": {
        "classification": ("tomita3", "tomita4", "digits"),
        "regression": ("sine", "mackey_glass", "narma10"),
    },
}
DEFAULT_TASKS = DESIGNS["original"]  # kept for callers of the first study
TASK_PARAMS: dict[str, dict[str, int]] = {
    "sine": {"T": 50},
    "mackey_glass": {"T": 50},
    "narma10": {"T": 50},
}
SIZES = {"n_train": 1000, "n_val": 250, "n_test": 500}
ALPHA = 0.05
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
MAX_EXACT = 20_000  # enumerate every task labeling up to this many
MAX_PAIRED = 2**17  # enumerate every within-pair relabeling up to this many


def plan(
    archs: Sequence[str], per_group: int, tasks: Mapping[str, Sequence[str]]
) -> list[StudyJob]:
    """The networks to train: per arch and kind, ``per_group`` (task, seed) spread round-robin.

    Ordered seed-major (every task's seed 0 for every arch, then seed 1, …), twins next to each
    other, so an interrupted run holds whole seeds of every architecture and pair.
    """
    from rnndyn._util import budget

    budget.check_runs(
        float(len(archs)) * len(tasks) * float(per_group),
        "the study's networks",
        hint="Use a smaller --per-group or fewer --archs",
    )
    jobs: list[StudyJob] = []
    for i in range(per_group):
        for arch in archs:
            for kind, names in tasks.items():
                task, seed = names[i % len(names)], i // len(names)
                jobs.append(
                    {
                        "id": f"{arch}__{task}__s{seed}",
                        "arch": arch,
                        "task": task,
                        "kind": kind,
                        "seed": seed,
                    }
                )
    return jobs


@dataclass(frozen=True)
class Settings:
    """What one study run trains and tests (frozen: recorded in the report as is).

    ``per_group``: networks per task kind and architecture, spread round-robin over the design's
    tasks (None: ``seeds`` per task). ``primary``: the pre-registered primary family,
    ``STAT[@GATE]`` (None: the design's default, ``spectral_radius@jac`` for ``paired``, one
    family of every test otherwise). ``learned``: ``(max NRMSE, min accuracy)`` a network must
    reach to enter the tests (None: the design's default, ``LEARNED`` for ``paired``, every
    network otherwise). ``n_permutations``: relabelings (None: all of them up to 2¹⁷ = 131 072
    for pairs, 20 000 otherwise; else 9 999). ``cluster``: ``local:N`` or ``tcp://HOST:PORT``.
    """

    design: str = "paired"
    archs: tuple[str, ...] = ("rnn", "lstm", "gru")
    seeds: int = 3
    per_group: int | None = None
    hidden: int = 32
    epochs: int = 10
    tasks: Mapping[str, Sequence[str]] | None = None
    primary: tuple[str, ...] | None = None
    correction: str = "holm"
    secondary_correction: str = "bh"
    alpha: float = ALPHA
    learned: tuple[float, float] | None = None
    min_learned: int = 2
    n_permutations: int | None = None
    seed: int = 0
    jobs: int = 1
    cluster: str | None = None

    @property
    def paired(self) -> bool:
        return self.design == "paired"

    def task_lists(self) -> dict[str, tuple[str, ...]]:
        if self.design not in DESIGNS:
            raise UsageError(f"unknown design {self.design!r}; choose one of {', '.join(DESIGNS)}")
        return {k: tuple(v) for k, v in (self.tasks or DESIGNS[self.design]).items()}

    def group_size(self) -> int:
        if self.per_group is not None:
            return self.per_group
        return self.seeds * max(len(v) for v in self.task_lists().values())

    def primary_family(self) -> tuple[str, ...] | None:
        if self.primary is not None:
            return tuple(self.primary)
        return ("spectral_radius@jac",) if self.paired else None

    def criterion(self) -> tuple[float, float] | None:
        if self.learned is not None:
            low, high = self.learned
            return float(low), float(high)
        return LEARNED if self.paired else None


def regression_vs_classification(
    out_dir: str | PathLike[str],
    settings: Settings | None = None,
    *,
    formats: Sequence[str] = ("pdf", "png"),
    draw: FigureSet | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    trainer: Callable | None = None,
    command: str | None = None,
) -> StudyResult:
    """Train (or reuse) the networks, compare regression vs classification, write ``OUT/report``.

    Before training, the family is planned from the design (its size, the smallest attainable
    p, whether α is reachable) and a ``RnndynWarning`` says when it cannot reach ``alpha``.
    ``progress(stage, done, total)`` with stage ``"train"``, ``"analyse"`` or ``"test"``.
    ``trainer`` replaces ``rnndyn.training.train.train`` (a picklable module-level function when
    ``jobs > 1``; tests use it). ``command``: recorded in the report. ``draw``: the report's
    figures in ``formats`` (e.g. ``rnndyn.plots.study_figures``; None: no figures). Networks
    train on ``settings.cluster`` (Dask) or ``settings.jobs`` processes (``rnndyn.parallel``).
    """
    start = time.perf_counter()
    cpu_start = time.process_time()
    s = settings or Settings()
    tasks = s.task_lists()
    per_group = s.group_size()
    if per_group < 2:
        raise UsageError(
            f"--per-group {per_group}: at least 2 networks (and 2 tasks) per group are needed"
        )
    if s.correction not in CORRECTIONS or s.secondary_correction not in CORRECTIONS:
        raise UsageError(f"corrections: choose from {', '.join(CORRECTIONS)}")
    _check_tasks(tasks, s.paired)
    _check_size(s.archs, per_group, tasks, s.hidden, s.epochs)
    primary = s.primary_family()
    if primary is not None:
        parse_primary(primary)  # an unknown statistic is refused before any training
    n_permutations = s.n_permutations or _auto_permutations(per_group, tasks, s.paired)
    family = plan_family_for(
        s.archs,
        per_group,
        tasks,
        n_permutations,
        s.correction,
        s.alpha,
        paired=s.paired,
        primary=primary,
    )
    for note in family.notes:
        warnings.warn(f"--per-group {per_group}: {note}", RnndynWarning, stacklevel=2)
    training = {"hidden": s.hidden, "epochs": s.epochs, "sizes": SIZES, "task_params": TASK_PARAMS}
    if s.design != "original":
        training["design"] = s.design
    out = Path(out_dir)
    open_folder(out, plain(training))
    todo = plan(s.archs, per_group, tasks)
    runs = {j["id"]: r for j in todo if (r := finished(out, j)) is not None}
    pending = [j for j in todo if j["id"] not in runs]
    runs.update(
        train_all(
            pending, training, out, s.jobs, progress, len(runs), len(todo), trainer, s.cluster
        )
    )
    records = [runs[j["id"]] for j in todo if j["id"] in runs]
    used, excluded = select_learned(records, s.criterion(), s.min_learned, s.paired)
    cb = (lambda d, t: progress("analyse", d, t)) if progress else None
    comparison = compare_spectra(
        [str(out / r["checkpoint"]) for r in used],
        by="task_kind",
        unit="task",
        correction=s.correction,
        alpha=s.alpha,
        jacobian=True,
        jobs=s.jobs,
        cluster=s.cluster,
        skip_bad=True,
        n_permutations=n_permutations,
        seed=s.seed,
        progress=cb,
        stats_progress=(lambda d, t: progress("test", d, t)) if progress else None,
        pairs="pair" if s.paired else None,
        primary=primary,
        secondary_correction=s.secondary_correction,
    )
    settings_doc = {
        "archs": list(s.archs),
        "per_group": per_group,
        "seeds": s.seeds,
        "design": s.design,
        "tasks": tasks,
        "n_permutations": n_permutations,
        "primary": list(primary) if primary else None,
        "correction": s.correction,
        "secondary_correction": s.secondary_correction if primary else None,
        "learned": list(crit) if (crit := s.criterion()) is not None else None,
        "min_learned": s.min_learned,
        **training,
    }
    result = StudyResult(
        out,
        tuple(records),
        comparison,
        settings_doc,
        time.perf_counter() - start,
        len(pending),
        plan=family,
        command=command,
        excluded=tuple(excluded),
        analysis_cpu_seconds=time.process_time() - cpu_start,
    )
    return dataclasses.replace(result, report=write_report(result, formats, draw))


def _check_size(
    archs: Sequence[str],
    per_group: int,
    tasks: Mapping[str, Sequence[str]],
    hidden: int,
    epochs: int,
) -> None:
    """Refuse (UsageError with the estimate) a study too large to plan or a network too large to
    train, before anything is planned or built."""
    from rnndyn._util import budget
    from rnndyn.tasks import get_task
    from rnndyn.training.train import check_training, config

    budget.check_runs(
        float(len(archs)) * len(tasks) * float(per_group),
        "the study's networks",
        hint="Use a smaller --per-group or fewer --archs",
    )
    for name in dict.fromkeys(n for names in tasks.values() for n in names):
        spec = get_task(name, **TASK_PARAMS.get(name, {})).spec
        spec = dataclasses.replace(spec, defaults={**spec.defaults, **SIZES})
        cfg = config(spec, hidden=hidden, epochs=epochs)
        for arch in dict.fromkeys(archs):
            check_training(spec, arch, cfg, what="training")


def _units(per_group: int, tasks: Mapping[str, Sequence[str]]) -> list[int]:
    return [min(per_group, len(names)) for names in tasks.values()]


def _labelings(per_group: int, tasks: Mapping[str, Sequence[str]], paired: bool) -> int:
    units = _units(per_group, tasks)
    return 2 ** min(units) if paired else math.comb(sum(units), units[0])


def _auto_permutations(per_group: int, tasks: Mapping[str, Sequence[str]], paired: bool) -> int:
    total = _labelings(per_group, tasks, paired)
    return total if total <= (MAX_PAIRED if paired else MAX_EXACT) else 9_999


def plan_family_for(
    archs: Sequence[str],
    per_group: int,
    tasks: Mapping[str, Sequence[str]],
    n_permutations: int,
    correction: str = "holm",
    alpha: float = ALPHA,
    *,
    paired: bool = False,
    primary: Sequence[str] | None = None,
) -> FamilyPlan:
    """The study's family, worked out before training.

    Without ``primary``: one test per statistic and distance per architecture and operator (every
    gate plus the fixed-point Jacobian), tasks as the unit. With ``primary``: its statistics on
    their gates for every architecture that has the gate. ``paired``: the floor is ``2/2ⁿ`` over
    the ``n`` twin pairs (if every pair is learned), else the unpaired labelings of the tasks.
    """
    units = _units(per_group, tasks)
    total = _labelings(per_group, tasks, paired)
    floor = permutation_floor(total, n_permutations, symmetric=paired or len(set(units)) == 1)
    if primary is None:
        size = sum(GATES[a] + 1 for a in archs) * (len(STATISTICS) + len(DISTANCES))
    else:
        chosen = parse_primary(primary)
        size = sum(1 for a in archs for _, gate in chosen if gate in (*GATE_NAMES[a], "jac"))
    return plan_family([floor] * size, correction, alpha)


def _check_tasks(tasks: Mapping[str, Sequence[str]], paired: bool = False) -> None:
    from rnndyn.tasks import get_task

    if paired:
        reg = [pair_of(t) for t in tasks.get("regression", ())]
        cls = [pair_of(t) for t in tasks.get("classification", ())]
        if None in reg or None in cls or sorted(map(str, reg)) != sorted(map(str, cls)):
            raise UsageError(
                "a paired design needs twin tasks (twin_<q>_reg / twin_<q>_cls), one of each "
                "per pair"
            )

    for kind, names in tasks.items():
        if not names:
            raise UsageError(f"no {kind} tasks given")
        for name in names:
            spec = get_task(name, **TASK_PARAMS.get(name, {})).spec
            if spec.kind != kind:
                raise UsageError(f"task {name!r} is a {spec.kind} task, listed under {kind}")


def describe(settings: Settings) -> list[str]:
    """The design and its family in words, worked out before training (the CLI prints them)."""
    s = settings
    tasks = s.task_lists()
    per_group = s.group_size()
    primary = s.primary_family()
    n_perm = s.n_permutations or _auto_permutations(per_group, tasks, s.paired)
    fam = plan_family_for(
        s.archs, per_group, tasks, n_perm, s.correction, s.alpha, paired=s.paired, primary=primary
    )
    n_tasks = min(len(v) for v in tasks.values())
    if s.paired:
        crit = s.criterion()
        lines = [
            f"design paired: {n_tasks} twin pairs × {s.seeds} seeds × 2 kinds × "
            f"{len(s.archs)} archs = {len(plan(s.archs, per_group, tasks))} networks; "
            f"learned: NRMSE ≤ {crit[0]} / accuracy ≥ {crit[1]}"
            if crit
            else f"design paired: {n_tasks} twin pairs",
            f"primary family: {', '.join(primary or ())} per architecture = {fam.size} tests, "
            f"{s.correction}; floor 2/2^{n_tasks} = {fam.smallest_p:.2g}; smallest adjusted p "
            f"{fam.best_case_adjusted:.2g} (α = {s.alpha:g} "
            f"{'reachable' if fam.reachable else 'out of reach'}; reachable while ≥ "
            f"{pairs_needed(fam.size, s.alpha, s.correction)} pairs are learned per arch)",
            f"secondary: every other statistic and distance, {s.secondary_correction}, exploratory",
        ]
    else:
        lines = [
            f"design {s.design}: {n_tasks} tasks per kind, {per_group} networks per kind and "
            f"arch; one family of {fam.size} tests, {s.correction}; smallest p "
            f"{fam.smallest_p:.2g}, smallest adjusted p {fam.best_case_adjusted:.2g}"
        ]
    return lines
