"""Spectra of many networks compared between groups, networks as replicates.

- ``spectra``: ``compare_spectra`` — the job: load, analyse, test, collect → ``ComparisonResult``;
- ``population``: one network → its per-operator statistics;
- ``grouping``: checkpoints → named groups (``--by``, ``--group``, ``--manifest``);
- ``stats``: two-sample tests, effect sizes, distances, multiplicity corrections;
- ``tables``: tidy tables, JSON and markdown of a ``ComparisonResult``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "compare_spectra": "rnndyn.compare.spectra",
    "ComparisonResult": "rnndyn.compare.spectra",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rnndyn.compare' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
