"""Drawing only: functions take result objects and an optional Axes, and return Axes or a Figure.

They never call ``show()`` or ``savefig()``; writing figures is ``rnndyn.io.outputs``' job.
Submodules are imported lazily so that ``import rnndyn.plots`` does not import matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "spectrum": ("rnndyn.plots.spectrum", "spectrum"),
    "spectrum_grid": ("rnndyn.plots.spectrum", "spectrum_grid"),
    "modulus_histogram": ("rnndyn.plots.spectrum", "modulus_histogram"),
    "timescale_spectrum": ("rnndyn.plots.spectrum", "timescale_spectrum"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    try:
        return importlib.import_module(f"rnndyn.plots.{name}")
    except ModuleNotFoundError:
        raise AttributeError(f"module 'rnndyn.plots' has no attribute {name!r}") from None
