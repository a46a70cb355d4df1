"""Procrustes over vector fields on the orthogonal group, batched in torch (float64).

For square operators ``A`` and ``B`` of one size ``n`` (each scaled to unit Frobenius norm, as
DSA does), ``C* = argmin_{C ∈ O(n)} ‖A − C B Cᵀ‖_F``, i.e. the maximiser of
``f(C) = tr(Aᵀ C B Cᵀ)``. In the spirit of Dynamical Similarity Analysis (Ostrow, Eisen, Kozachkov &
Fiete, NeurIPS 2023; the ``dsa-metric`` package), which optimises a Cayley-parametrised ``C`` with
Adam. Here instead:

- every (pair, restart) is one slice of a batch: one ``bmm`` per iteration serves all of them;
- phase 1, first order: Riemannian gradient ascent on O(n) with the left-trivialised gradient
  ``Ω = skew(Cᵀ ∇f)``, ``∇f = A C Bᵀ + Aᵀ C B``, a Barzilai–Borwein step and the Cayley
  retraction ``C ← C (I − η Ω/2)⁻¹ (I + η Ω/2)`` (orthogonal to rounding), until
  ``‖Ω‖_F ≤ SWITCH_TOL`` (1e-2: a few dozen iterations);
- phase 2, Newton: the starts within ``POLISH_MARGIN`` of their pair's best take Newton steps on
  the exact Hessian of ``t ↦ f(C exp(tΩ))`` (``rnndyn.dsa.newton``) (``⟨Ω, HΩ⟩ = tr(Ãᵀ[Ω, [Ω, B]])``, ``Ã = CᵀAC``),
  solved by truncated conjugate gradients (Steihaug; Hessian–vector products only, batched) with
  Armijo backtracking along the Cayley curve: quadratic convergence near a maximum, where the
  first-order ascent alone crawled (2000 iterations often ended above the tolerance). A start
  leaves once even ``GAIN_FACTOR`` × its quadratic model's predicted gain cannot reach its pair's
  best value;
- restarts: an eigenbasis alignment (eigenvector signs matched along a spanning tree of the
  couplings: exact for a rotated copy), the identity, the alignment with random sign flips,
  random rotations and, for each, its reflection (O(n) has two components, and the Cayley map
  never leaves one);
- convergence: a slice stops when ``‖Ω‖_F ≤ tol`` (the first-order condition); the result says,
  per pair, whether the best restart converged, its gradient norm, iterations (first-order plus
  Newton steps), and how many restarts reached the best value (a global optimum is not
  certified; agreement of restarts is the evidence). Every pair's computation is independent of
  the others in its batch, so any split into batches (``jobs``, ``cluster``) gives the same result.

Scores (``DSA``'s names): ``angular = arccos(tr(Aᵀ C B Cᵀ))`` in radians ``[0, π]`` (unit-norm A,
B), and ``euclidean = ‖A − C B Cᵀ‖_F``; both are 0 for a rotated copy and symmetric in A, B.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from rnndyn.dsa.newton import cayley, newton, pair_best, skew
from rnndyn.errors import UsageError
from rnndyn.spectrum import order_eigenvalues

SCORES = ("angular", "euclidean")


@dataclass(frozen=True)
class ProcrustesResult:
    """Per pair ``(P,)``: ``angular``, ``euclidean``, ``converged``, ``grad_norm``, ``iterations``,
    ``agreeing`` (restarts within ``1e-6`` of the best value); ``rotations`` ``(P, n, n)`` the best
    ``C`` of each pair; ``restarts`` per pair."""

    angular: np.ndarray
    euclidean: np.ndarray
    converged: np.ndarray
    grad_norm: np.ndarray
    iterations: np.ndarray
    agreeing: np.ndarray
    restarts: int
    rotations: np.ndarray = field(repr=False)

    def score(self, name: str) -> np.ndarray:
        if name not in SCORES:
            raise UsageError(f"unknown score {name!r}; choose one of {', '.join(SCORES)}")
        return self.angular if name == "angular" else self.euclidean


@contextmanager
def one_thread() -> Iterator[None]:
    """Torch intra-op threads (and BLAS threads, where ``threadpoolctl`` is installed) set to 1
    for the duration (restored after): the ascent is many small batched products, where a thread
    pool costs more than it gives (14× slower measured on a busy 2-core box); parallelism comes
    from ``jobs`` instead."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover - optional
            yield
        else:
            with threadpool_limits(1):
                yield
    finally:
        torch.set_num_threads(before)


def _key(m: np.ndarray) -> tuple[float, ...]:
    """An order on unit-norm operators that ignores rounding noise (8 significant digits)."""
    return tuple(np.round(m.ravel(), 8).tolist())


def _unit(m: torch.Tensor) -> torch.Tensor:
    norm = torch.linalg.matrix_norm(m).clamp_min(torch.finfo(m.dtype).tiny)
    return m / norm[..., None, None]


def eigen_basis(m: np.ndarray) -> np.ndarray:
    """A canonical real orthonormal basis ``(n, n)`` from ``m``'s eigenvectors.

    Eigenvalues in rnndyn's order; each eigenvector's phase chosen so that ``vᵀv`` is real and
    positive (then ``Re v ⟂ Im v``); columns ``Re v`` (and ``Im v`` for a complex pair),
    orthonormalised in that order. For ``A = Q B Qᵀ`` (Q orthogonal) the two bases agree up to the
    sign of each eigenvector: ``Z_A = Q Z_B S`` with ``S`` a signature matrix when ``B`` is normal.
    """
    lam, vec = np.linalg.eig(m)
    order = order_eigenvalues(lam)
    cols = []
    for i in order:
        if lam[i].imag < 0:
            continue
        v = vec[:, i] / np.linalg.norm(vec[:, i])
        vv = v @ v
        v = v * np.exp(-0.5j * np.angle(vv)) if abs(vv) > 1e-12 else v
        cols.append(v.real)
        if lam[i].imag > 0:
            cols.append(v.imag)
    z, r = np.linalg.qr(np.column_stack(cols[: m.shape[0]]))
    return z * np.sign(np.where(np.diag(r) == 0, 1.0, np.diag(r)))


def _random_rotations(k: int, n: int, gen: torch.Generator) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(k, n, n, dtype=torch.float64, generator=gen))
    return q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None, :]


def basis_signs(a_t: np.ndarray, b_t: np.ndarray) -> np.ndarray:
    """Signs ``s`` ``(n,)`` that make ``Σ a_ij b_ij s_i s_j`` large, for ``a_t``, ``b_t`` the two
    operators in their eigenbases: propagated along a maximum spanning tree of the couplings
    ``|a_ij b_ij + a_ji b_ji|`` (exact for a copy, whose couplings all agree), then single flips
    while they help."""
    from scipy.sparse.csgraph import breadth_first_order, minimum_spanning_tree

    j = a_t * b_t
    j = j + j.T
    np.fill_diagonal(j, 0.0)
    n = j.shape[0]
    tree = minimum_spanning_tree(-np.abs(j) - 1e-300 * (np.abs(j) == 0)).toarray()
    tree = (tree != 0) | (tree.T != 0)
    s = np.ones(n)
    order, parent = breadth_first_order(tree, 0, directed=False)
    for k in order[1:]:
        s[k] = s[parent[k]] * (1.0 if j[k, parent[k]] >= 0 else -1.0)
    for _ in range(n):  # greedy: flip the unit whose flip gains most
        gain = -4.0 * s * (j @ s) / 2.0
        k = int(np.argmax(gain))
        if gain[k] <= 1e-14:
            break
        s[k] = -s[k]
    return s


def initial_rotations(a: np.ndarray, b: np.ndarray, restarts: int, seed: int) -> torch.Tensor:
    """``(2·restarts, n, n)`` starting points for one pair: the eigenbasis alignment
    ``Z_A S Z_Bᵀ`` (signs ``S`` from ``basis_signs``), the identity, the alignment with random
    sign flips (half of the rest), random rotations; and the reflection of each (the other
    component of O(n))."""
    n = a.shape[0]
    gen = torch.Generator().manual_seed(int(seed))
    za, zb = eigen_basis(a), eigen_basis(b)
    s = basis_signs(za.T @ a @ za, zb.T @ b @ zb)
    starts = [(za * s) @ zb.T, np.eye(n)]
    n_signs = max(0, (restarts - 2 + 1) // 2)
    flips = torch.rand((n_signs, n), generator=gen).numpy() < 0.2
    starts += [(za * np.where(f, -s, s)) @ zb.T for f in flips]
    base = torch.from_numpy(np.stack(starts[:restarts]))
    if restarts > base.shape[0]:
        base = torch.cat([base, _random_rotations(restarts - base.shape[0], n, gen)])
    flip = torch.ones(n, dtype=torch.float64)
    flip[-1] = -1.0  # right-multiplying by diag(1, …, 1, −1) switches component of O(n)
    return torch.cat([base, base * flip])


def procrustes(
    a: np.ndarray,
    b: np.ndarray,
    *,
    restarts: int = 8,
    max_iter: int = 2000,
    tol: float = 1e-6,
    seed: int = 0,
) -> ProcrustesResult:
    """Procrustes distances for ``P`` pairs: ``a``, ``b`` ``(P, n, n)`` (or one ``(n, n)`` pair).

    Args:
        restarts: starting rotations per component of O(n) (identity, Schur alignment, then
            random); every pair runs ``2·restarts`` ascents, all in one batch.
        max_iter: most iterations; ``tol``: stop a slice at ``‖Ω‖_F ≤ tol``.
    """
    a3 = np.asarray(a, dtype=np.float64)
    b3 = np.asarray(b, dtype=np.float64)
    if a3.ndim == 2:
        a3, b3 = a3[None], b3[None]
    if a3.shape != b3.shape or a3.ndim != 3 or a3.shape[-1] != a3.shape[-2]:
        raise UsageError(
            f"operators of shapes {a3.shape} and {b3.shape}: need two stacks of square matrices "
            "of one size (use a common --rank for networks of different sizes)"
        )
    if not (np.isfinite(a3).all() and np.isfinite(b3).all()):
        raise UsageError("operators hold NaN/Inf values")
    n_pairs, n = a3.shape[0], a3.shape[-1]
    if restarts < 1:
        raise UsageError(f"restarts must be ≥ 1, got {restarts}")
    a3 = a3 / np.linalg.norm(a3, axis=(1, 2), keepdims=True).clip(1e-300)
    b3 = b3 / np.linalg.norm(b3, axis=(1, 2), keepdims=True).clip(1e-300)
    # one canonical order per pair, so that (A, B) and (B, A) run the very same ascent and the
    # distance is symmetric exactly, not only up to which local optimum each order finds
    swap = np.array([_key(b3[p]) < _key(a3[p]) for p in range(n_pairs)], dtype=bool)
    a3, b3 = np.where(swap[:, None, None], b3, a3), np.where(swap[:, None, None], a3, b3)
    inits = [initial_rotations(a3[p], b3[p], restarts, seed + p) for p in range(n_pairs)]
    n_r = inits[0].shape[0]
    c = torch.cat(inits)  # (P·R, n, n)
    at = torch.from_numpy(a3).repeat_interleave(n_r, dim=0)
    bt = torch.from_numpy(b3).repeat_interleave(n_r, dim=0)
    with one_thread():
        pair = torch.arange(n_pairs).repeat_interleave(n_r)
        value, grad, iters, c = _ascend(at, bt, c, pair, max_iter, tol)
    value, grad = value.view(n_pairs, n_r), grad.view(n_pairs, n_r)
    best = value.argmax(dim=1)
    rows = torch.arange(n_pairs)
    f = value[rows, best].clamp(-1.0, 1.0)
    agreeing = (value >= f[:, None] - 1e-6).sum(dim=1)
    rot = c.view(n_pairs, n_r, n, n)[rows, best]
    rot = torch.where(torch.from_numpy(swap)[:, None, None], rot.transpose(-1, -2), rot)
    g = grad[rows, best]
    return ProcrustesResult(
        angular=torch.arccos(f).numpy(),
        euclidean=torch.sqrt((2.0 - 2.0 * f).clamp_min(0.0)).numpy(),
        converged=(g <= tol).numpy(),
        grad_norm=g.numpy(),
        iterations=iters.view(n_pairs, n_r)[rows, best].numpy(),
        agreeing=agreeing.numpy(),
        restarts=n_r,
        rotations=rot.numpy(),
    )


#: Iterations between compactions of the batch (converged and dominated starts leave it).
BLOCK = 50
#: A start whose value trails its pair's best by more than this after ``PRUNE_AFTER`` iterations
#: is abandoned (``tr(AᵀCBCᵀ)`` of unit-norm operators; 0.02 ≈ 0.02–0.2 rad of angular distance).
PRUNE_MARGIN, PRUNE_AFTER = 0.02, 200
#: The first-order ascent hands a start to Newton once ``‖Ω‖_F ≤ SWITCH_TOL`` ...
SWITCH_TOL = 1e-2
#: ... if its value is within ``POLISH_MARGIN`` of its pair's best; at most ``NEWTON_STEPS``.
POLISH_MARGIN, NEWTON_STEPS = 0.05, 100


def _ascend(
    a: torch.Tensor,
    b: torch.Tensor,
    c: torch.Tensor,
    pair: torch.Tensor,
    max_iter: int,
    tol: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Riemannian ascent of ``tr(Aᵀ C B Cᵀ)`` for every slice from ``c`` (``pair`` ``(S,)`` says
    which pair each slice serves).

    Phase 1 (all starts): Barzilai–Borwein ascent in blocks of ``BLOCK`` iterations over the
    still-active slices only; a slice leaves at ``‖Ω‖ ≤ max(tol, SWITCH_TOL)`` or, after
    ``PRUNE_AFTER`` iterations, when it trails its pair's best value by more than ``PRUNE_MARGIN``.
    Phase 2 (the starts within ``POLISH_MARGIN`` of their pair's best): Newton steps (truncated
    conjugate gradients on the exact Hessian, Armijo backtracking) until ``‖Ω‖ ≤ tol``.
    Returns value, gradient norm, iterations (both phases) ``(S,)`` and ``C``.
    """
    s = c.shape[0]
    c = c.clone()
    iters = torch.zeros(s, dtype=torch.long)
    eta = torch.full((s,), 0.5, dtype=c.dtype)
    active = torch.arange(s)
    switch = max(tol, SWITCH_TOL)
    done = 0
    while active.numel() and done < max_iter:
        steps = min(BLOCK, max_iter - done)
        ci, it_i, eta_i = _block(a[active], b[active], c[active], eta[active], steps, switch)
        c[active], eta[active] = ci, eta_i
        iters[active] += it_i
        done += steps
        value, gnorm = _value_grad(a, b, c)
        keep = gnorm[active] > switch
        if done >= PRUNE_AFTER:
            keep &= value[active] >= pair_best(value, pair)[pair[active]] - PRUNE_MARGIN
        active = active[keep]
    value, gnorm = _value_grad(a, b, c)
    polish = (value >= pair_best(value, pair)[pair] - POLISH_MARGIN) & (gnorm > tol)
    polish &= iters < max_iter
    idx = torch.nonzero(polish).flatten()
    if idx.numel():
        budget = (max_iter - iters[idx]).clamp_max(NEWTON_STEPS)
        ci, it_i = newton(a[idx], b[idx], c[idx], budget, tol, pair[idx])
        c[idx] = ci
        iters[idx] += it_i
        value, gnorm = _value_grad(a, b, c)
    return value, gnorm, iters, c


def _value_grad(a, b, c) -> tuple[torch.Tensor, torch.Tensor]:
    grad = torch.baddbmm(a.transpose(-1, -2) @ c @ b, a @ c, b.transpose(-1, -2))
    gnorm = torch.linalg.matrix_norm(skew(c.transpose(-1, -2) @ grad))
    value = (a * (c @ b @ c.transpose(-1, -2))).sum(dim=(-1, -2))
    return value, gnorm


def _block(a, b, c, eta, steps: int, tol: float):
    """``steps`` iterations for every slice (a converged slice is frozen by a zero step)."""
    iters = torch.zeros(c.shape[0], dtype=torch.long)
    bt, at = b.transpose(-1, -2), a.transpose(-1, -2)
    prev_omega = prev_step = None
    for _ in range(steps):
        grad = torch.baddbmm(at @ c @ b, a @ c, bt)
        omega = skew(c.transpose(-1, -2) @ grad)
        live = torch.linalg.matrix_norm(omega) > tol
        if not bool(live.any()):
            break
        if prev_omega is not None and prev_step is not None:  # Barzilai–Borwein step, clamped
            sy = (prev_step * (omega - prev_omega)).sum(dim=(-1, -2)).abs()
            ss = (prev_step * prev_step).sum(dim=(-1, -2))
            eta = torch.where(sy > 0, ss / sy.clamp_min(1e-300), eta).clamp(1e-3, 10.0)
        eta_live = torch.where(live, eta, torch.zeros_like(eta))
        c = c @ cayley(omega, eta_live)
        prev_omega, prev_step = omega, eta_live[:, None, None] * omega
        iters += live.long()
    return c, iters, eta


def pairwise(
    operators: list[np.ndarray], *, jobs: int = 1, cluster: str | None = None, **options: Any
) -> tuple[np.ndarray, ProcrustesResult]:
    """Every unordered pair ``i < j`` of ``operators``: ``(pairs (P, 2), result)``.

    ``jobs > 1`` splits the pairs into that many batches run in threads (torch releases the GIL);
    ``cluster`` (``local:N`` or ``tcp://HOST:PORT``) runs the batches as Dask jobs through
    ``rnndyn.parallel.execute`` instead (N batches for ``local:N``, one pair each on a remote
    scheduler). Pair ``p`` always starts from seed ``seed + p``, so every split gives the same
    result.
    """
    k = len(operators)
    pairs = np.array([(i, j) for i in range(k) for j in range(i + 1, k)], dtype=int).reshape(-1, 2)
    if len(pairs) == 0:
        raise UsageError("a similarity needs at least two networks")
    stack = np.stack(operators)
    seed = int(options.pop("seed", 0))
    if cluster is not None:
        from rnndyn.parallel import execute, local_workers

        n_parts = local_workers(cluster) if cluster.startswith("local") else len(pairs)
        parts = np.array_split(np.arange(len(pairs)), min(n_parts, len(pairs)))
        args = [
            (stack[pairs[ix, 0]], stack[pairs[ix, 1]], seed + int(ix[0]), options) for ix in parts
        ]
        got: dict[int, ProcrustesResult] = {}
        execute(_batch, args, on_result=got.__setitem__, cluster=cluster)
        return pairs, _merge([got[i] for i in range(len(parts))])
    if jobs <= 1 or len(pairs) == 1:
        return pairs, procrustes(stack[pairs[:, 0]], stack[pairs[:, 1]], seed=seed, **options)
    from concurrent.futures import ThreadPoolExecutor

    parts = np.array_split(np.arange(len(pairs)), min(jobs, len(pairs)))

    def run(ix: np.ndarray) -> ProcrustesResult:
        return _batch(stack[pairs[ix, 0]], stack[pairs[ix, 1]], seed + int(ix[0]), options)

    with one_thread(), ThreadPoolExecutor(max_workers=len(parts)) as pool:
        results = list(pool.map(run, parts))
    return pairs, _merge(results)


def _batch(a: np.ndarray, b: np.ndarray, seed: int, options: dict[str, Any]) -> ProcrustesResult:
    """One batch of pairs (a module-level function: a Dask job)."""
    return procrustes(a, b, seed=seed, **options)


def _merge(results: list[ProcrustesResult]) -> ProcrustesResult:
    merged = {
        name: np.concatenate([getattr(r, name) for r in results])
        for name in ("angular", "euclidean", "converged", "grad_norm", "iterations", "agreeing")
    }
    rot = np.concatenate([r.rotations for r in results])
    return ProcrustesResult(**merged, restarts=results[0].restarts, rotations=rot)
