"""Distances between networks' dynamics, in the spirit of Dynamical Similarity Analysis.

- ``orthogonal``: ``procrustes``, batched Procrustes over vector fields on the orthogonal group (torch);
- ``matrix``: ``similarity`` → ``SimilarityResult`` (operators from trajectories or Jacobians, the
  distance matrix, its MDS embedding; schema ``rnndyn.similarity/1``);
- ``controls``: a network's copy in a rotated or signed-permuted state basis.
"""

from __future__ import annotations

from rnndyn._lazy import lazy_exports

_EXPORTS = {
    "similarity": "rnndyn.dsa.matrix",
    "SimilarityResult": "rnndyn.dsa.matrix",
    "network_operators": "rnndyn.dsa.matrix",
    "procrustes": "rnndyn.dsa.orthogonal",
    "ProcrustesResult": "rnndyn.dsa.orthogonal",
    "rotate_state_dict": "rnndyn.dsa.controls",
    "signed_permutation": "rnndyn.dsa.controls",
    "random_rotation": "rnndyn.dsa.controls",
}
__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
