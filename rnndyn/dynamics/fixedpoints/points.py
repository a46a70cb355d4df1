"""``LayerFixedPoints``: the distinct points of one layer and direction under one constant input,
with their linearisations, kinds and the bookkeeping of the starts that reached them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnndyn.dynamics.fixedpoints.coverage import Coverage, chao1
from rnndyn.dynamics.fixedpoints.manifolds import SlowManifold


@dataclass(frozen=True, eq=False)
class LayerFixedPoints:
    """The distinct points of one layer and direction under one constant input.

    Arrays (``M`` points, state size ``S``, layer input size ``D``, ``N`` starts): ``states``
    ``(M, S)``, ``inputs`` ``(M, D)`` (the constant input each point is a fixed point under), ``q``
    ``(M,)``, ``jacobians`` ``(M, S, S)`` (∂F/∂s), ``input_jacobians`` ``(M, S, D)`` (∂F/∂u),
    ``eigenvalues`` ``(M, S)`` complex (rnndyn's order), ``n_unit`` ``(M,)`` eigenvalues on the unit
    circle within their error bound (``manifolds.unit_circle_bound``), ``counts`` ``(M,)`` starts
    that ended at the point, ``upstream`` ``(M,)`` for layer ``l > 0`` the index of the layer
    ``l − 1`` point whose output drives this point (−1 for layer 0), ``manifold`` ``(M,)`` the slow
    manifold a marginal point belongs to (−1: none), ``readout`` ``(M, O)`` the network's read-out
    at the point (``None`` without one); per start: ``candidate_q`` ``(N,)`` its final ``q``,
    ``start_point`` ``(N,)`` the point it ended at (−1: dropped), ``start_source`` ``(N,)`` where
    it came from (``seeding.SOURCES``).
    """

    arch: str
    layer: int
    direction: str
    states: np.ndarray = field(repr=False)
    inputs: np.ndarray = field(repr=False)
    q: np.ndarray = field(repr=False)
    jacobians: np.ndarray = field(repr=False)
    eigenvalues: np.ndarray = field(repr=False)
    counts: np.ndarray = field(repr=False)
    upstream: np.ndarray = field(repr=False)
    candidate_q: np.ndarray = field(repr=False)
    tol: float = 1e-12
    n_candidates: int = 0
    n_dropped: int = 0
    input_jacobians: np.ndarray | None = field(default=None, repr=False)
    n_unit: np.ndarray = field(default_factory=lambda: np.zeros(0, int), repr=False)
    manifold: np.ndarray = field(default_factory=lambda: np.zeros(0, int), repr=False)
    manifolds: tuple[SlowManifold, ...] = ()
    readout: np.ndarray | None = field(default=None, repr=False)
    start_point: np.ndarray = field(default_factory=lambda: np.zeros(0, int), repr=False)
    start_source: np.ndarray = field(default_factory=lambda: np.zeros(0, str), repr=False)
    input_index: int = 0

    def __len__(self) -> int:
        return int(self.states.shape[0])

    @property
    def n_unstable(self) -> np.ndarray:
        """``(M,)`` eigenvalues with ``|λ| > 1`` (unstable directions)."""
        return (np.abs(self.eigenvalues) > 1.0).sum(axis=1)

    @property
    def stable(self) -> np.ndarray:
        """``(M,)`` True where every ``|λ| < 1``."""
        return (np.abs(self.eigenvalues) < 1.0).all(axis=1)

    @property
    def marginal(self) -> np.ndarray:
        """``(M,)`` True where an eigenvalue is on the unit circle (within its error bound)."""
        return self.n_unit > 0 if len(self.n_unit) == len(self) else np.zeros(len(self), bool)

    @property
    def kind(self) -> np.ndarray:
        """``(M,)`` ``"marginal"`` (an eigenvalue on the unit circle), else ``"fixed"`` (``q ≤ tol``)
        or ``"slow"``."""
        return np.where(self.marginal, "marginal", np.where(self.q <= self.tol, "fixed", "slow"))

    @property
    def isolated(self) -> np.ndarray:
        """``(M,)`` True for the isolated fixed points (``kind == "fixed"``: ``q ≤ tol``, no
        eigenvalue on the unit circle): what the coverage counts."""
        return (self.q <= self.tol) & ~self.marginal

    def coverage(self) -> Coverage:
        """Chao1 estimate of the isolated points from the starts that reached each."""
        return chao1(self.counts[self.isolated])

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per point (``state``, ``q``, ``stable``, ``eigenvalues`` as [re, im], …)."""
        stable, n_unst, kind = self.stable, self.n_unstable, self.kind
        n_unit = self.n_unit if len(self.n_unit) == len(self) else np.zeros(len(self), int)
        man = self.manifold if len(self.manifold) == len(self) else np.full(len(self), -1)
        return [
            {
                "input_index": self.input_index,
                "layer": self.layer,
                "direction": self.direction,
                "index": i,
                "kind": str(kind[i]),
                "q": float(self.q[i]),
                "stable": bool(stable[i]),
                "n_unstable": int(n_unst[i]),
                "n_unit_circle": int(n_unit[i]),
                "manifold": None if man[i] < 0 else int(man[i]),
                "spectral_radius": float(np.abs(self.eigenvalues[i]).max(initial=0.0)),
                "count": int(self.counts[i]),
                "upstream": None if self.upstream[i] < 0 else int(self.upstream[i]),
                "state": self.states[i].tolist(),
                "input": self.inputs[i].tolist(),
                "eigenvalues": [[float(z.real), float(z.imag)] for z in self.eigenvalues[i]],
                "input_jacobian": None
                if self.input_jacobians is None
                else self.input_jacobians[i].tolist(),
                "readout": None if self.readout is None else self.readout[i].tolist(),
            }
            for i in range(len(self))
        ]
