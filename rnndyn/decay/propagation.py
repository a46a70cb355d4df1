"""Perturbations along eigenmodes, propagated through the real per-step Jacobian products.

For every selected mode the perturbation starts as the mode's real basis vector(s) (``v`` for a real
eigenvalue; ``Re v`` and ``Im v`` for a conjugate pair), at every batch element at once, and is pushed
through ``J_{t0+1} … J_{t0+K}`` along the probe trajectory: one loop over time, each step one batched
GEMM (``jacobian.apply``) — no loop over modes or batch, no ``(T, N, H, H)`` tensor. Tangent columns
are renormalised every step (their log-norms accumulated), so long windows neither overflow nor
underflow. After each step three things are read off every perturbation:

- its **own amplitude**: the norm of its coordinates in the mode's own (1×1 or 2×2) modal block
  (rows of ``V⁻¹``), relative to the start;
- its **eigenspace fraction**: ``‖P δ‖ / ‖δ‖`` with ``P`` the (oblique) projection onto the mode's
  eigenspace — 1 at the start, falling as the perturbation leaks into other modes (it can exceed 1
  a little for a non-normal basis): an *oblique ratio*, kept for compatibility;
- its **eigenspace projection**: ``‖Q δ‖ / ‖δ‖`` with ``Q`` the *orthogonal* projection onto the
  mode's eigenspace (the span of its real basis vectors) — 1 at the start and never above 1;
- its **norm**: ``‖δ_k‖ / ‖δ_0‖`` of the whole perturbation, whatever modes it has moved into.

The propagation is exactly linear (Jacobian products), so "small" perturbations need no size: it is
the ``ε → 0`` limit of running the network from ``h`` and ``h + εv``. Fitting rates is
``rnndyn.decay.fit``'s job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from rnndyn.dynamics.jacobian import apply, coefficient_chunks
from rnndyn.dynamics.modal import ModalBasis
from rnndyn.dynamics.network import CAST_VIEWS, LayerParams, cast

__all__ = ["Propagation", "propagate"]


@dataclass(frozen=True, eq=False)
class Propagation:
    """Per-group curves over the window, per batch element, all ``(K+1, B, G)``.

    ``log_amplitude``: log own-block amplitude relative to step 0 (``-inf`` once the perturbation
    vanished exactly); ``eigenspace``: oblique ratio ``‖Pδ‖/‖δ‖`` (may exceed 1);
    ``log_norm``: log norm of the whole perturbation relative to step 0; ``projection``:
    ``‖Qδ‖/‖δ‖`` with ``Q`` the orthogonal projection onto the mode's eigenspace (in [0, 1]).
    """

    log_amplitude: np.ndarray = field(repr=False)
    eigenspace: np.ndarray = field(repr=False)
    log_norm: np.ndarray = field(repr=False)
    projection: np.ndarray = field(repr=False)

    @property
    def steps(self) -> int:
        return int(self.log_amplitude.shape[0] - 1)


class _Groups:
    """Column bookkeeping: each group is one real column or two adjacent columns ``[Re v, Im v]``."""

    def __init__(self, basis: ModalBasis):
        cg = basis.col_group
        idx = np.arange(cg.size)
        first = np.searchsorted(cg, np.arange(basis.n_groups))
        pair = basis.group_size == 2
        second = np.where(pair, first + 1, first)
        partner = idx.copy()
        partner[first[pair]], partner[second[pair]] = second[pair], first[pair]
        cols = basis.columns
        self.first, self.second = torch.from_numpy(first), torch.from_numpy(second)
        self.pair = torch.from_numpy(pair)
        self.partner = torch.from_numpy(partner)
        self.cols = torch.arange(cg.size)
        self.has_partner = torch.from_numpy((partner != idx).astype(np.float64))
        dot = np.einsum("nj,nj->j", cols, cols[:, partner])
        own2, other2 = (cols * cols).sum(0), (cols[:, partner] ** 2).sum(0)
        # (3, c): ‖b_j‖², ‖b_partner‖², ⟨b_j, b_partner⟩ (partner terms zero for a real mode)
        self.gram = torch.from_numpy(
            np.stack([own2, other2 * (partner != idx), dot * (partner != idx)])
        )
        self.columns = torch.from_numpy(cols)  # (n, c)
        self.partner_columns = torch.from_numpy(cols[:, partner] * (partner != idx))
        # determinant of each column's 2×2 Gram (its own squared norm for a real mode)
        det = own2 * other2 - dot * dot
        self.det = torch.from_numpy(np.where(partner != idx, det, own2))

    def projection2(self, d: torch.Tensor) -> torch.Tensor:
        """``‖Q δ_j‖²`` per unit column ``d`` ``(n, B, c)``: ``gᵀ G⁻¹ g`` with ``g = Bᵀδ``."""
        d = d.double()
        g1 = torch.einsum("nbc,nc->bc", d, self.columns)
        g2 = torch.einsum("nbc,nc->bc", d, self.partner_columns)
        own2, other2, dot = self.gram
        real = self.has_partner == 0
        num = torch.where(real, g1 * g1, other2 * g1 * g1 - 2 * dot * g1 * g2 + own2 * g2 * g2)
        return (num / self.det).clamp(0.0, 1.0)  # ≤ 1 exactly; the clamp only absorbs rounding

    def lse(self, q: torch.Tensor) -> torch.Tensor:
        """log Σ_{j∈g} exp(q_j) over columns ``(…, c)`` → ``(…, G)``."""
        a, b = q[..., self.first], q[..., self.second]
        return torch.where(self.pair, torch.logaddexp(a, b), a)

    def mean(self, q: torch.Tensor) -> torch.Tensor:
        """Mean over each group's columns ``(…, c)`` → ``(…, G)``."""
        return (q[..., self.first] + self.pair * q[..., self.second]) / (self.pair.double() + 1)


class _Recorder:
    """Accumulates, per step, each unit column's own-block coordinates, eigenspace share and norm."""

    def __init__(self, basis: ModalBasis, steps: int, batch: int):
        self.groups = _Groups(basis)
        c = basis.columns.shape[1]
        self.logq = torch.empty(steps + 1, batch, c, dtype=torch.float64)
        self.share = torch.empty_like(self.logq)
        self.lognorm = torch.empty_like(self.logq)
        self.ortho = torch.empty_like(self.logq)
        self.n = basis.n

    def project(self, k: int, d: torch.Tensor) -> None:
        """Record the orthogonal projections of the (unit) columns ``d`` ``(S, B, c)`` at step k."""
        self.ortho[k] = self.groups.projection2(d[: self.n])

    def record(self, k: int, y: torch.Tensor, lognorm: torch.Tensor) -> None:
        """``y`` ``(c, B, c)``: modal coordinates of the (unit) columns; ``lognorm`` ``(B, c)``."""
        g = self.groups
        y1 = torch.diagonal(y, dim1=0, dim2=2).double()  # (B, c): own coordinate
        y2 = y[g.partner, :, g.cols].T.double() * g.has_partner  # the pair partner's coordinate
        own2 = y1 * y1 + y2 * y2
        self.logq[k] = torch.log(own2) + 2 * lognorm
        self.share[k] = g.gram[0] * y1 * y1 + g.gram[1] * y2 * y2 + 2 * g.gram[2] * y1 * y2
        self.lognorm[k] = lognorm

    def result(self) -> Propagation:
        g = self.groups
        with np.errstate(divide="ignore"):
            log_amp = 0.5 * g.lse(self.logq)
            log_norm = 0.5 * (g.lse(2 * self.lognorm) - torch.log(g.pair.double() + 1))
        frac = g.mean(self.share.clamp_min(0)).sqrt()
        ortho = g.mean(self.ortho).sqrt()
        return Propagation(
            (log_amp - log_amp[0]).numpy(),
            frac.numpy(),
            (log_norm - log_norm[0]).numpy(),
            ortho.numpy(),
        )


class _Tangents:
    """The propagated columns ``(S, B, c)``, kept at unit norm, with the read-back fused in."""

    def __init__(self, p: LayerParams, basis: ModalBasis, batch: int, dtype: torch.dtype):
        self.p, self.n, self.ph = p, basis.n, p.out_size
        self.rows = torch.from_numpy(basis.rows).to(dtype)  # (c, n)
        self.w_stack = torch.cat([p.w_hh, self.rows[:, : self.ph]])
        self.c = basis.columns.shape[1]
        self.shape = (p.state_size, batch, self.c)
        self.bufs = [torch.empty(self.w_stack.shape[0], batch * self.c, dtype=dtype) for _ in "ab"]
        self.ones = torch.ones(1, p.state_size, dtype=dtype)
        self.square = torch.empty(p.state_size, batch * self.c, dtype=dtype)
        self.d = torch.zeros(self.shape, dtype=dtype)
        self.d[: self.n] = torch.from_numpy(basis.columns).to(dtype)[:, None, :]
        self.lognorm = torch.zeros(batch, self.c, dtype=torch.float64)
        self.renormalise()

    def renormalise(self) -> None:
        """Scale every column to unit norm (a GEMV for the norms); vanished columns stay zero."""
        flat = self.d.view(self.p.state_size, -1)
        torch.mul(flat, flat, out=self.square)
        norms = (self.ones @ self.square).view(self.shape[1], self.c).sqrt_()
        self.d.div_(torch.where(norms > 0, norms, torch.ones_like(norms)))
        with np.errstate(divide="ignore"):
            self.lognorm = self.lognorm + torch.log(norms.double())

    def own(self, y: torch.Tensor) -> torch.Tensor:
        """Add the read-back of an LSTM's cell part to the fused ``h`` read-back ``y`` ``(c, B, c)``."""
        if self.n > self.ph:
            y = y + (
                self.rows[:, self.ph :] @ self.d[self.ph : self.n].reshape(self.n - self.ph, -1)
            ).view_as(y)
        return y

    def step(self, coef: dict[str, torch.Tensor], k: int) -> torch.Tensor:
        """One Jacobian step; returns the read-back ``(c, B, c)`` of the columns *before* it."""
        d_next, y = apply(self.p, coef, self.d, w_stack=self.w_stack, out=self.bufs[k % 2])
        y = self.own(y)
        self.d = d_next
        return y

    def read(self) -> torch.Tensor:
        y = (self.rows[:, : self.ph] @ self.d[: self.ph].reshape(self.ph, -1)).view(
            self.c, self.shape[1], self.c
        )
        return self.own(y)


def propagate(
    p: LayerParams,
    basis: ModalBasis,
    trace: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None],
    steps: int,
    *,
    dtype: torch.dtype = torch.float32,
) -> Propagation:
    """Propagate every selected mode through the last ``steps`` Jacobians of ``trace``.

    ``trace`` = ``(x (T, B, D), h (T+1, B, P), c (T+1, B, H) | None)`` in processing order; the
    perturbation enters state ``T − steps`` and leaves after step ``T − 1``. ``dtype``: GEMM precision.
    """
    x, h, c = trace
    t_len, batch = x.shape[0], x.shape[1]
    pw = getattr(p, CAST_VIEWS.get(dtype, ""), None) or cast(p, dtype)  # converted once
    tan = _Tangents(pw, basis, batch, dtype)
    rec = _Recorder(basis, steps, batch)
    k = 0
    # coefficients from the float64 states, then cast: a float32 tanh would saturate to exactly 1
    for coef in coefficient_chunks(p.float64, x, h, c, t_len - steps, t_len):
        for t in range(next(iter(coef.values())).shape[0]):
            lognorm = tan.lognorm
            rec.project(k, tan.d)
            y = tan.step({name: v[t].to(dtype) for name, v in coef.items()}, k)
            rec.record(k, y, lognorm)
            tan.renormalise()
            k += 1
    rec.project(k, tan.d)
    rec.record(k, tan.read(), tan.lognorm)
    return rec.result()
