"""Everything that touches files: checkpoint readers, key normalisation, atomic output writers."""

from __future__ import annotations

from rnndyn._lazy import lazy_exports

_EXPORTS = {"Checkpoint": "rnndyn.io.checkpoint", "load": "rnndyn.io.checkpoint"}
__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
