"""Everything that touches files: checkpoint readers, key normalisation, atomic output writers."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Checkpoint", "load"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("rnndyn.io.checkpoint"), name)
    raise AttributeError(f"module 'rnndyn.io' has no attribute {name!r}")
