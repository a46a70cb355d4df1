"""Fixed and slow points with their Jacobians: ``solver`` (batched minimisation, Newton refinement,
de-duplication, one layer) and ``search`` (``find_fixed_points``: a checkpoint, layer by layer)."""

from rnndyn.dynamics.fixedpoints.search import SCHEMA, FixedPointResult, find_fixed_points
from rnndyn.dynamics.fixedpoints.solver import LayerFixedPoints, Settings, solve_layer

__all__ = [
    "SCHEMA",
    "FixedPointResult",
    "LayerFixedPoints",
    "Settings",
    "find_fixed_points",
    "solve_layer",
]
