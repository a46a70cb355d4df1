"""Fixed, slow and marginal points with their Jacobians: ``seeding`` (where starts come from),
``solver`` (batched minimisation, Newton refinement, de-duplication, one layer), ``manifolds``
(marginal points, slow manifolds), ``coverage`` (how many points were probably missed), ``scan``
(points linked across inputs), ``search`` (``find_fixed_points``: a checkpoint, layer by layer,
input by input) and ``result`` (``FixedPointResult``)."""

from __future__ import annotations

from rnndyn._lazy import lazy_exports

_EXPORTS = {
    "SCHEMA": "rnndyn.dynamics.fixedpoints.result",
    "FixedPointResult": "rnndyn.dynamics.fixedpoints.result",
    "find_fixed_points": "rnndyn.dynamics.fixedpoints.search",
    "Coverage": "rnndyn.dynamics.fixedpoints.coverage",
    "chao1": "rnndyn.dynamics.fixedpoints.coverage",
    "SlowManifold": "rnndyn.dynamics.fixedpoints.manifolds",
    "Seeding": "rnndyn.dynamics.fixedpoints.seeding",
    "LayerFixedPoints": "rnndyn.dynamics.fixedpoints.points",
    "Settings": "rnndyn.dynamics.fixedpoints.solver",
    "solve_layer": "rnndyn.dynamics.fixedpoints.solver",
}
__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
