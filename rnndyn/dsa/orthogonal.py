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
  the exact Hessian of ``t ↦ f(C exp(tΩ))`` (``⟨Ω, HΩ⟩ = tr(Ãᵀ[Ω, [Ω, B]])``, ``Ã = CᵀAC``),
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


def _skew(m: torch.Tensor) -> torch.Tensor:
    return 0.5 * (m - m.transpose(-1, -2))


def _cayley(omega: torch.Tensor, eta: torch.Tensor) -> torch.Tensor:
    eye = torch.eye(omega.shape[-1], dtype=omega.dtype)
    half = 0.5 * eta[:, None, None] * omega
    return torch.linalg.solve(eye - half, eye + half)


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
#: Conjugate-gradient steps per Newton step: ``CG_STEPS``, ten times that once ``‖Ω‖ ≤ CG_TAIL``
#: (ill-conditioned maxima need the full solve to converge quickly).
CG_STEPS, CG_TAIL = 20, 1e-4
#: A polished start leaves when ``f + GAIN_FACTOR·⟨Ω, p⟩ + POLISH_SLACK`` (``⟨Ω, p⟩`` is twice the
#: quadratic model's predicted gain) stays below its pair's best value, where the model is concave.
GAIN_FACTOR, POLISH_SLACK = 4.0, 1e-3
#: Length of the gradient step taken where the first CG direction has no negative curvature.
ESCAPE = 0.5


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
            keep &= value[active] >= _pair_best(value, pair)[pair[active]] - PRUNE_MARGIN
        active = active[keep]
    value, gnorm = _value_grad(a, b, c)
    polish = (value >= _pair_best(value, pair)[pair] - POLISH_MARGIN) & (gnorm > tol)
    polish &= iters < max_iter
    idx = torch.nonzero(polish).flatten()
    if idx.numel():
        budget = (max_iter - iters[idx]).clamp_max(NEWTON_STEPS)
        ci, it_i = _newton(a[idx], b[idx], c[idx], budget, tol, pair[idx])
        c[idx] = ci
        iters[idx] += it_i
        value, gnorm = _value_grad(a, b, c)
    return value, gnorm, iters, c


def _pair_best(value: torch.Tensor, pair: torch.Tensor) -> torch.Tensor:
    best = torch.full((int(pair.max()) + 1,), -2.0, dtype=value.dtype)
    return best.scatter_reduce(0, pair, value, reduce="amax")


def _dot(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x * y).sum(dim=(-1, -2))


def _hessian(at: torch.Tensor, b: torch.Tensor):
    """The Hessian of ``t ↦ f(C exp(tΩ))`` at ``t = 0`` as a map on skew ``Ω`` (batched), for
    ``at = Cᵀ A C``: ``⟨Ω, H Ω⟩ = tr(Ãᵀ [Ω, [Ω, B]])``."""
    m1 = b @ at.transpose(-1, -2) + at.transpose(-1, -2) @ b
    ab = at.transpose(-1, -2)

    def hvp(o: torch.Tensor) -> torch.Tensor:
        lin = o @ m1 + m1 @ o - 2.0 * (b @ o @ ab + ab @ o @ b)
        return 0.5 * _skew(lin.transpose(-1, -2))

    return hvp


#: Backtracking step lengths tried at once by a Newton step (Armijo constant 1e-4).
_STEPS = 0.5 ** torch.arange(12, dtype=torch.float64)


def _newton(
    a, b, c, steps: torch.Tensor, tol: float, pair: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Newton ascent on O(n) for every slice until ``‖Ω‖ ≤ tol`` (at most ``steps`` ``(K,)``).

    Each step solves ``H p = −Ω`` by truncated conjugate gradients (Steihaug: stop at a
    direction of non-negative curvature, the gradient if it is the first; relative residual
    ``min(0.5, √‖Ω‖)``, so convergence is superlinear), then takes the longest of
    ``1, ½, ¼, …`` that satisfies Armijo along the Cayley curve ``C cay(t p)``."""
    k, n = c.shape[0], c.shape[-1]
    iters = torch.zeros(k, dtype=torch.long)
    live = torch.ones(k, dtype=torch.bool)
    for _ in range(int(steps.max())):
        live &= iters < steps
        idx = torch.nonzero(live).flatten()
        if not idx.numel():
            break
        ci, ai, bi = c[idx], a[idx], b[idx]
        at = ci.transpose(-1, -2) @ ai @ ci
        g = _skew(at @ bi.transpose(-1, -2) + at.transpose(-1, -2) @ bi)
        gn = torch.linalg.matrix_norm(g)
        conv = gn <= tol
        live[idx[conv]] = False
        if bool(conv.all()):
            break
        keep = ~conv
        idx, ci, ai, bi, at, g, gn = (x[keep] for x in (idx, ci, ai, bi, at, g, gn))
        p, concave = _truncated_cg(_hessian(at, bi), g, gn, n)
        f0, gain = _dot(at, bi), _dot(g, p)
        if pair is not None:  # hopeless: even 4× the model's predicted gain stays below the best
            every = _dot(a, c @ b @ c.transpose(-1, -2))  # converged slices count too
            best = _pair_best(every, pair)[pair[idx]]
            drop = concave & (f0 + GAIN_FACTOR * gain + POLISH_SLACK < best)
            live[idx[drop]] = False
            if bool(drop.any()):
                keep = ~drop
                idx, ci, ai, bi, at, g, p, f0, gain = (
                    x[keep] for x in (idx, ci, ai, bi, at, g, p, f0, gain)
                )
        new_c, moved = _backtrack(ai, bi, ci, p, f0, gain)
        c[idx[moved]] = new_c[moved]
        iters[idx[moved]] += 1
        live[idx[~moved]] = False  # a slice that cannot ascend any more stops (reported as is)
    return c, iters


def _backtrack(a, b, c, p, f0, gain) -> tuple[torch.Tensor, torch.Tensor]:
    """The longest of ``1, ½, ¼, …`` (``_STEPS``) along ``C cay(t p)`` that satisfies Armijo
    (constant 1e-4): the full step for every slice first, the rest only where it fails."""
    k, n = c.shape[0], c.shape[-1]
    ones = torch.ones(k, dtype=c.dtype)
    out = c @ _cayley(p, ones)
    moved = _dot(a, out @ b @ out.transpose(-1, -2)) >= f0 + 1e-4 * gain
    back = torch.nonzero(~moved).flatten()
    if back.numel():
        ts = _STEPS[1:].to(c.dtype)
        m = back.numel()
        cand = c[back, None] @ _cayley(
            p[back].repeat_interleave(len(ts), dim=0), ts.repeat(m)
        ).view(m, len(ts), n, n)
        f = _dot(a[back, None], cand @ b[back, None] @ cand.transpose(-1, -2))
        ok = f >= f0[back, None] + 1e-4 * ts[None] * gain[back, None]
        first = ok.float().argmax(dim=1)
        out[back] = cand[torch.arange(m), first]
        moved[back] = ok.any(dim=1)
    return out, moved


def _truncated_cg(
    hvp, g: torch.Tensor, gn: torch.Tensor, n: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``p ≈ −H⁻¹ g`` (an ascent direction) for every slice by Steihaug's conjugate gradients on
    ``−H p = g``."""
    p = torch.zeros_like(g)
    r, d = g.clone(), g.clone()
    rr = _dot(r, r)
    target = torch.minimum(torch.full_like(gn, 0.5), gn.sqrt()) * gn
    running = gn > 0
    concave = torch.ones_like(running)
    cap = torch.where(gn > CG_TAIL, CG_STEPS, 10 * CG_STEPS).clamp_max(n * (n - 1) // 2)
    for j in range(int(cap.max())):
        running &= j < cap
        hd = -hvp(d)
        kappa = _dot(d, hd)
        bad = running & (kappa <= 1e-12 * _dot(d, d))
        concave &= ~bad
        if j == 0:  # no curvature to use: the gradient, to length ESCAPE (backtracked)
            escape = g * (ESCAPE / gn.clamp_min(1e-300))[:, None, None]
            p = torch.where(bad[:, None, None], escape, p)
        run = running & ~bad
        alpha = torch.where(run, rr / torch.where(run, kappa, torch.ones_like(kappa)), 0.0)
        p = p + alpha[:, None, None] * d
        r = r - alpha[:, None, None] * hd
        rr_new = _dot(r, r)
        running = run & (rr_new.sqrt() > target)
        if not bool(running.any()):
            break
        beta = torch.where(running, rr_new / rr.clamp_min(1e-300), 0.0)
        d = r + beta[:, None, None] * d
        rr = rr_new
    return p, concave


def _value_grad(a, b, c) -> tuple[torch.Tensor, torch.Tensor]:
    grad = torch.baddbmm(a.transpose(-1, -2) @ c @ b, a @ c, b.transpose(-1, -2))
    gnorm = torch.linalg.matrix_norm(_skew(c.transpose(-1, -2) @ grad))
    value = (a * (c @ b @ c.transpose(-1, -2))).sum(dim=(-1, -2))
    return value, gnorm


def _block(a, b, c, eta, steps: int, tol: float):
    """``steps`` iterations for every slice (a converged slice is frozen by a zero step)."""
    iters = torch.zeros(c.shape[0], dtype=torch.long)
    bt, at = b.transpose(-1, -2), a.transpose(-1, -2)
    prev_omega = prev_step = None
    for _ in range(steps):
        grad = torch.baddbmm(at @ c @ b, a @ c, bt)
        omega = _skew(c.transpose(-1, -2) @ grad)
        live = torch.linalg.matrix_norm(omega) > tol
        if not bool(live.any()):
            break
        if prev_omega is not None and prev_step is not None:  # Barzilai–Borwein step, clamped
            sy = (prev_step * (omega - prev_omega)).sum(dim=(-1, -2)).abs()
            ss = (prev_step * prev_step).sum(dim=(-1, -2))
            eta = torch.where(sy > 0, ss / sy.clamp_min(1e-300), eta).clamp(1e-3, 10.0)
        eta_live = torch.where(live, eta, torch.zeros_like(eta))
        c = c @ _cayley(omega, eta_live)
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
