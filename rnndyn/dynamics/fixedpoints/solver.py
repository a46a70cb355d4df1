"""Fixed and slow points of RNN / LSTM / GRU layers under a constant input, with their linearisations.

In the spirit of Sussillo & Barak (2013): minimise ``q(s) = ½‖F(s, x*) − s‖²`` from many initial
states (``seeding``: trajectories, the reachable box, its corners, continuation). All initial
states are optimised at once, as one ``(N, S)`` tensor (Adam through the layer's own step function), then refined by batched
damped Newton steps (Levenberg–Marquardt, ``(AᵀA + μI) δ = −Aᵀ(F(s) − s)``, ``A = J − I``, μ tiny, so a
singular ``A`` on a slow manifold still gives a step) with per-row backtracking.
Candidates are de-duplicated with a distance tolerance; each point gets its state Jacobian
(``rnndyn.dynamics.jacobian``, PyTorch's conventions; LSTM state ``[h; c]``) and that Jacobian's
discrete-time eigenvalues (``rnndyn.spectrum``) and its input Jacobian ∂F/∂u. ``kind`` is
``"marginal"`` when an eigenvalue is on the unit circle within its error bound (``manifolds``), else
``"fixed"`` when ``q ≤ tol``, ``"slow"`` when ``tol < q ≤ max_q``; candidates above ``max_q`` are
dropped (their number is reported).

Stacks are solved layer by layer: layer ``l > 0`` is driven by the output of one of layer
``l − 1``'s points (``upstream``: the point nearest to the lower layer's state where the initial
state was sampled). The stacked Jacobian is block-triangular, so a stacked point's eigenvalues are
the union of its layers' eigenvalues.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rnndyn._util.jsonsafe import JsonObject
from rnndyn.dynamics.fixedpoints.manifolds import slow_manifolds, unit_circle_bound
from rnndyn.dynamics.fixedpoints.points import LayerFixedPoints
from rnndyn.dynamics.jacobian import split_state, state_map, step_pre
from rnndyn.dynamics.network import LayerParams


@dataclass(frozen=True)
class Settings:
    """Optimiser and classification settings (see the module docstring)."""

    tol: float = 1e-12
    max_q: float = 1e-6
    iters: int = 1000
    lr: float = 1e-2
    newton_steps: int = 20
    dedup: float = 1e-5

    def to_dict(self) -> JsonObject:
        return dict(self.__dict__)


def _residual(p: LayerParams, s: torch.Tensor, gi: torch.Tensor) -> torch.Tensor:
    """``F(s) − s`` for full states ``s`` ``(…, S)`` and input terms ``gi = W_ih x + b_ih``."""
    h, c = split_state(p, s)
    h2, c2, _ = step_pre(p, h, c, gi)
    f = h2 if c2 is None else torch.cat([h2, c2], dim=-1)
    return f - s


def _q(p: LayerParams, s: torch.Tensor, gi: torch.Tensor) -> torch.Tensor:
    r = _residual(p, s, gi)
    return 0.5 * (r * r).sum(-1)


def minimise(p: LayerParams, s0: torch.Tensor, x: torch.Tensor, cfg: Settings) -> torch.Tensor:
    """Adam on ``Σ_i q(s_i)`` over the whole batch ``s0`` ``(N, S)`` (rows are independent, and so
    are Adam's per-coordinate steps), inputs ``x`` ``(N, D)``; the learning rate decays geometrically
    to 1% over ``iters``. Stops early once every row has ``q ≤ tol``, or when ``Σ q`` fell by less
    than 0.1% over the last 100 steps. (Adam is written out: ``torch.optim`` imports ``torch._dynamo``,
    seconds of start-up for a CLI command.)"""
    gi = (x @ p.w_ih.T + p.b_ih).detach()
    s = s0.detach().clone()
    m, v = torch.zeros_like(s), torch.zeros_like(s)
    b1, b2, eps = 0.9, 0.999, 1e-8
    decay = 0.01 ** (1.0 / max(cfg.iters, 1))
    last = float("inf")
    for it in range(cfg.iters):
        s.requires_grad_(True)
        q = _q(p, s, gi)
        (g,) = torch.autograd.grad(q.sum(), s)
        s = s.detach()
        if it % 100 == 0:
            qd = q.detach()
            total = float(qd.sum())
            if float(qd.max()) <= cfg.tol or (it >= 200 and total >= 0.999 * last):
                break
            last = total
        m.mul_(b1).add_(g, alpha=1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        lr = cfg.lr * decay**it / (1 - b1 ** (it + 1))
        s.addcdiv_(m, (v / (1 - b2 ** (it + 1))).sqrt_().add_(eps), value=-lr)
    return s.detach()


LM_DAMPING = 1e-12
BACKTRACK = (1.0, 0.5, 0.25, 0.125, 1 / 16, 1 / 64)


def newton(p: LayerParams, s: torch.Tensor, x: torch.Tensor, steps: int) -> torch.Tensor:
    """Batched Newton steps on ``G(s) = F(s) − s`` with per-row backtracking.

    A row moves only where its solve succeeded and a step length lowers ``q``. Its result is kept
    only if ``q`` never rises above its starting value along the segment from the start (checked
    at 15 interior points): Newton polishes a point inside its own basin of ``q``; it never carries
    a slow point (where ``J − I`` is nearly singular) over a ridge to a distant fixed point.
    """
    gi = x @ p.w_ih.T + p.b_ih
    eye = torch.eye(s.shape[-1], dtype=s.dtype)
    alphas = torch.tensor(BACKTRACK, dtype=s.dtype)[:, None, None]
    s0, q0 = s, _q(p, s, gi)
    for _ in range(steps):
        f, jac = state_map(p, s, x)
        r = f - s
        q = 0.5 * (r * r).sum(-1)
        a = jac - eye
        ata = a.transpose(-1, -2) @ a
        mu = LM_DAMPING * ata.diagonal(dim1=-2, dim2=-1).amax(-1).clamp(min=1.0)
        rhs = -(a.transpose(-1, -2) @ r[..., None])[..., 0]
        delta, info = torch.linalg.solve_ex(ata + mu[:, None, None] * eye, rhs)
        ok = (info == 0) & torch.isfinite(delta).all(-1)
        delta = torch.where(ok[:, None], delta, torch.zeros_like(delta))
        trial = s[None] + alphas * delta[None]  # (A, N, S)
        qt = _q(p, trial, gi[None].expand(len(BACKTRACK), -1, -1))
        better = torch.isfinite(qt) & (qt < q[None])
        first = torch.where(better.any(0), better.to(torch.int8).argmax(0), -1)
        if bool((first < 0).all()):
            break
        pick = trial[first.clamp(min=0), torch.arange(s.shape[0])]
        s = torch.where((first >= 0)[:, None], pick, s)
    t = torch.linspace(0, 1, 17, dtype=s.dtype)[1:-1, None, None]
    q_seg = _q(p, s0[None] + t * (s - s0)[None], gi[None].expand(t.shape[0], -1, -1))
    inside = (q_seg <= q0[None] * (1 + 1e-9) + 1e-300).all(0)
    return torch.where(inside[:, None], s, s0)


def deduplicate(points: torch.Tensor, q: torch.Tensor, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of ``points`` ``(M, K)``, preferring low ``q``.

    A row is a duplicate when a row of lower ``q`` lies within ``max(tol, ‖F(s) − s‖)`` of it: a point
    that moves by ``‖F(s) − s‖`` per step cannot be told apart from one that close (this merges the
    spread of candidates along a slow point's flat valley). One batched distance matrix, no loop.
    Returns ``(keep, owner)``: indices of the kept rows (ascending ``q``) and, for every row, the
    position in ``keep`` of its nearest kept row.
    """
    if points.shape[0] == 0:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    order = torch.argsort(q, stable=True)
    pts = points[order]
    thr = torch.sqrt(2 * q[order]).clamp(min=tol)
    dist = torch.cdist(pts, pts)
    dup = torch.tril(dist <= thr[:, None], diagonal=-1).any(1)
    keep_sorted = torch.nonzero(~dup).flatten()
    owner_sorted = dist[:, keep_sorted].argmin(1)
    owner = torch.empty_like(owner_sorted)
    owner[order] = owner_sorted
    return order[keep_sorted].numpy(), owner.numpy()


def input_jacobians(p: LayerParams, s: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``∂F/∂u`` ``(M, S, D)`` at states ``s`` ``(M, S)`` under inputs ``x`` ``(M, D)``, in closed
    form (PyTorch's equations; LSTM rows ``[h; c]``): ``∂F/∂(W_ih u)`` per gate block times that
    block of ``W_ih``. (``torch.func`` would import ``torch._dynamo``: seconds of start-up.)"""
    h, c = split_state(p, s)
    gi = x @ p.w_ih.T + p.b_ih
    w = p.w_ih
    if p.arch in ("rnn", "custom"):
        _, _, coef = step_pre(p, h, c, gi)
        return coef["a"][..., None] * w
    gh = h @ p.w_hh.T + p.b_hh
    if p.arch == "gru":
        (ir, iz, in_), (hr, hz, hn) = gi.chunk(3, -1), gh.chunk(3, -1)
        r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
        n = torch.tanh(in_ + r * hn)
        dn = (1 - z) * (1 - n * n)
        wr, wz, wn = w.chunk(3, 0)
        return (
            (dn * hn * r * (1 - r))[..., None] * wr
            + ((h - n) * z * (1 - z))[..., None] * wz
            + dn[..., None] * wn
        )
    assert c is not None  # an LSTM's state is [h; c]
    i, f, g, o = (gi + gh).chunk(4, -1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    tc = torch.tanh(f * c + i * g)
    wi, wf, wg, wo = w.chunk(4, 0)
    jc = (g * i * (1 - i))[..., None] * wi + (c * f * (1 - f))[..., None] * wf
    jc = jc + (i * (1 - g * g))[..., None] * wg
    jh = (o * (1 - tc * tc))[..., None] * jc + (tc * o * (1 - o))[..., None] * wo
    if p.w_hr is not None:
        jh = p.w_hr @ jh
    return torch.cat([jh, jc], dim=-2)


def _assemble(
    p: LayerParams,
    s: torch.Tensor,
    x: torch.Tensor,
    q: torch.Tensor,
    weight: np.ndarray,
    ups: np.ndarray,
    cfg: Settings,
    u: float,
) -> tuple[dict[str, Any], np.ndarray]:
    """De-duplicate candidates ``s`` ``(N, S)`` (each standing for ``weight`` starts) and linearise
    the distinct points. Returns the ``LayerFixedPoints`` fields and every candidate's point (−1:
    above ``max_q``)."""
    from rnndyn.conditioning import on_unit_circle
    from rnndyn.eigenvalues import order_eigenvalues

    good = torch.isfinite(q) & (q <= cfg.max_q)
    idx = torch.nonzero(good).flatten()
    keep, owner = deduplicate(torch.cat([s[idx], x[idx]], -1), q[idx], cfg.dedup)
    sel = idx[torch.as_tensor(keep, dtype=torch.long)]
    point = np.full(s.shape[0], -1)
    point[idx.numpy()] = owner
    _, jac = state_map(p, s[sel], x[sel])
    jac_np = jac.numpy()
    # one decomposition per point: eigenvalues in rnndyn's order, and the vectors the bound needs
    lam, vec = np.linalg.eig(jac_np) if len(sel) else (np.zeros((0, s.shape[1])), None)
    perm = np.array([order_eigenvalues(w) for w in lam], dtype=int).reshape(lam.shape)
    eig = np.take_along_axis(lam.astype(complex), perm, axis=1)
    counts = np.bincount(owner, weights=weight[idx.numpy()], minlength=len(keep)).astype(int)
    qs = q[sel].numpy()
    curv = float(torch.linalg.matrix_norm(p.w_hh, ord=2)) ** 2
    bound = (
        unit_circle_bound(
            jac_np, eig, np.take_along_axis(vec, perm[:, None, :], axis=2), u, np.sqrt(2 * qs), curv
        )
        if vec is not None
        else np.zeros(eig.shape)
    )
    unit = on_unit_circle(eig, bound) & (qs <= cfg.tol)[:, None]
    xs = x[sel]
    gi = xs @ p.w_ih.T + p.b_ih

    def q_of(seg: torch.Tensor, ia: torch.Tensor, ib: torch.Tensor) -> torch.Tensor:
        """``q`` along segments ``(K, E, S)`` between points ``ia`` and ``ib`` ``(E,)``; infinite
        where the two are fixed points under different inputs (upper layers)."""
        qs = _q(p, seg, gi[ia][None].expand(seg.shape[0], -1, -1))
        same = (xs[ia] == xs[ib]).all(-1)
        return torch.where(same[None], qs, torch.full_like(qs, float("inf")))

    label, mans = slow_manifolds(s[sel].numpy(), unit, eig, counts, q_of, cfg.max_q)
    fields = {
        "arch": p.arch,
        "layer": p.layer,
        "direction": p.direction,
        "states": s[sel].numpy(),
        "inputs": xs.numpy(),
        "q": qs,
        "jacobians": jac_np,
        "eigenvalues": eig,
        "counts": counts,
        "upstream": ups[sel.numpy()],
        "tol": cfg.tol,
        "input_jacobians": input_jacobians(p, s[sel], xs).numpy(),
        "n_unit": unit.sum(1),
        "manifold": label,
        "manifolds": tuple(mans),
    }
    return fields, point


def solve_layer(
    p: LayerParams,
    inits: torch.Tensor,
    x: torch.Tensor,
    cfg: Settings,
    upstream: np.ndarray | None = None,
    *,
    sources: np.ndarray | None = None,
    u: float = 2.0**-53,
    input_index: int = 0,
) -> LayerFixedPoints:
    """Fixed/slow points of one layer from initial states ``inits`` ``(N, S)`` under inputs ``x``
    ``(N, D)`` (one per row); ``upstream`` ``(N,)`` tags each row with the lower layer's point,
    ``sources`` ``(N,)`` with where it came from; ``u`` is the unit roundoff of the stored weights
    (the eigenvalues' error bound)."""
    n = inits.shape[0]
    ups = np.full(n, -1) if upstream is None else np.asarray(upstream)
    s = minimise(p, inits, x, cfg)
    if cfg.newton_steps:
        s = newton(p, s, x, cfg.newton_steps)
    with torch.no_grad():
        q = _q(p, s, x @ p.w_ih.T + p.b_ih)
    fields, point = _assemble(p, s, x, q, np.ones(n), ups, cfg, u)
    return LayerFixedPoints(
        **fields,
        candidate_q=q.numpy(),
        n_candidates=n,
        n_dropped=int((point < 0).sum()),
        start_point=point,
        start_source=np.full(n, "trajectory") if sources is None else np.asarray(sources),
        input_index=input_index,
    )


def merge(
    p: LayerParams, a: LayerFixedPoints, b: LayerFixedPoints, cfg: Settings, u: float
) -> LayerFixedPoints:
    """The points of two searches of one layer under one input (``--n-inits auto``), starts
    pooled: the union de-duplicated, counts summed, every start mapped to its point."""
    s = torch.from_numpy(np.concatenate([a.states, b.states]))
    x = torch.from_numpy(np.concatenate([a.inputs, b.inputs]))
    q = torch.from_numpy(np.concatenate([a.q, b.q]))
    w = np.concatenate([a.counts, b.counts]).astype(float)
    ups = np.concatenate([a.upstream, b.upstream])
    fields, point = _assemble(p, s, x, q, w, ups, cfg, u)
    old = np.concatenate([a.start_point, np.where(b.start_point >= 0, b.start_point + len(a), -1)])
    start_point = np.where(old >= 0, point[np.maximum(old, 0)], -1)
    return LayerFixedPoints(
        **fields,
        candidate_q=np.concatenate([a.candidate_q, b.candidate_q]),
        n_candidates=a.n_candidates + b.n_candidates,
        n_dropped=int((start_point < 0).sum()),
        start_point=start_point,
        start_source=np.concatenate([a.start_source, b.start_source]),
        input_index=a.input_index,
        readout=None,
    )
