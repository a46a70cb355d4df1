"""How far an eigenvalue can be trusted: condition numbers, error bounds from the precision the
weights were stored in, and the unit circle with a tolerance.

Error model (see ``docs/precision.md``). A weight stored in a floating-point format with unit
roundoff ``u`` (``UNIT_ROUNDOFF``) is known to a relative ``u``: the stored ``W`` is what some
unrounded ``W₀`` rounded to entry by entry, ``W = W₀ + E`` with ``|E_ij| ≤ u|W_ij|``, so
``‖E‖₂ ≤ ‖E‖_F ≤ u‖W‖_F``. The eigensolver adds its own backward error, the relative residual
``r = max_i ‖W v_i − λ_i v_i‖/‖W‖_F``. Together ``ε = (u + r)·‖W‖_F``.

Per eigenvalue, the smallest of these bounds on ``|δλ_i|`` under any ``‖E‖₂ ≤ ε`` is reported:

- first order (Wilkinson; Golub & Van Loan §7.2.2): ``κ_i·ε`` with ``κ_i = ‖x_i‖‖y_i‖/|y_iᴴx_i|``,
  alone where it is meaningful: ``κ_i`` finite and its disc ``D(λ_i, κ_i ε)`` meeting no other;
- a cluster of overlapping first-order discs (eigenvalues that may meet, and then move like
  ``ε^{1/m}``, which no first-order term shows): the union of the cluster's discs;
- a rigorous Schur-form bound (Henrici; Golub & Van Loan Thm 7.2.3, sharpened): every eigenvalue
  of ``W + E`` lies within ``δ`` of an eigenvalue of ``W``, where ``δ`` solves
  ``ε Σ_{k<n} ν^k / δ^{k+1} = 1``, ``ν = ‖N‖_F`` the departure from normality. By continuity the
  eigenvalue continuing ``λ_i`` stays in its connected component of ``∪_j D(λ_j, δ)``, so
  ``|δλ_i| ≤ max_{j in component} |λ_i − λ_j| + δ``;
- the trivial ``|λ_i| + ‖W‖_F + ε``.

The first two are first-order estimates (exact as ``ε → 0``), the last two hold for any ``E``.
An eigenvalue is ``inside``, ``on`` (``||λ| − 1| ≤ bound``) or ``outside`` the unit circle.
"""

from __future__ import annotations

import contextlib
import math
from typing import TYPE_CHECKING, cast

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import DTypeLike

EXACT_COND_MAX_N = 512  # κ(V) by SVD up to this size, by 20 power iterations above
UNIT_ROUNDOFF: dict[str, float] = {
    "float64": 2.0**-53,
    "float32": 2.0**-24,
    "float16": 2.0**-11,
    "bfloat16": 2.0**-8,
}
INSIDE, ON, OUTSIDE = "inside", "on", "outside"
TIMESCALE_NULL = {
    ON: "|λ| is within its error bound of 1: the stored precision cannot tell decay from growth",
    OUTSIDE: "|λ| > 1 beyond its error bound: the mode does not decay",
}


def unit_roundoff(dtype: object) -> float:
    """``u`` of a stored dtype (a name, a NumPy or a torch dtype); float64's for anything else
    (integers, unknown formats: the matrix is then taken as exact up to float64 arithmetic)."""
    name = str(dtype).removeprefix("torch.")
    if name not in UNIT_ROUNDOFF:
        with contextlib.suppress(TypeError):
            name = np.dtype(cast("DTypeLike", dtype)).name  # anything else: TypeError
    return UNIT_ROUNDOFF.get(name, UNIT_ROUNDOFF["float64"])


def norm2(a: np.ndarray, iters: int = 20, start: np.ndarray | None = None) -> float:
    """Largest singular value: exact (SVD) for small matrices, power iteration on AᴴA above
    (from ``start``: ``(n,)``, or ``(n, k)`` real columns read as one vector whose parts iterate
    apart under a real ``A``; default a fixed random real vector)."""
    if a.shape[0] <= EXACT_COND_MAX_N:
        return float(np.linalg.norm(a, 2))
    at = a.T  # a view: Aᴴy = conj(Aᵀ conj(y)), so no conjugated copy of A is made
    if start is None:
        start = np.asarray(np.random.default_rng(0).standard_normal(a.shape[1]), dtype=a.dtype)
    parts = [start] if start.ndim == 1 else list(start.T)  # matrix-vector products: BLAS-fast
    s = 0.0
    for _ in range(iters):
        if np.iscomplexobj(a):
            parts = [np.conj(at @ np.conj(a @ x)) for x in parts]
        else:
            parts = [at @ (a @ x) for x in parts]
        s = math.hypot(*(float(np.linalg.norm(y)) for y in parts))
        if s == 0:
            return 0.0
        parts = [y / s for y in parts]
    return float(np.sqrt(s))


def _pairs(lam: np.ndarray, vec: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(i, i + 1)`` of every conjugate pair when ``v̄`` follows ``v`` exactly, else ``None``."""
    pos = np.flatnonzero(lam.imag > 0)
    nxt = pos + 1
    if 2 * pos.size != np.count_nonzero(lam.imag) or (nxt >= lam.size).any():
        return None
    if not (lam[nxt] == lam[pos].conj()).all():
        return None
    re, im = vec.real, vec.imag  # views: half the bytes of comparing complex copies
    same = np.array_equal(re[:, nxt], re[:, pos]) and np.array_equal(im[:, nxt], -im[:, pos])
    return (pos, nxt) if same else None


def diagnose(
    w_mat: np.ndarray, lam: np.ndarray, vec: np.ndarray
) -> tuple[np.ndarray, float, float]:
    """Per-eigenvalue condition numbers, κ(V) and the relative residual.

    In real arithmetic when pairs are laid out exactly: ``V = Vr·B``, ``Vr = [.., Re v, Im v, ..]``,
    ``B = [[1, 1], [i, −i]] = √2·Q`` per pair (``Q`` unitary), so ``V⁻¹ = B⁻¹·Vr⁻¹`` (one real
    inverse), ``‖V‖₂ = ‖Vr·S‖₂`` and ``‖V⁻¹‖₂ = ‖S⁻¹·Vr⁻¹‖₂`` with ``S = √2`` on pair columns (real
    singular values), and ``W·V = (W·Vr)·B`` (one real GEMM)."""
    fro = float(np.linalg.norm(w_mat))
    pairs = _pairs(lam, vec)
    if pairs is None:
        return _diagnose_complex(w_mat, lam, vec, fro)
    p, q = pairs
    vr = vec.real.copy()
    vr[:, q] = vec.imag[:, p]
    rinv = _finite_inverse(vr)
    if rinv is None:
        cond_each, kappa = np.full(lam.shape, np.inf), np.inf
    else:  # rows p, q of V⁻¹ are ½(re ∓ i·im) for rows re, im of Vr⁻¹: |.|² = ¼(|re|² + |im|²)
        row2 = np.einsum("ij,ij->i", rinv, rinv)
        row2[p] = row2[q] = 0.25 * (row2[p] + row2[q])
        cond_each = np.sqrt(row2)  # = 1/|y_i^H x_i| for unit x_i, y_i
        kappa = _kappa_real(vr, rinv, p, q)
    # W·v̄ − λ̄v̄ is the exact conjugate of W·v − λv: skip the second column of each pair. (Kept
    # complex: the residual is rounding noise, and this is the order of operations it is pinned to.)
    wvr, cols = w_mat @ vr, np.flatnonzero(lam.imag >= 0)
    wv, lam, vec = wvr[:, cols].astype(complex), lam[cols], vec[:, cols]
    wv.imag[:, lam.imag > 0] = wvr[:, cols[lam.imag > 0] + 1]
    resid = np.linalg.norm(wv - vec * lam, axis=0).max() / fro if fro > 0 else 0.0
    return cond_each, float(kappa), float(resid)


_SQRT2 = math.sqrt(2.0)


def _kappa_real(vr: np.ndarray, rinv: np.ndarray, p: np.ndarray, q: np.ndarray) -> float:
    """κ₂(V) from ``Vr`` and its inverse (``diagnose``): ``σ₁/σₙ`` of ``M = Vr·S`` (one real
    SVD, singular values only) up to ``EXACT_COND_MAX_N``; above, ``norm2``'s power iterations on
    ``M`` and ``N = S⁻¹·Vr⁻¹``, started where ``norm2(V)`` and ``norm2(V⁻¹)`` start (the same
    iterates, in real arithmetic)."""
    scale = np.ones(vr.shape[1])
    scale[p] = scale[q] = _SQRT2
    m = vr * scale
    if vr.shape[0] <= EXACT_COND_MAX_N:
        sv = np.linalg.svd(m, compute_uv=False)
        return float(sv[0] / sv[-1]) if sv.size and sv[-1] > 0 else (np.inf if sv.size else 0.0)
    x = np.asarray(np.random.default_rng(0).standard_normal(vr.shape[1]), dtype=float)
    z = np.zeros((x.size, 2))  # Q·x for real x: its real and imaginary parts
    z[:, 0] = x
    z[p, 0] = (x[p] + x[q]) / _SQRT2
    z[q, 0] = 0.0
    z[q, 1] = (x[p] - x[q]) / _SQRT2
    return norm2(m, start=z) * norm2(rinv / scale[:, None], start=x)


def _finite_inverse(m: np.ndarray) -> np.ndarray | None:
    """``m⁻¹``, or None when ``m`` is singular or its inverse overflows (κ = ∞)."""
    try:
        inv = np.linalg.inv(m)
    except np.linalg.LinAlgError:
        return None
    return inv if np.isfinite(inv).all() else None


def _diagnose_complex(
    w_mat: np.ndarray, lam: np.ndarray, vec: np.ndarray, fro: float
) -> tuple[np.ndarray, float, float]:
    """``diagnose`` in complex arithmetic (conjugate pairs not laid out exactly)."""
    vinv = _finite_inverse(vec)
    if vinv is None:
        cond_each, kappa = np.full(lam.shape, np.inf), np.inf
    else:
        cond_each = np.linalg.norm(vinv, axis=1)
        kappa = norm2(vec) * norm2(vinv)
    wv = w_mat @ vec.real + 1j * (w_mat @ vec.imag)  # two real GEMMs, not one complex one
    resid = np.linalg.norm(wv - vec * lam, axis=0).max() / fro if fro > 0 else 0.0
    return cond_each, float(kappa), float(resid)


def schur_radius(epsilon: float, departure: float, n: int) -> float:
    """``δ`` solving ``ε Σ_{k<n} ν^k/δ^{k+1} = 1`` (``ν`` = ``departure``, absolute ``‖N‖_F``):
    every eigenvalue of ``W + E``, ``‖E‖₂ ≤ ε``, is within ``δ`` of one of ``W``'s. Normal ``W``
    (``ν = 0``): ``δ = ε``; a Jordan-like ``W``: ``δ ≈ (ε ν^{n−1})^{1/n}``."""
    if epsilon <= 0:
        return 0.0
    if not departure > 0:
        return float(epsilon)
    k1 = np.arange(1.0, max(n, 1) + 1.0)  # k + 1
    log_eps, log_nu = math.log(epsilon), math.log(departure)
    base = log_eps + (k1 - 1.0) * log_nu

    def log_f(x: float) -> tuple[float, float]:  # log of the left side at δ = eˣ, and its slope
        terms = base - k1 * x
        top = terms.max()
        w = np.exp(terms - top)
        total = w.sum()
        return float(top + math.log(total)), -float(w @ k1) / float(total)

    # log_f is convex and decreasing in x = log δ: Newton from the left never passes the root;
    # a step outside the bracket [lo, hi] (log_f(lo) > 0 ≥ log_f(hi)) bisects instead. The result
    # is hi once hi − lo < 1e-12: the root, rounded up (conservative) to 1e-12 relative.
    lo, hi = log_eps, max(log_eps, log_nu) + math.log(n + 1.0)  # f(lo) ≥ 1 ≥ f(hi)
    x = lo
    for _ in range(200):
        if hi - lo < 1e-12:
            break
        value, slope = log_f(x)
        if value > 0:
            lo = x
        else:
            hi = x
        step = x - value / slope if slope < 0 else 0.5 * (lo + hi)
        if not lo < step < hi or abs(step - x) < 0.25e-12:  # converged: close the bracket
            step = min(lo + 1e-12, 0.5 * (lo + hi)) if value > 0 else 0.5 * (lo + hi)
        x = step
    return math.exp(hi)


def _components(adjacent: np.ndarray) -> np.ndarray:
    """Connected-component label of each node of a symmetric boolean adjacency matrix."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    return connected_components(csr_matrix(adjacent), directed=False)[1]


def _within_component(dist: np.ndarray, labels: np.ndarray, extra: np.ndarray) -> np.ndarray:
    """``max_{j in i's component} (dist_ij + extra_j)`` per ``i``."""
    reach = dist + extra[None, :]
    reach[labels[:, None] != labels[None, :]] = 0.0
    return np.maximum(reach.max(axis=1), extra)


def error_bounds(
    eigenvalues: np.ndarray,
    condition: np.ndarray,
    epsilon: float,
    *,
    departure: float,
    norm_fro: float,
) -> tuple[np.ndarray, np.ndarray]:
    """``(bound, first_order)``: per-eigenvalue bounds on ``|δλ_i|`` under ``‖E‖₂ ≤ epsilon`` and
    where the plain first-order bound ``κ_i·ε`` is the one reported.

    Where first-order discs ``D(λ_j, κ_j ε)`` overlap, the eigenvalues may meet, and the one
    continuing ``λ_i`` is only known to stay in the union of its overlapping discs:
    ``max_j (|λ_i − λ_j| + κ_j ε)`` over its cluster (which also covers the ``√ε`` motion of a
    colliding pair: ``d + cε/d ≥ 2√(cε)``). Infinite ``κ`` (defective) leaves only the rigorous
    Schur-form bound (module docstring). Every bound is capped at ``|λ_i| + ‖W‖F + ε``.

    Args:
        eigenvalues: ``(n,)`` complex; condition: ``(n,)`` the ``κ_i`` (inf: unknown).
        epsilon: the perturbation size ``ε`` (absolute, 2-norm).
        departure: ``‖N‖F`` (absolute Henrici departure from normality).
        norm_fro: ``‖W‖F``.
    """
    lam = np.asarray(eigenvalues, dtype=complex)
    n = lam.size
    if n == 0:
        return np.zeros(0), np.zeros(0, dtype=bool)
    with np.errstate(invalid="ignore", over="ignore"):
        first = np.asarray(condition, dtype=float) * epsilon
    first = np.where(np.isfinite(first), first, np.inf)
    dist = np.abs(lam[:, None] - lam[None, :])
    trivial = np.abs(lam) + norm_fro + epsilon
    overlap = dist <= first[:, None] + first[None, :]
    np.fill_diagonal(overlap, False)
    alone = ~overlap.any(axis=1) & np.isfinite(first)
    bound = np.minimum(first, trivial)
    if not alone.all():  # clusters of overlapping first-order discs
        bound = np.minimum(_within_component(dist, _components(overlap), first), trivial)
    if not alone.all() or n <= EXACT_COND_MAX_N:  # the rigorous bound, where it may be tighter
        delta = schur_radius(epsilon, departure, n)
        if delta < bound.max():
            labels = _components(dist <= 2 * delta)
            rigorous = _within_component(dist, labels, np.zeros(n)) + delta
            bound = np.minimum(bound, rigorous)
    return bound, alone & (bound == first)


def classify(eigenvalues: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """``inside``/``on``/``outside`` the unit circle per eigenvalue: ``on`` when
    ``||λ| − 1| ≤ bound`` (the stored precision cannot tell which side it is on)."""
    r = np.abs(np.asarray(eigenvalues))
    b = np.asarray(bounds, dtype=float)
    return np.where(r > 1.0 + b, OUTSIDE, np.where(r < 1.0 - b, INSIDE, ON))


def on_unit_circle(eigenvalues: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """True where ``||λ| − 1| ≤ bound``: the eigenvalue may lie on the unit circle (and a
    perturbation within its bound can put it on either side). Bool, the shape of ``eigenvalues``."""
    return np.abs(np.abs(np.asarray(eigenvalues)) - 1.0) <= np.asarray(bounds, dtype=float)


def above(eigenvalues: np.ndarray, bounds: np.ndarray, threshold: float) -> np.ndarray:
    """True where ``|λ| > threshold`` beyond the eigenvalue's bound (``|λ| − bound > threshold``)."""
    return np.abs(np.asarray(eigenvalues)) - np.asarray(bounds, dtype=float) > threshold


def eigenvalue_bounds(
    matrix: np.ndarray, *, dtype: object = "float64", roundoff: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(eigenvalues, bounds, classes)`` of one real square matrix whose entries are known to the
    precision of ``dtype`` (or to the relative ``roundoff`` given), e.g. a Jacobian evaluated from
    float32 weights. Eigenvalues in LAPACK's order; bounds and classes as ``error_bounds`` and
    ``classify`` give them."""
    w = np.asarray(matrix, dtype=np.float64)
    lam, vec = np.linalg.eig(w)
    lam, vec = lam.astype(complex), vec.astype(complex)
    cond, _, resid = diagnose(w, lam, vec)
    fro = float(np.linalg.norm(w))
    u = unit_roundoff(dtype) if roundoff is None else float(roundoff)
    dep = math.sqrt(max(fro**2 - float(np.sum(np.abs(lam) ** 2)), 0.0))
    bound, _ = error_bounds(lam, cond, (u + resid) * fro, departure=dep, norm_fro=fro)
    return lam, bound, classify(lam, bound)


def precision_fields(
    eigenvalues: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray] | None,
    dtype: str,
    roundoff: float,
    epsilon: float,
) -> dict[str, object]:
    """The analyze JSON's precision entries of one operator (``bounds``: ``error_bounds``'s)."""
    head = {"stored_dtype": dtype, "unit_roundoff": roundoff}
    if bounds is None:
        return head | {"error_bound": None}
    b, first = bounds
    r = np.abs(eigenvalues)
    interval = [(r - b).max(), (r + b).max()] if r.size else [0.0, 0.0]
    return head | {
        "perturbation": float(epsilon),
        "error_bound": [x if math.isfinite(x) else None for x in np.asarray(b, float).tolist()],
        "error_bound_not_first_order": np.flatnonzero(~first).tolist(),
        "spectral_radius_interval": [float(x) for x in interval],
    }


def format_bounded(x: float, bound: float, *, sig: int = 4) -> str:
    """``x`` with no more decimals than its bound allows (down to the bound's leading digit:
    ``0.961`` for ±0.0098) and at most ``sig`` significant digits (``1.000`` for ±4.8e-7);
    ``sig`` significant digits when there is no finite, positive bound."""
    if not np.isfinite(x) or not (np.isfinite(bound) and bound > 0):
        return f"{x:.{sig}g}"
    by_bound = -math.floor(math.log10(bound))
    by_sig = sig - 1 - math.floor(math.log10(abs(x))) if x != 0 else by_bound
    return f"{x:.{min(15, max(0, min(by_bound, by_sig)))}f}"
