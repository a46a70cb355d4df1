"""Bench results: every cell file of a folder, as tidy tables, a summary and report files.

Threshold rule (per task): ``thr = baseline + 0.9·(best − baseline)``, with ``baseline`` the task's
trivial score and ``best`` the best final test metric of any finished run of that task in the
folder (so it moves when the grid is extended). ``epochs_to_threshold`` is the first epoch whose
*validation* metric reaches ``thr`` (empty when never reached).

Divergence rule (one rule for summaries, medians and ranks; ``DIVERGED_RULE``): a finished run
diverged when its status is ``diverged`` (a non-finite training loss), its final test metric is
not finite, or — for lower-is-better metrics — it exceeds ``DIVERGED_MULTIPLE`` × the task's
trivial baseline. It is counted in ``n_diverged``, not ``n_ok``, and scores the trivial baseline
(it learned nothing) in the medians, quantiles, best values and ranks.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from rnndyn._util.jsonsafe import JsonObject
from rnndyn.training.records import CellRecord

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

CELL_SCHEMA = "rnndyn.training.bench-cell/1"
RESULT_SCHEMA = "rnndyn.training.bench-result/1"
FINISHED = ("ok", "diverged")  # results; "error" cells are retried by the next run
THRESHOLD_FRACTION = 0.9
THRESHOLD_RULE = (
    "thr = baseline + 0.9·(best − baseline) per task; first epoch with val metric ≥ thr"
)
DIVERGED_MULTIPLE = 10.0
DIVERGED_RULE = (
    "diverged: status 'diverged', a non-finite test metric, or (lower-is-better metrics) a test "
    f"metric above {DIVERGED_MULTIPLE:g} × the trivial baseline; counted in n_diverged, not n_ok, "
    "and scored as the trivial baseline in medians, quantiles, best and ranks"
)
KEYS = ["task", "kind", "arch", "init", "seed"]
_RUN_METRICS = ("metric", "higher_is_better", "baseline", "test", "val", "best_epoch", "epochs_run")


def load_cells(out_dir: str | PathLike[str]) -> list[CellRecord]:
    """Every readable cell record in ``out_dir/cells`` (sorted by id); unreadable ones are skipped
    (the next run redoes them)."""
    records: list[CellRecord] = []
    for path in sorted(Path(out_dir, "cells").glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if (
            isinstance(doc, dict)
            and doc.get("schema") == CELL_SCHEMA
            and doc.get("id") == path.stem
        ):
            records.append(cast(CellRecord, doc))
    return records


@dataclass(frozen=True)
class BenchResult:
    """Every cell record of a bench folder, plus what this run did.

    ``records``: one record per cell file (``id``, ``task``, ``arch``, ``init``, ``seed``,
    ``status`` ok|diverged|error, ``metrics``, ``history``, ``spec``, ``checkpoint``, ``time_s``;
    :class:`~rnndyn.training.records.CellRecord`).
    ``ran``/``skipped``: cells trained now / already finished. ``not_applicable``: grid entries
    that make no sense (e.g. ``task__rnn__chrono``). ``files``: report files written.
    """

    out_dir: str
    records: tuple[CellRecord, ...]
    ran: int = 0
    skipped: int = 0
    not_applicable: tuple[str, ...] = ()
    wall_s: float = 0.0
    files: tuple[str, ...] = ()

    @classmethod
    def load(cls, out_dir: str | PathLike[str], **info: Any) -> BenchResult:
        """Read a bench folder (e.g. to re-plot it)."""
        return cls(str(out_dir), tuple(load_cells(out_dir)), **info)

    def levels(self) -> dict[str, list]:
        """The grid's axes in display order: tasks by kind then name, archs as ``ARCHS``,
        initializers in registry order, seeds ascending."""
        from rnndyn.init.registry import names
        from rnndyn.training.bench.grid import BENCH_ARCHS

        rank = {n: i for i, n in enumerate([*BENCH_ARCHS, *names()])}
        tasks = {(r["kind"], r["task"]) for r in self.records}
        return {
            "task": [t for _, t in sorted(tasks)],
            "arch": sorted({r["arch"] for r in self.records}, key=lambda a: rank.get(a, 99)),
            "init": sorted({r["init"] for r in self.records}, key=lambda i: rank.get(i, 99)),
            "seed": sorted({r["seed"] for r in self.records}),
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per run and epoch: ``KEYS``, ``id``, ``status``, ``metric``, ``epoch``,
        ``train_loss``, ``val_loss``, ``val_metric``, ``time``."""
        import pandas as pd

        rows = [
            {**_pick(r, ("id", *KEYS, "status")), "metric": r["spec"]["metric"], **h}
            for r in self.records
            for h in r.get("history") or []
        ]
        cols = ["id", *KEYS, "status", "metric", "epoch", "train_loss", "val_loss", "val_metric"]
        return pd.DataFrame(rows, columns=[*cols, "time"] if not rows else None)

    def runs_frame(self) -> pd.DataFrame:
        """One row per run: keys, status, final metrics, time, threshold and epochs to reach it."""
        import pandas as pd

        rows = []
        for r in self.records:
            m = r.get("metrics") or {}
            row = {"id": r["id"], **_pick(r, KEYS), "status": r["status"]}
            row.update(_pick(m, _RUN_METRICS, missing=True))
            row.update(metric=r["spec"]["metric"], higher_is_better=r["spec"]["higher_is_better"])
            row.update(baseline=r["spec"]["baseline"], time_s=r.get("time_s"), cpu_s=r.get("cpu_s"))
            row.update(checkpoint=r.get("checkpoint"), error=r.get("error"))
            rows.append(row)
        runs = pd.DataFrame(rows, columns=list(rows[0]) if rows else ["id", *KEYS, "status"])
        if runs.empty:
            return runs
        runs["test"] = pd.to_numeric(runs["test"], errors="coerce")
        runs["threshold"] = runs["task"].map(_thresholds(runs))
        runs["epochs_to_threshold"] = float("nan")  # stays so when no run has a history
        epochs = self.to_frame()
        if not epochs.empty:
            e = epochs.merge(runs[["id", "threshold", "higher_is_better"]], on="id")
            hib = e["higher_is_better"].astype(bool)
            hit = (hib & (e["val_metric"] >= e["threshold"])) | (
                ~hib & (e["val_metric"] <= e["threshold"])
            )
            runs["epochs_to_threshold"] = runs["id"].map(e[hit].groupby("id")["epoch"].min())
        return runs

    def summary(self) -> pd.DataFrame:
        """Per task × arch × init: runs, runs that learned something (``n_ok``) and diverged runs
        (``n_diverged``, ``DIVERGED_RULE``), median/q25/q75/IQR/best of the final test metric
        with diverged runs scored as the trivial baseline, fraction reaching the threshold,
        median epochs to it, median seconds per run, and ``rank`` (1 = best median within
        task × arch)."""
        import pandas as pd

        runs = self.runs_frame()
        cols = ["task", "kind", "arch", "init"]
        if runs.empty or "test" not in runs:
            return pd.DataFrame(
                columns=[*cols, "n", "n_ok", "n_diverged", "median", "q25", "q75", "iqr"]
            )
        ok = score_runs(runs[runs["status"].isin(FINISHED)])
        g = ok.groupby(cols, sort=False)
        out = pd.DataFrame(
            {
                "metric": g["metric"].first(),
                "higher_is_better": g["higher_is_better"].first(),
                "n_ok": g["diverged"].apply(lambda d: int((~d.astype(bool)).sum())),
                "n_diverged": g["diverged"].apply(lambda d: int(d.astype(bool).sum())),
                "median": g["value"].median(),
                "q25": g["value"].quantile(0.25),
                "q75": g["value"].quantile(0.75),
                "best": g["value"].max().where(g["higher_is_better"].first(), g["value"].min()),
                "threshold": g["threshold"].first(),
                "reached": g["epochs_to_threshold"].apply(lambda s: s.notna().mean()),
                "epochs_to_threshold": g["epochs_to_threshold"].median(),
                "time_s": g["time_s"].median(),
            }
        )
        out.insert(0, "n", runs.groupby(cols, sort=False).size().reindex(out.index))
        out["iqr"] = out["q75"] - out["q25"]
        signed = out["median"].where(~out["higher_is_better"].astype(bool), -out["median"])
        out["rank"] = signed.groupby(level=["task", "arch"]).rank(method="min").astype(int)
        return out.reset_index().sort_values(["task", "arch", "rank"], kind="stable")

    def to_dict(self) -> JsonObject:
        """JSON-ready (NaN → None): counts, the summary, errors, files."""
        from rnndyn._util.jsonsafe import plain

        status = [r["status"] for r in self.records]
        summary = self.summary()
        return plain(
            {
                "schema": RESULT_SCHEMA,
                "out_dir": self.out_dir,
                "counts": {
                    "cells": len(status),
                    **{s: status.count(s) for s in (*FINISHED, "error")},
                    "ran": self.ran,
                    "skipped": self.skipped,
                },
                "not_applicable": list(self.not_applicable),
                "wall_s": self.wall_s,
                "threshold_rule": THRESHOLD_RULE,
                "diverged_rule": DIVERGED_RULE,
                "summary": summary.astype(object).where(summary.notna(), None).to_dict("records"),
                "errors": [
                    {"id": r["id"], "error": r.get("error")}
                    for r in self.records
                    if r["status"] == "error"
                ],
                "files": list(self.files),
            }
        )


def _pick(
    record: Mapping[str, object], keys: Sequence[str], missing: bool = False
) -> dict[str, object]:
    """``record``'s values of ``keys`` (``missing``: None for an absent key, else KeyError)."""
    return {k: record.get(k) if missing else record[k] for k in keys}


def score_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` (``runs_frame`` rows of finished runs) with ``diverged`` and ``value`` (the final
    test metric, or the trivial baseline for a diverged run): ``DIVERGED_RULE``."""
    import numpy as np

    out = runs.copy()
    test = out["test"].astype(float)
    base = out["baseline"].astype(float)
    lower = ~out["higher_is_better"].astype(bool)
    with np.errstate(invalid="ignore"):
        too_big = lower & (test > DIVERGED_MULTIPLE * base)
    out["diverged"] = (out["status"] == "diverged") | ~np.isfinite(test) | too_big
    out["value"] = test.where(~out["diverged"], base)
    return out


def _thresholds(runs: pd.DataFrame) -> dict[str, float]:
    ok = score_runs(runs[runs["status"].isin(FINISHED)])
    out = {}
    for task, g in ok.groupby("task"):
        best = g["value"].max() if bool(g["higher_is_better"].iloc[0]) else g["value"].min()
        base = float(g["baseline"].iloc[0])
        out[task] = base + THRESHOLD_FRACTION * (best - base)
    return out


#: Draws a bench's figures: ``(result, formats) → {file name: bytes}`` (``rnndyn.plots.bench_figures``).
FigureBytes = Callable[[BenchResult, tuple[str, ...]], dict[str, bytes]]


def write_reports(
    result: BenchResult,
    figures: Sequence[str] = ("pdf", "png"),
    draw: FigureBytes | None = None,
) -> BenchResult:
    """Write the tables, ``bench.json`` and (with ``draw``) figures in the formats ``figures`` into
    the folder, published together through :func:`rnndyn.outputs.staging.staged_output` (the
    folder's manifest records them); returns ``result`` with ``files`` set. Refuses (OutputError)
    to replace files rnndyn did not write. Compute never draws: the caller passes ``draw``."""
    from rnndyn.outputs.staging import staged_output
    from rnndyn.training.bench.folder import KEY, WORK, read_state

    out = Path(result.out_dir)
    state = read_state(out)
    runs = result.runs_frame()
    with staged_output(out, force=True, work=WORK, keep_foreign=True) as stage:
        if state is not None:
            stage.run_info[KEY] = dict(state)
        names: list[str] = []
        for name, df in (
            ("results", result.to_frame()),
            ("runs", runs),
            ("summary", result.summary()),
        ):
            names += [p.name for p in stage.write_table(name, df)]
        if draw is not None and figures and not runs.empty and runs["status"].isin(FINISHED).any():
            for name, data in draw(result, tuple(figures)).items():
                stage.write_bytes(name, data)
                names.append(name)
        names.append("bench.json")
        result = dataclasses.replace(result, files=tuple(names))
        stage.write_json("bench.json", result.to_dict())
    return result
