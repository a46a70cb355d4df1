"""Marginal points and slow manifolds.

A point whose Jacobian has an eigenvalue on the unit circle (within its error bound) is not an
isolated, hyperbolic fixed point: a GRU whose update gate is closed (``z → 1``) keeps any value of
those units, so the search ends on a continuum of near-fixed states, each with an eigenvalue of 1.
Such points are ``marginal``; marginal points that lie on one connected set of near-fixed states
are one ``SlowManifold`` (dimension: the number of unit eigenvalues; extent; starts that ended
there), reported apart from the isolated points and not counted as them.

The error bound (``unit_circle_bound``) is this module's own rule, kept apart from
``rnndyn.conditioning``'s so that reported points do not move (it adds the point's residual):
eigenvalue ``i`` of a point is on the unit circle when ``||λᵢ| − 1| ≤ δᵢ``,

    δᵢ = min(1e-3, max(1e-8, κᵢ · (u · ‖J‖₂ + √(L · r)))),

``κᵢ = ‖xᵢ‖‖yᵢ‖/|yᵢᴴxᵢ|`` the eigenvalue's condition number (Wilkinson; Golub & Van Loan §7.2.2),
``u`` the unit roundoff of the dtype the weights were stored in (float32: 6e-8; the weights are known
no better), ``r = ‖F(s) − s‖`` the point's residual and ``L = ‖W_hh‖₂²`` a curvature scale: the true
fixed point lies within ``r/σ_min(J − I)`` of ``s``, where the Jacobian differs by up to about ``L``
times that, so an eigenvalue within ``√(L·r)`` of 1 cannot be told from 1. 1e-8 is the floor a
float64 search resolves. The test applies to fixed points (``q ≤ tol``) only: at a slow point (a
minimum of ``q`` with ``q > 0``) ``(J − I)ᵀ(F(s) − s) = 0``, so ``J`` always has an eigenvalue of 1
there — that is what makes it slow. Swap the function to change the rule everywhere.

Connected sets: two marginal points are joined when the straight segment between them stays
near-fixed (``q ≤ max_q`` at 7 interior points) — checked between each point and its 16 nearest
marginal neighbours — and the sets are the connected components of that graph.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from rnndyn._util.jsonsafe import JsonObject

FLOOR, CAP, NEIGHBOURS, SEGMENT = 1e-8, 1e-3, 16, 7


def unit_circle_bound(
    jacobians: np.ndarray,
    eigenvalues: np.ndarray,
    eigenvectors: np.ndarray,
    u: float,
    residual: np.ndarray | None = None,
    curvature: float = 1.0,
) -> np.ndarray:
    """``(M, S)`` error bound ``δᵢ`` of every eigenvalue (see the module docstring), from the
    points' own decomposition: ``eigenvectors`` ``(M, S, S)``, column ``i`` belonging to
    ``eigenvalues[:, i]``; ``residual`` ``(M,)`` ``‖F(s) − s‖`` per point (default 0),
    ``curvature`` the scale ``L``."""
    if len(jacobians) == 0:
        return np.zeros(eigenvalues.shape)
    with np.errstate(all="ignore"):
        try:  # rows of V⁻¹: left eigenvectors scaled so that yᴴx = 1
            left = np.linalg.inv(eigenvectors)
        except np.linalg.LinAlgError:  # an exactly defective Jacobian somewhere
            left = np.linalg.pinv(eigenvectors) * 1e16
        kappa = np.linalg.norm(eigenvectors, axis=1) * np.linalg.norm(left, axis=2)
    norm = np.linalg.norm(jacobians, ord=2, axis=(1, 2))
    kappa = np.where(np.isfinite(kappa), kappa, np.inf)
    r = np.zeros(len(jacobians)) if residual is None else np.asarray(residual, dtype=float)
    err = u * norm + np.sqrt(max(curvature, 0.0) * np.maximum(r, 0.0))
    return np.clip(kappa * err[:, None], FLOOR, CAP)


@dataclass(frozen=True)
class SlowManifold:
    """A connected set of marginal points of one layer and input."""

    index: int
    points: np.ndarray  # indices into the layer's points
    dimension: int  # most common number of unit eigenvalues over its points
    extent: float  # largest distance between two of its points
    n_starts: int
    attracting: bool  # every other eigenvalue inside the unit circle at every point
    center: np.ndarray

    def to_dict(self) -> JsonObject:
        return {
            "index": self.index,
            "n_points": len(self.points),
            "dimension": self.dimension,
            "extent": float(self.extent),
            "n_starts": self.n_starts,
            "attracting": self.attracting,
            "center": self.center.tolist(),
            "points": self.points.tolist(),
        }


def _components(n: int, edges: np.ndarray) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    g = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    return connected_components(g, directed=False)[1]


def slow_manifolds(
    states: np.ndarray,
    unit: np.ndarray,
    eigenvalues: np.ndarray,
    counts: np.ndarray,
    q_of: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    max_q: float,
) -> tuple[np.ndarray, list[SlowManifold]]:
    """Group the marginal points (``unit.any(1)``) into connected sets.

    ``q_of(seg, a, b)`` gives ``q`` ``(K, E)`` at states ``seg`` ``(K, E, S)`` on the segments
    between points ``a`` and ``b`` ``(E,)`` (infinite where they cannot be joined). Returns ``(manifold (M,) index or −1, manifolds)``;
    a marginal point alone in its set is a manifold of one point (dimension 0 extent).
    """
    marginal = np.flatnonzero(unit.any(1))
    label = np.full(len(states), -1)
    if len(marginal) == 0:
        return label, []
    pts = torch.from_numpy(states[marginal])
    m = len(marginal)
    k = min(NEIGHBOURS, m - 1)
    if k > 0:
        nn_idx = torch.cdist(pts, pts).topk(k + 1, largest=False).indices[:, 1:]
        a = torch.arange(m).repeat_interleave(k)
        b = nn_idx.reshape(-1)
        t = torch.linspace(0, 1, SEGMENT + 2, dtype=pts.dtype)[1:-1, None, None]
        seg = pts[a][None] + t * (pts[b] - pts[a])[None]  # (SEGMENT, E, S)
        glob = torch.from_numpy(marginal)
        ok = (q_of(seg, glob[a], glob[b]) <= max_q).all(0).numpy()
        edges = np.stack([a.numpy()[ok], b.numpy()[ok]], 1)
    else:
        edges = np.zeros((0, 2), dtype=int)
    comp = _components(m, edges)
    out: list[SlowManifold] = []
    n_unit = unit.sum(1)
    for c in range(comp.max() + 1):
        idx = marginal[comp == c]
        sub = states[idx]
        d = torch.cdist(torch.from_numpy(sub), torch.from_numpy(sub))
        others = np.abs(eigenvalues[idx])[~unit[idx]]
        label[idx] = c
        out.append(
            SlowManifold(
                index=c,
                points=idx,
                dimension=int(np.bincount(n_unit[idx]).argmax()),
                extent=float(d.max()),
                n_starts=int(counts[idx].sum()),
                attracting=bool((others < 1.0).all()),
                center=sub.mean(0),
            )
        )
    return label, out
