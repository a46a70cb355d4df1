"""Distances between networks' dynamics, in the spirit of Dynamical Similarity Analysis.

- ``procrustes``: batched Procrustes over vector fields on the orthogonal group (torch);
- ``matrix``: ``similarity`` → ``SimilarityResult`` (operators from trajectories or Jacobians, the
  distance matrix, its MDS embedding; schema ``rnndyn.similarity/1``).
"""

from __future__ import annotations

from rnndyn._lazy import lazy_exports

_EXPORTS = {
    "similarity": "rnndyn.similarity.matrix",
    "SimilarityResult": "rnndyn.similarity.matrix",
    "network_operators": "rnndyn.similarity.matrix",
    "procrustes": "rnndyn.similarity.procrustes",
    "ProcrustesResult": "rnndyn.similarity.procrustes",
}
__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
