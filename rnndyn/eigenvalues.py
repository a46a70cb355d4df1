"""Per-eigenvalue quantities of a real matrix's spectrum: rnndyn's order, timescales, periods.

Eigenvalues are discrete-time: per step, ``|λ|^k`` after ``k`` steps. Order: modulus descending,
then |angle|; conjugate pairs adjacent, positive imaginary part first.
"""

from __future__ import annotations

import numpy as np


def timescales(eigenvalues: np.ndarray) -> np.ndarray:
    """``τ = -1/ln|λ|`` in steps (``inf`` for ``|λ| ≥ 1``, ``0`` for ``λ = 0``)."""
    r = np.abs(np.asarray(eigenvalues))
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = np.where(r >= 1.0, np.inf, -1.0 / np.log(np.where(r > 0, r, 1.0)))
    return np.where(r == 0, 0.0, tau)


def periods(eigenvalues: np.ndarray) -> np.ndarray:
    """Oscillation period ``2π/|arg λ|`` in steps (``inf`` for real positive λ, 2 for real negative)."""
    ang = np.abs(np.angle(np.asarray(eigenvalues)))
    with np.errstate(divide="ignore"):
        return np.where(ang > 0, 2 * np.pi / np.where(ang > 0, ang, 1.0), np.inf)


def order_eigenvalues(w: np.ndarray) -> np.ndarray:
    """Permutation putting eigenvalues of a real matrix in rnndyn's order (see module docstring)."""
    w = np.asarray(w, dtype=complex)
    reps = np.flatnonzero(w.imag >= 0)
    neg = np.flatnonzero(w.imag < 0)
    rank = np.lexsort((-np.sign(w.imag[reps]), np.abs(np.angle(w[reps])), -np.abs(w[reps])))
    order = []
    unused = set(neg.tolist())
    for i in reps[rank]:
        order.append(i)
        if w.imag[i] > 0:
            j = i + 1 if (i + 1 in unused and w[i + 1] == np.conj(w[i])) else None
            if j is None:  # not LAPACK's adjacent layout: nearest unused conjugate
                cand = np.array(sorted(unused))
                j = int(cand[np.argmin(np.abs(w[cand] - np.conj(w[i])))])
            unused.discard(j)
            order.append(j)
    order.extend(sorted(unused))
    return np.asarray(order, dtype=int)
