"""Fixed and slow points of RNN / LSTM / GRU layers under a constant input, with their linearisations.

In the spirit of Sussillo & Barak (2013): minimise ``q(s) = ½‖F(s, x*) − s‖²`` from many initial
states sampled along real trajectories (plus jitter). All initial states are optimised at once, as
one ``(N, S)`` tensor (Adam through the layer's own step function), then refined by batched
Newton steps ``(J − I) δ = s − F(s)`` with per-row backtracking wherever the solve succeeds.
Candidates are de-duplicated with a distance tolerance; each point gets its state Jacobian
(``rnndyn.dynamics.jacobian``, PyTorch's conventions; LSTM state ``[h; c]``) and that Jacobian's
discrete-time eigenvalues (``rnndyn.spectrum``). ``kind`` is ``"fixed"`` when ``q ≤ tol``, ``"slow"``
when ``tol < q ≤ max_q``; candidates above ``max_q`` are dropped (their number is reported).

Stacks are solved layer by layer: layer ``l > 0`` is driven by the output of one of layer
``l − 1``'s points (``upstream``: the point nearest to the lower layer's state where the initial
state was sampled). The stacked Jacobian is block-triangular, so a stacked point's eigenvalues are
the union of its layers' eigenvalues.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

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
    jitter: float = 0.02

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True, eq=False)
class LayerFixedPoints:
    """The distinct points of one layer and direction.

    Arrays (``M`` points, state size ``S``, layer input size ``D``): ``states`` ``(M, S)``, ``inputs``
    ``(M, D)`` (the constant input each point is a fixed point under), ``q`` ``(M,)``, ``jacobians``
    ``(M, S, S)``, ``eigenvalues`` ``(M, S)`` complex (rnndyn's order), ``counts`` ``(M,)`` initial
    states that ended at the point, ``upstream`` ``(M,)`` the lower layer's point index (−1 for layer 0);
    ``candidate_q`` ``(N,)`` the final ``q`` of every initial state (kept or dropped).
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
    def kind(self) -> np.ndarray:
        """``(M,)`` ``"fixed"`` (``q ≤ tol``) or ``"slow"``."""
        return np.where(self.q <= self.tol, "fixed", "slow")

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per point (``state``, ``q``, ``stable``, ``eigenvalues`` as [re, im], …)."""
        stable, n_unst, kind = self.stable, self.n_unstable, self.kind
        return [
            {
                "layer": self.layer,
                "direction": self.direction,
                "index": i,
                "kind": str(kind[i]),
                "q": float(self.q[i]),
                "stable": bool(stable[i]),
                "n_unstable": int(n_unst[i]),
                "spectral_radius": float(np.abs(self.eigenvalues[i]).max(initial=0.0)),
                "count": int(self.counts[i]),
                "upstream": None if self.upstream[i] < 0 else int(self.upstream[i]),
                "state": self.states[i].tolist(),
                "input": self.inputs[i].tolist(),
                "eigenvalues": [[float(z.real), float(z.imag)] for z in self.eigenvalues[i]],
            }
            for i in range(len(self))
        ]


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
        delta, info = torch.linalg.solve_ex(jac - eye, -r)
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


def solve_layer(
    p: LayerParams,
    inits: torch.Tensor,
    x: torch.Tensor,
    cfg: Settings,
    upstream: np.ndarray | None = None,
) -> LayerFixedPoints:
    """Fixed/slow points of one layer from initial states ``inits`` ``(N, S)`` under inputs ``x``
    ``(N, D)`` (one per row); ``upstream`` ``(N,)`` tags each row with the lower layer's point."""
    from rnndyn.spectrum import eigendecompose

    n = inits.shape[0]
    ups = np.full(n, -1) if upstream is None else np.asarray(upstream)
    s = minimise(p, inits, x, cfg)
    if cfg.newton_steps:
        s = newton(p, s, x, cfg.newton_steps)
    with torch.no_grad():
        q = _q(p, s, x @ p.w_ih.T + p.b_ih)
    good = torch.isfinite(q) & (q <= cfg.max_q)
    idx = torch.nonzero(good).flatten()
    keep, owner = deduplicate(torch.cat([s[idx], x[idx]], -1), q[idx], cfg.dedup)
    sel = idx[torch.as_tensor(keep, dtype=torch.long)]
    _, jac = state_map(p, s[sel], x[sel])
    jac_np = jac.numpy()
    if len(sel):
        spec = eigendecompose(jac_np, diagnostics=False)
        eig = np.stack([o.eigenvalues for o in spec])
    else:
        eig = np.zeros((0, s.shape[1]), dtype=complex)
    return LayerFixedPoints(
        arch=p.arch,
        layer=p.layer,
        direction=p.direction,
        states=s[sel].numpy(),
        inputs=x[sel].numpy(),
        q=q[sel].numpy(),
        jacobians=jac_np,
        eigenvalues=eig,
        counts=np.bincount(owner, minlength=len(keep)),
        upstream=ups[sel.numpy()],
        candidate_q=q.numpy(),
        tol=cfg.tol,
        n_candidates=n,
        n_dropped=int(n - len(idx)),
    )


def sample_inits(
    states: np.ndarray, n: int, jitter: float, rng: np.random.Generator
) -> tuple[torch.Tensor, np.ndarray]:
    """``n`` states drawn uniformly from ``states`` ``(K, S)`` plus Gaussian jitter of standard
    deviation ``jitter × RMS(states)``; returns ``(inits (n, S), drawn row indices)``."""
    rows = rng.integers(0, states.shape[0], size=n)
    scale = jitter * float(np.sqrt(np.mean(states * states)))
    noise = scale * rng.standard_normal((n, states.shape[1]))
    return torch.from_numpy(states[rows] + noise), rows
