"""Spectra of many networks compared between groups.

- ``spectra``: ``compare_spectra`` — the job: load, analyse, test, collect → ``ComparisonResult``;
- ``population``: one network → its per-operator statistics;
- ``grouping``: checkpoints → named groups (``--by``, ``--group``, ``--manifest``), units checked;
- ``runner``: plans every test of a run (designs, floors), runs them, adjusts once;
- ``stats``: two-sample tests, effect sizes, bootstrap CIs, distances;
- ``permutation``: blocked / stratified permutations (tasks as the unit), cluster bootstrap;
- ``family``: one family per run — Holm / BH, smallest attainable p, honest wording;
- ``confounds``: design metadata per network and keys that differ between groups;
- ``results`` / ``tables``: the result rows, tidy tables, JSON and markdown.

Ranking many methods over many cells (the initializer bench) lives in :mod:`rnndyn.training.bench`;
the process/Dask runner in :mod:`rnndyn.parallel`; one network followed through training in
:mod:`rnndyn.training.track`.
"""

from __future__ import annotations

from rnndyn._lazy import lazy_exports

_EXPORTS = {
    "compare_spectra": "rnndyn.compare.spectra",
    "ComparisonResult": "rnndyn.compare.spectra",
}
__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
