"""Planted spectra: real matrices W = P·B·P⁻¹ whose eigenvalues are known exactly."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def block_diagonal(real: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """B with the real eigenvalues on the diagonal and a 2×2 block [[a, -b], [b, a]] per pair a+ib."""
    n = len(real) + 2 * len(pairs)
    b = np.zeros((n, n))
    b[np.arange(len(real)), np.arange(len(real))] = real
    for k, z in enumerate(pairs):
        i = len(real) + 2 * k
        b[i : i + 2, i : i + 2] = [[z.real, -z.imag], [z.imag, z.real]]
    return b


def planted(
    real, pairs, rng: np.random.Generator, *, cond: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(W, eigenvalues). P is orthogonal when ``cond`` is None, else has condition number ≈ ``cond``."""
    real, pairs = np.asarray(real, float), np.asarray(pairs, complex)
    b = block_diagonal(real, pairs)
    n = b.shape[0]
    q1, _ = np.linalg.qr(rng.standard_normal((n, n)))
    if cond is None:
        p = q1
    else:
        q2, _ = np.linalg.qr(rng.standard_normal((n, n)))
        p = q1 @ np.diag(np.geomspace(1.0, 1.0 / cond, n)) @ q2
    w = p @ b @ np.linalg.inv(p)
    eigs = np.concatenate([real, pairs, pairs.conj()])
    return w, eigs


def matched_error(a: np.ndarray, b: np.ndarray) -> float:
    """Largest |a_i − b_π(i)| under the optimal matching π (multisets, not sort order)."""
    cost = np.abs(np.asarray(a)[:, None] - np.asarray(b)[None, :])
    r, c = linear_sum_assignment(cost)
    return float(cost[r, c].max()) if len(r) else 0.0
