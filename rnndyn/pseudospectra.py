"""ε-pseudospectra of recurrent operators and the distance to the unit circle they measure.

``Λ_ε(W) = {z : σ_min(zI − W) ≤ ε}`` (Trefethen & Embree, *Spectra and Pseudospectra*, 2005): the
points that are eigenvalues of some ``W + E`` with ``‖E‖₂ ≤ ε``. A normal ``W`` has discs of radius
``ε`` around its eigenvalues; a Jordan block ``J_n(λ)`` a disc of radius about ``ε^{1/n}``.
The stability margin of an operator is the smallest ``ε`` whose ``Λ_ε`` reaches the unit circle,
``min_{|z|=1} σ_min(zI − W)`` (for a stable ``W`` its complex stability radius: a perturbation of that
size, and none smaller, puts an eigenvalue on the circle).

Method (as EigTool does it): one complex Schur form ``W = Z T Zᴴ`` (``σ_min`` is unitarily
invariant), then ``σ_min(zI − T)`` for a batch of grid points at once: small operators by one
batched SVD, larger ones from the largest eigenvalue of ``(zI − T)⁻¹(zI − T)⁻ᴴ`` by Lanczos with
full reorthogonalisation, each triangular solve one substitution over the ``n`` rows, every row a
product over the whole batch.
A real ``W`` has a pseudospectrum symmetric about the real axis: only ``Im z ≥ 0`` is computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

CHUNK = 256  # grid points per batch (memory: steps × n × CHUNK complex numbers)
CHECK = 4  # Lanczos steps between convergence checks
SVD_MAX_N = 96  # up to this size one batched SVD per chunk is faster (and exact)
DECADES = 4  # contours at ε₀, 10ε₀, …, 10⁴ε₀ at least (ε₀: what the stored precision allows),
MAX_DECADES = 8  # and on up to the first decade past the unit-circle ε, at most 10⁸ε₀


def _schur(matrix: np.ndarray) -> np.ndarray:
    import scipy.linalg

    w = np.asarray(matrix)
    return scipy.linalg.schur(w.astype(complex), output="complex")[0]


def _solve_upper(t: np.ndarray, diag: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``x`` with ``(zI − T) x = b`` per column; ``diag`` ``(n, G)`` = ``z − T_ii``, ``b`` ``(n, G)``."""
    x = np.empty_like(b)
    for i in range(t.shape[0] - 1, -1, -1):
        x[i] = (b[i] + t[i, i + 1 :] @ x[i + 1 :]) / diag[i]
    return x


def _solve_lower_h(t: np.ndarray, diag: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``y`` with ``(zI − T)ᴴ y = c`` per column (forward substitution with ``conj(T)ᵀ``)."""
    y = np.empty_like(c)
    tc = t.conj()
    for i in range(t.shape[0]):
        y[i] = (c[i] + tc[:i, i] @ y[:i]) / diag[i].conj()
    return y


def _sigma_min_chunk(t: np.ndarray, z: np.ndarray, steps: int, tol: float) -> np.ndarray:
    """``σ_min(zI − T)`` for a 1-D batch ``z`` by Lanczos on ``(zI − T)⁻¹(zI − T)⁻ᴴ``; a point
    leaves the batch once its estimate changes by less than ``tol`` (relative)."""
    n, g = t.shape[0], z.size
    scale = max(float(np.abs(t).max()), 1.0)
    diag = z[None, :] - np.diag(t)[:, None]
    tiny = np.finfo(float).eps * scale * 1e-3
    diag = np.where(np.abs(diag) < tiny, tiny, diag)  # z on an eigenvalue: σ_min ≈ 0, not NaN
    q: np.ndarray = np.random.default_rng(0).standard_normal((n, g)) + 0j
    q /= np.linalg.norm(q, axis=0)
    m = min(steps, n)
    basis = np.empty((m, n, g), dtype=complex)
    alpha, beta = np.zeros((m, g)), np.zeros((m, g))
    est: np.ndarray = np.zeros(g)
    out, idx = np.empty(g), np.arange(g)
    for k in range(m):
        basis[k] = q
        w = _solve_upper(t, diag, _solve_lower_h(t, diag, q))
        alpha[k] = np.einsum("ng,ng->g", q.conj(), w).real
        coeff = np.einsum("kng,ng->kg", basis[: k + 1].conj(), w)  # full reorthogonalisation
        w -= np.einsum("kng,kg->ng", basis[: k + 1], coeff)
        beta[k] = np.linalg.norm(w, axis=0)
        q = w / np.where(beta[k] > 0, beta[k], 1.0)
        if (k + 1) % CHECK and k + 1 < m:
            continue
        tri = np.zeros((idx.size, k + 1, k + 1))
        i = np.arange(k + 1)
        tri[:, i, i] = alpha[: k + 1].T
        tri[:, i[1:], i[:-1]] = tri[:, i[:-1], i[1:]] = beta[:k].T
        new = np.linalg.eigvalsh(tri)[:, -1]
        done = (np.abs(new - est) <= tol * new) | (k + 1 == m)
        est = new
        out[idx[done]] = est[done]
        if done.all():
            break
        keep = ~done
        idx, diag, q, est = idx[keep], diag[:, keep], q[:, keep], est[keep]
        basis, alpha, beta = basis[:, :, keep], alpha[:, keep], beta[:, keep]
    return 1.0 / np.sqrt(np.maximum(out, np.finfo(float).tiny))


def sigma_min(
    matrix: np.ndarray,
    z: np.ndarray,
    *,
    steps: int = 48,
    tol: float = 1e-9,
    schur: np.ndarray | None = None,
) -> np.ndarray:
    """``σ_min(zI − W)`` for every point of ``z`` (any shape), batched (see module docstring).

    Up to ``SVD_MAX_N`` one batched SVD of ``zI − T``; above, Lanczos: ``steps`` at most (exact
    at ``steps ≥ n``), ``tol`` the relative change of the estimate below which a point stops
    (an estimate from below of ``1/σ_min²``, so ``σ_min`` is never under-estimated);
    ``schur``: ``W``'s complex Schur factor ``T``.
    """
    from threadpoolctl import threadpool_limits

    t = _schur(matrix) if schur is None else schur
    flat = np.asarray(z, dtype=complex).ravel()
    out = np.empty(flat.size)
    eye = np.eye(t.shape[0])
    with threadpool_limits(1, user_api="blas"):  # many small products: threads only cost
        for start in range(0, flat.size, CHUNK):
            part = flat[start : start + CHUNK]
            if t.shape[0] <= SVD_MAX_N:
                shifted = part[:, None, None] * eye - t
                out[start : start + CHUNK] = np.linalg.svd(shifted, compute_uv=False)[:, -1]
            else:
                out[start : start + CHUNK] = _sigma_min_chunk(t, part, steps, tol)
    return out.reshape(np.shape(z))


def stability_margin(
    matrix: np.ndarray, *, samples: int = 360, schur: np.ndarray | None = None
) -> tuple[float, float]:
    """``(ε, θ)``: ``min_{|z|=1} σ_min(zI − W)`` and the angle ``θ`` of ``z = e^{iθ}`` attaining it.

    The circle is sampled at ``samples`` angles (``[0, π]`` for a real ``W``), then twice refined
    around the best sample on a grid ten times finer."""
    t = _schur(matrix) if schur is None else schur
    real = np.isrealobj(matrix)
    theta = np.linspace(0.0, np.pi if real else 2 * np.pi, samples)
    step = theta[1] - theta[0]
    sig = sigma_min(matrix, np.exp(1j * theta), schur=t)
    best = float(theta[np.argmin(sig)])
    for _ in range(2):
        theta = best + np.linspace(-step, step, 21)
        sig = sigma_min(matrix, np.exp(1j * theta), schur=t)
        best, step = float(theta[np.argmin(sig)]), step / 10
    return float(sig.min()), abs(best) if real else best % (2 * np.pi)


@dataclass(frozen=True)
class Pseudospectrum:
    """``σ_min(zI − W)`` on a grid over one operator's spectrum, and its unit-circle margin.

    ``re`` ``(nx,)``, ``im`` ``(ny,)``, ``sigma`` ``(ny, nx)``; ``levels`` the contour ε's
    (``epsilon_stored`` = the perturbation the stored precision allows, then decades above);
    ``margin`` = ``min_{|z|=1} σ_min(zI − W)`` at ``z = e^{i·margin_angle}``.
    """

    operator: str
    eigenvalues: np.ndarray = field(repr=False)
    re: np.ndarray = field(repr=False)
    im: np.ndarray = field(repr=False)
    sigma: np.ndarray = field(repr=False)
    levels: np.ndarray = field(repr=False)
    epsilon_stored: float
    margin: float
    margin_angle: float

    @property
    def within_stored_precision(self) -> bool:
        """The stored precision alone allows a perturbation that reaches the unit circle."""
        return bool(self.margin <= self.epsilon_stored)

    def to_dict(self) -> dict[str, object]:
        return {
            "levels": [float(x) for x in self.levels],
            "stored_precision_epsilon": float(self.epsilon_stored),
            "unit_circle_epsilon": float(self.margin),
            "unit_circle_angle": float(self.margin_angle),
            "margin_over_stored_precision": float(self.margin / self.epsilon_stored)
            if self.epsilon_stored > 0
            else None,
            "within_stored_precision": self.within_stored_precision,
            "grid": {"re": [float(self.re[0]), float(self.re[-1]), int(self.re.size)]}
            | {"im": [float(self.im[0]), float(self.im[-1]), int(self.im.size)]},
            "meaning": "unit_circle_epsilon: the smallest ‖E‖₂ for which W + E has an "
            "eigenvalue on the unit circle (min over |z| = 1 of σ_min(zI − W))",
        }

    def to_row(self) -> dict[str, object]:
        return {
            "operator": self.operator,
            "unit_circle_epsilon": self.margin,
            "unit_circle_angle": self.margin_angle,
            "stored_precision_epsilon": self.epsilon_stored,
            "within_stored_precision": self.within_stored_precision,
        }


def pseudospectrum(
    matrix: np.ndarray,
    *,
    epsilon_stored: float,
    operator: str = "",
    grid: int = 81,
    decades: int | None = None,
    eigenvalues: np.ndarray | None = None,
) -> Pseudospectrum:
    """``σ_min`` on a ``grid × grid`` square covering the unit disc and the spectrum (padded by
    at most 0.5), contour levels ``epsilon_stored·10^k``, ``k = 0..decades`` (``None``: at least
    ``DECADES``, on to the first decade past the unit-circle ε, at most ``MAX_DECADES``), and the
    unit-circle margin.

    ``matrix`` ``(n, n)`` real; ``epsilon_stored``: the perturbation size the stored precision
    allows (``OperatorSpectrum.epsilon``)."""
    w = np.asarray(matrix, dtype=np.float64)
    t = _schur(w)
    lam = np.diag(t) if eigenvalues is None else np.asarray(eigenvalues)
    margin, angle = stability_margin(w, schur=t)
    eps0 = float(epsilon_stored)
    if decades is None:
        past = np.ceil(np.log10(margin / eps0)) if margin > eps0 > 0 else 0
        decades = int(min(max(DECADES, past), MAX_DECADES))
    levels = eps0 * 10.0 ** np.arange(decades + 1)
    reach = 1.05 * max(1.0, float(np.abs(lam).max(initial=0.0))) + min(0.5, float(levels[-1]))
    re = np.linspace(-reach, reach, grid)
    im = np.linspace(-reach, reach, grid if grid % 2 else grid + 1)
    upper = im >= 0  # real W: σ_min(z̄I − W) = σ_min(zI − W)
    sig_up = sigma_min(w, re[None, :] + 1j * im[upper][:, None], schur=t)
    sigma = np.concatenate([sig_up[1:][::-1], sig_up]) if im.size % 2 else sig_up
    return Pseudospectrum(
        operator, lam, re, im, sigma, levels, float(epsilon_stored), margin, angle
    )


def pseudospectra_frame(items: list[Pseudospectrum]) -> pd.DataFrame:
    """One row per operator: the unit-circle ε, its angle, the stored-precision ε."""
    import pandas as pd

    return pd.DataFrame([p.to_row() for p in items])
