"""Population study: do networks trained for regression and for classification end with different
spectra? Trains ``per_group`` networks per task kind and architecture (spread round-robin over the
design's tasks, several seeds), compares them with ``compare_spectra`` — tasks as the unit, one
family for the whole study — and writes a report.

Designs: ``matched`` (default) — eight twin pairs from ``rnndyn.tasks.twins``: each regression
task has a classification twin on the same input streams (readout, input size, sequence length
and budget matched; with the same seed the twins see identical inputs and start from identical
recurrent weights); ``original`` — the first study's tomita3, tomita4, digits vs sine,
mackey_glass, narma10 (kind confounded with readout, loss, input size and sequence length).

The folder ``OUT`` holds ``.rnndyn-study.json`` (marker: the training settings), one
``checkpoints/<arch>__<task>__s<seed>.pt`` and ``runs/<same id>.json`` per trained network (the
run file is written last, so it means "finished"), and ``report/`` (report.md, study.json,
comparison.json, tidy tables, figures) rebuilt at the end of every run. A re-run skips finished
networks, so an interrupted study resumes; a larger ``per_group`` or more ``archs`` extends it;
other training settings are refused (their networks would not be comparable).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

from rnndyn._util.atomic import atomic_write_json
from rnndyn._util.jsonsafe import plain
from rnndyn.compare.family import FamilyPlan, permutation_floor, plan_family
from rnndyn.compare.population import STATISTICS
from rnndyn.compare.spectra import compare_spectra
from rnndyn.compare.stats import DISTANCES
from rnndyn.errors import OutputError, RnndynError, RnndynWarning, UsageError
from rnndyn.tasks.twins import QUANTITIES, twin_name
from rnndyn.training.study_report import FigureSet, StudyResult, write_report

__all__ = ["DESIGNS", "StudyResult", "plan", "plan_family_for", "regression_vs_classification"]

SCHEMA = "rnndyn.training.study/1"
MARKER = ".rnndyn-study.json"
NAME = "regression-vs-classification"
DESIGNS: dict[str, dict[str, tuple[str, ...]]] = {
    "matched": {
        kind: tuple(twin_name(q, kind) for q in QUANTITIES)
        for kind in ("classification", "regression")
    },
    "original": {
        "classification": ("tomita3", "tomita4", "digits"),
        "regression": ("sine", "mackey_glass", "narma10"),
    },
}
DEFAULT_TASKS = DESIGNS["original"]  # kept for callers of the first study
TASK_PARAMS: dict[str, dict[str, Any]] = {
    "sine": {"T": 50},
    "mackey_glass": {"T": 50},
    "narma10": {"T": 50},
}
SIZES = {"n_train": 1000, "n_val": 250, "n_test": 500}
ALPHA = 0.05
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
MAX_EXACT = 20_000  # enumerate every task labeling up to this many


def plan(
    archs: Sequence[str], per_group: int, tasks: Mapping[str, Sequence[str]]
) -> list[dict[str, Any]]:
    """The networks to train: per arch and kind, ``per_group`` (task, seed) spread round-robin."""
    jobs = []
    for arch in archs:
        for kind, names in tasks.items():
            for i in range(per_group):
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


class _SizedTask:
    """A task whose data have the study's sizes (recorded in the checkpoint's training block)."""

    def __init__(self, task: Any, sizes: Mapping[str, int]):
        self._task, self._sizes = task, dict(sizes)
        self.spec = dataclasses.replace(task.spec, defaults={**task.spec.defaults, **sizes})

    def generate(self, seed: int, **overrides: Any):
        return self._task.generate(seed, **{**self._sizes, **overrides})

    def evaluate(self, output, target) -> float:
        return self._task.evaluate(output, target)


def train_one(
    job: Mapping[str, Any],
    settings: Mapping[str, Any],
    out_dir: str,
    trainer: Callable | None = None,
) -> dict[str, Any]:
    """Train one network, write its checkpoint, then its run record; return the record."""
    from rnndyn.readers.rnndyn_format import save_checkpoint
    from rnndyn.tasks import get_task

    if trainer is None:
        from rnndyn.training.train import train

        trainer = train
    task = _SizedTask(
        get_task(job["task"], **settings["task_params"].get(job["task"], {})), settings["sizes"]
    )
    res = trainer(
        task, job["arch"], hidden=settings["hidden"], epochs=settings["epochs"], seed=job["seed"]
    )
    out = Path(out_dir)
    rel = f"checkpoints/{job['id']}.pt"
    spec = task.spec
    design = {
        "input_size": spec.input_size,
        "seq_len": spec.seq_len,
        "readout": spec.readout,
        "loss": spec.loss,
    }
    meta = {**design, **res.meta, "study": NAME, "seq_len": spec.seq_len}
    save_checkpoint(out / rel, res.model, meta, force=True)
    m = res.metrics
    record = {
        **job,
        **design,
        "init": meta.get("init", "default"),
        "checkpoint": rel,
        "metric": m["metric"],
        "test": m["test"],
        "baseline": m["baseline"],
        "epochs_run": m["epochs_run"],
        "seconds": m["seconds"],
    }
    atomic_write_json(out / "runs" / f"{job['id']}.json", plain(record))
    return record


def _open(out: Path, settings: dict[str, Any]) -> None:
    marker = out / MARKER
    if marker.exists():
        try:
            old = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise OutputError(f"{MARKER} is unreadable ({err})", path=out) from None
        there = old.get("training") or {}
        if old.get("schema") != SCHEMA or there != settings:
            diff = ", ".join(
                f"{k} {there.get(k)!r} there, {v!r} now"
                for k, v in settings.items()
                if there.get(k) != v
            )
            raise UsageError(
                "this study folder was run with other training settings, so its networks would not "
                f"be comparable ({diff or 'not an rnndyn study marker'})",
                path=out,
                hint="Use the same settings to resume, or choose a new --out folder.",
            )
        return
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputError(
            f"holds files rnndyn study did not write (no {MARKER}); rnndyn never writes "
            "into such a folder",
            path=out,
            hint="Choose a new or empty --out folder.",
        )
    for sub in ("checkpoints", "runs"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / MARKER, {"schema": SCHEMA, "study": NAME, "training": settings})


def _finished(out: Path, job: Mapping[str, Any]) -> dict[str, Any] | None:
    path = out / "runs" / f"{job['id']}.json"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if (out / record.get("checkpoint", "")).is_file() else None


def regression_vs_classification(
    out_dir: str | PathLike[str],
    *,
    archs: Sequence[str] = ("rnn", "lstm", "gru"),
    per_group: int = 24,
    hidden: int = 32,
    epochs: int = 10,
    design: str = "matched",
    tasks: Mapping[str, Sequence[str]] | None = None,
    jobs: int = 1,
    n_permutations: int | None = None,
    correction: str = "holm",
    alpha: float = ALPHA,
    seed: int = 0,
    formats: Sequence[str] = ("pdf", "png"),
    draw: FigureSet | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    trainer: Callable | None = None,
    command: str | None = None,
    cluster: str | None = None,
) -> StudyResult:
    """Train (or reuse) the networks, compare regression vs classification, write ``OUT/report``.

    ``design``: ``"matched"`` or ``"original"`` (``tasks`` overrides its task lists).
    ``n_permutations``: task relabelings; None: all of them when there are at most 20 000
    (exact), else 9 999. Before training, the smallest attainable p of the design is computed
    and a ``RnndynWarning`` says when the family cannot reach ``alpha``.
    ``progress(stage, done, total)`` with stage ``"train"``, ``"analyse"`` or ``"test"``. ``trainer``
    replaces ``rnndyn.training.train.train`` (a picklable module-level function when
    ``jobs > 1``; tests use it). ``command``: recorded in the report. ``cluster``: ``local:N`` or
    ``tcp://HOST:PORT`` trains the networks on Dask (``rnndyn.parallel``). ``draw``: the
    report's figures in ``formats`` (e.g. ``rnndyn.plots.study_figures``; None: no figures).
    """
    start = time.perf_counter()
    if design not in DESIGNS:
        raise UsageError(f"unknown design {design!r}; choose one of {', '.join(DESIGNS)}")
    tasks = {k: tuple(v) for k, v in (tasks or DESIGNS[design]).items()}
    if per_group < 2:
        raise UsageError(
            f"--per-group {per_group}: at least 2 networks (and 2 tasks) per group are needed"
        )
    _check_tasks(tasks)
    if n_permutations is None:
        n_permutations = _auto_permutations(per_group, tasks)
    family = plan_family_for(archs, per_group, tasks, n_permutations, correction, alpha)
    for note in family.notes:
        warnings.warn(f"--per-group {per_group}: {note}", RnndynWarning, stacklevel=2)
    training = {"hidden": hidden, "epochs": epochs, "sizes": SIZES, "task_params": TASK_PARAMS}
    if design != "original":
        training["design"] = design
    out = Path(out_dir)
    _open(out, plain(training))
    todo = plan(archs, per_group, tasks)
    runs = {j["id"]: r for j in todo if (r := _finished(out, j)) is not None}
    pending = [j for j in todo if j["id"] not in runs]
    runs.update(
        _train_all(pending, training, out, jobs, progress, len(runs), len(todo), trainer, cluster)
    )
    records = [runs[j["id"]] for j in todo if j["id"] in runs]
    cb = (lambda d, t: progress("analyse", d, t)) if progress else None
    comparison = compare_spectra(
        [str(out / r["checkpoint"]) for r in records],
        by="task_kind",
        unit="task",
        correction=correction,
        alpha=alpha,
        jacobian=True,
        jobs=jobs,
        cluster=cluster,
        skip_bad=True,
        n_permutations=n_permutations,
        seed=seed,
        progress=cb,
        stats_progress=(lambda d, t: progress("test", d, t)) if progress else None,
    )
    settings = {
        "archs": list(archs),
        "per_group": per_group,
        "design": design,
        "tasks": tasks,
        "n_permutations": n_permutations,
        **training,
    }
    result = StudyResult(
        out,
        tuple(records),
        comparison,
        settings,
        time.perf_counter() - start,
        len(pending),
        plan=family,
        command=command,
    )
    return dataclasses.replace(result, report=write_report(result, formats, draw))


def _units(per_group: int, tasks: Mapping[str, Sequence[str]]) -> list[int]:
    return [min(per_group, len(names)) for names in tasks.values()]


def _auto_permutations(per_group: int, tasks: Mapping[str, Sequence[str]]) -> int:
    units = _units(per_group, tasks)
    total = math.comb(sum(units), units[0])
    return total if total <= MAX_EXACT else 9_999


def plan_family_for(
    archs: Sequence[str],
    per_group: int,
    tasks: Mapping[str, Sequence[str]],
    n_permutations: int,
    correction: str = "holm",
    alpha: float = ALPHA,
) -> FamilyPlan:
    """The study's family, worked out before training: one test per statistic and distance per
    architecture and operator (every gate plus the fixed-point Jacobian), tasks as the unit."""
    units = _units(per_group, tasks)
    total = math.comb(sum(units), units[0])
    floor = permutation_floor(total, n_permutations, symmetric=len(set(units)) == 1)
    size = sum(GATES[a] + 1 for a in archs) * (len(STATISTICS) + len(DISTANCES))
    return plan_family([floor] * size, correction, alpha)


def _check_tasks(tasks: Mapping[str, Sequence[str]]) -> None:
    from rnndyn.tasks import get_task

    for kind, names in tasks.items():
        if not names:
            raise UsageError(f"no {kind} tasks given")
        for name in names:
            spec = get_task(name, **TASK_PARAMS.get(name, {})).spec
            if spec.kind != kind:
                raise UsageError(f"task {name!r} is a {spec.kind} task, listed under {kind}")


def _train_all(
    pending, training, out: Path, jobs, progress, done, total, trainer, cluster=None
) -> dict:
    new: dict[str, dict] = {}
    failures: list[str] = []
    if progress:
        progress("train", done, total)
    if not pending:
        return new

    def collect(job, get) -> None:
        nonlocal done
        try:
            new[job["id"]] = get()
        except RnndynError as err:
            failures.append(f"{job['id']}: {err}")
        done += 1
        if progress:
            progress("train", done, total)

    if jobs <= 1 and cluster is None:
        with _one_torch_thread():  # small networks: one thread is faster, and polite on a busy host
            for job in pending:
                collect(job, lambda job=job: train_one(job, training, str(out), trainer))
    else:  # workers ignore SIGINT and are stopped on Ctrl-C (no worker tracebacks)
        from rnndyn.parallel import execute

        def got(i: int, value: Any) -> None:
            collect(pending[i], lambda: _raise_or(value))

        args = [(j, training, str(out), trainer) for j in pending]
        execute(train_one, args, on_result=got, jobs=jobs, cluster=cluster, catch=(RnndynError,))
    if failures:
        raise RnndynError(
            f"{len(failures)} training run(s) failed: " + "; ".join(failures[:5]),
            hint="Re-run the same command to retry them (finished networks are kept).",
        )
    return new


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _raise_or(value: Any) -> Any:
    if isinstance(value, RnndynError):
        raise value
    return value
