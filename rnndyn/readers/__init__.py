"""Reading checkpoints, safely: format sniffing, pre-checks, one reader per format, key normalisation,
validation. Nothing here writes a file (outputs live in :mod:`rnndyn.outputs`)."""

from __future__ import annotations

from rnndyn._lazy import lazy_exports

_EXPORTS = {"Checkpoint": "rnndyn.readers.checkpoint", "load": "rnndyn.readers.checkpoint"}
__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
