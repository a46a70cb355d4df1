"""Run the grid: one training run per cell, in worker processes (local or Dask), each result
written atomically."""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from rnndyn._util.atomic import atomic_write_json
from rnndyn._util.jsonsafe import JsonObject
from rnndyn.errors import RnndynError
from rnndyn.training.bench.grid import Cell, model_arch, resolve_grid, unit
from rnndyn.training.bench.results import (
    CELL_SCHEMA,
    FINISHED,
    BenchResult,
    FigureBytes,
    load_cells,
)
from rnndyn.training.records import CellRecord

Progress = Callable[[int, int, "CellRecord | None"], None]


@dataclass(frozen=True)
class CellConfig:
    """What every worker needs (picklable). ``trainer``: a module-level function with
    ``rnndyn.training.train.train``'s signature, for tests and custom loops (default: ``train``)."""

    out_dir: str
    hidden: int | None
    epochs: int | None
    task_params: Mapping[str, Mapping[str, Any]]
    sizes: Mapping[str, int]
    init_params: Mapping[str, str]
    checkpoints: bool = True
    trainer: Callable[..., Any] | None = None
    save_every: int | None = None


def run_cell(cell: Cell, cfg: CellConfig) -> CellRecord:
    """Train one cell; write its checkpoint, then ``cells/<id>.json`` atomically; return it."""
    from rnndyn._util.jsonsafe import plain
    from rnndyn.init import registry
    from rnndyn.tasks import SizedTask, get_task

    start, cpu = time.perf_counter(), time.process_time()
    task = SizedTask(get_task(cell.task, **cfg.task_params.get(cell.task, {})), cfg.sizes)
    entry = registry.get(cell.init)
    nonlinearity = unit(cell.arch, entry.nonlinearity)
    options = {"t_max": float(max(task.spec.seq_len, 3))} if cell.init == "chrono" else None
    record: JsonObject = {
        "schema": CELL_SCHEMA,
        **dataclasses.asdict(cell),
        "id": cell.id,
        "nonlinearity": nonlinearity,
        "spec": task.spec.to_dict(),
        "checkpoint": None,
    }
    caught: list[warnings.WarningMessage] = []
    try:
        if cfg.trainer is None:
            from rnndyn.training.train import train as trainer
        else:
            trainer = cfg.trainer
        with warnings.catch_warnings(record=True) as caught:  # kept in the record, not printed
            warnings.simplefilter("always")
            res = trainer(
                task,
                model_arch(cell.arch),
                hidden=cfg.hidden,
                init=cell.init,
                seed=cell.seed,
                init_params=cfg.init_params.get(cell.kind) if entry.needs_params else None,
                init_options=options,
                epochs=cfg.epochs,
                nonlinearity=nonlinearity,
                **_snapshot_args(cfg, cell),
            )
        finite = all(math.isfinite(float(h["train_loss"])) for h in res.history)
        record.update(status="ok" if finite else "diverged", error=None)
        record.update(metrics=dict(res.metrics), history=list(res.history))
        if cfg.checkpoints:  # before the cell file: a cell file means everything is on disk
            from rnndyn.readers.rnndyn_format import save_checkpoint

            rel = f"checkpoints/{cell.id}.pt"
            (Path(cfg.out_dir) / "checkpoints").mkdir(exist_ok=True)
            save_checkpoint(Path(cfg.out_dir) / rel, res.model, res.meta, force=True)
            record["checkpoint"] = rel
    except RnndynError as err:
        record.update(status="error", error=str(err), exit_code=err.exit_code)
        record.update(metrics={}, history=[])
    except Exception as err:  # a bug in one cell must not stop the grid; it is retried next run
        tb = traceback.format_exception_only(type(err), err)[-1].strip()
        record.update(status="error", error=tb, exit_code=1, metrics={}, history=[])
    record["warnings"] = sorted({str(w.message) for w in caught})
    record.update(time_s=time.perf_counter() - start, cpu_s=time.process_time() - cpu)
    doc: CellRecord = plain(record)
    atomic_write_json(Path(cfg.out_dir) / "cells" / f"{cell.id}.json", doc)
    return doc


class _SnapshotArgs(TypedDict, total=False):
    save_every: int
    snapshots: Path
    force: bool


def _snapshot_args(cfg: CellConfig, cell: Cell) -> _SnapshotArgs:
    """``train``'s snapshot arguments: ``OUT/snapshots/<cell id>/epoch_*.pt`` every ``save_every``."""
    if not cfg.save_every:
        return {}
    folder = Path(cfg.out_dir) / "snapshots" / cell.id
    return {"save_every": cfg.save_every, "snapshots": folder, "force": True}


def run_bench(
    tasks: Sequence[str] | None,
    archs: Sequence[str] | None,
    inits: Sequence[str] | None,
    seeds: int | Iterable[int] | None,
    out_dir: str | os.PathLike[str],
    *,
    jobs: int = 1,
    preset: str | None = None,
    epochs: int | None = None,
    hidden: int | None = None,
    init_params: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    checkpoints: bool = True,
    save_every: int | None = None,
    figures: Sequence[str] = ("pdf", "png"),
    draw: FigureBytes | None = None,
    trainer: Callable[..., Any] | None = None,
    cluster: str | None = None,
) -> BenchResult:
    """Run (or resume, or extend) the grid in ``out_dir``; return every finished cell there.

    ``seeds``: a count ``N`` (seeds ``0..N−1``) or explicit seeds. ``preset`` (``quick``,
    ``full``) fills the arguments left ``None`` and sets data sizes. ``epochs``/``hidden``
    override the task defaults. ``init_params``: the eigen law, one path for every task or
    ``{"regression": path, "classification": path}``. ``jobs`` worker processes, one torch thread
    each. ``progress(done, total, record)`` after each cell (``record`` is None at the start).
    ``save_every=K`` also keeps each run's weights at epoch 0 and every K-th epoch in
    ``OUT/snapshots/<cell id>/`` (for ``rnndyn track``). ``figures``: formats of the report figures, drawn by ``draw`` (e.g.
    ``rnndyn.plots.bench_figures``; ``None``: tables only — compute never draws). ``trainer``: replaces
    ``rnndyn.training.train.train`` (a picklable module-level function; tests use it).
    ``cluster``: ``"local:N"`` or ``"tcp://HOST:PORT"`` runs the cells on Dask instead of ``jobs``
    local processes (same cell files; ``out_dir`` must be on a filesystem every worker shares).

    Raises UsageError (unknown names, seeds < 1), InvalidInputError (law file) and OutputError
    (a folder with files rnndyn did not write, run with other settings, or locked by another run).
    """
    from rnndyn.parallel import execute
    from rnndyn.training.bench.folder import open_folder
    from rnndyn.training.bench.results import write_reports

    grid = resolve_grid(
        tasks,
        archs,
        inits,
        seeds,
        preset=preset,
        epochs=epochs,
        hidden=hidden,
        init_params=init_params,
        jobs=jobs,
    )
    out = Path(out_dir)
    started = time.perf_counter()
    with open_folder(out, grid):
        cfg = CellConfig(
            out_dir=str(out),
            hidden=grid.hidden,
            epochs=grid.epochs,
            task_params=grid.task_params,
            sizes=grid.sizes,
            init_params=grid.init_params,
            checkpoints=checkpoints,
            trainer=trainer,
            save_every=save_every,
        )
        done = {r["id"] for r in load_cells(out) if r.get("status") in FINISHED}
        todo = [c for c in grid.cells if c.id not in done]
        counter = itertools.count(1)
        if progress is not None:
            progress(0, len(todo), None)

        def on_done(record: CellRecord) -> None:
            if progress is not None:
                progress(next(counter), len(todo), record)

        execute(
            run_cell,
            [(cell, cfg) for cell in todo],
            on_result=lambda _, record: on_done(record),
            jobs=jobs,
            cluster=cluster,
            preload=() if cluster else ("rnndyn.training.train", "rnndyn.training.bench.runner"),
        )
        result = BenchResult.load(
            out,
            ran=len(todo),
            skipped=len(grid.cells) - len(todo),
            not_applicable=grid.not_applicable,
            wall_s=time.perf_counter() - started,
        )
        return write_reports(result, figures, draw)
