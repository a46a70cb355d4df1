"""A study's folder: resumable training of its networks.

``OUT`` is a resumable output folder (:mod:`rnndyn.outputs.manifest`): its
``.rnndyn-manifest.json`` carries the training settings under ``run.study`` and names the study's
working paths: one ``checkpoints/<arch>__<task>__s<seed>.pt`` and ``runs/<same id>.json`` per
trained network (the run file is written last, so it means "finished"), and ``report/`` (itself a
staged output folder with its own manifest). A re-run skips finished networks; other training
settings are refused (their networks would not be comparable). A folder from before the manifest
held the study state (``.rnndyn-study.json``) is recognised and moved to the manifest.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, cast

from rnndyn._util.atomic import atomic_write_json
from rnndyn._util.jsonsafe import JsonObject, plain
from rnndyn.errors import OutputError, RnndynError, UsageError
from rnndyn.outputs import manifest as mf
from rnndyn.studies.records import StudyJob, StudyRun
from rnndyn.tasks.twins import pair_of

__all__ = ["KEY", "SCHEMA", "WORK", "finished", "open_folder", "train_all", "train_one"]

SCHEMA = "rnndyn.training.study/1"
KEY = "study"  # the manifest's run.study
LEGACY_MARKER = ".rnndyn-study.json"  # before the manifest held the study state
WORK = ("checkpoints", "runs", "report")
NAME = "regression-vs-classification"


def train_one(
    job: StudyJob,
    settings: Mapping[str, Any],
    out_dir: str,
    trainer: Callable | None = None,
) -> StudyRun:
    """Train one network, write its checkpoint, then its run record; return the record."""
    from rnndyn.readers.rnndyn_format import save_checkpoint
    from rnndyn.tasks import SizedTask, get_task

    if trainer is None:
        from rnndyn.training.train import train

        trainer = train
    task = SizedTask(
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
    pair = {"pair": p} if (p := pair_of(job["task"])) else {}
    meta = {**design, **res.meta, "study": NAME, "seq_len": spec.seq_len, **pair}
    save_checkpoint(out / rel, res.model, meta, force=True)
    m = res.metrics
    record: StudyRun = {
        **job,
        "input_size": spec.input_size,
        "seq_len": spec.seq_len,
        "readout": spec.readout,
        "loss": spec.loss,
        "init": str(meta.get("init", "default")),
        "checkpoint": rel,
        "metric": m["metric"],
        "test": m["test"],
        "baseline": m["baseline"],
        "epochs_run": m["epochs_run"],
        "seconds": m["seconds"],
    }
    if p:
        record["pair"] = p
    atomic_write_json(out / "runs" / f"{job['id']}.json", plain(record))
    return record


def open_folder(out: Path, settings: JsonObject) -> None:
    """Check ``out`` is new, empty or a study run with the same training ``settings``; create it."""
    _migrate_legacy(out)
    state = mf.read_state(out, KEY, what="rnndyn study") if out.is_dir() else None
    if state is not None:
        there = state.get("training")
        there = there if isinstance(there, dict) else {}
        if state.get("schema") != SCHEMA or there != settings:
            diff = ", ".join(
                f"{k} {there.get(k)!r} there, {v!r} now"
                for k, v in settings.items()
                if there.get(k) != v
            )
            raise UsageError(
                "this study folder was run with other training settings, so its networks would not "
                f"be comparable ({diff or 'not an rnndyn study folder'})",
                path=out,
                hint="Use the same settings to resume, or choose a new --out folder.",
            )
        return
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputError(
            "holds files rnndyn study did not write (no rnndyn manifest); rnndyn never writes "
            "into such a folder",
            path=out,
            hint="Choose a new or empty --out folder.",
        )
    for sub in ("checkpoints", "runs"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    mf.write_state(out, KEY, {"schema": SCHEMA, "study": NAME, "training": settings}, WORK)


def _migrate_legacy(out: Path) -> None:
    """Move a pre-manifest ``.rnndyn-study.json`` marker's state into the manifest."""
    legacy = out / LEGACY_MARKER
    if not legacy.is_file() or (out / mf.MANIFEST_NAME).exists():
        return
    try:
        old = json.loads(legacy.read_text(encoding="utf-8"))
        if not isinstance(old, dict):
            raise ValueError("not an object")
    except (OSError, ValueError) as err:
        raise OutputError(f"{LEGACY_MARKER} is unreadable ({err})", path=out) from None
    mf.write_manifest(out, [], {KEY: old}, WORK)
    legacy.unlink()


def finished(out: Path, job: Mapping[str, Any]) -> StudyRun | None:
    """The run record of a finished network (its checkpoint on disk), else None."""
    path = out / "runs" / f"{job['id']}.json"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("checkpoint"), str):
        return None
    return cast(StudyRun, record) if (out / record["checkpoint"]).is_file() else None


def train_all(
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
