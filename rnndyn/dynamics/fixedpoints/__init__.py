"""Fixed and slow points with their Jacobians: ``solver`` (batched minimisation, Newton refinement,
de-duplication, one layer) and ``search`` (``find_fixed_points``: a checkpoint, layer by layer)."""

from __future__ import annotations

from rnndyn._lazy import lazy_exports

_EXPORTS = {
    "SCHEMA": "rnndyn.dynamics.fixedpoints.search",
    "FixedPointResult": "rnndyn.dynamics.fixedpoints.search",
    "find_fixed_points": "rnndyn.dynamics.fixedpoints.search",
    "LayerFixedPoints": "rnndyn.dynamics.fixedpoints.solver",
    "Settings": "rnndyn.dynamics.fixedpoints.solver",
    "solve_layer": "rnndyn.dynamics.fixedpoints.solver",
}
__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
