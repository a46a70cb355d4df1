"""rnndyn: dynamics analysis of trained recurrent neural networks.

The pipeline, one module per step::

    load → extract_operators → eigendecompose → simulate / measure_decay → compare_spectra → init

Attributes are imported lazily, so ``import rnndyn`` stays cheap and sets no global state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rnndyn._lazy import lazy_exports
from rnndyn._version import __version__

_EXPORTS = {
    "load": "rnndyn.readers.checkpoint",
    "Checkpoint": "rnndyn.readers.checkpoint",
    "extract_operators": "rnndyn.operators",
    "RecurrentOperator": "rnndyn.operators",
    "eigendecompose": "rnndyn.spectrum",
    "Spectrum": "rnndyn.spectrum",
    "simulate": "rnndyn.dynamics.trajectories",
    "Trajectories": "rnndyn.dynamics.trajectories",
    "find_fixed_points": "rnndyn.dynamics.fixedpoints",
    "measure_decay": "rnndyn.decay",
    "DecayResult": "rnndyn.decay",
    "dmd": "rnndyn.modes",
    "DMDResult": "rnndyn.modes",
    "similarity": "rnndyn.dsa",
    "SimilarityResult": "rnndyn.dsa",
    "compare_spectra": "rnndyn.compare",
    "ComparisonResult": "rnndyn.compare",
}
_SUBPACKAGES = (
    "readers",
    "outputs",
    "dynamics",
    "decay",
    "modes",
    "dsa",
    "compare",
    "init",
    "tasks",
    "training",
    "plots",
    "errors",
)

__all__ = [*_EXPORTS, *_SUBPACKAGES, "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from rnndyn.operators import RecurrentOperator as RecurrentOperator
    from rnndyn.operators import extract_operators as extract_operators
    from rnndyn.readers.checkpoint import Checkpoint as Checkpoint
    from rnndyn.readers.checkpoint import load as load
    from rnndyn.spectrum import Spectrum as Spectrum
    from rnndyn.spectrum import eigendecompose as eigendecompose


__getattr__, _dir = lazy_exports(__name__, _EXPORTS, _SUBPACKAGES)


def __dir__() -> list[str]:
    return [*_dir(), "__version__"]
