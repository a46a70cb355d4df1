"""The Newton phase of the orthogonal Procrustes ascent (``rnndyn.dsa.orthogonal``), batched in torch.

Near a maximum of ``f(C) = tr(Aᵀ C B Cᵀ)`` on O(n), Newton steps on the exact Hessian of
``t ↦ f(C exp(tΩ))`` (``⟨Ω, HΩ⟩ = tr(Ãᵀ[Ω, [Ω, B]])``, ``Ã = CᵀAC``), solved by truncated
conjugate gradients (Steihaug; Hessian–vector products only) with Armijo backtracking along the
Cayley curve, converge quadratically where the first-order ascent crawls. Also here: the small
O(n) helpers both phases use (skew part, Cayley retraction, batched inner product, best value
per pair).
"""

from __future__ import annotations

import torch

#: Conjugate-gradient steps per Newton step: ``CG_STEPS``, ten times that once ``‖Ω‖ ≤ CG_TAIL``
#: (ill-conditioned maxima need the full solve to converge quickly).
CG_STEPS, CG_TAIL = 20, 1e-4
#: A polished start leaves when ``f + GAIN_FACTOR·⟨Ω, p⟩ + POLISH_SLACK`` (``⟨Ω, p⟩`` is twice the
#: quadratic model's predicted gain) stays below its pair's best value, where the model is concave.
GAIN_FACTOR, POLISH_SLACK = 4.0, 1e-3
#: Length of the gradient step taken where the first CG direction has no negative curvature.
ESCAPE = 0.5


def skew(m: torch.Tensor) -> torch.Tensor:
    """The skew-symmetric part of a batch of square matrices."""
    return 0.5 * (m - m.transpose(-1, -2))


def cayley(omega: torch.Tensor, eta: torch.Tensor) -> torch.Tensor:
    """The Cayley retraction ``(I − ηΩ/2)⁻¹(I + ηΩ/2)`` per slice: orthogonal to rounding."""
    eye = torch.eye(omega.shape[-1], dtype=omega.dtype)
    half = 0.5 * eta[:, None, None] * omega
    return torch.linalg.solve(eye - half, eye + half)


def pair_best(value: torch.Tensor, pair: torch.Tensor) -> torch.Tensor:
    """The best ``value`` over the slices of each pair (``pair`` ``(S,)``: the pair of each slice)."""
    best = torch.full((int(pair.max()) + 1,), -2.0, dtype=value.dtype)
    return best.scatter_reduce(0, pair, value, reduce="amax")


def dot(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``tr(xᵀ y)`` per slice."""
    return (x * y).sum(dim=(-1, -2))


def _hessian(at: torch.Tensor, b: torch.Tensor):
    """The Hessian of ``t ↦ f(C exp(tΩ))`` at ``t = 0`` as a map on skew ``Ω`` (batched), for
    ``at = Cᵀ A C``: ``⟨Ω, H Ω⟩ = tr(Ãᵀ [Ω, [Ω, B]])``."""
    m1 = b @ at.transpose(-1, -2) + at.transpose(-1, -2) @ b
    ab = at.transpose(-1, -2)

    def hvp(o: torch.Tensor) -> torch.Tensor:
        lin = o @ m1 + m1 @ o - 2.0 * (b @ o @ ab + ab @ o @ b)
        return 0.5 * skew(lin.transpose(-1, -2))

    return hvp


#: Backtracking step lengths tried at once by a Newton step (Armijo constant 1e-4).
_STEPS = 0.5 ** torch.arange(12, dtype=torch.float64)


def newton(
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
        g = skew(at @ bi.transpose(-1, -2) + at.transpose(-1, -2) @ bi)
        gn = torch.linalg.matrix_norm(g)
        conv = gn <= tol
        live[idx[conv]] = False
        if bool(conv.all()):
            break
        keep = ~conv
        idx, ci, ai, bi, at, g, gn = (x[keep] for x in (idx, ci, ai, bi, at, g, gn))
        p, concave = _truncated_cg(_hessian(at, bi), g, gn, n)
        f0, gain = dot(at, bi), dot(g, p)
        if pair is not None:  # hopeless: even 4× the model's predicted gain stays below the best
            every = dot(a, c @ b @ c.transpose(-1, -2))  # converged slices count too
            best = pair_best(every, pair)[pair[idx]]
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
    out = c @ cayley(p, ones)
    moved = dot(a, out @ b @ out.transpose(-1, -2)) >= f0 + 1e-4 * gain
    back = torch.nonzero(~moved).flatten()
    if back.numel():
        ts = _STEPS[1:].to(c.dtype)
        m = back.numel()
        cand = c[back, None] @ cayley(p[back].repeat_interleave(len(ts), dim=0), ts.repeat(m)).view(
            m, len(ts), n, n
        )
        f = dot(a[back, None], cand @ b[back, None] @ cand.transpose(-1, -2))
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
    rr = dot(r, r)
    target = torch.minimum(torch.full_like(gn, 0.5), gn.sqrt()) * gn
    running = gn > 0
    concave = torch.ones_like(running)
    cap = torch.where(gn > CG_TAIL, CG_STEPS, 10 * CG_STEPS).clamp_max(n * (n - 1) // 2)
    for j in range(int(cap.max())):
        running &= j < cap
        hd = -hvp(d)
        kappa = dot(d, hd)
        bad = running & (kappa <= 1e-12 * dot(d, d))
        concave &= ~bad
        if j == 0:  # no curvature to use: the gradient, to length ESCAPE (backtracked)
            escape = g * (ESCAPE / gn.clamp_min(1e-300))[:, None, None]
            p = torch.where(bad[:, None, None], escape, p)
        run = running & ~bad
        alpha = torch.where(run, rr / torch.where(run, kappa, torch.ones_like(kappa)), 0.0)
        p = p + alpha[:, None, None] * d
        r = r - alpha[:, None, None] * hd
        rr_new = dot(r, r)
        running = run & (rr_new.sqrt() > target)
        if not bool(running.any()):
            break
        beta = torch.where(running, rr_new / rr.clamp_min(1e-300), 0.0)
        d = r + beta[:, None, None] * d
        rr = rr_new
    return p, concave
