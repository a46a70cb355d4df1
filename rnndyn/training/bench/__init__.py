"""Benchmark grid runner: tasks × archs × inits × seeds, in parallel worker processes, resumable.

::

    res = run_bench(["tomita4", "adding"], ["lstm", "gru"], ["orthogonal", "chrono"], 3, "out/")
    res.summary()      # median and IQR of the final test metric per task × arch × init
    res.to_frame()     # one row per run and epoch

The folder ``OUT`` holds ``.rnndyn-manifest.json`` (the grids and settings run there, the reports),
``cells/<task>__<arch>__<init>__s<seed>.json`` (one per finished run, written atomically by the
worker that trained it), ``checkpoints/<same id>.pt``, and reports rebuilt from every cell at the
end of each run: ``results.csv`` (per run and epoch), ``runs.csv`` (per run), ``summary.csv``
(+ ``.parquet`` with pyarrow), ``bench.json``, ``learning_curves.{pdf,png}``,
``final_metric.{pdf,png}`` and ``manifest.json`` (the run record), published together as every
output folder's (``rnndyn.outputs.staging``).

A re-run skips finished cells, so Ctrl-C or a crash loses at most the cells in flight (and a
re-run rewrites every report from the cell files, also after one stopped half-way through writing
them). ``cluster="local:N"`` or ``"tcp://HOST:PORT"`` runs the cells on Dask with the same folder. A re-run
with another grid extends the folder; one with other training settings (epochs, hidden, task
parameters, data sizes, eigen law file) is refused, since its cells would not be comparable.
Cells that make no sense (``chrono`` on a vanilla RNN: no gates) are listed, not run.
"""

from __future__ import annotations

from rnndyn._lazy import lazy_exports

_EXPORTS = {
    "ARCHS": "rnndyn.training.bench.grid",
    "PRESETS": "rnndyn.training.bench.grid",
    "Cell": "rnndyn.training.bench.grid",
    "Grid": "rnndyn.training.bench.grid",
    "Preset": "rnndyn.training.bench.grid",
    "resolve_grid": "rnndyn.training.bench.grid",
    "THRESHOLD_RULE": "rnndyn.training.bench.results",
    "BenchResult": "rnndyn.training.bench.results",
    "load_cells": "rnndyn.training.bench.results",
    "run_bench": "rnndyn.training.bench.runner",
    "run_cell": "rnndyn.training.bench.runner",
    "block_summaries": "rnndyn.training.bench.ranking",
    "rank_methods": "rnndyn.training.bench.ranking",
    "control_vs_baselines": "rnndyn.training.bench.paired",
    "paired_cells": "rnndyn.training.bench.paired",
}
__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
