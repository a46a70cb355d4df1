"""The eigenpairs of largest modulus (or nearest a point) of a real matrix, with left vectors.

Implicitly restarted Arnoldi (ARPACK through ``scipy.sparse.linalg.eigs``) on ``W`` for the ``k``
right eigenpairs and on ``Wᵀ`` for the matching left ones; the dense solver below ``DENSE_MAX_N``.
Conjugate pairs are never split (a missing conjugate is added) and are laid out as LAPACK does.
The numerical kernel of ``rnndyn.topk``, which turns these into ``PartialSpectrum`` objects with
their trust diagnostics.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnndyn.errors import UsageError
from rnndyn.spectrum import order_eigenvalues

TOL = 1e-12  # ARPACK's relative accuracy of the Ritz values (the residuals are reported anyway)
DENSE_MAX_N = 512  # below this a dense eig (of W and Wᵀ) is faster than Arnoldi


def _arnoldi(
    w: np.ndarray, k: int, target: complex | None, seed: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """``(λ (m,), X (n, m), converged)`` from ARPACK; ``m ≥ k`` (more if a pair was split)."""
    from scipy.sparse.linalg import ArpackNoConvergence, eigs

    n = w.shape[0]
    v0 = np.random.default_rng(seed).standard_normal((n,))
    ncv = min(n, max(3 * k, 2 * k + 1, 20))  # > 2k+1: far fewer restarts on a disk-like bulk
    kwargs: dict[str, Any] = {"k": k, "ncv": ncv, "v0": v0, "tol": TOL, "maxiter": 50 * n}
    a: Any = w
    if target is not None:
        a = w.astype(complex)
        kwargs |= {"sigma": complex(target), "which": "LM", "v0": v0.astype(complex)}
    else:
        kwargs["which"] = "LM"
    try:
        lam, vec = eigs(a, **kwargs)
        conv = k
    except ArpackNoConvergence as err:
        lam, vec = err.eigenvalues, err.eigenvectors
        conv = len(lam)
    return np.asarray(lam, complex), np.asarray(vec, complex), conv


def _complete_pairs(lam: np.ndarray, vec: np.ndarray, real: bool) -> tuple[np.ndarray, np.ndarray]:
    """Add the missing conjugate of a complex eigenvalue of a real matrix (its vector is ``x̄``)."""
    if not real:
        return lam, vec
    scale = np.maximum(np.abs(lam), 1e-300)
    extra = [
        i
        for i, z in enumerate(lam)
        if abs(z.imag) > 1e-12 * scale[i] and np.min(np.abs(lam - z.conjugate()) / scale[i]) > 1e-8
    ]
    if not extra:
        return lam, vec
    return np.concatenate([lam, lam[extra].conj()]), np.hstack([vec, vec[:, extra].conj()])


def _tidy_pairs(lam: np.ndarray, vec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact conjugate pairs (``λ̄``, ``x̄`` beside ``λ``, ``x``), as LAPACK lays them out, in order."""
    perm = order_eigenvalues(lam)
    lam, vec = lam[perm].copy(), vec[:, perm].copy()
    pos = np.flatnonzero(lam.imag > 0)
    nxt = pos[pos + 1 < lam.size]
    nxt = nxt[np.abs(lam[nxt + 1] - lam[nxt].conj()) <= 1e-8 * np.abs(lam[nxt])]
    lam[nxt + 1], vec[:, nxt + 1] = lam[nxt].conj(), vec[:, nxt].conj()
    real = np.abs(lam.imag) <= 1e-12 * np.maximum(np.abs(lam), 1e-300)
    if real.any():  # a real eigenvalue's vector made real (ARPACK may return it with a phase)
        v = vec[:, real]
        phase = np.exp(-1j * np.angle(v[np.argmax(np.abs(v), axis=0), np.arange(v.shape[1])]))
        vec[:, real] = (v * phase).real
        lam[real] = lam[real].real
    return lam, vec / np.linalg.norm(vec, axis=0)


def top_eigenpairs(
    w: np.ndarray,
    k: int,
    *,
    target: complex | None = None,
    left: bool = True,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    """The ``k`` eigenvalues of largest modulus of real ``w`` (or the ``k`` nearest ``target``).

    Returns ``(λ (m,), X (n, m), Y (n, m) | None, converged)``: unit right eigenvectors, left
    eigenvectors scaled so ``yᵢᴴxᵢ = 1`` (NaN columns where the second run did not find ``λᵢ``), in
    rnndyn's order. ``m`` is ``k``, or ``k + 1`` when the ``k``-th eigenvalue's conjugate is added.
    Small operators (``n ≤ DENSE_MAX_N``, or ``k ≥ n − 1`` where ARPACK cannot run) use the dense
    solver (faster there), then keep the same ``k``.
    """
    w = np.asarray(w, dtype=np.float64)
    n = w.shape[0]
    if k < 1:
        raise UsageError(f"--top needs K ≥ 1, got {k}")
    dense = k >= n - 1 or n <= DENSE_MAX_N
    if dense:
        lam, vec = np.linalg.eig(w)
        conv = n
        if target is not None:
            pick = np.argsort(np.abs(lam - target), kind="stable")[: min(k, n)]
        else:
            pick = np.argsort(-np.abs(lam), kind="stable")[: min(k, n)]
        lam, vec = lam[pick], vec[:, pick]
    else:
        lam, vec, conv = _arnoldi(w, k, target, seed)
    lam, vec = _tidy_pairs(*_complete_pairs(np.asarray(lam, complex), vec.astype(complex), True))
    conv = lam.size if conv >= min(k, n) else conv  # a completed pair counts as converged
    if not left:
        return lam, vec, None, conv
    if dense:
        mu, u = np.linalg.eig(w.T)
    else:
        extra = min(lam.size, n - 2)  # not more: past the top k may lie a slow cluster
        mu, u, _ = _arnoldi(np.ascontiguousarray(w.T), extra, target, seed + 1)
    return lam, vec, _left_vectors(lam, vec, np.asarray(mu, complex), np.asarray(u, complex)), conv


def _left_vectors(lam: np.ndarray, x: np.ndarray, mu: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Left eigenvectors ``yᵢ = conj(u_j)`` matched to ``λᵢ`` (optimal assignment on ``|λ − μ|``),
    scaled so ``yᵢᴴxᵢ = 1``; NaN where no ``μ`` agrees with ``λᵢ`` to 1e-6 relative."""
    from scipy.optimize import linear_sum_assignment

    mu, u = _complete_pairs(mu, u, True)
    cost = np.abs(lam[:, None] - mu[None, :])
    rows, cols = linear_sum_assignment(cost)
    y = np.full(x.shape, np.nan + 0j)
    tol = 1e-6 * max(float(np.abs(lam).max(initial=0.0)), 1e-300)
    for i, j in zip(rows, cols, strict=True):
        if cost[i, j] <= tol:
            yi = u[:, j].conj()
            d = np.vdot(yi, x[:, i])  # yᴴx
            if abs(d) > 0:
                y[:, i] = yi / d.conjugate()
    return y
