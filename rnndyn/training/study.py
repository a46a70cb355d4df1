"""Population study: do networks trained for regression and for classification end with different
spectra? Trains ``per_group`` networks per task kind and architecture (spread over the built-in
tasks, several seeds), compares them with ``compare_spectra`` and writes a short markdown report.

The folder ``OUT`` holds ``.rnndyn-study.json`` (marker: the training settings), one
``checkpoints/<arch>__<task>__s<seed>.pt`` and ``runs/<same id>.json`` per trained network (the
run file is written last, so it means "finished"), and ``report/`` (report.md, comparison.json,
tidy tables, figures) rebuilt at the end of every run. A re-run skips finished networks, so an
interrupted study resumes; a larger ``per_group`` or more ``archs`` extends it; other training
settings are refused (their networks would not be comparable).
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from rnndyn.compare.spectra import ComparisonResult, compare_spectra
from rnndyn.errors import OutputError, RnndynError, UsageError
from rnndyn.io.atomic import atomic_write_json
from rnndyn.io.rnndyn_format import plain

SCHEMA = "rnndyn.training.study/1"
MARKER = ".rnndyn-study.json"
NAME = "regression-vs-classification"
DEFAULT_TASKS: dict[str, tuple[str, ...]] = {
    "classification": ("tomita3", "tomita4", "digits"),
    "regression": ("sine", "mackey_glass", "narma10"),
}
TASK_PARAMS: dict[str, dict[str, Any]] = {
    "sine": {"T": 50},
    "mackey_glass": {"T": 50},
    "narma10": {"T": 50},
}
SIZES = {"n_train": 1000, "n_val": 250, "n_test": 500}
ALPHA = 0.05


@dataclass(frozen=True)
class StudyResult:
    """Trained networks (one record each), their comparison, the settings and the wall time."""

    out_dir: Path
    runs: tuple[Mapping[str, Any], ...]
    comparison: ComparisonResult
    settings: Mapping[str, Any]
    wall_seconds: float
    trained_now: int = 0
    report: Path | None = field(default=None)

    def runs_frame(self):
        """One row per trained network: arch, task, kind, seed, metric, test, baseline, seconds."""
        import pandas as pd

        cols = [
            "id",
            "arch",
            "task",
            "kind",
            "seed",
            "metric",
            "test",
            "baseline",
            "epochs_run",
            "seconds",
            "checkpoint",
        ]
        return pd.DataFrame([{c: r.get(c) for c in cols} for r in self.runs], columns=cols)

    def findings(self) -> list[str]:
        """Per (architecture, operator): what differs (Holm p < 0.05) and what does not."""
        out = []
        for arch, op in self.comparison.strata:
            rows = [t for t in self.comparison.tests if (t.architecture, t.operator) == (arch, op)]
            sig = [t for t in rows if t.p_holm < ALPHA]
            same = [t.statistic for t in rows if not t.p_holm < ALPHA]
            n = (
                f"n = {rows[0].n_a} {rows[0].group_a} vs {rows[0].n_b} {rows[0].group_b}"
                if rows
                else ""
            )
            parts = [
                f"{t.statistic} higher in {t.group_a if t.cliffs_delta > 0 else t.group_b} "
                f"(δ = {t.cliffs_delta:+.2f}, p_Holm = {t.p_holm:.2g})"
                for t in sig
            ]
            text = f"{arch.upper()} {op} ({n}): "
            text += (
                ("differ: " + "; ".join(parts) + ".")
                if parts
                else "no statistic differs at Holm p < 0.05."
            )
            if same and parts:
                text += " No detectable difference in " + ", ".join(same) + "."
            dist = [
                d for d in self.comparison.distances if (d.architecture, d.operator) == (arch, op)
            ]
            if dist:
                text += (
                    " Distribution distances: "
                    + ", ".join(
                        f"{d.distribution} {d.metric} p_Holm = {d.p_holm:.2g}" for d in dist
                    )
                    + "."
                )
            out.append(text)
        return out

    def to_markdown(self, figures: Sequence[str] | None = None) -> str:
        s = self.settings
        tasks = "; ".join(f"{k}: {', '.join(v)}" for k, v in s["tasks"].items())
        head = [
            "# Regression vs classification: spectra of trained networks",
            "",
            f"{len(self.runs)} networks ({s['per_group']} per task kind and architecture; "
            f"archs {', '.join(s['archs'])}; tasks {tasks}; hidden {s['hidden']}, "
            f"{s['epochs']} epochs max, data {s['sizes']}, task parameters {s['task_params']}). "
            f"Training and analysis took {self.wall_seconds:.0f} s ({self.trained_now} networks "
            "trained now, the rest reused); training time summed over all networks "
            f"{sum(float(r.get('seconds') or 0) for r in self.runs):.0f} s.",
            "",
            "A hypothesis test in the spirit of Dou & Principe's observation that eigenvalues "
            "behave differently by task kind; the settings here are ours. Task kind is "
            "confounded with the task family, input size and sequence length of these task "
            "sets, so a difference is a difference between these sets of tasks. Networks are "
            "the replicates; every group size is shown next to its result.",
            "",
            "## Findings",
            "",
            *[f"- {f}" for f in self.findings()],
            "",
            "## Training",
            "",
            "| arch | task | kind | networks | metric | median test | baseline |",
            "|---|---|---|---|---|---|---|",
            *self._training_rows(),
            "",
        ]
        body = self.comparison.to_markdown(title="Comparison", figures=figures, level=2)
        return "\n".join(head) + "\n" + body

    def _training_rows(self) -> list[str]:
        import statistics

        groups: dict[tuple, list] = {}
        for r in self.runs:
            groups.setdefault((r["arch"], r["task"], r["kind"], r.get("metric")), []).append(r)
        rows = []
        for (arch, task, kind, metric), rs in groups.items():
            tests = [r["test"] for r in rs if r.get("test") is not None]
            med = f"{statistics.median(tests):.3g}" if tests else "—"
            base = rs[0].get("baseline")
            rows.append(
                f"| {arch} | {task} | {kind} | {len(rs)} | {metric} | {med} | "
                f"{'—' if base is None else f'{base:.3g}'} |"
            )
        return rows


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
    from rnndyn.io.rnndyn_format import save_checkpoint
    from rnndyn.tasks import get_task

    if trainer is None:
        from rnndyn.training.train import train as trainer
    task = _SizedTask(
        get_task(job["task"], **settings["task_params"].get(job["task"], {})), settings["sizes"]
    )
    res = trainer(
        task, job["arch"], hidden=settings["hidden"], epochs=settings["epochs"], seed=job["seed"]
    )
    out = Path(out_dir)
    rel = f"checkpoints/{job['id']}.pt"
    save_checkpoint(out / rel, res.model, {**res.meta, "study": NAME}, force=True)
    m = res.metrics
    record = {
        **job,
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
    per_group: int = 8,
    hidden: int = 32,
    epochs: int = 10,
    tasks: Mapping[str, Sequence[str]] | None = None,
    jobs: int = 1,
    n_permutations: int = 999,
    seed: int = 0,
    formats: Sequence[str] = ("pdf", "png"),
    progress: Callable[[str, int, int], None] | None = None,
    trainer: Callable | None = None,
) -> StudyResult:
    """Train (or reuse) the networks, compare regression vs classification, write ``OUT/report``.

    ``progress(stage, done, total)`` with stage ``"train"`` or ``"analyse"``. ``trainer`` replaces
    ``rnndyn.training.train.train`` (a picklable module-level function when ``jobs > 1``; tests use it).
    """
    start = time.perf_counter()
    tasks = {k: tuple(v) for k, v in (tasks or DEFAULT_TASKS).items()}
    if per_group < 2:
        raise UsageError(f"--per-group {per_group}: at least 2 networks per group are needed")
    _check_tasks(tasks)
    training = {"hidden": hidden, "epochs": epochs, "sizes": SIZES, "task_params": TASK_PARAMS}
    out = Path(out_dir)
    _open(out, plain(training))
    todo = plan(archs, per_group, tasks)
    runs = {j["id"]: r for j in todo if (r := _finished(out, j)) is not None}
    pending = [j for j in todo if j["id"] not in runs]
    runs.update(_train_all(pending, training, out, jobs, progress, len(runs), len(todo), trainer))
    records = [runs[j["id"]] for j in todo if j["id"] in runs]
    cb = (lambda d, t: progress("analyse", d, t)) if progress else None
    comparison = compare_spectra(
        [str(out / r["checkpoint"]) for r in records],
        by="task_kind",
        jacobian=True,
        jobs=jobs,
        skip_bad=True,
        n_permutations=n_permutations,
        seed=seed,
        progress=cb,
    )
    settings = {"archs": list(archs), "per_group": per_group, "tasks": tasks, **training}
    result = StudyResult(
        out, tuple(records), comparison, settings, time.perf_counter() - start, len(pending)
    )
    report = _write_report(result, formats)
    return dataclasses.replace(result, report=report)


def _check_tasks(tasks: Mapping[str, Sequence[str]]) -> None:
    from rnndyn.tasks import get_task

    for kind, names in tasks.items():
        if not names:
            raise UsageError(f"no {kind} tasks given")
        for name in names:
            spec = get_task(name, **TASK_PARAMS.get(name, {})).spec
            if spec.kind != kind:
                raise UsageError(f"task {name!r} is a {spec.kind} task, listed under {kind}")


def _train_all(pending, training, out: Path, jobs, progress, done, total, trainer) -> dict:
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

    if jobs <= 1:
        for job in pending:
            collect(job, lambda job=job: train_one(job, training, str(out), trainer))
    else:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_one_thread) as pool:
            futures = {pool.submit(train_one, j, training, str(out), trainer): j for j in pending}
            for fut in as_completed(futures):
                collect(futures[fut], fut.result)
    if failures:
        raise RnndynError(
            f"{len(failures)} training run(s) failed: " + "; ".join(failures[:5]),
            hint="Re-run the same command to retry them (finished networks are kept).",
        )
    return new


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _write_report(result: StudyResult, formats: Sequence[str]) -> Path:
    from rnndyn.io.outputs import staged_output
    from rnndyn.plots.compare import comparison_figures
    from rnndyn.plots.style import style_context

    dest = result.out_dir / "report"
    with staged_output(dest, force=True, formats=tuple(formats)) as stage:
        stage.write_json("comparison.json", result.comparison.to_dict())
        stage.write_table("statistics", result.comparison.to_frame())
        stage.write_table("tests", result.comparison.tests_frame())
        stage.write_table("group_statistics", result.comparison.group_frame())
        stage.write_table("runs", result.runs_frame())
        names = []
        with style_context():
            for name, fig in comparison_figures(result.comparison):
                stage.write_figure(name, fig)
                names.append(name)
        figs = [f"{n}.png" for n in names] if "png" in formats else None
        stage.write_text("report.md", result.to_markdown(figures=figs))
    return dest / "report.md"
